/*
 * The store is the Hugging Face hub cache:
 *   <cache>/models--ORG--NAME/blobs/<etag>
 *   <cache>/models--ORG--NAME/blobs/<etag>.incomplete   (while downloading)
 *   <cache>/models--ORG--NAME/snapshots/<rev>/<path> -> ../../blobs/<etag>
 *   <cache>/models--ORG--NAME/refs/<ref>                 (40 hex, no newline)
 *   <cache>/.locks/models--ORG--NAME/...
 * Nothing reaches a final name before it matched its signed hashes; every
 * final write is a rename, so a crash leaves the old state or the new.
 * Knows nothing of the network or the engine.
 */
#ifndef MS_STORE_H
#define MS_STORE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "modelswarm.h"

struct ms_store {
	char cache[PATH_MAX];     /* the hub cache directory */
	char repo_dir[PATH_MAX];  /* cache/models--ORG--NAME */
	char repo[256];           /* ORG/NAME */
	int lock_fd;
	/* the directory ms_store_link() last linked in ("": none), and its
	 * fd: a snapshot's entries come in path order, so most share it */
	char link_dir[PATH_MAX];
	int link_fd;
};

/* Where the hub cache is, as huggingface_hub finds it: override
 * (--cache-dir) as given, else $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE,
 * else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub.  A leading "~" or "~user" and $VAR / ${VAR}
 * in these variables are expanded (an unset $VAR stays as written); an
 * empty variable counts as unset.  Creates nothing. */
int ms_store_cache_dir(const char *override, char *buf, size_t len,
		       struct ms_error *err);

/* Create (if needed) and check the repo's directories: blobs/, snapshots/,
 * refs/ and the lock directory must be real directories, not symlinks. */
int ms_store_open(struct ms_store *s, const char *cache, const char *repo,
		  struct ms_error *err);
void ms_store_release(struct ms_store *s);

/* Take the repo's download lock (flock). With waiting, block until it is
 * free, calling waiting() once if it is not free at first; without (the
 * event loop must not block), MS_EAGAIN at once when another holds it,
 * s->lock_fd left open for a later try. */
int ms_store_lock(struct ms_store *s, void (*waiting)(void *), void *ud,
		  struct ms_error *err);

/* paths under the repo: blobs/<etag>, blobs/<etag>.incomplete,
 * relative to repo_dir when rel is set */
int ms_store_blob_path(const struct ms_store *s, const char *etag, int incomplete,
		       int rel, char *buf, size_t len);

/* 1 if blobs/<etag> is a regular file (not a symlink) of this size */
int ms_store_blob_present(const struct ms_store *s, const char *etag, int64_t size);

/* 1 if blobs/ is missing or holds nothing but dot names: no blob, whole or
 * not, is there to look for (one read of the directory instead of a stat
 * per file: 10,000 files made 50,000 stats) */
int ms_store_blobs_empty(const struct ms_store *s);

/* Make blobs/<etag>.incomplete safe to write: anything that is not a
 * regular file there (a planted symlink, say) is removed. */
int ms_store_prepare_incomplete(const struct ms_store *s, const char *etag,
				struct ms_error *err);

/* Hash a file: sha256 (hex) and, if git_hex is not NULL, the git blob sha1. */
int ms_file_hashes(const char *path, int64_t size, char sha256_hex[65],
		   char *git_hex, struct ms_error *err);

/* snapshots/<rev>/<path> -> relative link to blobs/<etag>; directories on
 * the way must be real directories; replaces an existing entry atomically.
 * Keeps the directory open for the next entry in it (ms_store_release()
 * closes it). */
int ms_store_link(struct ms_store *s, const char *rev, const char *path,
		  const char *etag, struct ms_error *err);

/* refs/<ref> = rev (no newline), atomically */
int ms_store_write_ref(const struct ms_store *s, const char *ref, const char *rev,
		       struct ms_error *err);

/* The snapshot directory of rev. */
/* Remove blobs/.skip/, where bytes of files nobody asked for may land
 * (pieces shared with a wanted file). Only its own entries go; a
 * directory or symlink planted there is removed, never followed. */
void ms_store_remove_scratch(const struct ms_store *s);

int ms_store_snapshot_dir(const struct ms_store *s, const char *rev, char *buf,
			  size_t len);

/* Put a real file at dir/path with the blob's bytes: a hard link, else a
 * copy (written to a temporary name, then renamed). */
int ms_store_export(const struct ms_store *s, const char *etag, const char *dir,
		    const char *path, struct ms_error *err);

/* The same in two steps, so that the bytes can be checked before they get
 * their name. stage: dir/path's directories below dir are created and must
 * be real directories (not symlinks); the blob is hard-linked (else, with
 * may_copy, copied; *copied says which) to a temporary name next to
 * dir/path, written to tmp. commit: tmp is renamed to dir/path, replacing
 * a file or symlink there without following it. */
int ms_store_export_stage(const struct ms_store *s, const char *etag, const char *dir,
			  const char *path, int may_copy, char *tmp, size_t tmplen,
			  int *copied, struct ms_error *err);
int ms_store_export_commit(const char *tmp, const char *dir, const char *path,
			   struct ms_error *err);
/* mkdir -p dir, then the directories of path below dir as in stage */
int ms_store_export_dirs(const char *dir, const char *path, struct ms_error *err);

/* Remove revision rev: snapshots/<rev>, the refs naming it, and the
 * blobs no other snapshot links to (.incomplete files are left alone).
 * Take the repo's lock first: a download links its snapshot last. */
int ms_store_remove_revision(const struct ms_store *s, const char *rev,
			     struct ms_error *err);

#endif
