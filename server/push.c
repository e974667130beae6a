/*
 * push.c - POST /push.v1.PusherService/Push (Connect unary, §2).
 *
 * What: decodes a PushRequest sent as binary protobuf (application/proto)
 * or protojson (application/json; camelCase or proto field names, bytes as
 * base64), optionally with Content-Encoding: gzip; every RawSample's
 * raw_profile is a pprof (gzipped or plain, sniffed).  Series labels are
 * taken exactly as sent, plus service_name=unknown_service when missing;
 * Pyroscope's default relabelling applies (__name__ godeltaprof_* loses the
 * prefix; __name__ wall with sample type cpu becomes process_cpu);
 * __delta__ is dropped (no delta computation here, see docs/ingest.md).
 * All series of one request are written in one storage transaction.
 *
 * Errors are Connect errors: 400 invalid_argument for anything the client
 * sent wrong (no series, bad labels, undecodable pprof), 413 for sizes,
 * 415 for a content type or encoding we do not speak.
 *
 * Threads: reentrant; runs on ingest worker threads.
 *
 * Invariants: protobuf decoding goes through a budgeted allocator; every
 * allocation of a request is released before return.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "pb_budget.h"
#include "auth.h"
#include "ingest.h"
#include "ingest_gzip.h"
#include "pprof.h"
#include "push.pb-c.h"
#include "timeparse.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void fail(pyr_ingest_result *r, unsigned status, const char *fmt, ...) {
  r->status = status;
  r->code = pyr_ingest_code_for_status(status);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof(r->message), fmt, ap);
  va_end(ap);
}

/* A decoded request in a transport-neutral form. */
struct psample {
  const unsigned char *raw;
  size_t len;
  unsigned char *owned; /* base64-decoded (JSON) */
};

struct pseries {
  pyr_labels labels;
  struct psample *samples;
  size_t nsamples;
};

struct preq {
  struct pseries *series;
  size_t n;
};

static void preq_free(struct preq *q) {
  for (size_t i = 0; i < q->n; i++) {
    pyr_labels_free(&q->series[i].labels);
    for (size_t j = 0; j < q->series[i].nsamples; j++)
      free(q->series[i].samples[j].owned);
    free(q->series[i].samples);
  }
  free(q->series);
  memset(q, 0, sizeof(*q));
}

/* Adds a label, rejecting a repeated name as Pyroscope's validation does. */
static int add_label(struct pseries *s, const char *name, const char *value,
                     pyr_ingest_result *r) {
  if (pyr_labels_get(&s->labels, name) != NULL) {
    fail(r, 400, "duplicate label name '%.128s'", name);
    return -1;
  }
  if (pyr_labels_put_str(&s->labels, name, value) != 0) {
    fail(r, 500, "out of memory");
    return -1;
  }
  return 0;
}

/* ---- binary protobuf ------------------------------------------------------ */


/* Decodes into q; the raw_profile slices point into *pb, which the caller
 * frees after use (with the same allocator). */
