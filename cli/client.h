/*
 * client.h - what the query subcommands (top, diff, bottleneck, render,
 * pprof) share: the common options, HTTP to pyrited or Pyroscope through
 * libcurl, and the few queries they make (render, label values, profile
 * types, SelectMergeProfile).
 *
 * Threads: single-threaded (one libcurl easy handle per request).
 *
 * Errors: functions return 0, or -1 after printing one line to stderr
 * that says what failed ("pyrite: cannot connect to ...", or the server's
 * JSON error message for an HTTP 4xx/5xx).  Usage errors are the callers'
 * (exit 2); everything here is a runtime error (exit 1).
 */
#ifndef PYRITE_CLI_CLIENT_H
#define PYRITE_CLI_CLIENT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "flame.h"

enum { PYR_CLI_EXIT_OK = 0, PYR_CLI_EXIT_FAIL = 1, PYR_CLI_EXIT_USAGE = 2 };

/* Options every query subcommand accepts (not all use every one). */
typedef struct pyr_cli_common {
  const char *server; /* base URL, no trailing '/' after init */
  const char *tenant; /* X-Scope-OrgID */
  const char *token;  /* Authorization: Bearer */
  const char *app;
  const char *type;   /* alias or profile type id */
  const char *from, *until;
  const char *labels; /* extra matchers: {k="v", ...} */
  bool json;
  long limit;
  long max_nodes;
  long timeout_s;
} pyr_cli_common;

/* getopt_long codes of the common options. */
enum {
  PYR_OPT_SERVER = 0x100,
  PYR_OPT_TENANT,
  PYR_OPT_TOKEN,
  PYR_OPT_APP,
  PYR_OPT_TYPE,
  PYR_OPT_FROM,
  PYR_OPT_UNTIL,
  PYR_OPT_LABELS,
  PYR_OPT_JSON,
  PYR_OPT_LIMIT,
  PYR_OPT_MAX_NODES,
  PYR_OPT_TIMEOUT,
  PYR_OPT_HELP,
  PYR_OPT_FIRST_PRIVATE, /* subcommands number their own options from here */
};

#define PYR_CLI_COMMON_LONGOPTS                                              \
  {"server", required_argument, NULL, PYR_OPT_SERVER},                        \
      {"tenant", required_argument, NULL, PYR_OPT_TENANT},                    \
      {"token", required_argument, NULL, PYR_OPT_TOKEN},                      \
      {"app", required_argument, NULL, PYR_OPT_APP},                          \
      {"type", required_argument, NULL, PYR_OPT_TYPE},                        \
      {"from", required_argument, NULL, PYR_OPT_FROM},                        \
      {"until", required_argument, NULL, PYR_OPT_UNTIL},                      \
      {"labels", required_argument, NULL, PYR_OPT_LABELS},                    \
      {"json", no_argument, NULL, PYR_OPT_JSON},                              \
      {"limit", required_argument, NULL, PYR_OPT_LIMIT},                      \
      {"max-nodes", required_argument, NULL, PYR_OPT_MAX_NODES},              \
      {"timeout", required_argument, NULL, PYR_OPT_TIMEOUT},                  \
      {"help", no_argument, NULL, PYR_OPT_HELP}

/* The help lines for the connection options, shared by every usage text. */
#define PYR_CLI_CONN_HELP                                                    \
  "  --server URL       server base URL (default $PYRITE_SERVER or\n"       \
  "                     http://127.0.0.1:4040)\n"                           \
  "  --tenant ID        tenant, sent as X-Scope-OrgID\n"                    \
  "  --token TOKEN      sent as Authorization: Bearer TOKEN\n"              \
  "  --timeout SECONDS  per-request timeout (default 60)\n"                 \
  "  -h, --help         show this help\n"

/* Defaults: server from $PYRITE_SERVER or http://127.0.0.1:4040, range
 * now-1h..now, type cpu, limit 20, max nodes 65536, timeout 60 s. */
void pyr_cli_common_init(pyr_cli_common *o);

/*
 * Applies getopt_long result c (with optarg arg) if it is a common option.
 * Returns 1 if handled, 0 if not a common option, -1 on a bad value
 * (message printed; the caller exits 2).  PYR_OPT_HELP is not handled
 * here (each subcommand prints its own help).
 */
int pyr_cli_common_opt(pyr_cli_common *o, int c, const char *arg);

/*
 * Prints the "unknown option"/"missing argument" line for a getopt_long
 * failure ('?' or ':'), for the subcommand `cmd`.
 */
void pyr_cli_bad_option(const char *cmd, char **argv);

/*
 * After getopt_long: rejects leftover positional arguments and, when
 * need_app is set, a missing --app, with one line for subcommand `cmd`.
 * Returns 0, or PYR_CLI_EXIT_USAGE.
 */
int pyr_cli_args_done(const char *cmd, int argc, char **argv, const char *app, int need_app);

/* Finishes option handling: trims a trailing '/' from the server URL and
 * checks it looks like http(s)://.  Returns 0 or -1 (message printed). */
int pyr_cli_common_finish(pyr_cli_common *o);

/* ---- time ---- */

