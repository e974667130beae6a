/*
 * bench_store.c - storage benchmark for pyrited's store (server/store*.c).
 *
 *   bench_store DIR [--uploads N] [--scale F] [--threads 1,2,8] [--tput N]
 *                   [--runs R] [--sync full|normal] [--seed S] [--skip-tput]
 *
 * Synthetic but Java-shaped data: a call graph of framework, application
 * and JDK classes ("org/springframework/web/servlet/DispatcherServlet.
 * doDispatch", "com/example/orders/service/OrderService.placeOrder", ...);
 * stacks are random walks 30-90 frames deep with call-site line numbers;
 * each 10 s upload carries the 4 profile types of an agent with every mode
 * on: CPU (1 value), wall (1), alloc (objects + bytes), lock (contentions
 * + delay), i.e. 6 series.  Samples are drawn from Zipf-distributed stack
 * pools, so at --scale 1 an upload has thousands of distinct stacks
 * (CPU 4000 samples, wall 10000, alloc 3000, lock 300).  Every upload is
 * different (fresh draws): nothing repeats that a real app would not.
 * Values: CPU/wall = samples x period; alloc bytes = per-site object size
 * (70% of sites one fixed size, 30% arrays of random length); lock delay
 * = random 10-200 ms per event (the least compressible part).
 *
 * Phases (all numbers printed, with medians where timed):
 *  1. throughput: for each thread count, T threads write --tput uploads
 *     (8 apps, warm dictionaries) as fast as they can: uploads/s,
 *     p50/p99 latency of pyr_store_write (enqueue to durable).
 *  2. one app-day: --uploads (default 8640 = 24 h) uploads of one app at
 *     simulated 10 s intervals; bytes on disk per upload before and after
 *     compaction and the extrapolation to MB per app-month (30 days).
 *  3. merge: CPU series over the last 1 h (360 uploads) and 24 h, cold
 *     (first, after reopen) and warm (p50 of --runs), fresh rows and
 *     compacted blocks.
 *
 * Timings are wall clock and, because the VMs here are shared and noisy,
 * also CPU time: process CPU per upload in phase 1 (the callers' prep plus
 * the writer thread; 2 cores / that = the CPU-bound ceiling), thread CPU
 * per merge in phase 3.
 *
 * Threads: phase 1 uses T writer threads; everything else is sequential.
 * The store gets a simulated clock that follows the upload times.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "profile.h"
#include "store.h"
#include "synth/bench_synth.h"


/* ------------------------------------------------------------ throughput */

typedef struct tctx {
  pyr_store *st;
  synth_upload *ring;
  int nring;
  int n, id;
  double *lat;
  int64_t base;
} tctx;

static void *tput_thread(void *arg) {
  tctx *t = arg;
  for (int i = 0; i < t->n; i++) {
    char svc[32];
    int j = t->id * t->n + i;
    snprintf(svc, sizeof(svc), "app-%d", j % 8);
    double a = synth_now_s();
    if (synth_write_upload(t->st, &t->ring[j % t->nring], svc, t->base + (int64_t)(j / 8) * 10 * SEC) != 0)
      exit(1);
    t->lat[i] = (synth_now_s() - a) * 1e3;
  }
  return NULL;
}

static void phase_tput(const char *dir, synth_upload *ring, int nring, int threads, int total,
                       int sync_full) {
  char sub[4096];
  snprintf(sub, sizeof(sub), "%s/tput-%d-%s", dir, threads, sync_full ? "full" : "normal");
  atomic_store(&synth_now, T0);
  pyr_store *st = synth_open_store(sub, sync_full);
  /* Warm-up: every app's dictionary sees the ring once. */
  for (int i = 0; i < nring; i++)
    for (int a = 0; a < 8; a++) {
      char svc[32];
      snprintf(svc, sizeof(svc), "app-%d", a);
      synth_write_upload(st, &ring[i], svc, T0 - (int64_t)(nring - i) * 10 * SEC);
    }
  pthread_t th[64];
  tctx t[64];
  int per = total / threads;
  double t0 = synth_now_s(), c0 = synth_cpu_process_s();
  for (int i = 0; i < threads; i++) {
    t[i] = (tctx){st, ring, nring, per, i, malloc((size_t)per * sizeof(double)),
                  T0 + (int64_t)i * per * SEC};
    pthread_create(&th[i], NULL, tput_thread, &t[i]);
  }
  double *all = malloc((size_t)per * threads * sizeof(double));
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    memcpy(all + (size_t)i * per, t[i].lat, (size_t)per * sizeof(double));
    free(t[i].lat);
  }
  double el = synth_now_s() - t0, cpu = synth_cpu_process_s() - c0;
  pyr_store_stats s;
  pyr_store_get_stats(st, &s);
  size_t n = (size_t)per * threads;
  printf("throughput  sync=%-6s threads=%-2d uploads=%zu  %.0f uploads/s  latency p50 %.2f ms"
         "  p99 %.2f ms  cpu %.2f ms/upload (2-core ceiling %.0f/s)  %.1f uploads/commit\n",
         sync_full ? "FULL" : "NORMAL", threads, n, n / el, synth_pct(all, n, 0.5),
         synth_pct(all, n, 0.99), cpu * 1e3 / n, 2.0 * n / cpu,
         (double)(s.uploads - (uint64_t)(nring * 8)) /
             (double)(s.batches > (uint64_t)(nring * 8) ? s.batches - (uint64_t)(nring * 8) : 1));
  fflush(stdout);
  free(all);
  pyr_store_close(st);
}

