/*
 * flame.h - a flame graph as the CLI sees it: decoded from Pyroscope's
 * flamebearer (pyroscope-api.md §4.2, §6.1) into an explicit tree, and the
 * questions the subcommands ask of it: per-function self/total, collapsed
 * stacks, and "how much sits under frames like these".
 *
 * Threads: single-threaded; a pyr_cli_flame is immutable once decoded.
 *
 * Invariants: nodes[0] is the root ("total"); a node's children follow it
 * in nodes[] (level order), their totals sum to at most the parent's
 * total; names[] holds no duplicates (the decoder merges them, so a name
 * index identifies a function).
 */
#ifndef PYRITE_CLI_FLAME_H
#define PYRITE_CLI_FLAME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PYR_CLI_NONE UINT32_MAX

typedef struct pyr_cli_fnode {
  uint32_t name;         /* index into names[] */
  uint32_t parent;       /* PYR_CLI_NONE for the root */
  uint32_t first_child;  /* PYR_CLI_NONE for a leaf */
  uint32_t next_sibling; /* PYR_CLI_NONE for the last child */
  uint32_t depth;        /* 0 for the root */
  uint64_t total;        /* this node and everything below it */
  uint64_t self;         /* samples whose leaf is this node */
  uint64_t x;            /* left edge in the flamebearer layout */
} pyr_cli_fnode;

typedef struct pyr_cli_flame {
  char **names;
  size_t nnames;
  pyr_cli_fnode *nodes;
  size_t nnodes;
  uint32_t max_depth;
  uint64_t total; /* the root's total (numTicks) */
} pyr_cli_flame;

/* One function, summed over the whole tree. */
typedef struct pyr_cli_func {
  const char *name; /* borrowed from the flame (or the caller) */
  uint64_t self;
  uint64_t total; /* counted once per stack: recursion does not add up */
} pyr_cli_func;

typedef enum pyr_cli_sort { PYR_CLI_BY_SELF, PYR_CLI_BY_TOTAL } pyr_cli_sort;

/*
 * Decodes a flamebearer object: {"names": [...], "levels": [[x, total,
 * self, name, ...], ...]} as /pyroscope/render returns it, or a Connect
 * FlameGraph ({"levels": [{"values": ["0", ...]}]}; int64 as strings).
 * Zero-width nodes are dropped.  Returns 0, or -1 with a message in err.
 */
int pyr_cli_flame_from_json(const json_t *fb, pyr_cli_flame *out, char *err,
                            size_t errlen);

/* The same, from the text of a whole /pyroscope/render response (or of a
 * bare flamebearer or Connect SelectMergeStacktraces response). */
int pyr_cli_flame_parse(const char *text, size_t len, pyr_cli_flame *out,
                        char *err, size_t errlen);

void pyr_cli_flame_free(pyr_cli_flame *f);

/*
 * Per-function self and total over the tree (the root excluded), in
 * *out (malloc'd, caller frees; names borrowed from f), sorted by `by`
 * descending, ties by name.  A function's total adds a node's total only
 * when no ancestor has the same name, so a recursive stack counts once.
 * Returns 0 or -1 (out of memory).
 */
int pyr_cli_flame_functions(const pyr_cli_flame *f, pyr_cli_sort by,
                            pyr_cli_func **out, size_t *n);

/* Sorts funcs by `by` descending, then by name. */
void pyr_cli_funcs_sort(pyr_cli_func *funcs, size_t n, pyr_cli_sort by);

/*
 * The tree as collapsed stacks: "root;...;leaf <self>\n" per node with
 * self > 0 (the "total" root left out), lines sorted bytewise.  Returns a
 * malloc'd NUL-terminated buffer (*len without the NUL) or NULL (OOM).
 */
char *pyr_cli_flame_collapsed(const pyr_cli_flame *f, size_t *len);

/* Predicate over frame names, for the classification helpers below. */
typedef bool (*pyr_cli_name_pred)(const char *name);

/*
 * Attribution, the primitive behind `pyrite bottleneck`:
 * - with match != NULL: every node whose name matches and that has no
 *   matching ancestor counts its total (so nested matches count once);
 * - with match == NULL: every node counts its self.
 * Nodes on or below a frame matching `exclude` (may be NULL) never count.
 * Each counted amount is credited to the nearest node, from the counted
 * one up towards the root, whose name satisfies `culprit` (NULL: the
 * counted node itself; if none satisfies it, the counted node).
 * *sum gets the counted total; if out != NULL, *out gets per-culprit sums
 * (in .self; .total equal) sorted descending.  Returns 0 or -1 (OOM).
 */
int pyr_cli_flame_attribute(const pyr_cli_flame *f, pyr_cli_name_pred match,
                            pyr_cli_name_pred exclude,
                            pyr_cli_name_pred culprit, uint64_t *sum,
                            pyr_cli_func **out, size_t *n);

#endif /* PYRITE_CLI_FLAME_H */
