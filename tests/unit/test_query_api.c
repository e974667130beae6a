/*
 * test_query_api.c - the query API end to end without HTTP: requests go
 * through pyr_query_handle() (exactly what a query worker runs) against a
 * real store in a temp dir.  Covers render (JSON shape, timeline rules and
 * sums, groups, maxNodes, collapsed, gzip'd pprof), render-diff,
 * label-values/-names, every QuerierService method in protobuf and JSON
 * (flame graphs equal to render's, SelectSeries points summing to the
 * total, Series projections, stats, the 1970 health check), header-time
 * checks (405/415), and 400s naming the bad argument.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ingest_gzip.h"
#include "pprof.h"
#include "profile.h"
#include "querier.pb-c.h"
#include "query.h"
#include "query_engine.h"
#include "query_types.pb-c.h"
#include "store.h"

#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1700000000) * SEC)
#define CPU "process_cpu:cpu:nanoseconds:cpu:nanoseconds"

static const pyr_prof_type cpu_type = {
    .name = "process_cpu", .nvalues = 1, .sample_type = {"cpu"},
    .sample_unit = {"nanoseconds"}, .period_type = "cpu", .period_unit = "nanoseconds",
    .period = 10000000};
static const pyr_prof_type mem_type = {
    .name = "memory", .nvalues = 1, .sample_type = {"alloc_in_new_tlab_bytes"},
    .sample_unit = {"bytes"}, .period_type = "space", .period_unit = "bytes", .period = 524288};

static char *g_dir;
static pyr_store *g_st;
static pyr_query_env g_env;
static int64_t now_fn(void) { return T0 + 3600 * SEC; }

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

/* "a;b;c v" lines, root first */
static pyr_prof *mkprof(const pyr_prof_type *t, const char *text) {
  pyr_prof *p = pyr_prof_new(t, &pyr_prof_default_limits);
  char *dup = strdup(text), *save = NULL;
  for (char *line = strtok_r(dup, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    uint32_t locs[64], n = 0;
    char *sp = strrchr(line, ' ');
    *sp = '\0';
    int64_t v = atoll(sp + 1);
    char *fs = NULL;
    for (char *f = strtok_r(line, ";", &fs); f; f = strtok_r(NULL, ";", &fs)) {
      int64_t name = pyr_prof_intern(p, f, strlen(f));
      locs[n++] = (uint32_t)pyr_prof_location(p, (uint32_t)name, 7);
    }
    assert_int_equal(pyr_prof_add(p, locs, n, 0, &v), PYR_PROF_OK);
  }
  free(dup);
  return p;
}

static void put(const pyr_prof_type *t, const char *svc, const char *region, int64_t from,
                const char *text) {
  pyr_store_label l[] = {{"service_name", svc}, {"region", region}};
  pyr_prof *p = mkprof(t, text);
  pyr_store_entry e = {.labels = l, .nlabels = region ? 2 : 1, .prof = p, .column = 0,
                       .labelset = PYR_STORE_ALL_LABELSETS, .from_ns = from,
                       .until_ns = from + 10 * SEC};
  char err[256] = "";
  if (pyr_store_write(g_st, "anonymous", &e, 1, err, sizeof(err)) != 0)
    fail_msg("write: %s", err);
  pyr_prof_free(p);
}

static int setup(void **state) {
  (void)state;
  char tmpl[] = "/tmp/pyrite-query-test-XXXXXX";
  g_dir = strdup(mkdtemp(tmpl));
  char err[256];
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.sync_full = 0;
  g_st = pyr_store_open(g_dir, &o, err, sizeof(err));
  assert_non_null(g_st);
  g_env = (pyr_query_env){.store = g_st, .max_decompressed = 1 << 20, .now_ns = now_fn};
  /* orders: 3 CPU uploads in the first minute, one more at +30 min */
  put(&cpu_type, "orders", "eu", T0, "main;work 30\nmain;idle 10\nmain 5");
  put(&cpu_type, "orders", "us", T0 + 10 * SEC, "main;work 20\nmain;io;read 15");
  put(&cpu_type, "orders", "eu", T0 + 20 * SEC, "main;work 5");
  put(&cpu_type, "orders", "eu", T0 + 1800 * SEC, "main;io;write 40");
  /* billing: different stacks; memory type */
  put(&cpu_type, "billing", NULL, T0, "main;bill 7");
  put(&mem_type, "orders", "eu", T0, "main;alloc 4096");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  pyr_store_close(g_st);
  nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(g_dir);
  return 0;
}

/* ---- request helpers ------------------------------------------------------------- */

static pyr_query_resp get(enum pyr_route route, const char *path, const pyr_query_arg *args,
                          size_t n) {
  pyr_query_req req = {.route = route, .path = path, .tenant = "anonymous", .args = args,
                       .nargs = n};
  pyr_query_resp r;
  pyr_query_handle(&g_env, &req, &r);
  return r;
}

static json_t *get_json(enum pyr_route route, const char *path, const pyr_query_arg *args,
                        size_t n) {
  pyr_query_resp r = get(route, path, args, n);
  if (r.status != 200)
    fail_msg("%s: %u %s", path, r.status, r.message);
  assert_string_equal(r.content_type, "application/json");
  json_error_t je;
  json_t *j = json_loadb(r.body, r.len, 0, &je);
  if (j == NULL)
    fail_msg("%s: bad JSON: %s", path, je.text);
  pyr_query_resp_free(&r);
  return j;
}

static void expect_status(pyr_query_resp r, unsigned status, const char *needle) {
  if (r.status != status || strstr(r.message, needle) == NULL)
    fail_msg("got %u '%s', want %u with '%s'", r.status, r.message, status, needle);
  if (status >= 400)
    assert_non_null(r.code);
  pyr_query_resp_free(&r);
}

static pyr_query_resp connect(const char *method, const char *ctype, const void *body,
                              size_t len) {
  char path[128];
  snprintf(path, sizeof(path), "/querier.v1.QuerierService/%s", method);
  pyr_query_req req = {.route = PYR_ROUTE_QUERIER, .path = path, .tenant = "anonymous",
                       .content_type = ctype, .body = body, .len = len};
  pyr_query_resp r;
  pyr_query_handle(&g_env, &req, &r);
  return r;
}

static pyr_query_resp cj(const char *method, const char *body) {
  return connect(method, "application/json", body, strlen(body));
}

static json_t *connect_json(const char *method, const char *body) {
  pyr_query_resp r = connect(method, "application/json", body, strlen(body));
  if (r.status != 200)
    fail_msg("%s: %u %s", method, r.status, r.message);
  json_error_t je;
  json_t *j = json_loadb(r.body, r.len, 0, &je);
  assert_non_null(j);
  pyr_query_resp_free(&r);
  return j;
}

static pyr_query_resp connect_pb(const char *method, const ProtobufCMessage *m) {
  static uint8_t buf[4096];
  size_t n = protobuf_c_message_pack(m, buf);
  return connect(method, "application/proto", buf, n);
}

/* sum of self values over flamebearer levels (any width 4 encoding) */
static int64_t fb_self_sum(json_t *levels) {
  int64_t s = 0;
  size_t i;
  json_t *lv;
  json_array_foreach(levels, i, lv) {
    for (size_t k = 0; k + 3 < json_array_size(lv); k += 4)
      s += json_integer_value(json_array_get(lv, k + 2));
  }
  return s;
}

/* ---- render ------------------------------------------------------------------------ */

static void test_render(void **state) {
  (void)state;
  pyr_query_arg a[] = {{"query", CPU "{service_name=\"orders\"}"},
                       {"from", "1700000000"}, {"until", "1700000060"}};
  json_t *j = get_json(PYR_ROUTE_RENDER, "/pyroscope/render", a, 3);
  json_t *fb = json_object_get(j, "flamebearer");
  assert_int_equal(json_integer_value(json_object_get(fb, "numTicks")), 85);
  assert_int_equal(json_integer_value(json_object_get(fb, "maxSelf")), 55);
  json_t *names = json_object_get(fb, "names");
  assert_string_equal(json_string_value(json_array_get(names, 0)), "total");
  assert_int_equal(fb_self_sum(json_object_get(fb, "levels")), 85);
  /* level 1 is main: [0,85,5,1] */
  json_t *l1 = json_array_get(json_object_get(fb, "levels"), 1);
  assert_int_equal(json_integer_value(json_array_get(l1, 1)), 85);
  assert_int_equal(json_integer_value(json_array_get(l1, 2)), 5);
  assert_string_equal(json_string_value(json_array_get(names, json_integer_value(json_array_get(l1, 3)))),
                      "main");
  json_t *md = json_object_get(j, "metadata");
  assert_string_equal(json_string_value(json_object_get(md, "format")), "single");
  assert_string_equal(json_string_value(json_object_get(md, "units")), "samples");
  assert_string_equal(json_string_value(json_object_get(md, "name")), "cpu");
  assert_int_equal(json_integer_value(json_object_get(md, "sampleRate")), 1000000000);
  assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
  assert_true(json_is_null(json_object_get(j, "groups")));
  assert_true(json_is_null(json_object_get(j, "heatmap")));
  /* timeline: 60 s range -> 15 s steps from 1699999995 (snapped) */
  json_t *tl = json_object_get(j, "timeline");
  assert_int_equal(json_integer_value(json_object_get(tl, "durationDelta")), 15);
  assert_int_equal(json_integer_value(json_object_get(tl, "startTime")), 1699999995);
  json_t *samples = json_object_get(tl, "samples");
  assert_int_equal(json_array_size(samples), 5);
  assert_int_equal(json_integer_value(json_array_get(samples, 0)), 45); /* T0 */
  /* [T0+10, T0+25) holds T0+10 and T0+20 */
  assert_int_equal(json_integer_value(json_array_get(samples, 1)), 40);
  assert_int_equal(json_integer_value(json_array_get(samples, 2)), 0);
  json_decref(j);

  /* no range: all retained data (4 orders uploads) */
  pyr_query_arg all[] = {{"query", CPU "{service_name=\"orders\"}"}};
  j = get_json(PYR_ROUTE_RENDER, "/pyroscope/render", all, 1);
  fb = json_object_get(j, "flamebearer");
  assert_int_equal(json_integer_value(json_object_get(fb, "numTicks")), 125);
  int64_t tsum = 0;
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(json_object_get(j, "timeline"), "samples"), i, v)
      tsum += json_integer_value(v);
  assert_int_equal(tsum, 125); /* timeline adds up to the flame graph */
  json_decref(j);

  /* regex selector over both services, maxNodes 2 -> "other" */
  pyr_query_arg mn[] = {{"query", CPU "{service_name=~\"orders|billing\"}"},
                        {"max-nodes", "2"}, {"groupBy", "service_name"}};
  j = get_json(PYR_ROUTE_RENDER, "/pyroscope/render", mn, 3);
  fb = json_object_get(j, "flamebearer");
  assert_int_equal(json_integer_value(json_object_get(fb, "numTicks")), 132);
  names = json_object_get(fb, "names");
  bool other = false;
  json_array_foreach(names, i, v) other |= strcmp(json_string_value(v), "other") == 0;
  assert_true(other);
  json_t *groups = json_object_get(j, "groups");
  assert_true(json_is_object(groups));
  assert_non_null(json_object_get(groups, "orders"));
  assert_non_null(json_object_get(groups, "billing"));
  json_decref(j);
}

