/* http.c: bounded fetches of index files */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "ms_http.h"
#include "ms_util.h"

struct sink {
	unsigned char *buf;
	size_t len, cap, limit;
	int toobig;
};

#define REFUSED "'%s' redirected to the local address %s: refused (a public " \
	"index or mirror may not send requests into the local network)"

/* where a transfer started, and a redirect refused for leading from a
 * public address to a local one */
enum { G_UNKNOWN, G_PUBLIC, G_LOCAL };
struct guard {
	int origin;
	char refused[80];     /* "ADDRESS port N", or "" */
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t add = sz * n;

	if (s->len + add > s->limit) {
		s->toobig = 1;
		return 0;
	}
	if (s->len + add + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		unsigned char *b;
		while (cap < s->len + add + 1)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b)
			return 0;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

/* ---- redirects into the local network -------------------------------- */

/* 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, 0/8, 100.64/10 */
static int v4_local(const unsigned char a[4])
{
	return a[0] == 127 || a[0] == 10 || a[0] == 0 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	       (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254) ||
	       (a[0] == 100 && (a[1] & 0xc0) == 64);
}

/* ::1, ::, fc00::/7, fe80::/10, and the v4 forms (::ffff:a.b.c.d, and
 * the deprecated ::a.b.c.d) by their v4 address */
static int v6_local(const unsigned char a[16])
{
	static const unsigned char zero[12], mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (!memcmp(a, mapped, 12) || !memcmp(a, zero, 12))
		return v4_local(a + 12) || !memcmp(a, zero, 12);
	return (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

/* Test-only: the tests run on loopback, so this names addresses (such as
 * 127.0.0.2, separated by commas or spaces) to be taken as public ones.
 * Not for users. */
static int test_public(const char *ip)
{
	const char *v = getenv("MODELSWARM_TEST_PUBLIC_HOSTS");
	size_t n = strlen(ip);

	for (; v && *v; v += strcspn(v, ", ")) {
		v += strspn(v, ", ");
		if (!strncmp(v, ip, n) && (v[n] == '\0' || v[n] == ',' || v[n] == ' '))
			return 1;
	}
	return 0;
}

int ms__ip_local(const char *ip)
{
	unsigned char a[16];

	if (test_public(ip))
		return 0;
	if (inet_pton(AF_INET, ip, a) == 1)
		return v4_local(a);
	if (inet_pton(AF_INET6, ip, a) == 1)
		return v6_local(a);
	return 0;
}

static void guard_refuse(struct guard *g, const char *ip, int port)
{
	snprintf(g->refused, sizeof(g->refused), "%s port %d", ip, port);
}

/* before a connection is made: once the first request has gone to a
 * public address, none goes to a local one */
static curl_socket_t guard_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct guard *g = ud;
	char ip[INET6_ADDRSTRLEN] = "";
	int port = 0;

	if (purpose == CURLSOCKTYPE_IPCXN && g->origin == G_PUBLIC) {
		if (a->family == AF_INET) {
			struct sockaddr_in *v4 = (struct sockaddr_in *)&a->addr;
			inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
			port = ntohs(v4->sin_port);
		} else if (a->family == AF_INET6) {
			struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->addr;
			inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
			port = ntohs(v6->sin6_port);
		}
		if (*ip && ms__ip_local(ip)) {
			guard_refuse(g, ip, port);
			return CURL_SOCKET_BAD;
		}
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* before each request, on a new or a reused connection: the first one
 * (to the URL asked for) says where the transfer started */
static int guard_prereq(void *ud, char *ip, char *local_ip, int port, int local_port)
{
	struct guard *g = ud;

	(void)local_ip;
	(void)local_port;
	if (g->origin == G_UNKNOWN)
		g->origin = ms__ip_local(ip) ? G_LOCAL : G_PUBLIC;
	else if (g->origin == G_PUBLIC && ms__ip_local(ip)) {
		guard_refuse(g, ip, port);
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/* A URL the user or a publisher named may be on the local network (a
 * mirror on the LAN, an index on localhost) and may redirect within it;
 * one on a public address may not redirect into it: a public index or
 * mirror could otherwise make us send requests of its choosing to local
 * services. The addresses checked are those libcurl connects to (behind
 * a proxy, the proxy's: the proxy decides). */
static void guard_opts(CURL *c, struct guard *g)
{
	memset(g, 0, sizeof(*g));
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, guard_open);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, g);
	curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, guard_prereq);
	curl_easy_setopt(c, CURLOPT_PREREQDATA, g);
}

/* the CAs OpenSSL's variables name, as for trackers (libcurl has its own
 * defaults and does not read them) */
static void ca_opts(CURL *c)
{
	const char *v;

	if ((v = getenv("SSL_CERT_FILE")) && *v)
		curl_easy_setopt(c, CURLOPT_CAINFO, v);
	if ((v = getenv("SSL_CERT_DIR")) && *v)
		curl_easy_setopt(c, CURLOPT_CAPATH, v);
}

int ms_url_get(const char *base, const char *rel, size_t cap,
	       unsigned char **buf, size_t *len, struct ms_error *err)
{
	char url[8192];
	size_t bl = strlen(base);
	const char *sep = bl && base[bl - 1] == '/' ? "" : "/";
	struct sink s = { NULL, 0, 0, cap, 0 };
	struct guard g;
	char ebuf[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURL *c;
	CURLcode rc;

	*buf = NULL;
	*len = 0;
	if (strstr(base, "://") == NULL) {
		/* a plain directory */
		if ((size_t)snprintf(url, sizeof(url), "%s%s%s", base, sep, rel) >= sizeof(url))
			return ms_error_set(err, MS_EINVAL, "URL too long");
		return ms_read_file(url, cap, buf, len, err);
	}
	if (strncmp(base, "file://", 7) && strncmp(base, "http://", 7) &&
	    strncmp(base, "https://", 8))
		return ms_error_set(err, MS_EINVAL,
				    "index '%s': only file://, http:// and https:// work", base);
	if (!strncmp(base, "file://", 7)) {
		if ((size_t)snprintf(url, sizeof(url), "%s%s%s", base + 7, sep, rel) >=
		    sizeof(url))
			return ms_error_set(err, MS_EINVAL, "URL too long");
		return ms_read_file(url, cap, buf, len, err);
	}
	if ((size_t)snprintf(url, sizeof(url), "%s%s%s", base, sep, rel) >= sizeof(url))
		return ms_error_set(err, MS_EINVAL, "URL too long");
	c = curl_easy_init();
	if (!c)
		return ms_error_set(err, MS_ENOMEM, "cannot start libcurl");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "modelswarm/" MS_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	guard_opts(c, &g);
	ca_opts(c);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (*g.refused) {
		free(s.buf);
		return ms_error_set(err, MS_EPATH, REFUSED, url, g.refused);
	}
	if (s.toobig || rc == CURLE_FILESIZE_EXCEEDED) {
		free(s.buf);
		return ms_error_set(err, MS_ETOOBIG, "'%s' is larger than %zu bytes", url, cap);
	}
	if (rc != CURLE_OK) {
		free(s.buf);
		return ms_error_set(err, MS_EIO, "cannot fetch '%s': %s", url,
				    *ebuf ? ebuf : curl_easy_strerror(rc));
	}
	if (code == 404 || code == 410) {
		free(s.buf);
		return ms_error_set(err, MS_ENOENT, "'%s' not found (HTTP %ld)", url, code);
	}
	if (code < 200 || code >= 300) {
		free(s.buf);
		return ms_error_set(err, MS_EIO, "cannot fetch '%s': HTTP %ld", url, code);
	}
	if (!s.buf) {
		s.buf = malloc(1);
		if (!s.buf)
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		s.buf[0] = '\0';
	}
	*buf = s.buf;
	*len = s.len;
	return 0;
}

/* ---- libcurl multi on a libuv loop ------------------------------------ */

struct ms_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	uv_timer_t soon;         /* answers local files on the next turn */
	int open_handles;
	int closing;
	struct req *reqs;
};

/* a byte-range transfer (ms_http_range_start()) */
struct rng {
	struct ms_http_range rq;
	struct curl_slist *hdrs;
	int64_t got;
	int64_t cr_start, cr_end;  /* Content-Range of the last response */
	int checked;               /* the last response's status was checked */
	const char *bad;           /* why the body was refused */
	char badbuf[160];
};

struct req {
	struct ms_http *h;
	CURL *easy;
	struct sink sink;
	struct rng *rg;
	char url[8192];
	char ebuf[CURL_ERROR_SIZE];
	struct guard guard;
	ms_http_cb cb;
	void *ud;
	int is_file;               /* read by read_local(), no libcurl */
	struct ms_error local;     /* how that went */
	struct curl_slist *cond;   /* If-None-Match, for ms_http_get_if() */
	char *etag_out;            /* the response's ETag goes here */
	struct ms_http_api_hdrs *api;  /* and these, for ms_http_get_api() */
	struct req *next;
};

struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct ms_http *h;
};

static void handle_closed(uv_handle_t *hd)
{
	struct ms_http *h = hd->data;

	if (hd != (uv_handle_t *)&h->timer && hd != (uv_handle_t *)&h->soon)
		free(hd);
	if (--h->open_handles == 0 && h->closing)
		free(h);
}

static void unlink_req(struct ms_http *h, struct req *r)
{
	struct req **pp;

	curl_multi_remove_handle(h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	for (pp = &h->reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
}

static void free_req(struct req *r)
{
	curl_slist_free_all(r->cond);
	if (r->rg)
		curl_slist_free_all(r->rg->hdrs);
	free(r->rg);
	free(r->sink.buf);
	free(r);
}

static void range_done(struct ms_http *h, struct req *r, CURLcode rc)
{
	struct rng *g = r->rg;
	struct ms_http_result res = { 0 };
	char msg[600] = "";
	char *eff = NULL;
	curl_off_t ra = -1;
	long redirs = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.http_code);
	curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &eff);
	curl_easy_getinfo(r->easy, CURLINFO_REDIRECT_COUNT, &redirs);
	curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &ra);
	res.retry_after = ra > 0 ? (long)ra : -1;
	res.redirected = redirs > 0;
	res.url = eff ? eff : r->url;
	res.got = g->got;
	if (*r->guard.refused) {
		res.status = MS_EPATH;
		snprintf(msg, sizeof(msg), "redirected to the local address %s: refused",
			 r->guard.refused);
	} else if (g->bad) {
		res.status = MS_EIO;
		snprintf(msg, sizeof(msg), "%s", g->bad);
	} else if (res.http_code == 404 || res.http_code == 410) {
		res.status = MS_ENOENT;
		snprintf(msg, sizeof(msg), "HTTP %ld", res.http_code);
	} else if (res.http_code == 429 || res.http_code == 503) {
		res.status = MS_EAGAIN;
		snprintf(msg, sizeof(msg), "HTTP %ld", res.http_code);
	} else if (res.http_code >= 300) {
		res.status = MS_EIO;
		snprintf(msg, sizeof(msg), "HTTP %ld", res.http_code);
	} else if (rc != CURLE_OK) {
		res.status = MS_EIO;
		snprintf(msg, sizeof(msg), "%s",
			 rc == CURLE_OPERATION_TIMEDOUT ? "stalled (timed out)"
			 : *r->ebuf ? r->ebuf : curl_easy_strerror(rc));
	} else if (g->got != g->rq.len) {
		res.status = MS_EIO;
		snprintf(msg, sizeof(msg), "short body: %lld of %lld bytes",
			 (long long)g->got, (long long)g->rq.len);
	}
	res.msg = res.status ? msg : NULL;
	g->rq.on_done(g->rq.ud, &res);
	unlink_req(h, r);
	free_req(r);
}

static void finish(struct ms_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct req *r;
		long code = 0;
		int status = 0;
		char msg[9000] = "";

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r->rg) {
			range_done(h, r, m->data.result);
			if (h->closing)
				return;
			continue;
		}
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (*r->guard.refused) {
			status = MS_EPATH;
			snprintf(msg, sizeof(msg), REFUSED, r->url, r->guard.refused);
		} else if (r->sink.toobig || m->data.result == CURLE_FILESIZE_EXCEEDED) {
			status = MS_ETOOBIG;
			snprintf(msg, sizeof(msg), "'%s' is larger than %zu bytes", r->url,
				 r->sink.limit);
		} else if (code == 304 && r->cond) {
			status = MS_EUNCHANGED;
			snprintf(msg, sizeof(msg), "'%s' not modified", r->url);
		} else if (code == 404 || code == 410) {
			status = MS_ENOENT;
			snprintf(msg, sizeof(msg), "'%s' not found", r->url);
		} else if (code == 429 || code == 503) {
			status = MS_EAGAIN;
			snprintf(msg, sizeof(msg), "'%s' is not ready (HTTP %ld): try again later",
				 r->url, code);
		} else if (m->data.result != CURLE_OK) {
			status = MS_EIO;
			snprintf(msg, sizeof(msg), "cannot fetch '%s': %s", r->url,
				 *r->ebuf ? r->ebuf : curl_easy_strerror(m->data.result));
		} else if (code < 200 || code >= 300) {
			status = MS_EIO;
			snprintf(msg, sizeof(msg), "cannot fetch '%s': HTTP %ld", r->url, code);
		}
		unlink_req(h, r);
		if (!status && !r->sink.buf) {
			r->sink.buf = calloc(1, 1);
			if (!r->sink.buf) {
				status = MS_ENOMEM;
				snprintf(msg, sizeof(msg), "out of memory");
			}
		}
		curl_slist_free_all(r->cond);
		if (status) {
			free(r->sink.buf);
			r->cb(r->ud, status, NULL, 0, msg);
		} else {
			r->cb(r->ud, 0, r->sink.buf, r->sink.len, r->url);
		}
		free(r);
		if (h->closing)
			return;
	}
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = p->data;
	struct ms_http *h = s->h;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	finish(h);
}

