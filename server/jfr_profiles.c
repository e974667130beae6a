/*
 * jfr_profiles.c - JFR events -> pyr_prof profiles, Pyroscope's way.
 *
 * What: drives jfr_parse.c over the recording and turns each bound event
 * into a sample of one or two profiles, following Grafana Pyroscope's JFR
 * ingestion (grafana/jfr-parser's pprof builder) rule for rule:
 *   jdk.ExecutionSample      -> process_cpu if the thread state resolves and
 *                               is not STATE_SLEEPING; also wall when the
 *                               recording's "event" setting is "wall"
 *   profiler.WallClockSample -> wall; also process_cpu when the state is
 *                               STATE_RUNNABLE and the event setting is wall
 *   jdk.ObjectAllocationInNewTLAB / OutsideTLAB / ObjectAllocationSample,
 *   jdk.JavaMonitorEnter, jdk.ThreadPark, profiler.LiveObject,
 *   profiler.Malloc          -> memory / mutex / block profiles
 *   jdk.ActiveSetting name=event -> the jfr_event value (and the wall rule)
 * CPU and wall values are multiplied by the period 1e9/sampleRate.
 * Pyroscope keeps one shared "values" array across the whole recording;
 * a WallClockSample stores its `samples` in slot 0 and later events reuse
 * it as their count instead of 1.  We reproduce that (cv->v0), because
 * conformance means identical numbers.
 *
 * Frames: stack traces are stored leaf first; profiles are root first.
 * A frame whose method or class is missing from the pools is dropped; a
 * stack trace that is missing drops the sample.
 *
 * Dynamic labels (only when a LabelsSnapshot was uploaded, as in
 * Pyroscope): an event's contextId indexes the snapshot; its (key id,
 * value id) pairs are translated through the snapshot's strings.  spanId
 * adds profile_id (16 hex digits), spanName adds span_name.  ThreadPark,
 * ObjectAllocationSample, LiveObject and Malloc samples get no labels.
 *
 * Speed: per chunk and per profile, a cache maps (stack key, context,
 * span) to the sample index, so a repeated stack costs one hash probe
 * instead of resolving and interning every frame again; and an array
 * indexed by the Method pool's dense index remembers each method's
 * interned frame name and its last location, so most frames of a new
 * stack cost no hashing at all.
 *
 * Threads: single-threaded, no globals.
 */
#include "jfr_profiles.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "labels.pb-c.h"
#include "pb_budget.h"

enum pslot {
  PS_BLOCK,
  PS_ALLOC_NEW_TLAB,
  PS_ALLOC_OUTSIDE_TLAB,
  PS_ALLOC_SAMPLE,
  PS_LIVE,
  PS_MALLOC,
  PS_MUTEX,
  PS_CPU,
  PS_WALL,
  PS_COUNT
};

struct ptype_def {
  const char *name;
  uint32_t n;
  const char *st[2], *su[2];
  const char *pt, *pu;
};

static const struct ptype_def ptypes[PS_COUNT] = {
    [PS_BLOCK] = {"block", 2, {"contentions", "delay"}, {"count", "nanoseconds"}, "block", "count"},
    [PS_ALLOC_NEW_TLAB] = {"memory",
                           2,
                           {"alloc_in_new_tlab_objects", "alloc_in_new_tlab_bytes"},
                           {"count", "bytes"},
                           "space",
                           "bytes"},
    [PS_ALLOC_OUTSIDE_TLAB] = {"memory",
                               2,
                               {"alloc_outside_tlab_objects", "alloc_outside_tlab_bytes"},
                               {"count", "bytes"},
                               "space",
                               "bytes"},
    [PS_ALLOC_SAMPLE] = {"memory",
                         2,
                         {"alloc_sample_objects", "alloc_sample_bytes"},
                         {"count", "bytes"},
                         "space",
                         "bytes"},
    [PS_LIVE] = {"memory", 1, {"live"}, {"count"}, "objects", "count"},
    [PS_MALLOC] = {"memory", 2, {"malloc_objects", "malloc_bytes"}, {"count", "bytes"}, "", ""},
    [PS_MUTEX] = {"mutex", 2, {"contentions", "delay"}, {"count", "nanoseconds"}, "mutex", "count"},
    [PS_CPU] = {"process_cpu", 1, {"cpu"}, {"nanoseconds"}, "cpu", "nanoseconds"},
    [PS_WALL] = {"wall", 1, {"wall"}, {"nanoseconds"}, "wall", "nanoseconds"},
};

