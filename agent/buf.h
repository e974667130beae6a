/*
 * buf.h - bounded growable byte buffer.
 *
 * Every buffer has a hard limit fixed at creation; an append that would
 * exceed it fails (returns -1) and sets the sticky `overflow` flag instead of
 * growing without bound.  Not thread-safe: one owner at a time.
 */
#ifndef PYRITE_BUF_H
#define PYRITE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct pyr_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
  size_t limit;  /* hard bound on len */
  bool overflow; /* an append failed because of limit or OOM */
} pyr_buf;

void pyr_buf_init(pyr_buf *b, size_t limit);
void pyr_buf_free(pyr_buf *b);
void pyr_buf_reset(pyr_buf *b); /* len = 0, overflow = false, keeps memory */
int pyr_buf_reserve(pyr_buf *b, size_t extra);
int pyr_buf_append(pyr_buf *b, const void *p, size_t n);
int pyr_buf_u8(pyr_buf *b, uint8_t v);
int pyr_buf_be16(pyr_buf *b, uint16_t v);
int pyr_buf_be32(pyr_buf *b, uint32_t v);
int pyr_buf_be64(pyr_buf *b, uint64_t v);
void pyr_buf_put_be64(pyr_buf *b, size_t off, uint64_t v); /* patch in place */

#endif
