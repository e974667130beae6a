/*
 * store_dump.c - prints what a pyrited data directory holds, for tests.
 *
 *   store_dump DATA_DIR [--tenant T]... [--lines]
 *
 * Opens the store read-write (it takes the store's lock, so pyrited must
 * be stopped), and prints one JSON object per line and per series:
 *   {"tenant": "...", "labels": {"name": "value", ...}, "profiles": N,
 *    "total": SUM, "stacks": {"root;...;leaf": value, ...},
 *    "points": [[from_ns, until_ns, total], ...]}
 * Stacks are the series' profiles merged (values summed per stack), frames
 * root first joined by ';', each frame "name" or, with --lines, "name:line".
 * Tenants default to "anonymous".  Exit 0, or 1 with a message on stderr.
 *
 * Used by tests/integration/test_server_ingest.py; single-threaded (the
 * store's own threads aside).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store.h"

#define MAX_TENANTS 16
#define MAX_FRAMES 4096

/* Sums one series' profiles into a JSON object keyed by stack text. */
struct acc {
  uint64_t series;
  json_t *stacks;
  json_t *points; /* [[from_ns, until_ns, total], ...] in time order */
  int64_t total;
  int lines;
  int failed;
};

static int keep_one_series(void *ctx, const pyr_store_series *s) {
  return s->id == *(const uint64_t *)ctx;
}

static int on_point(void *ctx, uint64_t series, int64_t from_ns, int64_t until_ns,
                    int64_t total) {
  struct acc *a = ctx;
  if (series != a->series)
    return 0;
  json_array_append_new(a->points, json_pack("[III]", (json_int_t)from_ns,
                                             (json_int_t)until_ns, (json_int_t)total));
  return 0;
}

static int on_profile(void *ctx, const pyr_store_profile *p) {
  struct acc *a = ctx;
  static pyr_store_frame frames[MAX_FRAMES];
  if (p->series != a->series)
    return 0;
  for (size_t i = 0; i < p->n; i++) {
    size_t depth = pyr_store_dict_stack(p->dict, p->stacks[i], frames, MAX_FRAMES);
    if (depth > MAX_FRAMES)
      depth = MAX_FRAMES;
    size_t cap = 64, len = 0;
    for (size_t j = 0; j < depth; j++)
      cap += frames[j].len + 24;
    char *key = malloc(cap);
    if (key == NULL) {
      a->failed = 1;
      return 1;
    }
    key[0] = '\0';
    for (size_t j = 0; j < depth; j++) {
      len += (size_t)snprintf(key + len, cap - len, "%s%.*s", j ? ";" : "",
                              (int)frames[j].len, frames[j].name);
      if (a->lines)
        len += (size_t)snprintf(key + len, cap - len, ":%lld",
                                (long long)frames[j].line);
    }
    json_t *old = json_object_get(a->stacks, key);
    json_int_t v = (old ? json_integer_value(old) : 0) + p->values[i];
    json_object_set_new(a->stacks, key, json_integer(v));
    a->total += p->values[i];
    free(key);
  }
  return 0;
}

/* Series ids first (cheap), then each series' profiles: the store forbids
 * calling back into it from a callback. */
struct idlist {
  uint64_t *ids;
  size_t n, cap;
  json_t **objs;
};

static int collect_series(void *vctx, const pyr_store_series *s) {
  struct idlist *l = vctx;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    uint64_t *ni = realloc(l->ids, nc * sizeof(*ni));
    json_t **no = realloc(l->objs, nc * sizeof(*no));
    if (ni != NULL)
      l->ids = ni;
    if (no != NULL)
      l->objs = no;
    if (ni == NULL || no == NULL)
      return 1;
    l->cap = nc;
  }
  json_t *o = json_object(), *labels = json_object();
  for (size_t i = 0; i < s->nlabels; i++)
    json_object_set_new(labels, s->labels[i].name,
                        json_string(s->labels[i].value));
  json_object_set_new(o, "labels", labels);
  json_object_set_new(o, "profiles", json_integer((json_int_t)s->nprofiles));
  l->ids[l->n] = s->id;
  l->objs[l->n] = o;
  l->n++;
  return 0;
}

static int dump_tenant(pyr_store *st, const char *tenant, int lines) {
  struct idlist l = {0};
  int rc = 0;
  if (pyr_store_series_foreach(st, tenant, NULL, collect_series, &l) != 0) {
    fprintf(stderr, "store_dump: listing series failed\n");
    rc = 1;
    goto out;
  }
  for (size_t i = 0; i < l.n; i++) {
    struct acc a = {.series = l.ids[i], .stacks = json_object(), .points = json_array(),
                    .lines = lines};
    pyr_store_query q = {.filter = keep_one_series, .filter_ctx = &l.ids[i]};
    if (pyr_store_profiles_foreach(st, tenant, &q, on_profile, &a) != 0 || a.failed ||
        pyr_store_points_foreach(st, tenant, &q, on_point, &a) != 0) {
      fprintf(stderr, "store_dump: reading profiles failed\n");
      json_decref(a.stacks);
      json_decref(a.points);
      rc = 1;
      goto out;
    }
    json_t *o = l.objs[i];
    json_object_set_new(o, "tenant", json_string(tenant));
    json_object_set_new(o, "total", json_integer(a.total));
    json_object_set_new(o, "stacks", a.stacks);
    json_object_set_new(o, "points", a.points);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
      rc = 1;
      goto out;
    }
    puts(text);
    free(text);
  }
out:
  for (size_t i = 0; i < l.n; i++)
    json_decref(l.objs[i]);
  free(l.objs);
  free(l.ids);
  return rc;
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  const char *tenants[MAX_TENANTS];
  size_t ntenants = 0;
  int lines = 0, rc = 1;
  char err[256] = "";

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc) {
      if (ntenants < MAX_TENANTS)
        tenants[ntenants++] = argv[++i];
    } else if (strcmp(argv[i], "--lines") == 0) {
      lines = 1;
    } else if (argv[i][0] != '-' && dir == NULL) {
      dir = argv[i];
    } else {
      fprintf(stderr, "usage: store_dump DATA_DIR [--tenant T]... [--lines]\n");
      return 2;
    }
  }
  if (dir == NULL) {
    fprintf(stderr, "usage: store_dump DATA_DIR [--tenant T]... [--lines]\n");
    return 2;
  }
  if (ntenants == 0)
    tenants[ntenants++] = "anonymous";
  pyr_store_opts o;
  pyr_store_opts_default(&o);
  o.retention_ns = 0; /* never delete what we came to look at */
  o.compact_window_ns = 0;
  pyr_store *st = pyr_store_open(dir, &o, err, sizeof(err));
  if (st == NULL) {
    fprintf(stderr, "store_dump: %s\n", err);
    return 1;
  }
  rc = 0;
  for (size_t i = 0; i < ntenants; i++)
    rc |= dump_tenant(st, tenants[i], lines);
  pyr_store_close(st);
  return rc;
}
