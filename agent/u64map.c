/*
 * u64map.c - bounded open-addressing u64 map (see u64map.h).
 *
 * Linear probing at a load factor of at most 1/2 keeps lookups short; there
 * is no delete (owners clear the whole map between chunks), so no
 * tombstones are needed.  The table grows by doubling when an insert would
 * push the load past 1/2, so a lightly used map stays small (see u64map.h).
 */
#include "u64map.h"

#include <stdlib.h>
#include <string.h>

uint64_t pyr_hash64(uint64_t x) {
  /* splitmix64 finalizer: cheap and mixes all bits. */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/* First table size: small enough that a map holding a few entries (a
 * thread-id map of a quiet window) costs one page per array. */
#define U64MAP_MIN_SLOTS 64u

static int alloc_table(pyr_u64map *m, size_t slots) {
  uint64_t *keys = calloc(slots, sizeof(uint64_t));
  uint64_t *vals = calloc(slots, sizeof(uint64_t));
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return -1;
  }
  m->keys = keys;
  m->vals = vals;
  m->slots = slots;
  return 0;
}

int pyr_u64map_init(pyr_u64map *m, size_t max_entries) {
  size_t max_slots = 16;
  memset(m, 0, sizeof(*m));
  while (max_slots < max_entries * 2)
    max_slots <<= 1;
  if (alloc_table(m, max_slots < U64MAP_MIN_SLOTS ? max_slots : U64MAP_MIN_SLOTS) != 0)
    return -1;
  m->max_slots = max_slots;
  m->max_entries = max_entries;
  return 0;
}

void pyr_u64map_free(pyr_u64map *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof(*m));
}

void pyr_u64map_clear(pyr_u64map *m) {
  if (m->count == 0)
    return;
  memset(m->keys, 0, m->slots * sizeof(uint64_t));
  m->count = 0;
}

static size_t probe(const pyr_u64map *m, uint64_t key) {
  size_t i = (size_t)pyr_hash64(key) & (m->slots - 1);
  while (m->keys[i] != 0 && m->keys[i] != key)
    i = (i + 1) & (m->slots - 1);
  return i;
}

int pyr_u64map_get(const pyr_u64map *m, uint64_t key, uint64_t *val) {
  if (key == 0 || m->slots == 0)
    return 0;
  size_t i = probe(m, key);
  if (m->keys[i] != key)
    return 0;
  *val = m->vals[i];
  return 1;
}

/* Doubles the table and reinserts every entry.  On failure the map is
 * unchanged. */
static int grow(pyr_u64map *m) {
  pyr_u64map bigger = *m;
  if (m->slots >= m->max_slots || alloc_table(&bigger, m->slots * 2) != 0)
    return -1;
  for (size_t j = 0; j < m->slots; j++) {
    if (m->keys[j] == 0)
      continue;
    size_t i = probe(&bigger, m->keys[j]);
    bigger.keys[i] = m->keys[j];
    bigger.vals[i] = m->vals[j];
  }
  free(m->keys);
  free(m->vals);
  *m = bigger;
  return 0;
}

int pyr_u64map_put(pyr_u64map *m, uint64_t key, uint64_t val) {
  if (key == 0 || m->slots == 0)
    return -1;
  size_t i = probe(m, key);
  if (m->keys[i] != key) {
    if (m->count >= m->max_entries)
      return -1;
    /* Keep the load <= 1/2.  count < max_entries here, so at max_slots
     * (>= 2 x max_entries) this never needs to grow. */
    if ((m->count + 1) * 2 > m->slots) {
      if (grow(m) != 0)
        return -1;
      i = probe(m, key);
    }
    m->keys[i] = key;
    m->count++;
  }
  m->vals[i] = val;
  return 0;
}
