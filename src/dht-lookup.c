/* dht-lookup.c: a release resolved through the DHT (ms_dht_resolve()):
 * the item under the org's pinned key, the rollback state, the bundle
 * from peers, then the checks an index's files go through */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "ms_dht.h"
#include "ms_hash.h"
#include "ms_manifest.h"
#include "ms_torrent.h"
#include "ms_trust.h"

/* the best item is taken this long after the first came (on_item()) */
#define GRACE_MS 1500
/* a lookup is asked again this often until an item comes (one asked
 * before the session's DHT runs is dropped without an answer) */
#define RETRY_MS 2000

struct ms_dht_lookup {
	uv_loop_t *loop;
	struct ms_engine *e;
	struct ms_release *r;
	void (*done)(void *ud, int code, const struct ms_error *err);
	void *ud;
	struct ms_pubkey pk;
	char salt[MS_DHT_SALT_MAX + 1];
	size_t salt_len;
	uv_timer_t *retry, *deadline;
	int watching_dht, watching_id;
	int id;                      /* the bundle torrent, or 0 */
	int finished;
	int gets;                    /* lookups asked */
	int by_rev;                  /* a revision whose bundle is here */
	double last_announce;        /* the bundle's peers asked for again */
	int announce_s;              /* (ms_engine_dht_reannounce()) */
	uv_timer_t *grace;           /* from the first item on */
	struct lts_dht_item best;    /* the highest seq so far (value_len 0:
					none yet) */
	unsigned char best_value[MS_DHT_VALUE_MAX];
	char best_salt[MS_DHT_SALT_MAX + 1];
	struct ms_dht_value v;
	char dir[PATH_MAX];          /* the bundle's */
};

static void free_timer(uv_handle_t *h)
{
	free(h);
}

static void on_dht(void *ud, const struct lts_alert *a);
static void check_bundle(struct ms_dht_lookup *l);
static void on_bundle(void *ud, const struct lts_alert *a);

static void unwatch(struct ms_dht_lookup *l)
{
	if (l->watching_dht)
		ms_engine_dht_unwatch(l->e, on_dht, l);
	if (l->watching_id)
		ms_engine_unwatch(l->e, l->id, on_bundle, l);
	l->watching_dht = l->watching_id = 0;
	if (l->retry)
		uv_timer_stop(l->retry);
	if (l->deadline)
		uv_timer_stop(l->deadline);
	if (l->grace)
		uv_timer_stop(l->grace);
}

static void finish(struct ms_dht_lookup *l, int code, struct ms_error *err)
{
	if (l->finished)
		return;
	l->finished = 1;
	unwatch(l);
	l->done(l->ud, code, err);
}

static void ask(struct ms_dht_lookup *l)
{
	struct ms_error err;

	l->gets++;
	if (ms_engine_dht_get(l->e, l->pk.pk, l->salt, l->salt_len, &err))
		finish(l, err.code, &err);
}

static void retry_cb(uv_timer_t *t)
{
	struct ms_dht_lookup *l = t->data;
	struct lts_status st;

	if (l->watching_id) {
		/* the bundle on its way: no peer yet, the DHT asked again */
		if (!ms_engine_status(l->e, l->id, &st, NULL))
			(void)ms_engine_dht_reannounce(l->e, l->id, st.num_peers,
						       (double)uv_now(l->loop) / 1000,
						       &l->last_announce, &l->announce_s);
		return;
	}
	if (l->by_rev)
		check_bundle(l);
	else
		ask(l);
}

static void deadline_cb(uv_timer_t *t)
{
	struct ms_dht_lookup *l = t->data;
	struct ms_error err;

	if (l->id)
		ms_error_set(&err, MS_ENOTFOUND, "the DHT names release %s@%s, but no peer sent "
			     "its bundle within %d s", l->r->repo, l->v.rev,
			     MS_DHT_TIMEOUT_MS / 1000);
	else
		ms_error_set(&err, MS_ENOTFOUND, "no DHT node has %s@%s signed by the pinned key "
			     "of its org (salt '%s'; %d lookups in %d s)", l->r->repo, l->r->want,
			     l->salt, l->gets, MS_DHT_TIMEOUT_MS / 1000);
	finish(l, MS_ENOTFOUND, &err);
}

static void take(struct ms_release_bytes *b, unsigned char *buf, size_t len)
{
	free(b->buf);
	b->buf = buf;
	b->len = len;
}

