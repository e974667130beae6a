/*
 * protojson.h - a JSON writer and a protojson codec for protobuf-c messages
 * (the Connect JSON codec of the query API, pyroscope-api.md §0.1).
 *
 * Writer: a growable output buffer with JSON helpers; used by every query
 * response that is JSON (flamebearer, label-values, errors) and by the
 * codec below.  A failed allocation sets a sticky flag; callers check it
 * once at the end.
 *
 * Codec: driven by protobuf-c's message descriptors, so every message in
 * proto/ gets JSON for free, following Go's protojson as Connect uses it:
 *   - output field names are lowerCamelCase of the proto name
 *     (profile_typeID -> profileTypeID, ID stays ID); input accepts the
 *     camel name or the proto name;
 *   - 64-bit integers are written as strings; on input numbers and
 *     numeric strings are both accepted (also for 32-bit fields);
 *   - enums are written by name; input takes the name or the number;
 *   - bytes are base64 (input: standard or URL-safe, padding optional);
 *   - float/double are numbers ("NaN", "Infinity", "-Infinity" strings);
 *   - fields at their zero value (and empty repeated fields) are omitted,
 *     except proto3 `optional` fields that are set; a oneof member is
 *     written when it is the selected case;
 *   - unknown input fields are ignored (Connect's DiscardUnknown); null
 *     means "default"; an empty body is read as {}.
 * Maps and well-known types (Timestamp, Any, ...) are not supported (no
 * message in proto/ needs them): such fields are rejected on input and
 * skipped on output.
 *
 * Threads: pure functions; all memory is the caller's or the allocator's.
 */
#ifndef PYRITE_SERVER_PROTOJSON_H
#define PYRITE_SERVER_PROTOJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* ---- writer ------------------------------------------------------------------ */

typedef struct pyr_jw {
  char *p;
  size_t n, cap;
  bool oom; /* sticky: an allocation failed, the content is incomplete */
} pyr_jw;

void pyr_jw_init(pyr_jw *w);
void pyr_jw_free(pyr_jw *w);
/* Detaches the text (NUL-terminated; *len without the NUL).  NULL on oom. */
char *pyr_jw_take(pyr_jw *w, size_t *len);

bool pyr_jw_reserve(pyr_jw *w, size_t add);
void pyr_jw_raw(pyr_jw *w, const char *s, size_t n);
void pyr_jw_lit(pyr_jw *w, const char *s); /* NUL-terminated raw text */
static inline void pyr_jw_c(pyr_jw *w, char c) {
  if (w->n + 1 < w->cap || pyr_jw_reserve(w, 1))
    w->p[w->n++] = c;
}
void pyr_jw_i64(pyr_jw *w, int64_t v);
void pyr_jw_u64(pyr_jw *w, uint64_t v);
void pyr_jw_double(pyr_jw *w, double v); /* shortest round-trip form */
/* A JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD. */
void pyr_jw_str(pyr_jw *w, const char *s, size_t n);
/* "key": */
void pyr_jw_key(pyr_jw *w, const char *key);

/* ---- codec -------------------------------------------------------------------- */

/* lowerCamelCase JSON name of a proto field name into out[cap]. */
void pyr_protojson_name(const char *proto_name, char *out, size_t cap);

/* Appends msg as protojson to w. */
void pyr_protojson_write(pyr_jw *w, const ProtobufCMessage *msg);

/*
 * Decodes JSON text (len bytes, need not be NUL-terminated) into a new
 * message of type desc, allocated with alloc (NULL = protobuf-c's
 * default), so that protobuf_c_message_free_unpacked(msg, alloc) frees it.
 * Returns the message, or NULL with one line in err ("field maxNodes:
 * expected an integer").
 */
ProtobufCMessage *pyr_protojson_read(const ProtobufCMessageDescriptor *desc,
                                     const char *json, size_t len,
                                     ProtobufCAllocator *alloc, char *err,
                                     size_t errlen);

/* Standard base64 with padding, appended as a JSON string body (no quotes). */
void pyr_jw_base64(pyr_jw *w, const uint8_t *p, size_t n);

#endif /* PYRITE_SERVER_PROTOJSON_H */
