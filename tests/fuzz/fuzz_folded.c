/*
 * fuzz_folded.c - libFuzzer entry for the folded/collapsed and "lines"
 * text formats of POST /ingest and the legacy app-name suffix table
 * (server/folded.c).
 *
 * Input layout: byte 0 holds flags (bit 0: "lines" format; bits 1-2 pick
 * the sampleRate 100, 0, 1 or 1000003); then the `name` app name up to the
 * first '\n'; the rest is the upload body, handed over without a NUL so
 * ASan sees any read past its end.  An app name with an unknown suffix
 * falls back to the cpu type, so the body is always parsed.
 *
 * Checks: every EINVAL has a message; a known suffix leaves an app name
 * no longer than the input; after a successful parse into a fresh profile
 * the stacks reported are at least the samples stored (identical stacks
 * merge into one sample, they never multiply).
 *
 * Threads: libFuzzer's single thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "folded.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint32_t rates[4] = {100, 0, 1, 1000003};
  if (size < 1)
    return 0;
  bool lines = data[0] & 1;
  uint32_t rate = rates[(data[0] >> 1) & 3];
  const uint8_t *p = data + 1, *end = data + size;
  const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
  size_t app_n = nl ? (size_t)(nl - p) : (size_t)(end - p);
  if (app_n > 1024)
    return 0;
  char app[1025];
  memcpy(app, p, app_n);
  app[app_n] = '\0';
  const char *text = nl ? (const char *)nl + 1 : (const char *)end;
  size_t text_n = nl ? (size_t)(end - nl - 1) : 0;

  char err[256];
  size_t app_len = 0;
  pyr_prof_type type;
  memset(&type, 0, sizeof(type));
  err[0] = '\0';
  if (pyr_legacy_type(app, &app_len, rate, &type, err, sizeof(err)) != 0) {
    if (err[0] == '\0')
      abort();
    err[0] = '\0';
    if (pyr_legacy_type("app", &app_len, rate, &type, err, sizeof(err)) != 0)
      abort(); /* no suffix = cpu, always known */
  } else if (app_len > strlen(app)) {
    abort();
  }

  pyr_prof_limits lim = pyr_prof_default_limits;
  lim.max_samples = 1u << 14;
  lim.max_locations = 1u << 14;
  lim.max_string_bytes = 1u << 20;
  pyr_prof *prof = pyr_prof_new(&type, &lim);
  if (prof == NULL)
    return 0;
  int64_t scale = type.period > 0 ? type.period : 1;
  size_t nstacks = 0;
  err[0] = '\0';
  int rc = pyr_folded_parse(text, text_n, lines, scale, prof, &nstacks, err, sizeof(err));
  FUZZ_LOG("type %s, rc %d, %zu stacks %s\n", type.name, rc, nstacks, err);
  if (rc == PYR_PROF_EINVAL && err[0] == '\0')
    abort();
  if (rc == 0 && nstacks < pyr_prof_nsamples(prof))
    abort();
  pyr_prof_free(prof);
  return 0;
}
