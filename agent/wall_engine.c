/*
 * wall_engine.c - wall-clock sampler thread (see wall_engine.h).
 */
#include "wall_engine.h"

#include "log.h"
#include "sample.h"
#include "sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CPUCLOCK_SCHED 2
#define CPUCLOCK_PERTHREAD 4

static struct {
  pyr_ring *ring;
  uint64_t wall_ns, unit_ns;
  _Atomic int running;
  uint32_t cursor;
  uint32_t seen_tid[PYR_WALL_MAX_SLOTS]; /* tid the private fields belong to */
  _Atomic uint64_t ticks, visits, signals, repeats, signal_errors;
} W;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Another thread's CPU clock; -1 if it is gone. */
static int64_t thread_cpu_ns(uint32_t tid) {
  struct timespec ts;
  clockid_t clk = (clockid_t)((~(unsigned)tid << 3) | CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD);
  if (clock_gettime(clk, &ts) != 0)
    return -1;
  return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void write_repeat(uint32_t tid, uint64_t now, uint64_t weight) {
  pyr_sample *rec = pyr_ring_reserve(W.ring, pyr_sample_size(PYR_WALL_REPEAT));
  if (!rec)
    return; /* counted by the ring */
  memset(rec, 0, sizeof(*rec));
  rec->ticks = now;
  rec->weight = weight;
  rec->tid = tid;
  rec->num_frames = PYR_WALL_REPEAT;
  rec->kind = PYR_SAMPLE_WALL;
  rec->state = PYR_STATE_SLEEPING;
  pyr_ring_commit(W.ring, rec);
}

/* Returns 1 if it sent a signal. */
static int visit(pyr_wall_slot *slot, uint32_t idx, uint32_t tid, pid_t pid) {
  uint64_t now = mono_ns();
  int64_t cpu = thread_cpu_ns(tid);
  if (cpu < 0)
    return 0; /* exited; its slot is released by ThreadEnd */
  if (W.seen_tid[idx] != tid) {
    /* A new thread in this slot: start its clock now. */
    W.seen_tid[idx] = tid;
    slot->last_ts = now;
    slot->last_cpu_ns = (uint64_t)cpu;
    slot->carry_ns = 0;
    return 0;
  }
  uint64_t elapsed = now - slot->last_ts + slot->carry_ns;
  uint64_t units = elapsed / W.unit_ns;
  if (units == 0)
    return 0;
  uint64_t weight = units * W.unit_ns;
  uint64_t base = slot->last_cpu_ns;
  uint64_t after = atomic_load_explicit(&slot->cpu_after_ns, memory_order_relaxed);
  if (after > base)
    base = after; /* don't count our own handler as the thread's work */
  int idle = (uint64_t)cpu - base < PYR_WALL_IDLE_CPU_NS &&
             atomic_load_explicit(&slot->last_state, memory_order_relaxed) == PYR_STATE_SLEEPING;
  slot->carry_ns = elapsed - weight;
  slot->last_ts = now;
  slot->last_cpu_ns = (uint64_t)cpu;
  atomic_fetch_add_explicit(&W.visits, 1, memory_order_relaxed);
  if (idle) {
    write_repeat(tid, now, weight);
    atomic_fetch_add_explicit(&W.repeats, 1, memory_order_relaxed);
    return 0;
  }
  atomic_fetch_add_explicit(&slot->pending_ns, weight, memory_order_release);
  if (syscall(SYS_tgkill, pid, (pid_t)tid, SIGVTALRM) != 0) {
    atomic_fetch_add_explicit(&W.signal_errors, 1, memory_order_relaxed);
    return 0;
  }
  atomic_fetch_add_explicit(&W.signals, 1, memory_order_relaxed);
  return 1;
}

static void tick(pyr_wall_slot *slots, pid_t pid, uint32_t self) {
  unsigned visited = 0, signalled = 0;
  for (unsigned n = 0; n < PYR_WALL_MAX_SLOTS && visited < PYR_WALL_VISITS &&
                       signalled < PYR_WALL_SIGNALS;
       n++) {
    uint32_t idx = W.cursor;
    W.cursor = (W.cursor + 1) % PYR_WALL_MAX_SLOTS;
    uint32_t tid = atomic_load_explicit(&slots[idx].tid, memory_order_acquire);
    if (tid == 0 || tid == self)
      continue;
    visited++;
    signalled += (unsigned)visit(&slots[idx], idx, tid, pid);
  }
  atomic_fetch_add_explicit(&W.ticks, 1, memory_order_relaxed);
}

static void *wall_main(void *arg) {
  pyr_wall_slot *slots = pyr_sampler_wall_slots();
  pid_t pid = getpid();
  uint32_t self = (uint32_t)syscall(SYS_gettid);
  struct timespec next;
  sigset_t mask;
  (void)arg;
  /* This thread is our own overhead, not the application's: keep the
   * profiling signals away from it. */
  sigemptyset(&mask);
  sigaddset(&mask, SIGPROF);
  sigaddset(&mask, SIGVTALRM);
  pthread_sigmask(SIG_BLOCK, &mask, NULL);
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (atomic_load_explicit(&W.running, memory_order_acquire)) {
    tick(slots, pid, self);
    next.tv_nsec += (long)(W.wall_ns % 1000000000ull);
    next.tv_sec += (time_t)(W.wall_ns / 1000000000ull) + next.tv_nsec / 1000000000L;
    next.tv_nsec %= 1000000000L;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
  return NULL;
}

int pyr_wall_engine_start(pyr_ring *ring, uint64_t wall_ns, uint64_t unit_ns) {
  pthread_t t;
  pthread_attr_t attr;
  if (!pyr_sampler_wall_slots())
    return -EINVAL;
  W.ring = ring;
  W.wall_ns = wall_ns;
  W.unit_ns = unit_ns ? unit_ns : 10000000;
  atomic_store(&W.running, 1);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&t, &attr, wall_main, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    atomic_store(&W.running, 0);
    return -rc;
  }
  pthread_setname_np(t, "pyrite-wall");
  return 0;
}

void pyr_wall_engine_stop(void) { atomic_store_explicit(&W.running, 0, memory_order_release); }

void pyr_wall_engine_resample(uint32_t tid) {
  pyr_wall_slot *slots = pyr_sampler_wall_slots();
  for (unsigned i = 0; slots && i < PYR_WALL_MAX_SLOTS; i++)
    if (atomic_load_explicit(&slots[i].tid, memory_order_relaxed) == tid)
      atomic_store_explicit(&slots[i].last_state, PYR_STATE_RUNNABLE, memory_order_relaxed);
}

void pyr_wall_engine_get_stats(pyr_wall_stats *o) {
  o->ticks = atomic_load(&W.ticks);
  o->visits = atomic_load(&W.visits);
  o->signals = atomic_load(&W.signals);
  o->repeats = atomic_load(&W.repeats);
  o->signal_errors = atomic_load(&W.signal_errors);
}
