/*
 * query_engine.c - selections against the store (see query_engine.h).
 *
 * What: label selectors become the store's per-series filter callback;
 * merges go to pyr_store_merge (the store keeps stacks deduplicated per
 * dictionary and sums them in dense arrays, far cheaper than decoding
 * every profile here); timelines and SelectSeries read only per-profile
 * totals (pyr_store_points_foreach, no stack decoding); label APIs walk
 * the in-memory series catalog only (no database reads).
 *
 * Threads: reentrant.  The store calls our callbacks on this thread with
 * its catalog lock held, so they only copy what they need.
 *
 * Invariants: every result is bounded by the data it reflects (series,
 * profiles, distinct labels); error paths release partial results.
 */
#include "query_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flamegraph.h"
#include "ingest.h"
#include "timeparse.h"

#include <zlib.h>

int pyr_qfail(pyr_query_resp *resp, unsigned status, const char *fmt, ...) {
  resp->status = status;
  resp->code = pyr_ingest_code_for_status(status);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(resp->message, sizeof(resp->message), fmt, ap);
  va_end(ap);
  free(resp->body);
  resp->body = NULL;
  resp->len = 0;
  return -1;
}

void pyr_qok(pyr_query_resp *resp, const char *content_type, char *body, size_t len) {
  free(resp->body);
  resp->status = 200;
  resp->code = NULL;
  resp->message[0] = '\0';
  resp->content_type = content_type;
  resp->body = body;
  resp->len = len;
}

int64_t pyr_qe_now(const pyr_query_env *env) {
  return env->now_ns ? env->now_ns() : pyr_time_now_ns();
}

static int store_fail(pyr_query_resp *resp, int rc, const char *what) {
  if (rc == PYR_STORE_ENOMEM)
    return pyr_qfail(resp, 500, "%s: out of memory", what);
  if (rc == PYR_STORE_ECLOSED)
    return pyr_qfail(resp, 503, "%s: the server is shutting down", what);
  return pyr_qfail(resp, 500, "%s: storage error: %s", what, pyr_store_strerror(rc));
}

/* ---- string sets ------------------------------------------------------------------ */

typedef struct strset {
  char **v;
  size_t *len;
  size_t n, cap;
  uint32_t *slot; /* index + 1 */
  size_t mask;
  bool oom;
} strset;

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

/* Adds s[0..n) (copied, NUL added); returns its index, or -1 on OOM. */
static long strset_add(strset *t, const char *s, size_t n) {
  if (t->oom)
    return -1;
  if (t->slot == NULL || (t->n + 1) * 2 > t->mask + 1) {
    size_t cap = t->slot ? (t->mask + 1) * 2 : 64;
    uint32_t *ns = calloc(cap, sizeof(*ns));
    if (ns == NULL)
      goto oom;
    for (size_t i = 0; i < t->n; i++) {
      size_t h = hash_bytes(t->v[i], t->len[i]) & (cap - 1);
      while (ns[h])
        h = (h + 1) & (cap - 1);
      ns[h] = (uint32_t)i + 1;
    }
    free(t->slot);
    t->slot = ns;
    t->mask = cap - 1;
  }
  size_t h = hash_bytes(s, n) & t->mask;
  for (; t->slot[h]; h = (h + 1) & t->mask) {
    size_t i = t->slot[h] - 1;
    if (t->len[i] == n && memcmp(t->v[i], s, n) == 0)
      return (long)i;
  }
  if (t->n == t->cap) {
    size_t nc = t->cap ? t->cap * 2 : 64;
    char **nv = realloc(t->v, nc * sizeof(*nv));
    if (nv == NULL)
      goto oom;
    t->v = nv;
    size_t *nl = realloc(t->len, nc * sizeof(*nl));
    if (nl == NULL)
      goto oom;
    t->len = nl;
    t->cap = nc;
  }
  char *c = malloc(n + 1);
  if (c == NULL)
    goto oom;
  memcpy(c, s, n);
  c[n] = '\0';
  t->v[t->n] = c;
  t->len[t->n] = n;
  t->slot[h] = (uint32_t)t->n + 1;
  return (long)t->n++;
oom:
  t->oom = true;
  return -1;
}

