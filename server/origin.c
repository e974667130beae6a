/*
 * origin.c - Host and Origin checks against browser-borne requests.
 * See origin.h for what is refused and why.
 *
 * Threads: pure functions; no state.
 * Invariant: every parse is bounded by the header's length; nothing here
 * allocates.
 */
#include "origin.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Splits "name[:port]" / "[v6]:port" into the name (without brackets) and
 * the port text.  Returns -1 on a malformed value. */
static int split_hostport(const char *s, size_t len, const char **name, size_t *nlen,
                          const char **port, size_t *plen) {
  *port = NULL;
  *plen = 0;
  if (len == 0)
    return -1;
  if (s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (close == NULL)
      return -1;
    *name = s + 1;
    *nlen = (size_t)(close - s - 1);
    size_t rest = len - (size_t)(close - s) - 1;
    if (rest > 0) {
      if (close[1] != ':')
        return -1;
      *port = close + 2;
      *plen = rest - 1;
    }
  } else {
    const char *colon = memchr(s, ':', len);
    *name = s;
    *nlen = colon ? (size_t)(colon - s) : len;
    if (colon) {
      if (memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) != NULL)
        return -1; /* an unbracketed IPv6 literal is not a valid Host */
      *port = colon + 1;
      *plen = len - *nlen - 1;
    }
  }
  for (size_t i = 0; i < *plen; i++)
    if (!isdigit((unsigned char)(*port)[i]))
      return -1;
  return *nlen > 0 ? 0 : -1;
}

static bool name_eq(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && strncasecmp(a, b, alen) == 0;
}

bool pyr_origin_is_loopback(const char *host, size_t len) {
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
    host++;
    len -= 2;
  }
  if (name_eq(host, len, "localhost", 9) || name_eq(host, len, "::1", 3))
    return true;
  if (len > 10 && strncasecmp(host + len - 10, ".localhost", 10) == 0)
    return true;
  if (len < 4 || strncmp(host, "127.", 4) != 0)
    return false;
  int dots = 0;
  for (size_t i = 0; i < len; i++) {
    if (host[i] == '.')
      dots++;
    else if (!isdigit((unsigned char)host[i]))
      return false;
  }
  return dots == 3;
}

/* True if name is one of the comma-separated entries of list. */
static bool in_list(const char *list, const char *name, size_t nlen) {
  const char *p = list;
  while (p && *p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    while (n > 0 && *p == ' ') {
      p++;
      n--;
    }
    while (n > 0 && p[n - 1] == ' ')
      n--;
    if (name_eq(p, n, name, nlen))
      return true;
    p = end ? end + 1 : NULL;
  }
  return false;
}

int pyr_origin_check_host(const char *listen_host, const char *allowed,
                          const char *host_hdr, char *why, size_t whylen) {
  const char *name, *port;
  size_t nlen, plen;
  bool have_list = allowed != NULL && allowed[0] != '\0';

  if (host_hdr == NULL)
    return 0;
  if (!have_list && !pyr_origin_is_loopback(listen_host, strlen(listen_host)))
    return 0;
  if (split_hostport(host_hdr, strlen(host_hdr), &name, &nlen, &port, &plen) != 0) {
    snprintf(why, whylen, "malformed Host header");
    return -1;
  }
  if (pyr_origin_is_loopback(name, nlen) || name_eq(name, nlen, listen_host, strlen(listen_host)) ||
      (have_list && in_list(allowed, name, nlen)))
    return 0;
  snprintf(why, whylen,
           "Host '%.*s' is not an allowed name for this server (DNS rebinding "
           "protection); add it with --allowed-hosts",
           (int)(nlen > 200 ? 200 : nlen), name);
  return -1;
}

int pyr_origin_check_origin(const char *origin_hdr, const char *host_hdr,
                            char *why, size_t whylen) {
  const char *oname, *oport, *hname, *hport, *rest;
  size_t onlen, oplen, hnlen, hplen, rlen;
  const char *dflt;

  if (origin_hdr == NULL)
    return 0;
  if (strncasecmp(origin_hdr, "http://", 7) == 0) {
    rest = origin_hdr + 7;
    dflt = "80";
  } else if (strncasecmp(origin_hdr, "https://", 8) == 0) {
    rest = origin_hdr + 8;
    dflt = "443";
  } else {
    goto refuse; /* "null" (sandboxed pages, file://) and other schemes */
  }
  rlen = strcspn(rest, "/");
  if (host_hdr == NULL ||
      split_hostport(rest, rlen, &oname, &onlen, &oport, &oplen) != 0 ||
      split_hostport(host_hdr, strlen(host_hdr), &hname, &hnlen, &hport, &hplen) != 0)
    goto refuse;
  if (oplen == 0) {
    oport = dflt;
    oplen = strlen(dflt);
  }
  if (hplen == 0) {
    hport = dflt;
    hplen = strlen(dflt);
  }
  if (name_eq(oname, onlen, hname, hnlen) && oplen == hplen &&
      memcmp(oport, hport, oplen) == 0)
    return 0;
refuse:
  snprintf(why, whylen,
           "cross-origin request refused: Origin '%.200s' is not this server",
           origin_hdr);
  return -1;
}
