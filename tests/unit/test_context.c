/*
 * test_context.c - the dynamic-labels context table (agent/context.c):
 * registration, bounds and the overflow/rejection counters, and the
 * LabelsSnapshot encoding, decoded back with protobuf-c.
 */
#include "context.h"

#include "labels.pb-c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *lookup_string(const Pyrite__Labels__LabelsSnapshot *s, int64_t id) {
  for (size_t i = 0; i < s->n_strings; i++)
    if (s->strings[i]->key == id)
      return s->strings[i]->value;
  return NULL;
}

static const Pyrite__Labels__Context *lookup_ctx(const Pyrite__Labels__LabelsSnapshot *s,
                                                 int64_t id) {
  for (size_t i = 0; i < s->n_contexts; i++)
    if (s->contexts[i]->key == id)
      return s->contexts[i]->value;
  return NULL;
}

/* The value of `key` in context `id`, through the string table; NULL if absent. */
static const char *label_of(const Pyrite__Labels__LabelsSnapshot *s, int64_t id, const char *key) {
  const Pyrite__Labels__Context *c = lookup_ctx(s, id);
  for (size_t i = 0; c && i < c->n_labels; i++) {
    const char *k = lookup_string(s, c->labels[i]->key);
    if (k && strcmp(k, key) == 0)
      return lookup_string(s, c->labels[i]->value);
  }
  return NULL;
}

static Pyrite__Labels__LabelsSnapshot *snapshot(pyr_ctx_table *t, const uint64_t *ids, size_t n,
                                                int expect) {
  uint8_t *buf = NULL;
  size_t len = 0;
  assert_int_equal(pyr_ctx_table_snapshot(t, ids, n, &buf, &len), expect);
  if (expect == 0) {
    assert_null(buf);
    return NULL;
  }
  Pyrite__Labels__LabelsSnapshot *s = pyrite__labels__labels_snapshot__unpack(NULL, len, buf);
  free(buf);
  assert_non_null(s);
  return s;
}

static void test_register_and_roundtrip(void **state) {
  (void)state;
  pyr_ctx_table *t = pyr_ctx_table_new(100);
  const char *k1[] = {"route"}, *v1[] = {"/pay"};
  const char *k2[] = {"route", "tier"}, *v2[] = {"/pay", "api"};
  const char *k3[] = {"route"}, *v3[] = {"/cart"};
  assert_int_equal(pyr_ctx_table_register(t, 1, k1, v1, 1), PYR_CTX_OK);
  assert_int_equal(pyr_ctx_table_register(t, 2, k2, v2, 2), PYR_CTX_OK);
  assert_int_equal(pyr_ctx_table_register(t, 7, k3, v3, 1), PYR_CTX_OK);
  /* A second registration of an id keeps the first set. */
  assert_int_equal(pyr_ctx_table_register(t, 1, k3, v3, 1), PYR_CTX_OK);

  uint64_t ids[] = {2, 0, 1, 2, 99, 1}; /* 0, unknown and repeated ids are skipped */
  Pyrite__Labels__LabelsSnapshot *s = snapshot(t, ids, 6, 2);
  assert_int_equal(s->n_contexts, 2);
  assert_string_equal(label_of(s, 1, "route"), "/pay");
  assert_null(label_of(s, 1, "tier"));
  assert_string_equal(label_of(s, 2, "route"), "/pay");
  assert_string_equal(label_of(s, 2, "tier"), "api");
  assert_null(lookup_ctx(s, 7)); /* not asked for */
  /* Only referenced strings, each once, ids from 1. */
  assert_int_equal(s->n_strings, 4); /* route, /pay, tier, api */
  pyrite__labels__labels_snapshot__free_unpacked(s, NULL);

  pyr_ctx_stats st;
  pyr_ctx_table_get_stats(t, &st);
  assert_int_equal(st.registered, 3);
  assert_int_equal(st.overflow, 0);
  assert_int_equal(st.rejected, 0);
  assert_int_equal(st.capacity, 100);
  pyr_ctx_table_free(t);
}

