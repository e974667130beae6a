/*
 * ingest_gzip.h - bounded gzip decompression for uploads.
 *
 * What: the Java agent gzips each multipart part, pprof bodies and Push
 * raw_profile fields may be gzipped (sniffed by the 1f 8b magic), and
 * Connect requests may carry Content-Encoding: gzip.  Every decompression
 * is capped (--max-decompressed-bytes) so a small "zip bomb" cannot make the
 * server allocate without bound.  Concatenated gzip members are decoded in
 * sequence, as Go's gzip reader does.
 *
 * Threads: any thread; each thread keeps one libdeflate decompressor and
 * each zlib fallback call owns its stream (ingest_gzip.c).
 */
#ifndef PYRITE_SERVER_INGEST_GZIP_H
#define PYRITE_SERVER_INGEST_GZIP_H

#include <stdbool.h>
#include <stddef.h>

enum pyr_gz_rc {
  PYR_GZ_OK = 0,
  PYR_GZ_ELIMIT = -1, /* output would exceed max_out */
  PYR_GZ_EDATA = -2,  /* corrupt or truncated gzip data */
  PYR_GZ_ENOMEM = -3,
};

/* True if p starts with the gzip magic 1f 8b. */
bool pyr_is_gzip(const void *p, size_t n);

/*
 * Inflates the gzip stream in[0..n) into a new malloc'd buffer (*out, freed
 * by the caller, NUL-terminated one byte past *outlen for the text
 * decoders).  At most max_out bytes of output.  On failure *out is NULL and
 * err holds one line.
 */
int pyr_gunzip(const void *in, size_t n, size_t max_out, unsigned char **out,
               size_t *outlen, char *err, size_t errlen);

/*
 * If in starts with the gzip magic, inflates it as above and points
 * *data and *len at the result, which is also returned in *owned for the
 * caller to free; otherwise *data = in, *len = n, *owned = NULL (and n must
 * itself be <= max_out, else PYR_GZ_ELIMIT).
 */
int pyr_maybe_gunzip(const void *in, size_t n, size_t max_out,
                     const unsigned char **data, size_t *len,
                     unsigned char **owned, char *err, size_t errlen);

#endif /* PYRITE_SERVER_INGEST_GZIP_H */
