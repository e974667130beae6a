/*
 * profile.c - the decoded-profile model of profile.h: interned strings,
 * locations, sample-label sets and samples, with hard limits.
 *
 * What: four append-only tables, each with an open-addressing hash index
 * (linear probing, power-of-two capacity, load <= 1/2, 32-bit hash cached
 * next to the id so most probes never touch the entry itself):
 *   strings   id -> bytes (NUL-terminated copy in one growing buffer)
 *   locations id -> (name string id, line)
 *   labelsets id -> sorted (key, value) array
 *   samples   index -> (stack root first, labelset, values[nvalues])
 * Ids are dense and start at 1; string id 0 is "" and labelset 0 is "no
 * labels", so neither is ever stored.  Samples keep the order in which a
 * (stack, labelset) pair was first added; adding it again sums the values.
 *
 * Threads: none.  A profile belongs to one thread at a time.
 *
 * Invariants: every table only grows; a failed add (ENOMEM/ELIMIT) leaves
 * the profile exactly as it was, so a decoder can stop at the first error
 * and still free or even use what it built.  Values are summed with
 * wrap-around (unsigned arithmetic), never with signed overflow.  Every
 * hash is keyed with a per-profile random seed (pyr_prof_hash_seed), since
 * decoders feed in attacker-chosen strings and stacks.
 */
#include "profile.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

const pyr_prof_limits pyr_prof_default_limits = {
    .max_samples = 1u << 20,
    .max_locations = 1u << 20,
    .max_string_bytes = 64u << 20,
    .max_stack_depth = 4096,
    .max_label_sets = 1u << 16,
    .max_total_frames = 32u << 20,
};

/* An index over ids stored elsewhere: slot holds id + 1 (0 = empty). */
struct htab {
  uint32_t *ids;
  uint32_t *hashes;
  size_t cap; /* power of two, or 0 before the first insert */
  size_t n;
};

struct loc {
  uint32_t name;
  int64_t line;
};

struct sample {
  size_t stack_off; /* into stacks[] */
  uint32_t depth;
  uint32_t labelset;
};

struct pyr_prof {
  pyr_prof_type type;
  pyr_prof_limits lim;
  uint64_t seed; /* keys every hash: decoders feed us attacker-chosen data */
  int64_t time_nanos, duration_nanos;

  /* strings: bytes of id i at sbuf + soff[i], length slen[i]; id 0 = "" */
  char *sbuf;
  size_t sbuf_len, sbuf_cap;
  size_t *soff;
  uint32_t *slen;
  size_t nstr, str_cap; /* nstr counts id 0 */
  size_t str_bytes;     /* interned bytes, for the limit */
  struct htab str_idx;

  struct loc *locs; /* id 1..nlocs at locs[id] (locs[0] unused) */
  size_t nlocs, locs_cap;
  struct htab loc_idx;

  /* label sets: labels of set s at lbuf[loff[s] .. loff[s] + lcount[s]] */
  pyr_prof_label *lbuf;
  size_t lbuf_len, lbuf_cap;
  size_t *loff;
  uint32_t *lcount;
  size_t nsets, sets_cap; /* sets 1..nsets; index 0 unused */
  struct htab set_idx;

  uint32_t *stacks;
  size_t stacks_len, stacks_cap;
  struct sample *samples;
  int64_t *values; /* nvalues per sample */
  size_t nsamples, samples_cap;
  struct htab sample_idx;
};

/* ---------------------------------------------------------------- hashing */

static uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/* FNV-1a over 8-byte words, finished with a mixer: fast enough for short
 * frame names and good enough for an index (not for hostile keys, where the
 * limits bound the damage). */
static uint32_t hash_bytes(uint64_t seed, const char *s, size_t len) {
  uint64_t h = (0xcbf29ce484222325ULL ^ seed) + len;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  if (i < len)
    memcpy(&tail, s + i, len - i);
  h = (h ^ tail) * 0x100000001b3ULL;
  return (uint32_t)mix64(h);
}

static uint32_t hash_u32s(const uint32_t *v, size_t n, uint64_t seed) {
  uint64_t h = seed * 0x9e3779b97f4a7c15ULL + n;
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    uint64_t w = (uint64_t)v[i] | ((uint64_t)v[i + 1] << 32);
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 31;
  }
  if (i < n)
    h = (h ^ v[i]) * 0x9e3779b97f4a7c15ULL;
  return (uint32_t)mix64(h);
}