static void test_render_formats(void **state) {
  (void)state;
  pyr_query_arg c[] = {{"query", CPU "{service_name=\"orders\", region=\"us\"}"},
                       {"format", "collapsed"}};
  pyr_query_resp r = get(PYR_ROUTE_RENDER, "/pyroscope/render", c, 2);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "main;io;read 15\nmain;work 20\n");
  pyr_query_resp_free(&r);

  pyr_query_arg p[] = {{"query", CPU "{service_name=\"orders\"}"}, {"format", "pprof"}};
  r = get(PYR_ROUTE_RENDER, "/pyroscope/render", p, 2);
  assert_int_equal(r.status, 200);
  assert_true(pyr_is_gzip(r.body, r.len));
  unsigned char *raw;
  size_t rawlen;
  char err[256];
  assert_int_equal(pyr_gunzip(r.body, r.len, 1 << 20, &raw, &rawlen, err, sizeof(err)), 0);
  pyr_prof_list l = {0};
  pyr_pprof_opts o = {.metric = "process_cpu"};
  assert_int_equal(pyr_pprof_decode(raw, rawlen, &o, &l, err, sizeof(err)), PYR_PROF_OK);
  int64_t sum = 0;
  for (size_t i = 0; i < pyr_prof_nsamples(l.items[0]); i++) {
    const uint32_t *locs;
    uint32_t n, ls;
    const int64_t *v;
    pyr_prof_sample(l.items[0], i, &locs, &n, &ls, &v);
    sum += v[0];
    int64_t line;
    uint32_t name;
    pyr_prof_loc(l.items[0], locs[0], &name, &line);
    assert_int_equal(line, 7); /* lines are kept in pprof */
  }
  assert_int_equal(sum, 125);
  pyr_prof_list_free(&l);
  free(raw);
  pyr_query_resp_free(&r);

  pyr_query_arg d[] = {{"query", CPU "{}"}, {"format", "dot"}};
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", d, 2), 400, "format=dot");
}

