/*
 * ingest_load.c - load generator for pyrited's /ingest (loopback only).
 *
 *   ingest_load [--port 4040] [--host 127.0.0.1] [-c CONNS] [-d SECONDS]
 *               [--threads T] [--apps N] [--jfr FILE[.gz]] [--labels FILE]
 *               [--samples N] [--stacks N] [--pid SERVER_PID]
 *               [--warmup SECONDS]
 *
 * Each connection sends, back to back on one keep-alive connection, the
 * request the Pyroscope Java agent sends every 10 s: POST /ingest?...&
 * format=jfr with a multipart/form-data body (gzipped `jfr` part with a
 * filename, optional gzipped `labels` part) in chunked transfer encoding.
 * The JFR is synthesised with the agent's own writer (synth/jfr_payload.c):
 * a thread pool running a realistic call tree (CPU samples, TLAB
 * allocations, monitor contention), ~30 KB gzipped by default; or taken
 * from a file.  Uploads are spread over --apps applications (series).
 *
 * Prints uploads/s, MB/s, latency percentiles, errors by status, and with
 * --pid the server's CPU time per upload (from /proc).  Connections are
 * driven by non-blocking sockets on one epoll loop per thread, so the
 * generator itself stays cheap on small machines.
 *
 * Threads: --threads loops (default 1), each owning its connections; the
 * results are merged after join.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "synth/http_pump.h"
#include "synth/proc_stat.h"
#include "synth/jfr_payload.h"

#define MAX_CONNS 4096
#define RESP_MAX 65536

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int read_file(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return -1;
  size_t cap = 1 << 20, n = 0;
  uint8_t *b = malloc(cap);
  while (b != NULL) {
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (n < cap)
      break;
    uint8_t *nb = realloc(b, cap * 2);
    if (nb == NULL) {
      free(b);
      b = NULL;
      break;
    }
    b = nb;
    cap *= 2;
  }
  fclose(f);
  *out = b;
  *len = n;
  return b ? 0 : -1;
}

/* ---- connections ---------------------------------------------------------- */

struct conn {
  int fd;
  unsigned id;
  uint64_t seq;
  /* request being sent: head (per request) + body (shared) + tail */
  char head[1024];
  size_t head_len, sent; /* bytes of head+body+tail already written */
  /* response */
  char resp[RESP_MAX];
  size_t rlen;
  uint64_t t_start;
  bool busy;
};

struct loop {
  pthread_t th;
  unsigned first, nconns;
  struct conn *conns;
  uint64_t *lat_ns;
  size_t nlat, lat_cap;
  uint64_t ok, errors, conn_errors, bytes;
  uint64_t status[600];
};

static struct {
  struct sockaddr_storage addr;
  socklen_t addrlen;
  const uint8_t *body;
  size_t body_len;
  char ctype[128];
  unsigned apps;
  uint64_t t_begin, t_measure, t_end;
  char host[64];
  int port;
} G;

