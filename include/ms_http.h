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
 * is MS_ETOOBIG; a redirect from a public address to a loopback, private
 * or link-local one is refused before it connects, MS_EPATH (a URL that
 * is local itself may redirect within the local network). *buf is malloc'd and NUL-terminated. Blocking: for
 * commands that do not run an event loop. */
int ms_url_get(const char *base, const char *rel, size_t cap,
	       unsigned char **buf, size_t *len, struct ms_error *err);

/*
 * The same on a libuv loop: libcurl's multi interface with its sockets
 * and timers driven by the loop, so nothing blocks it. file:// URLs and
 * plain paths are read as ms_url_get() reads them (a FIFO or a device is
 * refused at once), and answered on the next loop turn.
 */
#include <uv.h>

struct ms_http;

/* status 0 with the body (malloc'd, NUL-terminated, the callee owns it)
 * and msg the URL it came from, or an MS_E* code with a message
 * (MS_ENOENT for 404 / missing files). */
typedef void (*ms_http_cb)(void *ud, int status, unsigned char *body,
			   size_t len, const char *msg);

int ms_http_new(struct ms_http **out, uv_loop_t *loop, struct ms_error *err);
/* base + "/" + rel as in ms_url_get(); cb runs on the loop thread, never
 * before this returns. */
int ms_http_get(struct ms_http *h, const char *base, const char *rel,
		size_t cap, ms_http_cb cb, void *ud, struct ms_error *err);
/* The same, conditional: with etag (from an earlier answer), a 304 is
 * MS_EUNCHANGED. The answer's ETag is stored in etag_out (MS_ETAG_MAX
 * bytes, "" if none), which must live until cb. file:// is fetched as
 * ms_http_get() does. */
#define MS_ETAG_MAX 200
int ms_http_get_if(struct ms_http *h, const char *base, const char *rel, size_t cap,
		   const char *etag, char *etag_out, ms_http_cb cb, void *ud,
		   struct ms_error *err);

/* An Authorization header, sent only to host over scheme (see below). */
struct ms_http_auth {
	const char *host, *scheme, *value;
};
/* What ms_http_get_api() keeps of the (last) answer's headers: the URL of
 * 'Link: <URL>; rel="next"' (the next page), X-Error-Code ("" if none). */
struct ms_http_api_hdrs {
	char next[8192];
	char error_code[64];
};
/* GET url (http or https) as ms_http_get() does, for an API: with auth
 * (may be NULL) sent as the ranges below send it, and headers in out
 * (may be NULL; kept until cb). 429 and 503 are MS_EAGAIN (also for the
 * calls above). */
int ms_http_get_api(struct ms_http *h, const char *url, size_t cap,
		    const struct ms_http_auth *auth, struct ms_http_api_hdrs *out,
		    ms_http_cb cb, void *ud, struct ms_error *err);
/*
 * Byte ranges of files on HTTP mirrors (web seeds), for ms_webseed.
 *
 * The body must be exactly the range asked for: a 206 whose Content-Range
 * is another range, a 200 for a part of a file, a body longer or shorter
 * than asked are all errors, found before or as the first wrong byte
 * arrives. Redirects are followed (http/https only); the Authorization
 * header is sent only when the URL's scheme and host are auth_scheme and
 * auth_host (an https mirror's token never goes over http, to the same
 * host or not), and libcurl drops it on a redirect to another scheme, host
 * or port.
 */
struct ms_http_result {
	int status;           /* 0, MS_ENOENT (404, 410), MS_EAGAIN (429,
				 503), MS_EPATH (redirected from a public
				 address to a local one), else MS_EIO */
	long http_code;       /* of the last response, 0 if none */
	long retry_after;     /* seconds from Retry-After, or -1 */
	int redirected;       /* the answer came from another URL */
	const char *url;      /* the URL that answered (valid in the call) */
	int64_t got;          /* body bytes stored in buf */
	const char *msg;      /* why, when status != 0 */
};

struct ms_http_range {
	const char *url;
	int64_t start, len;   /* bytes [start, start+len) of the file */
	int64_t file_size;    /* a 200 is fine when the range is the file */
	const char *auth_host;   /* host that gets the Authorization header */
	const char *auth_scheme; /* over this scheme only ("http", "https") */
	const char *auth;        /* its value, e.g. "Bearer X" (or NULL) */
	unsigned char *buf;      /* len bytes, caller-owned, kept until done */
	/* instead of buf: the body as it arrives, in order. Return 0 when
	 * the n bytes are taken, 1 to take none of them now: the transfer
	 * pauses and they come again after ms_http_range_unpause(). */
	int (*on_data)(void *ud, const unsigned char *p, size_t n);
	long stall_s;            /* abort after this long without a byte */
	/* body bytes stored so far, as they arrive (may be NULL) */
	void (*on_progress)(void *ud, int64_t got);
	/* the end; never called before ms_http_range_start() returns, never
	 * after ms_http_range_cancel() or ms_http_close() */
	void (*on_done)(void *ud, const struct ms_http_result *res);
	void *ud;
};

/* the HOST[:PORT] of url ("" if it has credentials or is too long) */
void ms_url_host(const char *url, char *out, size_t cap);
struct ms_http_xfer;

int ms_http_range_start(struct ms_http *h, const struct ms_http_range *rq,
			struct ms_http_xfer **out, struct ms_error *err);
void ms_http_range_cancel(struct ms_http_xfer *x);
/* go on with a transfer whose on_data asked for a pause (on_data may be
 * called before this returns) */
void ms_http_range_unpause(struct ms_http_xfer *x);

/* Cancel what is pending (no callbacks) and close every handle; the
 * struct is freed once libuv has closed them. */
void ms_http_close(struct ms_http *h);

/* Internal, for the tests: is ip (text) an address a redirect from a
 * public one may not lead to (loopback, private, link-local, and their
 * IPv4-mapped forms)? */
int ms__ip_local(const char *ip);

#endif
