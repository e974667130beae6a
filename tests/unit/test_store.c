/*
 * test_store.c - the embedded profile store (server/store*.c): round trips
 * through write/merge/profiles/points, dictionary dedup, time ranges,
 * tenant isolation, retention and dictionary GC, the disk limit,
 * compaction, reopen, concurrent writers with a reader, label handling and
 * clear errors for a bad data directory.  Every test ends with
 * pyr_store_check (integrity + counters).
 *
 * Profiles are written from a compact text form, "frame:line;frame:line v"
 * (root first), and merges are compared in the same form, sorted.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include <sqlite3.h>

#include "profile.h"
#include "store.h"
#include "store_int.h" /* block codec, tested directly */

#define SEC INT64_C(1000000000)
#define DAY (86400 * SEC)
#define T0 (INT64_C(1700000000) * SEC)

/* ---------------------------------------------------------------- helpers */


static const pyr_prof_type mem_type = {
    .name = "memory",
    .nvalues = 2,
    .sample_type = {"alloc_in_new_tlab_objects", "alloc_in_new_tlab_bytes"},
    .sample_unit = {"count", "bytes"},
    .period_type = "space",
    .period_unit = "bytes",
    .period = 524288,
};

/* Adds "a:1;b:2 v1 [v2]" lines (root first) with sample label set ls. */
static void add_lines(pyr_prof *p, const char *text, uint32_t ls) {
  char *dup = strdup(text), *save = NULL;
  for (char *line = strtok_r(dup, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    uint32_t locs[256];
    uint32_t n = 0;
    int64_t vals[PYR_PROF_MAX_VALUES] = {0};
    char *sp = strchr(line, ' ');
    assert_non_null(sp);
    *sp = '\0';
    char *vs = sp + 1, *ve;
    for (uint32_t i = 0; i < pyr_prof_get_type(p)->nvalues; i++) {
      vals[i] = strtoll(vs, &ve, 10);
      vs = ve;
    }
    char *fsave = NULL;
    for (char *f = strtok_r(line, ";", &fsave); f; f = strtok_r(NULL, ";", &fsave)) {
      char *colon = strrchr(f, ':');
      int64_t ln = 0;
      size_t len = strlen(f);
      if (colon) {
        ln = strtoll(colon + 1, NULL, 10);
        len = (size_t)(colon - f);
      }
      int64_t name = pyr_prof_intern(p, f, len);
      assert_true(name >= 0);
      int64_t loc = pyr_prof_location(p, (uint32_t)name, ln);
      assert_true(loc > 0);
      locs[n++] = (uint32_t)loc;
    }
    assert_int_equal(pyr_prof_add(p, locs, n, ls, vals), PYR_PROF_OK);
  }
  free(dup);
}

static pyr_prof *mkprof(const pyr_prof_type *t, const char *text) {
  pyr_prof *p = pyr_prof_new(t, &pyr_prof_default_limits);
  assert_non_null(p);
  if (text)
    add_lines(p, text, 0);
  return p;
}

static pyr_store *open_store(const char *dir, const pyr_store_opts *o) {
  char err[256] = "";
  pyr_store *st = pyr_store_open(dir, o, err, sizeof(err));
  if (!st)
    fail_msg("open: %s", err);
  return st;
}

static void check_ok(pyr_store *st) {
  char err[256] = "";
  int rc = pyr_store_check(st, err, sizeof(err));
  if (rc != PYR_STORE_OK)
    fail_msg("check: %s", err);
}

/* Writes one upload of one entry. */
static int write1(pyr_store *st, const char *tenant, const char *service, pyr_prof *p,
                  uint32_t col, int64_t from) {
  pyr_store_label l[] = {{"service_name", service}, {"env", "test"}};
  pyr_store_entry e = {.labels = l,
                       .nlabels = 2,
                       .prof = p,
                       .column = col,
                       .labelset = PYR_STORE_ALL_LABELSETS,
                       .from_ns = from,
                       .until_ns = from + 10 * SEC};
  char err[256] = "";
  int rc = pyr_store_write(st, tenant, &e, 1, err, sizeof(err));
  if (rc != 0)
    print_error("write: %s\n", err);
  return rc;
}

/* Folded text of a merged tree (leaf-self lines, sorted, "\n"-joined). */
typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static int str_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *tree_folded(const pyr_store_tree *t, bool lines) {
  char **out = calloc(t->nnodes + 1, sizeof(*out));
  size_t nout = 0;
  for (size_t i = 1; i < t->nnodes; i++) {
    if (!t->nodes[i].self)
      continue;
    uint32_t path[512];
    size_t d = 0;
    for (uint32_t x = (uint32_t)i; x; x = t->nodes[x].parent)
      path[d++] = x;
    sbuf b = {0};
    sb_add(&b, "", 0);
    while (d--) {
      size_t len;
      const char *nm = pyr_store_tree_name(t, t->nodes[path[d]].name, &len);
      sb_add(&b, nm, len);
      if (lines) {
        char ln[32];
        int k = snprintf(ln, sizeof(ln), ":%lld", (long long)t->nodes[path[d]].line);
        sb_add(&b, ln, (size_t)k);
      }
      if (d)
        sb_add(&b, ";", 1);
    }
    char v[32];
    int k = snprintf(v, sizeof(v), " %lld", (long long)t->nodes[i].self);
    sb_add(&b, v, (size_t)k);
    out[nout++] = b.p;
  }
  qsort(out, nout, sizeof(*out), str_cmp);
  sbuf all = {0};
  sb_add(&all, "", 0);
  for (size_t i = 0; i < nout; i++) {
    if (i)
      sb_add(&all, "\n", 1);
    sb_add(&all, out[i], strlen(out[i]));
    free(out[i]);
  }
  free(out);
  return all.p;
}

static char *merge_folded(pyr_store *st, const char *tenant, const pyr_store_query *q,
                          unsigned flags, uint64_t *nprof) {
  pyr_store_tree *t = NULL;
  char err[256] = "";
  int rc = pyr_store_merge(st, tenant, q, flags, &t, err, sizeof(err));
  if (rc != 0)
    fail_msg("merge: %s", err);
  /* Tree invariants: totals add up, parents precede children, siblings
   * are sorted and partition the children. */
  int64_t sum_self = 0;
  for (size_t i = 0; i < t->nnodes; i++) {
    const pyr_store_tree_node *n = &t->nodes[i];
    sum_self += n->self;
    if (i)
      assert_true(n->parent < i);
    int64_t kids = 0;
    for (uint32_t c = n->first_child; c; c = t->nodes[c].next_sibling) {
      assert_int_equal(t->nodes[c].parent, i);
      kids += t->nodes[c].total;
      uint32_t nx = t->nodes[c].next_sibling;
      if (nx) {
        size_t la, lb;
        const char *a = pyr_store_tree_name(t, t->nodes[c].name, &la);
        const char *b = pyr_store_tree_name(t, t->nodes[nx].name, &lb);
        int cmp = strcmp(a, b);
        assert_true(cmp < 0 || (cmp == 0 && t->nodes[c].line < t->nodes[nx].line));
      }
    }
    assert_int_equal(n->total, n->self + kids);
  }
  assert_int_equal(sum_self, t->total);
  if (nprof)
    *nprof = t->nprofiles;
  char *s = tree_folded(t, flags & PYR_STORE_MERGE_LINES);
  pyr_store_tree_free(t);
  return s;
}

typedef struct count_ctx {
  size_t n;
  char last_type[128];
} count_ctx;

static int count_series(void *ctx, const pyr_store_series *s) {
  count_ctx *c = ctx;
  c->n++;
  snprintf(c->last_type, sizeof(c->last_type), "%s", s->profile_type);
  return 0;
}

static size_t nseries(pyr_store *st, const char *tenant, const pyr_store_query *q) {
  count_ctx c = {0};
  assert_int_equal(pyr_store_series_foreach(st, tenant, q, count_series, &c), 0);
  return c.n;
}

static pyr_store_stats stats(pyr_store *st) {
  pyr_store_stats s;
  pyr_store_get_stats(st, &s);
  return s;
}

/* ------------------------------------------------------------------ tests */

static const char *const CPU1 = "main:1;a:10;b:20 30\n"
                                "main:1;a:10;c:30 10\n"
                                "main:1;a:11 5\n"
                                "main:1 2\n";

static void test_roundtrip(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store *st = open_store(dir, NULL);
  pyr_prof *cpu = mkprof(&store_fixture_cpu_type, CPU1);
  pyr_prof *mem = mkprof(&mem_type, "main:1;alloc:5 3 300\n"
                                    "main:1;alloc:6 1 0\n"
                                    "main:1;a:10;alloc:5 2 4096\n");
  pyr_store_label l1[] = {{"service_name", "orders"}, {"env", "prod"}};
  pyr_store_label l2[] = {{"service_name", "orders"}, {"env", "prod"}};
  pyr_store_entry e[] = {
      {l1, 2, cpu, 0, PYR_STORE_ALL_LABELSETS, T0, T0 + 10 * SEC},
      {l2, 2, mem, 0, PYR_STORE_ALL_LABELSETS, T0, T0 + 10 * SEC},
      {l2, 2, mem, 1, PYR_STORE_ALL_LABELSETS, T0, T0 + 10 * SEC},
  };
  char err[256];
  assert_int_equal(pyr_store_write(st, "anonymous", e, 3, err, sizeof(err)), 0);
  assert_int_equal(nseries(st, "anonymous", NULL), 3);

  pyr_store_query q = {.profile_type = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"};
  assert_int_equal(nseries(st, "anonymous", &q), 1);
  uint64_t np = 0;
  char *s = merge_folded(st, "anonymous", &q, PYR_STORE_MERGE_LINES, &np);
  assert_string_equal(s, "main:1 2\n"
                         "main:1;a:10;b:20 30\n"
                         "main:1;a:10;c:30 10\n"
                         "main:1;a:11 5");
  assert_int_equal(np, 1);
  free(s);
  /* Without lines, a:10 and a:11 merge. */
  s = merge_folded(st, "anonymous", &q, 0, NULL);
  assert_string_equal(s, "main 2\nmain;a 5\nmain;a;b 30\nmain;a;c 10");
  free(s);

  q.profile_type = "memory:alloc_in_new_tlab_bytes:bytes:space:bytes";
  s = merge_folded(st, "anonymous", &q, PYR_STORE_MERGE_LINES, NULL);
  /* zero values are not stored */
  assert_string_equal(s, "main:1;a:10;alloc:5 4096\nmain:1;alloc:5 300");
  free(s);
  q.profile_type = "memory:alloc_in_new_tlab_objects:count:space:bytes";
  s = merge_folded(st, "anonymous", &q, PYR_STORE_MERGE_LINES, NULL);
  assert_string_equal(s, "main:1;a:10;alloc:5 2\nmain:1;alloc:5 3\nmain:1;alloc:6 1");
  free(s);

  /* Labels: derived private labels added, sorted by name. */
  pyr_store_label m[] = {{"env", "prod"}, {"__type__", "cpu"}};
  pyr_store_query q2 = {.match = m, .nmatch = 2};
  count_ctx c = {0};
  assert_int_equal(pyr_store_series_foreach(st, "anonymous", &q2, count_series, &c), 0);
  assert_int_equal(c.n, 1);
  assert_string_equal(c.last_type, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  pyr_store_label m2[] = {{"__service_name__", "orders"}, {"__name__", "memory"},
                          {"__period_type__", "space"}};
  q2.match = m2;
  q2.nmatch = 3;
  assert_int_equal(nseries(st, "anonymous", &q2), 2);
  pyr_store_label m3[] = {{"env", "dev"}};
  q2.match = m3;
  q2.nmatch = 1;
  assert_int_equal(nseries(st, "anonymous", &q2), 0);

  pyr_store_stats ss = stats(st);
  assert_int_equal(ss.profiles, 3);
  assert_int_equal(ss.series, 3);
  assert_int_equal(ss.tenants, 1);
  assert_int_equal(ss.uploads, 1);
  assert_true(ss.lat_count >= 1);
  char metrics[8192];
  size_t mlen = pyr_store_metrics(st, metrics, sizeof(metrics));
  assert_true(mlen < sizeof(metrics));
  assert_non_null(strstr(metrics, "pyrited_store_profiles 3\n"));
  assert_non_null(strstr(metrics, "pyrited_store_write_duration_seconds_count 1\n"));
  check_ok(st);
  pyr_prof_free(cpu);
  pyr_prof_free(mem);
  pyr_store_close(st);
  store_fixture_rm_dir(dir);
}

/* profiles_foreach + dict_stack reproduce the input stacks. */
typedef struct pctx {
  size_t n;
  int64_t total;
  char folded[4096];
} pctx;

static int collect_profile(void *ctx, const pyr_store_profile *p) {
  pctx *c = ctx;
  c->n++;
  c->total += p->total;
  for (size_t i = 0; i < p->n; i++) {
    pyr_store_frame fr[64];
    size_t d = pyr_store_dict_stack(p->dict, p->stacks[i], fr, 64);
    assert_true(d > 0 && d <= 64);
    size_t at = strlen(c->folded);
    for (size_t j = 0; j < d; j++)
      at += (size_t)snprintf(c->folded + at, sizeof(c->folded) - at, "%s%.*s:%lld",
                             j ? ";" : "", (int)fr[j].len, fr[j].name, (long long)fr[j].line);
    snprintf(c->folded + at, sizeof(c->folded) - at, " %lld|", (long long)p->values[i]);
  }
  return 0;
}

static void test_profiles_and_points(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store *st = open_store(dir, NULL);
  pyr_prof *p = mkprof(&store_fixture_cpu_type, "x:1;y:2 7\n");
  assert_int_equal(write1(st, "t", "svc", p, 0, T0), 0);
  pctx c = {0};
  assert_int_equal(pyr_store_profiles_foreach(st, "t", NULL, collect_profile, &c), 0);
  assert_int_equal(c.n, 1);
  assert_int_equal(c.total, 7);
  assert_string_equal(c.folded, "x:1;y:2 7|");
  pyr_prof_free(p);
  pyr_store_close(st);
  store_fixture_rm_dir(dir);
}

static void test_dedup(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store *st = open_store(dir, NULL);
  pyr_prof *p = mkprof(&store_fixture_cpu_type, CPU1);
  assert_int_equal(write1(st, "anonymous", "orders", p, 0, T0), 0);
  pyr_store_stats a = stats(st);
  /* main, a:10, b, c, a:11: 5 nodes; frames main:1 a:10 b:20 c:30 a:11;
   * names main a b c. */
  assert_int_equal(a.dict_nodes, 5);
  assert_int_equal(a.dict_locs, 5);
  assert_int_equal(a.dict_names, 4);
  for (int i = 1; i < 20; i++)
    assert_int_equal(write1(st, "anonymous", "orders", p, 0, T0 + i * 10 * SEC), 0);
  pyr_store_stats b = stats(st);
  assert_int_equal(b.dict_nodes, 5);
  assert_int_equal(b.dict_locs, 5);
  assert_int_equal(b.dict_names, 4);
  assert_int_equal(b.profiles, 20);
  assert_int_equal(b.series, 1);
  /* A new stack sharing a prefix adds only its new tail. */
  pyr_prof *p2 = mkprof(&store_fixture_cpu_type, "main:1;a:10;b:20;d:40 1\n");
  assert_int_equal(write1(st, "anonymous", "orders", p2, 0, T0 + 500 * SEC), 0);
  b = stats(st);
  assert_int_equal(b.dict_nodes, 6);
  assert_int_equal(b.dict_names, 5);
  /* Another service has its own dictionary. */
  assert_int_equal(write1(st, "anonymous", "billing", p2, 0, T0), 0);
  b = stats(st);
  assert_int_equal(b.dict_nodes, 10);
  assert_int_equal(b.dicts, 2);
  uint64_t np;
  char *s = merge_folded(st, "anonymous", NULL, PYR_STORE_MERGE_LINES, &np);
  assert_int_equal(np, 22);
  assert_string_equal(s, "main:1 40\n"
                         "main:1;a:10;b:20 600\n"
                         "main:1;a:10;b:20;d:40 2\n"
                         "main:1;a:10;c:30 200\n"
                         "main:1;a:11 100");
  free(s);
  check_ok(st);
  pyr_prof_free(p);
  pyr_prof_free(p2);
  pyr_store_close(st);
  store_fixture_rm_dir(dir);
}

typedef struct pts {
  size_t n;
  int64_t from[16], total[16];
} pts;

static int collect_point(void *ctx, uint64_t series, int64_t from, int64_t until,
                         int64_t total) {
  pts *p = ctx;
  (void)series;
  assert_true(until >= from);
  if (p->n < 16) {
    p->from[p->n] = from;
    p->total[p->n] = total;
  }
  p->n++;
  return 0;
}

static void test_time_range(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store *st = open_store(dir, NULL);
  pyr_prof *p1 = mkprof(&store_fixture_cpu_type, "a 1\n");
  pyr_prof *p2 = mkprof(&store_fixture_cpu_type, "b 2\n");
  pyr_prof *p3 = mkprof(&store_fixture_cpu_type, "c 4\n");
  assert_int_equal(write1(st, "t", "s", p1, 0, T0 + 1000 * SEC), 0);
  assert_int_equal(write1(st, "t", "s", p2, 0, T0 + 2000 * SEC), 0);
  assert_int_equal(write1(st, "t", "s", p3, 0, T0 + 3000 * SEC), 0);
  pyr_store_query q = {.start_ns = T0 + 1500 * SEC, .end_ns = T0 + 2500 * SEC};
  char *s = merge_folded(st, "t", &q, 0, NULL);
  assert_string_equal(s, "b 2");
  free(s);
  q.start_ns = T0 + 2000 * SEC; /* inclusive bounds */
  q.end_ns = T0 + 3000 * SEC;
  s = merge_folded(st, "t", &q, 0, NULL);
  assert_string_equal(s, "b 2\nc 4");
  free(s);
  q.start_ns = T0 + 1001 * SEC;
  q.end_ns = 0; /* no upper bound */
  s = merge_folded(st, "t", &q, 0, NULL);
  assert_string_equal(s, "b 2\nc 4");
  free(s);
  q.start_ns = T0 + 4000 * SEC;
  s = merge_folded(st, "t", &q, 0, NULL);
  assert_string_equal(s, "");
  free(s);
  assert_int_equal(nseries(st, "t", &q), 0); /* series outside the range */
  pts p = {0};
  pyr_store_query all = {0};
  assert_int_equal(pyr_store_points_foreach(st, "t", &all, collect_point, &p), 0);
  assert_int_equal(p.n, 3);
  assert_true(p.from[0] == T0 + 1000 * SEC && p.total[0] == 1);
  assert_true(p.from[2] == T0 + 3000 * SEC && p.total[2] == 4);
  check_ok(st);
  pyr_prof_free(p1);
  pyr_prof_free(p2);
  pyr_prof_free(p3);
  pyr_store_close(st);
  store_fixture_rm_dir(dir);
}

static void test_tenant_isolation(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store *st = open_store(dir, NULL);
  pyr_prof *pa = mkprof(&store_fixture_cpu_type, "secret_a 5\n");
  pyr_prof *pb = mkprof(&store_fixture_cpu_type, "secret_b 7\n");
  assert_int_equal(write1(st, "tenant-a", "app", pa, 0, T0), 0);
  assert_int_equal(write1(st, "tenant-b", "app", pb, 0, T0), 0);
  char *s = merge_folded(st, "tenant-a", NULL, 0, NULL);
  assert_string_equal(s, "secret_a 5");
  free(s);
  s = merge_folded(st, "tenant-b", NULL, 0, NULL);
  assert_string_equal(s, "secret_b 7");
  free(s);
  s = merge_folded(st, "nobody", NULL, 0, NULL);
  assert_string_equal(s, "");
  free(s);
  assert_int_equal(nseries(st, "tenant-a", NULL), 1);
  assert_int_equal(nseries(st, "nobody", NULL), 0);
  pts p = {0};
  assert_int_equal(pyr_store_points_foreach(st, "tenant-b", NULL, collect_point, &p), 0);
  assert_int_equal(p.n, 1);
  assert_int_equal(p.total[0], 7);
  pyr_store_stats ss = stats(st);
  assert_int_equal(ss.tenants, 2);
  assert_int_equal(ss.dicts, 2); /* same service name, separate dictionaries */
  check_ok(st);
  pyr_prof_free(pa);
  pyr_prof_free(pb);
  pyr_store_close(st);
  store_fixture_rm_dir(dir);
}

static int64_t fake_now;
static int64_t fake_clock(void *ctx) {
  (void)ctx;
  return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}
static void set_now(int64_t t) { __atomic_store_n(&fake_now, t, __ATOMIC_RELAXED); }

static void test_retention_and_dict_gc(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.retention_ns = 30 * DAY;
  o.dict_rotate_ns = DAY;
  o.clock = fake_clock;
  set_now(T0);
  pyr_store *st = open_store(dir, &o);
  pyr_prof *old = mkprof(&store_fixture_cpu_type, "old_frame;x 1\n");
  pyr_prof *mid = mkprof(&store_fixture_cpu_type, "mid_frame 2\n");
  pyr_prof *cur = mkprof(&store_fixture_cpu_type, "new_frame 3\n");
  assert_int_equal(write1(st, "t", "app", old, 0, T0), 0);
  assert_int_equal(write1(st, "t", "app-other", old, 0, T0), 0);
  set_now(T0 + 10 * DAY); /* rotates the generation of "app" */
  assert_int_equal(write1(st, "t", "app", mid, 0, T0 + 10 * DAY), 0);
  set_now(T0 + 35 * DAY);
  assert_int_equal(write1(st, "t", "app", cur, 0, T0 + 35 * DAY), 0);
  pyr_store_stats a = stats(st);
  assert_int_equal(a.profiles, 4);
  assert_int_equal(a.dicts, 4);
  char err[256];
  assert_int_equal(pyr_store_sweep(st, err, sizeof(err)), 0);
  pyr_store_stats b = stats(st);
  assert_int_equal(b.profiles, 2);
  assert_int_equal(b.deleted_profiles, 2);
  assert_int_equal(b.series, 1); /* app-other's only series emptied and dropped */
  /* Both day-0 generations were retired and unused: deleted with their
   * entries; the day-10 one is retired but still holds "mid". */
  assert_int_equal(b.dicts, 2);
  assert_int_equal(b.dict_nodes, 2);
  char *s = merge_folded(st, "t", NULL, 0, NULL);
  assert_string_equal(s, "mid_frame 2\nnew_frame 3");
  free(s);
  check_ok(st);
  set_now(T0 + 70 * DAY);
  assert_int_equal(pyr_store_sweep(st, err, sizeof(err)), 0);
  b = stats(st);
  assert_int_equal(b.profiles, 0);
  assert_int_equal(b.series, 0);
  assert_int_equal(b.dicts, 0); /* the idle current generation retired too */
  check_ok(st);
  pyr_store_close(st);
  /* Reopen sees the same (empty) state, then accepts writes again. */
  st = open_store(dir, &o);
  assert_int_equal(stats(st).profiles, 0);
  assert_int_equal(write1(st, "t", "app", cur, 0, T0 + 70 * DAY), 0);
  s = merge_folded(st, "t", NULL, 0, NULL);
  assert_string_equal(s, "new_frame 3");
  free(s);
  check_ok(st);
  pyr_store_close(st);
  pyr_prof_free(old);
  pyr_prof_free(mid);
  pyr_prof_free(cur);
  store_fixture_rm_dir(dir);
}

/* 2000 stacks over a small set of frames (the dictionary stays small, so
 * profiles dominate the file); values vary with the seed. */
static pyr_prof *big_prof(int seed) {
  pyr_prof *p = pyr_prof_new(&store_fixture_cpu_type, &pyr_prof_default_limits);
  for (int i = 0; i < 2000; i++) {
    uint32_t locs[4];
    int parts[4] = {0, i % 10, i / 10 % 10, i / 100};
    for (int d = 0; d < 4; d++) {
      char name[96];
      int len = snprintf(name, sizeof(name), "com/example/Level%d_%d.run", d, parts[d]);
      int64_t id = pyr_prof_intern(p, name, (size_t)len);
      locs[d] = (uint32_t)pyr_prof_location(p, (uint32_t)id, d + 1);
    }
    int64_t v = (seed * 31 + i * 17) % 97 + 1;
    assert_int_equal(pyr_prof_add(p, locs, 4, 0, &v), 0);
  }
  return p;
}

static void test_disk_limit(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.compress_level = 0; /* predictable sizes */
  o.clock = fake_clock;
  set_now(T0 + 1000 * SEC);
  pyr_store *st = open_store(dir, &o);
  for (int i = 0; i < 100; i++) {
    pyr_prof *p = big_prof(i);
    assert_int_equal(write1(st, "t", "app", p, 0, T0 + i * 10 * SEC), 0);
    pyr_prof_free(p);
  }
  char err[256];
  assert_int_equal(pyr_store_sweep(st, err, sizeof(err)), 0);
  pyr_store_stats a = stats(st);
  assert_int_equal(a.profiles, 100);
  assert_true(a.bytes_used > 0);
  pyr_store_close(st);
  /* Half the current size: the oldest profiles go, the newest stay. */
  o.max_bytes = a.bytes_used / 2;
  st = open_store(dir, &o);
  assert_int_equal(pyr_store_sweep(st, err, sizeof(err)), 0);
  pyr_store_stats b = stats(st);
  assert_true(b.bytes_used <= o.max_bytes);
  assert_true(b.profiles > 0 && b.profiles < 100);
  assert_int_equal(b.deleted_profiles, 100 - b.profiles);
  pts p = {0};
  assert_int_equal(pyr_store_points_foreach(st, "t", NULL, collect_point, &p), 0);
  assert_int_equal(p.n, b.profiles);
  /* what remains is the newest */
  assert_int_equal(p.from[0], T0 + (int64_t)(100 - b.profiles) * 10 * SEC);
  check_ok(st);
  pyr_store_close(st);
  struct stat sb;
  char path[512];
  snprintf(path, sizeof(path), "%s/pyrite.db", dir);
  assert_int_equal(stat(path, &sb), 0);
  /* pages given back to the file system (incremental vacuum + checkpoint) */
  assert_true((uint64_t)sb.st_size < a.bytes_used);
  store_fixture_rm_dir(dir);
}

static void test_compaction(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.clock = fake_clock;
  set_now(T0);
  pyr_store *st = open_store(dir, &o);
  /* 2 windows of 1 h (T0 is a whole hour): 30 profiles, 10 s apart, in
   * each; one series; values differ so the merge checks every profile. */
  pyr_prof *p[3] = {mkprof(&store_fixture_cpu_type, "main;a 1\nmain;b 2\n"),
                    mkprof(&store_fixture_cpu_type, "main;a 10\nmain;c 3\n"),
                    mkprof(&store_fixture_cpu_type, "main;d 100\n")};
  int64_t expect_a = 0;
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < 30; i++) {
      pyr_prof *x = p[(w * 30 + i) % 3];
      expect_a += x == p[0] ? 1 : x == p[1] ? 10 : 0;
      assert_int_equal(write1(st, "t", "app", x, 0, T0 + w * 3600 * SEC + i * 10 * SEC), 0);
    }
  char *before = merge_folded(st, "t", NULL, PYR_STORE_MERGE_LINES, NULL);
  pyr_store_query q = {.start_ns = T0 + 3600 * SEC + 50 * SEC, .end_ns = T0 + 3600 * SEC + 100 * SEC};
  char *before_q = merge_folded(st, "t", &q, 0, NULL);
  char err[256];
  /* Not due yet: windows end in the future. */
  assert_int_equal(pyr_store_sweep(st, err, sizeof(err)), 0);
  assert_int_equal(stats(st).rows, 60);
  set_now(T0 + 3 * 3600 * SEC);
  assert_int_equal(pyr_store_sweep(st, err, sizeof(err)), 0);
  pyr_store_stats s = stats(st);
  assert_int_equal(s.rows, 2);
  assert_int_equal(s.profiles, 60);
  assert_int_equal(s.compacted_profiles, 60);
  char *after = merge_folded(st, "t", NULL, PYR_STORE_MERGE_LINES, NULL);
  assert_string_equal(before, after);
  char *after_q = merge_folded(st, "t", &q, 0, NULL);
  assert_string_equal(before_q, after_q);
  /* profiles 5..10 of window 2: i = 5..10 -> (30+i)%3 */
  pts pt = {0};
  assert_int_equal(pyr_store_points_foreach(st, "t", &q, collect_point, &pt), 0);
  assert_int_equal(pt.n, 6);
  check_ok(st);
  /* A late upload into a compacted window is merged by the next sweep. */
  assert_int_equal(write1(st, "t", "app", p[2], 0, T0 + 5 * SEC), 0);
  assert_int_equal(stats(st).rows, 3);
  assert_int_equal(pyr_store_sweep(st, err, sizeof(err)), 0);
  assert_int_equal(stats(st).rows, 2);
  assert_int_equal(stats(st).profiles, 61);
  check_ok(st);
  pyr_store_close(st);
  st = open_store(dir, &o);
  char *reopened = merge_folded(st, "t", &q, 0, NULL);
  assert_string_equal(before_q, reopened);
  check_ok(st);
  pyr_store_close(st);
  free(before);
  free(after);
  free(before_q);
  free(after_q);
  free(reopened);
  for (int i = 0; i < 3; i++)
    pyr_prof_free(p[i]);
  (void)expect_a;
  store_fixture_rm_dir(dir);
}

static void test_reopen(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store *st = open_store(dir, NULL);
  pyr_prof *p = mkprof(&store_fixture_cpu_type, CPU1);
  pyr_prof *mem = mkprof(&mem_type, "main:1;alloc:5 3 300\n");
  for (int i = 0; i < 5; i++)
    assert_int_equal(write1(st, "anonymous", "orders", p, 0, T0 + i * 10 * SEC), 0);
  assert_int_equal(write1(st, "other", "orders", mem, 1, T0), 0);
  char *before = merge_folded(st, "anonymous", NULL, PYR_STORE_MERGE_LINES, NULL);
  pyr_store_stats a = stats(st);
  pyr_store_close(st);

  st = open_store(dir, NULL);
  pyr_store_stats b = stats(st);
  assert_int_equal(a.profiles, b.profiles);
  assert_int_equal(a.series, b.series);
  assert_int_equal(a.tenants, b.tenants);
  assert_int_equal(a.dict_nodes, b.dict_nodes);
  assert_int_equal(a.dicts, b.dicts);
  char *after = merge_folded(st, "anonymous", NULL, PYR_STORE_MERGE_LINES, NULL);
  assert_string_equal(before, after);
  char *o = merge_folded(st, "other", NULL, 0, NULL);
  assert_string_equal(o, "main;alloc 300");
  free(o);
  /* Writing the same stacks after reopen reuses the reloaded dictionary. */
  assert_int_equal(write1(st, "anonymous", "orders", p, 0, T0 + 100 * SEC), 0);
  assert_int_equal(stats(st).dict_nodes, a.dict_nodes);
  assert_int_equal(stats(st).profiles, a.profiles + 1);
  check_ok(st);
  pyr_store_close(st);
  free(before);
  free(after);
  pyr_prof_free(p);
  pyr_prof_free(mem);
  store_fixture_rm_dir(dir);
}

/* Concurrent writers (each its own stacks and a shared one) + a reader. */
typedef struct wctx {
  pyr_store *st;
  int id, n;
  int errors;
} wctx;

static void *writer_thread(void *arg) {
  wctx *w = arg;
  char text[256];
  snprintf(text, sizeof(text), "main;shared 1\nmain;thread%d 2\n", w->id);
  pyr_prof *p = mkprof(&store_fixture_cpu_type, text);
  for (int i = 0; i < w->n; i++) {
    char svc[32];
    snprintf(svc, sizeof(svc), "svc%d", w->id % 2);
    if (write1(w->st, "anonymous", svc, p, 0, T0 + (w->id * 1000 + i) * SEC) != 0)
      w->errors++;
  }
  pyr_prof_free(p);
  return NULL;
}

typedef struct rctx {
  pyr_store *st;
  volatile int stop;
  int merges;
} rctx;

static void *reader_thread(void *arg) {
  rctx *r = arg;
  int64_t last = 0;
  while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
    pyr_store_tree *t = NULL;
    char err[128];
    assert_int_equal(pyr_store_merge(r->st, "anonymous", NULL, 0, &t, err, sizeof(err)), 0);
    /* totals never go backwards while writers add */
    assert_true(t->total >= last);
    last = t->total;
    pyr_store_tree_free(t);
    r->merges++;
  }
  return NULL;
}

static void test_concurrent(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.sync_full = 0; /* speed; durability is the crash test's job */
  pyr_store *st = open_store(dir, &o);
  enum { NW = 4, NU = 40 };
  pthread_t wt[NW], rt;
  wctx w[NW];
  rctx r = {.st = st};
  assert_int_equal(pthread_create(&rt, NULL, reader_thread, &r), 0);
  for (int i = 0; i < NW; i++) {
    w[i] = (wctx){.st = st, .id = i, .n = NU};
    assert_int_equal(pthread_create(&wt[i], NULL, writer_thread, &w[i]), 0);
  }
  for (int i = 0; i < NW; i++) {
    pthread_join(wt[i], NULL);
    assert_int_equal(w[i].errors, 0);
  }
  __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
  pthread_join(rt, NULL);
  assert_true(r.merges > 0);
  pyr_store_stats s = stats(st);
  assert_int_equal(s.profiles, NW * NU);
  assert_int_equal(s.series, 2);
  assert_true(s.batches <= s.uploads);
  char *m = merge_folded(st, "anonymous", NULL, 0, NULL);
  assert_string_equal(m, "main;shared 160\nmain;thread0 80\nmain;thread1 80\n"
                         "main;thread2 80\nmain;thread3 80");
  free(m);
  check_ok(st);
  pyr_store_close(st);
  store_fixture_rm_dir(dir);
}

static void test_labels_and_errors(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store *st = open_store(dir, NULL);
  pyr_prof *p = mkprof(&store_fixture_cpu_type, "a 1\n");
  char err[256];
  /* repeated name: last value wins; empty values dropped */
  pyr_store_label l[] = {{"service_name", "x"}, {"k", "1"}, {"k", "2"}, {"empty", ""}};
  pyr_store_entry e = {l, 4, p, 0, PYR_STORE_ALL_LABELSETS, T0, T0};
  assert_int_equal(pyr_store_write(st, "t", &e, 1, err, sizeof(err)), 0);
  pyr_store_label m[] = {{"k", "2"}, {"empty", ""}};
  pyr_store_query q = {.match = m, .nmatch = 2};
  assert_int_equal(nseries(st, "t", &q), 1);
  /* same labels in another order: same series */
  pyr_store_label l2[] = {{"k", "2"}, {"service_name", "x"}};
  e.labels = l2;
  e.nlabels = 2;
  e.from_ns = e.until_ns = T0 + SEC;
  assert_int_equal(pyr_store_write(st, "t", &e, 1, err, sizeof(err)), 0);
  assert_int_equal(nseries(st, "t", NULL), 1);
  /* bad column, no tenant, unnamed label */
  e.column = 1;
  assert_int_equal(pyr_store_write(st, "t", &e, 1, err, sizeof(err)), PYR_STORE_EINVAL);
  assert_non_null(strstr(err, "column"));
  e.column = 0;
  assert_int_equal(pyr_store_write(st, "", &e, 1, err, sizeof(err)), PYR_STORE_EINVAL);
  pyr_store_label bad[] = {{"", "v"}};
  e.labels = bad;
  e.nlabels = 1;
  assert_int_equal(pyr_store_write(st, "t", &e, 1, err, sizeof(err)), PYR_STORE_EINVAL);
  /* an upload that is entirely empty is fine and stores nothing */
  pyr_prof *empty = mkprof(&store_fixture_cpu_type, NULL);
  e.labels = l2;
  e.nlabels = 2;
  e.prof = empty;
  assert_int_equal(pyr_store_write(st, "t", &e, 1, err, sizeof(err)), 0);
  assert_int_equal(pyr_store_write(st, "t", NULL, 0, err, sizeof(err)), 0);
  assert_int_equal(stats(st).profiles, 2);
  check_ok(st);
  pyr_prof_free(empty);
  pyr_prof_free(p);
  pyr_store_close(st);

  /* series limit: the failing upload stores nothing, others go on */
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.max_series = 2;
  st = open_store(dir, &o);
  p = mkprof(&store_fixture_cpu_type, "a 1\n");
  assert_int_equal(write1(st, "t2", "s1", p, 0, T0), 0);
  assert_int_equal(write1(st, "t2", "s2", p, 0, T0), 0);
  assert_int_equal(write1(st, "t2", "s3", p, 0, T0), PYR_STORE_ELIMIT);
  assert_int_equal(write1(st, "t2", "s1", p, 0, T0 + SEC), 0);
  assert_int_equal(nseries(st, "t2", NULL), 2);
  check_ok(st);
  pyr_prof_free(p);
  pyr_store_close(st);
  store_fixture_rm_dir(dir);
}

/* A database error inside a batch: the transaction rolls back and the
 * in-memory catalog, scopes and dictionaries follow.  Failures are
 * injected with a trigger installed through a second connection. */
static void sql(const char *dir, const char *stmt) {
  char path[512];
  snprintf(path, sizeof(path), "%s/pyrite.db", dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  char *msg = NULL;
  if (sqlite3_exec(db, stmt, NULL, NULL, &msg) != SQLITE_OK)
    fail_msg("sql: %s", msg);
  sqlite3_close(db);
}

static void test_batch_failure(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store *st = open_store(dir, NULL);
  pyr_prof *a = mkprof(&store_fixture_cpu_type, "main;a 1\n");
  pyr_prof *fresh = mkprof(&store_fixture_cpu_type, "main;fresh_frame 5\n");
  pyr_prof *other = mkprof(&store_fixture_cpu_type, "main;other 7\n");
  assert_int_equal(write1(st, "t1", "svc", a, 0, T0), 0);
  pyr_store_stats before = stats(st);
  const int64_t bad = T0 + 42 * SEC;
  char trig[256];
  snprintf(trig, sizeof(trig),
           "CREATE TRIGGER inject BEFORE INSERT ON profiles WHEN NEW.t_lo = %lld"
           " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
           (long long)bad);
  sql(dir, trig);
  /* new tenant, series, scope and generation: all undone */
  char err[256];
  pyr_store_label l[] = {{"service_name", "new-svc"}};
  pyr_store_entry e = {l, 1, fresh, 0, PYR_STORE_ALL_LABELSETS, bad, bad};
  assert_int_equal(pyr_store_write(st, "t2", &e, 1, err, sizeof(err)), PYR_STORE_EIO);
  assert_non_null(strstr(err, "injected"));
  /* new stacks in an existing generation: its instance is dropped */
  assert_int_equal(write1(st, "t1", "svc", fresh, 0, bad), PYR_STORE_EIO);
  pyr_store_stats mid = stats(st);
  assert_int_equal(mid.tenants, before.tenants);
  assert_int_equal(mid.series, before.series);
  assert_int_equal(mid.dicts, before.dicts);
  assert_int_equal(mid.dict_nodes, before.dict_nodes);
  assert_int_equal(mid.profiles, before.profiles);
  assert_int_equal(mid.upload_errors, 2);
  assert_int_equal(nseries(st, "t2", NULL), 0);
  check_ok(st);
  /* later writes work, reload the dictionary, and see no trace of the
   * failed ones */
  assert_int_equal(write1(st, "t1", "svc", other, 0, T0 + SEC), 0);
  assert_int_equal(pyr_store_write(st, "t2", &e, 1, err, sizeof(err)), PYR_STORE_EIO);
  sql(dir, "DROP TRIGGER inject");
  assert_int_equal(pyr_store_write(st, "t2", &e, 1, err, sizeof(err)), 0);
  char *s = merge_folded(st, "t1", NULL, 0, NULL);
  assert_string_equal(s, "main;a 1\nmain;other 7");
  free(s);
  s = merge_folded(st, "t2", NULL, 0, NULL);
  assert_string_equal(s, "main;fresh_frame 5");
  free(s);
  pyr_store_stats after = stats(st);
  assert_int_equal(after.tenants, 2);
  assert_int_equal(after.dicts, 2);
  assert_int_equal(after.dict_nodes, before.dict_nodes + 1 + 2);
  check_ok(st);
  pyr_store_close(st);
  st = open_store(dir, NULL); /* and the same after reopen */
  assert_int_equal(stats(st).dict_nodes, after.dict_nodes);
  check_ok(st);
  pyr_store_close(st);
  pyr_prof_free(a);
  pyr_prof_free(fresh);
  pyr_prof_free(other);
  store_fixture_rm_dir(dir);
}

/* Sample label sets split one profile into series. */
static void test_labelsets(void **state) {
  (void)state;
  char *dir = store_fixture_mk_dir();
  pyr_store *st = open_store(dir, NULL);
  pyr_prof *p = mkprof(&store_fixture_cpu_type, "plain 1\n");
  int64_t k = pyr_prof_intern(p, "integration", 11), v = pyr_prof_intern(p, "redis", 5);
  pyr_prof_label lab = {(uint32_t)k, (uint32_t)v};
  int64_t ls = pyr_prof_labelset(p, &lab, 1);
  assert_true(ls > 0);
  add_lines(p, "redis_call 5\nplain 1\n", (uint32_t)ls);
  pyr_store_label base[] = {{"service_name", "s"}};
  pyr_store_label withl[] = {{"service_name", "s"}, {"integration", "redis"}};
  pyr_store_entry e[] = {{base, 1, p, 0, 0, T0, T0},
                         {withl, 2, p, 0, (uint32_t)ls, T0, T0}};
  char err[256];
  assert_int_equal(pyr_store_write(st, "t", e, 2, err, sizeof(err)), 0);
  pyr_store_label m[] = {{"integration", "redis"}};
  pyr_store_query q = {.match = m, .nmatch = 1};
  char *s = merge_folded(st, "t", &q, 0, NULL);
  assert_string_equal(s, "plain 1\nredis_call 5");
  free(s);
  pyr_store_label m2[] = {{"integration", ""}};
  q.match = m2;
  s = merge_folded(st, "t", &q, 0, NULL);
  assert_string_equal(s, "plain 1");
  free(s);
  check_ok(st);
  pyr_prof_free(p);
  pyr_store_close(st);
  store_fixture_rm_dir(dir);
}

static void test_bad_dir(void **state) {
  (void)state;
  char err[256] = "";
  assert_null(pyr_store_open("/nonexistent/pyrite/dir", NULL, err, sizeof(err)));
  assert_non_null(strstr(err, "/nonexistent/pyrite/dir"));
  assert_non_null(strstr(err, "No such file"));
  char *dir = store_fixture_mk_dir();
  char file[512];
  snprintf(file, sizeof(file), "%s/f", dir);
  FILE *f = fopen(file, "w");
  fclose(f);
  err[0] = '\0';
  assert_null(pyr_store_open(file, NULL, err, sizeof(err)));
  assert_non_null(strstr(err, "not a directory"));
  /* a second store on the same directory is refused */
  pyr_store *st = open_store(dir, NULL);
  err[0] = '\0';
  assert_null(pyr_store_open(dir, NULL, err, sizeof(err)));
  assert_non_null(strstr(err, "in use"));
  pyr_store_close(st);
  /* garbage where the database should be */
  snprintf(file, sizeof(file), "%s/pyrite.db", dir);
  f = fopen(file, "w");
  fputs("this is not a database, just text long enough to be looked at..........", f);
  fclose(f);
  snprintf(file, sizeof(file), "%s/pyrite.db-wal", dir);
  remove(file);
  err[0] = '\0';
  assert_null(pyr_store_open(dir, NULL, err, sizeof(err)));
  assert_true(strlen(err) > 0);
  store_fixture_rm_dir(dir);
}

static void test_parse(void **state) {
  (void)state;
  int64_t ns;
  assert_int_equal(pyr_store_parse_duration("30d", &ns), 0);
  assert_true(ns == 30 * DAY);
  assert_int_equal(pyr_store_parse_duration("12h", &ns), 0);
  assert_true(ns == 12 * 3600 * SEC);
  assert_int_equal(pyr_store_parse_duration("90m", &ns), 0);
  assert_true(ns == 90 * 60 * SEC);
  assert_int_equal(pyr_store_parse_duration("2w", &ns), 0);
  assert_true(ns == 14 * DAY);
  assert_int_equal(pyr_store_parse_duration("500ms", &ns), 0);
  assert_true(ns == 500000000);
  assert_int_equal(pyr_store_parse_duration("45", &ns), 0);
  assert_true(ns == 45 * SEC);
  assert_int_equal(pyr_store_parse_duration("0d", &ns), -1);
  assert_int_equal(pyr_store_parse_duration("-1d", &ns), -1);
  assert_int_equal(pyr_store_parse_duration("5x", &ns), -1);
  assert_int_equal(pyr_store_parse_duration("", &ns), -1);
  uint64_t b;
  assert_int_equal(pyr_store_parse_size("10GB", &b), 0);
  assert_true(b == (uint64_t)10 << 30);
  assert_int_equal(pyr_store_parse_size("512MiB", &b), 0);
  assert_true(b == (uint64_t)512 << 20);
  assert_int_equal(pyr_store_parse_size("300m", &b), 0);
  assert_true(b == (uint64_t)300 << 20);
  assert_int_equal(pyr_store_parse_size("1048576", &b), 0);
  assert_true(b == 1048576);
  assert_int_equal(pyr_store_parse_size("5q", &b), -1);
  assert_int_equal(pyr_store_parse_size("-5m", &b), -1);
  assert_string_equal(pyr_store_strerror(PYR_STORE_EBUSY), "storage busy (write queue full)");
}

typedef struct accbuf {
  int64_t *v;
  uint32_t n;
} accbuf;

static int acc_ensure_cb(void *ctx, uint32_t max_id, int64_t **acc) {
  accbuf *a = ctx;
  if (max_id >= a->n) {
    if (max_id > (1u << 24))
      return -1; /* corrupted id: refuse */
    a->v = realloc(a->v, ((size_t)max_id + 1) * sizeof(*a->v));
    memset(a->v + a->n, 0, ((size_t)max_id + 1 - a->n) * sizeof(*a->v));
    a->n = max_id + 1;
  }
  *acc = a->v;
  return 0;
}

/* Block codec: v1 (k < 8) and v2 (column-major) round trips, the merge's
 * accumulate path against unpacked sums (whole and partial time ranges),
 * then random corruption must be rejected or decoded without reading out
 * of bounds (run under ASAN). */
static void test_codec(void **state) {
  (void)state;
  uint64_t r = 12345;
#define RND() (r = r * 6364136223846793005ull + 1442695040888963407ull, r >> 33)
  for (int round = 0; round < 40; round++) {
    size_t k = 1 + RND() % 40;
    st_penc *pe = calloc(k, sizeof(*pe));
    for (size_t i = 0; i < k; i++) {
      size_t n = 1 + RND() % 300;
      uint32_t *ids = malloc(n * sizeof(*ids));
      int64_t *vals = malloc(n * sizeof(*vals));
      uint32_t id = (uint32_t)(RND() % 5);
      int64_t scale = (int64_t)(1 + RND() % 3) * 1000;
      for (size_t j = 0; j < n; j++) {
        ids[j] = id;
        id += 1 + (uint32_t)(RND() % 20);
        vals[j] = ((int64_t)(RND() % 1000) - (j % 7 == 0 ? 500 : 0)) * scale;
        if (!vals[j])
          vals[j] = scale;
      }
      pe[i] = (st_penc){.from = T0 + (int64_t)i * 10 * SEC - (int64_t)(RND() % 3) * SEC,
                        .until = T0 + (int64_t)i * 10 * SEC + 10 * SEC,
                        .n = n,
                        .ids = ids,
                        .vals = vals};
    }
    st_buf out = {0}, raw = {0};
    assert_int_equal(st_block_encode(&out, pe, k, round % 2 ? 3 : 0, NULL, &raw), 0);
    st_block b = {0};
    assert_int_equal(st_block_decode(&b, out.p, out.n, NULL), 0);
    assert_int_equal(b.k, k);
    assert_int_equal(b.version, k >= 8 ? 2 : 1);
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
      assert_true(b.hdr[i].from == pe[i].from && b.hdr[i].until == pe[i].until);
      assert_int_equal(b.hdr[i].n, pe[i].n);
      int64_t tot = 0;
      for (size_t j = 0; j < pe[i].n; j++) {
        assert_int_equal(b.ids[off + j], pe[i].ids[j]);
        assert_true(b.vals[off + j] == pe[i].vals[j]);
        tot += pe[i].vals[j];
      }
      assert_true(b.hdr[i].total == tot);
      off += pe[i].n;
    }
    /* accumulate == sum of the unpacked profiles in range */
    for (int rr = 0; rr < 3; rr++) {
      int64_t lo = rr == 0 ? INT64_MIN : T0 + (int64_t)(RND() % (k * 10)) * SEC;
      int64_t hi = rr == 0 ? INT64_MAX : lo + (int64_t)(RND() % (k * 10)) * SEC;
      accbuf a = {0}, want = {0};
      uint64_t np = 0, wantp = 0;
      int64_t *w;
      off = 0;
      for (size_t i = 0; i < k; i++) {
        if (b.hdr[i].from >= lo && b.hdr[i].from <= hi) {
          wantp++;
          for (size_t j = 0; j < b.hdr[i].n; j++) {
            acc_ensure_cb(&want, b.ids[off + j], &w);
            w[b.ids[off + j]] += b.vals[off + j];
          }
        }
        off += b.hdr[i].n;
      }
      st_block tmp = {0};
      assert_int_equal(
          st_block_accumulate(&tmp, out.p, out.n, NULL, lo, hi, acc_ensure_cb, &a, &np), 0);
      assert_int_equal(np, wantp);
      uint32_t nmax = a.n > want.n ? a.n : want.n;
      for (uint32_t x = 0; x < nmax; x++) {
        int64_t av = x < a.n ? a.v[x] : 0, wv = x < want.n ? want.v[x] : 0;
        assert_true(av == wv);
      }
      st_block_free(&tmp);
      free(a.v);
      free(want.v);
    }
    /* corruption: flip bytes, truncate */
    for (int t = 0; t < 200; t++) {
      uint8_t *c = malloc(out.n);
      memcpy(c, out.p, out.n);
      size_t len = out.n;
      if (t % 4 == 0)
        len = RND() % out.n;
      else
        for (int f = 0; f < 1 + t % 3; f++) {
          size_t at = RND() % out.n;
          uint8_t x = (uint8_t)(1 + RND() % 255);
          c[at] ^= x;
        }
      (void)st_block_decode(&b, c, len, NULL); /* any result; no crash */
      (void)st_block_decode_headers(&b, c, len);
      accbuf a = {0};
      uint64_t np = 0;
      (void)st_block_accumulate(&b, c, len, NULL, INT64_MIN, INT64_MAX, acc_ensure_cb, &a, &np);
      free(a.v);
      free(c);
    }
    st_block_free(&b);
    st_buf_free(&out);
    st_buf_free(&raw);
    for (size_t i = 0; i < k; i++) {
      free((void *)pe[i].ids);
      free((void *)pe[i].vals);
    }
    free(pe);
  }
#undef RND
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),        cmocka_unit_test(test_profiles_and_points),
      cmocka_unit_test(test_dedup),            cmocka_unit_test(test_time_range),
      cmocka_unit_test(test_tenant_isolation), cmocka_unit_test(test_retention_and_dict_gc),
      cmocka_unit_test(test_disk_limit),       cmocka_unit_test(test_compaction),
      cmocka_unit_test(test_reopen),           cmocka_unit_test(test_concurrent),
      cmocka_unit_test(test_labels_and_errors), cmocka_unit_test(test_labelsets),
      cmocka_unit_test(test_batch_failure),
      cmocka_unit_test(test_bad_dir),          cmocka_unit_test(test_parse),
      cmocka_unit_test(test_codec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
