/* webseed.c: pieces from HTTP mirrors, handed to the engine, and whole
 * files fetched straight to disk */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ms_http.h"
#include "ms_util.h"
#include "ms_webseed.h"

#define TICK_MS 250
#define MAX_BACKOFF_S 60
#define MAX_RETRY_AFTER_S 300
/* pieces handed in and not yet verified, at most (bytes) */
#define PENDING_CAP (256LL << 20)
/* a piece handed in that libtorrent still does not list after this long
 * was dropped */
#define DROPPED_MS 5000

enum { MF_OK = 0, MF_MISSING, MF_DEMOTED };           /* a mirror's file */
/* our view of a piece: free to fetch, in a transfer, handed in and not yet
 * verified, have, or part of a file fetched whole */
enum { P_FREE = 0, P_CLAIMED, P_ADDED, P_HAVE, P_DIRECT };
/* a file fetched whole: not that way, may be, taken and waiting for a
 * mirror, in a transfer, done */
enum { D_OFF = 0, D_READY, D_WAIT, D_RUN, D_DONE };
/* a whole file's bytes go to a worker this many at a time, two buffers
 * per transfer */
#define DBUF (2 << 20)
/* O_DIRECT writes: offsets and lengths in these */
#define DALIGN 4096

struct mirror {
	char *url;               /* ends in '/', or is the file itself (a
				    single-file torrent's URL without '/') */
	int direct;
	char *auth;              /* Authorization value for its host, or NULL */
	char host[256];
	char scheme[8];          /* "http" or "https": the token goes over it only */
	int64_t bytes, bad_bytes;
	int running;
	uint64_t retry_at;       /* loop ms */
	int fails;               /* in a row */
	unsigned char *fstate;   /* per file: F_* */
	char **furl;             /* per file: the redirect target that last
				    answered, or NULL */
	int64_t *dsent;          /* per file: bytes sent of its whole-file
				    transfer under way */
	int skipped;
	char last_error[512];
};

struct dfile {
	char *path;              /* NULL: pieces only */
	unsigned char sha[32];
	int state;               /* D_* */
	int prio;                /* its engine priority, given back when it
				    leaves the mirrors */
	int fd;
	int dfd;                 /* the same file opened O_DIRECT, or -1 */
	EVP_MD_CTX *md;
	int64_t hashed;          /* bytes written and hashed */
	int64_t prime;           /* bytes an earlier run left, to hash first */
	int reused;              /* hashed holds bytes an earlier run left */
};

/* one whole-file transfer: body bytes are copied into one buffer while a
 * worker writes and hashes the other */
struct djob {
	struct ms_webseed *w;
	int mi, file;
	struct ms_http_xfer *x;
	int paused, ended, via_cache;
	int status;              /* of the transfer, once ended */
	long retry_after;
	char msg[512];
	char *answered;          /* the URL a redirect led to */
	unsigned char *buf[2];
	size_t fill[2];
	int ready[2];            /* full (or the last), for the worker */
	int cur, next;           /* being filled; to write next */
	int working;
	int64_t woff;
	int werr;
	uv_work_t work;
	struct djob *next_job;
};

struct tfile {
	char *path;              /* URL-escaped "NAME/dir/file" */
	int64_t offset, size;
	int pad;
};

struct job {
	struct ms_webseed *w;
	int mi;                  /* mirror */
	int p0, p1;              /* pieces [p0, p1) */
	int64_t off, len;        /* their bytes in the torrent */
	unsigned char *buf;
	int64_t done;            /* bytes of buf filled */
	int64_t got;             /* of the transfer in flight, counted */
	int next_piece;          /* first piece not handed in */
	int file;                /* file of the transfer in flight */
	int via_cache;           /* the transfer went to a cached redirect */
	int retried;             /* re-resolved once already */
	struct ms_http_xfer *x;
	struct job *next;
};

struct ms_webseed {
	uv_loop_t *loop;
	struct ms_engine *e;
	int id;
	struct ms_webseed_opts o;
	struct ms_mirror_auth *auth;
	struct ms_http *http;
	uv_timer_t timer;
	int closing;

	int nfiles;
	struct tfile *files;
	int npieces, plen;
	int64_t total;
	unsigned char *pstate;   /* P_* */
	unsigned char *estate;   /* the engine's lts_piece_state */
	signed char *supplier;   /* mirror that a P_ADDED piece came from */
	unsigned char *failed;   /* the piece failed a hash check once */
	uint64_t *added_at;      /* loop ms a P_ADDED piece was handed in */
	int64_t pending;         /* bytes in P_ADDED */

	struct mirror *m;
	int nm;
	struct job *jobs;
	int rr;                  /* next mirror to look at */

	struct dfile *d;         /* per file, once ms_webseed_direct() */
	struct djob *djobs;
	int timer_closed;

	/* fallback policy */
	int engaged;
	uint64_t since;          /* when the rate crossed the threshold */
	int64_t last_peer_bytes;
	uint64_t last_ms;
	double peer_rate;
};

static void schedule(struct ms_webseed *w);
static void job_next(struct job *j);

int ms_webseed_mode_parse(const char *s)
{
	if (!strcmp(s, "fallback"))
		return MS_WEBSEEDS_FALLBACK;
	if (!strcmp(s, "always"))
		return MS_WEBSEEDS_ALWAYS;
	if (!strcmp(s, "never"))
		return MS_WEBSEEDS_NEVER;
	return -1;
}

void ms_webseed_opts_init(struct ms_webseed_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = MS_WEBSEEDS_FALLBACK;
	o->fallback_rate = 1 << 20;
	o->fallback_delay_ms = 5000;
	o->conns = 4;
	o->request_bytes = 16 << 20;
	o->stall_s = 20;
}

static void event(struct ms_webseed *w, struct mirror *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void event(struct ms_webseed *w, struct mirror *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m)
		snprintf(m->last_error, sizeof(m->last_error), "%s", msg);
	if (w->o.on_event)
		w->o.on_event(w->o.ud, m ? m->url : "", msg);
}

