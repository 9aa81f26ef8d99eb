/* trust.c: modelswarm trust add|list|remove, for org keys and bridges */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "ms_sign.h"
#include "ms_trust.h"

static const char trust_usage[] =
	"usage: modelswarm trust add ORG (PUBKEY | FILE)\n"
	"   or: modelswarm trust add --bridge NAME (PUBKEY | FILE) --scope GLOB...\n"
	"   or: modelswarm trust list\n"
	"   or: modelswarm trust remove ORG\n"
	"   or: modelswarm trust remove --bridge NAME\n"
	"\n"
	"    add ORG KEY           pin KEY (a minisign public key, or a .pub file) as\n"
	"                          the only key trusted for ORG's repositories\n"
	"    add --bridge NAME KEY trust KEY as bridge NAME, for the repositories its\n"
	"                          scopes match, of orgs with no pinned key\n"
	"    --scope GLOB          a glob over ORG/NAME ('acme/*', '*/*'); required,\n"
	"                          repeatable, or a comma list\n"
	"    list                  the pinned keys, then the bridges with their scopes\n"
	"    remove ORG            forget ORG's key ('rm' is the same)\n"
	"    remove --bridge NAME  forget the bridge\n"
	"    -h, --help            show this help\n";

enum { OPT_BRIDGE = OPT_CMD_BASE, OPT_SCOPE };

