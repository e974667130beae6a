/*
 * options.h - the agent's configuration: parsing and validation.
 *
 * Sources, highest precedence first: the -agentpath option string
 * (key=value pairs separated by ','), PYRITE_<KEY> environment variables,
 * then the Pyroscope Java agent's PYROSCOPE_* variables, so users can switch
 * agents without rewriting their configuration.  Parsing is pure (the
 * environment lookup is injected) so it is unit-tested without a JVM.
 *
 * Threads: parsed once in Agent_OnLoad; read-only afterwards.
 * Invariant: a successfully parsed pyr_options is fully validated; any
 * problem yields one message naming the key and value, and the caller turns
 * profiling off instead of failing the JVM.
 */
#ifndef PYRITE_OPTIONS_H
#define PYRITE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PYR_MAX_LABELS 32
#define PYR_MAX_HEADERS 16
#define PYR_OPT_STR_MAX 1024

enum pyr_cpu_engine {
  PYR_ENGINE_ITIMER = 0, /* setitimer(ITIMER_PROF): one process-wide timer */
  PYR_ENGINE_CPU = 1,    /* per-thread CPU-clock timers (timer_create) */
  PYR_ENGINE_NONE = 2,
};

/* The Pyroscope Java agent passes PYROSCOPE_PROFILER_EVENT straight to
 * async-profiler as its main event, so `wall`, `alloc` and `lock` there mean
 * "profile only that" (no CPU sampling).  Options remember which one was
 * asked for and resolve it after every source is applied. */
enum pyr_event_mode {
  PYR_EVMODE_CPU = 0,   /* itimer, cpu or none: `event` is the CPU engine */
  PYR_EVMODE_WALL = 1,  /* wall-clock only, at `interval` unless wall= is set */
  PYR_EVMODE_ALLOC = 2, /* allocations only, 512 KiB unless alloc= is set */
  PYR_EVMODE_LOCK = 3,  /* lock contention only, 10 us unless lock= is set */
};

/* async-profiler's defaults for event=alloc / event=lock (arguments.h). */
#define PYR_EVENT_ALLOC_DEFAULT (512u * 1024u)
#define PYR_EVENT_LOCK_DEFAULT_NS 10000u

typedef struct pyr_label {
  char *key;
  char *value;
} pyr_label;

typedef struct pyr_options {
  enum pyr_cpu_engine event;
  int event_mode;         /* enum pyr_event_mode: what `event` asked for */
  uint64_t interval_ns;   /* CPU sampling period */
  uint64_t wall_ns;       /* 0 = wall-clock sampling off */
  uint64_t alloc_bytes;   /* 0 = allocation sampling off */
  uint64_t lock_ns;       /* UINT64_MAX = lock profiling off */
  uint64_t upload_ns;     /* period of one JFR chunk / upload */
  uint32_t jstackdepth;
  int log_level;          /* enum pyr_log_level */
  char *file;             /* JFR output path or NULL */
  char *cacert;           /* PEM CA bundle for https uploads, NULL = system store */
  char *server;           /* base URL or NULL */
  char *app;              /* application name */
  char *auth_token, *basic_user, *basic_password, *tenant;
  size_t nlabels;
  pyr_label labels[PYR_MAX_LABELS];
  size_t nheaders;                   /* extra HTTP headers for uploads */
  pyr_label headers[PYR_MAX_HEADERS];
  int enabled;                       /* 0: the agent does nothing at all */
} pyr_options;

#define PYR_LOCK_OFF UINT64_MAX

typedef const char *(*pyr_getenv_fn)(const char *name);

/* Parses `optstr` (may be NULL or empty) with environment fallbacks looked up
 * through `getenv_fn` (may be NULL: no environment).  Returns 0 on success;
 * on error returns -1 and writes one human-readable line to err. */
int pyr_options_parse(pyr_options *o, const char *optstr, pyr_getenv_fn getenv_fn,
                      char *err, size_t errlen);
void pyr_options_free(pyr_options *o);

/* "10ms", "250us", "2s", "1m", "1h", "100ns"; a bare number is ns. */
int pyr_parse_duration(const char *s, uint64_t *out_ns);
/* "512k", "1m", "2g", "4096", "64kb"; powers of 1024; bare number = bytes. */
int pyr_parse_bytes(const char *s, uint64_t *out);

#endif
