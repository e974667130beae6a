/*
 * multipart.h - multipart/form-data (RFC 7578) over a body held in memory.
 *
 * What: the /ingest uploads of the Pyroscope Java agent (parts `jfr`,
 * `labels`) and of the Go/other SDKs (parts `profile`, `sample_type_config`,
 * `prev_profile`).  The HTTP layer has already removed the chunked transfer
 * coding and bounded the body size, so parsing is a single pass over one
 * buffer and the parts' data are zero-copy slices of it.
 *
 * Rules (mirroring Go's mime/multipart, which the real server uses):
 *   - the boundary comes from the Content-Type parameter `boundary`
 *     (quoted or not, 1..70 bytes);
 *   - text before the first delimiter (preamble) and after the closing
 *     delimiter (epilogue) is ignored;
 *   - delimiter lines may end in CRLF or a bare LF; transport padding
 *     (spaces/tabs) after a delimiter is allowed;
 *   - a part is a "file" part iff its Content-Disposition carries a
 *     non-empty filename= parameter; the real server looks `jfr`,
 *     `labels`, `profile`... up among file parts only;
 *   - a body that ends before the closing delimiter is an error
 *     (truncated upload), as is a part without Content-Disposition name.
 *
 * Threads: pure functions.  Bounds: at most PYR_MP_MAX_PARTS parts and
 * PYR_MP_MAX_HEADER_BYTES of headers per part.
 */
#ifndef PYRITE_SERVER_MULTIPART_H
#define PYRITE_SERVER_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#define PYR_MP_MAX_PARTS 16
#define PYR_MP_MAX_HEADER_BYTES 8192 /* per part, all header lines */
#define PYR_MP_NAME_MAX 128 /* part names and content types, with NUL */
#define PYR_MP_BOUNDARY_MAX 70

typedef struct pyr_mp_part {
  char name[PYR_MP_NAME_MAX];         /* form field name */
  char filename[PYR_MP_NAME_MAX];     /* "" when absent (truncated if long) */
  char content_type[PYR_MP_NAME_MAX]; /* "" when absent */
  bool is_file;                       /* filename= present and non-empty */
  const unsigned char *data;          /* slice of the body */
  size_t len;
} pyr_mp_part;

typedef struct pyr_mp_form {
  pyr_mp_part parts[PYR_MP_MAX_PARTS];
  size_t n;
} pyr_mp_form;

/*
 * Extracts the boundary parameter of a multipart Content-Type into
 * out[PYR_MP_BOUNDARY_MAX + 1].  Returns 0, or -1 with a message in err.
 */
int pyr_mp_boundary(const char *content_type, char *out, char *err,
                    size_t errlen);

/*
 * Splits body into parts.  Returns 0, or -1 with a one-line message in err
 * (bad boundary, malformed headers, truncated body, too many parts).
 */
int pyr_mp_parse(const unsigned char *body, size_t len,
                 const char *content_type, pyr_mp_form *form, char *err,
                 size_t errlen);

/* First file part called name, or NULL. */
const pyr_mp_part *pyr_mp_file(const pyr_mp_form *form, const char *name);
/* First part called name, file or not, or NULL. */
const pyr_mp_part *pyr_mp_any(const pyr_mp_form *form, const char *name);

#endif /* PYRITE_SERVER_MULTIPART_H */
