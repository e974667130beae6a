/* Unit tests for agent/options.c: defaults, each key, units, precedence of
 * option string > PYRITE_* > PYROSCOPE_*, and every error path naming the
 * offending key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "log.h"
#include "options.h"

#include <stdio.h>
#include <string.h>

static const char *fake_env[32][2];

static const char *env(const char *name) {
  for (int i = 0; fake_env[i][0]; i++)
    if (strcmp(fake_env[i][0], name) == 0)
      return fake_env[i][1];
  return NULL;
}

static void set_env(int i, const char *k, const char *v) {
  fake_env[i][0] = k;
  fake_env[i][1] = v;
  fake_env[i + 1][0] = NULL;
}

static int setup(void **state) {
  (void)state;
  fake_env[0][0] = NULL;
  return 0;
}

static void test_defaults(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.event, PYR_ENGINE_ITIMER);
  assert_int_equal(o.interval_ns, 10000000);
  assert_int_equal(o.upload_ns, 10000000000ull);
  assert_int_equal(o.jstackdepth, 2048);
  assert_int_equal(o.log_level, PYR_LOG_WARN);
  assert_int_equal(o.wall_ns, 0);
  assert_int_equal(o.alloc_bytes, 0);
  assert_true(o.lock_ns == PYR_LOCK_OFF);
  assert_null(o.file);
  assert_string_equal(o.app, "java");
  pyr_options_free(&o);
}

static void test_all_keys(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  assert_int_equal(pyr_options_parse(&o,
                                     "event=cpu,interval=5ms,wall=50ms,alloc=512k,lock=10ms,"
                                     "server=http://x:4040,app=orders,label.env=prod,"
                                     "upload=2s,file=/tmp/a.jfr,jstackdepth=64,log=debug",
                                     env, err, sizeof(err)),
                   0);
  assert_int_equal(o.event, PYR_ENGINE_CPU);
  assert_int_equal(o.interval_ns, 5000000);
  assert_int_equal(o.wall_ns, 50000000);
  assert_int_equal(o.alloc_bytes, 524288);
  assert_int_equal(o.lock_ns, 10000000);
  assert_string_equal(o.server, "http://x:4040");
  assert_string_equal(o.app, "orders");
  assert_int_equal(o.nlabels, 1);
  assert_string_equal(o.labels[0].key, "env");
  assert_string_equal(o.labels[0].value, "prod");
  assert_int_equal(o.upload_ns, 2000000000ull);
  assert_string_equal(o.file, "/tmp/a.jfr");
  assert_int_equal(o.jstackdepth, 64);
  assert_int_equal(o.log_level, PYR_LOG_DEBUG);
  pyr_options_free(&o);
}

static void test_units(void **state) {
  uint64_t v;
  (void)state;
  assert_int_equal(pyr_parse_duration("10000000", &v), 0);
  assert_int_equal(v, 10000000);
  assert_int_equal(pyr_parse_duration("250us", &v), 0);
  assert_int_equal(v, 250000);
  assert_int_equal(pyr_parse_duration("2s", &v), 0);
  assert_int_equal(v, 2000000000ull);
  assert_int_equal(pyr_parse_duration("1m", &v), 0);
  assert_int_equal(v, 60000000000ull);
  assert_int_equal(pyr_parse_duration("10 ms", &v), -1);
  assert_int_equal(pyr_parse_duration("ms", &v), -1);
  assert_int_equal(pyr_parse_duration("-5ms", &v), -1);
  assert_int_equal(pyr_parse_duration("99999999999999999999", &v), -1);
  assert_int_equal(pyr_parse_duration("99999999999h", &v), -1); /* overflow */
  assert_int_equal(pyr_parse_bytes("512k", &v), 0);
  assert_int_equal(v, 524288);
  assert_int_equal(pyr_parse_bytes("1M", &v), 0);
  assert_int_equal(v, 1048576);
  assert_int_equal(pyr_parse_bytes("64kb", &v), 0);
  assert_int_equal(v, 65536);
  assert_int_equal(pyr_parse_bytes("1t", &v), -1);
}

static void expect_error(const char *opts, const char *needle) {
  pyr_options o;
  char err[256] = "";
  assert_int_equal(pyr_options_parse(&o, opts, env, err, sizeof(err)), -1);
  if (!strstr(err, needle))
    fail_msg("error for '%s' is '%s', expected it to mention '%s'", opts, err, needle);
  assert_null(strchr(err, '\n')); /* one line */
}

