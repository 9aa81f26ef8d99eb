/*
 * torrent.c: reading, inspecting and building .torrent files, with no
 * session (the shim's metadata and creator calls).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_shim.h"
#include "ms_hash.h"
#include "ms_torrent.h"

int ms__lts_code(int code)
{
	switch (code) {
	case LTS_OK: return 0;
	case LTS_EINVAL: return MS_EINVAL;
	case LTS_ENOENT: return MS_ENOENT;
	case LTS_ENOMEM: return MS_ENOMEM;
	case LTS_EEXIST: return MS_EEXIST;
	case LTS_EIO: return MS_EIO;
	default: return MS_EENGINE;
	}
}

int ms__lts_fail(struct ms_error *err, const struct lts_error *le)
{
	return ms_error_set(err, ms__lts_code(le->code), "%s", le->msg);
}

lts_torrent *ms_torrent_load(const void *buf, size_t len, struct ms_error *err)
{
	struct lts_error le;
	lts_torrent *t = lts_torrent_info_load(buf, len, &le);

	if (!t)
		ms_error_set(err, MS_ETORRENT, "%s", le.msg);
	return t;
}

void ms_torrent_free(lts_torrent *t)
{
	lts_torrent_info_free(t);
}

int ms_torrent_meta(const lts_torrent *t, struct ms_torrent_meta *out,
		    struct ms_error *err)
{
	int n = lts_torrent_info_num_webseeds(t);

	memset(out, 0, sizeof(*out));
	snprintf(out->hash_v1, sizeof(out->hash_v1), "%s", lts_torrent_info_hash_v1(t));
	snprintf(out->hash_v2, sizeof(out->hash_v2), "%s", lts_torrent_info_hash_v2(t));
	out->piece_length = lts_torrent_info_piece_length(t);
	out->num_pieces = lts_torrent_info_num_pieces(t);
	out->num_files = lts_torrent_info_num_files(t);
	out->total_size = lts_torrent_info_total_size(t);
	out->n_trackers = lts_torrent_info_num_trackers(t);
	if (!(out->name = strdup(lts_torrent_info_name(t))) ||
	    (n > 0 && !(out->webseeds = calloc((size_t)n, sizeof(*out->webseeds)))))
		goto oom;
	for (; out->n_webseeds < n; out->n_webseeds++)
		if (!(out->webseeds[out->n_webseeds] =
			      strdup(lts_torrent_info_webseed(t, out->n_webseeds))))
			goto oom;
	return 0;
oom:
	ms_torrent_meta_release(out);
	return ms_error_set(err, MS_ENOMEM, "out of memory");
}

void ms_torrent_meta_release(struct ms_torrent_meta *m)
{
	for (int i = 0; i < m->n_webseeds; i++)
		free(m->webseeds[i]);
	free(m->webseeds);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

int ms_torrent_file(const lts_torrent *t, int i, struct lts_file_info *fi)
{
	return lts_torrent_info_file(t, i, fi) ? MS_ENOENT : 0;
}

const unsigned char *ms_torrent_bytes(const lts_torrent *t, size_t *len)
{
	return lts_torrent_info_bytes(t, len);
}

int ms_torrent_create(const char *dir, const struct lts_create_file *files,
		      size_t n, const struct lts_create_opts *opts,
		      unsigned char **out, size_t *len, struct ms_error *err)
{
	struct lts_error le;

	if (lts_create(dir, files, n, opts, out, len, &le))
		return ms__lts_fail(err, &le);
	return 0;
}

const char *ms_libtorrent_version(void)
{
	return lts_version();
}

static int cmp_build_path(const void *key, const void *elem)
{
	const struct ms_build_file *f = elem;

	return strcmp(key, f->path);
}

/* bytes of the files, each rounded up to a whole piece of ps (the pads
 * of a hybrid torrent) */
static int64_t padded_size(const struct ms_build_file *files, size_t n, int64_t ps)
{
	int64_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += (files[i].size + ps - 1) / ps * ps;
	return t;
}