/* percent-encode a torrent path for a URL, keeping '/' */
static char *escape_path(const char *p)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(p) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~/", c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

static uint64_t now_ms(struct ms_webseed *w)
{
	return uv_now(w->loop);
}

static int64_t piece_off(const struct ms_webseed *w, int p)
{
	return (int64_t)p * w->plen;
}

static int64_t piece_size(const struct ms_webseed *w, int p)
{
	int64_t end = piece_off(w, p) + w->plen;

	return (end > w->total ? w->total : end) - piece_off(w, p);
}

/* first file that holds byte off of the torrent */
static int file_at(const struct ms_webseed *w, int64_t off)
{
	int lo = 0, hi = w->nfiles - 1;

	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (w->files[mid].offset <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	while (lo < w->nfiles - 1 && w->files[lo].size == 0)
		lo++;
	return lo;
}

/* can mirror m serve every real file that piece p overlaps? */
static int mirror_has_piece(const struct ms_webseed *w, const struct mirror *m, int p)
{
	int64_t a = piece_off(w, p), b = a + piece_size(w, p);

	for (int f = file_at(w, a); f < w->nfiles && w->files[f].offset < b; f++)
		if (!w->files[f].pad && w->files[f].size && m->fstate[f] != MF_OK)
			return 0;
	return 1;
}

static void refresh_states(struct ms_webseed *w)
{
	struct ms_error err;

	if (ms_engine_piece_states(w->e, w->id, w->estate, w->npieces, &err) < 0)
		return;

	for (int p = 0; p < w->npieces; p++) {
		int ps = w->pstate[p], es = w->estate[p];

		if (ps == P_DIRECT)
			continue;
		if (es == LTS_PIECE_HAVE && ps != P_HAVE && ps != P_CLAIMED) {
			if (ps == P_ADDED)
				w->pending -= piece_size(w, p);
			w->pstate[p] = P_HAVE;
		} else if (es == LTS_PIECE_MISSING && ps == P_ADDED &&
			   now_ms(w) - w->added_at[p] > DROPPED_MS) {
			/* a hand-in libtorrent dropped (hand-ins are queued:
			 * give libtorrent's thread time to take it) */
			w->pending -= piece_size(w, p);
			w->pstate[p] = P_FREE;
		}
	}
}

static int eligible(const struct ms_webseed *w, const struct mirror *m, int p,
		    int partial_too)
{
	if (w->pstate[p] != P_FREE)
		return 0;
	if (w->estate[p] != LTS_PIECE_MISSING &&
	    !(partial_too && w->estate[p] == LTS_PIECE_PARTIAL))
		return 0;
	return mirror_has_piece(w, m, p);
}

/* a run of pieces for mirror mi; 0 if there is none */
static int pick(struct ms_webseed *w, int mi, int *p0, int *p1)
{
	struct mirror *m = &w->m[mi];

	for (int pass = 0; pass < 2; pass++) {
		for (int p = 0; p < w->npieces; p++) {
			int64_t len = 0;
			int q = p;

			if (!eligible(w, m, p, pass))
				continue;
			while (q < w->npieces && eligible(w, m, q, pass) &&
			       (q == p || len + piece_size(w, q) <= w->o.request_bytes)) {
				len += piece_size(w, q);
				q++;
			}
			*p0 = p;
			*p1 = q;
			return 1;
		}
	}
	return 0;
}

static void job_free(struct job *j)
{
	struct job **pp;

	for (pp = &j->w->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	j->w->m[j->mi].running--;
	free(j->buf);
	free(j);
}

/* give back the pieces not handed in yet */
static void job_release(struct job *j)
{
	for (int p = j->next_piece; p < j->p1; p++)
		if (j->w->pstate[p] == P_CLAIMED)
			j->w->pstate[p] = P_FREE;
}

/* hand in the pieces whose bytes are all in the buffer */
static void hand_in(struct job *j)
{
	struct ms_webseed *w = j->w;

	while (j->next_piece < j->p1) {
		int p = j->next_piece;
		int64_t s = piece_size(w, p), at = piece_off(w, p) - j->off;
		struct ms_error err;

		if (at + s > j->done)
			break;
		j->next_piece++;
		if (w->pstate[p] != P_CLAIMED)
			continue;
		if (ms_engine_add_piece(w->e, w->id, p, j->buf + at, (size_t)s,
					w->failed[p], &err)) {
			w->pstate[p] = P_FREE;
			event(w, NULL, "cannot hand in piece %d: %s", p, err.msg);
			continue;
		}
		w->pstate[p] = P_ADDED;
		w->added_at[p] = now_ms(w);
		w->supplier[p] = (signed char)j->mi;
		w->pending += s;
	}
}

/* body bytes of the transfer in flight: counted as they come */
static void count(struct job *j, int64_t got)
{
	j->w->m[j->mi].bytes += got - j->got;
	j->got = got;
}

static void on_progress(void *ud, int64_t got)
{
	struct job *j = ud;
	struct tfile *f = &j->w->files[j->file];
	int64_t seg = (f->offset > j->off ? f->offset : j->off) - j->off;

	count(j, got);
	j->done = seg + got;
	hand_in(j);
}

static void backoff(struct ms_webseed *w, struct mirror *m, long secs)
{
	if (secs <= 0) {
		secs = 1L << (m->fails < 6 ? m->fails : 6);
		if (secs > MAX_BACKOFF_S)
			secs = MAX_BACKOFF_S;
	}
	if (secs > MAX_RETRY_AFTER_S)
		secs = MAX_RETRY_AFTER_S;
	m->retry_at = now_ms(w) + (uint64_t)secs * 1000;
}

static int mirror_left(const struct ms_webseed *w, int f)
{
	for (int i = 0; i < w->nm; i++)
		if (w->m[i].fstate[f] == MF_OK)
			return 1;
	return 0;
}

/* say so when no mirror is left for file f */
static void none_left(struct ms_webseed *w, int f)
{
	if (!mirror_left(w, f))
		event(w, NULL, "no mirror left for '%s': only peers can finish it",
		      w->files[f].path);
}

/* a transfer of file f from mirror m failed (status, not 0): a 404, or a
 * redirect into the local network, skips the mirror for that file, a
 * 429/503 waits for its Retry-After, anything else backs off */
static void mirror_failed(struct ms_webseed *w, struct mirror *m, int f, int status,
			  long retry_after, const char *msg)
{
	if (status == MS_ENOENT || status == MS_EPATH) {
		m->fstate[f] = MF_MISSING;
		m->skipped++;
		event(w, m, "%s for '%s': not using it for that file", msg,
		      w->files[f].path);
	} else if (status == MS_EAGAIN) {
		backoff(w, m, retry_after > 0 ? retry_after : 0);
		m->fails++;
		event(w, m, "%s: backing off %llu s", msg,
		      (unsigned long long)((m->retry_at - now_ms(w)) / 1000));
	} else {
		m->fails++;
		backoff(w, m, 0);
		event(w, m, "'%s': %s", w->files[f].path, msg);
	}
}

static void on_done(void *ud, const struct ms_http_result *res)
{
	struct job *j = ud;
	struct ms_webseed *w = j->w;
	struct mirror *m = &w->m[j->mi];
	struct tfile *f = &w->files[j->file];
	int64_t seg = (f->offset > j->off ? f->offset : j->off) - j->off;

	j->x = NULL;
	count(j, res->got);
	j->got = 0;
	if (!res->status) {
		m->fails = 0;
		j->retried = 0;
		j->done = seg + res->got;
		if (res->redirected && !j->via_cache) {
			free(m->furl[j->file]);
			m->furl[j->file] = strdup(res->url);
		}
		hand_in(j);
		job_next(j);
		return;
	}
	if (j->via_cache && !j->retried) {
		/* a signed redirect may have expired: ask the mirror again */
		free(m->furl[j->file]);
		m->furl[j->file] = NULL;
		j->retried = 1;
		j->done = seg;
		job_next(j);
		return;
	}
	mirror_failed(w, m, j->file, res->status, res->retry_after, res->msg);
	if (res->status == MS_ENOENT || res->status == MS_EPATH)
		none_left(w, j->file);
	job_release(j);
	job_free(j);
	schedule(w);
}

/* where mirror m has file t (index f): the redirect target that last
 * answered, the mirror's own URL (a single file), or base + path; malloc'd */
static char *file_url(const struct mirror *m, const struct tfile *t, int f)
{
	char *url;

	if (m->furl[f])
		return strdup(m->furl[f]);
	if (m->direct)
		return strdup(m->url);
	if ((url = malloc(strlen(m->url) + strlen(t->path) + 1)))
		sprintf(url, "%s%s", m->url, t->path);
	return url;
}

/* start the transfer of the next file slice of the job, or finish it */
static void job_next(struct job *j)
{
	struct ms_webseed *w = j->w;
	struct mirror *m = &w->m[j->mi];
	struct ms_http_range rq;
	struct ms_error err;
	char *url = NULL;

	while (j->done < j->len) {
		int64_t at = j->off + j->done;
		int fi = file_at(w, at);
		struct tfile *f = &w->files[fi];
		int64_t end = f->offset + f->size, n;

		if (end > j->off + j->len)
			end = j->off + j->len;
		n = end - at;
		if (f->pad || f->size == 0) {
			memset(j->buf + j->done, 0, (size_t)n);
			j->done += n;
			hand_in(j);
			continue;
		}
		j->file = fi;
		j->via_cache = m->furl[fi] != NULL;
		if (!(url = file_url(m, f, fi)))
			break;
		memset(&rq, 0, sizeof(rq));
		rq.url = url;
		rq.start = at - f->offset;
		rq.len = n;
		rq.file_size = f->size;
		rq.auth_host = m->host;
		rq.auth_scheme = m->scheme;
		rq.auth = m->auth;
		rq.buf = j->buf + j->done;
		rq.stall_s = w->o.stall_s;
		rq.on_progress = on_progress;
		rq.on_done = on_done;
		rq.ud = j;
		if (ms_http_range_start(w->http, &rq, &j->x, &err)) {
			event(w, m, "%s", err.msg);
			free(url);
			break;
		}
		free(url);
		return;
	}
	if (j->done < j->len)
		job_release(j);
	job_free(j);
	schedule(w);
}

static void start_job(struct ms_webseed *w, int mi, int p0, int p1)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return;
	j->w = w;
	j->mi = mi;
	j->p0 = p0;
	j->p1 = p1;
	j->next_piece = p0;
	j->off = piece_off(w, p0);
	j->len = piece_off(w, p1 - 1) + piece_size(w, p1 - 1) - j->off;
	j->buf = malloc((size_t)j->len);
	if (!j->buf) {
		free(j);
		return;
	}
	for (int p = p0; p < p1; p++)
		w->pstate[p] = P_CLAIMED;
	j->next = w->jobs;
	w->jobs = j;
	w->m[mi].running++;
	job_next(j);
}

/* ---- whole files ------------------------------------------------------ */

/* the pieces [p0, p1) of file f, if no other real file shares them */
static int file_pieces(const struct ms_webseed *w, int f, int *p0, int *p1)
{
	const struct tfile *t = &w->files[f];
	int64_t end;

	if (t->pad || t->size <= 0 || t->offset % w->plen)
		return 0;
	*p0 = (int)(t->offset / w->plen);
	*p1 = (int)((t->offset + t->size + w->plen - 1) / w->plen);
	end = piece_off(w, *p1);
	for (int k = f + 1; k < w->nfiles && w->files[k].offset < end; k++)
		if (!w->files[k].pad && w->files[k].size)
			return 0;
	return 1;
}

static void close_fds(struct dfile *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->dfd >= 0)
		close(d->dfd);
	d->fd = d->dfd = -1;
}

