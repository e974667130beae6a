/*
 * jfr_writer.c - builds one self-contained JFR 2.0 chunk in memory.
 *
 * What it does: callers intern pool entries (symbols, packages, classes,
 * methods, threads, stack traces) and append events; pyr_jfr_finish() lays
 * out the chunk as
 *
 *   [68-byte header][metadata event][events ...][one checkpoint event]
 *
 * The checkpoint holds the fixed FrameType and ThreadState pools plus every
 * non-empty interned pool.  The format facts used here, and what each
 * reader (JDK `jfr`, grafana/jfr-parser, async-profiler's JfrReader) insists
 * on, are in docs/jfr-writer.md and ../shared/reference/jfr-format.md.
 *
 * Threads: a writer belongs to one thread at a time (the agent's aggregator
 * or a test); nothing here is async-signal-safe (it mallocs).
 *
 * Invariants:
 *  - every pool entry and every event is encoded completely into `scratch`
 *    first and then copied with one reserved append, so a failure never
 *    leaves half a record behind: the buffers always hold whole records;
 *  - `used` counts every byte of capacity this writer holds (buffers and
 *    hash tables) and never exceeds cfg.max_bytes: buffer limits are set to
 *    "current capacity + what is left of the budget" before each growth;
 *  - pool keys are key_base + n, n = 1, 2, ... in insertion order per pool,
 *    and an entry's bytes never change once written, so identical inputs
 *    map to one key for the life of the writer;
 *  - ints are written as their unsigned 32-bit value (at most 5 bytes),
 *    because jfr-parser rejects a 6th byte in an int field.
 */
#include "jfr_writer.h"

#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Metadata id.  The JDK reuses the previous chunk's metadata without reading
 * it when the id repeats, so this must change whenever the type table below
 * changes.  It also differs from async-profiler's 0x7FFFFFFF so our chunks
 * can be appended after theirs in one file.  "PYR" + format revision 2
 * (revision 2 added contextId to the sample events).
 */
#define PYR_JFR_METADATA_ID 0x50595202u

/* The JDK reads record sizes as Java ints, and slot offsets are 32-bit:
 * keep the whole writer far below both. */
#define PYR_JFR_BUDGET_CAP ((size_t)1 << 30)
#define PYR_JFR_HEADER_SIZE 68u
#define PYR_JFR_TICKS_PER_SECOND 1000000000u
#define PYR_JFR_META_STR_MAX 64
#define PYR_JFR_META_MAX_STRS 256
#define PYR_JFR_TABLE_MIN 64u

/* Class ids.  Arbitrary but unique; 0 and 1 are the metadata and checkpoint
 * record types and must not be used. */
enum type_id {
  T_BOOLEAN = 10,
  T_BYTE,
  T_CHAR,
  T_SHORT,
  T_INT,
  T_LONG,
  T_FLOAT,
  T_DOUBLE,
  T_STRING,
  T_THREAD = 20,
  T_CLASS,
  T_CLASS_LOADER,
  T_PACKAGE,
  T_METHOD,
  T_STACK_TRACE,
  T_STACK_FRAME,
  T_FRAME_TYPE,
  T_THREAD_STATE,
  T_SYMBOL,
  T_EXECUTION_SAMPLE = 100,
  T_WALL_CLOCK_SAMPLE,
  T_ALLOC_IN_NEW_TLAB,
  T_ALLOC_OUTSIDE_TLAB,
  T_MONITOR_ENTER,
  T_THREAD_PARK,
  T_ACTIVE_SETTING,
  T_A_LABEL = 200,
  T_A_TIMESTAMP,
  T_A_TIMESPAN,
  T_A_DATA_AMOUNT,
  T_A_MEMORY_ADDRESS,
  T_A_CONTENT_TYPE,
};

/* ------------------------------------------------------------------------
 * Type table: what the metadata event declares.
 * ---------------------------------------------------------------------- */

#define F_CP 1u    /* constantPool="true": the value is a pool key */
#define F_ARRAY 2u /* dimension="1": a count, then the elements */

typedef struct field_desc {
  const char *name;
  uint16_t type;
  uint8_t flags;
  uint16_t anno;          /* annotation class id, 0 = none */
  const char *anno_value; /* NULL for annotations without a value */
} field_desc;

typedef struct class_desc {
  uint16_t id;
  const char *name;
  const char *super_type; /* NULL, "jdk.jfr.Event" or the annotation root */
  bool simple;            /* simpleType: a one-field wrapper (Symbol, ...) */
  const char *label;      /* class-level jdk.jfr.Label, or NULL */
  bool content_type;      /* annotated jdk.jfr.ContentType (see below) */
  const field_desc *fields;
  uint8_t nfields;
} class_desc;

/* Readers locate startTime as field 0 and duration as field 1 by position,
 * so every event below keeps that order. */
#define FLD_START {"startTime", T_LONG, 0, T_A_TIMESTAMP, "TICKS"}
#define FLD_DURATION {"duration", T_LONG, 0, T_A_TIMESPAN, "TICKS"}
#define FLD_CP(n, t) {n, t, F_CP, 0, NULL}
#define FLD(n, t) {n, t, 0, 0, NULL}
#define FLD_BYTES(n) {n, T_LONG, 0, T_A_DATA_AMOUNT, "BYTES"}
#define FLD_ADDRESS {"address", T_LONG, 0, T_A_MEMORY_ADDRESS, NULL}
/* Dynamic labels: a plain long, last field of the sample events the
 * Pyroscope server reads labels from (jfr-format.md; 0 = no labels). */
#define FLD_CONTEXT {"contextId", T_LONG, 0, 0, NULL}
#define N(a) ((uint8_t)(sizeof(a) / sizeof((a)[0])))

