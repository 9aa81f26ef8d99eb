/* trust.c: pinned org keys, bridge keys and their scopes, rollback state */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
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

/* remove a trust file; kind and name say what is missing */
static int unlink_trusted(const char *path, const char *kind, const char *name,
			  struct ms_error *err)
{
	if (unlink(path) == 0)
		return 0;
	if (errno == ENOENT)
		return ms_error_set(err, MS_ENOENT, "no trusted %s '%s'", kind, name);
	return ms_error_set(err, MS_EIO, "cannot remove '%s': %s", path, strerror(errno));
}

int ms_trust_remove(const char *org, struct ms_error *err)
{
	char path[PATH_MAX];
	int r;

	if ((r = key_path(org, path, sizeof(path), err)))
		return r;
	return unlink_trusted(path, "key for", org, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the names of <config>/SUB/NAME.EXT, sorted (free each and the array);
 * none when the directory is missing */
static int list_names(const char *sub, const char *ext, char ***out, size_t *count,
		      struct ms_error *err)
{
	char dir[PATH_MAX], base[PATH_MAX];
	size_t el = strlen(ext), n = 0;
	struct dirent *de;
	char **names = NULL;
	DIR *d;
	int r;

	*out = NULL;
	*count = 0;
	if ((r = ms_config_dir(base, sizeof(base), err)))
		return r;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", base, sub) >= sizeof(dir))
		return ms_error_set(err, MS_EINVAL, "path too long");
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0
				       : ms_error_set(err, MS_EIO, "cannot open '%s': %s",
						      dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char **v;
		if (l <= el || strcmp(de->d_name + l - el, ext))
			continue;
		v = realloc(names, (n + 1) * sizeof(*v));
		if (!v || !(v[n] = strndup(de->d_name, l - el))) {
			names = v ? v : names;
			closedir(d);
			while (n)
				free(names[--n]);
			free(names);
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		}
		names = v;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	*count = n;
	return 0;
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int ms_trust_list(void (*fn)(const char *org, const struct ms_pubkey *pk, void *ud),
		  void *ud, struct ms_error *err)
{
	char **names;
	size_t n;
	int r;

	if ((r = list_names("trusted", ".pub", &names, &n, err)))
		return r;
	for (size_t i = 0; i < n; i++) {
		struct ms_pubkey pk;
		if (!ms_trust_get(names[i], &pk, NULL))
			fn(names[i], &pk, ud);
	}
	names_free(names, n);
	return 0;
}

/* ---- bridges ------------------------------------------------------------ */

void ms_bridge_release(struct ms_bridge *b)
{
	ms_strlist_release(&b->scopes);
	memset(b, 0, sizeof(*b));
}

int ms_bridge_name_check(const char *name, struct ms_error *err)
{
	if (ms_org_check(name, NULL))
		return ms_error_set(err, MS_EINVAL,
				    "'%s' is not a bridge name (letters, digits, '.', '_' "
				    "and '-')", name);
	return 0;
}

static int scope_part_ok(const char *s, size_t n)
{
	if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-' && c != '*' && c != '?')
			return 0;
	}
	return 1;
}

int ms_scope_check(const char *scope, struct ms_error *err)
{
	const char *slash = strchr(scope, '/');

	if (!slash || strchr(slash + 1, '/') ||
	    !scope_part_ok(scope, (size_t)(slash - scope)) ||
	    !scope_part_ok(slash + 1, strlen(slash + 1)))
		return ms_error_set(err, MS_EINVAL,
				    "'%s' is not a scope: a glob over ORG/NAME such as "
				    "'acme/*' or '*/*' (letters, digits, '.', '_', '-', "
				    "'*' and '?')", scope);
	return 0;
}

int ms_scope_match(const char *scope, const char *repo)
{
	return !fnmatch(scope, repo, FNM_PATHNAME | FNM_PERIOD);
}

static int bridge_path(const char *name, char *buf, size_t len, struct ms_error *err)
{
	char dir[PATH_MAX];
	int r;

	if ((r = ms_bridge_name_check(name, err)) ||
	    (r = ms_config_dir(dir, sizeof(dir), err)))
		return r;
	if ((size_t)snprintf(buf, len, "%s/trusted/bridges/%s.json", dir, name) >= len)
		return ms_error_set(err, MS_EINVAL, "path too long");
	return 0;
}

/* b's file, strictly: {"key": KEY, "scopes": [SCOPE, ...]} */
static int bridge_parse(const char *path, const unsigned char *buf, size_t len,
			struct ms_bridge *b, struct ms_error *err)
{
	json_error_t je;
	json_t *j, *key, *scopes, *v;
	const char *k;
	size_t i;
	int r = MS_EINVAL;

	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j || !json_is_object(j))
		goto bad;
	json_object_foreach(j, k, v)
		if (strcmp(k, "key") && strcmp(k, "scopes"))
			goto bad;
	key = json_object_get(j, "key");
	scopes = json_object_get(j, "scopes");
	if (!json_is_string(key) || !json_is_array(scopes) || !json_array_size(scopes) ||
	    json_array_size(scopes) > MS_BRIDGE_SCOPES_MAX ||
	    ms_pubkey_parse(json_string_value(key), json_string_length(key), &b->pk, NULL))
		goto bad;
	json_array_foreach(scopes, i, v) {
		if (!json_is_string(v) || ms_scope_check(json_string_value(v), NULL))
			goto bad;
		if (ms_strlist_push_copy(&b->scopes, json_string_value(v))) {
			r = ms_error_set(err, MS_ENOMEM, "out of memory");
			goto out;
		}
	}
	r = 0;
	goto out;
bad:
	r = ms_error_set(err, MS_EINVAL, "trusted bridge file '%s' is damaged: remove it "
			 "with 'modelswarm trust remove --bridge %s' and add the bridge "
			 "again", path, b->name);
out:
	json_decref(j);
	return r;
}

int ms_trust_bridge_get(const char *name, struct ms_bridge *b, struct ms_error *err)
{
	char path[PATH_MAX];
	unsigned char *buf;
	size_t len;
	int r;

	memset(b, 0, sizeof(*b));
	if ((r = bridge_path(name, path, sizeof(path), err)))
		return r;
	if (access(path, F_OK) < 0)
		return ms_error_set(err, MS_ENOENT, "no trusted bridge '%s'", name);
	if ((r = ms_read_file(path, 64 << 10, &buf, &len, err)))
		return r;
	snprintf(b->name, sizeof(b->name), "%s", name);
	r = bridge_parse(path, buf, len, b, err);
	free(buf);
	if (r)
		ms_bridge_release(b);
	return r;
}

int ms_trust_bridge_add(const char *name, const struct ms_pubkey *pk,
			const struct ms_strlist *scopes, struct ms_error *err)
{
	char path[PATH_MAX], dir[PATH_MAX], b64[57], *text;
	struct ms_bridge old;
	json_t *j, *a;
	int r;

	if ((r = bridge_path(name, path, sizeof(path), err)))
		return r;
	if (!scopes || !scopes->n)
		return ms_error_set(err, MS_EINVAL, "a bridge needs a scope (--scope "
				    "'ORG/*', say): it is trusted only inside it");
	if (scopes->n > MS_BRIDGE_SCOPES_MAX)
		return ms_error_set(err, MS_EINVAL, "more than %d scopes", MS_BRIDGE_SCOPES_MAX);
	for (size_t i = 0; i < scopes->n; i++)
		if ((r = ms_scope_check(scopes->v[i], err)))
			return r;
	r = ms_trust_bridge_get(name, &old, err);
	if (r && r != MS_ENOENT)
		return r;
	if (!r) {
		int same = !memcmp(&old.pk, pk, sizeof(*pk));
		ms_bridge_release(&old);
		if (!same)
			return ms_error_set(err, MS_EEXIST,
					    "bridge '%s' already has a different key; "
					    "'modelswarm trust remove --bridge %s' first", name, name);
	}
	ms_pubkey_base64(pk, b64);
	a = json_array();
	for (size_t i = 0; i < scopes->n; i++) {
		size_t k = 0;
		while (k < i && strcmp(scopes->v[k], scopes->v[i]))
			k++;
		if (k == i)
			json_array_append_new(a, json_string(scopes->v[i]));
	}
	j = json_pack("{s:s,s:o}", "key", b64, "scopes", a);
	text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!text)
		return ms_error_set(err, MS_ENOMEM, "cannot encode the bridge");
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	r = ms_mkdir_p(dir, err);
	if (!r) {
		size_t n = strlen(text);
		text[n] = '\n';  /* its NUL becomes the last newline */
		r = ms_write_file_atomic(path, text, n + 1, 0644, err);
	}
	free(text);
	return r;
}

int ms_trust_bridge_remove(const char *name, struct ms_error *err)
{
	char path[PATH_MAX];
	int r;

	if ((r = bridge_path(name, path, sizeof(path), err)))
		return r;
	return unlink_trusted(path, "bridge", name, err);
}

int ms_trust_bridge_list(void (*fn)(const struct ms_bridge *b, void *ud), void *ud,
			 struct ms_error *err)
{
	char **names;
	size_t n;
	int r;

	if ((r = list_names("trusted/bridges", ".json", &names, &n, err)))
		return r;
	for (size_t i = 0; i < n && !r; i++) {
		struct ms_bridge b;
		if (!(r = ms_trust_bridge_get(names[i], &b, err)))
			fn(&b, ud);
		ms_bridge_release(&b);
	}
	names_free(names, n);
	return r;
}

/* ---- which key may sign a repo ------------------------------------------ */

/* the message when none may */
static int no_key(const char *repo, const char *org, struct ms_error *err)
{
	return ms_error_set(err, MS_ENOENT,
			    "no key is trusted for %s: pin the org's key ('modelswarm trust "
			    "add %s KEY') or trust a bridge for it ('modelswarm trust add "
			    "--bridge NAME KEY --scope %s/*')", repo, org, org);
}

static int in_scope(const struct ms_bridge *b, const char *repo)
{
	for (size_t i = 0; i < b->scopes.n; i++)
		if (ms_scope_match(b->scopes.v[i], repo))
			return 1;
	return 0;
}

static void scopes_text(const struct ms_bridge *b, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < b->scopes.n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "", b->scopes.v[i]);
}

