/*
 * bench_jfr_parse.c - JFR parsing throughput: MB/s of uncompressed JFR per
 * core, for the reader alone and for the full JFR -> profiles conversion
 * (parse + profile build) that /ingest and `pyrite convert` run.
 *
 * Usage: bench_jfr_parse [--runs N] [--min-mb M] FILE|DIR...
 *   Every .jfr / .jfr.gz given (directories: their *.jfr[.gz]) is
 *   decompressed; each recording is measured on its own, and all of them
 *   concatenated (a valid multi-chunk recording) and repeated up to M MiB
 *   (default 64) is measured as "all".  Each measurement is N runs
 *   (default 7), interleaved across inputs; the median and the min..max
 *   spread are printed, in MB (10^6 bytes) per CPU-second of this thread.
 *
 * Threads: single-threaded; CPU time is CLOCK_THREAD_CPUTIME_ID, so the
 * number is per core regardless of machine load (wall time is shown too).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "jfr_profiles.h"

struct input {
  char name[256];
  uint8_t *buf;
  size_t len;
  double *parse_mbs, *conv_mbs, *wall_mbs;
};

static double now(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint8_t *load(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(b);
    return NULL;
  }
  fclose(f);
  uint8_t *raw;
  size_t rawlen;
  char err[256];
  if (pyr_jfrp_gunzip(b, (size_t)n, (size_t)1 << 31, &raw, &rawlen, err, sizeof(err)) > 0) {
    free(b);
    b = raw;
    n = (long)rawlen;
  }
  *len = (size_t)n;
  return b;
}

static struct input *inputs;
static size_t ninputs;

static void add_input(const char *name, uint8_t *buf, size_t len) {
  inputs = realloc(inputs, (ninputs + 1) * sizeof(*inputs));
  struct input *in = &inputs[ninputs++];
  memset(in, 0, sizeof(*in));
  snprintf(in->name, sizeof(in->name), "%s", name);
  in->buf = buf;
  in->len = len;
}

static int is_recording(const char *n) {
  size_t l = strlen(n);
  return (l > 4 && !strcmp(n + l - 4, ".jfr")) || (l > 7 && !strcmp(n + l - 7, ".jfr.gz"));
}

static void add_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    struct dirent *e;
    char full[4096];
    while (d && (e = readdir(d)) != NULL) {
      if (!is_recording(e->d_name))
        continue;
      snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
      add_path(full);
    }
    if (d)
      closedir(d);
    return;
  }
  size_t len;
  uint8_t *b = load(path, &len);
  if (b == NULL) {
    fprintf(stderr, "cannot read %s\n", path);
    return;
  }
  const char *base = strrchr(path, '/');
  add_input(base ? base + 1 : path, b, len);
}

/* One measurement; returns MB per CPU second (and per wall second). */
static int measure(const struct input *in, int full, double *cpu_mbs, double *wall_mbs) {
  char err[512], ev[64];
  double c0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
  int rc;
  if (full) {
    pyr_prof_list l = {0};
    pyr_jfr_convert_opts o = {0};
    o.sample_rate = 100;
    rc = pyr_jfr_to_profiles(in->buf, in->len, NULL, 0, &o, &l, ev, sizeof(ev), err,
                             sizeof(err));
    pyr_prof_list_free(&l);
  } else {
    rc = pyr_jfr_parse(in->buf, in->len, NULL, NULL, err, sizeof(err));
  }
  double c1 = now(CLOCK_THREAD_CPUTIME_ID), w1 = now(CLOCK_MONOTONIC);
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", in->name, err);
    return -1;
  }
  *cpu_mbs = (double)in->len / 1e6 / (c1 - c0);
  *wall_mbs = (double)in->len / 1e6 / (w1 - w0);
  return 0;
}

static void report(const char *what, const char *name, size_t len, double *v, int runs) {
  qsort(v, (size_t)runs, sizeof(*v), cmp_double);
  printf("%-8s %-40s %9.1f MB  median %7.1f MB/s  (min %.1f, max %.1f)\n", what, name,
         (double)len / 1e6, v[runs / 2], v[0], v[runs - 1]);
}

int main(int argc, char **argv) {
  int runs = 7;
  double min_mb = 64;
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--min-mb") && i + 1 < argc)
      min_mb = atof(argv[++i]);
    else
      break;
  }
  if (runs < 1)
    runs = 1;
  for (; i < argc; i++)
    add_path(argv[i]);
  if (ninputs == 0) {
    fprintf(stderr, "usage: bench_jfr_parse [--runs N] [--min-mb M] FILE|DIR...\n");
    return 2;
  }
  /* "all": every recording concatenated, repeated to at least min_mb */
  size_t one = 0;
  for (size_t k = 0; k < ninputs; k++)
    one += inputs[k].len;
  size_t reps = 1;
  while ((double)(one * reps) < min_mb * 1048576.0)
    reps++;
  uint8_t *all = malloc(one * reps);
  size_t o = 0;
  for (size_t r = 0; r < reps; r++)
    for (size_t k = 0; k < ninputs; k++) {
      memcpy(all + o, inputs[k].buf, inputs[k].len);
      o += inputs[k].len;
    }
  char allname[64];
  snprintf(allname, sizeof(allname), "all (%zu recordings x %zu)", ninputs, reps);
  add_input(allname, all, o);

  for (size_t k = 0; k < ninputs; k++) {
    inputs[k].parse_mbs = calloc((size_t)runs, sizeof(double));
    inputs[k].conv_mbs = calloc((size_t)runs, sizeof(double));
    inputs[k].wall_mbs = calloc((size_t)runs, sizeof(double));
  }
  /* interleave: run r of every input, then run r+1 ... */
  for (int r = 0; r < runs; r++)
    for (size_t k = 0; k < ninputs; k++) {
      double w;
      if (measure(&inputs[k], 0, &inputs[k].parse_mbs[r], &w) != 0 ||
          measure(&inputs[k], 1, &inputs[k].conv_mbs[r], &inputs[k].wall_mbs[r]) != 0)
        return 1;
    }
  printf("JFR throughput per core (MB = 10^6 bytes of uncompressed JFR per CPU second),"
         " %d runs\n",
         runs);
  for (size_t k = 0; k < ninputs; k++) {
    report("parse", inputs[k].name, inputs[k].len, inputs[k].parse_mbs, runs);
    report("convert", inputs[k].name, inputs[k].len, inputs[k].conv_mbs, runs);
  }
  struct input *a = &inputs[ninputs - 1];
  qsort(a->wall_mbs, (size_t)runs, sizeof(double), cmp_double);
  printf("convert all: %.1f MB/s per core (CPU time), %.1f MB/s wall\n",
         a->conv_mbs[runs / 2], a->wall_mbs[runs / 2]);
  for (size_t k = 0; k < ninputs; k++) {
    free(inputs[k].buf);
    free(inputs[k].parse_mbs);
    free(inputs[k].conv_mbs);
    free(inputs[k].wall_mbs);
  }
  free(inputs);
  return 0;
}
