/*
 * query_render.c - Pyroscope's legacy HTTP query endpoints (pyroscope-api.md
 * §6.1-§6.3): GET /pyroscope/render, /pyroscope/render-diff,
 * /pyroscope/label-values and /pyroscope/label-names.
 *
 * What: argument parsing (render query, §6.4 times, maxNodes, groupBy,
 * aggregation, format), one merge of the selection into a call tree, the
 * flame graph with truncation, and the timeline computed from per-profile
 * totals with Pyroscope's step rules; JSON written straight into one
 * buffer.  format=pprof (gzip) and format=collapsed export the same merge.
 *
 * Threads: reentrant (query worker threads).
 *
 * Invariants: every answer is either 200 with a complete body or an error
 * naming the offending argument; timelines have at most
 * PYR_QE_MAX_BUCKETS entries; flame graphs at most maxNodes (+ "other").
 */
#include <stdlib.h>
#include <string.h>

#include "flamegraph.h"
#include "pprof.h"
#include "protojson.h"
#include "query_engine.h"

#define NS_PER_S INT64_C(1000000000)
/* groupBy timelines: at most this many (group, bucket) cells per answer */
#define PYR_RENDER_MAX_GROUP_CELLS 4000000u

static int max_nodes_arg(const pyr_query_req *req, uint32_t *out, bool *given,
                         pyr_query_resp *resp) {
  const char *v = pyr_qarg(req, "maxNodes");
  if (v == NULL)
    v = pyr_qarg(req, "max-nodes");
  *given = v != NULL && v[0] != '\0';
  if (!*given)
    return pyr_qe_max_nodes(0, out, resp);
  char *end = NULL;
  long long n = strtoll(v, &end, 10);
  if (end == v || *end != '\0')
    return pyr_qfail(resp, 400, "maxNodes: not an integer: \"%.32s\"", v);
  return pyr_qe_max_nodes(n, out, resp);
}

/* ---- timeline ------------------------------------------------------------------ */

typedef struct timeline {
  int64_t start_s, step_s;
  size_t n;
  int64_t *sum;
  int64_t *count;
} timeline;

static int timeline_init(timeline *t, int64_t from_s, int64_t until_s, pyr_query_resp *resp) {
  memset(t, 0, sizeof(*t));
  t->step_s = pyr_qe_timeline_step(from_s, until_s);
  t->start_s = from_s - from_s % t->step_s;
  int64_t end_s = until_s - until_s % t->step_s;
  /* + 1: the bucket holding `until` itself, so every profile in the range
   * is counted and the samples add up to numTicks. */
  int64_t n = (end_s - t->start_s) / t->step_s + 1;
  if (n < 1)
    n = 1;
  if (n > PYR_QE_MAX_BUCKETS)
    return pyr_qfail(resp, 400, "time range too long for a timeline");
  t->n = (size_t)n;
  t->sum = calloc(t->n, sizeof(*t->sum));
  t->count = calloc(t->n, sizeof(*t->count));
  if (t->sum == NULL || t->count == NULL)
    return pyr_qfail(resp, 500, "timeline: out of memory");
  return 0;
}

static void timeline_free(timeline *t) {
  free(t->sum);
  free(t->count);
  memset(t, 0, sizeof(*t));
}

static void timeline_add(timeline *t, int64_t ts_ns, int64_t v) {
  int64_t s = ts_ns / NS_PER_S;
  if (s < t->start_s)
    return;
  int64_t i = (s - t->start_s) / t->step_s;
  if (i >= (int64_t)t->n)
    return;
  t->sum[i] += v;
  t->count[i]++;
}

static void timeline_write(pyr_jw *w, const timeline *t, bool avg) {
  pyr_jw_lit(w, "{\"startTime\":");
  pyr_jw_i64(w, t->start_s);
  pyr_jw_lit(w, ",\"samples\":[");
  for (size_t i = 0; i < t->n; i++) {
    if (i)
      pyr_jw_c(w, ',');
    int64_t v = t->sum[i];
    if (avg && t->count[i] > 0)
      v /= t->count[i];
    pyr_jw_i64(w, v < 0 ? 0 : v);
  }
  pyr_jw_lit(w, "],\"durationDelta\":");
  pyr_jw_i64(w, t->step_s);
  pyr_jw_lit(w, ",\"watermarks\":null}");
}

