/*
 * load_mixed.c - sustained mixed load on pyrited: paced JFR ingest plus
 * concurrent queries, with the server's CPU and RSS sampled from /proc.
 *
 *   load_mixed [--port 4040] [--rate R] [-c CONNS] [-d SECONDS]
 *              [--warmup S] [--series N] [--query-threads Q]
 *              [--query-rate QPS] [--pid SERVER_PID] [--samples N]
 *              [--stacks N] [--report S] [--strict]
 *
 * Ingest is open-loop: upload k is due at t0 + k/R and goes to series
 * k % N (service_name load-app-<n>), covering the 10 s after the series'
 * previous upload, so after a few minutes every series holds a realistic
 * run of consecutive profiles ending about now.  Each due upload takes an
 * idle keep-alive connection (-c of them, one epoll loop); when none is
 * idle the upload waits, and its latency counts from when it was due, not
 * from when it was sent (no coordinated omission).  Uploads still due
 * when the run ends are reported as backlog.  --rate 0 runs closed-loop
 * (every connection sends back to back), which finds the ceiling.
 *
 * The payload is the agent-shaped JFR of ingest_load (synth/jfr_payload.c),
 * gzipped, in the Java agent's multipart form.
 *
 * Queries: Q threads, each with its own keep-alive connection, together
 * issuing about QPS queries per second, alternating GET /pyroscope/render
 * and POST /querier.v1.QuerierService/SelectMergeStacktraces (Connect JSON)
 * for the CPU profile of a random series over a random range (10 min or
 * 1 h) inside what has been written so far.
 *
 * Output: a timeline line every --report seconds and a summary: uploads/s
 * stored in the measured window vs target, ingest latency (from due time and from send) p50/
 * p90/p99/max, errors by status, query latency per kind, server CPU
 * (utime+stime per second: mean, median, max) and RSS (start, peak, end),
 * the load generator's own CPU, and /proc/loadavg before and after.
 * A measurement, not a test: the exit code is 0 whenever the run could be
 * carried out (1 only if nothing could connect), whatever the numbers.
 * --strict (for a short smoke run) also exits 1 if any request failed or
 * no upload or query of each kind succeeded; it never looks at timings.
 *
 * Threads: main (setup, /proc sampler, report), one ingest loop, Q query
 * threads.  Shared counters are atomics; latency arrays are per thread and
 * merged after join.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "synth/http_pump.h"
#include "synth/proc_stat.h"
#include "synth/jfr_payload.h"

#define MAX_CONNS 1024
#define RESP_MAX 8192
#define CPU_TYPE "process_cpu:cpu:nanoseconds:cpu:nanoseconds"

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- latency samples ------------------------------------------------------ */

typedef struct lat_vec {
  uint64_t *v;
  size_t n, cap;
} lat_vec;

