/*
 * fuzz_multipart.c - libFuzzer entry for multipart/form-data
 * (server/multipart.c), the body of every /ingest upload of the Java agent
 * and the SDKs.
 *
 * Input layout: the Content-Type header value up to the first '\n' (NUL
 * cut), then the body.  The body is handed over without a terminator, so
 * ASan reports any read past its end.
 *
 * Checks: every failure has a message; on success there are at most
 * PYR_MP_MAX_PARTS parts, each a slice inside the body, with NUL-terminated
 * name/filename/content type, is_file iff a non-empty filename; the part
 * lookups the ingest path uses work on the result; each part's bytes are
 * read (so a bad slice is an ASan report, not a silent pass).
 *
 * Threads: libFuzzer's single thread.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

static void check_str(const char *s, size_t cap) {
  if (memchr(s, '\0', cap) == NULL)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t ct_n = nl ? (size_t)(nl - data) : size;
  if (ct_n > 4096)
    return 0;
  char ct[4097];
  memcpy(ct, data, ct_n);
  ct[ct_n] = '\0';
  const unsigned char *body = nl ? nl + 1 : data + size;
  size_t len = nl ? size - ct_n - 1 : 0;

  char err[256], boundary[PYR_MP_BOUNDARY_MAX + 1];
  err[0] = '\0';
  if (pyr_mp_boundary(ct, boundary, err, sizeof(err)) == 0) {
    size_t bl = strlen(boundary);
    if (bl == 0 || bl > PYR_MP_BOUNDARY_MAX)
      abort();
  } else if (err[0] == '\0') {
    abort();
  }

  pyr_mp_form *form = malloc(sizeof(*form));
  if (form == NULL)
    return 0;
  err[0] = '\0';
  if (pyr_mp_parse(body, len, ct, form, err, sizeof(err)) != 0) {
    FUZZ_LOG("%s\n", err);
    if (err[0] == '\0')
      abort();
    free(form);
    return 0;
  }
  FUZZ_LOG("%zu parts\n", form->n);
  if (form->n > PYR_MP_MAX_PARTS)
    abort();
  unsigned sum = 0;
  for (size_t i = 0; i < form->n; i++) {
    const pyr_mp_part *p = &form->parts[i];
    check_str(p->name, sizeof(p->name));
    check_str(p->filename, sizeof(p->filename));
    check_str(p->content_type, sizeof(p->content_type));
    if (p->is_file != (p->filename[0] != '\0'))
      abort();
    if (p->len > 0 && (p->data < body || p->data + p->len > body + len))
      abort();
    for (size_t j = 0; j < p->len; j++)
      sum += p->data[j];
  }
  const char *names[] = {"jfr", "labels", "profile", "prev_profile", "sample_type_config"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    const pyr_mp_part *f = pyr_mp_file(form, names[i]);
    const pyr_mp_part *a = pyr_mp_any(form, names[i]);
    if ((f != NULL && !f->is_file) || (f != NULL && a == NULL))
      abort();
  }
  free(form);
  sink = sum; /* keeps the byte reads from being optimised away */
  return 0;
}
