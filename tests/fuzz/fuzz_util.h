/*
 * fuzz_util.h - shared by the fuzz_<target>.c entries: FUZZ_LOG prints a
 * target's verdict on an input (accepted / the error message) when
 * PYRITE_FUZZ_VERBOSE is set, so seeds can be checked to reach the paths
 * they were written for (`PYRITE_FUZZ_VERBOSE=1 replay_<t> seeds/<t>`).
 * Silent otherwise, and cheap: the environment is read once.
 *
 * Threads: libFuzzer's single thread (the cached flag is not atomic).
 */
#ifndef PYRITE_TESTS_FUZZ_UTIL_H
#define PYRITE_TESTS_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>

static inline int fuzz_verbose(void) {
  static int v = -1;
  if (v < 0)
    v = getenv("PYRITE_FUZZ_VERBOSE") != NULL;
  return v;
}

#define FUZZ_LOG(...)                                                                          \
  do {                                                                                         \
    if (fuzz_verbose())                                                                        \
      fprintf(stderr, "  -> " __VA_ARGS__);                                                    \
  } while (0)

#endif
