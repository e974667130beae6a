/*
 * store_crash.c - drives the store for the kill -9 test
 * (tests/integration/test_store_crash.py).
 *
 *   store_crash write DIR [--start ID] [--threads N] [--normal]
 *       Opens the store and writes uploads in a loop from N threads
 *       (default 4) until killed.  Upload ids start at ID (default 0) and
 *       are unique; after pyr_store_write() returns OK for upload `id`, the
 *       line "ACK <id>" is written to stdout and flushed, so every line
 *       the test reads is an acknowledged, supposedly durable upload.
 *       Prints "READY" once the store is open.  --normal uses
 *       synchronous=NORMAL (still must survive kill -9 of the process).
 *       Compaction runs continuously (10 s windows, profile times in the
 *       past, sweeps every 100 ms), so kills also land inside compaction.
 *
 *   store_crash verify DIR
 *       Opens the store, runs pyr_store_check, and checks every stored
 *       profile against the content its upload id determines.  Prints
 *       "HAVE <id> <profiles>" per upload id found, "BAD <what>" per
 *       mismatch, and "CHECK ok" or "CHECK <error>".  Exit 0 when the
 *       check passed and nothing was bad, else 1.
 *
 * Each upload has 3 entries (CPU, alloc objects, alloc bytes) in one
 * tenant, two services alternating; contents are a pure function of the
 * id, with stacks drawn from a pool so dictionaries grow and get reused.
 *
 * Threads: the writer threads share an atomic id counter and a mutex
 * around stdout.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "store.h"

#define SEC INT64_C(1000000000)
#define BASE (INT64_C(1600000000) * SEC) /* profile times: far in the past */
#define TENANT "crash"
#define ENTRIES 3

static const pyr_prof_type cpu_type = {
    .name = "process_cpu",
    .nvalues = 1,
    .sample_type = {"cpu"},
    .sample_unit = {"nanoseconds"},
    .period_type = "cpu",
    .period_unit = "nanoseconds",
    .period = 10000000,
};
static const pyr_prof_type mem_type = {
    .name = "memory",
    .nvalues = 2,
    .sample_type = {"alloc_in_new_tlab_objects", "alloc_in_new_tlab_bytes"},
    .sample_unit = {"count", "bytes"},
    .period_type = "space",
    .period_unit = "bytes",
    .period = 524288,
};

/* Deterministic content of upload `id`; mem selects the alloc profile. */
static pyr_prof *make_prof(uint64_t id, int mem) {
  pyr_prof *p = pyr_prof_new(mem ? &mem_type : &cpu_type, &pyr_prof_default_limits);
  if (!p)
    return NULL;
  int n = 20 + (int)(id % 30);
  for (int i = 0; i < n; i++) {
    /* The pool grows slowly with the id, so some uploads add stacks. */
    uint64_t k = (id * 7 + (uint64_t)i * 13) % (400 + id / 50);
    uint32_t locs[16];
    uint32_t depth = 3 + (uint32_t)(k % 6);
    for (uint32_t j = 0; j < depth; j++) {
      char name[96];
      int len = snprintf(name, sizeof(name), "com/crash/C%" PRIu64 ".m%u",
                         (k + j * 31) % (mem ? 40 : 60), j);
      int64_t s = pyr_prof_intern(p, name, (size_t)len);
      int64_t l = s >= 0 ? pyr_prof_location(p, (uint32_t)s, (int64_t)((k * j) % 100 + 1)) : -1;
      if (l <= 0) {
        pyr_prof_free(p);
        return NULL;
      }
      locs[j] = (uint32_t)l;
    }
    int64_t v[2];
    if (mem) {
      v[0] = i + 1;
      v[1] = (int64_t)((id % 1000) + (uint64_t)i) * 512;
    } else {
      v[0] = (int64_t)(id % 97 + (uint64_t)i + 1) * 10000000;
    }
    if (pyr_prof_add(p, locs, depth, 0, v) != 0) {
      pyr_prof_free(p);
      return NULL;
    }
  }
  return p;
}

