/*
 * convert.c - `pyrite convert --format collapsed-lines [--labels L.pb[.gz]]
 * [--sample-rate HZ] IN.jfr[.gz] OUTDIR`.
 *
 * What: reads the recording (and the optional Pyroscope LabelsSnapshot),
 * runs the server's converter (server/jfr_profiles.c) and writes one file
 * per produced profile, named like the conformance corpus expects:
 * OUTDIR/<metric>_<type>__<unit>[,<type>__<unit>...].txt.  Sample labels
 * do not appear in this format, so stacks that differ only by labels are
 * summed.  --sample-rate defaults to 100 (pyroscope-java's default
 * interval of 10 ms); 0 reproduces an upload without sampleRate.
 *
 * Threads: single-threaded.
 *
 * Exit codes: 0 success, 1 conversion or I/O failure, 2 usage error.
 */
#include "convert.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "jfr_profiles.h"

#define MAX_FILE_BYTES ((size_t)1 << 30)

static const char usage_text[] =
    "Usage: pyrite convert --format collapsed-lines [--labels LABELS.pb[.gz]]\n"
    "                      [--sample-rate HZ] IN.jfr[.gz] OUTDIR\n"
    "\n"
    "Parses a JFR recording exactly as pyrited's /ingest?format=jfr does and\n"
    "writes one file per profile to OUTDIR (created if missing), e.g.\n"
    "process_cpu_cpu__nanoseconds.txt: one line per stack, root first,\n"
    "frames 'name:line' joined by ';', then ' [v1 v2]'; lines sorted.\n"
    "\n"
    "  --format collapsed-lines  output format (the only one so far)\n"
    "  --labels FILE             Pyroscope LabelsSnapshot uploaded with it\n"
    "  --sample-rate HZ          CPU/wall sample rate (default 100; 0 = absent,\n"
    "                            which makes CPU and wall values 0, as in Pyroscope)\n";

/* Reads a whole file (at most MAX_FILE_BYTES). */
static uint8_t *read_file(const char *path, size_t *len, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  if (f == NULL) {
    snprintf(err, errlen, "%.400s: %.80s", path, strerror(errno));
    return NULL;
  }
  for (;;) {
    if (n == cap) {
      if (cap >= MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, MAX_FILE_BYTES);
        goto fail;
      }
      size_t ncap = cap ? cap * 2 : 1 << 16;
      uint8_t *nb = realloc(buf, ncap);
      if (nb == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
      }
      buf = nb;
      cap = ncap;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) {
      if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto fail;
      }
      break;
    }
  }
  fclose(f);
  *len = n;
  return buf;
fail:
  fclose(f);
  free(buf);
  return NULL;
}

/* mkdir -p */
static int make_dirs(const char *path, char *err, size_t errlen) {
  char tmp[4096];
  if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
    snprintf(err, errlen, "%s: path too long", path);
    return -1;
  }
  for (char *s = tmp + 1;; s++) {
    bool last = *s == '\0';
    if (*s == '/' || last) {
      *s = '\0';
      if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%.400s: %.80s", tmp, strerror(errno));
        return -1;
      }
      if (last)
        break;
      *s = '/';
    }
  }
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "%s: not a directory", path);
    return -1;
  }
  return 0;
}

int pyr_cli_profile_file_name(const pyr_prof *p, char *buf, size_t len) {
  const pyr_prof_type *t = pyr_prof_get_type(p);
  size_t o = 0;
  int w = snprintf(buf, len, "%s", t->name);
  if (w < 0 || (size_t)w >= len)
    return -1;
  o = (size_t)w;
  for (uint32_t i = 0; i < t->nvalues; i++) {
    w = snprintf(buf + o, len - o, "%s%s__%s", i ? "," : "_", t->sample_type[i],
                 t->sample_unit[i]);
    if (w < 0 || (size_t)w >= len - o)
      return -1;
    o += (size_t)w;
  }
  return 0;
}

/* A growable byte buffer. */
struct sbuf {
  char *s;
  size_t n, cap;
  bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n) {
  if (b->oom || n == 0)
    return;
  if (n > b->cap - b->n) {
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap - b->n < n)
      ncap *= 2;
    char *m = realloc(b->s, ncap);
    if (m == NULL) {
      b->oom = true;
      return;
    }
    b->s = m;
    b->cap = ncap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
}

struct line {
  size_t off, len; /* stack text in the buffer */
  const int64_t *values;
  int64_t sum[PYR_PROF_MAX_VALUES];
};

