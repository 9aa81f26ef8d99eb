/* metrics.c: a Prometheus metrics endpoint over HTTP (transport) and the
 * text exposition format buffer */
#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_metrics.h"
#include "ms_util.h"

/* ---- the server ---- */

enum conn_state {
	C_HEAD,    /* reading the request head */
	C_ANSWER,  /* the answer is being written */
	C_DRAIN,   /* answered and shut down; reading to EOF so that a close
		    * with unread input cannot turn into a RST that loses the
		    * answer */
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;        /* the deadline of the current state */
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct ms_metrics *m;
	enum conn_state state;
	unsigned timeout_ms;
	char head[MS_METRICS_MAX_HEAD];  /* the request head so far */
	size_t len;
	char hdr[512];           /* the answer's head (and an error's body) */
	char *body;              /* the rendered text; freed with the conn */
	int peer_eof;
	int closing;
	int handles;             /* open handles of this conn */
	struct conn *next;
};

struct ms_metrics {
	uv_loop_t *loop;
	uv_tcp_t server;
	ms_metrics_render_fn render;
	void *ud;
	int port;
	unsigned timeout_ms;
	struct conn *conns;
	int n_conns;
	int closing;
	int handles;
};

static void metrics_maybe_free(struct ms_metrics *m)
{
	if (m->closing && m->handles == 0 && !m->conns)
		free(m);
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct ms_metrics *m = c->m;

	if (--c->handles)
		return;
	for (struct conn **pp = &m->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	m->n_conns--;
	free(c->body);
	free(c);
	metrics_maybe_free(m);
}

/* a write or shutdown still pending is cancelled: libuv runs its callback
 * (UV_ECANCELED) before conn_closed, so c outlives it */
static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void shut(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	if (status < 0 || c->peer_eof)
		conn_close(c);
	/* else drain until the peer's EOF or the deadline */
}

static void written(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	free(c->body);
	c->body = NULL;
	c->state = C_DRAIN;
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, shut))
		conn_close(c);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* Queue the answer and give the client timeout_ms to take it. For 200,
 * body (malloc'd, never NULL) becomes the conn's; any other status has its
 * reason phrase for a body. extra: more header lines, each ending in CRLF.
 * send_body: 0 for HEAD. */
static void respond(struct conn *c, int status, const char *extra, char *body,
		    size_t blen, int send_body)
{
	const char *why = reason(status);
	uv_buf_t b[2];
	unsigned nb = 1;
	int n;

	c->state = C_ANSWER;
	if (status != 200)
		blen = strlen(why) + 1;
	c->body = body;
	n = snprintf(c->hdr, sizeof(c->hdr),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: text/plain; %scharset=utf-8\r\n"
		     "Content-Length: %zu\r\n%sConnection: close\r\n\r\n%s%s",
		     status, why, status == 200 ? "version=0.0.4; " : "", blen, extra,
		     status != 200 && send_body ? why : "",
		     status != 200 && send_body ? "\n" : "");
	if (n < 0 || (size_t)n >= sizeof(c->hdr)) {
		conn_close(c);
		return;
	}
	b[0] = uv_buf_init(c->hdr, (unsigned)n);
	if (status == 200 && send_body && blen)
		b[nb++] = uv_buf_init(body, (unsigned)blen);
	uv_timer_start(&c->timer, on_timeout, c->timeout_ms, 0);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, b, nb, written))
		conn_close(c);
}

static int is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* the head is complete: answer its request line */
static void handle_request(struct conn *c)
{
	struct ms_metrics *m = c->m;
	char *line = c->head, *eol, *target, *version, *p;
	char *buf = NULL;
	size_t ll, len = 0;
	int get, head, r;

	eol = memchr(line, '\n', c->len);  /* there is one: the head ended */
	ll = (size_t)(eol - line);
	if (ll && line[ll - 1] == '\r')
		ll--;
	if (memchr(line, '\0', ll)) {
		respond(c, 400, "", NULL, 0, 1);
		return;
	}
	line[ll] = '\0';
	/* METHOD SP request-target SP HTTP-version */
	for (p = line; is_tchar((unsigned char)*p); p++)
		;
	if (p == line || *p != ' ') {
		respond(c, 400, "", NULL, 0, 1);
		return;
	}
	*p = '\0';
	target = p + 1;
	for (p = target; (unsigned char)*p > ' ' && *p != 0x7f; p++)
		;
	if (p == target || *p != ' ') {
		respond(c, 400, "", NULL, 0, 1);
		return;
	}
	*p = '\0';
	version = p + 1;
	get = !strcmp(line, "GET");
	head = !strcmp(line, "HEAD");
	if (strcmp(version, "HTTP/1.1") && strcmp(version, "HTTP/1.0")) {
		int http = !strncmp(version, "HTTP/", 5) && version[5] >= '0' &&
			   version[5] <= '9' && version[6] == '.' && version[7] >= '0' &&
			   version[7] <= '9' && !version[8];
		respond(c, http ? 505 : 400, "", NULL, 0, !head);
		return;
	}
	if (strcmp(target, "/metrics") && strncmp(target, "/metrics?", 9)) {
		respond(c, 404, "", NULL, 0, !head);
		return;
	}
	if (!get && !head) {
		respond(c, 405, "Allow: GET, HEAD\r\n", NULL, 0, 1);
		return;
	}
	r = m->render(m->ud, &buf, &len);
	if (c->closing) {  /* ms_metrics_close from render */
		free(buf);
		return;
	}
	if (r || (!buf && len) || len > UINT32_MAX) {
		free(buf);
		respond(c, 500, "", NULL, 0, !head);
		return;
	}
	if (!buf && !(buf = malloc(1))) {
		respond(c, 500, "", NULL, 0, !head);
		return;
	}
	respond(c, 200, "", buf, len, !head);
}

