/*
 * symbols.c - method-name cache (see symbols.h).
 *
 * Entries live in a fixed array; a u64map maps jmethodID -> slot.  Lookups
 * that miss call the resolver once; failures are cached as stale so a dead
 * id is not re-queried every window.
 */
#include "symbols.h"

#include "u64map.h"

#include <stdlib.h>
#include <string.h>

struct pyr_symbols {
  pyr_resolve_fn resolve;
  void *ctx;
  pyr_u64map index; /* method -> slot + 1 */
  pyr_method_info *slots;
  size_t used, max;
  pyr_symbols_stats stats;
};

static char stale_class[] = "";
static char stale_name[] = "stale_jmethodID";
static char stale_sig[] = "()V";

pyr_symbols *pyr_symbols_new(size_t max_entries, pyr_resolve_fn fn, void *ctx) {
  pyr_symbols *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->resolve = fn;
  s->ctx = ctx;
  s->max = max_entries;
  s->slots = calloc(max_entries, sizeof(pyr_method_info));
  if (!s->slots || pyr_u64map_init(&s->index, max_entries) != 0) {
    pyr_symbols_free(s);
    return NULL;
  }
  return s;
}

void pyr_method_info_clear(pyr_method_info *m) {
  if (!m->stale) {
    free(m->class_name);
    free(m->name);
    free(m->signature);
  }
  free(m->lines);
  memset(m, 0, sizeof(*m));
}

static void flush(pyr_symbols *s) {
  for (size_t i = 0; i < s->used; i++)
    pyr_method_info_clear(&s->slots[i]);
  s->used = 0;
  pyr_u64map_clear(&s->index);
}

void pyr_symbols_free(pyr_symbols *s) {
  if (!s)
    return;
  if (s->slots)
    flush(s);
  free(s->slots);
  pyr_u64map_free(&s->index);
  free(s);
}

static int cmp_line(const void *a, const void *b) {
  const pyr_line_entry *x = a, *y = b;
  return (x->bci > y->bci) - (x->bci < y->bci);
}

const pyr_method_info *pyr_symbols_lookup(pyr_symbols *s, uint64_t method) {
  uint64_t slot;
  pyr_method_info info;

  if (pyr_u64map_get(&s->index, method, &slot)) {
    s->stats.hits++;
    return &s->slots[slot - 1];
  }
  s->stats.misses++;
  if (s->used == s->max) {
    flush(s);
    s->stats.flushes++;
  }
  memset(&info, 0, sizeof(info));
  if (method == 0 || s->resolve(s->ctx, method, &info) != 0 || !info.class_name ||
      !info.name || !info.signature) {
    pyr_method_info_clear(&info);
    info.stale = 1;
    info.class_name = stale_class;
    info.name = stale_name;
    info.signature = stale_sig;
    s->stats.stale++;
  } else if (info.nlines > 1) {
    qsort(info.lines, info.nlines, sizeof(*info.lines), cmp_line);
  }
  s->slots[s->used] = info;
  pyr_u64map_put(&s->index, method, s->used + 1);
  return &s->slots[s->used++];
}

int32_t pyr_method_line(const pyr_method_info *m, int32_t bci) {
  int32_t line = 0;
  if (bci < 0 || m->nlines == 0)
    return 0;
  /* Binary search for the last entry with start <= bci. */
  uint32_t lo = 0, hi = m->nlines;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (m->lines[mid].bci <= bci) {
      line = m->lines[mid].line;
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return line;
}

void pyr_symbols_get_stats(const pyr_symbols *s, pyr_symbols_stats *out) {
  *out = s->stats;
  out->entries = s->used;
}