/* the bundle's three files, checked as an index's would be */
static void check_bundle(struct ms_dht_lookup *l)
{
	static const char *const names[3] = { "manifest.json", "manifest.json.minisig",
					      "torrent" };
	static const size_t caps[3] = { MS_MANIFEST_MAX, MS_SIGFILE_MAX, MS_TORRENT_MAX };
	struct ms_release *r = l->r;
	struct ms_release_bytes b[3] = { { 0 } };
	char path[PATH_MAX + 32], why[600];
	uint8_t h[32];
	struct ms_error err;
	lts_torrent *t;
	int code = MS_EVERIFY;

	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", l->dir, names[i]);
		if (ms_read_file(path, caps[i], &b[i].buf, &b[i].len, &err)) {
			code = err.code;
			goto fail;
		}
	}
	EVP_Digest(b[0].buf, b[0].len, h, NULL, EVP_sha256(), NULL);
	if (!l->by_rev && memcmp(h, l->v.manifest, 32)) {
		ms_error_set(&err, MS_EVERIFY, "the bundle of %s@%s holds another manifest than "
			     "the DHT item names", r->repo, l->v.rev);
		goto fail;
	}
	memcpy(r->rev, l->v.rev, 41);
	if (ms_release_verify(r->repo, r->rev, b[0].buf, b[0].len, (char *)b[1].buf, b[1].len,
			      time(NULL), 0, &r->v, &err)) {
		err.code = MS_EVERIFY;
		goto fail;
	}
	r->verified = 1;
	take(&r->manifest, b[0].buf, b[0].len);
	take(&r->manifest_sig, b[1].buf, b[1].len);
	take(&r->torrent, b[2].buf, b[2].len);
	memset(b, 0, sizeof(b));
	if (!(t = ms_torrent_load(r->torrent.buf, r->torrent.len, &err))) {
		snprintf(why, sizeof(why), "%s", err.msg);
		ms_error_set(&err, MS_EVERIFY, "the bundle's torrent for %s@%s is not a valid "
			     "torrent: %.400s", r->repo, r->rev, why);
		finish(l, MS_EVERIFY, &err);
		return;
	}
	if (ms_release_bind(r, t, &err)) {
		ms_torrent_free(t);
		snprintf(why, sizeof(why), "%s", err.msg);
		ms_error_set(&err, MS_EVERIFY, "the torrent does not match the signed "
			     "manifest: %.450s", why);
		finish(l, MS_EVERIFY, &err);
		return;
	}
	r->index = MS_DHT_INDEX;
	finish(l, 0, &err);
	return;
fail:
	for (int i = 0; i < 3; i++)
		free(b[i].buf);
	finish(l, code, &err);
}

/* the bundle's metadata: exactly its three files, each within its cap */
static int bundle_meta_ok(struct ms_dht_lookup *l, struct ms_error *err)
{
	static const char *const names[3] = { "manifest.json", "manifest.json.minisig",
					      "torrent" };
	static const int64_t caps[3] = { MS_MANIFEST_MAX, MS_SIGFILE_MAX, MS_TORRENT_MAX };
	struct lts_file_info fi;
	char want[80];
	lts_torrent *t = ms_engine_torrent(l->e, l->id, err);
	int n = 0, ok = 1;

	if (!t)
		return err->code;
	for (int i = 0; !ms_torrent_file(t, i, &fi); i++) {
		if (fi.pad)
			continue;
		snprintf(want, sizeof(want), "%s/%s", l->v.rev, n < 3 ? names[n] : "");
		if (n >= 3 || strcmp(fi.path, want) || fi.size > caps[n] || fi.symlink)
			ok = 0;
		n++;
	}
	ms_torrent_free(t);
	if (!ok || n != 3)
		return ms_error_set(err, MS_EVERIFY, "the bundle the DHT item of %s names is "
				    "not one (not its three files)", l->r->repo);
	return 0;
}

/* the session closed under the lookup: a signal stopped it, or its owner */
static void closed(struct ms_dht_lookup *l)
{
	struct ms_error err;
	int sig = ms_engine_signal(l->e);

	if (sig) {
		l->r->signum = sig;
		finish(l, ms_error_set(&err, MS_EINTR, "interrupted by signal %d", sig), &err);
	} else {
		finish(l, ms_error_set(&err, MS_EIO, "the session closed"), &err);
	}
}