/* Pool types use async-profiler's field lists: its JfrReader decodes them
 * by fixed layout, the JDK and jfr-parser by name. */
static const field_desc f_thread[] = {
    FLD("osName", T_STRING), FLD("osThreadId", T_LONG),
    FLD("javaName", T_STRING), FLD("javaThreadId", T_LONG)};
static const field_desc f_class[] = {
    FLD_CP("classLoader", T_CLASS_LOADER), FLD_CP("name", T_SYMBOL),
    FLD_CP("package", T_PACKAGE), FLD("modifiers", T_INT)};
static const field_desc f_class_loader[] = {FLD_CP("type", T_CLASS),
                                            FLD_CP("name", T_SYMBOL)};
static const field_desc f_package[] = {FLD_CP("name", T_SYMBOL)};
static const field_desc f_method[] = {
    FLD_CP("type", T_CLASS), FLD_CP("name", T_SYMBOL),
    FLD_CP("descriptor", T_SYMBOL), FLD("modifiers", T_INT),
    FLD("hidden", T_BOOLEAN)};
static const field_desc f_stack_trace[] = {
    FLD("truncated", T_BOOLEAN),
    {"frames", T_STACK_FRAME, F_ARRAY, 0, NULL}};
static const field_desc f_stack_frame[] = {
    FLD_CP("method", T_METHOD), FLD("lineNumber", T_INT),
    FLD("bytecodeIndex", T_INT), FLD_CP("type", T_FRAME_TYPE)};
static const field_desc f_frame_type[] = {FLD("description", T_STRING)};
static const field_desc f_thread_state[] = {FLD("name", T_STRING)};
static const field_desc f_symbol[] = {FLD("string", T_STRING)};

static const field_desc f_execution_sample[] = {
    FLD_START, FLD_CP("sampledThread", T_THREAD),
    FLD_CP("stackTrace", T_STACK_TRACE), FLD_CP("state", T_THREAD_STATE),
    FLD_CONTEXT};
static const field_desc f_wall_clock_sample[] = {
    FLD_START,
    FLD_CP("sampledThread", T_THREAD),
    FLD_CP("stackTrace", T_STACK_TRACE),
    FLD_CP("state", T_THREAD_STATE),
    FLD("samples", T_INT),
    {"timeSpan", T_LONG, 0, T_A_TIMESPAN, "TICKS"},
    FLD_CONTEXT};
static const field_desc f_alloc_in_new_tlab[] = {
    FLD_START,
    FLD_CP("eventThread", T_THREAD),
    FLD_CP("stackTrace", T_STACK_TRACE),
    FLD_CP("objectClass", T_CLASS),
    FLD_BYTES("allocationSize"),
    FLD_BYTES("tlabSize"),
    FLD_CONTEXT};
static const field_desc f_alloc_outside_tlab[] = {
    FLD_START, FLD_CP("eventThread", T_THREAD),
    FLD_CP("stackTrace", T_STACK_TRACE), FLD_CP("objectClass", T_CLASS),
    FLD_BYTES("allocationSize"), FLD_CONTEXT};
static const field_desc f_monitor_enter[] = {
    FLD_START,
    FLD_DURATION,
    FLD_CP("eventThread", T_THREAD),
    FLD_CP("stackTrace", T_STACK_TRACE),
    FLD_CP("monitorClass", T_CLASS),
    FLD_CP("previousOwner", T_THREAD),
    FLD_ADDRESS,
    FLD_CONTEXT};
static const field_desc f_thread_park[] = {
    FLD_START,
    FLD_DURATION,
    FLD_CP("eventThread", T_THREAD),
    FLD_CP("stackTrace", T_STACK_TRACE),
    FLD_CP("parkedClass", T_CLASS),
    {"timeout", T_LONG, 0, T_A_TIMESPAN, "NANOSECONDS"},
    {"until", T_LONG, 0, T_A_TIMESTAMP, "MILLISECONDS_SINCE_EPOCH"},
    FLD_ADDRESS};
static const field_desc f_active_setting[] = {
    FLD_START, FLD("id", T_LONG), FLD("name", T_STRING),
    FLD("value", T_STRING)};
static const field_desc f_annotation_value[] = {FLD("value", T_STRING)};

#define PRIMITIVE(i, n) {i, n, NULL, false, NULL, false, NULL, 0}
#define POOL_TYPE(i, n, s, f) {i, n, NULL, s, NULL, false, f, N(f)}
#define EVENT(i, n, l, f) {i, n, "jdk.jfr.Event", false, l, false, f, N(f)}
#define ANNOTATION(i, n, ct, f, nf)                                          \
  {i, n, "java.lang.annotation.Annotation", false, NULL, ct, f, nf}

/* jfr-parser checks that all of these names are declared (short, float,
 * ClassLoader, ... included) even if no field uses them. */
