/* seedbox.c: the daemon's repos -- download (a getjob each), then seed
 * from the cache; kept on disk so that a restart seeds again at once,
 * without hashing; rate, ratio, time and disk budgets; subscriptions */
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

#include "cmd.h"
#include "ms_hash.h"
#include "ms_http.h"
#include "ms_manifest.h"
#include "ms_metrics.h"
#include "ms_store.h"
#include "ms_trust.h"
#include "seedbox.h"

#define STATS_EVERY_S 5
#define RESUME_EVERY_S 300
#define TORRENT_MAX (64u << 20)
#define RECORD_MAX (16u << 20)

/* the longest ORG/NAME, and the longest revision or ref, a repo may ask for */
#define REPO_MAX 256
#define WANT_MAX 128

enum rstate { R_QUEUED, R_DOWNLOADING, R_SEEDING, R_FAILED };

static const char *const state_names[] = { "queued", "downloading", "seeding", "failed" };

struct repo {
	char id[17];             /* names its files: repos/<id>.{json,torrent,resume} */
	char *repo;              /* ORG/NAME */
	char *want;              /* as asked: a revision or a ref */
	char *ref;               /* a ref to write for it (subscriptions), or "" */
	char rev[41];            /* "" until resolved */
	char *cache;             /* the hub cache it lives in */
	char *repo_dir;          /* its directory there, once known */
	char *local_dir;
	struct ms_strlist indexes, includes, excludes, peers, trackers;
	char *sub;               /* the subscription that added it, or NULL */
	enum rstate st;
	int paused;              /* by the operator */
	int limited;             /* stopped by the ratio or time limit */
	int pinned;              /* never evicted */
	int64_t added, completed, last_active;
	int64_t size;            /* bytes of its files */
	int64_t uploaded, downloaded, from_mirrors;  /* all time */
	int64_t seed_s;          /* seconds spent seeding, all time */
	int up_limit, down_limit;
	int exit_code;           /* of a failed download */
	char *error;             /* the last error, or NULL */

	/* live */
	struct seedbox *sb;
	int tid;                 /* the torrent, 0 if not in the session */
	struct getjob *job;
	int job_ended, job_code; /* the job said it is done */
	char **paths;            /* per torrent file, while seeding */
	int *prio;
	int n_files;
	int checks;              /* times libtorrent hashed its files */
	int restoring;           /* seeding, waiting to be added again */
	int unloaded;            /* seeding, out of the session (idle) */
	int dormant;             /* unloaded, and a peer's handshake loads it */
	int sleeping;            /* going idle: 1 resume data asked for, 2
				    removal from the session asked for */
	int announce_wake;       /* loaded only to announce, no peer yet */
	int can_announce;        /* it has trackers, or DHT or LSD is on */
	int64_t cookie;          /* its dormant entry, 0 before the first */
	double busy_at;          /* monotonic s: last seen with peers, or loaded */
	double next_announce;    /* monotonic s: when, unloaded, to announce */
	int rate_up, rate_down, peers_n;
	int64_t up_base;         /* uploaded before this session */
	int64_t saved_uploaded;  /* uploaded, as last written to its record */
	struct repo *next;
};

struct sub;

/* one look at a subscription's refs.json */
struct poll {
	struct sub *s;
	unsigned char *refs;
	size_t refs_len;
	char etag[MS_ETAG_MAX];
	char index[PATH_MAX];
};

struct sub {
	char repo[256];
	char ref[128];
	struct ms_strlist indexes;
	char *cache;
	int keep;                /* newest revisions to keep; 0: all */
	char rev[41];            /* the last revision seen */
	char etag[200];          /* of refs.json, for a conditional request */
	double next_poll;        /* monotonic seconds */
	int failures;
	char error[600];
	struct poll *poll;       /* in flight, or NULL */
	int dead;                /* unsubscribed while a poll was in flight */
	struct seedbox *sb;
	struct sub *next;
};

struct seedbox {
	struct ms_ctx *ctx;
	uv_loop_t *loop;
	struct ms_engine *eng;
	struct seedbox_hooks hooks;
	char dir[PATH_MAX];      /* <state>/daemon */
	struct repo *repos;
	struct sub *subs;
	struct sub *dead_subs;   /* freed when their poll ends */
	struct ms_http *http;    /* subscription polls */
	struct timespec t0;
	double last_stats, last_resume;
	int peer_discovery;
	int closing;
	int64_t evicted;         /* repos evicted since start */
	int64_t hash_failures;
	uv_idle_t restore;       /* adds the seeding repos of last time */
	int restore_on;          /* restore initialized and not closed */
	int restored, restore_failed;
	int busy;                /* downloads running at the last look */
	int64_t next_cookie;
	int unloads;             /* unloaded since memory was last trimmed */
};

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

static double now_s(const struct seedbox *sb)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - sb->t0.tv_sec) + (double)(t.tv_nsec - sb->t0.tv_nsec) / 1e9;
}

/* the status of every repo in the session, in one call (one per repo
 * stalls the loop with a thousand repos): *st and *have (1 when repo k has
 * a status) indexed in list order, *n repos; the caller frees both */
static int repos_status(struct seedbox *sb, struct lts_status **st, int **have, size_t *n)
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

static void logf_(struct seedbox *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct seedbox *sb, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (sb->hooks.log)
		sb->hooks.log(sb->hooks.ud, buf);
}

static const char *label(const struct repo *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s@%s", r->repo, r->rev[0] ? r->rev : r->want);
	return buf;
}

/* ---- records on disk ---------------------------------------------------- */

static void file_path(const struct seedbox *sb, const char *id, const char *ext,
		      char *buf, size_t len)
{
	snprintf(buf, len, "%s/repos/%s.%s", sb->dir, id, ext);
}

static json_t *strlist_json(const struct ms_strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static void strlist_from(struct ms_strlist *l, json_t *a)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (json_is_string(v))
			ms_strlist_push_copy(l, json_string_value(v));
}

static int save_record(struct seedbox *sb, struct repo *r)
{
	char path[PATH_MAX + 64], *s;
	struct ms_error err;
	json_t *o, *files = json_array();
	int rc;

	for (int i = 0; files && i < r->n_files; i++)
		json_array_append_new(files, json_pack("[s,i]", r->paths[i], r->prio[i]));
	o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s?,s:s?,s:o,s:o,s:o,s:o,s:o,s:s,s:b,s:b,s:b,"
		      "s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:s,s:o}",
		      "format", 1, "id", r->id, "repo", r->repo, "want", r->want, "rev",
		      r->rev, "cache", r->cache, "local_dir", r->local_dir, "indexes",
		      strlist_json(&r->indexes), "include", strlist_json(&r->includes),
		      "exclude", strlist_json(&r->excludes), "peers", strlist_json(&r->peers),
		      "trackers", strlist_json(&r->trackers), "state",
		      state_names[r->st == R_DOWNLOADING ? R_QUEUED : r->st], "paused",
		      r->paused, "limited", r->limited, "pinned", r->pinned, "added",
		      (json_int_t)r->added, "completed", (json_int_t)r->completed,
		      "last_active", (json_int_t)r->last_active, "size", (json_int_t)r->size,
		      "uploaded", (json_int_t)r->uploaded, "downloaded",
		      (json_int_t)r->downloaded, "from_mirrors", (json_int_t)r->from_mirrors,
		      "seed_seconds", (json_int_t)r->seed_s, "upload_limit", r->up_limit,
		      "download_limit", r->down_limit, "error", r->error ? r->error : "", "files",
		      files ? files : json_null());
	if (!o)
		return MS_ENOMEM;
	if (r->sub)
		json_object_set_new(o, "subscription", json_string(r->sub));
	if (r->exit_code)
		json_object_set_new(o, "exit_code", json_integer(r->exit_code));
	if (r->ref[0])
		json_object_set_new(o, "ref", json_string(r->ref));
	if (r->repo_dir)
		json_object_set_new(o, "repo_dir", json_string(r->repo_dir));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return MS_ENOMEM;
	file_path(sb, r->id, "json", path, sizeof(path));
	rc = ms_write_file_atomic(path, s, strlen(s), 0600, &err);
	if (!rc)
		r->saved_uploaded = r->uploaded;
	if (rc)
		logf_(sb, "cannot save the state of %s: %s", r->repo, err.msg);
	free(s);
	return rc;
}

