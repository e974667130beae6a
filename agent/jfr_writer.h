/*
 * jfr_writer.h - builds one self-contained JFR 2.0 chunk in memory.
 *
 * The caller (the agent's aggregator, or a test) registers pool entries
 * (symbols, classes, methods, threads, stack traces) and events, then calls
 * pyr_jfr_finish() which lays out: 68-byte header, metadata event, events,
 * one checkpoint holding every pool.  Layout rules follow
 * docs/jfr-writer.md and ../shared/reference/jfr-format.md §4.4: all strings
 * UTF-8, ints at most 5 bytes, no empty pools, ticks = CLOCK_MONOTONIC ns
 * with ticksPerSecond = 1e9, region element present.
 *
 * Keys: every pool key is `key_base + n` (n >= 1), so chunks appended to the
 * same file never reuse a key for different content (the JDK caches pool
 * entries across chunks).  Callers pass a different key_base per chunk.
 *
 * Threads: a writer is owned by one thread.  Memory: everything the writer
 * holds (buffers and hash tables) is bounded by cfg.max_bytes (clamped to
 * 1 GiB); when exceeded, new pool entries fail, further events are dropped
 * and counted in pyr_jfr_dropped_events(), and finish still produces a
 * valid chunk.  finish itself allocates the output (~ the data size).
 */
#ifndef PYRITE_JFR_WRITER_H
#define PYRITE_JFR_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pyr_jfr pyr_jfr;

typedef struct pyr_jfr_config {
  uint64_t start_nanos;  /* chunk start, ns since the Unix epoch */
  uint64_t start_ticks;  /* chunk start, CLOCK_MONOTONIC ns */
  uint64_t key_base;     /* added to every pool key (see above) */
  size_t max_bytes;      /* bound on the event + pool data, e.g. 64 MiB */
} pyr_jfr_config;

/* Frame types, the jdk.types.FrameType pool (fixed keys 0..3). */
enum pyr_jfr_frame_type {
  PYR_JFR_FRAME_INTERPRETED = 0,
  PYR_JFR_FRAME_JIT = 1,
  PYR_JFR_FRAME_INLINED = 2,
  PYR_JFR_FRAME_NATIVE = 3,
};

/* Thread states, the jdk.types.ThreadState pool (fixed keys). */
enum pyr_jfr_state {
  PYR_JFR_STATE_DEFAULT = 0,  /* "STATE_DEFAULT" */
  PYR_JFR_STATE_RUNNABLE = 1, /* "STATE_RUNNABLE" */
  PYR_JFR_STATE_SLEEPING = 2, /* "STATE_SLEEPING" */
};

typedef struct pyr_jfr_frame {
  uint64_t method; /* key from pyr_jfr_method() */
  int32_t line;    /* source line, or -1 when unknown */
  int32_t bci;     /* bytecode index, or -1 */
  uint8_t type;    /* enum pyr_jfr_frame_type */
} pyr_jfr_frame;

pyr_jfr *pyr_jfr_new(const pyr_jfr_config *cfg);
void pyr_jfr_free(pyr_jfr *w);

/* Pool entries.  Each returns a key (> key_base) or 0 on failure (bound
 * reached / OOM / invalid argument).  Identical inputs return the same key
 * (interned); inputs already pooled still resolve after the bound is hit. */
uint64_t pyr_jfr_symbol(pyr_jfr *w, const char *utf8);
/* class_name in JVM internal form, "com/example/Demo"; the package
 * ("com/example") is derived and pooled automatically. */
uint64_t pyr_jfr_class(pyr_jfr *w, const char *class_name, int32_t modifiers);
/* `jfr print` crashes on a method without a type or a descriptor, so
 * class_key 0 is replaced by a placeholder class "unknown" and a NULL
 * descriptor by "()V".  name must not be NULL. */
uint64_t pyr_jfr_method(pyr_jfr *w, uint64_t class_key, const char *name,
                        const char *descriptor, int32_t modifiers, bool hidden);
/* java_name may be NULL for non-Java threads (java_tid then ignored). */
uint64_t pyr_jfr_thread(pyr_jfr *w, uint32_t os_tid, const char *os_name,
                        const char *java_name, int64_t java_tid);
/* frames leaf first.  Stacks with identical content share a key.  A frame
 * with method 0 is written as the placeholder "unknown.unknown()V" (again
 * for `jfr print`); a frame type > PYR_JFR_FRAME_NATIVE fails (returns 0). */
uint64_t pyr_jfr_stack(pyr_jfr *w, const pyr_jfr_frame *frames, uint32_t n,
                       bool truncated);

/* Events.  Return 0, or -1 if dropped (bound reached; counted in
 * pyr_jfr_dropped_events) or invalid (NULL writer, state out of range; not
 * counted).  thread/stack/class keys may be 0 (null).  Pyroscope counts an
 * ExecutionSample as CPU unless its state is STATE_SLEEPING. */
int pyr_jfr_execution_sample(pyr_jfr *w, uint64_t ticks, uint64_t thread,
                             uint64_t stack, enum pyr_jfr_state state);
int pyr_jfr_wall_sample(pyr_jfr *w, uint64_t ticks, uint64_t thread,
                        uint64_t stack, enum pyr_jfr_state state,
                        uint32_t samples, uint64_t time_span_ticks);
int pyr_jfr_alloc_in_new_tlab(pyr_jfr *w, uint64_t ticks, uint64_t thread,
                              uint64_t stack, uint64_t object_class,
                              uint64_t allocation_size, uint64_t tlab_size);
int pyr_jfr_alloc_outside_tlab(pyr_jfr *w, uint64_t ticks, uint64_t thread,
                               uint64_t stack, uint64_t object_class,
                               uint64_t allocation_size);
int pyr_jfr_monitor_enter(pyr_jfr *w, uint64_t ticks, uint64_t duration_ticks,
                          uint64_t thread, uint64_t stack,
                          uint64_t monitor_class, uint64_t address);
int pyr_jfr_thread_park(pyr_jfr *w, uint64_t ticks, uint64_t duration_ticks,
                        uint64_t thread, uint64_t stack, uint64_t parked_class,
                        int64_t timeout_ns, int64_t until_ms, uint64_t address);
int pyr_jfr_active_setting(pyr_jfr *w, uint64_t ticks, const char *name,
                           const char *value);
/* Dynamic labels: the contextId (0 = none, the initial value) written as
 * the last field of the ExecutionSample, WallClockSample, allocation and
 * JavaMonitorEnter events added after this call.  ThreadPark has none. */
void pyr_jfr_set_context(pyr_jfr *w, uint64_t context);

uint64_t pyr_jfr_event_count(const pyr_jfr *w);
uint64_t pyr_jfr_dropped_events(const pyr_jfr *w);

/* Lays out the finished chunk.  end_ticks closes the chunk (duration =
 * end_ticks - start_ticks).  On success *out is a malloc'd buffer the caller
 * frees and 0 is returned; -1 on failure.  The writer may be freed after. */
int pyr_jfr_finish(pyr_jfr *w, uint64_t end_ticks, uint8_t **out, size_t *len);

/* Low-level encoders, exposed for unit tests and the server's tests. */
size_t pyr_jfr_varint(uint8_t out[9], uint64_t v); /* JFR compressed long */

#endif
