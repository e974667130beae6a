/*
 * stackdb.c - window-scoped stack deduplication (see stackdb.h).
 *
 * Layout: `entries[id]` holds {offset into `frames`, length, flags, hash};
 * an open-addressing index (2x max_stacks slots, load <= 1/2) maps a hash
 * to candidate ids, which are confirmed by comparing frames.  reset() only
 * rewinds counters and clears the index, so a window costs no allocation.
 */
#include "stackdb.h"

#include "u64map.h"

#include <stdlib.h>
#include <string.h>

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
  size_t slots;
  uint64_t overflows;
};

pyr_stackdb *pyr_stackdb_new(size_t max_stacks, size_t max_frames) {
  pyr_stackdb *db = calloc(1, sizeof(*db));
  if (!db)
    return NULL;
  db->max_stacks = max_stacks;
  db->max_frames = max_frames;
  db->slots = 16;
  while (db->slots < max_stacks * 2)
    db->slots <<= 1;
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
