/*
 * bench_query.c - in-process query benchmark for pyrited (DESIGN.md §4:
 * flame graph for 1 h of one app, 360 uploads, p50 <= 50 ms; 24 h <= 500 ms).
 * No socket and no HTTP: it calls pyr_query_handle as a query worker does;
 * tests/tools/bench_query_http.py times the same data over real HTTP.
 *
 *   bench_query DIR [--uploads N] [--runs R] [--scale F] [--seed S]
 *                   [--sync full|normal] [--skip-compacted]
 *
 * Data: the storage benchmark's generator (ported from bench_store.c):
 * Java-shaped stacks (servlet/Spring prefix, request-handler spines,
 * app/JDK leaves, 30-90 frames), Zipf-drawn from stack pools, every 10 s
 * upload fresh, with all four agent profile types (CPU, wall, alloc,
 * lock: 6 series), so the store holds what a real app-day holds.  At
 * --scale 1 a CPU profile has ~1,500 distinct stacks per upload (4,200
 * over the four types).
 *
 * Measured, for the last 1 h (360 uploads) and 24 h (8640 uploads), on
 * fresh rows and again after compaction (the store merges closed 1 h
 * windows into blocks; the newest hour is always fresh):
 *   store    pyr_store_merge alone (storage side: read, decode, sum, tree)
 *   fg       + flame graph levels with maxNodes 8192 (our side)
 *   render   GET /pyroscope/render through pyr_query_handle (no HTTP)
 *            (exactly what a query worker runs: argument parsing, merge,
 *            flame graph, timeline from per-profile totals, JSON)
 *   smst-pb  SelectMergeStacktraces, application/proto request and answer
 *   smst-js  SelectMergeStacktraces, application/json
 * Each run does every variant once, interleaved (A B C A B C ...) so the
 * noise of a shared VM hits all alike; reported: first (cold) run, then
 * p50 / min / max of --runs warm runs, wall time and the thread's CPU time.
 *
 * Threads: one.  The store gets a simulated clock following upload times.
 */
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flamegraph.h"
#include "profile.h"
#include "querier.pb-c.h"
#include "query.h"
#include "query_engine.h"
#include "store.h"
#include "synth/bench_synth.h"


static int64_t bench_now(void) { return atomic_load(&synth_now); }

static pyr_store *g_st;
static pyr_query_env g_env;
#define CPU_TYPE "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define SELECTOR "{service_name=\"orders\"}"

enum { V_STORE, V_FG, V_RENDER, V_SMST_PB, V_SMST_JS, V_N };
static const char *const vname[V_N] = {"store", "fg", "render", "smst-pb", "smst-js"};

typedef struct result {
  size_t bytes;  /* response body */
  size_t nodes;  /* tree nodes (store, fg) or flame graph nodes */
  int64_t total;
} result;

static void die(const char *what, const pyr_query_resp *r) {
  fprintf(stderr, "bench_query: %s: %u %s\n", what, r ? r->status : 0, r ? r->message : "");
  exit(1);
}

