/* Unit test for agent/wall_engine.c with fake JVM hooks: 200 registered
 * threads that wait on a condition variable (never running, JVMTI state
 * "waiting") are each walked exactly once and then folded into repeats;
 * no tick exceeds the visit and walk budgets; none is signalled; and each
 * thread's recorded weights add up to (at most) the wall time it was
 * watched, with no more than a few cycles missing at the ends.
 *
 * Threads: the test thread drives, the worker threads only register and
 * block, the engine's own thread calls the fake hooks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ring.h"
#include "sampler.h"
#include "wall_engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define NTHREADS 200
#define WALL_NS 2000000ull /* 2 ms ticks */
#define UNIT_NS 1000000ull /* 1 ms per sample */
#define RUN_MS 600

static pyr_ring ring;
static int dummy_env;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ready, done;
static uint32_t tids[NTHREADS];
static _Atomic uint64_t walks[NTHREADS];

static int fake_attach(void *ctx) { (void)ctx; return 0; }
static void fake_detach(void *ctx) { (void)ctx; }

static int fake_state(void *ctx, void *ref) {
  (void)ctx;
  (void)ref;
  return PYR_TS_ALIVE | PYR_TS_WAITING;
}

/* One frame naming the thread: ref is 1 + its index. */
static int fake_stack(void *ctx, void *ref, pyr_frame *out, uint32_t max) {
  uintptr_t i = (uintptr_t)ref - 1;
  (void)ctx;
  assert_true(max >= 1);
  assert_true(i < NTHREADS);
  atomic_fetch_add(&walks[i], 1);
  memset(out, 0, sizeof(*out));
  out[0].method = (uint64_t)(uintptr_t)ref;
  return 1;
}

static void *worker(void *arg) {
  uintptr_t i = (uintptr_t)arg;
  pyr_sampler_thread_attach(&dummy_env);
  pyr_wall_slot *slot = pyr_sampler_thread_slot();
  assert_non_null(slot);
  assert_null(pyr_wall_engine_set_ref(slot, (void *)(i + 1)));
  pthread_mutex_lock(&mu);
  tids[i] = pyr_sampler_gettid();
  ready++;
  pthread_cond_broadcast(&cv);
  while (!done)
    pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  pyr_wall_engine_clear_ref(slot);
  pyr_sampler_thread_detach();
  return NULL;
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_bounded_and_honest(void **state) {
  pthread_t th[NTHREADS];
  uint64_t weight[NTHREADS] = {0};
  uint64_t repeats = 0, jvm = 0, other = 0;
  (void)state;
  assert_int_equal(pyr_ring_init(&ring, 4u << 20), 0);
  pyr_sampler_config cfg = {.ring = &ring, .max_depth = 16, .interval_ns = UNIT_NS, .wall = 1};
  assert_int_equal(pyr_sampler_init(&cfg), 0);
  for (uintptr_t i = 0; i < NTHREADS; i++)
    assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)i), 0);
  pthread_mutex_lock(&mu);
  while (ready < NTHREADS)
    pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);

  pyr_wall_hooks hooks = {.attach = fake_attach, .detach = fake_detach,
                          .thread_state = fake_state, .thread_stack = fake_stack,
                          .max_depth = 16};
  uint64_t t0 = mono_ns();
  assert_int_equal(pyr_wall_engine_start(&ring, WALL_NS, UNIT_NS, &hooks), 0);
  struct timespec d = {.tv_sec = 0, .tv_nsec = RUN_MS * 1000000L};
  nanosleep(&d, NULL);
  pyr_wall_engine_stop();
  d.tv_nsec = 50 * 1000000L; /* let the current tick finish */
  nanosleep(&d, NULL);
  uint64_t span = mono_ns() - t0;

  pyr_wall_stats st;
  pyr_wall_engine_get_stats(&st);
  print_message("ticks=%llu visits=%llu walks=%llu repeats=%llu deferred=%llu max_visits=%llu "
                "max_walks=%llu signals=%llu\n",
                (unsigned long long)st.ticks, (unsigned long long)st.visits,
                (unsigned long long)st.jvm_stacks, (unsigned long long)st.repeats,
                (unsigned long long)st.deferred, (unsigned long long)st.max_visits,
                (unsigned long long)st.max_walks, (unsigned long long)st.signals);
  assert_true(st.ticks > 0);
  assert_true(st.max_visits > 0 && st.max_visits <= PYR_WALL_VISITS);
  assert_true(st.max_walks > 0 && st.max_walks <= PYR_WALL_WALKS);
  assert_true(st.visits <= st.ticks * PYR_WALL_VISITS);
  assert_int_equal(st.signals, 0);   /* waiting threads are never signalled */
  assert_true(st.deferred > 0);      /* 200 first walks at 4 per tick */
  assert_true(st.repeats > NTHREADS); /* the rest are folded */

  const pyr_sample *s;
  uint32_t len;
  while ((s = pyr_ring_peek(&ring, &len)) != NULL) {
    int found = 0;
    for (unsigned i = 0; i < NTHREADS && !found; i++) {
      if (tids[i] == s->tid) {
        weight[i] += s->weight;
        found = 1;
      }
    }
    assert_true(found);
    assert_int_equal(s->kind, PYR_SAMPLE_WALL);
    assert_int_equal(s->state, PYR_STATE_SLEEPING);
    assert_int_equal(s->weight % UNIT_NS, 0);
    if (s->num_frames == PYR_WALL_REPEAT)
      repeats++;
    else if (s->num_frames == 1)
      jvm++;
    else
      other++;
    pyr_ring_release(&ring);
  }
  assert_int_equal(other, 0);
  assert_int_equal(jvm, st.jvm_stacks);

  /* A blocked thread's CPU clock does not move: one walk each, then
   * repeats only. */
  for (unsigned i = 0; i < NTHREADS; i++)
    assert_int_equal(atomic_load(&walks[i]), 1);
  assert_int_equal(jvm, NTHREADS);

  /* Honest weights: never more than the time watched; the first visit only
   * starts the clock and the last stretch is unvisited, so allow a few
   * cycles (one cycle is 200/16 ticks of 2 ms; the first one is slower,
   * paced by the walk budget). */
  for (unsigned i = 0; i < NTHREADS; i++) {
    assert_true(weight[i] <= span);
    assert_true(weight[i] >= span / 2);
  }

  pthread_mutex_lock(&mu);
  done = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  for (unsigned i = 0; i < NTHREADS; i++)
    pthread_join(th[i], NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bounded_and_honest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
