/*
 * flamegraph.h - merged call trees (store.h pyr_store_tree) as flame
 * graphs: Pyroscope's `levels` encoding for single and diff graphs, with
 * max-nodes truncation, and the other text/binary forms the query API
 * serves (flamebearer JSON, collapsed stacks, Pyroscope's TREE bytes).
 *
 * Levels encoding (pyroscope-api.md §4.2): names[0] = "total"; levels[0]
 * is the root alone, [0, total, 0, 0]; each level lists its nodes left to
 * right as [x_delta, total, self, name] where x_delta is the gap since the
 * right edge of the previous node of the same level.  Layout as Pyroscope
 * draws it: a node's self width sits at its left, its children follow in
 * bytewise name order.  Diff graphs use 7 numbers per node, [l_delta,
 * l_total, l_self, r_delta, r_total, r_self, name], over the union of both
 * trees, each side laid out with its own values.
 *
 * Truncation: with max_nodes > 0 and more nodes than that, every node
 * whose total (diff: left + right) is below the max_nodes-th largest is
 * left out and its value added to one `other` child of its parent (self =
 * total = the folded sum), as Pyroscope does; ties at the threshold are
 * kept, so a few more than max_nodes nodes may appear.
 *
 * Threads: pure functions.  A pyr_flamegraph points into the tree(s) it
 * was built from (names are not copied): free it before the trees.
 */
#ifndef PYRITE_SERVER_FLAMEGRAPH_H
#define PYRITE_SERVER_FLAMEGRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "protojson.h"
#include "store.h"

#define PYR_FG_DEFAULT_MAX_NODES 8192
#define PYR_FG_MAX_MAX_NODES 1048576

typedef struct pyr_fg_name {
  const char *s; /* NUL-terminated */
  size_t len;
} pyr_fg_name;

typedef struct pyr_fg_level {
  int64_t *v; /* width numbers per node */
  size_t n, cap;
} pyr_fg_level;

typedef struct pyr_flamegraph {
  unsigned width;        /* 4 (single) or 7 (diff) */
  pyr_fg_name *names;
  size_t nnames, names_cap;
  pyr_fg_level *levels;
  size_t nlevels, levels_cap;
  int64_t total;         /* single: root total; diff: left + right */
  int64_t max_self;
  int64_t left_ticks, right_ticks; /* diff only */
  size_t nnodes;         /* nodes emitted, "other" nodes included */
  /* private */
  uint32_t *name_map;    /* tree name id -> names index + 1 */
  void *intern;          /* diff: name hash table */
  size_t intern_mask;
} pyr_flamegraph;

/* Builds the graph of t (max_nodes 0 = no truncation).  0, or -1 when out
 * of memory (out is then empty). */
int pyr_fg_build(const pyr_store_tree *t, uint32_t max_nodes, pyr_flamegraph *out);

/* Diff graph of left vs right (either may be an empty tree). */
int pyr_fg_build_diff(const pyr_store_tree *left, const pyr_store_tree *right,
                      uint32_t max_nodes, pyr_flamegraph *out);

void pyr_fg_free(pyr_flamegraph *fg);

/* The max_nodes-th largest node total of t (node 0 excluded), i.e. the
 * smallest total a node needs to be drawn; 0 when everything fits. */
int64_t pyr_fg_threshold(const pyr_store_tree *t, uint32_t max_nodes);

/* {"names":[...],"levels":[[...],...],"numTicks":N,"maxSelf":M} (render's
 * flamebearer; numbers as JSON numbers). */
void pyr_fg_write_flamebearer(pyr_jw *w, const pyr_flamegraph *fg);

/* Collapsed stacks, one "root;...;leaf self" line per node with a non-zero
 * self, in tree order (lines appear sorted by their frames). */
void pyr_fg_write_collapsed(pyr_jw *w, const pyr_store_tree *t);

/*
 * Pyroscope's TREE bytes (SelectMergeStacktraces format=TREE): pre-order
 * records uvarint(len(name)) name uvarint(self) uvarint(n_children), from
 * a virtual root (empty name, self 0), truncated like the flame graph.
 */
void pyr_fg_write_tree(pyr_jw *w, const pyr_store_tree *t, uint32_t max_nodes);

/*
 * Narrows t in place to the stacks that start with the frames path[0..n)
 * (root first; stack trace selector call_site): nodes off the path are
 * unlinked, nodes on it keep only the subtree's value (self 0).  A path
 * that is not in the tree leaves an empty tree (total 0).
 */
void pyr_fg_focus(pyr_store_tree *t, const char *const *path, size_t n);

#endif /* PYRITE_SERVER_FLAMEGRAPH_H */
