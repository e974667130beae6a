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

#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1767225600) * SEC) /* 2026-01-01 00:00 UTC */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds: the whole process (store threads included) / this thread.
 * On a shared, noisy 2-core VM these are the load-independent numbers. */
static double cpu_proc_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
static double cpu_thread_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64* */
static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void) {
  rnd_state ^= rnd_state >> 12;
  rnd_state ^= rnd_state << 25;
  rnd_state ^= rnd_state >> 27;
  return rnd_state * 2685821657736338717ull;
}
static double rndf(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
static int rndi(int n) { return (int)(rnd() % (uint64_t)n); }

/* --------------------------------------------------------- call graph */

typedef struct method {
  char name[128];
  int layer;
  int callee[6], ncallee;
  int line0;
} method;

static method *methods;
static int nmethods;

/* frames = (method, line); global ids */
typedef struct frame {
  int method, line;
} frame;
static frame *frames;
static int nframes, frame_cap;

static int frame_id(int m, int line) {
  /* Small open-addressing table keyed by (m, line). */
  static int *tab;
  static size_t mask;
  if (!tab) {
    mask = (1u << 20) - 1;
    tab = calloc(mask + 1, sizeof(*tab));
  }
  size_t h = ((size_t)m * 2654435761u ^ (size_t)line * 40503u) & mask;
  for (; tab[h]; h = (h + 1) & mask)
    if (frames[tab[h] - 1].method == m && frames[tab[h] - 1].line == line)
      return tab[h] - 1;
  if (nframes == frame_cap) {
    frame_cap = frame_cap ? frame_cap * 2 : 4096;
    frames = realloc(frames, (size_t)frame_cap * sizeof(*frames));
  }
  frames[nframes] = (frame){m, line};
  tab[h] = nframes + 1;
  return nframes++;
}

static const char *const app_mods[] = {"orders", "billing", "inventory", "users", "shipping",
                                       "catalog", "payments", "search"};
static const char *const app_nouns[] = {"Order", "Invoice", "Item", "Customer", "Shipment",
                                        "Product", "Payment", "Cart", "Price", "Account",
                                        "Discount", "Address", "Token", "Session"};
static const char *const verbs[] = {"get", "find", "compute", "validate", "map", "load",
                                    "save", "apply", "build", "resolve", "handle", "process",
                                    "toDto", "fromDto", "check", "update"};
static const char *const cpu_leaves[] = {
    "java/util/HashMap.getNode", "java/util/HashMap.putVal", "java/lang/String.hashCode",
    "java/lang/String.equals", "java/util/ArrayList.add", "java/math/BigDecimal.multiply",
    "java/math/BigDecimal.setScale", "com/fasterxml/jackson/core/json/UTF8JsonGenerator.writeString",
    "com/fasterxml/jackson/databind/ser/BeanSerializer.serialize",
    "java/util/regex/Pattern$CharProperty.match", "java/time/format/DateTimeFormatter.format",
    "java/lang/StringLatin1.indexOf", "java/util/TimSort.mergeLo",
    "java/util/stream/ReferencePipeline$3$1.accept", "org/hibernate/engine/internal/StatefulPersistenceContext.getEntity",
    "java/util/concurrent/ConcurrentHashMap.get", "java/lang/Integer.parseInt"};
static const char *const alloc_leaves[] = {
    "java/util/Arrays.copyOf", "java/lang/StringBuilder.<init>",
    "java/util/ArrayList.grow", "java/lang/String.<init>", "java/util/HashMap.resize",
    "java/math/BigDecimal.<init>", "com/fasterxml/jackson/core/util/TextBuffer.expand",
    "java/nio/HeapByteBuffer.<init>", "java/lang/AbstractStringBuilder.ensureCapacityInternal"};
static const char *const lock_tails[][3] = {
    {"java/util/concurrent/locks/ReentrantLock.lock",
     "java/util/concurrent/locks/AbstractQueuedSynchronizer.acquire",
     "java/util/concurrent/locks/LockSupport.park"},
    {"com/zaxxer/hikari/pool/HikariPool.getConnection",
     "com/zaxxer/hikari/util/ConcurrentBag.borrow",
     "java/util/concurrent/SynchronousQueue.poll"},
    {"ch/qos/logback/core/OutputStreamAppender.subAppend",
     "ch/qos/logback/core/OutputStreamAppender.writeBytes",
     "java/util/concurrent/locks/ReentrantLock.lock"}};
static const char *const idle_tails[][3] = {
    {"java/util/concurrent/LinkedBlockingQueue.take",
     "java/util/concurrent/locks/AbstractQueuedSynchronizer$ConditionObject.await",
     "jdk/internal/misc/Unsafe.park"},
    {"sun/nio/ch/SelectorImpl.select", "sun/nio/ch/EPollSelectorImpl.doSelect",
     "sun/nio/ch/EPoll.wait"},
    {"java/lang/Thread.sleep", "java/lang/Thread.sleep0", "java/lang/Thread.sleep0"}};
static const char *const root_chain[] = {
    "java/lang/Thread.run",
    "org/apache/tomcat/util/threads/TaskThread$WrappingRunnable.run",
    "org/apache/tomcat/util/threads/ThreadPoolExecutor$Worker.run",
    "org/apache/tomcat/util/threads/ThreadPoolExecutor.runWorker",
    "org/apache/tomcat/util/net/SocketProcessorBase.run",
    "org/apache/tomcat/util/net/NioEndpoint$SocketProcessor.doRun",
    "org/apache/coyote/AbstractProtocol$ConnectionHandler.process",
    "org/apache/coyote/AbstractProcessorLight.process",
    "org/apache/coyote/http11/Http11Processor.service",
    "org/apache/catalina/connector/CoyoteAdapter.service",
    "org/apache/catalina/core/StandardEngineValve.invoke",
    "org/apache/catalina/core/StandardHostValve.invoke",
    "org/apache/catalina/core/StandardContextValve.invoke",
    "org/apache/catalina/core/StandardWrapperValve.invoke",
    "org/apache/catalina/core/ApplicationFilterChain.doFilter",
    "org/apache/catalina/core/ApplicationFilterChain.internalDoFilter",
    "org/springframework/web/filter/OncePerRequestFilter.doFilter",
    "org/springframework/web/filter/CharacterEncodingFilter.doFilterInternal",
    "org/apache/catalina/core/ApplicationFilterChain.doFilter",
    "org/apache/catalina/core/ApplicationFilterChain.internalDoFilter",
    "javax/servlet/http/HttpServlet.service",
    "org/springframework/web/servlet/FrameworkServlet.service",
    "org/springframework/web/servlet/FrameworkServlet.processRequest",
    "org/springframework/web/servlet/DispatcherServlet.doService",
    "org/springframework/web/servlet/DispatcherServlet.doDispatch",
    "org/springframework/web/servlet/mvc/method/AbstractHandlerMethodAdapter.handle",
    "org/springframework/web/servlet/mvc/method/annotation/RequestMappingHandlerAdapter.invokeHandlerMethod",
    "org/springframework/web/servlet/mvc/method/annotation/ServletInvocableHandlerMethod.invokeAndHandle",
    "org/springframework/web/method/support/InvocableHandlerMethod.invokeForRequest",
    "org/springframework/web/method/support/InvocableHandlerMethod.doInvoke",
    "java/lang/reflect/Method.invoke",
    "jdk/internal/reflect/DirectMethodHandleAccessor.invoke"};
#define NROOT ((int)(sizeof(root_chain) / sizeof(root_chain[0])))

static int add_method(const char *name, int layer) {
  if (nmethods % 1024 == 0)
    methods = realloc(methods, (size_t)(nmethods + 1024) * sizeof(*methods));
  method *m = &methods[nmethods];
  memset(m, 0, sizeof(*m));
  snprintf(m->name, sizeof(m->name), "%s", name);
  m->layer = layer;
  m->line0 = 20 + rndi(400);
  return nmethods++;
}

static int root_m[NROOT];
static int leaf_cpu[32], leaf_alloc[32], nleaf_cpu, nleaf_alloc;
static int lock_m[3][3], idle_m[3][3];
static int layer_first[5], layer_n[5];

/* Layers: 0 controllers, 1 services, 2 repositories/mappers, 3 utils. */
static void build_graph(void) {
  for (int i = 0; i < NROOT; i++)
    root_m[i] = add_method(root_chain[i], -1);
  nleaf_cpu = (int)(sizeof(cpu_leaves) / sizeof(*cpu_leaves));
  for (int i = 0; i < nleaf_cpu; i++)
    leaf_cpu[i] = add_method(cpu_leaves[i], 9);
  nleaf_alloc = (int)(sizeof(alloc_leaves) / sizeof(*alloc_leaves));
  for (int i = 0; i < nleaf_alloc; i++)
    leaf_alloc[i] = add_method(alloc_leaves[i], 9);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      lock_m[i][j] = add_method(lock_tails[i][j], 9);
      idle_m[i][j] = add_method(idle_tails[i][j], 9);
    }
  static const char *const layer_pkg[] = {"api", "service", "repository", "util"};
  static const char *const layer_suffix[] = {"Controller", "Service", "Repository", "Mapper"};
  static const int per_layer[] = {60, 160, 160, 120};
  for (int l = 0; l < 4; l++) {
    layer_first[l] = nmethods;
    for (int i = 0; i < per_layer[l]; i++) {
      char name[128];
      int mod = rndi(8), noun = rndi(14), verb = rndi(16);
      snprintf(name, sizeof(name), "com/example/%s/%s/%s%s%s.%s%s", app_mods[mod],
               layer_pkg[l], app_nouns[noun], layer_suffix[l], i % 3 ? "" : "Impl",
               verbs[verb], app_nouns[rndi(14)]);
      add_method(name, l);
    }
    layer_n[l] = per_layer[l];
  }
  /* Callees: same or deeper layers, plus lambdas/proxies in between. */
  for (int l = 0; l < 4; l++)
    for (int i = 0; i < layer_n[l]; i++) {
      method *m = &methods[layer_first[l] + i];
      m->ncallee = 2 + rndi(4);
      for (int c = 0; c < m->ncallee; c++) {
        int tl = l + (rndi(3) == 0 ? 0 : 1);
        if (tl > 3)
          tl = 3;
        m->callee[c] = layer_first[tl] + rndi(layer_n[tl]);
      }
    }
}

