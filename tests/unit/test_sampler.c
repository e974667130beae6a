/* Unit tests for agent/signal/sampler.c, driving the handler directly with
 * a fake AsyncGetCallTrace: samples reach the ring intact, status codes and
 * missing JNIEnv are recorded, stray signals are rejected, errno survives,
 * a full ring drops and counts, timer overruns scale the weight, and the
 * timing histogram's quantiles are right.  With the crash guard installed:
 * a fault inside AGCT, in the read of the interrupted PC, or injected by
 * the test-only fault_every option drops the sample and counts it, the
 * next sample works, and reaching the fault limit disables sampling from
 * inside the handler. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "guard.h"
#include "sampler.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

typedef struct {
  void *env;
  int32_t num_frames;
  pyr_frame *frames;
} fake_trace;

static int32_t fake_result = 3;
static int fake_calls;
static int fake_fault; /* fake AGCT dereferences bad_addr */
static const volatile uint8_t *volatile bad_addr;
static struct sigaction guard_segv;

static void fake_agct(void *trace, int32_t depth, void *uc) {
  fake_trace *t = trace;
  (void)uc;
  fake_calls++;
  assert_non_null(t->env);
  if (fake_fault) {
    t->frames[0].method = 0xdead; /* half-written, as a crashing walk would */
    (void)*bad_addr;
  }
  if (fake_result <= 0) {
    t->num_frames = fake_result;
    return;
  }
  int32_t n = fake_result < depth ? fake_result : depth;
  for (int32_t i = 0; i < n; i++) {
    t->frames[i].bci = i;
    t->frames[i].method = 0x1000 + (uint64_t)i;
  }
  t->num_frames = n;
  errno = EAGAIN; /* the handler must restore the caller's errno */
}

static pyr_ring ring;
static int dummy_env;

static void fire(int code, int overrun) {
  siginfo_t si;
  memset(&si, 0, sizeof(si));
  si.si_code = code;
  si.si_overrun = overrun;
  pyr_sampler_on_sigprof(SIGPROF, &si, NULL);
}

static const pyr_sample *next(void) {
  uint32_t len;
  const pyr_sample *s = pyr_ring_peek(&ring, &len);
  if (s)
    assert_int_equal(len, pyr_sample_size(s->num_frames));
  return s;
}

static int setup_group(void **state) {
  (void)state;
  assert_int_equal(pyr_ring_init(&ring, 64 * 1024), 0);
  pyr_sampler_config cfg = {.ring = &ring, .agct = fake_agct, .max_depth = 16,
                            .interval_ns = 10000000, .wall = 1};
  assert_int_equal(pyr_sampler_init(&cfg), 0);
  pyr_sampler_enable(1);
  bad_addr = (const volatile uint8_t *)(uintptr_t)8;
  /* The previous SIGSEGV disposition is SIG_DFL: a fault the guard does
   * not catch kills the test, which is the point. */
  assert_int_equal(pyr_guard_install(), 0);
  assert_int_equal(sigaction(SIGSEGV, NULL, &guard_segv), 0);
  pyr_guard_set_limit(0, 0); /* no auto-disable until test_fault_limit */
  return 0;
}

/* cmocka installs its own SIGSEGV handler around every test (and restores
 * the previous one after): put the guard's back in front for the test. */
static void guard_first(void) { assert_int_equal(sigaction(SIGSEGV, &guard_segv, NULL), 0); }

static void drain_all(void) {
  while (next())
    pyr_ring_release(&ring);
}

static void test_sample_roundtrip(void **state) {
  (void)state;
  drain_all();
  pyr_sampler_thread_attach(&dummy_env);
  fake_result = 3;
  errno = 1234;
  fire(SI_KERNEL, 0);
  assert_int_equal(errno, 1234);
  const pyr_sample *s = next();
  assert_non_null(s);
  assert_int_equal(s->kind, PYR_SAMPLE_CPU);
  assert_int_equal(s->state, PYR_STATE_RUNNABLE);
  assert_int_equal(s->num_frames, 3);
  assert_int_equal(s->weight, 10000000);
  assert_int_equal(s->tid, pyr_sampler_gettid());
  assert_true(s->ticks > 0);
  assert_int_equal(s->frames[2].method, 0x1002);
  assert_int_equal(s->frames[2].bci, 2);
  assert_int_equal(s->flags, 0);
  pyr_ring_release(&ring);
}

