/*
 * test_ingest_series.c - from decoded profiles to storage entries
 * (server/ingest.c): one series per value column and per distinct dynamic
 * label set, series labels winning on clashes, span_id kept sample-level
 * (label sets merged into one series), private labels, __delta__ dropped,
 * validation failures, Push's wall/cpu relabelling; plus the bounded gzip
 * helper and the sampleRate rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "ingest.h"
#include "ingest_gzip.h"
#include "labels.h"
#include "profile.h"

static const pyr_label_limits LIM = {30, 1024, 2048};

static uint32_t str(pyr_prof *p, const char *s) {
  int64_t id = pyr_prof_intern(p, s, strlen(s));
  assert_true(id >= 0);
  return (uint32_t)id;
}

static uint32_t lset(pyr_prof *p, const char *k1, const char *v1,
                     const char *k2, const char *v2) {
  pyr_prof_label l[2] = {{str(p, k1), str(p, v1)}, {0, 0}};
  size_t n = 1;
  if (k2 != NULL) {
    l[1].key = str(p, k2);
    l[1].value = str(p, v2);
    n = 2;
  }
  int64_t id = pyr_prof_labelset(p, l, n);
  assert_true(id > 0);
  return (uint32_t)id;
}

static pyr_prof *mem_prof(void) {
  pyr_prof_type t;
  memset(&t, 0, sizeof(t));
  strcpy(t.name, "memory");
  t.nvalues = 2;
  strcpy(t.sample_type[0], "alloc_in_new_tlab_objects");
  strcpy(t.sample_unit[0], "count");
  strcpy(t.sample_type[1], "alloc_in_new_tlab_bytes");
  strcpy(t.sample_unit[1], "bytes");
  strcpy(t.period_type, "space");
  strcpy(t.period_unit, "bytes");
  pyr_prof *p = pyr_prof_new(&t, &pyr_prof_default_limits);
  assert_non_null(p);
  return p;
}

static void add(pyr_prof *p, const char *frame, uint32_t ls, int64_t a,
                int64_t b) {
  uint32_t loc = (uint32_t)pyr_prof_location(p, str(p, frame), 1);
  assert_int_equal(pyr_prof_add(p, &loc, 1, ls, (int64_t[]){a, b}), 0);
}

static void base_labels(pyr_labels *b) {
  pyr_labels_init(b);
  pyr_labels_put_str(b, "service_name", "orders");
  pyr_labels_put_str(b, "env", "prod");
  pyr_labels_put_str(b, "__delta__", "false");
  pyr_labels_put_str(b, "pyroscope_spy", "javaspy");
}

/* Index of the entry whose labels have name=value pairs all matching. */
static ssize_t find(const pyr_ingest_batch *b, const char *const *kv) {
  for (size_t i = 0; i < pyr_ingest_batch_count(b); i++) {
    const pyr_labels *l = pyr_ingest_batch_labels(b, i);
    bool ok = true;
    for (size_t j = 0; kv[j] != NULL; j += 2) {
      const char *v = pyr_labels_get(l, kv[j]);
      if (kv[j + 1] == NULL ? v != NULL : (v == NULL || strcmp(v, kv[j + 1]) != 0))
        ok = false;
    }
    if (ok)
      return (ssize_t)i;
  }
  return -1;
}

static void test_columns_and_private_labels(void **state) {
  (void)state;
  pyr_prof *p = mem_prof();
  add(p, "a", 0, 1, 100);
  pyr_labels base;
  base_labels(&base);
  pyr_ingest_batch *b = pyr_ingest_batch_new();
  char err[256] = "";
  pyr_series_opts o = {.from_ns = 5, .until_ns = 6};
  assert_int_equal(pyr_ingest_batch_add(b, p, &base, &o, &LIM, err, sizeof(err)), 0);
  assert_int_equal(pyr_ingest_batch_count(b), 2);

  const char *q0[] = {"__profile_type__",
                      "memory:alloc_in_new_tlab_objects:count:space:bytes",
                      "__name__", "memory", "__type__",
                      "alloc_in_new_tlab_objects", "__unit__", "count",
                      "__period_type__", "space", "__period_unit__", "bytes",
                      "__service_name__", "orders", "service_name", "orders",
                      "env", "prod", "pyroscope_spy", "javaspy",
                      "__delta__", NULL, NULL};
  ssize_t i = find(b, q0);
  assert_true(i >= 0);
  const pyr_labels *l = pyr_ingest_batch_labels(b, (size_t)i);
  assert_int_equal(l->n, 10);
  for (size_t k = 1; k < l->n; k++) /* sorted */
    assert_true(strcmp(l->v[k - 1].name, l->v[k].name) < 0);
  const pyr_prof *ep;
  uint32_t col, ls;
  pyr_ingest_batch_entry(b, (size_t)i, &ep, &col, &ls);
  assert_ptr_equal(ep, p);
  assert_int_equal(col, 0);
  assert_int_equal(ls, 0);

  const char *q1[] = {"__profile_type__",
                      "memory:alloc_in_new_tlab_bytes:bytes:space:bytes", NULL};
  i = find(b, q1);
  assert_true(i >= 0);
  pyr_ingest_batch_entry(b, (size_t)i, &ep, &col, &ls);
  assert_int_equal(col, 1);

  pyr_ingest_batch_free(b);
  pyr_labels_free(&base);
  pyr_prof_free(p);
}

