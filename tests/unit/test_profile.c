/*
 * test_profile.c - the decoded-profile model (server/profile.c): interning,
 * label-set canonical form, sample merging and order, limits (a failed add
 * leaves the profile unchanged), type ids and lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "profile.h"

static pyr_prof_type cpu_type(void) {
  pyr_prof_type t;
  memset(&t, 0, sizeof(t));
  strcpy(t.name, "process_cpu");
  t.nvalues = 1;
  strcpy(t.sample_type[0], "cpu");
  strcpy(t.sample_unit[0], "nanoseconds");
  strcpy(t.period_type, "cpu");
  strcpy(t.period_unit, "nanoseconds");
  t.period = 10000000;
  return t;
}

static pyr_prof_type mem_type(void) {
  pyr_prof_type t;
  memset(&t, 0, sizeof(t));
  strcpy(t.name, "memory");
  t.nvalues = 2;
  strcpy(t.sample_type[0], "alloc_in_new_tlab_objects");
  strcpy(t.sample_unit[0], "count");
  strcpy(t.sample_type[1], "alloc_in_new_tlab_bytes");
  strcpy(t.sample_unit[1], "bytes");
  strcpy(t.period_type, "space");
  strcpy(t.period_unit, "bytes");
  return t;
}

static uint32_t loc(pyr_prof *p, const char *name, int64_t line) {
  int64_t s = pyr_prof_intern(p, name, strlen(name));
  assert_true(s > 0);
  int64_t l = pyr_prof_location(p, (uint32_t)s, line);
  assert_true(l > 0);
  return (uint32_t)l;
}

static void test_new_rejects_bad_types(void **state) {
  (void)state;
  pyr_prof_type t = cpu_type();
  t.nvalues = 0;
  assert_null(pyr_prof_new(&t, NULL));
  t.nvalues = PYR_PROF_MAX_VALUES + 1;
  assert_null(pyr_prof_new(&t, NULL));
  assert_null(pyr_prof_new(NULL, NULL));
}

static void test_intern_strings(void **state) {
  (void)state;
  pyr_prof_type t = cpu_type();
  pyr_prof *p = pyr_prof_new(&t, NULL);
  assert_non_null(p);
  assert_int_equal(pyr_prof_intern(p, "", 0), 0);
  int64_t a = pyr_prof_intern(p, "alpha", 5);
  int64_t b = pyr_prof_intern(p, "beta", 4);
  assert_int_equal(a, 1);
  assert_int_equal(b, 2);
  assert_int_equal(pyr_prof_intern(p, "alpha", 5), 1);
  /* length, not NUL, delimits: "alp" is a different string */
  assert_int_equal(pyr_prof_intern(p, "alpha", 3), 3);
  /* embedded NUL bytes are data */
  assert_int_equal(pyr_prof_intern(p, "a\0b", 3), 4);
  assert_int_equal(pyr_prof_intern(p, "a\0c", 3), 5);
  size_t len;
  assert_string_equal(pyr_prof_str(p, 1, &len), "alpha");
  assert_int_equal(len, 5);
  assert_string_equal(pyr_prof_str(p, 0, &len), "");
  assert_int_equal(len, 0);
  assert_null(pyr_prof_str(p, 99, &len));
  assert_int_equal(pyr_prof_nstrings(p), 6);
  /* many strings: the index survives growth */
  char buf[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(buf, sizeof(buf), "s%d", i);
    assert_int_equal(pyr_prof_intern(p, buf, strlen(buf)), 6 + i);
  }
  for (int i = 0; i < 5000; i += 97) {
    snprintf(buf, sizeof(buf), "s%d", i);
    assert_int_equal(pyr_prof_intern(p, buf, strlen(buf)), 6 + i);
  }
  pyr_prof_free(p);
}

static void test_locations(void **state) {
  (void)state;
  pyr_prof_type t = cpu_type();
  pyr_prof *p = pyr_prof_new(&t, NULL);
  int64_t f = pyr_prof_intern(p, "Foo.bar", 7);
  int64_t l1 = pyr_prof_location(p, (uint32_t)f, 10);
  int64_t l2 = pyr_prof_location(p, (uint32_t)f, 11);
  assert_int_equal(l1, 1);
  assert_int_equal(l2, 2);
  assert_int_equal(pyr_prof_location(p, (uint32_t)f, 10), 1);
  assert_int_equal(pyr_prof_location(p, 0, 0), 3); /* "" is a valid name */
  assert_int_equal(pyr_prof_location(p, 42, 0), PYR_PROF_EINVAL);
  uint32_t name;
  int64_t line;
  pyr_prof_loc(p, 2, &name, &line);
  assert_int_equal(name, f);
  assert_int_equal(line, 11);
  assert_int_equal(pyr_prof_nlocations(p), 3);
  pyr_prof_free(p);
}

