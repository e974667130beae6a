/*
 * guard.c - SIGSEGV/SIGBUS crash protection for stack walks (see guard.h).
 *
 * How a guarded call works, all on one thread:
 *   1. pyr_guard_call saves the registers with sigsetjmp(env, 0) - no mask,
 *      so no system call on the fast path - and publishes &env in
 *      initial-exec TLS (a fixed %fs offset: never __tls_get_addr, never
 *      malloc, safe to read from any signal handler on any thread);
 *   2. fn runs (AsyncGetCallTrace, reads of the interrupted PC);
 *   3. normally: the pointer is cleared and the call returns PYR_GUARD_OK;
 *   4. on a fault: the kernel runs pyr_guard_on_fault on the same thread.
 *      It sees the pointer, clears it, counts the fault, puts the signal
 *      mask back to what it was when the fault hit (uc_sigmask: the mask of
 *      the profiling handler that armed the guard, so SIGSEGV is not left
 *      blocked - the next fault would then kill the process) and
 *      siglongjmps to env: pyr_guard_call returns PYR_GUARD_FAULTED.
 * Any fault while the pointer is NULL is not ours: it goes to the handler
 * saved at install time, called the way the kernel would have called it.
 *
 * Nesting: our profiling handlers block every asynchronous signal while they
 * run (sampler.c), so no other handler can run - and fault - inside a
 * guarded call; only the synchronous error signals get through.  A nested
 * pyr_guard_call on the same thread is refused (PYR_GUARD_BUSY) rather than
 * run, because a fault in it would unwind the outer call's frame too.
 *
 * What the guard cannot undo: state that libjvm changed before it faulted
 * (AGCT is written to be lock-free and allocation-free, but its own flags,
 * e.g. the thread's "in AsyncGetCallTrace" marker on JDK 21+, stay as they
 * were).  That is why repeated faults disable sampling (PYR_GUARD_FAULT_LIMIT).
 */
#include "guard.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* The armed guard of this thread, or NULL.  initial-exec: see above. */
static __thread sigjmp_buf *volatile guard_env __attribute__((tls_model("initial-exec")));

static struct {
  struct sigaction prev[2]; /* [0] SIGSEGV, [1] SIGBUS; written before install */
  _Atomic int installed;
  uint32_t limit;
  uint64_t window_ns;
  _Atomic uint64_t window_start;
  _Atomic uint32_t window_faults;
  _Atomic int tripped;
} G = {.limit = PYR_GUARD_FAULT_LIMIT, .window_ns = PYR_GUARD_WINDOW_NS};

static struct {
  _Atomic uint64_t faults, segv, bus, chained, busy, last_addr, last_pc;
  _Atomic int last_sig;
} C;

#define INC(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)
#define STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t fault_pc(const ucontext_t *uc) {
  if (!uc)
    return 0;
#if defined(__x86_64__)
  return (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uint64_t)uc->uc_mcontext.pc;
#else
  return 0;
#endif
}

/* Counts a caught fault and applies the auto-disable rule.  The window is
 * a fixed one restarted by the first fault after it expires; two threads
 * racing on the restart can lose a count, which only delays the trip. */
static void note_fault(int sig, const siginfo_t *si, const ucontext_t *uc) {
  INC(C.faults);
  if (sig == SIGBUS)
    INC(C.bus);
  else
    INC(C.segv);
  STORE(C.last_addr, (uint64_t)(uintptr_t)si->si_addr);
  STORE(C.last_pc, fault_pc(uc));
  STORE(C.last_sig, sig);
  if (G.limit == 0)
    return;
  uint64_t now = mono_ns();
  uint64_t start = atomic_load_explicit(&G.window_start, memory_order_relaxed);
  if (start == 0 || now - start > G.window_ns) {
    STORE(G.window_start, now);
    STORE(G.window_faults, 0);
  }
  if (atomic_fetch_add_explicit(&G.window_faults, 1, memory_order_relaxed) + 1 >= G.limit)
    atomic_store_explicit(&G.tripped, 1, memory_order_release);
}

/* The default action of SIGSEGV/SIGBUS is to dump core.  Restore it and
 * send the signal to this thread: it stays pending (blocked while we run,
 * unless SA_NODEFER) and kills the process as soon as we return, with the
 * same signal a plain process would have died of.  A synchronous fault
 * would also simply re-fault on return. */
static void default_action(int sig) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
  syscall(SYS_tgkill, (pid_t)syscall(SYS_getpid), (pid_t)syscall(SYS_gettid), sig);
}

/* Passes a fault on to the disposition saved at install, as the kernel
 * would have: same arguments (so a handler that edits the ucontext - the
 * JVM moves the PC to its null-check or stack-overflow continuation - takes
 * effect when we return), and under the same mask (ours was copied from it). */
