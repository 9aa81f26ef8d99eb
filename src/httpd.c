/* httpd.c: libmicrohttpd on the libuv loop (external epoll mode), the
 * transport under the metrics and Hugging Face endpoints */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "ms_httpd.h"
#include "ms_util.h"

#define DEF_CONNS 256
#define DEF_MEMORY (32u << 10)
#define DEF_TIMEOUT_S 30
#define DEF_BODY (1u << 20)
#define SWEEP_MS 250
#define RUN_BURST 16      /* MHD runs a wakeup, at most */

/* one TCP connection: the deadline of the request head it waits for */
struct hconn {
	struct MHD_Connection *c;
	uint64_t deadline;       /* uv_now() ms; 0: a request is being served */
	int cut;                 /* shut down at its deadline */
	int asleep;              /* suspended, waiting on wait_key */
	int timed_out;           /* woken by its wait_until */
	const void *wait_key;
	uint64_t wait_until;     /* uv_now() ms */
	struct hconn *prev, *next;
};

struct ms_httpd_stream {
	struct ms_httpd *h;
	struct MHD_Connection *c;
	ms_httpd_read_fn read;
	void (*done)(void *ud);
	void *ud;
	const void *key;
	unsigned wait_ms;
	uint64_t len;
};

/* one request: its body so far */
struct hreq {
	char *body;
	size_t len;
	int toobig;
};

struct ms_httpd {
	uv_loop_t *loop;
	struct MHD_Daemon *d;
	uv_poll_t poll;          /* MHD's epoll fd */
	uv_timer_t timer;        /* MHD's next timeout */
	uv_timer_t sweep;        /* head deadlines */
	int handles;             /* open libuv handles */
	int port;
	unsigned timeout_s;
	size_t body_max;
	ms_httpd_handler handler;
	void *ud;
	struct hconn *conns;
	unsigned n_conns;
	int in_run;              /* inside MHD_run */
	int dropped;             /* a connection closed: MHD may listen again */
	int woke;                /* a connection was resumed: run MHD again */
	unsigned asleep;         /* connections suspended */
	int closing;
	int stopped;             /* MHD_stop_daemon done */
	char log[200];           /* MHD's last message (never printed) */
};

/* ---- responses ---- */

int ms_httpd_resp_header(struct ms_httpd_resp *r, const char *name, const char *fmt, ...)
{
	char *v = NULL;
	va_list ap;
	int n;

	if (r->err)
		return r->err;
	if (r->n_headers == MS_HTTPD_MAX_HEADERS)
		return r->err = MS_ETOOBIG;
	va_start(ap, fmt);
	n = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (n < 0 || !(r->names[r->n_headers] = strdup(name))) {
		if (n >= 0)
			free(v);
		return r->err = MS_ENOMEM;
	}
	r->values[r->n_headers++] = v;
	return 0;
}

int ms_httpd_resp_take(struct ms_httpd_resp *r, char *buf, size_t n)
{
	free(r->body);
	r->body = buf;
	r->body_len = buf ? n : 0;
	return 0;
}

int ms_httpd_resp_copy(struct ms_httpd_resp *r, const void *buf, size_t n)
{
	char *b = malloc(n + 1);

	if (!b)
		return r->err = MS_ENOMEM;
	memcpy(b, buf, n);
	b[n] = '\0';
	return ms_httpd_resp_take(r, b, n);
}

void ms_httpd_resp_file(struct ms_httpd_resp *r, int fd, uint64_t off, uint64_t len)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = fd;
	r->off = off;
	r->len = len;
}

void ms_httpd_resp_wait(struct ms_httpd_resp *r, const void *key, unsigned ms)
{
	r->wait = 1;
	r->wait_key = key;
	r->wait_ms = ms;
}

int ms_httpd_resp_stream(struct ms_httpd_resp *r, uint64_t len, ms_httpd_read_fn read,
			 void (*done)(void *ud), void *ud, const void *key, unsigned ms)
{
	struct ms_httpd_stream *st = calloc(1, sizeof(*st));

	if (!st) {
		done(ud);
		return r->err = MS_ENOMEM;
	}
	st->read = read;
	st->done = done;
	st->ud = ud;
	st->key = key;
	st->wait_ms = ms;
	st->len = len;
	if (r->stream) {
		r->stream->done(r->stream->ud);
		free(r->stream);
	}
	r->stream = st;
	return 0;
}