/* ------------------------------------------------------------- hash index */

typedef bool (*htab_eq_fn)(const pyr_prof *p, uint32_t id, const void *key);

/* Finds the id whose entry equals key; false when there is none. */
static bool htab_find(const pyr_prof *p, const struct htab *t, uint32_t h, htab_eq_fn eq,
                      const void *key, uint32_t *id) {
  if (t->cap == 0)
    return false;
  size_t mask = t->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    uint32_t slot = t->ids[i];
    if (slot == 0)
      return false;
    if (t->hashes[i] == h && eq(p, slot - 1, key)) {
      *id = slot - 1;
      return true;
    }
  }
}

static void htab_put_nogrow(struct htab *t, uint32_t h, uint32_t id) {
  size_t mask = t->cap - 1;
  size_t i = h & mask;
  while (t->ids[i] != 0)
    i = (i + 1) & mask;
  t->ids[i] = id + 1;
  t->hashes[i] = h;
  t->n++;
}

/* Makes room for one more entry (keeps load <= 1/2). */
/* An empty table of cap slots (a power of two) into *t. */
static int htab_alloc(struct htab *t, size_t cap) {
  uint32_t *ids = calloc(cap, sizeof(*ids));
  uint32_t *hashes = malloc(cap * sizeof(*hashes));
  if (ids == NULL || hashes == NULL) {
    free(ids);
    free(hashes);
    return PYR_PROF_ENOMEM;
  }
  *t = (struct htab){ids, hashes, cap, 0};
  return PYR_PROF_OK;
}

static int htab_reserve(struct htab *t) {
  if ((t->n + 1) * 2 <= t->cap)
    return PYR_PROF_OK;
  struct htab nt;
  if (htab_alloc(&nt, t->cap ? t->cap * 2 : 64) != PYR_PROF_OK)
    return PYR_PROF_ENOMEM;
  for (size_t i = 0; i < t->cap; i++)
    if (t->ids[i] != 0)
      htab_put_nogrow(&nt, t->hashes[i], t->ids[i] - 1);
  free(t->ids);
  free(t->hashes);
  *t = nt;
  return PYR_PROF_OK;
}

/* Sizes an empty table for n keys at once (load <= 1/2), so that filling
 * it does not rehash at every doubling.  A table in use is left alone. */
static int htab_presize(struct htab *t, size_t n) {
  if (t->cap != 0 || n == 0)
    return PYR_PROF_OK;
  size_t cap = 64;
  while (cap < n * 2)
    cap *= 2;
  return htab_alloc(t, cap);
}

static void htab_free(struct htab *t) {
  free(t->ids);
  free(t->hashes);
  memset(t, 0, sizeof(*t));
}

/* Grows *arr (elements of size elem) to hold at least need elements. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return PYR_PROF_OK;
  size_t ncap = *cap ? *cap : 16;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2 / elem)
      return PYR_PROF_ENOMEM;
    ncap *= 2;
  }
  void *n = realloc(*arr, ncap * elem);
  if (n == NULL)
    return PYR_PROF_ENOMEM;
  *arr = n;
  *cap = ncap;
  return PYR_PROF_OK;
}

/* --------------------------------------------------------------- lifetime */

uint64_t pyr_prof_hash_seed(void) {
  uint64_t s = 0;
  if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
    return s;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&s;
}

