/* verify.c: check a release against the trust store, or a directory
 * against a manifest */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "ms_dht.h"
#include "ms_engine.h"
#include "ms_hash.h"
#include "ms_manifest.h"
#include "ms_release.h"
#include "ms_torrent.h"
#include "ms_trust.h"

static const char verify_usage[] =
	"usage: modelswarm verify --index URL ORG/NAME[@REV]\n"
	"   or: modelswarm verify --manifest FILE DIR\n"
	"\n"
	"    --index URL           an index (file://, http://, https:// or a directory):\n"
	"                          check refs.json (for a ref; default main) and the\n"
	"                          manifest of REV against the pinned key of ORG (or\n"
	"                          a bridge trusted for ORG/NAME, see modelswarm-trust);\n"
	"                          dht: looks the ref up in the DHT (the org's signed\n"
	"                          item) and takes the manifest from peers\n"
	"    --manifest FILE       check FILE and FILE.minisig, then that DIR holds\n"
	"                          exactly its files, sizes and sha256s\n"
	"    -h, --help            show this help\n";

enum { OPT_INDEX = OPT_CMD_BASE, OPT_MANIFEST };

static const struct option verify_opts[] = {
	{ "index", required_argument, NULL, OPT_INDEX },
	{ "manifest", required_argument, NULL, OPT_MANIFEST },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static int fail_code(const struct ms_error *err)
{
	return err->code == MS_EIO || err->code == MS_ENOMEM ? EXIT_ERROR : EXIT_VERIFY;
}

static void print_verified(const struct ms_verified *v)
{
	int64_t total = 0;
	char sz[32], ex[21];

	for (size_t i = 0; i < v->m.n_files; i++)
		total += v->m.files[i].size;
	ms_time_format(v->m.expires, ex);
	printf("verified %s@%s version %" PRId64 ": %zu files, %s\n", v->m.repo,
	       v->m.revision, v->m.version, v->m.n_files,
	       ms_fmt_bytes(sz, sizeof(sz), (double)total));
	if (*v->bridge) {
		printf("signed by key %s of bridge '%s', trusted comment: %s\n", v->keyid,
		       v->bridge, v->trusted_comment);
		printf("bridged from %s at commit %s: the upstream's metadata vouches for "
		       "these bytes, not a lab's key\n", v->m.source_upstream, v->m.source_commit);
	} else {
		printf("signed by key %s, trusted comment: %s\n", v->keyid, v->trusted_comment);
	}
	printf("expires %s\n", ex);
	if (*v->m.infohash_v1)
		printf("infohash v1: %s\n", v->m.infohash_v1);
	if (*v->m.infohash_v2)
		printf("infohash v2: %s\n", v->m.infohash_v2);
}

/* through the reader get uses (release.c): a torn pair is read again */
static int verify_index(const char *index, const char *spec, struct ms_ctx *ctx)
{
	struct ms_strlist given = { 0 };
	struct net_opts net = { 0 };
	struct ms_engine_opts eo;
	struct ms_release r;
	struct ms_refs refs;
	struct ms_error err;
	int e, dht = !strcmp(index, MS_DHT_INDEX);

	/* a session only for dht: (no other index falls back to it: what
	 * is checked is the index named), set up by the config file */
	if (dht && ms_config_load(&ctx->config, &err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	ms_strlist_push(&given, index);
	net_engine_opts(ctx, &net, &eo);
	e = cmd_release_fetch_dht(&r, "verify", spec, "main", &given, ctx, MS_RELEASE_NO_TORRENT,
				  NULL, NULL, dht ? &eo : NULL);
	ms_strlist_release(&given);
	if (e) {
		ms_release_release(&r);
		return e;
	}
	if (strcmp(r.want, r.rev) && !r.refs.buf) {
		/* from the DHT: an item signed by the org's key, no refs.json */
		printf("ref %s of %s -> %s (a DHT item signed by the key of %.*s)\n", r.want,
		       r.repo, r.rev, (int)strcspn(r.repo, "/"), r.repo);
	} else if (strcmp(r.want, r.rev)) {
		/* verified as it came (ms_release_refs_check) */
		if (ms_refs_parse(r.refs.buf, r.refs.len, &refs, &err)) {
			ms_release_release(&r);
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		}
		printf("ref %s of %s -> %s (refs.json version %" PRId64 ")\n", r.want, r.repo,
		       r.rev, refs.version);
		ms_refs_release(&refs);
	}
	print_verified(&r.v);
	ms_release_release(&r);
	return EXIT_OK;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct ms_manifest_file *)a)->path,
		      ((const struct ms_manifest_file *)b)->path);
}

