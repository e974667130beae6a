/*
 * test_jfr_parse.c - the JFR reader (server/jfr_parse.c) and the JFR ->
 * profiles converter (server/jfr_profiles.c) on recordings built byte by
 * byte here: every string encoding (0-5, String-pool references), 9-byte
 * and padded varints, fields bound by name in any order, checkpoints split
 * and chained by delta, metadata after the events, a ChunkHeader pool,
 * multi-chunk files with reused keys, gzip, labels (contextId and spanName
 * through a LabelsSnapshot), profiler.LiveObject, Pyroscope's value and
 * naming rules; and hostile input: truncation at every byte, bad sizes and
 * offsets, delta loops, huge counts, deep nesting, recursive types,
 * undeclared type ids, String-pool reference cycles, memory limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "jfr_parse.h"
#include "jfr_profiles.h"

/* ------------------------------------------------------------ byte buffer */

typedef struct bb {
  uint8_t *d;
  size_t n, cap;
} bb;

static void bput(bb *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->n + n)
      c *= 2;
    b->d = realloc(b->d, c);
    assert_non_null(b->d);
    b->cap = c;
  }
  if (n)
    memcpy(b->d + b->n, p, n);
  b->n += n;
}
static void b_u8(bb *b, uint8_t v) { bput(b, &v, 1); }
static void b_var(bb *b, uint64_t v) {
  for (int i = 0; i < 8; i++) {
    if (v < 0x80) {
      b_u8(b, (uint8_t)v);
      return;
    }
    b_u8(b, (uint8_t)(0x80 | (v & 0x7f)));
    v >>= 7;
  }
  b_u8(b, (uint8_t)v);
}
/* Always 9 bytes: 8 groups of 7 bits with continuation, then 8 bits. */
static void b_var9(bb *b, uint64_t v) {
  for (int i = 0; i < 8; i++) {
    b_u8(b, (uint8_t)(0x80 | (v & 0x7f)));
    v >>= 7;
  }
  b_u8(b, (uint8_t)v);
}
/* async-profiler's padded 5-byte form of a value < 2^35. */
static void b_var5(bb *b, uint64_t v) {
  for (int i = 0; i < 4; i++)
    b_u8(b, (uint8_t)(0x80 | ((v >> (7 * i)) & 0x7f)));
  b_u8(b, (uint8_t)(v >> 28));
}
static void b_utf8(bb *b, const char *s) {
  b_u8(b, 3);
  b_var(b, strlen(s));
  bput(b, s, strlen(s));
}
static void b_utf16(bb *b, const char *s) { /* ASCII in, char array out */
  b_u8(b, 4);
  b_var(b, strlen(s));
  for (const char *c = s; *c; c++)
    b_var(b, (uint8_t)*c);
}
static void b_latin1(bb *b, const char *s) {
  b_u8(b, 5);
  b_var(b, strlen(s));
  bput(b, s, strlen(s));
}
static void b_strref(bb *b, uint64_t key) {
  b_u8(b, 2);
  b_var(b, key);
}
static void b_be64(bb *b, uint64_t v) {
  uint8_t x[8];
  for (int i = 7; i >= 0; i--) {
    x[i] = (uint8_t)v;
    v >>= 8;
  }
  bput(b, x, 8);
}
static void b_free(bb *b) {
  free(b->d);
  memset(b, 0, sizeof(*b));
}

/* A record: padded 5-byte size (counting itself), type id, payload. */
static void b_record(bb *out, uint64_t type, const bb *payload) {
  bb t = {0};
  b_var(&t, type);
  b_var5(out, 5 + t.n + payload->n);
  bput(out, t.d, t.n);
  bput(out, payload->d, payload->n);
  b_free(&t);
}

/* --------------------------------------------------------------- metadata */

typedef struct fdef {
  const char *name, *type; /* type: class name, or "#<id>" for a raw id */
  int cp, array;
} fdef;

typedef struct cdef {
  uint64_t id;
  const char *name, *super;
  fdef f[10];
} cdef;

enum {
  C_LONG = 10, C_INT, C_BOOL, C_STRING, C_SYMBOL, C_CLASS, C_METHOD, C_FRAME, C_STACK, C_TSTATE,
  C_EXEC = 100, C_SETTING, C_WALL, C_TLAB, C_PARK, C_ALLOCS, C_CHUNKHDR = 40, C_BYTE = 41,
};

/* Field order deliberately differs from async-profiler's in places: the
 * reader must bind by name. */
static const cdef std_classes[] = {
    {C_LONG, "long", NULL, {{0}}},
    {C_INT, "int", NULL, {{0}}},
    {C_BOOL, "boolean", NULL, {{0}}},
    {C_BYTE, "byte", NULL, {{0}}},
    {C_STRING, "java.lang.String", NULL, {{0}}},
    {C_SYMBOL, "jdk.types.Symbol", NULL, {{"string", "java.lang.String", 0, 0}}},
    {C_CLASS, "java.lang.Class", NULL,
     {{"modifiers", "int", 0, 0}, {"name", "jdk.types.Symbol", 1, 0}}},
    {C_METHOD, "jdk.types.Method", NULL,
     {{"type", "java.lang.Class", 1, 0},
      {"name", "jdk.types.Symbol", 1, 0},
      {"descriptor", "jdk.types.Symbol", 1, 0},
      {"hidden", "boolean", 0, 0}}},
    {C_FRAME, "jdk.types.StackFrame", NULL,
     {{"method", "jdk.types.Method", 1, 0},
      {"lineNumber", "int", 0, 0},
      {"bytecodeIndex", "int", 0, 0}}},
    {C_STACK, "jdk.types.StackTrace", NULL,
     {{"truncated", "boolean", 0, 0}, {"frames", "jdk.types.StackFrame", 0, 1}}},
    {C_TSTATE, "jdk.types.ThreadState", NULL, {{"name", "java.lang.String", 0, 0}}},
    {C_CHUNKHDR, "jdk.types.ChunkHeader", NULL, {{"payload", "byte", 0, 1}}},
    {C_EXEC, "jdk.ExecutionSample", "jdk.jfr.Event",
     {{"startTime", "long", 0, 0},
      {"state", "jdk.types.ThreadState", 1, 0},
      {"stackTrace", "jdk.types.StackTrace", 1, 0},
      {"contextId", "long", 0, 0},
      {"spanId", "long", 0, 0}}},
    {C_SETTING, "jdk.ActiveSetting", "jdk.jfr.Event",
     {{"startTime", "long", 0, 0},
      {"id", "long", 0, 0},
      {"name", "java.lang.String", 0, 0},
      {"value", "java.lang.String", 0, 0}}},
    {C_WALL, "profiler.WallClockSample", "jdk.jfr.Event",
     {{"startTime", "long", 0, 0},
      {"stackTrace", "jdk.types.StackTrace", 1, 0},
      {"state", "jdk.types.ThreadState", 1, 0},
      {"samples", "int", 0, 0}}},
    {C_TLAB, "jdk.ObjectAllocationInNewTLAB", "jdk.jfr.Event",
     {{"startTime", "long", 0, 0},
      {"stackTrace", "jdk.types.StackTrace", 1, 0},
      {"allocationSize", "long", 0, 0},
      {"tlabSize", "long", 0, 0},
      {"contextId", "long", 0, 0}}},
    {C_PARK, "jdk.ThreadPark", "jdk.jfr.Event",
     {{"startTime", "long", 0, 0},
      {"duration", "long", 0, 0},
      {"stackTrace", "jdk.types.StackTrace", 1, 0},
      {"contextId", "long", 0, 0}}},
};
#define N_STD (sizeof(std_classes) / sizeof(std_classes[0]))

typedef struct strtab {
  const char *s[512];
  size_t n;
} strtab;

static uint64_t st_idx(strtab *t, const char *s) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->s[i], s) == 0)
      return i;
  assert_true(t->n < 512);
  t->s[t->n] = s;
  return t->n++;
}

static char numbuf[64][24];
static int numbuf_i;
static const char *num(uint64_t v) {
  char *b = numbuf[numbuf_i++ % 64];
  snprintf(b, 24, "%llu", (unsigned long long)v);
  return b;
}

