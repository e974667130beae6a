/* Unit tests for agent/symbols.c: one resolver call per method, stale ids,
 * BCI -> line mapping, and the bound (flush when full). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "symbols.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int calls;

/* Methods 1..1000 exist; method 666 is "unloaded". Lines: bci 0 -> 10,
 * bci 5 -> 11, bci 9 -> 13 (given out of order on purpose). */
static int fake_resolve(void *ctx, uint64_t method, pyr_method_info *out) {
  char buf[64];
  (void)ctx;
  calls++;
  if (method == 666 || method > 1000)
    return -1;
  snprintf(buf, sizeof(buf), "com/example/C%llu", (unsigned long long)method);
  out->class_name = strdup(buf);
  out->name = strdup("run");
  out->signature = strdup("()V");
  out->lines = calloc(3, sizeof(pyr_line_entry));
  out->lines[0] = (pyr_line_entry){.bci = 9, .line = 13};
  out->lines[1] = (pyr_line_entry){.bci = 0, .line = 10};
  out->lines[2] = (pyr_line_entry){.bci = 5, .line = 11};
  out->nlines = 3;
  return 0;
}

static void test_cache_hits(void **state) {
  (void)state;
  calls = 0;
  pyr_symbols *s = pyr_symbols_new(100, fake_resolve, NULL);
  const pyr_method_info *m = pyr_symbols_lookup(s, 7);
  assert_string_equal(m->class_name, "com/example/C7");
  assert_string_equal(m->name, "run");
  for (int i = 0; i < 10; i++)
    pyr_symbols_lookup(s, 7);
  assert_int_equal(calls, 1);
  pyr_symbols_stats st;
  pyr_symbols_get_stats(s, &st);
  assert_int_equal(st.hits, 10);
  assert_int_equal(st.misses, 1);
  pyr_symbols_free(s);
}

static void test_lines(void **state) {
  (void)state;
  pyr_symbols *s = pyr_symbols_new(100, fake_resolve, NULL);
  const pyr_method_info *m = pyr_symbols_lookup(s, 1);
  assert_int_equal(pyr_method_line(m, 0), 10);
  assert_int_equal(pyr_method_line(m, 4), 10);
  assert_int_equal(pyr_method_line(m, 5), 11);
  assert_int_equal(pyr_method_line(m, 8), 11);
  assert_int_equal(pyr_method_line(m, 9), 13);
  assert_int_equal(pyr_method_line(m, 500), 13);
  assert_int_equal(pyr_method_line(m, -1), 0); /* unknown BCI */
  assert_int_equal(pyr_method_line(m, -3), 0); /* native */
  pyr_symbols_free(s);
}

static void test_stale(void **state) {
  (void)state;
  calls = 0;
  pyr_symbols *s = pyr_symbols_new(100, fake_resolve, NULL);
  const pyr_method_info *m = pyr_symbols_lookup(s, 666);
  assert_true(m->stale);
  assert_string_equal(m->name, "stale_jmethodID");
  assert_string_equal(m->class_name, "");
  pyr_symbols_lookup(s, 666); /* cached: no second resolver call */
  assert_int_equal(calls, 1);
  assert_int_equal(pyr_method_line(m, 3), 0);
  m = pyr_symbols_lookup(s, 0); /* null id never reaches the resolver */
  assert_true(m->stale);
  assert_int_equal(calls, 1);
  pyr_symbols_free(s);
}

static void test_bound(void **state) {
  (void)state;
  calls = 0;
  pyr_symbols *s = pyr_symbols_new(8, fake_resolve, NULL);
  for (uint64_t i = 1; i <= 20; i++)
    assert_string_equal(pyr_symbols_lookup(s, i)->name, "run");
  pyr_symbols_stats st;
  pyr_symbols_get_stats(s, &st);
  assert_true(st.entries <= 8);
  assert_int_equal(st.flushes, 2);
  assert_int_equal(calls, 20);
  /* Still correct after flushes. */
  assert_string_equal(pyr_symbols_lookup(s, 3)->class_name, "com/example/C3");
  pyr_symbols_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_hits),
      cmocka_unit_test(test_lines),
      cmocka_unit_test(test_stale),
      cmocka_unit_test(test_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
