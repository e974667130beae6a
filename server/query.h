/*
 * query.h - pyrited's query API, independent of the HTTP library.
 *
 * What: http.c recognises a query route (pyr_query_route), checks method
 * and content type from the headers (pyr_query_check), collects the
 * request (tenant, decoded URL arguments, body) and calls
 * pyr_query_handle() on a query worker thread; the answer comes back as a
 * status, a content type and a malloc'd body.  Endpoints (docs/query-api.md,
 * pyroscope-api.md §4, §6):
 *   GET  /pyroscope/render          flamebearer JSON (+ format=pprof|collapsed)
 *   GET  /pyroscope/render-diff     diff flamebearer JSON
 *   GET  /pyroscope/label-values    JSON array (label=__name__: profile types)
 *   GET  /pyroscope/label-names     JSON array
 *   POST /querier.v1.QuerierService/{ProfileTypes, LabelNames, LabelValues,
 *        Series, SelectMergeStacktraces, SelectMergeProfile, SelectSeries,
 *        Diff, GetProfileStats}   Connect unary, application/proto or
 *                                  application/json (protojson)
 * Errors are {"code": "...", "message": "..."} with Connect codes (400
 * invalid_argument for bad selectors, ranges, profile types, bodies).
 *
 * Threads: pyr_query_handle is reentrant; the env is shared read-only.
 */
#ifndef PYRITE_SERVER_QUERY_H
#define PYRITE_SERVER_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct pyr_store;

typedef struct pyr_query_env {
  struct pyr_store *store;      /* NULL: not ready (503) */
  size_t max_decompressed;      /* gzip'd Connect bodies inflate to at most this */
  int64_t (*now_ns)(void);      /* NULL = the real clock (tests set one) */
} pyr_query_env;

typedef struct pyr_query_arg {
  const char *key, *value;      /* URL query argument, already unescaped */
} pyr_query_arg;

typedef struct pyr_query_req {
  enum pyr_route route;
  const char *path;             /* URL path, e.g. /querier.v1.QuerierService/Series */
  const char *tenant;
  const pyr_query_arg *args;    /* in URL order; repeated keys allowed */
  size_t nargs;
  const char *content_type, *content_encoding;
  const unsigned char *body;
  size_t len;
} pyr_query_req;

#define PYR_QUERY_MSG_MAX 512

typedef struct pyr_query_resp {
  unsigned status;
  const char *code;             /* Connect code for errors */
  char message[PYR_QUERY_MSG_MAX];
  const char *content_type;     /* success */
  char *body;                   /* malloc'd; pyr_query_resp_free */
  size_t len;
} pyr_query_resp;

/* Route of a URL path: one of PYR_ROUTE_RENDER ... PYR_ROUTE_QUERIER, or
 * PYR_ROUTE_OTHER when the path is not a query endpoint. */
enum pyr_route pyr_query_route(const char *path);

/*
 * Header-time checks: returns 0 when method and content type suit the
 * route, else the error status (405 with *allow set, 415) with resp
 * filled.  A Connect path of an unknown method is 404 (checked later).
 */
unsigned pyr_query_check(enum pyr_route r, const char *method,
                         const char *content_type, pyr_query_resp *resp,
                         const char **allow);

/* Runs the query; always fills resp (status 200 or an error). */
void pyr_query_handle(const pyr_query_env *env, const pyr_query_req *req,
                      pyr_query_resp *resp);

void pyr_query_resp_free(pyr_query_resp *r);

#endif /* PYRITE_SERVER_QUERY_H */
