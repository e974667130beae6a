/*
 * html.h - `pyrite render` output: a standalone HTML flame graph (inline
 * CSS and JS, no network) and the escaping that keeps frame names inert.
 *
 * Threads: pure functions plus writes to a caller's FILE.
 *
 * Invariants: nothing taken from the server reaches the page except as
 * JSON inside a <script type="application/json"> block in which '<', '>'
 * and '&' are \u-escaped (so "</script>" or "<!--" in a frame name cannot
 * end the block), or as HTML-escaped text.
 */
#ifndef PYRITE_CLI_HTML_H
#define PYRITE_CLI_HTML_H

#include <jansson.h>
#include <stdio.h>

#include "flame.h"
#include "units.h"

/*
 * Serialises v compactly and ASCII-only with '<', '>', '&' (and U+2028/9,
 * already covered by ASCII-only output) as \uXXXX escapes: safe to place
 * between <script> tags and still valid JSON.  Returns a malloc'd string
 * or NULL (out of memory).
 */
char *pyr_cli_json_for_script(const json_t *v);

/* Writes s with &, <, >, " and ' replaced by entities. */
void pyr_cli_html_escape(FILE *out, const char *s);

/*
 * Writes the whole page: title (e.g. "orders - process_cpu:cpu:..."),
 * subtitle (range text), the flame graph of f with values in `unit`, and a
 * table of the top functions.  Returns 0, or -1 (out of memory or a write
 * error).
 */
int pyr_cli_html_write(FILE *out, const pyr_cli_flame *f, const char *title,
                       const char *subtitle, pyr_cli_unit unit);

#endif /* PYRITE_CLI_HTML_H */
