/*
 * jfr_payload.c - synthetic agent upload for the load tools (see
 * jfr_payload.h).  Moved here from ingest_load.c so that ingest_load and
 * load_mixed send byte-identical payloads.
 *
 * Threads: one caller at a time (file-static PRNG state).
 */
#include "jfr_payload.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "jfr_writer.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* A JFR chunk like a 10 s upload of a busy service: 16 worker threads, a
 * call tree of framework + business methods, samples spread Zipf-like over
 * ~400 distinct stacks. */
int load_synth_jfr(unsigned nsamples, unsigned nstacks, uint8_t **out,
                     size_t *len) {
  const uint64_t t0 = 1000000000ull, span = 10000000000ull;
  pyr_jfr_config cfg = {.start_nanos = 1700000000000000000ull,
                        .start_ticks = t0,
                        .key_base = 0,
                        .max_bytes = 64u << 20};
  pyr_jfr *w = pyr_jfr_new(&cfg);
  if (w == NULL)
    return -1;
  static const char *const pkgs[] = {"com/example/orders", "com/example/payments",
                                     "com/example/inventory", "io/netty/channel",
                                     "org/springframework/web/servlet",
                                     "com/fasterxml/jackson/databind",
                                     "java/util/concurrent", "org/hibernate/internal"};
  static const char *const verbs[] = {"handle", "process", "invoke", "apply",
                                      "serialize", "lookup", "validate",
                                      "compute", "dispatch", "read", "write",
                                      "encode"};
  enum { NCLASS = 96, NMETH = 480, NSTACK_MAX = 4096, NTHREAD = 16 };
  uint64_t cls[NCLASS], meth[NMETH], stacks[NSTACK_MAX], threads[NTHREAD];
  const unsigned NSTACK = nstacks > NSTACK_MAX ? NSTACK_MAX : nstacks;
  char buf[160];
  for (int i = 0; i < NCLASS; i++) {
    snprintf(buf, sizeof(buf), "%s/Component%02dService%s", pkgs[i % 8], i,
             i % 3 ? "Impl" : "");
    cls[i] = pyr_jfr_class(w, buf, 1);
  }
  for (int i = 0; i < NMETH; i++) {
    snprintf(buf, sizeof(buf), "%s%s%d", verbs[i % 12], i % 2 ? "Request" : "Batch",
             i / 12);
    meth[i] = pyr_jfr_method(w, cls[i % NCLASS], buf, "(Ljava/lang/Object;)V", 1,
                             false);
  }
  for (int i = 0; i < NTHREAD; i++) {
    snprintf(buf, sizeof(buf), "pool-1-thread-%d", i + 1);
    threads[i] = pyr_jfr_thread(w, 20000 + (uint32_t)i, buf, buf, 30 + i);
  }
  /* Stacks share long common prefixes, as real ones do. */
  pyr_jfr_frame fr[96];
  for (unsigned s = 0; s < NSTACK; s++) {
    int depth = 20 + (int)(rnd() % 30);
    uint64_t base = (uint64_t)s / 16; /* families share a long prefix */
    for (int d = 0; d < depth; d++) {
      /* Deeper frames vary among a family's few dozen methods. */
      int m = d < 16 ? (int)((base * 7 + (uint64_t)d * 13) % NMETH)
                     : (int)((base * 31 + (rnd() % 24) * 17) % NMETH);
      fr[depth - 1 - d] = (pyr_jfr_frame){meth[m], 10 + (m % 300), d,
                                          d == depth - 1 ? PYR_JFR_FRAME_JIT
                                                         : PYR_JFR_FRAME_INLINED};
    }
    stacks[s] = pyr_jfr_stack(w, fr, (uint32_t)depth, false);
  }
  pyr_jfr_active_setting(w, t0, "event", "itimer");
  for (unsigned i = 0; i < nsamples; i++) {
    /* Skewed: a few stacks get most samples. */
    uint64_t r = rnd() % 1000;
    unsigned s = (unsigned)((r * r / 1000) * NSTACK / 1000);
    pyr_jfr_execution_sample(w, t0 + span * i / nsamples, threads[i % NTHREAD],
                             stacks[s], PYR_JFR_STATE_RUNNABLE);
  }
  for (unsigned i = 0; i < nsamples / 4; i++)
    pyr_jfr_alloc_in_new_tlab(w, t0 + span * i / (nsamples / 4 + 1),
                              threads[i % NTHREAD], stacks[rnd() % NSTACK],
                              cls[rnd() % NCLASS], 64 + rnd() % 4096,
                              524288);
  for (unsigned i = 0; i < nsamples / 40; i++)
    pyr_jfr_monitor_enter(w, t0 + span * i / (nsamples / 40 + 1), 12000000,
                          threads[i % NTHREAD], stacks[rnd() % NSTACK],
                          cls[rnd() % NCLASS], 0x7f0000001000ull + i * 64);
  int rc = pyr_jfr_finish(w, t0 + span, out, len);
  pyr_jfr_free(w);
  return rc;
}

int load_gzip1(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  size_t cap = deflateBound(&zs, (uLong)n) + 64;
  *out = malloc(cap);
  if (*out == NULL) {
    deflateEnd(&zs);
    return -1;
  }
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)n;
  zs.next_out = *out;
  zs.avail_out = (uInt)cap;
  int z = deflate(&zs, Z_FINISH);
  *outlen = zs.total_out;
  deflateEnd(&zs);
  return z == Z_STREAM_END ? 0 : -1;
}

