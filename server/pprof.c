/*
 * pprof.c - pprof (google.v1.Profile) <-> pyr_prof (see pprof.h).
 *
 * What: protobuf-c unpacks the message through a counting allocator (so a
 * hostile 1 MB message cannot expand into gigabytes of structs), ids are
 * resolved through small open-addressing maps (dense 1..n ids, the common
 * case, are recognised and indexed directly), and each chunk of up to
 * PYR_PROF_MAX_VALUES columns is built into one pyr_prof.
 *
 * Threads: pure; all state lives on the stack or in per-call allocations.
 *
 * Invariants: every string-table index is range-checked before use; every
 * allocation is released on every path (goto out).
 */
#include "pb_budget.h"
#include "errbuf.h"
#include "pprof.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flamegraph.h"
#include "pprof.pb-c.h"


/* ---- id -> index map ------------------------------------------------------ */

struct idmap {
  uint64_t *keys; /* 0 = empty slot (ids are non-zero) */
  uint32_t *vals;
  size_t mask;
  bool dense; /* ids are exactly 1..n in order: index = id - 1 */
  size_t n;
};

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= UINT64_C(0xff51afd7ed558ccd);
  x ^= x >> 33;
  return x;
}

/* ids[i] for i < n; returns 0, -1 (ENOMEM), -2 (zero or duplicate id). */
static int idmap_build(struct idmap *m, const uint64_t *(*get)(const void *, size_t),
                       const void *arr, size_t n) {
  memset(m, 0, sizeof(*m));
  m->n = n;
  m->dense = true;
  for (size_t i = 0; i < n; i++)
    if (*get(arr, i) != i + 1) {
      m->dense = false;
      break;
    }
  if (m->dense)
    return 0;
  size_t cap = 16;
  while (cap < n * 2)
    cap *= 2;
  m->keys = calloc(cap, sizeof(*m->keys));
  m->vals = calloc(cap, sizeof(*m->vals));
  if (m->keys == NULL || m->vals == NULL)
    return -1;
  m->mask = cap - 1;
  for (size_t i = 0; i < n; i++) {
    uint64_t id = *get(arr, i);
    if (id == 0)
      return -2;
    size_t h = mix(id) & m->mask;
    while (m->keys[h] != 0) {
      if (m->keys[h] == id)
        return -2;
      h = (h + 1) & m->mask;
    }
    m->keys[h] = id;
    m->vals[h] = (uint32_t)i;
  }
  return 0;
}

/* Index of id, or -1. */
static ssize_t idmap_get(const struct idmap *m, uint64_t id) {
  if (m->dense)
    return (id >= 1 && id <= m->n) ? (ssize_t)(id - 1) : -1;
  if (id == 0 || m->keys == NULL)
    return -1;
  size_t h = mix(id) & m->mask;
  while (m->keys[h] != 0) {
    if (m->keys[h] == id)
      return (ssize_t)m->vals[h];
    h = (h + 1) & m->mask;
  }
  return -1;
}

static void idmap_free(struct idmap *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof(*m));
}

static const uint64_t *fn_id(const void *arr, size_t i) {
  return &((Google__V1__Function *const *)arr)[i]->id;
}
static const uint64_t *loc_id(const void *arr, size_t i) {
  return &((Google__V1__Location *const *)arr)[i]->id;
}

/* ---- metric guess ---------------------------------------------------------- */

static const char *display_of(const char *t, const pyr_pprof_display *d,
                              size_t nd) {
  for (size_t i = 0; i < nd; i++)
    if (d[i].sample_type && strcmp(d[i].sample_type, t) == 0 &&
        d[i].display_name && d[i].display_name[0] != '\0')
      return d[i].display_name;
  return t;
}

void pyr_pprof_guess_metric(const char *const *types, size_t n,
                            const pyr_pprof_display *display, size_t ndisplay,
                            char *out) {
  const char *st = "";
  for (size_t i = 0; i < n; i++)
    if (strcmp(types[i], "wall") == 0) {
      snprintf(out, PYR_PROF_NAME_MAX, "wall");
      return;
    }
  for (size_t i = 0; i < n; i++) {
    st = display_of(types[i], display, ndisplay);
    const char *m = NULL;
    if (strstr(st, "cpu"))
      m = "process_cpu";
    else if (strstr(st, "alloc_") || strstr(st, "inuse_") ||
             strcmp(st, "space") == 0 || strcmp(st, "objects") == 0)
      m = "memory";
    else if (strstr(st, "mutex_"))
      m = "mutex";
    else if (strstr(st, "block_"))
      m = "block";
    else if (strstr(st, "goroutines"))
      m = "goroutines";
    if (m != NULL) {
      snprintf(out, PYR_PROF_NAME_MAX, "%s", m);
      return;
    }
  }
  snprintf(out, PYR_PROF_NAME_MAX, "%s", st);
}

