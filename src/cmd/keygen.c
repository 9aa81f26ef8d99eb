/* keygen.c: modelswarm keygen ORG [-o DIR] [--no-password] */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "ms_sign.h"
#include "ms_trust.h"

static const char keygen_usage[] =
	"usage: modelswarm keygen ORG [-o DIR] [--no-password]\n"
	"\n"
	"    -o, --output DIR      write ORG.key and ORG.pub into DIR (default: .)\n"
	"    --no-password         do not encrypt the secret key (like minisign -W)\n"
	"    -h, --help            show this help\n";

enum { OPT_NO_PASSWORD = OPT_CMD_BASE };

static const struct option keygen_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "no-password", no_argument, NULL, OPT_NO_PASSWORD },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

int cmd_keygen(int argc, char **argv, struct ms_ctx *ctx)
{
	const char *dir = ".", *org;
	char keyfile[PATH_MAX], pubfile[PATH_MAX], id[17], b64[57];
	struct ms_pubkey pk;
	struct ms_seckey *sk = NULL;
	struct ms_error err;
	struct stat st;
	char *pw = NULL;
	int c, nopw = 0, r;

	(void)ctx;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", keygen_opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			dir = optarg;
			break;
		case OPT_NO_PASSWORD:
			nopw = 1;
			break;
		case 'h':
			fputs(keygen_usage, stdout);
			return EXIT_OK;
		default:
			return cmd_bad_option("keygen", argv, keygen_opts);
		}
	}
	if (argc - optind != 1)
		return cmd_usage_error("keygen", argc - optind ? "too many arguments"
							      : "no organisation given");
	org = argv[optind];
	if (ms_org_check(org, &err))
		return cmd_usage_error("keygen", "%s", err.msg);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return cmd_error(EXIT_ERROR, "'%s' is not a directory", dir);
	snprintf(keyfile, sizeof(keyfile), "%s/%s.key", dir, org);
	snprintf(pubfile, sizeof(pubfile), "%s/%s.pub", dir, org);
	if (access(keyfile, F_OK) == 0 || access(pubfile, F_OK) == 0)
		return cmd_error(EXIT_ERROR, "'%s' or '%s' already exists; not overwriting a key",
				 keyfile, pubfile);
	if (ms_sign_init(&err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	if (!nopw) {
		pw = sodium_malloc(1024);
		if (!pw)
			return cmd_error(EXIT_ERROR, "cannot allocate secure memory");
		if (read_password("password for the new secret key", 1, pw, 1024)) {
			sodium_free(pw);
			return cmd_error(EXIT_ERROR, "no password read (use --no-password for "
					 "an unencrypted key)");
		}
		if (!*pw) {
			sodium_free(pw);
			return cmd_error(EXIT_ERROR, "empty password (use --no-password for "
					 "an unencrypted key)");
		}
		if (isatty(2))
			fprintf(stderr, "deriving the encryption key (scrypt)...\n");
	}
	r = ms_key_generate(&pk, &sk, &err);
	if (!r)
		r = ms_seckey_write(keyfile, sk, pw, &err);
	if (!r) {
		r = ms_pubkey_write(pubfile, &pk, &err);
		if (r)
			unlink(keyfile);
	}
	ms_seckey_free(sk);
	if (pw)
		sodium_free(pw);
	if (r)
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	/* a key of ours: seed ORG/NAME@REV of its releases is their origin */
	if (ms_trust_own_add(&pk, &err))
		cmd_warning("cannot note the key as ours: %s", err.msg);
	ms_keynum_hex(pk.keynum, id);
	ms_pubkey_base64(&pk, b64);
	printf("secret key: %s (%s)\n", keyfile, nopw ? "not encrypted" : "encrypted");
	printf("public key: %s\n", pubfile);
	printf("key id: %s\n", id);
	printf("publish the public key so users can run: modelswarm trust add %s %s\n",
	       org, b64);
	return EXIT_OK;
}
