/*
 * test_query_flamegraph.c - merged call trees as flame graphs
 * (server/flamegraph.c) and as pprof (server/pprof.c's tree encoder):
 * Pyroscope's levels encoding on its documented example, structural
 * invariants on random trees (children inside their parent, self +
 * children = total, totals preserved), maxNodes truncation into "other",
 * the 7-number diff encoding, collapsed text, TREE bytes, call-site focus,
 * the quickselect threshold, and a pprof round trip through the decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flamegraph.h"
#include "pprof.h"
#include "profile.h"

/* ---- building trees by hand ------------------------------------------------------ */

typedef struct tb {
  pyr_store_tree *t;
  size_t ncap, bcap;
} tb;

static uint32_t tb_name(tb *b, const char *s, size_t len) {
  pyr_store_tree *t = b->t;
  for (uint32_t i = 0; i < t->nnames; i++) {
    size_t l;
    const char *x = pyr_store_tree_name(t, i, &l);
    if (l == len && memcmp(x, s, len) == 0)
      return i;
  }
  size_t used = t->name_off[t->nnames];
  while (used + len + 1 > b->bcap) {
    b->bcap *= 2;
    t->name_bytes = realloc(t->name_bytes, b->bcap);
  }
  t->name_off = realloc(t->name_off, (t->nnames + 2) * sizeof(size_t));
  memcpy(t->name_bytes + used, s, len);
  t->name_bytes[used + len] = '\0';
  t->name_off[t->nnames + 1] = used + len + 1;
  return (uint32_t)t->nnames++;
}

static tb tb_new(void) {
  tb b = {calloc(1, sizeof(pyr_store_tree)), 16, 64};
  b.t->nodes = calloc(b.ncap, sizeof(pyr_store_tree_node));
  b.t->nnodes = 1;
  b.t->name_bytes = malloc(b.bcap);
  b.t->name_off = calloc(1, sizeof(size_t));
  tb_name(&b, "total", 5);
  return b;
}

/* "a:12;b;c 5": root-first frames, optional :line, then the value. */
static void tb_add(tb *b, const char *line) {
  pyr_store_tree *t = b->t;
  const char *sp = strrchr(line, ' ');
  int64_t v = atoll(sp + 1);
  uint32_t cur = 0;
  const char *p = line;
  while (p < sp) {
    const char *e = p;
    while (e < sp && *e != ';')
      e++;
    const char *colon = memchr(p, ':', (size_t)(e - p));
    size_t nlen = colon ? (size_t)(colon - p) : (size_t)(e - p);
    int64_t ln = colon ? atoll(colon + 1) : 0;
    uint32_t name = tb_name(b, p, nlen);
    uint32_t found = 0;
    for (uint32_t i = 1; i < t->nnodes; i++)
      if (t->nodes[i].parent == cur && t->nodes[i].name == name && t->nodes[i].line == ln)
        found = i;
    if (!found) {
      if (t->nnodes == b->ncap) {
        b->ncap *= 2;
        t->nodes = realloc(t->nodes, b->ncap * sizeof(*t->nodes));
      }
      found = (uint32_t)t->nnodes++;
      memset(&t->nodes[found], 0, sizeof(t->nodes[found]));
      t->nodes[found].parent = cur;
      t->nodes[found].name = name;
      t->nodes[found].line = ln;
    }
    cur = found;
    p = e < sp ? e + 1 : e;
  }
  t->nodes[cur].self += v;
}

static int node_cmp(const pyr_store_tree *t, uint32_t a, uint32_t b) {
  size_t la, lb;
  const char *sa = pyr_store_tree_name(t, t->nodes[a].name, &la);
  const char *sb = pyr_store_tree_name(t, t->nodes[b].name, &lb);
  int c = memcmp(sa, sb, la < lb ? la : lb);
  if (c)
    return c;
  if (la != lb)
    return la < lb ? -1 : 1;
  return t->nodes[a].line < t->nodes[b].line ? -1 : t->nodes[a].line > t->nodes[b].line;
}

