/* getjob.c: one download of a signed release into the Hugging Face cache:
 * resolve ORG/NAME[@REV] through the index, check the torrent against the
 * manifest, download, verify every file, then link the snapshot. It runs
 * on an engine its owner drives: `get` runs one, the daemon many. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "getjob-int.h"
#include "ms_dht.h"
#include "ms_hash.h"
#include "ms_release.h"
#include "ms_manifest.h"
#include "ms_progress.h"
#include "ms_store.h"
#include "ms_trust.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EMPTY_GIT "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
#define RESUME_EVERY_S 1

static void stop(struct ms_getjob *g, int code);

/* the engine is there and not closing (after ms_getjob_detach() it is
 * gone: work that comes back later must not touch it) */
static int engine_up(const struct ms_getjob *g)
{
	return g->eng && !ms_engine_closing(g->eng);
}

/* ---- resolution: the release check ---------------------------------- */

static void start_download(struct ms_getjob *g);

static void rel_warning(void *ud, const char *msg)
{
	ms__job_info(ud, "warning: %s", msg);
}

static void rel_verified(void *ud, struct ms_release *r)
{
	struct ms_getjob *g = ud;
	int64_t total = 0;

	for (size_t i = 0; i < r->v.m.n_files; i++)
		total += r->v.m.files[i].size;
	if (!g->json) {
		char sz[32];
		ms__job_info(g, "verified %s@%s version %" PRId64 " (key %s%s%s%s): %zu files, %s",
			     r->repo, r->rev, r->v.m.version, r->v.keyid,
			     *r->v.bridge ? " of bridge '" : "", r->v.bridge,
			     *r->v.bridge ? "'" : "", r->v.m.n_files,
			     ms_fmt_bytes(sz, sizeof(sz), (double)total));
		if (*r->v.bridge)
			ms__job_info(g, "bridged from %s: the upstream's metadata vouches for it, "
				     "not a lab's key", r->v.m.source_upstream);
	}
	ms__job_event(g, json_pack("{s:s,s:s,s:s,s:I,s:s,s:I,s:I,s:s*,s:s*}", "event", "verified",
			   "repo", r->repo, "revision", r->rev, "version",
			   (json_int_t)r->v.m.version, "key", r->v.keyid, "files",
			   (json_int_t)r->v.m.n_files, "bytes", (json_int_t)total, "bridge",
			   *r->v.bridge ? r->v.bridge : NULL, "source",
			   r->v.m.source_upstream));
}

/* the job moved on: its owner may look again (ms_getjob_file()) */
static void moved_on(struct ms_getjob *g)
{
	if (g->hooks.on_state)
		g->hooks.on_state(g->hooks.ud);
}

static void rel_done(void *ud, struct ms_release *r, int code, const struct ms_error *err)
{
	struct ms_getjob *g = ud;

	ms_release_resolver_free(g->resolver);
	g->resolver = NULL;
	if (code) {
		ms__job_error(g, "%s", err->msg);
		stop(g, code);
		return;
	}
	if (!r->meta) {
		/* no torrent file: the metadata comes from peers, by the
		 * signed info-hashes */
		ms__job_info(g, "no torrent for %s@%s in the index: getting its metadata "
		     "from peers", r->repo, r->rev);
		g->magnet = 1;
	}
	moved_on(g);
	start_download(g);
}

/* the job's files, one per manifest file, mapped onto the bound torrent */
static int map_files(struct ms_getjob *g, struct ms_error *err)
{
	const struct ms_manifest *m = &g->rel.v.m;

	free(g->files);
	g->n_done = 0;
	g->files = calloc(m->n_files + 1, sizeof(*g->files));
	if (!g->files)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	g->n_files = m->n_files;
	for (size_t i = 0; i < m->n_files; i++) {
		g->files[i].mf = &m->files[i];
		g->files[i].tindex = g->rel.tindex[i];
	}
	return 0;
}

/* the job's file for torrent file t (the manifest's order is the job's),
 * or NULL: a pad file, or no mapping yet */
static struct gfile *file_at(struct ms_getjob *g, int t)
{
	if (!g->files || !g->rel.mindex || t < 0 || t >= g->rel.info.num_files ||
	    g->rel.mindex[t] < 0 || (size_t)g->rel.mindex[t] >= g->n_files)
		return NULL;
	return &g->files[g->rel.mindex[t]];
}

/* ---- the store ------------------------------------------------------- */

static void hash_work_cb(uv_work_t *req)
{
	struct hash_work *w = req->data;
	const struct ms_manifest_file *mf = w->f->mf;
	char sha[65], git[41];
	int is_git = strlen(mf->etag) == 40;

	w->result = ms_file_hashes(w->path, mf->size, sha, is_git ? git : NULL, &w->err);
	if (w->result)
		return;
	if (strcmp(sha, mf->sha256)) {
		w->result = ms_error_set(&w->err, MS_EHASH,
					 "'%s' verified piece by piece but its sha256 %s is not "
					 "the manifest's %s", mf->path, sha, mf->sha256);
	} else if (is_git && strcmp(git, mf->etag)) {
		w->result = ms_error_set(&w->err, MS_EHASH,
					 "'%s': git blob sha1 %s is not the manifest's etag %s",
					 mf->path, git, mf->etag);
	}
}

static void check_done(struct ms_getjob *g);
static void check_present(struct ms_getjob *g);
static void destroy(struct ms_getjob *g);

/* work off the loop came back: 1 if the job was given up meanwhile (it is
 * freed once nothing else is pending) */
static int work_back(struct ms_getjob *g)
{
	g->pending_work--;
	if (!g->released)
		return 0;
	if (!g->pending_work)
		destroy(g);
	return 1;
}
static void locked_go(struct ms_getjob *g);
static void flush_then_verify(struct ms_getjob *g, struct gfile *f);

/* A file that matched the manifest: libtorrent moves it to its blob name.
 * A small file (a git blob: an LFS file is named by its sha256) waits
 * until every wanted piece is in: libtorrent's disk holds back the
 * hashing of every piece while a rename is out, and a rename per file
 * of a repo of thousands of small files stalled the download between
 * them (it ran at half fetch's speed). A big file goes at once, so that
 * a crash never costs reading it again. */
static void to_blob(struct ms_getjob *g, struct gfile *f)
{
	struct ms_error err;

	if (!g->all_in && strcmp(f->mf->etag, f->mf->sha256)) {
		if (f->st != F_VERIFIED)
			g->n_verified++;
		f->st = F_VERIFIED;
		return;
	}
	if (f->st == F_VERIFIED)
		g->n_verified--;

	ms_store_blob_path(&g->store, f->mf->etag, 0, 1, f->path, sizeof(f->path));
	f->st = F_RENAMING;
	if (ms_engine_rename_file(g->eng, g->id, f->tindex, f->path, &err)) {
		ms__job_error(g, "%s", err.msg);
		stop(g, MS_EIO);
	}
}

