/*
 * cpu_engine.c - itimer and per-thread CPU timers (see cpu_engine.h).
 *
 * Per-thread timers are created with the raw syscall because glibc's
 * timer_create only accepts its predefined clock ids, while a thread's CPU
 * clock is the kernel encoding ((~tid) << 3) | CPUCLOCK_SCHED | PERTHREAD.
 * The table maps tid -> kernel timer id with linear probing; deleted slots
 * become tombstones that the next rescan compacts.
 */
#include "cpu_engine.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CPUCLOCK_SCHED 2
#define CPUCLOCK_PERTHREAD 4
#define TABLE_SIZE (PYR_CPU_MAX_TIMERS * 2) /* load factor <= 0.5 */
#define TOMBSTONE UINT32_MAX

struct timer_slot {
  uint32_t tid;     /* 0 = empty, TOMBSTONE = deleted */
  int timer_id;
  uint32_t seen;    /* rescan generation that last saw this tid */
};

static struct {
  pthread_mutex_t lock;
  enum pyr_cpu_engine engine;
  uint64_t interval_ns;
  int running;
  uint32_t generation;
  size_t live;
  struct timer_slot slots[TABLE_SIZE];
  pyr_cpu_engine_stats stats;
} E = {.lock = PTHREAD_MUTEX_INITIALIZER};

static clockid_t thread_cpu_clock(uint32_t tid) {
  return (clockid_t)((~(unsigned)tid << 3) | CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD);
}

static int create_thread_timer(uint32_t tid, int *timer_id) {
  struct sigevent sev;
  struct itimerspec its;
  int id = -1;

  memset(&sev, 0, sizeof(sev));
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGPROF;
  sev._sigev_un._tid = (pid_t)tid;
  if (syscall(SYS_timer_create, thread_cpu_clock(tid), &sev, &id) != 0)
    return -errno;
  its.it_interval.tv_sec = (time_t)(E.interval_ns / 1000000000ull);
  its.it_interval.tv_nsec = (long)(E.interval_ns % 1000000000ull);
  its.it_value = its.it_interval;
  if (syscall(SYS_timer_settime, id, 0, &its, NULL) != 0) {
    int err = -errno;
    syscall(SYS_timer_delete, id);
    return err;
  }
  *timer_id = id;
  return 0;
}

static struct timer_slot *find_slot(uint32_t tid, int for_insert) {
  size_t i = (tid * 2654435761u) % TABLE_SIZE;
  struct timer_slot *tomb = NULL;
  for (size_t n = 0; n < TABLE_SIZE; n++, i = (i + 1) % TABLE_SIZE) {
    struct timer_slot *s = &E.slots[i];
    if (s->tid == tid)
      return s;
    if (s->tid == TOMBSTONE && !tomb)
      tomb = s;
    if (s->tid == 0)
      return for_insert ? (tomb ? tomb : s) : NULL;
  }
  return for_insert ? tomb : NULL;
}

/* Called with E.lock held. */
static void add_thread_locked(uint32_t tid) {
  struct timer_slot *s;
  int id = -1;
  if (!E.running || E.engine != PYR_ENGINE_CPU)
    return;
  s = find_slot(tid, 1);
  if (s && s->tid == tid) {
    s->seen = E.generation;
    return;
  }
  if (!s || E.live >= PYR_CPU_MAX_TIMERS) {
    E.stats.untimed++;
    return;
  }
  int err = create_thread_timer(tid, &id);
  if (err != 0) {
    /* ESRCH/EINVAL: the thread exited between listing and arming. */
    if (err != -ESRCH && err != -EINVAL)
      E.stats.untimed++;
    return;
  }
  s->tid = tid;
  s->timer_id = id;
  s->seen = E.generation;
  E.live++;
  E.stats.timers_created++;
}

static void delete_slot_locked(struct timer_slot *s) {
  syscall(SYS_timer_delete, s->timer_id);
  s->tid = TOMBSTONE;
  E.live--;
  E.stats.timers_deleted++;
}

static int list_threads_locked(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *de;
  if (!d)
    return -errno;
  E.generation++;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9')
      continue;
    add_thread_locked((uint32_t)strtoul(de->d_name, NULL, 10));
  }
  closedir(d);
  return 0;
}

/* Drops timers of threads that vanished and rebuilds the table so
 * tombstones do not accumulate. */
static void compact_locked(void) {
  static struct timer_slot keep[PYR_CPU_MAX_TIMERS];
  size_t n = 0;
  for (size_t i = 0; i < TABLE_SIZE; i++) {
    struct timer_slot *s = &E.slots[i];
    if (s->tid == 0 || s->tid == TOMBSTONE)
      continue;
    if (s->seen != E.generation)
      delete_slot_locked(s);
    else
      keep[n++] = *s;
  }
  memset(E.slots, 0, sizeof(E.slots));
  for (size_t i = 0; i < n; i++)
    *find_slot(keep[i].tid, 1) = keep[i];
}

int pyr_cpu_engine_start(enum pyr_cpu_engine engine, uint64_t interval_ns) {
  int rc = 0;
  pthread_mutex_lock(&E.lock);
  E.engine = engine;
  E.interval_ns = interval_ns;
  if (engine == PYR_ENGINE_ITIMER) {
    struct itimerval tv;
    tv.it_interval.tv_sec = (time_t)(interval_ns / 1000000000ull);
    tv.it_interval.tv_usec = (suseconds_t)(interval_ns % 1000000000ull / 1000);
    tv.it_value = tv.it_interval;
    if (setitimer(ITIMER_PROF, &tv, NULL) != 0)
      rc = -errno;
    else
      E.running = 1;
  } else if (engine == PYR_ENGINE_CPU) {
    E.running = 1;
    rc = list_threads_locked();
    if (rc != 0)
      E.running = 0;
  }
  pthread_mutex_unlock(&E.lock);
  return rc;
}

void pyr_cpu_engine_stop(void) {
  pthread_mutex_lock(&E.lock);
  if (E.running && E.engine == PYR_ENGINE_ITIMER) {
    struct itimerval off;
    memset(&off, 0, sizeof(off));
    setitimer(ITIMER_PROF, &off, NULL);
  } else if (E.running && E.engine == PYR_ENGINE_CPU) {
    for (size_t i = 0; i < TABLE_SIZE; i++)
      if (E.slots[i].tid != 0 && E.slots[i].tid != TOMBSTONE)
        delete_slot_locked(&E.slots[i]);
    memset(E.slots, 0, sizeof(E.slots));
  }
  E.running = 0;
  pthread_mutex_unlock(&E.lock);
}

void pyr_cpu_engine_thread_started(uint32_t tid) {
  pthread_mutex_lock(&E.lock);
  add_thread_locked(tid);
  pthread_mutex_unlock(&E.lock);
}

void pyr_cpu_engine_thread_ended(uint32_t tid) {
  pthread_mutex_lock(&E.lock);
  if (E.running && E.engine == PYR_ENGINE_CPU) {
    struct timer_slot *s = find_slot(tid, 0);
    if (s)
      delete_slot_locked(s);
  }
  pthread_mutex_unlock(&E.lock);
}

void pyr_cpu_engine_rescan(void) {
  pthread_mutex_lock(&E.lock);
  if (E.running && E.engine == PYR_ENGINE_CPU && list_threads_locked() == 0)
    compact_locked();
  pthread_mutex_unlock(&E.lock);
}

void pyr_cpu_engine_get_stats(pyr_cpu_engine_stats *out) {
  pthread_mutex_lock(&E.lock);
  *out = E.stats;
  out->timers_live = E.live;
  pthread_mutex_unlock(&E.lock);
}
