/*
 * flame.c - flamebearer decoding and tree queries (see flame.h).
 *
 * Decoding: each level is a left-to-right list of [x_delta, total, self,
 * name] tuples whose absolute x is the previous node's right edge plus
 * x_delta (pyroscope-api.md §4.2).  Parents are found by interval
 * containment, walking level L-1 and level L together (both are sorted by
 * x), which is how Grafana rebuilds the tree too; it makes no assumption
 * about where inside its parent a child sits.
 *
 * Queries walk the tree depth-first without recursion (stacks can be
 * thousands of frames deep) through first_child/next_sibling links.
 *
 * Threads: single-threaded; decoded flames are read-only.
 *
 * Invariants: every kept node lies inside its parent's interval; names are
 * unique after decoding; all arithmetic on untrusted totals is checked.
 */
#include "flame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- decoding ---- */

static int json_u64(const json_t *v, uint64_t *out) {
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    if (i < 0)
      return -1;
    *out = (uint64_t)i;
    return 0;
  }
  if (json_is_real(v)) { /* numbers above 2^63 come back as reals */
    double d = json_real_value(v);
    if (!(d >= 0 && d < 18446744073709551616.0))
      return -1;
    *out = (uint64_t)d;
    return 0;
  }
  if (json_is_string(v)) { /* protojson int64 */
    const char *s = json_string_value(v);
    char *end;
    if (*s < '0' || *s > '9')
      return -1;
    *out = strtoull(s, &end, 10);
    return *end == '\0' ? 0 : -1;
  }
  return -1;
}

/* A level is [..] (render) or {"values": [..]} (Connect). */
static const json_t *level_values(const json_t *level) {
  if (json_is_object(level))
    return json_object_get(level, "values");
  return level;
}

struct name_ref {
  const char *s;
  size_t idx;
};

static int cmp_name_ref(const void *a, const void *b) {
  const struct name_ref *x = a, *y = b;
  int c = strcmp(x->s, y->s);
  if (c != 0)
    return c;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Copies the unique names into f->names; remap[i] = new index of name i. */
static int decode_names(const json_t *names, pyr_cli_flame *f, uint32_t *remap,
                        char *err, size_t errlen) {
  size_t n = json_array_size(names);
  struct name_ref *refs = calloc(n ? n : 1, sizeof(*refs));
  int rc = -1;
  f->names = calloc(n ? n : 1, sizeof(char *));
  if (refs == NULL || f->names == NULL) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *s = json_array_get(names, i);
    if (!json_is_string(s)) {
      snprintf(err, errlen, "flame graph: names[%zu] is not a string", i);
      goto out;
    }
    refs[i] = (struct name_ref){json_string_value(s), i};
  }
  /* Sorting groups duplicates; the first of each group becomes the name. */
  qsort(refs, n, sizeof(*refs), cmp_name_ref);
  for (size_t i = 0; i < n; i++) {
    if (i == 0 || strcmp(refs[i].s, refs[i - 1].s) != 0) {
      f->names[f->nnames] = strdup(refs[i].s);
      if (f->names[f->nnames] == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
      }
      f->nnames++;
    }
    remap[refs[i].idx] = (uint32_t)(f->nnames - 1);
  }
  rc = 0;
out:
  free(refs);
  return rc;
}

struct level_cursor {
  size_t first, end; /* parents: nodes[first, end) */
  size_t p;          /* current candidate parent */
  uint32_t last;     /* last child linked to nodes[p] */
};

/* Links node c (already filled in, x and total set) under its parent. */
static int link_child(pyr_cli_flame *f, struct level_cursor *cur, uint32_t c) {
  pyr_cli_fnode *n = &f->nodes[c];
  while (cur->p < cur->end &&
         f->nodes[cur->p].x + f->nodes[cur->p].total <= n->x) {
    cur->p++;
    cur->last = PYR_CLI_NONE;
  }
  if (cur->p == cur->end)
    return -1;
  pyr_cli_fnode *par = &f->nodes[cur->p];
  if (n->x < par->x || n->x + n->total > par->x + par->total)
    return -1;
  n->parent = (uint32_t)cur->p;
  n->depth = par->depth + 1;
  if (cur->last == PYR_CLI_NONE)
    par->first_child = c;
  else
    f->nodes[cur->last].next_sibling = c;
  cur->last = c;
  return 0;
}

