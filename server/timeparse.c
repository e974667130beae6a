/*
 * timeparse.c - Pyroscope time expressions (see timeparse.h for the
 * grammar).  The odd corners (8-digit dates, digit-count heuristics,
 * "reference is always now", unknown units worth 0, overflowing numbers
 * read as 0) deliberately mirror Pyroscope so that scripts written against
 * it get the same instants here.
 *
 * Threads: pure functions over caller memory.
 *
 * Invariants: never reads past the NUL of the input; the working copy is
 * bounded by PYR_TIME_MAX_INPUT; arithmetic saturates instead of wrapping.
 */
#include "timeparse.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#define NS_PER_S INT64_C(1000000000)

int64_t pyr_time_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

static int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    return ((a < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
  return r;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil, valid far beyond the years accepted here). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned dm[12] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return 29;
  return dm[m - 1];
}

/* Value of n decimal digits at s; -1 if any is not a digit. */
static int64_t digits(const char *s, size_t n) {
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(s[i]))
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM); returns true and sets
 * *out on a full match. */
static bool parse_rfc3339(const char *s, size_t len, int64_t *out) {
  if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':')
    return false;
  int64_t y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
  int64_t h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 ||
      d > (int64_t)days_in_month(y, (unsigned)mo) || h < 0 || h > 23 ||
      mi < 0 || mi > 59 || se < 0 || se > 60)
    return false;
  size_t i = 19;
  int64_t frac_ns = 0;
  if (i < len && s[i] == '.') {
    i++;
    size_t nd = 0;
    int64_t scale = NS_PER_S;
    while (i < len && is_digit(s[i])) {
      if (nd < 9) {
        scale /= 10;
        frac_ns += (s[i] - '0') * scale;
      }
      nd++;
      i++;
    }
    if (nd == 0)
      return false;
  }
  int64_t off_s = 0;
  if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int64_t oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59)
      return false;
    off_s = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return false;
  }
  if (i != len)
    return false;
  int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                 h * 3600 + mi * 60 + se - off_s;
  *out = sat_add(sat_mul(secs, NS_PER_S), frac_ns);
  return true;
}

/* Seconds per unit, chosen by prefix exactly as Pyroscope does. */
static int64_t unit_seconds(const char *u, size_t n) {
  if (n >= 1 && u[0] == 's')
    return 1;
  if ((n >= 3 && memcmp(u, "mon", 3) == 0) || (n >= 1 && u[0] == 'M'))
    return 86400 * 30;
  if (n >= 1 && u[0] == 'm') /* "min" and "m" */
    return 60;
  if (n >= 1 && u[0] == 'h')
    return 3600;
  if (n >= 1 && u[0] == 'd')
    return 86400;
  if (n >= 1 && u[0] == 'w')
    return 86400 * 7;
  if (n >= 1 && u[0] == 'y')
    return 86400 * 365;
  return 0;
}

/* "<sign><int><unit><int><unit>..." -> signed nanoseconds. */
static int64_t parse_offset(const char *s, size_t len) {
  int64_t sign = 1, total = 0;
  size_t i = 0;
  if (len == 0)
    return 0;
  if (s[0] == '-') {
    sign = -1;
    i++;
  } else if (s[0] == '+') {
    i++;
  }
  while (i < len) {
    int64_t num = 0;
    bool overflow = false;
    while (i < len && is_digit(s[i])) {
      if (!overflow && (__builtin_mul_overflow(num, 10, &num) ||
                        __builtin_add_overflow(num, s[i] - '0', &num)))
        overflow = true;
      i++;
    }
    if (overflow) /* Go's Atoi fails and yields 0 */
      num = 0;
    size_t ustart = i;
    while (i < len && !is_digit(s[i]))
      i++;
    int64_t secs = sat_mul(num, unit_seconds(s + ustart, i - ustart));
    total = sat_add(total, sat_mul(sat_mul(secs, sign), NS_PER_S));
  }
  return total;
}

int pyr_time_parse(const char *s, int64_t now_ns, int64_t *out_ns) {
  char buf[PYR_TIME_MAX_INPUT + 1];
  size_t n = 0;

  if (s == NULL)
    return -1;
  for (const char *p = s; *p != '\0'; p++) {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '_' ||
        *p == ',')
      continue;
    if (n >= PYR_TIME_MAX_INPUT)
      return -1;
    buf[n++] = *p;
  }
  buf[n] = '\0';

  bool all_digits = n > 0;
  for (size_t i = 0; i < n && all_digits; i++)
    all_digits = is_digit(buf[i]);

  if (all_digits) {
    if (n == 8) {
      int64_t y = digits(buf, 4), m = digits(buf + 4, 2), d = digits(buf + 6, 2);
      if (y > 1900 && m >= 1 && m <= 12 && d >= 1 &&
          d <= (int64_t)days_in_month(y, (unsigned)m)) {
        /* Years past 2262 overflow int64 ns: saturate (found by
         * tests/fuzz/fuzz_timeparse.c, "24240126" was signed overflow). */
        *out_ns = sat_mul(days_from_civil(y, (unsigned)m, (unsigned)d) * 86400, NS_PER_S);
        return 0;
      }
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
      if (__builtin_mul_overflow(v, 10, &v) ||
          __builtin_add_overflow(v, buf[i] - '0', &v)) {
        v = 0; /* Go's Atoi fails and yields 0 */
        break;
      }
    }
    switch (n) {
    case 13:
      *out_ns = sat_mul(v, 1000000);
      break;
    case 16:
      *out_ns = sat_mul(v, 1000);
      break;
    case 19:
      *out_ns = v;
      break;
    default:
      *out_ns = sat_mul(v, NS_PER_S);
      break;
    }
    return 0;
  }

  if (parse_rfc3339(buf, n, out_ns))
    return 0;

  /* <ref><offset>: the offset starts at the first '+', else the first '-'. */
  const char *sign = strchr(buf, '+');
  if (sign == NULL)
    sign = strchr(buf, '-');
  int64_t off = sign ? parse_offset(sign, n - (size_t)(sign - buf)) : 0;
  *out_ns = sat_add(now_ns, off);
  return 0;
}
