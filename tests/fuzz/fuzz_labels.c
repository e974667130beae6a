/*
 * fuzz_labels.c - libFuzzer entry for the label inputs of POST /ingest:
 * the `labels` multipart part (a Pyroscope LabelsSnapshot protobuf, raw or
 * gzip, decoded and indexed in server/jfr_profiles.c and looked up for
 * every JFR event carrying a contextId) and the `name` parameter
 * (`app{k=v,...}`, server/labels.c) with the label-set validation.
 *
 * Input layout: byte 0 bit 0 clear: the rest is a LabelsSnapshot; it is
 * first given with a one-byte "recording" (decoding and indexing only, the
 * JFR parse then fails fast), and, if the snapshot was accepted, with a
 * real recording whose events carry contextIds (tests/data/
 * jfr-parser-corpus/dump1.jfr.gz, whose own snapshot is a seed; path from
 * $PYRITE_FUZZ_LABELS_JFR or the build's default), so the lookups run.
 * Bit 0 set: the rest, cut at a NUL, is the `name` parameter.
 *
 * Checks: every failure has a message; a parsed name yields __name__; a
 * sorted copy compares equal to the original; validation never crashes.
 *
 * Threads: libFuzzer's single thread.
 */
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "ingest_gzip.h"
#include "jfr_profiles.h"
#include "labels.h"

#ifndef PYRITE_FUZZ_LABELS_JFR_DEFAULT
#define PYRITE_FUZZ_LABELS_JFR_DEFAULT ""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static unsigned char *jfr;
static size_t jfr_len;

/* Loads the recording once (raw; inflating it per input would dominate). */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *path = getenv("PYRITE_FUZZ_LABELS_JFR");
  if (path == NULL || path[0] == '\0')
    path = PYRITE_FUZZ_LABELS_JFR_DEFAULT;
  FILE *f = path[0] ? fopen(path, "rb") : NULL;
  if (f == NULL) {
    fprintf(stderr, "fuzz_labels: no recording (%s): lookups not exercised\n", path);
    return 0;
  }
  unsigned char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 1u << 20;
      unsigned char *nb = realloc(buf, cap);
      if (nb == NULL)
        abort();
      buf = nb;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    if (got == 0)
      break;
    n += got;
  }
  fclose(f);
  char err[256];
  if (pyr_gunzip(buf, n, 64u << 20, &jfr, &jfr_len, err, sizeof(err)) != PYR_GZ_OK) {
    jfr = buf; /* not gzip: use as is */
    jfr_len = n;
  } else {
    free(buf);
  }
  return 0;
}

static void snapshot(const uint8_t *pb, size_t len) {
  static const uint8_t not_jfr[1] = {'x'};
  pyr_jfr_convert_opts o = {0};
  o.sample_rate = 100;
  pyr_prof_limits pl = pyr_prof_default_limits;
  pl.max_label_sets = 1u << 12;
  o.prof_limits = &pl;
  pyr_prof_list list = {0};
  char ev[64], err[256];
  int rc = pyr_jfr_to_profiles(not_jfr, sizeof(not_jfr), pb, len, &o, &list, ev, sizeof(ev),
                               err, sizeof(err));
  pyr_prof_list_free(&list);
  FUZZ_LOG("snapshot alone: %s\n", err);
  if (rc == PYR_JFR_OK)
    abort(); /* one byte is not a recording */
  if (err[0] == '\0')
    abort();
  if (strncmp(err, "labels", 6) == 0 || strstr(err, "gzip") != NULL || jfr == NULL)
    return; /* the snapshot itself was rejected */
  rc = pyr_jfr_to_profiles(jfr, jfr_len, pb, len, &o, &list, ev, sizeof(ev), err, sizeof(err));
  FUZZ_LOG("with recording: rc %d, %zu profiles, %zu label sets %s\n", rc, list.n,
           list.n ? pyr_prof_nlabelsets(list.items[0]) : 0, err);
  if (rc != PYR_JFR_OK && err[0] == '\0')
    abort();
  pyr_prof_list_free(&list);
}

static void name_param(const uint8_t *p, size_t len) {
  if (len > 8192)
    return;
  char *s = malloc(len + 1);
  if (s == NULL)
    return;
  memcpy(s, p, len);
  s[len] = '\0';
  pyr_labels l, c;
  pyr_labels_init(&l);
  pyr_labels_init(&c);
  char err[256];
  err[0] = '\0';
  int rc = pyr_ingest_name_parse(s, &l, err, sizeof(err));
  FUZZ_LOG("name: rc %d %s\n", rc, err);
  if (rc == -1 && err[0] == '\0')
    abort();
  if (rc == 0) {
    const char *app = pyr_labels_get(&l, PYR_LABEL_METRIC);
    if (app == NULL || app[0] == '\0')
      abort();
    pyr_labels_put_missing(&l, PYR_LABEL_SERVICE, app);
    if (pyr_labels_copy(&c, &l) == 0) {
      pyr_labels_sort(&l);
      pyr_labels_sort(&c);
      if (pyr_labels_cmp(&l, &c) != 0)
        abort();
    }
    pyr_label_limits lim = {PYR_LABELS_DEFAULT_MAX, PYR_LABEL_DEFAULT_MAX_NAME,
                            PYR_LABEL_DEFAULT_MAX_VALUE};
    err[0] = '\0';
    if (pyr_labels_validate(&l, &lim, err, sizeof(err)) != 0 && err[0] == '\0')
      abort();
  }
  pyr_labels_free(&l);
  pyr_labels_free(&c);
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] & 1)
    name_param(data + 1, size - 1);
  else
    snapshot(data + 1, size - 1);
  return 0;
}
