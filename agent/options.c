/*
 * options.c - parsing and validating the agent options (see options.h).
 *
 * Design: every key has one table entry (name, environment names, setter).
 * Defaults are applied first, then PYROSCOPE_* variables, then PYRITE_*,
 * then the option string, so later sources override earlier ones and one
 * setter validates all of them identically.
 */
#include "options.h"

#include "log.h"

#include <ctype.h>
#include <jansson.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef int (*setter_fn)(pyr_options *o, const char *key, const char *val, char *err,
                         size_t errlen);

/* pyroscope_env: the Pyroscope Java agent's variable, then an older alias
 * (applied first, so the canonical name wins when both are set). */
struct opt_def {
  const char *key;
  const char *pyrite_env;
  const char *pyroscope_env;
  setter_fn set;
  const char *pyroscope_alias;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* Splits "123unit" into a number and a suffix; rejects empty and overflow. */
static int split_number(const char *s, uint64_t *num, const char **suffix) {
  char *end;
  if (!s || !isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno == ERANGE)
    return -1;
  *num = v;
  *suffix = end;
  return 0;
}

static int mul_checked(uint64_t a, uint64_t b, uint64_t *out) {
  if (a != 0 && b > UINT64_MAX / a)
    return -1;
  *out = a * b;
  return 0;
}

int pyr_parse_duration(const char *s, uint64_t *out_ns) {
  static const struct { const char *suffix; uint64_t mul; } units[] = {
      {"", 1}, {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000ull},
      {"m", 60000000000ull}, {"h", 3600000000000ull},
  };
  uint64_t n;
  const char *suffix;
  if (split_number(s, &n, &suffix) != 0)
    return -1;
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    if (strcmp(suffix, units[i].suffix) == 0)
      return mul_checked(n, units[i].mul, out_ns);
  return -1;
}

int pyr_parse_bytes(const char *s, uint64_t *out) {
  static const struct { const char *suffix; uint64_t mul; } units[] = {
      {"", 1}, {"b", 1}, {"k", 1024}, {"kb", 1024}, {"m", 1024 * 1024},
      {"mb", 1024 * 1024}, {"g", 1024ull * 1024 * 1024}, {"gb", 1024ull * 1024 * 1024},
  };
  uint64_t n;
  const char *suffix;
  char lower[8];
  size_t i;
  if (split_number(s, &n, &suffix) != 0 || strlen(suffix) >= sizeof(lower))
    return -1;
  for (i = 0; suffix[i]; i++)
    lower[i] = (char)tolower((unsigned char)suffix[i]);
  lower[i] = '\0';
  for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    if (strcmp(lower, units[i].suffix) == 0)
      return mul_checked(n, units[i].mul, out);
  return -1;
}

static int set_string(char **dst, const char *val) {
  char *copy = strdup(val);
  if (!copy)
    return -1;
  free(*dst);
  *dst = copy;
  return 0;
}

static int duration_in(const char *key, const char *val, uint64_t lo, uint64_t hi,
                       uint64_t *out, char *err, size_t errlen) {
  if (pyr_parse_duration(val, out) != 0)
    return fail(err, errlen,
                "invalid value '%s' for option '%s': expected a duration such as 10ms, "
                "500us, 2s or a number of nanoseconds",
                val, key);
  if (*out < lo || *out > hi)
    return fail(err, errlen, "option '%s=%s' is out of range (%llu ns .. %llu ns)", key, val,
                (unsigned long long)lo, (unsigned long long)hi);
  return 0;
}

/* itimer, cpu (ctimer), none: the CPU engine.  wall, alloc, lock: what
 * async-profiler (and so the Pyroscope Java agent) does with them as its main
 * event - profile only that kind, no CPU sampling; resolved in
 * resolve_event_mode() once every source is applied.  Any case, because
 * `-Dpyroscope.profiler.event=CPU` is seen in the wild. */
static int set_event(pyr_options *o, const char *key, const char *val, char *err,
                     size_t errlen) {
  static const struct { const char *name; enum pyr_cpu_engine engine; int mode; } values[] = {
      {"itimer", PYR_ENGINE_ITIMER, PYR_EVMODE_CPU}, {"cpu", PYR_ENGINE_CPU, PYR_EVMODE_CPU},
      {"ctimer", PYR_ENGINE_CPU, PYR_EVMODE_CPU},    {"none", PYR_ENGINE_NONE, PYR_EVMODE_CPU},
      {"wall", PYR_ENGINE_NONE, PYR_EVMODE_WALL},    {"alloc", PYR_ENGINE_NONE, PYR_EVMODE_ALLOC},
      {"lock", PYR_ENGINE_NONE, PYR_EVMODE_LOCK},
  };
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    if (strcasecmp(val, values[i].name) == 0) {
      o->event = values[i].engine;
      o->event_mode = values[i].mode;
      return 0;
    }
  }
  return fail(err, errlen,
              "invalid value '%s' for option '%s': expected itimer, cpu, none, wall, alloc "
              "or lock",
              val, key);
}

