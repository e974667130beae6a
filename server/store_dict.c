/*
 * store_dict.c - stack dictionaries: interning, persistence, cache.
 *
 * What: a dictionary generation holds, for one (tenant, service_name), the
 * function names, frames (name, line) and call-tree nodes (parent, frame)
 * of every stack stored in it.  A stored profile is then just pairs of
 * (node id, value).  Nodes form a tree rooted at the implicit node 0, so a
 * prefix shared by many stacks is stored once and a merge sums values per
 * node and propagates totals to parents in one pass (store_read.c).
 *
 * Identity: names, frames and nodes are found by keyed content hashes
 * (store_util.c): a node's hash chains its parent's hash with its frame's
 * hash, so a whole stack is looked up with one probe and the caller can
 * compute it without touching the dictionary.  Equal hashes are taken as
 * equal content (no byte comparison): the maps keep 96 bits and the keys
 * are secret per process, so the chance of any false match among the 2^24
 * entries a generation may hold is ~2^-49.  The maps are only needed to
 * write; a dictionary loaded for reading has none (st_dict_maps builds
 * them from the arrays when the writer needs them), which keeps old,
 * read-only generations at ~8-16 bytes per entry.
 *
 * Persistence: the writer appends entries in memory during a batch and, at
 * the end of the batch, writes everything new as one "chunk" row
 * (dict_chunks) in the same transaction as the profiles that use it.
 * Loading replays the chunks in order.  Chunk format:
 *   u8 compression (0 raw, 1 zstd), [uvarint raw length], then raw:
 *   uvarint base_names, base_locs, base_nodes (first ids; checked)
 *   uvarint count_names, count_locs, count_nodes
 *   names: uvarint len, bytes; locs: uvarint name, zigzag line;
 *   nodes: uvarint (id - parent), uvarint loc
 *
 * Threads and the cache: dictionaries are shared, refcounted objects in a
 * cache bounded by opts.cache_bytes (cache.mu).  Only the writer thread
 * appends; readers index the segmented arrays lock-free (store_int.h).
 * A dictionary is loaded by whoever needs it first, on the dedicated
 * loader connection, in a fresh read transaction; others wait (cache.cv).
 * Invariant that makes a fresh load complete: the writer only adds chunks
 * to a dictionary it holds a reference on, and holds it until the batch's
 * commit (or drops the instance from the cache when the commit fails), so
 * a dictionary that is not in the cache has no uncommitted entries.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define CHUNK_VERSION_RAW 0
#define CHUNK_VERSION_ZSTD 1
#define ARENA_BLOCK (64u << 10)
#define CHUNK_MAX_RAW ((size_t)1 << 30)

/* ------------------------------------------------------- profile memo */

int st_pmemo_frame_slow(const st_hkey *hk, st_pmemo *m, uint32_t loc, st_h128 *out) {
  if (loc >= m->loc_cap) {
    size_t cap = m->loc_cap ? m->loc_cap : 256;
    while (cap <= loc)
      cap *= 2;
    st_h128 *n = realloc(m->loc_h, cap * sizeof(*n));
    if (!n)
      return -1;
    memset(n + m->loc_cap, 0, (cap - m->loc_cap) * sizeof(*n));
    m->loc_h = n;
    m->loc_cap = cap;
  }
  st_h128 *h = &m->loc_h[loc];
  if (h->a | h->b) {
    *out = *h;
    return 0;
  }
  uint32_t name;
  int64_t line;
  pyr_prof_loc(m->prof, loc, &name, &line);
  if (name >= m->str_cap) {
    size_t cap = m->str_cap ? m->str_cap : 256;
    while (cap <= name)
      cap *= 2;
    st_h128 *n = realloc(m->str_h, cap * sizeof(*n));
    if (!n)
      return -1;
    m->str_h = n;
    uint8_t *ok = realloc(m->str_ok, cap);
    if (!ok)
      return -1;
    memset(ok + m->str_cap, 0, cap - m->str_cap);
    m->str_ok = ok;
    m->str_cap = cap;
  }
  if (!m->str_ok[name]) {
    size_t len = 0;
    const char *s = pyr_prof_str(m->prof, name, &len);
    m->str_h[name] = st_hash128(hk, s ? s : "", s ? len : 0);
    m->str_ok[name] = 1;
  }
  *h = st_frame_hash(m->str_h[name], line);
  if (!(h->a | h->b))
    h->a = 1; /* keep (0,0) as "not computed" */
  *out = *h;
  return 0;
}