static void test_string_ids(void **state) {
  (void)state;
  pyr_ctx_table *t = pyr_ctx_table_new(10);
  const char *k[] = {"a", "b"}, *v[] = {"b", "a"}; /* keys and values share strings */
  assert_int_equal(pyr_ctx_table_register(t, 5, k, v, 2), PYR_CTX_OK);
  uint64_t ids[] = {5};
  Pyrite__Labels__LabelsSnapshot *s = snapshot(t, ids, 1, 1);
  assert_int_equal(s->n_strings, 2);
  for (size_t i = 0; i < s->n_strings; i++)
    assert_true(s->strings[i]->key >= 1 && s->strings[i]->key <= 2);
  assert_string_equal(label_of(s, 5, "a"), "b");
  assert_string_equal(label_of(s, 5, "b"), "a");
  pyrite__labels__labels_snapshot__free_unpacked(s, NULL);
  pyr_ctx_table_free(t);
}

static void test_overflow_counted(void **state) {
  (void)state;
  pyr_ctx_table *t = pyr_ctx_table_new(3);
  const char *k[] = {"n"};
  char val[16];
  const char *v[] = {val};
  for (uint64_t id = 1; id <= 5; id++) {
    snprintf(val, sizeof(val), "%llu", (unsigned long long)id);
    assert_int_equal(pyr_ctx_table_register(t, id, k, v, 1),
                     id <= 3 ? PYR_CTX_OK : PYR_CTX_OVERFLOW);
  }
  pyr_ctx_stats st;
  pyr_ctx_table_get_stats(t, &st);
  assert_int_equal(st.registered, 3);
  assert_int_equal(st.overflow, 2);
  uint64_t ids[] = {1, 2, 3, 4, 5};
  Pyrite__Labels__LabelsSnapshot *s = snapshot(t, ids, 5, 3);
  assert_null(lookup_ctx(s, 4));
  assert_string_equal(label_of(s, 3, "n"), "3");
  pyrite__labels__labels_snapshot__free_unpacked(s, NULL);
  pyr_ctx_table_free(t);
}

static void test_rejected(void **state) {
  (void)state;
  pyr_ctx_table *t = pyr_ctx_table_new(10);
  const char *good[] = {"ok"}, *val[] = {"x"};
  const char *bad_name[] = {"bad-name"}, *empty_name[] = {""};
  char *long_value = malloc(PYR_CTX_MAX_VALUE + 2);
  memset(long_value, 'v', PYR_CTX_MAX_VALUE + 1);
  long_value[PYR_CTX_MAX_VALUE + 1] = '\0';
  const char *lv[] = {long_value};
  const char *many_k[PYR_CTX_MAX_PAIRS + 1], *many_v[PYR_CTX_MAX_PAIRS + 1];
  for (int i = 0; i <= PYR_CTX_MAX_PAIRS; i++) {
    many_k[i] = "k";
    many_v[i] = "v";
  }
  assert_int_equal(pyr_ctx_table_register(t, 0, good, val, 1), PYR_CTX_REJECTED);
  assert_int_equal(pyr_ctx_table_register(t, 1, bad_name, val, 1), PYR_CTX_REJECTED);
  assert_int_equal(pyr_ctx_table_register(t, 2, empty_name, val, 1), PYR_CTX_REJECTED);
  assert_int_equal(pyr_ctx_table_register(t, 3, good, lv, 1), PYR_CTX_REJECTED);
  assert_int_equal(pyr_ctx_table_register(t, 4, many_k, many_v, PYR_CTX_MAX_PAIRS + 1),
                   PYR_CTX_REJECTED);
  long_value[PYR_CTX_MAX_VALUE] = '\0'; /* exactly the limit is fine */
  assert_int_equal(pyr_ctx_table_register(t, 5, good, lv, 1), PYR_CTX_OK);
  pyr_ctx_stats st;
  pyr_ctx_table_get_stats(t, &st);
  assert_int_equal(st.rejected, 5);
  assert_int_equal(st.registered, 1);
  uint64_t ids[] = {1, 2, 3, 4};
  snapshot(t, ids, 4, 0); /* none registered: no snapshot */
  free(long_value);
  pyr_ctx_table_free(t);
}

static void test_global(void **state) {
  (void)state;
  pyr_ctx_table *g = pyr_ctx_global();
  assert_non_null(g);
  assert_ptr_equal(g, pyr_ctx_global());
  pyr_ctx_stats st;
  pyr_ctx_global_stats(&st);
  assert_int_equal(st.capacity, PYR_CTX_DEFAULT_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register_and_roundtrip),
      cmocka_unit_test(test_string_ids),
      cmocka_unit_test(test_overflow_counted),
      cmocka_unit_test(test_rejected),
      cmocka_unit_test(test_global),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
