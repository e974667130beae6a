/*
 * bench_query.c - end-to-end query benchmark for pyrited (DESIGN.md §4:
 * flame graph for 1 h of one app, 360 uploads, p50 <= 50 ms; 24 h <= 500 ms).
 *
 *   bench_query DIR [--uploads N] [--runs R] [--scale F] [--seed S]
 *                   [--sync full|normal] [--skip-compacted]
 *
 * Data: the storage benchmark's generator (ported from bench_store.c):
 * Java-shaped stacks (servlet/Spring prefix, request-handler spines,
 * app/JDK leaves, 30-90 frames), Zipf-drawn from stack pools, every 10 s
 * upload fresh, with all four agent profile types (CPU, wall, alloc,
 * lock: 6 series), so the store holds what a real app-day holds.  At
 * --scale 1 a CPU profile has ~1,500 distinct stacks per upload (4,200
 * over the four types).
 *
 * Measured, for the last 1 h (360 uploads) and 24 h (8640 uploads), on
 * fresh rows and again after compaction (the store merges closed 1 h
 * windows into blocks; the newest hour is always fresh):
 *   store    pyr_store_merge alone (storage side: read, decode, sum, tree)
 *   fg       + flame graph levels with maxNodes 8192 (our side)
 *   render   GET /pyroscope/render end to end through pyr_query_handle
 *            (exactly what a query worker runs: argument parsing, merge,
 *            flame graph, timeline from per-profile totals, JSON)
 *   smst-pb  SelectMergeStacktraces, application/proto request and answer
 *   smst-js  SelectMergeStacktraces, application/json
 * Each run does every variant once, interleaved (A B C A B C ...) so the
 * noise of a shared VM hits all alike; reported: first (cold) run, then
 * p50 / min / max of --runs warm runs, wall time and the thread's CPU time.
 *
 * Threads: one.  The store gets a simulated clock following upload times.
 */
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flamegraph.h"
#include "profile.h"
#include "querier.pb-c.h"
#include "query.h"
#include "query_engine.h"
#include "store.h"

#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1767225600) * SEC) /* 2026-01-01 00:00 UTC */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------- generator (from bench_store.c) */

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
    fprintf(stderr, "bench_query: write: %s\n", err);
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
    fprintf(stderr, "bench_query: %s\n", err);
    exit(1);
  }
  return st;
}

/* ------------------------------------------------------------- measuring */

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
  qsort(v, n, sizeof(*v), dcmp);
  return n ? v[(size_t)((double)(n - 1) * p)] : 0;
}

static int64_t bench_now(void) { return atomic_load(&sim_now); }

static pyr_store *g_st;
static pyr_query_env g_env;
#define CPU_TYPE "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define SELECTOR "{service_name=\"orders\"}"

enum { V_STORE, V_FG, V_RENDER, V_SMST_PB, V_SMST_JS, V_N };
static const char *const vname[V_N] = {"store", "fg", "render", "smst-pb", "smst-js"};

typedef struct result {
  size_t bytes;  /* response body */
  size_t nodes;  /* tree nodes (store, fg) or flame graph nodes */
  int64_t total;
} result;

static void die(const char *what, const pyr_query_resp *r) {
  fprintf(stderr, "bench_query: %s: %u %s\n", what, r ? r->status : 0, r ? r->message : "");
  exit(1);
}

