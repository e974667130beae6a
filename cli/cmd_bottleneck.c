/*
 * cmd_bottleneck.c - `pyrite bottleneck`: for each app, is it CPU-,
 * allocation/GC-, lock- or wait-bound over a time range, and which
 * function dominates that dimension.
 *
 * What: lists the apps (service_name values) and each app's profile
 * types, fetches the CPU, allocation, lock (mutex + block delay) and wall
 * flame graphs it has, measures them with the frame families of analyze.c
 * and classifies with pyr_cli_bn_classify.  docs/cli.md ("How bottleneck
 * decides") is the user-facing description of the heuristic; keep the two
 * in step.
 *
 * Threads: single-threaded.
 *
 * Invariants: every app is measured over the same resolved range; the
 * table is printed only after all apps were analysed.
 *
 * Exit codes: 0 (also when no app has data), 1 runtime error, 2 usage.
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

static const char usage_text[] =
    "Usage: pyrite bottleneck [--app NAME] [--from TIME] [--until TIME]\n"
    "                         [--labels '{k=\"v\"}'] [--json]\n"
    "\n"
    "For each app (or just --app), classifies it as CPU-, allocation/GC-, lock-\n"
    "or wait-bound from the CPU, allocation, lock and wall profiles it has, and\n"
    "names the top function of the dominant dimension.  See docs/cli.md for the\n"
    "heuristic.\n"
    "\n"
    "  --app NAME         only this app (default: every service_name with data)\n"
    "  --from, --until    range (default now-1h .. now)\n"
    "  --labels SELECTOR  extra label matchers, e.g. '{env=\"prod\"}'\n"
    "  --max-nodes N      flame graph nodes to request (default 65536)\n"
    "  --json             JSON instead of a table\n" PYR_CLI_CONN_HELP
    "\n"
    "Example: pyrite bottleneck --server http://127.0.0.1:4040 --from now-1h\n";

/* The dimensions, in the order of pyr_cli_bound (NONE excluded). */
enum { DIM_CPU, DIM_ALLOC, DIM_LOCK_MUTEX, DIM_LOCK_BLOCK, DIM_WALL, DIM_ALLOC_OUT, NDIMS };

/* Which profile type serves which dimension: the first sample key
 * ("name:sample_type:sample_unit") the app has. */
static const char *const dim_keys[NDIMS][4] = {
    [DIM_CPU] = {"process_cpu:cpu:nanoseconds", NULL},
    [DIM_ALLOC] = {"memory:alloc_in_new_tlab_bytes:bytes", "memory:alloc_sample_bytes:bytes",
                   "memory:alloc_space:bytes", NULL},
    [DIM_LOCK_MUTEX] = {"mutex:delay:nanoseconds", NULL},
    [DIM_LOCK_BLOCK] = {"block:delay:nanoseconds", NULL},
    [DIM_WALL] = {"wall:wall:nanoseconds", NULL},
    [DIM_ALLOC_OUT] = {"memory:alloc_outside_tlab_bytes:bytes", NULL},
};

struct app_report {
  const char *app;
  const char *type[NDIMS]; /* borrowed from the types list; NULL: absent */
  pyr_cli_flame flame[NDIMS];
  pyr_cli_bn_input in;
  pyr_cli_bn_result res;
  pyr_cli_func *top; /* culprits of the dominant dimension */
  size_t ntop;
  double dim_amount; /* what the culprits' shares are of */
  pyr_cli_unit top_unit;
};

/* ---- options ---- */

static int parse_args(int argc, char **argv, pyr_cli_common *o) {
  static const struct option longopts[] = {PYR_CLI_COMMON_LONGOPTS, {0}};
  int c;
  pyr_cli_common_init(o);
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    int h = pyr_cli_common_opt(o, c, optarg);
    if (h < 0)
      return PYR_CLI_EXIT_USAGE;
    if (h > 0)
      continue;
    if (c == 'h' || c == PYR_OPT_HELP) {
      fputs(usage_text, stdout);
      return PYR_CLI_EXIT_OK;
    }
    pyr_cli_bad_option("bottleneck", argv);
    return PYR_CLI_EXIT_USAGE;
  }
  if (pyr_cli_args_done("bottleneck", argc, argv, NULL, 0) != 0)
    return PYR_CLI_EXIT_USAGE;
  return -1;
}

/* ---- measuring ---- */

static bool idle_or_lock(const char *name) {
  return pyr_cli_is_idle_frame(name) || pyr_cli_is_lock_frame(name);
}