/* ---- decode --------------------------------------------------------------- */

struct dec {
  const Google__V1__Profile *pb;
  struct idmap fmap, lmap;
  char *err;
  size_t errlen;
};

static bool str_ok(const struct dec *d, int64_t idx) {
  return idx >= 0 && (uint64_t)idx < d->pb->n_string_table;
}

static const char *str_at(const struct dec *d, int64_t idx) {
  return str_ok(d, idx) ? d->pb->string_table[idx] : "";
}

/* Checks every string index and id reference once, up front. */
static int validate(struct dec *d) {
  const Google__V1__Profile *pb = d->pb;
  for (size_t i = 0; i < pb->n_sample_type; i++)
    if (!str_ok(d, pb->sample_type[i]->type) ||
        !str_ok(d, pb->sample_type[i]->unit))
      goto bad_str;
  if (pb->period_type &&
      (!str_ok(d, pb->period_type->type) || !str_ok(d, pb->period_type->unit)))
    goto bad_str;
  for (size_t i = 0; i < pb->n_function; i++)
    if (!str_ok(d, pb->function[i]->name) ||
        !str_ok(d, pb->function[i]->system_name))
      goto bad_str;
  for (size_t i = 0; i < pb->n_location; i++) {
    const Google__V1__Location *l = pb->location[i];
    for (size_t j = 0; j < l->n_line; j++) {
      uint64_t f = l->line[j]->function_id;
      if (f != 0 && idmap_get(&d->fmap, f) < 0) {
        pyr_errf(d->err, d->errlen, "pprof: function id %llu not found",
                (unsigned long long)f);
        return PYR_PROF_EINVAL;
      }
    }
  }
  for (size_t i = 0; i < pb->n_sample; i++) {
    const Google__V1__Sample *s = pb->sample[i];
    if (s->n_value != pb->n_sample_type) {
      pyr_errf(d->err, d->errlen,
              "pprof: sample %zu has %zu values for %zu sample types", i,
              s->n_value, pb->n_sample_type);
      return PYR_PROF_EINVAL;
    }
    for (size_t j = 0; j < s->n_location_id; j++)
      if (idmap_get(&d->lmap, s->location_id[j]) < 0) {
        pyr_errf(d->err, d->errlen, "pprof: location id %llu not found",
                (unsigned long long)s->location_id[j]);
        return PYR_PROF_EINVAL;
      }
    for (size_t j = 0; j < s->n_label; j++)
      if (!str_ok(d, s->label[j]->key) || !str_ok(d, s->label[j]->str))
        goto bad_str;
  }
  return PYR_PROF_OK;
bad_str:
  pyr_errf(d->err, d->errlen, "pprof: string table index out of range");
  return PYR_PROF_EINVAL;
}

static void copy_name(char dst[PYR_PROF_NAME_MAX], const char *s) {
  snprintf(dst, PYR_PROF_NAME_MAX, "%s", s);
}

