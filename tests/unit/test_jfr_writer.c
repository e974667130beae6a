/*
 * test_jfr_writer.c - unit tests for the JFR chunk writer.
 *
 * Besides byte-level checks (varints, strings, header fields), the tests
 * carry a small independent JFR reader: it parses the metadata event into a
 * type table and then decodes every pool and every event *generically from
 * that metadata*, the way the JDK does.  That makes these checks hold:
 *  - the checkpoint size equals its content exactly (the JDK's rule);
 *  - no pool is empty and every pool / event / field type is declared;
 *  - every int field is at most 5 bytes (jfr-parser's rule);
 *  - every constant-pool reference resolves (or is 0, null);
 *  - event records tile the space between the metadata and the checkpoint.
 * The JDK itself is exercised by tests/integration/test_jfr_writer_jdk.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jfr_writer.h"

#define T0 1000000000ull      /* start ticks */
#define NANOS0 1700000000000000000ull
#define MAX_CLASSES 64
#define MAX_FIELDS 16
#define NAME_MAX_LEN 64

/* ------------------------------------------------------------------------
 * A minimal, metadata-driven JFR reader.
 * ---------------------------------------------------------------------- */

typedef struct rd {
  const uint8_t *p, *end;
} rd;

static uint64_t rd_varint_n(rd *r, size_t *nbytes) {
  uint64_t v = 0;

  for (int i = 0; i < 9; i++) {
    uint8_t b;

    if (r->p >= r->end)
      fail_msg("varint runs past the end");
    b = *r->p++;
    if (i == 8) {
      *nbytes = 9;
      return v | (uint64_t)b << 56;
    }
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *nbytes = (size_t)i + 1;
      return v;
    }
  }
  return v; /* unreachable */
}

static uint64_t rd_varint(rd *r) {
  size_t n;

  return rd_varint_n(r, &n);
}

static uint8_t rd_u8(rd *r) {
  if (r->p >= r->end)
    fail_msg("byte past the end");
  return *r->p++;
}

/* jfr-parser's int rule: at most 5 bytes and a 32-bit value. */
static uint32_t rd_int(rd *r) {
  size_t n;
  uint64_t v = rd_varint_n(r, &n);

  if (n > 5 || v > UINT32_MAX)
    fail_msg("int field of %zu bytes / value %llu", n, (unsigned long long)v);
  return (uint32_t)v;
}

/* Our writer only ever uses null (0) and UTF-8 (3). Returns a malloc'd
 * copy, or NULL for a null string. */
static char *rd_string(rd *r) {
  uint8_t enc = rd_u8(r);
  uint64_t n;
  char *s;

  if (enc == 0)
    return NULL;
  if (enc != 3)
    fail_msg("string encoding %u, want 0 or 3", enc);
  n = rd_varint(r);
  if (n > (uint64_t)(r->end - r->p))
    fail_msg("string runs past the end");
  s = malloc(n + 1);
  assert_non_null(s);
  memcpy(s, r->p, n);
  s[n] = 0;
  r->p += n;
  return s;
}

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;

  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* Metadata model. */
typedef struct tfield {
  char name[NAME_MAX_LEN];
  uint64_t type;
  bool cp, array;
} tfield;

typedef struct tclass {
  char name[NAME_MAX_LEN];
  char super_type[NAME_MAX_LEN];
  uint64_t id;
  bool simple;
  int nfields;
  tfield fields[MAX_FIELDS];
} tclass;

/* One decoded leaf value, for the tests to query. */
typedef struct tval {
  const char *owner; /* pool class name or event type name */
  uint64_t key;      /* pool key, or event index */
  const char *field;
  uint64_t num;
  char *str;       /* strings: malloc'd copy, NULL for null */
  size_t raw_len;  /* encoded bytes, for ints and longs */
  uint64_t ref_to; /* class id of a cp reference, else 0 */
} tval;

typedef struct chunk {
  /* header */
  uint16_t major, minor;
  uint64_t size, cp_off, meta_off, start_nanos, duration, start_ticks, tps;
  uint8_t flags[4];
  /* metadata */
  uint64_t meta_id;
  char **strs;
  uint64_t nstrs;
  int nclasses;
  tclass classes[MAX_CLASSES];
  bool has_region;
  uint64_t annotations[256];
  int nannotations;
  /* checkpoint */
  uint64_t cp_delta;
  uint8_t cp_flags;
  uint64_t npools;
  /* decoded values and events */
  tval *vals;
  size_t nvals, capvals;
  uint64_t nevents;
  uint64_t event_types[4096];
} chunk;

static const tclass *class_by_id(const chunk *c, uint64_t id) {
  for (int i = 0; i < c->nclasses; i++)
    if (c->classes[i].id == id)
      return &c->classes[i];
  return NULL;
}

static const tclass *class_by_name(const chunk *c, const char *name) {
  for (int i = 0; i < c->nclasses; i++)
    if (!strcmp(c->classes[i].name, name))
      return &c->classes[i];
  return NULL;
}

static const char *mstr(const chunk *c, uint64_t idx) {
  if (idx >= c->nstrs || !c->strs[idx])
    fail_msg("metadata string index %llu out of range",
             (unsigned long long)idx);
  return c->strs[idx];
}

typedef enum { CTX_ROOT, CTX_META, CTX_CLASS, CTX_FIELD, CTX_OTHER } ctx;