static void el(bb *t, strtab *st, const char *name, size_t nattr, const char *const *kv,
               uint64_t nchild) {
  b_var(t, st_idx(st, name));
  b_var(t, nattr);
  for (size_t i = 0; i < nattr; i++) {
    b_var(t, st_idx(st, kv[2 * i]));
    b_var(t, st_idx(st, kv[2 * i + 1]));
  }
  b_var(t, nchild);
}

static uint64_t class_id(const cdef *cs, size_t n, const char *type) {
  if (type[0] == '#')
    return strtoull(type + 1, NULL, 10);
  for (size_t i = 0; i < n; i++)
    if (strcmp(cs[i].name, type) == 0)
      return cs[i].id;
  fail_msg("test bug: no class %s", type);
  return 0;
}

/* The metadata record for classes cs; utf16 picks the string encoding of
 * the string table (the JDK uses char arrays there). */
static void b_metadata(bb *out, const cdef *cs, size_t n, int utf16) {
  strtab st = {0};
  bb tree = {0}, rec = {0};
  el(&tree, &st, "root", 0, NULL, 2);
  el(&tree, &st, "metadata", 0, NULL, n);
  for (size_t i = 0; i < n; i++) {
    const char *kv[6] = {"name", cs[i].name, "id", num(cs[i].id), "superType", cs[i].super};
    size_t nf = 0;
    while (nf < 10 && cs[i].f[nf].name)
      nf++;
    el(&tree, &st, "class", cs[i].super ? 3 : 2, kv, nf + (cs[i].super ? 1 : 0));
    if (cs[i].super) { /* an annotation-ish child that must be ignored */
      const char *akv[4] = {"class", "200", "value", "x"};
      el(&tree, &st, "annotation", 2, akv, 0);
    }
    for (size_t j = 0; j < nf; j++) {
      const fdef *f = &cs[i].f[j];
      const char *fkv[8] = {"name", f->name, "class", num(class_id(cs, n, f->type)), NULL, NULL,
                            NULL, NULL};
      size_t na = 2;
      if (f->cp) {
        fkv[2 * na] = "constantPool";
        fkv[2 * na + 1] = "true";
        na++;
      }
      if (f->array) {
        fkv[2 * na] = "dimension";
        fkv[2 * na + 1] = "1";
        na++;
      }
      el(&tree, &st, "field", na, fkv, 1);
      const char *akv[2] = {"class", "200"};
      el(&tree, &st, "annotation", 1, akv, 0); /* children of fields are ignored */
    }
  }
  const char *rkv[4] = {"locale", "en_US", "gmtOffset", "0"};
  el(&tree, &st, "region", 2, rkv, 0);
  b_var(&rec, 0);        /* startTime */
  b_var(&rec, 0);        /* duration */
  b_var(&rec, 0x7fffffff); /* metadata id */
  b_var(&rec, st.n);
  for (size_t i = 0; i < st.n; i++) {
    if (utf16)
      b_utf16(&rec, st.s[i]);
    else
      b_utf8(&rec, st.s[i]);
  }
  bput(&rec, tree.d, tree.n);
  b_record(out, 0, &rec);
  b_free(&tree);
  b_free(&rec);
}

/* ------------------------------------------------------------------ chunks */

typedef struct chunk {
  bb b;
  uint64_t md_off, cp_off;
} chunk;

static void ch_init(chunk *c) {
  memset(c, 0, sizeof(*c));
  uint8_t zero[68] = {0};
  bput(&c->b, zero, 68);
}

static void ch_metadata(chunk *c, const cdef *cs, size_t n, int utf16) {
  c->md_off = c->b.n;
  b_metadata(&c->b, cs, n, utf16);
}

/* A checkpoint with npools pools (already encoded in pools). */
static void ch_checkpoint(chunk *c, const bb *pools, uint64_t npools, uint8_t flags) {
  bb rec = {0};
  uint64_t off = c->b.n;
  b_var(&rec, 0);
  b_var(&rec, 0);
  b_var(&rec, c->cp_off ? (uint64_t)((int64_t)c->cp_off - (int64_t)off) : 0);
  b_u8(&rec, flags);
  b_var(&rec, npools);
  bput(&rec, pools->d, pools->n);
  b_record(&c->b, 1, &rec);
  c->cp_off = off;
  b_free(&rec);
}

static void ch_event(chunk *c, uint64_t type, const bb *payload) { b_record(&c->b, type, payload); }

/* Patches the header and appends the chunk to out. */
static void ch_finish(chunk *c, bb *out) {
  uint8_t *h = c->b.d;
  memcpy(h, "FLR\0", 4);
  h[4] = 0;
  h[5] = 2;
  h[6] = 0;
  h[7] = 1;
  bb hdr = {0};
  b_be64(&hdr, c->b.n);
  b_be64(&hdr, c->cp_off);
  b_be64(&hdr, c->md_off);
  b_be64(&hdr, 1706241880000000000ULL);
  b_be64(&hdr, 10000000000ULL);
  b_be64(&hdr, 1000);
  b_be64(&hdr, 1000000000ULL);
  memcpy(h + 8, hdr.d, 56);
  h[64] = 0;
  h[65] = 0;
  h[66] = 0;
  h[67] = 3;
  bput(out, c->b.d, c->b.n);
  b_free(&hdr);
  b_free(&c->b);
}

/* ---------------------------------------------------------------- pools */

/* Symbols 1..: "com/example/Demo", "main", "leaf", "()V"; class 1; methods
 * 1 (main), 2 (leaf); stack 1 = leaf:10 <- main:20; states 1 RUNNABLE,
 * 2 SLEEPING.  Key base kb is added to every key. */
static void std_pools(bb *p, uint64_t *npools, uint64_t kb) {
  b_var(p, C_TSTATE);
  b_var(p, 2);
  b_var(p, kb + 1);
  b_utf8(p, "STATE_RUNNABLE");
  b_var(p, kb + 2);
  b_latin1(p, "STATE_SLEEPING");

  b_var(p, C_SYMBOL);
  b_var(p, 4);
  b_var(p, kb + 1);
  b_utf16(p, "com/example/Demo");
  b_var(p, kb + 2);
  b_utf8(p, "main");
  b_var9(p, kb + 3); /* a padded 9-byte key */
  b_latin1(p, "leaf");
  b_var(p, kb + 4);
  b_utf8(p, "()V");

  b_var(p, C_CLASS);
  b_var(p, 1);
  b_var(p, kb + 1);
  b_var(p, 1);      /* modifiers */
  b_var(p, kb + 1); /* name */

  b_var(p, C_METHOD);
  b_var(p, 2);
  for (uint64_t m = 1; m <= 2; m++) {
    b_var(p, kb + m);
    b_var(p, kb + 1);     /* type */
    b_var(p, kb + 1 + m); /* name: 2 main, 3 leaf */
    b_var(p, kb + 4);     /* descriptor */
    b_u8(p, 0);           /* hidden */
  }

  b_var(p, C_STACK);
  b_var(p, 1);
  b_var(p, kb + 1);
  b_u8(p, 0); /* truncated */
  b_var(p, 2);
  b_var(p, kb + 2); /* leaf first */
  b_var5(p, 10);    /* padded int */
  b_var(p, 3);
  b_var(p, kb + 1);
  b_var(p, 20);
  b_var(p, 7);
  *npools = 5;
}

static void ev_exec(chunk *c, uint64_t stack, uint64_t state, uint64_t ctx, uint64_t span) {
  bb e = {0};
  b_var(&e, 12345);
  b_var(&e, state);
  b_var(&e, stack);
  b_var(&e, ctx);
  b_var(&e, span);
  ch_event(c, C_EXEC, &e);
  b_free(&e);
}

static void ev_setting(chunk *c, const char *name, const char *value) {
  bb e = {0};
  b_var(&e, 1);
  b_var(&e, 7);
  b_utf16(&e, name);
  b_utf8(&e, value);
  ch_event(c, C_SETTING, &e);
  b_free(&e);
}

static void ev_wall(chunk *c, uint64_t stack, uint64_t state, uint32_t samples) {
  bb e = {0};
  b_var(&e, 1);
  b_var(&e, stack);
  b_var(&e, state);
  b_var(&e, samples);
  ch_event(c, C_WALL, &e);
  b_free(&e);
}

static void ev_tlab(chunk *c, uint64_t stack, uint64_t tlab, uint64_t ctx) {
  bb e = {0};
  b_var(&e, 1);
  b_var(&e, stack);
  b_var(&e, 24);
  b_var(&e, tlab);
  b_var(&e, ctx);
  ch_event(c, C_TLAB, &e);
  b_free(&e);
}