/* every wanted piece is in: the verified files that waited are renamed */
static void all_in(struct ms_getjob *g)
{
	g->all_in = 1;
	for (size_t i = 0; i < g->n_files && g->n_verified && !g->stopped; i++)
		if (g->files[i].st == F_VERIFIED)
			to_blob(g, &g->files[i]);
}

/* A file whose pieces all passed, and whose bytes are still not the
 * manifest's: what libtorrent counts as had is not all on disk (an earlier
 * run stopped by a full disk or a crash, or a file changed between runs).
 * Once a job, every piece on disk is hashed again; those that fail are
 * fetched again, and the file is checked once more when it is complete.
 * A second such file is an error. */
static void recheck(struct ms_getjob *g, struct gfile *f, const char *why)
{
	struct ms_error err;

	g->rechecked = 1;
	g->hash_failures++;
	ms__job_info(g, "warning: %s: checking every piece on disk again", why);
	f->st = F_DOWNLOADING;
	f->retries = 0;
	if (ms_engine_recheck(g->eng, g->id, &err)) {
		ms__job_error(g, "%s (and cannot check again: %s)", why, err.msg);
		stop(g, MS_EVERIFY);
	}
}

static void hash_after_cb(uv_work_t *req, int status)
{
	struct hash_work *w = req->data;
	struct ms_getjob *g = w->g;
	struct gfile *f = w->f;

	if (work_back(g)) {
		free(w);
		return;
	}
	if (status == UV_ECANCELED || !engine_up(g) || g->stopped) {
		free(w);
		check_done(g);
		return;
	}
	if (w->result && f->retries < 3) {
		/* a piece can pass its hash check while its blocks still wait
		 * to be written: flush again, let a periodic save go by too,
		 * then look again before calling it a mismatch */
		free(w);
		f->retries++;
		flush_then_verify(g, f);
		if (f->flush_seq)
			f->flush_seq++;
		return;
	}
	if (w->result == MS_EHASH && !g->rechecked) {
		recheck(g, f, w->err.msg);
		free(w);
		return;
	}
	if (w->result) {
		g->hash_failures++;
		ms__job_error(g, "%s", w->err.msg);
		free(w);
		/* nothing reaches a final name: the .incomplete file stays */
		stop(g, MS_EVERIFY);
		return;
	}
	free(w);
	to_blob(g, f);
}

static void arm_timer(struct ms_getjob *g, uv_timer_cb cb, uint64_t ms, uint64_t repeat)
{
	if (!g->timer) {
		if (!(g->timer = malloc(sizeof(*g->timer)))) {
			ms__job_error(g, "out of memory");
			stop(g, MS_EIO);
			return;
		}
		uv_timer_init(g->loop, g->timer);
		g->timer->data = g;
	}
	uv_timer_start(g->timer, cb, ms, repeat);
}

static void digest_wait(uv_timer_t *t)
{
	struct ms_getjob *g = t->data;

	for (size_t i = 0; i < g->n_files && !g->stopped; i++)
		if (g->files[i].st == F_DIGEST)
			flush_then_verify(g, &g->files[i]);
}

/* A complete file's sha256 (and a git blob's SHA-1) as its pieces were
 * written: 1 if that settled
 * it for now (it matched: on to its blob name; or it is nearly done: ask
 * again shortly), 0 if it is to be read back. Its pieces were on disk
 * before they were counted, so no flush is needed first. */
static int digest_verdict(struct ms_getjob *g, struct gfile *f)
{
	unsigned char d[32], git[20];
	char hex[65], ghex[41];
	int is_git = strlen(f->mf->etag) == 40;
	int r = ms_engine_file_sha256(g->eng, g->id, f->tindex, d, is_git ? git : NULL);

	if (r == LTS_DIGEST_PENDING) {
		/* a worker is hashing its last pieces */
		f->st = F_DIGEST;
		arm_timer(g, digest_wait, 2, 0);
		return 1;
	}
	f->stream = 0; /* once: from now on, it is read back */
	if (r == LTS_DIGEST_READY) {
		ms_hex(d, 32, hex);
		if (is_git)
			ms_hex(git, 20, ghex);
		if (!strcmp(hex, f->mf->sha256) && (!is_git || !strcmp(ghex, f->mf->etag))) {
			to_blob(g, f);
			return 1;
		}
	}
	/* a gap (a piece written another way), or the bytes that went by
	 * are not the manifest's: what is on disk decides */
	return 0;
}

/* a file whose pieces all verified: check its sha256 off the loop, read
 * back */
static void verify_file(struct ms_getjob *g, struct gfile *f)
{
	struct hash_work *w;

	g->read_back += f->mf->size;
	w = calloc(1, sizeof(*w));
	if (!w) {
		ms__job_error(g, "out of memory");
		stop(g, MS_EIO);
		return;
	}
	w->g = g;
	w->f = f;
	w->req.data = w;
	snprintf(w->path, sizeof(w->path), "%s/%s", g->store.repo_dir, f->path);
	f->st = F_HASHING;
	g->pending_work++;
	uv_queue_work(g->loop, &w->req, hash_work_cb, hash_after_cb);
}

/* Ask for a flushing save for the files waiting for one (flush_seq 0),
 * unless one is out: then they wait for its answer, and one save serves
 * every file that completed meanwhile. (A save is the size of the whole
 * torrent, its info dict included: one per file made a repo of many
 * small files cost N saves of N files each, in memory and in time.) */
static void flush_waiting(struct ms_getjob *g)
{
	if (!g->flush_wanted || g->stopped || !engine_up(g) ||
	    g->flush_sent > g->saves_done)
		return;
	g->flush_wanted = 0;
	g->flush_sent = ++g->saves_sent;
	g->flushes++;
	for (size_t i = 0; i < g->n_files; i++)
		if (g->files[i].st == F_FLUSHING && !g->files[i].flush_seq)
			g->files[i].flush_seq = g->flush_sent;
	if (ms_engine_save_resume(g->eng, g->id, LTS_SAVE_FLUSH | LTS_SAVE_NO_INFO, NULL)) {
		ms__job_error(g, "cannot flush the files of %s to disk", g->rel.repo);
		stop(g, MS_EIO);
	}
}

/* A complete file: its sha256 as it was written, if there is one; else,
 * as it may still sit in libtorrent's write buffers, ask for a flush (save
 * resume data with flush_disk_cache) and read it back when that is done.
 * A flush asked for before the file completed may not cover it: it waits
 * for the next one. */
static void flush_then_verify(struct ms_getjob *g, struct gfile *f)
{
	if (f->stream && digest_verdict(g, f))
		return;
	f->st = F_FLUSHING;
	f->flush_seq = 0;
	g->flush_wanted = 1;
	flush_waiting(g);
}

/* files that are complete but not yet verified (after a check or resume);
 * all: every wanted piece is verified, so every wanted file is complete
 * (the per-file byte counts can lag behind pieces handed in again) */
