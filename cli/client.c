/*
 * client.c - common options, time ranges, HTTP and queries shared by the
 * query subcommands (see client.h).
 *
 * Why the CLI resolves "now-1h" itself instead of passing it through:
 * `diff` and `bottleneck` need the range's length to turn totals into
 * rates, and every request of one invocation must use the same instants;
 * the server then gets epoch milliseconds (13 digits, pyroscope-api.md
 * §6.4), which every Pyroscope version reads the same way.
 *
 * Threads: single-threaded; libcurl is initialised once per process.
 *
 * Invariants: every failure prints exactly one line to stderr before
 * returning -1; response bodies are NUL-terminated and bounded by
 * MAX_BODY.
 */
#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timeparse.h"
#include "units.h"

#ifndef PYRITE_VERSION
#define PYRITE_VERSION "unknown"
#endif

#define DEFAULT_SERVER "http://127.0.0.1:4040"
#define MAX_BODY ((size_t)1 << 30)

static char server_buf[2048];

/* ---- options ---- */

void pyr_cli_common_init(pyr_cli_common *o) {
  const char *env = getenv("PYRITE_SERVER");
  *o = (pyr_cli_common){
      .server = env && *env ? env : DEFAULT_SERVER,
      .from = "now-1h",
      .until = "now",
      .type = "cpu",
      .limit = 20,
      .max_nodes = 65536,
      .timeout_s = 60,
  };
  o->tenant = getenv("PYRITE_TENANT");
  o->token = getenv("PYRITE_TOKEN");
}

static int parse_long(const char *opt, const char *arg, long min, long *out) {
  char *end;
  errno = 0;
  long v = strtol(arg, &end, 10);
  if (errno != 0 || end == arg || *end != '\0' || v < min) {
    fprintf(stderr, "pyrite: --%s: expected an integer >= %ld, got '%s'\n", opt,
            min, arg);
    return -1;
  }
  *out = v;
  return 0;
}

int pyr_cli_common_opt(pyr_cli_common *o, int c, const char *arg) {
  switch (c) {
  case PYR_OPT_SERVER: o->server = arg; return 1;
  case PYR_OPT_TENANT: o->tenant = arg; return 1;
  case PYR_OPT_TOKEN: o->token = arg; return 1;
  case PYR_OPT_APP: o->app = arg; return 1;
  case PYR_OPT_TYPE: o->type = arg; return 1;
  case PYR_OPT_FROM: o->from = arg; return 1;
  case PYR_OPT_UNTIL: o->until = arg; return 1;
  case PYR_OPT_LABELS: o->labels = arg; return 1;
  case PYR_OPT_JSON: o->json = true; return 1;
  case PYR_OPT_LIMIT: return parse_long("limit", arg, 1, &o->limit) ? -1 : 1;
  case PYR_OPT_MAX_NODES:
    return parse_long("max-nodes", arg, 0, &o->max_nodes) ? -1 : 1;
  case PYR_OPT_TIMEOUT:
    return parse_long("timeout", arg, 1, &o->timeout_s) ? -1 : 1;
  default: return 0;
  }
}

void pyr_cli_bad_option(const char *cmd, char **argv) {
  /* getopt_long leaves the offending argument at optind - 1. */
  const char *arg = optind > 0 ? argv[optind - 1] : "?";
  if (optopt != 0 && strncmp(arg, "--", 2) != 0)
    fprintf(stderr, "pyrite %s: bad option '-%c' (see pyrite %s --help)\n", cmd,
            optopt, cmd);
  else
    fprintf(stderr, "pyrite %s: bad option or missing value: '%s' (see pyrite %s --help)\n",
            cmd, arg, cmd);
}

int pyr_cli_args_done(const char *cmd, int argc, char **argv, const char *app, int need_app) {
  if (optind < argc) {
    fprintf(stderr, "pyrite %s: unexpected argument '%s' (see pyrite %s --help)\n", cmd,
            argv[optind], cmd);
    return PYR_CLI_EXIT_USAGE;
  }
  if (need_app && app == NULL) {
    fprintf(stderr, "pyrite %s: --app is required (see pyrite %s --help)\n", cmd, cmd);
    return PYR_CLI_EXIT_USAGE;
  }
  return 0;
}

