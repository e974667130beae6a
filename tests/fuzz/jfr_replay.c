/*
 * jfr_replay.c - hostile-input replay for the JFR reader, for builds
 * without libFuzzer (gcc): feeds every recording in the given directories
 * or files (.gz is decompressed first) through pyr_jfr_to_profiles, then
 * deterministic mutations of it:
 *   - truncations at every 1/64th of its length (and a few bytes short of
 *     the end);
 *   - single-bit flips and byte overwrites (0x00, 0xff, 0x80, 0x7f) at
 *     pseudo-random positions, half of them inside the first 4 KiB and
 *     around the metadata and checkpoint offsets named by the header, where
 *     the structure is densest;
 *   - header field corruptions (sizes and offsets set to 0, 1, huge).
 * A crash, hang or sanitizer report fails the run; parse errors are the
 * expected outcome and each must come with a message.
 *
 * Usage: jfr_replay [--mutations N] [--seed S] DIR|FILE...
 * Exit: 0 ok, 1 a check failed, 77 no input found (CTest skip).
 *
 * Threads: single-threaded.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "jfr_profiles.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static long n_runs, n_ok, n_err;
static int failures;

static void convert(const uint8_t *buf, size_t len, const char *what) {
  pyr_jfrp_limits jl = pyr_jfrp_default_limits;
  jl.max_alloc = 512u << 20;
  pyr_jfr_convert_opts o = {0};
  o.sample_rate = 100;
  o.jfr_limits = &jl;
  pyr_prof_list list = {0};
  char ev[64], err[512];
  int rc = pyr_jfr_to_profiles(buf, len, NULL, 0, &o, &list, ev, sizeof(ev), err, sizeof(err));
  n_runs++;
  if (rc == PYR_JFR_OK) {
    n_ok++;
  } else {
    n_err++;
    if (err[0] == '\0') {
      fprintf(stderr, "FAIL %s: error %d without a message\n", what, rc);
      failures++;
    }
  }
  pyr_prof_list_free(&list);
}

static uint64_t be64(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | b[i];
  return v;
}

static void put_be64(uint8_t *b, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    b[i] = (uint8_t)v;
    v >>= 8;
  }
}

/* A position biased towards structure: the first 4 KiB, or near the
 * first chunk's metadata / checkpoint offsets, or anywhere. */
static size_t pick_pos(const uint8_t *orig, size_t len) {
  uint64_t r = rng();
  size_t base = 0, span = len;
  if (len >= 68) {
    uint64_t md = be64(orig + 24), cp = be64(orig + 16);
    switch (r % 4) {
    case 0:
      span = len < 4096 ? len : 4096;
      break;
    case 1:
      if (md < len) {
        base = (size_t)md;
        span = len - base < 8192 ? len - base : 8192;
      }
      break;
    case 2:
      if (cp < len) {
        base = (size_t)cp;
        span = len - base < 8192 ? len - base : 8192;
      }
      break;
    default:
      break;
    }
  }
  return base + (size_t)((r >> 8) % span);
}

static void replay(const char *name, const uint8_t *orig, size_t len, long mutations) {
  char what[600];
  uint8_t *m = malloc(len ? len : 1);
  if (m == NULL) {
    fprintf(stderr, "FAIL %s: out of memory\n", name);
    failures++;
    return;
  }
  snprintf(what, sizeof(what), "%s (original)", name);
  convert(orig, len, what);
  /* truncations */
  for (int k = 0; k < 64; k++) {
    size_t cut = len * (size_t)k / 64;
    snprintf(what, sizeof(what), "%s (truncated to %zu)", name, cut);
    convert(orig, cut, what);
  }
  for (size_t d = 1; d <= 3 && d < len; d++)
    convert(orig, len - d, name);
  /* header corruptions */
  static const uint64_t vals[] = {0, 1, 67, 68, 69, UINT64_MAX, 0x8000000000000000ULL};
  static const int fields[] = {8, 16, 24};
  for (size_t f = 0; len >= 68 && f < 3; f++) {
    for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
      memcpy(m, orig, len);
      put_be64(m + fields[f], vals[v]);
      snprintf(what, sizeof(what), "%s (header @%d = %" PRIu64 ")", name, fields[f], vals[v]);
      convert(m, len, what);
    }
  }
  /* bit flips and byte overwrites, one mutation at a time */
  static const uint8_t bytes[] = {0x00, 0xff, 0x80, 0x7f};
  for (long i = 0; len > 0 && i < mutations; i++) {
    memcpy(m, orig, len);
    size_t pos = pick_pos(orig, len);
    uint64_t r = rng();
    if (r & 1)
      m[pos] ^= (uint8_t)(1u << ((r >> 1) % 8));
    else
      m[pos] = bytes[(r >> 1) % 4];
    snprintf(what, sizeof(what), "%s (mutation %ld at %zu)", name, i, pos);
    convert(m, len, what);
  }
  free(m);
}