static void test_truncation_flag(void **state) {
  (void)state;
  drain_all();
  pyr_sampler_thread_attach(&dummy_env);
  fake_result = 100; /* deeper than max_depth 16 */
  fire(SI_KERNEL, 0);
  const pyr_sample *s = next();
  assert_non_null(s);
  assert_int_equal(s->num_frames, 16);
  assert_true(s->flags & PYR_SAMPLE_TRUNCATED);
  pyr_ring_release(&ring);
}

static void test_status_codes_and_no_env(void **state) {
  pyr_sampler_stats st;
  (void)state;
  drain_all();
  pyr_sampler_thread_attach(&dummy_env);
  fake_result = -5;
  fire(SI_TIMER, 0);
  const pyr_sample *s = next();
  assert_non_null(s);
  assert_int_equal(s->num_frames, -5);
  pyr_ring_release(&ring);
  pyr_sampler_get_stats(&st);
  assert_true(st.agct_codes[5] >= 1);

  pyr_sampler_thread_detach();
  int before = fake_calls;
  fire(SI_KERNEL, 0);
  assert_int_equal(fake_calls, before); /* AGCT never called without env */
  s = next();
  assert_non_null(s);
  assert_int_equal(s->num_frames, PYR_NO_JAVA_ENV);
  pyr_ring_release(&ring);
}

static void test_stray_and_disabled(void **state) {
  pyr_sampler_stats a, b;
  (void)state;
  drain_all();
  pyr_sampler_thread_attach(&dummy_env);
  pyr_sampler_get_stats(&a);
  fire(SI_USER, 0); /* kill -PROF from outside */
  fire(SI_TKILL, 0);
  pyr_sampler_enable(0);
  fire(SI_KERNEL, 0);
  pyr_sampler_enable(1);
  pyr_sampler_get_stats(&b);
  assert_int_equal(b.stray - a.stray, 2);
  assert_int_equal(b.samples, a.samples);
  assert_null(next());
}

static void test_overrun_weight(void **state) {
  (void)state;
  drain_all();
  pyr_sampler_thread_attach(&dummy_env);
  fake_result = 2;
  fire(SI_TIMER, 3);
  const pyr_sample *s = next();
  assert_non_null(s);
  assert_int_equal(s->weight, 4 * 10000000ull);
  pyr_ring_release(&ring);
}

static void test_full_ring_drops_and_counts(void **state) {
  pyr_sampler_stats a, b;
  (void)state;
  drain_all();
  pyr_sampler_thread_attach(&dummy_env);
  fake_result = 16;
  pyr_sampler_get_stats(&a);
  int fired = 0, got = 0;
  for (; fired < 1000; fired++)
    fire(SI_KERNEL, 0);
  pyr_sampler_get_stats(&b);
  while (next()) {
    got++;
    pyr_ring_release(&ring);
  }
  assert_true(b.dropped_ring - a.dropped_ring > 0);
  assert_int_equal((uint64_t)got + (b.dropped_ring - a.dropped_ring), (uint64_t)fired);
  assert_int_equal(b.samples - a.samples, (uint64_t)got);
}

static void test_histogram(void **state) {
  static uint64_t hist[PYR_HIST_BUCKETS];
  (void)state;
  /* Buckets are monotonic and within 12.5% of the value. */
  uint64_t values[] = {0, 1, 7, 8, 15, 16, 100, 1000, 1999, 2000, 20000, 1000000, 1ull << 40};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    memset(hist, 0, sizeof(hist));
    hist[pyr_sampler_hist_bucket(values[i])] = 1;
    uint64_t up = pyr_sampler_hist_quantile(hist, 0.5);
    assert_true(up >= values[i]);
    assert_true(up <= values[i] + values[i] / 8 + 1);
  }
  /* 90 samples at ~1us, 10 at ~50us: p50 ~1us, p99 ~50us. */
  memset(hist, 0, sizeof(hist));
  hist[pyr_sampler_hist_bucket(1000)] = 90;
  hist[pyr_sampler_hist_bucket(50000)] = 10;
  assert_true(pyr_sampler_hist_quantile(hist, 0.5) < 1200);
  assert_true(pyr_sampler_hist_quantile(hist, 0.99) >= 50000);
  assert_true(pyr_sampler_hist_quantile(hist, 0.99) < 60000);
  memset(hist, 0, sizeof(hist));
  assert_int_equal(pyr_sampler_hist_quantile(hist, 0.5), 0);
}

#if defined(__x86_64__)
#include <ucontext.h>

