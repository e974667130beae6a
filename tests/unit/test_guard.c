/* Unit tests for agent/signal/guard.c, the SIGSEGV/SIGBUS crash guard.
 *
 * Each case runs in a forked child, because the guard installs process-wide
 * signal handlers once and some cases end with the child killed by a
 * signal.  A child reports a failed check as its exit code (the line
 * number) and prints the check on stderr.  Covered: a fault inside a
 * guarded call is caught and counted (SIGSEGV and SIGBUS, repeatedly, so
 * the signal is not left blocked); a fault outside reaches the previously
 * installed handler exactly - SA_SIGINFO with its ucontext edits taking
 * effect, a plain handler, SIG_DFL (the process dies of SIGSEGV), SIG_IGN
 * (a sent signal is ignored, a real fault still kills); nested guarded
 * calls are refused; the signal mask inside a signal handler is the same
 * after a caught fault; the auto-disable limit and its window. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "guard.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c)                                                                           \
  do {                                                                                     \
    if (!(c)) {                                                                            \
      fprintf(stderr, "child check failed at line %d: %s\n", __LINE__, #c);                \
      return __LINE__ % 200 + 20;                                                          \
    }                                                                                      \
  } while (0)

/* Addresses behind pointers, so the compiler cannot treat the reads as UB. */
static const volatile uint8_t *volatile bad_addr;
static const volatile uint8_t *volatile bus_addr;

static void read_bad(void *arg) {
  (void)arg;
  (void)*bad_addr;
}

static void read_bus(void *arg) {
  (void)arg;
  (void)*bus_addr;
}

static int ran;
static void no_fault(void *arg) {
  (void)arg;
  ran++;
}

static void setup_addrs(void) {
  bad_addr = (const volatile uint8_t *)(uintptr_t)8; /* the null page, like a JVM null check */
  int fd = (int)syscall(SYS_memfd_create, "guard-test", 0);
  if (fd >= 0) {
    void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0); /* beyond EOF: SIGBUS */
    close(fd);
    if (p != MAP_FAILED)
      bus_addr = p;
  }
}

/* Runs fn in a child; returns the raw wait status. */
static int run_child(int (*fn)(int wfd), int *pipe_byte) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* the SIG_DFL cases die on purpose */
    close(fds[0]);
    alarm(20);
    setup_addrs();
    _exit(fn(fds[1]));
  }
  close(fds[1]);
  uint8_t b = 0;
  *pipe_byte = read(fds[0], &b, 1) == 1 ? b : -1;
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