static void resp_release(struct ms_httpd_resp *r)
{
	for (int i = 0; i < r->n_headers; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	free(r->body);
	if (r->fd >= 0)
		close(r->fd);
	if (r->stream) {
		r->stream->done(r->stream->ud);
		free(r->stream);
	}
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* ---- requests ---- */

const char *ms_httpd_header(const struct ms_httpd_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

const char *ms_httpd_arg(const struct ms_httpd_req *q, const char *name)
{
	const char *v = NULL;
	size_t n;

	if (MHD_lookup_connection_value_n(q->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name),
					  &v, &n) != MHD_YES)
		return NULL;
	return v ? v : "";
}

int ms_httpd_peer(const struct ms_httpd_req *q, char *buf, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (!sa || cap < 2)
		return -1;
	if (sa->sa_family == AF_INET &&
	    inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
		      (socklen_t)cap))
		return 0;
	if (sa->sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		      buf + 1, (socklen_t)(cap - 2)) && strlen(buf + 1) + 3 <= cap) {
		size_t n = strlen(buf + 1);
		buf[0] = '[';
		buf[n + 1] = ']';
		buf[n + 2] = '\0';
		return 0;
	}
	return -1;
}

/* the path and the query arguments stay as sent: what an escape means
 * is the handler's to decide (an encoded '/' is not a '/') */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static struct hconn *hconn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* ---- sleeping connections ---- */

static void conn_sleep(struct ms_httpd *h, struct hconn *hc, const void *key, unsigned ms)
{
	hc->asleep = 1;
	hc->timed_out = 0;
	hc->wait_key = key;
	hc->wait_until = uv_now(h->loop) + ms;
	h->asleep++;
	MHD_suspend_connection(hc->c);
}

static void conn_wake(struct ms_httpd *h, struct hconn *hc, int timed_out)
{
	hc->asleep = 0;
	hc->timed_out = timed_out;
	h->asleep--;
	h->woke = 1;
	MHD_resume_connection(hc->c);
}

static void on_timer(uv_timer_t *t);

void ms_httpd_wake(struct ms_httpd *h, const void *key)
{
	int n = 0;

	if (!h || h->stopped)
		return;
	for (struct hconn *hc = h->conns; hc && h->asleep; hc = hc->next)
		if (hc->asleep && hc->wait_key == key) {
			conn_wake(h, hc, 0);
			n++;
		}
	if (n && !h->in_run)
		uv_timer_start(&h->timer, on_timer, 0, 0);
}

unsigned ms_httpd_sleeping(const struct ms_httpd *h)
{
	return h->asleep;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct ms_httpd_stream *st = cls;
	struct hconn *hc = hconn_of(st->c);
	int timed_out = hc ? hc->timed_out : 0;
	ssize_t n;

	if (hc)
		hc->timed_out = 0;
	if (st->h->closing || pos >= st->len)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (max > st->len - pos)
		max = (size_t)(st->len - pos);
	n = st->read(st->ud, pos, buf, max, timed_out);
	if (n > 0)
		return n > (ssize_t)max ? MHD_CONTENT_READER_END_WITH_ERROR : n;
	if (n < 0 || !hc)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	conn_sleep(st->h, hc, st->key, st->wait_ms);
	return 0;
}

static void stream_free(void *cls)
{
	struct ms_httpd_stream *st = cls;

	st->done(st->ud);
	free(st);
}