static void pick_types(struct app_report *a, const pyr_cli_strings *types) {
  char key[256];
  for (int d = 0; d < NDIMS; d++)
    for (int k = 0; dim_keys[d][k] != NULL && a->type[d] == NULL; k++)
      for (size_t i = 0; i < types->n; i++)
        if (pyr_cli_type_prefix(types->v[i], 3, key, sizeof(key)) == 0 &&
            strcmp(key, dim_keys[d][k]) == 0) {
          a->type[d] = types->v[i];
          break;
        }
}

static int fetch_all(const pyr_cli_common *o, const pyr_cli_range *r, struct app_report *a) {
  char *sel = pyr_cli_selector(a->app, o->labels);
  int rc = -1;
  if (sel == NULL)
    return -1;
  for (int d = 0; d < NDIMS; d++)
    if (a->type[d] != NULL && pyr_cli_fetch_flame(o, a->type[d], sel, r, &a->flame[d]) != 0)
      goto out;
  rc = 0;
out:
  free(sel);
  return rc;
}

/* Sum of pyr_cli_flame_attribute over a flame (0 if the flame is absent). */
static int attr_sum(const pyr_cli_flame *f, pyr_cli_name_pred match,
                    pyr_cli_name_pred exclude, double *sum) {
  uint64_t s = 0;
  if (f->nnodes == 0)
    return 0;
  if (pyr_cli_flame_attribute(f, match, exclude, NULL, &s, NULL, NULL) != 0)
    return -1;
  *sum += (double)s;
  return 0;
}

static int measure(struct app_report *a, double seconds) {
  pyr_cli_bn_input *in = &a->in;
  in->seconds = seconds;
  in->has_cpu = a->type[DIM_CPU] != NULL;
  in->has_alloc = a->type[DIM_ALLOC] != NULL || a->type[DIM_ALLOC_OUT] != NULL;
  in->has_lock = a->type[DIM_LOCK_MUTEX] != NULL || a->type[DIM_LOCK_BLOCK] != NULL;
  in->has_wall = a->type[DIM_WALL] != NULL;
  in->cpu_ns = (double)a->flame[DIM_CPU].total;
  in->alloc_bytes = (double)a->flame[DIM_ALLOC].total + (double)a->flame[DIM_ALLOC_OUT].total;
  /* Lock delay of threads parked while idle (a pool waiting for work) is
   * no one's bottleneck; count every other sample's self. */
  if (attr_sum(&a->flame[DIM_CPU], pyr_cli_is_gc_frame, NULL, &in->gc_cpu_ns) != 0 ||
      attr_sum(&a->flame[DIM_LOCK_MUTEX], NULL, pyr_cli_is_idle_frame, &in->lock_ns) != 0 ||
      attr_sum(&a->flame[DIM_LOCK_BLOCK], NULL, pyr_cli_is_idle_frame, &in->lock_ns) != 0 ||
      attr_sum(&a->flame[DIM_WALL], pyr_cli_is_lock_frame, pyr_cli_is_idle_frame,
               &in->wall_lock_ns) != 0 ||
      attr_sum(&a->flame[DIM_WALL], pyr_cli_is_wait_frame, idle_or_lock, &in->wait_ns) != 0)
    return -1;
  pyr_cli_bn_classify(in, &a->res);
  return 0;
}

/* Appends src's culprits to *dst (merging equal names by summing). */
static int merge_funcs(pyr_cli_func **dst, size_t *n, const pyr_cli_func *src, size_t m) {
  pyr_cli_func *d = realloc(*dst, (*n + m + 1) * sizeof(*d));
  if (d == NULL)
    return -1;
  *dst = d;
  for (size_t i = 0; i < m; i++) {
    size_t k = 0;
    while (k < *n && strcmp(d[k].name, src[i].name) != 0)
      k++;
    if (k == *n)
      d[(*n)++] = (pyr_cli_func){src[i].name, 0, 0};
    d[k].self += src[i].self;
    d[k].total += src[i].total;
  }
  pyr_cli_funcs_sort(d, *n, PYR_CLI_BY_SELF);
  return 0;
}

/* Credits flame f (if present) by culprit into a->top. */
static int add_culprits(struct app_report *a, const pyr_cli_flame *f, pyr_cli_name_pred match,
                        pyr_cli_name_pred exclude, pyr_cli_name_pred culprit) {
  pyr_cli_func *funcs = NULL;
  size_t n = 0;
  uint64_t sum = 0;
  int rc;
  if (f->nnodes == 0)
    return 0;
  if (pyr_cli_flame_attribute(f, match, exclude, culprit, &sum, &funcs, &n) != 0)
    return -1;
  rc = merge_funcs(&a->top, &a->ntop, funcs, n);
  a->dim_amount += (double)sum;
  free(funcs);
  return rc;
}