/* A resolved time range, ms since the epoch. */
typedef struct pyr_cli_range {
  int64_t from_ms, until_ms;
} pyr_cli_range;

/* Parses from/until (Pyroscope syntax: now-1h, epoch s/ms, RFC 3339)
 * against one "now".  Returns 0, or -1 (message printed) when a value is
 * too long or from is not before until. */
int pyr_cli_range_parse(const char *from, const char *until, pyr_cli_range *r);

/* "FROM..UNTIL" (either side may be empty: defaults now-1h / now). */
int pyr_cli_range_parse_pair(const char *pair, pyr_cli_range *r);

static inline double pyr_cli_range_seconds(const pyr_cli_range *r) {
  return (double)(r->until_ms - r->from_ms) / 1000.0;
}

/* "2024-01-26 10:04:40Z .. 10:19:40Z (15m)" into buf. */
void pyr_cli_range_format(const pyr_cli_range *r, char *buf, size_t len);

/* ---- HTTP ---- */

typedef struct pyr_cli_resp {
  long status;
  char *body; /* NUL-terminated (the NUL not counted in len) */
  size_t len;
  char ctype[128];
} pyr_cli_resp;

void pyr_cli_resp_free(pyr_cli_resp *r);

/*
 * One request to o->server + path.  body may be NULL (GET).  On success
 * (any 2xx) returns 0 and fills *resp; otherwise prints the failure (a
 * connection error in one line, or "HTTP <code>: <server message>") and
 * returns -1, with resp->status set for HTTP errors (0 for transport
 * errors) so callers can fall back on 404/405/501.  If quiet, nothing is
 * printed for HTTP errors.
 */
int pyr_cli_http(const pyr_cli_common *o, const char *method, const char *path,
                 const char *ctype, const void *body, size_t blen, bool quiet,
                 pyr_cli_resp *resp);

/* Prints the "HTTP <code>: <server message>" line for a failed request. */
void pyr_cli_http_report(const char *method, const char *path, const pyr_cli_resp *r);

/* URL-encodes s into a malloc'd string (NULL on OOM). */
char *pyr_cli_urlencode(const char *s);

/* ---- queries ---- */

/*
 * The selector for app (may be NULL) plus the extra matchers in `labels`
 * ("{k="v"}" or "k="v""; may be NULL): {service_name="APP",k="v"}.
 * Returns a malloc'd string, or NULL (message printed) if labels is not a
 * {...} matcher list.
 */
char *pyr_cli_selector(const char *app, const char *labels);

/*
 * GET /pyroscope/render for type+selector over r and decodes the
 * flamebearer into *out.  max_nodes <= 0 leaves the server's default.
 */
int pyr_cli_fetch_flame(const pyr_cli_common *o, const char *type,
                        const char *selector, const pyr_cli_range *r,
                        pyr_cli_flame *out);

/* A list of strings (label values, profile types); free with ..._free. */
typedef struct pyr_cli_strings {
  char **v;
  size_t n;
} pyr_cli_strings;

void pyr_cli_strings_free(pyr_cli_strings *s);
bool pyr_cli_strings_has(const pyr_cli_strings *s, const char *v);

/*
 * Values of `label` among series matching selector (may be NULL) in r
 * (may be NULL: all data), sorted: Connect LabelValues (JSON), falling
 * back to GET /pyroscope/label-values?label=... on servers without it.
 */
int pyr_cli_label_values(const pyr_cli_common *o, const char *label,
                         const char *selector, const pyr_cli_range *r,
                         pyr_cli_strings *out);

/* Profile type ids that have data for app (all apps if NULL) in r. */
int pyr_cli_profile_types(const pyr_cli_common *o, const char *app,
                          const pyr_cli_range *r, pyr_cli_strings *out);

/*
 * Resolves o->type for app: a full id is used as is; an alias becomes its
 * id, or, if the server has no data under that id but has a type with the
 * same name:sample_type:sample_unit (e.g. folded uploads store
 * "wall:wall:nanoseconds:cpu:nanoseconds" or "...::"), that type.
 * Returns a malloc'd id, or NULL (message printed; *usage set when the
 * type was not an id or alias).
 */
char *pyr_cli_resolve_type(const pyr_cli_common *o, const char *type,
                           const char *app, const pyr_cli_range *r,
                           bool *usage);

/*
 * Explains an empty result: if app is not a service_name the server has
 * any data for (whatever the range), prints that with the known apps and
 * returns -1; else returns 0 (the app exists, the range is just empty).
 */
int pyr_cli_check_app(const pyr_cli_common *o, const char *app);

/* curl_global_init once per process (the subcommands call it first). */
int pyr_cli_http_init(void);

/*
 * What every subcommand does after its options: pyr_cli_common_finish,
 * the --from/--until range into *r (if r != NULL) and libcurl.  Returns 0,
 * or the exit code to return (2 for a bad option value, 1 otherwise).
 */
int pyr_cli_setup(pyr_cli_common *o, pyr_cli_range *r);

/* Writes j as indented JSON plus a newline to stdout; returns an exit
 * code (1 if stdout failed) and releases j. */
int pyr_cli_print_json(json_t *j);

#endif /* PYRITE_CLI_CLIENT_H */
