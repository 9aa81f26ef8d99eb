/* trust.c: pinned org keys and rollback state */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ms_config.h"
#include "ms_hash.h"
#include "ms_trust.h"
#include "ms_util.h"

int ms_org_check(const char *org, struct ms_error *err)
{
	char repo[256];

	if (strlen(org) > 96 || strchr(org, '/'))
		return ms_error_set(err, MS_EINVAL, "'%s' is not an organisation name", org);
	snprintf(repo, sizeof(repo), "%s/x", org);
	if (ms_repo_check(repo, NULL, 0, NULL))
		return ms_error_set(err, MS_EINVAL,
				    "'%s' is not an organisation name (letters, digits, "
				    "'.', '_' and '-')", org);
	return 0;
}

static int key_path(const char *org, char *buf, size_t len, struct ms_error *err)
{
	char dir[PATH_MAX];
	int r;

	if ((r = ms_org_check(org, err)) || (r = ms_config_dir(dir, sizeof(dir), err)))
		return r;
	if ((size_t)snprintf(buf, len, "%s/trusted/%s.pub", dir, org) >= len)
		return ms_error_set(err, MS_EINVAL, "path too long");
	return 0;
}

int ms_trust_get(const char *org, struct ms_pubkey *pk, struct ms_error *err)
{
	char path[PATH_MAX];
	unsigned char *buf;
	size_t len;
	int r;

	if ((r = key_path(org, path, sizeof(path), err)))
		return r;
	if (access(path, F_OK) < 0)
		return ms_error_set(err, MS_ENOENT,
				    "no trusted key for '%s' (add the organisation's "
				    "published key with 'modelswarm trust add %s KEY')",
				    org, org);
	if ((r = ms_read_file(path, 4096, &buf, &len, err)))
		return r;
	r = ms_pubkey_parse((char *)buf, len, pk, err);
	free(buf);
	if (r && err) {
		char m[sizeof(err->msg)];
		snprintf(m, sizeof(m), "%s", err->msg);
		return ms_error_set(err, r, "trusted key for '%s' ('%s'): %s", org, path, m);
	}
	return r;
}

int ms_trust_add(const char *org, const struct ms_pubkey *pk, struct ms_error *err)
{
	char path[PATH_MAX], dir[PATH_MAX], b64[57], id[17], text[200];
	struct ms_pubkey old;
	int r;

	if ((r = key_path(org, path, sizeof(path), err)))
		return r;
	if (ms_trust_get(org, &old, NULL) == 0) {
		if (!memcmp(&old, pk, sizeof(old)))
			return 0;
		return ms_error_set(err, MS_EEXIST,
				    "'%s' already has a different trusted key; "
				    "'modelswarm trust remove %s' first", org, org);
	}
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	if ((r = ms_mkdir_p(dir, err)))
		return r;
	ms_pubkey_base64(pk, b64);
	ms_keynum_hex(pk->keynum, id);
	snprintf(text, sizeof(text), "untrusted comment: modelswarm trusted key %s for %s\n%s\n",
		 id, org, b64);
	return ms_write_file_atomic(path, text, strlen(text), 0644, err);
}

static int own_path(const struct ms_pubkey *pk, char *buf, size_t len, struct ms_error *err)
{
	char dir[PATH_MAX], id[17];
	int r;

	if ((r = ms_config_dir(dir, sizeof(dir), err)))
		return r;
	ms_keynum_hex(pk->keynum, id);
	if ((size_t)snprintf(buf, len, "%s/own/%s.pub", dir, id) >= len)
		return ms_error_set(err, MS_EINVAL, "path too long");
	return 0;
}

int ms_trust_own_add(const struct ms_pubkey *pk, struct ms_error *err)
{
	char path[PATH_MAX], dir[PATH_MAX], b64[57], id[17], text[200];
	int r;

	if (ms_trust_own_has(pk))
		return 0;
	if ((r = own_path(pk, path, sizeof(path), err)))
		return r;
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	if ((r = ms_mkdir_p(dir, err)))
		return r;
	ms_pubkey_base64(pk, b64);
	ms_keynum_hex(pk->keynum, id);
	snprintf(text, sizeof(text), "untrusted comment: modelswarm own key %s\n%s\n", id, b64);
	return ms_write_file_atomic(path, text, strlen(text), 0644, err);
}

int ms_trust_own_has(const struct ms_pubkey *pk)
{
	char path[PATH_MAX];
	struct ms_pubkey own;
	unsigned char *buf;
	size_t len;
	int r;

	if (own_path(pk, path, sizeof(path), NULL) || access(path, F_OK) < 0 ||
	    ms_read_file(path, 4096, &buf, &len, NULL))
		return 0;
	r = ms_pubkey_parse((char *)buf, len, &own, NULL);
	free(buf);
	return !r && !memcmp(&own, pk, sizeof(own));
}

