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
#include "errbuf.h"
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: pyrited [--listen HOST:PORT] [--data-dir DIR] [flags]\n"
    "\n"
    "Pyrite server: Pyroscope-compatible profile ingest and query.\n"
    "\n"
    "  --listen HOST:PORT      address to serve HTTP on (default "
    PYR_SRV_DEFAULT_HOST ":4040);\n"
    "                          [IPV6]:PORT and :PORT (all interfaces) also\n"
    "                          work, port 0 picks a free port\n"
    "  --data-dir DIR          where profiles are stored, created if missing\n"
    "                          (default " PYR_SRV_DEFAULT_DATA_DIR ")\n"
    "  --config FILE           read `flag = value` lines from FILE first;\n"
    "                          command-line flags override them\n"
    "  --threads N             HTTP I/O threads (default: one per CPU)\n"
    "  --ingest-workers N      decode/store threads (default: 4 per CPU, >= 8)\n"
    "  --ingest-queue N        uploads waiting for a worker before 503\n"
    "                          (default 1024)\n"
    "  --drain-timeout MS      on SIGTERM/SIGINT, wait this long for in-flight\n"
    "                          requests before closing (default 10000)\n"
    "\n"
    "Connections (bound what slow or abusive clients can hold):\n"
    "  --connection-timeout DURATION\n"
    "                          close a connection that sends nothing for this\n"
    "                          long, also in the middle of headers or a body\n"
    "                          (default 60s)\n"
    "  --max-connections N     open connections at most; 0 = from the file\n"
    "                          limit, up to 65536 (default 0)\n"
    "  --max-connections-per-ip N\n"
    "                          open connections per client address; 0 = no\n"
    "                          limit (default 0; agents behind one NAT share\n"
    "                          an address)\n"
    "  --connection-memory N   per connection for headers, URL and read\n"
    "                          buffer; longer headers get 431 (default 128k)\n"
    "  --allowed-hosts LIST    host names (comma-separated) accepted in the\n"
    "                          Host header besides loopback names and the\n"
    "                          listen host; listening on loopback, any other\n"
    "                          Host gets 403 (DNS rebinding). Requests with\n"
    "                          an Origin header from another site get 403.\n"
    "\n"
    "Limits (sizes take k/m/g suffixes, powers of 1024):\n"
    "  --max-body-bytes N      request body as sent, else 413 (default 256m)\n"
    "  --max-decompressed-bytes N\n"
    "                          each decompressed payload (JFR, pprof, labels,\n"
    "                          Push body), else 413 (default 64m)\n"
    "  --max-labels N          labels per series, private __x__ ones not\n"
    "                          counted (default 30, at most 58)\n"
    "  --max-label-name-length N   (default 1024)\n"
    "  --max-label-value-length N  (default 2048)\n"
    "\n"
    "Storage:\n"
    "  --retention DURATION    delete profiles older than this: 90m, 12h, 7d,\n"
    "                          2w; 0 keeps everything (default 7d)\n"
    "  --max-disk-bytes N      delete the oldest profiles beyond this size;\n"
    "                          0 = no limit (default 0)\n"
    "  --durability MODE       full (default: fsync, survives power loss) or\n"
    "                          normal (survives a crash of pyrited)\n"
    "  --startup-check MODE    damage checks at start: quick (default: also\n"
    "                          PRAGMA quick_check, reads the whole database)\n"
    "                          or basic (file headers, sizes, WAL checksums)\n"
    "\n"
    "Authentication and tenants (off by default):\n"
    "  --auth-token T          accept Authorization: Bearer T (read and write);\n"
    "                          repeatable\n"
    "  --read-auth-token T     Bearer token that may only query; repeatable\n"
    "  --basic-auth USER:PASS  accept HTTP Basic credentials; repeatable\n"
    "  --multitenancy          require X-Scope-OrgID (the tenant); otherwise\n"
    "                          everything belongs to tenant \"anonymous\"\n"
    "\n"
    "  -h, --help              show this help and exit\n"
    "  -V, --version           show the version and exit\n"
    "\n"
    "Endpoints: POST /ingest, /pyroscope/ingest, /push.v1.PusherService/Push;\n"
    "GET /ready, /metrics.  See docs/ingest.md.\n";

const char *pyr_srv_config_usage(void) { return usage_text; }


