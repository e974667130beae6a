/*
 * jfr_parse.c - streaming, metadata-driven JFR 2.x reader (see jfr_parse.h).
 *
 * What: for each chunk of an in-memory recording
 *   1. the 68-byte header (magic, version 2.x, size, offsets);
 *   2. the metadata event at the header's offset: string table, then the
 *      element tree, of which only root/metadata/class/field matter.  Each
 *      field's type is resolved to a class; each class learns what it is
 *      (primitive kind, empty struct, bound pool type, bound event kind) and
 *      which of its fields are bound to a "slot" BY NAME (type ids, keys
 *      and field order differ between producers and JDK versions); then
 *      each class is compiled into a list of decoding steps (struct op),
 *      one per field that encodes to at least one byte;
 *   3. every checkpoint, walking the delta chain from the header's
 *      (last) checkpoint back to the first, parsing them in file order.
 *      Pools of the bound classes (String, Symbol, Class, Method,
 *      StackTrace, ThreadState) are stored in per-type key -> entry hash
 *      maps; every other pool is decoded generically and dropped;
 *   4. the events, in file order: the record size and type id, then, for
 *      the bound event classes only, the fields up to the last bound one;
 *      everything is skipped by size.
 *
 * Threads: one parse = one heap-allocated pyr_jfrp; no globals, so
 * parses may run concurrently.
 *
 * Invariants:
 *  - every read goes through a cursor that knows its end; nothing is read
 *    past a record's declared size or the chunk's end;
 *  - every count is checked against the bytes left before it is used, and
 *    values of "empty" classes (structs that encode to zero bytes) are never
 *    iterated, so the work per input byte is bounded by the nesting limit;
 *  - heap use goes through jalloc/jrealloc, which account every byte
 *    against limits.max_alloc;
 *  - hash maps over input keys are keyed with a per-parse random seed;
 *  - pool references are resolved one level at a time (a frame's method, a
 *    method's class, a class's name) and String-pool indirections (string
 *    encoding 2) are followed at most STR_REF_HOPS times (a cycle is an
 *    error), so reference cycles cannot loop.
 */
#include "utf8.h"
#include "jfr_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile.h" /* pyr_prof_hash_seed */

#define CHUNK_HEADER_SIZE 68
#define FRAME_UNRESOLVED (PYR_JFRP_NO_METHOD - 1)
#define STR_REF_HOPS 4
#define ERR_MAX 384

const pyr_jfrp_limits pyr_jfrp_default_limits = {
    .max_input = 256u << 20,
    .max_chunks = 1u << 16,
    .max_metadata = 32u << 20,
    .max_classes = 1u << 16,
    .max_fields = 1u << 20,
    .max_pool_entries = 32u << 20,
    .max_depth = 32,
    .max_alloc = (size_t)1 << 30,
};

/* ------------------------------------------------------------------ types */

/* How a class's value is encoded when it is not a constant-pool ref. */
enum prim {
  PRIM_STRUCT = 0, /* its fields, in order */
  PRIM_BYTE,       /* boolean, byte: 1 raw byte */
  PRIM_VARINT,     /* short, char, int, long: compressed integer */
  PRIM_FLOAT,      /* 4 raw bytes */
  PRIM_DOUBLE,     /* 8 raw bytes */
  PRIM_STRING,     /* encoding byte + payload */
};

/* Integer width of a PRIM_VARINT/PRIM_BYTE class, for truncation. */
enum width { W_NONE = 0, W8, W16, W32, W64 };

/* The classes whose pool entries we keep. */
enum pool_kind {
  POOL_NONE = 0,
  POOL_STRING, /* java.lang.String */
  POOL_SYMBOL, /* jdk.types.Symbol */
  POOL_CLASS,  /* java.lang.Class */
  POOL_METHOD, /* jdk.types.Method */
  POOL_STACK,  /* jdk.types.StackTrace */
  POOL_TSTATE, /* jdk.types.ThreadState */
  POOL_NKINDS
};

/* Where a bound field's value goes.  Slots 1..SL_EV_FIRST-1 are pool
 * fields, the rest event fields; SL_FRAME_* bind jdk.types.StackFrame. */
enum slot {
  SL_NONE = 0,
  SL_SYM_STRING,
  SL_CLASS_NAME,
  SL_METHOD_TYPE,
  SL_METHOD_NAME,
  SL_STACK_TRUNCATED,
  SL_STACK_FRAMES,
  SL_FRAME_METHOD,
  SL_FRAME_LINE,
  SL_TSTATE_NAME,
  SL_EV_FIRST,
  SL_EV_STACK = SL_EV_FIRST,
  SL_EV_STATE,
  SL_EV_CONTEXT,
  SL_EV_SPAN_ID,
  SL_EV_SPAN_NAME,
  SL_EV_SAMPLES,
  SL_EV_TLAB,
  SL_EV_ALLOC_SIZE,
  SL_EV_WEIGHT,
  SL_EV_DURATION,
  SL_EV_SIZE,
  SL_EV_NAME,
  SL_EV_VALUE,
  SL_COUNT
};

/* Bit for slot s in vals.has; a bound value, or 0 (Go's zero value, which
 * is what jfr-parser sees) when the class lacks the field. */
#define SLOT_BIT(s) (1u << (s))
#define VAL_OR_0(v, s) (((v)->has & SLOT_BIT(s)) ? (v)->u[s] : 0)
_Static_assert(SL_COUNT <= 32, "slots must fit in vals.has");

/* The shape a bound field must have; otherwise it is left unbound. */
enum shape { SH_CP, SH_INT, SH_BOOL, SH_STRING, SH_FRAMES };

struct binding {
  const char *field;
  enum slot slot;
  enum shape shape;
};

/* A stored string: a slice of the input (UTF-8), of the arena (converted
 * from UTF-16 or Latin-1), null, or a still unresolved String-pool ref. */
enum sref_state { SREF_NULL = 0, SREF_VALUE, SREF_POOLREF };
struct sref {
  const char *s;
  uint32_t len;
  uint8_t state;
  uint64_t ref;
};

struct jfield {
  struct sref name;
  uint64_t type_id; /* as written; resolved into type */
  uint32_t type;    /* class index */
  uint8_t cp, array;
  uint8_t slot; /* enum slot */
};

/* A compiled step of decoding a class's value: one per field that
 * encodes to at least one byte (empty inline structs have no step). */
enum op_kind {
  OP_VARINT, /* cp reference, or short/char/int/long */
  OP_BYTE,   /* boolean, byte */
  OP_FLOAT,
  OP_DOUBLE,
  OP_STRING,
  OP_STRUCT, /* inline struct */
  OP_ARRAY,  /* any array: decoded generically */
  OP_FRAMES, /* StackTrace.frames, bound */
};
struct op {
  uint8_t kind;  /* enum op_kind */
  uint8_t slot;  /* enum slot, SL_NONE if unbound */
  uint8_t width; /* enum width of a bound OP_VARINT */
  uint32_t type; /* class index */
  uint32_t field; /* field index, for messages and arrays */
};

struct jclass {
  struct sref name;
  uint64_t id;
  uint32_t first_field, nfields; /* into fields[] (declaration order) */
  uint32_t first_ne, nne;        /* into ops[]: the non-empty fields */
  uint32_t nbound_prefix;        /* events: fields (of ne) to decode */
  uint8_t prim;                  /* enum prim */
  uint8_t width;                 /* enum width */
  uint8_t empty;                 /* encodes to zero bytes */
  uint8_t visit;                 /* DFS colour while computing empty */
  uint8_t pool;                  /* enum pool_kind */
  int8_t ev_kind;                /* pyr_jfrp_kind or -1 */
  uint8_t is_frame;              /* jdk.types.StackFrame */
  uint8_t all_varint;            /* every non-empty field is OP_VARINT */
};

/* u64 key -> u32 value, open addressing; vals[i] == 0 marks empty.  Keys
 * come from the input, so the hash is keyed with a per-parse random seed:
 * crafted keys cannot pile up in one probe chain. */
struct u64map {
  uint64_t *keys;
  uint32_t *vals; /* value + 1 */
  size_t cap, n;
  uint64_t seed;
};

struct vec {
  void *data;
  size_t n, cap;
};

struct e_str { /* String and Symbol pools, ThreadState */
  struct sref s;
  struct sref norm; /* Symbol: Pyroscope-normalised, once computed */
  uint8_t norm_done;
};
struct e_class {
  uint64_t name; /* Symbol key; 0 if the field is absent */
};
struct e_method {
  uint64_t type, name; /* Class and Symbol keys; 0 if absent */
  uint8_t frame_state; /* 0 not built, 1 built, 2 unresolvable */
  struct sref frame;   /* "<class>.<method>" once built */
};
struct e_stack {
  size_t off;
  uint32_t n;
  uint8_t truncated;
};

struct pool {
  struct u64map idx;
  struct vec entries;
  size_t esize;
};

struct arena_block {
  struct arena_block *next;
  size_t used, cap;
  size_t bytes; /* accounted size */
  char data[];
};

/* The values of one struct being decoded with bindings. */
struct vals {
  uint32_t has; /* bit per slot - SL_EV_FIRST or per pool slot */
  uint64_t u[SL_COUNT];
  struct sref s[SL_COUNT];
};

struct cur {
  const uint8_t *p, *end;
};

struct pyr_jfrp {
  pyr_jfrp_limits lim;
  bool limit_hit;     /* the error is a limit, not malformed input */
  bool field_wrapped; /* the message names the innermost field already */
  uint64_t seed;      /* hash key for the u64maps */
  size_t alloc;
  char err[ERR_MAX];
  const uint8_t *buf;
  size_t len;

  /* current chunk */
  size_t chunk_index;
  const uint8_t *chunk;
  size_t chunk_size;

  struct arena_block *arena;

  struct vec classes; /* struct jclass */
  struct vec fields;  /* struct jfield */
  struct vec ops;     /* struct op, per class (see jclass.first_ne) */
  struct u64map class_by_id;
  uint64_t last_type_id;
  uint32_t last_class; /* one-entry cache for the event loop */
  uint32_t frame_class;

  struct pool pools[POOL_NKINDS];
  struct vec frames; /* pyr_jfrp_frame */
  size_t pool_entries;

  /* event strings (name, value) are converted into these, per event */
  char *scratch[2];
  size_t scratch_cap[2];
  /* normalise buffer */
  char *normbuf;
  size_t normbuf_cap;
};

/* ----------------------------------------------------------------- errors */

int pyr_jfrp_fail(pyr_jfrp *p, const char *fmt, ...) {
  if (p->err[0] != '\0')
    return -1; /* keep the innermost (first) message */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, sizeof(p->err), fmt, ap);
  va_end(ap);
  return -1;
}

/* Prefixes the current message with context ("in pool X: ..."). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int wrap(pyr_jfrp *p, const char *fmt, ...) {
  char pre[ERR_MAX], old[ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof(pre), fmt, ap);
  va_end(ap);
  snprintf(old, sizeof(old), "%s", p->err[0] ? p->err : "error");
  snprintf(p->err, sizeof(p->err), "%.150s: %.220s", pre, old);
  return -1;
}

static size_t off_in_chunk(const pyr_jfrp *p, const uint8_t *at) {
  return (size_t)(at - p->chunk);
}

/* ----------------------------------------------------------------- memory */