/* Parses one element (recursively), filling the type table. */
static void rd_element(rd *r, chunk *c, ctx where, tclass *cls) {
  const char *name = mstr(c, rd_varint(r));
  uint64_t nattrs = rd_varint(r);
  const char *k[16], *v[16];
  uint64_t nkids;
  ctx kid_ctx = CTX_OTHER;
  tclass *kid_cls = cls;

  assert_true(nattrs <= 16);
  for (uint64_t i = 0; i < nattrs; i++) {
    k[i] = mstr(c, rd_varint(r));
    v[i] = mstr(c, rd_varint(r));
  }
  if (where == CTX_ROOT) {
    assert_string_equal(name, "root");
    kid_ctx = CTX_META;
  } else if (where == CTX_META && !strcmp(name, "metadata")) {
    kid_ctx = CTX_CLASS;
  } else if (where == CTX_META) {
    /* jfr-parser rejects any other child of root; the JDK needs region. */
    assert_string_equal(name, "region");
    c->has_region = true;
  } else if (where == CTX_CLASS && !strcmp(name, "class")) {
    assert_true(c->nclasses < MAX_CLASSES);
    kid_cls = &c->classes[c->nclasses++];
    memset(kid_cls, 0, sizeof *kid_cls);
    for (uint64_t i = 0; i < nattrs; i++) {
      if (!strcmp(k[i], "name"))
        snprintf(kid_cls->name, NAME_MAX_LEN, "%s", v[i]);
      else if (!strcmp(k[i], "id"))
        kid_cls->id = strtoull(v[i], NULL, 10);
      else if (!strcmp(k[i], "superType"))
        snprintf(kid_cls->super_type, NAME_MAX_LEN, "%s", v[i]);
      else if (!strcmp(k[i], "simpleType"))
        kid_cls->simple = !strcmp(v[i], "true");
    }
    kid_ctx = CTX_FIELD;
  } else if (where == CTX_FIELD && !strcmp(name, "field")) {
    tfield *f;

    assert_true(cls->nfields < MAX_FIELDS);
    f = &cls->fields[cls->nfields++];
    memset(f, 0, sizeof *f);
    for (uint64_t i = 0; i < nattrs; i++) {
      if (!strcmp(k[i], "name"))
        snprintf(f->name, NAME_MAX_LEN, "%s", v[i]);
      else if (!strcmp(k[i], "class"))
        f->type = strtoull(v[i], NULL, 10);
      else if (!strcmp(k[i], "constantPool"))
        f->cp = !strcmp(v[i], "true");
      else if (!strcmp(k[i], "dimension")) {
        assert_string_equal(v[i], "1"); /* jfr-parser allows only 1 */
        f->array = true;
      }
    }
    kid_ctx = CTX_FIELD; /* a field's children are annotations */
  }
  if (!strcmp(name, "annotation")) {
    for (uint64_t i = 0; i < nattrs; i++)
      if (!strcmp(k[i], "class") && c->nannotations < 256)
        c->annotations[c->nannotations++] = strtoull(v[i], NULL, 10);
  }
  nkids = rd_varint(r);
  for (uint64_t i = 0; i < nkids; i++)
    rd_element(r, c, kid_ctx, kid_cls);
}

static void parse_metadata(chunk *c, const uint8_t *base, size_t len) {
  rd r = {base + c->meta_off, base + len};
  const uint8_t *start = r.p;
  uint64_t size = rd_varint(&r);

  assert_true(size > 0 && size <= len - c->meta_off);
  r.end = start + size;
  assert_int_equal(rd_varint(&r), 0); /* type: metadata */
  rd_varint(&r);                      /* startTime */
  rd_varint(&r);                      /* duration */
  c->meta_id = rd_varint(&r);
  c->nstrs = rd_varint(&r);
  c->strs = calloc(c->nstrs ? c->nstrs : 1, sizeof(char *));
  assert_non_null(c->strs);
  for (uint64_t i = 0; i < c->nstrs; i++) {
    c->strs[i] = rd_string(&r);
    assert_non_null(c->strs[i]);
  }
  rd_element(&r, c, CTX_ROOT, NULL);
  assert_ptr_equal(r.p, r.end); /* the size covers exactly the content */
  assert_true(c->has_region);
}

static tval *add_val(chunk *c, const char *owner, uint64_t key,
                     const char *field) {
  tval *v;

  if (c->nvals == c->capvals) {
    c->capvals = c->capvals ? c->capvals * 2 : 256;
    c->vals = realloc(c->vals, c->capvals * sizeof *c->vals);
    assert_non_null(c->vals);
  }
  v = &c->vals[c->nvals++];
  memset(v, 0, sizeof *v);
  v->owner = owner;
  v->key = key;
  v->field = field;
  return v;
}

static void rd_value(rd *r, chunk *c, const char *owner, uint64_t key,
                     const char *field, const tclass *t);

static void rd_field(rd *r, chunk *c, const char *owner, uint64_t key,
                     const tfield *f) {
  const tclass *t = class_by_id(c, f->type);

  if (!t)
    fail_msg("field %s has undeclared type %llu", f->name,
             (unsigned long long)f->type);
  if (f->cp) {
    tval *v = add_val(c, owner, key, f->name);

    v->num = rd_varint_n(r, &v->raw_len);
    v->ref_to = f->type;
    return;
  }
  rd_value(r, c, owner, key, f->name, t);
}

static void rd_array_or_field(rd *r, chunk *c, const char *owner,
                              uint64_t key, const tfield *f) {
  if (!f->array) {
    rd_field(r, c, owner, key, f);
    return;
  }
  for (uint64_t n = rd_varint(r); n; n--)
    rd_field(r, c, owner, key, f);
}

/* Decodes one value of type t: a primitive, or its fields in order. */
static void rd_value(rd *r, chunk *c, const char *owner, uint64_t key,
                     const char *field, const tclass *t) {
  tval *v;

  if (t->nfields) {
    for (int i = 0; i < t->nfields; i++)
      rd_array_or_field(r, c, owner, key, &t->fields[i]);
    return;
  }
  v = add_val(c, owner, key, field);
  if (!strcmp(t->name, "java.lang.String")) {
    v->str = rd_string(r);
  } else if (!strcmp(t->name, "boolean") || !strcmp(t->name, "byte")) {
    v->num = rd_u8(r);
    v->raw_len = 1;
  } else if (!strcmp(t->name, "int") || !strcmp(t->name, "short") ||
             !strcmp(t->name, "char")) {
    const uint8_t *p = r->p;

    v->num = rd_int(r);
    v->raw_len = (size_t)(r->p - p);
  } else if (!strcmp(t->name, "long")) {
    v->num = rd_varint_n(r, &v->raw_len);
  } else {
    fail_msg("unexpected primitive %s", t->name);
  }
}