pyr_prof *pyr_prof_new(const pyr_prof_type *type, const pyr_prof_limits *limits) {
  if (type == NULL || type->nvalues < 1 || type->nvalues > PYR_PROF_MAX_VALUES)
    return NULL;
  pyr_prof *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  p->type = *type;
  p->seed = pyr_prof_hash_seed();
  /* Whatever the caller passed, every name is a terminated string. */
  p->type.name[PYR_PROF_NAME_MAX - 1] = '\0';
  p->type.period_type[PYR_PROF_NAME_MAX - 1] = '\0';
  p->type.period_unit[PYR_PROF_NAME_MAX - 1] = '\0';
  for (uint32_t i = 0; i < PYR_PROF_MAX_VALUES; i++) {
    p->type.sample_type[i][PYR_PROF_NAME_MAX - 1] = '\0';
    p->type.sample_unit[i][PYR_PROF_NAME_MAX - 1] = '\0';
  }
  p->lim = limits ? *limits : pyr_prof_default_limits;
  if (p->lim.max_total_frames == 0)
    p->lim.max_total_frames = pyr_prof_default_limits.max_total_frames;
  /* Ids are uint32_t; keep every count representable. */
  if (p->lim.max_samples > UINT32_MAX - 1)
    p->lim.max_samples = UINT32_MAX - 1;
  if (p->lim.max_locations > UINT32_MAX - 1)
    p->lim.max_locations = UINT32_MAX - 1;
  if (p->lim.max_label_sets > UINT32_MAX - 1)
    p->lim.max_label_sets = UINT32_MAX - 1;
  if (p->lim.max_string_bytes > UINT32_MAX - 1)
    p->lim.max_string_bytes = UINT32_MAX - 1;
  if (p->lim.max_stack_depth > UINT32_MAX)
    p->lim.max_stack_depth = UINT32_MAX;

  /* String id 0 is "" and never stored in the index. */
  if (grow((void **)&p->soff, &p->str_cap, 1, sizeof(*p->soff)) != 0 ||
      grow((void **)&p->sbuf, &p->sbuf_cap, 1, 1) != 0)
    goto fail;
  p->slen = calloc(p->str_cap, sizeof(*p->slen));
  if (p->slen == NULL)
    goto fail;
  p->sbuf[0] = '\0';
  p->sbuf_len = 1;
  p->soff[0] = 0;
  p->slen[0] = 0;
  p->nstr = 1;
  return p;
fail:
  pyr_prof_free(p);
  return NULL;
}

int pyr_prof_presize(pyr_prof *p, size_t strings, size_t locations, size_t samples) {
  /* A hint, not a limit: capped so that a hostile count in an upload
   * costs at most a few MiB up front, and within the profile's limits. */
  const size_t cap = (size_t)1 << 16;
  if (strings > cap)
    strings = cap;
  if (locations > cap)
    locations = cap;
  if (samples > cap)
    samples = cap;
  if (locations > p->lim.max_locations)
    locations = p->lim.max_locations;
  if (samples > p->lim.max_samples)
    samples = p->lim.max_samples;
  if (htab_presize(&p->str_idx, strings) != 0 || htab_presize(&p->loc_idx, locations) != 0 ||
      htab_presize(&p->sample_idx, samples) != 0)
    return PYR_PROF_ENOMEM;
  return PYR_PROF_OK;
}

void pyr_prof_free(pyr_prof *p) {
  if (p == NULL)
    return;
  free(p->sbuf);
  free(p->soff);
  free(p->slen);
  htab_free(&p->str_idx);
  free(p->locs);
  htab_free(&p->loc_idx);
  free(p->lbuf);
  free(p->loff);
  free(p->lcount);
  htab_free(&p->set_idx);
  free(p->stacks);
  free(p->samples);
  free(p->values);
  htab_free(&p->sample_idx);
  free(p);
}

const pyr_prof_type *pyr_prof_get_type(const pyr_prof *p) { return &p->type; }

void pyr_prof_set_time(pyr_prof *p, int64_t time_nanos, int64_t duration_nanos) {
  p->time_nanos = time_nanos;
  p->duration_nanos = duration_nanos;
}

void pyr_prof_get_time(const pyr_prof *p, int64_t *time_nanos, int64_t *duration_nanos) {
  if (time_nanos)
    *time_nanos = p->time_nanos;
  if (duration_nanos)
    *duration_nanos = p->duration_nanos;
}

/* ---------------------------------------------------------------- strings */

struct str_key {
  const char *s;
  size_t len;
};

static bool str_eq(const pyr_prof *p, uint32_t id, const void *key) {
  const struct str_key *k = key;
  return p->slen[id] == k->len && memcmp(p->sbuf + p->soff[id], k->s, k->len) == 0;
}