static void expect_exit0(int (*fn)(int)) {
  int byte;
  int st = run_child(fn, &byte);
  if (!WIFEXITED(st))
    fail_msg("child killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
  assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- the "previous" handlers (stand-ins for the JVM's) ---- */

static volatile int prev_calls, prev_sig;
static volatile uintptr_t prev_addr;
static sigjmp_buf recover;

static void prev_siginfo_longjmp(int sig, siginfo_t *si, void *uc) {
  prev_calls++;
  prev_sig = sig;
  prev_addr = (uintptr_t)si->si_addr;
  (void)uc;
  siglongjmp(recover, 1);
}

static void prev_plain(int sig) {
  prev_calls++;
  prev_sig = sig;
  siglongjmp(recover, 1);
}

#if defined(__x86_64__)
/* Like the JVM: fix the fault by moving the PC in the ucontext and return.
 * The faulting instruction is `movb (%rdi),%al` (8a 07, two bytes). */
static void prev_skip_insn(int sig, siginfo_t *si, void *uc) {
  ucontext_t *u = uc;
  prev_calls++;
  prev_sig = sig;
  prev_addr = (uintptr_t)si->si_addr;
  u->uc_mcontext.gregs[REG_RIP] += 2;
}

static uint8_t asm_read(const volatile uint8_t *p) {
  uint8_t v = 0x5a;
  __asm__ volatile(".byte 0x8a, 0x07" /* movb (%rdi),%al */ : "+a"(v) : "D"(p) : "memory");
  return v;
}
#endif

static int set_prev(int sig, void (*siginfo_fn)(int, siginfo_t *, void *),
                    void (*plain)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sigemptyset(&sa.sa_mask);
  if (siginfo_fn) {
    sa.sa_sigaction = siginfo_fn;
    sa.sa_flags = SA_SIGINFO;
  } else {
    sa.sa_handler = plain;
  }
  return sigaction(sig, &sa, NULL);
}

static int segv_blocked(void) {
  sigset_t cur;
  sigprocmask(SIG_BLOCK, NULL, &cur);
  return sigismember(&cur, SIGSEGV);
}

/* ---- cases ---- */

static int child_inside_caught(int wfd) {
  pyr_guard_stats st;
  (void)wfd;
  CHECK(set_prev(SIGSEGV, prev_siginfo_longjmp, NULL) == 0);
  CHECK(pyr_guard_install() == 0);
  CHECK(pyr_guard_installed());
  for (int i = 0; i < 3; i++) /* repeatedly: the signal must not stay blocked */
    CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  CHECK(!segv_blocked());
  CHECK(pyr_guard_call(no_fault, NULL) == PYR_GUARD_OK && ran == 1);
  pyr_guard_get_stats(&st);
  CHECK(st.faults == 3 && st.faults_segv == 3 && st.faults_bus == 0);
  CHECK(st.last_sig == SIGSEGV && st.last_addr == 8 && st.last_pc != 0);
  CHECK(st.chained == 0 && prev_calls == 0);
  CHECK(!st.tripped);
  return 0;
}

static int child_sigbus_caught(int wfd) {
  pyr_guard_stats st;
  (void)wfd;
  CHECK(bus_addr != NULL);
  CHECK(set_prev(SIGBUS, prev_siginfo_longjmp, NULL) == 0);
  CHECK(pyr_guard_install() == 0);
  CHECK(pyr_guard_call(read_bus, NULL) == PYR_GUARD_FAULTED);
  CHECK(pyr_guard_call(read_bus, NULL) == PYR_GUARD_FAULTED);
  pyr_guard_get_stats(&st);
  CHECK(st.faults == 2 && st.faults_bus == 2 && st.last_sig == SIGBUS);
  CHECK(st.last_addr == (uintptr_t)bus_addr && prev_calls == 0);
  return 0;
}

static int child_outside_siginfo(int wfd) {
  pyr_guard_stats st;
  (void)wfd;
  CHECK(set_prev(SIGSEGV, prev_siginfo_longjmp, NULL) == 0);
  CHECK(pyr_guard_install() == 0);
  if (sigsetjmp(recover, 1) == 0) {
    read_bad(NULL); /* unguarded: must reach prev */
    CHECK(!"the unguarded fault returned");
  }
  CHECK(prev_calls == 1 && prev_sig == SIGSEGV && prev_addr == 8);
  /* A guarded fault after that is still ours, and prev is not called. */
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  CHECK(prev_calls == 1);
  pyr_guard_get_stats(&st);
  CHECK(st.chained == 1 && st.faults == 1);
  return 0;
}

/* SIGBUS goes to the handler that was installed for SIGBUS. */
static int child_outside_sigbus(int wfd) {
  pyr_guard_stats st;
  (void)wfd;
  CHECK(bus_addr != NULL);
  CHECK(set_prev(SIGBUS, prev_siginfo_longjmp, NULL) == 0);
  CHECK(pyr_guard_install() == 0);
  if (sigsetjmp(recover, 1) == 0) {
    read_bus(NULL);
    CHECK(!"the unguarded fault returned");
  }
  CHECK(prev_calls == 1 && prev_sig == SIGBUS && prev_addr == (uintptr_t)bus_addr);
  pyr_guard_get_stats(&st);
  CHECK(st.chained == 1 && st.faults == 0);
  return 0;
}

#if defined(__x86_64__)
static int child_outside_ucontext_edit(int wfd) {
  pyr_guard_stats st;
  (void)wfd;
  CHECK(set_prev(SIGSEGV, prev_skip_insn, NULL) == 0);
  CHECK(pyr_guard_install() == 0);
  /* The previous handler moves RIP past the load; that edit must survive
   * the trip through our handler, exactly as the JVM's null checks need. */
  for (int i = 0; i < 5; i++)
    CHECK(asm_read(bad_addr) == 0x5a);
  CHECK(prev_calls == 5 && prev_addr == 8);
  pyr_guard_get_stats(&st);
  CHECK(st.chained == 5 && st.faults == 0);
  return 0;
}
#endif

static int child_outside_plain(int wfd) {
  (void)wfd;
  CHECK(set_prev(SIGSEGV, NULL, prev_plain) == 0);
  CHECK(pyr_guard_install() == 0);
  if (sigsetjmp(recover, 1) == 0) {
    read_bad(NULL);
    CHECK(!"the unguarded fault returned");
  }
  CHECK(prev_calls == 1 && prev_sig == SIGSEGV);
  return 0;
}

/* SIG_DFL before us: a guarded fault is caught, an unguarded one kills
 * the process with SIGSEGV, as without the guard. */
static int child_outside_default(int wfd) {
  CHECK(set_prev(SIGSEGV, NULL, SIG_DFL) == 0);
  CHECK(pyr_guard_install() == 0);
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  uint8_t ok = 1;
  CHECK(write(wfd, &ok, 1) == 1);
  read_bad(NULL);
  return 99; /* not reached if the default action happened */
}

/* SIG_IGN before us: a sent SIGSEGV is ignored, a real fault kills. */
static int child_outside_ignored(int wfd) {
  CHECK(set_prev(SIGSEGV, NULL, SIG_IGN) == 0);
  CHECK(pyr_guard_install() == 0);
  CHECK(syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGSEGV) == 0);
  uint8_t ok = 2;
  CHECK(write(wfd, &ok, 1) == 1);
  read_bad(NULL);
  return 99;
}

static int nested_rc;
static void outer(void *arg) {
  (void)arg;
  nested_rc = pyr_guard_call(read_bad, NULL); /* refused, not run */
  (void)*bad_addr;                            /* the outer guard catches this */
}

static int child_nested(int wfd) {
  pyr_guard_stats st;
  (void)wfd;
  CHECK(pyr_guard_install() == 0);
  CHECK(pyr_guard_call(outer, NULL) == PYR_GUARD_FAULTED);
  CHECK(nested_rc == PYR_GUARD_BUSY);
  pyr_guard_get_stats(&st);
  CHECK(st.busy == 1 && st.faults == 1);
  /* And the guard is usable again afterwards. */
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  return 0;
}

/* Inside a signal handler installed like the sampler's (all asynchronous
 * signals blocked), a caught fault must leave that handler's mask intact,
 * and the mask after the handler must be the thread's original one. */
static volatile int handler_rc = -1;
static sigset_t in_handler_before, in_handler_after;

static void usr1_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig, (void)si, (void)uc;
  sigprocmask(SIG_BLOCK, NULL, &in_handler_before);
  int a = pyr_guard_call(read_bad, NULL);
  int b = pyr_guard_call(read_bad, NULL);
  sigprocmask(SIG_BLOCK, NULL, &in_handler_after);
  handler_rc = (a == PYR_GUARD_FAULTED && b == PYR_GUARD_FAULTED) ? 0 : 1;
}

static int child_mask_in_handler(int wfd) {
  struct sigaction sa;
  sigset_t before, after;
  (void)wfd;
  CHECK(pyr_guard_install() == 0);
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = usr1_handler;
  sa.sa_flags = SA_SIGINFO;
  sigfillset(&sa.sa_mask);
  sigdelset(&sa.sa_mask, SIGSEGV);
  sigdelset(&sa.sa_mask, SIGBUS);
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  sigemptyset(&before);
  sigaddset(&before, SIGUSR2); /* something the thread itself blocks */
  CHECK(sigprocmask(SIG_SETMASK, &before, NULL) == 0);
  CHECK(syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGUSR1) == 0);
  CHECK(handler_rc == 0);
  CHECK(sigismember(&in_handler_before, SIGUSR1) && sigismember(&in_handler_before, SIGPROF));
  CHECK(!sigismember(&in_handler_before, SIGSEGV));
  CHECK(memcmp(&in_handler_before, &in_handler_after, sizeof(sigset_t)) == 0);
  CHECK(sigprocmask(SIG_BLOCK, NULL, &after) == 0);
  CHECK(sigismember(&after, SIGUSR2) && !sigismember(&after, SIGUSR1) &&
        !sigismember(&after, SIGSEGV) && !sigismember(&after, SIGPROF));
  return 0;
}

