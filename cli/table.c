/*
 * table.c - aligned text tables (see table.h).
 *
 * Threads: single-threaded.
 *
 * Invariants: t->cells holds nrows * ncols owned strings; an allocation
 * failure sets t->oom and drops that row instead of printing a partial one.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

void pyr_cli_table_init(pyr_cli_table *t, const char *align) {
  memset(t, 0, sizeof(*t));
  t->ncols = strlen(align);
  if (t->ncols > PYR_CLI_TABLE_MAXCOLS)
    t->ncols = PYR_CLI_TABLE_MAXCOLS;
  for (size_t i = 0; i < t->ncols; i++)
    t->right[i] = align[i] == 'r';
}

void pyr_cli_table_row(pyr_cli_table *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 32;
    char **c = realloc(t->cells, cap * t->ncols * sizeof(char *));
    if (c == NULL) {
      t->oom = true;
      return;
    }
    t->cells = c;
    t->cap = cap;
  }
  char **row = &t->cells[t->nrows * t->ncols];
  for (size_t i = 0; i < t->ncols; i++) {
    row[i] = strdup(cells[i] ? cells[i] : "");
    if (row[i] == NULL) {
      for (size_t k = 0; k < i; k++)
        free(row[k]);
      t->oom = true;
      return;
    }
  }
  t->nrows++;
}

int pyr_cli_table_print(const pyr_cli_table *t, FILE *out) {
  size_t width[PYR_CLI_TABLE_MAXCOLS] = {0};
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t c = 0; c < t->ncols; c++) {
      size_t w = strlen(t->cells[r * t->ncols + c]);
      if (w > width[c])
        width[c] = w;
    }
  for (size_t r = 0; r < t->nrows; r++) {
    for (size_t c = 0; c < t->ncols; c++) {
      const char *cell = t->cells[r * t->ncols + c];
      bool last = c + 1 == t->ncols;
      if (c > 0)
        fputs("  ", out);
      if (t->right[c])
        fprintf(out, "%*s", (int)width[c], cell);
      else if (last)
        fputs(cell, out);
      else
        fprintf(out, "%-*s", (int)width[c], cell);
    }
    fputc('\n', out);
  }
  return t->oom ? -1 : 0;
}

void pyr_cli_table_free(pyr_cli_table *t) {
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof(*t));
}
