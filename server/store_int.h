/*
 * store_int.h - internals shared by server/store*.c (not for other modules).
 *
 * Files:
 *  store_util.c  - hashing, varints, growable buffers, hash tables
 *  store_codec.c - profile block and dictionary chunk encodings
 *  store_dict.c  - dictionaries: in-memory generations, interning, cache
 *  store.c       - open/close, schema, catalog, writer thread, checkpoints
 *  store_maint.c - retention, disk limit, compaction, dictionary GC, vacuum
 *  store_read.c  - series listing, points, profile decoding, merge, check
 *
 * Threads (see store.c for the full story): one writer thread owns every
 * write to the database and every "writer-only" field below; readers use
 * pooled read connections.  Shared in-memory state is protected as noted
 * on each field: cat_lock (catalog rwlock), cache.mu (dictionary cache),
 * or atomics with release/acquire publication (dictionary arrays).
 */
#ifndef PYRITE_SERVER_STORE_INT_H
#define PYRITE_SERVER_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>
#include <zstd.h>

#include "store.h"

/* ------------------------------------------------------------ utilities */

typedef struct st_h128 {
  uint64_t a, b;
} st_h128;

/* Secret per-process hash keys: random at open, never persisted, so hash
 * collisions cannot be crafted by clients (identity of stacks, frames and
 * names in a dictionary is their 128-bit content hash, see store_dict.c). */
typedef struct st_hkey {
  uint64_t k[2][6];
} st_hkey;

uint64_t st_hash64(const st_hkey *hk, int lane, const void *p, size_t n);
static inline uint64_t st_fmix(uint64_t h) {
  h ^= h >> 33;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 33;
  h *= UINT64_C(0xc4ceb9fe1a85ec53);
  h ^= h >> 33;
  return h;
}
/* Both lanes in one pass over the bytes (names are hashed per upload). */
st_h128 st_hash128(const st_hkey *hk, const void *p, size_t n);
/* Frame identity: (name hash, line). */
static inline st_h128 st_frame_hash(st_h128 name, int64_t line) {
  st_h128 h;
  h.a = st_fmix(name.a ^ ((uint64_t)line * UINT64_C(0x9e3779b97f4a7c15)));
  h.b = st_fmix((name.b + (uint64_t)line) * UINT64_C(0xc2b2ae3d27d4eb4f) + 0x27d4eb2f165667c5u);
  return h;
}
static inline uint64_t st_mum(uint64_t a, uint64_t b) {
  unsigned __int128 r = (unsigned __int128)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}
/* Stack prefix identity: order-sensitive chain of frame hashes, one
 * folded 64x64->128 multiply per lane (the wyhash mixing step); the lanes
 * feed each other so neither can be matched alone.  The frame hashes are
 * keyed, so the inputs are unpredictable to clients. */
static inline st_h128 st_stack_step(st_h128 h, st_h128 f) {
  st_h128 r;
  r.a = st_mum(h.a ^ f.a, h.b ^ UINT64_C(0xa0761d6478bd642f));
  r.b = st_mum(h.b ^ f.b, h.a ^ UINT64_C(0xe7037ed1a0b428db));
  return r;
}
st_h128 st_stack_root(const st_hkey *hk);

typedef struct st_buf {
  uint8_t *p;
  size_t n, cap;
} st_buf;

