/*
 * flamegraph.c - call tree -> flame graph levels, diff graphs, collapsed
 * text and TREE bytes (see flamegraph.h for the encodings).
 *
 * What: one iterative depth-first walk per output, children left to right
 * (pre-order), which is exactly the left-to-right order of every level, so
 * each level is appended to as the walk reaches it and the x offsets can
 * be delta-encoded on the fly.  Truncation needs one selection pass
 * (quickselect) over the node totals to find the threshold.
 *
 * Threads: pure functions.
 *
 * Invariants: explicit stacks, never recursion (stacks can be thousands of
 * frames deep); a child's total never exceeds its parent's for
 * non-negative values, so "total >= threshold" alone decides which nodes
 * are drawn and a drawn node's parent is always drawn; every allocation
 * failure leaves an empty, freeable graph.
 */
#include "flamegraph.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define OTHER UINT32_MAX
static const char other_name[] = "other";
static const char total_name[] = "total";

/* ---- growable helpers ------------------------------------------------------ */

static bool grow(void **p, size_t *cap, size_t need, size_t elt) {
  if (need <= *cap)
    return true;
  size_t nc = *cap ? *cap : 16;
  while (nc < need)
    nc *= 2;
  void *np = realloc(*p, nc * elt);
  if (np == NULL)
    return false;
  *p = np;
  *cap = nc;
  return true;
}

typedef struct builder {
  pyr_flamegraph *fg;
  int64_t *prev[2]; /* right edge of the last node per level, per side */
  size_t prev_cap[2];
  bool oom;
} builder;

static pyr_fg_level *level(builder *b, size_t depth) {
  pyr_flamegraph *fg = b->fg;
  if (depth >= fg->nlevels) {
    if (!grow((void **)&fg->levels, &fg->levels_cap, depth + 1, sizeof(*fg->levels)))
      return NULL;
    for (int s = 0; s < 2; s++) {
      size_t old = b->prev_cap[s];
      if (!grow((void **)&b->prev[s], &b->prev_cap[s], depth + 1, sizeof(int64_t)))
        return NULL;
      memset(b->prev[s] + old, 0, (b->prev_cap[s] - old) * sizeof(int64_t));
    }
    while (fg->nlevels <= depth) {
      memset(&fg->levels[fg->nlevels], 0, sizeof(fg->levels[0]));
      fg->nlevels++;
    }
  }
  return &fg->levels[depth];
}

static uint32_t add_name(builder *b, const char *s, size_t len) {
  pyr_flamegraph *fg = b->fg;
  if (!grow((void **)&fg->names, &fg->names_cap, fg->nnames + 1, sizeof(*fg->names))) {
    b->oom = true;
    return 0;
  }
  fg->names[fg->nnames] = (pyr_fg_name){s, len};
  return (uint32_t)fg->nnames++;
}

/* Appends one node of width numbers to level depth. */
static void emit(builder *b, size_t depth, const int64_t *x, const int64_t *vals,
                 unsigned sides, uint32_t name) {
  pyr_fg_level *l = level(b, depth);
  unsigned w = b->fg->width;
  if (l == NULL || !grow((void **)&l->v, &l->cap, l->n + w, sizeof(int64_t))) {
    b->oom = true;
    return;
  }
  int64_t *o = l->v + l->n;
  for (unsigned s = 0; s < sides; s++) {
    int64_t total = vals[2 * s], self = vals[2 * s + 1];
    o[3 * s] = x[s] - b->prev[s][depth];
    o[3 * s + 1] = total;
    o[3 * s + 2] = self;
    b->prev[s][depth] = x[s] + total;
    if (self > b->fg->max_self)
      b->fg->max_self = self;
  }
  o[w - 1] = name;
  l->n += w;
  b->fg->nnodes++;
}

static void builder_done(builder *b, int *rc) {
  free(b->prev[0]);
  free(b->prev[1]);
  if (b->oom) {
    pyr_fg_free(b->fg);
    *rc = -1;
  }
}

void pyr_fg_free(pyr_flamegraph *fg) {
  for (size_t i = 0; i < fg->nlevels; i++)
    free(fg->levels[i].v);
  free(fg->levels);
  free(fg->names);
  free(fg->name_map);
  free(fg->intern);
  unsigned w = fg->width;
  memset(fg, 0, sizeof(*fg));
  fg->width = w;
}

