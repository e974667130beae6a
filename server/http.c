/*
 * http.c - pyrited's HTTP front end on libmicrohttpd.
 *
 * What: opens the listening socket itself (so bind errors are reported with
 * the address and errno text), hands it to an MHD daemon running a pool of
 * internal-polling I/O threads (epoll where MHD supports it), routes each
 * request, receives upload bodies (MHD has already removed any chunked
 * transfer coding) into a bounded buffer, and hands complete uploads to the
 * ingest worker pool while the connection is suspended.  Query routes
 * (query.h) work the same way on their own pool of query workers.
 *
 * Threads: the daemon is started and stopped by the controlling thread.
 * route_request() and request_completed() run on MHD I/O threads,
 * concurrently; ingest_job() runs on pool threads.  A request's struct req
 * is touched by exactly one thread at a time: the I/O thread until it
 * suspends the connection and submits the job, the worker until it resumes
 * the connection (MHD's resume lock orders the hand-back).  Shared state is
 * immutable after start, except the relaxed metrics atomics and the store
 * pointer (published once with release/acquire).
 *
 * Invariants:
 *  - each request gets exactly one response, counted once in the metrics;
 *  - a suspended connection is always resumed: every accepted job runs,
 *    also during shutdown (pyr_pool_stop runs the queue dry) before
 *    MHD_stop_daemon;
 *  - bodies never exceed cfg->max_body_bytes in memory (413 instead);
 *    an upload rejected from its headers or for its size is drained to
 *    its end (at most DISCARD_MAX) before the error is sent, unless the
 *    client asked for 100-continue;
 *  - the `path` label of pyrited_requests_total takes one of a fixed set of
 *    route names, never raw client input, so its cardinality is bounded.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "auth.h"
#include "ingest.h"
#include "ingest_pool.h"
#include "metrics.h"
#include "origin.h"
#include "query.h"
#include "store.h"
#include "ui.h" /* web UI hook (issue 6), see route_request */

#define LISTEN_BACKLOG 1024
/* Connection bounds come from the config (--connection-timeout,
 * --max-connections, --max-connections-per-ip, --connection-memory).
 * Per-connection MHD memory (headers, URL, read buffer) defaults to 128 KiB:
 * long `name` parameters with many labels must fit, and a bigger read
 * buffer means fewer callbacks per upload.  Together they bound what slow
 * clients (slowloris) can hold: connections x memory, each closed after
 * the idle timeout; bodies never exceed --max-body-bytes in memory. */
#define ERROR_BODY_MAX 2048
/* An oversized upload is drained (to answer 413) for at most this much. */
#define DISCARD_MAX (UINT64_C(1) << 30)

struct pyr_srv_http {
  const struct pyr_srv_config *cfg;
  struct MHD_Daemon *daemon;
  int listen_fd;
  uint16_t port;
  unsigned threads;
  unsigned workers;
  atomic_bool stopping;
  _Atomic(struct pyr_store *) store;
  pyr_ingest_env env; /* template; store filled per request */
  pyr_pool *pool;
  pyr_pool *qpool; /* query workers (query.h): merges never run on I/O threads */
  unsigned qworkers;
  pyr_metrics metrics;
};

enum rstate {
  RS_HEADERS,  /* first call seen, waiting for the body / second call */
  RS_BODY,     /* receiving an upload body */
  RS_QUEUED,   /* suspended, job submitted */
  RS_DONE,     /* job finished, response ready to queue */
  RS_ANSWERED, /* response queued */
};

struct req {
  struct pyr_srv_http *h;
  struct MHD_Connection *conn;
  enum pyr_route route;
  unsigned mpath; /* metrics slot: the route, or the querier's method */
  _Atomic enum rstate state;
  uint64_t t0_ns;
  /* upload */
  unsigned char *body;
  size_t len, cap;
  bool overflow;      /* body over --max-body-bytes: being dropped */
  bool drain;         /* rejected before the body: drop it, then answer */
  uint64_t discarded; /* bytes dropped */
  char tenant[PYR_TENANT_MAX + 1];
  char why[320];      /* admit()'s refusal message when it quotes the client */
  char *name, *from, *until, *format, *sample_rate, *spy_name;
  char *content_type, *content_encoding;
  pyr_ingest_result res;
  /* query routes */
  char *path;
  pyr_query_arg *qargs; /* URL arguments, copied (strings follow the array) */
  size_t nqargs;
  pyr_query_resp qres;
};

