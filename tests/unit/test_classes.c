/* Unit tests for agent/classes.c: interning, the tag encoding of the
 * class-id cache, and pyr_classes_lookup against a fake class source whose
 * "class objects" carry a tag and a name, so that cache hits, misses,
 * failures, a foreign tag and class unloading (a new object where an old
 * one was) can be driven without a JVM.  The table is process-global, so
 * the overflow test runs last. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "classes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fake class object: what GetTag/SetTag/GetClassSignature would see. */
typedef struct fake_class {
  int64_t tag;
  const char *name;
} fake_class;

typedef struct fake_jvm {
  int names_asked, tags_read, tags_set;
  int fail_get, fail_set, fail_name;
} fake_jvm;

static int fake_get(void *ctx, void *cls, int64_t *tag) {
  fake_jvm *j = ctx;
  j->tags_read++;
  if (j->fail_get)
    return -1;
  *tag = ((fake_class *)cls)->tag;
  return 0;
}

static int fake_set(void *ctx, void *cls, int64_t tag) {
  fake_jvm *j = ctx;
  if (j->fail_set)
    return -1;
  j->tags_set++;
  ((fake_class *)cls)->tag = tag;
  return 0;
}

static char *fake_name(void *ctx, void *cls) {
  fake_jvm *j = ctx;
  j->names_asked++;
  if (j->fail_name)
    return NULL;
  const char *n = ((fake_class *)cls)->name;
  char *copy = malloc(strlen(n) + 1);
  return copy ? memcpy(copy, n, strlen(n) + 1) : NULL;
}

static pyr_classes_source cached(fake_jvm *j) {
  return (pyr_classes_source){.get_tag = fake_get, .set_tag = fake_set, .name = fake_name,
                              .ctx = j};
}

static void test_intern_stable(void **state) {
  (void)state;
  uint32_t a = pyr_classes_intern("java/lang/String");
  uint32_t b = pyr_classes_intern("byte[]");
  assert_true(a > 0);
  assert_true(b > 0);
  assert_int_not_equal(a, b);
  assert_int_equal(pyr_classes_intern("java/lang/String"), a);
  assert_string_equal(pyr_classes_name(a), "java/lang/String");
  assert_string_equal(pyr_classes_name(b), "byte[]");
  assert_string_equal(pyr_classes_name(0), "[unknown class]");
}

static void test_tag_encoding(void **state) {
  (void)state;
  uint32_t id = pyr_classes_intern("tag/Encoding");
  int64_t t = pyr_classes_tag(id);
  assert_true(t > 0); /* a JVMTI tag of 0 means "untagged" */
  assert_int_equal(pyr_classes_tag_id(t), id);
  /* Not ours: untagged, a small number another encoding might use, a tag
   * with extra bits, a negative one, and one naming an id not assigned. */
  assert_int_equal(pyr_classes_tag_id(0), 0);
  assert_int_equal(pyr_classes_tag_id((int64_t)id), 0);
  assert_int_equal(pyr_classes_tag_id(t | (1ll << 40)), 0);
  assert_int_equal(pyr_classes_tag_id(-t), 0);
  assert_int_equal(pyr_classes_tag_id(pyr_classes_tag(pyr_classes_count() + 1)), 0);
  assert_int_equal(pyr_classes_tag_id(pyr_classes_tag(0)), 0);
}

static void test_lookup_caches(void **state) {
  fake_jvm j = {0};
  fake_class k = {0, "com/example/Order"};
  pyr_classes_source src = cached(&j);
  pyr_classes_stats before, after;
  (void)state;
  pyr_classes_get_stats(&before);
  uint32_t id = pyr_classes_lookup(&src, &k);
  assert_true(id > 0);
  assert_string_equal(pyr_classes_name(id), "com/example/Order");
  assert_int_equal(j.names_asked, 1);
  assert_int_equal(j.tags_set, 1);
  assert_int_equal(pyr_classes_tag_id(k.tag), id);
  /* Later samples: the tag answers, the name is never asked again. */
  for (int i = 0; i < 100; i++)
    assert_int_equal(pyr_classes_lookup(&src, &k), id);
  assert_int_equal(j.names_asked, 1);
  assert_int_equal(j.tags_set, 1);
  pyr_classes_get_stats(&after);
  assert_int_equal(after.tag_hits - before.tag_hits, 100);
  assert_int_equal(after.tag_misses - before.tag_misses, 1);
  assert_int_equal(pyr_classes_lookup(&src, NULL), 0);
}