/* ----------------------------------------------------------- stack pools */

enum { K_CPU, K_WALL, K_ALLOC, K_LOCK, K_N };

typedef struct pool {
  int n;
  int **st; /* frame ids, root first */
  int *len;
  double *cdf;
} pool;

static pool pools[K_N];

/*
 * Stacks follow request handlers: each endpoint has a fixed "spine" (the
 * controller -> service -> repository path it always takes, 8-25 frames
 * below the servlet/Spring prefix); a sample leaves the spine at some
 * depth into a short side chain (0-6 frames) and ends in a leaf that
 * fits the event kind (CPU work, allocation site, lock, idle wait).  So
 * deep prefixes are shared, as in real services, and variety sits near
 * the leaves.
 */
#define NENDPOINTS 300
static int spine[NENDPOINTS][32], spine_len[NENDPOINTS];

static void build_spines(void) {
  for (int e = 0; e < NENDPOINTS; e++) {
    int m = layer_first[0] + rndi(layer_n[0]);
    int depth = 8 + rndi(18);
    int n = 0;
    for (int d = 0; d < depth && n < 31; d++) {
      method *me = &methods[m];
      int c = rndi(me->ncallee);
      spine[e][n++] = frame_id(m, me->line0 + c * 7);
      m = me->callee[c];
    }
    spine[e][n++] = frame_id(m, methods[m].line0);
    spine_len[e] = n;
  }
}

