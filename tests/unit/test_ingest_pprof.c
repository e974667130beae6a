/*
 * test_ingest_pprof.c - pprof decoding (server/pprof.c): stacks from
 * leaf-first location ids with inlined lines expanded innermost first,
 * function names and line numbers, string sample labels (numeric ones
 * ignored), more sample types than one profile holds, sparse ids, the
 * 1970 time fix, every malformed-input rejection, Pyroscope's __name__
 * guess, and an encode -> decode round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pprof.h"
#include "pprof.pb-c.h"
#include "profile.h"

/* ---- a small pprof builder on top of the protobuf-c structs ------------- */

#define MAXN 64
struct pb {
  Google__V1__Profile p;
  char *strs[MAXN];
  Google__V1__ValueType vt[8], *vtp[8], period_type;
  Google__V1__Function fn[MAXN], *fnp[MAXN];
  Google__V1__Location loc[MAXN], *locp[MAXN];
  Google__V1__Line line[MAXN], *linep[MAXN];
  size_t nline;
  Google__V1__Sample smp[MAXN], *smpp[MAXN];
  uint64_t locids[MAXN][8];
  int64_t vals[MAXN][8];
  Google__V1__Label lab[MAXN], *labp[MAXN];
  size_t nlab;
};

static int64_t S(struct pb *b, const char *s) {
  for (size_t i = 0; i < b->p.n_string_table; i++)
    if (strcmp(b->strs[i], s) == 0)
      return (int64_t)i;
  b->strs[b->p.n_string_table] = (char *)s;
  return (int64_t)b->p.n_string_table++;
}

static void pb_init(struct pb *b, const char *const *types, size_t ntypes) {
  memset(b, 0, sizeof(*b));
  google__v1__profile__init(&b->p);
  b->p.string_table = b->strs;
  S(b, "");
  for (size_t i = 0; i < ntypes; i++) {
    google__v1__value_type__init(&b->vt[i]);
    b->vt[i].type = S(b, types[i]);
    b->vt[i].unit = S(b, "count");
    b->vtp[i] = &b->vt[i];
  }
  b->p.n_sample_type = ntypes;
  b->p.sample_type = b->vtp;
  google__v1__value_type__init(&b->period_type);
  b->period_type.type = S(b, "cpu");
  b->period_type.unit = S(b, "nanoseconds");
  b->p.period_type = &b->period_type;
  b->p.period = 10000000;
  b->p.time_nanos = INT64_C(1700000000000000000);
  b->p.duration_nanos = INT64_C(10000000000);
  b->p.function = b->fnp;
  b->p.location = b->locp;
  b->p.sample = b->smpp;
}

static uint64_t fn(struct pb *b, uint64_t id, const char *name, const char *sys) {
  size_t i = b->p.n_function++;
  google__v1__function__init(&b->fn[i]);
  b->fn[i].id = id;
  b->fn[i].name = S(b, name);
  b->fn[i].system_name = S(b, sys);
  b->fnp[i] = &b->fn[i];
  return id;
}

/* A location with lines (function id, line) pairs, innermost first. */
static void loc(struct pb *b, uint64_t id, uint64_t addr, size_t n,
                const uint64_t *fids, const int64_t *lines) {
  size_t i = b->p.n_location++;
  google__v1__location__init(&b->loc[i]);
  b->loc[i].id = id;
  b->loc[i].address = addr;
  b->loc[i].n_line = n;
  b->loc[i].line = &b->linep[b->nline];
  for (size_t j = 0; j < n; j++) {
    google__v1__line__init(&b->line[b->nline]);
    b->line[b->nline].function_id = fids[j];
    b->line[b->nline].line = lines[j];
    b->linep[b->nline] = &b->line[b->nline];
    b->nline++;
  }
  b->locp[i] = &b->loc[i];
}

static Google__V1__Sample *smp(struct pb *b, size_t nl, const uint64_t *lids,
                               const int64_t *v) {
  size_t i = b->p.n_sample++;
  google__v1__sample__init(&b->smp[i]);
  if (nl > 0)
    memcpy(b->locids[i], lids, nl * sizeof(*lids));
  b->smp[i].n_location_id = nl;
  b->smp[i].location_id = b->locids[i];
  memcpy(b->vals[i], v, b->p.n_sample_type * sizeof(*v));
  b->smp[i].n_value = b->p.n_sample_type;
  b->smp[i].value = b->vals[i];
  b->smpp[i] = &b->smp[i];
  return &b->smp[i];
}

static void label(struct pb *b, Google__V1__Sample *s, const char *k,
                  const char *v, int64_t num) {
  size_t i = b->nlab++;
  google__v1__label__init(&b->lab[i]);
  b->lab[i].key = S(b, k);
  b->lab[i].str = v ? S(b, v) : 0;
  b->lab[i].num = num;
  b->labp[i] = &b->lab[i];
  if (s->n_label == 0)
    s->label = &b->labp[i];
  s->n_label++;
}

