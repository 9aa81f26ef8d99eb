/* metrics.c: the Prometheus metrics endpoint (on ms_httpd) and the text
 * exposition format buffer */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_httpd.h"
#include "ms_metrics.h"
#include "ms_util.h"

/* ---- the endpoint, on ms_httpd ---- */

struct ms_metrics {
	struct ms_httpd *h;
	ms_metrics_render_fn render;
	void *ud;
	int in_render, closed;
};

/* an answer other than the text: its reason phrase for a body */
static void plain(struct ms_httpd_resp *r, int status, const char *why)
{
	r->status = status;
	ms_httpd_resp_header(r, "Content-Type", "text/plain; charset=utf-8");
	ms_httpd_resp_header(r, "Connection", "close");
	ms_httpd_resp_copy(r, why, strlen(why));
}

static void handle(void *ud, const struct ms_httpd_req *q, struct ms_httpd_resp *r)
{
	struct ms_metrics *m = ud;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (strcmp(q->path, "/metrics")) {
		plain(r, 404, "Not Found\n");
		return;
	}
	if (strcmp(q->method, "GET") && strcmp(q->method, "HEAD")) {
		plain(r, 405, "Method Not Allowed\n");
		ms_httpd_resp_header(r, "Allow", "GET, HEAD");
		return;
	}
	m->in_render = 1;
	rc = m->render(m->ud, &buf, &len);
	m->in_render = 0;
	if (m->closed) {   /* ms_metrics_close from render */
		free(buf);
		free(m);
		r->close = 1;
		return;
	}
	if (rc || (!buf && len)) {
		free(buf);
		plain(r, 500, "Internal Server Error\n");
		return;
	}
	r->status = 200;
	ms_httpd_resp_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ms_httpd_resp_header(r, "Connection", "close");   /* one scrape a connection */
	if (buf)
		ms_httpd_resp_take(r, buf, len);
}

int ms_metrics_start(struct ms_metrics **out, uv_loop_t *loop, const char *addr,
		     ms_metrics_render_fn render, void *ud, struct ms_error *err)
{
	struct ms_httpd_opts o = {
		.addr = addr, .what = "metrics",
		.max_conns = MS_METRICS_MAX_CLIENTS,
		.conn_memory = MS_METRICS_CONN_MEMORY,
		.timeout_s = MS_METRICS_TIMEOUT_S,
		.body_max = 4096,
		.handler = handle,
	};
	struct ms_metrics *m;
	int rc;

	if (!render)
		return ms_error_set(err, MS_EINVAL, "no render function");
	if (!(m = calloc(1, sizeof(*m))))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	m->render = render;
	m->ud = ud;
	o.ud = m;
	if ((rc = ms_httpd_start(&m->h, loop, &o, err))) {
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int ms_metrics_port(const struct ms_metrics *m)
{
	return ms_httpd_port(m->h);
}

void ms_metrics_set_timeout(struct ms_metrics *m, unsigned timeout_s)
{
	ms_httpd_set_timeout(m->h, timeout_s ? timeout_s : MS_METRICS_TIMEOUT_S);
}

void ms_metrics_close(struct ms_metrics *m)
{
	if (!m || m->closed)
		return;
	m->closed = 1;
	ms_httpd_close(m->h);
	if (!m->in_render)
		free(m);
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