void pyr_srv_config_defaults(struct pyr_srv_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  snprintf(cfg->listen_host, sizeof(cfg->listen_host), "%s",
           PYR_SRV_DEFAULT_HOST);
  cfg->listen_port = PYR_SRV_DEFAULT_PORT;
  snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s",
           PYR_SRV_DEFAULT_DATA_DIR);
  cfg->threads = 0;
  cfg->drain_timeout_ms = 10000;
  cfg->max_body_bytes = PYR_SRV_DEFAULT_MAX_BODY;
  cfg->max_decompressed_bytes = PYR_SRV_DEFAULT_MAX_DECOMPRESSED;
  cfg->max_labels = 30;
  cfg->max_label_name_len = 1024;
  cfg->max_label_value_len = 2048;
  cfg->ingest_workers = 0;
  cfg->ingest_queue = 1024;
  cfg->retention_ns = PYR_SRV_DEFAULT_RETENTION_NS;
  cfg->max_disk_bytes = 0;
  cfg->sync_normal = false;
  cfg->startup_check_quick = true;
  cfg->connection_timeout_s = 60;
  cfg->max_connections = 0;
  cfg->max_connections_per_ip = 0;
  cfg->connection_memory = UINT64_C(128) << 10;
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
      pyr_errf(err, errlen, "bad --listen '%s': expected [IPV6]:PORT", s);
      return -1;
    }
    pstr = hend + 2;
  } else {
    hend = strrchr(s, ':');
    if (hend == NULL) {
      pyr_errf(err, errlen, "bad --listen '%s': expected HOST:PORT", s);
      return -1;
    }
    hbeg = s;
    if (memchr(hbeg, ':', (size_t)(hend - hbeg)) != NULL) {
      pyr_errf(err, errlen,
              "bad --listen '%s': put an IPv6 address in brackets, "
              "e.g. [::1]:4040", s);
      return -1;
    }
    pstr = hend + 1;
  }

  size_t hl = (size_t)(hend - hbeg);
  if (s[0] == '[' && hl == 0) {
    pyr_errf(err, errlen, "bad --listen '%s': empty IPv6 address", s);
    return -1;
  }
  const char *h = hbeg;
  if (hl == 0) { /* ":PORT" */
    h = "0.0.0.0";
    hl = strlen(h);
  }
  if (hl >= hostlen) {
    pyr_errf(err, errlen, "bad --listen '%s': host name too long", s);
    return -1;
  }
  for (size_t i = 0; i < hl; i++) {
    unsigned char c = (unsigned char)h[i];
    if (c <= ' ' || c == '/' || c == '[' || c == ']' || c >= 0x7f) {
      pyr_errf(err, errlen, "bad --listen '%s': invalid character in host", s);
      return -1;
    }
  }

  unsigned long p;
  if (parse_uint(pstr, 0, 65535, &p) != 0) {
    pyr_errf(err, errlen, "bad --listen '%s': port must be 0..65535", s);
    return -1;
  }
  memcpy(host, h, hl);
  host[hl] = '\0';
  *port = (uint16_t)p;
  return 0;
}

int pyr_srv_parse_size(const char *s, uint64_t *out) {
  if (s[0] < '0' || s[0] > '9')
    return -1;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0)
    return -1;
  unsigned shift = 0;
  switch (*end) {
  case '\0':
    break;
  case 'k': case 'K': shift = 10; end++; break;
  case 'm': case 'M': shift = 20; end++; break;
  case 'g': case 'G': shift = 30; end++; break;
  case 't': case 'T': shift = 40; end++; break;
  case 'b': case 'B': end++; break;
  default:
    return -1;
  }
  if (shift != 0) {
    if (*end == 'i')
      end++;
    if (*end == 'b' || *end == 'B')
      end++;
  }
  if (*end != '\0')
    return -1;
  if (shift != 0 && v > (UINT64_MAX >> shift))
    return -1;
  *out = (uint64_t)v << shift;
  return 0;
}

int pyr_srv_parse_duration(const char *s, int64_t *out_ns) {
  if (s[0] < '0' || s[0] > '9')
    return -1;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0)
    return -1;
  int64_t mult;
  if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
    mult = INT64_C(1000000000);
  else if (strcmp(end, "ms") == 0)
    mult = INT64_C(1000000);
  else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
    mult = INT64_C(60000000000);
  else if (strcmp(end, "h") == 0)
    mult = INT64_C(3600000000000);
  else if (strcmp(end, "d") == 0)
    mult = INT64_C(86400000000000);
  else if (strcmp(end, "w") == 0)
    mult = INT64_C(604800000000000);
  else
    return -1;
  if (v > (unsigned long long)(INT64_MAX / mult))
    return -1;
  *out_ns = (int64_t)v * mult;
  return 0;
}

