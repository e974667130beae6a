/*
 * metrics.h - pyrited's own Prometheus metrics (GET /metrics).
 *
 * What: fixed-cardinality counters and histograms updated by the HTTP and
 * ingest code: requests by path and status, uploads/bytes/profiles/
 * samples/parse errors by ingest format, and latency histograms for ingest
 * and for queries (the latter by path).  A "path" is a metrics slot: one
 * per route, with the Connect querier split per method
 * (/querier.v1.QuerierService/<Method> for the nine known methods, .../other
 * for any other).  Every label value comes from a fixed table (never from
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

/* Connect querier methods with their own metrics slot (querier.h). */
enum pyr_qmethod {
  PYR_QM_PROFILE_TYPES,
  PYR_QM_LABEL_NAMES,
  PYR_QM_LABEL_VALUES,
  PYR_QM_SERIES,
  PYR_QM_SELECT_MERGE_STACKTRACES,
  PYR_QM_SELECT_MERGE_PROFILE,
  PYR_QM_SELECT_SERIES,
  PYR_QM_DIFF,
  PYR_QM_GET_PROFILE_STATS,
  PYR_QM_OTHER, /* unknown method name: never echoed into a label */
  PYR_QM_COUNT
};

/* Metrics slots: slot r < PYR_ROUTE_COUNT is route r; the querier's
 * methods follow.  PYR_ROUTE_QUERIER's own slot stays unused once requests
 * are mapped with pyr_metrics_path_of. */
#define PYR_METRICS_PATHS (PYR_ROUTE_COUNT + PYR_QM_COUNT)

const char *pyr_route_label(enum pyr_route r);
/* The `path` label of a slot ("other" when out of range). */
const char *pyr_metrics_path_label(unsigned path);
/* The slot for a request on route r with URL path url (url may be NULL:
 * then the slot is r).  For PYR_ROUTE_QUERIER the method after the service
 * prefix picks the slot; an unknown method maps to .../other. */
unsigned pyr_metrics_path_of(enum pyr_route r, const char *url);
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
  atomic_uint_fast64_t requests[PYR_METRICS_PATHS][PYR_METRICS_STATUS_SLOTS];
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
  /* query endpoints by slot, request -> response (only the query slots
   * are used and rendered: the four /pyroscope/ routes and the querier
   * methods) */
  pyr_histogram query_latency[PYR_METRICS_PATHS];
  int64_t started;              /* process start, s since epoch */
} pyr_metrics;

void pyr_metrics_init(pyr_metrics *m);

/* path: a slot (an enum pyr_route value or pyr_metrics_path_of's result). */
void pyr_metrics_count_request(pyr_metrics *m, unsigned path, unsigned status);
/* The query latency histogram of slot path (a non-query slot maps to the
 * "other" querier slot, so a caller error cannot index out of bounds). */
pyr_histogram *pyr_metrics_query_hist(pyr_metrics *m, unsigned path);
void pyr_hist_observe(pyr_histogram *h, uint64_t ns);

static inline void pyr_metrics_add(atomic_uint_fast64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Writes the exposition of m (without storage metrics) to f. */
void pyr_metrics_render(const pyr_metrics *m, FILE *f);

#endif /* PYRITE_SERVER_METRICS_H */
