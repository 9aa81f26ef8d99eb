/* rpc.c: JSON-RPC 2.0 over a unix socket (transport; methods elsewhere) */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ms_config.h"
#include "ms_rpc.h"
#include "ms_util.h"

/* requests (single, or of a batch) answered per client per loop turn;
 * the rest wait for the next turn, so one client's batch does not stall
 * the loop for everyone */
#define TURN_REQUESTS 64

/* what the client's timer is counting */
enum {
	T_NONE,
	T_FIRST,     /* a new client's first byte */
	T_REQUEST,   /* a request started and not finished */
	T_IDLE,      /* between requests */
	T_WRITE,     /* answers the client does not read */
};

struct client {
	uv_pipe_t pipe;
	uv_timer_t timer;
	struct ms_rpc *r;
	char *buf;               /* bytes read, not handled yet: whole lines,
				    then the start of one (from pstart) */
	size_t off, len, cap, pstart;
	json_t *batch;           /* a batch being answered, from batch_i */
	size_t batch_i;
	int batch_open;          /* its "[" is written */
	char *ob;                /* answers not yet handed to libuv */
	size_t ob_len, ob_cap;
	size_t unsent_seen;      /* unsent bytes when the T_WRITE clock started */
	int tmode;               /* T_* */
	int spoke;               /* it has sent a byte */
	int reading;
	int ready;               /* has work for the next loop turn */
	int closing;
	int handles;             /* open handles of this client */
	struct client *next;     /* the newest first */
};

struct ms_rpc {
	uv_loop_t *loop;
	uv_pipe_t server;
	uv_idle_t idle;          /* runs while a client has work left */
	struct ms_rpc_opts o;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct client *clients;
	int n_open;              /* clients not closing */
	int closing;
	int handles;
};

struct wreq {
	uv_write_t req;
	struct client *c;
	char *data;
};

static void pump(struct client *c);
static void on_idle(uv_idle_t *h);

static void rpc_maybe_free(struct ms_rpc *r)
{
	if (r->closing && r->handles == 0 && !r->clients)
		free(r);
}

static void client_closed(uv_handle_t *h)
{
	struct client *c = h->data;
	struct ms_rpc *r = c->r;

	if (--c->handles)
		return;
	for (struct client **pp = &r->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	json_decref(c->batch);
	free(c->ob);
	free(c->buf);
	free(c);
	rpc_maybe_free(r);
}

static void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	c->r->n_open--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, client_closed);
	uv_close((uv_handle_t *)&c->pipe, client_closed);
}

/* bytes of answers the client has not taken yet */
static size_t unsent(struct client *c)
{
	return uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) + c->ob_len;
}

static void written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct client *c = w->c;

	free(w->data);
	free(w);
	/* the client took some: go on if it was held back */
	if (status == 0 && !c->closing)
		pump(c);
}

/* add n bytes at *len of *buf (of *cap bytes, grown as needed) */
static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n > *cap) {
		size_t nc = *cap ? *cap : 4096;
		char *b;
		while (nc < *len + n)
			nc *= 2;
		if (!(b = realloc(*buf, nc)))
			return -1;
		*buf = b;
		*cap = nc;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	return 0;
}

/* queue n bytes of answer */
static void out(struct client *c, const char *s, size_t n)
{
	if (!c->closing && append(&c->ob, &c->ob_len, &c->ob_cap, s, n))
		client_close(c);
}

static void out_json(struct client *c, json_t *msg, const char *after)
{
	char *s;

	if (!msg || !(s = json_dumps(msg, JSON_COMPACT)))
		return;
	out(c, s, strlen(s));
	out(c, after, strlen(after));
	free(s);
}

/* hand the queued answers to libuv, in one write; the client may be
 * closed right after (writes queued before uv_close are still flushed or
 * cancelled cleanly) */
static void flush(struct client *c)
{
	struct wreq *w;
	uv_buf_t b;

	if (c->closing || !c->ob_len)
		return;
	if (!(w = calloc(1, sizeof(*w)))) {
		client_close(c);
		return;
	}
	w->c = c;
	w->data = c->ob;
	b = uv_buf_init(c->ob, (unsigned)c->ob_len);
	c->ob = NULL;
	c->ob_len = c->ob_cap = 0;
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, written)) {
		free(w->data);
		free(w);
		client_close(c);
	}
}