/* ---- threshold ---------------------------------------------------------------- */

/* k-th largest (k >= 1) of v[0..n), n >= k; reorders v.  Quickselect
 * with a three-way partition ([> pivot | == pivot | < pivot]), so runs of
 * equal totals (common: many leaves with one sample) cannot degrade it. */
static int64_t kth_largest(int64_t *v, size_t n, size_t k) {
  size_t lo = 0, hi = n, want = k - 1;
  while (hi - lo > 1) {
    int64_t a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
    int64_t piv = (a > b) ? ((b > c) ? b : (a > c ? c : a)) : ((a > c) ? a : (b > c ? c : b));
    size_t lt = lo, i = lo, gt = hi;
    while (i < gt) {
      int64_t x = v[i];
      if (x > piv) {
        v[i++] = v[lt];
        v[lt++] = x;
      } else if (x < piv) {
        v[i] = v[--gt];
        v[gt] = x;
      } else {
        i++;
      }
    }
    if (want < lt)
      hi = lt;
    else if (want >= gt)
      lo = gt;
    else
      return piv;
  }
  return v[lo];
}

static int64_t threshold_of(int64_t *tot, size_t n, uint32_t max_nodes) {
  if (max_nodes == 0 || n <= max_nodes)
    return 0;
  return kth_largest(tot, n, max_nodes);
}

int64_t pyr_fg_threshold(const pyr_store_tree *t, uint32_t max_nodes) {
  size_t n = t->nnodes > 0 ? t->nnodes - 1 : 0;
  if (max_nodes == 0 || n <= max_nodes)
    return 0;
  int64_t *tot = malloc(n * sizeof(*tot));
  if (tot == NULL)
    return 0; /* no truncation rather than no answer */
  for (size_t i = 0; i < n; i++)
    tot[i] = t->nodes[i + 1].total;
  int64_t thr = threshold_of(tot, n, max_nodes);
  free(tot);
  return thr;
}

/* ---- single graph ----------------------------------------------------------- */

typedef struct sent {
  uint32_t node; /* OTHER: a folded "other" leaf */
  uint32_t depth;
  int64_t x;
  int64_t other;
} sent;

static uint32_t tree_name(builder *b, const pyr_store_tree *t, uint32_t name) {
  pyr_flamegraph *fg = b->fg;
  if (name < t->nnames && fg->name_map[name])
    return fg->name_map[name] - 1;
  size_t len;
  const char *s = pyr_store_tree_name(t, name, &len);
  uint32_t idx = add_name(b, s, len);
  if (name < t->nnames)
    fg->name_map[name] = idx + 1;
  return idx;
}