static void parse_checkpoint(chunk *c, const uint8_t *base, size_t len) {
  rd r = {base + c->cp_off, base + len};
  const uint8_t *start = r.p;
  uint64_t size = rd_varint(&r);

  assert_true(size > 0 && size <= len - c->cp_off);
  r.end = start + size;
  assert_int_equal(rd_varint(&r), 1); /* type: checkpoint */
  rd_varint(&r);                      /* startTime */
  rd_varint(&r);                      /* duration */
  c->cp_delta = rd_varint(&r);
  c->cp_flags = rd_u8(&r);
  c->npools = rd_varint(&r);
  for (uint64_t i = 0; i < c->npools; i++) {
    const tclass *t = class_by_id(c, rd_varint(&r));
    uint64_t n = rd_varint(&r);

    assert_non_null(t);
    if (n == 0)
      fail_msg("pool %s is empty (the JDK rejects that)", t->name);
    for (; n; n--) {
      uint64_t key = rd_varint(&r);
      /* Mark the entry itself, for reference checks. */
      tval *self = add_val(c, t->name, key, "");

      self->ref_to = UINT64_MAX;
      rd_value(&r, c, t->name, key, "", t);
    }
  }
  /* "Size of check point event doesn't match content" in the JDK. */
  assert_ptr_equal(r.p, r.end);
}

static void parse_events(chunk *c, const uint8_t *base) {
  rd r;
  const uint8_t *meta = base + c->meta_off;
  size_t meta_size;

  r.p = meta;
  r.end = base + c->cp_off;
  meta_size = rd_varint(&r);
  r.p = meta + meta_size;
  while (r.p < r.end) {
    const uint8_t *start = r.p;
    uint64_t size = rd_varint(&r);
    const tclass *t;
    rd ev;

    assert_true(size > 0 && size <= (uint64_t)(r.end - start));
    ev.p = r.p;
    ev.end = start + size;
    t = class_by_id(c, rd_varint(&ev));
    assert_non_null(t);
    assert_string_equal(t->super_type, "jdk.jfr.Event");
    assert_true(c->nevents < 4096);
    c->event_types[c->nevents] = t->id;
    for (int i = 0; i < t->nfields; i++)
      rd_array_or_field(&ev, c, t->name, c->nevents, &t->fields[i]);
    assert_ptr_equal(ev.p, ev.end);
    c->nevents++;
    r.p = start + size;
  }
  assert_ptr_equal(r.p, r.end);
}

static bool has_entry(const chunk *c, const char *pool, uint64_t key) {
  for (size_t i = 0; i < c->nvals; i++)
    if (c->vals[i].ref_to == UINT64_MAX && c->vals[i].key == key &&
        !strcmp(c->vals[i].owner, pool))
      return true;
  return false;
}

/* Every non-null constant-pool reference must name an existing entry. */
static void check_references(const chunk *c) {
  for (size_t i = 0; i < c->nvals; i++) {
    const tval *v = &c->vals[i];
    const tclass *t;

    if (!v->ref_to || v->ref_to == UINT64_MAX || !v->num)
      continue;
    t = class_by_id(c, v->ref_to);
    if (!has_entry(c, t->name, v->num))
      fail_msg("%s.%s references missing %s key %llu", v->owner, v->field,
               t->name, (unsigned long long)v->num);
  }
}

static void parse_header(chunk *c, const uint8_t *b, size_t len) {
  assert_true(len >= 68);
  assert_memory_equal(b, "FLR\0", 4);
  c->major = (uint16_t)be(b + 4, 2);
  c->minor = (uint16_t)be(b + 6, 2);
  c->size = be(b + 8, 8);
  c->cp_off = be(b + 16, 8);
  c->meta_off = be(b + 24, 8);
  c->start_nanos = be(b + 32, 8);
  c->duration = be(b + 40, 8);
  c->start_ticks = be(b + 48, 8);
  c->tps = be(b + 56, 8);
  memcpy(c->flags, b + 64, 4);
  assert_true(c->size >= 68 && c->size <= len);
  assert_true(c->cp_off >= 68 && c->cp_off < c->size);
  assert_true(c->meta_off >= 68 && c->meta_off < c->size);
}

/* Parses one chunk at b; its length is taken from the header. */
static chunk *parse_chunk(const uint8_t *b, size_t len) {
  chunk *c = calloc(1, sizeof *c);

  assert_non_null(c);
  parse_header(c, b, len);
  parse_metadata(c, b, c->size);
  parse_checkpoint(c, b, c->size);
  parse_events(c, b);
  check_references(c);
  return c;
}

static void free_chunk(chunk *c) {
  for (uint64_t i = 0; i < c->nstrs; i++)
    free(c->strs[i]);
  free(c->strs);
  for (size_t i = 0; i < c->nvals; i++)
    free(c->vals[i].str);
  free(c->vals);
  free(c);
}

/* The first value of `field` in entry `key` of pool/event `owner`. */
static const tval *find_val(const chunk *c, const char *owner, uint64_t key,
                            const char *field) {
  for (size_t i = 0; i < c->nvals; i++) {
    const tval *v = &c->vals[i];

    if (v->ref_to != UINT64_MAX && v->key == key && !strcmp(v->field, field) &&
        !strcmp(v->owner, owner))
      return v;
  }
  fail_msg("no %s[%llu].%s", owner, (unsigned long long)key, field);
  return NULL;
}

