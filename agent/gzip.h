/*
 * gzip.h - one-shot gzip compression of a buffer (zlib), as the Pyroscope
 * Java agent does for its upload parts (level 1, BEST_SPEED: the CPU cost
 * is paid inside the profiled process, and level 1 already shrinks JFR 5-10x).
 */
#ifndef PYRITE_GZIP_H
#define PYRITE_GZIP_H

#include <stddef.h>
#include <stdint.h>

/* On success *out is malloc'd (caller frees) and 0 is returned. */
int pyr_gzip(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *out_len);

#endif
