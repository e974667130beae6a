/*
 * bench_ingest.c - server CPU per upload, without HTTP or scheduling noise.
 *
 * What: calls the transport-independent ingest handler (pyr_ingest_legacy,
 * the code an ingest worker runs for POST /ingest) on the same synthetic
 * agent upload ingest_load sends -- gzipped JFR in the Java agent's
 * multipart form -- from T threads at once (as pyrited's ingest workers
 * do, so the store batches commits as it does under load), against a real
 * store in a temporary directory, and reports process CPU time per upload.  That covers gunzip, multipart,
 * JFR parse, profile build, series split and the store's writer thread
 * (the store is closed, so every queued write is committed, before the
 * clock stops).  HTTP parsing and thread hand-offs are left out; the HTTP
 * benchmark is ingest_load.
 *
 * Why: on a shared 2-core VM the wall-clock load test swings by 10-20 %
 * from run to run.  Process CPU per upload from a single thread varies
 * much less, and `valgrind --tool=callgrind` on this program counts
 * instructions exactly, so two builds can be compared on one machine
 * whatever else it is doing.
 *
 *   bench_ingest [--uploads N] [--apps A] [--threads T] [--runs R]
 *                [--samples S] [--stacks K] [--dir DIR]
 *
 * Prints one line per run and the median.  Threads: T uploader threads,
 * each with its own share of the uploads (i mod T), plus the store's own
 * writer and maintenance threads; the payload is shared read-only.
 */
#include "ingest.h"
#include "labels.h"
#include "store.h"
#include "synth/jfr_payload.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The multipart body the Java agent sends: one gzipped `jfr` part. */
static int make_body(unsigned samples, unsigned stacks, const char *bnd, unsigned char **body,
                     size_t *len, size_t *raw_len, size_t *gz_len) {
  uint8_t *raw = NULL, *gz = NULL;
  size_t rl = 0, gl = 0, cap, n;
  int rc = -1;

  if (load_synth_jfr(samples, stacks, &raw, &rl) != 0 || load_gzip1(raw, rl, &gz, &gl) != 0)
    goto out;
  cap = gl + 512;
  if ((*body = malloc(cap)) == NULL)
    goto out;
  n = (size_t)snprintf((char *)*body, cap,
                       "--%s\r\nContent-Disposition: form-data; name=\"jfr\"; "
                       "filename=\"jfr\"\r\n\r\n",
                       bnd);
  memcpy(*body + n, gz, gl);
  n += gl;
  n += (size_t)snprintf((char *)*body + n, cap - n, "\r\n--%s--\r\n", bnd);
  *len = n;
  *raw_len = rl;
  *gz_len = gl;
  rc = 0;
out:
  free(raw);
  free(gz);
  return rc;
}

struct job {
  const pyr_ingest_env *env;
  const unsigned char *body;
  size_t len;
  const char *ctype;
  unsigned first, step, uploads, apps;
  int64_t t0;
  int failed;
};

static void *uploader(void *arg) {
  struct job *j = arg;
  for (unsigned i = j->first; i < j->uploads; i += j->step) {
    char name[64], from[32], until[32];
    pyr_ingest_params p;
    pyr_ingest_result r;
    int64_t from_s = j->t0 + (int64_t)(i / j->apps) * 10;

    snprintf(name, sizeof(name), "bench-app-%u{env=bench}", i % j->apps);
    snprintf(from, sizeof(from), "%lld", (long long)from_s);
    snprintf(until, sizeof(until), "%lld", (long long)from_s + 10);
    memset(&p, 0, sizeof(p));
    memset(&r, 0, sizeof(r));
    p.name = name;
    p.from = from;
    p.until = until;
    p.format = "jfr";
    p.sample_rate = "100";
    p.spy_name = "javaspy";
    p.content_type = j->ctype;
    pyr_ingest_legacy(j->env, "anonymous", &p, j->body, j->len, &r);
    if (r.status != 200) {
      fprintf(stderr, "bench_ingest: upload %u: HTTP %u %s\n", i, r.status, r.message);
      j->failed = 1;
      break;
    }
  }
  return NULL;
}

/* One run: a fresh store, n uploads round-robin over apps from nthreads
 * threads; CPU and wall seconds per upload. */
