/*
 * table.h - plain aligned text tables for the CLI's human output.
 *
 * Threads: single-threaded.
 *
 * Invariants: cells are copied; a table owns its memory until freed.
 * Column widths count bytes, so names stay aligned for ASCII (JVM frame
 * names are ASCII in practice); the last column is never padded.
 */
#ifndef PYRITE_CLI_TABLE_H
#define PYRITE_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PYR_CLI_TABLE_MAXCOLS 12

typedef struct pyr_cli_table {
  size_t ncols;
  bool right[PYR_CLI_TABLE_MAXCOLS]; /* right-aligned (numbers) */
  char **cells;                      /* nrows * ncols */
  size_t nrows, cap;
  bool oom;
} pyr_cli_table;

/* align: one char per column, 'l' or 'r'. */
void pyr_cli_table_init(pyr_cli_table *t, const char *align);

/* Appends a row of t->ncols cells (NULL prints as empty). */
void pyr_cli_table_row(pyr_cli_table *t, const char *const *cells);

/* Prints every row, columns separated by two spaces.  Returns -1 if a row
 * was lost to out-of-memory, else 0. */
int pyr_cli_table_print(const pyr_cli_table *t, FILE *out);

void pyr_cli_table_free(pyr_cli_table *t);

#endif /* PYRITE_CLI_TABLE_H */