static void on_timeout(uv_timer_t *t)
{
	struct ms_http *h = t->data;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	finish(h);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *ud, void *sp)
{
	struct ms_http *h = ud;
	struct sock *s = sp;
	int ev = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			uv_poll_stop(&s->poll);
			curl_multi_assign(h->multi, fd, NULL);
			s->poll.data = h;
			uv_close((uv_handle_t *)&s->poll, handle_closed);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->fd = fd;
		s->h = h;
		if (uv_poll_init_socket(h->loop, &s->poll, fd)) {
			free(s);
			return -1;
		}
		h->open_handles++;
		s->poll.data = s;
		curl_multi_assign(h->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

static int timer_cb(CURLM *m, long ms, void *ud)
{
	struct ms_http *h = ud;

	(void)m;
	if (ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timeout, (uint64_t)ms, 0);
	return 0;
}

int ms_http_new(struct ms_http **out, uv_loop_t *loop, struct ms_error *err)
{
	struct ms_http *h = calloc(1, sizeof(*h));

	if (!h)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	h->loop = loop;
	h->multi = curl_multi_init();
	if (!h->multi) {
		free(h);
		return ms_error_set(err, MS_ENOMEM, "cannot start libcurl");
	}
	uv_timer_init(loop, &h->timer);
	uv_timer_init(loop, &h->soon);
	h->timer.data = h->soon.data = h;
	h->open_handles = 2;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*out = h;
	return 0;
}

/* options every transfer on the loop shares */
static void common_opts(struct req *r)
{
	curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->ebuf);
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "modelswarm/" MS_VERSION);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	guard_opts(r->easy, &r->guard);
	ca_opts(r->easy);
}