static bool is_query_route(enum pyr_route r) {
  return r == PYR_ROUTE_RENDER || r == PYR_ROUTE_RENDER_DIFF ||
         r == PYR_ROUTE_LABEL_VALUES || r == PYR_ROUTE_LABEL_NAMES ||
         r == PYR_ROUTE_QUERIER;
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- query-string unescaping ---------------------------------------------- */

static int hexv(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

size_t pyr_srv_unescape(char *s) {
  char *w = s;
  for (char *r = s; *r != '\0'; r++) {
    if (*r == '+') {
      *w++ = ' ';
    } else if (*r == '%' && hexv(r[1]) >= 0 && hexv(r[2]) >= 0) {
      *w++ = (char)(hexv(r[1]) * 16 + hexv(r[2]));
      r += 2;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
  return (size_t)(w - s);
}

static size_t unescape_cb(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  return pyr_srv_unescape(s);
}

/* ---- responses ---------------------------------------------------------- */

/* Queues body (copied) with the given status and content type; r is the
 * metrics slot counted (a route, or q->mpath: the querier's method). */
static enum MHD_Result respond(struct pyr_srv_http *h,
                               struct MHD_Connection *conn, unsigned r,
                               unsigned status, const char *ctype,
                               const char *body, size_t len,
                               const char *allow, const char *www_auth) {
  enum MHD_Result ret = MHD_NO;
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (resp == NULL)
    goto out;
  if (ctype != NULL &&
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) !=
          MHD_YES)
    goto out;
  if (allow != NULL &&
      MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)
    goto out;
  /* Every API answer is data: never let a browser sniff it into HTML. */
  if (MHD_add_response_header(resp, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff") !=
      MHD_YES)
    goto out;
  if (www_auth != NULL &&
      MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                              www_auth) != MHD_YES)
    goto out;
  /* While draining, do not let keep-alive connections start new requests. */
  if (atomic_load_explicit(&h->stopping, memory_order_relaxed) &&
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") !=
          MHD_YES)
    goto out;
  ret = MHD_queue_response(conn, status, resp);
  if (ret == MHD_YES)
    pyr_metrics_count_request(&h->metrics, r, status);
out:
  if (resp != NULL)
    MHD_destroy_response(resp);
  return ret;
}

/* Appends s as the inside of a JSON string (at most maxin input bytes).
 * Control characters and non-ASCII bytes become \u00XX, so the output is
 * valid JSON whatever the client sent. */
static size_t json_str(char *out, size_t cap, size_t n, const char *s,
                       size_t maxin) {
  size_t i;
  for (i = 0; s[i] != '\0' && i < maxin && n + 8 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  if (s[i] != '\0' && n + 4 < cap) {
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n] = '\0';
  return n;
}

/* {"code":CODE,"message":"<msg>[<a><b>]"} with client input escaped. */
static enum MHD_Result respond_error(struct pyr_srv_http *h,
                                     struct MHD_Connection *conn,
                                     unsigned r, unsigned status,
                                     const char *code, const char *msg,
                                     const char *a, const char *b,
                                     const char *allow) {
  char buf[ERROR_BODY_MAX];
  size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"code\":\"%s\",\"message\":\"",
                              code ? code : pyr_ingest_code_for_status(status));
  n = json_str(buf, sizeof(buf), n, msg, 1024);
  if (a != NULL)
    n = json_str(buf, sizeof(buf), n, a, 32);
  if (b != NULL) {
    n = json_str(buf, sizeof(buf), n, " ", 1);
    n = json_str(buf, sizeof(buf), n, b, 512);
  }
  n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"}\n");
  const char *www = NULL;
  if (status == 401)
    www = h->cfg->auth.nbasic > 0 ? "Basic realm=\"pyrited\""
                                  : "Bearer realm=\"pyrited\"";
  return respond(h, conn, r, status, "application/json", buf, n, allow, www);
}

static enum MHD_Result render_metrics(struct pyr_srv_http *h,
                                      struct MHD_Connection *conn) {
  char *text = NULL;
  size_t len = 0;
  enum MHD_Result ret;
  FILE *f = open_memstream(&text, &len);
  if (f == NULL)
    goto oom;
  pyr_metrics_render(&h->metrics, f);
  struct pyr_store *st = atomic_load_explicit(&h->store, memory_order_acquire);
  if (st != NULL) {
    size_t need = pyr_store_metrics(st, NULL, 0);
    char *sb = malloc(need + 1);
    if (sb != NULL) {
      size_t got = pyr_store_metrics(st, sb, need + 1);
      fwrite(sb, 1, got < need ? got : need, f);
      free(sb);
    }
  }
  if (fclose(f) != 0)
    goto oom;
  ret = respond(h, conn, PYR_ROUTE_METRICS, MHD_HTTP_OK,
                "text/plain; version=0.0.4; charset=utf-8", text, len, NULL,
                NULL);
  free(text);
  return ret;
oom:
  free(text);
  return respond_error(h, conn, PYR_ROUTE_METRICS, 500, "internal",
                       "cannot render metrics", NULL, NULL, NULL);
}

static bool is_get_or_head(const char *method) {
  return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
         strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
}

/* True if the request announces a body (Content-Length > 0 or chunked). */
static bool has_body(struct MHD_Connection *conn) {
  const char *te = MHD_lookup_connection_value(
      conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  if (te != NULL)
    return true;
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl == NULL)
    return false;
  while (*cl == ' ' || *cl == '\t' || *cl == '0')
    cl++;
  return *cl != '\0';
}

static enum pyr_route route_of(const char *url) {
  if (strcmp(url, "/ready") == 0)
    return PYR_ROUTE_READY;
  if (strcmp(url, "/metrics") == 0)
    return PYR_ROUTE_METRICS;
  if (strcmp(url, "/ingest") == 0 || strcmp(url, "/pyroscope/ingest") == 0)
    return PYR_ROUTE_INGEST;
  if (strcmp(url, "/push.v1.PusherService/Push") == 0)
    return PYR_ROUTE_PUSH;
  return pyr_query_route(url); /* query endpoints, else PYR_ROUTE_OTHER */
}

/* ---- uploads ------------------------------------------------------------- */

static void req_free(struct req *q) {
  free(q->body);
  free(q->name);
  free(q->from);
  free(q->until);
  free(q->format);
  free(q->sample_rate);
  free(q->spy_name);
  free(q->content_type);
  free(q->content_encoding);
  free(q->path);
  free(q->qargs);
  pyr_query_resp_free(&q->qres);
  free(q);
}

/* Copies a query argument or header (NULL when absent). */
static int grab(struct MHD_Connection *conn, enum MHD_ValueKind kind,
                const char *key, char **out) {
  const char *v = MHD_lookup_connection_value(conn, kind, key);
  *out = NULL;
  if (v == NULL)
    return 0;
  *out = strdup(v);
  return *out == NULL ? -1 : 0;
}

static void count_upload(struct pyr_srv_http *h, const struct req *q) {
  pyr_metrics *m = &h->metrics;
  const pyr_ingest_result *r = &q->res;
  enum pyr_fmt f = r->format;
  if ((unsigned)f >= PYR_FMT_COUNT)
    f = PYR_FMT_UNSUPPORTED;
  pyr_metrics_add(&m->bytes[f], q->len);
  pyr_metrics_add(&m->decompressed[f], r->decompressed);
  pyr_metrics_add(&m->samples[f], r->samples);
  if (r->status == 200) {
    pyr_metrics_add(&m->uploads[f], 1);
    pyr_metrics_add(&m->profiles[f], r->profiles);
  } else {
    pyr_metrics_add(&m->rejected[f], 1);
    if (r->parse_error)
      pyr_metrics_add(&m->parse_errors[f], 1);
  }
}

/* Pool thread: decode, store, prepare the answer, resume the connection. */
static void ingest_job(void *arg) {
  struct req *q = arg;
  struct pyr_srv_http *h = q->h;
  pyr_ingest_env env = h->env;
  pyr_ingest_params p = {
      .name = q->name,
      .from = q->from,
      .until = q->until,
      .format = q->format,
      .sample_rate = q->sample_rate,
      .spy_name = q->spy_name,
      .content_type = q->content_type,
      .content_encoding = q->content_encoding,
  };
  env.store = atomic_load_explicit(&h->store, memory_order_acquire);
  memset(&q->res, 0, sizeof(q->res));
  if (q->route == PYR_ROUTE_PUSH)
    pyr_ingest_push(&env, q->tenant, &p, q->body, q->len, &q->res);
  else
    pyr_ingest_legacy(&env, q->tenant, &p, q->body, q->len, &q->res);
  count_upload(h, q);
  /* The body is no longer needed; free it before the response goes out. */
  free(q->body);
  q->body = NULL;
  q->cap = 0;
  atomic_store_explicit(&q->state, RS_DONE, memory_order_release);
  MHD_resume_connection(q->conn);
}

/* The latency histogram of q: per query path, or the ingest one. */
static pyr_histogram *latency_hist(struct pyr_srv_http *h, struct req *q) {
  return is_query_route(q->route) ? pyr_metrics_query_hist(&h->metrics, q->mpath)
                                  : &h->metrics.ingest_latency;
}

/* Queues a worker's result (a body on 200, a JSON error otherwise) and
 * records the request's latency in hist. */
static enum MHD_Result answer_result(struct pyr_srv_http *h, struct req *q, unsigned status,
                                     const char *ctype, const char *body, size_t len,
                                     const char *code, const char *message,
                                     pyr_histogram *hist) {
  enum MHD_Result ret;
  atomic_store_explicit(&q->state, RS_ANSWERED, memory_order_relaxed);
  if (status == 200)
    ret = respond(h, q->conn, q->mpath, 200, ctype, body ? body : "", len, NULL, NULL);
  else
    ret = respond_error(h, q->conn, q->mpath, status, code, message, NULL, NULL, NULL);
  pyr_hist_observe(hist, mono_ns() - q->t0_ns);
  return ret;
}

static enum MHD_Result answer_upload(struct pyr_srv_http *h, struct req *q) {
  const pyr_ingest_result *r = &q->res;
  return answer_result(h, q, r->status, r->content_type, r->body, r->body_len, r->code,
                       r->message, latency_hist(h, q));
}

/* Answers an error now (the body, if any, is refused: MHD closes the
 * connection after the response). */
static enum MHD_Result reject_now(struct pyr_srv_http *h, struct req *q,
                                  unsigned status, const char *msg) {
  atomic_store_explicit(&q->state, RS_ANSWERED, memory_order_relaxed);
  /* The format is not known yet: such rejections are counted by route
   * and status in pyrited_requests_total only. */
  pyr_hist_observe(latency_hist(h, q), mono_ns() - q->t0_ns);
  return respond_error(h, q->conn, q->mpath, status, NULL, msg, NULL, NULL,
                       NULL);
}

/*
 * An error decided from the headers alone (auth, tenant, type, size).  A
 * client waiting for 100-continue, or one without a body, gets it at once.
 * Others are already sending: answering now would make MHD close while
 * they write, and many clients (the Java agent's among them) then report a
 * transport error instead of the status, and retry.  So the body is read
 * and dropped (at most DISCARD_MAX) and the error sent at its end.
 */
static enum MHD_Result reject_early(struct pyr_srv_http *h, struct req *q,
                                    unsigned status, const char *msg) {
  struct MHD_Connection *conn = q->conn;
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (!has_body(conn) ||
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                  MHD_HTTP_HEADER_EXPECT) != NULL ||
      (cl != NULL && strtoull(cl, NULL, 10) > DISCARD_MAX))
    return reject_now(h, q, status, msg);
  memset(&q->res, 0, sizeof(q->res));
  q->res.status = status;
  q->res.code = pyr_ingest_code_for_status(status);
  snprintf(q->res.message, sizeof(q->res.message), "%s", msg);
  q->drain = true;
  atomic_store_explicit(&q->state, RS_BODY, memory_order_relaxed);
  return MHD_YES;
}

/* The gate every ingest and query request passes: credentials for `need`,
 * the tenant (into q->tenant), an open store, a server not stopping.
 * Returns 0, or the HTTP status to answer with and *why. */
static unsigned admit(struct pyr_srv_http *h, struct req *q, enum pyr_auth_need need,
                      const char **why) {
  struct MHD_Connection *conn = q->conn;
  const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
  if (pyr_origin_check_host(h->cfg->listen_host, h->cfg->allowed_hosts, host, q->why,
                            sizeof(q->why)) != 0 ||
      pyr_origin_check_origin(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
                              host, q->why, sizeof(q->why)) != 0) {
    *why = q->why;
    return 403;
  }
  int a = pyr_auth_check(&h->cfg->auth,
                         MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
                         need, why);
  if (a == 0)
    a = pyr_tenant_resolve(&h->cfg->auth,
                           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Scope-OrgID"),
                           q->tenant, why);
  if (a != 0)
    return (unsigned)a;
  if (atomic_load_explicit(&h->store, memory_order_acquire) == NULL) {
    *why = "storage is not open yet, retry later";
    return 503;
  }
  if (atomic_load_explicit(&h->stopping, memory_order_relaxed)) {
    *why = "server is shutting down";
    return 503;
  }
  return 0;
}

static bool media_ok_for_push(const char *ct) {
  if (ct == NULL)
    return false;
  while (*ct == ' ')
    ct++;
  static const char *const ok[] = {"application/proto", "application/json",
                                   "application/protobuf",
                                   "application/x-protobuf"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    size_t n = strlen(ok[i]);
    if (strncasecmp(ct, ok[i], n) == 0 &&
        (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
      return true;
  }
  return false;
}

/* First call of an upload route: everything that needs only headers. */
static enum MHD_Result upload_headers(struct pyr_srv_http *h, struct req *q,
                                      const char *method) {
  struct MHD_Connection *conn = q->conn;
  const char *why = NULL;

  if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
    atomic_store_explicit(&q->state, RS_ANSWERED, memory_order_relaxed);
    return respond_error(h, conn, q->route, 405, "unimplemented",
                         "method not allowed: ", method, NULL, "POST");
  }
  unsigned a = admit(h, q, PYR_AUTH_NEED_WRITE, &why);
  if (a != 0)
    return reject_early(h, q, a, why);

  if (grab(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE,
           &q->content_type) != 0 ||
      grab(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING,
           &q->content_encoding) != 0 ||
      grab(conn, MHD_GET_ARGUMENT_KIND, "name", &q->name) != 0 ||
      grab(conn, MHD_GET_ARGUMENT_KIND, "from", &q->from) != 0 ||
      grab(conn, MHD_GET_ARGUMENT_KIND, "until", &q->until) != 0 ||
      grab(conn, MHD_GET_ARGUMENT_KIND, "format", &q->format) != 0 ||
      grab(conn, MHD_GET_ARGUMENT_KIND, "sampleRate", &q->sample_rate) != 0 ||
      grab(conn, MHD_GET_ARGUMENT_KIND, "spyName", &q->spy_name) != 0)
    return reject_early(h, q, 500, "out of memory");

  if (q->route == PYR_ROUTE_PUSH && !media_ok_for_push(q->content_type))
    return reject_early(h, q, 415,
                        "unsupported content type: use application/proto or "
                        "application/json");

  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl != NULL) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    if (errno == 0 && end != cl && n > h->cfg->max_body_bytes) {
      char msg[160];
      snprintf(msg, sizeof(msg),
               "request body too large: %llu bytes, limit %llu "
               "(--max-body-bytes)",
               n, (unsigned long long)h->cfg->max_body_bytes);
      return reject_early(h, q, 413, msg);
    }
    /* Known length: allocate once (bounded by the check above). */
    if (errno == 0 && end != cl && n > 0) {
      q->body = malloc((size_t)n);
      if (q->body == NULL)
        return reject_early(h, q, 500, "out of memory");
      q->cap = (size_t)n;
    }
  }
  atomic_store_explicit(&q->state, RS_BODY, memory_order_relaxed);
  return MHD_YES;
}

