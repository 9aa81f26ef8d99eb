/* release.c: a signed release, checked once -- ORG/NAME[@REV], the index
 * list, refs.json and the manifest verified against the pinned key, the
 * torrent bound to the manifest -- for get, seed, mirror and the daemon */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ms_dht.h"
#include "ms_hash.h"
#include "ms_http.h"
#include "ms_index.h"
#include "ms_release.h"

void ms_release_init(struct ms_release *r)
{
	memset(r, 0, sizeof(*r));
}

static void bytes_free(struct ms_release_bytes *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = 0;
}

/* what one index left behind, before the next is tried */
static void forget(struct ms_release *r)
{
	bytes_free(&r->refs);
	bytes_free(&r->refs_sig);
	bytes_free(&r->manifest);
	bytes_free(&r->manifest_sig);
	bytes_free(&r->torrent);
	ms_torrent_free(r->meta);
	r->meta = NULL;
	ms_torrent_meta_release(&r->info);
	free(r->tindex);
	free(r->mindex);
	r->tindex = r->mindex = NULL;
	if (r->verified)
		ms_manifest_release(&r->v.m);
	r->verified = 0;
	r->index = NULL;
}

void ms_release_release(struct ms_release *r)
{
	forget(r);
	ms_strlist_release(&r->indexes);
}

int ms_release_spec(struct ms_release *r, const char *spec, const char *default_ref,
		    struct ms_error *err)
{
	const char *at = strchr(spec, '@');
	size_t rl = at ? (size_t)(at - spec) : strlen(spec);
	int e;

	if ((!at && !default_ref) || (at && !at[1]))
		return ms_error_set(err, MS_EINVAL, "need ORG/NAME%s, not '%s'",
				    default_ref ? "[@REV]" : "@REV", spec);
	if (rl >= sizeof(r->repo) || strlen(at ? at + 1 : default_ref) >= sizeof(r->want))
		return ms_error_set(err, MS_EINVAL, "'%s' is too long", spec);
	snprintf(r->repo, sizeof(r->repo), "%.*s", (int)rl, spec);
	snprintf(r->want, sizeof(r->want), "%s", at ? at + 1 : default_ref);
	if ((e = ms_repo_check(r->repo, NULL, 0, err)))
		return e;
	/* 40 hex digits in either case are a revision, as git takes them */
	ms_revision_normalize(r->want);
	if (ms_revision_check(r->want) && (e = ms_ref_check(r->want, err)))
		return e;
	return 0;
}

int ms_release_indexes(struct ms_release *r, const struct ms_strlist *given,
		       const struct ms_config *c, struct ms_error *err)
{
	const char *v = getenv("MODELSWARM_INDEX");
	char *buf, *tok, *save;

	for (size_t i = 0; given && i < given->n; i++)
		if (ms_strlist_push_copy(&r->indexes, given->v[i]))
			return ms_error_set(err, MS_ENOMEM, "out of memory");
	if (!r->indexes.n) {
		if (!(v && *v))
			v = c ? c->index : NULL;
		if (v) {
			if (!(buf = strdup(v)))
				return ms_error_set(err, MS_ENOMEM, "out of memory");
			for (tok = strtok_r(buf, " \t", &save); tok;
			     tok = strtok_r(NULL, " \t", &save))
				if (ms_strlist_push_copy(&r->indexes, tok)) {
					free(buf);
					return ms_error_set(err, MS_ENOMEM, "out of memory");
				}
			free(buf);
		}
	}
	if (!r->indexes.n)
		return ms_error_set(err, MS_EINVAL, "no index: give --index URL, set "
				    "MODELSWARM_INDEX, or put 'index = URL' in the config file");
	return 0;
}

/* ---- the torrent must be the manifest's ------------------------------ */

static int cmp_mf(const void *a, const void *b)
{
	return strcmp(a, ((const struct ms_manifest_file *)b)->path);
}

static int bind_files(struct ms_release *r, const lts_torrent *t,
		      const struct ms_torrent_meta *tm, int *tindex, int *mindex,
		      struct ms_error *err)
{
	const struct ms_manifest *m = &r->v.m;
	const char *name = tm->name;
	size_t nl = strlen(name), seen = 0;
	int n = tm->num_files;

