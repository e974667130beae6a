/*
 * test_ingest_time.c - Pyroscope time expressions (server/timeparse.c):
 * epoch digit-count heuristics, YYYYMMDD dates, now-relative offsets with
 * every unit, RFC 3339, and the quirks kept for compatibility.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timeparse.h"

#define S INT64_C(1000000000)
static const int64_t NOW = INT64_C(1700000000) * S;

static int64_t tp(const char *s) {
  int64_t v = -42;
  assert_int_equal(pyr_time_parse(s, NOW, &v), 0);
  return v;
}

static void test_epoch_heuristics(void **state) {
  (void)state;
  assert_true(tp("1700000000") == INT64_C(1700000000) * S);        /* s */
  assert_true(tp("1700000000123") == INT64_C(1700000000123) * 1000000); /* ms */
  assert_true(tp("1700000000123456") == INT64_C(1700000000123456) * 1000); /* us */
  assert_true(tp("1700000000123456789") == INT64_C(1700000000123456789)); /* ns */
  assert_true(tp("0") == 0);
  assert_true(tp("12345") == INT64_C(12345) * S);     /* any other length: s */
  assert_true(tp("170000000") == INT64_C(170000000) * S);
  assert_true(tp("17000000001") == INT64_MAX); /* s, saturated */
  /* Separators are removed first. */
  assert_true(tp(" 1_700_000,000 ") == INT64_C(1700000000) * S);
  /* Overflowing digit strings read as 0, like Go's failed Atoi. */
  assert_true(tp("99999999999999999999999") == 0);
}

static void test_dates(void **state) {
  (void)state;
  assert_true(tp("20240126") == INT64_C(1706227200) * S);
  assert_true(tp("19700101") == 0);
  assert_true(tp("20240229") == INT64_C(1709164800) * S); /* leap day */
  /* Not a valid date: 8 digits as epoch seconds. */
  assert_true(tp("20230229") == INT64_C(20230229) * S);
  assert_true(tp("17000000") == INT64_C(17000000) * S);
  assert_true(tp("20241301") == INT64_C(20241301) * S);
  assert_true(tp("18991231") == INT64_C(18991231) * S); /* year <= 1900 */
  /* Dates past 2262-04-11 do not fit int64 ns: saturated, not signed
   * overflow (fuzz regression, tests/fuzz/regressions/timeparse/). */
  assert_true(tp("22620411") == INT64_C(9223286400) * S);
  assert_true(tp("24240126") == INT64_MAX);
  assert_true(tp("99991231") == INT64_MAX);
}

static void test_relative(void **state) {
  (void)state;
  assert_true(tp("now") == NOW);
  assert_true(tp("") == NOW);
  assert_true(tp("now-1h") == NOW - 3600 * S);
  assert_true(tp("-1h") == NOW - 3600 * S);
  assert_true(tp("now-15m") == NOW - 900 * S);
  assert_true(tp("now-15min") == NOW - 900 * S);
  assert_true(tp("now-1h30m") == NOW - 5400 * S);
  assert_true(tp("now+30s") == NOW + 30 * S);
  assert_true(tp("now-2d") == NOW - 2 * 86400 * S);
  assert_true(tp("now-1w") == NOW - 7 * 86400 * S);
  assert_true(tp("now-1mon") == NOW - 30 * 86400 * S);
  assert_true(tp("now-1M") == NOW - 30 * 86400 * S);
  assert_true(tp("now-1y") == NOW - 365 * 86400 * S);
  assert_true(tp("now-5x") == NOW);          /* unknown unit counts 0 */
  assert_true(tp("yesterday-1h") == NOW - 3600 * S); /* ref ignored */
  assert_true(tp("now - 1 h") == NOW - 3600 * S);    /* spaces removed */
  assert_true(tp("now-") == NOW);
  assert_true(tp("garbage") == NOW);
  /* '+' wins over '-' as the offset start, as in Pyroscope. */
  assert_true(tp("now-1h+5m") == NOW + 5 * 60 * S);
}

static void test_rfc3339(void **state) {
  (void)state;
  assert_true(tp("2024-01-26T04:04:40Z") == INT64_C(1706241880) * S);
  assert_true(tp("2024-01-26T06:04:40+02:00") == INT64_C(1706241880) * S);
  assert_true(tp("2024-01-26T04:04:40.5Z") == INT64_C(1706241880) * S + S / 2);
  assert_true(tp("2024-01-26T04:04:40.123456789Z") ==
              INT64_C(1706241880) * S + 123456789);
  /* Invalid dates fall back to the now-relative reading. */
  assert_true(tp("2024-02-30T00:00:00Z") != INT64_C(1709251200) * S);
}

static void test_limits(void **state) {
  (void)state;
  int64_t v;
  char big[PYR_TIME_MAX_INPUT + 2];
  memset(big, '1', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(pyr_time_parse(big, NOW, &v), -1);
  assert_int_equal(pyr_time_parse(NULL, NOW, &v), -1);
  /* Saturation instead of wrap-around. */
  assert_true(tp("now+999999999999y") == INT64_MAX);
  assert_true(pyr_time_now_ns() > NOW);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_epoch_heuristics), cmocka_unit_test(test_dates),
      cmocka_unit_test(test_relative),         cmocka_unit_test(test_rfc3339),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
