/*
 * test_server_config.c - pyrited flag parsing (server/config.c): defaults,
 * both flag spellings, listen-address forms, and that every bad command
 * line is reported as one message naming the culprit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Connection bounds and the startup check (issue 8, fault tests). */
static void test_connection_flags(void **state) {
  (void)state;
  struct pyr_srv_config cfg;
  char err[PYR_SRV_ERR_MAX];
  char *const d[] = {"pyrited", NULL};
  assert_int_equal(pyr_srv_config_parse(&cfg, 1, d, err, sizeof(err)),
                   PYR_SRV_CFG_OK);
  assert_int_equal(cfg.connection_timeout_s, 60);
  assert_int_equal(cfg.max_connections, 0);
  assert_int_equal(cfg.max_connections_per_ip, 0);
  assert_true(cfg.connection_memory == (UINT64_C(128) << 10));
  assert_true(cfg.startup_check_quick);
  assert_int_equal(PARSE(&cfg, err, "--connection-timeout", "2m",
                         "--max-connections=500", "--max-connections-per-ip",
                         "16", "--connection-memory", "64k",
                         "--startup-check", "basic"),
                   PYR_SRV_CFG_OK);
  assert_int_equal(cfg.connection_timeout_s, 120);
  assert_int_equal(cfg.max_connections, 500);
  assert_int_equal(cfg.max_connections_per_ip, 16);
  assert_true(cfg.connection_memory == (UINT64_C(64) << 10));
  assert_false(cfg.startup_check_quick);
  assert_int_equal(PARSE(&cfg, err, "--connection-timeout", "500ms"),
                   PYR_SRV_CFG_ERR);
  assert_non_null(strstr(err, "connection-timeout"));
  assert_int_equal(PARSE(&cfg, err, "--connection-memory", "1k"),
                   PYR_SRV_CFG_ERR);
  assert_int_equal(PARSE(&cfg, err, "--startup-check", "full"),
                   PYR_SRV_CFG_ERR);
  assert_non_null(strstr(pyr_srv_config_usage(), "--max-connections-per-ip"));
}

static void test_ingest_limits_and_storage(void **state) {
  (void)state;
  struct pyr_srv_config cfg;
  char err[PYR_SRV_ERR_MAX];
  char *const d[] = {"pyrited", NULL};
  assert_int_equal(pyr_srv_config_parse(&cfg, 1, d, err, sizeof(err)),
                   PYR_SRV_CFG_OK);
  assert_true(cfg.max_body_bytes == (UINT64_C(256) << 20));
  assert_true(cfg.max_decompressed_bytes == (UINT64_C(64) << 20));
  assert_int_equal(cfg.max_labels, 30);
  assert_int_equal(cfg.max_label_name_len, 1024);
  assert_int_equal(cfg.max_label_value_len, 2048);
  assert_true(cfg.retention_ns == INT64_C(7) * 86400 * 1000000000);
  assert_true(cfg.max_disk_bytes == 0);
  assert_false(cfg.auth.multitenancy);
  assert_int_equal(cfg.auth.ntokens, 0);

  assert_int_equal(PARSE(&cfg, err, "--max-body-bytes", "1m",
                         "--max-decompressed-bytes=512KiB", "--max-labels",
                         "10", "--max-label-name-length", "64",
                         "--max-label-value-length=128", "--retention", "12h",
                         "--max-disk-bytes", "10GB", "--ingest-workers", "3",
                         "--ingest-queue", "7", "--durability", "normal",
                         "--auth-token", "t1", "--auth-token=t2",
                         "--read-auth-token", "r", "--basic-auth", "u:p",
                         "--multitenancy"),
                   PYR_SRV_CFG_OK);
  assert_true(cfg.max_body_bytes == 1u << 20);
  assert_true(cfg.max_decompressed_bytes == 512u << 10);
  assert_int_equal(cfg.max_labels, 10);
  assert_int_equal(cfg.max_label_name_len, 64);
  assert_int_equal(cfg.max_label_value_len, 128);
  assert_true(cfg.retention_ns == INT64_C(12) * 3600 * 1000000000);
  assert_true(cfg.max_disk_bytes == UINT64_C(10) << 30);
  assert_int_equal(cfg.ingest_workers, 3);
  assert_int_equal(cfg.ingest_queue, 7);
  assert_true(cfg.sync_normal);
  assert_int_equal(cfg.auth.ntokens, 2);
  assert_string_equal(cfg.auth.tokens[1], "t2");
  assert_int_equal(cfg.auth.nread_tokens, 1);
  assert_string_equal(cfg.auth.basic[0], "u:p");
  assert_true(cfg.auth.multitenancy);
  assert_int_equal(PARSE(&cfg, err, "--multitenancy=false", "--retention",
                         "0"), PYR_SRV_CFG_OK);
  assert_false(cfg.auth.multitenancy);
  assert_true(cfg.retention_ns == 0);

  expect_error(ARGC("--max-body-bytes", "0"), ARGV("--max-body-bytes", "0"),
               "bad --max-body-bytes '0'");
  expect_error(ARGC("--max-body-bytes", "12q"), ARGV("--max-body-bytes", "12q"),
               "bad --max-body-bytes");
  expect_error(ARGC("--max-labels", "59"), ARGV("--max-labels", "59"),
               "bad --max-labels '59': must be 1..58");
  expect_error(ARGC("--retention", "7 days"), ARGV("--retention", "7 days"),
               "bad --retention");
  expect_error(ARGC("--basic-auth", "nocolon"), ARGV("--basic-auth", "nocolon"),
               "USER:PASSWORD");
  expect_error(ARGC("--auth-token", ""), ARGV("--auth-token", ""),
               "bad --auth-token");
  expect_error(ARGC("--multitenancy=maybe"), ARGV("--multitenancy=maybe"),
               "bad --multitenancy");
  expect_error(ARGC("--durability", "fast"), ARGV("--durability", "fast"),
               "bad --durability");
  expect_error(ARGC("--config", "/nonexistent/pyrited.conf"),
               ARGV("--config", "/nonexistent/pyrited.conf"),
               "cannot read --config");
}