int pyr_fg_build(const pyr_store_tree *t, uint32_t max_nodes, pyr_flamegraph *out) {
  memset(out, 0, sizeof(*out));
  out->width = 4;
  builder b = {.fg = out};
  sent *st = NULL, *kids = NULL;
  size_t sn = 0, scap = 0, kcap = 0;
  int rc = 0;
  uint32_t other_idx = OTHER;

  out->name_map = calloc(t->nnames ? t->nnames : 1, sizeof(*out->name_map));
  if (out->name_map == NULL) {
    b.oom = true;
    goto out;
  }
  add_name(&b, total_name, sizeof(total_name) - 1);
  if (t->nnames > 0)
    out->name_map[0] = 1; /* the root's name is "total" */
  if (t->nnodes == 0) {
    int64_t x = 0, v[2] = {0, 0};
    emit(&b, 0, &x, v, 1, 0);
    goto out;
  }
  out->total = t->nodes[0].total;
  int64_t thr = pyr_fg_threshold(t, max_nodes);

  if (!grow((void **)&st, &scap, 1, sizeof(*st))) {
    b.oom = true;
    goto out;
  }
  st[sn++] = (sent){0, 0, 0, 0};
  while (sn > 0 && !b.oom) {
    sent e = st[--sn];
    if (e.node == OTHER) {
      if (other_idx == OTHER)
        other_idx = add_name(&b, other_name, sizeof(other_name) - 1);
      int64_t v[2] = {e.other, e.other};
      emit(&b, e.depth, &e.x, v, 1, other_idx);
      continue;
    }
    const pyr_store_tree_node *n = &t->nodes[e.node];
    int64_t v[2] = {n->total, n->self};
    emit(&b, e.depth, &e.x, v, 1, e.node == 0 ? 0 : tree_name(&b, t, n->name));
    /* Children: drawn ones get x offsets left to right, the rest fold. */
    size_t nk = 0;
    int64_t cx = e.x + n->self, other = 0;
    for (uint32_t c = n->first_child; c != 0; c = t->nodes[c].next_sibling) {
      int64_t ct = t->nodes[c].total;
      if (ct == 0)
        continue;
      if (ct < thr) {
        other += ct;
        continue;
      }
      if (!grow((void **)&kids, &kcap, nk + 1, sizeof(*kids))) {
        b.oom = true;
        break;
      }
      kids[nk++] = (sent){c, e.depth + 1, cx, 0};
      cx += ct;
    }
    if (!grow((void **)&st, &scap, sn + nk + 1, sizeof(*st))) {
      b.oom = true;
      break;
    }
    if (other != 0) /* pushed first: drawn right of its siblings */
      st[sn++] = (sent){OTHER, e.depth + 1, cx, other};
    while (nk > 0)
      st[sn++] = kids[--nk];
  }
out:
  free(st);
  free(kids);
  builder_done(&b, &rc);
  return rc;
}

/* ---- diff graph ----------------------------------------------------------------- */

typedef struct unode {
  const char *s;
  size_t len;
  int64_t v[4]; /* left total, left self, right total, right self */
  uint32_t first_child, next_sibling;
} unode;

static int name_cmp(const char *a, size_t la, const char *b, size_t lb) {
  int c = memcmp(a, b, la < lb ? la : lb);
  if (c)
    return c;
  return la < lb ? -1 : la > lb;
}

