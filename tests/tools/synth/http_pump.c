/*
 * http_pump.c - stepwise HTTP/1.1 send and receive (see http_pump.h).
 *
 * Invariant: never reads or writes outside the caller's buffers; resp stays
 * NUL-terminated so the header scan can use string functions.
 */
#include "http_pump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

int pyr_pump_send(int fd, const void *const parts[], const size_t lens[], size_t n,
                  size_t *sent) {
  size_t base = 0;
  for (size_t i = 0; i < n; base += lens[i], i++) {
    while (*sent < base + lens[i]) {
      size_t off = *sent - base;
      ssize_t w = send(fd, (const char *)parts[i] + off, lens[i] - off,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
      *sent += (size_t)w;
    }
  }
  return 1;
}

int pyr_pump_recv(int fd, char *resp, size_t cap, size_t *rlen, int *status,
                  bool *close_after) {
  for (;;) {
    if (*rlen >= cap - 1)
      return -1;
    ssize_t r = recv(fd, resp + *rlen, cap - 1 - *rlen, MSG_DONTWAIT);
    if (r == 0)
      return -1;
    if (r < 0)
      return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    *rlen += (size_t)r;
    resp[*rlen] = '\0';
    char *eoh = strstr(resp, "\r\n\r\n");
    if (eoh == NULL)
      continue;
    *status = atoi(resp + 9);
    size_t clen = 0;
    char *cl = strcasestr(resp, "\r\nContent-Length:");
    if (cl != NULL && cl < eoh)
      clen = strtoul(cl + 17, NULL, 10);
    char *co = strcasestr(resp, "\r\nConnection: close");
    *close_after = co != NULL && co < eoh;
    if (*rlen - (size_t)(eoh + 4 - resp) >= clen)
      return 1;
  }
}