/* Builds the profile for columns [c0, c0 + k). */
static int build_chunk(struct dec *d, const pyr_pprof_opts *o,
                       const char *metric, size_t c0, size_t k,
                       pyr_prof **outp) {
  const Google__V1__Profile *pb = d->pb;
  pyr_prof_type t;
  pyr_prof *p = NULL;
  uint32_t *loc_first = NULL, *loc_frames = NULL, *stack = NULL;
  pyr_prof_label *lbuf = NULL;
  size_t nframes_total = 0, stack_cap = 0, lbuf_cap = 0;
  int rc = PYR_PROF_ENOMEM;

  memset(&t, 0, sizeof(t));
  copy_name(t.name, metric);
  t.nvalues = (uint32_t)k;
  for (size_t c = 0; c < k; c++) {
    copy_name(t.sample_type[c], str_at(d, pb->sample_type[c0 + c]->type));
    copy_name(t.sample_unit[c], str_at(d, pb->sample_type[c0 + c]->unit));
  }
  if (pb->period_type) {
    copy_name(t.period_type, str_at(d, pb->period_type->type));
    copy_name(t.period_unit, str_at(d, pb->period_type->unit));
  }
  t.period = pb->period;
  p = pyr_prof_new(&t, o->limits ? o->limits : &pyr_prof_default_limits);
  if (p == NULL)
    goto out;

  int64_t tn = pb->time_nanos;
  /* Before 1971: zero, or an SDK that wrote µs/ms into time_nanos. */
  if (tn < INT64_C(31536000) * 1000000000)
    tn = o->default_time_ns;
  pyr_prof_set_time(p, tn, pb->duration_nanos);

  /* Frames of every location, innermost first, interned into p. */
  loc_first = malloc((pb->n_location + 1) * sizeof(*loc_first));
  if (loc_first == NULL)
    goto out;
  for (size_t i = 0; i < pb->n_location; i++)
    nframes_total += pb->location[i]->n_line ? pb->location[i]->n_line : 1;
  loc_frames = malloc((nframes_total ? nframes_total : 1) * sizeof(*loc_frames));
  if (loc_frames == NULL)
    goto out;
  size_t fi = 0;
  for (size_t i = 0; i < pb->n_location; i++) {
    const Google__V1__Location *l = pb->location[i];
    loc_first[i] = (uint32_t)fi;
    if (l->n_line == 0) {
      char addr[32];
      int n = snprintf(addr, sizeof(addr), "0x%llx",
                       (unsigned long long)l->address);
      int64_t name = pyr_prof_intern(p, addr, (size_t)n);
      int64_t loc = name < 0 ? name : pyr_prof_location(p, (uint32_t)name, 0);
      if (loc < 0) {
        rc = (int)loc;
        goto out;
      }
      loc_frames[fi++] = (uint32_t)loc;
      continue;
    }
    for (size_t j = 0; j < l->n_line; j++) {
      const Google__V1__Line *ln = l->line[j];
      const char *fname = "unknown";
      if (ln->function_id != 0) {
        const Google__V1__Function *f =
            pb->function[idmap_get(&d->fmap, ln->function_id)];
        fname = str_at(d, f->name);
        if (fname[0] == '\0')
          fname = str_at(d, f->system_name);
        if (fname[0] == '\0')
          fname = "unknown";
      }
      int64_t name = pyr_prof_intern(p, fname, strlen(fname));
      int64_t loc = name < 0 ? name : pyr_prof_location(p, (uint32_t)name, ln->line);
      if (loc < 0) {
        rc = (int)loc;
        goto out;
      }
      loc_frames[fi++] = (uint32_t)loc;
    }
  }
  loc_first[pb->n_location] = (uint32_t)fi;

  for (size_t si = 0; si < pb->n_sample; si++) {
    const Google__V1__Sample *s = pb->sample[si];
    int64_t vals[PYR_PROF_MAX_VALUES];
    bool any = false;
    for (size_t c = 0; c < k; c++) {
      vals[c] = s->value[c0 + c];
      any |= vals[c] != 0;
    }
    if (!any)
      continue;
    /* Leaf-first frames, then reversed into root-first order. */
    size_t n = 0;
    for (size_t j = 0; j < s->n_location_id; j++) {
      size_t li = (size_t)idmap_get(&d->lmap, s->location_id[j]);
      size_t cnt = loc_first[li + 1] - loc_first[li];
      if (n + cnt > stack_cap) {
        size_t ncap = stack_cap ? stack_cap * 2 : 128;
        while (ncap < n + cnt)
          ncap *= 2;
        uint32_t *ns = realloc(stack, ncap * sizeof(*ns));
        if (ns == NULL)
          goto out;
        stack = ns;
        stack_cap = ncap;
      }
      memcpy(stack + n, loc_frames + loc_first[li], cnt * sizeof(*stack));
      n += cnt;
    }
    for (size_t a = 0, b = n; a + 1 < b; a++, b--) {
      uint32_t tmp = stack[a];
      stack[a] = stack[b - 1];
      stack[b - 1] = tmp;
    }
    int64_t ls = 0;
    if (s->n_label > 0) {
      size_t nl = 0;
      if (s->n_label > lbuf_cap) {
        pyr_prof_label *nb = realloc(lbuf, s->n_label * sizeof(*nb));
        if (nb == NULL)
          goto out;
        lbuf = nb;
        lbuf_cap = s->n_label;
      }
      for (size_t j = 0; j < s->n_label; j++) {
        const Google__V1__Label *lb = s->label[j];
        if (lb->str == 0)
          continue; /* numeric label */
        const char *ks = str_at(d, lb->key), *vs = str_at(d, lb->str);
        int64_t kid = pyr_prof_intern(p, ks, strlen(ks));
        int64_t vid = kid < 0 ? kid : pyr_prof_intern(p, vs, strlen(vs));
        if (vid < 0) {
          rc = (int)vid;
          goto out;
        }
        lbuf[nl].key = (uint32_t)kid;
        lbuf[nl].value = (uint32_t)vid;
        nl++;
      }
      ls = pyr_prof_labelset(p, lbuf, nl);
      if (ls < 0) {
        rc = (int)ls;
        goto out;
      }
    }
    int r = pyr_prof_add(p, stack, (uint32_t)n, (uint32_t)ls, vals);
    if (r != PYR_PROF_OK) {
      rc = r;
      goto out;
    }
  }
  *outp = p;
  p = NULL;
  rc = PYR_PROF_OK;
out:
  if (rc == PYR_PROF_ENOMEM)
    pyr_errf(d->err, d->errlen, "pprof: out of memory");
  else if (rc == PYR_PROF_ELIMIT)
    pyr_errf(d->err, d->errlen, "pprof: profile exceeds the server's limits");
  pyr_prof_free(p);
  free(loc_first);
  free(loc_frames);
  free(stack);
  free(lbuf);
  return rc;
}