static int walk(int kind, int *out, int max) {
  int n = 0;
  if (kind == K_WALL && rndi(10) < 3) { /* idle pool/selector threads */
    static const int prefix[] = {0, 1, 2, 3};
    int t = rndi(3), pre = 1 + rndi(3);
    for (int i = 0; i < pre; i++)
      out[n++] = frame_id(root_m[prefix[i]], methods[root_m[prefix[i]]].line0);
    for (int j = 0; j < 3; j++)
      out[n++] = frame_id(idle_m[t][j], methods[idle_m[t][j]].line0);
    return n;
  }
  for (int i = 0; i < NROOT && n < max; i++)
    out[n++] = frame_id(root_m[i], methods[root_m[i]].line0);
  int e = rndi(NENDPOINTS);
  int cut = 2 + rndi(spine_len[e] - 1); /* leave the spine after `cut` frames */
  for (int i = 0; i < cut && n < max - 12; i++)
    out[n++] = spine[e][i];
  int m = frames[spine[e][cut - 1]].method;
  int side = rndi(7);
  for (int d = 0; d < side && n < max - 6; d++) {
    method *me = &methods[m];
    if (!me->ncallee)
      break;
    int c = rndi(me->ncallee);
    m = me->callee[c];
    out[n++] = frame_id(m, methods[m].line0 + rndi(me->ncallee) * 7);
  }
  switch (kind) {
  case K_ALLOC: {
    int lf = leaf_alloc[rndi(nleaf_alloc)];
    out[n++] = frame_id(lf, methods[lf].line0 + rndi(3));
    break;
  }
  case K_LOCK: {
    int t = rndi(3);
    for (int j = 0; j < 3; j++)
      out[n++] = frame_id(lock_m[t][j], methods[lock_m[t][j]].line0);
    break;
  }
  default: {
    if (rndi(4)) { /* JDK/library leaf; else the app method itself burns CPU */
      int lf = leaf_cpu[rndi(nleaf_cpu)];
      out[n++] = frame_id(lf, methods[lf].line0 + rndi(5));
    }
    break;
  }
  }
  return n;
}

