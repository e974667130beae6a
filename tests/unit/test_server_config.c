/*
 * test_server_config.c - pyrited flag parsing (server/config.c): defaults,
 * both flag spellings, listen-address forms, and that every bad command
 * line is reported as one message naming the culprit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#define ARGV(...) ((char *const[]){"pyrited", __VA_ARGS__, NULL})
#define ARGC(...)                                                             \
  ((int)(sizeof((char *const[]){"pyrited", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...)                                                  \
  pyr_srv_config_parse((cfg), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (err),   \
                       sizeof(err))

static void test_defaults(void **state) {
  (void)state;
  struct pyr_srv_config cfg;
  char err[PYR_SRV_ERR_MAX];
  char *const argv[] = {"pyrited", NULL};
  assert_int_equal(pyr_srv_config_parse(&cfg, 1, argv, err, sizeof(err)),
                   PYR_SRV_CFG_OK);
  assert_string_equal(cfg.listen_host, "127.0.0.1");
  assert_int_equal(cfg.listen_port, 4040);
  assert_string_equal(cfg.data_dir, "./pyrite-data");
  assert_int_equal(cfg.threads, 0);
  assert_int_equal(cfg.drain_timeout_ms, 10000);
  assert_string_equal(err, "");
}

static void test_flags_space_and_equals(void **state) {
  (void)state;
  struct pyr_srv_config cfg;
  char err[PYR_SRV_ERR_MAX];
  assert_int_equal(PARSE(&cfg, err, "--listen", "0.0.0.0:9999", "--data-dir",
                         "/tmp/d", "--threads", "3"),
                   PYR_SRV_CFG_OK);
  assert_string_equal(cfg.listen_host, "0.0.0.0");
  assert_int_equal(cfg.listen_port, 9999);
  assert_string_equal(cfg.data_dir, "/tmp/d");
  assert_int_equal(cfg.threads, 3);

  assert_int_equal(PARSE(&cfg, err, "--listen=localhost:1", "--data-dir=x y",
                         "--threads=256", "--drain-timeout=0"),
                   PYR_SRV_CFG_OK);
  assert_string_equal(cfg.listen_host, "localhost");
  assert_int_equal(cfg.listen_port, 1);
  assert_string_equal(cfg.data_dir, "x y");
  assert_int_equal(cfg.threads, 256);
  assert_int_equal(cfg.drain_timeout_ms, 0);

  /* The last occurrence wins. */
  assert_int_equal(PARSE(&cfg, err, "--listen", "a:1", "--listen", "b:2"),
                   PYR_SRV_CFG_OK);
  assert_string_equal(cfg.listen_host, "b");
  assert_int_equal(cfg.listen_port, 2);
}

static void test_parse_is_repeatable(void **state) {
  (void)state;
  struct pyr_srv_config cfg;
  char err[PYR_SRV_ERR_MAX];
  assert_int_equal(PARSE(&cfg, err, "--threads", "7"), PYR_SRV_CFG_OK);
  char *const argv[] = {"pyrited", NULL};
  assert_int_equal(pyr_srv_config_parse(&cfg, 1, argv, err, sizeof(err)),
                   PYR_SRV_CFG_OK);
  assert_int_equal(cfg.threads, 0); /* reset to the default, not kept */
}

static void test_listen_forms(void **state) {
  (void)state;
  char host[PYR_SRV_HOST_MAX], err[PYR_SRV_ERR_MAX];
  uint16_t port = 1;

  assert_int_equal(pyr_srv_parse_listen("[::1]:4040", host, sizeof(host),
                                        &port, err, sizeof(err)), 0);
  assert_string_equal(host, "::1");
  assert_int_equal(port, 4040);

  assert_int_equal(pyr_srv_parse_listen(":8080", host, sizeof(host), &port,
                                        err, sizeof(err)), 0);
  assert_string_equal(host, "0.0.0.0");
  assert_int_equal(port, 8080);

  assert_int_equal(pyr_srv_parse_listen("h:0", host, sizeof(host), &port, err,
                                        sizeof(err)), 0);
  assert_int_equal(port, 0);

  assert_int_equal(pyr_srv_parse_listen("h:65535", host, sizeof(host), &port,
                                        err, sizeof(err)), 0);
  assert_int_equal(port, 65535);

  assert_int_equal(pyr_srv_parse_listen("[fe80::1%eth0]:1", host,
                                        sizeof(host), &port, err,
                                        sizeof(err)), 0);
  assert_string_equal(host, "fe80::1%eth0");
}

static void test_listen_rejects(void **state) {
  (void)state;
  static const char *const bad[] = {
      "4040",          /* no host separator */
      "host:",         /* no port */
      "host:65536",    /* out of range */
      "host:-1",       /* sign */
      "host:+1",       /* sign */
      "host:80x",      /* junk */
      "host: 80",      /* space */
      "::1:4040",      /* IPv6 without brackets */
      "[::1]4040",     /* missing ':' after ']' */
      "[::1:4040",     /* unterminated bracket */
      "[]:4040",       /* empty IPv6 */
      "ho st:1",       /* space in host */
      "a/b:1",         /* slash in host */
      "",
  };
  char host[PYR_SRV_HOST_MAX], err[PYR_SRV_ERR_MAX];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint16_t port = 7;
    err[0] = '\0';
    if (pyr_srv_parse_listen(bad[i], host, sizeof(host), &port, err,
                             sizeof(err)) != -1)
      fail_msg("accepted bad listen address '%s'", bad[i]);
    assert_non_null(strstr(err, "--listen"));
    assert_int_equal(port, 7); /* untouched on error */
  }
}