/* (stack, labels) -> sample index cache of one profile for one chunk. */
struct ckey {
  uint64_t stack;
  int64_t ctx, span_id, span_name;
};
struct cache {
  struct ckey *keys;
  uint32_t *vals; /* sample index + 1; 0 = empty slot */
  size_t cap, n;
  uint64_t seed; /* keys come from the input: keyed hash */
};
#define CACHE_DROPPED UINT32_MAX /* the stack trace is not in the pools */
#define CACHE_MAX_ENTRIES (1u << 22)

struct ctx_ent {
  int64_t id;
  size_t order;
  const Pyrite__Labels__Context *ctx;
};
struct str_ent {
  int64_t id;
  size_t order;
  const char *s;
};

#define EVENT_MAX 1024

/* What one profile knows about one method of the current chunk. */
struct mcache {
  uint32_t name; /* interned frame name + 1; 0 unknown; MC_DROP: no frame */
  uint32_t line; /* line of the cached location */
  uint32_t loc;  /* location (name, line) + 1; 0 none yet */
};
#define MC_DROP UINT32_MAX

struct conv {
  const pyr_jfr_convert_opts *o;
  pyr_prof_limits plim;
  int64_t period;
  pyr_prof *prof[PS_COUNT];
  struct cache cache[PS_COUNT];
  /* per profile, this chunk's Method index -> frame name and last location */
  struct mcache *mcache[PS_COUNT];
  size_t nmethods;

  Pyrite__Labels__LabelsSnapshot *snap;
  pyr_pb_budget snap_budget;      /* what unpacking snap may allocate */
  ProtobufCAllocator snap_alloc;  /* draws on snap_budget; frees snap */
  struct ctx_ent *ctxs;
  size_t nctxs;
  struct str_ent *strs;
  size_t nstrs;

  int64_t v0; /* Pyroscope's shared values[0] */
  bool has_event;
  char event[EVENT_MAX + 1];
  size_t event_len; /* > EVENT_MAX: too long to be "wall" */

  uint32_t *locs;
  size_t locs_cap;
  int code; /* PYR_JFR_* of a failed callback */
};

/* ---------------------------------------------------------------- helpers */

static bool str_is(const pyr_jfrp_str *s, const char *lit) {
  size_t n = strlen(lit);
  return s->s != NULL && s->len == n && memcmp(s->s, lit, n) == 0;
}

static int64_t mul_wrap(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

static bool event_is_wall(const struct conv *cv) {
  return cv->has_event && cv->event_len == 4 && memcmp(cv->event, "wall", 4) == 0;
}

static int prof_err(struct conv *cv, pyr_jfrp *p, int64_t rc, const char *what) {
  if (rc == PYR_PROF_ELIMIT) {
    cv->code = PYR_JFR_ELIMIT;
    return pyr_jfrp_fail(p, "profile limit exceeded (%s)", what);
  }
  if (rc == PYR_PROF_ENOMEM) {
    cv->code = PYR_JFR_ENOMEM;
    return pyr_jfrp_fail(p, "out of memory (%s)", what);
  }
  cv->code = PYR_JFR_EINVAL;
  return pyr_jfrp_fail(p, "invalid profile data (%s)", what);
}

/* ------------------------------------------------------------------ cache */

static uint64_t ckey_hash(const struct ckey *k, uint64_t seed) {
  uint64_t h = (k->stack ^ seed) * 0x9e3779b97f4a7c15ULL;
  h ^= (uint64_t)k->ctx * 0xc2b2ae3d27d4eb4fULL;
  h ^= (uint64_t)k->span_id * 0x165667b19e3779f9ULL;
  h ^= (uint64_t)k->span_name * 0x27d4eb2f165667c5ULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 32);
}

