/*
 * The Prometheus metrics endpoint (on ms_httpd, libmicrohttpd on the
 * loop), plus a buffer that writes the text exposition format safely.
 *
 * GET (or HEAD) /metrics answers 200 with the text the caller renders;
 * other paths are 404, other methods 405 (with Allow), a request head that
 * does not fit a connection's memory (16 KiB) is 431. A client has 5 s
 * (unless set) to send its whole head, however slowly it trickles, and may
 * not stay idle longer; at most 32 clients are served at once and any more
 * are closed as soon as they are accepted. What the metrics are is the
 * caller's: it passes a render function.
 */
#ifndef MS_METRICS_H
#define MS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "modelswarm.h"

#define MS_METRICS_CONN_MEMORY (16u << 10) /* bytes of a connection */
#define MS_METRICS_MAX_CLIENTS 32
#define MS_METRICS_TIMEOUT_S 5
#define MS_METRICS_MAX_TEXT (64u << 20)   /* cap of a struct ms_metrics_buf */

struct ms_metrics;

/*
 * Produce the whole exposition text for one scrape; called on the loop
 * thread, so it must not block. Set *buf to malloc'd memory and *len to
 * its length (*buf may stay NULL when *len is 0). The server frees *buf
 * with free(), whatever the return. Return 0, or nonzero for a 500.
 */
typedef int (*ms_metrics_render_fn)(void *ud, char **buf, size_t *len);

/*
 * Listen on addr, "IPV4:PORT" or "[IPV6]:PORT" (numeric addresses only;
 * port 0: any free port, see ms_metrics_port). Binds to that address only
 * (an IPv6 address does not also take IPv4). addr is not kept; ud must
 * outlive the server. On an error nothing is left open but a handle that
 * is closing: run the loop to let it go. *out is freed by ms_metrics_close.
 */
int ms_metrics_start(struct ms_metrics **out, uv_loop_t *loop, const char *addr,
		     ms_metrics_render_fn render, void *ud, struct ms_error *err);

/* The port bound (useful after port 0). */
int ms_metrics_port(const struct ms_metrics *m);

/* The time (seconds) a client has to send its head, and may stay idle;
 * applies to connections accepted afterwards. 0: the default (5 s).
 * Loop thread only. */
void ms_metrics_set_timeout(struct ms_metrics *m, unsigned timeout_s);

/* Close every connection and the listening socket (libuv closes the
 * handles: keep running the loop). NULL is a no-op; safe to call from the
 * render function (that request then gets no answer). */
void ms_metrics_close(struct ms_metrics *m);

/*
 * Building the text:
 *
 *	struct ms_metrics_buf b;
 *
 *	ms_mb_init(&b);
 *	ms_mb_help(&b, "ms_peers", "gauge", "Connected peers.");
 *	ms_mb_int(&b, "ms_peers", 12, "torrent", name, (char *)NULL);
 *	return ms_mb_finish(&b, buf, len);
 *
 * Errors are sticky: after the first (a bad metric or label name, an
 * unknown type, out of memory, over MS_METRICS_MAX_TEXT) every call does
 * nothing and returns it, and ms_mb_finish returns it. Samples of one
 * metric must be written together, after its ms_mb_help; that is the
 * caller's to keep.
 */
struct ms_metrics_buf {
	char *buf;          /* the text so far, owned until ms_mb_finish */
	size_t len, cap;
	int err;            /* 0 or the first MS_E* code */
	char **names;       /* metrics whose HELP/TYPE was written */
	size_t n_names, cap_names;
};

void ms_mb_init(struct ms_metrics_buf *b);

/* Free the contents (the struct is the caller's); b is then empty. */
void ms_mb_release(struct ms_metrics_buf *b);

/* Hand the text to the caller (*buf: NUL-terminated, *len without the
 * NUL, free() it; never NULL on success) and release the rest. On an error nothing is handed over, everything is
 * freed and the error is returned. Either way b is then empty. */
int ms_mb_finish(struct ms_metrics_buf *b, char **buf, size_t *len);

/* "# HELP name help" (help escaped: backslash, newline) and
 * "# TYPE name type", the first time name is seen; later calls for the
 * same name write nothing. type: counter, gauge, histogram, summary or
 * untyped. help NULL: no HELP line. */
int ms_mb_help(struct ms_metrics_buf *b, const char *name, const char *type,
	       const char *help);

/* One sample: name{k="v",...} value. After the value come label names and
 * values in pairs (at most 32, no name twice), ended by a NULL; values are
 * escaped (backslash, double quote, newline) and bytes that are not UTF-8
 * become U+FFFD. help gets the same, bar the quote. Integers are printed exactly; doubles as the shortest
 * of %.15g/%.17g that reads back equal, and NaN, +Inf, -Inf. */
int ms_mb_int(struct ms_metrics_buf *b, const char *name, int64_t v, ...)
#ifdef __GNUC__
	__attribute__((sentinel))
#endif
	;
int ms_mb_double(struct ms_metrics_buf *b, const char *name, double v, ...)
#ifdef __GNUC__
	__attribute__((sentinel))
#endif
	;

#endif
