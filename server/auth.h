/*
 * auth.h - optional built-in authentication and tenant resolution.
 *
 * What: Pyroscope itself ships no authentication; pyrited offers static
 * credentials so that a single binary can be exposed without a proxy:
 *   --auth-token T        "Authorization: Bearer T", may read and write
 *   --read-auth-token T   Bearer token that may only query (ingest -> 403)
 *   --basic-auth U:P      "Authorization: Basic base64(U:P)", read and write
 * Each flag may be repeated (up to PYR_AUTH_MAX_CREDS in total per kind).
 * With none configured every request is allowed.  GET /ready and
 * GET /metrics never require credentials (health checks, scrapers).
 *
 * Tenancy: with --multitenancy the X-Scope-OrgID header names the tenant
 * and is required (401 when missing or invalid: at most 150 bytes of
 * [A-Za-z0-9!-_.*'()], not "." or ".."); without it every request belongs
 * to the tenant "anonymous" and the header is ignored, as in Pyroscope.
 *
 * Threads: pure functions over an immutable pyr_auth.
 */
#ifndef PYRITE_SERVER_AUTH_H
#define PYRITE_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define PYR_AUTH_MAX_CREDS 8
#define PYR_AUTH_CRED_MAX 1024 /* bytes per token or user:pass, with NUL */
#define PYR_TENANT_MAX 150
#define PYR_TENANT_DEFAULT "anonymous"

typedef struct pyr_auth {
  char tokens[PYR_AUTH_MAX_CREDS][PYR_AUTH_CRED_MAX];
  unsigned ntokens;
  char read_tokens[PYR_AUTH_MAX_CREDS][PYR_AUTH_CRED_MAX];
  unsigned nread_tokens;
  char basic[PYR_AUTH_MAX_CREDS][PYR_AUTH_CRED_MAX]; /* "user:pass" */
  unsigned nbasic;
  bool multitenancy;
} pyr_auth;

enum pyr_auth_need { PYR_AUTH_NEED_READ, PYR_AUTH_NEED_WRITE };

/* True when any credential is configured. */
bool pyr_auth_enabled(const pyr_auth *a);

/*
 * Checks an Authorization header value (NULL when absent) for an operation
 * that needs `need`.  Returns 0 (allowed), 401 (missing or wrong
 * credentials) or 403 (valid read-only token used to write); *why is set
 * to a static message for the error body.
 */
int pyr_auth_check(const pyr_auth *a, const char *authorization,
                   enum pyr_auth_need need, const char **why);

/* True if s is a valid tenant id (see above). */
bool pyr_tenant_valid(const char *s);

/*
 * Resolves the request's tenant from the X-Scope-OrgID value (NULL when
 * absent) into out[PYR_TENANT_MAX + 1].  Returns 0, or 401 with *why set.
 */
int pyr_tenant_resolve(const pyr_auth *a, const char *orgid, char *out,
                       const char **why);

/* Standard base64 (with or without padding) decoding into out[cap];
 * returns the decoded length or -1.  Used by Basic auth and protojson. */
long pyr_base64_decode(const char *in, size_t len, unsigned char *out,
                       size_t cap);

#endif /* PYRITE_SERVER_AUTH_H */