/* Who to blame in the dominant dimension; see docs/cli.md. */
static int find_top(struct app_report *a) {
  pyr_cli_flame *fl = a->flame;
  switch (a->res.bound) {
  case PYR_CLI_BOUND_CPU:
    a->top_unit = PYR_CLI_UNIT_NANOS;
    return add_culprits(a, &fl[DIM_CPU], NULL, pyr_cli_is_gc_frame, NULL);
  case PYR_CLI_BOUND_ALLOC:
    if (a->in.has_alloc) {
      a->top_unit = PYR_CLI_UNIT_BYTES;
      return add_culprits(a, &fl[DIM_ALLOC], NULL, NULL, NULL) ||
             add_culprits(a, &fl[DIM_ALLOC_OUT], NULL, NULL, NULL);
    }
    a->top_unit = PYR_CLI_UNIT_NANOS;
    return add_culprits(a, &fl[DIM_CPU], pyr_cli_is_gc_frame, NULL, NULL);
  case PYR_CLI_BOUND_LOCK:
    a->top_unit = PYR_CLI_UNIT_NANOS;
    /* The lock profiles when there are any, else wall time in lock(). */
    if (a->in.has_lock)
      return add_culprits(a, &fl[DIM_LOCK_MUTEX], NULL, pyr_cli_is_idle_frame,
                          pyr_cli_is_app_frame) ||
             add_culprits(a, &fl[DIM_LOCK_BLOCK], NULL, pyr_cli_is_idle_frame,
                          pyr_cli_is_app_frame);
    return add_culprits(a, &fl[DIM_WALL], pyr_cli_is_lock_frame, pyr_cli_is_idle_frame,
                        pyr_cli_is_app_frame);
  case PYR_CLI_BOUND_WAIT:
    a->top_unit = PYR_CLI_UNIT_NANOS;
    return add_culprits(a, &fl[DIM_WALL], pyr_cli_is_wait_frame, idle_or_lock,
                        pyr_cli_is_app_frame);
  default:
    return 0;
  }
}

static int analyse_app(const pyr_cli_common *o, const pyr_cli_range *r, struct app_report *a,
                       pyr_cli_strings *types) {
  if (pyr_cli_profile_types(o, a->app, r, types) != 0)
    return -1;
  pick_types(a, types);
  if (fetch_all(o, r, a) != 0)
    return -1;
  if (measure(a, pyr_cli_range_seconds(r)) != 0 || find_top(a) != 0) {
    fprintf(stderr, "pyrite: out of memory\n");
    return -1;
  }
  return 0;
}

static void app_report_free(struct app_report *a) {
  for (int d = 0; d < NDIMS; d++)
    pyr_cli_flame_free(&a->flame[d]);
  free(a->top);
}

/* ---- output ---- */

static json_t *num_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

static json_t *app_json(const struct app_report *a) {
  static const char *const dim_names[NDIMS] = {"cpu", "alloc", "mutex", "block", "wall",
                                               "alloc_outside_tlab"};
  json_t *types = json_object(), *top = json_null();
  for (int d = 0; types != NULL && d < NDIMS; d++)
    if (a->type[d] != NULL)
      json_object_set_new(types, dim_names[d], json_string(a->type[d]));
  if (a->ntop > 0)
    top = json_pack("{s:s, s:s, s:I, s:s, s:f}", "dimension", pyr_cli_bound_name(a->res.bound),
                    "name", a->top[0].name, "value", (json_int_t)a->top[0].self, "unit",
                    pyr_cli_unit_name(a->top_unit), "share",
                    a->dim_amount > 0 ? (double)a->top[0].self / a->dim_amount : 0.0);
  return json_pack("{s:s, s:s, s:s, s:{s:o, s:o, s:o, s:o}, s:o, s:o, s:o*, s:o*}", "app",
                   a->app, "verdict", pyr_cli_bound_name(a->res.bound), "label",
                   pyr_cli_bound_label(a->res.bound), "scores", "cpu",
                   num_or_null(a->res.cpu), "alloc", num_or_null(a->res.alloc), "lock",
                   num_or_null(a->res.lock), "wait", num_or_null(a->res.wait), "gc_share",
                   num_or_null(a->res.gc_share), "alloc_bytes_per_second",
                   num_or_null(a->res.alloc_rate), "types", types, "top", top);
}

static void fmt_threads(char *buf, size_t len, double v) {
  if (isnan(v))
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%.2f", v);
}