static json_t *error_obj(json_t *id, int code, const char *msg)
{
	return json_pack("{s:s, s:{s:i, s:s}, s:O}", "jsonrpc", "2.0", "error",
			 "code", code, "message", msg, "id", id ? id : json_null());
}

/* an error with no id, then the client is closed */
static void fail(struct client *c, const char *msg)
{
	json_t *e = error_obj(NULL, MS_RPC_INVALID_REQUEST, msg);

	out_json(c, e, "\n");
	json_decref(e);
	flush(c);
	client_close(c);
}

/* one request object: the response, or NULL for a notification */
static json_t *handle_one(struct ms_rpc *r, json_t *req)
{
	json_t *id, *params, *result;
	const char *method;
	char msg[512] = "";
	int code = 0;

	if (!json_is_object(req))
		return error_obj(NULL, MS_RPC_INVALID_REQUEST, "a request is an object");
	id = json_object_get(req, "id");
	if (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id))
		return error_obj(NULL, MS_RPC_INVALID_REQUEST, "id must be a string or a number");
	if (!json_is_string(json_object_get(req, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(req, "jsonrpc")), "2.0"))
		return error_obj(id, MS_RPC_INVALID_REQUEST, "jsonrpc must be \"2.0\"");
	method = json_string_value(json_object_get(req, "method"));
	if (!method)
		return error_obj(id, MS_RPC_INVALID_REQUEST, "no method");
	params = json_object_get(req, "params");
	if (params && !json_is_object(params) && !json_is_array(params))
		return error_obj(id, MS_RPC_INVALID_PARAMS, "params must be an object or an array");
	for (size_t i = 0; i < r->o.n_methods; i++) {
		if (strcmp(r->o.methods[i].name, method))
			continue;
		result = r->o.methods[i].fn(r->o.ud, params, &code, msg, sizeof(msg));
		if (!id) {
			json_decref(result);
			return NULL;
		}
		if (!result)
			return error_obj(id, code ? code : MS_RPC_INTERNAL_ERROR,
					 *msg ? msg : "failed");
		return json_pack("{s:s, s:o, s:O}", "jsonrpc", "2.0", "result", result,
				 "id", id);
	}
	snprintf(msg, sizeof(msg), "no method '%.200s'", method);
	return id ? error_obj(id, MS_RPC_METHOD_NOT_FOUND, msg) : NULL;
}

/* answer the batch's next requests, within *budget; its answer goes out
 * piece by piece ("[", then each response after a ",", then "]"), none
 * at all if it held only notifications */
static void batch_step(struct client *c, int *budget)
{
	size_t n = json_array_size(c->batch);

	while (*budget > 0 && c->batch_i < n && !c->closing &&
	       unsent(c) <= c->r->o.max_unsent) {
		json_t *one = handle_one(c->r, json_array_get(c->batch, c->batch_i++));
		(*budget)--;
		if (one) {
			out(c, c->batch_open ? "," : "[", 1);
			c->batch_open = 1;
			out_json(c, one, "");
			json_decref(one);
		}
	}
	if (c->batch_i == n) {
		if (c->batch_open)
			out(c, "]\n", 2);
		json_decref(c->batch);
		c->batch = NULL;
	}
}

static void handle_line(struct client *c, const char *line, size_t len)
{
	json_error_t je;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je), *resp;

	if (!req) {
		resp = error_obj(NULL, MS_RPC_PARSE_ERROR, "not JSON");
	} else if (json_is_array(req) && !json_array_size(req)) {
		resp = error_obj(NULL, MS_RPC_INVALID_REQUEST, "empty batch");
	} else if (json_is_array(req) && json_array_size(req) > MS_RPC_MAX_BATCH) {
		char msg[64];
		snprintf(msg, sizeof(msg), "a batch of more than %d requests", MS_RPC_MAX_BATCH);
		resp = error_obj(NULL, MS_RPC_INVALID_REQUEST, msg);
	} else if (json_is_array(req)) {
		c->batch = req;  /* answered by batch_step() */
		c->batch_i = 0;
		c->batch_open = 0;
		return;
	} else {
		resp = handle_one(c->r, req);
	}
	out_json(c, resp, "\n");
	json_decref(resp);
	json_decref(req);
}

