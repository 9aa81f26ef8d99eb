/*
 * Releases in the DHT (BEP 44), so that no index server is needed
 * (dht.c; the format is in modelswarm-manifest(5)).
 *
 * For each ref a publish updates, a mutable item under the org's pinned
 * ed25519 key (the minisign key's own), salt "modelswarm:ORG/NAME@REF",
 * seq = the release version (refs.json's), value the bencoded dict
 *   {"b": the v1 info-hash of the release's bundle torrent (20 bytes),
 *    "m": the SHA-256 of the signed manifest (32 bytes),
 *    "r": the revision (40 hex digits),
 *    "v": the version (= seq)}
 * The bundle is a small v1 torrent, made the same way by everyone who
 * has the release (so anyone holding it seeds the same info-hash): name
 * REV, files manifest.json, manifest.json.minisig and torrent (the
 * repo's .torrent), pieces of 16 KiB. It lives in <state>/dht/ORG/NAME/REV/.
 *
 * A lookup accepts an item only under the org's pinned key (libtorrent
 * checks its signature), runs its seq through the rollback state of
 * refs.json (ms_dht_item_check()), fetches the bundle from peers, checks
 * the manifest's SHA-256 against the item, then verifies the manifest
 * and binds the torrent exactly as for an index (ms_release_verify(),
 * ms_release_bind()). Items seen or put are kept in <state>/dht/items/
 * for a daemon to put again (seedbox-dht.c).
 */
#ifndef MS_DHT_H
#define MS_DHT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "ms_engine.h"
#include "ms_release.h"
#include "ms_sign.h"
#include "ms_util.h"

/* the "index" that means the DHT (--index dht:) */
#define MS_DHT_INDEX "dht:"
#define MS_DHT_SALT_MAX 64
#define MS_DHT_VALUE_MAX 1000
/* a lookup gives up after this long */
#define MS_DHT_TIMEOUT_MS 60000
/* the bundle torrent's piece size */
#define MS_DHT_BUNDLE_PIECE 16384

struct ms_dht_value {
	char rev[41];
	int64_t version;
	uint8_t bundle[20];     /* v1 info-hash of the bundle torrent */
	uint8_t manifest[32];   /* SHA-256 of the manifest bytes */
};

/* The salt of repo's ref into out (NUL-terminated), its length in *len:
 * "modelswarm:ORG/NAME@REF", or when that is longer than 64 bytes
 * "modelswarm:sha256:" and the first 46 hex digits of the SHA-256 of
 * "ORG/NAME@REF". */
void ms_dht_salt(const char *repo, const char *ref, char out[MS_DHT_SALT_MAX + 1],
		 size_t *len);

/* The value, bencoded (canonical: sorted keys) into out (at most
 * MS_DHT_VALUE_MAX bytes); returns its length. */
size_t ms_dht_value_encode(const struct ms_dht_value *v, unsigned char out[MS_DHT_VALUE_MAX]);
/* Parse exactly that form; MS_EVERIFY with a message otherwise. */
int ms_dht_value_decode(const unsigned char *buf, size_t len, struct ms_dht_value *v,
			struct ms_error *err);

/* Sign an item (it->salt, it->seq, it->value set) with sk: it->key and
 * it->sig filled. */
void ms_dht_sign(const struct ms_seckey *sk, const struct ms_pubkey *pk,
		 struct lts_dht_item *it);

/* Write the bundle of repo@rev into <state>/dht/ORG/NAME/REV/ (unless it
 * is there with these bytes) and make its torrent: *torrent malloc'd
 * (free()), dir (PATH_MAX) the directory it is seeded from
 * (LTS_ADD_NO_ROOT). */
int ms_dht_bundle_write(const char *repo, const char *rev, const struct ms_release_bytes *manifest,
			const struct ms_release_bytes *sig, const struct ms_release_bytes *torrent,
			unsigned char **tbuf, size_t *tlen, char *dir, struct ms_error *err);

/* The bundle's directory of repo@rev into dir (PATH_MAX), made. */
int ms_dht_bundle_dir(const char *repo, const char *rev, char *dir, struct ms_error *err);

/* Keep an item (as put or received) in <state>/dht/items/, for repo. */
int ms_dht_item_save(const char *repo, const struct lts_dht_item *it, struct ms_error *err);

/* The items kept: fn(ud, repo, item) for each (the item's pointers valid
 * during the call). A damaged record is skipped with a warning. */
int ms_dht_items_each(void (*fn)(void *ud, const char *repo, const struct lts_dht_item *it),
		      void (*warn)(void *ud, const char *msg), void *ud, struct ms_error *err);

/* The bundle of repo@rev is at hand (its three files in its directory):
 * the torrent into *tbuf (malloc'd) and the directory into dir. MS_ENOENT
 * if not. */
int ms_dht_bundle_load(const char *repo, const char *rev, unsigned char **tbuf,
		       size_t *tlen, char *dir, struct ms_error *err);

/*
 * Resolve r (r->want a ref) through the DHT, in engine e on loop: the
 * item, the rollback check, the bundle from peers (it stays in the
 * session, seeding), then the manifest verified and the torrent bound
 * into r as an index would have them (r->index = "dht:"). done(ud, code,
 * err) once, never before this returns: 0, MS_ENOTFOUND (no item in
 * time), MS_EVERIFY (something did not verify) or another code.
 */
struct ms_dht_lookup;
int ms_dht_resolve(struct ms_dht_lookup **out, uv_loop_t *loop, struct ms_engine *e,
		   struct ms_release *r,
		   void (*done)(void *ud, int code, const struct ms_error *err), void *ud,
		   struct ms_error *err);
/* Stop (done is not called) and free; NULL is fine. The bundle torrent,
 * if added, stays in the session. */
void ms_dht_lookup_free(struct ms_dht_lookup *l);

/* The indexes as ms_release_indexes() has them; when there is none and
 * dht is set, the DHT alone ("dht:"). */
int ms_dht_indexes(struct ms_release *r, const struct ms_strlist *given,
		   const struct ms_config *c, int dht, struct ms_error *err);

/*
 * ms_release_fetch() with the DHT as get has it: for "dht:" among r's
 * indexes, or when every index fails. The lookup runs in r->engine if
 * set (then loop is its loop); else, with eo's DHT on, in a session
 * started with eo only when the DHT's turn comes, and closed before this
 * returns (the bundle fetched stays in the state, at hand for a later
 * lookup).
 * loop NULL: a loop of its own. eo NULL or its DHT off, and no
 * r->engine: no DHT ("dht:" is an error then). A lookup stopped by a
 * signal returns MS_EINTR with r->signum set.
 */
int ms_dht_fetch(struct ms_release *r, uv_loop_t *loop, const struct ms_engine_opts *eo,
		 int flags, void (*on_warning)(void *ud, const char *msg), void *ud,
		 struct ms_error *err);

#endif