/* Appends a piece of body; marks overflow instead of growing past the cap. */
static void upload_append(struct pyr_srv_http *h, struct req *q,
                          const char *data, size_t n) {
  if (q->overflow)
    return;
  if (n > h->cfg->max_body_bytes - q->len) {
    q->overflow = true;
    free(q->body);
    q->body = NULL;
    q->cap = 0;
    return;
  }
  if (q->len + n > q->cap) {
    size_t nc = q->cap ? q->cap * 2 : 64 * 1024;
    while (nc < q->len + n)
      nc *= 2;
    if (nc > h->cfg->max_body_bytes)
      nc = (size_t)h->cfg->max_body_bytes;
    unsigned char *nb = realloc(q->body, nc);
    if (nb == NULL) {
      q->overflow = true; /* answered as 413: we cannot hold it */
      free(q->body);
      q->body = NULL;
      q->cap = 0;
      return;
    }
    q->body = nb;
    q->cap = nc;
  }
  memcpy(q->body + q->len, data, n);
  q->len += n;
}

/* ---- queries (query.h) ---------------------------------------------------- */

struct argcopy {
  pyr_query_arg *a;
  size_t n, max;
  char *strs;   /* string area after the array */
  size_t used;
  bool count_only;
};

static enum MHD_Result arg_iter(void *cls, enum MHD_ValueKind kind,
                                const char *key, const char *value) {
  struct argcopy *c = cls;
  (void)kind;
  size_t kl = strlen(key) + 1, vl = value ? strlen(value) + 1 : 1;
  if (c->count_only) {
    c->n++;
    c->used += kl + vl;
    return MHD_YES;
  }
  if (c->n == c->max)
    return MHD_NO;
  char *k = c->strs + c->used;
  memcpy(k, key, kl);
  char *v = k + kl;
  memcpy(v, value ? value : "", vl);
  c->used += kl + vl;
  c->a[c->n++] = (pyr_query_arg){k, v};
  return MHD_YES;
}

