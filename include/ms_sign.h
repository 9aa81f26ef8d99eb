/*
 * Ed25519 keys and signatures in minisign's formats, so that the stock
 * minisign verifies what we sign and signs with keys we can use.
 *
 * Secret keys live only in sodium_malloc'd memory and are wiped when
 * freed. Signatures are always prehashed ("ED": Ed25519 over the
 * BLAKE2b-512 of the message) with a global signature over the trusted
 * comment; legacy "Ed" signatures are refused.
 */
#ifndef MS_SIGN_H
#define MS_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "modelswarm.h"

#define MS_KEYNUM_BYTES 8
#define MS_PK_BYTES 32
#define MS_SK_BYTES 64
#define MS_SIG_BYTES 64
/* a .minisig file is at most this long */
#define MS_SIGFILE_MAX 4096
#define MS_COMMENT_MAX 1024

struct ms_pubkey {
	uint8_t keynum[MS_KEYNUM_BYTES];
	uint8_t pk[MS_PK_BYTES];
};

/* opaque: allocated with sodium_malloc, freed with ms_seckey_free() */
struct ms_seckey;

int ms_sign_init(struct ms_error *err);

/* A new key pair. *sk is freed by the caller with ms_seckey_free(). */
int ms_key_generate(struct ms_pubkey *pk, struct ms_seckey **sk,
		    struct ms_error *err);
void ms_seckey_free(struct ms_seckey *sk);
/* The public half of a secret key. */
void ms_seckey_public(const struct ms_seckey *sk, struct ms_pubkey *pk);

/* Write a secret key file (mode 0600, never overwriting an existing
 * file). password NULL: unencrypted, like minisign -W; else encrypted with
 * minisign's scrypt scheme. */
int ms_seckey_write(const char *path, const struct ms_seckey *sk,
		    const char *password, struct ms_error *err);

/* Does the key file need a password? 1 yes, 0 no, < 0 error. */
int ms_seckey_is_encrypted(const char *path, struct ms_error *err);

/* Load a secret key file (ours or minisign's). A wrong password is
 * MS_EINVAL with a message saying so. */
int ms_seckey_load(const char *path, const char *password,
		   struct ms_seckey **sk, struct ms_error *err);

/* Public key file: "untrusted comment: ...\n<base64>\n". */
int ms_pubkey_write(const char *path, const struct ms_pubkey *pk,
		    struct ms_error *err);
/* Parse a public key given as the base64 string alone or as a whole .pub
 * file's text. */
int ms_pubkey_parse(const char *text, size_t len, struct ms_pubkey *pk,
		    struct ms_error *err);
/* The base64 form (56 chars + NUL) into buf. */
void ms_pubkey_base64(const struct ms_pubkey *pk, char buf[57]);
/* The key id as minisign prints it: 16 upper-case hex digits. */
void ms_keynum_hex(const uint8_t keynum[MS_KEYNUM_BYTES], char buf[17]);

/* Sign msg: a minisign signature file's text (malloc'd, NUL-terminated)
 * with the given trusted comment (one line, no newline). */
int ms_sign(const struct ms_seckey *sk, const void *msg, size_t len,
	    const char *trusted_comment, char **sigtext, struct ms_error *err);

/* A plain Ed25519 signature of msg (not prehashed, no minisign framing):
 * what BEP 44 items carry. */
void ms_sign_raw(const struct ms_seckey *sk, const void *msg, size_t len,
		 uint8_t sig[MS_SIG_BYTES]);

/* Verify a minisign signature file's text over msg with pk: strict parse,
 * prehashed only, key id must match, then the signature and the global
 * signature. On success the trusted comment is copied to tc. A signature
 * by pk's key id that does not match msg is MS_EMISMATCH: a torn pair (a
 * file replaced while its signature was not yet, or the other way round)
 * looks like that; any other failure is MS_EBADSIG. */
int ms_verify(const struct ms_pubkey *pk, const void *msg, size_t len,
	      const char *sigtext, size_t siglen, char *tc, size_t tclen,
	      struct ms_error *err);

/* Just the key id of a signature file (strict parse, no verification). */
int ms_sig_keynum(const char *sigtext, size_t siglen,
		  uint8_t keynum[MS_KEYNUM_BYTES], struct ms_error *err);

#endif