void st_pmemo_free(st_pmemo *m) {
  free(m->sample_h);
  free(m->loc_h);
  free(m->str_h);
  free(m->str_ok);
  memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------- arrays */

/* Makes room for entry `id` of a segmented array; 0 or -1. */
static int seg_room(pyr_store_dict *d, void **segs, size_t esz, uint32_t id) {
  if (id >= ST_DICT_HARD_MAX)
    return -1;
  uint32_t off;
  unsigned s = st_dseg(id, &off);
  if (!segs[s]) {
    size_t n = (size_t)ST_DSEG_BASE << s;
    segs[s] = calloc(n, esz);
    if (!segs[s])
      return -1;
    atomic_fetch_add_explicit(&d->mem, n * esz, memory_order_relaxed);
  }
  return 0;
}

static int arena_copy(pyr_store_dict *d, const char *s, size_t len, const char **out) {
  st_arena *a = d->arena;
  if (!a || a->cap - a->used < len + 1) {
    size_t cap = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
    st_arena *n = malloc(sizeof(*n) + cap);
    if (!n)
      return -1;
    n->next = a;
    n->used = 0;
    n->cap = cap;
    d->arena = a = n;
    atomic_fetch_add_explicit(&d->mem, sizeof(*n) + cap, memory_order_relaxed);
  }
  char *p = a->data + a->used;
  if (len)
    memcpy(p, s, len);
  p[len] = '\0';
  a->used += len + 1;
  *out = p;
  return 0;
}

static int add_name(pyr_store_dict *d, const char *s, size_t len, uint32_t *id) {
  uint32_t n = atomic_load_explicit(&d->nnames, memory_order_relaxed);
  if (len > UINT32_MAX || seg_room(d, (void **)d->names, sizeof(st_dname), n) != 0)
    return -1;
  uint32_t off;
  unsigned seg = st_dseg(n, &off);
  st_dname *e = &d->names[seg][off];
  if (arena_copy(d, s, len, &e->s) != 0)
    return -1;
  e->len = (uint32_t)len;
  atomic_store_explicit(&d->nnames, n + 1, memory_order_release);
  *id = n;
  return 0;
}

static int add_loc(pyr_store_dict *d, uint32_t name, int64_t line, uint32_t *id) {
  uint32_t n = atomic_load_explicit(&d->nlocs, memory_order_relaxed);
  if (seg_room(d, (void **)d->locs, sizeof(st_dloc), n) != 0)
    return -1;
  uint32_t off;
  unsigned seg = st_dseg(n, &off);
  d->locs[seg][off] = (st_dloc){.name = name, .line = line};
  atomic_store_explicit(&d->nlocs, n + 1, memory_order_release);
  *id = n;
  return 0;
}

static int add_node(pyr_store_dict *d, uint32_t parent, uint32_t loc, uint32_t *id) {
  uint32_t n = atomic_load_explicit(&d->nnodes, memory_order_relaxed);
  if (seg_room(d, (void **)d->nodes, sizeof(st_dnode), n) != 0)
    return -1;
  uint32_t off;
  unsigned seg = st_dseg(n, &off);
  d->nodes[seg][off] = (st_dnode){.parent = parent, .loc = loc};
  atomic_store_explicit(&d->nnodes, n + 1, memory_order_release);
  *id = n;
  return 0;
}

/* hmap_put plus memory accounting of growth. */
static int map_put(pyr_store_dict *d, st_hmap *m, st_h128 k, uint32_t v) {
  size_t before = st_hmap_bytes(m);
  if (st_hmap_put(m, k, v) != 0)
    return -1;
  size_t after = st_hmap_bytes(m);
  if (after != before)
    atomic_fetch_add_explicit(&d->mem, after - before, memory_order_relaxed);
  return 0;
}

static pyr_store_dict *dict_new(uint64_t id, uint32_t tenant) {
  pyr_store_dict *d = calloc(1, sizeof(*d));
  if (!d)
    return NULL;
  d->id = id;
  d->tenant = tenant;
  uint32_t zero;
  /* Entry 0 of every array is reserved: root node, no frame, "". */
  if (add_name(d, "", 0, &zero) != 0 || add_loc(d, 0, 0, &zero) != 0 ||
      add_node(d, 0, 0, &zero) != 0) {
    st_dict_free(d);
    return NULL;
  }
  d->saved_nodes = d->saved_locs = d->saved_names = 1;
  atomic_fetch_add_explicit(&d->mem, sizeof(*d), memory_order_relaxed);
  return d;
}

void st_dict_free(pyr_store_dict *d) {
  if (!d)
    return;
  for (unsigned i = 0; i < ST_DSEG_MAX; i++) {
    free(d->nodes[i]);
    free(d->locs[i]);
    free(d->names[i]);
  }
  for (st_arena *a = d->arena, *n; a; a = n) {
    n = a->next;
    free(a);
  }
  st_hmap_free(&d->node_map);
  st_hmap_free(&d->loc_map);
  st_hmap_free(&d->name_map);
  free(d);
}

/* ---------------------------------------------------------- interning */

static int intern_loc(pyr_store *st, pyr_store_dict *d, st_pmemo *m, uint32_t ploc,
                      st_h128 fh, uint32_t *out) {
  uint32_t v = st_hmap_get(&d->loc_map, fh);
  if (v) {
    *out = v;
    return 0;
  }
  uint32_t pname;
  int64_t line;
  pyr_prof_loc(m->prof, ploc, &pname, &line);
  /* st_pmemo_frame filled str_h[pname] when it hashed this frame. */
  st_h128 nh = m->str_h[pname];
  uint32_t name = st_hmap_get(&d->name_map, nh);
  if (!name) {
    size_t len = 0;
    const char *s = pyr_prof_str(m->prof, pname, &len);
    if (add_name(d, s ? s : "", s ? len : 0, &name) != 0 ||
        map_put(d, &d->name_map, nh, name) != 0)
      return -1;
  }
  (void)st;
  if (add_loc(d, name, line, &v) != 0 || map_put(d, &d->loc_map, fh, v) != 0)
    return -1;
  *out = v;
  return 0;
}

int st_dict_intern(pyr_store *st, pyr_store_dict *d, st_pmemo *m, size_t idx, st_h128 h,
                   uint32_t *node) {
  uint32_t v = st_hmap_get(&d->node_map, h);
  if (v) {
    *node = v;
    return 0;
  }
  const uint32_t *locs;
  uint32_t n, ls;
  const int64_t *vals;
  pyr_prof_sample(m->prof, idx, &locs, &n, &ls, &vals);
  st_h128 ph = st->root_h;
  uint32_t parent = 0;
  bool creating = false;
  for (uint32_t i = 0; i < n; i++) {
    st_h128 fh;
    if (st_pmemo_frame(&st->hk, m, locs[i], &fh) != 0)
      return -1;
    ph = st_stack_step(ph, fh);
    if (!creating) {
      v = st_hmap_get(&d->node_map, ph);
      if (v) {
        parent = v;
        continue;
      }
      creating = true; /* children of a new node cannot exist yet */
    }
    uint32_t loc;
    if (intern_loc(st, d, m, locs[i], fh, &loc) != 0 || add_node(d, parent, loc, &v) != 0 ||
        map_put(d, &d->node_map, ph, v) != 0)
      return -1;
    parent = v;
  }
  *node = parent;
  return 0;
}

/* ------------------------------------------------------------- chunks */

int st_dict_chunk(pyr_store *st, pyr_store_dict *d, st_buf *out, uint32_t *nn, uint32_t *nl,
                  uint32_t *ns) {
  uint32_t cn = atomic_load_explicit(&d->nnodes, memory_order_relaxed);
  uint32_t cl = atomic_load_explicit(&d->nlocs, memory_order_relaxed);
  uint32_t cs = atomic_load_explicit(&d->nnames, memory_order_relaxed);
  *nn = cn - d->saved_nodes;
  *nl = cl - d->saved_locs;
  *ns = cs - d->saved_names;
  out->n = 0;
  if (!*nn && !*nl && !*ns)
    return 0;
  st_buf raw = {0};
  size_t need = 64 + (size_t)*nn * 10 + (size_t)*nl * 15;
  for (uint32_t i = d->saved_names; i < cs; i++)
    need += 5 + st_dict_name(d, i)->len;
  if (st_buf_reserve(&raw, need) != 0)
    return -1;
  st_buf_uv(&raw, d->saved_names);
  st_buf_uv(&raw, d->saved_locs);
  st_buf_uv(&raw, d->saved_nodes);
  st_buf_uv(&raw, *ns);
  st_buf_uv(&raw, *nl);
  st_buf_uv(&raw, *nn);
  for (uint32_t i = d->saved_names; i < cs; i++) {
    const st_dname *e = st_dict_name(d, i);
    st_buf_uv(&raw, e->len);
    memcpy(raw.p + raw.n, e->s, e->len);
    raw.n += e->len;
  }
  for (uint32_t i = d->saved_locs; i < cl; i++) {
    const st_dloc *e = st_dict_loc(d, i);
    st_buf_uv(&raw, e->name);
    st_buf_uv(&raw, st_zz(e->line));
  }
  for (uint32_t i = d->saved_nodes; i < cn; i++) {
    const st_dnode *e = st_dict_node(d, i);
    st_buf_uv(&raw, i - e->parent);
    st_buf_uv(&raw, e->loc);
  }
  int rc = -1;
  size_t bound = ZSTD_compressBound(raw.n);
  if (st_buf_reserve(out, bound + 16) != 0)
    goto out;
  int level = st->o.compress_level > 0 ? st->o.compress_level : 0;
  if (level > 0) {
    out->p[out->n++] = CHUNK_VERSION_ZSTD;
    st_buf_uv(out, raw.n);
    size_t z = st_zcompress(st->cctx, out->p + out->n, bound, raw.p, raw.n, level);
    if (!ZSTD_isError(z)) {
      out->n += z;
      rc = 0;
      goto out;
    }
    out->n = 0;
  }
  out->p[out->n++] = CHUNK_VERSION_RAW;
  memcpy(out->p + out->n, raw.p, raw.n);
  out->n += raw.n;
  rc = 0;
out:
  st_buf_free(&raw);
  return rc;
}

void st_dict_mark_saved(pyr_store_dict *d) {
  d->saved_nodes = atomic_load_explicit(&d->nnodes, memory_order_relaxed);
  d->saved_locs = atomic_load_explicit(&d->nlocs, memory_order_relaxed);
  d->saved_names = atomic_load_explicit(&d->nnames, memory_order_relaxed);
}

static int apply_chunk(pyr_store *st, pyr_store_dict *d, const uint8_t *p, size_t len,
                       ZSTD_DCtx *dctx) {
  st_buf raw = {0};
  const uint8_t *s = p, *end = p + len;
  int rc = -1;
  (void)st;
  if (len < 1)
    return -1;
  uint8_t ver = *s++;
  if (ver == CHUNK_VERSION_ZSTD) {
    uint64_t rawlen;
    if (st_uv_get(&s, end, &rawlen) != 0 || rawlen > CHUNK_MAX_RAW ||
        st_buf_reserve(&raw, rawlen ? rawlen : 1) != 0)
      goto out;
    size_t z = ZSTD_decompressDCtx(dctx, raw.p, rawlen, s, (size_t)(end - s));
    if (ZSTD_isError(z) || z != rawlen)
      goto out;
    s = raw.p;
    end = raw.p + rawlen;
  } else if (ver != CHUNK_VERSION_RAW) {
    goto out;
  }
  uint64_t bs, bl, bn, ns, nl, nn;
  if (st_uv_get(&s, end, &bs) || st_uv_get(&s, end, &bl) || st_uv_get(&s, end, &bn) ||
      st_uv_get(&s, end, &ns) || st_uv_get(&s, end, &nl) || st_uv_get(&s, end, &nn))
    goto out;
  uint32_t cs = atomic_load_explicit(&d->nnames, memory_order_relaxed);
  uint32_t cl = atomic_load_explicit(&d->nlocs, memory_order_relaxed);
  uint32_t cn = atomic_load_explicit(&d->nnodes, memory_order_relaxed);
  /* Chunks must continue exactly where the previous one ended. */
  if (bs != cs || bl != cl || bn != cn || ns > (size_t)(end - s) || nl > (size_t)(end - s) ||
      nn > (size_t)(end - s))
    goto out;
  for (uint64_t i = 0; i < ns; i++) {
    uint64_t l;
    uint32_t id;
    if (st_uv_get(&s, end, &l) != 0 || l > (size_t)(end - s) ||
        add_name(d, (const char *)s, l, &id) != 0)
      goto out;
    s += l;
  }
  uint32_t names_now = atomic_load_explicit(&d->nnames, memory_order_relaxed);
  for (uint64_t i = 0; i < nl; i++) {
    uint64_t name, zl;
    uint32_t id;
    if (st_uv_get(&s, end, &name) || st_uv_get(&s, end, &zl) || name >= names_now ||
        add_loc(d, (uint32_t)name, st_unzz(zl), &id) != 0)
      goto out;
  }
  uint32_t locs_now = atomic_load_explicit(&d->nlocs, memory_order_relaxed);
  for (uint64_t i = 0; i < nn; i++) {
    uint64_t back, loc;
    uint32_t id = cn + (uint32_t)i, got;
    if (st_uv_get(&s, end, &back) || st_uv_get(&s, end, &loc) || back == 0 || back > id ||
        loc == 0 || loc >= locs_now || add_node(d, id - (uint32_t)back, (uint32_t)loc, &got))
      goto out;
  }
  rc = s == end ? 0 : -1;
out:
  st_buf_free(&raw);
  return rc;
}

int st_dict_apply_chunk(pyr_store *st, pyr_store_dict *d, const uint8_t *p, size_t len,
                        ZSTD_DCtx *dctx) {
  return apply_chunk(st, d, p, len, dctx);
}

pyr_store_dict *st_dict_new_detached(uint64_t id) { return dict_new(id, 0); }

int st_dict_maps(pyr_store *st, pyr_store_dict *d) {
  if (d->maps)
    return 0;
  uint32_t ns = atomic_load_explicit(&d->nnames, memory_order_relaxed);
  uint32_t nl = atomic_load_explicit(&d->nlocs, memory_order_relaxed);
  uint32_t nn = atomic_load_explicit(&d->nnodes, memory_order_relaxed);
  st_h128 *nh = malloc((size_t)ns * sizeof(*nh)), *lh = malloc((size_t)nl * sizeof(*lh));
  st_h128 *dh = malloc((size_t)nn * sizeof(*dh));
  int rc = -1;
  if (!nh || !lh || !dh)
    goto out;
  for (uint32_t i = 1; i < ns; i++) {
    const st_dname *e = st_dict_name(d, i);
    nh[i] = st_hash128(&st->hk, e->s, e->len);
    if (map_put(d, &d->name_map, nh[i], i) != 0)
      goto out;
  }
  for (uint32_t i = 1; i < nl; i++) {
    const st_dloc *e = st_dict_loc(d, i);
    lh[i] = st_frame_hash(nh[e->name], e->line);
    if (!(lh[i].a | lh[i].b))
      lh[i].a = 1; /* as st_pmemo_frame */
    if (map_put(d, &d->loc_map, lh[i], i) != 0)
      goto out;
  }
  dh[0] = st->root_h;
  for (uint32_t i = 1; i < nn; i++) { /* parent < child: parents first */
    const st_dnode *e = st_dict_node(d, i);
    dh[i] = st_stack_step(dh[e->parent], lh[e->loc]);
    if (map_put(d, &d->node_map, dh[i], i) != 0)
      goto out;
  }
  d->maps = true;
  rc = 0;
out:
  if (rc != 0) { /* leave no half-built maps behind */
    size_t bytes = st_hmap_bytes(&d->name_map) + st_hmap_bytes(&d->loc_map) +
                   st_hmap_bytes(&d->node_map);
    st_hmap_free(&d->name_map);
    st_hmap_free(&d->loc_map);
    st_hmap_free(&d->node_map);
    atomic_fetch_sub_explicit(&d->mem, bytes, memory_order_relaxed);
  }
  free(nh);
  free(lh);
  free(dh);
  return rc;
}

/* Replays every chunk of d in a fresh read transaction (loader conn). */
static int dict_load(pyr_store *st, pyr_store_dict *d) {
  st_cache *c = &st->cache;
  int rc = -1;
  pthread_mutex_lock(&c->load_mu);
  sqlite3_stmt *s = c->load_stmt;
  sqlite3_bind_int64(s, 1, (sqlite3_int64)d->id);
  int r;
  while ((r = sqlite3_step(s)) == SQLITE_ROW) {
    const void *b = sqlite3_column_blob(s, 0);
    int n = sqlite3_column_bytes(s, 0);
    if (apply_chunk(st, d, b, (size_t)n, c->load_dctx) != 0)
      goto out;
  }
  if (r != SQLITE_DONE)
    goto out;
  st_dict_mark_saved(d);
  rc = 0;
out:
  sqlite3_reset(c->load_stmt);
  sqlite3_clear_bindings(c->load_stmt);
  pthread_mutex_unlock(&c->load_mu);
  return rc;
}

/* -------------------------------------------------------------- cache */

static int dict_eq(const void *item, const void *key) {
  return ((const pyr_store_dict *)item)->id == *(const uint64_t *)key;
}
static uint64_t dict_h(uint64_t id) { return st_fmix(id + 0x9e3779b97f4a7c15ull); }

static void lru_unlink(st_cache *c, pyr_store_dict *d) {
  if (d->lru_prev)
    d->lru_prev->lru_next = d->lru_next;
  else if (c->lru_head == d)
    c->lru_head = d->lru_next;
  if (d->lru_next)
    d->lru_next->lru_prev = d->lru_prev;
  else if (c->lru_tail == d)
    c->lru_tail = d->lru_prev;
  d->lru_prev = d->lru_next = NULL;
}

static void lru_append(st_cache *c, pyr_store_dict *d) {
  d->lru_prev = c->lru_tail;
  d->lru_next = NULL;
  if (c->lru_tail)
    c->lru_tail->lru_next = d;
  else
    c->lru_head = d;
  c->lru_tail = d;
}

/* Evicts unreferenced dictionaries, oldest use first, while over budget.
 * Referenced ones may exceed the budget: they are in use. cache.mu held. */
static void trim_locked(pyr_store *st) {
  st_cache *c = &st->cache;
  uint64_t total = 0;
  for (size_t i = 0; c->map.item && i <= c->map.mask; i++)
    if (c->map.item[i])
      total += atomic_load_explicit(&((pyr_store_dict *)c->map.item[i])->mem,
                                    memory_order_relaxed);
  while (total > c->budget && c->lru_head) {
    pyr_store_dict *d = c->lru_head;
    lru_unlink(c, d);
    st_ptab_del(&c->map, dict_h(d->id), d);
    d->cached = false;
    c->ndicts--;
    total -= atomic_load_explicit(&d->mem, memory_order_relaxed);
    st_dict_free(d);
  }
}

void st_dict_trim(pyr_store *st) {
  pthread_mutex_lock(&st->cache.mu);
  trim_locked(st);
  pthread_mutex_unlock(&st->cache.mu);
}

int st_dict_acquire(pyr_store *st, uint64_t id, pyr_store_dict **out) {
  st_cache *c = &st->cache;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    pyr_store_dict *d = st_ptab_get(&c->map, dict_h(id), dict_eq, &id);
    if (!d)
      break;
    if (d->state == ST_DICT_READY) {
      if (d->refs++ == 0)
        lru_unlink(c, d);
      pthread_mutex_unlock(&c->mu);
      *out = d;
      return 0;
    }
    pthread_cond_wait(&c->cv, &c->mu); /* LOADING by someone else */
  }
  pyr_store_dict *d = dict_new(id, 0);
  if (!d || st_ptab_put(&c->map, dict_h(id), d) != 0) {
    pthread_mutex_unlock(&c->mu);
    st_dict_free(d);
    return PYR_STORE_ENOMEM;
  }
  d->state = ST_DICT_LOADING;
  d->refs = 1;
  d->cached = true;
  c->ndicts++;
  pthread_mutex_unlock(&c->mu);

  int rc = dict_load(st, d);

  pthread_mutex_lock(&c->mu);
  if (rc != 0) {
    st_ptab_del(&c->map, dict_h(id), d);
    c->ndicts--;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    st_dict_free(d);
    return PYR_STORE_EIO;
  }
  d->state = ST_DICT_READY;
  pthread_cond_broadcast(&c->cv);
  trim_locked(st);
  pthread_mutex_unlock(&c->mu);
  *out = d;
  return 0;
}