int pyr_pprof_decode(const uint8_t *buf, size_t len, const pyr_pprof_opts *o,
                     pyr_prof_list *out, char *err, size_t errlen) {
  pyr_pb_budget bud;
  if (o->max_alloc_bytes)
    pyr_pb_budget_init(&bud, 0, 0, o->max_alloc_bytes, o->max_alloc_bytes);
  else
    pyr_pb_budget_init(&bud, len, 64, 65536, SIZE_MAX / 2);
  ProtobufCAllocator alloc = PYR_PB_BUDGET_ALLOCATOR(&bud);
  struct dec d = {.err = err, .errlen = errlen};
  const char **types = NULL;
  int rc = PYR_PROF_EINVAL;

  Google__V1__Profile *pb = google__v1__profile__unpack(&alloc, len, buf);
  if (pb == NULL) {
    if (bud.refused) {
      pyr_errf(err, errlen, "pprof: message too large to decode");
      rc = PYR_PROF_ELIMIT;
    } else {
      pyr_errf(err, errlen, "pprof: not a valid google.v1.Profile protobuf");
    }
    return rc;
  }
  d.pb = pb;
  if (pb->n_sample_type == 0) {
    rc = PYR_PROF_OK; /* nothing to store */
    goto out;
  }
  if (pb->n_string_table == 0 || pb->string_table[0][0] != '\0') {
    pyr_errf(err, errlen, "pprof: string_table[0] must be the empty string");
    goto out;
  }
  int m = idmap_build(&d.fmap, fn_id, pb->function, pb->n_function);
  if (m == 0)
    m = idmap_build(&d.lmap, loc_id, pb->location, pb->n_location);
  if (m == -1) {
    rc = PYR_PROF_ENOMEM;
    pyr_errf(err, errlen, "pprof: out of memory");
    goto out;
  }
  if (m == -2) {
    pyr_errf(err, errlen, "pprof: zero or duplicate function/location id");
    goto out;
  }
  rc = validate(&d);
  if (rc != PYR_PROF_OK)
    goto out;

  char metric[PYR_PROF_NAME_MAX];
  if (o->metric != NULL) {
    snprintf(metric, sizeof(metric), "%s", o->metric);
  } else {
    types = malloc(pb->n_sample_type * sizeof(*types));
    if (types == NULL) {
      rc = PYR_PROF_ENOMEM;
      goto out;
    }
    for (size_t i = 0; i < pb->n_sample_type; i++)
      types[i] = str_at(&d, pb->sample_type[i]->type);
    pyr_pprof_guess_metric(types, pb->n_sample_type, o->display, o->ndisplay,
                           metric);
  }

  for (size_t c0 = 0; c0 < pb->n_sample_type; c0 += PYR_PROF_MAX_VALUES) {
    size_t k = pb->n_sample_type - c0;
    if (k > PYR_PROF_MAX_VALUES)
      k = PYR_PROF_MAX_VALUES;
    pyr_prof *p = NULL;
    rc = build_chunk(&d, o, metric, c0, k, &p);
    if (rc != PYR_PROF_OK)
      goto out;
    if (pyr_prof_list_push(out, p) != 0) {
      pyr_prof_free(p);
      rc = PYR_PROF_ENOMEM;
      goto out;
    }
  }
  rc = PYR_PROF_OK;
out:
  free(types);
  idmap_free(&d.fmap);
  idmap_free(&d.lmap);
  google__v1__profile__free_unpacked(pb, &alloc);
  return rc;
}

/* ---- encode (tests, export) ----------------------------------------------- */

/* Growable string table, deduplicated through an open-addressing hash of
 * (content -> index + 1), so n strings cost O(n), not O(n^2). */
struct strtab {
  char **v;
  size_t *len;
  size_t n, cap;
  uint32_t *slot;
  size_t mask;
};

static uint64_t str_hash(const char *s, size_t len) {
  uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a, finished by mix() */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * UINT64_C(0x100000001b3);
  return mix(h ^ len);
}

static int st_rehash(struct strtab *t) {
  size_t cap = t->slot ? (t->mask + 1) * 2 : 64;
  uint32_t *ns = calloc(cap, sizeof(*ns));
  if (ns == NULL)
    return -1;
  for (size_t i = 0; i < t->n; i++) {
    size_t h = str_hash(t->v[i], t->len[i]) & (cap - 1);
    while (ns[h] != 0)
      h = (h + 1) & (cap - 1);
    ns[h] = (uint32_t)i + 1;
  }
  free(t->slot);
  t->slot = ns;
  t->mask = cap - 1;
  return 0;
}