/* what the bridges say about a signature by keynum over a file of repo */
struct bridge_scan {
	int scoped;                        /* bridges in scope */
	int found;                         /* one with keynum, in scope */
	struct ms_pubkey pk;               /* its key */
	char name[MS_BRIDGE_NAME_MAX + 1]; /* its name, or a bridge's with
					      keynum out of scope */
	char scopes[300];                  /* the scopes of that one */
};

/* the process's own bridge (ms_trust_bridge_local), if any */
static struct ms_bridge local_bridge;

int ms_trust_bridge_local(const char *name, const struct ms_pubkey *pk,
			  const struct ms_strlist *scopes, struct ms_error *err)
{
	int r;

	if ((r = ms_bridge_name_check(name, err)))
		return r;
	for (size_t i = 0; i < scopes->n; i++)
		if ((r = ms_scope_check(scopes->v[i], err)))
			return r;
	ms_bridge_release(&local_bridge);
	snprintf(local_bridge.name, sizeof(local_bridge.name), "%s", name);
	local_bridge.pk = *pk;
	for (size_t i = 0; i < scopes->n; i++)
		if (ms_strlist_push_copy(&local_bridge.scopes, scopes->v[i]))
			return ms_error_set(err, MS_ENOMEM, "out of memory");
	return 0;
}

