/*
 * multipart.c - multipart/form-data splitting over an in-memory body.
 *
 * What: see multipart.h.  One forward pass: find the first delimiter line,
 * then repeatedly parse a header block and search (memmem) for the next
 * "\n--boundary" that forms a real delimiter line.  Part data are slices of
 * the caller's buffer; nothing is copied except bounded header values.
 *
 * Threads: pure functions over caller memory.
 *
 * Invariants: every index stays within [0, len]; header text is only read
 * through explicit lengths (the body is binary and not NUL-terminated);
 * string fields of pyr_mp_part are always NUL-terminated.
 */
#include "errbuf.h"
#include "multipart.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>


static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static bool sp(char c) { return c == ' ' || c == '\t'; }

/* Case-insensitive compare of s[0..n) with the NUL-terminated lit. */
static bool ieq(const char *s, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m)
    return false;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
      return false;
  return true;
}

/* Copies s[0..n) into dst[cap] (truncating) and NUL-terminates. */
static void copy_trunc(char *dst, size_t cap, const char *s, size_t n) {
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, s, n);
  dst[n] = '\0';
}

/*
 * Iterates over the ";"-separated parameters of a header value
 * (after the leading token).  For each, calls back with the parameter
 * name and its unquoted value.  Returns -1 on a malformed quoted string.
 */
typedef void (*param_cb)(void *ctx, const char *name, size_t nlen,
                         const char *val, size_t vlen);

static int each_param(const char *s, size_t n, param_cb cb, void *ctx) {
  size_t i = 0;
  /* Skip the main token (e.g. "form-data" or "multipart/form-data"). */
  while (i < n && s[i] != ';')
    i++;
  while (i < n) {
    i++; /* the ';' */
    while (i < n && sp(s[i]))
      i++;
    size_t nb = i;
    while (i < n && s[i] != '=' && s[i] != ';')
      i++;
    size_t ne = i;
    while (ne > nb && sp(s[ne - 1]))
      ne--;
    if (i >= n || s[i] == ';') {
      continue; /* parameter without a value: ignored */
    }
    i++; /* '=' */
    while (i < n && sp(s[i]))
      i++;
    char val[1024];
    size_t vl = 0;
    if (i < n && s[i] == '"') {
      i++;
      bool closed = false;
      while (i < n) {
        char c = s[i++];
        if (c == '\\' && i < n)
          c = s[i++];
        else if (c == '"') {
          closed = true;
          break;
        }
        if (vl < sizeof(val))
          val[vl++] = c;
      }
      if (!closed)
        return -1;
      while (i < n && s[i] != ';')
        i++;
    } else {
      size_t vb = i;
      while (i < n && s[i] != ';')
        i++;
      size_t ve = i;
      while (ve > vb && sp(s[ve - 1]))
        ve--;
      vl = ve - vb < sizeof(val) ? ve - vb : sizeof(val);
      memcpy(val, s + vb, vl);
    }
    cb(ctx, s + nb, ne - nb, val, vl);
  }
  return 0;
}

struct boundary_ctx {
  char *out;
  bool found, too_long;
};

static void boundary_cb(void *vctx, const char *name, size_t nlen,
                        const char *val, size_t vlen) {
  struct boundary_ctx *c = vctx;
  if (!ieq(name, nlen, "boundary") || c->found)
    return;
  c->found = true;
  if (vlen == 0 || vlen > PYR_MP_BOUNDARY_MAX) {
    c->too_long = true;
    return;
  }
  memcpy(c->out, val, vlen);
  c->out[vlen] = '\0';
}

int pyr_mp_boundary(const char *ct, char *out, char *err, size_t errlen) {
  if (ct == NULL) {
    pyr_errf(err, errlen, "missing Content-Type");
    return -1;
  }
  size_t n = strlen(ct);
  while (n > 0 && sp(ct[0])) {
    ct++;
    n--;
  }
  if (n < 10 || strncasecmp(ct, "multipart/", 10) != 0) {
    pyr_errf(err, errlen, "Content-Type is not multipart");
    return -1;
  }
  struct boundary_ctx c = {.out = out};
  if (each_param(ct, n, boundary_cb, &c) != 0) {
    pyr_errf(err, errlen, "malformed Content-Type parameters");
    return -1;
  }
  if (!c.found) {
    pyr_errf(err, errlen, "multipart Content-Type without boundary");
    return -1;
  }
  if (c.too_long) {
    pyr_errf(err, errlen, "multipart boundary must be 1..%d bytes",
            PYR_MP_BOUNDARY_MAX);
    return -1;
  }
  return 0;
}