static void on_bundle(void *ud, const struct lts_alert *a)
{
	struct ms_dht_lookup *l = ud;
	struct ms_error err;

	if (!a) {
		l->watching_id = 0;
		closed(l);
		return;
	}
	if (a->type == LTS_ALERT_METADATA_RECEIVED && bundle_meta_ok(l, &err)) {
		ms_engine_remove(l->e, l->id, LTS_REMOVE_FILES, NULL);
		finish(l, MS_EVERIFY, &err);
	} else if (a->type == LTS_ALERT_TORRENT_FINISHED) {
		check_bundle(l);
	}
}

/* the bundle: at hand (made here, or fetched before), else from peers */
static void get_bundle(struct ms_dht_lookup *l)
{
	struct ms_release *r = l->r;
	struct lts_add_params ap;
	struct ms_error err;
	unsigned char *tbuf = NULL;
	size_t tlen = 0;
	char magnet[128], hex[41], parent[PATH_MAX];
	int e;

	memset(&ap, 0, sizeof(ap));
	ms_hex(l->v.bundle, 20, hex);
	if (!ms_dht_bundle_load(r->repo, l->v.rev, &tbuf, &tlen, l->dir, &err)) {
		lts_torrent *t = ms_torrent_load(tbuf, tlen, &err);
		struct ms_torrent_meta tm = { 0 };
		int same = t && !ms_torrent_meta(t, &tm, &err) && !strcmp(tm.hash_v1, hex);
		ms_torrent_meta_release(&tm);
		ms_torrent_free(t);
		if (same) {
			/* seeded from here on, as fetched */
			ap.torrent = tbuf;
			ap.torrent_len = tlen;
			ap.save_path = l->dir;
			ap.flags = LTS_ADD_NO_ROOT | LTS_ADD_SEED_MODE;
			e = ms_engine_add(l->e, &ap, &l->id, &err);
			free(tbuf);
			l->id = 0;
			(void)e; /* seeding it is a bonus: already in, or not */
			check_bundle(l);
			return;
		}
	}
	free(tbuf);
	if (ms_dht_bundle_dir(r->repo, l->v.rev, l->dir, &err)) {
		finish(l, err.code, &err);
		return;
	}
	snprintf(magnet, sizeof(magnet), "magnet:?xt=urn:btih:%s", hex);
	ap.magnet = magnet;
	/* the bundle's name is REV (bundle_meta_ok()): in the directory
	 * above, its files are in place as they are written. Not
	 * LTS_ADD_NO_ROOT: for a magnet that renames the files once the
	 * metadata came, on the disk's own time, and a bundle done in a
	 * moment was read before its files were moved (not there) */
	snprintf(parent, sizeof(parent), "%s", l->dir);
	*(strrchr(parent, '/') ? strrchr(parent, '/') : parent) = '\0';
	ap.save_path = parent;
	if ((e = ms_engine_add(l->e, &ap, &l->id, &err))) {
		finish(l, e, &err);
		return;
	}
	if (ms_engine_watch(l->e, l->id, on_bundle, l)) {
		ms_error_set(&err, MS_ENOMEM, "out of memory");
		finish(l, MS_ENOMEM, &err);
		return;
	}
	l->watching_id = 1;
	uv_timer_start(l->retry, retry_cb, 1000, 1000);
}

static void take_best(struct ms_dht_lookup *l);

static void grace_cb(uv_timer_t *t)
{
	take_best(t->data);
}

/* Every node's answer comes as it comes; the lookup's last answer
 * (authoritative: every node asked answered or timed out) has the highest
 * seq of all, but waits for nodes that left, seconds each. The best item
 * so far is taken at the last answer or GRACE_MS after the first item,
 * whichever comes first: an older one that a slow node alone holds newer
 * is caught by the rollback state, or by the next lookup. */
static void on_item(struct ms_dht_lookup *l, const struct lts_dht_item *it)
{
	if (memcmp(it->key, l->pk.pk, 32) || it->salt_len != l->salt_len ||
	    memcmp(it->salt, l->salt, l->salt_len))
		return; /* another lookup's */
	if (it->value_len && it->value_len <= sizeof(l->best_value) &&
	    (!l->best.value_len || it->seq > l->best.seq)) {
		l->best = *it;
		memcpy(l->best_value, it->value, it->value_len);
		memcpy(l->best_salt, it->salt, it->salt_len);
		l->best.value = l->best_value;
		l->best.salt = l->best_salt;
		if (!uv_is_active((uv_handle_t *)l->grace))
			uv_timer_start(l->grace, grace_cb, GRACE_MS, 0);
	}
	if (it->authoritative && l->best.value_len)
		take_best(l);
	/* else: none yet; the retry timer asks again */
}

