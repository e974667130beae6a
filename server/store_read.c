/*
 * store_read.c - the read side of the store: series listing, timelines
 * (per-profile totals), decoded profiles, the merge into a call tree, and
 * the full consistency check.
 *
 * What a read does: select series of ONE tenant from the in-memory catalog
 * (cat_lock, read), drop the lock, then on a pooled read connection run one
 * read transaction (a consistent WAL snapshot while the writer goes on)
 * over the profiles index (series, t_lo).  Blocks may start before the
 * query range, so t_lo is searched from start - max_span (every block lies
 * within one compaction window) and each profile inside a block is
 * filtered by its own timestamp.
 *
 * Merge: values are summed per stack node in a dense array per dictionary
 * generation (node ids are dense), then totals flow to parents in one
 * backwards pass (parent id < child id), and the touched nodes are mapped
 * into the output tree by (output parent, name[, line]).  Cost is linear
 * in pairs read plus the size of the dictionaries involved.
 *
 * Threads: any number of readers concurrently; each holds one pooled
 * connection at a time (st_rconn_get blocks when all are busy, which
 * bounds concurrent database reads to opts.readers).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ------------------------------------------------------------ selection */

static const char *label_get(const pyr_store_series *s, const char *name) {
  size_t lo = 0, hi = s->nlabels;
  while (lo < hi) { /* labels are sorted by name */
    size_t mid = (lo + hi) / 2;
    int c = strcmp(s->labels[mid].name, name);
    if (c == 0)
      return s->labels[mid].value;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static bool series_match(const st_series *se, const pyr_store_query *q) {
  const pyr_store_series *s = &se->pub;
  if (!s->nprofiles)
    return false; /* created by a batch still running, or emptied */
  if (!q)
    return true;
  if (q->profile_type && strcmp(s->profile_type, q->profile_type) != 0)
    return false;
  if (q->end_ns && s->t_min_ns > q->end_ns)
    return false;
  if (s->t_max_ns < q->start_ns)
    return false;
  for (size_t i = 0; i < q->nmatch; i++) {
    const char *v = label_get(s, q->match[i].name);
    /* Prometheus semantics: name="" matches a missing label. */
    if (strcmp(v ? v : "", q->match[i].value ? q->match[i].value : "") != 0)
      return false;
  }
  if (q->filter && !q->filter(q->filter_ctx, s))
    return false;
  return true;
}

int pyr_store_series_foreach(pyr_store *st, const char *tenant, const pyr_store_query *q,
                             pyr_store_series_cb cb, void *ctx) {
  if (!st || !tenant || !cb)
    return PYR_STORE_EINVAL;
  int rc = 0;
  pthread_rwlock_rdlock(&st->cat_lock);
  st_tenant *t = st_tenant_find(st, tenant);
  for (size_t i = 0; t && i < t->nseries && rc == 0; i++)
    if (series_match(t->series[i], q))
      rc = cb(ctx, &t->series[i]->pub);
  pthread_rwlock_unlock(&st->cat_lock);
  return rc;
}

typedef struct idlist {
  uint64_t *id;
  size_t n;
} idlist;

static int select_ids(pyr_store *st, const char *tenant, const pyr_store_query *q,
                      idlist *out) {
  out->id = NULL;
  out->n = 0;
  int rc = 0;
  pthread_rwlock_rdlock(&st->cat_lock);
  st_tenant *t = st_tenant_find(st, tenant);
  if (t && t->nseries) {
    out->id = malloc(t->nseries * sizeof(*out->id));
    if (!out->id)
      rc = PYR_STORE_ENOMEM;
    for (size_t i = 0; out->id && i < t->nseries; i++)
      if (series_match(t->series[i], q))
        out->id[out->n++] = t->series[i]->pub.id;
  }
  pthread_rwlock_unlock(&st->cat_lock);
  return rc;
}

/* -------------------------------------------------------------- scanning */

typedef int (*row_fn)(void *ctx, st_rconn *c, uint64_t series, uint64_t dict,
                      const uint8_t *blob, size_t len);

/* Calls fn for every row of the selected series that may hold profiles in
 * [start, end], in one read transaction. */
static int scan_rows(pyr_store *st, const char *tenant, const pyr_store_query *q, row_fn fn,
                     void *ctx) {
  idlist ids;
  int rc = select_ids(st, tenant, q, &ids);
  if (rc != 0 || !ids.n) {
    free(ids.id);
    return rc;
  }
  int64_t start = q ? q->start_ns : 0, end = q && q->end_ns ? q->end_ns : INT64_MAX;
  int64_t lo = start < INT64_MIN + st->max_span ? INT64_MIN : start - st->max_span;
  st_rconn *c = st_rconn_get(st);
  if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
    rc = PYR_STORE_EIO;
    goto out;
  }
  for (size_t i = 0; i < ids.n && rc == 0; i++) {
    sqlite3_stmt *s = c->rows;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)ids.id[i]);
    sqlite3_bind_int64(s, 2, lo);
    sqlite3_bind_int64(s, 3, end);
    sqlite3_bind_int64(s, 4, start);
    int r = SQLITE_DONE;
    int64_t t_lo = 0;
    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
      const uint8_t *b = sqlite3_column_blob(s, 3);
      size_t n = (size_t)sqlite3_column_bytes(s, 3);
      t_lo = sqlite3_column_int64(s, 1);
      rc = fn(ctx, c, ids.id[i], (uint64_t)sqlite3_column_int64(s, 0), b, n);
    }
    if (rc == 0 && r != SQLITE_DONE) {
      /* SQLite's own damage reports (a b-tree page that does not parse)
       * are corruption too, not a transient I/O error. */
      int x = sqlite3_extended_errcode(c->db) & 0xff;
      rc = x == SQLITE_CORRUPT || x == SQLITE_NOTADB ? PYR_STORE_ECORRUPT : PYR_STORE_EIO;
    }
    if (rc == PYR_STORE_ECORRUPT) {
      /* Refuse the damaged part and say where it is; the caller answers
       * with an error instead of partial data.  Logged for the operator
       * (rate: once per failing read). */
      atomic_fetch_add_explicit(&st->s_corrupt_reads, 1, memory_order_relaxed);
      fprintf(stderr,
              "pyrited: storage: damaged data in '%s' (series %llu, block at t=%lld): %s;"
              " the read was refused. Stop pyrited and run PRAGMA integrity_check on a copy\n",
              st->path, (unsigned long long)ids.id[i], (long long)t_lo,
              r == SQLITE_ROW ? "block does not decode" : sqlite3_errmsg(c->db));
    }
    sqlite3_reset(s);
  }
  sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