static void test_listen_host_too_long(void **state) {
  (void)state;
  char host[8], err[PYR_SRV_ERR_MAX];
  uint16_t port;
  assert_int_equal(pyr_srv_parse_listen("1234567:1", host, sizeof(host), &port,
                                        err, sizeof(err)), 0);
  assert_int_equal(pyr_srv_parse_listen("12345678:1", host, sizeof(host),
                                        &port, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "too long"));
}

static void test_help_and_version(void **state) {
  (void)state;
  struct pyr_srv_config cfg;
  char err[PYR_SRV_ERR_MAX];
  assert_int_equal(PARSE(&cfg, err, "--help"), PYR_SRV_CFG_HELP);
  assert_int_equal(PARSE(&cfg, err, "-h"), PYR_SRV_CFG_HELP);
  assert_int_equal(PARSE(&cfg, err, "--version"), PYR_SRV_CFG_VERSION);
  assert_int_equal(PARSE(&cfg, err, "-V"), PYR_SRV_CFG_VERSION);
  /* --help wins even after other flags. */
  assert_int_equal(PARSE(&cfg, err, "--listen", "a:1", "--help"),
                   PYR_SRV_CFG_HELP);
  assert_non_null(strstr(pyr_srv_config_usage(), "--listen HOST:PORT"));
  assert_non_null(strstr(pyr_srv_config_usage(), "--data-dir DIR"));
}

static void expect_error(int argc, char *const argv[], const char *needle) {
  struct pyr_srv_config cfg;
  char err[PYR_SRV_ERR_MAX];
  assert_int_equal(pyr_srv_config_parse(&cfg, argc, argv, err, sizeof(err)),
                   PYR_SRV_CFG_ERR);
  if (strstr(err, needle) == NULL)
    fail_msg("error '%s' does not mention '%s'", err, needle);
  assert_null(strchr(err, '\n'));
}

static void test_errors(void **state) {
  (void)state;
  expect_error(ARGC("--bogus"), ARGV("--bogus"), "unknown flag '--bogus'");
  expect_error(ARGC("--listen-x", "1"), ARGV("--listen-x", "1"),
               "unknown flag '--listen-x'");
  expect_error(ARGC("serve"), ARGV("serve"), "unexpected argument 'serve'");
  expect_error(ARGC("--listen"), ARGV("--listen"),
               "flag '--listen' needs a value");
  expect_error(ARGC("--data-dir"), ARGV("--data-dir"),
               "flag '--data-dir' needs a value");
  expect_error(ARGC("--data-dir="), ARGV("--data-dir="), "empty path");
  expect_error(ARGC("--listen", "nope"), ARGV("--listen", "nope"),
               "bad --listen 'nope'");
  expect_error(ARGC("--threads", "0"), ARGV("--threads", "0"),
               "bad --threads '0'");
  expect_error(ARGC("--threads", "257"), ARGV("--threads", "257"),
               "bad --threads");
  expect_error(ARGC("--threads", "2x"), ARGV("--threads", "2x"),
               "bad --threads");
  expect_error(ARGC("--drain-timeout", "-5"), ARGV("--drain-timeout", "-5"),
               "bad --drain-timeout");
}

static void test_data_dir_too_long(void **state) {
  (void)state;
  static char arg[PYR_SRV_PATH_MAX + 32];
  memcpy(arg, "--data-dir=", 11);
  memset(arg + 11, 'd', PYR_SRV_PATH_MAX);
  arg[11 + PYR_SRV_PATH_MAX] = '\0';
  char *const argv[] = {"pyrited", arg, NULL};
  expect_error(2, argv, "path too long");
}

static void test_tiny_error_buffer(void **state) {
  (void)state;
  struct pyr_srv_config cfg;
  char err[4];
  char *const argv[] = {"pyrited", "--nope", NULL};
  assert_int_equal(pyr_srv_config_parse(&cfg, 2, argv, err, sizeof(err)),
                   PYR_SRV_CFG_ERR);
  assert_int_equal(strlen(err), 3); /* truncated, still terminated */
  assert_int_equal(pyr_srv_config_parse(&cfg, 2, argv, NULL, 0),
                   PYR_SRV_CFG_ERR);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_flags_space_and_equals),
      cmocka_unit_test(test_parse_is_repeatable),
      cmocka_unit_test(test_listen_forms),
      cmocka_unit_test(test_listen_rejects),
      cmocka_unit_test(test_listen_host_too_long),
      cmocka_unit_test(test_help_and_version),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_data_dir_too_long),
      cmocka_unit_test(test_tiny_error_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