int64_t pyr_prof_intern(pyr_prof *p, const char *s, size_t len) {
  if (len == 0)
    return 0;
  if (s == NULL)
    return PYR_PROF_EINVAL;
  struct str_key k = {s, len};
  uint32_t h = hash_bytes(p->seed, s, len);
  uint32_t id;
  if (htab_find(p, &p->str_idx, h, str_eq, &k, &id))
    return id;
  if (len > p->lim.max_string_bytes - p->str_bytes || len > p->lim.max_string_bytes)
    return PYR_PROF_ELIMIT;
  size_t cap = p->str_cap;
  if (grow((void **)&p->soff, &p->str_cap, p->nstr + 1, sizeof(*p->soff)) != 0)
    return PYR_PROF_ENOMEM;
  if (p->str_cap != cap) {
    uint32_t *nl = realloc(p->slen, p->str_cap * sizeof(*nl));
    if (nl == NULL) {
      p->str_cap = cap; /* soff is bigger than needed; harmless */
      return PYR_PROF_ENOMEM;
    }
    p->slen = nl;
  }
  if (grow((void **)&p->sbuf, &p->sbuf_cap, p->sbuf_len + len + 1, 1) != 0 ||
      htab_reserve(&p->str_idx) != 0)
    return PYR_PROF_ENOMEM;
  id = (uint32_t)p->nstr;
  p->soff[id] = p->sbuf_len;
  p->slen[id] = (uint32_t)len;
  memcpy(p->sbuf + p->sbuf_len, s, len);
  p->sbuf[p->sbuf_len + len] = '\0';
  p->sbuf_len += len + 1;
  p->str_bytes += len;
  p->nstr++;
  htab_put_nogrow(&p->str_idx, h, id);
  return id;
}

const char *pyr_prof_str(const pyr_prof *p, uint32_t id, size_t *len) {
  if (id >= p->nstr) {
    if (len)
      *len = 0;
    return NULL;
  }
  if (len)
    *len = p->slen[id];
  return p->sbuf + p->soff[id];
}

size_t pyr_prof_nstrings(const pyr_prof *p) { return p->nstr; }

/* -------------------------------------------------------------- locations */

static bool loc_eq(const pyr_prof *p, uint32_t id, const void *key) {
  const struct loc *k = key;
  return p->locs[id].name == k->name && p->locs[id].line == k->line;
}

int64_t pyr_prof_location(pyr_prof *p, uint32_t name, int64_t line) {
  if (name >= p->nstr)
    return PYR_PROF_EINVAL;
  struct loc k = {name, line};
  uint32_t h = hash_u32s(&name, 1, (uint64_t)line ^ p->seed);
  uint32_t id;
  if (htab_find(p, &p->loc_idx, h, loc_eq, &k, &id))
    return id;
  if (p->nlocs >= p->lim.max_locations)
    return PYR_PROF_ELIMIT;
  if (grow((void **)&p->locs, &p->locs_cap, p->nlocs + 2, sizeof(*p->locs)) != 0 ||
      htab_reserve(&p->loc_idx) != 0)
    return PYR_PROF_ENOMEM;
  id = (uint32_t)++p->nlocs;
  p->locs[id] = k;
  htab_put_nogrow(&p->loc_idx, h, id);
  return id;
}

void pyr_prof_loc(const pyr_prof *p, uint32_t loc, uint32_t *name, int64_t *line) {
  if (loc == 0 || loc > p->nlocs) {
    if (name)
      *name = 0;
    if (line)
      *line = 0;
    return;
  }
  if (name)
    *name = p->locs[loc].name;
  if (line)
    *line = p->locs[loc].line;
}

size_t pyr_prof_nlocations(const pyr_prof *p) { return p->nlocs; }

/* ------------------------------------------------------------- label sets */

struct set_key {
  const pyr_prof_label *l;
  size_t n;
};

static bool set_eq(const pyr_prof *p, uint32_t id, const void *key) {
  const struct set_key *k = key;
  return p->lcount[id] == k->n &&
         memcmp(p->lbuf + p->loff[id], k->l, k->n * sizeof(*k->l)) == 0;
}

/* Stable insertion sort by key id (label sets are a handful of pairs). */
static void sort_labels(pyr_prof_label *l, size_t n) {
  for (size_t i = 1; i < n; i++) {
    pyr_prof_label x = l[i];
    size_t j = i;
    while (j > 0 && l[j - 1].key > x.key) {
      l[j] = l[j - 1];
      j--;
    }
    l[j] = x;
  }
}

/* Canonical form in place: sorted, last value of a repeated key wins,
 * empty values dropped.  Returns the new count. */
static size_t canon_labels(pyr_prof_label *l, size_t n) {
  sort_labels(l, n);
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    if (i + 1 < n && l[i + 1].key == l[i].key)
      continue; /* a later pair with the same key wins */
    if (l[i].value == 0)
      continue;
    l[out++] = l[i];
  }
  return out;
}

