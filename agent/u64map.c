/*
 * u64map.c - bounded open-addressing u64 map (see u64map.h).
 *
 * Linear probing at a load factor of at most 1/2 keeps lookups short; there
 * is no delete (owners clear the whole map between chunks), so no
 * tombstones are needed.
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

int pyr_u64map_init(pyr_u64map *m, size_t max_entries) {
  size_t slots = 16;
  memset(m, 0, sizeof(*m));
  while (slots < max_entries * 2)
    slots <<= 1;
  m->keys = calloc(slots, sizeof(uint64_t));
  m->vals = calloc(slots, sizeof(uint64_t));
  if (!m->keys || !m->vals) {
    pyr_u64map_free(m);
    return -1;
  }
  m->slots = slots;
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

int pyr_u64map_put(pyr_u64map *m, uint64_t key, uint64_t val) {
  if (key == 0 || m->slots == 0)
    return -1;
  size_t i = probe(m, key);
  if (m->keys[i] != key) {
    if (m->count >= m->max_entries)
      return -1;
    m->keys[i] = key;
    m->count++;
  }
  m->vals[i] = val;
  return 0;
}
