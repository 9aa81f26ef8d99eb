/* publish.c: hash a repo once, write the torrent and the signed manifest
 * into an index, update refs.json, optionally seed */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "ms_hash.h"
#include "ms_index.h"
#include "ms_manifest.h"
#include "ms_publish.h"
#include "ms_sign.h"
#include "ms_torrent.h"
#include "ms_trust.h"

static const char publish_usage[] =
	"usage: modelswarm publish DIR --repo ORG/NAME --rev REV --key ORG.key --index INDEXDIR\n"
	"                          [--ref NAME]... [--webseed URL]... [--tracker URL]...\n"
	"                          [--exclude GLOB]... [--v1-only | --v2-only]\n"
	"                          [--expires DAYS] [--bridge-source URL] [--seed [--no-origin]]\n"
	"                          [--dht]\n"
	"\n"
	"    --repo ORG/NAME       the repository\n"
	"    --rev REV             its revision (git commit, 40 hex digits)\n"
	"    --key ORG.key         the organisation's secret key (minisign format)\n"
	"    --index INDEXDIR      write INDEXDIR/ORG/NAME/{REV.torrent,REV.manifest.json,\n"
	"                          REV.manifest.json.minisig,refs.json,refs.json.minisig}\n"
	"    --ref NAME            point this ref at REV (repeatable; default: main)\n"
	"    --webseed URL         a web seed for the manifest and torrent (repeatable)\n"
	"    --tracker URL         a tracker for the manifest and torrent (repeatable)\n"
	"    --exclude GLOB        leave out files matching GLOB (repeatable; as for get)\n"
	"    --v1-only             a BitTorrent v1 torrent (default: hybrid v1+v2); for\n"
	"                          aria2 1.36 and Transmission 3.00\n"
	"    --v2-only             a BitTorrent v2 torrent\n"
	"    --expires DAYS        the manifest expires after DAYS days (default: 180;\n"
	"                          refs.json after at most 7)\n"
	"    --bridge-source URL   a bridged release: DIR is the upstream repo at URL\n"
	"                          as of commit REV, and --key is a bridge key; the\n"
	"                          manifest records both (its \"source\")\n"
	"    --seed                then seed DIR until interrupted, as the release's\n"
	"                          origin (see 'modelswarm seed --origin'); takes the\n"
	"                          options of 'modelswarm seed': --listen, --upload-limit,\n"
	"                          --no-dht, --no-lsd, --no-port-mapping, --super-seeding\n"
	"    --no-origin           with --seed: seed, but not as the origin\n"
	"    --dht                 then put each ref into the DHT (BEP 44, signed with\n"
	"                          --key) and make the release's bundle torrent, which\n"
	"                          --seed seeds too: get needs no index then\n"
	"    -h, --help            show this help\n"
	"\n"
	"Never published: .cache/huggingface/ at the top of DIR (written by hf download).\n";

enum {
	OPT_REPO = OPT_CMD_BASE, OPT_REV, OPT_KEY, OPT_INDEX, OPT_REF, OPT_EXPIRES,
	OPT_SEED, OPT_EXCLUDE, OPT_V1, OPT_V2, OPT_BRIDGE_SOURCE, OPT_DHT
};

