/*
 * context.c - dynamic-labels context table and LabelsSnapshot encoder
 * (see context.h).
 *
 * Layout: `entries` is an array grown by doubling up to max_contexts; each
 * entry owns one allocation holding its pair pointers and the strings.
 * `index` maps id -> 1 + entry index.  Threads: `lock` guards everything;
 * register runs on application threads (rarely: once per distinct label
 * set), snapshot on the aggregator once per upload window.
 *
 * The snapshot is built with protobuf-c (proto/labels.proto) in temporary
 * arrays sized from the request, so its memory is bounded by the window's
 * distinct contexts, each bounded by PYR_CTX_MAX_PAIRS pairs.
 */
#include "context.h"

#include "u64map.h"

#include "labels.pb-c.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ctx_entry {
  uint64_t id;
  size_t n;
  char **kv; /* 2n pointers (key, value, ...) into the same allocation */
};

struct pyr_ctx_table {
  pthread_mutex_t lock;
  pyr_u64map index; /* id -> 1 + index into entries */
  struct ctx_entry *entries;
  size_t count, cap, max;
  uint64_t overflow, rejected;
};

pyr_ctx_table *pyr_ctx_table_new(size_t max_contexts) {
  pyr_ctx_table *t = calloc(1, sizeof(*t));
  if (!t || max_contexts == 0)
    goto fail;
  t->max = max_contexts;
  if (pyr_u64map_init(&t->index, max_contexts) != 0)
    goto fail;
  pthread_mutex_init(&t->lock, NULL);
  return t;
fail:
  free(t);
  return NULL;
}

void pyr_ctx_table_free(pyr_ctx_table *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->count; i++)
    free(t->entries[i].kv);
  free(t->entries);
  pyr_u64map_free(&t->index);
  pthread_mutex_destroy(&t->lock);
  free(t);
}

/* Pyroscope's label-name rule: [A-Za-z0-9_.]+ (server/labels.h). */
static int key_ok(const char *k) {
  size_t n = k ? strlen(k) : 0;
  if (n == 0 || n > PYR_CTX_MAX_KEY)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.'))
      return 0;
  }
  return 1;
}

static int set_ok(uint64_t id, const char *const *keys, const char *const *values, size_t n) {
  if (id == 0 || id > INT64_MAX || n > PYR_CTX_MAX_PAIRS || (n && (!keys || !values)))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!key_ok(keys[i]) || !values[i] || strlen(values[i]) > PYR_CTX_MAX_VALUE)
      return 0;
  return 1;
}

/* One allocation: 2n pointers followed by the NUL-terminated strings. */
static char **copy_pairs(const char *const *keys, const char *const *values, size_t n) {
  size_t bytes = 2 * n * sizeof(char *) + 1;
  for (size_t i = 0; i < n; i++)
    bytes += strlen(keys[i]) + strlen(values[i]) + 2;
  char **kv = malloc(bytes);
  if (!kv)
    return NULL;
  char *p = (char *)(kv + 2 * n);
  for (size_t i = 0; i < 2 * n; i++) {
    const char *s = (i & 1) ? values[i / 2] : keys[i / 2];
    size_t l = strlen(s) + 1;
    memcpy(p, s, l);
    kv[i] = p;
    p += l;
  }
  return kv;
}

int pyr_ctx_table_register(pyr_ctx_table *t, uint64_t id, const char *const *keys,
                           const char *const *values, size_t n) {
  uint64_t v;
  int rc = PYR_CTX_OK;
  if (!t)
    return PYR_CTX_REJECTED;
  pthread_mutex_lock(&t->lock);
  if (!set_ok(id, keys, values, n)) {
    t->rejected++;
    rc = PYR_CTX_REJECTED;
    goto out;
  }
  if (pyr_u64map_get(&t->index, id, &v))
    goto out; /* already known: the first registration wins */
  if (t->count == t->max) {
    t->overflow++;
    rc = PYR_CTX_OVERFLOW;
    goto out;
  }
  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    if (cap > t->max)
      cap = t->max;
    struct ctx_entry *e = realloc(t->entries, cap * sizeof(*e));
    if (!e) {
      t->overflow++;
      rc = PYR_CTX_OVERFLOW;
      goto out;
    }
    t->entries = e;
    t->cap = cap;
  }
  char **kv = copy_pairs(keys, values, n);
  if (!kv || pyr_u64map_put(&t->index, id, t->count + 1) != 0) {
    free(kv);
    t->overflow++;
    rc = PYR_CTX_OVERFLOW;
    goto out;
  }
  t->entries[t->count++] = (struct ctx_entry){.id = id, .n = n, .kv = kv};
out:
  pthread_mutex_unlock(&t->lock);
  return rc;
}

/* Snapshot-local string ids: text -> id, deduplicated by hash.  A hash
 * collision between different texts only costs a second id for the same
 * reader-visible result, so the map stores the first text's id and a
 * mismatch simply appends. */
struct strtab {
  pyr_u64map by_hash;
  Pyrite__Labels__LabelsSnapshot__StringsEntry *entries;
  Pyrite__Labels__LabelsSnapshot__StringsEntry **ptrs;
  size_t n;
};

static uint64_t str_hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h ? h : 1;
}