int pyr_cli_common_finish(pyr_cli_common *o) {
  size_t n = strlen(o->server);
  if (strncmp(o->server, "http://", 7) != 0 && strncmp(o->server, "https://", 8) != 0) {
    fprintf(stderr, "pyrite: --server: expected http://HOST:PORT, got '%s'\n", o->server);
    return -1;
  }
  if (n >= sizeof(server_buf)) {
    fprintf(stderr, "pyrite: --server: URL too long\n");
    return -1;
  }
  memcpy(server_buf, o->server, n + 1);
  while (n > 0 && server_buf[n - 1] == '/')
    server_buf[--n] = '\0';
  o->server = server_buf;
  return 0;
}

/* ---- time ---- */

static int parse_instant(const char *what, const char *s, int64_t now_ns,
                         int64_t *ms) {
  int64_t ns;
  if (pyr_time_parse(s, now_ns, &ns) != 0) {
    fprintf(stderr, "pyrite: --%s: cannot parse '%.40s'\n", what, s);
    return -1;
  }
  *ms = ns / 1000000;
  return 0;
}

int pyr_cli_range_parse(const char *from, const char *until, pyr_cli_range *r) {
  int64_t now = pyr_time_now_ns();
  if (parse_instant("from", from, now, &r->from_ms) != 0 ||
      parse_instant("until", until, now, &r->until_ms) != 0)
    return -1;
  if (r->from_ms >= r->until_ms) {
    /* Pyroscope reads anything unparsable as "now", so this is also how a
     * typo shows up. */
    fprintf(stderr, "pyrite: the range '%s'..'%s' is empty (from must be before until)\n",
            from, until);
    return -1;
  }
  return 0;
}

int pyr_cli_range_parse_pair(const char *pair, pyr_cli_range *r) {
  const char *dots = strstr(pair, "..");
  char from[PYR_TIME_MAX_INPUT + 1];
  size_t n;
  if (dots == NULL) {
    fprintf(stderr, "pyrite: expected FROM..UNTIL, got '%s'\n", pair);
    return -1;
  }
  n = (size_t)(dots - pair);
  if (n > PYR_TIME_MAX_INPUT) {
    fprintf(stderr, "pyrite: range start too long in '%s'\n", pair);
    return -1;
  }
  memcpy(from, pair, n);
  from[n] = '\0';
  return pyr_cli_range_parse(n ? from : "now-1h", dots[2] ? dots + 2 : "now", r);
}

void pyr_cli_range_format(const pyr_cli_range *r, char *buf, size_t len) {
  char a[32], b[32], d[32];
  time_t ta = (time_t)(r->from_ms / 1000), tb = (time_t)(r->until_ms / 1000);
  struct tm ga, gb;
  gmtime_r(&ta, &ga);
  gmtime_r(&tb, &gb);
  strftime(a, sizeof(a), "%Y-%m-%d %H:%M:%SZ", &ga);
  /* The end date only when it differs from the start's. */
  strftime(b, sizeof(b),
           ga.tm_yday == gb.tm_yday && ga.tm_year == gb.tm_year ? "%H:%M:%SZ"
                                                                : "%Y-%m-%d %H:%M:%SZ",
           &gb);
  pyr_cli_fmt_duration(d, sizeof(d), pyr_cli_range_seconds(r));
  snprintf(buf, len, "%s .. %s (%s)", a, b, d);
}

/* ---- HTTP ---- */

int pyr_cli_http_init(void) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "pyrite: cannot initialise libcurl\n");
    return -1;
  }
  atexit(curl_global_cleanup);
  return 0;
}

void pyr_cli_resp_free(pyr_cli_resp *r) {
  free(r->body);
  memset(r, 0, sizeof(*r));
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  pyr_cli_resp *r = ud;
  size_t n = size * nmemb;
  if (n > MAX_BODY - r->len)
    return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
  char *b = realloc(r->body, r->len + n + 1);
  if (b == NULL)
    return 0;
  memcpy(b + r->len, data, n);
  r->len += n;
  b[r->len] = '\0';
  r->body = b;
  return n;
}

