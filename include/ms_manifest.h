/*
 * The signed release manifest and refs.json: strict parsing (jansson,
 * duplicate keys rejected, unknown keys rejected, integers only and below
 * 2^53), emission, and the path rules every file path must pass.
 * Knows nothing of the network, the engine or signatures.
 */
#ifndef MS_MANIFEST_H
#define MS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "modelswarm.h"

#define MS_MANIFEST_TYPE "modelswarm.release"
#define MS_REFS_TYPE "modelswarm.refs"
#define MS_SPEC_VERSION 1
#define MS_MANIFEST_MAX (16u << 20)   /* bytes */
#define MS_REFS_MAX (1u << 20)
#define MS_MANIFEST_MAX_FILES 100000
#define MS_PATH_MAX 4096
#define MS_COMPONENT_MAX 255
#define MS_PATH_DEPTH_MAX 64          /* components of a path, at most */
#define MS_INT_MAX ((int64_t)1 << 53)  /* exclusive */

struct ms_manifest_file {
	char *path;
	int64_t size;
	char sha256[65];
	char etag[65];          /* sha256 (LFS) or git blob sha1 */
	char pieces_root[65];   /* "" for an empty file */
};

struct ms_manifest {
	int spec_version;
	char *repo;             /* "org/name" */
	char *repo_type;        /* "model", "dataset", "space" */
	char revision[41];
	int64_t version;
	time_t issued, expires;
	char infohash_v1[41];   /* "" if v2-only */
	char infohash_v2[65];   /* "" if v1-only */
	int64_t piece_length;
	struct ms_manifest_file *files;
	size_t n_files;
	char **webseeds;
	size_t n_webseeds;
	char **trackers;
	size_t n_trackers;
	/* a bridged release (optional "source"): the upstream repo's URL it
	 * was built from, NULL for a lab's own release, and the upstream
	 * commit (the revision) */
	char *source_upstream;
	char source_commit[41];
};

/* Strict parse of manifest bytes. Fills m (release with
 * ms_manifest_release) or returns an error naming the problem. */
int ms_manifest_parse(const void *buf, size_t len, struct ms_manifest *m,
		      struct ms_error *err);
/* JSON text (malloc'd, ends with a newline) for m; files must be sorted. */
int ms_manifest_emit(const struct ms_manifest *m, char **out, size_t *len,
		     struct ms_error *err);
void ms_manifest_release(struct ms_manifest *m);
/* The trusted comment that goes with a manifest. */
void ms_manifest_comment(const struct ms_manifest *m, char *buf, size_t len);

struct ms_ref {
	char *name;
	char revision[41];
	int64_t version;
};

struct ms_refs {
	int spec_version;
	char *repo;
	int64_t version;        /* of refs.json itself, strictly increasing */
	time_t issued, expires;
	struct ms_ref *refs;
	size_t n_refs;
};

int ms_refs_parse(const void *buf, size_t len, struct ms_refs *r,
		  struct ms_error *err);
int ms_refs_emit(const struct ms_refs *r, char **out, size_t *len,
		 struct ms_error *err);
void ms_refs_release(struct ms_refs *r);
void ms_refs_comment(const struct ms_refs *r, char *buf, size_t len);
/* the entry for name, or NULL */
const struct ms_ref *ms_refs_find(const struct ms_refs *r, const char *name);
/* set (add or replace) name -> revision, version; copies name */
int ms_refs_set(struct ms_refs *r, const char *name, const char *revision,
		int64_t version, struct ms_error *err);

/* An upstream URL for a manifest's source: http:// or https://, printable
 * ASCII, at most 2048 bytes. MS_EINVAL with a message naming it. */
int ms_upstream_check(const char *url, struct ms_error *err);

/* "org/name" with each half [A-Za-z0-9._-], not starting with '.' or '-',
 * at most 96 bytes each. Fills org (may be NULL) on success. */
int ms_repo_check(const char *repo, char *org, size_t orglen,
		  struct ms_error *err);
/* a ref name: [A-Za-z0-9._-/], no "..", at most 128 bytes */
int ms_ref_check(const char *ref, struct ms_error *err);
/* 40 lower-case hex digits */
int ms_revision_check(const char *rev);
/* 40 hex digits in any case: lower-cased in place, 0; else MS_EINVAL and
 * rev unchanged. */
int ms_revision_normalize(char *rev);

/* A relative '/'-separated path: valid UTF-8 in NFC (no combining marks),
 * no empty, "." or ".." component, no NUL, control character, backslash
 * or ':', components of at most 255 bytes, at most 64 components
 * (MS_PATH_DEPTH_MAX), at most 4096 bytes, no ".git" component (at any
 * level, in any case). */
int ms_path_check(const char *path, struct ms_error *err);
/* Two paths that differ only by case (or by Unicode case folding) would
 * collide on some filesystems: refuse. paths need not be sorted. */
int ms_paths_collide(const char *const *paths, size_t n, struct ms_error *err);

/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" */
int ms_time_parse(const char *s, time_t *t);
void ms_time_format(time_t t, char buf[21]);

#endif
