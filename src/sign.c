/* sign.c: minisign-compatible Ed25519 keys and prehashed signatures */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ms_sign.h"
#include "ms_util.h"

#define SALT_BYTES crypto_pwhash_scryptsalsa208sha256_SALTBYTES
#define CHK_BYTES crypto_generichash_BYTES

/* minisign's layouts, byte for byte */
struct keynum_sk {
	uint8_t keynum[MS_KEYNUM_BYTES];
	uint8_t sk[MS_SK_BYTES];
	uint8_t chk[CHK_BYTES];
};

struct seckey_file {
	uint8_t sig_alg[2];      /* "Ed" */
	uint8_t kdf_alg[2];      /* "Sc" or 0 0 */
	uint8_t chk_alg[2];      /* "B2" */
	uint8_t kdf_salt[SALT_BYTES];
	uint8_t kdf_opslimit_le[8];
	uint8_t kdf_memlimit_le[8];
	struct keynum_sk keynum_sk;
};

struct pubkey_file {
	uint8_t sig_alg[2];      /* "Ed" */
	uint8_t keynum[MS_KEYNUM_BYTES];
	uint8_t pk[MS_PK_BYTES];
};

struct sig_file {
	uint8_t sig_alg[2];      /* "ED": prehashed */
	uint8_t keynum[MS_KEYNUM_BYTES];
	uint8_t sig[MS_SIG_BYTES];
};

struct ms_seckey {
	uint8_t keynum[MS_KEYNUM_BYTES];
	uint8_t sk[MS_SK_BYTES];
};

/* as in minisign: the sensitive scrypt limits */
#define OPSLIMIT 33554432ULL
#define MEMLIMIT 1073741824ULL
/* refuse key files asking for more than this */
#define MEMLIMIT_MAX (2ULL << 30)
#define OPSLIMIT_MAX (1ULL << 32)

int ms_sign_init(struct ms_error *err)
{
	if (sodium_init() < 0)
		return ms_error_set(err, MS_EIO, "cannot initialise libsodium");
	return 0;
}

static void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void ms_keynum_hex(const uint8_t keynum[MS_KEYNUM_BYTES], char buf[17])
{
	snprintf(buf, 17, "%016llX", (unsigned long long)le64_get(keynum));
}

static struct ms_seckey *seckey_alloc(void)
{
	struct ms_seckey *sk = sodium_malloc(sizeof(*sk));

	if (sk)
		sodium_memzero(sk, sizeof(*sk));
	return sk;
}

void ms_seckey_free(struct ms_seckey *sk)
{
	if (sk)
		sodium_free(sk); /* wipes the memory */
}

void ms_seckey_public(const struct ms_seckey *sk, struct ms_pubkey *pk)
{
	memcpy(pk->keynum, sk->keynum, MS_KEYNUM_BYTES);
	crypto_sign_ed25519_sk_to_pk(pk->pk, sk->sk);
}

int ms_key_generate(struct ms_pubkey *pk, struct ms_seckey **out,
		    struct ms_error *err)
{
	struct ms_seckey *sk;

	if (ms_sign_init(err))
		return MS_EIO;
	sk = seckey_alloc();
	if (!sk)
		return ms_error_set(err, MS_ENOMEM, "cannot allocate secure memory");
	randombytes_buf(sk->keynum, sizeof(sk->keynum));
	crypto_sign_keypair(pk->pk, sk->sk);
	memcpy(pk->keynum, sk->keynum, MS_KEYNUM_BYTES);
	*out = sk;
	return 0;
}

static void compute_chk(const struct seckey_file *f, uint8_t chk[CHK_BYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, CHK_BYTES);
	crypto_generichash_update(&st, f->sig_alg, sizeof(f->sig_alg));
	crypto_generichash_update(&st, f->keynum_sk.keynum, MS_KEYNUM_BYTES);
	crypto_generichash_update(&st, f->keynum_sk.sk, MS_SK_BYTES);
	crypto_generichash_final(&st, chk, CHK_BYTES);
}

/* XOR the keynum_sk block with the scrypt stream of the password */
static int kdf_xor(struct seckey_file *f, const char *password,
		   struct ms_error *err)
{
	uint64_t ops = le64_get(f->kdf_opslimit_le);
	uint64_t mem = le64_get(f->kdf_memlimit_le);
	uint8_t *stream;
	uint8_t *p = (uint8_t *)&f->keynum_sk;

