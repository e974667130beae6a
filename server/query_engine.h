/*
 * query_engine.h - the storage-facing half of the query API: selections
 * (profile type + label selector + time range) turned into store reads,
 * and the small result shapes both front ends (render endpoints in
 * query_render.c, Connect in querier.c) format.
 *
 * Ranges are nanoseconds since the epoch, 0 = unbounded on that side
 * ("all retained data").  Selection: series whose __profile_type__ is the
 * given id (when one is given) and whose labels match the selector (any of
 * several selectors for the label APIs), with profiles whose timestamp is
 * in [start, end].
 *
 * Errors: functions return 0 or fill resp with an error (status, Connect
 * code, one-line message) and return -1.
 *
 * Threads: reentrant; results are owned by the caller.
 */
#ifndef PYRITE_SERVER_QUERY_ENGINE_H
#define PYRITE_SERVER_QUERY_ENGINE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query.h"
#include "selector.h"
#include "store.h"

#define PYR_QE_MAX_BUCKETS 1000000 /* timeline / SelectSeries steps per query */
#define PYR_QE_MAX_GROUP_BY 16

/* Fills resp with an error; returns -1 (for `return pyr_qfail(...)`). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int pyr_qfail(pyr_query_resp *resp, unsigned status, const char *fmt, ...);
/* Takes ownership of a malloc'd body and sets status 200. */
void pyr_qok(pyr_query_resp *resp, const char *content_type, char *body, size_t len);

int64_t pyr_qe_now(const pyr_query_env *env);

/* A sorted, deduplicated list of owned strings. */
typedef struct pyr_strlist {
  char **v;
  size_t n;
} pyr_strlist;
void pyr_strlist_free(pyr_strlist *l);

/* ---- selections -------------------------------------------------------------- */

/* Merged call tree of the selection (flags: PYR_STORE_MERGE_LINES). */
int pyr_qe_merge(const pyr_query_env *env, const char *tenant, const char *type_id,
                 const pyr_selector *sel, int64_t start_ns, int64_t end_ns, unsigned flags,
                 pyr_store_tree **out, pyr_query_resp *resp);

/* One profile's total, in a group. */
typedef struct pyr_qe_point {
  uint32_t group;
  int64_t ts_ns;
  int64_t total;
} pyr_qe_point;

/* Per-profile totals of a selection, grouped by the values of group_by
 * labels (one group when there are none). */
typedef struct pyr_qe_points {
  pyr_qe_point *p;    /* by group, then time */
  size_t n;
  size_t ngroups;
  char **gvals;       /* ngroups x ngroup_by values; NULL = label absent */
  size_t ngroup_by;
  int64_t t_min_ns, t_max_ns; /* oldest/newest profile of the selected series */
  size_t nseries;
} pyr_qe_points;

int pyr_qe_points_get(const pyr_query_env *env, const char *tenant, const char *type_id,
                      const pyr_selector *sel, int64_t start_ns, int64_t end_ns,
                      const char *const *group_by, size_t ngroup_by, pyr_qe_points *out,
                      pyr_query_resp *resp);
void pyr_qe_points_free(pyr_qe_points *p);

/* Time span of the series a selection touches (for missing ranges):
 * returns false when nothing matches. */
bool pyr_qe_span(const pyr_query_env *env, const char *tenant, const char *type_id,
                 const pyr_selector *sel, int64_t start_ns, int64_t end_ns, int64_t *t_min,
                 int64_t *t_max);

/* Time and duration for an exported profile: the requested range, with a
 * missing end replaced by the selected data's span (else now). */
void pyr_qe_profile_time(const pyr_query_env *env, const char *tenant, const char *type_id,
                         const pyr_selector *sel, int64_t start_ns, int64_t end_ns,
                         int64_t *time_ns, int64_t *duration_ns);

/* ---- label APIs (sels: OR'ed; nsels 0 = every series) ---------------------------- */

int pyr_qe_label_names(const pyr_query_env *env, const char *tenant, const pyr_selector *sels,
                       size_t nsels, int64_t start_ns, int64_t end_ns, pyr_strlist *out,
                       pyr_query_resp *resp);
int pyr_qe_label_values(const pyr_query_env *env, const char *tenant, const char *name,
                        const pyr_selector *sels, size_t nsels, int64_t start_ns,
                        int64_t end_ns, pyr_strlist *out, pyr_query_resp *resp);
/* Distinct label sets projected onto names (nnames 0 = all labels); each
 * entry is "name\0value\0name\0value\0" with the length in lens. */
typedef struct pyr_qe_labelsets {
  char **v;
  size_t *lens;
  size_t n;
} pyr_qe_labelsets;
int pyr_qe_series(const pyr_query_env *env, const char *tenant, const pyr_selector *sels,
                  size_t nsels, const char *const *names, size_t nnames, int64_t start_ns,
                  int64_t end_ns, pyr_qe_labelsets *out, pyr_query_resp *resp);
void pyr_qe_labelsets_free(pyr_qe_labelsets *l);

/* Distinct __profile_type__ values (sorted). */
int pyr_qe_profile_types(const pyr_query_env *env, const char *tenant, int64_t start_ns,
                         int64_t end_ns, pyr_strlist *out, pyr_query_resp *resp);

typedef struct pyr_qe_stats {
  bool ingested;
  int64_t oldest_ns, newest_ns;
} pyr_qe_stats;
int pyr_qe_stats_get(const pyr_query_env *env, const char *tenant, pyr_qe_stats *out,
                     pyr_query_resp *resp);

/* ---- shared request helpers -------------------------------------------------------- */

/* Checks a range (0 = unbounded): 400 when start > end. */
int pyr_qe_check_range(int64_t start_ns, int64_t end_ns, pyr_query_resp *resp);

/* max_nodes of a request: 0 -> default, negative or too big -> 400. */
int pyr_qe_max_nodes(int64_t v, uint32_t *out, pyr_query_resp *resp);

/* render's timeline step (seconds) for a range in seconds (§6.1). */
int64_t pyr_qe_timeline_step(int64_t from_s, int64_t until_s);

/* Render metadata for a sample type: units and sampleRate (§6.1). */
void pyr_qe_units(const char *sample_type, const char *sample_unit, const char **units,
                  int64_t *sample_rate);

/* URL argument lookup: first value of key, NULL when absent. */
const char *pyr_qarg(const pyr_query_req *req, const char *key);

/* Parses a time argument (timeparse.h syntax) into *ns; absent or "0" ->
 * 0 (unbounded).  400 when unparsable. */
int pyr_qe_time_arg(const pyr_query_env *env, const pyr_query_req *req, const char *key,
                    int64_t *ns, pyr_query_resp *resp);

/* ---- front ends (query_render.c) ---------------------------------------------------- */

void pyr_qr_render(const pyr_query_env *env, const pyr_query_req *req, pyr_query_resp *resp);
void pyr_qr_render_diff(const pyr_query_env *env, const pyr_query_req *req,
                        pyr_query_resp *resp);
void pyr_qr_label_values(const pyr_query_env *env, const pyr_query_req *req,
                         pyr_query_resp *resp);
void pyr_qr_label_names(const pyr_query_env *env, const pyr_query_req *req,
                        pyr_query_resp *resp);

/* gzip of buf (for pprof downloads); 0 or -1. */
int pyr_qe_gzip(const uint8_t *buf, size_t len, uint8_t **out, size_t *outlen);

#endif /* PYRITE_SERVER_QUERY_ENGINE_H */