static void test_render_errors(void **state) {
  (void)state;
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", NULL, 0), 400, "missing query");
  pyr_query_arg og[] = {{"query", "orders.cpu{}"}};
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", og, 1), 400,
                "must be name:sample_type:sample_unit:period_type:period_unit");
  pyr_query_arg bad[] = {{"query", CPU "{service_name=orders}"}};
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", bad, 1), 400, "quoted string");
  pyr_query_arg re[] = {{"query", CPU "{service_name=~\"(\"}"}};
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", re, 1), 400, "bad regex");
  pyr_query_arg rng[] = {{"query", CPU "{}"}, {"from", "now"}, {"until", "now-1h"}};
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", rng, 3), 400, "from is after until");
  pyr_query_arg mn[] = {{"query", CPU "{}"}, {"maxNodes", "lots"}};
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", mn, 2), 400, "maxNodes");
  pyr_query_arg mn2[] = {{"query", CPU "{}"}, {"maxNodes", "2000000"}};
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", mn2, 2), 400, "max_nodes");
  pyr_query_arg ag[] = {{"query", CPU "{}"}, {"aggregation", "max"}};
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", ag, 2), 400, "aggregation");
  char longtime[200];
  memset(longtime, '1', sizeof(longtime) - 1);
  longtime[sizeof(longtime) - 1] = '\0';
  pyr_query_arg lt[] = {{"query", CPU "{}"}, {"from", longtime}};
  expect_status(get(PYR_ROUTE_RENDER, "/pyroscope/render", lt, 2), 400, "from: cannot parse");
}