static void take_best(struct ms_dht_lookup *l)
{
	const struct lts_dht_item *it = &l->best;
	char sha[65];
	uint8_t h[32];
	struct ms_error err;

	ms_engine_dht_unwatch(l->e, on_dht, l);
	l->watching_dht = 0;
	uv_timer_stop(l->retry);
	uv_timer_stop(l->grace);
	if (ms_dht_value_decode(it->value, it->value_len, &l->v, &err)) {
		finish(l, MS_EVERIFY, &err);
		return;
	}
	if (l->v.version != it->seq) {
		ms_error_set(&err, MS_EVERIFY, "the DHT item of %s@%s has seq %lld but names "
			     "version %lld", l->r->repo, l->r->want, (long long)it->seq,
			     (long long)l->v.version);
		finish(l, MS_EVERIFY, &err);
		return;
	}
	EVP_Digest(it->value, it->value_len, h, NULL, EVP_sha256(), NULL);
	ms_hex(h, 32, sha);
	if (ms_dht_item_check(l->r->repo, l->r->want, it->seq, sha, 0, &err)) {
		err.code = MS_EVERIFY;
		finish(l, MS_EVERIFY, &err);
		return;
	}
	/* kept, for a daemon holding the release to put again */
	(void)ms_dht_item_save(l->r->repo, it, NULL);
	get_bundle(l);
}

static void on_dht(void *ud, const struct lts_alert *a)
{
	struct ms_dht_lookup *l = ud;

	if (!a) {
		l->watching_dht = 0;
		closed(l);
		return;
	}
	if (a->type == LTS_ALERT_DHT_ITEM)
		on_item(l, &a->dht);
}

int ms_dht_resolve(struct ms_dht_lookup **out, uv_loop_t *loop, struct ms_engine *e,
		   struct ms_release *r,
		   void (*done)(void *ud, int code, const struct ms_error *err), void *ud,
		   struct ms_error *err)
{
	struct ms_dht_lookup *l;
	struct ms_pubkey pk;
	char org[128];
	int c;