static void scan_complete(struct ms_getjob *g, int all)
{
	int64_t *prog;
	int n;

	if (!g->rel.meta || !g->mapped || g->stopped || !engine_up(g))
		return;
	n = g->rel.info.num_files;
	prog = calloc((size_t)n + 1, sizeof(*prog));
	if (!prog || ms_engine_file_progress(g->eng, g->id, prog, n, NULL) < 0) {
		free(prog);
		return;
	}
	for (size_t i = 0; i < g->n_files; i++) {
		struct gfile *f = &g->files[i];
		if (f->st == F_DOWNLOADING && f->wanted &&
		    !ms_webseed_owns(g->mr.ws, f->tindex) &&
		    (all || prog[f->tindex] == f->mf->size))
			flush_then_verify(g, f);
	}
	free(prog);
}

static int write_snapshot(struct ms_getjob *g, struct ms_error *err)
{
	int r;

	for (size_t i = 0; i < g->n_files; i++) {
		struct gfile *f = &g->files[i];
		if (!f->wanted)
			continue;
		if (!ms_store_blob_present(&g->store, f->mf->etag, f->mf->size))
			return ms_error_set(err, MS_EIO, "blob of '%s' vanished", f->mf->path);
		if ((r = ms_store_link(&g->store, g->rel.rev, f->mf->path, f->mf->etag, err)))
			return r;
	}
	if (g->ref && (r = ms_store_write_ref(&g->store, g->ref, g->rel.rev, err)))
		return r;
	if (g->local_dir)
		for (size_t i = 0; i < g->n_files; i++)
			if (g->files[i].wanted &&
			    (r = ms_store_export(&g->store, g->files[i].mf->etag, g->local_dir,
						 g->files[i].mf->path, err)))
				return r;
	return 0;
}

static int add_again(struct ms_getjob *g, struct ms_error *err);

static void check_done(struct ms_getjob *g)
{
	struct ms_error err;
	char snap[PATH_MAX];

	if (g->finished || g->stopped || !g->mapped || !engine_up(g))
		return;
	/* a file that is final stays so: the cursor keeps this linear in
	 * the number of files over the whole download */
	for (; g->n_done < g->n_files; g->n_done++) {
		struct gfile *f = &g->files[g->n_done];
		if (f->wanted && f->st != F_FINAL && f->st != F_PRESENT)
			return;
	}
	if (g->again == 1)
		return;  /* until the torrent is out of the session */
	if (!g->again) {
		if (ms_engine_status(g->eng, g->id, &g->final, NULL) == 0)
			g->seconds = ms__job_elapsed(&g->t0);
		ms_mirrors_stop(&g->mr);
	}
	if (g->direct_files && !g->again) {
		/* add_again() once it is out */
		g->again = 1;
		if (ms_engine_remove(g->eng, g->id, 0, &err)) {
			ms__job_error(g, "cannot seed the files fetched whole: %s", err.msg);
			stop(g, MS_EIO);
		}
		return;
	}
	if (g->magnet) {
		/* before the mapping, libtorrent may have made directories (and
		 * empty files, since moved) under <repo>/<name> */
		char stale[2 * PATH_MAX];
		snprintf(stale, sizeof(stale), "%s/%s", g->store.repo_dir,
			 g->rel.info.name);
		ms_prune_empty_dirs(stale, 0);
	}
	/* every wanted blob is final: the snapshot and refs come last */
	if (write_snapshot(g, &err)) {
		ms__job_error(g, "%s", err.msg);
		stop(g, MS_EIO);
		return;
	}
	g->finished = 1;
	ms_store_remove_scratch(&g->store);
	ms_store_snapshot_dir(&g->store, g->rel.rev, snap, sizeof(snap));
	snprintf(g->path, sizeof(g->path), "%s", g->local_dir ? g->local_dir : snap);
	{
		int64_t web = ms_mirrors_bytes(&g->mr);
		ms__job_event(g, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:i,s:i,s:i,s:I,s:i}", "event", "done",
				   "repo", g->rel.repo, "revision", g->rel.rev, "snapshot",
				   g->local_dir ? g->local_dir : snap, "downloaded",
				   (json_int_t)(g->final.peer_download + web), "from_peers",
				   (json_int_t)g->final.peer_download, "from_webseeds",
				   (json_int_t)web, "mirrors", ms_mirrors_json(&g->mr),
				   "hash_failures", g->hash_failures, "checks", g->checks,
				   "whole_files", g->direct_files, "read_back",
				   (json_int_t)g->read_back, "flushes", (int)g->flushes));
	}
	/* the torrent stays in the session, seeding, until the owner
	 * removes it */
	stop(g, 0);
}

/* a file the mirrors fetched whole, or could not write */
static void mirror_file(void *ud, int file, int error)
{
	struct ms_getjob *g = ud;

	if (g->stopped || g->finished)
		return;
	for (size_t i = 0; i < g->n_files; i++) {
		struct gfile *f = &g->files[i];
		if (f->tindex != file || f->st != F_DOWNLOADING)
			continue;
		if (error == ENOSPC) {
			ms__job_error(g, "no space left on device writing '%s/%s' (progress is "
				"kept: run the same command again once there is space)",
				g->store.repo_dir, f->path);
			stop(g, MS_EIO);
		} else if (error) {
			ms__job_error(g, "cannot write '%s': %s", f->mf->path, strerror(error));
			stop(g, MS_EIO);
		} else {
			/* its sha256 matched the manifest as it was written */
			g->direct_files++;
			to_blob(g, f);
		}
		return;
	}
}

/* Files the mirrors may fetch whole, straight to their .incomplete path,
 * checked against the manifest's sha256 as they come: those whose blob is
 * named by that sha256 (LFS files). */
static int whole_files(struct ms_getjob *g, struct ms_error *err)
{
	int n = g->rel.info.num_files, r;
	struct ms_direct_file *df = calloc((size_t)n + 1, sizeof(*df));
	char (*paths)[2 * PATH_MAX + 8] = calloc((size_t)n + 1, sizeof(*paths));

	if (!df || !paths) {
		free(df);
		free(paths);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < g->n_files; i++) {
		struct gfile *f = &g->files[i];
		df[f->tindex].prio = f->prio;
		if (f->st != F_DOWNLOADING || !f->wanted || strcmp(f->mf->etag, f->mf->sha256))
			continue;
		snprintf(paths[f->tindex], sizeof(paths[0]), "%s/%s", g->store.repo_dir,
			 f->path);
		df[f->tindex].path = paths[f->tindex];
		df[f->tindex].sha256 = f->mf->sha256;
		f->whole = 1;
	}
	r = ms_webseed_direct(g->mr.ws, df, n, err);
	free(df);
	free(paths);
	return r;
}

static void on_alert(void *ud, const struct lts_alert *a);

/* the torrent is id now (0: none): its alerts come straight to the job */
static int set_id(struct ms_getjob *g, int id)
{
	if (g->watching)
		ms_engine_unwatch(g->eng, g->id, on_alert, g);
	g->watching = 0;
	g->id = id;
	if (id && ms_engine_watch(g->eng, id, on_alert, g))
		return MS_ENOMEM;
	g->watching = id != 0;
	return 0;
}

