/*
 * store.c - pyrited's embedded profile store: open/close, schema, catalog,
 * the writer thread (group commit), background checkpoints, stats.  The
 * maintenance steps the writer thread runs (retention, disk limit,
 * compaction, dictionary GC, vacuum) are in store_maint.c.
 *
 * Design (docs/storage.md has the long form):
 *  - One SQLite database DIR/pyrite.db in WAL mode.  Tables: tenants,
 *    series (labels, counters), dicts (dictionary generations), dict_chunks
 *    (appended dictionary entries), profiles (blocks of encoded profiles,
 *    indexed by (series, t_lo)).
 *  - pyr_store_write() does the CPU work that needs no shared state in the
 *    calling thread (label canonicalisation, per-sample stack hashes), then
 *    queues the upload and sleeps.  The writer thread takes every queued
 *    upload (up to batch_max), stores them in ONE transaction, commits
 *    (one fsync for the whole batch), and wakes the callers.  While it
 *    commits, new uploads queue up and form the next batch: group commit
 *    without a timer.  The queue is bounded (queue_max); callers wait up to
 *    queue_timeout_ms for room, then get PYR_STORE_EBUSY (HTTP 503/429).
 *  - Maintenance (store_maint.c) runs on the writer thread in small steps
 *    (one series or one window per transaction) interleaved with batches,
 *    so it never holds up writes for long and never races them.
 *
 * Durability: a caller is told OK only after COMMIT returned.  In WAL mode
 * a commit appends the transaction's pages to the -wal file with write();
 * with synchronous=FULL it also fsyncs the WAL before returning.  After
 * kill -9 of the process, whatever write() handed to the kernel survives
 * (page cache), so a committed transaction is in the WAL and is recovered
 * on the next open; an uncommitted one has no commit frame and is ignored.
 * With synchronous=FULL the same holds for power loss (given honest
 * fsync); NORMAL survives kill -9 but may lose the last commits on power
 * loss (never corrupts).  Details: docs/adr/0001-storage.md.
 *
 * Faults (docs/storage.md "Damaged files", docs/reliability.md):
 *  - open refuses damaged files before SQLite touches them (check_files:
 *    database header and size, WAL checksums) and, by default, after
 *    PRAGMA quick_check; it never modifies a file it refuses;
 *  - a batch that fails for lack of space returns PYR_STORE_EFULL and sets
 *    s_full until a commit (or the writer's 1 s probe) succeeds again.
 *
 * Threads:
 *  - callers of pyr_store_write: prep, then q_mu/q_* condvars;
 *  - the writer thread: sole user of wdb and of every "writer-only" field;
 *    mutates the catalog under cat_lock (write), dictionaries by atomic
 *    publication (store_dict.c);
 *  - readers (store_read.c): pooled read-only connections, catalog under
 *    cat_lock (read), dictionaries through the cache;
 *  - the checkpointer thread: its own connection, PASSIVE checkpoints when
 *    the wal hook (writer) reports a long WAL (ck_mu/ck_cv).
 *
 * Invariants:
 *  - in-memory catalog == committed catalog after every batch: a failed
 *    batch undoes the series/tenants/scopes it created and drops the
 *    dictionaries it touched (they reload from disk when needed);
 *  - series.nprofiles and dicts.nprofiles equal the profiles stored for
 *    them (maintained in the same transactions as the rows; checked by
 *    pyr_store_check);
 *  - a dictionary generation is deleted only when retired and unused.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

#define SCHEMA_VERSION 1
#define DEFAULT_TENANT_MAX 256
/* Under load, maintenance gets about a quarter of the writer's time: after
 * a step that took d, the next waits 3d (at least 1 ms). */
#define MAINT_DUTY_FACTOR 3
#define MAINT_MIN_GAP_NS INT64_C(1000000)

const double pyr_store_lat_bounds_ms[PYR_STORE_LAT_BUCKETS - 1] = {
    1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};

/* ---------------------------------------------------------------- opts */

void pyr_store_opts_default(pyr_store_opts *o) {
  memset(o, 0, sizeof(*o));
  o->sync_full = 1;
  o->sweep_interval_ns = 5 * 60 * PYR_STORE_NS_PER_SEC;
  o->queue_max = 1024;
  o->queue_timeout_ms = 10000;
  o->batch_max = 256;
  o->readers = 4;
  o->cache_bytes = (uint64_t)256 << 20;
  o->dict_max_nodes = 1u << 21;
  o->dict_rotate_ns = 24 * 3600 * PYR_STORE_NS_PER_SEC;
  o->max_series = 100000;
  o->compress_level = 3;
  o->compact_window_ns = 3600 * PYR_STORE_NS_PER_SEC;
  o->compact_delay_ns = 5 * 60 * PYR_STORE_NS_PER_SEC;
  o->startup_check = 1;
}

int pyr_store_parse_duration(const char *s, int64_t *ns) {
  if (!s || !*s)
    return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v > 0))
    return -1;
  static const struct {
    const char *u;
    double mul;
  } units[] = {{"ns", 1},         {"us", 1e3},        {"ms", 1e6},     {"s", 1e9},
               {"m", 60e9},       {"min", 60e9},      {"h", 3600e9},   {"d", 86400e9},
               {"w", 604800e9},   {"", 1e9}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcmp(end, units[i].u) == 0) {
      double r = v * units[i].mul;
      if (r >= 9.2e18 || r < 1)
        return -1;
      *ns = (int64_t)r;
      return 0;
    }
  }
  return -1;
}

int pyr_store_parse_size(const char *s, uint64_t *bytes) {
  if (!s || !*s || *s == '-')
    return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0)
    return -1;
  double mul = 1;
  char u = (char)tolower((unsigned char)*end);
  if (u) {
    const char *units = "kmgt";
    const char *p = strchr(units, u);
    if (!p)
      return -1;
    for (const char *q = units; q <= p; q++)
      mul *= 1024;
    end++;
    if (*end == 'i' || *end == 'I')
      end++;
    if (*end == 'b' || *end == 'B')
      end++;
  }
  if (*end)
    return -1;
  double r = v * mul;
  if (r >= 1.8e19)
    return -1;
  *bytes = (uint64_t)r;
  return 0;
}

const char *pyr_store_strerror(int rc) {
  switch (rc) {
  case PYR_STORE_OK:
    return "ok";
  case PYR_STORE_EINVAL:
    return "invalid argument";
  case PYR_STORE_EIO:
    return "storage I/O error";
  case PYR_STORE_EBUSY:
    return "storage busy (write queue full)";
  case PYR_STORE_ELIMIT:
    return "storage limit reached";
  case PYR_STORE_ENOMEM:
    return "out of memory";
  case PYR_STORE_ECLOSED:
    return "storage closing";
  case PYR_STORE_ECORRUPT:
    return "storage corrupt";
  case PYR_STORE_EFULL:
    return "storage full (no space left on the data directory's file system)";
  default:
    return "unknown storage error";
  }
}

int64_t st_clock(pyr_store *st) {
  return st->o.clock ? st->o.clock(st->o.clock_ctx) : st_now_real_ns();
}