/* Copies the URL arguments (the job runs on another thread). */
static int copy_args(struct req *q) {
  struct argcopy c = {.count_only = true};
  MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, arg_iter, &c);
  size_t n = c.n, bytes = c.used;
  q->qargs = malloc(n * sizeof(pyr_query_arg) + bytes + 1);
  if (q->qargs == NULL)
    return -1;
  c = (struct argcopy){.a = q->qargs, .max = n,
                       .strs = (char *)(q->qargs + n)};
  MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, arg_iter, &c);
  q->nqargs = c.n;
  return 0;
}

/* First call of a query route: method, auth, tenant, content type. */
static enum MHD_Result query_headers(struct pyr_srv_http *h, struct req *q,
                                     const char *method, const char *url) {
  struct MHD_Connection *conn = q->conn;
  const char *why = NULL, *allow = NULL;
  const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_TYPE);
  unsigned st = pyr_query_check(q->route, method, ct, &q->qres, &allow);
  if (st == 405) {
    atomic_store_explicit(&q->state, RS_ANSWERED, memory_order_relaxed);
    pyr_hist_observe(latency_hist(h, q), mono_ns() - q->t0_ns);
    return respond_error(h, conn, q->mpath, 405, "unimplemented",
                         q->qres.message, NULL, NULL, allow);
  }
  if (st != 0)
    return reject_early(h, q, st, q->qres.message);
  unsigned a = admit(h, q, PYR_AUTH_NEED_READ, &why);
  if (a != 0)
    return reject_early(h, q, a, why);
  if (grab(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE,
           &q->content_type) != 0 ||
      grab(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING,
           &q->content_encoding) != 0 ||
      (q->path = strdup(url)) == NULL || copy_args(q) != 0)
    return reject_early(h, q, 500, "out of memory");
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl != NULL && strtoull(cl, NULL, 10) > h->cfg->max_body_bytes)
    return reject_early(h, q, 413, "request body too large (--max-body-bytes)");
  /* The (usually empty) body is collected like an upload's, then the query
   * runs on a query worker. */
  atomic_store_explicit(&q->state, RS_BODY, memory_order_relaxed);
  return MHD_YES;
}

