/*
 * test_query_selector.c - label selectors, profile type ids and render
 * queries (server/selector.c): the Prometheus matcher syntax with all four
 * operators, quoting and Go escapes, fully anchored regexes, the "missing
 * label is empty" rule, private labels, bounds, and error messages that
 * name the problem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "selector.h"

static void parse_ok(const char *s, pyr_selector *out) {
  char err[256] = "";
  pyr_selector_init(out);
  int rc = pyr_selector_parse(s, strlen(s), out, err, sizeof(err));
  if (rc != 0)
    fail_msg("'%s' rejected: %s", s, err);
}

static void parse_bad(const char *s, const char *needle) {
  char err[256] = "";
  pyr_selector sel;
  pyr_selector_init(&sel);
  int rc = pyr_selector_parse(s, strlen(s), &sel, err, sizeof(err));
  pyr_selector_free(&sel);
  if (rc != -1)
    fail_msg("'%s' accepted", s);
  if (strstr(err, needle) == NULL)
    fail_msg("'%s': error '%s' lacks '%s'", s, err, needle);
}

/* Labels sorted by name, as the store hands them out. */
static const pyr_store_label L[] = {
    {"__name__", "process_cpu"},
    {"__profile_type__", "process_cpu:cpu:nanoseconds:cpu:nanoseconds"},
    {"env", "prod"},
    {"region", "eu-west-1"},
    {"service_name", "orders"},
};
#define NL (sizeof(L) / sizeof(L[0]))

static bool matches(const char *s) {
  pyr_selector sel;
  parse_ok(s, &sel);
  bool m = pyr_selector_match(&sel, L, NL);
  pyr_selector_free(&sel);
  return m;
}

static void test_parse_forms(void **state) {
  (void)state;
  pyr_selector sel;
  parse_ok("", &sel);
  assert_int_equal(sel.n, 0);
  pyr_selector_free(&sel);
  parse_ok("  {}  ", &sel);
  assert_int_equal(sel.n, 0);
  pyr_selector_free(&sel);
  parse_ok("{a=\"x\", b!=\"y\", c=~\"re.*\", d!~'re', e=`raw\\n`,}", &sel);
  assert_int_equal(sel.n, 5);
  assert_string_equal(sel.m[0].name, "a");
  assert_int_equal(sel.m[0].op, PYR_MATCH_EQ);
  assert_string_equal(sel.m[0].value, "x");
  assert_int_equal(sel.m[1].op, PYR_MATCH_NEQ);
  assert_int_equal(sel.m[2].op, PYR_MATCH_RE);
  assert_int_equal(sel.m[3].op, PYR_MATCH_NRE);
  assert_string_equal(sel.m[3].value, "re");
  assert_string_equal(sel.m[4].value, "raw\\n"); /* backquotes are raw */
  pyr_selector_free(&sel);
  /* whitespace everywhere, dotted and quoted names, private labels */
  parse_ok("{ service.name = \"a\" ,\n\"odd name\"=\"b\", __profile_type__ =~ \"process_cpu:.*\" }",
           &sel);
  assert_int_equal(sel.n, 3);
  assert_string_equal(sel.m[0].name, "service.name");
  assert_string_equal(sel.m[1].name, "odd name");
  assert_string_equal(sel.m[2].name, "__profile_type__");
  pyr_selector_free(&sel);
}

static void test_escapes(void **state) {
  (void)state;
  pyr_selector sel;
  parse_ok("{a=\"q\\\"uote\", b=\"back\\\\slash\", c=\"\\t\\n\", d=\"\\x41\\101\\u00e9\\U0001F600\","
           " e='it\\'s'}",
           &sel);
  assert_string_equal(sel.m[0].value, "q\"uote");
  assert_string_equal(sel.m[1].value, "back\\slash");
  assert_string_equal(sel.m[2].value, "\t\n");
  assert_string_equal(sel.m[3].value, "AA\xc3\xa9\xf0\x9f\x98\x80");
  assert_string_equal(sel.m[4].value, "it's");
  pyr_selector_free(&sel);
  parse_bad("{a=\"\\q\"}", "invalid escape");
  parse_bad("{a=\"\\'\"}", "invalid escape");  /* \' only inside '...' */
  parse_bad("{a=\"\\u12\"}", "invalid escape");
  parse_bad("{a=\"\\ud800\"}", "invalid escape"); /* surrogate */
  parse_bad("{a=\"\\400\"}", "invalid escape");   /* octal > 255 */
}

