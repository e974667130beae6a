/*
 * test_store_damage.c - pyr_store_open refuses damaged files and leaves
 * them alone; stored zstd frames carry checksums (server/store.c
 * check_files/check_wal/quick_check, store_util.c st_zcompress).
 *
 * What: builds a small store, damages copies of its files the way a disk,
 * an operator or a bad copy would (garbage header, truncation, broken
 * b-tree pages, a bit flip inside the WAL before committed frames, a
 * database missing next to its WAL) and checks that open fails with a
 * message naming the file, that the files are byte-for-byte unchanged, and
 * that a torn WAL tail (what a crash leaves) still opens.
 *
 * Threads: single-threaded test; the store runs its own threads.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"

#include "profile.h"
#include "store.h"
#include "store_int.h" /* st_zcompress */

#define SEC INT64_C(1000000000)


/* One upload of a profile with `nstacks` two-frame stacks. */
static void write_upload(pyr_store *st, int i, int nstacks) {
  pyr_prof *p = pyr_prof_new(&store_fixture_cpu_type, &pyr_prof_default_limits);
  assert_non_null(p);
  for (int s = 0; s < nstacks; s++) {
    char name[32];
    uint32_t locs[2];
    int64_t v[PYR_PROF_MAX_VALUES] = {s + 1};
    int64_t a = pyr_prof_intern(p, "main", 4);
    snprintf(name, sizeof(name), "leaf%d", s);
    int64_t b = pyr_prof_intern(p, name, strlen(name));
    locs[0] = (uint32_t)pyr_prof_location(p, (uint32_t)a, 0);
    locs[1] = (uint32_t)pyr_prof_location(p, (uint32_t)b, 0);
    assert_int_equal(pyr_prof_add(p, locs, 2, 0, v), PYR_PROF_OK);
  }
  pyr_store_label l[] = {{"service_name", "app"}};
  int64_t now = st_now_real_ns();
  pyr_store_entry e = {.labels = l, .nlabels = 1, .prof = p, .column = 0,
                       .from_ns = now - (100 - i) * SEC, .until_ns = now - (90 - i) * SEC};
  char err[256] = "";
  assert_int_equal(pyr_store_write(st, "anonymous", &e, 1, err, sizeof(err)), PYR_STORE_OK);
  pyr_prof_free(p);
}

static char *path_in(const char *dir, const char *name) {
  char *p = malloc(strlen(dir) + strlen(name) + 2);
  assert_non_null(p);
  sprintf(p, "%s/%s", dir, name);
  return p;
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    *n = 0;
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  fclose(f);
}

/* Copies pyrite.db and pyrite.db-wal (when present) of src into a new dir. */
static char *copy_store(const char *src) {
  char *dst = store_fixture_mk_dir();
  const char *names[] = {"pyrite.db", "pyrite.db-wal"};
  for (size_t i = 0; i < 2; i++) {
    char *s = path_in(src, names[i]), *d = path_in(dst, names[i]);
    size_t n;
    unsigned char *b = slurp(s, &n);
    if (b)
      spit(d, b, n);
    free(b);
    free(s);
    free(d);
  }
  return dst;
}

/* Opening dir must fail naming `file`, and leave the files unchanged. */
static void expect_refused(const char *dir, const char *file, const char *what) {
  char *db = path_in(dir, "pyrite.db"), *wal = path_in(dir, "pyrite.db-wal");
  size_t n1, n2, m1, m2;
  unsigned char *b1 = slurp(db, &n1), *w1 = slurp(wal, &n2);
  char err[1024] = "";
  pyr_store *st = pyr_store_open(dir, NULL, err, sizeof(err));
  if (st) {
    pyr_store_close(st);
    fail_msg("%s: opened a damaged store", what);
  }
  char *named = path_in(dir, file);
  if (!strstr(err, named) || !strstr(err, what))
    fail_msg("message '%s' should name %s and say '%s'", err, named, what);
  unsigned char *b2 = slurp(db, &m1), *w2 = slurp(wal, &m2);
  assert_int_equal(n1, m1);
  assert_true(n1 == 0 || memcmp(b1, b2, n1) == 0);
  /* SQLite may create and remove an empty WAL: no data changes. */
  assert_int_equal(n2, m2);
  assert_true(n2 == 0 || memcmp(w1, w2, n2) == 0);
  free(b1), free(b2), free(w1), free(w2), free(db), free(wal), free(named);
}

/* A store with `n` uploads; closed unless keep_open (then returned in *out,
 * its WAL still holding the commits). */
static char *make_store(int n, pyr_store **out) {
  char *dir = store_fixture_mk_dir();
  char err[256] = "";
  pyr_store *st = pyr_store_open(dir, NULL, err, sizeof(err));
  if (!st)
    fail_msg("open: %s", err);
  for (int i = 0; i < n; i++)
    write_upload(st, i, 40);
  if (out)
    *out = st;
  else
    pyr_store_close(st);
  return dir;
}

