/* seedbox.c: the daemon's repos -- download (a getjob each), then seed
 * from the cache; kept on disk so that a restart seeds again at once,
 * without hashing; rate, ratio, time and disk budgets; dormancy. The
 * subscriptions are in seedbox-subs.c, the RPC methods' bodies in
 * seedbox-rpc.c. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ms_hash.h"
#include "ms_http.h"
#include "ms_manifest.h"
#include "ms_metrics.h"
#include "ms_store.h"
#include "ms_trust.h"
#include "ms_release.h"
#include "seedbox-int.h"

#define STATS_EVERY_S 5
#define RESUME_EVERY_S 300
/* a repo a request added and no index had is forgotten after this long */
#define FORGET_MISSING_S 120


/* an idle repo loaded to announce stays this long without a peer */
#define ANNOUNCE_WAKE_S 15
/* at most this many loaded at once only to announce */
#define ANNOUNCE_WAKES_MAX 8

static void trim_memory(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}


/* the status of every repo in the session, in one call (one per repo
 * stalls the loop with a thousand repos): *st and *have (1 when repo k has
 * a status) indexed in list order, *n repos; the caller frees both */
int ms__repos_status(struct ms_seedbox *sb, struct lts_status **st, int **have, size_t *n)
{
	size_t k = 0;
	int *ids;

	*n = 0;
	for (struct repo *r = sb->repos; r; r = r->next)
		(*n)++;
	*st = calloc(*n + 1, sizeof(**st));
	*have = calloc(*n + 1, sizeof(**have));
	ids = calloc(*n + 1, sizeof(*ids));
	if (!*st || !*have || !ids) {
		free(*st);
		free(*have);
		free(ids);
		*st = NULL;
		*have = NULL;
		return MS_ENOMEM;
	}
	for (struct repo *r = sb->repos; r; r = r->next)
		ids[k++] = r->tid ? r->tid : -1;
	if (ms_engine_status_many(sb->eng, ids, *st, *have, (int)*n, NULL) < 0)
		memset(*have, 0, (*n + 1) * sizeof(**have));
	free(ids);
	return 0;
}




/* ---- the session -------------------------------------------------------- */


static void apply_limits(struct ms_seedbox *sb, struct repo *r)
{
	if (r->tid && (r->up_limit || r->down_limit))
		ms_engine_set_limits(sb->eng, r->tid, r->up_limit, r->down_limit, NULL);
}

/* the repo's directory in its cache: kept in the record, so that the store
 * (and its mkdirs) is opened once, not at every restart or listing */
const char *ms__repo_dir(struct repo *r, struct ms_error *err)
{
	struct ms_store st;

	if (r->repo_dir)
		return r->repo_dir;
	memset(&st, 0, sizeof(st));
	st.lock_fd = -1;
	if (ms_store_open(&st, r->cache, r->repo, err))
		return NULL;
	r->repo_dir = ms_keep_strdup(st.repo_dir);
	ms_store_release(&st);
	if (!r->repo_dir)
		ms_error_set(err, MS_ENOMEM, "out of memory");
	return r->repo_dir;
}

/* whether r, with n_trackers in its torrent, has anywhere to announce to */
static int can_announce(const struct ms_seedbox *sb, const struct repo *r, int n_trackers)
{
	return n_trackers > 0 || r->trackers.n > 0 || sb->peer_discovery;
}

/* a seeding repo into the session: its torrent and resume data from the
 * state directory, its files where they were (no index, no hashing) */
static int seed_add(struct ms_seedbox *sb, struct repo *r, struct ms_error *err)
{
	char tpath[PATH_MAX + 64], rpath[PATH_MAX + 64];
	const char *dir;
	unsigned char *torrent = NULL, *resume = NULL;
	size_t tlen = 0, rlen = 0;
	struct lts_add_params ap;
	lts_torrent *meta;
	struct ms_torrent_meta tm;
	int rc, id = 0;

	ms__file_path(sb, r->id, "torrent", tpath, sizeof(tpath));
	ms__file_path(sb, r->id, "resume", rpath, sizeof(rpath));
	if ((rc = ms_read_file(tpath, MS_TORRENT_MAX, &torrent, &tlen, err)))
		goto out;
	if (!(dir = ms__repo_dir(r, err))) {
		rc = err->code;
		goto out;
	}
	if (!(meta = ms_torrent_load(torrent, tlen, err))) {
		rc = err->code;
		goto out;
	}
	rc = ms_torrent_meta(meta, &tm, err);
	ms_torrent_free(meta);
	if (rc)
		goto out;
	rc = tm.num_files != r->n_files;
	r->can_announce = can_announce(sb, r, tm.n_trackers);
	ms_torrent_meta_release(&tm);
	if (rc) {
		rc = ms_error_set(err, MS_EINVAL, "its saved state does not match its torrent");
		goto out;
	}
	if (access(rpath, F_OK) == 0)
		ms_read_file(rpath, 256u << 20, &resume, &rlen, NULL);
	memset(&ap, 0, sizeof(ap));
	ap.torrent = torrent;
	ap.torrent_len = tlen;
	ap.resume = resume;
	ap.resume_len = rlen;
	ap.save_path = dir;
	ap.file_paths = (const char *const *)r->paths;
	ap.n_file_paths = (size_t)r->n_files;
	ap.trackers = r->trackers.v;
	ap.n_trackers = r->trackers.n;
	if (r->paused || r->limited)
		ap.flags |= LTS_ADD_PAUSED;
	r->up_base = r->uploaded;
	r->busy_at = ms__now_s(sb);
	rc = ms_engine_add(sb->eng, &ap, &id, err);
	if (rc && resume) {
		ap.resume = NULL;
		ap.resume_len = 0;
		rc = ms_engine_add(sb->eng, &ap, &id, err);
	}
	if (!rc)
		ms__set_tid(r, id);
	if (!rc)
		rc = ms_engine_set_file_priorities(sb->eng, r->tid, r->prio, r->n_files, err);
	apply_limits(sb, r);
out:
	free(torrent);
	free(resume);
	return rc;
}

/* ---- idle repos out of the session ----------------------------------------- */

