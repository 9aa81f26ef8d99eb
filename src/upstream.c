/* upstream.c: a repo of an upstream hub made a signed release (bridging) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ms_hash.h"
#include "ms_manifest.h"
#include "ms_publish.h"
#include "ms_store.h"
#include "ms_torrent.h"
#include "ms_upstream.h"

#define API_CAP (32u << 20)      /* one page of JSON */
#define MAX_FILES 200000
#define TRIES 3                  /* per file, then the job fails for now */
#define BUILD_DAYS 180
#define PROGRESS_STEP (1 << 20)  /* bytes between progress hooks */

enum { U_WAIT, U_PREP, U_GET, U_DONE };

struct ufile {
	char *path;
	int64_t size;
	int lfs;
	char oid[41];            /* git blob sha1 */
	char sha256[65];         /* lfs.oid, "" for a git file */
	int st;
	int fd;
	int64_t have;            /* bytes in its .incomplete file */
	int64_t told;            /* have, when progress was last called */
	EVP_MD_CTX *md;
	struct ms_http_xfer *x;
	int tries;
	int werr;                /* errno of a failed write */
	struct ms_upstream_job *j;
};

struct ms_upstream_job {
	uv_loop_t *loop;
	struct ms_http *http;
	struct ms_upstream_hooks h;
	char *upstream, *repo, *want, *cache, *index, *work;
	char *relay;             /* following: the bytes from relay<etag> */
	char *auth_host, *auth_scheme, *auth_value;
	struct ms_http_auth auth;
	int has_auth;
	const struct ms_seckey *sk;
	struct ms_strlist trackers;
	int parallel;
	long stall_s;
	char sha[41];
	struct ms_http_api_hdrs hdrs;  /* of the last API answer */
	struct ufile *files;
	size_t n, cap;
	struct ms_store store;
	int store_open;
	char blobs[PATH_MAX + 8];  /* the store's blobs/, for the pool */
	char repo_dir[PATH_MAX];   /* the store's directory, once the tree is read */
	size_t next;             /* the next file to start */
	int active;              /* files on their way */
	int pending;             /* libuv work or transfers to wait for */
	int cancelled, ended;
	uv_timer_t retry;
	int retry_on;
	/* the build, on the pool */
	uv_work_t build_req;
	struct ms_build_file *bf;
	unsigned char *tbuf;
	size_t tlen;
	struct ms_torrent_meta tm;      /* what tbuf says */
	int build_code;
	struct ms_error build_err;
};

static void schedule(struct ms_upstream_job *j);

/* its blob's name in the cache: the sha256 of an LFS file, else the git
 * blob id (as huggingface_hub names them) */
static const char *etag_of(const struct ufile *f)
{
	return f->lfs ? f->sha256 : f->oid;
}

static void logf_(struct ms_upstream_job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logf_(struct ms_upstream_job *j, const char *fmt, ...)
{
	char line[1200];
	va_list ap;

	if (!j->h.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	j->h.log(j->h.ud, line);
}

static void free_job(struct ms_upstream_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->files[i].path);
		if (j->files[i].fd >= 0)
			close(j->files[i].fd);
		EVP_MD_CTX_free(j->files[i].md);
	}
	free(j->files);
	if (j->store_open)
		ms_store_release(&j->store);
	ms_strlist_release(&j->trackers);
	free(j->bf);
	free(j->tbuf);
	ms_torrent_meta_release(&j->tm);
	free(j->upstream);
	free(j->repo);
	free(j->want);
	free(j->cache);
	free(j->index);
	free(j->work);
	free(j->relay);
	free(j->auth_host);
	free(j->auth_scheme);
	free(j->auth_value);
	free(j);
}

static void retry_closed(uv_handle_t *hd)
{
	struct ms_upstream_job *j = hd->data;

	if (j->http) {
		ms_http_close(j->http); /* no callback after this */
		j->http = NULL;
	}

	if (--j->pending == 0)
		free_job(j);
}

/* the end, once: the hook, then everything stops (freed when nothing of
 * ours runs any more) */