/* r's last error: printf-like, or NULL to clear it */
static void repo_error(struct repo *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void repo_error(struct repo *r, const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	free(r->error);
	r->error = NULL;
	if (!fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->error = strdup(buf);
}

/* o's string member key, or "" */
static const char *str_or_empty(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* r->repo, r->want and r->ref, in one allocation (r->repo's; calloc, as
 * ms_keep_strdup); 0 or -1 (out of memory: r unchanged) */
static int set_names(struct repo *r, const char *repo, size_t rl, const char *want,
		     const char *ref)
{
	size_t wl = strlen(want), fl = strlen(ref);
	char *p = calloc(1, rl + wl + fl + 3);

	if (!p)
		return -1;
	memcpy(p, repo, rl);
	p[rl] = '\0';
	memcpy(p + rl + 1, want, wl + 1);
	memcpy(p + rl + 1 + wl + 1, ref, fl + 1);
	free(r->repo);
	r->repo = p;
	r->want = p + rl + 1;
	r->ref = r->want + wl + 1;
	return 0;
}

static void repo_free(struct repo *r)
{
	if (r->job)
		getjob_free(r->job);
	free(r->paths); /* (and r->prio: one block) */
	free(r->repo);
	free(r->cache);
	free(r->repo_dir);
	free(r->local_dir);
	free(r->sub);
	free(r->error);
	ms_strlist_release(&r->indexes);
	ms_strlist_release(&r->includes);
	ms_strlist_release(&r->excludes);
	ms_strlist_release(&r->peers);
	ms_strlist_release(&r->trackers);
	free(r);
}

/* r's file paths and priorities, in one block (r->paths'; calloc, as
 * ms_keep_strdup); 0 or MS_ENOMEM (r unchanged) */
static int set_files(struct repo *r, const char *const *paths, const int *prio, int n)
{
	size_t head = (size_t)n * (sizeof(char *) + sizeof(int)), len = head;
	char *b, *at;

	for (int i = 0; i < n; i++)
		len += strlen(paths[i]) + 1;
	if (!(b = calloc(1, len ? len : 1)))
		return MS_ENOMEM;
	free(r->paths);
	r->paths = (char **)(void *)b;
	r->prio = (int *)(void *)(b + (size_t)n * sizeof(char *));
	r->n_files = n;
	at = b + head;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(paths[i]) + 1;
		r->paths[i] = memcpy(at, paths[i], l);
		at += l;
		r->prio[i] = prio[i];
	}
	return 0;
}

static struct repo *record_load(struct seedbox *sb, const char *path)
{
	unsigned char *buf = NULL;
	size_t len;
	json_error_t je;
	json_t *o, *files, *v;
	struct repo *r;
	size_t i;
	const char *s;

	if (ms_read_file(path, RECORD_MAX, &buf, &len, NULL))
		return NULL;
	o = json_loadb((const char *)buf, len, 0, &je);
	free(buf);
	if (!o || !(r = calloc(1, sizeof(*r)))) {
		json_decref(o);
		return NULL;
	}
	r->sb = sb;
	snprintf(r->id, sizeof(r->id), "%s", str_or_empty(o, "id"));
	snprintf(r->rev, sizeof(r->rev), "%s", str_or_empty(o, "rev"));
	s = str_or_empty(o, "repo");
	if (set_names(r, s, strlen(s), str_or_empty(o, "want"), str_or_empty(o, "ref"))) {
		json_decref(o);
		free(r);
		return NULL;
	}
	if ((s = json_string_value(json_object_get(o, "error"))) && *s)
		repo_error(r, "%s", s);
	if ((s = json_string_value(json_object_get(o, "cache"))))
		r->cache = ms_keep_strdup(s);
	if ((s = json_string_value(json_object_get(o, "local_dir"))))
		r->local_dir = ms_keep_strdup(s);
	if ((s = json_string_value(json_object_get(o, "repo_dir"))))
		r->repo_dir = ms_keep_strdup(s);
	if ((s = json_string_value(json_object_get(o, "subscription"))))
		r->sub = ms_keep_strdup(s);
	strlist_from(&r->indexes, json_object_get(o, "indexes"));
	strlist_from(&r->includes, json_object_get(o, "include"));
	strlist_from(&r->excludes, json_object_get(o, "exclude"));
	strlist_from(&r->peers, json_object_get(o, "peers"));
	strlist_from(&r->trackers, json_object_get(o, "trackers"));
	s = json_string_value(json_object_get(o, "state"));
	r->st = s && !strcmp(s, "seeding") ? R_SEEDING : s && !strcmp(s, "failed") ? R_FAILED
											: R_QUEUED;
	r->paused = json_is_true(json_object_get(o, "paused"));
	r->limited = json_is_true(json_object_get(o, "limited"));
	r->pinned = json_is_true(json_object_get(o, "pinned"));
	r->added = json_integer_value(json_object_get(o, "added"));
	r->completed = json_integer_value(json_object_get(o, "completed"));
	r->last_active = json_integer_value(json_object_get(o, "last_active"));
	r->size = json_integer_value(json_object_get(o, "size"));
	r->uploaded = json_integer_value(json_object_get(o, "uploaded"));
	r->saved_uploaded = r->uploaded;
	r->downloaded = json_integer_value(json_object_get(o, "downloaded"));
	r->from_mirrors = json_integer_value(json_object_get(o, "from_mirrors"));
	r->seed_s = json_integer_value(json_object_get(o, "seed_seconds"));
	r->up_limit = (int)json_integer_value(json_object_get(o, "upload_limit"));
	r->down_limit = (int)json_integer_value(json_object_get(o, "download_limit"));
	r->exit_code = (int)json_integer_value(json_object_get(o, "exit_code"));
	files = json_object_get(o, "files");
	if (json_array_size(files)) {
		size_t n = json_array_size(files);
		const char **paths = calloc(n, sizeof(*paths));
		int *prio = calloc(n, sizeof(*prio));
		if (paths && prio) {
			json_array_foreach(files, i, v) {
				s = json_string_value(json_array_get(v, 0));
				paths[i] = s && !strstr(s, "..") && *s != '/' ? s : "blobs/.skip/bad";
				prio[i] = (int)json_integer_value(json_array_get(v, 1));
			}
			set_files(r, paths, prio, (int)n);
		}
		free(paths);
		free(prio);
	}
	json_decref(o);
	if (!r->id[0] || !r->repo[0] || !r->cache || ms_repo_check(r->repo, NULL, 0, NULL) ||
	    (r->st == R_SEEDING && (ms_revision_check(r->rev) || !r->n_files))) {
		repo_free(r);
		return NULL;
	}
	return r;
}

/* ---- the session -------------------------------------------------------- */

static void start_queued(struct seedbox *sb);

static void apply_limits(struct seedbox *sb, struct repo *r)
{
	if (r->tid && (r->up_limit || r->down_limit))
		ms_engine_set_limits(sb->eng, r->tid, r->up_limit, r->down_limit, NULL);
}

/* the repo's directory in its cache: kept in the record, so that the store
 * (and its mkdirs) is opened once, not at every restart or listing */
static const char *repo_dir(struct repo *r, struct ms_error *err)
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
static int can_announce(const struct seedbox *sb, const struct repo *r, int n_trackers)
{
	return n_trackers > 0 || r->trackers.n > 0 || sb->peer_discovery;
}

/* a seeding repo into the session: its torrent and resume data from the
 * state directory, its files where they were (no index, no hashing) */
static int seed_add(struct seedbox *sb, struct repo *r, struct ms_error *err)
{
	char tpath[PATH_MAX + 64], rpath[PATH_MAX + 64];
	const char *dir;
	unsigned char *torrent = NULL, *resume = NULL;
	size_t tlen = 0, rlen = 0;
	struct lts_add_params ap;
	lts_torrent *meta;
	int rc;

	file_path(sb, r->id, "torrent", tpath, sizeof(tpath));
	file_path(sb, r->id, "resume", rpath, sizeof(rpath));
	if ((rc = ms_read_file(tpath, TORRENT_MAX, &torrent, &tlen, err)))
		goto out;
	if (!(dir = repo_dir(r, err))) {
		rc = err->code;
		goto out;
	}
	if (!(meta = ms_torrent_load(torrent, tlen, err))) {
		rc = err->code;
		goto out;
	}
	rc = ms_torrent_num_files(meta) != r->n_files;
	r->can_announce = can_announce(sb, r, ms_torrent_num_trackers(meta));
	ms_torrent_free(meta);
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
	r->busy_at = now_s(sb);
	rc = ms_engine_add(sb->eng, &ap, &r->tid, err);
	if (rc && resume) {
		ap.resume = NULL;
		ap.resume_len = 0;
		rc = ms_engine_add(sb->eng, &ap, &r->tid, err);
	}
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

static double idle_unload_s(const struct seedbox *sb)
{
	int64_t v = sb->ctx->config.idle_unload_s;

	return v < 0 ? 60 : (double)v;
}

static int idle_loaded(const struct seedbox *sb)
{
	int64_t v = sb->ctx->config.idle_loaded;

	return v < 0 ? 16 : v > INT_MAX ? INT_MAX : (int)v;
}

static double idle_announce_s(const struct seedbox *sb)
{
	int64_t v = sb->ctx->config.idle_announce_s;

	return v > 0 ? (double)v : 1800;
}

/* the next announce of an unloaded repo: an interval from now, +-10% so
 * that repos unloaded together do not announce together */
static void schedule_announce(struct seedbox *sb, struct repo *r, double now)
{
	double j = 0.9 + 0.2 * (double)(rand() % 1000) / 1000.0;

	r->next_announce = now + idle_announce_s(sb) * j;
}

/* r is out of the session: leave it with the engine for peers to wake,
 * unless it must not seed (paused, stopped by a limit); if the engine will
 * not take it, back into the session */
static void make_dormant(struct seedbox *sb, struct repo *r)
{
	char tpath[PATH_MAX + 64], rpath[PATH_MAX + 64], l[400];
	struct ms_error err;
	int nt = 0;

	r->tid = 0;
	r->unloaded = 1;
	r->rate_up = r->rate_down = r->peers_n = 0;
	if (r->paused || r->limited || r->dormant)
		return;
	file_path(sb, r->id, "torrent", tpath, sizeof(tpath));
	file_path(sb, r->id, "resume", rpath, sizeof(rpath));
	if (!r->cookie)
		r->cookie = ++sb->next_cookie;
	if (!ms_engine_dormant_add(sb->eng, tpath, rpath, r->cookie, &nt, &err)) {
		r->dormant = 1;
		r->can_announce = can_announce(sb, r, nt);
		return;
	}
	logf_(sb, "%s: cannot leave it idle (%s): seeding it loaded",
	      label(r, l, sizeof(l)), err.msg);
	r->unloaded = 0;
	if (seed_add(sb, r, &err)) {
		logf_(sb, "%s: cannot seed: %s", label(r, l, sizeof(l)), err.msg);
		repo_error(r, "%s", err.msg);
	}
}

/* an unloaded repo back into the session; 0 when it is (or, taken by a
 * peer meanwhile, is on its way: its woken alert follows) */
static int load(struct seedbox *sb, struct repo *r, struct ms_error *err)
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
static int undormant(struct seedbox *sb, struct repo *r)
{
	if (!r->dormant)
		return 0;
	if (ms_engine_dormant_remove(sb->eng, r->cookie, NULL))
		return MS_EAGAIN;
	r->dormant = 0;
	return 0;
}

/* a peer loaded dormant repo r (torrent a->torrent, 0 if that failed) */
static void woken(struct seedbox *sb, const struct lts_alert *a)
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
	r->busy_at = now_s(sb);
	if (!a->torrent) {
		logf_(sb, "%s: cannot load it for a peer (%s): loading it again",
		      label(r, l, sizeof(l)), a->message);
		if (seed_add(sb, r, &err)) {
			logf_(sb, "%s: cannot seed: %s", label(r, l, sizeof(l)), err.msg);
			repo_error(r, "%s", err.msg);
		}
		return;
	}
	r->tid = a->torrent;
	r->up_base = r->uploaded;
	apply_limits(sb, r);
	if (r->paused || r->limited)
		ms_engine_pause(sb->eng, r->tid, 1, NULL);
}

/* the resume data of a repo going idle is saved: out of the session (it
 * becomes dormant once the session says it is out) */
static void unload(struct seedbox *sb, struct repo *r)
{
	save_record(sb, r);
	if (ms_engine_remove(sb->eng, r->tid, LTS_REMOVE_QUIET, NULL)) {
		r->sleeping = 0;
		return;
	}
	r->sleeping = 2;
	schedule_announce(sb, r, now_s(sb));
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
static void idle_cap(struct seedbox *sb, double now)
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
static void idle_tick(struct seedbox *sb, double now)
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
				logf_(sb, "%s: cannot load it to announce: %s",
				      label(r, l, sizeof(l)), err.msg);
				repo_error(r, "%s", err.msg);
				make_dormant(sb, r);
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

	logf_(r->sb, "%s: %s%s", label(r, l, sizeof(l)), error ? "error: " : "", msg);
	if (error)
		repo_error(r, "%s", msg);
}

static void job_event(void *ud, json_t *ev)
{
	(void)ud;
	json_decref(ev);
}

static struct repo *find_rev(struct seedbox *sb, const struct repo *not, const char *repo,
			     const char *rev, const char *cache)
{
	for (struct repo *r = sb->repos; r; r = r->next)
		if (r != not && !strcmp(r->repo, repo) && !strcmp(r->rev, rev) &&
		    !strcmp(r->cache, cache))
			return r;
	return NULL;
}

static void remove_repo(struct seedbox *sb, struct repo *r, int data);
static void subs_after_seed(struct seedbox *sb, struct repo *r);

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
	struct seedbox *sb = r->sb;
	struct getjob_info in;
	char l[400], tpath[PATH_MAX + 64];
	const char **paths = NULL;
	int *prio = NULL, n;
	size_t blen;
	const unsigned char *bytes;
	struct ms_error err;

	getjob_info(r->job, &in);
	if (in.rev)
		snprintf(r->rev, sizeof(r->rev), "%s", in.rev);
	if (code) {
		struct repo *twin = in.rev ? find_rev(sb, r, r->repo, in.rev, r->cache) : NULL;
		if (in.id)
			ms_engine_remove(sb->eng, in.id, 0, NULL);
		getjob_free(r->job);
		r->job = NULL;
		r->tid = 0;
		if (twin) {
			logf_(sb, "%s: already kept (%s)", label(r, l, sizeof(l)), twin->id);
			remove_repo(sb, r, 0);
		} else {
			r->st = R_FAILED;
			r->exit_code = code;
			if (!r->error)
				repo_error(r, "failed (exit code %d)", code);
			logf_(sb, "%s: download failed", label(r, l, sizeof(l)));
			save_record(sb, r);
		}
		start_queued(sb);
		return;
	}
	n = in.meta ? ms_torrent_num_files(in.meta) : 0;
	paths = calloc((size_t)n + 1, sizeof(*paths));
	prio = calloc((size_t)n + 1, sizeof(*prio));
	bytes = in.meta ? ms_torrent_bytes(in.meta, &blen) : NULL;
	file_path(sb, r->id, "torrent", tpath, sizeof(tpath));
	if (!paths || !prio || !bytes || getjob_mapping(r->job, paths, prio, n) ||
	    set_files(r, paths, prio, n) ||
	    ms_write_file_atomic(tpath, bytes, blen, 0600, &err)) {
		repo_error(r, "cannot keep its torrent");
		r->st = R_FAILED;
		ms_engine_remove(sb->eng, in.id, 0, NULL);
		r->tid = 0;
	} else {
		r->st = R_SEEDING;
		r->tid = in.id;
		r->busy_at = now_s(sb);
		if (!r->repo_dir && in.repo_dir)
			r->repo_dir = ms_keep_strdup(in.repo_dir);
		r->up_base = r->uploaded; /* uploads while downloading count too */
		repo_error(r, NULL);
		r->size = in.size;
		r->completed = r->last_active = time(NULL);
		r->downloaded += in.from_peers + in.from_mirrors;
		r->from_mirrors += in.from_mirrors;
		r->checks += in.checks;
		for (size_t i = 0; i < in.n_trackers; i++)
			ms_strlist_push_copy(&r->trackers, in.trackers[i]);
		r->can_announce = can_announce(sb, r, ms_torrent_num_trackers(in.meta));
		logf_(sb, "%s: downloaded %" PRId64 " bytes in %.1f s, seeding",
		      label(r, l, sizeof(l)), in.from_peers + in.from_mirrors, in.seconds);
		apply_limits(sb, r);
		if (r->paused)
			ms_engine_pause(sb->eng, r->tid, 1, NULL);
		ms_engine_save_resume(sb->eng, r->tid, 1, NULL);
	}
	free(paths);
	free(prio);
	getjob_free(r->job);
	r->job = NULL;
	save_record(sb, r);
	if (r->st == R_SEEDING)
		subs_after_seed(sb, r);
	start_queued(sb);
}

static int job_start(struct seedbox *sb, struct repo *r)
{
	struct getjob_hooks h = { job_line, job_event, job_done, r };
	struct getjob_opts o;
	struct mirror_opts mo = { 0 };
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
	o.peer_discovery = sb->peer_discovery;
	repo_error(r, NULL);
	r->st = R_DOWNLOADING;
	rc = getjob_start(&r->job, sb->ctx, sb->loop, sb->eng, &o, &h, &err);
	if (rc) {
		r->st = R_FAILED;
		repo_error(r, "%s", err.msg);
		save_record(sb, r);
	}
	return rc;
}

static int max_active(const struct seedbox *sb)
{
	return sb->ctx->config.max_active_downloads > 0
		       ? (int)sb->ctx->config.max_active_downloads
		       : 3;
}

static void start_queued(struct seedbox *sb)
{
	int active = 0;

	if (sb->closing)
		return;
	for (struct repo *r = sb->repos; r; r = r->next)
		active += r->st == R_DOWNLOADING;
	for (struct repo *r = sb->repos; r && active < max_active(sb); r = r->next)
		if (r->st == R_QUEUED && !r->paused && !job_start(sb, r))
			active++;
	/* the last download ended: what the downloads left free goes back
	 * to the system, not kept for the months of seeding that follow */
	if (!active && sb->busy)
		trim_memory();
	sb->busy = active > 0;
}

/* ---- removing and evicting ------------------------------------------------ */

static void unlink_files(struct seedbox *sb, const struct repo *r)
{
	static const char *const ext[] = { "torrent", "resume", "json" };
	char path[PATH_MAX + 64];

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		file_path(sb, r->id, ext[i], path, sizeof(path));
		unlink(path);
	}
}

