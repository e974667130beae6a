/*
 * sampler.c - the SIGPROF handler (see sampler.h for the contract).
 *
 * Path of one sample, all on the interrupted thread:
 *   1. bail out unless enabled, and unless si_code says our timer sent it;
 *   2. refuse re-entry on this thread (a per-thread flag in initial-exec
 *      TLS, which never allocates on first touch);
 *   3. try up to three of PYR_SAMPLER_STRIPES scratch buffers (an atomic
 *      exchange, never a wait) and let AGCT fill it - the stack is too big
 *      for the interrupted thread's own stack, which may be near its guard
 *      page;
 *   4. reserve exactly the needed bytes in the ring, copy, commit;
 *   5. account the time spent in a lock-free histogram.
 * Every early exit is counted so the user can see what was lost and why.
 */
#include "sampler.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* HotSpot's ASGCT_CallTrace, declared here because no JDK header has it. */
typedef struct agct_trace {
  void *env_id;
  int32_t num_frames;
  pyr_frame *frames;
} agct_trace;

struct stripe {
  _Atomic int busy;
  pyr_frame *frames; /* max_depth entries, mmap'ed at init */
} __attribute__((aligned(64)));

struct sampler_tls {
  void *_Atomic env;
  uint32_t tid;
  volatile sig_atomic_t in_handler;
};

/* initial-exec: the first touch on a thread must not call the dynamic TLS
 * allocator (__tls_get_addr may malloc), which a signal handler cannot do. */
static __thread struct sampler_tls tls __attribute__((tls_model("initial-exec")));

static struct {
  _Atomic int enabled;
  int installed;
  pyr_ring *ring;
  pyr_agct_fn agct;
  uint32_t max_depth;
  uint64_t interval_ns;
  struct stripe stripes[PYR_SAMPLER_STRIPES];
} S;

static struct {
  _Atomic uint64_t signals, samples, dropped_ring, dropped_busy, nested, stray, no_env,
      truncated, overruns, agct_ok, handler_ns_total, handler_ns_max;
  _Atomic uint64_t agct_codes[PYR_AGCT_CODES];
  _Atomic uint64_t hist[PYR_HIST_BUCKETS];
} C;

#define INC(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)
#define ADD(x, v) atomic_fetch_add_explicit(&(x), (v), memory_order_relaxed)

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

unsigned pyr_sampler_hist_bucket(uint64_t ns) {
  if (ns < PYR_HIST_SUB)
    return (unsigned)ns;
  unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* e >= 3 */
  unsigned sub = (unsigned)(ns >> (e - 3)) & (PYR_HIST_SUB - 1);
  return (e - 2) * PYR_HIST_SUB + sub;
}

static uint64_t hist_upper(unsigned b) {
  if (b < PYR_HIST_SUB)
    return b;
  unsigned e = b / PYR_HIST_SUB + 2, sub = b % PYR_HIST_SUB;
  uint64_t lower = (uint64_t)(PYR_HIST_SUB + sub) << (e - 3);
  return lower + ((uint64_t)1 << (e - 3)) - 1;
}

uint64_t pyr_sampler_hist_quantile(const uint64_t *hist, double q) {
  uint64_t total = 0, seen = 0;
  for (unsigned b = 0; b < PYR_HIST_BUCKETS; b++)
    total += hist[b];
  if (total == 0)
    return 0;
  uint64_t target = (uint64_t)(q * (double)total);
  if (target < 1)
    target = 1;
  for (unsigned b = 0; b < PYR_HIST_BUCKETS; b++) {
    seen += hist[b];
    if (seen >= target)
      return hist_upper(b);
  }
  return hist_upper(PYR_HIST_BUCKETS - 1);
}

static void account_time(uint64_t ns) {
  ADD(C.handler_ns_total, ns);
  ADD(C.hist[pyr_sampler_hist_bucket(ns)], 1);
  uint64_t max = atomic_load_explicit(&C.handler_ns_max, memory_order_relaxed);
  while (ns > max && !atomic_compare_exchange_weak_explicit(
                         &C.handler_ns_max, &max, ns, memory_order_relaxed,
                         memory_order_relaxed)) {
  }
}

static struct stripe *stripe_acquire(uint32_t tid) {
  for (unsigned i = 0; i < 3; i++) {
    struct stripe *s = &S.stripes[(tid + i) % PYR_SAMPLER_STRIPES];
    if (!atomic_exchange_explicit(&s->busy, 1, memory_order_acquire))
      return s;
  }
  return NULL;
}

static void stripe_release(struct stripe *s) {
  atomic_store_explicit(&s->busy, 0, memory_order_release);
}

uint32_t pyr_sampler_gettid(void) {
  return tls.tid ? tls.tid : (uint32_t)syscall(SYS_gettid);
}

/* Walks the stack into the stripe; returns the frame count or a status. */
static int32_t walk(struct stripe *s, void *env, void *ucontext) {
  agct_trace trace = {.env_id = env, .num_frames = 0, .frames = s->frames};
  if (!S.agct)
    return PYR_NO_AGCT;
  if (!env) {
    INC(C.no_env);
    return PYR_NO_JAVA_ENV;
  }
  S.agct(&trace, (int32_t)S.max_depth, ucontext);
  if (trace.num_frames > 0) {
    INC(C.agct_ok);
  } else if (trace.num_frames > -PYR_AGCT_CODES) {
    INC(C.agct_codes[-trace.num_frames]);
  }
  return trace.num_frames;
}

