/*
 * http_pump.h - one HTTP/1.1 exchange on a non-blocking socket, in steps.
 *
 * The ingest load tools (ingest_load.c, load_mixed.c) drive many keep-alive
 * connections from an epoll loop.  Each step writes as much of a request as
 * the socket takes, or reads what has arrived, and says whether the exchange
 * is done, must wait for readiness, or failed.  The caller owns all buffers.
 *
 * Threads: no state; a connection is used by one thread at a time.
 */
#ifndef PYRITE_TOOLS_HTTP_PUMP_H
#define PYRITE_TOOLS_HTTP_PUMP_H

#include <stdbool.h>
#include <stddef.h>

/* Sends parts[0..n) back to back, resuming after *sent bytes (updated).
 * Returns 1 when all is sent, 0 when the socket would block, -1 on error. */
int pyr_pump_send(int fd, const void *const parts[], const size_t lens[], size_t n,
                  size_t *sent);

/* Reads into resp[0..cap) after *rlen bytes (updated; kept NUL-terminated).
 * Returns 1 once the headers and Content-Length bytes of body are in (HTTP
 * status in *status, *close_after if the server said Connection: close),
 * 0 when the socket would block, -1 on error, EOF or a response over cap. */
int pyr_pump_recv(int fd, char *resp, size_t cap, size_t *rlen, int *status,
                  bool *close_after);

#endif