static int64_t st_add(struct strtab *t, const char *s, size_t len) {
  if ((t->slot == NULL || (t->n + 1) * 2 > t->mask + 1) && st_rehash(t) != 0)
    return -1;
  size_t h = str_hash(s, len) & t->mask;
  for (; t->slot[h] != 0; h = (h + 1) & t->mask) {
    size_t i = t->slot[h] - 1;
    if (t->len[i] == len && memcmp(t->v[i], s, len) == 0)
      return (int64_t)i;
  }
  if (t->n == t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 16;
    char **nv = realloc(t->v, ncap * sizeof(*nv));
    if (nv == NULL)
      return -1;
    t->v = nv;
    size_t *nl = realloc(t->len, ncap * sizeof(*nl));
    if (nl == NULL)
      return -1;
    t->len = nl;
    t->cap = ncap;
  }
  char *c = malloc(len + 1);
  if (c == NULL)
    return -1;
  memcpy(c, s, len);
  c[len] = '\0';
  t->v[t->n] = c;
  t->len[t->n] = len;
  t->slot[h] = (uint32_t)t->n + 1;
  return (int64_t)t->n++;
}

static void st_free(struct strtab *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->v[i]);
  free(t->v);
  free(t->len);
  free(t->slot);
  memset(t, 0, sizeof(*t));
}