static void test_labelsets(void **state) {
  (void)state;
  pyr_prof_type t = cpu_type();
  pyr_prof *p = pyr_prof_new(&t, NULL);
  uint32_t k1 = (uint32_t)pyr_prof_intern(p, "a", 1), k2 = (uint32_t)pyr_prof_intern(p, "b", 1);
  uint32_t v1 = (uint32_t)pyr_prof_intern(p, "x", 1), v2 = (uint32_t)pyr_prof_intern(p, "y", 1);
  assert_int_equal(pyr_prof_labelset(p, NULL, 0), 0);
  pyr_prof_label ab[] = {{k2, v2}, {k1, v1}};
  pyr_prof_label ba[] = {{k1, v1}, {k2, v2}};
  int64_t s1 = pyr_prof_labelset(p, ab, 2);
  assert_int_equal(s1, 1);
  assert_int_equal(pyr_prof_labelset(p, ba, 2), 1); /* order does not matter */
  size_t n;
  const pyr_prof_label *l = pyr_prof_labels(p, 1, &n);
  assert_int_equal(n, 2);
  assert_int_equal(l[0].key, k1); /* sorted by key */
  assert_int_equal(l[1].key, k2);
  /* a repeated key keeps its last value */
  pyr_prof_label rep[] = {{k1, v1}, {k1, v2}};
  int64_t s2 = pyr_prof_labelset(p, rep, 2);
  l = pyr_prof_labels(p, (uint32_t)s2, &n);
  assert_int_equal(n, 1);
  assert_int_equal(l[0].value, v2);
  /* empty values are dropped; nothing left -> 0 */
  pyr_prof_label empty[] = {{k1, 0}};
  assert_int_equal(pyr_prof_labelset(p, empty, 1), 0);
  pyr_prof_label mixed[] = {{k2, 0}, {k1, v1}};
  int64_t s3 = pyr_prof_labelset(p, mixed, 2);
  l = pyr_prof_labels(p, (uint32_t)s3, &n);
  assert_int_equal(n, 1);
  assert_int_equal(l[0].key, k1);
  /* the caller's array is not modified */
  assert_int_equal(ab[0].key, k2);
  pyr_prof_label bad[] = {{k1, 999}};
  assert_int_equal(pyr_prof_labelset(p, bad, 1), PYR_PROF_EINVAL);
  assert_int_equal(pyr_prof_nlabelsets(p), 3);
  assert_null(pyr_prof_labels(p, 0, &n));
  assert_int_equal(n, 0);
  pyr_prof_free(p);
}