static int set_interval(pyr_options *o, const char *key, const char *val, char *err,
                        size_t errlen) {
  /* Below 100us the signal cost dominates; above 1 s a profile is noise. */
  return duration_in(key, val, 100000, 1000000000ull, &o->interval_ns, err, errlen);
}

static int set_wall(pyr_options *o, const char *key, const char *val, char *err,
                    size_t errlen) {
  /* >= 1 ms: shorter periods cause EINTR storms in blocked threads. */
  return duration_in(key, val, 1000000, 10000000000ull, &o->wall_ns, err, errlen);
}

/* 0 means what it means to async-profiler and the Pyroscope Java agent:
 * sample every allocation (their docs warn it is far too costly for
 * production).  Stored as 1 byte, the smallest sampling interval, because
 * alloc_bytes == 0 means "off" inside the agent. */
static int set_alloc(pyr_options *o, const char *key, const char *val, char *err,
                     size_t errlen) {
  if (pyr_parse_bytes(val, &o->alloc_bytes) != 0 || o->alloc_bytes > (1ull << 30))
    return fail(err, errlen,
                "invalid value '%s' for option '%s': expected bytes between 0 (every "
                "allocation) and 1g, such as 512k",
                val, key);
  if (o->alloc_bytes == 0)
    o->alloc_bytes = 1;
  return 0;
}

static int set_lock(pyr_options *o, const char *key, const char *val, char *err,
                    size_t errlen) {
  return duration_in(key, val, 0, 60000000000ull, &o->lock_ns, err, errlen);
}

static int set_upload(pyr_options *o, const char *key, const char *val, char *err,
                      size_t errlen) {
  return duration_in(key, val, 1000000000ull, 3600000000000ull, &o->upload_ns, err, errlen);
}

static int set_jstackdepth(pyr_options *o, const char *key, const char *val, char *err,
                           size_t errlen) {
  uint64_t n;
  const char *suffix;
  if (split_number(val, &n, &suffix) != 0 || *suffix || n < 1 || n > 8192)
    return fail(err, errlen, "invalid value '%s' for option '%s': expected 1..8192", val, key);
  o->jstackdepth = (uint32_t)n;
  return 0;
}

static int set_log(pyr_options *o, const char *key, const char *val, char *err,
                   size_t errlen) {
  char lower[16];
  size_t i;
  for (i = 0; val[i] && i + 1 < sizeof(lower); i++)
    lower[i] = (char)tolower((unsigned char)val[i]);
  lower[i] = '\0';
  int level = val[i] ? -1 : pyr_log_parse_level(lower);
  if (level < 0)
    return fail(err, errlen,
                "invalid value '%s' for option '%s': expected error, warn, info, debug or off",
                val, key);
  o->log_level = level;
  return 0;
}

#define STRING_SETTER(fn, field)                                                           \
  static int fn(pyr_options *o, const char *key, const char *val, char *err,                \
                size_t errlen) {                                                           \
    if (set_string(&o->field, val) != 0)                                                   \
      return fail(err, errlen, "out of memory storing option '%s'", key);                  \
    return 0;                                                                              \
  }
STRING_SETTER(set_file, file)
STRING_SETTER(set_auth_token, auth_token)
STRING_SETTER(set_basic_user, basic_user)
STRING_SETTER(set_basic_password, basic_password)
STRING_SETTER(set_tenant, tenant)
STRING_SETTER(set_cacert, cacert)

static int set_server(pyr_options *o, const char *key, const char *val, char *err,
                      size_t errlen) {
  if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0) {
    /* A URL may carry user:password@; quote only what follows the '@'. */
    const char *at = strrchr(val, '@');
    return fail(err, errlen, "invalid value '%s%s' for option '%s': expected an http:// or "
                "https:// URL", at ? "<credentials hidden>@" : "", at ? at + 1 : val, key);
  }
  return set_string(&o->server, val) == 0 ? 0 : fail(err, errlen, "out of memory");
}

/* Label keys follow Prometheus rules; values must not break the
 * name{k=v,...} syntax of the ingest URL. */
static int valid_label_key(const char *k) {
  if (!*k || !(isalpha((unsigned char)*k) || *k == '_'))
    return 0;
  for (; *k; k++)
    if (!(isalnum((unsigned char)*k) || *k == '_' || *k == '.'))
      return 0;
  return 1;
}

