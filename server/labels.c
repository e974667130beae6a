/*
 * labels.c - series label sets and the /ingest `name` parser.
 *
 * What: see labels.h.  Label sets are tiny (<= a few dozen entries), so
 * lookups are linear scans and sorting is insertion sort: both beat any
 * hashing at this size and keep the code obvious.
 *
 * Threads: none; functions over caller-owned memory.
 *
 * Invariants: every pyr_label in l->v[0..n) owns two NUL-terminated heap
 * strings; names are unique; on failure a function leaves l as it was.
 */
#include "errbuf.h"
#include "labels.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void pyr_labels_init(pyr_labels *l) { memset(l, 0, sizeof(*l)); }

void pyr_labels_free(pyr_labels *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    free(l->v[i].value);
  }
  free(l->v);
  pyr_labels_init(l);
}

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p == NULL)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static ssize_t find(const pyr_labels *l, const char *name, size_t nlen) {
  for (size_t i = 0; i < l->n; i++)
    if (strncmp(l->v[i].name, name, nlen) == 0 && l->v[i].name[nlen] == '\0')
      return (ssize_t)i;
  return -1;
}

int pyr_labels_put(pyr_labels *l, const char *name, size_t nlen,
                   const char *value, size_t vlen) {
  char *v = dup_n(value, vlen);
  if (v == NULL)
    return -1;
  ssize_t i = find(l, name, nlen);
  if (i >= 0) {
    free(l->v[i].value);
    l->v[i].value = v;
    return 0;
  }
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 8;
    pyr_label *nv = realloc(l->v, ncap * sizeof(*nv));
    if (nv == NULL) {
      free(v);
      return -1;
    }
    l->v = nv;
    l->cap = ncap;
  }
  char *nm = dup_n(name, nlen);
  if (nm == NULL) {
    free(v);
    return -1;
  }
  l->v[l->n].name = nm;
  l->v[l->n].value = v;
  l->n++;
  return 0;
}

int pyr_labels_put_str(pyr_labels *l, const char *name, const char *value) {
  return pyr_labels_put(l, name, strlen(name), value, strlen(value));
}

int pyr_labels_put_missing(pyr_labels *l, const char *name, const char *value) {
  if (find(l, name, strlen(name)) >= 0)
    return 0;
  return pyr_labels_put_str(l, name, value);
}

const char *pyr_labels_get(const pyr_labels *l, const char *name) {
  ssize_t i = find(l, name, strlen(name));
  return i >= 0 ? l->v[i].value : NULL;
}

bool pyr_labels_del(pyr_labels *l, const char *name) {
  ssize_t i = find(l, name, strlen(name));
  if (i < 0)
    return false;
  free(l->v[i].name);
  free(l->v[i].value);
  memmove(&l->v[i], &l->v[i + 1], (l->n - (size_t)i - 1) * sizeof(l->v[0]));
  l->n--;
  return true;
}

int pyr_labels_copy(pyr_labels *dst, const pyr_labels *src) {
  pyr_labels_init(dst);
  if (src->n == 0)
    return 0;
  dst->v = calloc(src->n, sizeof(dst->v[0]));
  if (dst->v == NULL)
    return -1;
  dst->cap = src->n;
  for (size_t i = 0; i < src->n; i++) {
    dst->v[i].name = strdup(src->v[i].name);
    dst->v[i].value = strdup(src->v[i].value);
    dst->n = i + 1;
    if (dst->v[i].name == NULL || dst->v[i].value == NULL) {
      pyr_labels_free(dst);
      return -1;
    }
  }
  return 0;
}

void pyr_labels_sort(pyr_labels *l) {
  for (size_t i = 1; i < l->n; i++) {
    pyr_label x = l->v[i];
    size_t j = i;
    while (j > 0 && strcmp(l->v[j - 1].name, x.name) > 0) {
      l->v[j] = l->v[j - 1];
      j--;
    }
    l->v[j] = x;
  }
}

int pyr_labels_cmp(const pyr_labels *a, const pyr_labels *b) {
  size_t n = a->n < b->n ? a->n : b->n;
  for (size_t i = 0; i < n; i++) {
    int c = strcmp(a->v[i].name, b->v[i].name);
    if (c != 0)
      return c;
    c = strcmp(a->v[i].value, b->v[i].value);
    if (c != 0)
      return c;
  }
  return (a->n > b->n) - (a->n < b->n);
}

/* ---- character rules ---------------------------------------------------- */

static bool alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

bool pyr_label_name_ok(const char *s, size_t n) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!alnum(c) && c != '_' && c != '.')
      return false;
  }
  return true;
}

bool pyr_service_name_ok(const char *s, size_t n) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!alnum(c) && c != '_' && c != '.' && c != '-' && c != '/')
      return false;
  }
  return true;
}

bool pyr_metric_name_ok(const char *s, size_t n) {
  if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!alnum(c) && c != '_' && c != ':')
      return false;
  }
  return true;
}

