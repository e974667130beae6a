/*
 * config.c - pyrited flag parsing.
 *
 * What: turns argv into a struct pyr_srv_config (see config.h).  Hand-written
 * instead of getopt_long so that it keeps no global state, prints nothing,
 * and reports every problem as one message the caller prints and exits 2 on.
 *
 * Threads: none; pure functions over caller-owned memory.
 *
 * Invariants: never writes past a caller buffer (all copies are bounded and
 * over-long values are errors, not truncations); err is always
 * NUL-terminated when errlen > 0.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: pyrited [--listen HOST:PORT] [--data-dir DIR] [--threads N]\n"
    "\n"
    "Pyrite server: Pyroscope-compatible profile ingest and query.\n"
    "\n"
    "  --listen HOST:PORT   address to serve HTTP on (default "
    PYR_SRV_DEFAULT_HOST ":4040);\n"
    "                       [IPV6]:PORT and :PORT (all interfaces) also work,\n"
    "                       port 0 picks a free port\n"
    "  --data-dir DIR       where profiles are stored, created if missing\n"
    "                       (default " PYR_SRV_DEFAULT_DATA_DIR ")\n"
    "  --threads N          HTTP worker threads (default: one per CPU)\n"
    "  --drain-timeout MS   on SIGTERM/SIGINT, wait this long for in-flight\n"
    "                       requests before closing (default 10000)\n"
    "  -h, --help           show this help and exit\n"
    "  -V, --version        show the version and exit\n"
    "\n"
    "Endpoints in this build: GET /ready, GET /metrics.\n";

const char *pyr_srv_config_usage(void) { return usage_text; }

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

void pyr_srv_config_defaults(struct pyr_srv_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  snprintf(cfg->listen_host, sizeof(cfg->listen_host), "%s",
           PYR_SRV_DEFAULT_HOST);
  cfg->listen_port = PYR_SRV_DEFAULT_PORT;
  snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s",
           PYR_SRV_DEFAULT_DATA_DIR);
  cfg->threads = 0;
  cfg->drain_timeout_ms = 10000;
}

/* Decimal unsigned integer in [lo, hi]; no sign, no spaces, no suffix. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi,
                      unsigned long *out) {
  if (s[0] < '0' || s[0] > '9')
    return -1;
  errno = 0;
  char *end = NULL;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int pyr_srv_parse_listen(const char *s, char *host, size_t hostlen,
                         uint16_t *port, char *err, size_t errlen) {
  const char *hbeg, *hend, *pstr;

  if (s[0] == '[') {
    hbeg = s + 1;
    hend = strchr(hbeg, ']');
    if (hend == NULL || hend[1] != ':') {
      set_err(err, errlen, "bad --listen '%s': expected [IPV6]:PORT", s);
      return -1;
    }
    pstr = hend + 2;
  } else {
    hend = strrchr(s, ':');
    if (hend == NULL) {
      set_err(err, errlen, "bad --listen '%s': expected HOST:PORT", s);
      return -1;
    }
    hbeg = s;
    if (memchr(hbeg, ':', (size_t)(hend - hbeg)) != NULL) {
      set_err(err, errlen,
              "bad --listen '%s': put an IPv6 address in brackets, "
              "e.g. [::1]:4040", s);
      return -1;
    }
    pstr = hend + 1;
  }

  size_t hl = (size_t)(hend - hbeg);
  if (s[0] == '[' && hl == 0) {
    set_err(err, errlen, "bad --listen '%s': empty IPv6 address", s);
    return -1;
  }
  const char *h = hbeg;
  if (hl == 0) { /* ":PORT" */
    h = "0.0.0.0";
    hl = strlen(h);
  }
  if (hl >= hostlen) {
    set_err(err, errlen, "bad --listen '%s': host name too long", s);
    return -1;
  }
  for (size_t i = 0; i < hl; i++) {
    unsigned char c = (unsigned char)h[i];
    if (c <= ' ' || c == '/' || c == '[' || c == ']' || c >= 0x7f) {
      set_err(err, errlen, "bad --listen '%s': invalid character in host", s);
      return -1;
    }
  }

  unsigned long p;
  if (parse_uint(pstr, 0, 65535, &p) != 0) {
    set_err(err, errlen, "bad --listen '%s': port must be 0..65535", s);
    return -1;
  }
  memcpy(host, h, hl);
  host[hl] = '\0';
  *port = (uint16_t)p;
  return 0;
}