static void ev_park(chunk *c, uint64_t stack, uint64_t dur) {
  bb e = {0};
  b_var(&e, 1);
  b_var9(&e, dur);
  b_var(&e, stack);
  b_var(&e, 1); /* contextId: ThreadPark gets no labels */
  ch_event(c, C_PARK, &e);
  b_free(&e);
}

/* A one-chunk recording: metadata, 3 cpu samples (one SLEEPING), pools. */
static void std_recording(bb *out) {
  chunk c;
  bb pools = {0};
  uint64_t np;
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 1);
  ev_setting(&c, "event", "itimer");
  ev_exec(&c, 1, 1, 0, 0);
  ev_exec(&c, 1, 1, 0, 0);
  ev_exec(&c, 1, 2, 0, 0); /* sleeping: not CPU */
  std_pools(&pools, &np, 0);
  ch_checkpoint(&c, &pools, np, 1);
  ch_finish(&c, out);
  b_free(&pools);
}

/* -------------------------------------------------------------- rendering */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "stack [v1 v2]" lines of profile p, sorted, joined by '\n'. */
static char *render(const pyr_prof *p) {
  size_t ns = pyr_prof_nsamples(p);
  char **lines = calloc(ns + 1, sizeof(*lines));
  size_t total = 1;
  uint32_t nv = pyr_prof_get_type(p)->nvalues;
  for (size_t i = 0; i < ns; i++) {
    const uint32_t *locs;
    uint32_t n, ls;
    const int64_t *v;
    pyr_prof_sample(p, i, &locs, &n, &ls, &v);
    char buf[4096];
    size_t o = 0;
    for (uint32_t j = 0; j < n; j++) {
      uint32_t name;
      int64_t line;
      pyr_prof_loc(p, locs[j], &name, &line);
      o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s:%lld", j ? ";" : "",
                            pyr_prof_str(p, name, NULL), (long long)line);
    }
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, " [");
    for (uint32_t k = 0; k < nv; k++)
      o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%lld", k ? " " : "", (long long)v[k]);
    snprintf(buf + o, sizeof(buf) - o, "]");
    lines[i] = strdup(buf);
    total += strlen(buf) + 1;
  }
  qsort(lines, ns, sizeof(*lines), cmp_str);
  char *out = calloc(total, 1);
  for (size_t i = 0; i < ns; i++) {
    if (i)
      strcat(out, "\n");
    strcat(out, lines[i]);
    free(lines[i]);
  }
  free(lines);
  return out;
}

static const pyr_prof *find(const pyr_prof_list *l, const char *name, const char *st0) {
  for (size_t i = 0; i < l->n; i++) {
    const pyr_prof_type *t = pyr_prof_get_type(l->items[i]);
    if (strcmp(t->name, name) == 0 && strcmp(t->sample_type[0], st0) == 0)
      return l->items[i];
  }
  return NULL;
}

static void expect_profile(const pyr_prof_list *l, const char *name, const char *st0,
                           const char *text) {
  const pyr_prof *p = find(l, name, st0);
  if (p == NULL)
    fail_msg("no profile %s/%s", name, st0);
  char *r = render(p);
  if (strcmp(r, text) != 0)
    fail_msg("profile %s/%s:\n got: %s\nwant: %s", name, st0, r, text);
  free(r);
}

static int convert(const bb *in, const uint8_t *labels, size_t nl, int64_t rate,
                   pyr_prof_list *out, char *ev, char *err) {
  pyr_jfr_convert_opts o = {0};
  o.sample_rate = rate;
  return pyr_jfr_to_profiles(in->d, in->n, labels, nl, &o, out, ev, 64, err, 512);
}

#define DEMO "com/example/Demo.main:20;com/example/Demo.leaf:10"

/* ------------------------------------------------------------------ tests */

static void test_basic_cpu(void **state) {
  (void)state;
  bb f = {0};
  std_recording(&f);
  pyr_prof_list l = {0};
  char ev[64], err[512];
  assert_int_equal(convert(&f, NULL, 0, 100, &l, ev, err), PYR_JFR_OK);
  assert_string_equal(ev, "itimer");
  assert_int_equal(l.n, 1);
  expect_profile(&l, "process_cpu", "cpu", DEMO " [20000000]");
  const pyr_prof_type *t = pyr_prof_get_type(l.items[0]);
  assert_string_equal(t->period_type, "cpu");
  assert_int_equal(t->period, 10000000);
  pyr_prof_list_free(&l);
  /* no sampleRate: Pyroscope's period is 0, so are the values */
  assert_int_equal(convert(&f, NULL, 0, 0, &l, ev, err), PYR_JFR_OK);
  expect_profile(&l, "process_cpu", "cpu", DEMO " [0]");
  pyr_prof_list_free(&l);
  b_free(&f);
}

/* Parser-level view: the callbacks see bound fields and resolved pools. */
struct seen {
  int chunks, events, exec;
  char state[32], frame[64];
  uint32_t line0;
  uint32_t nframes;
};

static int seen_chunk(void *ud, pyr_jfrp *p, const pyr_jfrp_chunk_info *ci) {
  struct seen *s = ud;
  (void)p;
  assert_int_equal(ci->major, 2);
  assert_int_equal(ci->ticks_per_second, 1000000000);
  s->chunks++;
  return 0;
}

static int seen_event(void *ud, pyr_jfrp *p, const pyr_jfrp_event *e) {
  struct seen *s = ud;
  s->events++;
  if (e->kind != PYR_JFRP_EXECUTION_SAMPLE)
    return 0;
  s->exec++;
  assert_true(e->has & PYR_JFRP_HAS_STACK);
  assert_true(e->has & PYR_JFRP_HAS_CONTEXT);
  pyr_jfrp_str st;
  assert_true(pyr_jfrp_thread_state(p, e->state, &st));
  snprintf(s->state, sizeof(s->state), "%.*s", (int)st.len, st.s);
  pyr_jfrp_stack stk;
  assert_true(pyr_jfrp_stacktrace(p, e->stack, &stk));
  s->nframes = stk.n;
  s->line0 = stk.frames[0].line;
  pyr_jfrp_str fn;
  assert_int_equal(pyr_jfrp_frame_name(p, stk.frames[0].method, &fn), 1);
  snprintf(s->frame, sizeof(s->frame), "%.*s", (int)fn.len, fn.s);
  assert_false(pyr_jfrp_stacktrace(p, 999, &stk));
  assert_int_equal(pyr_jfrp_frame_name(p, 999, &fn), 0);
  return 0;
}

static void test_parser_callbacks(void **state) {
  (void)state;
  bb f = {0};
  std_recording(&f);
  struct seen s = {0};
  pyr_jfrp_handler h = {&s, seen_chunk, seen_event, NULL};
  char err[256];
  assert_int_equal(pyr_jfr_parse(f.d, f.n, NULL, &h, err, sizeof(err)), 0);
  assert_int_equal(s.chunks, 1);
  assert_int_equal(s.events, 4);
  assert_int_equal(s.exec, 3);
  assert_string_equal(s.state, "STATE_SLEEPING"); /* the Latin-1 one, last */
  assert_string_equal(s.frame, "com/example/Demo.leaf");
  assert_int_equal(s.line0, 10);
  assert_int_equal(s.nframes, 2);
  b_free(&f);
}

/* Metadata after the events, pools split over two checkpoints chained by
 * delta (an event refers to a stack defined in the later one), a
 * ChunkHeader pool, an undeclared event type and a metadata record in the
 * event stream, all in one chunk. */
