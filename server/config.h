/*
 * config.h - pyrited command-line configuration.
 *
 * What: the server's settings and the parser that fills them from argv and,
 * with --config FILE, from a file of `key = value` lines (keys are the flag
 * names without "--"; flags on the command line override the file).
 * Parsing keeps no globals or getopt state; the only I/O is reading the
 * --config file.  It is unit-tested directly (tests/unit/test_server_config.c)
 * and can be called repeatedly.
 *
 * Threads: parsed once by main() before any thread starts; afterwards the
 * struct is read-only and may be shared freely.
 *
 * Invariants after PYR_SRV_CFG_OK: listen_host is non-empty and NUL-terminated
 * (brackets of an IPv6 literal removed), listen_port is 0..65535 (0 = let the
 * kernel pick), data_dir is non-empty, threads is 0 (= one per online CPU) or
 * 1..PYR_SRV_MAX_THREADS, size limits are > 0, max_labels is
 * 1..PYR_SRV_MAX_LABELS.
 */
#ifndef PYRITE_SERVER_CONFIG_H
#define PYRITE_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

#define PYR_SRV_DEFAULT_HOST "127.0.0.1"
#define PYR_SRV_DEFAULT_PORT 4040
#define PYR_SRV_DEFAULT_DATA_DIR "./pyrite-data"
#define PYR_SRV_MAX_THREADS 256
#define PYR_SRV_HOST_MAX 256   /* bytes, including the NUL */
#define PYR_SRV_PATH_MAX 4096  /* bytes, including the NUL */
#define PYR_SRV_ERR_MAX 256    /* size of error-message buffers */
#define PYR_SRV_MAX_WORKERS 1024
/* Storage allows 64 labels per series; 6 private ones are added. */
#define PYR_SRV_MAX_LABELS 58

#define PYR_SRV_DEFAULT_MAX_BODY (UINT64_C(256) << 20)
#define PYR_SRV_DEFAULT_MAX_DECOMPRESSED (UINT64_C(64) << 20)
#define PYR_SRV_DEFAULT_RETENTION_NS (INT64_C(7) * 86400 * 1000000000)

struct pyr_srv_config {
  char listen_host[PYR_SRV_HOST_MAX];
  uint16_t listen_port;
  char data_dir[PYR_SRV_PATH_MAX];
  unsigned threads;          /* HTTP worker threads; 0 = one per CPU */
  unsigned drain_timeout_ms; /* grace period for in-flight requests on stop */

  /* Ingest limits. */
  uint64_t max_body_bytes;         /* request body as received -> 413 */
  uint64_t max_decompressed_bytes; /* each decompressed payload -> 413 */
  unsigned max_labels;             /* per series, private labels excluded */
  unsigned max_label_name_len;
  unsigned max_label_value_len;
  unsigned ingest_workers;         /* decode+store threads; 0 = auto */
  unsigned ingest_queue;           /* uploads waiting for a worker -> 503 */

  /* Storage, passed through to store.h. */
  int64_t retention_ns;            /* 0 = keep forever */
  uint64_t max_disk_bytes;         /* 0 = no limit */
  bool sync_normal;                /* --durability normal: survives kill -9,
                                    * not power loss */
  bool startup_check_quick;        /* --startup-check quick (default) or basic */

  /* Connection bounds (slow or abusive clients; docs/reliability.md). */
  unsigned connection_timeout_s;   /* idle connection closed after this */
  unsigned max_connections;        /* 0 = from the file-descriptor limit */
  unsigned max_connections_per_ip; /* 0 = no per-address limit */
  uint64_t connection_memory;      /* per connection: headers, URL, buffer */

  /* Browser-borne requests (server/origin.h): extra names accepted in the
   * Host header; "" = loopback names only when listening on loopback. */
  char allowed_hosts[PYR_SRV_HOST_MAX * 4];

  pyr_auth auth;
  char config_file[PYR_SRV_PATH_MAX]; /* "" when none */
};

/* Outcome of pyr_srv_config_parse(). */
enum pyr_srv_cfg_rc {
  PYR_SRV_CFG_OK = 0,   /* run the server */
  PYR_SRV_CFG_HELP,     /* --help given: print pyr_srv_config_usage(), exit 0 */
  PYR_SRV_CFG_VERSION,  /* --version given: print the version, exit 0 */
  PYR_SRV_CFG_ERR,      /* bad command line: err holds one line, exit 2 */
};

/* Fills cfg with the defaults. */
void pyr_srv_config_defaults(struct pyr_srv_config *cfg);

/*
 * Parses argv[1..argc-1] into cfg (which it first resets to the defaults).
 * Accepts "--flag VALUE" and "--flag=VALUE".  On PYR_SRV_CFG_ERR, writes a
 * one-line message without trailing newline (e.g. "unknown flag '--x'") into
 * err[0..errlen-1]; cfg is then unspecified.
 */
enum pyr_srv_cfg_rc pyr_srv_config_parse(struct pyr_srv_config *cfg, int argc,
                                         char *const argv[], char *err,
                                         size_t errlen);

/*
 * Applies one setting (`key` is a flag name without "--", e.g.
 * "max-body-bytes"), as if given on the command line.  value may be NULL
 * for boolean flags.  Returns 0, or -1 with a message in err.
 */
int pyr_srv_config_set(struct pyr_srv_config *cfg, const char *key,
                       const char *value, char *err, size_t errlen);

/*
 * Applies the `key = value` (or `key: value`) lines of text; '#' starts a
 * comment, blank lines are ignored, values may be double-quoted.  `origin`
 * names the source in messages ("pyrited.conf:12: ...").  Returns 0 or -1.
 */
int pyr_srv_config_load_text(struct pyr_srv_config *cfg, const char *text,
                             const char *origin, char *err, size_t errlen);

/* Sizes: "1048576", "64k", "64KiB", "256MB", "1g" (suffixes are powers of
 * 1024).  Durations: "90s", "15m", "12h", "7d", "2w", "500ms", bare number
 * = seconds, "0" = zero.  Return 0 or -1. */
int pyr_srv_parse_size(const char *s, uint64_t *out);
int pyr_srv_parse_duration(const char *s, int64_t *out_ns);

/*
 * Splits a listen address: "HOST:PORT", "[IPV6]:PORT" or ":PORT" (= all IPv4
 * interfaces, 0.0.0.0).  HOST is copied without brackets into host.  Returns 0,
 * or -1 with a message in err.  No name resolution happens here.
 */
int pyr_srv_parse_listen(const char *s, char *host, size_t hostlen,
                         uint16_t *port, char *err, size_t errlen);

/* The --help text (static, ends with a newline). */
const char *pyr_srv_config_usage(void);

#endif /* PYRITE_SERVER_CONFIG_H */
