/*
 * test_cli_html.c - `pyrite render`'s HTML page (cli/html.c): frame names
 * embedded as JSON cannot close the <script> block or open a comment,
 * titles are entity-escaped, the escaped JSON still parses back to the
 * original names, and the page needs no network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flame.h"
#include "html.h"

static const char evil[] = "</script><script>alert(1)</script><!--&\xe2\x80\xa8";

static void test_json_for_script(void **state) {
  (void)state;
  json_t *v = json_pack("{s:[s, s]}", "names", evil, "x\"y\\z");
  char *s = pyr_cli_json_for_script(v);
  assert_non_null(s);
  assert_null(strchr(s, '<'));
  assert_null(strchr(s, '>'));
  assert_null(strchr(s, '&'));
  assert_non_null(strstr(s, "\\u003c/script\\u003e"));
  assert_non_null(strstr(s, "\\u2028")); /* ASCII-only: JS line separator escaped */
  /* Still JSON, and it decodes back to the same strings. */
  json_t *back = json_loads(s, 0, NULL);
  assert_non_null(back);
  assert_string_equal(json_string_value(json_array_get(json_object_get(back, "names"), 0)), evil);
  assert_string_equal(json_string_value(json_array_get(json_object_get(back, "names"), 1)),
                      "x\"y\\z");
  json_decref(back);
  json_decref(v);
  free(s);
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

static void test_page(void **state) {
  (void)state;
  char err[256];
  pyr_cli_flame f;
  json_t *fb = json_pack("{s:[s, s, s], s:[[i,i,i,i], [i,i,i,i], [i,i,i,i]]}", "names",
                         "total", evil, "com/example/Main.main", "levels", 0, 10, 0, 0, 0,
                         10, 4, 2, 4, 6, 6, 1);
  assert_int_equal(pyr_cli_flame_from_json(fb, &f, err, sizeof(err)), 0);
  json_decref(fb);

  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  assert_int_equal(pyr_cli_html_write(out, &f, "app<b> - cpu", "{service_name=\"a\"}",
                                      PYR_CLI_UNIT_NANOS), 0);
  fclose(out);
  /* Exactly the page's own two script blocks close. */
  assert_int_equal(count(buf, "</script>"), 2);
  assert_int_equal(count(buf, "<script"), 2);
  assert_null(strstr(buf, "alert(1)</"));
  assert_null(strstr(buf, "<!--"));
  assert_non_null(strstr(buf, "app&lt;b&gt; - cpu"));
  assert_non_null(strstr(buf, "{service_name=&quot;a&quot;}"));
  assert_non_null(strstr(buf, "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)"));
  assert_non_null(strstr(buf, "com/example/Main.main"));
  /* Standalone: nothing is loaded from anywhere. */
  assert_null(strstr(buf, "http://"));
  assert_null(strstr(buf, "https://"));
  assert_null(strstr(buf, " src="));
  assert_null(strstr(buf, "innerHTML"));

  /* The data block parses and carries the tree. */
  const char *start = strstr(buf, "id=\"pyrite-data\">");
  assert_non_null(start);
  start += strlen("id=\"pyrite-data\">");
  const char *end = strstr(start, "</script>");
  json_t *data = json_loadb(start, (size_t)(end - start), 0, NULL);
  assert_non_null(data);
  assert_int_equal(json_integer_value(json_object_get(data, "total")), 10);
  assert_string_equal(json_string_value(json_object_get(data, "unit")), "nanoseconds");
  assert_int_equal(json_array_size(json_object_get(data, "nodes")), 3 * 5);
  json_t *top = json_array_get(json_object_get(data, "top"), 0);
  assert_string_equal(json_string_value(json_array_get(top, 0)), evil);
  json_decref(data);
  free(buf);
  pyr_cli_flame_free(&f);
}

static void test_html_escape(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  pyr_cli_html_escape(out, "<a href='x'>&\"</a>");
  fclose(out);
  assert_string_equal(buf, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_for_script),
      cmocka_unit_test(test_page),
      cmocka_unit_test(test_html_escape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
