/*
 * querier.c - querier.v1.QuerierService methods (see querier.h).
 *
 * What: decode the request (protobuf-c for application/proto, protojson.c
 * for application/json, after an optional gunzip), validate it (profile
 * type, selectors, range, max_nodes, step), run it through the query
 * engine, build the response as protobuf-c structs in a per-request arena
 * (names and level arrays point into the flame graph, nothing is copied),
 * and serialise it with the request's codec.
 *
 * Threads: reentrant.
 *
 * Invariants: all response memory comes from the arena or from objects
 * freed at the end of the request; request messages are freed with the
 * allocator that created them; every input is checked before use.
 */
#include "querier.h"

#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flamegraph.h"
#include "ingest_gzip.h"
#include "pprof.h"
#include "pprof.pb-c.h"
#include "protojson.h"
#include "querier.pb-c.h"
#include "query_engine.h"
#include "query_types.pb-c.h"
#include "types.pb-c.h"

#define NS_PER_MS INT64_C(1000000)
#define DEFAULT_STEP_MS INT64_C(15000)

/* ---- arena for response messages ---------------------------------------------------- */

typedef struct ablk {
  struct ablk *next;
  size_t used, cap;
  max_align_t data[];
} ablk;

typedef struct arena {
  ablk *head;
  bool oom;
} arena;

static void *aalloc(arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (a->head == NULL || a->head->cap - a->head->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    ablk *b = malloc(sizeof(*b) + cap);
    if (b == NULL) {
      a->oom = true;
      return NULL;
    }
    b->next = a->head;
    b->used = 0;
    b->cap = cap;
    a->head = b;
  }
  void *p = (char *)a->head->data + a->head->used;
  a->head->used += n;
  memset(p, 0, n);
  return p;
}