static int valid_label_value(const char *v) {
  if (!*v)
    return 0;
  for (; *v; v++)
    if (strchr("{},=\"", *v) || isspace((unsigned char)*v) || iscntrl((unsigned char)*v))
      return 0;
  return 1;
}

static int add_label(pyr_options *o, const char *k, size_t klen, const char *v, char *err,
                     size_t errlen) {
  char key[256];
  if (klen >= sizeof(key))
    return fail(err, errlen, "label key '%.*s...' is too long", 32, k);
  memcpy(key, k, klen);
  key[klen] = '\0';
  if (!valid_label_key(key))
    return fail(err, errlen, "invalid label name '%s': use letters, digits, '_' and '.'", key);
  if (!valid_label_value(v))
    return fail(err, errlen, "invalid value '%s' for label '%s': must be non-empty, without "
                "spaces or any of {},=\"", v, key);
  for (size_t i = 0; i < o->nlabels; i++) {
    if (strcmp(o->labels[i].key, key) == 0)
      return set_string(&o->labels[i].value, v) == 0 ? 0 : fail(err, errlen, "out of memory");
  }
  if (o->nlabels == PYR_MAX_LABELS)
    return fail(err, errlen, "too many labels (at most %d)", PYR_MAX_LABELS);
  pyr_label *l = &o->labels[o->nlabels];
  l->key = strdup(key);
  l->value = strdup(v);
  if (!l->key || !l->value) {
    free(l->key);
    free(l->value);
    l->key = l->value = NULL;
    return fail(err, errlen, "out of memory");
  }
  o->nlabels++;
  return 0;
}

/* Header names are HTTP tokens; values must not smuggle a line break. */
static int add_header(pyr_options *o, const char *name, const char *value, char *err,
                      size_t errlen) {
  if (!*name || strlen(name) > 128)
    return fail(err, errlen, "invalid HTTP header name '%s'", name);
  for (const char *p = name; *p; p++)
    if (!(isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p)))
      return fail(err, errlen, "invalid HTTP header name '%s'", name);
  for (const char *p = value; *p; p++)
    if (*p == '\r' || *p == '\n')
      return fail(err, errlen, "invalid value for HTTP header '%s': line break", name);
  if (o->nheaders == PYR_MAX_HEADERS)
    return fail(err, errlen, "too many HTTP headers (at most %d)", PYR_MAX_HEADERS);
  o->headers[o->nheaders].key = strdup(name);
  o->headers[o->nheaders].value = strdup(value);
  if (!o->headers[o->nheaders].key || !o->headers[o->nheaders].value)
    return fail(err, errlen, "out of memory");
  o->nheaders++;
  return 0;
}

/* PYROSCOPE_HTTP_HEADERS: a JSON object of header name -> string value. */
static int set_headers_json(pyr_options *o, const char *key, const char *val, char *err,
                            size_t errlen) {
  json_error_t jerr;
  json_t *root = json_loads(val, 0, &jerr);
  const char *name;
  json_t *v;
  int rc = 0;
  if (!root || !json_is_object(root)) {
    json_decref(root);
    return fail(err, errlen, "invalid value for '%s': expected a JSON object of headers", key);
  }
  json_object_foreach(root, name, v) {
    if (!json_is_string(v)) {
      rc = fail(err, errlen, "invalid value for '%s': header '%s' is not a string", key, name);
      break;
    }
    if ((rc = add_header(o, name, json_string_value(v), err, errlen)) != 0)
      break;
  }
  json_decref(root);
  return rc;
}

static int set_enabled(pyr_options *o, const char *key, const char *val, char *err,
                       size_t errlen) {
  if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes") || !strcmp(val, "on"))
    o->enabled = 1;
  else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no") ||
           !strcmp(val, "off"))
    o->enabled = 0;
  else
    return fail(err, errlen, "invalid value '%s' for option '%s': expected true or false", val,
                key);
  return 0;
}

/* "k=v,k2=v2" (PYROSCOPE_LABELS / PYRITE_LABELS). */
static int set_label_list(pyr_options *o, const char *key, const char *val, char *err,
                          size_t errlen) {
  const char *p = val;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char pair[PYR_OPT_STR_MAX];
    if (len >= sizeof(pair))
      return fail(err, errlen, "label list in '%s' is too long", key);
    memcpy(pair, p, len);
    pair[len] = '\0';
    char *eq = strchr(pair, '=');
    if (len > 0) {
      if (!eq)
        return fail(err, errlen, "invalid label '%s' in '%s': expected key=value", pair, key);
      *eq = '\0';
      if (add_label(o, pair, strlen(pair), eq + 1, err, errlen) != 0)
        return -1;
    }
    p += len + (comma ? 1 : 0);
  }
  return 0;
}