static void test_render_diff(void **state) {
  (void)state;
  pyr_query_arg a[] = {{"leftQuery", CPU "{service_name=\"orders\"}"},
                       {"leftFrom", "1700000000"}, {"leftUntil", "1700000060"},
                       {"rightQuery", CPU "{service_name=\"orders\"}"},
                       {"rightFrom", "1700001700"}, {"rightUntil", "1700001900"}};
  json_t *j = get_json(PYR_ROUTE_RENDER_DIFF, "/pyroscope/render-diff", a, 6);
  assert_int_equal(json_integer_value(json_object_get(j, "leftTicks")), 85);
  assert_int_equal(json_integer_value(json_object_get(j, "rightTicks")), 40);
  json_t *fb = json_object_get(j, "flamebearer");
  assert_int_equal(json_integer_value(json_object_get(fb, "numTicks")), 125);
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "format")),
                      "double");
  json_t *l0 = json_array_get(json_object_get(fb, "levels"), 0);
  assert_int_equal(json_array_size(l0), 7);
  assert_true(json_is_null(json_object_get(j, "timeline")));
  /* "write" only exists on the right: left total 0, right total 40 */
  json_t *names = json_object_get(fb, "names"), *lv, *v;
  size_t i, k;
  bool found = false;
  json_array_foreach(json_object_get(fb, "levels"), i, lv) {
    for (k = 0; k + 6 < json_array_size(lv); k += 7) {
      v = json_array_get(names, (size_t)json_integer_value(json_array_get(lv, k + 6)));
      if (strcmp(json_string_value(v), "write") == 0) {
        assert_int_equal(json_integer_value(json_array_get(lv, k + 1)), 0);
        assert_int_equal(json_integer_value(json_array_get(lv, k + 4)), 40);
        found = true;
      }
    }
  }
  assert_true(found);
  json_decref(j);
  pyr_query_arg mism[] = {{"leftQuery", CPU "{}"},
                          {"rightQuery", "memory:alloc_in_new_tlab_bytes:bytes:space:bytes{}"}};
  expect_status(get(PYR_ROUTE_RENDER_DIFF, "/pyroscope/render-diff", mism, 2), 400,
                "same profile type");
  pyr_query_arg nol[] = {{"rightQuery", CPU "{}"}};
  expect_status(get(PYR_ROUTE_RENDER_DIFF, "/pyroscope/render-diff", nol, 1), 400, "leftQuery");
}

static void test_labels(void **state) {
  (void)state;
  pyr_query_arg n[] = {{"label", "__name__"}};
  json_t *j = get_json(PYR_ROUTE_LABEL_VALUES, "/pyroscope/label-values", n, 1);
  assert_int_equal(json_array_size(j), 2);
  assert_string_equal(json_string_value(json_array_get(j, 0)),
                      "memory:alloc_in_new_tlab_bytes:bytes:space:bytes");
  assert_string_equal(json_string_value(json_array_get(j, 1)), CPU);
  json_decref(j);
  pyr_query_arg s[] = {{"label", "service_name"}};
  j = get_json(PYR_ROUTE_LABEL_VALUES, "/pyroscope/label-values", s, 1);
  assert_int_equal(json_array_size(j), 2);
  assert_string_equal(json_string_value(json_array_get(j, 0)), "billing");
  assert_string_equal(json_string_value(json_array_get(j, 1)), "orders");
  json_decref(j);
  pyr_query_arg m[] = {{"label", "region"}, {"match", "{service_name=\"orders\"}"}};
  j = get_json(PYR_ROUTE_LABEL_VALUES, "/pyroscope/label-values", m, 2);
  assert_int_equal(json_array_size(j), 2); /* eu, us */
  json_decref(j);
  expect_status(get(PYR_ROUTE_LABEL_VALUES, "/pyroscope/label-values", NULL, 0), 400,
                "label is required");
  j = get_json(PYR_ROUTE_LABEL_NAMES, "/pyroscope/label-names", NULL, 0);
  bool svc = false, pt = false;
  size_t i;
  json_t *v;
  json_array_foreach(j, i, v) {
    svc |= strcmp(json_string_value(v), "service_name") == 0;
    pt |= strcmp(json_string_value(v), "__profile_type__") == 0;
  }
  assert_true(svc && pt);
  json_decref(j);
}

