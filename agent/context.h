/*
 * context.h - dynamic labels: context id -> label set, and the
 * LabelsSnapshot that goes with each upload.
 *
 * The Java API (api/src/pyrite/Labels.java) interns every distinct label
 * set to a process-wide context id (1, 2, ...; 0 = no labels) and registers
 * each new id here once, through a native method (jvmti/labels.c).  The
 * thread's current id is kept by the sampler (pyr_sampler_set_context) and
 * copied into every sample; this table only maps ids to strings.  At each
 * upload the aggregator asks for a snapshot of the ids its window used and
 * ships it, gzipped, as the multipart `labels` part (pyroscope-api.md §1.4).
 *
 * Threads: register from any Java thread (the native method), snapshot and
 * stats from the aggregator; one mutex inside.  Entries are never removed
 * (an id may be used again by a later window), so the table is bounded:
 * max_contexts entries, fixed at creation; registrations beyond it are
 * refused and counted as overflow (their samples then carry no labels).
 * Label sets are validated with the limits a Pyroscope server accepts
 * (label names [A-Za-z0-9_.]+ up to 1024 bytes, values up to 2048 bytes)
 * and at most PYR_CTX_MAX_PAIRS pairs; an invalid set is counted as rejected.
 */
#ifndef PYRITE_CONTEXT_H
#define PYRITE_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#define PYR_CTX_DEFAULT_MAX 10000 /* the Java API's own bound on distinct sets */
#define PYR_CTX_MAX_PAIRS 16
#define PYR_CTX_MAX_KEY 1024
#define PYR_CTX_MAX_VALUE 2048

typedef struct pyr_ctx_table pyr_ctx_table;

typedef struct pyr_ctx_stats {
  uint64_t registered; /* ids stored */
  uint64_t overflow;   /* refused: table full */
  uint64_t rejected;   /* refused: invalid id or label set */
  uint64_t capacity;
} pyr_ctx_stats;

enum pyr_ctx_result {
  PYR_CTX_OK = 0,        /* stored, or already stored under this id */
  PYR_CTX_REJECTED = -1, /* id 0, too many pairs, bad name, too long */
  PYR_CTX_OVERFLOW = -2, /* table full */
};

pyr_ctx_table *pyr_ctx_table_new(size_t max_contexts);
void pyr_ctx_table_free(pyr_ctx_table *t);
/* Registers id -> {keys[i]=values[i]}.  Empty values are allowed (the
 * server drops them).  A second registration of an id keeps the first. */
int pyr_ctx_table_register(pyr_ctx_table *t, uint64_t id, const char *const *keys,
                           const char *const *values, size_t n);
/* Encodes a LabelsSnapshot (protobuf) holding the contexts among ids[]
 * that are registered (0 and unknown ids are skipped; duplicates are fine)
 * and only the strings they reference, string ids from 1.  Returns the
 * number of contexts encoded; with 0, *out is NULL.  On success with > 0,
 * *out is malloc'd (caller frees).  -1 on allocation failure. */
int pyr_ctx_table_snapshot(pyr_ctx_table *t, const uint64_t *ids, size_t nids, uint8_t **out,
                           size_t *len);
void pyr_ctx_table_get_stats(pyr_ctx_table *t, pyr_ctx_stats *out);

/* The process-wide table the native methods register into; created on
 * first use with PYR_CTX_DEFAULT_MAX entries.  NULL if that failed. */
pyr_ctx_table *pyr_ctx_global(void);
/* Stats of the global table (creating it if needed). */
void pyr_ctx_global_stats(pyr_ctx_stats *out);

#endif