/* Query worker: run the query, resume the connection with the answer. */
static void query_job(void *arg) {
  struct req *q = arg;
  struct pyr_srv_http *h = q->h;
  pyr_query_env env = {
      .store = atomic_load_explicit(&h->store, memory_order_acquire),
      .max_decompressed = (size_t)h->cfg->max_decompressed_bytes,
  };
  pyr_query_req r = {
      .route = q->route,
      .path = q->path,
      .tenant = q->tenant,
      .args = q->qargs,
      .nargs = q->nqargs,
      .content_type = q->content_type,
      .content_encoding = q->content_encoding,
      .body = q->body,
      .len = q->len,
  };
  pyr_query_handle(&env, &r, &q->qres);
  free(q->body);
  q->body = NULL;
  q->cap = 0;
  atomic_store_explicit(&q->state, RS_DONE, memory_order_release);
  MHD_resume_connection(q->conn);
}

static enum MHD_Result answer_query(struct pyr_srv_http *h, struct req *q) {
  const pyr_query_resp *r = &q->qres;
  return answer_result(h, q, r->status, r->content_type, r->body, r->len, r->code,
                       r->message, latency_hist(h, q));
}

/* ---- routing -------------------------------------------------------------- */

/* MHD access handler: called two or more times per request. */
static enum MHD_Result route_request(void *cls, struct MHD_Connection *conn,
                                     const char *url, const char *method,
                                     const char *version,
                                     const char *upload_data,
                                     size_t *upload_data_size,
                                     void **req_cls) {
  struct pyr_srv_http *h = cls;
  struct req *q = *req_cls;
  (void)version;

  if (q == NULL) {
    q = calloc(1, sizeof(*q));
    if (q == NULL)
      return MHD_NO; /* MHD closes the connection */
    atomic_fetch_add_explicit(&h->metrics.in_flight, 1, memory_order_relaxed);
    q->h = h;
    q->conn = conn;
    q->route = route_of(url);
    q->mpath = pyr_metrics_path_of(q->route, url);
    q->t0_ns = mono_ns();
    atomic_init(&q->state, RS_HEADERS);
    *req_cls = q;
    if (q->route == PYR_ROUTE_INGEST || q->route == PYR_ROUTE_PUSH)
      return upload_headers(h, q, method);
    if (is_query_route(q->route))
      return query_headers(h, q, method, url);
    /* Other routes take no body.  Without one, answer on the next call,
     * which keeps the connection reusable; with one, answer now, so MHD
     * refuses the body and closes the connection. */
    if (!has_body(conn))
      return MHD_YES;
  }

  switch (atomic_load_explicit(&q->state, memory_order_acquire)) {
  case RS_ANSWERED:
    *upload_data_size = 0; /* a response is queued: discard any data */
    return MHD_YES;
  case RS_QUEUED:
    return MHD_YES; /* spurious call while suspended */
  case RS_DONE:
    return is_query_route(q->route) ? answer_query(h, q) : answer_upload(h, q);
  case RS_BODY:
    if (*upload_data_size > 0) {
      size_t n = *upload_data_size;
      *upload_data_size = 0;
      if (q->overflow || q->drain) {
        /* MHD (0.9.75) cannot queue a response in the middle of a body:
         * a rejected or oversized upload is read and dropped until its
         * end, then answered.  Past a hard cap the connection is simply
         * closed. */
        q->discarded += n;
        return q->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
      }
      upload_append(h, q, upload_data, n);
      if (q->overflow) {
        memset(&q->res, 0, sizeof(q->res));
        q->res.status = 413;
        q->res.code = pyr_ingest_code_for_status(413);
        snprintf(q->res.message, sizeof(q->res.message),
                 "request body too large: limit %llu bytes (--max-body-bytes)",
                 (unsigned long long)h->cfg->max_body_bytes);
        q->drain = true;
      }
      return MHD_YES;
    }
    if (q->drain)
      return reject_now(h, q, q->res.status, q->res.message);
    /* Whole body received. */
    atomic_store_explicit(&q->state, RS_QUEUED, memory_order_relaxed);
    MHD_suspend_connection(conn);
    if (is_query_route(q->route)) {
      if (pyr_pool_submit(h->qpool, query_job, q) != 0) {
        memset(&q->qres, 0, sizeof(q->qres));
        q->qres.status = 503;
        q->qres.code = "unavailable";
        snprintf(q->qres.message, sizeof(q->qres.message),
                 "too many queries waiting (%u query workers), retry later",
                 h->qworkers);
        atomic_store_explicit(&q->state, RS_DONE, memory_order_release);
        MHD_resume_connection(conn);
      }
      return MHD_YES;
    }
    if (pyr_pool_submit(h->pool, ingest_job, q) != 0) {
      memset(&q->res, 0, sizeof(q->res));
      q->res.status = 503;
      q->res.code = "unavailable";
      snprintf(q->res.message, sizeof(q->res.message),
               "too many uploads waiting (--ingest-queue %u), retry later",
               h->cfg->ingest_queue);
      q->res.format = q->route == PYR_ROUTE_PUSH ? PYR_FMT_PUSH
                                                 : PYR_FMT_UNSUPPORTED;
      atomic_store_explicit(&q->state, RS_DONE, memory_order_release);
      MHD_resume_connection(conn);
    }
    return MHD_YES;
  case RS_HEADERS:
  default:
    break;
  }

  /* Bodiless routes. */
  atomic_store_explicit(&q->state, RS_ANSWERED, memory_order_relaxed);
  if (q->route == PYR_ROUTE_READY) {
    if (!is_get_or_head(method))
      return respond_error(h, conn, q->route, 405, "unimplemented",
                           "method not allowed: ", method, url, "GET, HEAD");
    if (atomic_load_explicit(&h->stopping, memory_order_relaxed)) {
      static const char msg[] = "stopping\n";
      return respond(h, conn, q->route, 503, "text/plain; charset=utf-8", msg,
                     sizeof(msg) - 1, NULL, NULL);
    }
    if (atomic_load_explicit(&h->store, memory_order_acquire) == NULL) {
      static const char msg[] = "storage is not open yet\n";
      return respond(h, conn, q->route, 503, "text/plain; charset=utf-8", msg,
                     sizeof(msg) - 1, NULL, NULL);
    }
    /* Disk full: still 200.  Readiness gates all traffic, and queries
     * (and stored data) are fine; uploads get 507 and are retried by the
     * agents.  The state shows here and in pyrited_store_disk_full. */
    if (pyr_store_is_full(atomic_load_explicit(&h->store, memory_order_acquire))) {
      static const char full[] =
          "ready (degraded: storage full, uploads are refused with 507 until "
          "disk space is freed)\n";
      return respond(h, conn, q->route, MHD_HTTP_OK, "text/plain; charset=utf-8",
                     full, sizeof(full) - 1, NULL, NULL);
    }
    static const char ready[] = "ready";
    return respond(h, conn, q->route, MHD_HTTP_OK, "text/plain; charset=utf-8",
                   ready, sizeof(ready) - 1, NULL, NULL);
  }
  if (q->route == PYR_ROUTE_METRICS) {
    if (!is_get_or_head(method))
      return respond_error(h, conn, q->route, 405, "unimplemented",
                           "method not allowed: ", method, url, "GET, HEAD");
    return render_metrics(h, conn);
  }
  /* ---- web UI hook (issue 6; server/ui.h): "/" and /static/... ---- */
  if (pyr_ui_owns(url)) {
    unsigned ui_status = 0;
    enum MHD_Result ui_ret = pyr_ui_serve(conn, method, url, &ui_status);
    if (ui_ret == MHD_YES)
      pyr_metrics_count_request(&h->metrics, PYR_ROUTE_OTHER, ui_status);
    return ui_ret;
  }
  /* ---- end of web UI hook ---- */
  return respond_error(h, conn, PYR_ROUTE_OTHER, MHD_HTTP_NOT_FOUND,
                       "not_found", "no such endpoint: ", method, url, NULL);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
                              void **req_cls,
                              enum MHD_RequestTerminationCode toe) {
  struct pyr_srv_http *h = cls;
  struct req *q = *req_cls;
  (void)conn;
  (void)toe;
  if (q == NULL)
    return;
  *req_cls = NULL;
  req_free(q);
  atomic_fetch_sub_explicit(&h->metrics.in_flight, 1, memory_order_relaxed);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char line[512];
  (void)cls;
  vsnprintf(line, sizeof(line), fmt, ap);
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  fprintf(stderr, "pyrited: http: %s\n", line);
}

