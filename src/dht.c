/* dht.c: releases in the DHT (BEP 44 items, the bundle torrent); the
 * design is in ms_dht.h and modelswarm-manifest(5) */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "ms_config.h"
#include "ms_dht.h"
#include "ms_hash.h"
#include "ms_index.h"
#include "ms_manifest.h"
#include "ms_torrent.h"
#include "ms_trust.h"

static const char *const bundle_files[3] = { "manifest.json", "manifest.json.minisig",
					     "torrent" };
static const size_t bundle_caps[3] = { MS_MANIFEST_MAX, MS_SIGFILE_MAX, MS_TORRENT_MAX };

static void sha256(const void *buf, size_t len, uint8_t out[32])
{
	EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL);
}

void ms_dht_salt(const char *repo, const char *ref, char out[MS_DHT_SALT_MAX + 1],
		 size_t *len)
{
	char name[MS_REPO_MAX + MS_WANT_MAX + 2], hex[65];
	uint8_t h[32];
	int n;

	snprintf(name, sizeof(name), "%s@%s", repo, ref);
	n = snprintf(out, MS_DHT_SALT_MAX + 1, "modelswarm:%s", name);
	if (n > MS_DHT_SALT_MAX) {
		sha256(name, strlen(name), h);
		ms_hex(h, 32, hex);
		n = snprintf(out, MS_DHT_SALT_MAX + 1, "modelswarm:sha256:%.46s", hex);
	}
	*len = (size_t)n;
}

size_t ms_dht_value_encode(const struct ms_dht_value *v, unsigned char out[MS_DHT_VALUE_MAX])
{
	size_t n = 0;

	memcpy(out + n, "d1:b20:", 7), n += 7;
	memcpy(out + n, v->bundle, 20), n += 20;
	memcpy(out + n, "1:m32:", 6), n += 6;
	memcpy(out + n, v->manifest, 32), n += 32;
	memcpy(out + n, "1:r40:", 6), n += 6;
	memcpy(out + n, v->rev, 40), n += 40;
	n += (size_t)snprintf((char *)out + n, MS_DHT_VALUE_MAX - n, "1:vi%" PRId64 "ee",
			      v->version);
	return n;
}

int ms_dht_value_decode(const unsigned char *buf, size_t len, struct ms_dht_value *v,
			struct ms_error *err)
{
	unsigned char again[MS_DHT_VALUE_MAX];
	const char *p;
	char *end;
	long long ver;

	memset(v, 0, sizeof(*v));
	/* the one form: d 1:b 20:.. 1:m 32:.. 1:r 40:.. 1:v i..e e */
	if (len < 7 + 20 + 6 + 32 + 6 + 40 + 7 || len > 200 ||
	    memcmp(buf, "d1:b20:", 7) || memcmp(buf + 27, "1:m32:", 6) ||
	    memcmp(buf + 65, "1:r40:", 6) || memcmp(buf + 111, "1:vi", 4))
		goto bad;
	memcpy(v->bundle, buf + 7, 20);
	memcpy(v->manifest, buf + 33, 32);
	memcpy(v->rev, buf + 71, 40);
	v->rev[40] = '\0';
	p = (const char *)buf + 115;
	errno = 0;
	ver = strtoll(p, &end, 10);
	if (errno || end == p || ver < 1 || (size_t)(end - (const char *)buf) + 2 != len ||
	    memcmp(end, "ee", 2) || ms_revision_check(v->rev))
		goto bad;
	v->version = ver;
	/* canonical: encoding it again gives the same bytes */
	if (ms_dht_value_encode(v, again) != len || memcmp(again, buf, len))
		goto bad;
	return 0;
bad:
	return ms_error_set(err, MS_EVERIFY, "the DHT item's value is not a modelswarm "
			    "release (%zu bytes)", len);
}

/* BEP 44: what is signed */
static size_t item_message(const struct lts_dht_item *it, unsigned char *out, size_t cap)
{
	size_t n = 0;

	if (it->salt_len)
		n = (size_t)snprintf((char *)out, cap, "4:salt%zu:", it->salt_len);
	memcpy(out + n, it->salt, it->salt_len);
	n += it->salt_len;
	n += (size_t)snprintf((char *)out + n, cap - n, "3:seqi%" PRId64 "e1:v", it->seq);
	memcpy(out + n, it->value, it->value_len);
	return n + it->value_len;
}