static char *astrdup(arena *a, const char *s, size_t n) {
  char *p = aalloc(a, n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

static void arena_free(arena *a) {
  while (a->head) {
    ablk *n = a->head->next;
    free(a->head);
    a->head = n;
  }
}

/* ---- request context ------------------------------------------------------------------ */

typedef struct qctx {
  const pyr_query_env *env;
  const char *tenant;
  pyr_query_resp *resp;
  bool json;
  arena ar;
} qctx;

static void reply(qctx *c, const ProtobufCMessage *m) {
  if (c->ar.oom) {
    pyr_qfail(c->resp, 500, "out of memory");
    return;
  }
  if (c->json) {
    pyr_jw w;
    pyr_jw_init(&w);
    pyr_protojson_write(&w, m);
    size_t len;
    char *body = pyr_jw_take(&w, &len);
    if (body == NULL)
      pyr_qfail(c->resp, 500, "out of memory");
    else
      pyr_qok(c->resp, "application/json", body, len);
    return;
  }
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n ? n : 1);
  if (buf == NULL) {
    pyr_qfail(c->resp, 500, "out of memory");
    return;
  }
  protobuf_c_message_pack(m, buf);
  pyr_qok(c->resp, "application/proto", (char *)buf, n);
}

static int64_t ms_to_ns(int64_t ms) {
  if (ms <= 0)
    return 0;
  if (ms > INT64_MAX / NS_PER_MS)
    return INT64_MAX;
  return ms * NS_PER_MS;
}

static int range(qctx *c, int64_t start_ms, int64_t end_ms, int64_t *s, int64_t *e) {
  if (start_ms < 0 || end_ms < 0)
    return pyr_qfail(c->resp, 400, "invalid time range: negative start or end");
  *s = ms_to_ns(start_ms);
  *e = ms_to_ns(end_ms);
  return pyr_qe_check_range(*s, *e, c->resp);
}

/* Parses repeated selector strings; *out is an array of n selectors. */
static int parse_sels(qctx *c, char **strs, size_t n, const char *field, pyr_selector **out) {
  char err[PYR_QUERY_MSG_MAX];
  *out = NULL;
  if (n == 0)
    return 0;
  if (n > PYR_SELECTOR_MAX_MATCHERS)
    return pyr_qfail(c->resp, 400, "%s: too many selectors (%zu, limit %d)", field, n,
                     PYR_SELECTOR_MAX_MATCHERS);
  pyr_selector *s = calloc(n, sizeof(*s));
  if (s == NULL)
    return pyr_qfail(c->resp, 500, "out of memory");
  for (size_t i = 0; i < n; i++) {
    int r = pyr_selector_parse(strs[i], strlen(strs[i]), &s[i], err, sizeof(err));
    if (r != 0) {
      for (size_t j = 0; j <= i; j++)
        pyr_selector_free(&s[j]);
      free(s);
      return pyr_qfail(c->resp, r == -2 ? 500 : 400, "%s[%zu]: %s", field, i, err);
    }
  }
  *out = s;
  return 0;
}

static void free_sels(pyr_selector *s, size_t n) {
  for (size_t i = 0; s && i < n; i++)
    pyr_selector_free(&s[i]);
  free(s);
}

/* A select request's common part: type, selector, range. */
typedef struct selreq {
  pyr_profile_type pt;
  pyr_selector sel;
  int64_t start, end;
} selreq;

static int parse_select(qctx *c, const char *type, const char *selector, int64_t start_ms,
                        int64_t end_ms, selreq *out, const char *prefix) {
  char err[PYR_QUERY_MSG_MAX];
  pyr_selector_init(&out->sel);
  if (pyr_profile_type_parse(type ? type : "", type ? strlen(type) : 0, &out->pt, err,
                             sizeof(err)) != 0)
    return pyr_qfail(c->resp, 400, "%sprofile_typeID: %s", prefix, err);
  int r = pyr_selector_parse(selector ? selector : "", selector ? strlen(selector) : 0,
                             &out->sel, err, sizeof(err));
  if (r != 0)
    return pyr_qfail(c->resp, r == -2 ? 500 : 400, "%slabel_selector: %s", prefix, err);
  return range(c, start_ms, end_ms, &out->start, &out->end);
}

static void focus(pyr_store_tree *t, const Types__V1__StackTraceSelector *s) {
  if (s == NULL || s->n_call_site == 0)
    return;
  const char *path[256];
  size_t n = 0;
  for (size_t i = 0; i < s->n_call_site && n < 256; i++)
    path[n++] = s->call_site[i] && s->call_site[i]->name ? s->call_site[i]->name : "";
  pyr_fg_focus(t, path, n);
}

/* ---- flame graph messages -------------------------------------------------------------- */

static Querier__V1__Level **levels_msg(qctx *c, const pyr_flamegraph *fg) {
  Querier__V1__Level **lv = aalloc(&c->ar, (fg->nlevels ? fg->nlevels : 1) * sizeof(*lv));
  Querier__V1__Level *l = aalloc(&c->ar, (fg->nlevels ? fg->nlevels : 1) * sizeof(*l));
  if (lv == NULL || l == NULL)
    return NULL;
  for (size_t i = 0; i < fg->nlevels; i++) {
    querier__v1__level__init(&l[i]);
    l[i].n_values = fg->levels[i].n;
    l[i].values = fg->levels[i].v;
    lv[i] = &l[i];
  }
  return lv;
}

static char **names_msg(qctx *c, const pyr_flamegraph *fg) {
  char **nm = aalloc(&c->ar, (fg->nnames ? fg->nnames : 1) * sizeof(*nm));
  if (nm == NULL)
    return NULL;
  for (size_t i = 0; i < fg->nnames; i++)
    nm[i] = (char *)fg->names[i].s; /* NUL-terminated; never freed through the message */
  return nm;
}

/* ---- methods ------------------------------------------------------------------------------- */

static void m_profile_types(qctx *c, const ProtobufCMessage *in) {
  const Querier__V1__ProfileTypesRequest *rq = (const void *)in;
  Querier__V1__ProfileTypesResponse out = QUERIER__V1__PROFILE_TYPES_RESPONSE__INIT;
  pyr_strlist l = {0};
  int64_t s = 0, e = 0; /* set by range(); initialised for -O3 flow analysis */
  if (range(c, rq->start, rq->end, &s, &e) != 0 ||
      pyr_qe_profile_types(c->env, c->tenant, s, e, &l, c->resp) != 0)
    goto out;
  out.profile_types = aalloc(&c->ar, (l.n ? l.n : 1) * sizeof(*out.profile_types));
  Types__V1__ProfileType *pt = aalloc(&c->ar, (l.n ? l.n : 1) * sizeof(*pt));
  if (out.profile_types == NULL || pt == NULL)
    goto out;
  for (size_t i = 0; i < l.n; i++) {
    pyr_profile_type p;
    types__v1__profile_type__init(&pt[i]);
    pt[i].id = l.v[i];
    if (pyr_profile_type_parse(l.v[i], strlen(l.v[i]), &p, NULL, 0) == 0) {
      pt[i].name = astrdup(&c->ar, p.name, strlen(p.name));
      pt[i].sample_type = astrdup(&c->ar, p.sample_type, strlen(p.sample_type));
      pt[i].sample_unit = astrdup(&c->ar, p.sample_unit, strlen(p.sample_unit));
      pt[i].period_type = astrdup(&c->ar, p.period_type, strlen(p.period_type));
      pt[i].period_unit = astrdup(&c->ar, p.period_unit, strlen(p.period_unit));
      if (!pt[i].name || !pt[i].sample_type || !pt[i].sample_unit || !pt[i].period_type ||
          !pt[i].period_unit)
        goto out;
    }
    out.profile_types[i] = &pt[i];
  }
  out.n_profile_types = l.n;
  reply(c, &out.base);
out:
  if (c->ar.oom)
    pyr_qfail(c->resp, 500, "out of memory");
  pyr_strlist_free(&l);
}

static void strlist_reply(qctx *c, pyr_strlist *l, bool values) {
  /* LabelNames and LabelValues responses have the same shape: names = 1 */
  if (values) {
    Types__V1__LabelValuesResponse out = TYPES__V1__LABEL_VALUES_RESPONSE__INIT;
    out.n_names = l->n;
    out.names = l->v;
    reply(c, &out.base);
  } else {
    Types__V1__LabelNamesResponse out = TYPES__V1__LABEL_NAMES_RESPONSE__INIT;
    out.n_names = l->n;
    out.names = l->v;
    reply(c, &out.base);
  }
}

static void m_label_names(qctx *c, const ProtobufCMessage *in) {
  const Types__V1__LabelNamesRequest *rq = (const void *)in;
  pyr_selector *sels = NULL;
  pyr_strlist l = {0};
  int64_t s = 0, e = 0; /* set by range(); initialised for -O3 flow analysis */
  if (range(c, rq->start, rq->end, &s, &e) == 0 &&
      parse_sels(c, rq->matchers, rq->n_matchers, "matchers", &sels) == 0 &&
      pyr_qe_label_names(c->env, c->tenant, sels, rq->n_matchers, s, e, &l, c->resp) == 0)
    strlist_reply(c, &l, false);
  free_sels(sels, rq->n_matchers);
  pyr_strlist_free(&l);
}

static void m_label_values(qctx *c, const ProtobufCMessage *in) {
  const Types__V1__LabelValuesRequest *rq = (const void *)in;
  pyr_selector *sels = NULL;
  pyr_strlist l = {0};
  int64_t s = 0, e = 0; /* set by range(); initialised for -O3 flow analysis */
  if (rq->name == NULL || rq->name[0] == '\0') {
    pyr_qfail(c->resp, 400, "name is required");
    return;
  }
  if (range(c, rq->start, rq->end, &s, &e) == 0 &&
      parse_sels(c, rq->matchers, rq->n_matchers, "matchers", &sels) == 0 &&
      pyr_qe_label_values(c->env, c->tenant, rq->name, sels, rq->n_matchers, s, e, &l,
                          c->resp) == 0)
    strlist_reply(c, &l, true);
  free_sels(sels, rq->n_matchers);
  pyr_strlist_free(&l);
}

static void m_series(qctx *c, const ProtobufCMessage *in) {
  const Querier__V1__SeriesRequest *rq = (const void *)in;
  Querier__V1__SeriesResponse out = QUERIER__V1__SERIES_RESPONSE__INIT;
  pyr_selector *sels = NULL;
  pyr_qe_labelsets ls = {0};
  int64_t s = 0, e = 0; /* set by range(); initialised for -O3 flow analysis */
  if (range(c, rq->start, rq->end, &s, &e) != 0 ||
      parse_sels(c, rq->matchers, rq->n_matchers, "matchers", &sels) != 0 ||
      pyr_qe_series(c->env, c->tenant, sels, rq->n_matchers, (const char *const *)rq->label_names,
                    rq->n_label_names, s, e, &ls, c->resp) != 0)
    goto out;
  out.labels_set = aalloc(&c->ar, (ls.n ? ls.n : 1) * sizeof(*out.labels_set));
  if (out.labels_set == NULL)
    goto out;
  for (size_t i = 0; i < ls.n; i++) {
    /* "name\0value\0..." -> LabelPairs pointing into the set */
    size_t np = 0;
    for (size_t k = 0; k < ls.lens[i]; k++)
      np += ls.v[i][k] == '\0';
    np /= 2;
    Types__V1__Labels *lb = aalloc(&c->ar, sizeof(*lb));
    Types__V1__LabelPair **pp = aalloc(&c->ar, (np ? np : 1) * sizeof(*pp));
    Types__V1__LabelPair *pv = aalloc(&c->ar, (np ? np : 1) * sizeof(*pv));
    if (lb == NULL || pp == NULL || pv == NULL)
      goto out;
    types__v1__labels__init(lb);
    char *p = ls.v[i];
    for (size_t k = 0; k < np; k++) {
      types__v1__label_pair__init(&pv[k]);
      pv[k].name = p;
      p += strlen(p) + 1;
      pv[k].value = p;
      p += strlen(p) + 1;
      pp[k] = &pv[k];
    }
    lb->n_labels = np;
    lb->labels = pp;
    out.labels_set[i] = lb;
  }
  out.n_labels_set = ls.n;
  reply(c, &out.base);
out:
  if (c->ar.oom)
    pyr_qfail(c->resp, 500, "out of memory");
  free_sels(sels, rq->n_matchers);
  pyr_qe_labelsets_free(&ls);
}

static void m_select_merge_stacktraces(qctx *c, const ProtobufCMessage *in) {
  const Querier__V1__SelectMergeStacktracesRequest *rq = (const void *)in;
  Querier__V1__SelectMergeStacktracesResponse out =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_RESPONSE__INIT;
  Querier__V1__FlameGraph fgm = QUERIER__V1__FLAME_GRAPH__INIT;
  selreq sr;
  pyr_store_tree *t = NULL;
  pyr_flamegraph fg = {0};
  pyr_jw tree;
  uint32_t max_nodes;
  pyr_jw_init(&tree);
  if (parse_select(c, rq->profile_typeid, rq->label_selector, rq->start, rq->end, &sr, "") != 0 ||
      pyr_qe_max_nodes(rq->max_nodes, &max_nodes, c->resp) != 0)
    goto out;
  if (rq->format != QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_UNSPECIFIED &&
      rq->format != QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_FLAMEGRAPH &&
      rq->format != QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_TREE) {
    pyr_qfail(c->resp, 400, "format %d is not supported: use FLAMEGRAPH or TREE", rq->format);
    goto out;
  }
  if (pyr_qe_merge(c->env, c->tenant, sr.pt.id, &sr.sel, sr.start, sr.end, 0, &t, c->resp) != 0)
    goto out;
  focus(t, rq->stack_trace_selector);
  if (rq->format == QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_TREE) {
    pyr_fg_write_tree(&tree, t, max_nodes);
    if (tree.oom) {
      pyr_qfail(c->resp, 500, "out of memory");
      goto out;
    }
    out.tree.data = (uint8_t *)tree.p;
    out.tree.len = tree.n;
    reply(c, &out.base);
    goto out;
  }
  if (pyr_fg_build(t, max_nodes, &fg) != 0) {
    pyr_qfail(c->resp, 500, "flame graph: out of memory");
    goto out;
  }
  fgm.names = names_msg(c, &fg);
  fgm.n_names = fg.nnames;
  fgm.levels = levels_msg(c, &fg);
  fgm.n_levels = fg.nlevels;
  fgm.total = fg.total;
  fgm.max_self = fg.max_self;
  out.flamegraph = &fgm;
  reply(c, &out.base);
out:
  pyr_fg_free(&fg);
  pyr_store_tree_free(t);
  pyr_selector_free(&sr.sel);
  pyr_jw_free(&tree);
}

static void m_select_merge_profile(qctx *c, const ProtobufCMessage *in) {
  const Querier__V1__SelectMergeProfileRequest *rq = (const void *)in;
  selreq sr;
  pyr_store_tree *t = NULL;
  uint8_t *raw = NULL;
  size_t len = 0;
  uint32_t max_nodes = 0;
  Google__V1__Profile *p = NULL;
  if (parse_select(c, rq->profile_typeid, rq->label_selector, rq->start, rq->end, &sr, "") != 0)
    goto out;
  if (rq->max_nodes != 0 && pyr_qe_max_nodes(rq->max_nodes, &max_nodes, c->resp) != 0)
    goto out;
  if (pyr_qe_merge(c->env, c->tenant, sr.pt.id, &sr.sel, sr.start, sr.end,
                   PYR_STORE_MERGE_LINES, &t, c->resp) != 0)
    goto out;
  focus(t, rq->stack_trace_selector);
  pyr_pprof_meta m = {
      .sample_type = sr.pt.sample_type,
      .sample_unit = sr.pt.sample_unit,
      .period_type = sr.pt.period_type,
      .period_unit = sr.pt.period_unit,
  };
  pyr_qe_profile_time(c->env, c->tenant, sr.pt.id, &sr.sel, sr.start, sr.end, &m.time_nanos,
                      &m.duration_nanos);
  if (pyr_pprof_encode_tree(t, &m, max_nodes, &raw, &len) != 0) {
    pyr_qfail(c->resp, 500, "pprof: out of memory");
    goto out;
  }
  if (!c->json) {
    pyr_qok(c->resp, "application/proto", (char *)raw, len);
    raw = NULL;
    goto out;
  }
  p = google__v1__profile__unpack(NULL, len, raw);
  if (p == NULL) {
    pyr_qfail(c->resp, 500, "pprof: cannot re-read the profile");
    goto out;
  }
  reply(c, &p->base);
out:
  if (p)
    google__v1__profile__free_unpacked(p, NULL);
  free(raw);
  pyr_store_tree_free(t);
  pyr_selector_free(&sr.sel);
}

typedef struct gorder {
  uint32_t g;
  int64_t total;
} gorder;

/* qsort() has no context argument: the points being ordered are passed
 * through a thread-local (requests run concurrently on query threads). */
static _Thread_local const pyr_qe_points *tl_pts;

static int cmp_group_labels(const void *a, const void *b) {
  const pyr_qe_points *p = tl_pts;
  uint32_t x = ((const gorder *)a)->g, y = ((const gorder *)b)->g;
  for (size_t i = 0; i < p->ngroup_by; i++) {
    const char *u = p->gvals[x * p->ngroup_by + i], *v = p->gvals[y * p->ngroup_by + i];
    if (u == v)
      continue;
    if (u == NULL)
      return -1;
    if (v == NULL)
      return 1;
    int cmp = strcmp(u, v);
    if (cmp)
      return cmp;
  }
  return x < y ? -1 : x > y;
}

static int cmp_group_total(const void *a, const void *b) {
  const gorder *x = a, *y = b;
  if (x->total != y->total)
    return x->total > y->total ? -1 : 1;
  return cmp_group_labels(a, b);
}

static void m_select_series(qctx *c, const ProtobufCMessage *in) {
  const Querier__V1__SelectSeriesRequest *rq = (const void *)in;
  Querier__V1__SelectSeriesResponse out = QUERIER__V1__SELECT_SERIES_RESPONSE__INIT;
  selreq sr;
  pyr_qe_points pts = {0};
  gorder *go = NULL;
  if (parse_select(c, rq->profile_typeid, rq->label_selector, rq->start, rq->end, &sr, "") != 0)
    goto out;
  if (!(rq->step >= 0) || isinf(rq->step)) {
    pyr_qfail(c->resp, 400, "step must be a positive number of seconds");
    goto out;
  }
  if (rq->limit < 0) {
    pyr_qfail(c->resp, 400, "limit must not be negative");
    goto out;
  }
  if (pyr_qe_points_get(c->env, c->tenant, sr.pt.id, &sr.sel, sr.start, sr.end,
                        (const char *const *)rq->group_by, rq->n_group_by, &pts, c->resp) != 0)
    goto out;
  int64_t step_ms = rq->step > 0 ? (int64_t)llround(rq->step * 1000.0) : DEFAULT_STEP_MS;
  if (step_ms <= 0)
    step_ms = 1;
  int64_t now_ms = pyr_qe_now(c->env) / NS_PER_MS;
  int64_t start_ms = sr.start / NS_PER_MS;
  if (start_ms == 0)
    start_ms = pts.nseries ? pts.t_min_ns / NS_PER_MS : now_ms - 3600 * 1000;
  /* The end needs no default: points only exist where profiles are (and
   * they are sparse, so no step is too small: their number is bounded by
   * the profiles read). */
  bool avg = rq->aggregation == TYPES__V1__TIME_SERIES_AGGREGATION_TYPE__TIME_SERIES_AGGREGATION_TYPE_AVERAGE;

  /* group -> first point index (points are sorted by group, then time) */
  size_t ng = pts.ngroups;
  size_t *first = calloc(ng + 1, sizeof(*first));
  go = calloc(ng ? ng : 1, sizeof(*go));
  if (first == NULL || go == NULL) {
    free(first);
    pyr_qfail(c->resp, 500, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < pts.n; i++)
    first[pts.p[i].group + 1]++;
  for (size_t g = 0; g < ng; g++)
    first[g + 1] += first[g];
  for (size_t g = 0; g < ng; g++) {
    go[g].g = (uint32_t)g;
    for (size_t i = first[g]; i < first[g + 1]; i++)
      go[g].total += pts.p[i].total;
  }
  tl_pts = &pts;
  size_t keep = ng;
  if (rq->limit > 0 && (uint64_t)rq->limit < ng) {
    qsort(go, ng, sizeof(*go), cmp_group_total);
    keep = (size_t)rq->limit;
  }
  qsort(go, keep, sizeof(*go), cmp_group_labels);
  out.series = aalloc(&c->ar, (keep ? keep : 1) * sizeof(*out.series));
  if (out.series == NULL) {
    free(first);
    goto out;
  }
  for (size_t k = 0; k < keep; k++) {
    uint32_t g = go[k].g;
    Types__V1__Series *se = aalloc(&c->ar, sizeof(*se));
    if (se == NULL)
      break;
    types__v1__series__init(se);
    /* labels: the group_by pairs that are present */
    se->labels = aalloc(&c->ar, (pts.ngroup_by ? pts.ngroup_by : 1) * sizeof(*se->labels));
    if (se->labels == NULL)
      break;
    for (size_t i = 0; i < pts.ngroup_by; i++) {
      char *v = pts.gvals[g * pts.ngroup_by + i];
      if (v == NULL)
        continue;
      Types__V1__LabelPair *lp = aalloc(&c->ar, sizeof(*lp));
      if (lp == NULL)
        break;
      types__v1__label_pair__init(lp);
      lp->name = rq->group_by[i];
      lp->value = v;
      se->labels[se->n_labels++] = lp;
    }
    /* points: profile at ts lands on the first start + k*step >= ts */
    size_t a = first[g], z = first[g + 1], np = 0;
    se->points = aalloc(&c->ar, ((z - a) ? (z - a) : 1) * sizeof(*se->points));
    if (se->points == NULL)
      break;
    for (size_t i = a; i < z;) {
      int64_t ts = pts.p[i].ts_ns / NS_PER_MS;
      int64_t d = ts - start_ms;
      int64_t kb = d <= 0 ? 0 : (d + step_ms - 1) / step_ms;
      double sum = 0;
      int64_t cnt = 0;
      for (; i < z; i++) {
        int64_t t2 = pts.p[i].ts_ns / NS_PER_MS - start_ms;
        if ((t2 <= 0 ? 0 : (t2 + step_ms - 1) / step_ms) != kb)
          break;
        sum += (double)pts.p[i].total;
        cnt++;
      }
      Types__V1__Point *pt = aalloc(&c->ar, sizeof(*pt));
      if (pt == NULL)
        break;
      types__v1__point__init(pt);
      pt->timestamp = start_ms + kb * step_ms;
      pt->value = avg && cnt ? sum / (double)cnt : sum;
      se->points[np++] = pt;
    }
    se->n_points = np;
    out.series[out.n_series++] = se;
  }
  free(first);
  if (c->ar.oom) {
    pyr_qfail(c->resp, 500, "out of memory");
    goto out;
  }
  reply(c, &out.base);
out:
  tl_pts = NULL;
  free(go);
  pyr_qe_points_free(&pts);
  pyr_selector_free(&sr.sel);
}

static void m_diff(qctx *c, const ProtobufCMessage *in) {
  const Querier__V1__DiffRequest *rq = (const void *)in;
  Querier__V1__DiffResponse out = QUERIER__V1__DIFF_RESPONSE__INIT;
  Querier__V1__FlameGraphDiff fgm = QUERIER__V1__FLAME_GRAPH_DIFF__INIT;
  selreq l, r;
  pyr_store_tree *lt = NULL, *rt = NULL;
  pyr_flamegraph fg = {0};
  uint32_t max_nodes;
  pyr_selector_init(&l.sel);
  pyr_selector_init(&r.sel);
  if (rq->left == NULL || rq->right == NULL) {
    pyr_qfail(c->resp, 400, "left and right are required");
    goto out;
  }
  if (parse_select(c, rq->left->profile_typeid, rq->left->label_selector, rq->left->start,
                   rq->left->end, &l, "left.") != 0 ||
      parse_select(c, rq->right->profile_typeid, rq->right->label_selector, rq->right->start,
                   rq->right->end, &r, "right.") != 0)
    goto out;
  if (strcmp(l.pt.id, r.pt.id) != 0) {
    pyr_qfail(c->resp, 400, "left and right must have the same profile type: %s vs %s",
              l.pt.id, r.pt.id);
    goto out;
  }
  int64_t mn = rq->left->max_nodes ? rq->left->max_nodes : rq->right->max_nodes;
  if (pyr_qe_max_nodes(mn, &max_nodes, c->resp) != 0)
    goto out;
  if (pyr_qe_merge(c->env, c->tenant, l.pt.id, &l.sel, l.start, l.end, 0, &lt, c->resp) != 0 ||
      pyr_qe_merge(c->env, c->tenant, r.pt.id, &r.sel, r.start, r.end, 0, &rt, c->resp) != 0)
    goto out;
  focus(lt, rq->left->stack_trace_selector);
  focus(rt, rq->right->stack_trace_selector);
  if (pyr_fg_build_diff(lt, rt, max_nodes, &fg) != 0) {
    pyr_qfail(c->resp, 500, "flame graph: out of memory");
    goto out;
  }
  fgm.names = names_msg(c, &fg);
  fgm.n_names = fg.nnames;
  fgm.levels = levels_msg(c, &fg);
  fgm.n_levels = fg.nlevels;
  fgm.total = fg.total;
  fgm.max_self = fg.max_self;
  fgm.leftticks = fg.left_ticks;
  fgm.rightticks = fg.right_ticks;
  out.flamegraph = &fgm;
  reply(c, &out.base);
out:
  pyr_fg_free(&fg);
  pyr_store_tree_free(lt);
  pyr_store_tree_free(rt);
  pyr_selector_free(&l.sel);
  pyr_selector_free(&r.sel);
}

static void m_get_profile_stats(qctx *c, const ProtobufCMessage *in) {
  Querier__V1__GetProfileStatsResponse out = QUERIER__V1__GET_PROFILE_STATS_RESPONSE__INIT;
  pyr_qe_stats st;
  (void)in;
  if (pyr_qe_stats_get(c->env, c->tenant, &st, c->resp) != 0)
    return;
  out.data_ingested = st.ingested;
  out.oldest_profile_time = st.ingested ? st.oldest_ns / NS_PER_MS : 0;
  out.newest_profile_time = st.ingested ? st.newest_ns / NS_PER_MS : 0;
  reply(c, &out.base);
}

/* ---- dispatch ---------------------------------------------------------------------------------- */

typedef struct method {
  const char *name;
  const ProtobufCMessageDescriptor *in;
  void (*fn)(qctx *c, const ProtobufCMessage *in);
} method;

static const method methods[] = {
    {"ProfileTypes", &querier__v1__profile_types_request__descriptor, m_profile_types},
    {"LabelNames", &types__v1__label_names_request__descriptor, m_label_names},
    {"LabelValues", &types__v1__label_values_request__descriptor, m_label_values},
    {"Series", &querier__v1__series_request__descriptor, m_series},
    {"SelectMergeStacktraces", &querier__v1__select_merge_stacktraces_request__descriptor,
     m_select_merge_stacktraces},
    {"SelectMergeProfile", &querier__v1__select_merge_profile_request__descriptor,
     m_select_merge_profile},
    {"SelectSeries", &querier__v1__select_series_request__descriptor, m_select_series},
    {"Diff", &querier__v1__diff_request__descriptor, m_diff},
    {"GetProfileStats", &querier__v1__get_profile_stats_request__descriptor,
     m_get_profile_stats},
};

static const method *find_method(const char *path) {
  size_t pl = strlen(PYR_QUERIER_PREFIX);
  if (path == NULL || strncmp(path, PYR_QUERIER_PREFIX, pl) != 0)
    return NULL;
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    if (strcmp(path + pl, methods[i].name) == 0)
      return &methods[i];
  return NULL;
}

bool pyr_querier_known(const char *path) { return find_method(path) != NULL; }

int pyr_querier_codec(const char *ct) {
  static const struct {
    const char *name;
    int codec;
  } tab[] = {{"application/proto", 1},
             {"application/protobuf", 1},
             {"application/x-protobuf", 1},
             {"application/json", 2}};
  if (ct == NULL)
    return 0;
  while (*ct == ' ')
    ct++;
  for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
    size_t n = strlen(tab[i].name);
    if (strncasecmp(ct, tab[i].name, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
      return tab[i].codec;
  }
  return 0;
}

void pyr_querier_handle(const pyr_query_env *env, const pyr_query_req *req,
                        pyr_query_resp *resp) {
  qctx c = {.env = env, .tenant = req->tenant, .resp = resp};
  const method *m = find_method(req->path);
  unsigned char *owned = NULL;
  const unsigned char *body = req->body;
  size_t len = req->len;
  ProtobufCMessage *in = NULL;
  char err[PYR_QUERY_MSG_MAX];

  if (m == NULL) {
    pyr_qfail(resp, 404, "no such method: %.200s", req->path ? req->path : "");
    return;
  }
  int codec = pyr_querier_codec(req->content_type);
  if (codec == 0) {
    pyr_qfail(resp, 415, "unsupported content type: use application/proto or application/json");
    return;
  }
  c.json = codec == 2;
  if (req->len > PYR_QUERIER_MAX_REQUEST) {
    pyr_qfail(resp, 413, "request too large: %zu bytes (limit %u)", req->len,
              PYR_QUERIER_MAX_REQUEST);
    return;
  }
  const char *ce = req->content_encoding;
  if (ce && ce[0] && strcasecmp(ce, "identity") != 0) {
    if (strcasecmp(ce, "gzip") != 0) {
      pyr_qfail(resp, 415, "unsupported Content-Encoding \"%.32s\": use gzip or identity", ce);
      return;
    }
    size_t max = env->max_decompressed && env->max_decompressed < PYR_QUERIER_MAX_REQUEST
                     ? env->max_decompressed
                     : PYR_QUERIER_MAX_REQUEST;
    int r = pyr_gunzip(req->body, req->len, max, &owned, &len, err, sizeof(err));
    if (r != PYR_GZ_OK) {
      pyr_qfail(resp, r == PYR_GZ_ELIMIT ? 413 : 400, "request body: %s", err);
      return;
    }
    body = owned;
  }
  if (c.json) {
    in = pyr_protojson_read(m->in, (const char *)body, len, NULL, err, sizeof(err));
    if (in == NULL) {
      pyr_qfail(resp, 400, "invalid %s request: %s", m->name, err);
      goto out;
    }
  } else {
    in = protobuf_c_message_unpack(m->in, NULL, len, body);
    if (in == NULL) {
      pyr_qfail(resp, 400, "invalid %s request: cannot decode protobuf (%zu bytes)", m->name,
                len);
      goto out;
    }
  }
  m->fn(&c, in);
out:
  if (in)
    protobuf_c_message_free_unpacked(in, NULL);
  free(owned);
  arena_free(&c.ar);
}