static void chain(int sig, siginfo_t *si, void *uc) {
  struct sigaction *p = &G.prev[sig == SIGBUS];
  if (p->sa_handler == SIG_DFL) {
    default_action(sig);
    return;
  }
  if (p->sa_handler == SIG_IGN) {
    /* The kernel never ignores a real fault (it forces the default action);
     * only a signal sent with kill/tgkill (si_code <= 0) is ignored. */
    if (si->si_code <= 0)
      return;
    default_action(sig);
    return;
  }
  if (p->sa_flags & SA_SIGINFO) {
    void (*fn)(int, siginfo_t *, void *) = p->sa_sigaction;
    if (p->sa_flags & SA_RESETHAND)
      p->sa_handler = SIG_DFL; /* one-shot, as the kernel would do */
    fn(sig, si, uc);
  } else {
    void (*fn)(int) = p->sa_handler;
    if (p->sa_flags & SA_RESETHAND)
      p->sa_handler = SIG_DFL;
    fn(sig);
  }
}

void pyr_guard_on_fault(int sig, void *siginfo, void *ucontext) {
  siginfo_t *si = siginfo;
  ucontext_t *uc = ucontext;
  sigjmp_buf *env = guard_env;
  if (env) {
    guard_env = NULL; /* a fault from here on is not ours */
    note_fault(sig, si, uc);
    /* Back to the mask in force when the fault hit.  sigsetjmp did not save
     * one (that costs a system call per sample); this one is exact. */
    if (uc)
      sigprocmask(SIG_SETMASK, &uc->uc_sigmask, NULL);
    siglongjmp(*env, 1);
  }
  INC(C.chained);
  chain(sig, si, uc);
}

static void fault_trampoline(int sig, siginfo_t *si, void *uc) {
  pyr_guard_on_fault(sig, si, uc);
}

int pyr_guard_call(void (*fn)(void *), void *arg) {
  sigjmp_buf env;
  if (!atomic_load_explicit(&G.installed, memory_order_acquire)) {
    fn(arg);
    return PYR_GUARD_OK;
  }
  if (guard_env) {
    INC(C.busy);
    return PYR_GUARD_BUSY;
  }
  if (sigsetjmp(env, 0) != 0)
    return PYR_GUARD_FAULTED; /* the handler already disarmed */
  guard_env = &env;
  /* Keep the compiler from moving fn's memory accesses out of the armed
   * span; the signal arrives on this thread, so a signal fence suffices. */
  atomic_signal_fence(memory_order_seq_cst);
  fn(arg);
  atomic_signal_fence(memory_order_seq_cst);
  guard_env = NULL;
  return PYR_GUARD_OK;
}

int pyr_guard_install(void) {
  static const int sigs[2] = {SIGSEGV, SIGBUS};
  struct sigaction sa, old[2];
  if (atomic_load_explicit(&G.installed, memory_order_acquire))
    return 0;
  for (int i = 0; i < 2; i++)
    if (sigaction(sigs[i], NULL, &old[i]) != 0)
      return -errno;
  /* The handler reads prev as soon as it is installed: fill it first. */
  G.prev[0] = old[0];
  G.prev[1] = old[1];
  for (int i = 0; i < 2; i++) {
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = fault_trampoline;
    /* Run under the previous handler's mask and stack choice, so chaining
     * to it is indistinguishable from the kernel calling it directly.
     * SA_RESETHAND is emulated in chain() instead: ours must stay. */
    sa.sa_mask = old[i].sa_mask;
    sa.sa_flags = SA_SIGINFO | (old[i].sa_flags & (SA_ONSTACK | SA_RESTART | SA_NODEFER));
    if (sigaction(sigs[i], &sa, NULL) != 0) {
      int err = -errno;
      if (i == 1)
        sigaction(sigs[0], &old[0], NULL); /* all or nothing */
      return err;
    }
  }
  atomic_store_explicit(&G.installed, 1, memory_order_release);
  return 0;
}

int pyr_guard_installed(void) { return atomic_load_explicit(&G.installed, memory_order_acquire); }

void pyr_guard_set_limit(uint32_t limit, uint64_t window_ns) {
  G.limit = limit;
  G.window_ns = window_ns ? window_ns : PYR_GUARD_WINDOW_NS;
}

int pyr_guard_tripped(void) { return atomic_load_explicit(&G.tripped, memory_order_acquire); }

void pyr_guard_get_stats(pyr_guard_stats *o) {
#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
  o->faults = LD(C.faults);
  o->faults_segv = LD(C.segv);
  o->faults_bus = LD(C.bus);
  o->chained = LD(C.chained);
  o->busy = LD(C.busy);
  o->last_addr = LD(C.last_addr);
  o->last_pc = LD(C.last_pc);
  o->last_sig = LD(C.last_sig);
  o->installed = pyr_guard_installed();
  o->tripped = pyr_guard_tripped();
#undef LD
}
