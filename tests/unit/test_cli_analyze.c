/*
 * test_cli_analyze.c - `pyrite diff` math and the `pyrite bottleneck`
 * heuristic (cli/analyze.c): share and per-second normalisation, new and
 * vanished functions, ordering by |change|; the frame families; and the
 * classification of typical CPU-, GC-, lock- and wait-bound inputs.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analyze.h"

#define EPS 1e-9

static const pyr_cli_change *find(const pyr_cli_change *c, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(c[i].name, name) == 0)
      return &c[i];
  fail_msg("%s not in the diff", name);
  return NULL;
}

static void test_diff_share(void **state) {
  (void)state;
  /* before: total 100 (a 50, b 30, c 20); after: total 200 (a 60, b 40,
   * d 100): d is new, c is gone, a shrank from 50% to 30%. */
  const pyr_cli_func before[] = {{"a", 50, 100}, {"b", 30, 30}, {"c", 20, 20}};
  const pyr_cli_func after[] = {{"d", 100, 100}, {"b", 40, 40}, {"a", 60, 200}};
  pyr_cli_change *ch;
  size_t n;
  assert_int_equal(pyr_cli_diff_funcs(before, 3, 100, 60, after, 3, 200, 60,
                                      PYR_CLI_NORM_SHARE, &ch, &n), 0);
  assert_int_equal(n, 4);
  /* Sorted by |delta|: d +0.5, a -0.2, c -0.2 (name order), b -0.1. */
  assert_string_equal(ch[0].name, "d");
  assert_true(fabs(ch[0].delta - 0.5) < EPS);
  assert_true(isinf(ch[0].relative) && ch[0].relative > 0);
  assert_string_equal(ch[1].name, "a");
  assert_string_equal(ch[2].name, "c");
  assert_string_equal(ch[3].name, "b");
  const pyr_cli_change *a = find(ch, n, "a");
  assert_true(fabs(a->before - 0.5) < EPS);
  assert_true(fabs(a->after - 0.3) < EPS);
  assert_true(fabs(a->delta + 0.2) < EPS);
  assert_true(fabs(a->relative + 0.4) < EPS);
  assert_int_equal(a->before_self, 50);
  assert_int_equal(a->after_self, 60);
  const pyr_cli_change *c = find(ch, n, "c");
  assert_int_equal(c->after_self, 0);
  assert_true(fabs(c->relative + 1.0) < EPS);
  free(ch);
}

static void test_diff_per_second(void **state) {
  (void)state;
  /* Same self, but the after range is twice as long: half the rate. */
  const pyr_cli_func before[] = {{"a", 600, 600}};
  const pyr_cli_func after[] = {{"a", 600, 600}, {"z", 0, 5}};
  pyr_cli_change *ch;
  size_t n;
  assert_int_equal(pyr_cli_diff_funcs(before, 1, 600, 60, after, 2, 600, 120,
                                      PYR_CLI_NORM_PER_SECOND, &ch, &n), 0);
  /* z has no self on either side: not listed. */
  assert_int_equal(n, 1);
  assert_true(fabs(ch[0].before - 10) < EPS);
  assert_true(fabs(ch[0].after - 5) < EPS);
  assert_true(fabs(ch[0].relative + 0.5) < EPS);
  free(ch);
  /* Empty sides and zero totals do not divide by zero. */
  assert_int_equal(pyr_cli_diff_funcs(NULL, 0, 0, 0, after, 1, 0, 0, PYR_CLI_NORM_SHARE, &ch,
                                      &n), 0);
  assert_int_equal(n, 1);
  assert_true(ch[0].before == 0 && ch[0].after == 0 && ch[0].relative == 0);
  free(ch);
  assert_int_equal(pyr_cli_diff_funcs(NULL, 0, 0, 0, NULL, 0, 0, 0, PYR_CLI_NORM_SHARE, &ch,
                                      &n), 0);
  assert_int_equal(n, 0);
  free(ch);
}

static void test_frame_families(void **state) {
  (void)state;
  assert_true(pyr_cli_is_wait_frame("java/lang/Thread.sleep"));
  assert_true(pyr_cli_is_wait_frame("java/lang/Thread.sleep0"));
  assert_true(pyr_cli_is_wait_frame("java.lang.Object.wait"));
  assert_true(pyr_cli_is_wait_frame("jdk/internal/misc/Unsafe.park"));
  assert_true(pyr_cli_is_wait_frame("java/util/concurrent/locks/LockSupport.parkNanos"));
  assert_true(pyr_cli_is_wait_frame("sun/nio/ch/NioSocketImpl.read"));
  assert_true(pyr_cli_is_wait_frame("epoll_wait"));
  assert_false(pyr_cli_is_wait_frame("java/util/concurrent/ConcurrentLinkedQueue.poll"));
  assert_false(pyr_cli_is_wait_frame("com/example/MyThread.sleepy"));
  assert_false(pyr_cli_is_wait_frame("com/example/NotThread.sleep"));
  assert_true(pyr_cli_is_idle_frame("java/util/concurrent/ThreadPoolExecutor.getTask"));
  assert_true(pyr_cli_is_idle_frame(
      "java/util/concurrent/ScheduledThreadPoolExecutor$DelayedWorkQueue.take"));
  assert_true(pyr_cli_is_idle_frame("io/netty/channel/nio/NioEventLoop.select"));
  assert_false(pyr_cli_is_idle_frame("java/util/concurrent/ThreadPoolExecutor.runWorker"));
  assert_true(pyr_cli_is_lock_frame(
      "java/util/concurrent/locks/AbstractQueuedSynchronizer.acquireShared"));
  assert_true(pyr_cli_is_lock_frame("java/util/concurrent/locks/ReentrantLock.lock"));
  assert_false(pyr_cli_is_lock_frame("com/example/Lock.unlock"));
  assert_true(pyr_cli_is_gc_frame("GC_active"));
  assert_true(pyr_cli_is_gc_frame("[GC Thread#0]"));
  assert_true(pyr_cli_is_gc_frame("[G1 Conc#0]"));
  assert_true(pyr_cli_is_gc_frame("G1ParScanThreadState::trim_queue"));
  assert_false(pyr_cli_is_gc_frame("com/example/G1Parser.parse"));
  assert_false(pyr_cli_is_gc_frame("[main]"));
  assert_true(pyr_cli_is_app_frame("com/example/Orders.place"));
  assert_true(pyr_cli_is_app_frame("org.postgresql.core.PGStream.receive"));
  assert_false(pyr_cli_is_app_frame("java/lang/Thread.run"));
  assert_false(pyr_cli_is_app_frame("jdk/internal/misc/Unsafe.park"));
  assert_false(pyr_cli_is_app_frame("epoll_wait"));
  assert_false(pyr_cli_is_app_frame("[GC Thread#0]"));
}