/* ---- Connect ------------------------------------------------------------------------- */

static void test_connect_flamegraph(void **state) {
  (void)state;
  Querier__V1__SelectMergeStacktracesRequest rq = QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__INIT;
  rq.profile_typeid = CPU;
  rq.label_selector = "{service_name=\"orders\"}";
  pyr_query_resp r = connect_pb("SelectMergeStacktraces", &rq.base);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.content_type, "application/proto");
  Querier__V1__SelectMergeStacktracesResponse *out =
      querier__v1__select_merge_stacktraces_response__unpack(NULL, r.len, (uint8_t *)r.body);
  assert_non_null(out);
  assert_non_null(out->flamegraph);
  assert_int_equal(out->flamegraph->total, 125);
  assert_string_equal(out->flamegraph->names[0], "total");
  assert_int_equal(out->flamegraph->levels[0]->n_values, 4);
  /* same graph as render's flamebearer */
  pyr_query_arg a[] = {{"query", CPU "{service_name=\"orders\"}"}};
  json_t *j = get_json(PYR_ROUTE_RENDER, "/pyroscope/render", a, 1);
  json_t *fb = json_object_get(j, "flamebearer"), *names = json_object_get(fb, "names");
  json_t *levels = json_object_get(fb, "levels");
  assert_int_equal(json_array_size(names), out->flamegraph->n_names);
  for (size_t i = 0; i < out->flamegraph->n_names; i++)
    assert_string_equal(json_string_value(json_array_get(names, i)), out->flamegraph->names[i]);
  assert_int_equal(json_array_size(levels), out->flamegraph->n_levels);
  for (size_t l = 0; l < out->flamegraph->n_levels; l++) {
    json_t *lv = json_array_get(levels, l);
    assert_int_equal(json_array_size(lv), out->flamegraph->levels[l]->n_values);
    for (size_t k = 0; k < json_array_size(lv); k++)
      assert_int_equal(json_integer_value(json_array_get(lv, k)), out->flamegraph->levels[l]->values[k]);
  }
  json_decref(j);
  querier__v1__select_merge_stacktraces_response__free_unpacked(out, NULL);
  pyr_query_resp_free(&r);

  /* JSON, with a call-site focus, snake names */
  j = connect_json("SelectMergeStacktraces",
                   "{\"profile_typeID\":\"" CPU "\",\"label_selector\":\"{service_name=\\\"orders\\\"}\","
                   "\"stackTraceSelector\":{\"call_site\":[{\"name\":\"main\"},{\"name\":\"io\"}]}}");
  json_t *fg = json_object_get(j, "flamegraph");
  assert_string_equal(json_string_value(json_object_get(fg, "total")), "55");
  json_t *l0 = json_object_get(json_array_get(json_object_get(fg, "levels"), 0), "values");
  assert_string_equal(json_string_value(json_array_get(l0, 1)), "55");
  json_decref(j);

  /* TREE format */
  rq.format = QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_TREE;
  rq.label_selector = "{service_name=\"billing\"}";
  r = connect_pb("SelectMergeStacktraces", &rq.base);
  assert_int_equal(r.status, 200);
  out = querier__v1__select_merge_stacktraces_response__unpack(NULL, r.len, (uint8_t *)r.body);
  static const uint8_t tree[] = {0, 0, 1, 4, 'm', 'a', 'i', 'n', 0, 1, 4, 'b', 'i', 'l', 'l', 7, 0};
  assert_int_equal(out->tree.len, sizeof(tree));
  assert_memory_equal(out->tree.data, tree, sizeof(tree));
  querier__v1__select_merge_stacktraces_response__free_unpacked(out, NULL);
  pyr_query_resp_free(&r);

  /* nothing selected: root-only graph */
  j = connect_json("SelectMergeStacktraces",
                   "{\"profileTypeID\":\"" CPU "\",\"labelSelector\":\"{service_name=\\\"none\\\"}\"}");
  fg = json_object_get(j, "flamegraph");
  assert_int_equal(json_array_size(json_object_get(fg, "names")), 1);
  assert_null(json_object_get(fg, "total")); /* zero is omitted */
  json_decref(j);
}

