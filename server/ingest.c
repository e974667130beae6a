/*
 * ingest.c - POST /ingest: format dispatch, decoding, series building and
 * the single hand-off to storage (see ingest.h).
 *
 * What: pyr_ingest_legacy() follows Pyroscope's ingest handler
 * (pyroscope-api.md §1): parse `name`, times, sampleRate and spyName,
 * pick a decoder (§1.2), turn each decoded profile into series
 * (pyr_ingest_batch_add) and write them all with one pyr_store_write().
 * The Push API lives in push.c and shares the batch code here.
 *
 * Threads: reentrant; runs on ingest worker threads.  Nothing here keeps
 * state between calls.
 *
 * Invariants: a result's status is 200 only after pyr_store_write returned
 * PYR_STORE_OK for the whole upload; every buffer created for a request
 * (gunzipped payloads, profiles, labels, entries) is freed before return.
 */
#include "ingest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "folded.h"
#include "ingest_gzip.h"
#include "jfr_profiles.h"
#include "multipart.h"
#include "pprof.h"
#include "store.h"
#include "timeparse.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void fail(pyr_ingest_result *r, unsigned status, const char *fmt, ...) {
  r->status = status;
  r->code = pyr_ingest_code_for_status(status);
  r->parse_error = status == 422;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof(r->message), fmt, ap);
  va_end(ap);
}

const char *pyr_ingest_code_for_status(unsigned status) {
  switch (status) {
  case 400:
  case 415:
  case 422:
    return "invalid_argument";
  case 401:
    return "unauthenticated";
  case 403:
    return "permission_denied";
  case 404:
    return "not_found";
  case 405:
    return "unimplemented";
  case 408:
    return "deadline_exceeded";
  case 409:
    return "already_exists";
  case 413:
  case 429:
  case 507: /* disk full: Connect/gRPC's code for "the file system is out of space" */
    return "resource_exhausted";
  case 501:
    return "unimplemented";
  case 503:
    return "unavailable";
  case 504:
    return "deadline_exceeded";
  default:
    return status >= 500 ? "internal" : "unknown";
  }
}

uint32_t pyr_ingest_sample_rate(const char *s) {
  if (s == NULL || s[0] == '\0')
    return 100;
  const char *p = s;
  if (*p == '+' || *p == '-')
    p++;
  if (*p == '\0')
    return 100;
  uint64_t v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return 100;
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > UINT32_MAX)
      return 100;
  }
  if (s[0] == '-' && v != 0)
    return 100;
  /* A rate above 1 GHz would make the period 0 ns. */
  if (v > 1000000000)
    return 100;
  return (uint32_t)v;
}

/* ==== batches ============================================================ */

struct entry_rec {
  pyr_labels labels;      /* sorted, complete */
  pyr_store_label *sl;    /* view for pyr_store_write */
  const pyr_prof *prof;
  uint32_t column, labelset;
  int64_t from_ns, until_ns;
};

struct pyr_ingest_batch {
  struct entry_rec *e;
  size_t n, cap;
  pyr_prof_list owned; /* profiles created by merging label sets */
};

pyr_ingest_batch *pyr_ingest_batch_new(void) {
  return calloc(1, sizeof(pyr_ingest_batch));
}

void pyr_ingest_batch_free(pyr_ingest_batch *b) {
  if (b == NULL)
    return;
  for (size_t i = 0; i < b->n; i++) {
    pyr_labels_free(&b->e[i].labels);
    free(b->e[i].sl);
  }
  free(b->e);
  pyr_prof_list_free(&b->owned);
  free(b);
}

size_t pyr_ingest_batch_count(const pyr_ingest_batch *b) { return b->n; }

const pyr_labels *pyr_ingest_batch_labels(const pyr_ingest_batch *b,
                                          size_t i) {
  return &b->e[i].labels;
}

void pyr_ingest_batch_entry(const pyr_ingest_batch *b, size_t i,
                            const pyr_prof **prof, uint32_t *column,
                            uint32_t *labelset) {
  *prof = b->e[i].prof;
  *column = b->e[i].column;
  *labelset = b->e[i].labelset;
}

/* Sample labels that identify a sample, not a series (Pyroscope keeps
 * them in the profile). */
static bool sample_level(const char *name, size_t n) {
  return (n == 7 && memcmp(name, "span_id", 7) == 0) ||
         (n == 10 && memcmp(name, "profile_id", 10) == 0);
}

/* One distinct series-part of the profile's sample-label sets. */
struct lsinfo {
  uint32_t id;
  bool used;
  bool has_sample_level;
  char *key;      /* canonical (u32 len, name, u32 len, value)... of the
                   * series part: length-prefixed, so any bytes are safe */
  size_t keylen;
};