static void test_interrupted_state(void **state) {
  static uint8_t code[64] __attribute__((aligned(64)));
  ucontext_t uc;
  (void)state;
  memset(code, 0x90, sizeof(code)); /* nops */
  code[10] = 0x0f;
  code[11] = 0x05; /* syscall */
  memset(&uc, 0, sizeof(uc));
  /* RIP on the syscall instruction: the kernel rewound it to restart. */
  uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)&code[10];
  assert_int_equal(pyr_sampler_interrupted_state(&uc), PYR_STATE_SLEEPING);
  /* Just after it with -EINTR: interrupted, not restarted. */
  uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)&code[12];
  uc.uc_mcontext.gregs[REG_RAX] = -EINTR;
  assert_int_equal(pyr_sampler_interrupted_state(&uc), PYR_STATE_SLEEPING);
  /* Just after it with a normal result: the call returned, running. */
  uc.uc_mcontext.gregs[REG_RAX] = 3;
  assert_int_equal(pyr_sampler_interrupted_state(&uc), PYR_STATE_RUNNABLE);
  /* Anywhere else: running. */
  uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)&code[30];
  assert_int_equal(pyr_sampler_interrupted_state(&uc), PYR_STATE_RUNNABLE);
}

static void test_wall_handler(void **state) {
  siginfo_t si;
  static uint8_t code[16] = {0x0f, 0x05};
  ucontext_t uc;
  pyr_sampler_stats a, b;
  (void)state;
  drain_all();
  pyr_wall_slot *slots = pyr_sampler_wall_slots();
  assert_non_null(slots);
  pyr_sampler_enable_wall(1);
  pyr_sampler_thread_detach();
  pyr_sampler_thread_attach(&dummy_env); /* claims a slot */
  pyr_wall_slot *mine = NULL;
  for (unsigned i = 0; i < PYR_WALL_MAX_SLOTS; i++)
    if (atomic_load(&slots[i].tid) == pyr_sampler_gettid())
      mine = &slots[i];
  assert_non_null(mine);
  memset(&uc, 0, sizeof(uc));
  uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)&code[0];
  memset(&si, 0, sizeof(si));
  si.si_code = SI_TKILL;
  fake_result = 2;
  pyr_sampler_get_stats(&a);
  atomic_store(&mine->pending_ns, 30000000);
  pyr_sampler_on_sigvtalrm(SIGVTALRM, &si, &uc);
  const pyr_sample *s = next();
  assert_non_null(s);
  assert_int_equal(s->kind, PYR_SAMPLE_WALL);
  assert_int_equal(s->state, PYR_STATE_SLEEPING);
  assert_int_equal(s->weight, 30000000);
  pyr_ring_release(&ring);
  assert_int_equal(atomic_load(&mine->pending_ns), 0);
  assert_int_equal(atomic_load(&mine->last_state), PYR_STATE_SLEEPING);
  assert_true(atomic_load(&mine->cpu_after_ns) > 0);
  /* No pending weight: nothing recorded.  Not from tgkill: stray. */
  pyr_sampler_on_sigvtalrm(SIGVTALRM, &si, &uc);
  si.si_code = SI_USER;
  atomic_store(&mine->pending_ns, 10);
  pyr_sampler_on_sigvtalrm(SIGVTALRM, &si, &uc);
  assert_null(next());
  pyr_sampler_get_stats(&b);
  assert_int_equal(b.wall_samples - a.wall_samples, 1);
  assert_int_equal(b.stray - a.stray, 1);
  /* Detach frees the slot. */
  pyr_sampler_thread_detach();
  assert_int_equal(atomic_load(&mine->tid), 0);
}
#endif

static void test_fault_in_agct_dropped(void **state) {
  pyr_sampler_stats a, b;
  pyr_guard_stats ga, gb;
  (void)state;
  guard_first();
  drain_all();
  pyr_sampler_thread_attach(&dummy_env);
  pyr_sampler_get_stats(&a);
  pyr_guard_get_stats(&ga);
  fake_fault = 1;
  errno = 4321;
  fire(SI_KERNEL, 0);
  fire(SI_TIMER, 0);
  assert_int_equal(errno, 4321);
  fake_fault = 0;
  assert_null(next()); /* nothing half-written reached the ring */
  pyr_sampler_get_stats(&b);
  pyr_guard_get_stats(&gb);
  assert_int_equal(b.dropped_fault - a.dropped_fault, 2);
  assert_int_equal(gb.faults - ga.faults, 2);
  assert_int_equal(gb.last_addr, 8);
  assert_int_equal(b.samples, a.samples);
  assert_true(pyr_sampler_enabled());
  /* The stripe was released and the handler is usable again. */
  fake_result = 3;
  for (int i = 0; i < 2 * PYR_SAMPLER_STRIPES; i++) {
    fire(SI_KERNEL, 0);
    const pyr_sample *s = next();
    assert_non_null(s);
    assert_int_equal(s->num_frames, 3);
    assert_int_equal(s->frames[0].method, 0x1000);
    pyr_ring_release(&ring);
  }
}

