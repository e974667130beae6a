/*
 * profiler.c - the profiling session (see profiler.h).
 *
 * Data flow: signal handler -> ring (bounded, lock-free) -> drain() on the
 * agent thread -> window (deduplicated stacks + compact events) ->
 * write_window() resolves names and emits one JFR chunk per window.
 *
 * Bounds, all fixed at init: ring bytes, stacks and frames per window,
 * events per window, cached methods.  Every overflow is counted and shows
 * up in the stats line; none blocks the application.
 *
 * Crash protection: the SIGSEGV/SIGBUS guard (agent/signal/guard.c) is
 * installed at start (VMInit); when it trips, the handlers stop walking at
 * once and the aggregator disarms the timers and logs it once
 * (disable_after_faults).
 */
#include "profiler.h"

#include "classes.h"
#include "context.h"
#include "cpu_engine.h"
#include "gzip.h"
#include "jfr_writer.h"
#include "log.h"
#include "shipper.h"
#include "stackdb.h"
#include "threads.h"
#include "u64map.h"
#include "wall_engine.h"

#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define RING_BYTES (2u << 20)
#define MAX_STACKS 65536
#define MAX_FRAMES (1u << 20)
#define MAX_EVENTS (1u << 18)
#define MAX_METHODS 65536
#define DRAIN_PERIOD_NS 10000000ull
#define RESCAN_PERIOD_NS 1000000000ull
#define CHUNK_MAX_BYTES (64u << 20)
#define KEY_BASE_SHIFT 24
#define MAX_COPIES 16 /* cap on events emitted for one overrun sample */
/* gzip level for uploads: 6 shrinks JFR ~18% more than 1 for a few ms of
 * CPU per upload period (docs/benchmarks.md). */
#define PYR_UPLOAD_GZIP_LEVEL 6
#define WALL_STACK_FRAMES (1u << 16) /* last-wall-stack arena, in frames */

struct event {
  uint64_t ticks;
  uint64_t weight;
  uint64_t extra2;   /* alloc: object size; lock: real wait ns */
  uint64_t context;  /* dynamic-labels context id (0 = none) */
  uint32_t extra;    /* alloc, lock: class id */
  uint32_t tid;
  uint32_t stack;
  uint16_t kind;
  uint16_t state;
};

/* Each thread's last signalled wall stack, so an idle thread's repeat
 * records need no signal.  Append-only arena, compacted when full. */
struct wall_stacks {
  pyr_u64map index; /* tid -> off << 32 | flags << 16 | n */
  pyr_u64map last_event; /* tid -> 1 + index of its last wall event this window */
  pyr_frame *frames, *spare;
  size_t used;
  uint64_t misses;
};

static struct {
  pyr_options opt;
  pyr_profiler_jvm jvm;
  int initialized, started;
  pyr_ring ring;
  pyr_stackdb *stacks;
  pyr_symbols *symbols;
  struct event *events;
  size_t nevents;
  pyr_frame *scratch;      /* max_depth + 1 frames */
  struct wall_stacks wall;
  pyr_jfr_frame *jframes;  /* max_depth + 1 frames */
  int fd;                  /* file= output, -1 if none */
  uint64_t window_start_ticks, window_start_nanos;
  uint64_t chunk_seq;
  pthread_mutex_t work;
  pthread_mutex_t stop_lock;
  pthread_cond_t stop_cond;
  _Atomic int stopping;
  /* counters owned by whoever holds `work` */
  uint64_t events_dropped, chunks_written, chunk_bytes, chunk_errors, jfr_dropped;
  _Atomic uint64_t events_dropped_ring; /* JVMTI-callback samples lost to a full ring */
  pyr_callback_counters cb;
  uint64_t methods_prepared, methods_capped;
  uint64_t window_cpu_ns, windows_timed; /* aggregator CPU per written window */
  int guard_handled; /* the guard's trip was acted on (aggregator only) */
} P = {.fd = -1,
       .work = PTHREAD_MUTEX_INITIALIZER,
       .stop_lock = PTHREAD_MUTEX_INITIALIZER,
       .stop_cond = PTHREAD_COND_INITIALIZER};

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int start_aggregator(void);

static void open_window(void) {
  P.window_start_ticks = clock_ns(CLOCK_MONOTONIC);
  P.window_start_nanos = clock_ns(CLOCK_REALTIME);
}

/* Test-only, undocumented in README: PYRITE_TEST_INJECT_FAULTS=N makes
 * every Nth guarded stack walk read an invalid address, alternately the
 * null page (SIGSEGV, like a JVM implicit null check would) and a page past
 * the end of an empty memfd (SIGBUS).  tests/integration/test_agent_faults.py
 * uses it to prove the guard and the auto-disable in real JVMs. */
static void setup_fault_injection(pyr_sampler_config *sc) {
  static const volatile uint8_t *null_page; /* a variable, so no constant-address UB */
  const char *v = getenv("PYRITE_TEST_INJECT_FAULTS");
  char *end = NULL;
  unsigned long every = v && *v ? strtoul(v, &end, 10) : 0;
  if (every == 0 || every > UINT32_MAX || (end && *end))
    return;
  null_page = (const volatile uint8_t *)(uintptr_t)8;
  sc->fault_every = (uint32_t)every;
  sc->fault_segv_addr = null_page;
  int fd = (int)syscall(SYS_memfd_create, "pyrite-fault-test", 1u /* MFD_CLOEXEC */);
  if (fd >= 0) {
    void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0); /* file size 0 */
    close(fd);
    if (p != MAP_FAILED)
      sc->fault_bus_addr = p;
  }
  pyr_warn("TEST ONLY: PYRITE_TEST_INJECT_FAULTS=%lu: every %luth stack walk faults on "
           "purpose (%s)", every, every, sc->fault_bus_addr ? "SIGSEGV and SIGBUS" : "SIGSEGV");
}