static const class_desc classes[] = {
    PRIMITIVE(T_BOOLEAN, "boolean"),
    PRIMITIVE(T_BYTE, "byte"),
    PRIMITIVE(T_CHAR, "char"),
    PRIMITIVE(T_SHORT, "short"),
    PRIMITIVE(T_INT, "int"),
    PRIMITIVE(T_LONG, "long"),
    PRIMITIVE(T_FLOAT, "float"),
    PRIMITIVE(T_DOUBLE, "double"),
    PRIMITIVE(T_STRING, "java.lang.String"),
    POOL_TYPE(T_THREAD, "java.lang.Thread", false, f_thread),
    POOL_TYPE(T_CLASS, "java.lang.Class", false, f_class),
    POOL_TYPE(T_CLASS_LOADER, "jdk.types.ClassLoader", false, f_class_loader),
    POOL_TYPE(T_PACKAGE, "jdk.types.Package", false, f_package),
    POOL_TYPE(T_METHOD, "jdk.types.Method", false, f_method),
    POOL_TYPE(T_STACK_TRACE, "jdk.types.StackTrace", false, f_stack_trace),
    POOL_TYPE(T_STACK_FRAME, "jdk.types.StackFrame", false, f_stack_frame),
    POOL_TYPE(T_FRAME_TYPE, "jdk.types.FrameType", true, f_frame_type),
    POOL_TYPE(T_THREAD_STATE, "jdk.types.ThreadState", true, f_thread_state),
    POOL_TYPE(T_SYMBOL, "jdk.types.Symbol", true, f_symbol),
    EVENT(T_EXECUTION_SAMPLE, "jdk.ExecutionSample", "Method Profiling Sample",
          f_execution_sample),
    EVENT(T_WALL_CLOCK_SAMPLE, "profiler.WallClockSample", "Wall Clock Sample",
          f_wall_clock_sample),
    EVENT(T_ALLOC_IN_NEW_TLAB, "jdk.ObjectAllocationInNewTLAB",
          "Allocation in new TLAB", f_alloc_in_new_tlab),
    EVENT(T_ALLOC_OUTSIDE_TLAB, "jdk.ObjectAllocationOutsideTLAB",
          "Allocation outside TLAB", f_alloc_outside_tlab),
    EVENT(T_MONITOR_ENTER, "jdk.JavaMonitorEnter", "Java Monitor Blocked",
          f_monitor_enter),
    EVENT(T_THREAD_PARK, "jdk.ThreadPark", "Java Thread Park", f_thread_park),
    EVENT(T_ACTIVE_SETTING, "jdk.ActiveSetting", "Recording Setting",
          f_active_setting),
    /* Every annotation used above must be declared, or the JDK fails with
     * "Type 'N' is not defined".  `jfr print` formats a field (bytes, hex
     * address, N/A for a MIN_VALUE timestamp) only when its annotation is
     * itself annotated with jdk.jfr.ContentType, hence the flag. */
    ANNOTATION(T_A_LABEL, "jdk.jfr.Label", false, f_annotation_value, 1),
    ANNOTATION(T_A_TIMESTAMP, "jdk.jfr.Timestamp", true, f_annotation_value,
               1),
    ANNOTATION(T_A_TIMESPAN, "jdk.jfr.Timespan", true, f_annotation_value, 1),
    ANNOTATION(T_A_DATA_AMOUNT, "jdk.jfr.DataAmount", true,
               f_annotation_value, 1),
    ANNOTATION(T_A_MEMORY_ADDRESS, "jdk.jfr.MemoryAddress", true, NULL, 0),
    ANNOTATION(T_A_CONTENT_TYPE, "jdk.jfr.ContentType", false, NULL, 0),
};

/* Fixed pools: the keys are the enum values in jfr_writer.h and are the same
 * in every chunk, so the JDK's cross-chunk cache can never go stale. */
static const char *const frame_type_names[] = {"Interpreted", "JIT compiled",
                                               "Inlined", "Native"};
static const char *const thread_state_names[] = {
    "STATE_DEFAULT", "STATE_RUNNABLE", "STATE_SLEEPING"};

/* ------------------------------------------------------------------------
 * Writer state.
 * ---------------------------------------------------------------------- */

enum pool_kind {
  POOL_THREAD,
  POOL_STACK,
  POOL_METHOD,
  POOL_CLASS,
  POOL_PACKAGE,
  POOL_SYMBOL,
  POOL_COUNT
};

static const uint16_t pool_type[POOL_COUNT] = {
    [POOL_THREAD] = T_THREAD,   [POOL_STACK] = T_STACK_TRACE,
    [POOL_METHOD] = T_METHOD,   [POOL_CLASS] = T_CLASS,
    [POOL_PACKAGE] = T_PACKAGE, [POOL_SYMBOL] = T_SYMBOL,
};

/* One interned entry; key 0 marks an empty slot (real keys are >= 1). */
typedef struct slot {
  uint64_t hash;
  uint64_t key;
  uint32_t off; /* start of the entry's fields in pool.data */
  uint32_t len; /* length of the fields */
} slot;

typedef struct pool {
  pyr_buf data;  /* entries back to back: key, then the fields */
  slot *slots;   /* open addressing, linear probing, power-of-two size */
  size_t nslots;
  uint64_t count;
} pool;

struct pyr_jfr {
  pyr_jfr_config cfg;
  size_t used;     /* bytes held, charged against cfg.max_bytes */
  pyr_buf scratch; /* the record being encoded */
  pyr_buf events;  /* finished event records */
  pool pools[POOL_COUNT];
  uint64_t nevents;
  uint64_t dropped;
  uint64_t unknown_method; /* placeholder for method key 0, lazily pooled */
  uint64_t context;        /* contextId of the next sample events */
};

/* ------------------------------------------------------------------------
 * Encoders.
 * ---------------------------------------------------------------------- */

