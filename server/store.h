/*
 * store.h - pyrited's durable embedded profile storage (SQLite, WAL).
 *
 * What: stores decoded profiles (profile.h) per tenant and series, durably,
 * and reads them back for queries: series listing, per-profile totals,
 * per-profile (stack, value) pairs, and a fast merge into a call tree.
 * Design, schema and measurements: docs/storage.md; the choice of SQLite:
 * docs/adr/0001-storage.md.
 *
 * Model:
 *  - tenant: a name (X-Scope-OrgID, "anonymous" by default).  Every key in
 *    the store includes the tenant; no call ever returns data of a tenant
 *    other than the one it was given.
 *  - series: tenant + a sorted label set (service_name, __name__,
 *    __profile_type__, ... as the ingest layer passes them) + one value
 *    column of one profile type.  The store adds the private labels
 *    __name__, __profile_type__, __type__, __unit__, __period_type__,
 *    __period_unit__ (and __service_name__ when service_name is set)
 *    derived from the profile's type and column when the caller did not
 *    pass them.
 *  - profile: one upload's values of one series: (series, from, until,
 *    pairs of (stack id, value)).  The profile's timestamp, used by every
 *    time filter, is `from`.
 *  - stacks live in a dictionary shared by all uploads of one (tenant,
 *    service_name): a stack id is a node of a call tree (parent, frame),
 *    a frame is (function name, line).  Stack ids are only meaningful
 *    together with their dictionary (pyr_store_dict).
 *
 * Durability: pyr_store_write() returns PYR_STORE_OK only after the
 * transaction holding the whole upload committed (WAL; synchronous=FULL by
 * default: survives kill -9 and power loss; NORMAL survives kill -9).
 * An upload is atomic: all of its entries are stored, or none.
 *
 * Threads: every function may be called from any thread concurrently,
 * except pyr_store_close() (once, after all other calls returned).  Writes
 * are funnelled to one writer thread that commits several uploads per
 * transaction (group commit); callers block until their upload is durable.
 * Reads run concurrently with writes on their own SQLite connections.
 * Callbacks run on the calling thread while store locks are held: they
 * must be quick and must not call back into the store.
 *
 * Times are nanoseconds since the Unix epoch; durations are nanoseconds.
 */
#ifndef PYRITE_SERVER_STORE_H
#define PYRITE_SERVER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"

/* Return codes (0 or negative). */
#define PYR_STORE_OK 0
#define PYR_STORE_EINVAL (-1) /* bad argument (labels, column, tenant, ...) */
#define PYR_STORE_EIO (-2)    /* the database failed (disk full, I/O error) */
#define PYR_STORE_EBUSY (-3)  /* write queue full for queue_timeout_ms */
#define PYR_STORE_ELIMIT (-4) /* a configured limit (max_series) was hit */
#define PYR_STORE_ENOMEM (-5)
#define PYR_STORE_ECLOSED (-6) /* the store is closing */
#define PYR_STORE_ECORRUPT (-7) /* damaged data: pyr_store_check, or a block
                                 * a read could not decode */
/* The file system is full (SQLITE_FULL, or an I/O error whose errno was
 * ENOSPC/EDQUOT).  Nothing was written; stored data is intact.  The store
 * stays "full" (pyr_store_is_full) until a write or the writer's periodic
 * probe succeeds again, so ingest recovers by itself once space returns. */
#define PYR_STORE_EFULL (-8)

/* Label limits (Pyroscope's validation defaults). */
#define PYR_STORE_MAX_LABELS 64
#define PYR_STORE_MAX_LABEL_NAME 1024
#define PYR_STORE_MAX_LABEL_VALUE 2048

#define PYR_STORE_NS_PER_SEC INT64_C(1000000000)

typedef struct pyr_store pyr_store;
typedef struct pyr_store_dict pyr_store_dict;

typedef struct pyr_store_opts {
  int sync_full;             /* 1 (default): synchronous=FULL; 0: NORMAL */
  int64_t retention_ns;      /* delete profiles older than now-retention; 0 = keep */
  uint64_t max_bytes;        /* delete oldest profiles beyond this; 0 = no limit */
  int64_t sweep_interval_ns; /* retention/disk-limit sweep period (default 5 min) */
  uint32_t queue_max;        /* uploads waiting for the writer (default 1024) */
  uint32_t queue_timeout_ms; /* a full queue fails a write after this (default 10 s) */
  uint32_t batch_max;        /* uploads per transaction at most (default 256) */
  uint32_t readers;          /* pooled read connections (default 4) */
  uint64_t cache_bytes;      /* in-memory dictionary budget (default 256 MiB) */
  uint32_t dict_max_nodes;   /* start a new dictionary generation beyond (default 2^21) */
  int64_t dict_rotate_ns;    /* ... or when the generation is older (default 24 h) */
  uint32_t max_series;       /* per tenant (default 100000) */
  int compress_level;        /* zstd level for blobs, 0 = store raw (default 3) */
  int64_t compact_window_ns; /* merge a series' profiles into blocks this long
                              * (default 1 h; 0 = never compact) */
  int64_t compact_delay_ns;  /* ... once the window ended this long ago (default 5 min) */
  /* Damage checks at open (docs/storage.md "Damaged files"): the database
   * header and size and the WAL's frame checksums are always checked;
   * 1 (default) also runs PRAGMA quick_check, which reads every page
   * (about 1 s per few hundred MB).  A failed check makes open fail with
   * a message naming the file; nothing is modified. */
  int startup_check;
  /* Clock for retention, rotation and compaction (tests, benchmarks);
   * NULL = CLOCK_REALTIME. */
  int64_t (*clock)(void *ctx);
  void *clock_ctx;
} pyr_store_opts;

