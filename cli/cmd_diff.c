/*
 * cmd_diff.c - `pyrite diff`: which functions grew or shrank between two
 * time ranges of one app (e.g. before and after a deploy).
 *
 * What: fetches the merged flame graph of each range, sums self per
 * function, normalises each side by its range's total (default: "share of
 * the profile", robust to traffic changes) or by its length in seconds
 * (--per-second: absolute cost, e.g. CPU ms per second), and prints the
 * functions sorted by the size of the change (analyze.c).
 *
 * Threads: single-threaded.
 *
 * Invariants: both ranges are resolved against one "now" and fetched
 * before anything is printed.
 *
 * Exit codes: 0, 1 runtime error, 2 usage error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"
#include "client.h"
#include "commands.h"
#include "flame.h"
#include "table.h"
#include "units.h"

enum { OPT_BEFORE = PYR_OPT_FIRST_PRIVATE, OPT_AFTER, OPT_PER_SECOND };

static const char usage_text[] =
    "Usage: pyrite diff --app NAME [--type TYPE] --before FROM..UNTIL --after FROM..UNTIL\n"
    "                   [--per-second] [--labels '{k=\"v\"}'] [--limit N] [--json]\n"
    "       pyrite diff --app NAME --from A --until B --from C --until D ...\n"
    "\n"
    "Compares two time ranges of one app: per function, self in each range as a\n"
    "share of that range's total (or per second with --per-second), the absolute\n"
    "change and the relative change, biggest changes first.\n"
    "\n"
    "  --app NAME             service_name of the app (required)\n"
    "  --type TYPE            cpu (default), alloc, lock, wall, ... or a type id\n"
    "  --before FROM..UNTIL   the baseline range, e.g. now-2h..now-1h\n"
    "  --after FROM..UNTIL    the range to compare, e.g. now-1h..now\n"
    "  --from/--until         alternatively: the first pair is before, the second after\n"
    "  --per-second           normalise by range length instead of range total\n"
    "  --labels SELECTOR      extra label matchers, e.g. '{env=\"prod\"}'\n"
    "  --limit N              rows to print (default 20)\n"
    "  --max-nodes N          flame graph nodes to request (default 65536)\n"
    "  --json                 JSON instead of a table\n" PYR_CLI_CONN_HELP
    "\n"
    "Example: pyrite diff --app orders --before 2024-05-01T10:00:00Z..2024-05-01T11:00:00Z\n"
    "                     --after now-1h..now\n";

struct diff_args {
  pyr_cli_common o;
  const char *before, *after;
  const char *from[2], *until[2];
  int nfrom, nuntil;
  pyr_cli_norm norm;
};

static int set_pair(const char *opt, const char **slot, int *n, const char *arg) {
  if (*n == 2) {
    fprintf(stderr, "pyrite diff: --%s given more than twice\n", opt);
    return -1;
  }
  slot[(*n)++] = arg;
  return 0;
}

/* Handles diff's own options; returns 1 handled, 0 unknown, -1 bad. */
static int own_option(struct diff_args *a, int c, const char *arg) {
  switch (c) {
  case OPT_BEFORE: a->before = arg; return 1;
  case OPT_AFTER: a->after = arg; return 1;
  case OPT_PER_SECOND: a->norm = PYR_CLI_NORM_PER_SECOND; return 1;
  case PYR_OPT_FROM: return set_pair("from", a->from, &a->nfrom, arg) ? -1 : 1;
  case PYR_OPT_UNTIL: return set_pair("until", a->until, &a->nuntil, arg) ? -1 : 1;
  default: return 0;
  }
}

/* Returns -1 to continue, else the exit code. */
static int parse_args(int argc, char **argv, struct diff_args *a) {
  static const struct option longopts[] = {
      PYR_CLI_COMMON_LONGOPTS,
      {"before", required_argument, NULL, OPT_BEFORE},
      {"after", required_argument, NULL, OPT_AFTER},
      {"per-second", no_argument, NULL, OPT_PER_SECOND},
      {0}};
  int c;
  memset(a, 0, sizeof(*a));
  pyr_cli_common_init(&a->o);
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    int h = own_option(a, c, optarg);
    if (h == 0)
      h = pyr_cli_common_opt(&a->o, c, optarg);
    if (h < 0)
      return PYR_CLI_EXIT_USAGE;
    if (h > 0)
      continue;
    if (c == 'h' || c == PYR_OPT_HELP) {
      fputs(usage_text, stdout);
      return PYR_CLI_EXIT_OK;
    }
    pyr_cli_bad_option("diff", argv);
    return PYR_CLI_EXIT_USAGE;
  }
  if (pyr_cli_args_done("diff", argc, argv, a->o.app, 1) != 0)
    return PYR_CLI_EXIT_USAGE;
  return -1;
}