/* Totals and sorted sibling links, as pyr_store_merge leaves them. */
static pyr_store_tree *tb_done(tb *b) {
  pyr_store_tree *t = b->t;
  for (size_t i = 0; i < t->nnodes; i++) {
    t->nodes[i].total = t->nodes[i].self;
    t->nodes[i].first_child = t->nodes[i].next_sibling = 0;
  }
  for (size_t i = t->nnodes; i-- > 1;)
    t->nodes[t->nodes[i].parent].total += t->nodes[i].total;
  for (uint32_t i = (uint32_t)t->nnodes; i-- > 1;) { /* insert sorted */
    pyr_store_tree_node *p = &t->nodes[t->nodes[i].parent];
    uint32_t *link = &p->first_child;
    while (*link && node_cmp(t, *link, i) < 0)
      link = &t->nodes[*link].next_sibling;
    t->nodes[i].next_sibling = *link;
    *link = i;
  }
  t->total = t->nodes[0].total;
  return t;
}

static pyr_store_tree *tree_of(const char *const *lines, size_t n) {
  tb b = tb_new();
  for (size_t i = 0; i < n; i++)
    tb_add(&b, lines[i]);
  return tb_done(&b);
}

/* ---- decoding levels back ------------------------------------------------------ */

typedef struct dnode {
  int64_t x[2], total[2], self[2];
  const char *name;
  size_t level;
} dnode;

/* Decodes every node with absolute offsets; checks the basic shape. */
static dnode *decode(const pyr_flamegraph *fg, size_t *n) {
  size_t w = fg->width, sides = w == 4 ? 1 : 2, cnt = 0;
  for (size_t l = 0; l < fg->nlevels; l++) {
    assert_int_equal(fg->levels[l].n % w, 0);
    cnt += fg->levels[l].n / w;
  }
  dnode *d = calloc(cnt ? cnt : 1, sizeof(*d));
  size_t k = 0;
  for (size_t l = 0; l < fg->nlevels; l++) {
    int64_t prev[2] = {0, 0};
    const int64_t *v = fg->levels[l].v;
    for (size_t i = 0; i < fg->levels[l].n; i += w) {
      for (size_t s = 0; s < sides; s++) {
        assert_true(v[i + 3 * s] >= 0); /* deltas never go backwards */
        d[k].x[s] = prev[s] + v[i + 3 * s];
        d[k].total[s] = v[i + 3 * s + 1];
        d[k].self[s] = v[i + 3 * s + 2];
        prev[s] = d[k].x[s] + d[k].total[s];
      }
      int64_t ni = v[i + w - 1];
      assert_true(ni >= 0 && (size_t)ni < fg->nnames);
      d[k].name = fg->names[ni].s;
      d[k].level = l;
      k++;
    }
  }
  *n = cnt;
  return d;
}

/* Every node lies inside exactly one node of the level above, and a
 * parent's self plus its children's totals is its total (both sides). */