/* b, seen by a scan */
static void scan_one(struct bridge_scan *sc, const struct ms_bridge *b, const char *repo,
		     const uint8_t *keynum)
{
	int same = keynum && !memcmp(keynum, b->pk.keynum, MS_KEYNUM_BYTES);
	int scoped = in_scope(b, repo);

	sc->scoped += scoped;
	if (same && (scoped || !*sc->name)) {
		sc->found = scoped;
		sc->pk = b->pk;
		snprintf(sc->name, sizeof(sc->name), "%s", b->name);
		scopes_text(b, sc->scopes, sizeof(sc->scopes));
	}
}

static int scan_bridges(const char *repo, const uint8_t *keynum, struct bridge_scan *sc,
			struct ms_error *err)
{
	char **names;
	size_t n;
	int r;

	memset(sc, 0, sizeof(*sc));
	if (*local_bridge.name)
		scan_one(sc, &local_bridge, repo, keynum);
	if ((r = list_names("trusted/bridges", ".json", &names, &n, err)))
		return r;
	for (size_t i = 0; i < n && !sc->found; i++) {
		struct ms_bridge b;
		if ((r = ms_trust_bridge_get(names[i], &b, err)))
			break;
		scan_one(sc, &b, repo, keynum);
		ms_bridge_release(&b);
	}
	names_free(names, n);
	return r;
}