int64_t pyr_prof_labelset(pyr_prof *p, const pyr_prof_label *labels, size_t n) {
  if (n == 0)
    return 0;
  if (labels == NULL)
    return PYR_PROF_EINVAL;
  if (n > 4096)
    return PYR_PROF_ELIMIT; /* no real sample carries that many labels */
  for (size_t i = 0; i < n; i++)
    if (labels[i].key >= p->nstr || labels[i].value >= p->nstr)
      return PYR_PROF_EINVAL;
  pyr_prof_label stackbuf[16];
  pyr_prof_label *l = n <= 16 ? stackbuf : malloc(n * sizeof(*l));
  if (l == NULL)
    return PYR_PROF_ENOMEM;
  memcpy(l, labels, n * sizeof(*l));
  int64_t rc;
  size_t m = canon_labels(l, n);
  if (m == 0) {
    rc = 0;
    goto out;
  }
  struct set_key k = {l, m};
  uint32_t h = hash_u32s((const uint32_t *)l, m * 2, p->seed);
  uint32_t id;
  if (htab_find(p, &p->set_idx, h, set_eq, &k, &id)) {
    rc = id;
    goto out;
  }
  rc = PYR_PROF_ELIMIT;
  if (p->nsets >= p->lim.max_label_sets)
    goto out;
  rc = PYR_PROF_ENOMEM;
  size_t cap = p->sets_cap;
  if (grow((void **)&p->loff, &p->sets_cap, p->nsets + 2, sizeof(*p->loff)) != 0)
    goto out;
  if (p->sets_cap != cap) {
    uint32_t *nc = realloc(p->lcount, p->sets_cap * sizeof(*nc));
    if (nc == NULL) {
      p->sets_cap = cap;
      goto out;
    }
    p->lcount = nc;
  }
  if (grow((void **)&p->lbuf, &p->lbuf_cap, p->lbuf_len + m, sizeof(*p->lbuf)) != 0 ||
      htab_reserve(&p->set_idx) != 0)
    goto out;
  id = (uint32_t)++p->nsets;
  p->loff[id] = p->lbuf_len;
  p->lcount[id] = (uint32_t)m;
  memcpy(p->lbuf + p->lbuf_len, l, m * sizeof(*l));
  p->lbuf_len += m;
  htab_put_nogrow(&p->set_idx, h, id);
  rc = id;
out:
  if (l != stackbuf)
    free(l);
  return rc;
}

const pyr_prof_label *pyr_prof_labels(const pyr_prof *p, uint32_t labelset, size_t *n) {
  if (labelset == 0 || labelset > p->nsets) {
    if (n)
      *n = 0;
    return NULL;
  }
  if (n)
    *n = p->lcount[labelset];
  return p->lbuf + p->loff[labelset];
}

size_t pyr_prof_nlabelsets(const pyr_prof *p) { return p->nsets; }

/* ---------------------------------------------------------------- samples */

struct sample_key {
  const uint32_t *locs;
  uint32_t n;
  uint32_t labelset;
};

static bool sample_eq(const pyr_prof *p, uint32_t idx, const void *key) {
  const struct sample_key *k = key;
  const struct sample *s = &p->samples[idx];
  return s->depth == k->n && s->labelset == k->labelset &&
         (k->n == 0 || memcmp(p->stacks + s->stack_off, k->locs, k->n * sizeof(*k->locs)) == 0);
}

static void add_values(pyr_prof *p, size_t idx, const int64_t *values) {
  int64_t *dst = p->values + idx * p->type.nvalues;
  for (uint32_t i = 0; i < p->type.nvalues; i++)
    dst[i] = (int64_t)((uint64_t)dst[i] + (uint64_t)values[i]);
}

