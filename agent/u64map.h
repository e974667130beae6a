/*
 * u64map.h - bounded open-addressing map from u64 keys to u64 values.
 *
 * Used for per-chunk key translation (jmethodID -> JFR method key, tid ->
 * JFR thread key).  Key 0 is reserved as "empty".  The capacity (max
 * entries) is fixed at creation; a put into a full map fails (returns -1)
 * and the caller counts it.  Not thread-safe: one owner.
 *
 * Memory follows use, not the bound: the table starts small and doubles
 * (rehashing) as entries arrive, up to 2 x max_entries slots - the size it
 * used to have from the start.  A map sized for 65,536 methods that sees
 * 500 holds 1,024 slots (16 KiB) instead of 131,072 (2 MiB, nearly every
 * page touched because hashing spreads keys over the whole table).
 * Invariant: count <= slots / 2 and slots <= max_slots.
 */
#ifndef PYRITE_U64MAP_H
#define PYRITE_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pyr_u64map {
  uint64_t *keys;
  uint64_t *vals;
  size_t slots;     /* power of two, current table size */
  size_t max_slots; /* power of two, >= 2x max_entries: the most it grows to */
  size_t count;
  size_t max_entries;
} pyr_u64map;

int pyr_u64map_init(pyr_u64map *m, size_t max_entries);
void pyr_u64map_free(pyr_u64map *m);
void pyr_u64map_clear(pyr_u64map *m);
/* Returns 1 and sets *val if present, else 0. */
int pyr_u64map_get(const pyr_u64map *m, uint64_t key, uint64_t *val);
/* Inserts or replaces; -1 when full (max_entries), when growing the table
 * failed (out of memory), or key == 0.  May reallocate keys/vals. */
int pyr_u64map_put(pyr_u64map *m, uint64_t key, uint64_t val);
uint64_t pyr_hash64(uint64_t x);

#endif
