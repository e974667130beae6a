/*
 * protojson.c - JSON writer and descriptor-driven protojson codec (see
 * protojson.h for the rules).
 *
 * What: output is written straight into a growable buffer (large flame
 * graphs are tens of thousands of numbers; no intermediate DOM); input is
 * parsed with jansson and copied field by field into a protobuf-c message
 * built with the caller's allocator, laid out exactly as
 * protobuf_c_message_unpack() would lay it out, so the usual
 * protobuf_c_message_free_unpacked() releases it.
 *
 * Threads: pure functions.
 *
 * Invariants: nesting depth of decoded messages is bounded (MAX_DEPTH) so a
 * hostile body cannot exhaust the stack (jansson bounds its own parser
 * depth too); every allocation made while decoding is reachable from the
 * message as soon as it is made, so freeing the partial message on error
 * releases everything.
 */
#include "protojson.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"

#define MAX_DEPTH 32

/* ---- writer ------------------------------------------------------------------ */

void pyr_jw_init(pyr_jw *w) { memset(w, 0, sizeof(*w)); }

void pyr_jw_free(pyr_jw *w) {
  free(w->p);
  pyr_jw_init(w);
}

char *pyr_jw_take(pyr_jw *w, size_t *len) {
  if (w->oom || !pyr_jw_reserve(w, 1)) {
    pyr_jw_free(w);
    *len = 0;
    return NULL;
  }
  w->p[w->n] = '\0';
  char *p = w->p;
  *len = w->n;
  pyr_jw_init(w);
  return p;
}

bool pyr_jw_reserve(pyr_jw *w, size_t add) {
  if (w->oom)
    return false;
  if (w->n + add + 1 <= w->cap)
    return true;
  size_t nc = w->cap ? w->cap : 4096;
  while (nc < w->n + add + 1) {
    if (nc > SIZE_MAX / 2) {
      w->oom = true;
      return false;
    }
    nc *= 2;
  }
  char *np = realloc(w->p, nc);
  if (np == NULL) {
    w->oom = true;
    return false;
  }
  w->p = np;
  w->cap = nc;
  return true;
}

void pyr_jw_raw(pyr_jw *w, const char *s, size_t n) {
  if (!pyr_jw_reserve(w, n))
    return;
  memcpy(w->p + w->n, s, n);
  w->n += n;
}

void pyr_jw_lit(pyr_jw *w, const char *s) { pyr_jw_raw(w, s, strlen(s)); }

void pyr_jw_u64(pyr_jw *w, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  if (!pyr_jw_reserve(w, n))
    return;
  while (n)
    w->p[w->n++] = tmp[--n];
}

void pyr_jw_i64(pyr_jw *w, int64_t v) {
  if (v < 0) {
    pyr_jw_c(w, '-');
    pyr_jw_u64(w, (uint64_t)0 - (uint64_t)v);
  } else {
    pyr_jw_u64(w, (uint64_t)v);
  }
}