static void build_pool(int kind, int n, double s) {
  pool *p = &pools[kind];
  p->n = n;
  p->st = malloc((size_t)n * sizeof(*p->st));
  p->len = malloc((size_t)n * sizeof(*p->len));
  p->cdf = malloc((size_t)n * sizeof(*p->cdf));
  int buf[160];
  double acc = 0;
  for (int i = 0; i < n; i++) {
    p->len[i] = walk(kind, buf, 150);
    p->st[i] = malloc((size_t)p->len[i] * sizeof(int));
    memcpy(p->st[i], buf, (size_t)p->len[i] * sizeof(int));
    acc += 1.0 / pow(i + 1, s);
    p->cdf[i] = acc;
  }
  for (int i = 0; i < n; i++)
    p->cdf[i] /= acc;
}

static int draw(const pool *p) {
  double u = rndf();
  int lo = 0, hi = p->n - 1;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (p->cdf[mid] < u)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* --------------------------------------------------------------- uploads */

static const pyr_prof_type types[K_N] = {
    {.name = "process_cpu", .nvalues = 1, .sample_type = {"cpu"},
     .sample_unit = {"nanoseconds"}, .period_type = "cpu", .period_unit = "nanoseconds",
     .period = 10000000},
    {.name = "wall", .nvalues = 1, .sample_type = {"wall"}, .sample_unit = {"nanoseconds"},
     .period_type = "wall", .period_unit = "nanoseconds", .period = 50000000},
    {.name = "memory", .nvalues = 2,
     .sample_type = {"alloc_in_new_tlab_objects", "alloc_in_new_tlab_bytes"},
     .sample_unit = {"count", "bytes"}, .period_type = "space", .period_unit = "bytes",
     .period = 524288},
    {.name = "mutex", .nvalues = 2, .sample_type = {"contentions", "delay"},
     .sample_unit = {"count", "nanoseconds"}, .period_type = "mutex", .period_unit = "count",
     .period = 1},
};
static int samples_per_upload[K_N] = {4000, 10000, 3000, 300};

typedef struct upload {
  pyr_prof *p[K_N];
} upload;

static pyr_prof *gen_prof(int kind, int nsamples, uint32_t *loc_of, int *count, int *touched) {
  pool *po = &pools[kind];
  pyr_prof *p = pyr_prof_new(&types[kind], &pyr_prof_default_limits);
  int nt = 0;
  for (int i = 0; i < nsamples; i++) {
    int s = draw(po);
    if (!count[s]++)
      touched[nt++] = s;
  }
  int ntouched_frames = 0;
  static int *tf;
  static int tf_cap;
  for (int t = 0; t < nt; t++) {
    int s = touched[t];
    uint32_t locs[160];
    for (int j = 0; j < po->len[s]; j++) {
      int f = po->st[s][j];
      if (!loc_of[f]) {
        const method *m = &methods[frames[f].method];
        int64_t name = pyr_prof_intern(p, m->name, strlen(m->name));
        loc_of[f] = (uint32_t)pyr_prof_location(p, (uint32_t)name, frames[f].line);
        if (ntouched_frames == tf_cap) {
          tf_cap = tf_cap ? tf_cap * 2 : 4096;
          tf = realloc(tf, (size_t)tf_cap * sizeof(*tf));
        }
        tf[ntouched_frames++] = f;
      }
      locs[j] = loc_of[f];
    }
    int64_t v[2];
    int c = count[s];
    switch (kind) {
    case K_CPU:
      v[0] = (int64_t)c * 10000000;
      break;
    case K_WALL:
      v[0] = (int64_t)c * 50000000;
      break;
    case K_ALLOC: {
      /* Most sites allocate one class (fixed size); ~30% allocate arrays
       * of varying length. */
      static const int fixed[] = {16, 24, 32, 40, 48, 56, 64, 72, 80, 96, 112, 128, 160, 256,
                                  1040, 4112, 16400};
      uint64_t h = (uint64_t)s * 0x9e3779b97f4a7c15ull;
      v[0] = c;
      v[1] = 0;
      if ((h >> 60) < 11)
        v[1] = (int64_t)c * fixed[(h >> 32) % 17];
      else
        for (int k = 0; k < c; k++)
          v[1] += 16 + 8 * (int64_t)rndi(1 << (4 + rndi(10)));
      break;
    }
    default:
      v[0] = c;
      v[1] = 0;
      for (int k = 0; k < c; k++)
        v[1] += 10000000 + (int64_t)rndi(190000000); /* 10..200 ms waits */
      break;
    }
    pyr_prof_add(p, locs, (uint32_t)po->len[s], 0, v);
    count[s] = 0;
  }
  for (int i = 0; i < ntouched_frames; i++)
    loc_of[tf[i]] = 0;
  return p;
}

static uint32_t *g_loc_of;
static int *g_count, *g_touched;
static double g_scale = 1.0;

static void gen_upload(upload *u) {
  for (int k = 0; k < K_N; k++) {
    int n = (int)(samples_per_upload[k] * g_scale);
    u->p[k] = gen_prof(k, n < 1 ? 1 : n, g_loc_of, g_count, g_touched);
  }
}

static void free_upload(upload *u) {
  for (int k = 0; k < K_N; k++)
    pyr_prof_free(u->p[k]);
}

static size_t distinct_stacks(const upload *u) {
  size_t n = 0;
  for (int k = 0; k < K_N; k++)
    n += pyr_prof_nsamples(u->p[k]);
  return n;
}

static _Atomic int64_t sim_now;
static int64_t sim_clock(void *ctx) {
  (void)ctx;
  return atomic_load(&sim_now);
}

static int write_upload(pyr_store *st, const upload *u, const char *svc, int64_t from) {
  pyr_store_label l[] = {{"service_name", svc}, {"env", "bench"}, {"pyroscope_spy", "javaspy"},
                         {"jfr_event", "itimer"}, {"__delta__", "false"}};
  pyr_store_entry e[6];
  int n = 0;
  for (int k = 0; k < K_N; k++)
    for (uint32_t c = 0; c < types[k].nvalues; c++)
      e[n++] = (pyr_store_entry){l, 5, u->p[k], c, PYR_STORE_ALL_LABELSETS, from, from + 10 * SEC};
  char err[256];
  int rc = pyr_store_write(st, "anonymous", e, (size_t)n, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "bench_store: write: %s\n", err);
  return rc;
}

static pyr_store *open_store(const char *dir, int sync_full) {
  mkdir(dir, 0755);
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.sync_full = sync_full;
  o.clock = sim_clock;
  char err[256];
  pyr_store *st = pyr_store_open(dir, &o, err, sizeof(err));
  if (!st) {
    fprintf(stderr, "bench_store: %s\n", err);
    exit(1);
  }
  return st;
}

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
  qsort(v, n, sizeof(*v), dcmp);
  return n ? v[(size_t)((double)(n - 1) * p)] : 0;
}