void ms_dht_sign(const struct ms_seckey *sk, const struct ms_pubkey *pk,
		 struct lts_dht_item *it)
{
	unsigned char msg[MS_DHT_SALT_MAX + MS_DHT_VALUE_MAX + 64];

	memcpy(it->key, pk->pk, 32);
	ms_sign_raw(sk, msg, item_message(it, msg, sizeof(msg)), it->sig);
}

/* <state>/dht/SUB into buf */
static int dht_path(char *buf, size_t len, const char *sub, struct ms_error *err)
{
	char st[PATH_MAX];
	int r;

	if ((r = ms_state_dir(st, sizeof(st), err)))
		return r;
	if ((size_t)snprintf(buf, len, "%s/dht/%s", st, sub) >= len)
		return ms_error_set(err, MS_EINVAL, "path too long");
	return 0;
}

static int bundle_dir(const char *repo, const char *rev, char *dir, struct ms_error *err)
{
	char sub[MS_REPO_MAX + 64];
	int r;

	if ((r = ms_repo_check(repo, NULL, 0, err)))
		return r;
	if (ms_revision_check(rev))
		return ms_error_set(err, MS_EINVAL, "'%s' is not a revision", rev);
	snprintf(sub, sizeof(sub), "%s/%s", repo, rev);
	return dht_path(dir, PATH_MAX, sub, err);
}

int ms_dht_bundle_dir(const char *repo, const char *rev, char *dir, struct ms_error *err)
{
	int r;

	if ((r = bundle_dir(repo, rev, dir, err)))
		return r;
	return ms_mkdir_p(dir, err);
}

static int bundle_torrent(const char *dir, const char *rev, const size_t sizes[3],
			  unsigned char **tbuf, size_t *tlen, struct ms_error *err)
{
	struct lts_create_file f[3];
	struct lts_create_opts o;

	for (int i = 0; i < 3; i++)
		f[i] = (struct lts_create_file){ bundle_files[i], (int64_t)sizes[i] };
	memset(&o, 0, sizeof(o));
	o.flags = LTS_CREATE_V1_ONLY;
	o.piece_size = MS_DHT_BUNDLE_PIECE;
	o.name = rev;
	o.threads = 1;
	return ms_torrent_create(dir, f, 3, &o, tbuf, tlen, err);
}

int ms_dht_bundle_write(const char *repo, const char *rev, const struct ms_release_bytes *manifest,
			const struct ms_release_bytes *sig, const struct ms_release_bytes *torrent,
			unsigned char **tbuf, size_t *tlen, char *dir, struct ms_error *err)
{
	const struct ms_release_bytes *b[3] = { manifest, sig, torrent };
	char path[PATH_MAX + 32];
	size_t sizes[3];
	int r;

	*tbuf = NULL;
	if ((r = bundle_dir(repo, rev, dir, err)) || (r = ms_mkdir_p(dir, err)))
		return r;
	for (int i = 0; i < 3; i++) {
		unsigned char *have = NULL;
		size_t hlen = 0;
		snprintf(path, sizeof(path), "%s/%s", dir, bundle_files[i]);
		sizes[i] = b[i]->len;
		if (!ms_read_file(path, bundle_caps[i], &have, &hlen, NULL) &&
		    hlen == b[i]->len && !memcmp(have, b[i]->buf, hlen)) {
			free(have);
			continue;
		}
		free(have);
		if ((r = ms_write_file_atomic(path, b[i]->buf, b[i]->len, 0644, err)))
			return r;
	}
	return bundle_torrent(dir, rev, sizes, tbuf, tlen, err);
}

int ms_dht_bundle_load(const char *repo, const char *rev, unsigned char **tbuf,
		       size_t *tlen, char *dir, struct ms_error *err)
{
	char path[PATH_MAX + 32];
	size_t sizes[3];
	int r;

	*tbuf = NULL;
	if ((r = bundle_dir(repo, rev, dir, err)))
		return r;
	for (int i = 0; i < 3; i++) {
		unsigned char *have;
		snprintf(path, sizeof(path), "%s/%s", dir, bundle_files[i]);
		if (ms_read_file(path, bundle_caps[i], &have, &sizes[i], NULL))
			return ms_error_set(err, MS_ENOENT, "no bundle of %s@%s here", repo, rev);
		free(have);
	}
	return bundle_torrent(dir, rev, sizes, tbuf, tlen, err);
}