/* ---- render ------------------------------------------------------------------------- */

static void write_metadata(pyr_jw *w, const pyr_profile_type *pt, const char *format) {
  const char *units;
  int64_t rate;
  pyr_qe_units(pt->sample_type, pt->sample_unit, &units, &rate);
  pyr_jw_lit(w, "\"metadata\":{\"format\":");
  pyr_jw_str(w, format, strlen(format));
  pyr_jw_lit(w, ",\"spyName\":\"\",\"sampleRate\":");
  pyr_jw_i64(w, rate);
  pyr_jw_lit(w, ",\"units\":");
  pyr_jw_str(w, units, strlen(units));
  pyr_jw_lit(w, ",\"name\":");
  pyr_jw_str(w, pt->sample_type, strlen(pt->sample_type));
  pyr_jw_c(w, '}');
}

static void render_pprof(const pyr_query_env *env, const pyr_query_req *req,
                         const pyr_profile_type *pt, const pyr_selector *sel, int64_t from,
                         int64_t until, uint32_t max_nodes, pyr_query_resp *resp) {
  pyr_store_tree *t = NULL;
  uint8_t *raw = NULL, *gz = NULL;
  size_t rawlen = 0, gzlen = 0;
  if (pyr_qe_merge(env, req->tenant, pt->id, sel, from, until, PYR_STORE_MERGE_LINES, &t,
                   resp) != 0)
    return;
  pyr_pprof_meta m = {
      .sample_type = pt->sample_type,
      .sample_unit = pt->sample_unit,
      .period_type = pt->period_type,
      .period_unit = pt->period_unit,
  };
  pyr_qe_profile_time(env, req->tenant, pt->id, sel, from, until, &m.time_nanos,
                      &m.duration_nanos);
  if (pyr_pprof_encode_tree(t, &m, max_nodes, &raw, &rawlen) != 0 ||
      pyr_qe_gzip(raw, rawlen, &gz, &gzlen) != 0) {
    pyr_qfail(resp, 500, "pprof: out of memory");
    goto out;
  }
  pyr_qok(resp, "application/octet-stream", (char *)gz, gzlen);
  gz = NULL;
out:
  free(raw);
  free(gz);
  pyr_store_tree_free(t);
}

static void render_collapsed(const pyr_query_env *env, const pyr_query_req *req,
                             const pyr_profile_type *pt, const pyr_selector *sel, int64_t from,
                             int64_t until, pyr_query_resp *resp) {
  pyr_store_tree *t = NULL;
  pyr_jw w;
  pyr_jw_init(&w);
  if (pyr_qe_merge(env, req->tenant, pt->id, sel, from, until, 0, &t, resp) != 0)
    return;
  pyr_fg_write_collapsed(&w, t);
  size_t len;
  char *body = pyr_jw_take(&w, &len);
  if (body == NULL)
    pyr_qfail(resp, 500, "collapsed: out of memory");
  else
    pyr_qok(resp, "text/plain; charset=utf-8", body, len);
  pyr_store_tree_free(t);
}

