/*
 * errbuf.h - formatting one-line error messages into caller buffers.
 *
 * The server's parsers and decoders report failures as (char *err, size_t
 * errlen) pairs the HTTP layer turns into JSON error bodies.  Any thread.
 */
#ifndef PYRITE_SERVER_ERRBUF_H
#define PYRITE_SERVER_ERRBUF_H

#include <stddef.h>

/* printf into err (always NUL-terminated, truncated to errlen); does
 * nothing when err is NULL or errlen is 0. */
void pyr_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
