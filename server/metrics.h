/*
 * metrics.h - pyrited's own Prometheus metrics (GET /metrics).
 *
 * What: fixed-cardinality counters and histograms updated by the HTTP and
 * ingest code: requests by route and status, uploads/bytes/profiles/
 * samples/parse errors by ingest format, and latency histograms for ingest
 * and queries.  Every label value comes from a fixed table (never from
 * client input), so the exposition stays bounded.  Storage metrics are
 * appended by the caller (store.h pyr_store_metrics).
 *
 * Threads: all updates are relaxed atomics and may happen on any thread;
 * rendering reads them without locks (a scrape may see one counter updated
 * and a related one not yet, which Prometheus tolerates).
 */
#ifndef PYRITE_SERVER_METRICS_H
#define PYRITE_SERVER_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Routes known to the request counter; ROUTE_OTHER collects the rest. */
enum pyr_route {
  PYR_ROUTE_READY,
  PYR_ROUTE_METRICS,
  PYR_ROUTE_INGEST,
  PYR_ROUTE_PUSH,
  /* query endpoints (query.h) */
  PYR_ROUTE_RENDER,       /* GET /pyroscope/render */
  PYR_ROUTE_RENDER_DIFF,  /* GET /pyroscope/render-diff */
  PYR_ROUTE_LABEL_VALUES, /* GET /pyroscope/label-values */
  PYR_ROUTE_LABEL_NAMES,  /* GET /pyroscope/label-names */
  PYR_ROUTE_QUERIER,      /* POST /querier.v1.QuerierService/<Method> */
  PYR_ROUTE_OTHER,
  PYR_ROUTE_COUNT
};

/* Ingest formats (the `format` label). */
enum pyr_fmt {
  PYR_FMT_JFR,
  PYR_FMT_PPROF,
  PYR_FMT_FOLDED,
  PYR_FMT_LINES,
  PYR_FMT_PUSH,
  PYR_FMT_UNSUPPORTED, /* trie, tree, speedscope */
  PYR_FMT_COUNT
};

const char *pyr_route_label(enum pyr_route r);
const char *pyr_fmt_label(enum pyr_fmt f);

#define PYR_HIST_BUCKETS 14 /* finite upper bounds; +Inf is implicit */

typedef struct pyr_histogram {
  atomic_uint_fast64_t bucket[PYR_HIST_BUCKETS + 1]; /* non-cumulative; last = +Inf */
  atomic_uint_fast64_t count;
  atomic_uint_fast64_t sum_ns;
} pyr_histogram;

#define PYR_METRICS_STATUS_MIN 100
#define PYR_METRICS_STATUS_MAX 599
#define PYR_METRICS_STATUS_SLOTS (PYR_METRICS_STATUS_MAX - PYR_METRICS_STATUS_MIN + 1)

typedef struct pyr_metrics {
  atomic_uint_fast64_t requests[PYR_ROUTE_COUNT][PYR_METRICS_STATUS_SLOTS];
  atomic_long in_flight;
  /* by format */
  atomic_uint_fast64_t uploads[PYR_FMT_COUNT];       /* accepted (200) */
  atomic_uint_fast64_t rejected[PYR_FMT_COUNT];      /* any 4xx/5xx after routing */
  atomic_uint_fast64_t bytes[PYR_FMT_COUNT];         /* request bodies, as received */
  atomic_uint_fast64_t decompressed[PYR_FMT_COUNT];  /* decoded payload bytes */
  atomic_uint_fast64_t profiles[PYR_FMT_COUNT];      /* series profiles stored */
  atomic_uint_fast64_t samples[PYR_FMT_COUNT];       /* (stack, labels) samples decoded */
  atomic_uint_fast64_t parse_errors[PYR_FMT_COUNT];  /* undecodable payloads */
  atomic_uint_fast64_t store_errors;                 /* store write failures */
  pyr_histogram ingest_latency; /* /ingest + Push, first byte -> response */
  pyr_histogram query_latency;  /* query endpoints, request -> response */
  int64_t started;              /* process start, s since epoch */
} pyr_metrics;

void pyr_metrics_init(pyr_metrics *m);

void pyr_metrics_count_request(pyr_metrics *m, enum pyr_route r, unsigned status);
void pyr_hist_observe(pyr_histogram *h, uint64_t ns);

static inline void pyr_metrics_add(atomic_uint_fast64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Writes the exposition of m (without storage metrics) to f. */
void pyr_metrics_render(const pyr_metrics *m, FILE *f);

#endif /* PYRITE_SERVER_METRICS_H */