int pyr_pprof_encode(const pyr_prof *prof, uint8_t **out, size_t *len) {
  const pyr_prof_type *t = pyr_prof_get_type(prof);
  Google__V1__Profile pb;
  Google__V1__ValueType *vts = NULL, **vtp = NULL, period_type;
  Google__V1__Sample *samples = NULL, **sp = NULL;
  Google__V1__Function *fns = NULL, **fnp = NULL;
  Google__V1__Location *locs = NULL, **locp = NULL;
  Google__V1__Line *lines = NULL, **linep = NULL;
  Google__V1__Label *labels = NULL, **labelp = NULL;
  uint64_t *locids = NULL;
  int64_t *values = NULL;
  struct strtab st = {0};
  int rc = -1;
  size_t ns = pyr_prof_nsamples(prof);

  *out = NULL;
  *len = 0;
  google__v1__profile__init(&pb);
  if (st_add(&st, "", 0) < 0)
    goto out;

  vts = calloc(t->nvalues, sizeof(*vts));
  vtp = calloc(t->nvalues, sizeof(*vtp));
  if (vts == NULL || vtp == NULL)
    goto out;
  for (uint32_t c = 0; c < t->nvalues; c++) {
    google__v1__value_type__init(&vts[c]);
    vts[c].type = st_add(&st, t->sample_type[c], strlen(t->sample_type[c]));
    vts[c].unit = st_add(&st, t->sample_unit[c], strlen(t->sample_unit[c]));
    if (vts[c].type < 0 || vts[c].unit < 0)
      goto out;
    vtp[c] = &vts[c];
  }
  pb.n_sample_type = t->nvalues;
  pb.sample_type = vtp;
  google__v1__value_type__init(&period_type);
  period_type.type = st_add(&st, t->period_type, strlen(t->period_type));
  period_type.unit = st_add(&st, t->period_unit, strlen(t->period_unit));
  if (period_type.type < 0 || period_type.unit < 0)
    goto out;
  pb.period_type = &period_type;
  pb.period = t->period;
  pyr_prof_get_time(prof, &pb.time_nanos, &pb.duration_nanos);

  /* One function + one location per distinct frame occurrence in the
   * stacks; simple and good enough for tests and small exports. */
  size_t nframes = 0, nlabels = 0;
  for (size_t i = 0; i < ns; i++) {
    const uint32_t *lc;
    uint32_t n, lsid;
    const int64_t *v;
    size_t nl = 0;
    pyr_prof_sample(prof, i, &lc, &n, &lsid, &v);
    nframes += n;
    if (lsid != 0)
      (void)pyr_prof_labels(prof, lsid, &nl);
    nlabels += nl;
  }
  samples = calloc(ns ? ns : 1, sizeof(*samples));
  sp = calloc(ns ? ns : 1, sizeof(*sp));
  fns = calloc(nframes ? nframes : 1, sizeof(*fns));
  fnp = calloc(nframes ? nframes : 1, sizeof(*fnp));
  locs = calloc(nframes ? nframes : 1, sizeof(*locs));
  locp = calloc(nframes ? nframes : 1, sizeof(*locp));
  lines = calloc(nframes ? nframes : 1, sizeof(*lines));
  linep = calloc(nframes ? nframes : 1, sizeof(*linep));
  locids = calloc(nframes ? nframes : 1, sizeof(*locids));
  values = calloc(ns ? ns * t->nvalues : 1, sizeof(*values));
  labels = calloc(nlabels ? nlabels : 1, sizeof(*labels));
  labelp = calloc(nlabels ? nlabels : 1, sizeof(*labelp));
  if (!samples || !sp || !fns || !fnp || !locs || !locp || !lines || !linep ||
      !locids || !values || !labels || !labelp)
    goto out;

  size_t f = 0, lb = 0;
  for (size_t i = 0; i < ns; i++) {
    const uint32_t *lc;
    uint32_t n, lsid;
    const int64_t *v;
    pyr_prof_sample(prof, i, &lc, &n, &lsid, &v);
    google__v1__sample__init(&samples[i]);
    samples[i].n_location_id = n;
    samples[i].location_id = locids + f;
    for (uint32_t j = 0; j < n; j++) {
      uint32_t name;
      int64_t line;
      size_t sl;
      pyr_prof_loc(prof, lc[n - 1 - j], &name, &line); /* leaf first */
      const char *s = pyr_prof_str(prof, name, &sl);
      google__v1__function__init(&fns[f]);
      fns[f].id = f + 1;
      fns[f].name = st_add(&st, s, sl);
      if (fns[f].name < 0)
        goto out;
      fnp[f] = &fns[f];
      google__v1__line__init(&lines[f]);
      lines[f].function_id = f + 1;
      lines[f].line = line;
      linep[f] = &lines[f];
      google__v1__location__init(&locs[f]);
      locs[f].id = f + 1;
      locs[f].n_line = 1;
      locs[f].line = &linep[f];
      locp[f] = &locs[f];
      locids[f] = f + 1;
      f++;
    }
    samples[i].n_value = t->nvalues;
    samples[i].value = values + i * t->nvalues;
    memcpy(samples[i].value, v, t->nvalues * sizeof(*v));
    if (lsid != 0) {
      size_t nl = 0;
      const pyr_prof_label *pl = pyr_prof_labels(prof, lsid, &nl);
      samples[i].n_label = nl;
      samples[i].label = labelp + lb;
      for (size_t j = 0; j < nl; j++) {
        size_t kl, vl;
        const char *ks = pyr_prof_str(prof, pl[j].key, &kl);
        const char *vs = pyr_prof_str(prof, pl[j].value, &vl);
        google__v1__label__init(&labels[lb]);
        labels[lb].key = st_add(&st, ks, kl);
        labels[lb].str = st_add(&st, vs, vl);
        if (labels[lb].key < 0 || labels[lb].str < 0)
          goto out;
        labelp[lb] = &labels[lb];
        lb++;
      }
    }
    sp[i] = &samples[i];
  }
  pb.n_sample = ns;
  pb.sample = sp;
  pb.n_function = f;
  pb.function = fnp;
  pb.n_location = f;
  pb.location = locp;
  pb.n_string_table = st.n;
  pb.string_table = st.v;

  size_t sz = google__v1__profile__get_packed_size(&pb);
  *out = malloc(sz ? sz : 1);
  if (*out == NULL)
    goto out;
  *len = google__v1__profile__pack(&pb, *out);
  rc = 0;
out:
  st_free(&st);
  free(vts);
  free(vtp);
  free(samples);
  free(sp);
  free(fns);
  free(fnp);
  free(locs);
  free(locp);
  free(lines);
  free(linep);
  free(locids);
  free(values);
  free(labels);
  free(labelp);
  return rc;
}

/* ---- export of a merged tree ---------------------------------------------------- */

/* A byte writer for hand-encoded protobuf: the tree can have 10^5 nodes
 * and stacks 10^3 deep, so samples are written straight to the output
 * instead of being built as protobuf-c structs first. */
struct pbw {
  uint8_t *p;
  size_t n, cap;
  bool oom;
};

static bool pbw_reserve(struct pbw *w, size_t add) {
  if (w->oom)
    return false;
  if (w->n + add <= w->cap)
    return true;
  size_t nc = w->cap ? w->cap : 4096;
  while (nc < w->n + add)
    nc *= 2;
  uint8_t *np = realloc(w->p, nc);
  if (np == NULL) {
    w->oom = true;
    return false;
  }
  w->p = np;
  w->cap = nc;
  return true;
}