static int owned(const struct dfile *d)
{
	return d->state == D_WAIT || d->state == D_RUN || d->state == D_DONE;
}

/* the engine downloads every file the caller wants but those we own */
static void set_priorities(struct ms_webseed *w)
{
	int *prio = calloc((size_t)w->nfiles + 1, sizeof(*prio));
	struct ms_error err;

	if (!prio)
		return;
	for (int f = 0; f < w->nfiles; f++)
		prio[f] = owned(&w->d[f]) ? 0 : w->d[f].prio;
	if (ms_engine_set_file_priorities(w->e, w->id, prio, w->nfiles, &err))
		event(w, NULL, "cannot set file priorities: %s", err.msg);
	free(prio);
}

/* file f goes back to the engine, piece by piece */
static void direct_leave(struct ms_webseed *w, int f)
{
	struct dfile *d = &w->d[f];
	int p0, p1, was = owned(d);

	d->state = D_OFF;
	close_fds(d);
	if (file_pieces(w, f, &p0, &p1))
		for (int p = p0; p < p1; p++)
			if (w->pstate[p] == P_DIRECT)
				w->pstate[p] = P_FREE;
	if (was)
		set_priorities(w);
}

/* file f could not be opened or written (errno e): it goes back to the
 * engine and the owner is told (it reports the error) */
