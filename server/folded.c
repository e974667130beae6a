/*
 * folded.c - folded/collapsed and "lines" text profiles (see folded.h).
 *
 * What: a single pass over the text; each line's frames are interned into
 * the profile and the stack is added with its count.  The frame-id buffer
 * grows to the deepest stack seen; the profile's own limits (stack depth,
 * strings, samples) bound everything else.
 *
 * Threads: pure functions.
 *
 * Invariants: reads only text[0..len) (the text need not be NUL-terminated);
 * on error the profile may hold the stacks added so far (the caller drops
 * the whole profile).
 */
#include "errbuf.h"
#include "folded.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Legacy suffix -> (metric, sample type, unit); cpu/wall get a period. */
struct legacy {
  const char *suffix, *metric, *type, *unit;
  bool timed; /* scaled by 1e9/sampleRate, period type cpu/nanoseconds */
};

static const struct legacy legacy_types[] = {
    {"cpu", "process_cpu", "samples", "count", true},
    {"itimer", "process_cpu", "samples", "count", true},
    {"wall", "wall", "samples", "count", true},
    {"inuse_objects", "memory", "inuse_objects", "count", false},
    {"inuse_space", "memory", "inuse_space", "bytes", false},
    {"alloc_objects", "memory", "alloc_objects", "count", false},
    {"alloc_space", "memory", "alloc_space", "bytes", false},
    {"goroutines", "goroutine", "goroutines", "count", false},
    {"mutex_count", "mutex", "contentions", "count", false},
    {"mutex_duration", "mutex", "delay", "nanoseconds", false},
    {"block_count", "block", "contentions", "count", false},
    {"block_duration", "block", "delay", "nanoseconds", false},
    {"alloc_in_new_tlab_objects", "memory", "alloc_in_new_tlab_objects",
     "count", false},
    {"alloc_in_new_tlab_bytes", "memory", "alloc_in_new_tlab_bytes", "bytes",
     false},
    {"alloc_outside_tlab_objects", "memory", "alloc_outside_tlab_objects",
     "count", false},
    {"alloc_outside_tlab_bytes", "memory", "alloc_outside_tlab_bytes", "bytes",
     false},
    {"lock_count", "block", "contentions", "count", false},
    {"lock_duration", "block", "delay", "nanoseconds", false},
    {"live", "memory", "live", "count", false},
    {"exceptions", "exceptions", "samples", "count", false},
    {"seconds", "wall", "samples", "count", true},
    {"nanoseconds", "wall", "samples", "count", true},
    {"microseconds", "wall", "samples", "count", true},
    {"milliseconds", "wall", "samples", "count", true},
    {"bytes", "memory", "samples", "bytes", false},
};

static void copy_name(char dst[PYR_PROF_NAME_MAX], const char *s) {
  snprintf(dst, PYR_PROF_NAME_MAX, "%s", s);
}

int pyr_legacy_type(const char *app, size_t *app_len, uint32_t sample_rate,
                    pyr_prof_type *t, char *err, size_t errlen) {
  size_t n = strlen(app);
  const char *dot = strrchr(app, '.');
  const char *suffix = "cpu";
  *app_len = n;
  if (dot != NULL) {
    suffix = dot + 1;
    *app_len = (size_t)(dot - app);
  }
  const struct legacy *L = NULL;
  for (size_t i = 0; i < sizeof(legacy_types) / sizeof(legacy_types[0]); i++)
    if (strcmp(legacy_types[i].suffix, suffix) == 0) {
      L = &legacy_types[i];
      break;
    }
  if (L == NULL) {
    pyr_errf(err, errlen,
            "unknown profile type: '%.64s' (legacy formats take the type "
            "from the app name's last dotted part, e.g. app.cpu)", suffix);
    return -1;
  }
  memset(t, 0, sizeof(*t));
  copy_name(t->name, L->metric);
  t->nvalues = 1;
  if (L->timed && sample_rate != 0) {
    /* Samples become nanoseconds of CPU (or wall) time. */
    copy_name(t->sample_type[0], strcmp(L->metric, "wall") == 0 ? "wall" : "cpu");
    copy_name(t->sample_unit[0], "nanoseconds");
    copy_name(t->period_type, "cpu");
    copy_name(t->period_unit, "nanoseconds");
    t->period = 1000000000 / (int64_t)sample_rate;
  } else {
    copy_name(t->sample_type[0], L->type);
    copy_name(t->sample_unit[0], L->unit);
  }
  return 0;
}