/* start r on the multi handle; on failure r is freed */
static int add_req(struct ms_http *h, struct req *r, struct ms_error *err)
{
	r->next = h->reqs;
	h->reqs = r;
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		h->reqs = r->next;
		curl_easy_cleanup(r->easy);
		free_req(r);
		return ms_error_set(err, MS_EIO, "cannot start a transfer");
	}
	return 0;
}

/* the answers of local files, in order, each callback after the last
 * (one may close h) */
static void on_soon(uv_timer_t *t)
{
	struct ms_http *h = t->data;

	while (!h->closing) {
		struct req **pp = &h->reqs, *r;

		while (*pp && !(*pp)->is_file)
			pp = &(*pp)->next;
		if (!(r = *pp))
			return;
		*pp = r->next;
		if (r->local.code)
			r->cb(r->ud, r->local.code, NULL, 0, r->local.msg);
		else
			r->cb(r->ud, 0, r->sink.buf, r->sink.len, r->url);
		free(r);
	}
}

/* A local index file is read here, not by libcurl, whose file:// open
 * waits (on the loop thread) for a FIFO's writer and which reads a
 * device to the cap: ms_read_file refuses anything but a regular file at
 * once, and reads the same path as ms_url_get. It is answered on the
 * next loop turn, as a transfer would be. */
