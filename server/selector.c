/*
 * selector.c - label selector, profile type id and render-query parsing
 * (grammar and semantics in selector.h).
 *
 * What: a hand-written recursive-descent-free scanner (the grammar is
 * flat: a list of `name op "value"`), Go-compatible unquoting, and PCRE2
 * for =~ / !~ with the pattern wrapped as a fully anchored, dot-all match
 * (what Prometheus does with RE2: ^(?s:re)$).
 *
 * Threads: parsing is pure; a parsed selector carries PCRE2 match data and
 * must be used by one thread at a time.
 *
 * Invariants: input is bounded (PYR_SELECTOR_MAX_LEN, at most
 * PYR_SELECTOR_MAX_MATCHERS matchers), never read past len, every error
 * path frees what it allocated (goto out), and error messages quote at
 * most a short, escaped excerpt of the input.
 */
#include "utf8.h"
#include "errbuf.h"
#include "selector.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PCRE2 limits: plenty for label values (<= 2 KiB), small enough that a
 * catastrophic pattern fails fast instead of burning a core. */
#define RE_MATCH_LIMIT 200000u
#define RE_DEPTH_LIMIT 5000u

/* Copies at most 40 bytes of s into out as printable ASCII, for messages. */
static const char *excerpt(const char *s, size_t len, char out[48]) {
  size_t n = 0;
  for (size_t i = 0; i < len && n < 40; i++)
    out[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  if (len > 40) {
    out[n++] = '.';
    out[n++] = '.';
    out[n++] = '.';
  }
  out[n] = '\0';
  return out;
}

void pyr_selector_init(pyr_selector *s) { memset(s, 0, sizeof(*s)); }

void pyr_selector_free(pyr_selector *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->m[i].name);
    free(s->m[i].value);
    if (s->m[i].md)
      pcre2_match_data_free(s->m[i].md);
    if (s->m[i].re)
      pcre2_code_free(s->m[i].re);
  }
  free(s->m);
  if (s->mctx)
    pcre2_match_context_free(s->mctx);
  pyr_selector_init(s);
}

int pyr_selector_add(pyr_selector *s, const char *name, const char *value,
                     pyr_match_op op, char *err, size_t errlen) {
  pyr_matcher m = {0};
  int rc = -2;
  if (s->n >= PYR_SELECTOR_MAX_MATCHERS) {
    pyr_errf(err, errlen, "label selector: more than %d matchers",
           PYR_SELECTOR_MAX_MATCHERS);
    return -1;
  }
  m.op = op;
  m.name = strdup(name);
  m.value = strdup(value);
  if (!m.name || !m.value)
    goto out;
  if (op == PYR_MATCH_RE || op == PYR_MATCH_NRE) {
    int ec = 0;
    PCRE2_SIZE eo = 0;
    m.re = pcre2_compile((PCRE2_SPTR)value, PCRE2_ZERO_TERMINATED,
                         PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL |
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                         &ec, &eo, NULL);
    if (m.re == NULL) {
      PCRE2_UCHAR msg[160];
      char ex[48];
      pcre2_get_error_message(ec, msg, sizeof(msg));
      pyr_errf(err, errlen, "label selector: bad regex for %s: %s at offset %zu in \"%s\"",
             name, (const char *)msg, (size_t)eo, excerpt(value, strlen(value), ex));
      rc = -1;
      goto out;
    }
    m.md = pcre2_match_data_create_from_pattern(m.re, NULL);
    if (m.md == NULL)
      goto out;
    if (s->mctx == NULL) {
      s->mctx = pcre2_match_context_create(NULL);
      if (s->mctx == NULL)
        goto out;
      pcre2_set_match_limit(s->mctx, RE_MATCH_LIMIT);
      pcre2_set_depth_limit(s->mctx, RE_DEPTH_LIMIT);
    }
  }
  pyr_matcher *nm = realloc(s->m, (s->n + 1) * sizeof(*nm));
  if (nm == NULL)
    goto out;
  s->m = nm;
  s->m[s->n++] = m;
  return 0;
out:
  free(m.name);
  free(m.value);
  if (m.md)
    pcre2_match_data_free(m.md);
  if (m.re)
    pcre2_code_free(m.re);
  if (rc == -2)
    pyr_errf(err, errlen, "out of memory");
  return rc;
}

/* ---- scanning -------------------------------------------------------------- */

typedef struct scan {
  const char *s;
  size_t len, i;
  char *err;
  size_t errlen;
} scan;

