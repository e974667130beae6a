/*
 * test_ingest_labels.c - series label sets (server/labels.c): the /ingest
 * `name` parameter exactly as Pyroscope's labelset parser reads it, label
 * validation limits and character rules, and the set operations the
 * series builder relies on (replace, delete, sort, copy, compare).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "labels.h"

static const pyr_label_limits LIM = {30, 1024, 2048};

static void parse_ok(const char *name, pyr_labels *out) {
  char err[256] = "";
  pyr_labels_init(out);
  int rc = pyr_ingest_name_parse(name, out, err, sizeof(err));
  if (rc != 0)
    fail_msg("'%s' rejected: %s", name, err);
}

static void parse_bad(const char *name, const char *needle) {
  char err[256] = "";
  pyr_labels l;
  pyr_labels_init(&l);
  int rc = pyr_ingest_name_parse(name, &l, err, sizeof(err));
  pyr_labels_free(&l);
  if (rc != -1)
    fail_msg("'%s' accepted", name);
  if (strstr(err, needle) == NULL)
    fail_msg("'%s': error '%s' lacks '%s'", name, err, needle);
}

static void test_name_basic(void **state) {
  (void)state;
  pyr_labels l;
  parse_ok("myapp", &l);
  assert_int_equal(l.n, 1);
  assert_string_equal(pyr_labels_get(&l, "__name__"), "myapp");
  pyr_labels_free(&l);

  parse_ok("my-app.cpu{env=prod,region=eu-west-1}", &l);
  assert_int_equal(l.n, 3);
  assert_string_equal(pyr_labels_get(&l, "__name__"), "my-app.cpu");
  assert_string_equal(pyr_labels_get(&l, "env"), "prod");
  assert_string_equal(pyr_labels_get(&l, "region"), "eu-west-1");
  pyr_labels_free(&l);

  /* Blanks trimmed around names and values; values are raw text. */
  parse_ok("  app/x_1 { k = v w ,otel.scope.name=com.grafana.pyroscope/java }",
           &l);
  assert_string_equal(pyr_labels_get(&l, "__name__"), "app/x_1");
  assert_string_equal(pyr_labels_get(&l, "k"), "v w");
  assert_string_equal(pyr_labels_get(&l, "otel.scope.name"),
                      "com.grafana.pyroscope/java");
  pyr_labels_free(&l);

  /* Empty braces, empty value, duplicate key (the last wins). */
  parse_ok("app{}", &l);
  assert_int_equal(l.n, 1);
  pyr_labels_free(&l);
  parse_ok("app{a=,b=1,b=2}", &l);
  assert_string_equal(pyr_labels_get(&l, "a"), "");
  assert_string_equal(pyr_labels_get(&l, "b"), "2");
  pyr_labels_free(&l);
}

static void test_name_quirks(void **state) {
  (void)state;
  pyr_labels l;
  /* Text after the closing brace is ignored; an unterminated last pair is
   * dropped; pairs after a '}' inside are still read (Pyroscope's state
   * machine goes back to keys after a value). */
  parse_ok("app{a=1}trailing", &l);
  assert_int_equal(l.n, 2);
  pyr_labels_free(&l);
  parse_ok("app{a=1,b=2", &l);
  assert_non_null(pyr_labels_get(&l, "a"));
  assert_null(pyr_labels_get(&l, "b"));
  pyr_labels_free(&l);
  parse_ok("app{a=1}c=3}", &l);
  assert_string_equal(pyr_labels_get(&l, "c"), "3");
  pyr_labels_free(&l);
  /* Non-ASCII values pass through. */
  parse_ok("app{k=\xc3\xa9t\xc3\xa9}", &l);
  assert_string_equal(pyr_labels_get(&l, "k"), "\xc3\xa9t\xc3\xa9");
  pyr_labels_free(&l);
}

static void test_name_errors(void **state) {
  (void)state;
  parse_bad("", "service name is required");
  parse_bad("{a=b}", "service name is required");
  parse_bad("   {a=b}", "service name is required");
  parse_bad("my app{}", "invalid service name");
  parse_bad("app!{}", "invalid service name");
  parse_bad("app{=v}", "label name is required");
  parse_bad("app{a b=v}", "invalid label name");
  parse_bad("app{a-b=v}", "invalid label name");
  parse_bad("app{a=1,,b=2}", "invalid label name"); /* key ",b" */
  parse_bad("\xc3\xa9{}", "invalid service name");
}

