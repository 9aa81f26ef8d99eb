/*
 * A signed release, checked once (release.c): ORG/NAME[@REV] parsed, the
 * indexes listed (--index, else $MODELSWARM_INDEX, else the config's),
 * and tried in order until one serves it: refs.json verified against the
 * org's pinned key (to resolve a ref), the manifest verified against the
 * same key and bound to the repo and revision, and the torrent bound to
 * the manifest (info-hashes, piece length, no file attributes, every file
 * once with the manifest's size and pieces root, nothing more, nothing
 * less). get, seed ORG/NAME@REV, mirror and the daemon all come through
 * here; nothing else decides whether a torrent is a release's.
 */
#ifndef MS_RELEASE_H
#define MS_RELEASE_H

#include <stddef.h>

#include <uv.h>

#include "ms_config.h"
#include "ms_torrent.h"
#include "ms_manifest.h"
#include "ms_sign.h"
#include "ms_torrent.h"
#include "ms_trust.h"
#include "ms_util.h"

#define MS_REPO_MAX 256
#define MS_WANT_MAX 128
#define MS_TORRENT_MAX (64u << 20)

struct ms_http;
struct ms_engine;

/* one file as the index served it */
struct ms_release_bytes {
	unsigned char *buf;
	size_t len;
};

struct ms_release {
	char repo[MS_REPO_MAX];       /* ORG/NAME */
	char want[MS_WANT_MAX];       /* as asked: a revision or a ref */
	char rev[41];                 /* "" until resolved */
	struct ms_strlist indexes;    /* tried in order (copies) */
	const char *index;            /* the one that served it */
	/* the signed files exactly as the index served them (refs: empty
	 * unless asked for, or when the index has none that verifies) */
	struct ms_release_bytes refs, refs_sig, manifest, manifest_sig, torrent;
	struct ms_verified v;
	int verified;                 /* v holds a verified manifest */
	lts_torrent *meta;            /* the bound torrent, or NULL */
	struct ms_torrent_meta info;  /* meta's snapshot (zeroed without one) */
	int *tindex;                  /* per manifest file: its torrent file */
	int *mindex;                  /* per torrent file: its manifest file,
					 or -1 for a pad file */
	/* the session a DHT lookup runs in (ms_dht.h): the index "dht:",
	 * and the last resort when every index fails; NULL: none */
	struct ms_engine *engine;
	/* with engine NULL: called when the DHT's turn comes, to start a
	 * session for it (ms_dht_fetch()); it sets engine, or returns an
	 * MS_E* code with a message. NULL: no DHT */
	int (*engine_start)(void *ud, struct ms_release *r, struct ms_error *err);
	void *engine_ud;
	/* ms_dht_fetch(): the signal that stopped the lookup (it returned
	 * MS_EINTR), 0: none */
	int signum;
};

/* Zero r. */
void ms_release_init(struct ms_release *r);
/* Free what r holds (not r). */
void ms_release_release(struct ms_release *r);

/* ORG/NAME[@REV] into r->repo and r->want: default_ref when there is no
 * '@' (NULL: '@REV' is required). MS_EINVAL with a message. */
int ms_release_spec(struct ms_release *r, const char *spec, const char *default_ref,
		    struct ms_error *err);
/* The indexes to try: given (copied) if any, else $MODELSWARM_INDEX's,
 * else c's (NULL: none). MS_EINVAL "no index: ..." when there is none. */
int ms_release_indexes(struct ms_release *r, const struct ms_strlist *given,
		       const struct ms_config *c, struct ms_error *err);

/* Bind meta (borrowed until it succeeds, then r's) to r's verified
 * manifest: fills r->info, r->tindex and r->mindex. MS_ETORRENT with a
 * message naming what differs; meta stays the caller's then. */
int ms_release_bind(struct ms_release *r, lts_torrent *meta, struct ms_error *err);

/* The manifest file of torrent file i (after ms_release_bind), or NULL
 * for a pad file. */
