/* test-metrics.c: the Prometheus text buffer, and the HTTP endpoint (on
 * ms_httpd: libmicrohttpd on a libuv loop) driven by a thread of blocking
 * clients */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ms_metrics.h"
#include "tap.h"

#define TIMEOUT_MS 1000   /* the server's, for these tests */
#define BIG_N 100000

/* what render produces in mode R_TEXT */
static const char expected[] =
	"# HELP ms_up Whether the daemon is up.\n"
	"# TYPE ms_up gauge\n"
	"ms_up 1\n"
	"# HELP ms_torrent_bytes Bytes \"done\", back\\\\slash\\nnewline.\n"
	"# TYPE ms_torrent_bytes counter\n"
	"ms_torrent_bytes{torrent=\"a\\\"b\\\\c\\nd\",kind=\"model\"} 9007199254740993\n"
	"ms_torrent_bytes{torrent=\"plain\",kind=\"x\"} -9223372036854775808\n"
	"# TYPE ms_ratio gauge\n"
	"ms_ratio 0.1\n";

enum { R_TEXT, R_FAIL, R_BIG, R_CLOSE };

struct ctx {
	uv_loop_t loop;
	uv_async_t done;          /* the client thread is finished */
	struct ms_metrics *m;     /* loop thread only; NULL once closed */
	int port;
	void (*script)(struct ctx *);
	uv_thread_t loop_thread;
	atomic_int mode, renders, wrong_thread;
};

static int render(void *ud, char **buf, size_t *len)
{
	struct ctx *x = ud;
	struct ms_metrics_buf b;
	uv_thread_t self = uv_thread_self();

	x->renders++;
	if (!uv_thread_equal(&self, &x->loop_thread))
		x->wrong_thread++;
	switch (x->mode) {
	case R_FAIL:
		return 1;
	case R_CLOSE:
		ms_metrics_close(x->m);
		x->m = NULL;
		return 1;
	case R_BIG:
		ms_mb_init(&b);
		ms_mb_help(&b, "ms_big", "gauge", NULL);
		for (int i = 0; i < BIG_N; i++) {
			char v[16];
			snprintf(v, sizeof(v), "%d", i);
			ms_mb_int(&b, "ms_big", i, "i", v, (char *)NULL);
		}
		return ms_mb_finish(&b, buf, len);
	}
	ms_mb_init(&b);
	ms_mb_help(&b, "ms_up", "gauge", "Whether the daemon is up.");
	ms_mb_int(&b, "ms_up", 1, (char *)NULL);
	ms_mb_help(&b, "ms_torrent_bytes", "counter",
		   "Bytes \"done\", back\\slash\nnewline.");
	ms_mb_help(&b, "ms_torrent_bytes", "counter", "written once");
	ms_mb_int(&b, "ms_torrent_bytes", INT64_C(9007199254740993), "torrent",
		  "a\"b\\c\nd", "kind", "model", (char *)NULL);
	ms_mb_int(&b, "ms_torrent_bytes", INT64_MIN, "torrent", "plain", "kind", "x",
		  (char *)NULL);
	ms_mb_help(&b, "ms_ratio", "gauge", NULL);
	ms_mb_double(&b, "ms_ratio", 0.1, (char *)NULL);
	return ms_mb_finish(&b, buf, len);
}

/* ---- a blocking client ---- */

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static int dial(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* read to EOF within ms; the bytes (NUL-terminated) in *out, or -1 on a
 * timeout or an error (ECONNRESET: the answer was lost) */
static long read_all(int fd, char **out, int ms)
{
	long t0 = now_ms(), len = 0, cap = 65536;
	char *buf = malloc((size_t)cap + 1);

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long left = ms - (now_ms() - t0);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, (size_t)cap + 1);
		}
		n = read(fd, buf + len, (size_t)(cap - len));
		if (n < 0)
			break;
		if (n == 0) {
			buf[len] = '\0';
			*out = buf;
			return len;
		}
		len += n;
	}
	free(buf);
	*out = NULL;
	return -1;
}

struct resp {
	char *raw;
	long len;
	int status;
	const char *body;    /* in raw */
	long body_len;
	long content_length; /* -1: none */
};

