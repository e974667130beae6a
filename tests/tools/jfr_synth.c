/*
 * jfr_synth.c - writes a synthetic JFR recording with the agent's writer.
 *
 *   jfr_synth OUT.jfr [--chunks N] [--edge]
 *
 * Each chunk holds, on threads "main" (java id 1) and "worker-1" (java id 12):
 *   6 jdk.ExecutionSample (4 main, 2 worker, STATE_RUNNABLE) with the stack
 *     com/example/Demo.leaf ()V line 10  <-  com/example/Demo.main
 *     ([Ljava/lang/String;)V line 20
 *   1 each of profiler.WallClockSample, jdk.ObjectAllocationInNewTLAB,
 *     jdk.ObjectAllocationOutsideTLAB, jdk.JavaMonitorEnter, jdk.ThreadPark
 *   1 jdk.ActiveSetting event=itimer
 * Chunks use different key bases and are appended into one file, the way
 * the agent's `file=` option does.
 *
 * --edge adds, per chunk, 3 more ExecutionSamples exercising what readers
 * must survive: a thread without a Java name, a frame whose method key is 0
 * with line -1, a null stack trace and a null thread.
 *
 * Used by tests/integration/test_jfr_writer_jdk.py; single-threaded.
 */
#include "jfr_writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNTH_KEY_STRIDE 0x1000000ull
#define SYNTH_CHUNK_NS 10000000000ull /* 10 s per chunk */
#define SYNTH_EPOCH_NS 1700000000000000000ull
#define SYNTH_TICKS0 5000000000ull
#define SYNTH_ACC_PUBLIC_STATIC 0x0009
#define SYNTH_ACC_PUBLIC 0x0001

typedef struct synth_keys {
  uint64_t main_thread, worker_thread, stack;
  uint64_t demo_class, object_class, string_class, lock_class;
} synth_keys;

static int synth_pools(pyr_jfr *w, synth_keys *k) {
  uint64_t leaf, main_m;
  pyr_jfr_frame frames[2];

  k->main_thread = pyr_jfr_thread(w, 1001, "main", "main", 1);
  k->worker_thread = pyr_jfr_thread(w, 1002, "worker-1", "worker-1", 12);
  k->demo_class = pyr_jfr_class(w, "com/example/Demo", SYNTH_ACC_PUBLIC);
  k->object_class = pyr_jfr_class(w, "java/lang/Object", SYNTH_ACC_PUBLIC);
  k->string_class = pyr_jfr_class(w, "java/lang/String", SYNTH_ACC_PUBLIC);
  k->lock_class = pyr_jfr_class(
      w, "java/util/concurrent/locks/ReentrantLock$NonfairSync", 0);
  leaf = pyr_jfr_method(w, k->demo_class, "leaf", "()V",
                        SYNTH_ACC_PUBLIC_STATIC, false);
  main_m = pyr_jfr_method(w, k->demo_class, "main", "([Ljava/lang/String;)V",
                          SYNTH_ACC_PUBLIC_STATIC, false);
  frames[0] = (pyr_jfr_frame){leaf, 10, 3, PYR_JFR_FRAME_JIT};
  frames[1] = (pyr_jfr_frame){main_m, 20, 7, PYR_JFR_FRAME_INTERPRETED};
  k->stack = pyr_jfr_stack(w, frames, 2, false);
  if (!k->main_thread || !k->worker_thread || !k->demo_class ||
      !k->object_class || !k->string_class || !k->lock_class || !leaf ||
      !main_m || !k->stack)
    return -1;
  return 0;
}

static int synth_samples(pyr_jfr *w, const synth_keys *k, uint64_t t0) {
  int rc = 0;

  for (uint64_t i = 0; i < 6; i++) {
    uint64_t thread = i < 4 ? k->main_thread : k->worker_thread;

    rc |= pyr_jfr_execution_sample(w, t0 + (i + 1) * 10000000ull, thread,
                                   k->stack, PYR_JFR_STATE_RUNNABLE);
  }
  return rc;
}

