/* webseed.c: pieces from HTTP mirrors, handed to the engine; the
 * scheduler, which also starts whole files (webseed-direct.c); the
 * module's life */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webseed-int.h"

static void schedule(struct ms_webseed *w);
static void maybe_free(struct ms_webseed *w);
static void job_next(struct job *j);

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
	int64_t a = ms__ws_piece_off(w, p), b = a + ms__ws_piece_size(w, p);

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
				w->pending -= ms__ws_piece_size(w, p);
			w->pstate[p] = P_HAVE;
		} else if (es == LTS_PIECE_MISSING && ps == P_HAVE) {
			/* a check of the files on disk found it wrong */
			w->pstate[p] = P_FREE;
		} else if (es == LTS_PIECE_MISSING && ps == P_ADDED &&
			   ms__ws_now_ms(w) - w->added_at[p] > DROPPED_MS) {
			/* a hand-in libtorrent dropped (hand-ins are queued:
			 * give libtorrent's thread time to take it) */
			w->pending -= ms__ws_piece_size(w, p);
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
			       (q == p || len + ms__ws_piece_size(w, q) <= w->o.request_bytes)) {
				len += ms__ws_piece_size(w, q);
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
		int64_t s = ms__ws_piece_size(w, p), at = ms__ws_piece_off(w, p) - j->off;
		struct ms_error err;

		if (at + s > j->done)
			break;
		j->next_piece++;
		if (w->pstate[p] != P_CLAIMED)
			continue;
		if (ms_engine_add_piece(w->e, w->id, p, j->buf + at, (size_t)s,
					w->failed[p], &err)) {
			w->pstate[p] = P_FREE;
			ms__ws_event(w, NULL, "cannot hand in piece %d: %s", p, err.msg);
			continue;
		}
		w->pstate[p] = P_ADDED;
		w->added_at[p] = ms__ws_now_ms(w);
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
	ms__ws_mirror_failed(w, m, j->file, res->status, res->retry_after, res->msg);
	if (res->status == MS_ENOENT || res->status == MS_EPATH)
		ms__ws_none_left(w, j->file);
	job_release(j);
	job_free(j);
	schedule(w);
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
		if (!(url = ms__ws_file_url(m, f, fi)))
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
			ms__ws_event(w, m, "%s", err.msg);
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
	j->off = ms__ws_piece_off(w, p0);
	j->len = ms__ws_piece_off(w, p1 - 1) + ms__ws_piece_size(w, p1 - 1) - j->off;
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

static void schedule(struct ms_webseed *w)
{
	uint64_t now = ms__ws_now_ms(w);
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
			if ((f = ms__ws_pick_direct(w, mi, w->engaged)) >= 0) {
				if (ms__ws_direct_start(w, mi, f))
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
	uint64_t now = ms__ws_now_ms(w);

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
			ms__ws_event(w, NULL, low ? "peers deliver %.0f bytes/s: using mirrors"
					   : "peers deliver %.0f bytes/s: mirrors paused",
			      w->peer_rate);
		}
	}
	schedule(w);
}

static void on_alert(void *ud, const struct lts_alert *a);

int ms_webseed_new(struct ms_webseed **out, uv_loop_t *loop,
		   struct ms_engine *e, int id,
		   const struct ms_webseed_opts *o, struct ms_error *err)
{
	struct ms_webseed *w = calloc(1, sizeof(*w));
	lts_torrent *ti;
	struct ms_torrent_meta tm;
	int r;

	if (!w)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	ti = ms_engine_torrent(e, id, err);
	if (!ti) {
		free(w);
		return err ? err->code : MS_EINVAL;
	}
	if ((r = ms_torrent_meta(ti, &tm, err))) {
		ms_torrent_free(ti);
		free(w);
		return r;
	}
	w->loop = loop;
	w->e = e;
	w->id = id;
	w->reschedule = schedule;
	w->release = maybe_free;
	w->o = *o;
	if (w->o.conns < 1)
		w->o.conns = 1;
	w->o.auth = NULL;
	w->o.n_auth = 0;
	w->auth = calloc(o->n_auth + 1, sizeof(*w->auth));
	w->nfiles = tm.num_files;
	w->npieces = tm.num_pieces;
	w->plen = tm.piece_length;
	ms_torrent_meta_release(&tm);
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
		w->files[i].path = ms_url_escape_path(fi.path);
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
	if ((r = ms_engine_watch(e, id, on_alert, w))) {
		ms_webseed_close(w);
		return ms_error_set(err, r, "cannot watch the torrent's alerts");
	}
	w->watching = 1;
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, on_tick, TICK_MS, TICK_MS);
	w->engaged = o->mode == MS_WEBSEEDS_ALWAYS;
	w->since = ms__ws_now_ms(w);
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

/* the torrent's alerts, straight from the engine (NULL: it closed) */
static void on_alert(void *ud, const struct lts_alert *a)
{
	struct ms_webseed *w = ud;
	int p;

	if (!a) {
		w->watching = 0;
		return;
	}
	p = a->piece;
	if (p < 0 || p >= w->npieces)
		return;
	if (w->pstate[p] == P_DIRECT)
		return;
	if (a->type == LTS_ALERT_PIECE_FINISHED) {
		int added = w->pstate[p] == P_ADDED;

		if (added)
			w->pending -= ms__ws_piece_size(w, p);
		if (w->pstate[p] != P_CLAIMED)
			w->pstate[p] = P_HAVE;
		/* room under the pending cap: more can start (not for every
		 * piece peers finish: the tick looks often enough) */
		if (added)
			schedule(w);
	} else if (a->type == LTS_ALERT_HASH_FAILED && w->pstate[p] == P_ADDED) {
		struct mirror *m = &w->m[w->supplier[p]];
		int64_t s = ms__ws_piece_size(w, p), at = ms__ws_piece_off(w, p);

		w->pending -= s;
		w->pstate[p] = P_FREE;
		w->failed[p] = 1;  /* its bad blocks stay until written over */
		m->bad_bytes += s;
		for (int f = file_at(w, at); f < w->nfiles && w->files[f].offset < at + s; f++) {
			if (w->files[f].pad || !w->files[f].size || m->fstate[f] != MF_OK)
				continue;
			m->fstate[f] = MF_DEMOTED;
			m->skipped++;
			ms__ws_event(w, m, "piece %d of '%s' failed the hash check: "
				    "not using it for that file", p, w->files[f].path);
			drop_jobs(w, w->supplier[p], f);
			ms__ws_none_left(w, f);
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
		ms__ws_close_fds(&w->d[i]);
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
	if (w->watching)
		ms_engine_unwatch(w->e, w->id, on_alert, w);
	w->watching = 0;
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
			ms__ws_d_free(dj);
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