/* qsort_r comparator; text is the buffer holding every stack's text. */
static int cmp_stack(const void *a, const void *b, void *text) {
  const struct line *x = a, *y = b;
  const char *t = text;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = n ? memcmp(t + x->off, t + y->off, n) : 0;
  if (c != 0)
    return c;
  return x->len < y->len ? -1 : (x->len > y->len);
}

struct outline {
  char *s;
  size_t len;
};

static int cmp_outline(const void *a, const void *b) {
  const struct outline *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = n ? memcmp(x->s, y->s, n) : 0;
  if (c != 0)
    return c;
  return x->len < y->len ? -1 : (x->len > y->len);
}

char *pyr_cli_collapsed(const pyr_prof *p, size_t *len) {
  const uint32_t nv = pyr_prof_get_type(p)->nvalues;
  size_t ns = pyr_prof_nsamples(p);
  struct sbuf text = {0}, res = {0};
  struct line *lines = calloc(ns ? ns : 1, sizeof(*lines));
  struct outline *outs = calloc(ns ? ns : 1, sizeof(*outs));
  char *ret = NULL;
  if (lines == NULL || outs == NULL)
    goto out;
  /* 1. every sample's stack text */
  for (size_t i = 0; i < ns; i++) {
    const uint32_t *locs;
    uint32_t n, ls;
    pyr_prof_sample(p, i, &locs, &n, &ls, &lines[i].values);
    lines[i].off = text.n;
    for (uint32_t j = 0; j < n; j++) {
      uint32_t name;
      int64_t line;
      size_t nl;
      char num[32];
      pyr_prof_loc(p, locs[j], &name, &line);
      const char *s = pyr_prof_str(p, name, &nl);
      if (j > 0)
        sb_put(&text, ";", 1);
      sb_put(&text, s, nl);
      int w = snprintf(num, sizeof(num), ":%" PRId64, line);
      sb_put(&text, num, (size_t)w);
    }
    lines[i].len = text.n - lines[i].off;
    for (uint32_t k = 0; k < nv; k++)
      lines[i].sum[k] = lines[i].values[k];
  }
  if (text.oom)
    goto out;
  /* 2. sum equal stacks (samples differing only by labels) */
  qsort_r(lines, ns, sizeof(*lines), cmp_stack, text.s);
  size_t m = 0;
  for (size_t i = 0; i < ns; i++) {
    if (m > 0 && cmp_stack(&lines[m - 1], &lines[i], text.s) == 0) {
      for (uint32_t k = 0; k < nv; k++)
        lines[m - 1].sum[k] = (int64_t)((uint64_t)lines[m - 1].sum[k] + (uint64_t)lines[i].sum[k]);
      continue;
    }
    lines[m++] = lines[i];
  }
  /* 3. format non-zero lines, sort them bytewise, join with '\n' */
  size_t no = 0;
  struct sbuf all = {0};
  size_t *starts = calloc(m ? m : 1, sizeof(*starts));
  if (starts == NULL)
    goto out;
  for (size_t i = 0; i < m; i++) {
    bool zero = true;
    for (uint32_t k = 0; k < nv; k++)
      zero = zero && lines[i].sum[k] == 0;
    if (zero)
      continue;
    starts[no] = all.n;
    sb_put(&all, text.s ? text.s + lines[i].off : "", lines[i].len);
    sb_put(&all, " [", 2);
    for (uint32_t k = 0; k < nv; k++) {
      char num[32];
      int w = snprintf(num, sizeof(num), "%s%" PRId64, k ? " " : "", lines[i].sum[k]);
      sb_put(&all, num, (size_t)w);
    }
    sb_put(&all, "]", 1);
    outs[no].len = all.n - starts[no];
    no++;
  }
  if (all.oom) {
    free(starts);
    free(all.s);
    goto out;
  }
  for (size_t i = 0; i < no; i++)
    outs[i].s = all.s + starts[i];
  free(starts);
  qsort(outs, no, sizeof(*outs), cmp_outline);
  for (size_t i = 0; i < no; i++) {
    if (i > 0)
      sb_put(&res, "\n", 1);
    sb_put(&res, outs[i].s, outs[i].len);
  }
  free(all.s);
  if (res.oom)
    goto out;
  if (res.s == NULL) {
    res.s = malloc(1);
    if (res.s == NULL)
      goto out;
  }
  ret = res.s;
  res.s = NULL;
  *len = res.n;
out:
  free(res.s);
  free(text.s);
  free(lines);
  free(outs);
  return ret;
}

static int write_file(const char *path, const char *data, size_t len, char *err,
                      size_t errlen) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) {
    snprintf(err, errlen, "%.400s: %.80s", path, strerror(errno));
    return -1;
  }
  bool ok = fwrite(data, 1, len, f) == len;
  ok = (fclose(f) == 0) && ok;
  if (!ok) {
    snprintf(err, errlen, "%.400s: write error", path);
    return -1;
  }
  return 0;
}