/* An idle seeding repo (no peer for idle-unload seconds) leaves the
 * session: its resume data is saved, it is removed without telling its
 * trackers "stopped", and it is left with the engine as a dormant entry, so
 * that a peer's handshake loads it again. A dormant repo is loaded for a
 * moment every idle-announce seconds to announce itself (if it has a
 * tracker, or DHT or LSD is on). A thousand seeding repos thus cost
 * libtorrent only the ones in use. */

static double idle_unload_s(const struct ms_seedbox *sb)
{
	int64_t v = sb->config->idle_unload_s;

	return v < 0 ? 60 : (double)v;
}

static int idle_loaded(const struct ms_seedbox *sb)
{
	int64_t v = sb->config->idle_loaded;

	return v < 0 ? 16 : v > INT_MAX ? INT_MAX : (int)v;
}

static double idle_announce_s(const struct ms_seedbox *sb)
{
	int64_t v = sb->config->idle_announce_s;

	return v > 0 ? (double)v : 1800;
}

/* the next announce of an unloaded repo: an interval from now, +-10% so
 * that repos unloaded together do not announce together */
static void schedule_announce(struct ms_seedbox *sb, struct repo *r, double now)
{
	double j = 0.9 + 0.2 * (double)(rand() % 1000) / 1000.0;

	r->next_announce = now + idle_announce_s(sb) * j;
}

/* r is out of the session: leave it with the engine for peers to wake,
 * unless it must not seed (paused, stopped by a limit); if the engine will
 * not take it, back into the session */
void ms__make_dormant(struct ms_seedbox *sb, struct repo *r)
{
	char tpath[PATH_MAX + 64], rpath[PATH_MAX + 64], l[400];
	struct ms_error err;
	int nt = 0;

	ms__set_tid(r, 0);
	r->unloaded = 1;
	r->rate_up = r->rate_down = r->peers_n = 0;
	if (r->paused || r->limited || r->dormant)
		return;
	ms__file_path(sb, r->id, "torrent", tpath, sizeof(tpath));
	ms__file_path(sb, r->id, "resume", rpath, sizeof(rpath));
	if (!r->cookie)
		r->cookie = ++sb->next_cookie;
	if (!ms_engine_dormant_add(sb->eng, tpath, rpath, r->cookie, &nt, &err)) {
		r->dormant = 1;
		r->can_announce = can_announce(sb, r, nt);
		return;
	}
	ms__log(sb, "%s: cannot leave it idle (%s): seeding it loaded",
	      ms__label(r, l, sizeof(l)), err.msg);
	r->unloaded = 0;
	if (seed_add(sb, r, &err)) {
		ms__log(sb, "%s: cannot seed: %s", ms__label(r, l, sizeof(l)), err.msg);
		ms__repo_error(r, "%s", err.msg);
	}
}

/* an unloaded repo back into the session; 0 when it is (or, taken by a
 * peer meanwhile, is on its way: its woken alert follows) */
static int load(struct ms_seedbox *sb, struct repo *r, struct ms_error *err)
{
	if (r->dormant) {
		if (ms_engine_dormant_remove(sb->eng, r->cookie, NULL))
			return 0; /* a peer is waking it */
		r->dormant = 0;
	}
	r->unloaded = 0;
	r->announce_wake = 0;
	return seed_add(sb, r, err); /* (which sets busy_at) */
}

/* out of the engine's hands for good (paused, stopped, removed); 0, or
 * MS_EAGAIN when a peer is waking it (the woken alert then finds it
 * paused, stopped or gone) */
int ms__undormant(struct ms_seedbox *sb, struct repo *r)
{
	if (!r->dormant)
		return 0;
	if (ms_engine_dormant_remove(sb->eng, r->cookie, NULL))
		return MS_EAGAIN;
	r->dormant = 0;
	return 0;
}

/* a peer loaded dormant repo r (torrent a->torrent, 0 if that failed) */
static void woken(struct ms_seedbox *sb, const struct lts_alert *a)
{
	struct repo *r;
	struct ms_error err;
	char l[400];

	for (r = sb->repos; r && !(r->dormant && r->cookie == a->value); r = r->next)
		;
	if (!r || !r->unloaded) {
		/* removed meanwhile */
		if (a->torrent)
			ms_engine_remove(sb->eng, a->torrent, LTS_REMOVE_QUIET, NULL);
		return;
	}
	r->dormant = 0;
	r->unloaded = 0;
	r->announce_wake = 0;
	r->busy_at = ms__now_s(sb);
	if (!a->torrent) {
		ms__log(sb, "%s: cannot load it for a peer (%s): loading it again",
		      ms__label(r, l, sizeof(l)), a->message);
		if (seed_add(sb, r, &err)) {
			ms__log(sb, "%s: cannot seed: %s", ms__label(r, l, sizeof(l)), err.msg);
			ms__repo_error(r, "%s", err.msg);
		}
		return;
	}
	ms__set_tid(r, a->torrent);
	r->up_base = r->uploaded;
	apply_limits(sb, r);
	if (r->paused || r->limited)
		ms_engine_pause(sb->eng, r->tid, 1, NULL);
}

/* the resume data of a repo going idle is saved: out of the session (it
 * becomes dormant once the session says it is out) */
static void unload(struct ms_seedbox *sb, struct repo *r)
{
	ms__save_record(sb, r);
	if (ms_engine_remove(sb->eng, r->tid, LTS_REMOVE_QUIET, NULL)) {
		r->sleeping = 0;
		return;
	}
	r->sleeping = 2;
	schedule_announce(sb, r, ms__now_s(sb));
}

/* r is seeding, loaded, without a peer, and not on its way out */
static int idle_loaded_repo(const struct repo *r)
{
	return r->st == R_SEEDING && !r->restoring && !r->job && r->tid &&
	       !r->sleeping && r->peers_n == 0;
}

/* More than idle-loaded idle repos in the session (a thousand added at
 * once, say): the ones idle longest go now, each once it has had its
 * moment to announce (if it has anywhere to announce). Torrents loaded by
 * the hundred leave the heap in holes after they go; a cap keeps the
 * daemon's memory to the repos in use. */
