/* test-trust.c: pinned organisation keys and the rollback state, in a
 * temporary MODELSWARM_HOME / XDG_CONFIG_HOME / XDG_STATE_HOME / HOME */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ms_trust.h"
#include "ms_util.h"
#include "tap.h"
#include "tmpdir.h"

#define REV_A "11f6ad8ec52a2984abaafd7c3b516503785c2072"
#define REV_B "22f6ad8ec52a2984abaafd7c3b516503785c2072"
#define NOW "2026-06-01T00:00:00Z"
#define EXPIRES "2027-01-01T00:00:00Z"
/* the rollback state of acme/tiny */
#define STATE path("ms/state/releases/acme/tiny.json")

static int starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static char *manifest(const char *repo, const char *rev, int version, const char *issued)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		 "{\"_type\": \"modelswarm.release\", \"spec_version\": 1,"
		 " \"repo\": \"%s\", \"repo_type\": \"model\","
		 " \"revision\": \"%s\", \"version\": %d,"
		 " \"issued\": \"%s\", \"expires\": \"" EXPIRES "\","
		 " \"torrent\": {\"infohash_v1\": \"ec02dc8070efb2007ebde988dc62119d5b15053d\","
		 "  \"infohash_v2\": \"43658af0372ea04aa02f97762eae307db2da21addd03d960ff27f553ac76b700\","
		 "  \"piece_length\": 65536},"
		 " \"files\": [{\"path\": \"model.safetensors\", \"size\": 12000000,"
		 "  \"sha256\": \"fe470b8845196fb39265db76cce8ada41fd244e148526dc5f2dd936c8f625d96\","
		 "  \"etag\": \"fe470b8845196fb39265db76cce8ada41fd244e148526dc5f2dd936c8f625d96\","
		 "  \"pieces_root\": \"91c72f00f9f3c88709794bd718955448f542e220b27410b9cb3423ce27e29160\"}],"
		 " \"webseeds\": [], \"trackers\": [\"http://127.0.0.1:1/announce\"]}\n",
		 repo, rev, version, issued);
	return strdup(buf);
}

static char *refs(const char *repo, int version, const char *issued)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"_type\": \"modelswarm.refs\", \"spec_version\": 1, \"repo\": \"%s\","
		 " \"version\": %d, \"issued\": \"%s\", \"expires\": \"" EXPIRES "\","
		 " \"refs\": {\"main\": {\"revision\": \"" REV_A "\", \"version\": 2}}}\n",
		 repo, version, issued);
	return strdup(buf);
}

static char *sign(const struct ms_seckey *sk, const char *text, const char *tc)
{
	char *sig = NULL;
	if (ms_sign(sk, text, strlen(text), tc, &sig, NULL))
		return strdup("");
	return sig;
}

/* the manifest's signature with the trusted comment ms_release_verify wants */
static char *sign_m(const struct ms_seckey *sk, const char *repo, const char *rev,
		    int version, const char *text)
{
	char tc[256];
	snprintf(tc, sizeof(tc), "modelswarm manifest repo=%s revision=%s version=%d", repo,
		 rev, version);
	return sign(sk, text, tc);
}

static char *sign_r(const struct ms_seckey *sk, const char *repo, int version,
		    const char *text)
{
	char tc[256];
	snprintf(tc, sizeof(tc), "modelswarm refs repo=%s version=%d", repo, version);
	return sign(sk, text, tc);
}

static time_t now;

static int verify_m(const char *repo, const char *rev, const char *m, const char *sig,
		   int dry, struct ms_error *err)
{
	struct ms_verified v;
	int r = ms_release_verify(repo, rev, m, strlen(m), sig, strlen(sig), now, dry, &v,
				  err);
	if (!r)
		ms_manifest_release(&v.m);
	return r;
}

