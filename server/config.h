/*
 * config.h - pyrited command-line configuration.
 *
 * What: the server's settings and the parser that fills them from argv.
 * Parsing is pure (no I/O, no globals, no getopt state), so it is unit-tested
 * directly (tests/unit/test_server_config.c) and can be called repeatedly.
 *
 * Threads: parsed once by main() before any thread starts; afterwards the
 * struct is read-only and may be shared freely.
 *
 * Invariants after PYR_SRV_CFG_OK: listen_host is non-empty and NUL-terminated
 * (brackets of an IPv6 literal removed), listen_port is 0..65535 (0 = let the
 * kernel pick), data_dir is non-empty, threads is 0 (= one per online CPU) or
 * 1..PYR_SRV_MAX_THREADS.
 */
#ifndef PYRITE_SERVER_CONFIG_H
#define PYRITE_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define PYR_SRV_DEFAULT_HOST "127.0.0.1"
#define PYR_SRV_DEFAULT_PORT 4040
#define PYR_SRV_DEFAULT_DATA_DIR "./pyrite-data"
#define PYR_SRV_MAX_THREADS 256
#define PYR_SRV_HOST_MAX 256   /* bytes, including the NUL */
#define PYR_SRV_PATH_MAX 4096  /* bytes, including the NUL */
#define PYR_SRV_ERR_MAX 256    /* size of error-message buffers */

struct pyr_srv_config {
  char listen_host[PYR_SRV_HOST_MAX];
  uint16_t listen_port;
  char data_dir[PYR_SRV_PATH_MAX];
  unsigned threads;          /* HTTP worker threads; 0 = one per CPU */
  unsigned drain_timeout_ms; /* grace period for in-flight requests on stop */
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
 * Splits a listen address: "HOST:PORT", "[IPV6]:PORT" or ":PORT" (= all IPv4
 * interfaces, 0.0.0.0).  HOST is copied without brackets into host.  Returns 0,
 * or -1 with a message in err.  No name resolution happens here.
 */
int pyr_srv_parse_listen(const char *s, char *host, size_t hostlen,
                         uint16_t *port, char *err, size_t errlen);

/* The --help text (static, ends with a newline). */
const char *pyr_srv_config_usage(void);

#endif /* PYRITE_SERVER_CONFIG_H */