static int cmp_lsinfo(const void *a, const void *b) {
  const struct lsinfo *x = a, *y = b;
  size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
  int c = memcmp(x->key, y->key, n);
  if (c != 0)
    return c;
  if (x->keylen != y->keylen)
    return x->keylen < y->keylen ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* Appends s[0..n) to a growable buffer. */
static int kbuf_add(char **buf, size_t *len, size_t *cap, const char *s,
                    size_t n) {
  if (*len + n + 1 > *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    while (nc < *len + n + 1)
      nc *= 2;
    char *nb = realloc(*buf, nc);
    if (nb == NULL)
      return -1;
    *buf = nb;
    *cap = nc;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
  (*buf)[*len] = '\0';
  return 0;
}

/*
 * Series part of sample-label set ls: its labels minus sample-level ones,
 * minus names the series labels already have (series labels win), minus
 * private "__" names.  Pairs come sorted by key id from the profile; they
 * are emitted in that order (the key only needs to be canonical per
 * profile, and the ids of equal strings are equal).
 */
static int series_part(const pyr_prof *prof, uint32_t ls,
                       const pyr_labels *base, struct lsinfo *out) {
  size_t n = 0, cap = 0;
  const pyr_prof_label *pl = ls ? pyr_prof_labels(prof, ls, &n) : NULL;
  if (ls == 0)
    n = 0;
  out->id = ls;
  out->key = NULL;
  out->keylen = 0;
  out->has_sample_level = false;
  if (kbuf_add(&out->key, &out->keylen, &cap, "", 0) != 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    size_t kl, vl;
    const char *k = pyr_prof_str(prof, pl[i].key, &kl);
    const char *v = pyr_prof_str(prof, pl[i].value, &vl);
    if (vl == 0)
      continue;
    if (sample_level(k, kl)) {
      out->has_sample_level = true;
      continue;
    }
    if (kl >= 2 && k[0] == '_' && k[1] == '_')
      continue;
    char tmp[PYR_LABEL_DEFAULT_MAX_NAME + 1];
    if (kl < sizeof(tmp)) {
      memcpy(tmp, k, kl);
      tmp[kl] = '\0';
      if (pyr_labels_get(base, tmp) != NULL)
        continue;
    }
    uint32_t klen32 = (uint32_t)kl, vlen32 = (uint32_t)vl;
    if (kbuf_add(&out->key, &out->keylen, &cap, (const char *)&klen32, 4) != 0 ||
        kbuf_add(&out->key, &out->keylen, &cap, k, kl) != 0 ||
        kbuf_add(&out->key, &out->keylen, &cap, (const char *)&vlen32, 4) != 0 ||
        kbuf_add(&out->key, &out->keylen, &cap, v, vl) != 0)
      return -1;
  }
  return 0;
}

/* Copies the samples of prof whose label set is a member into a new
 * profile without sample labels (several label sets -> one series). */
static pyr_prof *merge_labelsets(const pyr_prof *prof, const bool *member) {
  const pyr_prof_type *t = pyr_prof_get_type(prof);
  pyr_prof *m = pyr_prof_new(t, &pyr_prof_default_limits);
  uint32_t *locs = NULL;
  size_t cap = 0;
  if (m == NULL)
    return NULL;
  int64_t tn, dn;
  pyr_prof_get_time(prof, &tn, &dn);
  pyr_prof_set_time(m, tn, dn);
  for (size_t i = 0; i < pyr_prof_nsamples(prof); i++) {
    const uint32_t *sl;
    uint32_t n, ls;
    const int64_t *v;
    pyr_prof_sample(prof, i, &sl, &n, &ls, &v);
    if (!member[ls])
      continue;
    if (n > cap) {
      uint32_t *nl = realloc(locs, n * sizeof(*nl));
      if (nl == NULL)
        goto fail;
      locs = nl;
      cap = n;
    }
    for (uint32_t j = 0; j < n; j++) {
      uint32_t name;
      int64_t line;
      size_t len;
      pyr_prof_loc(prof, sl[j], &name, &line);
      const char *s = pyr_prof_str(prof, name, &len);
      int64_t nid = pyr_prof_intern(m, s, len);
      int64_t lid = nid < 0 ? nid : pyr_prof_location(m, (uint32_t)nid, line);
      if (lid < 0)
        goto fail;
      locs[j] = (uint32_t)lid;
    }
    if (pyr_prof_add(m, locs, n, 0, v) != PYR_PROF_OK)
      goto fail;
  }
  free(locs);
  return m;
fail:
  free(locs);
  pyr_prof_free(m);
  return NULL;
}

static int push_entry(pyr_ingest_batch *b, struct entry_rec *rec) {
  if (b->n == b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 8;
    struct entry_rec *ne = realloc(b->e, nc * sizeof(*ne));
    if (ne == NULL)
      return -1;
    b->e = ne;
    b->cap = nc;
  }
  b->e[b->n++] = *rec;
  return 0;
}

/* Adds the labels of one (column, series part) and the entry. */
static int add_series(pyr_ingest_batch *b, const pyr_prof *prof,
                      uint32_t labelset, const struct lsinfo *part,
                      const pyr_labels *base, const pyr_series_opts *o,
                      const pyr_label_limits *lim, char *err, size_t errlen) {
  const pyr_prof_type *t = pyr_prof_get_type(prof);
  for (uint32_t c = 0; c < t->nvalues; c++) {
    struct entry_rec rec;
    memset(&rec, 0, sizeof(rec));
    rec.prof = prof;
    rec.column = c;
    rec.labelset = labelset;
    rec.from_ns = o->from_ns;
    rec.until_ns = o->until_ns;
    if (pyr_labels_copy(&rec.labels, base) != 0)
      goto nomem;
    pyr_labels_del(&rec.labels, PYR_LABEL_DELTA);
    /* Dynamic labels (series part), series labels win (already excluded). */
    const char *k = part->key, *end = part->key + part->keylen;
    while (end - k >= 8) {
      uint32_t kl, vl;
      memcpy(&kl, k, 4);
      const char *kname = k + 4;
      memcpy(&vl, kname + kl, 4);
      const char *val = kname + kl + 4;
      if (pyr_labels_put(&rec.labels, kname, kl, val, vl) != 0)
        goto nomem;
      k = val + vl;
    }
    /* __name__: from the series labels, else from the profile type. */
    const char *metric = pyr_labels_get(&rec.labels, PYR_LABEL_METRIC);
    char name[PYR_PROF_NAME_MAX];
    snprintf(name, sizeof(name), "%s", metric ? metric : t->name);
    if (o->relabel_wall_cpu && strcmp(name, "wall") == 0 &&
        strcmp(t->sample_type[c], "cpu") == 0)
      snprintf(name, sizeof(name), "process_cpu");
    if (pyr_labels_put_str(&rec.labels, PYR_LABEL_METRIC, name) != 0)
      goto nomem;
    /* Drop empty values (Prometheus semantics: an empty label is absent). */
    for (size_t i = 0; i < rec.labels.n;) {
      if (rec.labels.v[i].value[0] == '\0') {
        char *nm = rec.labels.v[i].name;
        pyr_labels_del(&rec.labels, nm);
      } else {
        i++;
      }
    }
    if (pyr_labels_validate(&rec.labels, lim, err, errlen) != 0) {
      pyr_labels_free(&rec.labels);
      /* A bad label is the client's fault (4xx), never "out of memory":
       * agents retry 5xx and would resend the same upload forever. */
      return PYR_PROF_EINVAL;
    }
    /* Private labels derived from the type and column. */
    char id[5 * PYR_PROF_NAME_MAX + 8];
    snprintf(id, sizeof(id), "%s:%s:%s:%s:%s", name, t->sample_type[c],
             t->sample_unit[c], t->period_type, t->period_unit);
    if (pyr_labels_put_str(&rec.labels, PYR_LABEL_PROFILE_TYPE, id) != 0 ||
        pyr_labels_put_str(&rec.labels, PYR_LABEL_TYPE, t->sample_type[c]) != 0 ||
        pyr_labels_put_str(&rec.labels, PYR_LABEL_UNIT, t->sample_unit[c]) != 0 ||
        (t->period_type[0] &&
         pyr_labels_put_str(&rec.labels, PYR_LABEL_PERIOD_TYPE, t->period_type) != 0) ||
        (t->period_unit[0] &&
         pyr_labels_put_str(&rec.labels, PYR_LABEL_PERIOD_UNIT, t->period_unit) != 0) ||
        pyr_labels_put_str(&rec.labels, PYR_LABEL_SERVICE_PRIVATE,
                           pyr_labels_get(&rec.labels, PYR_LABEL_SERVICE)) != 0)
      goto nomem;
    pyr_labels_sort(&rec.labels);
    rec.sl = malloc(rec.labels.n * sizeof(*rec.sl));
    if (rec.sl == NULL)
      goto nomem;
    for (size_t i = 0; i < rec.labels.n; i++) {
      rec.sl[i].name = rec.labels.v[i].name;
      rec.sl[i].value = rec.labels.v[i].value;
    }
    if (push_entry(b, &rec) != 0) {
      free(rec.sl);
      goto nomem;
    }
    continue;
  nomem:
    pyr_labels_free(&rec.labels);
    snprintf(err, errlen, "out of memory");
    return PYR_PROF_ENOMEM;
  }
  return 0;
}

int pyr_ingest_batch_add(pyr_ingest_batch *b, const pyr_prof *prof,
                         const pyr_labels *base, const pyr_series_opts *o,
                         const pyr_label_limits *lim, char *err,
                         size_t errlen) {
  size_t nls = pyr_prof_nlabelsets(prof);
  struct lsinfo *info = NULL;
  bool *member = NULL;
  int rc = PYR_PROF_ENOMEM;

  info = calloc(nls + 1, sizeof(*info));
  member = calloc(nls + 1, sizeof(*member));
  if (info == NULL || member == NULL)
    goto out;
  for (size_t i = 0; i < pyr_prof_nsamples(prof); i++) {
    const uint32_t *sl;
    uint32_t n, ls;
    const int64_t *v;
    pyr_prof_sample(prof, i, &sl, &n, &ls, &v);
    if (ls <= nls)
      info[ls].used = true;
  }
  /* Common case: no sample labels at all -> one entry per column. */
  if (nls == 0) {
    struct lsinfo none = {0};
    size_t cap = 0;
    if (kbuf_add(&none.key, &none.keylen, &cap, "", 0) != 0)
      goto out;
    rc = add_series(b, prof, 0, &none, base, o, lim, err, errlen);
    free(none.key);
    goto out;
  }
  size_t nused = 0;
  for (uint32_t ls = 0; ls <= nls; ls++) {
    if (!info[ls].used)
      continue;
    struct lsinfo tmp;
    if (series_part(prof, ls, base, &tmp) != 0) {
      free(tmp.key);
      goto out;
    }
    tmp.used = true;
    info[nused++] = tmp;
  }
  qsort(info, nused, sizeof(*info), cmp_lsinfo);
  for (size_t g = 0; g < nused;) {
    size_t e = g + 1;
    while (e < nused && info[e].keylen == info[g].keylen &&
           memcmp(info[e].key, info[g].key, info[g].keylen) == 0)
      e++;
    if (e - g == 1 && !info[g].has_sample_level) {
      rc = add_series(b, prof, info[g].id, &info[g], base, o, lim, err, errlen);
    } else {
      /* Several label sets form one series: merge their samples. */
      memset(member, 0, (nls + 1) * sizeof(*member));
      for (size_t i = g; i < e; i++)
        member[info[i].id] = true;
      pyr_prof *m = merge_labelsets(prof, member);
      if (m == NULL || pyr_prof_list_push(&b->owned, m) != 0) {
        pyr_prof_free(m);
        rc = PYR_PROF_ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto out;
      }
      rc = add_series(b, m, 0, &info[g], base, o, lim, err, errlen);
    }
    if (rc != 0)
      goto out;
    g = e;
  }
  rc = 0;
out:
  if (info != NULL)
    for (size_t i = 0; i <= nls; i++)
      free(info[i].key);
  free(info);
  free(member);
  if (rc == PYR_PROF_ENOMEM && err && err[0] == '\0')
    snprintf(err, errlen, "out of memory");
  return rc;
}

int pyr_ingest_commit(const pyr_ingest_env *env, const char *tenant,
                      pyr_ingest_batch *b, pyr_ingest_result *r) {
  pyr_store_entry *entries = NULL;
  char err[256] = "";
  int rc;

  if (env->store == NULL) {
    fail(r, 503, "storage is not open yet");
    return -1;
  }
  r->profiles = b->n;
  if (b->n == 0)
    return 0; /* nothing to store: an empty upload is still a success */
  entries = calloc(b->n, sizeof(*entries));
  if (entries == NULL) {
    fail(r, 500, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < b->n; i++) {
    entries[i].labels = b->e[i].sl;
    entries[i].nlabels = b->e[i].labels.n;
    entries[i].prof = b->e[i].prof;
    entries[i].column = b->e[i].column;
    entries[i].labelset = b->e[i].labelset;
    entries[i].from_ns = b->e[i].from_ns;
    entries[i].until_ns = b->e[i].until_ns;
  }
  rc = pyr_store_write(env->store, tenant, entries, b->n, err, sizeof(err));
  free(entries);
  switch (rc) {
  case PYR_STORE_OK:
    return 0;
  case PYR_STORE_EINVAL:
    fail(r, 400, "storage rejected the upload: %s", err);
    break;
  case PYR_STORE_ELIMIT:
    fail(r, 429, "limit reached: %s", err);
    break;
  case PYR_STORE_EBUSY:
    fail(r, 429, "storage is busy, retry later: %s", err);
    break;
  case PYR_STORE_ECLOSED:
    fail(r, 503, "storage is shutting down");
    break;
  case PYR_STORE_EFULL:
    /* 507 Insufficient Storage rather than 503: the cause is specific and
     * lasts until an operator frees space, and it stays apart from the
     * transient 503s (starting, stopping, queue full) in logs and in
     * pyrited_requests_total.  It is a 5xx, so agents keep the upload and
     * retry (the Java agent retries 429 and 5xx). */
    fail(r, 507, "storage full: no space left on the server's disk; stored data is intact, "
                 "retry later");
    break;
  default:
    fail(r, 500, "storage write failed: %s", err[0] ? err : pyr_store_strerror(rc));
    break;
  }
  if (env->metrics != NULL)
    pyr_metrics_add(&env->metrics->store_errors, 1);
  return -1;
}

/* ==== /ingest ============================================================ */

static size_t count_samples(const pyr_prof_list *l) {
  size_t n = 0;
  for (size_t i = 0; i < l->n; i++)
    n += pyr_prof_nsamples(l->items[i]);
  return n;
}

/* Maps a decoder's PYR_PROF_* code to a response. */
static void decode_failed(pyr_ingest_result *r, int code, const char *what,
                          const char *err) {
  if (code == PYR_PROF_ENOMEM)
    fail(r, 500, "%s: out of memory", what);
  else if (code == PYR_PROF_ELIMIT)
    fail(r, 422, "%s: exceeds the server's profile limits: %s", what, err);
  else
    fail(r, 422, "%s: %s", what, err);
}

/* Inflates payload if gzipped, with the configured bound. */
static int payload(const pyr_ingest_env *env, pyr_ingest_result *r,
                   const char *what, const unsigned char *in, size_t n,
                   const unsigned char **data, size_t *len,
                   unsigned char **owned) {
  char err[200];
  int g = pyr_maybe_gunzip(in, n, env->max_decompressed, data, len, owned, err,
                           sizeof(err));
  if (g == PYR_GZ_OK) {
    r->decompressed += *len;
    return 0;
  }
  if (g == PYR_GZ_ELIMIT)
    fail(r, 413, "%s: %s (--max-decompressed-bytes)", what, err);
  else if (g == PYR_GZ_ENOMEM)
    fail(r, 500, "%s: out of memory", what);
  else
    fail(r, 422, "%s: %s", what, err);
  return -1;
}

struct legacy_ctx {
  const pyr_ingest_env *env;
  const char *tenant;
  const pyr_ingest_params *p;
  pyr_labels user;      /* from `name`: __name__ + user labels */
  const char *app;      /* __name__ value */
  const char *spy;
  uint32_t sample_rate;
  int64_t from_ns, until_ns;
  pyr_ingest_result *r;
};

/* Series labels shared by the upload's profiles, without __name__ (the
 * metric comes from each profile's type). */
static int base_labels(const struct legacy_ctx *c, pyr_labels *base,
                       const char *app, size_t app_len) {
  pyr_labels_init(base);
  bool has_service = false;
  for (size_t i = 0; i < c->user.n; i++) {
    const char *nm = c->user.v[i].name;
    if (nm[0] == '_' && nm[1] == '_') /* reserved: __name__ and friends */
      continue;
    if (strcmp(nm, PYR_LABEL_SERVICE) == 0)
      has_service = true;
    if (pyr_labels_put_str(base, nm, c->user.v[i].value) != 0)
      return -1;
  }
  if (pyr_labels_put_str(base, PYR_LABEL_SPY, c->spy) != 0)
    return -1;
  /* The app name becomes service_name, or app_name if the user already
   * set a service_name (§1.6). */
  if (!has_service) {
    if (pyr_labels_put(base, PYR_LABEL_SERVICE, strlen(PYR_LABEL_SERVICE), app,
                       app_len) != 0)
      return -1;
  } else if (pyr_labels_get(base, PYR_LABEL_APP) == NULL) {
    if (pyr_labels_put(base, PYR_LABEL_APP, strlen(PYR_LABEL_APP), app,
                       app_len) != 0)
      return -1;
  }
  return 0;
}

/* Builds the batch for decoded profiles and commits it. */
static void store_profiles(struct legacy_ctx *c, const pyr_prof_list *profs,
                           const pyr_labels *base, int64_t from_ns,
                           int64_t until_ns) {
  pyr_ingest_result *r = c->r;
  pyr_ingest_batch *b = pyr_ingest_batch_new();
  char err[256] = "";
  pyr_series_opts so = {.relabel_wall_cpu = false,
                        .from_ns = from_ns,
                        .until_ns = until_ns};
  if (b == NULL) {
    fail(r, 500, "out of memory");
    return;
  }
  r->samples += count_samples(profs);
  for (size_t i = 0; i < profs->n; i++) {
    int rc = pyr_ingest_batch_add(b, profs->items[i], base, &so,
                                  &c->env->label_limits, err, sizeof(err));
    if (rc == PYR_PROF_ENOMEM) {
      fail(r, 500, "out of memory");
      goto out;
    }
    if (rc != 0) {
      fail(r, 422, "invalid series labels: %s", err);
      r->parse_error = false; /* the payload decoded fine */
      goto out;
    }
  }
  if (pyr_ingest_commit(c->env, c->tenant, b, r) == 0)
    r->status = 200;
out:
  pyr_ingest_batch_free(b);
}

static void ingest_jfr_data(struct legacy_ctx *c, const unsigned char *jfr,
                            size_t jlen, const unsigned char *labels,
                            size_t llen) {
  pyr_ingest_result *r = c->r;
  pyr_prof_list profs = {0};
  pyr_labels base;
  char ev[64] = "", err[256] = "";
  pyr_jfrp_limits jl = pyr_jfrp_default_limits;
  jl.max_input = c->env->max_decompressed;
  pyr_jfr_convert_opts o = {
      .sample_rate = c->sample_rate,
      .prof_limits = c->env->prof_limits,
      .jfr_limits = &jl,
      .time_nanos = c->from_ns,
      .duration_nanos = c->until_ns > c->from_ns ? c->until_ns - c->from_ns : 0,
  };
  pyr_labels_init(&base);
  int rc = pyr_jfr_to_profiles(jfr, jlen, labels, llen, &o, &profs, ev,
                               sizeof(ev), err, sizeof(err));
  if (rc != PYR_JFR_OK) {
    if (rc == PYR_JFR_ENOMEM)
      fail(r, 500, "jfr: out of memory");
    else if (rc == PYR_JFR_ELIMIT)
      fail(r, 422, "jfr: exceeds the server's limits: %s", err);
    else
      fail(r, 422, "jfr: %s", err);
    goto out;
  }
  if (base_labels(c, &base, c->app, strlen(c->app)) != 0 ||
      (ev[0] && pyr_labels_put_str(&base, PYR_LABEL_JFR_EVENT, ev) != 0)) {
    fail(r, 500, "out of memory");
    goto out;
  }
  store_profiles(c, &profs, &base, c->from_ns, c->until_ns);
out:
  pyr_labels_free(&base);
  pyr_prof_list_free(&profs);
}

static bool ct_has(const char *ct, const char *what) {
  return ct != NULL && strcasestr(ct, what) != NULL;
}

static void ingest_jfr(struct legacy_ctx *c, const unsigned char *body,
                       size_t len) {
  pyr_ingest_result *r = c->r;
  unsigned char *own_jfr = NULL, *own_labels = NULL;
  const unsigned char *jfr = NULL, *labels = NULL;
  size_t jlen = 0, llen = 0;
  char err[200];

  if (ct_has(c->p->content_type, "multipart/form-data")) {
    pyr_mp_form form;
    if (pyr_mp_parse(body, len, c->p->content_type, &form, err, sizeof(err)) != 0) {
      fail(r, 422, "jfr: bad multipart body: %s", err);
      goto out;
    }
    const pyr_mp_part *pj = pyr_mp_file(&form, "jfr");
    if (pj == NULL) {
      fail(r, 422, pyr_mp_any(&form, "jfr")
                       ? "jfr: the jfr part must be a file part (filename=...)"
                       : "jfr: jfr field is required");
      goto out;
    }
    if (pj->len < 2) {
      fail(r, 422, "jfr: jfr part is empty");
      goto out;
    }
    if (payload(c->env, r, "jfr", pj->data, pj->len, &jfr, &jlen, &own_jfr) != 0)
      goto out;
    const pyr_mp_part *pl = pyr_mp_file(&form, "labels");
    if (pl != NULL && pl->len > 0 &&
        payload(c->env, r, "labels", pl->data, pl->len, &labels, &llen,
                &own_labels) != 0)
      goto out;
  } else {
    /* Pyroscope takes a raw body as uncompressed JFR; gzip is accepted too. */
    if (payload(c->env, r, "jfr", body, len, &jfr, &jlen, &own_jfr) != 0)
      goto out;
  }
  ingest_jfr_data(c, jfr, jlen, labels, llen);
out:
  free(own_jfr);
  free(own_labels);
}

/* sample_type_config JSON: {"<type>": {"display-name": "...", ...}, ...} */
struct stc {
  json_t *root;
  pyr_pprof_display d[32];
  size_t n;
};

static int parse_stc(struct stc *s, const unsigned char *data, size_t len,
                     char *err, size_t errlen) {
  json_error_t je;
  memset(s, 0, sizeof(*s));
  s->root = json_loadb((const char *)data, len, 0, &je);
  if (s->root == NULL || !json_is_object(s->root)) {
    snprintf(err, errlen, "sample_type_config is not a JSON object");
    return -1;
  }
  const char *k;
  json_t *v;
  json_object_foreach(s->root, k, v) {
    if (s->n >= sizeof(s->d) / sizeof(s->d[0]) || !json_is_object(v))
      continue;
    json_t *dn = json_object_get(v, "display-name");
    if (dn == NULL)
      dn = json_object_get(v, "display_name");
    if (dn == NULL)
      dn = json_object_get(v, "displayName");
    if (json_is_string(dn)) {
      s->d[s->n].sample_type = k;
      s->d[s->n].display_name = json_string_value(dn);
      s->n++;
    }
  }
  return 0;
}

static void ingest_pprof_data(struct legacy_ctx *c, const unsigned char *raw,
                              size_t rawlen, const struct stc *stc) {
  pyr_ingest_result *r = c->r;
  unsigned char *own = NULL;
  const unsigned char *data;
  size_t len;
  pyr_prof_list profs = {0};
  pyr_labels base;
  char err[256] = "";

  pyr_labels_init(&base);
  if (payload(c->env, r, "pprof", raw, rawlen, &data, &len, &own) != 0)
    goto out;
  pyr_pprof_opts o = {
      .limits = c->env->prof_limits,
      .max_alloc_bytes = 0,
      .metric = NULL,
      .display = stc ? stc->d : NULL,
      .ndisplay = stc ? stc->n : 0,
      .default_time_ns = c->from_ns,
  };
  int rc = pyr_pprof_decode(data, len, &o, &profs, err, sizeof(err));
  if (rc != PYR_PROF_OK) {
    decode_failed(r, rc, "pprof", err);
    goto out;
  }
  if (base_labels(c, &base, c->app, strlen(c->app)) != 0) {
    fail(r, 500, "out of memory");
    goto out;
  }
  /* pprof keeps its own time_nanos (0/1970 was replaced by `from`). */
  store_profiles(c, &profs, &base, 0, 0);
out:
  free(own);
  pyr_labels_free(&base);
  pyr_prof_list_free(&profs);
}

static void ingest_pprof_form(struct legacy_ctx *c, const unsigned char *body,
                              size_t len) {
  pyr_ingest_result *r = c->r;
  pyr_mp_form form;
  struct stc stc;
  char err[200];
  bool have_stc = false;

  if (pyr_mp_parse(body, len, c->p->content_type, &form, err, sizeof(err)) != 0) {
    fail(r, 422, "pprof: bad multipart body: %s", err);
    return;
  }
  const pyr_mp_part *prof = pyr_mp_file(&form, "profile");
  if (pyr_mp_file(&form, "prev_profile") != NULL) {
    fail(r, 422,
         "pprof: unsupported client version (prev_profile part): please "
         "update github.com/grafana/pyroscope-go to the latest version");
    return;
  }
  const pyr_mp_part *cfg = pyr_mp_file(&form, "sample_type_config");
  if (cfg != NULL) {
    if (parse_stc(&stc, cfg->data, cfg->len, err, sizeof(err)) != 0) {
      json_decref(stc.root);
      fail(r, 422, "pprof: %s", err);
      return;
    }
    have_stc = true;
  }
  if (prof == NULL || prof->len == 0) {
    r->status = 200; /* Pyroscope: no profile part, nothing to do */
  } else {
    ingest_pprof_data(c, prof->data, prof->len, have_stc ? &stc : NULL);
  }
  if (have_stc)
    json_decref(stc.root);
}

static void ingest_text(struct legacy_ctx *c, const unsigned char *body,
                        size_t len, bool lines) {
  pyr_ingest_result *r = c->r;
  pyr_prof_type t;
  size_t app_len;
  char err[256] = "";
  pyr_prof_list profs = {0};
  pyr_labels base;
  unsigned char *own = NULL;
  const unsigned char *data;
  size_t dlen;

  pyr_labels_init(&base);
  /* An upload carrying a profile_id label is dropped (Pyroscope). */
  const char *pid = pyr_labels_get(&c->user, "profile_id");
  if (pid != NULL && pid[0] != '\0') {
    r->status = 200;
    return;
  }
  if (pyr_legacy_type(c->app, &app_len, c->sample_rate, &t, err, sizeof(err)) != 0) {
    fail(r, 400, "%s", err);
    return;
  }
  if (payload(c->env, r, lines ? "lines" : "folded", body, len, &data, &dlen,
              &own) != 0)
    goto out;
  pyr_prof *p = pyr_prof_new(&t, c->env->prof_limits ? c->env->prof_limits
                                                     : &pyr_prof_default_limits);
  if (p == NULL || pyr_prof_list_push(&profs, p) != 0) {
    pyr_prof_free(p);
    fail(r, 500, "out of memory");
    goto out;
  }
  pyr_prof_set_time(p, c->from_ns,
                    c->until_ns > c->from_ns ? c->until_ns - c->from_ns : 0);
  int rc = pyr_folded_parse((const char *)data, dlen, lines,
                            t.period > 0 ? t.period : 1, p, NULL, err,
                            sizeof(err));
  if (rc != 0) {
    decode_failed(r, rc, lines ? "lines" : "folded", err);
    goto out;
  }
  if (base_labels(c, &base, c->app, app_len) != 0) {
    fail(r, 500, "out of memory");
    goto out;
  }
  store_profiles(c, &profs, &base, c->from_ns, c->until_ns);
out:
  free(own);
  pyr_labels_free(&base);
  pyr_prof_list_free(&profs);
}

static bool eq(const char *a, const char *b) {
  return a != NULL && strcmp(a, b) == 0;
}

void pyr_ingest_legacy(const pyr_ingest_env *env, const char *tenant,
                       const pyr_ingest_params *p, const unsigned char *body,
                       size_t len, pyr_ingest_result *r) {
  struct legacy_ctx c = {.env = env, .tenant = tenant, .p = p, .r = r};
  char err[256] = "";
  int64_t now = pyr_time_now_ns();

  r->status = 500;
  r->code = NULL;
  r->message[0] = '\0';
  pyr_labels_init(&c.user);

  /* Format first, so that every outcome is counted under it. */
  const char *f = p->format;
  const char *ct = p->content_type;
  /* Same order as Pyroscope's dispatch: the first match wins. */
  const char *unsupported = NULL;
  if (eq(f, "trie") || eq(ct, "binary/octet-stream+trie"))
    unsupported = "trie";
  else if (eq(f, "tree") || eq(ct, "binary/octet-stream+tree"))
    unsupported = "tree";
  if (unsupported != NULL)
    r->format = PYR_FMT_UNSUPPORTED;
  else if (eq(f, "lines"))
    r->format = PYR_FMT_LINES;
  else if (eq(f, "jfr"))
    r->format = PYR_FMT_JFR;
  else if (eq(f, "pprof"))
    r->format = PYR_FMT_PPROF;
  else if (eq(f, "speedscope")) {
    unsupported = "speedscope";
    r->format = PYR_FMT_UNSUPPORTED;
  } else if (ct_has(ct, "multipart/form-data"))
    r->format = PYR_FMT_PPROF;
  else
    r->format = PYR_FMT_FOLDED;

  if (p->name == NULL || p->name[0] == '\0') {
    fail(r, 400, "name: invalid service name: service name is required");
    goto out;
  }
  int nr = pyr_ingest_name_parse(p->name, &c.user, err, sizeof(err));
  if (nr == -2) {
    fail(r, 500, "out of memory");
    goto out;
  }
  if (nr != 0) {
    fail(r, 400, "name: %s", err);
    goto out;
  }
  c.app = pyr_labels_get(&c.user, PYR_LABEL_METRIC);
  if (pyr_time_parse(p->from ? p->from : "now", now, &c.from_ns) != 0 ||
      pyr_time_parse(p->until ? p->until : "now", now, &c.until_ns) != 0) {
    fail(r, 400, "from/until: time value too long");
    goto out;
  }
  if (p->from == NULL || p->from[0] == '\0')
    c.from_ns = now;
  if (p->until == NULL || p->until[0] == '\0')
    c.until_ns = now;
  c.sample_rate = pyr_ingest_sample_rate(p->sample_rate);
  c.spy = (p->spy_name && p->spy_name[0]) ? p->spy_name : "unknown";

  switch (r->format) {
  case PYR_FMT_UNSUPPORTED:
    fail(r, 415,
         "format '%s' is not supported by pyrited; send jfr, pprof, folded "
         "(collapsed) or lines",
         unsupported);
    break;
  case PYR_FMT_LINES:
    ingest_text(&c, body, len, true);
    break;
  case PYR_FMT_JFR:
    ingest_jfr(&c, body, len);
    break;
  case PYR_FMT_PPROF:
    if (eq(f, "pprof"))
      ingest_pprof_data(&c, body, len, NULL);
    else
      ingest_pprof_form(&c, body, len);
    break;
  default:
    ingest_text(&c, body, len, false);
    break;
  }
out:
  if (r->status != 200 && r->code == NULL)
    r->code = pyr_ingest_code_for_status(r->status);
  pyr_labels_free(&c.user);
}
