/*
 * gzip.c - one-shot gzip with zlib (see gzip.h).
 *
 * deflateBound() gives the worst-case output size up front, so one
 * allocation and one deflate(Z_FINISH) call suffice.
 */
#include "gzip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int pyr_gzip(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *out_len) {
  z_stream zs;
  uint8_t *buf = NULL;
  int rc = -1;

  memset(&zs, 0, sizeof(zs));
  /* windowBits 15 + 16 selects the gzip wrapper instead of zlib's. */
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  uLong bound = deflateBound(&zs, (uLong)len) + 32; /* + gzip header/trailer */
  buf = malloc(bound);
  if (!buf)
    goto out;
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)len;
  zs.next_out = buf;
  zs.avail_out = (uInt)bound;
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
    goto out;
  *out = buf;
  *out_len = zs.total_out;
  buf = NULL;
  rc = 0;
out:
  deflateEnd(&zs);
  free(buf);
  return rc;
}
