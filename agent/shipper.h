/*
 * shipper.h - sends finished JFR chunks to a Pyroscope-compatible server.
 *
 * The aggregator hands each period's gzipped chunk to pyr_shipper_submit()
 * (never blocks: a bounded queue that drops the oldest).  One sender
 * pthread, created once, POSTs them with libcurl exactly like the Pyroscope
 * Java agent: /ingest?name=app{labels}&from&until&sampleRate&spyName=javaspy
 * &format=jfr, multipart/form-data with a `jfr` file part and, when the
 * window used dynamic labels, a `labels` file part (gzipped LabelsSnapshot).
 *
 * Failure policy: connect/total timeouts; retries with full-jitter
 * exponential backoff (1 s .. 30 s, at most max_tries) only for network
 * errors, 429 and 5xx; other statuses, TLS verification failures and bad
 * URLs drop the upload after one attempt (counted as rejected).  HTTPS uses
 * the system CA store, or the PEM file of cacert=/PYRITE_CA_FILE; proxies
 * come from libcurl's usual variables (http_proxy, https_proxy, no_proxy).  One log line when
 * the server becomes unreachable, one when uploads succeed again.  The
 * number of threads and the memory used never grow with the outage.
 *
 * Threads: submit from the aggregator (or VMDeath); the sender thread owns
 * the curl handle; stats from anyone.
 */
#ifndef PYRITE_SHIPPER_H
#define PYRITE_SHIPPER_H

#include "options.h"

#include <stddef.h>
#include <stdint.h>

#define PYR_SHIPPER_QUEUE 8
#define PYR_SHIPPER_MAX_TRIES 8

enum pyr_ship_verdict {
  PYR_SHIP_OK = 0,
  PYR_SHIP_RETRY = 1, /* transport error, 429, 5xx */
  PYR_SHIP_DROP = 2,  /* any other status: retrying cannot help */
};

typedef struct pyr_shipper_stats {
  uint64_t submitted, sent, bytes_sent, failed_attempts, rejected, exhausted, queue_dropped;
  uint64_t last_status;
  uint64_t sender_cpu_ns;
} pyr_shipper_stats;

/* Starts the sender thread.  Copies what it needs from opts.  0 or -1. */
int pyr_shipper_start(const pyr_options *opts);
/* Takes ownership of the malloc'd gzipped chunk. */
void pyr_shipper_submit(uint8_t *gz, size_t len, uint64_t from_s, uint64_t until_s);
/* Same, plus the window's gzipped LabelsSnapshot (dynamic labels; may be
 * NULL), sent as a second file part named `labels`; takes ownership. */
void pyr_shipper_submit_labels(uint8_t *gz, size_t len, uint8_t *labels_gz, size_t labels_len,
                               uint64_t from_s, uint64_t until_s);
/* Sends what is queued until `deadline` (CLOCK_MONOTONIC ns), no retries;
 * returns by the deadline whatever happens. */
void pyr_shipper_shutdown(uint64_t deadline);
void pyr_shipper_get_stats(pyr_shipper_stats *out);

/* Pure helpers, exposed for tests. */
/* transport_error: the CURLcode of a failed transfer (0 = none).  Network
 * errors retry; TLS verification and CA-file errors, bad URLs and
 * unsupported schemes drop, since every retry would fail the same way. */
enum pyr_ship_verdict pyr_shipper_classify(int transport_error, long http_status);
/* 1 if a CURLcode means the TLS peer or the CA file was rejected. */
int pyr_shipper_tls_error(int curl_code);
/* malloc'd "{server without trailing '/'}/ingest?name=...&format=jfr";
 * *path_off (may be NULL) gets the offset of "/ingest".  NULL on error. */
char *pyr_shipper_build_url(const pyr_options *opts, size_t *path_off);
/* Full jitter: uniform in [0, min(cap, base * 2^attempt)); r in [0,1). */
uint64_t pyr_shipper_backoff_ns(unsigned attempt, double r);
/* "app{k=v,...}" with keys sorted; returns bytes written or -1. */
int pyr_shipper_series_name(const pyr_options *opts, char *buf, size_t len);

#endif
