/*
 * jfr_parse.h - a streaming, metadata-driven reader of JFR 2.x recordings
 * (async-profiler, the Pyroscope Java agent, JDK Flight Recorder), shared by
 * pyrited's /ingest and `pyrite convert`.
 *
 * The reader walks an in-memory buffer chunk by chunk.  For each chunk it
 * reads the metadata (classes and fields, bound BY NAME), then every
 * checkpoint of the backward delta chain (constant pools: strings, symbols,
 * classes, methods, stack traces, thread states are kept; everything else
 * is decoded generically and dropped), then streams the events in file
 * order.  Only the event classes Pyroscope maps to profiles (and
 * jdk.ActiveSetting) reach the caller, as a small struct of already-bound
 * fields; every other record is skipped by its size.  Constant-pool
 * lookups (stack traces, frame names, thread states) are answered during
 * the callbacks for the current chunk.
 *
 * Hostile input: every size, count, offset and nesting level is checked
 * against the buffer and against pyr_jfrp_limits; the reader's own heap
 * use is accounted and capped.  Any violation stops the parse with one
 * message naming the chunk, the offset and what was wrong.
 *
 * Threads: a parse is single-threaded and keeps no global state; separate
 * parses may run concurrently.
 */
#ifndef PYRITE_SERVER_JFR_PARSE_H
#define PYRITE_SERVER_JFR_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pyr_jfrp_limits {
  size_t max_input;        /* bytes of (decompressed) JFR */
  size_t max_chunks;       /* chunks per file */
  size_t max_metadata;     /* bytes of one metadata event */
  size_t max_classes;      /* classes per chunk */
  size_t max_fields;       /* fields over all classes of a chunk */
  size_t max_pool_entries; /* constant-pool entries per chunk (all pools) */
  size_t max_depth;        /* nesting of metadata elements / inline values */
  size_t max_alloc;        /* bytes the reader may hold on the heap at once */
} pyr_jfrp_limits;

/* 256 MiB input, 64K chunks, 32 MiB metadata, 64K classes, 1M fields,
 * 32M pool entries, depth 32, 1 GiB heap. */
extern const pyr_jfrp_limits pyr_jfrp_default_limits;

/* A string slice: s == NULL means the JFR null string.  Not terminated. */
typedef struct pyr_jfrp_str {
  const char *s;
  size_t len;
} pyr_jfrp_str;

/* The event classes the reader binds (everything else is skipped). */
typedef enum pyr_jfrp_kind {
  PYR_JFRP_EXECUTION_SAMPLE,  /* jdk.ExecutionSample */
  PYR_JFRP_WALL_CLOCK_SAMPLE, /* profiler.WallClockSample */
  PYR_JFRP_ALLOC_IN_NEW_TLAB, /* jdk.ObjectAllocationInNewTLAB */
  PYR_JFRP_ALLOC_OUTSIDE_TLAB,/* jdk.ObjectAllocationOutsideTLAB */
  PYR_JFRP_ALLOC_SAMPLE,      /* jdk.ObjectAllocationSample */
  PYR_JFRP_MONITOR_ENTER,     /* jdk.JavaMonitorEnter */
  PYR_JFRP_THREAD_PARK,       /* jdk.ThreadPark */
  PYR_JFRP_LIVE_OBJECT,       /* profiler.LiveObject */
  PYR_JFRP_MALLOC,            /* profiler.Malloc */
  PYR_JFRP_ACTIVE_SETTING,    /* jdk.ActiveSetting */
  PYR_JFRP_NKINDS
} pyr_jfrp_kind;

/* Bit in pyr_jfrp_event.has for each bound field. */
enum {
  PYR_JFRP_HAS_STACK = 1u << 0,
  PYR_JFRP_HAS_STATE = 1u << 1,
  PYR_JFRP_HAS_CONTEXT = 1u << 2,
  PYR_JFRP_HAS_SPAN_ID = 1u << 3,
  PYR_JFRP_HAS_SPAN_NAME = 1u << 4,
  PYR_JFRP_HAS_SAMPLES = 1u << 5,
  PYR_JFRP_HAS_TLAB_SIZE = 1u << 6,
  PYR_JFRP_HAS_ALLOC_SIZE = 1u << 7,
  PYR_JFRP_HAS_WEIGHT = 1u << 8,
  PYR_JFRP_HAS_DURATION = 1u << 9,
  PYR_JFRP_HAS_SIZE = 1u << 10,
  PYR_JFRP_HAS_NAME = 1u << 11,
  PYR_JFRP_HAS_VALUE = 1u << 12,
};

/* One bound event.  Integer fields hold the field's value at its declared
 * width (int fields zero-extended from 32 bits, long fields as two's
 * complement); a field the class lacks (or declares with an unexpected
 * type) is 0 and its HAS bit is clear. */