static void skip_ws(scan *sc) {
  while (sc->i < sc->len && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' ||
                             sc->s[sc->i] == '\n' || sc->s[sc->i] == '\r'))
    sc->i++;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/*
 * Reads a quoted string at sc->i ('"', '\'' or '`') into a new malloc'd,
 * NUL-terminated *out, unescaping like Go's strconv.Unquote.  Returns 0,
 * -1 (syntax, message set) or -2.
 */
static int read_quoted(scan *sc, char **out, const char *what) {
  char q = sc->s[sc->i];
  size_t start = sc->i;
  /* The unescaped text is never longer than the quoted one. */
  char *o = malloc(sc->len - sc->i + 1);
  size_t n = 0;
  if (o == NULL)
    return -2;
  sc->i++;
  for (;;) {
    if (sc->i >= sc->len) {
      pyr_errf(sc->err, sc->errlen,
             "label selector: unterminated %s starting at offset %zu", what, start);
      goto bad;
    }
    char c = sc->s[sc->i++];
    if (c == q)
      break;
    if (q == '`' || c != '\\') {
      if (q != '`' && c == '\n') {
        pyr_errf(sc->err, sc->errlen, "label selector: newline in %s at offset %zu", what,
               sc->i - 1);
        goto bad;
      }
      o[n++] = c;
      continue;
    }
    if (sc->i >= sc->len) {
      pyr_errf(sc->err, sc->errlen, "label selector: unterminated %s starting at offset %zu",
             what, start);
      goto bad;
    }
    size_t esc_at = sc->i - 1;
    char e = sc->s[sc->i++];
    uint32_t cp = 0;
    int digits = 0;
    switch (e) {
    case 'a': o[n++] = '\a'; continue;
    case 'b': o[n++] = '\b'; continue;
    case 'f': o[n++] = '\f'; continue;
    case 'n': o[n++] = '\n'; continue;
    case 'r': o[n++] = '\r'; continue;
    case 't': o[n++] = '\t'; continue;
    case 'v': o[n++] = '\v'; continue;
    case '\\': o[n++] = '\\'; continue;
    case '"':
    case '\'':
      if (e != q)
        goto bad_escape;
      o[n++] = e;
      continue;
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    default:
      if (e >= '0' && e <= '7') { /* \ooo: exactly three octal digits */
        if (sc->i + 2 > sc->len)
          goto bad_escape;
        uint32_t v = (uint32_t)(e - '0');
        for (int k = 0; k < 2; k++) {
          char d = sc->s[sc->i + (size_t)k];
          if (d < '0' || d > '7')
            goto bad_escape;
          v = v * 8 + (uint32_t)(d - '0');
        }
        if (v > 255)
          goto bad_escape;
        sc->i += 2;
        o[n++] = (char)v;
        continue;
      }
      goto bad_escape;
    }
    if (sc->i + (size_t)digits > sc->len)
      goto bad_escape;
    for (int k = 0; k < digits; k++) {
      int h = hexval(sc->s[sc->i + (size_t)k]);
      if (h < 0)
        goto bad_escape;
      cp = cp * 16 + (uint32_t)h;
    }
    sc->i += (size_t)digits;
    if (e == 'x') {
      o[n++] = (char)cp; /* a raw byte, as in Go */
    } else {
      if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
        goto bad_escape;
      n += pyr_utf8_put(o + n, cp);
    }
    continue;
  bad_escape:
    pyr_errf(sc->err, sc->errlen, "label selector: invalid escape sequence in %s at offset %zu",
           what, esc_at);
    goto bad;
  }
  o[n] = '\0';
  *out = o;
  return 0;
bad:
  free(o);
  return -1;
}

static int is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static int is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '.';
}