/* drop the revision's snapshot and the blobs only it used; 0, or
 * MS_EAGAIN while a download of the same repo holds its lock */
static int remove_data(struct seedbox *sb, struct repo *r, struct ms_error *err)
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

static void remove_repo(struct seedbox *sb, struct repo *r, int data)
{
	struct repo **p;
	struct ms_error err;
	char l[400];

	if (r->job) {
		struct getjob_info in;
		getjob_info(r->job, &in);
		if (in.id && in.id != r->tid)
			ms_engine_remove(sb->eng, in.id, 0, NULL);
		getjob_free(r->job);
		r->job = NULL;
	}
	if (r->tid)
		ms_engine_remove(sb->eng, r->tid, 0, NULL);
	r->tid = 0;
	undormant(sb, r); /* (a peer waking it finds it gone) */
	if (data && remove_data(sb, r, &err))
		logf_(sb, "%s: cannot remove its files: %s", label(r, l, sizeof(l)), err.msg);
	unlink_files(sb, r);
	for (p = &sb->repos; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	repo_free(r);
}

/* the disk budget: evict the least recently active unpinned repos that
 * are not downloading until the rest fits */
static void enforce_budget(struct seedbox *sb)
{
	int64_t budget = sb->ctx->config.disk_budget, used = 0;
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
		if (!victim || undormant(sb, victim))
			break; /* (a peer is loading it: not idle after all) */
		if (victim->tid)
			ms_engine_remove(sb->eng, victim->tid, 0, NULL);
		victim->tid = 0;
		if (remove_data(sb, victim, &err) == MS_EAGAIN) {
			/* its blobs may be in use: try again at the next look */
			if (victim->unloaded)
				make_dormant(sb, victim);
			else
				seed_add(sb, victim, &err);
			break;
		}
		used -= victim->size;
		sb->evicted++;
		logf_(sb, "%s: evicted (disk budget %" PRId64 " bytes, %" PRId64 " in use)",
		      label(victim, l, sizeof(l)), budget, used + victim->size);
		remove_repo(sb, victim, 0);
	}
}