static void finish(struct ms_upstream_job *j, int code, const char *msg)
{
	if (j->ended)
		return;
	j->ended = 1;
	if (code && !j->cancelled)
		logf_(j, "%s", msg);
	/* the transfers end when the retry timer has closed (this may run in
	 * one of their callbacks); until then, their callbacks do nothing */
	/* the repo's lock goes before the hook: a download of the release
	 * may start from it */
	for (size_t i = 0; i < j->n; i++)
		if (j->files[i].fd >= 0 && j->files[i].st != U_PREP) {
			close(j->files[i].fd);
			j->files[i].fd = -1;
		}
	if (j->store_open) {
		ms_store_release(&j->store);
		j->store_open = 0;
	}
	if (!j->cancelled && j->h.done)
		j->h.done(j->h.ud, code, msg, code ? NULL : j->sha);
	j->pending++;
	if (j->retry_on)
		uv_close((uv_handle_t *)&j->retry, retry_closed);
	else
		retry_closed((uv_handle_t *)&j->retry);
}

static void fail(struct ms_upstream_job *j, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct ms_upstream_job *j, int code, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	finish(j, code, msg);
}

/* an upstream error as the job's: 404 is "not found", 401/403 asks for a
 * token, 429/503 and network errors are "later" */
static int api_code(const struct ms_upstream_job *j, int status, const char *msg)
{
	const char *ec = j->hdrs.error_code;

	/* (the hub answers 401 RepoNotFound to a client without a token) */
	if (status == MS_ENOENT || !strcmp(ec, "RepoNotFound") ||
	    !strcmp(ec, "RevisionNotFound"))
		return MS_ENOTFOUND;
	if (status == MS_EAGAIN || (status == MS_EIO && !strstr(msg, "HTTP 4")))
		return MS_EAGAIN;
	return status;
}

static void api_fail(struct ms_upstream_job *j, int status, const char *msg)
{
	int code = api_code(j, status, msg);

	if (code == MS_ENOTFOUND)
		fail(j, code, "upstream %s has no %s@%s (%s)", j->upstream, j->repo, j->want, msg);
	else if (!strcmp(j->hdrs.error_code, "GatedRepo") || strstr(msg, "HTTP 401") ||
		 strstr(msg, "HTTP 403"))
		fail(j, MS_EIO, "upstream %s refuses %s: %s (a gated or private repo needs "
		     "a token: mirror-auth.HOST:PORT = Bearer TOKEN in the config)", j->upstream,
		     j->repo, msg);
	else
		fail(j, code, "upstream %s: %s", j->upstream, msg);
}

static int url_of(struct ms_upstream_job *j, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int url_of(struct ms_upstream_job *j, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "%s", j->upstream), m;

	va_start(ap, fmt);
	m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return m < 0 || (size_t)(n + m) >= len ? -1 : 0;
}

/* ---- the files -------------------------------------------------------- */

static int hex_ok(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static void digest_hex(struct ufile *f, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(f->md, d, &n);
	ms_hex(d, n, out);
}

static int start_md(struct ufile *f)
{
	char hdr[64];
	int n;

	if (!f->md && !(f->md = EVP_MD_CTX_new()))
		return -1;
	if (f->lfs)
		return EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) == 1 ? 0 : -1;
	if (EVP_DigestInit_ex(f->md, EVP_sha1(), NULL) != 1)
		return -1;
	n = snprintf(hdr, sizeof(hdr), "blob %" PRId64, f->size);
	return EVP_DigestUpdate(f->md, hdr, (size_t)n + 1) == 1 ? 0 : -1; /* with the NUL */
}

/* a file's bytes are all there: checked, then given their name */
static void file_complete(struct ufile *f)
{
	struct ms_upstream_job *j = f->j;
	char got[EVP_MAX_MD_SIZE * 2 + 1], inc[PATH_MAX + 128], fin[PATH_MAX + 128];
	const char *want = f->lfs ? f->sha256 : f->oid;

	digest_hex(f, got);
	ms_store_blob_path(&j->store, etag_of(f), 1, 0, inc, sizeof(inc));
	ms_store_blob_path(&j->store, etag_of(f), 0, 0, fin, sizeof(fin));
	if (strcmp(got, want)) {
		close(f->fd);
		f->fd = -1;
		unlink(inc);
		if (j->relay)
			/* a relay that is wrong: the release, from peers, later */
			fail(j, MS_EAGAIN, "relay %s's bytes of '%s' do not match the upstream's "
			     "metadata (%s %s, the bytes have %s): refused", j->relay, f->path,
			     f->lfs ? "sha256" : "git blob sha1", want, got);
		else
			fail(j, MS_EVERIFY, "upstream's bytes of '%s' do not match its metadata "
			     "(%s %s, the bytes have %s): refused", f->path,
			     f->lfs ? "sha256" : "git blob sha1", want, got);
		return;
	}
	if (fsync(f->fd) || close(f->fd) || rename(inc, fin)) {
		int e = errno;
		f->fd = -1;
		fail(j, MS_EIO, "cannot keep '%s' as '%s': %s", f->path, fin, strerror(e));
		return;
	}
	f->fd = -1;
	f->st = U_DONE;
	j->active--;
	if (j->h.file_done)
		j->h.file_done(j->h.ud);
	schedule(j);
}