static const struct option publish_opts[] = {
	NET_LONGOPTS,
	UPLOAD_LIMIT_LONGOPT,
	TRACKER_LONGOPTS,
	WEBSEED_LONGOPT,
	ORIGIN_LONGOPTS,
	{ "repo", required_argument, NULL, OPT_REPO },
	{ "rev", required_argument, NULL, OPT_REV },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "index", required_argument, NULL, OPT_INDEX },
	{ "ref", required_argument, NULL, OPT_REF },
	{ "expires", required_argument, NULL, OPT_EXPIRES },
	{ "seed", no_argument, NULL, OPT_SEED },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "v1-only", no_argument, NULL, OPT_V1 },
	{ "v2-only", no_argument, NULL, OPT_V2 },
	{ "bridge-source", required_argument, NULL, OPT_BRIDGE_SOURCE },
	{ "dht", no_argument, NULL, OPT_DHT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

#define LFS_THRESHOLD (10 * 1024 * 1024)

/* .gitattributes: which paths have filter=lfs (the last matching line
 * wins, as in git) */
struct lfs_rule {
	char *pattern;
	int lfs;
};

static void load_gitattributes(const char *dir, struct lfs_rule **rules, size_t *n)
{
	char path[PATH_MAX], *line, *save;
	unsigned char *buf;
	size_t len;

	*rules = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/.gitattributes", dir);
	if (ms_read_file(path, 1 << 20, &buf, &len, NULL))
		return;
	for (line = strtok_r((char *)buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *pat, *attr, *s2;
		int lfs = -1;
		if (*line == '#')
			continue;
		pat = strtok_r(line, " \t\r", &s2);
		if (!pat)
			continue;
		while ((attr = strtok_r(NULL, " \t\r", &s2))) {
			if (!strcmp(attr, "filter=lfs"))
				lfs = 1;
			else if (!strcmp(attr, "-filter") || !strcmp(attr, "!filter") ||
				 !strncmp(attr, "filter=", 7))
				lfs = 0;
		}
		if (lfs < 0)
			continue;
		struct lfs_rule *v = realloc(*rules, (*n + 1) * sizeof(*v));
		if (!v)
			break;
		*rules = v;
		v[*n].pattern = strdup(pat[0] == '/' ? pat + 1 : pat);
		v[*n].lfs = lfs;
		(*n)++;
	}
	free(buf);
}

static int is_lfs(const char *path, int64_t size, const struct lfs_rule *rules,
		  size_t n)
{
	int lfs = 0;

	for (size_t i = 0; i < n; i++) {
		const char *pat = rules[i].pattern;
		int m;
		if (strchr(pat, '/'))
			m = !fnmatch(pat, path, strstr(pat, "**") ? 0 : FNM_PATHNAME);
		else {
			const char *base = strrchr(path, '/');
			m = !fnmatch(pat, base ? base + 1 : path, 0);
		}
		if (m)
			lfs = rules[i].lfs;
	}
	/* the hub refuses regular git files over 10 MiB */
	return lfs || size >= LFS_THRESHOLD;
}

static void index_note(void *ud, const char *msg)
{
	(void)ud;
	cmd_warning("%s", msg);
}

static time_t now_or_epoch(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (e && *e) {
		v = strtoll(e, &end, 10);
		if (!*end && v > 0)
			return (time_t)v;
	}
	return time(NULL);
}

int cmd_publish(int argc, char **argv, struct ms_ctx *ctx)
{
	struct ms_strlist trackers = { 0 }, refnames = { 0 }, excludes = { 0 };
	struct ms_mirror_opts webseeds = { 0 };   /* only --webseed */
	struct net_opts net = { 0 };
	struct rate_opts rate = { 0 };
	struct opt_groups og = { .net = &net, .rate = &rate, .trackers = &trackers,
				 .mirrors = &webseeds, .origin = &ctx->config };
	struct seed_store ss;
	const char *dir, *repo = NULL, *rev = NULL, *keyfile = NULL, *index = NULL;
	const char *upstream = NULL;
	char revbuf[41];
	char org[128], path[PATH_MAX + 128];
	struct ms_build_file *bf = NULL;
	struct ms_build_opts bo;
	struct hash_progress hp = { stderr_is_tty(), -1 };
	struct ms_publish pub = { 0 };
	struct ms_tree tree;
	struct ms_seckey *sk = NULL;
	struct ms_pubkey pk;
	struct ms_error err;
	struct lfs_rule *rules = NULL;
	size_t nrules = 0;
	unsigned char *tbuf = NULL;
	size_t tlen = 0;
	lts_torrent *meta = NULL;
	struct ms_torrent_meta tm = { 0 };
	int64_t days = 180;
	int c, r = EXIT_OK, seed = 0, have_tree = 0, origin_opt = 0, dht = 0;
	struct publish_bundle pb = { 0 };
	unsigned flags = 0;   /* LTS_CREATE_V1_ONLY or _V2_ONLY */

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", publish_opts, NULL)) != -1) {
		origin_opt |= c == OPT_ORIGIN || c == OPT_NO_ORIGIN || c == OPT_SUPER_SEEDING;
		switch (c) {
		case OPT_REPO: repo = optarg; break;
		case OPT_REV: rev = optarg; break;
		case OPT_KEY: keyfile = optarg; break;
		case OPT_INDEX: index = optarg; break;
		case OPT_REF:
			if (ms_ref_check(optarg, &err)) {
				r = cmd_usage_error("publish", "%s", err.msg);
				goto out;
			}
			ms_strlist_push(&refnames, optarg);
			break;
		case OPT_EXPIRES:
			if (ms_parse_size(optarg, &days) || days < 1 || days > 3650) {
				r = cmd_usage_error("publish",
						    "--expires needs a number of days (1 to 3650), not '%s'",
						    optarg);
				goto out;
			}
			break;
		case OPT_SEED: seed = 1; break;
		case OPT_DHT: dht = 1; break;
		case OPT_EXCLUDE: ms_strlist_push(&excludes, optarg); break;
		case OPT_V1: flags |= LTS_CREATE_V1_ONLY; break;
		case OPT_V2: flags |= LTS_CREATE_V2_ONLY; break;
		case OPT_BRIDGE_SOURCE:
			if (ms_upstream_check(optarg, &err)) {
				r = cmd_usage_error("publish", "--bridge-source: %s", err.msg);
				goto out;
			}
			upstream = optarg;
			break;
		case 'h':
			fputs(publish_usage, stdout);
			goto out;
		default:
			if ((r = groups_opt("publish", &og, c, argv)))
				goto out;
			break;
		}
	}
	if ((flags & LTS_CREATE_V1_ONLY) && (flags & LTS_CREATE_V2_ONLY)) {
		r = cmd_usage_error("publish", "--v1-only and --v2-only exclude each other");
		goto out;
	}
	if (argc - optind != 1) {
		r = cmd_usage_error("publish", argc - optind ? "too many arguments"
							      : "no directory given");
		goto out;
	}
	if (origin_opt && !seed) {
		r = cmd_usage_error("publish", "--origin, --no-origin and --super-seeding "
					       "are for --seed");
		goto out;
	}
	dir = argv[optind];
	if (!repo || !rev || !keyfile || !index) {
		r = cmd_usage_error("publish", "--repo, --rev, --key and --index are required");
		goto out;
	}
	if (ms_repo_check(repo, org, sizeof(org), &err)) {
		r = cmd_usage_error("publish", "%s", err.msg);
		goto out;
	}
	snprintf(revbuf, sizeof(revbuf), "%s", rev);
	if (strlen(rev) >= sizeof(revbuf) || ms_revision_normalize(revbuf)) {
		r = cmd_usage_error("publish", "--rev needs a 40-hex git commit, not '%s'", rev);
		goto out;
	}
	rev = revbuf;
	if (!refnames.n)
		ms_strlist_push(&refnames, "main");
	{
		struct stat st;
		/* a first release makes its index, as git init makes a repo */
		if (ms_mkdir_p(index, &err)) {
			r = cmd_error(EXIT_ERROR, "%s", err.msg);
			goto out;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/.git", dir) >= sizeof(path)) {
			r = cmd_error(EXIT_ERROR, "path too long");
			goto out;
		}
		if (lstat(path, &st) == 0) {
			r = cmd_error(EXIT_ERROR,
				      "'%s' contains .git/: publish an export of the revision "
				      "(git archive, or hf download --local-dir) instead", dir);
			goto out;
		}
	}

	/* the key: load (asking for the password) before the long hashing */
	{
		int enc = ms_seckey_is_encrypted(keyfile, &err);
		char *pw = NULL;
		if (enc < 0) {
			r = cmd_error(EXIT_ERROR, "%s", err.msg);
			goto out;
		}
		if (enc) {
			pw = sodium_malloc(1024);
			if (!pw || read_password("password for the secret key", 0, pw, 1024)) {
				if (pw)
					sodium_free(pw);
				r = cmd_error(EXIT_ERROR, "no password for '%s'", keyfile);
				goto out;
			}
		}
		r = ms_seckey_load(keyfile, pw, &sk, &err);
		if (pw)
			sodium_free(pw);
		if (r) {
			r = cmd_error(EXIT_ERROR, "%s", err.msg);
			goto out;
		}
		ms_seckey_public(sk, &pk);
	}

	/* the files, less the ignore list and --exclude, under the
	 * manifest's path rules */
	if (ms_tree_scan_flags(dir, MS_TREE_FOLLOW_INSIDE | MS_TREE_IGNORE, &excludes,
			       &tree, &err)) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	have_tree = 1;
	for (size_t i = 0; i < MS_TREE_N_IGNORE; i++)
		if (tree.n_ignored[i])
			printf("left out: %s (%zu file%s, %s)\n", ms_tree_ignore_list[i].dir,
			       tree.n_ignored[i], tree.n_ignored[i] == 1 ? "" : "s",
			       ms_tree_ignore_list[i].why);
	if (tree.n_excluded)
		printf("left out by --exclude: %zu file%s\n", tree.n_excluded,
		       tree.n_excluded == 1 ? "" : "s");
	if (!tree.n) {
		r = cmd_error(EXIT_ERROR, "'%s' has no files", dir);
		goto out;
	}
	{
		const char **paths = calloc(tree.n, sizeof(*paths));
		if (!paths) {
			r = cmd_error(EXIT_ERROR, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < tree.n && !r; i++) {
			paths[i] = tree.files[i].path;
			if (ms_path_check(tree.files[i].path, &err))
				r = cmd_error(EXIT_ERROR, "%s", err.msg);
		}
		if (!r && ms_paths_collide(paths, tree.n, &err))
			r = cmd_error(EXIT_ERROR, "%s", err.msg);
		free(paths);
		if (r)
			goto out;
	}
	load_gitattributes(dir, &rules, &nrules);
	bf = calloc(tree.n, sizeof(*bf));
	if (!bf) {
		r = cmd_error(EXIT_ERROR, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < tree.n; i++) {
		bf[i].path = tree.files[i].path;
		bf[i].size = tree.files[i].size;
		bf[i].want_git = !is_lfs(bf[i].path, bf[i].size, rules, nrules);
	}

	/* one read of every file: sha256, git sha1, v1 and v2 hashes */
	memset(&bo, 0, sizeof(bo));
	bo.flags = flags;
	bo.name = rev;  /* a webseed base .../resolve/ maps to .../resolve/REV/PATH */
	bo.webseeds = webseeds.urls.v;
	bo.n_webseeds = webseeds.urls.n;
	bo.trackers = trackers.v;
	bo.n_trackers = trackers.n;
	bo.progress = hash_progress;
	bo.ud = &hp;
	/* loaded only to be seeded: publish itself needs what the writer says */
	bo.loaded = seed ? &meta : NULL;
	bo.meta = &tm;
	r = ms_torrent_build(dir, bf, tree.n, &bo, &tbuf, &tlen, &err);
	if (hp.tty)
		fputs("\r\033[K", stderr);
	if (r) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	pub.index = index;
	pub.repo = repo;
	pub.rev = rev;
	pub.sk = sk;
	pub.files = bf;
	pub.n_files = tree.n;
	pub.torrent = tbuf;
	pub.torrent_len = tlen;
	pub.tm = &tm;
	pub.refs = refnames.v;
	pub.n_refs = refnames.n;
	pub.webseeds = webseeds.urls.v;
	pub.n_webseeds = webseeds.urls.n;
	pub.trackers = trackers.v;
	pub.n_trackers = trackers.n;
	pub.upstream = upstream;
	pub.days = days;
	pub.now = now_or_epoch();
	pub.note = index_note;
	if (ms_publish_write(&pub, &err)) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	/* a key of ours: seed ORG/NAME@REV of its releases is their origin */
	if (ms_trust_own_add(&pk, &err))
		cmd_warning("cannot note the key as ours: %s", err.msg);
	{
		char sz[32], id[17];
		ms_keynum_hex(pk.keynum, id);
		printf("published %s@%s version %" PRId64 ": %zu files, %s, signed by key %s\n",
		       repo, rev, pub.version, tree.n,
		       ms_fmt_bytes(sz, sizeof(sz), (double)tree.total), id);
		printf("index: %s/\n", pub.repodir);
		if (*pub.infohash_v1)
			printf("infohash v1: %s\n", pub.infohash_v1);
		if (*pub.infohash_v2)
			printf("infohash v2: %s\n", pub.infohash_v2);
		for (size_t i = 0; i < refnames.n; i++)
			printf("ref %s -> %s\n", refnames.v[i], rev);
		if (upstream)
			printf("bridged from %s at commit %s\n", upstream, rev);
	}
	if (dht && (r = publish_dht(ctx, &net, sk, &pk, repo, rev, pub.version, &refnames,
				    pub.repodir, &pb)))
		goto out;
	if (seed) {
		ms_seckey_free(sk);
		sk = NULL;
		memset(&ss, 0, sizeof(ss));
		ss.origin_why = "we publish it";
		ss.bundle = pb.torrent;
		ss.bundle_len = pb.len;
		ss.bundle_dir = pb.dir;
		r = seed_run_ex(ctx, &net, meta, dir, &trackers, rate.upload, &ss);
	}
out:
	ms_seckey_free(sk);
	ms_torrent_meta_release(&tm);
	ms_torrent_free(meta);
	free(tbuf);
	free(pb.torrent);
	free(bf);
	for (size_t i = 0; i < nrules; i++)
		free(rules[i].pattern);
	free(rules);
	if (have_tree)
		ms_tree_release(&tree);
	ms_mirror_opts_release(&webseeds);
	ms_strlist_release(&trackers);
	ms_strlist_release(&refnames);
	ms_strlist_release(&excludes);
	return r;
}
