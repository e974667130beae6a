/*
 * querier.h - querier.v1.QuerierService over Connect (unary, POST), binary
 * protobuf (what Grafana's backend sends) and protojson (scripts, Explore
 * Profiles).  Methods and fields: proto/querier.proto, docs/query-api.md.
 *
 * Request: Content-Type application/proto (also application/protobuf,
 * application/x-protobuf) or application/json, optional "; charset=...";
 * optional Content-Encoding gzip.  Response: the same codec, 200; errors
 * are JSON {"code","message"} with the Connect code's status.
 *
 * Threads: reentrant.
 */
#ifndef PYRITE_SERVER_QUERIER_H
#define PYRITE_SERVER_QUERIER_H

#include <stdbool.h>

#include "query.h"

#define PYR_QUERIER_PREFIX "/querier.v1.QuerierService/"
/* Largest request message accepted (after gunzip): query requests are a
 * few hundred bytes; this bounds what a client can make us parse. */
#define PYR_QUERIER_MAX_REQUEST (4u << 20)

/* 1 = binary protobuf, 2 = JSON, 0 = neither (415). */
int pyr_querier_codec(const char *content_type);

/* True if path names a method this server implements. */
bool pyr_querier_known(const char *path);

void pyr_querier_handle(const pyr_query_env *env, const pyr_query_req *req,
                        pyr_query_resp *resp);

#endif /* PYRITE_SERVER_QUERIER_H */