void pyr_jw_double(pyr_jw *w, double v) {
  char tmp[40];
  if (isnan(v)) {
    pyr_jw_lit(w, "\"NaN\"");
    return;
  }
  if (isinf(v)) {
    pyr_jw_lit(w, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  if (v == floor(v) && fabs(v) < 9007199254740992.0) {
    pyr_jw_i64(w, (int64_t)v);
    return;
  }
  /* Shortest of %.15g/%.17g that reads back exactly. */
  snprintf(tmp, sizeof(tmp), "%.15g", v);
  if (strtod(tmp, NULL) != v)
    snprintf(tmp, sizeof(tmp), "%.17g", v);
  pyr_jw_lit(w, tmp);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t k;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    k = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    k = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    k = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (k > n)
    return 0;
  for (size_t i = 1; i < k; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
      (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return k;
}

void pyr_jw_str(pyr_jw *w, const char *str, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  /* Worst case: every byte becomes \u00XX or a 3-byte U+FFFD. */
  if (!pyr_jw_reserve(w, n * 6 + 2))
    return;
  char *o = w->p + w->n;
  *o++ = '"';
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      *o++ = (char)c;
      i++;
      continue;
    }
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
      i++;
      continue;
    }
    if (c < 0x20) {
      *o++ = '\\';
      switch (c) {
      case '\n': *o++ = 'n'; break;
      case '\r': *o++ = 'r'; break;
      case '\t': *o++ = 't'; break;
      case '\b': *o++ = 'b'; break;
      case '\f': *o++ = 'f'; break;
      default:
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
      }
      i++;
      continue;
    }
    size_t k = utf8_len(s + i, n - i);
    if (k == 0) { /* U+FFFD for a byte that is not UTF-8 */
      *o++ = (char)0xef;
      *o++ = (char)0xbf;
      *o++ = (char)0xbd;
      i++;
      continue;
    }
    memcpy(o, s + i, k);
    o += k;
    i += k;
  }
  *o++ = '"';
  w->n = (size_t)(o - w->p);
}

void pyr_jw_key(pyr_jw *w, const char *key) {
  pyr_jw_str(w, key, strlen(key));
  pyr_jw_c(w, ':');
}

void pyr_jw_base64(pyr_jw *w, const uint8_t *p, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (!pyr_jw_reserve(w, (n + 2) / 3 * 4))
    return;
  char *o = w->p + w->n;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = tab[v >> 18];
    *o++ = tab[(v >> 12) & 63];
    *o++ = tab[(v >> 6) & 63];
    *o++ = tab[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    *o++ = tab[v >> 18];
    *o++ = tab[(v >> 12) & 63];
    *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  w->n = (size_t)(o - w->p);
}

/* ---- field access ------------------------------------------------------------- */

#define MEMBER(T, msg, off) (*(T *)(void *)((char *)(msg) + (off)))

static size_t elt_size(ProtobufCType t) {
  switch (t) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return 4;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return 8;
  case PROTOBUF_C_TYPE_FLOAT:
    return sizeof(float);
  case PROTOBUF_C_TYPE_DOUBLE:
    return sizeof(double);
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_ENUM:
    return sizeof(int);
  case PROTOBUF_C_TYPE_STRING:
    return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(ProtobufCMessage *);
  }
  return 0;
}

void pyr_protojson_name(const char *p, char *out, size_t cap) {
  size_t n = 0;
  bool up = false;
  for (; *p && n + 1 < cap; p++) {
    if (*p == '_') {
      up = true;
      continue;
    }
    char c = *p;
    if (up && c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    up = false;
    out[n++] = c;
  }
  out[n] = '\0';
}

/* ---- encoding ----------------------------------------------------------------- */

static void write_msg(pyr_jw *w, const ProtobufCMessage *m, int depth);

/* Writes one value of field f stored at p. */
static void write_value(pyr_jw *w, const ProtobufCFieldDescriptor *f, const void *p,
                        int depth) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    pyr_jw_i64(w, *(const int32_t *)p);
    break;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    pyr_jw_u64(w, *(const uint32_t *)p);
    break;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    pyr_jw_c(w, '"');
    pyr_jw_i64(w, *(const int64_t *)p);
    pyr_jw_c(w, '"');
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    pyr_jw_c(w, '"');
    pyr_jw_u64(w, *(const uint64_t *)p);
    pyr_jw_c(w, '"');
    break;
  case PROTOBUF_C_TYPE_FLOAT:
    pyr_jw_double(w, *(const float *)p);
    break;
  case PROTOBUF_C_TYPE_DOUBLE:
    pyr_jw_double(w, *(const double *)p);
    break;
  case PROTOBUF_C_TYPE_BOOL:
    pyr_jw_lit(w, *(const protobuf_c_boolean *)p ? "true" : "false");
    break;
  case PROTOBUF_C_TYPE_ENUM: {
    int v = *(const int *)p;
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
    if (ev)
      pyr_jw_str(w, ev->name, strlen(ev->name));
    else
      pyr_jw_i64(w, v);
    break;
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    if (s == NULL)
      s = "";
    pyr_jw_str(w, s, strlen(s));
    break;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *b = p;
    pyr_jw_c(w, '"');
    pyr_jw_base64(w, b->data, b->len);
    pyr_jw_c(w, '"');
    break;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
    if (sub == NULL || depth >= MAX_DEPTH)
      pyr_jw_lit(w, "{}");
    else
      write_msg(w, sub, depth + 1);
    break;
  }
  }
}

