/*
 * store_fixture.h - helpers shared by the storage unit tests (test_store.c,
 * test_store_damage.c): a throw-away data directory and the CPU profile
 * type their synthetic profiles use.
 *
 * Threads: test main thread only.
 */
#ifndef PYRITE_TESTS_STORE_FIXTURE_H
#define PYRITE_TESTS_STORE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

static inline int store_fixture_rm_cb(const char *p, const struct stat *sb, int flag,
                                      struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(p);
}

/* A new empty directory under /tmp (the caller frees it with
 * store_fixture_rm_dir). */
static inline char *store_fixture_mk_dir(void) {
  char tmpl[] = "/tmp/pyrite-store-test-XXXXXX";
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  return strdup(d);
}

/* Removes d and everything in it, then frees the string. */
static inline void store_fixture_rm_dir(char *d) {
  nftw(d, store_fixture_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  free(d);
}

static const pyr_prof_type store_fixture_cpu_type = {
    .name = "process_cpu",
    .nvalues = 1,
    .sample_type = {"cpu"},
    .sample_unit = {"nanoseconds"},
    .period_type = "cpu",
    .period_unit = "nanoseconds",
    .period = 10000000,
};

#endif