bool pyr_utf8_ok(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

/* Private labels are computed by the server (__profile_type__, ...) and do
 * not count against the per-series limit; __name__ is user-visible. */
static bool is_private(const char *name) {
  size_t n = strlen(name);
  return n > 4 && name[0] == '_' && name[1] == '_' && name[n - 1] == '_' &&
         name[n - 2] == '_' && strcmp(name, PYR_LABEL_METRIC) != 0;
}

int pyr_labels_validate(const pyr_labels *l, const pyr_label_limits *lim,
                        char *err, size_t errlen) {
  size_t counted = 0;
  bool has_service = false;
  for (size_t i = 0; i < l->n; i++) {
    const char *nm = l->v[i].name, *val = l->v[i].value;
    size_t nl = strlen(nm), vl = strlen(val);
    if (!is_private(nm))
      counted++;
    if (nl == 0) {
      pyr_errf(err, errlen, "label name is empty");
      return -1;
    }
    if (nl > lim->max_name_len) {
      pyr_errf(err, errlen,
              "label name too long: %zu bytes, limit %u (label '%.64s...')",
              nl, lim->max_name_len, nm);
      return -1;
    }
    if (!pyr_label_name_ok(nm, nl) || (nm[0] >= '0' && nm[0] <= '9')) {
      pyr_errf(err, errlen, "invalid label name '%.128s'", nm);
      return -1;
    }
    if (vl > lim->max_value_len) {
      pyr_errf(err, errlen,
              "label value too long: %zu bytes, limit %u (label '%.128s')", vl,
              lim->max_value_len, nm);
      return -1;
    }
    if (!pyr_utf8_ok(val, vl)) {
      pyr_errf(err, errlen, "label '%.128s' has a value that is not UTF-8", nm);
      return -1;
    }
    if (strcmp(nm, PYR_LABEL_METRIC) == 0 && !pyr_metric_name_ok(val, vl)) {
      pyr_errf(err, errlen, "invalid metric name (__name__) '%.128s'", val);
      return -1;
    }
    if (strcmp(nm, PYR_LABEL_SERVICE) == 0)
      has_service = vl > 0;
  }
  if (counted > lim->max_labels) {
    pyr_errf(err, errlen, "too many labels: %zu, limit %u", counted,
            lim->max_labels);
    return -1;
  }
  if (!has_service) {
    pyr_errf(err, errlen, "service_name label is missing or empty");
    return -1;
  }
  return 0;
}

/* ---- /ingest name parameter --------------------------------------------- */

static bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

/* Trims blanks from both ends of s[*b, *e). */
static void trim(const char *s, size_t *b, size_t *e) {
  while (*b < *e && blank(s[*b]))
    (*b)++;
  while (*e > *b && blank(s[*e - 1]))
    (*e)--;
}

int pyr_ingest_name_parse(const char *s, pyr_labels *out, char *err,
                          size_t errlen) {
  enum { NAME, KEY, VALUE, DONE } st = NAME;
  size_t len = strlen(s);
  size_t kb = 0, ke = 0, vb = 0; /* key [kb,ke), value [vb, i) */

  /* Pyroscope appends a '{' to the input, so a name without braces ends
   * the app name at the end of the string. */
  for (size_t i = 0; i <= len && st != DONE; i++) {
    char c = i < len ? s[i] : '{';
    switch (st) {
    case NAME:
      if (c == '{') {
        size_t b = 0, e = i;
        trim(s, &b, &e);
        if (e == b) {
          pyr_errf(err, errlen, "invalid service name: service name is required");
          return -1;
        }
        if (!pyr_service_name_ok(s + b, e - b)) {
          pyr_errf(err, errlen,
                  "invalid service name: '%.*s': only [A-Za-z0-9_./-] allowed",
                  (int)(e - b > 200 ? 200 : e - b), s + b);
          return -1;
        }
        if (pyr_labels_put(out, PYR_LABEL_METRIC, strlen(PYR_LABEL_METRIC),
                           s + b, e - b) != 0)
          return -2;
        st = KEY;
        kb = ke = i + 1;
      }
      break;
    case KEY:
      if (c == '}') {
        st = DONE;
      } else if (c == '=') {
        st = VALUE;
        vb = i + 1;
      } else {
        ke = i + 1; /* the key is everything since the last pair */
      }
      break;
    case VALUE:
      if (c == ',' || c == '}') {
        size_t b = kb, e = ke, v0 = vb, v1 = i;
        trim(s, &b, &e);
        trim(s, &v0, &v1);
        bool is_metric = e - b == strlen(PYR_LABEL_METRIC) &&
                         memcmp(s + b, PYR_LABEL_METRIC, e - b) == 0;
        if (e == b) {
          pyr_errf(err, errlen, "invalid label name: label name is required");
          return -1;
        }
        if (is_metric ? !pyr_service_name_ok(s + v0, v1 - v0)
                      : !pyr_label_name_ok(s + b, e - b)) {
          pyr_errf(err, errlen, "invalid label name: '%.*s'",
                  (int)(e - b > 200 ? 200 : e - b), s + b);
          return -1;
        }
        if (pyr_labels_put(out, s + b, e - b, s + v0, v1 - v0) != 0)
          return -2;
        st = KEY;
        kb = ke = i + 1;
      }
      break;
    case DONE:
      break;
    }
  }
  return 0;
}