static bool is_zero(const ProtobufCFieldDescriptor *f, const void *p) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    return s == NULL || s[0] == '\0';
  }
  case PROTOBUF_C_TYPE_BYTES:
    return ((const ProtobufCBinaryData *)p)->len == 0;
  case PROTOBUF_C_TYPE_MESSAGE:
    return *(ProtobufCMessage *const *)p == NULL;
  case PROTOBUF_C_TYPE_FLOAT:
    return *(const float *)p == 0;
  case PROTOBUF_C_TYPE_DOUBLE:
    return *(const double *)p == 0;
  default: {
    size_t sz = elt_size(f->type);
    const unsigned char *b = p;
    for (size_t i = 0; i < sz; i++)
      if (b[i])
        return false;
    return true;
  }
  }
}

static void write_msg(pyr_jw *w, const ProtobufCMessage *m, int depth) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  bool first = true;
  pyr_jw_c(w, '{');
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const void *p = (const char *)m + f->offset;
    size_t n = 1;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = MEMBER(size_t, m, f->quantifier_offset);
      if (n == 0)
        continue;
    } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (MEMBER(uint32_t, m, f->quantifier_offset) != f->id)
        continue;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
               f->type != PROTOBUF_C_TYPE_MESSAGE) {
      if (!MEMBER(protobuf_c_boolean, m, f->quantifier_offset))
        continue;
    } else if (is_zero(f, p)) {
      continue;
    }
    char name[128];
    pyr_protojson_name(f->name, name, sizeof(name));
    if (!first)
      pyr_jw_c(w, ',');
    first = false;
    pyr_jw_key(w, name);
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
      write_value(w, f, p, depth);
      continue;
    }
    const char *arr = *(char *const *)p;
    size_t sz = elt_size(f->type);
    pyr_jw_c(w, '[');
    for (size_t k = 0; k < n; k++) {
      if (k)
        pyr_jw_c(w, ',');
      write_value(w, f, arr + k * sz, depth);
    }
    pyr_jw_c(w, ']');
  }
  pyr_jw_c(w, '}');
}

void pyr_protojson_write(pyr_jw *w, const ProtobufCMessage *msg) { write_msg(w, msg, 0); }

/* ---- decoding ------------------------------------------------------------------ */

typedef struct dec {
  ProtobufCAllocator *a;
  char *err;
  size_t errlen;
  char path[192]; /* field name being decoded, for messages */
} dec;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int derr(dec *d, const char *fmt, ...) {
  if (d->err && d->errlen) {
    int n = snprintf(d->err, d->errlen, "field %s: ", d->path[0] ? d->path : "(message)");
    if (n < 0)
      n = 0;
    if ((size_t)n < d->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return -1;
}

static void *dalloc(dec *d, size_t n) { return d->a->alloc(d->a->allocator_data, n ? n : 1); }

static void *sys_alloc(void *data, size_t n) {
  (void)data;
  return malloc(n);
}
static void sys_free(void *data, void *p) {
  (void)data;
  free(p);
}
static ProtobufCAllocator sys_allocator = {sys_alloc, sys_free, NULL};

/* A JSON number or numeric string as a signed/unsigned 64-bit integer. */
static int get_int(dec *d, json_t *v, bool is_signed, int64_t *si, uint64_t *ui) {
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    if (!is_signed && x < 0)
      return derr(d, "expected a non-negative integer");
    *si = (int64_t)x;
    *ui = (uint64_t)x;
    return 0;
  }
  if (json_is_real(v)) {
    double x = json_real_value(v);
    if (x != floor(x) || fabs(x) > 9.2e18 || (!is_signed && x < 0))
      return derr(d, "expected an integer, got %g", x);
    /* Via int64: converting a negative double to uint64 is UB (found by
     * tests/fuzz/fuzz_protojson.c with {"end":-6.0}). */
    *si = (int64_t)x;
    *ui = (uint64_t)*si;
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end = NULL;
    errno = 0;
    if (is_signed) {
      long long x = strtoll(s, &end, 10);
      *si = x;
      *ui = (uint64_t)x;
    } else {
      if (s[0] == '-')
        return derr(d, "expected a non-negative integer");
      unsigned long long x = strtoull(s, &end, 10);
      *ui = x;
      *si = (int64_t)x;
    }
    if (errno != 0 || end == s || *end != '\0')
      return derr(d, "expected an integer, got \"%.40s\"", s);
    return 0;
  }
  return derr(d, "expected an integer");
}

static int get_double(dec *d, json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (strcmp(s, "NaN") == 0) {
      *out = NAN;
      return 0;
    }
    if (strcmp(s, "Infinity") == 0) {
      *out = INFINITY;
      return 0;
    }
    if (strcmp(s, "-Infinity") == 0) {
      *out = -INFINITY;
      return 0;
    }
    char *end = NULL;
    *out = strtod(s, &end);
    if (end != s && *end == '\0')
      return 0;
  }
  return derr(d, "expected a number");
}

