/*
 * store_maint.c - the store's maintenance: retention, the disk limit,
 * compaction into column-major blocks, dictionary-generation GC,
 * incremental vacuum.  See docs/storage.md ("Maintenance").
 *
 * Threads: everything here runs on the writer thread (store.c), one
 * bounded step at a time between write batches, so it never races the
 * write path and never holds up writes for long: a step is one
 * transaction that deletes at most DELETE_STEP_ROWS rows of one series,
 * or compacts one window of one series, or deletes 16 generations.
 * Catalog changes are made under cat_lock (write), as in store.c.
 *
 * Invariants kept by every step (in its transaction): series.nprofiles
 * and dicts.nprofiles equal the profiles stored for them; a series with
 * no profile left is deleted; a generation is deleted only when retired
 * and unused; a crash between steps leaves a consistent database (each
 * step is all or nothing).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define BLOCK_MAX_PROFILES 4096 /* per compacted block */
#define COMPACT_MAX_ROWS 8192   /* rows read by one compaction step */
#define COMPACT_ZSTD_LEVEL 9    /* background work: worth more CPU than writes */
#define DELETE_STEP_ROWS 4096   /* rows deleted per maintenance transaction */
#define VACUUM_STEP_PAGES 4096

uint64_t st_used_bytes(pyr_store *st) {
  sqlite3_stmt *s;
  uint64_t r = 0;
  if (sqlite3_prepare_v2(st->wdb,
                         "SELECT (SELECT page_count FROM pragma_page_count()) -"
                         " (SELECT freelist_count FROM pragma_freelist_count()),"
                         " (SELECT page_size FROM pragma_page_size())",
                         -1, &s, NULL) != SQLITE_OK)
    return 0;
  if (sqlite3_step(s) == SQLITE_ROW)
    r = (uint64_t)sqlite3_column_int64(s, 0) * (uint64_t)sqlite3_column_int64(s, 1);
  sqlite3_finalize(s);
  atomic_store_explicit(&st->s_bytes_used, r, memory_order_relaxed);
  return r;
}

static int snapshot_series(pyr_store *st, st_maint *m, int64_t below) {
  m->n = m->at = 0;
  for (size_t i = 0; st->series_by_key.item && i <= st->series_by_key.mask; i++) {
    st_series *s = st->series_by_key.item[i];
    if (!s || s->pub.t_min_ns >= below)
      continue;
    if (m->n == m->cap) {
      size_t cap = m->cap ? m->cap * 2 : 64;
      st_series **a = realloc(m->list, cap * sizeof(*a));
      if (!a)
        return -1;
      m->list = a;
      m->cap = cap;
    }
    m->list[m->n++] = s;
  }
  return 0;
}

typedef struct ddelta {
  uint64_t id;
  int64_t n;
} ddelta;

/* Deletes up to DELETE_STEP_ROWS rows of s entirely older than cutoff in
 * one transaction.  Returns 1 if rows remain, 0 when done, -1 on error. */
