/* test_origin.c - Host (DNS rebinding) and Origin (cross-site) checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "origin.h"

static int host_ok(const char *listen, const char *allowed, const char *host) {
  char why[320] = "";
  int rc = pyr_origin_check_host(listen, allowed, host, why, sizeof(why));
  if (rc != 0)
    assert_true(strlen(why) > 0);
  return rc == 0;
}

static int origin_ok(const char *origin, const char *host) {
  char why[320] = "";
  int rc = pyr_origin_check_origin(origin, host, why, sizeof(why));
  if (rc != 0)
    assert_non_null(strstr(why, "cross-origin"));
  return rc == 0;
}

static void test_loopback_names(void **state) {
  (void)state;
  static const char *const yes[] = {"localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3",
                                    "::1", "[::1]", "app.localhost"};
  static const char *const no[] = {"evil.example", "127.0.0.1.evil.example", "128.0.0.1",
                                   "127.0.0", "localhost.evil", "0.0.0.0", "", "127.a.0.1"};
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
    assert_true(pyr_origin_is_loopback(yes[i], strlen(yes[i])));
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
    assert_false(pyr_origin_is_loopback(no[i], strlen(no[i])));
}

static void test_host_on_loopback_listener(void **state) {
  (void)state;
  assert_true(host_ok("127.0.0.1", "", "127.0.0.1:4040"));
  assert_true(host_ok("127.0.0.1", "", "localhost:4040"));
  assert_true(host_ok("127.0.0.1", "", "[::1]:4040"));
  assert_true(host_ok("127.0.0.1", "", "localhost"));
  assert_true(host_ok("127.0.0.1", "", NULL)); /* HTTP/1.0 without Host */
  /* What a DNS-rebinding page sends. */
  assert_false(host_ok("127.0.0.1", "", "evil.example:4040"));
  assert_false(host_ok("127.0.0.1", NULL, "evil.example"));
  assert_false(host_ok("localhost", "", "127.0.0.1.evil.example:4040"));
  /* Malformed values are refused, not guessed at. */
  assert_false(host_ok("127.0.0.1", "", "[::1:4040"));
  assert_false(host_ok("127.0.0.1", "", "a:b:c"));
  assert_false(host_ok("127.0.0.1", "", "localhost:40x0"));
  assert_false(host_ok("127.0.0.1", "", ""));
  /* --allowed-hosts adds names (any case, spaces around commas ignored). */
  assert_true(host_ok("127.0.0.1", "pyrite.internal, grafana-proxy", "Pyrite.Internal:4040"));
  assert_true(host_ok("127.0.0.1", "pyrite.internal, grafana-proxy", "grafana-proxy"));
  assert_false(host_ok("127.0.0.1", "pyrite.internal", "pyrite.internal.evil:4040"));
}

static void test_host_on_public_listener(void **state) {
  (void)state;
  /* Bound to all interfaces: any Host, unless a list is given. */
  assert_true(host_ok("0.0.0.0", "", "pyrited:4040"));
  assert_true(host_ok("::", NULL, "203.0.113.7:4040"));
  assert_true(host_ok("10.0.0.5", "", "profiles.example.com"));
  assert_false(host_ok("0.0.0.0", "profiles.example.com", "evil.example"));
  assert_true(host_ok("0.0.0.0", "profiles.example.com", "profiles.example.com:443"));
  assert_true(host_ok("0.0.0.0", "profiles.example.com", "localhost:4040"));
}

static void test_origin(void **state) {
  (void)state;
  assert_true(origin_ok(NULL, "127.0.0.1:4040")); /* agents, curl, Grafana */
  assert_true(origin_ok("http://127.0.0.1:4040", "127.0.0.1:4040"));
  assert_true(origin_ok("HTTP://LOCALHOST:4040", "localhost:4040"));
  assert_true(origin_ok("http://pyrite.example", "pyrite.example:80"));
  assert_true(origin_ok("https://pyrite.example", "pyrite.example"));
  assert_true(origin_ok("http://[::1]:4040", "[::1]:4040"));
  assert_false(origin_ok("http://evil.example", "127.0.0.1:4040"));
  assert_false(origin_ok("http://127.0.0.1:8080", "127.0.0.1:4040"));
  assert_false(origin_ok("https://pyrite.example", "pyrite.example:80"));
  assert_false(origin_ok("null", "127.0.0.1:4040"));
  assert_false(origin_ok("file://", "127.0.0.1:4040"));
  assert_false(origin_ok("http://127.0.0.1:4040", NULL));
  assert_false(origin_ok("http://", "127.0.0.1:4040"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loopback_names),
      cmocka_unit_test(test_host_on_loopback_listener),
      cmocka_unit_test(test_host_on_public_listener),
      cmocka_unit_test(test_origin),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