static void test_samples_merge_in_order(void **state) {
  (void)state;
  pyr_prof_type t = mem_type();
  pyr_prof *p = pyr_prof_new(&t, NULL);
  uint32_t a = loc(p, "main", 1), b = loc(p, "work", 2), c = loc(p, "leaf", 3);
  uint32_t s1[] = {a, b, c}, s2[] = {a, c};
  int64_t v1[] = {1, 100}, v2[] = {2, 50};
  assert_int_equal(pyr_prof_add(p, s1, 3, 0, v1), PYR_PROF_OK);
  assert_int_equal(pyr_prof_add(p, s2, 2, 0, v2), PYR_PROF_OK);
  assert_int_equal(pyr_prof_add(p, s1, 3, 0, v2), PYR_PROF_OK);
  assert_int_equal(pyr_prof_nsamples(p), 2);
  const uint32_t *locs;
  uint32_t n, ls;
  const int64_t *vals;
  pyr_prof_sample(p, 0, &locs, &n, &ls, &vals);
  assert_int_equal(n, 3);
  assert_int_equal(locs[0], a);
  assert_int_equal(vals[0], 3);
  assert_int_equal(vals[1], 150);
  pyr_prof_sample(p, 1, &locs, &n, &ls, &vals);
  assert_int_equal(n, 2);
  assert_int_equal(vals[0], 2);
  /* same stack, different labels: a separate sample */
  uint32_t k = (uint32_t)pyr_prof_intern(p, "k", 1), v = (uint32_t)pyr_prof_intern(p, "v", 1);
  pyr_prof_label lab = {k, v};
  uint32_t set = (uint32_t)pyr_prof_labelset(p, &lab, 1);
  assert_int_equal(pyr_prof_add_ex(p, s1, 3, set, v1), 2);
  assert_int_equal(pyr_prof_add_ex(p, s1, 3, set, v1), 2);
  assert_int_equal(pyr_prof_add_to(p, 2, v1), PYR_PROF_OK);
  pyr_prof_sample(p, 2, &locs, &n, &ls, &vals);
  assert_int_equal(ls, set);
  assert_int_equal(vals[0], 3);
  assert_int_equal(vals[1], 300);
  assert_int_equal(pyr_prof_add_to(p, 3, v1), PYR_PROF_EINVAL);
  /* the empty stack is a stack too */
  assert_int_equal(pyr_prof_add_ex(p, NULL, 0, 0, v1), 3);
  assert_int_equal(pyr_prof_add_ex(p, NULL, 0, 0, v1), 3);
  /* invalid references */
  uint32_t badloc[] = {a, 77};
  assert_int_equal(pyr_prof_add(p, badloc, 2, 0, v1), PYR_PROF_EINVAL);
  assert_int_equal(pyr_prof_add(p, s1, 3, 99, v1), PYR_PROF_EINVAL);
  assert_int_equal(pyr_prof_nsamples(p), 4);
  pyr_prof_free(p);
}

static void test_values_wrap(void **state) {
  (void)state;
  pyr_prof_type t = cpu_type();
  pyr_prof *p = pyr_prof_new(&t, NULL);
  uint32_t a = loc(p, "x", 0);
  int64_t big[] = {INT64_MAX};
  int64_t one[] = {1};
  assert_int_equal(pyr_prof_add(p, &a, 1, 0, big), PYR_PROF_OK);
  assert_int_equal(pyr_prof_add(p, &a, 1, 0, one), PYR_PROF_OK);
  const int64_t *vals;
  pyr_prof_sample(p, 0, NULL, NULL, NULL, &vals);
  assert_true(vals[0] == INT64_MIN); /* wraps like Go's int64, no UB */
  pyr_prof_free(p);
}

static void test_limits(void **state) {
  (void)state;
  pyr_prof_type t = cpu_type();
  pyr_prof_limits lim = {.max_samples = 2,
                         .max_locations = 3,
                         .max_string_bytes = 10,
                         .max_stack_depth = 2,
                         .max_label_sets = 1,
                         .max_total_frames = 3};
  pyr_prof *p = pyr_prof_new(&t, &lim);
  assert_int_equal(pyr_prof_intern(p, "12345", 5), 1);
  assert_int_equal(pyr_prof_intern(p, "123456", 6), PYR_PROF_ELIMIT);
  assert_int_equal(pyr_prof_intern(p, "6789", 4), 2);
  assert_int_equal(pyr_prof_intern(p, "x", 1), 3);
  assert_int_equal(pyr_prof_intern(p, "y", 1), PYR_PROF_ELIMIT);
  assert_int_equal(pyr_prof_intern(p, "12345", 5), 1); /* existing: fine */
  assert_int_equal(pyr_prof_location(p, 1, 1), 1);
  assert_int_equal(pyr_prof_location(p, 2, 1), 2);
  assert_int_equal(pyr_prof_location(p, 3, 1), 3);
  assert_int_equal(pyr_prof_location(p, 3, 2), PYR_PROF_ELIMIT);
  pyr_prof_label l1 = {1, 2}, l2 = {1, 3};
  assert_int_equal(pyr_prof_labelset(p, &l1, 1), 1);
  assert_int_equal(pyr_prof_labelset(p, &l2, 1), PYR_PROF_ELIMIT);
  int64_t v[] = {1};
  uint32_t deep[] = {1, 2, 3};
  assert_int_equal(pyr_prof_add(p, deep, 3, 0, v), PYR_PROF_ELIMIT);
  assert_int_equal(pyr_prof_add(p, deep, 2, 0, v), PYR_PROF_OK);
  /* total frames: 2 stored, a new 2-deep stack would make 4 > 3 */
  assert_int_equal(pyr_prof_add(p, deep + 1, 2, 0, v), PYR_PROF_ELIMIT);
  assert_int_equal(pyr_prof_add(p, deep, 1, 0, v), PYR_PROF_OK);
  assert_int_equal(pyr_prof_add(p, deep + 2, 1, 0, v), PYR_PROF_ELIMIT); /* 3 samples */
  /* after failures the profile is intact and existing samples still add */
  assert_int_equal(pyr_prof_nsamples(p), 2);
  assert_int_equal(pyr_prof_add(p, deep, 2, 0, v), PYR_PROF_OK);
  const int64_t *vals;
  pyr_prof_sample(p, 0, NULL, NULL, NULL, &vals);
  assert_int_equal(vals[0], 2);
  pyr_prof_free(p);
}