static int child_limit(int wfd) {
  pyr_guard_stats st;
  (void)wfd;
  CHECK(pyr_guard_install() == 0);
  pyr_guard_set_limit(3, 60ull * 1000000000ull);
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  CHECK(!pyr_guard_tripped());
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  CHECK(pyr_guard_tripped());
  /* Sticky, and the guard still catches faults after tripping. */
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  pyr_guard_get_stats(&st);
  CHECK(st.tripped && st.faults == 4);
  return 0;
}

static int child_window(int wfd) {
  struct timespec pause = {0, 120 * 1000000L};
  (void)wfd;
  CHECK(pyr_guard_install() == 0);
  pyr_guard_set_limit(2, 50ull * 1000000ull); /* 2 faults within 50 ms */
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  nanosleep(&pause, NULL);
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  CHECK(!pyr_guard_tripped()); /* the first one aged out of the window */
  CHECK(pyr_guard_call(read_bad, NULL) == PYR_GUARD_FAULTED);
  CHECK(pyr_guard_tripped());
  return 0;
}

static int child_not_installed(int wfd) {
  (void)wfd;
  CHECK(!pyr_guard_installed());
  CHECK(pyr_guard_call(no_fault, NULL) == PYR_GUARD_OK && ran == 1);
  return 0;
}