static void retry_cb(uv_timer_t *t);

static int on_data(void *ud, const unsigned char *p, size_t n)
{
	struct ufile *f = ud;
	size_t off = 0;

	if (f->j->ended)
		return 0;
	while (off < n) {
		ssize_t w = pwrite(f->fd, p + off, n - off, f->have);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			/* paused; the timer ends the job, outside libcurl's call */
			f->werr = w < 0 ? errno : EIO;
			uv_timer_start(&f->j->retry, retry_cb, 0, 0);
			return 1;
		}
		EVP_DigestUpdate(f->md, p + off, (size_t)w);
		f->have += w;
		off += (size_t)w;
	}
	if (f->j->h.progress && (f->have - f->told >= PROGRESS_STEP || f->have == f->size)) {
		f->told = f->have;
		f->j->h.progress(f->j->h.ud);
	}
	return 0;
}

static void get_file(struct ufile *f);

static void retry_cb(uv_timer_t *t)
{
	struct ms_upstream_job *j = t->data;
	char p[PATH_MAX + 128];

	for (size_t i = 0; i < j->n; i++)
		if (j->files[i].werr) {
			ms_store_blob_path(&j->store, etag_of(&j->files[i]), 1, 0, p, sizeof(p));
			fail(j, MS_EIO, "cannot write '%s': %s", p, strerror(j->files[i].werr));
			return;
		}
	for (size_t i = 0; i < j->n; i++)
		if (j->files[i].st == U_GET && !j->files[i].x)
			get_file(&j->files[i]);
}

static void on_file_done(void *ud, const struct ms_http_result *res)
{
	struct ufile *f = ud;
	struct ms_upstream_job *j = f->j;

	f->x = NULL;
	if (j->ended)
		return;
	if (!res->status && f->have == f->size) {
		file_complete(f);
		return;
	}
	if (j->relay) {
		/* the relay's trouble is never the upstream's: back to the
		 * index, for the release or another relay */
		if (res->status == MS_ENOENT || ++f->tries >= TRIES) {
			fail(j, MS_EAGAIN, "relay %s: cannot get '%s' (%" PRId64 " of %" PRId64
			     " bytes kept): %s", j->relay, f->path, f->have, f->size,
			     res->msg ? res->msg : "failed");
			return;
		}
		logf_(j, "relay %s: '%s': %s; trying again (%" PRId64 " of %" PRId64 " bytes kept)",
		      j->relay, f->path, res->msg ? res->msg : "failed", f->have, f->size);
		uv_timer_start(&j->retry, retry_cb, 500u << f->tries, 0);
		return;
	}
	if (res->status == MS_ENOENT) {
		fail(j, MS_EVERIFY, "upstream lists '%s' at %s but does not serve it (%s)",
		     f->path, j->sha, res->msg);
		return;
	}
	if (res->http_code == 401 || (res->http_code == 403 && !res->redirected)) {
		char host[300];
		ms_url_host(j->upstream, host, sizeof(host));
		fail(j, MS_EIO, "upstream %s refuses '%s' of %s (HTTP %ld): a gated or private "
		     "repo needs a token: mirror-auth.%s = Bearer TOKEN in the config", j->upstream,
		     f->path, j->repo, res->http_code, host);
		return;
	}
	if (++f->tries >= TRIES) {
		fail(j, MS_EAGAIN, "cannot download '%s' from upstream %s (%d tries): %s",
		     f->path, j->upstream, f->tries, res->msg ? res->msg : "failed");
		return;
	}
	logf_(j, "'%s': %s; trying again (%" PRId64 " of %" PRId64 " bytes kept)", f->path,
	      res->msg ? res->msg : "failed", f->have, f->size);
	/* on from what is there: the hash went along with the bytes */
	uv_timer_start(&j->retry, retry_cb, 1000u << f->tries, 0);
}