/* ---- the tick ------------------------------------------------------------- */

static void stats(struct seedbox *sb, double dt)
{
	const struct ms_config *c = &sb->ctx->config;
	char l[400];
	struct lts_status *all;
	int *have;
	size_t n, k = 0;

	if (repos_status(sb, &all, &have, &n))
		return;
	for (struct repo *r = sb->repos; r; r = r->next, k++) {
		struct lts_status st = all[k];
		if (r->unloaded && r->st == R_SEEDING && !r->paused && !r->limited) {
			/* idle, but seeding all the same */
			r->seed_s += (int64_t)dt;
			if (c->seed_time_limit_s > 0 && r->seed_s >= c->seed_time_limit_s) {
				r->limited = 1;
				undormant(sb, r);
				logf_(sb, "%s: seed limit reached (ratio %.2f, %" PRId64
				      " s): stopped", label(r, l, sizeof(l)),
				      r->size > 0 ? (double)r->uploaded / (double)r->size : 0.0,
				      r->seed_s);
				save_record(sb, r);
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
			logf_(sb, "%s: seed limit reached (ratio %.2f, %" PRId64 " s): stopped",
			      label(r, l, sizeof(l)), (double)r->uploaded / (double)r->size,
			      r->seed_s);
			save_record(sb, r);
		}
	}
	free(all);
	free(have);
}

static void subs_tick(struct seedbox *sb);
static void sub_free(struct sub *s);

void seedbox_tick(struct seedbox *sb)
{
	double now = now_s(sb);

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
			getjob_tick(r->job);
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
				save_record(sb, r);
			}
	}
	subs_tick(sb);
}

void seedbox_alert(struct seedbox *sb, const struct lts_alert *a)
{
	char path[PATH_MAX + 64], l[400];
	struct repo *r;

	for (r = sb->repos; r; r = r->next)
		if (r->job && !r->job_ended)
			getjob_alert(r->job, a);
	if (a->type == LTS_ALERT_TORRENT_WOKEN) {
		woken(sb, a);
		return;
	}
	if (!a->torrent)
		return;
	for (r = sb->repos; r && r->tid != a->torrent; r = r->next)
		;
	if (!r && a->type == LTS_ALERT_STATE_CHANGED && a->value == LTS_STATE_CHECKING_FILES) {
		/* a download that ended and is not handed over yet */
		for (r = sb->repos; r; r = r->next) {
			struct getjob_info in;
			if (!r->job || !r->job_ended)
				continue;
			getjob_info(r->job, &in);
			if (in.id == a->torrent) {
				r->checks++;
				return;
			}
		}
	}
	if (!r)
		return;
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
		file_path(sb, r->id, "resume", path, sizeof(path));
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
			make_dormant(sb, r);
			sb->unloads++; /* freed now: trimmed at the next look */
		}
		break;
	case LTS_ALERT_FILE_ERROR:
	case LTS_ALERT_TORRENT_ERROR:
		if (r->st != R_SEEDING)
			break;
		repo_error(r, "%s", a->message);
		logf_(sb, "%s: error: %s", label(r, l, sizeof(l)), a->message);
		break;
	default:
		break;
	}
}

/* ---- opening and closing -------------------------------------------------- */

json_t *seedbox_add(struct seedbox *sb, json_t *params, int *code, char *msg, size_t msglen);

/* seed-store: every complete snapshot of the default cache that is not
 * kept yet is added (verified once, like any add; kept from then on) */
static void seed_store(struct seedbox *sb)
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
			json_t *p, *res;
			int code;
			char m[300];
			if (ms_revision_check(se->d_name) || find_rev(sb, NULL, repo, se->d_name, cache))
				continue;
			snprintf(spec, sizeof(spec), "%s@%s", repo, se->d_name);
			p = json_pack("{s:s,s:s}", "spec", spec, "cache_dir", cache);
			res = seedbox_add(sb, p, &code, m, sizeof(m));
			added += res != NULL;
			json_decref(res);
			json_decref(p);
		}
		closedir(sd);
	}
	closedir(d);
	if (added)
		logf_(sb, "seed-store: %d snapshots of '%s' added", added, cache);
}

/* the seeding repos of last time go back into the session a few per turn
 * of the loop: the control socket answers meanwhile, and libtorrent's
 * alerts of one batch are taken before the next (all at once, the alert
 * queues grow to hold tens of thousands and keep that memory) */
#define RESTORE_BATCH 25