	if (ops > OPSLIMIT_MAX || mem > MEMLIMIT_MAX)
		return ms_error_set(err, MS_EINVAL,
				    "key file asks for too much work to decrypt");
	stream = sodium_malloc(sizeof(f->keynum_sk));
	if (!stream)
		return ms_error_set(err, MS_ENOMEM, "cannot allocate secure memory");
	if (crypto_pwhash_scryptsalsa208sha256(stream, sizeof(f->keynum_sk),
					       password, strlen(password),
					       f->kdf_salt, ops, (size_t)mem)) {
		sodium_free(stream);
		return ms_error_set(err, MS_ENOMEM,
				    "cannot derive the key from the password");
	}
	for (size_t i = 0; i < sizeof(f->keynum_sk); i++)
		p[i] ^= stream[i];
	sodium_free(stream);
	return 0;
}

static int write_new_file(const char *path, const char *text, int mode,
			  struct ms_error *err)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	if (fd < 0)
		return ms_error_set(err, ms_error_from_errno(errno),
				    "cannot create '%s': %s", path, strerror(errno));
	while (len) {
		ssize_t w = write(fd, text, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			close(fd);
			unlink(path);
			return ms_error_set(err, ms_error_from_errno(e),
					    "cannot write '%s': %s", path, strerror(e));
		}
		text += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		int e = errno;
		unlink(path);
		return ms_error_set(err, ms_error_from_errno(e),
				    "cannot write '%s': %s", path, strerror(e));
	}
	return 0;
}

int ms_seckey_write(const char *path, const struct ms_seckey *sk,
		    const char *password, struct ms_error *err)
{
	struct seckey_file *f;
	char *b64, *text;
	size_t b64len = sodium_base64_ENCODED_LEN(sizeof(*f),
						  sodium_base64_VARIANT_ORIGINAL);
	int r;

	if (ms_sign_init(err))
		return MS_EIO;
	f = sodium_malloc(sizeof(*f));
	b64 = sodium_malloc(b64len);
	text = sodium_malloc(b64len + 128);
	if (!f || !b64 || !text) {
		sodium_free(f);
		sodium_free(b64);
		sodium_free(text);
		return ms_error_set(err, MS_ENOMEM, "cannot allocate secure memory");
	}
	sodium_memzero(f, sizeof(*f));
	memcpy(f->sig_alg, "Ed", 2);
	memcpy(f->chk_alg, "B2", 2);
	memcpy(f->keynum_sk.keynum, sk->keynum, MS_KEYNUM_BYTES);
	memcpy(f->keynum_sk.sk, sk->sk, MS_SK_BYTES);
	compute_chk(f, f->keynum_sk.chk);
	r = 0;
	if (password) {
		memcpy(f->kdf_alg, "Sc", 2);
		randombytes_buf(f->kdf_salt, sizeof(f->kdf_salt));
		le64_put(f->kdf_opslimit_le, OPSLIMIT);
		le64_put(f->kdf_memlimit_le, MEMLIMIT);
		r = kdf_xor(f, password, err);
	}
	if (!r) {
		sodium_bin2base64(b64, b64len, (const unsigned char *)f, sizeof(*f),
				  sodium_base64_VARIANT_ORIGINAL);
		snprintf(text, b64len + 128,
			 "untrusted comment: minisign %ssecret key\n%s\n",
			 password ? "encrypted " : "", b64);
		r = write_new_file(path, text, 0600, err);
	}
	sodium_free(f);
	sodium_free(b64);
	sodium_free(text);
	return r;
}

/* the base64 line of a two-line key file, into secure memory: the file's
 * text is read into guarded memory too, never into the ordinary heap */
