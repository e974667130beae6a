/*
 * test_proto_labels.c - the labels snapshot (proto/labels.proto) as protoc-c
 * compiles it: exact wire bytes of small known messages, and a pack/unpack
 * round trip.
 *
 * The Pyroscope Java agent sends a LabelsSnapshot next to each JFR upload;
 * the server decodes it with this generated code, so the field numbers and
 * wire types must match the agent's exactly.  Each map entry is encoded as
 * a length-delimited sub-message with the key in field 1 and the value in
 * field 2.  proto3 omits zero scalars, so the fixtures use non-zero keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "labels.pb-c.h"

/* Builds {contexts: {1: {labels: {2: 3}}}, strings: {2: "k", 3: "v"}} in
 * caller-provided storage (nothing is heap-allocated). */
struct snap_fixture {
  Pyrite__Labels__Context__LabelsEntry label;
  Pyrite__Labels__Context__LabelsEntry *labels[1];
  Pyrite__Labels__Context ctx;
  Pyrite__Labels__LabelsSnapshot__ContextsEntry ctx_entry;
  Pyrite__Labels__LabelsSnapshot__ContextsEntry *ctx_entries[1];
  Pyrite__Labels__LabelsSnapshot__StringsEntry str[2];
  Pyrite__Labels__LabelsSnapshot__StringsEntry *str_entries[2];
  Pyrite__Labels__LabelsSnapshot snap;
};

static void snap_fixture_init(struct snap_fixture *f) {
  pyrite__labels__context__labels_entry__init(&f->label);
  f->label.key = 2;
  f->label.value = 3;
  f->labels[0] = &f->label;

  pyrite__labels__context__init(&f->ctx);
  f->ctx.n_labels = 1;
  f->ctx.labels = f->labels;

  pyrite__labels__labels_snapshot__contexts_entry__init(&f->ctx_entry);
  f->ctx_entry.key = 1;
  f->ctx_entry.value = &f->ctx;
  f->ctx_entries[0] = &f->ctx_entry;

  for (int i = 0; i < 2; i++) {
    pyrite__labels__labels_snapshot__strings_entry__init(&f->str[i]);
    f->str_entries[i] = &f->str[i];
  }
  f->str[0].key = 2;
  f->str[0].value = "k";
  f->str[1].key = 3;
  f->str[1].value = "v";

  pyrite__labels__labels_snapshot__init(&f->snap);
  f->snap.n_contexts = 1;
  f->snap.contexts = f->ctx_entries;
  f->snap.n_strings = 2;
  f->snap.strings = f->str_entries;
}

/* Tag byte = field_number << 3 | wire_type; 0 = varint, 2 = length-delimited. */
static const uint8_t snap_wire[] = {
    /* contexts (field 1, LEN) entry, 10 bytes */
    0x0a, 0x0a,
    0x08, 0x01,                   /*   key (field 1, varint) = 1 */
    0x12, 0x06,                   /*   value (field 2, LEN) = Context, 6 bytes */
    0x0a, 0x04,                   /*     labels (field 1, LEN) entry, 4 bytes */
    0x08, 0x02,                   /*       key = 2 */
    0x10, 0x03,                   /*       value (field 2, varint) = 3 */
    /* strings (field 2, LEN) entry, 5 bytes */
    0x12, 0x05, 0x08, 0x02, 0x12, 0x01, 'k',
    0x12, 0x05, 0x08, 0x03, 0x12, 0x01, 'v',
};

static void test_snapshot_wire_bytes(void **state) {
  (void)state;
  struct snap_fixture f;
  snap_fixture_init(&f);

  size_t n = pyrite__labels__labels_snapshot__get_packed_size(&f.snap);
  assert_int_equal(n, sizeof(snap_wire));
  uint8_t buf[64];
  assert_true(n <= sizeof(buf));
  assert_int_equal(pyrite__labels__labels_snapshot__pack(&f.snap, buf), n);
  assert_memory_equal(buf, snap_wire, sizeof(snap_wire));
}