out:
  st_rconn_put(st, c);
  free(ids.id);
  return rc;
}

static bool in_range(const pyr_store_query *q, int64_t from) {
  if (!q)
    return true;
  return from >= q->start_ns && (!q->end_ns || from <= q->end_ns);
}

/* ---------------------------------------------------------------- points */

typedef struct points_ctx {
  const pyr_store_query *q;
  pyr_store_point_cb cb;
  void *ctx;
} points_ctx;

static int points_row(void *ctx, st_rconn *c, uint64_t series, uint64_t dict,
                      const uint8_t *blob, size_t len) {
  points_ctx *p = ctx;
  (void)dict;
  if (st_block_decode_headers(&c->blk, blob, len) != 0)
    return PYR_STORE_ECORRUPT;
  for (uint32_t i = 0; i < c->blk.k; i++) {
    const st_phdr *h = &c->blk.hdr[i];
    if (!in_range(p->q, h->from))
      continue;
    int r = p->cb(p->ctx, series, h->from, h->until, h->total);
    if (r)
      return r;
  }
  return 0;
}

int pyr_store_points_foreach(pyr_store *st, const char *tenant, const pyr_store_query *q,
                             pyr_store_point_cb cb, void *ctx) {
  if (!st || !tenant || !cb)
    return PYR_STORE_EINVAL;
  points_ctx p = {q, cb, ctx};
  return scan_rows(st, tenant, q, points_row, &p);
}

/* -------------------------------------------------------------- profiles */

