/*
 * bench_synth.c - realistic synthetic profiles for the storage and query
 * benchmarks (tests/tools/bench_store.c, bench_query.c).
 *
 * A fixed pseudo-random "application": Java-like packages, classes and
 * methods arranged as request handlers over a framework spine, with pools of
 * CPU, wall, allocation and lock stacks drawn with skewed (Zipf-like)
 * popularity, so uploads have thousands of distinct stacks of which a few
 * dominate - like real services.  Deterministic (fixed seed) so runs are
 * comparable.  Single-threaded: call synth_init() once, then generate.
 */
#include "bench_synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>


double synth_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds: the whole process (store threads included) / this thread.
 * On a shared, noisy 2-core VM these are the load-independent numbers. */
double synth_cpu_process_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
double synth_cpu_thread_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64* */
static uint64_t rnd_state = 88172645463325252ull;

void synth_seed(uint64_t seed) { rnd_state = seed | 1; }
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


typedef struct pool {
  int n;
  int **st; /* frame ids, root first */
  int *len;
  double *cdf;
} pool;

static pool pools[SYNTH_KINDS];

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
  if (kind == SYNTH_WALL && rndi(10) < 3) { /* idle pool/selector threads */
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
  case SYNTH_ALLOC: {
    int lf = leaf_alloc[rndi(nleaf_alloc)];
    out[n++] = frame_id(lf, methods[lf].line0 + rndi(3));
    break;
  }
  case SYNTH_LOCK: {
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

const pyr_prof_type synth_types[SYNTH_KINDS] = {
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
static int samples_per_upload[SYNTH_KINDS] = {4000, 10000, 3000, 300};


static pyr_prof *gen_prof(int kind, int nsamples, uint32_t *loc_of, int *count, int *touched) {
  pool *po = &pools[kind];
  pyr_prof *p = pyr_prof_new(&synth_types[kind], &pyr_prof_default_limits);
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
    case SYNTH_CPU:
      v[0] = (int64_t)c * 10000000;
      break;
    case SYNTH_WALL:
      v[0] = (int64_t)c * 50000000;
      break;
    case SYNTH_ALLOC: {
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
double synth_scale = 1.0;

void synth_gen_upload(synth_upload *u) {
  for (int k = 0; k < SYNTH_KINDS; k++) {
    int n = (int)(samples_per_upload[k] * synth_scale);
    u->p[k] = gen_prof(k, n < 1 ? 1 : n, g_loc_of, g_count, g_touched);
  }
}

void synth_free_upload(synth_upload *u) {
  for (int k = 0; k < SYNTH_KINDS; k++)
    pyr_prof_free(u->p[k]);
}

size_t synth_distinct_stacks(const synth_upload *u) {
  size_t n = 0;
  for (int k = 0; k < SYNTH_KINDS; k++)
    n += pyr_prof_nsamples(u->p[k]);
  return n;
}

_Atomic int64_t synth_now;
static int64_t synth_clock(void *ctx) {
  (void)ctx;
  return atomic_load(&synth_now);
}

int synth_write_upload(pyr_store *st, const synth_upload *u, const char *svc, int64_t from) {
  pyr_store_label l[] = {{"service_name", svc}, {"env", "bench"}, {"pyroscope_spy", "javaspy"},
                         {"jfr_event", "itimer"}, {"__delta__", "false"}};
  pyr_store_entry e[6];
  int n = 0;
  for (int k = 0; k < SYNTH_KINDS; k++)
    for (uint32_t c = 0; c < synth_types[k].nvalues; c++)
      e[n++] = (pyr_store_entry){l, 5, u->p[k], c, PYR_STORE_ALL_LABELSETS, from, from + 10 * SEC};
  char err[256];
  int rc = pyr_store_write(st, "anonymous", e, (size_t)n, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "bench: write: %s\n", err);
  return rc;
}

pyr_store *synth_open_store(const char *dir, int sync_full) {
  mkdir(dir, 0755);
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.sync_full = sync_full;
  o.clock = synth_clock;
  char err[256];
  pyr_store *st = pyr_store_open(dir, &o, err, sizeof(err));
  if (!st) {
    fprintf(stderr, "bench: %s\n", err);
    exit(1);
  }
  return st;
}

static int dcmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double synth_pct(double *v, size_t n, double p) {
  qsort(v, n, sizeof(*v), dcmp);
  return n ? v[(size_t)((double)(n - 1) * p)] : 0;
}

int synth_nmethods(void) { return nmethods; }
int synth_nframes(void) { return nframes; }

void synth_init(void) {
  build_graph();
  build_spines();
  build_pool(SYNTH_CPU, 20000, 1.0);
  build_pool(SYNTH_WALL, 20000, 1.2);
  build_pool(SYNTH_ALLOC, 8000, 1.0);
  build_pool(SYNTH_LOCK, 2000, 1.1);
  g_loc_of = calloc((size_t)nframes + 1, sizeof(*g_loc_of));
  g_count = calloc(20000, sizeof(*g_count));
  g_touched = calloc(20000, sizeof(*g_touched));
}