int st_sql_exec(sqlite3 *db, const char *sql, char *err, size_t errlen) {
  char *msg = NULL;
  int r = sqlite3_exec(db, sql, NULL, NULL, &msg);
  if (r != SQLITE_OK) {
    st_seterr(err, errlen, "%s (in: %.60s)", msg ? msg : sqlite3_errstr(r), sql);
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

/* --------------------------------------------------------------- schema */

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS tenants(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY AUTOINCREMENT, tenant INTEGER NOT NULL,"
    " labels BLOB NOT NULL, nprofiles INTEGER NOT NULL DEFAULT 0, t_min INTEGER,"
    " t_max INTEGER);"
    /* AUTOINCREMENT: a deleted generation's id is never reused, so no cached
     * instance can ever stand for a different dictionary. */
    "CREATE TABLE IF NOT EXISTS dicts(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " tenant INTEGER NOT NULL,"
    " scope TEXT NOT NULL, created INTEGER NOT NULL, retired INTEGER NOT NULL DEFAULT 0,"
    " nprofiles INTEGER NOT NULL DEFAULT 0, nnodes INTEGER NOT NULL DEFAULT 0,"
    " nlocs INTEGER NOT NULL DEFAULT 0, nnames INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS dict_chunks(id INTEGER PRIMARY KEY, dict INTEGER NOT NULL,"
    " blob BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dict_chunks_by_dict ON dict_chunks(dict, id);"
    /* t_lo/t_hi: min/max profile time in the block; k: profiles in it;
     * c: 0 fresh (one upload), 1 compacted. */
    "CREATE TABLE IF NOT EXISTS profiles(id INTEGER PRIMARY KEY, series INTEGER NOT NULL,"
    " dict INTEGER NOT NULL, t_lo INTEGER NOT NULL, t_hi INTEGER NOT NULL,"
    " k INTEGER NOT NULL, c INTEGER NOT NULL, blob BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS profiles_by_series ON profiles(series, t_lo);"
    "CREATE INDEX IF NOT EXISTS profiles_fresh ON profiles(series, t_lo) WHERE c = 0;";

static int open_conn(const char *path, int flags, sqlite3 **db, char *err, size_t errlen) {
  int r = sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL);
  if (r != SQLITE_OK) {
    st_seterr(err, errlen, "cannot open database '%.200s': %s", path,
              *db ? sqlite3_errmsg(*db) : sqlite3_errstr(r));
    return -1;
  }
  sqlite3_busy_timeout(*db, 10000);
  sqlite3_extended_result_codes(*db, 1);
  return 0;
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **s, char *err, size_t errlen) {
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL) != SQLITE_OK) {
    st_seterr(err, errlen, "prepare: %s", sqlite3_errmsg(db));
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------- catalog */

/* Series identity: u32 tenant id (LE) + "name\0value\0" per label, sorted.
 * The labels of st_series point into this key. */
static int series_eq(const void *item, const void *key) {
  const st_series *s = item;
  const st_buf *k = key;
  return s->keylen == k->n && memcmp(s->key, k->p, k->n) == 0;
}
static int tenant_eq(const void *item, const void *key) {
  return strcmp(((const st_tenant *)item)->name, (const char *)key) == 0;
}
static int scope_eq(const void *item, const void *key) {
  return strcmp(((const st_scope *)item)->name, (const char *)key) == 0;
}

static uint64_t str_hash(pyr_store *st, const char *s) {
  return st_hash64(&st->hk, 0, s, strlen(s));
}

st_tenant *st_tenant_find(pyr_store *st, const char *name) {
  return st_ptab_get(&st->tenants, str_hash(st, name), tenant_eq, name);
}

/* Builds a series from its key (tenant id + label bytes). */
static st_series *series_from_key(const uint8_t *key, size_t keylen) {
  size_t nl = 0;
  for (size_t i = 4; i < keylen; i++)
    nl += key[i] == 0;
  if (nl % 2 || keylen < 4)
    return NULL;
  nl /= 2;
  st_series *s = calloc(1, sizeof(*s) + nl * sizeof(pyr_store_label) + keylen);
  if (!s)
    return NULL;
  pyr_store_label *labels = (pyr_store_label *)(s + 1);
  s->key = (uint8_t *)(labels + nl);
  memcpy(s->key, key, keylen);
  s->keylen = keylen;
  const char *p = (const char *)s->key + 4;
  s->scope = "";
  s->pub.profile_type = "";
  for (size_t i = 0; i < nl; i++) {
    labels[i].name = p;
    p += strlen(p) + 1;
    labels[i].value = p;
    p += strlen(p) + 1;
    if (strcmp(labels[i].name, "service_name") == 0)
      s->scope = labels[i].value;
    else if (strcmp(labels[i].name, "__profile_type__") == 0)
      s->pub.profile_type = labels[i].value;
  }
  s->pub.labels = labels;
  s->pub.nlabels = nl;
  s->pub.t_min_ns = INT64_MAX;
  s->pub.t_max_ns = INT64_MIN;
  s->t_dirty = INT64_MAX;
  return s;
}

static void tenant_free(st_tenant *t) {
  if (!t)
    return;
  for (size_t i = 0; t->scopes.item && i <= t->scopes.mask; i++) {
    st_scope *sc = t->scopes.item[i];
    if (sc) {
      free(sc->name);
      free(sc);
    }
  }
  st_ptab_free(&t->scopes);
  free(t->series);
  free(t->name);
  free(t);
}

/* Adds a tenant to the catalog (caller holds cat_lock for writing, or is
 * single-threaded at open). */
static st_tenant *catalog_add_tenant(pyr_store *st, uint32_t id, const char *name) {
  st_tenant *t = calloc(1, sizeof(*t));
  if (!t || !(t->name = strdup(name)))
    goto fail;
  t->id = id;
  t->hash = str_hash(st, name);
  if (id >= st->ntenant_ids) {
    size_t n = st->ntenant_ids ? st->ntenant_ids : 16;
    while (n <= id)
      n *= 2;
    st_tenant **a = realloc(st->tenant_by_id, n * sizeof(*a));
    if (!a)
      goto fail;
    memset(a + st->ntenant_ids, 0, (n - st->ntenant_ids) * sizeof(*a));
    st->tenant_by_id = a;
    st->ntenant_ids = n;
  }
  if (st_ptab_put(&st->tenants, t->hash, t) != 0)
    goto fail;
  st->tenant_by_id[id] = t;
  return t;
fail:
  tenant_free(t);
  return NULL;
}

static void catalog_del_tenant(pyr_store *st, st_tenant *t) {
  st_ptab_del(&st->tenants, t->hash, t);
  st->tenant_by_id[t->id] = NULL;
  tenant_free(t);
}

static int catalog_add_series(pyr_store *st, st_tenant *t, st_series *s) {
  if (t->nseries == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    st_series **a = realloc(t->series, cap * sizeof(*a));
    if (!a)
      return -1;
    t->series = a;
    t->cap = cap;
  }
  s->hash = st_hash64(&st->hk, 0, s->key, s->keylen);
  if (st_ptab_put(&st->series_by_key, s->hash, s) != 0)
    return -1;
  s->tenant = t;
  s->idx = t->nseries;
  t->series[t->nseries++] = s;
  st->nseries++;
  return 0;
}

/* Removes (does not free) s. */
void st_catalog_del_series(pyr_store *st, st_series *s) {
  st_tenant *t = s->tenant;
  st_ptab_del(&st->series_by_key, s->hash, s);
  t->series[s->idx] = t->series[--t->nseries];
  t->series[s->idx]->idx = s->idx;
  st->nseries--;
}

static st_scope *scope_get(pyr_store *st, st_tenant *t, const char *name, bool create) {
  uint64_t h = str_hash(st, name);
  st_scope *sc = st_ptab_get(&t->scopes, h, scope_eq, name);
  if (sc || !create)
    return sc;
  sc = calloc(1, sizeof(*sc));
  if (!sc || !(sc->name = strdup(name)) || st_ptab_put(&t->scopes, h, sc) != 0) {
    if (sc)
      free(sc->name);
    free(sc);
    return NULL;
  }
  sc->hash = h;
  return sc;
}

static int load_catalog(pyr_store *st, char *err, size_t errlen) {
  sqlite3 *db = st->wdb;
  sqlite3_stmt *s = NULL;
  int rc = -1;
  if (prep(db, "SELECT id, name FROM tenants", &s, err, errlen) != 0)
    goto out;
  while (sqlite3_step(s) == SQLITE_ROW) {
    sqlite3_int64 id = sqlite3_column_int64(s, 0);
    const char *name = (const char *)sqlite3_column_text(s, 1);
    if (id <= 0 || id > UINT32_MAX || !name || !catalog_add_tenant(st, (uint32_t)id, name)) {
      st_seterr(err, errlen, "bad tenant row %lld", (long long)id);
      goto out;
    }
  }
  sqlite3_finalize(s);
  s = NULL;
  if (prep(db, "SELECT id, tenant, labels, nprofiles, t_min, t_max FROM series", &s, err,
           errlen) != 0)
    goto out;
  st_buf key = {0};
  while (sqlite3_step(s) == SQLITE_ROW) {
    sqlite3_int64 id = sqlite3_column_int64(s, 0), tid = sqlite3_column_int64(s, 1);
    const void *lb = sqlite3_column_blob(s, 2);
    size_t ln = (size_t)sqlite3_column_bytes(s, 2);
    st_tenant *t = (tid > 0 && (uint64_t)tid < st->ntenant_ids) ? st->tenant_by_id[tid] : NULL;
    key.n = 0;
    if (!t || st_buf_reserve(&key, ln + 4) != 0) {
      st_buf_free(&key);
      st_seterr(err, errlen, "bad series row %lld", (long long)id);
      goto out;
    }
    uint32_t t32 = (uint32_t)tid;
    memcpy(key.p, &t32, 4);
    if (ln)
      memcpy(key.p + 4, lb, ln);
    key.n = ln + 4;
    st_series *se = series_from_key(key.p, key.n);
    if (!se || catalog_add_series(st, t, se) != 0) {
      free(se);
      st_buf_free(&key);
      st_seterr(err, errlen, "bad series row %lld", (long long)id);
      goto out;
    }
    se->pub.id = (uint64_t)id;
    se->pub.nprofiles = (uint64_t)sqlite3_column_int64(s, 3);
    if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
      se->pub.t_min_ns = sqlite3_column_int64(s, 4);
      se->pub.t_max_ns = sqlite3_column_int64(s, 5);
    }
    atomic_fetch_add(&st->s_profiles, se->pub.nprofiles);
  }
  st_buf_free(&key);
  sqlite3_finalize(s);
  s = NULL;
  if (prep(db, "SELECT id, tenant, scope, created FROM dicts WHERE retired=0", &s, err,
           errlen) != 0)
    goto out;
  while (sqlite3_step(s) == SQLITE_ROW) {
    sqlite3_int64 id = sqlite3_column_int64(s, 0), tid = sqlite3_column_int64(s, 1);
    const char *scope = (const char *)sqlite3_column_text(s, 2);
    st_tenant *t = (tid > 0 && (uint64_t)tid < st->ntenant_ids) ? st->tenant_by_id[tid] : NULL;
    st_scope *sc = t && scope ? scope_get(st, t, scope, true) : NULL;
    if (!sc) {
      st_seterr(err, errlen, "bad dictionary row %lld", (long long)id);
      goto out;
    }
    if ((uint64_t)id > sc->dict) { /* newest wins should two be open */
      sc->dict = (uint64_t)id;
      sc->created = sqlite3_column_int64(s, 3);
    }
  }
  sqlite3_finalize(s);
  s = NULL;
  /* Series with fresh (uncompacted) rows: a scan of the small partial index. */
  if (prep(db, "SELECT series, min(t_lo) FROM profiles WHERE c=0 GROUP BY series", &s, err,
           errlen) != 0)
    goto out;
  while (sqlite3_step(s) == SQLITE_ROW) {
    sqlite3_int64 sid = sqlite3_column_int64(s, 0);
    /* Linear in series for each dirty one would be quadratic; build once. */
    (void)sid;
  }
  sqlite3_reset(s);
  {
    /* id -> series map for this pass only */
    st_ptab byid = {0};
    for (size_t i = 0; st->series_by_key.item && i <= st->series_by_key.mask; i++) {
      st_series *se = st->series_by_key.item[i];
      if (se && st_ptab_put(&byid, st_fmix(se->pub.id), se) != 0) {
        st_ptab_free(&byid);
        goto out;
      }
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
      uint64_t sid = (uint64_t)sqlite3_column_int64(s, 0);
      for (size_t i = st_fmix(sid) & byid.mask; byid.item && byid.item[i];
           i = (i + 1) & byid.mask) {
        st_series *se = byid.item[i];
        if (se->pub.id == sid) {
          se->t_dirty = sqlite3_column_int64(s, 1);
          break;
        }
      }
    }
    st_ptab_free(&byid);
  }
  sqlite3_finalize(s);
  s = NULL;
  if (prep(db,
           "SELECT (SELECT count(*) FROM profiles), (SELECT count(*) FROM dicts),"
           " (SELECT total(nnodes) FROM dicts), (SELECT total(nlocs) FROM dicts),"
           " (SELECT total(nnames) FROM dicts),"
           " (SELECT value FROM meta WHERE key='max_span')",
           &s, err, errlen) != 0)
    goto out;
  if (sqlite3_step(s) == SQLITE_ROW) {
    st->s_rows = (uint64_t)sqlite3_column_int64(s, 0);
    st->s_dicts = (uint64_t)sqlite3_column_int64(s, 1);
    st->s_dict_nodes = (uint64_t)sqlite3_column_double(s, 2);
    st->s_dict_locs = (uint64_t)sqlite3_column_double(s, 3);
    st->s_dict_names = (uint64_t)sqlite3_column_double(s, 4);
    st->max_span = sqlite3_column_int64(s, 5);
  }
  rc = 0;
out:
  sqlite3_finalize(s);
  return rc;
}

/* --------------------------------------------------------------- write */

typedef struct st_uentry {
  const pyr_prof *prof;
  st_pmemo *memo;
  st_buf key;          /* tenant id filled by the writer; labels by the caller */
  uint64_t khash;      /* of key without tenant id; recomputed by the writer */
  int64_t from, until;
  size_t n;            /* samples */
  st_h128 *h;
  uint32_t *idx;
  int64_t *v;
} st_uentry;

typedef struct st_upload {
  const char *tenant;
  st_uentry *e;
  size_t n;
  st_pmemo *memos;
  size_t nmemos;
  int rc;
  char err[160];
  bool done;
  int64_t t0;
  struct st_upload *next;
} st_upload;

typedef struct lab {
  const char *name, *value;
  size_t order;
} lab;

static int lab_cmp(const void *a, const void *b) {
  const lab *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c)
    return c;
  return x->order < y->order ? -1 : x->order > y->order;
}

static bool has_label(const lab *l, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(l[i].name, name) == 0)
      return true;
  return false;
}

