/*
 * test_ingest_auth.c - built-in authentication and tenants
 * (server/auth.c): Bearer and Basic credentials, read-only tokens (403 on
 * write), missing/wrong credentials (401), X-Scope-OrgID rules with and
 * without --multitenancy, and the base64 decoder shared with protojson.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"

static void test_no_auth(void **state) {
  (void)state;
  pyr_auth a;
  const char *why = NULL;
  memset(&a, 0, sizeof(a));
  assert_false(pyr_auth_enabled(&a));
  assert_int_equal(pyr_auth_check(&a, NULL, PYR_AUTH_NEED_WRITE, &why), 0);
  assert_int_equal(pyr_auth_check(&a, "Bearer x", PYR_AUTH_NEED_WRITE, &why), 0);
}

static void test_bearer_and_basic(void **state) {
  (void)state;
  pyr_auth a;
  const char *why = NULL;
  memset(&a, 0, sizeof(a));
  strcpy(a.tokens[a.ntokens++], "s3cret");
  strcpy(a.read_tokens[a.nread_tokens++], "reader");
  strcpy(a.basic[a.nbasic++], "alice:pa:ss"); /* password may contain ':' */
  assert_true(pyr_auth_enabled(&a));

  assert_int_equal(pyr_auth_check(&a, NULL, PYR_AUTH_NEED_WRITE, &why), 401);
  assert_non_null(strstr(why, "authentication required"));
  assert_int_equal(pyr_auth_check(&a, "", PYR_AUTH_NEED_READ, &why), 401);
  assert_int_equal(pyr_auth_check(&a, "Bearer s3cret", PYR_AUTH_NEED_WRITE, &why), 0);
  assert_int_equal(pyr_auth_check(&a, "bearer  s3cret ", PYR_AUTH_NEED_WRITE, &why), 0);
  assert_int_equal(pyr_auth_check(&a, "Bearer s3cre", PYR_AUTH_NEED_WRITE, &why), 401);
  assert_int_equal(pyr_auth_check(&a, "Bearer s3cret2", PYR_AUTH_NEED_WRITE, &why), 401);
  assert_non_null(strstr(why, "invalid bearer token"));
  assert_int_equal(pyr_auth_check(&a, "Bearer reader", PYR_AUTH_NEED_READ, &why), 0);
  assert_int_equal(pyr_auth_check(&a, "Bearer reader", PYR_AUTH_NEED_WRITE, &why), 403);
  assert_non_null(strstr(why, "only read"));
  /* base64("alice:pa:ss") = YWxpY2U6cGE6c3M= */
  assert_int_equal(pyr_auth_check(&a, "Basic YWxpY2U6cGE6c3M=", PYR_AUTH_NEED_WRITE, &why), 0);
  assert_int_equal(pyr_auth_check(&a, "Basic YWxpY2U6cGE6c3M", PYR_AUTH_NEED_WRITE, &why), 0);
  /* base64("alice:wrong") */
  assert_int_equal(pyr_auth_check(&a, "Basic YWxpY2U6d3Jvbmc=", PYR_AUTH_NEED_WRITE, &why), 401);
  assert_int_equal(pyr_auth_check(&a, "Basic !!!", PYR_AUTH_NEED_WRITE, &why), 401);
  assert_int_equal(pyr_auth_check(&a, "Digest x", PYR_AUTH_NEED_WRITE, &why), 401);
  assert_non_null(strstr(why, "unsupported Authorization scheme"));
  /* The token as a Basic password does not work, and vice versa. */
  assert_int_equal(pyr_auth_check(&a, "Bearer alice:pa:ss", PYR_AUTH_NEED_WRITE, &why), 401);
}

static void test_tenants(void **state) {
  (void)state;
  pyr_auth a;
  char t[PYR_TENANT_MAX + 1];
  const char *why = NULL;
  memset(&a, 0, sizeof(a));
  assert_int_equal(pyr_tenant_resolve(&a, NULL, t, &why), 0);
  assert_string_equal(t, "anonymous");
  assert_int_equal(pyr_tenant_resolve(&a, "team-a", t, &why), 0);
  assert_string_equal(t, "anonymous"); /* header ignored when off */

  a.multitenancy = true;
  assert_int_equal(pyr_tenant_resolve(&a, NULL, t, &why), 401);
  assert_non_null(strstr(why, "X-Scope-OrgID"));
  assert_int_equal(pyr_tenant_resolve(&a, "", t, &why), 401);
  assert_int_equal(pyr_tenant_resolve(&a, "team-a", t, &why), 0);
  assert_string_equal(t, "team-a");
  assert_int_equal(pyr_tenant_resolve(&a, "A!-_.*'()9", t, &why), 0);
  static const char *const bad[] = {".", "..", "a/b", "a b", "a|b", "é"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(pyr_tenant_resolve(&a, bad[i], t, &why), 401);
  char longid[PYR_TENANT_MAX + 2];
  memset(longid, 'a', sizeof(longid) - 1);
  longid[sizeof(longid) - 1] = '\0';
  assert_int_equal(pyr_tenant_resolve(&a, longid, t, &why), 401);
  longid[PYR_TENANT_MAX] = '\0';
  assert_int_equal(pyr_tenant_resolve(&a, longid, t, &why), 0);
}

static void test_base64(void **state) {
  (void)state;
  unsigned char out[16];
  assert_int_equal(pyr_base64_decode("aGVsbG8=", 8, out, sizeof(out)), 5);
  assert_memory_equal(out, "hello", 5);
  assert_int_equal(pyr_base64_decode("aGVsbG8", 7, out, sizeof(out)), 5);
  assert_int_equal(pyr_base64_decode("-_8=", 4, out, sizeof(out)), 2); /* url-safe */
  assert_int_equal(out[0], 0xfb);
  assert_int_equal(pyr_base64_decode("", 0, out, sizeof(out)), 0);
  assert_int_equal(pyr_base64_decode("a", 1, out, sizeof(out)), -1);
  assert_int_equal(pyr_base64_decode("a$==", 4, out, sizeof(out)), -1);
  assert_int_equal(pyr_base64_decode("aGVsbG8=", 8, out, 4), -1); /* too small */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_auth),
      cmocka_unit_test(test_bearer_and_basic),
      cmocka_unit_test(test_tenants),
      cmocka_unit_test(test_base64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