int pyr_profiler_init(pyr_options *opts, const pyr_profiler_jvm *jvm) {
  int rc;
  P.opt = *opts;
  P.jvm = *jvm;
  memset(opts, 0, sizeof(*opts));
  if ((rc = pyr_ring_init(&P.ring, RING_BYTES)) != 0) {
    pyr_error("cannot allocate the sample ring: %s; profiling disabled", strerror(-rc));
    return -1;
  }
  pyr_sampler_config sc = {.ring = &P.ring, .agct = jvm->agct,
                           .max_depth = P.opt.jstackdepth,
                           .interval_ns = P.opt.interval_ns,
                           .wall = P.opt.wall_ns != 0};
  setup_fault_injection(&sc);
  if ((rc = pyr_sampler_init(&sc)) != 0) {
    pyr_error("cannot allocate stack buffers: %s; profiling disabled", strerror(-rc));
    return -1;
  }
  P.stacks = pyr_stackdb_new(MAX_STACKS, MAX_FRAMES);
  P.symbols = pyr_symbols_new(MAX_METHODS, jvm->resolve, jvm->ctx);
  P.events = calloc(MAX_EVENTS, sizeof(struct event));
  P.scratch = calloc(P.opt.jstackdepth + 2, sizeof(pyr_frame));
  P.jframes = calloc(P.opt.jstackdepth + 2, sizeof(pyr_jfr_frame));
  if (P.opt.wall_ns) {
    P.wall.frames = calloc(WALL_STACK_FRAMES, sizeof(pyr_frame));
    P.wall.spare = calloc(WALL_STACK_FRAMES, sizeof(pyr_frame));
    if (!P.wall.frames || !P.wall.spare || pyr_u64map_init(&P.wall.index, PYR_WALL_MAX_SLOTS) ||
        pyr_u64map_init(&P.wall.last_event, PYR_WALL_MAX_SLOTS))
      P.wall.frames = NULL;
  }
  if (!P.stacks || !P.symbols || !P.events || !P.scratch || !P.jframes ||
      (P.opt.wall_ns && !P.wall.frames)) {
    pyr_error("out of memory while initialising; profiling disabled");
    return -1;
  }
  if (P.opt.file) {
    P.fd = open(P.opt.file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (P.fd < 0) {
      pyr_error("cannot open file=%s: %s; profiling disabled", P.opt.file, strerror(errno));
      return -1;
    }
  }
  if (!P.opt.file && !P.opt.server)
    pyr_info("neither file= nor server= is set: samples are collected but not written");
  P.initialized = 1;
  return 0;
}

static void start_wall(void) {
  int rc;
  if (!P.opt.wall_ns)
    return;
  if ((rc = pyr_sampler_install_wall()) != 0) {
    pyr_error("SIGVTALRM already has a handler (another profiler?); wall-clock profiling "
              "disabled");
    return;
  }
  pyr_sampler_enable_wall(1);
  pyr_wall_hooks hooks = {.attach = P.jvm.attach, .detach = P.jvm.detach,
                          .thread_state = P.jvm.thread_state,
                          .thread_stack = P.jvm.thread_stack, .ctx = P.jvm.ctx,
                          .max_depth = P.opt.jstackdepth};
  if ((rc = pyr_wall_engine_start(&P.ring, P.opt.wall_ns, P.opt.interval_ns, &hooks)) != 0) {
    pyr_sampler_enable_wall(0);
    pyr_error("cannot start the wall-clock thread: %s; wall-clock profiling disabled",
              strerror(-rc));
  }
}

int pyr_profiler_start(void) {
  int rc;
  if (!P.initialized || P.started)
    return -1;
  open_window();
  /* Crash protection for the stack walks in our signal handlers.  Now, at
   * VMInit: the JVM has installed its own SIGSEGV/SIGBUS handlers, which
   * the guard saves and chains to.  Nothing sampled by signal: not needed. */
  if ((P.opt.event != PYR_ENGINE_NONE || P.opt.wall_ns) && (rc = pyr_guard_install()) != 0)
    pyr_warn("cannot install the crash guard: %s; stack walks run unprotected",
             strerror(-rc));
  start_wall();
  if (P.opt.event == PYR_ENGINE_NONE)
    goto out;
  if ((rc = pyr_sampler_install()) != 0) {
    if (rc == -EBUSY)
      pyr_error("SIGPROF already has a handler (another profiler?); CPU profiling disabled");
    else
      pyr_error("cannot install the SIGPROF handler: %s; CPU profiling disabled",
                strerror(-rc));
    goto out;
  }
  pyr_sampler_enable(1);
  if ((rc = pyr_cpu_engine_start(P.opt.event, P.opt.interval_ns)) != 0) {
    pyr_sampler_enable(0);
    pyr_error("cannot arm the %s timer: %s; CPU profiling disabled",
              P.opt.event == PYR_ENGINE_ITIMER ? "itimer" : "per-thread CPU", strerror(-rc));
  }
out:
  if (pyr_shipper_start(&P.opt) != 0)
    pyr_error("uploads disabled; samples still go to file= if set");
  if (start_aggregator() != 0)
    pyr_error("cannot start the aggregator thread; samples are only written at exit");
  P.started = 1;
  return 0;
}

/* ---- aggregation (caller holds P.work) ---- */

static uint32_t synthetic_stack(const pyr_sample *s) {
  pyr_frame f = {.bci = s->num_frames, .pad = 0, .method = 0};
  /* Threads without a JNIEnv (GC, JIT, VM threads) are named after the
   * thread, which is what a user needs to see where JVM CPU goes. */
  if (s->num_frames == PYR_NO_JAVA_ENV)
    f.method = s->tid;
  return pyr_stackdb_intern(P.stacks, &f, 1, 0);
}

static void add_event(const pyr_sample *s, uint32_t stack) {
  if (P.nevents == MAX_EVENTS) {
    P.events_dropped++;
    return;
  }
  struct event *e = &P.events[P.nevents++];
  e->ticks = s->ticks;
  e->weight = s->weight;
  e->extra = (uint32_t)s->extra;
  e->extra2 = s->extra2;
  e->context = s->context;
  e->tid = s->tid;
  e->stack = stack;
  e->kind = s->kind;
  e->state = s->state;
}

/* Keeps only the stacks still indexed: copies them to the spare arena. */
static void wall_compact(void) {
  struct wall_stacks *w = &P.wall;
  size_t used = 0;
  for (size_t i = 0; i < w->index.slots; i++) {
    if (!w->index.keys[i])
      continue;
    uint64_t v = w->index.vals[i];
    uint32_t n = (uint32_t)(v & 0xffff);
    memcpy(w->spare + used, w->frames + (v >> 32), n * sizeof(pyr_frame));
    w->index.vals[i] = ((uint64_t)used << 32) | (v & 0xffffffffull);
    used += n;
  }
  pyr_frame *t = w->frames;
  w->frames = w->spare;
  w->spare = t;
  w->used = used;
}

static void wall_remember(const pyr_sample *s) {
  struct wall_stacks *w = &P.wall;
  pyr_frame synth = {.bci = s->num_frames, .pad = 0, .method = 0};
  const pyr_frame *frames = s->frames;
  uint32_t n = (uint32_t)s->num_frames;
  if (s->num_frames <= 0) {
    /* No Java stack (a thread waiting in native code): remember the
     * status frame, so its idle repeats are attributed the same way. */
    if (s->num_frames == PYR_NO_JAVA_ENV)
      synth.method = s->tid;
    frames = &synth;
    n = 1;
  }
  if (!w->frames || n > 0xffff)
    return;
  if (w->used + n > WALL_STACK_FRAMES) {
    wall_compact();
    if (w->used + n > WALL_STACK_FRAMES) {
      pyr_u64map_clear(&w->index); /* live set too big: start over */
      w->used = 0;
    }
  }
  memcpy(w->frames + w->used, frames, n * sizeof(pyr_frame));
  pyr_u64map_put(&w->index, s->tid,
                 ((uint64_t)w->used << 32) | ((uint64_t)(s->flags & 0xffff) << 16) | n);
  w->used += n;
}

/* Stack id for an idle thread's repeat record: its last wall stack. */
static uint32_t wall_repeat_stack(const pyr_sample *s) {
  uint64_t v;
  if (P.wall.frames && pyr_u64map_get(&P.wall.index, s->tid, &v))
    return pyr_stackdb_intern(P.stacks, P.wall.frames + (v >> 32), (uint32_t)(v & 0xffff),
                              (uint32_t)((v >> 16) & 0xffff));
  /* Forgotten (arena reset): the wall thread signals it next time. */
  P.wall.misses++;
  pyr_wall_engine_resample(s->tid);
  pyr_frame f = {.bci = PYR_WALL_REPEAT, .pad = 0, .method = 0};
  return pyr_stackdb_intern(P.stacks, &f, 1, 0);
}

/* A waiting thread shows the same sleeping stack visit after visit; fold
 * such a sample into that thread's previous wall event when it is the same
 * stack, so a window holds about one event per idle thread instead of one
 * per visit (WallClockSample.samples carries the count). */
static int fold_sleeping(const pyr_sample *s, uint32_t stack) {
  uint64_t idx;
  if (!P.wall.frames || !pyr_u64map_get(&P.wall.last_event, s->tid, &idx) ||
      idx == 0 || idx > P.nevents)
    return 0;
  struct event *e = &P.events[idx - 1];
  if (e->kind != PYR_SAMPLE_WALL || e->stack != stack || e->state != PYR_STATE_SLEEPING ||
      e->context != s->context) /* different labels: a different series */
    return 0;
  e->weight += s->weight;
  return 1;
}

static void note_wall_event(uint32_t tid) {
  if (P.wall.frames && P.nevents > 0 &&
      P.events[P.nevents - 1].kind == PYR_SAMPLE_WALL && P.events[P.nevents - 1].tid == tid)
    pyr_u64map_put(&P.wall.last_event, tid, P.nevents);
}

static void drain(void) {
  const pyr_sample *s;
  uint32_t len;
  while ((s = pyr_ring_peek(&P.ring, &len)) != NULL) {
    uint32_t stack;
    if (len < sizeof(pyr_sample) || len < pyr_sample_size(s->num_frames)) {
      pyr_ring_release(&P.ring); /* cannot happen unless memory is corrupt */
      continue;
    }
    if (s->num_frames > 0) {
      stack = pyr_stackdb_intern(P.stacks, s->frames, (uint32_t)s->num_frames, s->flags);
      if (s->kind == PYR_SAMPLE_WALL)
        wall_remember(s);
    } else if (s->num_frames == PYR_WALL_REPEAT) {
      stack = wall_repeat_stack(s);
    } else {
      stack = synthetic_stack(s);
      if (s->kind == PYR_SAMPLE_WALL)
        wall_remember(s);
    }
    if (s->kind == PYR_SAMPLE_WALL && s->state == PYR_STATE_SLEEPING &&
        fold_sleeping(s, stack)) {
      pyr_ring_release(&P.ring);
      continue;
    }
    add_event(s, stack);
    if (s->kind == PYR_SAMPLE_WALL)
      note_wall_event(s->tid);
    pyr_ring_release(&P.ring);
  }
}

/* ---- chunk writing (caller holds P.work) ---- */

static const char *status_name(int32_t code) {
  switch (code) {
  case 0: return "no_Java_frame";
  case -1: return "no_class_load";
  case -2: return "GC_active";
  case -3: return "unknown_not_Java";
  case -4: return "not_walkable_not_Java";
  case -5: return "unknown_Java";
  case -6: return "not_walkable_Java";
  case -7: return "unknown_state";
  case -8: return "thread_exit";
  case -9: return "deoptimization";
  case -10: return "safepoint";
  case PYR_NO_AGCT: return "no_AsyncGetCallTrace";
  case PYR_WALL_REPEAT: return "wall_stack_unknown";
  default: return "unknown_error";
  }
}

struct chunk_ctx {
  pyr_jfr *w;
  pyr_u64map methods; /* jmethodID or synthetic id -> JFR method key */
  pyr_u64map threads; /* tid -> JFR thread key */
  uint64_t *stack_keys;
};

static uint64_t synthetic_method(struct chunk_ctx *c, const char *name, uint64_t cache_key) {
  uint64_t key;
  if (pyr_u64map_get(&c->methods, cache_key, &key))
    return key;
  key = pyr_jfr_method(c->w, pyr_jfr_class(c->w, "", 0), name, "()V", 0, false);
  pyr_u64map_put(&c->methods, cache_key, key);
  return key;
}

static uint64_t java_method(struct chunk_ctx *c, const pyr_method_info *m, uint64_t id) {
  uint64_t key;
  if (pyr_u64map_get(&c->methods, id, &key))
    return key;
  key = pyr_jfr_method(c->w, pyr_jfr_class(c->w, m->class_name, 0), m->name, m->signature,
                       m->modifiers, false);
  pyr_u64map_put(&c->methods, id, key);
  return key;
}

#define SYNTH_STATUS (1ull << 63)
#define SYNTH_THREAD (1ull << 62)
#define SYNTH_MARKER (1ull << 61)
#define SYNTH_CLASS (1ull << 60)

static void convert_frame(struct chunk_ctx *c, const pyr_frame *f, pyr_jfr_frame *out) {
  out->bci = f->bci >= 0 ? f->bci : -1;
  out->line = 0;
  out->type = PYR_JFR_FRAME_NATIVE;
  if (f->method == 0 || f->bci == PYR_NO_JAVA_ENV) {
    if (f->bci == PYR_NO_JAVA_ENV) {
      char name[PYR_THREAD_NAME_MAX + 2], tname[PYR_THREAD_NAME_MAX];
      int64_t jtid;
      pyr_threads_lookup((uint32_t)f->method, tname, sizeof(tname), &jtid);
      snprintf(name, sizeof(name), "[%s]", tname);
      out->method = synthetic_method(c, name, SYNTH_THREAD | f->method);
    } else {
      out->method = synthetic_method(c, status_name(f->bci), SYNTH_STATUS | (uint32_t)f->bci);
    }
    return;
  }
  const pyr_method_info *m = pyr_symbols_lookup(P.symbols, f->method);
  out->method = java_method(c, m, f->method);
  out->line = pyr_method_line(m, f->bci);
  /* AGCT does not say whether a frame is interpreted or compiled; BCI -3
   * marks native (JNI) methods.  See docs/architecture.md. */
  out->type = f->bci == -3 ? PYR_JFR_FRAME_NATIVE : PYR_JFR_FRAME_JIT;
}

static uint64_t stack_key(struct chunk_ctx *c, uint32_t id) {
  const pyr_frame *frames;
  uint32_t n = 0, flags = 0, k = 0;
  if (c->stack_keys[id])
    return c->stack_keys[id];
  frames = pyr_stackdb_get(P.stacks, id, &n, &flags);
  if (!frames) { /* PYR_STACK_OVERFLOW_ID */
    P.jframes[0] = (pyr_jfr_frame){
        .method = synthetic_method(c, "[storage_overflow]", SYNTH_MARKER | 1), .line = 0,
        .bci = -1, .type = PYR_JFR_FRAME_NATIVE};
    k = 1;
  } else {
    for (; k < n; k++)
      convert_frame(c, &frames[k], &P.jframes[k]);
    if (flags & PYR_SAMPLE_TRUNCATED) /* root-most: "the rest is missing" */
      P.jframes[k++] = (pyr_jfr_frame){
          .method = synthetic_method(c, "[truncated]", SYNTH_MARKER | 2), .line = 0,
          .bci = -1, .type = PYR_JFR_FRAME_NATIVE};
  }
  c->stack_keys[id] = pyr_jfr_stack(c->w, P.jframes, k, (flags & PYR_SAMPLE_TRUNCATED) != 0);
  return c->stack_keys[id];
}

static uint64_t thread_key(struct chunk_ctx *c, uint32_t tid) {
  uint64_t key;
  char name[PYR_THREAD_NAME_MAX];
  int64_t java_tid;
  if (pyr_u64map_get(&c->threads, tid, &key))
    return key;
  int java = pyr_threads_lookup(tid, name, sizeof(name), &java_tid);
  key = pyr_jfr_thread(c->w, tid, name, java ? name : NULL, java_tid);
  pyr_u64map_put(&c->threads, tid, key);
  return key;
}

static void add_settings(pyr_jfr *w, uint64_t ticks) {
  char buf[32];
  pyr_jfr_active_setting(w, ticks, "event",
                         P.opt.event == PYR_ENGINE_CPU ? "cpu"
                         : P.opt.event == PYR_ENGINE_ITIMER ? "itimer" : "none");
  snprintf(buf, sizeof(buf), "%llu", (unsigned long long)P.opt.interval_ns);
  pyr_jfr_active_setting(w, ticks, "interval", buf);
  snprintf(buf, sizeof(buf), "%u", P.opt.jstackdepth);
  pyr_jfr_active_setting(w, ticks, "jstackdepth", buf);
  if (P.opt.wall_ns) {
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)P.opt.wall_ns);
    pyr_jfr_active_setting(w, ticks, "wall", buf);
  }
  if (P.opt.alloc_bytes) {
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)P.opt.alloc_bytes);
    pyr_jfr_active_setting(w, ticks, "alloc", buf);
  }
  if (P.opt.lock_ns != PYR_LOCK_OFF) {
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)P.opt.lock_ns);
    pyr_jfr_active_setting(w, ticks, "lock", buf);
  }
}