static const char *symbol(const chunk *c, uint64_t key) {
  return find_val(c, "jdk.types.Symbol", key, "string")->str;
}

static size_t pool_size(const chunk *c, const char *pool) {
  size_t n = 0;

  for (size_t i = 0; i < c->nvals; i++)
    if (c->vals[i].ref_to == UINT64_MAX && !strcmp(c->vals[i].owner, pool))
      n++;
  return n;
}

static uint64_t count_events(const chunk *c, const char *type) {
  const tclass *t = class_by_name(c, type);
  uint64_t n = 0;

  assert_non_null(t);
  for (uint64_t i = 0; i < c->nevents; i++)
    n += c->event_types[i] == t->id;
  return n;
}

/* ------------------------------------------------------------------------
 * Fixtures.
 * ---------------------------------------------------------------------- */

static pyr_jfr *new_writer(uint64_t key_base, size_t max_bytes) {
  pyr_jfr_config cfg = {NANOS0, T0, key_base, max_bytes};
  pyr_jfr *w = pyr_jfr_new(&cfg);

  assert_non_null(w);
  return w;
}

typedef struct demo {
  uint64_t thread, cls, leaf, main_m, stack;
} demo;

static void add_demo(pyr_jfr *w, demo *d) {
  pyr_jfr_frame f[2];

  d->thread = pyr_jfr_thread(w, 4242, "main", "main", 1);
  d->cls = pyr_jfr_class(w, "com/example/Demo", 1);
  d->leaf = pyr_jfr_method(w, d->cls, "leaf", "()V", 9, false);
  d->main_m = pyr_jfr_method(w, d->cls, "main", "([Ljava/lang/String;)V", 9,
                             false);
  f[0] = (pyr_jfr_frame){d->leaf, 10, 3, PYR_JFR_FRAME_JIT};
  f[1] = (pyr_jfr_frame){d->main_m, 20, -1, PYR_JFR_FRAME_INTERPRETED};
  d->stack = pyr_jfr_stack(w, f, 2, false);
  assert_true(d->thread && d->cls && d->leaf && d->main_m && d->stack);
}

static chunk *finish_and_parse(pyr_jfr *w, uint64_t end, uint8_t **out,
                               size_t *len) {
  chunk *c;

  assert_int_equal(pyr_jfr_finish(w, end, out, len), 0);
  assert_non_null(*out);
  c = parse_chunk(*out, *len);
  assert_int_equal(c->size, *len);
  return c;
}

/* ------------------------------------------------------------------------
 * Tests.
 * ---------------------------------------------------------------------- */

static void expect_varint(uint64_t v, const uint8_t *want, size_t n) {
  uint8_t out[9];
  rd r = {out, out + sizeof out};
  size_t got_n;

  memset(out, 0xEE, sizeof out);
  assert_int_equal(pyr_jfr_varint(out, v), n);
  assert_memory_equal(out, want, n);
  assert_int_equal(rd_varint_n(&r, &got_n), v);
  assert_int_equal(got_n, n);
}

static void test_varint_encoding(void **state) {
  static const uint8_t v0[] = {0x00};
  static const uint8_t v127[] = {0x7F};
  static const uint8_t v128[] = {0x80, 0x01};
  static const uint8_t v300[] = {0xAC, 0x02};
  static const uint8_t u32max[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x0F};
  static const uint8_t p56[] = {0x80, 0x80, 0x80, 0x80, 0x80,
                                0x80, 0x80, 0x80, 0x01};
  static const uint8_t p63[] = {0x80, 0x80, 0x80, 0x80, 0x80,
                                0x80, 0x80, 0x80, 0x80};
  static const uint8_t u64max[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                   0xFF, 0xFF, 0xFF, 0xFF};

  (void)state;
  expect_varint(0, v0, 1);
  expect_varint(127, v127, 1);
  expect_varint(128, v128, 2);
  expect_varint(300, v300, 2);
  expect_varint(UINT32_MAX, u32max, 5);
  expect_varint(1ull << 56, p56, 9);
  /* The 9th byte carries 8 bits: bit 63 is its top bit, no continuation. */
  expect_varint(1ull << 63, p63, 9);
  expect_varint(UINT64_MAX, u64max, 9);
  {
    /* 2^56 - 1 still fits the 8 seven-bit groups. */
    uint8_t out[9];

    assert_int_equal(pyr_jfr_varint(out, (1ull << 56) - 1), 8);
    assert_int_equal(out[7], 0x7F);
  }
}

static void test_header_fields(void **state) {
  pyr_jfr *w = new_writer(0, 1 << 20);
  demo d;
  uint8_t *out;
  size_t len;
  chunk *c;

  (void)state;
  add_demo(w, &d);
  assert_int_equal(pyr_jfr_execution_sample(w, T0 + 5, d.thread, d.stack,
                                            PYR_JFR_STATE_RUNNABLE),
                   0);
  c = finish_and_parse(w, T0 + 2500000000ull, &out, &len);
  assert_int_equal(c->major, 2);
  assert_int_equal(c->minor, 0);
  assert_int_equal(c->size, len);
  assert_int_equal(c->meta_off, 68);
  assert_int_equal(c->start_nanos, NANOS0);
  assert_int_equal(c->start_ticks, T0);
  assert_int_equal(c->duration, 2500000000ull);
  assert_int_equal(c->tps, 1000000000ull);
  assert_int_equal(c->flags[0], 0);
  assert_int_equal(c->flags[1], 0);
  assert_int_equal(c->flags[2], 0);
  assert_int_equal(c->flags[3], 1);
  /* The checkpoint is the last record: it ends the chunk. */
  assert_true(c->cp_off > c->meta_off);
  assert_int_equal(c->cp_delta, 0);
  assert_int_equal(c->cp_flags, 1);
  free_chunk(c);
  free(out);
  pyr_jfr_free(w);
}

