/*
 * test_ingest_multipart.c - multipart/form-data splitting
 * (server/multipart.c): the Java agent's exact form (binary gzip parts,
 * filenames, a part Content-Type), boundary forms, LF-only line ends,
 * preamble/epilogue, the "file part" rule, and every malformed body we
 * must reject instead of misreading (truncation, bad boundary, too many
 * parts, unterminated quotes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "multipart.h"

#define CT "multipart/form-data; boundary=0e4f3b7c-5b5e-4a3e-9e21-2c6f0c1a9d11"
#define B "--0e4f3b7c-5b5e-4a3e-9e21-2c6f0c1a9d11"

static int parse(const char *body, size_t len, const char *ct, pyr_mp_form *f,
                 char *err) {
  return pyr_mp_parse((const unsigned char *)body, len, ct, f, err, 256);
}

static void test_java_agent_form(void **state) {
  (void)state;
  /* Binary payloads including CR, LF, "--" and NUL bytes. */
  static const char jfr[] = "\x1f\x8b\x08\x00\r\n--\r\n\x00\xff";
  static const char lab[] = "\x1f\x8b\x08\x00labels";
  char body[1024];
  size_t n = 0;
  n += (size_t)sprintf(body + n, B "\r\nContent-Disposition: form-data; "
                                   "name=\"jfr\"; filename=\"jfr\"\r\n\r\n");
  memcpy(body + n, jfr, sizeof(jfr) - 1);
  n += sizeof(jfr) - 1;
  n += (size_t)sprintf(body + n,
                       "\r\n" B "\r\nContent-Disposition: form-data; "
                       "name=\"labels\"; filename=\"labels\"\r\n"
                       "Content-Type: application/x-protobuf\r\n\r\n");
  memcpy(body + n, lab, sizeof(lab) - 1);
  n += sizeof(lab) - 1;
  n += (size_t)sprintf(body + n, "\r\n" B "--\r\n");

  pyr_mp_form f;
  char err[256] = "";
  assert_int_equal(parse(body, n, CT, &f, err), 0);
  assert_int_equal(f.n, 2);
  const pyr_mp_part *p = pyr_mp_file(&f, "jfr");
  assert_non_null(p);
  assert_int_equal(p->len, sizeof(jfr) - 1);
  assert_memory_equal(p->data, jfr, p->len);
  assert_string_equal(p->filename, "jfr");
  assert_string_equal(p->content_type, "");
  p = pyr_mp_file(&f, "labels");
  assert_non_null(p);
  assert_int_equal(p->len, sizeof(lab) - 1);
  assert_memory_equal(p->data, lab, p->len);
  assert_string_equal(p->content_type, "application/x-protobuf");
  assert_null(pyr_mp_file(&f, "profile"));
}

static void test_file_rule_and_forms(void **state) {
  (void)state;
  /* LF line ends, preamble, epilogue, quoted boundary, unquoted params,
   * case-insensitive header names, a part without filename, an empty part,
   * and transport padding after a delimiter. */
  const char *body =
      "preamble line\n"
      "--xyz  \n"
      "content-disposition: form-data; name=jfr\n"
      "\n"
      "not a file\n"
      "--xyz\n"
      "Content-Disposition: form-data; name=\"profile\"; filename=\"\"\n"
      "\n"
      "empty filename\n"
      "--xyz\n"
      "Content-Disposition: form-data; name=\"a\\\"b\"; filename=\"p.pprof\"\n"
      "\n"
      "\n"
      "--xyz--\n"
      "epilogue --xyz\n";
  pyr_mp_form f;
  char err[256] = "";
  assert_int_equal(parse(body, strlen(body),
                         "Multipart/Form-Data; charset=utf-8; boundary=\"xyz\"",
                         &f, err),
                   0);
  assert_int_equal(f.n, 3);
  assert_null(pyr_mp_file(&f, "jfr")); /* no filename: not a file part */
  const pyr_mp_part *p = pyr_mp_any(&f, "jfr");
  assert_non_null(p);
  assert_int_equal(p->len, 10);
  assert_memory_equal(p->data, "not a file", 10);
  assert_null(pyr_mp_file(&f, "profile")); /* filename="" */
  p = pyr_mp_file(&f, "a\"b");
  assert_non_null(p);
  assert_int_equal(p->len, 0);

  /* A NUL ends a header value (fuzz regression, tests/fuzz/regressions/
   * multipart/): "filename=\0..." is an empty filename, not a file part,
   * and "name=jfr\0x" is the name "jfr". */
  static const char nul_body[] =
      "--q\r\nContent-Disposition: form-data; name=jfr\0x; filename=\0abc\r\n\r\n"
      "data\r\n--q--\r\n";
  assert_int_equal(parse(nul_body, sizeof(nul_body) - 1, "multipart/form-data; boundary=q",
                         &f, err),
                   0);
  assert_int_equal(f.n, 1);
  assert_false(f.parts[0].is_file);
  assert_string_equal(f.parts[0].filename, "");
  assert_null(pyr_mp_file(&f, "jfr"));
  assert_non_null(pyr_mp_any(&f, "jfr"));
}