static int verify_dir(const char *file, const char *dir)
{
	char sigpath[PATH_MAX], repo[256] = "";
	unsigned char *mb = NULL, *sb = NULL;
	size_t ml, sl;
	struct ms_verified v;
	struct ms_build_file *bf = NULL;
	struct ms_tree tree;
	struct ms_error err;
	int r, bad = 0;

	snprintf(sigpath, sizeof(sigpath), "%s.minisig", file);
	if (ms_read_file(file, MS_MANIFEST_MAX, &mb, &ml, &err))
		return cmd_error(err.code == MS_ETOOBIG ? EXIT_VERIFY : EXIT_ERROR, "%s",
				 err.msg);
	if (ms_read_file(sigpath, MS_SIGFILE_MAX, &sb, &sl, &err)) {
		free(mb);
		return cmd_error(err.code == MS_ETOOBIG ? EXIT_VERIFY : EXIT_ERROR, "%s",
				 err.msg);
	}
	/* the repo named by the (not yet verified) trusted comment selects
	 * the pinned key; the binding checks below make a lie fail */
	{
		const char *tc = strstr((char *)sb, "\ntrusted comment: ");
		const char *p = tc ? strstr(tc, " repo=") : NULL;
		if (p) {
			size_t n = strcspn(p + 6, " \n");
			if (n < sizeof(repo)) {
				memcpy(repo, p + 6, n);
				repo[n] = '\0';
			}
		}
	}
	if (!*repo) {
		free(mb);
		free(sb);
		return cmd_error(EXIT_VERIFY, "'%s' does not name a repository in its "
				 "trusted comment", sigpath);
	}
	r = ms_release_verify(repo, NULL, mb, ml, (char *)sb, sl, time(NULL), 1, &v, &err);
	free(mb);
	free(sb);
	if (r)
		return cmd_error(fail_code(&err), "%s", err.msg);

	/* now the directory: same set of files, sizes, sha256s, less the
	 * ignore list publish applies */
	if (ms_tree_scan_flags(dir, MS_TREE_IGNORE, NULL, &tree, &err)) {
		ms_manifest_release(&v.m);
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	}
	qsort(v.m.files, v.m.n_files, sizeof(*v.m.files), cmp_path);
	for (size_t i = 0, j = 0; i < tree.n || j < v.m.n_files;) {
		int c = i >= tree.n ? 1 : j >= v.m.n_files ? -1
			: strcmp(tree.files[i].path, v.m.files[j].path);
		if (c < 0) {
			fprintf(stderr, "error: '%s' is not in the manifest\n", tree.files[i].path);
			bad++;
			i++;
		} else if (c > 0) {
			fprintf(stderr, "error: '%s' is missing\n", v.m.files[j].path);
			bad++;
			j++;
		} else {
			if (tree.files[i].size != v.m.files[j].size) {
				fprintf(stderr, "error: '%s' has %lld bytes, the manifest says %lld\n",
					tree.files[i].path, (long long)tree.files[i].size,
					(long long)v.m.files[j].size);
				bad++;
			}
			i++;
			j++;
		}
	}
	if (!bad) {
		struct ms_build_opts bo;
		unsigned char *t = NULL;
		size_t tl;
		bf = calloc(tree.n, sizeof(*bf));
		for (size_t i = 0; bf && i < tree.n; i++) {
			bf[i].path = tree.files[i].path;
			bf[i].size = tree.files[i].size;
		}
		memset(&bo, 0, sizeof(bo));
		bo.name = v.m.revision;
		bo.flags = LTS_CREATE_V2_ONLY;
		bo.piece_size = (int)v.m.piece_length;
		if (!bf || ms_torrent_build(dir, bf, tree.n, &bo, &t, &tl, &err)) {
			r = cmd_error(EXIT_ERROR, "%s", bf ? err.msg : "out of memory");
			goto out;
		}
		free(t);
		for (size_t i = 0; i < tree.n; i++) {
			char hex[65];
			ms_hex(bf[i].sha256, 32, hex);
			if (strcmp(hex, v.m.files[i].sha256)) {
				fprintf(stderr, "error: '%s' does not match its sha256 in the manifest\n",
					bf[i].path);
				bad++;
			}
		}
	}
	if (bad) {
		r = cmd_error(EXIT_VERIFY, "'%s' does not match %s@%s: %d problems", dir,
			      v.m.repo, v.m.revision, bad);
		goto out;
	}
	print_verified(&v);
	printf("'%s' matches: every file, size and sha256\n", dir);
	r = EXIT_OK;
out:
	free(bf);
	ms_tree_release(&tree);
	ms_manifest_release(&v.m);
	return r;
}

int cmd_verify(int argc, char **argv, struct ms_ctx *ctx)
{
	const char *index = NULL, *manifest = NULL;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", verify_opts, NULL)) != -1) {
		switch (c) {
		case OPT_INDEX: index = optarg; break;
		case OPT_MANIFEST: manifest = optarg; break;
		case 'h':
			fputs(verify_usage, stdout);
			return EXIT_OK;
		default:
			return cmd_bad_option("verify", argv, verify_opts);
		}
	}
	if (!!index == !!manifest)
		return cmd_usage_error("verify", "give exactly one of --index and --manifest");
	if (argc - optind != 1)
		return cmd_usage_error("verify", argc - optind ? "too many arguments"
							      : index ? "no ORG/NAME given"
								      : "no directory given");
	if (index)
		return verify_index(index, argv[optind], ctx);
	return verify_dir(manifest, argv[optind]);
}