static bool ckey_eq(const struct ckey *a, const struct ckey *b) {
  return a->stack == b->stack && a->ctx == b->ctx && a->span_id == b->span_id &&
         a->span_name == b->span_name;
}

static bool cache_get(const struct cache *c, const struct ckey *k, uint32_t *val) {
  if (c->cap == 0)
    return false;
  size_t mask = c->cap - 1;
  for (size_t i = ckey_hash(k, c->seed) & mask;; i = (i + 1) & mask) {
    if (c->vals[i] == 0)
      return false;
    if (ckey_eq(&c->keys[i], k)) {
      *val = c->vals[i] - 1;
      return true;
    }
  }
}

static void cache_clear(struct cache *c) {
  uint64_t seed = c->seed;
  free(c->keys);
  free(c->vals);
  memset(c, 0, sizeof(*c));
  c->seed = seed;
}

/* Best effort: a cache that cannot grow is just forgotten. */
static void cache_put(struct cache *c, const struct ckey *k, uint32_t val) {
  if ((c->n + 1) * 2 > c->cap) {
    if (c->n >= CACHE_MAX_ENTRIES) {
      cache_clear(c);
      return;
    }
    size_t ncap = c->cap ? c->cap * 2 : 256;
    struct ckey *keys = malloc(ncap * sizeof(*keys));
    uint32_t *vals = calloc(ncap, sizeof(*vals));
    if (keys == NULL || vals == NULL) {
      free(keys);
      free(vals);
      cache_clear(c);
      return;
    }
    for (size_t i = 0; i < c->cap; i++) {
      if (c->vals[i] == 0)
        continue;
      size_t j = ckey_hash(&c->keys[i], c->seed) & (ncap - 1);
      while (vals[j] != 0)
        j = (j + 1) & (ncap - 1);
      keys[j] = c->keys[i];
      vals[j] = c->vals[i];
    }
    free(c->keys);
    free(c->vals);
    c->keys = keys;
    c->vals = vals;
    c->cap = ncap;
  }
  size_t mask = c->cap - 1;
  size_t i = ckey_hash(k, c->seed) & mask;
  while (c->vals[i] != 0)
    i = (i + 1) & mask;
  c->keys[i] = *k;
  c->vals[i] = val + 1;
  c->n++;
}

/* ----------------------------------------------------------------- labels */

static int cmp_ctx(const void *a, const void *b) {
  const struct ctx_ent *x = a, *y = b;
  if (x->id != y->id)
    return x->id < y->id ? -1 : 1;
  return x->order < y->order ? -1 : (x->order > y->order);
}

static int cmp_str(const void *a, const void *b) {
  const struct str_ent *x = a, *y = b;
  if (x->id != y->id)
    return x->id < y->id ? -1 : 1;
  return x->order < y->order ? -1 : (x->order > y->order);
}

/* Unpacks the snapshot and builds sorted indexes (a repeated map key keeps
 * its last value, as protobuf map semantics say). */
