/*
 * An HTTP/1.1 server on a libuv loop (httpd.c): the transport only.
 * libmicrohttpd parses and answers; it runs in its external epoll mode,
 * its epoll fd under a uv_poll_t and its next timeout under a uv_timer_t,
 * so every callback comes on the loop thread and nothing blocks.
 *
 * Limits are set up front: connections at once (and per client address),
 * the memory of one connection (which bounds a request head: a bigger one
 * is answered 431 by libmicrohttpd), an idle timeout, a deadline for the
 * whole request head (slow clients are cut off however they trickle), and
 * a cap on a request body (413 beyond it).
 *
 * What a request means is the caller's: one handler gets the method, the
 * path exactly as sent (not percent-decoded: the handler decides what an
 * encoded '/' or NUL means), the headers and query arguments (raw, by
 * name), and the body, and fills a response: status, headers, and a body
 * from memory or a byte range of a file (sent with sendfile where it can).
 * A HEAD request gets the headers (Content-Length included) of the same
 * response without its body.
 */
#ifndef MS_HTTPD_H
#define MS_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "modelswarm.h"

#define MS_HTTPD_MAX_HEADERS 24   /* of one response */

struct ms_httpd;

/* One request, valid during the handler only. */
struct ms_httpd_req {
	const char *method;     /* "GET", "HEAD", "POST", ... */
	const char *path;       /* as sent, without the query; not decoded */
	const char *version;    /* "HTTP/1.1" */
	const char *body;       /* NUL-terminated; "" without one */
	size_t body_len;
	void *conn;             /* the connection, for the lookups below */
	int timed_out;          /* called again after a wait that ran out */
};

/* A header of the request (case-insensitive name), or NULL. */
const char *ms_httpd_header(const struct ms_httpd_req *q, const char *name);
/* A query argument by name (its first value, not decoded), or NULL; a
 * name without '=' gives "". */
const char *ms_httpd_arg(const struct ms_httpd_req *q, const char *name);

/* The client's address, numeric ("10.0.0.2", "[::1]"): 0, or -1. */
int ms_httpd_peer(const struct ms_httpd_req *q, char *buf, size_t cap);

/* The response a handler fills (zeroed, status 500, before the call). */
struct ms_httpd_resp {
	int status;
	int n_headers;
	char *names[MS_HTTPD_MAX_HEADERS], *values[MS_HTTPD_MAX_HEADERS];
	char *body;             /* malloc'd, or NULL */
	size_t body_len;
	int fd;                 /* >= 0: the body is len bytes of fd from off */
	uint64_t off, len;
	int close;              /* 1: close the connection without an answer */
	int err;                /* sticky: out of memory, too many headers */
	/* wait instead of answering (ms_httpd_resp_wait) */
	int wait;
	const void *wait_key;
	unsigned wait_ms;
	struct ms_httpd_stream *stream;  /* a body read as it is sent */
};

/* Answer later: the connection sleeps (no answer, no timeout of its own)
 * until ms_httpd_wake(key) or until ms milliseconds pass, then the handler
 * is called again for the same request, with q->timed_out set in the
 * second case. Whatever else r holds is dropped. */
void ms_httpd_resp_wait(struct ms_httpd_resp *r, const void *key, unsigned ms);

/* A body of len bytes made as it is sent. read(ud, pos, buf, max,
 * timed_out) puts the bytes from pos into buf and returns how many (1 to
 * max), 0 when none is ready (the connection then sleeps as for
 * ms_httpd_resp_wait: read is called again after ms_httpd_wake(key), or
 * with timed_out 1 after ms), or -1 to cut the connection (the client
 * sees a short body). done(ud) once, when the response is over or could
 * not be made. A HEAD request gets the headers only; read is not called. */
typedef ssize_t (*ms_httpd_read_fn)(void *ud, uint64_t pos, char *buf, size_t max,
				    int timed_out);
int ms_httpd_resp_stream(struct ms_httpd_resp *r, uint64_t len, ms_httpd_read_fn read,
			 void (*done)(void *ud), void *ud, const void *key, unsigned ms);

/* Add a header (name and value copied; value printf-formatted). */
int ms_httpd_resp_header(struct ms_httpd_resp *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The body: a copy of n bytes. */
int ms_httpd_resp_copy(struct ms_httpd_resp *r, const void *buf, size_t n);
/* The body: buf (malloc'd) becomes the response's, whatever the return. */
int ms_httpd_resp_take(struct ms_httpd_resp *r, char *buf, size_t n);
/* The body: len bytes of fd from off; fd becomes the response's (closed
 * when sent, or on any error). */
void ms_httpd_resp_file(struct ms_httpd_resp *r, int fd, uint64_t off, uint64_t len);

/* Called on the loop thread; must not block. It may call ms_httpd_close
 * (the connection is then closed without an answer). */
typedef void (*ms_httpd_handler)(void *ud, const struct ms_httpd_req *q,
				 struct ms_httpd_resp *r);

struct ms_httpd_opts {
	const char *addr;        /* "IPV4:PORT" or "[IPV6]:PORT", numeric;
				    port 0: any free port */
	const char *what;        /* names it in messages: "metrics" */
	unsigned max_conns;      /* 0: 256 */
	unsigned max_per_ip;     /* 0: no limit of its own */
	size_t conn_memory;      /* bytes per connection (request head and
				    buffers); 0: 32 KiB */
	unsigned timeout_s;      /* idle, and the deadline of a request
				    head; 0: 30 s */
	size_t body_max;         /* a request body; 0: 1 MiB */
	int sigpipe_ignored;     /* the program ignores SIGPIPE: sendfile may
				    be used */
	ms_httpd_handler handler;
	void *ud;                /* must outlive the server */
};

/* Listen and serve. On an error nothing is left open but handles that are
 * closing: run the loop to let them go. *out is freed by ms_httpd_close. */
int ms_httpd_start(struct ms_httpd **out, uv_loop_t *loop, const struct ms_httpd_opts *o,
		   struct ms_error *err);
/* The port bound (useful after port 0). */
int ms_httpd_port(const struct ms_httpd *h);
/* The timeout of connections accepted from now on (seconds, >= 1). */
void ms_httpd_set_timeout(struct ms_httpd *h, unsigned timeout_s);
/* Connections open now. */
unsigned ms_httpd_connections(const struct ms_httpd *h);
/* Every connection waiting on key (ms_httpd_resp_wait, a stream's read)
 * goes on; safe at any time on the loop thread. */
void ms_httpd_wake(struct ms_httpd *h, const void *key);
/* Connections asleep now. */
unsigned ms_httpd_sleeping(const struct ms_httpd *h);

/* Close every connection and the listening socket; h is freed once libuv
 * has closed its handles (keep running the loop). NULL is a no-op; safe
 * from the handler. */
void ms_httpd_close(struct ms_httpd *h);

#endif
