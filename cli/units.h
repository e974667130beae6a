/*
 * units.h - profile type ids, the CLI's type aliases and human-readable
 * values (`12.3 ms`, `1.50 MB`, `12.3 k`) for `pyrite top/diff/bottleneck`.
 *
 * Threads: pure functions over caller memory.
 *
 * Invariants: every formatter writes a NUL-terminated string that fits the
 * caller's buffer (truncating if it must) and never allocates.
 */
#ifndef PYRITE_CLI_UNITS_H
#define PYRITE_CLI_UNITS_H

#include <stdbool.h>
#include <stddef.h>

/* The value kinds the formatters know; anything else prints as a count. */
typedef enum pyr_cli_unit {
  PYR_CLI_UNIT_COUNT = 0,
  PYR_CLI_UNIT_NANOS,
  PYR_CLI_UNIT_BYTES,
} pyr_cli_unit;

/* Room for any formatted value, rate or percentage. */
#define PYR_CLI_FMT_MAX 32

/*
 * The profile type id an alias stands for (cpu, alloc, lock, wall, and a
 * few more listed in docs/cli.md), or NULL if `alias` is not one.
 */
const char *pyr_cli_type_alias(const char *alias);

/* True if id has the five colon-separated parts of a profile type id
 * (pyroscope-api.md §3; a sixth ":delta" part is tolerated). */
bool pyr_cli_type_id_valid(const char *id);

/*
 * Copies the first `nparts` colon-separated parts of id (with their
 * separators, without a trailing one) into buf: 3 gives the
 * "name:sample_type:sample_unit" key used to match a type ingested with a
 * different period (folded uploads end in "::" or "cpu:nanoseconds").
 * Returns 0, or -1 if id has fewer parts or buf is too small.
 */
int pyr_cli_type_prefix(const char *id, int nparts, char *buf, size_t len);

/* The unit of a profile type id's sample (its third part). */
pyr_cli_unit pyr_cli_type_unit(const char *id);

/* A unit name as a server reports it ("nanoseconds", "bytes", "count"...). */
pyr_cli_unit pyr_cli_unit_parse(const char *name);

/* "nanoseconds" / "bytes" / "count", for JSON output. */
const char *pyr_cli_unit_name(pyr_cli_unit u);

/*
 * value in unit u, three significant digits with a unit suffix:
 * nanoseconds -> ns, us, ms, s, min, h; bytes -> B, KB, MB, GB, TB
 * (powers of 1024, as Pyroscope's UI); counts -> plain up to 9999, then
 * k, M, G.  Negative values keep their sign.
 */
void pyr_cli_fmt_value(char *buf, size_t len, double value, pyr_cli_unit u);

/* Like pyr_cli_fmt_value with "/s" appended (a per-second rate). */
void pyr_cli_fmt_rate(char *buf, size_t len, double per_second, pyr_cli_unit u);

/* part/whole as "12.3%" ("0.0%" when whole is 0). */
void pyr_cli_fmt_percent(char *buf, size_t len, double part, double whole);

/* A duration in seconds as "15m", "1h30m", "45s", "2d3h". */
void pyr_cli_fmt_duration(char *buf, size_t len, double seconds);

#endif /* PYRITE_CLI_UNITS_H */