static void check_structure(const pyr_flamegraph *fg) {
  size_t n;
  dnode *d = decode(fg, &n);
  size_t sides = fg->width == 4 ? 1 : 2;
  assert_true(n >= 1);
  assert_int_equal(fg->levels[0].n, fg->width);
  assert_string_equal(d[0].name, "total");
  int64_t *kids = calloc(n * 2, sizeof(int64_t));
  for (size_t i = 1; i < n; i++) {
    size_t parent = SIZE_MAX;
    for (size_t j = 0; j < n; j++) {
      if (d[j].level + 1 != d[i].level)
        continue;
      bool in = true;
      for (size_t s = 0; s < sides; s++)
        if (!(d[i].x[s] >= d[j].x[s] + d[j].self[s] &&
              d[i].x[s] + d[i].total[s] <= d[j].x[s] + d[j].total[s]))
          in = false;
      /* zero-width nodes sit at an edge: match by the left side */
      if (in) {
        parent = j;
        break;
      }
    }
    if (parent == SIZE_MAX)
      fail_msg("node %zu (%s, level %zu) has no parent", i, d[i].name, d[i].level);
    for (size_t s = 0; s < sides; s++)
      kids[parent * 2 + s] += d[i].total[s];
  }
  for (size_t i = 0; i < n; i++)
    for (size_t s = 0; s < sides; s++) {
      bool leaf = kids[i * 2] == 0 && kids[i * 2 + 1] == 0;
      if (!leaf || d[i].total[s] != 0)
        assert_int_equal(d[i].self[s] + kids[i * 2 + s], d[i].total[s]);
    }
  int64_t ms = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t s = 0; s < sides; s++)
      if (d[i].self[s] > ms)
        ms = d[i].self[s];
  assert_int_equal(ms, fg->max_self);
  assert_int_equal(n, fg->nnodes);
  free(kids);
  free(d);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_pyroscope_example(void **state) {
  (void)state;
  static const char *const lines[] = {"main 2", "main;a 3", "main;b 5"};
  pyr_store_tree *t = tree_of(lines, 3);
  pyr_flamegraph fg;
  assert_int_equal(pyr_fg_build(t, 0, &fg), 0);
  /* names in first-visit order: total, main, a, b */
  assert_int_equal(fg.nnames, 4);
  assert_string_equal(fg.names[0].s, "total");
  assert_string_equal(fg.names[1].s, "main");
  assert_string_equal(fg.names[2].s, "a");
  assert_string_equal(fg.names[3].s, "b");
  assert_int_equal(fg.nlevels, 3);
  static const int64_t l0[] = {0, 10, 0, 0}, l1[] = {0, 10, 2, 1},
                       l2[] = {2, 3, 3, 2, 0, 5, 5, 3}; /* a at x 2, b at x 5 */
  assert_int_equal(fg.levels[0].n, 4);
  assert_memory_equal(fg.levels[0].v, l0, sizeof(l0));
  assert_int_equal(fg.levels[1].n, 4);
  assert_memory_equal(fg.levels[1].v, l1, sizeof(l1));
  assert_int_equal(fg.levels[2].n, 8);
  assert_memory_equal(fg.levels[2].v, l2, sizeof(l2));
  assert_int_equal(fg.total, 10);
  assert_int_equal(fg.max_self, 5);
  check_structure(&fg);

  pyr_jw w;
  pyr_jw_init(&w);
  pyr_fg_write_flamebearer(&w, &fg);
  size_t len;
  char *s = pyr_jw_take(&w, &len);
  assert_string_equal(s, "{\"names\":[\"total\",\"main\",\"a\",\"b\"],\"levels\":[[0,10,0,0],"
                         "[0,10,2,1],[2,3,3,2,0,5,5,3]],\"numTicks\":10,\"maxSelf\":5}");
  free(s);
  pyr_fg_free(&fg);
  pyr_store_tree_free(t);
}

static void test_empty(void **state) {
  (void)state;
  pyr_store_tree *t = tree_of(NULL, 0);
  pyr_flamegraph fg;
  assert_int_equal(pyr_fg_build(t, 8192, &fg), 0);
  assert_int_equal(fg.nnames, 1);
  assert_int_equal(fg.nlevels, 1);
  static const int64_t root[] = {0, 0, 0, 0};
  assert_memory_equal(fg.levels[0].v, root, sizeof(root));
  pyr_fg_free(&fg);
  /* a truly empty tree (no nodes) answers the root-only graph too */
  pyr_store_tree none = {0};
  assert_int_equal(pyr_fg_build(&none, 0, &fg), 0);
  assert_int_equal(fg.nlevels, 1);
  assert_int_equal(fg.total, 0);
  pyr_fg_free(&fg);
  pyr_store_tree_free(t);
}

static uint64_t rs = 12345;
static uint32_t rnd(uint32_t n) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (uint32_t)(rs % n);
}

static pyr_store_tree *random_tree(int stacks, int depth, int fanout, bool lines) {
  tb b = tb_new();
  char line[4096];
  for (int i = 0; i < stacks; i++) {
    size_t n = 0;
    int d = 1 + (int)rnd((uint32_t)depth);
    for (int k = 0; k < d; k++) {
      if (lines)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%sf%u:%u", k ? ";" : "",
                              rnd((uint32_t)fanout), rnd(3));
      else
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%sf%u", k ? ";" : "",
                              rnd((uint32_t)fanout));
    }
    snprintf(line + n, sizeof(line) - n, " %u", 1 + rnd(100));
    tb_add(&b, line);
  }
  return tb_done(&b);
}

