/*
 * log.c - the agent's leveled logger (see log.h).
 *
 * One fprintf per line so concurrent lines do not interleave mid-line
 * (stdio locks the stream for the call).  The default level is warn, so a
 * healthy agent prints nothing.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic int log_level = PYR_LOG_WARN;

static const char *const level_names[] = {"off", "error", "warn", "info", "debug"};

void pyr_log_set_level(enum pyr_log_level level) {
  atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum pyr_log_level pyr_log_get_level(void) {
  return (enum pyr_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int pyr_log_enabled(enum pyr_log_level level) {
  return level != PYR_LOG_OFF && (int)level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void pyr_log(enum pyr_log_level level, const char *fmt, ...) {
  char line[4096]; /* the exit stats line is long */
  va_list ap;

  if (!pyr_log_enabled(level))
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "[pyrite] %s: %s\n", level_names[level], line);
}

int pyr_log_parse_level(const char *s) {
  for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
    if (strcmp(s, level_names[i]) == 0)
      return i;
  if (strcmp(s, "warning") == 0)
    return PYR_LOG_WARN;
  if (strcmp(s, "trace") == 0)
    return PYR_LOG_DEBUG;
  return -1;
}
