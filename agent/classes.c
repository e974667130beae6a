/*
 * classes.c - class-name dictionary (see classes.h).
 *
 * Names live in fixed-size arenas that are never freed or moved, so a
 * returned pointer stays valid without holding the lock.
 */
#include "classes.h"

#include "u64map.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BYTES (256u * 1024)
#define MAX_ARENAS (PYR_CLASSES_BYTES / ARENA_BYTES)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[PYR_CLASSES_MAX];
static uint32_t count = 1; /* id 0 is "unknown" */
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
  if (count == PYR_CLASSES_MAX)
    goto out;
  const char *copy = store(name);
  if (!copy)
    goto out;
  names[count] = copy;
  id = count++;
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