size_t pyr_jfr_varint(uint8_t out[9], uint64_t v) {
  for (size_t i = 0; i < 8; i++) {
    if (v < 0x80) {
      out[i] = (uint8_t)v;
      return i + 1;
    }
    out[i] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  /* The 9th byte has no continuation bit and carries the last 8 bits. */
  out[8] = (uint8_t)v;
  return 9;
}

static size_t varint_len(uint64_t v) {
  uint8_t tmp[9];

  return pyr_jfr_varint(tmp, v);
}

/* A non-canonical 5-byte varint, so a size can be written before the
 * content it measures is known; every reader accepts the padding. */
static void put_varint5(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(0x80 | (v & 0x7f));
  p[1] = (uint8_t)(0x80 | ((v >> 7) & 0x7f));
  p[2] = (uint8_t)(0x80 | ((v >> 14) & 0x7f));
  p[3] = (uint8_t)(0x80 | ((v >> 21) & 0x7f));
  p[4] = (uint8_t)((v >> 28) & 0x0f);
}

/* The size of a record counts its own size field. */
static size_t record_size(size_t payload) {
  size_t s = 1;

  while (varint_len(payload + s) != s)
    s++;
  return payload + s;
}

static int buf_varint(pyr_buf *b, uint64_t v) {
  uint8_t tmp[9];

  return pyr_buf_append(b, tmp, pyr_jfr_varint(tmp, v));
}

/* UTF-8 (encoding 3) is the one string form every reader accepts
 * everywhere; NULL is encoding 0. */
static int buf_string(pyr_buf *b, const char *s) {
  size_t n;

  if (!s)
    return pyr_buf_u8(b, 0);
  n = strlen(s);
  if (pyr_buf_u8(b, 3) < 0 || buf_varint(b, n) < 0)
    return -1;
  return pyr_buf_append(b, s, n);
}

/* ------------------------------------------------------------------------
 * Budget: every allocation the writer keeps is charged to cfg.max_bytes.
 * ---------------------------------------------------------------------- */

static size_t budget_left(const pyr_jfr *w) {
  return w->used < w->cfg.max_bytes ? w->cfg.max_bytes - w->used : 0;
}

/* Makes room for n more bytes in b without exceeding the budget.  After
 * success, appends of up to n bytes cannot fail. */
static int charged_reserve(pyr_jfr *w, pyr_buf *b, size_t n) {
  size_t old_cap = b->cap;

  b->limit = b->cap + budget_left(w);
  if (pyr_buf_reserve(b, n) < 0)
    return -1;
  w->used += b->cap - old_cap;
  return 0;
}

/* Scratch writers ignore individual failures: the sticky overflow flag is
 * checked once when the record is committed. */
static void s_put(pyr_jfr *w, const void *p, size_t n) {
  if (charged_reserve(w, &w->scratch, n) == 0)
    pyr_buf_append(&w->scratch, p, n);
  else
    w->scratch.overflow = true;
}

static void s_u8(pyr_jfr *w, uint8_t v) {
  s_put(w, &v, 1);
}

static void s_varint(pyr_jfr *w, uint64_t v) {
  uint8_t tmp[9];

  s_put(w, tmp, pyr_jfr_varint(tmp, v));
}

/* Java int fields: the unsigned 32-bit value, so -1 is 5 bytes, not 9. */
static void s_int(pyr_jfr *w, int32_t v) {
  s_varint(w, (uint32_t)v);
}

static void s_string_n(pyr_jfr *w, const char *s, size_t n) {
  s_u8(w, 3);
  s_varint(w, n);
  s_put(w, s, n);
}

static void s_string(pyr_jfr *w, const char *s) {
  if (s)
    s_string_n(w, s, strlen(s));
  else
    s_u8(w, 0);
}

/* ------------------------------------------------------------------------
 * Pools: content-addressed interning of the encoded fields in `scratch`.
 * ---------------------------------------------------------------------- */

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h ^ (h >> 29);
}

/* Returns the slot holding these fields, or the empty slot where they
 * belong.  The load factor stays below 3/4, so an empty slot exists. */
static slot *probe(const pool *p, uint64_t h, const uint8_t *f, size_t n) {
  size_t mask = p->nslots - 1;
  size_t i = (size_t)h & mask;

  while (p->slots[i].key) {
    const slot *s = &p->slots[i];

    if (s->hash == h && s->len == n && !memcmp(p->data.data + s->off, f, n))
      return &p->slots[i];
    i = (i + 1) & mask;
  }
  return &p->slots[i];
}

static int table_grow(pyr_jfr *w, pool *p) {
  size_t n = p->nslots ? p->nslots * 2 : PYR_JFR_TABLE_MIN;
  size_t bytes = n * sizeof(slot);
  pool grown = *p;

  /* The old and the new table coexist while rehashing: charge both. */
  if (bytes > budget_left(w))
    return -1;
  grown.slots = calloc(n, sizeof(slot));
  if (!grown.slots)
    return -1;
  grown.nslots = n;
  w->used += bytes;
  for (size_t i = 0; i < p->nslots; i++) {
    const slot *s = &p->slots[i];

    if (s->key)
      *probe(&grown, s->hash, p->data.data + s->off, s->len) = *s;
  }
  free(p->slots);
  w->used -= p->nslots * sizeof(slot);
  p->slots = grown.slots;
  p->nslots = n;
  return 0;
}

static uint64_t pool_add(pyr_jfr *w, pool *p, uint64_t h, const uint8_t *f,
                         size_t n) {
  uint8_t kb[9];
  uint64_t key = w->cfg.key_base + p->count + 1;
  size_t klen = pyr_jfr_varint(kb, key);
  slot *s;

  if ((p->count + 1) * 4 > (uint64_t)p->nslots * 3 && table_grow(w, p) < 0)
    return 0;
  if (charged_reserve(w, &p->data, klen + n) < 0)
    return 0;
  pyr_buf_append(&p->data, kb, klen);
  s = probe(p, h, f, n);
  s->hash = h;
  s->key = key;
  s->off = (uint32_t)p->data.len;
  s->len = (uint32_t)n;
  pyr_buf_append(&p->data, f, n);
  p->count++;
  return key;
}

/* Interns the fields currently in scratch.  Lookup comes first, so inputs
 * already pooled keep resolving after the budget is exhausted. */