static void test_metadata_declares_required_types(void **state) {
  static const char *const required[] = {
      "boolean", "byte", "char", "short", "int", "long", "float", "double",
      "java.lang.String", "java.lang.Thread", "java.lang.Class",
      "jdk.types.ClassLoader", "jdk.types.Package", "jdk.types.Method",
      "jdk.types.StackTrace", "jdk.types.StackFrame", "jdk.types.FrameType",
      "jdk.types.ThreadState", "jdk.types.Symbol", "jdk.ExecutionSample",
      "profiler.WallClockSample", "jdk.ObjectAllocationInNewTLAB",
      "jdk.ObjectAllocationOutsideTLAB", "jdk.JavaMonitorEnter",
      "jdk.ThreadPark", "jdk.ActiveSetting"};
  pyr_jfr *w = new_writer(0, 1 << 20);
  uint8_t *out;
  size_t len;
  chunk *c;
  const tclass *t;

  (void)state;
  c = finish_and_parse(w, T0, &out, &len);
  /* Byte 68 starts the metadata record: size, then type 0. */
  {
    rd r = {out + 68, out + len};

    rd_varint(&r);
    assert_int_equal(rd_varint(&r), 0);
  }
  assert_true(c->meta_id != 0);
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!class_by_name(c, required[i]))
      fail_msg("metadata lacks %s", required[i]);
  /* Every field type and annotation class is declared. */
  for (int i = 0; i < c->nclasses; i++)
    for (int j = 0; j < c->classes[i].nfields; j++)
      assert_non_null(class_by_id(c, c->classes[i].fields[j].type));
  for (int i = 0; i < c->nannotations; i++)
    assert_non_null(class_by_id(c, c->annotations[i]));
  /* Readers assume startTime is field 0 and duration field 1. */
  for (int i = 0; i < c->nclasses; i++) {
    const tclass *e = &c->classes[i];

    if (strcmp(e->super_type, "jdk.jfr.Event"))
      continue;
    assert_string_equal(e->fields[0].name, "startTime");
    for (int j = 2; j < e->nfields; j++)
      assert_string_not_equal(e->fields[j].name, "duration");
  }
  assert_string_equal(class_by_name(c, "jdk.JavaMonitorEnter")->fields[1].name,
                      "duration");
  /* async-profiler's fixed-layout field lists. */
  t = class_by_name(c, "java.lang.Thread");
  assert_int_equal(t->nfields, 4);
  assert_string_equal(t->fields[0].name, "osName");
  assert_string_equal(t->fields[1].name, "osThreadId");
  assert_string_equal(t->fields[2].name, "javaName");
  assert_string_equal(t->fields[3].name, "javaThreadId");
  t = class_by_name(c, "java.lang.Class");
  assert_int_equal(t->nfields, 4);
  assert_string_equal(t->fields[0].name, "classLoader");
  assert_string_equal(t->fields[3].name, "modifiers");
  t = class_by_name(c, "jdk.types.Method");
  assert_int_equal(t->nfields, 5);
  assert_string_equal(t->fields[2].name, "descriptor");
  t = class_by_name(c, "jdk.types.StackTrace");
  assert_true(t->fields[1].array);
  assert_false(t->fields[1].cp);
  assert_true(class_by_name(c, "jdk.types.Symbol")->simple);
  t = class_by_name(c, "jdk.ExecutionSample");
  assert_string_equal(t->fields[3].name, "state");
  assert_true(t->fields[3].cp);
  /* An empty writer still has the fixed pools and nothing else. */
  assert_int_equal(c->npools, 2);
  assert_int_equal(pool_size(c, "jdk.types.FrameType"), 4);
  assert_int_equal(pool_size(c, "jdk.types.ThreadState"), 3);
  assert_int_equal(c->nevents, 0);
  free_chunk(c);
  free(out);
  pyr_jfr_free(w);
}