static int read_key_file(const char *path, struct seckey_file **out,
			 struct ms_error *err)
{
	enum { CAP = 4096 };
	char *buf, *line, *end;
	size_t len = 0, binlen;
	struct seckey_file *f = NULL;
	int fd, r = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ms_error_set(err, ms_error_from_errno(errno),
				    "cannot open '%s': %s", path, strerror(errno));
	buf = sodium_malloc(CAP + 1);
	if (!buf) {
		close(fd);
		return ms_error_set(err, MS_ENOMEM, "cannot allocate secure memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, CAP - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ms_error_set(err, MS_EIO, "cannot read '%s': %s", path,
					 strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == CAP) {
			r = ms_error_set(err, MS_ETOOBIG, "'%s' is too large for a key file",
					 path);
			break;
		}
	}
	close(fd);
	buf[len] = '\0';
	if (r)
		goto done;
	if (strncmp(buf, "untrusted comment:", 18) || !(line = strchr(buf, '\n'))) {
		r = ms_error_set(err, MS_EINVAL, "'%s' is not a minisign secret key", path);
		goto done;
	}
	line++;
	end = line + strcspn(line, "\r\n");
	f = sodium_malloc(sizeof(*f));
	if (!f) {
		r = ms_error_set(err, MS_ENOMEM, "cannot allocate secure memory");
	} else if (sodium_base642bin((unsigned char *)f, sizeof(*f), line,
				     (size_t)(end - line), NULL, &binlen, NULL,
				     sodium_base64_VARIANT_ORIGINAL) ||
		   binlen != sizeof(*f) || memcmp(f->sig_alg, "Ed", 2) ||
		   memcmp(f->chk_alg, "B2", 2)) {
		r = ms_error_set(err, MS_EINVAL, "'%s' is not a minisign secret key",
				 path);
	} else if (memcmp(f->kdf_alg, "Sc", 2) &&
		   memcmp(f->kdf_alg, "\0\0", 2)) {
		r = ms_error_set(err, MS_EINVAL,
				 "'%s' uses an unsupported key derivation", path);
	}
done:
	sodium_free(buf); /* wipes it */
	if (r) {
		sodium_free(f);
		return r;
	}
	*out = f;
	return 0;
}

int ms_seckey_is_encrypted(const char *path, struct ms_error *err)
{
	struct seckey_file *f;
	int r;

	if (ms_sign_init(err))
		return MS_EIO;
	if ((r = read_key_file(path, &f, err)))
		return r;
	r = !memcmp(f->kdf_alg, "Sc", 2);
	sodium_free(f);
	return r;
}

int ms_seckey_load(const char *path, const char *password,
		   struct ms_seckey **out, struct ms_error *err)
{
	struct seckey_file *f;
	uint8_t chk[CHK_BYTES];
	struct ms_seckey *sk;
	int encrypted, r;

	*out = NULL;
	if (ms_sign_init(err))
		return MS_EIO;
	if ((r = read_key_file(path, &f, err)))
		return r;
	encrypted = !memcmp(f->kdf_alg, "Sc", 2);
	if (encrypted) {
		if (!password) {
			sodium_free(f);
			return ms_error_set(err, MS_EINVAL, "'%s' needs a password", path);
		}
		if ((r = kdf_xor(f, password, err))) {
			sodium_free(f);
			return r;
		}
	}
	compute_chk(f, chk);
	/* minisign 0.11 leaves the checksum of unencrypted keys zero */
	if (sodium_memcmp(chk, f->keynum_sk.chk, CHK_BYTES) &&
	    (encrypted || !sodium_is_zero(f->keynum_sk.chk, CHK_BYTES))) {
		sodium_free(f);
		return ms_error_set(err, MS_EINVAL, encrypted
				    ? "wrong password for '%s'"
				    : "'%s' is corrupt (checksum mismatch)", path);
	}
	sk = seckey_alloc();
	if (!sk) {
		sodium_free(f);
		return ms_error_set(err, MS_ENOMEM, "cannot allocate secure memory");
	}
	memcpy(sk->keynum, f->keynum_sk.keynum, MS_KEYNUM_BYTES);
	memcpy(sk->sk, f->keynum_sk.sk, MS_SK_BYTES);
	sodium_memzero(chk, sizeof(chk));
	sodium_free(f);
	*out = sk;
	return 0;
}

void ms_pubkey_base64(const struct ms_pubkey *pk, char buf[57])
{
	struct pubkey_file f;

	memcpy(f.sig_alg, "Ed", 2);
	memcpy(f.keynum, pk->keynum, MS_KEYNUM_BYTES);
	memcpy(f.pk, pk->pk, MS_PK_BYTES);
	sodium_bin2base64(buf, 57, (const unsigned char *)&f, sizeof(f),
			  sodium_base64_VARIANT_ORIGINAL);
}

int ms_pubkey_write(const char *path, const struct ms_pubkey *pk,
		    struct ms_error *err)
{
	char b64[57], id[17], text[160];

	ms_pubkey_base64(pk, b64);
	ms_keynum_hex(pk->keynum, id);
	snprintf(text, sizeof(text), "untrusted comment: minisign public key %s\n%s\n",
		 id, b64);
	return write_new_file(path, text, 0644, err);
}

int ms_pubkey_parse(const char *text, size_t len, struct ms_pubkey *pk,
		    struct ms_error *err)
{
	struct pubkey_file f;
	const char *p = text, *end = text + len;
	size_t binlen, n;