static void on_timer(uv_timer_t *t);

/* the clock for what the client is doing now; a state it stays in keeps
 * its clock (a slow request is not given more time by each byte) */
static void rearm(struct client *c)
{
	const struct ms_rpc_opts *o = &c->r->o;
	size_t pending = unsent(c);
	unsigned ms;
	int mode;

	if (c->closing)
		return;
	if (pending && !c->reading)
		mode = T_WRITE;
	else if (c->len > c->off || c->batch)
		mode = T_REQUEST;
	else
		mode = c->spoke ? T_IDLE : T_FIRST;
	if (mode == c->tmode)
		return;
	c->tmode = mode;
	c->unsent_seen = pending;
	ms = mode == T_FIRST ? o->first_byte_timeout_ms
	     : mode == T_IDLE ? o->idle_timeout_ms : o->request_timeout_ms;
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct client *c = t->data;
	size_t pending;

	switch (c->tmode) {
	case T_WRITE:
		/* it takes its answers, if slowly: more time */
		pending = unsent(c);
		if (pending < c->unsent_seen) {
			c->unsent_seen = pending;
			uv_timer_start(&c->timer, on_timer, c->r->o.request_timeout_ms, 0);
			return;
		}
		break;
	case T_REQUEST:
		if (c->len > c->pstart) {
			fail(c, "request not completed in time");
			return;
		}
		if (c->batch || c->len > c->off) {
			/* whole requests still being answered */
			uv_timer_start(&c->timer, on_timer, c->r->o.request_timeout_ms, 0);
			return;
		}
		break;
	}
	client_close(c);
}

static void set_reading(struct client *c, int on);

/* answer what the client sent, at most TURN_REQUESTS requests and while
 * its unsent answers are under the cap; then read more, wait for the
 * next loop turn, or (held back) wait until it takes its answers */
static void pump(struct client *c)
{
	struct ms_rpc *r = c->r;
	int budget = TURN_REQUESTS, more, held;

	c->ready = 0;
	while (!c->closing && budget > 0 && unsent(c) <= r->o.max_unsent) {
		char *line = c->buf + c->off, *nl;
		size_t n;

		if (c->batch) {
			batch_step(c, &budget);
			continue;
		}
		if (c->len == c->off || !(nl = memchr(line, '\n', c->len - c->off)))
			break;
		n = (size_t)(nl - line);
		c->off += n + 1;
		c->tmode = T_NONE;  /* the next request has its own clock */
		if (n > r->o.max_request) {
			fail(c, "request too large");
			return;
		}
		if (n) {
			handle_line(c, line, n);
			budget--;
		}
	}
	flush(c);
	if (c->closing)
		return;
	if (c->off) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->pstart -= c->off;
		c->off = 0;
	}
	more = c->batch || (c->len && memchr(c->buf, '\n', c->len));
	held = unsent(c) > r->o.max_unsent;
	set_reading(c, !more && !held);
	if (more && !held) {
		c->ready = 1;
		uv_idle_start(&r->idle, on_idle);
	}
	rearm(c);
}

static void on_idle(uv_idle_t *h)
{
	struct ms_rpc *r = h->data;
	int again = 0;

	for (struct client *c = r->clients; c; c = c->next)
		if (c->ready && !c->closing)
			pump(c);
	for (struct client *c = r->clients; c; c = c->next)
		again |= c->ready && !c->closing;
	if (!again)
		uv_idle_stop(&r->idle);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char slab[65536];

	(void)h;
	(void)hint;
	/* the loop is one thread and a read is consumed before the next */
	*b = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct client *c = s->data;
	const char *nl;

	if (n < 0) {
		client_close(c);
		return;
	}
	if (n == 0)
		return;
	c->spoke = 1;
	/* it reads only when nothing whole is waiting: buf holds the start
	 * of one request (under max_request) and this read */
	if ((nl = memrchr(b->base, '\n', (size_t)n)))
		c->pstart = c->len + (size_t)(nl - b->base) + 1;
	if (append(&c->buf, &c->len, &c->cap, b->base, (size_t)n)) {
		client_close(c);
		return;
	}
	if (c->len - c->pstart > c->r->o.max_request) {
		fail(c, "request too large");
		return;
	}
	pump(c);
}