typedef struct pyr_jfrp_event {
  pyr_jfrp_kind kind;
  uint32_t has;
  uint64_t stack; /* StackTrace pool key (stackTrace) */
  uint64_t state; /* ThreadState pool key (state) */
  int64_t context_id, span_id, span_name;
  int64_t samples, tlab_size, allocation_size, weight, duration, size;
  pyr_jfrp_str name, value; /* jdk.ActiveSetting; valid during the callback */
} pyr_jfrp_event;

#define PYR_JFRP_NO_METHOD UINT32_MAX

typedef struct pyr_jfrp_frame {
  uint64_t method;       /* Method pool key (0 if the frame has none) */
  uint32_t line;         /* lineNumber as the unsigned 32-bit value written */
  uint32_t method_index; /* dense index into this chunk's Method pool, or
                          * PYR_JFRP_NO_METHOD if the key is not in it */
} pyr_jfrp_frame;

typedef struct pyr_jfrp_stack {
  const pyr_jfrp_frame *frames; /* leaf first, as JFR stores them */
  uint32_t n;
  bool truncated;
} pyr_jfrp_stack;

typedef struct pyr_jfrp_chunk_info {
  size_t index;           /* 0-based chunk number */
  size_t offset;          /* of the chunk in the buffer */
  uint16_t major, minor;  /* format version */
  int64_t start_nanos;    /* chunk start, ns since the epoch */
  int64_t duration_nanos;
  int64_t start_ticks;
  int64_t ticks_per_second;
} pyr_jfrp_chunk_info;

typedef struct pyr_jfrp pyr_jfrp;

/* Callbacks; any may be NULL.  A non-zero return stops the parse; the
 * callback should describe why with pyr_jfrp_fail first. */
typedef struct pyr_jfrp_handler {
  void *ud;
  int (*chunk_begin)(void *ud, pyr_jfrp *p, const pyr_jfrp_chunk_info *ci);
  int (*event)(void *ud, pyr_jfrp *p, const pyr_jfrp_event *ev);
  int (*chunk_end)(void *ud, pyr_jfrp *p);
} pyr_jfrp_handler;

#define PYR_JFRP_EINVAL (-1) /* malformed input */
#define PYR_JFRP_ELIMIT (-2) /* a pyr_jfrp_limits bound was exceeded */

/* Parses buf (raw JFR; see pyr_jfrp_gunzip for .gz).  Returns 0, or
 * PYR_JFRP_EINVAL / PYR_JFRP_ELIMIT with a message in err. */
int pyr_jfr_parse(const uint8_t *buf, size_t len, const pyr_jfrp_limits *lim,
                  const pyr_jfrp_handler *h, char *err, size_t errlen);

/* Lookups for the current chunk, valid inside the callbacks.
 * pyr_jfrp_stacktrace: true and *out filled if the key is in the pool. */
bool pyr_jfrp_stacktrace(pyr_jfrp *p, uint64_t key, pyr_jfrp_stack *out);
/* Thread state name for a ThreadState key; false if the key is absent. */
bool pyr_jfrp_thread_state(pyr_jfrp *p, uint64_t key, pyr_jfrp_str *out);
/* The frame name Pyroscope gives a method: "<class symbol>.<method
 * symbol>", each symbol normalised (lambda / GeneratedMethodAccessor /
 * generated .so names, see docs/jfr-parser.md).  Returns 1 with *out set,
 * 0 if the method or its class is not in the pools (Pyroscope drops such
 * frames), -1 on an allocation-limit error (the parse should stop). */
int pyr_jfrp_frame_name(pyr_jfrp *p, uint64_t method, pyr_jfrp_str *out);
/* Same by the method's dense index (pyr_jfrp_frame.method_index), so that
 * callers can cache per method in a plain array of pyr_jfrp_nmethods. */
int pyr_jfrp_method_frame_name(pyr_jfrp *p, uint32_t method_index, pyr_jfrp_str *out);
size_t pyr_jfrp_nmethods(const pyr_jfrp *p);
/* Stack traces in the current chunk's pools (a sizing hint). */
size_t pyr_jfrp_nstacks(const pyr_jfrp *p);

/* Sets the parse's error message (printf-style) and returns -1, for
 * callbacks that want to stop the parse. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int pyr_jfrp_fail(pyr_jfrp *p, const char *fmt, ...);

/* Pyroscope's symbol normalisation, applied to one class or method
 * symbol.  Writes the result to out (at most outlen bytes, not
 * terminated) and returns its length, or returns (size_t)-1 if s needs no
 * change.  Exposed for tests. */
size_t pyr_jfrp_normalize_symbol(const char *s, size_t len, char *out, size_t outlen);

/* If in starts with the gzip magic 1f 8b, inflates it (all members) into a
 * new malloc'd buffer of at most max_out bytes: returns 1 and sets *out /
 * *outlen.  Returns 0 if in is not gzip, -1 with err set on a corrupt
 * stream or when the output would exceed max_out. */
int pyr_jfrp_gunzip(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                    size_t *outlen, char *err, size_t errlen);

#endif
