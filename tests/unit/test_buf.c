/*
 * test_buf.c - unit tests for the bounded byte buffer (agent/buf.c).
 *
 * Checks the bound (an append past the limit fails whole, sets the sticky
 * overflow flag, and the capacity never passes the limit), big-endian
 * writers and in-place patching.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"

static void test_append_grows_and_keeps_bytes(void **state) {
  pyr_buf b;
  uint8_t big[1000];

  (void)state;
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)i;
  pyr_buf_init(&b, 1 << 20);
  assert_int_equal(pyr_buf_append(&b, "abc", 3), 0);
  assert_int_equal(pyr_buf_append(&b, big, sizeof big), 0);
  assert_int_equal(b.len, 1003);
  assert_true(b.cap >= b.len);
  assert_memory_equal(b.data, "abc", 3);
  assert_memory_equal(b.data + 3, big, sizeof big);
  assert_false(b.overflow);
  pyr_buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
}

static void test_limit_is_hard_and_sticky(void **state) {
  pyr_buf b;

  (void)state;
  pyr_buf_init(&b, 10);
  assert_int_equal(pyr_buf_append(&b, "12345678", 8), 0);
  /* 3 more would make 11 > 10: nothing is copied. */
  assert_int_equal(pyr_buf_append(&b, "abc", 3), -1);
  assert_true(b.overflow);
  assert_int_equal(b.len, 8);
  assert_memory_equal(b.data, "12345678", 8);
  /* Growth is clamped: the buffer never holds more than its limit. */
  assert_true(b.cap <= 10);
  /* An append that fits still works, and the flag stays set. */
  assert_int_equal(pyr_buf_append(&b, "ab", 2), 0);
  assert_int_equal(b.len, 10);
  assert_true(b.overflow);
  assert_int_equal(pyr_buf_u8(&b, 1), -1);
  assert_int_equal(pyr_buf_reserve(&b, 1), -1);
  assert_int_equal(pyr_buf_reserve(&b, 0), 0);
  pyr_buf_free(&b);
}

static void test_reset_keeps_memory(void **state) {
  pyr_buf b;
  uint8_t *data;

  (void)state;
  pyr_buf_init(&b, 4);
  assert_int_equal(pyr_buf_append(&b, "abcdef", 6), -1);
  assert_true(b.overflow);
  assert_int_equal(pyr_buf_append(&b, "abcd", 4), 0);
  data = b.data;
  pyr_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_false(b.overflow);
  assert_ptr_equal(b.data, data);
  assert_int_equal(pyr_buf_append(&b, "wxyz", 4), 0);
  assert_memory_equal(b.data, "wxyz", 4);
  pyr_buf_free(&b);
}

static void test_zero_limit(void **state) {
  pyr_buf b;

  (void)state;
  pyr_buf_init(&b, 0);
  assert_int_equal(pyr_buf_append(&b, NULL, 0), 0);
  assert_int_equal(pyr_buf_u8(&b, 7), -1);
  assert_true(b.overflow);
  assert_int_equal(b.len, 0);
  pyr_buf_free(&b);
}

static void test_big_endian_writers(void **state) {
  pyr_buf b;
  static const uint8_t want[] = {0xAB, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF,
                                 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                 0x08};

  (void)state;
  pyr_buf_init(&b, 64);
  assert_int_equal(pyr_buf_u8(&b, 0xAB), 0);
  assert_int_equal(pyr_buf_be16(&b, 0x1234), 0);
  assert_int_equal(pyr_buf_be32(&b, 0xDEADBEEFu), 0);
  assert_int_equal(pyr_buf_be64(&b, 0x0102030405060708ull), 0);
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  pyr_buf_free(&b);
}

static void test_put_be64_patches_in_place(void **state) {
  pyr_buf b;
  static const uint8_t want[] = {0xFF, 0x11, 0x22, 0x33, 0x44,
                                 0x55, 0x66, 0x77, 0x88, 0xFF};

  (void)state;
  pyr_buf_init(&b, 64);
  assert_int_equal(pyr_buf_u8(&b, 0xFF), 0);
  assert_int_equal(pyr_buf_be64(&b, 0), 0);
  assert_int_equal(pyr_buf_u8(&b, 0xFF), 0);
  pyr_buf_put_be64(&b, 1, 0x1122334455667788ull);
  assert_memory_equal(b.data, want, sizeof want);
  /* Out of range: ignored, nothing written, no crash. */
  pyr_buf_put_be64(&b, 3, 0);
  pyr_buf_put_be64(&b, 1000, 0);
  assert_int_equal(b.len, sizeof want);
  assert_memory_equal(b.data, want, sizeof want);
  pyr_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_grows_and_keeps_bytes),
      cmocka_unit_test(test_limit_is_hard_and_sticky),
      cmocka_unit_test(test_reset_keeps_memory),
      cmocka_unit_test(test_zero_limit),
      cmocka_unit_test(test_big_endian_writers),
      cmocka_unit_test(test_put_be64_patches_in_place),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