static int decode_level(pyr_cli_flame *f, const json_t *vals, size_t level,
                        const uint32_t *remap, size_t nraw,
                        struct level_cursor *cur, char *err, size_t errlen) {
  size_t len = json_array_size(vals);
  uint64_t prev_end = 0;
  if (!json_is_array(vals) || len % 4 != 0) {
    snprintf(err, errlen, "flame graph: level %zu is not a list of 4-tuples",
             level);
    return -1;
  }
  for (size_t i = 0; i < len; i += 4) {
    uint64_t v[4];
    for (int k = 0; k < 4; k++)
      if (json_u64(json_array_get(vals, i + (size_t)k), &v[k]) != 0) {
        snprintf(err, errlen, "flame graph: level %zu: bad number", level);
        return -1;
      }
    if (v[3] >= nraw || v[2] > v[1] || __builtin_add_overflow(prev_end, v[0], &v[0]) ||
        __builtin_add_overflow(v[0], v[1], &prev_end)) {
      snprintf(err, errlen, "flame graph: level %zu: inconsistent node", level);
      return -1;
    }
    if (v[1] == 0) /* zero-width: invisible and contributes nothing */
      continue;
    uint32_t c = (uint32_t)f->nnodes;
    f->nodes[c] = (pyr_cli_fnode){.name = remap[v[3]], .parent = PYR_CLI_NONE,
                                  .first_child = PYR_CLI_NONE,
                                  .next_sibling = PYR_CLI_NONE,
                                  .total = v[1], .self = v[2], .x = v[0]};
    if (level == 0) {
      if (c != 0) {
        snprintf(err, errlen, "flame graph: more than one root");
        return -1;
      }
    } else if (link_child(f, cur, c) != 0) {
      snprintf(err, errlen, "flame graph: level %zu: node outside its parent",
               level);
      return -1;
    }
    if (f->nodes[c].depth > f->max_depth)
      f->max_depth = f->nodes[c].depth;
    f->nnodes++;
  }
  return 0;
}

/* A root-only flame: what an empty result decodes to. */
static int empty_flame(pyr_cli_flame *f) {
  if (f->nnames == 0) {
    free(f->names);
    f->names = calloc(1, sizeof(char *));
    if (f->names == NULL || (f->names[0] = strdup("total")) == NULL)
      return -1;
    f->nnames = 1;
  }
  free(f->nodes);
  f->nodes = calloc(1, sizeof(pyr_cli_fnode));
  if (f->nodes == NULL)
    return -1;
  f->nodes[0] = (pyr_cli_fnode){.parent = PYR_CLI_NONE,
                                .first_child = PYR_CLI_NONE,
                                .next_sibling = PYR_CLI_NONE};
  f->nnodes = 1;
  return 0;
}

int pyr_cli_flame_from_json(const json_t *fb, pyr_cli_flame *out, char *err,
                            size_t errlen) {
  const json_t *names = json_object_get(fb, "names");
  const json_t *levels = json_object_get(fb, "levels");
  uint32_t *remap = NULL;
  size_t nraw = json_array_size(names), cap = 0;
  int rc = -1;
  memset(out, 0, sizeof(*out));
  if (!json_is_object(fb) || (names && !json_is_array(names)) ||
      (levels && !json_is_array(levels))) {
    snprintf(err, errlen, "flame graph: expected {\"names\": [...], \"levels\": [...]}");
    return -1;
  }
  remap = calloc(nraw ? nraw : 1, sizeof(*remap));
  if (remap == NULL || decode_names(names, out, remap, err, errlen) != 0)
    goto out;
  for (size_t l = 0; l < json_array_size(levels); l++)
    cap += json_array_size(level_values(json_array_get(levels, l))) / 4;
  out->nodes = calloc(cap ? cap : 1, sizeof(pyr_cli_fnode));
  if (out->nodes == NULL) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  struct level_cursor cur = {0};
  for (size_t l = 0; l < json_array_size(levels); l++) {
    size_t start = out->nnodes;
    if (decode_level(out, level_values(json_array_get(levels, l)), l, remap,
                     nraw, &cur, err, errlen) != 0)
      goto out;
    cur = (struct level_cursor){start, out->nnodes, start, PYR_CLI_NONE};
  }
  if (out->nnodes == 0 && empty_flame(out) != 0) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  out->total = out->nodes[0].total;
  rc = 0;
out:
  free(remap);
  if (rc != 0)
    pyr_cli_flame_free(out);
  return rc;
}