int ms_trust_remove(const char *org, struct ms_error *err)
{
	char path[PATH_MAX];
	int r;

	if ((r = key_path(org, path, sizeof(path), err)))
		return r;
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return ms_error_set(err, MS_ENOENT, "no trusted key for '%s'", org);
		return ms_error_set(err, MS_EIO, "cannot remove '%s': %s", path,
				    strerror(errno));
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ms_trust_list(void (*fn)(const char *org, const struct ms_pubkey *pk, void *ud),
		  void *ud, struct ms_error *err)
{
	char dir[PATH_MAX], base[PATH_MAX];
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	DIR *d;
	int r;

	if ((r = ms_config_dir(base, sizeof(base), err)))
		return r;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/trusted", base) >= sizeof(dir))
		return ms_error_set(err, MS_EINVAL, "path too long");
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0
				       : ms_error_set(err, MS_EIO, "cannot open '%s': %s",
						      dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char **v;
		if (l <= 4 || strcmp(de->d_name + l - 4, ".pub"))
			continue;
		v = realloc(names, (n + 1) * sizeof(*v));
		if (!v)
			break;
		names = v;
		names[n] = strndup(de->d_name, l - 4);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct ms_pubkey pk;
		if (!ms_trust_get(names[i], &pk, NULL))
			fn(names[i], &pk, ud);
		free(names[i]);
	}
	free(names);
	return 0;
}

/* ---- rollback state ---------------------------------------------------- */

static int state_path(const char *repo, char *buf, size_t len, struct ms_error *err)
{
	char dir[PATH_MAX];
	int r;

	if ((r = ms_repo_check(repo, NULL, 0, err)) ||
	    (r = ms_state_dir(dir, sizeof(dir), err)))
		return r;
	if ((size_t)snprintf(buf, len, "%s/releases/%s.json", dir, repo) >= len)
		return ms_error_set(err, MS_EINVAL, "path too long");
	return 0;
}

static json_t *state_load(const char *repo, struct ms_error *err)
{
	char path[PATH_MAX];
	unsigned char *buf;
	size_t len;
	json_error_t je;
	json_t *j;

	if (state_path(repo, path, sizeof(path), err))
		return NULL;
	if (access(path, F_OK) < 0)
		return json_object();
	if (ms_read_file(path, 64u << 20, &buf, &len, err))
		return NULL;
	j = json_loadb((char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		ms_error_set(err, MS_EINVAL, "state file '%s' is corrupt", path);
		return NULL;
	}
	return j;
}

static int state_save(const char *repo, json_t *j, struct ms_error *err)
{
	char path[PATH_MAX], dir[PATH_MAX], *text;
	int r;

	if ((r = state_path(repo, path, sizeof(path), err)))
		return r;
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	if ((r = ms_mkdir_p(dir, err)))
		return r;
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		return ms_error_set(err, MS_ENOMEM, "cannot encode state");
	r = ms_write_file_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return r;
}

/* entry {version, sha256} at j[key] (or j[key][sub]) against a new one */
static int check_version(json_t *entry, int64_t version, const char *sha,
			 const char *what, struct ms_error *err)
{
	json_t *v, *s;

	if (!entry)
		return 0;
	v = json_object_get(entry, "version");
	s = json_object_get(entry, "sha256");
	if (!json_is_integer(v) || !json_is_string(s))
		return ms_error_set(err, MS_EINVAL, "state for %s is corrupt", what);
	if (version < json_integer_value(v))
		return ms_error_set(err, MS_EBADSIG,
				    "rollback: %s has version %lld, older than version "
				    "%lld seen before", what, (long long)version,
				    (long long)json_integer_value(v));
	if (version == json_integer_value(v) && strcmp(sha, json_string_value(s)))
		return ms_error_set(err, MS_EBADSIG,
				    "%s: version %lld was seen before with different bytes",
				    what, (long long)version);
	return 0;
}

static json_t *entry_new(int64_t version, const char *sha)
{
	json_t *e = json_object();

	json_object_set_new(e, "version", json_integer(version));
	json_object_set_new(e, "sha256", json_string(sha));
	return e;
}

static void sha256_hex(const void *buf, size_t len, char out[65])
{
	uint8_t h[32];

	EVP_Digest(buf, len, h, NULL, EVP_sha256(), NULL);
	ms_hex(h, 32, out);
}

static int check_sig(const char *org, const void *msg, size_t mlen,
		     const char *sig, size_t slen, size_t cap, const char *what,
		     char *tc, size_t tclen, char keyid[17], struct ms_error *err)
{
	uint8_t keynum[MS_KEYNUM_BYTES];
	struct ms_pubkey pk;
	int r;

	/* size caps */
	if (mlen > cap)
		return ms_error_set(err, MS_ETOOBIG, "%s is too large (%zu bytes, at most %zu)",
				    what, mlen, cap);
	if (slen > MS_SIGFILE_MAX)
		return ms_error_set(err, MS_ETOOBIG,
				    "%s signature is too large (%zu bytes)", what, slen);
	/* strict .minisig parse */
	if ((r = ms_sig_keynum(sig, slen, keynum, err)))
		return r;
	/* the org's pinned key, and only that */
	if ((r = ms_trust_get(org, &pk, err)))
		return r;
	ms_keynum_hex(pk.keynum, keyid);
	if ((r = ms_verify(&pk, msg, mlen, sig, slen, tc, tclen, err))) {
		char m[sizeof(err->msg)];
		snprintf(m, sizeof(m), "%s", err ? err->msg : "");
		return ms_error_set(err, r, "%s: %s", what, m);
	}
	return 0;
}

int ms_release_verify(const char *repo, const char *revision,
		      const void *manifest, size_t mlen, const char *sig,
		      size_t slen, time_t now, int dry_run,
		      struct ms_verified *out, struct ms_error *err)
{
	char org[128], want[512], what[300];
	json_t *st = NULL, *revs, *e;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = ms_repo_check(repo, org, sizeof(org), err)))
		return r;
	if (revision && ms_revision_check(revision))
		return ms_error_set(err, MS_EINVAL, "'%s' is not a 40-hex revision", revision);
	snprintf(what, sizeof(what), "manifest of %s@%s", repo, revision ? revision : "?");
	if ((r = check_sig(org, manifest, mlen, sig, slen, MS_MANIFEST_MAX, what,
			   out->trusted_comment, sizeof(out->trusted_comment),
			   out->keyid, err)))
		return r;
	if ((r = ms_manifest_parse(manifest, mlen, &out->m, err)))
		return r;
	/* binding: the manifest and its trusted comment name what was asked */
	if (strcmp(out->m.repo, repo)) {
		r = ms_error_set(err, MS_EBADSIG,
				 "manifest is for '%s', not for '%s'", out->m.repo, repo);
		goto fail;
	}
	if (revision && strcmp(out->m.revision, revision)) {
		r = ms_error_set(err, MS_EBADSIG, "manifest is for revision %s, not %s",
				 out->m.revision, revision);
		goto fail;
	}
	ms_manifest_comment(&out->m, want, sizeof(want));
	if (strcmp(want, out->trusted_comment)) {
		r = ms_error_set(err, MS_EBADSIG,
				 "trusted comment '%s' does not match the manifest ('%s')",
				 out->trusted_comment, want);
		goto fail;
	}
	if (now >= out->m.expires) {
		char t[21];
		ms_time_format(out->m.expires, t);
		r = ms_error_set(err, MS_EBADSIG, "manifest of %s@%s expired at %s", repo,
				 out->m.revision, t);
		goto fail;
	}
	sha256_hex(manifest, mlen, out->sha256);
	if (!(st = state_load(repo, err))) {
		r = err ? err->code : MS_EIO;
		goto fail;
	}
	revs = json_object_get(st, "revisions");
	e = json_is_object(revs) ? json_object_get(revs, out->m.revision) : NULL;
	snprintf(what, sizeof(what), "manifest of %s@%s", repo, out->m.revision);
	if ((r = check_version(e, out->m.version, out->sha256, what, err)))
		goto fail;
	if (!dry_run) {
		if (!json_is_object(revs)) {
			revs = json_object();
			json_object_set_new(st, "revisions", revs);
		}
		json_object_set_new(revs, out->m.revision,
				    entry_new(out->m.version, out->sha256));
		if ((r = state_save(repo, st, err)))
			goto fail;
	}
	json_decref(st);
	return 0;
fail:
	json_decref(st);
	ms_manifest_release(&out->m);
	return r;
}

