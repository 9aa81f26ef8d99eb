/* getjob-report.c: what a download tells its owner -- lines (errors also
 * as "error" events) and JSON events, through the owner's hooks -- and
 * what the owner may ask of it (its figures, where its files are) */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "getjob-int.h"

double ms__job_elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* a JSON event for the owner (o is handed over) */
void ms__job_event(struct ms_getjob *g, json_t *o)
{
	if (o && g->hooks.on_event)
		g->hooks.on_event(g->hooks.ud, o);
	else
		json_decref(o);
}

/* a message for the owner; errors are also an "error" event */
static void vsay(struct ms_getjob *g, int error, const char *fmt, va_list ap)
{
	char buf[1200];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (g->hooks.on_line)
		g->hooks.on_line(g->hooks.ud, error, buf);
	if (error)
		ms__job_event(g, json_pack("{s:s,s:s,s:s}", "event", "error", "repo", g->rel.repo,
				   "message", buf));
}

void ms__job_error(struct ms_getjob *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(g, 1, fmt, ap);
	va_end(ap);
}

void ms__job_info(struct ms_getjob *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(g, 0, fmt, ap);
	va_end(ap);
}

/* a mirror's news: an event, or a warning line */
void ms__job_mirror_event(void *ud, const char *mirror, const char *msg)
{
	struct ms_getjob *g = ud;

	if (g->json)
		ms__job_event(g, json_pack("{s:s,s:s,s:s}", "event", "mirror", "url", mirror,
				   "message", msg));
	else if (*mirror)
		ms__job_info(g, "warning: mirror '%s': %s", mirror, msg);
	else
		ms__job_info(g, "%s", msg);
}

/* once checked, a run after an interrupted one says what it found */
void ms__job_said_resuming(struct ms_getjob *g, const struct lts_status *st)
{
	int64_t dsize, ddone;
	char done[32], total[32];

	if (!g->resuming || st->state == LTS_STATE_CHECKING_FILES ||
	    st->state == LTS_STATE_CHECKING_RESUME_DATA)
		return;
	g->resuming = 0;
	if (st->total_wanted_done <= 0)
		return;
	ms_webseed_direct_progress(g->mr.ws, &dsize, &ddone);
	if (!g->json)
		ms__job_info(g, "resuming: %s of %s already verified",
			     ms_fmt_bytes(done, sizeof(done), (double)st->total_wanted_done),
			     ms_fmt_bytes(total, sizeof(total), (double)(st->total_wanted + dsize)));
	ms__job_event(g, json_pack("{s:s,s:I,s:I}", "event", "resuming", "verified",
			   (json_int_t)st->total_wanted_done, "total",
			   (json_int_t)(st->total_wanted + dsize)));
}

/* ---- what the owner asks ---- */

void ms_getjob_info(const struct ms_getjob *g, struct ms_getjob_info *in)
{
	memset(in, 0, sizeof(*in));
	in->repo = g->rel.repo;
	in->want = g->rel.want;
	in->ref = g->ref;
	in->rev = g->rel.rev[0] ? g->rel.rev : NULL;
	in->repo_dir = g->store_open ? g->store.repo_dir : NULL;
	in->cache = g->store_open ? g->store.cache : NULL;
	in->id = g->id;
	in->finished = g->finished;
	in->code = g->code;
	in->path = g->finished ? g->path : NULL;
	in->meta = g->rel.meta;
	in->info = g->rel.meta ? &g->rel.info : NULL;
	in->from_peers = g->finished ? g->final.peer_download : 0;
	in->from_mirrors = ms_mirrors_bytes(&g->mr);
	in->hash_failures = g->hash_failures;
	in->checks = g->checks;
	in->seconds = g->seconds;
	in->size = 0;
	for (size_t i = 0; i < g->n_files; i++)
		if (g->files[i].wanted)
			in->size += g->files[i].mf->size;
	in->trackers = g->rel.verified ? (const char *const *)g->rel.v.m.trackers : NULL;
	in->n_trackers = g->rel.verified ? g->rel.v.m.n_trackers : 0;
	in->mirrors = &g->mr;
	in->manifest = g->rel.verified ? g->rel.manifest.buf : NULL;
	in->manifest_len = g->rel.verified ? g->rel.manifest.len : 0;
}

int ms_getjob_file(const struct ms_getjob *g, const char *path, struct ms_getjob_file *out)
{
	const struct gfile *f = NULL;
	struct lts_file_info fi;

	memset(out, 0, sizeof(*out));
	if (!g->mapped || !g->rel.meta || g->stopped)
		return MS_EAGAIN;
	for (size_t i = 0; i < g->n_files && !f; i++)
		if (!strcmp(g->files[i].mf->path, path))
			f = &g->files[i];
	if (!f)
		return MS_ENOENT;
	/* a twin's bytes come with the file that carries its blob */
	for (size_t i = 0; i < g->n_files && f->st == F_PRESENT; i++) {
		const struct gfile *t = &g->files[i];
		if (t != f && t->st != F_SKIP && t->st != F_PRESENT &&
		    !strcmp(t->mf->etag, f->mf->etag))
			f = t;
	}
	if (!f->wanted || f->st == F_SKIP || ms_torrent_file(g->rel.meta, f->tindex, &fi))
		return MS_ENOENT;
	out->id = g->id;
	out->file = f->tindex;
	out->offset = fi.offset;
	out->size = f->mf->size;
	out->piece_length = g->rel.info.piece_length;
	out->num_pieces = g->rel.info.num_pieces;
	out->whole = f->whole;
	out->final = f->st == F_PRESENT || f->st == F_FINAL;
	return 0;
}

int ms_getjob_mapping(const struct ms_getjob *g, const char **paths, int *prio, int n)
{
	if (!g->rel.meta || !g->mapped || g->rel.info.num_files != n)
		return MS_EINVAL;
	for (int i = 0; i < n; i++) {
		paths[i] = "blobs/.skip/pad";
		prio[i] = 0;
	}
	for (size_t i = 0; i < g->n_files; i++) {
		const struct gfile *f = &g->files[i];
		paths[f->tindex] = f->path;
		prio[f->tindex] = f->prio;
	}
	return 0;
}