static uint8_t *load(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  uint8_t *b = malloc(cap);
  while (b != NULL) {
    if (n == cap) {
      uint8_t *nb = realloc(b, cap * 2);
      if (nb == NULL) {
        free(b);
        b = NULL;
        break;
      }
      b = nb;
      cap *= 2;
    }
    size_t r = fread(b + n, 1, cap - n, f);
    if (r == 0)
      break;
    n += r;
  }
  fclose(f);
  if (b == NULL)
    return NULL;
  uint8_t *raw;
  size_t rawlen;
  char err[256];
  int g = pyr_jfrp_gunzip(b, n, (size_t)1 << 30, &raw, &rawlen, err, sizeof(err));
  if (g > 0) {
    free(b);
    b = raw;
    n = rawlen;
  }
  *len = n;
  return b;
}

static bool is_recording(const char *name) {
  size_t n = strlen(name);
  return (n > 4 && strcmp(name + n - 4, ".jfr") == 0) ||
         (n > 7 && strcmp(name + n - 7, ".jfr.gz") == 0);
}

static int files;

static void replay_path(const char *path, long mutations) {
  struct stat st;
  if (stat(path, &st) != 0)
    return;
  if (!S_ISDIR(st.st_mode)) {
    size_t len;
    uint8_t *b = load(path, &len);
    if (b == NULL) {
      fprintf(stderr, "FAIL %s: cannot read\n", path);
      failures++;
      return;
    }
    /* Fewer mutations for big files: keep the run around half a minute. */
    long mut = mutations;
    if (len > (1u << 20))
      mut = mutations * (long)(1u << 20) / (long)len;
    if (mut < 16)
      mut = 16;
    clock_t t0 = clock();
    long before = n_runs;
    replay(path, b, len, mut);
    printf("%s: %zu bytes, %ld runs, %.1f s\n", path, len, n_runs - before,
           (double)(clock() - t0) / CLOCKS_PER_SEC);
    fflush(stdout);
    free(b);
    files++;
    return;
  }
  DIR *d = opendir(path);
  if (d == NULL)
    return;
  struct dirent *e;
  char **names = NULL;
  size_t n = 0;
  while ((e = readdir(d)) != NULL) {
    if (!is_recording(e->d_name))
      continue;
    char **nn = realloc(names, (n + 1) * sizeof(*names));
    if (nn == NULL)
      break;
    names = nn;
    size_t l = strlen(path) + strlen(e->d_name) + 2;
    names[n] = malloc(l);
    if (names[n] == NULL)
      break;
    snprintf(names[n], l, "%s/%s", path, e->d_name);
    n++;
  }
  closedir(d);
  for (size_t i = 0; i < n; i++) {
    replay_path(names[i], mutations);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv) {
  long mutations = 400;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--mutations") == 0 && i + 1 < argc)
      mutations = atol(argv[++i]);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
      rng_state = strtoull(argv[++i], NULL, 0) | 1;
    else
      break;
  }
  for (; i < argc; i++)
    replay_path(argv[i], mutations);
  if (files == 0) {
    printf("SKIP: no .jfr or .jfr.gz input found\n");
    return 77;
  }
  printf("%d files, %ld conversions: %ld ok, %ld rejected with a message, %d failures\n", files,
         n_runs, n_ok, n_err, failures);
  return failures ? 1 : 0;
}