static int request(int port, const char *req, size_t reqlen, struct resp *r)
{
	int fd = dial(port);
	char *p;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	if (fd < 0 || send_all(fd, req, reqlen)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	r->len = read_all(fd, &r->raw, 5000);
	close(fd);
	if (r->len < 0 || sscanf(r->raw, "HTTP/1.1 %d ", &r->status) != 1)
		return -1;
	if (!(p = strstr(r->raw, "\r\n\r\n")))
		return -1;
	r->body = p + 4;
	r->body_len = r->len - (r->body - r->raw);
	if ((p = strstr(r->raw, "\r\nContent-Length: ")) && p < r->body)
		r->content_length = strtol(p + 18, NULL, 10);
	return 0;
}

static int get(int port, const char *req, struct resp *r)
{
	return request(port, req, strlen(req), r);
}

/* a header line, whole, before the body */
static int has_header(const struct resp *r, const char *line)
{
	const char *p = strstr(r->raw, line);

	return p && p < r->body && p[-1] == '\n' && !strncmp(p + strlen(line), "\r\n", 2);
}

/* a request head of exactly n bytes */
static char *head_of(size_t n)
{
	static const char pre[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ";
	char *h = malloc(n + 1);

	memcpy(h, pre, sizeof(pre) - 1);
	memset(h + sizeof(pre) - 1, 'a', n - (sizeof(pre) - 1) - 4);
	memcpy(h + n - 4, "\r\n\r\n", 5);
	return h;
}

/* ms until the server closes fd (reading and dropping anything), or -1 */
static long closed_after(int fd, long t0, int ms)
{
	char buf[256];

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long left = ms - (now_ms() - t0);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return now_ms() - t0;
	}
}

static int still_open(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 0;
}

/* ---- the scripts, run by the client thread ---- */

static void script_main(struct ctx *x)
{
	struct resp r;
	char *h;
	long t0, t;
	int rc, fd, fds[MS_METRICS_MAX_CLIENTS], n_open;

	rc = get(x->port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ok(!rc && r.status == 200, "GET /metrics: 200 (%d)", r.status);
	ok(r.body_len == (long)strlen(expected) && !memcmp(r.body, expected, strlen(expected)),
	   "body is the rendered text byte for byte");
	ok(r.content_length == r.body_len, "Content-Length %ld matches the body (%ld)",
	   r.content_length, r.body_len);
	ok(has_header(&r, "Content-Type: text/plain; version=0.0.4; charset=utf-8") &&
	   has_header(&r, "Connection: close"), "Content-Type and Connection headers");
	free(r.raw);

	ok(!get(x->port, "GET /metrics HTTP/1.0\r\n\r\n", &r) && r.status == 200 &&
	   r.body_len == (long)strlen(expected), "HTTP/1.0 GET: 200");
	free(r.raw);
	ok(!get(x->port, "GET /metrics?name[]=x HTTP/1.1\n\n", &r) && r.status == 200,
	   "a query string and bare LFs: 200");
	free(r.raw);
	ok(!get(x->port, "HEAD /metrics HTTP/1.1\r\n\r\n", &r) && r.status == 200 &&
	   r.content_length == (long)strlen(expected) && r.body_len == 0,
	   "HEAD: 200, Content-Length of the text, no body");
	free(r.raw);

	ok(!get(x->port, "GET / HTTP/1.1\r\n\r\n", &r) && r.status == 404 &&
	   !strcmp(r.body, "Not Found\n") && r.content_length == r.body_len,
	   "GET /: 404 with its Content-Length");
	free(r.raw);
	ok(!get(x->port, "GET /metricsx HTTP/1.1\r\n\r\n", &r) && r.status == 404,
	   "GET /metricsx: 404");
	free(r.raw);
	ok(!get(x->port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &r) &&
	   r.status == 405 && has_header(&r, "Allow: GET, HEAD"),
	   "POST: 405 with Allow");
	free(r.raw);
	ok(!get(x->port, "DELETE /metrics HTTP/1.0\r\n\r\n", &r) && r.status == 405,
	   "DELETE: 405");
	free(r.raw);
	ok(!get(x->port, "GET /metrics HTTP/2.0\r\n\r\n", &r) && r.status == 505,
	   "HTTP/2.0: 505");
	free(r.raw);
	rc = get(x->port, "GET /metrics FOO\r\n\r\n", &r);
	ok(!rc && r.status == 400, "no HTTP version: 400 (%d)", r.status);
	free(r.raw);
	rc = get(x->port, "GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n", &r);
	ok(!rc && r.status == 400, "a header line without a colon: 400 (%d)", r.status);
	free(r.raw);

	h = head_of(4096);
	rc = request(x->port, h, 4096, &r);
	ok(!rc && r.status == 200, "a head of 4096 bytes: 200 (%d)", r.status);
	free(r.raw);
	free(h);
	h = head_of(MS_METRICS_CONN_MEMORY);
	rc = request(x->port, h, MS_METRICS_CONN_MEMORY, &r);
	ok(!rc && r.status == 431 &&
	   r.content_length == r.body_len, "a head of %u bytes: 431 (%d)",
	   MS_METRICS_CONN_MEMORY, r.status);
	free(r.raw);
	free(h);
	h = head_of(200000);
	ok(!request(x->port, h, 200000, &r) && r.status == 431,
	   "a head of 200000 bytes: 431 arrives whole, no reset");
	free(r.raw);
	free(h);

	x->mode = R_FAIL;
	ok(!get(x->port, "GET /metrics HTTP/1.1\r\n\r\n", &r) && r.status == 500,
	   "render fails: 500");
	free(r.raw);
	x->mode = R_BIG;
	rc = get(x->port, "GET /metrics HTTP/1.1\r\n\r\n", &r);
	ok(!rc && r.status == 200 &&
	   r.content_length == r.body_len && r.body_len > 2000000 &&
	   strstr(r.body, "ms_big{i=\"99999\"} 99999\n") ==
	   r.body + r.body_len - strlen("ms_big{i=\"99999\"} 99999\n"),
	   "a big text (%ld bytes) arrives whole", r.body_len);
	free(r.raw);
	x->mode = R_TEXT;

	/* slowloris: silent, then trickling */
	t0 = now_ms();
	fd = dial(x->port);
	t = closed_after(fd, t0, 5000);
	ok(t >= TIMEOUT_MS - 100 && t < TIMEOUT_MS + 1500,
	   "a silent client is closed after the timeout (%ld ms)", t);
	close(fd);
	t0 = now_ms();
	fd = dial(x->port);
	send_all(fd, "GET /metrics HTTP/1.1\r\nX: ", 26);
	for (t = -1; t < 0 && now_ms() - t0 < 5000;) {
		if (send_all(fd, "a", 1))
			break;
		t = closed_after(fd, now_ms(), 100);
	}
	t = now_ms() - t0;
	ok(t >= TIMEOUT_MS - 100 && t < TIMEOUT_MS + 1500,
	   "a trickling client is closed at the deadline (%ld ms)", t);
	close(fd);

	/* at most 32 at once: the 33rd waits unserved (libmicrohttpd leaves it
	 * in the listen backlog) until one of them closes */
	usleep(100000);
	for (n_open = 0; n_open < MS_METRICS_MAX_CLIENTS; n_open++)
		if ((fds[n_open] = dial(x->port)) < 0)
			break;
	usleep(100000);
	fd = dial(x->port);
	send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	ok(n_open == MS_METRICS_MAX_CLIENTS && fd >= 0 && still_open(fd) &&
	   closed_after(fd, now_ms(), 300) < 0, "connection 33 is not served while 32 are open");
	{
		int all = 1;
		for (int i = 0; i < n_open; i++)
			all &= still_open(fds[i]);
		ok(all, "the other 32 are still open");
	}
	for (int i = 0; i < n_open; i++)
		close(fds[i]);
	memset(&r, 0, sizeof(r));
	r.len = read_all(fd, &r.raw, 3000);
	ok(r.len > 0 && !strncmp(r.raw, "HTTP/1.1 200 ", 13),
	   "once they close, connection 33 is served");
	free(r.raw);
	close(fd);
	ok(!get(x->port, "GET /metrics HTTP/1.1\r\n\r\n", &r) && r.status == 200,
	   "and a new scrape too");
	free(r.raw);

	ok(x->renders > 0 && x->wrong_thread == 0, "render runs on the loop thread (%d calls)",
	   (int)x->renders);

	/* closing the server closes the clients it has */
	fds[0] = dial(x->port);
	fds[1] = dial(x->port);
	send_all(fds[1], "GET /met", 8);
	usleep(100000);
	t0 = now_ms();
	uv_async_send(&x->done);
	ok(closed_after(fds[0], t0, TIMEOUT_MS / 2) >= 0 &&
	   closed_after(fds[1], t0, TIMEOUT_MS / 2) >= 0,
	   "ms_metrics_close closes open connections");
	close(fds[0]);
	close(fds[1]);
}

static void script_close_in_render(struct ctx *x)
{
	struct resp r;
	int fd, other;

	other = dial(x->port);
	usleep(50000);
	x->mode = R_CLOSE;
	fd = dial(x->port);
	send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	memset(&r, 0, sizeof(r));
	r.len = read_all(fd, &r.raw, 5000);
	ok(r.len == 0, "ms_metrics_close from render: closed without an answer");
	free(r.raw);
	ok(closed_after(other, now_ms(), 500) >= 0, "and the other client is closed too");
	close(fd);
	close(other);
	uv_async_send(&x->done);
}

static void client_thread(void *arg)
{
	struct ctx *x = arg;

	x->script(x);
}

static void on_done(uv_async_t *a)
{
	struct ctx *x = a->data;

	ms_metrics_close(x->m);
	x->m = NULL;
	uv_close((uv_handle_t *)a, NULL);
}

/* start a server, let the script talk to it, close; 0: the loop closed */
static int run_server(void (*script)(struct ctx *))
{
	struct ctx *x = calloc(1, sizeof(*x));
	struct ms_error err;
	uv_thread_t t;
	int r;

	uv_loop_init(&x->loop);
	x->loop_thread = uv_thread_self();
	x->script = script;
	if (ms_metrics_start(&x->m, &x->loop, "127.0.0.1:0", render, x, &err)) {
		diag("start: %s", err.msg);
		free(x);
		return -1;
	}
	x->port = ms_metrics_port(x->m);
	ms_metrics_set_timeout(x->m, TIMEOUT_MS / 1000);
	uv_async_init(&x->loop, &x->done, on_done);
	x->done.data = x;
	uv_thread_create(&t, client_thread, x);
	uv_run(&x->loop, UV_RUN_DEFAULT);
	uv_thread_join(&t);
	r = uv_loop_close(&x->loop);
	free(x);
	return r;
}

/* ---- the text buffer ---- */

static void test_buf(void)
{
	struct ms_metrics_buf b;
	char *s;
	size_t len;

	ms_mb_init(&b);
	ms_mb_help(&b, "a:b_c", "untyped", "x\\y\nz \"q\"");
	ms_mb_int(&b, "a:b_c", INT64_MAX, "l", "\\\"\n", (char *)NULL);
	ms_mb_int(&b, "a:b_c", 0, "l", "", "m", "\xff\xc3\xa9\xe2\x82", (char *)NULL);
	ms_mb_double(&b, "a:b_c", 1.5, (char *)NULL);
	ms_mb_double(&b, "a:b_c", 0.1 + 0.2, (char *)NULL);
	ms_mb_double(&b, "a:b_c", 1e300, (char *)NULL);
	ms_mb_double(&b, "a:b_c", -2.5e-7, (char *)NULL);
	ms_mb_double(&b, "a:b_c", NAN, (char *)NULL);
	ms_mb_double(&b, "a:b_c", INFINITY, (char *)NULL);
	ms_mb_double(&b, "a:b_c", -INFINITY, (char *)NULL);
	ms_mb_double(&b, "a:b_c", 3.0, (char *)NULL);
	ok(!ms_mb_finish(&b, &s, &len), "buffer: finish");
	if (!ok(len == strlen(s) && !strcmp(s,
		"# HELP a:b_c x\\\\y\\nz \"q\"\n"
		"# TYPE a:b_c untyped\n"
		"a:b_c{l=\"\\\\\\\"\\n\"} 9223372036854775807\n"
		"a:b_c{l=\"\",m=\"\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\"} 0\n"
		"a:b_c 1.5\n"
		"a:b_c 0.30000000000000004\n"
		"a:b_c 1e+300\n"
		"a:b_c -2.5e-07\n"
		"a:b_c NaN\n"
		"a:b_c +Inf\n"
		"a:b_c -Inf\n"
		"a:b_c 3\n"), "buffer: escaping, UTF-8 repair, integers and doubles"))
		diag("got:\n%s", s);
	free(s);
	ok(b.buf == NULL && b.names == NULL, "buffer: empty after finish");

	ms_mb_init(&b);
	ok(!ms_mb_finish(&b, &s, &len) && s && len == 0 && !*s, "buffer: empty text");
	free(s);

	ms_mb_init(&b);
	ok(ms_mb_int(&b, "1bad", 1, (char *)NULL) == MS_EINVAL &&
	   ms_mb_int(&b, "good", 1, (char *)NULL) == MS_EINVAL &&
	   ms_mb_finish(&b, &s, &len) == MS_EINVAL && b.buf == NULL,
	   "buffer: a bad metric name is a sticky error");
	ms_mb_init(&b);
	ok(ms_mb_int(&b, "m", 1, "a:b", "v", (char *)NULL) == MS_EINVAL,
	   "buffer: ':' in a label name");
	ms_mb_release(&b);
	ms_mb_init(&b);
	ok(ms_mb_int(&b, "m", 1, "a", "v", "a", "w", (char *)NULL) == MS_EINVAL,
	   "buffer: a label twice");
	ms_mb_release(&b);
	ms_mb_init(&b);
	ok(ms_mb_help(&b, "m", "counters", "x") == MS_EINVAL, "buffer: an unknown type");
	ms_mb_release(&b);
	ms_mb_init(&b);
	ok(ms_mb_int(&b, "m", 1, "a", (char *)NULL) == MS_EINVAL,
	   "buffer: a label without a value");
	ms_mb_release(&b);
}

/* ---- starting ---- */

static void test_start(void)
{
	static const struct {
		const char *addr, *msg;
	} bad[] = {
		{ "127.0.0.1", "has no port" },
		{ "[::1]", "has no port" },
		{ "127.0.0.1:", "bad metrics address '127.0.0.1:'" },
		{ "127.0.0.1:65536", "port 0-65535" },
		{ "localhost:9100", "'localhost' is not a numeric IPv4 address" },
		{ "[fe80::zz]:9100", "not a numeric IPv6 address" },
		{ "::1:9100", "in brackets" },
		{ "", "no metrics address" },
	};
	struct ms_metrics *m = NULL, *m2 = NULL;
	struct ms_error err;
	uv_loop_t loop;
	char addr[64];
	int r;

	uv_loop_init(&loop);
	for (size_t i = 0; i < MS_ARRAY_SIZE(bad); i++) {
		memset(&err, 0, sizeof(err));
		r = ms_metrics_start(&m, &loop, bad[i].addr, render, NULL, &err);
		ok(r == MS_EINVAL && err.code == MS_EINVAL && strstr(err.msg, bad[i].msg),
		   "'%s' refused: %s", bad[i].addr, err.msg);
	}
	ok(!ms_metrics_start(&m, &loop, "127.0.0.1:0", render, NULL, &err) &&
	   ms_metrics_port(m) > 0, "127.0.0.1:0 binds a port");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ms_metrics_port(m));
	r = ms_metrics_start(&m2, &loop, addr, render, NULL, &err);
	ok(r == MS_EIO && strstr(err.msg, "cannot listen on '127.0.0.1:") &&
	   strstr(err.msg, "in use"), "a port in use: %s", err.msg);
	ms_metrics_close(m);
	ms_metrics_close(NULL);
	r = ms_metrics_start(&m, &loop, "[::1]:0", render, NULL, &err);
	if (r) {
		ok(r == MS_EIO, "# SKIP no IPv6 loopback: %s", err.msg);
	} else {
		ok(ms_metrics_port(m) > 0, "[::1]:0 binds a port");
		ms_metrics_close(m);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(uv_loop_close(&loop) == 0, "failed starts and closes leave the loop empty");
}

int main(void)
{
	test_buf();
	test_start();
	ok(run_server(script_main) == 0, "server: uv_loop_close() returns 0");
	ok(run_server(script_close_in_render) == 0,
	   "closed from render: uv_loop_close() returns 0");
	return tap_done();
}