/* what padding may add: a quarter of the payload */
static int64_t pad_budget(const struct ms_build_file *files, size_t n)
{
	int64_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += files[i].size;
	return t + t / 4;
}

/* what ms_torrent_meta() says of the torrent the shim just wrote, from
 * the writer and the options (the torrent is not loaded) */
static int written_meta(const lts_creator *c, const struct ms_build_opts *o, const char *h1,
			const char *h2, const struct ms_hash_file *hf, int nf,
			struct ms_torrent_meta *m, struct ms_error *err)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->hash_v1, sizeof(m->hash_v1), "%s", h1);
	snprintf(m->hash_v2, sizeof(m->hash_v2), "%s", h2);
	m->piece_length = lts_creator_piece_length(c);
	m->num_pieces = lts_creator_num_pieces(c);
	m->num_files = nf;
	for (int i = 0; i < nf; i++)
		if (!hf[i].pad)
			m->total_size += hf[i].size;
	m->n_trackers = lts_creator_num_trackers(c);
	if (!(m->name = strdup(o->name)) ||
	    (o->n_webseeds && !(m->webseeds = calloc(o->n_webseeds, sizeof(*m->webseeds)))))
		goto oom;
	for (; (size_t)m->n_webseeds < o->n_webseeds; m->n_webseeds++)
		if (!(m->webseeds[m->n_webseeds] = strdup(o->webseeds[m->n_webseeds])))
			goto oom;
	return 0;
oom:
	ms_torrent_meta_release(m);
	return ms_error_set(err, MS_ENOMEM, "out of memory");
}

