/*
 * wall_engine.h - the wall-clock sampler thread.
 *
 * Every `wall` period the thread runs one tick: it visits registered Java
 * threads round-robin from where the last tick stopped, and stops at the
 * first budget spent: PYR_WALL_VISITS visits, PYR_WALL_WALKS JVMTI stack
 * walks, PYR_WALL_SIGNALS signals.  So a tick's work is bounded by these
 * constants whatever the number of threads; with many threads each one is
 * visited less often instead.  A thread that needs a walk or a signal the
 * tick cannot afford is left untouched and starts the next tick, as is a
 * waiting thread that ran during its walk (the handshake caught it at its
 * next stop, not now): that stack is dropped once and retaken.
 *
 * Each visit attributes the wall time elapsed since that thread's previous
 * visit, so a thread's samples add up to its real wall time however rarely
 * it is visited (minus its last, unvisited stretch).  Weights are whole
 * multiples of the CPU interval (Pyroscope multiplies
 * WallClockSample.samples by 1e9/sampleRate); the remainder carries over.
 *
 * Sleepers are folded, not re-walked: a thread whose last sample was
 * SLEEPING and that used no CPU at all since the previous visit (it did
 * not run, so its stack cannot have changed; under PYR_WALL_IDLE_CPU_NS
 * without JVMTI hooks), or that is not running Java now and used less
 * than 1/PYR_WALL_IDLE_DUTY of the elapsed time (it woke briefly, e.g. a
 * long sleep loop, and is waiting again), gets a "repeat" record
 * (PYR_WALL_REPEAT): the aggregator reuses its last stack.  The second
 * kind is an approximation, so after PYR_WALL_REFRESH such folds in a row
 * the thread is walked again.  Idle threads blocked in epoll_wait/poll are
 * never signalled at all (see pyr_wall_hooks), so they are never pushed
 * into EINTR busy loops.
 *
 * Threads: its own pthread; reads the slot table the signal handler and
 * thread start/end also touch (atomics only).  JVM-internal threads never
 * have slots, so they are never signalled.
 */
#ifndef PYRITE_WALL_ENGINE_H
#define PYRITE_WALL_ENGINE_H

#include "ring.h"
#include "sample.h"
#include "sampler.h"

#include <stdint.h>

#define PYR_WALL_VISITS 16   /* threads visited per tick, at most */
#define PYR_WALL_WALKS 4     /* JVMTI GetStackTrace calls per tick, at most */
#define PYR_WALL_SIGNALS 8   /* SIGVTALRM sent per tick, at most */
#define PYR_WALL_IDLE_CPU_NS 20000ull
#define PYR_WALL_IDLE_DUTY 1000 /* folded if CPU < elapsed / 1000 */
#define PYR_WALL_REFRESH 32     /* re-walk after this many such folds */

typedef struct pyr_wall_stats {
  uint64_t ticks, visits, signals, repeats, signal_errors, jvm_stacks;
  uint64_t deferred; /* ticks cut short by the walk or signal budget */
  uint64_t walks_raced; /* JVMTI stacks dropped: the thread ran during the walk */
  uint64_t cpu_ns;   /* the wall thread's own CPU time */
  uint64_t max_visits, max_walks, max_signals; /* in any one tick */
} pyr_wall_stats;

/* Thread state bits reported by the JVM hook. */
#define PYR_TS_ALIVE 0x1
#define PYR_TS_JAVA_RUNNING 0x2 /* runnable and executing Java, not native */
#define PYR_TS_WAITING 0x4      /* blocked on a monitor, waiting, sleeping, parked */

/* How the wall thread reaches the JVM (jvmti/ provides these).  With them,
 * threads that are not running Java code (blocked on a monitor, waiting,
 * sleeping, parked, or in native code such as epoll_wait) are never
 * signalled: their stack comes from JVMTI GetStackTrace, which does not
 * wake them and, unlike a signal-time AGCT, also works for threads blocked
 * entering a monitor.  Only threads running Java get SIGVTALRM. */
typedef struct pyr_wall_hooks {
  int (*attach)(void *ctx);
  void (*detach)(void *ctx);
  int (*thread_state)(void *ctx, void *thread_ref);
  int (*thread_stack)(void *ctx, void *thread_ref, pyr_frame *out, uint32_t max);
  void *ctx;
  uint32_t max_depth;
} pyr_wall_hooks;

/* hooks may be NULL (signal-only wall sampling). */
int pyr_wall_engine_start(pyr_ring *ring, uint64_t wall_ns, uint64_t unit_ns,
                          const pyr_wall_hooks *hooks);
/* Thread start/end: publish or withdraw the thread's JVM reference in its
 * slot.  Both return the ref the caller must now release (set_ref: the one
 * it replaced), which the wall thread no longer uses. */
void *pyr_wall_engine_set_ref(pyr_wall_slot *slot, void *ref);
void *pyr_wall_engine_clear_ref(pyr_wall_slot *slot);
void pyr_wall_engine_stop(void);
/* The aggregator lost this thread's last stack: signal it next visit. */
void pyr_wall_engine_resample(uint32_t tid);
void pyr_wall_engine_get_stats(pyr_wall_stats *out);

#endif
