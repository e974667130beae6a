/*
 * test_cli_flame.c - the CLI's flamebearer decoder and tree queries
 * (cli/flame.c): the §4.2 example, Connect's string-encoded levels,
 * per-function self/total with recursion counted once, duplicate names,
 * malformed input, collapsed output and attribution.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flame.h"

static void decode(const char *json, pyr_cli_flame *f) {
  char err[256] = "";
  int rc = pyr_cli_flame_parse(json, strlen(json), f, err, sizeof(err));
  if (rc != 0)
    fail_msg("decode failed: %s", err);
}

static int decode_fails(const char *json) {
  char err[256] = "";
  pyr_cli_flame f;
  int rc = pyr_cli_flame_parse(json, strlen(json), &f, err, sizeof(err));
  if (rc == 0)
    pyr_cli_flame_free(&f);
  else
    assert_true(err[0] != '\0');
  return rc != 0;
}

static const pyr_cli_func *find(const pyr_cli_func *fs, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(fs[i].name, name) == 0)
      return &fs[i];
  fail_msg("function %s not found", name);
  return NULL;
}

/* Stacks main 2, main;a 3, main;b 5 exactly as Pyroscope encodes them. */
static const char example[] =
    "{\"version\":1,\"flamebearer\":{\"names\":[\"total\",\"main\",\"b\",\"a\"],"
    "\"levels\":[[0,10,0,0],[0,10,2,1],[2,3,3,3,0,5,5,2]],\"numTicks\":10,\"maxSelf\":5},"
    "\"metadata\":{\"units\":\"samples\"}}";

static void test_example(void **state) {
  (void)state;
  pyr_cli_flame f;
  pyr_cli_func *fs;
  size_t n;
  decode(example, &f);
  assert_int_equal(f.total, 10);
  assert_int_equal(f.nnodes, 4);
  assert_int_equal(f.max_depth, 2);
  assert_int_equal(pyr_cli_flame_functions(&f, PYR_CLI_BY_SELF, &fs, &n), 0);
  assert_int_equal(n, 3);
  /* Sorted by self: b 5, a 3, main 2. */
  assert_string_equal(fs[0].name, "b");
  assert_int_equal(fs[0].self, 5);
  assert_int_equal(fs[0].total, 5);
  assert_string_equal(fs[1].name, "a");
  assert_string_equal(fs[2].name, "main");
  assert_int_equal(fs[2].self, 2);
  assert_int_equal(fs[2].total, 10);
  free(fs);
  assert_int_equal(pyr_cli_flame_functions(&f, PYR_CLI_BY_TOTAL, &fs, &n), 0);
  assert_string_equal(fs[0].name, "main");
  free(fs);
  pyr_cli_flame_free(&f);
}