static ProtobufCMessage *read_msg(dec *d, const ProtobufCMessageDescriptor *desc, json_t *o,
                                  int depth);

/* Decodes one value of f from v into p (storage of one element). */
static int read_value(dec *d, const ProtobufCFieldDescriptor *f, json_t *v, void *p,
                      int depth) {
  int64_t si = 0;
  uint64_t ui = 0;
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    if (get_int(d, v, true, &si, &ui) != 0)
      return -1;
    if (si < INT32_MIN || si > INT32_MAX)
      return derr(d, "value out of range for int32");
    *(int32_t *)p = (int32_t)si;
    return 0;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    if (get_int(d, v, false, &si, &ui) != 0)
      return -1;
    if (ui > UINT32_MAX)
      return derr(d, "value out of range for uint32");
    *(uint32_t *)p = (uint32_t)ui;
    return 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    if (get_int(d, v, true, &si, &ui) != 0)
      return -1;
    *(int64_t *)p = si;
    return 0;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    if (get_int(d, v, false, &si, &ui) != 0)
      return -1;
    *(uint64_t *)p = ui;
    return 0;
  case PROTOBUF_C_TYPE_FLOAT: {
    double x;
    if (get_double(d, v, &x) != 0)
      return -1;
    *(float *)p = (float)x;
    return 0;
  }
  case PROTOBUF_C_TYPE_DOUBLE:
    return get_double(d, v, (double *)p);
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_is_boolean(v))
      return derr(d, "expected true or false");
    *(protobuf_c_boolean *)p = json_is_true(v);
    return 0;
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    if (json_is_string(v)) {
      const ProtobufCEnumValue *ev =
          protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
      if (ev == NULL)
        return derr(d, "unknown %s value \"%.60s\"", ed->short_name, json_string_value(v));
      *(int *)p = ev->value;
      return 0;
    }
    if (get_int(d, v, true, &si, &ui) != 0)
      return -1;
    if (si < INT32_MIN || si > INT32_MAX)
      return derr(d, "enum value out of range");
    *(int *)p = (int)si; /* unknown numbers are kept, as protobuf does */
    return 0;
  }
  case PROTOBUF_C_TYPE_STRING: {
    if (!json_is_string(v))
      return derr(d, "expected a string");
    size_t n = json_string_length(v);
    char *s = dalloc(d, n + 1);
    if (s == NULL)
      return derr(d, "out of memory");
    memcpy(s, json_string_value(v), n);
    s[n] = '\0';
    *(char **)p = s;
    return 0;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    if (!json_is_string(v))
      return derr(d, "expected a base64 string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    /* Accept the URL-safe alphabet too (protojson does). */
    char *tmp = malloc(n + 1);
    if (tmp == NULL)
      return derr(d, "out of memory");
    for (size_t i = 0; i < n; i++)
      tmp[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    uint8_t *out = dalloc(d, n / 4 * 3 + 3);
    if (out == NULL) {
      free(tmp);
      return derr(d, "out of memory");
    }
    long got = pyr_base64_decode(tmp, n, out, n / 4 * 3 + 3);
    free(tmp);
    ProtobufCBinaryData *b = p;
    b->data = out; /* owned by the message even on error */
    b->len = 0;
    if (got < 0)
      return derr(d, "invalid base64");
    b->len = (size_t)got;
    return 0;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    if (!json_is_object(v))
      return derr(d, "expected an object");
    ProtobufCMessage *sub = read_msg(d, f->descriptor, v, depth + 1);
    if (sub == NULL)
      return -1;
    *(ProtobufCMessage **)p = sub;
    return 0;
  }
  }
  return derr(d, "unsupported field type");
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
                                                  const char *key) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, key);
  if (f)
    return f;
  char name[128];
  for (unsigned i = 0; i < desc->n_fields; i++) {
    pyr_protojson_name(desc->fields[i].name, name, sizeof(name));
    if (strcmp(name, key) == 0)
      return &desc->fields[i];
  }
  return NULL;
}

