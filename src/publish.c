/* publish.c: a hashed tree into an index as a signed release */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ms_hash.h"
#include "ms_index.h"
#include "ms_manifest.h"
#include "ms_publish.h"
#include "ms_util.h"

/* refs.json already in the index, which must verify with this very key */
static int load_refs(struct ms_publish *p, const struct ms_pubkey *pk, struct ms_refs *refs,
		     struct ms_error *err)
{
	char path[PATH_MAX + 32], sigp[PATH_MAX + 64];
	unsigned char *rb, *sb;
	size_t rbl, sbl;
	struct ms_error e2;
	int r;

	snprintf(path, sizeof(path), "%s/refs.json", p->repodir);
	if (access(path, F_OK)) {
		refs->repo = strdup(p->repo);
		return refs->repo ? 0 : ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	snprintf(sigp, sizeof(sigp), "%s.minisig", path);
	if ((r = ms_read_file(path, MS_REFS_MAX, &rb, &rbl, err)))
		return r;
	if ((r = ms_read_file(sigp, MS_SIGFILE_MAX, &sb, &sbl, err))) {
		free(rb);
		return r;
	}
	r = ms_verify(pk, rb, rbl, (char *)sb, sbl, NULL, 0, &e2);
	if (!r)
		r = ms_refs_parse(rb, rbl, refs, &e2);
	free(rb);
	free(sb);
	if (r)
		return ms_error_set(err, r, "existing '%s' does not verify with this key: %s",
				    path, e2.msg);
	if (strcmp(refs->repo, p->repo))
		return ms_error_set(err, MS_EINVAL, "existing '%s' is for '%s'", path, refs->repo);
	return 0;
}

static int make_manifest(struct ms_publish *p, const struct ms_torrent_meta *tm,
			 int64_t version, char **text, size_t *len, struct ms_manifest *m,
			 struct ms_error *err)
{
	int r;

	memset(m, 0, sizeof(*m));
	m->spec_version = MS_SPEC_VERSION;
	m->repo = (char *)p->repo;
	m->repo_type = (char *)"model";
	memcpy(m->revision, p->rev, 41);
	m->version = version;
	m->issued = p->now;
	m->expires = p->now + (time_t)p->days * 86400;
	snprintf(m->infohash_v1, sizeof(m->infohash_v1), "%s", tm->hash_v1);
	snprintf(m->infohash_v2, sizeof(m->infohash_v2), "%s", tm->hash_v2);
	m->piece_length = tm->piece_length;
	m->webseeds = (char **)p->webseeds;
	m->n_webseeds = p->n_webseeds;
	m->trackers = (char **)p->trackers;
	m->n_trackers = p->n_trackers;
	m->source_upstream = (char *)p->upstream;
	memcpy(m->source_commit, p->rev, 41);
	if (!(m->files = calloc(p->n_files + 1, sizeof(*m->files))))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n_files; i++) {
		const struct ms_build_file *b = &p->files[i];
		struct ms_manifest_file *f = &m->files[i];
		f->path = (char *)b->path;
		f->size = b->size;
		ms_hex(b->sha256, 32, f->sha256);
		if (b->want_git)
			ms_hex(b->git_sha1, 20, f->etag);
		else
			memcpy(f->etag, f->sha256, 65);
		if (b->has_root)
			ms_hex(b->root, 32, f->pieces_root);
	}
	m->n_files = p->n_files;
	/* the limits a reader holds a manifest to: every field is already
	 * checked (paths by the caller, hashes made here), and parsing the
	 * manifest back cost a tenth of a publish of 10,000 small files */
	if (p->n_files > MS_MANIFEST_MAX_FILES)
		return ms_error_set(err, MS_ETOOBIG,
				    "%zu files: a manifest may list at most %d", p->n_files,
				    MS_MANIFEST_MAX_FILES);
	if ((r = ms_manifest_emit(m, text, len, err)))
		return r;
	if (*len > MS_MANIFEST_MAX)
		return ms_error_set(err, MS_ETOOBIG,
				    "the manifest would be %zu bytes: a reader takes at most %u",
				    *len, MS_MANIFEST_MAX);
	return 0;
}