/* ---- items kept for putting again ------------------------------------- */

int ms_dht_item_save(const char *repo, const struct lts_dht_item *it, struct ms_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 80], name[65], *text;
	char key[65], sig[129], *val;
	uint8_t h[32];
	unsigned char both[32 + MS_DHT_SALT_MAX];
	json_t *j;
	int r;

	if (it->salt_len > MS_DHT_SALT_MAX || it->value_len > MS_DHT_VALUE_MAX)
		return ms_error_set(err, MS_EINVAL, "DHT item too large");
	if ((r = dht_path(dir, sizeof(dir), "items", err)) || (r = ms_mkdir_p(dir, err)))
		return r;
	memcpy(both, it->key, 32);
	memcpy(both + 32, it->salt, it->salt_len);
	sha256(both, 32 + it->salt_len, h);
	ms_hex(h, 32, name);
	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	if (!(val = malloc(2 * it->value_len + 1)))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	ms_hex(it->key, 32, key);
	ms_hex(it->sig, 64, sig);
	ms_hex(it->value, it->value_len, val);
	j = json_pack("{s:s, s:s%, s:s, s:s, s:I, s:s}", "repo", repo, "salt", it->salt,
		      it->salt_len, "key", key, "sig", sig, "seq", (json_int_t)it->seq,
		      "value", val);
	free(val);
	text = j ? json_dumps(j, JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!text)
		return ms_error_set(err, MS_ENOMEM, "cannot encode a DHT item");
	r = ms_write_file_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return r;
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
	size_t got = 0;

	if (!s || strlen(s) != 2 * n ||
	    sodium_hex2bin(out, n, s, 2 * n, NULL, &got, NULL) || got != n)
		return -1;
	return 0;
}

static int item_load(const char *path, char repo[MS_REPO_MAX], struct lts_dht_item *it,
		     char salt[MS_DHT_SALT_MAX + 1], unsigned char value[MS_DHT_VALUE_MAX])
{
	unsigned char *buf;
	size_t len;
	json_t *j;
	const char *rp, *sl, *k, *s, *v;
	json_int_t seq;
	int r = -1;

	if (ms_read_file(path, 16384, &buf, &len, NULL))
		return -1;
	j = json_loadb((char *)buf, len, 0, NULL);
	free(buf);
	memset(it, 0, sizeof(*it));
	if (j && !json_unpack(j, "{s:s, s:s, s:s, s:s, s:I, s:s}", "repo", &rp, "salt", &sl,
			      "key", &k, "sig", &s, "seq", &seq, "value", &v) &&
	    strlen(rp) < MS_REPO_MAX && strlen(sl) <= MS_DHT_SALT_MAX &&
	    strlen(v) % 2 == 0 && strlen(v) / 2 <= MS_DHT_VALUE_MAX && strlen(v) &&
	    !unhex(k, it->key, 32) && !unhex(s, it->sig, 64) &&
	    !unhex(v, value, strlen(v) / 2)) {
		snprintf(repo, MS_REPO_MAX, "%s", rp);
		snprintf(salt, MS_DHT_SALT_MAX + 1, "%s", sl);
		it->salt = salt;
		it->salt_len = strlen(salt);
		it->seq = seq;
		it->value = value;
		it->value_len = strlen(v) / 2;
		r = 0;
	}
	json_decref(j);
	return r;
}

int ms_dht_items_each(void (*fn)(void *ud, const char *repo, const struct lts_dht_item *it),
		      void (*warn)(void *ud, const char *msg), void *ud, struct ms_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], msg[PATH_MAX + 400];
	char repo[MS_REPO_MAX], salt[MS_DHT_SALT_MAX + 1];
	unsigned char value[MS_DHT_VALUE_MAX];
	struct lts_dht_item it;
	struct dirent *de;
	DIR *d;
	int r;

	if ((r = dht_path(dir, sizeof(dir), "items", err)))
		return r;
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : ms_error_set(err, MS_EIO, "cannot open '%s': %s",
							  dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (item_load(path, repo, &it, salt, value)) {
			snprintf(msg, sizeof(msg), "skipping damaged DHT item record '%s'", path);
			if (warn)
				warn(ud, msg);
			continue;
		}
		fn(ud, repo, &it);
	}
	closedir(d);
	return 0;
}
