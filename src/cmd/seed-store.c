/* seed-store.c: modelswarm seed ORG/NAME@REV -- seed a verified release
 * straight from the Hugging Face cache, blobs in place */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "ms_hash.h"
#include "ms_manifest.h"
#include "ms_release.h"
#include "ms_store.h"

int cmd_seed_store(int argc, char **argv, struct ms_ctx *ctx, struct net_opts *net,
		   const struct ms_strlist *trackers,
		   int upload, const char *index_opt, const char *cache_opt, int recheck)
{
	char cache[PATH_MAX], rpath[PATH_MAX + 64], label[PATH_MAX + 600];
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

	(void)argc;
	memset(&store, 0, sizeof(store));
	store.lock_fd = -1;
	if (index_opt && ms_strlist_push(&given, index_opt))
		return cmd_error(EXIT_ERROR, "out of memory");
	r = cmd_release_fetch(&rel, "seed", argv[0], NULL, &given, ctx, 0);
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
	{
		/* trackers and web seeds of the manifest come with the torrent;
		 * the command line can add more */
		r = seed_run_ex(ctx, net, meta, store.repo_dir, trackers, upload, &ss);
	}
out:
	free(resume);
	free(paths);
	free(pathbuf);
	free(prio);
	ms_store_release(&store);
	ms_release_release(&rel);
	return r;
}