static void test_dynamic_label_split(void **state) {
  (void)state;
  pyr_prof *p = mem_prof();
  uint32_t redis = lset(p, "integration", "redis", NULL, NULL);
  uint32_t kafka = lset(p, "integration", "kafka", NULL, NULL);
  /* env clashes with a series label: the series value wins, so this set
   * becomes the same series as "no labels". */
  uint32_t clash = lset(p, "env", "dev", NULL, NULL);
  /* span_id is sample-level: same series as redis. */
  uint32_t redis_span = lset(p, "integration", "redis", "span_id", "00ab");
  add(p, "none", 0, 1, 10);
  add(p, "r", redis, 1, 10);
  add(p, "k", kafka, 1, 10);
  add(p, "c", clash, 1, 10);
  add(p, "rs", redis_span, 1, 10);

  pyr_labels base;
  base_labels(&base);
  pyr_ingest_batch *b = pyr_ingest_batch_new();
  char err[256] = "";
  pyr_series_opts o = {0};
  assert_int_equal(pyr_ingest_batch_add(b, p, &base, &o, &LIM, err, sizeof(err)), 0);
  /* 3 series (none+clash, redis+redis_span, kafka) x 2 columns. */
  assert_int_equal(pyr_ingest_batch_count(b), 6);
  const char *qk[] = {"integration", "kafka", "__type__", "alloc_in_new_tlab_bytes",
                      NULL};
  ssize_t i = find(b, qk);
  assert_true(i >= 0);
  const pyr_prof *ep;
  uint32_t col, ls;
  pyr_ingest_batch_entry(b, (size_t)i, &ep, &col, &ls);
  assert_ptr_equal(ep, p); /* a single label set: no copy, filtered */
  assert_int_equal(ls, kafka);
  assert_int_equal(col, 1);

  const char *qr[] = {"integration", "redis", "__type__",
                      "alloc_in_new_tlab_objects", "span_id", NULL, NULL};
  i = find(b, qr);
  assert_true(i >= 0);
  pyr_ingest_batch_entry(b, (size_t)i, &ep, &col, &ls);
  assert_ptr_not_equal(ep, p); /* merged copy of two label sets */
  assert_int_equal(ls, 0);
  assert_int_equal(pyr_prof_nsamples(ep), 2);

  const char *qn[] = {"integration", NULL, "env", "prod", "__type__",
                      "alloc_in_new_tlab_objects", NULL};
  i = find(b, qn);
  assert_true(i >= 0);
  pyr_ingest_batch_entry(b, (size_t)i, &ep, &col, &ls);
  assert_int_equal(pyr_prof_nsamples(ep), 2); /* none + clash merged */

  pyr_ingest_batch_free(b);
  pyr_labels_free(&base);
  pyr_prof_free(p);
}

static void test_validation_and_relabel(void **state) {
  (void)state;
  pyr_labels base;
  char err[256] = "";
  pyr_series_opts o = {0};

  /* EINVAL, not -1 (PYR_PROF_ENOMEM): the HTTP layer turns it into a 4xx. */
  /* A dynamic label with a bad name fails the whole upload. */
  pyr_prof *p = mem_prof();
  add(p, "x", lset(p, "bad-name", "v", NULL, NULL), 1, 1);
  base_labels(&base);
  pyr_ingest_batch *b = pyr_ingest_batch_new();
  assert_int_equal(pyr_ingest_batch_add(b, p, &base, &o, &LIM, err, sizeof(err)), PYR_PROF_EINVAL);
  assert_non_null(strstr(err, "invalid label name 'bad-name'"));
  pyr_ingest_batch_free(b);
  pyr_prof_free(p);

  /* Too many labels. */
  p = mem_prof();
  add(p, "x", 0, 1, 1);
  pyr_label_limits tight = {3, 1024, 2048}; /* 4 needed */
  b = pyr_ingest_batch_new();
  assert_int_equal(pyr_ingest_batch_add(b, p, &base, &o, &tight, err, sizeof(err)), PYR_PROF_EINVAL);
  assert_non_null(strstr(err, "too many labels"));
  pyr_ingest_batch_free(b);
  pyr_prof_free(p);
  pyr_labels_free(&base);

  /* Push relabelling: __name__=wall, type cpu -> process_cpu. */
  pyr_prof_type t;
  memset(&t, 0, sizeof(t));
  strcpy(t.name, "wall");
  t.nvalues = 2;
  strcpy(t.sample_type[0], "samples");
  strcpy(t.sample_unit[0], "count");
  strcpy(t.sample_type[1], "cpu");
  strcpy(t.sample_unit[1], "nanoseconds");
  p = pyr_prof_new(&t, &pyr_prof_default_limits);
  add(p, "x", 0, 1, 1);
  pyr_labels_init(&base);
  pyr_labels_put_str(&base, "service_name", "svc");
  pyr_labels_put_str(&base, "__name__", "wall");
  pyr_series_opts ro = {.relabel_wall_cpu = true};
  b = pyr_ingest_batch_new();
  assert_int_equal(pyr_ingest_batch_add(b, p, &base, &ro, &LIM, err, sizeof(err)), 0);
  const char *qc[] = {"__profile_type__", "process_cpu:cpu:nanoseconds::", NULL};
  const char *qw[] = {"__profile_type__", "wall:samples:count::", NULL};
  assert_true(find(b, qc) >= 0);
  assert_true(find(b, qw) >= 0);
  pyr_ingest_batch_free(b);
  pyr_labels_free(&base);
  pyr_prof_free(p);
}