struct disp_ctx {
  pyr_mp_part *p;
  bool has_name;
};

static void disp_cb(void *vctx, const char *name, size_t nlen, const char *val,
                    size_t vlen) {
  struct disp_ctx *c = vctx;
  /* The part's names are C strings: a NUL in the header ends the value, so
   * "filename=\0x" is an empty filename (not a file part), as the header
   * comment promises (found by tests/fuzz/fuzz_multipart.c). */
  const char *nul = memchr(val, '\0', vlen);
  if (nul != NULL)
    vlen = (size_t)(nul - val);
  if (ieq(name, nlen, "name")) {
    copy_trunc(c->p->name, sizeof(c->p->name), val, vlen);
    c->has_name = vlen > 0;
  } else if (ieq(name, nlen, "filename") || ieq(name, nlen, "filename*")) {
    if (vlen > 0 && c->p->filename[0] == '\0') {
      copy_trunc(c->p->filename, sizeof(c->p->filename), val, vlen);
      c->p->is_file = true;
    }
  }
}

/* Length of the line terminator at body[i] ("\r\n" -> 2, "\n" -> 1), else 0. */
static size_t eol(const unsigned char *b, size_t len, size_t i) {
  if (i < len && b[i] == '\n')
    return 1;
  if (i + 1 < len && b[i] == '\r' && b[i + 1] == '\n')
    return 2;
  return 0;
}

/*
 * Checks for a delimiter "--boundary" at body[i] (i at the first '-').
 * Returns 1 for a delimiter followed by a new part (*next = first header
 * byte), 2 for the closing delimiter, 0 if the bytes there are not a
 * delimiter line.
 */
static int delimiter_at(const unsigned char *b, size_t len, size_t i,
                        const char *bd, size_t bl, size_t *next) {
  if (len - i < 2 + bl || b[i] != '-' || b[i + 1] != '-' ||
      memcmp(b + i + 2, bd, bl) != 0)
    return 0;
  size_t j = i + 2 + bl;
  if (len - j >= 2 && b[j] == '-' && b[j + 1] == '-')
    return 2;
  while (j < len && (b[j] == ' ' || b[j] == '\t'))
    j++;
  size_t e = eol(b, len, j);
  if (e == 0)
    return 0;
  *next = j + e;
  return 1;
}

static int parse_headers(const unsigned char *b, size_t len, size_t *pos,
                         pyr_mp_part *p, char *err, size_t errlen) {
  size_t i = *pos, start = i;
  struct disp_ctx dc = {.p = p};
  for (;;) {
    if (i - start > PYR_MP_MAX_HEADER_BYTES) {
      pyr_errf(err, errlen, "multipart part headers exceed %d bytes",
              PYR_MP_MAX_HEADER_BYTES);
      return -1;
    }
    size_t e = eol(b, len, i);
    if (e > 0) { /* empty line: end of headers */
      i += e;
      break;
    }
    /* One header line (continuation lines folded in). */
    size_t ls = i;
    for (;;) {
      while (i < len && b[i] != '\n')
        i++;
      if (i >= len) {
        pyr_errf(err, errlen, "multipart body truncated in part headers");
        return -1;
      }
      if (i + 1 < len && (b[i + 1] == ' ' || b[i + 1] == '\t')) {
        i++;
        continue;
      }
      break;
    }
    size_t le = i; /* at '\n' */
    i++;
    if (le > ls && b[le - 1] == '\r')
      le--;
    if (le - ls > PYR_MP_MAX_HEADER_BYTES) {
      pyr_errf(err, errlen, "multipart header line too long");
      return -1;
    }
    const char *line = (const char *)b + ls;
    size_t ll = le - ls;
    const char *colon = memchr(line, ':', ll);
    if (colon == NULL) {
      pyr_errf(err, errlen, "malformed multipart header line");
      return -1;
    }
    size_t nl = (size_t)(colon - line);
    while (nl > 0 && sp(line[nl - 1]))
      nl--;
    const char *val = colon + 1;
    size_t vl = ll - (size_t)(val - line);
    while (vl > 0 && sp(*val)) {
      val++;
      vl--;
    }
    while (vl > 0 && sp(val[vl - 1]))
      vl--;
    if (ieq(line, nl, "content-disposition")) {
      /* The token should be form-data; like Go, others are accepted. */
      if (each_param(val, vl, disp_cb, &dc) != 0) {
        pyr_errf(err, errlen, "malformed Content-Disposition");
        return -1;
      }
    } else if (ieq(line, nl, "content-type")) {
      copy_trunc(p->content_type, sizeof(p->content_type), val, vl);
    }
  }
  *pos = i;
  return 0;
}