/* Both ranges from --before/--after or two --from/--until pairs. */
static int ranges(const struct diff_args *a, pyr_cli_range *before, pyr_cli_range *after) {
  if (a->nfrom > 0 || a->nuntil > 0) {
    if (a->before || a->after || a->nfrom != 2 || a->nuntil != 2) {
      fprintf(stderr, "pyrite diff: give --before and --after, or exactly two "
                      "--from/--until pairs\n");
      return -1;
    }
    return pyr_cli_range_parse(a->from[0], a->until[0], before) ||
                   pyr_cli_range_parse(a->from[1], a->until[1], after)
               ? -1
               : 0;
  }
  if (a->before == NULL || a->after == NULL) {
    fprintf(stderr, "pyrite diff: --before and --after are required (see pyrite diff --help)\n");
    return -1;
  }
  return pyr_cli_range_parse_pair(a->before, before) ||
                 pyr_cli_range_parse_pair(a->after, after)
             ? -1
             : 0;
}

struct side {
  pyr_cli_range r;
  pyr_cli_flame f;
  pyr_cli_func *funcs;
  size_t n;
};

static int fetch_side(const pyr_cli_common *o, const char *type, const char *sel,
                      struct side *s) {
  if (pyr_cli_fetch_flame(o, type, sel, &s->r, &s->f) != 0)
    return -1;
  if (pyr_cli_flame_functions(&s->f, PYR_CLI_BY_SELF, &s->funcs, &s->n) != 0) {
    fprintf(stderr, "pyrite: out of memory\n");
    return -1;
  }
  return 0;
}

static json_t *side_json(const struct side *s) {
  return json_pack("{s:I, s:I, s:f, s:I}", "from_ms", (json_int_t)s->r.from_ms,
                   "until_ms", (json_int_t)s->r.until_ms, "seconds",
                   pyr_cli_range_seconds(&s->r), "total", (json_int_t)s->f.total);
}

static json_t *diff_json(const struct diff_args *a, const char *type,
                         const struct side *b, const struct side *af,
                         const pyr_cli_change *ch, size_t n) {
  json_t *list = json_array();
  for (size_t i = 0; list != NULL && i < n && i < (size_t)a->o.limit; i++) {
    json_t *rel = isinf(ch[i].relative) ? json_null() : json_real(ch[i].relative);
    json_array_append_new(
        list, json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:o}", "name", ch[i].name,
                        "before_self", (json_int_t)ch[i].before_self, "after_self",
                        (json_int_t)ch[i].after_self, "before", ch[i].before, "after",
                        ch[i].after, "delta", ch[i].delta, "relative", rel));
  }
  return json_pack("{s:s, s:s, s:s, s:s, s:o*, s:o*, s:o*}", "app", a->o.app, "type",
                   type, "unit", pyr_cli_unit_name(pyr_cli_type_unit(type)),
                   "normalisation",
                   a->norm == PYR_CLI_NORM_SHARE ? "share" : "per_second", "before",
                   side_json(b), "after", side_json(af), "functions", list);
}

/* One normalised value: "12.3%" or "4.50 ms/s". */
static void fmt_norm(char *buf, size_t len, double v, pyr_cli_norm norm, pyr_cli_unit u,
                     bool sign) {
  char tmp[PYR_CLI_FMT_MAX - 1]; /* one byte left for the sign */
  const char *plus = sign && v > 0 ? "+" : "";
  if (norm == PYR_CLI_NORM_SHARE) {
    snprintf(buf, len, "%s%.1f%s", plus, 100.0 * v, sign ? "pp" : "%");
    return;
  }
  pyr_cli_fmt_rate(tmp, sizeof(tmp), v, u);
  snprintf(buf, len, "%s%s", plus, tmp);
}

static void print_side(const char *label, const struct side *s, pyr_cli_unit u) {
  char range[128], tot[PYR_CLI_FMT_MAX], rate[PYR_CLI_FMT_MAX];
  pyr_cli_range_format(&s->r, range, sizeof(range));
  pyr_cli_fmt_value(tot, sizeof(tot), (double)s->f.total, u);
  pyr_cli_fmt_rate(rate, sizeof(rate), (double)s->f.total / pyr_cli_range_seconds(&s->r), u);
  printf("%-6s  %s  total %s (%s)\n", label, range, tot, rate);
}