static int delete_old(pyr_store *st, st_maint *m, st_series *s, int64_t cutoff) {
  sqlite3_stmt *q = NULL;
  ddelta dd[64];
  size_t ndd = 0;
  int64_t gone = 0, rows = 0;
  int rc = -1;
  bool more = false;
  if (st_sql_exec(st->wdb, "BEGIN IMMEDIATE", m->err, sizeof(m->err)) != 0)
    return -1;
  if (sqlite3_prepare_v2(st->wdb,
                         "DELETE FROM profiles WHERE id IN (SELECT id FROM profiles WHERE"
                         " series=?1 AND t_lo < ?2 AND t_hi < ?2 LIMIT ?3) RETURNING dict, k",
                         -1, &q, NULL) != SQLITE_OK)
    goto out;
  sqlite3_bind_int64(q, 1, (sqlite3_int64)s->pub.id);
  sqlite3_bind_int64(q, 2, cutoff);
  sqlite3_bind_int64(q, 3, DELETE_STEP_ROWS);
  int r;
  while ((r = sqlite3_step(q)) == SQLITE_ROW) {
    uint64_t did = (uint64_t)sqlite3_column_int64(q, 0);
    int64_t k = sqlite3_column_int64(q, 1);
    gone += k;
    rows++;
    size_t i = 0;
    while (i < ndd && dd[i].id != did)
      i++;
    if (i == ndd) {
      if (ndd == sizeof(dd) / sizeof(dd[0]))
        goto out; /* absurd: > 64 generations in one step */
      dd[ndd++] = (ddelta){did, 0};
    }
    dd[i].n += k;
  }
  sqlite3_finalize(q);
  q = NULL;
  if (r != SQLITE_DONE)
    goto out;
  more = rows == DELETE_STEP_ROWS;
  for (size_t i = 0; i < ndd; i++) {
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE dicts SET nprofiles = nprofiles - %" PRId64
                               " WHERE id = %" PRIu64, dd[i].n, dd[i].id);
    if (st_sql_exec(st->wdb, sql, m->err, sizeof(m->err)) != 0)
      goto out;
  }
  int64_t tmin = INT64_MAX, tmax = INT64_MIN;
  uint64_t left = s->pub.nprofiles >= (uint64_t)gone ? s->pub.nprofiles - (uint64_t)gone : 0;
  if (left) {
    if (sqlite3_prepare_v2(st->wdb,
                           "SELECT min(t_lo), max(t_hi) FROM profiles WHERE series=?1", -1,
                           &q, NULL) != SQLITE_OK)
      goto out;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)s->pub.id);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
      tmin = sqlite3_column_int64(q, 0);
      tmax = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    q = NULL;
  }
  char sql[200];
  if (left)
    snprintf(sql, sizeof(sql),
             "UPDATE series SET nprofiles=%" PRIu64 ", t_min=%" PRId64 ", t_max=%" PRId64
             " WHERE id=%" PRIu64,
             left, tmin, tmax, s->pub.id);
  else
    snprintf(sql, sizeof(sql), "DELETE FROM series WHERE id=%" PRIu64, s->pub.id);
  if (st_sql_exec(st->wdb, sql, m->err, sizeof(m->err)) != 0)
    goto out;
  if (st_sql_exec(st->wdb, "COMMIT", m->err, sizeof(m->err)) != 0)
    goto out;
  pthread_rwlock_wrlock(&st->cat_lock);
  s->pub.nprofiles = left;
  s->pub.t_min_ns = tmin;
  s->pub.t_max_ns = tmax;
  if (!left)
    st_catalog_del_series(st, s);
  pthread_rwlock_unlock(&st->cat_lock);
  if (!left) {
    if (m->ndead == m->dcap) {
      size_t cap = m->dcap ? m->dcap * 2 : 16;
      st_series **a = realloc(m->dead, cap * sizeof(*a));
      if (a) {
        m->dead = a;
        m->dcap = cap;
      }
    }
    if (m->ndead < m->dcap)
      m->dead[m->ndead++] = s;
  }
  atomic_fetch_sub_explicit(&st->s_profiles, (uint64_t)gone, memory_order_relaxed);
  atomic_fetch_sub_explicit(&st->s_rows, (uint64_t)rows, memory_order_relaxed);
  atomic_fetch_add_explicit(&st->s_deleted, (uint64_t)gone, memory_order_relaxed);
  m->pass_gone += (uint64_t)gone;
  rc = more ? 1 : 0;
out:
  if (rc < 0) {
    if (!m->err[0])
      snprintf(m->err, sizeof(m->err), "retention: %s", sqlite3_errmsg(st->wdb));
    sqlite3_finalize(q);
    if (!sqlite3_get_autocommit(st->wdb))
      sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
  }
  return rc;
}

/* One retention/disk step over the snapshot; 1 = more work. */
static int delete_step(pyr_store *st, st_maint *m) {
  while (m->at < m->n) {
    st_series *s = m->list[m->at];
    int r = delete_old(st, m, s, m->cutoff);
    if (r < 0)
      return -1;
    if (r == 0)
      m->at++;
    return 1;
  }
  return 0;
}

typedef struct crow {
  sqlite3_int64 id;
  uint64_t dict;
  int64_t c;
} crow;

typedef struct cprof {
  int64_t from, until;
  size_t off, n; /* into the gathered pair arrays */
} cprof;

static int cprof_cmp(const void *a, const void *b) {
  int64_t x = ((const cprof *)a)->from, y = ((const cprof *)b)->from;
  return x < y ? -1 : x > y;
}

/* Compacts the window containing s->t_dirty if it is closed.  Returns 1
 * if it did work, 0 if nothing was due, -1 on error. */