int st_buf_reserve(st_buf *b, size_t add); /* 0 or -1 (ENOMEM) */
void st_buf_free(st_buf *b);
static inline size_t st_uvarint_put(uint8_t *p, uint64_t v) {
  size_t i = 0;
  while (v >= 0x80) {
    p[i++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[i++] = (uint8_t)v;
  return i;
}
/* Appends; the caller reserved 10 bytes per varint. */
static inline void st_buf_uv(st_buf *b, uint64_t v) { b->n += st_uvarint_put(b->p + b->n, v); }

/* One zstd frame at `level` with a content checksum (XXH64, 4 bytes), so
 * that a bit flip in a stored block or chunk is a decode error rather than
 * silently different data.  cctx may be NULL (a temporary one is used).
 * Returns the frame size or a zstd error code (ZSTD_isError). */
size_t st_zcompress(ZSTD_CCtx *cctx, void *dst, size_t cap, const void *src, size_t n, int level);
static inline uint64_t st_zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t st_unzz(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }
/* Reads a varint from [*p, end); returns 0 or -1 (truncated/overlong). */
static inline int st_uv_get(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  const uint8_t *s = *p;
  if (s < end && *s < 0x80) { /* fast path: one byte */
    *v = *s;
    *p = s + 1;
    return 0;
  }
  uint64_t r = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (s >= end)
      return -1;
    uint8_t c = *s++;
    r |= (uint64_t)(c & 0x7f) << shift;
    if (c < 0x80) {
      *v = r;
      *p = s;
      return 0;
    }
  }
  return -1;
}

/* Insert-only map st_h128 -> uint32 (value 0 = absent), linear probing,
 * load <= 0.7.  A slot keeps 96 bits of the key (16 bytes per slot): for
 * the 2^24 entries a dictionary may hold, the chance that two different
 * keys agree on 96 random bits is ~2^-49. */
typedef struct st_hslot {
  uint64_t a;
  uint32_t b, v;
} st_hslot;
typedef struct st_hmap {
  st_hslot *s;
  size_t mask, n; /* capacity mask+1 (power of two, or 0), entries */
} st_hmap;

uint32_t st_hmap_get(const st_hmap *m, st_h128 k);
/* Hint: k will be looked up soon (hides the cache miss of big maps). */
static inline void st_hmap_prefetch(const st_hmap *m, st_h128 k) {
  if (m->s)
    __builtin_prefetch(&m->s[(size_t)(k.a ^ (k.a >> 29)) & m->mask]);
}
int st_hmap_put(st_hmap *m, st_h128 k, uint32_t v); /* 0 or -1; k not present */
void st_hmap_free(st_hmap *m);
static inline size_t st_hmap_bytes(const st_hmap *m) {
  return m->s ? (m->mask + 1) * sizeof(st_hslot) : 0;
}

/* Pointer table keyed by a 64-bit hash, with caller equality. */
typedef struct st_ptab {
  void **item;
  uint64_t *h;
  size_t mask, n;
} st_ptab;
typedef int (*st_ptab_eq)(const void *item, const void *key);
void *st_ptab_get(const st_ptab *t, uint64_t h, st_ptab_eq eq, const void *key);
int st_ptab_put(st_ptab *t, uint64_t h, void *item);
void st_ptab_del(st_ptab *t, uint64_t h, const void *item);
void st_ptab_free(st_ptab *t);
/* Iteration: for (size_t i = 0; i <= t->mask && t->item; i++) if (t->item[i]) ... */

int64_t st_now_mono_ns(void);
int64_t st_now_real_ns(void);
void st_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- codec */

/* A decoded block row: k profiles sharing one dictionary.  Headers are
 * outside the compressed part, so totals need no decompression. */
typedef struct st_phdr {
  int64_t from, until, total;
  uint32_t n;     /* pairs */
  uint64_t scale; /* every value is a multiple of it (>= 1) */
} st_phdr;

typedef struct st_block {
  uint32_t k;
  uint8_t version;
  st_phdr *hdr;      /* k headers */
  size_t npairs;     /* sum of hdr[i].n */
  uint32_t *ids;     /* npairs, profile after profile, ascending within one */
  int64_t *vals;     /* npairs, already multiplied by scale */
  /* scratch, reused across decodes */
  size_t hdr_cap, pair_cap;
  st_buf raw;
} st_block;

/* Decodes headers only (ids/vals untouched).  0 or -1. */
int st_block_decode_headers(st_block *b, const uint8_t *p, size_t len);
/* Decodes everything.  dctx may be NULL (one is made).  0 or -1. */
int st_block_decode(st_block *b, const uint8_t *p, size_t len, ZSTD_DCtx *dctx);
void st_block_free(st_block *b);

/* Adds the values of the profiles of a block whose time is within
 * [start, end] into acc[id] (the merge's inner loop, without unpacking
 * per-profile arrays).  ensure(ctx, max_id, &acc) is called first with the
 * largest id of the block and must make acc hold it (0) or fail (-1).
 * *nprof counts the profiles added.  0 or -1 (damaged block). */
typedef int (*st_acc_ensure)(void *ctx, uint32_t max_id, int64_t **acc);
int st_block_accumulate(st_block *b, const uint8_t *p, size_t len, ZSTD_DCtx *dctx,
                        int64_t start, int64_t end, st_acc_ensure ensure, void *ctx,
                        uint64_t *nprof);

/* One profile to encode: pairs sorted by id ascending, ids unique. */
typedef struct st_penc {
  int64_t from, until;
  size_t n;
  const uint32_t *ids;
  const int64_t *vals;
} st_penc;
/* Encodes k profiles (sorted by from) into out (appended). */
int st_block_encode(st_buf *out, const st_penc *p, size_t k, int level, ZSTD_CCtx *cctx,
                    st_buf *scratch);

/* ----------------------------------------------------------- dictionary */

/* Dictionary arrays are segmented: segment i holds ST_DSEG_BASE << i
 * entries, so small dictionaries stay small and nothing ever moves (readers
 * index without locks while the writer appends). */
#define ST_DSEG_SHIFT 8
#define ST_DSEG_BASE (1u << ST_DSEG_SHIFT)
#define ST_DSEG_MAX 17                     /* covers ids < 256 * (2^17 - 1) */
#define ST_DICT_HARD_MAX ((uint32_t)1 << 24) /* ids per array, hard */

static inline unsigned st_dseg(uint32_t id, uint32_t *off) {
  uint64_t x = (uint64_t)id + ST_DSEG_BASE;
  unsigned p = 63u - (unsigned)__builtin_clzll(x);
  *off = (uint32_t)(x - ((uint64_t)1 << p));
  return p - ST_DSEG_SHIFT;
}

typedef struct st_dnode {
  uint32_t parent; /* 0 = child of the root */
  uint32_t loc;
} st_dnode;
typedef struct st_dloc {
  uint32_t name;
  int64_t line;
} st_dloc;
typedef struct st_dname {
  const char *s;
  uint32_t len;
} st_dname;

typedef struct st_arena {
  struct st_arena *next;
  size_t used, cap;
  char data[];
} st_arena;

enum { ST_DICT_LOADING, ST_DICT_READY, ST_DICT_FAILED };

/*
 * One dictionary generation.  Entries are append-only; id 0 of every array
 * is reserved (root node / no loc / empty name), so counts start at 1.
 * Publication: the writer (or the loader, before the dictionary is READY)
 * fills an entry, then stores the count with release; readers load the
 * count with acquire and read only entries below it.  Chunk pointers are
 * set before the first entry in them is published and never change.
 */
struct pyr_store_dict {
  uint64_t id;
  uint32_t tenant;
  _Atomic uint32_t nnodes, nlocs, nnames;
  st_dnode *nodes[ST_DSEG_MAX];
  st_dloc *locs[ST_DSEG_MAX];
  st_dname *names[ST_DSEG_MAX];
  /* writer-only (or loader before READY) */
  st_arena *arena;
  bool maps; /* the three maps below are built (st_dict_maps) */
  st_hmap node_map, loc_map, name_map;
  uint32_t saved_nodes, saved_locs, saved_names; /* persisted counts */
  _Atomic size_t mem;                            /* bytes, for the cache budget */
  /* cache.mu */
  int refs, state;
  bool cached; /* in cache.map (false once dropped/poisoned) */
  struct pyr_store_dict *lru_prev, *lru_next;
  int64_t last_use;
};

static inline uint32_t st_dict_nnodes(const pyr_store_dict *d) {
  return atomic_load_explicit(&d->nnodes, memory_order_acquire);
}
static inline const st_dnode *st_dict_node(const pyr_store_dict *d, uint32_t id) {
  uint32_t off;
  unsigned seg = st_dseg(id, &off);
  return &d->nodes[seg][off];
}
static inline const st_dloc *st_dict_loc(const pyr_store_dict *d, uint32_t id) {
  uint32_t off;
  unsigned seg = st_dseg(id, &off);
  return &d->locs[seg][off];
}
static inline const st_dname *st_dict_name(const pyr_store_dict *d, uint32_t id) {
  uint32_t off;
  unsigned seg = st_dseg(id, &off);
  return &d->names[seg][off];
}

typedef struct st_cache {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  st_ptab map; /* dict id -> pyr_store_dict (cached ones) */
  pyr_store_dict *lru_head, *lru_tail; /* refs == 0 only; head = oldest */
  uint64_t budget;
  size_t ndicts;
  /* loader connection: a fresh read transaction per load (store_dict.c) */
  pthread_mutex_t load_mu;
  sqlite3 *load_db;
  sqlite3_stmt *load_stmt;
  ZSTD_DCtx *load_dctx;
} st_cache;

/* Per-profile memo of frame and stack hashes (computed by the writing
 * caller; entries for several columns of one profile share it). */
typedef struct st_pmemo {
  const pyr_prof *prof;
  st_h128 *loc_h; /* by profile loc id; a == b == 0: not computed */
  size_t loc_cap;
  st_h128 *str_h; /* by profile string id */
  uint8_t *str_ok;
  size_t str_cap;
  st_h128 *sample_h; /* by sample index, all computed at once */
} st_pmemo;

int st_pmemo_frame_slow(const st_hkey *hk, st_pmemo *m, uint32_t loc, st_h128 *out);
static inline int st_pmemo_frame(const st_hkey *hk, st_pmemo *m, uint32_t loc, st_h128 *out) {
  if (loc < m->loc_cap && (m->loc_h[loc].a | m->loc_h[loc].b)) {
    *out = m->loc_h[loc];
    return 0;
  }
  return st_pmemo_frame_slow(hk, m, loc, out);
}
void st_pmemo_free(st_pmemo *m);

int st_dict_acquire(pyr_store *st, uint64_t id, pyr_store_dict **out);
void st_dict_release(pyr_store *st, pyr_store_dict *d);
pyr_store_dict *st_dict_create(pyr_store *st, uint64_t id, uint32_t tenant);
void st_dict_drop(pyr_store *st, pyr_store_dict *d); /* forget (poisoned or deleted) */
void st_dict_forget(pyr_store *st, uint64_t id);     /* same, by id, if cached */
void st_dict_trim(pyr_store *st);                    /* evict to the budget */
/* Writer: builds the lookup maps of d if missing (only the writer needs
 * them; dictionaries loaded for reads stay without).  0 or -1. */
int st_dict_maps(pyr_store *st, pyr_store_dict *d);
/* Writer: node id of the stack of sample `idx` of m->prof whose full hash is
 * h.  Returns 0 or -1 (dictionary full / ENOMEM). */
int st_dict_intern(pyr_store *st, pyr_store_dict *d, st_pmemo *m, size_t idx, st_h128 h,
                   uint32_t *node);
/* Writer: encodes entries added since the last saved chunk (0 if none). */
int st_dict_chunk(pyr_store *st, pyr_store_dict *d, st_buf *out, uint32_t *nn, uint32_t *nl,
                  uint32_t *ns);
void st_dict_mark_saved(pyr_store_dict *d);
/* Decodes one chunk into d (loader, pyr_store_check).  0 or -1. */
int st_dict_apply_chunk(pyr_store *st, pyr_store_dict *d, const uint8_t *p, size_t len,
                        ZSTD_DCtx *dctx);
/* A dictionary outside the cache (pyr_store_check); free with st_dict_free. */
pyr_store_dict *st_dict_new_detached(uint64_t id);
void st_dict_free(pyr_store_dict *d);
int st_cache_init(pyr_store *st, const char *path, char *err, size_t errlen);
void st_cache_fini(pyr_store *st);

/* -------------------------------------------------------------- catalog */

typedef struct st_tenant {
  uint32_t id;
  char *name;
  uint64_t hash;
  struct st_series **series; /* cat_lock */
  size_t nseries, cap;
  st_ptab scopes;            /* writer-only: service -> st_scope */
} st_tenant;

/* Current dictionary generation of one (tenant, service_name). */
typedef struct st_scope {
  char *name;
  uint64_t hash;
  uint64_t dict;   /* 0 = none yet */
  int64_t created; /* store clock */
} st_scope;

typedef struct st_series {
  pyr_store_series pub; /* t_min/t_max/nprofiles: written under cat_lock */
  st_tenant *tenant;
  const char *scope;    /* service_name value or "" (inside pub.labels) */
  uint8_t *key;         /* tenant id + canonical labels: identity */
  size_t keylen;
  uint64_t hash;
  size_t idx;           /* in tenant->series */
  /* writer-only */
  int64_t t_dirty;      /* min from of uncompacted rows; INT64_MAX = none */
  int64_t b_n, b_tmin, b_tmax; /* counter deltas of the running batch */
  bool b_touched, b_new;
} st_series;

/* ----------------------------------------------------------------- store */

typedef struct st_rconn {
  sqlite3 *db;
  sqlite3_stmt *rows;  /* dict, t_lo, t_hi, blob of a series in a t_lo range */
  ZSTD_DCtx *dctx;
  st_block blk;
  struct st_rconn *next;
} st_rconn;

struct st_upload;

struct pyr_store {
  char *dir, *path;
  int lock_fd; /* flock on DIR/pyrite.db.lock: one store per database */
  pyr_store_opts o;
  st_hkey hk;
  st_h128 root_h;

  /* catalog: tenants and series (cat_lock; the writer reads unlocked) */
  pthread_rwlock_t cat_lock;
  st_ptab tenants;       /* by name */
  st_tenant **tenant_by_id;
  size_t ntenant_ids;
  st_ptab series_by_key;
  uint64_t nseries;

  st_cache cache;

  /* readers */
  pthread_mutex_t rpool_mu;
  pthread_cond_t rpool_cv;
  st_rconn *rpool;
  st_rconn **rc_all;  /* every read connection, for close */
  unsigned nrconns;

  /* writer */
  sqlite3 *wdb;
  sqlite3_stmt *w_ins_profile, *w_upd_series, *w_upd_dict, *w_ins_chunk, *w_ins_series,
      *w_ins_tenant, *w_ins_dict, *w_retire_dict;
  ZSTD_CCtx *cctx;
  ZSTD_DCtx *wdctx;
  pthread_t writer;
  bool writer_started;

  /* checkpointer (ck_mu): copies WAL frames into the database in the
   * background so commits never wait for it (store.c) */
  sqlite3 *ckdb;
  pthread_t ckpt;
  bool ckpt_started, ck_stop;
  pthread_mutex_t ck_mu;
  pthread_cond_t ck_cv;
  int ck_frames; /* WAL frames after the last commit (from the wal hook) */
  int64_t max_span;     /* >= t_hi - t_lo of every row; constant after open */

  /* queue (q_mu) */
  pthread_mutex_t q_mu;
  pthread_cond_t q_cv;    /* writer waits for work */
  pthread_cond_t q_space; /* callers wait for room */
  pthread_cond_t q_done;  /* callers wait for their upload */
  struct st_upload *q_head, *q_tail;
  uint32_t q_len;
  bool stopping;
  uint64_t maint_wanted, maint_done; /* sweep tickets */
  int maint_rc;
  char maint_err[160];

  /* stats (atomics; relaxed: counters only) */
  _Atomic uint64_t s_profiles, s_rows, s_uploads, s_upload_errors, s_batches, s_deleted,
      s_compacted, s_dict_nodes, s_dict_locs, s_dict_names, s_dicts, s_lat_count,
      s_lat_sum_us;
  _Atomic uint64_t s_lat_buckets[PYR_STORE_LAT_BUCKETS];
  _Atomic uint64_t s_bytes_used;
  /* Disk full (PYR_STORE_EFULL): s_full is set by the writer when a batch
   * fails for lack of space and cleared by the next successful commit or
   * probe; read by anyone (/ready, metrics). */
  _Atomic uint64_t s_full, s_full_errors, s_corrupt_reads;
  pthread_mutex_t lat_mu;
  uint32_t lat_ring[4096]; /* recent latencies, microseconds */
  uint64_t lat_ring_n;
};

/* ---------------------------------------------------------- maintenance */

enum { M_IDLE, M_RETENTION, M_DISK, M_COMPACT, M_GC, M_VACUUM, M_CHECKPOINT };

typedef struct st_maint {
  int phase;
  uint64_t ticket;
  st_series **list; /* snapshot of series for the running phase */
  size_t n, cap, at;
  st_series **dead; /* removed from the catalog, freed at cycle end */
  size_t ndead, dcap;
  int64_t cutoff;
  int64_t step;       /* disk limit: cutoff advance */
  uint64_t pass_gone; /* disk limit: profiles deleted in the current pass */
  unsigned passes;
  int rc;
  char err[160];
} st_maint;

void st_maint_start(pyr_store *st, st_maint *m, uint64_t ticket);
int st_maint_step(pyr_store *st, st_maint *m); /* 1 more, 0 done, -1 error */
void st_maint_end(pyr_store *st, st_maint *m);
uint64_t st_used_bytes(pyr_store *st); /* also refreshes s_bytes_used */
/* Removes (does not free) s from the catalog; caller holds cat_lock (w). */
void st_catalog_del_series(pyr_store *st, st_series *s);

int64_t st_clock(pyr_store *st);
st_rconn *st_rconn_get(pyr_store *st);
void st_rconn_put(pyr_store *st, st_rconn *c);
st_tenant *st_tenant_find(pyr_store *st, const char *name); /* caller holds cat_lock */
int st_sql_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

#endif /* PYRITE_SERVER_STORE_INT_H */
