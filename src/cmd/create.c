/* create.c: modelswarm create DIR -o FILE.torrent */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "ms_torrent.h"

static const char create_usage[] =
	"usage: modelswarm create DIR -o FILE.torrent [--v1-only | --v2-only]\n"
	"                         [--piece-size BYTES] [--name NAME]\n"
	"                         [--webseed URL]... [--tracker URL]...\n"
	"\n"
	"    -o, --output FILE     write the torrent to FILE\n"
	"    --v1-only             BitTorrent v1 only (default: hybrid v1+v2)\n"
	"    --v2-only             BitTorrent v2 only\n"
	"    --piece-size BYTES    piece size, a power of two >= 16K (default: automatic)\n"
	"    --name NAME           torrent name (default: the directory's name)\n"
	"    --webseed URL         add a BEP 19 web seed (repeatable)\n"
	"    --tracker URL         add a tracker, each in its own tier (repeatable)\n"
	"    -h, --help            show this help\n";

enum { OPT_V1 = OPT_CMD_BASE, OPT_V2, OPT_PIECE, OPT_NAME };

static const struct option create_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "v1-only", no_argument, NULL, OPT_V1 },
	{ "v2-only", no_argument, NULL, OPT_V2 },
	{ "piece-size", required_argument, NULL, OPT_PIECE },
	{ "name", required_argument, NULL, OPT_NAME },
	WEBSEED_LONGOPT,
	TRACKER_LONGOPTS,
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static int check_name(const char *name)
{
	return !*name || strchr(name, '/') || !strcmp(name, ".") ||
	       !strcmp(name, "..");
}

int cmd_create(int argc, char **argv, struct ms_ctx *ctx)
{
	struct ms_strlist trackers = { 0 };
	struct ms_mirror_opts webseeds = { 0 };   /* only --webseed */
	struct opt_groups og = { .trackers = &trackers, .mirrors = &webseeds };
	const char *out = NULL, *name = NULL, *dir;
	struct ms_build_opts co;
	struct ms_build_file *files = NULL;
	struct hash_progress hp = { stderr_is_tty(), -1 };
	struct ms_tree tree;
	struct ms_error err;
	unsigned char *buf = NULL;
	size_t len = 0;
	int64_t piece = 0;
	unsigned flags = 0;
	char dirname_buf[256];
	int c, r = EXIT_OK;
	lts_torrent *t;
	struct ms_torrent_meta tm;

	(void)ctx;
	memset(&co, 0, sizeof(co));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", create_opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case OPT_V1:
			flags |= LTS_CREATE_V1_ONLY;
			break;
		case OPT_V2:
			flags |= LTS_CREATE_V2_ONLY;
			break;
		case OPT_PIECE:
			if (ms_parse_size(optarg, &piece) || piece < 16384 ||
			    piece > (1 << 30) || (piece & (piece - 1))) {
				r = cmd_usage_error("create",
					"--piece-size needs a power of two between 16K and 1G, not '%s'",
					optarg);
				goto out;
			}
			break;
		case OPT_NAME:
			name = optarg;
			if (check_name(name)) {
				r = cmd_usage_error("create", "bad torrent name '%s'", name);
				goto out;
			}
			break;
		case 'h':
			fputs(create_usage, stdout);
			goto out;
		default:
			if ((r = groups_opt("create", &og, c, argv)))
				goto out;
			break;
		}
	}
	if ((flags & LTS_CREATE_V1_ONLY) && (flags & LTS_CREATE_V2_ONLY)) {
		r = cmd_usage_error("create", "--v1-only and --v2-only exclude each other");
		goto out;
	}
	if (optind + 1 != argc) {
		r = cmd_usage_error("create", optind >= argc ? "no directory given"
						      : "too many arguments");
		goto out;
	}
	if (!out) {
		r = cmd_usage_error("create", "no output file given (-o FILE.torrent)");
		goto out;
	}
	dir = argv[optind];

	/* the output's directory must exist before we spend time hashing */
	{
		char tmp[PATH_MAX];
		struct stat st;
		snprintf(tmp, sizeof(tmp), "%s", out);
		const char *d = dirname(tmp);
		if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode)) {
			r = cmd_error(EXIT_ERROR, "cannot write '%s': directory '%s' does not exist",
				      out, d);
			goto out;
		}
	}
	if (ms_tree_scan(dir, &tree, &err)) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	if (!tree.n) {
		ms_tree_release(&tree);
		r = cmd_error(EXIT_ERROR, "'%s' has no files", dir);
		goto out;
	}
	files = calloc(tree.n, sizeof(*files));
	if (!files) {
		ms_tree_release(&tree);
		r = cmd_error(EXIT_ERROR, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < tree.n; i++) {
		files[i].path = tree.files[i].path;
		files[i].size = tree.files[i].size;
	}
	co.flags = flags;
	co.piece_size = (int)piece;
	co.name = name;
	if (!co.name) {
		/* the directory's own name, as it resolves */
		char *real = realpath(dir, NULL);
		const char *base;
		if (!real) {
			ms_tree_release(&tree);
			r = cmd_error(EXIT_ERROR, "cannot resolve '%s': %s", dir,
				      strerror(errno));
			goto out;
		}
		base = strrchr(real, '/');
		snprintf(dirname_buf, sizeof(dirname_buf), "%s",
			 base && base[1] ? base + 1 : "torrent");
		free(real);
		co.name = dirname_buf;
	}
	co.webseeds = webseeds.urls.v;
	co.n_webseeds = webseeds.urls.n;
	co.trackers = trackers.v;
	co.n_trackers = trackers.n;
	co.progress = hash_progress;
	co.ud = &hp;
	r = ms_torrent_build(dir, files, tree.n, &co, &buf, &len, &err);
	if (hp.tty)
		fputs("\r\033[K", stderr);
	if (r) {
		ms_tree_release(&tree);
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	if (ms_write_file_atomic(out, buf, len, 0644, &err)) {
		ms_tree_release(&tree);
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	t = ms_torrent_load(buf, len, &err);
	if (!t || ms_torrent_meta(t, &tm, &err)) {
		ms_torrent_free(t);
		ms_tree_release(&tree);
		r = cmd_error(EXIT_ERROR, "created an unreadable torrent: %s", err.msg);
		goto out;
	}
	ms_torrent_free(t);
	{
		char sz[32];
		printf("created %s: '%s', %zu files, %s, piece size %d\n", out,
		       tm.name, tree.n,
		       ms_fmt_bytes(sz, sizeof(sz), (double)tree.total),
		       tm.piece_length);
		if (*tm.hash_v1)
			printf("infohash v1: %s\n", tm.hash_v1);
		if (*tm.hash_v2)
			printf("infohash v2: %s\n", tm.hash_v2);
	}
	ms_torrent_meta_release(&tm);
	ms_tree_release(&tree);
out:
	free(buf);
	free(files);
	ms_mirror_opts_release(&webseeds);
	ms_strlist_release(&trackers);
	return r;
}