static void test_jdk_layout(void **state) {
  (void)state;
  chunk c;
  bb f = {0}, p1 = {0}, p2 = {0}, e = {0};
  uint64_t np;
  ch_init(&c);
  /* checkpoint 1: chunk header pool only */
  b_var(&p1, C_CHUNKHDR);
  b_var(&p1, 1);
  b_var(&p1, 1);
  b_var(&p1, 68);
  uint8_t hdr[68] = {'F', 'L', 'R', 0};
  bput(&p1, hdr, 68);
  ch_checkpoint(&c, &p1, 1, 2);
  ev_exec(&c, 1, 1, 0, 0);
  b_var(&e, 1);
  b_var(&e, 2);
  ch_event(&c, 4242, &e); /* undeclared type: skipped */
  b_free(&e);
  b_metadata(&c.b, std_classes, N_STD, 0); /* a stale metadata record, skipped */
  ch_metadata(&c, std_classes, N_STD, 1);
  ev_exec(&c, 1, 1, 0, 0);
  std_pools(&p2, &np, 0);
  ch_checkpoint(&c, &p2, np, 0);
  ch_finish(&c, &f);
  pyr_prof_list l = {0};
  char ev[64], err[512];
  assert_int_equal(convert(&f, NULL, 0, 100, &l, ev, err), PYR_JFR_OK);
  assert_string_equal(ev, "");
  expect_profile(&l, "process_cpu", "cpu", DEMO " [20000000]");
  pyr_prof_list_free(&l);
  b_free(&f);
  b_free(&p1);
  b_free(&p2);
}

/* Two chunks whose keys collide with different content: resolved per
 * chunk.  The event setting persists across chunks like Pyroscope's. */
static void test_multi_chunk(void **state) {
  (void)state;
  bb f = {0}, pools = {0};
  uint64_t np;
  chunk c;
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  ev_setting(&c, "event", "wall");
  ev_exec(&c, 1, 1, 0, 0);
  std_pools(&pools, &np, 0);
  ch_checkpoint(&c, &pools, np, 1);
  ch_finish(&c, &f);
  b_free(&pools);
  /* chunk 2: symbol 2 is now "other"; stack 1 = just method 1 (other) */
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  ev_exec(&c, 1, 2, 0, 0); /* sleeping, event=wall: wall only */
  b_var(&pools, C_TSTATE);
  b_var(&pools, 1);
  b_var(&pools, 2);
  b_utf8(&pools, "STATE_SLEEPING");
  b_var(&pools, C_SYMBOL);
  b_var(&pools, 2);
  b_var(&pools, 1);
  b_utf8(&pools, "Y");
  b_var(&pools, 2);
  b_utf8(&pools, "other");
  b_var(&pools, C_CLASS);
  b_var(&pools, 1);
  b_var(&pools, 1);
  b_var(&pools, 0);
  b_var(&pools, 1);
  b_var(&pools, C_METHOD);
  b_var(&pools, 1);
  b_var(&pools, 1);
  b_var(&pools, 1);
  b_var(&pools, 2);
  b_var(&pools, 0);
  b_u8(&pools, 0);
  b_var(&pools, C_STACK);
  b_var(&pools, 1);
  b_var(&pools, 1);
  b_u8(&pools, 1); /* truncated: no marker, as in Pyroscope's default */
  b_var(&pools, 1);
  b_var(&pools, 1);
  b_var(&pools, 0xffffffffu); /* line -1 as written by the JDK */
  b_var(&pools, 0);
  ch_checkpoint(&c, &pools, 5, 1);
  ch_finish(&c, &f);
  pyr_prof_list l = {0};
  char ev[64], err[512];
  assert_int_equal(convert(&f, NULL, 0, 100, &l, ev, err), PYR_JFR_OK);
  assert_string_equal(ev, "wall");
  expect_profile(&l, "process_cpu", "cpu", DEMO " [10000000]");
  expect_profile(&l, "wall", "wall", "Y.other:4294967295 [10000000]\n" DEMO " [10000000]");
  pyr_prof_list_free(&l);
  b_free(&f);
  b_free(&pools);
}

/* Pyroscope's shared value slot: after a WallClockSample with samples=3,
 * later events count 3 instead of 1. */
static void test_value_slot_quirk(void **state) {
  (void)state;
  bb f = {0}, pools = {0};
  uint64_t np;
  chunk c;
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  ev_tlab(&c, 1, 512, 0);
  ev_setting(&c, "event", "wall");
  ev_wall(&c, 1, 1, 3); /* RUNNABLE + event=wall: cpu too */
  ev_wall(&c, 1, 2, 2); /* sleeping: wall only */
  ev_tlab(&c, 1, 1024, 0);
  ev_park(&c, 1, 0x7fffffffffffffffULL);
  std_pools(&pools, &np, 0);
  ch_checkpoint(&c, &pools, np, 1);
  ch_finish(&c, &f);
  pyr_prof_list l = {0};
  char ev[64], err[512];
  assert_int_equal(convert(&f, NULL, 0, 100, &l, ev, err), PYR_JFR_OK);
  assert_int_equal(l.n, 4);
  expect_profile(&l, "process_cpu", "cpu", DEMO " [30000000]");
  expect_profile(&l, "wall", "wall", DEMO " [50000000]");
  expect_profile(&l, "memory", "alloc_in_new_tlab_objects", DEMO " [3 1536]");
  expect_profile(&l, "block", "contentions", DEMO " [2 9223372036854775807]");
  /* fixed order: sorted by metric and sample types */
  assert_string_equal(pyr_prof_get_type(l.items[0])->name, "block");
  assert_string_equal(pyr_prof_get_type(l.items[1])->name, "memory");
  assert_string_equal(pyr_prof_get_type(l.items[2])->name, "process_cpu");
  assert_string_equal(pyr_prof_get_type(l.items[3])->name, "wall");
  pyr_prof_list_free(&l);
  b_free(&f);
  b_free(&pools);
}

/* Missing stacks drop the sample (the profile still exists); a missing
 * method drops the frame; a missing ThreadState drops a CPU sample. */
static void test_missing_references(void **state) {
  (void)state;
  bb f = {0}, pools = {0};
  uint64_t np;
  chunk c;
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  ev_exec(&c, 1, 1, 0, 0);
  ev_exec(&c, 77, 1, 0, 0); /* no such stack */
  ev_exec(&c, 1, 99, 0, 0); /* no such state */
  ev_exec(&c, 2, 1, 0, 0);  /* stack 2: frames with unknown method */
  ev_tlab(&c, 77, 1, 0);    /* memory profile exists, but empty */
  std_pools(&pools, &np, 0);
  b_var(&pools, C_STACK);
  b_var(&pools, 1);
  b_var(&pools, 2);
  b_u8(&pools, 0);
  b_var(&pools, 2);
  b_var(&pools, 55); /* unknown method: dropped */
  b_var(&pools, 1);
  b_var(&pools, 0);
  b_var(&pools, 1); /* main */
  b_var(&pools, 20);
  b_var(&pools, 0);
  ch_checkpoint(&c, &pools, np + 1, 1);
  ch_finish(&c, &f);
  pyr_prof_list l = {0};
  char ev[64], err[512];
  assert_int_equal(convert(&f, NULL, 0, 100, &l, ev, err), PYR_JFR_OK);
  expect_profile(&l, "process_cpu", "cpu",
                 "com/example/Demo.main:20 [10000000]\n" DEMO " [10000000]");
  expect_profile(&l, "memory", "alloc_in_new_tlab_objects", "");
  pyr_prof_list_free(&l);
  b_free(&f);
  b_free(&pools);
}

static void expect_error(const bb *f, const char *needle);

/* String-pool references (encoding 2): chains resolve, a dangling one is
 * null ("" in a frame name), a cycle is an error (never a loop). */
static void string_pool_case(bb *f, int cycle) {
  bb p = {0};
  chunk c;
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  ev_exec(&c, 1, 1, 0, 0);
  b_var(&p, C_STRING);
  b_var(&p, 4);
  b_var(&p, 1);
  b_utf8(&p, "pkg/Cls");
  b_var(&p, 2);
  b_strref(&p, 3); /* 2 -> 3 -> (cycle ? 2 : 99, dangling) */
  b_var(&p, 3);
  b_strref(&p, cycle ? 2 : 99);
  b_var(&p, 4);
  b_u8(&p, 0); /* null */
  b_var(&p, C_TSTATE);
  b_var(&p, 1);
  b_var(&p, 1);
  b_strref(&p, 1);
  b_var(&p, C_SYMBOL);
  b_var(&p, 3);
  b_var(&p, 1);
  b_strref(&p, 1); /* "pkg/Cls" */
  b_var(&p, 2);
  b_strref(&p, 2); /* -> 3 -> 99 (dangling, or the cycle) */
  b_var(&p, 3);
  b_u8(&p, 1); /* empty string */
  b_var(&p, C_CLASS);
  b_var(&p, 1);
  b_var(&p, 1);
  b_var(&p, 0);
  b_var(&p, 1);
  b_var(&p, C_METHOD);
  b_var(&p, 2);
  b_var(&p, 1);
  b_var(&p, 1);
  b_var(&p, 2);
  b_var(&p, 0);
  b_u8(&p, 0);
  b_var(&p, 2);
  b_var(&p, 1);
  b_var(&p, 3);
  b_var(&p, 0);
  b_u8(&p, 0);
  b_var(&p, C_STACK);
  b_var(&p, 1);
  b_var(&p, 1);
  b_u8(&p, 0);
  b_var(&p, 2);
  b_var(&p, 1);
  b_var(&p, 1);
  b_var(&p, 0);
  b_var(&p, 2);
  b_var(&p, 2);
  b_var(&p, 0);
  ch_checkpoint(&c, &p, 6, 1);
  ch_finish(&c, f);
  b_free(&p);
}