typedef struct prof_ctx {
  pyr_store *st;
  const pyr_store_query *q;
  pyr_store_profile_cb cb;
  void *ctx;
  pyr_store_dict *d; /* last dictionary used, kept acquired */
} prof_ctx;

static int get_dict(pyr_store *st, pyr_store_dict **cur, uint64_t id) {
  if (*cur && (*cur)->id == id)
    return 0;
  if (*cur)
    st_dict_release(st, *cur);
  *cur = NULL;
  return st_dict_acquire(st, id, cur);
}

static int prof_row(void *ctx, st_rconn *c, uint64_t series, uint64_t dict,
                    const uint8_t *blob, size_t len) {
  prof_ctx *p = ctx;
  int rc = get_dict(p->st, &p->d, dict);
  if (rc != 0)
    return rc;
  if (st_block_decode(&c->blk, blob, len, c->dctx) != 0)
    return PYR_STORE_ECORRUPT;
  size_t off = 0;
  for (uint32_t i = 0; i < c->blk.k; i++) {
    const st_phdr *h = &c->blk.hdr[i];
    if (in_range(p->q, h->from)) {
      pyr_store_profile pr = {.series = series,
                              .from_ns = h->from,
                              .until_ns = h->until,
                              .total = h->total,
                              .n = h->n,
                              .stacks = c->blk.ids + off,
                              .values = c->blk.vals + off,
                              .dict = p->d};
      int r = p->cb(p->ctx, &pr);
      if (r)
        return r;
    }
    off += h->n;
  }
  return 0;
}

int pyr_store_profiles_foreach(pyr_store *st, const char *tenant, const pyr_store_query *q,
                               pyr_store_profile_cb cb, void *ctx) {
  if (!st || !tenant || !cb)
    return PYR_STORE_EINVAL;
  prof_ctx p = {st, q, cb, ctx, NULL};
  int rc = scan_rows(st, tenant, q, prof_row, &p);
  if (p.d)
    st_dict_release(st, p.d);
  return rc;
}

size_t pyr_store_dict_stack(const pyr_store_dict *d, uint32_t stack, pyr_store_frame *frames,
                            size_t max) {
  uint32_t n = st_dict_nnodes(d);
  if (!stack || stack >= n)
    return 0;
  size_t depth = 0;
  for (uint32_t id = stack; id; id = st_dict_node(d, id)->parent)
    depth++;
  size_t i = depth;
  for (uint32_t id = stack; id; id = st_dict_node(d, id)->parent) {
    i--;
    if (i < max) {
      const st_dloc *l = st_dict_loc(d, st_dict_node(d, id)->loc);
      const st_dname *nm = st_dict_name(d, l->name);
      frames[i] = (pyr_store_frame){nm->s, nm->len, l->line};
    }
  }
  return depth;
}

/* ------------------------------------------------------------------ merge */

typedef struct macc {
  pyr_store_dict *d;
  int64_t *v;
  uint32_t n;
} macc;

typedef struct merge_ctx {
  pyr_store *st;
  const pyr_store_query *q;
  macc *acc;
  size_t nacc, cap;
  uint64_t nprofiles;
  int rc;
} merge_ctx;

static macc *acc_for(merge_ctx *m, uint64_t dict) {
  for (size_t i = 0; i < m->nacc; i++)
    if (m->acc[i].d->id == dict)
      return &m->acc[i];
  if (m->nacc == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 4;
    macc *a = realloc(m->acc, cap * sizeof(*a));
    if (!a)
      return NULL;
    m->acc = a;
    m->cap = cap;
  }
  macc *a = &m->acc[m->nacc];
  memset(a, 0, sizeof(*a));
  if (st_dict_acquire(m->st, dict, &a->d) != 0)
    return NULL;
  a->n = st_dict_nnodes(a->d);
  a->v = calloc(a->n ? a->n : 1, sizeof(*a->v));
  if (!a->v) {
    st_dict_release(m->st, a->d);
    return NULL;
  }
  m->nacc++;
  return a;
}

