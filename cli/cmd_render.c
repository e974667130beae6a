/*
 * cmd_render.c - `pyrite render` (a flame graph to a standalone HTML page
 * or a collapsed-stacks text file) and `pyrite pprof` (the merged profile
 * as a pprof file, for `go tool pprof` and friends).
 *
 * What: render fetches the flamebearer like `top` does and writes it with
 * html.c or flame.c's collapsed writer.  pprof asks the server for a
 * pprof: first GET /pyroscope/render?format=pprof (a pyrited extension),
 * then the standard Connect SelectMergeProfile with a hand-encoded
 * protobuf request (four scalar fields do not justify generated code);
 * the answer is written as received, gzipped when the file name ends in
 * ".gz" and the server sent it plain.
 *
 * Threads: single-threaded.
 *
 * Invariants: the output file is created only after the data arrived and
 * is removed again if writing it fails.
 *
 * Exit codes: 0, 1 runtime error (including a server without pprof
 * export), 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "client.h"
#include "commands.h"
#include "flame.h"
#include "html.h"
#include "units.h"

enum { OPT_OUTPUT = PYR_OPT_FIRST_PRIVATE, OPT_FORMAT };

static const char render_usage[] =
    "Usage: pyrite render --app NAME [--type TYPE] [--from TIME] [--until TIME]\n"
    "                     [--labels '{k=\"v\"}'] --output FILE [--format html|collapsed]\n"
    "\n"
    "Writes the app's merged flame graph for the range as a standalone HTML page\n"
    "(no network access needed to view it: click to zoom, search, top functions)\n"
    "or as collapsed stacks ('a;b;c 123' per line, for flamegraph.pl & co).\n"
    "\n"
    "  --app NAME         service_name of the app (required)\n"
    "  --type TYPE        cpu (default), alloc, lock, wall, ... or a type id\n"
    "  --from, --until    range (default now-1h .. now)\n"
    "  --labels SELECTOR  extra label matchers, e.g. '{env=\"prod\"}'\n"
    "  --output FILE      where to write ('-': standard output)\n"
    "  --format FORMAT    html or collapsed (default: html for *.html/*.htm,\n"
    "                     else collapsed)\n"
    "  --max-nodes N      flame graph nodes to request (default 65536)\n" PYR_CLI_CONN_HELP
    "\n"
    "Example: pyrite render --app orders --type cpu --from now-15m --output orders.html\n";

static const char pprof_usage[] =
    "Usage: pyrite pprof --app NAME [--type TYPE] [--from TIME] [--until TIME]\n"
    "                    [--labels '{k=\"v\"}'] --output FILE\n"
    "\n"
    "Writes the app's merged profile for the range as a pprof file (gzipped if\n"
    "FILE ends in .gz), e.g. for `go tool pprof -top FILE`.\n"
    "\n"
    "  --app NAME         service_name of the app (required)\n"
    "  --type TYPE        cpu (default), alloc, lock, wall, ... or a type id\n"
    "  --from, --until    range (default now-1h .. now)\n"
    "  --labels SELECTOR  extra label matchers\n"
    "  --output FILE      where to write ('-': standard output)\n" PYR_CLI_CONN_HELP
    "\n"
    "Example: pyrite pprof --app orders --type cpu --output orders.pb.gz\n";

struct render_args {
  pyr_cli_common o;
  const char *output;
  const char *format; /* "html" or "collapsed" */
};

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Returns -1 to continue, else the exit code. */
static int parse_args(int argc, char **argv, const char *cmd, const char *usage,
                      struct render_args *a) {
  static const struct option longopts[] = {
      PYR_CLI_COMMON_LONGOPTS,
      {"output", required_argument, NULL, OPT_OUTPUT},
      {"format", required_argument, NULL, OPT_FORMAT},
      {0}};
  bool is_render = strcmp(cmd, "render") == 0;
  int c;
  memset(a, 0, sizeof(*a));
  pyr_cli_common_init(&a->o);
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
    int h = pyr_cli_common_opt(&a->o, c, optarg);
    if (h < 0)
      return PYR_CLI_EXIT_USAGE;
    if (h > 0)
      continue;
    if (c == 'h' || c == PYR_OPT_HELP) {
      fputs(usage, stdout);
      return PYR_CLI_EXIT_OK;
    }
    if (c == OPT_OUTPUT || c == 'o') {
      a->output = optarg;
    } else if (c == OPT_FORMAT && is_render &&
               (strcmp(optarg, "html") == 0 || strcmp(optarg, "collapsed") == 0)) {
      a->format = optarg;
    } else if (c == OPT_FORMAT && is_render) {
      fprintf(stderr, "pyrite render: --format: expected html or collapsed, got '%s'\n", optarg);
      return PYR_CLI_EXIT_USAGE;
    } else {
      pyr_cli_bad_option(cmd, argv);
      return PYR_CLI_EXIT_USAGE;
    }
  }
  if (pyr_cli_args_done(cmd, argc, argv, NULL, 0) != 0)
    return PYR_CLI_EXIT_USAGE;
  if (a->o.app == NULL || a->output == NULL) {
    fprintf(stderr, "pyrite %s: --app and --output are required (see pyrite %s --help)\n",
            cmd, cmd);
    return PYR_CLI_EXIT_USAGE;
  }
  if (a->format == NULL)
    a->format = ends_with(a->output, ".html") || ends_with(a->output, ".htm") ? "html"
                                                                             : "collapsed";
  return -1;
}