/* Fails with a limit error (PYR_JFRP_ELIMIT). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int limit_fail(pyr_jfrp *p, const char *fmt, ...) {
  if (p->err[0] != '\0')
    return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, sizeof(p->err), fmt, ap);
  va_end(ap);
  p->limit_hit = true;
  return -1;
}

static void *jalloc(pyr_jfrp *p, size_t n) {
  if (n > p->lim.max_alloc - p->alloc || n > p->lim.max_alloc) {
    limit_fail(p, "memory limit of %zu bytes exceeded", p->lim.max_alloc);
    return NULL;
  }
  void *m = malloc(n ? n : 1);
  if (m == NULL) {
    limit_fail(p, "out of memory (%zu bytes)", n);
    return NULL;
  }
  p->alloc += n;
  return m;
}

static void *jrealloc(pyr_jfrp *p, void *old, size_t oldn, size_t n) {
  if (n > oldn && (n - oldn > p->lim.max_alloc - p->alloc || n > p->lim.max_alloc)) {
    limit_fail(p, "memory limit of %zu bytes exceeded", p->lim.max_alloc);
    return NULL;
  }
  void *m = realloc(old, n ? n : 1);
  if (m == NULL) {
    limit_fail(p, "out of memory (%zu bytes)", n);
    return NULL;
  }
  p->alloc = p->alloc - oldn + n;
  return m;
}

static void jfree(pyr_jfrp *p, void *m, size_t n) {
  if (m == NULL)
    return;
  free(m);
  p->alloc -= n;
}

/* Makes room for `more` elements of size esz. */
static int vec_reserve(pyr_jfrp *p, struct vec *v, size_t esz, size_t more) {
  if (more <= v->cap - v->n)
    return 0;
  size_t need = v->n + more;
  if (need < v->n || need > SIZE_MAX / 2 / esz)
    return pyr_jfrp_fail(p, "table too large");
  size_t ncap = v->cap ? v->cap : 16;
  while (ncap < need)
    ncap *= 2;
  void *d = jrealloc(p, v->data, v->cap * esz, ncap * esz);
  if (d == NULL)
    return -1;
  v->data = d;
  v->cap = ncap;
  return 0;
}

static void vec_free(pyr_jfrp *p, struct vec *v, size_t esz) {
  jfree(p, v->data, v->cap * esz);
  memset(v, 0, sizeof(*v));
}

static void *arena_alloc(pyr_jfrp *p, size_t n) {
  struct arena_block *b = p->arena;
  if (b == NULL || b->cap - b->used < n) {
    size_t cap = n > 60000 ? n : 60000;
    size_t bytes = sizeof(*b) + cap;
    b = jalloc(p, bytes);
    if (b == NULL)
      return NULL;
    b->next = p->arena;
    b->used = 0;
    b->cap = cap;
    b->bytes = bytes;
    p->arena = b;
  }
  void *m = b->data + b->used;
  b->used += n;
  return m;
}

static void arena_free(pyr_jfrp *p) {
  while (p->arena) {
    struct arena_block *n = p->arena->next;
    jfree(p, p->arena, p->arena->bytes);
    p->arena = n;
  }
}

/* ------------------------------------------------------------------ u64map */

static uint64_t hash64(uint64_t k, uint64_t seed) {
  k ^= seed;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return k;
}

static bool map_get(const struct u64map *m, uint64_t key, uint32_t *val) {
  if (m->cap == 0)
    return false;
  size_t mask = m->cap - 1;
  for (size_t i = hash64(key, m->seed) & mask;; i = (i + 1) & mask) {
    if (m->vals[i] == 0)
      return false;
    if (m->keys[i] == key) {
      *val = m->vals[i] - 1;
      return true;
    }
  }
}

/* Makes room for `more` new keys (load <= 1/2) in one rehash. */
static int map_reserve(pyr_jfrp *p, struct u64map *m, size_t more) {
  if ((m->n + more) * 2 <= m->cap)
    return 0;
  size_t ncap = m->cap ? m->cap : 64;
  while ((m->n + more) * 2 > ncap) {
    if (ncap > SIZE_MAX / 4 / sizeof(uint64_t))
      return limit_fail(p, "hash table too large");
    ncap *= 2;
  }
  uint64_t *keys = jalloc(p, ncap * sizeof(*keys));
  uint32_t *vals = keys ? jalloc(p, ncap * sizeof(*vals)) : NULL;
  if (vals == NULL) {
    jfree(p, keys, keys ? ncap * sizeof(*keys) : 0);
    return -1;
  }
  memset(vals, 0, ncap * sizeof(*vals));
  size_t mask = ncap - 1;
  for (size_t i = 0; i < m->cap; i++) {
    if (m->vals[i] == 0)
      continue;
    size_t j = hash64(m->keys[i], p->seed) & mask;
    while (vals[j] != 0)
      j = (j + 1) & mask;
    keys[j] = m->keys[i];
    vals[j] = m->vals[i];
  }
  jfree(p, m->keys, m->cap * sizeof(*m->keys));
  jfree(p, m->vals, m->cap * sizeof(*m->vals));
  m->keys = keys;
  m->vals = vals;
  m->cap = ncap;
  m->seed = p->seed;
  return 0;
}

/* Inserts or overwrites. */
static int map_put(pyr_jfrp *p, struct u64map *m, uint64_t key, uint32_t val) {
  if ((m->n + 1) * 2 > m->cap && map_reserve(p, m, 1) != 0)
    return -1;
  size_t mask = m->cap - 1;
  size_t i = hash64(key, m->seed) & mask;
  while (m->vals[i] != 0) {
    if (m->keys[i] == key) {
      m->vals[i] = val + 1;
      return 0;
    }
    i = (i + 1) & mask;
  }
  m->keys[i] = key;
  m->vals[i] = val + 1;
  m->n++;
  return 0;
}

static void map_free(pyr_jfrp *p, struct u64map *m) {
  jfree(p, m->keys, m->cap * sizeof(*m->keys));
  jfree(p, m->vals, m->cap * sizeof(*m->vals));
  memset(m, 0, sizeof(*m));
}

/* ---------------------------------------------------------------- reading */

static int truncated(pyr_jfrp *p, const char *what) {
  return pyr_jfrp_fail(p, "truncated %s", what);
}

/* Compressed integer: 7 bits per byte, little-endian groups, high bit =
 * more; the 9th byte carries 8 full bits. */
static inline int rd_varint(pyr_jfrp *p, struct cur *c, uint64_t *out) {
  const uint8_t *s = c->p;
  uint64_t v = 0;
  /* One byte (values < 128) is the common case: line numbers, frame
   * types, small keys. */
  if (s < c->end && *s < 0x80) {
    c->p = s + 1;
    *out = *s;
    return 0;
  }
  *out = 0;
  if (c->end - s >= 9) {
    for (int i = 0; i < 8; i++) {
      uint8_t b = s[i];
      v |= (uint64_t)(b & 0x7f) << (7 * i);
      if (b < 0x80) {
        c->p = s + i + 1;
        *out = v;
        return 0;
      }
    }
    v |= (uint64_t)s[8] << 56;
    c->p = s + 9;
    *out = v;
    return 0;
  }
  for (int i = 0; i < 9; i++) {
    if (s + i >= c->end)
      return truncated(p, "compressed integer");
    uint8_t b = s[i];
    if (i == 8) {
      v |= (uint64_t)b << 56;
      c->p = s + 9;
      *out = v;
      return 0;
    }
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if (b < 0x80) {
      c->p = s + i + 1;
      *out = v;
      return 0;
    }
  }
  return truncated(p, "compressed integer"); /* not reached */
}

static int rd_u8(pyr_jfrp *p, struct cur *c, uint8_t *out) {
  *out = 0;
  if (c->p >= c->end)
    return truncated(p, "byte");
  *out = *c->p++;
  return 0;
}

static int skip_bytes(pyr_jfrp *p, struct cur *c, uint64_t n, const char *what) {
  if (n > (uint64_t)(c->end - c->p))
    return truncated(p, what);
  c->p += n;
  return 0;
}

/* A count of elements that each take at least one byte. */
static int rd_count(pyr_jfrp *p, struct cur *c, uint64_t *n, const char *what) {
  if (rd_varint(p, c, n) != 0)
    return -1;
  if (*n > (uint64_t)(c->end - c->p))
    return pyr_jfrp_fail(p, "%s count %llu exceeds the %zu bytes left", what,
                         (unsigned long long)*n, (size_t)(c->end - c->p));
  return 0;
}

static uint64_t be64(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | b[i];
  return v;
}

/* Encoding 4: n UTF-16 code units, each a compressed integer, into out
 * (room for 3 bytes per unit).  Unpaired surrogates become U+FFFD, as in a
 * Java or Go conversion. */
static int rd_utf16(pyr_jfrp *p, struct cur *c, uint64_t n, char *out, size_t *outlen) {
  size_t o = 0;
  uint32_t pending = 0; /* a high surrogate waiting for its pair */
  for (uint64_t i = 0; i < n; i++) {
    uint64_t v;
    if (rd_varint(p, c, &v) != 0)
      return -1;
    uint32_t u = (uint32_t)(v & 0xffff);
    if (pending) {
      if (u >= 0xdc00 && u <= 0xdfff) {
        o += pyr_utf8_put(out + o, 0x10000 + ((pending - 0xd800) << 10) + (u - 0xdc00));
        pending = 0;
        continue;
      }
      o += pyr_utf8_put(out + o, 0xfffd);
      pending = 0;
    }
    if (u >= 0xd800 && u <= 0xdbff)
      pending = u;
    else if (u >= 0xdc00 && u <= 0xdfff)
      o += pyr_utf8_put(out + o, 0xfffd);
    else
      o += pyr_utf8_put(out + o, u);
  }
  if (pending)
    o += pyr_utf8_put(out + o, 0xfffd);
  *outlen = o;
  return 0;
}

/* Reads a string value.  UTF-8 stays in the input; UTF-16 and Latin-1 are
 * converted into memory from alloc_fn (arena or an event scratch). */
typedef char *(*str_alloc_fn)(pyr_jfrp *p, size_t n, int which);

static char *arena_str_alloc(pyr_jfrp *p, size_t n, int which) {
  (void)which;
  return arena_alloc(p, n);
}

static char *scratch_str_alloc(pyr_jfrp *p, size_t n, int which) {
  if (p->scratch_cap[which] < n) {
    size_t ncap = n < 256 ? 256 : n;
    char *m = jrealloc(p, p->scratch[which], p->scratch_cap[which], ncap);
    if (m == NULL)
      return NULL;
    p->scratch[which] = m;
    p->scratch_cap[which] = ncap;
  }
  return p->scratch[which];
}

