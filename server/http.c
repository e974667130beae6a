/*
 * http.c - pyrited's HTTP front end on libmicrohttpd.
 *
 * What: opens the listening socket itself (so bind errors are reported with
 * the address and errno text), hands it to an MHD daemon running a pool of
 * internal-polling worker threads (epoll where MHD supports it), routes each
 * request, and counts requests by route and status for GET /metrics.
 *
 * Threads: the daemon is started and stopped by the controlling thread.
 * route_request() and request_completed() run on MHD workers, concurrently;
 * they touch only the immutable parts of struct pyr_srv_http and its
 * atomics (relaxed: counters need no ordering with anything else).
 *
 * Invariants:
 *  - each request gets exactly one response, counted once in `requests`:
 *    on the second call of the access handler, or on the first when the
 *    request has a body (no route reads one yet; answering before the body
 *    makes MHD skip it and close the connection);
 *  - `in_flight` is incremented on the first call and decremented in the
 *    completion callback, so it counts requests MHD still holds;
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
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#ifndef PYRITE_VERSION
#define PYRITE_VERSION "unknown"
#endif

/* Routes known to the metrics; ROUTE_OTHER collects every unknown path. */
enum route { ROUTE_READY, ROUTE_METRICS, ROUTE_OTHER, ROUTE_COUNT };
static const char *const route_label[ROUTE_COUNT] = {"/ready", "/metrics",
                                                     "other"};

#define STATUS_MIN 100
#define STATUS_MAX 599
#define STATUS_SLOTS (STATUS_MAX - STATUS_MIN + 1)
#define METRICS_MAX_BYTES (1u << 20)
#define LISTEN_BACKLOG 1024
#define CONNECTION_TIMEOUT_S 60u

struct pyr_srv_http {
  const struct pyr_srv_config *cfg;
  struct MHD_Daemon *daemon;
  int listen_fd;
  uint16_t port;
  unsigned threads;
  time_t started;
  atomic_bool stopping;
  atomic_long in_flight;
  atomic_uint_fast64_t requests[ROUTE_COUNT][STATUS_SLOTS];
};

/* Per-request state kept in MHD's request closure: NULL before the first
 * call, then the address of one of these markers. */
static char req_waiting;  /* counted in in_flight, not answered yet */
static char req_answered; /* counted in in_flight, response queued */

/* ---- small bounded string builder ------------------------------------- */

struct sbuf {
  char *p;
  size_t len, cap, max;
  bool failed; /* out of memory or over max: content is incomplete */
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sbuf_printf(struct sbuf *b, const char *fmt, ...) {
  if (b->failed)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = true;
      return;
    }
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    size_t want = b->len + (size_t)n + 1;
    size_t ncap = b->cap ? b->cap * 2 : 1024;
    while (ncap < want)
      ncap *= 2;
    if (ncap > b->max) {
      b->failed = true;
      return;
    }
    char *np = realloc(b->p, ncap);
    if (np == NULL) {
      b->failed = true;
      return;
    }
    b->p = np;
    b->cap = ncap;
  }
}

/* Appends s as the inside of a JSON string, at most maxin input bytes.
 * Control characters and non-ASCII bytes become \u00XX, so the output is
 * valid JSON whatever the client sent. */
static void sbuf_json_str(struct sbuf *b, const char *s, size_t maxin) {
  size_t i;
  for (i = 0; s[i] != '\0' && i < maxin; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      sbuf_printf(b, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      sbuf_printf(b, "\\u%04x", c);
    else
      sbuf_printf(b, "%c", c);
  }
  if (s[i] != '\0')
    sbuf_printf(b, "...");
}

/* ---- responses ---------------------------------------------------------- */

static void count_request(struct pyr_srv_http *h, enum route r,
                          unsigned status) {
  if (status < STATUS_MIN || status > STATUS_MAX)
    return;
  atomic_fetch_add_explicit(&h->requests[r][status - STATUS_MIN], 1,
                            memory_order_relaxed);
}

/* Queues body (copied) with the given status and content type. */
static enum MHD_Result respond(struct pyr_srv_http *h,
                               struct MHD_Connection *conn, enum route r,
                               unsigned status, const char *ctype,
                               const char *body, size_t len,
                               const char *allow) {
  enum MHD_Result ret = MHD_NO;
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (resp == NULL)
    goto out;
  if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) !=
      MHD_YES)
    goto out;
  if (allow != NULL &&
      MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)
    goto out;
  /* While draining, do not let keep-alive connections start new requests. */
  if (atomic_load_explicit(&h->stopping, memory_order_relaxed) &&
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") !=
          MHD_YES)
    goto out;
  ret = MHD_queue_response(conn, status, resp);
  if (ret == MHD_YES)
    count_request(h, r, status);