/*
 * The key for a signature by keynum over a file of repo (what names the
 * file in messages): the org's pinned key if it has one (bridge "" then;
 * a signature by another key fails in ms_verify, or here when it is a
 * bridge's: a lab's pinned key always wins), else the bridge with that
 * key whose scope matches repo. keynum NULL: is there any such key.
 */
static int signer_key(const char *repo, const uint8_t *keynum, const char *what,
		      struct ms_pubkey *pk, char bridge[MS_BRIDGE_NAME_MAX + 1],
		      struct ms_error *err)
{
	struct bridge_scan sc;
	char org[128], id[17];
	int r, pinned;

	bridge[0] = '\0';
	if ((r = ms_repo_check(repo, org, sizeof(org), err)))
		return r;
	r = ms_trust_get(org, pk, err);
	if (r && r != MS_ENOENT)
		return r;
	pinned = !r;
	if (pinned && (!keynum || !memcmp(keynum, pk->keynum, MS_KEYNUM_BYTES)))
		return 0;
	if ((r = scan_bridges(repo, keynum, &sc, err)))
		return r;
	if (keynum)
		ms_keynum_hex(keynum, id);
	if (pinned) {
		if (!*sc.name)
			return 0;
		return ms_error_set(err, MS_EBADSIG,
				    "%s: signed by bridge '%s' (key %s), but '%s' has a pinned "
				    "key: a lab's pinned key always wins", what, sc.name, id, org);
	}
	if (sc.found || (!keynum && sc.scoped)) {
		*pk = sc.pk;
		snprintf(bridge, MS_BRIDGE_NAME_MAX + 1, "%s", sc.name);
		return 0;
	}
	if (*sc.name)
		return ms_error_set(err, MS_EBADSIG,
				    "%s: signed by bridge '%s' (key %s), which is trusted for "
				    "'%s' only", what, sc.name, id, sc.scopes);
	if (sc.scoped)
		return ms_error_set(err, MS_EBADSIG,
				    "%s: signature is by key %s, not by a bridge trusted for %s",
				    what, id, repo);
	return no_key(repo, org, err);
}

int ms_trust_check_repo(const char *repo, struct ms_error *err)
{
	struct ms_pubkey pk;
	char bridge[MS_BRIDGE_NAME_MAX + 1];

	return signer_key(repo, NULL, repo, &pk, bridge, err);
}

/* ---- rollback state ---------------------------------------------------- */

/* each signer has its own: the org's key releases/ORG/NAME.json, bridge B
 * bridged/B/ORG/NAME.json */
static int state_path(const char *repo, const char *bridge, char *buf, size_t len,
		      struct ms_error *err)
{
	char dir[PATH_MAX];
	int r, n;

	if ((r = ms_repo_check(repo, NULL, 0, err)) ||
	    (r = ms_state_dir(dir, sizeof(dir), err)))
		return r;
	if (*bridge)
		n = snprintf(buf, len, "%s/bridged/%s/%s.json", dir, bridge, repo);
	else
		n = snprintf(buf, len, "%s/releases/%s.json", dir, repo);
	if ((size_t)n >= len)
		return ms_error_set(err, MS_EINVAL, "path too long");
	return 0;
}