/* ---- cmocka wrappers ---- */

static void test_inside_caught(void **s) { (void)s; expect_exit0(child_inside_caught); }
static void test_sigbus_caught(void **s) { (void)s; expect_exit0(child_sigbus_caught); }
static void test_outside_siginfo(void **s) { (void)s; expect_exit0(child_outside_siginfo); }
#if defined(__x86_64__)
static void test_outside_ucontext_edit(void **s) {
  (void)s;
  expect_exit0(child_outside_ucontext_edit);
}
#endif
static void test_outside_sigbus(void **s) { (void)s; expect_exit0(child_outside_sigbus); }
static void test_outside_plain(void **s) { (void)s; expect_exit0(child_outside_plain); }
static void test_nested(void **s) { (void)s; expect_exit0(child_nested); }
static void test_mask_in_handler(void **s) {
  (void)s;
#if defined(__SANITIZE_THREAD__)
  /* TSan defers asynchronous handlers to its next interceptor and calls
   * them with a mask and ucontext of its own: the kernel behaviour this
   * case checks does not exist there. */
  skip();
#endif
  expect_exit0(child_mask_in_handler);
}
static void test_limit(void **s) { (void)s; expect_exit0(child_limit); }
static void test_window(void **s) { (void)s; expect_exit0(child_window); }
static void test_not_installed(void **s) { (void)s; expect_exit0(child_not_installed); }

static void test_outside_default(void **s) {
  int byte;
  (void)s;
  int st = run_child(child_outside_default, &byte);
  assert_int_equal(byte, 1); /* the guarded fault was survived first */
  assert_true(WIFSIGNALED(st));
  assert_int_equal(WTERMSIG(st), SIGSEGV);
}

static void test_outside_ignored(void **s) {
  int byte;
  (void)s;
  int st = run_child(child_outside_ignored, &byte);
  assert_int_equal(byte, 2); /* the sent SIGSEGV was ignored */
  assert_true(WIFSIGNALED(st));
  assert_int_equal(WTERMSIG(st), SIGSEGV);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inside_caught),
      cmocka_unit_test(test_sigbus_caught),
      cmocka_unit_test(test_outside_siginfo),
#if defined(__x86_64__)
      cmocka_unit_test(test_outside_ucontext_edit),
#endif
      cmocka_unit_test(test_outside_sigbus),
      cmocka_unit_test(test_outside_plain),
      cmocka_unit_test(test_outside_default),
      cmocka_unit_test(test_outside_ignored),
      cmocka_unit_test(test_nested),
      cmocka_unit_test(test_mask_in_handler),
      cmocka_unit_test(test_limit),
      cmocka_unit_test(test_window),
      cmocka_unit_test(test_not_installed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