static int load_labels(struct conv *cv, const uint8_t *pb, size_t len, size_t cap, char *err,
                       size_t errlen) {
  if (pb == NULL || len == 0)
    return PYR_JFR_OK;
  /* A hostile snapshot of tiny empty entries unpacks to ~30x its size (a
   * message struct and an array slot per 2 wire bytes); real ones stay far
   * below that.  64x + 64 KiB admits every legitimate snapshot, and the
   * absolute cap bounds one upload whatever --max-decompressed-bytes is. */
  pyr_pb_budget_init(&cv->snap_budget, len, 64, 65536, cap);
  cv->snap_alloc = (ProtobufCAllocator)PYR_PB_BUDGET_ALLOCATOR(&cv->snap_budget);
  cv->snap = pyrite__labels__labels_snapshot__unpack(&cv->snap_alloc, len, pb);
  if (cv->snap == NULL) {
    if (cv->snap_budget.refused) {
      snprintf(err, errlen, "labels: LabelsSnapshot too large to decode");
      return PYR_JFR_ELIMIT;
    }
    snprintf(err, errlen, "labels: not a valid LabelsSnapshot protobuf");
    return PYR_JFR_EINVAL;
  }
  Pyrite__Labels__LabelsSnapshot *s = cv->snap;
  cv->ctxs = calloc(s->n_contexts ? s->n_contexts : 1, sizeof(*cv->ctxs));
  cv->strs = calloc(s->n_strings ? s->n_strings : 1, sizeof(*cv->strs));
  if (cv->ctxs == NULL || cv->strs == NULL) {
    snprintf(err, errlen, "labels: out of memory");
    return PYR_JFR_ENOMEM;
  }
  for (size_t i = 0; i < s->n_contexts; i++) {
    cv->ctxs[i].id = s->contexts[i]->key;
    cv->ctxs[i].order = i;
    cv->ctxs[i].ctx = s->contexts[i]->value;
  }
  for (size_t i = 0; i < s->n_strings; i++) {
    cv->strs[i].id = s->strings[i]->key;
    cv->strs[i].order = i;
    cv->strs[i].s = s->strings[i]->value;
  }
  qsort(cv->ctxs, s->n_contexts, sizeof(*cv->ctxs), cmp_ctx);
  qsort(cv->strs, s->n_strings, sizeof(*cv->strs), cmp_str);
  cv->nctxs = s->n_contexts;
  cv->nstrs = s->n_strings;
  return PYR_JFR_OK;
}

/* Binary search for the last entry with id (the winning duplicate). */
#define FIND_LAST(arr, n, want, out)                                                           \
  do {                                                                                         \
    size_t lo_ = 0, hi_ = (n);                                                                 \
    while (lo_ < hi_) {                                                                        \
      size_t mid_ = lo_ + (hi_ - lo_) / 2;                                                     \
      if ((arr)[mid_].id <= (want))                                                            \
        lo_ = mid_ + 1;                                                                        \
      else                                                                                     \
        hi_ = mid_;                                                                            \
    }                                                                                          \
    (out) = (lo_ > 0 && (arr)[lo_ - 1].id == (want)) ? &(arr)[lo_ - 1] : NULL;                 \
  } while (0)

static const char *snap_string(const struct conv *cv, int64_t id) {
  const struct str_ent *e;
  FIND_LAST(cv->strs, cv->nstrs, id, e);
  return e && e->s ? e->s : "";
}

static int64_t intern_cstr(pyr_prof *pr, const char *s) { return pyr_prof_intern(pr, s, strlen(s)); }