static void test_errors_name_the_key(void **state) {
  (void)state;
  expect_error("bogus=1", "bogus");
  expect_error("interval=abc", "interval");
  expect_error("interval=", "interval");
  expect_error("interval", "interval");
  expect_error("interval=10m", "interval");  /* 10 minutes: out of range */
  expect_error("interval=1us", "interval");  /* too small */
  expect_error("event=perf", "event");
  expect_error("jstackdepth=0", "jstackdepth");
  expect_error("jstackdepth=12x", "jstackdepth");
  expect_error("log=loud", "log");
  expect_error("alloc=2g", "alloc");  /* above 1g */
  expect_error("alloc=-1", "alloc");
  expect_error("event=walls", "event");
  expect_error("server=ftp://x", "server");
  expect_error("label.bad key=v", "bad key");
  expect_error("label.env=a b", "env");
  expect_error("app=my app", "app");
  expect_error("upload=100ms", "upload");
}

/* A mistyped server URL is quoted in the error, but never its password. */
static void test_server_error_hides_credentials(void **state) {
  (void)state;
  pyr_options o;
  char err[256] = "";
  assert_int_equal(pyr_options_parse(&o, "server=htp://bob:s3cret@host:4040", env, err,
                                     sizeof(err)), -1);
  assert_non_null(strstr(err, "host:4040"));
  assert_null(strstr(err, "s3cret"));
  assert_null(strstr(err, "bob"));
}

static void test_precedence(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  set_env(0, "PYROSCOPE_APPLICATION_NAME", "from-pyroscope");
  set_env(1, "PYROSCOPE_PROFILER_EVENT", "cpu");
  set_env(2, "PYRITE_APP", "from-pyrite");
  set_env(3, "PYROSCOPE_LABELS", "region=eu,zone=a");
  set_env(4, "PYROSCOPE_UPLOAD_INTERVAL", "5s");
  assert_int_equal(pyr_options_parse(&o, "event=itimer", env, err, sizeof(err)), 0);
  assert_int_equal(o.event, PYR_ENGINE_ITIMER); /* option beats env */
  assert_string_equal(o.app, "from-pyrite");     /* PYRITE_ beats PYROSCOPE_ */
  assert_int_equal(o.nlabels, 2);
  assert_int_equal(o.upload_ns, 5000000000ull);
  pyr_options_free(&o);
  assert_int_equal(pyr_options_parse(&o, "app=cli", env, err, sizeof(err)), 0);
  assert_string_equal(o.app, "cli");
  pyr_options_free(&o);
}

static void test_bad_env_is_reported_with_its_name(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  set_env(0, "PYROSCOPE_PROFILER_EVENT", "perf");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "PYROSCOPE_PROFILER_EVENT"));
}

static void test_app_with_labels(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  /* Pyroscope's app{k=v} form, through the environment (commas would split
   * an option string). */
  set_env(0, "PYROSCOPE_APPLICATION_NAME", "orders{env=prod,team=pay}");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_string_equal(o.app, "orders");
  assert_int_equal(o.nlabels, 2);
  assert_string_equal(o.labels[1].key, "team");
  assert_string_equal(o.labels[1].value, "pay");
  pyr_options_free(&o);
  set_env(0, "PYROSCOPE_APPLICATION_NAME", "orders{env=prod");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), -1);
}

static void test_empty_items_and_overrides(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  assert_int_equal(pyr_options_parse(&o, ",interval=20ms,,interval=30ms,", env, err,
                                     sizeof(err)), 0);
  assert_int_equal(o.interval_ns, 30000000);
  pyr_options_free(&o);
  assert_int_equal(pyr_options_parse(&o, "", NULL, err, sizeof(err)), 0);
  pyr_options_free(&o);
}

static void test_label_limit(void **state) {
  char opts[4096] = "";
  pyr_options o;
  char err[256];
  (void)state;
  for (int i = 0; i <= PYR_MAX_LABELS; i++) {
    char item[32];
    snprintf(item, sizeof(item), "%slabel.k%d=v", i ? "," : "", i);
    strcat(opts, item);
  }
  assert_int_equal(pyr_options_parse(&o, opts, env, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "too many labels"));
}