static void test_errors(void **state) {
  (void)state;
  parse_bad("a=\"x\"", "must look like");
  parse_bad("{a=\"x\"", "missing '}'");
  parse_bad("{a=\"x\" b=\"y\"}", "expected ',' or '}'");
  parse_bad("{a=x}", "must be a quoted string");
  parse_bad("{a==\"x\"}", "must be a quoted string");
  parse_bad("{a~\"x\"}", "expected '=', '!=', '=~' or '!~'");
  parse_bad("{=\"x\"}", "expected a label name");
  parse_bad("{1a=\"x\"}", "expected a label name");
  parse_bad("{\"\"=\"x\"}", "empty label name");
  parse_bad("{a=\"unterminated}", "unterminated label value");
  parse_bad("{a=\"x\"} trailing", "unexpected text after '}'");
  parse_bad("{a=~\"(\"}", "bad regex for a");
  parse_bad("{a=~\"[z-a]\"}", "bad regex for a");
  /* bounds */
  char *big = malloc(PYR_SELECTOR_MAX_LEN + 10);
  memset(big, ' ', PYR_SELECTOR_MAX_LEN + 9);
  big[0] = '{';
  big[PYR_SELECTOR_MAX_LEN + 8] = '}';
  big[PYR_SELECTOR_MAX_LEN + 9] = '\0';
  parse_bad(big, "too long");
  free(big);
  char many[PYR_SELECTOR_MAX_MATCHERS * 8 + 16];
  size_t n = 0;
  many[n++] = '{';
  for (int i = 0; i <= PYR_SELECTOR_MAX_MATCHERS; i++)
    n += (size_t)snprintf(many + n, sizeof(many) - n, "a%d=\"\",", i);
  many[n++] = '}';
  many[n] = '\0';
  parse_bad(many, "more than");
}