static void read_local(struct ms_http *h, struct req *r)
{
	size_t len = 0;
	int rc = ms_read_file(r->url + strlen("file://"), r->sink.limit, &r->sink.buf, &len,
			      &r->local);

	r->sink.len = len;
	if (rc == MS_ENOENT)
		snprintf(r->local.msg, sizeof(r->local.msg), "'%.400s' not found", r->url);
	r->next = h->reqs;
	h->reqs = r;
	uv_timer_start(&h->soon, on_soon, 0, 0);
}

int ms_http_get(struct ms_http *h, const char *base, const char *rel,
		size_t cap, ms_http_cb cb, void *ud, struct ms_error *err)
{
	size_t bl = strlen(base);
	const char *sep = bl && base[bl - 1] == '/' ? "" : "/";
	struct req *r = calloc(1, sizeof(*r));
	int n;

	if (!r)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	if (!strstr(base, "://")) {
		char *real = realpath(base, NULL);
		if (!real) {
			free(r);
			return ms_error_set(err, MS_ENOENT, "index '%s': %s", base, strerror(errno));
		}
		n = snprintf(r->url, sizeof(r->url), "file://%s/%s", real, rel);
		free(real);
		r->is_file = 1;
	} else {
		if (strncmp(base, "file://", 7) && strncmp(base, "http://", 7) &&
		    strncmp(base, "https://", 8)) {
			free(r);
			return ms_error_set(err, MS_EINVAL,
					    "index '%s': only file://, http:// and https:// work",
					    base);
		}
		r->is_file = !strncmp(base, "file://", 7);
		n = *rel ? snprintf(r->url, sizeof(r->url), "%s%s%s", base, sep, rel)
			 : snprintf(r->url, sizeof(r->url), "%s", base);
	}
	if (n < 0 || (size_t)n >= sizeof(r->url)) {
		free(r);
		return ms_error_set(err, MS_EINVAL, "URL too long");
	}
	r->h = h;
	r->cb = cb;
	r->ud = ud;
	r->sink.limit = cap;
	if (r->is_file) {
		read_local(h, r);
		return 0;
	}
	r->easy = curl_easy_init();
	if (!r->easy) {
		free(r);
		return ms_error_set(err, MS_ENOMEM, "cannot start libcurl");
	}
	common_opts(r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, &r->sink);
	curl_easy_setopt(r->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
	return add_req(h, r, err);
}

/* header value of a "Name: value" line (trimmed), or NULL */
static const char *header_value(char *p, size_t len, const char *name, size_t *vlen)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(p, name, n) || p[n] != ':')
		return NULL;
	p += n + 1;
	len -= n + 1;
	while (len && (*p == ' ' || *p == '\t'))
		p++, len--;
	while (len && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
		len--;
	*vlen = len;
	return p;
}