static void test_pools_and_events_decode(void **state) {
  pyr_jfr *w = new_writer(0, 1 << 20);
  demo d;
  uint8_t *out;
  size_t len;
  chunk *c;
  uint64_t obj;

  (void)state;
  add_demo(w, &d);
  obj = pyr_jfr_class(w, "java/lang/Object", 1);
  assert_int_equal(pyr_jfr_execution_sample(w, T0 + 1, d.thread, d.stack,
                                            PYR_JFR_STATE_RUNNABLE),
                   0);
  assert_int_equal(pyr_jfr_wall_sample(w, T0 + 2, d.thread, d.stack,
                                       PYR_JFR_STATE_SLEEPING, 7, 70),
                   0);
  assert_int_equal(pyr_jfr_alloc_in_new_tlab(w, T0 + 3, d.thread, d.stack,
                                             obj, 24, 4096),
                   0);
  assert_int_equal(
      pyr_jfr_alloc_outside_tlab(w, T0 + 4, d.thread, d.stack, obj, 99999),
      0);
  assert_int_equal(
      pyr_jfr_monitor_enter(w, T0 + 5, 1000, d.thread, d.stack, obj, 0xABC),
      0);
  assert_int_equal(pyr_jfr_thread_park(w, T0 + 6, 2000, d.thread, d.stack,
                                       obj, -1, INT64_MIN, 0xDEF),
                   0);
  assert_int_equal(pyr_jfr_active_setting(w, T0, "event", "itimer"), 0);
  assert_int_equal(pyr_jfr_event_count(w), 7);
  c = finish_and_parse(w, T0 + 10, &out, &len);
  assert_int_equal(c->nevents, 7);
  assert_int_equal(count_events(c, "jdk.ExecutionSample"), 1);
  assert_int_equal(count_events(c, "jdk.ThreadPark"), 1);
  /* ExecutionSample is event 0: thread, stack and state keys. */
  assert_int_equal(find_val(c, "jdk.ExecutionSample", 0, "startTime")->num,
                   T0 + 1);
  assert_int_equal(find_val(c, "jdk.ExecutionSample", 0, "sampledThread")->num,
                   d.thread);
  assert_int_equal(find_val(c, "jdk.ExecutionSample", 0, "stackTrace")->num,
                   d.stack);
  assert_int_equal(find_val(c, "jdk.ExecutionSample", 0, "state")->num,
                   PYR_JFR_STATE_RUNNABLE);
  assert_string_equal(find_val(c, "jdk.types.ThreadState",
                               PYR_JFR_STATE_RUNNABLE, "name")->str,
                      "STATE_RUNNABLE");
  assert_string_equal(
      find_val(c, "jdk.types.FrameType", PYR_JFR_FRAME_JIT, "description")
          ->str,
      "JIT compiled");
  assert_int_equal(find_val(c, "jdk.ThreadPark", 5, "until")->raw_len, 9);
  assert_string_equal(find_val(c, "jdk.ActiveSetting", 6, "value")->str,
                      "itimer");
  /* Pools: method -> class -> package and symbols. */
  assert_string_equal(
      symbol(c, find_val(c, "jdk.types.Method", d.leaf, "name")->num), "leaf");
  assert_string_equal(
      symbol(c, find_val(c, "jdk.types.Method", d.main_m, "descriptor")->num),
      "([Ljava/lang/String;)V");
  assert_int_equal(find_val(c, "jdk.types.Method", d.leaf, "type")->num,
                   d.cls);
  assert_string_equal(
      symbol(c, find_val(c, "java.lang.Class", d.cls, "name")->num),
      "com/example/Demo");
  assert_int_equal(find_val(c, "java.lang.Class", d.cls, "classLoader")->num,
                   0);
  {
    uint64_t pkg = find_val(c, "java.lang.Class", d.cls, "package")->num;

    assert_string_equal(
        symbol(c, find_val(c, "jdk.types.Package", pkg, "name")->num),
        "com/example");
  }
  assert_string_equal(find_val(c, "java.lang.Thread", d.thread, "javaName")->str,
                      "main");
  assert_int_equal(find_val(c, "java.lang.Thread", d.thread, "osThreadId")->num,
                   4242);
  assert_int_equal(
      find_val(c, "jdk.types.StackTrace", d.stack, "lineNumber")->num, 10);
  /* bci -1 is the unsigned 32-bit value, 5 bytes, not a 9-byte long. */
  {
    int seen = 0;

    for (size_t i = 0; i < c->nvals; i++) {
      const tval *v = &c->vals[i];

      if (!strcmp(v->field, "bytecodeIndex") && v->num == UINT32_MAX) {
        assert_int_equal(v->raw_len, 5);
        seen++;
      }
    }
    assert_int_equal(seen, 1);
  }
  free_chunk(c);
  free(out);
  pyr_jfr_free(w);
}

/* Finds `needle` in the chunk; used to check exact encodings. */
static bool contains(const uint8_t *b, size_t len, const void *needle,
                     size_t n) {
  for (size_t i = 0; i + n <= len; i++)
    if (!memcmp(b + i, needle, n))
      return true;
  return false;
}

static void test_strings_are_utf8_and_null(void **state) {
  pyr_jfr *w = new_writer(0, 1 << 20);
  const char *s = "h\xC3\xA9llo \xE2\x86\x92 \xF0\x9F\x94\xA5"; /* é → 🔥 */
  uint8_t want[64];
  uint8_t *out;
  size_t len;
  uint64_t k, t;
  chunk *c;

  (void)state;
  k = pyr_jfr_symbol(w, s);
  t = pyr_jfr_thread(w, 7, "native-thread", NULL, 99);
  assert_true(k && t);
  c = finish_and_parse(w, T0, &out, &len);
  /* Encoding 3, byte length, raw bytes. */
  want[0] = 3;
  want[1] = (uint8_t)strlen(s);
  memcpy(want + 2, s, strlen(s));
  assert_true(contains(out, len, want, 2 + strlen(s)));
  assert_string_equal(symbol(c, k), s);
  /* Null java name: encoding 0; javaThreadId then written as 0. */
  assert_null(find_val(c, "java.lang.Thread", t, "javaName")->str);
  assert_int_equal(find_val(c, "java.lang.Thread", t, "javaThreadId")->num, 0);
  assert_string_equal(find_val(c, "java.lang.Thread", t, "osName")->str,
                      "native-thread");
  free_chunk(c);
  free(out);
  pyr_jfr_free(w);
}

