/*
 * analyze.h - the arithmetic behind `pyrite diff` and `pyrite bottleneck`:
 * per-function change between two flame graphs, the frame-name families
 * the bottleneck heuristic looks for, and the classification itself
 * (docs/cli.md, "How bottleneck decides").
 *
 * Threads: pure functions over caller memory.
 *
 * Invariants: results borrow names from the inputs; nothing here talks to
 * a server or prints.
 */
#ifndef PYRITE_CLI_ANALYZE_H
#define PYRITE_CLI_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flame.h"

/* ---- diff ---- */

typedef enum pyr_cli_norm {
  PYR_CLI_NORM_SHARE,      /* self / the range's total (a fraction) */
  PYR_CLI_NORM_PER_SECOND, /* self / the range's length in seconds */
} pyr_cli_norm;

typedef struct pyr_cli_change {
  const char *name;
  uint64_t before_self, after_self; /* raw sums */
  double before, after;             /* normalised */
  double delta;                     /* after - before */
  double relative;                  /* delta / before; +INF when new */
} pyr_cli_change;

/*
 * Joins two per-function lists (any order) by name and normalises each
 * side's self by its total (share) or its length in seconds (per second).
 * *out (malloc'd; caller frees) is sorted by |delta| descending, then by
 * name; functions absent on both sides never appear.  A side whose total
 * or length is 0 normalises to 0.  Returns 0 or -1 (out of memory).
 */
int pyr_cli_diff_funcs(const pyr_cli_func *before, size_t nbefore,
                       uint64_t before_total, double before_seconds,
                       const pyr_cli_func *after, size_t nafter,
                       uint64_t after_total, double after_seconds,
                       pyr_cli_norm norm, pyr_cli_change **out, size_t *n);

/* ---- frame families (name predicates for pyr_cli_flame_attribute) ---- */

/* Garbage collection: the GC_active sample state, GC/G1/ZGC/Shenandoah
 * thread pseudo-frames ("[GC Thread#0]") and HotSpot GC functions. */
bool pyr_cli_is_gc_frame(const char *name);

/* Off-CPU waiting: sleep, Object.wait, park, blocking socket/file reads,
 * epoll/poll/select. */
bool pyr_cli_is_wait_frame(const char *name);

/* Lock acquisition that parks: AbstractQueuedSynchronizer.acquire*,
 * ReentrantLock/ReentrantReadWriteLock lock(), StampedLock. */
bool pyr_cli_is_lock_frame(const char *name);

/* Threads with nothing to do: thread pools waiting for a task, event
 * loops in select(), the JDK's housekeeping threads.  Their waiting is
 * not a bottleneck, so it is left out. */
bool pyr_cli_is_idle_frame(const char *name);

/* Not JDK/JVM: a frame of the application or its libraries (the frame to
 * blame when a wait or a park is found below it). */
bool pyr_cli_is_app_frame(const char *name);

/* ---- bottleneck classification ---- */

typedef enum pyr_cli_bound {
  PYR_CLI_BOUND_NONE = 0, /* no data, or too little activity to say */
  PYR_CLI_BOUND_CPU,
  PYR_CLI_BOUND_ALLOC,    /* allocation / GC */
  PYR_CLI_BOUND_LOCK,
  PYR_CLI_BOUND_WAIT,     /* I/O, sleep, waiting on other threads */
} pyr_cli_bound;

/* Measured amounts over one time range; has_* says a profile existed. */
typedef struct pyr_cli_bn_input {
  double seconds; /* length of the range */
  bool has_cpu, has_alloc, has_lock, has_wall;
  double cpu_ns;      /* process_cpu total */
  double gc_cpu_ns;   /* of which under GC frames */
  double alloc_bytes; /* allocation profile total */
  double lock_ns;     /* mutex + block delay, idle threads left out */
  double wall_lock_ns; /* wall time under lock-acquisition frames */
  double wait_ns;     /* wall time under wait frames, idle/lock left out */
} pyr_cli_bn_input;

/* Scores are "threads kept busy or stuck", i.e. seconds per second. */
typedef struct pyr_cli_bn_result {
  pyr_cli_bound bound;
  double cpu, alloc, lock, wait; /* NAN when the profile is missing */
  double gc_share;               /* GC frames / CPU, NAN without CPU */
  double alloc_rate;             /* bytes per second, NAN without alloc */
} pyr_cli_bn_result;

/* Allocation rate that counts as one busy core in the alloc score. */
#define PYR_CLI_ALLOC_BYTES_PER_CORE (1024.0 * 1024 * 1024)
/* Below this many busy threads nothing is a bottleneck. */
#define PYR_CLI_MIN_SCORE 0.01

void pyr_cli_bn_classify(const pyr_cli_bn_input *in, pyr_cli_bn_result *out);

/* "cpu", "alloc", "lock", "wait", "none". */
const char *pyr_cli_bound_name(pyr_cli_bound b);

/* "CPU-bound", "allocation/GC-bound", ..., "idle or no data". */
const char *pyr_cli_bound_label(pyr_cli_bound b);

#endif /* PYRITE_CLI_ANALYZE_H */
