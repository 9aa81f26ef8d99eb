/*
 * Inside a download (getjob.c, getjob-report.c): the job's state. Not a
 * public header: the rest of the tree uses include/ms_getjob.h.
 */
#ifndef MS_GETJOB_INT_H
#define MS_GETJOB_INT_H

#include <limits.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "ms_getjob.h"
#include "ms_release.h"
#include "ms_store.h"

enum fstate {
	F_SKIP,         /* excluded, or a duplicate of another file's blob */
	F_PRESENT,      /* the blob was there and verified */
	F_DOWNLOADING,  /* mapped to blobs/<etag>.incomplete */
	F_FLUSHING,     /* complete; waiting for libtorrent to write it out */
	F_DIGEST,       /* complete; its sha256, worked out as its pieces were
			   written, is not quite finished */
	F_HASHING,      /* complete; its sha256 is being checked (read back) */
	F_VERIFIED,     /* verified; a small file waits for every piece to be
			   in before its rename (renames stall the disk) */
	F_RENAMING,     /* verified; libtorrent moves it to blobs/<etag> */
	F_FINAL         /* blobs/<etag> */
};

struct gfile {
	const struct ms_manifest_file *mf;
	int tindex;          /* index in the torrent */
	unsigned flush_seq;  /* the flushing save to wait for (0: the next one
				to be sent) */
	int retries;         /* verifications tried again */
	int wanted;
	int prio;            /* as given to libtorrent */
	int stream;          /* its sha256 is worked out as it is written */
	int whole;           /* mirrors may fetch it whole, around the pieces */
	enum fstate st;
	/* relative to the repo dir: blobs/<etag>[.incomplete] or
	 * blobs/.skip/<n> (not PATH_MAX: 10,000 files made 41 MB of it) */
	char path[128];
};

struct ms_getjob;

struct hash_work {
	uv_work_t req;
	struct ms_getjob *g;
	struct gfile *f;
	char path[2 * PATH_MAX + 8];
	int result;
	struct ms_error err;
};

struct ms_getjob {
	uv_loop_t *loop;
	const struct ms_config *config;
	struct ms_engine *eng;
	struct ms_mirror_opts mo;
	struct ms_mirrors mr;
	struct ms_getjob_hooks hooks;
	struct timespec t0;

	/* request */
	const char *ref;       /* the ref to write, or NULL */
	char ref_buf[128];     /* opts->ref */
	struct ms_strlist includes, excludes, peers;
	char *cache_override, *local_dir;
	int json, peer_discovery;
	int stall_timeout_s;   /* 0: wait for sources for ever */
	int exhausted;         /* 1 + a torrent file no mirror has left */
	double progress_at;    /* when a byte last came, or waiting began */
	int64_t progress;      /* bytes from anyone by then */

	/* resolution */
	struct ms_release rel;          /* repo, want, rev, the verified
					   manifest, the bound torrent */
	struct ms_release_resolver *resolver;  /* while resolving */

	/* download */
	struct ms_store store;
	int store_open;
	uv_timer_t *timer;     /* lock attempts, then digest waits; freed by
				  its close callback */
	int locked;
	int magnet;            /* the index has no torrent: metadata from peers */
	int mapped;            /* files mapped onto blobs, priorities set */
	int id;                /* 0 until added */
	int watching;          /* the engine sends us id's alerts */
	struct gfile *files;
	size_t n_files;
	size_t n_done;         /* files[0..n_done) are final, present or
				  not wanted (check_done's cursor) */
	int pending_work;      /* hashing off the loop */
	int released;          /* ms_getjob_free() came while work was pending */
	unsigned saves_sent, saves_done; /* resume saves, answered in order */
	unsigned flush_sent;   /* the last flushing save asked for */
	int flush_wanted;      /* files wait for the next flushing save */
	unsigned flushes;      /* flushing saves asked for in all */
	int all_in;            /* every wanted piece is in: renames go at once */
	int fresh;             /* no blob in the repo dir when the job began
				  (ms_store_blobs_empty): nothing to stat */
	size_t n_verified;     /* files in F_VERIFIED */
	int finished;          /* snapshot written */
	double last_resume, last_event, last_dial;
	double last_announce;        /* the DHT asked again, with no peer */
	int announce_s;              /* (ms_engine_dht_reannounce()) */
	char resume_path[PATH_MAX];
	char path[PATH_MAX];   /* once finished: the snapshot or local dir */
	struct lts_status final;
	double seconds;
	int stopped;           /* the job ended: code says how */
	int code;              /* 0: success, else MS_E* */
	int done_said;         /* hooks.on_done called */
	int hash_failures;
	int checks;            /* times libtorrent hashed the files on disk */
	int rechecked;         /* a file's bytes were not its pieces': every
				  piece on disk was checked again (once) */
	int direct_files;      /* files fetched whole from mirrors */
	int again;             /* 1: removed, to be added again; 2: added */
	int sequential;        /* pieces asked for in order (files streamed) */
	int resuming;          /* an earlier run left resume data or bytes: 1
				  until what was found is said */
	int64_t read_back;     /* bytes read back to check their sha256 */
};

/* getjob-report.c: what the job tells its owner */
double ms__job_elapsed(const struct timespec *t0);
/* a JSON event (o is handed over) */
void ms__job_event(struct ms_getjob *g, json_t *o);
/* a line; an error is also an "error" event */
void ms__job_error(struct ms_getjob *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ms__job_info(struct ms_getjob *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a mirror's news (ms_mirrors' on_event) */
void ms__job_mirror_event(void *ud, const char *mirror, const char *msg);
/* once checked, a run after an interrupted one says what it found */
void ms__job_said_resuming(struct ms_getjob *g, const struct lts_status *st);

#endif
