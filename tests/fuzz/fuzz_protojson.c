/*
 * fuzz_protojson.c - libFuzzer entry for the Connect JSON codec
 * (server/protojson.c): the request bodies of the querier API and, for
 * wider coverage of the descriptor-driven code, the Push and response
 * messages.
 *
 * Input layout: byte 0 picks the message type (modulo the table below);
 * the rest is the JSON body, handed over without a terminator.
 *
 * Checks: a rejection has a message; an accepted message is written back
 * as JSON, which must read back, and writing that again must give the
 * same text (the writer's output is a fixed point of read+write).
 *
 * Threads: libFuzzer's single thread.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "protojson.h"
#include "push.pb-c.h"
#include "querier.pb-c.h"
#include "query_types.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const types[] = {
    &querier__v1__profile_types_request__descriptor,
    &types__v1__label_names_request__descriptor,
    &types__v1__label_values_request__descriptor,
    &querier__v1__series_request__descriptor,
    &querier__v1__select_merge_stacktraces_request__descriptor,
    &querier__v1__select_merge_profile_request__descriptor,
    &querier__v1__select_series_request__descriptor,
    &querier__v1__diff_request__descriptor,
    &querier__v1__get_profile_stats_request__descriptor,
    &push__v1__push_request__descriptor,
    &querier__v1__select_merge_stacktraces_response__descriptor,
    &querier__v1__select_series_response__descriptor,
    &querier__v1__diff_response__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20))
    return 0;
  const ProtobufCMessageDescriptor *d = types[data[0] % (sizeof(types) / sizeof(types[0]))];
  char err[256];
  err[0] = '\0';
  ProtobufCMessage *m = pyr_protojson_read(d, (const char *)data + 1, size - 1, NULL, err,
                                           sizeof(err));
  FUZZ_LOG("%s %s\n", d->name, m ? "accepted" : err);
  if (m == NULL) {
    if (err[0] == '\0')
      abort();
    return 0;
  }
  pyr_jw w1, w2;
  pyr_jw_init(&w1);
  pyr_jw_init(&w2);
  pyr_protojson_write(&w1, m);
  protobuf_c_message_free_unpacked(m, NULL);
  if (w1.oom)
    goto out;
  m = pyr_protojson_read(d, w1.p, w1.n, NULL, err, sizeof(err));
  if (m == NULL)
    abort(); /* our own output was rejected */
  pyr_protojson_write(&w2, m);
  protobuf_c_message_free_unpacked(m, NULL);
  if (!w2.oom && (w1.n != w2.n || memcmp(w1.p, w2.p, w1.n) != 0))
    abort(); /* write(read(write(m))) != write(m) */
out:
  pyr_jw_free(&w1);
  pyr_jw_free(&w2);
  return 0;
}
