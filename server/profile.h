/*
 * profile.h - a decoded profile of one profile type, the common currency of
 * the server: every decoder (JFR, pprof, folded, Push) produces these, the
 * storage consumes them, and `pyrite convert` prints them.
 *
 * A profile is a set of samples; each sample is (stack, sample-label set,
 * values[nvalues]).  Stacks are lists of locations ROOT FIRST; a location
 * is (function name, line).  Strings, locations, label sets and stacks are
 * interned, so adding the same stack twice with the same label set sums the
 * values (Pyroscope merges identical (stack, labels) pairs too).
 *
 * Sample labels are the per-sample dynamic labels (JFR contextId ->
 * LabelsSnapshot, pprof Sample.label); the ingest layer splits a profile
 * into one series per distinct label set.  Series labels (service_name,
 * __name__, ...) are not part of this structure.
 *
 * Bounds: every profile is created with pyr_prof_limits; any add that
 * would exceed a limit fails with PYR_PROF_ELIMIT and the profile stays
 * consistent (decoders turn that into HTTP 413/422).  Ids are dense and
 * start at 1; 0 means "" (strings), "no labels" (label sets).
 *
 * Threads: a profile is owned by one thread at a time; no locking.
 */
#ifndef PYRITE_SERVER_PROFILE_H
#define PYRITE_SERVER_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define PYR_PROF_MAX_VALUES 4
#define PYR_PROF_NAME_MAX 64

#define PYR_PROF_OK 0
#define PYR_PROF_ENOMEM (-1)
#define PYR_PROF_ELIMIT (-2)
#define PYR_PROF_EINVAL (-3)

/* The five parts of a Pyroscope profile type id plus the period value:
 * id = name:sample_type[i]:sample_unit[i]:period_type:period_unit, one id
 * per value column. */
typedef struct pyr_prof_type {
  char name[PYR_PROF_NAME_MAX];                        /* __name__, "process_cpu" */
  uint32_t nvalues;                                    /* 1..PYR_PROF_MAX_VALUES */
  char sample_type[PYR_PROF_MAX_VALUES][PYR_PROF_NAME_MAX]; /* "cpu" */
  char sample_unit[PYR_PROF_MAX_VALUES][PYR_PROF_NAME_MAX]; /* "nanoseconds" */
  char period_type[PYR_PROF_NAME_MAX];                 /* "cpu", may be "" */
  char period_unit[PYR_PROF_NAME_MAX];                 /* "nanoseconds", may be "" */
  int64_t period;
} pyr_prof_type;

typedef struct pyr_prof_limits {
  size_t max_samples;      /* distinct (stack, labels) pairs */
  size_t max_locations;
  size_t max_string_bytes; /* total interned bytes */
  size_t max_stack_depth;  /* frames per stack */
  size_t max_label_sets;
  /* Added for the JFR decoder: frames stored over all samples (each new
   * (stack, labels) pair stores its whole stack).  0 = the default. */
  size_t max_total_frames;
} pyr_prof_limits;

/* Generous defaults for one upload (see profile.c). */
extern const pyr_prof_limits pyr_prof_default_limits;

typedef struct pyr_prof_label {
  uint32_t key;   /* string id */
  uint32_t value; /* string id */
} pyr_prof_label;

typedef struct pyr_prof pyr_prof;

pyr_prof *pyr_prof_new(const pyr_prof_type *type, const pyr_prof_limits *limits);
void pyr_prof_free(pyr_prof *p);
const pyr_prof_type *pyr_prof_get_type(const pyr_prof *p);

/* Time stamps of the profile (ns since epoch; 0 = unknown). */
/* Optional: sizes the empty string, location and sample indexes for about
 * this many entries (capped), so that building a profile of known size
 * does not rehash as it grows.  PYR_PROF_OK or PYR_PROF_ENOMEM. */
int pyr_prof_presize(pyr_prof *p, size_t strings, size_t locations, size_t samples);
void pyr_prof_set_time(pyr_prof *p, int64_t time_nanos, int64_t duration_nanos);
void pyr_prof_get_time(const pyr_prof *p, int64_t *time_nanos, int64_t *duration_nanos);

/* Interning.  Each returns an id >= 1 (0 for the empty string), or a
 * negative PYR_PROF_E* code. */
int64_t pyr_prof_intern(pyr_prof *p, const char *s, size_t len);
int64_t pyr_prof_location(pyr_prof *p, uint32_t name, int64_t line);
/* Sorts by key, keeps the last value of a repeated key, drops pairs whose
 * value is "" (Pyroscope drops empty label values).  n == 0 -> 0. */
int64_t pyr_prof_labelset(pyr_prof *p, const pyr_prof_label *labels, size_t n);

/* Adds values to the sample (locs root first, labelset).  Returns
 * PYR_PROF_OK or a negative code. */
int pyr_prof_add(pyr_prof *p, const uint32_t *locs, uint32_t n, uint32_t labelset,
                 const int64_t *values);

/* Like pyr_prof_add, but returns the sample's index (>= 0) so a decoder
 * that sees the same (stack, labelset) again can add to it directly with
 * pyr_prof_add_to, skipping the stack hash.  Negative PYR_PROF_E* on error. */
int64_t pyr_prof_add_ex(pyr_prof *p, const uint32_t *locs, uint32_t n, uint32_t labelset,
                        const int64_t *values);
int pyr_prof_add_to(pyr_prof *p, size_t sample, const int64_t *values);

/* Read access.  Sample order is insertion order of first occurrence. */
size_t pyr_prof_nsamples(const pyr_prof *p);
void pyr_prof_sample(const pyr_prof *p, size_t i, const uint32_t **locs, uint32_t *n,
                     uint32_t *labelset, const int64_t **values);
const char *pyr_prof_str(const pyr_prof *p, uint32_t id, size_t *len);
void pyr_prof_loc(const pyr_prof *p, uint32_t loc, uint32_t *name, int64_t *line);
const pyr_prof_label *pyr_prof_labels(const pyr_prof *p, uint32_t labelset, size_t *n);
size_t pyr_prof_nlabelsets(const pyr_prof *p); /* label sets are 1..n */
size_t pyr_prof_nstrings(const pyr_prof *p);   /* ids 0..n-1 (0 = "") */
size_t pyr_prof_nlocations(const pyr_prof *p); /* locations are 1..n */

/* "name:sample_type[col]:sample_unit[col]:period_type:period_unit". */
int pyr_prof_type_id(const pyr_prof_type *t, uint32_t col, char *buf, size_t len);

/* A decoder's result: zero or more profiles (e.g. one per JFR event class). */
typedef struct pyr_prof_list {
  pyr_prof **items;
  size_t n, cap;
} pyr_prof_list;

int pyr_prof_list_push(pyr_prof_list *l, pyr_prof *p);

/* A random 64-bit value (getrandom; time and address bits as a fallback)
 * for keying hash tables over untrusted input, so that crafted keys cannot
 * be made to collide.  Not for cryptography. */
uint64_t pyr_prof_hash_seed(void);
void pyr_prof_list_free(pyr_prof_list *l); /* frees the profiles too */

#endif