static void direct_fail(struct ms_webseed *w, int f, int e)
{
	if (!w->o.on_file)
		event(w, NULL, "cannot write '%s': %s", w->d[f].path, strerror(e));
	direct_leave(w, f);
	if (w->o.on_file)
		w->o.on_file(w->o.ud, f, e);
}

/* may mirror mi take file f whole now? */
static int direct_eligible(struct ms_webseed *w, int mi, int f, int engaged)
{
	struct dfile *d = &w->d[f];
	int p0, p1;

	if (w->m[mi].fstate[f] != MF_OK)
		return 0;
	if (d->state == D_WAIT)
		return 1;
	if (d->state != D_READY || !engaged || d->prio <= 0 ||
	    !file_pieces(w, f, &p0, &p1))
		return 0;
	for (int p = p0; p < p1; p++)
		if (w->pstate[p] != P_FREE || w->estate[p] != LTS_PIECE_MISSING)
			return 0;
	return 1;
}

static void d_free(struct djob *j)
{
	struct djob **pp;

	for (pp = &j->w->djobs; *pp; pp = &(*pp)->next_job)
		if (*pp == j) {
			*pp = j->next_job;
			break;
		}
	ms_iobuf_free(j->buf[0], DBUF);
	ms_iobuf_free(j->buf[1], DBUF);
	free(j->answered);
	free(j);
}

static void maybe_free(struct ms_webseed *w);
static void d_kick(struct djob *j);
static void d_maybe_end(struct djob *j);

static void d_work(uv_work_t *req)
{
	struct djob *j = req->data;
	struct dfile *d = &j->w->d[j->file];
	const unsigned char *p = j->buf[j->next];
	size_t n = j->fill[j->next];
	int64_t off = j->woff;

	while (n) {
		/* whole aligned blocks skip the page cache: writing a file of
		 * many GB through it costs more CPU than hashing it */
		int direct = d->dfd >= 0 && !(off % DALIGN) && !(n % DALIGN);
		ssize_t k = pwrite(direct ? d->dfd : d->fd, p, n, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && direct && errno == EINVAL) {
			/* the filesystem has its own idea of alignment */
			close(d->dfd);
			d->dfd = -1;
			continue;
		}
		if (k <= 0) {
			j->werr = k < 0 ? errno : EIO;
			return;
		}
		if (EVP_DigestUpdate(d->md, p, (size_t)k) != 1) {
			j->werr = EIO;
			return;
		}
		p += k;
		n -= (size_t)k;
		off += k;
	}
}

static void d_work_done(uv_work_t *req, int status)
{
	struct djob *j = req->data;
	struct ms_webseed *w = j->w;
	int b = j->next;

	j->working = 0;
	if (w->closing) {
		d_free(j);
		maybe_free(w);
		return;
	}
	if (status == UV_ECANCELED && !j->werr)
		j->werr = ECANCELED;
	if (!j->werr)
		w->d[j->file].hashed += (int64_t)j->fill[b];
	j->fill[b] = 0;
	j->ready[b] = 0;
	j->next ^= 1;
	if (j->werr) {
		/* nothing more of this transfer is wanted */
		if (j->x)
			ms_http_range_cancel(j->x);
		j->x = NULL;
		j->ended = 1;
		j->fill[0] = j->fill[1] = 0;
		j->ready[0] = j->ready[1] = 0;
	}
	d_kick(j);
	if (j->paused && j->x) {
		j->paused = 0;
		ms_http_range_unpause(j->x);
	}
	d_maybe_end(j);
}

/* hand the next full buffer to a worker (one at a time: the hash goes in
 * order) */
static void d_kick(struct djob *j)
{
	if (j->working || !j->ready[j->next])
		return;
	j->working = 1;
	j->woff = j->w->d[j->file].hashed;
	j->work.data = j;
	if (uv_queue_work(j->w->loop, &j->work, d_work, d_work_done)) {
		j->working = 0;
		j->werr = EIO;
	}
}

static int d_on_data(void *ud, const unsigned char *p, size_t n)
{
	struct djob *j = ud;
	struct mirror *m = &j->w->m[j->mi];
	int o;
	size_t room, k;

	if (j->ready[j->cur] && !j->ready[j->cur ^ 1])
		j->cur ^= 1;  /* the other buffer is free again */
	o = j->cur ^ 1;
	room = j->ready[j->cur] ? 0 : DBUF - j->fill[j->cur];
	if (!j->ready[j->cur] && !j->ready[o])
		room += DBUF;
	if (n > room || j->werr) {
		j->paused = 1;
		return 1;
	}
	m->bytes += (int64_t)n;
	m->dsent[j->file] += (int64_t)n;
	while (n) {
		k = DBUF - j->fill[j->cur];
		if (k > n)
			k = n;
		memcpy(j->buf[j->cur] + j->fill[j->cur], p, k);
		j->fill[j->cur] += k;
		p += k;
		n -= k;
		if (j->fill[j->cur] == DBUF) {
			j->ready[j->cur] = 1;
			if (!j->ready[j->cur ^ 1])
				j->cur ^= 1;
		}
	}
	d_kick(j);
	return 0;
}

