/*
 * ingest.h - decoding uploads into series and handing them to storage.
 *
 * What: the transport-independent half of POST /ingest (and
 * /pyroscope/ingest) and POST /push.v1.PusherService/Push.  http.c
 * collects the request (tenant, query parameters, headers, the whole body
 * with the chunked coding removed) and calls pyr_ingest_legacy() or
 * pyr_ingest_push() on an ingest worker thread; they decode, build the
 * series and call pyr_store_write() once per upload, and fill a response.
 *
 * Series (pyroscope-api.md §1.6, §2): every decoded profile becomes one
 * series per value column (its own __profile_type__) and per distinct
 * sample-label set (dynamic labels are added to the series labels; series
 * labels win on a name clash; span_id/profile_id stay sample-level).  The
 * private labels __profile_type__, __type__, __unit__, __period_type__,
 * __period_unit__ and __service_name__ are added; __delta__ is an
 * instruction, not stored.  Label sets are validated (count, lengths,
 * characters) before anything is written.
 *
 * Status codes: 200 only after storage committed the whole upload; 400 bad
 * `name` / Push argument; 413 body or decompressed payload too large; 415
 * unsupported format or content type; 422 undecodable payload (/ingest);
 * 429 storage series limit or queue full; 500/503 storage failure or not
 * ready.  Error messages are one line for the JSON error body.
 *
 * Threads: the functions are reentrant; pyr_ingest_env is shared read-only
 * (the store pointer is published once by the main thread before any
 * request can use it).
 */
#ifndef PYRITE_SERVER_INGEST_H
#define PYRITE_SERVER_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels.h"
#include "metrics.h"
#include "profile.h"

struct pyr_store;

typedef struct pyr_ingest_env {
  struct pyr_store *store;          /* NULL: not ready (503) */
  pyr_metrics *metrics;             /* may be NULL */
  size_t max_decompressed;          /* per decompressed payload */
  pyr_label_limits label_limits;
  const pyr_prof_limits *prof_limits; /* NULL = pyr_prof_default_limits */
} pyr_ingest_env;

/* Query parameters and headers an ingest handler reads (NULL = absent). */
typedef struct pyr_ingest_params {
  const char *name, *from, *until, *format, *sample_rate, *spy_name;
  const char *content_type;
  const char *content_encoding;
} pyr_ingest_params;

#define PYR_INGEST_MSG_MAX 512

typedef struct pyr_ingest_result {
  unsigned status;                   /* HTTP status */
  const char *code;                  /* Connect code string for errors */
  char message[PYR_INGEST_MSG_MAX];  /* error message */
  const char *content_type;          /* success body type, NULL = none */
  const char *body;                  /* static success body */
  size_t body_len;
  enum pyr_fmt format;               /* for metrics */
  uint64_t decompressed;             /* payload bytes after gunzip */
  uint64_t profiles;                 /* series profiles written */
  uint64_t samples;                  /* samples decoded */
  bool parse_error;                  /* the payload could not be decoded */
} pyr_ingest_result;

/* POST /ingest: body is the complete request body. */
void pyr_ingest_legacy(const pyr_ingest_env *env, const char *tenant,
                       const pyr_ingest_params *p, const unsigned char *body,
                       size_t len, pyr_ingest_result *r);

/* POST /push.v1.PusherService/Push (Connect unary). */
void pyr_ingest_push(const pyr_ingest_env *env, const char *tenant,
                     const pyr_ingest_params *p, const unsigned char *body,
                     size_t len, pyr_ingest_result *r);

/* Connect code string for an HTTP status (pyroscope-api.md §0.1). */
const char *pyr_ingest_code_for_status(unsigned status);

/* ---- building blocks, exposed for unit tests -------------------------- */

/* sampleRate parameter: a decimal integer; absent, unparsable or negative
 * -> 100 (Pyroscope's default); 0 stays 0 (no scaling of legacy formats). */
uint32_t pyr_ingest_sample_rate(const char *s);

/*
 * An upload's series, ready for pyr_store_write(): owns label sets, the
 * store entries pointing at them, and any profiles created while
 * splitting.  The decoded profiles themselves stay owned by the caller.
 */
typedef struct pyr_ingest_batch pyr_ingest_batch;

pyr_ingest_batch *pyr_ingest_batch_new(void);
void pyr_ingest_batch_free(pyr_ingest_batch *b);

/* How a profile's series labels are formed. */
typedef struct pyr_series_opts {
  /* Push relabelling: __name__ wall + __type__ cpu -> process_cpu. */
  bool relabel_wall_cpu;
  int64_t from_ns, until_ns; /* 0, 0 = the profile's own time */
} pyr_series_opts;

/*
 * Adds the series of prof to b: base holds the series labels common to the
 * upload (service_name, user labels, ...; __name__ comes from base when
 * present, else from the profile type).  Returns 0, -1 with a message (a
 * label set failed validation), or PYR_PROF_ENOMEM.
 */
int pyr_ingest_batch_add(pyr_ingest_batch *b, const pyr_prof *prof,
                         const pyr_labels *base, const pyr_series_opts *o,
                         const pyr_label_limits *lim, char *err,
                         size_t errlen);

size_t pyr_ingest_batch_count(const pyr_ingest_batch *b);
/* The i-th series' sorted labels (including the private ones), its
 * profile, column and sample-label set (for tests). */
const pyr_labels *pyr_ingest_batch_labels(const pyr_ingest_batch *b, size_t i);
void pyr_ingest_batch_entry(const pyr_ingest_batch *b, size_t i,
                            const pyr_prof **prof, uint32_t *column,
                            uint32_t *labelset);

/* Hands the batch to storage (one atomic, durable write).  Returns 0 or
 * fills r with the error status. */
int pyr_ingest_commit(const pyr_ingest_env *env, const char *tenant,
                      pyr_ingest_batch *b, pyr_ingest_result *r);

#endif /* PYRITE_SERVER_INGEST_H */
