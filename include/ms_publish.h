/*
 * Writing a release into an index (publish.c): the signed manifest of a
 * tree already hashed by ms_torrent_build(), its torrent, and refs.json
 * pointing the given refs at it, at the next version, in the crash-safe
 * order of ms_index.h. `modelswarm publish` calls it for a lab's release,
 * the daemon for a release it bridged from an upstream hub.
 */
#ifndef MS_PUBLISH_H
#define MS_PUBLISH_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ms_sign.h"
#include "ms_torrent.h"

struct ms_publish {
	const char *index;              /* the index directory (made if missing) */
	const char *repo;               /* ORG/NAME */
	const char *rev;                /* 40 hex */
	const struct ms_seckey *sk;     /* signs; refs.json there must verify with it */
	const struct ms_build_file *files;  /* as ms_torrent_build() filled them */
	size_t n_files;
	const unsigned char *torrent;   /* its bytes */
	size_t torrent_len;
	const struct ms_torrent_meta *tm;  /* what it says (NULL: worked out
					    * here from its bytes) */
	const char *const *refs;        /* refs to point at rev (at least one) */
	size_t n_refs;
	const char *const *webseeds, *const *trackers;
	size_t n_webseeds, n_trackers;
	const char *upstream;           /* a bridged release: its source, else NULL */
	int64_t days;                   /* the manifest's life; refs.json at most 7 */
	time_t now;
	/* told each repair of an interrupted publish (may be NULL) */
	void (*note)(void *ud, const char *msg);
	void *ud;
	/* out */
	int64_t version;
	char repodir[PATH_MAX];         /* INDEX/ORG/NAME */
	char infohash_v1[41], infohash_v2[65];
};

/* 0, or an MS_E* code with a message naming what failed */
int ms_publish_write(struct ms_publish *p, struct ms_error *err);

#endif