static void test_random_structure(void **state) {
  (void)state;
  for (int round = 0; round < 20; round++) {
    pyr_store_tree *t = random_tree(200, 8, 4, false);
    pyr_flamegraph fg;
    assert_int_equal(pyr_fg_build(t, 0, &fg), 0);
    assert_int_equal(fg.total, t->total);
    assert_int_equal(fg.nnodes, t->nnodes); /* nothing dropped without maxNodes */
    check_structure(&fg);
    pyr_fg_free(&fg);
    pyr_store_tree_free(t);
  }
}

static void test_truncation(void **state) {
  (void)state;
  for (int round = 0; round < 20; round++) {
    pyr_store_tree *t = random_tree(300, 10, 6, false);
    uint32_t max_nodes = 5 + rnd(40);
    /* the threshold is the max_nodes-th largest total */
    int64_t *tot = malloc(t->nnodes * sizeof(*tot));
    for (size_t i = 1; i < t->nnodes; i++)
      tot[i - 1] = t->nodes[i].total;
    for (size_t i = 0; i + 1 < t->nnodes; i++) /* sort descending */
      for (size_t j = i + 1; j + 1 < t->nnodes; j++)
        if (tot[j] > tot[i]) {
          int64_t x = tot[i];
          tot[i] = tot[j];
          tot[j] = x;
        }
    int64_t thr = pyr_fg_threshold(t, max_nodes);
    assert_int_equal(thr, tot[max_nodes - 1]);
    size_t kept = 0;
    for (size_t i = 1; i < t->nnodes; i++)
      kept += t->nodes[i].total >= thr;
    free(tot);

    pyr_flamegraph fg;
    assert_int_equal(pyr_fg_build(t, max_nodes, &fg), 0);
    check_structure(&fg);
    assert_int_equal(fg.total, t->total);
    size_t n, others = 0;
    dnode *d = decode(&fg, &n);
    for (size_t i = 0; i < n; i++) {
      if (strcmp(d[i].name, "other") == 0) {
        others++;
        assert_int_equal(d[i].self[0], d[i].total[0]); /* a folded leaf */
      } else if (i > 0) {
        assert_true(d[i].total[0] >= thr);
      }
    }
    assert_int_equal(n, 1 + kept + others);
    assert_true(others > 0);
    free(d);
    pyr_fg_free(&fg);
    pyr_store_tree_free(t);
  }
  /* everything fits: threshold 0 */
  static const char *const lines[] = {"a 1", "b 2"};
  pyr_store_tree *t = tree_of(lines, 2);
  assert_int_equal(pyr_fg_threshold(t, 2), 0);
  assert_int_equal(pyr_fg_threshold(t, 1), 2);
  pyr_store_tree_free(t);
}

static void test_truncation_other(void **state) {
  (void)state;
  /* main has a big child and three small ones: with 3 nodes allowed,
   * the small ones fold into one "other" right of the big one. */
  static const char *const lines[] = {"main;big 100", "main;s1 1", "main;s2 2", "main;s3 3",
                                      "main 4"};
  pyr_store_tree *t = tree_of(lines, 5);
  pyr_flamegraph fg;
  assert_int_equal(pyr_fg_build(t, 3, &fg), 0); /* totals: 110, 100, 3 -> threshold 3 */
  /* kept: main, big, s3 (3 >= 3); folded: s1 + s2 = 3 */
  assert_int_equal(fg.nlevels, 3);
  size_t n;
  dnode *d = decode(&fg, &n);
  assert_int_equal(n, 5);
  assert_string_equal(d[2].name, "big");
  assert_int_equal(d[2].x[0], 4);
  assert_string_equal(d[3].name, "s3");
  assert_int_equal(d[3].x[0], 104);
  assert_string_equal(d[4].name, "other");
  assert_int_equal(d[4].x[0], 107);
  assert_int_equal(d[4].total[0], 3);
  free(d);
  check_structure(&fg);
  pyr_fg_free(&fg);
  pyr_store_tree_free(t);
}