static void test_interning_returns_equal_keys(void **state) {
  const uint64_t base = 0x5000000;
  pyr_jfr *w = new_writer(base, 1 << 20);
  pyr_jfr_frame f[2];
  uint64_t a, b, c1, c2, c3, m1, m2, m3, t1, t2, t3, s1, s2, s3;
  uint8_t *out;
  size_t len;
  chunk *c;

  (void)state;
  a = pyr_jfr_symbol(w, "alpha");
  b = pyr_jfr_symbol(w, "beta");
  assert_true(a > base && b > base && a != b);
  assert_int_equal(pyr_jfr_symbol(w, "alpha"), a);
  c1 = pyr_jfr_class(w, "com/example/Demo", 1);
  c2 = pyr_jfr_class(w, "com/example/Demo", 1);
  c3 = pyr_jfr_class(w, "com/example/Demo", 17);
  assert_int_equal(c1, c2);
  assert_int_not_equal(c1, c3);
  m1 = pyr_jfr_method(w, c1, "run", "()V", 1, false);
  m2 = pyr_jfr_method(w, c1, "run", "()V", 1, false);
  m3 = pyr_jfr_method(w, c1, "run", "(I)V", 1, false);
  assert_int_equal(m1, m2);
  assert_int_not_equal(m1, m3);
  t1 = pyr_jfr_thread(w, 1, "a", "a", 1);
  t2 = pyr_jfr_thread(w, 1, "a", "a", 1);
  t3 = pyr_jfr_thread(w, 2, "a", "a", 1);
  assert_int_equal(t1, t2);
  assert_int_not_equal(t1, t3);
  f[0] = (pyr_jfr_frame){m1, 1, 2, PYR_JFR_FRAME_JIT};
  f[1] = (pyr_jfr_frame){m3, 3, 4, PYR_JFR_FRAME_INLINED};
  s1 = pyr_jfr_stack(w, f, 2, false);
  s2 = pyr_jfr_stack(w, f, 2, false);
  s3 = pyr_jfr_stack(w, f, 2, true);
  assert_int_equal(s1, s2);
  assert_int_not_equal(s1, s3);
  assert_true(s1 > base && t1 > base && m1 > base && c1 > base);
  /* Keys are key_base + n, n from 1, per pool. */
  assert_int_equal(a, base + 1);
  assert_int_equal(t1, base + 1);
  c = finish_and_parse(w, T0, &out, &len);
  /* Interned once each: one package although two classes use it. */
  assert_int_equal(pool_size(c, "jdk.types.Package"), 1);
  assert_int_equal(pool_size(c, "java.lang.Class"), 2);
  assert_int_equal(pool_size(c, "jdk.types.Method"), 2);
  assert_int_equal(pool_size(c, "java.lang.Thread"), 2);
  assert_int_equal(pool_size(c, "jdk.types.StackTrace"), 2);
  free_chunk(c);
  free(out);
  pyr_jfr_free(w);
}

static void test_many_symbols_grow_the_table(void **state) {
  enum { N = 20000 };
  pyr_jfr *w = new_writer(0, 64 << 20);
  uint64_t *keys = calloc(N, sizeof *keys);
  char name[32];

  (void)state;
  assert_non_null(keys);
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof name, "sym%d", i);
    keys[i] = pyr_jfr_symbol(w, name);
    assert_int_equal(keys[i], (uint64_t)i + 1);
  }
  for (int i = N - 1; i >= 0; i--) {
    snprintf(name, sizeof name, "sym%d", i);
    assert_int_equal(pyr_jfr_symbol(w, name), keys[i]);
  }
  free(keys);
  pyr_jfr_free(w);
}

static void test_package_derivation(void **state) {
  pyr_jfr *w = new_writer(0, 1 << 20);
  uint64_t top, arr, nested;
  uint8_t *out;
  size_t len;
  chunk *c;

  (void)state;
  top = pyr_jfr_class(w, "Main", 1);
  arr = pyr_jfr_class(w, "[Ljava/lang/String;", 1);
  nested = pyr_jfr_class(w, "a/b/c/D$E", 1);
  c = finish_and_parse(w, T0, &out, &len);
  assert_int_equal(find_val(c, "java.lang.Class", top, "package")->num, 0);
  assert_int_equal(find_val(c, "java.lang.Class", arr, "package")->num, 0);
  assert_string_equal(
      symbol(c, find_val(c, "jdk.types.Package",
                         find_val(c, "java.lang.Class", nested, "package")->num,
                         "name")
                    ->num),
      "a/b/c");
  free_chunk(c);
  free(out);
  pyr_jfr_free(w);
}

/* Key 0 (null) must never reach a frame's method or a method's class:
 * `jfr print` dies on either.  Null threads/stacks in events are fine. */
static void test_null_references_stay_printable(void **state) {
  pyr_jfr *w = new_writer(0, 1 << 20);
  pyr_jfr_frame f = {0, -1, -1, PYR_JFR_FRAME_NATIVE};
  uint64_t s, m, ph;
  uint8_t *out;
  size_t len;
  chunk *c;

  (void)state;
  s = pyr_jfr_stack(w, &f, 1, true);
  m = pyr_jfr_method(w, 0, "orphan", NULL, 0, false);
  assert_true(s && m);
  assert_int_equal(
      pyr_jfr_execution_sample(w, T0, 0, 0, PYR_JFR_STATE_DEFAULT), 0);
  assert_int_equal(
      pyr_jfr_execution_sample(w, T0, 0, s, PYR_JFR_STATE_RUNNABLE), 0);
  c = finish_and_parse(w, T0, &out, &len);
  ph = find_val(c, "jdk.types.StackTrace", s, "method")->num;
  assert_true(ph != 0);
  assert_string_equal(symbol(c, find_val(c, "jdk.types.Method", ph, "name")->num),
                      "unknown");
  assert_true(find_val(c, "jdk.types.Method", m, "type")->num != 0);
  assert_string_equal(
      symbol(c, find_val(c, "jdk.types.Method", m, "descriptor")->num), "()V");
  assert_int_equal(find_val(c, "jdk.types.StackTrace", s, "lineNumber")->num,
                   UINT32_MAX);
  assert_int_equal(c->nevents, 2);
  free_chunk(c);
  free(out);
  pyr_jfr_free(w);
}

static void test_invalid_arguments(void **state) {
  pyr_jfr *w = new_writer(0, 1 << 20);
  pyr_jfr_frame bad = {0, 1, 1, 9};
  uint8_t *out = NULL;
  size_t len = 0;

  (void)state;
  assert_null(pyr_jfr_new(NULL));
  assert_int_equal(pyr_jfr_symbol(w, NULL), 0);
  assert_int_equal(pyr_jfr_class(w, NULL, 0), 0);
  assert_int_equal(pyr_jfr_method(w, 0, NULL, "()V", 0, false), 0);
  assert_int_equal(pyr_jfr_stack(w, &bad, 1, false), 0);
  assert_int_equal(pyr_jfr_stack(w, NULL, 3, false), 0);
  assert_int_equal(
      pyr_jfr_execution_sample(w, T0, 0, 0, (enum pyr_jfr_state)7), -1);
  assert_int_equal(pyr_jfr_event_count(w), 0);
  assert_int_equal(pyr_jfr_finish(NULL, T0, &out, &len), -1);
  assert_int_equal(pyr_jfr_symbol(NULL, "x"), 0);
  assert_int_equal(pyr_jfr_execution_sample(NULL, 0, 0, 0, 0), -1);
  pyr_jfr_free(NULL);
  pyr_jfr_free(w);
}