char *pyr_cli_urlencode(const char *s) {
  char *e = curl_easy_escape(NULL, s, 0);
  char *copy = e ? strdup(e) : NULL;
  curl_free(e);
  return copy;
}

/* The path without its query string, for messages. */
static void short_path(const char *path, char *buf, size_t len) {
  size_t n = strcspn(path, "?");
  snprintf(buf, len, "%.*s", (int)(n < 200 ? n : 200), path);
}

/* One line of a non-JSON error body: printable, bounded. */
static void body_excerpt(const pyr_cli_resp *r, char *buf, size_t len) {
  size_t k = 0;
  for (size_t i = 0; i < r->len && k + 1 < len && k < 200; i++) {
    char c = r->body[i];
    if (c == '\n' || c == '\r')
      break;
    buf[k++] = (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  buf[k] = '\0';
}

void pyr_cli_http_report(const char *method, const char *path, const pyr_cli_resp *r) {
  char p[256], msg[256];
  json_t *j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
  const char *jm = json_string_value(json_object_get(j, "message"));
  const char *jc = json_string_value(json_object_get(j, "code"));
  short_path(path, p, sizeof(p));
  if (jm != NULL)
    fprintf(stderr, "pyrite: %s %s: HTTP %ld%s%s%s: %s\n", method, p, r->status,
            jc ? " (" : "", jc ? jc : "", jc ? ")" : "", jm);
  else {
    body_excerpt(r, msg, sizeof(msg));
    fprintf(stderr, "pyrite: %s %s: HTTP %ld%s%s\n", method, p, r->status,
            msg[0] ? ": " : "", msg);
  }
  json_decref(j);
}

static void report_transport(const pyr_cli_common *o, CURL *h, CURLcode rc,
                             const char *errbuf) {
  long oserr = 0;
  curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
  if (rc == CURLE_COULDNT_CONNECT && oserr != 0)
    fprintf(stderr, "pyrite: cannot connect to %s: %s\n", o->server, strerror((int)oserr));
  else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
    fprintf(stderr, "pyrite: cannot connect to %s: %s\n", o->server,
            errbuf[0] ? errbuf : curl_easy_strerror(rc));
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    fprintf(stderr, "pyrite: %s did not answer within %ld s (--timeout)\n", o->server,
            o->timeout_s);
  else
    fprintf(stderr, "pyrite: request to %s failed: %s\n", o->server,
            errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

static struct curl_slist *request_headers(const pyr_cli_common *o, const char *ctype) {
  struct curl_slist *h = NULL, *t;
  char line[1024];
  h = curl_slist_append(h, "User-Agent: pyrite/" PYRITE_VERSION);
  if (h == NULL)
    return NULL;
  if (ctype != NULL) {
    snprintf(line, sizeof(line), "Content-Type: %s", ctype);
    if ((t = curl_slist_append(h, line)) == NULL)
      goto fail;
    h = t;
  }
  if (o->tenant != NULL && *o->tenant) {
    snprintf(line, sizeof(line), "X-Scope-OrgID: %s", o->tenant);
    if ((t = curl_slist_append(h, line)) == NULL)
      goto fail;
    h = t;
  }
  if (o->token != NULL && *o->token) {
    snprintf(line, sizeof(line), "Authorization: Bearer %s", o->token);
    if ((t = curl_slist_append(h, line)) == NULL)
      goto fail;
    h = t;
  }
  return h;
fail:
  curl_slist_free_all(h);
  return NULL;
}

int pyr_cli_http(const pyr_cli_common *o, const char *method, const char *path,
                 const char *ctype, const void *body, size_t blen, bool quiet,
                 pyr_cli_resp *resp) {
  CURL *h = curl_easy_init();
  struct curl_slist *hdrs = request_headers(o, ctype);
  char errbuf[CURL_ERROR_SIZE] = "";
  char *url = malloc(strlen(o->server) + strlen(path) + 1);
  const char *ct = NULL;
  int rc = -1;
  memset(resp, 0, sizeof(*resp));
  if (h == NULL || hdrs == NULL || url == NULL) {
    fprintf(stderr, "pyrite: out of memory\n");
    goto out;
  }
  strcpy(url, o->server);
  strcat(url, path);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->timeout_s < 10 ? o->timeout_s : 10L);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip if offered */
  if (body != NULL) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
  }
  CURLcode cr = curl_easy_perform(h);
  if (cr != CURLE_OK) {
    report_transport(o, h, cr, errbuf);
    goto out;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
  if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
    snprintf(resp->ctype, sizeof(resp->ctype), "%s", ct);
  if (resp->body == NULL && (resp->body = calloc(1, 1)) == NULL) {
    fprintf(stderr, "pyrite: out of memory\n");
    goto out;
  }
  if (resp->status < 200 || resp->status > 299) {
    if (!quiet)
      pyr_cli_http_report(method, path, resp);
    goto out;
  }
  rc = 0;
out:
  free(url);
  curl_slist_free_all(hdrs);
  if (h != NULL)
    curl_easy_cleanup(h);
  return rc;
}

/* ---- queries ---- */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Appends s to buf (malloc'd, *len used) escaping '"' and '\\'. */
static int append(char **buf, size_t *len, const char *s, size_t n, bool quote) {
  char *b = realloc(*buf, *len + 2 * n + 1);
  if (b == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (quote && (s[i] == '"' || s[i] == '\\'))
      b[(*len)++] = '\\';
    b[(*len)++] = s[i];
  }
  b[*len] = '\0';
  *buf = b;
  return 0;
}

char *pyr_cli_selector(const char *app, const char *labels) {
  const char *in = labels ? labels : "";
  size_t n = strlen(in), len = 0;
  char *buf = NULL;
  bool any = false;
  while (n > 0 && is_space(in[n - 1]))
    n--;
  while (n > 0 && is_space(*in))
    in++, n--;
  if (n > 0 && in[0] == '{') {
    if (in[n - 1] != '}') {
      fprintf(stderr, "pyrite: --labels: expected {name=\"value\", ...}, got '%s'\n", labels);
      return NULL;
    }
    in++;
    n -= 2;
  }
  if (append(&buf, &len, "{", 1, false) != 0)
    goto oom;
  if (app != NULL) {
    if (append(&buf, &len, "service_name=\"", 14, false) != 0 ||
        append(&buf, &len, app, strlen(app), true) != 0 ||
        append(&buf, &len, "\"", 1, false) != 0)
      goto oom;
    any = true;
  }
  while (n > 0 && is_space(*in))
    in++, n--;
  if (n > 0 && ((any && append(&buf, &len, ",", 1, false) != 0) ||
                append(&buf, &len, in, n, false) != 0))
    goto oom;
  if (append(&buf, &len, "}", 1, false) != 0)
    goto oom;
  return buf;
oom:
  free(buf);
  fprintf(stderr, "pyrite: out of memory\n");
  return NULL;
}

int pyr_cli_fetch_flame(const pyr_cli_common *o, const char *type,
                        const char *selector, const pyr_cli_range *r,
                        pyr_cli_flame *out) {
  size_t qlen = strlen(type) + strlen(selector) + 1;
  char *query = malloc(qlen), *enc = NULL, *path = NULL;
  char err[256];
  pyr_cli_resp resp = {0};
  int rc = -1;
  if (query == NULL)
    goto oom;
  snprintf(query, qlen, "%s%s", type, selector);
  if ((enc = pyr_cli_urlencode(query)) == NULL ||
      (path = malloc(strlen(enc) + 128)) == NULL)
    goto oom;
  sprintf(path, "/pyroscope/render?query=%s&from=%lld&until=%lld&format=json", enc,
          (long long)r->from_ms, (long long)r->until_ms);
  if (o->max_nodes > 0)
    sprintf(path + strlen(path), "&max-nodes=%ld", o->max_nodes);
  if (pyr_cli_http(o, "GET", path, NULL, NULL, 0, false, &resp) != 0)
    goto out;
  if (pyr_cli_flame_parse(resp.body, resp.len, out, err, sizeof(err)) != 0) {
    fprintf(stderr, "pyrite: unexpected answer from /pyroscope/render: %s\n", err);
    goto out;
  }
  rc = 0;
  goto out;
oom:
  fprintf(stderr, "pyrite: out of memory\n");
out:
  pyr_cli_resp_free(&resp);
  free(query);
  free(enc);
  free(path);
  return rc;
}

void pyr_cli_strings_free(pyr_cli_strings *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof(*s));
}

bool pyr_cli_strings_has(const pyr_cli_strings *s, const char *v) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], v) == 0)
      return true;
  return false;
}

