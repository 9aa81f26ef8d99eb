/* webseed-direct.c: whole files from HTTP mirrors, streamed to their
 * .incomplete path (O_DIRECT where the filesystem allows) and hashed as
 * they come */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webseed-int.h"

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
	end = ms__ws_piece_off(w, *p1);
	for (int k = f + 1; k < w->nfiles && w->files[k].offset < end; k++)
		if (!w->files[k].pad && w->files[k].size)
			return 0;
	return 1;
}

void ms__ws_close_fds(struct dfile *d)
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
		ms__ws_event(w, NULL, "cannot set file priorities: %s", err.msg);
	free(prio);
}

/* file f goes back to the engine, piece by piece */
static void direct_leave(struct ms_webseed *w, int f)
{
	struct dfile *d = &w->d[f];
	int p0, p1, was = owned(d);

	d->state = D_OFF;
	ms__ws_close_fds(d);
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
		ms__ws_event(w, NULL, "cannot write '%s': %s", w->d[f].path, strerror(e));
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

void ms__ws_d_free(struct djob *j)
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
		ms__ws_d_free(j);
		w->release(w);
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
		ms__ws_close_fds(d);
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
		ms__ws_event(w, NULL, "'%s' does not match after going on from an earlier "
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
			ms__ws_event(w, m, "'%s' failed the hash check: not using it for that file",
			      w->files[f].path);
		}
	}
	d->hashed = 0;
	EVP_DigestInit_ex(d->md, EVP_sha256(), NULL);
	d->state = D_WAIT;
	if (!ms__ws_mirror_left(w, f)) {
		direct_leave(w, f);
		ms__ws_none_left(w, f);
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
		ms__ws_d_free(j);
		direct_fail(w, f, werr);
		w->reschedule(w);
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
		ms__ws_mirror_failed(w, m, f, j->status, j->retry_after, j->msg);
	}
	ms__ws_d_free(j);
	if (d->hashed == w->files[f].size)
		d_check(w, f);
	else if (!ms__ws_mirror_left(w, f)) {
		direct_leave(w, f);
		ms__ws_none_left(w, f);
	}
	w->reschedule(w);
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
	if (!(url = ms__ws_file_url(m, t, j->file)))
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
		ms__ws_event(w, m, "%s", err.msg);
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
		ms__ws_d_free(j);
		w->release(w);
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
	ms__ws_d_free(j);
	if (d->hashed == w->files[f].size)
		d_check(w, f);
	w->reschedule(w);
}

/* start fetching file f whole from mirror mi (0), where it left off */
int ms__ws_direct_start(struct ms_webseed *w, int mi, int f)
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
		ms__ws_d_free(j);
		return -1;
	}
	if (d->prime) {
		j->working = 1;
		j->work.data = j;
		if (uv_queue_work(w->loop, &j->work, d_prime, d_prime_done)) {
			ms__ws_d_free(j);
			return -1;
		}
	} else if (d_begin(j)) {
		ms__ws_d_free(j);
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
int ms__ws_pick_direct(struct ms_webseed *w, int mi, int engaged)
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
	w->reschedule(w);
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

