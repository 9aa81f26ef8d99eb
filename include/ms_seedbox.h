/*
 * The daemon's repos (seedbox.c, seedbox-subs.c, seedbox-rpc.c): each is downloaded by a getjob on the
 * daemon's engine, then seeded from the cache. Every repo is kept under
 * <state>/daemon/repos/<id>.{json,torrent,resume,manifest.json} (the
 * last: the verified manifest, kept when the download ends), written atomically, so
 * that a restart puts every seeding repo back into the session with its
 * resume data (no index, no hashing) and queues unfinished downloads
 * again. Budgets: max-active-downloads, per-repo and session rate limits,
 * seed ratio and time limits (the repo is stopped), and a disk budget that
 * evicts the least recently active unpinned seeding repos. Subscriptions
 * poll an index's signed refs.json (conditional requests, jitter, backoff)
 * and add each new revision, dropping the oldest beyond `keep`.
 *
 * The JSON functions are the bodies of the daemon's RPC methods: they
 * return a new reference, or NULL with *code (JSON-RPC) and msg set.
 * Everything runs on the loop thread.
 */
#ifndef MS_SEEDBOX_H
#define MS_SEEDBOX_H

#include <jansson.h>
#include <uv.h>

#include "ms_config.h"
#include "ms_engine.h"
#include "ms_getjob.h"
#include "ms_upstream.h"
#include "ms_util.h"

struct ms_seedbox;

struct ms_seedbox_hooks {
	void (*log)(void *ud, const char *line);   /* one line an event */
	void *ud;
};

/* Load what was kept and start seeding it; peer_discovery: DHT or LSD is
 * on (downloads without any peer source use mirrors at once). */
int ms_seedbox_open(struct ms_seedbox **out, struct ms_config *c, uv_loop_t *loop,
		 struct ms_engine *e, int peer_discovery, const struct ms_seedbox_hooks *h,
		 struct ms_error *err);
void ms_seedbox_alert(struct ms_seedbox *sb, const struct lts_alert *a);
void ms_seedbox_tick(struct ms_seedbox *sb);
/* Before the engine's shutdown: save every record (resume data comes with
 * the engine's shutdown, through seedbox_alert). */
void ms_seedbox_shutdown(struct ms_seedbox *sb);
/* The engine closed: nothing touches it any more. */
void ms_seedbox_engine_closed(struct ms_seedbox *sb);
/* After the loop ended. */
void ms_seedbox_free(struct ms_seedbox *sb);

/* A repo to keep: downloaded (the same job as get), then seeded. */
struct ms_seedbox_req {
	const char *spec;                 /* ORG/NAME[@REV] */
	const char *cache_dir;            /* NULL: the default */
	const char *local_dir;            /* NULL: none */
	const struct ms_strlist *indexes, *includes, *excludes, *peers;
	const char *subscription;         /* ORG/NAME@REF that added it, or NULL */
	const char *ref;                  /* also point this ref at it, or NULL */
	int pinned, paused;
	int up_limit, down_limit;         /* bytes/s; 0: none */
	int forget_missing;               /* asked for by a request, not by
					     the operator: if no index has
					     it, the repo is dropped a
					     while after its download
					     failed */
};
/* Add it (queued), or find the same request kept already (*existing; a
 * failed one is tried again). *id: its id, owned by sb. MS_EINVAL with a
 * message for a bad request. */
int ms_seedbox_add_repo(struct ms_seedbox *sb, const struct ms_seedbox_req *q,
			const char **id, int *existing, struct ms_error *err);

json_t *ms_seedbox_add(struct ms_seedbox *sb, json_t *params, int *code, char *msg, size_t msglen);
json_t *ms_seedbox_remove(struct ms_seedbox *sb, json_t *params, int *code, char *msg,
		       size_t msglen);
json_t *ms_seedbox_list(struct ms_seedbox *sb, json_t *params, int *code, char *msg, size_t msglen);
json_t *ms_seedbox_pause(struct ms_seedbox *sb, json_t *params, int pause, int *code, char *msg,
		      size_t msglen);
json_t *ms_seedbox_limits(struct ms_seedbox *sb, json_t *params, int *code, char *msg,
		       size_t msglen);
json_t *ms_seedbox_subscribe(struct ms_seedbox *sb, json_t *params, int *code, char *msg,
			  size_t msglen);
json_t *ms_seedbox_unsubscribe(struct ms_seedbox *sb, json_t *params, int *code, char *msg,
			    size_t msglen);
json_t *ms_seedbox_subscriptions(struct ms_seedbox *sb);
json_t *ms_seedbox_status(struct ms_seedbox *sb);
/* The Prometheus text for the metrics endpoint (malloc'd into *buf). */
int ms_seedbox_metrics(struct ms_seedbox *sb, char **buf, size_t *len);

