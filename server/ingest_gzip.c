/*
 * ingest_gzip.c - bounded gzip inflation (see ingest_gzip.h).
 *
 * What: zlib inflate in gzip mode, output grown geometrically up to the
 * caller's cap.  A stream that ends before its trailer is "truncated"
 * (Z_BUF_ERROR with all input consumed), one that fails its CRC or header
 * checks is "corrupt"; both are PYR_GZ_EDATA so the handlers answer 422.
 *
 * Threads: pure; every call has its own z_stream.
 *
 * Invariants: the output buffer always has one spare byte, written as NUL
 * on success; *out is NULL on every failure path.
 */
#include "errbuf.h"
#include "ingest_gzip.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>


bool pyr_is_gzip(const void *p, size_t n) {
  const unsigned char *b = p;
  return n >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

int pyr_gunzip(const void *in, size_t n, size_t max_out, unsigned char **out,
               size_t *outlen, char *err, size_t errlen) {
  z_stream zs;
  unsigned char *buf = NULL;
  size_t cap, len = 0;
  int rc = PYR_GZ_EDATA;

  *out = NULL;
  *outlen = 0;
  memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    pyr_errf(err, errlen, "gzip: cannot initialise zlib");
    return PYR_GZ_ENOMEM;
  }
  /* Typical profile data compresses 4-8x; start there, grow by doubling. */
  cap = n < SIZE_MAX / 8 ? n * 6 : SIZE_MAX / 2;
  if (cap < 16384)
    cap = 16384;
  if (cap > max_out)
    cap = max_out;
  buf = malloc(cap + 1);
  if (buf == NULL) {
    rc = PYR_GZ_ENOMEM;
    pyr_errf(err, errlen, "gzip: out of memory");
    goto out;
  }

  const unsigned char *src = in;
  size_t left = n;
  for (;;) {
    /* zlib counts in uInt; feed at most 1 GiB per call. */
    size_t feed = left > (1u << 30) ? (1u << 30) : left;
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)feed;
    if (len == cap) {
      if (cap >= max_out) {
        rc = PYR_GZ_ELIMIT;
        pyr_errf(err, errlen, "decompressed data exceeds %zu bytes", max_out);
        goto out;
      }
      size_t ncap = cap * 2 > max_out ? max_out : cap * 2;
      unsigned char *nb = realloc(buf, ncap + 1);
      if (nb == NULL) {
        rc = PYR_GZ_ENOMEM;
        pyr_errf(err, errlen, "gzip: out of memory");
        goto out;
      }
      buf = nb;
      cap = ncap;
    }
    size_t room = cap - len > (1u << 30) ? (1u << 30) : cap - len;
    zs.next_out = buf + len;
    zs.avail_out = (uInt)room;
    int z = inflate(&zs, Z_NO_FLUSH);
    size_t used = feed - zs.avail_in;
    src += used;
    left -= used;
    len += room - zs.avail_out;
    if (z == Z_STREAM_END) {
      /* Another member follows?  Go's reader continues with it. */
      if (left >= 2 && pyr_is_gzip(src, left)) {
        if (inflateReset(&zs) != Z_OK) {
          pyr_errf(err, errlen, "gzip: reset failed");
          goto out;
        }
        continue;
      }
      break; /* trailing garbage after the last member is ignored */
    }
    if (z == Z_OK)
      continue;
    if (z == Z_BUF_ERROR) {
      if (zs.avail_out == 0 || len == cap)
        continue; /* needs more output room */
      pyr_errf(err, errlen, "gzip data truncated");
      goto out;
    }
    if (z == Z_MEM_ERROR) {
      rc = PYR_GZ_ENOMEM;
      pyr_errf(err, errlen, "gzip: out of memory");
      goto out;
    }
    pyr_errf(err, errlen, "invalid gzip data: %s",
            zs.msg ? zs.msg : "corrupt stream");
    goto out;
  }
  buf[len] = '\0';
  *out = buf;
  *outlen = len;
  buf = NULL;
  rc = PYR_GZ_OK;
out:
  inflateEnd(&zs);
  free(buf);
  return rc;
}

int pyr_maybe_gunzip(const void *in, size_t n, size_t max_out,
                     const unsigned char **data, size_t *len,
                     unsigned char **owned, char *err, size_t errlen) {
  *owned = NULL;
  if (!pyr_is_gzip(in, n)) {
    if (n > max_out) {
      pyr_errf(err, errlen, "data exceeds %zu bytes", max_out);
      return PYR_GZ_ELIMIT;
    }
    *data = in;
    *len = n;
    return PYR_GZ_OK;
  }
  int rc = pyr_gunzip(in, n, max_out, owned, len, err, errlen);
  *data = *owned;
  return rc;
}
