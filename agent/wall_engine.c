/*
 * wall_engine.c - wall-clock sampler thread (see wall_engine.h).
 */
#include "wall_engine.h"

#include "log.h"
#include "sample.h"
#include "sampler.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CPUCLOCK_SCHED 2
#define CPUCLOCK_PERTHREAD 4

#define SLOT_LOCKS 64 /* striped: slot i uses lock i % SLOT_LOCKS */

static struct {
  pyr_ring *ring;
  uint64_t wall_ns, unit_ns;
  pyr_wall_hooks hooks;
  int have_hooks;
  pyr_frame *frames; /* hooks.max_depth, for JVMTI stacks */
  pthread_mutex_t slot_locks[SLOT_LOCKS];
  _Atomic int running;
  uint32_t cursor;
  uint32_t seen_tid[PYR_WALL_MAX_SLOTS]; /* tid the private fields belong to */
  _Atomic uint64_t ticks, visits, signals, repeats, signal_errors, jvm_stacks;
} W;

static pthread_once_t locks_once = PTHREAD_ONCE_INIT;

static void init_locks(void) {
  for (unsigned i = 0; i < SLOT_LOCKS; i++)
    pthread_mutex_init(&W.slot_locks[i], NULL);
}

static pthread_mutex_t *slot_lock(pyr_wall_slot *slot) {
  pthread_once(&locks_once, init_locks);
  return &W.slot_locks[(uintptr_t)(slot - pyr_sampler_wall_slots()) % SLOT_LOCKS];
}

void *pyr_wall_engine_set_ref(pyr_wall_slot *slot, void *ref) {
  pthread_mutex_t *m = slot_lock(slot);
  pthread_mutex_lock(m);
  void *old = slot->thread_ref;
  slot->thread_ref = ref;
  pthread_mutex_unlock(m);
  return old;
}

void *pyr_wall_engine_clear_ref(pyr_wall_slot *slot) {
  pthread_mutex_t *m = slot_lock(slot);
  pthread_mutex_lock(m);
  void *ref = slot->thread_ref;
  slot->thread_ref = NULL;
  pthread_mutex_unlock(m);
  return ref;
}

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

/* A wall sample whose stack came from JVMTI (the thread was not running
 * Java, so it was not signalled). */
static void write_jvm_sample(uint32_t tid, uint64_t now, uint64_t weight, uint16_t state,
                             int32_t n) {
  pyr_sample *rec = pyr_ring_reserve(W.ring, pyr_sample_size(n > 0 ? n : 0));
  if (!rec)
    return;
  rec->ticks = now;
  rec->weight = weight;
  rec->extra = rec->extra2 = 0;
  rec->tid = tid;
  /* No Java frames (a JVM service thread waiting in native code): name
   * the sample after the thread, as for threads without a JNIEnv. */
  rec->num_frames = n > 0 ? n : PYR_NO_JAVA_ENV;
  rec->kind = PYR_SAMPLE_WALL;
  rec->state = state;
  rec->flags = (uint32_t)n >= W.hooks.max_depth ? PYR_SAMPLE_TRUNCATED : 0;
  for (int32_t i = 0; i < n; i++)
    rec->frames[i] = W.frames[i];
  pyr_ring_commit(W.ring, rec);
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
  int busy = (uint64_t)cpu - base >= PYR_WALL_IDLE_CPU_NS;
  uint64_t prev_ts = slot->last_ts;
  slot->carry_ns = elapsed - weight;
  slot->last_ts = now;
  slot->last_cpu_ns = (uint64_t)cpu;
  atomic_fetch_add_explicit(&W.visits, 1, memory_order_relaxed);
  if (W.have_hooks) {
    int handled = 0;
    pthread_mutex_t *m = slot_lock(slot);
    pthread_mutex_lock(m);
    if (slot->thread_ref) {
      int st = W.hooks.thread_state(W.hooks.ctx, slot->thread_ref);
      if (!(st & PYR_TS_ALIVE)) {
        handled = 1; /* ending: nothing to attribute */
      } else if (!(st & PYR_TS_JAVA_RUNNING)) {
        /* Blocked, waiting, parked or in native code: never signal it.
         * Waiting states are sleeping; native code is running if it used
         * at least half of the elapsed time on a CPU. */
        int native_busy = ((uint64_t)cpu - base) * 2 >= (now - prev_ts);
        uint16_t state = (st & PYR_TS_WAITING) || !native_busy ? PYR_STATE_SLEEPING
                                                               : PYR_STATE_RUNNABLE;
        if (!busy && atomic_load_explicit(&slot->last_state, memory_order_relaxed) ==
                         PYR_STATE_SLEEPING) {
          write_repeat(tid, now, weight);
          atomic_fetch_add_explicit(&W.repeats, 1, memory_order_relaxed);
        } else {
          int n = W.hooks.thread_stack(W.hooks.ctx, slot->thread_ref, W.frames,
                                       W.hooks.max_depth);
          write_jvm_sample(tid, now, weight, state, n);
          atomic_store_explicit(&slot->last_state, state, memory_order_relaxed);
          atomic_fetch_add_explicit(&W.jvm_stacks, 1, memory_order_relaxed);
        }
        handled = 1;
      }
    }
    pthread_mutex_unlock(m);
    if (handled)
      return 0;
  }
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
  /* JVMTI calls need a thread attached to the JVM; as a daemon it never
   * holds up JVM exit. */
  if (W.have_hooks && W.hooks.attach(W.hooks.ctx) != 0)
    W.have_hooks = 0;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (atomic_load_explicit(&W.running, memory_order_acquire)) {
    tick(slots, pid, self);
    next.tv_nsec += (long)(W.wall_ns % 1000000000ull);
    next.tv_sec += (time_t)(W.wall_ns / 1000000000ull) + next.tv_nsec / 1000000000L;
    next.tv_nsec %= 1000000000L;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
  if (W.have_hooks)
    W.hooks.detach(W.hooks.ctx);
  return NULL;
}

int pyr_wall_engine_start(pyr_ring *ring, uint64_t wall_ns, uint64_t unit_ns,
                          const pyr_wall_hooks *hooks) {
  pthread_t t;
  pthread_attr_t attr;
  if (!pyr_sampler_wall_slots())
    return -EINVAL;
  pthread_once(&locks_once, init_locks);
  if (hooks && hooks->thread_state && hooks->thread_stack && hooks->attach) {
    W.hooks = *hooks;
    W.frames = calloc(hooks->max_depth ? hooks->max_depth : 1, sizeof(pyr_frame));
    W.have_hooks = W.frames != NULL;
  }
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
  o->jvm_stacks = atomic_load(&W.jvm_stacks);
}