static int synth_others(pyr_jfr *w, const synth_keys *k, uint64_t t0) {
  int rc = 0;

  rc |= pyr_jfr_active_setting(w, t0, "event", "itimer");
  rc |= pyr_jfr_wall_sample(w, t0 + 100000000ull, k->worker_thread, k->stack,
                            PYR_JFR_STATE_SLEEPING, 5, 50000000ull);
  rc |= pyr_jfr_alloc_in_new_tlab(w, t0 + 200000000ull, k->main_thread,
                                  k->stack, k->string_class, 24, 524288);
  rc |= pyr_jfr_alloc_outside_tlab(w, t0 + 300000000ull, k->main_thread,
                                   k->stack, k->object_class, 1048576);
  rc |= pyr_jfr_monitor_enter(w, t0 + 400000000ull, 15000000ull,
                              k->worker_thread, k->stack, k->object_class,
                              0x7f0012345678ull);
  rc |= pyr_jfr_thread_park(w, t0 + 500000000ull, 20000000ull, k->main_thread,
                            k->stack, k->lock_class, 0, INT64_MIN,
                            0x7f00abcdef00ull);
  return rc;
}

static int synth_edge(pyr_jfr *w, const synth_keys *k, uint64_t t0) {
  pyr_jfr_frame f = {0, -1, -1, PYR_JFR_FRAME_NATIVE};
  uint64_t gc = pyr_jfr_thread(w, 1003, "GC Thread#0", NULL, 0);
  uint64_t odd = pyr_jfr_stack(w, &f, 1, true);
  int rc = 0;

  if (!gc || !odd)
    return -1;
  rc |= pyr_jfr_execution_sample(w, t0 + 600000000ull, gc, k->stack,
                                 PYR_JFR_STATE_RUNNABLE);
  rc |= pyr_jfr_execution_sample(w, t0 + 610000000ull, k->main_thread, odd,
                                 PYR_JFR_STATE_DEFAULT);
  rc |= pyr_jfr_execution_sample(w, t0 + 620000000ull, 0, 0,
                                 PYR_JFR_STATE_RUNNABLE);
  return rc;
}

static int synth_chunk(FILE *fp, unsigned idx, int edge) {
  pyr_jfr_config cfg = {
      .start_nanos = SYNTH_EPOCH_NS + idx * SYNTH_CHUNK_NS,
      .start_ticks = SYNTH_TICKS0 + idx * SYNTH_CHUNK_NS,
      .key_base = idx * SYNTH_KEY_STRIDE,
      .max_bytes = 16u << 20,
  };
  pyr_jfr *w = pyr_jfr_new(&cfg);
  synth_keys k;
  uint8_t *chunk = NULL;
  size_t len = 0;
  int rc = -1;

  if (!w || synth_pools(w, &k) < 0)
    goto out;
  if (synth_samples(w, &k, cfg.start_ticks) ||
      synth_others(w, &k, cfg.start_ticks))
    goto out;
  if (edge && synth_edge(w, &k, cfg.start_ticks))
    goto out;
  if (pyr_jfr_finish(w, cfg.start_ticks + SYNTH_CHUNK_NS, &chunk, &len) < 0)
    goto out;
  if (fwrite(chunk, 1, len, fp) != len)
    goto out;
  rc = 0;
out:
  free(chunk);
  pyr_jfr_free(w);
  return rc;
}

static int parse_args(int argc, char **argv, const char **path,
                      unsigned *chunks, int *edge) {
  *path = NULL;
  *chunks = 1;
  *edge = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--chunks") && i + 1 < argc) {
      char *end;
      unsigned long n = strtoul(argv[++i], &end, 10);

      if (*end || n == 0 || n > 1000)
        return -1;
      *chunks = (unsigned)n;
    } else if (!strcmp(argv[i], "--edge")) {
      *edge = 1;
    } else if (argv[i][0] != '-' && !*path) {
      *path = argv[i];
    } else {
      return -1;
    }
  }
  return *path ? 0 : -1;
}

int main(int argc, char **argv) {
  const char *path;
  unsigned chunks;
  int edge;
  FILE *fp;

  if (parse_args(argc, argv, &path, &chunks, &edge) < 0) {
    fprintf(stderr, "usage: jfr_synth OUT.jfr [--chunks N] [--edge]\n");
    return 2;
  }
  fp = fopen(path, "wb");
  if (!fp) {
    fprintf(stderr, "jfr_synth: %s: %s\n", path, strerror(errno));
    return 1;
  }
  for (unsigned i = 0; i < chunks; i++) {
    if (synth_chunk(fp, i, edge) < 0) {
      fprintf(stderr, "jfr_synth: writing chunk %u failed\n", i);
      fclose(fp);
      return 1;
    }
  }
  if (fclose(fp) != 0) {
    fprintf(stderr, "jfr_synth: %s: %s\n", path, strerror(errno));
    return 1;
  }
  return 0;
}
