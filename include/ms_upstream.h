/*
 * Bridging (upstream.c): a repo of an upstream Hugging Face hub, made a
 * signed release. The revision is resolved at the upstream (a ref is pinned
 * to its commit at that moment) and its tree read (every page); each file
 * is downloaded from the upstream's resolve URL (its redirects to a CDN
 * followed, its Xet headers ignored) into blobs/<etag>.incomplete of the hub
 * cache, hashed as it arrives, and renamed to blobs/<etag> only once its
 * bytes match the upstream's metadata: sha256 = the tree's lfs.oid for LFS
 * files, git blob sha1 = its oid for the others. Then the tree is hashed
 * once more into the torrent `publish` would make of it (name = commit, no
 * dates: two bridges of one commit make one infohash), every file checked
 * against the metadata again, and the release written into an index,
 * signed with the bridge's key, its manifest naming its source. The
 * upstream's metadata is the root of trust here; the signature says only
 * which bridge vouches for it.
 *
 * Following (opts.relay): another daemon is bridging the same commit.
 * The metadata still comes from the upstream, but each file's bytes come
 * from that daemon's relay (RELAY<etag>, streamed as it gets them) and are
 * checked against the upstream's metadata just the same before they get
 * their name; no release is made (that daemon signs one). The relay's
 * failures are MS_EAGAIN: the caller goes back to the index.
 *
 * A download cut short is resumed from its .incomplete file next time.
 * Everything runs on the loop thread except the hashing (libuv's pool).
 */
#ifndef MS_UPSTREAM_H
#define MS_UPSTREAM_H

#include <stdint.h>

#include <uv.h>

#include "ms_http.h"
#include "ms_sign.h"
#include "ms_util.h"

struct ms_upstream_opts {
	const char *upstream;              /* https://HOST[:PORT] of the hub */
	const struct ms_http_auth *auth;   /* e.g. a token for gated repos, or NULL */
	const char *repo;                  /* ORG/NAME */
	const char *want;                  /* a ref, or a 40-hex commit */
	const char *cache_dir;             /* the hub cache */
	const char *index;                 /* the index directory to write */
	const char *work_dir;              /* scratch (made, emptied, removed) */
	const struct ms_seckey *sk;        /* the bridge's key, kept by the caller */
	const struct ms_strlist *trackers; /* for the torrent, or NULL */
	int parallel;                      /* files at once (0: 4) */
	long stall_s;                      /* a transfer without a byte (0: 60) */
	const char *relay;                 /* follow: the bytes from RELAY<etag>;
					      sk, index, work_dir unused */
};

struct ms_upstream_hooks {
	void (*log)(void *ud, const char *line);
	/* the end: 0 with the commit, else an MS_E* code and why (MS_ENOTFOUND:
	 * the upstream has no such repo or revision; MS_EVERIFY: its bytes
	 * and its metadata disagree, naming the file; MS_EAGAIN: it failed
	 * for now, try later). Never before ms_upstream_start() returns. */
	void (*done)(void *ud, int code, const char *msg, const char *commit);
	void *ud;
	/* the tree was read, or a file got its final name (may be NULL) */
	void (*file_done)(void *ud);
	/* more bytes are in a file's .incomplete (a MiB or so at a time, and
	 * at its end; may be NULL) */
	void (*progress)(void *ud);
};

struct ms_upstream_job;

int ms_upstream_start(struct ms_upstream_job **out, uv_loop_t *loop,
		      const struct ms_upstream_opts *o, const struct ms_upstream_hooks *h,
		      struct ms_error *err);
/* Once the tree is read (else NULL / 0): the commit, the hub cache's
 * directory of the repo, and the files (etag: the blob's name, the sha256
 * of an LFS file or the git blob id of another; done: at its final name,
 * checked). */
const char *ms_upstream_commit(const struct ms_upstream_job *j);
const char *ms_upstream_repo_dir(const struct ms_upstream_job *j);
size_t ms_upstream_n_files(const struct ms_upstream_job *j);
void ms_upstream_file(const struct ms_upstream_job *j, size_t i, const char **path,
		      int64_t *size, const char **etag, int *done);
/* a file by its etag: its index, or -1 */
long ms_upstream_find(const struct ms_upstream_job *j, const char *etag);
/* following (opts.relay), not bridging */
int ms_upstream_following(const struct ms_upstream_job *j);
/* bytes of the files, and of them at their final names or on the way */
void ms_upstream_progress(const struct ms_upstream_job *j, int64_t *done, int64_t *total);
/* Stop: no hook is called after this; freed once nothing runs. */
void ms_upstream_cancel(struct ms_upstream_job *j);

#endif