static int rd_string(pyr_jfrp *p, struct cur *c, struct sref *out, str_alloc_fn af,
                     int which) {
  uint8_t enc;
  uint64_t n;
  if (rd_u8(p, c, &enc) != 0)
    return -1;
  memset(out, 0, sizeof(*out));
  switch (enc) {
  case 0:
    return 0;
  case 1:
    out->state = SREF_VALUE;
    out->s = "";
    return 0;
  case 2:
    if (rd_varint(p, c, &n) != 0)
      return -1;
    out->state = SREF_POOLREF;
    out->ref = n;
    return 0;
  case 3:
  case 5:
    if (rd_varint(p, c, &n) != 0)
      return -1;
    if (n > (uint64_t)(c->end - c->p))
      return pyr_jfrp_fail(p, "string length %llu exceeds the %zu bytes left",
                           (unsigned long long)n, (size_t)(c->end - c->p));
    if (n > UINT32_MAX)
      return pyr_jfrp_fail(p, "string too long");
    out->state = SREF_VALUE;
    out->s = ""; /* a value never has a NULL pointer, even when empty */
    if (n > 0 && enc == 3) {
      out->s = (const char *)c->p;
      out->len = (uint32_t)n;
    } else if (n > 0) {
      char *m = af(p, 2 * n, which);
      if (m == NULL)
        return -1;
      size_t o = 0;
      for (uint64_t i = 0; i < n; i++)
        o += pyr_utf8_put(m + o, c->p[i]);
      if (o > UINT32_MAX)
        return pyr_jfrp_fail(p, "string too long");
      out->s = m;
      out->len = (uint32_t)o;
    }
    c->p += n;
    return 0;
  case 4: {
    if (rd_count(p, c, &n, "UTF-16 string") != 0)
      return -1;
    if (n > UINT32_MAX / 3)
      return pyr_jfrp_fail(p, "string too long");
    if (n == 0) {
      out->state = SREF_VALUE;
      out->s = "";
      return 0;
    }
    char *m = af(p, 3 * n, which);
    if (m == NULL)
      return -1;
    size_t o;
    if (rd_utf16(p, c, n, m, &o) != 0)
      return -1;
    out->state = SREF_VALUE;
    out->s = m;
    out->len = (uint32_t)o;
    return 0;
  }
  default:
    return pyr_jfrp_fail(p, "unknown string encoding %u", enc);
  }
}

static int skip_string(pyr_jfrp *p, struct cur *c) {
  uint8_t enc;
  uint64_t n;
  if (rd_u8(p, c, &enc) != 0)
    return -1;
  switch (enc) {
  case 0:
  case 1:
    return 0;
  case 2:
    return rd_varint(p, c, &n);
  case 3:
  case 5:
    if (rd_varint(p, c, &n) != 0)
      return -1;
    return skip_bytes(p, c, n, "string");
  case 4: {
    uint64_t unit;
    if (rd_count(p, c, &n, "UTF-16 string") != 0)
      return -1;
    for (uint64_t i = 0; i < n; i++)
      if (rd_varint(p, c, &unit) != 0)
        return -1;
    return 0;
  }
  default:
    return pyr_jfrp_fail(p, "unknown string encoding %u", enc);
  }
}

/* ------------------------------------------------------------ class model */

static struct jclass *cls_at(pyr_jfrp *p, uint32_t i) {
  return (struct jclass *)p->classes.data + i;
}
static struct jfield *fld_at(pyr_jfrp *p, uint32_t i) {
  return (struct jfield *)p->fields.data + i;
}
static const struct op *op_at(pyr_jfrp *p, uint32_t i) { return (struct op *)p->ops.data + i; }

static bool sref_eq(const struct sref *s, const char *lit) {
  if (s->state != SREF_VALUE)
    return false;
  if (s->len == 0 || s->s[0] != lit[0]) /* cheap rejection first */
    return s->len == 0 && lit[0] == '\0';
  size_t n = strlen(lit);
  return s->len == n && memcmp(s->s, lit, n) == 0;
}

static const char *sref_print(const struct sref *s, char *buf, size_t len) {
  if (s->state != SREF_VALUE)
    return "(null)";
  snprintf(buf, len, "%.*s", (int)(s->len > 80 ? 80 : s->len), s->s);
  return buf;
}

struct prim_name {
  const char *name;
  enum prim prim;
  enum width width;
};
static const struct prim_name prim_names[] = {
    {"boolean", PRIM_BYTE, W8}, {"byte", PRIM_BYTE, W8},   {"char", PRIM_VARINT, W16},
    {"short", PRIM_VARINT, W16}, {"int", PRIM_VARINT, W32}, {"long", PRIM_VARINT, W64},
    {"float", PRIM_FLOAT, W_NONE}, {"double", PRIM_DOUBLE, W_NONE},
    {"java.lang.String", PRIM_STRING, W_NONE},
};

struct pool_name {
  const char *name;
  enum pool_kind kind;
};
static const struct pool_name pool_names[] = {
    {"java.lang.String", POOL_STRING}, {"jdk.types.Symbol", POOL_SYMBOL},
    {"java.lang.Class", POOL_CLASS},   {"jdk.types.Method", POOL_METHOD},
    {"jdk.types.StackTrace", POOL_STACK}, {"jdk.types.ThreadState", POOL_TSTATE},
};

static const char *const event_names[PYR_JFRP_NKINDS] = {
    [PYR_JFRP_EXECUTION_SAMPLE] = "jdk.ExecutionSample",
    [PYR_JFRP_WALL_CLOCK_SAMPLE] = "profiler.WallClockSample",
    [PYR_JFRP_ALLOC_IN_NEW_TLAB] = "jdk.ObjectAllocationInNewTLAB",
    [PYR_JFRP_ALLOC_OUTSIDE_TLAB] = "jdk.ObjectAllocationOutsideTLAB",
    [PYR_JFRP_ALLOC_SAMPLE] = "jdk.ObjectAllocationSample",
    [PYR_JFRP_MONITOR_ENTER] = "jdk.JavaMonitorEnter",
    [PYR_JFRP_THREAD_PARK] = "jdk.ThreadPark",
    [PYR_JFRP_LIVE_OBJECT] = "profiler.LiveObject",
    [PYR_JFRP_MALLOC] = "profiler.Malloc",
    [PYR_JFRP_ACTIVE_SETTING] = "jdk.ActiveSetting",
};

static const struct binding pool_bindings[POOL_NKINDS][3] = {
    [POOL_SYMBOL] = {{"string", SL_SYM_STRING, SH_STRING}},
    [POOL_CLASS] = {{"name", SL_CLASS_NAME, SH_CP}},
    [POOL_METHOD] = {{"type", SL_METHOD_TYPE, SH_CP}, {"name", SL_METHOD_NAME, SH_CP}},
    [POOL_STACK] = {{"truncated", SL_STACK_TRUNCATED, SH_BOOL},
                    {"frames", SL_STACK_FRAMES, SH_FRAMES}},
    [POOL_TSTATE] = {{"name", SL_TSTATE_NAME, SH_STRING}},
};
static const struct binding frame_bindings[] = {
    {"method", SL_FRAME_METHOD, SH_CP},
    {"lineNumber", SL_FRAME_LINE, SH_INT},
    {NULL, SL_NONE, SH_CP},
};
/* Sample events: every field Pyroscope reads from any of them, bound by
 * name wherever present (the converter decides what to use). */
static const struct binding sample_bindings[] = {
    {"stackTrace", SL_EV_STACK, SH_CP},      {"state", SL_EV_STATE, SH_CP},
    {"contextId", SL_EV_CONTEXT, SH_INT},    {"spanId", SL_EV_SPAN_ID, SH_INT},
    {"spanName", SL_EV_SPAN_NAME, SH_INT},   {"samples", SL_EV_SAMPLES, SH_INT},
    {"tlabSize", SL_EV_TLAB, SH_INT},        {"allocationSize", SL_EV_ALLOC_SIZE, SH_INT},
    {"weight", SL_EV_WEIGHT, SH_INT},        {"duration", SL_EV_DURATION, SH_INT},
    {"size", SL_EV_SIZE, SH_INT},            {NULL, SL_NONE, SH_CP},
};
static const struct binding setting_bindings[] = {
    {"name", SL_EV_NAME, SH_STRING},
    {"value", SL_EV_VALUE, SH_STRING},
    {NULL, SL_NONE, SH_CP},
};

/* Does field f have the shape a binding needs? */
static bool shape_ok(pyr_jfrp *p, const struct jfield *f, enum shape sh) {
  const struct jclass *t = cls_at(p, f->type);
  switch (sh) {
  case SH_CP:
    return f->cp && !f->array;
  case SH_INT:
    return !f->cp && !f->array && (t->prim == PRIM_VARINT || t->prim == PRIM_BYTE);
  case SH_BOOL:
    return !f->cp && !f->array && t->prim == PRIM_BYTE;
  case SH_STRING:
    return !f->cp && !f->array && t->prim == PRIM_STRING;
  case SH_FRAMES:
    return !f->cp && f->array && t->is_frame;
  }
  return false;
}

static void bind_fields(pyr_jfrp *p, struct jclass *c, const struct binding *b, size_t nb) {
  for (uint32_t i = 0; i < c->nfields; i++) {
    struct jfield *f = fld_at(p, c->first_field + i);
    for (size_t j = 0; j < nb && b[j].field; j++) {
      if (sref_eq(&f->name, b[j].field) && shape_ok(p, f, b[j].shape)) {
        f->slot = (uint8_t)b[j].slot;
        break;
      }
    }
  }
}

/* Marks classes that encode to zero bytes (structs whose fields are all
 * inline empty structs).  Inline cycles are left non-empty; reading one
 * then hits the depth limit. */
static bool compute_empty(pyr_jfrp *p, uint32_t ci, size_t depth) {
  struct jclass *c = cls_at(p, ci);
  if (c->visit == 2)
    return c->empty;
  if (c->visit == 1 || depth > 64)
    return false; /* cycle (or absurd depth): treat as non-empty */
  c->visit = 1;
  bool empty = c->prim == PRIM_STRUCT;
  for (uint32_t i = 0; empty && i < c->nfields; i++) {
    struct jfield *f = fld_at(p, c->first_field + i);
    if (f->cp || f->array || !compute_empty(p, f->type, depth + 1))
      empty = false;
  }
  c = cls_at(p, ci);
  c->empty = empty;
  c->visit = 2;
  return empty;
}