int64_t pyr_prof_add_ex(pyr_prof *p, const uint32_t *locs, uint32_t n, uint32_t labelset,
                        const int64_t *values) {
  if ((n > 0 && locs == NULL) || values == NULL || labelset > p->nsets)
    return PYR_PROF_EINVAL;
  if (n > p->lim.max_stack_depth)
    return PYR_PROF_ELIMIT;
  for (uint32_t i = 0; i < n; i++)
    if (locs[i] == 0 || locs[i] > p->nlocs)
      return PYR_PROF_EINVAL;
  struct sample_key k = {locs, n, labelset};
  uint32_t h = hash_u32s(locs, n, labelset ^ p->seed);
  uint32_t idx;
  if (htab_find(p, &p->sample_idx, h, sample_eq, &k, &idx)) {
    add_values(p, idx, values);
    return idx;
  }
  if (p->nsamples >= p->lim.max_samples)
    return PYR_PROF_ELIMIT;
  if (n > p->lim.max_total_frames - p->stacks_len || n > p->lim.max_total_frames)
    return PYR_PROF_ELIMIT;
  size_t cap = p->samples_cap;
  if (grow((void **)&p->samples, &p->samples_cap, p->nsamples + 1, sizeof(*p->samples)) != 0)
    return PYR_PROF_ENOMEM;
  if (p->samples_cap != cap) {
    int64_t *nv = realloc(p->values, p->samples_cap * p->type.nvalues * sizeof(*nv));
    if (nv == NULL) {
      p->samples_cap = cap;
      return PYR_PROF_ENOMEM;
    }
    p->values = nv;
  }
  if (grow((void **)&p->stacks, &p->stacks_cap, p->stacks_len + n + 1, sizeof(*p->stacks)) != 0 ||
      htab_reserve(&p->sample_idx) != 0)
    return PYR_PROF_ENOMEM;
  idx = (uint32_t)p->nsamples++;
  struct sample *s = &p->samples[idx];
  s->stack_off = p->stacks_len;
  s->depth = n;
  s->labelset = labelset;
  if (n > 0)
    memcpy(p->stacks + p->stacks_len, locs, n * sizeof(*locs));
  p->stacks_len += n;
  memset(p->values + (size_t)idx * p->type.nvalues, 0, p->type.nvalues * sizeof(int64_t));
  add_values(p, idx, values);
  htab_put_nogrow(&p->sample_idx, h, idx);
  return idx;
}

int pyr_prof_add(pyr_prof *p, const uint32_t *locs, uint32_t n, uint32_t labelset,
                 const int64_t *values) {
  int64_t rc = pyr_prof_add_ex(p, locs, n, labelset, values);
  return rc < 0 ? (int)rc : PYR_PROF_OK;
}

int pyr_prof_add_to(pyr_prof *p, size_t sample, const int64_t *values) {
  if (sample >= p->nsamples || values == NULL)
    return PYR_PROF_EINVAL;
  add_values(p, sample, values);
  return PYR_PROF_OK;
}

size_t pyr_prof_nsamples(const pyr_prof *p) { return p->nsamples; }

void pyr_prof_sample(const pyr_prof *p, size_t i, const uint32_t **locs, uint32_t *n,
                     uint32_t *labelset, const int64_t **values) {
  if (i >= p->nsamples) {
    if (locs)
      *locs = NULL;
    if (n)
      *n = 0;
    if (labelset)
      *labelset = 0;
    if (values)
      *values = NULL;
    return;
  }
  const struct sample *s = &p->samples[i];
  if (locs)
    *locs = p->stacks + s->stack_off;
  if (n)
    *n = s->depth;
  if (labelset)
    *labelset = s->labelset;
  if (values)
    *values = p->values + i * p->type.nvalues;
}

/* ------------------------------------------------------------------ misc */

int pyr_prof_type_id(const pyr_prof_type *t, uint32_t col, char *buf, size_t len) {
  if (t == NULL || buf == NULL || len == 0 || col >= t->nvalues || col >= PYR_PROF_MAX_VALUES)
    return PYR_PROF_EINVAL;
  int w = snprintf(buf, len, "%.*s:%.*s:%.*s:%.*s:%.*s", PYR_PROF_NAME_MAX, t->name,
                   PYR_PROF_NAME_MAX, t->sample_type[col], PYR_PROF_NAME_MAX,
                   t->sample_unit[col], PYR_PROF_NAME_MAX, t->period_type, PYR_PROF_NAME_MAX,
                   t->period_unit);
  if (w < 0 || (size_t)w >= len)
    return PYR_PROF_ELIMIT;
  return PYR_PROF_OK;
}

int pyr_prof_list_push(pyr_prof_list *l, pyr_prof *p) {
  if (l == NULL || p == NULL)
    return PYR_PROF_EINVAL;
  if (grow((void **)&l->items, &l->cap, l->n + 1, sizeof(*l->items)) != 0)
    return PYR_PROF_ENOMEM;
  l->items[l->n++] = p;
  return PYR_PROF_OK;
}

void pyr_prof_list_free(pyr_prof_list *l) {
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->n; i++)
    pyr_prof_free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->n = l->cap = 0;
}