struct convert_args {
  const char *format, *labels, *in, *outdir;
  int64_t sample_rate;
};

/* --key value or --key=value; returns the value or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *key) {
  size_t n = strlen(key);
  if (strncmp(argv[*i], key, n) != 0)
    return NULL;
  if (argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (argv[*i][n] != '\0')
    return NULL;
  if (*i + 1 >= argc)
    return "";
  return argv[++*i];
}

static int parse_args(int argc, char **argv, struct convert_args *a) {
  const char *v;
  int npos = 0;
  memset(a, 0, sizeof(*a));
  a->format = "collapsed-lines";
  a->sample_rate = 100;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(usage_text, stdout);
      return 1;
    }
    if ((v = opt_value(argc, argv, &i, "--format")) != NULL) {
      a->format = v;
    } else if ((v = opt_value(argc, argv, &i, "--labels")) != NULL) {
      a->labels = v;
    } else if ((v = opt_value(argc, argv, &i, "--sample-rate")) != NULL) {
      char *end;
      errno = 0;
      long long r = strtoll(v, &end, 10);
      if (*v == '\0' || *end != '\0' || errno != 0 || r < 0 || r > 1000000000) {
        fprintf(stderr, "pyrite convert: bad --sample-rate '%s' (want Hz, 0..1e9)\n", v);
        return 2;
      }
      a->sample_rate = r;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "pyrite convert: unknown option '%s'\n%s", argv[i], usage_text);
      return 2;
    } else if (npos == 0) {
      a->in = argv[i];
      npos++;
    } else if (npos == 1) {
      a->outdir = argv[i];
      npos++;
    } else {
      fprintf(stderr, "pyrite convert: unexpected argument '%s'\n%s", argv[i], usage_text);
      return 2;
    }
  }
  if (strcmp(a->format, "collapsed-lines") != 0) {
    fprintf(stderr, "pyrite convert: unsupported --format '%s' (supported: collapsed-lines)\n",
            a->format);
    return 2;
  }
  if (a->labels && a->labels[0] == '\0') {
    fprintf(stderr, "pyrite convert: --labels needs a file\n");
    return 2;
  }
  if (npos != 2) {
    fprintf(stderr, "pyrite convert: need IN.jfr and OUTDIR\n%s", usage_text);
    return 2;
  }
  return 0;
}

int pyr_cli_convert(int argc, char **argv) {
  struct convert_args a;
  char err[512];
  uint8_t *jfr = NULL, *labels = NULL;
  size_t jfr_len = 0, labels_len = 0;
  pyr_prof_list list = {0};
  int rc = parse_args(argc, argv, &a);
  if (rc != 0)
    return rc == 1 ? 0 : rc;
  rc = 1;
  jfr = read_file(a.in, &jfr_len, err, sizeof(err));
  if (jfr == NULL)
    goto fail;
  if (a.labels) {
    labels = read_file(a.labels, &labels_len, err, sizeof(err));
    if (labels == NULL)
      goto fail;
  }
  pyr_jfr_convert_opts opts = {0};
  opts.sample_rate = a.sample_rate;
  opts.jfr_limits = NULL;
  char event[256];
  if (pyr_jfr_to_profiles(jfr, jfr_len, labels, labels_len, &opts, &list, event,
                          sizeof(event), err, sizeof(err)) != PYR_JFR_OK) {
    char msg[600];
    snprintf(msg, sizeof(msg), "%s: %s", a.in, err);
    snprintf(err, sizeof(err), "%.500s", msg);
    goto fail;
  }
  if (make_dirs(a.outdir, err, sizeof(err)) != 0)
    goto fail;
  for (size_t i = 0; i < list.n; i++) {
    char name[512], path[4096 + 600];
    size_t len;
    if (pyr_cli_profile_file_name(list.items[i], name, sizeof(name)) != 0) {
      snprintf(err, sizeof(err), "profile name too long");
      goto fail;
    }
    snprintf(path, sizeof(path), "%s/%s.txt", a.outdir, name);
    char *text = pyr_cli_collapsed(list.items[i], &len);
    if (text == NULL) {
      snprintf(err, sizeof(err), "out of memory");
      goto fail;
    }
    int w = write_file(path, text, len, err, sizeof(err));
    free(text);
    if (w != 0)
      goto fail;
    printf("%s\n", path);
  }
  rc = 0;
  goto out;
fail:
  fprintf(stderr, "pyrite convert: %s\n", err);
out:
  pyr_prof_list_free(&list);
  free(jfr);
  free(labels);
  return rc;
}