static int add_cred(char (*list)[PYR_AUTH_CRED_MAX], unsigned *n,
                    const char *flag, const char *v, bool need_colon,
                    char *err, size_t errlen) {
  size_t len = strlen(v);
  if (len == 0 || len >= PYR_AUTH_CRED_MAX) {
    pyr_errf(err, errlen, "bad --%s: must be 1..%d bytes", flag,
            PYR_AUTH_CRED_MAX - 1);
    return -1;
  }
  if (need_colon && (strchr(v, ':') == NULL || v[0] == ':')) {
    pyr_errf(err, errlen, "bad --%s: expected USER:PASSWORD", flag);
    return -1;
  }
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] == 0x7f) {
      if (need_colon && v[i] == ' ')
        continue;
      pyr_errf(err, errlen, "bad --%s: control characters or spaces", flag);
      return -1;
    }
  if (*n >= PYR_AUTH_MAX_CREDS) {
    pyr_errf(err, errlen, "too many --%s (at most %d)", flag,
            PYR_AUTH_MAX_CREDS);
    return -1;
  }
  memcpy(list[*n], v, len + 1);
  (*n)++;
  return 0;
}

/* Settings that may be given without a value. */
static bool is_boolean(const char *key) {
  return strcmp(key, "multitenancy") == 0;
}

static int parse_bool(const char *v, bool *out) {
  if (v == NULL || strcmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
      strcmp(v, "yes") == 0 || strcmp(v, "on") == 0) {
    *out = true;
    return 0;
  }
  if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
      strcmp(v, "no") == 0 || strcmp(v, "off") == 0) {
    *out = false;
    return 0;
  }
  return -1;
}

static int set_uint(const char *key, const char *v, unsigned long lo,
                    unsigned long hi, unsigned *out, char *err,
                    size_t errlen) {
  unsigned long t;
  if (parse_uint(v, lo, hi, &t) != 0) {
    pyr_errf(err, errlen, "bad --%s '%s': must be %lu..%lu", key, v, lo, hi);
    return -1;
  }
  *out = (unsigned)t;
  return 0;
}

static int set_size(const char *key, const char *v, uint64_t min,
                    uint64_t *out, char *err, size_t errlen) {
  uint64_t b;
  if (pyr_srv_parse_size(v, &b) != 0 || b < min) {
    pyr_errf(err, errlen,
            "bad --%s '%s': expected a size like 1048576, 64k, 256MiB, 1g%s",
            key, v, min > 0 ? " (not 0)" : "");
    return -1;
  }
  *out = b;
  return 0;
}

static const char *const known_keys[] = {
    "listen", "data-dir", "threads", "drain-timeout", "ingest-workers",
    "ingest-queue", "max-body-bytes", "max-decompressed-bytes",
    "max-disk-bytes", "max-labels", "max-label-name-length",
    "max-label-value-length", "retention", "durability", "auth-token",
    "read-auth-token", "basic-auth", "multitenancy", "startup-check",
    "connection-timeout", "max-connections", "max-connections-per-ip",
    "connection-memory", "allowed-hosts"};

static bool key_known(const char *key) {
  for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
    if (strcmp(known_keys[i], key) == 0)
      return true;
  return false;
}