static int compact_series(pyr_store *st, st_maint *m, st_series *s, int64_t now) {
  int64_t W = st->o.compact_window_ns;
  if (s->t_dirty == INT64_MAX || W <= 0)
    return 0;
  int64_t ws = s->t_dirty - ((s->t_dirty % W) + W) % W;
  if (ws > INT64_MAX - 2 * W || ws + W + st->o.compact_delay_ns > now)
    return 0;
  int64_t we = ws + W;
  sqlite3_stmt *q = NULL;
  st_block blk = {0};
  crow *rows = NULL;
  size_t nrows = 0;
  cprof *profs = NULL;
  size_t nprofs = 0, pcap = 0;
  uint32_t *ids = NULL;
  int64_t *vals = NULL;
  size_t npairs = 0, vcap = 0;
  st_buf out = {0}, raw = {0};
  int rc = -1;
  if (st_sql_exec(st->wdb, "BEGIN IMMEDIATE", m->err, sizeof(m->err)) != 0)
    return -1;
  rows = malloc(COMPACT_MAX_ROWS * sizeof(*rows));
  if (!rows ||
      sqlite3_prepare_v2(st->wdb,
                         "SELECT id, dict, c, blob, k FROM profiles WHERE series=?1 AND"
                         " t_lo >= ?2 AND t_lo < ?3 AND (c = 0 OR k < ?4) ORDER BY dict, t_lo"
                         " LIMIT ?5",
                         -1, &q, NULL) != SQLITE_OK)
    goto out;
  sqlite3_bind_int64(q, 1, (sqlite3_int64)s->pub.id);
  sqlite3_bind_int64(q, 2, ws);
  sqlite3_bind_int64(q, 3, we);
  sqlite3_bind_int64(q, 4, BLOCK_MAX_PROFILES);
  sqlite3_bind_int64(q, 5, COMPACT_MAX_ROWS);
  /* Rows come grouped by dictionary; each group becomes one or more blocks. */
  int r = sqlite3_step(q);
  while (r == SQLITE_ROW) {
    uint64_t dict = (uint64_t)sqlite3_column_int64(q, 1);
    nrows = nprofs = npairs = 0;
    bool any_fresh = false;
    while (r == SQLITE_ROW && (uint64_t)sqlite3_column_int64(q, 1) == dict) {
      crow cr = {sqlite3_column_int64(q, 0), dict, sqlite3_column_int64(q, 2)};
      any_fresh |= cr.c == 0;
      rows[nrows++] = cr;
      const uint8_t *bp = sqlite3_column_blob(q, 3);
      int bn = sqlite3_column_bytes(q, 3);
      if (st_block_decode(&blk, bp, (size_t)bn, st->wdctx) != 0) {
        snprintf(m->err, sizeof(m->err), "compaction: profile row %lld does not decode",
                 (long long)cr.id);
        goto out;
      }
      size_t off = 0;
      for (uint32_t i = 0; i < blk.k; i++) {
        if (nprofs == pcap) {
          size_t cap = pcap ? pcap * 2 : 512;
          cprof *a = realloc(profs, cap * sizeof(*a));
          if (!a)
            goto out;
          profs = a;
          pcap = cap;
        }
        size_t n = blk.hdr[i].n;
        if (npairs + n > vcap) {
          size_t cap = vcap ? vcap : 1 << 16;
          while (cap < npairs + n)
            cap *= 2;
          uint32_t *ni = realloc(ids, cap * sizeof(*ni));
          if (!ni)
            goto out;
          ids = ni;
          int64_t *nv = realloc(vals, cap * sizeof(*nv));
          if (!nv)
            goto out;
          vals = nv;
          vcap = cap;
        }
        memcpy(ids + npairs, blk.ids + off, n * sizeof(*ids));
        memcpy(vals + npairs, blk.vals + off, n * sizeof(*vals));
        profs[nprofs++] = (cprof){blk.hdr[i].from, blk.hdr[i].until, npairs, n};
        npairs += n;
        off += n;
      }
      r = sqlite3_step(q);
    }
    if (nrows == 1 && rows[0].c != 0)
      continue; /* a lone block: nothing to merge */
    if (nrows == 1) { /* a lone fresh row: it already is a block of one */
      char sql[96];
      snprintf(sql, sizeof(sql), "UPDATE profiles SET c=1 WHERE id=%lld",
               (long long)rows[0].id);
      if (st_sql_exec(st->wdb, sql, m->err, sizeof(m->err)) != 0)
        goto out;
      continue;
    }
    (void)any_fresh;
    qsort(profs, nprofs, sizeof(*profs), cprof_cmp);
    for (size_t i = 0; i < nrows; i++) {
      char sql[96];
      snprintf(sql, sizeof(sql), "DELETE FROM profiles WHERE id=%lld", (long long)rows[i].id);
      if (st_sql_exec(st->wdb, sql, m->err, sizeof(m->err)) != 0)
        goto out;
    }
    for (size_t at = 0; at < nprofs;) {
      size_t k = nprofs - at < BLOCK_MAX_PROFILES ? nprofs - at : BLOCK_MAX_PROFILES;
      st_penc *pe = malloc(k * sizeof(*pe));
      if (!pe)
        goto out;
      for (size_t i = 0; i < k; i++) {
        cprof *c = &profs[at + i];
        pe[i] = (st_penc){c->from, c->until, c->n, ids + c->off, vals + c->off};
      }
      out.n = 0;
      /* Compaction runs in the background: spend more CPU on zstd. */
      int lvl = st->o.compress_level > 0 && st->o.compress_level < COMPACT_ZSTD_LEVEL
                    ? COMPACT_ZSTD_LEVEL
                    : st->o.compress_level;
      int er = st_block_encode(&out, pe, k, lvl, st->cctx, &raw);
      free(pe);
      if (er != 0)
        goto out;
      sqlite3_stmt *ins;
      if (sqlite3_prepare_v2(st->wdb,
                             "INSERT INTO profiles(series, dict, t_lo, t_hi, k, c, blob)"
                             " VALUES(?1, ?2, ?3, ?4, ?5, 1, ?6)",
                             -1, &ins, NULL) != SQLITE_OK)
        goto out;
      int64_t lo = profs[at].from, hi = profs[at + k - 1].from;
      sqlite3_bind_int64(ins, 1, (sqlite3_int64)s->pub.id);
      sqlite3_bind_int64(ins, 2, (sqlite3_int64)dict);
      sqlite3_bind_int64(ins, 3, lo);
      sqlite3_bind_int64(ins, 4, hi);
      sqlite3_bind_int64(ins, 5, (sqlite3_int64)k);
      sqlite3_bind_blob(ins, 6, out.p, (int)out.n, SQLITE_STATIC);
      int ir = sqlite3_step(ins);
      sqlite3_finalize(ins);
      if (ir != SQLITE_DONE)
        goto out;
      atomic_fetch_add_explicit(&st->s_rows, 1, memory_order_relaxed);
      at += k;
    }
    atomic_fetch_sub_explicit(&st->s_rows, nrows, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->s_compacted, nprofs, memory_order_relaxed);
  }
  if (r != SQLITE_DONE)
    goto out;
  sqlite3_finalize(q);
  q = NULL;
  /* Next fresh row of this series, if any. */
  if (sqlite3_prepare_v2(st->wdb, "SELECT min(t_lo) FROM profiles WHERE series=?1 AND c=0",
                         -1, &q, NULL) != SQLITE_OK)
    goto out;
  sqlite3_bind_int64(q, 1, (sqlite3_int64)s->pub.id);
  int64_t next = INT64_MAX;
  if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
    next = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  q = NULL;
  if (st_sql_exec(st->wdb, "COMMIT", m->err, sizeof(m->err)) != 0)
    goto out;
  s->t_dirty = next;
  rc = 1;
out:
  if (rc < 0) {
    if (!m->err[0])
      snprintf(m->err, sizeof(m->err), "compaction: %s", sqlite3_errmsg(st->wdb));
    if (!sqlite3_get_autocommit(st->wdb))
      sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
  }
  sqlite3_finalize(q);
  st_block_free(&blk);
  free(rows);
  free(profs);
  free(ids);
  free(vals);
  st_buf_free(&out);
  st_buf_free(&raw);
  return rc;
}

