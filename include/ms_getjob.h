/*
 * One download of a signed release into the Hugging Face cache
 * (getjob.c): resolve ORG/NAME[@REV] (ms_release), download on an engine
 * its owner drives, verify every file against the signed manifest before
 * it gets its blob name, then link the snapshot. `get` runs one, the
 * daemon many. The job takes its torrent's alerts from the engine itself
 * (ms_engine_watch()); the owner calls ms_getjob_tick() on every engine
 * tick and draws the progress it returns; the job reports through
 * hooks, on the loop thread, and never prints.
 */
#ifndef MS_GETJOB_H
#define MS_GETJOB_H

#include <jansson.h>
#include <uv.h>

#include "ms_config.h"
#include "ms_engine.h"
#include "ms_mirrors.h"
#include "ms_progress.h"
#include "ms_util.h"

struct ms_getjob;
struct ms_getjob_opts {
	const char *spec;                  /* ORG/NAME[@REV] */
	const struct ms_strlist *indexes;  /* tried in order; none: the
					      default ones (all copied) */
	const struct ms_strlist *includes, *excludes, *peers;
	const struct ms_mirror_opts *mirrors; /* copied */
	const char *cache_dir;             /* NULL: the default */
	const char *local_dir;             /* NULL: none */
	const char *ref;                   /* with a revision: also point
					      this ref at it (the caller
					      checked that the signed refs
					      say so), or NULL */
	int peer_discovery;                /* DHT or LSD is on */
	int dht;                           /* the DHT is on: releases are
					      looked up there too (ms_dht.h) */
	int json;                          /* progress events every second */
	int stall_timeout_s;               /* give up after this long without
					      a byte from anyone (0: never) */
	const char *extra_index;           /* also asked, after the others
					      (the daemon's own bridged
					      releases), or NULL */
};
struct ms_getjob_hooks {
	void (*on_line)(void *ud, int error, const char *msg);
	void (*on_event)(void *ud, json_t *ev);     /* the reference is the
						       hook's */
	/* once: 0 when the snapshot is written (the torrent stays in the
	 * session, seeding), else an MS_E* code: MS_EVERIFY when something
	 * did not match what is signed, MS_ENOTFOUND when no index has the
	 * release (the torrent, if added, stays too: the owner removes it
	 * or shuts the engine down) */
	void (*on_done)(void *ud, int code);
	void *ud;
	/* the job moved on: its release was verified, or its torrent was
	 * added and its files mapped (NULL: not told) */
	void (*on_state)(void *ud);
};
/* Check the request and start resolving it; MS_EINVAL with a message for
 * a bad spec or when no index is known. */
int ms_getjob_start(struct ms_getjob **out, const struct ms_config *c, uv_loop_t *loop,
		    struct ms_engine *e, const struct ms_getjob_opts *o,
		    const struct ms_getjob_hooks *h, struct ms_error *err);
/* On every engine tick: the job's periodic work; with snap, also what
 * the progress display shows (srcs: room for max_srcs mirrors, named by
 * the job). 1 when snap was filled, 0 when there is nothing to show. */
int ms_getjob_tick(struct ms_getjob *j, struct ms_progress_snap *snap,
		   struct ms_progress_source *srcs, int max_srcs);
/* Stop now with this MS_E* code (on_done is called if it was not yet). */
void ms_getjob_cancel(struct ms_getjob *j, int code);
/* The engine closed (its on_closed): the job never touches it again,
 * whatever comes back later (hashing off the loop, a timer). */
void ms_getjob_detach(struct ms_getjob *j);
/* Stop without telling the owner and free (later, if hashing is still
 * running off the loop). The torrent is not removed. */
void ms_getjob_free(struct ms_getjob *j);
struct ms_getjob_info {
	const char *repo, *want, *ref;    /* owned by the job */
	const char *rev;                  /* NULL until resolved */
	const char *cache, *repo_dir;     /* NULL until the store is open */
	const char *path;                 /* once finished: the snapshot or
					     the local dir */
	int id;                           /* the torrent, 0 until added */
	int finished;
	int code;                         /* MS_E* once it failed, else 0 */
	const lts_torrent *meta;          /* NULL until known */
	const struct ms_torrent_meta *info; /* meta's snapshot, NULL until known */
	int64_t from_peers, from_mirrors;
	int hash_failures;
	int checks;                       /* times libtorrent hashed the files */
	double seconds;
	int64_t size;                     /* of the wanted files */
	const char *const *trackers;      /* the manifest's */
	size_t n_trackers;
	const struct ms_mirrors *mirrors; /* their figures */
	const unsigned char *manifest;    /* the verified manifest's bytes as
					     signed, NULL until verified */
	size_t manifest_len;
};
void ms_getjob_info(const struct ms_getjob *j, struct ms_getjob_info *out);
/* Where the bytes of the manifest's file path are while it downloads, for
 * a reader that follows the pieces: the torrent (id; it changes when the
 * job adds it again) and the span of its byte stream (a file that another
 * one of the same blob carries is that one's). */
struct ms_getjob_file {
	int id;                 /* the torrent */
	int file;               /* in the torrent */
	int64_t offset, size;   /* in the torrent's byte stream */
	int piece_length, num_pieces;
	int whole;              /* mirrors may fetch it whole, around the
				   pieces: only its blob is to be trusted */
	int final;              /* its blob is there, verified */
};
/* 0; MS_EAGAIN until the files are mapped; MS_ENOENT for a path not in
 * the manifest, or not downloaded */
int ms_getjob_file(const struct ms_getjob *j, const char *path, struct ms_getjob_file *out);
/* The path and priority libtorrent has for each of the n torrent files
 * (paths owned by the job), to add the torrent again for seeding. */
int ms_getjob_mapping(const struct ms_getjob *j, const char **paths, int *prio, int n);

#endif
