/* test-sign.c: minisign-format keys and signatures, checked against the
 * stock minisign both ways */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ms_sign.h"
#include "ms_util.h"
#include "tap.h"

static char tmp[128];

static char *path(const char *leaf)
{
	static char buf[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmp, leaf);
	return buf[k];
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	size_t n;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd) - 32, fmt, ap);
	va_end(ap);
	/* keep minisign's chatter out of the TAP stream */
	n = strlen(cmd);
	snprintf(cmd + n, sizeof(cmd) - n, " >/dev/null 2>&1");
	return system(cmd);
}

static void put(const char *leaf, const char *text, size_t len)
{
	FILE *f = fopen(path(leaf), "wb");
	fwrite(text, 1, len, f);
	fclose(f);
}

static char *get(const char *leaf, size_t *len)
{
	unsigned char *b;
	if (ms_read_file(path(leaf), 1 << 20, &b, len, NULL))
		return NULL;
	return (char *)b;
}

int main(void)
{
	struct ms_pubkey pk, pk2, other;
	struct ms_seckey *sk, *sk2, *osk;
	struct ms_error err;
	char *sig, *text, tc[MS_COMMENT_MAX + 1];
	const char msg[] = "{\"repo\":\"org/model\"}\n";
	size_t len;
	struct stat st;

	snprintf(tmp, sizeof(tmp), "/tmp/ms-test-sign.XXXXXX");
	if (!mkdtemp(tmp))
		return 2;

	ok(ms_key_generate(&pk, &sk, &err) == 0, "key generated");
	ok(ms_seckey_write(path("plain.key"), sk, NULL, &err) == 0 &&
	   ms_pubkey_write(path("plain.pub"), &pk, &err) == 0, "unencrypted key written");
	ok(stat(path("plain.key"), &st) == 0 && (st.st_mode & 0777) == 0600,
	   "secret key file is 0600");
	ok(ms_seckey_write(path("plain.key"), sk, NULL, &err) == MS_EEXIST,
	   "an existing key file is never overwritten");
	ok(ms_seckey_is_encrypted(path("plain.key"), &err) == 0, "it is not encrypted");
	ok(ms_seckey_load(path("plain.key"), NULL, &sk2, &err) == 0, "and loads back");
	ms_seckey_public(sk2, &pk2);
	ok(!memcmp(&pk, &pk2, sizeof(pk)), "same public key after the round trip");
	ms_seckey_free(sk2);

	/* sign; our verifier and the stock minisign accept it */
	ok(ms_sign(sk, msg, strlen(msg), "repo:org/model\trev:abc\tversion:1", &sig,
		   &err) == 0, "signed");
	ok(ms_verify(&pk, msg, strlen(msg), sig, strlen(sig), tc, sizeof(tc), &err) == 0 &&
	   !strcmp(tc, "repo:org/model\trev:abc\tversion:1"),
	   "verified, trusted comment returned");
	put("m.json", msg, strlen(msg));
	put("m.json.minisig", sig, strlen(sig));
	ok(sh("minisign -q -V -p %s -m %s", path("plain.pub"), path("m.json")) == 0,
	   "stock minisign -V accepts our signature");
	ok(sh("minisign -q -V -H -p %s -m %s", path("plain.pub"), path("m.json")) == 0,
	   "stock minisign -V -H (prehashed required) accepts it");

	/* tampering */
	{
		char bad[] = "{\"repo\":\"org/modem\"}\n";
		ok(ms_verify(&pk, bad, strlen(bad), sig, strlen(sig), NULL, 0, &err) ==
		   MS_EMISMATCH && strstr(err.msg, "does not match the data"),
		   "flipped message byte: %s", err.msg);
	}
	{
		char *t = strdup(sig), *p = strstr(t, "version:1");
		p[8] = '2';
		ok(ms_verify(&pk, msg, strlen(msg), t, strlen(t), NULL, 0, &err) ==
		   MS_EBADSIG && strstr(err.msg, "trusted comment"),
		   "edited trusted comment: %s", err.msg);
		free(t);
	}
	ok(ms_key_generate(&other, &osk, &err) == 0, "second key");
	ok(ms_verify(&other, msg, strlen(msg), sig, strlen(sig), NULL, 0, &err) ==
	   MS_EBADSIG && strstr(err.msg, "not by the trusted key"),
	   "another key: %s", err.msg);
	/* a key with the same key id but another secret */
	memcpy(other.keynum, pk.keynum, MS_KEYNUM_BYTES);
	ok(ms_verify(&other, msg, strlen(msg), sig, strlen(sig), NULL, 0, &err) ==
	   MS_EMISMATCH, "same key id, other key: %s", err.msg);
	ok(ms_verify(&pk, msg, strlen(msg), sig, strlen(sig) - 1, NULL, 0, &err) == 0,
	   "a missing final newline is fine");
	{
		char *t = malloc(strlen(sig) + 8);
		sprintf(t, "%sextra\n", sig);
		ok(ms_verify(&pk, msg, strlen(msg), t, strlen(t), NULL, 0, &err) == MS_EINVAL,
		   "extra line refused: %s", err.msg);
		free(t);
	}
	{
		char big[MS_SIGFILE_MAX + 10];
		memset(big, 'a', sizeof(big));
		ok(ms_verify(&pk, msg, strlen(msg), big, sizeof(big), NULL, 0, &err) ==
		   MS_ETOOBIG, "oversize signature refused");
	}
	free(sig);

	/* a legacy (non-prehashed) signature made by minisign -l */
	ok(sh("minisign -q -S -l -s %s -m %s -x %s -t legacy", path("plain.key"),
	      path("m.json"), path("legacy.minisig")) == 0, "minisign -l signs");
	text = get("legacy.minisig", &len);
	ok(text && ms_verify(&pk, msg, strlen(msg), text, len, NULL, 0, &err) ==
	   MS_EBADSIG && strstr(err.msg, "legacy"), "legacy signature refused: %s",
	   err.msg);
	free(text);

	/* a key made by minisign -G -W signs for us */
	ok(sh("minisign -q -G -W -p %s -s %s", path("mk.pub"), path("mk.key")) == 0,
	   "minisign -G -W");
	ms_seckey_free(sk);
	ok(ms_seckey_load(path("mk.key"), NULL, &sk, &err) == 0, "we load minisign's key");
	text = get("mk.pub", &len);
	ok(text && ms_pubkey_parse(text, len, &pk, &err) == 0, "and its public key");
	free(text);
	ok(ms_sign(sk, msg, strlen(msg), "tc", &sig, &err) == 0 &&
	   ms_verify(&pk, msg, strlen(msg), sig, strlen(sig), NULL, 0, &err) == 0,
	   "sign with minisign's key");
	put("m.json.minisig", sig, strlen(sig));
	ok(sh("minisign -q -V -p %s -m %s", path("mk.pub"), path("m.json")) == 0,
	   "minisign verifies it");
	free(sig);

	/* encrypted keys, both ways (scrypt is slow by design) */
	ok(ms_seckey_write(path("enc.key"), sk, "correct horse", &err) == 0,
	   "encrypted key written");
	ok(ms_seckey_is_encrypted(path("enc.key"), &err) == 1, "it is encrypted");
	ok(ms_seckey_load(path("enc.key"), NULL, &sk2, &err) == MS_EINVAL &&
	   strstr(err.msg, "needs a password"), "no password: %s", err.msg);
	ok(ms_seckey_load(path("enc.key"), "wrong", &sk2, &err) == MS_EINVAL &&
	   strstr(err.msg, "wrong password"), "wrong password: %s", err.msg);
	ok(sh("printf 'correct horse\\n' | minisign -q -S -s %s -m %s -x %s -t x",
	      path("enc.key"), path("m.json"), path("enc.minisig")) == 0 &&
	   sh("minisign -q -V -p %s -m %s -x %s", path("mk.pub"), path("m.json"),
	      path("enc.minisig")) == 0, "minisign signs with our encrypted key");
	ok(sh("printf 'pw2\\npw2\\n' | minisign -q -G -p %s -s %s", path("me.pub"),
	      path("me.key")) == 0, "minisign -G with a password");
	ok(ms_seckey_load(path("me.key"), "pw2", &sk2, &err) == 0,
	   "we load minisign's encrypted key");
	text = get("me.pub", &len);
	ms_pubkey_parse(text, len, &pk2, &err);
	free(text);
	ok(ms_sign(sk2, msg, strlen(msg), "t", &sig, &err) == 0 &&
	   ms_verify(&pk2, msg, strlen(msg), sig, strlen(sig), NULL, 0, &err) == 0,
	   "and sign with it");
	free(sig);
	ms_seckey_free(sk2);

	/* public key parsing */
	{
		char b64[57];
		ms_pubkey_base64(&pk, b64);
		ok(ms_pubkey_parse(b64, strlen(b64), &pk2, &err) == 0 &&
		   !memcmp(&pk, &pk2, sizeof(pk)), "bare base64 key parses");
		ok(ms_pubkey_parse("RWQ", 3, &pk2, &err) == MS_EINVAL, "junk key refused");
		b64[0] = 'X';
		ok(ms_pubkey_parse(b64, strlen(b64), &pk2, &err) == MS_EINVAL,
		   "wrong algorithm refused: %s", err.msg);
	}

	ms_seckey_free(sk);
	ms_seckey_free(osk);
	sh("rm -rf '%s'", tmp);
	return tap_done();
}