/* a status of our own (too big a body), with its reason as the body */
static enum MHD_Result answer_plain(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(text), (void *)text,
						MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	struct ms_httpd *h = cls;
	struct hreq *rq = *con_cls;
	struct ms_httpd_req q;
	struct ms_httpd_resp r;
	struct MHD_Response *resp;
	struct hconn *hc;
	enum MHD_Result ret;

	if (h->closing)
		return MHD_NO;
	if (!rq) {   /* the head is in */
		if (!(rq = calloc(1, sizeof(*rq))))
			return MHD_NO;
		*con_cls = rq;
		if ((hc = hconn_of(c)))
			hc->deadline = 0;
		return MHD_YES;
	}
	if (*size) {
		if (!rq->toobig && *size <= h->body_max - rq->len) {
			char *nb = realloc(rq->body, rq->len + *size + 1);
			if (!nb)
				return MHD_NO;
			rq->body = nb;
			memcpy(nb + rq->len, data, *size);
			rq->len += *size;
			nb[rq->len] = '\0';
		} else {
			rq->toobig = 1;
		}
		*size = 0;
		return MHD_YES;
	}
	if (rq->toobig)
		return answer_plain(c, MHD_HTTP_CONTENT_TOO_LARGE, "Payload Too Large\n");

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.path = url;
	q.version = version;
	q.body = rq->body ? rq->body : "";
	q.body_len = rq->len;
	q.conn = c;
	hc = hconn_of(c);
	if (hc) {
		q.timed_out = hc->timed_out;
		hc->timed_out = 0;
	}
	memset(&r, 0, sizeof(r));
	r.fd = -1;
	r.status = 500;
	h->handler(h->ud, &q, &r);
	if (r.close || h->closing) {
		resp_release(&r);
		return MHD_NO;
	}
	if (r.wait && !r.err) {
		const void *key = r.wait_key;
		unsigned ms = r.wait_ms;

		resp_release(&r);
		if (!hc)
			return answer_plain(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					    "Service Unavailable\n");
		conn_sleep(h, hc, key, ms);
		return MHD_YES;
	}
	if (r.err) {
		resp_release(&r);
		return answer_plain(c, 500, "Internal Server Error\n");
	}
	if (r.stream) {
		r.stream->h = h;
		r.stream->c = c;
		resp = MHD_create_response_from_callback(r.stream->len, 512u << 10, stream_read,
							 r.stream, stream_free);
		if (resp)
			r.stream = NULL;   /* MHD frees it */
	} else if (r.fd >= 0) {
		resp = MHD_create_response_from_fd_at_offset64(r.len, r.fd, r.off);
		if (resp)
			r.fd = -1;   /* MHD closes it */
	} else if (r.body) {
		resp = MHD_create_response_from_buffer(r.body_len, r.body, MHD_RESPMEM_MUST_FREE);
		if (resp)
			r.body = NULL;
	} else {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		resp_release(&r);
		return MHD_NO;
	}
	for (int i = 0; i < r.n_headers; i++)
		if (MHD_add_response_header(resp, r.names[i], r.values[i]) != MHD_YES) {
			MHD_destroy_response(resp);
			resp_release(&r);
			return MHD_NO;
		}
	ret = MHD_queue_response(c, (unsigned)r.status, resp);
	MHD_destroy_response(resp);
	resp_release(&r);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct ms_httpd *h = cls;
	struct hreq *rq = *con_cls;
	struct hconn *hc = hconn_of(c);

	(void)toe;
	if (rq) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
	/* kept alive: the next head has its deadline too */
	if (hc && !h->stopped)
		hc->deadline = uv_now(h->loop) + 1000u * h->timeout_s;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct ms_httpd *h = cls;
	struct hconn *hc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if (!(hc = calloc(1, sizeof(*hc))))
			return;   /* no deadline of its own: the idle timeout still holds */
		hc->c = c;
		hc->deadline = uv_now(h->loop) + 1000u * h->timeout_s;
		hc->next = h->conns;
		if (h->conns)
			h->conns->prev = hc;
		h->conns = hc;
		h->n_conns++;
		*socket_context = hc;
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, h->timeout_s);
		return;
	}
	h->dropped = 1;
	if (!hc)
		return;
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		h->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	h->n_conns--;
	free(hc);
	*socket_context = NULL;
}

/* MHD's messages are kept, never printed: the core does not print */
static void on_log(void *cls, const char *fmt, va_list ap)
{
	struct ms_httpd *h = cls;

	vsnprintf(h->log, sizeof(h->log), fmt, ap);
}

/* ---- on the loop ---- */

static void stop_all(struct ms_httpd *h);