static uint8_t *pack(struct pb *b, size_t *len) {
  *len = google__v1__profile__get_packed_size(&b->p);
  uint8_t *buf = malloc(*len + 1);
  assert_non_null(buf);
  google__v1__profile__pack(&b->p, buf);
  return buf;
}

/* Stack of sample i as "f:l;g:l" (root first), label set as "k=v,..." */
static void render(const pyr_prof *p, size_t i, char *stack, size_t sl,
                   char *labels, size_t ll, const int64_t **v) {
  const uint32_t *locs;
  uint32_t n, ls;
  size_t off = 0;
  pyr_prof_sample(p, i, &locs, &n, &ls, v);
  stack[0] = '\0';
  for (uint32_t j = 0; j < n; j++) {
    uint32_t name;
    int64_t line;
    size_t len;
    pyr_prof_loc(p, locs[j], &name, &line);
    const char *s = pyr_prof_str(p, name, &len);
    off += (size_t)snprintf(stack + off, sl - off, "%s%.*s:%lld", j ? ";" : "",
                            (int)len, s, (long long)line);
  }
  off = 0;
  labels[0] = '\0';
  size_t nl = 0;
  const pyr_prof_label *pl = ls ? pyr_prof_labels(p, ls, &nl) : NULL;
  for (size_t j = 0; j < nl; j++) {
    size_t kl, vl;
    const char *k = pyr_prof_str(p, pl[j].key, &kl);
    const char *val = pyr_prof_str(p, pl[j].value, &vl);
    off += (size_t)snprintf(labels + off, ll - off, "%s%.*s=%.*s", j ? "," : "",
                            (int)kl, k, (int)vl, val);
  }
}

static int decode(const uint8_t *buf, size_t len, pyr_prof_list *out, char *err) {
  pyr_pprof_opts o = {.default_time_ns = INT64_C(1600000000000000000)};
  return pyr_pprof_decode(buf, len, &o, out, err, 256);
}

/* ---- tests -------------------------------------------------------------- */

static void test_stacks_inlining_labels(void **state) {
  (void)state;
  static const char *const types[] = {"samples", "cpu"};
  struct pb b;
  pb_init(&b, types, 2);
  fn(&b, 1, "main", "");
  fn(&b, 2, "work", "");
  fn(&b, 3, "inlined_helper", "");
  fn(&b, 4, "", "sys_only");
  /* loc 10: work line 20 with inlined_helper line 5 inlined into it. */
  loc(&b, 1, 0, 1, (uint64_t[]){1}, (int64_t[]){10});
  loc(&b, 2, 0, 2, (uint64_t[]){3, 2}, (int64_t[]){5, 20});
  loc(&b, 3, 0x1234, 0, NULL, NULL);
  loc(&b, 4, 0, 1, (uint64_t[]){4}, (int64_t[]){7});
  Google__V1__Sample *s1 = smp(&b, 2, (uint64_t[]){2, 1}, (int64_t[]){1, 10});
  label(&b, s1, "integration", "redis", 0);
  label(&b, s1, "bytes", NULL, 42); /* numeric: ignored */
  smp(&b, 3, (uint64_t[]){3, 4, 1}, (int64_t[]){2, 20});
  smp(&b, 1, (uint64_t[]){1}, (int64_t[]){0, 0}); /* all zero: skipped */

  size_t len;
  uint8_t *buf = pack(&b, &len);
  pyr_prof_list out = {0};
  char err[256] = "";
  assert_int_equal(decode(buf, len, &out, err), PYR_PROF_OK);
  assert_int_equal(out.n, 1);
  const pyr_prof *p = out.items[0];
  const pyr_prof_type *t = pyr_prof_get_type(p);
  assert_string_equal(t->name, "process_cpu"); /* "cpu" in a type name */
  assert_int_equal(t->nvalues, 2);
  assert_string_equal(t->sample_type[1], "cpu");
  assert_string_equal(t->period_type, "cpu");
  assert_int_equal(t->period, 10000000);
  int64_t tn, dn;
  pyr_prof_get_time(p, &tn, &dn);
  assert_true(tn == INT64_C(1700000000000000000));
  assert_true(dn == INT64_C(10000000000));
  assert_int_equal(pyr_prof_nsamples(p), 2);

  char st[512], lb[256];
  const int64_t *v;
  render(p, 0, st, sizeof(st), lb, sizeof(lb), &v);
  assert_string_equal(st, "main:10;work:20;inlined_helper:5");
  assert_string_equal(lb, "integration=redis");
  assert_int_equal(v[0], 1);
  assert_int_equal(v[1], 10);
  render(p, 1, st, sizeof(st), lb, sizeof(lb), &v);
  assert_string_equal(st, "main:10;sys_only:7;0x1234:0");
  assert_string_equal(lb, "");
  assert_int_equal(v[1], 20);
  pyr_prof_list_free(&out);
  free(buf);
}