int pyr_selector_parse(const char *s, size_t len, pyr_selector *out, char *err,
                       size_t errlen) {
  scan sc = {s, len, 0, err, errlen};
  char *name = NULL, *value = NULL;
  char ex[48];
  int rc = -1;

  if (len > PYR_SELECTOR_MAX_LEN) {
    pyr_errf(err, errlen, "label selector too long: %zu bytes (limit %d)", len,
           PYR_SELECTOR_MAX_LEN);
    return -1;
  }
  skip_ws(&sc);
  if (sc.i == len)
    return 0; /* "" = every series */
  if (s[sc.i] != '{') {
    pyr_errf(err, errlen, "label selector must look like {name=\"value\", ...}: got \"%s\"",
           excerpt(s, len, ex));
    return -1;
  }
  sc.i++;
  for (;;) {
    skip_ws(&sc);
    if (sc.i >= len) {
      pyr_errf(err, errlen, "label selector: missing '}' at offset %zu", sc.i);
      goto out;
    }
    if (s[sc.i] == '}') {
      sc.i++;
      break;
    }
    /* name */
    size_t name_at = sc.i;
    if (s[sc.i] == '"' || s[sc.i] == '\'' || s[sc.i] == '`') {
      int r = read_quoted(&sc, &name, "label name");
      if (r != 0) {
        rc = r;
        goto out;
      }
    } else if (is_name_start(s[sc.i])) {
      size_t b = sc.i;
      while (sc.i < len && is_name_char(s[sc.i]))
        sc.i++;
      /* Not strndup: s need not be NUL-terminated, and strndup may look
       * past n for the terminator (ASan's strict_string_checks flags it). */
      name = malloc(sc.i - b + 1);
      if (name != NULL) {
        memcpy(name, s + b, sc.i - b);
        name[sc.i - b] = '\0';
      }
      if (name == NULL) {
        rc = -2;
        goto out;
      }
    } else {
      pyr_errf(err, errlen, "label selector: expected a label name at offset %zu, got \"%s\"",
             sc.i, excerpt(s + sc.i, len - sc.i, ex));
      goto out;
    }
    if (name[0] == '\0') {
      pyr_errf(err, errlen, "label selector: empty label name at offset %zu", name_at);
      goto out;
    }
    /* operator */
    skip_ws(&sc);
    pyr_match_op op;
    if (sc.i + 1 < len && s[sc.i] == '=' && s[sc.i + 1] == '~') {
      op = PYR_MATCH_RE;
      sc.i += 2;
    } else if (sc.i + 1 < len && s[sc.i] == '!' && s[sc.i + 1] == '=') {
      op = PYR_MATCH_NEQ;
      sc.i += 2;
    } else if (sc.i + 1 < len && s[sc.i] == '!' && s[sc.i + 1] == '~') {
      op = PYR_MATCH_NRE;
      sc.i += 2;
    } else if (sc.i < len && s[sc.i] == '=') {
      op = PYR_MATCH_EQ;
      sc.i += 1;
    } else {
      pyr_errf(err, errlen,
             "label selector: expected '=', '!=', '=~' or '!~' after label '%.64s' at "
             "offset %zu",
             name, sc.i);
      goto out;
    }
    /* value */
    skip_ws(&sc);
    if (sc.i >= len || (s[sc.i] != '"' && s[sc.i] != '\'' && s[sc.i] != '`')) {
      pyr_errf(err, errlen,
             "label selector: the value of label '%.64s' must be a quoted string (offset %zu)",
             name, sc.i);
      goto out;
    }
    {
      int r = read_quoted(&sc, &value, "label value");
      if (r != 0) {
        rc = r;
        goto out;
      }
    }
    {
      int r = pyr_selector_add(out, name, value, op, err, errlen);
      if (r != 0) {
        rc = r;
        goto out;
      }
    }
    free(name);
    free(value);
    name = value = NULL;
    /* separator */
    skip_ws(&sc);
    if (sc.i < len && s[sc.i] == ',') {
      sc.i++;
      continue;
    }
    if (sc.i < len && s[sc.i] == '}') {
      sc.i++;
      break;
    }
    if (sc.i >= len)
      pyr_errf(err, errlen, "label selector: missing '}' at offset %zu", sc.i);
    else
      pyr_errf(err, errlen, "label selector: expected ',' or '}' at offset %zu, got \"%s\"",
             sc.i, excerpt(s + sc.i, len - sc.i, ex));
    goto out;
  }
  skip_ws(&sc);
  if (sc.i != len) {
    pyr_errf(err, errlen, "label selector: unexpected text after '}' at offset %zu: \"%s\"",
           sc.i, excerpt(s + sc.i, len - sc.i, ex));
    goto out;
  }
  rc = 0;
out:
  free(name);
  free(value);
  if (rc == -2)
    pyr_errf(err, errlen, "out of memory");
  return rc;
}