static int64_t prof_total(const pyr_prof *p, uint32_t col) {
  int64_t t = 0;
  for (size_t i = 0; i < pyr_prof_nsamples(p); i++) {
    const uint32_t *locs;
    uint32_t n, ls;
    const int64_t *v;
    pyr_prof_sample(p, i, &locs, &n, &ls, &v);
    t += v[col];
  }
  return t;
}

/* ------------------------------------------------------------------ write */

typedef struct wstate {
  pyr_store *st;
  _Atomic uint64_t next;
  pthread_mutex_t out;
} wstate;

static void *write_loop(void *arg) {
  wstate *w = arg;
  for (;;) {
    uint64_t id = atomic_fetch_add(&w->next, 1);
    pyr_prof *cpu = make_prof(id, 0), *mem = make_prof(id, 1);
    if (!cpu || !mem) {
      fprintf(stderr, "store_crash: cannot build upload %" PRIu64 "\n", id);
      exit(2);
    }
    const char *svc = id % 2 ? "svc-odd" : "svc-even";
    pyr_store_label l[] = {{"service_name", svc}, {"crash", "1"}};
    int64_t from = BASE + (int64_t)id * SEC;
    pyr_store_entry e[ENTRIES] = {
        {l, 2, cpu, 0, PYR_STORE_ALL_LABELSETS, from, from + SEC},
        {l, 2, mem, 0, PYR_STORE_ALL_LABELSETS, from, from + SEC},
        {l, 2, mem, 1, PYR_STORE_ALL_LABELSETS, from, from + SEC},
    };
    char err[256];
    int rc = pyr_store_write(w->st, TENANT, e, ENTRIES, err, sizeof(err));
    pyr_prof_free(cpu);
    pyr_prof_free(mem);
    if (rc != PYR_STORE_OK) {
      fprintf(stderr, "store_crash: write %" PRIu64 ": %s\n", id, err);
      exit(2);
    }
    pthread_mutex_lock(&w->out);
    printf("ACK %" PRIu64 "\n", id);
    fflush(stdout);
    pthread_mutex_unlock(&w->out);
  }
  return NULL;
}

static int do_write(const char *dir, uint64_t start, int threads, int normal) {
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.sync_full = !normal;
  o.compact_window_ns = 10 * SEC;
  o.compact_delay_ns = 0;
  o.sweep_interval_ns = SEC / 10;
  char err[256];
  pyr_store *st = pyr_store_open(dir, &o, err, sizeof(err));
  if (!st) {
    fprintf(stderr, "store_crash: %s\n", err);
    return 1;
  }
  static wstate w;
  w.st = st;
  atomic_store(&w.next, start);
  pthread_mutex_init(&w.out, NULL);
  printf("READY\n");
  fflush(stdout);
  pthread_t t[64];
  if (threads < 1 || threads > 64)
    threads = 4;
  for (int i = 0; i < threads; i++)
    pthread_create(&t[i], NULL, write_loop, &w);
  for (int i = 0; i < threads; i++)
    pthread_join(t[i], NULL); /* never: killed */
  pyr_store_close(st);
  return 0;
}

/* ----------------------------------------------------------------- verify */

typedef struct sinfo {
  uint64_t id;
  int mem, col;
} sinfo;

typedef struct vstate {
  sinfo s[64];
  size_t ns;
  uint32_t *count; /* profiles per upload id */
  uint64_t cap;
  uint64_t bad;
} vstate;

static int on_series(void *ctx, const pyr_store_series *s) {
  vstate *v = ctx;
  if (v->ns == 64)
    return 1;
  sinfo *x = &v->s[v->ns++];
  x->id = s->id;
  x->mem = strncmp(s->profile_type, "memory:", 7) == 0;
  x->col = strstr(s->profile_type, "_bytes:") != NULL;
  return 0;
}

