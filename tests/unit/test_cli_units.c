/*
 * test_cli_units.c - the CLI's type aliases, type id helpers and value
 * formatting (cli/units.c): ns -> ms/s, bytes -> KB/MB, counts, rates,
 * percentages and durations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "units.h"

static const char *val(double v, pyr_cli_unit u) {
  static char buf[PYR_CLI_FMT_MAX];
  pyr_cli_fmt_value(buf, sizeof(buf), v, u);
  return buf;
}

static void test_nanoseconds(void **state) {
  (void)state;
  assert_string_equal(val(0, PYR_CLI_UNIT_NANOS), "0 ns");
  assert_string_equal(val(750, PYR_CLI_UNIT_NANOS), "750 ns");
  assert_string_equal(val(1500, PYR_CLI_UNIT_NANOS), "1.50 us");
  assert_string_equal(val(1500000, PYR_CLI_UNIT_NANOS), "1.50 ms");
  assert_string_equal(val(12345678, PYR_CLI_UNIT_NANOS), "12.3 ms");
  assert_string_equal(val(123456789, PYR_CLI_UNIT_NANOS), "123 ms");
  assert_string_equal(val(2.5e9, PYR_CLI_UNIT_NANOS), "2.50 s");
  assert_string_equal(val(10e9, PYR_CLI_UNIT_NANOS), "10.0 s");
  /* 999.96 ms moves to the next unit rather than printing "1000 ms". */
  assert_string_equal(val(999.96e6, PYR_CLI_UNIT_NANOS), "1.00 s");
  assert_string_equal(val(90e9, PYR_CLI_UNIT_NANOS), "1.50 min");
  assert_string_equal(val(7200e9, PYR_CLI_UNIT_NANOS), "2.00 h");
  assert_string_equal(val(-1500000, PYR_CLI_UNIT_NANOS), "-1.50 ms");
}

static void test_bytes(void **state) {
  (void)state;
  assert_string_equal(val(512, PYR_CLI_UNIT_BYTES), "512 B");
  assert_string_equal(val(1536, PYR_CLI_UNIT_BYTES), "1.50 KB");
  assert_string_equal(val(1048576, PYR_CLI_UNIT_BYTES), "1.00 MB");
  assert_string_equal(val(300.0 * 1048576, PYR_CLI_UNIT_BYTES), "300 MB");
  assert_string_equal(val(1023.9 * 1024, PYR_CLI_UNIT_BYTES), "1.00 MB");
  assert_string_equal(val(5.0 * 1073741824, PYR_CLI_UNIT_BYTES), "5.00 GB");
}

static void test_counts(void **state) {
  (void)state;
  assert_string_equal(val(0, PYR_CLI_UNIT_COUNT), "0");
  assert_string_equal(val(1234, PYR_CLI_UNIT_COUNT), "1234");
  assert_string_equal(val(9999, PYR_CLI_UNIT_COUNT), "9999");
  assert_string_equal(val(12345, PYR_CLI_UNIT_COUNT), "12.3 k");
  assert_string_equal(val(2500000, PYR_CLI_UNIT_COUNT), "2.50 M");
  assert_string_equal(val(1.5, PYR_CLI_UNIT_COUNT), "1.50");
}