/* the end of the head ("\r\n\r\n", or "\n\n" from lax clients) within
 * c->head[0..len), looking from `from` on; NULL: not yet */
static const char *head_end(const struct conn *c, size_t from)
{
	const char *a = memmem(c->head + from, c->len - from, "\r\n\r\n", 4);
	const char *b = memmem(c->head + from, c->len - from, "\n\n", 2);

	if (a && b)
		return a < b ? a : b;
	return a ? a : b;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char slab[4096];  /* drained input, never looked at */
	struct conn *c = h->data;

	(void)hint;
	/* the head has room left: it is answered the moment it fills */
	if (c->state == C_HEAD)
		*b = uv_buf_init(c->head + c->len, (unsigned)(sizeof(c->head) - c->len));
	else
		*b = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	size_t from;

	(void)b;
	if (c->closing || n == 0)
		return;
	if (n == UV_EOF && c->state != C_HEAD) {
		/* the answer still goes out; close once it has */
		c->peer_eof = 1;
		if (c->state == C_DRAIN)
			conn_close(c);
		return;
	}
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (c->state != C_HEAD)
		return;
	from = c->len > 3 ? c->len - 3 : 0;
	c->len += (size_t)n;
	if (head_end(c, from))
		handle_request(c);
	else if (c->len == sizeof(c->head))
		respond(c, 431, "", NULL, 0, 1);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ms_metrics *m = server->data;
	struct conn *c;

	if (status < 0 || m->closing)
		return;
	/* out of memory: not accepting stops libuv listening until a later
	 * uv_accept, which never comes; there is nothing better to do */
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->m = m;
	c->timeout_ms = m->timeout_ms;
	uv_tcp_init(m->loop, &c->tcp);
	uv_timer_init(m->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	c->next = m->conns;
	m->conns = c;
	m->n_conns++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) ||
	    m->n_conns > MS_METRICS_MAX_CLIENTS) {
		conn_close(c);
		return;
	}
	/* the whole head must arrive in time, however slowly it trickles */
	uv_timer_start(&c->timer, on_timeout, c->timeout_ms, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
		conn_close(c);
}

static void server_closed(uv_handle_t *h)
{
	struct ms_metrics *m = h->data;

	m->handles--;
	metrics_maybe_free(m);
}

/* addr into *sa, or an error that says what is wrong with it */
static int parse_addr(const char *addr, struct sockaddr_storage *sa, int *v6,
		      struct ms_error *err)
{
	char host[128];
	const char *rb;
	int port;

	memset(sa, 0, sizeof(*sa));
	if (!addr || !*addr)
		return ms_error_set(err, MS_EINVAL, "no metrics address");
	*v6 = addr[0] == '[';
	if (ms_parse_hostport(addr, host, sizeof(host), &port)) {
		rb = strchr(addr, ']');
		if ((*v6 && rb && !rb[1]) || (!*v6 && !strchr(addr, ':')))
			return ms_error_set(err, MS_EINVAL,
					    "metrics address '%s' has no port", addr);
		if (!*v6 && strchr(addr, ':') != strrchr(addr, ':'))
			return ms_error_set(err, MS_EINVAL,
					    "metrics address '%s': write an IPv6 address "
					    "in brackets, '[::1]:9100'", addr);
		return ms_error_set(err, MS_EINVAL,
				    "bad metrics address '%s': expected IPV4:PORT or "
				    "[IPV6]:PORT, port 0-65535", addr);
	}
	if (*v6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)sa)
		: uv_ip4_addr(host, port, (struct sockaddr_in *)sa))
		return ms_error_set(err, MS_EINVAL,
				    "bad metrics address '%s': '%s' is not a numeric "
				    "%s address", addr, host, *v6 ? "IPv6" : "IPv4");
	return 0;
}