int pyr_mp_parse(const unsigned char *b, size_t len, const char *content_type,
                 pyr_mp_form *form, char *err, size_t errlen) {
  char bd[PYR_MP_BOUNDARY_MAX + 1];
  memset(form, 0, sizeof(*form));
  if (pyr_mp_boundary(content_type, bd, err, errlen) != 0)
    return -1;
  size_t bl = strlen(bd);

  /* The first delimiter: at the very start, or at the start of a line. */
  size_t pos = 0, next = 0;
  int d = 0;
  for (;;) {
    d = delimiter_at(b, len, pos, bd, bl, &next);
    if (d != 0)
      break;
    const unsigned char *nlp = memchr(b + pos, '\n', len - pos);
    if (nlp == NULL) {
      pyr_errf(err, errlen, "multipart body has no boundary line");
      return -1;
    }
    pos = (size_t)(nlp - b) + 1;
  }

  while (d == 1) {
    if (form->n >= PYR_MP_MAX_PARTS) {
      pyr_errf(err, errlen, "more than %d multipart parts", PYR_MP_MAX_PARTS);
      return -1;
    }
    pyr_mp_part *p = &form->parts[form->n];
    memset(p, 0, sizeof(*p));
    pos = next;
    if (parse_headers(b, len, &pos, p, err, errlen) != 0)
      return -1;

    /* Data runs to the next "\n--boundary" that is a real delimiter. */
    size_t search = pos;
    for (;;) {
      const unsigned char *hit = NULL;
      if (search < len) {
        /* memmem for "\n--" + boundary */
        const unsigned char *q = b + search;
        size_t rem = len - search;
        for (;;) {
          const unsigned char *nlp = memchr(q, '\n', rem);
          if (nlp == NULL)
            break;
          size_t at = (size_t)(nlp - b) + 1;
          if (len - at >= 2 + bl && b[at] == '-' && b[at + 1] == '-' &&
              memcmp(b + at + 2, bd, bl) == 0) {
            hit = nlp;
            break;
          }
          q = nlp + 1;
          rem = len - (size_t)(q - b);
        }
      }
      if (hit == NULL) {
        pyr_errf(err, errlen,
                "multipart body truncated: no closing boundary after part "
                "'%.64s'", p->name);
        return -1;
      }
      size_t at = (size_t)(hit - b) + 1;
      d = delimiter_at(b, len, at, bd, bl, &next);
      if (d == 0) {
        search = at;
        continue;
      }
      size_t end = (size_t)(hit - b);
      if (end > pos && b[end - 1] == '\r')
        end--;
      p->data = b + pos;
      p->len = end >= pos ? end - pos : 0;
      break;
    }
    if (p->name[0] != '\0') /* Go drops parts without a name */
      form->n++;
  }
  return 0;
}

const pyr_mp_part *pyr_mp_file(const pyr_mp_form *form, const char *name) {
  for (size_t i = 0; i < form->n; i++)
    if (form->parts[i].is_file && strcmp(form->parts[i].name, name) == 0)
      return &form->parts[i];
  return NULL;
}

const pyr_mp_part *pyr_mp_any(const pyr_mp_form *form, const char *name) {
  for (size_t i = 0; i < form->n; i++)
    if (strcmp(form->parts[i].name, name) == 0)
      return &form->parts[i];
  return NULL;
}