/* ---- listening socket --------------------------------------------------- */

static int open_listener(const struct pyr_srv_config *cfg, uint16_t *bound,
                         char *err, size_t errlen) {
  struct addrinfo hints, *res = NULL;
  char portstr[8];
  int fd = -1, saved = 0;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(portstr, sizeof(portstr), "%u", (unsigned)cfg->listen_port);
  int gai = getaddrinfo(cfg->listen_host, portstr, &hints, &res);
  if (gai != 0) {
    snprintf(err, errlen, "cannot resolve listen host '%.200s': %s",
             cfg->listen_host, gai_strerror(gai));
    goto out;
  }

  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                ai->ai_protocol);
    if (fd < 0) {
      saved = errno;
      continue;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        listen(fd, LISTEN_BACKLOG) == 0)
      break;
    saved = errno;
    close(fd);
    fd = -1;
  }
  if (fd < 0) {
    snprintf(err, errlen, "cannot listen on %.200s:%u: %s", cfg->listen_host,
             (unsigned)cfg->listen_port, strerror(saved ? saved : EINVAL));
    goto out;
  }

  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
    snprintf(err, errlen, "getsockname: %s", strerror(errno));
    close(fd);
    fd = -1;
    goto out;
  }
  if (ss.ss_family == AF_INET6)
    *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  else
    *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
