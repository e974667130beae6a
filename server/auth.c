/*
 * auth.c - static-credential authentication and X-Scope-OrgID tenants.
 *
 * What: see auth.h.  Credentials are compared in constant time (relative
 * to the configured credential's length) so response timing does not leak
 * how much of a guess matched.
 *
 * Threads: pure functions over immutable configuration.
 *
 * Invariants: a decoded Basic credential never exceeds PYR_AUTH_CRED_MAX
 * bytes (longer input is rejected before decoding).
 */
#include "auth.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

bool pyr_auth_enabled(const pyr_auth *a) {
  return a->ntokens + a->nread_tokens + a->nbasic > 0;
}

/* Constant-time equality of s[0..n) and the NUL-terminated secret. */
static bool ct_equal(const char *s, size_t n, const char *secret) {
  size_t m = strlen(secret);
  unsigned char diff = (unsigned char)(n != m);
  for (size_t i = 0; i < m; i++)
    diff |= (unsigned char)(secret[i] ^ (i < n ? s[i] : 0));
  return diff == 0;
}

static bool any_equal(const char (*list)[PYR_AUTH_CRED_MAX], unsigned n,
                      const char *s, size_t len) {
  bool ok = false;
  for (unsigned i = 0; i < n; i++)
    ok |= ct_equal(s, len, list[i]); /* no early exit */
  return ok;
}

static int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

long pyr_base64_decode(const char *in, size_t len, unsigned char *out,
                       size_t cap) {
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  while (len > 0 && (in[len - 1] == '=' || in[len - 1] == '\n' ||
                     in[len - 1] == '\r'))
    len--;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '\n' || c == '\r')
      continue;
    int v = b64val(c);
    if (v < 0)
      return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n >= cap)
        return -1;
      out[n++] = (unsigned char)(acc >> bits);
    }
  }
  if (bits >= 6) /* a single dangling character is not valid base64 */
    return -1;
  return (long)n;
}

int pyr_auth_check(const pyr_auth *a, const char *hdr, enum pyr_auth_need need,
                   const char **why) {
  if (!pyr_auth_enabled(a))
    return 0;
  if (hdr == NULL || hdr[0] == '\0') {
    *why = "authentication required: send Authorization: Bearer <token> or "
           "Basic credentials";
    return 401;
  }
  while (*hdr == ' ')
    hdr++;
  if (strncasecmp(hdr, "Bearer ", 7) == 0) {
    const char *t = hdr + 7;
    while (*t == ' ')
      t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ')
      n--;
    if (any_equal(a->tokens, a->ntokens, t, n))
      return 0;
    if (any_equal(a->read_tokens, a->nread_tokens, t, n)) {
      if (need == PYR_AUTH_NEED_READ)
        return 0;
      *why = "this token may only read: ingest needs a read-write token";
      return 403;
    }
    *why = "invalid bearer token";
    return 401;
  }
  if (strncasecmp(hdr, "Basic ", 6) == 0) {
    const char *t = hdr + 6;
    while (*t == ' ')
      t++;
    size_t n = strlen(t);
    while (n > 0 && t[n - 1] == ' ')
      n--;
    unsigned char dec[PYR_AUTH_CRED_MAX];
    long dl = n <= (PYR_AUTH_CRED_MAX / 3) * 4 + 4
                  ? pyr_base64_decode(t, n, dec, sizeof(dec))
                  : -1;
    if (dl >= 0 && any_equal(a->basic, a->nbasic, (const char *)dec, (size_t)dl))
      return 0;
    *why = "invalid basic-auth credentials";
    return 401;
  }
  *why = "unsupported Authorization scheme (use Bearer or Basic)";
  return 401;
}

bool pyr_tenant_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > PYR_TENANT_MAX || strcmp(s, ".") == 0 ||
      strcmp(s, "..") == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("!-_.*'()", c) != NULL;
    if (!ok || c == '\0')
      return false;
  }
  return true;
}

int pyr_tenant_resolve(const pyr_auth *a, const char *orgid, char *out,
                       const char **why) {
  if (!a->multitenancy) {
    strcpy(out, PYR_TENANT_DEFAULT);
    return 0;
  }
  if (orgid == NULL || orgid[0] == '\0') {
    *why = "no org id: multitenancy is enabled, send X-Scope-OrgID";
    return 401;
  }
  if (!pyr_tenant_valid(orgid)) {
    *why = "invalid X-Scope-OrgID: at most 150 characters of "
           "[A-Za-z0-9!-_.*'()], not . or ..";
    return 401;
  }
  strcpy(out, orgid);
  return 0;
}
