/*
 * profiler.h - one profiling session: sampling setup, the aggregator loop,
 * window sealing and JFR chunk output.
 *
 * Life cycle (driven by jvmti/):
 *   Agent_OnLoad -> pyr_profiler_init()      options, ring, stripes, file
 *   VMInit       -> pyr_profiler_start()     handler installed, timers armed
 *   aggregator   -> (own pthread)            drains the ring every 10 ms,
 *                                            seals a window every `upload`,
 *                                            hands the chunk to the shipper
 *   VMDeath      -> pyr_profiler_shutdown()  disarm, final flush under a
 *                                            deadline, stats line
 * Threads: init/start/shutdown on JVM callback threads; the aggregator on
 * its own pthread; thread_start/thread_end on the thread they describe.  A mutex
 * (`work`) serialises draining and chunk writing between the agent thread
 * and the VMDeath flush; the signal handler never takes it.
 */
#ifndef PYRITE_PROFILER_H
#define PYRITE_PROFILER_H

#include "options.h"
#include "sampler.h"
#include "symbols.h"

#include <stdatomic.h>
#include <stdint.h>

/* How the aggregator reaches the JVM.  attach/detach bracket every use of
 * `resolve`, so the aggregator thread is a JVM thread only while it
 * resolves names (about once per upload period). */
typedef struct pyr_profiler_jvm {
  pyr_agct_fn agct;          /* NULL: no Java stacks */
  pyr_resolve_fn resolve;
  int (*attach)(void *ctx);  /* 0 on success */
  void (*detach)(void *ctx);
  /* Wall clock: see pyr_wall_hooks in wall_engine.h. */
  int (*thread_state)(void *ctx, void *thread_ref);
  int (*thread_stack)(void *ctx, void *thread_ref, pyr_frame *out, uint32_t max);
  void *ctx;
} pyr_profiler_jvm;

/* Takes ownership of *opts (the caller's copy is zeroed). */
int pyr_profiler_init(pyr_options *opts, const pyr_profiler_jvm *jvm);
/* Arms sampling and starts the aggregator and upload threads. */
int pyr_profiler_start(void);
/* Stops sampling, writes and ships the last window; returns within
 * budget_ms whatever the server does. */
void pyr_profiler_shutdown(uint64_t budget_ms);
/* thread_ref: a JVM global reference to the thread for wall-clock sampling
 * (kept until thread_end hands it back), or NULL.  Returns a ref the caller
 * must release now (one it replaced, or thread_ref if it was not kept). */
void *pyr_profiler_thread_start(void *jni_env, const char *name, int64_t java_tid,
                                void *thread_ref);
/* Returns the thread_ref given at start (the caller releases it), or NULL. */
void *pyr_profiler_thread_end(void);
/* For JVMTI callbacks (allocation, lock): reserve a ring record with room
 * for n frames, fill it, commit it.  NULL when the ring is full (counted)
 * or profiling is not running. */
pyr_sample *pyr_profiler_reserve(uint32_t nframes);
void pyr_profiler_commit(pyr_sample *rec);
const pyr_options *pyr_profiler_options(void);

/* Counters the JVMTI callbacks keep (printed in the stats line). */
typedef struct pyr_callback_counters {
  _Atomic uint64_t alloc_samples;   /* SampledObjectAlloc events recorded */
  _Atomic uint64_t lock_events;     /* contended monitor waits recorded */
  _Atomic uint64_t lock_below_threshold_dropped; /* short waits sampled out */
  _Atomic uint64_t stack_errors;    /* GetStackTrace failures */
  _Atomic uint64_t alloc_callback_ns; /* time inside SampledObjectAlloc, total */
  /* ... and per call (pyr_sampler_hist_bucket): the median resists the
   * preemptions a loaded machine adds to a wall-clock mean. */
  _Atomic uint64_t alloc_callback_hist[PYR_HIST_BUCKETS];
  /* The class-name part of it (entry to class id known), per call. */
  _Atomic uint64_t alloc_class_hist[PYR_HIST_BUCKETS];
} pyr_callback_counters;
pyr_callback_counters *pyr_profiler_callback_counters(void);

/* Formats the agent's counters as "key=value ..." into buf. */
void pyr_profiler_format_stats(char *buf, size_t len);
/* jvmti/ reports how many methods it pre-created jmethodIDs for. */
void pyr_profiler_note_methods(uint64_t prepared, uint64_t capped);

#endif