static void set_reading(struct client *c, int on)
{
	if (on && !c->reading)
		c->reading = !uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	else if (!on && c->reading)
		c->reading = uv_read_stop((uv_stream_t *)&c->pipe) != 0;
}

static int peer_uid_ok(uv_pipe_t *p)
{
	uv_os_fd_t fd;
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (uv_fileno((uv_handle_t *)p, &fd) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		return 0;
	return cr.uid == geteuid();
}

/* At the limit, a new client is let in and an old one goes: the oldest
 * that is doing nothing (it never spoke, or it waits between requests),
 * else the oldest. The newest is the likeliest to be a command that will
 * be answered at once; the one that held its place longest has had its
 * turn; and a client that did nothing loses nothing it cannot ask again. */
static int evict(struct ms_rpc *r, struct client *newest)
{
	struct client *idle = NULL, *oldest = NULL;

	for (struct client *c = r->clients; c; c = c->next) {
		if (c == newest || c->closing)
			continue;
		oldest = c;
		if ((c->tmode == T_FIRST || c->tmode == T_IDLE) && !unsent(c))
			idle = c;
	}
	if (!oldest)
		return 0;
	client_close(idle ? idle : oldest);
	return 1;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ms_rpc *r = server->data;
	struct client *c;

	if (status < 0 || r->closing)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->r = r;
	uv_pipe_init(r->loop, &c->pipe, 0);
	uv_timer_init(r->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->handles = 2;
	c->next = r->clients;
	r->clients = c;
	r->n_open++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) || !peer_uid_ok(&c->pipe)) {
		client_close(c);
		return;
	}
	while (r->n_open > r->o.max_clients && evict(r, c))
		;
	pump(c);  /* starts reading and its first-byte clock */
}

/* is something answering on path? */
static int alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void server_closed(uv_handle_t *h)
{
	struct ms_rpc *r = h->data;

	r->handles--;
	rpc_maybe_free(r);
}

int ms_rpc_start(struct ms_rpc **out, uv_loop_t *loop,
		 const struct ms_rpc_opts *o, struct ms_error *err)
{
	struct ms_rpc *r = calloc(1, sizeof(*r));
	struct stat st;
	mode_t old;
	int rc;

	if (!r)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	if (strlen(o->path) >= sizeof(r->path)) {
		free(r);
		return ms_error_set(err, MS_EINVAL, "socket path '%s' is too long", o->path);
	}
	r->loop = loop;
	r->o = *o;
	snprintf(r->path, sizeof(r->path), "%s", o->path);
	r->o.path = r->path;
	if (!r->o.max_request)
		r->o.max_request = 1 << 20;
	if (!r->o.request_timeout_ms)
		r->o.request_timeout_ms = 10000;
	if (!r->o.idle_timeout_ms)
		r->o.idle_timeout_ms = 300000;
	if (!r->o.first_byte_timeout_ms)
		r->o.first_byte_timeout_ms = 5000;
	if (!r->o.max_unsent)
		r->o.max_unsent = 1 << 20;
	if (!r->o.max_clients)
		r->o.max_clients = 64;
	if (lstat(r->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			free(r);
			return ms_error_set(err, MS_EEXIST, "'%s' exists and is not a socket",
					    o->path);
		}
		if (alive(o->path)) {
			free(r);
			return ms_error_set(err, MS_EEXIST, "a daemon already answers on '%s'",
					    o->path);
		}
		unlink(r->path); /* stale, from a daemon that died */
	}
	uv_pipe_init(loop, &r->server, 0);
	uv_idle_init(loop, &r->idle);
	r->server.data = r->idle.data = r;
	r->handles = 2;
	old = umask(0177); /* the socket is born 0600 */
	rc = uv_pipe_bind(&r->server, r->path);
	umask(old);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&r->server, 16, on_connection);
	if (rc) {
		r->closing = 1;
		uv_close((uv_handle_t *)&r->server, server_closed);
		uv_close((uv_handle_t *)&r->idle, server_closed);
		return ms_error_set(err, MS_EIO, "cannot listen on '%s': %s", o->path,
				    uv_strerror(rc));
	}
	*out = r;
	return 0;
}