static ProtobufCMessage *read_msg(dec *d, const ProtobufCMessageDescriptor *desc, json_t *o,
                                  int depth) {
  if (depth > MAX_DEPTH) {
    derr(d, "nested too deeply");
    return NULL;
  }
  ProtobufCMessage *m = dalloc(d, desc->sizeof_message);
  if (m == NULL) {
    derr(d, "out of memory");
    return NULL;
  }
  protobuf_c_message_init(desc, m);
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    const ProtobufCFieldDescriptor *f = find_field(desc, key);
    if (f == NULL || json_is_null(v))
      continue; /* unknown fields are discarded; null = default */
    snprintf(d->path, sizeof(d->path), "%s", key);
    void *p = (char *)m + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      if (!json_is_array(v)) {
        derr(d, "expected an array");
        goto fail;
      }
      size_t n = json_array_size(v), sz = elt_size(f->type);
      if (n == 0)
        continue;
      char *arr = dalloc(d, n * sz);
      if (arr == NULL) {
        derr(d, "out of memory");
        goto fail;
      }
      memset(arr, 0, n * sz);
      *(char **)p = arr;
      size_t *cnt = (size_t *)(void *)((char *)m + f->quantifier_offset);
      *cnt = 0;
      for (size_t k = 0; k < n; k++) {
        json_t *e = json_array_get(v, k);
        if (json_is_null(e)) {
          derr(d, "null inside an array");
          goto fail;
        }
        if (read_value(d, f, e, arr + k * sz, depth) != 0)
          goto fail;
        *cnt = k + 1; /* only decoded elements are freed on error */
      }
      continue;
    }
    if (f->type == PROTOBUF_C_TYPE_STRING) {
      /* Replace the default "" only once decoding succeeded. */
      char *old = *(char **)p;
      if (read_value(d, f, v, p, depth) != 0)
        goto fail;
      if (old && old != (const char *)f->default_value && old != protobuf_c_empty_string)
        d->a->free(d->a->allocator_data, old);
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
      ProtobufCMessage *old = *(ProtobufCMessage **)p;
      if (read_value(d, f, v, p, depth) != 0)
        goto fail;
      if (old)
        protobuf_c_message_free_unpacked(old, d->a);
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
      ProtobufCBinaryData old = *(ProtobufCBinaryData *)p;
      int r = read_value(d, f, v, p, depth);
      if (old.data && (f->default_value == NULL ||
                       old.data != ((const ProtobufCBinaryData *)f->default_value)->data))
        d->a->free(d->a->allocator_data, old.data);
      if (r != 0)
        goto fail;
    } else if (read_value(d, f, v, p, depth) != 0) {
      goto fail;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
      MEMBER(uint32_t, m, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
      MEMBER(protobuf_c_boolean, m, f->quantifier_offset) = 1;
  }
  return m;
fail:
  protobuf_c_message_free_unpacked(m, d->a);
  return NULL;
}

ProtobufCMessage *pyr_protojson_read(const ProtobufCMessageDescriptor *desc, const char *json,
                                     size_t len, ProtobufCAllocator *alloc, char *err,
                                     size_t errlen) {
  dec d = {.a = alloc ? alloc : &sys_allocator, .err = err, .errlen = errlen};
  json_error_t je;
  size_t i = 0;
  while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
    i++;
  if (i == len) { /* an empty body is an empty message (lenient) */
    ProtobufCMessage *m = dalloc(&d, desc->sizeof_message);
    if (m)
      protobuf_c_message_init(desc, m);
    else if (err && errlen)
      snprintf(err, errlen, "out of memory");
    return m;
  }
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL) {
    if (err && errlen)
      snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column,
               je.text);
    return NULL;
  }
  ProtobufCMessage *m = NULL;
  if (!json_is_object(root)) {
    if (err && errlen)
      snprintf(err, errlen, "invalid request: expected a JSON object for %s", desc->name);
  } else {
    m = read_msg(&d, desc, root, 0);
  }
  json_decref(root);
  return m;
}
