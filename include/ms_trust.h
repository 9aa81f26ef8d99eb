/*
 * Trust: pinned public keys, one per organisation; bridge keys, each
 * trusted for the repos its scopes match; and the rollback state
 * (highest version seen per repo's refs and per revision's manifest, for
 * each signer).
 *
 * Org keys live in <config>/trusted/ORG.pub (minisign public key files),
 * bridges in <config>/trusted/bridges/NAME.json ({"key": ..., "scopes":
 * [...]}); state in <state>/releases/ORG/NAME.json for the org's key and
 * <state>/bridged/BRIDGE/ORG/NAME.json for a bridge's, written atomically.
 *
 * Which key may sign a release of ORG/NAME: the org's pinned key if it
 * has one (a lab's pinned key always wins: no bridge then), else a bridge
 * whose scope matches ORG/NAME. A manifest with a source is signed by a
 * bridge, one without by the org's key. There is no trust on first use.
 */
#ifndef MS_TRUST_H
#define MS_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ms_manifest.h"
#include "ms_sign.h"
#include "ms_util.h"

int ms_trust_add(const char *org, const struct ms_pubkey *pk, struct ms_error *err);
int ms_trust_remove(const char *org, struct ms_error *err);
/* MS_ENOENT with a message telling how to add one */
int ms_trust_get(const char *org, struct ms_pubkey *pk, struct ms_error *err);
/* calls fn for each trusted org, sorted by name */
int ms_trust_list(void (*fn)(const char *org, const struct ms_pubkey *pk, void *ud),
		  void *ud, struct ms_error *err);
/*
 * Keys whose secret key this user holds: <config>/own/KEYID.pub, written
 * by keygen and by publish. seed ORG/NAME@REV of a release signed by one
 * seeds as the release's origin unless told otherwise.
 */
int ms_trust_own_add(const struct ms_pubkey *pk, struct ms_error *err);
/* 1 if pk is one of them */
int ms_trust_own_has(const struct ms_pubkey *pk);
/* an organisation name as in ORG/NAME */
int ms_org_check(const char *org, struct ms_error *err);

#define MS_BRIDGE_NAME_MAX 96
#define MS_BRIDGE_SCOPES_MAX 64

/* A bridge: a key that signs the releases a daemon built from an upstream
 * hub's repos, trusted only for the repos one of its scopes matches. */
struct ms_bridge {
	char name[MS_BRIDGE_NAME_MAX + 1];
	struct ms_pubkey pk;
	struct ms_strlist scopes;     /* copies */
};
void ms_bridge_release(struct ms_bridge *b);

/* a bridge name: the rules of an organisation name */
int ms_bridge_name_check(const char *name, struct ms_error *err);
/* a scope: a glob over ORG/NAME, each half letters, digits, '.', '_',
 * '-', '*' and '?'; a '*' after 'acme/' is every repo of acme, one on
 * each side of the '/' every repo */
int ms_scope_check(const char *scope, struct ms_error *err);
/* 1 if scope matches repo ('*' does not cross '/') */
int ms_scope_match(const char *scope, const char *repo);

/* Trust pk as bridge name for scopes (1 to MS_BRIDGE_SCOPES_MAX, each
 * checked; repeats dropped). The same key again replaces the scopes; a
 * different key for a name that has one is MS_EEXIST. */
int ms_trust_bridge_add(const char *name, const struct ms_pubkey *pk,
			const struct ms_strlist *scopes, struct ms_error *err);
int ms_trust_bridge_remove(const char *name, struct ms_error *err);
/* MS_ENOENT if there is none; fills b (ms_bridge_release) */
int ms_trust_bridge_get(const char *name, struct ms_bridge *b, struct ms_error *err);
/* calls fn for each bridge, sorted by name; a damaged bridge file is an
 * error naming it */
int ms_trust_bridge_list(void (*fn)(const struct ms_bridge *b, void *ud), void *ud,
			 struct ms_error *err);

/* A bridge this process trusts without a file in trusted/bridges/: a
 * daemon's own bridge key, for the releases it bridges (replaces an
 * earlier one). The same rules hold for it. */
int ms_trust_bridge_local(const char *name, const struct ms_pubkey *pk,
			  const struct ms_strlist *scopes, struct ms_error *err);

/* 0 if some key may sign releases of repo (the org's pinned key, or a
 * bridge whose scope matches); else MS_ENOENT "no key is trusted for
 * ORG/NAME: ..." */
int ms_trust_check_repo(const char *repo, struct ms_error *err);

/* What a verification established. */
struct ms_verified {
	struct ms_manifest m;
	char trusted_comment[MS_COMMENT_MAX + 1];
	char keyid[17];
	char bridge[MS_BRIDGE_NAME_MAX + 1];  /* the bridge that signed, or
						 "" for the org's key */
	char sha256[65];    /* of the manifest bytes */
};

/* Who signed v, for messages: "key KEYID of ORG" or "bridge 'NAME' (key
 * KEYID)". */
void ms_verified_signer(const struct ms_verified *v, char *buf, size_t len);

/* Two verified manifests of the same repo and commit (a lab's and a
 * bridged one, say) agree: the same files with the same sha256s. Else
 * MS_EVERIFY with a message naming the first file that differs and both
 * signers (MS_EINVAL if they are not of the same repo and commit). */
int ms_release_agree(const struct ms_verified *a, const struct ms_verified *b,
		     struct ms_error *err);

/*
 * Verify a manifest for repo@revision, all before anything is saved:
 * size caps, strict .minisig parse, signature and global signature with
 * the key trusted for repo (above), strict JSON and schema, a source if
 * and only if a bridge signed, repo/revision binding in the manifest and
 * in the trusted comment, expiry (at now), version not below the one
 * stored for that signer (equal version must be the same bytes). Then the
 * state is saved atomically (unless dry_run).
 */
int ms_release_verify(const char *repo, const char *revision,
		      const void *manifest, size_t mlen, const char *sig,
		      size_t slen, time_t now, int dry_run,
		      struct ms_verified *out, struct ms_error *err);

/* The same for refs.json; out is filled on success. */
int ms_refs_verify(const char *repo, const void *refs, size_t rlen,
		   const char *sig, size_t slen, time_t now, int dry_run,
		   struct ms_refs *out, struct ms_error *err);

/* A BEP 44 item of repo's ref (ms_dht.h; sha: of its bencoded value) at
 * seq, checked against the same rollback state: refused below the
 * version of the refs.json seen, or below the item seen for that ref, or
 * at its seq with other bytes (MS_EBADSIG). Saved unless dry_run. A
 * refs.json below an item seen is refused likewise. */
int ms_dht_item_check(const char *repo, const char *ref, int64_t seq, const char *sha,
		      int dry_run, struct ms_error *err);

#endif