static FILE *open_output(const char *path) {
  FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
  if (f == NULL)
    perror(path);
  return f;
}

/* Closes f (unless stdout) and reports a write error; returns an exit code. */
static int close_output(FILE *f, const char *path, bool failed) {
  int err = failed || ferror(f);
  if (f != stdout)
    err |= fclose(f) != 0;
  else
    err |= fflush(f) != 0;
  if (err) {
    fprintf(stderr, "pyrite: cannot write %s\n", path);
    if (f != stdout)
      remove(path); /* no half-written file left behind */
    return PYR_CLI_EXIT_FAIL;
  }
  return PYR_CLI_EXIT_OK;
}

static int write_render(const struct render_args *a, const char *type, const char *sel,
                        const pyr_cli_range *r, const pyr_cli_flame *fl) {
  char title[512], sub[1024], range[128], tot[PYR_CLI_FMT_MAX];
  pyr_cli_unit u = pyr_cli_type_unit(type);
  FILE *f = open_output(a->output);
  bool failed = false;
  if (f == NULL)
    return PYR_CLI_EXIT_FAIL;
  if (strcmp(a->format, "html") == 0) {
    pyr_cli_range_format(r, range, sizeof(range));
    pyr_cli_fmt_value(tot, sizeof(tot), (double)fl->total, u);
    snprintf(title, sizeof(title), "%s - %s", a->o.app, type);
    snprintf(sub, sizeof(sub), "%s  %s  total %s", sel, range, tot);
    failed = pyr_cli_html_write(f, fl, title, sub, u) != 0;
  } else {
    size_t len = 0;
    char *text = pyr_cli_flame_collapsed(fl, &len);
    failed = text == NULL || fwrite(text, 1, len, f) != len;
    free(text);
  }
  int rc = close_output(f, a->output, failed);
  if (rc == 0 && f != stdout)
    printf("wrote %s (%s, %zu frames, total %llu)\n", a->output, a->format,
           fl->nnodes > 0 ? fl->nnodes - 1 : 0, (unsigned long long)fl->total);
  return rc;
}

/* Type, selector and range as every server query needs them. */
static int prepare(struct render_args *a, pyr_cli_range *r, char **type, char **sel) {
  bool usage = false;
  int rc = pyr_cli_setup(&a->o, r);
  if (rc != 0)
    return rc;
  if ((*sel = pyr_cli_selector(a->o.app, a->o.labels)) == NULL)
    return PYR_CLI_EXIT_USAGE;
  if ((*type = pyr_cli_resolve_type(&a->o, a->o.type, a->o.app, r, &usage)) == NULL)
    return usage ? PYR_CLI_EXIT_USAGE : PYR_CLI_EXIT_FAIL;
  return PYR_CLI_EXIT_OK;
}

int pyr_cli_cmd_render(int argc, char **argv) {
  struct render_args a;
  pyr_cli_range r;
  pyr_cli_flame fl = {0};
  char *type = NULL, *sel = NULL;
  int rc = parse_args(argc, argv, "render", render_usage, &a);
  if (rc >= 0)
    return rc;
  if ((rc = prepare(&a, &r, &type, &sel)) != 0)
    goto out;
  rc = PYR_CLI_EXIT_FAIL;
  if (pyr_cli_fetch_flame(&a.o, type, sel, &r, &fl) != 0)
    goto out;
  if (fl.total == 0 && pyr_cli_check_app(&a.o, a.o.app) != 0)
    goto out;
  rc = write_render(&a, type, sel, &r, &fl);
out:
  pyr_cli_flame_free(&fl);
  free(type);
  free(sel);
  return rc;
}

/* ---- pprof ---- */

struct pb {
  uint8_t *b;
  size_t len, cap;
};

static int pb_put(struct pb *p, const void *d, size_t n) {
  if (p->len + n > p->cap) {
    size_t cap = (p->len + n) * 2 + 64;
    uint8_t *b = realloc(p->b, cap);
    if (b == NULL)
      return -1;
    p->b = b;
    p->cap = cap;
  }
  memcpy(p->b + p->len, d, n);
  p->len += n;
  return 0;
}

static int pb_varint(struct pb *p, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  do {
    tmp[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v)
      tmp[n] |= 0x80;
    n++;
  } while (v);
  return pb_put(p, tmp, n);
}

static int pb_string(struct pb *p, int field, const char *s) {
  size_t n = strlen(s);
  return pb_varint(p, (uint64_t)field << 3 | 2) || pb_varint(p, n) || pb_put(p, s, n);
}