static void record(const siginfo_t *si, void *ucontext, uint64_t t0) {
  uint32_t tid = pyr_sampler_gettid();
  uint64_t weight = S.interval_ns;
  struct stripe *s;
  pyr_sample *rec;
  int32_t n;

  if (si->si_code == SI_TIMER && si->si_overrun > 0) {
    weight *= 1u + (uint64_t)si->si_overrun;
    ADD(C.overruns, (uint64_t)si->si_overrun);
  }
  s = stripe_acquire(tid);
  if (!s) {
    INC(C.dropped_busy);
    return;
  }
  n = walk(s, atomic_load_explicit(&tls.env, memory_order_relaxed), ucontext);
  rec = pyr_ring_reserve(S.ring, pyr_sample_size(n));
  if (!rec) {
    INC(C.dropped_ring);
    goto out;
  }
  rec->ticks = t0;
  rec->weight = weight;
  rec->extra = 0;
  rec->tid = tid;
  rec->num_frames = n;
  rec->kind = PYR_SAMPLE_CPU;
  rec->state = PYR_STATE_RUNNABLE;
  rec->flags = 0;
  if (n >= (int32_t)S.max_depth) {
    rec->flags |= PYR_SAMPLE_TRUNCATED;
    INC(C.truncated);
  }
  /* A plain loop: no need for memcpy's guarantees, and it keeps this file
   * free of library calls a reviewer would have to vet. */
  for (int32_t i = 0; i < n; i++)
    rec->frames[i] = s->frames[i];
  pyr_ring_commit(S.ring, rec);
  INC(C.samples);
out:
  stripe_release(s);
}

void pyr_sampler_on_sigprof(int sig, void *siginfo, void *ucontext) {
  const siginfo_t *si = siginfo;
  int saved_errno = errno;
  uint64_t t0;

  (void)sig;
  if (!atomic_load_explicit(&S.enabled, memory_order_relaxed))
    goto out;
  /* Only our timers: setitimer sends SI_KERNEL, timer_create SI_TIMER. */
  if (si->si_code != SI_KERNEL && si->si_code != SI_TIMER) {
    INC(C.stray);
    goto out;
  }
  INC(C.signals);
  if (tls.in_handler) {
    INC(C.nested);
    goto out;
  }
  tls.in_handler = 1;
  t0 = now_ns();
  record(si, ucontext, t0);
  account_time(now_ns() - t0);
  tls.in_handler = 0;
out:
  errno = saved_errno;
}

static void sigprof_trampoline(int sig, siginfo_t *si, void *uc) {
  pyr_sampler_on_sigprof(sig, si, uc);
}

int pyr_sampler_init(const pyr_sampler_config *cfg) {
  size_t bytes = (size_t)cfg->max_depth * sizeof(pyr_frame);
  S.ring = cfg->ring;
  S.agct = cfg->agct;
  S.max_depth = cfg->max_depth;
  S.interval_ns = cfg->interval_ns;
  for (unsigned i = 0; i < PYR_SAMPLER_STRIPES; i++) {
    if (S.stripes[i].frames)
      continue; /* init is idempotent; stripes are never freed */
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return -errno;
    S.stripes[i].frames = p;
  }
  return 0;
}

int pyr_sampler_install(void) {
  struct sigaction sa, old;
  if (S.installed)
    return 0;
  if (sigaction(SIGPROF, NULL, &old) != 0)
    return -errno;
  if ((old.sa_flags & SA_SIGINFO) ? old.sa_sigaction != NULL
                                  : (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN))
    return -EBUSY;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = sigprof_trampoline;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  /* Profiling signals must not nest: the wall-clock signal is masked too. */
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGPROF);
  sigaddset(&sa.sa_mask, SIGVTALRM);
  if (sigaction(SIGPROF, &sa, NULL) != 0)
    return -errno;
  S.installed = 1;
  return 0;
}

void pyr_sampler_enable(int on) {
  atomic_store_explicit(&S.enabled, on, memory_order_release);
}

int pyr_sampler_enabled(void) {
  return atomic_load_explicit(&S.enabled, memory_order_acquire);
}

void pyr_sampler_thread_attach(void *jni_env) {
  tls.tid = (uint32_t)syscall(SYS_gettid);
  atomic_store_explicit(&tls.env, jni_env, memory_order_relaxed);
}

void pyr_sampler_thread_detach(void) {
  atomic_store_explicit(&tls.env, NULL, memory_order_relaxed);
}

void pyr_sampler_get_stats(pyr_sampler_stats *o) {
#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
  o->signals = LD(C.signals);
  o->samples = LD(C.samples);
  o->dropped_ring = LD(C.dropped_ring);
  o->dropped_busy = LD(C.dropped_busy);
  o->nested = LD(C.nested);
  o->stray = LD(C.stray);
  o->no_env = LD(C.no_env);
  o->truncated = LD(C.truncated);
  o->overruns = LD(C.overruns);
  o->agct_ok = LD(C.agct_ok);
  o->handler_ns_total = LD(C.handler_ns_total);
  o->handler_ns_max = LD(C.handler_ns_max);
  for (unsigned i = 0; i < PYR_AGCT_CODES; i++)
    o->agct_codes[i] = LD(C.agct_codes[i]);
  for (unsigned i = 0; i < PYR_HIST_BUCKETS; i++)
    o->hist[i] = LD(C.hist[i]);
#undef LD
}
