/*
 * threads.c - thread name table (see threads.h).
 *
 * Open addressing keyed by tid with tombstones; purge rebuilds nothing, it
 * just turns ended entries into tombstones, and a full table of tombstones
 * is compacted in place when registering.
 */
#include "threads.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define SLOTS (PYR_THREADS_MAX * 2)
#define TOMB UINT32_MAX

struct thread_entry {
  uint32_t tid; /* 0 empty, TOMB deleted */
  uint8_t ended;
  uint8_t java;
  int64_t java_tid;
  char name[PYR_THREAD_NAME_MAX];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_entry table[SLOTS];
static size_t live, used; /* used counts non-empty slots incl. tombstones */

static struct thread_entry *find(uint32_t tid, int insert) {
  size_t i = (tid * 2654435761u) % SLOTS;
  struct thread_entry *tomb = NULL;
  for (size_t n = 0; n < SLOTS; n++, i = (i + 1) % SLOTS) {
    if (table[i].tid == tid)
      return &table[i];
    if (table[i].tid == TOMB && !tomb)
      tomb = &table[i];
    if (table[i].tid == 0)
      return insert ? (tomb ? tomb : &table[i]) : NULL;
  }
  return insert ? tomb : NULL;
}

static void rehash_locked(void) {
  static struct thread_entry keep[PYR_THREADS_MAX];
  size_t n = 0;
  for (size_t i = 0; i < SLOTS; i++)
    if (table[i].tid != 0 && table[i].tid != TOMB)
      keep[n++] = table[i];
  memset(table, 0, sizeof(table));
  for (size_t i = 0; i < n; i++)
    *find(keep[i].tid, 1) = keep[i];
  used = live = n;
}

static struct thread_entry *insert_locked(uint32_t tid) {
  struct thread_entry *e = find(tid, 1);
  if (e && e->tid == tid)
    return e;
  if (live >= PYR_THREADS_MAX)
    return NULL;
  if (used >= SLOTS * 3 / 4) {
    rehash_locked();
    e = find(tid, 1);
  }
  if (!e)
    return NULL;
  if (e->tid == 0)
    used++;
  memset(e, 0, sizeof(*e));
  e->tid = tid;
  live++;
  return e;
}

void pyr_threads_register(uint32_t tid, const char *name, int64_t java_tid) {
  pthread_mutex_lock(&lock);
  struct thread_entry *e = insert_locked(tid);
  /* The launcher re-attaches the thread that ran main() as "DestroyJavaVM"
   * without a ThreadEnd in between: a live Java entry keeps its first name
   * (the one its samples were taken under). */
  if (e && e->java && !e->ended) {
    pthread_mutex_unlock(&lock);
    return;
  }
  if (e) {
    snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
    e->java = 1;
    e->java_tid = java_tid;
    e->ended = 0;
  }
  pthread_mutex_unlock(&lock);
}

void pyr_threads_ended(uint32_t tid) {
  pthread_mutex_lock(&lock);
  struct thread_entry *e = find(tid, 0);
  if (e)
    e->ended = 1;
  pthread_mutex_unlock(&lock);
}

static void read_comm(uint32_t tid, char *name, size_t len) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%u/comm", tid);
  FILE *f = fopen(path, "re");
  name[0] = '\0';
  if (f) {
    if (fgets(name, (int)len, f))
      name[strcspn(name, "\n")] = '\0';
    fclose(f);
  }
  if (!name[0])
    snprintf(name, len, "[tid %u]", tid);
}

int pyr_threads_lookup(uint32_t tid, char *name, size_t len, int64_t *java_tid) {
  int java;
  pthread_mutex_lock(&lock);
  struct thread_entry *e = find(tid, 0);
  if (!e) {
    /* Reading /proc under the lock is fine: only the aggregator and
     * thread start/end contend, and this happens once per thread. */
    e = insert_locked(tid);
    if (!e) {
      pthread_mutex_unlock(&lock);
      read_comm(tid, name, len);
      *java_tid = -1;
      return 0;
    }
    read_comm(tid, e->name, sizeof(e->name));
    e->java_tid = -1;
  }
  snprintf(name, len, "%s", e->name);
  *java_tid = e->java_tid;
  java = e->java;
  pthread_mutex_unlock(&lock);
  return java;
}

void pyr_threads_purge_ended(void) {
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < SLOTS; i++) {
    /* Non-Java entries are dropped too: no event tells us they ended, and
     * re-reading comm once per window is cheap. */
    if (table[i].tid != 0 && table[i].tid != TOMB && (table[i].ended || !table[i].java)) {
      table[i].tid = TOMB;
      live--;
    }
  }
  pthread_mutex_unlock(&lock);
}

size_t pyr_threads_count(void) {
  pthread_mutex_lock(&lock);
  size_t n = live;
  pthread_mutex_unlock(&lock);
  return n;
}
