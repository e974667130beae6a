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
 *      page.  The walk runs inside pyr_guard_call (guard.c): a SIGSEGV or
 *      SIGBUS in AGCT or in our reads of the interrupted PC abandons the
 *      walk, drops the sample (dropped_fault) and, past the fault limit,
 *      turns sampling off on the spot;
 *   4. reserve exactly the needed bytes in the ring, copy, commit;
 *   5. account the time spent in a lock-free histogram.
 * Every early exit is counted so the user can see what was lost and why.
 */
#include "sampler.h"

#include "guard.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>
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
  pyr_wall_slot *_Atomic wall_slot;
  uint32_t tid;
  volatile sig_atomic_t in_handler;
  _Atomic uint64_t context; /* dynamic-labels context id; 0 = none */
};

/* initial-exec: the first touch on a thread must not call the dynamic TLS
 * allocator (__tls_get_addr may malloc), which a signal handler cannot do. */
static __thread struct sampler_tls tls __attribute__((tls_model("initial-exec")));

static struct {
  _Atomic int enabled;
  _Atomic int wall_enabled;
  int installed, wall_installed;
  pyr_wall_slot *wall_slots; /* mmap'ed, never freed */
  pyr_ring *ring;
  pyr_agct_fn agct;
  uint32_t max_depth;
  uint64_t interval_ns;
  uint32_t fault_every; /* test-only injection, see sampler.h */
  const volatile uint8_t *fault_segv_addr, *fault_bus_addr;
  _Atomic uint32_t fault_tick;
  struct stripe stripes[PYR_SAMPLER_STRIPES];
} S;