static void test_boundary_in_content(void **state) {
  (void)state;
  /* "--xyz" inside data that is not at a line start, or followed by other
   * bytes, is content. */
  const char *body = "--xyz\r\n"
                     "Content-Disposition: form-data; name=\"p\"; filename=\"f\"\r\n"
                     "\r\n"
                     "a--xyz\r\n--xyzzy\r\nb"
                     "\r\n--xyz--";
  pyr_mp_form f;
  char err[256] = "";
  assert_int_equal(parse(body, strlen(body), "multipart/form-data; boundary=xyz",
                         &f, err), 0);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.parts[0].len, strlen("a--xyz\r\n--xyzzy\r\nb"));
}

static void expect_err(const char *body, const char *ct, const char *needle) {
  pyr_mp_form f;
  char err[256] = "";
  assert_int_equal(parse(body, strlen(body), ct, &f, err), -1);
  if (strstr(err, needle) == NULL)
    fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_errors(void **state) {
  (void)state;
  const char *ok_ct = "multipart/form-data; boundary=xyz";
  expect_err("--xyz\r\n", "application/json", "not multipart");
  expect_err("--xyz\r\n", "multipart/form-data", "without boundary");
  expect_err("--xyz\r\n", "multipart/form-data; boundary=", "1..70");
  expect_err("--xyz\r\n",
             "multipart/form-data; boundary=01234567890123456789012345678901"
             "234567890123456789012345678901234567890",
             "1..70");
  expect_err("--xyz\r\n", "multipart/form-data; boundary=\"xyz", "malformed");
  expect_err("no delimiter at all", ok_ct, "no boundary line");
  /* Truncated: the closing delimiter never comes. */
  expect_err("--xyz\r\nContent-Disposition: form-data; name=\"a\"; "
             "filename=\"a\"\r\n\r\ndata without end",
             ok_ct, "truncated");
  expect_err("--xyz\r\nContent-Disposition: form-data; name=\"a\"", ok_ct,
             "truncated");
  expect_err("--xyz\r\nNo colon here\r\n\r\nx\r\n--xyz--", ok_ct,
             "malformed multipart header");
  expect_err("--xyz\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n"
             "--xyz--",
             ok_ct, "Content-Disposition");

  char big[PYR_MP_MAX_HEADER_BYTES + 200];
  int n = snprintf(big, sizeof(big), "--xyz\r\nX: ");
  memset(big + n, 'a', PYR_MP_MAX_HEADER_BYTES + 10);
  strcpy(big + n + PYR_MP_MAX_HEADER_BYTES + 10, "\r\n\r\n\r\n--xyz--");
  expect_err(big, ok_ct, "too long");
  /* Many short header lines: the per-part total is bounded too. */
  size_t k = (size_t)snprintf(big, sizeof(big), "--xyz\r\n");
  while (k + 20 < PYR_MP_MAX_HEADER_BYTES + 100)
    k += (size_t)snprintf(big + k, sizeof(big) - k, "X-Pad: 0123456789\r\n");
  snprintf(big + k, sizeof(big) - k, "\r\n\r\n--xyz--");
  expect_err(big, ok_ct, "exceed");

  char many[8192];
  size_t m = 0;
  for (int i = 0; i <= PYR_MP_MAX_PARTS; i++)
    m += (size_t)sprintf(many + m,
                         "--xyz\r\nContent-Disposition: form-data; name=\"p%d\""
                         "\r\n\r\nv\r\n", i);
  sprintf(many + m, "--xyz--");
  expect_err(many, ok_ct, "more than");
}

static void test_boundary_param(void **state) {
  (void)state;
  char b[PYR_MP_BOUNDARY_MAX + 1], err[128];
  assert_int_equal(pyr_mp_boundary("multipart/form-data;boundary=abc", b, err,
                                   sizeof(err)), 0);
  assert_string_equal(b, "abc");
  assert_int_equal(pyr_mp_boundary(" multipart/mixed; x=\"a;b\"; BOUNDARY=\"q q\"",
                                   b, err, sizeof(err)), 0);
  assert_string_equal(b, "q q");
  assert_int_equal(pyr_mp_boundary(NULL, b, err, sizeof(err)), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_java_agent_form),
      cmocka_unit_test(test_file_rule_and_forms),
      cmocka_unit_test(test_boundary_in_content),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_boundary_param),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