/* Grows an accumulator when the dictionary grew since it was sized. */
static int acc_grow(macc *a, uint32_t id) {
  uint32_t n = st_dict_nnodes(a->d);
  if (id >= n)
    return -1; /* not in the dictionary: damaged row */
  int64_t *v = realloc(a->v, (size_t)n * sizeof(*v));
  if (!v)
    return -1;
  memset(v + a->n, 0, (size_t)(n - a->n) * sizeof(*v));
  a->v = v;
  a->n = n;
  return 0;
}

static int acc_ensure(void *ctx, uint32_t max_id, int64_t **acc) {
  macc *a = ctx;
  if (max_id >= a->n && acc_grow(a, max_id) != 0)
    return -1;
  *acc = a->v;
  return 0;
}

static int merge_row(void *ctx, st_rconn *c, uint64_t series, uint64_t dict,
                     const uint8_t *blob, size_t len) {
  merge_ctx *m = ctx;
  (void)series;
  macc *a = acc_for(m, dict);
  if (!a)
    return PYR_STORE_EIO;
  int64_t start = m->q ? m->q->start_ns : INT64_MIN;
  int64_t end = m->q && m->q->end_ns ? m->q->end_ns : INT64_MAX;
  if (st_block_accumulate(&c->blk, blob, len, c->dctx, start, end, acc_ensure, a,
                          &m->nprofiles) != 0)
    return PYR_STORE_ECORRUPT;
  return 0;
}

/* Output tree under construction. */
typedef struct tbuild {
  pyr_store_tree *t;
  size_t ncap;
  st_buf names;     /* bytes */
  size_t *off;      /* name offsets */
  size_t offcap;
  st_hmap name_map; /* content hash -> name index + 1 */
  uint64_t *slot;   /* node map: open addressing of node index + 1 */
  size_t smask, sn;
  st_hkey hk;
} tbuild;

static uint64_t node_key_hash(uint32_t parent, uint32_t name, int64_t line) {
  return st_fmix(((uint64_t)parent << 32 | name) * 0x9e3779b97f4a7c15ull ^
                 st_fmix((uint64_t)line + 0x632be59bd9b4e019ull));
}

static int tb_name(tbuild *b, const char *s, size_t len, uint32_t *out) {
  st_h128 h = st_hash128(&b->hk, s, len);
  uint32_t v = st_hmap_get(&b->name_map, h);
  if (v) {
    *out = v - 1;
    return 0;
  }
  pyr_store_tree *t = b->t;
  if (t->nnames + 2 > b->offcap) {
    size_t cap = b->offcap ? b->offcap * 2 : 1024;
    size_t *o = realloc(b->off, cap * sizeof(*o));
    if (!o)
      return -1;
    b->off = o;
    b->offcap = cap;
  }
  if (st_buf_reserve(&b->names, len + 1) != 0)
    return -1;
  b->off[t->nnames] = b->names.n;
  memcpy(b->names.p + b->names.n, s, len);
  b->names.n += len;
  b->names.p[b->names.n++] = '\0';
  b->off[t->nnames + 1] = b->names.n;
  *out = (uint32_t)t->nnames++;
  return st_hmap_put(&b->name_map, h, *out + 1);
}

static int tb_grow_slots(tbuild *b) {
  size_t cap = b->slot ? (b->smask + 1) * 2 : 4096;
  uint64_t *ns = calloc(cap, sizeof(*ns));
  if (!ns)
    return -1;
  for (size_t i = 0; b->slot && i <= b->smask; i++) {
    if (!b->slot[i])
      continue;
    const pyr_store_tree_node *x = &b->t->nodes[b->slot[i] - 1];
    size_t j = node_key_hash(x->parent, x->name, x->line) & (cap - 1);
    while (ns[j])
      j = (j + 1) & (cap - 1);
    ns[j] = b->slot[i];
  }
  free(b->slot);
  b->slot = ns;
  b->smask = cap - 1;
  return 0;
}

