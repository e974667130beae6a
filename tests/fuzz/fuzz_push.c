/*
 * fuzz_push.c - libFuzzer entry for POST /push.v1.PusherService/Push
 * (server/push.c): the PushRequest decoders (binary protobuf through the
 * budgeted allocator, and protojson via jansson with base64 raw
 * profiles), then per sample the gzip sniffing, the pprof decoder and the
 * series building and label validation of server/ingest.c.
 *
 * Input layout: byte 0 picks the transport (bit 0: application/json, else
 * application/proto; bit 1: Content-Encoding gzip); the rest is the body.
 * The environment has no store, so a request that decodes and validates
 * ends in 503 "storage is not open yet" without touching the disk.
 *
 * Checks: the handler always sets a status; any status but 200 carries a
 * Connect code and a message; 200 is impossible without a store.
 *
 * Threads: libFuzzer's single thread.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  pyr_prof_limits pl = pyr_prof_default_limits;
  pl.max_samples = 1u << 14;
  pl.max_locations = 1u << 14;
  pl.max_string_bytes = 4u << 20;
  pl.max_total_frames = 1u << 20;
  pyr_ingest_env env = {
      .store = NULL,
      .metrics = NULL,
      .max_decompressed = 4u << 20,
      .label_limits = {PYR_LABELS_DEFAULT_MAX, PYR_LABEL_DEFAULT_MAX_NAME,
                       PYR_LABEL_DEFAULT_MAX_VALUE},
      .prof_limits = &pl,
  };
  pyr_ingest_params p = {0};
  p.content_type = (data[0] & 1) ? "application/json" : "application/proto";
  p.content_encoding = (data[0] & 2) ? "gzip" : NULL;
  pyr_ingest_result r;
  memset(&r, 0, sizeof(r));
  pyr_ingest_push(&env, "anonymous", &p, data + 1, size - 1, &r);
  FUZZ_LOG("%u %s\n", r.status, r.message);
  if (r.status == 0 || r.status == 200)
    abort();
  if (r.code == NULL || r.message[0] == '\0')
    abort();
  return 0;
}