static void test_rate_percent_duration(void **state) {
  (void)state;
  char buf[PYR_CLI_FMT_MAX];
  pyr_cli_fmt_rate(buf, sizeof(buf), 2.5e6, PYR_CLI_UNIT_NANOS);
  assert_string_equal(buf, "2.50 ms/s");
  pyr_cli_fmt_rate(buf, sizeof(buf), 512.0 * 1048576, PYR_CLI_UNIT_BYTES);
  assert_string_equal(buf, "512 MB/s");
  pyr_cli_fmt_percent(buf, sizeof(buf), 1, 3);
  assert_string_equal(buf, "33.3%");
  pyr_cli_fmt_percent(buf, sizeof(buf), 5, 0);
  assert_string_equal(buf, "0.0%");
  pyr_cli_fmt_percent(buf, sizeof(buf), 10, 10);
  assert_string_equal(buf, "100.0%");
  pyr_cli_fmt_duration(buf, sizeof(buf), 900);
  assert_string_equal(buf, "15m");
  pyr_cli_fmt_duration(buf, sizeof(buf), 5400);
  assert_string_equal(buf, "1h30m");
  pyr_cli_fmt_duration(buf, sizeof(buf), 3600);
  assert_string_equal(buf, "1h");
  pyr_cli_fmt_duration(buf, sizeof(buf), 45);
  assert_string_equal(buf, "45s");
  pyr_cli_fmt_duration(buf, sizeof(buf), 0);
  assert_string_equal(buf, "0s");
  pyr_cli_fmt_duration(buf, sizeof(buf), 2 * 86400 + 3 * 3600 + 17);
  assert_string_equal(buf, "2d3h");
  /* A tiny buffer truncates instead of overflowing. */
  char tiny[4];
  pyr_cli_fmt_value(tiny, sizeof(tiny), 12345678, PYR_CLI_UNIT_NANOS);
  assert_int_equal(strlen(tiny), 3);
}

static void test_types(void **state) {
  (void)state;
  char buf[128];
  assert_string_equal(pyr_cli_type_alias("cpu"), "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  assert_string_equal(pyr_cli_type_alias("alloc"),
                      "memory:alloc_in_new_tlab_bytes:bytes:space:bytes");
  assert_string_equal(pyr_cli_type_alias("lock"), "mutex:delay:nanoseconds:mutex:count");
  assert_string_equal(pyr_cli_type_alias("wall"), "wall:wall:nanoseconds:wall:nanoseconds");
  assert_null(pyr_cli_type_alias("cpux"));
  assert_true(pyr_cli_type_id_valid("process_cpu:cpu:nanoseconds:cpu:nanoseconds"));
  assert_true(pyr_cli_type_id_valid("memory:alloc_in_new_tlab_bytes:bytes::"));
  assert_true(pyr_cli_type_id_valid("process_cpu:cpu:nanoseconds:cpu:nanoseconds:delta"));
  assert_false(pyr_cli_type_id_valid("app.cpu"));
  assert_false(pyr_cli_type_id_valid("a:b:c"));
  assert_false(pyr_cli_type_id_valid(":cpu:nanoseconds:cpu:nanoseconds"));
  assert_false(pyr_cli_type_id_valid("a:b:c:d:e:f"));
  assert_int_equal(pyr_cli_type_prefix("wall:wall:nanoseconds:cpu:nanoseconds", 3, buf,
                                       sizeof(buf)), 0);
  assert_string_equal(buf, "wall:wall:nanoseconds");
  assert_int_equal(pyr_cli_type_prefix("memory:alloc_in_new_tlab_bytes:bytes::", 3, buf,
                                       sizeof(buf)), 0);
  assert_string_equal(buf, "memory:alloc_in_new_tlab_bytes:bytes");
  assert_int_equal(pyr_cli_type_prefix("a:b:c", 3, buf, sizeof(buf)), 0);
  assert_string_equal(buf, "a:b:c");
  assert_int_equal(pyr_cli_type_prefix("a:b", 3, buf, sizeof(buf)), -1);
  assert_int_equal(pyr_cli_type_prefix("a:b:c:d:e", 3, buf, 3), -1);
  assert_int_equal(pyr_cli_type_unit("process_cpu:cpu:nanoseconds:cpu:nanoseconds"),
                   PYR_CLI_UNIT_NANOS);
  assert_int_equal(pyr_cli_type_unit("memory:alloc_in_new_tlab_bytes:bytes::"),
                   PYR_CLI_UNIT_BYTES);
  assert_int_equal(pyr_cli_type_unit("mutex:contentions:count:mutex:count"),
                   PYR_CLI_UNIT_COUNT);
  assert_int_equal(pyr_cli_type_unit("garbage"), PYR_CLI_UNIT_COUNT);
  assert_string_equal(pyr_cli_unit_name(PYR_CLI_UNIT_BYTES), "bytes");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nanoseconds),
      cmocka_unit_test(test_bytes),
      cmocka_unit_test(test_counts),
      cmocka_unit_test(test_rate_percent_duration),
      cmocka_unit_test(test_types),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