static void test_connect_format(void **state) {
  (void)state;
  pyr_cli_flame f;
  pyr_cli_func *fs;
  size_t n;
  /* SelectMergeStacktraces JSON: int64 as strings, levels as objects. */
  decode("{\"flamegraph\":{\"names\":[\"total\",\"main\"],\"levels\":["
         "{\"values\":[\"0\",\"10\",\"0\",\"0\"]},{\"values\":[\"0\",\"10\",\"10\",\"1\"]}],"
         "\"total\":\"10\",\"maxSelf\":\"10\"}}",
         &f);
  assert_int_equal(f.total, 10);
  assert_int_equal(pyr_cli_flame_functions(&f, PYR_CLI_BY_SELF, &fs, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(fs[0].self, 10);
  free(fs);
  pyr_cli_flame_free(&f);
}

static void test_recursion_counted_once(void **state) {
  (void)state;
  pyr_cli_flame f;
  pyr_cli_func *fs;
  size_t n;
  /* main;f 1 and main;f;f;g 4: f is on every stack, twice on some. */
  decode("{\"flamebearer\":{\"names\":[\"total\",\"main\",\"f\",\"g\"],"
         "\"levels\":[[0,5,0,0],[0,5,0,1],[0,5,1,2],[1,4,0,2],[1,4,4,3]]}}",
         &f);
  assert_int_equal(pyr_cli_flame_functions(&f, PYR_CLI_BY_TOTAL, &fs, &n), 0);
  assert_int_equal(n, 3);
  const pyr_cli_func *ff = find(fs, n, "f");
  assert_int_equal(ff->total, 5); /* not 9 */
  assert_int_equal(ff->self, 1);
  assert_int_equal(find(fs, n, "g")->total, 4);
  assert_int_equal(find(fs, n, "main")->total, 5);
  free(fs);
  pyr_cli_flame_free(&f);

  /* Indirect recursion f -> g -> f: f still counts once per stack. */
  decode("{\"flamebearer\":{\"names\":[\"total\",\"f\",\"g\"],"
         "\"levels\":[[0,7,0,0],[0,7,2,1],[2,5,1,2],[3,4,4,1]]}}",
         &f);
  assert_int_equal(pyr_cli_flame_functions(&f, PYR_CLI_BY_TOTAL, &fs, &n), 0);
  ff = find(fs, n, "f");
  assert_int_equal(ff->total, 7);
  assert_int_equal(ff->self, 6);
  assert_int_equal(find(fs, n, "g")->total, 5);
  free(fs);
  pyr_cli_flame_free(&f);
}

static void test_siblings_in_separate_subtrees(void **state) {
  (void)state;
  pyr_cli_flame f;
  pyr_cli_func *fs;
  size_t n;
  /* a;x 3 and b;x 4: x appears twice but never nested: total 7. */
  decode("{\"flamebearer\":{\"names\":[\"total\",\"a\",\"b\",\"x\"],"
         "\"levels\":[[0,7,0,0],[0,3,0,1,0,4,0,2],[0,3,3,3,0,4,4,3]]}}",
         &f);
  assert_int_equal(pyr_cli_flame_functions(&f, PYR_CLI_BY_SELF, &fs, &n), 0);
  assert_string_equal(fs[0].name, "x");
  assert_int_equal(fs[0].self, 7);
  assert_int_equal(fs[0].total, 7);
  free(fs);
  pyr_cli_flame_free(&f);
}

static void test_duplicate_names_merged(void **state) {
  (void)state;
  pyr_cli_flame f;
  pyr_cli_func *fs;
  size_t n;
  /* A server that does not de-duplicate names: both "a" are one function. */
  decode("{\"flamebearer\":{\"names\":[\"total\",\"a\",\"a\"],"
         "\"levels\":[[0,3,0,0],[0,1,1,1,0,2,2,2]]}}",
         &f);
  assert_int_equal(f.nnames, 2);
  assert_int_equal(pyr_cli_flame_functions(&f, PYR_CLI_BY_SELF, &fs, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(fs[0].self, 3);
  assert_int_equal(fs[0].total, 3);
  free(fs);
  pyr_cli_flame_free(&f);
}

static void test_empty_and_zero(void **state) {
  (void)state;
  pyr_cli_flame f;
  pyr_cli_func *fs;
  size_t n;
  decode("{\"flamebearer\":{\"names\":[\"total\"],\"levels\":[[0,0,0,0]],\"numTicks\":0}}", &f);
  assert_int_equal(f.total, 0);
  assert_int_equal(f.nnodes, 1);
  assert_int_equal(pyr_cli_flame_functions(&f, PYR_CLI_BY_SELF, &fs, &n), 0);
  assert_int_equal(n, 0);
  free(fs);
  pyr_cli_flame_free(&f);
  decode("{}", &f); /* Connect answer without a flamegraph: no data */
  assert_int_equal(f.total, 0);
  pyr_cli_flame_free(&f);
  /* Zero-width nodes are dropped, not an error. */
  decode("{\"flamebearer\":{\"names\":[\"total\",\"a\",\"z\"],"
         "\"levels\":[[0,2,0,0],[0,2,2,1,0,0,0,2]]}}",
         &f);
  assert_int_equal(f.nnodes, 2);
  pyr_cli_flame_free(&f);
}

static void test_malformed(void **state) {
  (void)state;
  assert_true(decode_fails("not json"));
  assert_true(decode_fails("{\"flamebearer\":{\"names\":[1],\"levels\":[]}}"));
  /* A level that is not a list of 4-tuples. */
  assert_true(decode_fails("{\"flamebearer\":{\"names\":[\"total\"],\"levels\":[[0,1,0]]}}"));
  /* Name index out of range. */
  assert_true(decode_fails("{\"flamebearer\":{\"names\":[\"total\"],\"levels\":[[0,1,0,1]]}}"));
  /* self > total. */
  assert_true(decode_fails("{\"flamebearer\":{\"names\":[\"total\"],\"levels\":[[0,1,2,0]]}}"));
  /* A child sticking out of its parent. */
  assert_true(decode_fails("{\"flamebearer\":{\"names\":[\"total\",\"a\"],"
                           "\"levels\":[[0,2,0,0],[1,2,2,1]]}}"));
  /* Two roots. */
  assert_true(decode_fails("{\"flamebearer\":{\"names\":[\"total\"],"
                           "\"levels\":[[0,1,1,0,0,1,1,0]]}}"));
  /* Negative numbers and non-numeric strings. */
  assert_true(decode_fails("{\"flamebearer\":{\"names\":[\"total\"],\"levels\":[[0,-1,0,0]]}}"));
  assert_true(decode_fails("{\"flamegraph\":{\"names\":[\"total\"],"
                           "\"levels\":[{\"values\":[\"0\",\"x\",\"0\",\"0\"]}]}}"));
  /* Offsets that overflow. */
  assert_true(decode_fails("{\"flamebearer\":{\"names\":[\"total\",\"a\"],\"levels\":"
                           "[[0,5,0,0],[18446744073709551615,1,1,1]]}}"));
}

static void test_collapsed(void **state) {
  (void)state;
  pyr_cli_flame f;
  size_t len = 0;
  decode(example, &f);
  char *text = pyr_cli_flame_collapsed(&f, &len);
  assert_non_null(text);
  assert_string_equal(text, "main 2\nmain;a 3\nmain;b 5\n");
  assert_int_equal(len, strlen(text));
  free(text);
  pyr_cli_flame_free(&f);
}

/* ---- attribution ---- */

static bool is_wait(const char *n) { return strcmp(n, "Thread.sleep") == 0; }
static bool is_idle(const char *n) { return strcmp(n, "Pool.getTask") == 0; }
static bool is_app(const char *n) { return strncmp(n, "app/", 4) == 0; }

static void test_attribute(void **state) {
  (void)state;
  pyr_cli_flame f;
  pyr_cli_func *fs;
  size_t n;
  uint64_t sum = 0;
  /* Stacks (wall time):
   *   run;app/Handler.h;java/Io.read;Thread.sleep          4
   *   run;app/Handler.h;Thread.sleep;Thread.sleep          2  (nested wait)
   *   run;Pool.getTask;Thread.sleep                        8  (idle)
   *   run;app/Worker.w                                     3  (on CPU) */
  decode("{\"flamebearer\":{\"names\":[\"total\",\"run\",\"app/Handler.h\",\"java/Io.read\","
         "\"Thread.sleep\",\"Pool.getTask\",\"app/Worker.w\"],"
         "\"levels\":[[0,17,0,0],[0,17,0,1],"
         "[0,6,0,2,0,8,0,5,0,3,3,6],"
         "[0,4,0,3,0,2,0,4,0,8,8,4],"
         "[0,4,4,4,0,2,2,4]]}}",
         &f);
  assert_int_equal(f.total, 17);
  assert_int_equal(pyr_cli_flame_attribute(&f, is_wait, is_idle, is_app, &sum, &fs, &n), 0);
  assert_int_equal(sum, 6); /* 4 + 2; nested sleep once; idle 8 left out */
  assert_int_equal(n, 1);
  assert_string_equal(fs[0].name, "app/Handler.h");
  assert_int_equal(fs[0].self, 6);
  free(fs);
  /* Without an exclusion the idle sleep counts, credited to itself (no
   * app frame above it). */
  assert_int_equal(pyr_cli_flame_attribute(&f, is_wait, NULL, is_app, &sum, &fs, &n), 0);
  assert_int_equal(sum, 14);
  assert_string_equal(fs[0].name, "Thread.sleep");
  assert_int_equal(fs[0].self, 8);
  free(fs);
  /* Self mode: every sample's self, idle excluded, by nearest app frame. */
  assert_int_equal(pyr_cli_flame_attribute(&f, NULL, is_idle, is_app, &sum, &fs, &n), 0);
  assert_int_equal(sum, 9);
  assert_string_equal(fs[0].name, "app/Handler.h");
  assert_int_equal(fs[0].self, 6);
  assert_string_equal(fs[1].name, "app/Worker.w");
  free(fs);
  /* Sum only. */
  assert_int_equal(pyr_cli_flame_attribute(&f, NULL, NULL, NULL, &sum, NULL, NULL), 0);
  assert_int_equal(sum, 17);
  pyr_cli_flame_free(&f);
}

static void test_deep_stack(void **state) {
  (void)state;
  /* 5000 frames deep: the walks are iterative, and recursion of one name
   * through all of them still counts its total once. */
  enum { DEPTH = 5000 };
  char *json = malloc(DEPTH * 16 + 256), *p = json;
  pyr_cli_flame f;
  pyr_cli_func *fs;
  size_t n;
  p += sprintf(p, "{\"flamebearer\":{\"names\":[\"total\",\"r\"],\"levels\":[[0,1,0,0]");
  for (int d = 1; d <= DEPTH; d++)
    p += sprintf(p, ",[0,1,%d,1]", d == DEPTH);
  sprintf(p, "]}}");
  decode(json, &f);
  assert_int_equal(f.max_depth, DEPTH);
  assert_int_equal(pyr_cli_flame_functions(&f, PYR_CLI_BY_SELF, &fs, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(fs[0].total, 1);
  assert_int_equal(fs[0].self, 1);
  free(fs);
  pyr_cli_flame_free(&f);
  free(json);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_example),
      cmocka_unit_test(test_connect_format),
      cmocka_unit_test(test_recursion_counted_once),
      cmocka_unit_test(test_siblings_in_separate_subtrees),
      cmocka_unit_test(test_duplicate_names_merged),
      cmocka_unit_test(test_empty_and_zero),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_collapsed),
      cmocka_unit_test(test_attribute),
      cmocka_unit_test(test_deep_stack),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