int ms_metrics_start(struct ms_metrics **out, uv_loop_t *loop, const char *addr,
		     ms_metrics_render_fn render, void *ud, struct ms_error *err)
{
	struct sockaddr_storage sa, bound;
	struct ms_metrics *m;
	int v6 = 0, rc, len = sizeof(bound);

	if ((rc = parse_addr(addr, &sa, &v6, err)))
		return rc;
	if (!render)
		return ms_error_set(err, MS_EINVAL, "no render function");
	if (!(m = calloc(1, sizeof(*m))))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	m->loop = loop;
	m->render = render;
	m->ud = ud;
	m->timeout_ms = MS_METRICS_TIMEOUT_MS;
	if ((rc = uv_tcp_init(loop, &m->server))) {
		free(m);
		return ms_error_set(err, MS_EIO, "cannot listen on '%s': %s", addr,
				    uv_strerror(rc));
	}
	m->server.data = m;
	m->handles = 1;
	rc = uv_tcp_bind(&m->server, (const struct sockaddr *)&sa, v6 ? UV_TCP_IPV6ONLY : 0);
	if (!rc)  /* a bind error such as EADDRINUSE may only show here */
		rc = uv_listen((uv_stream_t *)&m->server, 64, on_connection);
	if (!rc)
		rc = uv_tcp_getsockname(&m->server, (struct sockaddr *)&bound, &len);
	if (rc) {
		m->closing = 1;
		uv_close((uv_handle_t *)&m->server, server_closed);
		return ms_error_set(err, MS_EIO, "cannot listen on '%s': %s", addr,
				    uv_strerror(rc));
	}
	m->port = ntohs(bound.ss_family == AF_INET6
			? ((struct sockaddr_in6 *)&bound)->sin6_port
			: ((struct sockaddr_in *)&bound)->sin_port);
	*out = m;
	return 0;
}

int ms_metrics_port(const struct ms_metrics *m)
{
	return m->port;
}

void ms_metrics_set_timeout(struct ms_metrics *m, unsigned timeout_ms)
{
	m->timeout_ms = timeout_ms ? timeout_ms : MS_METRICS_TIMEOUT_MS;
}

void ms_metrics_close(struct ms_metrics *m)
{
	if (!m || m->closing)
		return;
	m->closing = 1;
	for (struct conn *c = m->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&m->server, server_closed);
}

/* ---- the text format ---- */

#define MB_MAX_LABELS 32

void ms_mb_init(struct ms_metrics_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void ms_mb_release(struct ms_metrics_buf *b)
{
	free(b->buf);
	for (size_t i = 0; i < b->n_names; i++)
		free(b->names[i]);
	free(b->names);
	memset(b, 0, sizeof(*b));
}

int ms_mb_finish(struct ms_metrics_buf *b, char **buf, size_t *len)
{
	int r = b->err;

	if (!r && !b->buf && !(b->buf = calloc(1, 1)))
		r = MS_ENOMEM;
	if (r) {
		ms_mb_release(b);
		return r;
	}
	*buf = b->buf;
	*len = b->len;
	b->buf = NULL;
	ms_mb_release(b);
	return 0;
}

/* append n bytes; the text stays NUL-terminated */
static void mb_put(struct ms_metrics_buf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (n > MS_METRICS_MAX_TEXT - b->len) {
		b->err = MS_ETOOBIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *nb;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(nb = realloc(b->buf, cap))) {
			b->err = MS_ENOMEM;
			return;
		}
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void mb_puts(struct ms_metrics_buf *b, const char *s)
{
	mb_put(b, s, strlen(s));
}

/* the length of a valid UTF-8 sequence at s, or 0 */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[0] == 0xe0 && s[1] < 0xa0) ||   /* overlong */
		    (s[0] == 0xed && s[1] >= 0xa0))    /* surrogate */
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80 ||
		    (s[0] == 0xf0 && s[1] < 0x90) ||   /* overlong */
		    (s[0] == 0xf4 && s[1] >= 0x90))    /* past U+10FFFF */
			return 0;
		return 4;
	}
	return 0;
}

/* s escaped for a label value (quote) or a HELP text; bytes that are
 * not UTF-8 (names from the network) become U+FFFD, since the format is
 * UTF-8 and one bad name must not spoil the whole scrape */