static void restore_cb(uv_idle_t *h)
{
	struct seedbox *sb = h->data;
	struct repo *r = sb->repos;
	char l[400];

	for (int n = 0; r && n < RESTORE_BATCH; r = r->next) {
		struct ms_error err;
		char rpath[PATH_MAX + 64];
		if (!r->restoring)
			continue;
		r->restoring = 0;
		n++;
		file_path(sb, r->id, "resume", rpath, sizeof(rpath));
		if (idle_unload_s(sb) > 0 && access(rpath, F_OK) == 0) {
			/* idle until a peer or its announce comes (a few a
			 * second: its trackers may have forgotten it) */
			r->next_announce = now_s(sb) + 0.5 * sb->restored;
			make_dormant(sb, r);
			sb->restored++;
		} else if (seed_add(sb, r, &err)) {
			logf_(sb, "%s: cannot seed: %s", label(r, l, sizeof(l)), err.msg);
			repo_error(r, "%s", err.msg);
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
	logf_(sb, "seeding %d repos again%s", sb->restored,
	      sb->restore_failed ? " (some failed)" : "");
	trim_memory(); /* what the adds left free goes back to the system */
}

int seedbox_open(struct seedbox **out, struct ms_ctx *ctx, uv_loop_t *loop,
		 struct ms_engine *e, int peer_discovery, const struct seedbox_hooks *h,
		 struct ms_error *err)
{
	struct seedbox *sb;
	char state[PATH_MAX - 64], path[PATH_MAX + 64];
	struct dirent **names = NULL;
	int n, rc, seeding = 0;


	*out = NULL;
	if ((rc = ms_state_dir(state, sizeof(state), err)))
		return rc;
	if (!(sb = calloc(1, sizeof(*sb))))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	sb->ctx = ctx;
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
	/* every repo kept last time: seeding ones straight into the session
	 * with their resume data, downloads queued again */
	n = scandir(path, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *dot = strrchr(names[i]->d_name, '.');
		struct repo *r;
		char p[PATH_MAX + 400];
		if (dot && !strcmp(dot, ".json")) {
			snprintf(p, sizeof(p), "%s/%s", path, names[i]->d_name);
			if (!(r = record_load(sb, p))) {
				logf_(sb, "ignoring '%s': not a valid record", p);
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
	seedbox_subs_load(sb);
	if (ctx->config.seed_store)
		seed_store(sb);
	start_queued(sb);
	return 0;
}

void seedbox_shutdown(struct seedbox *sb)
{
	/* counters and queued downloads; resume data comes with the
	 * engine's shutdown */
	sb->closing = 1;
	if (sb->restore_on) {
		uv_close((uv_handle_t *)&sb->restore, NULL);
		sb->restore_on = 0;
	}
	stats(sb, now_s(sb) - sb->last_stats);
	for (struct repo *r = sb->repos; r; r = r->next)
		save_record(sb, r); /* a download is saved as queued; its job
				       keeps its resume data meanwhile */
	seedbox_subs_save(sb);
	if (sb->http) {
		ms_http_close(sb->http);
		sb->http = NULL;
	}
}

void seedbox_free(struct seedbox *sb)
{
	if (!sb)
		return;
	while (sb->repos) {
		struct repo *r = sb->repos;
		sb->repos = r->next;
		repo_free(r);
	}
	if (sb->http)
		ms_http_close(sb->http); /* no poll callback after this */
	for (int k = 0; k < 2; k++) {
		struct sub **list = k ? &sb->dead_subs : &sb->subs;
		while (*list) {
			struct sub *s = *list;
			*list = s->next;
			if (s->poll) {
				free(s->poll->refs);
				free(s->poll);
			}
			sub_free(s);
		}
	}
	free(sb);
}

/* ---- operations (the RPC methods' bodies) ---------------------------------- */

#define FAIL(c, ...) \
	do { \
		*code = (c); \
		snprintf(msg, msglen, __VA_ARGS__); \
		return NULL; \
	} while (0)

static int strlist_param(struct ms_strlist *l, json_t *params, const char *key)
{
	json_t *a = json_object_get(params, key), *v;
	size_t i;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return -1;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || ms_strlist_push_copy(l, json_string_value(v)))
			return -1;
	}
	return 0;
}

/* r as ls shows it; its status in *stp, or NULL if it has none */
static json_t *repo_json_st(struct seedbox *sb, struct repo *r, const struct lts_status *stp)
{
	struct lts_status st;
	json_t *o;
	int have = r->tid && stp;
	const char *state = state_names[r->st];

	memset(&st, 0, sizeof(st));
	if (have)
		st = *stp;

	if (r->restoring)
		state = "loading";
	else if (r->st == R_SEEDING && (r->paused || r->limited))
		state = r->limited ? "stopped" : "paused";
	else if (r->st == R_QUEUED && r->paused)
		state = "paused";
	if (have && r->st == R_SEEDING && (st.state == LTS_STATE_CHECKING_FILES ||
					   st.state == LTS_STATE_CHECKING_RESUME_DATA))
		state = "checking";
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,"
		      "s:i,s:i,s:I,s:i}",
		      "id", r->id, "repo", r->repo, "want", r->want, "revision", r->rev,
		      "state", state, "cache", r->cache, "pinned", r->pinned, "size",
		      (json_int_t)r->size, "done",
		      (json_int_t)(have ? st.total_wanted_done
					: r->st == R_SEEDING ? r->size : 0),
		      "uploaded", (json_int_t)(have && r->up_base + st.payload_upload > r->uploaded
						       ? r->up_base + st.payload_upload
						       : r->uploaded),
		      "downloaded", (json_int_t)r->downloaded, "from_mirrors",
		      (json_int_t)r->from_mirrors, "seed_seconds", (json_int_t)r->seed_s,
		      "upload_rate", have ? st.upload_rate : 0, "download_rate",
		      have ? st.download_rate : 0, "peers", have ? st.num_peers : 0,
		      "upload_limit", r->up_limit, "download_limit", r->down_limit,
		      "last_active", (json_int_t)r->last_active, "checks", r->checks);
	if (!o)
		return NULL;
	json_object_set_new(o, "ratio", json_real(r->size > 0 ? (double)r->uploaded /
							 (double)r->size : 0.0));
	json_object_set_new(o, "total", json_integer(have && st.total_wanted ? st.total_wanted
									  : r->size));
	if (r->st == R_FAILED)
		json_object_set_new(o, "exit_code", json_integer(r->exit_code));
	if (r->job) {
		struct getjob_info in;
		getjob_info(r->job, &in);
		json_object_set_new(o, "mirror_bytes", json_integer(in.from_mirrors));
		if (in.repo_dir && in.rev) {
			char snap[PATH_MAX + 64];
			snprintf(snap, sizeof(snap), "%s/snapshots/%s", in.repo_dir, in.rev);
			json_object_set_new(o, "snapshot", json_string(snap));
		}
	}
	if (r->st == R_SEEDING) {
		char snap[PATH_MAX + 64];
		const char *dir = repo_dir(r, NULL);
		if (dir) {
			snprintf(snap, sizeof(snap), "%s/snapshots/%s", dir, r->rev);
			json_object_set_new(o, "snapshot", json_string(r->local_dir ? r->local_dir
										  : snap));
		}
	}
	if (r->st == R_SEEDING)
		json_object_set_new(o, "loaded", json_boolean(r->tid != 0));
	if (r->error)
		json_object_set_new(o, "error", json_string(r->error));
	if (r->sub)
		json_object_set_new(o, "subscription", json_string(r->sub));
	return o;
}

static json_t *repo_json(struct seedbox *sb, struct repo *r)
{
	struct lts_status st;

	return repo_json_st(sb, r, r->tid && !ms_engine_status(sb->eng, r->tid, &st, NULL)
					   ? &st : NULL);
}

/* does target (an id, ORG/NAME, ORG/NAME@REV or @REF, or a revision
 * prefix of 7+ hex) name r? */
static int matches(const struct repo *r, const char *target)
{
	const char *at = strchr(target, '@');
	size_t rl = at ? (size_t)(at - target) : strlen(target);

	if (!strcmp(target, r->id))
		return 1;
	if (strlen(r->repo) != rl || strncmp(r->repo, target, rl))
		return 0;
	if (!at)
		return 1;
	at++;
	return !strcmp(at, r->want) ||
	       (strlen(at) >= 7 && strlen(at) <= 40 && !strncmp(r->rev, at, strlen(at)));
}

static const char *target_param(json_t *params)
{
	return json_string_value(json_object_get(params, "target"));
}

static int abs_path(const char *in, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (*in == '/')
		return snprintf(out, len, "%s", in) >= (int)len;
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	return snprintf(out, len, "%s/%s", cwd, in) >= (int)len;
}

static struct repo *repo_new(struct seedbox *sb, const char *spec, const char *cache,
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
	if (rl >= REPO_MAX || (at && strlen(at + 1) >= WANT_MAX)) {
		ms_error_set(err, MS_EINVAL, "'%s' is too long", spec);
		goto fail;
	}
	if (set_names(r, spec, rl, at ? at + 1 : "main", "")) {
		ms_error_set(err, MS_ENOMEM, "out of memory");
		goto fail;
	}
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
	repo_free(r);
	return NULL;
}

static void repo_append(struct seedbox *sb, struct repo *r)
{
	struct repo **tail = &sb->repos;

	while (*tail)
		tail = &(*tail)->next;
	*tail = r;
}

json_t *seedbox_add(struct seedbox *sb, json_t *params, int *code, char *msg, size_t msglen)
{
	const char *spec = json_string_value(json_object_get(params, "spec"));
	const char *cache_in = json_string_value(json_object_get(params, "cache_dir"));
	const char *local = json_string_value(json_object_get(params, "local_dir"));
	char cache[PATH_MAX], lbuf[PATH_MAX];
	struct ms_error err;
	struct repo *r;
	json_t *v;

	if (!spec)
		FAIL(-32602, "add needs \"spec\": \"ORG/NAME[@REV]\"");
	if (ms_store_cache_dir(cache_in, cache, sizeof(cache), &err) ||
	    (cache_in && abs_path(cache_in, cache, sizeof(cache))))
		FAIL(-32602, "bad cache_dir: %s", cache_in ? cache_in : err.msg);
	if (!(r = repo_new(sb, spec, cache, &err)))
		FAIL(-32602, "%s", err.msg);
	/* the same request twice: the repo already kept (a failed one tries
	 * again) */
	for (struct repo *o = sb->repos; o; o = o->next)
		if (!strcmp(o->repo, r->repo) && !strcmp(o->cache, r->cache) &&
		    (!strcmp(o->want, r->want) || !strcmp(o->rev, r->want))) {
			repo_free(r);
			if (o->st == R_FAILED) {
				o->st = R_QUEUED;
				repo_error(o, NULL);
				start_queued(sb);
			}
			v = repo_json(sb, o);
			json_object_set_new(v, "existing", json_true());
			return v;
		}
	if (strlist_param(&r->indexes, params, "indexes") ||
	    strlist_param(&r->includes, params, "include") ||
	    strlist_param(&r->excludes, params, "exclude") ||
	    strlist_param(&r->peers, params, "peers")) {
		repo_free(r);
		FAIL(-32602, "indexes, include, exclude and peers are arrays of strings");
	}
	if (local && (abs_path(local, lbuf, sizeof(lbuf)) || !(r->local_dir = ms_keep_strdup(lbuf)))) {
		repo_free(r);
		FAIL(-32602, "bad local_dir");
	}
	r->pinned = json_is_true(json_object_get(params, "pinned"));
	r->paused = json_is_true(json_object_get(params, "paused"));
	r->up_limit = (int)json_integer_value(json_object_get(params, "upload_limit"));
	r->down_limit = (int)json_integer_value(json_object_get(params, "download_limit"));
	if ((v = json_object_get(params, "subscription")) && json_is_string(v))
		r->sub = ms_keep_strdup(json_string_value(v));
	if ((v = json_object_get(params, "ref")) && json_is_string(v)) {
		struct ms_error e2;
		if (ms_ref_check(json_string_value(v), &e2)) {
			repo_free(r);
			FAIL(-32602, "%s", e2.msg);
		}
		if (strlen(json_string_value(v)) >= WANT_MAX) {
			repo_free(r);
			FAIL(-32602, "ref '%s' is too long", json_string_value(v));
		}
		if (set_names(r, r->repo, strlen(r->repo), r->want, json_string_value(v))) {
			repo_free(r);
			FAIL(-32603, "out of memory");
		}
	}
	r->st = R_QUEUED;
	repo_append(sb, r);
	if (save_record(sb, r)) {
		remove_repo(sb, r, 0);
		FAIL(-32603, "cannot save the daemon's state (see its log)");
	}
	logf_(sb, "%s@%s: added (%s)", r->repo, r->want, r->id);
	start_queued(sb);
	return repo_json(sb, r);
}

json_t *seedbox_list(struct seedbox *sb, json_t *params, int *code, char *msg, size_t msglen)
{
	const char *t = target_param(params);
	json_t *a;
	struct lts_status *st;
	int *have;
	size_t n, k = 0;

	if (repos_status(sb, &st, &have, &n))
		FAIL(-32603, "out of memory");
	a = json_array();
	for (struct repo *r = sb->repos; a && r; r = r->next, k++)
		if (!t || matches(r, t))
			json_array_append_new(a, repo_json_st(sb, r, have[k] ? &st[k] : NULL));
	free(st);
	free(have);
	return a;
}

json_t *seedbox_remove(struct seedbox *sb, json_t *params, int *code, char *msg,
		       size_t msglen)
{
	const char *t = target_param(params);
	int data = json_is_true(json_object_get(params, "data")), n = 0;
	struct repo *r, *next;
	char l[400];

	if (!t)
		FAIL(-32602, "rm needs \"target\": an id or ORG/NAME[@REV]");
	for (r = sb->repos; r; r = next) {
		next = r->next;
		if (!matches(r, t))
			continue;
		logf_(sb, "%s: removed%s", label(r, l, sizeof(l)), data ? " with its files" : "");
		remove_repo(sb, r, data);
		n++;
	}
	if (!n)
		FAIL(-32001, "no repo matches '%s'", t);
	start_queued(sb);
	return json_pack("{s:i}", "removed", n);
}

json_t *seedbox_pause(struct seedbox *sb, json_t *params, int pause, int *code, char *msg,
		      size_t msglen)
{
	const char *t = target_param(params);
	int n = 0;

	if (!t)
		FAIL(-32602, "needs \"target\": an id or ORG/NAME[@REV]");
	for (struct repo *r = sb->repos; r; r = r->next) {
		if (!matches(r, t))
			continue;
		n++;
		r->paused = pause;
		if (!pause)
			r->limited = 0; /* the operator wants it back */
		if (r->tid)
			ms_engine_pause(sb->eng, r->tid, pause, NULL);
		else if (r->unloaded && pause)
			undormant(sb, r); /* (a peer waking it finds it paused) */
		else if (r->unloaded)
			make_dormant(sb, r);
		save_record(sb, r);
	}
	if (!n)
		FAIL(-32001, "no repo matches '%s'", t);
	if (!pause)
		start_queued(sb);
	return json_pack("{s:i}", "changed", n);
}

static int rate_param(json_t *params, const char *key, int *out)
{
	json_t *v = json_object_get(params, key);
	int64_t x;

	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= INT32_MAX) {
		*out = (int)json_integer_value(v);
		return 1;
	}
	if (json_is_string(v) && !ms_parse_size(json_string_value(v), &x) && x <= INT32_MAX) {
		*out = (int)x;
		return 1;
	}
	return -1;
}

json_t *seedbox_limits(struct seedbox *sb, json_t *params, int *code, char *msg,
		       size_t msglen)
{
	const char *t = target_param(params);
	int up = -1, down = -1, a, b, n = 0;

	a = rate_param(params, "upload", &up);
	b = rate_param(params, "download", &down);
	if (a < 0 || b < 0)
		FAIL(-32602, "upload and download are bytes/s (a number, or a size such as "
		     "\"2M\"; 0: none)");
	if (!t) {
		/* the daemon's: in force until a restart or a reload of the
		 * configuration file */
		struct ms_config *c = &sb->ctx->config;
		json_t *ratio = json_object_get(params, "seed_ratio");
		json_t *stime = json_object_get(params, "seed_time");
		json_t *active = json_object_get(params, "max_active");
		int64_t budget = -1;
		json_t *bv = json_object_get(params, "disk_budget");
		char us[32], ds[32];
		struct lts_setting set[2];
		size_t k = 0;
		struct ms_error err;
		if ((ratio && (!json_is_number(ratio) || json_number_value(ratio) < 0)) ||
		    (stime && (!json_is_integer(stime) || json_integer_value(stime) < 0)) ||
		    (active && (!json_is_integer(active) || json_integer_value(active) < 0 ||
				json_integer_value(active) > 10000)))
			FAIL(-32602, "seed_ratio is a number, seed_time seconds, max_active a "
			     "count (0: none / the default)");
		if (bv && ((json_is_integer(bv) && (budget = json_integer_value(bv)) < 0) ||
			   (json_is_string(bv) && ms_parse_size(json_string_value(bv), &budget)) ||
			   (!json_is_integer(bv) && !json_is_string(bv))))
			FAIL(-32602, "disk_budget is bytes (a number, or a size such as \"500G\")");
		if (up >= 0) {
			c->upload_limit = up;
			snprintf(us, sizeof(us), "%d", up);
			set[k++] = (struct lts_setting){ "upload_rate_limit", us };
		}
		if (down >= 0) {
			c->download_limit = down;
			snprintf(ds, sizeof(ds), "%d", down);
			set[k++] = (struct lts_setting){ "download_rate_limit", ds };
		}
		if (k && ms_engine_apply(sb->eng, set, k, &err))
			FAIL(-32603, "%s", err.msg);
		if (ratio)
			c->seed_ratio_limit = json_number_value(ratio);
		if (stime)
			c->seed_time_limit_s = json_integer_value(stime);
		if (active)
			c->max_active_downloads = json_integer_value(active);
		if (bv)
			c->disk_budget = budget;
		if (active)
			start_queued(sb);
		return json_pack("{s:I,s:I,s:f,s:I,s:I,s:i}", "upload", (json_int_t)c->upload_limit,
				 "download", (json_int_t)c->download_limit, "seed_ratio",
				 c->seed_ratio_limit, "seed_time", (json_int_t)c->seed_time_limit_s,
				 "disk_budget", (json_int_t)c->disk_budget, "max_active",
				 max_active(sb));
	}
	for (struct repo *r = sb->repos; r; r = r->next) {
		if (!matches(r, t))
			continue;
		n++;
		if (up >= 0)
			r->up_limit = up;
		if (down >= 0)
			r->down_limit = down;
		if (r->tid)
			ms_engine_set_limits(sb->eng, r->tid, r->up_limit, r->down_limit, NULL);
		save_record(sb, r);
	}
	if (!n)
		FAIL(-32001, "no repo matches '%s'", t);
	return json_pack("{s:i}", "changed", n);
}

json_t *seedbox_status(struct seedbox *sb)
{
	int64_t up = 0, down = 0, disk = 0;
	int counts[4] = { 0 }, rate_up = 0, rate_down = 0, peers = 0, subs = 0, loaded = 0;
	struct lts_status *st = NULL;
	int *have = NULL;
	size_t n, k = 0;

	repos_status(sb, &st, &have, &n);
	for (struct repo *r = sb->repos; r; r = r->next, k++) {
		counts[r->st]++;
		loaded += r->tid != 0;
		disk += r->size;
		up += r->uploaded;
		down += r->downloaded;
		if (r->tid && have && have[k]) {
			rate_up += st[k].upload_rate;
			rate_down += st[k].download_rate;
			peers += st[k].num_peers;
		}
	}
	free(st);
	free(have);
	for (struct sub *s = sb->subs; s; s = s->next)
		subs++;
	return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:i,s:i,s:i,s:I,s:I,s:i,s:i,"
			 "s:I}",
			 "repos", counts[0] + counts[1] + counts[2] + counts[3], "seeding",
			 counts[R_SEEDING], "loaded", loaded, "downloading", counts[R_DOWNLOADING], "queued",
			 counts[R_QUEUED], "failed", counts[R_FAILED], "uploaded",
			 (json_int_t)up, "downloaded", (json_int_t)down, "disk_used",
			 (json_int_t)disk, "upload_rate", rate_up, "download_rate", rate_down,
			 "peers", peers, "disk_budget",
			 (json_int_t)sb->ctx->config.disk_budget, "evicted",
			 (json_int_t)sb->evicted, "upload_limit", (int)sb->ctx->config.upload_limit,
			 "download_limit", (int)sb->ctx->config.download_limit, "hash_failures",
			 (json_int_t)sb->hash_failures);
	(void)subs;
}