static void test_type_id_and_time(void **state) {
  (void)state;
  pyr_prof_type t = mem_type();
  char buf[256];
  assert_int_equal(pyr_prof_type_id(&t, 1, buf, sizeof(buf)), PYR_PROF_OK);
  assert_string_equal(buf, "memory:alloc_in_new_tlab_bytes:bytes:space:bytes");
  assert_int_equal(pyr_prof_type_id(&t, 2, buf, sizeof(buf)), PYR_PROF_EINVAL);
  assert_int_equal(pyr_prof_type_id(&t, 0, buf, 8), PYR_PROF_ELIMIT);
  memset(t.period_type, 0, sizeof(t.period_type));
  memset(t.period_unit, 0, sizeof(t.period_unit));
  assert_int_equal(pyr_prof_type_id(&t, 0, buf, sizeof(buf)), PYR_PROF_OK);
  assert_string_equal(buf, "memory:alloc_in_new_tlab_objects:count::");
  pyr_prof *p = pyr_prof_new(&t, NULL);
  int64_t tn, dn;
  pyr_prof_get_time(p, &tn, &dn);
  assert_int_equal(tn, 0);
  pyr_prof_set_time(p, 1706241880000000000LL, 10000000000LL);
  pyr_prof_get_time(p, &tn, &dn);
  assert_true(tn == 1706241880000000000LL);
  assert_true(dn == 10000000000LL);
  assert_string_equal(pyr_prof_get_type(p)->sample_type[1], "alloc_in_new_tlab_bytes");
  pyr_prof_free(p);
}

static void test_list(void **state) {
  (void)state;
  pyr_prof_type t = cpu_type();
  pyr_prof_list l = {0};
  for (int i = 0; i < 40; i++)
    assert_int_equal(pyr_prof_list_push(&l, pyr_prof_new(&t, NULL)), PYR_PROF_OK);
  assert_int_equal(l.n, 40);
  assert_int_equal(pyr_prof_list_push(&l, NULL), PYR_PROF_EINVAL);
  pyr_prof_list_free(&l);
  assert_int_equal(l.n, 0);
  assert_null(l.items);
  pyr_prof_list_free(&l); /* idempotent */
}

/* Many distinct stacks: the sample index keeps working as it grows. */
static void test_many_samples(void **state) {
  (void)state;
  pyr_prof_type t = cpu_type();
  pyr_prof *p = pyr_prof_new(&t, NULL);
  uint32_t locs[64];
  for (int i = 0; i < 64; i++)
    locs[i] = loc(p, "f", i);
  int64_t v[] = {1};
  for (int round = 0; round < 2; round++)
    for (uint32_t i = 0; i < 64; i++)
      for (uint32_t j = 1; j <= 64 - i; j += 7)
        assert_true(pyr_prof_add_ex(p, locs + i, j, 0, v) >= 0);
  size_t n = pyr_prof_nsamples(p);
  for (size_t i = 0; i < n; i++) {
    const int64_t *vals;
    pyr_prof_sample(p, i, NULL, NULL, NULL, &vals);
    assert_int_equal(vals[0], 2);
  }
  pyr_prof_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_rejects_bad_types),
      cmocka_unit_test(test_intern_strings),
      cmocka_unit_test(test_locations),
      cmocka_unit_test(test_labelsets),
      cmocka_unit_test(test_samples_merge_in_order),
      cmocka_unit_test(test_values_wrap),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_type_id_and_time),
      cmocka_unit_test(test_list),
      cmocka_unit_test(test_many_samples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