static void idle_cap(struct ms_seedbox *sb, double now)
{
	int over = -idle_loaded(sb);

	for (struct repo *r = sb->repos; r; r = r->next)
		over += idle_loaded_repo(r);
	while (over-- > 0) {
		struct repo *oldest = NULL;
		for (struct repo *r = sb->repos; r; r = r->next)
			if (idle_loaded_repo(r) &&
			    (!r->can_announce || now - r->busy_at >= ANNOUNCE_WAKE_S) &&
			    (!oldest || r->busy_at < oldest->busy_at))
				oldest = r;
		if (!oldest || ms_engine_save_resume(sb->eng, oldest->tid, 0, NULL))
			break;
		oldest->sleeping = 1;
	}
}

/* every few seconds: idle repos go, due announces come, memory goes back */
static void idle_tick(struct ms_seedbox *sb, double now)
{
	double idle = idle_unload_s(sb);
	int waking = 0;

	if (idle > 0)
		idle_cap(sb, now);
	for (struct repo *r = sb->repos; r; r = r->next)
		waking += r->announce_wake && r->tid;
	for (struct repo *r = sb->repos; r; r = r->next) {
		if (r->st != R_SEEDING || r->restoring || r->job)
			continue;
		if (r->tid && !r->sleeping && idle > 0) {
			double wait = r->announce_wake && ANNOUNCE_WAKE_S < idle
					      ? ANNOUNCE_WAKE_S : idle;
			if (r->peers_n > 0) {
				r->busy_at = now;
				r->announce_wake = 0;
			} else if (now - r->busy_at >= wait &&
				   !ms_engine_save_resume(sb->eng, r->tid, 0, NULL)) {
				r->sleeping = 1;
			}
		} else if (r->dormant && r->can_announce && now >= r->next_announce &&
			   waking < ANNOUNCE_WAKES_MAX) {
			struct ms_error err;
			char l[400];
			schedule_announce(sb, r, now);
			if (load(sb, r, &err)) {
				ms__log(sb, "%s: cannot load it to announce: %s",
				      ms__label(r, l, sizeof(l)), err.msg);
				ms__repo_error(r, "%s", err.msg);
				ms__make_dormant(sb, r);
			} else if (r->tid) {
				r->announce_wake = 1;
				waking++;
			}
		}
	}
	/* what the unloaded torrents held goes back to the system */
	if (sb->unloads >= 16 || (sb->unloads && !waking)) {
		sb->unloads = 0;
		trim_memory();
	}
}

/* ---- downloads ------------------------------------------------------------ */

static void job_line(void *ud, int error, const char *msg)
{
	struct repo *r = ud;
	char l[400];

	ms__log(r->sb, "%s: %s%s", ms__label(r, l, sizeof(l)), error ? "error: " : "", msg);
	if (error)
		ms__repo_error(r, "%s", msg);
}

static void job_event(void *ud, json_t *ev)
{
	(void)ud;
	json_decref(ev);
}

struct repo *ms__find_rev(struct ms_seedbox *sb, const struct repo *not, const char *repo,
			     const char *rev, const char *cache)
{
	for (struct repo *r = sb->repos; r; r = r->next)
		if (r != not && !strcmp(r->repo, repo) && !strcmp(r->rev, rev) &&
		    !strcmp(r->cache, cache))
			return r;
	return NULL;
}


void ms__notify(struct ms_seedbox *sb, const struct repo *r)
{
	if (sb->notify)
		sb->notify(sb->notify_ud, r);
}

void ms_seedbox_set_notify(struct ms_seedbox *sb, void (*fn)(void *ud, const void *key),
			   void *ud)
{
	sb->notify = fn;
	sb->notify_ud = ud;
}

static void job_state(void *ud)
{
	struct repo *r = ud;
	struct ms_getjob_info in;

	/* resolved: a request naming the commit finds this download, not
	 * another of the same release */
	ms_getjob_info(r->job, &in);
	if (in.rev && !r->rev[0])
		snprintf(r->rev, sizeof(r->rev), "%s", in.rev);
	ms__notify(r->sb, r);
}

/* a download ended: noted here, handled on the next tick (outside the
 * job's own call stack, which may still use the job) */
static void job_done(void *ud, int code)
{
	struct repo *r = ud;

	r->job_ended = 1;
	r->job_code = code;
}