/* ------------------------------------------------------------ throughput */

typedef struct tctx {
  pyr_store *st;
  upload *ring;
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
    double a = now_s();
    if (write_upload(t->st, &t->ring[j % t->nring], svc, t->base + (int64_t)(j / 8) * 10 * SEC) != 0)
      exit(1);
    t->lat[i] = (now_s() - a) * 1e3;
  }
  return NULL;
}

static void phase_tput(const char *dir, upload *ring, int nring, int threads, int total,
                       int sync_full) {
  char sub[4096];
  snprintf(sub, sizeof(sub), "%s/tput-%d-%s", dir, threads, sync_full ? "full" : "normal");
  atomic_store(&sim_now, T0);
  pyr_store *st = open_store(sub, sync_full);
  /* Warm-up: every app's dictionary sees the ring once. */
  for (int i = 0; i < nring; i++)
    for (int a = 0; a < 8; a++) {
      char svc[32];
      snprintf(svc, sizeof(svc), "app-%d", a);
      write_upload(st, &ring[i], svc, T0 - (int64_t)(nring - i) * 10 * SEC);
    }
  pthread_t th[64];
  tctx t[64];
  int per = total / threads;
  double t0 = now_s(), c0 = cpu_proc_s();
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
  double el = now_s() - t0, cpu = cpu_proc_s() - c0;
  pyr_store_stats s;
  pyr_store_get_stats(st, &s);
  size_t n = (size_t)per * threads;
  printf("throughput  sync=%-6s threads=%-2d uploads=%zu  %.0f uploads/s  latency p50 %.2f ms"
         "  p99 %.2f ms  cpu %.2f ms/upload (2-core ceiling %.0f/s)  %.1f uploads/commit\n",
         sync_full ? "FULL" : "NORMAL", threads, n, n / el, pct(all, n, 0.5),
         pct(all, n, 0.99), cpu * 1e3 / n, 2.0 * n / cpu,
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
  double a = now_s(), ca = cpu_thread_s();
  if (pyr_store_merge(st, "anonymous", &q, 0, &t, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_store: merge: %s\n", err);
    exit(1);
  }
  double ms = (now_s() - a) * 1e3;
  last_merge_cpu_ms = (cpu_thread_s() - ca) * 1e3;
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
    double lo = pct(v, (size_t)runs, 0), p50 = pct(v, (size_t)runs, 0.5),
           hi = pct(v, (size_t)runs, 1), cp50 = pct(c, (size_t)runs, 0.5);
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
  atomic_store(&sim_now, T0);
  pyr_store *st = open_store(sub, sync_full);
  double gen = 0, wr = 0;
  size_t distinct = 0;
  int64_t last = T0;
  for (int i = 0; i < uploads; i++) {
    upload u;
    double a = now_s();
    gen_upload(&u);
    double b = now_s();
    distinct += distinct_stacks(&u);
    last = T0 + (int64_t)i * 10 * SEC;
    atomic_store(&sim_now, last + 10 * SEC);
    if (write_upload(st, &u, "orders", last) != 0)
      exit(1);
    wr += now_s() - b;
    gen += b - a;
    free_upload(&u);
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
  st = open_store(sub, sync_full);
  atomic_store(&sim_now, last + 2 * 3600 * SEC);
  double a = now_s();
  if (pyr_store_sweep(st, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_store: sweep: %s\n", err);
    exit(1);
  }
  double csec = now_s() - a;
  pyr_store_get_stats(st, &s);
  pyr_store_close(st);
  uint64_t comp = dir_bytes(sub);
  printf("compaction  %" PRIu64 " profiles into %" PRIu64 " blocks in %.1f s\n",
         s.compacted_profiles, s.rows, csec);
  printf("storage     compacted: %.0f bytes/upload -> %.0f MB per app-month (30 d)"
         "  [target <= 300]\n",
         (double)comp / uploads, (double)comp / uploads * 259200 / 1e6);
  fflush(stdout);
  st = open_store(sub, sync_full);
  merges(st, last, runs, "compacted");
  pyr_store_close(st);
}

int main(int argc, char **argv) {
  if (argc < 2) {
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
      g_scale = atof(argv[++i]);
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      snprintf(threads_list, sizeof(threads_list), "%s", argv[++i]);
    else if (!strcmp(argv[i], "--tput") && i + 1 < argc)
      tput = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--sync") && i + 1 < argc)
      sync_full = strcmp(argv[++i], "normal") != 0;
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      rnd_state = strtoull(argv[++i], NULL, 10) | 1;
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
  build_graph();
  build_spines();
  build_pool(K_CPU, 20000, 1.0);
  build_pool(K_WALL, 20000, 1.2);
  build_pool(K_ALLOC, 8000, 1.0);
  build_pool(K_LOCK, 2000, 1.1);
  g_loc_of = calloc((size_t)nframes + 1, sizeof(*g_loc_of));
  g_count = calloc(20000, sizeof(*g_count));
  g_touched = calloc(20000, sizeof(*g_touched));
  printf("bench_store: scale %.2f (samples/upload cpu %d wall %d alloc %d lock %d),"
         " %d methods, %d distinct frames in the stack pools, sync %s\n",
         g_scale, (int)(4000 * g_scale), (int)(10000 * g_scale), (int)(3000 * g_scale),
         (int)(300 * g_scale), nmethods, nframes, sync_full ? "FULL" : "NORMAL");
  fflush(stdout);
  if (!skip_tput) {
    enum { NRING = 64 };
    upload *ring = malloc(NRING * sizeof(*ring));
    for (int i = 0; i < NRING; i++)
      gen_upload(&ring[i]);
    for (char *save = NULL, *tok = strtok_r(threads_list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
      int th = atoi(tok);
      if (th < 1 || th > 64)
        continue;
      phase_tput(dir, ring, NRING, th, tput, sync_full);
    }
    for (int i = 0; i < NRING; i++)
      free_upload(&ring[i]);
    free(ring);
  }
  if (!skip_day)
    phase_day(dir, uploads, runs, sync_full);
  return 0;
}