static void d_on_done(void *ud, const struct ms_http_result *res)
{
	struct djob *j = ud;

	j->x = NULL;
	j->ended = 1;
	j->status = res->status;
	j->retry_after = res->retry_after;
	snprintf(j->msg, sizeof(j->msg), "%s", res->msg ? res->msg : "");
	if (!res->status && res->redirected && !j->via_cache)
		j->answered = strdup(res->url);
	if (j->fill[j->cur] && !j->ready[j->cur])
		j->ready[j->cur] = 1;  /* the last bytes */
	d_kick(j);
	d_maybe_end(j);
}

/* a whole file's bytes were all hashed: does it match? */
static void d_check(struct ms_webseed *w, int f)
{
	struct dfile *d = &w->d[f];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	int p0, p1;

	if (EVP_DigestFinal_ex(d->md, md, &len) == 1 && len == 32 &&
	    !memcmp(md, d->sha, 32)) {
		/* bytes past the end (an earlier run's junk) would stay */
		if (ftruncate(d->fd, w->files[f].size) < 0) {
			direct_fail(w, f, errno);
			return;
		}
		d->state = D_DONE;
		close_fds(d);
		file_pieces(w, f, &p0, &p1);
		for (int p = p0; p < p1; p++)
			w->pstate[p] = P_HAVE;
		for (int i = 0; i < w->nm; i++)
			w->m[i].dsent[f] = 0;
		if (w->o.on_file)
			w->o.on_file(w->o.ud, f, 0);
		return;
	}
	if (d->reused) {
		/* what an earlier run left may be to blame: once more, from
		 * the start, before blaming a mirror */
		d->reused = 0;
		d->hashed = 0;
		EVP_DigestInit_ex(d->md, EVP_sha256(), NULL);
		for (int i = 0; i < w->nm; i++)
			w->m[i].dsent[f] = 0;
		d->state = D_WAIT;
		event(w, NULL, "'%s' does not match after going on from an earlier "
		      "run's bytes: fetching it again from the start", w->files[f].path);
		return;
	}
	/* not what was signed: every mirror that sent some of it is done
	 * with this file; nothing of it reaches a final path */
	for (int i = 0; i < w->nm; i++) {
		struct mirror *m = &w->m[i];
		if (!m->dsent[f])
			continue;
		m->bad_bytes += m->dsent[f];
		m->dsent[f] = 0;
		if (m->fstate[f] == MF_OK) {
			m->fstate[f] = MF_DEMOTED;
			m->skipped++;
			event(w, m, "'%s' failed the hash check: not using it for that file",
			      w->files[f].path);
		}
	}
	d->hashed = 0;
	EVP_DigestInit_ex(d->md, EVP_sha256(), NULL);
	d->state = D_WAIT;
	if (!mirror_left(w, f)) {
		direct_leave(w, f);
		none_left(w, f);
	}
}

/* the transfer is over and its bytes are written */
static void d_maybe_end(struct djob *j)
{
	struct ms_webseed *w = j->w;
	struct mirror *m = &w->m[j->mi];
	int f = j->file, werr = j->werr;
	struct dfile *d = &w->d[f];

	if (!j->ended || j->working || j->ready[0] || j->ready[1])
		return;
	m->running--;
	d->state = D_WAIT;
	if (werr) {
		d_free(j);
		direct_fail(w, f, werr);
		schedule(w);
		return;
	}
	if (!j->status) {
		m->fails = 0;
		if (j->answered) {
			free(m->furl[f]);
			m->furl[f] = j->answered;
			j->answered = NULL;
		}
	} else if (j->via_cache) {
		/* a signed redirect may have expired: the mirror is asked
		 * again next time */
		free(m->furl[f]);
		m->furl[f] = NULL;
	} else {
		mirror_failed(w, m, f, j->status, j->retry_after, j->msg);
	}
	d_free(j);
	if (d->hashed == w->files[f].size)
		d_check(w, f);
	else if (!mirror_left(w, f)) {
		direct_leave(w, f);
		none_left(w, f);
	}
	schedule(w);
}

/* the transfer of the rest of j's file (0) */
static int d_begin(struct djob *j)
{
	struct ms_webseed *w = j->w;
	struct mirror *m = &w->m[j->mi];
	struct dfile *d = &w->d[j->file];
	struct tfile *t = &w->files[j->file];
	struct ms_http_range rq;
	struct ms_error err;
	char *url;

	j->via_cache = m->furl[j->file] != NULL;
	if (!(url = file_url(m, t, j->file)))
		return -1;
	memset(&rq, 0, sizeof(rq));
	rq.url = url;
	rq.start = d->hashed;
	rq.len = t->size - d->hashed;
	rq.file_size = t->size;
	rq.auth_host = m->host;
	rq.auth_scheme = m->scheme;
	rq.auth = m->auth;
	rq.stall_s = w->o.stall_s;
	rq.on_data = d_on_data;
	rq.on_done = d_on_done;
	rq.ud = j;
	if (ms_http_range_start(w->http, &rq, &j->x, &err)) {
		event(w, m, "%s", err.msg);
		free(url);
		return -1;
	}
	free(url);
	return 0;
}

/* a file left by an earlier run: hash the bytes it has (a prefix: they
 * are written in order) and go on after them */