/* int64 is a plain (not zig-zag) varint: -1 takes ten bytes. */
static void test_context_negative_value_wire_bytes(void **state) {
  (void)state;
  static const uint8_t want[] = {
      0x0a, 0x0d,       /* labels entry, 13 bytes */
      0x08, 0x05,       /* key = 5 */
      0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
  };
  Pyrite__Labels__Context__LabelsEntry e;
  Pyrite__Labels__Context__LabelsEntry *ep = &e;
  Pyrite__Labels__Context ctx;
  pyrite__labels__context__labels_entry__init(&e);
  e.key = 5;
  e.value = -1;
  pyrite__labels__context__init(&ctx);
  ctx.n_labels = 1;
  ctx.labels = &ep;

  uint8_t buf[32];
  size_t n = pyrite__labels__context__get_packed_size(&ctx);
  assert_int_equal(n, sizeof(want));
  assert_int_equal(pyrite__labels__context__pack(&ctx, buf), n);
  assert_memory_equal(buf, want, sizeof(want));

  Pyrite__Labels__Context *back =
      pyrite__labels__context__unpack(NULL, n, buf);
  assert_non_null(back);
  assert_int_equal(back->n_labels, 1);
  assert_int_equal(back->labels[0]->key, 5);
  assert_true(back->labels[0]->value == -1);
  pyrite__labels__context__free_unpacked(back, NULL);
}

static void test_snapshot_unpack_round_trip(void **state) {
  (void)state;
  Pyrite__Labels__LabelsSnapshot *s = pyrite__labels__labels_snapshot__unpack(
      NULL, sizeof(snap_wire), snap_wire);
  assert_non_null(s);

  assert_int_equal(s->n_contexts, 1);
  assert_int_equal(s->contexts[0]->key, 1);
  assert_non_null(s->contexts[0]->value);
  assert_int_equal(s->contexts[0]->value->n_labels, 1);
  assert_int_equal(s->contexts[0]->value->labels[0]->key, 2);
  assert_int_equal(s->contexts[0]->value->labels[0]->value, 3);

  assert_int_equal(s->n_strings, 2);
  assert_int_equal(s->strings[0]->key, 2);
  assert_string_equal(s->strings[0]->value, "k");
  assert_int_equal(s->strings[1]->key, 3);
  assert_string_equal(s->strings[1]->value, "v");

  /* Re-packing what we decoded gives the same bytes back. */
  uint8_t buf[64];
  size_t n = pyrite__labels__labels_snapshot__get_packed_size(s);
  assert_int_equal(n, sizeof(snap_wire));
  pyrite__labels__labels_snapshot__pack(s, buf);
  assert_memory_equal(buf, snap_wire, sizeof(snap_wire));
  pyrite__labels__labels_snapshot__free_unpacked(s, NULL);
}