static int tb_node(tbuild *b, uint32_t parent, uint32_t name, int64_t line, uint32_t *out) {
  if ((!b->slot || (b->sn + 1) * 2 > b->smask + 1) && tb_grow_slots(b) != 0)
    return -1;
  pyr_store_tree *t = b->t;
  size_t i = node_key_hash(parent, name, line) & b->smask;
  for (; b->slot[i]; i = (i + 1) & b->smask) {
    const pyr_store_tree_node *x = &t->nodes[b->slot[i] - 1];
    if (x->parent == parent && x->name == name && x->line == line) {
      *out = (uint32_t)(b->slot[i] - 1);
      return 0;
    }
  }
  if (t->nnodes == b->ncap) {
    size_t cap = b->ncap * 2;
    pyr_store_tree_node *n = realloc(t->nodes, cap * sizeof(*n));
    if (!n)
      return -1;
    t->nodes = n;
    b->ncap = cap;
  }
  if (t->nnodes >= UINT32_MAX)
    return -1;
  t->nodes[t->nnodes] = (pyr_store_tree_node){.parent = parent, .name = name, .line = line};
  b->slot[i] = t->nnodes + 1;
  b->sn++;
  *out = (uint32_t)t->nnodes++;
  return 0;
}

/* Adds one dictionary's accumulated values to the tree. */
static int tb_add(tbuild *b, macc *a, unsigned flags) {
  pyr_store_dict *d = a->d;
  uint32_t n = a->n;
  int rc = -1;
  int64_t *tot = malloc((size_t)n * sizeof(*tot));
  uint8_t *touched = calloc(n, 1);
  uint32_t *out = malloc((size_t)n * sizeof(*out));
  uint32_t nn = atomic_load_explicit(&d->nnames, memory_order_acquire);
  uint32_t *nmap = calloc(nn ? nn : 1, sizeof(*nmap)); /* dict name -> tree name + 1 */
  if (!tot || !touched || !out || !nmap)
    goto out;
  memcpy(tot, a->v, (size_t)n * sizeof(*tot));
  for (uint32_t id = 0; id < n; id++)
    touched[id] = a->v[id] != 0;
  for (uint32_t id = n; id-- > 1;) {
    if (!touched[id])
      continue;
    uint32_t p = st_dict_node(d, id)->parent;
    tot[p] += tot[id];
    touched[p] = 1;
  }
  pyr_store_tree_node *root = &b->t->nodes[0];
  root->self += a->v[0];
  root->total += tot[0];
  out[0] = 0;
  for (uint32_t id = 1; id < n; id++) {
    if (!touched[id])
      continue;
    const st_dnode *dn = st_dict_node(d, id);
    const st_dloc *dl = st_dict_loc(d, dn->loc);
    uint32_t name;
    if (dl->name < nn && nmap[dl->name]) {
      name = nmap[dl->name] - 1;
    } else {
      const st_dname *e = st_dict_name(d, dl->name);
      if (tb_name(b, e->s, e->len, &name) != 0)
        goto out;
      if (dl->name < nn)
        nmap[dl->name] = name + 1;
    }
    uint32_t o;
    if (tb_node(b, out[dn->parent], name, (flags & PYR_STORE_MERGE_LINES) ? dl->line : 0,
                &o) != 0)
      goto out;
    b->t->nodes[o].self += a->v[id];
    b->t->nodes[o].total += tot[id];
    out[id] = o;
  }
  rc = 0;
out:
  free(tot);
  free(touched);
  free(out);
  free(nmap);
  return rc;
}

static int child_cmp(const void *x, const void *y, void *arg) {
  const pyr_store_tree *t = arg;
  const pyr_store_tree_node *a = &t->nodes[*(const uint32_t *)x];
  const pyr_store_tree_node *b = &t->nodes[*(const uint32_t *)y];
  if (a->name != b->name) {
    size_t la, lb;
    const char *sa = pyr_store_tree_name(t, a->name, &la);
    const char *sb = pyr_store_tree_name(t, b->name, &lb);
    int c = memcmp(sa, sb, la < lb ? la : lb);
    if (c)
      return c;
    if (la != lb)
      return la < lb ? -1 : 1;
  }
  return a->line < b->line ? -1 : a->line > b->line;
}