	if (ms_sign_init(err))
		return MS_EIO;
	if (memchr(text, '\0', len))
		return ms_error_set(err, MS_EINVAL, "public key contains a NUL byte");
	if (len >= 18 && !strncmp(text, "untrusted comment:", 18)) {
		const char *nl = memchr(text, '\n', len);
		if (!nl)
			return ms_error_set(err, MS_EINVAL, "public key file has no key line");
		p = nl + 1;
	}
	n = 0;
	while (p + n < end && p[n] != '\n' && p[n] != '\r')
		n++;
	/* only line ends may follow */
	for (const char *q = p + n; q < end; q++)
		if (*q != '\n' && *q != '\r')
			return ms_error_set(err, MS_EINVAL,
					    "unexpected text after the public key");
	if (sodium_base642bin((unsigned char *)&f, sizeof(f), p, n, NULL, &binlen,
			      NULL, sodium_base64_VARIANT_ORIGINAL) ||
	    binlen != sizeof(f))
		return ms_error_set(err, MS_EINVAL, "not a minisign public key");
	if (memcmp(f.sig_alg, "Ed", 2))
		return ms_error_set(err, MS_EINVAL,
				    "unsupported public key algorithm");
	memcpy(pk->keynum, f.keynum, MS_KEYNUM_BYTES);
	memcpy(pk->pk, f.pk, MS_PK_BYTES);
	return 0;
}

static int prehash(const void *msg, size_t len, uint8_t h[crypto_generichash_BYTES_MAX])
{
	return crypto_generichash(h, crypto_generichash_BYTES_MAX, msg, len, NULL, 0);
}

void ms_sign_raw(const struct ms_seckey *sk, const void *msg, size_t len,
		 uint8_t sig[MS_SIG_BYTES])
{
	crypto_sign_detached(sig, NULL, msg, len, sk->sk);
}

int ms_sign(const struct ms_seckey *sk, const void *msg, size_t len,
	    const char *tc, char **sigtext, struct ms_error *err)
{
	struct sig_file sf;
	uint8_t h[crypto_generichash_BYTES_MAX];
	uint8_t *global;
	uint8_t gsig[MS_SIG_BYTES];
	size_t tclen = strlen(tc), n;
	char b64a[128], b64b[128], id[17], *out;

	*sigtext = NULL;
	if (ms_sign_init(err))
		return MS_EIO;
	if (tclen > MS_COMMENT_MAX || strpbrk(tc, "\r\n"))
		return ms_error_set(err, MS_EINVAL,
				    "trusted comment must be one line of at most %d bytes",
				    MS_COMMENT_MAX);
	memcpy(sf.sig_alg, "ED", 2);
	memcpy(sf.keynum, sk->keynum, MS_KEYNUM_BYTES);
	prehash(msg, len, h);
	crypto_sign_detached(sf.sig, NULL, h, sizeof(h), sk->sk);
	global = malloc(sizeof(sf.sig) + tclen);
	if (!global)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	memcpy(global, sf.sig, sizeof(sf.sig));
	memcpy(global + sizeof(sf.sig), tc, tclen);
	crypto_sign_detached(gsig, NULL, global, sizeof(sf.sig) + tclen, sk->sk);
	free(global);
	sodium_bin2base64(b64a, sizeof(b64a), (const unsigned char *)&sf, sizeof(sf),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b64b, sizeof(b64b), gsig, sizeof(gsig),
			  sodium_base64_VARIANT_ORIGINAL);
	ms_keynum_hex(sk->keynum, id);
	n = tclen + 512;
	out = malloc(n);
	if (!out)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	snprintf(out, n,
		 "untrusted comment: signature from modelswarm key %s\n%s\n"
		 "trusted comment: %s\n%s\n", id, b64a, tc, b64b);
	*sigtext = out;
	return 0;
}

/* the 4 lines of a signature file; pointers into sigtext */
struct sig_lines {
	const char *l[4];
	size_t n[4];
};

static int split_sig(const char *text, size_t len, struct sig_lines *sl,
		     struct ms_error *err)
{
	const char *p = text, *end = text + len;
	int i;