/* Canonical label bytes of entry e (without the tenant prefix). */
static int canon_labels(const pyr_store_entry *in, const pyr_prof_type *t, st_buf *key,
                        char *err, size_t errlen) {
  lab l[PYR_STORE_MAX_LABELS + 8];
  char ptype[5 * PYR_PROF_NAME_MAX + 8];
  size_t n = 0;
  if (in->nlabels > PYR_STORE_MAX_LABELS) {
    st_seterr(err, errlen, "too many labels (%zu > %d)", in->nlabels, PYR_STORE_MAX_LABELS);
    return -1;
  }
  for (size_t i = 0; i < in->nlabels; i++) {
    const pyr_store_label *x = &in->labels[i];
    if (!x->name || !x->value || !*x->name) {
      st_seterr(err, errlen, "label %zu has no name", i);
      return -1;
    }
    if (strlen(x->name) > PYR_STORE_MAX_LABEL_NAME ||
        strlen(x->value) > PYR_STORE_MAX_LABEL_VALUE) {
      st_seterr(err, errlen, "label '%.40s' too long", x->name);
      return -1;
    }
    l[n].name = x->name;
    l[n].value = x->value;
    l[n].order = n;
    n++;
  }
  const char *service = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(l[i].name, "service_name") == 0 && *l[i].value)
      service = l[i].value; /* last one wins, as below */
  if (pyr_prof_type_id(t, in->column, ptype, sizeof(ptype)) != 0) {
    st_seterr(err, errlen, "cannot form the profile type id");
    return -1;
  }
  const struct {
    const char *name, *value;
  } derived[] = {{"__name__", t->name},
                 {"__profile_type__", ptype},
                 {"__type__", t->sample_type[in->column]},
                 {"__unit__", t->sample_unit[in->column]},
                 {"__period_type__", t->period_type},
                 {"__period_unit__", t->period_unit},
                 {"__service_name__", service ? service : ""}};
  size_t nin = n;
  for (size_t i = 0; i < sizeof(derived) / sizeof(derived[0]); i++) {
    if (!has_label(l, nin, derived[i].name)) {
      l[n].name = derived[i].name;
      l[n].value = derived[i].value;
      l[n].order = n;
      n++;
    }
  }
  qsort(l, n, sizeof(l[0]), lab_cmp);
  key->n = 0;
  size_t need = 0;
  for (size_t i = 0; i < n; i++)
    need += strlen(l[i].name) + strlen(l[i].value) + 2;
  if (st_buf_reserve(key, need + 4) != 0)
    return -1;
  key->n = 4; /* tenant id, filled by the writer */
  for (size_t i = 0; i < n; i++) {
    if (i + 1 < n && strcmp(l[i].name, l[i + 1].name) == 0)
      continue; /* a repeated name keeps its last value */
    if (!*l[i].value)
      continue; /* Pyroscope drops empty values */
    size_t a = strlen(l[i].name) + 1, b = strlen(l[i].value) + 1;
    memcpy(key->p + key->n, l[i].name, a);
    key->n += a;
    memcpy(key->p + key->n, l[i].value, b);
    key->n += b;
  }
  return 0;
}

static st_pmemo *memo_for(st_upload *u, const pyr_prof *p) {
  for (size_t i = 0; i < u->nmemos; i++)
    if (u->memos[i].prof == p)
      return &u->memos[i];
  st_pmemo *m = &u->memos[u->nmemos++];
  m->prof = p;
  return m;
}

/*
 * Stack hash of every sample of m->prof, once per profile (its columns
 * share it).  Consecutive samples often share a prefix (the thread's root
 * frames, the request path), so the chain restarts from the prefix the
 * sample has in common with the previous one.
 */
static int hash_samples(pyr_store *st, st_pmemo *m, size_t ns) {
  st_h128 *ph = NULL; /* prefix hashes of the previous sample */
  size_t phcap = 0;
  const uint32_t *prev = NULL;
  uint32_t prevn = 0;
  int rc = -1;
  if (!(m->sample_h = malloc(ns * sizeof(*m->sample_h))))
    return -1;
  for (size_t i = 0; i < ns; i++) {
    const uint32_t *locs;
    uint32_t n, ls;
    const int64_t *vals;
    pyr_prof_sample(m->prof, i, &locs, &n, &ls, &vals);
    if (n > phcap) {
      size_t cap = n + 64;
      st_h128 *x = realloc(ph, cap * sizeof(*x));
      if (!x)
        goto out;
      ph = x;
      phcap = cap;
    }
    uint32_t common = 0, lim = n < prevn ? n : prevn;
    while (common < lim && locs[common] == prev[common])
      common++;
    st_h128 h = common ? ph[common - 1] : st->root_h, fh;
    for (uint32_t j = common; j < n; j++) {
      if (st_pmemo_frame(&st->hk, m, locs[j], &fh) != 0)
        goto out;
      h = st_stack_step(h, fh);
      ph[j] = h;
    }
    m->sample_h[i] = h;
    prev = locs;
    prevn = n;
  }
  rc = 0;
out:
  free(ph);
  return rc;
}

/* Caller-side preparation: everything that needs no shared state. */
static int prep_entry(pyr_store *st, st_upload *u, const pyr_store_entry *in, st_uentry *e,
                      char *err, size_t errlen) {
  if (!in->prof) {
    st_seterr(err, errlen, "entry without profile");
    return PYR_STORE_EINVAL;
  }
  const pyr_prof_type *t = pyr_prof_get_type(in->prof);
  if (!t || in->column >= t->nvalues || t->nvalues > PYR_PROF_MAX_VALUES) {
    st_seterr(err, errlen, "value column %u out of range", in->column);
    return PYR_STORE_EINVAL;
  }
  if (canon_labels(in, t, &e->key, err, errlen) != 0)
    return PYR_STORE_EINVAL;
  e->prof = in->prof;
  e->memo = memo_for(u, in->prof);
  e->from = in->from_ns;
  e->until = in->until_ns;
  if (!e->from && !e->until) {
    int64_t tn = 0, dur = 0;
    pyr_prof_get_time(in->prof, &tn, &dur);
    e->from = tn ? tn : st_clock(st);
    e->until = e->from + (dur > 0 ? dur : 0);
  }
  if (e->until < e->from)
    e->until = e->from;
  size_t ns = pyr_prof_nsamples(in->prof);
  if (ns) {
    e->h = malloc(ns * sizeof(*e->h));
    e->idx = malloc(ns * sizeof(*e->idx));
    e->v = malloc(ns * sizeof(*e->v));
    if (!e->h || !e->idx || !e->v)
      return PYR_STORE_ENOMEM;
  }
  st_pmemo *m = e->memo;
  if (ns && !m->sample_h && hash_samples(st, m, ns) != 0)
    return PYR_STORE_ENOMEM;
  for (size_t i = 0; i < ns; i++) {
    const uint32_t *locs;
    uint32_t n, ls;
    const int64_t *vals;
    pyr_prof_sample(in->prof, i, &locs, &n, &ls, &vals);
    if (in->labelset != PYR_STORE_ALL_LABELSETS && ls != in->labelset)
      continue;
    int64_t v = vals[in->column];
    if (!v)
      continue;
    e->h[e->n] = m->sample_h[i];
    e->idx[e->n] = (uint32_t)i;
    e->v[e->n] = v;
    e->n++;
  }
  return 0;
}

static void upload_free(st_upload *u) {
  for (size_t i = 0; i < u->n; i++) {
    st_buf_free(&u->e[i].key);
    free(u->e[i].h);
    free(u->e[i].idx);
    free(u->e[i].v);
  }
  for (size_t i = 0; i < u->nmemos; i++)
    st_pmemo_free(&u->memos[i]);
  free(u->e);
  free(u->memos);
}

static void lat_record(pyr_store *st, int64_t ns) {
  double ms = (double)ns / 1e6;
  size_t b = 0;
  while (b < PYR_STORE_LAT_BUCKETS - 1 && ms > pyr_store_lat_bounds_ms[b])
    b++;
  atomic_fetch_add_explicit(&st->s_lat_buckets[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&st->s_lat_count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&st->s_lat_sum_us, (uint64_t)(ns / 1000), memory_order_relaxed);
  pthread_mutex_lock(&st->lat_mu);
  st->lat_ring[st->lat_ring_n++ % 4096] = (uint32_t)(ns / 1000 > UINT32_MAX ? UINT32_MAX : ns / 1000);
  pthread_mutex_unlock(&st->lat_mu);
}

int pyr_store_write(pyr_store *st, const char *tenant, const pyr_store_entry *entries,
                    size_t n, char *err, size_t errlen) {
  st_upload u = {0};
  int rc = PYR_STORE_OK;
  if (err && errlen)
    err[0] = '\0';
  if (!st || !tenant || !*tenant || strlen(tenant) > DEFAULT_TENANT_MAX || (n && !entries)) {
    st_seterr(err, errlen, "invalid tenant or entries");
    return PYR_STORE_EINVAL;
  }
  u.tenant = tenant;
  if (n) {
    u.e = calloc(n, sizeof(*u.e));
    u.memos = calloc(n, sizeof(*u.memos));
    if (!u.e || !u.memos) {
      rc = PYR_STORE_ENOMEM;
      goto out;
    }
  }
  u.n = n;
  for (size_t i = 0; i < n; i++) {
    rc = prep_entry(st, &u, &entries[i], &u.e[i], err, errlen);
    if (rc != 0)
      goto out;
  }
  u.t0 = st_now_mono_ns();
  pthread_mutex_lock(&st->q_mu);
  if (st->q_len >= st->o.queue_max) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    int64_t end = (int64_t)dl.tv_sec * PYR_STORE_NS_PER_SEC + dl.tv_nsec +
                  (int64_t)st->o.queue_timeout_ms * 1000000;
    dl.tv_sec = end / PYR_STORE_NS_PER_SEC;
    dl.tv_nsec = end % PYR_STORE_NS_PER_SEC;
    while (st->q_len >= st->o.queue_max && !st->stopping) {
      if (pthread_cond_timedwait(&st->q_space, &st->q_mu, &dl) == ETIMEDOUT)
        break;
    }
  }
  if (st->stopping || st->q_len >= st->o.queue_max) {
    rc = st->stopping ? PYR_STORE_ECLOSED : PYR_STORE_EBUSY;
    pthread_mutex_unlock(&st->q_mu);
    st_seterr(err, errlen, "%s", pyr_store_strerror(rc));
    goto out;
  }
  if (st->q_tail)
    st->q_tail->next = &u;
  else
    st->q_head = &u;
  st->q_tail = &u;
  st->q_len++;
  pthread_cond_signal(&st->q_cv);
  while (!u.done)
    pthread_cond_wait(&st->q_done, &st->q_mu);
  pthread_mutex_unlock(&st->q_mu);
  rc = u.rc;
  if (rc != 0)
    st_seterr(err, errlen, "%s", u.err[0] ? u.err : pyr_store_strerror(rc));
out:
  atomic_fetch_add_explicit(rc ? &st->s_upload_errors : &st->s_uploads, 1,
                            memory_order_relaxed);
  upload_free(&u);
  return rc;
}

/* ------------------------------------------------------ writer: batch */

/* Per-batch state of a dictionary the batch uses. */
typedef struct bdict {
  pyr_store_dict *d;
  int64_t nprofiles; /* delta */
  bool created;
} bdict;

typedef struct batch {
  bdict *dicts;
  size_t ndicts, dcap;
  st_series **series; /* touched */
  size_t nseries, scap;
  st_series **fresh;  /* created in this batch (undo on failure) */
  size_t nfresh, fcap;
  st_tenant **tenants; /* created in this batch */
  size_t ntenants, tcap;
  struct scope_undo {
    st_scope *sc;
    uint64_t dict;
    int64_t created;
  } *undo;
  size_t nundo, ucap;
  /* scratch */
  struct pair *pairs; /* 2 * pcap: pairs and radix scratch */
  uint32_t *ids;
  int64_t *vals;
  size_t pcap;
  st_buf blob, raw;
  uint64_t rows;
} batch;

#define PUSH(arr, n, cap, val)                                                               \
  do {                                                                                       \
    if ((n) == (cap)) {                                                                      \
      size_t nc_ = (cap) ? (cap) * 2 : 16;                                                   \
      void *np_ = realloc((arr), nc_ * sizeof(*(arr)));                                      \
      if (!np_)                                                                              \
        return PYR_STORE_ENOMEM;                                                             \
      (arr) = np_;                                                                           \
      (cap) = nc_;                                                                           \
    }                                                                                        \
    (arr)[(n)++] = (val);                                                                    \
  } while (0)