/* Label set of (context, span) in profile pr; 0 = none. */
static int64_t labelset_for(struct conv *cv, pyr_prof *pr, const struct ckey *k) {
  pyr_prof_label lb[64];
  pyr_prof_label *l = lb;
  size_t n = 0, cap = 64;
  int64_t rc = 0;
  const Pyrite__Labels__Context *ctx = NULL;
  if (k->ctx != 0 && cv->snap != NULL) {
    const struct ctx_ent *e;
    FIND_LAST(cv->ctxs, cv->nctxs, k->ctx, e);
    ctx = e ? e->ctx : NULL;
  }
  size_t need = (ctx ? ctx->n_labels : 0) + 2;
  if (need > cap) {
    l = malloc(need * sizeof(*l));
    if (l == NULL)
      return PYR_PROF_ENOMEM;
  }
  for (size_t i = 0; ctx && i < ctx->n_labels; i++) {
    int64_t key = intern_cstr(pr, snap_string(cv, ctx->labels[i]->key));
    int64_t val = key < 0 ? key : intern_cstr(pr, snap_string(cv, ctx->labels[i]->value));
    if (val < 0) {
      rc = val;
      goto out;
    }
    l[n].key = (uint32_t)key;
    l[n].value = (uint32_t)val;
    n++;
  }
  if (k->span_id != 0 && cv->snap != NULL) {
    char hex[17];
    snprintf(hex, sizeof(hex), "%016" PRIx64, (uint64_t)k->span_id);
    int64_t key = intern_cstr(pr, "profile_id");
    int64_t val = key < 0 ? key : intern_cstr(pr, hex);
    if (val < 0) {
      rc = val;
      goto out;
    }
    l[n].key = (uint32_t)key;
    l[n].value = (uint32_t)val;
    n++;
  }
  if (k->span_name != 0 && cv->snap != NULL) {
    int64_t key = intern_cstr(pr, "span_name");
    int64_t val = key < 0 ? key : intern_cstr(pr, snap_string(cv, k->span_name));
    if (val < 0) {
      rc = val;
      goto out;
    }
    l[n].key = (uint32_t)key;
    l[n].value = (uint32_t)val;
    n++;
  }
  rc = pyr_prof_labelset(pr, l, n);
out:
  if (l != lb)
    free(l);
  return rc;
}

/* ---------------------------------------------------------------- samples */

static pyr_prof *get_prof(struct conv *cv, pyr_jfrp *p, enum pslot s) {
  if (cv->prof[s])
    return cv->prof[s];
  const struct ptype_def *d = &ptypes[s];
  pyr_prof_type t;
  memset(&t, 0, sizeof(t));
  snprintf(t.name, sizeof(t.name), "%s", d->name);
  t.nvalues = d->n;
  for (uint32_t i = 0; i < d->n; i++) {
    snprintf(t.sample_type[i], sizeof(t.sample_type[i]), "%s", d->st[i]);
    snprintf(t.sample_unit[i], sizeof(t.sample_unit[i]), "%s", d->su[i]);
  }
  snprintf(t.period_type, sizeof(t.period_type), "%s", d->pt);
  snprintf(t.period_unit, sizeof(t.period_unit), "%s", d->pu);
  t.period = (s == PS_CPU || s == PS_WALL) ? cv->period : 0;
  cv->prof[s] = pyr_prof_new(&t, &cv->plim);
  if (cv->prof[s] == NULL) {
    cv->code = PYR_JFR_ENOMEM;
    pyr_jfrp_fail(p, "out of memory (new profile)");
    return NULL;
  }
  pyr_prof_set_time(cv->prof[s], cv->o->time_nanos, cv->o->duration_nanos);
  /* One frame name per method and about one location each; at most one
   * sample per stack (per label set).  Only a hint: ENOMEM here is not an
   * error, the tables still grow on demand. */
  (void)pyr_prof_presize(cv->prof[s], cv->nmethods, cv->nmethods, pyr_jfrp_nstacks(p));
  return cv->prof[s];
}

/* Location of frame f in profile s, via the per-method cache: 0 if the
 * frame is dropped (method or class unknown), > 0 the location id, < 0 a
 * PYR_PROF_E* code or -100 for a parser error. */
