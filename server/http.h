/*
 * http.h - pyrited's HTTP front end (libmicrohttpd).
 *
 * What: owns the listening socket and the MHD daemon, routes requests and
 * keeps the request counters that GET /metrics reports.  Routes in this
 * build: GET|HEAD /ready, GET|HEAD /metrics; everything else is a JSON 404
 * (or 405 for a known path with the wrong method).
 *
 * Threads: pyr_srv_http_start() and pyr_srv_http_stop() are called by one
 * controlling thread (main).  Requests run on MHD's worker pool
 * (cfg->threads threads, each with its own epoll loop); handlers share only
 * relaxed atomic counters.
 *
 * Ownership: the object returned by pyr_srv_http_start() belongs to the
 * caller and is released by pyr_srv_http_stop(), exactly once.
 */
#ifndef PYRITE_SERVER_HTTP_H
#define PYRITE_SERVER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct pyr_srv_http;

/*
 * Binds cfg->listen_host:cfg->listen_port and starts serving.  Returns 0 and
 * sets *out, or -1 with a one-line message in err (e.g. "cannot listen on
 * 127.0.0.1:4040: Address already in use").  cfg must outlive the server.
 */
int pyr_srv_http_start(const struct pyr_srv_config *cfg,
                       struct pyr_srv_http **out, char *err, size_t errlen);

/* The port actually bound (differs from the configured one when that was 0). */
uint16_t pyr_srv_http_port(const struct pyr_srv_http *h);

/* Number of worker threads serving requests. */
unsigned pyr_srv_http_threads(const struct pyr_srv_http *h);

/*
 * Graceful stop: stops accepting connections, waits up to
 * cfg->drain_timeout_ms for requests already being handled to finish, then
 * closes every connection, joins the workers and frees h.  NULL is a no-op.
 */
void pyr_srv_http_stop(struct pyr_srv_http *h);

#endif /* PYRITE_SERVER_HTTP_H */