/* The torrent mapped onto the store: file i at paths[i] with priority
 * prio[i] (ours, not the resume data's, which has 0 for a file the mirrors
 * were fetching whole), the files flagged in have (or NULL) counted as had */
static void add_params(const struct ms_getjob *g, struct lts_add_params *ap,
		       const char **paths, const int *prio, const unsigned char *have,
		       int n)
{
	memset(ap, 0, sizeof(*ap));
	ap->torrent = g->rel.torrent.buf;
	ap->torrent_len = g->rel.torrent.len;
	if (!ap->torrent) /* by magnet: the metadata peers sent */
		ap->torrent = ms_torrent_bytes(g->rel.meta, &ap->torrent_len);
	ap->save_path = g->store.repo_dir;
	/* the torrent's v2 hashes are bound to the signed manifest (roots
	 * checked, info-hash signed) and publish made its v1 hashes from the
	 * same bytes: a hybrid piece is checked by SHA-256 alone */
	ap->flags = LTS_ADD_V2_CHECKS;
	ap->file_paths = paths;
	ap->n_file_paths = (size_t)n;
	ap->trackers = (const char *const *)g->rel.v.m.trackers;
	ap->n_trackers = g->rel.v.m.n_trackers;
	ap->have_files = have;
	ap->n_have_files = have ? (size_t)n : 0;
	ap->file_priorities = prio;
	ap->n_file_priorities = (size_t)n;
}

/* Files fetched whole went around libtorrent, which does not have their
 * pieces: add the torrent again with every blob vouched for, so that it
 * seeds them all without hashing them (the torrent id changes). */
static int add_again(struct ms_getjob *g, struct ms_error *err)
{
	int n = g->rel.info.num_files, id = 0, r;
	const char **paths = calloc((size_t)n + 1, sizeof(*paths));
	int *prio = calloc((size_t)n + 1, sizeof(*prio));
	unsigned char *have = calloc((size_t)n + 1, 1);
	struct lts_add_params ap;

	if (!paths || !prio || !have || ms_getjob_mapping(g, paths, prio, n)) {
		r = ms_error_set(err, MS_ENOMEM, "out of memory");
		goto out;
	}
	memset(prio, 0, (size_t)n * sizeof(*prio));
	for (size_t i = 0; i < g->n_files; i++) {
		const struct gfile *f = &g->files[i];
		if (f->wanted && (f->st == F_FINAL ||
				  (f->st == F_PRESENT && strncmp(f->path, "blobs/.skip/", 12))))
			have[f->tindex] = 1;
		prio[f->tindex] = have[f->tindex] ? 4 : 0;
	}
	add_params(g, &ap, paths, prio, have, n);
	set_id(g, 0);
	r = ms_engine_add(g->eng, &ap, &id, err);
	if (!r)
		r = set_id(g, id);
	g->again = 2;
out:
	free(paths);
	free(prio);
	free(have);
	return r;
}

/* could a peer show up at all: trackers, --peer, DHT or LSD */
static int peer_sources(const struct ms_getjob *g)
{
	return g->rel.v.m.n_trackers || g->peers.n || g->magnet || g->peer_discovery;
}

/* nothing can finish the download: say so and stop */
static void give_up(struct ms_getjob *g, const char *why)
{
	ms__job_error(g, "%s, and no peer can come (no tracker, --peer, DHT or LSD): giving up on "
		"%s@%s; progress is kept", why, g->rel.repo, g->rel.rev);
	stop(g, MS_ESTALLED);
}

/* the mirrors have nothing more of torrent file f: noted here, handled
 * on the next tick (the mirrors are in the middle of their own call) */
static void mirror_exhausted(void *ud, int f)
{
	struct ms_getjob *g = ud;

	if (!g->exhausted)
		g->exhausted = f + 1;
}

/* a wanted file the mirrors cannot finish, with no peer to come */
static int exhausted(struct ms_getjob *g)
{
	char why[PATH_MAX + 64];
	int f = g->exhausted - 1;

	g->exhausted = 0;
	if (f < 0 || g->stopped || g->finished || peer_sources(g))
		return 0;
	for (size_t i = 0; i < g->n_files; i++)
		if (g->files[i].tindex == f && g->files[i].wanted &&
		    g->files[i].st == F_DOWNLOADING) {
			snprintf(why, sizeof(why), "no mirror left for '%s'", g->files[i].mf->path);
			give_up(g, why);
			return 1;
		}
	return 0;
}

/* the manifest's mirrors, --webseed and the config's, once the files are
 * mapped and checked */
static void start_mirrors(struct ms_getjob *g)
{
	struct ms_error err;
	int sources = peer_sources(g);
	int started;

	if (!g->mapped || g->finished || g->stopped)
		return;
	g->mr.on_event = ms__job_mirror_event;
	g->mr.ud = g;
	g->mr.on_file = mirror_file;
	g->mr.on_exhausted = mirror_exhausted;
	started = g->mr.ws != NULL;
	if (ms_mirrors_start(&g->mr, g->config, &g->mo, g->loop, g->eng, g->id,
			  (const char *const *)g->rel.v.m.webseeds, g->rel.v.m.n_webseeds,
			  sources, &err))
		ms__job_info(g, "warning: cannot use the mirrors: %s", err.msg);
	else if (!started && g->mr.ws && whole_files(g, &err))
		ms__job_info(g, "warning: mirrors fetch piece by piece only: %s", err.msg);
}

static void dial_peers(struct ms_getjob *g)
{
	for (size_t i = 0; i < g->peers.n; i++) {
		char host[256];
		int port;
		if (!ms_parse_hostport(g->peers.v[i], host, sizeof(host), &port))
			ms_engine_connect_peer(g->eng, g->id, host, port, NULL);
	}
}

static void waiting_for_lock(void *ud)
{
	struct ms_getjob *g = ud;

	ms__job_info(g, "waiting for another download of %s to finish", g->rel.repo);
}

static int resume_file(struct ms_getjob *g)
{
	return ms_resume_path(g->rel.rev, g->store.repo_dir, "get", g->resume_path,
			   sizeof(g->resume_path), NULL);
}

