/* Unit tests for agent/stackdb.c and agent/u64map.c: dedup by content,
 * no merging of different stacks (even with equal hashes impossible to
 * force, equal prefixes/lengths must differ), bounds and reset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "stackdb.h"
#include "u64map.h"

static void fill(pyr_frame *f, uint32_t n, uint64_t seed) {
  for (uint32_t i = 0; i < n; i++) {
    f[i].method = seed * 1000 + i + 1;
    f[i].bci = (int32_t)(i * 3);
    f[i].pad = 0;
  }
}

static void test_dedup(void **state) {
  pyr_frame a[8], b[8];
  uint32_t n, flags;
  (void)state;
  pyr_stackdb *db = pyr_stackdb_new(16, 256);
  assert_non_null(db);
  fill(a, 8, 1);
  fill(b, 8, 1);
  uint32_t ia = pyr_stackdb_intern(db, a, 8, 0);
  uint32_t ib = pyr_stackdb_intern(db, b, 8, 0);
  assert_true(ia >= 2);
  assert_int_equal(ia, ib);
  assert_int_equal(pyr_stackdb_count(db), 1);
  /* Same methods, one different BCI: a different stack. */
  b[3].bci = 99;
  assert_int_not_equal(pyr_stackdb_intern(db, b, 8, 0), ia);
  /* Prefix of a: different length, different stack. */
  assert_int_not_equal(pyr_stackdb_intern(db, a, 7, 0), ia);
  /* Same frames but truncated flag: different stack. */
  assert_int_not_equal(pyr_stackdb_intern(db, a, 8, PYR_SAMPLE_TRUNCATED), ia);
  assert_int_equal(pyr_stackdb_count(db), 4);
  const pyr_frame *got = pyr_stackdb_get(db, ia, &n, &flags);
  assert_non_null(got);
  assert_int_equal(n, 8);
  assert_int_equal(flags, 0);
  assert_memory_equal(got, a, sizeof(a));
  pyr_stackdb_free(db);
}

static void test_bounds(void **state) {
  pyr_frame f[4];
  (void)state;
  pyr_stackdb *db = pyr_stackdb_new(3, 10);
  fill(f, 4, 1);
  assert_true(pyr_stackdb_intern(db, f, 4, 0) >= 2);
  fill(f, 4, 2);
  assert_true(pyr_stackdb_intern(db, f, 4, 0) >= 2);
  fill(f, 4, 3); /* frames bound: 8 + 4 > 10 */
  assert_int_equal(pyr_stackdb_intern(db, f, 4, 0), PYR_STACK_OVERFLOW_ID);
  assert_int_equal(pyr_stackdb_intern(db, f, 2, 0) >= 2, 1); /* 8 + 2 fits */
  fill(f, 4, 4); /* stack-count bound */
  assert_int_equal(pyr_stackdb_intern(db, f, 1, 0), PYR_STACK_OVERFLOW_ID);
  assert_int_equal(pyr_stackdb_overflows(db), 2);
  uint32_t n, fl;
  assert_null(pyr_stackdb_get(db, PYR_STACK_OVERFLOW_ID, &n, &fl));
  /* Reset makes room again and forgets old ids. */
  pyr_stackdb_reset(db);
  assert_int_equal(pyr_stackdb_count(db), 0);
  fill(f, 4, 3);
  uint32_t id = pyr_stackdb_intern(db, f, 4, 0);
  assert_true(id >= 2);
  assert_int_equal(pyr_stackdb_intern(db, f, 4, 0), id);
  pyr_stackdb_free(db);
}

static void test_many_stacks(void **state) {
  enum { N = 5000 };
  static uint32_t ids[N];
  pyr_frame f[12];
  (void)state;
  pyr_stackdb *db = pyr_stackdb_new(N, N * 12);
  for (int round = 0; round < 2; round++) {
    for (uint32_t i = 0; i < N; i++) {
      fill(f, 1 + i % 12, i);
      uint32_t id = pyr_stackdb_intern(db, f, 1 + i % 12, 0);
      if (round == 0)
        ids[i] = id;
      else
        assert_int_equal(id, ids[i]);
    }
  }
  assert_int_equal(pyr_stackdb_count(db), N);
  assert_int_equal(pyr_stackdb_overflows(db), 0);
  pyr_stackdb_free(db);
}

