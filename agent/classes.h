/*
 * classes.h - interned class names for allocation and lock samples.
 *
 * JVMTI callbacks see a class as a local reference that dies with the
 * callback, so they intern its name here and put the small id into the
 * sample record; the aggregator turns the id back into the name when it
 * writes the chunk.  Ids are stable for the life of the process: a name is
 * never freed and an id never reused.
 *
 * Id cache: pyr_classes_lookup() remembers a class's id in a tag the
 * caller can attach to the class object (JVMTI object tags, see
 * jvmti/events.c), so the common case reads one tag instead of asking the
 * JVM for the signature, copying it and hashing it.  The tag is
 * PYR_CLASSES_TAG_BASE | id; anything else reads as "not cached".
 *
 * Threads: intern/lookup from any JVMTI callback thread, name from the
 * aggregator; one mutex (a cache hit takes no lock).  Bound: PYR_CLASSES_MAX
 * names and PYR_CLASSES_BYTES of text; beyond that intern returns 0, which
 * names the class "[unknown class]", and counts an overflow.  Id 0 is never
 * cached, so an overflowed class keeps taking the slow path (and counting).
 */
#ifndef PYRITE_CLASSES_H
#define PYRITE_CLASSES_H

#include <stdint.h>

#define PYR_CLASSES_MAX 65536
#define PYR_CLASSES_BYTES (4u << 20)
/* "PYR" in the top bytes: positive as a jlong, never 0, and a value some
 * other code might have stored by accident does not decode as an id. */
#define PYR_CLASSES_TAG_BASE 0x5059520000000000ll

uint32_t pyr_classes_intern(const char *name);
/* The name for an id (never NULL); valid for the life of the process. */
const char *pyr_classes_name(uint32_t id);
uint32_t pyr_classes_count(void);

/* The tag that caches id (id > 0), and back: the id a tag caches, or 0 when
 * the tag is not one of ours or names an id not (yet) assigned. */
int64_t pyr_classes_tag(uint32_t id);
uint32_t pyr_classes_tag_id(int64_t tag);

/* How pyr_classes_lookup reaches one class.  get_tag/set_tag return 0 on
 * success; get_tag NULL means no cache (every lookup asks for the name).
 * name returns the class name malloc'd (freed by the caller) or NULL. */
typedef struct pyr_classes_source {
  int (*get_tag)(void *ctx, void *cls, int64_t *tag);
  int (*set_tag)(void *ctx, void *cls, int64_t tag);
  char *(*name)(void *ctx, void *cls);
  void *ctx;
} pyr_classes_source;

/* The id of cls (0 = unknown): from its tag if cached, else by name, then
 * cached.  cls NULL -> 0. */
uint32_t pyr_classes_lookup(const pyr_classes_source *src, void *cls);

typedef struct pyr_classes_stats {
  uint64_t tag_hits;   /* lookups answered by the tag */
  uint64_t tag_misses; /* lookups with a cache that had to fetch the name */
  uint64_t overflow;   /* interns refused by the bound (id 0 returned) */
} pyr_classes_stats;
void pyr_classes_get_stats(pyr_classes_stats *out);

#endif