static void test_string_pool_refs(void **state) {
  (void)state;
  bb f = {0};
  string_pool_case(&f, 0);
  pyr_prof_list l = {0};
  char ev[64], err[512];
  /* the ThreadState name is a ref to "pkg/Cls", which is not SLEEPING */
  assert_int_equal(convert(&f, NULL, 0, 100, &l, ev, err), PYR_JFR_OK);
  expect_profile(&l, "process_cpu", "cpu", "pkg/Cls.:2;pkg/Cls.:1 [10000000]");
  pyr_prof_list_free(&l);
  b_free(&f);
  string_pool_case(&f, 1);
  expect_error(&f, "form a cycle");
  b_free(&f);
}

/* LabelsSnapshot{contexts: {7: {1: 2, 3: 4}}, strings: {1: "k", 2: "v",
 * 3: "empty", 4: ""}} */
static const uint8_t snap[] = {
    0x0a, 0x10, 0x08, 0x07, 0x12, 0x0c, 0x0a, 0x04, 0x08, 0x01, 0x10, 0x02,
    0x0a, 0x04, 0x08, 0x03, 0x10, 0x04,
    0x12, 0x05, 0x08, 0x01, 0x12, 0x01, 'k',
    0x12, 0x05, 0x08, 0x02, 0x12, 0x01, 'v',
    0x12, 0x09, 0x08, 0x03, 0x12, 0x05, 'e', 'm', 'p', 't', 'y',
    0x12, 0x04, 0x08, 0x04, 0x12, 0x00,
};

static void gzip_buf(const uint8_t *in, size_t n, bb *out) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  size_t cap = deflateBound(&zs, n) + 64;
  out->d = malloc(cap);
  out->cap = cap;
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)n;
  zs.next_out = out->d;
  zs.avail_out = (uInt)cap;
  assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out->n = cap - zs.avail_out;
  deflateEnd(&zs);
}

static void test_labels_and_gzip(void **state) {
  (void)state;
  bb f = {0}, pools = {0}, gz = {0}, gzl = {0};
  uint64_t np;
  chunk c;
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  ev_exec(&c, 1, 1, 7, 0);
  ev_exec(&c, 1, 1, 7, 0);
  ev_exec(&c, 1, 1, 0, 0x1234);
  ev_exec(&c, 1, 1, 8, 0); /* unknown context: no labels */
  ev_park(&c, 1, 5);       /* contextId 1 ignored for ThreadPark */
  std_pools(&pools, &np, 0);
  ch_checkpoint(&c, &pools, np, 1);
  ch_finish(&c, &f);
  gzip_buf(f.d, f.n, &gz);
  gzip_buf(snap, sizeof(snap), &gzl);
  pyr_prof_list l = {0};
  char ev[64], err[512];
  assert_int_equal(convert(&gz, gzl.d, gzl.n, 100, &l, ev, err), PYR_JFR_OK);
  const pyr_prof *p = find(&l, "process_cpu", "cpu");
  assert_non_null(p);
  assert_int_equal(pyr_prof_nsamples(p), 3); /* ctx 7, span, none */
  assert_int_equal(pyr_prof_nlabelsets(p), 2);
  for (size_t i = 0; i < pyr_prof_nsamples(p); i++) {
    uint32_t ls;
    const int64_t *v;
    pyr_prof_sample(p, i, NULL, NULL, &ls, &v);
    size_t n;
    const pyr_prof_label *lb = pyr_prof_labels(p, ls, &n);
    if (i == 0) { /* k=v; empty=<""> dropped */
      assert_int_equal(v[0], 20000000);
      assert_int_equal(n, 1);
      assert_string_equal(pyr_prof_str(p, lb[0].key, NULL), "k");
      assert_string_equal(pyr_prof_str(p, lb[0].value, NULL), "v");
    } else if (i == 1) {
      assert_int_equal(n, 1);
      assert_string_equal(pyr_prof_str(p, lb[0].key, NULL), "profile_id");
      assert_string_equal(pyr_prof_str(p, lb[0].value, NULL), "0000000000001234");
    } else {
      assert_int_equal(n, 0);
      assert_int_equal(v[0], 10000000);
    }
  }
  p = find(&l, "block", "contentions");
  assert_int_equal(pyr_prof_nlabelsets(p), 0);
  pyr_prof_list_free(&l);
  /* without a snapshot, no labels at all (not even profile_id) */
  assert_int_equal(convert(&f, NULL, 0, 100, &l, ev, err), PYR_JFR_OK);
  p = find(&l, "process_cpu", "cpu");
  assert_int_equal(pyr_prof_nlabelsets(p), 0);
  assert_int_equal(pyr_prof_nsamples(p), 1);
  pyr_prof_list_free(&l);
  /* a corrupt labels part is an error */
  static const uint8_t bad[] = {0x0a, 0x7f, 0x01};
  assert_int_equal(convert(&f, bad, sizeof(bad), 100, &l, ev, err), PYR_JFR_EINVAL);
  assert_non_null(strstr(err, "labels"));
  /* A hostile snapshot of empty map entries (2 wire bytes each, ~30x that
   * once unpacked) hits the decode budget: ELIMIT, "too large", not a crash
   * or an unbounded allocation. */
  size_t nh = 64 * 1024;
  uint8_t *hostile = malloc(nh);
  assert_non_null(hostile);
  for (size_t i = 0; i < nh; i += 2) {
    hostile[i] = 0x0a;
    hostile[i + 1] = 0x00;
  }
  pyr_jfr_convert_opts tight = {0};
  tight.sample_rate = 100;
  tight.max_labels_alloc = 1u << 20;
  assert_int_equal(pyr_jfr_to_profiles(f.d, f.n, hostile, nh, &tight, &l, ev, 64, err, 512),
                   PYR_JFR_ELIMIT);
  assert_non_null(strstr(err, "too large"));
  assert_int_equal(l.n, 0);
  /* The same bytes fit the default budget (64x + 64 KiB): decoded, kept. */
  assert_int_equal(convert(&f, hostile, nh, 100, &l, ev, err), PYR_JFR_OK);
  pyr_prof_list_free(&l);
  free(hostile);
  /* a corrupt gzip stream is an error */
  gz.d[gz.n / 2] ^= 0x55;
  gz.n -= 8;
  assert_true(convert(&gz, NULL, 0, 100, &l, ev, err) < 0);
  assert_non_null(strstr(err, "gzip"));
  assert_int_equal(l.n, 0);
  b_free(&f);
  b_free(&pools);
  b_free(&gz);
  b_free(&gzl);
}

/* ------------------------------------------- LiveObject, span_name (§1.4-1.5) */

enum { C_EXEC_SPAN = 106, C_LIVE = 107 };

/* std_classes with ExecutionSample replaced by one that also has spanName
 * (first, to show it is bound by name), plus profiler.LiveObject with a
 * contextId field that must be ignored. */
static size_t span_live_classes(cdef *out) {
  size_t n = 0;
  for (size_t i = 0; i < N_STD; i++)
    if (std_classes[i].id != C_EXEC)
      out[n++] = std_classes[i];
  out[n++] = (cdef){C_EXEC_SPAN, "jdk.ExecutionSample", "jdk.jfr.Event",
                    {{"startTime", "long", 0, 0},
                     {"spanName", "long", 0, 0},
                     {"state", "jdk.types.ThreadState", 1, 0},
                     {"stackTrace", "jdk.types.StackTrace", 1, 0},
                     {"contextId", "long", 0, 0},
                     {"spanId", "long", 0, 0}}};
  out[n++] = (cdef){C_LIVE, "profiler.LiveObject", "jdk.jfr.Event",
                    {{"startTime", "long", 0, 0},
                     {"stackTrace", "jdk.types.StackTrace", 1, 0},
                     {"allocationSize", "long", 0, 0},
                     {"allocationTime", "long", 0, 0},
                     {"contextId", "long", 0, 0}}};
  return n;
}