out:
  if (res != NULL)
    freeaddrinfo(res);
  return fd;
}

/* Connections MHD may hold: every agent keeps one open.  Raises the soft
 * file limit to the hard one and leaves room for storage files.  An
 * explicit --max-connections wins (it is still capped by the file limit:
 * MHD cannot accept past it). */
static unsigned connection_limit(unsigned want_max) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return want_max != 0 && want_max < 1000 ? want_max : 1000;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t want = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (want > rl.rlim_cur) {
      struct rlimit nl = {want, rl.rlim_max};
      if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
        rl.rlim_cur = want;
    }
  }
  unsigned lim;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 + 256)
    lim = 65536;
  else
    lim = rl.rlim_cur > 512 ? (unsigned)(rl.rlim_cur - 256) : 256;
  return want_max != 0 && want_max < lim ? want_max : lim;
}

static unsigned online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
    n = CPU_COUNT(&set);
#endif
  if (n < 1)
    n = 1;
  if (n > PYR_SRV_MAX_THREADS)
    n = PYR_SRV_MAX_THREADS;
  return (unsigned)n;
}

/* ---- lifecycle ---------------------------------------------------------- */

int pyr_srv_http_start(const struct pyr_srv_config *cfg,
                       struct pyr_srv_http **out, char *err, size_t errlen) {
  struct pyr_srv_http *h = calloc(1, sizeof(*h));
  int rc = -1;

  *out = NULL;
  if (h == NULL) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  h->cfg = cfg;
  h->listen_fd = -1;
  pyr_metrics_init(&h->metrics);
  atomic_init(&h->stopping, false);
  atomic_init(&h->store, NULL);
  h->threads = cfg->threads ? cfg->threads : online_cpus();
  /* Workers mostly wait for group commits; several per CPU keep the CPUs
   * busy decoding while others wait for the disk. */
  h->workers = cfg->ingest_workers ? cfg->ingest_workers : online_cpus() * 4;
  if (cfg->ingest_workers == 0 && h->workers < 8)
    h->workers = 8;
  h->env.metrics = &h->metrics;
  h->env.max_decompressed = (size_t)cfg->max_decompressed_bytes;
  h->env.label_limits.max_labels = cfg->max_labels;
  h->env.label_limits.max_name_len = cfg->max_label_name_len;
  h->env.label_limits.max_value_len = cfg->max_label_value_len;
  h->env.prof_limits = NULL;

  /* Queries are CPU-bound merges: one worker per CPU; a short queue so a
   * burst is answered 503 instead of piling up behind slow merges. */
  h->qworkers = online_cpus();
  h->qpool = pyr_pool_new(h->qworkers, 64);
  if (h->qpool == NULL) {
    snprintf(err, errlen, "cannot start %u query workers", h->qworkers);
    goto out;
  }
  h->pool = pyr_pool_new(h->workers, cfg->ingest_queue);
  if (h->pool == NULL) {
    snprintf(err, errlen, "cannot start %u ingest workers", h->workers);
    goto out;
  }

  h->listen_fd = open_listener(cfg, &h->port, err, errlen);
  if (h->listen_fd < 0)
    goto out;

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                   MHD_ALLOW_SUSPEND_RESUME; /* implies ITC (quiesce too) */
  flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES
               ? MHD_USE_EPOLL
               : MHD_USE_POLL;
  h->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, route_request, h,
      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* must come first */
      MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->listen_fd,
      MHD_OPTION_THREAD_POOL_SIZE, h->threads,
      MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory,
      MHD_OPTION_CONNECTION_LIMIT, connection_limit(cfg->max_connections),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip,
      MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, NULL,
      MHD_OPTION_NOTIFY_COMPLETED, request_completed, h,
      MHD_OPTION_END);
  if (h->daemon == NULL) {
    snprintf(err, errlen, "cannot start the HTTP server on %.200s:%u",
             cfg->listen_host, (unsigned)h->port);
    goto out;
  }
  *out = h;
  h = NULL;
  rc = 0;