static size_t gz(const void *in, size_t n, unsigned char *out, size_t cap) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + 15, 8,
                                Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)n;
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
  size_t len = zs.total_out;
  deflateEnd(&zs);
  return len;
}

static void test_gzip(void **state) {
  (void)state;
  static unsigned char plain[200000], comp[300000];
  for (size_t i = 0; i < sizeof(plain); i++)
    plain[i] = (unsigned char)(i * 7 % 13);
  size_t cl = gz(plain, sizeof(plain), comp, sizeof(comp));
  unsigned char *out = NULL;
  size_t ol = 0;
  char err[128];
  assert_true(pyr_is_gzip(comp, cl));
  assert_int_equal(pyr_gunzip(comp, cl, sizeof(plain), &out, &ol, err, sizeof(err)),
                   PYR_GZ_OK);
  assert_int_equal(ol, sizeof(plain));
  assert_memory_equal(out, plain, ol);
  free(out);
  /* One byte over the cap. */
  assert_int_equal(pyr_gunzip(comp, cl, sizeof(plain) - 1, &out, &ol, err,
                              sizeof(err)), PYR_GZ_ELIMIT);
  assert_null(out);
  /* Truncated and corrupt streams. */
  assert_int_equal(pyr_gunzip(comp, cl / 2, sizeof(plain), &out, &ol, err,
                              sizeof(err)), PYR_GZ_EDATA);
  assert_non_null(strstr(err, "truncated"));
  comp[cl - 5] ^= 0xff; /* CRC */
  assert_int_equal(pyr_gunzip(comp, cl, sizeof(plain), &out, &ol, err,
                              sizeof(err)), PYR_GZ_EDATA);
  /* Two members back to back, as Go's reader accepts. */
  size_t a = gz("hello ", 6, comp, sizeof(comp));
  size_t b2 = gz("world", 5, comp + a, sizeof(comp) - a);
  assert_int_equal(pyr_gunzip(comp, a + b2, 100, &out, &ol, err, sizeof(err)),
                   PYR_GZ_OK);
  assert_int_equal(ol, 11);
  assert_memory_equal(out, "hello world", 11);
  free(out);
  /* maybe_gunzip passes plain data through, bounded too. */
  const unsigned char *d;
  unsigned char *own;
  size_t dl;
  assert_int_equal(pyr_maybe_gunzip("plain", 5, 5, &d, &dl, &own, err, sizeof(err)),
                   PYR_GZ_OK);
  assert_null(own);
  assert_int_equal(dl, 5);
  assert_int_equal(pyr_maybe_gunzip("plain", 5, 4, &d, &dl, &own, err, sizeof(err)),
                   PYR_GZ_ELIMIT);
}

static void test_sample_rate_and_codes(void **state) {
  (void)state;
  assert_int_equal(pyr_ingest_sample_rate(NULL), 100);
  assert_int_equal(pyr_ingest_sample_rate(""), 100);
  assert_int_equal(pyr_ingest_sample_rate("250"), 250);
  assert_int_equal(pyr_ingest_sample_rate("+20"), 20);
  assert_int_equal(pyr_ingest_sample_rate("0"), 0);
  assert_int_equal(pyr_ingest_sample_rate("-5"), 100);
  assert_int_equal(pyr_ingest_sample_rate("abc"), 100);
  assert_int_equal(pyr_ingest_sample_rate("10.5"), 100);
  assert_int_equal(pyr_ingest_sample_rate("99999999999"), 100);
  assert_string_equal(pyr_ingest_code_for_status(400), "invalid_argument");
  assert_string_equal(pyr_ingest_code_for_status(401), "unauthenticated");
  assert_string_equal(pyr_ingest_code_for_status(403), "permission_denied");
  assert_string_equal(pyr_ingest_code_for_status(413), "resource_exhausted");
  assert_string_equal(pyr_ingest_code_for_status(429), "resource_exhausted");
  assert_string_equal(pyr_ingest_code_for_status(503), "unavailable");
  assert_string_equal(pyr_ingest_code_for_status(500), "internal");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_columns_and_private_labels),
      cmocka_unit_test(test_dynamic_label_split),
      cmocka_unit_test(test_validation_and_relabel),
      cmocka_unit_test(test_gzip),
      cmocka_unit_test(test_sample_rate_and_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
