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

#endif