static void run_store(int64_t start, int64_t end, result *res) {
  pyr_store_query q = {.profile_type = CPU_TYPE, .start_ns = start, .end_ns = end};
  pyr_store_label m = {"service_name", "orders"};
  q.match = &m;
  q.nmatch = 1;
  pyr_store_tree *t = NULL;
  char err[256];
  if (pyr_store_merge(g_st, "anonymous", &q, 0, &t, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_query: merge: %s\n", err);
    exit(1);
  }
  res->nodes = t->nnodes;
  res->total = t->total;
  pyr_store_tree_free(t);
}

static void run_fg(int64_t start, int64_t end, result *res) {
  pyr_selector sel;
  pyr_query_resp r = {0};
  char err[256];
  pyr_selector_init(&sel);
  if (pyr_selector_parse(SELECTOR, strlen(SELECTOR), &sel, err, sizeof(err)) != 0)
    die(err, NULL);
  pyr_store_tree *t = NULL;
  if (pyr_qe_merge(&g_env, "anonymous", CPU_TYPE, &sel, start, end, 0, &t, &r) != 0)
    die("merge", &r);
  pyr_flamegraph fg;
  if (pyr_fg_build(t, PYR_FG_DEFAULT_MAX_NODES, &fg) != 0)
    die("flame graph", NULL);
  res->nodes = fg.nnodes;
  res->total = fg.total;
  pyr_fg_free(&fg);
  pyr_store_tree_free(t);
  pyr_selector_free(&sel);
}

static void run_render(int64_t start, int64_t end, result *res) {
  char from[32], until[32];
  snprintf(from, sizeof(from), "%" PRId64, start / 1000000);
  snprintf(until, sizeof(until), "%" PRId64, end / 1000000);
  pyr_query_arg args[] = {{"query", CPU_TYPE SELECTOR}, {"from", from}, {"until", until}};
  pyr_query_req req = {.route = PYR_ROUTE_RENDER, .path = "/pyroscope/render",
                       .tenant = "anonymous", .args = args, .nargs = 3};
  pyr_query_resp r;
  pyr_query_handle(&g_env, &req, &r);
  if (r.status != 200)
    die("render", &r);
  res->bytes = r.len;
  pyr_query_resp_free(&r);
}

static void run_smst(int64_t start, int64_t end, bool json, result *res) {
  uint8_t pb[512];
  char js[512];
  Querier__V1__SelectMergeStacktracesRequest m =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__INIT;
  m.profile_typeid = CPU_TYPE;
  m.label_selector = SELECTOR;
  m.start = start / 1000000;
  m.end = end / 1000000;
  pyr_query_req req = {.route = PYR_ROUTE_QUERIER,
                       .path = "/querier.v1.QuerierService/SelectMergeStacktraces",
                       .tenant = "anonymous"};
  if (json) {
    int n = snprintf(js, sizeof(js),
                     "{\"profileTypeID\":\"%s\",\"labelSelector\":\"{service_name=\\\"orders\\\"}\","
                     "\"start\":\"%" PRId64 "\",\"end\":\"%" PRId64 "\"}",
                     CPU_TYPE, m.start, m.end);
    req.content_type = "application/json";
    req.body = (const unsigned char *)js;
    req.len = (size_t)n;
  } else {
    req.content_type = "application/proto";
    req.len = querier__v1__select_merge_stacktraces_request__pack(&m, pb);
    req.body = pb;
  }
  pyr_query_resp r;
  pyr_query_handle(&g_env, &req, &r);
  if (r.status != 200)
    die("SelectMergeStacktraces", &r);
  res->bytes = r.len;
  pyr_query_resp_free(&r);
}

static void run_variant(int v, int64_t start, int64_t end, result *res) {
  switch (v) {
  case V_STORE: run_store(start, end, res); break;
  case V_FG: run_fg(start, end, res); break;
  case V_RENDER: run_render(start, end, res); break;
  case V_SMST_PB: run_smst(start, end, false, res); break;
  default: run_smst(start, end, true, res); break;
  }
}

static void measure(const char *what, int64_t last, int runs) {
  static const struct {
    const char *name;
    int64_t span;
  } ranges[] = {{"1h", 3600 * SEC}, {"24h", 86400 * SEC}};
  for (size_t ri = 0; ri < 2; ri++) {
    int64_t start = last - ranges[ri].span + 1000000, end = last + 1000000;
    double first_w[V_N], first_c[V_N];
    double *w = malloc((size_t)runs * V_N * sizeof(double));
    double *c = malloc((size_t)runs * V_N * sizeof(double));
    result res[V_N];
    memset(res, 0, sizeof(res));
    for (int run = -1; run < runs; run++)
      for (int v = 0; v < V_N; v++) {
        double a = now_s(), ac = cpu_s();
        run_variant(v, start, end, &res[v]);
        double dw = (now_s() - a) * 1e3, dc = (cpu_s() - ac) * 1e3;
        if (run < 0) {
          first_w[v] = dw;
          first_c[v] = dc;
        } else {
          w[v * runs + run] = dw;
          c[v * runs + run] = dc;
        }
      }
    for (int v = 0; v < V_N; v++) {
      double *wv = w + v * runs, *cv = c + v * runs;
      double p50 = pct(wv, (size_t)runs, 0.5), lo = pct(wv, (size_t)runs, 0),
             hi = pct(wv, (size_t)runs, 1), cp50 = pct(cv, (size_t)runs, 0.5);
      printf("%-9s %-3s %-8s first %7.1f ms | p50 %7.1f ms (min %6.1f, max %6.1f) | cpu p50 %7.1f"
             " ms (first %6.1f)",
             what, ranges[ri].name, vname[v], first_w[v], p50, lo, hi, cp50, first_c[v]);
      if (res[v].nodes)
        printf(" | %zu %s", res[v].nodes, v == V_STORE ? "tree nodes" : "graph nodes");
      if (res[v].bytes)
        printf(" | %zu bytes", res[v].bytes);
      printf("\n");
    }
    fflush(stdout);
    free(w);
    free(c);
  }
}

static int64_t g_last_from;

static int last_cb(void *ctx, const pyr_store_series *s) {
  (void)ctx;
  if (s->t_max_ns > g_last_from)
    g_last_from = s->t_max_ns;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_query DIR [--uploads N] [--runs R] [--scale F] [--seed S]"
                    " [--sync full|normal] [--skip-compacted]\n");
    return 2;
  }
  const char *dir = argv[1];
  int uploads = 8640, runs = 7, sync_full = 0, skip_compacted = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--uploads") && i + 1 < argc)
      uploads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--scale") && i + 1 < argc)
      g_scale = atof(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      rnd_state = strtoull(argv[++i], NULL, 10) | 1;
    else if (!strcmp(argv[i], "--sync") && i + 1 < argc)
      sync_full = strcmp(argv[++i], "full") == 0;
    else if (!strcmp(argv[i], "--skip-compacted"))
      skip_compacted = 1;
    else {
      fprintf(stderr, "bench_query: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (runs < 1)
    runs = 1;
  if (uploads < 360)
    uploads = 360;
  if (mkdir(dir, 0755) != 0 && access(dir, W_OK) != 0) {
    perror(dir);
    return 1;
  }
  char sub[4096];
  snprintf(sub, sizeof(sub), "%s/query-day", dir);
  atomic_store(&sim_now, T0);
  g_st = open_store(sub, sync_full);

  /* Reuse a store a previous run left (generation takes minutes). */
  pyr_store_series_foreach(g_st, "anonymous", NULL, last_cb, NULL);
  int64_t last = g_last_from;
  if (last == 0) {
    build_graph();
    build_spines();
    build_pool(K_CPU, 20000, 1.0);
    build_pool(K_WALL, 20000, 1.2);
    build_pool(K_ALLOC, 8000, 1.0);
    build_pool(K_LOCK, 2000, 1.1);
    g_loc_of = calloc((size_t)nframes + 1, sizeof(*g_loc_of));
    g_count = calloc(20000, sizeof(*g_count));
    g_touched = calloc(20000, sizeof(*g_touched));
    double a = now_s();
    size_t distinct = 0, distinct_cpu = 0;
    for (int i = 0; i < uploads; i++) {
      upload u;
      gen_upload(&u);
      distinct += distinct_stacks(&u);
      distinct_cpu += pyr_prof_nsamples(u.p[K_CPU]);
      last = T0 + (int64_t)i * 10 * SEC;
      atomic_store(&sim_now, last + 10 * SEC);
      if (write_upload(g_st, &u, "orders", last) != 0)
        return 1;
      free_upload(&u);
      if ((i + 1) % 1000 == 0)
        fprintf(stderr, "  %d/%d uploads\n", i + 1, uploads);
    }
    printf("data        %d uploads of one app at 10 s (%.0f distinct CPU stacks/upload, %.0f over"
           " 4 types), generated and written in %.1f s\n",
           uploads, (double)distinct_cpu / uploads, (double)distinct / uploads, now_s() - a);
  } else {
    printf("data        reusing %s (newest profile at T0 + %" PRId64 " s)\n", sub,
           (last - T0) / SEC);
  }
  atomic_store(&sim_now, last + 10 * SEC);
  g_env = (pyr_query_env){.store = g_st, .max_decompressed = 64 << 20, .now_ns = bench_now};
  printf("runs        %d warm runs per variant after one cold run, interleaved\n", runs);
  fflush(stdout);
  measure("fresh", last, runs);

  if (!skip_compacted) {
    /* Compact every closed 1 h window (the newest hour stays fresh, as in
     * production), then measure again on a reopened store. */
    char err[256];
    atomic_store(&sim_now, last + 10 * SEC + 2 * 3600 * SEC);
    if (pyr_store_sweep(g_st, err, sizeof(err)) != 0) {
      fprintf(stderr, "bench_query: sweep: %s\n", err);
      return 1;
    }
    pyr_store_close(g_st);
    atomic_store(&sim_now, last + 10 * SEC);
    g_st = open_store(sub, sync_full);
    g_env.store = g_st;
    measure("compacted", last, runs);
  }
  pyr_store_close(g_st);
  return 0;
}