const char *pyr_series_label(const pyr_store_label *labels, size_t n, const char *name) {
  size_t lo = 0, hi = n;
  while (lo < hi) { /* sorted by name */
    size_t mid = (lo + hi) / 2;
    int c = strcmp(labels[mid].name, name);
    if (c == 0)
      return labels[mid].value;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

bool pyr_selector_match(const pyr_selector *s, const pyr_store_label *labels, size_t n) {
  for (size_t i = 0; i < s->n; i++) {
    const pyr_matcher *m = &s->m[i];
    const char *v = pyr_series_label(labels, n, m->name);
    if (v == NULL)
      v = "";
    bool ok;
    switch (m->op) {
    case PYR_MATCH_EQ:
      ok = strcmp(v, m->value) == 0;
      break;
    case PYR_MATCH_NEQ:
      ok = strcmp(v, m->value) != 0;
      break;
    default: {
      int r = pcre2_match(m->re, (PCRE2_SPTR)v, strlen(v), 0, 0, m->md, s->mctx);
      /* A match-limit error counts as "no match": the query still answers. */
      ok = (r >= 0) == (m->op == PYR_MATCH_RE);
      break;
    }
    }
    if (!ok)
      return false;
  }
  return true;
}

/* ---- profile types ---------------------------------------------------------- */

static const char type_shape[] = "name:sample_type:sample_unit:period_type:period_unit";

int pyr_profile_type_parse(const char *s, size_t len, pyr_profile_type *out, char *err,
                           size_t errlen) {
  char ex[48];
  while (len > 0 && (*s == ' ' || *s == '\t')) {
    s++;
    len--;
  }
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  memset(out, 0, sizeof(*out));
  if (len == 0) {
    pyr_errf(err, errlen, "missing profile type (%s)", type_shape);
    return -1;
  }
  if (len >= PYR_PROFILE_TYPE_MAX) {
    pyr_errf(err, errlen, "profile type too long: %zu bytes", len);
    return -1;
  }
  memcpy(out->buf, s, len);
  out->buf[len] = '\0';
  const char *part[6];
  size_t np = 0;
  part[np++] = out->buf;
  for (size_t i = 0; i < len; i++) {
    if (out->buf[i] != ':')
      continue;
    if (np == 6) {
      np = 7;
      break;
    }
    out->buf[i] = '\0';
    part[np++] = out->buf + i + 1;
  }
  if (np != 5 && np != 6) {
    pyr_errf(err, errlen, "profile type \"%s\" must be %s", excerpt(s, len, ex), type_shape);
    return -1;
  }
  if (part[0][0] == '\0' || part[1][0] == '\0') {
    pyr_errf(err, errlen, "profile type \"%s\": name and sample type must not be empty (%s)",
           excerpt(s, len, ex), type_shape);
    return -1;
  }
  for (size_t i = 0; i < 5; i++)
    for (const char *c = part[i]; *c; c++)
      if ((unsigned char)*c < 0x20 || *c == '{' || *c == '}' || *c == '"') {
        pyr_errf(err, errlen, "profile type \"%s\": invalid character", excerpt(s, len, ex));
        return -1;
      }
  out->name = part[0];
  out->sample_type = part[1];
  out->sample_unit = part[2];
  out->period_type = part[3];
  out->period_unit = part[4];
  snprintf(out->id, sizeof(out->id), "%s:%s:%s:%s:%s", part[0], part[1], part[2], part[3],
           part[4]);
  return 0;
}

int pyr_query_parse(const char *q, pyr_profile_type *type, pyr_selector *sel, char *err,
                    size_t errlen) {
  if (q == NULL || q[0] == '\0') {
    pyr_errf(err, errlen, "missing query: want <profile type>{<label matchers>}, e.g. "
                        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"app\"}");
    return -1;
  }
  size_t len = strlen(q);
  if (len > PYR_SELECTOR_MAX_LEN + PYR_PROFILE_TYPE_MAX) {
    pyr_errf(err, errlen, "query too long: %zu bytes", len);
    return -1;
  }
  const char *brace = strchr(q, '{');
  size_t tlen = brace ? (size_t)(brace - q) : len;
  int rc = 0;
  if (brace) {
    rc = pyr_selector_parse(brace, len - tlen, sel, err, errlen);
    if (rc != 0)
      return rc;
  }
  size_t b = 0;
  while (b < tlen && (q[b] == ' ' || q[b] == '\t'))
    b++;
  if (b < tlen)
    return pyr_profile_type_parse(q + b, tlen - b, type, err, errlen);
  /* {__name__="<type>", ...}: the metric name given as a matcher. */
  for (size_t i = 0; i < sel->n; i++) {
    pyr_matcher *m = &sel->m[i];
    if (strcmp(m->name, "__name__") != 0 || m->op != PYR_MATCH_EQ)
      continue;
    rc = pyr_profile_type_parse(m->value, strlen(m->value), type, err, errlen);
    if (rc != 0)
      return rc;
    free(m->name);
    free(m->value);
    memmove(m, m + 1, (sel->n - i - 1) * sizeof(*m));
    sel->n--;
    return 0;
  }
  pyr_errf(err, errlen, "query names no profile type: want <profile type>{<label matchers>}, "
                      "e.g. process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"app\"}");
  return -1;
}