static pyr_cli_bn_result classify(pyr_cli_bn_input in) {
  pyr_cli_bn_result r;
  pyr_cli_bn_classify(&in, &r);
  return r;
}

static void test_classify(void **state) {
  (void)state;
  const double S = 1e9, MB = 1048576.0;
  /* 60 s; 90 CPU-seconds (1.5 cores), little GC, modest allocation, a
   * little locking and waiting: CPU-bound. */
  pyr_cli_bn_result r = classify((pyr_cli_bn_input){
      .seconds = 60, .has_cpu = true, .has_alloc = true, .has_lock = true, .has_wall = true,
      .cpu_ns = 90 * S, .gc_cpu_ns = 3 * S, .alloc_bytes = 60 * 50 * MB,
      .lock_ns = 6 * S, .wait_ns = 12 * S});
  assert_int_equal(r.bound, PYR_CLI_BOUND_CPU);
  assert_true(fabs(r.cpu - 1.45) < 1e-9);
  assert_true(fabs(r.gc_share - 3.0 / 90) < 1e-9);
  assert_true(fabs(r.alloc_rate - 50 * MB) < 1e-3);
  assert_true(fabs(r.lock - 0.1) < 1e-9);
  assert_true(fabs(r.wait - 0.2) < 1e-9);

  /* Most CPU in GC frames: allocation/GC-bound. */
  r = classify((pyr_cli_bn_input){.seconds = 10, .has_cpu = true, .cpu_ns = 10 * S,
                                  .gc_cpu_ns = 6 * S});
  assert_int_equal(r.bound, PYR_CLI_BOUND_ALLOC);
  assert_true(isnan(r.lock) && isnan(r.wait) && isnan(r.alloc_rate));

  /* 2 GB/s of allocation counts as two busy cores: beats 1.2 cores. */
  r = classify((pyr_cli_bn_input){.seconds = 10, .has_cpu = true, .has_alloc = true,
                                  .cpu_ns = 12 * S, .alloc_bytes = 20.0 * 1024 * MB});
  assert_int_equal(r.bound, PYR_CLI_BOUND_ALLOC);
  assert_true(fabs(r.alloc - 2.0) < 1e-9);

  /* Threads stuck on monitors: lock-bound, from the lock profile or from
   * wall time under lock() frames. */
  r = classify((pyr_cli_bn_input){.seconds = 10, .has_cpu = true, .has_lock = true,
                                  .cpu_ns = 2 * S, .lock_ns = 30 * S});
  assert_int_equal(r.bound, PYR_CLI_BOUND_LOCK);
  r = classify((pyr_cli_bn_input){.seconds = 10, .has_cpu = true, .has_wall = true,
                                  .cpu_ns = 2 * S, .wall_lock_ns = 25 * S, .wait_ns = 5 * S});
  assert_int_equal(r.bound, PYR_CLI_BOUND_LOCK);
  assert_true(fabs(r.lock - 2.5) < 1e-9);

  /* Mostly waiting on I/O: wait-bound. */
  r = classify((pyr_cli_bn_input){.seconds = 10, .has_cpu = true, .has_wall = true,
                                  .cpu_ns = 1 * S, .wait_ns = 40 * S});
  assert_int_equal(r.bound, PYR_CLI_BOUND_WAIT);

  /* Nothing measured, or too little to matter. */
  r = classify((pyr_cli_bn_input){.seconds = 10});
  assert_int_equal(r.bound, PYR_CLI_BOUND_NONE);
  assert_true(isnan(r.cpu));
  r = classify((pyr_cli_bn_input){.seconds = 100, .has_cpu = true, .cpu_ns = 0.5 * S});
  assert_int_equal(r.bound, PYR_CLI_BOUND_NONE);

  /* Ties go to the earlier dimension. */
  r = classify((pyr_cli_bn_input){.seconds = 1, .has_cpu = true, .has_lock = true,
                                  .cpu_ns = 1 * S, .lock_ns = 1 * S});
  assert_int_equal(r.bound, PYR_CLI_BOUND_CPU);
  assert_string_equal(pyr_cli_bound_name(PYR_CLI_BOUND_ALLOC), "alloc");
  assert_string_equal(pyr_cli_bound_label(PYR_CLI_BOUND_WAIT), "wait-bound");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_diff_share),
      cmocka_unit_test(test_diff_per_second),
      cmocka_unit_test(test_frame_families),
      cmocka_unit_test(test_classify),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