static uint64_t class_key(struct chunk_ctx *c, uint32_t id) {
  uint64_t key, cache = SYNTH_CLASS | id;
  if (pyr_u64map_get(&c->methods, cache, &key))
    return key;
  key = pyr_jfr_class(c->w, pyr_classes_name(id), 0);
  pyr_u64map_put(&c->methods, cache, key);
  return key;
}

/* Writing order: CPU, allocation, lock, wall; then stack, thread, time. */
static int kind_rank(uint16_t kind) {
  switch (kind) {
  case PYR_SAMPLE_CPU: return 0;
  case PYR_SAMPLE_ALLOC: return 1;
  case PYR_SAMPLE_LOCK: return 2;
  case PYR_SAMPLE_PARK: return 3;
  default: return 4; /* PYR_SAMPLE_WALL */
  }
}

static int cmp_event(const void *a, const void *b) {
  const struct event *x = a, *y = b;
  int kx = kind_rank(x->kind), ky = kind_rank(y->kind);
  if (kx != ky)
    return kx - ky;
  if (x->stack != y->stack)
    return x->stack < y->stack ? -1 : 1;
  if (x->context != y->context)
    return x->context < y->context ? -1 : 1;
  if (x->tid != y->tid)
    return x->tid < y->tid ? -1 : 1;
  return (x->ticks > y->ticks) - (x->ticks < y->ticks);
}

