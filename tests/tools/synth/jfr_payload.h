/*
 * jfr_payload.h - the synthetic agent upload the ingest load tools send
 * (ingest_load, load_mixed): a JFR chunk written with the agent's own
 * writer (agent/jfr_writer.h), shaped like a 10 s upload of a busy
 * service, and a gzip helper.
 *
 * Threads: not thread-safe (one private PRNG); call before starting load.
 */
#ifndef PYRITE_TOOLS_JFR_PAYLOAD_H
#define PYRITE_TOOLS_JFR_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

/* nsamples CPU samples (+1/4 allocations, +1/40 monitor events) over
 * nstacks distinct stacks; *out is malloc'd.  0 or -1. */
int load_synth_jfr(unsigned nsamples, unsigned nstacks, uint8_t **out, size_t *len);

/* gzip (level 1, as a cheap agent would) of in[0..n); *out is malloc'd. */
int load_gzip1(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen);

#endif