static int diff_text(const struct diff_args *a, const char *type, const struct side *b,
                     const struct side *af, const pyr_cli_change *ch, size_t n) {
  pyr_cli_unit u = pyr_cli_type_unit(type);
  char c[4][PYR_CLI_FMT_MAX];
  pyr_cli_table t;
  int rc;
  printf("%s  %s\n", a->o.app, type);
  print_side("before", b, u);
  print_side("after", af, u);
  printf("self %s\n\n", a->norm == PYR_CLI_NORM_SHARE ? "as a share of each range's total"
                                                     : "per second of each range");
  if (n == 0) {
    printf("no samples in either range\n");
    return PYR_CLI_EXIT_OK;
  }
  pyr_cli_table_init(&t, "rrrrl");
  pyr_cli_table_row(&t, (const char *const[]){"BEFORE", "AFTER", "CHANGE", "RELATIVE", "FUNCTION"});
  for (size_t i = 0; i < n && i < (size_t)a->o.limit; i++) {
    fmt_norm(c[0], sizeof(c[0]), ch[i].before, a->norm, u, false);
    fmt_norm(c[1], sizeof(c[1]), ch[i].after, a->norm, u, false);
    fmt_norm(c[2], sizeof(c[2]), ch[i].delta, a->norm, u, true);
    if (isinf(ch[i].relative))
      snprintf(c[3], sizeof(c[3]), "new");
    else if (ch[i].after_self == 0)
      snprintf(c[3], sizeof(c[3]), "gone");
    else
      snprintf(c[3], sizeof(c[3]), "%+.0f%%", 100.0 * ch[i].relative);
    pyr_cli_table_row(&t, (const char *const[]){c[0], c[1], c[2], c[3], ch[i].name});
  }
  rc = pyr_cli_table_print(&t, stdout);
  pyr_cli_table_free(&t);
  if (rc != 0 || fflush(stdout) != 0) {
    fprintf(stderr, "pyrite: cannot write the output\n");
    return PYR_CLI_EXIT_FAIL;
  }
  return PYR_CLI_EXIT_OK;
}

int pyr_cli_cmd_diff(int argc, char **argv) {
  struct diff_args a;
  struct side b = {0}, af = {0};
  pyr_cli_change *ch = NULL;
  size_t n = 0;
  char *type = NULL, *sel = NULL;
  bool usage = false;
  int rc = parse_args(argc, argv, &a);
  if (rc >= 0)
    return rc;
  if ((rc = pyr_cli_setup(&a.o, NULL)) != 0)
    return rc;
  if (ranges(&a, &b.r, &af.r) != 0 || (sel = pyr_cli_selector(a.o.app, a.o.labels)) == NULL)
    return PYR_CLI_EXIT_USAGE;
  rc = PYR_CLI_EXIT_FAIL;
  /* Resolve an alias against what either range has. */
  pyr_cli_range both = {b.r.from_ms < af.r.from_ms ? b.r.from_ms : af.r.from_ms,
                        b.r.until_ms > af.r.until_ms ? b.r.until_ms : af.r.until_ms};
  if ((type = pyr_cli_resolve_type(&a.o, a.o.type, a.o.app, &both, &usage)) == NULL) {
    rc = usage ? PYR_CLI_EXIT_USAGE : PYR_CLI_EXIT_FAIL;
    goto out;
  }
  if (fetch_side(&a.o, type, sel, &b) != 0 || fetch_side(&a.o, type, sel, &af) != 0)
    goto out;
  if (b.f.total == 0 && af.f.total == 0 && pyr_cli_check_app(&a.o, a.o.app) != 0)
    goto out;
  if (pyr_cli_diff_funcs(b.funcs, b.n, b.f.total, pyr_cli_range_seconds(&b.r), af.funcs,
                         af.n, af.f.total, pyr_cli_range_seconds(&af.r), a.norm, &ch,
                         &n) != 0) {
    fprintf(stderr, "pyrite: out of memory\n");
    goto out;
  }
  rc = a.o.json ? pyr_cli_print_json(diff_json(&a, type, &b, &af, ch, n))
                : diff_text(&a, type, &b, &af, ch, n);
out:
  free(ch);
  free(b.funcs);
  free(af.funcs);
  pyr_cli_flame_free(&b.f);
  pyr_cli_flame_free(&af.f);
  free(type);
  free(sel);
  return rc;
}