int pyr_cli_flame_parse(const char *text, size_t len, pyr_cli_flame *out,
                        char *err, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_loadb(text, len, 0, &jerr);
  const json_t *fb;
  int rc;
  if (root == NULL) {
    snprintf(err, errlen, "invalid JSON: %s (line %d)", jerr.text, jerr.line);
    return -1;
  }
  /* render: {"flamebearer": ...}; Connect: {"flamegraph": ...}; a missing
   * flamegraph in a Connect answer means no data. */
  fb = json_object_get(root, "flamebearer");
  if (fb == NULL)
    fb = json_object_get(root, "flamegraph");
  if (fb == NULL && json_object_get(root, "names") != NULL)
    fb = root;
  if (fb == NULL) {
    json_t *empty = json_object();
    rc = empty ? pyr_cli_flame_from_json(empty, out, err, errlen) : -1;
    json_decref(empty);
  } else {
    rc = pyr_cli_flame_from_json(fb, out, err, errlen);
  }
  json_decref(root);
  return rc;
}

void pyr_cli_flame_free(pyr_cli_flame *f) {
  if (f->names != NULL)
    for (size_t i = 0; i < f->nnames; i++)
      free(f->names[i]);
  free(f->names);
  free(f->nodes);
  memset(f, 0, sizeof(*f));
}

/* ---- traversal ---- */

struct visitor {
  void (*enter)(void *ctx, const pyr_cli_flame *f, uint32_t v);
  void (*leave)(void *ctx, const pyr_cli_flame *f, uint32_t v);
  void *ctx;
};

/* Pre-order walk from the root; leave() runs after a node's subtree. */
static void walk(const pyr_cli_flame *f, const struct visitor *vis) {
  uint32_t n = 0;
  if (f->nnodes == 0)
    return;
  vis->enter(vis->ctx, f, n);
  for (;;) {
    if (f->nodes[n].first_child != PYR_CLI_NONE) {
      n = f->nodes[n].first_child;
      vis->enter(vis->ctx, f, n);
      continue;
    }
    for (;;) {
      vis->leave(vis->ctx, f, n);
      if (n == 0)
        return;
      if (f->nodes[n].next_sibling != PYR_CLI_NONE) {
        n = f->nodes[n].next_sibling;
        vis->enter(vis->ctx, f, n);
        break;
      }
      n = f->nodes[n].parent;
    }
  }
}

/* ---- per-function sums ---- */