/* The releases the seedbox holds complete (its seeding repos), as the
 * Hugging Face endpoint serves them. Strings are owned by sb and valid
 * until the loop runs again. */
struct ms_seedbox_held {
	const char *id;          /* names repos/<id>.manifest.json */
	const char *repo;        /* ORG/NAME */
	const char *rev;         /* 40 hex */
	const char *repo_dir;    /* its directory in its hub cache */
};
/* repo at want: a 40-hex revision, or a ref name the daemon resolved (the
 * newest seeding revision it named). 0; MS_ENOTFOUND with *known 0 when no
 * revision of repo is held, 1 when others are. */
int ms_seedbox_held(struct ms_seedbox *sb, const char *repo, const char *want,
		    struct ms_seedbox_held *out, int *known);
/* fn for each ref name of repo's held revisions, with the newest revision
 * it named; the number of refs. */
int ms_seedbox_held_refs(struct ms_seedbox *sb, const char *repo,
			 void (*fn)(void *ud, const char *ref, const char *rev), void *ud);
/* What the endpoint may serve of repo at want (a revision or a ref): a
 * release held complete, or one on its way (queued, downloading, failed).
 * Owned by sb, valid until the loop runs again. */
struct ms_seedbox_view {
	const void *key;         /* the repo: named to the notify hook when
				    it moves on (compare it, never follow it) */
	const char *id, *repo;
	const char *rev;         /* NULL until resolved */
	const char *repo_dir;    /* NULL until its store is open */
	int complete;            /* held complete: blobs/<etag> for every file */
	/* on its way: */
	const struct ms_getjob *job;       /* downloading, else NULL */
	const unsigned char *manifest;     /* verified, as signed; NULL until */
	size_t manifest_len;
	int bridging;            /* being bridged from the upstream hub */
	/* bridging, its tree read (rev and repo_dir set): its files, each
	 * served once checked and at its final name */
	const struct ms_upstream_job *bridge;
	const void *bytes_key;   /* bridging: woken as its bytes come */
	int failed, code;        /* its download failed: MS_E* */
	const char *error;       /* why, or NULL */
	double failed_s;         /* seconds since */
};
/* 0, or MS_ENOTFOUND (with *known as ms_seedbox_held() says) when the
 * daemon has no such repo */
int ms_seedbox_view(struct ms_seedbox *sb, const char *repo, const char *want,
		    struct ms_seedbox_view *out, int *known);
/* A daemon following our bridge of repo at rev (a ref or commit) asks
 * where to take its bytes. asker: its own relay URL
 * (http://HOST:PORT/modelswarm/relay/ORG/NAME/), or NULL if it cannot
 * relay; it may be named to later followers. 0 with the commit and, in
 * relay, a follower's relay URL ("" for this daemon's own); MS_EAGAIN
 * while the bridge has not read the tree (wait on *key); MS_ENOTFOUND
 * when repo@rev is not being bridged here. */
int ms_seedbox_follow(struct ms_seedbox *sb, const char *repo, const char *rev,
		      const char *asker, char *relay, size_t cap, char commit[41],
		      const void **key);
/* A file of a bridge or follow on its way here, by its etag, for the
 * relay: not checked yet (the follower checks it). */
struct ms_seedbox_relay {
	const char *repo_dir;    /* blobs/<etag>[.incomplete] below it */
	int64_t size;
	int done;                /* at its final name */
	const void *key;         /* woken as bytes come (ms_seedbox_set_notify) */
};
int ms_seedbox_relay_file(struct ms_seedbox *sb, const char *repo, const char *etag,
			  struct ms_seedbox_relay *out);
/* The index of the releases this daemon bridged (a directory), or NULL
 * when it bridges nothing (no hf-upstream). */
const char *ms_seedbox_bridge_index(const struct ms_seedbox *sb);
/* fn(ud, key) whenever a repo moves on: its release verified, its files
 * mapped, its download done or failed, the repo removed. One at most. */
void ms_seedbox_set_notify(struct ms_seedbox *sb, void (*fn)(void *ud, const void *key),
			   void *ud);

/* the path of a held repo's kept manifest (it may be missing: older
 * records kept none) */
void ms_seedbox_manifest_path(const struct ms_seedbox *sb, const char *id, char *buf,
			      size_t len);

/* Subscriptions, on top of the repos: load the kept ones and start
 * following them (after ms_seedbox_open(); without this call the seedbox
 * follows none); save them. */
int ms_seedbox_subs_load(struct ms_seedbox *sb);
int ms_seedbox_subs_save(struct ms_seedbox *sb);

#endif
