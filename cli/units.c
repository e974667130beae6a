/*
 * units.c - profile type aliases and value formatting (see units.h).
 *
 * Why three significant digits: the tables are read by people comparing
 * magnitudes; more digits only make columns wider.  Byte sizes use powers
 * of 1024 with the KB/MB labels Pyroscope's UI shows, so numbers match what
 * users see there.
 *
 * Threads: pure functions.
 *
 * Invariants: outputs are always NUL-terminated within the given length.
 */
#include "units.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct alias {
  const char *alias;
  const char *id;
};

/* The first four are the contract (issue 6); the rest are conveniences for
 * the other types a Java agent produces (pyroscope-api.md §7). */
static const struct alias aliases[] = {
    {"cpu", "process_cpu:cpu:nanoseconds:cpu:nanoseconds"},
    {"alloc", "memory:alloc_in_new_tlab_bytes:bytes:space:bytes"},
    {"lock", "mutex:delay:nanoseconds:mutex:count"},
    {"wall", "wall:wall:nanoseconds:wall:nanoseconds"},
    {"alloc_objects", "memory:alloc_in_new_tlab_objects:count:space:bytes"},
    {"lock_count", "mutex:contentions:count:mutex:count"},
    {"block", "block:delay:nanoseconds:block:count"},
    {"block_count", "block:contentions:count:block:count"},
    {"live", "memory:live:count:objects:count"},
};

const char *pyr_cli_type_alias(const char *alias) {
  for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
    if (strcmp(alias, aliases[i].alias) == 0)
      return aliases[i].id;
  return NULL;
}

static int count_colons(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == ':';
  return n;
}

bool pyr_cli_type_id_valid(const char *id) {
  int colons = count_colons(id);
  if (colons == 5) /* a trailing ":delta" is tolerated by Pyroscope */
    return strcmp(strrchr(id, ':'), ":delta") == 0 && id[0] != ':';
  /* The metric name and sample type must be present; the period parts
   * may be empty ("memory:alloc_in_new_tlab_bytes:bytes::"). */
  return colons == 4 && id[0] != ':' && strstr(id, "::") != id;
}

int pyr_cli_type_prefix(const char *id, int nparts, char *buf, size_t len) {
  const char *p = id;
  for (int i = 0; i < nparts; i++) {
    const char *c = strchr(p, ':');
    if (c == NULL) {
      if (i != nparts - 1)
        return -1;
      p += strlen(p);
      break;
    }
    p = i == nparts - 1 ? c : c + 1;
  }
  size_t n = (size_t)(p - id);
  if (n >= len)
    return -1;
  memcpy(buf, id, n);
  buf[n] = '\0';
  return 0;
}

pyr_cli_unit pyr_cli_unit_parse(const char *name) {
  if (strcmp(name, "nanoseconds") == 0 || strcmp(name, "ns") == 0)
    return PYR_CLI_UNIT_NANOS;
  if (strcmp(name, "bytes") == 0)
    return PYR_CLI_UNIT_BYTES;
  return PYR_CLI_UNIT_COUNT;
}

pyr_cli_unit pyr_cli_type_unit(const char *id) {
  char unit[64];
  const char *a = strchr(id, ':');
  const char *b = a ? strchr(a + 1, ':') : NULL;
  if (b == NULL)
    return PYR_CLI_UNIT_COUNT;
  const char *e = strchr(b + 1, ':');
  size_t n = e ? (size_t)(e - b - 1) : strlen(b + 1);
  if (n >= sizeof(unit))
    return PYR_CLI_UNIT_COUNT;
  memcpy(unit, b + 1, n);
  unit[n] = '\0';
  return pyr_cli_unit_parse(unit);
}

const char *pyr_cli_unit_name(pyr_cli_unit u) {
  switch (u) {
  case PYR_CLI_UNIT_NANOS: return "nanoseconds";
  case PYR_CLI_UNIT_BYTES: return "bytes";
  default: return "count";
  }
}

