/*
 * test_cli_table.c - the CLI's aligned text tables (cli/table.c): exact
 * bytes of a printed table, so column alignment is asserted and not only
 * eyeballed: left columns padded to the widest cell, right columns
 * right-aligned, two spaces between columns, the last column never padded,
 * a wide cell widening its whole column, NULL cells printed empty, a table
 * with more than PYR_CLI_TABLE_MAXCOLS columns clipped.
 *
 * Threads: single-threaded (cmocka).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "table.h"

/* Prints t into a heap string (open_memstream); the caller frees it. */
static char *print_to_string(const pyr_cli_table *t, int *rc) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  *rc = pyr_cli_table_print(t, f);
  assert_int_equal(fclose(f), 0);
  return buf;
}

static void expect_table(const pyr_cli_table *t, const char *want) {
  int rc;
  char *got = print_to_string(t, &rc);
  assert_int_equal(rc, 0);
  if (strcmp(got, want) != 0)
    fail_msg("table:\n--- got ---\n%s--- want ---\n%s", got, want);
  free(got);
}

/* The layout `pyrite top` uses: four right-aligned numbers, a name. */
static void test_top_layout(void **state) {
  (void)state;
  pyr_cli_table t;
  pyr_cli_table_init(&t, "rrrrl");
  pyr_cli_table_row(&t, (const char *const[]){"SELF", "SELF%", "TOTAL", "TOTAL%", "FUNCTION"});
  pyr_cli_table_row(&t, (const char *const[]){"11.7 min", "70.0%", "11.7 min", "70.0%", "App.hot"});
  pyr_cli_table_row(&t, (const char *const[]){"5.00 s", "0.5%", "16.7 min", "100.0%", "main"});
  expect_table(&t, "    SELF  SELF%     TOTAL  TOTAL%  FUNCTION\n"
                   "11.7 min  70.0%  11.7 min   70.0%  App.hot\n"
                   "  5.00 s   0.5%  16.7 min  100.0%  main\n");
  pyr_cli_table_free(&t);
}

/* A wide cell widens its column for every row; the last column, however
 * long, adds no trailing spaces to the others. */
static void test_wide_cells(void **state) {
  (void)state;
  pyr_cli_table t;
  pyr_cli_table_init(&t, "lrl");
  pyr_cli_table_row(&t, (const char *const[]){"APP", "N", "NOTE"});
  pyr_cli_table_row(&t, (const char *const[]){"a-very-long-application-name", "1", "x"});
  pyr_cli_table_row(&t, (const char *const[]){"b", "123456", "a much longer final column"});
  pyr_cli_table_row(&t, (const char *const[]){NULL, NULL, NULL});
  expect_table(&t, "APP                                N  NOTE\n"
                   "a-very-long-application-name       1  x\n"
                   "b                             123456  a much longer final column\n"
                   "                                      \n");
  /* The rows above in numbers: column 1 is 28 wide (the long name), so
   * column 2 (6 wide, right-aligned) ends at byte 35 on every row. */
  int rc;
  char *s = print_to_string(&t, &rc);
  for (const char *line = s; *line != '\0'; line = strchr(line, '\n') + 1) {
    if (line[0] == ' ')
      break; /* the all-empty row */
    assert_true(line[35] != ' ' && line[36] == ' ' && line[37] == ' ' && line[38] != ' ');
  }
  free(s);
  pyr_cli_table_free(&t);
}

/* A left-aligned last column is not padded; a right-aligned last column is. */
static void test_last_column(void **state) {
  (void)state;
  pyr_cli_table t;
  pyr_cli_table_init(&t, "lr");
  pyr_cli_table_row(&t, (const char *const[]){"k", "1"});
  pyr_cli_table_row(&t, (const char *const[]){"key", "1000"});
  expect_table(&t, "k       1\n"
                   "key  1000\n");
  pyr_cli_table_free(&t);
  pyr_cli_table_init(&t, "ll");
  pyr_cli_table_row(&t, (const char *const[]){"k", "1"});
  pyr_cli_table_row(&t, (const char *const[]){"key", "1000"});
  expect_table(&t, "k    1\n"
                   "key  1000\n");
  pyr_cli_table_free(&t);
}

/* Empty tables print nothing; too many columns are clipped. */
static void test_edges(void **state) {
  (void)state;
  pyr_cli_table t;
  pyr_cli_table_init(&t, "ll");
  expect_table(&t, "");
  pyr_cli_table_free(&t);
  pyr_cli_table_init(&t, "llllllllllllllll"); /* 16 > PYR_CLI_TABLE_MAXCOLS */
  assert_int_equal(t.ncols, PYR_CLI_TABLE_MAXCOLS);
  const char *cells[PYR_CLI_TABLE_MAXCOLS];
  for (size_t i = 0; i < PYR_CLI_TABLE_MAXCOLS; i++)
    cells[i] = "c";
  pyr_cli_table_row(&t, cells);
  int rc;
  char *s = print_to_string(&t, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(strlen(s), PYR_CLI_TABLE_MAXCOLS * 3 - 2 + 1); /* c, 2 spaces, ..., \n */
  free(s);
  pyr_cli_table_free(&t);
}

/* Many rows (past the initial capacity) keep their order and alignment. */
static void test_growth(void **state) {
  (void)state;
  pyr_cli_table t;
  pyr_cli_table_init(&t, "rl");
  char num[16], name[16];
  for (int i = 0; i < 100; i++) {
    snprintf(num, sizeof(num), "%d", i * i);
    snprintf(name, sizeof(name), "f%d", i);
    pyr_cli_table_row(&t, (const char *const[]){num, name});
  }
  assert_int_equal(t.nrows, 100);
  int rc;
  char *s = print_to_string(&t, &rc);
  /* 99*99 = 9801 is the widest: every line is "%4s  f<i>\n". */
  const char *line = s;
  for (int i = 0; i < 100; i++) {
    char want[32];
    snprintf(want, sizeof(want), "%4d  f%d\n", i * i, i);
    assert_memory_equal(line, want, strlen(want));
    line += strlen(want);
  }
  assert_int_equal(*line, '\0');
  free(s);
  pyr_cli_table_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_top_layout),
      cmocka_unit_test(test_wide_cells),
      cmocka_unit_test(test_last_column),
      cmocka_unit_test(test_edges),
      cmocka_unit_test(test_growth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