static void d_prime(uv_work_t *req)
{
	struct djob *j = req->data;
	struct dfile *d = &j->w->d[j->file];
	int64_t off = 0;

	while (off < d->prime) {
		size_t n = d->prime - off < DBUF ? (size_t)(d->prime - off) : DBUF;
		ssize_t k = pread(d->fd, j->buf[0], n, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || EVP_DigestUpdate(d->md, j->buf[0], (size_t)k) != 1) {
			j->werr = k < 0 ? errno : EIO;
			return;
		}
		off += k;
	}
}

static void d_prime_done(uv_work_t *req, int status)
{
	struct djob *j = req->data;
	struct ms_webseed *w = j->w;
	struct mirror *m = &w->m[j->mi];
	int f = j->file;
	struct dfile *d = &w->d[f];

	j->working = 0;
	if (w->closing) {
		d_free(j);
		maybe_free(w);
		return;
	}
	if (status || j->werr) {
		/* not readable: from the start */
		j->werr = 0;
		EVP_DigestInit_ex(d->md, EVP_sha256(), NULL);
	} else {
		d->hashed = d->prime;
		d->reused = 1;
	}
	d->prime = 0;
	if (d->hashed < w->files[f].size && !d_begin(j))
		return;
	m->running--;
	d->state = D_WAIT;
	d_free(j);
	if (d->hashed == w->files[f].size)
		d_check(w, f);
	schedule(w);
}

