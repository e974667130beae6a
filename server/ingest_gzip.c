/*
 * ingest_gzip.c - bounded gzip inflation (see ingest_gzip.h).
 *
 * What: two decoders with one contract.  The fast path is libdeflate's
 * whole-buffer gzip decoder (about 2-3x zlib's inflate speed, and inflate
 * was ~16 % of pyrited's CPU per upload): the output buffer is sized from
 * the gzip trailer's ISIZE (bounded by the cap and by deflate's maximum
 * ratio, since ISIZE is the client's word) and grown when a member needs
 * more.  Whatever the fast path cannot finish cleanly -- corrupt or
 * truncated data -- is decoded again by the zlib path, whose streaming
 * inflate tells "truncated" (Z_BUF_ERROR with all input consumed) from
 * "corrupt" (CRC or header checks) for the error message; both are
 * PYR_GZ_EDATA so the handlers answer 422.  Only bad input pays twice.
 *
 * Threads: any thread.  Each thread keeps one libdeflate decompressor
 * (thread-specific data, freed when the thread exits); every zlib call has
 * its own z_stream.
 *
 * Invariants: the output buffer always has one spare byte, written as NUL
 * on success; *out is NULL on every failure path; never more than max_out
 * bytes of output are produced or allocated.
 */
#include "errbuf.h"
#include "ingest_gzip.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <pthread.h>
#include <zlib.h>


bool pyr_is_gzip(const void *p, size_t n) {
  const unsigned char *b = p;
  return n >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* Deflate cannot expand a byte into more than 1032 bytes of output, so a
 * trailer claiming more than that is a lie not worth allocating for. */
#define DEFLATE_MAX_RATIO 1032u

static pthread_key_t decomp_key;
static pthread_once_t decomp_once = PTHREAD_ONCE_INIT;
static bool decomp_key_ok;

static void decomp_free(void *d) { libdeflate_free_decompressor(d); }

static void decomp_key_init(void) {
  decomp_key_ok = pthread_key_create(&decomp_key, decomp_free) == 0;
}

/* This thread's decompressor, created on first use; NULL if none. */
static struct libdeflate_decompressor *thread_decompressor(void) {
  struct libdeflate_decompressor *d;
  pthread_once(&decomp_once, decomp_key_init);
  if (!decomp_key_ok)
    return NULL;
  d = pthread_getspecific(decomp_key);
  if (d == NULL && (d = libdeflate_alloc_decompressor()) != NULL &&
      pthread_setspecific(decomp_key, d) != 0) {
    libdeflate_free_decompressor(d);
    d = NULL;
  }
  return d;
}

/* First output size to try: the last member's ISIZE (mod 2^32), which is
 * the whole size for the usual single-member body. */
static size_t first_guess(const unsigned char *in, size_t n, size_t max_out) {
  size_t guess = 16384;
  if (n >= 18) {
    const unsigned char *t = in + n - 4;
    guess = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
    if (n < SIZE_MAX / DEFLATE_MAX_RATIO && guess > n * DEFLATE_MAX_RATIO)
      guess = n * DEFLATE_MAX_RATIO;
    if (guess < 64)
      guess = 64;
  }
  return guess > max_out ? max_out : guess;
}

enum fast_rc { FAST_OK, FAST_LIMIT, FAST_NOMEM, FAST_RETRY_ZLIB };

static enum fast_rc gunzip_fast(const unsigned char *in, size_t n, size_t max_out,
                                unsigned char **out, size_t *outlen) {
  struct libdeflate_decompressor *d = thread_decompressor();
  size_t cap, len = 0, pos = 0;
  unsigned char *buf;
  enum fast_rc rc = FAST_RETRY_ZLIB;

  if (d == NULL)
    return FAST_RETRY_ZLIB;
  cap = first_guess(in, n, max_out);
  if ((buf = malloc(cap + 1)) == NULL)
    return FAST_NOMEM;
  for (;;) {
    size_t used = 0, got = 0;
    enum libdeflate_result r = libdeflate_gzip_decompress_ex(d, in + pos, n - pos, buf + len,
                                                             cap - len, &used, &got);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
      if (cap >= max_out) {
        rc = FAST_LIMIT; /* the zlib path would stop at the same cap */
        goto out;
      }
      size_t ncap = cap > max_out / 2 ? max_out : cap * 2;
      unsigned char *nb = realloc(buf, ncap + 1);
      if (nb == NULL) {
        rc = FAST_NOMEM;
        goto out;
      }
      buf = nb;
      cap = ncap;
      continue; /* this member again, with room */
    }
    if (r != LIBDEFLATE_SUCCESS)
      goto out; /* corrupt or truncated: zlib words the error */
    pos += used;
    len += got;
    /* Another member follows?  Go's reader continues with it; trailing
     * bytes that are not a member are ignored. */
    if (n - pos >= 2 && pyr_is_gzip(in + pos, n - pos))
      continue;
    break;
  }
  buf[len] = '\0';
  *out = buf;
  *outlen = len;
  return FAST_OK;
out:
  free(buf);
  return rc;
}

static int gunzip_zlib(const void *in, size_t n, size_t max_out, unsigned char **out,
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

int pyr_gunzip(const void *in, size_t n, size_t max_out, unsigned char **out,
               size_t *outlen, char *err, size_t errlen) {
  *out = NULL;
  *outlen = 0;
  switch (gunzip_fast(in, n, max_out, out, outlen)) {
  case FAST_OK:
    return PYR_GZ_OK;
  case FAST_LIMIT:
    pyr_errf(err, errlen, "decompressed data exceeds %zu bytes", max_out);
    return PYR_GZ_ELIMIT;
  case FAST_NOMEM:
    pyr_errf(err, errlen, "gzip: out of memory");
    return PYR_GZ_ENOMEM;
  case FAST_RETRY_ZLIB:
    break;
  }
  return gunzip_zlib(in, n, max_out, out, outlen, err, errlen);
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
