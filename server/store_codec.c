/*
 * store_codec.c - the on-disk encoding of profiles ("blocks").
 *
 * A row of the profiles table holds a block: k >= 1 profiles of one series
 * that share one dictionary.  Fresh uploads are blocks of one; compaction
 * (store.c) rewrites a series' profiles of one time window into one block,
 * which lets zstd see similar profiles together and saves per-row costs.
 *
 *   u8      version (1)
 *   uvarint k
 *   k x     zigzag(from - previous from), zigzag(until - from),
 *           uvarint n (pairs), uvarint scale, zigzag total
 *   u8      compression: 0 raw, 1 zstd, 2 zstd in three frames (v2 only)
 *   [1:     uvarint raw length, then one zstd frame of the raw streams]
 *   [2:     3 x (uvarint raw length, u32 LE compressed length, frame) for
 *           the union, the bitmaps and the values of v2]
 *   raw:    stack ids of profile 1..k: first id, then gaps (id - prev - 1)
 *           values of profile 1..k: zigzag(value / scale)
 *
 * Version 2 (compacted blocks of >= 8 profiles) stores the raw streams
 * column-major instead, exploiting that the same stacks recur from one
 * upload to the next:
 *   uvarint U, then the union of the block's stack ids (first, gaps)
 *   U bitmaps of ceil(k/8) bytes: bit i = stack present in profile i
 *   values stack by stack, profile order: zigzag(value / scale of profile)
 * (hot stacks give runs of set bits; measured ~25% smaller than v1 on
 * synthetic Java data, docs/storage.md).
 *
 * Why this shape: ids ascending make gaps small (one byte mostly); all ids
 * before all values keeps two different distributions apart for zstd;
 * dividing by the gcd (CPU values are multiples of the sampling period)
 * turns nanoseconds into sample counts; headers stay uncompressed so
 * timelines (per-profile totals) read without decompressing.
 *
 * st_block_accumulate is the merge's inner loop: it adds a block's values
 * into a per-node array without unpacking per-profile arrays (for v2 fully
 * in range: one pass over the column-major stream, popcount per stack).
 *
 * Threads: pure functions; contexts (ZSTD_CCtx/DCtx, scratch buffers)
 * belong to the caller.
 *
 * Invariants checked on decode (corruption never reads out of bounds):
 * every varint inside the buffer, k and pair counts bounded by the input
 * size, ids strictly ascending within a profile and < 2^32.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define BLOCK_V1 1
#define BLOCK_V2 2
#define V2_MIN_PROFILES 8
#define COMP_RAW 0
#define COMP_ZSTD 1
#define COMP_ZSTD3 2 /* v2: union, bitmaps and values as three zstd frames */
#define MAX_RAW ((size_t)1 << 30) /* decompressed streams of one block */

/* Set bits per byte.  A table, not __builtin_popcount: without -mpopcnt
 * (portable builds) the builtin is a libgcc call, which profiling showed
 * as ~24% of a compacted 24 h merge. */
#define B2(n) n, n + 1, n + 1, n + 2
#define B4(n) B2(n), B2(n + 1), B2(n + 1), B2(n + 2)
#define B6(n) B4(n), B4(n + 1), B4(n + 1), B4(n + 2)
static const uint8_t bits_set[256] = {B6(0), B6(1), B6(1), B6(2)};
#undef B2
#undef B4
#undef B6