static int on_profile(void *ctx, const pyr_store_profile *p) {
  vstate *v = ctx;
  const sinfo *si = NULL;
  for (size_t i = 0; i < v->ns; i++)
    if (v->s[i].id == p->series)
      si = &v->s[i];
  int64_t rel = p->from_ns - BASE;
  if (!si || rel < 0 || rel % SEC) {
    printf("BAD profile of unknown series or time\n");
    v->bad++;
    return 0;
  }
  uint64_t id = (uint64_t)(rel / SEC);
  if (id >= v->cap) {
    uint64_t cap = v->cap ? v->cap : 1024;
    while (cap <= id)
      cap *= 2;
    uint32_t *c = realloc(v->count, cap * sizeof(*c));
    if (!c)
      return 1;
    memset(c + v->cap, 0, (cap - v->cap) * sizeof(*c));
    v->count = c;
    v->cap = cap;
  }
  v->count[id]++;
  pyr_prof *want = make_prof(id, si->mem);
  int64_t wt = want ? prof_total(want, (uint32_t)si->col) : -1;
  pyr_prof_free(want);
  int64_t sum = 0;
  for (size_t i = 0; i < p->n; i++)
    sum += p->values[i];
  if (sum != wt || p->total != wt || p->until_ns != p->from_ns + SEC) {
    printf("BAD upload %" PRIu64 ": total %" PRId64 " want %" PRId64 "\n", id, sum, wt);
    v->bad++;
  }
  /* Stacks must resolve inside the dictionary. */
  for (size_t i = 0; i < p->n; i++) {
    pyr_store_frame f[16];
    size_t d = pyr_store_dict_stack(p->dict, p->stacks[i], f, 16);
    if (d < 3 || d > 8) {
      printf("BAD upload %" PRIu64 ": stack %u has depth %zu\n", id, p->stacks[i], d);
      v->bad++;
      break;
    }
  }
  return 0;
}

static int do_verify(const char *dir) {
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.compact_window_ns = 0; /* look, do not rewrite */
  char err[256];
  pyr_store *st = pyr_store_open(dir, &o, err, sizeof(err));
  if (!st) {
    printf("CHECK open failed: %s\n", err);
    return 1;
  }
  int rc = pyr_store_check(st, err, sizeof(err));
  static vstate v;
  pyr_store_series_foreach(st, TENANT, NULL, on_series, &v);
  if (pyr_store_profiles_foreach(st, TENANT, NULL, on_profile, &v) != 0) {
    printf("BAD profiles_foreach failed\n");
    v.bad++;
  }
  for (uint64_t id = 0; id < v.cap; id++)
    if (v.count[id])
      printf("HAVE %" PRIu64 " %u\n", id, v.count[id]);
  printf("CHECK %s\n", rc == PYR_STORE_OK ? "ok" : err);
  pyr_store_close(st);
  free(v.count);
  return rc == PYR_STORE_OK && !v.bad ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "write") == 0) {
    uint64_t start = 0;
    int threads = 4, normal = 0;
    for (int i = 3; i < argc; i++) {
      if (strcmp(argv[i], "--start") == 0 && i + 1 < argc)
        start = strtoull(argv[++i], NULL, 10);
      else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
        threads = atoi(argv[++i]);
      else if (strcmp(argv[i], "--normal") == 0)
        normal = 1;
      else {
        fprintf(stderr, "store_crash: unknown argument '%s'\n", argv[i]);
        return 2;
      }
    }
    return do_write(argv[2], start, threads, normal);
  }
  if (argc == 3 && strcmp(argv[1], "verify") == 0)
    return do_verify(argv[2]);
  fprintf(stderr, "usage: store_crash write DIR [--start ID] [--threads N] [--normal]\n"
                  "       store_crash verify DIR\n");
  return 2;
}
