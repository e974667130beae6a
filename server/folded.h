/*
 * folded.h - the legacy text ingest formats of POST /ingest and the legacy
 * app-name suffix table that picks their profile type.
 *
 * Formats (pyroscope-api.md §1.2):
 *   - folded / collapsed ("groups", the default format): one stack per
 *     line, `root;frame;...;leaf <count>`, split at the LAST space; lines
 *     without a space are skipped; a count that is not a non-negative
 *     integer is an error;
 *   - lines: one stack per line, each line counts 1.
 * A trailing CR is stripped from every line; empty lines are skipped.
 * Frames are taken verbatim (no line numbers).
 *
 * Legacy type selection (§1.6): the app name `foo.bar.suffix` is split at
 * its last dot; the suffix selects __name__ and the sample type (no dot =
 * cpu); an unknown suffix is an error.  For cpu/wall, counts are samples
 * scaled by the period 1e9/sampleRate into nanoseconds, with period type
 * cpu/nanoseconds; other legacy types have no period type (ids end "::").
 *
 * Threads: pure functions; the profile is owned by the caller.
 */
#ifndef PYRITE_SERVER_FOLDED_H
#define PYRITE_SERVER_FOLDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

/*
 * Resolves the app name's suffix.  On success returns 0, sets *app_len to
 * the length of the app name without the suffix, and fills *type (one value
 * column, period set from sample_rate for cpu/wall).  Returns -1 with a
 * message ("unknown profile type: x") otherwise.
 */
int pyr_legacy_type(const char *app, size_t *app_len, uint32_t sample_rate,
                    pyr_prof_type *type, char *err, size_t errlen);

/*
 * Adds every stack of text[0..len) to prof (value column 0, no sample
 * labels), multiplying counts by scale.  lines selects the "lines" format.
 * Returns 0, PYR_PROF_EINVAL with a message for malformed input, or
 * PYR_PROF_ELIMIT / PYR_PROF_ENOMEM from the profile.
 * *nstacks (optional) counts the lines added.
 */
int pyr_folded_parse(const char *text, size_t len, bool lines, int64_t scale,
                     pyr_prof *prof, size_t *nstacks, char *err,
                     size_t errlen);

#endif /* PYRITE_SERVER_FOLDED_H */
