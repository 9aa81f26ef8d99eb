/* test-trust.c: pinned organisation keys and the rollback state, in a
 * temporary MODELSWARM_HOME / XDG_CONFIG_HOME / XDG_STATE_HOME / HOME */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ms_dht.h"
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

/* ---- bridges ------------------------------------------------------------ */

#define UP "https://hub.example/acme/tiny"
#define SHA_A "fe470b8845196fb39265db76cce8ada41fd244e148526dc5f2dd936c8f625d96"
#define SHA_B "0000000000000000000000000000000000000000000000000000000000000000"

/* manifest(), with a source when upstream is given and the file's sha256
 * (and etag) replaced by sha when given */
static char *bmanifest(const char *repo, const char *rev, int version, const char *upstream,
		       const char *sha)
{
	char *m = manifest(repo, rev, version, "2026-01-01T00:00:00Z"), *p, buf[4096];

	while (sha && (p = strstr(m, SHA_A)))
		memcpy(p, sha, 64);
	if (!upstream)
		return m;
	p = strrchr(m, '}');
	*p = '\0';
	snprintf(buf, sizeof(buf), "%s, \"source\": {\"upstream\": \"%s\", \"commit\": \"%s\"}}\n",
		 m, upstream, rev);
	free(m);
	return strdup(buf);
}

/* verify a manifest of repo@rev signed by sk into v (kept on success) */
static int try_b(const struct ms_seckey *sk, const char *repo, const char *rev, int version,
		 const char *upstream, const char *sha, int dry, struct ms_verified *v,
		 struct ms_error *err)
{
	char *m = bmanifest(repo, rev, version, upstream, sha);
	char *s = sign_m(sk, repo, rev, version, m);
	struct ms_verified tmpv;
	int r;

	memset(err, 0, sizeof(*err));
	r = ms_release_verify(repo, rev, m, strlen(m), s, strlen(s), now, dry, v ? v : &tmpv, err);
	if (!r && !v)
		ms_manifest_release(&tmpv.m);
	free(m);
	free(s);
	return r;
}

/* what ms_trust_bridge_list reported: "name=KEYID:scope,scope ..." */
static void blist_cb(const struct ms_bridge *b, void *ud)
{
	char *out = ud, id[17];
	ms_keynum_hex(b->pk.keynum, id);
	sprintf(out + strlen(out), "%s%s=%s:", *out ? " " : "", b->name, id);
	for (size_t i = 0; i < b->scopes.n; i++)
		sprintf(out + strlen(out), "%s%s", i ? "," : "", b->scopes.v[i]);
}

static const char *blist(struct ms_error *err, int *rc)
{
	static char out[2048];
	out[0] = '\0';
	*rc = ms_trust_bridge_list(blist_cb, out, err);
	return out;
}

