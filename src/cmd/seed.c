/* seed.c: modelswarm seed FILE.torrent DIR, and modelswarm seed
 * ORG/NAME@REV from the Hugging Face cache; the loop is in seeding.c */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "ms_manifest.h"
#include "ms_release.h"
#include "ms_store.h"
#include "ms_trust.h"

static const char seed_usage[] =
	"usage: modelswarm seed FILE.torrent DIR [--listen ADDR:PORT] [--tracker URL]...\n"
	"                       [--upload-limit RATE] [--origin | --no-origin]\n"
	"                       [--super-seeding] [--no-dht] [--no-lsd] [--no-port-mapping]\n"
	"   or: modelswarm seed ORG/NAME@REV [--index URL] [--cache-dir DIR] [--recheck]\n"
	"                       [--listen ADDR:PORT] [--upload-limit RATE]\n"
	"                       [--origin | --no-origin] [--super-seeding]\n"
	"                       [--no-dht] [--no-lsd] [--no-port-mapping]\n"
	"\n"
	"    ORG/NAME@REV          seed a release from the Hugging Face cache (blobs\n"
	"                          in place, no copy), after verifying its manifest\n"
	"    --index URL           where its manifest and torrent are (default: those of\n"
	"                          $MODELSWARM_INDEX, else the config's, tried in order,\n"
	"                          else the DHT); dht: is the DHT, also asked for a ref\n"
	"                          when every index fails, in the seeding session (not\n"
	"                          with --no-dht)\n"
	"    --cache-dir DIR       the hub cache (default as for 'modelswarm get')\n"
	"    --recheck             hash the files even if resume data says they are fine\n"
	"    --listen ADDR:PORT    listen there (port 0: any free port)\n"
	"    --tracker URL         announce to this tracker too (repeatable)\n"
	"    --upload-limit RATE   cap upload, bytes/s (suffixes K, M, G)\n"
	"    --origin              the first seed of a release: each peer may queue few\n"
	"                          requests with us, so each piece leaves us about once\n"
	"                          (default for ORG/NAME@REV signed by a key of ours:\n"
	"                          one that keygen made or publish signed with here)\n"
	"    --no-origin           not that, even for a release of ours\n"
	"    --super-seeding       --origin, and BEP 16 super seeding: about one copy\n"
	"                          leaves us, but the swarm takes longer to finish\n"
	"    --no-dht              no DHT\n"
	"    --no-lsd              no local service discovery\n"
	"    --no-port-mapping     no UPnP / NAT-PMP\n"
	"    -h, --help            show this help\n";

enum { OPT_S_INDEX = OPT_CMD_BASE, OPT_S_CACHE, OPT_S_RECHECK };

