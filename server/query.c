/*
 * query.c - routing of the query API (see query.h): which paths are query
 * endpoints, what methods and content types they take, and the dispatch
 * to the render endpoints (query_render.c) or Connect (querier.c).
 *
 * Threads: pure functions over the request; reentrant.
 */
#include "query.h"

#include <stdlib.h>
#include <string.h>

#include "querier.h"
#include "query_engine.h"

enum pyr_route pyr_query_route(const char *path) {
  if (path == NULL)
    return PYR_ROUTE_OTHER;
  if (strcmp(path, "/pyroscope/render") == 0)
    return PYR_ROUTE_RENDER;
  if (strcmp(path, "/pyroscope/render-diff") == 0)
    return PYR_ROUTE_RENDER_DIFF;
  if (strcmp(path, "/pyroscope/label-values") == 0)
    return PYR_ROUTE_LABEL_VALUES;
  if (strcmp(path, "/pyroscope/label-names") == 0)
    return PYR_ROUTE_LABEL_NAMES;
  if (strncmp(path, PYR_QUERIER_PREFIX, strlen(PYR_QUERIER_PREFIX)) == 0)
    return PYR_ROUTE_QUERIER;
  return PYR_ROUTE_OTHER;
}

unsigned pyr_query_check(enum pyr_route r, const char *method, const char *content_type,
                         pyr_query_resp *resp, const char **allow) {
  *allow = NULL;
  if (r == PYR_ROUTE_QUERIER) {
    /* Connect unary: POST only, and only the two codecs. */
    if (strcmp(method, "POST") != 0) {
      *allow = "POST";
      pyr_qfail(resp, 405, "method not allowed: %s (Connect endpoints take POST)", method);
      return 405;
    }
    if (pyr_querier_codec(content_type) == 0) {
      pyr_qfail(resp, 415,
                "unsupported content type \"%.64s\": use application/proto or application/json",
                content_type ? content_type : "");
      return 415;
    }
    return 0;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    *allow = "GET, HEAD";
    pyr_qfail(resp, 405, "method not allowed: %s", method);
    return 405;
  }
  return 0;
}

void pyr_query_handle(const pyr_query_env *env, const pyr_query_req *req,
                      pyr_query_resp *resp) {
  memset(resp, 0, sizeof(*resp));
  switch (req->route) {
  case PYR_ROUTE_RENDER:
    pyr_qr_render(env, req, resp);
    break;
  case PYR_ROUTE_RENDER_DIFF:
    pyr_qr_render_diff(env, req, resp);
    break;
  case PYR_ROUTE_LABEL_VALUES:
    pyr_qr_label_values(env, req, resp);
    break;
  case PYR_ROUTE_LABEL_NAMES:
    pyr_qr_label_names(env, req, resp);
    break;
  case PYR_ROUTE_QUERIER:
    pyr_querier_handle(env, req, resp);
    break;
  default:
    pyr_qfail(resp, 404, "no such endpoint");
    break;
  }
  if (resp->status == 0)
    pyr_qfail(resp, 500, "internal error: no answer");
}

void pyr_query_resp_free(pyr_query_resp *r) {
  free(r->body);
  r->body = NULL;
  r->len = 0;
}
