/*
 * timeparse.h - Pyroscope's time syntax for `from`/`until` parameters
 * (pyroscope-api.md §6.4), used by /ingest and, later, the query endpoints.
 *
 * Accepted forms, after removing spaces, tabs, '_' and ',':
 *   - all digits: 8 digits forming a valid date -> YYYYMMDD (UTC midnight);
 *     13 digits -> epoch ms; 16 -> epoch µs; 19 -> epoch ns; any other
 *     length -> epoch seconds;
 *   - RFC 3339, e.g. 2024-01-26T10:04:40Z or ...+02:00, optional fraction
 *     (an extension: Pyroscope would read it as "now" minus nonsense);
 *   - otherwise <ref>[+|-]<offset>: the reference is always "now" (the text
 *     before the first '+', else the first '-', is ignored, so `now`,
 *     `now-1h`, `-1h` all work) and the offset is a run of <int><unit>
 *     groups; units by prefix: s, min/m, h, d, w, mon/M (30 d), y (365 d);
 *     an unknown unit counts 0.  Nothing else is an error, as in Pyroscope.
 *
 * Threads: pure functions.
 */
#ifndef PYRITE_SERVER_TIMEPARSE_H
#define PYRITE_SERVER_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest accepted input; longer strings are rejected (they can only be
 * garbage and would otherwise cost a copy). */
#define PYR_TIME_MAX_INPUT 128

/*
 * Parses s relative to now_ns (ns since the Unix epoch) into *out_ns.
 * Returns 0, or -1 if s is NULL or longer than PYR_TIME_MAX_INPUT.  Values
 * that overflow int64 nanoseconds saturate.
 */
int pyr_time_parse(const char *s, int64_t now_ns, int64_t *out_ns);

/* Current wall-clock time, ns since the Unix epoch. */
int64_t pyr_time_now_ns(void);

#endif /* PYRITE_SERVER_TIMEPARSE_H */