/* the URL of rel="next" in a Link header value into out ("" if none) */
static void link_next(const char *v, size_t len, char *out, size_t outlen)
{
	const char *end = v + len;

	while (v < end) {
		const char *lt = memchr(v, '<', (size_t)(end - v)), *gt, *stop;
		if (!lt || !(gt = memchr(lt, '>', (size_t)(end - lt))))
			return;
		stop = memchr(gt, ',', (size_t)(end - gt));
		if (!stop)
			stop = end;
		for (const char *q = gt; q + 10 <= stop; q++)
			if (!strncasecmp(q, "rel=\"next\"", 10) || !strncasecmp(q, "rel=next", 8)) {
				size_t k = (size_t)(gt - lt - 1);
				if (k < outlen) {
					memcpy(out, lt + 1, k);
					out[k] = '\0';
				}
				return;
			}
		v = stop + 1;
	}
}

/* the headers of a response ms_http_get_if() or ms_http_get_api() keep:
 * ETag, Link rel="next" (of the last response, after redirects) */
static size_t on_header_get(char *p, size_t sz, size_t n, void *ud)
{
	struct req *r = ud;
	size_t len = sz * n, k;
	const char *v;

	if (len >= 5 && !strncasecmp(p, "HTTP/", 5)) {
		/* a new response (a redirect's target): forget the last one's */
		if (r->etag_out)
			r->etag_out[0] = '\0';
		if (r->api)
			memset(r->api, 0, sizeof(*r->api));
	} else if (r->etag_out && (v = header_value(p, len, "etag", &k))) {
		k = k < MS_ETAG_MAX - 1 ? k : 0; /* a longer one is not kept */
		memcpy(r->etag_out, v, k);
		r->etag_out[k] = '\0';
	} else if (r->api && (v = header_value(p, len, "link", &k))) {
		link_next(v, k, r->api->next, sizeof(r->api->next));
	} else if (r->api && (v = header_value(p, len, "x-error-code", &k))) {
		k = k < sizeof(r->api->error_code) - 1 ? k : 0;
		memcpy(r->api->error_code, v, k);
		r->api->error_code[k] = '\0';
	}
	return sz * n;
}

