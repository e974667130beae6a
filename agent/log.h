/*
 * log.h - the agent's leveled logger.
 *
 * Every line goes to stderr as "[pyrite] <level>: <message>".  Never call it
 * from a signal handler (it uses stdio); handlers count instead.  Threads:
 * any non-signal thread; the level is a relaxed atomic.
 */
#ifndef PYRITE_LOG_H
#define PYRITE_LOG_H

enum pyr_log_level {
  PYR_LOG_OFF = 0,
  PYR_LOG_ERROR = 1,
  PYR_LOG_WARN = 2,
  PYR_LOG_INFO = 3,
  PYR_LOG_DEBUG = 4,
};

void pyr_log_set_level(enum pyr_log_level level);
enum pyr_log_level pyr_log_get_level(void);
int pyr_log_enabled(enum pyr_log_level level);
void pyr_log(enum pyr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parses "error", "warn", "info", "debug", "off"; returns -1 if unknown. */
int pyr_log_parse_level(const char *s);

#define pyr_error(...) pyr_log(PYR_LOG_ERROR, __VA_ARGS__)
#define pyr_warn(...) pyr_log(PYR_LOG_WARN, __VA_ARGS__)
#define pyr_info(...) pyr_log(PYR_LOG_INFO, __VA_ARGS__)
#define pyr_debug(...) pyr_log(PYR_LOG_DEBUG, __VA_ARGS__)

#endif
