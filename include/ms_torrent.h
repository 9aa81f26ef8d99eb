/*
 * .torrent files without a session (torrent.c): read one, look at it
 * through one snapshot, build one from a directory.
 *
 * A parsed torrent is an lts_torrent (from ms_torrent_load(), or
 * ms_engine_torrent() for one in the session); ms_torrent_meta() copies
 * what callers look at into a struct ms_torrent_meta in one call, and
 * ms_torrent_file() reads its files one at a time, since they are many.
 * The lts_* structs of lt_shim.h are reused as plain data types.
 */
#ifndef MS_TORRENT_H
#define MS_TORRENT_H

#include <stddef.h>
#include <stdint.h>

#include "lt_shim.h"
#include "modelswarm.h"

/* Parse .torrent bytes; NULL + err (MS_ETORRENT) on junk. Free with
 * ms_torrent_free(). The buffer is not retained. */
lts_torrent *ms_torrent_load(const void *buf, size_t len, struct ms_error *err);
void ms_torrent_free(lts_torrent *t);

/* What a torrent says about itself, copied out of it: it outlives t.
 * A torrent is v1-only, v2-only or hybrid (both) by which hash is "". */
struct ms_torrent_meta {
	char *name;              /* the torrent's name (malloc'd) */
	char hash_v1[41];        /* info-hashes in hex, "" when it has none */
	char hash_v2[65];
	int piece_length;
	int num_pieces;
	int num_files;           /* pad files included (ms_torrent_file()) */
	int64_t total_size;      /* pad files not included */
	int n_trackers;          /* in its announce list */
	char **webseeds;         /* its BEP 19 url-list (malloc'd) */
	int n_webseeds;
};

/* Fill *out from t. On error (MS_ENOMEM) *out is left zeroed. Release it
 * with ms_torrent_meta_release(). */
int ms_torrent_meta(const lts_torrent *t, struct ms_torrent_meta *out,
		    struct ms_error *err);
/* Free what m holds (not m) and zero it; a zeroed m is fine. */
void ms_torrent_meta_release(struct ms_torrent_meta *m);

/* File i of t (pad files included; paths owned by t): 0 or MS_ENOENT. */
int ms_torrent_file(const lts_torrent *t, int i, struct lts_file_info *fi);

/* The bencoded torrent, owned by t. */
const unsigned char *ms_torrent_bytes(const lts_torrent *t, size_t *len);

/* Build a torrent from files under dir (see lts_create()). *out is
 * malloc'd; the caller frees it. */
int ms_torrent_create(const char *dir, const struct lts_create_file *files,
		      size_t n, const struct lts_create_opts *opts,
		      unsigned char **out, size_t *len, struct ms_error *err);

/* One file for ms_torrent_build(): in, then out. */
struct ms_build_file {
	const char *path;      /* relative, '/'-separated; the array is sorted
				  bytewise by path */
	int64_t size;
	int want_git;          /* also compute the git blob sha1 */
	uint8_t sha256[32];
	uint8_t git_sha1[20];
	uint8_t root[32];      /* v2 pieces root (if has_root) */
	int has_root;
};

struct ms_build_opts {
	unsigned flags;                /* LTS_CREATE_* */
	int piece_size;                /* 0: automatic */
	const char *name;              /* torrent name (required) */
	const char *const *webseeds;
	size_t n_webseeds;
	const char *const *trackers;
	size_t n_trackers;
	int threads;                   /* 0: all cores */
	void (*progress)(void *ud, int64_t done, int64_t total);
	void *ud;
	lts_torrent **loaded;          /* if set: the built torrent, loaded
					* (the caller frees it) */
	struct ms_torrent_meta *meta;  /* if set: filled as ms_torrent_meta()
					* would (release it), without loading
					* the torrent when loaded is NULL */
};

/* Read every file under dir once, computing its sha256 (and git blob sha1
 * when asked) along with the torrent's v1/v2 hashes, on all cores; build
 * the torrent (no attributes, no creation date). *out is malloc'd. */
int ms_torrent_build(const char *dir, struct ms_build_file *files, size_t n,
		     const struct ms_build_opts *opts, unsigned char **out,
		     size_t *len, struct ms_error *err);

const char *ms_libtorrent_version(void);

/* The shim's error as an MS_E* code and message in err (for engine.c):
 * returns the code. */
int ms__lts_fail(struct ms_error *err, const struct lts_error *le);
/* The shim's LTS_E* code as an MS_E* code. */
int ms__lts_code(int code);

#endif
