/*
 * guard.h - crash protection for the code our signal handlers run.
 *
 * AsyncGetCallTrace walks a stack that the interrupted thread may be
 * changing under it, and it is known to fault inside libjvm on some frames.
 * The guard turns such a fault (SIGSEGV or SIGBUS) into a failed call: the
 * walk is abandoned, the sample dropped and the fault counted.  Every other
 * SIGSEGV/SIGBUS of the process goes, unchanged, to the handler that was
 * installed before ours - the JVM's, which needs them for implicit null
 * checks, safepoint polls and stack banging.
 *
 * Threads: pyr_guard_install runs once, on the thread posting VMInit, after
 * the JVM installed its own handlers; pyr_guard_call runs inside our
 * profiling-signal handlers on any thread; the fault handler runs on the
 * faulting thread; the counters are read by the aggregator thread.
 *
 * Invariants:
 *  - "this thread is inside a guarded call" is a pointer in initial-exec
 *    TLS, set only for the duration of pyr_guard_call, so the fault handler
 *    never jumps to a dead frame and never touches dynamic TLS;
 *  - guarded calls do not nest (a nested call is refused, not run);
 *  - once installed our handlers stay installed (a signal may be in flight);
 *  - a fault outside a guarded call is passed on exactly as the kernel
 *    would have delivered it to the previous disposition.
 */
#ifndef PYRITE_SIGNAL_GUARD_H
#define PYRITE_SIGNAL_GUARD_H

#include <stdint.h>

/* Default auto-disable rule: this many guarded faults within the window
 * trip the guard (see docs/reliability.md). */
#define PYR_GUARD_FAULT_LIMIT 10
#define PYR_GUARD_WINDOW_NS (60ull * 1000000000ull)

enum pyr_guard_result {
  PYR_GUARD_OK = 0,      /* fn returned normally */
  PYR_GUARD_FAULTED = 1, /* fn faulted; the fault was caught and counted */
  PYR_GUARD_BUSY = 2,    /* a guarded call is already running on this thread */
};

typedef struct pyr_guard_stats {
  uint64_t faults;        /* faults caught inside guarded calls */
  uint64_t faults_segv;   /* ... of which SIGSEGV */
  uint64_t faults_bus;    /* ... of which SIGBUS */
  uint64_t chained;       /* SIGSEGV/SIGBUS passed on to the previous handler */
  uint64_t busy;          /* nested guarded calls refused */
  uint64_t last_addr;     /* si_addr of the last caught fault */
  uint64_t last_pc;       /* faulting PC of the last caught fault (0 if unknown) */
  int last_sig;
  int installed;
  int tripped;            /* the fault limit was reached */
} pyr_guard_stats;

/* Saves the current SIGSEGV and SIGBUS dispositions and installs ours with
 * the same mask and flags (so a chained handler runs under the mask it
 * asked for).  Idempotent.  Returns 0 or -errno.  Not signal-safe. */
int pyr_guard_install(void);
int pyr_guard_installed(void);

/* Runs fn(arg) so that a SIGSEGV/SIGBUS inside it returns PYR_GUARD_FAULTED
 * instead of reaching the previous handler.  Without pyr_guard_install,
 * fn runs unprotected.  fn must not itself rely on catching these signals,
 * and must leave no locks or shared state half-updated that outlives the
 * call (the walk is abandoned mid-way). */
int pyr_guard_call(void (*fn)(void *), void *arg);

/* Auto-disable rule: `limit` faults within `window_ns` set `tripped`.
 * limit 0 never trips.  Not signal-safe; call before sampling starts. */
void pyr_guard_set_limit(uint32_t limit, uint64_t window_ns);
/* Whether the fault limit was reached (sticky). */
int pyr_guard_tripped(void);

void pyr_guard_get_stats(pyr_guard_stats *out);

/* The fault handler, exposed so tests can reason about it. */
void pyr_guard_on_fault(int sig, void *siginfo, void *ucontext);

#endif