static uint64_t str_hash(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a; names are server-side data */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

/* Interns a name for diff graphs (names from two trees share indexes). */
static uint32_t intern(builder *b, const char *s, size_t len) {
  pyr_flamegraph *fg = b->fg;
  uint32_t *tab = fg->intern;
  if ((fg->nnames + 1) * 2 > fg->intern_mask) {
    size_t cap = fg->intern_mask ? (fg->intern_mask + 1) * 2 : 1024;
    uint32_t *nt = calloc(cap, sizeof(*nt));
    if (nt == NULL) {
      b->oom = true;
      return 0;
    }
    for (size_t i = 0; tab && i <= fg->intern_mask; i++) {
      if (!tab[i])
        continue;
      const pyr_fg_name *nm = &fg->names[tab[i] - 1];
      size_t j = str_hash(nm->s, nm->len) & (cap - 1);
      while (nt[j])
        j = (j + 1) & (cap - 1);
      nt[j] = tab[i];
    }
    free(tab);
    fg->intern = tab = nt;
    fg->intern_mask = cap - 1;
  }
  size_t j = str_hash(s, len) & fg->intern_mask;
  for (; tab[j]; j = (j + 1) & fg->intern_mask) {
    const pyr_fg_name *nm = &fg->names[tab[j] - 1];
    if (nm->len == len && memcmp(nm->s, s, len) == 0)
      return tab[j] - 1;
  }
  uint32_t idx = add_name(b, s, len);
  if (!b->oom)
    tab[j] = idx + 1;
  return idx;
}

typedef struct ujob {
  uint32_t l, r, u; /* left node, right node (OTHER = absent), union node */
} ujob;

/* Union of the two trees: children merged by name. */
static unode *build_union(const pyr_store_tree *L, const pyr_store_tree *R, size_t *nout) {
  size_t cap = (L->nnodes ? L->nnodes : 1) + (R->nnodes ? R->nnodes : 1), n = 1;
  unode *u = calloc(cap, sizeof(*u));
  ujob *js = malloc(cap * sizeof(*js));
  size_t jn = 0;
  if (u == NULL || js == NULL)
    goto fail;
  u[0].s = total_name;
  u[0].len = sizeof(total_name) - 1;
  if (L->nnodes) {
    u[0].v[0] = L->nodes[0].total;
    u[0].v[1] = L->nodes[0].self;
  }
  if (R->nnodes) {
    u[0].v[2] = R->nodes[0].total;
    u[0].v[3] = R->nodes[0].self;
  }
  js[jn++] = (ujob){L->nnodes ? 0 : OTHER, R->nnodes ? 0 : OTHER, 0};
  while (jn > 0) {
    ujob j = js[--jn];
    uint32_t a = j.l == OTHER ? 0 : L->nodes[j.l].first_child;
    uint32_t c = j.r == OTHER ? 0 : R->nodes[j.r].first_child;
    uint32_t prev = 0;
    while (a || c) {
      size_t la = 0, lc = 0;
      const char *sa = a ? pyr_store_tree_name(L, L->nodes[a].name, &la) : NULL;
      const char *sc = c ? pyr_store_tree_name(R, R->nodes[c].name, &lc) : NULL;
      int cmp = !a ? 1 : !c ? -1 : name_cmp(sa, la, sc, lc);
      uint32_t k = (uint32_t)n++;
      unode *x = &u[k];
      ujob nj = {OTHER, OTHER, k};
      if (cmp <= 0) {
        x->s = sa;
        x->len = la;
        x->v[0] = L->nodes[a].total;
        x->v[1] = L->nodes[a].self;
        nj.l = a;
        a = L->nodes[a].next_sibling;
      }
      if (cmp >= 0) {
        x->s = sc;
        x->len = lc;
        x->v[2] = R->nodes[c].total;
        x->v[3] = R->nodes[c].self;
        nj.r = c;
        c = R->nodes[c].next_sibling;
      }
      if (prev)
        u[prev].next_sibling = k;
      else
        u[j.u].first_child = k;
      prev = k;
      js[jn++] = nj;
    }
  }
  free(js);
  *nout = n;
  return u;
fail:
  free(u);
  free(js);
  return NULL;
}

typedef struct dent {
  uint32_t u; /* OTHER: folded leaf */
  uint32_t depth;
  int64_t x[2];
  int64_t other[2];
} dent;

int pyr_fg_build_diff(const pyr_store_tree *left, const pyr_store_tree *right,
                      uint32_t max_nodes, pyr_flamegraph *out) {
  memset(out, 0, sizeof(*out));
  out->width = 7;
  builder b = {.fg = out};
  dent *st = NULL, *kids = NULL;
  size_t sn = 0, scap = 0, kcap = 0, nu = 0;
  int64_t *tot = NULL;
  int rc = 0;
  uint32_t other_idx = OTHER;
  unode *u = build_union(left, right, &nu);
  if (u == NULL) {
    b.oom = true;
    goto out;
  }
  intern(&b, total_name, sizeof(total_name) - 1);
  out->left_ticks = u[0].v[0];
  out->right_ticks = u[0].v[2];
  out->total = u[0].v[0] + u[0].v[2];
  int64_t thr = 0;
  if (max_nodes && nu - 1 > max_nodes) {
    tot = malloc((nu - 1) * sizeof(*tot));
    if (tot == NULL) {
      b.oom = true;
      goto out;
    }
    for (size_t i = 1; i < nu; i++)
      tot[i - 1] = u[i].v[0] + u[i].v[2];
    thr = threshold_of(tot, nu - 1, max_nodes);
  }
  if (!grow((void **)&st, &scap, 1, sizeof(*st))) {
    b.oom = true;
    goto out;
  }
  st[sn++] = (dent){0, 0, {0, 0}, {0, 0}};
  while (sn > 0 && !b.oom) {
    dent e = st[--sn];
    if (e.u == OTHER) {
      if (other_idx == OTHER)
        other_idx = intern(&b, other_name, sizeof(other_name) - 1);
      int64_t v[4] = {e.other[0], e.other[0], e.other[1], e.other[1]};
      emit(&b, e.depth, e.x, v, 2, other_idx);
      continue;
    }
    const unode *n = &u[e.u];
    emit(&b, e.depth, e.x, n->v, 2, e.u == 0 ? 0 : intern(&b, n->s, n->len));
    size_t nk = 0;
    int64_t cx[2] = {e.x[0] + n->v[1], e.x[1] + n->v[3]}, other[2] = {0, 0};
    for (uint32_t c = n->first_child; c != 0; c = u[c].next_sibling) {
      int64_t ct = u[c].v[0] + u[c].v[2];
      if (u[c].v[0] == 0 && u[c].v[2] == 0)
        continue;
      if (ct < thr) {
        other[0] += u[c].v[0];
        other[1] += u[c].v[2];
        continue;
      }
      if (!grow((void **)&kids, &kcap, nk + 1, sizeof(*kids))) {
        b.oom = true;
        break;
      }
      kids[nk++] = (dent){c, e.depth + 1, {cx[0], cx[1]}, {0, 0}};
      cx[0] += u[c].v[0];
      cx[1] += u[c].v[2];
    }
    if (!grow((void **)&st, &scap, sn + nk + 1, sizeof(*st))) {
      b.oom = true;
      break;
    }
    if (other[0] != 0 || other[1] != 0)
      st[sn++] = (dent){OTHER, e.depth + 1, {cx[0], cx[1]}, {other[0], other[1]}};
    while (nk > 0)
      st[sn++] = kids[--nk];
  }
out:
  free(u);
  free(tot);
  free(st);
  free(kids);
  builder_done(&b, &rc);
  return rc;
}

/* ---- JSON / text / TREE ------------------------------------------------------------ */

void pyr_fg_write_flamebearer(pyr_jw *w, const pyr_flamegraph *fg) {
  pyr_jw_lit(w, "{\"names\":[");
  for (size_t i = 0; i < fg->nnames; i++) {
    if (i)
      pyr_jw_c(w, ',');
    pyr_jw_str(w, fg->names[i].s, fg->names[i].len);
  }
  pyr_jw_lit(w, "],\"levels\":[");
  for (size_t l = 0; l < fg->nlevels; l++) {
    if (l)
      pyr_jw_c(w, ',');
    pyr_jw_c(w, '[');
    const pyr_fg_level *lv = &fg->levels[l];
    /* up to 20 digits + sign + comma per number */
    if (!pyr_jw_reserve(w, lv->n * 22 + 2))
      return;
    for (size_t i = 0; i < lv->n; i++) {
      if (i)
        pyr_jw_c(w, ',');
      pyr_jw_i64(w, lv->v[i]);
    }
    pyr_jw_c(w, ']');
  }
  pyr_jw_lit(w, "],\"numTicks\":");
  pyr_jw_i64(w, fg->total);
  pyr_jw_lit(w, ",\"maxSelf\":");
  pyr_jw_i64(w, fg->max_self);
  pyr_jw_c(w, '}');
}

typedef struct cent {
  uint32_t node, depth;
} cent;

void pyr_fg_write_collapsed(pyr_jw *w, const pyr_store_tree *t) {
  cent *st = NULL;
  uint32_t *path = NULL;
  size_t sn = 0, scap = 0, pcap = 0;
  if (t->nnodes == 0)
    return;
  if (!grow((void **)&st, &scap, 1, sizeof(*st))) {
    w->oom = true;
    return;
  }
  st[sn++] = (cent){0, 0};
  while (sn > 0 && !w->oom) {
    cent e = st[--sn];
    if (!grow((void **)&path, &pcap, (size_t)e.depth + 1, sizeof(*path))) {
      w->oom = true;
      break;
    }
    path[e.depth] = e.node;
    const pyr_store_tree_node *n = &t->nodes[e.node];
    if (e.node != 0 && n->self != 0) {
      for (uint32_t d = 1; d <= e.depth; d++) {
        size_t len;
        const char *s = pyr_store_tree_name(t, t->nodes[path[d]].name, &len);
        if (d > 1)
          pyr_jw_c(w, ';');
        pyr_jw_raw(w, s, len);
      }
      pyr_jw_c(w, ' ');
      pyr_jw_i64(w, n->self);
      pyr_jw_c(w, '\n');
    }
    size_t nk = 0;
    for (uint32_t c = n->first_child; c; c = t->nodes[c].next_sibling)
      nk++;
    if (!grow((void **)&st, &scap, sn + nk, sizeof(*st))) {
      w->oom = true;
      break;
    }
    /* push right to left so the leftmost child is visited first */
    size_t at = sn + nk;
    for (uint32_t c = n->first_child; c; c = t->nodes[c].next_sibling)
      st[--at] = (cent){c, e.depth + 1};
    sn += nk;
  }
  free(st);
  free(path);
}

static void put_uvarint(pyr_jw *w, uint64_t v) {
  char b[10];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = (char)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (char)v;
  pyr_jw_raw(w, b, n);
}

void pyr_fg_write_tree(pyr_jw *w, const pyr_store_tree *t, uint32_t max_nodes) {
  sent *st = NULL;
  size_t sn = 0, scap = 0;
  if (t->nnodes == 0) {
    put_uvarint(w, 0);
    put_uvarint(w, 0);
    put_uvarint(w, 0);
    return;
  }
  int64_t thr = pyr_fg_threshold(t, max_nodes);
  if (!grow((void **)&st, &scap, 1, sizeof(*st))) {
    w->oom = true;
    return;
  }
  st[sn++] = (sent){0, 0, 0, 0};
  while (sn > 0 && !w->oom) {
    sent e = st[--sn];
    if (e.node == OTHER) {
      put_uvarint(w, sizeof(other_name) - 1);
      pyr_jw_raw(w, other_name, sizeof(other_name) - 1);
      put_uvarint(w, (uint64_t)e.other);
      put_uvarint(w, 0);
      continue;
    }
    const pyr_store_tree_node *n = &t->nodes[e.node];
    size_t nk = 0, len = 0;
    int64_t other = 0;
    for (uint32_t c = n->first_child; c; c = t->nodes[c].next_sibling) {
      int64_t ct = t->nodes[c].total;
      if (ct == 0)
        continue;
      if (ct < thr)
        other += ct;
      else
        nk++;
    }
    const char *s = e.node == 0 ? "" : pyr_store_tree_name(t, n->name, &len);
    put_uvarint(w, len);
    pyr_jw_raw(w, s, len);
    put_uvarint(w, (uint64_t)(n->self < 0 ? 0 : n->self));
    put_uvarint(w, nk + (other != 0));
    if (!grow((void **)&st, &scap, sn + nk + 1, sizeof(*st))) {
      w->oom = true;
      break;
    }
    if (other != 0)
      st[sn++] = (sent){OTHER, e.depth + 1, 0, other};
    size_t at = sn + nk;
    for (uint32_t c = n->first_child; c; c = t->nodes[c].next_sibling) {
      int64_t ct = t->nodes[c].total;
      if (ct != 0 && ct >= thr)
        st[--at] = (sent){c, e.depth + 1, 0, 0};
    }
    sn += nk;
  }
  free(st);
}

void pyr_fg_focus(pyr_store_tree *t, const char *const *path, size_t n) {
  if (t->nnodes == 0 || n == 0)
    return;
  uint32_t cur = 0;
  uint32_t *chain = malloc((n + 1) * sizeof(*chain));
  if (chain == NULL)
    return; /* unfocused rather than wrong */
  chain[0] = 0;
  for (size_t i = 0; i < n; i++) {
    size_t want = strlen(path[i]);
    uint32_t c = t->nodes[cur].first_child;
    for (; c; c = t->nodes[c].next_sibling) {
      size_t len;
      const char *s = pyr_store_tree_name(t, t->nodes[c].name, &len);
      if (len == want && memcmp(s, path[i], len) == 0)
        break;
    }
    if (c == 0) { /* not there: nothing is selected */
      t->nodes[0].first_child = 0;
      t->nodes[0].self = 0;
      t->nodes[0].total = 0;
      t->total = 0;
      free(chain);
      return;
    }
    chain[i + 1] = c;
    cur = c;
  }
  int64_t total = t->nodes[cur].total;
  for (size_t i = 0; i < n; i++) {
    pyr_store_tree_node *p = &t->nodes[chain[i]];
    p->first_child = chain[i + 1];
    p->self = 0;
    p->total = total;
    t->nodes[chain[i + 1]].next_sibling = 0;
  }
  t->total = total;
  free(chain);
}