static uint64_t pool_intern(pyr_jfr *w, enum pool_kind kind) {
  pool *p = &w->pools[kind];
  const uint8_t *f = w->scratch.data;
  size_t n = w->scratch.len;
  uint64_t h;

  if (w->scratch.overflow)
    return 0;
  h = hash_bytes(f, n);
  if (p->slots) {
    const slot *s = probe(p, h, f, n);

    if (s->key)
      return s->key;
  }
  return pool_add(w, p, h, f, n);
}

static void scratch_begin(pyr_jfr *w) {
  pyr_buf_reset(&w->scratch);
}

static uint64_t symbol_n(pyr_jfr *w, const char *s, size_t n) {
  scratch_begin(w);
  s_string_n(w, s, n);
  return pool_intern(w, POOL_SYMBOL);
}

uint64_t pyr_jfr_symbol(pyr_jfr *w, const char *utf8) {
  if (!w || !utf8)
    return 0;
  return symbol_n(w, utf8, strlen(utf8));
}

/* The package of "com/example/Demo" is "com/example".  Classes in the
 * unnamed package and array classes ("[I", "[Ljava/lang/String;") have
 * none, as in the JDK. */
static size_t package_len(const char *class_name) {
  const char *slash = strrchr(class_name, '/');

  if (class_name[0] == '[' || !slash)
    return 0;
  return (size_t)(slash - class_name);
}

static uint64_t package_key(pyr_jfr *w, const char *name, size_t n) {
  uint64_t sym = symbol_n(w, name, n);

  if (!sym)
    return 0;
  scratch_begin(w);
  s_varint(w, sym);
  return pool_intern(w, POOL_PACKAGE);
}

uint64_t pyr_jfr_class(pyr_jfr *w, const char *class_name, int32_t modifiers) {
  size_t plen;
  uint64_t sym, pkg = 0;

  if (!w || !class_name)
    return 0;
  plen = package_len(class_name);
  if (plen && !(pkg = package_key(w, class_name, plen)))
    return 0;
  sym = pyr_jfr_symbol(w, class_name);
  if (!sym)
    return 0;
  scratch_begin(w);
  s_varint(w, 0); /* classLoader: not tracked, null */
  s_varint(w, sym);
  s_varint(w, pkg);
  s_int(w, modifiers);
  return pool_intern(w, POOL_CLASS);
}

/* `jfr print` formats every frame as type.name(params) and dies with an NPE
 * on a null method or a null method type, so neither may reach the file:
 * both are replaced by this placeholder class and method. */
#define PYR_JFR_UNKNOWN "unknown"

uint64_t pyr_jfr_method(pyr_jfr *w, uint64_t class_key, const char *name,
                        const char *descriptor, int32_t modifiers, bool hidden) {
  uint64_t name_sym, desc_sym;

  if (!w || !name)
    return 0;
  if (!class_key && !(class_key = pyr_jfr_class(w, PYR_JFR_UNKNOWN, 0)))
    return 0;
  /* `jfr print` dereferences the descriptor to format the parameter list
   * and dies on a null one; an empty signature keeps it printable. */
  if (!descriptor)
    descriptor = "()V";
  name_sym = pyr_jfr_symbol(w, name);
  desc_sym = pyr_jfr_symbol(w, descriptor);
  if (!name_sym || !desc_sym)
    return 0;
  scratch_begin(w);
  s_varint(w, class_key);
  s_varint(w, name_sym);
  s_varint(w, desc_sym);
  s_int(w, modifiers);
  s_u8(w, hidden ? 1 : 0);
  return pool_intern(w, POOL_METHOD);
}

uint64_t pyr_jfr_thread(pyr_jfr *w, uint32_t os_tid, const char *os_name,
                        const char *java_name, int64_t java_tid) {
  if (!w)
    return 0;
  scratch_begin(w);
  s_string(w, os_name);
  s_varint(w, os_tid);
  s_string(w, java_name);
  s_varint(w, java_name ? (uint64_t)java_tid : 0);
  return pool_intern(w, POOL_THREAD);
}

static void s_frame(pyr_jfr *w, const pyr_jfr_frame *f) {
  s_varint(w, f->method);
  s_int(w, f->line);
  s_int(w, f->bci);
  s_varint(w, f->type);
}

/* Resolved before a stack is encoded, because interning uses scratch. */
static uint64_t unknown_method(pyr_jfr *w) {
  if (!w->unknown_method)
    w->unknown_method =
        pyr_jfr_method(w, 0, PYR_JFR_UNKNOWN, "()V", 0, false);
  return w->unknown_method;
}

/* Rejects frame types outside the fixed pool (they would reference a
 * missing key) and pools the placeholder if a frame lacks its method. */
static int check_frames(pyr_jfr *w, const pyr_jfr_frame *frames, uint32_t n) {
  bool need_unknown = false;

  for (uint32_t i = 0; i < n; i++) {
    if (frames[i].type > PYR_JFR_FRAME_NATIVE)
      return -1;
    need_unknown |= frames[i].method == 0;
  }
  if (need_unknown && !unknown_method(w))
    return -1;
  return 0;
}

uint64_t pyr_jfr_stack(pyr_jfr *w, const pyr_jfr_frame *frames, uint32_t n,
                       bool truncated) {
  if (!w || (n && !frames) || check_frames(w, frames, n) < 0)
    return 0;
  scratch_begin(w);
  s_u8(w, truncated ? 1 : 0);
  s_varint(w, n);
  for (uint32_t i = 0; i < n && !w->scratch.overflow; i++) {
    pyr_jfr_frame f = frames[i];

    if (!f.method)
      f.method = w->unknown_method;
    s_frame(w, &f);
  }
  return pool_intern(w, POOL_STACK);
}

/* ------------------------------------------------------------------------
 * Events: encoded into scratch, then copied whole into `events`.
 * ---------------------------------------------------------------------- */

