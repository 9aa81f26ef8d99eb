/* seed-store.c: modelswarm seed ORG/NAME@REV -- seed a verified release
 * straight from the Hugging Face cache, blobs in place */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "ms_hash.h"
#include "ms_http.h"
#include "ms_manifest.h"
#include "ms_store.h"
#include "ms_trust.h"

static int cmp_mf(const void *a, const void *b)
{
	return strcmp(a, ((const struct ms_manifest_file *)b)->path);
}

/* the index to use: --index, else MODELSWARM_INDEX's first, else config */
static const char *pick_index(const char *given, struct ms_ctx *ctx, char *buf,
			      size_t len)
{
	const char *v = getenv("MODELSWARM_INDEX");

	if (given)
		return given;
	if (!(v && *v))
		v = ctx->config.index;
	if (!v)
		return NULL;
	while (*v == ' ' || *v == '\t')
		v++;
	snprintf(buf, len, "%.*s", (int)strcspn(v, " \t"), v);
	return *buf ? buf : NULL;
}

int cmd_seed_store(int argc, char **argv, struct ms_ctx *ctx, struct net_opts *net,
		   const struct strlist *trackers, const struct strlist *webseeds,
		   int upload, const char *index_opt, const char *cache_opt, int recheck)
{
	char repo[256], want[128], rev[41], rel[600], cache[PATH_MAX], ibuf[4096];
	char rpath[PATH_MAX + 64], label[PATH_MAX + 600];
	const char *spec = argv[0], *at = strchr(spec, '@'), *index;
	unsigned char *mb = NULL, *sb = NULL, *tb = NULL, *resume = NULL;
	size_t ml, sl, tl, resume_len = 0;
	struct ms_verified v;
	struct ms_store store;
	struct seed_store ss;
	struct ms_error err;
	lts_torrent *meta = NULL;
	const char **paths = NULL;
	char (*pathbuf)[PATH_MAX] = NULL;
	int *prio = NULL, n, r = EXIT_ERROR, have_v = 0, present = 0, wanted = 0;
	int64_t want_bytes = 0;

	(void)argc;
	memset(&store, 0, sizeof(store));
	store.lock_fd = -1;
	if (!at || (size_t)(at - spec) >= sizeof(repo) || strlen(at + 1) >= sizeof(want) ||
	    !at[1])
		return cmd_usage_error("seed", "need ORG/NAME@REV, not '%s'", spec);
	snprintf(repo, sizeof(repo), "%.*s", (int)(at - spec), spec);
	snprintf(want, sizeof(want), "%s", at + 1);
	if (ms_repo_check(repo, NULL, 0, &err))
		return cmd_usage_error("seed", "%s", err.msg);
	index = pick_index(index_opt, ctx, ibuf, sizeof(ibuf));
	if (!index)
		return cmd_usage_error("seed", "no index: give --index URL or set MODELSWARM_INDEX");

	/* the revision: a commit, or a ref from the signed refs.json */
	if (ms_revision_check(want)) {
		struct ms_refs refs;
		const struct ms_ref *ref;
		if (ms_ref_check(want, &err))
			return cmd_usage_error("seed", "%s", err.msg);
		snprintf(rel, sizeof(rel), "%s/refs.json", repo);
		if (ms_url_get(index, rel, MS_REFS_MAX, &mb, &ml, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		snprintf(rel, sizeof(rel), "%s/refs.json.minisig", repo);
		if (ms_url_get(index, rel, MS_SIGFILE_MAX, &sb, &sl, &err)) {
			free(mb);
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		}
		r = ms_refs_verify(repo, mb, ml, (char *)sb, sl, time(NULL), 0, &refs, &err);
		free(mb);
		free(sb);
		mb = sb = NULL;
		if (r)
			return cmd_error(EXIT_VERIFY, "%s", err.msg);
		ref = ms_refs_find(&refs, want);
		if (!ref) {
			ms_refs_release(&refs);
			return cmd_error(EXIT_VERIFY, "%s has no ref '%s'", repo, want);
		}
		memcpy(rev, ref->revision, 41);
		ms_refs_release(&refs);
	} else {
		memcpy(rev, want, 41);
	}
	r = EXIT_ERROR;
	snprintf(rel, sizeof(rel), "%s/%s.manifest.json", repo, rev);
	if (ms_url_get(index, rel, MS_MANIFEST_MAX, &mb, &ml, &err)) {
		cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	snprintf(rel, sizeof(rel), "%s/%s.manifest.json.minisig", repo, rev);
	if (ms_url_get(index, rel, MS_SIGFILE_MAX, &sb, &sl, &err)) {
		cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	if (ms_release_verify(repo, rev, mb, ml, (char *)sb, sl, time(NULL), 0, &v, &err)) {
		r = cmd_error(EXIT_VERIFY, "%s", err.msg);
		goto out;
	}
	have_v = 1;
	snprintf(rel, sizeof(rel), "%s/%s.torrent", repo, rev);
	if (ms_url_get(index, rel, 64u << 20, &tb, &tl, &err)) {
		cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	meta = ms_torrent_load(tb, tl, &err);
	if (!meta) {
		r = cmd_error(EXIT_VERIFY, "the index's torrent is not valid: %s", err.msg);
		goto out;
	}
	if ((*v.m.infohash_v1 && strcmp(v.m.infohash_v1, ms_torrent_hash_v1(meta))) ||
	    (*v.m.infohash_v2 && strcmp(v.m.infohash_v2, ms_torrent_hash_v2(meta)))) {
		r = cmd_error(EXIT_VERIFY, "the index's torrent is not the one the manifest names");
		goto out;
	}
	if (ms_store_cache_dir(cache_opt, cache, sizeof(cache), &err) ||
	    ms_store_open(&store, cache, repo, &err)) {
		cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}

	/* every torrent file onto its blob, if the blob is there */
	n = ms_torrent_num_files(meta);
	paths = calloc((size_t)n, sizeof(*paths));
	pathbuf = calloc((size_t)n, sizeof(*pathbuf));
	prio = calloc((size_t)n, sizeof(*prio));
	if (!paths || !pathbuf || !prio) {
		cmd_error(EXIT_ERROR, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct lts_file_info fi;
		const struct ms_manifest_file *mf;
		const char *p;
		size_t nl = strlen(ms_torrent_name(meta));

		ms_torrent_file(meta, i, &fi);
		p = fi.path;
		if (!strncmp(p, ms_torrent_name(meta), nl) && p[nl] == '/')
			p += nl + 1;
		mf = fi.pad ? NULL : bsearch(p, v.m.files, v.m.n_files, sizeof(*v.m.files), cmp_mf);
		if (!fi.pad && (!mf || mf->size != fi.size)) {
			r = cmd_error(EXIT_VERIFY, "the torrent's '%s' is not in the manifest", p);
			goto out;
		}
		if (mf && ms_store_blob_present(&store, mf->etag, mf->size)) {
			ms_store_blob_path(&store, mf->etag, 0, 1, pathbuf[i], PATH_MAX);
			prio[i] = 4;
			present++;
			want_bytes += mf->size;
		} else {
			snprintf(pathbuf[i], PATH_MAX, "blobs/.skip/%d", i);
		}
		wanted += !fi.pad;
		paths[i] = pathbuf[i];
	}
	if (!present) {
		r = cmd_error(EXIT_VERIFY, "none of the files of %s@%s are in '%s'", repo, rev,
			      store.repo_dir);
		goto out;
	}
	/* the fast path: resume data from the last time, unless --recheck */
	if (resume_path(rev, store.repo_dir, "seed", rpath, sizeof(rpath), NULL))
		rpath[0] = '\0';
	else if (!recheck && access(rpath, F_OK) == 0)
		ms_read_file(rpath, 256u << 20, &resume, &resume_len, NULL);
	snprintf(label, sizeof(label), "%s@%s from '%s' (%d of %d files)", repo, rev,
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
		r = seed_run_ex(ctx, net, meta, store.repo_dir, trackers, webseeds, upload, &ss);
	}
out:
	free(mb);
	free(sb);
	free(tb);
	free(resume);
	free(paths);
	free(pathbuf);
	free(prio);
	ms_torrent_free(meta);
	ms_store_release(&store);
	if (have_v)
		ms_manifest_release(&v.m);
	return r;
}