int pyr_srv_config_set(struct pyr_srv_config *cfg, const char *key,
                       const char *v, char *err, size_t errlen) {
  if (!key_known(key)) {
    pyr_errf(err, errlen, "unknown flag '--%s' (see --help)", key);
    return -1;
  }
  if (v == NULL && !is_boolean(key)) {
    pyr_errf(err, errlen, "flag '--%s' needs a value", key);
    return -1;
  }
  if (strcmp(key, "listen") == 0)
    return pyr_srv_parse_listen(v, cfg->listen_host, sizeof(cfg->listen_host),
                                &cfg->listen_port, err, errlen);
  if (strcmp(key, "data-dir") == 0) {
    size_t n = strlen(v);
    if (n == 0) {
      pyr_errf(err, errlen, "bad --data-dir: empty path");
      return -1;
    }
    if (n >= sizeof(cfg->data_dir)) {
      pyr_errf(err, errlen, "bad --data-dir: path too long");
      return -1;
    }
    memcpy(cfg->data_dir, v, n + 1);
    return 0;
  }
  if (strcmp(key, "threads") == 0) {
    unsigned long t;
    if (parse_uint(v, 1, PYR_SRV_MAX_THREADS, &t) != 0) {
      pyr_errf(err, errlen, "bad --threads '%s': must be 1..%d", v,
              PYR_SRV_MAX_THREADS);
      return -1;
    }
    cfg->threads = (unsigned)t;
    return 0;
  }
  if (strcmp(key, "drain-timeout") == 0) {
    unsigned long t;
    if (parse_uint(v, 0, 600000, &t) != 0) {
      pyr_errf(err, errlen,
              "bad --drain-timeout '%s': milliseconds, 0..600000", v);
      return -1;
    }
    cfg->drain_timeout_ms = (unsigned)t;
    return 0;
  }
  if (strcmp(key, "ingest-workers") == 0)
    return set_uint(key, v, 1, PYR_SRV_MAX_WORKERS, &cfg->ingest_workers, err,
                    errlen);
  if (strcmp(key, "ingest-queue") == 0)
    return set_uint(key, v, 1, 1000000, &cfg->ingest_queue, err, errlen);
  if (strcmp(key, "max-body-bytes") == 0)
    return set_size(key, v, 1, &cfg->max_body_bytes, err, errlen);
  if (strcmp(key, "max-decompressed-bytes") == 0)
    return set_size(key, v, 1, &cfg->max_decompressed_bytes, err, errlen);
  if (strcmp(key, "max-disk-bytes") == 0)
    return set_size(key, v, 0, &cfg->max_disk_bytes, err, errlen);
  if (strcmp(key, "max-labels") == 0)
    return set_uint(key, v, 1, PYR_SRV_MAX_LABELS, &cfg->max_labels, err,
                    errlen);
  if (strcmp(key, "max-label-name-length") == 0)
    return set_uint(key, v, 1, 1u << 20, &cfg->max_label_name_len, err,
                    errlen);
  if (strcmp(key, "max-label-value-length") == 0)
    return set_uint(key, v, 1, 1u << 20, &cfg->max_label_value_len, err,
                    errlen);
  if (strcmp(key, "retention") == 0) {
    if (pyr_srv_parse_duration(v, &cfg->retention_ns) != 0) {
      pyr_errf(err, errlen,
              "bad --retention '%s': expected a duration like 12h, 7d, 2w "
              "or 0", v);
      return -1;
    }
    return 0;
  }
  if (strcmp(key, "allowed-hosts") == 0) {
    size_t n = strlen(v);
    if (n >= sizeof(cfg->allowed_hosts) || strpbrk(v, "/:[]@ \t") != NULL) {
      pyr_errf(err, errlen,
               "bad --allowed-hosts '%.100s': comma-separated host names, no ports",
               v);
      return -1;
    }
    memcpy(cfg->allowed_hosts, v, n + 1);
    return 0;
  }
  if (strcmp(key, "durability") == 0) {
    if (strcmp(v, "full") == 0)
      cfg->sync_normal = false;
    else if (strcmp(v, "normal") == 0)
      cfg->sync_normal = true;
    else {
      pyr_errf(err, errlen, "bad --durability '%s': full or normal", v);
      return -1;
    }
    return 0;
  }
  if (strcmp(key, "startup-check") == 0) {
    if (strcmp(v, "quick") == 0)
      cfg->startup_check_quick = true;
    else if (strcmp(v, "basic") == 0)
      cfg->startup_check_quick = false;
    else {
      pyr_errf(err, errlen, "bad --startup-check '%s': quick or basic", v);
      return -1;
    }
    return 0;
  }
  if (strcmp(key, "connection-timeout") == 0) {
    int64_t ns;
    if (pyr_srv_parse_duration(v, &ns) != 0 || ns < INT64_C(1000000000) ||
        ns > INT64_C(86400) * 1000000000) {
      pyr_errf(err, errlen,
               "bad --connection-timeout '%s': a duration from 1s to 1d, e.g. 30s", v);
      return -1;
    }
    cfg->connection_timeout_s = (unsigned)(ns / 1000000000);
    return 0;
  }
  if (strcmp(key, "max-connections") == 0)
    return set_uint(key, v, 0, 1000000, &cfg->max_connections, err, errlen);
  if (strcmp(key, "max-connections-per-ip") == 0)
    return set_uint(key, v, 0, 1000000, &cfg->max_connections_per_ip, err,
                    errlen);
  if (strcmp(key, "connection-memory") == 0) {
    if (set_size(key, v, 1, &cfg->connection_memory, err, errlen) != 0)
      return -1;
    if (cfg->connection_memory < (UINT64_C(16) << 10) ||
        cfg->connection_memory > (UINT64_C(16) << 20)) {
      pyr_errf(err, errlen, "bad --connection-memory '%s': 16k..16m", v);
      return -1;
    }
    return 0;
  }
  if (strcmp(key, "auth-token") == 0)
    return add_cred(cfg->auth.tokens, &cfg->auth.ntokens, key, v, false, err,
                    errlen);
  if (strcmp(key, "read-auth-token") == 0)
    return add_cred(cfg->auth.read_tokens, &cfg->auth.nread_tokens, key, v,
                    false, err, errlen);
  if (strcmp(key, "basic-auth") == 0)
    return add_cred(cfg->auth.basic, &cfg->auth.nbasic, key, v, true, err,
                    errlen);
  if (strcmp(key, "multitenancy") == 0) {
    if (parse_bool(v, &cfg->auth.multitenancy) != 0) {
      pyr_errf(err, errlen, "bad --multitenancy '%s': true or false", v);
      return -1;
    }
    return 0;
  }
  pyr_errf(err, errlen, "unknown flag '--%s' (see --help)", key);
  return -1;
}