/* let MHD work, then wait for its fd or its next timeout */
static void run(struct ms_httpd *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (h->closing)
		return;
	h->in_run = 1;
	/* MHD sends at most 128 KiB of a file a connection a run: while it
	 * has connections ready to go on (timeout 0), run it again here
	 * rather than once a loop iteration (bounded, for the rest of the
	 * loop) */
	for (int i = 0; i < RUN_BURST; i++) {
		MHD_run(h->d);
		if (h->closing || h->dropped || MHD_get_timeout(h->d, &ms) != MHD_YES || ms)
			break;
	}
	h->in_run = 0;
	if (h->closing) {   /* ms_httpd_close from a handler */
		stop_all(h);
		return;
	}
	/* at its connection limit MHD takes its listening socket out of its
	 * epoll set; it puts it back on its next run after one closed, and
	 * nothing else would wake us for that run */
	if (h->dropped || h->woke) {
		h->dropped = h->woke = 0;
		uv_timer_start(&h->timer, on_timer, 0, 0);
	} else if (MHD_get_timeout(h->d, &ms) == MHD_YES)
		uv_timer_start(&h->timer, on_timer, ms > 3600000 ? 3600000 : (uint64_t)ms, 0);
	else
		uv_timer_stop(&h->timer);
}

static void on_timer(uv_timer_t *t)
{
	run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	run(p->data);
}

/* request heads past their deadline: shut the socket, MHD sees the end */
static void on_sweep(uv_timer_t *t)
{
	struct ms_httpd *h = t->data;
	uint64_t now = uv_now(h->loop);
	int cut = 0;

	for (struct hconn *hc = h->conns; hc; hc = hc->next) {
		const union MHD_ConnectionInfo *ci;

		if (hc->asleep && now >= hc->wait_until) {
			conn_wake(h, hc, 1);
			cut = 1;
			continue;
		}
		if (hc->asleep || !hc->deadline || hc->cut || now < hc->deadline)
			continue;
		ci = MHD_get_connection_info(hc->c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci && shutdown(ci->connect_fd, SHUT_RDWR) == 0) {
			hc->cut = 1;
			cut = 1;
		}
	}
	if (cut)
		run(h);
}

static void handle_closed(uv_handle_t *hd)
{
	struct ms_httpd *h = hd->data;

	if (--h->handles == 0)
		free(h);
}

static void stop_all(struct ms_httpd *h)
{
	if (h->stopped)
		return;
	/* the poll handle leaves epoll before MHD closes the fd */
	uv_close((uv_handle_t *)&h->poll, handle_closed);
	uv_close((uv_handle_t *)&h->timer, handle_closed);
	uv_close((uv_handle_t *)&h->sweep, handle_closed);
	h->stopped = 1;
	/* MHD must not stop with a connection suspended: wake them, and let
	 * MHD see it (every answer is refused now: closing is set) */
	for (struct hconn *hc = h->conns; hc; hc = hc->next)
		if (hc->asleep)
			conn_wake(h, hc, 0);
	if (h->d && h->woke)
		MHD_run(h->d);
	if (h->d)
		MHD_stop_daemon(h->d);
	h->d = NULL;
}

/* addr into *sa, or an error that says what is wrong with it */
static int parse_addr(const char *what, const char *addr, struct sockaddr_storage *sa,
		      int *v6, struct ms_error *err)
{
	char host[128];
	const char *rb;
	int port;

	memset(sa, 0, sizeof(*sa));
	if (!addr || !*addr)
		return ms_error_set(err, MS_EINVAL, "no %s address", what);
	*v6 = addr[0] == '[';
	if (ms_parse_hostport(addr, host, sizeof(host), &port)) {
		rb = strchr(addr, ']');
		if ((*v6 && rb && !rb[1]) || (!*v6 && !strchr(addr, ':')))
			return ms_error_set(err, MS_EINVAL, "%s address '%s' has no port", what,
					    addr);
		if (!*v6 && strchr(addr, ':') != strrchr(addr, ':'))
			return ms_error_set(err, MS_EINVAL,
					    "%s address '%s': write an IPv6 address "
					    "in brackets, '[::1]:9100'", what, addr);
		return ms_error_set(err, MS_EINVAL,
				    "bad %s address '%s': expected IPV4:PORT or "
				    "[IPV6]:PORT, port 0-65535", what, addr);
	}
	if (*v6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)sa)
		: uv_ip4_addr(host, port, (struct sockaddr_in *)sa))
		return ms_error_set(err, MS_EINVAL,
				    "bad %s address '%s': '%s' is not a numeric "
				    "%s address", what, addr, host, *v6 ? "IPv6" : "IPv4");
	return 0;
}