void pyr_qr_render(const pyr_query_env *env, const pyr_query_req *req, pyr_query_resp *resp) {
  pyr_profile_type pt;
  pyr_selector sel;
  pyr_store_tree *t = NULL;
  pyr_flamegraph fg = {0};
  pyr_qe_points pts = {0};
  timeline tl = {0}, *gtl = NULL;
  pyr_jw w;
  char err[PYR_QUERY_MSG_MAX];
  int64_t from, until;
  uint32_t max_nodes;
  bool mn_given;

  pyr_selector_init(&sel);
  pyr_jw_init(&w);
  const char *q = pyr_qarg(req, "query");
  int r = pyr_query_parse(q, &pt, &sel, err, sizeof(err));
  if (r != 0) {
    pyr_qfail(resp, r == -2 ? 500 : 400, "query: %s", err);
    goto out;
  }
  if (pyr_qe_time_arg(env, req, "from", &from, resp) != 0 ||
      pyr_qe_time_arg(env, req, "until", &until, resp) != 0 ||
      max_nodes_arg(req, &max_nodes, &mn_given, resp) != 0)
    goto out;
  if (from > 0 && until > 0 && from > until) {
    pyr_qfail(resp, 400, "invalid time range: from is after until");
    goto out;
  }
  const char *format = pyr_qarg(req, "format");
  if (format && strcmp(format, "pprof") == 0) {
    render_pprof(env, req, &pt, &sel, from, until, mn_given ? max_nodes : 0, resp);
    goto out;
  }
  if (format && (strcmp(format, "collapsed") == 0 || strcmp(format, "folded") == 0)) {
    render_collapsed(env, req, &pt, &sel, from, until, resp);
    goto out;
  }
  if (format && strcmp(format, "dot") == 0) {
    pyr_qfail(resp, 400, "format=dot is not supported; use json, pprof or collapsed");
    goto out;
  }
  const char *agg = pyr_qarg(req, "aggregation");
  bool avg = agg && (strcmp(agg, "avg") == 0 || strcmp(agg, "average") == 0);
  if (agg && agg[0] && !avg && strcmp(agg, "sum") != 0) {
    pyr_qfail(resp, 400, "aggregation must be sum or avg, got \"%.32s\"", agg);
    goto out;
  }
  /* groupBy: the timeline groups are keyed by the first label's value */
  const char *group_by = pyr_qarg(req, "groupBy");
  if (group_by && group_by[0] == '\0')
    group_by = NULL;

  if (pyr_qe_merge(env, req->tenant, pt.id, &sel, from, until, 0, &t, resp) != 0)
    goto out;
  if (pyr_fg_build(t, max_nodes, &fg) != 0) {
    pyr_qfail(resp, 500, "flame graph: out of memory");
    goto out;
  }
  if (pyr_qe_points_get(env, req->tenant, pt.id, &sel, from, until, &group_by,
                        group_by ? 1 : 0, &pts, resp) != 0)
    goto out;

  /* The timeline covers the requested range; missing ends default to the
   * data's own span (from) and now (until). */
  int64_t now = pyr_qe_now(env);
  int64_t tl_from = from, tl_until = until;
  if (tl_until == 0)
    tl_until = pts.nseries && pts.t_max_ns > now ? pts.t_max_ns : now;
  if (tl_from == 0)
    tl_from = pts.nseries ? pts.t_min_ns : tl_until - 3600 * NS_PER_S;
  if (tl_from > tl_until)
    tl_from = tl_until;
  if (timeline_init(&tl, tl_from / NS_PER_S, tl_until / NS_PER_S, resp) != 0)
    goto out;
  if (group_by) {
    /* one dense timeline per group: bound groups x buckets */
    if (pts.ngroups > 0 && tl.n * pts.ngroups > PYR_RENDER_MAX_GROUP_CELLS) {
      pyr_qfail(resp, 400,
                "groupBy %s: too many groups (%zu) for this range; narrow the selector",
                group_by, pts.ngroups);
      goto out;
    }
    gtl = calloc(pts.ngroups ? pts.ngroups : 1, sizeof(*gtl));
    if (gtl == NULL) {
      pyr_qfail(resp, 500, "timeline: out of memory");
      goto out;
    }
    for (size_t g = 0; g < pts.ngroups; g++)
      if (timeline_init(&gtl[g], tl_from / NS_PER_S, tl_until / NS_PER_S, resp) != 0)
        goto out;
  }
  for (size_t i = 0; i < pts.n; i++) {
    timeline_add(&tl, pts.p[i].ts_ns, pts.p[i].total);
    if (gtl)
      timeline_add(&gtl[pts.p[i].group], pts.p[i].ts_ns, pts.p[i].total);
  }

  pyr_jw_lit(&w, "{\"version\":1,\"flamebearer\":");
  pyr_fg_write_flamebearer(&w, &fg);
  pyr_jw_c(&w, ',');
  write_metadata(&w, &pt, "single");
  pyr_jw_lit(&w, ",\"timeline\":");
  timeline_write(&w, &tl, avg);
  pyr_jw_lit(&w, ",\"groups\":");
  if (gtl) {
    pyr_jw_c(&w, '{');
    for (size_t g = 0; g < pts.ngroups; g++) {
      const char *v = pts.gvals[g];
      if (g)
        pyr_jw_c(&w, ',');
      if (v == NULL)
        v = "*";
      pyr_jw_str(&w, v, strlen(v));
      pyr_jw_c(&w, ':');
      timeline_write(&w, &gtl[g], avg);
    }
    pyr_jw_c(&w, '}');
  } else {
    pyr_jw_lit(&w, "null");
  }
  pyr_jw_lit(&w, ",\"heatmap\":null}");
  size_t len;
  char *body = pyr_jw_take(&w, &len);
  if (body == NULL)
    pyr_qfail(resp, 500, "render: out of memory");
  else
    pyr_qok(resp, "application/json", body, len);
out:
  if (gtl) {
    for (size_t g = 0; g < pts.ngroups; g++)
      timeline_free(&gtl[g]);
    free(gtl);
  }
  timeline_free(&tl);
  pyr_qe_points_free(&pts);
  pyr_fg_free(&fg);
  pyr_store_tree_free(t);
  pyr_selector_free(&sel);
  pyr_jw_free(&w);
}