/* True when the last error on db means "no space left": SQLITE_FULL (the
 * unix VFS turns a write's ENOSPC or short write into it), or an I/O error
 * whose system errno is ENOSPC/EDQUOT (fallocate, ftruncate, fsync).  Only
 * meaningful right after a call on db failed. */
static bool sql_is_full(sqlite3 *db) {
  int x = sqlite3_extended_errcode(db);
  if ((x & 0xff) == SQLITE_FULL)
    return true;
  if ((x & 0xff) == SQLITE_IOERR) {
    int e = sqlite3_system_errno(db);
    return e == ENOSPC || e == EDQUOT;
  }
  return false;
}

/* Writer: enter or leave the "disk full" state, logging the transitions
 * (once each, not per failed upload). */
static void set_full(pyr_store *st, bool full) {
  uint64_t was = atomic_exchange_explicit(&st->s_full, full ? 1 : 0, memory_order_relaxed);
  if (full && !was)
    fprintf(stderr,
            "pyrited: storage: no space left for '%s': uploads are refused (507) until "
            "space is freed; stored data is intact and queries still work\n",
            st->path);
  else if (!full && was)
    fprintf(stderr, "pyrited: storage: space available again, ingest resumed\n");
}

int pyr_store_is_full(pyr_store *st) {
  return atomic_load_explicit(&st->s_full, memory_order_relaxed) != 0;
}

static int sql_fail(pyr_store *st, st_upload *u, const char *what) {
  if (u)
    snprintf(u->err, sizeof(u->err), "%s: %s", what, sqlite3_errmsg(st->wdb));
  return PYR_STORE_EIO;
}

static int get_tenant(pyr_store *st, batch *b, st_upload *u, st_tenant **out) {
  st_tenant *t = st_tenant_find(st, u->tenant);
  if (t) {
    *out = t;
    return 0;
  }
  sqlite3_stmt *s = st->w_ins_tenant;
  sqlite3_bind_text(s, 1, u->tenant, -1, SQLITE_STATIC);
  int r = sqlite3_step(s);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (r != SQLITE_DONE)
    return sql_fail(st, u, "insert tenant");
  sqlite3_int64 id = sqlite3_last_insert_rowid(st->wdb);
  if (id <= 0 || id > UINT32_MAX)
    return sql_fail(st, u, "tenant id");
  pthread_rwlock_wrlock(&st->cat_lock);
  t = catalog_add_tenant(st, (uint32_t)id, u->tenant);
  pthread_rwlock_unlock(&st->cat_lock);
  if (!t)
    return PYR_STORE_ENOMEM;
  PUSH(b->tenants, b->ntenants, b->tcap, t);
  *out = t;
  return 0;
}

static int get_series(pyr_store *st, batch *b, st_upload *u, st_tenant *t, st_uentry *e,
                      st_series **out) {
  uint32_t tid = t->id;
  memcpy(e->key.p, &tid, 4);
  uint64_t h = st_hash64(&st->hk, 0, e->key.p, e->key.n);
  st_series *s = st_ptab_get(&st->series_by_key, h, series_eq, &e->key);
  if (s) {
    *out = s;
    return 0;
  }
  sqlite3_stmt *q = st->w_ins_series;
  sqlite3_bind_int64(q, 1, tid);
  sqlite3_bind_blob(q, 2, e->key.p + 4, (int)(e->key.n - 4), SQLITE_STATIC);
  int r = sqlite3_step(q);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  if (r != SQLITE_DONE)
    return sql_fail(st, u, "insert series");
  s = series_from_key(e->key.p, e->key.n);
  if (!s)
    return PYR_STORE_ENOMEM;
  s->pub.id = (uint64_t)sqlite3_last_insert_rowid(st->wdb);
  pthread_rwlock_wrlock(&st->cat_lock);
  int ar = catalog_add_series(st, t, s);
  pthread_rwlock_unlock(&st->cat_lock);
  if (ar != 0) {
    free(s);
    return PYR_STORE_ENOMEM;
  }
  s->b_new = true;
  PUSH(b->fresh, b->nfresh, b->fcap, s);
  *out = s;
  return 0;
}

static bdict *batch_dict_find(batch *b, uint64_t id) {
  for (size_t i = 0; i < b->ndicts; i++)
    if (b->dicts[i].d->id == id)
      return &b->dicts[i];
  return NULL;
}

/* The current dictionary generation for s's scope, rotated if due. */
static int get_dict(pyr_store *st, batch *b, st_upload *u, st_series *s, bdict **out) {
  st_scope *sc = scope_get(st, s->tenant, s->scope, true);
  if (!sc)
    return PYR_STORE_ENOMEM;
  int64_t now = st_clock(st);
  bdict *bd = sc->dict ? batch_dict_find(b, sc->dict) : NULL;
  if (bd) {
    *out = bd;
    return 0;
  }
  pyr_store_dict *d = NULL;
  if (sc->dict) {
    if (st_dict_acquire(st, sc->dict, &d) != 0)
      return sql_fail(st, u, "load dictionary");
    bool old = st->o.dict_rotate_ns > 0 && now - sc->created >= st->o.dict_rotate_ns;
    bool big = st_dict_nnodes(d) >= st->o.dict_max_nodes;
    if (old || big) {
      sqlite3_stmt *q = st->w_retire_dict;
      sqlite3_bind_int64(q, 1, (sqlite3_int64)sc->dict);
      int r = sqlite3_step(q);
      sqlite3_reset(q);
      /* Keep d referenced by the batch: if the batch fails, the retire is
       * rolled back and the undo below restores the scope. */
      bdict keep = {.d = d};
      PUSH(b->dicts, b->ndicts, b->dcap, keep);
      if (r != SQLITE_DONE)
        return sql_fail(st, u, "retire dictionary");
      d = NULL;
    } else if (st_dict_maps(st, d) != 0) {
      st_dict_release(st, d);
      return PYR_STORE_ENOMEM;
    }
  }
  if (!d) {
    sqlite3_stmt *q = st->w_ins_dict;
    sqlite3_bind_int64(q, 1, s->tenant->id);
    sqlite3_bind_text(q, 2, s->scope, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now);
    int r = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (r != SQLITE_DONE)
      return sql_fail(st, u, "insert dictionary");
    uint64_t id = (uint64_t)sqlite3_last_insert_rowid(st->wdb);
    d = st_dict_create(st, id, s->tenant->id);
    if (!d)
      return PYR_STORE_ENOMEM;
    struct scope_undo un = {sc, sc->dict, sc->created};
    PUSH(b->undo, b->nundo, b->ucap, un);
    sc->dict = id;
    sc->created = now;
    bdict nd = {.d = d, .created = true};
    PUSH(b->dicts, b->ndicts, b->dcap, nd);
    atomic_fetch_add_explicit(&st->s_dicts, 1, memory_order_relaxed);
  } else {
    bdict nd = {.d = d};
    PUSH(b->dicts, b->ndicts, b->dcap, nd);
  }
  *out = &b->dicts[b->ndicts - 1];
  return 0;
}

typedef struct pair {
  uint32_t id;
  int64_t v;
} pair;

/* LSD radix sort by id, 3 passes of 8 bits (ids < 2^24), tmp as scratch:
 * several times faster than qsort for the thousands of pairs per entry. */
static void sort_pairs(pair *a, pair *tmp, size_t n) {
  for (unsigned shift = 0; shift < 24; shift += 8) {
    size_t cnt[257] = {0};
    for (size_t i = 0; i < n; i++)
      cnt[((a[i].id >> shift) & 0xff) + 1]++;
    if (cnt[1] == n) /* every key has 0 in this digit */
      continue;
    for (size_t d = 0; d < 256; d++)
      cnt[d + 1] += cnt[d];
    for (size_t i = 0; i < n; i++)
      tmp[cnt[(a[i].id >> shift) & 0xff]++] = a[i];
    memcpy(a, tmp, n * sizeof(*a));
  }
}

static int write_entry(pyr_store *st, batch *b, st_upload *u, st_tenant *t, st_uentry *e) {
  st_series *s = NULL;
  bdict *bd = NULL;
  int rc;
  if ((rc = get_series(st, b, u, t, e, &s)) != 0 || (rc = get_dict(st, b, u, s, &bd)) != 0)
    return rc;
  if (e->n > b->pcap) {
    pair *np = realloc(b->pairs, e->n * 2 * sizeof(pair));
    if (!np)
      return PYR_STORE_ENOMEM;
    b->pairs = np;
    uint32_t *ni = realloc(b->ids, e->n * sizeof(*ni));
    if (!ni)
      return PYR_STORE_ENOMEM;
    b->ids = ni;
    int64_t *nv = realloc(b->vals, e->n * sizeof(int64_t));
    if (!nv)
      return PYR_STORE_ENOMEM;
    b->vals = nv;
    b->pcap = e->n;
  }
  pair *pr = b->pairs;
  for (size_t i = 0; i < e->n; i++) {
    uint32_t node;
    if (i + 8 < e->n) /* the node map is large: start the next misses early */
      st_hmap_prefetch(&bd->d->node_map, e->h[i + 8]);
    if (st_dict_intern(st, bd->d, e->memo, e->idx[i], e->h[i], &node) != 0) {
      snprintf(u->err, sizeof(u->err), "dictionary full or out of memory");
      return PYR_STORE_ENOMEM;
    }
    pr[i].id = node;
    pr[i].v = e->v[i];
  }
  sort_pairs(pr, pr + e->n, e->n);
  size_t m = 0;
  for (size_t i = 0; i < e->n; i++) {
    if (m && pr[m - 1].id == pr[i].id)
      pr[m - 1].v = (int64_t)((uint64_t)pr[m - 1].v + (uint64_t)pr[i].v);
    else
      pr[m++] = pr[i];
  }
  uint32_t *ids = b->ids;
  for (size_t i = 0; i < m; i++) {
    ids[i] = pr[i].id;
    b->vals[i] = pr[i].v;
  }
  st_penc pe = {.from = e->from, .until = e->until, .n = m, .ids = ids, .vals = b->vals};
  b->blob.n = 0;
  rc = st_block_encode(&b->blob, &pe, 1, st->o.compress_level, st->cctx, &b->raw);
  if (rc != 0)
    return PYR_STORE_ENOMEM;
  sqlite3_stmt *q = st->w_ins_profile;
  sqlite3_bind_int64(q, 1, (sqlite3_int64)s->pub.id);
  sqlite3_bind_int64(q, 2, (sqlite3_int64)bd->d->id);
  sqlite3_bind_int64(q, 3, e->from);
  sqlite3_bind_int64(q, 4, e->from);
  sqlite3_bind_blob(q, 5, b->blob.p, (int)b->blob.n, SQLITE_STATIC);
  int r = sqlite3_step(q);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  if (r != SQLITE_DONE)
    return sql_fail(st, u, "insert profile");
  bd->nprofiles++;
  if (!s->b_touched) {
    s->b_touched = true;
    s->b_n = 0;
    s->b_tmin = INT64_MAX;
    s->b_tmax = INT64_MIN;
    PUSH(b->series, b->nseries, b->scap, s);
  }
  s->b_n++;
  if (e->from < s->b_tmin)
    s->b_tmin = e->from;
  if (e->from > s->b_tmax)
    s->b_tmax = e->from;
  if (e->from < s->t_dirty)
    s->t_dirty = e->from;
  b->rows++;
  return 0;
}