void st_dict_release(pyr_store *st, pyr_store_dict *d) {
  st_cache *c = &st->cache;
  bool free_it = false;
  pthread_mutex_lock(&c->mu);
  if (--d->refs == 0) {
    if (!d->cached) {
      free_it = true;
    } else {
      lru_append(c, d);
      trim_locked(st);
    }
  }
  pthread_mutex_unlock(&c->mu);
  if (free_it)
    st_dict_free(d);
}

pyr_store_dict *st_dict_create(pyr_store *st, uint64_t id, uint32_t tenant) {
  st_cache *c = &st->cache;
  pyr_store_dict *d = dict_new(id, tenant);
  if (!d)
    return NULL;
  d->maps = true; /* empty, and built as entries come */
  d->state = ST_DICT_READY;
  d->refs = 1;
  d->cached = true;
  pthread_mutex_lock(&c->mu);
  /* A stale instance with this id (from a rolled-back batch) is gone:
   * st_dict_drop removed it from the map. */
  if (st_ptab_put(&c->map, dict_h(id), d) != 0) {
    pthread_mutex_unlock(&c->mu);
    st_dict_free(d);
    return NULL;
  }
  c->ndicts++;
  pthread_mutex_unlock(&c->mu);
  return d;
}

void st_dict_drop(pyr_store *st, pyr_store_dict *d) {
  st_cache *c = &st->cache;
  bool free_it = false;
  pthread_mutex_lock(&c->mu);
  if (d->cached) {
    st_ptab_del(&c->map, dict_h(d->id), d);
    d->cached = false;
    c->ndicts--;
    if (d->refs == 0) {
      lru_unlink(c, d);
      free_it = true;
    }
  }
  pthread_mutex_unlock(&c->mu);
  if (free_it)
    st_dict_free(d);
}

