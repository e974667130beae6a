/*
 * cpu_engine.h - arms the timers that deliver SIGPROF.
 *
 * itimer: one setitimer(ITIMER_PROF) for the whole process; the kernel
 * picks which running thread gets each signal.
 * cpu: one POSIX timer per thread on that thread's own CPU clock
 * (timer_create with SIGEV_THREAD_ID), so every busy thread is sampled at
 * the interval regardless of how many threads run; missed expirations come
 * back as si_overrun and are added to the sample weight.
 *
 * Threads: start/stop from the JVMTI VMInit/VMDeath callbacks;
 * thread_started/thread_ended from ThreadStart/ThreadEnd on that thread;
 * rescan from the aggregator thread (about once a second) to cover threads
 * JVMTI never reports (GC, JIT compiler, VM thread).  The timer table is
 * protected by a mutex; the signal handler never touches it.
 *
 * Bound: at most PYR_CPU_MAX_TIMERS per-thread timers; threads beyond that
 * are not sampled and are counted in `untimed`.
 */
#ifndef PYRITE_CPU_ENGINE_H
#define PYRITE_CPU_ENGINE_H

#include "options.h"

#include <stdint.h>

#define PYR_CPU_MAX_TIMERS 4096

typedef struct pyr_cpu_engine_stats {
  uint64_t timers_live;
  uint64_t timers_created;
  uint64_t timers_deleted;
  uint64_t untimed;      /* threads left unsampled: table full or error */
} pyr_cpu_engine_stats;

/* Arms sampling.  Returns 0 or -errno (then nothing is armed). */
int pyr_cpu_engine_start(enum pyr_cpu_engine engine, uint64_t interval_ns);
void pyr_cpu_engine_stop(void);
void pyr_cpu_engine_thread_started(uint32_t tid);
void pyr_cpu_engine_thread_ended(uint32_t tid);
void pyr_cpu_engine_rescan(void);
void pyr_cpu_engine_get_stats(pyr_cpu_engine_stats *out);

#endif
