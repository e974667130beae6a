/*
 * test_ingest_gzip.c - server/ingest_gzip.c: the libdeflate fast path and
 * its zlib fallback give the results and errors the handlers rely on.
 *
 * The fast path sizes its output from the gzip trailer, so these cases aim
 * at what can go wrong there: several members (the trailer describes only
 * the last), a trailer that lies, output exactly at and one byte over the
 * cap, a small bomb, trailing bytes, empty members; and that corrupt or
 * truncated data still gets zlib's precise wording.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "ingest_gzip.h"

/* One gzip member of in[0..n) at out; returns its length. */
static size_t gz(const void *in, size_t n, unsigned char *out, size_t cap) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                   Z_OK);
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)n;
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
  size_t len = zs.total_out;
  deflateEnd(&zs);
  return len;
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (unsigned char)((x >> 16) % 17); /* compressible, not trivial */
  }
}

static void expect_ok(const unsigned char *in, size_t n, size_t cap, const unsigned char *want,
                      size_t wantlen) {
  unsigned char *out = NULL;
  size_t ol = 0;
  char err[160] = "";
  assert_int_equal(pyr_gunzip(in, n, cap, &out, &ol, err, sizeof(err)), PYR_GZ_OK);
  assert_int_equal(ol, wantlen);
  if (wantlen)
    assert_memory_equal(out, want, wantlen);
  assert_int_equal(out[ol], 0); /* the spare NUL the text decoders use */
  free(out);
}

/* Four members, the last one empty: its ISIZE (0) is the first guess, so
 * the fast path must grow its buffer several times over. */
static void test_members_grow_past_the_trailer_guess(void **state) {
  (void)state;
  static unsigned char a[300000], comp[400000], want[300000 + 5 + 70000];
  fill(a, sizeof(a), 1);
  size_t n = gz(a, sizeof(a), comp, sizeof(comp));
  n += gz("tiny!", 5, comp + n, sizeof(comp) - n);
  static unsigned char c[70000];
  fill(c, sizeof(c), 2);
  n += gz(c, sizeof(c), comp + n, sizeof(comp) - n);
  n += gz("", 0, comp + n, sizeof(comp) - n);
  memcpy(want, a, sizeof(a));
  memcpy(want + sizeof(a), "tiny!", 5);
  memcpy(want + sizeof(a) + 5, c, sizeof(c));
  expect_ok(comp, n, sizeof(want), want, sizeof(want));
  /* Exactly at the cap is fine; one byte under it is the limit error. */
  unsigned char *out = NULL;
  size_t ol = 0;
  char err[160];
  assert_int_equal(pyr_gunzip(comp, n, sizeof(want) - 1, &out, &ol, err, sizeof(err)),
                   PYR_GZ_ELIMIT);
  assert_null(out);
  assert_non_null(strstr(err, "exceeds"));
}

/* A trailer claiming 4 GiB, or 1 byte, must not change the outcome: the
 * lie is caught as corrupt data (libdeflate and zlib both check ISIZE). */
static void test_lying_trailer(void **state) {
  (void)state;
  static unsigned char plain[50000], comp[80000];
  fill(plain, sizeof(plain), 3);
  size_t n = gz(plain, sizeof(plain), comp, sizeof(comp));
  unsigned char *out = NULL;
  size_t ol = 0;
  char err[160];
  for (int k = 0; k < 2; k++) {
    uint32_t lie = k == 0 ? 0xffffffffu : 1u;
    unsigned char save[4];
    memcpy(save, comp + n - 4, 4);
    for (int i = 0; i < 4; i++)
      comp[n - 4 + i] = (unsigned char)(lie >> (8 * i));
    assert_int_equal(pyr_gunzip(comp, n, 1u << 20, &out, &ol, err, sizeof(err)),
                     PYR_GZ_EDATA);
    assert_null(out);
    memcpy(comp + n - 4, save, 4);
  }
  expect_ok(comp, n, 1u << 20, plain, sizeof(plain));
}

/* 8 MiB of zeros is a few KB of gzip: refused at a 1 MiB cap, without
 * allocating the 8 MiB the trailer announces. */
static void test_small_bomb(void **state) {
  (void)state;
  size_t big = 8u << 20;
  unsigned char *zeros = calloc(1, big), *comp = malloc(64 << 10);
  assert_non_null(zeros);
  assert_non_null(comp);
  size_t n = gz(zeros, big, comp, 64 << 10);
  unsigned char *out = NULL;
  size_t ol = 0;
  char err[160];
  assert_int_equal(pyr_gunzip(comp, n, 1u << 20, &out, &ol, err, sizeof(err)), PYR_GZ_ELIMIT);
  assert_null(out);
  expect_ok(comp, n, big, zeros, big);
  free(zeros);
  free(comp);
}

/* Bytes after the last member that are not a member are ignored (Go's
 * reader stops there too); an empty member decodes to nothing. */
static void test_trailing_bytes_and_empty(void **state) {
  (void)state;
  unsigned char comp[256];
  size_t n = gz("abc", 3, comp, sizeof(comp));
  memcpy(comp + n, "garbage", 7);
  expect_ok(comp, n + 7, 100, (const unsigned char *)"abc", 3);
  n = gz("", 0, comp, sizeof(comp));
  expect_ok(comp, n, 100, NULL, 0);
}

/* Bad data goes through zlib, which says which kind of bad it is. */
static void test_errors_are_worded(void **state) {
  (void)state;
  static unsigned char plain[40000], comp[60000];
  fill(plain, sizeof(plain), 4);
  size_t n = gz(plain, sizeof(plain), comp, sizeof(comp));
  unsigned char *out = NULL;
  size_t ol = 0;
  char err[160];
  assert_int_equal(pyr_gunzip(comp, n / 3, sizeof(plain), &out, &ol, err, sizeof(err)),
                   PYR_GZ_EDATA);
  assert_non_null(strstr(err, "truncated"));
  /* A flipped byte may also make the stream longer, so leave room: the
   * answer must be "corrupt", not the size limit. */
  comp[n / 2] ^= 0x55;
  assert_int_equal(pyr_gunzip(comp, n, 64 * sizeof(plain), &out, &ol, err, sizeof(err)),
                   PYR_GZ_EDATA);
  assert_non_null(strstr(err, "gzip"));
  assert_null(out);
}

/* Many sizes around buffer boundaries, each checked byte for byte. */
static void test_sizes(void **state) {
  (void)state;
  static unsigned char plain[70000], comp[90000];
  static const size_t sizes[] = {1, 63, 64, 65, 16383, 16384, 16385, 65535, 65536, 65537, 70000};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    fill(plain, sizes[i], (unsigned)i + 10);
    size_t n = gz(plain, sizes[i], comp, sizeof(comp));
    expect_ok(comp, n, sizes[i], plain, sizes[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_members_grow_past_the_trailer_guess),
      cmocka_unit_test(test_lying_trailer),
      cmocka_unit_test(test_small_bomb),
      cmocka_unit_test(test_trailing_bytes_and_empty),
      cmocka_unit_test(test_errors_are_worded),
      cmocka_unit_test(test_sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
