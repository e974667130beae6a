/* Unit tests for the upload path's pure parts: retry verdicts, backoff
 * bounds, the series name, the drop-oldest queue and gzip round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "gzip.h"
#include "options.h"
#include "shipper.h"
#include "upload_queue.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static void test_classify(void **state) {
  (void)state;
  /* Network trouble retries; TLS and URL problems cannot get better. */
  assert_int_equal(pyr_shipper_classify(CURLE_COULDNT_CONNECT, 0), PYR_SHIP_RETRY);
  assert_int_equal(pyr_shipper_classify(CURLE_OPERATION_TIMEDOUT, 0), PYR_SHIP_RETRY);
  assert_int_equal(pyr_shipper_classify(CURLE_COULDNT_RESOLVE_HOST, 0), PYR_SHIP_RETRY);
  assert_int_equal(pyr_shipper_classify(CURLE_RECV_ERROR, 0), PYR_SHIP_RETRY);
  assert_int_equal(pyr_shipper_classify(CURLE_SSL_CONNECT_ERROR, 0), PYR_SHIP_RETRY);
  assert_int_equal(pyr_shipper_classify(CURLE_PEER_FAILED_VERIFICATION, 0), PYR_SHIP_DROP);
  assert_int_equal(pyr_shipper_classify(CURLE_SSL_CACERT_BADFILE, 0), PYR_SHIP_DROP);
  assert_int_equal(pyr_shipper_classify(CURLE_UNSUPPORTED_PROTOCOL, 0), PYR_SHIP_DROP);
  assert_true(pyr_shipper_tls_error(CURLE_PEER_FAILED_VERIFICATION));
  assert_true(pyr_shipper_tls_error(CURLE_SSL_CACERT_BADFILE));
  assert_false(pyr_shipper_tls_error(CURLE_COULDNT_CONNECT));
  assert_false(pyr_shipper_tls_error(CURLE_UNSUPPORTED_PROTOCOL));
  assert_int_equal(pyr_shipper_classify(0, 200), PYR_SHIP_OK);
  assert_int_equal(pyr_shipper_classify(0, 204), PYR_SHIP_OK);
  assert_int_equal(pyr_shipper_classify(0, 429), PYR_SHIP_RETRY);
  assert_int_equal(pyr_shipper_classify(0, 500), PYR_SHIP_RETRY);
  assert_int_equal(pyr_shipper_classify(0, 503), PYR_SHIP_RETRY);
  assert_int_equal(pyr_shipper_classify(0, 400), PYR_SHIP_DROP);
  assert_int_equal(pyr_shipper_classify(0, 401), PYR_SHIP_DROP);
  assert_int_equal(pyr_shipper_classify(0, 413), PYR_SHIP_DROP);
  assert_int_equal(pyr_shipper_classify(0, 302), PYR_SHIP_DROP);
}

static void test_backoff(void **state) {
  (void)state;
  /* Full jitter: [0, min(30 s, 1 s * 2^attempt)). */
  assert_int_equal(pyr_shipper_backoff_ns(0, 0.0), 0);
  assert_true(pyr_shipper_backoff_ns(0, 0.999) < 1000000000ull);
  assert_true(pyr_shipper_backoff_ns(0, 0.5) == 500000000ull);
  assert_true(pyr_shipper_backoff_ns(3, 0.999) < 8000000000ull);
  assert_true(pyr_shipper_backoff_ns(3, 0.999) > 7000000000ull);
  assert_true(pyr_shipper_backoff_ns(10, 0.999) < 30000000000ull);
  assert_true(pyr_shipper_backoff_ns(10, 0.999) > 29000000000ull);
  assert_true(pyr_shipper_backoff_ns(63, 0.999) < 30000000000ull); /* no overflow */
  assert_true(pyr_shipper_backoff_ns(2, 5.0) < 4000000000ull);     /* r clamped */
}

static void test_series_name(void **state) {
  pyr_options o;
  char err[256], buf[256];
  (void)state;
  assert_int_equal(pyr_options_parse(&o, "app=orders,label.zone=b,label.env=prod", NULL, err,
                                     sizeof(err)), 0);
  assert_true(pyr_shipper_series_name(&o, buf, sizeof(buf)) > 0);
  assert_string_equal(buf, "orders{env=prod,zone=b}");
  assert_int_equal(pyr_shipper_series_name(&o, buf, 10), -1); /* too small: no overflow */
  pyr_options_free(&o);
  assert_int_equal(pyr_options_parse(&o, NULL, NULL, err, sizeof(err)), 0);
  assert_true(pyr_shipper_series_name(&o, buf, sizeof(buf)) > 0);
  assert_string_equal(buf, "java{}");
  pyr_options_free(&o);
}