static void test_fault_injection(void **state) {
  pyr_sampler_stats a, b;
  (void)state;
  guard_first();
  drain_all();
  pyr_sampler_thread_attach(&dummy_env);
  pyr_sampler_config cfg = {.ring = &ring, .agct = fake_agct, .max_depth = 16,
                            .interval_ns = 10000000, .wall = 1, .fault_every = 3,
                            .fault_segv_addr = bad_addr};
  assert_int_equal(pyr_sampler_init(&cfg), 0);
  fake_result = 2;
  pyr_sampler_get_stats(&a);
  for (int i = 0; i < 9; i++)
    fire(SI_KERNEL, 0);
  pyr_sampler_get_stats(&b);
  assert_int_equal(b.dropped_fault - a.dropped_fault, 3);
  assert_int_equal(b.samples - a.samples, 6);
  cfg.fault_every = 0;
  assert_int_equal(pyr_sampler_init(&cfg), 0);
  drain_all();
}

#if defined(__x86_64__)
static void test_fault_reading_pc(void **state) {
  siginfo_t si;
  ucontext_t uc;
  pyr_sampler_stats a, b;
  (void)state;
  guard_first();
  drain_all();
  pyr_sampler_enable_wall(1);
  pyr_sampler_thread_detach();
  pyr_sampler_thread_attach(&dummy_env);
  pyr_wall_slot *mine = pyr_sampler_thread_slot();
  assert_non_null(mine);
  atomic_store(&mine->last_state, PYR_STATE_RUNNABLE);
  memset(&uc, 0, sizeof(uc));
  /* An interrupted PC in an unmapped page: reading its bytes faults. */
  uc.uc_mcontext.gregs[REG_RIP] = (greg_t)0x2002;
  memset(&si, 0, sizeof(si));
  si.si_code = SI_TKILL;
  pyr_sampler_get_stats(&a);
  atomic_store(&mine->pending_ns, 20000000);
  pyr_sampler_on_sigvtalrm(SIGVTALRM, &si, &uc);
  pyr_sampler_get_stats(&b);
  assert_int_equal(b.dropped_fault - a.dropped_fault, 1);
  assert_int_equal(b.wall_samples, a.wall_samples);
  assert_int_equal(atomic_load(&mine->last_state), PYR_STATE_RUNNABLE);
  assert_null(next());
  pyr_sampler_thread_detach();
}
#endif

/* Last: trips the guard for good. */
static void test_fault_limit_disables(void **state) {
  pyr_sampler_stats a, b;
  (void)state;
  guard_first();
  drain_all();
  pyr_sampler_thread_attach(&dummy_env);
  pyr_sampler_enable_wall(1);
  pyr_guard_set_limit(3, 60ull * 1000000000ull);
  assert_true(pyr_sampler_enabled());
  fake_fault = 1;
  for (int i = 0; i < 3 && pyr_sampler_enabled(); i++)
    fire(SI_KERNEL, 0);
  fake_fault = 0;
  assert_true(pyr_guard_tripped());
  assert_false(pyr_sampler_enabled());
  /* Off means off: a good walk is not even attempted. */
  int calls = fake_calls;
  pyr_sampler_get_stats(&a);
  fire(SI_KERNEL, 0);
  pyr_sampler_get_stats(&b);
  assert_int_equal(fake_calls, calls);
  assert_int_equal(b.samples, a.samples);
  assert_null(next());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample_roundtrip),
      cmocka_unit_test(test_truncation_flag),
      cmocka_unit_test(test_status_codes_and_no_env),
      cmocka_unit_test(test_stray_and_disabled),
      cmocka_unit_test(test_overrun_weight),
      cmocka_unit_test(test_full_ring_drops_and_counts),
      cmocka_unit_test(test_histogram),
#if defined(__x86_64__)
      cmocka_unit_test(test_interrupted_state),
      cmocka_unit_test(test_wall_handler),
      cmocka_unit_test(test_fault_reading_pc),
#endif
      cmocka_unit_test(test_fault_in_agct_dropped),
      cmocka_unit_test(test_fault_injection),
      cmocka_unit_test(test_fault_limit_disables),
  };
  return cmocka_run_group_tests(tests, setup_group, NULL);
}