/*
 * If argv[*i] is the flag `name` ("--name VALUE" or "--name=VALUE"), stores
 * the value in *val, advances *i past it and returns 1.  Returns 0 if it is
 * not this flag, -1 (with err set) if the value is missing.
 */
static int take_value(const char *name, int argc, char *const argv[], int *i,
                      const char **val, char *err, size_t errlen) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0)
    return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n] != '\0')
    return 0;
  if (*i + 1 >= argc) {
    set_err(err, errlen, "flag '%s' needs a value", name);
    return -1;
  }
  *i += 1;
  *val = argv[*i];
  return 1;
}

enum pyr_srv_cfg_rc pyr_srv_config_parse(struct pyr_srv_config *cfg, int argc,
                                         char *const argv[], char *err,
                                         size_t errlen) {
  pyr_srv_config_defaults(cfg);
  if (err != NULL && errlen > 0)
    err[0] = '\0';

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = NULL;
    int r;

    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
      return PYR_SRV_CFG_HELP;
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)
      return PYR_SRV_CFG_VERSION;

    if ((r = take_value("--listen", argc, argv, &i, &v, err, errlen)) != 0) {
      if (r < 0)
        return PYR_SRV_CFG_ERR;
      if (pyr_srv_parse_listen(v, cfg->listen_host, sizeof(cfg->listen_host),
                               &cfg->listen_port, err, errlen) != 0)
        return PYR_SRV_CFG_ERR;
      continue;
    }
    if ((r = take_value("--data-dir", argc, argv, &i, &v, err, errlen)) != 0) {
      if (r < 0)
        return PYR_SRV_CFG_ERR;
      size_t n = strlen(v);
      if (n == 0) {
        set_err(err, errlen, "bad --data-dir: empty path");
        return PYR_SRV_CFG_ERR;
      }
      if (n >= sizeof(cfg->data_dir)) {
        set_err(err, errlen, "bad --data-dir: path too long");
        return PYR_SRV_CFG_ERR;
      }
      memcpy(cfg->data_dir, v, n + 1);
      continue;
    }
    if ((r = take_value("--threads", argc, argv, &i, &v, err, errlen)) != 0) {
      unsigned long t;
      if (r < 0)
        return PYR_SRV_CFG_ERR;
      if (parse_uint(v, 1, PYR_SRV_MAX_THREADS, &t) != 0) {
        set_err(err, errlen, "bad --threads '%s': must be 1..%d", v,
                PYR_SRV_MAX_THREADS);
        return PYR_SRV_CFG_ERR;
      }
      cfg->threads = (unsigned)t;
      continue;
    }
    if ((r = take_value("--drain-timeout", argc, argv, &i, &v, err,
                        errlen)) != 0) {
      unsigned long t;
      if (r < 0)
        return PYR_SRV_CFG_ERR;
      if (parse_uint(v, 0, 600000, &t) != 0) {
        set_err(err, errlen,
                "bad --drain-timeout '%s': milliseconds, 0..600000", v);
        return PYR_SRV_CFG_ERR;
      }
      cfg->drain_timeout_ms = (unsigned)t;
      continue;
    }

    if (a[0] == '-')
      set_err(err, errlen, "unknown flag '%s' (see --help)", a);
    else
      set_err(err, errlen, "unexpected argument '%s' (see --help)", a);
    return PYR_SRV_CFG_ERR;
  }
  return PYR_SRV_CFG_OK;
}