static void test_many_types_sparse_ids_time(void **state) {
  (void)state;
  static const char *const types[] = {"alloc_objects", "alloc_space",
                                      "inuse_objects", "inuse_space", "extra"};
  struct pb b;
  pb_init(&b, types, 5);
  b.p.time_nanos = 1700000000; /* seconds in time_nanos: 1970 -> replaced */
  fn(&b, 1000, "f", "");
  loc(&b, 77, 0, 1, (uint64_t[]){1000}, (int64_t[]){1});
  loc(&b, 5, 0, 1, (uint64_t[]){1000}, (int64_t[]){2});
  smp(&b, 2, (uint64_t[]){77, 5}, (int64_t[]){1, 2, 3, 4, 5});
  size_t len;
  uint8_t *buf = pack(&b, &len);
  pyr_prof_list out = {0};
  char err[256] = "";
  assert_int_equal(decode(buf, len, &out, err), PYR_PROF_OK);
  assert_int_equal(out.n, 2); /* 4 + 1 columns */
  assert_string_equal(pyr_prof_get_type(out.items[0])->name, "memory");
  assert_int_equal(pyr_prof_get_type(out.items[0])->nvalues, 4);
  assert_int_equal(pyr_prof_get_type(out.items[1])->nvalues, 1);
  assert_string_equal(pyr_prof_get_type(out.items[1])->sample_type[0], "extra");
  int64_t tn, dn;
  pyr_prof_get_time(out.items[1], &tn, &dn);
  assert_true(tn == INT64_C(1600000000000000000));
  char st[256], lb[64];
  const int64_t *v;
  render(out.items[1], 0, st, sizeof(st), lb, sizeof(lb), &v);
  assert_string_equal(st, "f:2;f:1");
  assert_int_equal(v[0], 5);
  pyr_prof_list_free(&out);
  free(buf);
}

static void expect_invalid(struct pb *b, const char *needle) {
  size_t len;
  uint8_t *buf = pack(b, &len);
  pyr_prof_list out = {0};
  char err[256] = "";
  assert_int_equal(decode(buf, len, &out, err), PYR_PROF_EINVAL);
  if (strstr(err, needle) == NULL)
    fail_msg("error '%s' lacks '%s'", err, needle);
  pyr_prof_list_free(&out);
  free(buf);
}

static void test_invalid(void **state) {
  (void)state;
  static const char *const types[] = {"cpu"};
  struct pb b;

  pb_init(&b, types, 1);
  fn(&b, 1, "f", "");
  loc(&b, 1, 0, 1, (uint64_t[]){1}, (int64_t[]){1});
  smp(&b, 1, (uint64_t[]){9}, (int64_t[]){1});
  expect_invalid(&b, "location id 9 not found");

  pb_init(&b, types, 1);
  fn(&b, 1, "f", "");
  loc(&b, 1, 0, 1, (uint64_t[]){2}, (int64_t[]){1});
  expect_invalid(&b, "function id 2 not found");

  pb_init(&b, types, 1);
  fn(&b, 1, "f", "");
  b.fn[0].name = 999;
  expect_invalid(&b, "string table index");

  pb_init(&b, types, 1);
  Google__V1__Sample *s = smp(&b, 0, NULL, (int64_t[]){1});
  s->n_value = 0;
  expect_invalid(&b, "has 0 values for 1 sample types");

  pb_init(&b, types, 1);
  b.strs[0] = "x";
  expect_invalid(&b, "string_table[0]");

  pb_init(&b, types, 1);
  fn(&b, 1, "f", "");
  fn(&b, 1, "g", "");
  fn(&b, 3, "h", ""); /* not dense: uses the hash map, finds the dup */
  expect_invalid(&b, "duplicate");

  /* Not a protobuf at all. */
  static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
  pyr_prof_list out = {0};
  char err[256] = "";
  assert_int_equal(decode(junk, sizeof(junk), &out, err), PYR_PROF_EINVAL);
  assert_non_null(strstr(err, "not a valid"));

  /* An empty message is a valid pprof without sample types: no profile. */
  assert_int_equal(decode((const uint8_t *)"", 0, &out, err), PYR_PROF_OK);
  assert_int_equal(out.n, 0);

  /* The decode budget turns a huge message into ELIMIT, not a big malloc. */
  pb_init(&b, types, 1);
  fn(&b, 1, "f", "");
  size_t len;
  uint8_t *buf = pack(&b, &len);
  pyr_pprof_opts o = {.max_alloc_bytes = 16};
  assert_int_equal(pyr_pprof_decode(buf, len, &o, &out, err, sizeof(err)),
                   PYR_PROF_ELIMIT);
  free(buf);
}

