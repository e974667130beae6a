/*
 * test_ingest_folded.c - the legacy text formats (server/folded.c): folded
 * lines split at the last space, "lines" counting 1 each, CRLF, skipped
 * and rejected lines, value scaling, and the app-name suffix table that
 * picks the profile type (cpu/wall periods, "::" ids for the rest).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "folded.h"
#include "profile.h"

static pyr_prof *new_prof(void) {
  pyr_prof_type t;
  memset(&t, 0, sizeof(t));
  strcpy(t.name, "process_cpu");
  t.nvalues = 1;
  strcpy(t.sample_type[0], "cpu");
  strcpy(t.sample_unit[0], "nanoseconds");
  pyr_prof *p = pyr_prof_new(&t, &pyr_prof_default_limits);
  assert_non_null(p);
  return p;
}

/* "a;b;c v" for the sample whose stack renders as `stack`, or -1. */
static int64_t value_of(const pyr_prof *p, const char *stack) {
  for (size_t i = 0; i < pyr_prof_nsamples(p); i++) {
    const uint32_t *locs;
    uint32_t n, ls;
    const int64_t *v;
    char buf[1024];
    size_t off = 0;
    pyr_prof_sample(p, i, &locs, &n, &ls, &v);
    for (uint32_t j = 0; j < n; j++) {
      uint32_t name;
      int64_t line;
      size_t len;
      pyr_prof_loc(p, locs[j], &name, &line);
      const char *s = pyr_prof_str(p, name, &len);
      off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%.*s",
                              j ? ";" : "", (int)len, s);
    }
    if (strcmp(buf, stack) == 0)
      return v[0];
  }
  return -1;
}

static void test_folded(void **state) {
  (void)state;
  const char *text = "main;work;leaf 3\r\n"
                     "main;work 2\n"
                     "\n"
                     "main;work;leaf 4\n"       /* summed with line 1 */
                     "frame with spaces;x y 5\n" /* split at the LAST space */
                     "no_count_line\n"           /* skipped, like Pyroscope */
                     "main;zero 0\n"             /* zero: nothing added */
                     "main;plus +7";             /* no final newline */
  pyr_prof *p = new_prof();
  char err[256] = "";
  size_t n = 0;
  assert_int_equal(pyr_folded_parse(text, strlen(text), false, 10, p, &n, err,
                                    sizeof(err)), 0);
  assert_int_equal(n, 5);
  assert_int_equal(pyr_prof_nsamples(p), 4);
  assert_int_equal(value_of(p, "main;work;leaf"), 70);
  assert_int_equal(value_of(p, "main;work"), 20);
  assert_int_equal(value_of(p, "frame with spaces;x y"), 50);
  assert_int_equal(value_of(p, "main;plus"), 70);
  assert_int_equal(value_of(p, "main;zero"), -1);
  pyr_prof_free(p);
}

static void test_lines(void **state) {
  (void)state;
  const char *text = "a;b;c\na;b;c\r\na;b\n\n";
  pyr_prof *p = new_prof();
  char err[256] = "";
  assert_int_equal(pyr_folded_parse(text, strlen(text), true, 1, p, NULL, err,
                                    sizeof(err)), 0);
  assert_int_equal(value_of(p, "a;b;c"), 2);
  assert_int_equal(value_of(p, "a;b"), 1);
  pyr_prof_free(p);
}

