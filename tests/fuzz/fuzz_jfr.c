/*
 * fuzz_jfr.c - libFuzzer entry for the JFR reader and the JFR -> profiles
 * converter (server/jfr_parse.c, server/jfr_profiles.c, server/profile.c)
 * plus the collapsed-lines printer of `pyrite convert`.
 *
 * Each input is one recording (raw or gzip).  It is converted twice: once
 * alone and once with a small fixed LabelsSnapshot (contexts 1..4), so the
 * label paths run on any input whose events carry contextId.  Limits are
 * lowered so a single input cannot make the fuzzer exceed its RSS limit:
 * the point is that every input ends in a clean result or a clean error.
 *
 * Threads: libFuzzer's single thread.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "jfr_profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LabelsSnapshot{contexts: {1..4: {1: 2}}, strings: {1: "k", 2: "v"}} */
static const uint8_t labels_pb[] = {
    0x0a, 0x0a, 0x08, 0x01, 0x12, 0x06, 0x0a, 0x04, 0x08, 0x01, 0x10, 0x02,
    0x0a, 0x0a, 0x08, 0x02, 0x12, 0x06, 0x0a, 0x04, 0x08, 0x01, 0x10, 0x02,
    0x0a, 0x0a, 0x08, 0x03, 0x12, 0x06, 0x0a, 0x04, 0x08, 0x01, 0x10, 0x02,
    0x0a, 0x0a, 0x08, 0x04, 0x12, 0x06, 0x0a, 0x04, 0x08, 0x01, 0x10, 0x02,
    0x12, 0x05, 0x08, 0x01, 0x12, 0x01, 'k', 0x12, 0x05, 0x08, 0x02, 0x12, 0x01, 'v',
};

static void run(const uint8_t *data, size_t size, const uint8_t *lab, size_t lab_len) {
  pyr_jfrp_limits jl = pyr_jfrp_default_limits;
  jl.max_input = 64u << 20;
  jl.max_alloc = 256u << 20;
  jl.max_pool_entries = 4u << 20;
  pyr_prof_limits pl = pyr_prof_default_limits;
  pl.max_samples = 1u << 16;
  pl.max_locations = 1u << 16;
  pl.max_string_bytes = 16u << 20;
  pl.max_total_frames = 4u << 20;
  pyr_jfr_convert_opts o = {0};
  o.sample_rate = 100;
  o.jfr_limits = &jl;
  o.prof_limits = &pl;
  pyr_prof_list list = {0};
  char ev[64], err[256];
  int rc = pyr_jfr_to_profiles(data, size, lab, lab_len, &o, &list, ev, sizeof(ev), err,
                               sizeof(err));
  if (rc != PYR_JFR_OK && err[0] == '\0')
    abort(); /* every failure must say why */
  for (size_t i = 0; i < list.n; i++) {
    size_t len;
    char *text = pyr_cli_collapsed(list.items[i], &len);
    free(text);
  }
  pyr_prof_list_free(&list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run(data, size, NULL, 0);
  run(data, size, labels_pb, sizeof(labels_pb));
  return 0;
}
