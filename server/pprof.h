/*
 * pprof.h - google.v1.Profile (pprof) decoding into pyr_prof profiles.
 *
 * What: the pprof bodies of POST /ingest (format=pprof, the SDKs'
 * multipart form) and of Push's raw_profile.  A pprof with k sample types
 * becomes ceil(k / PYR_PROF_MAX_VALUES) multi-column profiles that share
 * the pprof's period type; the ingest layer later splits every column into
 * its own series (profile type id per column).
 *
 * Mapping (pyroscope-api.md §2):
 *   - stacks: Sample.location_id is leaf first; each Location's line[]
 *     lists inlined frames innermost first, so a location with n lines
 *     expands to n frames; the result is reversed to root first.  A
 *     location without lines becomes one frame named by its address
 *     ("0x1234"); a line whose function_id is 0 is named "unknown";
 *   - frame = (Function.name, or system_name when the name is empty;
 *     Line.line);
 *   - Sample.label with a string value -> sample label (key, str); numeric
 *     labels are ignored (they never become series);
 *   - time_nanos / duration_nanos are kept; a zero or 1970 time_nanos is
 *     replaced by the upload time (old SDKs sent µs there, as Pyroscope
 *     handles it);
 *   - samples whose values are all zero in a profile's columns are skipped.
 * Malformed input (unparsable protobuf, string index out of range, unknown
 * location/function id, value count != sample type count) is rejected.
 *
 * Threads: pure functions.  Memory: protobuf decoding is capped by
 * opts->max_alloc_bytes; the profiles by opts->limits.
 */
#ifndef PYRITE_SERVER_PPROF_H
#define PYRITE_SERVER_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "store.h"

/* A sample_type_config display name (the SDK multipart form). */
typedef struct pyr_pprof_display {
  const char *sample_type;
  const char *display_name;
} pyr_pprof_display;

typedef struct pyr_pprof_opts {
  const pyr_prof_limits *limits; /* NULL = pyr_prof_default_limits */
  size_t max_alloc_bytes;        /* protobuf decode budget; 0 = 64 x input */
  const char *metric;            /* __name__ for the profiles; NULL = guess */
  const pyr_pprof_display *display; /* for the guess; may be NULL */
  size_t ndisplay;
  int64_t default_time_ns;       /* used when time_nanos is 0 or in 1970 */
} pyr_pprof_opts;

/*
 * Decodes buf[0..len) (plain protobuf, not gzip) and appends the profiles
 * to out.  Returns PYR_PROF_OK, PYR_PROF_EINVAL (malformed; message in
 * err), PYR_PROF_ELIMIT (a limit was hit) or PYR_PROF_ENOMEM.  On failure
 * some profiles may already be in out (the caller drops the whole list).
 * A pprof without sample types yields no profile.
 */
int pyr_pprof_decode(const uint8_t *buf, size_t len, const pyr_pprof_opts *opts,
                     pyr_prof_list *out, char *err, size_t errlen);

/*
 * Pyroscope's guess of __name__ from the sample type names (§1.6): any
 * "wall" -> "wall"; else the first type (or its display name) containing
 * "cpu" -> process_cpu, "alloc_"/"inuse_"/=="space"/=="objects" -> memory,
 * "mutex_" -> mutex, "block_" -> block, "goroutines" -> goroutines; else
 * the last type's (display) name.  Writes into out[PYR_PROF_NAME_MAX].
 */
void pyr_pprof_guess_metric(const char *const *types, size_t n,
                            const pyr_pprof_display *display, size_t ndisplay,
                            char *out);

/*
 * Encodes prof as an uncompressed pprof (one sample type per column,
 * functions named by frame, lines kept, sample labels as string labels).
 * For tests and pprof export.  Returns 0 and a malloc'd buffer, or -1.
 */
int pyr_pprof_encode(const pyr_prof *prof, uint8_t **out, size_t *len);

/* What a merged tree does not know about itself, for pprof export. */
typedef struct pyr_pprof_meta {
  const char *sample_type, *sample_unit; /* the one value column */
  const char *period_type, *period_unit; /* may be "" */
  int64_t period;                        /* 0 = unknown */
  int64_t time_nanos, duration_nanos;    /* the query range */
} pyr_pprof_meta;

/*
 * Encodes a merged call tree (store.h; merged with PYR_STORE_MERGE_LINES
 * so lines are kept) as an uncompressed pprof (google.v1.Profile) that
 * `go tool pprof` reads: one function per distinct frame name, one
 * location per (name, line), one sample per tree node with a non-zero
 * self value (its stack is the node's path, leaf first).  With max_nodes
 * > 0 the nodes a flame graph of that size would not draw are folded
 * into an "other" frame under their nearest drawn ancestor.  Returns 0
 * with a malloc'd buffer, or -1 when out of memory.  Linear in the tree
 * size plus the output size.
 */
int pyr_pprof_encode_tree(const pyr_store_tree *t, const pyr_pprof_meta *m,
                          uint32_t max_nodes, uint8_t **out, size_t *len);

#endif /* PYRITE_SERVER_PPROF_H */