static const struct option trust_opts[] = {
	{ "bridge", required_argument, NULL, OPT_BRIDGE },
	{ "scope", required_argument, NULL, OPT_SCOPE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static void print_key(const char *org, const struct ms_pubkey *pk, void *ud)
{
	char id[17], b64[57];

	(void)ud;
	ms_keynum_hex(pk->keynum, id);
	ms_pubkey_base64(pk, b64);
	printf("%s %s %s\n", org, id, b64);
}

static void print_bridge(const struct ms_bridge *b, void *ud)
{
	char id[17], b64[57];

	(void)ud;
	ms_keynum_hex(b->pk.keynum, id);
	ms_pubkey_base64(&b->pk, b64);
	printf("bridge:%s %s %s ", b->name, id, b64);
	for (size_t i = 0; i < b->scopes.n; i++)
		printf("%s%s", i ? "," : "", b->scopes.v[i]);
	putchar('\n');
}

/* KEY as a key string or a .pub file */
static int read_key(const char *arg, struct ms_pubkey *pk)
{
	struct ms_error err;
	struct stat st;
	int r;

	if (stat(arg, &st) == 0) {
		unsigned char *buf;
		size_t len;
		if (ms_read_file(arg, 4096, &buf, &len, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		r = ms_pubkey_parse((char *)buf, len, pk, &err);
		free(buf);
	} else {
		r = ms_pubkey_parse(arg, strlen(arg), pk, &err);
	}
	if (r)
		return cmd_error(EXIT_ERROR, "'%s' is not a public key or a key file: %s", arg,
				 err.msg);
	return 0;
}

/* --scope GLOB[,GLOB...] into scopes (copies), each checked */
static int add_scopes(struct ms_strlist *scopes, const char *arg)
{
	struct ms_error err;
	char *buf = strdup(arg), *tok, *save;
	int r = 0;

	if (!buf)
		return cmd_error(EXIT_ERROR, "out of memory");
	if (!*arg || arg[strlen(arg) - 1] == ',' || *arg == ',' || strstr(arg, ",,"))
		r = cmd_usage_error("trust", "'%s' has an empty scope", arg);
	for (tok = strtok_r(buf, ",", &save); tok && !r; tok = strtok_r(NULL, ",", &save)) {
		if (ms_scope_check(tok, &err))
			r = cmd_usage_error("trust", "%s", err.msg);
		else if (ms_strlist_push_copy(scopes, tok))
			r = cmd_error(EXIT_ERROR, "out of memory");
	}
	free(buf);
	return r;
}

static int trust_add_bridge(const char *name, const char *key, const struct ms_strlist *scopes)
{
	struct ms_pubkey pk;
	struct ms_error err;
	char id[17];
	int r;

	if (ms_bridge_name_check(name, &err))
		return cmd_usage_error("trust", "%s", err.msg);
	if (!scopes->n)
		return cmd_usage_error("trust", "a bridge needs --scope GLOB (such as "
				       "'acme/*'): it is trusted only inside its scope");
	if ((r = read_key(key, &pk)))
		return r;
	if (ms_trust_bridge_add(name, &pk, scopes, &err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	ms_keynum_hex(pk.keynum, id);
	printf("trusting key %s as bridge '%s' for ", id, name);
	for (size_t i = 0; i < scopes->n; i++)
		printf("%s'%s'", i ? ", " : "", scopes->v[i]);
	printf(" (not for orgs with a pinned key)\n");
	return EXIT_OK;
}

static int trust_remove(const char *org, const char *bridge)
{
	struct ms_error err;
	int r;

	if (bridge ? ms_bridge_name_check(bridge, &err) : ms_org_check(org, &err))
		return cmd_usage_error("trust", "%s", err.msg);
	r = bridge ? ms_trust_bridge_remove(bridge, &err) : ms_trust_remove(org, &err);
	if (r)
		return cmd_error(err.code == MS_ENOENT ? EXIT_VERIFY : EXIT_ERROR, "%s", err.msg);
	if (bridge)
		printf("removed the trusted bridge '%s'\n", bridge);
	else
		printf("removed the trusted key of '%s'\n", org);
	return EXIT_OK;
}

static int trust_run(int argc, char **argv, const char *bridge, const struct ms_strlist *scopes)
{
	struct ms_error err;
	const char *sub = argv[0];
	int r;

	if (!strcmp(sub, "list")) {
		if (argc != 1 || bridge || scopes->n)
			return cmd_usage_error("trust", "'trust list' takes no arguments");
		if (ms_trust_list(print_key, NULL, &err) ||
		    ms_trust_bridge_list(print_bridge, NULL, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		return EXIT_OK;
	}
	if (!strcmp(sub, "remove") || !strcmp(sub, "rm")) {
		if (scopes->n)
			return cmd_usage_error("trust", "--scope goes with 'trust add --bridge'");
		if (argc != (bridge ? 1 : 2))
			return cmd_usage_error("trust", "usage: trust remove (ORG | --bridge NAME)");
		return trust_remove(bridge ? NULL : argv[1], bridge);
	}
	if (!strcmp(sub, "add")) {
		struct ms_pubkey pk;
		char id[17];

		if (bridge) {
			if (argc != 2)
				return cmd_usage_error("trust", "usage: trust add --bridge NAME "
						       "(PUBKEY | FILE) --scope GLOB...");
			return trust_add_bridge(bridge, argv[1], scopes);
		}
		if (scopes->n)
			return cmd_usage_error("trust", "--scope goes with --bridge: an org's "
					       "key is trusted for its own repositories");
		if (argc != 3)
			return cmd_usage_error("trust", "usage: trust add ORG (PUBKEY | FILE)");
		if (ms_org_check(argv[1], &err))
			return cmd_usage_error("trust", "%s", err.msg);
		if ((r = read_key(argv[2], &pk)))
			return r;
		if (ms_trust_add(argv[1], &pk, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		ms_keynum_hex(pk.keynum, id);
		printf("trusting key %s for '%s'\n", id, argv[1]);
		return EXIT_OK;
	}
	return cmd_usage_error("trust", "unknown subcommand '%s'", sub);
}

int cmd_trust(int argc, char **argv, struct ms_ctx *ctx)
{
	struct ms_strlist scopes = { 0 };
	const char *bridge = NULL;
	int c, r = 0;

	(void)ctx;
	opterr = 0;
	optind = 1;
	while (!r && (c = getopt_long(argc, argv, "h", trust_opts, NULL)) != -1) {
		switch (c) {
		case OPT_BRIDGE: bridge = optarg; break;
		case OPT_SCOPE: r = add_scopes(&scopes, optarg); break;
		case 'h':
			fputs(trust_usage, stdout);
			ms_strlist_release(&scopes);
			return EXIT_OK;
		default:
			r = cmd_bad_option("trust", argv, trust_opts);
			break;
		}
	}
	if (!r && optind >= argc)
		r = cmd_usage_error("trust", "need add, list or remove");
	if (!r)
		r = trust_run(argc - optind, argv + optind, bridge, &scopes);
	ms_strlist_release(&scopes);
	return r;
}