static void test_folded_errors(void **state) {
  (void)state;
  static const char *const bad[] = {"a;b 12x\n", "a;b -3\n", "a;b \n",
                                    "a;b 99999999999999999999\n"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    pyr_prof *p = new_prof();
    char err[256] = "";
    assert_int_equal(pyr_folded_parse(bad[i], strlen(bad[i]), false, 1, p, NULL,
                                      err, sizeof(err)),
                     PYR_PROF_EINVAL);
    assert_non_null(strstr(err, "line 1"));
    pyr_prof_free(p);
  }
  /* count x scale overflow */
  pyr_prof *p = new_prof();
  char err[256] = "";
  const char *t = "a 9223372036854775807\n";
  assert_int_equal(pyr_folded_parse(t, strlen(t), false, 2, p, NULL, err,
                                    sizeof(err)),
                   PYR_PROF_EINVAL);
  pyr_prof_free(p);
  /* The profile's limits apply (stack depth). */
  pyr_prof_limits lim = pyr_prof_default_limits;
  lim.max_stack_depth = 2;
  pyr_prof_type ty;
  memset(&ty, 0, sizeof(ty));
  strcpy(ty.name, "x");
  ty.nvalues = 1;
  p = pyr_prof_new(&ty, &lim);
  t = "a;b;c 1\n";
  assert_int_equal(pyr_folded_parse(t, strlen(t), false, 1, p, NULL, err,
                                    sizeof(err)),
                   PYR_PROF_ELIMIT);
  pyr_prof_free(p);
}

static void test_legacy_types(void **state) {
  (void)state;
  pyr_prof_type t;
  size_t n;
  char err[256], id[256];

  assert_int_equal(pyr_legacy_type("myapp", &n, 100, &t, err, sizeof(err)), 0);
  assert_int_equal(n, 5);
  pyr_prof_type_id(&t, 0, id, sizeof(id));
  assert_string_equal(id, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  assert_int_equal(t.period, 10000000);

  assert_int_equal(pyr_legacy_type("my.app.cpu", &n, 250, &t, err, sizeof(err)), 0);
  assert_int_equal(n, 6); /* "my.app" */
  assert_int_equal(t.period, 4000000);

  assert_int_equal(pyr_legacy_type("a.itimer", &n, 100, &t, err, sizeof(err)), 0);
  assert_string_equal(t.name, "process_cpu");

  /* wall: period type is cpu (a Pyroscope quirk). */
  assert_int_equal(pyr_legacy_type("a.wall", &n, 100, &t, err, sizeof(err)), 0);
  pyr_prof_type_id(&t, 0, id, sizeof(id));
  assert_string_equal(id, "wall:wall:nanoseconds:cpu:nanoseconds");

  /* sampleRate 0: no scaling, samples/count. */
  assert_int_equal(pyr_legacy_type("a.cpu", &n, 0, &t, err, sizeof(err)), 0);
  pyr_prof_type_id(&t, 0, id, sizeof(id));
  assert_string_equal(id, "process_cpu:samples:count::");

  struct {
    const char *app, *id;
  } cases[] = {
      {"a.alloc_in_new_tlab_bytes", "memory:alloc_in_new_tlab_bytes:bytes::"},
      {"a.alloc_in_new_tlab_objects", "memory:alloc_in_new_tlab_objects:count::"},
      {"a.alloc_outside_tlab_bytes", "memory:alloc_outside_tlab_bytes:bytes::"},
      {"a.lock_count", "block:contentions:count::"},
      {"a.lock_duration", "block:delay:nanoseconds::"},
      {"a.mutex_count", "mutex:contentions:count::"},
      {"a.mutex_duration", "mutex:delay:nanoseconds::"},
      {"a.block_count", "block:contentions:count::"},
      {"a.inuse_space", "memory:inuse_space:bytes::"},
      {"a.alloc_objects", "memory:alloc_objects:count::"},
      {"a.goroutines", "goroutine:goroutines:count::"},
      {"a.live", "memory:live:count::"},
      {"a.exceptions", "exceptions:samples:count::"},
      {"a.bytes", "memory:samples:bytes::"},
      {"a.seconds", "wall:wall:nanoseconds:cpu:nanoseconds"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(pyr_legacy_type(cases[i].app, &n, 100, &t, err,
                                     sizeof(err)), 0);
    pyr_prof_type_id(&t, 0, id, sizeof(id));
    if (strcmp(id, cases[i].id) != 0)
      fail_msg("%s -> %s, want %s", cases[i].app, id, cases[i].id);
    assert_int_equal(n, 1);
  }

  assert_int_equal(pyr_legacy_type("my.app", &n, 100, &t, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "unknown profile type: 'app'"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_folded),
      cmocka_unit_test(test_lines),
      cmocka_unit_test(test_folded_errors),
      cmocka_unit_test(test_legacy_types),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
