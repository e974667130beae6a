/*
 * stackdb.c - window-scoped stack deduplication (see stackdb.h).
 *
 * Layout: `entries[id]` holds {offset into `frames`, length, flags, hash};
 * an open-addressing index (load <= 1/2) maps a hash to candidate ids,
 * which are confirmed by comparing frames.  reset() only rewinds counters
 * and clears the index, so a window costs no allocation once the index has
 * reached its working size.
 *
 * Memory: `entries` and `frames` are reserved for the bounds but only the
 * pages a window writes become resident.  The index is different - hashing
 * spreads ids over all of it and reset() clears it - so it starts at
 * INDEX_MIN_SLOTS and doubles with the number of stacks, up to 2 x
 * max_stacks slots (its fixed size before): 512 KiB for 65,536 stacks.
 */
#include "stackdb.h"

#include "u64map.h"

#include <stdlib.h>
#include <string.h>

#define INDEX_MIN_SLOTS 1024u

struct entry {
  size_t off;
  uint32_t n;
  uint32_t flags;
  uint64_t hash;
};

struct pyr_stackdb {
  struct entry *entries; /* index = id; 0 and 1 unused */
  size_t nentries, max_stacks;
  pyr_frame *frames;
  size_t nframes, max_frames;
  uint32_t *index; /* slot -> id, 0 = empty */
  size_t slots, max_slots;
  uint64_t overflows;
};

pyr_stackdb *pyr_stackdb_new(size_t max_stacks, size_t max_frames) {
  pyr_stackdb *db = calloc(1, sizeof(*db));
  if (!db)
    return NULL;
  db->max_stacks = max_stacks;
  db->max_frames = max_frames;
  db->max_slots = 16;
  while (db->max_slots < max_stacks * 2)
    db->max_slots <<= 1;
  db->slots = db->max_slots < INDEX_MIN_SLOTS ? db->max_slots : INDEX_MIN_SLOTS;
  db->entries = calloc(max_stacks + 2, sizeof(struct entry));
  db->frames = calloc(max_frames ? max_frames : 1, sizeof(pyr_frame));
  db->index = calloc(db->slots, sizeof(uint32_t));
  if (!db->entries || !db->frames || !db->index) {
    pyr_stackdb_free(db);
    return NULL;
  }
  db->nentries = 2;
  return db;
}

void pyr_stackdb_free(pyr_stackdb *db) {
  if (!db)
    return;
  free(db->entries);
  free(db->frames);
  free(db->index);
  free(db);
}

void pyr_stackdb_reset(pyr_stackdb *db) {
  if (db->nentries > 2)
    memset(db->index, 0, db->slots * sizeof(uint32_t));
  db->nentries = 2;
  db->nframes = 0;
}

static uint64_t hash_frames(const pyr_frame *f, uint32_t n, uint32_t flags) {
  uint64_t h = pyr_hash64(n ^ ((uint64_t)flags << 32));
  for (uint32_t i = 0; i < n; i++)
    h = pyr_hash64(h ^ f[i].method ^ ((uint64_t)(uint32_t)f[i].bci << 48));
  return h;
}

static int same(const pyr_stackdb *db, const struct entry *e, const pyr_frame *f,
                uint32_t n, uint32_t flags, uint64_t h) {
  if (e->hash != h || e->n != n || e->flags != flags)
    return 0;
  const pyr_frame *g = db->frames + e->off;
  for (uint32_t i = 0; i < n; i++)
    if (g[i].method != f[i].method || g[i].bci != f[i].bci)
      return 0;
  return 1;
}

/* Doubles the index and reinserts every id by its stored hash.  Returns
 * -1 (the old index stays) when out of memory. */
static int grow_index(pyr_stackdb *db) {
  size_t slots = db->slots * 2;
  uint32_t *index = calloc(slots, sizeof(uint32_t));
  if (!index)
    return -1;
  for (size_t id = 2; id < db->nentries; id++) {
    size_t i = (size_t)db->entries[id].hash & (slots - 1);
    while (index[i] != 0)
      i = (i + 1) & (slots - 1);
    index[i] = (uint32_t)id;
  }
  free(db->index);
  db->index = index;
  db->slots = slots;
  return 0;
}

uint32_t pyr_stackdb_intern(pyr_stackdb *db, const pyr_frame *frames, uint32_t n,
                            uint32_t flags) {
  uint64_t h = hash_frames(frames, n, flags);
  size_t i = (size_t)h & (db->slots - 1);
  for (;;) {
    uint32_t id = db->index[i];
    if (id == 0)
      break;
    if (same(db, &db->entries[id], frames, n, flags, h))
      return id;
    i = (i + 1) & (db->slots - 1);
  }
  if (db->nentries >= db->max_stacks + 2 || db->nframes + n > db->max_frames) {
    db->overflows++;
    return PYR_STACK_OVERFLOW_ID;
  }
  /* Keep the load <= 1/2 (stacks = nentries - 2, plus this one).  At
   * max_slots >= 2 x max_stacks the bound above stops us first; when growing
   * fails (out of memory) the stack is lost like any other overflow. */
  if ((db->nentries - 1) * 2 > db->slots) {
    if (db->slots >= db->max_slots || grow_index(db) != 0) {
      db->overflows++;
      return PYR_STACK_OVERFLOW_ID;
    }
    i = (size_t)h & (db->slots - 1);
    while (db->index[i] != 0)
      i = (i + 1) & (db->slots - 1);
  }
  uint32_t id = (uint32_t)db->nentries++;
  struct entry *e = &db->entries[id];
  e->off = db->nframes;
  e->n = n;
  e->flags = flags;
  e->hash = h;
  memcpy(db->frames + db->nframes, frames, n * sizeof(pyr_frame));
  db->nframes += n;
  db->index[i] = id;
  return id;
}

const pyr_frame *pyr_stackdb_get(const pyr_stackdb *db, uint32_t id, uint32_t *n,
                                 uint32_t *flags) {
  if (id < 2 || id >= db->nentries)
    return NULL;
  *n = db->entries[id].n;
  *flags = db->entries[id].flags;
  return db->frames + db->entries[id].off;
}

size_t pyr_stackdb_count(const pyr_stackdb *db) { return db->nentries - 2; }

uint64_t pyr_stackdb_overflows(const pyr_stackdb *db) { return db->overflows; }