static int compact_step(pyr_store *st, st_maint *m) {
  int64_t now = st_clock(st);
  while (m->at < m->n) {
    st_series *s = m->list[m->at];
    int r = compact_series(st, m, s, now);
    if (r < 0)
      return -1;
    if (r == 0)
      m->at++; /* nothing due: next series */
    else
      return 1; /* did one window; maybe more of this series next step */
  }
  return 0;
}

/* Retires idle current generations and deletes unused retired ones. */
static int gc_step(pyr_store *st, st_maint *m) {
  int64_t now = st_clock(st);
  sqlite3_stmt *q = NULL;
  uint64_t ids[16];
  size_t n = 0;
  int rc = -1;
  if (st->o.dict_rotate_ns > 0) {
    /* Retire generations that are too old even without new writes, so an
     * app that stopped sending eventually frees its dictionary too. */
    for (size_t i = 0; i < st->ntenant_ids; i++) {
      st_tenant *t = st->tenant_by_id[i];
      for (size_t j = 0; t && t->scopes.item && j <= t->scopes.mask; j++) {
        st_scope *sc = t->scopes.item[j];
        if (sc && sc->dict && now - sc->created >= st->o.dict_rotate_ns) {
          char sql[96];
          snprintf(sql, sizeof(sql), "UPDATE dicts SET retired=1 WHERE id=%" PRIu64, sc->dict);
          if (st_sql_exec(st->wdb, sql, m->err, sizeof(m->err)) != 0)
            return -1;
          sc->dict = 0; /* next write starts a new generation */
        }
      }
    }
  }
  if (sqlite3_prepare_v2(st->wdb,
                         "SELECT id, nnodes, nlocs, nnames FROM dicts WHERE retired=1 AND"
                         " nprofiles <= 0 LIMIT 16",
                         -1, &q, NULL) != SQLITE_OK)
    goto out;
  uint64_t gn = 0, gl = 0, gs = 0;
  while (sqlite3_step(q) == SQLITE_ROW && n < 16) {
    ids[n++] = (uint64_t)sqlite3_column_int64(q, 0);
    gn += (uint64_t)sqlite3_column_int64(q, 1);
    gl += (uint64_t)sqlite3_column_int64(q, 2);
    gs += (uint64_t)sqlite3_column_int64(q, 3);
  }
  sqlite3_finalize(q);
  q = NULL;
  if (!n)
    return 0;
  if (st_sql_exec(st->wdb, "BEGIN IMMEDIATE", m->err, sizeof(m->err)) != 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    char sql[128];
    snprintf(sql, sizeof(sql),
             "DELETE FROM dict_chunks WHERE dict=%" PRIu64 "; DELETE FROM dicts WHERE id=%" PRIu64,
             ids[i], ids[i]);
    if (st_sql_exec(st->wdb, sql, m->err, sizeof(m->err)) != 0)
      goto out;
  }
  if (st_sql_exec(st->wdb, "COMMIT", m->err, sizeof(m->err)) != 0)
    goto out;
  for (size_t i = 0; i < n; i++)
    st_dict_forget(st, ids[i]);
  atomic_fetch_sub_explicit(&st->s_dicts, n, memory_order_relaxed);
  atomic_fetch_sub_explicit(&st->s_dict_nodes, gn, memory_order_relaxed);
  atomic_fetch_sub_explicit(&st->s_dict_locs, gl, memory_order_relaxed);
  atomic_fetch_sub_explicit(&st->s_dict_names, gs, memory_order_relaxed);
  rc = n == 16 ? 1 : 0;
out:
  if (rc < 0) {
    sqlite3_finalize(q);
    if (!sqlite3_get_autocommit(st->wdb))
      sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
  }
  return rc;
}

