/*
 * test_query_protojson.c - the descriptor-driven protojson codec
 * (server/protojson.c) on the query API's messages: lowerCamelCase output
 * names (ID stays ID), camel or proto names on input, 64-bit integers as
 * strings (numbers accepted), enums by name or number, zero values
 * omitted, bytes as base64, nested and repeated messages, unknown fields
 * ignored, clear errors for wrong types; plus the JSON writer's escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protojson.h"
#include "querier.pb-c.h"
#include "query_types.pb-c.h"
#include "types.pb-c.h"

static char *to_json(const ProtobufCMessage *m) {
  pyr_jw w;
  pyr_jw_init(&w);
  pyr_protojson_write(&w, m);
  size_t len;
  char *s = pyr_jw_take(&w, &len);
  assert_non_null(s);
  assert_int_equal(strlen(s), len);
  return s;
}

static ProtobufCMessage *from_json(const ProtobufCMessageDescriptor *d, const char *json) {
  char err[256] = "";
  ProtobufCMessage *m = pyr_protojson_read(d, json, strlen(json), NULL, err, sizeof(err));
  if (m == NULL)
    fail_msg("'%s' rejected: %s", json, err);
  return m;
}

static void bad_json(const ProtobufCMessageDescriptor *d, const char *json, const char *needle) {
  char err[256] = "";
  ProtobufCMessage *m = pyr_protojson_read(d, json, strlen(json), NULL, err, sizeof(err));
  if (m != NULL) {
    protobuf_c_message_free_unpacked(m, NULL);
    fail_msg("'%s' accepted", json);
  }
  if (strstr(err, needle) == NULL)
    fail_msg("'%s': error '%s' lacks '%s'", json, err, needle);
}

static void test_names(void **state) {
  (void)state;
  char out[64];
  pyr_protojson_name("profile_typeID", out, sizeof(out));
  assert_string_equal(out, "profileTypeID");
  pyr_protojson_name("label_selector", out, sizeof(out));
  assert_string_equal(out, "labelSelector");
  pyr_protojson_name("ID", out, sizeof(out));
  assert_string_equal(out, "ID");
  pyr_protojson_name("leftTicks", out, sizeof(out));
  assert_string_equal(out, "leftTicks");
  pyr_protojson_name("max_self", out, sizeof(out));
  assert_string_equal(out, "maxSelf");
}

static void test_request_both_spellings(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *d = &querier__v1__select_merge_stacktraces_request__descriptor;
  /* the Java itest's proto names, and numbers as numbers */
  Querier__V1__SelectMergeStacktracesRequest *a = (void *)from_json(
      d, "{\"profile_typeID\":\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\","
         "\"label_selector\":\"{service_name=\\\"x\\\"}\",\"start\":1700000000000,"
         "\"end\":\"1700000060000\",\"max_nodes\":16,\"format\":\"PROFILE_FORMAT_TREE\","
         "\"unknownField\":{\"deep\":[1,2]}}");
  assert_string_equal(a->profile_typeid, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  assert_string_equal(a->label_selector, "{service_name=\"x\"}");
  assert_int_equal(a->start, INT64_C(1700000000000));
  assert_int_equal(a->end, INT64_C(1700000060000));
  assert_int_equal(a->max_nodes, 16);
  assert_int_equal(a->format, QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_TREE);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  /* camel names, enum by number, nested message with a snake name inside
   * (Explore Profiles mixes them) */
  a = (void *)from_json(d, "{\"profileTypeID\":\"t:a:b:c:d\",\"labelSelector\":\"{}\","
                           "\"maxNodes\":\"0\",\"format\":2,"
                           "\"stackTraceSelector\":{\"call_site\":[{\"name\":\"main\"},"
                           "{\"name\":\"run\"}]}}");
  assert_string_equal(a->profile_typeid, "t:a:b:c:d");
  assert_int_equal(a->format, 2);
  assert_non_null(a->stack_trace_selector);
  assert_int_equal(a->stack_trace_selector->n_call_site, 2);
  assert_string_equal(a->stack_trace_selector->call_site[1]->name, "run");
  protobuf_c_message_free_unpacked(&a->base, NULL);
  /* empty body and null fields are the empty message */
  a = (void *)from_json(d, "  ");
  assert_string_equal(a->profile_typeid, "");
  protobuf_c_message_free_unpacked(&a->base, NULL);
  a = (void *)from_json(d, "{\"profileTypeID\":null,\"start\":null}");
  assert_int_equal(a->start, 0);
  protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_select_series_request(void **state) {
  (void)state;
  Querier__V1__SelectSeriesRequest *r = (void *)from_json(
      &querier__v1__select_series_request__descriptor,
      "{\"profileTypeID\":\"a:b:c:d:e\",\"groupBy\":[\"integration\",\"env\"],\"step\":15.5,"
      "\"aggregation\":\"TIME_SERIES_AGGREGATION_TYPE_AVERAGE\",\"limit\":\"3\","
      "\"exemplar_type\":\"EXEMPLAR_TYPE_NONE\"}");
  assert_int_equal(r->n_group_by, 2);
  assert_string_equal(r->group_by[1], "env");
  assert_true(r->step == 15.5);
  assert_int_equal(r->aggregation,
                   TYPES__V1__TIME_SERIES_AGGREGATION_TYPE__TIME_SERIES_AGGREGATION_TYPE_AVERAGE);
  assert_int_equal(r->limit, 3);
  assert_int_equal(r->exemplar_type, TYPES__V1__EXEMPLAR_TYPE__EXEMPLAR_TYPE_NONE);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* A negative integral real for an int64 field (fuzz regression,
 * tests/fuzz/regressions/protojson/: was a double -> uint64 conversion,
 * UB that UBSan reports in the ASan build). */
static void test_negative_real(void **state) {
  (void)state;
  Querier__V1__SelectMergeStacktracesRequest *r = (void *)from_json(
      &querier__v1__select_merge_stacktraces_request__descriptor,
      "{\"start\":-6.0,\"end\":-9000000000000000000.0}");
  assert_true(r->start == -6);
  assert_true(r->end == INT64_C(-9000000000000000000));
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_errors(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *d = &querier__v1__select_merge_stacktraces_request__descriptor;
  bad_json(d, "{\"start\":\"soon\"}", "field start: expected an integer");
  bad_json(d, "{\"start\":1.5}", "field start: expected an integer");
  bad_json(d, "{\"profileTypeID\":42}", "field profileTypeID: expected a string");
  bad_json(d, "{\"format\":\"PROFILE_FORMAT_NOPE\"}", "unknown ProfileFormat value");
  bad_json(d, "{\"stackTraceSelector\":[]}", "expected an object");
  bad_json(d, "[1,2]", "expected a JSON object");
  bad_json(d, "{\"start\":", "invalid JSON");
  bad_json(&types__v1__label_values_request__descriptor, "{\"matchers\":\"{}\"}",
           "field matchers: expected an array");
  bad_json(&types__v1__label_values_request__descriptor, "{\"matchers\":[\"a\",null]}",
           "null inside an array");
  bad_json(&types__v1__label_values_request__descriptor, "{\"name\":\"a\",\"name\":\"b\"}",
           "invalid JSON");
}

static void test_response_output(void **state) {
  (void)state;
  /* FlameGraph: int64 as strings, camel names, zeros omitted */
  int64_t v0[] = {0, 10, 0, 0}, v1[] = {0, 10, 10, 1};
  Querier__V1__Level l0 = QUERIER__V1__LEVEL__INIT, l1 = QUERIER__V1__LEVEL__INIT;
  l0.n_values = 4;
  l0.values = v0;
  l1.n_values = 4;
  l1.values = v1;
  Querier__V1__Level *lv[] = {&l0, &l1};
  char *names[] = {"total", "main"};
  Querier__V1__FlameGraph fg = QUERIER__V1__FLAME_GRAPH__INIT;
  fg.n_names = 2;
  fg.names = names;
  fg.n_levels = 2;
  fg.levels = lv;
  fg.total = 10;
  fg.max_self = 10;
  Querier__V1__SelectMergeStacktracesResponse r =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_RESPONSE__INIT;
  r.flamegraph = &fg;
  char *s = to_json(&r.base);
  assert_string_equal(s, "{\"flamegraph\":{\"names\":[\"total\",\"main\"],\"levels\":[{\"values\":"
                         "[\"0\",\"10\",\"0\",\"0\"]},{\"values\":[\"0\",\"10\",\"10\",\"1\"]}],"
                         "\"total\":\"10\",\"maxSelf\":\"10\"}}");
  free(s);
  /* empty message -> {} */
  Types__V1__LabelValuesResponse e = TYPES__V1__LABEL_VALUES_RESPONSE__INIT;
  s = to_json(&e.base);
  assert_string_equal(s, "{}");
  free(s);
  /* ProfileType keeps ID; bool, doubles, enums by name, bytes base64 */
  Types__V1__ProfileType pt = TYPES__V1__PROFILE_TYPE__INIT;
  pt.id = "a:b:c:d:e";
  pt.name = "a";
  pt.sample_type = "b";
  s = to_json(&pt.base);
  assert_string_equal(s, "{\"ID\":\"a:b:c:d:e\",\"name\":\"a\",\"sampleType\":\"b\"}");
  free(s);
  Querier__V1__GetProfileStatsResponse st = QUERIER__V1__GET_PROFILE_STATS_RESPONSE__INIT;
  st.data_ingested = 1;
  st.oldest_profile_time = 1700000000000;
  s = to_json(&st.base);
  assert_string_equal(s, "{\"dataIngested\":true,\"oldestProfileTime\":\"1700000000000\"}");
  free(s);
  Types__V1__Point p = TYPES__V1__POINT__INIT;
  p.value = 1.25;
  p.timestamp = -5;
  s = to_json(&p.base);
  assert_string_equal(s, "{\"value\":1.25,\"timestamp\":\"-5\"}");
  free(s);
  p.value = 1.2e9;
  p.timestamp = 0;
  s = to_json(&p.base);
  assert_string_equal(s, "{\"value\":1200000000}");
  free(s);
  Querier__V1__SelectMergeStacktracesRequest rq =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__INIT;
  rq.format = QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_TREE;
  s = to_json(&rq.base);
  assert_string_equal(s, "{\"format\":\"PROFILE_FORMAT_TREE\"}");
  free(s);
  Querier__V1__SelectMergeStacktracesResponse tr =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_RESPONSE__INIT;
  uint8_t bytes[] = {0, 1, 2, 0xfb, 0xff};
  tr.tree.data = bytes;
  tr.tree.len = sizeof(bytes);
  s = to_json(&tr.base);
  assert_string_equal(s, "{\"tree\":\"AAEC+/8=\"}");
  /* and back */
  Querier__V1__SelectMergeStacktracesResponse *back = (void *)from_json(
      &querier__v1__select_merge_stacktraces_response__descriptor, s);
  assert_int_equal(back->tree.len, sizeof(bytes));
  assert_memory_equal(back->tree.data, bytes, sizeof(bytes));
  protobuf_c_message_free_unpacked(&back->base, NULL);
  free(s);
  /* URL-safe base64 without padding is accepted too */
  back = (void *)from_json(&querier__v1__select_merge_stacktraces_response__descriptor,
                           "{\"tree\":\"AAEC-_8\"}");
  assert_int_equal(back->tree.len, sizeof(bytes));
  assert_memory_equal(back->tree.data, bytes, sizeof(bytes));
  protobuf_c_message_free_unpacked(&back->base, NULL);
}

/* JSON -> message -> binary -> message -> JSON is stable. */
static void test_roundtrip(void **state) {
  (void)state;
  const char *in = "{\"left\":{\"profileTypeID\":\"a:b:c:d:e\",\"labelSelector\":\"{x=\\\"\\u00e9\\\"}\","
                   "\"start\":\"1\",\"end\":\"2\",\"maxNodes\":\"9\"},\"right\":{\"profileTypeID\":"
                   "\"a:b:c:d:e\",\"format\":\"PROFILE_FORMAT_FLAMEGRAPH\"}}";
  ProtobufCMessage *m = from_json(&querier__v1__diff_request__descriptor, in);
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n);
  protobuf_c_message_pack(m, buf);
  ProtobufCMessage *m2 = protobuf_c_message_unpack(&querier__v1__diff_request__descriptor, NULL, n, buf);
  assert_non_null(m2);
  char *a = to_json(m), *b = to_json(m2);
  assert_string_equal(a, b);
  assert_string_equal(a, "{\"left\":{\"profileTypeID\":\"a:b:c:d:e\",\"labelSelector\":"
                         "\"{x=\\\"\xc3\xa9\\\"}\",\"start\":\"1\",\"end\":\"2\",\"maxNodes\":\"9\"},"
                         "\"right\":{\"profileTypeID\":\"a:b:c:d:e\",\"format\":"
                         "\"PROFILE_FORMAT_FLAMEGRAPH\"}}");
  free(a);
  free(b);
  free(buf);
  protobuf_c_message_free_unpacked(m, NULL);
  protobuf_c_message_free_unpacked(m2, NULL);
}

static void test_writer(void **state) {
  (void)state;
  pyr_jw w;
  pyr_jw_init(&w);
  pyr_jw_str(&w, "a\"b\\c\n\x01\xc3\xa9\xff", 10);
  pyr_jw_c(&w, ' ');
  pyr_jw_i64(&w, INT64_MIN);
  pyr_jw_c(&w, ' ');
  pyr_jw_u64(&w, UINT64_MAX);
  pyr_jw_c(&w, ' ');
  pyr_jw_double(&w, 0.1);
  size_t len;
  char *s = pyr_jw_take(&w, &len);
  assert_string_equal(s, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\xef\xbf\xbd\" -9223372036854775808 "
                         "18446744073709551615 0.1");
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),           cmocka_unit_test(test_request_both_spellings),
      cmocka_unit_test(test_select_series_request), cmocka_unit_test(test_negative_real),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_response_output), cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_writer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