static void get_file(struct ufile *f)
{
	struct ms_upstream_job *j = f->j;
	struct ms_http_range rq;
	struct ms_error err;
	char url[12288], *esc;

	if (f->have == f->size) {
		file_complete(f);
		return;
	}
	if (j->relay) {
		snprintf(url, sizeof(url), "%s%s", j->relay, etag_of(f));
	} else if (!(esc = ms_url_escape_path(f->path)) ||
		   url_of(j, url, sizeof(url), "/%s/resolve/%s/%s", j->repo, j->sha, esc)) {
		free(esc);
		fail(j, MS_EINVAL, "the URL of '%s' is too long", f->path);
		return;
	} else {
		free(esc);
	}
	memset(&rq, 0, sizeof(rq));
	rq.url = url;
	rq.start = f->have;
	rq.len = f->size - f->have;
	rq.file_size = f->size;
	if (j->has_auth && !j->relay) {
		rq.auth_host = j->auth.host;
		rq.auth_scheme = j->auth.scheme;
		rq.auth = j->auth.value;
	}
	rq.on_data = on_data;
	rq.stall_s = j->stall_s;
	rq.on_done = on_file_done;
	rq.ud = f;
	if (ms_http_range_start(j->http, &rq, &f->x, &err))
		fail(j, err.code, "cannot download '%s': %s", f->path, err.msg);
}

/* on the pool: open the .incomplete file and hash what it has */
struct prep {
	uv_work_t w;
	struct ufile *f;
	char path[PATH_MAX + 128];
	int err;
};

static void prep_work(uv_work_t *w)
{
	struct prep *p = w->data;
	struct ufile *f = p->f;
	unsigned char *buf;
	struct stat st;
	int64_t off = 0;

	f->fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (f->fd < 0 || fstat(f->fd, &st) || !S_ISREG(st.st_mode)) {
		p->err = errno ? errno : EINVAL;
		return;
	}
	f->have = st.st_size;
	if (f->have > f->size) {
		/* longer than the file: not ours to resume */
		if (ftruncate(f->fd, 0)) {
			p->err = errno;
			return;
		}
		f->have = 0;
	}
	if (start_md(f)) {
		p->err = ENOMEM;
		return;
	}
	if (!f->have)
		return;
	if (!(buf = malloc(1 << 20))) {
		p->err = ENOMEM;
		return;
	}
	while (off < f->have) {
		size_t want = (size_t)(f->have - off < (1 << 20) ? f->have - off : (1 << 20));
		ssize_t r = pread(f->fd, buf, want, off);
		if (r <= 0) {
			p->err = r < 0 ? errno : EIO;
			break;
		}
		EVP_DigestUpdate(f->md, buf, (size_t)r);
		off += r;
	}
	free(buf);
}

static void prep_after(uv_work_t *w, int status)
{
	struct prep *p = w->data;
	struct ufile *f = p->f;
	struct ms_upstream_job *j = f->j;

	j->pending--;
	if (j->ended) {
		free(p);
		if (j->pending == 0)
			free_job(j);
		return;
	}
	if (status || p->err) {
		fail(j, MS_EIO, "cannot open '%s': %s", p->path,
		     strerror(p->err ? p->err : ECANCELED));
		free(p);
		return;
	}
	free(p);
	if (f->have)
		logf_(j, "'%s': resuming at %" PRId64 " of %" PRId64 " bytes", f->path, f->have,
		      f->size);
	f->st = U_GET;
	get_file(f);
}

static void start_file(struct ufile *f)
{
	struct ms_upstream_job *j = f->j;
	struct ms_error err;
	struct prep *p;

	if (ms_store_blob_present(&j->store, etag_of(f), f->size)) {
		/* in the cache already: checked with the rest when hashed */
		f->st = U_DONE;
		return;
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		fail(j, MS_ENOMEM, "out of memory");
		return;
	}
	if (ms_store_prepare_incomplete(&j->store, etag_of(f), &err)) {
		free(p);
		fail(j, err.code, "%s", err.msg);
		return;
	}
	p->f = f;
	p->w.data = p;
	ms_store_blob_path(&j->store, etag_of(f), 1, 0, p->path, sizeof(p->path));
	f->st = U_PREP;
	j->active++;
	j->pending++;
	uv_queue_work(j->loop, &p->w, prep_work, prep_after);
}

static void build(struct ms_upstream_job *j);

static void schedule(struct ms_upstream_job *j)
{
	while (!j->ended && j->active < j->parallel && j->next < j->n)
		start_file(&j->files[j->next++]);
	if (!j->ended && !j->active && j->next == j->n) {
		if (j->relay) {
			/* the daemon bridging it signs the release */
			logf_(j, "%s@%s: all %zu files from relay %s verified against the "
			      "upstream's metadata", j->repo, j->sha, j->n, j->relay);
			finish(j, 0, NULL);
		} else {
			build(j);
		}
	}
}