static int vacuum_step(pyr_store *st, st_maint *m) {
  sqlite3_stmt *q;
  int64_t freel = 0, pages = 0;
  if (sqlite3_prepare_v2(st->wdb,
                         "SELECT (SELECT freelist_count FROM pragma_freelist_count()),"
                         " (SELECT page_count FROM pragma_page_count())",
                         -1, &q, NULL) != SQLITE_OK)
    return -1;
  if (sqlite3_step(q) == SQLITE_ROW) {
    freel = sqlite3_column_int64(q, 0);
    pages = sqlite3_column_int64(q, 1);
  }
  sqlite3_finalize(q);
  /* Give space back to the file system when a sizeable part is free; the
   * rest is reused by new rows anyway. */
  if (freel < 32 || freel * 10 < pages)
    return 0;
  char sql[64];
  snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", VACUUM_STEP_PAGES);
  if (st_sql_exec(st->wdb, sql, m->err, sizeof(m->err)) != 0)
    return -1;
  return freel > VACUUM_STEP_PAGES ? 1 : 0;
}

/*
 * Disk limit: while the database uses more than max_bytes, delete the
 * oldest profiles, in passes over every series with a cutoff that starts
 * 1/16 of the stored time span above the oldest profile.  A pass that
 * frees nothing (the cutoff fell inside compacted blocks) doubles the
 * step, so every pass makes progress or ends the phase.
 */
