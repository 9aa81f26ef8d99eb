/*
 * Inside the daemon's seedbox: what seedbox.c (repos), seedbox-subs.c
 * (subscriptions) and seedbox-rpc.c (the RPC methods' bodies) share. Not
 * a public header: the rest of the tree uses include/ms_seedbox.h.
 */
#ifndef MS_SEEDBOX_INT_H
#define MS_SEEDBOX_INT_H

#include <limits.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "ms_getjob.h"
#include "ms_http.h"
#include "ms_seedbox.h"
#include "ms_sign.h"
#include "ms_upstream.h"

#define RECORD_MAX (16u << 20)

struct relay_node {
	char url[600];           /* http://HOST:PORT/modelswarm/relay/ORG/NAME/ */
	int kids;                /* followers sent to it */
};

enum rstate { R_QUEUED, R_DOWNLOADING, R_SEEDING, R_FAILED, R_BRIDGING };

extern const char *const ms__state_names[];

struct repo {
	char id[17];             /* names its files: repos/<id>.{json,torrent,resume,manifest.json} */
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
	int forget_missing;      /* dropped a while after no index had it */
	int64_t added, completed, last_active;
	int64_t size;            /* bytes of its files */
	int64_t uploaded, downloaded, from_mirrors;  /* all time */
	int64_t seed_s;          /* seconds spent seeding, all time */
	int up_limit, down_limit;
	int code;                /* MS_E* of a failed download */
	char *error;             /* the last error, or NULL */

	/* live */
	struct ms_seedbox *sb;
	int tid;                 /* the torrent, 0 if not in the session */
	int watching;            /* the engine sends us tid's alerts */
	struct ms_getjob *job;
	int job_ended, job_code; /* the job said it is done */
	struct ms_upstream_job *bridge;  /* bridging it from the upstream hub */
	int bridge_ended, bridge_code;   /* that ended (handled on the tick) */
	int following;           /* bridge is a follow of another daemon's */
	/* following another daemon's bridge (r->bridge then gets its bytes
	 * from that daemon's relay): the question to its index, in flight */
	struct ms_http *follow_http;
	char follow_url[600];
	/* bridging here: the daemons following it, as relays for others */
	struct relay_node *relays;
	int n_relays, own_kids;
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
	double failed_at;        /* monotonic s: when its download last failed */
	double retry_at;         /* failed "for now" (MS_EAGAIN): when to try again */
	int later;               /* such failures in a row */
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
	struct ms_strlist indexes;  /* tried in order */
	size_t i;                   /* the one asked now */
	struct ms__dht_poll *dht;   /* the index "dht:" (seedbox-dht.c) */
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
	struct ms_seedbox *sb;
	struct sub *next;
};

/* what the repos tell the subscriptions, which sit on top of them */
struct ms__subs_ops {
	void (*tick)(struct ms_seedbox *sb);
	/* repo r of a subscription is seeding: drop the oldest beyond keep */
	void (*seeded)(struct ms_seedbox *sb, struct repo *r);
	void (*shutdown)(struct ms_seedbox *sb);   /* save them */
	void (*close)(struct ms_seedbox *sb);      /* free them */
};

struct ms_seedbox {
	struct ms_config *config;   /* the daemon's; the limits method changes it */
	struct ms__subs_ops subs_ops;   /* none until ms_seedbox_subs_load() */
	uv_loop_t *loop;
	struct ms_engine *eng;
	struct ms_seedbox_hooks hooks;
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
	void (*notify)(void *ud, const void *key);  /* a repo moved on */
	void *notify_ud;
	/* bridging (seedbox-bridge.c): on with hf-upstream */
	struct ms_seckey *bridge_sk;
	char bridge_index[PATH_MAX + 32];  /* <state>/daemon/bridge/index: ours */
	struct ms__seedbox_dht *dht;  /* seedbox-dht.c, made on its first tick */
};

/* seedbox-dht.c: the DHT items of the releases this daemon holds, put
 * again on BEP 44's schedule (rate-limited) */
void ms__seedbox_dht_tick(struct ms_seedbox *sb);
void ms__seedbox_dht_free(struct ms_seedbox *sb);
/* a subscription's ref resolved through the DHT (the bundle fetched and
 * checked, so that the revision's download finds it): done(ud, 0, rev,
 * "") or done(ud, code, "", why), never before this returns; NULL + err
 * when it cannot start */
struct ms__dht_poll;
struct ms__dht_poll *ms__dht_poll_start(struct ms_seedbox *sb, const char *repo, const char *ref,
					void (*done)(void *ud, int code, const char *rev,
						     const char *msg),
					void *ud, struct ms_error *err);
void ms__dht_poll_free(struct ms__dht_poll *p);

/* ---- bridging (seedbox-bridge.c) ---- */
/* with hf-upstream: the bridge key (made if missing), trusted by this
 * process for every repo (a lab's pinned key still wins), and the index
 * the bridged releases go to */