static void mb_escaped(struct ms_metrics_buf *b, const char *s, int quote)
{
	const unsigned char *p = (const unsigned char *)s, *run = p;

	for (;;) {
		const char *rep = NULL;
		size_t n = 1;

		if (!*p)
			break;
		if (*p == '\\')
			rep = "\\\\";
		else if (*p == '\n')
			rep = "\\n";
		else if (*p == '"' && quote)
			rep = "\\\"";
		else if (!(n = utf8_len(p))) {
			rep = "\xef\xbf\xbd";
			n = 1;
		}
		if (rep) {
			mb_put(b, (const char *)run, (size_t)(p - run));
			mb_puts(b, rep);
			run = p + n;
		}
		p += n;
	}
	mb_put(b, (const char *)run, (size_t)(p - run));
}

/* metric: [a-zA-Z_:][a-zA-Z0-9_:]*, label: [a-zA-Z_][a-zA-Z0-9_]* */
static int valid_name(const char *s, int metric)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (metric && *s == ':')))
			return 0;
	return 1;
}

int ms_mb_help(struct ms_metrics_buf *b, const char *name, const char *type,
	       const char *help)
{
	static const char *const types[] = { "counter", "gauge", "histogram",
					     "summary", "untyped" };
	size_t i;
	char **nn, *copy;

	if (b->err)
		return b->err;
	for (i = 0; type && i < MS_ARRAY_SIZE(types); i++)
		if (!strcmp(type, types[i]))
			break;
	if (!valid_name(name, 1) || !type || i == MS_ARRAY_SIZE(types))
		return b->err = MS_EINVAL;
	for (i = 0; i < b->n_names; i++)
		if (!strcmp(b->names[i], name))
			return 0;
	if (b->n_names == b->cap_names) {
		size_t cap = b->cap_names ? 2 * b->cap_names : 16;
		if (!(nn = realloc(b->names, cap * sizeof(*nn))))
			return b->err = MS_ENOMEM;
		b->names = nn;
		b->cap_names = cap;
	}
	if (!(copy = strdup(name)))
		return b->err = MS_ENOMEM;
	b->names[b->n_names++] = copy;
	if (help) {
		mb_puts(b, "# HELP ");
		mb_puts(b, name);
		mb_puts(b, " ");
		mb_escaped(b, help, 0);
		mb_puts(b, "\n");
	}
	mb_puts(b, "# TYPE ");
	mb_puts(b, name);
	mb_puts(b, " ");
	mb_puts(b, type);
	mb_puts(b, "\n");
	return b->err;
}

/* name{labels} value\n; ap holds key, value, ..., NULL */
static int mb_sample(struct ms_metrics_buf *b, const char *name, const char *value,
		     va_list ap)
{
	const char *keys[MB_MAX_LABELS], *k, *v;
	size_t n = 0;

	if (b->err)
		return b->err;
	if (!valid_name(name, 1))
		return b->err = MS_EINVAL;
	mb_puts(b, name);
	while ((k = va_arg(ap, const char *))) {
		v = va_arg(ap, const char *);
		if (!valid_name(k, 0) || !v || n == MB_MAX_LABELS)
			return b->err = MS_EINVAL;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(keys[i], k))
				return b->err = MS_EINVAL;
		keys[n] = k;
		mb_puts(b, n++ ? "," : "{");
		mb_puts(b, k);
		mb_puts(b, "=\"");
		mb_escaped(b, v, 1);
		mb_puts(b, "\"");
	}
	if (n)
		mb_puts(b, "}");
	mb_puts(b, " ");
	mb_puts(b, value);
	mb_puts(b, "\n");
	return b->err;
}

int ms_mb_int(struct ms_metrics_buf *b, const char *name, int64_t v, ...)
{
	char num[32];
	va_list ap;
	int r;

	snprintf(num, sizeof(num), "%" PRId64, v);
	va_start(ap, v);
	r = mb_sample(b, name, num, ap);
	va_end(ap);
	return r;
}

/* the shortest of %.15g and %.17g that reads back as v; the C locale's
 * '.' even if the program set another */
static void fmt_double(char *s, size_t len, double v)
{
	if (isnan(v)) {
		snprintf(s, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(s, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(s, len, "%.15g", v);
	if (strtod(s, NULL) != v)
		snprintf(s, len, "%.17g", v);
	for (; *s; s++)
		if (*s == ',')
			*s = '.';
}

int ms_mb_double(struct ms_metrics_buf *b, const char *name, double v, ...)
{
	char num[40];
	va_list ap;
	int r;

	fmt_double(num, sizeof(num), v);
	va_start(ap, v);
	r = mb_sample(b, name, num, ap);
	va_end(ap);
	return r;
}