out:
  if (resp != NULL)
    MHD_destroy_response(resp);
  return ret;
}

/* {"code":CODE,"message":"<fmt_prefix> METHOD PATH"} with client input
 * escaped. */
static enum MHD_Result respond_json_error(struct pyr_srv_http *h,
                                          struct MHD_Connection *conn,
                                          enum route r, unsigned status,
                                          const char *code,
                                          const char *what,
                                          const char *method, const char *url,
                                          const char *allow) {
  struct sbuf b = {.max = 4096};
  enum MHD_Result ret = MHD_NO;

  sbuf_printf(&b, "{\"code\":\"%s\",\"message\":\"%s ", code, what);
  sbuf_json_str(&b, method, 32);
  sbuf_printf(&b, " ");
  sbuf_json_str(&b, url, 512);
  sbuf_printf(&b, "\"}\n");
  if (b.failed)
    goto out;
  ret = respond(h, conn, r, status, "application/json", b.p, b.len, allow);
out:
  free(b.p);
  return ret;
}

static void render_metrics(struct pyr_srv_http *h, struct sbuf *b) {
  sbuf_printf(b, "# HELP pyrited_requests_total HTTP requests answered, by "
                 "route and status code.\n"
                 "# TYPE pyrited_requests_total counter\n");
  for (int r = 0; r < ROUTE_COUNT; r++) {
    for (int s = 0; s < STATUS_SLOTS; s++) {
      uint_fast64_t n =
          atomic_load_explicit(&h->requests[r][s], memory_order_relaxed);
      if (n == 0)
        continue;
      sbuf_printf(b, "pyrited_requests_total{path=\"%s\",code=\"%d\"} %llu\n",
                  route_label[r], s + STATUS_MIN, (unsigned long long)n);
    }
  }
  sbuf_printf(b,
              "# HELP pyrited_requests_in_flight Requests being handled now.\n"
              "# TYPE pyrited_requests_in_flight gauge\n"
              "pyrited_requests_in_flight %ld\n",
              atomic_load_explicit(&h->in_flight, memory_order_relaxed));
  sbuf_printf(b,
              "# HELP pyrited_build_info Build of the running server.\n"
              "# TYPE pyrited_build_info gauge\n"
              "pyrited_build_info{version=\"%s\"} 1\n",
              PYRITE_VERSION);
  sbuf_printf(b,
              "# HELP process_start_time_seconds Start time of the process "
              "since the Unix epoch, in seconds.\n"
              "# TYPE process_start_time_seconds gauge\n"
              "process_start_time_seconds %lld\n",
              (long long)h->started);
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

/* MHD access handler: called two or more times per request. */
static enum MHD_Result route_request(void *cls, struct MHD_Connection *conn,
                                     const char *url, const char *method,
                                     const char *version,
                                     const char *upload_data,
                                     size_t *upload_data_size,
                                     void **req_cls) {
  struct pyr_srv_http *h = cls;
  (void)version;
  (void)upload_data;

  if (*req_cls == NULL) {
    /* First call: headers only.  A request without a body is answered on
     * the next call, which keeps the connection reusable; one with a body
     * is answered now, so MHD refuses the body and closes the connection
     * (no route in this build accepts a body). */
    atomic_fetch_add_explicit(&h->in_flight, 1, memory_order_relaxed);
    if (!has_body(conn)) {
      *req_cls = &req_waiting;
      return MHD_YES;
    }
  } else if (*req_cls == &req_answered) {
    /* Defensive: a response is already queued; discard any data. */
    *upload_data_size = 0;
    return MHD_YES;
  }
  *req_cls = &req_answered;

  if (strcmp(url, "/ready") == 0) {
    if (!is_get_or_head(method))
      return respond_json_error(h, conn, ROUTE_READY,
                                MHD_HTTP_METHOD_NOT_ALLOWED,
                                "method_not_allowed", "not allowed:", method,
                                url, "GET, HEAD");
    static const char ready[] = "ready";
    return respond(h, conn, ROUTE_READY, MHD_HTTP_OK,
                   "text/plain; charset=utf-8", ready, sizeof(ready) - 1,
                   NULL);
  }

  if (strcmp(url, "/metrics") == 0) {
    if (!is_get_or_head(method))
      return respond_json_error(h, conn, ROUTE_METRICS,
                                MHD_HTTP_METHOD_NOT_ALLOWED,
                                "method_not_allowed", "not allowed:", method,
                                url, "GET, HEAD");
    struct sbuf b = {.max = METRICS_MAX_BYTES};
    enum MHD_Result ret;
    render_metrics(h, &b);
    if (b.failed) {
      free(b.p);
      static const char oom[] = "{\"code\":\"internal\",\"message\":"
                                "\"cannot render metrics\"}\n";
      return respond(h, conn, ROUTE_METRICS, MHD_HTTP_INTERNAL_SERVER_ERROR,
                     "application/json", oom, sizeof(oom) - 1, NULL);
    }
    ret = respond(h, conn, ROUTE_METRICS, MHD_HTTP_OK,
                  "text/plain; version=0.0.4; charset=utf-8", b.p, b.len,
                  NULL);
    free(b.p);
    return ret;
  }

  return respond_json_error(h, conn, ROUTE_OTHER, MHD_HTTP_NOT_FOUND,
                            "not_found", "no such endpoint:", method, url,
                            NULL);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
                              void **req_cls,
                              enum MHD_RequestTerminationCode toe) {
  struct pyr_srv_http *h = cls;
  (void)conn;
  (void)toe;
  if (*req_cls == NULL)
    return;
  *req_cls = NULL;
  atomic_fetch_sub_explicit(&h->in_flight, 1, memory_order_relaxed);
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
  h->started = time(NULL);
  atomic_init(&h->stopping, false);
  atomic_init(&h->in_flight, 0);
  for (int r = 0; r < ROUTE_COUNT; r++)
    for (int s = 0; s < STATUS_SLOTS; s++)
      atomic_init(&h->requests[r][s], 0);
  h->threads = cfg->threads ? cfg->threads : online_cpus();

  h->listen_fd = open_listener(cfg, &h->port, err, errlen);
  if (h->listen_fd < 0)
    goto out;

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                   MHD_USE_ITC; /* ITC: needed by MHD_quiesce_daemon */
  flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES
               ? MHD_USE_EPOLL
               : MHD_USE_POLL;
  h->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, route_request, h,
      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* must come first */
      MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->listen_fd,
      MHD_OPTION_THREAD_POOL_SIZE, h->threads,
      MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S,
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
    free(h);
  }
  return rc;
}

uint16_t pyr_srv_http_port(const struct pyr_srv_http *h) { return h->port; }

unsigned pyr_srv_http_threads(const struct pyr_srv_http *h) {
  return h->threads;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void pyr_srv_http_stop(struct pyr_srv_http *h) {
  if (h == NULL)
    return;
  atomic_store(&h->stopping, true);

  /* 1. No new connections; existing ones may finish their request. */
  MHD_socket ls = MHD_quiesce_daemon(h->daemon);

  /* 2. Drain: wait for requests MHD is still handling. */
  uint64_t deadline = now_ms() + h->cfg->drain_timeout_ms;
  while (atomic_load_explicit(&h->in_flight, memory_order_relaxed) > 0 &&
         now_ms() < deadline) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  long left = atomic_load_explicit(&h->in_flight, memory_order_relaxed);
  if (left > 0)
    fprintf(stderr,
            "pyrited: drain timeout: closing %ld unfinished request(s)\n",
            left);

  /* 3. Close idle keep-alive connections and join the workers. */
  MHD_stop_daemon(h->daemon);
  /* After a successful quiesce the listen socket is ours to close. */
  if (ls != MHD_INVALID_SOCKET)
    close(ls);
  free(h);
}