	if (len > MS_SIGFILE_MAX)
		return ms_error_set(err, MS_ETOOBIG, "signature file is too large (%zu bytes)",
				    len);
	if (memchr(text, '\0', len))
		return ms_error_set(err, MS_EINVAL, "signature file contains a NUL byte");
	for (i = 0; i < 4; i++) {
		const char *nl;
		if (p >= end)
			return ms_error_set(err, MS_EINVAL,
					    "signature file has %d lines, not 4", i);
		nl = memchr(p, '\n', (size_t)(end - p));
		sl->l[i] = p;
		sl->n[i] = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (memchr(p, '\r', sl->n[i]))
			return ms_error_set(err, MS_EINVAL,
					    "signature file has a carriage return");
		p = nl ? nl + 1 : end;
	}
	if (p != end)
		return ms_error_set(err, MS_EINVAL, "signature file has extra lines");
	if (sl->n[0] < 18 || strncmp(sl->l[0], "untrusted comment:", 18))
		return ms_error_set(err, MS_EINVAL,
				    "signature file: line 1 is not an untrusted comment");
	if (sl->n[2] < 17 || strncmp(sl->l[2], "trusted comment: ", 17))
		return ms_error_set(err, MS_EINVAL,
				    "signature file: line 3 is not a trusted comment");
	if (sl->n[2] - 17 > MS_COMMENT_MAX)
		return ms_error_set(err, MS_ETOOBIG, "trusted comment is too long");
	return 0;
}

static int decode_sig(const struct sig_lines *sl, struct sig_file *sf,
		      uint8_t gsig[MS_SIG_BYTES], struct ms_error *err)
{
	size_t binlen;

	if (sodium_base642bin((unsigned char *)sf, sizeof(*sf), sl->l[1], sl->n[1],
			      NULL, &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) ||
	    binlen != sizeof(*sf))
		return ms_error_set(err, MS_EINVAL, "signature line is not valid base64");
	if (!memcmp(sf->sig_alg, "Ed", 2))
		return ms_error_set(err, MS_EBADSIG,
				    "legacy (not prehashed) signature refused");
	if (memcmp(sf->sig_alg, "ED", 2))
		return ms_error_set(err, MS_EINVAL, "unsupported signature algorithm");
	if (gsig &&
	    (sodium_base642bin(gsig, MS_SIG_BYTES, sl->l[3], sl->n[3], NULL, &binlen,
			       NULL, sodium_base64_VARIANT_ORIGINAL) ||
	     binlen != MS_SIG_BYTES))
		return ms_error_set(err, MS_EINVAL,
				    "global signature line is not valid base64");
	return 0;
}

int ms_sig_keynum(const char *sigtext, size_t siglen,
		  uint8_t keynum[MS_KEYNUM_BYTES], struct ms_error *err)
{
	struct sig_lines sl;
	struct sig_file sf;
	int r;

	if ((r = ms_sign_init(err)) || (r = split_sig(sigtext, siglen, &sl, err)) ||
	    (r = decode_sig(&sl, &sf, NULL, err)))
		return r;
	memcpy(keynum, sf.keynum, MS_KEYNUM_BYTES);
	return 0;
}

int ms_verify(const struct ms_pubkey *pk, const void *msg, size_t len,
	      const char *sigtext, size_t siglen, char *tc, size_t tclen,
	      struct ms_error *err)
{
	struct sig_lines sl;
	struct sig_file sf;
	uint8_t gsig[MS_SIG_BYTES], h[crypto_generichash_BYTES_MAX];
	uint8_t *global;
	size_t cl;
	int r;

	if ((r = ms_sign_init(err)) || (r = split_sig(sigtext, siglen, &sl, err)) ||
	    (r = decode_sig(&sl, &sf, gsig, err)))
		return r;
	if (memcmp(sf.keynum, pk->keynum, MS_KEYNUM_BYTES)) {
		char a[17], b[17];
		ms_keynum_hex(sf.keynum, a);
		ms_keynum_hex(pk->keynum, b);
		return ms_error_set(err, MS_EBADSIG,
				    "signature is by key %s, not by the trusted key %s", a, b);
	}
	prehash(msg, len, h);
	if (crypto_sign_verify_detached(sf.sig, h, sizeof(h), pk->pk))
		return ms_error_set(err, MS_EMISMATCH,
				    "signature does not match the data");
	cl = sl.n[2] - 17;
	global = malloc(sizeof(sf.sig) + cl);
	if (!global)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	memcpy(global, sf.sig, sizeof(sf.sig));
	memcpy(global + sizeof(sf.sig), sl.l[2] + 17, cl);
	r = crypto_sign_verify_detached(gsig, global, sizeof(sf.sig) + cl, pk->pk);
	free(global);
	if (r)
		return ms_error_set(err, MS_EBADSIG,
				    "trusted comment signature does not match");
	if (tc) {
		if (cl >= tclen)
			return ms_error_set(err, MS_ETOOBIG, "trusted comment is too long");
		memcpy(tc, sl.l[2] + 17, cl);
		tc[cl] = '\0';
	}
	return 0;
}