void pyr_store_opts_default(pyr_store_opts *o);

/* "30d", "12h", "90m", "45s", "500ms", "2w" (a bare number = seconds) ->
 * nanoseconds.  Returns 0, or -1 when s is not a positive duration. */
int pyr_store_parse_duration(const char *s, int64_t *ns);
/* "10GB", "512MiB", "300m", "1048576" (k/m/g/t: powers of 1024) -> bytes.
 * Returns 0 or -1. */
int pyr_store_parse_size(const char *s, uint64_t *bytes);

/* Opens (creating if needed) the store in directory dir (which must exist)
 * and starts its writer and maintenance threads.  opts NULL = defaults.
 * On failure returns NULL with one line in err. */
pyr_store *pyr_store_open(const char *dir, const pyr_store_opts *opts, char *err,
                          size_t errlen);
/* Finishes queued writes, stops the threads, checkpoints and closes. */
void pyr_store_close(pyr_store *st);

const char *pyr_store_strerror(int rc);

/* ------------------------------------------------------------------ write */

typedef struct pyr_store_label {
  const char *name;
  const char *value;
} pyr_store_label;

/* Take every sample regardless of its sample-label set. */
#define PYR_STORE_ALL_LABELSETS UINT32_MAX

/* One series' profile inside an upload. */
typedef struct pyr_store_entry {
  const pyr_store_label *labels; /* series labels; any order; names unique */
  size_t nlabels;
  const pyr_prof *prof;          /* read during the call only */
  uint32_t column;               /* value column, < type->nvalues */
  uint32_t labelset;             /* only samples with this sample-label set
                                  * (0 = no labels), or PYR_STORE_ALL_LABELSETS.
                                  * The store does not add the set's labels to
                                  * the series: the caller passes them. */
  int64_t from_ns, until_ns;     /* 0, 0: the profile's own time (or now) */
} pyr_store_entry;

/*
 * Stores one upload (entries of one tenant) atomically and durably; blocks
 * until committed.  Samples whose value in the column is 0 are skipped; an
 * entry left without samples stores nothing.  Label values "" are dropped;
 * a repeated label name keeps its last value.  Returns PYR_STORE_OK or a
 * negative code with one line in err (err may be NULL).
 */
int pyr_store_write(pyr_store *st, const char *tenant, const pyr_store_entry *entries,
                    size_t n, char *err, size_t errlen);

/* ------------------------------------------------------------------- read */

typedef struct pyr_store_series {
  uint64_t id;
  const char *profile_type;      /* value of __profile_type__ */
  const pyr_store_label *labels; /* sorted by name (bytewise), incl. private */
  size_t nlabels;
  int64_t t_min_ns, t_max_ns;    /* oldest/newest profile timestamp */
  uint64_t nprofiles;
} pyr_store_series;

/* Which series (and which of their profiles) a read looks at. */
typedef struct pyr_store_query {
  const char *profile_type;        /* exact __profile_type__, NULL = any */
  const pyr_store_label *match;    /* exact label matches, all must hold */
  size_t nmatch;
  int64_t start_ns, end_ns;        /* profiles with start <= from <= end;
                                    * end 0 = no upper bound */
  /* Optional extra predicate (label regexes, !=): return 1 to keep. */
  int (*filter)(void *ctx, const pyr_store_series *s);
  void *filter_ctx;
} pyr_store_query;

/* Calls cb for each series of tenant that matches q (q NULL = all) and has
 * profiles overlapping its time range, in no particular order.  cb returns
 * 0 to continue, non-zero to stop (that value is returned).  Pointers in s
 * are valid during the callback only. */
typedef int (*pyr_store_series_cb)(void *ctx, const pyr_store_series *s);
int pyr_store_series_foreach(pyr_store *st, const char *tenant, const pyr_store_query *q,
                             pyr_store_series_cb cb, void *ctx);

/* Per-profile totals (sum of values) of the matching profiles, without
 * decoding stacks: what SelectSeries and timelines need.  Order: by series,
 * then by time. */
typedef int (*pyr_store_point_cb)(void *ctx, uint64_t series, int64_t from_ns,
                                  int64_t until_ns, int64_t total);
int pyr_store_points_foreach(pyr_store *st, const char *tenant, const pyr_store_query *q,
                             pyr_store_point_cb cb, void *ctx);