/* The upload URL and the part the info line prints ("/ingest?..."), also
 * when server= ends in one or more '/'. */
static void test_build_url(void **state) {
  static const char *const servers[] = {"http://h:4040", "http://h:4040/", "http://h:4040//",
                                        "https://p.example.com/prefix/"};
  static const char *const bases[] = {"http://h:4040", "http://h:4040", "http://h:4040",
                                      "https://p.example.com/prefix"};
  const char *query = "/ingest?name=orders%7Benv%3Dprod%7D&spyName=javaspy&units=samples"
                      "&aggregationType=sum&format=jfr";
  char err[256], want[512];
  (void)state;
  for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
    pyr_options o;
    char opts[256];
    size_t off = 9999;
    snprintf(opts, sizeof(opts), "app=orders,label.env=prod,server=%s", servers[i]);
    assert_int_equal(pyr_options_parse(&o, opts, NULL, err, sizeof(err)), 0);
    char *url = pyr_shipper_build_url(&o, &off);
    assert_non_null(url);
    snprintf(want, sizeof(want), "%s%s", bases[i], query);
    assert_string_equal(url, want);
    assert_int_equal(off, strlen(bases[i]));
    assert_string_equal(url + off, query);
    free(url);
    pyr_options_free(&o);
  }
}

static pyr_upload make(uint64_t id) {
  pyr_upload u = {.body = malloc(8), .len = 8, .from_s = id, .until_s = id + 1};
  memcpy(u.body, &id, sizeof(id));
  return u;
}

static void test_queue_drops_oldest(void **state) {
  pyr_upload_queue q;
  pyr_upload u;
  (void)state;
  assert_int_equal(pyr_upload_queue_init(&q, 3), 0);
  for (uint64_t i = 1; i <= 5; i++) {
    u = make(i);
    pyr_upload_queue_push(&q, &u);
    assert_null(u.body); /* ownership moved */
  }
  assert_int_equal(pyr_upload_queue_count(&q), 3);
  assert_int_equal(pyr_upload_queue_dropped(&q), 2);
  for (uint64_t want = 3; want <= 5; want++) {
    assert_int_equal(pyr_upload_queue_pop(&q, &u, 1), 1);
    assert_int_equal(u.from_s, want); /* the newest survive, in order */
    free(u.body);
  }
  /* Empty: a past deadline returns at once. */
  assert_int_equal(pyr_upload_queue_pop(&q, &u, 1), 0);
  u = make(9);
  pyr_upload_queue_push(&q, &u);
  pyr_upload_queue_close(&q);
  assert_int_equal(pyr_upload_queue_pop(&q, &u, 0), 1); /* drains after close */
  free(u.body);
  assert_int_equal(pyr_upload_queue_pop(&q, &u, 0), 0); /* closed and empty: no wait */
  pyr_upload_queue_destroy(&q);
}

static void test_gzip_roundtrip(void **state) {
  uint8_t in[10000], *gz = NULL, out[10000];
  size_t gzlen = 0;
  uLongf outlen = sizeof(out);
  z_stream zs;
  (void)state;
  for (size_t i = 0; i < sizeof(in); i++)
    in[i] = (uint8_t)(i % 7 == 0 ? i : 'x');
  assert_int_equal(pyr_gzip(in, sizeof(in), 1, &gz, &gzlen), 0);
  assert_true(gzlen > 18 && gzlen < sizeof(in));
  assert_int_equal(gz[0], 0x1f);
  assert_int_equal(gz[1], 0x8b);
  memset(&zs, 0, sizeof(zs));
  assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = gz;
  zs.avail_in = (uInt)gzlen;
  zs.next_out = out;
  zs.avail_out = (uInt)outlen;
  assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
  assert_int_equal(zs.total_out, sizeof(in));
  inflateEnd(&zs);
  assert_memory_equal(in, out, sizeof(in));
  free(gz);
  assert_int_equal(pyr_gzip(in, 0, 1, &gz, &gzlen), 0); /* empty input is valid gzip */
  free(gz);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify),          cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_series_name),       cmocka_unit_test(test_queue_drops_oldest),
      cmocka_unit_test(test_gzip_roundtrip),    cmocka_unit_test(test_build_url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