static void event_begin(pyr_jfr *w, uint16_t type, uint64_t ticks) {
  scratch_begin(w);
  s_varint(w, type);
  s_varint(w, ticks);
}

static int event_commit(pyr_jfr *w) {
  uint8_t sb[9];
  size_t n = w->scratch.len;
  size_t slen;

  if (w->scratch.overflow)
    goto drop;
  slen = pyr_jfr_varint(sb, record_size(n));
  if (charged_reserve(w, &w->events, slen + n) < 0)
    goto drop;
  pyr_buf_append(&w->events, sb, slen);
  pyr_buf_append(&w->events, w->scratch.data, n);
  w->nevents++;
  return 0;
drop:
  w->dropped++;
  return -1;
}

static bool state_valid(enum pyr_jfr_state state) {
  return (unsigned)state <= PYR_JFR_STATE_SLEEPING;
}

int pyr_jfr_execution_sample(pyr_jfr *w, uint64_t ticks, uint64_t thread,
                             uint64_t stack, enum pyr_jfr_state state) {
  if (!w || !state_valid(state))
    return -1;
  event_begin(w, T_EXECUTION_SAMPLE, ticks);
  s_varint(w, thread);
  s_varint(w, stack);
  s_varint(w, (uint64_t)state);
  s_varint(w, w->context);
  return event_commit(w);
}

int pyr_jfr_wall_sample(pyr_jfr *w, uint64_t ticks, uint64_t thread,
                        uint64_t stack, enum pyr_jfr_state state,
                        uint32_t samples, uint64_t time_span_ticks) {
  if (!w || !state_valid(state))
    return -1;
  event_begin(w, T_WALL_CLOCK_SAMPLE, ticks);
  s_varint(w, thread);
  s_varint(w, stack);
  s_varint(w, (uint64_t)state);
  s_varint(w, samples);
  s_varint(w, time_span_ticks);
  s_varint(w, w->context);
  return event_commit(w);
}

int pyr_jfr_alloc_in_new_tlab(pyr_jfr *w, uint64_t ticks, uint64_t thread,
                              uint64_t stack, uint64_t object_class,
                              uint64_t allocation_size, uint64_t tlab_size) {
  if (!w)
    return -1;
  event_begin(w, T_ALLOC_IN_NEW_TLAB, ticks);
  s_varint(w, thread);
  s_varint(w, stack);
  s_varint(w, object_class);
  s_varint(w, allocation_size);
  s_varint(w, tlab_size);
  s_varint(w, w->context);
  return event_commit(w);
}

int pyr_jfr_alloc_outside_tlab(pyr_jfr *w, uint64_t ticks, uint64_t thread,
                               uint64_t stack, uint64_t object_class,
                               uint64_t allocation_size) {
  if (!w)
    return -1;
  event_begin(w, T_ALLOC_OUTSIDE_TLAB, ticks);
  s_varint(w, thread);
  s_varint(w, stack);
  s_varint(w, object_class);
  s_varint(w, allocation_size);
  s_varint(w, w->context);
  return event_commit(w);
}

int pyr_jfr_monitor_enter(pyr_jfr *w, uint64_t ticks, uint64_t duration_ticks,
                          uint64_t thread, uint64_t stack,
                          uint64_t monitor_class, uint64_t address) {
  if (!w)
    return -1;
  event_begin(w, T_MONITOR_ENTER, ticks);
  s_varint(w, duration_ticks);
  s_varint(w, thread);
  s_varint(w, stack);
  s_varint(w, monitor_class);
  s_varint(w, 0); /* previousOwner: unknown to the sampler, null */
  s_varint(w, address);
  s_varint(w, w->context);
  return event_commit(w);
}

int pyr_jfr_thread_park(pyr_jfr *w, uint64_t ticks, uint64_t duration_ticks,
                        uint64_t thread, uint64_t stack, uint64_t parked_class,
                        int64_t timeout_ns, int64_t until_ms, uint64_t address) {
  if (!w)
    return -1;
  event_begin(w, T_THREAD_PARK, ticks);
  s_varint(w, duration_ticks);
  s_varint(w, thread);
  s_varint(w, stack);
  s_varint(w, parked_class);
  /* long fields: two's complement, so Long.MIN_VALUE ("no deadline") is 9
   * bytes, exactly as the JDK writes it. */
  s_varint(w, (uint64_t)timeout_ns);
  s_varint(w, (uint64_t)until_ms);
  s_varint(w, address);
  return event_commit(w);
}

void pyr_jfr_set_context(pyr_jfr *w, uint64_t context) {
  if (w)
    w->context = context;
}

int pyr_jfr_active_setting(pyr_jfr *w, uint64_t ticks, const char *name,
                           const char *value) {
  if (!w)
    return -1;
  event_begin(w, T_ACTIVE_SETTING, ticks);
  s_varint(w, 0); /* id of the setting's event type: not meaningful here */
  s_string(w, name);
  s_string(w, value);
  return event_commit(w);
}

uint64_t pyr_jfr_event_count(const pyr_jfr *w) {
  return w ? w->nevents : 0;
}

uint64_t pyr_jfr_dropped_events(const pyr_jfr *w) {
  return w ? w->dropped : 0;
}

/* ------------------------------------------------------------------------
 * Metadata event: a string table, then the element tree of `classes`.
 * ---------------------------------------------------------------------- */

typedef struct meta {
  pyr_buf tree; /* the element tree, written before the table is known */
  uint32_t nstrs;
  bool failed;
  char strs[PYR_JFR_META_MAX_STRS][PYR_JFR_META_STR_MAX];
} meta;

/* Interns s into the string table; linear search is fine for ~150 short
 * strings once per chunk. */