int ms_publish_write(struct ms_publish *p, struct ms_error *err)
{
	struct ms_index_dir idx = { .fd = -1 };
	struct ms_torrent_meta tm = { 0 };
	const struct ms_torrent_meta *tp = &tm;
	struct ms_manifest m;
	struct ms_refs refs;
	struct ms_pubkey pk;
	lts_torrent *meta = NULL;
	char *mtext = NULL, *rtext = NULL, name[200], comment[512];
	size_t mlen = 0, rlen = 0;
	int r;

	memset(&m, 0, sizeof(m));
	memset(&refs, 0, sizeof(refs));
	ms_seckey_public(p->sk, &pk);
	if (!p->n_refs)
		return ms_error_set(err, MS_EINVAL, "no ref to point at %s", p->rev);
	if ((size_t)snprintf(p->repodir, sizeof(p->repodir), "%s/%s", p->index, p->repo) >=
	    sizeof(p->repodir))
		return ms_error_set(err, MS_EINVAL, "index path too long");
	if (!p->tm && (!(meta = ms_torrent_load(p->torrent, p->torrent_len, err)) ||
		       (r = ms_torrent_meta(meta, &tm, err)))) {
		r = err->code ? err->code : MS_EINVAL;
		goto out;
	}
	if (p->tm)
		tp = p->tm;
	snprintf(p->infohash_v1, sizeof(p->infohash_v1), "%s", tp->hash_v1);
	snprintf(p->infohash_v2, sizeof(p->infohash_v2), "%s", tp->hash_v2);
	/* locked from here on; what an interrupted publish left is repaired
	 * or removed first */
	if ((r = ms_mkdir_p(p->index, err)) ||
	    (r = ms_index_open(&idx, p->repodir, &pk, p->note, p->ud, err)) ||
	    (r = load_refs(p, &pk, &refs, err)))
		goto out;
	/* the next version: above anything in the index's refs.json */
	p->version = refs.version + 1;
	if ((r = make_manifest(p, tp, p->version, &mtext, &mlen, &m, err)))
		goto out;
	refs.spec_version = MS_SPEC_VERSION;
	refs.version = p->version;
	refs.issued = p->now;
	refs.expires = p->now + (time_t)(p->days < 7 ? p->days : 7) * 86400;
	for (size_t i = 0; i < p->n_refs; i++)
		if ((r = ms_refs_set(&refs, p->refs[i], p->rev, p->version, err)))
			goto out;
	if ((r = ms_refs_emit(&refs, &rtext, &rlen, err)))
		goto out;
	/* write: torrent, manifest, then refs.json, the commit point (each
	 * durable before the next; see ms_index.h) */
	snprintf(name, sizeof(name), "%s.torrent", p->rev);
	if ((r = ms_index_write(&idx, name, p->torrent, p->torrent_len, err)))
		goto out;
	snprintf(name, sizeof(name), "%s.manifest.json", p->rev);
	ms_manifest_comment(&m, comment, sizeof(comment));
	if ((r = ms_index_write_signed(&idx, name, mtext, mlen, p->sk, comment, err)))
		goto out;
	ms_refs_comment(&refs, comment, sizeof(comment));
	r = ms_index_write_signed(&idx, "refs.json", rtext, rlen, p->sk, comment, err);
out:
	ms_index_close(&idx);
	/* borrowed pointers in m */
	if (m.files)
		for (size_t i = 0; i < m.n_files; i++)
			m.files[i].path = NULL;
	m.repo = m.repo_type = NULL;
	m.webseeds = m.trackers = NULL;
	m.n_webseeds = m.n_trackers = 0;
	m.source_upstream = NULL;
	ms_manifest_release(&m);
	ms_refs_release(&refs);
	ms_torrent_meta_release(&tm);
	ms_torrent_free(meta);
	free(mtext);
	free(rtext);
	return r;
}
