/* trust.c: modelswarm trust add|list|remove */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "ms_sign.h"
#include "ms_trust.h"

static const char trust_usage[] =
	"usage: modelswarm trust add ORG (PUBKEY | FILE)\n"
	"   or: modelswarm trust list\n"
	"   or: modelswarm trust remove ORG\n"
	"\n"
	"    add ORG KEY           pin KEY (a minisign public key, or a .pub file) as\n"
	"                          the only key trusted for ORG's repositories\n"
	"    list                  the pinned keys\n"
	"    remove ORG            forget ORG's key\n"
	"    -h, --help            show this help\n";

static void print_key(const char *org, const struct ms_pubkey *pk, void *ud)
{
	char id[17], b64[57];

	(void)ud;
	ms_keynum_hex(pk->keynum, id);
	ms_pubkey_base64(pk, b64);
	printf("%s %s %s\n", org, id, b64);
}

int cmd_trust(int argc, char **argv, struct ms_ctx *ctx)
{
	struct ms_error err;
	const char *sub;

	(void)ctx;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(trust_usage, stdout);
			return EXIT_OK;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return cmd_usage_error("trust", "unknown option '%s'", argv[i]);
	}
	if (argc < 2)
		return cmd_usage_error("trust", "need add, list or remove");
	sub = argv[1];
	if (!strcmp(sub, "list")) {
		if (argc != 2)
			return cmd_usage_error("trust", "too many arguments");
		if (ms_trust_list(print_key, NULL, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		return EXIT_OK;
	}
	if (!strcmp(sub, "remove")) {
		if (argc != 3)
			return cmd_usage_error("trust", "usage: trust remove ORG");
		if (ms_org_check(argv[2], &err))
			return cmd_usage_error("trust", "%s", err.msg);
		if (ms_trust_remove(argv[2], &err))
			return cmd_error(err.code == MS_ENOENT ? EXIT_VERIFY : EXIT_ERROR,
					 "%s", err.msg);
		printf("removed the trusted key of '%s'\n", argv[2]);
		return EXIT_OK;
	}
	if (!strcmp(sub, "add")) {
		struct ms_pubkey pk;
		struct stat st;
		char id[17];
		int r;

		if (argc != 4)
			return cmd_usage_error("trust", "usage: trust add ORG (PUBKEY | FILE)");
		if (ms_org_check(argv[2], &err))
			return cmd_usage_error("trust", "%s", err.msg);
		if (stat(argv[3], &st) == 0) {
			unsigned char *buf;
			size_t len;
			if (ms_read_file(argv[3], 4096, &buf, &len, &err))
				return cmd_error(EXIT_ERROR, "%s", err.msg);
			r = ms_pubkey_parse((char *)buf, len, &pk, &err);
			free(buf);
		} else {
			r = ms_pubkey_parse(argv[3], strlen(argv[3]), &pk, &err);
		}
		if (r)
			return cmd_error(EXIT_ERROR, "'%s' is not a public key or a key file: %s",
					 argv[3], err.msg);
		if (ms_trust_add(argv[2], &pk, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		ms_keynum_hex(pk.keynum, id);
		printf("trusting key %s for '%s'\n", id, argv[2]);
		return EXIT_OK;
	}
	return cmd_usage_error("trust", "unknown subcommand '%s'", sub);
}