static void test_connect_series(void **state) {
  (void)state;
  /* points sum to the flame graph total; grouped by region */
  json_t *j = connect_json("SelectSeries",
                           "{\"profileTypeID\":\"" CPU "\",\"labelSelector\":\"{service_name=\\\"orders\\\"}\","
                           "\"start\":\"1700000000000\",\"end\":\"1700003600000\",\"step\":60,"
                           "\"groupBy\":[\"region\"]}");
  json_t *series = json_object_get(j, "series"), *s, *p;
  assert_int_equal(json_array_size(series), 2);
  double sum = 0;
  size_t i, k;
  json_array_foreach(series, i, s) {
    json_t *lbl = json_array_get(json_object_get(s, "labels"), 0);
    assert_string_equal(json_string_value(json_object_get(lbl, "name")), "region");
    json_array_foreach(json_object_get(s, "points"), k, p) {
      sum += json_number_value(json_object_get(p, "value"));
      /* right edges of 60 s steps from start */
      long long ts = atoll(json_string_value(json_object_get(p, "timestamp")));
      assert_int_equal((ts - 1700000000000LL) % 60000, 0);
    }
  }
  assert_true(sum == 125);
  /* eu: T0 (45) -> t=start (0 s), T0+20 (5) -> 60 s, T0+1800 (40) -> 1800 s */
  json_t *eu = json_array_get(series, 0);
  assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(eu, "labels"), 0), "value")),
                      "eu");
  assert_int_equal(json_array_size(json_object_get(eu, "points")), 3);
  json_decref(j);

  /* no group_by: one series without labels; limit; average */
  Querier__V1__SelectSeriesRequest rq = QUERIER__V1__SELECT_SERIES_REQUEST__INIT;
  rq.profile_typeid = CPU;
  rq.label_selector = "{}";
  rq.step = 3600;
  rq.start = 1700000000000;
  rq.end = 1700003600000;
  pyr_query_resp r = connect_pb("SelectSeries", &rq.base);
  assert_int_equal(r.status, 200);
  Querier__V1__SelectSeriesResponse *out =
      querier__v1__select_series_response__unpack(NULL, r.len, (uint8_t *)r.body);
  assert_int_equal(out->n_series, 1);
  assert_int_equal(out->series[0]->n_labels, 0);
  double tot = 0;
  for (size_t q = 0; q < out->series[0]->n_points; q++)
    tot += out->series[0]->points[q]->value;
  assert_true(tot == 132);
  querier__v1__select_series_response__free_unpacked(out, NULL);
  pyr_query_resp_free(&r);

  char *gb[] = {"service_name"};
  rq.group_by = gb;
  rq.n_group_by = 1;
  rq.limit = 1;
  rq.aggregation = TYPES__V1__TIME_SERIES_AGGREGATION_TYPE__TIME_SERIES_AGGREGATION_TYPE_AVERAGE;
  r = connect_pb("SelectSeries", &rq.base);
  out = querier__v1__select_series_response__unpack(NULL, r.len, (uint8_t *)r.body);
  assert_int_equal(out->n_series, 1); /* orders: the biggest */
  assert_string_equal(out->series[0]->labels[0]->value, "orders");
  /* first hour bucket (start .. start+1h]: t=start holds T0 (avg of 1 profile = 45) */
  assert_true(out->series[0]->points[0]->value == 45);
  querier__v1__select_series_response__free_unpacked(out, NULL);
  pyr_query_resp_free(&r);

  expect_status(cj("SelectSeries", "{\"profileTypeID\":\"" CPU "\",\"step\":-1}"),
                400, "step");
}