/* Links children in name order (counting sort by parent, then sort runs). */
static int tb_link(pyr_store_tree *t) {
  size_t n = t->nnodes;
  uint32_t *start = calloc(n + 1, sizeof(*start));
  uint32_t *kids = malloc((n ? n : 1) * sizeof(*kids));
  if (!start || !kids) {
    free(start);
    free(kids);
    return -1;
  }
  for (size_t i = 1; i < n; i++)
    start[t->nodes[i].parent + 1]++;
  for (size_t i = 0; i < n; i++)
    start[i + 1] += start[i];
  uint32_t *fill = malloc((n ? n : 1) * sizeof(*fill));
  if (!fill) {
    free(start);
    free(kids);
    return -1;
  }
  memcpy(fill, start, (n ? n : 1) * sizeof(*fill));
  for (size_t i = 1; i < n; i++)
    kids[fill[t->nodes[i].parent]++] = (uint32_t)i;
  free(fill);
  for (size_t p = 0; p < n; p++) {
    uint32_t a = start[p], z = start[p + 1];
    if (z - a > 1)
      qsort_r(kids + a, z - a, sizeof(*kids), child_cmp, t);
    t->nodes[p].first_child = z > a ? kids[a] : 0;
    for (uint32_t i = a; i < z; i++)
      t->nodes[kids[i]].next_sibling = i + 1 < z ? kids[i + 1] : 0;
  }
  free(start);
  free(kids);
  return 0;
}

int pyr_store_merge(pyr_store *st, const char *tenant, const pyr_store_query *q,
                    unsigned flags, pyr_store_tree **out, char *err, size_t errlen) {
  if (!st || !tenant || !out) {
    st_seterr(err, errlen, "invalid arguments");
    return PYR_STORE_EINVAL;
  }
  *out = NULL;
  merge_ctx m = {.st = st, .q = q};
  tbuild b = {.hk = st->hk};
  int rc = scan_rows(st, tenant, q, merge_row, &m);
  if (rc != 0) {
    st_seterr(err, errlen, "merge: %s",
              rc == PYR_STORE_ECORRUPT
                  ? "storage corrupt: a stored profile block in the selection does not decode;"
                    " the query was refused rather than answered without it (details in the"
                    " server log)"
                  : pyr_store_strerror(rc));
    goto out;
  }
  rc = PYR_STORE_ENOMEM;
  b.t = calloc(1, sizeof(*b.t));
  if (!b.t)
    goto out;
  b.ncap = 1024;
  b.t->nodes = malloc(b.ncap * sizeof(*b.t->nodes));
  if (!b.t->nodes)
    goto out;
  b.t->nodes[0] = (pyr_store_tree_node){0};
  b.t->nnodes = 1;
  uint32_t root_name;
  if (tb_name(&b, "total", 5, &root_name) != 0)
    goto out;
  for (size_t i = 0; i < m.nacc; i++)
    if (tb_add(&b, &m.acc[i], flags) != 0)
      goto out;
  b.t->name_bytes = (char *)b.names.p;
  b.t->name_off = b.off;
  b.names.p = NULL;
  b.off = NULL;
  if (tb_link(b.t) != 0)
    goto out;
  b.t->total = b.t->nodes[0].total;
  b.t->nprofiles = m.nprofiles;
  *out = b.t;
  b.t = NULL;
  rc = 0;
out:
  if (rc != 0 && rc != PYR_STORE_ENOMEM)
    ; /* message already set */
  else if (rc == PYR_STORE_ENOMEM)
    st_seterr(err, errlen, "merge: out of memory");
  for (size_t i = 0; i < m.nacc; i++) {
    free(m.acc[i].v);
    st_dict_release(st, m.acc[i].d);
  }
  free(m.acc);
  if (b.t) {
    if (!b.t->name_bytes) {
      b.t->name_bytes = (char *)b.names.p;
      b.t->name_off = b.off;
      b.names.p = NULL;
      b.off = NULL;
    }
    pyr_store_tree_free(b.t);
  }
  st_buf_free(&b.names);
  free(b.off);
  free(b.slot);
  st_hmap_free(&b.name_map);
  return rc;
}

const char *pyr_store_tree_name(const pyr_store_tree *t, uint32_t name, size_t *len) {
  if (name >= t->nnames) {
    if (len)
      *len = 0;
    return "";
  }
  if (len)
    *len = t->name_off[name + 1] - t->name_off[name] - 1;
  return t->name_bytes + t->name_off[name];
}