void ms_rpc_close(struct ms_rpc *r)
{
	if (r->closing)
		return;
	r->closing = 1;
	for (struct client *c = r->clients; c; c = c->next)
		client_close(c);
	unlink(r->path);
	uv_idle_stop(&r->idle);
	uv_close((uv_handle_t *)&r->server, server_closed);
	uv_close((uv_handle_t *)&r->idle, server_closed);
}

int ms_rpc_default_path(char *buf, size_t len, struct ms_error *err)
{
	const char *v = getenv("MODELSWARM_HOME");
	char state[PATH_MAX];
	int n;

	if (v && *v) {
		n = snprintf(buf, len, "%s/modelswarm.sock", v);
	} else if ((v = getenv("XDG_RUNTIME_DIR")) && *v == '/') {
		n = snprintf(buf, len, "%s/modelswarm.sock", v);
	} else {
		int r = ms_state_dir(state, sizeof(state), err);
		if (r)
			return r;
		n = snprintf(buf, len, "%s/modelswarm.sock", state);
	}
	if (n < 0 || (size_t)n >= len)
		return ms_error_set(err, MS_EINVAL, "socket path too long");
	return 0;
}

static long ms_left(const struct timespec *t0, unsigned timeout_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)timeout_ms - ((t.tv_sec - t0->tv_sec) * 1000L +
				   (t.tv_nsec - t0->tv_nsec) / 1000000L);
}

int ms_rpc_call(const char *path, const char *method, json_t *params,
		unsigned timeout_ms, json_t **response, struct ms_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_t *req = json_pack("{s:s, s:s, s:i}", "jsonrpc", "2.0", "method", method,
				"id", 1);
	char *s = NULL, buf[1 << 16], *acc = NULL;
	size_t alen = 0;
	struct timespec t0;
	int fd = -1, r = 0;

	*response = NULL;
	if (!req)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	if (params)
		json_object_set(req, "params", params);
	s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!s)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	if (strlen(path) >= sizeof(sa.sun_path)) {
		free(s);
		return ms_error_set(err, MS_EINVAL, "socket path '%s' is too long", path);
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = ms_error_set(err, MS_ENOENT, "no daemon answers on '%s': %s", path,
				 strerror(errno));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (dprintf(fd, "%s\n", s) < 0) {
		r = ms_error_set(err, MS_EIO, "cannot write to '%s': %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long left = ms_left(&t0, timeout_ms);
		ssize_t n;
		char *nl;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			r = ms_error_set(err, MS_EIO, "no answer from '%s' in time", path);
			goto out;
		}
		n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			r = ms_error_set(err, MS_EIO, "'%s' closed the connection", path);
			goto out;
		}
		if (alen + (size_t)n > (64u << 20)) {
			r = ms_error_set(err, MS_ETOOBIG, "answer from '%s' too large", path);
			goto out;
		}
		{
			char *na = realloc(acc, alen + (size_t)n + 1);
			if (!na) {
				r = ms_error_set(err, MS_ENOMEM, "out of memory");
				goto out;
			}
			acc = na;
		}
		memcpy(acc + alen, buf, (size_t)n);
		alen += (size_t)n;
		acc[alen] = '\0';
		if ((nl = memchr(acc, '\n', alen))) {
			json_error_t je;
			*response = json_loadb(acc, (size_t)(nl - acc), 0, &je);
			if (!*response)
				r = ms_error_set(err, MS_EIO, "bad answer from '%s': %s", path,
						 je.text);
			goto out;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(s);
	free(acc);
	return r;
}