/* Limits that fail one upload alone, checked before it touches anything. */
static int check_limits(pyr_store *st, st_upload *u, st_tenant *t) {
  size_t fresh = 0;
  for (size_t i = 0; i < u->n; i++) {
    st_uentry *e = &u->e[i];
    if (!e->n)
      continue;
    uint32_t tid = t ? t->id : 0;
    memcpy(e->key.p, &tid, 4);
    uint64_t h = st_hash64(&st->hk, 0, e->key.p, e->key.n);
    if (!t || !st_ptab_get(&st->series_by_key, h, series_eq, &e->key))
      fresh++;
  }
  size_t have = t ? t->nseries : 0;
  if (fresh && have + fresh > st->o.max_series) {
    snprintf(u->err, sizeof(u->err), "series limit reached for tenant '%.60s' (%u)", u->tenant,
             st->o.max_series);
    return PYR_STORE_ELIMIT;
  }
  return 0;
}

static int write_upload(pyr_store *st, batch *b, st_upload *u) {
  bool any = false;
  for (size_t i = 0; i < u->n; i++)
    any |= u->e[i].n > 0;
  if (!any)
    return 0;
  int rc = check_limits(st, u, st_tenant_find(st, u->tenant));
  if (rc != 0)
    return rc;
  st_tenant *t = NULL;
  if ((rc = get_tenant(st, b, u, &t)) != 0)
    return rc;
  for (size_t i = 0; i < u->n; i++) {
    if (u->e[i].n && (rc = write_entry(st, b, u, t, &u->e[i])) != 0)
      return rc;
  }
  return 0;
}

/* Writes dictionary chunks and counters; last step before COMMIT. */
static int batch_finish(pyr_store *st, batch *b) {
  for (size_t i = 0; i < b->ndicts; i++) {
    bdict *bd = &b->dicts[i];
    uint32_t nn, nl, ns;
    if (st_dict_chunk(st, bd->d, &b->blob, &nn, &nl, &ns) != 0)
      return PYR_STORE_ENOMEM;
    if (b->blob.n) {
      sqlite3_stmt *q = st->w_ins_chunk;
      sqlite3_bind_int64(q, 1, (sqlite3_int64)bd->d->id);
      sqlite3_bind_blob(q, 2, b->blob.p, (int)b->blob.n, SQLITE_STATIC);
      int r = sqlite3_step(q);
      sqlite3_reset(q);
      sqlite3_clear_bindings(q);
      if (r != SQLITE_DONE)
        return sql_fail(st, NULL, "insert chunk");
    }
    if (b->blob.n || bd->nprofiles) {
      sqlite3_stmt *q = st->w_upd_dict;
      sqlite3_bind_int64(q, 1, bd->nprofiles);
      sqlite3_bind_int64(q, 2, nn);
      sqlite3_bind_int64(q, 3, nl);
      sqlite3_bind_int64(q, 4, ns);
      sqlite3_bind_int64(q, 5, (sqlite3_int64)bd->d->id);
      int r = sqlite3_step(q);
      sqlite3_reset(q);
      if (r != SQLITE_DONE)
        return sql_fail(st, NULL, "update dictionary");
    }
  }
  for (size_t i = 0; i < b->nseries; i++) {
    st_series *s = b->series[i];
    sqlite3_stmt *q = st->w_upd_series;
    sqlite3_bind_int64(q, 1, s->b_n);
    sqlite3_bind_int64(q, 2, s->b_tmin);
    sqlite3_bind_int64(q, 3, s->b_tmax);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)s->pub.id);
    int r = sqlite3_step(q);
    sqlite3_reset(q);
    if (r != SQLITE_DONE)
      return sql_fail(st, NULL, "update series");
  }
  return 0;
}

static void batch_reset(batch *b) {
  b->ndicts = b->nseries = b->nfresh = b->ntenants = b->nundo = 0;
  b->rows = 0;
}