static size_t uv_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static void pbw_uv(struct pbw *w, uint64_t v) {
  if (!pbw_reserve(w, 10))
    return;
  while (v >= 0x80) {
    w->p[w->n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  w->p[w->n++] = (uint8_t)v;
}

static void pbw_tag(struct pbw *w, unsigned field, unsigned wt) {
  pbw_uv(w, (uint64_t)field << 3 | wt);
}

/* varint field, omitted when zero (proto3) */
static void pbw_int(struct pbw *w, unsigned field, int64_t v) {
  if (v == 0)
    return;
  pbw_tag(w, field, 0);
  pbw_uv(w, (uint64_t)v);
}

static void pbw_bytes(struct pbw *w, unsigned field, const void *p, size_t n) {
  pbw_tag(w, field, 2);
  pbw_uv(w, n);
  if (!pbw_reserve(w, n))
    return;
  memcpy(w->p + w->n, p, n);
  w->n += n;
}

static void pbw_value_type(struct pbw *w, unsigned field, int64_t type, int64_t unit) {
  pbw_tag(w, field, 2);
  pbw_uv(w, (type ? 1 + uv_len((uint64_t)type) : 0) + (unit ? 1 + uv_len((uint64_t)unit) : 0));
  pbw_int(w, 1, type);
  pbw_int(w, 2, unit);
}

/* (name id, line) -> location id */
struct locmap {
  uint64_t *key; /* name << 32 | (uint32 line) ... with the line kept apart */
  int64_t *line;
  uint32_t *id;  /* 0 = empty */
  size_t mask, n;
};

static uint32_t loc_get(struct locmap *m, uint32_t name, int64_t line, bool *oom) {
  if ((m->n + 1) * 2 > m->mask + 1 || m->id == NULL) {
    size_t cap = m->id ? (m->mask + 1) * 2 : 4096;
    uint64_t *nk = calloc(cap, sizeof(*nk));
    int64_t *nl = calloc(cap, sizeof(*nl));
    uint32_t *ni = calloc(cap, sizeof(*ni));
    if (!nk || !nl || !ni) {
      free(nk);
      free(nl);
      free(ni);
      *oom = true;
      return 0;
    }
    for (size_t i = 0; m->id && i <= m->mask; i++) {
      if (!m->id[i])
        continue;
      size_t h = mix(m->key[i] ^ mix((uint64_t)m->line[i])) & (cap - 1);
      while (ni[h])
        h = (h + 1) & (cap - 1);
      nk[h] = m->key[i];
      nl[h] = m->line[i];
      ni[h] = m->id[i];
    }
    free(m->key);
    free(m->line);
    free(m->id);
    m->key = nk;
    m->line = nl;
    m->id = ni;
    m->mask = cap - 1;
  }
  size_t h = mix((uint64_t)name ^ mix((uint64_t)line)) & m->mask;
  for (; m->id[h]; h = (h + 1) & m->mask)
    if (m->key[h] == name && m->line[h] == line)
      return m->id[h];
  m->key[h] = name;
  m->line[h] = line;
  m->id[h] = (uint32_t)++m->n;
  return m->id[h];
}

int pyr_pprof_encode_tree(const pyr_store_tree *t, const pyr_pprof_meta *m,
                          uint32_t max_nodes, uint8_t **out, size_t *len) {
  struct pbw w = {0}, body = {0};
  struct locmap lm = {0};
  size_t n = t->nnodes;
  uint32_t *loc = NULL, *kept_anc = NULL, *fname = NULL, *locname = NULL;
  int64_t *other = NULL, *locline = NULL;
  bool oom = false;
  int rc = -1;

  *out = NULL;
  *len = 0;
  int64_t thr = pyr_fg_threshold(t, max_nodes);
  loc = calloc(n ? n : 1, sizeof(*loc));
  kept_anc = calloc(n ? n : 1, sizeof(*kept_anc));
  other = calloc(n ? n : 1, sizeof(*other));
  fname = calloc(t->nnames + 2, sizeof(*fname)); /* tree name -> string index */
  locname = malloc((n + 2) * sizeof(*locname));  /* location id -> tree name */
  locline = malloc((n + 2) * sizeof(*locline));
  if (!loc || !kept_anc || !other || !fname || !locname || !locline)
    goto out;

  /* Strings: "", the value/period types, then function names (which the
   * tree already deduplicated) at 5 + tree name id; "other" last. */
  const char *fixed[5] = {"", m->sample_type, m->sample_unit, m->period_type, m->period_unit};
  /* Locations: node -> (name, line) id; nodes too small to draw go to
   * "other" under their nearest drawn ancestor. */
  uint32_t other_loc = 0;
  bool any_other = false;
  for (size_t i = 1; i < n && !oom; i++) {
    const pyr_store_tree_node *x = &t->nodes[i];
    bool kept = x->total >= thr && (x->parent == 0 || kept_anc[x->parent] == x->parent);
    kept_anc[i] = kept ? (uint32_t)i : kept_anc[x->parent];
    if (!kept) {
      other[kept_anc[i]] += x->self;
      any_other = any_other || x->self != 0;
      continue;
    }
    loc[i] = loc_get(&lm, x->name, x->line, &oom);
    if (loc[i] == lm.n) { /* new location */
      locname[loc[i]] = x->name;
      locline[loc[i]] = x->line;
    }
  }
  if (oom)
    goto out;
  if (any_other) {
    other_loc = (uint32_t)lm.n + 1;
    locname[other_loc] = UINT32_MAX;
    locline[other_loc] = 0;
  }

  /* sample_type, period_type, period, times */
  pbw_value_type(&w, 1, 1, 2);
  /* samples: one per node with self, plus the folded "other"s */
  for (size_t i = 0; i < n && !w.oom; i++) {
    int64_t v = 0;
    uint32_t from = (uint32_t)i, lead = 0;
    if (i == 0) {
      v = t->nodes[0].self;
    } else if (kept_anc[i] == i) {
      v = t->nodes[i].self;
    }
    for (int pass = 0; pass < 2; pass++) {
      if (pass == 1) { /* the "other" sample below node i */
        if (kept_anc[i] != i && i != 0)
          break;
        v = other[i];
        lead = other_loc;
      }
      if (v == 0)
        continue;
      body.n = 0;
      /* packed location ids, leaf first */
      size_t plen = lead ? uv_len(lead) : 0;
      for (uint32_t k = from; k != 0; k = t->nodes[k].parent)
        plen += uv_len(loc[k]);
      if (plen) {
        pbw_tag(&body, 1, 2);
        pbw_uv(&body, plen);
        if (lead)
          pbw_uv(&body, lead);
        for (uint32_t k = from; k != 0; k = t->nodes[k].parent)
          pbw_uv(&body, loc[k]);
      }
      pbw_tag(&body, 2, 2);
      pbw_uv(&body, uv_len((uint64_t)v));
      pbw_uv(&body, (uint64_t)v);
      if (body.oom) {
        w.oom = true;
        break;
      }
      pbw_bytes(&w, 2, body.p, body.n);
    }
  }
  /* locations and functions (function id = tree name id + 1; "other" =
   * nnames + 1) */
  for (uint32_t id = 1; id <= lm.n + (any_other ? 1 : 0) && !w.oom; id++) {
    uint32_t nm = locname[id];
    uint64_t fid = nm == UINT32_MAX ? t->nnames + 1 : (uint64_t)nm + 1;
    if (nm != UINT32_MAX)
      fname[nm] = 1;
    else
      fname[t->nnames] = 1;
    int64_t line = locline[id];
    size_t llen = 1 + uv_len(fid) + (line ? 1 + uv_len((uint64_t)line) : 0);
    size_t blen = 1 + uv_len(id) + 1 + uv_len(llen) + llen;
    pbw_tag(&w, 4, 2);
    pbw_uv(&w, blen);
    pbw_int(&w, 1, id);
    pbw_tag(&w, 4, 2);
    pbw_uv(&w, llen);
    pbw_int(&w, 1, (int64_t)fid);
    pbw_int(&w, 2, line);
  }
  /* functions: name string index = 5 + index among used names */
  uint64_t next_str = 5;
  for (uint32_t nm = 0; nm <= t->nnames && !w.oom; nm++) {
    if (!fname[nm])
      continue;
    fname[nm] = (uint32_t)next_str++;
    uint64_t fid = nm == t->nnames ? t->nnames + 1 : (uint64_t)nm + 1;
    size_t blen = 1 + uv_len(fid) + 1 + uv_len(fname[nm]) + 1 + uv_len(fname[nm]);
    pbw_tag(&w, 5, 2);
    pbw_uv(&w, blen);
    pbw_int(&w, 1, (int64_t)fid);
    pbw_int(&w, 2, fname[nm]); /* name */
    pbw_int(&w, 3, fname[nm]); /* system_name */
  }
  /* string table */
  for (int i = 0; i < 5; i++)
    pbw_bytes(&w, 6, fixed[i] ? fixed[i] : "", fixed[i] ? strlen(fixed[i]) : 0);
  for (uint32_t nm = 0; nm <= t->nnames && !w.oom; nm++) {
    if (!fname[nm])
      continue;
    size_t sl = 5;
    const char *s = nm == t->nnames ? "other" : pyr_store_tree_name(t, nm, &sl);
    pbw_bytes(&w, 6, s, sl);
  }
  pbw_int(&w, 9, m->time_nanos);
  pbw_int(&w, 10, m->duration_nanos);
  if ((m->period_type && m->period_type[0]) || (m->period_unit && m->period_unit[0]))
    pbw_value_type(&w, 11, 3, 4);
  pbw_int(&w, 12, m->period);
  if (w.oom)
    goto out;
  *out = w.p;
  *len = w.n;
  w.p = NULL;
  rc = 0;
out:
  free(w.p);
  free(body.p);
  free(lm.key);
  free(lm.line);
  free(lm.id);
  free(loc);
  free(kept_anc);
  free(other);
  free(fname);
  free(locname);
  free(locline);
  return rc;
}
