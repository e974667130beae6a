/*
 * symbols.h - jmethodID -> (class, method, descriptor, line table) cache.
 *
 * Resolving a jmethodID takes several JVMTI calls (and JVM locks), so each
 * method is resolved once and kept across upload windows.  The resolver is
 * injected (jvmti/ provides the JVMTI-backed one; tests provide fakes), so
 * this module never includes jvmti.h and never dereferences an id.
 *
 * A method the JVM no longer knows (class unloaded, stale id) resolves to
 * the synthetic class "" and method "stale_jmethodID" instead of failing.
 *
 * Threads: owned by the aggregator thread (or the VMDeath flush, which
 * excludes it).  Bound: max_entries methods; when full the whole cache is
 * dropped and rebuilt lazily (counted in `flushes`) - simple, and a full
 * cache almost always means class churn, where old entries are dead anyway.
 */
#ifndef PYRITE_SYMBOLS_H
#define PYRITE_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pyr_line_entry {
  int32_t bci;  /* start location */
  int32_t line;
} pyr_line_entry;

typedef struct pyr_method_info {
  char *class_name;   /* JVM internal form: "com/example/Demo" */
  char *name;         /* "leaf" */
  char *signature;    /* "([Ljava/lang/String;)V" */
  int32_t modifiers;
  int stale;          /* 1 if the resolver failed */
  uint32_t nlines;
  pyr_line_entry *lines; /* sorted by bci; may be NULL */
} pyr_method_info;

/* Fills *out with malloc'd strings/arrays (freed by the cache).  Returns 0,
 * or -1 if the method cannot be resolved (stale). */
typedef int (*pyr_resolve_fn)(void *ctx, uint64_t method, pyr_method_info *out);

typedef struct pyr_symbols pyr_symbols;

typedef struct pyr_symbols_stats {
  uint64_t entries, hits, misses, stale, flushes;
} pyr_symbols_stats;

pyr_symbols *pyr_symbols_new(size_t max_entries, pyr_resolve_fn fn, void *ctx);
void pyr_symbols_free(pyr_symbols *s);
/* Never NULL for a live cache; valid until the next lookup (a lookup may
 * flush the cache when it is full). */
const pyr_method_info *pyr_symbols_lookup(pyr_symbols *s, uint64_t method);
/* Source line for a BCI: the entry with the largest start <= bci; 0 when
 * unknown (no table, negative BCI). */
int32_t pyr_method_line(const pyr_method_info *m, int32_t bci);
void pyr_symbols_get_stats(const pyr_symbols *s, pyr_symbols_stats *out);
void pyr_method_info_clear(pyr_method_info *m);

#endif
