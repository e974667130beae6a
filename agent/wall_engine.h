/*
 * wall_engine.h - the wall-clock sampler thread.
 *
 * Every `wall` period the thread visits a bounded batch of registered Java
 * threads, round-robin (PYR_WALL_VISITS per tick, at most PYR_WALL_SIGNALS
 * of them signalled), so the cost per tick does not grow with the number of
 * threads.  Each visit attributes the wall time elapsed since that thread's
 * previous visit, so a thread's samples add up to its real wall time however
 * rarely it is visited.  Weights are whole multiples of the CPU interval
 * (Pyroscope multiplies WallClockSample.samples by 1e9/sampleRate); the
 * remainder carries over to the next visit.
 *
 * Idle threads are not woken: a thread whose last sample was SLEEPING and
 * whose CPU clock advanced by less than PYR_WALL_IDLE_CPU_NS since is not
 * signalled; a "repeat" record (PYR_WALL_REPEAT) tells the aggregator to
 * reuse its last stack.  This keeps event-loop threads blocked in
 * epoll_wait/poll from being interrupted into EINTR busy loops.
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

#define PYR_WALL_VISITS 64
#define PYR_WALL_SIGNALS 16
#define PYR_WALL_IDLE_CPU_NS 20000ull

typedef struct pyr_wall_stats {
  uint64_t ticks, visits, signals, repeats, signal_errors, jvm_stacks;
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