/* "orders" or Pyroscope's "orders{env=prod,region=eu}" form. */
static int set_app(pyr_options *o, const char *key, const char *val, char *err,
                   size_t errlen) {
  const char *brace = strchr(val, '{');
  size_t namelen = brace ? (size_t)(brace - val) : strlen(val);
  char name[256];
  if (namelen == 0 || namelen >= sizeof(name))
    return fail(err, errlen, "invalid value '%s' for option '%s': expected an application name",
                val, key);
  memcpy(name, val, namelen);
  name[namelen] = '\0';
  for (size_t i = 0; i < namelen; i++)
    if (isspace((unsigned char)name[i]) || strchr("{},=\"", name[i]))
      return fail(err, errlen, "invalid application name '%s' in option '%s'", name, key);
  if (brace) {
    size_t len = strlen(brace);
    char inner[PYR_OPT_STR_MAX];
    if (brace[len - 1] != '}' || len - 2 >= sizeof(inner))
      return fail(err, errlen, "invalid value '%s' for option '%s': unbalanced '{'", val, key);
    memcpy(inner, brace + 1, len - 2);
    inner[len - 2] = '\0';
    if (set_label_list(o, key, inner, err, errlen) != 0)
      return -1;
  }
  return set_string(&o->app, name) == 0 ? 0 : fail(err, errlen, "out of memory");
}