/* 1 if the file at PATH (under the repo) exists and holds bytes */
static int has_bytes(const struct ms_getjob *g, const char *path)
{
	char p[2 * PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", g->store.repo_dir, path);
	return lstat(p, &st) == 0 && st.st_size > 0;
}

static int cmp_etag(const void *a, const void *b, void *arg)
{
	const struct gfile *files = arg;
	size_t i = *(const size_t *)a, k = *(const size_t *)b;
	int c = strcmp(files[i].mf->etag, files[k].mf->etag);

	return c ? c : (i > k) - (i < k);
}

/* per file, 1 if a wanted file before it has the same blob (it is then
 * linked to that one's); NULL on no memory. Sorted by etag, not compared
 * pair by pair: a repo may have tens of thousands of files. */
static unsigned char *find_dups(const struct ms_getjob *g)
{
	size_t n = g->n_files, *ix = malloc((n + 1) * sizeof(*ix));
	unsigned char *dups = calloc(n + 1, 1);

	if (!ix || !dups) {
		free(ix);
		free(dups);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		ix[i] = i;
	qsort_r(ix, n, sizeof(*ix), cmp_etag, g->files);
	for (size_t j = 0, seen = 0; j < n; j++) {
		const struct gfile *f = &g->files[ix[j]];
		if (j && strcmp(g->files[ix[j - 1]].mf->etag, f->mf->etag))
			seen = 0;
		dups[ix[j]] = (unsigned char)seen;
		seen |= (size_t)f->wanted;
	}
	free(ix);
	return dups;
}

static void add_torrent(struct ms_getjob *g)
{
	struct lts_add_params ap;
	struct ms_error err;
	const char **paths;
	unsigned char *resume = NULL, *have = NULL, *digest = NULL, *dups = NULL;
	size_t resume_len = 0;
	int n = g->rel.info.num_files, r = 0, code = MS_EIO, id = 0;
	int *prio, n_have = 0, partial = 0, n_digest = 0;

	paths = calloc((size_t)n, sizeof(*paths));
	prio = calloc((size_t)n, sizeof(*prio));
	have = calloc((size_t)n, 1);
	digest = calloc((size_t)n, 1);
	if (!paths || !prio || !have || !digest) {
		r = ms_error_set(&err, MS_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < g->n_files; i++) {
		struct gfile *f = &g->files[i];
		f->wanted = (!g->includes.n || ms_strlist_glob_match(&g->includes, f->mf->path)) &&
			    !ms_strlist_glob_match(&g->excludes, f->mf->path);
	}
	if (!(dups = find_dups(g))) {
		r = ms_error_set(&err, MS_ENOMEM, "out of memory");
		goto out;
	}
	/* every torrent file maps straight onto its blob: the final name for
	 * blobs that are there and verified, else <etag>.incomplete */
	for (size_t i = 0; i < g->n_files; i++) {
		struct gfile *f = &g->files[i];
		int dup = dups[i];
		if (f->mf->size == 0 && f->wanted && f->st != F_PRESENT) {
			/* libtorrent never writes an empty file: its blob is made
			 * here, if the manifest's hashes are those of no bytes */
			char p[PATH_MAX + 128];
			if (strcmp(f->mf->sha256, EMPTY_SHA256) ||
			    (strlen(f->mf->etag) == 40 && strcmp(f->mf->etag, EMPTY_GIT))) {
				code = MS_EVERIFY;
				r = ms_error_set(&err, MS_EHASH, "'%s' is empty but the manifest's "
						 "hashes are not those of an empty file", f->mf->path);
				goto out;
			}
			ms_store_blob_path(&g->store, f->mf->etag, 0, 0, p, sizeof(p));
			if ((r = ms_store_prepare_incomplete(&g->store, f->mf->etag, &err)) ||
			    (r = ms_write_file_atomic(p, "", 0, 0644, &err)))
				goto out;
			f->st = F_PRESENT;
		}
		/* (in a fresh repo dir, only the empty blob just made) */
		if (f->st == F_PRESENT &&
		    (g->fresh || ms_store_blob_present(&g->store, f->mf->etag, f->mf->size))) {
			ms_store_blob_path(&g->store, f->mf->etag, 0, 1, f->path, sizeof(f->path));
			have[f->tindex] = 1; /* verified just now */
			n_have++;
		} else if (dup || !f->wanted) {
			/* another file carries these bytes, or nobody wants them */
			snprintf(f->path, sizeof(f->path), "blobs/.skip/%d", f->tindex);
			if (f->st != F_PRESENT)
				f->st = F_SKIP;
		} else {
			if (!g->fresh &&
			    (r = ms_store_prepare_incomplete(&g->store, f->mf->etag, &err)))
				goto out;
			ms_store_blob_path(&g->store, f->mf->etag, 1, 1, f->path, sizeof(f->path));
			f->st = F_DOWNLOADING;
			if (!g->fresh && has_bytes(g, f->path)) {
				partial = 1;
			} else {
				/* all of it to come: its sha256 (and a git blob's
				 * etag) can be worked out as it is written */
				f->stream = 1;
				digest[f->tindex] = strcmp(f->mf->etag, f->mf->sha256) ?
					LTS_DIGEST_WANT_GIT : 1;
				n_digest++;
			}
		}
		if (dup && f->wanted)
			f->st = F_PRESENT; /* linked to the same blob as its twin */
		paths[f->tindex] = f->path;
		prio[f->tindex] = f->prio = f->st == F_DOWNLOADING || f->st == F_PRESENT ? 4 : 0;
	}
	for (int i = 0; i < n; i++)
		if (!paths[i])
			paths[i] = "blobs/.skip/pad"; /* pad files are never stored */
	if (g->magnet) {
		/* the torrent runs in upload mode since the metadata came: map
		 * its files, then let it download */
		for (int i = 0; i < n && !r; i++)
			if (strcmp(paths[i], "blobs/.skip/pad"))
				r = ms_engine_rename_file(g->eng, g->id, i, paths[i], &err);
		if (!r)
			r = ms_engine_set_file_priorities(g->eng, g->id, prio, n, &err);
		if (!r)
			r = ms_engine_set_upload_mode(g->eng, g->id, 0, &err);
		resume_file(g);
		goto out;
	}
	if (!resume_file(g) && access(g->resume_path, F_OK) == 0)
		ms_read_file(g->resume_path, 256u << 20, &resume, &resume_len, NULL);
	/* the verified blobs count as had without libtorrent hashing them
	 * again, unless a download that stopped before its first resume save
	 * left bytes that only a check of the files finds */
	g->resuming = resume || partial;
	if (!n_have || (partial && !resume)) {
		free(have);
		have = NULL;
	}
	add_params(g, &ap, paths, prio, have, n);
	ap.resume = resume;
	ap.resume_len = resume_len;
	if (n_digest) {
		ap.digest_files = digest;
		ap.n_digest_files = (size_t)n;
	}
	r = ms_engine_add(g->eng, &ap, &id, &err);
	if (r && resume) {
		ap.resume = NULL;
		ap.resume_len = 0;
		r = ms_engine_add(g->eng, &ap, &id, &err);
	}
	if (!r && (r = set_id(g, id)))
		ms_error_set(&err, r, "cannot watch the torrent's alerts");
	/* in order while there are few peers, so that the streams need not
	 * wait for pieces that came early */
	if (!r && n_digest && !ms_engine_set_sequential(g->eng, g->id, 1, NULL))
		g->sequential = 1;
	if (!r)
		dial_peers(g);
out:
	free(dups);
	free(digest);
	free(have);
	free(resume);
	free(paths);
	free(prio);
	if (r) {
		ms__job_error(g, "%s", err.msg);
		stop(g, code);
		return;
	}
	g->mapped = 1;
	moved_on(g);
	check_done(g);
}

static void try_lock(uv_timer_t *t)
{
	struct ms_getjob *g = t->data;
	struct ms_error err;

	if (flock(g->store.lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return; /* try again at the next tick */
		ms__job_error(g, "cannot lock the cache for %s: %s", g->rel.repo, strerror(errno));
		stop(g, MS_EIO);
		return;
	}
	uv_timer_stop(t);
	g->locked = 1;
	(void)err;
	if (engine_up(g))
		locked_go(g);
}

/* existing blobs are checked before they are used */
struct present_work {
	uv_work_t req;
	struct ms_getjob *g;
};

static void present_cb(uv_work_t *req)
{
	struct present_work *w = req->data;
	struct ms_getjob *g = w->g;

	/* the store is locked: nothing else adds blobs meanwhile */
	if ((g->fresh = ms_store_blobs_empty(&g->store)))
		return;
	for (size_t i = 0; i < g->n_files; i++) {
		struct gfile *f = &g->files[i];
		char p[PATH_MAX + 128], sha[65], git[41];
		int is_git = strlen(f->mf->etag) == 40;
		if (!ms_store_blob_present(&g->store, f->mf->etag, f->mf->size))
			continue;
		ms_store_blob_path(&g->store, f->mf->etag, 0, 0, p, sizeof(p));
		if (ms_file_hashes(p, f->mf->size, sha, is_git ? git : NULL, NULL) == 0 &&
		    !strcmp(sha, f->mf->sha256) && (!is_git || !strcmp(git, f->mf->etag)))
			f->st = F_PRESENT;
	}
}

static void present_after(uv_work_t *req, int status)
{
	struct present_work *w = req->data;
	struct ms_getjob *g = w->g;
	size_t reused = 0;

	free(w);
	if (work_back(g) || status == UV_ECANCELED || !engine_up(g) ||
	    g->stopped)
		return;
	for (size_t i = 0; i < g->n_files; i++)
		reused += g->files[i].st == F_PRESENT;
	if (reused) {
		ms__job_info(g, "%zu of %zu files already in the cache", reused, g->n_files);
		ms__job_event(g, json_pack("{s:s,s:I}", "event", "reused", "files", (json_int_t)reused));
	}
	add_torrent(g);
}

static void check_present(struct ms_getjob *g)
{
	struct present_work *w = calloc(1, sizeof(*w));

	if (!w) {
		ms__job_error(g, "out of memory");
		stop(g, MS_EIO);
		return;
	}
	w->g = g;
	w->req.data = w;
	g->pending_work++;
	uv_queue_work(g->loop, &w->req, present_cb, present_after);
}

/* no torrent file: add by magnet, in upload mode so that nothing is
 * requested before the metadata is checked against the manifest */
static void add_magnet(struct ms_getjob *g)
{
	struct lts_add_params ap;
	struct ms_error err;
	char magnet[1024];
	int id = 0;

	snprintf(magnet, sizeof(magnet), "magnet:?");
	if (*g->rel.v.m.infohash_v1)
		snprintf(magnet + strlen(magnet), sizeof(magnet) - strlen(magnet),
			 "xt=urn:btih:%s", g->rel.v.m.infohash_v1);
	if (*g->rel.v.m.infohash_v2)
		snprintf(magnet + strlen(magnet), sizeof(magnet) - strlen(magnet),
			 "%sxt=urn:btmh:1220%s", *g->rel.v.m.infohash_v1 ? "&" : "",
			 g->rel.v.m.infohash_v2);
	memset(&ap, 0, sizeof(ap));
	ap.magnet = magnet;
	ap.save_path = g->store.repo_dir;
	ap.flags = LTS_ADD_UPLOAD_ONLY;
	ap.trackers = (const char *const *)g->rel.v.m.trackers;
	ap.n_trackers = g->rel.v.m.n_trackers;
	if (ms_engine_add(g->eng, &ap, &id, &err) ||
	    (set_id(g, id) && ms_error_set(&err, MS_ENOMEM, "cannot watch the torrent's alerts"))) {
		ms__job_error(g, "%s", err.msg);
		stop(g, MS_EIO);
		return;
	}
	dial_peers(g);
}

static void locked_go(struct ms_getjob *g)
{
	if (g->magnet)
		add_magnet(g);
	else
		check_present(g);
}

static void start_download(struct ms_getjob *g)
{
	struct ms_error err;
	char cache[PATH_MAX];

	if (!g->magnet && map_files(g, &err)) {
		ms__job_error(g, "%s", err.msg);
		stop(g, err.code);
		return;
	}
	if (ms_store_cache_dir(g->cache_override, cache, sizeof(cache), &err) ||
	    ms_store_open(&g->store, cache, g->rel.repo, &err)) {
		ms__job_error(g, "%s", err.msg);
		stop(g, MS_EIO);
		return;
	}
	g->store_open = 1;
	/* the lock first: other gets of the same repo wait for us (without
	 * blocking the loop), and what they finished counts as present */
	g->store.lock_fd = -1;
	if (ms_store_lock(&g->store, NULL, NULL, &err) == 0) {
		g->locked = 1;
		locked_go(g);
		return;
	}
	if (g->store.lock_fd < 0) {
		ms__job_error(g, "%s", err.msg);
		stop(g, MS_EIO);
		return;
	}
	waiting_for_lock(g);
	arm_timer(g, try_lock, 200, 200);
}

/* ---- engine callbacks ------------------------------------------------ */

/* the torrent's alerts, straight from the engine (NULL: it closed) */
static void on_alert(void *ud, const struct lts_alert *a)
{
	struct ms_getjob *g = ud;

	if (!a) {
		g->watching = 0;
		return;
	}
	switch (a->type) {
	case LTS_ALERT_TORRENT_REMOVED:
		if (g->again == 1 && !g->stopped) {
			struct ms_error err;
			if (add_again(g, &err)) {
				ms__job_error(g, "cannot seed the files fetched whole: %s", err.msg);
				stop(g, MS_EIO);
				break;
			}
			check_done(g);
		}
		break;
	case LTS_ALERT_METADATA_RECEIVED:
		if (g->magnet && !g->rel.meta) {
			struct ms_error err;
			lts_torrent *t = ms_engine_torrent(g->eng, g->id, &err);
			if (!t) {
				ms__job_error(g, "%s", err.msg);
				stop(g, MS_EIO);
				break;
			}
			if (ms_release_bind(&g->rel, t, &err)) {
				ms_torrent_free(t);
				ms__job_error(g, "the torrent does not match the signed manifest: %s",
					err.msg);
				stop(g, MS_EVERIFY);
				break;
			}
			if (map_files(g, &err)) {
				ms__job_error(g, "%s", err.msg);
				stop(g, err.code);
				break;
			}
			check_present(g);
		}
		break;
	case LTS_ALERT_FILE_COMPLETED: {
		struct gfile *f = file_at(g, a->value);
		if (f && f->st == F_DOWNLOADING)
			flush_then_verify(g, f);
		break;
	}
	case LTS_ALERT_TORRENT_CHECKED:
		dial_peers(g);
		start_mirrors(g);
		scan_complete(g, 0);
		check_done(g);
		break;
	case LTS_ALERT_TORRENT_FINISHED:
		scan_complete(g, 1);
		all_in(g);
		check_done(g);
		break;
	case LTS_ALERT_FILE_RENAMED: {
		struct gfile *f = file_at(g, a->value);
		if (f && f->st == F_RENAMING) {
			f->st = F_FINAL;
			ms__job_event(g, json_pack("{s:s,s:s,s:s}", "event", "file", "path",
					   f->mf->path, "status", "verified"));
		}
		check_done(g);
		break;
	}
	case LTS_ALERT_FILE_RENAME_FAILED:
		ms__job_error(g, "cannot move a verified file to its blob name: %s", a->message);
		stop(g, MS_EIO);
		break;
	case LTS_ALERT_HASH_FAILED:
		g->hash_failures++;
		break;
	case LTS_ALERT_STATE_CHANGED:
		if (a->value == LTS_STATE_CHECKING_FILES)
			g->checks++;
		break;
	case LTS_ALERT_PEER_BANNED:
		ms__job_info(g, "warning: banned peer %s:%d: it sent data that failed the hash check",
		     a->address, a->port);
		break;
	case LTS_ALERT_FILE_ERROR:
	case LTS_ALERT_TORRENT_ERROR:
		if (g->stopped)
			break; /* the first error says it */
		if (a->errno_value == ENOSPC)
			ms__job_error(g, "no space left on device writing '%s' (progress is kept: "
				"run the same command again once there is space)",
				*a->url ? a->url : g->store.repo_dir);
		else
			ms__job_error(g, "%s", a->message);
		stop(g, MS_EIO);
		break;
	case LTS_ALERT_SAVE_RESUME_FAILED:
		/* keep the count in step; files waiting on it ask again */
		g->saves_done++;
		for (size_t i = 0; i < g->n_files; i++)
			if (g->files[i].st == F_FLUSHING && g->files[i].flush_seq &&
			    g->saves_done >= g->files[i].flush_seq) {
				g->files[i].flush_seq = 0;
				g->flush_wanted = 1;
			}
		flush_waiting(g);
		break;
	case LTS_ALERT_SAVE_RESUME:
		/* written out: the files whose flush this answers can be
		 * hashed (saves are answered in the order they were asked) */
		g->saves_done++;
		for (size_t i = 0; i < g->n_files && g->flush_sent; i++)
			if (g->files[i].st == F_FLUSHING && !g->stopped && g->files[i].flush_seq &&
			    g->saves_done >= g->files[i].flush_seq)
				verify_file(g, &g->files[i]);
		flush_waiting(g);
		if (g->resume_path[0]) {
			if (g->finished)
				unlink(g->resume_path);
			else
				ms_write_file_atomic(g->resume_path, a->data, a->data_len, 0600, NULL);
		}
		break;
	default:
		break;
	}
}

/* a download no byte comes to: with nothing that could bring one it
 * gives up at once (after a few seconds' grace), else after
 * stall_timeout_s; 1 when it stopped */
#define NO_SOURCE_GRACE_S 5
static int stalled(struct ms_getjob *g, const struct lts_status *st, double now)
{
	int64_t got = st->total_wanted_done + ms_mirrors_bytes(&g->mr);
	int waiting = (st->state == LTS_STATE_DOWNLOADING ||
		       st->state == LTS_STATE_DOWNLOADING_METADATA) && !st->is_finished &&
		      !g->finished;
	char why[200];

	if (!waiting || got != g->progress || g->progress_at <= 0) {
		g->progress = got;
		g->progress_at = now;
		return 0;
	}
	if (!st->num_peers && !g->mr.ws && !peer_sources(g) &&
	    now - g->progress_at >= NO_SOURCE_GRACE_S) {
		give_up(g, "no mirror has its files");
		return 1;
	}
	if (g->stall_timeout_s > 0 && now - g->progress_at >= g->stall_timeout_s) {
		snprintf(why, sizeof(why), "no byte came from a peer or a mirror for %d s "
			 "(--stall-timeout)", g->stall_timeout_s);
		ms__job_error(g, "%s: giving up on %s@%s; progress is kept (run the same command "
			"again to go on)", why, g->rel.repo, g->rel.rev);
		stop(g, MS_ESTALLED);
		return 1;
	}
	return 0;
}

int ms_getjob_tick(struct ms_getjob *g, struct ms_progress_snap *snap,
		   struct ms_progress_source *srcs, int max_srcs)
{
	struct lts_status st;
	double now = ms__job_elapsed(&g->t0);
	int64_t dsize, ddone;

	if (!g->locked || g->stopped || !g->id || !engine_up(g) ||
	    ms_engine_status(g->eng, g->id, &st, NULL))
		return 0;
	if (now - g->last_resume >= RESUME_EVERY_S &&
	    !ms_engine_save_resume(g->eng, g->id, LTS_SAVE_NO_INFO, NULL)) {
		g->saves_sent++;
		g->last_resume = now;
	}
	if (now - g->last_dial >= 5 && st.num_peers < (int)g->peers.n) {
		dial_peers(g);
		g->last_dial = now;
	}
	/* no peer: seeds that announced after our first lookup */
	if (st.state == LTS_STATE_DOWNLOADING || st.state == LTS_STATE_DOWNLOADING_METADATA)
		(void)ms_engine_dht_reannounce(g->eng, g->id, st.num_peers, now,
					       &g->last_announce, &g->announce_s);
	if (st.state == LTS_STATE_DOWNLOADING)
		start_mirrors(g);
	if (st.state == LTS_STATE_DOWNLOADING && st.num_peers >= MS_CROWD_PEERS)
		ms_engine_crowded(g->eng);
	/* a swarm: rarest first, so that peers have pieces to trade (the
	 * streams then wait for some pieces, in memory up to a cap, then
	 * on disk: read back when their turn comes) */
	if (g->sequential && st.num_peers >= MS_CROWD_PEERS &&
	    !ms_engine_set_sequential(g->eng, g->id, 0, NULL))
		g->sequential = 0;
	if (st.is_finished) {
		scan_complete(g, 1);
		if (!g->all_in)
			all_in(g);
	}
	ms__job_said_resuming(g, &st);
	/* files fetched whole are not in libtorrent's figures */
	ms_webseed_direct_progress(g->mr.ws, &dsize, &ddone);
	st.total_wanted += dsize;
	st.total_wanted_done += ddone;
	if (exhausted(g) || stalled(g, &st, now))
		return 0;
	if (g->json && now - g->last_event >= 1) {
		g->last_event = now;
		ms__job_event(g, json_pack("{s:s,s:I,s:I,s:i,s:i,s:I,s:I,s:o}", "event",
				   "progress", "done", (json_int_t)st.total_wanted_done,
				   "total", (json_int_t)st.total_wanted, "rate",
				   st.download_rate, "peers", st.num_peers, "from_peers",
				   (json_int_t)st.peer_download, "from_webseeds",
				   (json_int_t)ms_mirrors_bytes(&g->mr), "mirrors",
				   ms_mirrors_json(&g->mr)));
	}
	if (!snap)
		return 0;
	memset(snap, 0, sizeof(*snap));
	snap->phase = st.state == LTS_STATE_CHECKING_FILES ||
				     st.state == LTS_STATE_CHECKING_RESUME_DATA
			     ? "checking"
		      : !st.num_peers && !ms_mirrors_active(&g->mr) && now - g->progress_at >= 2
			     ? "waiting for peers"
			     : "downloading";
	snap->title = g->rel.repo;
	snap->total = st.total_wanted;
	snap->done = st.total_wanted_done;
	snap->rate = -1;
	snap->peers = st.num_peers;
	snap->seeds = st.num_seeds;
	snap->webseeds = ms_mirrors_active(&g->mr);
	snap->from_peers = st.peer_download;
	snap->from_webseeds = ms_mirrors_bytes(&g->mr);
	snap->mirrors = srcs;
	snap->n_mirrors = ms_mirrors_sources(&g->mr, srcs, max_srcs);
	snap->hash_failures = g->hash_failures;
	return 1;
}

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

/* the end, good or bad: let go of what the download needed (the lock,
 * the index client, the mirrors), then tell the owner, once. The torrent
 * stays in the session: seeding after success; the owner removes it or
 * shuts the engine down. */
static void stop(struct ms_getjob *g, int code)
{
	if (!g->stopped) {
		g->stopped = 1;
		g->code = code;
	}
	ms_mirrors_stop(&g->mr);
	ms_release_resolver_free(g->resolver);
	g->resolver = NULL;
	if (g->timer) {
		uv_timer_stop(g->timer);
		uv_close((uv_handle_t *)g->timer, timer_closed);
		g->timer = NULL;
	}
	if (g->store.lock_fd >= 0 && !g->code) {
		close(g->store.lock_fd); /* others may download it now */
		g->store.lock_fd = -1;
	}
	if (!g->code && g->resume_path[0])
		unlink(g->resume_path); /* seeding needs none of it */
	if (!g->done_said) {
		g->done_said = 1;
		if (g->hooks.on_done)
			g->hooks.on_done(g->hooks.ud, g->code);
	}
}

void ms_getjob_cancel(struct ms_getjob *g, int code)
{
	stop(g, code);
}

/* ---- the job's life -------------------------------------------------- */

int ms_getjob_start(struct ms_getjob **out, const struct ms_config *c, uv_loop_t *loop,
		    struct ms_engine *e, const struct ms_getjob_opts *o,
		    const struct ms_getjob_hooks *h, struct ms_error *err)
{
	struct ms_release_hooks rh = { rel_warning, rel_verified, rel_done, NULL };
	struct ms_getjob *g;
	int r;

	*out = NULL;
	if (!(g = calloc(1, sizeof(*g))))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	g->config = c;
	g->loop = loop;
	g->eng = e;
	g->hooks = *h;
	g->json = o->json;
	g->peer_discovery = o->peer_discovery;
	g->stall_timeout_s = o->stall_timeout_s;
	g->store.lock_fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &g->t0);
	if ((r = ms_release_spec(&g->rel, o->spec, "main", err)))
		goto fail;
	if (ms_revision_check(g->rel.want)) {
		g->ref = g->rel.want;
	} else if (o->ref) {
		if ((r = ms_ref_check(o->ref, err)))
			goto fail;
		snprintf(g->ref_buf, sizeof(g->ref_buf), "%s", o->ref);
		g->ref = g->ref_buf;
	}
	r = ms_error_set(err, MS_ENOMEM, "out of memory");
	for (size_t i = 0; o->includes && i < o->includes->n; i++)
		if (ms_strlist_push_copy(&g->includes, o->includes->v[i]))
			goto fail;
	for (size_t i = 0; o->excludes && i < o->excludes->n; i++)
		if (ms_strlist_push_copy(&g->excludes, o->excludes->v[i]))
			goto fail;
	for (size_t i = 0; o->peers && i < o->peers->n; i++)
		if (ms_strlist_push_copy(&g->peers, o->peers->v[i]))
			goto fail;
	for (size_t i = 0; o->mirrors && i < o->mirrors->urls.n; i++)
		if (ms_strlist_push_copy(&g->mo.urls, o->mirrors->urls.v[i]))
			goto fail;
	g->mo.mode = o->mirrors ? o->mirrors->mode : NULL;
	if ((o->cache_dir && !(g->cache_override = strdup(o->cache_dir))) ||
	    (o->local_dir && !(g->local_dir = strdup(o->local_dir))))
		goto fail;
	/* no index: the DHT, if it is on (ms_dht.h); and the daemon's own
	 * bridged releases, first */
	g->rel.engine = o->dht ? e : NULL;
	r = ms_release_indexes(&g->rel, o->indexes, c, err);
	if (r == MS_EINVAL && !g->rel.indexes.n && (o->dht || o->extra_index)) {
		r = (o->extra_index && ms_strlist_push_copy(&g->rel.indexes, o->extra_index)) ||
		    (o->dht && ms_strlist_push_copy(&g->rel.indexes, MS_DHT_INDEX))
			    ? ms_error_set(err, MS_ENOMEM, "out of memory") : 0;
	} else if (!r && o->extra_index && ms_strlist_push_copy(&g->rel.indexes, o->extra_index)) {
		r = ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	if (r)
		goto fail;
	rh.ud = g;
	*out = g;
	if ((r = ms_release_resolve(&g->resolver, loop, &g->rel, 0, &rh, err))) {
		*out = NULL;
		goto fail;
	}
	return 0;
fail:
	destroy(g);
	return r;
}

static void destroy(struct ms_getjob *g)
{
	if (g->watching)
		ms_engine_unwatch(g->eng, g->id, on_alert, g);
	if (g->store_open)
		ms_store_release(&g->store);
	ms_release_resolver_free(g->resolver);
	ms_release_release(&g->rel);
	free(g->files);
	free(g->cache_override);
	free(g->local_dir);
	ms_strlist_release(&g->includes);
	ms_strlist_release(&g->excludes);
	ms_strlist_release(&g->peers);
	ms_mirrors_release(&g->mr);
	ms_mirror_opts_release(&g->mo);
	free(g);
}

void ms_getjob_free(struct ms_getjob *g)
{
	if (!g)
		return;
	g->done_said = 1; /* the owner is not told any more */
	if (g->watching)
		ms_engine_unwatch(g->eng, g->id, on_alert, g);
	g->watching = 0;
	stop(g, MS_EIO);
	if (g->pending_work)
		g->released = 1; /* freed when the work comes back */
	else
		destroy(g);
}

void ms_getjob_detach(struct ms_getjob *g)
{
	if (!g)
		return;
	g->watching = 0; /* the engine ended every watch */
	g->eng = NULL;
}