int pyr_srv_config_load_text(struct pyr_srv_config *cfg, const char *text,
                             const char *origin, char *err, size_t errlen) {
  unsigned lineno = 0;
  const char *p = text;
  while (*p != '\0') {
    const char *nl = strchr(p, '\n');
    size_t ll = nl ? (size_t)(nl - p) : strlen(p);
    char line[PYR_SRV_PATH_MAX + 128];
    lineno++;
    if (ll >= sizeof(line)) {
      pyr_errf(err, errlen, "%s:%u: line too long", origin, lineno);
      return -1;
    }
    memcpy(line, p, ll);
    line[ll] = '\0';
    p += ll + (nl ? 1 : 0);

    /* Strip comments (outside quotes) and blanks. */
    bool inq = false;
    for (char *c = line; *c; c++) {
      if (*c == '"')
        inq = !inq;
      else if (*c == '#' && !inq) {
        *c = '\0';
        break;
      }
    }
    char *b = line, *e = line + strlen(line);
    while (*b == ' ' || *b == '\t' || *b == '\r')
      b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
      *--e = '\0';
    if (*b == '\0')
      continue;
    char *sep = b + strcspn(b, "=:");
    char *val = NULL;
    if (*sep != '\0') {
      val = sep + 1;
      char *ke = sep;
      while (ke > b && (ke[-1] == ' ' || ke[-1] == '\t'))
        ke--;
      *ke = '\0';
      while (*val == ' ' || *val == '\t')
        val++;
      size_t vl = strlen(val);
      if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
        val[vl - 1] = '\0';
        val++;
      }
    }
    if (strncmp(b, "--", 2) == 0)
      b += 2;
    if (strcmp(b, "config") == 0) {
      pyr_errf(err, errlen, "%s:%u: config files cannot include others", origin,
              lineno);
      return -1;
    }
    char e2[PYR_SRV_ERR_MAX];
    if (pyr_srv_config_set(cfg, b, val, e2, sizeof(e2)) != 0) {
      pyr_errf(err, errlen, "%s:%u: %s", origin, lineno, e2);
      return -1;
    }
  }
  return 0;
}