static void test_u64map(void **state) {
  pyr_u64map m;
  uint64_t v;
  (void)state;
  assert_int_equal(pyr_u64map_init(&m, 100), 0);
  for (uint64_t k = 1; k <= 100; k++)
    assert_int_equal(pyr_u64map_put(&m, k * 7919, k), 0);
  assert_int_equal(pyr_u64map_put(&m, 999999, 1), -1); /* full */
  assert_int_equal(pyr_u64map_put(&m, 7919, 42), 0);   /* replace is fine */
  assert_true(pyr_u64map_get(&m, 7919, &v));
  assert_int_equal(v, 42);
  assert_false(pyr_u64map_get(&m, 3, &v));
  assert_int_equal(pyr_u64map_put(&m, 0, 1), -1); /* 0 is reserved */
  pyr_u64map_clear(&m);
  assert_false(pyr_u64map_get(&m, 7919, &v));
  assert_int_equal(pyr_u64map_put(&m, 5, 6), 0);
  pyr_u64map_free(&m);
}

/* The table starts small and grows on demand, but never past 2 x max
 * entries, and every key survives each rehash. */
static void test_u64map_grows(void **state) {
  pyr_u64map m;
  uint64_t v;
  (void)state;
  assert_int_equal(pyr_u64map_init(&m, 65536), 0);
  assert_true(m.slots <= 64);
  assert_int_equal(m.max_slots, 131072);
  for (uint64_t k = 1; k <= 65536; k++) {
    assert_int_equal(pyr_u64map_put(&m, k * 0x9e3779b97f4a7c15ull, k), 0);
    assert_true(m.count * 2 <= m.slots);
  }
  assert_int_equal(m.slots, 131072);
  assert_int_equal(pyr_u64map_put(&m, 12345, 1), -1); /* full at the bound */
  for (uint64_t k = 1; k <= 65536; k++) {
    assert_true(pyr_u64map_get(&m, k * 0x9e3779b97f4a7c15ull, &v));
    assert_int_equal(v, k);
  }
  pyr_u64map_clear(&m);
  assert_false(pyr_u64map_get(&m, 0x9e3779b97f4a7c15ull, &v));
  pyr_u64map_free(&m);
  /* A lightly used map stays small. */
  assert_int_equal(pyr_u64map_init(&m, 65536), 0);
  for (uint64_t k = 1; k <= 100; k++)
    assert_int_equal(pyr_u64map_put(&m, k, k), 0);
  assert_int_equal(m.slots, 256);
  pyr_u64map_free(&m);
}

/* More stacks than the index's first size: they all stay distinct and
 * findable across index growth and a reset. */
static void test_index_growth(void **state) {
  pyr_frame f[4];
  uint32_t n, flags;
  (void)state;
  pyr_stackdb *db = pyr_stackdb_new(20000, 80000);
  assert_non_null(db);
  for (int round = 0; round < 2; round++) {
    for (uint64_t s = 0; s < 20000; s++) {
      fill(f, 4, s + 1);
      assert_int_equal(pyr_stackdb_intern(db, f, 4, 0), (uint32_t)s + 2);
    }
    for (uint64_t s = 0; s < 20000; s++) {
      fill(f, 4, s + 1);
      assert_int_equal(pyr_stackdb_intern(db, f, 4, 0), (uint32_t)s + 2); /* dedup */
      const pyr_frame *g = pyr_stackdb_get(db, (uint32_t)s + 2, &n, &flags);
      assert_non_null(g);
      assert_int_equal(n, 4);
      assert_int_equal(g[3].method, f[3].method);
    }
    fill(f, 4, 999999);
    assert_int_equal(pyr_stackdb_intern(db, f, 4, 0), PYR_STACK_OVERFLOW_ID);
    assert_int_equal(pyr_stackdb_count(db), 20000);
    pyr_stackdb_reset(db);
  }
  pyr_stackdb_free(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dedup),
      cmocka_unit_test(test_bounds),
      cmocka_unit_test(test_many_stacks),
      cmocka_unit_test(test_u64map),
      cmocka_unit_test(test_u64map_grows),
      cmocka_unit_test(test_index_growth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
