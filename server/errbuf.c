/*
 * errbuf.c - one-line error messages into caller buffers (see errbuf.h).
 */
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>

void pyr_errf(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err == NULL || errlen == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}
