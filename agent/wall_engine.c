/*
 * wall_engine.c - wall-clock sampler thread (see wall_engine.h).
 *
 * Threads: the per-slot arrays in W (seen_tid, folds, by_signal), the
 * cursor and the slot fields after last_state belong to the wall thread
 * alone; thread_ref is read under a slot lock; the rest are atomics.
 * Invariant: a visit either attributes a thread's elapsed time (and moves
 * its clock) or changes nothing, so deferring a visit loses no time.
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
#define PYR_WALL_SCAN_SLACK 64 /* slots scanned beyond the highest seen in use */

static struct {
  pyr_ring *ring;
  uint64_t wall_ns, unit_ns;
  pyr_wall_hooks hooks;
  int have_hooks;
  pyr_frame *frames; /* hooks.max_depth, for JVMTI stacks */
  pthread_mutex_t slot_locks[SLOT_LOCKS];
  _Atomic int running;
  uint32_t cursor;
  uint32_t high; /* 1 + the highest slot index ever seen in use */
  uint32_t seen_tid[PYR_WALL_MAX_SLOTS]; /* tid the private fields belong to */
  uint16_t folds[PYR_WALL_MAX_SLOTS];    /* active visits folded since the last walk */
  uint8_t by_signal[PYR_WALL_MAX_SLOTS]; /* last stack came from a signal, not a walk */
  uint8_t raced[PYR_WALL_MAX_SLOTS];     /* last walk was dropped (see visit) */
  _Atomic uint64_t ticks, visits, signals, repeats, signal_errors, jvm_stacks, deferred, cpu_ns;
  _Atomic uint64_t walks_raced;
  _Atomic uint64_t max_visits, max_walks, max_signals; /* per tick */
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
                             int32_t n, uint64_t context) {
  pyr_sample *rec = pyr_ring_reserve(W.ring, pyr_sample_size(n > 0 ? n : 0));
  if (!rec)
    return;
  rec->ticks = now;
  rec->weight = weight;
  rec->extra = rec->extra2 = 0;
  rec->context = context; /* the thread's labels, copied into its slot */
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

static void write_repeat(uint32_t tid, uint64_t now, uint64_t weight, uint64_t context) {
  pyr_sample *rec = pyr_ring_reserve(W.ring, pyr_sample_size(PYR_WALL_REPEAT));
  if (!rec)
    return; /* counted by the ring */
  memset(rec, 0, sizeof(*rec));
  rec->ticks = now;
  rec->weight = weight;
  rec->tid = tid;
  rec->num_frames = PYR_WALL_REPEAT;
  rec->context = context;
  rec->kind = PYR_SAMPLE_WALL;
  rec->state = PYR_STATE_SLEEPING;
  pyr_ring_commit(W.ring, rec);
}

/* What a visit did; the tick's budgets are charged accordingly. */
enum visit_result {
  VISIT_NONE,      /* nothing to attribute yet (new thread, < 1 unit, gone) */
  VISIT_CHEAP,     /* attributed without a walk or a signal (repeat, ended) */
  VISIT_WALKED,    /* took a JVMTI stack */
  VISIT_SIGNALLED, /* sent SIGVTALRM */
  VISIT_NEED_WALK, /* needs a walk, but the tick's walk budget is spent */
  VISIT_NEED_SIGNAL,
  VISIT_RETRY, /* walked, but the stack was dropped (see visit); walk again */
};

/* Whether a thread that was SLEEPING at its previous sample, ran briefly
 * since and is not running Java now can be folded into a repeat of its
 * last stack instead of being walked again (see wall_engine.h). */
static int foldable(uint32_t idx, uint64_t cpu_delta, uint64_t span, uint16_t state) {
  return state == PYR_STATE_SLEEPING && cpu_delta * PYR_WALL_IDLE_DUTY < span &&
         W.folds[idx] < PYR_WALL_REFRESH;
}

/* One thread.  Attributes the wall time since its previous visit, unless
 * that needs a walk or a signal the tick cannot afford: then nothing of
 * the slot changes and the time stays with the thread for a later visit. */
static enum visit_result visit(pyr_wall_slot *slot, uint32_t idx, uint32_t tid, pid_t pid,
                               int can_walk, int can_signal) {
  uint64_t now = mono_ns();
  int64_t cpu = thread_cpu_ns(tid);
  if (cpu < 0)
    return VISIT_NONE; /* exited; its slot is released by ThreadEnd */
  if (W.seen_tid[idx] != tid) {
    /* A new thread in this slot: start its clock now. */
    W.seen_tid[idx] = tid;
    W.folds[idx] = 0;
    W.by_signal[idx] = 0;
    W.raced[idx] = 0;
    slot->last_ts = now;
    slot->last_cpu_ns = (uint64_t)cpu;
    slot->carry_ns = 0;
    return VISIT_NONE;
  }
  uint64_t elapsed = now - slot->last_ts + slot->carry_ns;
  uint64_t units = elapsed / W.unit_ns;
  if (units == 0)
    return VISIT_NONE;
  uint64_t weight = units * W.unit_ns;
  uint64_t base = slot->last_cpu_ns;
  uint64_t after = atomic_load_explicit(&slot->cpu_after_ns, memory_order_relaxed);
  if (after > base)
    base = after; /* don't count our own handler as the thread's work */
  uint64_t cpu_delta = (uint64_t)cpu > base ? (uint64_t)cpu - base : 0;
  uint64_t span = now - slot->last_ts;
  int was_sleeping =
      atomic_load_explicit(&slot->last_state, memory_order_relaxed) == PYR_STATE_SLEEPING;
  enum visit_result res = VISIT_NONE;
  /* A blocked thread's CPU clock does not move at all, and any change of
   * its stack needs it to run; a few microseconds are enough to leave one
   * wait for another (measured: ReentrantLock waiters folded into their
   * previous parkNanos under a 20 us threshold).  After a signal, the
   * handler's own cost is not perfectly excluded (the interrupted system
   * call restarts after it), so a small threshold remains there: threads
   * JVMTI calls runnable but that wait inside the VM are signalled once,
   * not every tick. */
  int quiet = W.have_hooks && !W.by_signal[idx] ? cpu_delta == 0
                                                 : cpu_delta < PYR_WALL_IDLE_CPU_NS;
  if (was_sleeping && quiet) {
    /* Asleep and has not run since: its stack cannot have changed, so
     * repeat it without asking the JVM anything (the cheapest visit). */
    write_repeat(tid, now, weight,
                 atomic_load_explicit(&slot->context, memory_order_relaxed));
    atomic_fetch_add_explicit(&W.repeats, 1, memory_order_relaxed);
    res = VISIT_CHEAP;
  } else if (W.have_hooks) {
    pthread_mutex_t *m = slot_lock(slot);
    pthread_mutex_lock(m);
    if (slot->thread_ref) {
      int st = W.hooks.thread_state(W.hooks.ctx, slot->thread_ref);
      if (!(st & PYR_TS_ALIVE)) {
        res = VISIT_CHEAP; /* ending: nothing to attribute */
      } else if (!(st & PYR_TS_JAVA_RUNNING)) {
        /* Blocked, waiting, parked or in native code: never signal it.
         * Waiting states are sleeping; native code is running if it used
         * at least half of the elapsed time on a CPU. */
        int native_busy = cpu_delta * 2 >= span;
        uint16_t state = (st & PYR_TS_WAITING) || !native_busy ? PYR_STATE_SLEEPING
                                                               : PYR_STATE_RUNNABLE;
        if (was_sleeping && foldable(idx, cpu_delta, span, state)) {
          W.folds[idx]++;
          write_repeat(tid, now, weight,
                       atomic_load_explicit(&slot->context, memory_order_relaxed));
          atomic_fetch_add_explicit(&W.repeats, 1, memory_order_relaxed);
          res = VISIT_CHEAP;
        } else if (!can_walk) {
          res = VISIT_NEED_WALK;
        } else {
          int n = W.hooks.thread_stack(W.hooks.ctx, slot->thread_ref, W.frames,
                                       W.hooks.max_depth);
          /* GetStackTrace is a handshake: a waiting thread that started to
           * run after the state check is walked at its next stop, not now,
           * which favours the waits that follow a run (measured on JDK 25:
           * a short parkNanos after each unlock got twice its share).  So
           * if a waiting thread ran meanwhile, drop this stack and take the
           * next one a tick later; once only, so a thread is never starved. */
          int raced = state == PYR_STATE_SLEEPING && !W.raced[idx] && thread_cpu_ns(tid) != cpu;
          W.raced[idx] = (uint8_t)raced;
          if (raced) {
            atomic_fetch_add_explicit(&W.walks_raced, 1, memory_order_relaxed);
            res = VISIT_RETRY;
            goto unlock;
          }
          write_jvm_sample(tid, now, weight, state, n,
                           atomic_load_explicit(&slot->context, memory_order_relaxed));
          atomic_store_explicit(&slot->last_state, state, memory_order_relaxed);
          atomic_fetch_add_explicit(&W.jvm_stacks, 1, memory_order_relaxed);
          W.folds[idx] = 0;
          W.by_signal[idx] = 0;
          res = VISIT_WALKED;
        }
      }
    }
  unlock:
    pthread_mutex_unlock(m);
  }
  if (res == VISIT_NONE) {
    if (!can_signal) {
      res = VISIT_NEED_SIGNAL;
    } else {
      atomic_fetch_add_explicit(&slot->pending_ns, weight, memory_order_release);
      if (syscall(SYS_tgkill, pid, (pid_t)tid, SIGVTALRM) != 0) {
        atomic_fetch_add_explicit(&W.signal_errors, 1, memory_order_relaxed);
        res = VISIT_CHEAP;
      } else {
        atomic_fetch_add_explicit(&W.signals, 1, memory_order_relaxed);
        W.by_signal[idx] = 1;
        res = VISIT_SIGNALLED;
      }
    }
  }
  if (res == VISIT_NEED_WALK || res == VISIT_NEED_SIGNAL || res == VISIT_RETRY)
    return res; /* untouched: the elapsed time waits for the next visit */
  slot->carry_ns = elapsed - weight;
  slot->last_ts = now;
  slot->last_cpu_ns = (uint64_t)cpu;
  return res;
}

/* One tick: visit threads round-robin from the cursor until a budget is
 * spent.  A thread that needs a walk or a signal after that budget is
 * gone is left where it is and starts the next tick, so no thread is
 * starved however the budgets fall. */
static void tick(pyr_wall_slot *slots, pid_t pid, uint32_t self) {
  unsigned visited = 0, signalled = 0, walked = 0;
  /* Threads claim the lowest free slot, so every used slot is below the
   * highest one ever seen, and a new one at most a few above it: scanning
   * PYR_WALL_SCAN_SLACK beyond finds newcomers without reading all 4,096
   * slots (256 KB) every tick when there are few threads. */
  uint32_t limit = W.high + PYR_WALL_SCAN_SLACK;
  if (limit > PYR_WALL_MAX_SLOTS)
    limit = PYR_WALL_MAX_SLOTS;
  for (unsigned n = 0; n < limit && visited < PYR_WALL_VISITS; n++) {
    if (W.cursor >= limit)
      W.cursor = 0;
    uint32_t idx = W.cursor;
    uint32_t tid = atomic_load_explicit(&slots[idx].tid, memory_order_acquire);
    if (tid != 0 && idx >= W.high)
      W.high = idx + 1;
    if (tid != 0 && tid != self) {
      enum visit_result r = visit(&slots[idx], idx, tid, pid, walked < PYR_WALL_WALKS,
                                  signalled < PYR_WALL_SIGNALS);
      if (r == VISIT_NEED_WALK || r == VISIT_NEED_SIGNAL || r == VISIT_RETRY) {
        atomic_fetch_add_explicit(&W.deferred, 1, memory_order_relaxed);
        visited++;
        walked += r == VISIT_RETRY;
        break; /* the cursor stays on it */
      }
      visited++;
      walked += r == VISIT_WALKED;
      signalled += r == VISIT_SIGNALLED;
    }
    W.cursor = idx + 1 >= limit ? 0 : idx + 1;
  }
  atomic_fetch_add_explicit(&W.visits, visited, memory_order_relaxed);
  if (visited > atomic_load_explicit(&W.max_visits, memory_order_relaxed))
    atomic_store_explicit(&W.max_visits, visited, memory_order_relaxed);
  if (walked > atomic_load_explicit(&W.max_walks, memory_order_relaxed))
    atomic_store_explicit(&W.max_walks, walked, memory_order_relaxed);
  if (signalled > atomic_load_explicit(&W.max_signals, memory_order_relaxed))
    atomic_store_explicit(&W.max_signals, signalled, memory_order_relaxed);
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
    struct timespec cpu;
    tick(slots, pid, self);
    /* Our own cost, sleeps and wake-ups included, for the stats line. */
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
      atomic_store_explicit(&W.cpu_ns,
                            (uint64_t)cpu.tv_sec * 1000000000ull + (uint64_t)cpu.tv_nsec,
                            memory_order_relaxed);
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
  o->deferred = atomic_load(&W.deferred);
  o->walks_raced = atomic_load(&W.walks_raced);
  o->cpu_ns = atomic_load(&W.cpu_ns);
  o->max_visits = atomic_load(&W.max_visits);
  o->max_walks = atomic_load(&W.max_walks);
  o->max_signals = atomic_load(&W.max_signals);
}