static int64_t frame_location(struct conv *cv, pyr_jfrp *p, enum pslot s,
                              const pyr_jfrp_frame *f) {
  pyr_prof *pr = cv->prof[s];
  if (f->method_index == PYR_JFRP_NO_METHOD)
    return 0;
  struct mcache tmp = {0, 0, 0};
  struct mcache *mc = cv->mcache[s] && f->method_index < cv->nmethods
                          ? &cv->mcache[s][f->method_index]
                          : &tmp;
  if (mc->loc != 0 && mc->line == f->line)
    return mc->loc - 1;
  if (mc->name == MC_DROP)
    return 0;
  if (mc->name == 0) {
    pyr_jfrp_str name;
    int r = pyr_jfrp_method_frame_name(p, f->method_index, &name);
    if (r < 0)
      return -100;
    if (r == 0) {
      mc->name = MC_DROP;
      return 0;
    }
    int64_t sid = pyr_prof_intern(pr, name.s, name.len);
    if (sid < 0)
      return sid;
    mc->name = (uint32_t)sid + 1;
  }
  int64_t loc = pyr_prof_location(pr, mc->name - 1, (int64_t)f->line);
  if (loc < 0)
    return loc;
  mc->line = f->line;
  mc->loc = (uint32_t)loc + 1;
  return loc;
}

/* Resolves stack `key` into root-first locations of profile s in
 * cv->locs.  Returns the depth, 0 with *found = false if the stack is
 * missing, or a negative PYR_PROF_E* / -100 for a parser error. */
static int64_t resolve_stack(struct conv *cv, pyr_jfrp *p, enum pslot s, uint64_t key,
                             bool *found) {
  pyr_jfrp_stack st;
  *found = pyr_jfrp_stacktrace(p, key, &st);
  if (!*found)
    return 0;
  /* the method cache of this profile for this chunk (lazily; without it
   * every frame is interned again, which is only slower) */
  if (cv->mcache[s] == NULL && cv->nmethods > 0)
    cv->mcache[s] = calloc(cv->nmethods, sizeof(struct mcache));
  if (st.n > cv->locs_cap) {
    uint32_t *l = realloc(cv->locs, st.n * sizeof(*l));
    if (l == NULL)
      return PYR_PROF_ENOMEM;
    cv->locs = l;
    cv->locs_cap = st.n;
  }
  uint32_t n = 0;
  for (uint32_t i = st.n; i > 0; i--) {
    int64_t loc = frame_location(cv, p, s, &st.frames[i - 1]);
    if (loc < 0)
      return loc;
    if (loc > 0)
      cv->locs[n++] = (uint32_t)loc;
  }
  return n;
}

/* Adds values for the event's stack to profile s. */
static int add_sample(struct conv *cv, pyr_jfrp *p, enum pslot s, const pyr_jfrp_event *ev,
                      bool labels, const int64_t *values) {
  pyr_prof *pr = get_prof(cv, p, s);
  if (pr == NULL)
    return -1;
  struct ckey k = {ev->stack, 0, 0, 0};
  if (labels && cv->snap != NULL) {
    k.ctx = ev->context_id;
    k.span_id = ev->span_id;
    k.span_name = ev->span_name;
  }
  uint32_t idx;
  if (cache_get(&cv->cache[s], &k, &idx)) {
    if (idx == CACHE_DROPPED - 1)
      return 0;
    pyr_prof_add_to(pr, idx, values);
    return 0;
  }
  bool found;
  int64_t n = resolve_stack(cv, p, s, k.stack, &found);
  if (n == -100) {
    cv->code = PYR_JFR_ELIMIT;
    return -1;
  }
  if (n < 0)
    return prof_err(cv, p, n, "stack");
  if (!found) {
    cache_put(&cv->cache[s], &k, CACHE_DROPPED - 1);
    return 0;
  }
  int64_t ls = labelset_for(cv, pr, &k);
  if (ls < 0)
    return prof_err(cv, p, ls, "labels");
  int64_t si = pyr_prof_add_ex(pr, cv->locs, (uint32_t)n, (uint32_t)ls, values);
  if (si < 0)
    return prof_err(cv, p, si, "sample");
  cache_put(&cv->cache[s], &k, (uint32_t)si);
  return 0;
}