void pyr_store_tree_free(pyr_store_tree *t) {
  if (!t)
    return;
  free(t->nodes);
  free(t->name_bytes);
  free(t->name_off);
  free(t);
}

/* ------------------------------------------------------------------ check */

typedef struct dcount {
  uint64_t id;
  uint32_t nodes;
  int64_t want, got; /* profiles: dicts.nprofiles vs counted */
} dcount;

int pyr_store_check(pyr_store *st, char *err, size_t errlen) {
  st_rconn *c = st_rconn_get(st);
  sqlite3_stmt *q = NULL;
  dcount *dc = NULL;
  size_t ndc = 0;
  st_block blk = {0};
  int rc = PYR_STORE_ECORRUPT;
  if (err && errlen)
    err[0] = '\0';
  if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    goto io;
  if (sqlite3_prepare_v2(c->db, "PRAGMA integrity_check", -1, &q, NULL) != SQLITE_OK)
    goto io;
  if (sqlite3_step(q) != SQLITE_ROW)
    goto io;
  const char *res = (const char *)sqlite3_column_text(q, 0);
  if (!res || strcmp(res, "ok") != 0) {
    st_seterr(err, errlen, "integrity_check: %.200s", res ? res : "(null)");
    goto out;
  }
  sqlite3_finalize(q);
  q = NULL;
  /* Dictionaries: replay every chunk into a scratch instance. */
  if (sqlite3_prepare_v2(c->db,
                         "SELECT d.id, d.nprofiles, d.nnodes, d.nlocs, d.nnames,"
                         " (SELECT count(*) FROM dict_chunks WHERE dict=d.id) FROM dicts d"
                         " ORDER BY d.id",
                         -1, &q, NULL) != SQLITE_OK)
    goto io;
  int r;
  while ((r = sqlite3_step(q)) == SQLITE_ROW) {
    dcount *n = realloc(dc, (ndc + 1) * sizeof(*dc));
    if (!n) {
      rc = PYR_STORE_ENOMEM;
      goto out;
    }
    dc = n;
    dcount *x = &dc[ndc++];
    x->id = (uint64_t)sqlite3_column_int64(q, 0);
    x->want = sqlite3_column_int64(q, 1);
    x->got = 0;
    int64_t wn = sqlite3_column_int64(q, 2), wl = sqlite3_column_int64(q, 3),
            ws = sqlite3_column_int64(q, 4);
    pyr_store_dict *d = st_dict_new_detached(x->id);
    if (!d) {
      rc = PYR_STORE_ENOMEM;
      goto out;
    }
    sqlite3_stmt *cq;
    if (sqlite3_prepare_v2(c->db, "SELECT blob FROM dict_chunks WHERE dict=?1 ORDER BY id", -1,
                           &cq, NULL) != SQLITE_OK) {
      st_dict_free(d);
      goto io;
    }
    sqlite3_bind_int64(cq, 1, (sqlite3_int64)x->id);
    bool bad = false;
    while (!bad && sqlite3_step(cq) == SQLITE_ROW)
      bad = st_dict_apply_chunk(st, d, sqlite3_column_blob(cq, 0),
                                (size_t)sqlite3_column_bytes(cq, 0), c->dctx) != 0;
    sqlite3_finalize(cq);
    x->nodes = st_dict_nnodes(d);
    uint32_t nl = atomic_load(&d->nlocs), ns = atomic_load(&d->nnames);
    st_dict_free(d);
    if (bad) {
      st_seterr(err, errlen, "dictionary %" PRIu64 ": a chunk does not decode", x->id);
      goto out;
    }
    if ((int64_t)x->nodes - 1 != wn || (int64_t)nl - 1 != wl || (int64_t)ns - 1 != ws) {
      st_seterr(err, errlen,
                "dictionary %" PRIu64 ": counts %u/%u/%u differ from the table's"
                " %lld/%lld/%lld",
                x->id, x->nodes - 1, nl - 1, ns - 1, (long long)wn, (long long)wl,
                (long long)ws);
      goto out;
    }
  }
  if (r != SQLITE_DONE)
    goto io;
  sqlite3_finalize(q);
  q = NULL;
  /* Profiles: every block decodes; ids inside their dictionary; counts. */
  if (sqlite3_prepare_v2(c->db,
                         "SELECT p.id, p.series, p.dict, p.k, p.t_lo, p.t_hi, p.blob,"
                         " (SELECT count(*) FROM series s WHERE s.id = p.series)"
                         " FROM profiles p ORDER BY p.series",
                         -1, &q, NULL) != SQLITE_OK)
    goto io;
  while ((r = sqlite3_step(q)) == SQLITE_ROW) {
    long long id = sqlite3_column_int64(q, 0);
    uint64_t dict = (uint64_t)sqlite3_column_int64(q, 2);
    int64_t k = sqlite3_column_int64(q, 3);
    dcount *x = NULL;
    for (size_t lo = 0, hi = ndc; lo < hi;) { /* dc sorted by id */
      size_t mid = (lo + hi) / 2;
      if (dc[mid].id == dict) {
        x = &dc[mid];
        break;
      }
      if (dc[mid].id < dict)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (!x || sqlite3_column_int64(q, 7) != 1) {
      st_seterr(err, errlen, "profile row %lld: unknown %s", id, x ? "series" : "dictionary");
      goto out;
    }
    if (st_block_decode(&blk, sqlite3_column_blob(q, 6), (size_t)sqlite3_column_bytes(q, 6),
                        c->dctx) != 0 ||
        blk.k != (uint64_t)k) {
      st_seterr(err, errlen, "profile row %lld does not decode", id);
      goto out;
    }
    int64_t lo = sqlite3_column_int64(q, 4), hi = sqlite3_column_int64(q, 5);
    size_t off = 0;
    for (uint32_t i = 0; i < blk.k; i++) {
      const st_phdr *h = &blk.hdr[i];
      uint64_t sum = 0;
      for (uint32_t j = 0; j < h->n; j++) {
        if (blk.ids[off + j] >= x->nodes || (j && blk.ids[off + j] <= blk.ids[off + j - 1])) {
          st_seterr(err, errlen, "profile row %lld: stack id %u outside its dictionary", id,
                    blk.ids[off + j]);
          goto out;
        }
        sum += (uint64_t)blk.vals[off + j];
      }
      if ((int64_t)sum != h->total || h->from < lo || h->from > hi) {
        st_seterr(err, errlen, "profile row %lld: header does not match its data", id);
        goto out;
      }
      off += h->n;
    }
    x->got += k;
  }
  if (r != SQLITE_DONE)
    goto io;
  sqlite3_finalize(q);
  q = NULL;
  for (size_t i = 0; i < ndc; i++) {
    if (dc[i].got != dc[i].want) {
      st_seterr(err, errlen, "dictionary %" PRIu64 ": %lld profiles, table says %lld", dc[i].id,
                (long long)dc[i].got, (long long)dc[i].want);
      goto out;
    }
  }
  if (sqlite3_prepare_v2(c->db,
                         "SELECT s.id, s.nprofiles, (SELECT total(k) FROM profiles p WHERE"
                         " p.series = s.id) FROM series s",
                         -1, &q, NULL) != SQLITE_OK)
    goto io;
  while ((r = sqlite3_step(q)) == SQLITE_ROW) {
    int64_t want = sqlite3_column_int64(q, 1), got = (int64_t)sqlite3_column_double(q, 2);
    if (want != got) {
      st_seterr(err, errlen, "series %lld: %lld profiles, table says %lld",
                (long long)sqlite3_column_int64(q, 0), (long long)got, (long long)want);
      goto out;
    }
  }
  if (r != SQLITE_DONE)
    goto io;
  rc = PYR_STORE_OK;
  goto out;
io:
  rc = PYR_STORE_EIO;
  st_seterr(err, errlen, "check: %s", sqlite3_errmsg(c->db));
out:
  sqlite3_finalize(q);
  sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
  st_rconn_put(st, c);
  st_block_free(&blk);
  free(dc);
  return rc;
}