int pyr_folded_parse(const char *text, size_t len, bool lines, int64_t scale,
                     pyr_prof *prof, size_t *nstacks, char *err,
                     size_t errlen) {
  uint32_t *locs = NULL;
  size_t locs_cap = 0, added = 0, lineno = 0;
  int rc = PYR_PROF_EINVAL;
  size_t pos = 0;

  while (pos < len) {
    const char *ls = text + pos;
    const char *nl = memchr(ls, '\n', len - pos);
    size_t ll = nl ? (size_t)(nl - ls) : len - pos;
    pos += ll + (nl ? 1 : 0);
    lineno++;
    if (ll > 0 && ls[ll - 1] == '\r')
      ll--;
    if (ll == 0)
      continue;

    size_t stack_len = ll;
    int64_t count = 1;
    if (!lines) {
      const char *sp = NULL;
      for (size_t i = ll; i > 0; i--)
        if (ls[i - 1] == ' ') {
          sp = ls + i - 1;
          break;
        }
      if (sp == NULL)
        continue; /* Pyroscope skips lines without a count */
      stack_len = (size_t)(sp - ls);
      const char *c = sp + 1, *ce = ls + ll;
      if (c == ce) {
        pyr_errf(err, errlen, "line %zu: missing sample count", lineno);
        goto out;
      }
      if (*c == '+')
        c++;
      count = 0;
      for (; c < ce; c++) {
        if (*c < '0' || *c > '9' || __builtin_mul_overflow(count, 10, &count) ||
            __builtin_add_overflow(count, *c - '0', &count)) {
          pyr_errf(err, errlen,
                  "line %zu: sample count '%.*s' is not a non-negative "
                  "integer", lineno, (int)(ce - sp - 1 > 32 ? 32 : ce - sp - 1),
                  sp + 1);
          goto out;
        }
      }
    }
    if (count == 0 || stack_len == 0)
      continue;
    int64_t value;
    if (__builtin_mul_overflow(count, scale, &value)) {
      pyr_errf(err, errlen, "line %zu: sample count overflows", lineno);
      goto out;
    }

    /* Intern frames, root first. */
    size_t nf = 0;
    size_t fb = 0;
    for (size_t i = 0; i <= stack_len; i++) {
      if (i < stack_len && ls[i] != ';')
        continue;
      if (nf == locs_cap) {
        size_t ncap = locs_cap ? locs_cap * 2 : 64;
        uint32_t *nlocs = realloc(locs, ncap * sizeof(*nlocs));
        if (nlocs == NULL) {
          rc = PYR_PROF_ENOMEM;
          goto out;
        }
        locs = nlocs;
        locs_cap = ncap;
      }
      int64_t name = pyr_prof_intern(prof, ls + fb, i - fb);
      if (name < 0) {
        rc = (int)name;
        goto out;
      }
      int64_t loc = pyr_prof_location(prof, (uint32_t)name, 0);
      if (loc < 0) {
        rc = (int)loc;
        goto out;
      }
      locs[nf++] = (uint32_t)loc;
      fb = i + 1;
    }
    int r = pyr_prof_add(prof, locs, (uint32_t)nf, 0, &value);
    if (r != PYR_PROF_OK) {
      rc = r;
      goto out;
    }
    added++;
  }
  rc = 0;
out:
  if (nstacks != NULL)
    *nstacks = added;
  free(locs);
  return rc;
}
