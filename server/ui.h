/*
 * ui.h - the embedded web UI (flame graphs in the browser) served at "/".
 *
 * What: the files of server/ui/ are compiled into pyrited as byte arrays
 * (ui_assets.c, generated at build time by server/embed_ui.cmake), so the
 * UI works offline and the binary is self-contained.  Paths:
 *   GET|HEAD /                 index.html
 *   GET|HEAD /static/<file>    any file of server/ui/ (app.js, style.css…)
 * Answers carry the file's Content-Type, a strong ETag (304 on a matching
 * If-None-Match), "Cache-Control: no-cache" (always revalidate, so an
 * upgraded server never runs a stale script), a strict
 * Content-Security-Policy (only same-origin scripts/styles/fetches, no
 * inline script, Trusted Types enforced so no HTML string sink can be used
 * at all), and nosniff/frame/referrer headers.  Unknown files under
 * /static/ are a JSON 404, other methods a JSON 405.
 *
 * The UI files hold no data: they are served without credentials; the
 * query endpoints they call apply the server's auth like any client.
 *
 * Threads: read-only data; safe from any thread.
 */
#ifndef PYRITE_SERVER_UI_H
#define PYRITE_SERVER_UI_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

/* URL prefix of the UI's static files (index.html refers to it). */
#define PYR_UI_STATIC_PREFIX "/static/"

/* One embedded file (generated table, sorted by name). */
struct pyr_ui_asset {
  const char *name;         /* file name in server/ui/, e.g. "app.js" */
  const unsigned char *data;
  size_t len;
  const char *content_type;
  const char *etag;         /* quoted, e.g. "\"3f2a…\"" */
};
extern const struct pyr_ui_asset pyr_ui_assets[];
extern const size_t pyr_ui_nassets;

/*
 * Looks up the file served at a URL path ("/" -> index.html,
 * "/static/app.js" -> app.js).  Returns 0 and sets the outputs (any may be
 * NULL), or -1 when nothing is served there.  Matching is exact against
 * the embedded names, so no path can reach anything else.
 */
int pyr_ui_lookup(const char *path, const unsigned char **data, size_t *len,
                  const char **content_type);

/* True for the paths the UI owns: "/" and everything under /static/. */
bool pyr_ui_owns(const char *path);

/*
 * Queues the answer for a request to a path pyr_ui_owns(): 200 (body
 * omitted by MHD for HEAD), 304, 404 or 405.  Sets *status to the code
 * queued.  Returns MHD's result (MHD_NO: close the connection).
 */
enum MHD_Result pyr_ui_serve(struct MHD_Connection *conn, const char *method,
                             const char *path, unsigned *status);

#endif /* PYRITE_SERVER_UI_H */