static const struct option seed_opts[] = {
	NET_LONGOPTS,
	UPLOAD_LIMIT_LONGOPT,
	TRACKER_LONGOPTS,
	ORIGIN_LONGOPTS,
	{ "index", required_argument, NULL, OPT_S_INDEX },
	{ "cache-dir", required_argument, NULL, OPT_S_CACHE },
	{ "recheck", no_argument, NULL, OPT_S_RECHECK },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* seed ORG/NAME@REV: a verified release straight from the Hugging Face
 * cache, blobs in place */
static int seed_from_cache(const char *spec, struct ms_ctx *ctx, const struct net_opts *net,
			   const struct ms_strlist *trackers, int upload, const char *index_opt,
			   const char *cache_opt, int recheck)
{
	char cache[PATH_MAX], rpath[PATH_MAX + 64], label[PATH_MAX + 600], why[64] = "";
	char org[MS_REPO_MAX], keyid[17];
	struct ms_pubkey pk;
	struct seeding *sg = NULL;
	unsigned char *resume = NULL;
	size_t resume_len = 0;
	struct ms_release rel;
	struct ms_strlist given = { 0 };
	struct ms_store store;
	struct seed_store ss;
	struct ms_error err;
	lts_torrent *meta;
	const char **paths = NULL;
	char (*pathbuf)[PATH_MAX] = NULL;
	int *prio = NULL, n, r, present = 0, wanted = 0;
	int64_t want_bytes = 0;

	memset(&store, 0, sizeof(store));
	store.lock_fd = -1;
	ms_release_init(&rel);
	if (ms_release_spec(&rel, spec, NULL, &err)) {
		ms_release_release(&rel);
		return cmd_usage_error("seed", "%s", err.msg);
	}
	/* signed by a key of ours: we are its origin */
	snprintf(org, sizeof(org), "%.*s", (int)strcspn(rel.repo, "/"), rel.repo);
	ms_release_release(&rel);
	if (ms_trust_get(org, &pk, NULL) == 0 && ms_trust_own_has(&pk)) {
		ms_keynum_hex(pk.keynum, keyid);
		snprintf(why, sizeof(why), "signed by our key %s", keyid);
	}
	if (index_opt && ms_strlist_push(&given, index_opt))
		return cmd_error(EXIT_ERROR, "out of memory");
	/* the session first: the release may come through its DHT */
	if ((r = seed_open(&sg, ctx, net, upload, why[0] ? why : NULL))) {
		ms_strlist_release(&given);
		return r;
	}
	r = cmd_release_fetch_dht(&rel, "seed", spec, NULL, &given, ctx, 0, seed_loop(sg),
				  seed_engine(sg), NULL);
	ms_strlist_release(&given);
	if (r)
		goto out;
	r = EXIT_ERROR;
	meta = rel.meta;
	if (ms_store_cache_dir(cache_opt, cache, sizeof(cache), &err) ||
	    ms_store_open(&store, cache, rel.repo, &err)) {
		cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}

	/* every torrent file onto its blob, if the blob is there */
	n = rel.info.num_files;
	paths = calloc((size_t)n, sizeof(*paths));
	pathbuf = calloc((size_t)n, sizeof(*pathbuf));
	prio = calloc((size_t)n, sizeof(*prio));
	if (!paths || !pathbuf || !prio) {
		cmd_error(EXIT_ERROR, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const struct ms_manifest_file *mf = ms_release_file(&rel, i);

		if (mf && ms_store_blob_present(&store, mf->etag, mf->size)) {
			ms_store_blob_path(&store, mf->etag, 0, 1, pathbuf[i], PATH_MAX);
			prio[i] = 4;
			present++;
			want_bytes += mf->size;
		} else {
			snprintf(pathbuf[i], PATH_MAX, "blobs/.skip/%d", i);
		}
		wanted += mf != NULL;
		paths[i] = pathbuf[i];
	}
	if (!present) {
		r = cmd_error(EXIT_VERIFY, "none of the files of %s@%s are in '%s'", rel.repo,
			      rel.rev, store.repo_dir);
		goto out;
	}
	/* the fast path: resume data from the last time, unless --recheck */
	if (ms_resume_path(rel.rev, store.repo_dir, "seed", rpath, sizeof(rpath), NULL))
		rpath[0] = '\0';
	else if (!recheck && access(rpath, F_OK) == 0)
		ms_read_file(rpath, 256u << 20, &resume, &resume_len, NULL);
	snprintf(label, sizeof(label), "%s@%s from '%s' (%d of %d files)", rel.repo, rel.rev,
		 store.repo_dir, present, wanted);
	memset(&ss, 0, sizeof(ss));
	ss.label = label;
	ss.file_paths = paths;
	ss.n_file_paths = (size_t)n;
	ss.priorities = prio;
	ss.partial = 1;
	ss.want_bytes = want_bytes;
	ss.resume = resume;
	ss.resume_len = resume_len;
	ss.resume_path = rpath[0] ? rpath : NULL;
	ss.origin_why = why[0] ? why : NULL;
	/* trackers and web seeds of the manifest come with the torrent; the
	 * command line can add more */
	r = seed_finish(sg, meta, store.repo_dir, trackers, &ss);
	sg = NULL;
out:
	if (sg)
		seed_finish(sg, NULL, NULL, NULL, NULL);
	free(resume);
	free(paths);
	free(pathbuf);
	free(prio);
	ms_store_release(&store);
	ms_release_release(&rel);
	return r;
}

int cmd_seed(int argc, char **argv, struct ms_ctx *ctx)
{
	struct ms_strlist trackers = { 0 }, indexes = { 0 };
	struct net_opts net = { 0 };
	struct rate_opts rate = { 0 };
	struct opt_groups og = { .net = &net, .rate = &rate, .trackers = &trackers,
				 .origin = &ctx->config };
	lts_torrent *meta = NULL;
	const char *dir, *cache = NULL;
	struct stat sb;
	int c, r = EXIT_OK, recheck = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", seed_opts, NULL)) != -1) {
		switch (c) {
		case OPT_S_INDEX:
			ms_strlist_push(&indexes, optarg);
			break;
		case OPT_S_CACHE:
			cache = optarg;
			break;
		case OPT_S_RECHECK:
			recheck = 1;
			break;
		case 'h':
			fputs(seed_usage, stdout);
			goto out;
		default:
			if ((r = groups_opt("seed", &og, c, argv)))
				goto out;
			break;
		}
	}
	if (argc - optind == 1 && strchr(argv[optind], '/') && stat(argv[optind], &sb) < 0) {
		r = seed_from_cache(argv[optind], ctx, &net, &trackers, rate.upload,
			       indexes.n ? indexes.v[0] : NULL, cache, recheck);
		goto out;
	}
	if (indexes.n || cache || recheck) {
		r = cmd_usage_error("seed", "--index, --cache-dir and --recheck are for "
					    "seeding ORG/NAME@REV from the cache");
		goto out;
	}
	if (argc - optind != 2) {
		r = cmd_usage_error("seed", argc - optind < 2
					    ? "need a torrent file and a directory"
					    : "too many arguments");
		goto out;
	}
	dir = argv[optind + 1];
	if ((r = load_torrent_file(argv[optind], &meta)))
		goto out;
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		r = cmd_error(EXIT_ERROR, "'%s' is not a directory", dir);
		goto out;
	}
	r = seed_run(ctx, &net, meta, dir, &trackers, rate.upload);
out:
	ms_torrent_free(meta);
	ms_strlist_release(&trackers);
	ms_strlist_release(&indexes);
	return r;
}