static json_t *state_load(const char *repo, const char *bridge, struct ms_error *err)
{
	char path[PATH_MAX];
	unsigned char *buf;
	size_t len;
	json_error_t je;
	json_t *j;

	if (state_path(repo, bridge, path, sizeof(path), err))
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

static int state_save(const char *repo, const char *bridge, json_t *j,
		      struct ms_error *err)
{
	char path[PATH_MAX], dir[PATH_MAX], *text;
	int r;

	if ((r = state_path(repo, bridge, path, sizeof(path), err)))
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

/* the signature of a file of repo (what names it), by the key trusted for
 * repo: keyid and bridge ("" for the org's key) say whose */
static int check_sig(const char *repo, const void *msg, size_t mlen,
		     const char *sig, size_t slen, size_t cap, const char *what,
		     char *tc, size_t tclen, char keyid[17],
		     char bridge[MS_BRIDGE_NAME_MAX + 1], struct ms_error *err)
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
	/* the org's pinned key, else a bridge in scope: that key and only it */
	if ((r = signer_key(repo, keynum, what, &pk, bridge, err)))
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
	char want[512], what[300];
	json_t *st = NULL, *revs, *e;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = ms_repo_check(repo, NULL, 0, err)))
		return r;
	if (revision && ms_revision_check(revision))
		return ms_error_set(err, MS_EINVAL, "'%s' is not a 40-hex revision", revision);
	snprintf(what, sizeof(what), "manifest of %s@%s", repo, revision ? revision : "?");
	if ((r = check_sig(repo, manifest, mlen, sig, slen, MS_MANIFEST_MAX, what,
			   out->trusted_comment, sizeof(out->trusted_comment),
			   out->keyid, out->bridge, err)))
		return r;
	if ((r = ms_manifest_parse(manifest, mlen, &out->m, err)))
		return r;
	/* a bridge signs bridged releases, which say their source; a lab's
	 * key its own */
	if (*out->bridge && !out->m.source_upstream) {
		r = ms_error_set(err, MS_EBADSIG,
				 "%s: signed by bridge '%s', but the manifest has no source: "
				 "a bridge signs only the releases it bridged", what,
				 out->bridge);
		goto fail;
	}
	if (!*out->bridge && out->m.source_upstream) {
		r = ms_error_set(err, MS_EBADSIG,
				 "%s: the manifest says it was bridged from '%s', but it is "
				 "signed by the org's key, not by a bridge", what,
				 out->m.source_upstream);
		goto fail;
	}
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
	if (!(st = state_load(repo, out->bridge, err))) {
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
		if ((r = state_save(repo, out->bridge, st, err)))
			goto fail;
	}
	json_decref(st);
	return 0;
fail:
	json_decref(st);
	ms_manifest_release(&out->m);
	return r;
}

/* the highest seq of the DHT items seen for repo (0: none) */
static int64_t dht_floor(json_t *st)
{
	json_t *d = json_object_get(st, "dht"), *e;
	const char *k;
	int64_t m = 0;

	json_object_foreach(d, k, e) {
		json_t *v = json_object_get(e, "version");
		if (json_is_integer(v) && json_integer_value(v) > m)
			m = json_integer_value(v);
	}
	return m;
}

int ms_refs_verify(const char *repo, const void *refs, size_t rlen,
		   const char *sig, size_t slen, time_t now, int dry_run,
		   struct ms_refs *out, struct ms_error *err)
{
	char want[512], tc[MS_COMMENT_MAX + 1], keyid[17], sha[65];
	char what[300], bridge[MS_BRIDGE_NAME_MAX + 1];
	json_t *st = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = ms_repo_check(repo, NULL, 0, err)))
		return r;
	snprintf(what, sizeof(what), "refs.json of %s", repo);
	if ((r = check_sig(repo, refs, rlen, sig, slen, MS_REFS_MAX, what, tc,
			   sizeof(tc), keyid, bridge, err)))
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
	if (!(st = state_load(repo, bridge, err))) {
		r = err ? err->code : MS_EIO;
		goto fail;
	}
	if ((r = check_version(json_object_get(st, "refs"), out->version, sha, what, err)))
		goto fail;
	if (!*bridge && out->version < dht_floor(st)) {
		r = ms_error_set(err, MS_EBADSIG, "rollback: %s has version %lld, older than "
				 "version %lld of a DHT item seen before", what,
				 (long long)out->version, (long long)dht_floor(st));
		goto fail;
	}
	if (!dry_run) {
		json_object_set_new(st, "refs", entry_new(out->version, sha));
		if ((r = state_save(repo, bridge, st, err)))
			goto fail;
	}
	json_decref(st);
	return 0;