const struct ms_manifest_file *ms_release_file(const struct ms_release *r, int i);

/* A signature file fetched from url is one in minisign's format; else
 * MS_EVERIFY with a message that names url and says what came back (an
 * HTML page, an empty file, or what is wrong with it): what an index
 * that serves an error page for the file gets. */
int ms_release_sig_check(const char *url, const unsigned char *sig, size_t len,
			 struct ms_error *err);

/* A refs.json and its signature (fetched from sig_url) as an index
 * served them, verified against the org's pinned key (rollback state
 * included); with ref, its revision into rev (41 bytes). MS_EVERIFY with
 * a message, MS_ENOTFOUND when the verified refs have no such ref, or
 * MS_EMISMATCH when the signature does not match the file (a torn pair:
 * read it again, see ms_index.h). */
int ms_release_refs_check(const char *repo, const char *ref, const unsigned char *refs,
			  size_t len, const unsigned char *sig, size_t sig_len,
			  const char *sig_url, char *rev, struct ms_error *err);

/*
 * Resolving on a loop: the indexes in order, each file fetched with its
 * signature side by side. A file that cannot be fetched (a network error,
 * a missing file) moves on to the next index; a file that does not verify
 * ends it. A file and a signature that do not match (a torn pair, as a
 * publish under way or killed may leave, ms_index.h) are read again after
 * MS_INDEX_TORN_DELAY_MS, once, then tried with the signature the publish
 * staged (FILE.minisig.new), before that counts. The resolver owns its
 * HTTP client.
 */
struct ms_release_hooks {
	/* an index failed and the next is tried, or refs.json was left
	 * out: a warning (may be NULL) */
	void (*on_warning)(void *ud, const char *msg);
	/* the manifest verified, before the torrent is fetched (may be
	 * NULL) */
	void (*on_verified)(void *ud, struct ms_release *r);
	/* once, never before ms_release_resolve() returns: 0 with the torrent
	 * bound (r->meta), or 0 with r->meta NULL when no index has a torrent
	 * (the metadata comes from peers by the signed info-hashes; bind it
	 * then); else MS_EVERIFY (a file did not verify, or the torrent is
	 * not the manifest's), MS_ENOTFOUND (no index has it) or another
	 * MS_E* code, with err's message. The resolver may be freed in it. */
	void (*on_done)(void *ud, struct ms_release *r, int code, const struct ms_error *err);
	void *ud;
};

struct ms_release_resolver;

/* flags of ms_release_resolve() and ms_release_fetch() */
enum {
	/* for a revision, also keep the index's refs.json when it verifies */
	MS_RELEASE_WANT_REFS = 1,
	/* stop at the verified manifest: no torrent (r->meta stays NULL) */
	MS_RELEASE_NO_TORRENT = 2
};

/* Start resolving r (ms_release_spec() and ms_release_indexes() done),
 * with MS_RELEASE_* flags. */
int ms_release_resolve(struct ms_release_resolver **out, uv_loop_t *loop,
		       struct ms_release *r, int flags, const struct ms_release_hooks *h,
		       struct ms_error *err);
/* Stop (no more hooks) and free. NULL is fine. */
void ms_release_resolver_free(struct ms_release_resolver *q);

/* The same, blocking, on a loop of its own, for commands that run none;
 * the torrent is required unless MS_RELEASE_NO_TORRENT. Returns 0 or the
 * code on_done would give; warnings go to on_warning(ud, msg). */
int ms_release_fetch(struct ms_release *r, int flags,
		     void (*on_warning)(void *ud, const char *msg), void *ud,
		     struct ms_error *err);
/* The same on loop, which other handles (a session's) may keep alive:
 * it runs until the release is resolved, then returns; what the resolver
 * closed is closed on the loop's next run. */
int ms_release_fetch_on(struct ms_release *r, uv_loop_t *loop, int flags,
			void (*on_warning)(void *ud, const char *msg), void *ud,
			struct ms_error *err);

#endif