static void test_config_text(void **state) {
  (void)state;
  struct pyr_srv_config cfg;
  char err[PYR_SRV_ERR_MAX];
  pyr_srv_config_defaults(&cfg);
  assert_int_equal(pyr_srv_config_load_text(&cfg,
                                            "# pyrited settings\n"
                                            "listen = 127.0.0.1:9000\n"
                                            "  max-labels: 12   # inline\n"
                                            "\n"
                                            "--auth-token = \"ab#c\"\n"
                                            "multitenancy\n"
                                            "retention=30d\r\n",
                                            "test.conf", err, sizeof(err)),
                   0);
  assert_int_equal(cfg.listen_port, 9000);
  assert_int_equal(cfg.max_labels, 12);
  assert_string_equal(cfg.auth.tokens[0], "ab#c");
  assert_true(cfg.auth.multitenancy);
  assert_true(cfg.retention_ns == INT64_C(30) * 86400 * 1000000000);
  assert_int_equal(pyr_srv_config_load_text(&cfg, "x\nnope = 1\n", "t.conf",
                                            err, sizeof(err)), -1);
  assert_non_null(strstr(err, "t.conf:1: unknown flag '--x'"));
  assert_int_equal(pyr_srv_config_load_text(&cfg, "config = other\n", "t.conf",
                                            err, sizeof(err)), -1);

  /* Flags override the file, also for repeatable credentials. */
  char path[] = "/tmp/pyrited-test-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char *text = "max-labels = 5\nauth-token = file-token\n"
                     "data-dir = /tmp/from-file\n";
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  assert_int_equal(PARSE(&cfg, err, "--max-labels", "7", "--config", path),
                   PYR_SRV_CFG_OK);
  assert_int_equal(cfg.max_labels, 7);
  assert_string_equal(cfg.data_dir, "/tmp/from-file");
  assert_int_equal(cfg.auth.ntokens, 1);
  assert_string_equal(cfg.auth.tokens[0], "file-token");
  assert_int_equal(PARSE(&cfg, err, "--config", path, "--auth-token", "cli"),
                   PYR_SRV_CFG_OK);
  assert_int_equal(cfg.auth.ntokens, 1);
  assert_string_equal(cfg.auth.tokens[0], "cli");
  unlink(path);
}

static void test_sizes_and_durations(void **state) {
  (void)state;
  uint64_t b;
  int64_t d;
  assert_int_equal(pyr_srv_parse_size("1048576", &b), 0);
  assert_true(b == 1048576);
  assert_int_equal(pyr_srv_parse_size("64k", &b), 0);
  assert_true(b == 65536);
  assert_int_equal(pyr_srv_parse_size("64KiB", &b), 0);
  assert_true(b == 65536);
  assert_int_equal(pyr_srv_parse_size("2G", &b), 0);
  assert_true(b == UINT64_C(2) << 30);
  assert_int_equal(pyr_srv_parse_size("100B", &b), 0);
  assert_true(b == 100);
  assert_int_equal(pyr_srv_parse_size("-1", &b), -1);
  assert_int_equal(pyr_srv_parse_size("1x", &b), -1);
  assert_int_equal(pyr_srv_parse_size("99999999999999999999", &b), -1);
  assert_int_equal(pyr_srv_parse_size("20000000000T", &b), -1);
  assert_int_equal(pyr_srv_parse_duration("90", &d), 0);
  assert_true(d == INT64_C(90) * 1000000000);
  assert_int_equal(pyr_srv_parse_duration("500ms", &d), 0);
  assert_true(d == INT64_C(500) * 1000000);
  assert_int_equal(pyr_srv_parse_duration("15m", &d), 0);
  assert_true(d == INT64_C(900) * 1000000000);
  assert_int_equal(pyr_srv_parse_duration("2w", &d), 0);
  assert_int_equal(pyr_srv_parse_duration("1y", &d), -1);
  assert_int_equal(pyr_srv_parse_duration("h", &d), -1);
  assert_int_equal(pyr_srv_parse_duration("999999999999w", &d), -1);
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
      cmocka_unit_test(test_ingest_limits_and_storage),
      cmocka_unit_test(test_connection_flags),
      cmocka_unit_test(test_config_text),
      cmocka_unit_test(test_sizes_and_durations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