/* r, taken off the multi handle to set more options, back on it; on
 * failure r is freed */
static int add_again(struct ms_http *h, struct req *r, struct ms_error *err)
{
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
		unlink_req(h, r);
		free_req(r);
		return ms_error_set(err, MS_EIO, "cannot start a transfer");
	}
	return 0;
}

int ms_http_get_if(struct ms_http *h, const char *base, const char *rel, size_t cap,
		   const char *etag, char *etag_out, ms_http_cb cb, void *ud,
		   struct ms_error *err)
{
	char hdr[MS_ETAG_MAX + 32];
	struct req *r;
	int rc;

	if ((rc = ms_http_get(h, base, rel, cap, cb, ud, err)))
		return rc;
	r = h->reqs; /* the one just added */
	if (r->is_file)
		return 0;
	curl_multi_remove_handle(h->multi, r->easy);
	r->etag_out = etag_out;
	if (etag_out)
		etag_out[0] = '\0';
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header_get);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	if (etag && *etag && strlen(etag) < MS_ETAG_MAX) {
		snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
		r->cond = curl_slist_append(NULL, hdr);
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->cond);
	}
	return add_again(h, r, err);
}

/* ---- byte ranges from mirrors ----------------------------------------- */

/* the host (and port) part of an http(s) URL into out */
static void url_host(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p ? p + 3 : url;
	n = strcspn(p, "/?#");
	if (memchr(p, '@', n))  /* no credentials in mirror URLs' hosts */
		n = 0;
	if (n >= cap)
		n = 0;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* is scheme ("https", say) the URL's? */
static int same_scheme(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);

	return !strncasecmp(url, scheme, n) && !strncmp(url + n, "://", 3);
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct rng *g = ud;
	size_t len = sz * n;
	long long a, b;

	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		/* a new response (after a redirect or a 100) */
		g->cr_start = g->cr_end = -1;
		g->checked = 0;
	} else if (len > 14 && !strncasecmp(p, "content-range:", 14) &&
		   sscanf(p + 14, " bytes %lld-%lld/", &a, &b) == 2) {
		g->cr_start = a;
		g->cr_end = b;
	}
	return len;
}

/* is a 200 or 206 response the body of the asked range? */
static const char *check_response(struct rng *g, long code)
{
	if (code == 200)
		return g->rq.start == 0 && g->rq.len == g->rq.file_size
			? NULL : "ignored the byte range (HTTP 200 instead of 206)";
	if (g->cr_start != g->rq.start || g->cr_end != g->rq.start + g->rq.len - 1) {
		snprintf(g->badbuf, sizeof(g->badbuf),
			 "answered bytes %lld-%lld for %lld-%lld",
			 (long long)g->cr_start, (long long)g->cr_end,
			 (long long)g->rq.start,
			 (long long)(g->rq.start + g->rq.len - 1));
		return g->badbuf;
	}
	return NULL;
}

static size_t on_range_data(char *p, size_t sz, size_t n, void *ud)
{
	struct req *r = ud;
	struct rng *g = r->rg;
	size_t len = sz * n;

	if (!g->checked) {
		long code = 0;

		g->checked = 1;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200 && code != 206)
			return 0;  /* range_done() reports the status */
		if ((g->bad = check_response(g, code)))
			return 0;
	}
	if ((int64_t)len > g->rq.len - g->got) {
		g->bad = "sent more bytes than asked for";
		return 0;
	}
	if (g->rq.on_data) {
		if (g->rq.on_data(g->rq.ud, (const unsigned char *)p, len))
			return CURL_WRITEFUNC_PAUSE;
	} else {
		memcpy(g->rq.buf + g->got, p, len);
	}
	g->got += (int64_t)len;
	if (g->rq.on_progress)
		g->rq.on_progress(g->rq.ud, g->got);
	return len;
}

/* "Authorization: value" appended to *l when url's host and scheme are
 * host and scheme (libcurl drops it on a redirect to another host, scheme
 * or port: no CURLOPT_UNRESTRICTED_AUTH); nothing otherwise */
