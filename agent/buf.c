/*
 * buf.c - bounded growable byte buffer (see buf.h).
 *
 * Used by the JFR writer (agent aggregator thread) and by tests; never from
 * a signal handler (it calls realloc).  One owner at a time, no locking.
 *
 * Invariants:
 *  - len <= cap, and cap never grows past limit (growth is clamped to the
 *    limit, so the limit bounds the memory held, not just the bytes used);
 *  - an append either copies all of its bytes or none of them: a failed
 *    append leaves len and data untouched and sets the sticky overflow flag;
 *  - overflow stays set until pyr_buf_reset(); later appends that fit still
 *    succeed, so callers that must stop at the first failure check the flag.
 */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

/* First allocation; small enough for the many tiny buffers of the writer. */
#define PYR_BUF_MIN_CAP 64u

void pyr_buf_init(pyr_buf *b, size_t limit) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->limit = limit;
  b->overflow = false;
}

void pyr_buf_free(pyr_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->overflow = false;
}

void pyr_buf_reset(pyr_buf *b) {
  b->len = 0;
  b->overflow = false;
}

/* Doubling keeps appends amortised O(1); clamping to the limit keeps the
 * allocation itself inside the bound. */
static size_t grown_cap(const pyr_buf *b, size_t need) {
  size_t cap = b->cap ? b->cap : PYR_BUF_MIN_CAP;

  while (cap < need) {
    if (cap > SIZE_MAX / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }
  return cap > b->limit ? b->limit : cap;
}

int pyr_buf_reserve(pyr_buf *b, size_t extra) {
  size_t need;
  size_t cap;
  uint8_t *p;

  /* len can exceed limit if the owner lowered the limit afterwards. */
  if (b->len > b->limit || extra > b->limit - b->len)
    goto fail;
  need = b->len + extra;
  if (need <= b->cap)
    return 0;
  cap = grown_cap(b, need);
  p = realloc(b->data, cap);
  if (!p)
    goto fail;
  b->data = p;
  b->cap = cap;
  return 0;
fail:
  b->overflow = true;
  return -1;
}

int pyr_buf_append(pyr_buf *b, const void *p, size_t n) {
  if (pyr_buf_reserve(b, n) < 0)
    return -1;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int pyr_buf_u8(pyr_buf *b, uint8_t v) {
  return pyr_buf_append(b, &v, 1);
}

int pyr_buf_be16(pyr_buf *b, uint16_t v) {
  uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};

  return pyr_buf_append(b, x, sizeof x);
}

int pyr_buf_be32(pyr_buf *b, uint32_t v) {
  uint8_t x[4];

  for (int i = 0; i < 4; i++)
    x[i] = (uint8_t)(v >> (24 - 8 * i));
  return pyr_buf_append(b, x, sizeof x);
}

int pyr_buf_be64(pyr_buf *b, uint64_t v) {
  uint8_t x[8];

  for (int i = 0; i < 8; i++)
    x[i] = (uint8_t)(v >> (56 - 8 * i));
  return pyr_buf_append(b, x, sizeof x);
}

/* Patching outside the written bytes is a caller bug; ignoring it is safer
 * than writing past len into uninitialised or unallocated memory. */
void pyr_buf_put_be64(pyr_buf *b, size_t off, uint64_t v) {
  if (off > b->len || b->len - off < 8)
    return;
  for (int i = 0; i < 8; i++)
    b->data[off + i] = (uint8_t)(v >> (56 - 8 * i));
}