static void test_diff(void **state) {
  (void)state;
  static const char *const left[] = {"main;a 3", "main;b 5"};
  static const char *const right[] = {"main;a 1", "main;c 4"};
  pyr_store_tree *l = tree_of(left, 2), *r = tree_of(right, 2);
  pyr_flamegraph fg;
  assert_int_equal(pyr_fg_build_diff(l, r, 0, &fg), 0);
  assert_int_equal(fg.width, 7);
  assert_int_equal(fg.left_ticks, 8);
  assert_int_equal(fg.right_ticks, 5);
  assert_int_equal(fg.total, 13);
  assert_int_equal(fg.max_self, 5);
  static const int64_t l0[] = {0, 8, 0, 0, 5, 0, 0}, l1[] = {0, 8, 0, 0, 5, 0, 1},
                       l2[] = {0, 3, 3, 0, 1, 1, 2, /* a */
                               0, 5, 5, 0, 0, 0, 3, /* b: left only */
                               0, 0, 0, 0, 4, 4, 4 /* c: right only */};
  assert_int_equal(fg.nlevels, 3);
  assert_memory_equal(fg.levels[0].v, l0, sizeof(l0));
  assert_memory_equal(fg.levels[1].v, l1, sizeof(l1));
  assert_int_equal(fg.levels[2].n, 21);
  assert_memory_equal(fg.levels[2].v, l2, sizeof(l2));
  assert_string_equal(fg.names[4].s, "c");
  check_structure(&fg);
  pyr_fg_free(&fg);

  /* random pairs keep both sides consistent, also truncated */
  for (int round = 0; round < 10; round++) {
    pyr_store_tree *a = random_tree(150, 6, 4, false), *b = random_tree(150, 6, 4, false);
    assert_int_equal(pyr_fg_build_diff(a, b, round % 2 ? 20 : 0, &fg), 0);
    assert_int_equal(fg.left_ticks, a->total);
    assert_int_equal(fg.right_ticks, b->total);
    check_structure(&fg);
    pyr_fg_free(&fg);
    pyr_store_tree_free(a);
    pyr_store_tree_free(b);
  }
  /* one side empty */
  pyr_store_tree none = {0};
  assert_int_equal(pyr_fg_build_diff(&none, r, 0, &fg), 0);
  assert_int_equal(fg.left_ticks, 0);
  assert_int_equal(fg.right_ticks, 5);
  check_structure(&fg);
  pyr_fg_free(&fg);
  pyr_store_tree_free(l);
  pyr_store_tree_free(r);
}

static void test_collapsed_tree_focus(void **state) {
  (void)state;
  static const char *const lines[] = {"main 2", "main;b;x 5", "main;a 3", "other;y 1"};
  pyr_store_tree *t = tree_of(lines, 4);
  pyr_jw w;
  pyr_jw_init(&w);
  pyr_fg_write_collapsed(&w, t);
  size_t len;
  char *s = pyr_jw_take(&w, &len);
  assert_string_equal(s, "main 2\nmain;a 3\nmain;b;x 5\nother;y 1\n");
  free(s);

  /* TREE bytes: virtual root, then pre-order records */
  pyr_jw_init(&w);
  pyr_fg_write_tree(&w, t, 0);
  s = pyr_jw_take(&w, &len);
  static const char want[] = "\x00\x00\x02"              /* root: 2 children */
                             "\x04main\x02\x02"          /* main self 2, 2 kids */
                             "\x01" "a\x03\x00"          /* a self 3 */
                             "\x01" "b\x00\x01"          /* b */
                             "\x01x\x05\x00"             /* x self 5 */
                             "\x05other\x00\x01"         /* the frame named other */
                             "\x01y\x01\x00";
  assert_int_equal(len, sizeof(want) - 1);
  assert_memory_equal(s, want, len);
  free(s);

  /* focus on main;b: only that subtree's value remains */
  static const char *const path[] = {"main", "b"};
  pyr_fg_focus(t, path, 2);
  assert_int_equal(t->total, 5);
  pyr_jw_init(&w);
  pyr_fg_write_collapsed(&w, t);
  s = pyr_jw_take(&w, &len);
  assert_string_equal(s, "main;b;x 5\n");
  free(s);
  pyr_flamegraph fg;
  assert_int_equal(pyr_fg_build(t, 0, &fg), 0);
  check_structure(&fg);
  assert_int_equal(fg.total, 5);
  pyr_fg_free(&fg);
  /* a path that is not there selects nothing */
  static const char *const nope[] = {"main", "zzz"};
  pyr_fg_focus(t, nope, 2);
  assert_int_equal(t->total, 0);
  pyr_store_tree_free(t);
}