static int cmp_strp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A JSON array of strings (null: empty) into *out, sorted. */
static int strings_from_json(const json_t *arr, pyr_cli_strings *out) {
  size_t n = json_array_size(arr);
  memset(out, 0, sizeof(*out));
  if (arr != NULL && !json_is_array(arr) && !json_is_null(arr))
    return -1;
  out->v = calloc(n ? n : 1, sizeof(char *));
  if (out->v == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(arr, i));
    if (s == NULL || (out->v[out->n] = strdup(s)) == NULL) {
      pyr_cli_strings_free(out);
      return -1;
    }
    out->n++;
  }
  qsort(out->v, out->n, sizeof(char *), cmp_strp);
  return 0;
}

static int parse_strings(const pyr_cli_resp *resp, const char *key,
                         const char *what, pyr_cli_strings *out) {
  json_t *j = json_loadb(resp->body, resp->len, 0, NULL);
  const json_t *arr = key ? json_object_get(j, key) : j;
  int rc = j == NULL ? -1 : strings_from_json(arr, out);
  json_decref(j);
  if (rc != 0)
    fprintf(stderr, "pyrite: unexpected answer from %s\n", what);
  return rc;
}

/* Servers without the Connect API answer these; fall back to legacy. */
static bool not_supported(long status) {
  return status == 404 || status == 405 || status == 415 || status == 501;
}