	*out = NULL;
	if (!e)
		return ms_error_set(err, MS_EINVAL, "'%s': the DHT is off here (no session "
				    "with the DHT on)", MS_DHT_INDEX);
	if ((c = ms_repo_check(r->repo, org, sizeof(org), err)) ||
	    (c = ms_trust_get(org, &pk, err)))
		return c;
	if (!(l = calloc(1, sizeof(*l))) || !(l->retry = malloc(sizeof(*l->retry))) ||
	    !(l->deadline = malloc(sizeof(*l->deadline))) ||
	    !(l->grace = malloc(sizeof(*l->grace)))) {
		if (l) {
			free(l->retry);
			free(l->deadline);
		}
		free(l);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	l->pk = pk;
	l->loop = loop;
	l->e = e;
	l->r = r;
	l->done = done;
	l->ud = ud;
	ms_dht_salt(r->repo, r->want, l->salt, &l->salt_len);
	if (!ms_revision_check(r->want)) {
		/* a revision: only one whose bundle came here before (through
		 * its ref), checked as always */
		unsigned char *tbuf;
		size_t tlen;
		if (ms_dht_bundle_load(r->repo, r->want, &tbuf, &tlen, l->dir, NULL)) {
			free(l->retry);
			free(l->deadline);
			free(l->grace);
			free(l);
			return ms_error_set(err, MS_ENOTFOUND, "the DHT names refs, not revisions: "
					    "ask for %s@REF", r->repo);
		}
		free(tbuf);
		memcpy(l->v.rev, r->want, 41);
		l->by_rev = 1;
	}
	uv_timer_init(loop, l->retry);
	uv_timer_init(loop, l->deadline);
	uv_timer_init(loop, l->grace);
	l->retry->data = l->deadline->data = l->grace->data = l;
	if (!l->by_rev && ms_engine_dht_watch(e, on_dht, l)) {
		ms_dht_lookup_free(l);
		return ms_error_set(err, MS_EINVAL, "the session is closing");
	}
	l->watching_dht = !l->by_rev;
	uv_timer_start(l->deadline, deadline_cb, MS_DHT_TIMEOUT_MS, 0);
	/* never done before this returns: the first lookup on the next turn */
	uv_timer_start(l->retry, retry_cb, 0, RETRY_MS);
	*out = l;
	return 0;
}

void ms_dht_lookup_free(struct ms_dht_lookup *l)
{
	if (!l)
		return;
	l->finished = 1;
	unwatch(l);
	uv_close((uv_handle_t *)l->retry, free_timer);
	uv_close((uv_handle_t *)l->deadline, free_timer);
	uv_close((uv_handle_t *)l->grace, free_timer);
	free(l);
}

/* ---- a release fetched with the DHT when it is needed ------------------ */

int ms_dht_indexes(struct ms_release *r, const struct ms_strlist *given,
		   const struct ms_config *c, int dht, struct ms_error *err)
{
	int e = ms_release_indexes(r, given, c, err);

	if (e == MS_EINVAL && !r->indexes.n && dht)
		e = ms_strlist_push_copy(&r->indexes, MS_DHT_INDEX)
			    ? ms_error_set(err, MS_ENOMEM, "out of memory") : 0;
	return e;
}

struct dht_fetch {
	uv_loop_t *loop;
	const struct ms_engine_opts *eo;
	struct ms_engine *e;         /* the session started for the DHT,
					until it closed */
	int started, signum;
	void (*on_warning)(void *ud, const char *msg);
	void *ud;
};

static void fetch_alert(struct ms_engine *e, const struct lts_alert *a, void *ud)
{
	(void)e;
	(void)a;
	(void)ud;
}

static void fetch_signal(struct ms_engine *e, int signum, void *ud)
{
	struct dht_fetch *f = ud;

	f->signum = signum;
	ms_engine_close(e); /* the lookup ends, interrupted */
}

static void fetch_closed(void *ud)
{
	struct dht_fetch *f = ud;

	f->e = NULL;
}

static void fetch_engine_warning(struct ms_engine *e, const char *msg, void *ud)
{
	struct dht_fetch *f = ud;

	(void)e;
	if (f->on_warning)
		f->on_warning(f->ud, msg);
}

/* r->engine_start: the session, on the DHT's turn only */
static int fetch_engine_start(void *ud, struct ms_release *r, struct ms_error *err)
{
	struct dht_fetch *f = ud;
	struct ms_engine_events ev = { fetch_alert, NULL, fetch_signal, fetch_closed,
				       fetch_engine_warning, f };
	int e;

	if ((e = ms_engine_new(&f->e, f->loop, f->eo, &ev, err)))
		return e;
	r->engine = f->e;
	f->started = 1;
	return 0;
}

int ms_dht_fetch(struct ms_release *r, uv_loop_t *loop, const struct ms_engine_opts *eo,
		 int flags, void (*on_warning)(void *ud, const char *msg), void *ud,
		 struct ms_error *err)
{
	struct dht_fetch f = { loop, eo, NULL, 0, 0, on_warning, ud };
	uv_loop_t own;
	int e;

	if (r->engine || !eo || !eo->dht)
		return loop ? ms_release_fetch_on(r, loop, flags, on_warning, ud, err)
			    : ms_release_fetch(r, flags, on_warning, ud, err);
	if (!loop) {
		if ((e = uv_loop_init(&own)))
			return ms_error_set(err, MS_EIO, "cannot start an event loop: %s",
					    uv_strerror(e));
		f.loop = &own;
	}
	r->engine_start = fetch_engine_start;
	r->engine_ud = &f;
	e = ms_release_fetch_on(r, f.loop, flags, on_warning, ud, err);
	r->engine_start = NULL;
	r->engine_ud = NULL;
	if (f.started)
		r->engine = NULL; /* closed, or closing now */
	if (f.e)
		ms_engine_close(f.e); /* the bundle, fetched, stays in the state */
	if (e && f.signum) {
		e = ms_error_set(err, MS_EINTR, "interrupted by signal %d", f.signum);
		r->signum = f.signum;
	}
	if (f.loop == &own) {
		uv_run(&own, UV_RUN_DEFAULT);
		uv_loop_close(&own);
	} else {
		/* bounded: the session is closing */
		while (f.e && uv_run(f.loop, UV_RUN_ONCE))
			;
	}
	return e;
}