static void ev_exec_span(chunk *c, uint64_t ctx, uint64_t span_name) {
  bb e = {0};
  b_var(&e, 12345);
  b_var(&e, span_name);
  b_var(&e, 1); /* RUNNABLE */
  b_var(&e, 1); /* stack 1 */
  b_var(&e, ctx);
  b_var(&e, 0); /* no spanId: no profile_id label */
  ch_event(c, C_EXEC_SPAN, &e);
  b_free(&e);
}

static void ev_live(chunk *c, uint64_t size, uint64_t ctx) {
  bb e = {0};
  b_var(&e, 1);
  b_var(&e, 1); /* stack 1 */
  b_var(&e, size);
  b_var(&e, 999);
  b_var(&e, ctx);
  ch_event(c, C_LIVE, &e);
  b_free(&e);
}

/* Protobuf: a length-delimited field around m. */
static void pb_len(bb *out, uint32_t field, const bb *m) {
  b_var(out, ((uint64_t)field << 3) | 2);
  b_var(out, m->n);
  bput(out, m->d, m->n);
}

/* LabelsSnapshot{contexts: {7: {1: 2}}, strings: {1: "k", 2: "v",
 * 5: "GET /orders"}}, encoded here field by field. */
static void span_snapshot(bb *out) {
  bb lab = {0}, ctx = {0}, ent = {0};
  b_var(&lab, 0x08); /* Context.labels entry: key 1 -> value 2 */
  b_var(&lab, 1);
  b_var(&lab, 0x10);
  b_var(&lab, 2);
  pb_len(&ctx, 1, &lab);
  b_var(&ent, 0x08); /* contexts entry: key 7 -> Context */
  b_var(&ent, 7);
  pb_len(&ent, 2, &ctx);
  pb_len(out, 1, &ent);
  static const struct {
    uint64_t id;
    const char *s;
  } strs[] = {{1, "k"}, {2, "v"}, {5, "GET /orders"}};
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
    bb se = {0}, sv = {0};
    b_var(&se, 0x08);
    b_var(&se, strs[i].id);
    bput(&sv, strs[i].s, strlen(strs[i].s));
    pb_len(&se, 2, &sv);
    pb_len(out, 2, &se);
    b_free(&se);
    b_free(&sv);
  }
  b_free(&lab);
  b_free(&ctx);
  b_free(&ent);
}

/* "k1=v1,k2=v2" (sorted by key) of sample i's label set. */
static void label_text(const pyr_prof *p, size_t i, char *buf, size_t cap, int64_t *v0) {
  uint32_t ls;
  const int64_t *v;
  pyr_prof_sample(p, i, NULL, NULL, &ls, &v);
  *v0 = v[0];
  size_t n;
  const pyr_prof_label *lb = pyr_prof_labels(p, ls, &n);
  const char *pairs[8][2];
  assert_true(n <= 8);
  for (size_t j = 0; j < n; j++) {
    pairs[j][0] = pyr_prof_str(p, lb[j].key, NULL);
    pairs[j][1] = pyr_prof_str(p, lb[j].value, NULL);
  }
  for (size_t a = 1; a < n; a++) /* insertion sort by key */
    for (size_t b = a; b > 0 && strcmp(pairs[b - 1][0], pairs[b][0]) > 0; b--) {
      const char *k = pairs[b][0], *x = pairs[b][1];
      pairs[b][0] = pairs[b - 1][0];
      pairs[b][1] = pairs[b - 1][1];
      pairs[b - 1][0] = k;
      pairs[b - 1][1] = x;
    }
  size_t o = 0;
  buf[0] = '\0';
  for (size_t j = 0; j < n; j++)
    o += (size_t)snprintf(buf + o, cap - o, "%s%s=%s", j ? "," : "", pairs[j][0], pairs[j][1]);
}

static void test_live_object_and_span_name(void **state) {
  (void)state;
  cdef cls[N_STD + 2];
  size_t ncls = span_live_classes(cls);
  bb f = {0}, pools = {0}, sn = {0};
  uint64_t np;
  chunk c;
  ch_init(&c);
  ch_metadata(&c, cls, ncls, 0);
  ev_exec_span(&c, 7, 5); /* k=v + span_name */
  ev_exec_span(&c, 7, 5);
  ev_exec_span(&c, 0, 5); /* span_name alone */
  ev_exec_span(&c, 7, 0); /* k=v alone */
  ev_exec_span(&c, 0, 0); /* no labels */
  ev_live(&c, 4096, 7);   /* LiveObject: value 1 each, context ignored */
  ev_live(&c, 64, 0);
  ev_live(&c, 8, 7);
  std_pools(&pools, &np, 0);
  ch_checkpoint(&c, &pools, np, 1);
  ch_finish(&c, &f);
  span_snapshot(&sn);

  pyr_prof_list l = {0};
  char ev[64], err[512];
  assert_int_equal(convert(&f, sn.d, sn.n, 100, &l, ev, err), PYR_JFR_OK);

  /* profiler.LiveObject -> memory:live:count:objects:count, [1] per event. */
  const pyr_prof *live = find(&l, "memory", "live");
  assert_non_null(live);
  const pyr_prof_type *t = pyr_prof_get_type(live);
  assert_int_equal(t->nvalues, 1);
  assert_string_equal(t->sample_unit[0], "count");
  assert_string_equal(t->period_type, "objects");
  assert_string_equal(t->period_unit, "count");
  expect_profile(&l, "memory", "live", DEMO " [3]");
  assert_int_equal(pyr_prof_nlabelsets(live), 0); /* contextId 7 ignored */

  /* spanName (a snapshot string id) -> span_name; contextId -> k=v. */
  const pyr_prof *cpu = find(&l, "process_cpu", "cpu");
  assert_non_null(cpu);
  assert_int_equal(pyr_prof_nsamples(cpu), 4);
  int seen = 0;
  for (size_t i = 0; i < pyr_prof_nsamples(cpu); i++) {
    char lt[256];
    int64_t v;
    label_text(cpu, i, lt, sizeof(lt), &v);
    if (strcmp(lt, "k=v,span_name=GET /orders") == 0) {
      assert_int_equal(v, 2 * 10000000);
      seen |= 1;
    } else if (strcmp(lt, "span_name=GET /orders") == 0) {
      assert_int_equal(v, 10000000);
      seen |= 2;
    } else if (strcmp(lt, "k=v") == 0) {
      assert_int_equal(v, 10000000);
      seen |= 4;
    } else if (strcmp(lt, "") == 0) {
      assert_int_equal(v, 10000000);
      seen |= 8;
    } else {
      fail_msg("unexpected label set '%s'", lt);
    }
  }
  assert_int_equal(seen, 15);
  pyr_prof_list_free(&l);

  /* Without a snapshot the span name cannot be resolved: no labels. */
  assert_int_equal(convert(&f, NULL, 0, 100, &l, ev, err), PYR_JFR_OK);
  cpu = find(&l, "process_cpu", "cpu");
  assert_int_equal(pyr_prof_nlabelsets(cpu), 0);
  expect_profile(&l, "process_cpu", "cpu", DEMO " [50000000]");
  expect_profile(&l, "memory", "live", DEMO " [3]");
  pyr_prof_list_free(&l);
  b_free(&f);
  b_free(&pools);
  b_free(&sn);
}

