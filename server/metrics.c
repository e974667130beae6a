/*
 * metrics.c - counters, histograms and their Prometheus text rendering.
 *
 * Threads: relaxed atomics only (see metrics.h).
 *
 * Invariants: label values are string literals from the tables below (a
 * querier method name from the URL is only compared, never copied); a
 * histogram's buckets are stored non-cumulative and summed while rendering,
 * so one observation is one atomic increment.
 */
#include "metrics.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#ifndef PYRITE_VERSION
#define PYRITE_VERSION "unknown"
#endif

static const char *const route_labels[PYR_ROUTE_COUNT] = {
    "/ready",
    "/metrics",
    "/ingest",
    "/push.v1.PusherService/Push",
    "/pyroscope/render",
    "/pyroscope/render-diff",
    "/pyroscope/label-values",
    "/pyroscope/label-names",
    "/querier.v1.QuerierService",
    "other"};

/* Indexed by enum pyr_qmethod: the method part of the path and its label. */
static const char *const qmethod_names[PYR_QM_COUNT] = {
    "ProfileTypes",        "LabelNames",         "LabelValues",
    "Series",              "SelectMergeStacktraces", "SelectMergeProfile",
    "SelectSeries",        "Diff",               "GetProfileStats",
    NULL};

static const char *const qmethod_labels[PYR_QM_COUNT] = {
    "/querier.v1.QuerierService/ProfileTypes",
    "/querier.v1.QuerierService/LabelNames",
    "/querier.v1.QuerierService/LabelValues",
    "/querier.v1.QuerierService/Series",
    "/querier.v1.QuerierService/SelectMergeStacktraces",
    "/querier.v1.QuerierService/SelectMergeProfile",
    "/querier.v1.QuerierService/SelectSeries",
    "/querier.v1.QuerierService/Diff",
    "/querier.v1.QuerierService/GetProfileStats",
    "/querier.v1.QuerierService/other"};

#define QUERIER_PREFIX "/querier.v1.QuerierService/"

static const char *const fmt_labels[PYR_FMT_COUNT] = {
    "jfr", "pprof", "folded", "lines", "push", "unsupported"};

/* Seconds; covers a sub-millisecond decode up to a slow disk. */
static const double hist_bounds[PYR_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,  0.5,    1,     2.5,  5,     10};

const char *pyr_route_label(enum pyr_route r) {
  return (unsigned)r < PYR_ROUTE_COUNT ? route_labels[r] : "other";
}

const char *pyr_metrics_path_label(unsigned path) {
  if (path < PYR_ROUTE_COUNT)
    return route_labels[path];
  if (path < PYR_METRICS_PATHS)
    return qmethod_labels[path - PYR_ROUTE_COUNT];
  return "other";
}

unsigned pyr_metrics_path_of(enum pyr_route r, const char *url) {
  if ((unsigned)r >= PYR_ROUTE_COUNT)
    return PYR_ROUTE_OTHER;
  if (r != PYR_ROUTE_QUERIER || url == NULL)
    return (unsigned)r;
  size_t plen = sizeof(QUERIER_PREFIX) - 1;
  unsigned m = PYR_QM_OTHER;
  if (strncmp(url, QUERIER_PREFIX, plen) == 0)
    for (unsigned i = 0; i < PYR_QM_OTHER; i++)
      if (strcmp(url + plen, qmethod_names[i]) == 0) {
        m = i;
        break;
      }
  return PYR_ROUTE_COUNT + m;
}

/* Slots whose query latency is rendered. */
static bool is_query_slot(unsigned path) {
  return path == PYR_ROUTE_RENDER || path == PYR_ROUTE_RENDER_DIFF ||
         path == PYR_ROUTE_LABEL_VALUES || path == PYR_ROUTE_LABEL_NAMES ||
         (path >= PYR_ROUTE_COUNT && path < PYR_METRICS_PATHS);
}

pyr_histogram *pyr_metrics_query_hist(pyr_metrics *m, unsigned path) {
  if (!is_query_slot(path))
    path = PYR_ROUTE_COUNT + PYR_QM_OTHER;
  return &m->query_latency[path];
}

const char *pyr_fmt_label(enum pyr_fmt f) {
  return (unsigned)f < PYR_FMT_COUNT ? fmt_labels[f] : "unsupported";
}

void pyr_metrics_init(pyr_metrics *m) {
  /* All-zero is a valid initial state for these lock-free atomics. */
  memset(m, 0, sizeof(*m));
  m->started = (int64_t)time(NULL);
}

void pyr_metrics_count_request(pyr_metrics *m, unsigned path,
                               unsigned status) {
  if (status < PYR_METRICS_STATUS_MIN || status > PYR_METRICS_STATUS_MAX ||
      path >= PYR_METRICS_PATHS)
    return;
  atomic_fetch_add_explicit(&m->requests[path][status - PYR_METRICS_STATUS_MIN],
                            1, memory_order_relaxed);
}

