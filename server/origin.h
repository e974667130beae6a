/*
 * origin.h - refuse requests a web browser was tricked into sending.
 *
 * Two checks, both on request headers only, applied to every ingest and
 * query request before anything else is read:
 *
 *  - Host (DNS rebinding): a pyrited listening on a loopback address answers
 *    only requests whose Host names a loopback address, "localhost", the
 *    listen host itself or one of --allowed-hosts.  A page on evil.example
 *    whose DNS later points at 127.0.0.1 sends "Host: evil.example" and is
 *    refused, so it cannot read a local pyrited that runs without auth.
 *    When pyrited listens on a non-loopback address the Host check is off
 *    (a reverse proxy or a DNS name may legitimately front it) unless
 *    --allowed-hosts is given.
 *  - Origin (cross-site writes): a request carrying an Origin header must
 *    come from the same host:port it is sent to.  Browsers always send
 *    Origin on cross-site POSTs; agents, SDKs, curl and Grafana's backend do
 *    not send it at all, so they are unaffected.
 *
 * Threads: pure functions of their arguments; any thread.
 */
#ifndef PYRITE_SERVER_ORIGIN_H
#define PYRITE_SERVER_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

/* True if `host` (a name or address, no port) is loopback: "localhost",
 * "*.localhost", 127.0.0.0/8 in dotted form, or ::1 (bracketed or not). */
bool pyr_origin_is_loopback(const char *host, size_t len);

/* 0 if the Host header is acceptable, else -1 with a message in why.
 * listen_host: what pyrited bound to; allowed: comma-separated host names
 * (may be NULL or empty); host_hdr: the Host header or NULL (HTTP/1.0
 * clients may omit it: accepted). */
int pyr_origin_check_host(const char *listen_host, const char *allowed,
                          const char *host_hdr, char *why, size_t whylen);

/* 0 if there is no Origin header or it names the same host:port as the Host
 * header, else -1 with a message in why. */
int pyr_origin_check_origin(const char *origin_hdr, const char *host_hdr,
                            char *why, size_t whylen);

#endif