static void test_normalize_symbols(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"jdk/internal/reflect/GeneratedMethodAccessor31", "jdk/internal/reflect/GeneratedMethodAccessor_"},
      {"jdk/internal/reflect/GeneratedMethodAccessor", NULL},
      {"jdk/internal/reflect/GeneratedMethodAccessor3x", NULL},
      {"org/example/OrderService$$Lambda$669.0x0000000800fd7318", "org/example/OrderService$$Lambda_"},
      {"Fib$$Lambda.0x00007ffa600c4da0", "Fib$$Lambda_"},
      {"App$$Lambda$633/1724256292", "App$$Lambda_"},
      {"App$$Lambda$12", NULL},
      {"App$$Lambda12", "App$$Lambda_"},
      {"App$$Lambda/0x0", "App$$Lambda_"},
      {"App$$Lambda/0x", NULL},
      {"App$$Lambda.0xG", NULL},
      {"$$Lambda$1/2", NULL}, /* needs a character before $$Lambda */
      {"A$$Lambda$1/2$$Lambda$3/4", "A$$Lambda$1/2$$Lambda_"},
      {"sun.rmi.Foo$$Lambda$155+0x00007f47940e7fa0/1182696712", NULL},
      {"libzstd-jni-1.5.1-16931311898282279136.so", "libzstd-jni-_.so"},
      {"./tmp/libzstd-jni-1.5.1-16931311898282279136.so (deleted)", "libzstd-jni-_.so"},
      {"/tmp/libzstd-jni-1.5-1.so", NULL},
      {"./tmp/libamazonCorrettoCryptoProvider109b39cf33c563eb.so", "libamazonCorrettoCryptoProvider_.so"},
      {"/tmp/amazonCorrettoCryptoProviderNativeLibraries.7382c2f79097f415/libcrypto.so (deleted)",
       "libamazonCorrettoCryptoProvider_.so"},
      {"libamazonCorrettoCryptoProvider109b39cf33c563e.so", NULL},
      {"libasyncProfiler-linux-arm64-17b9a1d8156277a98ccc871afa9a8f69215f92.so", "libasyncProfiler-_.so"},
      {"/tmp/libasyncProfiler-macos-17b9a1d8156277a98ccc871afa9a8f69215f92.so", "libasyncProfiler-_.so"},
      {"libasyncProfiler-linux-x64-505cc169188276c919be50bc1b47e8f236295f.so", NULL},
      {"foo/Bar$$EnhancerBySpringCGLIB$$1234567890", "foo/Bar$$EnhancerBySpringCGLIB$$_"},
      {"foo/Bar$$EnhancerBySpringCGLIB$$", "foo/Bar$$EnhancerBySpringCGLIB$$_"},
      {"a\nb$$EnhancerBySpringCGLIB$$x", NULL},
      {"java/lang/Thread", NULL},
      {"", NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char out[256];
    size_t n = pyr_jfrp_normalize_symbol(cases[i][0], strlen(cases[i][0]), out, sizeof(out));
    if (cases[i][1] == NULL) {
      if (n != (size_t)-1)
        fail_msg("'%s' should stay, got '%.*s'", cases[i][0], (int)n, out);
    } else {
      if (n == (size_t)-1 || n != strlen(cases[i][1]) || memcmp(out, cases[i][1], n) != 0)
        fail_msg("'%s' -> '%.*s', want '%s'", cases[i][0], n == (size_t)-1 ? 0 : (int)n, out,
                 cases[i][1]);
    }
  }
}

/* --------------------------------------------------------- hostile input */

static int parse_err(const bb *f, const pyr_jfrp_limits *lim, char *err, size_t n) {
  return pyr_jfr_parse(f->d, f->n, lim, NULL, err, n);
}

static void expect_error(const bb *f, const char *needle) {
  char err[512];
  int rc = parse_err(f, NULL, err, sizeof(err));
  if (rc == 0)
    fail_msg("parse succeeded, expected an error containing '%s'", needle);
  if (strstr(err, needle) == NULL)
    fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_truncation_everywhere(void **state) {
  (void)state;
  bb f = {0};
  std_recording(&f);
  size_t full = f.n;
  char err[512];
  pyr_prof_list l = {0};
  for (size_t cut = 0; cut < full; cut++) {
    bb t = {f.d, cut, cut};
    int rc = convert(&t, NULL, 0, 100, &l, err, err);
    if (rc == PYR_JFR_OK)
      fail_msg("a recording cut at %zu of %zu bytes parsed", cut, full);
    assert_true(err[0] != '\0');
    assert_int_equal(l.n, 0);
  }
  b_free(&f);
}

static void set_be64(bb *f, size_t off, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    f->d[off + (size_t)i] = (uint8_t)v;
    v >>= 8;
  }
}

static void test_bad_header(void **state) {
  (void)state;
  bb f = {0};
  std_recording(&f);
  bb g = {0};
  bput(&g, f.d, f.n);
  g.d[0] = 'X';
  expect_error(&g, "magic");
  memcpy(g.d, f.d, f.n);
  g.d[5] = 1;
  expect_error(&g, "version");
  memcpy(g.d, f.d, f.n);
  set_be64(&g, 8, f.n + 1);
  expect_error(&g, "chunk size");
  set_be64(&g, 8, 10);
  expect_error(&g, "chunk size");
  memcpy(g.d, f.d, f.n);
  set_be64(&g, 24, 0);
  expect_error(&g, "metadata offset");
  set_be64(&g, 24, f.n);
  expect_error(&g, "metadata offset");
  memcpy(g.d, f.d, f.n);
  set_be64(&g, 16, UINT64_MAX);
  expect_error(&g, "checkpoint offset");
  /* metadata offset pointing at the checkpoint instead */
  memcpy(g.d, f.d, f.n);
  memcpy(g.d + 24, f.d + 16, 8);
  expect_error(&g, "not 0");
  /* trailing garbage after the chunk */
  memcpy(g.d, f.d, f.n);
  bput(&g, "junk", 4);
  expect_error(&g, "too short for a chunk header");
  g.n = f.n;
  char err[64];
  assert_int_equal(pyr_jfr_parse(NULL, 0, NULL, NULL, err, sizeof(err)), PYR_JFRP_EINVAL);
  assert_non_null(strstr(err, "empty"));
  b_free(&f);
  b_free(&g);
}

/* A checkpoint whose delta points forward (or at itself) must not loop. */
static void test_checkpoint_delta_loop(void **state) {
  (void)state;
  chunk c;
  bb f = {0}, pools = {0}, rec = {0};
  uint64_t np;
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  std_pools(&pools, &np, 0);
  uint64_t off = c.b.n;
  b_var(&rec, 0);
  b_var(&rec, 0);
  b_var(&rec, 5); /* positive delta */
  b_u8(&rec, 0);
  b_var(&rec, np);
  bput(&rec, pools.d, pools.n);
  b_record(&c.b, 1, &rec);
  c.cp_off = off;
  ch_finish(&c, &f);
  expect_error(&f, "invalid delta");
  b_free(&f);
  b_free(&rec);
  /* delta reaching before the header */
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  off = c.b.n;
  b_var(&rec, 0);
  b_var(&rec, 0);
  b_var(&rec, (uint64_t)(int64_t)-(int64_t)off);
  b_u8(&rec, 0);
  b_var(&rec, np);
  bput(&rec, pools.d, pools.n);
  b_record(&c.b, 1, &rec);
  c.cp_off = off;
  ch_finish(&c, &f);
  expect_error(&f, "invalid delta");
  b_free(&f);
  b_free(&rec);
  b_free(&pools);
}

static void test_huge_counts(void **state) {
  (void)state;
  chunk c;
  bb f = {0}, p = {0};
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  b_var(&p, C_SYMBOL);
  b_var(&p, (uint64_t)1 << 40);
  ch_checkpoint(&c, &p, 1, 1);
  ch_finish(&c, &f);
  expect_error(&f, "pool entry count 1099511627776 exceeds");
  b_free(&f);
  b_free(&p);
  /* stack frame count */
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  b_var(&p, C_STACK);
  b_var(&p, 1);
  b_var(&p, 1);
  b_u8(&p, 0);
  b_var9(&p, UINT64_MAX);
  ch_checkpoint(&c, &p, 1, 1);
  ch_finish(&c, &f);
  expect_error(&f, "stack frame count");
  b_free(&f);
  b_free(&p);
  /* string length */
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  b_var(&p, C_SYMBOL);
  b_var(&p, 1);
  b_var(&p, 1);
  b_u8(&p, 3);
  b_var(&p, 1u << 30);
  ch_checkpoint(&c, &p, 1, 1);
  ch_finish(&c, &f);
  expect_error(&f, "string length");
  b_free(&f);
  b_free(&p);
  /* unknown string encoding */
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  b_var(&p, C_SYMBOL);
  b_var(&p, 1);
  b_var(&p, 1);
  b_u8(&p, 9);
  ch_checkpoint(&c, &p, 1, 1);
  ch_finish(&c, &f);
  expect_error(&f, "unknown string encoding 9");
  b_free(&f);
  b_free(&p);
}