fail:
	json_decref(st);
	ms_refs_release(out);
	return r;
}

int ms_dht_item_check(const char *repo, const char *ref, int64_t seq, const char *sha,
		      int dry_run, struct ms_error *err)
{
	char what[400];
	json_t *st, *refs, *d;
	int r = 0;

	snprintf(what, sizeof(what), "the DHT item of %s@%s", repo, ref);
	if (!(st = state_load(repo, "", err)))
		return err ? err->code : MS_EIO;
	refs = json_object_get(st, "refs");
	if (refs && json_is_integer(json_object_get(refs, "version")) &&
	    seq < json_integer_value(json_object_get(refs, "version"))) {
		r = ms_error_set(err, MS_EBADSIG, "rollback: %s has version %lld, older than "
				 "version %lld of refs.json seen before", what, (long long)seq,
				 (long long)json_integer_value(json_object_get(refs, "version")));
		goto out;
	}
	d = json_object_get(st, "dht");
	if ((r = check_version(d ? json_object_get(d, ref) : NULL, seq, sha, what, err)))
		goto out;
	if (!dry_run) {
		if (!d)
			json_object_set_new(st, "dht", d = json_object());
		json_object_set_new(d, ref, entry_new(seq, sha));
		r = state_save(repo, "", st, err);
	}
out:
	json_decref(st);
	return r;
}

/* ---- a lab's and a bridged release of one commit ------------------------ */

void ms_verified_signer(const struct ms_verified *v, char *buf, size_t len)
{
	const char *repo = v->m.repo ? v->m.repo : "?", *slash = strchr(repo, '/');

	if (*v->bridge)
		snprintf(buf, len, "bridge '%s' (key %s)", v->bridge, v->keyid);
	else
		snprintf(buf, len, "key %s of %.*s", v->keyid,
			 (int)(slash ? (size_t)(slash - repo) : strlen(repo)), repo);
}

int ms_release_agree(const struct ms_verified *a, const struct ms_verified *b,
		     struct ms_error *err)
{
	const struct ms_manifest *ma = &a->m, *mb = &b->m;
	char sa[200], sb[200];
	size_t i = 0, j = 0;

	if (!ma->repo || !mb->repo || strcmp(ma->repo, mb->repo) ||
	    strcmp(ma->revision, mb->revision))
		return ms_error_set(err, MS_EINVAL, "%s@%s and %s@%s are not one release",
				    ma->repo ? ma->repo : "?", ma->revision,
				    mb->repo ? mb->repo : "?", mb->revision);
	ms_verified_signer(a, sa, sizeof(sa));
	ms_verified_signer(b, sb, sizeof(sb));
	/* both lists are sorted (the manifest's rule) */
	while (i < ma->n_files || j < mb->n_files) {
		int c = i >= ma->n_files ? 1 : j >= mb->n_files ? -1
			: strcmp(ma->files[i].path, mb->files[j].path);
		const char *p = c <= 0 ? ma->files[i].path : mb->files[j].path;
		if (c)
			return ms_error_set(err, MS_EVERIFY,
					    "the releases of %s@%s by %s and by %s disagree: "
					    "'%.300s' is only in the one by %s", ma->repo,
					    ma->revision, sa, sb, p, c < 0 ? sa : sb);
		if (strcmp(ma->files[i].sha256, mb->files[j].sha256) ||
		    ma->files[i].size != mb->files[j].size)
			return ms_error_set(err, MS_EVERIFY,
					    "the releases of %s@%s by %s and by %s disagree: "
					    "'%.300s' has sha256 %s in one, %s in the other",
					    ma->repo, ma->revision, sa, sb, p,
					    ma->files[i].sha256, mb->files[j].sha256);
		i++;
		j++;
	}
	return 0;
}