out:
  if (h != NULL) {
    /* MHD may or may not have closed a socket it failed to adopt. */
    if (h->listen_fd >= 0 && fcntl(h->listen_fd, F_GETFD) != -1)
      close(h->listen_fd);
    pyr_pool_stop(h->pool);
    pyr_pool_stop(h->qpool);
    free(h);
  }
  return rc;
}

void pyr_srv_http_set_store(struct pyr_srv_http *h, struct pyr_store *st) {
  atomic_store_explicit(&h->store, st, memory_order_release);
}

uint16_t pyr_srv_http_port(const struct pyr_srv_http *h) { return h->port; }

unsigned pyr_srv_http_threads(const struct pyr_srv_http *h) {
  return h->threads;
}

unsigned pyr_srv_http_workers(const struct pyr_srv_http *h) {
  return h->workers;
}

static uint64_t now_ms(void) { return mono_ns() / 1000000u; }

void pyr_srv_http_stop(struct pyr_srv_http *h) {
  if (h == NULL)
    return;
  atomic_store(&h->stopping, true);

  /* 1. No new connections; existing ones may finish their request. */
  MHD_socket ls = MHD_quiesce_daemon(h->daemon);

  /* 2. Drain: wait for requests MHD (or the pool) is still handling. */
  uint64_t deadline = now_ms() + h->cfg->drain_timeout_ms;
  while (atomic_load_explicit(&h->metrics.in_flight, memory_order_relaxed) > 0 &&
         now_ms() < deadline) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  long left = atomic_load_explicit(&h->metrics.in_flight, memory_order_relaxed);
  if (left > 0)
    fprintf(stderr,
            "pyrited: drain timeout: closing %ld unfinished request(s)\n",
            left);

  /* 3. Every accepted upload is finished and its connection resumed:
   *    MHD must not be stopped with suspended connections. */
  pyr_pool_stop(h->pool);
  h->pool = NULL;
  pyr_pool_stop(h->qpool); /* queries too: their connections are suspended */
  h->qpool = NULL;

  /* 4. Close the remaining connections and join the I/O threads. */
  MHD_stop_daemon(h->daemon);
  /* After a successful quiesce the listen socket is ours to close. */
  if (ls != MHD_INVALID_SOCKET)
    close(ls);
  free(h);
}