void st_dict_forget(pyr_store *st, uint64_t id) {
  st_cache *c = &st->cache;
  pyr_store_dict *d, *free_it = NULL;
  pthread_mutex_lock(&c->mu);
  d = st_ptab_get(&c->map, dict_h(id), dict_eq, &id);
  /* A LOADING instance is left alone: its loader publishes it, and with
   * ids never reused (AUTOINCREMENT) nothing will ask for it again. */
  if (d && d->state == ST_DICT_READY) {
    st_ptab_del(&c->map, dict_h(id), d);
    d->cached = false;
    c->ndicts--;
    if (d->refs == 0) {
      lru_unlink(c, d);
      free_it = d;
    }
  }
  pthread_mutex_unlock(&c->mu);
  st_dict_free(free_it);
}

int st_cache_init(pyr_store *st, const char *path, char *err, size_t errlen) {
  st_cache *c = &st->cache; /* mutexes and budget: set up by pyr_store_open */
  int r = sqlite3_open_v2(path, &c->load_db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (r == SQLITE_OK)
    r = sqlite3_prepare_v3(c->load_db, "SELECT blob FROM dict_chunks WHERE dict=?1 ORDER BY id",
                           -1, SQLITE_PREPARE_PERSISTENT, &c->load_stmt, NULL);
  if (r != SQLITE_OK) {
    st_seterr(err, errlen, "open dictionary loader: %s",
              c->load_db ? sqlite3_errmsg(c->load_db) : sqlite3_errstr(r));
    return -1;
  }
  sqlite3_busy_timeout(c->load_db, 10000);
  c->load_dctx = ZSTD_createDCtx();
  return c->load_dctx ? 0 : -1;
}

void st_cache_fini(pyr_store *st) {
  st_cache *c = &st->cache;
  for (size_t i = 0; c->map.item && i <= c->map.mask; i++)
    if (c->map.item[i])
      st_dict_free(c->map.item[i]);
  st_ptab_free(&c->map);
  sqlite3_finalize(c->load_stmt);
  sqlite3_close(c->load_db);
  ZSTD_freeDCtx(c->load_dctx);
  c->load_stmt = NULL;
  c->load_db = NULL;
  c->load_dctx = NULL;
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->load_mu);
}