static int64_t str_id(struct strtab *st, char *s) {
  uint64_t h = str_hash(s), v;
  if (pyr_u64map_get(&st->by_hash, h, &v) && strcmp(st->entries[v - 1].value, s) == 0)
    return (int64_t)v;
  Pyrite__Labels__LabelsSnapshot__StringsEntry *e = &st->entries[st->n];
  pyrite__labels__labels_snapshot__strings_entry__init(e);
  e->key = (int64_t)(st->n + 1);
  e->value = s;
  st->ptrs[st->n++] = e;
  if (!pyr_u64map_get(&st->by_hash, h, &v))
    pyr_u64map_put(&st->by_hash, h, st->n); /* cannot fail: sized for every string */
  return e->key;
}

int pyr_ctx_table_snapshot(pyr_ctx_table *t, const uint64_t *ids, size_t nids, uint8_t **out,
                           size_t *len) {
  Pyrite__Labels__LabelsSnapshot snap = PYRITE__LABELS__LABELS_SNAPSHOT__INIT;
  Pyrite__Labels__LabelsSnapshot__ContextsEntry *centries = NULL, **cptrs = NULL;
  Pyrite__Labels__Context *ctxs = NULL;
  Pyrite__Labels__Context__LabelsEntry *lentries = NULL, **lptrs = NULL;
  struct strtab st = {0};
  pyr_u64map seen = {0};
  size_t nctx = 0, npairs = 0;
  int rc = -1;

  *out = NULL;
  *len = 0;
  if (!t || nids == 0)
    return 0;
  pthread_mutex_lock(&t->lock);
  /* Size the temporary arrays from the registered sets actually asked for
   * (an upper bound: duplicates in ids[] are counted twice). */
  size_t maxpairs = 0;
  for (size_t i = 0; i < nids; i++) {
    uint64_t v;
    if (ids[i] && pyr_u64map_get(&t->index, ids[i], &v))
      maxpairs += t->entries[v - 1].n;
  }
  maxpairs++; /* never a zero-sized request */
  centries = calloc(nids, sizeof(*centries));
  cptrs = calloc(nids, sizeof(*cptrs));
  ctxs = calloc(nids, sizeof(*ctxs));
  lentries = calloc(maxpairs, sizeof(*lentries));
  lptrs = calloc(maxpairs, sizeof(*lptrs));
  st.entries = calloc(2 * maxpairs, sizeof(*st.entries));
  st.ptrs = calloc(2 * maxpairs, sizeof(*st.ptrs));
  if (!centries || !cptrs || !ctxs || !lentries || !lptrs || !st.entries || !st.ptrs ||
      pyr_u64map_init(&st.by_hash, 2 * maxpairs) != 0 || pyr_u64map_init(&seen, nids) != 0)
    goto out;
  for (size_t i = 0; i < nids; i++) {
    uint64_t v, dummy;
    if (ids[i] == 0 || pyr_u64map_get(&seen, ids[i], &dummy) ||
        !pyr_u64map_get(&t->index, ids[i], &v))
      continue;
    pyr_u64map_put(&seen, ids[i], 1);
    const struct ctx_entry *e = &t->entries[v - 1];
    Pyrite__Labels__Context *c = &ctxs[nctx];
    pyrite__labels__context__init(c);
    c->labels = &lptrs[npairs];
    for (size_t k = 0; k < e->n; k++) {
      Pyrite__Labels__Context__LabelsEntry *le = &lentries[npairs];
      pyrite__labels__context__labels_entry__init(le);
      le->key = str_id(&st, e->kv[2 * k]);
      le->value = str_id(&st, e->kv[2 * k + 1]);
      lptrs[npairs++] = le;
      c->n_labels++;
    }
    pyrite__labels__labels_snapshot__contexts_entry__init(&centries[nctx]);
    centries[nctx].key = (int64_t)e->id;
    centries[nctx].value = c;
    cptrs[nctx] = &centries[nctx];
    nctx++;
  }
  if (nctx == 0) {
    rc = 0;
    goto out;
  }
  snap.n_contexts = nctx;
  snap.contexts = cptrs;
  snap.n_strings = st.n;
  snap.strings = st.ptrs;
  *len = pyrite__labels__labels_snapshot__get_packed_size(&snap);
  *out = malloc(*len ? *len : 1);
  if (!*out) {
    *len = 0;
    goto out;
  }
  pyrite__labels__labels_snapshot__pack(&snap, *out);
  rc = (int)nctx;
out:
  pthread_mutex_unlock(&t->lock);
  pyr_u64map_free(&seen);
  pyr_u64map_free(&st.by_hash);
  free(st.entries);
  free(st.ptrs);
  free(lptrs);
  free(lentries);
  free(ctxs);
  free(cptrs);
  free(centries);
  return rc;
}

void pyr_ctx_table_get_stats(pyr_ctx_table *t, pyr_ctx_stats *out) {
  memset(out, 0, sizeof(*out));
  if (!t)
    return;
  pthread_mutex_lock(&t->lock);
  out->registered = t->count;
  out->overflow = t->overflow;
  out->rejected = t->rejected;
  out->capacity = t->max;
  pthread_mutex_unlock(&t->lock);
}

static pyr_ctx_table *global_table;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void) { global_table = pyr_ctx_table_new(PYR_CTX_DEFAULT_MAX); }

pyr_ctx_table *pyr_ctx_global(void) {
  pthread_once(&global_once, global_init);
  return global_table;
}

void pyr_ctx_global_stats(pyr_ctx_stats *out) {
  /* Creating the table is cheap (small index, no entries), and going
   * through pthread_once keeps the pointer read race-free. */
  pyr_ctx_table_get_stats(pyr_ctx_global(), out);
}