static int connect_one(struct conn *c) {
  c->fd = socket(G.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(c->fd, (struct sockaddr *)&G.addr, G.addrlen) != 0 &&
      errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  return 0;
}

static void prepare(struct conn *c) {
  uint64_t now_s = 1700000000u + c->seq * 10;
  unsigned app = (unsigned)((c->id * 7919u + c->seq) % G.apps);
  c->head_len = (size_t)snprintf(
      c->head, sizeof(c->head),
      "POST /ingest?name=bench-app-%u%%7Benv%%3Dbench%%2Cregion%%3Deu%%7D"
      "&units=samples&aggregationType=sum&from=%llu&until=%llu"
      "&spyName=javaspy&sampleRate=100&format=jfr HTTP/1.1\r\n"
      "Host: %s:%d\r\nUser-Agent: pyrite-ingest-load\r\n"
      "Content-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n",
      app, (unsigned long long)now_s, (unsigned long long)(now_s + 10), G.host,
      G.port, G.ctype, G.body_len);
  c->sent = 0;
  c->rlen = 0;
  c->seq++;
  c->busy = true;
  c->t_start = mono_ns();
}

static const char TAIL[] = "\r\n0\r\n\r\n";

/* Writes as much of the request as the socket takes: 1 done, 0 again, -1. */
static int pump_write(struct conn *c) {
  const void *parts[] = {c->head, G.body, TAIL};
  const size_t lens[] = {c->head_len, G.body_len, sizeof(TAIL) - 1};
  return pyr_pump_send(c->fd, parts, lens, 3, &c->sent);
}

/* Reads the response: 1 complete (status in *status), 0 again, -1 error. */
static int pump_read(struct conn *c, int *status, bool *close_after) {
  return pyr_pump_recv(c->fd, c->resp, sizeof(c->resp), &c->rlen, status, close_after);
}

static void record(struct loop *L, uint64_t ns, int status) {
  if (mono_ns() < G.t_measure)
    return;
  if (status >= 0 && status < 600)
    L->status[status]++;
  if (status == 200) {
    L->ok++;
    L->bytes += G.body_len;
  } else {
    L->errors++;
  }
  if (L->nlat == L->lat_cap) {
    size_t nc = L->lat_cap ? L->lat_cap * 2 : 65536;
    uint64_t *n = realloc(L->lat_ns, nc * sizeof(*n));
    if (n == NULL)
      return;
    L->lat_ns = n;
    L->lat_cap = nc;
  }
  L->lat_ns[L->nlat++] = ns;
}

static void *loop_main(void *arg) {
  struct loop *L = arg;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev, evs[256];
  for (unsigned i = 0; i < L->nconns; i++) {
    struct conn *c = &L->conns[i];
    c->id = L->first + i;
    if (connect_one(c) != 0) {
      L->conn_errors++;
      continue;
    }
    prepare(c);
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  }
  while (mono_ns() < G.t_end) {
    int n = epoll_wait(ep, evs, 256, 100);
    for (int k = 0; k < n; k++) {
      struct conn *c = evs[k].data.ptr;
      int rc = 0, status = 0;
      bool close_after = false;
      if (evs[k].events & (EPOLLERR | EPOLLHUP))
        rc = -1;
      if (rc == 0 && (evs[k].events & EPOLLOUT)) {
        rc = pump_write(c);
        if (rc == 1) {
          ev.events = EPOLLIN;
          ev.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
          rc = 0;
        }
      }
      if (rc == 0 && (evs[k].events & EPOLLIN)) {
        rc = pump_read(c, &status, &close_after);
        if (rc == 1) {
          record(L, mono_ns() - c->t_start, status);
          if (close_after)
            rc = -1;
          else {
            prepare(c);
            ev.events = EPOLLIN | EPOLLOUT;
            ev.data.ptr = c;
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            continue;
          }
        }
      }
      if (rc < 0) {
        if (status == 0 && c->busy)
          L->conn_errors++;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        if (connect_one(c) != 0) {
          L->conn_errors++;
          c->busy = false;
          continue;
        }
        prepare(c);
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
      }
    }
  }
  for (unsigned i = 0; i < L->nconns; i++)
    if (L->conns[i].fd >= 0)
      close(L->conns[i].fd);
  close(ep);
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}


static void usage(void) {
  fprintf(stderr,
          "usage: ingest_load [--port P] [--host 127.0.0.1|::1|localhost] "
          "[-c CONNS] [-d SECONDS] [--threads T] [--apps N] [--jfr FILE] "
          "[--labels FILE] [--samples N] [--stacks N] [--warmup S] "
          "[--pid SERVER_PID]\n");
}

int main(int argc, char **argv) {
  unsigned conns = 16, nthreads = 1, samples = 1000, nstacks = 200;
  double dur = 10, warmup = 1;
  const char *jfr_path = NULL, *labels_path = NULL;
  int pid = 0;
  snprintf(G.host, sizeof(G.host), "127.0.0.1");
  G.port = 4040;
  G.apps = 50;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if ((!strcmp(a, "-c") || !strcmp(a, "--connections")) && v)
      conns = (unsigned)atoi(v), i++;
    else if ((!strcmp(a, "-d") || !strcmp(a, "--duration")) && v)
      dur = atof(v), i++;
    else if (!strcmp(a, "--threads") && v)
      nthreads = (unsigned)atoi(v), i++;
    else if (!strcmp(a, "--port") && v)
      G.port = atoi(v), i++;
    else if (!strcmp(a, "--host") && v)
      snprintf(G.host, sizeof(G.host), "%s", v), i++;
    else if (!strcmp(a, "--apps") && v)
      G.apps = (unsigned)atoi(v), i++;
    else if (!strcmp(a, "--jfr") && v)
      jfr_path = v, i++;
    else if (!strcmp(a, "--labels") && v)
      labels_path = v, i++;
    else if (!strcmp(a, "--samples") && v)
      samples = (unsigned)atoi(v), i++;
    else if (!strcmp(a, "--stacks") && v)
      nstacks = (unsigned)atoi(v), i++;
    else if (!strcmp(a, "--warmup") && v)
      warmup = atof(v), i++;
    else if (!strcmp(a, "--pid") && v)
      pid = atoi(v), i++;
    else {
      usage();
      return 2;
    }
  }
  if (conns == 0 || conns > MAX_CONNS || nthreads == 0 || nthreads > conns ||
      dur <= 0 || G.apps == 0) {
    usage();
    return 2;
  }
  /* Loopback only: this tool is a benchmark, not a traffic cannon. */
  memset(&G.addr, 0, sizeof(G.addr));
  if (!strcmp(G.host, "127.0.0.1") || !strcmp(G.host, "localhost")) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&G.addr;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)G.port);
    s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    G.addrlen = sizeof(*s4);
  } else if (!strcmp(G.host, "::1")) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&G.addr;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)G.port);
    s6->sin6_addr = in6addr_loopback;
    G.addrlen = sizeof(*s6);
  } else {
    fprintf(stderr, "ingest_load: only loopback hosts are allowed\n");
    return 2;
  }

  /* Payload: gzipped JFR (+ labels) in the agent's multipart form. */
  uint8_t *raw = NULL, *jgz = NULL, *lab = NULL, *lgz = NULL;
  size_t raw_len = 0, jgz_len = 0, lab_len = 0, lgz_len = 0;
  if (jfr_path != NULL) {
    if (read_file(jfr_path, &raw, &raw_len) != 0) {
      fprintf(stderr, "ingest_load: cannot read %s\n", jfr_path);
      return 1;
    }
  } else if (load_synth_jfr(samples, nstacks ? nstacks : 1, &raw, &raw_len) != 0) {
    fprintf(stderr, "ingest_load: cannot synthesise a JFR\n");
    return 1;
  }
  if (raw_len >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
    jgz = raw;
    jgz_len = raw_len;
    raw = NULL;
  } else if (load_gzip1(raw, raw_len, &jgz, &jgz_len) != 0) {
    return 1;
  }
  if (labels_path != NULL) {
    if (read_file(labels_path, &lab, &lab_len) != 0) {
      fprintf(stderr, "ingest_load: cannot read %s\n", labels_path);
      return 1;
    }
    if (lab_len >= 2 && lab[0] == 0x1f && lab[1] == 0x8b) {
      lgz = lab;
      lgz_len = lab_len;
      lab = NULL;
    } else if (load_gzip1(lab, lab_len, &lgz, &lgz_len) != 0) {
      return 1;
    }
  }
  const char *bnd = "6f1c1a7e-ingest-load-boundary";
  snprintf(G.ctype, sizeof(G.ctype), "multipart/form-data; boundary=%s", bnd);
  size_t cap = jgz_len + lgz_len + 1024;
  uint8_t *body = malloc(cap);
  size_t bl = (size_t)snprintf((char *)body, cap,
                               "--%s\r\nContent-Disposition: form-data; "
                               "name=\"jfr\"; filename=\"jfr\"\r\n\r\n", bnd);
  memcpy(body + bl, jgz, jgz_len);
  bl += jgz_len;
  if (lgz != NULL) {
    bl += (size_t)snprintf((char *)body + bl, cap - bl,
                           "\r\n--%s\r\nContent-Disposition: form-data; "
                           "name=\"labels\"; filename=\"labels\"\r\n"
                           "Content-Type: application/x-protobuf\r\n\r\n", bnd);
    memcpy(body + bl, lgz, lgz_len);
    bl += lgz_len;
  }
  bl += (size_t)snprintf((char *)body + bl, cap - bl, "\r\n--%s--\r\n", bnd);
  G.body = body;
  G.body_len = bl;

  printf("ingest_load: %u connections (%u loop threads), %.1f s (+%.1f s "
         "warm-up), %u apps\n",
         conns, nthreads, dur, warmup, G.apps);
  printf("payload: jfr %zu B raw -> %zu B gzip, multipart body %zu B\n",
         raw ? raw_len : 0, jgz_len, G.body_len);

  struct loop *loops = calloc(nthreads, sizeof(*loops));
  struct conn *cs = calloc(conns, sizeof(*cs));
  G.t_begin = mono_ns();
  G.t_measure = G.t_begin + (uint64_t)(warmup * 1e9);
  G.t_end = G.t_measure + (uint64_t)(dur * 1e9);
  double cpu0 = 0;
  unsigned per = conns / nthreads, extra = conns % nthreads, first = 0;
  for (unsigned t = 0; t < nthreads; t++) {
    loops[t].first = first;
    loops[t].nconns = per + (t < extra);
    loops[t].conns = cs + first;
    first += loops[t].nconns;
    pthread_create(&loops[t].th, NULL, loop_main, &loops[t]);
  }
  /* Server CPU over the measured window only. */
  while (mono_ns() < G.t_measure)
    usleep(10000);
  if (pid > 0)
    cpu0 = pyr_proc_cpu_s(pid);
  uint64_t m0 = mono_ns();
  for (unsigned t = 0; t < nthreads; t++)
    pthread_join(loops[t].th, NULL);
  double secs = (double)(mono_ns() - m0) / 1e9;
  double cpu1 = pid > 0 ? pyr_proc_cpu_s(pid) : 0;

  uint64_t ok = 0, errs = 0, cerrs = 0, bytes = 0, status[600] = {0};
  size_t nlat = 0;
  for (unsigned t = 0; t < nthreads; t++) {
    ok += loops[t].ok;
    errs += loops[t].errors;
    cerrs += loops[t].conn_errors;
    bytes += loops[t].bytes;
    nlat += loops[t].nlat;
    for (int s = 0; s < 600; s++)
      status[s] += loops[t].status[s];
  }
  uint64_t *lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
  size_t k = 0;
  for (unsigned t = 0; t < nthreads; t++) {
    memcpy(lat + k, loops[t].lat_ns, loops[t].nlat * sizeof(*lat));
    k += loops[t].nlat;
    free(loops[t].lat_ns);
  }
  qsort(lat, nlat, sizeof(*lat), cmp_u64);
#define PCT(p) (nlat ? (double)lat[(size_t)((double)(nlat - 1) * (p))] / 1e6 : 0.0)
  printf("uploads: %llu ok, %llu HTTP errors, %llu connection errors\n",
         (unsigned long long)ok, (unsigned long long)errs,
         (unsigned long long)cerrs);
  for (int s = 0; s < 600; s++)
    if (status[s] && s != 200)
      printf("  status %d: %llu\n", s, (unsigned long long)status[s]);
  printf("throughput: %.1f uploads/s, %.1f MB/s of request bodies\n",
         (double)ok / secs, (double)bytes / secs / 1e6);
  printf("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", PCT(0.50),
         PCT(0.90), PCT(0.99), PCT(1.0));
  if (pid > 0 && cpu0 >= 0 && cpu1 >= 0)
    printf("server cpu: %.2f cores busy, %.3f ms CPU per upload\n",
           (cpu1 - cpu0) / secs, ok ? (cpu1 - cpu0) * 1e3 / (double)ok : 0.0);
  free(lat);
  free(cs);
  free(loops);
  free(body);
  free(raw);
  free(jgz);
  free(lab);
  free(lgz);
  return errs || cerrs ? 1 : 0;
}