static int load_file(struct pyr_srv_config *cfg, const char *path, char *err,
                     size_t errlen) {
  FILE *f = fopen(path, "r");
  char *text = NULL;
  int rc = -1;
  if (f == NULL) {
    pyr_errf(err, errlen, "cannot read --config '%s': %s", path,
            strerror(errno));
    return -1;
  }
  size_t cap = 1 << 20, n;
  text = malloc(cap + 1);
  if (text == NULL) {
    pyr_errf(err, errlen, "out of memory");
    goto out;
  }
  n = fread(text, 1, cap, f);
  if (ferror(f) || !feof(f)) {
    pyr_errf(err, errlen, "cannot read --config '%s': %s", path,
            ferror(f) ? strerror(errno) : "larger than 1 MiB");
    goto out;
  }
  text[n] = '\0';
  if (memchr(text, '\0', n) != NULL) {
    pyr_errf(err, errlen, "--config '%s' is not a text file", path);
    goto out;
  }
  rc = pyr_srv_config_load_text(cfg, text, path, err, errlen);
out:
  free(text);
  fclose(f);
  return rc;
}

/* Splits argv[*i] into a flag name and value; advances *i past a separate
 * value.  Returns 1 if it is a flag, 0 for a non-flag argument, -1 with
 * err set for a missing value. */
static int split_flag(int argc, char *const argv[], int *i, char *key,
                      size_t keylen, const char **val, char *err,
                      size_t errlen) {
  const char *a = argv[*i];
  if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
    return 0;
  const char *name = a + 2;
  const char *eq = strchr(name, '=');
  size_t n = eq ? (size_t)(eq - name) : strlen(name);
  if (n >= keylen) {
    pyr_errf(err, errlen, "unknown flag '%.64s' (see --help)", a);
    return -1;
  }
  memcpy(key, name, n);
  key[n] = '\0';
  if (eq != NULL) {
    *val = eq + 1;
    return 1;
  }
  if (is_boolean(key)) {
    *val = NULL;
    return 1;
  }
  if (*i + 1 >= argc) {
    *val = NULL; /* pyr_srv_config_set reports "needs a value" */
    return 1;
  }
  *i += 1;
  *val = argv[*i];
  return 1;
}

enum pyr_srv_cfg_rc pyr_srv_config_parse(struct pyr_srv_config *cfg, int argc,
                                         char *const argv[], char *err,
                                         size_t errlen) {
  char key[64];
  const char *v = NULL;
  pyr_srv_config_defaults(cfg);
  if (err != NULL && errlen > 0)
    err[0] = '\0';

  /* Help and version win over everything; the config file comes first. */
  const char *config = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
      return PYR_SRV_CFG_HELP;
    if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0)
      return PYR_SRV_CFG_VERSION;
  }
  for (int i = 1; i < argc; i++) {
    int r = split_flag(argc, argv, &i, key, sizeof(key), &v, err, errlen);
    if (r == 1 && strcmp(key, "config") == 0)
      config = v;
  }
  if (config != NULL) {
    if (config[0] == '\0' || strlen(config) >= sizeof(cfg->config_file)) {
      pyr_errf(err, errlen, "bad --config: empty or too long path");
      return PYR_SRV_CFG_ERR;
    }
    if (load_file(cfg, config, err, errlen) != 0)
      return PYR_SRV_CFG_ERR;
    snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", config);
  }

  /* Repeatable flags on the command line replace the file's list. */
  bool seen_tok = false, seen_rtok = false, seen_basic = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int r = split_flag(argc, argv, &i, key, sizeof(key), &v, err, errlen);
    if (r < 0)
      return PYR_SRV_CFG_ERR;
    if (r == 0) {
      if (a[0] == '-')
        pyr_errf(err, errlen, "unknown flag '%s' (see --help)", a);
      else
        pyr_errf(err, errlen, "unexpected argument '%s' (see --help)", a);
      return PYR_SRV_CFG_ERR;
    }
    if (strcmp(key, "config") == 0)
      continue;
    if (!key_known(key)) {
      pyr_errf(err, errlen, "unknown flag '%s' (see --help)", a);
      return PYR_SRV_CFG_ERR;
    }
    if (strcmp(key, "auth-token") == 0 && !seen_tok) {
      seen_tok = true;
      cfg->auth.ntokens = 0;
    } else if (strcmp(key, "read-auth-token") == 0 && !seen_rtok) {
      seen_rtok = true;
      cfg->auth.nread_tokens = 0;
    } else if (strcmp(key, "basic-auth") == 0 && !seen_basic) {
      seen_basic = true;
      cfg->auth.nbasic = 0;
    }
    if (pyr_srv_config_set(cfg, key, v, err, errlen) != 0)
      return PYR_SRV_CFG_ERR;
  }
  return PYR_SRV_CFG_OK;
}