static void lat_push(lat_vec *l, uint64_t ns) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 4096;
    uint64_t *p = realloc(l->v, nc * sizeof(*p));
    if (p == NULL)
      return; /* a lost sample only thins the percentiles */
    l->v = p;
    l->cap = nc;
  }
  l->v[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static double pct_ms(const lat_vec *l, double p) {
  if (l->n == 0)
    return 0;
  return (double)l->v[(size_t)((double)(l->n - 1) * p)] / 1e6;
}

static void lat_print(const char *what, lat_vec *l) {
  qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
  printf("%s ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (n=%zu)\n", what,
         pct_ms(l, 0.5), pct_ms(l, 0.9), pct_ms(l, 0.99), pct_ms(l, 1.0), l->n);
}

/* ---- configuration and shared state ---------------------------------------- */

static struct {
  struct sockaddr_in addr;
  int port;
  double rate;       /* uploads/s, 0 = closed loop */
  unsigned conns;    /* ingest connections */
  unsigned series;   /* distinct service names */
  unsigned qthreads; /* query threads */
  double qrate;      /* queries/s over all query threads */
  const uint8_t *body;
  size_t body_len;
  char ctype[96];
  uint64_t base_s;                     /* from= of every series' first upload */
  uint64_t t_begin, t_measure, t_end;  /* monotonic ns */
  _Atomic uint64_t ing_ok, ing_err, ing_conn_err; /* measured window only */
  _Atomic uint64_t ing_ok_all;         /* including warm-up: data written */
  _Atomic uint64_t q_seq;
  _Atomic uint64_t per_sec_ok[4096];   /* completions per second of the run */
} G;

/* ---- ingest loop ------------------------------------------------------------ */

struct conn {
  int fd;
  bool busy;
  uint64_t due, sent_at; /* monotonic ns */
  char head[768];
  size_t head_len, sent;
  char resp[RESP_MAX];
  size_t rlen;
};

struct ingest {
  struct conn *c;
  unsigned *idle; /* stack of idle connection indices */
  unsigned nidle;
  uint64_t next_slot;
  lat_vec from_due, from_send;
  uint64_t status[600];
  uint64_t backlog, in_flight_end;
};

static int connect_fd(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (struct sockaddr *)&G.addr, sizeof(G.addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static uint64_t slot_due(uint64_t k) {
  return G.t_begin + (uint64_t)((double)k * 1e9 / G.rate);
}

static void prepare(struct conn *c, uint64_t slot) {
  unsigned s = (unsigned)(slot % G.series);
  uint64_t from = G.base_s + (slot / G.series) * 10;
  c->head_len = (size_t)snprintf(
      c->head, sizeof(c->head),
      "POST /ingest?name=load-app-%u%%7Benv%%3Dload%%7D&units=samples"
      "&aggregationType=sum&from=%llu&until=%llu&spyName=javaspy"
      "&sampleRate=100&format=jfr HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
      "User-Agent: pyrite-load-mixed\r\nContent-Type: %s\r\n"
      "Content-Length: %zu\r\n\r\n",
      s, (unsigned long long)from, (unsigned long long)(from + 10), G.port,
      G.ctype, G.body_len);
  c->sent = 0;
  c->rlen = 0;
  c->busy = true;
  c->sent_at = mono_ns();
}

static int pump_write(struct conn *c) {
  const void *parts[] = {c->head, G.body};
  const size_t lens[] = {c->head_len, G.body_len};
  return pyr_pump_send(c->fd, parts, lens, 2, &c->sent);
}

/* 1 = a whole response (status in *st), 0 = more to read, -1 = error. */
static int pump_read(struct conn *c, int *st, bool *close_after) {
  return pyr_pump_recv(c->fd, c->resp, sizeof(c->resp), &c->rlen, st, close_after);
}

static void arm(int ep, struct conn *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(ep, op, c->fd, &ev);
}

static void *ingest_main(void *arg) {
  struct ingest *I = arg;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event evs[128];
  for (unsigned i = 0; i < G.conns; i++) {
    I->c[i].fd = connect_fd();
    if (I->c[i].fd < 0) {
      atomic_fetch_add(&G.ing_conn_err, 1);
      continue;
    }
    I->idle[I->nidle++] = i;
  }
  while (mono_ns() < G.t_end) {
    uint64_t now = mono_ns();
    /* Start every due upload that has an idle connection. */
    while (I->nidle > 0 && (G.rate <= 0 || slot_due(I->next_slot) <= now)) {
      struct conn *c = &I->c[I->idle[--I->nidle]];
      c->due = G.rate <= 0 ? now : slot_due(I->next_slot);
      prepare(c, I->next_slot++);
      arm(ep, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_ADD);
    }
    int timeout = 50;
    if (G.rate > 0 && I->nidle > 0) {
      uint64_t d = slot_due(I->next_slot);
      timeout = d <= now ? 0 : (int)((d - now + 999999) / 1000000);
      if (timeout > 50)
        timeout = 50;
    }
    int n = epoll_wait(ep, evs, 128, timeout);
    for (int k = 0; k < n; k++) {
      struct conn *c = evs[k].data.ptr;
      int rc = 0, st = 0;
      bool close_after = false;
      if (evs[k].events & (EPOLLERR | EPOLLHUP))
        rc = -1;
      if (rc == 0 && (evs[k].events & EPOLLOUT)) {
        rc = pump_write(c);
        if (rc == 1) {
          arm(ep, c, EPOLLIN, EPOLL_CTL_MOD);
          rc = 0;
        }
      }
      if (rc == 0 && (evs[k].events & EPOLLIN))
        rc = pump_read(c, &st, &close_after);
      if (rc == 0)
        continue;
      uint64_t done = mono_ns();
      epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
      c->busy = false;
      if (rc == 1) {
        if (st == 200) {
          atomic_fetch_add(&G.ing_ok_all, 1);
          uint64_t sec = (done - G.t_begin) / 1000000000u;
          if (sec < 4096)
            atomic_fetch_add(&G.per_sec_ok[sec], 1);
        }
        if (c->due >= G.t_measure) {
          if (st > 0 && st < 600)
            I->status[st]++;
          atomic_fetch_add(st == 200 ? &G.ing_ok : &G.ing_err, 1);
          lat_push(&I->from_due, done - c->due);
          lat_push(&I->from_send, done - c->sent_at);
        }
      } else if (c->due >= G.t_measure) {
        atomic_fetch_add(&G.ing_conn_err, 1);
      }
      if (rc < 0 || close_after) {
        close(c->fd);
        c->fd = connect_fd();
        if (c->fd < 0) {
          atomic_fetch_add(&G.ing_conn_err, 1);
          continue;
        }
      }
      I->idle[I->nidle++] = (unsigned)(c - I->c);
    }
  }
  if (G.rate > 0) {
    uint64_t due_by_end = (uint64_t)((double)(G.t_end - G.t_begin) / 1e9 * G.rate);
    I->backlog = due_by_end > I->next_slot ? due_by_end - I->next_slot : 0;
  }
  for (unsigned i = 0; i < G.conns; i++) {
    if (I->c[i].busy)
      I->in_flight_end++;
    if (I->c[i].fd >= 0)
      close(I->c[i].fd);
  }
  close(ep);
  return NULL;
}

/* ---- query threads ----------------------------------------------------------- */

struct qthread {
  pthread_t th;
  unsigned id;
  uint64_t rng;
  lat_vec lat[2];        /* 0 render, 1 SelectMergeStacktraces */
  uint64_t ok[2], err[2], conn_err, empty;
  uint64_t status[600];
  char *buf;
  size_t cap;
};

static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Sends req and reads one response into q->buf; returns the status, or -1
 * on a connection error (fd closed and set to -1). */
static int q_roundtrip(struct qthread *q, int *fd, const char *req, size_t len,
                       size_t *body_off, size_t *body_len) {
  if (*fd < 0 && (*fd = connect_fd()) < 0)
    return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t w = send(*fd, req + off, len - off, MSG_NOSIGNAL);
    if (w <= 0)
      goto fail;
    off += (size_t)w;
  }
  size_t have = 0, need = SIZE_MAX, hdr = 0;
  int st = 0;
  bool close_after = false;
  while (have < need) {
    if (q->cap - have < 65536) {
      size_t nc = q->cap ? q->cap * 2 : 1 << 20;
      char *p = realloc(q->buf, nc);
      if (p == NULL)
        goto fail;
      q->buf = p;
      q->cap = nc;
    }
    ssize_t r = recv(*fd, q->buf + have, q->cap - have - 1, 0);
    if (r <= 0)
      goto fail;
    have += (size_t)r;
    q->buf[have] = '\0';
    if (hdr == 0) {
      char *eoh = strstr(q->buf, "\r\n\r\n");
      if (eoh == NULL)
        continue;
      hdr = (size_t)(eoh + 4 - q->buf);
      st = atoi(q->buf + 9);
      char *cl = strcasestr(q->buf, "\r\nContent-Length:");
      if (cl == NULL || cl > eoh)
        goto fail; /* pyrited always sends a length for these */
      need = hdr + strtoul(cl + 17, NULL, 10);
      char *co = strcasestr(q->buf, "\r\nConnection: close");
      close_after = co != NULL && co < eoh;
    }
  }
  *body_off = hdr;
  *body_len = need - hdr;
  if (close_after) {
    close(*fd);
    *fd = -1;
  }
  return st;
fail:
  close(*fd);
  *fd = -1;
  return -1;
}

static void *query_main(void *arg) {
  struct qthread *q = arg;
  int fd = -1;
  char req[2048], body[1024];
  /* Each thread paces itself to qrate/qthreads, starting staggered. */
  double period = G.qrate > 0 ? (double)G.qthreads / G.qrate : 0;
  uint64_t next = G.t_begin + (uint64_t)(period * 1e9 * q->id / G.qthreads);
  while (mono_ns() < G.t_end) {
    uint64_t now = mono_ns();
    if (next > now) {
      uint64_t d = next - now;
      struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
      nanosleep(&ts, NULL);
      continue;
    }
    next += (uint64_t)(period * 1e9);
    if (next < now) /* fell behind (slow queries): do not burst to catch up */
      next = now;
    /* Range: inside what has been written (per series), 10 min or 1 h. */
    uint64_t written = atomic_load(&G.ing_ok_all) / G.series; /* uploads/series */
    if (written < 1)
      written = 1;
    uint64_t span_s = (rnd(&q->rng) & 1) ? 3600 : 600;
    uint64_t top = G.base_s + written * 10;
    uint64_t end = top - (rnd(&q->rng) % (written * 10 / 2 + 1));
    uint64_t start = end > G.base_s + span_s ? end - span_s : G.base_s;
    unsigned s = (unsigned)(rnd(&q->rng) % G.series);
    int kind = (int)(atomic_fetch_add(&G.q_seq, 1) & 1);
    size_t len;
    if (kind == 0) {
      len = (size_t)snprintf(
          req, sizeof(req),
          "GET /pyroscope/render?query=process_cpu%%3Acpu%%3Ananoseconds%%3Acpu"
          "%%3Ananoseconds%%7Bservice_name%%3D%%22load-app-%u%%22%%7D&from=%llu"
          "&until=%llu&maxNodes=8192 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
          "User-Agent: pyrite-load-mixed\r\n\r\n",
          s, (unsigned long long)start, (unsigned long long)end, G.port);
    } else {
      int bl = snprintf(body, sizeof(body),
                        "{\"profileTypeID\":\"" CPU_TYPE "\",\"labelSelector\":"
                        "\"{service_name=\\\"load-app-%u\\\"}\",\"start\":%llu000,"
                        "\"end\":%llu000,\"maxNodes\":8192}",
                        s, (unsigned long long)start, (unsigned long long)end);
      len = (size_t)snprintf(
          req, sizeof(req),
          "POST /querier.v1.QuerierService/SelectMergeStacktraces HTTP/1.1\r\n"
          "Host: 127.0.0.1:%d\r\nUser-Agent: pyrite-load-mixed\r\n"
          "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
          G.port, bl, body);
    }
    uint64_t t0 = mono_ns();
    size_t boff = 0, blen = 0;
    int st = q_roundtrip(q, &fd, req, len, &boff, &blen);
    uint64_t t1 = mono_ns();
    if (t0 < G.t_measure)
      continue;
    if (st < 0) {
      q->conn_err++;
      continue;
    }
    if (st < 600)
      q->status[st]++;
    if (st == 200) {
      q->ok[kind]++;
      /* A series with data yields a non-empty flame graph. */
      const char *b = q->buf + boff;
      if (blen < 64 || strstr(b, kind == 0 ? "\"numTicks\":0," : "\"total\":\"0\"") ||
          (kind == 0 && strstr(b, "\"numTicks\":") == NULL))
        q->empty++;
    } else {
      q->err[kind]++;
    }
    lat_push(&q->lat[kind], t1 - t0);
  }
  if (fd >= 0)
    close(fd);
  return NULL;
}

/* ---- /proc sampling -------------------------------------------------------------- */



static void loadavg(char *out, size_t cap) {
  FILE *f = fopen("/proc/loadavg", "r");
  out[0] = '\0';
  if (f != NULL) {
    if (fgets(out, (int)cap, f) != NULL)
      out[strcspn(out, "\n")] = '\0';
    fclose(f);
  }
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void usage(void) {
  fprintf(stderr,
          "usage: load_mixed [--port P] [--rate UPLOADS_PER_S (0 = closed loop)] "
          "[-c CONNS] [-d SECONDS] [--warmup S] [--series N] "
          "[--query-threads Q] [--query-rate QPS] [--pid SERVER_PID] "
          "[--samples N] [--stacks N] [--report S] [--strict]\n");
}

int main(int argc, char **argv) {
  unsigned samples = 1000, nstacks = 200;
  double dur = 180, warmup = 10, report = 10;
  int pid = 0;
  bool strict = false;
  G.port = 4040;
  G.rate = 1000;
  G.conns = 64;
  G.series = 1000;
  G.qthreads = 2;
  G.qrate = 4;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--strict")) {
      strict = true;
      continue;
    }
    if (v == NULL) {
      usage();
      return 2;
    }
    if (!strcmp(a, "--port"))
      G.port = atoi(v);
    else if (!strcmp(a, "--rate"))
      G.rate = atof(v);
    else if (!strcmp(a, "-c"))
      G.conns = (unsigned)atoi(v);
    else if (!strcmp(a, "-d"))
      dur = atof(v);
    else if (!strcmp(a, "--warmup"))
      warmup = atof(v);
    else if (!strcmp(a, "--series"))
      G.series = (unsigned)atoi(v);
    else if (!strcmp(a, "--query-threads"))
      G.qthreads = (unsigned)atoi(v);
    else if (!strcmp(a, "--query-rate"))
      G.qrate = atof(v);
    else if (!strcmp(a, "--pid"))
      pid = atoi(v);
    else if (!strcmp(a, "--samples"))
      samples = (unsigned)atoi(v);
    else if (!strcmp(a, "--stacks"))
      nstacks = (unsigned)atoi(v);
    else if (!strcmp(a, "--report"))
      report = atof(v);
    else {
      usage();
      return 2;
    }
    i++;
  }
  if (G.conns == 0 || G.conns > MAX_CONNS || G.series == 0 || dur <= 0 ||
      warmup < 0 || G.rate < 0 || report <= 0 || dur + warmup > 4000 ||
      G.port <= 0 || G.port > 65535) {
    usage();
    return 2;
  }
  /* Loopback only: a benchmark, not a traffic cannon. */
  G.addr.sin_family = AF_INET;
  G.addr.sin_port = htons((uint16_t)G.port);
  G.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  uint8_t *raw = NULL, *gz = NULL;
  size_t raw_len = 0, gz_len = 0;
  if (load_synth_jfr(samples, nstacks ? nstacks : 1, &raw, &raw_len) != 0 ||
      load_gzip1(raw, raw_len, &gz, &gz_len) != 0) {
    fprintf(stderr, "load_mixed: cannot build the payload\n");
    return 1;
  }
  static const char bnd[] = "5d0c-load-mixed-boundary";
  snprintf(G.ctype, sizeof(G.ctype), "multipart/form-data; boundary=%s", bnd);
  uint8_t *body = malloc(gz_len + 512);
  if (body == NULL)
    return 1;
  size_t bl = (size_t)sprintf((char *)body,
                              "--%s\r\nContent-Disposition: form-data; name=\"jfr\"; "
                              "filename=\"jfr\"\r\n\r\n", bnd);
  memcpy(body + bl, gz, gz_len);
  bl += gz_len;
  bl += (size_t)sprintf((char *)body + bl, "\r\n--%s--\r\n", bnd);
  G.body = body;
  G.body_len = bl;

  /* Series timestamps end about now: each series gets rate*T/series
   * consecutive 10 s profiles (retention never sees them as old). */
  double per_series = G.rate > 0 ? G.rate * (dur + warmup) / G.series
                                 : 2000.0 * (dur + warmup) / G.series;
  G.base_s = (uint64_t)time(NULL) - (uint64_t)(per_series + 1) * 10;

  char la0[128], la1[128];
  loadavg(la0, sizeof(la0));
  printf("load_mixed: target %.0f uploads/s%s, %u connections, %u series, "
         "%.0f s (+%.0f s warm-up); queries %.1f/s on %u threads\n",
         G.rate, G.rate > 0 ? "" : " (closed loop)", G.conns, G.series, dur,
         warmup, G.qrate, G.qthreads);
  printf("payload: jfr %zu B raw -> %zu B gzip, multipart body %zu B\n", raw_len,
         gz_len, G.body_len);
  printf("loadavg before: %s\n", la0);
  fflush(stdout);

  struct ingest I;
  memset(&I, 0, sizeof(I));
  I.c = calloc(G.conns, sizeof(*I.c));
  I.idle = calloc(G.conns, sizeof(*I.idle));
  struct qthread *Q = calloc(G.qthreads ? G.qthreads : 1, sizeof(*Q));
  if (I.c == NULL || I.idle == NULL || Q == NULL)
    return 1;
  for (unsigned i = 0; i < G.conns; i++)
    I.c[i].fd = -1;

  G.t_begin = mono_ns();
  G.t_measure = G.t_begin + (uint64_t)(warmup * 1e9);
  G.t_end = G.t_measure + (uint64_t)(dur * 1e9);
  pthread_t ith;
  pthread_create(&ith, NULL, ingest_main, &I);
  for (unsigned t = 0; t < G.qthreads && G.qrate > 0; t++) {
    Q[t].id = t;
    Q[t].rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(t + 1) * 0x2545f4914f6cdd1dull);
    pthread_create(&Q[t].th, NULL, query_main, &Q[t]);
  }

  /* Sampler: once a second over the measured window. */
  size_t nsec = (size_t)dur + 2;
  double *cpu_ps = calloc(nsec, sizeof(double));
  size_t ncpu = 0;
  long rss0 = -1, rss_peak = 0, rss_end = -1;
  while (mono_ns() < G.t_measure)
    usleep(20000);
  double cpu_start = pid > 0 ? pyr_proc_cpu_s(pid) : -1, prev_cpu = cpu_start;
  double self0 = self_cpu_s();
  if (pid > 0)
    rss0 = pyr_proc_rss_kb(pid);
  uint64_t m0 = mono_ns(), tick = m0, last_rep = m0;
  uint64_t all0 = atomic_load(&G.ing_ok_all), ok_rep = all0;
  double cpu_rep = cpu_start;
  while (mono_ns() < G.t_end) {
    tick += 1000000000u;
    uint64_t now = mono_ns();
    if (tick > now) {
      uint64_t d = tick - now;
      struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};
      nanosleep(&ts, NULL);
    }
    if (pid > 0) {
      double c = pyr_proc_cpu_s(pid);
      long r = pyr_proc_rss_kb(pid);
      if (c >= 0 && prev_cpu >= 0 && ncpu < nsec)
        cpu_ps[ncpu++] = c - prev_cpu;
      prev_cpu = c;
      if (r > rss_peak)
        rss_peak = r;
      if (r >= 0)
        rss_end = r;
    }
    now = mono_ns();
    if ((double)(now - last_rep) / 1e9 >= report - 0.01) {
      double secs = (double)(now - last_rep) / 1e9;
      uint64_t ok = atomic_load(&G.ing_ok_all);
      double c = pid > 0 ? prev_cpu : 0;
      printf("t=%5.0fs  stored %7.1f uploads/s  errors %llu  server cpu %.2f cores  "
             "rss %.1f MB\n",
             (double)(now - m0) / 1e9, (double)(ok - ok_rep) / secs,
             (unsigned long long)(atomic_load(&G.ing_err) +
                                  atomic_load(&G.ing_conn_err)),
             pid > 0 ? (c - cpu_rep) / secs : 0.0, (double)rss_end / 1024.0);
      fflush(stdout);
      ok_rep = ok;
      cpu_rep = c;
      last_rep = now;
    }
  }
  double secs = (double)(mono_ns() - m0) / 1e9;
  uint64_t all1 = atomic_load(&G.ing_ok_all);
  double cpu_end = pid > 0 ? pyr_proc_cpu_s(pid) : -1;
  pthread_join(ith, NULL);
  for (unsigned t = 0; t < G.qthreads && G.qrate > 0; t++)
    pthread_join(Q[t].th, NULL);
  double self1 = self_cpu_s();
  loadavg(la1, sizeof(la1));

  /* ---- report ---- */
  uint64_t ok = atomic_load(&G.ing_ok), err = atomic_load(&G.ing_err),
           cerr = atomic_load(&G.ing_conn_err);
  printf("\n== ingest (measured %.1f s)\n", secs);
  printf("uploads due in the window: %llu ok, %llu HTTP errors, %llu connection "
         "errors; backlog at end %llu due but not sent (%.1f s behind), %llu in "
         "flight\n",
         (unsigned long long)ok, (unsigned long long)err, (unsigned long long)cerr,
         (unsigned long long)I.backlog, G.rate > 0 ? (double)I.backlog / G.rate : 0.0,
         (unsigned long long)I.in_flight_end);
  for (int s = 0; s < 600; s++)
    if (I.status[s] && s != 200)
      printf("  status %d: %llu\n", s, (unsigned long long)I.status[s]);
  printf("throughput: %.1f uploads/s stored in the window (target %.0f), %.1f MB/s "
         "of bodies\n",
         (double)(all1 - all0) / secs, G.rate,
         (double)(all1 - all0) * (double)G.body_len / secs / 1e6);
  lat_print("ingest latency from due time", &I.from_due);
  lat_print("ingest latency from send", &I.from_send);
  /* Per-second completions: how steady the rate was. */
  {
    size_t s0 = (size_t)warmup + 1, s1 = (size_t)(warmup + dur);
    if (s1 > 4096)
      s1 = 4096;
    double *ps = calloc(s1 > s0 ? s1 - s0 : 1, sizeof(double));
    size_t n = 0;
    for (size_t s = s0; s < s1 && ps != NULL; s++)
      ps[n++] = (double)atomic_load(&G.per_sec_ok[s]);
    if (n > 0) {
      qsort(ps, n, sizeof(double), cmp_dbl);
      printf("stored per second: min %.0f  p10 %.0f  median %.0f  max %.0f\n", ps[0],
             ps[n / 10], ps[n / 2], ps[n - 1]);
    }
    free(ps);
  }

  printf("\n== queries\n");
  lat_vec all[2] = {{0}, {0}};
  uint64_t qok[2] = {0, 0}, qerr[2] = {0, 0}, qcerr = 0, qempty = 0, qst[600] = {0};
  for (unsigned t = 0; t < G.qthreads && G.qrate > 0; t++) {
    for (int k = 0; k < 2; k++) {
      for (size_t j = 0; j < Q[t].lat[k].n; j++)
        lat_push(&all[k], Q[t].lat[k].v[j]);
      free(Q[t].lat[k].v);
      qok[k] += Q[t].ok[k];
      qerr[k] += Q[t].err[k];
    }
    qcerr += Q[t].conn_err;
    qempty += Q[t].empty;
    for (int s = 0; s < 600; s++)
      qst[s] += Q[t].status[s];
    free(Q[t].buf);
  }
  printf("render: %llu ok, %llu errors; SelectMergeStacktraces: %llu ok, %llu "
         "errors; %llu connection errors; %llu empty results\n",
         (unsigned long long)qok[0], (unsigned long long)qerr[0],
         (unsigned long long)qok[1], (unsigned long long)qerr[1],
         (unsigned long long)qcerr, (unsigned long long)qempty);
  for (int s = 0; s < 600; s++)
    if (qst[s] && s != 200)
      printf("  status %d: %llu\n", s, (unsigned long long)qst[s]);
  lat_print("render latency", &all[0]);
  lat_print("SelectMergeStacktraces latency", &all[1]);

  printf("\n== resources\n");
  if (pid > 0 && cpu_start >= 0 && cpu_end >= 0) {
    double med = 0, mx = 0;
    if (ncpu > 0) {
      qsort(cpu_ps, ncpu, sizeof(double), cmp_dbl);
      med = cpu_ps[ncpu / 2];
      mx = cpu_ps[ncpu - 1];
    }
    printf("server cpu (utime+stime): mean %.2f cores, per-second median %.2f "
           "max %.2f; %.3f ms CPU per stored upload (queries included)\n",
           (cpu_end - cpu_start) / secs, med, mx,
           all1 > all0 ? (cpu_end - cpu_start) * 1e3 / (double)(all1 - all0) : 0.0);
    printf("server rss: start %.1f MB, peak %.1f MB, end %.1f MB\n",
           (double)rss0 / 1024.0, (double)rss_peak / 1024.0,
           (double)rss_end / 1024.0);
  }
  printf("load_mixed itself: %.2f cores\n", (self1 - self0) / secs);
  printf("loadavg after: %s\n", la1);

  free(all[0].v);
  free(all[1].v);
  free(cpu_ps);
  free(I.from_due.v);
  free(I.from_send.v);
  free(I.c);
  free(I.idle);
  free(Q);
  free(body);
  free(raw);
  free(gz);
  bool connected = all1 + err > 0;
  if (strict && (err || cerr || qerr[0] || qerr[1] || qcerr || all1 == 0 ||
                 (G.qrate > 0 && (qok[0] == 0 || qok[1] == 0)))) {
    printf("strict: FAILED (a request failed, or nothing succeeded)\n");
    connected = false;
  }
  return connected ? 0 : 1;
}