/* ---- render-diff ---------------------------------------------------------------------- */

typedef struct side {
  pyr_profile_type pt;
  pyr_selector sel;
  int64_t from, until;
  pyr_store_tree *t;
} side;

static int side_parse(const pyr_query_env *env, const pyr_query_req *req, const char *which,
                      side *s, pyr_query_resp *resp) {
  char key[32], err[PYR_QUERY_MSG_MAX];
  snprintf(key, sizeof(key), "%sQuery", which);
  int r = pyr_query_parse(pyr_qarg(req, key), &s->pt, &s->sel, err, sizeof(err));
  if (r != 0)
    return pyr_qfail(resp, r == -2 ? 500 : 400, "%s: %s", key, err);
  snprintf(key, sizeof(key), "%sFrom", which);
  if (pyr_qe_time_arg(env, req, key, &s->from, resp) != 0)
    return -1;
  snprintf(key, sizeof(key), "%sUntil", which);
  if (pyr_qe_time_arg(env, req, key, &s->until, resp) != 0)
    return -1;
  if (s->from > 0 && s->until > 0 && s->from > s->until)
    return pyr_qfail(resp, 400, "invalid time range: %sFrom is after %sUntil", which, which);
  return 0;
}

void pyr_qr_render_diff(const pyr_query_env *env, const pyr_query_req *req,
                        pyr_query_resp *resp) {
  side l = {0}, r = {0};
  pyr_flamegraph fg = {0};
  pyr_jw w;
  uint32_t max_nodes;
  bool given;
  pyr_selector_init(&l.sel);
  pyr_selector_init(&r.sel);
  pyr_jw_init(&w);
  if (side_parse(env, req, "left", &l, resp) != 0 || side_parse(env, req, "right", &r, resp) != 0 ||
      max_nodes_arg(req, &max_nodes, &given, resp) != 0)
    goto out;
  if (strcmp(l.pt.id, r.pt.id) != 0) {
    pyr_qfail(resp, 400, "leftQuery and rightQuery must have the same profile type: %s vs %s",
              l.pt.id, r.pt.id);
    goto out;
  }
  if (pyr_qe_merge(env, req->tenant, l.pt.id, &l.sel, l.from, l.until, 0, &l.t, resp) != 0 ||
      pyr_qe_merge(env, req->tenant, r.pt.id, &r.sel, r.from, r.until, 0, &r.t, resp) != 0)
    goto out;
  if (pyr_fg_build_diff(l.t, r.t, max_nodes, &fg) != 0) {
    pyr_qfail(resp, 500, "flame graph: out of memory");
    goto out;
  }
  pyr_jw_lit(&w, "{\"version\":1,\"flamebearer\":");
  pyr_fg_write_flamebearer(&w, &fg);
  pyr_jw_c(&w, ',');
  write_metadata(&w, &l.pt, "double");
  pyr_jw_lit(&w, ",\"leftTicks\":");
  pyr_jw_i64(&w, fg.left_ticks);
  pyr_jw_lit(&w, ",\"rightTicks\":");
  pyr_jw_i64(&w, fg.right_ticks);
  pyr_jw_lit(&w, ",\"timeline\":null,\"groups\":null,\"heatmap\":null}");
  size_t len;
  char *body = pyr_jw_take(&w, &len);
  if (body == NULL)
    pyr_qfail(resp, 500, "render-diff: out of memory");
  else
    pyr_qok(resp, "application/json", body, len);
out:
  pyr_fg_free(&fg);
  pyr_store_tree_free(l.t);
  pyr_store_tree_free(r.t);
  pyr_selector_free(&l.sel);
  pyr_selector_free(&r.sel);
  pyr_jw_free(&w);
}