/* ----------------------------------------------------------------- merge */

static double last_merge_cpu_ms;

static double time_merge(pyr_store *st, int64_t start, int64_t end, uint64_t *np,
                         size_t *nodes) {
  pyr_store_query q = {.profile_type = "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                       .start_ns = start,
                       .end_ns = end};
  pyr_store_tree *t = NULL;
  char err[256];
  double a = synth_now_s(), ca = synth_cpu_thread_s();
  if (pyr_store_merge(st, "anonymous", &q, 0, &t, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_store: merge: %s\n", err);
    exit(1);
  }
  double ms = (synth_now_s() - a) * 1e3;
  last_merge_cpu_ms = (synth_cpu_thread_s() - ca) * 1e3;
  *np = t->nprofiles;
  *nodes = t->nnodes;
  pyr_store_tree_free(t);
  return ms;
}

static void merges(pyr_store *st, int64_t last_from, int runs, const char *what) {
  static const struct {
    const char *name;
    int64_t span;
  } ranges[] = {{"1h", 3600 * SEC - 1}, {"24h", 86400 * SEC - 1}};
  for (size_t r = 0; r < 2; r++) {
    int64_t start = last_from - ranges[r].span, end = last_from;
    uint64_t np;
    size_t nodes;
    double cold = time_merge(st, start, end, &np, &nodes);
    double cold_cpu = last_merge_cpu_ms;
    double *v = malloc((size_t)runs * sizeof(double)), *c = malloc((size_t)runs * sizeof(double));
    for (int i = 0; i < runs; i++) {
      v[i] = time_merge(st, start, end, &np, &nodes);
      c[i] = last_merge_cpu_ms;
    }
    double lo = synth_pct(v, (size_t)runs, 0), p50 = synth_pct(v, (size_t)runs, 0.5),
           hi = synth_pct(v, (size_t)runs, 1), cp50 = synth_pct(c, (size_t)runs, 0.5);
    printf("merge %-9s %-3s (%" PRIu64 " profiles, %zu tree nodes): first %.1f ms (cpu %.1f),"
           " p50 %.1f ms (min %.1f, max %.1f, %d runs), cpu p50 %.1f ms\n",
           what, ranges[r].name, np, nodes, cold, cold_cpu, p50, lo, hi, runs, cp50);
    fflush(stdout);
    free(v);
    free(c);
  }
}

static uint64_t dir_bytes(const char *dir) {
  char p[4200];
  struct stat sb;
  uint64_t t = 0;
  snprintf(p, sizeof(p), "%s/pyrite.db", dir);
  if (stat(p, &sb) == 0)
    t += (uint64_t)sb.st_size;
  snprintf(p, sizeof(p), "%s/pyrite.db-wal", dir);
  if (stat(p, &sb) == 0)
    t += (uint64_t)sb.st_size;
  return t;
}

static void phase_day(const char *dir, int uploads, int runs, int sync_full) {
  char sub[4096];
  snprintf(sub, sizeof(sub), "%s/day", dir);
  atomic_store(&synth_now, T0);
  pyr_store *st = synth_open_store(sub, sync_full);
  double gen = 0, wr = 0;
  size_t distinct = 0;
  int64_t last = T0;
  for (int i = 0; i < uploads; i++) {
    synth_upload u;
    double a = synth_now_s();
    synth_gen_upload(&u);
    double b = synth_now_s();
    distinct += synth_distinct_stacks(&u);
    last = T0 + (int64_t)i * 10 * SEC;
    atomic_store(&synth_now, last + 10 * SEC);
    if (synth_write_upload(st, &u, "orders", last) != 0)
      exit(1);
    wr += synth_now_s() - b;
    gen += b - a;
    synth_free_upload(&u);
    if ((i + 1) % 1000 == 0) {
      fprintf(stderr, "  %d/%d uploads\n", i + 1, uploads);
    }
  }
  char err[256];
  pyr_store_stats s;
  pyr_store_get_stats(st, &s);
  printf("day         %d uploads (%.0f distinct stacks/upload over 4 types, %d series)"
         " generated in %.1f s, written in %.1f s (%.0f uploads/s, 1 thread)\n",
         uploads, (double)distinct / uploads, (int)s.series, gen, wr, uploads / wr);
  printf("dictionary  %" PRIu64 " nodes, %" PRIu64 " frames, %" PRIu64 " names in %" PRIu64
         " generation(s)\n",
         s.dict_nodes, s.dict_locs, s.dict_names, s.dicts);
  fflush(stdout);
  merges(st, last, runs, "fresh");
  /* close + reopen: cold caches, checkpointed WAL */
  pyr_store_close(st);
  uint64_t fresh = dir_bytes(sub);
  printf("storage     fresh rows: %.0f bytes/upload -> %.0f MB per app-month (30 d)\n",
         (double)fresh / uploads, (double)fresh / uploads * 259200 / 1e6);
  fflush(stdout);
  st = synth_open_store(sub, sync_full);
  atomic_store(&synth_now, last + 2 * 3600 * SEC);
  double a = synth_now_s();
  if (pyr_store_sweep(st, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_store: sweep: %s\n", err);
    exit(1);
  }
  double csec = synth_now_s() - a;
  pyr_store_get_stats(st, &s);
  pyr_store_close(st);
  uint64_t comp = dir_bytes(sub);
  printf("compaction  %" PRIu64 " profiles into %" PRIu64 " blocks in %.1f s\n",
         s.compacted_profiles, s.rows, csec);
  printf("storage     compacted: %.0f bytes/upload -> %.0f MB per app-month (30 d)"
         "  [target <= 300]\n",
         (double)comp / uploads, (double)comp / uploads * 259200 / 1e6);
  fflush(stdout);
  st = synth_open_store(sub, sync_full);
  merges(st, last, runs, "compacted");
  pyr_store_close(st);
}

int main(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') { /* DIR first: never take a flag for it */
    fprintf(stderr, "usage: bench_store DIR [--uploads N] [--scale F] [--threads 1,2,8]"
                    " [--tput N] [--runs R] [--sync full|normal] [--seed S] [--skip-tput]"
                    " [--skip-day]\n");
    return 2;
  }
  const char *dir = argv[1];
  int uploads = 8640, tput = 2000, runs = 7, sync_full = 1, skip_tput = 0, skip_day = 0;
  char threads_list[64] = "1,2,8";
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--uploads") && i + 1 < argc)
      uploads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
      synth_scale = atof(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      snprintf(threads_list, sizeof(threads_list), "%s", argv[++i]);
    else if (!strcmp(argv[i], "--tput") && i + 1 < argc)
      tput = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--sync") && i + 1 < argc)
      sync_full = strcmp(argv[++i], "normal") != 0;
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      synth_seed(strtoull(argv[++i], NULL, 10));
    else if (!strcmp(argv[i], "--skip-tput"))
      skip_tput = 1;
    else if (!strcmp(argv[i], "--skip-day"))
      skip_day = 1;
    else {
      fprintf(stderr, "bench_store: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (mkdir(dir, 0755) != 0 && access(dir, W_OK) != 0) {
    perror(dir);
    return 1;
  }
  if (runs < 1)
    runs = 1;
  synth_init();
  printf("bench_store: scale %.2f (samples/upload cpu %d wall %d alloc %d lock %d),"
         " %d methods, %d distinct frames in the stack pools, sync %s\n",
         synth_scale, (int)(4000 * synth_scale), (int)(10000 * synth_scale), (int)(3000 * synth_scale),
         (int)(300 * synth_scale), synth_nmethods(), synth_nframes(), sync_full ? "FULL" : "NORMAL");
  fflush(stdout);
  if (!skip_tput) {
    enum { NRING = 64 };
    synth_upload *ring = malloc(NRING * sizeof(*ring));
    for (int i = 0; i < NRING; i++)
      synth_gen_upload(&ring[i]);
    for (char *save = NULL, *tok = strtok_r(threads_list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
      int th = atoi(tok);
      if (th < 1 || th > 64)
        continue;
      phase_tput(dir, ring, NRING, th, tput, sync_full);
    }
    for (int i = 0; i < NRING; i++)
      synth_free_upload(&ring[i]);
    free(ring);
  }
  if (!skip_day)
    phase_day(dir, uploads, runs, sync_full);
  return 0;
}
