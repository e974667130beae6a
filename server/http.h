/*
 * http.h - pyrited's HTTP front end (libmicrohttpd).
 *
 * What: owns the listening socket, the MHD daemon and the ingest worker
 * pool; routes requests and keeps the server metrics (metrics.h).  Routes:
 *   GET|HEAD /ready       "ready" once storage is open, else 503
 *   GET|HEAD /metrics     Prometheus text (server + storage metrics)
 *   POST /ingest, POST /pyroscope/ingest      legacy ingest (ingest.h)
 *   POST /push.v1.PusherService/Push          Connect Push (ingest.h)
 * everything else is a JSON 404 (405 for a known path with the wrong
 * method).  Errors are JSON {"code": "...", "message": "..."}.
 *
 * Threads: pyr_srv_http_start(), _set_store() and _stop() are called by
 * one controlling thread (main).  Requests run on MHD's I/O threads
 * (cfg->threads, each with its own epoll loop), which receive bodies; a
 * complete upload is handed to the ingest pool (cfg->ingest_workers) with
 * the connection suspended, and resumed with the answer.
 *
 * Ownership: the object returned by pyr_srv_http_start() belongs to the
 * caller and is released by pyr_srv_http_stop(), exactly once.  The store
 * passed to pyr_srv_http_set_store() must outlive the server.
 */
#ifndef PYRITE_SERVER_HTTP_H
#define PYRITE_SERVER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct pyr_srv_http;
struct pyr_store;

/*
 * Binds cfg->listen_host:cfg->listen_port and starts serving.  Returns 0 and
 * sets *out, or -1 with a one-line message in err (e.g. "cannot listen on
 * 127.0.0.1:4040: Address already in use").  cfg must outlive the server.
 * Until pyr_srv_http_set_store() is called, /ready answers 503 and ingest
 * endpoints answer 503 (agents retry).
 */
int pyr_srv_http_start(const struct pyr_srv_config *cfg,
                       struct pyr_srv_http **out, char *err, size_t errlen);

/* Publishes the opened storage: from now on /ready is 200 and uploads are
 * written to st. */
void pyr_srv_http_set_store(struct pyr_srv_http *h, struct pyr_store *st);

/* The port actually bound (differs from the configured one when that was 0). */
uint16_t pyr_srv_http_port(const struct pyr_srv_http *h);

/* Number of I/O threads serving connections, and of ingest workers. */
unsigned pyr_srv_http_threads(const struct pyr_srv_http *h);
unsigned pyr_srv_http_workers(const struct pyr_srv_http *h);

/*
 * Graceful stop: stops accepting connections, waits up to
 * cfg->drain_timeout_ms for requests already being handled to finish, lets
 * the ingest pool finish every upload it accepted, then closes every
 * connection, joins the threads and frees h.  NULL is a no-op.  The store
 * may be closed after this returns.
 */
void pyr_srv_http_stop(struct pyr_srv_http *h);

/* Decodes %XX escapes and '+' (as a space) in place, as Go's url.Query()
 * does for query strings; returns the new length.  Exposed for tests. */
size_t pyr_srv_unescape(char *s);

#endif /* PYRITE_SERVER_HTTP_H */