/* ---- subscriptions -------------------------------------------------------- */

static void sub_free(struct sub *s)
{
	ms_strlist_release(&s->indexes);
	free(s->cache);
	free(s);
}

static json_t *sub_json(const struct sub *s)
{
	json_t *o = json_pack("{s:s,s:s,s:o,s:s,s:i,s:s,s:s,s:i}", "repo", s->repo, "ref",
			      s->ref, "indexes", strlist_json(&s->indexes), "cache", s->cache,
			      "keep", s->keep, "revision", s->rev, "etag", s->etag, "failures",
			      s->failures);
	if (o && s->error[0])
		json_object_set_new(o, "error", json_string(s->error));
	return o;
}

int seedbox_subs_save(struct seedbox *sb)
{
	char path[PATH_MAX + 32], *txt;
	json_t *a = json_array();
	int rc;

	for (struct sub *s = sb->subs; a && s; s = s->next)
		json_array_append_new(a, sub_json(s));
	txt = a ? json_dumps(a, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(a);
	if (!txt)
		return MS_ENOMEM;
	snprintf(path, sizeof(path), "%s/subscriptions.json", sb->dir);
	rc = ms_write_file_atomic(path, txt, strlen(txt), 0600, NULL);
	free(txt);
	return rc;
}

static double interval_s(const struct seedbox *sb)
{
	int64_t v = sb->ctx->config.subscribe_interval_s;

	return v > 0 ? (double)v : 600.0;
}

/* the next look: the interval with +-10% jitter, or after failures a
 * doubling delay (5 s, 10 s, ...) capped at the interval */
static void schedule(struct seedbox *sb, struct sub *s)
{
	double iv = interval_s(sb), d = iv;

	if (s->failures) {
		d = 5.0 * (double)(1u << (s->failures < 16 ? s->failures - 1 : 15));
		if (d > iv)
			d = iv;
	}
	d *= 0.9 + 0.2 * (double)randombytes_uniform(1000) / 1000.0;
	s->next_poll = now_s(sb) + d;
}

static struct sub *sub_new(struct seedbox *sb, const char *repo, const char *ref,
			   const char *cache)
{
	struct sub *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->sb = sb;
	snprintf(s->repo, sizeof(s->repo), "%s", repo);
	snprintf(s->ref, sizeof(s->ref), "%s", ref);
	if (!(s->cache = strdup(cache))) {
		free(s);
		return NULL;
	}
	return s;
}

int seedbox_subs_load(struct seedbox *sb)
{
	char path[PATH_MAX + 32];
	unsigned char *buf = NULL;
	size_t len, i;
	json_t *a, *o;

	snprintf(path, sizeof(path), "%s/subscriptions.json", sb->dir);
	if (access(path, F_OK) || ms_read_file(path, RECORD_MAX, &buf, &len, NULL))
		return 0;
	a = json_loadb((const char *)buf, len, 0, NULL);
	free(buf);
	json_array_foreach(a, i, o) {
		const char *repo = json_string_value(json_object_get(o, "repo"));
		const char *ref = json_string_value(json_object_get(o, "ref"));
		const char *cache = json_string_value(json_object_get(o, "cache"));
		const char *rev = json_string_value(json_object_get(o, "revision"));
		const char *etag = json_string_value(json_object_get(o, "etag"));
		struct sub *s;
		if (!repo || !ref || !cache || ms_repo_check(repo, NULL, 0, NULL) ||
		    ms_ref_check(ref, NULL) || !(s = sub_new(sb, repo, ref, cache)))
			continue;
		strlist_from(&s->indexes, json_object_get(o, "indexes"));
		s->keep = (int)json_integer_value(json_object_get(o, "keep"));
		snprintf(s->rev, sizeof(s->rev), "%s", rev && !ms_revision_check(rev) ? rev : "");
		snprintf(s->etag, sizeof(s->etag), "%s", etag ? etag : "");
		s->next = sb->subs;
		sb->subs = s;
	}
	json_decref(a);
	return 0;
}

/* the index to ask: the subscription's first, else the default */
static const char *sub_index(const struct seedbox *sb, const struct sub *s, char *buf,
			     size_t len)
{
	const char *v = getenv("MODELSWARM_INDEX");

	if (s->indexes.n)
		return s->indexes.v[0];
	if (!(v && *v))
		v = sb->ctx->config.index;
	if (!v)
		return NULL;
	snprintf(buf, len, "%.*s", (int)strcspn(v, " \t"), v);
	return buf;
}


static void poll_fail(struct poll *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void poll_fail(struct poll *p, const char *fmt, ...)
{
	struct sub *s = p->s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	s->failures++;
	logf_(s->sb, "subscription %s@%s: %s (trying again later)", s->repo, s->ref, s->error);
}

static void poll_end(struct poll *p)
{
	struct sub *s = p->s;
	struct seedbox *sb = s->sb;

	s->poll = NULL;
	free(p->refs);
	free(p);
	if (s->dead) {
		struct sub **pp;
		for (pp = &sb->dead_subs; *pp; pp = &(*pp)->next)
			if (*pp == s) {
				*pp = s->next;
				break;
			}
		sub_free(s);
		return;
	}
	schedule(sb, s);
}

static void on_refs_sig(void *ud, int status, unsigned char *body, size_t len,
			const char *m)
{
	struct poll *p = ud;
	struct sub *s = p->s;
	struct seedbox *sb = s->sb;
	struct ms_refs refs;
	struct ms_error err;
	const struct ms_ref *ref;
	char spec[400], rel[PATH_MAX];

	if (s->dead) {
		/* unsubscribed meanwhile */
	} else if (status) {
		poll_fail(p, "%s", m);
	} else if (ms_refs_verify(s->repo, p->refs, p->refs_len, (const char *)body, len,
				  time(NULL), 0, &refs, &err)) {
		/* a bad signature, a rollback, an expired file: refused */
		poll_fail(p, "%s", err.msg);
	} else {
		ref = ms_refs_find(&refs, s->ref);
		if (!ref) {
			poll_fail(p, "refs.json has no ref '%s'", s->ref);
		} else {
			s->failures = 0;
			s->error[0] = '\0';
			snprintf(s->etag, sizeof(s->etag), "%s", p->etag);
			if (strcmp(s->rev, ref->revision) &&
			    !find_rev(sb, NULL, s->repo, ref->revision, s->cache)) {
				json_t *params, *res;
				int code = 0;
				char msg[400];
				snprintf(spec, sizeof(spec), "%s@%s", s->repo, ref->revision);
				snprintf(rel, sizeof(rel), "%s@%s", s->repo, s->ref);
				logf_(sb, "subscription %s: new revision %s", rel, ref->revision);
				params = json_pack("{s:s,s:s,s:o,s:s,s:s}", "spec", spec,
						   "cache_dir", s->cache, "indexes",
						   strlist_json(&s->indexes), "subscription", rel,
						   "ref", s->ref);
				res = seedbox_add(sb, params, &code, msg, sizeof(msg));
				if (!res)
					logf_(sb, "subscription %s: cannot add %s: %s", rel, spec, msg);
				json_decref(res);
				json_decref(params);
			}
			memcpy(s->rev, ref->revision, 41);
			seedbox_subs_save(sb);
		}
		ms_refs_release(&refs);
	}
	free(body);
	poll_end(p);
}

static void on_refs_body(void *ud, int status, unsigned char *body, size_t len,
			 const char *m)
{
	struct poll *p = ud;
	struct sub *s = p->s;
	struct ms_error err;
	char rel[600];

	if (s->dead) {
		free(body);
		poll_end(p);
		return;
	}
	if (status == MS_EUNCHANGED) {
		s->failures = 0;
		s->error[0] = '\0';
		poll_end(p);
		return;
	}
	if (status) {
		poll_fail(p, "%s", m);
		poll_end(p);
		return;
	}
	p->refs = body;
	p->refs_len = len;
	snprintf(rel, sizeof(rel), "%s/refs.json.minisig", s->repo);
	if (ms_http_get(s->sb->http, p->index, rel, MS_SIGFILE_MAX, on_refs_sig, p, &err)) {
		poll_fail(p, "%s", err.msg);
		poll_end(p);
	}
}

static void sub_poll(struct seedbox *sb, struct sub *s)
{
	struct poll *p = calloc(1, sizeof(*p));
	struct ms_error err;
	char rel[600], ib[PATH_MAX];
	const char *index = sub_index(sb, s, ib, sizeof(ib));

	if (!p)
		return;
	p->s = s;
	s->poll = p;
	if (!index) {
		poll_fail(p, "no index: give one, or put 'index = URL' in the config file");
		poll_end(p);
		return;
	}
	snprintf(p->index, sizeof(p->index), "%s", index);
	snprintf(rel, sizeof(rel), "%s/refs.json", s->repo);
	if (ms_http_get_if(sb->http, p->index, rel, MS_REFS_MAX, s->etag, p->etag,
			   on_refs_body, p, &err)) {
		poll_fail(p, "%s", err.msg);
		poll_end(p);
	}
}

static void subs_tick(struct seedbox *sb)
{
	double now = now_s(sb);

	for (struct sub *s = sb->subs; s; s = s->next)
		if (!s->poll && now >= s->next_poll)
			sub_poll(sb, s);
}

/* a subscription's new revision is seeding: drop the oldest beyond keep */
static void subs_after_seed(struct seedbox *sb, struct repo *r)
{
	struct sub *s;
	char rel[400];
	int kept = 0;

	if (!r->sub)
		return;
	for (s = sb->subs; s; s = s->next) {
		snprintf(rel, sizeof(rel), "%s@%s", s->repo, s->ref);
		if (!strcmp(rel, r->sub))
			break;
	}
	if (!s || s->keep <= 0)
		return;
	/* newest first by completion: keep the first `keep` */
	for (;;) {
		struct repo *oldest = NULL;
		kept = 0;
		for (struct repo *o = sb->repos; o; o = o->next)
			if (o->sub && !strcmp(o->sub, r->sub) && o->st == R_SEEDING && !o->pinned) {
				kept++;
				if (o != r && (!oldest || o->completed < oldest->completed))
					oldest = o;
			}
		if (kept <= s->keep || !oldest)
			break;
		logf_(sb, "%s@%s: dropped, older than the newest %d of %s", oldest->repo,
		      oldest->rev, s->keep, r->sub);
		remove_repo(sb, oldest, 1);
	}
}

json_t *seedbox_subscribe(struct seedbox *sb, json_t *params, int *code, char *msg,
			  size_t msglen)
{
	const char *spec = json_string_value(json_object_get(params, "spec"));
	const char *cache_in = json_string_value(json_object_get(params, "cache_dir"));
	char repo[256], ref[128], cache[PATH_MAX];
	const char *at;
	struct ms_error err;
	struct sub *s;
	json_t *k = json_object_get(params, "keep");

	if (!spec)
		FAIL(-32602, "subscribe needs \"spec\": \"ORG/NAME[@REF]\"");
	at = strchr(spec, '@');
	snprintf(repo, sizeof(repo), "%.*s", at ? (int)(at - spec) : (int)strlen(spec), spec);
	snprintf(ref, sizeof(ref), "%s", at ? at + 1 : "main");
	if (ms_repo_check(repo, NULL, 0, &err) || ms_ref_check(ref, &err))
		FAIL(-32602, "%s", err.msg);
	if (!ms_revision_check(ref))
		FAIL(-32602, "subscribe follows a ref such as main, not a revision");
	if (k && (!json_is_integer(k) || json_integer_value(k) < 0 ||
		  json_integer_value(k) > 1000))
		FAIL(-32602, "keep is a number of revisions (0: all)");
	if (ms_store_cache_dir(cache_in, cache, sizeof(cache), &err) ||
	    (cache_in && abs_path(cache_in, cache, sizeof(cache))))
		FAIL(-32602, "bad cache_dir: %s", cache_in ? cache_in : err.msg);
	for (s = sb->subs; s; s = s->next)
		if (!strcmp(s->repo, repo) && !strcmp(s->ref, ref) && !strcmp(s->cache, cache))
			break;
	if (!s) {
		if (!(s = sub_new(sb, repo, ref, cache)))
			FAIL(-32603, "out of memory");
		if (strlist_param(&s->indexes, params, "indexes")) {
			sub_free(s);
			FAIL(-32602, "indexes is an array of strings");
		}
		s->next = sb->subs;
		sb->subs = s;
		logf_(sb, "subscribed to %s@%s", repo, ref);
	}
	if (k)
		s->keep = (int)json_integer_value(k);
	s->next_poll = 0; /* look now */
	if (seedbox_subs_save(sb))
		FAIL(-32603, "cannot save the subscriptions");
	return sub_json(s);
}

json_t *seedbox_unsubscribe(struct seedbox *sb, json_t *params, int *code, char *msg,
			    size_t msglen)
{
	const char *spec = json_string_value(json_object_get(params, "spec"));
	struct sub **pp;
	int n = 0;

	if (!spec)
		FAIL(-32602, "unsubscribe needs \"spec\": \"ORG/NAME[@REF]\"");
	for (pp = &sb->subs; *pp;) {
		struct sub *s = *pp;
		char rel[400];
		snprintf(rel, sizeof(rel), "%s@%s", s->repo, s->ref);
		if (!strcmp(rel, spec) || !strcmp(s->repo, spec)) {
			*pp = s->next;
			if (s->poll) {
				s->dead = 1;
				s->next = sb->dead_subs;
				sb->dead_subs = s;
			} else {
				sub_free(s);
			}
			n++;
		} else {
			pp = &s->next;
		}
	}
	if (!n)
		FAIL(-32001, "no subscription matches '%s'", spec);
	seedbox_subs_save(sb);
	logf_(sb, "unsubscribed from %s", spec);
	return json_pack("{s:i}", "removed", n);
}

json_t *seedbox_subscriptions(struct seedbox *sb)
{
	json_t *a = json_array();

	for (struct sub *s = sb->subs; a && s; s = s->next)
		json_array_append_new(a, sub_json(s));
	return a;
}

/* ---- metrics -------------------------------------------------------------- */

int seedbox_metrics(struct seedbox *sb, char **buf, size_t *len)
{
	static const struct {
		const char *name, *type, *help;
	} per[] = {
		{ "modelswarm_repo_size_bytes", "gauge", "Bytes of the repo's files." },
		{ "modelswarm_repo_uploaded_bytes_total", "counter", "Bytes uploaded to peers, all time." },
		{ "modelswarm_repo_downloaded_bytes_total", "counter", "Bytes downloaded (peers and mirrors)." },
		{ "modelswarm_repo_mirror_bytes_total", "counter", "Bytes downloaded from HTTP mirrors." },
		{ "modelswarm_repo_upload_rate_bytes", "gauge", "Upload rate, bytes/s." },
		{ "modelswarm_repo_download_rate_bytes", "gauge", "Download rate, bytes/s." },
		{ "modelswarm_repo_peers", "gauge", "Connected peers." },
		{ "modelswarm_repo_seeding", "gauge", "1 while the repo is seeding." },
	};
	struct ms_metrics_buf b;
	int64_t disk = 0, up = 0, down = 0, mirror = 0;
	int counts[4] = { 0 }, peers = 0, loaded = 0;
	size_t n = 0, k;
	struct repo *r;
	struct lts_status *st;
	int *have;

	if (repos_status(sb, &st, &have, &n))
		return MS_ENOMEM;
	for (r = sb->repos, k = 0; r; r = r->next, k++) {
		have[k] = have[k] && r->tid;
		if (have[k] && r->up_base + st[k].payload_upload > r->uploaded)
			r->uploaded = r->up_base + st[k].payload_upload;
		counts[r->st]++;
		disk += r->size;
		up += r->uploaded;
		down += r->downloaded;
		mirror += r->from_mirrors;
		peers += have[k] ? st[k].num_peers : 0;
		loaded += r->tid != 0;
	}
	ms_mb_init(&b);
	for (size_t m = 0; m < sizeof(per) / sizeof(per[0]); m++) {
		ms_mb_help(&b, per[m].name, per[m].type, per[m].help);
		for (r = sb->repos, k = 0; r; r = r->next, k++) {
			int64_t v = 0;
			switch (m) {
			case 0: v = r->size; break;
			case 1: v = r->uploaded; break;
			case 2: v = r->downloaded; break;
			case 3: v = r->from_mirrors; break;
			case 4: v = have[k] ? st[k].upload_rate : 0; break;
			case 5: v = have[k] ? st[k].download_rate : 0; break;
			case 6: v = have[k] ? st[k].num_peers : 0; break;
			default:
				v = r->st == R_SEEDING && !r->paused && !r->limited;
				break;
			}
			ms_mb_int(&b, per[m].name, v, "repo", r->repo, "revision",
				  r->rev[0] ? r->rev : r->want, "id", r->id, (char *)NULL);
		}
	}
	ms_mb_help(&b, "modelswarm_repos", "gauge", "Repos kept, by state.");
	for (int s = 0; s < 4; s++)
		ms_mb_int(&b, "modelswarm_repos", counts[s], "state", state_names[s], (char *)NULL);
	ms_mb_help(&b, "modelswarm_uploaded_bytes_total", "counter", "Bytes uploaded, all repos.");
	ms_mb_int(&b, "modelswarm_uploaded_bytes_total", up, (char *)NULL);
	ms_mb_help(&b, "modelswarm_downloaded_bytes_total", "counter", "Bytes downloaded, all repos.");
	ms_mb_int(&b, "modelswarm_downloaded_bytes_total", down, (char *)NULL);
	ms_mb_help(&b, "modelswarm_mirror_bytes_total", "counter", "Bytes from HTTP mirrors.");
	ms_mb_int(&b, "modelswarm_mirror_bytes_total", mirror, (char *)NULL);
	ms_mb_help(&b, "modelswarm_repos_loaded", "gauge",
		   "Repos in the torrent session (the others are idle).");
	ms_mb_int(&b, "modelswarm_repos_loaded", loaded, (char *)NULL);
	ms_mb_help(&b, "modelswarm_peers", "gauge", "Connected peers, all repos.");
	ms_mb_int(&b, "modelswarm_peers", peers, (char *)NULL);
	ms_mb_help(&b, "modelswarm_hash_failures_total", "counter",
		   "Pieces that failed their hash check since the daemon started.");
	ms_mb_int(&b, "modelswarm_hash_failures_total", sb->hash_failures, (char *)NULL);
	ms_mb_help(&b, "modelswarm_disk_used_bytes", "gauge", "Bytes of the repos kept.");
	ms_mb_int(&b, "modelswarm_disk_used_bytes", disk, (char *)NULL);
	ms_mb_help(&b, "modelswarm_disk_budget_bytes", "gauge", "The disk budget (0: none).");
	ms_mb_int(&b, "modelswarm_disk_budget_bytes", sb->ctx->config.disk_budget, (char *)NULL);
	ms_mb_help(&b, "modelswarm_evicted_total", "counter",
		   "Repos evicted for the disk budget since the daemon started.");
	ms_mb_int(&b, "modelswarm_evicted_total", sb->evicted, (char *)NULL);
	free(st);
	free(have);
	return ms_mb_finish(&b, buf, len);
}