static int decode_proto(const unsigned char *body, size_t len, struct preq *q,
                        Push__V1__PushRequest **pbout, ProtobufCAllocator *al,
                        pyr_ingest_result *r) {
  Push__V1__PushRequest *pb = push__v1__push_request__unpack(al, len, body);
  if (pb == NULL && ((pyr_pb_budget *)al->allocator_data)->refused) {
    fail(r, 413, "PushRequest too large to decode");
    return -1;
  }
  if (pb == NULL) {
    fail(r, 400, "invalid PushRequest protobuf");
    r->parse_error = true;
    return -1;
  }
  *pbout = pb;
  q->series = calloc(pb->n_series ? pb->n_series : 1, sizeof(*q->series));
  if (q->series == NULL) {
    fail(r, 500, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < pb->n_series; i++) {
    const Push__V1__RawProfileSeries *ps = pb->series[i];
    struct pseries *s = &q->series[q->n++];
    pyr_labels_init(&s->labels);
    for (size_t j = 0; j < ps->n_labels; j++)
      if (add_label(s, ps->labels[j]->name, ps->labels[j]->value, r) != 0)
        return -1;
    s->samples = calloc(ps->n_samples ? ps->n_samples : 1, sizeof(*s->samples));
    if (s->samples == NULL) {
      fail(r, 500, "out of memory");
      return -1;
    }
    for (size_t j = 0; j < ps->n_samples; j++) {
      s->samples[j].raw = ps->samples[j]->raw_profile.data;
      s->samples[j].len = ps->samples[j]->raw_profile.len;
      s->nsamples++;
    }
  }
  return 0;
}

/* ---- protojson ------------------------------------------------------------- */

/* Field lookup accepting the lowerCamel JSON name or the proto name. */
static json_t *jget(json_t *o, const char *camel, const char *proto) {
  json_t *v = json_object_get(o, camel);
  if (v == NULL && proto != NULL)
    v = json_object_get(o, proto);
  return v;
}

static int decode_json(const unsigned char *body, size_t len, size_t max_raw,
                       struct preq *q, pyr_ingest_result *r) {
  json_error_t je;
  json_t *root = NULL;
  int rc = -1;

  /* protojson: an empty body is rejected by Pyroscope; {} is lenient. */
  if (len == 0) {
    fail(r, 400, "empty JSON body: send {} or a PushRequest");
    return -1;
  }
  root = json_loadb((const char *)body, len, JSON_DECODE_ANY, &je);
  if (root == NULL || !json_is_object(root)) {
    fail(r, 400, "invalid JSON PushRequest: %s",
         root == NULL ? je.text : "not an object");
    r->parse_error = true;
    goto out;
  }
  json_t *series = json_object_get(root, "series");
  if (series != NULL && !json_is_array(series) && !json_is_null(series)) {
    fail(r, 400, "invalid JSON PushRequest: series must be an array");
    goto out;
  }
  size_t ns = json_is_array(series) ? json_array_size(series) : 0;
  q->series = calloc(ns ? ns : 1, sizeof(*q->series));
  if (q->series == NULL) {
    fail(r, 500, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < ns; i++) {
    json_t *js = json_array_get(series, i);
    struct pseries *s = &q->series[q->n++];
    pyr_labels_init(&s->labels);
    if (!json_is_object(js)) {
      fail(r, 400, "invalid JSON PushRequest: series[%zu] is not an object", i);
      goto out;
    }
    json_t *labels = json_object_get(js, "labels");
    size_t nl = json_is_array(labels) ? json_array_size(labels) : 0;
    for (size_t j = 0; j < nl; j++) {
      json_t *lp = json_array_get(labels, j);
      json_t *n = json_object_get(lp, "name"), *v = json_object_get(lp, "value");
      if ((n != NULL && !json_is_string(n)) || (v != NULL && !json_is_string(v))) {
        fail(r, 400, "invalid JSON PushRequest: label name/value must be strings");
        goto out;
      }
      if (add_label(s, n ? json_string_value(n) : "", v ? json_string_value(v) : "",
                    r) != 0)
        goto out;
    }
    json_t *samples = json_object_get(js, "samples");
    size_t nsm = json_is_array(samples) ? json_array_size(samples) : 0;
    s->samples = calloc(nsm ? nsm : 1, sizeof(*s->samples));
    if (s->samples == NULL) {
      fail(r, 500, "out of memory");
      goto out;
    }
    for (size_t j = 0; j < nsm; j++) {
      json_t *sm = json_array_get(samples, j);
      json_t *raw = jget(sm, "rawProfile", "raw_profile");
      struct psample *ps = &s->samples[s->nsamples++];
      if (raw == NULL || json_is_null(raw))
        continue;
      if (!json_is_string(raw)) {
        fail(r, 400, "invalid JSON PushRequest: rawProfile must be base64");
        goto out;
      }
      const char *b64 = json_string_value(raw);
      size_t bl = json_string_length(raw);
      size_t cap = bl / 4 * 3 + 3;
      if (cap > max_raw + 3) {
        fail(r, 413, "rawProfile exceeds %zu bytes (--max-decompressed-bytes)",
             max_raw);
        goto out;
      }
      ps->owned = malloc(cap ? cap : 1);
      if (ps->owned == NULL) {
        fail(r, 500, "out of memory");
        goto out;
      }
      long dl = pyr_base64_decode(b64, bl, ps->owned, cap);
      if (dl < 0) {
        fail(r, 400, "invalid JSON PushRequest: rawProfile is not base64");
        goto out;
      }
      ps->raw = ps->owned;
      ps->len = (size_t)dl;
    }
  }
  rc = 0;
out:
  json_decref(root);
  return rc;
}

/* ---- handler ---------------------------------------------------------------- */

static bool media_is(const char *ct, const char *what) {
  if (ct == NULL)
    return false;
  while (*ct == ' ')
    ct++;
  size_t n = strlen(what);
  if (strncasecmp(ct, what, n) != 0)
    return false;
  return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* The series of one request -> batch entries (all samples, all series). */
static void push_series(const pyr_ingest_env *env, struct preq *q,
                        pyr_ingest_batch *b, pyr_prof_list *profs,
                        pyr_ingest_result *r) {
  int64_t now = pyr_time_now_ns();
  char err[256];
  for (size_t i = 0; i < q->n; i++) {
    struct pseries *s = &q->series[i];
    pyr_labels_del(&s->labels, PYR_LABEL_DELTA);
    const char *svc = pyr_labels_get(&s->labels, PYR_LABEL_SERVICE);
    if (svc == NULL || svc[0] == '\0') {
      if (pyr_labels_put_str(&s->labels, PYR_LABEL_SERVICE, "unknown_service") != 0)
        goto nomem;
    }
    const char *metric = pyr_labels_get(&s->labels, PYR_LABEL_METRIC);
    if (metric == NULL || metric[0] == '\0') {
      fail(r, 400, "series %zu: the __name__ label is required (e.g. process_cpu)", i);
      return;
    }
    if (strncmp(metric, "godeltaprof_", 12) == 0) {
      char stripped[PYR_PROF_NAME_MAX];
      snprintf(stripped, sizeof(stripped), "%s", metric + 12);
      if (pyr_labels_put_str(&s->labels, PYR_LABEL_METRIC, stripped) != 0)
        goto nomem;
      metric = pyr_labels_get(&s->labels, PYR_LABEL_METRIC);
    }
    if (strlen(metric) >= PYR_PROF_NAME_MAX || !pyr_metric_name_ok(metric, strlen(metric))) {
      fail(r, 400, "series %zu: invalid __name__ '%.128s'", i, metric);
      return;
    }
    for (size_t j = 0; j < s->nsamples; j++) {
      struct psample *ps = &s->samples[j];
      const unsigned char *data;
      size_t len;
      unsigned char *own = NULL;
      if (ps->len == 0)
        continue;
      int g = pyr_maybe_gunzip(ps->raw, ps->len, env->max_decompressed, &data,
                               &len, &own, err, sizeof(err));
      if (g != PYR_GZ_OK) {
        if (g == PYR_GZ_ELIMIT)
          fail(r, 413, "series %zu sample %zu: %s (--max-decompressed-bytes)",
               i, j, err);
        else if (g == PYR_GZ_ENOMEM)
          fail(r, 500, "out of memory");
        else
          fail(r, 400, "series %zu sample %zu: %s", i, j, err);
        r->parse_error = g == PYR_GZ_EDATA;
        return;
      }
      r->decompressed += len;
      size_t before = profs->n;
      pyr_pprof_opts o = {.limits = env->prof_limits,
                          .metric = metric,
                          .default_time_ns = now};
      int rc = pyr_pprof_decode(data, len, &o, profs, err, sizeof(err));
      free(own);
      if (rc != PYR_PROF_OK) {
        if (rc == PYR_PROF_ENOMEM)
          fail(r, 500, "out of memory");
        else
          fail(r, 400, "series %zu sample %zu: %s", i, j, err);
        r->parse_error = rc == PYR_PROF_EINVAL;
        return;
      }
      pyr_series_opts so = {.relabel_wall_cpu = true};
      for (size_t k = before; k < profs->n; k++) {
        r->samples += pyr_prof_nsamples(profs->items[k]);
        err[0] = '\0';
        rc = pyr_ingest_batch_add(b, profs->items[k], &s->labels, &so,
                                  &env->label_limits, err, sizeof(err));
        if (rc == PYR_PROF_ENOMEM)
          goto nomem;
        if (rc != 0) {
          fail(r, 400, "series %zu: %s", i, err);
          return;
        }
      }
    }
  }
  r->status = 200;
  return;
nomem:
  fail(r, 500, "out of memory");
}

void pyr_ingest_push(const pyr_ingest_env *env, const char *tenant,
                     const pyr_ingest_params *p, const unsigned char *body,
                     size_t len, pyr_ingest_result *r) {
  struct preq q = {0};
  unsigned char *own = NULL;
  const unsigned char *data = body;
  size_t dlen = len;
  Push__V1__PushRequest *pb = NULL;
  pyr_pb_budget bud = {0};
  ProtobufCAllocator al = PYR_PB_BUDGET_ALLOCATOR(&bud);
  pyr_ingest_batch *b = NULL;
  pyr_prof_list profs = {0};
  bool json;
  char err[200];

  r->status = 500;
  r->code = NULL;
  r->message[0] = '\0';
  r->format = PYR_FMT_PUSH;

  if (media_is(p->content_type, "application/proto") ||
      media_is(p->content_type, "application/protobuf") ||
      media_is(p->content_type, "application/x-protobuf")) {
    json = false;
  } else if (media_is(p->content_type, "application/json")) {
    json = true;
  } else {
    fail(r, 415, "unsupported content type '%.100s': use application/proto or "
                 "application/json",
         p->content_type ? p->content_type : "");
    goto out;
  }
  const char *ce = p->content_encoding;
  if (ce != NULL && ce[0] != '\0' && strcasecmp(ce, "identity") != 0) {
    if (strcasecmp(ce, "gzip") != 0) {
      fail(r, 415, "unsupported Content-Encoding '%.64s': use gzip or none", ce);
      goto out;
    }
    int g = pyr_gunzip(body, len, env->max_decompressed, &own, &dlen, err,
                       sizeof(err));
    if (g != PYR_GZ_OK) {
      if (g == PYR_GZ_ELIMIT)
        fail(r, 413, "request body: %s (--max-decompressed-bytes)", err);
      else if (g == PYR_GZ_ENOMEM)
        fail(r, 500, "out of memory");
      else
        fail(r, 400, "request body: %s", err);
      goto out;
    }
    data = own;
  }

  if (json) {
    if (decode_json(data, dlen, env->max_decompressed, &q, r) != 0)
      goto out;
  } else {
    /* Generous for a message made mostly of bytes fields, tight enough that
     * a hostile message cannot balloon into huge struct arrays. */
    pyr_pb_budget_init(&bud, dlen, 16, 1u << 20, SIZE_MAX / 2);
    if (decode_proto(data, dlen, &q, &pb, &al, r) != 0)
      goto out;
  }
  if (q.n == 0) {
    fail(r, 400, "no profiles received");
    goto out;
  }
  b = pyr_ingest_batch_new();
  if (b == NULL) {
    fail(r, 500, "out of memory");
    goto out;
  }
  push_series(env, &q, b, &profs, r);
  if (r->status != 200)
    goto out;
  r->status = 500;
  if (pyr_ingest_commit(env, tenant, b, r) != 0)
    goto out;
  r->status = 200;
  r->content_type = json ? "application/json" : "application/proto";
  r->body = json ? "{}" : "";
  r->body_len = json ? 2 : 0;
out:
  if (r->status != 200 && r->code == NULL)
    r->code = pyr_ingest_code_for_status(r->status);
  pyr_ingest_batch_free(b);
  pyr_prof_list_free(&profs);
  preq_free(&q);
  if (pb != NULL)
    push__v1__push_request__free_unpacked(pb, &al);
  free(own);
}
