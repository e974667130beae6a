/*
 * selector.h - Prometheus-style label selectors and Pyroscope profile type
 * ids, as the query endpoints receive them (pyroscope-api.md §3, §6.1).
 *
 * Selector syntax: `{a="x", b!="y", c=~"re", d!~"re"}`; the braces may be
 * omitted by nothing but whitespace (`""` = `{}` = every series); a
 * trailing comma is allowed.  Label names are [A-Za-z_][A-Za-z0-9_.]* or a
 * quoted string (Prometheus 3 UTF-8 names); values are quoted with ", ' or
 * ` (raw); inside " and ' Go's escapes apply (\n \t \\ \" \' \xHH \ooo
 * \uXXXX \UXXXXXXXX ...).  Regexes are fully anchored (as with RE2 in
 * Prometheus: `c=~"a.*"` must match the whole value) and run with PCRE2
 * under a match limit.  A label a series does not have has the value "",
 * so `a=""` selects series without `a` and `a!=""` those with it.
 * Private labels (__name__, __profile_type__, __service_name__, ...) are
 * ordinary names here.
 *
 * Query syntax (render's `query`): `<profile type id>{<matchers>}`, or just
 * `{__name__="<profile type id>", ...}` (the Prometheus way of naming the
 * metric).  A profile type id is name:sample_type:sample_unit:period_type:
 * period_unit; a sixth part (`:delta`) is tolerated and ignored; empty
 * parts are allowed, but the name and sample type must not be empty.
 *
 * Bounds: selectors up to PYR_SELECTOR_MAX_LEN bytes and
 * PYR_SELECTOR_MAX_MATCHERS matchers; regexes are compiled once per
 * selector and matched with a PCRE2 match limit, so a hostile pattern
 * cannot run away.  Errors are one line naming the problem and its byte
 * offset, for a 400 answer.
 *
 * Threads: a parsed selector is owned by one thread (PCRE2 match data is
 * kept inside it); parsing functions keep no state.
 */
#ifndef PYRITE_SERVER_SELECTOR_H
#define PYRITE_SERVER_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define PYR_SELECTOR_MAX_LEN 16384
#define PYR_SELECTOR_MAX_MATCHERS 64
#define PYR_PROFILE_TYPE_MAX 1024

typedef enum pyr_match_op {
  PYR_MATCH_EQ,  /* =  */
  PYR_MATCH_NEQ, /* != */
  PYR_MATCH_RE,  /* =~ */
  PYR_MATCH_NRE, /* !~ */
} pyr_match_op;

typedef struct pyr_matcher {
  char *name;
  char *value; /* unescaped; the pattern for RE/NRE */
  pyr_match_op op;
  void *re;    /* pcre2_code * for RE/NRE */
  void *md;    /* pcre2_match_data * */
} pyr_matcher;

typedef struct pyr_selector {
  pyr_matcher *m;
  size_t n;
  void *mctx; /* pcre2_match_context * (match limits), NULL without regexes */
} pyr_selector;

/* A parsed profile type id; the strings point into id. */
typedef struct pyr_profile_type {
  char id[PYR_PROFILE_TYPE_MAX];   /* the canonical 5-part id */
  char buf[PYR_PROFILE_TYPE_MAX];  /* parts, NUL-separated */
  const char *name, *sample_type, *sample_unit, *period_type, *period_unit;
} pyr_profile_type;

void pyr_selector_init(pyr_selector *s);
void pyr_selector_free(pyr_selector *s); /* and re-inits */

/*
 * Parses a selector (s[0..len), need not be NUL-terminated) into out
 * (initialised by the caller).  Returns 0, -1 with a message in err
 * ("label selector: expected '=', '!=', '=~' or '!~' after 'a' at offset
 * 3"), or -2 when out of memory.
 */
int pyr_selector_parse(const char *s, size_t len, pyr_selector *out, char *err,
                       size_t errlen);

/* Adds one matcher (copies name and value); for callers that build
 * selectors from parts.  0, -1 (bad regex, too many; message) or -2. */
int pyr_selector_add(pyr_selector *s, const char *name, const char *value,
                     pyr_match_op op, char *err, size_t errlen);

/* True when every matcher holds for the sorted label set (a missing label
 * counts as ""). */
bool pyr_selector_match(const pyr_selector *s, const pyr_store_label *labels,
                        size_t n);

/* Value of name in a sorted label set, NULL when absent. */
const char *pyr_series_label(const pyr_store_label *labels, size_t n,
                            const char *name);

/*
 * Parses a profile type id.  Returns 0, or -1 with a message ("profile
 * type 'app.cpu' must be name:sample_type:sample_unit:period_type:
 * period_unit").
 */
int pyr_profile_type_parse(const char *s, size_t len, pyr_profile_type *out,
                           char *err, size_t errlen);

/*
 * Parses render's `query` into a profile type and a selector (out
 * initialised by the caller).  The __name__ matcher that names the type,
 * if used, is removed from the selector.  0, -1 (message), -2 (ENOMEM).
 */
int pyr_query_parse(const char *q, pyr_profile_type *type, pyr_selector *sel,
                    char *err, size_t errlen);

#endif /* PYRITE_SERVER_SELECTOR_H */