static void test_guess_metric(void **state) {
  (void)state;
  char m[PYR_PROF_NAME_MAX];
  struct {
    const char *types[3];
    size_t n;
    const char *want;
  } cases[] = {
      {{"samples", "cpu"}, 2, "process_cpu"},
      {{"samples", "wall", "cpu"}, 3, "wall"},
      {{"alloc_objects", "alloc_space"}, 2, "memory"},
      {{"inuse_space"}, 1, "memory"},
      {{"space"}, 1, "memory"},
      {{"objects"}, 1, "memory"},
      {{"contentions", "delay"}, 2, "delay"}, /* last type */
      {{"mutex_count"}, 1, "mutex"},
      {{"block_delay"}, 1, "block"},
      {{"goroutines"}, 1, "goroutines"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pyr_pprof_guess_metric(cases[i].types, cases[i].n, NULL, 0, m);
    if (strcmp(m, cases[i].want) != 0)
      fail_msg("case %zu: %s, want %s", i, m, cases[i].want);
  }
  /* sample_type_config display names count for the guess. */
  const char *t[] = {"contentions", "delay"};
  pyr_pprof_display d[] = {{"contentions", "mutex_count"}};
  pyr_pprof_guess_metric(t, 2, d, 1, m);
  assert_string_equal(m, "mutex");
}

static void test_roundtrip(void **state) {
  (void)state;
  pyr_prof_type t;
  memset(&t, 0, sizeof(t));
  strcpy(t.name, "memory");
  t.nvalues = 2;
  strcpy(t.sample_type[0], "alloc_in_new_tlab_objects");
  strcpy(t.sample_unit[0], "count");
  strcpy(t.sample_type[1], "alloc_in_new_tlab_bytes");
  strcpy(t.sample_unit[1], "bytes");
  strcpy(t.period_type, "space");
  strcpy(t.period_unit, "bytes");
  t.period = 524288;
  pyr_prof *p = pyr_prof_new(&t, &pyr_prof_default_limits);
  uint32_t a = (uint32_t)pyr_prof_location(p, (uint32_t)pyr_prof_intern(p, "java/lang/Thread.run", 20), 833);
  uint32_t c = (uint32_t)pyr_prof_location(p, (uint32_t)pyr_prof_intern(p, "A.b", 3), 0);
  pyr_prof_label lab = {(uint32_t)pyr_prof_intern(p, "k", 1),
                        (uint32_t)pyr_prof_intern(p, "v", 1)};
  uint32_t ls = (uint32_t)pyr_prof_labelset(p, &lab, 1);
  pyr_prof_set_time(p, INT64_C(1700000000000000000), 10);
  assert_int_equal(pyr_prof_add(p, (uint32_t[]){a, c}, 2, ls, (int64_t[]){1, 512}), 0);
  assert_int_equal(pyr_prof_add(p, (uint32_t[]){a}, 1, 0, (int64_t[]){2, 1024}), 0);

  uint8_t *buf;
  size_t len;
  assert_int_equal(pyr_pprof_encode(p, &buf, &len), 0);
  pyr_prof_list out = {0};
  char err[256] = "";
  assert_int_equal(decode(buf, len, &out, err), PYR_PROF_OK);
  assert_int_equal(out.n, 1);
  const pyr_prof_type *t2 = pyr_prof_get_type(out.items[0]);
  char id1[256], id2[256];
  for (uint32_t col = 0; col < 2; col++) {
    pyr_prof_type_id(&t, col, id1, sizeof(id1));
    pyr_prof_type_id(t2, col, id2, sizeof(id2));
    assert_string_equal(id1, id2);
  }
  assert_int_equal(t2->period, 524288);
  char st[256], lb[64];
  const int64_t *v;
  render(out.items[0], 0, st, sizeof(st), lb, sizeof(lb), &v);
  assert_string_equal(st, "java/lang/Thread.run:833;A.b:0");
  assert_string_equal(lb, "k=v");
  assert_int_equal(v[1], 512);
  render(out.items[0], 1, st, sizeof(st), lb, sizeof(lb), &v);
  assert_string_equal(st, "java/lang/Thread.run:833");
  assert_int_equal(v[0], 2);
  pyr_prof_list_free(&out);
  pyr_prof_free(p);
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stacks_inlining_labels),
      cmocka_unit_test(test_many_types_sparse_ids_time),
      cmocka_unit_test(test_invalid),
      cmocka_unit_test(test_guess_metric),
      cmocka_unit_test(test_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