/* ---- the build: the torrent publish makes, checked, then signed ---------- */

static void build_hash(struct ms_upstream_job *j)
{
	struct ms_build_opts bo;
	char link[PATH_MAX * 2], blob[PATH_MAX + 128];
	struct ms_error err;

	/* the tree as a directory of links to the blobs */
	ms_remove_tree_at(AT_FDCWD, j->work);
	for (size_t i = 0; i < j->n; i++) {
		struct ufile *f = &j->files[i];
		char *slash;
		snprintf(link, sizeof(link), "%s/%s", j->work, f->path);
		slash = strrchr(link, '/');
		*slash = '\0';
		if (ms_mkdir_p(link, &err)) {
			j->build_code = ms_error_set(&j->build_err, err.code, "%s", err.msg);
			return;
		}
		*slash = '/';
		snprintf(blob, sizeof(blob), "%s/%s", j->blobs, etag_of(f));
		if (symlink(blob, link)) {
			j->build_code = ms_error_set(&j->build_err, MS_EIO, "cannot link '%s': %s",
						     link, strerror(errno));
			return;
		}
		j->bf[i].path = f->path;
		j->bf[i].size = f->size;
		j->bf[i].want_git = !f->lfs;
	}
	memset(&bo, 0, sizeof(bo));
	/* no web seed: the hub as one would let every daemon that finds its
	 * peers slow pull from the hub again, the very thing a bridge saves */
	bo.name = j->sha;
	bo.trackers = j->trackers.v;
	bo.n_trackers = j->trackers.n;
	bo.meta = &j->tm;
	if (ms_torrent_build(j->work, j->bf, j->n, &bo, &j->tbuf, &j->tlen, &err)) {
		j->build_code = ms_error_set(&j->build_err, err.code, "%s", err.msg);
		return;
	}
	/* everything that is signed, against the upstream's metadata */
	for (size_t i = 0; i < j->n; i++) {
		struct ufile *f = &j->files[i];
		char h[65];
		if (f->lfs)
			ms_hex(j->bf[i].sha256, 32, h);
		else
			ms_hex(j->bf[i].git_sha1, 20, h);
		if (strcmp(h, f->lfs ? f->sha256 : f->oid)) {
			/* a blob that lies about its name: gone, so that the
			 * next try downloads it */
			snprintf(blob, sizeof(blob), "%s/%s", j->blobs, etag_of(f));
			unlink(blob);
			j->build_code = ms_error_set(&j->build_err, MS_EVERIFY,
						     "the cached blob of '%s' does not match the "
						     "upstream's metadata (%s, not %s)", f->path,
						     h, f->lfs ? f->sha256 : f->oid);
			return;
		}
	}
}

/* on the pool: the hashing, and the links removed after it (thousands
 * of them, not on the loop) */
static void build_work(uv_work_t *w)
{
	struct ms_upstream_job *j = w->data;

	build_hash(j);
	ms_remove_tree_at(AT_FDCWD, j->work);
}

static void build_after(uv_work_t *w, int status)
{
	struct ms_upstream_job *j = w->data;
	struct ms_publish pub = { 0 };
	struct ms_error err;
	const char *refs[1];

	j->pending--;
	if (j->ended) {
		if (j->pending == 0)
			free_job(j);
		return;
	}
	if (status || j->build_code) {
		fail(j, j->build_code ? j->build_code : MS_EIO, "%s",
		     j->build_code ? j->build_err.msg : "hashing was cancelled");
		return;
	}
	refs[0] = j->want;
	pub.index = j->index;
	pub.repo = j->repo;
	pub.rev = j->sha;
	pub.sk = j->sk;
	pub.files = j->bf;
	pub.n_files = j->n;
	pub.torrent = j->tbuf;
	pub.torrent_len = j->tlen;
	pub.tm = &j->tm;
	pub.refs = refs;
	pub.n_refs = ms_revision_check(j->want) ? 1 : 0;  /* a ref, not a commit */
	pub.trackers = j->trackers.v;
	pub.n_trackers = j->trackers.n;
	pub.upstream = j->upstream;
	pub.days = BUILD_DAYS;
	pub.now = time(NULL);
	if (ms_publish_write(&pub, &err)) {
		fail(j, err.code, "cannot write the bridged release: %s", err.msg);
		return;
	}
	logf_(j, "bridged %s@%s (%s) as version %" PRId64 ": %zu files, infohash %s", j->repo,
	      j->sha, j->want, pub.version, j->n,
	      *pub.infohash_v2 ? pub.infohash_v2 : pub.infohash_v1);
	finish(j, 0, NULL);
}