int ms_torrent_build(const char *dir, struct ms_build_file *files, size_t n,
		     const struct ms_build_opts *opts, unsigned char **out,
		     size_t *len, struct ms_error *err)
{
	struct lts_create_file *cf = NULL;
	struct lts_create_opts co;
	struct ms_hash_file *hf = NULL;
	struct ms_hash_job job;
	struct lts_error le;
	lts_creator *c = NULL;
	lts_torrent *t = NULL;
	char h1[41], h2[65];
	int nf, r = 0, written;

	*out = NULL;
	*len = 0;
	memset(&job, 0, sizeof(job));
	cf = calloc(n ? n : 1, sizeof(*cf));
	if (!cf)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		cf[i].path = files[i].path;
		cf[i].size = files[i].size;
		if (i && strcmp(files[i - 1].path, files[i].path) >= 0) {
			free(cf);
			return ms_error_set(err, MS_EINVAL,
					    "files are not sorted: '%s' after '%s'",
					    files[i].path, files[i - 1].path);
		}
	}
	memset(&co, 0, sizeof(co));
	co.flags = opts->flags;
	co.piece_size = opts->piece_size;
	co.name = opts->name;
	co.webseeds = opts->webseeds;
	co.n_webseeds = opts->n_webseeds;
	co.trackers = opts->trackers;
	co.n_trackers = opts->n_trackers;
	/* a hybrid torrent pads every file to a piece boundary, and the pads
	 * are hashed (and, by libtorrent 2.0, sent a block at a time): with
	 * many small files, smaller pieces (the same rule everywhere, so the
	 * torrent stays the same for the same tree); settled before the
	 * layout, which costs as much as a pass over every file */
	if (!co.piece_size && !(co.flags & (LTS_CREATE_V1_ONLY | LTS_CREATE_V2_ONLY))) {
		int64_t total = 0;
		for (size_t i = 0; i < n; i++)
			total += files[i].size;
		int ps = lts_creator_auto_piece_size(total, co.flags), best = ps;
		if (total > 0 && ps <= 0) {
			r = ms_error_set(err, MS_EENGINE, "cannot settle a piece size for %lld bytes",
					 (long long)total);
			goto out;
		}
		while (ps > 16 * 1024 && padded_size(files, n, ps) > pad_budget(files, n))
			best = ps /= 2;
		co.piece_size = best;
	}
	c = lts_creator_new(cf, n, &co, &le);
	if (!c) {
		r = ms__lts_fail(err, &le);
		goto out;
	}
	nf = lts_creator_num_files(c);
	hf = calloc((size_t)nf, sizeof(*hf));
	if (!hf) {
		r = ms_error_set(err, MS_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < nf; i++) {
		struct lts_file_info fi;
		lts_creator_file(c, i, &fi);
		hf[i].path = fi.path;
		hf[i].size = fi.size;
		hf[i].offset = fi.offset;
		hf[i].pad = fi.pad;
		if (!fi.pad) {
			struct ms_build_file *b = bsearch(fi.path, files, n, sizeof(*files),
							  cmp_build_path);
			if (!b) {
				r = ms_error_set(err, MS_EINVAL,
						 "torrent file '%s' is not in the input", fi.path);
				goto out;
			}
			hf[i].want_git = b->want_git;
		}
	}
	job.dir = dir;
	job.files = hf;
	job.n_files = (size_t)nf;
	job.piece_length = lts_creator_piece_length(c);
	job.num_pieces = lts_creator_num_pieces(c);
	job.v1 = lts_creator_is_v1(c);
	job.v2 = lts_creator_is_v2(c);
	job.threads = opts->threads;
	job.progress = opts->progress;
	job.ud = opts->ud;
	if ((r = ms_hash_run(&job, err)))
		goto out;
	for (int p = 0; job.v1 && p < job.num_pieces; p++)
		if (lts_creator_set_v1(c, p, job.v1_hashes + 20 * p, &le)) {
			r = ms__lts_fail(err, &le);
			goto out;
		}
	for (int i = 0; job.v2 && i < nf; i++)
		for (int k = 0; k < hf[i].n_piece_layer; k++)
			if (lts_creator_set_v2(c, i, k, hf[i].piece_layer + 32 * k, &le)) {
				r = ms__lts_fail(err, &le);
				goto out;
			}
	if (lts_creator_generate(c, out, len, &le)) {
		r = ms__lts_fail(err, &le);
		goto out;
	}
	/* the results, by path; v2 roots and info-hashes from the writer, or
	 * from the torrent loaded when the caller wants it loaded (or the
	 * shim had libtorrent write it) */
	written = !lts_creator_written(c, h1, h2);
	if (opts->loaded || !written) {
		t = lts_torrent_info_load(*out, *len, &le);
		if (!t) {
			r = ms_error_set(err, MS_EENGINE, "generated torrent does not load: %s",
					 le.msg);
			goto out;
		}
	}
	for (int i = 0; i < nf; i++) {
		struct ms_build_file *b;
		struct lts_file_info fi;
		if (hf[i].pad)
			continue;
		b = bsearch(hf[i].path, files, n, sizeof(*files), cmp_build_path);
		if (!b)
			continue;
		memcpy(b->sha256, hf[i].sha256, 32);
		memcpy(b->git_sha1, hf[i].git_sha1, 20);
		if (t) {
			lts_torrent_info_file(t, i, &fi);
			b->has_root = fi.has_root;
			if (fi.has_root)
				memcpy(b->root, fi.root, 32);
		} else {
			b->has_root = !lts_creator_file_root(c, i, b->root);
		}
	}
	if (opts->meta) {
		if (t)
			r = ms_torrent_meta(t, opts->meta, err);
		else
			r = written_meta(c, opts, h1, h2, hf, nf, opts->meta, err);
		if (r)
			goto out;
	}
	if (opts->loaded) {
		*opts->loaded = t;
		t = NULL;
	}
out:
	if (r) {
		free(*out);
		*out = NULL;
		*len = 0;
	}
	lts_torrent_info_free(t);
	ms_hash_job_release(&job);
	free(hf);
	free(cf);
	lts_creator_free(c);
	return r;
}