int pyr_cli_label_values(const pyr_cli_common *o, const char *label,
                         const char *selector, const pyr_cli_range *r,
                         pyr_cli_strings *out) {
  static const char lv[] = "/querier.v1.QuerierService/LabelValues";
  json_t *req = json_pack("{s:s}", "name", label);
  char *body = NULL, *enc = NULL, *path = NULL;
  pyr_cli_resp resp = {0};
  int rc = -1;
  if (req == NULL)
    goto oom;
  if (selector != NULL)
    json_object_set_new(req, "matchers", json_pack("[s]", selector));
  if (r != NULL) { /* protojson int64: strings */
    char v[32];
    snprintf(v, sizeof(v), "%lld", (long long)r->from_ms);
    json_object_set_new(req, "start", json_string(v));
    snprintf(v, sizeof(v), "%lld", (long long)r->until_ms);
    json_object_set_new(req, "end", json_string(v));
  }
  if ((body = json_dumps(req, JSON_COMPACT)) == NULL)
    goto oom;
  if (pyr_cli_http(o, "POST", lv, "application/json", body, strlen(body), true,
                   &resp) == 0) {
    rc = parse_strings(&resp, "names", lv, out);
    goto out;
  }
  if (!not_supported(resp.status)) {
    if (resp.status != 0)
      pyr_cli_http_report("POST", lv, &resp);
    goto out;
  }
  pyr_cli_resp_free(&resp);
  if ((enc = pyr_cli_urlencode(label)) == NULL ||
      (path = malloc(strlen(enc) + 64)) == NULL)
    goto oom;
  sprintf(path, "/pyroscope/label-values?label=%s", enc);
  if (pyr_cli_http(o, "GET", path, NULL, NULL, 0, false, &resp) == 0)
    rc = parse_strings(&resp, NULL, "/pyroscope/label-values", out);
  goto out;
oom:
  fprintf(stderr, "pyrite: out of memory\n");
out:
  pyr_cli_resp_free(&resp);
  json_decref(req);
  free(body);
  free(enc);
  free(path);
  return rc;
}