static int cmp_by_self(const void *a, const void *b) {
  const pyr_cli_func *x = a, *y = b;
  if (x->self != y->self)
    return x->self > y->self ? -1 : 1;
  if (x->total != y->total)
    return x->total > y->total ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int cmp_by_total(const void *a, const void *b) {
  const pyr_cli_func *x = a, *y = b;
  if (x->total != y->total)
    return x->total > y->total ? -1 : 1;
  if (x->self != y->self)
    return x->self > y->self ? -1 : 1;
  return strcmp(x->name, y->name);
}

void pyr_cli_funcs_sort(pyr_cli_func *funcs, size_t n, pyr_cli_sort by) {
  qsort(funcs, n, sizeof(*funcs), by == PYR_CLI_BY_TOTAL ? cmp_by_total : cmp_by_self);
}

struct func_ctx {
  uint64_t *self, *total;
  uint32_t *onstack; /* how many nodes of this name are on the path */
};

static void func_enter(void *ctx, const pyr_cli_flame *f, uint32_t v) {
  struct func_ctx *c = ctx;
  const pyr_cli_fnode *n = &f->nodes[v];
  if (v == 0)
    return;
  c->self[n->name] += n->self;
  /* An ancestor of the same name already counted this subtree. */
  if (c->onstack[n->name]++ == 0)
    c->total[n->name] += n->total;
}

static void func_leave(void *ctx, const pyr_cli_flame *f, uint32_t v) {
  struct func_ctx *c = ctx;
  if (v != 0)
    c->onstack[f->nodes[v].name]--;
}

/* Collects the names with a non-zero amount into a sorted array. */
static int collect_funcs(const pyr_cli_flame *f, const uint64_t *self,
                         const uint64_t *total, pyr_cli_sort by,
                         pyr_cli_func **out, size_t *n) {
  size_t k = 0;
  *out = malloc((f->nnames ? f->nnames : 1) * sizeof(pyr_cli_func));
  if (*out == NULL)
    return -1;
  for (size_t i = 0; i < f->nnames; i++)
    if (self[i] != 0 || total[i] != 0)
      (*out)[k++] = (pyr_cli_func){f->names[i], self[i], total[i]};
  *n = k;
  pyr_cli_funcs_sort(*out, k, by);
  return 0;
}

int pyr_cli_flame_functions(const pyr_cli_flame *f, pyr_cli_sort by,
                            pyr_cli_func **out, size_t *n) {
  size_t m = f->nnames ? f->nnames : 1;
  struct func_ctx c = {calloc(m, sizeof(uint64_t)), calloc(m, sizeof(uint64_t)),
                       calloc(m, sizeof(uint32_t))};
  int rc = -1;
  *out = NULL;
  *n = 0;
  if (c.self == NULL || c.total == NULL || c.onstack == NULL)
    goto out;
  walk(f, &(struct visitor){func_enter, func_leave, &c});
  rc = collect_funcs(f, c.self, c.total, by, out, n);
out:
  free(c.self);
  free(c.total);
  free(c.onstack);
  return rc;
}

/* ---- collapsed stacks ---- */

struct collapsed_ctx {
  uint32_t *path; /* name per depth */
  char **lines;
  size_t nlines;
  bool oom;
};

static char *stack_line(const pyr_cli_flame *f, const uint32_t *path,
                        uint32_t depth, uint64_t self) {
  size_t len = 24; /* " <uint64>\n" and the NUL */
  for (uint32_t d = 1; d <= depth; d++)
    len += strlen(f->names[path[d]]) + 1;
  char *line = malloc(len), *p = line;
  if (line == NULL)
    return NULL;
  for (uint32_t d = 1; d <= depth; d++) {
    size_t k = strlen(f->names[path[d]]);
    if (d > 1)
      *p++ = ';';
    memcpy(p, f->names[path[d]], k);
    p += k;
  }
  snprintf(p, (size_t)(line + len - p), " %llu\n", (unsigned long long)self);
  return line;
}

static void collapsed_enter(void *ctx, const pyr_cli_flame *f, uint32_t v) {
  struct collapsed_ctx *c = ctx;
  const pyr_cli_fnode *n = &f->nodes[v];
  c->path[n->depth] = n->name;
  if (v == 0 || n->self == 0 || c->oom)
    return;
  char *line = stack_line(f, c->path, n->depth, n->self);
  if (line == NULL) {
    c->oom = true;
    return;
  }
  c->lines[c->nlines++] = line;
}

static void nothing(void *ctx, const pyr_cli_flame *f, uint32_t v) {
  (void)ctx;
  (void)f;
  (void)v;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char *pyr_cli_flame_collapsed(const pyr_cli_flame *f, size_t *len) {
  struct collapsed_ctx c = {calloc(f->max_depth + 1u, sizeof(uint32_t)),
                            calloc(f->nnodes ? f->nnodes : 1, sizeof(char *)), 0,
                            false};
  char *buf = NULL;
  size_t total = 0;
  if (c.path == NULL || c.lines == NULL)
    goto out;
  walk(f, &(struct visitor){collapsed_enter, nothing, &c});
  if (c.oom)
    goto out;
  qsort(c.lines, c.nlines, sizeof(char *), cmp_str);
  for (size_t i = 0; i < c.nlines; i++)
    total += strlen(c.lines[i]);
  buf = malloc(total + 1);
  if (buf == NULL)
    goto out;
  *len = 0;
  for (size_t i = 0; i < c.nlines; i++) {
    size_t k = strlen(c.lines[i]);
    memcpy(buf + *len, c.lines[i], k);
    *len += k;
  }
  buf[*len] = '\0';
out:
  if (c.lines != NULL)
    for (size_t i = 0; i < c.nlines; i++)
      free(c.lines[i]);
  free(c.lines);
  free(c.path);
  return buf;
}

/* ---- attribution ---- */

struct attr_ctx {
  pyr_cli_name_pred match, exclude, culprit;
  uint32_t *culprit_at; /* per depth: nearest culprit node on the path */
  uint8_t *flags;       /* per depth: ATTR_EXCLUDED | ATTR_MATCHED */
  uint32_t excluded, matched;
  uint64_t sum;
  uint64_t *credit; /* per name */
};

enum { ATTR_EXCLUDED = 1, ATTR_MATCHED = 2 };

static void attr_credit(struct attr_ctx *c, const pyr_cli_flame *f, uint32_t v,
                        uint64_t amount) {
  uint32_t to = v;
  if (c->culprit != NULL && c->culprit_at[f->nodes[v].depth] != PYR_CLI_NONE)
    to = c->culprit_at[f->nodes[v].depth];
  c->sum += amount;
  c->credit[f->nodes[to].name] += amount;
}

static void attr_enter(void *ctx, const pyr_cli_flame *f, uint32_t v) {
  struct attr_ctx *c = ctx;
  const pyr_cli_fnode *n = &f->nodes[v];
  const char *name = f->names[n->name];
  uint32_t d = n->depth;
  c->flags[d] = 0;
  c->culprit_at[d] = d > 0 ? c->culprit_at[d - 1] : PYR_CLI_NONE;
  if (v == 0) /* the synthetic "total" root is nobody's frame */
    return;
  if (c->culprit != NULL && c->culprit(name))
    c->culprit_at[d] = v;
  if (c->exclude != NULL && c->exclude(name)) {
    c->flags[d] |= ATTR_EXCLUDED;
    c->excluded++;
  }
  if (c->match == NULL) {
    if (c->excluded == 0 && n->self > 0)
      attr_credit(c, f, v, n->self);
    return;
  }
  if (!c->match(name))
    return;
  if (c->matched == 0 && c->excluded == 0)
    attr_credit(c, f, v, n->total);
  c->flags[d] |= ATTR_MATCHED;
  c->matched++;
}

static void attr_leave(void *ctx, const pyr_cli_flame *f, uint32_t v) {
  struct attr_ctx *c = ctx;
  uint8_t fl = c->flags[f->nodes[v].depth];
  c->excluded -= (fl & ATTR_EXCLUDED) != 0;
  c->matched -= (fl & ATTR_MATCHED) != 0;
}

int pyr_cli_flame_attribute(const pyr_cli_flame *f, pyr_cli_name_pred match,
                            pyr_cli_name_pred exclude,
                            pyr_cli_name_pred culprit, uint64_t *sum,
                            pyr_cli_func **out, size_t *n) {
  size_t depth = (size_t)f->max_depth + 1;
  struct attr_ctx c = {match, exclude, culprit,
                       calloc(depth, sizeof(uint32_t)), calloc(depth, 1), 0, 0, 0,
                       calloc(f->nnames ? f->nnames : 1, sizeof(uint64_t))};
  int rc = -1;
  if (c.culprit_at == NULL || c.flags == NULL || c.credit == NULL)
    goto out;
  walk(f, &(struct visitor){attr_enter, attr_leave, &c});
  *sum = c.sum;
  rc = 0;
  if (out != NULL)
    rc = collect_funcs(f, c.credit, c.credit, PYR_CLI_BY_SELF, out, n);
out:
  free(c.culprit_at);
  free(c.flags);
  free(c.credit);
  return rc;
}
