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

struct client {
	uv_pipe_t pipe;
	uv_timer_t timer;
	struct ms_rpc *r;
	char *buf;               /* bytes of an unfinished line */
	size_t len, cap;
	int closing;
	int handles;             /* open handles of this client */
	struct client *next;
};

struct ms_rpc {
	uv_loop_t *loop;
	uv_pipe_t server;
	struct ms_rpc_opts o;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct client *clients;
	int n_clients;
	int closing;
	int handles;
};

struct wreq {
	uv_write_t req;
	char *data;
};

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
	r->n_clients--;
	free(c->buf);
	free(c);
	rpc_maybe_free(r);
}

static void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, client_closed);
	uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;

	(void)status;
	free(w->data);
	free(w);
}

/* write one line; the client may be closed right after (writes queued
 * before uv_close are still flushed or cancelled cleanly) */
static void send_json(struct client *c, json_t *msg)
{
	struct wreq *w;
	char *s;
	size_t n;
	uv_buf_t b;

	if (c->closing || !msg)
		return;
	s = json_dumps(msg, JSON_COMPACT);
	if (!s)
		return;
	n = strlen(s);
	w = calloc(1, sizeof(*w));
	if (!w || !(w->data = realloc(s, n + 2))) {
		free(w);
		free(s);
		return;
	}
	w->data[n] = '\n';
	b = uv_buf_init(w->data, (unsigned)n + 1);
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, written)) {
		free(w->data);
		free(w);
	}
}

static json_t *error_obj(json_t *id, int code, const char *msg)
{
	return json_pack("{s:s, s:{s:i, s:s}, s:O}", "jsonrpc", "2.0", "error",
			 "code", code, "message", msg, "id", id ? id : json_null());
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

static void handle_line(struct client *c, const char *line, size_t len)
{
	json_error_t je;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je), *resp;

	if (!req) {
		resp = error_obj(NULL, MS_RPC_PARSE_ERROR, "not JSON");
	} else if (json_is_array(req)) {
		resp = json_array();
		if (!json_array_size(req)) {
			json_decref(resp);
			resp = error_obj(NULL, MS_RPC_INVALID_REQUEST, "empty batch");
		}
		for (size_t i = 0; resp && json_is_array(resp) && i < json_array_size(req); i++) {
			json_t *one = handle_one(c->r, json_array_get(req, i));
			if (one)
				json_array_append_new(resp, one);
		}
		if (json_is_array(resp) && !json_array_size(resp)) {
			json_decref(resp);
			resp = NULL;  /* only notifications */
		}
	} else {
		resp = handle_one(c->r, req);
	}
	send_json(c, resp);
	json_decref(resp);
	json_decref(req);
}

static void on_timer(uv_timer_t *t)
{
	struct client *c = t->data;

	if (c->len) {
		json_t *e = error_obj(NULL, MS_RPC_INVALID_REQUEST,
				      "request not completed in time");
		send_json(c, e);
		json_decref(e);
	}
	client_close(c);
}

static void arm(struct client *c)
{
	unsigned ms = c->len ? c->r->o.request_timeout_ms : c->r->o.idle_timeout_ms;

	uv_timer_start(&c->timer, on_timer, ms, 0);
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
	struct ms_rpc *r = c->r;
	const char *p = b->base, *end;
	int started = c->len > 0;

	if (n < 0) {
		client_close(c);
		return;
	}
	end = p + n;
	while (p < end && !c->closing) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t take = (size_t)((nl ? nl : end) - p);

		if (c->len + take > r->o.max_request) {
			json_t *e = error_obj(NULL, MS_RPC_INVALID_REQUEST, "request too large");
			send_json(c, e);
			json_decref(e);
			client_close(c);
			return;
		}
		if (c->len + take > c->cap) {
			size_t cap = c->cap ? c->cap : 4096;
			char *nb;
			while (cap < c->len + take)
				cap *= 2;
			if (!(nb = realloc(c->buf, cap))) {
				client_close(c);
				return;
			}
			c->buf = nb;
			c->cap = cap;
		}
		memcpy(c->buf + c->len, p, take);
		c->len += take;
		p += take;
		if (!nl)
			break;
		p++; /* the newline */
		if (c->len)
			handle_line(c, c->buf, c->len);
		c->len = 0;
		started = 0;
	}
	/* a new request starts its clock; one in progress keeps it */
	if (!c->closing && (!started || !c->len))
		arm(c);
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
	r->n_clients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) || !peer_uid_ok(&c->pipe) ||
	    r->n_clients > r->o.max_clients) {
		client_close(c);
		return;
	}
	arm(c);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
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
	r->server.data = r;
	r->handles = 1;
	old = umask(0177); /* the socket is born 0600 */
	rc = uv_pipe_bind(&r->server, r->path);
	umask(old);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&r->server, 16, on_connection);
	if (rc) {
		r->closing = 1;
		uv_close((uv_handle_t *)&r->server, server_closed);
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
	uv_close((uv_handle_t *)&r->server, server_closed);
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