static const struct opt_def defs[] = {
    {"event", "PYRITE_EVENT", "PYROSCOPE_PROFILER_EVENT", set_event},
    /* PYROSCOPE_PROFILING_INTERVAL is the Java agent's name; the misspelt
     * PYROSCOPE_PROFILER_INTERVAL was documented here first and stays an alias. */
    {"interval", "PYRITE_INTERVAL", "PYROSCOPE_PROFILING_INTERVAL", set_interval,
     "PYROSCOPE_PROFILER_INTERVAL"},
    {"wall", "PYRITE_WALL", NULL, set_wall},
    {"alloc", "PYRITE_ALLOC", "PYROSCOPE_PROFILER_ALLOC", set_alloc},
    {"lock", "PYRITE_LOCK", "PYROSCOPE_PROFILER_LOCK", set_lock},
    {"server", "PYRITE_SERVER", "PYROSCOPE_SERVER_ADDRESS", set_server},
    {"app", "PYRITE_APP", "PYROSCOPE_APPLICATION_NAME", set_app},
    {"labels", "PYRITE_LABELS", "PYROSCOPE_LABELS", set_label_list},
    {"upload", "PYRITE_UPLOAD", "PYROSCOPE_UPLOAD_INTERVAL", set_upload},
    {"file", "PYRITE_FILE", NULL, set_file},
    {"jstackdepth", "PYRITE_JSTACKDEPTH", "PYROSCOPE_JAVA_STACK_DEPTH_MAX", set_jstackdepth},
    {"log", "PYRITE_LOG", "PYROSCOPE_LOG_LEVEL", set_log},
    {"authtoken", "PYRITE_AUTH_TOKEN", "PYROSCOPE_AUTH_TOKEN", set_auth_token},
    {"basicauthuser", "PYRITE_BASIC_AUTH_USER", "PYROSCOPE_BASIC_AUTH_USER", set_basic_user},
    {"basicauthpassword", "PYRITE_BASIC_AUTH_PASSWORD", "PYROSCOPE_BASIC_AUTH_PASSWORD",
     set_basic_password},
    {"tenant", "PYRITE_TENANT_ID", "PYROSCOPE_TENANT_ID", set_tenant},
    {"headers", "PYRITE_HTTP_HEADERS", "PYROSCOPE_HTTP_HEADERS", set_headers_json},
    {"enabled", "PYRITE_ENABLED", "PYROSCOPE_AGENT_ENABLED", set_enabled},
    {"cacert", "PYRITE_CA_FILE", NULL, set_cacert},
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

static void set_defaults(pyr_options *o) {
  memset(o, 0, sizeof(*o));
  o->event = PYR_ENGINE_ITIMER;
  o->interval_ns = 10000000;
  o->lock_ns = PYR_LOCK_OFF;
  o->upload_ns = 10000000000ull;
  o->jstackdepth = 2048;
  o->log_level = PYR_LOG_WARN;
  o->enabled = 1;
}

static int apply_one_env(pyr_options *o, const struct opt_def *d, const char *name,
                         pyr_getenv_fn getenv_fn, char *err, size_t errlen) {
  const char *val = name ? getenv_fn(name) : NULL;
  char sub[512];
  if (!val || !*val)
    return 0;
  if (d->set(o, d->key, val, sub, sizeof(sub)) != 0)
    return fail(err, errlen, "%s (from environment variable %s)", sub, name);
  return 0;
}

static int apply_env(pyr_options *o, pyr_getenv_fn getenv_fn, int pyroscope, char *err,
                     size_t errlen) {
  for (size_t i = 0; i < NDEFS; i++) {
    const struct opt_def *d = &defs[i];
    if (pyroscope && (apply_one_env(o, d, d->pyroscope_alias, getenv_fn, err, errlen) != 0 ||
                      apply_one_env(o, d, d->pyroscope_env, getenv_fn, err, errlen) != 0))
      return -1;
    if (!pyroscope && apply_one_env(o, d, d->pyrite_env, getenv_fn, err, errlen) != 0)
      return -1;
  }
  return 0;
}

/* event=wall|alloc|lock switch that one kind on at async-profiler's default
 * unless its own option says how; CPU sampling is already off. */
static void resolve_event_mode(pyr_options *o) {
  switch (o->event_mode) {
  case PYR_EVMODE_WALL:
    if (!o->wall_ns) /* async-profiler samples wall clock at `interval` */
      o->wall_ns = o->interval_ns < 1000000 ? 1000000 : o->interval_ns;
    break;
  case PYR_EVMODE_ALLOC:
    if (!o->alloc_bytes)
      o->alloc_bytes = PYR_EVENT_ALLOC_DEFAULT;
    break;
  case PYR_EVMODE_LOCK:
    if (o->lock_ns == PYR_LOCK_OFF)
      o->lock_ns = PYR_EVENT_LOCK_DEFAULT_NS;
    break;
  default:
    break;
  }
}

static int apply_pair(pyr_options *o, const char *key, const char *val, char *err,
                      size_t errlen) {
  if (strncmp(key, "label.", 6) == 0) {
    if (!val)
      return fail(err, errlen, "option '%s' needs a value", key);
    return add_label(o, key + 6, strlen(key + 6), val, err, errlen);
  }
  if (strncmp(key, "header.", 7) == 0) {
    if (!val)
      return fail(err, errlen, "option '%s' needs a value", key);
    return add_header(o, key + 7, val, err, errlen);
  }
  for (size_t i = 0; i < NDEFS; i++) {
    if (strcmp(defs[i].key, key) != 0)
      continue;
    if (!val || !*val)
      return fail(err, errlen, "option '%s' needs a value", key);
    return defs[i].set(o, key, val, err, errlen);
  }
  return fail(err, errlen, "unknown option '%s'", key);
}

static int apply_string(pyr_options *o, const char *optstr, char *err, size_t errlen) {
  const char *p = optstr;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char item[PYR_OPT_STR_MAX];
    if (len >= sizeof(item))
      return fail(err, errlen, "option '%.32s...' is too long", p);
    memcpy(item, p, len);
    item[len] = '\0';
    if (len > 0) {
      char *eq = strchr(item, '=');
      if (eq)
        *eq = '\0';
      if (apply_pair(o, item, eq ? eq + 1 : NULL, err, errlen) != 0)
        return -1;
    }
    p += len + (comma ? 1 : 0);
  }
  return 0;
}

int pyr_options_parse(pyr_options *o, const char *optstr, pyr_getenv_fn getenv_fn,
                      char *err, size_t errlen) {
  set_defaults(o);
  if (getenv_fn && (apply_env(o, getenv_fn, 1, err, errlen) != 0 ||
                    apply_env(o, getenv_fn, 0, err, errlen) != 0))
    goto fail;
  if (optstr && apply_string(o, optstr, err, errlen) != 0)
    goto fail;
  resolve_event_mode(o);
  if (!o->app && set_string(&o->app, "java") != 0) {
    fail(err, errlen, "out of memory");
    goto fail;
  }
  return 0;
fail:
  pyr_options_free(o);
  return -1;
}

void pyr_options_free(pyr_options *o) {
  free(o->file);
  free(o->cacert);
  free(o->server);
  free(o->app);
  free(o->auth_token);
  free(o->basic_user);
  free(o->basic_password);
  free(o->tenant);
  for (size_t i = 0; i < o->nlabels; i++) {
    free(o->labels[i].key);
    free(o->labels[i].value);
  }
  for (size_t i = 0; i < o->nheaders; i++) {
    free(o->headers[i].key);
    free(o->headers[i].value);
  }
  memset(o, 0, sizeof(*o));
}