static void test_headers_and_enabled(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  set_env(0, "PYROSCOPE_HTTP_HEADERS", "{\"X-A\": \"1\", \"X-B\": \"two\"}");
  set_env(1, "PYROSCOPE_AGENT_ENABLED", "false");
  assert_int_equal(pyr_options_parse(&o, "header.X-C=3", env, err, sizeof(err)), 0);
  assert_int_equal(o.nheaders, 3);
  assert_string_equal(o.headers[0].key, "X-A");
  assert_string_equal(o.headers[1].value, "two");
  assert_string_equal(o.headers[2].key, "X-C");
  assert_int_equal(o.enabled, 0);
  pyr_options_free(&o);
  assert_int_equal(pyr_options_parse(&o, "enabled=true", env, err, sizeof(err)), 0);
  assert_int_equal(o.enabled, 1);
  pyr_options_free(&o);
  expect_error("header.Bad Name=1", "Bad Name");
  expect_error("enabled=maybe", "enabled");
  set_env(0, "PYROSCOPE_HTTP_HEADERS", "[1,2]");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "PYROSCOPE_HTTP_HEADERS"));
  set_env(0, "PYROSCOPE_HTTP_HEADERS", "{\"X-A\": 5}");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), -1);
}

/* The Pyroscope Java agent's interval variable is PYROSCOPE_PROFILING_INTERVAL;
 * the older PYROSCOPE_PROFILER_INTERVAL spelling stays an alias that loses
 * when both are set. */
static void test_pyroscope_interval_names(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  set_env(0, "PYROSCOPE_PROFILING_INTERVAL", "20ms");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.interval_ns, 20000000);
  pyr_options_free(&o);
  set_env(0, "PYROSCOPE_PROFILER_INTERVAL", "5ms");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.interval_ns, 5000000);
  pyr_options_free(&o);
  set_env(0, "PYROSCOPE_PROFILER_INTERVAL", "5ms");
  set_env(1, "PYROSCOPE_PROFILING_INTERVAL", "20ms");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.interval_ns, 20000000);
  pyr_options_free(&o);
  set_env(0, "PYROSCOPE_PROFILING_INTERVAL", "fast");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "PYROSCOPE_PROFILING_INTERVAL"));
}

/* PYROSCOPE_PROFILER_EVENT goes to async-profiler as its main event: wall,
 * alloc and lock profile only that kind, never "profiling disabled". */
static void test_pyroscope_event_modes(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  set_env(0, "PYROSCOPE_PROFILER_EVENT", "wall");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.event, PYR_ENGINE_NONE);
  assert_int_equal(o.wall_ns, 10000000); /* at the profiling interval */
  assert_int_equal(o.alloc_bytes, 0);
  assert_true(o.lock_ns == PYR_LOCK_OFF);
  assert_int_equal(o.enabled, 1);
  pyr_options_free(&o);

  set_env(1, "PYROSCOPE_PROFILING_INTERVAL", "20ms");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.wall_ns, 20000000);
  assert_int_equal(o.interval_ns, 20000000);
  pyr_options_free(&o);
  set_env(1, "PYRITE_WALL", "50ms"); /* an explicit period wins */
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.wall_ns, 50000000);
  pyr_options_free(&o);
  set_env(1, "PYROSCOPE_PROFILING_INTERVAL", "200us"); /* wall's floor is 1 ms */
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.wall_ns, 1000000);
  pyr_options_free(&o);

  set_env(0, "PYROSCOPE_PROFILER_EVENT", "alloc");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.event, PYR_ENGINE_NONE);
  assert_int_equal(o.alloc_bytes, PYR_EVENT_ALLOC_DEFAULT);
  assert_int_equal(o.wall_ns, 0);
  pyr_options_free(&o);
  set_env(1, "PYROSCOPE_PROFILER_ALLOC", "1m");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.alloc_bytes, 1048576);
  pyr_options_free(&o);

  set_env(0, "PYROSCOPE_PROFILER_EVENT", "lock");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.event, PYR_ENGINE_NONE);
  assert_int_equal(o.lock_ns, PYR_EVENT_LOCK_DEFAULT_NS);
  assert_int_equal(o.alloc_bytes, 0);
  pyr_options_free(&o);
  set_env(1, "PYROSCOPE_PROFILER_LOCK", "10ms");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.lock_ns, 10000000);
  pyr_options_free(&o);

  /* A later source choosing a CPU engine cancels the Pyroscope mode. */
  set_env(0, "PYROSCOPE_PROFILER_EVENT", "alloc");
  assert_int_equal(pyr_options_parse(&o, "event=itimer", env, err, sizeof(err)), 0);
  assert_int_equal(o.event, PYR_ENGINE_ITIMER);
  assert_int_equal(o.alloc_bytes, 0);
  pyr_options_free(&o);

  set_env(0, "PYROSCOPE_PROFILER_EVENT", "CPU"); /* -Dpyroscope.profiler.event=CPU */
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.event, PYR_ENGINE_CPU);
  pyr_options_free(&o);
  set_env(0, "PYROSCOPE_PROFILER_EVENT", "ctimer");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.event, PYR_ENGINE_CPU);
  pyr_options_free(&o);
}

