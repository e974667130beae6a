/*
 * ui.c - serves the embedded web UI (see ui.h).
 *
 * What: maps a URL path to one of the generated pyr_ui_assets[] entries
 * and answers it with the security and caching headers the UI relies on.
 * The data is static, so responses point at it (MHD_RESPMEM_PERSISTENT)
 * instead of copying it.
 *
 * Threads: pure lookups over constant data; MHD calls pyr_ui_serve() from
 * any I/O thread.
 *
 * Invariants: a path is served only if it is "/" or the static prefix
 * followed by exactly one embedded file name (no directory walk, no
 * normalisation, nothing read from disk at run time).
 */
#include "ui.h"

#include <stdio.h>
#include <string.h>

/*
 * Why each directive: scripts, styles, images and fetches only from this
 * origin (no CDN, no inline code: an injected <script> or on*= attribute
 * would not run); no plugins; <base> cannot redirect relative URLs; the
 * page cannot be framed (clickjacking) nor post forms elsewhere.  Trusted
 * Types with no policy make every HTML-string sink (innerHTML,
 * insertAdjacentHTML, document.write…) throw, so data can only reach the
 * DOM through textContent and friends.
 */
static const char csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'; require-trusted-types-for 'script'; "
    "trusted-types 'none'";

static const struct pyr_ui_asset *find(const char *path) {
  const char *name = NULL;
  size_t plen = sizeof(PYR_UI_STATIC_PREFIX) - 1;
  if (path == NULL)
    return NULL;
  if (strcmp(path, "/") == 0)
    name = "index.html";
  else if (strncmp(path, PYR_UI_STATIC_PREFIX, plen) == 0)
    name = path + plen;
  else
    return NULL;
  for (size_t i = 0; i < pyr_ui_nassets; i++)
    if (strcmp(pyr_ui_assets[i].name, name) == 0)
      return &pyr_ui_assets[i];
  return NULL;
}

int pyr_ui_lookup(const char *path, const unsigned char **data, size_t *len,
                  const char **content_type) {
  const struct pyr_ui_asset *a = find(path);
  if (a == NULL)
    return -1;
  if (data != NULL)
    *data = a->data;
  if (len != NULL)
    *len = a->len;
  if (content_type != NULL)
    *content_type = a->content_type;
  return 0;
}

bool pyr_ui_owns(const char *path) {
  return path != NULL &&
         (strcmp(path, "/") == 0 ||
          strncmp(path, PYR_UI_STATIC_PREFIX,
                  sizeof(PYR_UI_STATIC_PREFIX) - 1) == 0);
}

/* If-None-Match lists quoted tags (maybe weak, W/"…") or "*". */
static bool etag_matches(const char *inm, const char *etag) {
  if (inm == NULL)
    return false;
  while (*inm == ' ')
    inm++;
  return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *resp, unsigned *out_status) {
  enum MHD_Result ret = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  if (ret == MHD_YES)
    *out_status = status;
  return ret;
}

static enum MHD_Result error(struct MHD_Connection *conn, unsigned status,
                             const char *code, const char *msg,
                             unsigned *out_status) {
  /* msg is one of our constants: no client input reaches the body. */
  char body[256];
  int n = snprintf(body, sizeof(body), "{\"code\":\"%s\",\"message\":\"%s\"}\n",
                   code, msg);
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      (size_t)n, body, MHD_RESPMEM_MUST_COPY);
  if (resp == NULL)
    return MHD_NO;
  if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                              "application/json") != MHD_YES ||
      (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
       MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") !=
           MHD_YES)) {
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  return queue(conn, status, resp, out_status);
}

enum MHD_Result pyr_ui_serve(struct MHD_Connection *conn, const char *method,
                             const char *path, unsigned *status) {
  *status = 0;
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "unimplemented",
                 "method not allowed: the web UI answers GET and HEAD",
                 status);
  const struct pyr_ui_asset *a = find(path);
  if (a == NULL)
    return error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such UI file",
                 status);

  bool fresh = etag_matches(
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                  MHD_HTTP_HEADER_IF_NONE_MATCH),
      a->etag);
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      fresh ? 0 : a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
  if (resp == NULL)
    return MHD_NO;
  static const char *const hdr[][2] = {
      {MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache"},
      {MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, csp},
      {MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff"},
      {MHD_HTTP_HEADER_X_FRAME_OPTIONS, "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
  };
  bool ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag) ==
                MHD_YES &&
            (fresh || MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                              a->content_type) == MHD_YES);
  for (size_t i = 0; ok && i < sizeof(hdr) / sizeof(hdr[0]); i++)
    ok = MHD_add_response_header(resp, hdr[i][0], hdr[i][1]) == MHD_YES;
  if (!ok) {
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  return queue(conn, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp,
               status);
}
