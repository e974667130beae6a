/*
 * classes.c - class-name dictionary (see classes.h).
 *
 * Names live in fixed-size arenas that are never freed or moved, so a
 * returned pointer stays valid without holding the lock.  `count` only
 * grows and is atomic so that a tag can be checked against it without the
 * lock (pyr_classes_tag_id); the counters are relaxed atomics.
 */
#include "classes.h"

#include "u64map.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BYTES (256u * 1024)
#define MAX_ARENAS (PYR_CLASSES_BYTES / ARENA_BYTES)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[PYR_CLASSES_MAX];
static _Atomic uint32_t count = 1; /* id 0 is "unknown" */
static _Atomic uint64_t tag_hits, tag_misses, overflow;
static pyr_u64map by_hash; /* FNV-1a hash -> id; collisions fall back to a scan */
static char *arenas[MAX_ARENAS];
static size_t narenas, arena_used;

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h ? h : 1;
}

static const char *store(const char *name) {
  size_t n = strlen(name) + 1;
  if (n > ARENA_BYTES)
    return NULL;
  if (narenas == 0 || arena_used + n > ARENA_BYTES) {
    if (narenas == MAX_ARENAS || !(arenas[narenas] = malloc(ARENA_BYTES)))
      return NULL;
    narenas++;
    arena_used = 0;
  }
  char *p = arenas[narenas - 1] + arena_used;
  memcpy(p, name, n);
  arena_used += n;
  return p;
}

uint32_t pyr_classes_intern(const char *name) {
  uint64_t h = fnv1a(name), id = 0;
  pthread_mutex_lock(&lock);
  if (!by_hash.slots && pyr_u64map_init(&by_hash, PYR_CLASSES_MAX) != 0)
    goto out;
  if (pyr_u64map_get(&by_hash, h, &id)) {
    if (strcmp(names[id], name) == 0)
      goto out;
    for (uint32_t i = 1; i < count; i++) { /* a hash collision: rare, scan */
      if (strcmp(names[i], name) == 0) {
        id = i;
        goto out;
      }
    }
  }
  id = 0;
  const char *copy = count == PYR_CLASSES_MAX ? NULL : store(name);
  if (!copy) {
    atomic_fetch_add_explicit(&overflow, 1, memory_order_relaxed);
    goto out;
  }
  id = count;
  names[id] = copy;
  /* Release: a thread that reads the new count outside the lock (a tag
   * check) must also see names[id]. */
  atomic_store_explicit(&count, (uint32_t)id + 1, memory_order_release);
  uint64_t existing;
  if (!pyr_u64map_get(&by_hash, h, &existing))
    pyr_u64map_put(&by_hash, h, id);
out:
  pthread_mutex_unlock(&lock);
  return (uint32_t)id;
}

const char *pyr_classes_name(uint32_t id) {
  const char *n;
  pthread_mutex_lock(&lock);
  n = (id > 0 && id < count) ? names[id] : "[unknown class]";
  pthread_mutex_unlock(&lock);
  return n;
}

uint32_t pyr_classes_count(void) {
  pthread_mutex_lock(&lock);
  uint32_t n = count - 1;
  pthread_mutex_unlock(&lock);
  return n;
}

int64_t pyr_classes_tag(uint32_t id) { return PYR_CLASSES_TAG_BASE | (int64_t)id; }

uint32_t pyr_classes_tag_id(int64_t tag) {
  int64_t id = tag ^ PYR_CLASSES_TAG_BASE;
  if (id <= 0 || id >= (int64_t)atomic_load_explicit(&count, memory_order_acquire))
    return 0;
  return (uint32_t)id;
}

uint32_t pyr_classes_lookup(const pyr_classes_source *src, void *cls) {
  int64_t tag = 0;
  uint32_t id;
  char *name;
  if (!cls)
    return 0;
  if (src->get_tag && src->get_tag(src->ctx, cls, &tag) == 0 &&
      (id = pyr_classes_tag_id(tag)) != 0) {
    atomic_fetch_add_explicit(&tag_hits, 1, memory_order_relaxed);
    return id;
  }
  if (src->get_tag)
    atomic_fetch_add_explicit(&tag_misses, 1, memory_order_relaxed);
  name = src->name(src->ctx, cls);
  if (!name)
    return 0; /* not cached either: a failure here may be transient */
  id = pyr_classes_intern(name);
  free(name);
  /* Id 0 (table full) is not cached: the bound stays visible in the
   * overflow counter for every sample it costs. */
  if (id && src->get_tag && src->set_tag)
    src->set_tag(src->ctx, cls, pyr_classes_tag(id));
  return id;
}

void pyr_classes_get_stats(pyr_classes_stats *out) {
  out->tag_hits = atomic_load_explicit(&tag_hits, memory_order_relaxed);
  out->tag_misses = atomic_load_explicit(&tag_misses, memory_order_relaxed);
  out->overflow = atomic_load_explicit(&overflow, memory_order_relaxed);
}