int ms_refs_verify(const char *repo, const void *refs, size_t rlen,
		   const char *sig, size_t slen, time_t now, int dry_run,
		   struct ms_refs *out, struct ms_error *err)
{
	char org[128], want[512], tc[MS_COMMENT_MAX + 1], keyid[17], sha[65];
	char what[300];
	json_t *st = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = ms_repo_check(repo, org, sizeof(org), err)))
		return r;
	snprintf(what, sizeof(what), "refs.json of %s", repo);
	if ((r = check_sig(org, refs, rlen, sig, slen, MS_REFS_MAX, what, tc,
			   sizeof(tc), keyid, err)))
		return r;
	if ((r = ms_refs_parse(refs, rlen, out, err)))
		return r;
	if (strcmp(out->repo, repo)) {
		r = ms_error_set(err, MS_EBADSIG, "refs.json is for '%s', not for '%s'",
				 out->repo, repo);
		goto fail;
	}
	ms_refs_comment(out, want, sizeof(want));
	if (strcmp(want, tc)) {
		r = ms_error_set(err, MS_EBADSIG,
				 "trusted comment '%s' does not match refs.json ('%s')", tc,
				 want);
		goto fail;
	}
	if (now >= out->expires) {
		char t[21];
		ms_time_format(out->expires, t);
		r = ms_error_set(err, MS_EBADSIG, "refs.json of %s expired at %s", repo, t);
		goto fail;
	}
	sha256_hex(refs, rlen, sha);
	if (!(st = state_load(repo, err))) {
		r = err ? err->code : MS_EIO;
		goto fail;
	}
	if ((r = check_version(json_object_get(st, "refs"), out->version, sha, what, err)))
		goto fail;
	if (!dry_run) {
		json_object_set_new(st, "refs", entry_new(out->version, sha));
		if ((r = state_save(repo, st, err)))
			goto fail;
	}
	json_decref(st);
	return 0;
fail:
	json_decref(st);
	ms_refs_release(out);
	return r;
}
