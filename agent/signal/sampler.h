/*
 * sampler.h - the SIGPROF handler and everything it touches.
 *
 * The handler takes a Java stack with AsyncGetCallTrace into one of a fixed
 * set of preallocated scratch stripes, copies it into the sample ring and
 * accounts its own cost.  It never blocks: a busy stripe, a full ring or a
 * nested signal drops the sample and counts why.
 *
 * Threads: the handler runs on whichever thread the kernel interrupts.
 * pyr_sampler_init/install run once on the JVM's OnLoad thread;
 * pyr_sampler_thread_attach/detach run on the thread they describe
 * (JVMTI ThreadStart/ThreadEnd/VMInit); the counters are read by the
 * aggregator thread.
 *
 * Invariants: everything the handler touches is allocated at init and never
 * freed; the handler stays installed for the life of the process (stopping
 * means clearing `enabled` and disarming timers); the handler preserves
 * errno and calls nothing but AGCT, clock_gettime, raw syscalls and the
 * crash guard (guard.h: sigsetjmp, and on a fault sigprocmask+siglongjmp);
 * the thread's dynamic-labels context id is one initial-exec TLS load
 * copied into the record (set by pyr_sampler_set_context, docs/labels.md);
 * the stack walk and every read of the interrupted context run inside
 * pyr_guard_call, and the guard tripping clears `enabled` at once.
 */
#ifndef PYRITE_SIGNAL_SAMPLER_H
#define PYRITE_SIGNAL_SAMPLER_H

#include "ring.h"
#include "sample.h"

#include <stdatomic.h>
#include <stdint.h>

/* AsyncGetCallTrace(ASGCT_CallTrace *trace, jint depth, void *ucontext). */
typedef void (*pyr_agct_fn)(void *trace, int32_t depth, void *ucontext);

#define PYR_SAMPLER_STRIPES 16
/* AGCT status codes are 0..-10; index = -code. */
#define PYR_AGCT_CODES 11
/* Handler-time histogram: 8 sub-buckets per power of two of nanoseconds. */
#define PYR_HIST_SUB 8
#define PYR_HIST_BUCKETS (64 * PYR_HIST_SUB)

/* Wall-clock sampling: one slot per registered Java thread.  The wall
 * thread adds the wall time to attribute to `pending_ns` and signals the
 * thread; the thread's SIGVTALRM handler takes it and records the sample.
 * Fields after `last_state` belong to the wall thread alone. */
#define PYR_WALL_MAX_SLOTS 4096

typedef struct pyr_wall_slot {
  _Atomic uint32_t tid;        /* 0 = free */
  _Atomic uint32_t last_state; /* state of the last signalled sample */
  _Atomic uint64_t pending_ns; /* weight for the next signal */
  _Atomic uint64_t cpu_after_ns; /* thread CPU clock when the handler ended */
  _Atomic uint64_t context;    /* copy of the thread's labels context id, for
                                  wall samples taken without signalling it */
  void *thread_ref; /* JVM global ref of the thread; guarded by the wall
                       engine's slot locks, never read by the handler */
  uint64_t last_ts, last_cpu_ns, carry_ns;
} pyr_wall_slot;

typedef struct pyr_sampler_stats {
  uint64_t signals;        /* SIGPROF deliveries seen while enabled */
  uint64_t samples;        /* samples written to the ring */
  uint64_t dropped_ring;   /* ring full */
  uint64_t dropped_busy;   /* every stripe tried was busy */
  uint64_t nested;         /* signal arrived inside the handler */
  uint64_t stray;          /* SIGPROF not from our timers (si_code) */
  uint64_t no_env;         /* thread without a registered JNIEnv */
  uint64_t truncated;      /* stack deeper than jstackdepth */
  uint64_t overruns;       /* timer expirations folded into weights */
  uint64_t wall_samples;   /* wall samples written by the SIGVTALRM handler */
  uint64_t wall_no_slot;   /* SIGVTALRM on a thread without a wall slot */
  uint64_t dropped_fault;  /* walk abandoned: a fault caught by the guard */
  uint64_t dropped_guard_busy; /* walk refused: guard already armed on the thread */
  uint64_t agct_ok;
  uint64_t agct_codes[PYR_AGCT_CODES];
  uint64_t handler_ns_total;
  uint64_t handler_ns_max;
  uint64_t hist[PYR_HIST_BUCKETS];
} pyr_sampler_stats;

typedef struct pyr_sampler_config {
  pyr_ring *ring;
  pyr_agct_fn agct;       /* NULL: Java stacks disabled */
  uint32_t max_depth;     /* jstackdepth */
  uint64_t interval_ns;   /* weight of one CPU sample */
  int wall;               /* allocate wall slots and handle SIGVTALRM */
  /* Test-only fault injection (0 = off): every fault_every-th guarded walk
   * reads an invalid address after AGCT returned - alternately
   * fault_segv_addr (SIGSEGV) and, if set, fault_bus_addr (a page past the
   * end of a file: SIGBUS). */
  uint32_t fault_every;
  const volatile uint8_t *fault_segv_addr;
  const volatile uint8_t *fault_bus_addr;
} pyr_sampler_config;

/* Allocates the stripes (mmap).  Returns 0 or -errno.  Not signal-safe. */
int pyr_sampler_init(const pyr_sampler_config *cfg);
/* Installs the SIGPROF handler unless another non-default handler is
 * there (returns -EBUSY then: we never steal a signal).  Blocks nothing in
 * the thread's own mask; while the handler runs, sa_mask blocks every
 * asynchronous signal (the synchronous error signals stay open for the
 * crash guard). */
int pyr_sampler_install(void);
void pyr_sampler_enable(int on);
int pyr_sampler_enabled(void);
/* Wall-clock: SIGVTALRM handler (same refusal rules as SIGPROF). */
int pyr_sampler_install_wall(void);
void pyr_sampler_enable_wall(int on);
/* The slot table (PYR_WALL_MAX_SLOTS entries) or NULL without wall. */
pyr_wall_slot *pyr_sampler_wall_slots(void);

/* Records the calling thread's JNIEnv for the handler (NULL to clear) and,
 * with wall sampling, claims a wall slot for it (released on detach). */
void pyr_sampler_thread_attach(void *jni_env);
void pyr_sampler_thread_detach(void);
/* The calling thread's wall slot, or NULL. */
pyr_wall_slot *pyr_sampler_thread_slot(void);
/* Dynamic labels: the calling thread's context id (0 = none), read by the
 * handlers with one initial-exec TLS load and also copied into the
 * thread's wall slot.  Not signal-safe to set from a handler; any thread
 * may set its own. */
void pyr_sampler_set_context(uint64_t context);
uint64_t pyr_sampler_context(void);
/* The calling thread's kernel tid, cached in TLS when attached. */
uint32_t pyr_sampler_gettid(void);

void pyr_sampler_get_stats(pyr_sampler_stats *out);
/* Value at quantile q (0..1) of a histogram, as the bucket's upper bound. */
uint64_t pyr_sampler_hist_quantile(const uint64_t *hist, double q);
/* Bucket index for a duration; exposed for tests. */
unsigned pyr_sampler_hist_bucket(uint64_t ns);

/* The handlers, exposed so tests can drive them directly. */
void pyr_sampler_on_sigprof(int sig, void *siginfo, void *ucontext);
void pyr_sampler_on_sigvtalrm(int sig, void *siginfo, void *ucontext);
/* Running or sleeping, from the interrupted context (no syscalls). */
uint16_t pyr_sampler_interrupted_state(const void *ucontext);

#endif