/* After the metadata: resolve field types, classify classes, bind. */
static int finish_metadata(pyr_jfrp *p) {
  char b1[96], b2[96];
  size_t nc = p->classes.n;
  p->frame_class = UINT32_MAX;
  for (size_t i = 0; i < nc; i++) {
    struct jclass *c = cls_at(p, (uint32_t)i);
    c->ev_kind = -1;
    for (size_t k = 0; k < sizeof(prim_names) / sizeof(prim_names[0]); k++)
      if (sref_eq(&c->name, prim_names[k].name)) {
        c->prim = (uint8_t)prim_names[k].prim;
        c->width = (uint8_t)prim_names[k].width;
      }
    for (size_t k = 0; k < sizeof(pool_names) / sizeof(pool_names[0]); k++)
      if (sref_eq(&c->name, pool_names[k].name))
        c->pool = (uint8_t)pool_names[k].kind;
    for (int k = 0; k < PYR_JFRP_NKINDS; k++)
      if (sref_eq(&c->name, event_names[k]))
        c->ev_kind = (int8_t)k;
    if (sref_eq(&c->name, "jdk.types.StackFrame"))
      c->is_frame = 1;
    for (uint32_t j = 0; j < c->nfields; j++) {
      struct jfield *f = fld_at(p, c->first_field + j);
      uint32_t t;
      if (!map_get(&p->class_by_id, f->type_id, &t))
        return pyr_jfrp_fail(p, "metadata: field '%s' of class '%s' has undeclared type id %llu",
                             sref_print(&f->name, b1, sizeof(b1)),
                             sref_print(&c->name, b2, sizeof(b2)),
                             (unsigned long long)f->type_id);
      f->type = t;
    }
  }
  for (size_t i = 0; i < nc; i++)
    compute_empty(p, (uint32_t)i, 0);
  /* Non-empty field lists and bindings. */
  for (size_t i = 0; i < nc; i++) {
    struct jclass *c = cls_at(p, (uint32_t)i);
    if (c->pool != POOL_NONE && c->pool != POOL_STRING)
      bind_fields(p, c, pool_bindings[c->pool], 3);
    else if (c->is_frame)
      bind_fields(p, c, frame_bindings, 3);
    else if (c->ev_kind == PYR_JFRP_ACTIVE_SETTING)
      bind_fields(p, c, setting_bindings, 3);
    else if (c->ev_kind >= 0)
      bind_fields(p, c, sample_bindings, sizeof(sample_bindings) / sizeof(sample_bindings[0]));
    if (vec_reserve(p, &p->ops, sizeof(struct op), c->nfields) != 0)
      return -1;
    c = cls_at(p, (uint32_t)i);
    c->first_ne = (uint32_t)p->ops.n;
    c->nne = 0;
    c->nbound_prefix = 0;
    for (uint32_t j = 0; j < c->nfields; j++) {
      struct jfield *f = fld_at(p, c->first_field + j);
      const struct jclass *t = cls_at(p, f->type);
      if (!f->cp && !f->array && t->empty)
        continue;
      struct op *o = (struct op *)p->ops.data + p->ops.n++;
      o->slot = f->slot;
      o->type = f->type;
      o->field = c->first_field + j;
      o->width = f->cp ? W64 : t->width;
      if (f->array)
        o->kind = f->slot == SL_STACK_FRAMES ? OP_FRAMES : OP_ARRAY;
      else if (f->cp || t->prim == PRIM_VARINT)
        o->kind = OP_VARINT;
      else if (t->prim == PRIM_BYTE)
        o->kind = OP_BYTE;
      else if (t->prim == PRIM_FLOAT)
        o->kind = OP_FLOAT;
      else if (t->prim == PRIM_DOUBLE)
        o->kind = OP_DOUBLE;
      else if (t->prim == PRIM_STRING)
        o->kind = OP_STRING;
      else
        o->kind = OP_STRUCT;
      c->nne++;
      if (f->slot != SL_NONE)
        c->nbound_prefix = c->nne;
    }
    c->all_varint = 1;
    for (uint32_t j = 0; j < c->nne; j++)
      if (op_at(p, c->first_ne + j)->kind != OP_VARINT)
        c->all_varint = 0;
  }
  return 0;
}

/* ----------------------------------------------------------- metadata */

enum el_ctx { EL_IGNORE, EL_ROOT, EL_META, EL_CLASS, EL_FIELD };

struct md {
  struct sref *strs;
  uint64_t nstrs;
  int32_t cur_class; /* index of the class being read, -1 none */
};

enum attr_id { A_NAME, A_ID, A_CLASS, A_CP, A_DIM, A_COUNT };
static const char *const attr_names[A_COUNT] = {"name", "id", "class", "constantPool",
                                                "dimension"};

static int md_str(pyr_jfrp *p, struct md *m, struct cur *c, uint64_t *idx) {
  if (rd_varint(p, c, idx) != 0)
    return -1;
  if (*idx >= m->nstrs)
    return pyr_jfrp_fail(p, "metadata: string index %llu out of range (table has %llu)",
                         (unsigned long long)*idx, (unsigned long long)m->nstrs);
  return 0;
}

