/*
 * Fetching index files (refs, manifests, signatures, torrents) from a
 * file:// or http(s):// index with libcurl: hard size caps, timeouts,
 * redirects only to http(s).
 */
#ifndef MS_HTTP_H
#define MS_HTTP_H

#include <stddef.h>

#include "modelswarm.h"

/* Fetch base + "/" + rel (base may end in '/'; a plain path means
 * file://). A missing file (404, ENOENT) is MS_ENOENT; more than cap bytes
 * is MS_ETOOBIG. *buf is malloc'd and NUL-terminated. Blocking: for
 * commands that do not run an event loop. */
int ms_url_get(const char *base, const char *rel, size_t cap,
	       unsigned char **buf, size_t *len, struct ms_error *err);

/*
 * The same on a libuv loop: libcurl's multi interface with its sockets
 * and timers driven by the loop, so nothing blocks it. file:// URLs and
 * plain paths are read by libcurl too.
 */
#include <uv.h>

struct ms_http;

/* status 0 with the body (malloc'd, NUL-terminated, the callee owns it),
 * or an MS_E* code with a message (MS_ENOENT for 404 / missing files). */
typedef void (*ms_http_cb)(void *ud, int status, unsigned char *body,
			   size_t len, const char *msg);

int ms_http_new(struct ms_http **out, uv_loop_t *loop, struct ms_error *err);
/* base + "/" + rel as in ms_url_get(); cb runs on the loop thread, never
 * before this returns. */
int ms_http_get(struct ms_http *h, const char *base, const char *rel,
		size_t cap, ms_http_cb cb, void *ud, struct ms_error *err);
/* Cancel what is pending (no callbacks) and close every handle; the
 * struct is freed once libuv has closed them. */
void ms_http_close(struct ms_http *h);

#endif