static uint64_t gcd64(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static uint64_t abs64(int64_t v) { return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; }

static void encode_v1(st_buf *raw, const st_penc *p, size_t k, const uint64_t *scales) {
  for (size_t i = 0; i < k; i++) {
    uint32_t last = 0;
    for (size_t j = 0; j < p[i].n; j++) {
      uint32_t id = p[i].ids[j];
      st_buf_uv(raw, j == 0 ? id : id - last - 1);
      last = id;
    }
  }
  for (size_t i = 0; i < k; i++) {
    int64_t g = (int64_t)scales[i];
    for (size_t j = 0; j < p[i].n; j++)
      st_buf_uv(raw, st_zz(p[i].vals[j] / g));
  }
}

static int u32_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Index of id in the sorted union u[0..n) (present by construction). */
static uint32_t union_index(const uint32_t *u, uint32_t n, uint32_t id) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (u[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int encode_v2(st_buf *raw, const st_penc *p, size_t k, size_t npairs,
                     const uint64_t *scales, size_t cut[2]) {
  int rc = -1;
  uint32_t *u = malloc((npairs ? npairs : 1) * sizeof(*u));
  uint32_t *cnt = NULL, *start = NULL;
  int64_t *vals = NULL;
  size_t bpr = (k + 7) / 8;
  if (!u)
    return -1;
  size_t at = 0;
  for (size_t i = 0; i < k; i++)
    for (size_t j = 0; j < p[i].n; j++)
      u[at++] = p[i].ids[j];
  qsort(u, npairs, sizeof(*u), u32_cmp);
  uint32_t nu = 0;
  for (size_t i = 0; i < npairs; i++)
    if (!nu || u[nu - 1] != u[i])
      u[nu++] = u[i];
  cnt = calloc((size_t)nu + 1, sizeof(*cnt));
  start = malloc(((size_t)nu + 1) * sizeof(*start));
  vals = malloc((npairs ? npairs : 1) * sizeof(*vals));
  if (!cnt || !start || !vals ||
      st_buf_reserve(raw, 10 + (size_t)nu * (10 + bpr) + npairs * 10) != 0)
    goto out;
  /* values grouped by stack (counting sort), profile order inside */
  for (size_t i = 0; i < k; i++)
    for (size_t j = 0; j < p[i].n; j++)
      cnt[union_index(u, nu, p[i].ids[j])]++;
  start[0] = 0;
  for (uint32_t x = 0; x < nu; x++)
    start[x + 1] = start[x] + cnt[x];
  memset(cnt, 0, (size_t)nu * sizeof(*cnt));
  st_buf_uv(raw, nu);
  for (uint32_t x = 0; x < nu; x++)
    st_buf_uv(raw, x == 0 ? u[x] : u[x] - u[x - 1] - 1);
  cut[0] = raw->n;
  uint8_t *bits = raw->p + raw->n;
  memset(bits, 0, (size_t)nu * bpr);
  raw->n += (size_t)nu * bpr;
  for (size_t i = 0; i < k; i++) {
    int64_t g = (int64_t)scales[i];
    for (size_t j = 0; j < p[i].n; j++) {
      uint32_t x = union_index(u, nu, p[i].ids[j]);
      bits[(size_t)x * bpr + i / 8] |= (uint8_t)(1u << (i % 8));
      vals[start[x] + cnt[x]++] = p[i].vals[j] / g;
    }
  }
  cut[1] = raw->n;
  for (size_t i = 0; i < npairs; i++)
    st_buf_uv(raw, st_zz(vals[i]));
  rc = 0;
out:
  free(u);
  free(cnt);
  free(start);
  free(vals);
  return rc;
}

int st_block_encode(st_buf *out, const st_penc *p, size_t k, int level, ZSTD_CCtx *cctx,
                    st_buf *raw) {
  size_t npairs = 0;
  for (size_t i = 0; i < k; i++)
    npairs += p[i].n;
  raw->n = 0;
  if (st_buf_reserve(raw, npairs * 20 + 16) != 0)
    return -1;
  if (st_buf_reserve(out, k * 50 + 32) != 0)
    return -1;
  bool v2 = k >= V2_MIN_PROFILES;
  out->p[out->n++] = v2 ? BLOCK_V2 : BLOCK_V1;
  st_buf_uv(out, k);
  int64_t prev = 0;
  uint64_t *scales = malloc((k ? k : 1) * sizeof(*scales));
  if (!scales)
    return -1;
  for (size_t i = 0; i < k; i++) {
    uint64_t g = 0, tot = 0; /* unsigned: wrap instead of overflow UB */
    for (size_t j = 0; j < p[i].n; j++) {
      g = gcd64(g, abs64(p[i].vals[j]));
      tot += (uint64_t)p[i].vals[j];
    }
    if (g == 0)
      g = 1;
    scales[i] = g;
    st_buf_uv(out, st_zz((int64_t)((uint64_t)p[i].from - (uint64_t)prev)));
    st_buf_uv(out, st_zz((int64_t)((uint64_t)p[i].until - (uint64_t)p[i].from)));
    st_buf_uv(out, p[i].n);
    st_buf_uv(out, g);
    st_buf_uv(out, st_zz((int64_t)tot));
    prev = p[i].from;
  }
  int rc = 0;
  size_t cut[2] = {0, 0};
  if (v2)
    rc = encode_v2(raw, p, k, npairs, scales, cut);
  else
    encode_v1(raw, p, k, scales);
  if (rc != 0) {
    free(scales);
    return -1;
  }
  free(scales);

  if (v2 && level > 0 && raw->n >= 64) {
    /* Three frames: ids, bitmaps and values have different statistics;
     * a frame each keeps zstd's entropy tables apart (~1% smaller on the
     * synthetic bench data; kept because real data mixes more). */
    size_t part[3] = {cut[0], cut[1] - cut[0], raw->n - cut[1]};
    size_t bound = ZSTD_compressBound(part[0]) + ZSTD_compressBound(part[1]) +
                   ZSTD_compressBound(part[2]);
    if (st_buf_reserve(out, bound + 64) != 0)
      return -1;
    size_t mark = out->n;
    out->p[out->n++] = COMP_ZSTD3;
    const uint8_t *src = raw->p;
    bool ok = true;
    for (int i = 0; i < 3 && ok; i++) {
      st_buf_uv(out, part[i]);
      /* the compressed length follows as a fixed 4-byte field, then data */
      size_t zpos = out->n;
      out->n += 4;
      size_t cap = ZSTD_compressBound(part[i]);
      size_t z = st_zcompress(cctx, out->p + out->n, cap, src, part[i], level);
      if (ZSTD_isError(z) || z > UINT32_MAX) {
        ok = false;
        break;
      }
      uint8_t le[4] = {(uint8_t)z, (uint8_t)(z >> 8), (uint8_t)(z >> 16), (uint8_t)(z >> 24)};
      memcpy(out->p + zpos, le, 4);
      out->n += z;
      src += part[i];
    }
    if (ok && out->n - mark < raw->n)
      return 0;
    out->n = mark;
  }
  if (!v2 && level > 0 && raw->n >= 64) {
    size_t bound = ZSTD_compressBound(raw->n);
    if (st_buf_reserve(out, bound + 12) != 0)
      return -1;
    size_t mark = out->n;
    out->p[out->n++] = COMP_ZSTD;
    st_buf_uv(out, raw->n);
    size_t z = st_zcompress(cctx, out->p + out->n, bound, raw->p, raw->n, level);
    if (!ZSTD_isError(z) && z + 4 < raw->n) {
      out->n += z;
      return 0;
    }
    out->n = mark; /* incompressible: store raw */
  }
  if (st_buf_reserve(out, raw->n + 1) != 0)
    return -1;
  out->p[out->n++] = COMP_RAW;
  memcpy(out->p + out->n, raw->p, raw->n);
  out->n += raw->n;
  return 0;
}

/* Parses headers; *body points at the compression byte afterwards. */
static int decode_headers(st_block *b, const uint8_t *p, size_t len, const uint8_t **body) {
  const uint8_t *s = p, *end = p + len;
  uint64_t k, v;
  if (len < 2 || (*s != BLOCK_V1 && *s != BLOCK_V2))
    return -1;
  b->version = *s++;
  if (st_uv_get(&s, end, &k) != 0 || k == 0 || k > len / 5) /* >= 5 header bytes each */
    return -1;
  if (k > b->hdr_cap) {
    st_phdr *h = realloc(b->hdr, k * sizeof(*h));
    if (!h)
      return -1;
    b->hdr = h;
    b->hdr_cap = k;
  }
  int64_t prev = 0;
  size_t npairs = 0;
  for (uint64_t i = 0; i < k; i++) {
    st_phdr *h = &b->hdr[i];
    if (st_uv_get(&s, end, &v) != 0)
      return -1;
    h->from = (int64_t)((uint64_t)prev + (uint64_t)st_unzz(v));
    if (st_uv_get(&s, end, &v) != 0)
      return -1;
    h->until = (int64_t)((uint64_t)h->from + (uint64_t)st_unzz(v));
    if (st_uv_get(&s, end, &v) != 0 || v > UINT32_MAX)
      return -1;
    h->n = (uint32_t)v;
    npairs += h->n;
    if (st_uv_get(&s, end, &v) != 0 || v == 0)
      return -1;
    h->scale = v;
    if (st_uv_get(&s, end, &v) != 0)
      return -1;
    h->total = st_unzz(v);
    prev = h->from;
  }
  if (s >= end)
    return -1;
  b->k = (uint32_t)k;
  b->npairs = npairs;
  *body = s;
  return 0;
}

int st_block_decode_headers(st_block *b, const uint8_t *p, size_t len) {
  const uint8_t *body;
  return decode_headers(b, p, len, &body);
}

static int decode_v1(st_block *b, const uint8_t *q, const uint8_t *rend) {
  size_t at = 0;
  for (uint32_t i = 0; i < b->k; i++) {
    uint64_t id = 0, v;
    for (uint32_t j = 0; j < b->hdr[i].n; j++) {
      if (st_uv_get(&q, rend, &v) != 0)
        return -1;
      id = j == 0 ? v : id + v + 1;
      if (id > UINT32_MAX)
        return -1;
      b->ids[at++] = (uint32_t)id;
    }
  }
  at = 0;
  for (uint32_t i = 0; i < b->k; i++) {
    uint64_t scale = b->hdr[i].scale, v;
    for (uint32_t j = 0; j < b->hdr[i].n; j++) {
      if (st_uv_get(&q, rend, &v) != 0)
        return -1;
      b->vals[at++] = (int64_t)((uint64_t)st_unzz(v) * scale);
    }
  }
  return q == rend ? 0 : -1;
}

/* Column-major streams back to per-profile arrays (ids ascending). */
static int decode_v2(st_block *b, const uint8_t *q, const uint8_t *rend) {
  uint64_t nu;
  size_t bpr = (b->k + 7) / 8;
  if (st_uv_get(&q, rend, &nu) != 0 || nu > b->npairs || nu > (size_t)(rend - q))
    return -1;
  uint32_t *u = malloc((nu ? nu : 1) * sizeof(*u));
  size_t *pos = malloc((size_t)b->k * 2 * sizeof(*pos)); /* cursor, then limit */
  int rc = -1;
  if (!u || !pos)
    goto out;
  uint64_t id = 0, v;
  for (uint64_t x = 0; x < nu; x++) {
    if (st_uv_get(&q, rend, &v) != 0)
      goto out;
    id = x == 0 ? v : id + v + 1;
    if (id > UINT32_MAX)
      goto out;
    u[x] = (uint32_t)id;
  }
  if ((size_t)(rend - q) < nu * bpr)
    goto out;
  const uint8_t *bits = q;
  q += nu * bpr;
  size_t at = 0;
  size_t *lim = pos + b->k;
  for (uint32_t i = 0; i < b->k; i++) {
    pos[i] = at;
    at += b->hdr[i].n;
    lim[i] = at;
  }
  for (uint64_t x = 0; x < nu; x++) {
    const uint8_t *row = bits + x * bpr;
    for (size_t byte = 0; byte < bpr; byte++) {
      for (unsigned m = row[byte]; m; m &= m - 1) {
        uint32_t i = (uint32_t)(byte * 8 + (unsigned)__builtin_ctz(m));
        if (i >= b->k || pos[i] >= lim[i] ||
            st_uv_get(&q, rend, &v) != 0)
          goto out;
        b->ids[pos[i]] = u[x];
        b->vals[pos[i]] = (int64_t)((uint64_t)st_unzz(v) * b->hdr[i].scale);
        pos[i]++;
      }
    }
  }
  for (uint32_t i = 0; i < b->k; i++) /* every profile got exactly its n pairs */
    if (pos[i] != lim[i])
      goto out;
  rc = q == rend ? 0 : -1;
out:
  free(u);
  free(pos);
  return rc;
}

/* Headers, then the raw streams (decompressed into b->raw if needed). */
static int open_streams(st_block *b, const uint8_t *p, size_t len, ZSTD_DCtx *dctx,
                        const uint8_t **raw, const uint8_t **rend) {
  const uint8_t *s, *end = p + len;
  if (decode_headers(b, p, len, &s) != 0)
    return -1;
  uint8_t comp = *s++;
  if (comp == COMP_RAW) {
    *raw = s;
    *rend = end;
  } else if (comp == COMP_ZSTD) {
    uint64_t rawlen;
    if (st_uv_get(&s, end, &rawlen) != 0 || rawlen > MAX_RAW)
      return -1;
    b->raw.n = 0;
    if (st_buf_reserve(&b->raw, rawlen ? rawlen : 1) != 0)
      return -1;
    size_t z = dctx ? ZSTD_decompressDCtx(dctx, b->raw.p, rawlen, s, (size_t)(end - s))
                    : ZSTD_decompress(b->raw.p, rawlen, s, (size_t)(end - s));
    if (ZSTD_isError(z) || z != rawlen)
      return -1;
    *raw = b->raw.p;
    *rend = *raw + rawlen;
  } else if (comp == COMP_ZSTD3 && b->version == BLOCK_V2) {
    size_t total = 0;
    const uint8_t *q = s;
    size_t plen[3], zlen[3];
    const uint8_t *zp[3];
    for (int i = 0; i < 3; i++) { /* lengths first: size the buffer once */
      uint64_t l;
      uint32_t z32;
      if (st_uv_get(&q, end, &l) != 0 || l > MAX_RAW || (size_t)(end - q) < 4)
        return -1;
      z32 = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
      q += 4;
      if (z32 > (size_t)(end - q))
        return -1;
      plen[i] = l;
      zlen[i] = z32;
      zp[i] = q;
      q += z32;
      total += l;
    }
    if (q != end || total > MAX_RAW)
      return -1;
    b->raw.n = 0;
    if (st_buf_reserve(&b->raw, total ? total : 1) != 0)
      return -1;
    for (int i = 0; i < 3; i++) {
      size_t z = dctx ? ZSTD_decompressDCtx(dctx, b->raw.p + b->raw.n, plen[i], zp[i], zlen[i])
                      : ZSTD_decompress(b->raw.p + b->raw.n, plen[i], zp[i], zlen[i]);
      if (ZSTD_isError(z) || z != plen[i])
        return -1;
      b->raw.n += plen[i];
    }
    *raw = b->raw.p;
    *rend = *raw + total;
  } else {
    return -1;
  }
  /* Every pair takes at least two bytes of raw stream (v1), or a bit and
   * a byte (v2): bounds allocations by the input size. */
  if (b->npairs > (size_t)(*rend - *raw) / (b->version == BLOCK_V2 ? 1 : 2))
    return -1;
  return 0;
}

int st_block_decode(st_block *b, const uint8_t *p, size_t len, ZSTD_DCtx *dctx) {
  const uint8_t *raw, *rend;
  if (open_streams(b, p, len, dctx, &raw, &rend) != 0)
    return -1;
  if (b->npairs > b->pair_cap) {
    size_t cap = b->npairs + b->npairs / 4 + 16;
    uint32_t *ids = realloc(b->ids, cap * sizeof(*ids));
    if (!ids)
      return -1;
    b->ids = ids;
    int64_t *vals = realloc(b->vals, cap * sizeof(*vals));
    if (!vals)
      return -1;
    b->vals = vals;
    b->pair_cap = cap;
  }
  return b->version == BLOCK_V2 ? decode_v2(b, raw, rend) : decode_v1(b, raw, rend);
}

int st_block_accumulate(st_block *b, const uint8_t *p, size_t len, ZSTD_DCtx *dctx,
                        int64_t start, int64_t end, st_acc_ensure ensure, void *ctx,
                        uint64_t *nprof) {
  bool any = false, all = true;
  if (st_block_decode_headers(b, p, len) != 0)
    return -1;
  for (uint32_t i = 0; i < b->k; i++) {
    bool in = b->hdr[i].from >= start && b->hdr[i].from <= end;
    any |= in;
    all &= in;
  }
  if (!any)
    return 0;
  if (b->version != BLOCK_V2) { /* small blocks: unpack and add */
    if (st_block_decode(b, p, len, dctx) != 0)
      return -1;
    uint32_t max = 0;
    for (size_t i = 0; i < b->npairs; i++)
      max = b->ids[i] > max ? b->ids[i] : max;
    int64_t *acc;
    if (ensure(ctx, max, &acc) != 0)
      return -1;
    size_t off = 0;
    for (uint32_t i = 0; i < b->k; i++) {
      uint32_t n = b->hdr[i].n;
      if (b->hdr[i].from >= start && b->hdr[i].from <= end) {
        for (uint32_t j = 0; j < n; j++)
          acc[b->ids[off + j]] += b->vals[off + j];
        (*nprof)++;
      }
      off += n;
    }
    return 0;
  }
  const uint8_t *q, *rend;
  if (open_streams(b, p, len, dctx, &q, &rend) != 0)
    return -1;
  uint64_t nu, id = 0, v;
  size_t bpr = (b->k + 7) / 8;
  if (st_uv_get(&q, rend, &nu) != 0 || nu > b->npairs || nu > (size_t)(rend - q))
    return -1;
  /* Union ids go into the pair buffer (unused on this path). */
  if (nu > b->pair_cap) {
    uint32_t *ids = realloc(b->ids, nu * sizeof(*ids));
    if (!ids)
      return -1;
    b->ids = ids;
    int64_t *vals = realloc(b->vals, nu * sizeof(*vals));
    if (!vals)
      return -1;
    b->vals = vals;
    b->pair_cap = nu;
  }
  for (uint64_t x = 0; x < nu; x++) {
    if (st_uv_get(&q, rend, &v) != 0)
      return -1;
    id = x == 0 ? v : id + v + 1;
    if (id > UINT32_MAX)
      return -1;
    b->ids[x] = (uint32_t)id;
  }
  int64_t *acc;
  if (nu && ensure(ctx, b->ids[nu - 1], &acc) != 0)
    return -1;
  if ((size_t)(rend - q) < nu * bpr)
    return -1;
  const uint8_t *bits = q;
  q += nu * bpr;
  bool same_scale = true;
  for (uint32_t i = 1; i < b->k; i++)
    same_scale &= b->hdr[i].scale == b->hdr[0].scale;
  for (uint64_t x = 0; x < nu; x++) {
    const uint8_t *row = bits + x * bpr;
    int64_t sum = 0;
    if (all && same_scale) { /* common case: every profile counts, one scale */
      size_t cnt = 0;
      for (size_t byte = 0; byte < bpr; byte++)
        cnt += bits_set[row[byte]];
      for (size_t c = 0; c < cnt; c++) {
        if (st_uv_get(&q, rend, &v) != 0)
          return -1;
        sum += st_unzz(v);
      }
      sum = (int64_t)((uint64_t)sum * b->hdr[0].scale);
    } else {
      for (size_t byte = 0; byte < bpr; byte++) {
        for (unsigned m = row[byte]; m; m &= m - 1) {
          uint32_t i = (uint32_t)(byte * 8 + (unsigned)__builtin_ctz(m));
          if (i >= b->k || st_uv_get(&q, rend, &v) != 0)
            return -1;
          if (b->hdr[i].from >= start && b->hdr[i].from <= end)
            sum += (int64_t)((uint64_t)st_unzz(v) * b->hdr[i].scale);
        }
      }
    }
    acc[b->ids[x]] += sum;
  }
  if (q != rend)
    return -1;
  for (uint32_t i = 0; i < b->k; i++)
    *nprof += b->hdr[i].from >= start && b->hdr[i].from <= end;
  return 0;
}

void st_block_free(st_block *b) {
  free(b->hdr);
  free(b->ids);
  free(b->vals);
  st_buf_free(&b->raw);
  memset(b, 0, sizeof(*b));
}