static void test_lookup_without_cache(void **state) {
  fake_jvm j = {0};
  fake_class k = {0, "com/example/NoTags"};
  pyr_classes_source src = {.name = fake_name, .ctx = &j}; /* no can_tag_objects */
  pyr_classes_stats before, after;
  (void)state;
  pyr_classes_get_stats(&before);
  uint32_t id = pyr_classes_lookup(&src, &k);
  assert_true(id > 0);
  assert_int_equal(pyr_classes_lookup(&src, &k), id);
  assert_int_equal(j.names_asked, 2); /* every lookup asks, as before the cache */
  assert_int_equal(k.tag, 0);
  pyr_classes_get_stats(&after);
  assert_int_equal(after.tag_hits, before.tag_hits);
  assert_int_equal(after.tag_misses, before.tag_misses);
}

static void test_lookup_failures(void **state) {
  fake_jvm j = {0};
  fake_class k = {0, "com/example/Flaky"};
  pyr_classes_source src = cached(&j);
  (void)state;
  /* No name: unknown, and nothing cached, so a later lookup retries. */
  j.fail_name = 1;
  assert_int_equal(pyr_classes_lookup(&src, &k), 0);
  assert_int_equal(k.tag, 0);
  j.fail_name = 0;
  /* SetTag refused: the id is still right, just not cached. */
  j.fail_set = 1;
  uint32_t id = pyr_classes_lookup(&src, &k);
  assert_true(id > 0);
  assert_int_equal(k.tag, 0);
  j.fail_set = 0;
  /* GetTag failing falls back to the name (and may then cache). */
  j.fail_get = 1;
  int asked = j.names_asked;
  assert_int_equal(pyr_classes_lookup(&src, &k), id);
  assert_int_equal(j.names_asked, asked + 1);
  j.fail_get = 0;
  assert_int_equal(pyr_classes_lookup(&src, &k), id);
}

static void test_foreign_tag_is_replaced(void **state) {
  fake_jvm j = {0};
  fake_class k = {42, "com/example/Foreign"}; /* a tag that is not ours */
  pyr_classes_source src = cached(&j);
  (void)state;
  uint32_t id = pyr_classes_lookup(&src, &k);
  assert_string_equal(pyr_classes_name(id), "com/example/Foreign");
  assert_int_equal(j.names_asked, 1);
  assert_int_equal(pyr_classes_tag_id(k.tag), id);
}

/* A class is unloaded and another loaded in its place: the tag died with
 * the old Class object, the new object starts untagged, so the new class
 * is named by its own name, never by the old one's cached id. */
static void test_unload_and_reuse(void **state) {
  fake_jvm j = {0};
  pyr_classes_source src = cached(&j);
  fake_class *k = malloc(sizeof(*k));
  (void)state;
  assert_non_null(k);
  *k = (fake_class){0, "plugin/v1/Handler"};
  uint32_t old_id = pyr_classes_lookup(&src, k);
  assert_int_equal(pyr_classes_lookup(&src, k), old_id);
  /* "Unload": the object and its tag go; a new class object, possibly at
   * the same address, has no tag (what the JVM guarantees). */
  k->tag = 0;
  k->name = "plugin/v2/Handler";
  uint32_t new_id = pyr_classes_lookup(&src, k);
  assert_int_not_equal(new_id, old_id);
  assert_string_equal(pyr_classes_name(new_id), "plugin/v2/Handler");
  assert_string_equal(pyr_classes_name(old_id), "plugin/v1/Handler"); /* ids not reused */
  /* Same name from another class loader: a distinct object, the same id. */
  fake_class twin = {0, "plugin/v2/Handler"};
  assert_int_equal(pyr_classes_lookup(&src, &twin), new_id);
  free(k);
}

static void test_overflow_not_cached(void **state) {
  fake_jvm j = {0};
  pyr_classes_source src = cached(&j);
  pyr_classes_stats before, after;
  char name[64];
  (void)state;
  pyr_classes_get_stats(&before);
  assert_int_equal(before.overflow, 0);
  for (uint32_t i = 0; pyr_classes_count() < PYR_CLASSES_MAX - 1; i++) {
    snprintf(name, sizeof(name), "fill/C%u", i);
    assert_true(pyr_classes_intern(name) > 0);
  }
  fake_class k = {0, "late/Class"};
  assert_int_equal(pyr_classes_lookup(&src, &k), 0);
  assert_int_equal(k.tag, 0); /* id 0 is never cached */
  assert_int_equal(pyr_classes_lookup(&src, &k), 0);
  assert_int_equal(j.names_asked, 2);
  pyr_classes_get_stats(&after);
  assert_int_equal(after.overflow - before.overflow, 2);
  /* Names interned before the table filled still resolve and still hit. */
  assert_true(pyr_classes_intern("java/lang/String") > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_intern_stable),
      cmocka_unit_test(test_tag_encoding),
      cmocka_unit_test(test_lookup_caches),
      cmocka_unit_test(test_lookup_without_cache),
      cmocka_unit_test(test_lookup_failures),
      cmocka_unit_test(test_foreign_tag_is_replaced),
      cmocka_unit_test(test_unload_and_reuse),
      cmocka_unit_test(test_overflow_not_cached),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