static void process_batch(pyr_store *st, batch *b, st_upload *list) {
  batch_reset(b);
  int brc = 0;
  bool began = st_sql_exec(st->wdb, "BEGIN IMMEDIATE", NULL, 0) == 0;
  if (!began)
    brc = PYR_STORE_EIO;
  for (st_upload *u = list; u && began; u = u->next) {
    u->rc = write_upload(st, b, u);
    if (u->rc == PYR_STORE_EIO || u->rc == PYR_STORE_ENOMEM) {
      brc = u->rc; /* the transaction may be half-done: fail the batch */
      break;
    }
  }
  if (!brc && began)
    brc = batch_finish(st, b);
  if (!brc && began && sqlite3_exec(st->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    brc = sql_fail(st, NULL, "commit");
  if (brc) {
    char msg[160];
    /* Classify before ROLLBACK resets the connection's error state. */
    if (brc == PYR_STORE_EIO && sql_is_full(st->wdb)) {
      brc = PYR_STORE_EFULL;
      atomic_fetch_add_explicit(&st->s_full_errors, 1, memory_order_relaxed);
      set_full(st, true);
      snprintf(msg, sizeof(msg), "storage full: %s", sqlite3_errmsg(st->wdb));
    } else {
      snprintf(msg, sizeof(msg), "storage write failed: %s", sqlite3_errmsg(st->wdb));
    }
    if (began && !sqlite3_get_autocommit(st->wdb))
      sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
    /* Undo in-memory effects of the rolled-back transaction.  Scopes
     * first: a fresh tenant's scopes are freed with the tenant. */
    for (size_t i = b->nundo; i-- > 0;) {
      b->undo[i].sc->dict = b->undo[i].dict;
      b->undo[i].sc->created = b->undo[i].created;
    }
    pthread_rwlock_wrlock(&st->cat_lock);
    for (size_t i = b->nfresh; i-- > 0;) {
      st_catalog_del_series(st, b->fresh[i]);
      free(b->fresh[i]);
    }
    for (size_t i = b->ntenants; i-- > 0;)
      catalog_del_tenant(st, b->tenants[i]);
    pthread_rwlock_unlock(&st->cat_lock);
    for (size_t i = 0; i < b->ndicts; i++) {
      if (b->dicts[i].created)
        atomic_fetch_sub_explicit(&st->s_dicts, 1, memory_order_relaxed);
      st_dict_drop(st, b->dicts[i].d); /* reloads from disk when next needed */
    }
    for (size_t i = 0; i < b->nseries; i++)
      b->series[i]->b_touched = false;
    for (st_upload *u = list; u; u = u->next) {
      if (u->rc == 0 || u->rc == PYR_STORE_EIO || u->rc == PYR_STORE_ENOMEM) {
        u->rc = brc;
        snprintf(u->err, sizeof(u->err), "%s", msg);
      }
    }
  } else {
    uint64_t nprof = 0;
    if (began)
      set_full(st, false);
    pthread_rwlock_wrlock(&st->cat_lock);
    for (size_t i = 0; i < b->nseries; i++) {
      st_series *s = b->series[i];
      s->pub.nprofiles += (uint64_t)s->b_n;
      nprof += (uint64_t)s->b_n;
      if (s->b_tmin < s->pub.t_min_ns)
        s->pub.t_min_ns = s->b_tmin;
      if (s->b_tmax > s->pub.t_max_ns)
        s->pub.t_max_ns = s->b_tmax;
      s->b_touched = false;
      s->b_new = false;
    }
    pthread_rwlock_unlock(&st->cat_lock);
    for (size_t i = 0; i < b->ndicts; i++) {
      pyr_store_dict *d = b->dicts[i].d;
      atomic_fetch_add_explicit(&st->s_dict_nodes,
                                st_dict_nnodes(d) - d->saved_nodes, memory_order_relaxed);
      atomic_fetch_add_explicit(&st->s_dict_locs,
                                atomic_load(&d->nlocs) - d->saved_locs, memory_order_relaxed);
      atomic_fetch_add_explicit(&st->s_dict_names,
                                atomic_load(&d->nnames) - d->saved_names, memory_order_relaxed);
      st_dict_mark_saved(d);
    }
    atomic_fetch_add_explicit(&st->s_profiles, nprof, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->s_rows, b->rows, memory_order_relaxed);
  }
  for (size_t i = 0; i < b->ndicts; i++)
    st_dict_release(st, b->dicts[i].d);
  atomic_fetch_add_explicit(&st->s_batches, 1, memory_order_relaxed);

  int64_t now = st_now_mono_ns();
  pthread_mutex_lock(&st->q_mu);
  for (st_upload *u = list, *next; u; u = next) {
    next = u->next;
    if (u->rc == 0)
      lat_record(st, now - u->t0);
    u->done = true; /* u lives on its caller's stack: last touch */
  }
  pthread_cond_broadcast(&st->q_done);
  pthread_mutex_unlock(&st->q_mu);
}

/* ---------------------------------------------------------- checkpoints */

/*
 * SQLite would checkpoint inside COMMIT on the writer thread (every 1000
 * pages), so the callers of that batch would wait for the database fsync.
 * Instead the wal hook (called by the writer after each commit) wakes a
 * checkpointer thread that runs PASSIVE checkpoints on its own connection,
 * concurrently with further commits.  PASSIVE never blocks the writer; when
 * it has copied every frame, the next write transaction starts the WAL over
 * from its beginning.  If readers or a steady stream of commits keep it
 * from catching up, the writer runs a RESTART checkpoint itself once the
 * WAL passes WAL_HARD_FRAMES, which bounds the WAL's size.
 */
#define WAL_SOFT_FRAMES 1000   /* wake the checkpointer (~4 MB) */
#define WAL_HARD_FRAMES 16384  /* writer checkpoints itself (~64 MB) */

static int wal_hook(void *ctx, sqlite3 *db, const char *name, int frames) {
  pyr_store *st = ctx;
  (void)db;
  (void)name;
  pthread_mutex_lock(&st->ck_mu);
  st->ck_frames = frames;
  if (frames >= WAL_SOFT_FRAMES)
    pthread_cond_signal(&st->ck_cv);
  pthread_mutex_unlock(&st->ck_mu);
  return SQLITE_OK;
}

static void *ckpt_main(void *arg) {
  pyr_store *st = arg;
  pthread_mutex_lock(&st->ck_mu);
  while (!st->ck_stop) {
    if (st->ck_frames < WAL_SOFT_FRAMES) {
      pthread_cond_wait(&st->ck_cv, &st->ck_mu);
      continue;
    }
    st->ck_frames = 0;
    pthread_mutex_unlock(&st->ck_mu);
    sqlite3_wal_checkpoint_v2(st->ckdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&st->ck_mu);
  }
  pthread_mutex_unlock(&st->ck_mu);
  return NULL;
}

/* Writer, between batches: bound the WAL if the checkpointer fell behind. */
static void wal_bound(pyr_store *st) {
  pthread_mutex_lock(&st->ck_mu);
  int frames = st->ck_frames;
  pthread_mutex_unlock(&st->ck_mu);
  if (frames >= WAL_HARD_FRAMES)
    sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
}

/* ------------------------------------------------------- writer thread */

/* While the disk is full and no upload comes, the writer tries a tiny
 * transaction this often, so that the "full" state (metrics) clears by
 * itself once space returns.  Uploads retry on their own anyway. */
#define FULL_PROBE_NS (PYR_STORE_NS_PER_SEC)

static void full_probe(pyr_store *st) {
  char sql[96];
  snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES('full_probe', %" PRId64 ")",
           st_now_real_ns());
  if (st_sql_exec(st->wdb, "BEGIN IMMEDIATE", NULL, 0) != 0)
    return;
  if (st_sql_exec(st->wdb, sql, NULL, 0) == 0 && st_sql_exec(st->wdb, "COMMIT", NULL, 0) == 0) {
    set_full(st, false);
    return;
  }
  if (!sqlite3_get_autocommit(st->wdb))
    sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
}

static void *writer_main(void *arg) {
  pyr_store *st = arg;
  batch b = {0};
  st_maint m = {0};
  int64_t next_maint = st_now_mono_ns(); /* a sweep at startup */
  int64_t next_probe = 0;                 /* full_probe, while s_full */
  int64_t last_step = 0, last_dur = 0;
  uint64_t started_ticket = 0;
  for (;;) {
    pthread_mutex_lock(&st->q_mu);
    for (;;) {
      if (st->q_head || st->stopping)
        break;
      int64_t now = st_now_mono_ns();
      if (m.phase != M_IDLE || st->maint_wanted > started_ticket || now >= next_maint)
        break;
      bool full = atomic_load_explicit(&st->s_full, memory_order_relaxed) != 0;
      if (full && now >= next_probe)
        break;
      struct timespec dl;
      clock_gettime(CLOCK_REALTIME, &dl);
      int64_t wait = next_maint - now;
      if (full && next_probe - now < wait)
        wait = next_probe - now;
      int64_t end = (int64_t)dl.tv_sec * PYR_STORE_NS_PER_SEC + dl.tv_nsec + wait;
      dl.tv_sec = end / PYR_STORE_NS_PER_SEC;
      dl.tv_nsec = end % PYR_STORE_NS_PER_SEC;
      pthread_cond_timedwait(&st->q_cv, &st->q_mu, &dl);
    }
    st_upload *list = st->q_head, *last = NULL;
    uint32_t taken = 0;
    for (st_upload *u = list; u && taken < st->o.batch_max; u = u->next) {
      last = u;
      taken++;
    }
    if (last) {
      st->q_head = last->next;
      if (!st->q_head)
        st->q_tail = NULL;
      last->next = NULL;
      st->q_len -= taken;
      pthread_cond_broadcast(&st->q_space);
    }
    bool stop = st->stopping && !st->q_head;
    uint64_t wanted = st->maint_wanted;
    bool busy = st->q_head != NULL;
    pthread_mutex_unlock(&st->q_mu);

    if (list && last) {
      process_batch(st, &b, list);
      wal_bound(st);
    } else if (atomic_load_explicit(&st->s_full, memory_order_relaxed) &&
               st_now_mono_ns() >= next_probe) {
      full_probe(st);
      next_probe = st_now_mono_ns() + FULL_PROBE_NS;
    }
    if (stop && !list)
      break;
    if (stop)
      continue; /* drain the queue first */

    int64_t now = st_now_mono_ns();
    if (m.phase == M_IDLE && (wanted > started_ticket || now >= next_maint)) {
      started_ticket = wanted;
      st_maint_start(st, &m, wanted);
    }
    int64_t gap = last_dur * MAINT_DUTY_FACTOR;
    if (gap < MAINT_MIN_GAP_NS)
      gap = MAINT_MIN_GAP_NS;
    if (m.phase != M_IDLE && (!busy || now - last_step >= gap)) {
      int r = st_maint_step(st, &m);
      last_step = st_now_mono_ns();
      last_dur = last_step - now;
      if (r < 0) {
        m.rc = PYR_STORE_EIO;
        fprintf(stderr, "pyrited: storage maintenance: %s\n", m.err);
      }
      if (r <= 0) {
        st_maint_end(st, &m);
        next_maint = st_now_mono_ns() + st->o.sweep_interval_ns;
      }
    }
  }
  if (m.phase != M_IDLE) {
    m.rc = PYR_STORE_ECLOSED;
    st_maint_end(st, &m);
  }
  free(m.list);
  free(m.dead);
  free(b.dicts);
  free(b.series);
  free(b.fresh);
  free(b.tenants);
  free(b.undo);
  free(b.pairs);
  free(b.ids);
  free(b.vals);
  st_buf_free(&b.blob);
  st_buf_free(&b.raw);
  return NULL;
}

int pyr_store_sweep(pyr_store *st, char *err, size_t errlen) {
  pthread_mutex_lock(&st->q_mu);
  if (st->stopping) {
    pthread_mutex_unlock(&st->q_mu);
    return PYR_STORE_ECLOSED;
  }
  uint64_t ticket = ++st->maint_wanted;
  pthread_cond_signal(&st->q_cv);
  while (st->maint_done < ticket && !(st->stopping && !st->writer_started))
    pthread_cond_wait(&st->q_done, &st->q_mu);
  int rc = st->maint_rc;
  if (rc)
    st_seterr(err, errlen, "%s", st->maint_err);
  pthread_mutex_unlock(&st->q_mu);
  return rc;
}

/* ------------------------------------------------------- open / close */

st_rconn *st_rconn_get(pyr_store *st) {
  pthread_mutex_lock(&st->rpool_mu);
  while (!st->rpool)
    pthread_cond_wait(&st->rpool_cv, &st->rpool_mu);
  st_rconn *c = st->rpool;
  st->rpool = c->next;
  pthread_mutex_unlock(&st->rpool_mu);
  return c;
}

void st_rconn_put(pyr_store *st, st_rconn *c) {
  pthread_mutex_lock(&st->rpool_mu);
  c->next = st->rpool;
  st->rpool = c;
  pthread_cond_signal(&st->rpool_cv);
  pthread_mutex_unlock(&st->rpool_mu);
}

static int open_readers(pyr_store *st, char *err, size_t errlen) {
  unsigned n = st->o.readers;
  st->rc_all = calloc(n, sizeof(*st->rc_all));
  if (!st->rc_all)
    return -1;
  for (unsigned i = 0; i < n; i++) {
    st_rconn *c = calloc(1, sizeof(*c));
    if (!c)
      return -1;
    st->rc_all[st->nrconns++] = c;
    if (open_conn(st->path, SQLITE_OPEN_READONLY, &c->db, err, errlen) != 0 ||
        prep(c->db,
             "SELECT dict, t_lo, t_hi, blob FROM profiles WHERE series=?1 AND t_lo >= ?2 AND"
             " t_lo <= ?3 AND t_hi >= ?4 ORDER BY t_lo",
             &c->rows, err, errlen) != 0)
      return -1;
    if (!(c->dctx = ZSTD_createDCtx()))
      return -1;
    c->next = st->rpool;
    st->rpool = c;
  }
  return 0;
}

static void ckpt_stop(pyr_store *st) {
  if (!st->ckpt_started)
    return;
  pthread_mutex_lock(&st->ck_mu);
  st->ck_stop = true;
  pthread_cond_signal(&st->ck_cv);
  pthread_mutex_unlock(&st->ck_mu);
  pthread_join(st->ckpt, NULL);
  st->ckpt_started = false;
}

static void store_free(pyr_store *st) {
  ckpt_stop(st);
  if (st->ckdb)
    sqlite3_close(st->ckdb);
  for (unsigned i = 0; i < st->nrconns; i++) {
    st_rconn *c = st->rc_all[i];
    sqlite3_finalize(c->rows);
    sqlite3_close(c->db);
    ZSTD_freeDCtx(c->dctx);
    st_block_free(&c->blk);
    free(c);
  }
  free(st->rc_all);
  sqlite3_stmt *ws[] = {st->w_ins_profile, st->w_upd_series, st->w_upd_dict, st->w_ins_chunk,
                        st->w_ins_series,  st->w_ins_tenant, st->w_ins_dict, st->w_retire_dict};
  for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++)
    sqlite3_finalize(ws[i]);
  if (st->wdb)
    sqlite3_close(st->wdb);
  st_cache_fini(st);
  for (size_t i = 0; st->series_by_key.item && i <= st->series_by_key.mask; i++)
    free(st->series_by_key.item[i]);
  st_ptab_free(&st->series_by_key);
  for (size_t i = 0; i < st->ntenant_ids; i++)
    tenant_free(st->tenant_by_id[i]);
  free(st->tenant_by_id);
  st_ptab_free(&st->tenants);
  ZSTD_freeCCtx(st->cctx);
  ZSTD_freeDCtx(st->wdctx);
  if (st->lock_fd >= 0)
    close(st->lock_fd); /* releases the flock */
  pthread_rwlock_destroy(&st->cat_lock);
  pthread_mutex_destroy(&st->rpool_mu);
  pthread_cond_destroy(&st->rpool_cv);
  pthread_mutex_destroy(&st->q_mu);
  pthread_cond_destroy(&st->q_cv);
  pthread_cond_destroy(&st->q_space);
  pthread_cond_destroy(&st->q_done);
  pthread_mutex_destroy(&st->lat_mu);
  pthread_mutex_destroy(&st->ck_mu);
  pthread_cond_destroy(&st->ck_cv);
  free(st->dir);
  free(st->path);
  free(st);
}

static void sanitize_opts(pyr_store_opts *o) {
  if (!o->readers)
    o->readers = 1;
  if (o->readers > 64)
    o->readers = 64;
  if (!o->queue_max)
    o->queue_max = 1;
  if (!o->batch_max)
    o->batch_max = 1;
  if (o->compress_level < 0)
    o->compress_level = 0;
  if (o->compress_level > 19)
    o->compress_level = 19;
  if (!o->dict_max_nodes || o->dict_max_nodes > ST_DICT_HARD_MAX / 2)
    o->dict_max_nodes = ST_DICT_HARD_MAX / 2; /* leave room for a batch's growth */
  if (o->sweep_interval_ns <= 0)
    o->sweep_interval_ns = 5 * 60 * PYR_STORE_NS_PER_SEC;
  if (!o->max_series)
    o->max_series = 1;
  if (o->compact_window_ns < 0)
    o->compact_window_ns = 0;
  if (o->compact_delay_ns < 0)
    o->compact_delay_ns = 0;
}

static void random_keys(st_hkey *hk) {
  uint8_t *p = (uint8_t *)hk;
  size_t got = 0;
  while (got < sizeof(*hk)) {
    ssize_t r = getrandom(p + got, sizeof(*hk) - got, 0);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  if (got < sizeof(*hk)) { /* no entropy source: still distinct per run */
    uint64_t x = (uint64_t)st_now_real_ns() ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < 12; i++)
      hk->k[i / 6][i % 6] = st_fmix(x += 0x9e3779b97f4a7c15ull);
  }
  for (size_t i = 0; i < 12; i++)
    hk->k[i / 6][i % 6] |= 1; /* odd multipliers */
}

/* ------------------------------------------------- damaged files at open */

/*
 * Before SQLite touches the files, look for damage it would hide:
 *  - a database whose header is not SQLite's, or whose size is not what
 *    its header says (truncated): SQLite would fail later, on some query,
 *    or (an empty file) silently start a new database;
 *  - a WAL whose header is invalid, or with a frame whose checksum fails
 *    but that is followed by valid frames ending in a commit: SQLite stops
 *    reading the WAL at the first bad frame and would silently drop every
 *    committed transaction after it (and overwrite them on the next
 *    write).  A bad *last* frame is normal: a write cut off by a crash,
 *    never acknowledged.
 * On damage, fills err and returns -1; the files are left as they are.
 */