static void build(struct ms_upstream_job *j)
{
	if (j->bf)
		return;  /* on its way */
	if (!(j->bf = calloc(j->n + 1, sizeof(*j->bf)))) {
		fail(j, MS_ENOMEM, "out of memory");
		return;
	}
	logf_(j, "%s@%s: all %zu files verified against the upstream's metadata; hashing",
	      j->repo, j->sha, j->n);
	j->build_req.data = j;
	j->pending++;
	uv_queue_work(j->loop, &j->build_req, build_work, build_after);
}

/* ---- the metadata ----------------------------------------------------- */

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct ufile *)a)->path, ((const struct ufile *)b)->path);
}

/* every file is known: sorted, checked, then downloaded */
static void tree_done(struct ms_upstream_job *j)
{
	struct ms_error err;
	const char **paths;
	int64_t total = 0;

	if (!j->n) {
		fail(j, MS_ENOTFOUND, "upstream's %s@%s has no files", j->repo, j->sha);
		return;
	}
	qsort(j->files, j->n, sizeof(*j->files), by_path);
	if (!(paths = calloc(j->n, sizeof(*paths)))) {
		fail(j, MS_ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < j->n; i++) {
		paths[i] = j->files[i].path;
		total += j->files[i].size;
	}
	if (ms_paths_collide(paths, j->n, &err)) {
		free(paths);
		fail(j, MS_EVERIFY, "upstream's tree of %s@%s: %s", j->repo, j->sha, err.msg);
		return;
	}
	free(paths);
	if (ms_store_open(&j->store, j->cache, j->repo, &err)) {
		fail(j, err.code, "%s", err.msg);
		return;
	}
	j->store_open = 1;
	snprintf(j->blobs, sizeof(j->blobs), "%s/blobs", j->store.repo_dir);
	snprintf(j->repo_dir, sizeof(j->repo_dir), "%s", j->store.repo_dir);
	if (ms_store_lock(&j->store, NULL, NULL, &err)) {
		fail(j, err.code, "%s", err.msg);
		return;
	}
	logf_(j, "%s@%s is %s at upstream %s: %zu files, %" PRId64 " bytes", j->repo, j->want,
	      j->sha, j->upstream, j->n, total);
	if (j->h.file_done)
		j->h.file_done(j->h.ud);   /* its files can be listed now */
	schedule(j);
}

/* one entry of the tree: a file, with the ids its bytes must have */
static int add_entry(struct ms_upstream_job *j, json_t *e, struct ms_error *err)
{
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *path = json_string_value(json_object_get(e, "path"));
	const char *oid = json_string_value(json_object_get(e, "oid"));
	json_t *size = json_object_get(e, "size"), *lfs = json_object_get(e, "lfs");
	struct ufile *f;

	if (type && !strcmp(type, "directory"))
		return 0;
	if (!type || strcmp(type, "file") || !path || !oid || !json_is_integer(size) ||
	    json_integer_value(size) < 0 || !hex_ok(oid, 40))
		return ms_error_set(err, MS_EVERIFY, "an entry of the tree is not a file with "
				    "path, oid and size");
	if (ms_path_check(path, err))
		return MS_EVERIFY;
	if (j->n >= MAX_FILES)
		return ms_error_set(err, MS_ETOOBIG, "more than %d files", MAX_FILES);
	if (j->n == j->cap) {
		size_t c = j->cap ? j->cap * 2 : 64;
		struct ufile *v = realloc(j->files, c * sizeof(*v));
		if (!v)
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		j->files = v;
		j->cap = c;
	}
	f = &j->files[j->n];
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->j = j;
	f->size = json_integer_value(size);
	snprintf(f->oid, sizeof(f->oid), "%s", oid);
	if (json_is_object(lfs)) {
		const char *sha = json_string_value(json_object_get(lfs, "oid"));
		json_t *ls = json_object_get(lfs, "size");
		if (!sha || !hex_ok(sha, 64) || !json_is_integer(ls) ||
		    json_integer_value(ls) != f->size)
			return ms_error_set(err, MS_EVERIFY, "'%s': its lfs entry has no sha256 "
					    "oid or another size", path);
		f->lfs = 1;
		snprintf(f->sha256, sizeof(f->sha256), "%s", sha);
	}
	if (!(f->path = strdup(path)))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	j->n++;
	return 0;
}

static void get_tree(struct ms_upstream_job *j, const char *url);

static void on_tree(void *ud, int status, unsigned char *body, size_t len, const char *msg)
{
	struct ms_upstream_job *j = ud;
	struct ms_error err;
	json_error_t je;
	json_t *a;
	size_t i;
	json_t *e;
	char next[sizeof(j->hdrs.next)];

	if (j->ended) {
		free(body);
		return;
	}

	if (status) {
		api_fail(j, status, msg);
		return;
	}
	a = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
	free(body);
	if (!json_is_array(a)) {
		json_decref(a);
		fail(j, MS_EVERIFY, "upstream's tree of %s@%s is not a JSON array", j->repo,
		     j->sha);
		return;
	}
	json_array_foreach(a, i, e) {
		if (add_entry(j, e, &err)) {
			json_decref(a);
			fail(j, err.code, "upstream's tree of %s@%s: %s", j->repo, j->sha, err.msg);
			return;
		}
	}
	json_decref(a);
	snprintf(next, sizeof(next), "%s", j->hdrs.next);
	if (!*next) {
		tree_done(j);
		return;
	}
	/* the next page: on the upstream itself (its token goes nowhere else
	 * anyway) */
	if (strncmp(next, j->upstream, strlen(j->upstream)) ||
	    (next[strlen(j->upstream)] != '/' && next[strlen(j->upstream)] != '?')) {
		fail(j, MS_EVERIFY, "upstream's next page of the tree is elsewhere: '%.300s'", next);
		return;
	}
	get_tree(j, next);
}

static void get_tree(struct ms_upstream_job *j, const char *url)
{
	struct ms_error err;

	if (ms_http_get_api(j->http, url, API_CAP, j->has_auth ? &j->auth : NULL, &j->hdrs,
			    on_tree, j, &err))
		fail(j, err.code, "%s", err.msg);
}

static void on_info(void *ud, int status, unsigned char *body, size_t len, const char *msg)
{
	struct ms_upstream_job *j = ud;
	json_error_t je;
	json_t *o;
	const char *sha;
	char url[4096];

	if (j->ended) {
		free(body);
		return;
	}

	if (status) {
		api_fail(j, status, msg);
		return;
	}
	o = json_loadb((const char *)body, len, 0, &je);
	free(body);
	sha = json_string_value(json_object_get(o, "sha"));
	if (!sha || !hex_ok(sha, 40)) {
		json_decref(o);
		fail(j, MS_EVERIFY, "upstream's answer for %s@%s names no commit (\"sha\")",
		     j->repo, j->want);
		return;
	}
	snprintf(j->sha, sizeof(j->sha), "%s", sha);
	json_decref(o);
	if (!ms_revision_check(j->want) && strcmp(j->want, j->sha)) {
		fail(j, MS_EVERIFY, "upstream answers commit %s for %s@%s", j->sha, j->repo,
		     j->want);
		return;
	}
	if (url_of(j, url, sizeof(url), "/api/models/%s/tree/%s?recursive=true", j->repo,
		   j->sha)) {
		fail(j, MS_EINVAL, "URL too long");
		return;
	}
	get_tree(j, url);
}

/* ---- the job ---------------------------------------------------------- */

/* a revision or ref as one URL path segment ('/' escaped too) */
static char *rev_escape(const char *want)
{
	char *e = ms_url_escape_path(want), *out, *o;

	if (!e || !(out = malloc(strlen(e) * 3 + 1))) {
		free(e);
		return NULL;
	}
	o = out;
	for (const char *p = e; *p; p++) {
		if (*p == '/') {
			memcpy(o, "%2F", 3);
			o += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	free(e);
	return out;
}

static char *dup_or_null(const char *s, int *bad)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*bad = 1;
	return d;
}

int ms_upstream_start(struct ms_upstream_job **out, uv_loop_t *loop,
		      const struct ms_upstream_opts *o, const struct ms_upstream_hooks *h,
		      struct ms_error *err)
{
	struct ms_upstream_job *j;
	char url[4096], *esc;
	int bad = 0;
	size_t ul;

	*out = NULL;
	if (ms_upstream_check(o->upstream, err))
		return MS_EINVAL;
	if (!o->repo || !o->want || !o->cache_dir ||
	    (!o->relay && (!o->sk || !o->index || !o->work_dir)))
		return ms_error_set(err, MS_EINVAL, "bridging needs a repo, a key, a cache and "
				    "an index");
	if (o->relay && strncmp(o->relay, "http://", 7) && strncmp(o->relay, "https://", 8))
		return ms_error_set(err, MS_EINVAL, "relay '%s' is not an http(s) URL", o->relay);
	if (!(j = calloc(1, sizeof(*j))))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	j->loop = loop;
	j->h = *h;
	j->sk = o->sk;
	j->parallel = o->parallel > 0 ? o->parallel : 4;
	j->stall_s = o->stall_s > 0 ? o->stall_s : 60;
	j->upstream = dup_or_null(o->upstream, &bad);
	j->repo = dup_or_null(o->repo, &bad);
	j->want = dup_or_null(o->want, &bad);
	j->cache = dup_or_null(o->cache_dir, &bad);
	j->index = dup_or_null(o->index, &bad);
	j->work = dup_or_null(o->work_dir, &bad);
	j->relay = dup_or_null(o->relay, &bad);
	if (o->auth && o->auth->value) {
		j->auth_host = dup_or_null(o->auth->host, &bad);
		j->auth_scheme = dup_or_null(o->auth->scheme, &bad);
		j->auth_value = dup_or_null(o->auth->value, &bad);
		j->auth.host = j->auth_host;
		j->auth.scheme = j->auth_scheme;
		j->auth.value = j->auth_value;
		j->has_auth = 1;
	}
	for (size_t i = 0; o->trackers && i < o->trackers->n; i++)
		bad |= ms_strlist_push_copy(&j->trackers, o->trackers->v[i]) != 0;
	if (bad) {
		free_job(j);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	/* the base without a trailing '/' */
	ul = strlen(j->upstream);
	while (ul > 8 && j->upstream[ul - 1] == '/')
		j->upstream[--ul] = '\0';
	uv_timer_init(loop, &j->retry);
	j->retry.data = j;
	j->retry_on = 1;
	if (ms_http_new(&j->http, loop, err)) {
		j->ended = 1;
		j->pending++;
		uv_close((uv_handle_t *)&j->retry, retry_closed);
		return err->code;
	}
	/* the revision is one segment: a ref's '/' too is escaped */
	esc = rev_escape(j->want);
	if (!esc || url_of(j, url, sizeof(url), "/api/models/%s/revision/%s", j->repo, esc) ||
	    ms_http_get_api(j->http, url, API_CAP, j->has_auth ? &j->auth : NULL, &j->hdrs,
			    on_info, j, err)) {
		free(esc);
		if (!err->code)
			ms_error_set(err, MS_EINVAL, "URL too long");
		j->cancelled = 1;
		finish(j, err->code, err->msg);
		return err->code;
	}
	free(esc);
	*out = j;
	return 0;
}

const char *ms_upstream_commit(const struct ms_upstream_job *j)
{
	return *j->repo_dir ? j->sha : NULL;
}

const char *ms_upstream_repo_dir(const struct ms_upstream_job *j)
{
	return *j->repo_dir ? j->repo_dir : NULL;
}

size_t ms_upstream_n_files(const struct ms_upstream_job *j)
{
	return *j->repo_dir ? j->n : 0;
}

void ms_upstream_file(const struct ms_upstream_job *j, size_t i, const char **path,
		      int64_t *size, const char **etag, int *done)
{
	const struct ufile *f = &j->files[i];

	*path = f->path;
	*size = f->size;
	*etag = etag_of(f);
	*done = f->st == U_DONE;
}

long ms_upstream_find(const struct ms_upstream_job *j, const char *etag)
{
	if (!*j->repo_dir)
		return -1;
	for (size_t i = 0; i < j->n; i++)
		if (!strcmp(etag_of(&j->files[i]), etag))
			return (long)i;
	return -1;
}

int ms_upstream_following(const struct ms_upstream_job *j)
{
	return j->relay != NULL;
}

void ms_upstream_progress(const struct ms_upstream_job *j, int64_t *done, int64_t *total)
{
	*done = *total = 0;
	for (size_t i = 0; i < j->n; i++) {
		*total += j->files[i].size;
		*done += j->files[i].st == U_DONE ? j->files[i].size : j->files[i].have;
	}
}

void ms_upstream_cancel(struct ms_upstream_job *j)
{
	if (!j)
		return;
	j->cancelled = 1;
	finish(j, MS_EINTR, "cancelled");
}