static uint32_t meta_str(meta *m, const char *s) {
  for (uint32_t i = 0; i < m->nstrs; i++)
    if (!strcmp(m->strs[i], s))
      return i;
  if (m->nstrs == PYR_JFR_META_MAX_STRS || strlen(s) >= PYR_JFR_META_STR_MAX) {
    m->failed = true;
    return 0;
  }
  strcpy(m->strs[m->nstrs], s);
  return m->nstrs++;
}

static void meta_varint(meta *m, uint64_t v) {
  if (buf_varint(&m->tree, v) < 0)
    m->failed = true;
}

/* Element header: name, then the attribute count; attributes follow. */
static void meta_elem(meta *m, const char *name, uint32_t nattrs) {
  meta_varint(m, meta_str(m, name));
  meta_varint(m, nattrs);
}

static void meta_attr(meta *m, const char *k, const char *v) {
  meta_varint(m, meta_str(m, k));
  meta_varint(m, meta_str(m, v));
}

/* Numbers are stored as decimal text. */
static void meta_attr_num(meta *m, const char *k, uint64_t v) {
  char num[24];

  snprintf(num, sizeof num, "%llu", (unsigned long long)v);
  meta_attr(m, k, num);
}

static void meta_annotation(meta *m, uint16_t cls, const char *value) {
  meta_elem(m, "annotation", value ? 2 : 1);
  meta_attr_num(m, "class", cls);
  if (value)
    meta_attr(m, "value", value);
  meta_varint(m, 0);
}

static void meta_field(meta *m, const field_desc *f) {
  uint32_t nattrs = 2 + !!(f->flags & F_CP) + !!(f->flags & F_ARRAY);

  meta_elem(m, "field", nattrs);
  meta_attr(m, "name", f->name);
  meta_attr_num(m, "class", f->type);
  /* jfr-parser wants the literal "true"/"1" and rejects other dimensions,
   * so the attributes are left out for scalars. */
  if (f->flags & F_CP)
    meta_attr(m, "constantPool", "true");
  if (f->flags & F_ARRAY)
    meta_attr(m, "dimension", "1");
  meta_varint(m, f->anno ? 1 : 0);
  if (f->anno)
    meta_annotation(m, f->anno, f->anno_value);
}

static void meta_class(meta *m, const class_desc *c) {
  uint32_t nattrs = 2 + (c->super_type != NULL) + c->simple;

  meta_elem(m, "class", nattrs);
  meta_attr(m, "name", c->name);
  meta_attr_num(m, "id", c->id);
  if (c->super_type)
    meta_attr(m, "superType", c->super_type);
  if (c->simple)
    meta_attr(m, "simpleType", "true");
  meta_varint(m, (uint64_t)c->nfields + (c->label != NULL) + c->content_type);
  for (uint8_t i = 0; i < c->nfields; i++)
    meta_field(m, &c->fields[i]);
  if (c->label)
    meta_annotation(m, T_A_LABEL, c->label);
  if (c->content_type)
    meta_annotation(m, T_A_CONTENT_TYPE, NULL);
}

/* root { metadata { class* }, region }: the JDK fails without `region`,
 * jfr-parser rejects any other child of root. */
static void meta_tree(meta *m) {
  size_t nclasses = sizeof classes / sizeof classes[0];

  meta_elem(m, "root", 0);
  meta_varint(m, 2);
  meta_elem(m, "metadata", 0);
  meta_varint(m, nclasses);
  for (size_t i = 0; i < nclasses; i++)
    meta_class(m, &classes[i]);
  meta_elem(m, "region", 2);
  meta_attr(m, "locale", "en_US");
  meta_attr(m, "gmtOffset", "0");
  meta_varint(m, 0);
}

/* Writes the whole metadata record (5-byte padded size) into out. */
static int meta_record(pyr_buf *out, const meta *m, uint64_t start_ticks) {
  size_t size_off = out->len;
  uint8_t pad[5] = {0};
  int rc = 0;

  rc |= pyr_buf_append(out, pad, sizeof pad);
  rc |= buf_varint(out, 0); /* record type: metadata */
  rc |= buf_varint(out, start_ticks);
  rc |= buf_varint(out, 0); /* duration */
  rc |= buf_varint(out, PYR_JFR_METADATA_ID);
  rc |= buf_varint(out, m->nstrs);
  for (uint32_t i = 0; i < m->nstrs; i++)
    rc |= buf_string(out, m->strs[i]);
  rc |= pyr_buf_append(out, m->tree.data, m->tree.len);
  if (rc || out->len - size_off > INT32_MAX)
    return -1;
  put_varint5(out->data + size_off, (uint32_t)(out->len - size_off));
  return 0;
}

static int build_metadata(pyr_buf *out, uint64_t start_ticks) {
  meta *m = calloc(1, sizeof *m);
  int rc = -1;

  if (!m)
    goto out;
  pyr_buf_init(&m->tree, (size_t)1 << 20);
  meta_tree(m);
  if (m->failed)
    goto out;
  rc = meta_record(out, m, start_ticks);
out:
  if (m)
    pyr_buf_free(&m->tree);
  free(m);
  return rc;
}

/* ------------------------------------------------------------------------
 * Checkpoint and chunk layout.
 * ---------------------------------------------------------------------- */

static int fixed_pool(pyr_buf *b, uint16_t type, const char *const *names,
                      size_t n) {
  int rc = buf_varint(b, type) | buf_varint(b, n);

  for (size_t i = 0; i < n; i++)
    rc |= buf_varint(b, i) | buf_string(b, names[i]);
  return rc;
}

static size_t pool_section_len(const pool *p) {
  return varint_len(p->count) + p->data.len;
}

/* Everything of the checkpoint up to and including the fixed pools; the
 * interned pools are copied after it straight into the chunk. */