static int auth_header(const char *url, const char *host, const char *scheme,
		       const char *value, struct curl_slist **l, struct ms_error *err)
{
	char uh[512], hdr[4096];
	struct curl_slist *n;

	if (!value || !host || !scheme)
		return 0;
	url_host(url, uh, sizeof(uh));
	if (!*uh || strcasecmp(uh, host) || !same_scheme(url, scheme))
		return 0;
	if ((size_t)snprintf(hdr, sizeof(hdr), "Authorization: %s", value) >= sizeof(hdr))
		return ms_error_set(err, MS_EINVAL, "Authorization header too long");
	if (!(n = curl_slist_append(*l, hdr)))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	*l = n;
	return 0;
}

int ms_http_range_start(struct ms_http *h, const struct ms_http_range *rq,
			struct ms_http_xfer **out, struct ms_error *err)
{
	struct req *r = calloc(1, sizeof(*r));
	char range[64];

	if (!r || !(r->rg = calloc(1, sizeof(*r->rg)))) {
		free(r);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	if (strncmp(rq->url, "http://", 7) && strncmp(rq->url, "https://", 8)) {
		free_req(r);
		return ms_error_set(err, MS_EINVAL,
				    "mirror '%s': only http:// and https:// work", rq->url);
	}
	if ((size_t)snprintf(r->url, sizeof(r->url), "%s", rq->url) >= sizeof(r->url)) {
		free_req(r);
		return ms_error_set(err, MS_EINVAL, "URL too long");
	}
	r->h = h;
	r->rg->rq = *rq;
	r->rg->cr_start = r->rg->cr_end = -1;
	if (auth_header(rq->url, rq->auth_host, rq->auth_scheme, rq->auth, &r->rg->hdrs, err)) {
		free_req(r);
		return err->code;
	}
	r->easy = curl_easy_init();
	if (!r->easy) {
		free_req(r);
		return ms_error_set(err, MS_ENOMEM, "cannot start libcurl");
	}
	snprintf(range, sizeof(range), "%lld-%lld", (long long)rq->start,
		 (long long)(rq->start + rq->len - 1));
	common_opts(r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_range_data);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r->rg);
	curl_easy_setopt(r->easy, CURLOPT_RANGE, range);
	if (r->rg->hdrs)
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->rg->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, rq->stall_s > 0 ? rq->stall_s : 30L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, 0L);
	curl_easy_setopt(r->easy, CURLOPT_BUFFERSIZE, 512L * 1024);
	if (add_req(h, r, err) < 0)
		return MS_EIO;
	*out = (struct ms_http_xfer *)r;
	return 0;
}

void ms_http_range_cancel(struct ms_http_xfer *x)
{
	struct req *r = (struct req *)x;

	if (!r || r->h->closing)
		return;
	unlink_req(r->h, r);
	free_req(r);
}

void ms_http_range_unpause(struct ms_http_xfer *x)
{
	struct req *r = (struct req *)x;

	if (r && !r->h->closing)
		curl_easy_pause(r->easy, CURLPAUSE_CONT);
}

void ms_http_close(struct ms_http *h)
{
	struct req *r = h->reqs, *next;

	if (h->closing)
		return;
	h->closing = 1;
	for (; r; r = next) {
		next = r->next;
		curl_multi_remove_handle(h->multi, r->easy); /* closes its sockets */
		curl_easy_cleanup(r->easy);
		free_req(r);
	}
	h->reqs = NULL;
	/* closes the cached connections: socket_cb closes their polls */
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, handle_closed);
	uv_close((uv_handle_t *)&h->soon, handle_closed);
}

int ms_http_get_api(struct ms_http *h, const char *url, size_t cap,
		    const struct ms_http_auth *auth, struct ms_http_api_hdrs *out,
		    ms_http_cb cb, void *ud, struct ms_error *err)
{
	struct req *r;
	int rc;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return ms_error_set(err, MS_EINVAL, "'%s': only http:// and https:// work", url);
	if ((rc = ms_http_get(h, url, "", cap, cb, ud, err)))
		return rc;
	r = h->reqs; /* the one just added */
	curl_multi_remove_handle(h->multi, r->easy);
	r->api = out;
	if (out)
		memset(out, 0, sizeof(*out));
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header_get);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	if (auth && auth_header(url, auth->host, auth->scheme, auth->value, &r->cond, err)) {
		unlink_req(h, r);
		free_req(r);
		return err->code;
	}
	if (r->cond)
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->cond);
	return add_again(h, r, err);
}

void ms_url_host(const char *url, char *out, size_t cap)
{
	url_host(url, out, cap);
}