#define DAMAGE_HELP                                                                          \
  " pyrited did not modify it. Keep a copy of the data directory, then restore the file "   \
  "from a backup, or salvage it (sqlite3 pyrite.db .recover | sqlite3 new.db), or move "     \
  "pyrite.db* aside to start with an empty store"

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* SQLite's WAL checksum over n bytes (a multiple of 8), continuing s. */
static void wal_cksum(bool big, const uint8_t *p, size_t n, uint32_t s[2]) {
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint32_t a = big ? be32(p + i) : (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 |
                                         (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24;
    uint32_t b = big ? be32(p + i + 4)
                     : (uint32_t)p[i + 4] | (uint32_t)p[i + 5] << 8 | (uint32_t)p[i + 6] << 16 |
                           (uint32_t)p[i + 7] << 24;
    s[0] += a + s[1];
    s[1] += b + s[0];
  }
}

/* Checks path-wal; *frames = valid frames before the end of the log. */
static int check_wal(const char *dbpath, uint64_t *frames, char *err, size_t errlen) {
  char path[4200];
  uint8_t hdr[32];
  uint8_t *buf = NULL;
  int rc = -1;
  *frames = 0;
  snprintf(path, sizeof(path), "%s-wal", dbpath);
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0; /* no WAL: nothing to replay */
  size_t got = fread(hdr, 1, sizeof(hdr), f);
  if (got == 0) {
    rc = 0; /* empty WAL (after a clean close or a checkpoint) */
    goto out;
  }
  uint32_t magic = got == 32 ? be32(hdr) : 0, pgsz = got == 32 ? be32(hdr + 8) : 0;
  uint32_t s[2] = {0, 0};
  bool big = magic & 1;
  if (got == 32)
    wal_cksum(big, hdr, 24, s);
  if (got < 32 || (magic & ~1u) != 0x377f0682u || be32(hdr + 4) != 3007000 || pgsz < 512 ||
      pgsz > 65536 || (pgsz & (pgsz - 1)) || s[0] != be32(hdr + 24) || s[1] != be32(hdr + 28)) {
    st_seterr(err, errlen,
              "write-ahead log '%.200s' is damaged: invalid header; it may hold committed "
              "uploads that SQLite would silently drop." DAMAGE_HELP,
              path);
    goto out;
  }
  buf = malloc(24 + (size_t)pgsz);
  if (!buf) {
    st_seterr(err, errlen, "out of memory");
    goto out;
  }
  uint64_t i = 0, bad = 0; /* bad: 1 + first frame whose checksum failed */
  while (fread(buf, 1, 24 + (size_t)pgsz, f) == 24 + (size_t)pgsz) {
    i++;
    /* Frames of an older log generation (other salts) end this one. */
    if (memcmp(buf + 8, hdr + 16, 8) != 0)
      break;
    wal_cksum(big, buf, 8, s);
    wal_cksum(big, buf + 24, pgsz, s);
    bool ok = s[0] == be32(buf + 16) && s[1] == be32(buf + 20);
    if (!ok) {
      if (!bad)
        bad = i;
      /* Continue the chain from the stored value: if later frames verify
       * against it, the damage is inside the log, not a torn tail. */
      s[0] = be32(buf + 16);
      s[1] = be32(buf + 20);
    } else if (!bad) {
      *frames = i;
    } else if (be32(buf + 4) != 0) { /* a valid commit frame after a bad one */
      st_seterr(err, errlen,
                "write-ahead log '%.200s' is damaged: frame %" PRIu64
                " fails its checksum but committed frames follow (up to frame %" PRIu64
                "); SQLite would silently drop those commits." DAMAGE_HELP,
                path, bad, i);
      goto out;
    }
  }
  rc = 0;
out:
  free(buf);
  fclose(f);
  return rc;
}

static int check_files(const char *path, char *err, size_t errlen) {
  uint64_t wal_frames = 0;
  if (check_wal(path, &wal_frames, err, errlen) != 0)
    return -1;
  struct stat sb;
  if (stat(path, &sb) != 0 || sb.st_size == 0) {
    /* Turning WAL mode on writes the database header, so a WAL with
     * frames next to a missing or empty database means the database was
     * lost: SQLite would build a new one and replay pages onto it. */
    if (wal_frames) {
      st_seterr(err, errlen,
                "database '%.200s' is missing or empty but its write-ahead log holds %" PRIu64
                " frames." DAMAGE_HELP,
                path, wal_frames);
      return -1;
    }
    return 0; /* a new store (SQLite writes the header on first use) */
  }
  uint8_t h[100];
  FILE *f = fopen(path, "rb");
  if (!f) {
    st_seterr(err, errlen, "cannot read database '%.200s': %s", path, strerror(errno));
    return -1;
  }
  size_t got = fread(h, 1, sizeof(h), f);
  fclose(f);
  if (got < sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0) {
    st_seterr(err, errlen,
              "database '%.200s' is damaged: %s." DAMAGE_HELP, path,
              got < sizeof(h) ? "shorter than a database header (truncated)"
                              : "not an SQLite database (its header is overwritten)");
    return -1;
  }
  uint32_t pgsz = (uint32_t)h[16] << 8 | h[17];
  if (pgsz == 1)
    pgsz = 65536;
  if (pgsz < 512 || pgsz > 65536 || (pgsz & (pgsz - 1))) {
    st_seterr(err, errlen, "database '%.200s' is damaged: invalid page size %u." DAMAGE_HELP,
              path, pgsz);
    return -1;
  }
  uint64_t pages = (uint64_t)sb.st_size / pgsz;
  uint32_t hdr_pages = be32(h + 28);
  bool hdr_valid = hdr_pages != 0 && memcmp(h + 24, h + 92, 4) == 0;
  /* With frames in the WAL a checkpoint may have been cut off between
   * writing page 1 and growing the file; SQLite finishes it from the WAL. */
  if ((uint64_t)sb.st_size % pgsz != 0 || (!wal_frames && hdr_valid && hdr_pages > pages)) {
    st_seterr(err, errlen,
              "database '%.200s' is damaged: truncated (%lld bytes, its header says %llu "
              "pages of %u bytes)." DAMAGE_HELP,
              path, (long long)sb.st_size, (unsigned long long)hdr_pages, pgsz);
    return -1;
  }
  return 0;
}

/* PRAGMA quick_check: every b-tree page and index parses (no content
 * checksums: blocks carry their own, see st_zcompress). */
static int quick_check(sqlite3 *db, const char *path, char *err, size_t errlen) {
  sqlite3_stmt *q = NULL;
  int rc = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &q, NULL) != SQLITE_OK) {
    st_seterr(err, errlen, "database '%.200s' is damaged: %s." DAMAGE_HELP, path,
              sqlite3_errmsg(db));
    goto out;
  }
  int r = sqlite3_step(q);
  const char *res = r == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
  if (res && strcmp(res, "ok") == 0) {
    rc = 0;
    goto out;
  }
  char what[201];
  snprintf(what, sizeof(what), "%s", res ? res : sqlite3_errmsg(db));
  for (char *p = what; *p; p++) /* quick_check reports several lines */
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  st_seterr(err, errlen, "database '%.200s' is damaged: quick_check: %s." DAMAGE_HELP, path,
            what);
out:
  sqlite3_finalize(q);
  return rc;
}

pyr_store *pyr_store_open(const char *dir, const pyr_store_opts *opts, char *err,
                          size_t errlen) {
  struct stat sb;
  if (!dir || !*dir) {
    st_seterr(err, errlen, "no data directory given");
    return NULL;
  }
  if (stat(dir, &sb) != 0) {
    st_seterr(err, errlen, "data dir '%.200s': %s", dir, strerror(errno));
    return NULL;
  }
  if (!S_ISDIR(sb.st_mode)) {
    st_seterr(err, errlen, "data dir '%.200s' is not a directory", dir);
    return NULL;
  }
  if (access(dir, W_OK | X_OK) != 0) {
    st_seterr(err, errlen, "data dir '%.200s' is not writable: %s", dir, strerror(errno));
    return NULL;
  }
  pyr_store *st = calloc(1, sizeof(*st));
  if (!st) {
    st_seterr(err, errlen, "out of memory");
    return NULL;
  }
  st->lock_fd = -1;
  if (opts)
    st->o = *opts;
  else
    pyr_store_opts_default(&st->o);
  sanitize_opts(&st->o);
  random_keys(&st->hk);
  st->root_h = st_stack_root(&st->hk);
  pthread_rwlock_init(&st->cat_lock, NULL);
  pthread_mutex_init(&st->rpool_mu, NULL);
  pthread_cond_init(&st->rpool_cv, NULL);
  pthread_mutex_init(&st->q_mu, NULL);
  pthread_cond_init(&st->q_cv, NULL);
  pthread_cond_init(&st->q_space, NULL);
  pthread_cond_init(&st->q_done, NULL);
  pthread_mutex_init(&st->lat_mu, NULL);
  pthread_mutex_init(&st->ck_mu, NULL);
  pthread_cond_init(&st->ck_cv, NULL);
  /* The cache is set up early so store_free can always tear it down. */
  pthread_mutex_init(&st->cache.mu, NULL);
  pthread_cond_init(&st->cache.cv, NULL);
  pthread_mutex_init(&st->cache.load_mu, NULL);
  st->cache.budget = st->o.cache_bytes;

  size_t dl = strlen(dir);
  st->dir = strdup(dir);
  st->path = malloc(dl + 32);
  char *lockpath = malloc(dl + 32);
  if (!st->dir || !st->path || !lockpath) {
    free(lockpath);
    st_seterr(err, errlen, "out of memory");
    goto fail;
  }
  snprintf(st->path, dl + 32, "%s/pyrite.db", dir);
  snprintf(lockpath, dl + 32, "%s/pyrite.db.lock", dir);
  /* One store per database: the in-memory catalog assumes a sole writer. */
  st->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (st->lock_fd < 0 || flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    st_seterr(err, errlen, "%s '%.200s': %s",
              st->lock_fd < 0 ? "cannot open" : "database in use by another process:",
              lockpath, strerror(errno));
    free(lockpath);
    goto fail;
  }
  free(lockpath);

  /* Never open (and let SQLite reset or extend) damaged files. */
  if (check_files(st->path, err, errlen) != 0)
    goto fail;
  if (open_conn(st->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->wdb, err, errlen) !=
      0)
    goto fail;
  if (st->o.startup_check && quick_check(st->wdb, st->path, err, errlen) != 0)
    goto fail;
  /* auto_vacuum only takes effect before the first table exists; it lets
   * the disk limit give pages back to the file system. */
  if (st_sql_exec(st->wdb, "PRAGMA auto_vacuum=INCREMENTAL", err, errlen) != 0)
    goto fail;
  {
    sqlite3_stmt *q;
    const char *mode = NULL;
    if (prep(st->wdb, "PRAGMA journal_mode=WAL", &q, err, errlen) != 0)
      goto fail;
    if (sqlite3_step(q) == SQLITE_ROW)
      mode = (const char *)sqlite3_column_text(q, 0);
    bool wal = mode && strcmp(mode, "wal") == 0;
    if (!wal)
      st_seterr(err, errlen, "cannot enable WAL on '%.200s': %s", st->path,
                sqlite3_errmsg(st->wdb));
    sqlite3_finalize(q);
    if (!wal)
      goto fail;
  }
  if (st_sql_exec(st->wdb,
                  st->o.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                  err, errlen) != 0 ||
      st_sql_exec(st->wdb,
                  "PRAGMA journal_size_limit=67108864; PRAGMA cache_size=-32768;"
                  " PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=OFF",
                  err, errlen) != 0)
    goto fail;
  if (st_sql_exec(st->wdb, "BEGIN IMMEDIATE", err, errlen) != 0 ||
      st_sql_exec(st->wdb, schema_sql, err, errlen) != 0) {
    sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
    goto fail;
  }
  {
    sqlite3_stmt *q;
    int64_t ver = -1;
    if (prep(st->wdb, "SELECT value FROM meta WHERE key='schema'", &q, err, errlen) != 0) {
      sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
      goto fail;
    }
    if (sqlite3_step(q) == SQLITE_ROW)
      ver = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (ver == -1) {
      char sql[80];
      snprintf(sql, sizeof(sql), "INSERT INTO meta VALUES('schema', %d)", SCHEMA_VERSION);
      if (st_sql_exec(st->wdb, sql, err, errlen) != 0) {
        sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
        goto fail;
      }
    } else if (ver != SCHEMA_VERSION) {
      sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
      st_seterr(err, errlen, "database '%.200s' has schema version %lld, this build reads %d",
                st->path, (long long)ver, SCHEMA_VERSION);
      goto fail;
    }
  }
  if (st_sql_exec(st->wdb, "COMMIT", err, errlen) != 0)
    goto fail;
  if (prep(st->wdb,
           "INSERT INTO profiles(series, dict, t_lo, t_hi, k, c, blob)"
           " VALUES(?1, ?2, ?3, ?4, 1, 0, ?5)",
           &st->w_ins_profile, err, errlen) != 0 ||
      prep(st->wdb,
           "UPDATE series SET nprofiles = nprofiles + ?1, t_min = min(coalesce(t_min, ?2), ?2),"
           " t_max = max(coalesce(t_max, ?3), ?3) WHERE id = ?4",
           &st->w_upd_series, err, errlen) != 0 ||
      prep(st->wdb,
           "UPDATE dicts SET nprofiles = nprofiles + ?1, nnodes = nnodes + ?2,"
           " nlocs = nlocs + ?3, nnames = nnames + ?4 WHERE id = ?5",
           &st->w_upd_dict, err, errlen) != 0 ||
      prep(st->wdb, "INSERT INTO dict_chunks(dict, blob) VALUES(?1, ?2)", &st->w_ins_chunk,
           err, errlen) != 0 ||
      prep(st->wdb, "INSERT INTO series(tenant, labels) VALUES(?1, ?2)", &st->w_ins_series,
           err, errlen) != 0 ||
      prep(st->wdb, "INSERT INTO tenants(name) VALUES(?1)", &st->w_ins_tenant, err, errlen) !=
          0 ||
      prep(st->wdb, "INSERT INTO dicts(tenant, scope, created) VALUES(?1, ?2, ?3)",
           &st->w_ins_dict, err, errlen) != 0 ||
      prep(st->wdb, "UPDATE dicts SET retired = 1 WHERE id = ?1", &st->w_retire_dict, err,
           errlen) != 0)
    goto fail;
  st->cctx = ZSTD_createCCtx();
  st->wdctx = ZSTD_createDCtx();
  if (!st->cctx || !st->wdctx) {
    st_seterr(err, errlen, "out of memory");
    goto fail;
  }
  if (load_catalog(st, err, errlen) != 0 || st_cache_init(st, st->path, err, errlen) != 0 ||
      open_readers(st, err, errlen) != 0)
    goto fail;
  /* Blocks never span more than one compaction window, so readers widen
   * their t_lo range by the largest window ever used (kept in meta). */
  if (st->o.compact_window_ns > st->max_span) {
    char sql[96];
    snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta VALUES('max_span', %" PRId64 ")",
             st->o.compact_window_ns);
    if (st_sql_exec(st->wdb, sql, err, errlen) != 0)
      goto fail;
    st->max_span = st->o.compact_window_ns;
  }
  st_used_bytes(st);
  if (open_conn(st->path, SQLITE_OPEN_READWRITE, &st->ckdb, err, errlen) != 0)
    goto fail;
  sqlite3_wal_autocheckpoint(st->wdb, 0);
  sqlite3_wal_hook(st->wdb, wal_hook, st);
  if (pthread_create(&st->ckpt, NULL, ckpt_main, st) != 0) {
    st_seterr(err, errlen, "cannot start the storage checkpoint thread");
    goto fail;
  }
  st->ckpt_started = true;
  if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
    st_seterr(err, errlen, "cannot start the storage writer thread");
    goto fail;
  }
  st->writer_started = true;
  return st;
