/* test_pb_budget.c - the byte-budget protobuf-c allocator (server/pb_budget.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pb_budget.h"

static void test_init_sizes(void **state) {
  (void)state;
  pyr_pb_budget b;
  pyr_pb_budget_init(&b, 1000, 64, 65536, SIZE_MAX / 2);
  assert_int_equal(b.max, 64000 + 65536);
  assert_int_equal(b.used, 0);
  assert_int_equal(b.refused, 0);
  /* The cap wins over ratio * len + slack ... */
  pyr_pb_budget_init(&b, 1000, 64, 65536, 100000);
  assert_int_equal(b.max, 100000);
  /* ... also when ratio * len would overflow size_t. */
  pyr_pb_budget_init(&b, SIZE_MAX / 8, 64, 65536, 1u << 20);
  assert_int_equal(b.max, 1u << 20);
  /* A fixed budget: ratio 0. */
  pyr_pb_budget_init(&b, 12345, 0, 4096, 4096);
  assert_int_equal(b.max, 4096);
}

static void test_alloc_refuses_over_budget(void **state) {
  (void)state;
  pyr_pb_budget b;
  pyr_pb_budget_init(&b, 0, 0, 1000, 1000);
  void *p = pyr_pb_budget_alloc(&b, 600);
  assert_non_null(p);
  assert_int_equal(b.used, 600);
  assert_null(pyr_pb_budget_alloc(&b, 500)); /* 1100 > 1000 */
  assert_int_equal(b.refused, 1);
  pyr_pb_budget_free(&b, p);
  assert_int_equal(b.used, 0);
  p = pyr_pb_budget_alloc(&b, 1000); /* exactly the budget fits */
  assert_non_null(p);
  pyr_pb_budget_free(&b, p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_sizes),
      cmocka_unit_test(test_alloc_refuses_over_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