static int parse_u64(const struct sref *s, uint64_t *out) {
  if (s->state != SREF_VALUE || s->len == 0 || s->len > 20)
    return -1;
  uint64_t v = 0;
  for (uint32_t i = 0; i < s->len; i++) {
    char ch = s->s[i];
    if (ch < '0' || ch > '9')
      return -1;
    uint64_t d = (uint64_t)(ch - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

static int md_add_class(pyr_jfrp *p, struct md *m, const struct sref *name,
                        const struct sref *id) {
  char b[96];
  uint64_t cid;
  if (name == NULL || name->state != SREF_VALUE)
    return pyr_jfrp_fail(p, "metadata: class without a name");
  if (id == NULL || parse_u64(id, &cid) != 0)
    return pyr_jfrp_fail(p, "metadata: class '%s' has no valid id",
                         sref_print(name, b, sizeof(b)));
  if (p->classes.n >= p->lim.max_classes)
    return limit_fail(p, "metadata: more than %zu classes", p->lim.max_classes);
  uint32_t dummy;
  if (map_get(&p->class_by_id, cid, &dummy))
    return pyr_jfrp_fail(p, "metadata: duplicate class id %llu ('%s')",
                         (unsigned long long)cid, sref_print(name, b, sizeof(b)));
  if (vec_reserve(p, &p->classes, sizeof(struct jclass), 1) != 0)
    return -1;
  uint32_t ci = (uint32_t)p->classes.n++;
  struct jclass *c = cls_at(p, ci);
  memset(c, 0, sizeof(*c));
  c->name = *name;
  c->id = cid;
  c->first_field = (uint32_t)p->fields.n;
  m->cur_class = (int32_t)ci;
  return map_put(p, &p->class_by_id, cid, ci);
}

static int md_add_field(pyr_jfrp *p, struct md *m, struct sref *const a[A_COUNT]) {
  char b[96];
  if (m->cur_class < 0)
    return 0;
  struct jclass *c = cls_at(p, (uint32_t)m->cur_class);
  if (a[A_NAME] == NULL || a[A_NAME]->state != SREF_VALUE)
    return pyr_jfrp_fail(p, "metadata: a field of class '%s' has no name",
                         sref_print(&c->name, b, sizeof(b)));
  uint64_t tid;
  if (a[A_CLASS] == NULL || parse_u64(a[A_CLASS], &tid) != 0)
    return pyr_jfrp_fail(p, "metadata: field '%s' has no valid class id",
                         sref_print(a[A_NAME], b, sizeof(b)));
  bool array = false;
  if (a[A_DIM] != NULL) {
    if (sref_eq(a[A_DIM], "1"))
      array = true;
    else if (!sref_eq(a[A_DIM], "0"))
      return pyr_jfrp_fail(p, "metadata: field '%s' has unsupported dimension",
                           sref_print(a[A_NAME], b, sizeof(b)));
  }
  if (p->fields.n >= p->lim.max_fields)
    return limit_fail(p, "metadata: more than %zu fields", p->lim.max_fields);
  if (vec_reserve(p, &p->fields, sizeof(struct jfield), 1) != 0)
    return -1;
  struct jfield *f = fld_at(p, (uint32_t)p->fields.n++);
  memset(f, 0, sizeof(*f));
  f->name = *a[A_NAME];
  f->type_id = tid;
  f->cp = a[A_CP] != NULL && sref_eq(a[A_CP], "true");
  f->array = array;
  cls_at(p, (uint32_t)m->cur_class)->nfields++;
  return 0;
}

static int md_element(pyr_jfrp *p, struct md *m, struct cur *c, enum el_ctx parent,
                      size_t depth) {
  if (depth > p->lim.max_depth)
    return limit_fail(p, "metadata: elements nested deeper than %zu", p->lim.max_depth);
  uint64_t name_i, nattr, nchild;
  if (md_str(p, m, c, &name_i) != 0 || rd_count(p, c, &nattr, "metadata attribute") != 0)
    return -1;
  const struct sref *name = &m->strs[name_i];
  enum el_ctx me = EL_IGNORE;
  if (parent == EL_ROOT && sref_eq(name, "metadata"))
    me = EL_META;
  else if (parent == EL_META && sref_eq(name, "class"))
    me = EL_CLASS;
  else if (parent == EL_CLASS && sref_eq(name, "field"))
    me = EL_FIELD;
  else if (parent == EL_IGNORE && depth == 0)
    me = EL_ROOT;
  struct sref *a[A_COUNT] = {0};
  for (uint64_t i = 0; i < nattr; i++) {
    uint64_t k, v;
    if (md_str(p, m, c, &k) != 0 || md_str(p, m, c, &v) != 0)
      return -1;
    if (me != EL_CLASS && me != EL_FIELD)
      continue;
    for (int j = 0; j < A_COUNT; j++)
      if (sref_eq(&m->strs[k], attr_names[j]))
        a[j] = &m->strs[v];
  }
  if (me == EL_CLASS && md_add_class(p, m, a[A_NAME], a[A_ID]) != 0)
    return -1;
  if (me == EL_FIELD && md_add_field(p, m, a) != 0)
    return -1;
  if (rd_count(p, c, &nchild, "metadata child") != 0)
    return -1;
  for (uint64_t i = 0; i < nchild; i++)
    if (md_element(p, m, c, me, depth + 1) != 0)
      return -1;
  if (me == EL_CLASS)
    m->cur_class = -1;
  return 0;
}

/* Reads the record header (size, type) at `at`; *body is the rest. */
static int rd_record(pyr_jfrp *p, const uint8_t *at, struct cur *body, uint64_t *type) {
  struct cur c = {at, p->chunk + p->chunk_size};
  uint64_t size;
  if (rd_varint(p, &c, &size) != 0)
    return -1;
  if (size == 0)
    return pyr_jfrp_fail(p, "record of size 0");
  if (size > (uint64_t)(c.end - at))
    return pyr_jfrp_fail(p, "record size %llu exceeds the %zu bytes left in the chunk",
                         (unsigned long long)size, (size_t)(c.end - at));
  c.end = at + size;
  if (rd_varint(p, &c, type) != 0)
    return -1;
  *body = c;
  return 0;
}

static int parse_metadata(pyr_jfrp *p, uint64_t off) {
  struct cur c;
  uint64_t type, v;
  struct md m = {NULL, 0, -1};
  size_t strs_bytes = 0;
  int rc = -1;
  if (rd_record(p, p->chunk + off, &c, &type) != 0)
    goto out;
  if (type != 0) {
    pyr_jfrp_fail(p, "the record at the metadata offset has type %llu, not 0",
                  (unsigned long long)type);
    goto out;
  }
  if ((size_t)(c.end - (p->chunk + off)) > p->lim.max_metadata) {
    limit_fail(p, "metadata of %zu bytes exceeds the limit of %zu",
                  (size_t)(c.end - (p->chunk + off)), p->lim.max_metadata);
    goto out;
  }
  /* startTime, duration, metadata id */
  for (int i = 0; i < 3; i++)
    if (rd_varint(p, &c, &v) != 0)
      goto out;
  if (rd_count(p, &c, &m.nstrs, "metadata string") != 0)
    goto out;
  strs_bytes = (size_t)(m.nstrs ? m.nstrs : 1) * sizeof(*m.strs);
  m.strs = jalloc(p, strs_bytes);
  if (m.strs == NULL)
    goto out;
  for (uint64_t i = 0; i < m.nstrs; i++) {
    if (rd_string(p, &c, &m.strs[i], arena_str_alloc, 0) != 0)
      goto out;
    if (m.strs[i].state == SREF_POOLREF) {
      pyr_jfrp_fail(p, "metadata string %llu refers to the constant pool",
                    (unsigned long long)i);
      goto out;
    }
  }
  if (md_element(p, &m, &c, EL_IGNORE, 0) != 0)
    goto out;
  if (finish_metadata(p) != 0)
    goto out;
  rc = 0;
out:
  jfree(p, m.strs, m.strs ? strs_bytes : 0);
  if (rc != 0)
    wrap(p, "metadata at offset %llu", (unsigned long long)off);
  return rc;
}

/* ---------------------------------------------------------------- values */

static int skip_struct(pyr_jfrp *p, struct cur *c, uint32_t ci, size_t depth);

/* One (non-array) value of field f. */
static int skip_one(pyr_jfrp *p, struct cur *c, const struct jfield *f, size_t depth) {
  uint64_t v;
  if (f->cp)
    return rd_varint(p, c, &v);
  const struct jclass *t = cls_at(p, f->type);
  switch (t->prim) {
  case PRIM_BYTE:
    return skip_bytes(p, c, 1, "byte");
  case PRIM_VARINT:
    return rd_varint(p, c, &v);
  case PRIM_FLOAT:
    return skip_bytes(p, c, 4, "float");
  case PRIM_DOUBLE:
    return skip_bytes(p, c, 8, "double");
  case PRIM_STRING:
    return skip_string(p, c);
  default:
    return t->empty ? 0 : skip_struct(p, c, f->type, depth + 1);
  }
}

static int skip_field(pyr_jfrp *p, struct cur *c, const struct jfield *f, size_t depth) {
  if (!f->array)
    return skip_one(p, c, f, depth);
  uint64_t n;
  const struct jclass *t = cls_at(p, f->type);
  if (!f->cp && t->empty) {
    /* zero-byte elements: the count alone is the value */
    return rd_varint(p, c, &n);
  }
  if (rd_count(p, c, &n, "array") != 0)
    return -1;
  if (!f->cp && t->prim == PRIM_BYTE)
    return skip_bytes(p, c, n, "byte array");
  if (!f->cp && t->prim == PRIM_FLOAT)
    return skip_bytes(p, c, n * 4, "float array");
  if (!f->cp && t->prim == PRIM_DOUBLE)
    return skip_bytes(p, c, n * 8, "double array");
  for (uint64_t i = 0; i < n; i++)
    if (skip_one(p, c, f, depth) != 0)
      return -1;
  return 0;
}

static int read_struct(pyr_jfrp *p, struct cur *c, uint32_t ci, uint32_t nfields, size_t depth,
                       struct vals *v, str_alloc_fn af);

static int skip_struct(pyr_jfrp *p, struct cur *c, uint32_t ci, size_t depth) {
  return read_struct(p, c, ci, cls_at(p, ci)->nne, depth, NULL, NULL);
}

/* One frame of a class whose fields are all varints (every StackFrame
 * JDK Flight Recorder and async-profiler write: method, lineNumber,
 * bytecodeIndex, type): a tight loop instead of read_struct's general
 * dispatch.  Stack frames are most of a recording's bytes, and this loop
 * was the parser's hottest.  Returns -1 without a message; the caller
 * rereads the frame through read_struct to word the error. */
static int read_frame_varints(pyr_jfrp *p, struct cur *c, const struct op *o, uint32_t nne,
                              pyr_jfrp_frame *fr) {
  uint64_t method = 0, line = 0;
  for (uint32_t j = 0; j < nne; j++, o++) {
    uint64_t x;
    if (rd_varint(p, c, &x) != 0)
      return -1;
    if (o->slot == SL_FRAME_METHOD)
      method = x;
    else if (o->slot == SL_FRAME_LINE)
      line = x;
  }
  fr->method = method;
  fr->method_index = FRAME_UNRESOLVED;
  fr->line = (uint32_t)line; /* an int field: the low 32 bits, as read_struct's W32 */
  return 0;
}

/* StackTrace.frames: an inline array of StackFrame structs. */
static int read_frames(pyr_jfrp *p, struct cur *c, const struct jfield *f, size_t depth,
                       struct vals *v) {
  uint64_t n;
  if (rd_count(p, c, &n, "stack frame") != 0)
    return -1;
  if (vec_reserve(p, &p->frames, sizeof(pyr_jfrp_frame), (size_t)n) != 0)
    return -1;
  v->u[SL_STACK_FRAMES] = p->frames.n;
  const struct jclass *fc = cls_at(p, f->type);
  bool fast = fc->all_varint && fc->nne > 0 && depth + 1 <= p->lim.max_depth;
  const struct op *fops = fast ? op_at(p, fc->first_ne) : NULL;
  for (uint64_t i = 0; i < n; i++) {
    pyr_jfrp_frame *fr = (pyr_jfrp_frame *)p->frames.data + p->frames.n;
    if (fast) {
      const uint8_t *start = c->p;
      if (read_frame_varints(p, c, fops, fc->nne, fr) == 0) {
        p->frames.n++;
        continue;
      }
      c->p = start; /* reread below: read_struct names what was wrong */
      p->err[0] = '\0';
    }
    struct vals fv;
    fv.has = 0;
    if (read_struct(p, c, f->type, fc->nne, depth + 1, &fv, arena_str_alloc) != 0)
      return -1;
    fr = (pyr_jfrp_frame *)p->frames.data + p->frames.n++;
    /* A field the class lacks reads as 0, like Go's zero value in
     * jfr-parser: key 0 is looked up like any other key. */
    fr->method = (fv.has >> SL_FRAME_METHOD) & 1 ? fv.u[SL_FRAME_METHOD] : 0;
    /* resolved to an index once all pools are read (resolve_frames) */
    fr->method_index = FRAME_UNRESOLVED;
    fr->line = (fv.has >> SL_FRAME_LINE) & 1 ? (uint32_t)fv.u[SL_FRAME_LINE] : 0;
  }
  v->s[SL_STACK_FRAMES].len = (uint32_t)n;
  return 0;
}

/* Reads the first nfields non-empty fields of class ci, storing bound
 * ones into v (when v is NULL everything is skipped). */
static int read_struct(pyr_jfrp *p, struct cur *c, uint32_t ci, uint32_t nfields, size_t depth,
                       struct vals *v, str_alloc_fn af) {
  if (depth > p->lim.max_depth)
    return limit_fail(p, "values nested deeper than %zu", p->lim.max_depth);
  if (nfields == 0)
    return 0; /* also: no ops table at all when no class has a field */
  const struct op *o = op_at(p, cls_at(p, ci)->first_ne);
  for (uint32_t i = 0; i < nfields; i++, o++) {
    bool bind = v != NULL && o->slot != SL_NONE;
    uint64_t x;
    int rc;
    switch (o->kind) {
    case OP_VARINT:
      rc = rd_varint(p, c, &x);
      if (rc == 0 && bind) {
        if (o->width == W16)
          x &= 0xffff;
        else if (o->width == W32)
          x &= 0xffffffffu;
        v->u[o->slot] = x;
        v->has |= SLOT_BIT(o->slot);
      }
      break;
    case OP_BYTE:
      if (c->p >= c->end) {
        rc = truncated(p, "byte");
        break;
      }
      if (bind) {
        v->u[o->slot] = *c->p;
        v->has |= SLOT_BIT(o->slot);
      }
      c->p++;
      rc = 0;
      break;
    case OP_FLOAT:
      rc = skip_bytes(p, c, 4, "float");
      break;
    case OP_DOUBLE:
      rc = skip_bytes(p, c, 8, "double");
      break;
    case OP_STRING:
      if (bind) {
        rc = rd_string(p, c, &v->s[o->slot], af, o->slot == SL_EV_VALUE ? 1 : 0);
        if (rc == 0)
          v->has |= SLOT_BIT(o->slot);
      } else {
        rc = skip_string(p, c);
      }
      break;
    case OP_STRUCT:
      rc = skip_struct(p, c, o->type, depth + 1);
      break;
    case OP_FRAMES:
      if (bind) {
        rc = read_frames(p, c, fld_at(p, o->field), depth, v);
        if (rc == 0)
          v->has |= SLOT_BIT(o->slot);
        break;
      }
      /* fall through */
    default:
      rc = skip_field(p, c, fld_at(p, o->field), depth);
      break;
    }
    if (rc != 0) {
      /* Name only the innermost field: outer ones add length, not sense. */
      if (p->field_wrapped)
        return -1;
      p->field_wrapped = true;
      char b[96];
      return wrap(p, "field '%s'", sref_print(&fld_at(p, o->field)->name, b, sizeof(b)));
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ pools */

static int pool_store(pyr_jfrp *p, enum pool_kind k, uint64_t key, const struct vals *v,
                      const struct sref *prim_str) {
  struct pool *pl = &p->pools[k];
  if (vec_reserve(p, &pl->entries, pl->esize, 1) != 0)
    return -1;
  uint32_t idx = (uint32_t)pl->entries.n;
  void *e = (char *)pl->entries.data + (size_t)idx * pl->esize;
  memset(e, 0, pl->esize);
  switch (k) {
  case POOL_STRING:
    ((struct e_str *)e)->s = *prim_str;
    break;
  case POOL_SYMBOL:
    if (v->has & SLOT_BIT(SL_SYM_STRING))
      ((struct e_str *)e)->s = v->s[SL_SYM_STRING];
    break;
  case POOL_TSTATE:
    if (v->has & SLOT_BIT(SL_TSTATE_NAME))
      ((struct e_str *)e)->s = v->s[SL_TSTATE_NAME];
    break;
  case POOL_CLASS: {
    struct e_class *ec = e;
    ec->name = VAL_OR_0(v, SL_CLASS_NAME);
    break;
  }
  case POOL_METHOD: {
    struct e_method *em = e;
    em->type = VAL_OR_0(v, SL_METHOD_TYPE);
    em->name = VAL_OR_0(v, SL_METHOD_NAME);
    break;
  }
  case POOL_STACK: {
    struct e_stack *es = e;
    es->truncated = (v->has & SLOT_BIT(SL_STACK_TRUNCATED)) && v->u[SL_STACK_TRUNCATED];
    if (v->has & SLOT_BIT(SL_STACK_FRAMES)) {
      es->off = v->u[SL_STACK_FRAMES];
      es->n = v->s[SL_STACK_FRAMES].len;
    }
    break;
  }
  default:
    return 0;
  }
  pl->entries.n++;
  return map_put(p, &pl->idx, key, idx);
}

static int parse_pool(pyr_jfrp *p, struct cur *c) {
  char b[96];
  uint64_t cid, n;
  uint32_t ci;
  if (rd_varint(p, c, &cid) != 0)
    return -1;
  if (!map_get(&p->class_by_id, cid, &ci))
    return pyr_jfrp_fail(p, "pool of undeclared class id %llu", (unsigned long long)cid);
  if (rd_count(p, c, &n, "pool entry") != 0)
    return wrap(p, "pool '%s'", sref_print(&cls_at(p, ci)->name, b, sizeof(b)));
  if (n > p->lim.max_pool_entries - p->pool_entries)
    return limit_fail(p, "more than %zu constant-pool entries", p->lim.max_pool_entries);
  p->pool_entries += n;
  const struct jclass *t = cls_at(p, ci);
  enum pool_kind k = (enum pool_kind)t->pool;
  /* Size the tables once for the announced entries (capped, so that a
   * hostile count costs at most a bounded pre-allocation). */
  size_t pre = n < (1u << 20) ? (size_t)n : (1u << 20);
  if (k != POOL_NONE &&
      (map_reserve(p, &p->pools[k].idx, pre) != 0 ||
       vec_reserve(p, &p->pools[k].entries, p->pools[k].esize, pre) != 0))
    return -1;
  if (k == POOL_STACK) {
    /* Frames go into one vector; growing it by doubling from empty cost
     * a dozen copies per chunk.  Reserve a guess up front (frames take at
     * least two bytes each), only when it fits well inside the budget: a
     * hint must never fail a parse the limits would allow. */
    size_t left = (size_t)(c->end - c->p) / 2, guess = pre * 64;
    if (guess > left)
      guess = left;
    if (guess > (1u << 20))
      guess = 1u << 20;
    if (p->alloc + guess * sizeof(pyr_jfrp_frame) <= p->lim.max_alloc / 4 &&
        vec_reserve(p, &p->frames, sizeof(pyr_jfrp_frame), guess) != 0)
      return -1;
  }
  struct jfield prim_field = {.type = ci};
  for (uint64_t i = 0; i < n; i++) {
    uint64_t key;
    int rc = rd_varint(p, c, &key);
    struct vals v;
    struct sref str = {0};
    v.has = 0;
    if (rc == 0 && t->prim == PRIM_STRING)
      rc = rd_string(p, c, &str, arena_str_alloc, 0);
    else if (rc == 0 && t->prim != PRIM_STRUCT)
      rc = skip_one(p, c, &prim_field, 0);
    else if (rc == 0)
      rc = read_struct(p, c, ci, t->nne, 1, k != POOL_NONE ? &v : NULL, arena_str_alloc);
    if (rc == 0 && k != POOL_NONE)
      rc = pool_store(p, k, key, &v, &str);
    if (rc != 0)
      return wrap(p, "pool '%s' entry %llu", sref_print(&t->name, b, sizeof(b)),
                  (unsigned long long)i);
  }
  return 0;
}

static int parse_checkpoint(pyr_jfrp *p, uint64_t off) {
  struct cur c;
  uint64_t type, v, npools;
  if (rd_record(p, p->chunk + off, &c, &type) != 0)
    goto fail;
  if (type != 1) {
    pyr_jfrp_fail(p, "record has type %llu, not 1", (unsigned long long)type);
    goto fail;
  }
  /* startTime, duration, delta (already followed), flags byte */
  for (int i = 0; i < 3; i++)
    if (rd_varint(p, &c, &v) != 0)
      goto fail;
  if (skip_bytes(p, &c, 1, "checkpoint flags") != 0 ||
      rd_count(p, &c, &npools, "pool") != 0)
    goto fail;
  for (uint64_t i = 0; i < npools; i++)
    if (parse_pool(p, &c) != 0)
      goto fail;
  return 0;
fail:
  return wrap(p, "checkpoint at offset %llu", (unsigned long long)off);
}

/* Collects the checkpoint chain (last to first) and parses it first to
 * last, so that a key written twice resolves to the later value. */
static int parse_checkpoints(pyr_jfrp *p, uint64_t last) {
  struct vec offs = {0};
  int rc = -1;
  uint64_t off = last;
  for (;;) {
    struct cur c;
    uint64_t type, v;
    int64_t delta;
    if (off < CHUNK_HEADER_SIZE || off >= p->chunk_size) {
      pyr_jfrp_fail(p, "checkpoint offset %llu outside the chunk", (unsigned long long)off);
      goto out;
    }
    if (rd_record(p, p->chunk + off, &c, &type) != 0 ||
        (type != 1 && pyr_jfrp_fail(p, "record has type %llu, not 1",
                                    (unsigned long long)type)) ||
        rd_varint(p, &c, &v) != 0 || rd_varint(p, &c, &v) != 0 || rd_varint(p, &c, &v) != 0) {
      wrap(p, "checkpoint at offset %llu", (unsigned long long)off);
      goto out;
    }
    if (vec_reserve(p, &offs, sizeof(uint64_t), 1) != 0)
      goto out;
    ((uint64_t *)offs.data)[offs.n++] = off;
    delta = (int64_t)v;
    if (delta == 0)
      break;
    /* Deltas point strictly backwards: this also rules out loops. */
    if (delta > 0 || (uint64_t)(-(delta + 1)) + 1 > off - CHUNK_HEADER_SIZE) {
      pyr_jfrp_fail(p, "checkpoint at offset %llu has invalid delta %lld",
                    (unsigned long long)off, (long long)delta);
      goto out;
    }
    off = off - ((uint64_t)(-(delta + 1)) + 1);
  }
  for (size_t i = offs.n; i > 0; i--)
    if (parse_checkpoint(p, ((uint64_t *)offs.data)[i - 1]) != 0)
      goto out;
  rc = 0;
out:
  vec_free(p, &offs, sizeof(uint64_t));
  return rc;
}

/* Resolves encoding-2 strings (String-pool refs) stored in the pools. */
static int resolve_sref(pyr_jfrp *p, struct sref *s) {
  uint64_t first = s->ref;
  for (int hop = 0; s->state == SREF_POOLREF; hop++) {
    uint32_t idx;
    if (hop >= STR_REF_HOPS)
      return pyr_jfrp_fail(p,
                           "String-pool references starting at key %llu form a cycle "
                           "(or a chain longer than %d)",
                           (unsigned long long)first, STR_REF_HOPS);
    if (!map_get(&p->pools[POOL_STRING].idx, s->ref, &idx)) {
      memset(s, 0, sizeof(*s)); /* an unknown key is null, as in the JDK */
      return 0;
    }
    *s = ((struct e_str *)p->pools[POOL_STRING].entries.data)[idx].s;
  }
  return 0;
}

/* Frames name their method by key; turn keys into dense indexes once, so
 * that callers never hash per frame. */
static void resolve_frames(pyr_jfrp *p) {
  /* A few hundred methods make up thousands of frames: a small
   * direct-mapped memo in front of the hash table saves most probes. */
  enum { MEMO = 256 };
  uint64_t mkey[MEMO];
  uint32_t midx[MEMO];
  bool mset[MEMO] = {false};
  pyr_jfrp_frame *f = p->frames.data;
  for (size_t i = 0; i < p->frames.n; i++) {
    uint32_t idx;
    if (f[i].method_index != FRAME_UNRESOLVED)
      continue;
    uint64_t key = f[i].method;
    size_t h = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 56);
    if (mset[h] && mkey[h] == key) {
      f[i].method_index = midx[h];
      continue;
    }
    f[i].method_index =
        map_get(&p->pools[POOL_METHOD].idx, key, &idx) ? idx : PYR_JFRP_NO_METHOD;
    mset[h] = true;
    mkey[h] = key;
    midx[h] = f[i].method_index;
  }
}

static int resolve_pool_strings(pyr_jfrp *p) {
  static const enum pool_kind kinds[] = {POOL_STRING, POOL_SYMBOL, POOL_TSTATE};
  for (size_t k = 0; k < 3; k++) {
    struct pool *pl = &p->pools[kinds[k]];
    for (size_t i = 0; i < pl->entries.n; i++)
      if (resolve_sref(p, &((struct e_str *)pl->entries.data)[i].s) != 0)
        return -1;
  }
  return 0;
}

/* ----------------------------------------------------------------- chunks */

static void reset_chunk(pyr_jfrp *p) {
  arena_free(p);
  vec_free(p, &p->classes, sizeof(struct jclass));
  vec_free(p, &p->fields, sizeof(struct jfield));
  vec_free(p, &p->ops, sizeof(struct op));
  map_free(p, &p->class_by_id);
  for (int k = 0; k < POOL_NKINDS; k++) {
    map_free(p, &p->pools[k].idx);
    vec_free(p, &p->pools[k].entries, p->pools[k].esize);
  }
  vec_free(p, &p->frames, sizeof(pyr_jfrp_frame));
  p->pool_entries = 0;
  p->last_class = UINT32_MAX;
}

static void fill_event(pyr_jfrp_event *ev, const struct vals *v) {
#define TAKE(slot, flag, dst)                                                                  \
  if (v->has & SLOT_BIT(slot)) {                                                               \
    ev->has |= flag;                                                                           \
    dst = v->u[slot];                                                                          \
  }
  TAKE(SL_EV_STACK, PYR_JFRP_HAS_STACK, ev->stack);
  TAKE(SL_EV_STATE, PYR_JFRP_HAS_STATE, ev->state);
  TAKE(SL_EV_CONTEXT, PYR_JFRP_HAS_CONTEXT, ev->context_id);
  TAKE(SL_EV_SPAN_ID, PYR_JFRP_HAS_SPAN_ID, ev->span_id);
  TAKE(SL_EV_SPAN_NAME, PYR_JFRP_HAS_SPAN_NAME, ev->span_name);
  TAKE(SL_EV_SAMPLES, PYR_JFRP_HAS_SAMPLES, ev->samples);
  TAKE(SL_EV_TLAB, PYR_JFRP_HAS_TLAB_SIZE, ev->tlab_size);
  TAKE(SL_EV_ALLOC_SIZE, PYR_JFRP_HAS_ALLOC_SIZE, ev->allocation_size);
  TAKE(SL_EV_WEIGHT, PYR_JFRP_HAS_WEIGHT, ev->weight);
  TAKE(SL_EV_DURATION, PYR_JFRP_HAS_DURATION, ev->duration);
  TAKE(SL_EV_SIZE, PYR_JFRP_HAS_SIZE, ev->size);
#undef TAKE
}

/* Event strings: pool refs resolved now; the text lives in the scratch. */
static int event_string(pyr_jfrp *p, const struct vals *v, unsigned slot, uint32_t flag,
                        pyr_jfrp_event *ev, pyr_jfrp_str *dst) {
  if (!(v->has & SLOT_BIT(slot)))
    return 0;
  struct sref s = v->s[slot];
  if (resolve_sref(p, &s) != 0)
    return -1;
  ev->has |= flag;
  dst->s = s.state == SREF_VALUE ? s.s : NULL;
  dst->len = s.state == SREF_VALUE ? s.len : 0;
  return 0;
}

static int parse_event(pyr_jfrp *p, const pyr_jfrp_handler *h, uint32_t ci, struct cur *c) {
  const struct jclass *t = cls_at(p, ci);
  struct vals v;
  v.has = 0;
  if (read_struct(p, c, ci, t->nbound_prefix, 1, &v, scratch_str_alloc) != 0) {
    char b[96];
    return wrap(p, "event '%s'", sref_print(&t->name, b, sizeof(b)));
  }
  pyr_jfrp_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = (pyr_jfrp_kind)t->ev_kind;
  fill_event(&ev, &v);
  if (event_string(p, &v, SL_EV_NAME, PYR_JFRP_HAS_NAME, &ev, &ev.name) != 0 ||
      event_string(p, &v, SL_EV_VALUE, PYR_JFRP_HAS_VALUE, &ev, &ev.value) != 0) {
    char b[96];
    return wrap(p, "event '%s'", sref_print(&t->name, b, sizeof(b)));
  }
  if (h->event && h->event(h->ud, p, &ev) != 0)
    return pyr_jfrp_fail(p, "event callback failed");
  return 0;
}

static int parse_events(pyr_jfrp *p, const pyr_jfrp_handler *h) {
  const uint8_t *at = p->chunk + CHUNK_HEADER_SIZE;
  const uint8_t *end = p->chunk + p->chunk_size;
  while (at < end) {
    struct cur c;
    uint64_t type;
    if (rd_record(p, at, &c, &type) != 0)
      return wrap(p, "record at offset %zu", off_in_chunk(p, at));
    const uint8_t *next = c.end;
    if (type > 1) {
      uint32_t ci;
      if (type == p->last_type_id && p->last_class != UINT32_MAX) {
        ci = p->last_class;
      } else if (map_get(&p->class_by_id, type, &ci)) {
        p->last_type_id = type;
        p->last_class = ci;
      } else {
        ci = UINT32_MAX; /* undeclared event type: skipped, like the JDK */
      }
      if (ci != UINT32_MAX && cls_at(p, ci)->ev_kind >= 0 && parse_event(p, h, ci, &c) != 0)
        return wrap(p, "record at offset %zu", off_in_chunk(p, at));
    }
    at = next;
  }
  return 0;
}

static int parse_chunk(pyr_jfrp *p, size_t off, const pyr_jfrp_handler *h) {
  const uint8_t *b = p->buf + off;
  size_t left = p->len - off;
  int rc = -1;
  if (left < CHUNK_HEADER_SIZE) {
    pyr_jfrp_fail(p, "%zu trailing bytes are too short for a chunk header", left);
    goto out;
  }
  if (memcmp(b, "FLR\0", 4) != 0) {
    pyr_jfrp_fail(p, "bad magic %02x%02x%02x%02x (not a JFR recording)", b[0], b[1], b[2],
                  b[3]);
    goto out;
  }
  pyr_jfrp_chunk_info ci = {0};
  ci.index = p->chunk_index;
  ci.offset = off;
  ci.major = (uint16_t)(b[4] << 8 | b[5]);
  ci.minor = (uint16_t)(b[6] << 8 | b[7]);
  if (ci.major != 2) {
    pyr_jfrp_fail(p, "unsupported JFR version %u.%u (need 2.x)", ci.major, ci.minor);
    goto out;
  }
  uint64_t size = be64(b + 8), cp_off = be64(b + 16), md_off = be64(b + 24);
  ci.start_nanos = (int64_t)be64(b + 32);
  ci.duration_nanos = (int64_t)be64(b + 40);
  ci.start_ticks = (int64_t)be64(b + 48);
  ci.ticks_per_second = (int64_t)be64(b + 56);
  if (size < CHUNK_HEADER_SIZE) {
    pyr_jfrp_fail(p, "chunk size %llu is smaller than its header", (unsigned long long)size);
    goto out;
  }
  if (size > left) {
    pyr_jfrp_fail(p, "chunk size %llu exceeds the %zu bytes left (truncated recording?)",
                  (unsigned long long)size, left);
    goto out;
  }
  if (md_off < CHUNK_HEADER_SIZE || md_off >= size) {
    pyr_jfrp_fail(p, "metadata offset %llu outside the chunk", (unsigned long long)md_off);
    goto out;
  }
  if (cp_off < CHUNK_HEADER_SIZE || cp_off >= size) {
    pyr_jfrp_fail(p, "checkpoint offset %llu outside the chunk", (unsigned long long)cp_off);
    goto out;
  }
  reset_chunk(p);
  p->chunk = b;
  p->chunk_size = (size_t)size;
  if (parse_metadata(p, md_off) != 0 || parse_checkpoints(p, cp_off) != 0)
    goto out;
  if (resolve_pool_strings(p) != 0)
    goto out;
  resolve_frames(p);
  if (h->chunk_begin && h->chunk_begin(h->ud, p, &ci) != 0) {
    pyr_jfrp_fail(p, "chunk callback failed");
    goto out;
  }
  if (parse_events(p, h) != 0)
    goto out;
  if (h->chunk_end && h->chunk_end(h->ud, p) != 0) {
    pyr_jfrp_fail(p, "chunk callback failed");
    goto out;
  }
  rc = (int)size; /* > 0: bytes consumed */
out:
  if (rc < 0)
    wrap(p, "chunk %zu (file offset %zu)", p->chunk_index, off);
  return rc;
}

int pyr_jfr_parse(const uint8_t *buf, size_t len, const pyr_jfrp_limits *lim,
                  const pyr_jfrp_handler *h, char *err, size_t errlen) {
  static const pyr_jfrp_handler none = {0};
  pyr_jfrp *p = calloc(1, sizeof(*p));
  int rc = -1;
  if (p == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  p->lim = lim ? *lim : pyr_jfrp_default_limits;
  p->seed = pyr_prof_hash_seed();
  p->buf = buf;
  p->len = len;
  p->pools[POOL_STRING].esize = sizeof(struct e_str);
  p->pools[POOL_SYMBOL].esize = sizeof(struct e_str);
  p->pools[POOL_TSTATE].esize = sizeof(struct e_str);
  p->pools[POOL_CLASS].esize = sizeof(struct e_class);
  p->pools[POOL_METHOD].esize = sizeof(struct e_method);
  p->pools[POOL_STACK].esize = sizeof(struct e_stack);
  p->pools[POOL_NONE].esize = 1;
  if (h == NULL)
    h = &none;
  if (buf == NULL || len == 0) {
    pyr_jfrp_fail(p, "empty JFR input");
    goto out;
  }
  if (len > p->lim.max_input) {
    limit_fail(p, "JFR input of %zu bytes exceeds the limit of %zu", len, p->lim.max_input);
    goto out;
  }
  for (size_t off = 0; off < len;) {
    if (p->chunk_index >= p->lim.max_chunks) {
      limit_fail(p, "more than %zu chunks", p->lim.max_chunks);
      goto out;
    }
    int n = parse_chunk(p, off, h);
    if (n < 0)
      goto out;
    off += (size_t)n;
    p->chunk_index++;
  }
  rc = 0;
out:
  if (rc != 0 && p->limit_hit)
    rc = PYR_JFRP_ELIMIT;
  if (rc != 0 && err && errlen)
    snprintf(err, errlen, "%s", p->err[0] ? p->err : "JFR parse failed");
  reset_chunk(p);
  jfree(p, p->scratch[0], p->scratch_cap[0]);
  jfree(p, p->scratch[1], p->scratch_cap[1]);
  jfree(p, p->normbuf, p->normbuf_cap);
  free(p);
  return rc;
}

/* ---------------------------------------------------------------- lookups */

bool pyr_jfrp_stacktrace(pyr_jfrp *p, uint64_t key, pyr_jfrp_stack *out) {
  uint32_t idx;
  if (!map_get(&p->pools[POOL_STACK].idx, key, &idx))
    return false;
  const struct e_stack *es = (const struct e_stack *)p->pools[POOL_STACK].entries.data + idx;
  out->frames = es->n ? (const pyr_jfrp_frame *)p->frames.data + es->off : NULL;
  out->n = es->n;
  out->truncated = es->truncated != 0;
  return true;
}

bool pyr_jfrp_thread_state(pyr_jfrp *p, uint64_t key, pyr_jfrp_str *out) {
  uint32_t idx;
  if (!map_get(&p->pools[POOL_TSTATE].idx, key, &idx))
    return false;
  const struct e_str *e = (const struct e_str *)p->pools[POOL_TSTATE].entries.data + idx;
  out->s = e->s.state == SREF_VALUE ? e->s.s : NULL;
  out->len = e->s.state == SREF_VALUE ? e->s.len : 0;
  return true;
}

/* The normalised text of Symbol key, or "" when absent/null. */
static int symbol_text(pyr_jfrp *p, uint64_t key, struct sref *out) {
  uint32_t idx;
  static const struct sref empty = {"", 0, SREF_VALUE, 0};
  *out = empty;
  if (!map_get(&p->pools[POOL_SYMBOL].idx, key, &idx))
    return 0;
  struct e_str *e = (struct e_str *)p->pools[POOL_SYMBOL].entries.data + idx;
  if (!e->norm_done) {
    e->norm = e->s.state == SREF_VALUE ? e->s : empty;
    size_t cap = (size_t)e->norm.len + 64;
    if (p->normbuf_cap < cap) {
      char *m = jrealloc(p, p->normbuf, p->normbuf_cap, cap);
      if (m == NULL)
        return -1;
      p->normbuf = m;
      p->normbuf_cap = cap;
    }
    size_t n = pyr_jfrp_normalize_symbol(e->norm.s, e->norm.len, p->normbuf, p->normbuf_cap);
    if (n != (size_t)-1) {
      char *m = arena_alloc(p, n ? n : 1);
      if (m == NULL)
        return -1;
      memcpy(m, p->normbuf, n);
      e->norm.s = m;
      e->norm.len = (uint32_t)n;
    }
    e->norm_done = 1;
  }
  *out = e->norm;
  return 0;
}

size_t pyr_jfrp_nmethods(const pyr_jfrp *p) { return p->pools[POOL_METHOD].entries.n; }

size_t pyr_jfrp_nstacks(const pyr_jfrp *p) { return p->pools[POOL_STACK].entries.n; }

int pyr_jfrp_frame_name(pyr_jfrp *p, uint64_t method, pyr_jfrp_str *out) {
  uint32_t idx;
  if (!map_get(&p->pools[POOL_METHOD].idx, method, &idx))
    return 0;
  return pyr_jfrp_method_frame_name(p, idx, out);
}

int pyr_jfrp_method_frame_name(pyr_jfrp *p, uint32_t idx, pyr_jfrp_str *out) {
  uint32_t cidx;
  if (idx >= p->pools[POOL_METHOD].entries.n)
    return 0;
  struct e_method *m = (struct e_method *)p->pools[POOL_METHOD].entries.data + idx;
  if (m->frame_state == 0) {
    m->frame_state = 2;
    /* absent fields are key 0, as in jfr-parser (see read_frames) */
    if (map_get(&p->pools[POOL_CLASS].idx, m->type, &cidx)) {
      const struct e_class *ec = (const struct e_class *)p->pools[POOL_CLASS].entries.data + cidx;
      struct sref cn, mn;
      if (symbol_text(p, ec->name, &cn) != 0 || symbol_text(p, m->name, &mn) != 0)
        return -1;
      size_t n = (size_t)cn.len + 1 + mn.len;
      char *s = arena_alloc(p, n);
      if (s == NULL)
        return -1;
      memcpy(s, cn.s, cn.len);
      s[cn.len] = '.';
      memcpy(s + cn.len + 1, mn.s, mn.len);
      /* arena_alloc may not move entries, but re-fetch after allocations */
      m = (struct e_method *)p->pools[POOL_METHOD].entries.data + idx;
      m->frame.s = s;
      m->frame.len = (uint32_t)n;
      m->frame.state = SREF_VALUE;
      m->frame_state = 1;
    }
  }
  if (m->frame_state != 1)
    return 0;
  out->s = m->frame.s;
  out->len = m->frame.len;
  return 1;
}

/* ---------------------------------------------------- symbol normalisation */

static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_lhex(char ch) { return is_digit(ch) || (ch >= 'a' && ch <= 'f'); }

/* Consumes [lo, hi] repetitions of class(ch) at *i; false if < lo. */
static bool take_run(const char *s, size_t len, size_t *i, bool (*cls)(char), size_t lo,
                     size_t hi) {
  size_t k = 0;
  while (*i + k < len && k < hi && cls(s[*i + k]))
    k++;
  if (k < lo)
    return false;
  *i += k;
  return true;
}

static bool take_lit(const char *s, size_t len, size_t *i, const char *lit) {
  size_t n = strlen(lit);
  if (len - *i < n || memcmp(s + *i, lit, n) != 0)
    return false;
  *i += n;
  return true;
}

/* (\.?/tmp/)? */
static void take_tmp_prefix(const char *s, size_t len, size_t *i) {
  size_t j = *i;
  if (j < len && s[j] == '.')
    j++;
  if (take_lit(s, len, &j, "/tmp/"))
    *i = j;
}

/* ( \(deleted\))?$ */
static bool take_deleted_end(const char *s, size_t len, size_t i) {
  take_lit(s, len, &i, " (deleted)");
  return i == len;
}

static bool has_newline(const char *s, size_t len) { return memchr(s, '\n', len) != NULL; }

/* ^(jdk/internal/reflect/GeneratedMethodAccessor)(\d+)$ -> ${1}_ */
static size_t rule_accessor(const char *s, size_t len, char *out, size_t outlen) {
  static const char pre[] = "jdk/internal/reflect/GeneratedMethodAccessor";
  size_t i = 0;
  if (!take_lit(s, len, &i, pre))
    return (size_t)-1;
  if (!take_run(s, len, &i, is_digit, 1, SIZE_MAX) || i != len)
    return (size_t)-1;
  size_t n = sizeof(pre) - 1;
  if (n + 1 > outlen)
    return (size_t)-1;
  memcpy(out, pre, n);
  out[n] = '_';
  return n + 1;
}

/* Does r match  \$?\d*[./](0x)?[\da-f]+  |  \d+  entirely? */
static bool lambda_suffix(const char *r, size_t len) {
  size_t i = 0;
  if (len > 0 && take_run(r, len, &i, is_digit, 1, SIZE_MAX) && i == len)
    return true;
  i = 0;
  if (i < len && r[i] == '$')
    i++;
  take_run(r, len, &i, is_digit, 0, SIZE_MAX);
  if (i >= len || (r[i] != '.' && r[i] != '/'))
    return false;
  i++;
  size_t j = i;
  if (take_lit(r, len, &j, "0x") && j < len && take_run(r, len, &j, is_lhex, 1, SIZE_MAX) &&
      j == len)
    return true;
  return take_run(r, len, &i, is_lhex, 1, SIZE_MAX) && i == len;
}

/* Replaces everything after the last occurrence of marker (found at a
 * position >= 1) for which accept(rest) holds with "_". */
static size_t rule_after_marker(const char *s, size_t len, const char *marker,
                                bool (*accept)(const char *, size_t), char *out,
                                size_t outlen) {
  size_t mlen = strlen(marker);
  if (len < mlen + 1)
    return (size_t)-1;
  /* The last match wins (greedy `.+`): walk candidate positions right to
   * left, found with memrchr on the marker's first byte.  Most symbols
   * hold no such byte at all, so this is one memrchr for them. */
  for (size_t hi = len - mlen; hi >= 1;) {
    const char *hit = memrchr(s + 1, marker[0], hi);
    if (hit == NULL)
      break;
    size_t pos = (size_t)(hit - s);
    hi = pos - 1;
    if (memcmp(s + pos, marker, mlen) != 0)
      continue;
    size_t cut = pos + mlen;
    if (has_newline(s, pos))
      return (size_t)-1; /* `.+` cannot cross a newline */
    if (!accept(s + cut, len - cut))
      continue;
    if (cut + 1 > outlen)
      return (size_t)-1;
    memmove(out, s, cut);
    out[cut] = '_';
    return cut + 1;
  }
  return (size_t)-1;
}

/* ^(.+\$\$Lambda)(\$?\d*[./](0x)?[\da-f]+|\d+)$ -> ${1}_ */
static size_t rule_lambda(const char *s, size_t len, char *out, size_t outlen) {
  return rule_after_marker(s, len, "$$Lambda", lambda_suffix, out, outlen);
}

static bool no_newline(const char *r, size_t len) { return !has_newline(r, len); }

/* ^(.+\$\$EnhancerBySpringCGLIB\$\$)(.*)$ -> ${1}_ */
static size_t rule_cglib(const char *s, size_t len, char *out, size_t outlen) {
  return rule_after_marker(s, len, "$$EnhancerBySpringCGLIB$$", no_newline, out, outlen);
}

static size_t put_fixed(const char *text, char *out, size_t outlen) {
  size_t n = strlen(text);
  if (n > outlen)
    return (size_t)-1;
  memcpy(out, text, n);
  return n;
}

/* ^(\.?/tmp/)?(libzstd-jni-\d+\.\d+\.\d+-)(\d+)(\.so)( \(deleted\))?$ */
static size_t rule_zstd(const char *s, size_t len, char *out, size_t outlen) {
  size_t i = 0;
  take_tmp_prefix(s, len, &i);
  if (!take_lit(s, len, &i, "libzstd-jni-") || !take_run(s, len, &i, is_digit, 1, SIZE_MAX) ||
      !take_lit(s, len, &i, ".") || !take_run(s, len, &i, is_digit, 1, SIZE_MAX) ||
      !take_lit(s, len, &i, ".") || !take_run(s, len, &i, is_digit, 1, SIZE_MAX) ||
      !take_lit(s, len, &i, "-") || !take_run(s, len, &i, is_digit, 1, SIZE_MAX) ||
      !take_lit(s, len, &i, ".so") || !take_deleted_end(s, len, i))
    return (size_t)-1;
  return put_fixed("libzstd-jni-_.so", out, outlen);
}

/* ^(\.?/tmp/)?(lib)?(amazonCorrettoCryptoProvider)(NativeLibraries\.)?
 *   ([0-9a-f]{16})(/libcrypto|/libamazonCorrettoCryptoProvider)?(\.so)
 *   ( \(deleted\))?$ */
static size_t rule_corretto(const char *s, size_t len, char *out, size_t outlen) {
  size_t i = 0;
  take_tmp_prefix(s, len, &i);
  take_lit(s, len, &i, "lib");
  if (!take_lit(s, len, &i, "amazonCorrettoCryptoProvider"))
    return (size_t)-1;
  take_lit(s, len, &i, "NativeLibraries.");
  if (!take_run(s, len, &i, is_lhex, 16, 16))
    return (size_t)-1;
  if (!take_lit(s, len, &i, "/libcrypto"))
    take_lit(s, len, &i, "/libamazonCorrettoCryptoProvider");
  if (!take_lit(s, len, &i, ".so") || !take_deleted_end(s, len, i))
    return (size_t)-1;
  return put_fixed("libamazonCorrettoCryptoProvider_.so", out, outlen);
}

/* ^(\.?/tmp/)?(libasyncProfiler)-(linux-arm64|linux-musl-x64|linux-x64|macos)
 *   -(17b9a1d8156277a98ccc871afa9a8f69215f92)(\.so)( \(deleted\))?$ */
static size_t rule_asprof(const char *s, size_t len, char *out, size_t outlen) {
  static const char *const plats[] = {"linux-arm64-", "linux-musl-x64-", "linux-x64-",
                                      "macos-"};
  size_t i = 0;
  take_tmp_prefix(s, len, &i);
  if (!take_lit(s, len, &i, "libasyncProfiler-"))
    return (size_t)-1;
  bool plat = false;
  for (size_t k = 0; k < 4 && !plat; k++)
    plat = take_lit(s, len, &i, plats[k]);
  if (!plat || !take_lit(s, len, &i, "17b9a1d8156277a98ccc871afa9a8f69215f92.so") ||
      !take_deleted_end(s, len, i))
    return (size_t)-1;
  return put_fixed("libasyncProfiler-_.so", out, outlen);
}

/* Each rule maps (s, len) to out, returning the new length or -1 for "no
 * match"; rules run in order on the result of the previous one, as
 * Pyroscope's chain of regexp replacements does. */
size_t pyr_jfrp_normalize_symbol(const char *s, size_t len, char *out, size_t outlen) {
  static size_t (*const rules[])(const char *, size_t, char *, size_t) = {
      rule_accessor, rule_lambda, rule_zstd, rule_corretto, rule_asprof, rule_cglib,
  };
  bool changed = false;
  const char *cur = s;
  size_t cur_len = len;
  for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
    /* Rules only shorten a string, so out can hold any result; when cur
     * already is out, the rule reads and writes it in place (memmove). */
    size_t n = rules[r](cur, cur_len, out, outlen);
    if (n == (size_t)-1)
      continue;
    changed = true;
    cur = out;
    cur_len = n;
  }
  return changed ? cur_len : (size_t)-1;
}

/* ------------------------------------------------------------------- gzip */

int pyr_jfrp_gunzip(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                    size_t *outlen, char *err, size_t errlen) {
  *out = NULL;
  *outlen = 0;
  if (len < 2 || in[0] != 0x1f || in[1] != 0x8b)
    return 0;
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, 15 + 16) != Z_OK) {
    snprintf(err, errlen, "gzip: inflateInit failed");
    return -1;
  }
  size_t cap = len < max_out / 4 ? len * 4 : max_out + 1, n = 0;
  if (cap < 65536)
    cap = max_out + 1 < 65536 ? max_out + 1 : 65536;
  uint8_t *buf = malloc(cap);
  int rc = -1;
  if (buf == NULL) {
    snprintf(err, errlen, "gzip: out of memory");
    goto out;
  }
  zs.next_in = (Bytef *)in;
  for (;;) {
    if (n == cap) {
      if (cap > max_out) {
        snprintf(err, errlen, "gzip: decompressed data exceeds the limit of %zu bytes", max_out);
        goto out;
      }
      size_t ncap = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
      uint8_t *nb = realloc(buf, ncap);
      if (nb == NULL) {
        snprintf(err, errlen, "gzip: out of memory");
        goto out;
      }
      buf = nb;
      cap = ncap;
    }
    size_t in_left = len - (size_t)((const uint8_t *)zs.next_in - in);
    zs.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
    size_t out_room = cap - n;
    zs.avail_out = out_room > UINT32_MAX ? UINT32_MAX : (uInt)out_room;
    zs.next_out = buf + n;
    int zr = inflate(&zs, Z_NO_FLUSH);
    n = (size_t)(zs.next_out - buf);
    if (zr == Z_STREAM_END) {
      in_left = len - (size_t)((const uint8_t *)zs.next_in - in);
      /* Another gzip member follows (concatenated .gz files)? */
      if (in_left >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        if (inflateReset(&zs) != Z_OK) {
          snprintf(err, errlen, "gzip: inflateReset failed");
          goto out;
        }
        continue;
      }
      break; /* trailing garbage after the last member is ignored, like gzip -d */
    }
    if (zr == Z_BUF_ERROR && zs.avail_in == 0 && zs.avail_out != 0) {
      snprintf(err, errlen, "gzip: truncated stream");
      goto out;
    }
    if (zr != Z_OK && zr != Z_BUF_ERROR) {
      snprintf(err, errlen, "gzip: corrupt stream (%s)", zs.msg ? zs.msg : "inflate error");
      goto out;
    }
  }
  if (n > max_out) {
    snprintf(err, errlen, "gzip: decompressed data exceeds the limit of %zu bytes", max_out);
    goto out;
  }
  *out = buf;
  *outlen = n;
  buf = NULL;
  rc = 1;
out:
  free(buf);
  inflateEnd(&zs);
  return rc;
}