static int disk_step(pyr_store *st, st_maint *m) {
  if (m->at < m->n) { /* a pass is running */
    int r = delete_step(st, m);
    return r < 0 ? -1 : 1;
  }
  if (m->passes && !m->pass_gone && m->cutoff == INT64_MAX)
    return 0; /* deleted everything deletable: the rest is dictionaries */
  if (st_used_bytes(st) <= st->o.max_bytes)
    return 0;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (size_t i = 0; st->series_by_key.item && i <= st->series_by_key.mask; i++) {
    st_series *s = st->series_by_key.item[i];
    if (s && s->pub.nprofiles) {
      lo = s->pub.t_min_ns < lo ? s->pub.t_min_ns : lo;
      hi = s->pub.t_max_ns > hi ? s->pub.t_max_ns : hi;
    }
  }
  if (lo == INT64_MAX)
    return 0;
  if (!m->passes || m->pass_gone) {
    m->step = (hi - lo) / 16;
    if (m->step < PYR_STORE_NS_PER_SEC)
      m->step = PYR_STORE_NS_PER_SEC;
  } else if (m->step < INT64_MAX / 2) {
    m->step *= 2;
  }
  m->cutoff = (lo > INT64_MAX - m->step || lo + m->step > hi) ? INT64_MAX : lo + m->step;
  m->pass_gone = 0;
  m->passes++;
  if (snapshot_series(st, m, m->cutoff) != 0)
    return -1;
  return 1;
}

/* Runs one bounded step of the maintenance cycle; 1 = more to do. */
int st_maint_step(pyr_store *st, st_maint *m) {
  int r = 0;
  switch (m->phase) {
  case M_RETENTION:
    r = st->o.retention_ns > 0 ? delete_step(st, m) : 0;
    if (r == 0) {
      m->phase = M_DISK;
      m->n = m->at = 0;
      r = 1;
    }
    break;
  case M_DISK:
    r = st->o.max_bytes ? disk_step(st, m) : 0;
    if (r == 0) {
      m->phase = M_COMPACT;
      if (snapshot_series(st, m, INT64_MAX) != 0)
        return -1;
      r = 1;
    }
    break;
  case M_COMPACT:
    r = st->o.compact_window_ns > 0 ? compact_step(st, m) : 0;
    if (r == 0) {
      m->phase = M_GC;
      r = 1;
    }
    break;
  case M_GC:
    r = gc_step(st, m);
    if (r == 0) {
      m->phase = M_VACUUM;
      r = 1;
    }
    break;
  case M_VACUUM:
    r = vacuum_step(st, m);
    if (r == 0) {
      m->phase = M_CHECKPOINT;
      r = 1;
    }
    break;
  case M_CHECKPOINT:
    sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    st_used_bytes(st);
    m->phase = M_IDLE;
    r = 0;
    break;
  default:
    r = 0;
  }
  return r;
}

void st_maint_start(pyr_store *st, st_maint *m, uint64_t ticket) {
  m->phase = M_RETENTION;
  m->ticket = ticket;
  m->rc = 0;
  m->err[0] = '\0';
  m->cutoff = st_clock(st) - st->o.retention_ns;
  m->n = m->at = 0;
  m->passes = 0;
  m->pass_gone = 0;
  if (st->o.retention_ns > 0 && snapshot_series(st, m, m->cutoff) != 0)
    m->n = 0;
}

void st_maint_end(pyr_store *st, st_maint *m) {
  for (size_t i = 0; i < m->ndead; i++)
    free(m->dead[i]);
  m->ndead = 0;
  m->phase = M_IDLE;
  pthread_mutex_lock(&st->q_mu);
  if (m->ticket > st->maint_done)
    st->maint_done = m->ticket;
  st->maint_rc = m->rc;
  snprintf(st->maint_err, sizeof(st->maint_err), "%s", m->err);
  pthread_cond_broadcast(&st->q_done);
  pthread_mutex_unlock(&st->q_mu);
}

