/*
 * shipper.h - sends finished JFR chunks to a Pyroscope-compatible server.
 *
 * The aggregator hands each period's gzipped chunk to pyr_shipper_submit()
 * (never blocks: a bounded queue that drops the oldest).  One sender
 * pthread, created once, POSTs them with libcurl exactly like the Pyroscope
 * Java agent: /ingest?name=app{labels}&from&until&sampleRate&spyName=javaspy
 * &format=jfr, multipart/form-data with a `jfr` file part.
 *
 * Failure policy: connect/total timeouts; retries with full-jitter
 * exponential backoff (1 s .. 30 s, at most max_tries) only for transport
 * errors, 429 and 5xx; other statuses drop the upload.  One log line when
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
/* Sends what is queued until `deadline` (CLOCK_MONOTONIC ns), no retries;
 * returns by the deadline whatever happens. */
void pyr_shipper_shutdown(uint64_t deadline);
void pyr_shipper_get_stats(pyr_shipper_stats *out);

/* Pure helpers, exposed for tests. */
enum pyr_ship_verdict pyr_shipper_classify(int transport_error, long http_status);
/* Full jitter: uniform in [0, min(cap, base * 2^attempt)); r in [0,1). */
uint64_t pyr_shipper_backoff_ns(unsigned attempt, double r);
/* "app{k=v,...}" with keys sorted; returns bytes written or -1. */
int pyr_shipper_series_name(const pyr_options *opts, char *buf, size_t len);

#endif