int ms__bridge_open(struct ms_seedbox *sb, struct ms_error *err);
void ms__bridge_close(struct ms_seedbox *sb);
/* r's download found no release anywhere: bridge it, if it may be (1
 * when started: r is R_BRIDGING) */
int ms__bridge_start(struct ms_seedbox *sb, struct repo *r);
/* ended bridges; failures "for now" tried again */
void ms__bridge_tick(struct ms_seedbox *sb, double now);
void ms__bridge_cancel(struct repo *r);
/* r's index said another daemon is bridging it: follow that bridge (its
 * bytes relayed as they come, checked against the upstream here). 1 if
 * the index is asked, 0 if r cannot follow. */
int ms__follow_start(struct ms_seedbox *sb, struct repo *r);
/* A lab's release of repo@rev, just verified (manifest as signed), and
 * the one this daemon bridged of the same commit before the org's key was
 * pinned, if any: every file's sha256 must agree. 0, or MS_EVERIFY naming
 * the file and both signers. */
int ms__bridge_agree(struct ms_seedbox *sb, const char *repo, const char *rev,
		     const unsigned char *manifest, size_t len, struct ms_error *err);

/* tell the one who looks (ms_seedbox_set_notify) that r moved on */
void ms__notify(struct ms_seedbox *sb, const struct repo *r);

/* monotonic seconds since the seedbox opened */
double ms__now_s(const struct ms_seedbox *sb);
/* one line for the daemon's log */
void ms__log(struct ms_seedbox *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "ORG/NAME@REV" (or @WANT before it is resolved) into buf */
const char *ms__label(const struct repo *r, char *buf, size_t len);
/* the status of every repo in the session, in one call (one per repo
 * stalls the loop with a thousand repos): *st and *have (1 when repo k has
 * a status) indexed in list order, *n repos; the caller frees both */
int ms__repos_status(struct ms_seedbox *sb, struct lts_status **st, int **have, size_t *n);
json_t *ms__strlist_json(const struct ms_strlist *l);
void ms__strlist_from(struct ms_strlist *l, json_t *a);
/* records on disk (seedbox-records.c) */
/* <dir>/repos/<id>.<ext> */
void ms__file_path(const struct ms_seedbox *sb, const char *id, const char *ext, char *buf,
		   size_t len);
/* write r's record (atomically) */
int ms__save_record(struct ms_seedbox *sb, struct repo *r);
/* a repo from its record, or NULL (logged) */
struct repo *ms__record_load(struct ms_seedbox *sb, const char *path);
/* r's ORG/NAME (rl bytes of repo), what was asked for and the ref, in one
 * allocation */
int ms__set_names(struct repo *r, const char *repo, size_t rl, const char *want,
		  const char *ref);
/* the path and priority of each of r's n torrent files */
int ms__set_files(struct repo *r, const char *const *paths, const int *prio, int n);
void ms__repo_free(struct repo *r);
/* set r's last error (NULL: none) */
void ms__repo_error(struct repo *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* its directory in its cache (opened once), or NULL with err */
const char *ms__repo_dir(struct repo *r, struct ms_error *err);
void ms__make_dormant(struct ms_seedbox *sb, struct repo *r);
int ms__undormant(struct ms_seedbox *sb, struct repo *r);
/* the repo other than not that keeps repo@rev in cache, or NULL */
struct repo *ms__find_rev(struct ms_seedbox *sb, const struct repo *not, const char *repo,
			  const char *rev, const char *cache);
/* its torrent is id now (0: none): the alerts of id come to r */
void ms__set_tid(struct repo *r, int id);
/* out of the session and the records; data: its files too */
void ms__remove_repo(struct ms_seedbox *sb, struct repo *r, int data);
/* start queued downloads up to max-active-downloads */
void ms__start_queued(struct ms_seedbox *sb);
int ms__max_active(const struct ms_seedbox *sb);
/* in made absolute against the working directory; nonzero if too long */
int ms__abs_path(const char *in, char *out, size_t len);
/* add a repo, or find the same request kept (*existing) */
int ms__add(struct ms_seedbox *sb, const struct ms_seedbox_req *q, struct repo **out,
	    int *existing, struct ms_error *err);

/* subscriptions (seedbox-subs.c), on top of the repos: ms_seedbox_subs_load()
 * sets sb->subs_ops, through which seedbox.c calls them */
json_t *ms__sub_json(const struct sub *s);
/* follow spec (ORG/NAME[@REF]) in cache_dir; keep: -1 unchanged */
int ms__subscribe(struct ms_seedbox *sb, const char *spec, const char *cache_dir,
		  const struct ms_strlist *indexes, int keep, struct sub **out,
		  struct ms_error *err);
/* the subscriptions spec names (ORG/NAME@REF or ORG/NAME) are dropped;
 * how many */
int ms__unsubscribe(struct ms_seedbox *sb, const char *spec);

#endif