static int pb_int64(struct pb *p, int field, int64_t v) {
  return pb_varint(p, (uint64_t)field << 3) || pb_varint(p, (uint64_t)v);
}

/* querier.v1.SelectMergeProfileRequest{profile_typeID=1, label_selector=2,
 * start=3, end=4} (pyroscope-api.md §4). */
static int select_merge_profile_request(struct pb *p, const char *type, const char *sel,
                                        const pyr_cli_range *r) {
  return pb_string(p, 1, type) || pb_string(p, 2, sel) || pb_int64(p, 3, r->from_ms) ||
         pb_int64(p, 4, r->until_ms);
}

static bool is_json(const pyr_cli_resp *resp) {
  size_t i = 0;
  while (i < resp->len && (resp->body[i] == ' ' || resp->body[i] == '\n'))
    i++;
  return strstr(resp->ctype, "json") != NULL || (i < resp->len && resp->body[i] == '{');
}

static bool unsupported(long status) {
  return status == 404 || status == 405 || status == 415 || status == 501;
}

/* The pprof bytes, from whichever endpoint the server has. */
static int fetch_pprof(const pyr_cli_common *o, const char *type, const char *sel,
                       const pyr_cli_range *r, pyr_cli_resp *resp) {
  static const char smp[] = "/querier.v1.QuerierService/SelectMergeProfile";
  size_t qlen = strlen(type) + strlen(sel) + 1;
  char *query = malloc(qlen), *enc = NULL, *path = NULL;
  struct pb req = {0};
  int rc = -1;
  if (query == NULL)
    goto oom;
  snprintf(query, qlen, "%s%s", type, sel);
  if ((enc = pyr_cli_urlencode(query)) == NULL || (path = malloc(strlen(enc) + 128)) == NULL)
    goto oom;
  sprintf(path, "/pyroscope/render?query=%s&from=%lld&until=%lld&format=pprof", enc,
          (long long)r->from_ms, (long long)r->until_ms);
  if (pyr_cli_http(o, "GET", path, NULL, NULL, 0, true, resp) == 0 && !is_json(resp)) {
    rc = 0;
    goto out;
  }
  if (resp->status == 0)
    goto out; /* transport error, already reported */
  pyr_cli_resp_free(resp);
  if (select_merge_profile_request(&req, type, sel, r) != 0)
    goto oom;
  if (pyr_cli_http(o, "POST", smp, "application/proto", req.b, req.len, true, resp) == 0) {
    rc = 0;
  } else if (unsupported(resp->status)) {
    fprintf(stderr, "pyrite: %s does not support pprof export (no render?format=pprof, "
                    "no SelectMergeProfile)\n", o->server);
  } else if (resp->status != 0) {
    pyr_cli_http_report("POST", smp, resp);
  }
  goto out;
oom:
  fprintf(stderr, "pyrite: out of memory\n");
out:
  free(query);
  free(enc);
  free(path);
  free(req.b);
  return rc;
}

/* gzip of data (a complete .gz member); NULL on failure. */
static uint8_t *gzip_bytes(const uint8_t *data, size_t len, size_t *out_len) {
  z_stream z = {0};
  uLong cap = compressBound((uLong)len) + 64;
  uint8_t *out = malloc(cap);
  if (out == NULL || deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    free(out);
    return NULL;
  }
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)len;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  int zr = deflate(&z, Z_FINISH);
  *out_len = z.total_out;
  deflateEnd(&z);
  if (zr != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  return out;
}

static int write_pprof(const char *path, const pyr_cli_resp *resp) {
  const uint8_t *data = (const uint8_t *)resp->body;
  size_t len = resp->len;
  uint8_t *gz = NULL;
  bool gzipped = len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!gzipped && ends_with(path, ".gz")) {
    if ((gz = gzip_bytes(data, len, &len)) == NULL) {
      fprintf(stderr, "pyrite: cannot gzip the profile\n");
      return PYR_CLI_EXIT_FAIL;
    }
    data = gz;
  }
  FILE *f = open_output(path);
  int rc = PYR_CLI_EXIT_FAIL;
  if (f != NULL) {
    rc = close_output(f, path, fwrite(data, 1, len, f) != len);
    if (rc == 0 && f != stdout)
      printf("wrote %s (%zu bytes, pprof)\n", path, len);
  }
  free(gz);
  return rc;
}

int pyr_cli_cmd_pprof(int argc, char **argv) {
  struct render_args a;
  pyr_cli_range r;
  pyr_cli_resp resp = {0};
  char *type = NULL, *sel = NULL;
  int rc = parse_args(argc, argv, "pprof", pprof_usage, &a);
  if (rc >= 0)
    return rc;
  if ((rc = prepare(&a, &r, &type, &sel)) != 0)
    goto out;
  rc = PYR_CLI_EXIT_FAIL;
  if (fetch_pprof(&a.o, type, sel, &r, &resp) != 0)
    goto out;
  rc = write_pprof(a.output, &resp);
out:
  pyr_cli_resp_free(&resp);
  free(type);
  free(sel);
  return rc;
}