/* a download that ended: seed it (the torrent stays) or say why not */
static void job_finish(struct repo *r, int code)
{
	struct ms_seedbox *sb = r->sb;
	struct ms_getjob_info in;
	char l[400], tpath[PATH_MAX + 64], mpath[PATH_MAX + 64];
	const char **paths = NULL;
	int *prio = NULL, n, rc;
	size_t blen;
	const unsigned char *bytes;
	struct ms_error err;

	ms_getjob_info(r->job, &in);
	if (in.rev)
		snprintf(r->rev, sizeof(r->rev), "%s", in.rev);
	/* pieces that failed while it downloaded (the job saw their alerts) */
	sb->hash_failures += in.hash_failures;
	/* a lab's release of a commit this daemon bridged before the lab's
	 * key was pinned: the two must agree, or neither is kept */
	if (!code && in.manifest && in.rev &&
	    (rc = ms__bridge_agree(sb, r->repo, in.rev, in.manifest, in.manifest_len, &err))) {
		ms__repo_error(r, "%s", err.msg);
		ms__log(sb, "%s: %s", ms__label(r, l, sizeof(l)), err.msg);
		code = rc;
	}
	if (code) {
		struct repo *twin = in.rev ? ms__find_rev(sb, r, r->repo, in.rev, r->cache) : NULL;
		if (in.id)
			ms_engine_remove(sb->eng, in.id, 0, NULL);
		ms_getjob_free(r->job);
		r->job = NULL;
		ms__set_tid(r, 0);
		if (twin) {
			ms__log(sb, "%s: already kept (%s)", ms__label(r, l, sizeof(l)), twin->id);
			ms__remove_repo(sb, r, 0);
		} else if (code == MS_ENOTFOUND && ms__bridge_start(sb, r)) {
			ms__save_record(sb, r);
		} else if (code == MS_EAGAIN && ms__follow_start(sb, r)) {
			ms__save_record(sb, r);
		} else {
			r->st = R_FAILED;
			r->code = code;
			r->failed_at = ms__now_s(sb);
			/* an index preparing it (a daemon bridging it, which
			 * held the request a while): soon, then less often
			 * (2, 4, then every 8 s) */
			r->later = code == MS_EAGAIN ? r->later + 1 : 0;
			r->retry_at = r->failed_at + (r->later < 3 ? 1 << r->later : 8);
			if (!r->error)
				ms__repo_error(r, "failed (%s)", ms_strerror(code));
			ms__notify(sb, r);
			ms__log(sb, "%s: download failed", ms__label(r, l, sizeof(l)));
			ms__save_record(sb, r);
		}
		ms__start_queued(sb);
		return;
	}
	n = in.info ? in.info->num_files : 0;
	paths = calloc((size_t)n + 1, sizeof(*paths));
	prio = calloc((size_t)n + 1, sizeof(*prio));
	bytes = in.meta ? ms_torrent_bytes(in.meta, &blen) : NULL;
	ms__file_path(sb, r->id, "torrent", tpath, sizeof(tpath));
	ms__file_path(sb, r->id, "manifest.json", mpath, sizeof(mpath));
	/* the verified manifest too: what the HF endpoint serves from */
	if (!paths || !prio || !bytes || !in.manifest || ms_getjob_mapping(r->job, paths, prio, n) ||
	    ms__set_files(r, paths, prio, n) ||
	    ms_write_file_atomic(tpath, bytes, blen, 0600, &err) ||
	    ms_write_file_atomic(mpath, in.manifest, in.manifest_len, 0600, &err)) {
		ms__repo_error(r, "cannot keep its torrent");
		r->st = R_FAILED;
		ms_engine_remove(sb->eng, in.id, 0, NULL);
		ms__set_tid(r, 0);
	} else {
		r->st = R_SEEDING;
		r->later = 0;
		ms__set_tid(r, in.id);
		r->busy_at = ms__now_s(sb);
		if (!r->repo_dir && in.repo_dir)
			r->repo_dir = ms_keep_strdup(in.repo_dir);
		r->up_base = r->uploaded; /* uploads while downloading count too */
		ms__repo_error(r, NULL);
		r->size = in.size;
		r->completed = r->last_active = time(NULL);
		r->downloaded += in.from_peers + in.from_mirrors;
		r->from_mirrors += in.from_mirrors;
		r->checks += in.checks;
		for (size_t i = 0; i < in.n_trackers; i++)
			ms_strlist_push_copy(&r->trackers, in.trackers[i]);
		r->can_announce = can_announce(sb, r, in.info->n_trackers);
		ms__log(sb, "%s: downloaded %" PRId64 " bytes in %.1f s, seeding",
		      ms__label(r, l, sizeof(l)), in.from_peers + in.from_mirrors, in.seconds);
		apply_limits(sb, r);
		if (r->paused)
			ms_engine_pause(sb->eng, r->tid, 1, NULL);
		ms_engine_save_resume(sb->eng, r->tid, LTS_SAVE_FLUSH, NULL);
	}
	free(paths);
	free(prio);
	ms_getjob_free(r->job);
	r->job = NULL;
	ms__save_record(sb, r);
	ms__notify(sb, r);
	if (r->st == R_SEEDING)
		if (sb->subs_ops.seeded)
			sb->subs_ops.seeded(sb, r);
	ms__start_queued(sb);
}

static int job_start(struct ms_seedbox *sb, struct repo *r)
{
	struct ms_getjob_hooks h = { job_line, job_event, job_done, r, job_state };
	struct ms_getjob_opts o;
	struct ms_mirror_opts mo = { 0 };
	struct ms_error err;
	char spec[400];
	int rc;

	snprintf(spec, sizeof(spec), "%s@%s", r->repo, r->want);
	memset(&o, 0, sizeof(o));
	o.spec = spec;
	o.indexes = &r->indexes;
	o.includes = &r->includes;
	o.excludes = &r->excludes;
	o.peers = &r->peers;
	o.mirrors = &mo;
	o.cache_dir = r->cache;
	o.local_dir = r->local_dir;
	o.ref = r->ref[0] ? r->ref : NULL;
	/* the daemon waits for sources, unless told otherwise */
	o.stall_timeout_s = sb->config->stall_timeout_s > 0 ? (int)sb->config->stall_timeout_s : 0;
	o.peer_discovery = sb->peer_discovery;
	o.extra_index = sb->bridge_sk ? sb->bridge_index : NULL;
	o.dht = sb->peer_discovery && sb->config->dht;
	ms__repo_error(r, NULL);
	r->st = R_DOWNLOADING;
	rc = ms_getjob_start(&r->job, sb->config, sb->loop, sb->eng, &o, &h, &err);
	if (rc) {
		r->st = R_FAILED;
		r->code = rc;
		r->failed_at = ms__now_s(sb);
		ms__repo_error(r, "%s", err.msg);
		ms__save_record(sb, r);
		ms__notify(sb, r);
	}
	return rc;
}

int ms__max_active(const struct ms_seedbox *sb)
{
	return sb->config->max_active_downloads > 0
		       ? (int)sb->config->max_active_downloads
		       : 3;
}

void ms__start_queued(struct ms_seedbox *sb)
{
	int active = 0;

	if (sb->closing)
		return;
	for (struct repo *r = sb->repos; r; r = r->next)
		active += r->st == R_DOWNLOADING || r->st == R_BRIDGING;
	for (struct repo *r = sb->repos; r && active < ms__max_active(sb); r = r->next)
		if (r->st == R_QUEUED && !r->paused && !job_start(sb, r))
			active++;
	/* the last download ended: what the downloads left free goes back
	 * to the system, not kept for the months of seeding that follow */
	if (!active && sb->busy)
		trim_memory();
	sb->busy = active > 0;
}

/* ---- removing and evicting ------------------------------------------------ */