/* Pyroscope: empty = off; 0 = every event (its docs warn about the cost). */
static void test_pyroscope_alloc_lock_values(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  set_env(0, "PYROSCOPE_PROFILER_ALLOC", "");
  set_env(1, "PYROSCOPE_PROFILER_LOCK", "");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.alloc_bytes, 0);
  assert_true(o.lock_ns == PYR_LOCK_OFF);
  assert_int_equal(o.event, PYR_ENGINE_ITIMER); /* CPU profiling untouched */
  pyr_options_free(&o);
  set_env(0, "PYROSCOPE_PROFILER_ALLOC", "0");
  set_env(1, "PYROSCOPE_PROFILER_LOCK", "0");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.alloc_bytes, 1); /* the smallest interval: every allocation */
  assert_int_equal(o.lock_ns, 0);     /* every contended lock */
  pyr_options_free(&o);
  set_env(0, "PYROSCOPE_PROFILER_ALLOC", "524288");
  set_env(1, "PYROSCOPE_PROFILER_LOCK", "10000");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.alloc_bytes, 524288);
  assert_int_equal(o.lock_ns, 10000);
  pyr_options_free(&o);
}

static void test_pyroscope_stack_depth_and_cacert(void **state) {
  pyr_options o;
  char err[256];
  (void)state;
  set_env(0, "PYROSCOPE_JAVA_STACK_DEPTH_MAX", "512");
  set_env(1, "PYRITE_CA_FILE", "/etc/pyrite/ca.pem");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), 0);
  assert_int_equal(o.jstackdepth, 512);
  assert_string_equal(o.cacert, "/etc/pyrite/ca.pem");
  pyr_options_free(&o);
  assert_int_equal(pyr_options_parse(&o, "jstackdepth=64,cacert=/tmp/other.pem", env, err,
                                     sizeof(err)), 0);
  assert_int_equal(o.jstackdepth, 64);
  assert_string_equal(o.cacert, "/tmp/other.pem");
  pyr_options_free(&o);
  set_env(0, "PYROSCOPE_JAVA_STACK_DEPTH_MAX", "deep");
  assert_int_equal(pyr_options_parse(&o, NULL, env, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "PYROSCOPE_JAVA_STACK_DEPTH_MAX"));
  fake_env[0][0] = NULL;
  expect_error("cacert=", "cacert");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_defaults, setup),
      cmocka_unit_test_setup(test_all_keys, setup),
      cmocka_unit_test_setup(test_units, setup),
      cmocka_unit_test_setup(test_errors_name_the_key, setup),
      cmocka_unit_test_setup(test_server_error_hides_credentials, setup),
      cmocka_unit_test_setup(test_precedence, setup),
      cmocka_unit_test_setup(test_bad_env_is_reported_with_its_name, setup),
      cmocka_unit_test_setup(test_app_with_labels, setup),
      cmocka_unit_test_setup(test_empty_items_and_overrides, setup),
      cmocka_unit_test_setup(test_label_limit, setup),
      cmocka_unit_test_setup(test_headers_and_enabled, setup),
      cmocka_unit_test_setup(test_pyroscope_interval_names, setup),
      cmocka_unit_test_setup(test_pyroscope_event_modes, setup),
      cmocka_unit_test_setup(test_pyroscope_alloc_lock_values, setup),
      cmocka_unit_test_setup(test_pyroscope_stack_depth_and_cacert, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