/* pprof export of a tree, read back by the ingest decoder. */
static void test_pprof_roundtrip(void **state) {
  (void)state;
  for (int round = 0; round < 6; round++) {
    pyr_store_tree *t = random_tree(120, 7, 5, true);
    uint32_t max_nodes = round < 3 ? 0 : 15;
    pyr_pprof_meta m = {"cpu", "nanoseconds", "cpu", "nanoseconds", 10000000,
                        INT64_C(1700000000000000000), INT64_C(3600000000000)};
    uint8_t *buf;
    size_t len;
    assert_int_equal(pyr_pprof_encode_tree(t, &m, max_nodes, &buf, &len), 0);
    pyr_prof_list l = {0};
    pyr_pprof_opts o = {.metric = "process_cpu"};
    char err[256] = "";
    if (pyr_pprof_decode(buf, len, &o, &l, err, sizeof(err)) != PYR_PROF_OK)
      fail_msg("decode: %s", err);
    assert_int_equal(l.n, 1);
    const pyr_prof_type *ty = pyr_prof_get_type(l.items[0]);
    assert_string_equal(ty->sample_type[0], "cpu");
    assert_string_equal(ty->sample_unit[0], "nanoseconds");
    assert_string_equal(ty->period_type, "cpu");
    assert_int_equal(ty->period, 10000000);
    int64_t tn, dn;
    pyr_prof_get_time(l.items[0], &tn, &dn);
    assert_int_equal(tn, m.time_nanos);
    assert_int_equal(dn, m.duration_nanos);

    /* every sample's stack, as collapsed text with lines */
    pyr_jw got;
    pyr_jw_init(&got);
    int64_t sum = 0;
    size_t ns = pyr_prof_nsamples(l.items[0]);
    for (size_t i = 0; i < ns; i++) {
      const uint32_t *locs;
      uint32_t n, lsid;
      const int64_t *v;
      pyr_prof_sample(l.items[0], i, &locs, &n, &lsid, &v);
      sum += v[0];
      if (max_nodes == 0) { /* then each stack is exactly a tree path */
        uint32_t cur = 0;
        for (uint32_t k = 0; k < n; k++) {
          uint32_t name;
          int64_t line;
          size_t sl;
          pyr_prof_loc(l.items[0], locs[k], &name, &line);
          const char *s = pyr_prof_str(l.items[0], name, &sl);
          uint32_t c = t->nodes[cur].first_child;
          for (; c; c = t->nodes[c].next_sibling) {
            size_t tl;
            const char *tn2 = pyr_store_tree_name(t, t->nodes[c].name, &tl);
            if (tl == sl && memcmp(tn2, s, sl) == 0 && t->nodes[c].line == line)
              break;
          }
          if (c == 0)
            fail_msg("sample %zu frame %u (%.*s:%lld) not in the tree", i, k, (int)sl, s,
                     (long long)line);
          cur = c;
        }
        assert_int_equal(v[0], t->nodes[cur].self);
      }
    }
    assert_int_equal(sum, t->total);
    pyr_jw_free(&got);
    pyr_prof_list_free(&l);
    free(buf);
    pyr_store_tree_free(t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pyroscope_example), cmocka_unit_test(test_empty),
      cmocka_unit_test(test_random_structure),  cmocka_unit_test(test_truncation),
      cmocka_unit_test(test_truncation_other),  cmocka_unit_test(test_diff),
      cmocka_unit_test(test_collapsed_tree_focus), cmocka_unit_test(test_pprof_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
