/*
 * Trust: pinned public keys, one per organisation, and the rollback state
 * (highest version seen per repo's refs and per revision's manifest).
 *
 * Keys live in <config>/trusted/ORG.pub (minisign public key files);
 * state in <state>/releases/ORG/NAME.json, written atomically. A key is
 * only ever used for repos of its own organisation; there is no trust on
 * first use.
 */
#ifndef MS_TRUST_H
#define MS_TRUST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ms_manifest.h"
#include "ms_sign.h"

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

/* What a verification established. */
struct ms_verified {
	struct ms_manifest m;
	char trusted_comment[MS_COMMENT_MAX + 1];
	char keyid[17];
	char sha256[65];    /* of the manifest bytes */
};

/*
 * Verify a manifest for repo@revision, all before anything is saved:
 * size caps, strict .minisig parse, signature and global signature with
 * the org's pinned key, strict JSON and schema, repo/revision binding in
 * the manifest and in the trusted comment, expiry (at now), version not
 * below the stored one (equal version must be the same bytes). Then the
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

#endif
