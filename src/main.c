/* main.c: the command table and dispatch */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "ms_torrent.h"

#define NEEDS_CONFIG (1u << 0)

struct cmd_struct {
	const char *name;
	int (*fn)(int argc, char **argv, struct ms_ctx *ctx);
	unsigned flags;
	const char *summary;
};

static const struct cmd_struct commands[] = {
	{ "create", cmd_create, 0, "make a .torrent from a directory" },
	{ "seed", cmd_seed, NEEDS_CONFIG, "check a directory against a torrent and seed it" },
	{ "fetch", cmd_fetch, NEEDS_CONFIG, "download a torrent or magnet into a directory" },
	{ "get", cmd_get, NEEDS_CONFIG, "download a signed release into the Hugging Face cache" },
	{ "keygen", cmd_keygen, 0, "make an organisation's signing key pair" },
	{ "publish", cmd_publish, NEEDS_CONFIG, "hash a repo, sign its manifest into an index, seed" },
	{ "trust", cmd_trust, 0, "pin organisations' keys, trust bridges, list and remove them" },
	{ "verify", cmd_verify, 0, "check a signed release, or a directory against it" },
	{ "daemon", cmd_daemon, NEEDS_CONFIG, "seed many repos for a long time, driven over a socket" },
	{ "mirror", cmd_mirror, NEEDS_CONFIG, "write a verified release as a static index and web seed" },
};

static const char usage[] =
	"usage: modelswarm [--version] [-h | --help] <command> [<args>]\n";

static void print_help(FILE *out)
{
	fputs(usage, out);
	fputs("\ncommands:\n", out);
	for (size_t i = 0; i < MS_ARRAY_SIZE(commands); i++)
		fprintf(out, "   %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\n'modelswarm <command> -h' shows the options of a command.\n", out);
}

int main(int argc, char **argv)
{
	struct ms_ctx ctx;
	struct ms_error err;
	const struct cmd_struct *cmd = NULL;
	int r;

	/* a closed reader must not kill us mid-write; writes report EPIPE */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		print_help(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("modelswarm %s (libtorrent %s)\n", MS_VERSION,
		       ms_libtorrent_version());
		return EXIT_OK;
	}
	for (size_t i = 0; i < MS_ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "error: '%s' is not a modelswarm command (see 'modelswarm -h')\n",
			argv[1]);
		return EXIT_USAGE;
	}

	memset(&ctx, 0, sizeof(ctx));
	if (cmd->flags & NEEDS_CONFIG) {
		/* -h must work even with a broken config file */
		int help = 0;
		for (int i = 2; i < argc; i++)
			if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
				help = 1;
		if (!help && ms_config_load(&ctx.config, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
	}
	r = cmd->fn(argc - 1, argv + 1, &ctx);
	ms_config_release(&ctx.config);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "error: cannot write to standard output\n");
		if (!r)
			r = EXIT_ERROR;
	}
	return r;
}