/* a listening socket of our own, so that a bind error has its errno */
static int listen_on(const char *addr, const struct sockaddr_storage *sa, int v6, int *fd,
		     int *port, struct ms_error *err)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int one = 1, s;

	s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return ms_error_set(err, MS_EIO, "cannot listen on '%s': %s", addr,
				    strerror(errno));
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(s, (const struct sockaddr *)sa,
		 v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) ||
	    listen(s, 128) || getsockname(s, (struct sockaddr *)&bound, &blen)) {
		int e = errno;
		close(s);
		return ms_error_set(err, MS_EIO, "cannot listen on '%s': %s", addr, strerror(e));
	}
	*port = ntohs(v6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
			 : ((struct sockaddr_in *)&bound)->sin_port);
	*fd = s;
	return 0;
}

int ms_httpd_start(struct ms_httpd **out, uv_loop_t *loop, const struct ms_httpd_opts *o,
		   struct ms_error *err)
{
	const char *what = o->what ? o->what : "listen";
	const union MHD_DaemonInfo *di;
	struct sockaddr_storage sa;
	struct ms_httpd *h;
	int v6 = 0, fd = -1, rc;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;

	if ((rc = parse_addr(what, o->addr, &sa, &v6, err)))
		return rc;
	if (!o->handler)
		return ms_error_set(err, MS_EINVAL, "no request handler");
	if (!(h = calloc(1, sizeof(*h))))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	h->loop = loop;
	h->handler = o->handler;
	h->ud = o->ud;
	h->timeout_s = o->timeout_s ? o->timeout_s : DEF_TIMEOUT_S;
	h->body_max = o->body_max ? o->body_max : DEF_BODY;
	if ((rc = listen_on(o->addr, &sa, v6, &fd, &h->port, err))) {
		free(h);
		return rc;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, o->max_conns ? o->max_conns : DEF_CONNS,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(o->conn_memory ? o->conn_memory : DEF_MEMORY),
		MHD_OPTION_CONNECTION_TIMEOUT, h->timeout_s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
		MHD_OPTION_SIGPIPE_HANDLED_BY_APP, o->sigpipe_ignored ? 1 : 0,
		MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
		MHD_OPTION_END);
	di = h->d ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!h->d || !di) {
		if (h->d)
			MHD_stop_daemon(h->d);
		else
			close(fd);
		rc = ms_error_set(err, MS_EIO, "cannot serve on '%s': %s", o->addr,
				  h->log[0] ? h->log : "libmicrohttpd failed to start");
		free(h);
		return rc;
	}
	uv_poll_init(loop, &h->poll, di->epoll_fd);
	uv_timer_init(loop, &h->timer);
	uv_timer_init(loop, &h->sweep);
	h->poll.data = h->timer.data = h->sweep.data = h;
	h->handles = 3;
	if ((rc = uv_poll_start(&h->poll, UV_READABLE, on_poll))) {
		h->closing = 1;
		stop_all(h);
		return ms_error_set(err, MS_EIO, "cannot serve on '%s': %s", o->addr,
				    uv_strerror(rc));
	}
	uv_timer_start(&h->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)&h->sweep);
	run(h);
	*out = h;
	return 0;
}

int ms_httpd_port(const struct ms_httpd *h)
{
	return h->port;
}

void ms_httpd_set_timeout(struct ms_httpd *h, unsigned timeout_s)
{
	h->timeout_s = timeout_s ? timeout_s : 1;
}

unsigned ms_httpd_connections(const struct ms_httpd *h)
{
	return h->n_conns;
}

void ms_httpd_close(struct ms_httpd *h)
{
	if (!h || h->closing)
		return;
	h->closing = 1;
	if (!h->in_run)
		stop_all(h);
}