	for (size_t i = 0; i < m->n_files; i++)
		tindex[i] = -1;
	for (int i = 0; i < n; i++) {
		struct lts_file_info fi;
		const char *rel;
		const struct ms_manifest_file *mf;
		size_t k;

		mindex[i] = -1;
		ms_torrent_file(t, i, &fi);
		if (fi.pad)
			continue;
		if (fi.symlink || fi.executable)
			return ms_error_set(err, MS_ETORRENT,
					    "torrent file '%s' has the %s attribute", fi.path,
					    fi.symlink ? "symlink" : "executable");
		rel = fi.path;
		if (!strncmp(rel, name, nl) && rel[nl] == '/')
			rel += nl + 1;
		mf = bsearch(rel, m->files, m->n_files, sizeof(*m->files), cmp_mf);
		if (!mf)
			return ms_error_set(err, MS_ETORRENT,
					    "torrent has a file '%s' that the manifest does not list",
					    rel);
		k = (size_t)(mf - m->files);
		if (tindex[k] >= 0)
			return ms_error_set(err, MS_ETORRENT, "torrent lists '%s' twice", rel);
		if (fi.size != mf->size)
			return ms_error_set(err, MS_ETORRENT,
					    "torrent says '%s' has %" PRId64 " bytes, the manifest %" PRId64,
					    rel, fi.size, mf->size);
		if (*mf->pieces_root || fi.has_root) {
			char hex[65];
			ms_hex(fi.root, 32, hex);
			if (!fi.has_root || strcmp(hex, mf->pieces_root))
				return ms_error_set(err, MS_ETORRENT,
						    "torrent's pieces root of '%s' is not the manifest's",
						    rel);
		}
		tindex[k] = i;
		mindex[i] = (int)k;
		seen++;
	}
	for (size_t i = 0; seen != m->n_files && i < m->n_files; i++)
		if (tindex[i] < 0)
			return ms_error_set(err, MS_ETORRENT, "torrent is missing '%s'",
					    m->files[i].path);
	return 0;
}

/* t against the manifest, by its snapshot tm */
static int bind_check(const struct ms_release *r, const struct ms_torrent_meta *tm,
		      struct ms_error *err)
{
	const struct ms_manifest *m = &r->v.m;
	const char *h1 = tm->hash_v1, *h2 = tm->hash_v2;

	if (*m->infohash_v1 && strcmp(m->infohash_v1, h1))
		return ms_error_set(err, MS_ETORRENT,
				    "torrent's v1 info-hash %s is not the manifest's %s",
				    *h1 ? h1 : "(none)", m->infohash_v1);
	if (*m->infohash_v2 && strcmp(m->infohash_v2, h2))
		return ms_error_set(err, MS_ETORRENT,
				    "torrent's v2 info-hash %s is not the manifest's %s",
				    *h2 ? h2 : "(none)", m->infohash_v2);
	if (tm->piece_length != m->piece_length)
		return ms_error_set(err, MS_ETORRENT, "torrent's piece length %d is not the "
				    "manifest's %" PRId64, tm->piece_length,
				    m->piece_length);
	return 0;
}

