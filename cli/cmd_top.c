/*
 * cmd_top.c - `pyrite top`: the hottest functions of one app and profile
 * type over a time range, by self or total, from the server's merged flame
 * graph (GET /pyroscope/render).
 *
 * What: self = samples whose leaf is the function; total = samples with
 * the function anywhere on the stack, counted once per stack even when it
 * recurses (flame.c).  Percentages are of the range's total.
 *
 * Threads: single-threaded.
 *
 * Invariants: nothing reaches stdout before every request has succeeded,
 * so a failure never leaves half a table for a script to parse.
 *
 * Exit codes: 0 (also for "no samples"), 1 runtime error or an app the
 * server has never seen, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "commands.h"
#include "flame.h"
#include "table.h"
#include "units.h"

enum { OPT_BY = PYR_OPT_FIRST_PRIVATE };

static const char usage_text[] =
    "Usage: pyrite top --app NAME [--type TYPE] [--from TIME] [--until TIME]\n"
    "                  [--labels '{k=\"v\"}'] [--limit N] [--by self|total] [--json]\n"
    "\n"
    "Prints the hottest functions of an app: self (the function itself) and\n"
    "total (it and what it calls, recursion counted once), with % of the range.\n"
    "\n"
    "  --app NAME         service_name of the app (required)\n"
    "  --type TYPE        cpu (default), alloc, lock, wall, alloc_objects,\n"
    "                     lock_count, block, block_count, live, or a profile\n"
    "                     type id such as process_cpu:cpu:nanoseconds:cpu:nanoseconds\n"
    "  --from, --until    range, Pyroscope syntax: now-15m, now, epoch s or ms,\n"
    "                     RFC 3339 (default now-1h .. now)\n"
    "  --labels SELECTOR  extra label matchers, e.g. '{env=\"prod\"}'\n"
    "  --limit N          rows to print (default 20)\n"
    "  --by self|total    sort order (default self)\n"
    "  --max-nodes N      flame graph nodes to request (default 65536; 0 = server default)\n"
    "  --json             JSON instead of a table\n" PYR_CLI_CONN_HELP
    "\n"
    "Example: pyrite top --server http://127.0.0.1:4040 --app orders --type cpu --from now-15m\n";

struct top_args {
  pyr_cli_common o;
  pyr_cli_sort by;
};

/* Returns -1 to continue, else the exit code. */
static int parse_args(int argc, char **argv, struct top_args *a) {
  static const struct option longopts[] = {
      PYR_CLI_COMMON_LONGOPTS, {"by", required_argument, NULL, OPT_BY}, {0}};
  int c;
  pyr_cli_common_init(&a->o);
  a->by = PYR_CLI_BY_SELF;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    int h = pyr_cli_common_opt(&a->o, c, optarg);
    if (h < 0)
      return PYR_CLI_EXIT_USAGE;
    if (h > 0)
      continue;
    if (c == 'h' || c == PYR_OPT_HELP) {
      fputs(usage_text, stdout);
      return PYR_CLI_EXIT_OK;
    }
    if (c == OPT_BY && (strcmp(optarg, "self") == 0 || strcmp(optarg, "total") == 0)) {
      a->by = optarg[0] == 's' ? PYR_CLI_BY_SELF : PYR_CLI_BY_TOTAL;
      continue;
    }
    if (c == OPT_BY)
      fprintf(stderr, "pyrite top: --by: expected self or total, got '%s'\n", optarg);
    else
      pyr_cli_bad_option("top", argv);
    return PYR_CLI_EXIT_USAGE;
  }
  if (pyr_cli_args_done("top", argc, argv, a->o.app, 1) != 0)
    return PYR_CLI_EXIT_USAGE;
  return -1;
}

static json_t *top_json(const struct top_args *a, const char *type,
                        const pyr_cli_range *r, const pyr_cli_flame *f,
                        const pyr_cli_func *funcs, size_t n) {
  json_t *list = json_array();
  double total = (double)f->total;
  for (size_t i = 0; list != NULL && i < n && i < (size_t)a->o.limit; i++)
    json_array_append_new(
        list, json_pack("{s:s, s:I, s:f, s:I, s:f}", "name", funcs[i].name, "self",
                        (json_int_t)funcs[i].self, "self_percent",
                        total > 0 ? 100.0 * (double)funcs[i].self / total : 0.0,
                        "total", (json_int_t)funcs[i].total, "total_percent",
                        total > 0 ? 100.0 * (double)funcs[i].total / total : 0.0));
  return json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:I, s:s, s:o*}", "app", a->o.app,
                   "type", type, "unit", pyr_cli_unit_name(pyr_cli_type_unit(type)),
                   "from_ms", (json_int_t)r->from_ms, "until_ms",
                   (json_int_t)r->until_ms, "seconds", pyr_cli_range_seconds(r),
                   "total", (json_int_t)f->total, "by",
                   a->by == PYR_CLI_BY_SELF ? "self" : "total", "functions", list);
}