static void test_connect_labels(void **state) {
  (void)state;
  /* health check with a 1970 range: 200, empty */
  pyr_query_resp r = cj("ProfileTypes", "{\"start\":1000,\"end\":4000}");
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "{}");
  pyr_query_resp_free(&r);
  Querier__V1__ProfileTypesRequest pt = QUERIER__V1__PROFILE_TYPES_REQUEST__INIT;
  pt.start = 1000;
  pt.end = 4000;
  r = connect_pb("ProfileTypes", &pt.base);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.len, 0); /* an empty message */
  pyr_query_resp_free(&r);
  json_t *j = connect_json("ProfileTypes", "{}");
  json_t *pts = json_object_get(j, "profileTypes");
  assert_int_equal(json_array_size(pts), 2);
  json_t *cpu = json_array_get(pts, 1);
  assert_string_equal(json_string_value(json_object_get(cpu, "ID")), CPU);
  assert_string_equal(json_string_value(json_object_get(cpu, "name")), "process_cpu");
  assert_string_equal(json_string_value(json_object_get(cpu, "sampleType")), "cpu");
  assert_string_equal(json_string_value(json_object_get(cpu, "periodUnit")), "nanoseconds");
  json_decref(j);

  j = connect_json("LabelValues", "{\"name\":\"service_name\"}");
  json_t *names = json_object_get(j, "names");
  assert_int_equal(json_array_size(names), 2);
  json_decref(j);
  j = connect_json("LabelValues", "{\"name\":\"region\",\"matchers\":[\"{service_name=\\\"billing\\\"}\"]}");
  assert_null(json_object_get(j, "names")); /* none: {} */
  json_decref(j);
  expect_status(cj("LabelValues", "{}"), 400, "name is required");
  j = connect_json("LabelNames", "{\"matchers\":[\"{service_name=\\\"billing\\\"}\","
                                 "\"{region=\\\"us\\\"}\"]}");
  names = json_object_get(j, "names");
  bool region = false;
  size_t i;
  json_t *v;
  json_array_foreach(names, i, v) region |= strcmp(json_string_value(v), "region") == 0;
  assert_true(region); /* matchers are OR'ed */
  json_decref(j);
  expect_status(cj("LabelNames", "{\"matchers\":[\"{a=}\"]}"), 400,
                "matchers[0]");

  j = connect_json("Series", "{\"matchers\":[\"{service_name=\\\"orders\\\"}\"],"
                             "\"labelNames\":[\"service_name\",\"__profile_type__\"]}");
  json_t *ls = json_object_get(j, "labelsSet");
  assert_int_equal(json_array_size(ls), 2); /* cpu and memory; regions projected away */
  json_t *first = json_object_get(json_array_get(ls, 0), "labels");
  assert_int_equal(json_array_size(first), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(first, 0), "name")),
                      "__profile_type__");
  json_decref(j);

  j = connect_json("GetProfileStats", "{}");
  assert_true(json_is_true(json_object_get(j, "dataIngested")));
  assert_string_equal(json_string_value(json_object_get(j, "oldestProfileTime")), "1700000000000");
  assert_string_equal(json_string_value(json_object_get(j, "newestProfileTime")), "1700001800000");
  json_decref(j);
}

static void test_connect_diff_profile(void **state) {
  (void)state;
  json_t *j = connect_json(
      "Diff", "{\"left\":{\"profileTypeID\":\"" CPU "\",\"labelSelector\":\"{service_name=\\\"orders\\\"}\"},"
              "\"right\":{\"profileTypeID\":\"" CPU "\",\"labelSelector\":\"{service_name=\\\"billing\\\"}\"}}");
  json_t *fg = json_object_get(j, "flamegraph");
  assert_string_equal(json_string_value(json_object_get(fg, "leftTicks")), "125");
  assert_string_equal(json_string_value(json_object_get(fg, "rightTicks")), "7");
  assert_string_equal(json_string_value(json_object_get(fg, "total")), "132");
  json_decref(j);
  expect_status(cj("Diff", "{\"left\":{}}"), 400, "required");

  Querier__V1__SelectMergeProfileRequest rq = QUERIER__V1__SELECT_MERGE_PROFILE_REQUEST__INIT;
  rq.profile_typeid = CPU;
  rq.label_selector = "{service_name=\"orders\"}";
  pyr_query_resp r = connect_pb("SelectMergeProfile", &rq.base);
  assert_int_equal(r.status, 200);
  pyr_prof_list l = {0};
  pyr_pprof_opts o = {.metric = "process_cpu"};
  char err[256];
  assert_int_equal(pyr_pprof_decode((uint8_t *)r.body, r.len, &o, &l, err, sizeof(err)), 0);
  int64_t sum = 0;
  for (size_t i = 0; i < pyr_prof_nsamples(l.items[0]); i++) {
    const uint32_t *locs;
    uint32_t n, ls;
    const int64_t *v;
    pyr_prof_sample(l.items[0], i, &locs, &n, &ls, &v);
    sum += v[0];
  }
  assert_int_equal(sum, 125);
  pyr_prof_list_free(&l);
  pyr_query_resp_free(&r);
  j = connect_json("SelectMergeProfile",
                   "{\"profile_typeID\":\"" CPU "\",\"label_selector\":\"{service_name=\\\"billing\\\"}\"}");
  json_t *st = json_array_get(json_object_get(j, "sampleType"), 0);
  assert_non_null(st);
  assert_non_null(json_object_get(j, "stringTable"));
  json_decref(j);
}