static void unlink_files(struct ms_seedbox *sb, const struct repo *r)
{
	static const char *const ext[] = { "torrent", "resume", "manifest.json", "json" };
	char path[PATH_MAX + 64];

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		ms__file_path(sb, r->id, ext[i], path, sizeof(path));
		unlink(path);
	}
}

/* drop the revision's snapshot and the blobs only it used; 0, or
 * MS_EAGAIN while a download of the same repo holds its lock */
static int remove_data(struct ms_seedbox *sb, struct repo *r, struct ms_error *err)
{
	struct ms_store st;
	int rc;

	(void)sb;
	if (!r->rev[0])
		return 0;
	memset(&st, 0, sizeof(st));
	st.lock_fd = -1;
	if ((rc = ms_store_open(&st, r->cache, r->repo, err)))
		return rc;
	if (ms_store_lock(&st, NULL, NULL, err)) {
		rc = st.lock_fd >= 0 ? ms_error_set(err, MS_EAGAIN, "a download of %s is "
						    "running", r->repo)
				     : err->code;
		ms_store_release(&st);
		return rc;
	}
	rc = ms_store_remove_revision(&st, r->rev, err);
	ms_store_release(&st);
	return rc;
}

void ms__remove_repo(struct ms_seedbox *sb, struct repo *r, int data)
{
	struct repo **p;
	struct ms_error err;
	char l[400];

	ms__notify(sb, r); /* (before it is gone: the key is only compared) */
	ms__bridge_cancel(r);
	if (r->job) {
		struct ms_getjob_info in;
		ms_getjob_info(r->job, &in);
		if (in.id && in.id != r->tid)
			ms_engine_remove(sb->eng, in.id, 0, NULL);
		ms_getjob_free(r->job);
		r->job = NULL;
	}
	if (r->tid)
		ms_engine_remove(sb->eng, r->tid, 0, NULL);
	ms__set_tid(r, 0);
	ms__undormant(sb, r); /* (a peer waking it finds it gone) */
	if (data && remove_data(sb, r, &err))
		ms__log(sb, "%s: cannot remove its files: %s", ms__label(r, l, sizeof(l)), err.msg);
	unlink_files(sb, r);
	for (p = &sb->repos; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	ms__repo_free(r);
}

/* the disk budget: evict the least recently active unpinned repos that
 * are not downloading until the rest fits */
static void enforce_budget(struct ms_seedbox *sb)
{
	int64_t budget = sb->config->disk_budget, used = 0;
	struct ms_error err;
	char l[400];

	if (budget <= 0)
		return;
	for (struct repo *r = sb->repos; r; r = r->next)
		used += r->size;
	for (int round = 0; used > budget && round < 10000; round++) {
		struct repo *victim = NULL;
		for (struct repo *r = sb->repos; r; r = r->next)
			if (!r->pinned && r->st == R_SEEDING && !r->restoring &&
			    (!victim || r->last_active < victim->last_active))
				victim = r;
		if (!victim || ms__undormant(sb, victim))
			break; /* (a peer is loading it: not idle after all) */
		if (victim->tid)
			ms_engine_remove(sb->eng, victim->tid, 0, NULL);
		ms__set_tid(victim, 0);
		if (remove_data(sb, victim, &err) == MS_EAGAIN) {
			/* its blobs may be in use: try again at the next look */
			if (victim->unloaded)
				ms__make_dormant(sb, victim);
			else
				seed_add(sb, victim, &err);
			break;
		}
		used -= victim->size;
		sb->evicted++;
		ms__log(sb, "%s: evicted (disk budget %" PRId64 " bytes, %" PRId64 " in use)",
		      ms__label(victim, l, sizeof(l)), budget, used + victim->size);
		ms__remove_repo(sb, victim, 0);
	}
}

/* ---- adding ---------------------------------------------------------------- */

static int copy_list(struct ms_strlist *to, const struct ms_strlist *from)
{
	for (size_t i = 0; from && i < from->n; i++)
		if (ms_strlist_push_copy(to, from->v[i]))
			return MS_ENOMEM;
	return 0;
}

int ms__abs_path(const char *in, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (*in == '/')
		return snprintf(out, len, "%s", in) >= (int)len;
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	return snprintf(out, len, "%s/%s", cwd, in) >= (int)len;
}

static struct repo *repo_new(struct ms_seedbox *sb, const char *spec, const char *cache,
			     struct ms_error *err)
{
	const char *at = strchr(spec, '@');
	size_t rl = at ? (size_t)(at - spec) : strlen(spec);
	unsigned char rnd[8];
	struct repo *r = calloc(1, sizeof(*r));

	if (!r) {
		ms_error_set(err, MS_ENOMEM, "out of memory");
		return NULL;
	}
	r->sb = sb;
	if (rl >= MS_REPO_MAX || (at && strlen(at + 1) >= MS_WANT_MAX)) {
		ms_error_set(err, MS_EINVAL, "'%s' is too long", spec);
		goto fail;
	}
	if (ms__set_names(r, spec, rl, at ? at + 1 : "main", "")) {
		ms_error_set(err, MS_ENOMEM, "out of memory");
		goto fail;
	}
	ms_revision_normalize(r->want); /* as ms_release_spec() */
	if (ms_repo_check(r->repo, NULL, 0, err) ||
	    (ms_revision_check(r->want) && ms_ref_check(r->want, err)))
		goto fail;
	if (!(r->cache = ms_keep_strdup(cache))) {
		ms_error_set(err, MS_ENOMEM, "out of memory");
		goto fail;
	}
	randombytes_buf(rnd, sizeof(rnd));
	ms_hex(rnd, sizeof(rnd), r->id);
	r->added = r->last_active = time(NULL);
	return r;
fail:
	ms__repo_free(r);
	return NULL;
}

static void repo_append(struct ms_seedbox *sb, struct repo *r)
{
	struct repo **tail = &sb->repos;

	while (*tail)
		tail = &(*tail)->next;
	*tail = r;
}

int ms__add(struct ms_seedbox *sb, const struct ms_seedbox_req *q, struct repo **out,
	     int *existing, struct ms_error *err)
{
	char cache[PATH_MAX], lbuf[PATH_MAX];
	struct ms_error e2;
	struct repo *r;
	const struct ms_strlist *q_indexes = q->indexes;

	*out = NULL;
	*existing = 0;
	if (!q->spec)
		return ms_error_set(err, MS_EINVAL, "add needs \"spec\": \"ORG/NAME[@REV]\"");
	if (ms_store_cache_dir(q->cache_dir, cache, sizeof(cache), &e2) ||
	    (q->cache_dir && ms__abs_path(q->cache_dir, cache, sizeof(cache))))
		return ms_error_set(err, MS_EINVAL, "bad cache_dir: %s",
				    q->cache_dir ? q->cache_dir : e2.msg);
	if (!(r = repo_new(sb, q->spec, cache, err)))
		return err->code;
	/* the same request twice: the repo already kept (a failed one tries
	 * again) */
	for (struct repo *o = sb->repos; o; o = o->next)
		if (!strcmp(o->repo, r->repo) && !strcmp(o->cache, r->cache) &&
		    (!strcmp(o->want, r->want) || !strcmp(o->rev, r->want))) {
			ms__repo_free(r);
			if (o->st == R_FAILED) {
				o->st = R_QUEUED;
				ms__repo_error(o, NULL);
				ms__start_queued(sb);
			}
			*out = o;
			*existing = 1;
			return 0;
		}
	/* a request names no index: those this repo came from before */
	if (q->forget_missing && (!q->indexes || !q->indexes->n))
		for (struct repo *o = sb->repos; o; o = o->next)
			if (!strcmp(o->repo, r->repo) && o->indexes.n)
				q_indexes = &o->indexes;
	if (copy_list(&r->indexes, q_indexes) || copy_list(&r->includes, q->includes) ||
	    copy_list(&r->excludes, q->excludes) || copy_list(&r->peers, q->peers) ||
	    (q->subscription && !(r->sub = ms_keep_strdup(q->subscription)))) {
		ms__repo_free(r);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	if (q->local_dir && (ms__abs_path(q->local_dir, lbuf, sizeof(lbuf)) ||
			     !(r->local_dir = ms_keep_strdup(lbuf)))) {
		ms__repo_free(r);
		return ms_error_set(err, MS_EINVAL, "bad local_dir");
	}
	r->pinned = q->pinned;
	r->forget_missing = q->forget_missing;
	r->paused = q->paused;
	r->up_limit = q->up_limit;
	r->down_limit = q->down_limit;
	if (q->ref) {
		if (ms_ref_check(q->ref, err)) {
			ms__repo_free(r);
			return MS_EINVAL;
		}
		if (strlen(q->ref) >= MS_WANT_MAX) {
			ms__repo_free(r);
			return ms_error_set(err, MS_EINVAL, "ref '%s' is too long", q->ref);
		}
		if (ms__set_names(r, r->repo, strlen(r->repo), r->want, q->ref)) {
			ms__repo_free(r);
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		}
	}
	r->st = R_QUEUED;
	repo_append(sb, r);
	if (ms__save_record(sb, r)) {
		ms__remove_repo(sb, r, 0);
		return ms_error_set(err, MS_EIO, "cannot save the daemon's state (see its log)");
	}
	ms__log(sb, "%s@%s: added (%s)", r->repo, r->want, r->id);
	ms__start_queued(sb);
	*out = r;
	return 0;
}

int ms_seedbox_add_repo(struct ms_seedbox *sb, const struct ms_seedbox_req *q,
			const char **id, int *existing, struct ms_error *err)
{
	struct repo *r;
	int e = ms__add(sb, q, &r, existing, err);

	*id = e ? NULL : r->id;
	return e;
}

/* ---- the tick ------------------------------------------------------------- */

static void stats(struct ms_seedbox *sb, double dt)
{
	const struct ms_config *c = sb->config;
	char l[400];
	struct lts_status *all;
	int *have;
	size_t n, k = 0;

	if (ms__repos_status(sb, &all, &have, &n))
		return;
	for (struct repo *r = sb->repos; r; r = r->next, k++) {
		struct lts_status st = all[k];
		if (r->unloaded && r->st == R_SEEDING && !r->paused && !r->limited) {
			/* idle, but seeding all the same */
			r->seed_s += (int64_t)dt;
			if (c->seed_time_limit_s > 0 && r->seed_s >= c->seed_time_limit_s) {
				r->limited = 1;
				ms__undormant(sb, r);
				ms__log(sb, "%s: seed limit reached (ratio %.2f, %" PRId64
				      " s): stopped", ms__label(r, l, sizeof(l)),
				      r->size > 0 ? (double)r->uploaded / (double)r->size : 0.0,
				      r->seed_s);
				ms__save_record(sb, r);
			}
			continue;
		}
		if (!r->tid || !have[k])
			continue;
		r->rate_up = st.upload_rate;
		r->rate_down = st.download_rate;
		r->peers_n = st.num_peers;
		if (r->st != R_SEEDING)
			continue;
		if (r->up_base + st.payload_upload > r->uploaded) {
			r->uploaded = r->up_base + st.payload_upload;
			r->last_active = time(NULL);
		}
		if (!st.paused)
			r->seed_s += (int64_t)dt;
		if (!r->limited && !st.paused && r->size > 0 &&
		    ((c->seed_ratio_limit > 0 &&
		      (double)r->uploaded / (double)r->size >= c->seed_ratio_limit) ||
		     (c->seed_time_limit_s > 0 && r->seed_s >= c->seed_time_limit_s))) {
			r->limited = 1;
			ms_engine_pause(sb->eng, r->tid, 1, NULL);
			ms__log(sb, "%s: seed limit reached (ratio %.2f, %" PRId64 " s): stopped",
			      ms__label(r, l, sizeof(l)), (double)r->uploaded / (double)r->size,
			      r->seed_s);
			ms__save_record(sb, r);
		}
	}
	free(all);
	free(have);
}

/* repos a request added that no index had: dropped after a while (until
 * then the endpoint answers from the failure, without asking again) */
static void forget_missing(struct ms_seedbox *sb, double now)
{
	struct repo *r = sb->repos, *next;
	char l[400];

	for (; r; r = next) {
		next = r->next;
		if (r->forget_missing && r->st == R_FAILED && r->code == MS_ENOTFOUND &&
		    now - r->failed_at >= FORGET_MISSING_S) {
			ms__log(sb, "%s: no index has it: forgotten", ms__label(r, l, sizeof(l)));
			ms__remove_repo(sb, r, 0);
		}
	}
}

void ms_seedbox_tick(struct ms_seedbox *sb)
{
	double now = ms__now_s(sb);

	if (sb->closing)
		return;
	/* ended downloads first, one at a time: finishing one may drop
	 * other repos (a subscription's older revisions) */
	for (;;) {
		struct repo *r = sb->repos;
		while (r && !(r->job && r->job_ended))
			r = r->next;
		if (!r)
			break;
		r->job_ended = 0;
		job_finish(r, r->job_code);
	}
	for (struct repo *r = sb->repos; r; r = r->next)
		if (r->job)
			ms_getjob_tick(r->job, NULL, NULL, 0);
	forget_missing(sb, now);
	ms__bridge_tick(sb, now);
	if (now - sb->last_stats >= STATS_EVERY_S) {
		stats(sb, now - sb->last_stats);
		sb->last_stats = now;
		enforce_budget(sb);
		idle_tick(sb, now);
	}
	if (now - sb->last_resume >= RESUME_EVERY_S) {
		/* resume data and counters of the repos that uploaded since
		 * the last time, so that a SIGKILL costs little (an idle repo
		 * changed neither) */
		sb->last_resume = now;
		for (struct repo *r = sb->repos; r; r = r->next)
			if (r->tid && r->st == R_SEEDING && r->uploaded != r->saved_uploaded) {
				ms_engine_save_resume(sb->eng, r->tid, 0, NULL);
				ms__save_record(sb, r);
			}
	}
	if (sb->subs_ops.tick)
		sb->subs_ops.tick(sb);
	ms__seedbox_dht_tick(sb);
}

/* an alert of repo r's torrent */
static void repo_alert(struct ms_seedbox *sb, struct repo *r, const struct lts_alert *a)
{
	char path[PATH_MAX + 64], l[400];

	switch (a->type) {
	case LTS_ALERT_STATE_CHANGED:
		if (a->value == LTS_STATE_CHECKING_FILES)
			r->checks++;
		break;
	case LTS_ALERT_HASH_FAILED:
		sb->hash_failures++;
		break;
	case LTS_ALERT_SAVE_RESUME:
		if (r->st != R_SEEDING)
			break;
		ms__file_path(sb, r->id, "resume", path, sizeof(path));
		if (r->sleeping != 1)
			ms_write_file_atomic(path, a->data, a->data_len, 0600, NULL);
		else if (ms_write_file_atomic(path, a->data, a->data_len, 0600, NULL))
			r->sleeping = 0; /* stays loaded: try again later */
		else if (!sb->closing)
			unload(sb, r);
		break;
	case LTS_ALERT_SAVE_RESUME_FAILED:
		if (r->sleeping == 1)
			r->sleeping = 0;
		break;
	case LTS_ALERT_TORRENT_REMOVED:
		if (r->sleeping == 2) {
			r->sleeping = 0;
			ms__make_dormant(sb, r);
			sb->unloads++; /* freed now: trimmed at the next look */
		}
		break;
	case LTS_ALERT_FILE_ERROR:
	case LTS_ALERT_TORRENT_ERROR:
		if (r->st != R_SEEDING)
			break;
		ms__repo_error(r, "%s", a->message);
		ms__log(sb, "%s: error: %s", ms__label(r, l, sizeof(l)), a->message);
		break;
	default:
		break;
	}
}

/* r's torrent's alerts, straight from the engine (NULL: it closed) */
static void on_repo_alert(void *ud, const struct lts_alert *a)
{
	struct repo *r = ud;

	if (!a)
		r->watching = 0;
	else
		repo_alert(r->sb, r, a);
}

void ms__set_tid(struct repo *r, int id)
{
	struct ms_seedbox *sb = r->sb;

	if (r->watching)
		ms_engine_unwatch(sb->eng, r->tid, on_repo_alert, r);
	r->watching = 0;
	r->tid = id;
	if (id && !ms_engine_watch(sb->eng, id, on_repo_alert, r))
		r->watching = 1;
}

/* the alerts nobody watches: a dormant repo woken by a peer, or (when its
 * watch could not be made) a repo's torrent */
void ms_seedbox_alert(struct ms_seedbox *sb, const struct lts_alert *a)
{
	struct repo *r;

	if (a->type == LTS_ALERT_TORRENT_WOKEN) {
		woken(sb, a);
		return;
	}
	if (!a->torrent)
		return;
	for (r = sb->repos; r && r->tid != a->torrent; r = r->next)
		;
	if (r)
		repo_alert(sb, r, a);
}

/* ---- opening and closing -------------------------------------------------- */


/* seed-store: every complete snapshot of the default cache that is not
 * kept yet is added (verified once, like any add; kept from then on) */
static void seed_store(struct ms_seedbox *sb)
{
	char cache[PATH_MAX], snaps[PATH_MAX * 2], repo[300], spec[600];
	struct ms_error err;
	struct dirent *de, *se;
	DIR *d, *sd;
	int added = 0;

	if (ms_store_cache_dir(NULL, cache, sizeof(cache), &err) || !(d = opendir(cache)))
		return;
	while ((de = readdir(d))) {
		const char *n = de->d_name, *sep;
		if (strncmp(n, "models--", 8) || !(sep = strstr(n + 8, "--")))
			continue;
		snprintf(repo, sizeof(repo), "%.*s/%s", (int)(sep - n - 8), n + 8, sep + 2);
		if (ms_repo_check(repo, NULL, 0, NULL))
			continue;
		snprintf(snaps, sizeof(snaps), "%s/%s/snapshots", cache, n);
		if (!(sd = opendir(snaps)))
			continue;
		while ((se = readdir(sd))) {
			struct ms_seedbox_req q;
			struct repo *r;
			int existing;
			if (ms_revision_check(se->d_name) ||
			    ms__find_rev(sb, NULL, repo, se->d_name, cache))
				continue;
			snprintf(spec, sizeof(spec), "%s@%s", repo, se->d_name);
			memset(&q, 0, sizeof(q));
			q.spec = spec;
			q.cache_dir = cache;
			added += !ms__add(sb, &q, &r, &existing, &err) && !existing;
		}
		closedir(sd);
	}
	closedir(d);
	if (added)
		ms__log(sb, "seed-store: %d snapshots of '%s' added", added, cache);
}

/* the seeding repos of last time go back into the session a few per turn
 * of the loop: the control socket answers meanwhile, and libtorrent's
 * alerts of one batch are taken before the next (all at once, the alert
 * queues grow to hold tens of thousands and keep that memory) */
#define RESTORE_BATCH 25

static void restore_cb(uv_idle_t *h)
{
	struct ms_seedbox *sb = h->data;
	struct repo *r = sb->repos;
	char l[400];

	for (int n = 0; r && n < RESTORE_BATCH; r = r->next) {
		struct ms_error err;
		char rpath[PATH_MAX + 64];
		if (!r->restoring)
			continue;
		r->restoring = 0;
		n++;
		ms__file_path(sb, r->id, "resume", rpath, sizeof(rpath));
		if (idle_unload_s(sb) > 0 && access(rpath, F_OK) == 0) {
			/* idle until a peer or its announce comes (a few a
			 * second: its trackers may have forgotten it) */
			r->next_announce = ms__now_s(sb) + 0.5 * sb->restored;
			ms__make_dormant(sb, r);
			sb->restored++;
		} else if (seed_add(sb, r, &err)) {
			ms__log(sb, "%s: cannot seed: %s", ms__label(r, l, sizeof(l)), err.msg);
			ms__repo_error(r, "%s", err.msg);
			sb->restore_failed++;
		} else {
			sb->restored++;
		}
	}
	while (r && !r->restoring)
		r = r->next;
	if (r)
		return;
	uv_idle_stop(h);
	ms__log(sb, "seeding %d repos again%s", sb->restored,
	      sb->restore_failed ? " (some failed)" : "");
	trim_memory(); /* what the adds left free goes back to the system */
}

int ms_seedbox_open(struct ms_seedbox **out, struct ms_config *c, uv_loop_t *loop,
		 struct ms_engine *e, int peer_discovery, const struct ms_seedbox_hooks *h,
		 struct ms_error *err)
{
	struct ms_seedbox *sb;
	char state[PATH_MAX - 64], path[PATH_MAX + 64];
	struct dirent **names = NULL;
	int n, rc, seeding = 0;


	*out = NULL;
	if ((rc = ms_state_dir(state, sizeof(state), err)))
		return rc;
	if (!(sb = calloc(1, sizeof(*sb))))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	sb->config = c;
	sb->loop = loop;
	sb->eng = e;
	sb->hooks = *h;
	sb->peer_discovery = peer_discovery;
	clock_gettime(CLOCK_MONOTONIC, &sb->t0);
	snprintf(sb->dir, sizeof(sb->dir), "%s/daemon", state);
	snprintf(path, sizeof(path), "%s/repos", sb->dir);
	if ((rc = ms_mkdir_p(path, err)) || (rc = ms_http_new(&sb->http, loop, err))) {
		free(sb);
		return rc;
	}
	chmod(sb->dir, 0700);
	if ((rc = ms__bridge_open(sb, err))) {
		ms_http_close(sb->http);
		ms__bridge_close(sb);
		free(sb);
		return rc;
	}
	/* every repo kept last time: seeding ones straight into the session
	 * with their resume data, downloads queued again */
	n = scandir(path, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *dot = strrchr(names[i]->d_name, '.');
		struct repo *r;
		char p[PATH_MAX + 400];
		if (dot && !strcmp(dot, ".json")) {
			snprintf(p, sizeof(p), "%s/%s", path, names[i]->d_name);
			if (!(r = ms__record_load(sb, p))) {
				ms__log(sb, "ignoring '%s': not a valid record", p);
			} else {
				struct repo **tail = &sb->repos;
				while (*tail)
					tail = &(*tail)->next;
				*tail = r;
				r->restoring = r->st == R_SEEDING;
				seeding += r->restoring;
			}
		}
		free(names[i]);
	}
	free(names);
	*out = sb;
	if (seeding) {
		uv_idle_init(loop, &sb->restore);
		sb->restore.data = sb;
		sb->restore_on = 1;
		uv_idle_start(&sb->restore, restore_cb);
	}
	if (c->seed_store)
		seed_store(sb);
	ms__start_queued(sb);
	return 0;
}

void ms_seedbox_engine_closed(struct ms_seedbox *sb)
{
	for (struct repo *r = sb->repos; r; r = r->next) {
		ms_getjob_detach(r->job);
		r->watching = 0; /* the engine ended every watch */
	}
}

void ms_seedbox_shutdown(struct ms_seedbox *sb)
{
	/* counters and queued downloads; resume data comes with the
	 * engine's shutdown */
	sb->closing = 1;
	if (sb->restore_on) {
		uv_close((uv_handle_t *)&sb->restore, NULL);
		sb->restore_on = 0;
	}
	stats(sb, ms__now_s(sb) - sb->last_stats);
	for (struct repo *r = sb->repos; r; r = r->next) {
		ms__bridge_cancel(r); /* its .incomplete files resume it */
		ms__save_record(sb, r); /* a download is saved as queued; its job
				       keeps its resume data meanwhile */
	}
	if (sb->subs_ops.shutdown)
		sb->subs_ops.shutdown(sb);
	if (sb->http) {
		ms_http_close(sb->http);
		sb->http = NULL;
	}
}

void ms_seedbox_free(struct ms_seedbox *sb)
{
	if (!sb)
		return;
	while (sb->repos) {
		struct repo *r = sb->repos;
		sb->repos = r->next;
		ms__repo_free(r);
	}
	if (sb->http)
		ms_http_close(sb->http); /* no poll callback after this */
	if (sb->subs_ops.close)
		sb->subs_ops.close(sb);
	ms__bridge_close(sb);
	ms__seedbox_dht_free(sb);
	free(sb);
}