static int top_text(const struct top_args *a, const char *type,
                    const pyr_cli_range *r, const pyr_cli_flame *f,
                    const pyr_cli_func *funcs, size_t n) {
  pyr_cli_unit u = pyr_cli_type_unit(type);
  char range[128], tot[PYR_CLI_FMT_MAX], rate[PYR_CLI_FMT_MAX];
  char c[4][PYR_CLI_FMT_MAX];
  pyr_cli_table t;
  int rc;
  pyr_cli_range_format(r, range, sizeof(range));
  pyr_cli_fmt_value(tot, sizeof(tot), (double)f->total, u);
  pyr_cli_fmt_rate(rate, sizeof(rate), (double)f->total / pyr_cli_range_seconds(r), u);
  printf("%s  %s  %s\n", a->o.app, type, range);
  if (f->total == 0) {
    printf("no samples\n");
    return PYR_CLI_EXIT_OK;
  }
  printf("total %s (%s)\n\n", tot, rate);
  pyr_cli_table_init(&t, "rrrrl");
  pyr_cli_table_row(&t, (const char *const[]){"SELF", "SELF%", "TOTAL", "TOTAL%", "FUNCTION"});
  for (size_t i = 0; i < n && i < (size_t)a->o.limit; i++) {
    pyr_cli_fmt_value(c[0], sizeof(c[0]), (double)funcs[i].self, u);
    pyr_cli_fmt_percent(c[1], sizeof(c[1]), (double)funcs[i].self, (double)f->total);
    pyr_cli_fmt_value(c[2], sizeof(c[2]), (double)funcs[i].total, u);
    pyr_cli_fmt_percent(c[3], sizeof(c[3]), (double)funcs[i].total, (double)f->total);
    pyr_cli_table_row(&t, (const char *const[]){c[0], c[1], c[2], c[3], funcs[i].name});
  }
  rc = pyr_cli_table_print(&t, stdout);
  pyr_cli_table_free(&t);
  if (rc != 0 || fflush(stdout) != 0) {
    fprintf(stderr, "pyrite: cannot write the output\n");
    return PYR_CLI_EXIT_FAIL;
  }
  return PYR_CLI_EXIT_OK;
}

int pyr_cli_cmd_top(int argc, char **argv) {
  struct top_args a;
  pyr_cli_range r;
  pyr_cli_flame f = {0};
  pyr_cli_func *funcs = NULL;
  size_t n = 0;
  char *type = NULL, *sel = NULL;
  bool usage = false;
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0)
    return rc;
  if ((rc = pyr_cli_setup(&a.o, &r)) != 0)
    return rc;
  /* The selector first: a bad --labels is a usage error, found offline. */
  if ((sel = pyr_cli_selector(a.o.app, a.o.labels)) == NULL)
    return PYR_CLI_EXIT_USAGE;
  rc = PYR_CLI_EXIT_FAIL;
  if ((type = pyr_cli_resolve_type(&a.o, a.o.type, a.o.app, &r, &usage)) == NULL) {
    rc = usage ? PYR_CLI_EXIT_USAGE : PYR_CLI_EXIT_FAIL;
    goto out;
  }
  if (pyr_cli_fetch_flame(&a.o, type, sel, &r, &f) != 0)
    goto out;
  /* An empty answer for an app the server does not know is a typo, not
   * an idle app: say so. */
  if (f.total == 0 && pyr_cli_check_app(&a.o, a.o.app) != 0)
    goto out;
  if (pyr_cli_flame_functions(&f, a.by, &funcs, &n) != 0) {
    fprintf(stderr, "pyrite: out of memory\n");
    goto out;
  }
  rc = a.o.json ? pyr_cli_print_json(top_json(&a, type, &r, &f, funcs, n))
                : top_text(&a, type, &r, &f, funcs, n);
out:
  free(funcs);
  pyr_cli_flame_free(&f);
  free(type);
  free(sel);
  return rc;
}