static void strset_free(strset *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->v[i]);
  free(t->v);
  free(t->len);
  free(t->slot);
  memset(t, 0, sizeof(*t));
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Moves the strings of t into a sorted list; t is emptied. */
static void strset_to_list(strset *t, pyr_strlist *out) {
  if (t->n > 1)
    qsort(t->v, t->n, sizeof(*t->v), cmp_str);
  out->v = t->v;
  out->n = t->n;
  t->v = NULL;
  t->n = 0;
  strset_free(t);
}

void pyr_strlist_free(pyr_strlist *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

/* ---- filters ---------------------------------------------------------------------- */

typedef struct selset {
  const pyr_selector *sels;
  size_t n;
} selset;

static int filter_any(void *ctx, const pyr_store_series *s) {
  const selset *ss = ctx;
  if (ss->n == 0)
    return 1;
  for (size_t i = 0; i < ss->n; i++)
    if (pyr_selector_match(&ss->sels[i], s->labels, s->nlabels))
      return 1;
  return 0;
}

static void make_query(pyr_store_query *q, const char *type_id, selset *ss, int64_t start_ns,
                       int64_t end_ns) {
  memset(q, 0, sizeof(*q));
  q->profile_type = type_id;
  q->start_ns = start_ns > 0 ? start_ns : 0;
  q->end_ns = end_ns > 0 ? end_ns : 0;
  q->filter = filter_any;
  q->filter_ctx = ss;
}

static int need_store(const pyr_query_env *env, pyr_query_resp *resp) {
  if (env->store == NULL)
    return pyr_qfail(resp, 503, "storage is not open yet, retry later");
  return 0;
}

/* ---- merge -------------------------------------------------------------------------- */

int pyr_qe_merge(const pyr_query_env *env, const char *tenant, const char *type_id,
                 const pyr_selector *sel, int64_t start_ns, int64_t end_ns, unsigned flags,
                 pyr_store_tree **out, pyr_query_resp *resp) {
  char err[256] = "";
  selset ss = {sel, sel ? 1 : 0};
  pyr_store_query q;
  *out = NULL;
  if (need_store(env, resp) != 0)
    return -1;
  make_query(&q, type_id, &ss, start_ns, end_ns);
  int rc = pyr_store_merge(env->store, tenant, &q, flags, out, err, sizeof(err));
  if (rc != 0) {
    if (rc == PYR_STORE_ENOMEM)
      return pyr_qfail(resp, 500, "merge: out of memory");
    return pyr_qfail(resp, 500, "%s", err[0] ? err : pyr_store_strerror(rc));
  }
  return 0;
}

/* ---- points ------------------------------------------------------------------------- */

typedef struct sgroup {
  uint64_t id;
  uint32_t group;
} sgroup;

typedef struct pts_ctx {
  const char *const *gb;
  size_t ngb;
  strset keys;       /* group key -> group index */
  char **gvals;      /* ngroups * ngb */
  size_t gcap;
  size_t gdone;      /* groups whose values are all in gvals */
  sgroup *sg;
  size_t nsg, sgcap;
  int64_t tmin, tmax;
  pyr_qe_point *p;
  size_t np, pcap;
  size_t last;       /* cached index into sg */
  char *kbuf;
  size_t kcap;
  bool oom;
} pts_ctx;

static int pts_series(void *ctx, const pyr_store_series *s) {
  pts_ctx *c = ctx;
  /* key: per group-by label, '1' value NUL or '0' NUL */
  size_t need = 1;
  const char *vals[PYR_QE_MAX_GROUP_BY];
  for (size_t i = 0; i < c->ngb; i++) {
    vals[i] = pyr_series_label(s->labels, s->nlabels, c->gb[i]);
    need += 2 + (vals[i] ? strlen(vals[i]) : 0);
  }
  if (need > c->kcap) {
    char *nk = realloc(c->kbuf, need);
    if (nk == NULL)
      goto oom;
    c->kbuf = nk;
    c->kcap = need;
  }
  size_t k = 0;
  for (size_t i = 0; i < c->ngb; i++) {
    c->kbuf[k++] = vals[i] ? '1' : '0';
    if (vals[i]) {
      size_t l = strlen(vals[i]);
      memcpy(c->kbuf + k, vals[i], l);
      k += l;
    }
    c->kbuf[k++] = '\0';
  }
  size_t before = c->keys.n;
  long g = strset_add(&c->keys, c->kbuf, k);
  if (g < 0)
    goto oom;
  if ((size_t)g == before && c->ngb > 0) { /* new group: keep its values */
    if ((before + 1) * c->ngb > c->gcap) {
      size_t nc = c->gcap ? c->gcap * 2 : 16 * c->ngb;
      char **ng = realloc(c->gvals, nc * sizeof(*ng));
      if (ng == NULL)
        goto oom;
      c->gvals = ng;
      c->gcap = nc;
    }
    for (size_t i = 0; i < c->ngb; i++) {
      c->gvals[before * c->ngb + i] = NULL;
      if (vals[i] && (c->gvals[before * c->ngb + i] = strdup(vals[i])) == NULL) {
        for (size_t j = 0; j < i; j++)
          free(c->gvals[before * c->ngb + j]);
        goto oom;
      }
    }
    c->gdone = before + 1;
  }
  if (c->nsg == c->sgcap) {
    size_t nc = c->sgcap ? c->sgcap * 2 : 64;
    sgroup *ns = realloc(c->sg, nc * sizeof(*ns));
    if (ns == NULL)
      goto oom;
    c->sg = ns;
    c->sgcap = nc;
  }
  c->sg[c->nsg++] = (sgroup){s->id, (uint32_t)g};
  if (c->nsg == 1 || s->t_min_ns < c->tmin)
    c->tmin = s->t_min_ns;
  if (c->nsg == 1 || s->t_max_ns > c->tmax)
    c->tmax = s->t_max_ns;
  return 0;
oom:
  c->oom = true;
  return 1;
}

static int cmp_sg(const void *a, const void *b) {
  const sgroup *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_point(const void *a, const void *b) {
  const pyr_qe_point *x = a, *y = b;
  if (x->group != y->group)
    return x->group < y->group ? -1 : 1;
  return x->ts_ns < y->ts_ns ? -1 : x->ts_ns > y->ts_ns;
}

static int pts_point(void *ctx, uint64_t series, int64_t from_ns, int64_t until_ns,
                     int64_t total) {
  pts_ctx *c = ctx;
  (void)until_ns;
  if (c->nsg == 0)
    return 0;
  if (c->sg[c->last].id != series) {
    size_t lo = 0, hi = c->nsg;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (c->sg[mid].id < series)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (lo == c->nsg || c->sg[lo].id != series)
      return 0; /* a series that appeared after the first pass */
    c->last = lo;
  }
  if (c->np == c->pcap) {
    size_t nc = c->pcap ? c->pcap * 2 : 1024;
    pyr_qe_point *np = realloc(c->p, nc * sizeof(*np));
    if (np == NULL) {
      c->oom = true;
      return 1;
    }
    c->p = np;
    c->pcap = nc;
  }
  c->p[c->np++] = (pyr_qe_point){c->sg[c->last].group, from_ns, total};
  return 0;
}

void pyr_qe_points_free(pyr_qe_points *p) {
  for (size_t i = 0; i < p->ngroups * p->ngroup_by; i++)
    free(p->gvals[i]);
  free(p->gvals);
  free(p->p);
  memset(p, 0, sizeof(*p));
}

int pyr_qe_points_get(const pyr_query_env *env, const char *tenant, const char *type_id,
                      const pyr_selector *sel, int64_t start_ns, int64_t end_ns,
                      const char *const *group_by, size_t ngroup_by, pyr_qe_points *out,
                      pyr_query_resp *resp) {
  selset ss = {sel, sel ? 1 : 0};
  pyr_store_query q;
  pts_ctx c = {.gb = group_by, .ngb = ngroup_by};
  int rc = -1;
  memset(out, 0, sizeof(*out));
  if (need_store(env, resp) != 0)
    return -1;
  if (ngroup_by > PYR_QE_MAX_GROUP_BY)
    return pyr_qfail(resp, 400, "too many group-by labels: %zu (limit %d)", ngroup_by,
                     PYR_QE_MAX_GROUP_BY);
  make_query(&q, type_id, &ss, start_ns, end_ns);
  int r = pyr_store_series_foreach(env->store, tenant, &q, pts_series, &c);
  if (c.oom) {
    pyr_qfail(resp, 500, "series: out of memory");
    goto out;
  }
  if (r != 0) {
    store_fail(resp, r, "series");
    goto out;
  }
  if (c.nsg > 1)
    qsort(c.sg, c.nsg, sizeof(*c.sg), cmp_sg);
  if (c.nsg > 0) {
    r = pyr_store_points_foreach(env->store, tenant, &q, pts_point, &c);
    if (c.oom) {
      pyr_qfail(resp, 500, "points: out of memory");
      goto out;
    }
    if (r != 0) {
      store_fail(resp, r, "points");
      goto out;
    }
  }
  if (c.np > 1)
    qsort(c.p, c.np, sizeof(*c.p), cmp_point);
  out->p = c.p;
  out->n = c.np;
  out->ngroups = c.keys.n;
  out->gvals = c.gvals;
  out->ngroup_by = ngroup_by;
  out->t_min_ns = c.tmin;
  out->t_max_ns = c.tmax;
  out->nseries = c.nsg;
  c.p = NULL;
  c.gvals = NULL;
  rc = 0;
out:
  if (c.gvals) {
    for (size_t i = 0; i < c.gdone * ngroup_by; i++)
      free(c.gvals[i]);
    free(c.gvals);
  }
  free(c.p);
  free(c.sg);
  free(c.kbuf);
  strset_free(&c.keys);
  return rc;
}

typedef struct span_ctx {
  bool any;
  int64_t tmin, tmax;
} span_ctx;

static int span_cb(void *ctx, const pyr_store_series *s) {
  span_ctx *c = ctx;
  if (!c->any || s->t_min_ns < c->tmin)
    c->tmin = s->t_min_ns;
  if (!c->any || s->t_max_ns > c->tmax)
    c->tmax = s->t_max_ns;
  c->any = true;
  return 0;
}

bool pyr_qe_span(const pyr_query_env *env, const char *tenant, const char *type_id,
                 const pyr_selector *sel, int64_t start_ns, int64_t end_ns, int64_t *t_min,
                 int64_t *t_max) {
  selset ss = {sel, sel ? 1 : 0};
  pyr_store_query q;
  span_ctx c = {0};
  if (env->store == NULL)
    return false;
  make_query(&q, type_id, &ss, start_ns, end_ns);
  if (pyr_store_series_foreach(env->store, tenant, &q, span_cb, &c) != 0 || !c.any)
    return false;
  *t_min = c.tmin;
  *t_max = c.tmax;
  return true;
}

void pyr_qe_profile_time(const pyr_query_env *env, const char *tenant, const char *type_id,
                         const pyr_selector *sel, int64_t start_ns, int64_t end_ns,
                         int64_t *time_ns, int64_t *duration_ns) {
  int64_t lo = 0, hi = 0;
  if ((start_ns == 0 || end_ns == 0) &&
      pyr_qe_span(env, tenant, type_id, sel, start_ns, end_ns, &lo, &hi)) {
    if (start_ns == 0)
      start_ns = lo;
    if (end_ns == 0)
      end_ns = hi + 10 * INT64_C(1000000000); /* the newest profile's from + an upload */
  }
  if (end_ns == 0)
    end_ns = pyr_qe_now(env);
  *time_ns = start_ns;
  *duration_ns = end_ns > start_ns ? end_ns - start_ns : 0;
}

/* ---- label APIs ------------------------------------------------------------------------ */

typedef struct lbl_ctx {
  strset set;
  const char *name;          /* label-values: which label */
  const char *const *proj;   /* series: projection */
  size_t nproj;
  char *buf;
  size_t cap;
} lbl_ctx;

static int names_cb(void *ctx, const pyr_store_series *s) {
  lbl_ctx *c = ctx;
  for (size_t i = 0; i < s->nlabels; i++)
    if (strset_add(&c->set, s->labels[i].name, strlen(s->labels[i].name)) < 0)
      return 1;
  return 0;
}

static int values_cb(void *ctx, const pyr_store_series *s) {
  lbl_ctx *c = ctx;
  const char *v = pyr_series_label(s->labels, s->nlabels, c->name);
  if (v && v[0] && strset_add(&c->set, v, strlen(v)) < 0)
    return 1;
  return 0;
}

static int types_cb(void *ctx, const pyr_store_series *s) {
  lbl_ctx *c = ctx;
  if (s->profile_type && s->profile_type[0] &&
      strset_add(&c->set, s->profile_type, strlen(s->profile_type)) < 0)
    return 1;
  return 0;
}

static bool projected(const lbl_ctx *c, const char *name) {
  if (c->nproj == 0)
    return true;
  for (size_t i = 0; i < c->nproj; i++)
    if (strcmp(c->proj[i], name) == 0)
      return true;
  return false;
}

static int series_cb(void *ctx, const pyr_store_series *s) {
  lbl_ctx *c = ctx;
  size_t need = 0;
  for (size_t i = 0; i < s->nlabels; i++)
    if (projected(c, s->labels[i].name))
      need += strlen(s->labels[i].name) + strlen(s->labels[i].value) + 2;
  if (need + 1 > c->cap) {
    char *nb = realloc(c->buf, need + 1);
    if (nb == NULL) {
      c->set.oom = true;
      return 1;
    }
    c->buf = nb;
    c->cap = need + 1;
  }
  size_t k = 0;
  for (size_t i = 0; i < s->nlabels; i++) { /* labels are sorted: key is canonical */
    if (!projected(c, s->labels[i].name))
      continue;
    size_t a = strlen(s->labels[i].name) + 1, b = strlen(s->labels[i].value) + 1;
    memcpy(c->buf + k, s->labels[i].name, a);
    k += a;
    memcpy(c->buf + k, s->labels[i].value, b);
    k += b;
  }
  if (k == 0)
    return 0; /* nothing left after projection */
  return strset_add(&c->set, c->buf, k) < 0 ? 1 : 0;
}

static int walk(const pyr_query_env *env, const char *tenant, const pyr_selector *sels,
                size_t nsels, int64_t start_ns, int64_t end_ns, pyr_store_series_cb cb,
                lbl_ctx *c, pyr_query_resp *resp, const char *what) {
  selset ss = {sels, nsels};
  pyr_store_query q;
  if (need_store(env, resp) != 0)
    return -1;
  make_query(&q, NULL, &ss, start_ns, end_ns);
  int r = pyr_store_series_foreach(env->store, tenant, &q, cb, c);
  if (c->set.oom)
    return pyr_qfail(resp, 500, "%s: out of memory", what);
  if (r != 0)
    return store_fail(resp, r, what);
  return 0;
}

int pyr_qe_label_names(const pyr_query_env *env, const char *tenant, const pyr_selector *sels,
                       size_t nsels, int64_t start_ns, int64_t end_ns, pyr_strlist *out,
                       pyr_query_resp *resp) {
  lbl_ctx c = {0};
  memset(out, 0, sizeof(*out));
  if (walk(env, tenant, sels, nsels, start_ns, end_ns, names_cb, &c, resp, "label names")) {
    strset_free(&c.set);
    return -1;
  }
  strset_to_list(&c.set, out);
  return 0;
}

int pyr_qe_label_values(const pyr_query_env *env, const char *tenant, const char *name,
                        const pyr_selector *sels, size_t nsels, int64_t start_ns,
                        int64_t end_ns, pyr_strlist *out, pyr_query_resp *resp) {
  lbl_ctx c = {.name = name};
  memset(out, 0, sizeof(*out));
  if (walk(env, tenant, sels, nsels, start_ns, end_ns, values_cb, &c, resp, "label values")) {
    strset_free(&c.set);
    return -1;
  }
  strset_to_list(&c.set, out);
  return 0;
}

int pyr_qe_profile_types(const pyr_query_env *env, const char *tenant, int64_t start_ns,
                         int64_t end_ns, pyr_strlist *out, pyr_query_resp *resp) {
  lbl_ctx c = {0};
  memset(out, 0, sizeof(*out));
  if (walk(env, tenant, NULL, 0, start_ns, end_ns, types_cb, &c, resp, "profile types")) {
    strset_free(&c.set);
    return -1;
  }
  strset_to_list(&c.set, out);
  return 0;
}

typedef struct ls_sort {
  char *v;
  size_t len;
} ls_sort;

static int cmp_ls(const void *a, const void *b) {
  const ls_sort *x = a, *y = b;
  int c = memcmp(x->v, y->v, x->len < y->len ? x->len : y->len);
  if (c)
    return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

int pyr_qe_series(const pyr_query_env *env, const char *tenant, const pyr_selector *sels,
                  size_t nsels, const char *const *names, size_t nnames, int64_t start_ns,
                  int64_t end_ns, pyr_qe_labelsets *out, pyr_query_resp *resp) {
  lbl_ctx c = {.proj = names, .nproj = nnames};
  memset(out, 0, sizeof(*out));
  int rc = walk(env, tenant, sels, nsels, start_ns, end_ns, series_cb, &c, resp, "series");
  free(c.buf);
  if (rc != 0) {
    strset_free(&c.set);
    return -1;
  }
  /* sort by content so answers are stable */
  ls_sort *tmp = malloc((c.set.n ? c.set.n : 1) * sizeof(*tmp));
  if (tmp == NULL) {
    strset_free(&c.set);
    return pyr_qfail(resp, 500, "series: out of memory");
  }
  for (size_t i = 0; i < c.set.n; i++)
    tmp[i] = (ls_sort){c.set.v[i], c.set.len[i]};
  if (c.set.n > 1)
    qsort(tmp, c.set.n, sizeof(*tmp), cmp_ls);
  for (size_t i = 0; i < c.set.n; i++) {
    c.set.v[i] = tmp[i].v;
    c.set.len[i] = tmp[i].len;
  }
  free(tmp);
  out->v = c.set.v;
  out->lens = c.set.len;
  out->n = c.set.n;
  free(c.set.slot);
  return 0;
}

void pyr_qe_labelsets_free(pyr_qe_labelsets *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  free(l->lens);
  memset(l, 0, sizeof(*l));
}

int pyr_qe_stats_get(const pyr_query_env *env, const char *tenant, pyr_qe_stats *out,
                     pyr_query_resp *resp) {
  span_ctx c = {0};
  memset(out, 0, sizeof(*out));
  if (need_store(env, resp) != 0)
    return -1;
  int r = pyr_store_series_foreach(env->store, tenant, NULL, span_cb, &c);
  if (r != 0)
    return store_fail(resp, r, "stats");
  out->ingested = c.any;
  out->oldest_ns = c.tmin;
  out->newest_ns = c.tmax;
  return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

int pyr_qe_check_range(int64_t start_ns, int64_t end_ns, pyr_query_resp *resp) {
  if (start_ns < 0 || end_ns < 0)
    return pyr_qfail(resp, 400, "invalid time range: negative time");
  if (start_ns > 0 && end_ns > 0 && start_ns > end_ns)
    return pyr_qfail(resp, 400,
                     "invalid time range: start (%lld ms) is after end (%lld ms)",
                     (long long)(start_ns / 1000000), (long long)(end_ns / 1000000));
  return 0;
}

int pyr_qe_max_nodes(int64_t v, uint32_t *out, pyr_query_resp *resp) {
  if (v < 0 || v > PYR_FG_MAX_MAX_NODES)
    return pyr_qfail(resp, 400, "max_nodes must be between 0 and %d, got %lld",
                     PYR_FG_MAX_MAX_NODES, (long long)v);
  *out = v == 0 ? PYR_FG_DEFAULT_MAX_NODES : (uint32_t)v;
  return 0;
}

int64_t pyr_qe_timeline_step(int64_t from_s, int64_t until_s) {
  static const struct {
    double upto;
    int64_t step;
  } tab[] = {{17.5, 15},       {25, 20},       {45, 30},         {90, 60},
             {210, 120},       {450, 300},     {750, 600},       {1050, 900},
             {1500, 1200},     {2700, 1800},   {5400, 3600},     {9000, 7200},
             {16200, 10800},   {32400, 21600}, {86400, 43200},   {604800, 86400},
             {1814400, 604800}};
  double r = (double)(until_s - from_s) / 1500.0;
  if (r < 15)
    return 15;
  for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
    if (r <= tab[i].upto)
      return tab[i].step;
  if (r < 3628800)
    return 2592000;
  return 31536000;
}

void pyr_qe_units(const char *sample_type, const char *sample_unit, const char **units,
                  int64_t *sample_rate) {
  if (strcmp(sample_type, "cpu") == 0) {
    *units = "samples";
    *sample_rate = 1000000000;
    return;
  }
  *sample_rate = 100;
  if (strcmp(sample_type, "inuse_objects") == 0 || strcmp(sample_type, "alloc_objects") == 0 ||
      strcmp(sample_type, "goroutine") == 0 || strcmp(sample_type, "samples") == 0) {
    *units = "objects";
    return;
  }
  *units = sample_unit;
}

const char *pyr_qarg(const pyr_query_req *req, const char *key) {
  for (size_t i = 0; i < req->nargs; i++)
    if (strcmp(req->args[i].key, key) == 0)
      return req->args[i].value ? req->args[i].value : "";
  return NULL;
}

int pyr_qe_time_arg(const pyr_query_env *env, const pyr_query_req *req, const char *key,
                    int64_t *ns, pyr_query_resp *resp) {
  const char *v = pyr_qarg(req, key);
  *ns = 0;
  if (v == NULL || v[0] == '\0')
    return 0;
  if (pyr_time_parse(v, pyr_qe_now(env), ns) != 0)
    return pyr_qfail(resp, 400, "%s: cannot parse time \"%.64s\"", key, v);
  if (*ns < 0)
    return pyr_qfail(resp, 400, "%s: time \"%.64s\" is before 1970", key, v);
  return 0;
}

int pyr_qe_gzip(const uint8_t *buf, size_t len, uint8_t **out, size_t *outlen) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  *out = NULL;
  *outlen = 0;
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  size_t cap = deflateBound(&zs, (uLong)len) + 32;
  uint8_t *o = malloc(cap);
  if (o == NULL) {
    deflateEnd(&zs);
    return -1;
  }
  zs.next_in = (Bytef *)(uintptr_t)buf;
  zs.avail_in = (uInt)len;
  zs.next_out = o;
  zs.avail_out = (uInt)cap;
  int r = deflate(&zs, Z_FINISH);
  size_t n = zs.total_out;
  deflateEnd(&zs);
  if (r != Z_STREAM_END) {
    free(o);
    return -1;
  }
  *out = o;
  *outlen = n;
  return 0;
}