/* Event start times are rounded down to 2^20 ns (about 1 ms): nothing that
 * reads these profiles needs finer times, and the constant low bits make
 * the varints compress instead of adding ~5 random bytes per event.
 * Durations (lock waits) stay exact. */
#define TICK_QUANTUM_MASK (~((uint64_t)(1u << 20) - 1))

static void write_event(struct chunk_ctx *c, const struct event *ev) {
  struct event q = *ev;
  const struct event *e = &q;
  q.ticks &= TICK_QUANTUM_MASK;
  if (q.ticks < P.window_start_ticks)
    q.ticks = P.window_start_ticks; /* stay inside the chunk */
  uint64_t tk = thread_key(c, e->tid), sk = stack_key(c, e->stack);
  uint64_t unit = P.opt.interval_ns ? P.opt.interval_ns : 1;
  pyr_jfr_set_context(c->w, e->context);
  switch (e->kind) {
  case PYR_SAMPLE_WALL: {
    /* Pyroscope values a WallClockSample at samples x (1e9/sampleRate),
     * sampleRate being the CPU rate, so weights are in CPU intervals. */
    uint64_t samples = e->weight / unit;
    pyr_jfr_wall_sample(c->w, e->ticks, tk, sk,
                        e->state == PYR_STATE_SLEEPING ? PYR_JFR_STATE_SLEEPING
                                                       : PYR_JFR_STATE_RUNNABLE,
                        (uint32_t)(samples > UINT32_MAX ? UINT32_MAX : samples), e->weight);
    break;
  }
  case PYR_SAMPLE_ALLOC:
    pyr_jfr_alloc_in_new_tlab(c->w, e->ticks, tk, sk, class_key(c, e->extra), e->extra2,
                              e->weight);
    break;
  case PYR_SAMPLE_LOCK:
    /* startTime is when the wait began; duration carries the weight. */
    pyr_jfr_monitor_enter(c->w, e->ticks - e->extra2, e->weight, tk, sk,
                          class_key(c, e->extra), 0);
    break;
  default: {
    /* A CPU timer overrun stands for several periods: emit one
     * ExecutionSample per period so totals stay honest. */
    uint64_t copies = e->weight / unit;
    if (copies < 1)
      copies = 1;
    if (copies > MAX_COPIES)
      copies = MAX_COPIES;
    for (uint64_t k = 0; k < copies; k++)
      pyr_jfr_execution_sample(c->w, e->ticks, tk, sk, PYR_JFR_STATE_RUNNABLE);
  }
  }
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = write(fd, p, n);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* The window's dynamic labels: a gzipped LabelsSnapshot of the context
 * ids its events use, or NULL when none (or on failure: the profile then
 * goes out without labels rather than not at all). */
static uint8_t *labels_part(size_t *len) {
  pyr_u64map seen = {0};
  uint64_t *ids = NULL;
  uint8_t *pb = NULL, *gz = NULL;
  size_t n = 0, pblen = 0;

  *len = 0;
  for (size_t i = 0; i < P.nevents && n == 0; i++)
    n = P.events[i].context != 0;
  if (n == 0)
    return NULL;
  n = 0;
  ids = malloc(P.nevents * sizeof(*ids));
  if (!ids || pyr_u64map_init(&seen, PYR_CTX_DEFAULT_MAX) != 0)
    goto out;
  for (size_t i = 0; i < P.nevents; i++) {
    uint64_t id = P.events[i].context, v;
    if (id == 0 || pyr_u64map_get(&seen, id, &v))
      continue;
    pyr_u64map_put(&seen, id, 1); /* full map: later ids may repeat; harmless */
    ids[n++] = id;
  }
  if (pyr_ctx_table_snapshot(pyr_ctx_global(), ids, n, &pb, &pblen) > 0 &&
      pyr_gzip(pb, pblen, PYR_UPLOAD_GZIP_LEVEL, &gz, len) != 0) {
    gz = NULL;
    *len = 0;
  }
out:
  free(pb);
  free(ids);
  pyr_u64map_free(&seen);
  return gz;
}

static void emit_chunk(const uint8_t *data, size_t len, uint64_t end_ticks) {
  uint8_t *gz = NULL;
  size_t gzlen = 0;
  if (P.fd >= 0 && write_all(P.fd, data, len) != 0) {
    pyr_error("writing %s failed: %s; no more chunks will be written", P.opt.file,
              strerror(errno));
    close(P.fd);
    P.fd = -1;
    P.chunk_errors++;
  }
  if (!P.opt.server)
    return;
  if (pyr_gzip(data, len, PYR_UPLOAD_GZIP_LEVEL, &gz, &gzlen) != 0) {
    P.chunk_errors++;
    return;
  }
  size_t labels_len = 0;
  uint8_t *labels = labels_part(&labels_len);
  /* from/until in epoch seconds, as the Pyroscope Java agent sends them. */
  uint64_t from_s = P.window_start_nanos / 1000000000ull;
  uint64_t until_s = (P.window_start_nanos + (end_ticks - P.window_start_ticks)) / 1000000000ull;
  if (until_s <= from_s)
    until_s = from_s + 1;
  pyr_shipper_submit_labels(gz, gzlen, labels, labels_len, from_s, until_s);
}

static uint64_t thread_cpu_ns(void) {
  return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* Seals the window into one JFR chunk.  force: write a chunk even without
 * events, so file= always ends up a valid recording (a JVM that exited
 * before its first sample included).  attach: bracket name resolution with
 * the JVM attach hooks (the aggregator pthread); the VMDeath thread is a
 * JVM thread already. */
static uint64_t flush_deadline_ns; /* 0, or CLOCK_MONOTONIC limit of the VMDeath flush */

static void write_window(int force, int attach) {
  struct chunk_ctx c = {0};
  uint8_t *out = NULL;
  size_t len = 0;
  uint64_t end = clock_ns(CLOCK_MONOTONIC), cpu0 = thread_cpu_ns();
  int attached = 0;

  if (P.nevents == 0 && !force)
    goto reset;
  if (attach && P.jvm.attach) {
    if (P.jvm.attach(P.jvm.ctx) != 0) {
      P.chunk_errors++; /* the JVM is going away; VMDeath flushes */
      goto reset;
    }
    attached = 1;
  }
  pyr_jfr_config cfg = {.start_nanos = P.window_start_nanos,
                        .start_ticks = P.window_start_ticks,
                        .key_base = P.chunk_seq << KEY_BASE_SHIFT,
                        .max_bytes = CHUNK_MAX_BYTES};
  c.w = pyr_jfr_new(&cfg);
  c.stack_keys = calloc(pyr_stackdb_count(P.stacks) + 2, sizeof(uint64_t));
  if (!c.w || !c.stack_keys || pyr_u64map_init(&c.methods, MAX_METHODS * 2) != 0 ||
      pyr_u64map_init(&c.threads, PYR_THREADS_MAX) != 0) {
    P.chunk_errors++;
    goto out;
  }
  add_settings(c.w, P.window_start_ticks);
  /* Events need not be in time order, so they are sorted to help the upload:
   * equal (kind, stack, thread) runs compress well.  Wall samples go last:
   * Pyroscope's JFR converter keeps one value slot across events, so after a
   * WallClockSample later CPU, allocation and lock events would be valued
   * with that sample's `samples` field instead of 1. */
  qsort(P.events, P.nevents, sizeof(struct event), cmp_event);
  for (size_t i = 0; i < P.nevents; i++) {
    /* At VMDeath the JVM waits for us: past the flush deadline the rest of
     * the window is cut (counted as jfr_dropped) so exit stays bounded. */
    if (flush_deadline_ns && (i & 255) == 0 && clock_ns(CLOCK_MONOTONIC) >= flush_deadline_ns) {
      P.jfr_dropped += P.nevents - i;
      break;
    }
    write_event(&c, &P.events[i]);
  }
  P.jfr_dropped += pyr_jfr_dropped_events(c.w);
  if (pyr_jfr_finish(c.w, end, &out, &len) != 0) {
    P.chunk_errors++;
    goto out;
  }
  if (attached) {
    P.jvm.detach(P.jvm.ctx); /* names are resolved; the rest is plain C */
    attached = 0;
  }
  emit_chunk(out, len, end);
  P.chunks_written++;
  P.chunk_bytes += len;
  P.chunk_seq++;
  P.window_cpu_ns += thread_cpu_ns() - cpu0;
  P.windows_timed++;
out:
  if (attached)
    P.jvm.detach(P.jvm.ctx);
  free(out);
  free(c.stack_keys);
  pyr_u64map_free(&c.methods);
  pyr_u64map_free(&c.threads);
  pyr_jfr_free(c.w);
reset:
  P.nevents = 0;
  if (P.wall.frames)
    pyr_u64map_clear(&P.wall.last_event);
  pyr_stackdb_reset(P.stacks);
  pyr_threads_purge_ended();
  open_window();
}

/* ---- threads ---- */

static int wait_stop(uint64_t ns) {
  struct timespec ts;
  _Atomic int stopping;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += (long)(ns % 1000000000ull);
  ts.tv_sec += (time_t)(ns / 1000000000ull) + ts.tv_nsec / 1000000000L;
  ts.tv_nsec %= 1000000000L;
  pthread_mutex_lock(&P.stop_lock);
  if (!P.stopping)
    pthread_cond_timedwait(&P.stop_cond, &P.stop_lock, &ts);
  stopping = P.stopping;
  pthread_mutex_unlock(&P.stop_lock);
  return stopping;
}

/* The guard tripped: the handlers already stopped walking (sampler.c).
 * Disarm the timers and the wall thread - nothing risky is uninstalled -
 * and say so once.  Allocation and lock events (JVMTI stacks, no AGCT)
 * carry on, and what was collected is still written and uploaded. */
static void disable_after_faults(void) {
  pyr_guard_stats g;
  P.guard_handled = 1;
  pyr_sampler_enable(0);
  pyr_sampler_enable_wall(0);
  pyr_cpu_engine_stop();
  pyr_wall_engine_stop();
  pyr_guard_get_stats(&g);
  pyr_error("%llu faults (SIGSEGV/SIGBUS) caught while walking stacks, the limit is %d "
            "within %llu s (last: %s at address 0x%llx, pc 0x%llx); CPU and wall-clock "
            "sampling are now off for the rest of this JVM; the application is not affected",
            (unsigned long long)g.faults, PYR_GUARD_FAULT_LIMIT,
            PYR_GUARD_WINDOW_NS / 1000000000ull, g.last_sig == SIGBUS ? "SIGBUS" : "SIGSEGV",
            (unsigned long long)g.last_addr, (unsigned long long)g.last_pc);
}

static void *aggregator_main(void *arg) {
  uint64_t last_rescan = clock_ns(CLOCK_MONOTONIC);
  (void)arg;
  while (!wait_stop(DRAIN_PERIOD_NS)) {
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    pthread_mutex_lock(&P.work);
    if (!P.stopping) {
      drain();
      if (now - P.window_start_ticks >= P.opt.upload_ns)
        write_window(0, 1);
    }
    pthread_mutex_unlock(&P.work);
    if (!P.guard_handled && pyr_guard_tripped())
      disable_after_faults();
    if (now - last_rescan >= RESCAN_PERIOD_NS) {
      pyr_cpu_engine_rescan();
      last_rescan = now;
    }
  }
  return NULL;
}

static int start_aggregator(void) {
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  /* Detached: it is never joined; at exit the process simply ends it. */
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&t, &attr, aggregator_main, NULL);
  pthread_attr_destroy(&attr);
  if (rc == 0)
    pthread_setname_np(t, "pyrite-agg");
  return rc;
}

void *pyr_profiler_thread_start(void *jni_env, const char *name, int64_t java_tid,
                                void *thread_ref) {
  pyr_sampler_thread_attach(jni_env);
  uint32_t tid = pyr_sampler_gettid();
  pyr_wall_slot *slot = pyr_sampler_thread_slot();
  void *release = thread_ref;
  if (slot && thread_ref)
    release = pyr_wall_engine_set_ref(slot, thread_ref);
  pyr_threads_register(tid, name, java_tid);
  if (P.started)
    pyr_cpu_engine_thread_started(tid);
  return release;
}

void *pyr_profiler_thread_end(void) {
  uint32_t tid = pyr_sampler_gettid();
  pyr_wall_slot *slot = pyr_sampler_thread_slot();
  /* Withdraw the ref first: after this the wall thread cannot use it. */
  void *ref = slot ? pyr_wall_engine_clear_ref(slot) : NULL;
  pyr_sampler_thread_detach();
  pyr_cpu_engine_thread_ended(tid);
  pyr_threads_ended(tid);
  return ref;
}

pyr_sample *pyr_profiler_reserve(uint32_t nframes) {
  if (!P.started || P.stopping)
    return NULL;
  pyr_sample *rec = pyr_ring_reserve(&P.ring, pyr_sample_size((int32_t)nframes));
  if (!rec)
    P.events_dropped_ring++;
  return rec;
}

void pyr_profiler_commit(pyr_sample *rec) { pyr_ring_commit(&P.ring, rec); }

const pyr_options *pyr_profiler_options(void) { return &P.opt; }

pyr_callback_counters *pyr_profiler_callback_counters(void) { return &P.cb; }

void pyr_profiler_note_methods(uint64_t prepared, uint64_t capped) {
  P.methods_prepared = prepared;
  P.methods_capped = capped;
}

void pyr_profiler_format_stats(char *buf, size_t len) {
  pyr_sampler_stats s;
  pyr_ring_stats r;
  pyr_symbols_stats y = {0};
  pyr_cpu_engine_stats e;
  size_t off = 0;

  pyr_sampler_get_stats(&s);
  pyr_ring_get_stats(&P.ring, &r);
  pyr_cpu_engine_get_stats(&e);
  if (P.symbols)
    pyr_symbols_get_stats(P.symbols, &y);
  uint64_t handled = 0;
  for (unsigned i = 0; i < PYR_HIST_BUCKETS; i++)
    handled += s.hist[i];
#define PUT(...)                                                                           \
  do {                                                                                     \
    int n_ = snprintf(buf + off, off < len ? len - off : 0, __VA_ARGS__);                  \
    if (n_ > 0)                                                                            \
      off += (size_t)n_;                                                                   \
  } while (0)
  PUT("signals=%llu samples=%llu dropped=%llu dropped_ring=%llu dropped_busy=%llu "
      "dropped_window=%llu nested=%llu stray=%llu no_env=%llu truncated=%llu overruns=%llu",
      (unsigned long long)s.signals, (unsigned long long)s.samples,
      (unsigned long long)(s.dropped_ring + s.dropped_busy + P.events_dropped +
                           s.dropped_fault + s.dropped_guard_busy),
      (unsigned long long)s.dropped_ring, (unsigned long long)s.dropped_busy,
      (unsigned long long)P.events_dropped, (unsigned long long)s.nested,
      (unsigned long long)s.stray, (unsigned long long)s.no_env,
      (unsigned long long)s.truncated, (unsigned long long)s.overruns);
  /* Quantiles are bucket upper bounds (<= 12.5% high); never above max. */
  uint64_t p50 = pyr_sampler_hist_quantile(s.hist, 0.5);
  uint64_t p99 = pyr_sampler_hist_quantile(s.hist, 0.99);
  if (p50 > s.handler_ns_max)
    p50 = s.handler_ns_max;
  if (p99 > s.handler_ns_max)
    p99 = s.handler_ns_max;
  PUT(" handler_p50_ns=%llu handler_p99_ns=%llu handler_max_ns=%llu handler_mean_ns=%llu",
      (unsigned long long)p50, (unsigned long long)p99,
      (unsigned long long)s.handler_ns_max,
      (unsigned long long)(handled ? s.handler_ns_total / handled : 0));
  PUT(" ring_capacity=%llu ring_high_water=%llu", (unsigned long long)r.capacity,
      (unsigned long long)r.high_water);
  PUT(" agct_ok=%llu", (unsigned long long)s.agct_ok);
  for (int i = 0; i < PYR_AGCT_CODES; i++)
    if (s.agct_codes[i])
      PUT(" agct_%s=%llu", status_name(-i), (unsigned long long)s.agct_codes[i]);
  PUT(" chunks=%llu chunk_bytes=%llu chunk_errors=%llu jfr_dropped=%llu",
      (unsigned long long)P.chunks_written, (unsigned long long)P.chunk_bytes,
      (unsigned long long)P.chunk_errors, (unsigned long long)P.jfr_dropped);
  PUT(" methods_cached=%llu method_stale=%llu methods_prepared=%llu methods_capped=%llu",
      (unsigned long long)y.entries, (unsigned long long)y.stale,
      (unsigned long long)P.methods_prepared, (unsigned long long)P.methods_capped);
  PUT(" cpu_timers=%llu untimed_threads=%llu", (unsigned long long)e.timers_live,
      (unsigned long long)e.untimed);
  pyr_wall_stats ws;
  pyr_wall_engine_get_stats(&ws);
  PUT(" wall_ticks=%llu wall_visits=%llu wall_signals=%llu wall_repeats=%llu wall_jvm_stacks=%llu"
      " wall_samples=%llu wall_signal_errors=%llu wall_no_slot=%llu wall_stack_misses=%llu",
      (unsigned long long)ws.ticks, (unsigned long long)ws.visits,
      (unsigned long long)ws.signals, (unsigned long long)ws.repeats,
      (unsigned long long)ws.jvm_stacks,
      (unsigned long long)s.wall_samples, (unsigned long long)ws.signal_errors,
      (unsigned long long)s.wall_no_slot, (unsigned long long)P.wall.misses);
  PUT(" wall_deferred=%llu wall_walks_raced=%llu wall_max_visits_tick=%llu"
      " wall_max_walks_tick=%llu wall_max_signals_tick=%llu wall_cpu_us=%llu",
      (unsigned long long)ws.deferred, (unsigned long long)ws.walks_raced,
      (unsigned long long)ws.max_visits,
      (unsigned long long)ws.max_walks, (unsigned long long)ws.max_signals,
      (unsigned long long)(ws.cpu_ns / 1000));
  PUT(" alloc_samples=%llu lock_events=%llu lock_below_threshold_dropped=%llu"
      " callback_stack_errors=%llu callback_dropped_ring=%llu classes=%u",
      (unsigned long long)atomic_load(&P.cb.alloc_samples),
      (unsigned long long)atomic_load(&P.cb.lock_events),
      (unsigned long long)atomic_load(&P.cb.lock_below_threshold_dropped),
      (unsigned long long)atomic_load(&P.cb.stack_errors),
      (unsigned long long)atomic_load(&P.events_dropped_ring), pyr_classes_count());
  /* The allocation callback's measured cost per sample, and how often the
   * class-id cache (JVMTI tags) spared it the signature lookup. */
  uint64_t alloc_n = atomic_load(&P.cb.alloc_samples);
  uint64_t alloc_ns = atomic_load(&P.cb.alloc_callback_ns);
  uint64_t cb_hist[PYR_HIST_BUCKETS], cls_hist[PYR_HIST_BUCKETS];
  for (unsigned i = 0; i < PYR_HIST_BUCKETS; i++) {
    cb_hist[i] = atomic_load_explicit(&P.cb.alloc_callback_hist[i], memory_order_relaxed);
    cls_hist[i] = atomic_load_explicit(&P.cb.alloc_class_hist[i], memory_order_relaxed);
  }
  pyr_classes_stats cs;
  pyr_classes_get_stats(&cs);
  /* Quantiles are bucket upper bounds, as for the handler above. */
  PUT(" alloc_callback_ns=%llu alloc_callback_mean_ns=%llu alloc_callback_p50_ns=%llu"
      " alloc_callback_p99_ns=%llu alloc_class_p50_ns=%llu alloc_class_p99_ns=%llu"
      " class_tag_hits=%llu class_tag_misses=%llu classes_overflow=%llu",
      (unsigned long long)alloc_ns, (unsigned long long)(alloc_n ? alloc_ns / alloc_n : 0),
      (unsigned long long)pyr_sampler_hist_quantile(cb_hist, 0.5),
      (unsigned long long)pyr_sampler_hist_quantile(cb_hist, 0.99),
      (unsigned long long)pyr_sampler_hist_quantile(cls_hist, 0.5),
      (unsigned long long)pyr_sampler_hist_quantile(cls_hist, 0.99),
      (unsigned long long)cs.tag_hits, (unsigned long long)cs.tag_misses,
      (unsigned long long)cs.overflow);
  pyr_guard_stats g;
  pyr_guard_get_stats(&g);
  PUT(" guard_installed=%d guard_faults=%llu guard_faults_segv=%llu guard_faults_bus=%llu"
      " guard_chained=%llu guard_busy=%llu dropped_fault=%llu disabled_by_faults=%d",
      g.installed, (unsigned long long)g.faults, (unsigned long long)g.faults_segv,
      (unsigned long long)g.faults_bus, (unsigned long long)g.chained,
      (unsigned long long)g.busy, (unsigned long long)s.dropped_fault, g.tripped);
  PUT(" window_cpu_us=%llu", (unsigned long long)(P.windows_timed
                                                   ? P.window_cpu_ns / P.windows_timed / 1000
                                                   : 0));
  pyr_ctx_stats cx;
  pyr_ctx_global_stats(&cx);
  PUT(" label_contexts=%llu label_contexts_overflow=%llu label_sets_rejected=%llu",
      (unsigned long long)cx.registered, (unsigned long long)cx.overflow,
      (unsigned long long)cx.rejected);
  if (P.opt.server) {
    pyr_shipper_stats sh;
    pyr_shipper_get_stats(&sh);
    PUT(" uploads_submitted=%llu uploads_sent=%llu upload_bytes=%llu upload_failed_attempts=%llu"
        " uploads_rejected=%llu uploads_exhausted=%llu uploads_queue_dropped=%llu"
        " upload_last_status=%llu sender_cpu_us=%llu",
        (unsigned long long)sh.submitted, (unsigned long long)sh.sent,
        (unsigned long long)sh.bytes_sent, (unsigned long long)sh.failed_attempts,
        (unsigned long long)sh.rejected, (unsigned long long)sh.exhausted,
        (unsigned long long)sh.queue_dropped, (unsigned long long)sh.last_status,
        (unsigned long long)(sh.sender_cpu_ns / 1000));
  }
#undef PUT
}

void pyr_profiler_shutdown(uint64_t budget_ms) {
  struct timespec until;
  char stats[3072];
  uint64_t deadline = clock_ns(CLOCK_MONOTONIC) + budget_ms * 1000000ull;

  if (!P.initialized)
    return;
  pthread_mutex_lock(&P.stop_lock);
  P.stopping = 1;
  pthread_cond_broadcast(&P.stop_cond);
  pthread_mutex_unlock(&P.stop_lock);
  pyr_sampler_enable(0);
  pyr_sampler_enable_wall(0);
  pyr_wall_engine_stop();
  pyr_cpu_engine_stop();

  /* Half the budget for the aggregator to let go of `work` (it may be in
   * the middle of writing a window), the rest for the last upload. */
  clock_gettime(CLOCK_REALTIME, &until);
  uint64_t wait_ns = budget_ms * 1000000ull / 2;
  until.tv_sec += (time_t)(wait_ns / 1000000000ull);
  until.tv_nsec += (long)(wait_ns % 1000000000ull);
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  if (pthread_mutex_timedlock(&P.work, &until) == 0) {
    drain();
    /* Keep a quarter of the budget for the last upload. */
    flush_deadline_ns = deadline - budget_ms * 1000000ull / 4;
    write_window(P.chunks_written == 0 && P.fd >= 0, 0);
    flush_deadline_ns = 0;
    pthread_mutex_unlock(&P.work);
  } else {
    pyr_warn("final flush skipped: the aggregator did not yield within %llu ms",
             (unsigned long long)(wait_ns / 1000000));
  }
  if (P.fd >= 0) {
    close(P.fd);
    P.fd = -1;
  }
  pyr_shipper_shutdown(deadline);
  if (pyr_log_enabled(PYR_LOG_INFO)) {
    pyr_profiler_format_stats(stats, sizeof(stats));
    pyr_info("stats %s", stats);
  }
  P.initialized = 0;
}
