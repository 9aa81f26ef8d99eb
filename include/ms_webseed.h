/*
 * HTTP mirrors (BEP 19 web seeds) for a torrent in the engine.
 *
 * libtorrent never talks to a mirror itself: this module fetches whole
 * pieces with byte-range requests (libcurl on the same libuv loop) and
 * hands them to the engine, which checks their hashes like any peer's.
 * That keeps the policy here: which mirror serves which file, backing
 * off on 429/503, skipping a file a mirror lacks (404) or sends wrong
 * bytes for, re-resolving an expired redirect, sending a mirror's
 * Authorization header to that host only, and using mirrors only when
 * peers do not deliver (fallback mode).
 *
 * A file request goes to BASE + torrent name + "/" + path, so a hub-style
 * base ".../ORG/NAME/resolve/" fetches ".../resolve/REV/PATH" (the torrent
 * is named after the revision) and a static mirror "https://host/prefix/"
 * fetches "prefix/REV/PATH". Pad files are never requested.
 *
 * Whole files: a caller that knows a file's flat SHA-256 from a signed
 * manifest can let the module fetch that file in one streamed transfer
 * (ms_webseed_direct()), written straight to its path and hashed once as
 * it comes, instead of piece by piece through the engine (which would
 * copy it twice more and hash it with SHA-1 and SHA-256 block by block).
 * Only a file no peer has started and whose pieces it shares with no
 * other file goes this way; its engine priority is 0 while the module
 * owns it. When its SHA-256 matches the caller is told, and the engine
 * does not have its pieces: add the torrent again with have_files. When
 * it does not match, the mirrors that sent it are demoted for it.
 */
#ifndef MS_WEBSEED_H
#define MS_WEBSEED_H

#include <stdint.h>

#include <uv.h>

#include "ms_engine.h"

enum ms_webseed_mode {
	MS_WEBSEEDS_FALLBACK = 0, /* only while peers deliver too little */
	MS_WEBSEEDS_ALWAYS,
	MS_WEBSEEDS_NEVER
};

/* "fallback", "always", "never" -> enum, or -1 */
int ms_webseed_mode_parse(const char *s);

struct ms_mirror_auth {
	const char *host;    /* "host" or "host:port", as in the URL */
	const char *value;   /* the Authorization header's value */
};

struct ms_webseed_opts {
	int mode;                     /* enum ms_webseed_mode */
	int64_t fallback_rate;        /* peers under this many bytes/s ... */
	unsigned fallback_delay_ms;   /* ... for this long: mirrors on */
	int conns;                    /* transfers at once per mirror */
	int64_t request_bytes;        /* bytes per transfer (whole pieces) */
	long stall_s;                 /* a transfer silent this long fails */
	const struct ms_mirror_auth *auth;
	size_t n_auth;
	/* something a user may want to know (a mirror failing, demoted...) */
	void (*on_event)(void *ud, const char *mirror, const char *msg);
	/* a file fetched whole: error 0, its bytes are at its path and match
	 * the SHA-256 given; else the errno of writing it (it is then left
	 * to the engine again) */
	void (*on_file)(void *ud, int file, int error);
	/* no mirror is left for file: only peers can finish it (may be
	 * NULL) */
	void (*on_exhausted)(void *ud, int file);
	void *ud;
};

/* Defaults: fallback, 1 MiB/s for 5 s, 4 transfers of 16 MiB, 20 s. */
void ms_webseed_opts_init(struct ms_webseed_opts *o);

struct ms_webseed;

/*
 * Start serving torrent `id` of engine e (it must have its metadata) on
 * loop; it takes the torrent's alerts from the engine itself. The strings
 * in o are copied. Free with ms_webseed_close().
 */
int ms_webseed_new(struct ms_webseed **out, uv_loop_t *loop,
		   struct ms_engine *e, int id,
		   const struct ms_webseed_opts *o, struct ms_error *err);

/* Add a mirror (http:// or https://; a '/' is added at the end if
 * missing). Duplicates are ignored. */
int ms_webseed_add(struct ms_webseed *w, const char *url,
		   struct ms_error *err);


struct ms_direct_file {
	const char *path;     /* where the engine keeps the file; NULL: fetch
				 it piece by piece only */
	const char *sha256;   /* 64 hex: the file's flat SHA-256 */
	int prio;             /* its engine priority as the caller set it */
};

/* Per torrent file (n of them): which may be fetched whole (copied). */
int ms_webseed_direct(struct ms_webseed *w, const struct ms_direct_file *df,
		      int n, struct ms_error *err);
/* 1 while file is fetched whole or was (its engine priority is 0) */
int ms_webseed_owns(const struct ms_webseed *w, int file);
/* files taken to be fetched whole: their size, and their bytes written and
 * hashed so far */
void ms_webseed_direct_progress(const struct ms_webseed *w, int64_t *size,
				int64_t *done);

struct ms_mirror_stat {
	const char *url;       /* owned by w */
	int64_t bytes;         /* body bytes received from it */
	int64_t bad_bytes;     /* of which failed the hash check */
	int active;            /* transfers in flight */
	int files_skipped;     /* files it lacks or sent wrong bytes for */
	const char *last_error; /* "" if none */
};

int ms_webseed_count(const struct ms_webseed *w);
void ms_webseed_stat(const struct ms_webseed *w, int i,
		     struct ms_mirror_stat *st);
/* all mirrors' bytes */
int64_t ms_webseed_bytes(const struct ms_webseed *w);

/* Cancel every transfer; w is freed once its handles are closed. */
void ms_webseed_close(struct ms_webseed *w);

#endif