/* ---- label-values / label-names ---------------------------------------------------------- */

static void write_list(pyr_query_resp *resp, const pyr_strlist *l) {
  pyr_jw w;
  pyr_jw_init(&w);
  pyr_jw_c(&w, '[');
  for (size_t i = 0; i < l->n; i++) {
    if (i)
      pyr_jw_c(&w, ',');
    pyr_jw_str(&w, l->v[i], strlen(l->v[i]));
  }
  pyr_jw_c(&w, ']');
  size_t len;
  char *body = pyr_jw_take(&w, &len);
  if (body == NULL)
    pyr_qfail(resp, 500, "out of memory");
  else
    pyr_qok(resp, "application/json", body, len);
}

/* Optional selection arguments of the label endpoints (an extension: the
 * real server reads none): query/match = selector, from/until. */
static int label_args(const pyr_query_env *env, const pyr_query_req *req, pyr_selector *sel,
                      size_t *nsel, int64_t *from, int64_t *until, pyr_query_resp *resp) {
  char err[PYR_QUERY_MSG_MAX];
  const char *m = pyr_qarg(req, "match");
  if (m == NULL)
    m = pyr_qarg(req, "query");
  *nsel = 0;
  if (m && m[0]) {
    int r = pyr_selector_parse(m, strlen(m), sel, err, sizeof(err));
    if (r != 0)
      return pyr_qfail(resp, r == -2 ? 500 : 400, "match: %s", err);
    *nsel = 1;
  }
  if (pyr_qe_time_arg(env, req, "from", from, resp) != 0 ||
      pyr_qe_time_arg(env, req, "until", until, resp) != 0)
    return -1;
  return pyr_qe_check_range(*from, *until, resp);
}

void pyr_qr_label_values(const pyr_query_env *env, const pyr_query_req *req,
                         pyr_query_resp *resp) {
  pyr_selector sel;
  pyr_strlist l = {0};
  size_t nsel;
  int64_t from, until;
  pyr_selector_init(&sel);
  const char *name = pyr_qarg(req, "label");
  if (name == NULL || name[0] == '\0') {
    pyr_qfail(resp, 400, "label is required: /pyroscope/label-values?label=<name>");
    goto out;
  }
  if (label_args(env, req, &sel, &nsel, &from, &until, resp) != 0)
    goto out;
  int r = strcmp(name, "__name__") == 0
              ? pyr_qe_profile_types(env, req->tenant, from, until, &l, resp)
              : pyr_qe_label_values(env, req->tenant, name, &sel, nsel, from, until, &l, resp);
  if (r == 0)
    write_list(resp, &l);
out:
  pyr_strlist_free(&l);
  pyr_selector_free(&sel);
}

void pyr_qr_label_names(const pyr_query_env *env, const pyr_query_req *req,
                        pyr_query_resp *resp) {
  pyr_selector sel;
  pyr_strlist l = {0};
  size_t nsel;
  int64_t from, until;
  pyr_selector_init(&sel);
  if (label_args(env, req, &sel, &nsel, &from, &until, resp) == 0 &&
      pyr_qe_label_names(env, req->tenant, &sel, nsel, from, until, &l, resp) == 0)
    write_list(resp, &l);
  pyr_strlist_free(&l);
  pyr_selector_free(&sel);
}