int pyr_cli_profile_types(const pyr_cli_common *o, const char *app,
                          const pyr_cli_range *r, pyr_cli_strings *out) {
  char *sel = app ? pyr_cli_selector(app, NULL) : NULL;
  int rc;
  if (app != NULL && sel == NULL)
    return -1;
  rc = pyr_cli_label_values(o, "__profile_type__", sel, r, out);
  free(sel);
  return rc;
}

static void print_aliases(void) {
  fprintf(stderr, "  aliases: cpu, alloc, lock, wall, alloc_objects, lock_count, "
                  "block, block_count, live;\n"
                  "  or a profile type id such as "
                  "process_cpu:cpu:nanoseconds:cpu:nanoseconds\n");
}

char *pyr_cli_resolve_type(const pyr_cli_common *o, const char *type,
                           const char *app, const pyr_cli_range *r,
                           bool *usage) {
  const char *id = pyr_cli_type_alias(type);
  pyr_cli_strings types = {0};
  char want[256], have[256];
  char *res = NULL;
  *usage = false;
  if (strchr(type, ':') != NULL) {
    if (!pyr_cli_type_id_valid(type)) {
      fprintf(stderr, "pyrite: --type: '%s' is not a profile type id "
                      "(name:sample_type:sample_unit:period_type:period_unit)\n", type);
      *usage = true;
      return NULL;
    }
    return strdup(type);
  }
  if (id == NULL) {
    fprintf(stderr, "pyrite: --type: unknown type '%s'\n", type);
    print_aliases();
    *usage = true;
    return NULL;
  }
  if (pyr_cli_profile_types(o, app, r, &types) != 0)
    return NULL;
  res = strdup(id);
  /* The alias's exact id wins; else the same sample under another period
   * (legacy folded uploads), e.g. wall:wall:nanoseconds:cpu:nanoseconds. */
  if (!pyr_cli_strings_has(&types, id) &&
      pyr_cli_type_prefix(id, 3, want, sizeof(want)) == 0)
    for (size_t i = 0; i < types.n; i++)
      if (pyr_cli_type_prefix(types.v[i], 3, have, sizeof(have)) == 0 &&
          strcmp(want, have) == 0) {
        free(res);
        res = strdup(types.v[i]);
        break;
      }
  pyr_cli_strings_free(&types);
  if (res == NULL)
    fprintf(stderr, "pyrite: out of memory\n");
  return res;
}

int pyr_cli_check_app(const pyr_cli_common *o, const char *app) {
  pyr_cli_strings apps = {0};
  /* No range: all retained data (pyroscope-api.md §9.1). */
  if (app == NULL || pyr_cli_label_values(o, "service_name", NULL, NULL, &apps) != 0)
    return 0; /* cannot tell: let the caller report "no data" */
  if (pyr_cli_strings_has(&apps, app)) {
    pyr_cli_strings_free(&apps);
    return 0;
  }
  fprintf(stderr, "pyrite: the server has no data for app '%s'", app);
  for (size_t i = 0; i < apps.n && i < 20; i++)
    fprintf(stderr, "%s%s", i == 0 ? "; apps: " : ", ", apps.v[i]);
  fprintf(stderr, "%s\n", apps.n > 20 ? ", ..." : "");
  pyr_cli_strings_free(&apps);
  return -1;
}

int pyr_cli_setup(pyr_cli_common *o, pyr_cli_range *r) {
  if (pyr_cli_common_finish(o) != 0)
    return PYR_CLI_EXIT_USAGE;
  if (r != NULL && pyr_cli_range_parse(o->from, o->until, r) != 0)
    return PYR_CLI_EXIT_USAGE;
  return pyr_cli_http_init() == 0 ? PYR_CLI_EXIT_OK : PYR_CLI_EXIT_FAIL;
}

int pyr_cli_print_json(json_t *j) {
  int rc = j == NULL ? -1 : json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
  json_decref(j);
  if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
    fprintf(stderr, "pyrite: cannot write the JSON output\n");
    return PYR_CLI_EXIT_FAIL;
  }
  return PYR_CLI_EXIT_OK;
}