static void test_validate(void **state) {
  (void)state;
  char err[256];
  pyr_labels l;
  pyr_labels_init(&l);
  assert_int_equal(pyr_labels_put_str(&l, "__name__", "process_cpu"), 0);
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "service_name"));
  assert_int_equal(pyr_labels_put_str(&l, "service_name", "app"), 0);
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), 0);

  /* Private labels do not count; 30 user-visible ones are fine, 31 not. */
  pyr_labels_put_str(&l, "__profile_type__", "x");
  pyr_labels_put_str(&l, "__type__", "x");
  for (int i = 0; i < 28; i++) {
    char k[16];
    snprintf(k, sizeof(k), "k%d", i);
    pyr_labels_put_str(&l, k, "v");
  }
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), 0);
  pyr_labels_put_str(&l, "one_more", "v");
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "too many labels: 31, limit 30"));
  pyr_labels_free(&l);

  /* Name and value lengths at and past the limits. */
  static char name[1100], value[2100];
  memset(name, 'n', 1024);
  name[1024] = '\0';
  memset(value, 'v', 2048);
  value[2048] = '\0';
  pyr_labels_init(&l);
  pyr_labels_put_str(&l, "service_name", "app");
  pyr_labels_put_str(&l, name, value);
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), 0);
  pyr_labels_free(&l);
  name[1024] = 'n';
  name[1025] = '\0';
  pyr_labels_init(&l);
  pyr_labels_put_str(&l, "service_name", "app");
  pyr_labels_put_str(&l, name, "v");
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "label name too long"));
  pyr_labels_free(&l);
  value[2048] = 'v';
  value[2049] = '\0';
  pyr_labels_init(&l);
  pyr_labels_put_str(&l, "service_name", "app");
  pyr_labels_put_str(&l, "k", value);
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "label value too long"));
  pyr_labels_free(&l);

  /* Characters. */
  static const char *const bad_names[] = {"1abc", "a-b", "a b", "\xc3\xa9"};
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
    pyr_labels_init(&l);
    pyr_labels_put_str(&l, "service_name", "app");
    pyr_labels_put_str(&l, bad_names[i], "v");
    assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid label name"));
    pyr_labels_free(&l);
  }
  pyr_labels_init(&l);
  pyr_labels_put_str(&l, "service_name", "app");
  pyr_labels_put_str(&l, "otel.scope.name", "ok");
  pyr_labels_put_str(&l, "_x", "ok");
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), 0);
  pyr_labels_put_str(&l, "bad_utf8", "\xff\xfe");
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "not UTF-8"));
  pyr_labels_free(&l);
  pyr_labels_init(&l);
  pyr_labels_put_str(&l, "service_name", "app");
  pyr_labels_put_str(&l, "__name__", "bad-metric");
  assert_int_equal(pyr_labels_validate(&l, &LIM, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "invalid metric name"));
  pyr_labels_free(&l);
}

static void test_set_ops(void **state) {
  (void)state;
  pyr_labels a, b;
  pyr_labels_init(&a);
  pyr_labels_put_str(&a, "z", "1");
  pyr_labels_put_str(&a, "a", "2");
  pyr_labels_put_str(&a, "m", "3");
  pyr_labels_put_str(&a, "a", "4"); /* replace */
  assert_int_equal(a.n, 3);
  assert_int_equal(pyr_labels_put_missing(&a, "a", "5"), 0);
  assert_string_equal(pyr_labels_get(&a, "a"), "4");
  pyr_labels_sort(&a);
  assert_string_equal(a.v[0].name, "a");
  assert_string_equal(a.v[1].name, "m");
  assert_string_equal(a.v[2].name, "z");
  assert_int_equal(pyr_labels_copy(&b, &a), 0);
  assert_int_equal(pyr_labels_cmp(&a, &b), 0);
  assert_true(pyr_labels_del(&b, "m"));
  assert_false(pyr_labels_del(&b, "m"));
  assert_true(pyr_labels_cmp(&a, &b) != 0);
  pyr_labels_free(&a);
  pyr_labels_free(&b);
  pyr_labels_free(&b); /* re-inited: safe */

  assert_true(pyr_utf8_ok("abc\xe2\x82\xac", 6));
  assert_false(pyr_utf8_ok("\xc0\xaf", 2));         /* overlong */
  assert_false(pyr_utf8_ok("\xed\xa0\x80", 3));     /* surrogate */
  assert_false(pyr_utf8_ok("\xe2\x82", 2));         /* truncated */
  assert_true(pyr_metric_name_ok("process_cpu", 11));
  assert_false(pyr_metric_name_ok("9x", 2));
  assert_true(pyr_service_name_ok("a.b/c-d_e", 9));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name_basic),  cmocka_unit_test(test_name_quirks),
      cmocka_unit_test(test_name_errors), cmocka_unit_test(test_validate),
      cmocka_unit_test(test_set_ops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