static void test_match(void **state) {
  (void)state;
  assert_true(matches("{}"));
  assert_true(matches("{service_name=\"orders\"}"));
  assert_false(matches("{service_name=\"order\"}"));
  assert_true(matches("{service_name!=\"billing\"}"));
  assert_false(matches("{service_name!=\"orders\"}"));
  /* regexes are anchored at both ends */
  assert_true(matches("{service_name=~\"ord.*\"}"));
  assert_false(matches("{service_name=~\"ord\"}"));
  assert_false(matches("{service_name=~\"rders\"}"));
  assert_true(matches("{service_name=~\"orders|billing\"}"));
  assert_true(matches("{region=~\"eu-.*-1\"}"));
  assert_false(matches("{service_name!~\"or.*\"}"));
  assert_true(matches("{service_name!~\"bill.*\"}"));
  /* a missing label is "" */
  assert_true(matches("{missing=\"\"}"));
  assert_false(matches("{env=\"\"}"));
  assert_true(matches("{env!=\"\"}"));
  assert_false(matches("{missing!=\"\"}"));
  assert_true(matches("{missing=~\".*\"}"));
  assert_true(matches("{missing!~\".+\"}"));
  assert_false(matches("{missing=~\".+\"}"));
  /* all matchers must hold; private labels work like any other */
  assert_true(matches("{__name__=\"process_cpu\", env=~\"prod|dev\", service_name=\"orders\"}"));
  assert_false(matches("{__name__=\"process_cpu\", env=\"dev\"}"));
  assert_true(matches("{__profile_type__=~\"process_cpu:.*\"}"));
  /* dot matches newlines too (Prometheus uses (?s)) */
  static const pyr_store_label nl[] = {{"a", "x\ny"}};
  pyr_selector sel;
  parse_ok("{a=~\"x.y\"}", &sel);
  assert_true(pyr_selector_match(&sel, nl, 1));
  pyr_selector_free(&sel);
  /* catastrophic patterns hit the match limit and simply do not match */
  static const pyr_store_label slow[] = {
      {"a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}};
  parse_ok("{a=~\"(a|aa)+(a|aa)+(a|aa)+(a|aa)+b\"}", &sel);
  assert_false(pyr_selector_match(&sel, slow, 1));
  pyr_selector_free(&sel);
  assert_string_equal(pyr_series_label(L, NL, "env"), "prod");
  assert_null(pyr_series_label(L, NL, "nope"));
}

static void type_bad(const char *s, const char *needle) {
  pyr_profile_type pt;
  char err[256] = "";
  if (pyr_profile_type_parse(s, strlen(s), &pt, err, sizeof(err)) != -1)
    fail_msg("'%s' accepted", s);
  if (strstr(err, needle) == NULL)
    fail_msg("'%s': error '%s' lacks '%s'", s, err, needle);
}

static void test_profile_type(void **state) {
  (void)state;
  pyr_profile_type pt;
  char err[256];
  const char *id = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
  assert_int_equal(pyr_profile_type_parse(id, strlen(id), &pt, err, sizeof(err)), 0);
  assert_string_equal(pt.id, id);
  assert_string_equal(pt.name, "process_cpu");
  assert_string_equal(pt.sample_type, "cpu");
  assert_string_equal(pt.sample_unit, "nanoseconds");
  assert_string_equal(pt.period_type, "cpu");
  assert_string_equal(pt.period_unit, "nanoseconds");
  /* a sixth part is tolerated and dropped from the id */
  const char *six = "memory:alloc_in_new_tlab_bytes:bytes:space:bytes:delta";
  assert_int_equal(pyr_profile_type_parse(six, strlen(six), &pt, err, sizeof(err)), 0);
  assert_string_equal(pt.id, "memory:alloc_in_new_tlab_bytes:bytes:space:bytes");
  /* empty period parts are fine */
  const char *legacy = " memory:alloc_in_new_tlab_bytes:bytes:: ";
  assert_int_equal(pyr_profile_type_parse(legacy, strlen(legacy), &pt, err, sizeof(err)), 0);
  assert_string_equal(pt.id, "memory:alloc_in_new_tlab_bytes:bytes::");
  assert_string_equal(pt.period_type, "");
  type_bad("app.cpu", "must be name:sample_type:sample_unit:period_type:period_unit");
  type_bad("a:b:c:d", "must be");
  type_bad("a:b:c:d:e:f:g", "must be");
  type_bad(":cpu:nanoseconds:cpu:nanoseconds", "must not be empty");
  type_bad("", "missing profile type");
}

static void test_query(void **state) {
  (void)state;
  pyr_profile_type pt;
  pyr_selector sel;
  char err[256];
  pyr_selector_init(&sel);
  assert_int_equal(pyr_query_parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"x\"}",
                                   &pt, &sel, err, sizeof(err)),
                   0);
  assert_string_equal(pt.id, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  assert_int_equal(sel.n, 1);
  pyr_selector_free(&sel);
  /* no braces: the whole query is the type */
  assert_int_equal(pyr_query_parse("wall:wall:nanoseconds:wall:nanoseconds", &pt, &sel, err,
                                   sizeof(err)),
                   0);
  assert_string_equal(pt.name, "wall");
  assert_int_equal(sel.n, 0);
  pyr_selector_free(&sel);
  /* the Prometheus way: {__name__="<type>", ...}; the matcher is consumed */
  assert_int_equal(pyr_query_parse("{env=\"a\", __name__=\"mutex:delay:nanoseconds:mutex:count\"}",
                                   &pt, &sel, err, sizeof(err)),
                   0);
  assert_string_equal(pt.id, "mutex:delay:nanoseconds:mutex:count");
  assert_int_equal(sel.n, 1);
  assert_string_equal(sel.m[0].name, "env");
  pyr_selector_free(&sel);
  /* errors */
  assert_int_equal(pyr_query_parse("", &pt, &sel, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "missing query"));
  pyr_selector_free(&sel);
  assert_int_equal(pyr_query_parse("myapp.cpu{}", &pt, &sel, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "must be name:sample_type"));
  pyr_selector_free(&sel);
  assert_int_equal(pyr_query_parse("{service_name=\"x\"}", &pt, &sel, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "names no profile type"));
  pyr_selector_free(&sel);
  assert_int_equal(pyr_query_parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds{a=}", &pt, &sel,
                                   err, sizeof(err)),
                   -1);
  assert_non_null(strstr(err, "quoted string"));
  pyr_selector_free(&sel);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_forms),  cmocka_unit_test(test_escapes),
      cmocka_unit_test(test_errors),       cmocka_unit_test(test_match),
      cmocka_unit_test(test_profile_type), cmocka_unit_test(test_query),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