static int on_event(void *ud, pyr_jfrp *p, const pyr_jfrp_event *ev) {
  struct conv *cv = ud;
  pyr_jfrp_str st;
  int64_t v[2];
  switch (ev->kind) {
  case PYR_JFRP_EXECUTION_SAMPLE:
    v[0] = mul_wrap(cv->v0, cv->period);
    if (pyr_jfrp_thread_state(p, ev->state, &st) && !str_is(&st, "STATE_SLEEPING") &&
        add_sample(cv, p, PS_CPU, ev, true, v) != 0)
      return -1;
    if (event_is_wall(cv) && add_sample(cv, p, PS_WALL, ev, true, v) != 0)
      return -1;
    return 0;
  case PYR_JFRP_WALL_CLOCK_SAMPLE:
    cv->v0 = ev->samples;
    v[0] = mul_wrap(cv->v0, cv->period);
    if (pyr_jfrp_thread_state(p, ev->state, &st) && str_is(&st, "STATE_RUNNABLE") &&
        event_is_wall(cv) && add_sample(cv, p, PS_CPU, ev, true, v) != 0)
      return -1;
    return add_sample(cv, p, PS_WALL, ev, true, v);
  case PYR_JFRP_ALLOC_IN_NEW_TLAB:
    v[0] = cv->v0;
    v[1] = ev->tlab_size;
    return add_sample(cv, p, PS_ALLOC_NEW_TLAB, ev, true, v);
  case PYR_JFRP_ALLOC_OUTSIDE_TLAB:
    v[0] = cv->v0;
    v[1] = ev->allocation_size;
    return add_sample(cv, p, PS_ALLOC_OUTSIDE_TLAB, ev, true, v);
  case PYR_JFRP_ALLOC_SAMPLE:
    v[0] = cv->v0;
    v[1] = ev->weight;
    return add_sample(cv, p, PS_ALLOC_SAMPLE, ev, false, v);
  case PYR_JFRP_MONITOR_ENTER:
    v[0] = cv->v0;
    v[1] = ev->duration;
    return add_sample(cv, p, PS_MUTEX, ev, true, v);
  case PYR_JFRP_THREAD_PARK:
    v[0] = cv->v0;
    v[1] = ev->duration;
    return add_sample(cv, p, PS_BLOCK, ev, false, v);
  case PYR_JFRP_LIVE_OBJECT:
    v[0] = cv->v0;
    return add_sample(cv, p, PS_LIVE, ev, false, v);
  case PYR_JFRP_MALLOC:
    v[0] = cv->v0;
    v[1] = ev->size;
    return add_sample(cv, p, PS_MALLOC, ev, false, v);
  case PYR_JFRP_ACTIVE_SETTING:
    if (str_is(&ev->name, "event")) {
      cv->has_event = true;
      cv->event_len = ev->value.s ? ev->value.len : 0;
      size_t n = cv->event_len > EVENT_MAX ? EVENT_MAX : cv->event_len;
      if (n > 0)
        memcpy(cv->event, ev->value.s, n);
      cv->event[n] = '\0';
    }
    return 0;
  default:
    return 0;
  }
}

/* Caches hold pool keys, which are only valid within one chunk. */
static int on_chunk_begin(void *ud, pyr_jfrp *p, const pyr_jfrp_chunk_info *ci) {
  struct conv *cv = ud;
  (void)ci;
  for (int s = 0; s < PS_COUNT; s++) {
    cache_clear(&cv->cache[s]);
    free(cv->mcache[s]);
    cv->mcache[s] = NULL;
  }
  cv->nmethods = pyr_jfrp_nmethods(p);
  return 0;
}

/* ------------------------------------------------------------------ entry */

