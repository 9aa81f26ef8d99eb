/* release.c: resolve ORG/NAME@REV through an index and verify what the
 * index serves for it -- refs.json, the manifest against the pinned key,
 * the torrent against the manifest (for seed ORG/NAME@REV and mirror) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "ms_http.h"
#include "ms_manifest.h"
#include "ms_trust.h"

#define TORRENT_MAX (64u << 20)

enum { TRY_OK, TRY_NEXT, TRY_FINAL };

static void index_bytes_free(struct index_bytes *f)
{
	free(f->buf);
	f->buf = NULL;
	f->len = 0;
}

/* --index, else every index of MODELSWARM_INDEX, else of the config */
static int index_list(struct signed_release *r, const struct ms_strlist *given,
		      const struct ms_ctx *ctx)
{
	const char *v = getenv("MODELSWARM_INDEX");
	char *tok, *save;

	for (size_t i = 0; i < given->n; i++)
		if (ms_strlist_push(&r->indexes, given->v[i]))
			return MS_ENOMEM;
	if (r->indexes.n)
		return 0;
	if (!(v && *v))
		v = ctx->config.index;
	if (!v)
		return 0;
	if (!(r->index_buf = strdup(v)))
		return MS_ENOMEM;
	for (tok = strtok_r(r->index_buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		if (ms_strlist_push(&r->indexes, tok))
			return MS_ENOMEM;
	return 0;
}

static int cmp_mf(const void *a, const void *b)
{
	return strcmp(a, ((const struct ms_manifest_file *)b)->path);
}

/* refs.json: to resolve a ref (it must verify), or with want_refs to keep
 * it next to a commit's release (left out if the index has none, or with
 * a warning if it does not verify) */
static int try_refs(struct signed_release *r, const char *index, int want_refs,
		    int *code, struct ms_error *err)
{
	int is_ref = ms_revision_check(r->want) != 0, e;
	char rel[600];
	struct ms_refs refs;
	const struct ms_ref *ref = NULL;

	if (!is_ref)
		memcpy(r->rev, r->want, 41);
	if (!is_ref && !want_refs)
		return TRY_OK;
	snprintf(rel, sizeof(rel), "%s/refs.json", r->repo);
	e = ms_url_get(index, rel, MS_REFS_MAX, &r->refs.buf, &r->refs.len, err);
	if (e == MS_ENOENT && !is_ref)
		return TRY_OK;
	strcat(rel, ".minisig");
	if (e || ms_url_get(index, rel, MS_SIGFILE_MAX, &r->refs_sig.buf, &r->refs_sig.len, err))
		return TRY_NEXT;
	if (ms_refs_verify(r->repo, r->refs.buf, r->refs.len, (char *)r->refs_sig.buf,
			   r->refs_sig.len, time(NULL), 0, &refs, err)) {
		if (is_ref) {
			*code = cmd_error(EXIT_VERIFY, "%s", err->msg);
			return TRY_FINAL;
		}
		cmd_warning("leaving out the refs.json of %s: %s", r->repo, err->msg);
		index_bytes_free(&r->refs);
		index_bytes_free(&r->refs_sig);
		return TRY_OK;
	}
	if (is_ref && !(ref = ms_refs_find(&refs, r->want))) {
		*code = cmd_error(EXIT_VERIFY, "%s has no ref '%s'", r->repo, r->want);
		ms_refs_release(&refs);
		return TRY_FINAL;
	}
	if (ref)
		memcpy(r->rev, ref->revision, 41);
	ms_refs_release(&refs);
	return TRY_OK;
}

/* everything from one index: TRY_NEXT when something could not be
 * fetched (err says what), TRY_FINAL when it did not verify */
static int try_index(struct signed_release *r, const char *index, int want_refs,
		     int *code, struct ms_error *err)
{
	char rel[600];
	int t;

	if ((t = try_refs(r, index, want_refs, code, err)) != TRY_OK)
		return t;
	snprintf(rel, sizeof(rel), "%s/%s.manifest.json", r->repo, r->rev);
	if (ms_url_get(index, rel, MS_MANIFEST_MAX, &r->manifest.buf, &r->manifest.len, err))
		return TRY_NEXT;
	strcat(rel, ".minisig");
	if (ms_url_get(index, rel, MS_SIGFILE_MAX, &r->manifest_sig.buf, &r->manifest_sig.len,
		       err))
		return TRY_NEXT;
	if (ms_release_verify(r->repo, r->rev, r->manifest.buf, r->manifest.len,
			      (char *)r->manifest_sig.buf, r->manifest_sig.len, time(NULL), 0,
			      &r->v, err)) {
		*code = cmd_error(EXIT_VERIFY, "%s", err->msg);
		return TRY_FINAL;
	}
	r->verified = 1;
	snprintf(rel, sizeof(rel), "%s/%s.torrent", r->repo, r->rev);
	if (ms_url_get(index, rel, TORRENT_MAX, &r->torrent.buf, &r->torrent.len, err))
		return TRY_NEXT;
	r->meta = ms_torrent_load(r->torrent.buf, r->torrent.len, err);
	if (!r->meta) {
		*code = cmd_error(EXIT_VERIFY, "the index's torrent is not valid: %s", err->msg);
		return TRY_FINAL;
	}
	if ((*r->v.m.infohash_v1 && strcmp(r->v.m.infohash_v1, ms_torrent_hash_v1(r->meta))) ||
	    (*r->v.m.infohash_v2 && strcmp(r->v.m.infohash_v2, ms_torrent_hash_v2(r->meta)))) {
		*code = cmd_error(EXIT_VERIFY, "the index's torrent is not the one the manifest names");
		return TRY_FINAL;
	}
	r->index = index;
	return TRY_OK;
}

/* what one index left behind, before the next is tried */
static void forget(struct signed_release *r)
{
	index_bytes_free(&r->refs);
	index_bytes_free(&r->refs_sig);
	index_bytes_free(&r->manifest);
	index_bytes_free(&r->manifest_sig);
	index_bytes_free(&r->torrent);
	ms_torrent_free(r->meta);
	r->meta = NULL;
	if (r->verified)
		ms_manifest_release(&r->v.m);
	r->verified = 0;
}

int signed_release_fetch(struct signed_release *r, const char *cmd, const char *spec,
			 const char *default_ref, const struct ms_strlist *indexes,
			 const struct ms_ctx *ctx, int want_refs)
{
	const char *at = strchr(spec, '@');
	size_t rl = at ? (size_t)(at - spec) : strlen(spec);
	struct ms_error err;
	int code = EXIT_ERROR, t = TRY_NEXT;

	memset(r, 0, sizeof(*r));
	if ((!at && !default_ref) || (at && !at[1]))
		return cmd_usage_error(cmd, "need ORG/NAME%s, not '%s'",
				       default_ref ? "[@REV]" : "@REV", spec);
	if (rl >= sizeof(r->repo) || strlen(at ? at + 1 : default_ref) >= sizeof(r->want))
		return cmd_usage_error(cmd, "'%s' is too long", spec);
	snprintf(r->repo, sizeof(r->repo), "%.*s", (int)rl, spec);
	snprintf(r->want, sizeof(r->want), "%s", at ? at + 1 : default_ref);
	if (ms_repo_check(r->repo, NULL, 0, &err))
		return cmd_usage_error(cmd, "%s", err.msg);
	if (ms_revision_check(r->want) && ms_ref_check(r->want, &err))
		return cmd_usage_error(cmd, "%s", err.msg);
	if (index_list(r, indexes, ctx))
		return cmd_error(EXIT_ERROR, "out of memory");
	if (!r->indexes.n)
		return cmd_usage_error(cmd, "no index: give --index URL, set MODELSWARM_INDEX, "
				       "or put 'index = URL' in the config file");
	for (size_t i = 0; i < r->indexes.n && t == TRY_NEXT; i++) {
		forget(r);
		t = try_index(r, r->indexes.v[i], want_refs, &code, &err);
		if (t == TRY_NEXT && r->indexes.n > 1)
			cmd_warning("index '%s': %s", r->indexes.v[i], err.msg);
	}
	if (t == TRY_OK)
		return 0;
	if (t == TRY_NEXT) {
		/* a missing file is "not found"; a network or disk error an error */
		code = err.code == MS_ENOENT || err.code == MS_ETOOBIG ? EXIT_VERIFY : EXIT_ERROR;
		if (r->indexes.n > 1)
			cmd_error(code, "cannot resolve %s@%s from any index", r->repo, r->want);
		else
			cmd_error(code, "%s", err.msg);
	}
	return code;
}

const struct ms_manifest_file *signed_release_file(const struct signed_release *r, int i,
						    struct lts_file_info *fi, const char **path)
{
	const char *name = ms_torrent_name(r->meta), *p;
	size_t nl = strlen(name);
	const struct ms_manifest_file *mf;

	ms_torrent_file(r->meta, i, fi);
	p = fi->path;
	if (!strncmp(p, name, nl) && p[nl] == '/')
		p += nl + 1;
	*path = p;
	if (fi->pad)
		return NULL;
	mf = bsearch(p, r->v.m.files, r->v.m.n_files, sizeof(*r->v.m.files), cmp_mf);
	return mf && mf->size == fi->size ? mf : NULL;
}

void signed_release_release(struct signed_release *r)
{
	forget(r);
	ms_strlist_release(&r->indexes);
	free(r->index_buf);
	r->index_buf = NULL;
}
