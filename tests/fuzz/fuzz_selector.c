/*
 * fuzz_selector.c - libFuzzer entry for label selectors and profile type
 * ids (server/selector.c), the `query`/`label_selector` text of every
 * query request.
 *
 * The input is parsed three ways: as a selector (not NUL-terminated, so a
 * read past the end shows up under ASan), as render's `query` (NUL cut)
 * and as a profile type id.  A selector that parses is matched against a
 * few fixed label sets, which runs its regexes under the PCRE2 match
 * limit.  Every rejection must come with a message.
 *
 * Threads: libFuzzer's single thread.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sorted by name, as the store hands them to pyr_selector_match. */
static const pyr_store_label set_a[] = {
    {"__name__", "process_cpu"},
    {"__profile_type__", "process_cpu:cpu:nanoseconds:cpu:nanoseconds"},
    {"env", "prod"},
    {"service_name", "checkout"},
};
static const pyr_store_label set_b[] = {
    {"pod", "web-7f9c\xc3\xa9"},
    {"service_name", ""},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > PYR_SELECTOR_MAX_LEN + 64)
    return 0;
  char err[256];
  pyr_selector sel;

  pyr_selector_init(&sel);
  err[0] = '\0';
  int rc = pyr_selector_parse((const char *)data, size, &sel, err, sizeof(err));
  FUZZ_LOG("selector: rc %d, %zu matchers %s\n", rc, sel.n, err);
  if (rc == -1 && err[0] == '\0')
    abort();
  if (rc == 0) {
    (void)pyr_selector_match(&sel, set_a, sizeof(set_a) / sizeof(set_a[0]));
    (void)pyr_selector_match(&sel, set_b, sizeof(set_b) / sizeof(set_b[0]));
    (void)pyr_selector_match(&sel, NULL, 0);
  }
  pyr_selector_free(&sel);

  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  pyr_profile_type pt;
  pyr_selector_init(&sel);
  err[0] = '\0';
  rc = pyr_query_parse(s, &pt, &sel, err, sizeof(err));
  FUZZ_LOG("query: rc %d %s\n", rc, rc == 0 ? pt.id : err);
  if (rc == -1 && err[0] == '\0')
    abort();
  if (rc == 0) {
    if (pt.name == NULL || pt.name[0] == '\0' || pt.sample_type == NULL ||
        pt.sample_type[0] == '\0')
      abort(); /* a parsed type always has a name and a sample type */
    (void)pyr_selector_match(&sel, set_a, sizeof(set_a) / sizeof(set_a[0]));
  }
  pyr_selector_free(&sel);

  err[0] = '\0';
  rc = pyr_profile_type_parse((const char *)data, size, &pt, err, sizeof(err));
  if (rc != 0 && err[0] == '\0')
    abort();
  free(s);
  return 0;
}