static int run_once(const char *dir, const unsigned char *body, size_t len, const char *ctype,
                    unsigned uploads, unsigned apps, unsigned nthreads, double *cpu_per,
                    double *wall_per) {
  pyr_store_opts so;
  char err[256];
  pyr_ingest_env env;
  struct job jobs[64];
  pthread_t tids[64];
  unsigned started = 0;
  int rc = -1;

  pyr_store_opts_default(&so);
  memset(&env, 0, sizeof(env));
  env.max_decompressed = 64u << 20;
  env.label_limits.max_labels = PYR_LABELS_DEFAULT_MAX;
  env.label_limits.max_name_len = PYR_LABEL_DEFAULT_MAX_NAME;
  env.label_limits.max_value_len = PYR_LABEL_DEFAULT_MAX_VALUE;

  double c0 = cpu_s(), w0 = wall_s();
  env.store = pyr_store_open(dir, &so, err, sizeof(err));
  if (env.store == NULL) {
    fprintf(stderr, "bench_ingest: store: %s\n", err);
    return -1;
  }
  for (unsigned t = 0; t < nthreads; t++) {
    jobs[t] = (struct job){.env = &env, .body = body, .len = len, .ctype = ctype,
                           .first = t, .step = nthreads, .uploads = uploads, .apps = apps,
                           .t0 = (int64_t)time(NULL) - 3600};
    if (pthread_create(&tids[t], NULL, uploader, &jobs[t]) != 0)
      break;
    started++;
  }
  rc = started == nthreads ? 0 : -1;
  for (unsigned t = 0; t < started; t++) {
    pthread_join(tids[t], NULL);
    if (jobs[t].failed)
      rc = -1;
  }
  pyr_store_close(env.store); /* commits every queued write */
  *cpu_per = (cpu_s() - c0) / uploads;
  *wall_per = (wall_s() - w0) / uploads;
  return rc;
}

static int remove_store(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  unsigned uploads = 2000, apps = 50, threads = 8, runs = 5, samples = 1000, stacks = 200;
  const char *dir = NULL;
  char tmpl[] = "/tmp/bench-ingest-XXXXXX";
  const char *bnd = "bench-ingest-boundary-5c1e";
  char ctype[128];
  unsigned char *body = NULL;
  size_t len = 0, raw_len = 0, gz_len = 0;
  double *cpu = NULL;
  int rc = 1;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v && strcmp(a, "--uploads") == 0)
      uploads = (unsigned)strtoul(v, NULL, 10), i++;
    else if (v && strcmp(a, "--apps") == 0)
      apps = (unsigned)strtoul(v, NULL, 10), i++;
    else if (v && strcmp(a, "--threads") == 0)
      threads = (unsigned)strtoul(v, NULL, 10), i++;
    else if (v && strcmp(a, "--runs") == 0)
      runs = (unsigned)strtoul(v, NULL, 10), i++;
    else if (v && strcmp(a, "--samples") == 0)
      samples = (unsigned)strtoul(v, NULL, 10), i++;
    else if (v && strcmp(a, "--stacks") == 0)
      stacks = (unsigned)strtoul(v, NULL, 10), i++;
    else if (v && strcmp(a, "--dir") == 0)
      dir = v, i++;
    else {
      fprintf(stderr,
              "usage: bench_ingest [--uploads N] [--apps A] [--threads T] [--runs R] "
              "[--samples S] [--stacks K] [--dir DIR]\n");
      return 2;
    }
  }
  if (uploads == 0 || apps == 0 || runs == 0 || stacks == 0 || threads == 0 ||
      threads > 64) {
    fprintf(stderr, "bench_ingest: counts must be positive (threads at most 64)\n");
    return 2;
  }
  if (dir == NULL && (dir = mkdtemp(tmpl)) == NULL) {
    fprintf(stderr, "bench_ingest: mkdtemp: %s\n", strerror(errno));
    return 1;
  }
  snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", bnd);
  if (make_body(samples, stacks, bnd, &body, &len, &raw_len, &gz_len) != 0) {
    fprintf(stderr, "bench_ingest: cannot build the payload\n");
    goto out;
  }
  printf("payload: jfr %zu B raw -> %zu B gzip; %u uploads over %u apps from %u threads "
         "per run\n",
         raw_len, gz_len, uploads, apps, threads);
  if ((cpu = calloc(runs, sizeof(*cpu))) == NULL)
    goto out;
  for (unsigned r = 0; r < runs; r++) {
    double w;
    if (remove_store(dir) != 0 ||
        run_once(dir, body, len, ctype, uploads, apps, threads, &cpu[r], &w) != 0)
      goto out;
    printf("run %u: %.3f ms CPU per upload, %.3f ms wall per upload\n", r + 1, cpu[r] * 1e3,
           w * 1e3);
  }
  qsort(cpu, runs, sizeof(*cpu), cmp_double);
  printf("median: %.3f ms CPU per upload (min %.3f, max %.3f, %u runs)\n",
         cpu[runs / 2] * 1e3, cpu[0] * 1e3, cpu[runs - 1] * 1e3, runs);
  rc = 0;
out:
  if (dir == tmpl) {
    remove_store(dir);
    rmdir(dir);
  }
  free(cpu);
  free(body);
  return rc;
}