int ms_release_bind(struct ms_release *r, lts_torrent *t, struct ms_error *err)
{
	const struct ms_manifest *m = &r->v.m;
	struct ms_torrent_meta tm;
	int *tindex = NULL, *mindex = NULL, e;

	if (!r->verified || !t)
		return ms_error_set(err, MS_EINVAL, "no verified manifest to bind the torrent to");
	if ((e = ms_torrent_meta(t, &tm, err)))
		return e;
	if ((e = bind_check(r, &tm, err)))
		goto fail;
	tindex = calloc(m->n_files + 1, sizeof(*tindex));
	mindex = calloc((size_t)tm.num_files + 1, sizeof(*mindex));
	if (!tindex || !mindex) {
		e = ms_error_set(err, MS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((e = bind_files(r, t, &tm, tindex, mindex, err)))
		goto fail;
	if (r->meta != t)
		ms_torrent_free(r->meta);
	ms_torrent_meta_release(&r->info);
	free(r->tindex);
	free(r->mindex);
	r->meta = t;
	r->info = tm;
	r->tindex = tindex;
	r->mindex = mindex;
	return 0;
fail:
	ms_torrent_meta_release(&tm);
	free(tindex);
	free(mindex);
	return e;
}

const struct ms_manifest_file *ms_release_file(const struct ms_release *r, int i)
{
	if (!r->mindex || i < 0 || i >= r->info.num_files || r->mindex[i] < 0)
		return NULL;
	return &r->v.m.files[r->mindex[i]];
}

int ms_release_sig_check(const char *url, const unsigned char *sig, size_t len,
			 struct ms_error *err)
{
	uint8_t keynum[MS_KEYNUM_BYTES];
	struct ms_error e;
	size_t i = 0;

	if (!ms_sig_keynum((const char *)sig, len, keynum, &e))
		return 0;
	while (i < len && (sig[i] == ' ' || sig[i] == '\t' || sig[i] == '\r' || sig[i] == '\n'))
		i++;
	if (!len)
		snprintf(e.msg, sizeof(e.msg), "got an empty file");
	else if (i < len && sig[i] == '<')
		snprintf(e.msg, sizeof(e.msg), "got an HTML page");
	return ms_error_set(err, MS_EVERIFY, "'%.400s' is not a minisign signature (%.200s)",
			    url ? url : "?", e.msg);
}

int ms_release_refs_check(const char *repo, const char *ref, const unsigned char *refs,
			  size_t len, const unsigned char *sig, size_t sig_len,
			  const char *sig_url, char *rev, struct ms_error *err)
{
	struct ms_refs rf;
	const struct ms_ref *f;

	if (ms_release_sig_check(sig_url, sig, sig_len, err))
		return MS_EVERIFY;
	if (ms_refs_verify(repo, refs, len, (const char *)sig, sig_len, time(NULL), 0, &rf, err)) {
		if (err->code != MS_EMISMATCH)
			err->code = MS_EVERIFY;
		return err->code;
	}
	if (ref && !(f = ms_refs_find(&rf, ref))) {
		ms_refs_release(&rf);
		return ms_error_set(err, MS_ENOTFOUND, "%s has no ref '%s'", repo, ref);
	}
	if (ref && rev)
		memcpy(rev, f->revision, 41);
	ms_refs_release(&rf);
	return 0;
}

/* ---- resolving, index by index --------------------------------------- */

/* a file and its signature, fetched side by side */
struct part {
	struct ms_release_resolver *q;
	unsigned char *body;
	size_t len;
	int status;
	char msg[600];
};

struct ms_release_resolver {
	uv_loop_t *loop;
	struct ms_http *http;
	struct ms_release *r;
	struct ms_release_hooks h;
	int flags;                 /* MS_RELEASE_* */
	size_t idx;                /* the index being tried */
	struct part file, sig;
	int got;                   /* parts back */
	void (*step)(struct ms_release_resolver *q);
	char rel[600];             /* the file being fetched, for a second read */
	size_t cap, sig_cap;
	int torn;                  /* that pair did not match: 1 read again,
				      2 then with the staged signature */
	struct ms_error torn_err;  /* why, the second time */
	uv_timer_t *timer;         /* the moment before the second read */
	int done;
	int starting;              /* in ms_release_resolve(): an end now is
				      its return value, not a hook */
	int start_code;
	struct ms_error start_err;
	struct ms_error last;      /* why the last index failed */
	struct ms_error pending;   /* an index that is preparing it (503) */
	struct ms_dht_lookup *dht; /* the DHT's turn (ms_dht.h) */
	int dht_tried;
};

static void next_index(struct ms_release_resolver *q);

static void finish(struct ms_release_resolver *q, int code, struct ms_error *err)
{
	if (q->done)
		return;
	q->done = 1;
	if (q->http) {
		ms_http_close(q->http);
		q->http = NULL;
	}
	if (q->starting) {
		q->start_code = code ? code : MS_EIO;
		q->start_err = *err;
		return;
	}
	if (q->h.on_done)
		q->h.on_done(q->h.ud, q->r, code, err);
}

static void warn(struct ms_release_resolver *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warn(struct ms_release_resolver *q, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;

	if (!q->h.on_warning)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	q->h.on_warning(q->h.ud, buf);
}

static void part_free(struct part *t)
{
	free(t->body);
	t->body = NULL;
	t->len = 0;
	t->status = 0;
	t->msg[0] = '\0';
}

static void on_part(void *ud, int status, unsigned char *body, size_t len, const char *msg)
{
	struct part *t = ud;
	struct ms_release_resolver *q = t->q;

	t->status = status;
	t->body = body;
	t->len = len;
	snprintf(t->msg, sizeof(t->msg), "%s", msg ? msg : "");
	if (++q->got == 2)
		q->step(q);
}

static const char *index_url(const struct ms_release_resolver *q)
{
	return q->r->indexes.v[q->idx];
}

/* fetch REL and, unless sig_cap is 0, REL.minisig, then step() (never
 * before this returns: a local file is answered on the next turn) */
static void fetch(struct ms_release_resolver *q, const char *rel, size_t cap, size_t sig_cap,
		  void (*step)(struct ms_release_resolver *q))
{
	char sigrel[620];
	struct ms_error err;

	part_free(&q->file);
	part_free(&q->sig);
	q->got = sig_cap ? 0 : 1;
	q->step = step;
	if (rel != q->rel)
		snprintf(q->rel, sizeof(q->rel), "%s", rel);
	q->cap = cap;
	q->sig_cap = sig_cap;
	q->torn = 0;
	snprintf(sigrel, sizeof(sigrel), "%s.minisig", rel);
	if (ms_http_get(q->http, index_url(q), rel, cap, on_part, &q->file, &err) ||
	    (sig_cap && ms_http_get(q->http, index_url(q), sigrel, sig_cap, on_part, &q->sig,
				    &err)))
		finish(q, err.code, &err);
}

/* a part that could not be fetched: the next index (network trouble or
 * a missing file) */
static int fetch_failed(struct ms_release_resolver *q)
{
	struct part *t = q->file.status ? &q->file : q->sig.status ? &q->sig : NULL;

	if (!t)
		return 0;
	ms_error_set(&q->last, t->status, "%s", t->msg);
	if (t->status == MS_EAGAIN)
		q->pending = q->last;
	if (q->r->indexes.n > 1)
		warn(q, "index '%s': %s", index_url(q), q->last.msg);
	q->idx++;
	next_index(q);
	return 1;
}

/* ---- a torn pair: a file and a signature that do not match ------------ */

/* A publish replaces FILE before FILE.minisig (ms_index.h): a reader may
 * catch the one new and the other old, or find them so after a publish
 * died between the two. The pair is read again after a moment, once;
 * still torn, the signature such a publish staged (FILE.minisig.new) is
 * tried with the file. Whatever verifies is checked as always (the key,
 * the binding, the rollback state), so this lets nothing else in. */

static void read_again(uv_timer_t *t)
{
	struct ms_release_resolver *q = t->data;

	fetch(q, q->rel, q->cap, q->sig_cap, q->step);
	q->torn = 1; /* fetch() answers on a later turn */
}

static void read_staged(struct ms_release_resolver *q)
{
	char rel[620];
	struct ms_error err;

	part_free(&q->sig);
	q->got = 1; /* the file of the second read stays */
	q->torn = 2;
	snprintf(rel, sizeof(rel), "%s%s", q->rel, MS_INDEX_STAGED);
	if (ms_http_get(q->http, index_url(q), rel, MS_SIGFILE_MAX, on_part, &q->sig, &err))
		finish(q, err.code, &err);
}

static void free_timer(uv_handle_t *h)
{
	free(h);
}

/* err is the check of the pair just read: 1 if it is read again (the
 * step runs again), else 0 with err saying what was tried when torn */
static int torn(struct ms_release_resolver *q, struct ms_error *err)
{
	char why[sizeof(err->msg)];

	if (q->torn == 2)
		*err = q->torn_err; /* the staged signature did not help either */
	else if (err->code != MS_EMISMATCH)
		return 0;
	if (q->torn == 0) {
		if (!q->timer && (q->timer = malloc(sizeof(*q->timer)))) {
			uv_timer_init(q->loop, q->timer);
			q->timer->data = q;
		}
		if (q->timer) {
			warn(q, "%s: reading it again in %d ms (a publish may be replacing it)",
			     err->msg, MS_INDEX_TORN_DELAY_MS);
			uv_timer_start(q->timer, read_again, MS_INDEX_TORN_DELAY_MS, 0);
			return 1;
		}
	} else if (q->torn == 1) {
		q->torn_err = *err;
		read_staged(q);
		return 1;
	}
	snprintf(why, sizeof(why), "%s", err->msg);
	ms_error_set(err, MS_EMISMATCH, "%.800s (read twice, %d ms apart, and with its "
		     "staged signature '%s%s' if any)", why, MS_INDEX_TORN_DELAY_MS, q->rel,
		     MS_INDEX_STAGED);
	return 0;
}

static void take(struct ms_release_bytes *b, struct part *t)
{
	b->buf = t->body;
	b->len = t->len;
	t->body = NULL;
}

static void on_torrent(struct ms_release_resolver *q)
{
	struct ms_release *r = q->r;
	struct ms_error err;
	lts_torrent *t;

	if (q->file.status == MS_ENOENT && q->idx + 1 >= r->indexes.n) {
		/* no index has a torrent: the metadata comes from peers, by
		 * the signed info-hashes */
		r->index = index_url(q);
		ms_error_set(&err, MS_ENOTFOUND, "%s", q->file.msg);
		finish(q, 0, &err);
		return;
	}
	if (fetch_failed(q))
		return;
	take(&r->torrent, &q->file);
	if (!(t = ms_torrent_load(r->torrent.buf, r->torrent.len, &err))) {
		ms_error_set(&err, MS_EVERIFY, "the index's torrent for %s@%s is not a valid "
			     "torrent: %.400s", r->repo, r->rev, err.msg);
		finish(q, MS_EVERIFY, &err);
		return;
	}
	if (ms_release_bind(r, t, &err)) {
		char why[sizeof(err.msg)];
		ms_torrent_free(t);
		snprintf(why, sizeof(why), "%s", err.msg);
		ms_error_set(&err, MS_EVERIFY, "the torrent does not match the signed "
			     "manifest: %.450s", why);
		finish(q, MS_EVERIFY, &err);
		return;
	}
	r->index = index_url(q);
	finish(q, 0, &err);
}

static void fetch_torrent(struct ms_release_resolver *q)
{
	char rel[600];

	snprintf(rel, sizeof(rel), "%s/%s.torrent", q->r->repo, q->r->rev);
	fetch(q, rel, MS_TORRENT_MAX, 0, on_torrent);
}

static void on_manifest(struct ms_release_resolver *q)
{
	struct ms_release *r = q->r;
	struct ms_error err;

	if (q->torn < 2 && fetch_failed(q))
		return;
	if (q->sig.status ||
	    ms_release_sig_check(q->sig.msg, q->sig.body, q->sig.len, &err) ||
	    ms_release_verify(r->repo, r->rev, q->file.body, q->file.len, (char *)q->sig.body,
			      q->sig.len, time(NULL), 0, &r->v, &err)) {
		if (torn(q, &err))
			return;
		err.code = MS_EVERIFY;
		finish(q, MS_EVERIFY, &err);
		return;
	}
	take(&r->manifest, &q->file);
	take(&r->manifest_sig, &q->sig);
	r->verified = 1;
	if (q->h.on_verified)
		q->h.on_verified(q->h.ud, r);
	if (q->done)
		return;
	if (q->flags & MS_RELEASE_NO_TORRENT) {
		r->index = index_url(q);
		ms_error_set(&err, MS_ENOTFOUND, "no torrent asked for");
		finish(q, 0, &err);
		return;
	}
	fetch_torrent(q);
}

static void fetch_manifest(struct ms_release_resolver *q)
{
	char rel[600];

	snprintf(rel, sizeof(rel), "%s/%s.manifest.json", q->r->repo, q->r->rev);
	fetch(q, rel, MS_MANIFEST_MAX, MS_SIGFILE_MAX, on_manifest);
}

/* refs.json: to resolve a ref (it must verify), or with WANT_REFS to keep
 * it next to a commit's release (left out if the index has none, or with
 * a warning if it does not verify) */
static void on_refs(struct ms_release_resolver *q)
{
	struct ms_release *r = q->r;
	int is_ref = ms_revision_check(r->want) != 0;
	struct ms_error err;

	if (q->torn < 2 && !is_ref &&
	    (q->file.status == MS_ENOENT || q->sig.status == MS_ENOENT)) {
		fetch_manifest(q);
		return;
	}
	if (q->torn < 2 && fetch_failed(q))
		return;
	if (q->sig.status ||
	    ms_release_refs_check(r->repo, is_ref ? r->want : NULL, q->file.body, q->file.len,
				  q->sig.body, q->sig.len, q->sig.msg, is_ref ? r->rev : NULL,
				  &err)) {
		if (torn(q, &err))
			return;
		if (is_ref) {
			/* a signed refs.json without the ref: not found */
			finish(q, err.code == MS_ENOTFOUND ? MS_ENOTFOUND : MS_EVERIFY, &err);
			return;
		}
		warn(q, "leaving out the refs.json of %s: %s", r->repo, err.msg);
		fetch_manifest(q);
		return;
	}
	take(&r->refs, &q->file);
	take(&r->refs_sig, &q->sig);
	fetch_manifest(q);
}

static void on_dht(void *ud, int code, const struct ms_error *err)
{
	struct ms_release_resolver *q = ud;

	if (code && code != MS_EINTR && q->idx + 1 < q->r->indexes.n) {
		warn(q, "index '%s': %s", MS_DHT_INDEX, err->msg);
		q->last = *err;
		q->idx++;
		next_index(q);
		return;
	}
	finish(q, code, (struct ms_error *)err);
}

static void next_index(struct ms_release_resolver *q)
{
	struct ms_release *r = q->r;
	int is_ref = ms_revision_check(r->want) != 0;
	char rel[600];
	struct ms_error err;

	/* the DHT: when named, or when every index failed (ms_dht.h) */
	if (q->idx < r->indexes.n ? !strcmp(index_url(q), MS_DHT_INDEX)
				  : (r->engine || r->engine_start) && is_ref && !r->verified &&
				    !q->dht_tried && !q->pending.code) {
		q->dht_tried = 1;
		if (q->idx >= r->indexes.n)
			warn(q, "no index has %s@%s (%.300s): asking the DHT", r->repo, r->want,
			     q->last.msg);
		forget(r);
		if ((!r->engine && r->engine_start && r->engine_start(r->engine_ud, r, &err)) ||
		    ms_dht_resolve(&q->dht, q->loop, r->engine, r, on_dht, q, &err))
			on_dht(q, err.code, &err);
		return;
	}
	if (q->idx >= r->indexes.n) {
		/* a missing file is "not found"; a network or disk error an
		 * error */
		int code = q->last.code == MS_ENOENT || q->last.code == MS_ETOOBIG ? MS_ENOTFOUND
										     : MS_EIO;
		struct ms_error err;
		if (q->pending.code && code == MS_ENOTFOUND) {
			/* none has it, one is getting it ready (a daemon
			 * bridging it): not "not found", but "later" */
			ms_error_set(&err, MS_EAGAIN, "%s", q->pending.msg);
			finish(q, MS_EAGAIN, &err);
			return;
		}
		if (r->indexes.n > 1)
			ms_error_set(&err, code, "cannot resolve %s@%s from any index: %.400s",
				     r->repo, r->want, q->last.msg);
		else
			ms_error_set(&err, code, "%s", q->last.msg);
		finish(q, code, &err);
		return;
	}
	if (r->verified) {
		/* the manifest is verified; only the torrent is missing */
		fetch_torrent(q);
		return;
	}
	forget(r);
	if (!is_ref)
		memcpy(r->rev, r->want, 41);
	if (!is_ref && !(q->flags & MS_RELEASE_WANT_REFS)) {
		fetch_manifest(q);
		return;
	}
	snprintf(rel, sizeof(rel), "%s/refs.json", r->repo);
	fetch(q, rel, MS_REFS_MAX, MS_SIGFILE_MAX, on_refs);
}

int ms_release_resolve(struct ms_release_resolver **out, uv_loop_t *loop,
		       struct ms_release *r, int flags, const struct ms_release_hooks *h,
		       struct ms_error *err)
{
	struct ms_release_resolver *q;
	int e;

	*out = NULL;
	if (!r->indexes.n)
		return ms_error_set(err, MS_EINVAL, "no index to resolve %s from", r->repo);
	if (!(q = calloc(1, sizeof(*q))))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	if ((e = ms_http_new(&q->http, loop, err))) {
		free(q);
		return e;
	}
	q->loop = loop;
	q->r = r;
	q->h = *h;
	q->flags = flags;
	q->file.q = q->sig.q = q;
	/* an end before this returns (a request that could not even start)
	 * is this call's error: a call that fails runs no hook */
	q->starting = 1;
	next_index(q);
	q->starting = 0;
	if (q->done) {
		e = q->start_code;
		if (err)
			*err = q->start_err;
		ms_release_resolver_free(q);
		return e;
	}
	*out = q;
	return 0;
}

void ms_release_resolver_free(struct ms_release_resolver *q)
{
	if (!q)
		return;
	q->done = 1;
	ms_dht_lookup_free(q->dht);
	if (q->http)
		ms_http_close(q->http); /* no callbacks any more */
	if (q->timer)
		uv_close((uv_handle_t *)q->timer, free_timer);
	part_free(&q->file);
	part_free(&q->sig);
	free(q);
}

/* ---- blocking, for commands without a loop --------------------------- */

struct fetch_wait {
	int code;
	int done;
	int flags;
	struct ms_error *err;
	void (*on_warning)(void *ud, const char *msg);
	void *ud;
};

static void fetch_warning(void *ud, const char *msg)
{
	struct fetch_wait *w = ud;

	if (w->on_warning)
		w->on_warning(w->ud, msg);
}

static void fetch_done(void *ud, struct ms_release *r, int code, const struct ms_error *err)
{
	struct fetch_wait *w = ud;

	w->done = 1;
	w->code = code;
	if (code)
		*w->err = *err;
	else if (!r->meta && !(w->flags & MS_RELEASE_NO_TORRENT)) /* required then */
		w->code = ms_error_set(w->err, MS_ENOTFOUND, "%s", err->msg);
}

int ms_release_fetch_on(struct ms_release *r, uv_loop_t *loop, int flags,
			void (*on_warning)(void *ud, const char *msg), void *ud,
			struct ms_error *err)
{
	struct ms_release_resolver *q;
	struct fetch_wait w = { MS_EIO, 0, flags, err, on_warning, ud };
	struct ms_release_hooks h = { fetch_warning, NULL, fetch_done, &w };
	int e;

	if ((e = ms_release_resolve(&q, loop, r, flags, &h, err)))
		return e;
	/* bounded by the resolver: every path ends in on_done */
	while (!w.done && uv_run(loop, UV_RUN_ONCE))
		;
	ms_release_resolver_free(q);
	if (!w.done)
		return ms_error_set(err, MS_EIO, "internal error: the loop ended before %s@%s "
				    "was resolved", r->repo, r->want);
	return w.code;
}

int ms_release_fetch(struct ms_release *r, int flags,
		     void (*on_warning)(void *ud, const char *msg), void *ud,
		     struct ms_error *err)
{
	uv_loop_t loop;
	int e;

	if ((e = uv_loop_init(&loop)))
		return ms_error_set(err, MS_EIO, "cannot start an event loop: %s",
				    uv_strerror(e));
	e = ms_release_fetch_on(r, &loop, flags, on_warning, ud, err);
	uv_run(&loop, UV_RUN_DEFAULT); /* the client's close callbacks */
	uv_loop_close(&loop);
	return e;
}