static void test_bound_drops_and_stays_valid(void **state) {
  pyr_jfr *w = new_writer(0, 16 * 1024);
  uint64_t attempts = 0, ok = 0, failed_pool = 0;
  uint8_t *out;
  size_t len;
  chunk *c;
  demo d;

  (void)state;
  add_demo(w, &d);
  for (int i = 0; i < 5000; i++) {
    char name[32];
    uint64_t m;
    pyr_jfr_frame f;
    uint64_t s;

    snprintf(name, sizeof name, "method%d", i);
    m = pyr_jfr_method(w, d.cls, name, "()V", 1, false);
    f = (pyr_jfr_frame){m, i, 0, PYR_JFR_FRAME_JIT};
    s = m ? pyr_jfr_stack(w, &f, 1, false) : 0;
    failed_pool += (m == 0 || s == 0);
    attempts++;
    ok += pyr_jfr_execution_sample(w, T0 + (uint64_t)i, d.thread,
                                   s ? s : d.stack,
                                   PYR_JFR_STATE_RUNNABLE) == 0;
  }
  assert_true(failed_pool > 0);
  assert_true(pyr_jfr_dropped_events(w) > 0);
  assert_int_equal(pyr_jfr_event_count(w), ok);
  assert_int_equal(ok + pyr_jfr_dropped_events(w), attempts);
  /* Already-pooled inputs keep resolving after the bound is hit. */
  assert_int_equal(pyr_jfr_class(w, "com/example/Demo", 1), d.cls);
  {
    /* New entries fail once the spare capacity is used up. */
    int refused = 0;

    for (int i = 0; i < 1000; i++) {
      char name[32];

      snprintf(name, sizeof name, "late-symbol-%d", i);
      refused += pyr_jfr_symbol(w, name) == 0;
    }
    assert_true(refused > 0);
  }
  c = finish_and_parse(w, T0 + 5000, &out, &len);
  assert_int_equal(c->nevents, ok);
  assert_int_equal(c->meta_off, 68);
  assert_int_equal(c->size, len);
  free_chunk(c);
  free(out);
  pyr_jfr_free(w);
}

static void test_zero_budget(void **state) {
  pyr_jfr *w = new_writer(0, 0);
  uint8_t *out;
  size_t len;
  chunk *c;

  (void)state;
  assert_int_equal(pyr_jfr_symbol(w, "x"), 0);
  assert_int_equal(pyr_jfr_thread(w, 1, "t", "t", 1), 0);
  assert_int_equal(
      pyr_jfr_execution_sample(w, T0, 0, 0, PYR_JFR_STATE_RUNNABLE), -1);
  assert_int_equal(pyr_jfr_dropped_events(w), 1);
  c = finish_and_parse(w, T0, &out, &len);
  assert_int_equal(c->nevents, 0);
  assert_int_equal(c->npools, 2);
  free_chunk(c);
  free(out);
  pyr_jfr_free(w);
}

static void test_two_chunks_back_to_back(void **state) {
  uint8_t *a, *b, *file;
  size_t alen, blen;
  chunk *c1, *c2;
  demo d1, d2;

  (void)state;
  {
    pyr_jfr *w = new_writer(0, 1 << 20);

    add_demo(w, &d1);
    pyr_jfr_execution_sample(w, T0, d1.thread, d1.stack,
                             PYR_JFR_STATE_RUNNABLE);
    assert_int_equal(pyr_jfr_finish(w, T0 + 10, &a, &alen), 0);
    pyr_jfr_free(w);
  }
  {
    pyr_jfr *w = new_writer(0x1000000, 1 << 20);

    add_demo(w, &d2);
    pyr_jfr_execution_sample(w, T0, d2.thread, d2.stack,
                             PYR_JFR_STATE_RUNNABLE);
    assert_int_equal(pyr_jfr_finish(w, T0 + 10, &b, &blen), 0);
    pyr_jfr_free(w);
  }
  /* No key is reused for different content across the two chunks. */
  assert_true(d2.stack > 0x1000000 && d2.thread > 0x1000000);
  assert_int_not_equal(d1.stack, d2.stack);
  file = malloc(alen + blen);
  assert_non_null(file);
  memcpy(file, a, alen);
  memcpy(file + alen, b, blen);
  c1 = parse_chunk(file, alen + blen);
  assert_int_equal(c1->size, alen);
  c2 = parse_chunk(file + c1->size, alen + blen - c1->size);
  assert_int_equal(c2->size, blen);
  assert_int_equal(c1->nevents + c2->nevents, 2);
  assert_string_equal(find_val(c2, "java.lang.Thread", d2.thread, "osName")->str,
                      "main");
  free_chunk(c1);
  free_chunk(c2);
  free(a);
  free(b);
  free(file);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varint_encoding),
      cmocka_unit_test(test_header_fields),
      cmocka_unit_test(test_metadata_declares_required_types),
      cmocka_unit_test(test_pools_and_events_decode),
      cmocka_unit_test(test_strings_are_utf8_and_null),
      cmocka_unit_test(test_interning_returns_equal_keys),
      cmocka_unit_test(test_many_symbols_grow_the_table),
      cmocka_unit_test(test_package_derivation),
      cmocka_unit_test(test_null_references_stay_printable),
      cmocka_unit_test(test_invalid_arguments),
      cmocka_unit_test(test_bound_drops_and_stays_valid),
      cmocka_unit_test(test_zero_budget),
      cmocka_unit_test(test_two_chunks_back_to_back),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