int pyr_jfr_to_profiles(const uint8_t *jfr, size_t len, const uint8_t *labels_pb,
                        size_t labels_len, const pyr_jfr_convert_opts *opts,
                        pyr_prof_list *out, char *jfr_event, size_t ev_len, char *err,
                        size_t errlen) {
  static const pyr_jfr_convert_opts defaults = {0};
  struct conv cv;
  uint8_t *jfr_raw = NULL, *labels_raw = NULL;
  size_t jfr_raw_len = 0, labels_raw_len = 0;
  char dummy_err[8];
  int rc = PYR_JFR_EINVAL;
  if (err == NULL || errlen == 0) {
    err = dummy_err;
    errlen = sizeof(dummy_err);
  }
  err[0] = '\0';
  if (jfr_event && ev_len)
    jfr_event[0] = '\0';
  memset(&cv, 0, sizeof(cv));
  cv.o = opts ? opts : &defaults;
  cv.plim = cv.o->prof_limits ? *cv.o->prof_limits : pyr_prof_default_limits;
  const pyr_jfrp_limits *jl = cv.o->jfr_limits ? cv.o->jfr_limits : &pyr_jfrp_default_limits;
  cv.period = cv.o->sample_rate > 0 ? 1000000000 / cv.o->sample_rate : 0;
  uint64_t seed = pyr_prof_hash_seed();
  for (int s = 0; s < PS_COUNT; s++)
    cv.cache[s].seed = seed;
  cv.v0 = 1;
  if (out == NULL || jfr == NULL) {
    snprintf(err, errlen, "no JFR data");
    goto out;
  }

  int g = pyr_jfrp_gunzip(jfr, len, jl->max_input, &jfr_raw, &jfr_raw_len, err, errlen);
  if (g < 0) {
    rc = strstr(err, "limit") ? PYR_JFR_ELIMIT : PYR_JFR_EINVAL;
    goto out;
  }
  if (g > 0) {
    jfr = jfr_raw;
    len = jfr_raw_len;
  }
  g = pyr_jfrp_gunzip(labels_pb, labels_len, jl->max_input, &labels_raw, &labels_raw_len, err,
                      errlen);
  if (g < 0) {
    rc = strstr(err, "limit") ? PYR_JFR_ELIMIT : PYR_JFR_EINVAL;
    goto out;
  }
  if (g > 0) {
    labels_pb = labels_raw;
    labels_len = labels_raw_len;
  }
  rc = load_labels(&cv, labels_pb, labels_len,
                   cv.o->max_labels_alloc ? cv.o->max_labels_alloc : PYR_JFR_LABELS_ALLOC_MAX, err,
                   errlen);
  if (rc != PYR_JFR_OK)
    goto out;

  pyr_jfrp_handler h = {&cv, on_chunk_begin, on_event, NULL};
  int prc = pyr_jfr_parse(jfr, len, jl, &h, err, errlen);
  if (prc != 0) {
    rc = cv.code ? cv.code : (prc == PYR_JFRP_ELIMIT ? PYR_JFR_ELIMIT : PYR_JFR_EINVAL);
    goto out;
  }
  size_t first = out->n;
  for (int s = 0; s < PS_COUNT; s++) {
    if (cv.prof[s] == NULL)
      continue;
    if (pyr_prof_list_push(out, cv.prof[s]) != PYR_PROF_OK) {
      /* Undo: the caller's list gets all of our profiles or none. */
      out->n = first;
      snprintf(err, errlen, "out of memory");
      rc = PYR_JFR_ENOMEM;
      goto out;
    }
  }
  for (int s = 0; s < PS_COUNT; s++)
    cv.prof[s] = NULL; /* owned by the list now */
  if (jfr_event && ev_len && cv.has_event)
    snprintf(jfr_event, ev_len, "%s", cv.event);
  rc = PYR_JFR_OK;
out:
  for (int s = 0; s < PS_COUNT; s++) {
    pyr_prof_free(cv.prof[s]);
    cache_clear(&cv.cache[s]);
    free(cv.mcache[s]);
  }
  free(cv.locs);
  free(cv.ctxs);
  free(cv.strs);
  if (cv.snap)
    pyrite__labels__labels_snapshot__free_unpacked(cv.snap, &cv.snap_alloc);
  free(jfr_raw);
  free(labels_raw);
  return rc;
}