static void bridge_names(void)
{
	struct ms_error err;
	static const char *const good[] = { "acme/*", "*/*", "acme/tiny-?", "a.b/c_d-*", "*/tiny" };
	static const char *const bad[] = { "*", "acme", "a/b/c", "/x", "x/", "../x", "x/..x",
					   "a b/c", ".x/y", "-x/y", "a/[ab]", "" };

	ok(ms_bridge_name_check("hub", &err) == 0 && ms_bridge_name_check("hub-2.eu", &err) == 0,
	   "bridge names");
	ok(ms_bridge_name_check("a/b", &err) == MS_EINVAL &&
	   !strcmp(err.msg, "'a/b' is not a bridge name (letters, digits, '.', '_' and '-')") &&
	   ms_bridge_name_check("..", &err) == MS_EINVAL, "bad bridge names: %s", err.msg);
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		ok(ms_scope_check(good[i], &err) == 0, "scope '%s' passes", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(ms_scope_check(bad[i], &err) == MS_EINVAL && starts(err.msg, "'") &&
		   strstr(err.msg, "' is not a scope: a glob over ORG/NAME such as 'acme/*'"),
		   "scope '%s' refused: %s", bad[i], err.msg);
	ok(ms_scope_match("acme/*", "acme/tiny") && !ms_scope_match("acme/*", "acmex/tiny") &&
	   !ms_scope_match("acme/*", "beta/acme") && ms_scope_match("*/*", "beta/x") &&
	   ms_scope_match("acme/tiny-?", "acme/tiny-1") &&
	   !ms_scope_match("acme/tiny-?", "acme/tiny") && ms_scope_match("*/tiny", "x/tiny") &&
	   !ms_scope_match("*/*", "acme/.hidden"), "scope matching ('*' never crosses '/')");
}

static void bridge_store(const struct ms_pubkey *pk1, const struct ms_pubkey *pk2)
{
	struct ms_strlist sc = { 0 }, none = { 0 }, bad = { 0 };
	struct ms_bridge b;
	struct ms_error err;
	char want[1024], b64[57], id1[17], id2[17];
	int rc;

	ms_keynum_hex(pk1->keynum, id1);
	ms_keynum_hex(pk2->keynum, id2);
	ms_strlist_push(&sc, "acme/*");
	ms_strlist_push(&sc, "lab/tiny");
	ms_strlist_push(&sc, "acme/*");
	ms_strlist_push(&bad, "acme");
	ok(!strcmp(blist(&err, &rc), "") && rc == 0, "no bridges when trusted/bridges is missing");
	ok(ms_trust_bridge_add("hub", pk1, &none, &err) == MS_EINVAL &&
	   !strcmp(err.msg, "a bridge needs a scope (--scope 'ORG/*', say): it is trusted only "
		   "inside it") && !exists(path("bh/trusted/bridges")),
	   "a scope is required, nothing written: %s", err.msg);
	ok(ms_trust_bridge_add("hub", pk1, &bad, &err) == MS_EINVAL &&
	   starts(err.msg, "'acme' is not a scope") && !exists(path("bh/trusted/bridges")),
	   "a bad scope is refused: %s", err.msg);
	ok(ms_trust_bridge_add("../x", pk1, &sc, &err) == MS_EINVAL &&
	   strstr(err.msg, "'../x' is not a bridge name"), "a bad name is refused: %s", err.msg);
	ok(ms_trust_bridge_add("hub", pk1, &sc, &err) == 0, "bridge hub added");
	ms_pubkey_base64(pk1, b64);
	snprintf(want, sizeof(want), "{\n  \"key\": \"%s\",\n  \"scopes\": [\n    \"acme/*\",\n"
		 "    \"lab/tiny\"\n  ]\n}\n", b64);
	ok(!strcmp(slurp(path("bh/trusted/bridges/hub.json")), want),
	   "trusted/bridges/hub.json holds the key and the scopes, repeats dropped");
	ok(ms_trust_bridge_get("hub", &b, &err) == 0 && !memcmp(&b.pk, pk1, sizeof(*pk1)) &&
	   !strcmp(b.name, "hub") && b.scopes.n == 2 && !strcmp(b.scopes.v[1], "lab/tiny"),
	   "and reads back");
	ms_bridge_release(&b);
	ok(ms_trust_bridge_add("hub", pk2, &sc, &err) == MS_EEXIST &&
	   !strcmp(err.msg, "bridge 'hub' already has a different key; 'modelswarm trust "
		   "remove --bridge hub' first") &&
	   !strcmp(slurp(path("bh/trusted/bridges/hub.json")), want),
	   "another key for the name is refused: %s", err.msg);
	sc.n = 1;
	ok(ms_trust_bridge_add("hub", pk1, &sc, &err) == 0 &&
	   strstr(slurp(path("bh/trusted/bridges/hub.json")), "\"acme/*\"\n  ]"),
	   "the same key again replaces the scopes");
	sc.v[0] = "*/*";
	ok(ms_trust_bridge_add("all", pk2, &sc, &err) == 0, "bridge all for every repo");
	snprintf(want, sizeof(want), "all=%s:*/* hub=%s:acme/*", id2, id1);
	ok(!strcmp(blist(&err, &rc), want) && rc == 0, "bridge list is sorted: %s", want);
	ok(ms_trust_bridge_remove("all", &err) == 0 && ms_trust_bridge_remove("all", &err) ==
	   MS_ENOENT && !strcmp(err.msg, "no trusted bridge 'all'") &&
	   ms_trust_bridge_get("all", &b, &err) == MS_ENOENT, "remove, twice: %s", err.msg);
	/* a damaged bridge file is an error, never skipped */
	put(path("bh/trusted/bridges/bad.json"), "{\"key\": \"RWQ\", \"scopes\": [\"acme/*\"]}");
	ok(ms_trust_bridge_get("bad", &b, &err) == MS_EINVAL &&
	   strstr(err.msg, "trusted bridge file '") &&
	   strstr(err.msg, "bh/trusted/bridges/bad.json' is damaged: remove it with "
		  "'modelswarm trust remove --bridge bad'"), "damaged key: %s", err.msg);
	put(path("bh/trusted/bridges/bad.json"), "{\"key\": \"x\"}");
	ok(blist(&err, &rc) && rc == MS_EINVAL && strstr(err.msg, "bad.json' is damaged"),
	   "list says so too");
	ok(ms_trust_check_repo("acme/tiny", &err) == MS_EINVAL && strstr(err.msg, "bad.json"),
	   "and so does choosing a key");
	ms_trust_bridge_remove("bad", NULL);
	/* the org keys' listing is unchanged by the bridges directory */
	ms_trust_add("beta", pk2, NULL);
	snprintf(want, sizeof(want), "beta=%s", id2);
	ok(!strcmp(list(&err, &rc), want) && rc == 0,
	   "trust list of org keys ignores trusted/bridges/");
	ms_trust_remove("beta", NULL);
	ms_trust_bridge_remove("hub", NULL);
	ms_strlist_release(&sc);
	ms_strlist_release(&bad);
}

/* which key may sign; source; rollback per signer; agreement */
static void bridge_verify(struct ms_seckey *hub, struct ms_seckey *lab,
			  struct ms_seckey *stranger)
{
	struct ms_pubkey labpk, hubpk;
	struct ms_strlist sc = { 0 };
	struct ms_verified vb, vl;
	struct ms_error err;
	char hubid[17], labid[17], strid[17], want[1024];

	ms_seckey_public(hub, &hubpk);
	ms_seckey_public(lab, &labpk);
	ms_keynum_hex(hubpk.keynum, hubid);
	ms_keynum_hex(labpk.keynum, labid);
	{
		struct ms_pubkey p;
		ms_seckey_public(stranger, &p);
		ms_keynum_hex(p.keynum, strid);
	}
	ok(try_b(hub, "acme/tiny", REV_A, 1, UP, NULL, 1, NULL, &err) == MS_ENOENT &&
	   !strcmp(err.msg, "no key is trusted for acme/tiny: pin the org's key ('modelswarm "
		   "trust add acme KEY') or trust a bridge for it ('modelswarm trust add --bridge "
		   "NAME KEY --scope acme/*')") && ms_trust_check_repo("acme/tiny", &err) == MS_ENOENT,
	   "no trust on first use, for a bridge either: %s", err.msg);
	ms_strlist_push(&sc, "acme/*");
	ms_trust_bridge_add("hub", &hubpk, &sc, NULL);
	ok(ms_trust_check_repo("acme/tiny", &err) == 0 &&
	   ms_trust_check_repo("beta/tiny", &err) == MS_ENOENT, "check_repo follows the scope");
	ok(try_b(hub, "acme/tiny", REV_A, 2, UP, NULL, 0, &vb, &err) == 0 &&
	   !strcmp(vb.bridge, "hub") && !strcmp(vb.keyid, hubid) &&
	   !strcmp(vb.m.source_upstream, UP), "a bridged release in scope verifies%s%s",
	   *err.msg ? ": " : "", err.msg);
	ok(exists(path("bh/state/bridged/hub/acme/tiny.json")) &&
	   !exists(path("bh/state/releases/acme/tiny.json")),
	   "its rollback state is the bridge's own");
	ok(try_b(hub, "acme/tiny", REV_A, 1, UP, NULL, 1, NULL, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "rollback: manifest of acme/tiny@" REV_A " has version 1, older "
		   "than version 2 seen before"), "rollback of the bridge's release: %s", err.msg);
	ok(try_b(hub, "beta/tiny", REV_A, 1, "https://hub.example/beta/tiny", NULL, 1, NULL, &err) ==
	   MS_EBADSIG &&
	   !strcmp(err.msg, (snprintf(want, sizeof(want), "manifest of beta/tiny@" REV_A
				     ": signed by bridge 'hub' (key %s), which is trusted for "
				     "'acme/*' only", hubid), want)),
	   "outside its scope: %s", err.msg);
	ok(try_b(hub, "acme/tiny", REV_B, 1, NULL, NULL, 1, NULL, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "manifest of acme/tiny@" REV_B ": signed by bridge 'hub', but the "
		   "manifest has no source: a bridge signs only the releases it bridged"),
	   "a bridge's manifest without a source: %s", err.msg);
	ok(try_b(stranger, "acme/tiny", REV_B, 1, UP, NULL, 1, NULL, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, (snprintf(want, sizeof(want), "manifest of acme/tiny@" REV_B
				     ": signature is by key %s, not by a bridge trusted for "
				     "acme/tiny", strid), want)),
	   "a key no bridge has: %s", err.msg);
	ok(try_r(hub, "acme/tiny", 3, "2026-01-01T00:00:00Z", 0, &err) == 0 &&
	   strstr(slurp(path("bh/state/bridged/hub/acme/tiny.json")), "\"refs\""),
	   "the bridge's refs.json verifies, state its own");
	/* a second bridge has its own versions */
	sc.v[0] = "*/*";
	ms_trust_bridge_add("all", &labpk, &sc, NULL);
	ok(try_b(lab, "acme/tiny", REV_A, 1, UP, NULL, 0, NULL, &err) == 0 &&
	   exists(path("bh/state/bridged/all/acme/tiny.json")),
	   "another bridge's version 1 after hub's version 2 is no rollback%s%s",
	   *err.msg ? ": " : "", err.msg);
	ms_trust_bridge_remove("all", NULL);

	/* the lab pins its key: it always wins */
	ms_trust_add("acme", &labpk, NULL);
	ok(ms_trust_check_repo("acme/tiny", &err) == 0, "check_repo: the pinned key");
	ok(try_b(hub, "acme/tiny", REV_A, 3, UP, NULL, 1, NULL, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, (snprintf(want, sizeof(want), "manifest of acme/tiny@" REV_A
				     ": signed by bridge 'hub' (key %s), but 'acme' has a pinned "
				     "key: a lab's pinned key always wins", hubid), want)),
	   "a bridge in scope is refused for an org with a pinned key: %s", err.msg);
	ok(try_r(hub, "acme/tiny", 4, "2026-01-01T00:00:00Z", 1, &err) == MS_EBADSIG &&
	   strstr(err.msg, "refs.json of acme/tiny: signed by bridge 'hub'") &&
	   strstr(err.msg, "a lab's pinned key always wins"), "refs.json too: %s", err.msg);
	ok(try_b(lab, "acme/tiny", REV_A, 1, UP, NULL, 1, NULL, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "manifest of acme/tiny@" REV_A ": the manifest says it was bridged "
		   "from '" UP "', but it is signed by the org's key, not by a bridge"),
	   "the org's key does not sign a manifest with a source: %s", err.msg);
	ok(try_b(lab, "acme/tiny", REV_A, 1, NULL, NULL, 0, &vl, &err) == 0 && !*vl.bridge &&
	   !strcmp(vl.keyid, labid) && exists(path("bh/state/releases/acme/tiny.json")),
	   "the lab's own release verifies, with the lab's state (hub's version 2 is not its)");

	/* a lab's and a bridged release of one commit */
	ok(ms_release_agree(&vl, &vb, &err) == 0, "the same files and sha256s agree");
	{
		char s1[200], s2[200];
		ms_verified_signer(&vl, s1, sizeof(s1));
		ms_verified_signer(&vb, s2, sizeof(s2));
		snprintf(want, sizeof(want), "key %s of acme", labid);
		ok(!strcmp(s1, want), "the lab's signer: %s", s1);
		snprintf(want, sizeof(want), "bridge 'hub' (key %s)", hubid);
		ok(!strcmp(s2, want), "the bridge's signer: %s", s2);
	}
	ms_trust_remove("acme", NULL);
	{
		struct ms_verified vx;
		ok(try_b(hub, "acme/tiny", REV_A, 3, UP, SHA_B, 1, &vx, &err) == 0,
		   "a bridged release with another sha256 verifies on its own");
		snprintf(want, sizeof(want), "the releases of acme/tiny@" REV_A " by key %s of acme "
			 "and by bridge 'hub' (key %s) disagree: 'model.safetensors' has sha256 "
			 SHA_A " in one, " SHA_B " in the other", labid, hubid);
		ok(ms_release_agree(&vl, &vx, &err) == MS_EVERIFY && !strcmp(err.msg, want),
		   "a sha256 that differs: %s", err.msg);
		free(vx.m.files[0].path);
		vx.m.files[0].path = strdup("other.bin");
		ok(ms_release_agree(&vl, &vx, &err) == MS_EVERIFY &&
		   strstr(err.msg, "disagree: 'model.safetensors' is only in the one by key "),
		   "a file only one has: %s", err.msg);
		memcpy(vx.m.revision, REV_B, 41);
		ok(ms_release_agree(&vl, &vx, &err) == MS_EINVAL &&
		   !strcmp(err.msg, "acme/tiny@" REV_A " and acme/tiny@" REV_B " are not one release"),
		   "two commits are not compared: %s", err.msg);
		ms_manifest_release(&vx.m);
	}
	ms_manifest_release(&vl.m);
	ms_manifest_release(&vb.m);
	ms_trust_bridge_remove("hub", NULL);
	ms_strlist_release(&sc);
}

static void bridges(void)
{
	struct ms_pubkey pk1, pk2, pk3;
	struct ms_seckey *sk1, *sk2, *sk3;

	if (ms_key_generate(&pk1, &sk1, NULL) || ms_key_generate(&pk2, &sk2, NULL) ||
	    ms_key_generate(&pk3, &sk3, NULL))
		return;
	setenv("MODELSWARM_HOME", path("bh"), 1);
	bridge_names();
	bridge_store(&pk1, &pk2);
	bridge_verify(sk1, sk2, sk3);
	setenv("MODELSWARM_HOME", path("ms"), 1);
	ms_seckey_free(sk1);
	ms_seckey_free(sk2);
	ms_seckey_free(sk3);
}

/* BEP 44 items (ms_dht.h): the value's one form, the salt, and the
 * rollback state they share with refs.json (acme/tiny's refs at version 3
 * by now) */
static void dht_items(const struct ms_seckey *sk1)
{
	const char *a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	const char *b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	struct ms_dht_value v, back;
	unsigned char buf[MS_DHT_VALUE_MAX];
	char salt[MS_DHT_SALT_MAX + 1], repo[200];
	struct ms_error err;
	size_t n, sl;

	memset(&v, 0, sizeof(v));
	memcpy(v.rev, "0123456789abcdef0123456789abcdef01234567", 41);
	v.version = 42;
	memset(v.bundle, 1, 20);
	memset(v.manifest, 2, 32);
	n = ms_dht_value_encode(&v, buf);
	ok(n == 119 && !memcmp(buf + n - 8, "1:vi42ee", 8) &&
	   !ms_dht_value_decode(buf, n, &back, &err) && back.version == 42 &&
	   !strcmp(back.rev, v.rev) && !memcmp(back.bundle, v.bundle, 20) &&
	   !memcmp(back.manifest, v.manifest, 32), "DHT value: bencoded, and back");
	memcpy(buf + n - 8, "1:vi042e", 8);
	buf[n] = 'e';
	ok(ms_dht_value_decode(buf, n + 1, &back, &err) == MS_EVERIFY,
	   "DHT value: a form that is not canonical is refused");
	memcpy(buf + 7, "x", 1);
	buf[71] = 'Z';
	ok(ms_dht_value_decode(buf, n, &back, &err) == MS_EVERIFY,
	   "DHT value: a revision that is not one is refused");
	ms_dht_salt("acme/tiny", "main", salt, &sl);
	ok(sl == 25 && !strcmp(salt, "modelswarm:acme/tiny@main"), "DHT salt: %s", salt);
	memset(repo, 'x', sizeof(repo) - 1);
	repo[sizeof(repo) - 1] = '\0';
	repo[4] = '/';
	ms_dht_salt(repo, "main", salt, &sl);
	ok(sl == 64 && starts(salt, "modelswarm:sha256:"), "DHT salt, hashed when long: %s",
	   salt);

	ok(ms_dht_item_check("acme/tiny", "main", 2, a, 0, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "rollback: the DHT item of acme/tiny@main has version 2, older "
		   "than version 3 of refs.json seen before"), "DHT item below refs.json: %s",
	   err.msg);
	ok(ms_dht_item_check("acme/tiny", "main", 3, a, 0, &err) == 0 &&
	   ms_dht_item_check("acme/tiny", "main", 3, a, 0, &err) == 0,
	   "DHT item at the version of refs.json, and again");
	ok(ms_dht_item_check("acme/tiny", "main", 3, b, 0, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "the DHT item of acme/tiny@main: version 3 was seen before with "
		   "different bytes"), "DHT item: same seq, other bytes: %s", err.msg);
	ok(ms_dht_item_check("acme/tiny", "main", 9, b, 1, &err) == 0 &&
	   ms_dht_item_check("acme/tiny", "main", 6, b, 0, &err) == 0,
	   "DHT item: a dry run saves nothing");
	ok(try_r(sk1, "acme/tiny", 5, "2026-03-01T00:00:00Z", 0, &err) == MS_EBADSIG &&
	   !strcmp(err.msg, "rollback: refs.json of acme/tiny has version 5, older than "
		   "version 6 of a DHT item seen before"), "refs.json below a DHT item: %s",
	   err.msg);
	ok(ms_dht_item_check("acme/tiny", "main", 5, a, 0, &err) == MS_EBADSIG &&
	   strstr(err.msg, "has version 5, older than version 6 seen before"),
	   "DHT item below the item seen: %s", err.msg);
	ok(try_r(sk1, "acme/tiny", 6, "2026-03-02T00:00:00Z", 0, &err) == 0,
	   "refs.json at the DHT item's version: %s", err.msg);
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
		ok(verify_m("acme/tiny", REV_A, bad, s, 1, &err) == MS_EMISMATCH &&
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
	dht_items(sk1);

	bridges();
	ms_seckey_free(sk1);
	ms_seckey_free(sk2);
	rm_rf(tmp);
	ok(!exists(tmp), "temporary directory removed");
	return tap_done();
}
