/*
 * convert.h - `pyrite convert`: a JFR recording -> one collapsed-stack file
 * per profile, parsed exactly as pyrited parses an /ingest?format=jfr
 * upload (DESIGN §3.4).
 *
 * Threads: single-threaded.
 */
#ifndef PYRITE_CLI_CONVERT_H
#define PYRITE_CLI_CONVERT_H

#include <stddef.h>

#include "profile.h"

/* argv[0] is "convert".  Exit codes: 0 ok, 1 failure, 2 usage. */
int pyr_cli_convert(int argc, char **argv);

/* The collapsed-lines text of profile p (DESIGN §3.4): one line per
 * distinct stack, root first, "name:line" joined by ';', a space, the
 * values as "[v1 v2]"; lines sorted bytewise; equal stacks summed; all-zero
 * stacks omitted; no trailing newline.  Returns a malloc'd buffer (*len set)
 * or NULL on out-of-memory. */
char *pyr_cli_collapsed(const pyr_prof *p, size_t *len);

/* "<metric>_<type>__<unit>[,<type>__<unit>...]" for p into buf. */
int pyr_cli_profile_file_name(const pyr_prof *p, char *buf, size_t len);

#endif