/* Three significant digits: 1.23, 12.3, 123; integers of the base unit
 * (5 ns, 512 B) as they are. */
static void fmt_sig(char *buf, size_t len, double v, const char *suffix, bool base) {
  double a = fabs(v);
  const char *sep = suffix[0] ? " " : "";
  if (a >= 99.95 || a == 0 || (base && rint(a) == a))
    snprintf(buf, len, "%.0f%s%s", v, sep, suffix);
  else if (a >= 9.995)
    snprintf(buf, len, "%.1f%s%s", v, sep, suffix);
  else
    snprintf(buf, len, "%.2f%s%s", v, sep, suffix);
}

struct scale {
  double factor; /* units of the input per one of this suffix */
  const char *suffix;
};

static void fmt_scaled(char *buf, size_t len, double v, const struct scale *s,
                       size_t n) {
  double a = fabs(v);
  size_t i = 0;
  /* Pick the largest scale that leaves at least 1; keep rounding from
   * printing "1024 KB" by moving up when it would round to the next one. */
  while (i + 1 < n && a >= s[i + 1].factor * 0.9995)
    i++;
  fmt_sig(buf, len, v / s[i].factor, s[i].suffix, i == 0);
}

static const struct scale nanos[] = {
    {1, "ns"},   {1e3, "us"},        {1e6, "ms"},
    {1e9, "s"},  {60e9, "min"},      {3600e9, "h"},
};
static const struct scale bytes[] = {
    {1, "B"},
    {1024.0, "KB"},
    {1024.0 * 1024, "MB"},
    {1024.0 * 1024 * 1024, "GB"},
    {1024.0 * 1024 * 1024 * 1024, "TB"},
};
static const struct scale counts[] = {
    {1, ""}, {1e3, "k"}, {1e6, "M"}, {1e9, "G"}, {1e12, "T"},
};

void pyr_cli_fmt_value(char *buf, size_t len, double value, pyr_cli_unit u) {
  switch (u) {
  case PYR_CLI_UNIT_NANOS:
    fmt_scaled(buf, len, value, nanos, sizeof(nanos) / sizeof(nanos[0]));
    return;
  case PYR_CLI_UNIT_BYTES:
    fmt_scaled(buf, len, value, bytes, sizeof(bytes) / sizeof(bytes[0]));
    return;
  default:
    /* Small counts are exact integers; people count them. */
    if (fabs(value) < 9999.5 && rint(value) == value)
      snprintf(buf, len, "%.0f", value);
    else
      fmt_scaled(buf, len, value, counts, sizeof(counts) / sizeof(counts[0]));
    return;
  }
}

void pyr_cli_fmt_rate(char *buf, size_t len, double per_second, pyr_cli_unit u) {
  char v[PYR_CLI_FMT_MAX];
  pyr_cli_fmt_value(v, sizeof(v), per_second, u);
  snprintf(buf, len, "%s/s", v);
}

void pyr_cli_fmt_percent(char *buf, size_t len, double part, double whole) {
  double p = whole != 0 ? 100.0 * part / whole : 0.0;
  snprintf(buf, len, "%.1f%%", p);
}

void pyr_cli_fmt_duration(char *buf, size_t len, double seconds) {
  static const struct {
    long secs;
    const char *unit;
  } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
  size_t off = 0;
  int shown = 0;
  buf[0] = '\0';
  /* At most the two largest non-zero units: "1h30m", not "1h30m12s". */
  for (size_t i = 0; i < 4 && shown < 2; i++) {
    long q = s / units[i].secs;
    if (q == 0 && !(shown == 0 && i == 3))
      continue;
    s -= q * units[i].secs;
    int w = snprintf(buf + off, len - off, "%ld%s", q, units[i].unit);
    if (w < 0 || (size_t)w >= len - off)
      return;
    off += (size_t)w;
    shown++;
    if (s == 0)
      break;
  }
}