static void test_damaged_database(void **state) {
  (void)state;
  char *src = make_store(20, NULL);
  char *db = path_in(src, "pyrite.db");
  size_t n;
  unsigned char *orig = slurp(db, &n);
  assert_true(n >= 4096);
  unsigned pgsz = (unsigned)orig[16] << 8 | orig[17];

  char *d = copy_store(src); /* garbage header */
  char *p = path_in(d, "pyrite.db");
  unsigned char *b = malloc(n);
  memcpy(b, orig, n);
  memset(b, 0xa5, 100);
  spit(p, b, n);
  expect_refused(d, "pyrite.db", "not an SQLite database");
  store_fixture_rm_dir(d);
  free(p);

  d = copy_store(src); /* truncated at a page boundary */
  p = path_in(d, "pyrite.db");
  spit(p, orig, (n / pgsz / 2) * pgsz);
  expect_refused(d, "pyrite.db", "truncated");
  store_fixture_rm_dir(d);
  free(p);

  d = copy_store(src); /* b-tree page headers broken: quick_check */
  p = path_in(d, "pyrite.db");
  memcpy(b, orig, n);
  for (size_t pg = 1; pg < n / pgsz; pg++)
    b[pg * pgsz] ^= 0x5a;
  spit(p, b, n);
  expect_refused(d, "pyrite.db", "quick_check");
  store_fixture_rm_dir(d);
  free(p);

  d = copy_store(src); /* the intact copy opens */
  char err[1024] = "";
  pyr_store *st = pyr_store_open(d, NULL, err, sizeof(err));
  if (!st)
    fail_msg("intact copy: %s", err);
  pyr_store_stats s;
  pyr_store_get_stats(st, &s);
  assert_int_equal(s.profiles, 20);
  assert_int_equal(pyr_store_check(st, err, sizeof(err)), PYR_STORE_OK);
  pyr_store_close(st);
  store_fixture_rm_dir(d);

  free(b);
  free(orig);
  free(db);
  store_fixture_rm_dir(src);
}

static void test_damaged_wal(void **state) {
  (void)state;
  pyr_store *live = NULL;
  char *src = make_store(10, &live); /* open: the commits sit in the WAL */
  char *d = copy_store(src);
  char *wal = path_in(d, "pyrite.db-wal");
  size_t n;
  unsigned char *w = slurp(wal, &n);
  assert_true(n > 32);
  uint32_t pgsz = (uint32_t)w[8] << 24 | (uint32_t)w[9] << 16 | (uint32_t)w[10] << 8 | w[11];
  size_t frame = 24 + pgsz;
  assert_true(n >= 32 + 3 * frame);

  char *e = copy_store(d); /* a bit of frame 1's page */
  char *p = path_in(e, "pyrite.db-wal");
  w[32 + 24 + 50] ^= 0x10;
  spit(p, w, n);
  w[32 + 24 + 50] ^= 0x10;
  expect_refused(e, "pyrite.db-wal", "fails its checksum");
  store_fixture_rm_dir(e);
  free(p);

  e = copy_store(d); /* garbage header */
  p = path_in(e, "pyrite.db-wal");
  unsigned char save[32];
  memcpy(save, w, 32);
  memset(w, 0x3c, 32);
  spit(p, w, n);
  memcpy(w, save, 32);
  expect_refused(e, "pyrite.db-wal", "invalid header");
  store_fixture_rm_dir(e);
  free(p);

  e = copy_store(d); /* database gone, WAL still there */
  p = path_in(e, "pyrite.db");
  assert_int_equal(unlink(p), 0);
  expect_refused(e, "pyrite.db", "missing or empty");
  store_fixture_rm_dir(e);
  free(p);

  e = copy_store(d); /* torn tail: half of the last frame */
  p = path_in(e, "pyrite.db-wal");
  spit(p, w, n - pgsz / 2);
  char err[1024] = "";
  pyr_store *st = pyr_store_open(e, NULL, err, sizeof(err));
  if (!st)
    fail_msg("torn tail refused: %s", err);
  assert_int_equal(pyr_store_check(st, err, sizeof(err)), PYR_STORE_OK);
  pyr_store_close(st);
  store_fixture_rm_dir(e);
  free(p);

  st = pyr_store_open(d, NULL, err, sizeof(err)); /* the intact copy */
  if (!st)
    fail_msg("intact WAL refused: %s", err);
  pyr_store_stats s;
  pyr_store_get_stats(st, &s);
  assert_int_equal(s.profiles, 10);
  pyr_store_close(st);

  pyr_store_close(live);
  free(w);
  free(wal);
  store_fixture_rm_dir(d);
  store_fixture_rm_dir(src);
}

/* A flipped bit anywhere in a stored frame, even in its checksum, is a
 * decode error (without the checksum flag, a flip in a literal would give
 * different data silently). */
static void test_zstd_frames_have_checksums(void **state) {
  (void)state;
  char src[4096];
  for (size_t i = 0; i < sizeof(src); i++)
    src[i] = (char)("stack;frame;" [i % 12] + (i / 997));
  size_t cap = ZSTD_compressBound(sizeof(src));
  unsigned char *z = malloc(cap);
  char out[sizeof(src)];
  size_t zn = st_zcompress(NULL, z, cap, src, sizeof(src), 3);
  assert_false(ZSTD_isError(zn));
  assert_int_equal(ZSTD_decompress(out, sizeof(out), z, zn), sizeof(src));
  assert_memory_equal(out, src, sizeof(src));
  for (size_t k = 1; k <= 4; k++) { /* the trailing checksum bytes */
    z[zn - k] ^= 0x01;
    assert_true(ZSTD_isError(ZSTD_decompress(out, sizeof(out), z, zn)));
    z[zn - k] ^= 0x01;
  }
  ZSTD_CCtx *c = ZSTD_createCCtx(); /* a shared context keeps the flag */
  size_t zn2 = st_zcompress(c, z, cap, src, sizeof(src), 9);
  assert_false(ZSTD_isError(zn2));
  z[zn2 - 1] ^= 0x80;
  assert_true(ZSTD_isError(ZSTD_decompress(out, sizeof(out), z, zn2)));
  ZSTD_freeCCtx(c);
  free(z);
  assert_non_null(strstr(pyr_store_strerror(PYR_STORE_EFULL), "full"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_damaged_database),
      cmocka_unit_test(test_damaged_wal),
      cmocka_unit_test(test_zstd_frames_have_checksums),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