void pyr_hist_observe(pyr_histogram *h, uint64_t ns) {
  double s = (double)ns / 1e9;
  size_t i = 0;
  while (i < PYR_HIST_BUCKETS && s > hist_bounds[i])
    i++;
  atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

static uint64_t ld(const atomic_uint_fast64_t *c) {
  return atomic_load_explicit((atomic_uint_fast64_t *)c, memory_order_relaxed);
}

/* One histogram's series; path == NULL: no label besides le. */
static void render_hist_series(FILE *f, const char *name, const char *path,
                               const pyr_histogram *h) {
  char lab[128] = "";
  if (path != NULL)
    snprintf(lab, sizeof(lab), "path=\"%s\"", path);
  const char *sep = path != NULL ? "," : "";
  uint64_t cum = 0;
  for (size_t i = 0; i < PYR_HIST_BUCKETS; i++) {
    cum += ld(&h->bucket[i]);
    fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, lab, sep,
            hist_bounds[i], (unsigned long long)cum);
  }
  cum += ld(&h->bucket[PYR_HIST_BUCKETS]);
  fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, lab, sep,
          (unsigned long long)cum);
  if (path != NULL) {
    fprintf(f, "%s_sum{%s} %.9f\n", name, lab, (double)ld(&h->sum_ns) / 1e9);
    fprintf(f, "%s_count{%s} %llu\n", name, lab,
            (unsigned long long)ld(&h->count));
  } else {
    fprintf(f, "%s_sum %.9f\n", name, (double)ld(&h->sum_ns) / 1e9);
    fprintf(f, "%s_count %llu\n", name, (unsigned long long)ld(&h->count));
  }
}

static void render_hist(FILE *f, const char *name, const char *help,
                        const pyr_histogram *h) {
  fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  render_hist_series(f, name, NULL, h);
}

static void render_by_fmt(FILE *f, const char *name, const char *help,
                          const atomic_uint_fast64_t *v) {
  fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
  for (int i = 0; i < PYR_FMT_COUNT; i++)
    fprintf(f, "%s{format=\"%s\"} %llu\n", name, fmt_labels[i],
            (unsigned long long)ld(&v[i]));
}

void pyr_metrics_render(const pyr_metrics *m, FILE *f) {
  fprintf(f, "# HELP pyrited_requests_total HTTP requests answered, by route "
             "and status code.\n"
             "# TYPE pyrited_requests_total counter\n");
  for (unsigned p = 0; p < PYR_METRICS_PATHS; p++)
    for (int s = 0; s < PYR_METRICS_STATUS_SLOTS; s++) {
      uint64_t n = ld(&m->requests[p][s]);
      if (n != 0)
        fprintf(f, "pyrited_requests_total{path=\"%s\",code=\"%d\"} %llu\n",
                pyr_metrics_path_label(p), s + PYR_METRICS_STATUS_MIN,
                (unsigned long long)n);
    }
  fprintf(f,
          "# HELP pyrited_requests_in_flight Requests being handled now.\n"
          "# TYPE pyrited_requests_in_flight gauge\n"
          "pyrited_requests_in_flight %ld\n",
          atomic_load_explicit((atomic_long *)&m->in_flight,
                               memory_order_relaxed));

  render_by_fmt(f, "pyrited_ingest_uploads_total",
                "Uploads accepted (answered 200), by format.", m->uploads);
  render_by_fmt(f, "pyrited_ingest_rejected_total",
                "Uploads answered with an error status, by format.",
                m->rejected);
  render_by_fmt(f, "pyrited_ingest_received_bytes_total",
                "Request body bytes received by the ingest endpoints.",
                m->bytes);
  render_by_fmt(f, "pyrited_ingest_decompressed_bytes_total",
                "Payload bytes after decompression.", m->decompressed);
  render_by_fmt(f, "pyrited_ingest_profiles_total",
                "Series profiles (one per series and upload) stored.",
                m->profiles);
  render_by_fmt(f, "pyrited_ingest_samples_total",
                "Samples (distinct stack and label set) decoded.", m->samples);
  render_by_fmt(f, "pyrited_ingest_parse_errors_total",
                "Payloads that could not be decoded (422/400).",
                m->parse_errors);
  fprintf(f,
          "# HELP pyrited_ingest_store_errors_total Uploads the storage "
          "failed to write.\n"
          "# TYPE pyrited_ingest_store_errors_total counter\n"
          "pyrited_ingest_store_errors_total %llu\n",
          (unsigned long long)ld(&m->store_errors));
  render_hist(f, "pyrited_ingest_duration_seconds",
              "Ingest request latency, first request byte to response "
              "(includes the durable storage write).",
              &m->ingest_latency);
  /* Every query slot is always rendered (a fixed set of 14 paths), so a
   * dashboard's series exist before the first query. */
  fprintf(f,
          "# HELP pyrited_query_duration_seconds Query request latency, "
          "request to response, by path (Connect: per method).\n"
          "# TYPE pyrited_query_duration_seconds histogram\n");
  for (unsigned p = 0; p < PYR_METRICS_PATHS; p++)
    if (is_query_slot(p))
      render_hist_series(f, "pyrited_query_duration_seconds",
                         pyr_metrics_path_label(p), &m->query_latency[p]);
  fprintf(f,
          "# HELP pyrited_build_info Build of the running server.\n"
          "# TYPE pyrited_build_info gauge\n"
          "pyrited_build_info{version=\"%s\"} 1\n",
          PYRITE_VERSION);
  fprintf(f,
          "# HELP process_start_time_seconds Start time of the process since "
          "the Unix epoch, in seconds.\n"
          "# TYPE process_start_time_seconds gauge\n"
          "process_start_time_seconds %lld\n",
          (long long)m->started);
}