static void run_store(int64_t start, int64_t end, result *res) {
  pyr_store_query q = {.profile_type = CPU_TYPE, .start_ns = start, .end_ns = end};
  pyr_store_label m = {"service_name", "orders"};
  q.match = &m;
  q.nmatch = 1;
  pyr_store_tree *t = NULL;
  char err[256];
  if (pyr_store_merge(g_st, "anonymous", &q, 0, &t, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_query: merge: %s\n", err);
    exit(1);
  }
  res->nodes = t->nnodes;
  res->total = t->total;
  pyr_store_tree_free(t);
}

static void run_fg(int64_t start, int64_t end, result *res) {
  pyr_selector sel;
  pyr_query_resp r = {0};
  char err[256];
  pyr_selector_init(&sel);
  if (pyr_selector_parse(SELECTOR, strlen(SELECTOR), &sel, err, sizeof(err)) != 0)
    die(err, NULL);
  pyr_store_tree *t = NULL;
  if (pyr_qe_merge(&g_env, "anonymous", CPU_TYPE, &sel, start, end, 0, &t, &r) != 0)
    die("merge", &r);
  pyr_flamegraph fg;
  if (pyr_fg_build(t, PYR_FG_DEFAULT_MAX_NODES, &fg) != 0)
    die("flame graph", NULL);
  res->nodes = fg.nnodes;
  res->total = fg.total;
  pyr_fg_free(&fg);
  pyr_store_tree_free(t);
  pyr_selector_free(&sel);
}

static void run_render(int64_t start, int64_t end, result *res) {
  char from[32], until[32];
  snprintf(from, sizeof(from), "%" PRId64, start / 1000000);
  snprintf(until, sizeof(until), "%" PRId64, end / 1000000);
  pyr_query_arg args[] = {{"query", CPU_TYPE SELECTOR}, {"from", from}, {"until", until}};
  pyr_query_req req = {.route = PYR_ROUTE_RENDER, .path = "/pyroscope/render",
                       .tenant = "anonymous", .args = args, .nargs = 3};
  pyr_query_resp r;
  pyr_query_handle(&g_env, &req, &r);
  if (r.status != 200)
    die("render", &r);
  res->bytes = r.len;
  pyr_query_resp_free(&r);
}

static void run_smst(int64_t start, int64_t end, bool json, result *res) {
  uint8_t pb[512];
  char js[512];
  Querier__V1__SelectMergeStacktracesRequest m =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__INIT;
  m.profile_typeid = CPU_TYPE;
  m.label_selector = SELECTOR;
  m.start = start / 1000000;
  m.end = end / 1000000;
  pyr_query_req req = {.route = PYR_ROUTE_QUERIER,
                       .path = "/querier.v1.QuerierService/SelectMergeStacktraces",
                       .tenant = "anonymous"};
  if (json) {
    int n = snprintf(js, sizeof(js),
                     "{\"profileTypeID\":\"%s\",\"labelSelector\":\"{service_name=\\\"orders\\\"}\","
                     "\"start\":\"%" PRId64 "\",\"end\":\"%" PRId64 "\"}",
                     CPU_TYPE, m.start, m.end);
    req.content_type = "application/json";
    req.body = (const unsigned char *)js;
    req.len = (size_t)n;
  } else {
    req.content_type = "application/proto";
    req.len = querier__v1__select_merge_stacktraces_request__pack(&m, pb);
    req.body = pb;
  }
  pyr_query_resp r;
  pyr_query_handle(&g_env, &req, &r);
  if (r.status != 200)
    die("SelectMergeStacktraces", &r);
  res->bytes = r.len;
  pyr_query_resp_free(&r);
}

static void run_variant(int v, int64_t start, int64_t end, result *res) {
  switch (v) {
  case V_STORE: run_store(start, end, res); break;
  case V_FG: run_fg(start, end, res); break;
  case V_RENDER: run_render(start, end, res); break;
  case V_SMST_PB: run_smst(start, end, false, res); break;
  default: run_smst(start, end, true, res); break;
  }
}

static void measure(const char *what, int64_t last, int runs) {
  static const struct {
    const char *name;
    int64_t span;
  } ranges[] = {{"1h", 3600 * SEC}, {"24h", 86400 * SEC}};
  for (size_t ri = 0; ri < 2; ri++) {
    int64_t start = last - ranges[ri].span + 1000000, end = last + 1000000;
    double first_w[V_N], first_c[V_N];
    double *w = malloc((size_t)runs * V_N * sizeof(double));
    double *c = malloc((size_t)runs * V_N * sizeof(double));
    result res[V_N];
    memset(res, 0, sizeof(res));
    for (int run = -1; run < runs; run++)
      for (int v = 0; v < V_N; v++) {
        double a = synth_now_s(), ac = synth_cpu_process_s();
        run_variant(v, start, end, &res[v]);
        double dw = (synth_now_s() - a) * 1e3, dc = (synth_cpu_process_s() - ac) * 1e3;
        if (run < 0) {
          first_w[v] = dw;
          first_c[v] = dc;
        } else {
          w[v * runs + run] = dw;
          c[v * runs + run] = dc;
        }
      }
    for (int v = 0; v < V_N; v++) {
      double *wv = w + v * runs, *cv = c + v * runs;
      double p50 = synth_pct(wv, (size_t)runs, 0.5), lo = synth_pct(wv, (size_t)runs, 0),
             hi = synth_pct(wv, (size_t)runs, 1), cp50 = synth_pct(cv, (size_t)runs, 0.5);
      printf("%-9s %-3s %-8s first %7.1f ms | p50 %7.1f ms (min %6.1f, max %6.1f) | cpu p50 %7.1f"
             " ms (first %6.1f)",
             what, ranges[ri].name, vname[v], first_w[v], p50, lo, hi, cp50, first_c[v]);
      if (res[v].nodes)
        printf(" | %zu %s", res[v].nodes, v == V_STORE ? "tree nodes" : "graph nodes");
      if (res[v].bytes)
        printf(" | %zu bytes", res[v].bytes);
      printf("\n");
    }
    fflush(stdout);
    free(w);
    free(c);
  }
}

static int64_t g_last_from;

static int last_cb(void *ctx, const pyr_store_series *s) {
  (void)ctx;
  if (s->t_max_ns > g_last_from)
    g_last_from = s->t_max_ns;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_query DIR [--uploads N] [--runs R] [--scale F] [--seed S]"
                    " [--sync full|normal] [--skip-compacted]\n");
    return 2;
  }
  const char *dir = argv[1];
  int uploads = 8640, runs = 7, sync_full = 0, skip_compacted = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--uploads") && i + 1 < argc)
      uploads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
      synth_scale = atof(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      synth_seed(strtoull(argv[++i], NULL, 10));
    else if (!strcmp(argv[i], "--sync") && i + 1 < argc)
      sync_full = strcmp(argv[++i], "full") == 0;
    else if (!strcmp(argv[i], "--skip-compacted"))
      skip_compacted = 1;
    else {
      fprintf(stderr, "bench_query: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (runs < 1)
    runs = 1;
  if (uploads < 360)
    uploads = 360;
  if (mkdir(dir, 0755) != 0 && access(dir, W_OK) != 0) {
    perror(dir);
    return 1;
  }
  char sub[4096];
  snprintf(sub, sizeof(sub), "%s/query-day", dir);
  atomic_store(&synth_now, T0);
  g_st = synth_open_store(sub, sync_full);

  /* Reuse a store a previous run left (generation takes minutes). */
  pyr_store_series_foreach(g_st, "anonymous", NULL, last_cb, NULL);
  int64_t last = g_last_from;
  if (last == 0) {
    synth_init();
    double a = synth_now_s();
    size_t distinct = 0, distinct_cpu = 0;
    for (int i = 0; i < uploads; i++) {
      synth_upload u;
      synth_gen_upload(&u);
      distinct += synth_distinct_stacks(&u);
      distinct_cpu += pyr_prof_nsamples(u.p[SYNTH_CPU]);
      last = T0 + (int64_t)i * 10 * SEC;
      atomic_store(&synth_now, last + 10 * SEC);
      if (synth_write_upload(g_st, &u, "orders", last) != 0)
        return 1;
      synth_free_upload(&u);
      if ((i + 1) % 1000 == 0)
        fprintf(stderr, "  %d/%d uploads\n", i + 1, uploads);
    }
    printf("data        %d uploads of one app at 10 s (%.0f distinct CPU stacks/upload, %.0f over"
           " 4 types), generated and written in %.1f s\n",
           uploads, (double)distinct_cpu / uploads, (double)distinct / uploads, synth_now_s() - a);
  } else {
    printf("data        reusing %s (newest profile at T0 + %" PRId64 " s)\n", sub,
           (last - T0) / SEC);
  }
  atomic_store(&synth_now, last + 10 * SEC);
  g_env = (pyr_query_env){.store = g_st, .max_decompressed = 64 << 20, .now_ns = bench_now};
  printf("runs        %d warm runs per variant after one cold run, interleaved\n", runs);
  fflush(stdout);
  measure("fresh", last, runs);

  if (!skip_compacted) {
    /* Compact every closed 1 h window (the newest hour stays fresh, as in
     * production), then measure again on a reopened store. */
    char err[256];
    atomic_store(&synth_now, last + 10 * SEC + 2 * 3600 * SEC);
    if (pyr_store_sweep(g_st, err, sizeof(err)) != 0) {
      fprintf(stderr, "bench_query: sweep: %s\n", err);
      return 1;
    }
    pyr_store_close(g_st);
    atomic_store(&synth_now, last + 10 * SEC);
    g_st = synth_open_store(sub, sync_full);
    g_env.store = g_st;
    measure("compacted", last, runs);
  }
  pyr_store_close(g_st);
  return 0;
}