static int checkpoint_head(const pyr_jfr *w, pyr_buf *b, uint64_t end_ticks,
                           size_t *cp_size) {
  uint8_t pad[5] = {0};
  size_t npools = 2;
  size_t size;
  int rc = 0;

  for (int k = 0; k < POOL_COUNT; k++)
    npools += w->pools[k].count > 0; /* the JDK rejects empty pools */
  rc |= pyr_buf_append(b, pad, sizeof pad);
  rc |= buf_varint(b, 1); /* record type: checkpoint */
  rc |= buf_varint(b, end_ticks);
  rc |= buf_varint(b, 0); /* duration */
  rc |= buf_varint(b, 0); /* delta to the previous checkpoint: none */
  rc |= pyr_buf_u8(b, 1); /* flags: FLUSH, as async-profiler writes */
  rc |= buf_varint(b, npools);
  rc |= fixed_pool(b, T_FRAME_TYPE, frame_type_names, 4);
  rc |= fixed_pool(b, T_THREAD_STATE, thread_state_names, 3);
  if (rc)
    return -1;
  size = b->len;
  for (int k = 0; k < POOL_COUNT; k++)
    if (w->pools[k].count)
      size += varint_len(pool_type[k]) + pool_section_len(&w->pools[k]);
  if (size > INT32_MAX)
    return -1;
  put_varint5(b->data, (uint32_t)size);
  *cp_size = size;
  return 0;
}

static int chunk_header(pyr_buf *b, const pyr_jfr *w, uint64_t end_ticks,
                        size_t total, size_t cp_off) {
  uint64_t start = w->cfg.start_ticks;
  uint64_t duration = end_ticks > start ? end_ticks - start : 0;
  int rc = 0;

  rc |= pyr_buf_be32(b, 0x464C5200u); /* "FLR\0" */
  rc |= pyr_buf_be16(b, 2);
  rc |= pyr_buf_be16(b, 0);
  rc |= pyr_buf_be64(b, total);
  rc |= pyr_buf_be64(b, cp_off);
  rc |= pyr_buf_be64(b, PYR_JFR_HEADER_SIZE); /* metadata offset */
  rc |= pyr_buf_be64(b, w->cfg.start_nanos);
  rc |= pyr_buf_be64(b, duration); /* ns, since 1 tick = 1 ns */
  rc |= pyr_buf_be64(b, start);
  rc |= pyr_buf_be64(b, PYR_JFR_TICKS_PER_SECOND);
  /* File state 0 (finished), pad, flags: compressed integers. */
  rc |= pyr_buf_be32(b, 1);
  return rc;
}

static int append_pools(pyr_buf *b, const pyr_jfr *w) {
  int rc = 0;

  for (int k = 0; k < POOL_COUNT; k++) {
    const pool *p = &w->pools[k];

    if (!p->count)
      continue;
    rc |= buf_varint(b, pool_type[k]) | buf_varint(b, p->count);
    rc |= pyr_buf_append(b, p->data.data, p->data.len);
  }
  return rc;
}

int pyr_jfr_finish(pyr_jfr *w, uint64_t end_ticks, uint8_t **out, size_t *len) {
  pyr_buf md, cp, chunk;
  size_t cp_size = 0, cp_off, total;
  int rc = -1;

  pyr_buf_init(&md, (size_t)1 << 20);
  pyr_buf_init(&cp, (size_t)1 << 20);
  pyr_buf_init(&chunk, 0);
  if (!w || !out || !len)
    goto out;
  *out = NULL;
  *len = 0;
  if (build_metadata(&md, w->cfg.start_ticks) < 0 ||
      checkpoint_head(w, &cp, end_ticks, &cp_size) < 0)
    goto out;
  cp_off = PYR_JFR_HEADER_SIZE + md.len + w->events.len;
  total = cp_off + cp_size;
  /* One exact allocation: the limit makes reserve allocate total bytes. */
  pyr_buf_init(&chunk, total);
  if (pyr_buf_reserve(&chunk, total) < 0)
    goto out;
  chunk_header(&chunk, w, end_ticks, total, cp_off);
  pyr_buf_append(&chunk, md.data, md.len);
  pyr_buf_append(&chunk, w->events.data, w->events.len);
  pyr_buf_append(&chunk, cp.data, cp.len);
  append_pools(&chunk, w);
  if (chunk.overflow || chunk.len != total)
    goto out;
  *out = chunk.data;
  *len = total;
  chunk.data = NULL;
  rc = 0;
out:
  pyr_buf_free(&md);
  pyr_buf_free(&cp);
  pyr_buf_free(&chunk);
  return rc;
}

/* ------------------------------------------------------------------------
 * Lifetime.
 * ---------------------------------------------------------------------- */

pyr_jfr *pyr_jfr_new(const pyr_jfr_config *cfg) {
  pyr_jfr *w;

  if (!cfg)
    return NULL;
  w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->cfg = *cfg;
  if (w->cfg.max_bytes > PYR_JFR_BUDGET_CAP)
    w->cfg.max_bytes = PYR_JFR_BUDGET_CAP;
  /* Limits are set per append by charged_reserve(). */
  pyr_buf_init(&w->scratch, 0);
  pyr_buf_init(&w->events, 0);
  for (int k = 0; k < POOL_COUNT; k++)
    pyr_buf_init(&w->pools[k].data, 0);
  return w;
}

void pyr_jfr_free(pyr_jfr *w) {
  if (!w)
    return;
  pyr_buf_free(&w->scratch);
  pyr_buf_free(&w->events);
  for (int k = 0; k < POOL_COUNT; k++) {
    pyr_buf_free(&w->pools[k].data);
    free(w->pools[k].slots);
  }
  free(w);
}