static int verify_r(const char *repo, const char *r_text, const char *sig, int dry,
		   struct ms_error *err)
{
	struct ms_refs out;
	int r = ms_refs_verify(repo, r_text, strlen(r_text), sig, strlen(sig), now, dry,
			       &out, err);
	if (!r)
		ms_refs_release(&out);
	return r;
}

/* a manifest of acme/tiny for rev, signed with sk, verified as ask */
static int try_m(const struct ms_seckey *sk, const char *ask, const char *rev, int version,
		 const char *issued, int dry, struct ms_error *err)
{
	char *m = manifest("acme/tiny", rev, version, issued);
	char *s = sign_m(sk, "acme/tiny", rev, version, m);
	int r = verify_m("acme/tiny", ask, m, s, dry, err);

	free(m);
	free(s);
	return r;
}

/* refs.json of acme/tiny, signed with sk, verified for repo */
static int try_r(const struct ms_seckey *sk, const char *repo, int version,
		 const char *issued, int dry, struct ms_error *err)
{
	char *r_text = refs("acme/tiny", version, issued);
	char *s = sign_r(sk, "acme/tiny", version, r_text);
	int r = verify_r(repo, r_text, s, dry, err);

	free(r_text);
	free(s);
	return r;
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char h[32];
	EVP_Digest(s, strlen(s), h, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

/* what ms_trust_list reported: "org=KEYID org=KEYID" */
static void list_cb(const char *org, const struct ms_pubkey *pk, void *ud)
{
	char *out = ud, id[17];
	ms_keynum_hex(pk->keynum, id);
	sprintf(out + strlen(out), "%s%s=%s", *out ? " " : "", org, id);
}

static const char *list(struct ms_error *err, int *rc)
{
	static char out[1024];
	out[0] = '\0';
	*rc = ms_trust_list(list_cb, out, err);
	return out;
}

int main(void)
{
	struct ms_pubkey pk1, pk2, got;
	struct ms_seckey *sk1, *sk2;
	struct ms_error err;
	char id1[17], id2[17], b64[57], want[2048], *m, *s;
	struct stat st;
	int rc;

	if (tmpdir_make("trust"))
		return 2;
	/* everything the modules read lives under tmp; MODELSWARM_HOME wins */
	setenv("HOME", path("home"), 1);
	setenv("XDG_CONFIG_HOME", path("xdg-config"), 1);
	setenv("XDG_STATE_HOME", path("xdg-state"), 1);
	setenv("MODELSWARM_HOME", path("ms"), 1);
	ms_time_parse(NOW, &now);

	if (ms_key_generate(&pk1, &sk1, &err) || ms_key_generate(&pk2, &sk2, &err))
		return 2;
	ms_keynum_hex(pk1.keynum, id1);
	ms_keynum_hex(pk2.keynum, id2);

	/* ---- organisation names ---- */
	ok(ms_org_check("acme", &err) == 0 && ms_org_check("A.b_c-9", &err) == 0,
	   "plain organisation names pass");
	{
		char o[98];
		memset(o, 'a', 96);
		o[96] = '\0';
		ok(ms_org_check(o, &err) == 0, "96 bytes is the longest name");
		o[96] = 'a';
		o[97] = '\0';
		ok(ms_org_check(o, &err) == MS_EINVAL && strstr(err.msg, o) &&
		   strstr(err.msg, "is not an organisation name"), "97 bytes refused");
	}
	ok(ms_org_check("acme/x", &err) == MS_EINVAL &&
	   !strcmp(err.msg, "'acme/x' is not an organisation name"),
	   "a slash is refused: %s", err.msg);
	ok(ms_org_check("", &err) == MS_EINVAL &&
	   starts(err.msg, "'' is not an organisation name"),
	   "empty name refused: %s", err.msg);
	ok(ms_org_check("a b", &err) == MS_EINVAL &&
	   !strcmp(err.msg, "'a b' is not an organisation name (letters, digits, "
		   "'.', '_' and '-')"), "a space is refused: %s", err.msg);
	ok(ms_org_check("..", &err) == MS_EINVAL &&
	   ms_org_check(".hidden", &err) == MS_EINVAL &&
	   ms_org_check("-x", &err) == MS_EINVAL && ms_org_check("a..b", &err) == MS_EINVAL &&
	   strstr(err.msg, "'a..b'"), "'..', a leading '.' or '-' and '..' inside refused");

	/* ---- pinned keys ---- */
	ok(ms_trust_get("acme", &got, &err) == MS_ENOENT &&
	   !strcmp(err.msg, "no trusted key for 'acme' (add the organisation's published "
		   "key with 'modelswarm trust add acme KEY')"),
	   "no key yet: %s", err.msg);
	ok(!strcmp(list(&err, &rc), "") && rc == 0, "empty list when trusted/ does not exist");
	ok(ms_trust_add("../evil", &pk1, &err) == MS_EINVAL && strstr(err.msg, "'../evil'") &&
	   !exists(path("ms/trusted")) && !exists(path("evil.pub")),
	   "bad organisation name refused, nothing written: %s", err.msg);
	ok(ms_trust_get("../evil", &got, &err) == MS_EINVAL &&
	   ms_trust_remove("a/b", &err) == MS_EINVAL && strstr(err.msg, "'a/b'"),
	   "get and remove check the name too");

	ok(ms_trust_add("acme", &pk1, &err) == 0, "key pinned for acme");
	ms_pubkey_base64(&pk1, b64);
	snprintf(want, sizeof(want),
		 "untrusted comment: modelswarm trusted key %s for acme\n%s\n", id1, b64);
	ok(!strcmp(slurp(path("ms/trusted/acme.pub")), want),
	   "$MODELSWARM_HOME/trusted/acme.pub holds the minisign .pub text");
	ok(stat(path("ms/trusted/acme.pub"), &st) == 0 && (st.st_mode & 0777) == 0644,
	   "key file is 0644");
	ok(ms_trust_get("acme", &got, &err) == 0 && !memcmp(&got, &pk1, sizeof(got)),
	   "and reads back as the same key");
	ok(ms_trust_add("acme", &pk1, &err) == 0 &&
	   !strcmp(slurp(path("ms/trusted/acme.pub")), want),
	   "adding the same key again is a no-op");
	ok(ms_trust_add("acme", &pk2, &err) == MS_EEXIST &&
	   !strcmp(err.msg, "'acme' already has a different trusted key; "
		   "'modelswarm trust remove acme' first"), "another key refused: %s", err.msg);
	ok(ms_trust_get("acme", &got, &err) == 0 && !memcmp(&got, &pk1, sizeof(got)) &&
	   !strcmp(slurp(path("ms/trusted/acme.pub")), want), "and the first key stays");
	ok(ms_trust_add("zed", &pk2, &err) == 0 && ms_trust_add("beta", &pk1, &err) == 0,
	   "keys for zed and (the same key again) beta");
	snprintf(want, sizeof(want), "acme=%s beta=%s zed=%s", id1, id1, id2);
	ok(!strcmp(list(&err, &rc), want) && rc == 0, "list is sorted by name: %s", want);

	/* the directory is the whole truth: a .pub written by hand is trusted */
	ok(ms_pubkey_write(path("ms/trusted/hand.pub"), &pk2, &err) == 0 &&
	   ms_trust_get("hand", &got, &err) == 0 && !memcmp(&got, &pk2, sizeof(got)),
	   "a minisign .pub copied into trusted/ is read");
	/* junk next to the keys */
	put(path("ms/trusted/notes.txt"), "hello\n");
	put(path("ms/trusted/.pub"), "x\n");
	put(path("ms/trusted/corrupt.pub"), "untrusted comment: x\nnot base64\n");
	ms_pubkey_write(path("ms/trusted/bad name.pub"), &pk1, NULL);
	snprintf(want, sizeof(want), "acme=%s beta=%s hand=%s zed=%s", id1, id1, id2, id2);
	ok(!strcmp(list(&err, &rc), want) && rc == 0,
	   "list skips other files, bad names and unreadable keys: %s", want);
	ok(ms_trust_get("corrupt", &got, &err) == MS_EINVAL &&
	   strstr(err.msg, "not a minisign public key") && strstr(err.msg, "'corrupt'") &&
	   strstr(err.msg, "trusted/corrupt.pub"),
	   "a corrupt key file is an error naming the org and the file: %s", err.msg);
	ok(ms_trust_add("corrupt", &pk2, &err) == 0 &&
	   ms_trust_get("corrupt", &got, &err) == 0 &&
	   !memcmp(&got, &pk2, sizeof(got)), "add replaces a corrupt key file");
	ms_trust_remove("corrupt", NULL);

	/* the environment says where keys live */
	setenv("MODELSWARM_HOME", path("ms-other"), 1);
	ok(ms_trust_get("acme", &got, &err) == MS_ENOENT, "another MODELSWARM_HOME: no key");
	unsetenv("MODELSWARM_HOME");
	ok(ms_trust_add("xdg", &pk1, &err) == 0 &&
	   exists(path("xdg-config/modelswarm/trusted/xdg.pub")) &&
	   !exists(path("ms-other")), "without it: $XDG_CONFIG_HOME/modelswarm/trusted");
	unsetenv("XDG_CONFIG_HOME");
	ok(ms_trust_add("home", &pk1, &err) == 0 &&
	   exists(path("home/.config/modelswarm/trusted/home.pub")),
	   "without that: $HOME/.config/modelswarm/trusted");
	unsetenv("HOME");
	ok(ms_trust_get("acme", &got, &err) == MS_ENOENT &&
	   !strcmp(err.msg, "HOME is not set; set MODELSWARM_HOME"),
	   "no HOME: %s", err.msg);
	setenv("HOME", path("home"), 1);
	setenv("XDG_CONFIG_HOME", path("xdg-config"), 1);
	setenv("MODELSWARM_HOME", path("ms"), 1);
	ok(ms_trust_get("acme", &got, &err) == 0 && !memcmp(&got, &pk1, sizeof(got)),
	   "back to the first MODELSWARM_HOME: the key is still there");

	ok(ms_trust_remove("hand", &err) == 0 && !exists(path("ms/trusted/hand.pub")) &&
	   ms_trust_get("hand", &got, &err) == MS_ENOENT, "remove");
	ok(ms_trust_remove("hand", &err) == MS_ENOENT &&
	   !strcmp(err.msg, "no trusted key for 'hand'"), "removing twice: %s", err.msg);
	ok(ms_trust_add("hand", &pk1, &err) == 0, "after remove, another key may be added");
	ms_trust_remove("hand", NULL);

	/* ---- the rollback state of a manifest ---- */
	m = manifest("acme/tiny", REV_A, 2, "2026-01-01T00:00:00Z");
	s = sign_m(sk1, "acme/tiny", REV_A, 2, m);
	{
		struct ms_verified v;
		char sha[65];
		sha256_hex(m, sha);
		rc = ms_release_verify("acme/tiny", REV_A, m, strlen(m), s, strlen(s), now, 1,
				       &v, &err);
		ok(rc == 0, "dry run verifies%s%s", rc ? ": " : "", rc ? err.msg : "");
		ok(!strcmp(v.sha256, sha) && !strcmp(v.keyid, id1) && v.m.version == 2 &&
		   !strcmp(v.trusted_comment, "modelswarm manifest repo=acme/tiny revision="
			   REV_A " version=2"), "it reports the sha256, key id and comment");
		if (!rc)
			ms_manifest_release(&v.m);
		ok(!exists(path("ms/state")), "a dry run saves no state");
		ok(verify_m("acme/tiny", REV_A, m, s, 0, &err) == 0, "version 2 accepted");
		snprintf(want, sizeof(want),
			 "{\n  \"revisions\": {\n    \"" REV_A "\": {\n"
			 "      \"sha256\": \"%s\",\n      \"version\": 2\n    }\n  }\n}", sha);
		ok(!strcmp(slurp(STATE), want),
		   "state: $MODELSWARM_HOME/state/releases/acme/tiny.json, version and sha256");
	}
	ok(verify_m("acme/tiny", REV_A, m, s, 0, &err) == 0 &&
	   verify_m("acme/tiny", NULL, m, s, 0, &err) == 0,
	   "the same bytes again (with and without the revision asked for)");
	ok(!strcmp(slurp(STATE), want), "state unchanged");

	ok(try_m(sk1, REV_A, REV_A, 1, "2025-12-01T00:00:00Z", 1, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "rollback: manifest of acme/tiny@" REV_A " has version 1, "
		   "older than version 2 seen before"), "lower version refused: %s", err.msg);
	ok(try_m(sk1, REV_A, REV_A, 1, "2025-12-01T00:00:00Z", 0, &err) == MS_EBADSIG &&
	   !strcmp(slurp(STATE), want), "also without dry run, and the state is unchanged");
	ok(try_m(sk1, REV_A, REV_A, 2, "2026-01-02T00:00:00Z", 0, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "manifest of acme/tiny@" REV_A ": version 2 was seen before "
		   "with different bytes") && !strcmp(slurp(STATE), want),
	   "same version, other bytes refused: %s", err.msg);
	ok(try_m(sk1, REV_A, REV_A, 3, "2026-02-01T00:00:00Z", 0, &err) == 0 &&
	   strstr(slurp(STATE), "\"version\": 3"), "a higher version is accepted and saved");
	ok(verify_m("acme/tiny", REV_A, m, s, 0, &err) == MS_EBADSIG &&
	   strstr(err.msg, "has version 2, older than version 3"),
	   "now version 2 is a rollback: %s", err.msg);
	/* versions are per revision */
	ok(try_m(sk1, REV_B, REV_B, 1, "2026-03-01T00:00:00Z", 0, &err) == 0 &&
	   strstr(slurp(STATE), REV_B),
	   "another revision has its own version (1 after 3 is fine)");
	ok(try_m(sk1, REV_A, REV_B, 1, "2026-03-01T00:00:00Z", 1, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "manifest is for revision " REV_B ", not " REV_A),
	   "revision binding: %s", err.msg);

	/* the state is reread from disk every time; it follows XDG_STATE_HOME */
	unsetenv("MODELSWARM_HOME");
	ok(ms_trust_add("acme", &pk1, &err) == 0 &&
	   verify_m("acme/tiny", REV_A, m, s, 0, &err) == 0 &&
	   exists(path("xdg-state/modelswarm/releases/acme/tiny.json")),
	   "a fresh $XDG_STATE_HOME/modelswarm has no history: version 2 accepted");
	setenv("MODELSWARM_HOME", path("ms"), 1);
	ok(verify_m("acme/tiny", REV_A, m, s, 0, &err) == MS_EBADSIG &&
	   strstr(err.msg, "older than version 3"),
	   "the first MODELSWARM_HOME still remembers version 3");

	/* refusals before the state is looked at */
	ok(verify_m("acme/tiny", "main", m, s, 1, &err) == MS_EINVAL &&
	   !strcmp(err.msg, "'main' is not a 40-hex revision"), "%s", err.msg);
	ok(verify_m("acme", REV_A, m, s, 1, &err) == MS_EINVAL && strstr(err.msg, "'acme'"),
	   "bad repo name: %s", err.msg);
	ok(verify_m("beta/tiny", REV_A, m, s, 1, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "manifest is for 'acme/tiny', not for 'beta/tiny'"),
	   "repo binding (beta pins the same key): %s", err.msg);
	ok(verify_m("zed/tiny", REV_A, m, s, 1, &err) == MS_EBADSIG &&
	   starts(err.msg, "manifest of zed/tiny@" REV_A ": "),
	   "acme's key is not zed's: %s", err.msg);
	ok(verify_m("nokey/tiny", REV_A, m, s, 1, &err) == MS_ENOENT &&
	   strstr(err.msg, "no key is trusted for nokey/tiny: pin the org's key"),
	   "no trust on first use: %s", err.msg);
	{
		char *tc = sign(sk1, m, "modelswarm manifest repo=acme/tiny revision=" REV_A
				" version=9");
		ok(verify_m("acme/tiny", REV_A, m, tc, 1, &err) == MS_EBADSIG &&
		   !strcmp(err.msg, "trusted comment 'modelswarm manifest repo=acme/tiny "
			   "revision=" REV_A " version=9' does not match the manifest "
			   "('modelswarm manifest repo=acme/tiny revision=" REV_A
			   " version=2')"),
		   "trusted comment binding: %s", err.msg);
		free(tc);
	}
	{
		char *bad = strdup(m);
		strstr(bad, "model.safetensors")[0] = 'M';
		ok(verify_m("acme/tiny", REV_A, bad, s, 1, &err) == MS_EBADSIG &&
		   starts(err.msg, "manifest of acme/tiny@" REV_A ": "),
		   "a changed byte: %s", err.msg);
		free(bad);
	}
	{
		struct ms_verified v;
		time_t exp;
		ms_time_parse(EXPIRES, &exp);
		ok(ms_release_verify("beta/tiny", NULL, m, strlen(m), s, strlen(s), now, 1, &v,
				     &err) == MS_EBADSIG &&
				   strstr(err.msg, "not for 'beta/tiny'"),
		   "no revision asked: still the repo binding");
		ok(ms_release_verify("acme/tiny", REV_A, m, strlen(m), s, strlen(s), exp, 1, &v,
				     &err) == MS_EBADSIG &&
		   !strcmp(err.msg, "manifest of acme/tiny@" REV_A " expired at " EXPIRES),
		   "expired at its expiry time: %s", err.msg);
		ok(ms_release_verify("acme/tiny", REV_A, m, strlen(m), s, strlen(s), exp - 1, 1,
				     &v, &err) == MS_EBADSIG && strstr(err.msg, "older than"),
		   "a second before, it gets as far as the state");
	}
	{
		size_t big = MS_MANIFEST_MAX + 1;
		char *b = calloc(1, big), sigbig[MS_SIGFILE_MAX + 1];
		struct ms_verified v;
		memset(sigbig, 'a', sizeof(sigbig));
		ok(ms_release_verify("acme/tiny", REV_A, b, big, s, strlen(s), now, 1, &v,
				     &err) == MS_ETOOBIG &&
		   !strcmp(err.msg, "manifest of acme/tiny@" REV_A " is too large (16777217 "
			   "bytes, at most 16777216)"), "oversize manifest: %s", err.msg);
		ok(ms_release_verify("acme/tiny", REV_A, m, strlen(m), sigbig, sizeof(sigbig),
				     now, 1, &v, &err) == MS_ETOOBIG &&
		   !strcmp(err.msg, "manifest of acme/tiny@" REV_A " signature is too large "
			   "(4097 bytes)"), "oversize signature: %s", err.msg);
		free(b);
	}

	/* a damaged state file is an error, not a fresh start */
	strcpy(want, slurp(STATE));
	put(STATE, "{\"revisions\": ");
	ok(verify_m("acme/tiny", REV_A, m, s, 0, &err) == MS_EINVAL &&
	   strstr(err.msg, "state file '") &&
	   strstr(err.msg, "/ms/state/releases/acme/tiny.json' is corrupt"),
	   "truncated state: %s", err.msg);
	put(STATE,
	    "{\"revisions\": {\"" REV_A "\": {\"version\": \"3\", \"sha256\": \"x\"}}}");
	ok(verify_m("acme/tiny", REV_A, m, s, 0, &err) == MS_EINVAL &&
	   !strcmp(err.msg, "state for manifest of acme/tiny@" REV_A " is corrupt"),
	   "an entry of the wrong type: %s", err.msg);
	put(STATE, want);
	free(m);
	free(s);

	/* ---- the rollback state of refs.json ---- */
	m = refs("acme/tiny", 2, "2026-01-01T00:00:00Z");
	s = sign_r(sk1, "acme/tiny", 2, m);
	ok(verify_r("acme/tiny", m, s, 1, &err) == 0 &&
	   !strcmp(slurp(STATE), want),
	   "refs.json dry run: accepted, nothing saved");
	ok(verify_r("acme/tiny", m, s, 0, &err) == 0, "refs.json version 2 accepted");
	{
		char sha[65], exp[4096];
		sha256_hex(m, sha);
		/* the revisions entry stays; "refs" sorts before it */
		snprintf(exp, sizeof(exp), "{\n  \"refs\": {\n    \"sha256\": \"%s\",\n"
			 "    \"version\": 2\n  },\n%s", sha, want + 2);
		ok(!strcmp(slurp(STATE), exp),
		   "state gains a refs entry next to the revisions");
	}
	ok(verify_r("acme/tiny", m, s, 0, &err) == 0, "the same refs.json again");
	ok(try_r(sk1, "acme/tiny", 1, "2025-12-01T00:00:00Z", 0, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "rollback: refs.json of acme/tiny has version 1, older than "
		   "version 2 seen before"), "older refs.json refused: %s", err.msg);
	ok(try_r(sk1, "acme/tiny", 2, "2026-01-02T00:00:00Z", 0, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "refs.json of acme/tiny: version 2 was seen before with "
		   "different bytes"), "same version, other bytes: %s", err.msg);
	ok(try_r(sk1, "acme/tiny", 3, "2026-02-01T00:00:00Z", 0, &err) == 0 &&
	   verify_r("acme/tiny", m, s, 0, &err) == MS_EBADSIG &&
	   strstr(err.msg, "has version 2, older than version 3"),
	   "version 3 accepted, then 2 is a rollback");
	ok(try_r(sk1, "beta/tiny", 3, "2026-02-01T00:00:00Z", 1, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "refs.json is for 'acme/tiny', not for 'beta/tiny'"),
	   "refs repo binding: %s", err.msg);
	ok(try_r(sk1, "zed/tiny", 3, "2026-02-01T00:00:00Z", 1, &err) == MS_EBADSIG &&
	   starts(err.msg, "refs.json of zed/tiny: "), "refs with another org's key: %s",
	   err.msg);
	{
		char *tc = sign(sk1, m, "modelswarm refs repo=acme/tiny version=7");
		ok(verify_r("acme/tiny", m, tc, 1, &err) == MS_EBADSIG &&
		   !strcmp(err.msg, "trusted comment 'modelswarm refs repo=acme/tiny "
			   "version=7' does not match refs.json ('modelswarm refs "
			   "repo=acme/tiny version=2')"),
		   "refs trusted comment binding: %s", err.msg);
		free(tc);
	}
	{
		struct ms_refs out;
		time_t exp;
		ms_time_parse(EXPIRES, &exp);
		ok(ms_refs_verify("acme/tiny", m, strlen(m), s, strlen(s), exp, 1, &out,
				  &err) == MS_EBADSIG &&
		   !strcmp(err.msg, "refs.json of acme/tiny expired at " EXPIRES),
		   "expired refs.json: %s", err.msg);
	}
	free(m);
	free(s);

	ms_seckey_free(sk1);
	ms_seckey_free(sk2);
	rm_rf(tmp);
	ok(!exists(tmp), "temporary directory removed");
	return tap_done();
}