/* start fetching file f whole from mirror mi (0), where it left off */
static int direct_start(struct ms_webseed *w, int mi, int f)
{
	struct mirror *m = &w->m[mi];
	struct dfile *d = &w->d[f];
	struct djob *j;
	struct stat st;
	int p0, p1;

	if (d->state == D_READY) {
		d->fd = open(d->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (d->fd < 0) {
			direct_fail(w, f, errno);
			return -1;
		}
		d->dfd = open(d->path, O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW);
		if (fstat(d->fd, &st) == 0 && st.st_size > 0) {
			/* what an earlier run wrote is data from the start; the
			 * engine may have grown the file since, sparse */
			off_t hole = lseek(d->fd, 0, SEEK_HOLE);
			int64_t have = hole >= 0 && hole < st.st_size ? hole : st.st_size;
			d->prime = have < w->files[f].size ? have : w->files[f].size;
		}
		file_pieces(w, f, &p0, &p1);
		for (int p = p0; p < p1; p++)
			w->pstate[p] = P_DIRECT;
		d->state = D_WAIT;
		set_priorities(w);
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->w = w;
	j->mi = mi;
	j->file = f;
	j->buf[0] = ms_iobuf_new(DBUF);
	j->buf[1] = ms_iobuf_new(DBUF);
	j->next_job = w->djobs;
	w->djobs = j;
	if (!j->buf[0] || !j->buf[1]) {
		d_free(j);
		return -1;
	}
	if (d->prime) {
		j->working = 1;
		j->work.data = j;
		if (uv_queue_work(w->loop, &j->work, d_prime, d_prime_done)) {
			d_free(j);
			return -1;
		}
	} else if (d_begin(j)) {
		d_free(j);
		return -1;
	}
	for (int i = 0; i < w->nm; i++)
		if (i != mi && w->m[i].dsent[f] && !d->hashed)
			w->m[i].dsent[f] = 0;
	d->state = D_RUN;
	m->running++;
	return 0;
}

/* a file mirror mi may fetch whole now, or -1 */
static int pick_direct(struct ms_webseed *w, int mi, int engaged)
{
	if (!w->d)
		return -1;
	for (int f = 0; f < w->nfiles; f++)
		if (w->d[f].state == D_WAIT && direct_eligible(w, mi, f, engaged))
			return f;
	for (int f = 0; f < w->nfiles; f++)
		if (w->d[f].state == D_READY && direct_eligible(w, mi, f, engaged))
			return f;
	return -1;
}

int ms_webseed_direct(struct ms_webseed *w, const struct ms_direct_file *df,
		      int n, struct ms_error *err)
{
	if (n != w->nfiles)
		return ms_error_set(err, MS_EINVAL, "%d files for a torrent of %d", n,
				    w->nfiles);
	if (w->d)
		return ms_error_set(err, MS_EINVAL, "whole files were given already");
	w->d = calloc((size_t)n + 1, sizeof(*w->d));
	if (!w->d)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	for (int f = 0; f < n; f++)
		w->d[f].fd = w->d[f].dfd = -1;
	for (int f = 0; f < n; f++) {
		struct dfile *d = &w->d[f];
		int p0, p1;

		d->prio = df[f].prio;
		if (!df[f].path || !df[f].sha256 || strlen(df[f].sha256) != 64 ||
		    !file_pieces(w, f, &p0, &p1))
			continue;
		for (int i = 0; i < 32; i++) {
			unsigned v;
			if (sscanf(df[f].sha256 + 2 * i, "%2x", &v) != 1)
				break;
			d->sha[i] = (unsigned char)v;
		}
		d->path = strdup(df[f].path);
		d->md = EVP_MD_CTX_new();
		if (!d->path || !d->md || EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1)
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		d->state = D_READY;
	}
	schedule(w);
	return 0;
}

int ms_webseed_owns(const struct ms_webseed *w, int file)
{
	return w && w->d && file >= 0 && file < w->nfiles && owned(&w->d[file]);
}

void ms_webseed_direct_progress(const struct ms_webseed *w, int64_t *size,
				int64_t *done)
{
	*size = *done = 0;
	for (int f = 0; w && w->d && f < w->nfiles; f++)
		if (owned(&w->d[f])) {
			*size += w->files[f].size;
			*done += w->d[f].hashed;
		}
}

static void schedule(struct ms_webseed *w)
{
	uint64_t now = now_ms(w);
	int fresh = 0;

	if (w->closing || !w->nm)
		return;
	for (int k = 0; k < w->nm; k++) {
		int mi = (w->rr + k) % w->nm;
		struct mirror *m = &w->m[mi];
		int p0, p1, f;

		while (m->running < w->o.conns && m->retry_at <= now && !w->closing) {
			if (!fresh) {
				refresh_states(w);
				fresh = 1;
			}
			/* files taken whole are finished even when peers are
			 * back (the engine does not fetch them meanwhile) */
			if ((f = pick_direct(w, mi, w->engaged)) >= 0) {
				if (direct_start(w, mi, f))
					break;
				continue;
			}
			if (!w->engaged || w->pending >= PENDING_CAP ||
			    !pick(w, mi, &p0, &p1))
				break;
			start_job(w, mi, p0, p1);
		}
	}
	w->rr = (w->rr + 1) % w->nm;
}

/* the fallback policy: engage mirrors when peers deliver too little for
 * fallback_delay_ms, let them go when peers deliver enough as long */
static void on_tick(uv_timer_t *t)
{
	struct ms_webseed *w = t->data;
	struct lts_status st;
	struct ms_error err;
	uint64_t now = now_ms(w);

	if (ms_engine_status(w->e, w->id, &st, &err))
		return;
	if (w->last_ms && now > w->last_ms) {
		double inst = (double)(st.peer_download - w->last_peer_bytes) * 1000.0 /
			      (double)(now - w->last_ms);
		w->peer_rate = w->peer_rate * 0.5 + inst * 0.5;
	}
	w->last_peer_bytes = st.peer_download;
	w->last_ms = now;
	if (w->o.mode == MS_WEBSEEDS_ALWAYS) {
		w->engaged = 1;
	} else if (w->o.mode == MS_WEBSEEDS_NEVER || st.is_finished || st.is_seeding) {
		w->engaged = 0;
	} else {
		int low = w->peer_rate < (double)w->o.fallback_rate;

		if (low == w->engaged) {
			w->since = now;  /* nothing to change */
		} else if (now - w->since >= w->o.fallback_delay_ms) {
			w->engaged = low;
			w->since = now;
			event(w, NULL, low ? "peers deliver %.0f bytes/s: using mirrors"
					   : "peers deliver %.0f bytes/s: mirrors paused",
			      w->peer_rate);
		}
	}
	schedule(w);
}

int ms_webseed_new(struct ms_webseed **out, uv_loop_t *loop,
		   struct ms_engine *e, int id,
		   const struct ms_webseed_opts *o, struct ms_error *err)
{
	struct ms_webseed *w = calloc(1, sizeof(*w));
	lts_torrent *ti;
	int r;

	if (!w)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	ti = ms_engine_torrent(e, id, err);
	if (!ti) {
		free(w);
		return err ? err->code : MS_EINVAL;
	}
	w->loop = loop;
	w->e = e;
	w->id = id;
	w->o = *o;
	if (w->o.conns < 1)
		w->o.conns = 1;
	w->o.auth = NULL;
	w->o.n_auth = 0;
	w->auth = calloc(o->n_auth + 1, sizeof(*w->auth));
	w->nfiles = ms_torrent_num_files(ti);
	w->npieces = ms_torrent_num_pieces(ti);
	w->plen = ms_torrent_piece_length(ti);
	w->files = calloc((size_t)w->nfiles + 1, sizeof(*w->files));
	w->pstate = calloc((size_t)w->npieces + 1, 1);
	w->estate = calloc((size_t)w->npieces + 1, 1);
	w->supplier = calloc((size_t)w->npieces + 1, 1);
	w->failed = calloc((size_t)w->npieces + 1, 1);
	w->added_at = calloc((size_t)w->npieces + 1, sizeof(*w->added_at));
	r = !w->auth || !w->files || !w->pstate || !w->estate || !w->supplier ||
	    !w->failed || !w->added_at;
	for (size_t i = 0; !r && i < o->n_auth; i++) {
		w->auth[i].host = strdup(o->auth[i].host);
		w->auth[i].value = strdup(o->auth[i].value);
		w->o.n_auth++;
		r = !w->auth[i].host || !w->auth[i].value;
	}
	for (int i = 0; !r && i < w->nfiles; i++) {
		struct lts_file_info fi;

		ms_torrent_file(ti, i, &fi);
		w->files[i].offset = fi.offset;
		w->files[i].size = fi.size;
		w->files[i].pad = fi.pad;
		w->files[i].path = escape_path(fi.path);
		r = !w->files[i].path;
		if (fi.offset + fi.size > w->total)
			w->total = fi.offset + fi.size;
	}
	ms_torrent_free(ti);
	if (!r)
		r = ms_http_new(&w->http, loop, err);
	else
		r = ms_error_set(err, MS_ENOMEM, "out of memory");
	if (r) {
		w->closing = 1;
		ms_webseed_close(w);
		return r;
	}
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, on_tick, TICK_MS, TICK_MS);
	w->engaged = o->mode == MS_WEBSEEDS_ALWAYS;
	w->since = now_ms(w);
	*out = w;
	return 0;
}

int ms_webseed_add(struct ms_webseed *w, const char *url, struct ms_error *err)
{
	size_t n = strlen(url);
	struct mirror *m;
	const char *h;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return ms_error_set(err, MS_EINVAL,
				    "mirror '%s': only http:// and https:// work", url);
	for (int i = 0; i < w->nm; i++)
		if (!strncmp(w->m[i].url, url, n) &&
		    (w->m[i].url[n] == '\0' || (w->m[i].url[n] == '/' && !w->m[i].url[n + 1])))
			return 0;
	if (w->nm >= 127)
		return ms_error_set(err, MS_EINVAL, "too many mirrors");
	m = realloc(w->m, (size_t)(w->nm + 1) * sizeof(*m));
	if (!m)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	w->m = m;
	m = &w->m[w->nm];
	memset(m, 0, sizeof(*m));
	m->url = malloc(n + 2);
	m->fstate = calloc((size_t)w->nfiles + 1, 1);
	m->furl = calloc((size_t)w->nfiles + 1, sizeof(*m->furl));
	m->dsent = calloc((size_t)w->nfiles + 1, sizeof(*m->dsent));
	if (!m->url || !m->fstate || !m->furl || !m->dsent) {
		free(m->url);
		free(m->fstate);
		free(m->furl);
		free(m->dsent);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	memcpy(m->url, url, n + 1);
	/* BEP 19: for a single-file torrent, a URL not ending in '/' is the
	 * file's own URL */
	m->direct = w->nfiles == 1 && !strchr(w->files[0].path, '/') &&
		    n && url[n - 1] != '/';
	if (!m->direct && n && url[n - 1] != '/')
		strcat(m->url, "/");
	h = strstr(url, "://") + 3;
	snprintf(m->host, sizeof(m->host), "%.*s", (int)strcspn(h, "/?#"), h);
	snprintf(m->scheme, sizeof(m->scheme), "%s", strncmp(url, "https://", 8) ? "http" : "https");
	for (size_t i = 0; i < w->o.n_auth; i++)
		if (!strcasecmp(w->auth[i].host, m->host))
			m->auth = strdup(w->auth[i].value);
	w->nm++;
	return 0;
}

/* stop mirror mi's transfers of file f */
static void drop_jobs(struct ms_webseed *w, int mi, int f)
{
	struct job *j = w->jobs, *next;

	for (; j; j = next) {
		next = j->next;
		if (j->mi != mi || j->file != f || !j->x)
			continue;
		ms_http_range_cancel(j->x);
		j->x = NULL;
		job_release(j);
		job_free(j);
	}
}

void ms_webseed_on_alert(struct ms_webseed *w, const struct lts_alert *a)
{
	int p = a->piece;

	if (a->torrent != w->id || p < 0 || p >= w->npieces)
		return;
	if (w->pstate[p] == P_DIRECT)
		return;
	if (a->type == LTS_ALERT_PIECE_FINISHED) {
		int added = w->pstate[p] == P_ADDED;

		if (added)
			w->pending -= piece_size(w, p);
		if (w->pstate[p] != P_CLAIMED)
			w->pstate[p] = P_HAVE;
		/* room under the pending cap: more can start (not for every
		 * piece peers finish: the tick looks often enough) */
		if (added)
			schedule(w);
	} else if (a->type == LTS_ALERT_HASH_FAILED && w->pstate[p] == P_ADDED) {
		struct mirror *m = &w->m[w->supplier[p]];
		int64_t s = piece_size(w, p), at = piece_off(w, p);

		w->pending -= s;
		w->pstate[p] = P_FREE;
		w->failed[p] = 1;  /* its bad blocks stay until written over */
		m->bad_bytes += s;
		for (int f = file_at(w, at); f < w->nfiles && w->files[f].offset < at + s; f++) {
			if (w->files[f].pad || !w->files[f].size || m->fstate[f] != MF_OK)
				continue;
			m->fstate[f] = MF_DEMOTED;
			m->skipped++;
			event(w, m, "piece %d of '%s' failed the hash check: "
				    "not using it for that file", p, w->files[f].path);
			drop_jobs(w, w->supplier[p], f);
			none_left(w, f);
		}
		schedule(w);
	}
}

int ms_webseed_count(const struct ms_webseed *w)
{
	return w ? w->nm : 0;
}

void ms_webseed_stat(const struct ms_webseed *w, int i, struct ms_mirror_stat *st)
{
	const struct mirror *m = &w->m[i];

	st->url = m->url;
	st->bytes = m->bytes;
	st->bad_bytes = m->bad_bytes;
	st->active = m->running;
	st->files_skipped = m->skipped;
	st->last_error = m->last_error;
}

int64_t ms_webseed_bytes(const struct ms_webseed *w)
{
	int64_t n = 0;

	for (int i = 0; w && i < w->nm; i++)
		n += w->m[i].bytes;
	return n;
}

/* everything goes once the timer is closed and no worker holds a buffer */
static void maybe_free(struct ms_webseed *w)
{
	if (!w->timer_closed || w->djobs)
		return;
	for (int i = 0; i < w->nm; i++) {
		for (int f = 0; f < w->nfiles; f++)
			free(w->m[i].furl[f]);
		free(w->m[i].furl);
		free(w->m[i].fstate);
		free(w->m[i].dsent);
		free(w->m[i].url);
		free(w->m[i].auth);
	}
	free(w->m);
	for (size_t i = 0; w->auth && i < w->o.n_auth; i++) {
		free((char *)w->auth[i].host);
		free((char *)w->auth[i].value);
	}
	free(w->auth);
	for (int i = 0; w->files && i < w->nfiles; i++) {
		free(w->files[i].path);
		if (!w->d)
			continue;
		free(w->d[i].path);
		EVP_MD_CTX_free(w->d[i].md);
		close_fds(&w->d[i]);
	}
	free(w->d);
	free(w->files);
	free(w->pstate);
	free(w->estate);
	free(w->supplier);
	free(w->failed);
	free(w->added_at);
	free(w);
}

static void timer_closed(uv_handle_t *h)
{
	struct ms_webseed *w = h->data;

	w->timer_closed = 1;
	maybe_free(w);
}

void ms_webseed_close(struct ms_webseed *w)
{
	int timer = w->timer.data == w;
	struct djob *dj, *next;

	w->closing = 1;
	while (w->jobs) {
		struct job *j = w->jobs;
		if (j->x)
			ms_http_range_cancel(j->x);
		job_free(j);
	}
	for (dj = w->djobs; dj; dj = next) {
		next = dj->next_job;
		if (dj->x)
			ms_http_range_cancel(dj->x);
		dj->x = NULL;
		/* a worker's buffer is freed when it is back */
		if (dj->working)
			uv_cancel((uv_req_t *)&dj->work);
		else
			d_free(dj);
	}
	if (w->http)
		ms_http_close(w->http);
	if (timer) {
		uv_timer_stop(&w->timer);
		uv_close((uv_handle_t *)&w->timer, timer_closed);
	} else {
		w->timer_closed = 1;
		maybe_free(w);
	}
}
