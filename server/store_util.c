/*
 * store_util.c - small building blocks of the store: keyed hashing,
 * growable buffers, an insert-only 128-bit-key map and a pointer table.
 *
 * Threads: none of these structures lock; their owners do (see
 * store_int.h).  Pure functions otherwise.
 *
 * Invariants: st_hmap and st_ptab capacities are powers of two and at most
 * 1/2 (hmap) or 3/4 (ptab) full, so every probe sequence ends at an empty
 * slot.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

static inline uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* 64x64->128 multiply folded: the core mixing step (as in wyhash/mum). */
static inline uint64_t mum(uint64_t a, uint64_t b) {
  unsigned __int128 r = (unsigned __int128)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/*
 * Keyed hash of a byte string.  Every constant is a per-process secret, so
 * the weak spots of a multiply-fold hash (an input word equal to a
 * constant zeroes the state) cannot be aimed at.
 */
uint64_t st_hash64(const st_hkey *hk, int lane, const void *p, size_t n) {
  const uint64_t *k = hk->k[lane];
  const uint8_t *s = p;
  uint64_t h = k[0] ^ mum((uint64_t)n ^ k[1], k[2]);
  while (n >= 16) {
    h = mum(rd64(s) ^ k[1], rd64(s + 8) ^ h ^ k[3]);
    s += 16;
    n -= 16;
  }
  if (n >= 8) {
    h = mum(rd64(s) ^ k[4], h ^ k[2]);
    s += 8;
    n -= 8;
  }
  if (n) {
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = mum(w ^ k[5], h ^ k[3] ^ (uint64_t)n);
  }
  return st_fmix(h ^ k[0]);
}

st_h128 st_hash128(const st_hkey *hk, const void *p, size_t n) {
  const uint64_t *k = hk->k[0], *l = hk->k[1];
  const uint8_t *s = p;
  uint64_t a = k[0] ^ mum((uint64_t)n ^ k[1], k[2]);
  uint64_t b = l[0] ^ mum((uint64_t)n ^ l[1], l[2]);
  while (n >= 16) { /* two independent chains: the multiplies overlap */
    uint64_t w0 = rd64(s), w1 = rd64(s + 8);
    a = mum(w0 ^ k[1], w1 ^ a ^ k[3]);
    b = mum(w0 ^ l[1], w1 ^ b ^ l[3]);
    s += 16;
    n -= 16;
  }
  if (n >= 8) {
    uint64_t w = rd64(s);
    a = mum(w ^ k[4], a ^ k[2]);
    b = mum(w ^ l[4], b ^ l[2]);
    s += 8;
    n -= 8;
  }
  if (n) {
    uint64_t w = 0;
    memcpy(&w, s, n);
    a = mum(w ^ k[5], a ^ k[3] ^ (uint64_t)n);
    b = mum(w ^ l[5], b ^ l[3] ^ (uint64_t)n);
  }
  st_h128 h = {st_fmix(a ^ k[0]), st_fmix(b ^ l[0])};
  return h;
}

int st_buf_reserve(st_buf *b, size_t add) {
  if (b->cap - b->n >= add)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->n < add) {
    if (cap > SIZE_MAX / 2)
      return -1;
    cap *= 2;
  }
  uint8_t *p = realloc(b->p, cap);
  if (!p)
    return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

void st_buf_free(st_buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

/* ------------------------------------------------------------------ hmap */

static inline size_t hslot_of(uint64_t a, size_t mask) { return (size_t)(a ^ (a >> 29)) & mask; }

uint32_t st_hmap_get(const st_hmap *m, st_h128 k) {
  if (!m->s)
    return 0;
  uint32_t b = (uint32_t)k.b;
  for (size_t i = hslot_of(k.a, m->mask);; i = (i + 1) & m->mask) {
    const st_hslot *s = &m->s[i];
    if (s->v == 0)
      return 0;
    if (s->a == k.a && s->b == b)
      return s->v;
  }
}

static int hmap_grow(st_hmap *m) {
  size_t cap = m->s ? (m->mask + 1) * 2 : 1024;
  st_hslot *ns = calloc(cap, sizeof(*ns));
  if (!ns)
    return -1;
  for (size_t i = 0; m->s && i <= m->mask; i++) {
    st_hslot *o = &m->s[i];
    if (!o->v)
      continue;
    size_t j = hslot_of(o->a, cap - 1);
    while (ns[j].v)
      j = (j + 1) & (cap - 1);
    ns[j] = *o;
  }
  free(m->s);
  m->s = ns;
  m->mask = cap - 1;
  return 0;
}

int st_hmap_put(st_hmap *m, st_h128 k, uint32_t v) {
  if ((!m->s || (m->n + 1) * 10 > (m->mask + 1) * 7) && hmap_grow(m) != 0)
    return -1;
  size_t i = hslot_of(k.a, m->mask);
  while (m->s[i].v)
    i = (i + 1) & m->mask;
  m->s[i].a = k.a;
  m->s[i].b = (uint32_t)k.b;
  m->s[i].v = v;
  m->n++;
  return 0;
}

void st_hmap_free(st_hmap *m) {
  free(m->s);
  memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ ptab */

void *st_ptab_get(const st_ptab *t, uint64_t h, st_ptab_eq eq, const void *key) {
  if (!t->item)
    return NULL;
  for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
    void *it = t->item[i];
    if (!it)
      return NULL;
    if (t->h[i] == h && eq(it, key))
      return it;
  }
}

static int ptab_grow(st_ptab *t) {
  size_t cap = t->item ? (t->mask + 1) * 2 : 64;
  void **ni = calloc(cap, sizeof(*ni));
  uint64_t *nh = calloc(cap, sizeof(*nh));
  if (!ni || !nh) {
    free(ni);
    free(nh);
    return -1;
  }
  for (size_t i = 0; t->item && i <= t->mask; i++) {
    if (!t->item[i])
      continue;
    size_t j = t->h[i] & (cap - 1);
    while (ni[j])
      j = (j + 1) & (cap - 1);
    ni[j] = t->item[i];
    nh[j] = t->h[i];
  }
  free(t->item);
  free(t->h);
  t->item = ni;
  t->h = nh;
  t->mask = cap - 1;
  return 0;
}

int st_ptab_put(st_ptab *t, uint64_t h, void *item) {
  if ((!t->item || (t->n + 1) * 4 > (t->mask + 1) * 3) && ptab_grow(t) != 0)
    return -1;
  size_t i = h & t->mask;
  while (t->item[i])
    i = (i + 1) & t->mask;
  t->item[i] = item;
  t->h[i] = h;
  t->n++;
  return 0;
}

/* Backward-shift deletion keeps probe sequences intact without tombstones. */
void st_ptab_del(st_ptab *t, uint64_t h, const void *item) {
  if (!t->item)
    return;
  size_t i = h & t->mask;
  while (t->item[i] != item) {
    if (!t->item[i])
      return;
    i = (i + 1) & t->mask;
  }
  t->item[i] = NULL;
  t->n--;
  for (size_t j = (i + 1) & t->mask; t->item[j]; j = (j + 1) & t->mask) {
    size_t home = t->h[j] & t->mask;
    /* Move j back to i when i lies cyclically in [home, j). */
    bool move = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
    if (move) {
      t->item[i] = t->item[j];
      t->h[i] = t->h[j];
      t->item[j] = NULL;
      i = j;
    }
  }
}

void st_ptab_free(st_ptab *t) {
  free(t->item);
  free(t->h);
  memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------------ misc */

int64_t st_now_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * PYR_STORE_NS_PER_SEC + ts.tv_nsec;
}

int64_t st_now_real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * PYR_STORE_NS_PER_SEC + ts.tv_nsec;
}

void st_seterr(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

st_h128 st_stack_root(const st_hkey *hk) {
  st_h128 r = {st_fmix(hk->k[0][5] ^ 0x5851f42d4c957f2dull), st_fmix(hk->k[1][5] + 1)};
  return r;
}

size_t st_zcompress(ZSTD_CCtx *cctx, void *dst, size_t cap, const void *src, size_t n,
                    int level) {
  ZSTD_CCtx *own = NULL;
  if (!cctx && !(cctx = own = ZSTD_createCCtx()))
    return (size_t)-1; /* a zstd error code (ZSTD_isError) */
  /* Session and parameters reset: the context is shared by callers with
   * different levels.  Frames written before checksums existed decode
   * the same way (the flag lives in each frame's header). */
  size_t z = ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  if (!ZSTD_isError(z))
    z = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError(z))
    z = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  if (!ZSTD_isError(z))
    z = ZSTD_compress2(cctx, dst, cap, src, n);
  ZSTD_freeCCtx(own);
  return z;
}