static void test_bad_metadata(void **state) {
  (void)state;
  chunk c;
  bb f = {0}, p = {0};
  /* a field of an undeclared type */
  cdef bad[N_STD + 1];
  memcpy(bad, std_classes, sizeof(std_classes));
  bad[N_STD] = (cdef){300, "my.Event", "jdk.jfr.Event", {{"x", "#999", 0, 0}}};
  ch_init(&c);
  ch_metadata(&c, bad, N_STD + 1, 0);
  ch_checkpoint(&c, &p, 0, 1);
  ch_finish(&c, &f);
  expect_error(&f, "undeclared type id 999");
  b_free(&f);
  /* duplicate class id */
  bad[N_STD] = (cdef){C_LONG, "dup", NULL, {{0}}};
  ch_init(&c);
  ch_metadata(&c, bad, N_STD + 1, 0);
  ch_checkpoint(&c, &p, 0, 1);
  ch_finish(&c, &f);
  expect_error(&f, "duplicate class id");
  b_free(&f);
  /* elements nested 100 deep */
  {
    strtab st = {0};
    bb tree = {0}, rec = {0};
    for (int i = 0; i < 100; i++)
      el(&tree, &st, "x", 0, NULL, 1);
    el(&tree, &st, "x", 0, NULL, 0);
    b_var(&rec, 0);
    b_var(&rec, 0);
    b_var(&rec, 1);
    b_var(&rec, st.n);
    for (size_t i = 0; i < st.n; i++)
      b_utf8(&rec, st.s[i]);
    bput(&rec, tree.d, tree.n);
    ch_init(&c);
    c.md_off = c.b.n;
    b_record(&c.b, 0, &rec);
    ch_checkpoint(&c, &p, 0, 1);
    ch_finish(&c, &f);
    expect_error(&f, "nested deeper than 32");
    b_free(&f);
    b_free(&tree);
    b_free(&rec);
  }
  /* string index out of range in the element tree */
  {
    bb rec = {0};
    b_var(&rec, 0);
    b_var(&rec, 0);
    b_var(&rec, 1);
    b_var(&rec, 1);
    b_utf8(&rec, "root");
    b_var(&rec, 5);
    ch_init(&c);
    c.md_off = c.b.n;
    b_record(&c.b, 0, &rec);
    ch_checkpoint(&c, &p, 0, 1);
    ch_finish(&c, &f);
    expect_error(&f, "string index 5 out of range");
    b_free(&f);
    b_free(&rec);
  }
  /* a pool of an undeclared class */
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  b_var(&p, 777);
  b_var(&p, 1);
  ch_checkpoint(&c, &p, 1, 1);
  ch_finish(&c, &f);
  expect_error(&f, "pool of undeclared class id 777");
  b_free(&f);
  b_free(&p);
  /* zero-size record */
  ch_init(&c);
  ch_metadata(&c, std_classes, N_STD, 0);
  b_u8(&c.b, 0);
  ch_checkpoint(&c, &p, 0, 1);
  ch_finish(&c, &f);
  expect_error(&f, "size 0");
  b_free(&f);
  b_free(&p);
}

/* A type that contains itself inline: decoding a value must stop at the
 * depth limit; an all-empty struct array must not be iterated. */
static void test_recursive_and_empty_types(void **state) {
  (void)state;
  cdef cs[N_STD + 3];
  memcpy(cs, std_classes, sizeof(std_classes));
  cs[N_STD] = (cdef){400, "my.Rec", NULL, {{"self", "my.Rec", 0, 0}, {"v", "long", 0, 0}}};
  cs[N_STD + 1] = (cdef){401, "my.Empty", NULL, {{0}}};
  cs[N_STD + 2] = (cdef){402, "my.Holder", NULL,
                         {{"e", "my.Empty", 0, 1}, {"f", "my.Empty", 0, 0}, {"v", "long", 0, 0}}};
  chunk c;
  bb f = {0}, p = {0};
  ch_init(&c);
  ch_metadata(&c, cs, N_STD + 3, 0);
  b_var(&p, 402);
  b_var(&p, 1);
  b_var(&p, 1);
  b_var9(&p, UINT64_MAX); /* 2^64-1 empty elements: no work */
  b_var(&p, 5);
  ch_checkpoint(&c, &p, 1, 1);
  b_free(&p);
  b_var(&p, 400);
  b_var(&p, 1);
  b_var(&p, 1);
  for (int i = 0; i < 100; i++)
    b_var(&p, 1);
  ch_checkpoint(&c, &p, 1, 1);
  ch_finish(&c, &f);
  expect_error(&f, "nested deeper than 32");
  b_free(&f);
  b_free(&p);
}

static void test_limits(void **state) {
  (void)state;
  bb f = {0};
  std_recording(&f);
  char err[512];
  pyr_jfrp_limits lim = pyr_jfrp_default_limits;
  lim.max_alloc = 1000;
  assert_int_equal(parse_err(&f, &lim, err, sizeof(err)), PYR_JFRP_ELIMIT);
  assert_non_null(strstr(err, "memory limit"));
  lim = pyr_jfrp_default_limits;
  lim.max_pool_entries = 3;
  assert_int_equal(parse_err(&f, &lim, err, sizeof(err)), PYR_JFRP_ELIMIT);
  assert_non_null(strstr(err, "constant-pool entries"));
  lim = pyr_jfrp_default_limits;
  lim.max_classes = 4;
  assert_int_equal(parse_err(&f, &lim, err, sizeof(err)), PYR_JFRP_ELIMIT);
  lim = pyr_jfrp_default_limits;
  lim.max_metadata = 64;
  assert_int_equal(parse_err(&f, &lim, err, sizeof(err)), PYR_JFRP_ELIMIT);
  lim = pyr_jfrp_default_limits;
  lim.max_input = 100;
  assert_int_equal(parse_err(&f, &lim, err, sizeof(err)), PYR_JFRP_ELIMIT);
  /* profile limits come back as PYR_JFR_ELIMIT */
  pyr_prof_limits pl = pyr_prof_default_limits;
  pl.max_stack_depth = 1;
  pyr_jfr_convert_opts o = {0};
  o.sample_rate = 100;
  o.prof_limits = &pl;
  pyr_prof_list l = {0};
  assert_int_equal(pyr_jfr_to_profiles(f.d, f.n, NULL, 0, &o, &l, NULL, 0, err, sizeof(err)),
                   PYR_JFR_ELIMIT);
  assert_non_null(strstr(err, "profile limit"));
  assert_int_equal(l.n, 0);
  b_free(&f);
}

/* Mutated variants of a valid recording never crash and always explain a
 * failure (the fuzzers go much further; this runs everywhere). */
static void test_bit_flips(void **state) {
  (void)state;
  bb f = {0};
  std_recording(&f);
  bb m = {0};
  bput(&m, f.d, f.n);
  char err[512], ev[64];
  for (size_t pos = 0; pos < f.n; pos++) {
    for (int bit = 0; bit < 8; bit++) {
      memcpy(m.d, f.d, f.n);
      m.d[pos] ^= (uint8_t)(1u << bit);
      pyr_prof_list l = {0};
      int rc = convert(&m, NULL, 0, 100, &l, ev, err);
      if (rc != PYR_JFR_OK)
        assert_true(err[0] != '\0');
      pyr_prof_list_free(&l);
    }
  }
  b_free(&f);
  b_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic_cpu),
      cmocka_unit_test(test_parser_callbacks),
      cmocka_unit_test(test_jdk_layout),
      cmocka_unit_test(test_multi_chunk),
      cmocka_unit_test(test_value_slot_quirk),
      cmocka_unit_test(test_missing_references),
      cmocka_unit_test(test_string_pool_refs),
      cmocka_unit_test(test_labels_and_gzip),
      cmocka_unit_test(test_live_object_and_span_name),
      cmocka_unit_test(test_normalize_symbols),
      cmocka_unit_test(test_truncation_everywhere),
      cmocka_unit_test(test_bad_header),
      cmocka_unit_test(test_checkpoint_delta_loop),
      cmocka_unit_test(test_huge_counts),
      cmocka_unit_test(test_bad_metadata),
      cmocka_unit_test(test_recursive_and_empty_types),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_bit_flips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