static struct {
  _Atomic uint64_t signals, samples, dropped_ring, dropped_busy, nested, stray, no_env,
      truncated, overruns, agct_ok, handler_ns_total, handler_ns_max, wall_samples,
      wall_no_slot, dropped_fault, dropped_guard_busy;
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

/* Test-only: every fault_every-th guarded walk reads an address that
 * faults, alternating SIGSEGV and SIGBUS.  Through pointers set at init,
 * so the compiler cannot see (and "optimise") a constant bad address. */
static void inject_fault(void) {
  uint32_t k = atomic_fetch_add_explicit(&S.fault_tick, 1, memory_order_relaxed) + 1;
  if (k % S.fault_every != 0)
    return;
  if (S.fault_bus_addr && (k / S.fault_every) % 2 == 0)
    (void)*S.fault_bus_addr;
  else if (S.fault_segv_addr)
    (void)*S.fault_segv_addr;
}

/* Everything that reads memory we do not own: the interrupted PC's bytes
 * and AGCT's walk.  Runs inside pyr_guard_call. */
struct walk_job {
  struct stripe *s;
  void *env, *ucontext;
  int32_t n;
  int want_state;
  uint16_t state;
};

static void walk_guarded(void *arg) {
  struct walk_job *j = arg;
  if (j->want_state)
    j->state = pyr_sampler_interrupted_state(j->ucontext);
  j->n = walk(j->s, j->env, j->ucontext);
  if (S.fault_every)
    inject_fault();
}

/* Records one sample.  With want_state, *state is set from the interrupted
 * context first.  Returns 0 if the walk completed (a sample was written or
 * the ring was full), -1 if it was abandoned. */
static int record(void *ucontext, uint64_t t0, uint16_t kind, uint16_t *state,
                  int want_state, uint64_t weight) {
  uint32_t tid = pyr_sampler_gettid();
  struct stripe *s;
  pyr_sample *rec;
  int32_t n;
  int rc = 0;

  s = stripe_acquire(tid);
  if (!s) {
    INC(C.dropped_busy);
    return -1;
  }
  struct walk_job job = {.s = s, .env = atomic_load_explicit(&tls.env, memory_order_relaxed),
                         .ucontext = ucontext, .n = 0, .want_state = want_state,
                         .state = *state};
  switch (pyr_guard_call(walk_guarded, &job)) {
  case PYR_GUARD_OK:
    break;
  case PYR_GUARD_FAULTED:
    INC(C.dropped_fault);
    /* Past the limit: stop walking right now, from this handler; the
     * aggregator disarms the timers and says so (profiler.c). */
    if (pyr_guard_tripped()) {
      pyr_sampler_enable(0);
      pyr_sampler_enable_wall(0);
    }
    rc = -1;
    goto out;
  default:
    INC(C.dropped_guard_busy);
    rc = -1;
    goto out;
  }
  n = job.n;
  *state = job.state;
  rec = pyr_ring_reserve(S.ring, pyr_sample_size(n));
  if (!rec) {
    INC(C.dropped_ring);
    goto out;
  }
  rec->ticks = t0;
  rec->weight = weight;
  rec->extra = 0;
  rec->extra2 = 0;
  rec->context = atomic_load_explicit(&tls.context, memory_order_relaxed);
  rec->tid = tid;
  rec->num_frames = n;
  rec->kind = kind;
  rec->state = *state;
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
  return rc;
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
  uint64_t weight = S.interval_ns;
  if (si->si_code == SI_TIMER && si->si_overrun > 0) {
    weight *= 1u + (uint64_t)si->si_overrun;
    ADD(C.overruns, (uint64_t)si->si_overrun);
  }
  uint16_t state = PYR_STATE_RUNNABLE;
  record(ucontext, t0, PYR_SAMPLE_CPU, &state, 0, weight);
  account_time(now_ns() - t0);
  tls.in_handler = 0;
out:
  errno = saved_errno;
}

/* x86-64: a thread blocked in a system call is interrupted either with
 * RIP on the `syscall` instruction (0f 05; the kernel rewound it to
 * restart the call) or just after it with RAX = -EINTR.  Either way it was
 * waiting, not running.  Both bytes are inside the page RIP executes from
 * unless RIP is at a page edge, which the checks exclude. */
uint16_t pyr_sampler_interrupted_state(const void *ucontext) {
#if defined(__x86_64__)
  const ucontext_t *uc = ucontext;
  uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  long rax = (long)uc->uc_mcontext.gregs[REG_RAX];
  const uint8_t *pc = (const uint8_t *)rip;
  if (rip == 0)
    return PYR_STATE_RUNNABLE;
  if ((rip & 4095) <= 4094 && pc[0] == 0x0f && pc[1] == 0x05)
    return PYR_STATE_SLEEPING;
  if ((rip & 4095) >= 2 && pc[-2] == 0x0f && pc[-1] == 0x05 && rax == -EINTR)
    return PYR_STATE_SLEEPING;
  return PYR_STATE_RUNNABLE;
#elif defined(__aarch64__)
  /* aarch64: `svc #0` is 0xd4000001, 4-byte aligned. */
  const ucontext_t *uc = ucontext;
  uintptr_t pc = (uintptr_t)uc->uc_mcontext.pc;
  long x0 = (long)uc->uc_mcontext.regs[0];
  if (pc == 0 || (pc & 3))
    return PYR_STATE_RUNNABLE;
  if ((pc & 4095) <= 4092 && *(const uint32_t *)pc == 0xd4000001u)
    return PYR_STATE_SLEEPING;
  if ((pc & 4095) >= 4 && *(const uint32_t *)(pc - 4) == 0xd4000001u && x0 == -EINTR)
    return PYR_STATE_SLEEPING;
  return PYR_STATE_RUNNABLE;
#else
  (void)ucontext;
  return PYR_STATE_RUNNABLE;
#endif
}

void pyr_sampler_on_sigvtalrm(int sig, void *siginfo, void *ucontext) {
  const siginfo_t *si = siginfo;
  int saved_errno = errno;
  pyr_wall_slot *slot;
  uint64_t t0, weight;

  (void)sig;
  if (!atomic_load_explicit(&S.wall_enabled, memory_order_relaxed))
    goto out;
  if (si->si_code != SI_TKILL) { /* only the wall thread's tgkill */
    INC(C.stray);
    goto out;
  }
  slot = atomic_load_explicit(&tls.wall_slot, memory_order_relaxed);
  if (!slot) {
    INC(C.wall_no_slot);
    goto out;
  }
  weight = atomic_exchange_explicit(&slot->pending_ns, 0, memory_order_acq_rel);
  if (weight == 0)
    goto out;
  if (tls.in_handler) {
    /* Give the time back: the next signal will carry it. */
    atomic_fetch_add_explicit(&slot->pending_ns, weight, memory_order_relaxed);
    INC(C.nested);
    goto out;
  }
  tls.in_handler = 1;
  t0 = now_ns();
  uint16_t state = PYR_STATE_RUNNABLE;
  /* The state is read from the interrupted PC inside the guard too. */
  if (record(ucontext, t0, PYR_SAMPLE_WALL, &state, 1, weight) == 0) {
    atomic_store_explicit(&slot->last_state, state, memory_order_relaxed);
    INC(C.wall_samples);
  }
  account_time(now_ns() - t0);
  /* The wall thread measures idleness from here, so the CPU this handler
   * just spent does not make a sleeping thread look busy. */
  struct timespec cpu;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
    atomic_store_explicit(&slot->cpu_after_ns,
                          (uint64_t)cpu.tv_sec * 1000000000ull + (uint64_t)cpu.tv_nsec,
                          memory_order_relaxed);
  tls.in_handler = 0;
out:
  errno = saved_errno;
}

static void sigprof_trampoline(int sig, siginfo_t *si, void *uc) {
  pyr_sampler_on_sigprof(sig, si, uc);
}

static void sigvtalrm_trampoline(int sig, siginfo_t *si, void *uc) {
  pyr_sampler_on_sigvtalrm(sig, si, uc);
}

int pyr_sampler_init(const pyr_sampler_config *cfg) {
  size_t bytes = (size_t)cfg->max_depth * sizeof(pyr_frame);
  S.ring = cfg->ring;
  S.agct = cfg->agct;
  S.max_depth = cfg->max_depth;
  S.interval_ns = cfg->interval_ns;
  S.fault_every = cfg->fault_every;
  S.fault_segv_addr = cfg->fault_segv_addr;
  S.fault_bus_addr = cfg->fault_bus_addr;
  for (unsigned i = 0; i < PYR_SAMPLER_STRIPES; i++) {
    if (S.stripes[i].frames)
      continue; /* init is idempotent; stripes are never freed */
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return -errno;
    S.stripes[i].frames = p;
  }
  if (cfg->wall && !S.wall_slots) {
    void *p = mmap(NULL, PYR_WALL_MAX_SLOTS * sizeof(pyr_wall_slot), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      return -errno;
    S.wall_slots = p;
  }
  return 0;
}

/* Installs `fn` for `sig` unless someone else's handler is there: we never
 * steal a signal another library relies on. */
static int install(int sig, void (*fn)(int, siginfo_t *, void *)) {
  struct sigaction sa, old;
  if (sigaction(sig, NULL, &old) != 0)
    return -errno;
  if ((old.sa_flags & SA_SIGINFO) ? (old.sa_sigaction != NULL && old.sa_sigaction != fn)
                                  : (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN))
    return -EBUSY;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = fn;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  /* Block every asynchronous signal while the handler runs (a few us):
   * profiling signals must not nest, and no other handler may run - and
   * fault - while the crash guard is armed on this thread (guard.c).  The
   * synchronous error signals stay deliverable: a fault must reach the
   * guard, and blocking them would make the kernel kill the process. */
  sigfillset(&sa.sa_mask);
  sigdelset(&sa.sa_mask, SIGSEGV);
  sigdelset(&sa.sa_mask, SIGBUS);
  sigdelset(&sa.sa_mask, SIGILL);
  sigdelset(&sa.sa_mask, SIGFPE);
  sigdelset(&sa.sa_mask, SIGTRAP);
  if (sigaction(sig, &sa, NULL) != 0)
    return -errno;
  return 0;
}

int pyr_sampler_install(void) {
  int rc = S.installed ? 0 : install(SIGPROF, sigprof_trampoline);
  if (rc == 0)
    S.installed = 1;
  return rc;
}

int pyr_sampler_install_wall(void) {
  int rc = S.wall_installed ? 0 : install(SIGVTALRM, sigvtalrm_trampoline);
  if (rc == 0)
    S.wall_installed = 1;
  return rc;
}

void pyr_sampler_enable_wall(int on) {
  atomic_store_explicit(&S.wall_enabled, on, memory_order_release);
}

pyr_wall_slot *pyr_sampler_wall_slots(void) { return S.wall_slots; }

void pyr_sampler_enable(int on) {
  atomic_store_explicit(&S.enabled, on, memory_order_release);
}

int pyr_sampler_enabled(void) {
  return atomic_load_explicit(&S.enabled, memory_order_acquire);
}

/* Claims a free slot with a CAS on its tid; a full table means this
 * thread is not wall-sampled (counted as wall_no_slot if signalled). */
static pyr_wall_slot *claim_wall_slot(uint32_t tid) {
  for (unsigned i = 0; S.wall_slots && i < PYR_WALL_MAX_SLOTS; i++) {
    pyr_wall_slot *s = &S.wall_slots[i];
    uint32_t expect = 0;
    if (atomic_load_explicit(&s->tid, memory_order_relaxed) != 0)
      continue;
    /* The wall thread owns last_ts etc.; it resets them when it sees a
     * new tid in the slot (see wall_engine.c). */
    atomic_store_explicit(&s->pending_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&s->last_state, PYR_STATE_RUNNABLE, memory_order_relaxed);
    atomic_store_explicit(&s->context, 0, memory_order_relaxed);
    if (atomic_compare_exchange_strong_explicit(&s->tid, &expect, tid, memory_order_release,
                                                memory_order_relaxed))
      return s;
  }
  return NULL;
}

void pyr_sampler_thread_attach(void *jni_env) {
  tls.tid = (uint32_t)syscall(SYS_gettid);
  atomic_store_explicit(&tls.env, jni_env, memory_order_relaxed);
  if (S.wall_slots && !atomic_load_explicit(&tls.wall_slot, memory_order_relaxed)) {
    pyr_wall_slot *slot = claim_wall_slot(tls.tid);
    if (slot) /* a thread may have entered a labels scope before ThreadStart */
      atomic_store_explicit(&slot->context,
                            atomic_load_explicit(&tls.context, memory_order_relaxed),
                            memory_order_relaxed);
    atomic_store_explicit(&tls.wall_slot, slot, memory_order_relaxed);
  }
}

void pyr_sampler_set_context(uint64_t context) {
  pyr_wall_slot *slot = atomic_load_explicit(&tls.wall_slot, memory_order_relaxed);
  atomic_store_explicit(&tls.context, context, memory_order_relaxed);
  if (slot)
    atomic_store_explicit(&slot->context, context, memory_order_relaxed);
}

uint64_t pyr_sampler_context(void) {
  return atomic_load_explicit(&tls.context, memory_order_relaxed);
}

pyr_wall_slot *pyr_sampler_thread_slot(void) {
  return atomic_load_explicit(&tls.wall_slot, memory_order_relaxed);
}

void pyr_sampler_thread_detach(void) {
  pyr_wall_slot *slot = atomic_load_explicit(&tls.wall_slot, memory_order_relaxed);
  atomic_store_explicit(&tls.env, NULL, memory_order_relaxed);
  atomic_store_explicit(&tls.wall_slot, NULL, memory_order_relaxed);
  if (slot)
    atomic_store_explicit(&slot->tid, 0, memory_order_release);
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
  o->wall_samples = LD(C.wall_samples);
  o->wall_no_slot = LD(C.wall_no_slot);
  o->dropped_fault = LD(C.dropped_fault);
  o->dropped_guard_busy = LD(C.dropped_guard_busy);
  o->agct_ok = LD(C.agct_ok);
  o->handler_ns_total = LD(C.handler_ns_total);
  o->handler_ns_max = LD(C.handler_ns_max);
  for (unsigned i = 0; i < PYR_AGCT_CODES; i++)
    o->agct_codes[i] = LD(C.agct_codes[i]);
  for (unsigned i = 0; i < PYR_HIST_BUCKETS; i++)
    o->hist[i] = LD(C.hist[i]);
#undef LD
}
