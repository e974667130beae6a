/*
 * fuzz_pprof.c - libFuzzer entry for pprof (google.v1.Profile) bodies
 * (server/pprof.c with the budgeted protobuf allocator of pb_budget.c) and
 * the gzip sniffing in front of it (server/ingest_gzip.c), as the /ingest
 * `profile` part and Push's raw_profile reach them.
 *
 * The input is a pprof, plain or gzipped.  It is inflated with a 4 MiB cap,
 * decoded with lowered profile limits and the default protobuf budget
 * (64 x input), and every resulting profile is encoded back to pprof and
 * decoded again: what the decoder accepted, the encoder must write in a
 * form the decoder accepts (or a limit is hit).
 *
 * Threads: libFuzzer's single thread.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ingest_gzip.h"
#include "pprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pyr_prof_limits limits(void) {
  pyr_prof_limits l = pyr_prof_default_limits;
  l.max_samples = 1u << 14;
  l.max_locations = 1u << 14;
  l.max_string_bytes = 4u << 20;
  l.max_total_frames = 1u << 20;
  return l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const unsigned char *buf;
  size_t len;
  unsigned char *owned = NULL;
  char err[256];
  err[0] = '\0';
  int g = pyr_maybe_gunzip(data, size, 4u << 20, &buf, &len, &owned, err, sizeof(err));
  if (g != PYR_GZ_OK) {
    if (err[0] == '\0')
      abort();
    return 0;
  }
  pyr_prof_limits lim = limits();
  pyr_pprof_opts o = {.limits = &lim, .default_time_ns = 1700000000000000000LL};
  pyr_prof_list list = {0};
  err[0] = '\0';
  int rc = pyr_pprof_decode(buf, len, &o, &list, err, sizeof(err));
  FUZZ_LOG("rc %d, %zu profiles %s\n", rc, list.n, err);
  if (rc == PYR_PROF_EINVAL && err[0] == '\0')
    abort();
  if (rc == PYR_PROF_OK) {
    for (size_t i = 0; i < list.n; i++) {
      uint8_t *enc = NULL;
      size_t elen = 0;
      if (pyr_pprof_encode(list.items[i], &enc, &elen) != 0)
        continue; /* out of memory only */
      pyr_prof_list again = {0};
      pyr_pprof_opts o2 = {.limits = &lim, .metric = pyr_prof_get_type(list.items[i])->name,
                           .default_time_ns = 1};
      err[0] = '\0';
      int rc2 = pyr_pprof_decode(enc, elen, &o2, &again, err, sizeof(err));
      if (rc2 == PYR_PROF_EINVAL)
        abort(); /* our own encoding of a decoded profile was rejected */
      pyr_prof_list_free(&again);
      free(enc);
    }
  }
  pyr_prof_list_free(&list);
  free(owned);
  return 0;
}