/* A larger snapshot survives pack -> unpack with every entry intact. */
static void test_snapshot_many_entries_round_trip(void **state) {
  (void)state;
  enum { NCTX = 100, NSTR = 300 };
  Pyrite__Labels__Context__LabelsEntry *lab = calloc(NCTX, sizeof(*lab));
  Pyrite__Labels__Context__LabelsEntry **labp = calloc(NCTX, sizeof(*labp));
  Pyrite__Labels__Context *ctx = calloc(NCTX, sizeof(*ctx));
  Pyrite__Labels__LabelsSnapshot__ContextsEntry *ce = calloc(NCTX, sizeof(*ce));
  Pyrite__Labels__LabelsSnapshot__ContextsEntry **cep = calloc(NCTX, sizeof(*cep));
  Pyrite__Labels__LabelsSnapshot__StringsEntry *se = calloc(NSTR, sizeof(*se));
  Pyrite__Labels__LabelsSnapshot__StringsEntry **sep = calloc(NSTR, sizeof(*sep));
  char(*text)[24] = calloc(NSTR, sizeof(*text));
  uint8_t *buf = NULL;
  assert_true(lab && labp && ctx && ce && cep && se && sep && text);

  for (int i = 0; i < NCTX; i++) {
    pyrite__labels__context__labels_entry__init(&lab[i]);
    lab[i].key = 1000 + i;
    lab[i].value = INT64_MAX - i;
    labp[i] = &lab[i];
    pyrite__labels__context__init(&ctx[i]);
    ctx[i].n_labels = 1;
    ctx[i].labels = &labp[i];
    pyrite__labels__labels_snapshot__contexts_entry__init(&ce[i]);
    ce[i].key = (int64_t)1 << 40 | i;
    ce[i].value = &ctx[i];
    cep[i] = &ce[i];
  }
  for (int i = 0; i < NSTR; i++) {
    pyrite__labels__labels_snapshot__strings_entry__init(&se[i]);
    snprintf(text[i], sizeof(text[i]), "label-%d", i);
    se[i].key = i + 1;
    se[i].value = text[i];
    sep[i] = &se[i];
  }
  Pyrite__Labels__LabelsSnapshot snap;
  pyrite__labels__labels_snapshot__init(&snap);
  snap.n_contexts = NCTX;
  snap.contexts = cep;
  snap.n_strings = NSTR;
  snap.strings = sep;

  size_t n = pyrite__labels__labels_snapshot__get_packed_size(&snap);
  buf = malloc(n);
  assert_non_null(buf);
  assert_int_equal(pyrite__labels__labels_snapshot__pack(&snap, buf), n);

  Pyrite__Labels__LabelsSnapshot *s =
      pyrite__labels__labels_snapshot__unpack(NULL, n, buf);
  assert_non_null(s);
  assert_int_equal(s->n_contexts, NCTX);
  assert_int_equal(s->n_strings, NSTR);
  for (int i = 0; i < NCTX; i++) {
    assert_true(s->contexts[i]->key == ((int64_t)1 << 40 | i));
    assert_int_equal(s->contexts[i]->value->n_labels, 1);
    assert_int_equal(s->contexts[i]->value->labels[0]->key, 1000 + i);
    assert_true(s->contexts[i]->value->labels[0]->value == INT64_MAX - i);
  }
  for (int i = 0; i < NSTR; i++) {
    assert_int_equal(s->strings[i]->key, i + 1);
    assert_string_equal(s->strings[i]->value, text[i]);
  }
  pyrite__labels__labels_snapshot__free_unpacked(s, NULL);
  free(buf);
  free(text);
  free(sep);
  free(se);
  free(cep);
  free(ce);
  free(ctx);
  free(labp);
  free(lab);
}

/* Truncated input is rejected, not read past its end. */
static void test_snapshot_truncated_rejected(void **state) {
  (void)state;
  for (size_t len = 1; len < sizeof(snap_wire); len++) {
    /* Cuts that fall exactly on an entry boundary still decode. */
    if (len == 12 || len == 19)
      continue;
    Pyrite__Labels__LabelsSnapshot *s =
        pyrite__labels__labels_snapshot__unpack(NULL, len, snap_wire);
    assert_null(s);
  }
  Pyrite__Labels__LabelsSnapshot *s =
      pyrite__labels__labels_snapshot__unpack(NULL, 12, snap_wire);
  assert_non_null(s);
  assert_int_equal(s->n_contexts, 1);
  assert_int_equal(s->n_strings, 0);
  pyrite__labels__labels_snapshot__free_unpacked(s, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_snapshot_wire_bytes),
      cmocka_unit_test(test_context_negative_value_wire_bytes),
      cmocka_unit_test(test_snapshot_unpack_round_trip),
      cmocka_unit_test(test_snapshot_many_entries_round_trip),
      cmocka_unit_test(test_snapshot_truncated_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