/* Every matching profile, decoded: n (stack id, value) pairs, stack ids
 * ascending, resolvable with pyr_store_dict_stack(dict, ...). */
typedef struct pyr_store_profile {
  uint64_t series;
  int64_t from_ns, until_ns;
  int64_t total;
  size_t n;
  const uint32_t *stacks;
  const int64_t *values;
  const pyr_store_dict *dict;
} pyr_store_profile;
typedef int (*pyr_store_profile_cb)(void *ctx, const pyr_store_profile *p);
int pyr_store_profiles_foreach(pyr_store *st, const char *tenant, const pyr_store_query *q,
                               pyr_store_profile_cb cb, void *ctx);

typedef struct pyr_store_frame {
  const char *name; /* not NUL-terminated */
  size_t len;
  int64_t line;
} pyr_store_frame;
/* Frames of a stack, root first: writes min(depth, max) frames, returns the
 * depth (0 for an unknown id). */
size_t pyr_store_dict_stack(const pyr_store_dict *d, uint32_t stack, pyr_store_frame *frames,
                            size_t max);

/*
 * Merged call tree of all matching profiles: values summed per stack.
 * Node 0 is the root ("total"); parent index < child index; siblings are
 * linked in bytewise name order, then line.  With PYR_STORE_MERGE_LINES,
 * frames differing only in line stay apart (pprof, `pyrite convert`);
 * without it they are merged and line is 0 (flame graphs).
 */
#define PYR_STORE_MERGE_LINES 1u

typedef struct pyr_store_tree_node {
  uint32_t parent;       /* root: 0 */
  uint32_t name;         /* index for pyr_store_tree_name; root: 0 = "total" */
  int64_t line;
  int64_t self, total;
  uint32_t first_child;  /* 0 = none */
  uint32_t next_sibling; /* 0 = none */
} pyr_store_tree_node;

typedef struct pyr_store_tree {
  pyr_store_tree_node *nodes;
  size_t nnodes;
  size_t nnames;
  uint64_t nprofiles;    /* profiles merged */
  int64_t total;         /* = nodes[0].total */
  /* private */
  char *name_bytes;
  size_t *name_off;      /* nnames + 1 offsets into name_bytes */
} pyr_store_tree;

int pyr_store_merge(pyr_store *st, const char *tenant, const pyr_store_query *q,
                    unsigned flags, pyr_store_tree **out, char *err, size_t errlen);
const char *pyr_store_tree_name(const pyr_store_tree *t, uint32_t name, size_t *len);
void pyr_store_tree_free(pyr_store_tree *t);

/* ------------------------------------------------------------ operations */

/* Latency buckets of the write histogram (upper bounds, ms), +Inf last. */
#define PYR_STORE_LAT_BUCKETS 12
extern const double pyr_store_lat_bounds_ms[PYR_STORE_LAT_BUCKETS - 1];

typedef struct pyr_store_stats {
  uint64_t tenants, series, profiles, rows;   /* rows: profiles + blocks on disk */
  uint64_t dicts, dict_nodes, dict_locs, dict_names; /* stored dictionary size */
  uint64_t bytes_on_disk;    /* db + wal files */
  uint64_t bytes_used;       /* db pages in use */
  uint64_t uploads, upload_errors, batches, queue_depth;
  uint64_t deleted_profiles; /* by retention or the disk limit */
  uint64_t full;             /* 1 while the file system is full (EFULL) */
  uint64_t full_errors;      /* batches failed with EFULL */
  uint64_t corrupt_reads;    /* reads that found a block that does not decode */
  uint64_t compacted_profiles;
  uint64_t cache_bytes, cache_dicts;
  /* write latency (enqueue -> durable) */
  uint64_t lat_count;
  double lat_sum_ms;
  uint64_t lat_buckets[PYR_STORE_LAT_BUCKETS]; /* cumulative counts */
  double lat_p50_ms, lat_p99_ms;               /* of the last 4096 writes */
} pyr_store_stats;

void pyr_store_get_stats(pyr_store *st, pyr_store_stats *s);
/* 1 while writes fail for lack of disk space (see PYR_STORE_EFULL). */
int pyr_store_is_full(pyr_store *st);
/* Appends Prometheus text exposition (pyrited_store_*) to buf; returns the
 * length it needed (like snprintf). */
size_t pyr_store_metrics(pyr_store *st, char *buf, size_t len);

/* Runs retention, the disk limit, compaction of closed windows and a WAL
 * checkpoint now and waits for them (the writer thread also does this
 * every sweep_interval). */
int pyr_store_sweep(pyr_store *st, char *err, size_t errlen);

/* Full consistency check: PRAGMA integrity_check, every dictionary chunk
 * and every profile blob decodes, stack ids within their dictionary,
 * counters match.  PYR_STORE_OK or PYR_STORE_ECORRUPT with the first
 * problem in err.  Reads the whole database: for tests and repair. */
int pyr_store_check(pyr_store *st, char *err, size_t errlen);

#endif /* PYRITE_SERVER_STORE_H */