fail:
  store_free(st);
  return NULL;
}

void pyr_store_close(pyr_store *st) {
  if (!st)
    return;
  pthread_mutex_lock(&st->q_mu);
  st->stopping = true;
  pthread_cond_broadcast(&st->q_cv);
  pthread_cond_broadcast(&st->q_space);
  pthread_mutex_unlock(&st->q_mu);
  if (st->writer_started)
    pthread_join(st->writer, NULL);
  pthread_mutex_lock(&st->q_mu);
  st->writer_started = false;
  pthread_cond_broadcast(&st->q_done);
  pthread_mutex_unlock(&st->q_mu);
  ckpt_stop(st);
  /* Fold the WAL into the database so the next open starts small. */
  sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
  store_free(st);
}

/* --------------------------------------------------------------- stats */

static int u32_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t file_size(const char *path, const char *suffix) {
  char p[4200];
  struct stat sb;
  snprintf(p, sizeof(p), "%s%s", path, suffix);
  return stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

void pyr_store_get_stats(pyr_store *st, pyr_store_stats *s) {
  memset(s, 0, sizeof(*s));
  pthread_rwlock_rdlock(&st->cat_lock);
  s->tenants = st->tenants.n;
  s->series = st->nseries;
  pthread_rwlock_unlock(&st->cat_lock);
#define LD(x) atomic_load_explicit(&st->x, memory_order_relaxed)
  s->profiles = LD(s_profiles);
  s->rows = LD(s_rows);
  s->dicts = LD(s_dicts);
  s->dict_nodes = LD(s_dict_nodes);
  s->dict_locs = LD(s_dict_locs);
  s->dict_names = LD(s_dict_names);
  s->uploads = LD(s_uploads);
  s->upload_errors = LD(s_upload_errors);
  s->batches = LD(s_batches);
  s->deleted_profiles = LD(s_deleted);
  s->full = LD(s_full);
  s->full_errors = LD(s_full_errors);
  s->corrupt_reads = LD(s_corrupt_reads);
  s->compacted_profiles = LD(s_compacted);
  s->bytes_used = LD(s_bytes_used);
  s->lat_count = LD(s_lat_count);
  s->lat_sum_ms = (double)LD(s_lat_sum_us) / 1000.0;
  uint64_t cum = 0;
  for (size_t i = 0; i < PYR_STORE_LAT_BUCKETS; i++) {
    cum += LD(s_lat_buckets[i]);
    s->lat_buckets[i] = cum;
  }
#undef LD
  s->bytes_on_disk = file_size(st->path, "") + file_size(st->path, "-wal");
  pthread_mutex_lock(&st->q_mu);
  s->queue_depth = st->q_len;
  pthread_mutex_unlock(&st->q_mu);
  pthread_mutex_lock(&st->cache.mu);
  s->cache_dicts = st->cache.ndicts;
  for (size_t i = 0; st->cache.map.item && i <= st->cache.map.mask; i++)
    if (st->cache.map.item[i])
      s->cache_bytes += atomic_load_explicit(&((pyr_store_dict *)st->cache.map.item[i])->mem,
                                             memory_order_relaxed);
  pthread_mutex_unlock(&st->cache.mu);
  uint32_t ring[4096];
  size_t n;
  pthread_mutex_lock(&st->lat_mu);
  n = st->lat_ring_n < 4096 ? (size_t)st->lat_ring_n : 4096;
  memcpy(ring, st->lat_ring, n * sizeof(ring[0]));
  pthread_mutex_unlock(&st->lat_mu);
  if (n) {
    qsort(ring, n, sizeof(ring[0]), u32_cmp);
    s->lat_p50_ms = ring[(n - 1) / 2] / 1000.0;
    s->lat_p99_ms = ring[(n - 1) * 99 / 100] / 1000.0;
  }
}

size_t pyr_store_metrics(pyr_store *st, char *buf, size_t len) {
  pyr_store_stats s;
  pyr_store_get_stats(st, &s);
  size_t at = 0;
#define OUT(...)                                                                             \
  do {                                                                                       \
    int n_ = snprintf(at < len ? buf + at : NULL, at < len ? len - at : 0, __VA_ARGS__);     \
    if (n_ > 0)                                                                              \
      at += (size_t)n_;                                                                      \
  } while (0)
#define GAUGE(name, help, v)                                                                 \
  OUT("# HELP pyrited_store_" name " " help "\n# TYPE pyrited_store_" name                    \
      " gauge\npyrited_store_" name " %" PRIu64 "\n",                                        \
      (uint64_t)(v))
#define COUNTER(name, help, v)                                                               \
  OUT("# HELP pyrited_store_" name " " help "\n# TYPE pyrited_store_" name                    \
      " counter\npyrited_store_" name " %" PRIu64 "\n",                                      \
      (uint64_t)(v))
  GAUGE("tenants", "Tenants with stored data.", s.tenants);
  GAUGE("series", "Stored series.", s.series);
  GAUGE("profiles", "Stored profiles.", s.profiles);
  GAUGE("rows", "Profile rows (single uploads and compacted blocks).", s.rows);
  GAUGE("dictionaries", "Stack dictionary generations.", s.dicts);
  GAUGE("dictionary_nodes", "Stored call-tree nodes.", s.dict_nodes);
  GAUGE("dictionary_frames", "Stored frames (name, line).", s.dict_locs);
  GAUGE("dictionary_names", "Stored function names.", s.dict_names);
  GAUGE("bytes_on_disk", "Size of the database and WAL files.", s.bytes_on_disk);
  GAUGE("bytes_used", "Database pages in use, in bytes.", s.bytes_used);
  GAUGE("queue_depth", "Uploads waiting for the writer.", s.queue_depth);
  GAUGE("cache_bytes", "Memory of cached dictionaries.", s.cache_bytes);
  GAUGE("disk_full", "1 while writes fail because the file system is full.", s.full);
  COUNTER("disk_full_errors_total", "Write transactions that failed for lack of disk space.",
          s.full_errors);
  COUNTER("corrupt_reads_total", "Reads that met a stored block or dictionary that does not decode.",
          s.corrupt_reads);
  COUNTER("uploads_total", "Uploads stored.", s.uploads);
  COUNTER("upload_errors_total", "Uploads that failed to store.", s.upload_errors);
  COUNTER("batches_total", "Write transactions committed or failed.", s.batches);
  COUNTER("deleted_profiles_total", "Profiles deleted by retention or the disk limit.",
          s.deleted_profiles);
  COUNTER("compacted_profiles_total", "Profiles rewritten into blocks.", s.compacted_profiles);
  OUT("# HELP pyrited_store_write_duration_seconds Upload queued to durable.\n"
      "# TYPE pyrited_store_write_duration_seconds histogram\n");
  for (size_t i = 0; i < PYR_STORE_LAT_BUCKETS; i++) {
    if (i < PYR_STORE_LAT_BUCKETS - 1)
      OUT("pyrited_store_write_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
          pyr_store_lat_bounds_ms[i] / 1000.0, s.lat_buckets[i]);
    else
      OUT("pyrited_store_write_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
          s.lat_buckets[i]);
  }
  OUT("pyrited_store_write_duration_seconds_sum %.6f\n", s.lat_sum_ms / 1000.0);
  OUT("pyrited_store_write_duration_seconds_count %" PRIu64 "\n", s.lat_count);
#undef GAUGE
#undef COUNTER
#undef OUT
  return at;
}