static void test_connect_transport(void **state) {
  (void)state;
  /* gzip'd JSON body */
  const char *body = "{\"name\":\"service_name\"}";
  uint8_t *gz;
  size_t gzlen;
  assert_int_equal(pyr_qe_gzip((const uint8_t *)body, strlen(body), &gz, &gzlen), 0);
  pyr_query_req req = {.route = PYR_ROUTE_QUERIER, .path = "/querier.v1.QuerierService/LabelValues",
                       .tenant = "anonymous", .content_type = "application/json; charset=utf-8",
                       .content_encoding = "gzip", .body = gz, .len = gzlen};
  pyr_query_resp r;
  pyr_query_handle(&g_env, &req, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "{\"names\":[\"billing\",\"orders\"]}");
  pyr_query_resp_free(&r);
  req.content_encoding = "br";
  pyr_query_handle(&g_env, &req, &r);
  expect_status(r, 415, "Content-Encoding");
  free(gz);
  /* other tenants see nothing */
  req.content_encoding = NULL;
  req.body = (const unsigned char *)body;
  req.len = strlen(body);
  req.tenant = "someone-else";
  pyr_query_handle(&g_env, &req, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "{}");
  pyr_query_resp_free(&r);

  expect_status(connect("LabelValues", "application/proto", "\xff\xff\xff", 3), 400,
                "cannot decode protobuf");
  expect_status(cj("LabelValues", "{\"name\":"), 400, "invalid JSON");
  expect_status(connect("LabelValues", "text/plain", "{}", 2), 415, "content type");
  expect_status(cj("Nope", "{}"), 404, "no such method");
  expect_status(cj("SelectMergeStacktraces", "{\"profileTypeID\":\"" CPU "\",\"maxNodes\":-1}"), 400, "max_nodes");
  expect_status(cj("SelectMergeStacktraces", "{\"profileTypeID\":\"" CPU "\",\"start\":5,\"end\":4}"), 400,
                "invalid time range");
  expect_status(cj("SelectMergeStacktraces", "{\"profileTypeID\":\"cpu\"}"), 400, "profile_typeID");
  expect_status(cj("SelectMergeStacktraces", "{\"profileTypeID\":\"" CPU "\",\"labelSelector\":\"{a=~\\\"[\\\"}\"}"),
                400, "label_selector");

  /* header-time checks */
  pyr_query_resp h = {0};
  const char *allow;
  assert_int_equal(pyr_query_check(PYR_ROUTE_QUERIER, "GET", "application/json", &h, &allow), 405);
  assert_string_equal(allow, "POST");
  assert_int_equal(pyr_query_check(PYR_ROUTE_QUERIER, "POST", "text/html", &h, &allow), 415);
  assert_int_equal(pyr_query_check(PYR_ROUTE_QUERIER, "POST", "application/proto", &h, &allow), 0);
  assert_int_equal(pyr_query_check(PYR_ROUTE_RENDER, "POST", NULL, &h, &allow), 405);
  assert_int_equal(pyr_query_check(PYR_ROUTE_RENDER, "HEAD", NULL, &h, &allow), 0);
  assert_int_equal(pyr_query_route("/pyroscope/render"), PYR_ROUTE_RENDER);
  assert_int_equal(pyr_query_route("/querier.v1.QuerierService/Series"), PYR_ROUTE_QUERIER);
  assert_int_equal(pyr_query_route("/pyroscope/labels"), PYR_ROUTE_OTHER);
}

static void test_helpers(void **state) {
  (void)state;
  /* Pyroscope's step table */
  assert_int_equal(pyr_qe_timeline_step(0, 3600), 15);
  assert_int_equal(pyr_qe_timeline_step(0, 6 * 3600), 15);
  assert_int_equal(pyr_qe_timeline_step(0, 86400), 60);
  assert_int_equal(pyr_qe_timeline_step(0, 7 * 86400), 300);
  assert_int_equal(pyr_qe_timeline_step(0, 30 * 86400), 1800);
  assert_int_equal(pyr_qe_timeline_step(0, 1500 * 25), 20);
  assert_int_equal(pyr_qe_timeline_step(0, INT64_C(1500) * 4000000), 31536000);
  const char *u;
  int64_t rate;
  pyr_qe_units("cpu", "nanoseconds", &u, &rate);
  assert_string_equal(u, "samples");
  assert_int_equal(rate, 1000000000);
  pyr_qe_units("alloc_objects", "count", &u, &rate);
  assert_string_equal(u, "objects");
  assert_int_equal(rate, 100);
  pyr_qe_units("alloc_in_new_tlab_bytes", "bytes", &u, &rate);
  assert_string_equal(u, "bytes");
  uint32_t mn;
  pyr_query_resp r = {0};
  assert_int_equal(pyr_qe_max_nodes(0, &mn, &r), 0);
  assert_int_equal(mn, 8192);
  assert_int_equal(pyr_qe_max_nodes(1048576, &mn, &r), 0);
  assert_int_equal(pyr_qe_max_nodes(1048577, &mn, &r), -1);
  assert_int_equal(r.status, 400);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render),          cmocka_unit_test(test_render_formats),
      cmocka_unit_test(test_render_errors),   cmocka_unit_test(test_render_diff),
      cmocka_unit_test(test_labels),          cmocka_unit_test(test_connect_flamegraph),
      cmocka_unit_test(test_connect_series),  cmocka_unit_test(test_connect_labels),
      cmocka_unit_test(test_connect_diff_profile), cmocka_unit_test(test_connect_transport),
      cmocka_unit_test(test_helpers),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
