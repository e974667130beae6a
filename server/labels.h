/*
 * labels.h - series label sets: building, sorting, validating, and the
 * `name=app{k=v,...}` parameter of POST /ingest.
 *
 * A pyr_labels is a small owned array of (name, value) strings.  Names are
 * unique (pyr_labels_put replaces), order is insertion order until
 * pyr_labels_sort() sorts bytewise by name, which is the canonical form
 * handed to storage.
 *
 * Rules follow Pyroscope (pyroscope-api.md §1.1, §1.7): the app name in
 * `name` uses [A-Za-z0-9_./-], label names [A-Za-z0-9_.], values are raw
 * text up to ',' or '}' with surrounding blanks trimmed.  Validation limits
 * (count, name and value length) are configurable (--max-labels etc.).
 *
 * Threads: a pyr_labels is owned by one thread; the functions keep no state.
 */
#ifndef PYRITE_SERVER_LABELS_H
#define PYRITE_SERVER_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pyr_label {
  char *name;  /* NUL-terminated, owned */
  char *value; /* NUL-terminated, owned */
} pyr_label;

typedef struct pyr_labels {
  pyr_label *v;
  size_t n, cap;
} pyr_labels;

/* Defaults match Pyroscope's validation limits. */
#define PYR_LABELS_DEFAULT_MAX 30
#define PYR_LABEL_DEFAULT_MAX_NAME 1024
#define PYR_LABEL_DEFAULT_MAX_VALUE 2048

typedef struct pyr_label_limits {
  unsigned max_labels;    /* per series, private __*__ labels excluded */
  unsigned max_name_len;  /* bytes */
  unsigned max_value_len; /* bytes */
} pyr_label_limits;

/* Well-known names. */
#define PYR_LABEL_METRIC "__name__"
#define PYR_LABEL_SERVICE "service_name"
#define PYR_LABEL_APP "app_name"
#define PYR_LABEL_SPY "pyroscope_spy"
#define PYR_LABEL_DELTA "__delta__"
#define PYR_LABEL_JFR_EVENT "jfr_event"
#define PYR_LABEL_PROFILE_TYPE "__profile_type__"
#define PYR_LABEL_TYPE "__type__"
#define PYR_LABEL_UNIT "__unit__"
#define PYR_LABEL_PERIOD_TYPE "__period_type__"
#define PYR_LABEL_PERIOD_UNIT "__period_unit__"
#define PYR_LABEL_SERVICE_PRIVATE "__service_name__"

void pyr_labels_init(pyr_labels *l);
void pyr_labels_free(pyr_labels *l); /* and re-inits: safe to reuse */

/* Sets name=value, replacing an existing value of the same name.  Returns
 * 0, or -1 when out of memory (l unchanged). */
int pyr_labels_put(pyr_labels *l, const char *name, size_t nlen,
                   const char *value, size_t vlen);
int pyr_labels_put_str(pyr_labels *l, const char *name, const char *value);
/* Adds name=value only if name is absent.  0 or -1 (ENOMEM). */
int pyr_labels_put_missing(pyr_labels *l, const char *name, const char *value);

const char *pyr_labels_get(const pyr_labels *l, const char *name);
/* Removes name; returns true if it was there. */
bool pyr_labels_del(pyr_labels *l, const char *name);
/* Deep copy into an empty or re-inited dst.  0 or -1 (ENOMEM, dst empty). */
int pyr_labels_copy(pyr_labels *dst, const pyr_labels *src);

void pyr_labels_sort(pyr_labels *l);
/* Total order over sorted label sets (name, then value, then length). */
int pyr_labels_cmp(const pyr_labels *a, const pyr_labels *b);

/* Character rules. */
bool pyr_label_name_ok(const char *s, size_t n);   /* [A-Za-z0-9_.]+ */
bool pyr_service_name_ok(const char *s, size_t n); /* [A-Za-z0-9_./-]+ */
/* Prometheus metric name, [A-Za-z_:][A-Za-z0-9_:]* (used for __name__). */
bool pyr_metric_name_ok(const char *s, size_t n);
/* Valid UTF-8 (no overlongs, no surrogates). */
bool pyr_utf8_ok(const char *s, size_t n);

/*
 * Checks a complete series label set against lim: at most max_labels
 * labels not counting private ones (names starting and ending with "__",
 * except __name__), every name non-empty, within max_name_len, of
 * [A-Za-z_.][A-Za-z0-9_.]* (or a private __x__ name), every value valid
 * UTF-8 within max_value_len, __name__ a valid metric name, and
 * service_name present and non-empty.  Returns 0, or -1 with one line in err.
 */
int pyr_labels_validate(const pyr_labels *l, const pyr_label_limits *lim,
                        char *err, size_t errlen);

/*
 * Parses /ingest's `name` parameter, "app{k1=v1,k2=v2}" (braces optional),
 * exactly like Pyroscope's labelset parser: the app name (trimmed, must be
 * non-empty and use [A-Za-z0-9_./-]) is stored as __name__, each key
 * (trimmed, [A-Za-z0-9_.]+) with its trimmed value; a later duplicate key
 * wins; text after the closing brace and an unterminated last pair are
 * ignored.  out must be empty.  Returns 0, -1 with a message in err
 * ("invalid service name: ..."), or -2 when out of memory.
 */
int pyr_ingest_name_parse(const char *s, pyr_labels *out, char *err,
                          size_t errlen);

#endif /* PYRITE_SERVER_LABELS_H */