static void app_row(pyr_cli_table *t, const struct app_report *a) {
  char c[6][PYR_CLI_FMT_MAX], top[1024];
  fmt_threads(c[0], sizeof(c[0]), a->res.cpu);
  if (isnan(a->res.gc_share))
    snprintf(c[1], sizeof(c[1]), "-");
  else
    snprintf(c[1], sizeof(c[1]), "%.1f%%", 100.0 * a->res.gc_share);
  if (isnan(a->res.alloc_rate))
    snprintf(c[2], sizeof(c[2]), "-");
  else
    pyr_cli_fmt_rate(c[2], sizeof(c[2]), a->res.alloc_rate, PYR_CLI_UNIT_BYTES);
  fmt_threads(c[3], sizeof(c[3]), a->res.lock);
  fmt_threads(c[4], sizeof(c[4]), a->res.wait);
  if (a->ntop > 0) {
    char pct[PYR_CLI_FMT_MAX];
    pyr_cli_fmt_percent(pct, sizeof(pct), (double)a->top[0].self, a->dim_amount);
    snprintf(top, sizeof(top), "%s (%s of %s)", a->top[0].name, pct,
             pyr_cli_bound_name(a->res.bound));
  } else {
    snprintf(top, sizeof(top), "-");
  }
  pyr_cli_table_row(t, (const char *const[]){a->app, pyr_cli_bound_label(a->res.bound), c[0],
                                             c[1], c[2], c[3], c[4], top});
}

static int print_text(const pyr_cli_range *r, const struct app_report *apps, size_t n) {
  char range[128];
  pyr_cli_table t;
  int rc;
  pyr_cli_range_format(r, range, sizeof(range));
  printf("%s\n\n", range);
  pyr_cli_table_init(&t, "llrrrrrl");
  pyr_cli_table_row(&t, (const char *const[]){"APP", "VERDICT", "CPU", "GC", "ALLOC", "LOCK",
                                              "WAIT", "TOP FUNCTION"});
  for (size_t i = 0; i < n; i++)
    app_row(&t, &apps[i]);
  rc = pyr_cli_table_print(&t, stdout);
  pyr_cli_table_free(&t);
  printf("\nCPU: cores busy outside GC; GC: share of CPU in GC frames; ALLOC: allocation "
         "rate;\nLOCK, WAIT: threads blocked on locks / waiting (I/O, sleep), idle pools "
         "excluded.\n");
  if (rc != 0 || fflush(stdout) != 0) {
    fprintf(stderr, "pyrite: cannot write the output\n");
    return PYR_CLI_EXIT_FAIL;
  }
  return PYR_CLI_EXIT_OK;
}

static int print_json(const pyr_cli_range *r, const struct app_report *apps, size_t n) {
  json_t *list = json_array();
  for (size_t i = 0; list != NULL && i < n; i++)
    json_array_append_new(list, app_json(&apps[i]));
  return pyr_cli_print_json(json_pack("{s:I, s:I, s:f, s:o*}", "from_ms",
                                      (json_int_t)r->from_ms, "until_ms",
                                      (json_int_t)r->until_ms, "seconds",
                                      pyr_cli_range_seconds(r), "apps", list));
}

int pyr_cli_cmd_bottleneck(int argc, char **argv) {
  pyr_cli_common o;
  pyr_cli_range r;
  pyr_cli_strings names = {0}, *types = NULL;
  struct app_report *apps = NULL;
  size_t napps = 0;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0)
    return rc;
  if ((rc = pyr_cli_setup(&o, &r)) != 0)
    return rc;
  char *check = pyr_cli_selector(NULL, o.labels); /* a bad --labels is usage */
  if (check == NULL)
    return PYR_CLI_EXIT_USAGE;
  free(check);
  rc = PYR_CLI_EXIT_FAIL;
  if (o.app != NULL) {
    if (pyr_cli_check_app(&o, o.app) != 0)
      goto out;
  } else if (pyr_cli_label_values(&o, "service_name", NULL, &r, &names) != 0) {
    goto out;
  }
  napps = o.app != NULL ? 1 : names.n;
  apps = calloc(napps ? napps : 1, sizeof(*apps));
  types = calloc(napps ? napps : 1, sizeof(*types));
  if (apps == NULL || types == NULL) {
    fprintf(stderr, "pyrite: out of memory\n");
    goto out;
  }
  for (size_t i = 0; i < napps; i++) {
    apps[i].app = o.app != NULL ? o.app : names.v[i];
    if (analyse_app(&o, &r, &apps[i], &types[i]) != 0)
      goto out;
  }
  if (napps == 0 && !o.json) {
    printf("no apps with data in this range\n");
    rc = PYR_CLI_EXIT_OK;
    goto out;
  }
  rc = o.json ? print_json(&r, apps, napps) : print_text(&r, apps, napps);
out:
  for (size_t i = 0; apps != NULL && i < napps; i++) {
    app_report_free(&apps[i]);
    pyr_cli_strings_free(&types[i]);
  }
  free(apps);
  free(types);
  pyr_cli_strings_free(&names);
  return rc;
}
