/* seedbox-records.c: the daemon's repos as kept on disk --
 * <state>/daemon/repos/<id>.{json,torrent,resume,manifest.json}, each written
 * atomically; a record of an older daemon is still read -- and what
 * every part of the seedbox needs of a repo (its log line, its error) */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ms_manifest.h"
#include "seedbox-int.h"

const char *const ms__state_names[] = { "queued", "downloading", "seeding", "failed",
					 "bridging" };

double ms__now_s(const struct ms_seedbox *sb)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - sb->t0.tv_sec) + (double)(t.tv_nsec - sb->t0.tv_nsec) / 1e9;
}

void ms__log(struct ms_seedbox *sb, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (sb->hooks.log)
		sb->hooks.log(sb->hooks.ud, buf);
}

const char *ms__label(const struct repo *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s@%s", r->repo, r->rev[0] ? r->rev : r->want);
	return buf;
}

void ms__repo_error(struct repo *r, const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	free(r->error);
	r->error = NULL;
	if (!fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->error = strdup(buf);
}

/* ---- records on disk ---------------------------------------------------- */

void ms__file_path(const struct ms_seedbox *sb, const char *id, const char *ext, char *buf,
		   size_t len)
{
	snprintf(buf, len, "%s/repos/%s.%s", sb->dir, id, ext);
}

json_t *ms__strlist_json(const struct ms_strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

void ms__strlist_from(struct ms_strlist *l, json_t *a)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v)
		if (json_is_string(v))
			ms_strlist_push_copy(l, json_string_value(v));
}

int ms__save_record(struct ms_seedbox *sb, struct repo *r)
{
	char path[PATH_MAX + 64], *s;
	struct ms_error err;
	json_t *o, *files = json_array();
	int rc;

	for (int i = 0; files && i < r->n_files; i++)
		json_array_append_new(files, json_pack("[s,i]", r->paths[i], r->prio[i]));
	o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s?,s:s?,s:o,s:o,s:o,s:o,s:o,s:s,s:b,s:b,s:b,"
		      "s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:s,s:o}",
		      "format", 1, "id", r->id, "repo", r->repo, "want", r->want, "rev",
		      r->rev, "cache", r->cache, "local_dir", r->local_dir, "indexes",
		      ms__strlist_json(&r->indexes), "include", ms__strlist_json(&r->includes),
		      "exclude", ms__strlist_json(&r->excludes), "peers", ms__strlist_json(&r->peers),
		      "trackers", ms__strlist_json(&r->trackers), "state",
		      ms__state_names[r->st == R_DOWNLOADING || r->st == R_BRIDGING ? R_QUEUED : r->st], "paused",
		      r->paused, "limited", r->limited, "pinned", r->pinned, "added",
		      (json_int_t)r->added, "completed", (json_int_t)r->completed,
		      "last_active", (json_int_t)r->last_active, "size", (json_int_t)r->size,
		      "uploaded", (json_int_t)r->uploaded, "downloaded",
		      (json_int_t)r->downloaded, "from_mirrors", (json_int_t)r->from_mirrors,
		      "seed_seconds", (json_int_t)r->seed_s, "upload_limit", r->up_limit,
		      "download_limit", r->down_limit, "error", r->error ? r->error : "", "files",
		      files ? files : json_null());
	if (!o)
		return MS_ENOMEM;
	if (r->sub)
		json_object_set_new(o, "subscription", json_string(r->sub));
	if (r->forget_missing)
		json_object_set_new(o, "forget_missing", json_true());
	if (r->code && ms_errname(r->code))
		json_object_set_new(o, "error_code", json_string(ms_errname(r->code)));
	if (r->ref[0])
		json_object_set_new(o, "ref", json_string(r->ref));
	if (r->repo_dir)
		json_object_set_new(o, "repo_dir", json_string(r->repo_dir));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return MS_ENOMEM;
	ms__file_path(sb, r->id, "json", path, sizeof(path));
	rc = ms_write_file_atomic(path, s, strlen(s), 0600, &err);
	if (!rc)
		r->saved_uploaded = r->uploaded;
	if (rc)
		ms__log(sb, "cannot save the state of %s: %s", r->repo, err.msg);
	free(s);
	return rc;
}

/* r's last error: printf-like, or NULL to clear it */
/* o's string member key, or "" */
static const char *str_or_empty(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* r->repo, r->want and r->ref, in one allocation (r->repo's; calloc, as
 * ms_keep_strdup); 0 or -1 (out of memory: r unchanged) */
int ms__set_names(struct repo *r, const char *repo, size_t rl, const char *want,
		     const char *ref)
{
	size_t wl = strlen(want), fl = strlen(ref);
	char *p = calloc(1, rl + wl + fl + 3);

	if (!p)
		return -1;
	memcpy(p, repo, rl);
	p[rl] = '\0';
	memcpy(p + rl + 1, want, wl + 1);
	memcpy(p + rl + 1 + wl + 1, ref, fl + 1);
	free(r->repo);
	r->repo = p;
	r->want = p + rl + 1;
	r->ref = r->want + wl + 1;
	return 0;
}

void ms__repo_free(struct repo *r)
{
	if (r->job)
		ms_getjob_free(r->job);
	free(r->paths); /* (and r->prio: one block) */
	free(r->repo);
	free(r->cache);
	free(r->repo_dir);
	free(r->local_dir);
	free(r->sub);
	free(r->error);
	ms_strlist_release(&r->indexes);
	ms_strlist_release(&r->includes);
	ms_strlist_release(&r->excludes);
	ms_strlist_release(&r->peers);
	ms_strlist_release(&r->trackers);
	free(r);
}

/* r's file paths and priorities, in one block (r->paths'; calloc, as
 * ms_keep_strdup); 0 or MS_ENOMEM (r unchanged) */
int ms__set_files(struct repo *r, const char *const *paths, const int *prio, int n)
{
	size_t head = (size_t)n * (sizeof(char *) + sizeof(int)), len = head;
	char *b, *at;

	for (int i = 0; i < n; i++)
		len += strlen(paths[i]) + 1;
	if (!(b = calloc(1, len ? len : 1)))
		return MS_ENOMEM;
	free(r->paths);
	r->paths = (char **)(void *)b;
	r->prio = (int *)(void *)(b + (size_t)n * sizeof(char *));
	r->n_files = n;
	at = b + head;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(paths[i]) + 1;
		r->paths[i] = memcpy(at, paths[i], l);
		at += l;
		r->prio[i] = prio[i];
	}
	return 0;
}

struct repo *ms__record_load(struct ms_seedbox *sb, const char *path)
{
	unsigned char *buf = NULL;
	size_t len;
	json_error_t je;
	json_t *o, *files, *v;
	struct repo *r;
	size_t i;
	const char *s;

	if (ms_read_file(path, RECORD_MAX, &buf, &len, NULL))
		return NULL;
	o = json_loadb((const char *)buf, len, 0, &je);
	free(buf);
	if (!o || !(r = calloc(1, sizeof(*r)))) {
		json_decref(o);
		return NULL;
	}
	r->sb = sb;
	snprintf(r->id, sizeof(r->id), "%s", str_or_empty(o, "id"));
	snprintf(r->rev, sizeof(r->rev), "%s", str_or_empty(o, "rev"));
	s = str_or_empty(o, "repo");
	if (ms__set_names(r, s, strlen(s), str_or_empty(o, "want"), str_or_empty(o, "ref"))) {
		json_decref(o);
		free(r);
		return NULL;
	}
	if ((s = json_string_value(json_object_get(o, "error"))) && *s)
		ms__repo_error(r, "%s", s);
	if ((s = json_string_value(json_object_get(o, "cache"))))
		r->cache = ms_keep_strdup(s);
	if ((s = json_string_value(json_object_get(o, "local_dir"))))
		r->local_dir = ms_keep_strdup(s);
	if ((s = json_string_value(json_object_get(o, "repo_dir"))))
		r->repo_dir = ms_keep_strdup(s);
	if ((s = json_string_value(json_object_get(o, "subscription"))))
		r->sub = ms_keep_strdup(s);
	ms__strlist_from(&r->indexes, json_object_get(o, "indexes"));
	ms__strlist_from(&r->includes, json_object_get(o, "include"));
	ms__strlist_from(&r->excludes, json_object_get(o, "exclude"));
	ms__strlist_from(&r->peers, json_object_get(o, "peers"));
	ms__strlist_from(&r->trackers, json_object_get(o, "trackers"));
	s = json_string_value(json_object_get(o, "state"));
	r->st = s && !strcmp(s, "seeding") ? R_SEEDING : s && !strcmp(s, "failed") ? R_FAILED
											: R_QUEUED;
	r->paused = json_is_true(json_object_get(o, "paused"));
	r->limited = json_is_true(json_object_get(o, "limited"));
	r->pinned = json_is_true(json_object_get(o, "pinned"));
	r->forget_missing = json_is_true(json_object_get(o, "forget_missing"));
	r->added = json_integer_value(json_object_get(o, "added"));
	r->completed = json_integer_value(json_object_get(o, "completed"));
	r->last_active = json_integer_value(json_object_get(o, "last_active"));
	r->size = json_integer_value(json_object_get(o, "size"));
	r->uploaded = json_integer_value(json_object_get(o, "uploaded"));
	r->saved_uploaded = r->uploaded;
	r->downloaded = json_integer_value(json_object_get(o, "downloaded"));
	r->from_mirrors = json_integer_value(json_object_get(o, "from_mirrors"));
	r->seed_s = json_integer_value(json_object_get(o, "seed_seconds"));
	r->up_limit = (int)json_integer_value(json_object_get(o, "upload_limit"));
	r->down_limit = (int)json_integer_value(json_object_get(o, "download_limit"));
	if (json_is_string(json_object_get(o, "error_code")))
		r->code = ms_errno_from_name(json_string_value(json_object_get(o, "error_code")));
	else if (json_integer_value(json_object_get(o, "exit_code")))
		/* a record of an older daemon: the exit status get gave */
		r->code = json_integer_value(json_object_get(o, "exit_code")) == 1 ? MS_EVERIFY
										 : MS_EIO;
	files = json_object_get(o, "files");
	if (json_array_size(files)) {
		size_t n = json_array_size(files);
		const char **paths = calloc(n, sizeof(*paths));
		int *prio = calloc(n, sizeof(*prio));
		if (paths && prio) {
			json_array_foreach(files, i, v) {
				s = json_string_value(json_array_get(v, 0));
				paths[i] = s && !strstr(s, "..") && *s != '/' ? s : "blobs/.skip/bad";
				prio[i] = (int)json_integer_value(json_array_get(v, 1));
			}
			ms__set_files(r, paths, prio, (int)n);
		}
		free(paths);
		free(prio);
	}
	json_decref(o);
	if (!r->id[0] || !r->repo[0] || !r->cache || ms_repo_check(r->repo, NULL, 0, NULL) ||
	    (r->st == R_SEEDING && (ms_revision_check(r->rev) || !r->n_files))) {
		ms__repo_free(r);
		return NULL;
	}
	return r;
}


/* ---- the releases held, for the Hugging Face endpoint ---- */

static int held(const struct repo *r, const char *repo)
{
	return r->st == R_SEEDING && r->rev[0] && r->repo_dir && !strcmp(r->repo, repo);
}

/* the refs a repo was resolved through: what was asked for, unless a
 * revision, and the ref a subscription writes */
static int names_ref(const struct repo *r, const char *ref)
{
	return (ms_revision_check(r->want) && !strcmp(r->want, ref)) ||
	       (r->ref && *r->ref && !strcmp(r->ref, ref));
}

int ms_seedbox_held(struct ms_seedbox *sb, const char *repo, const char *want,
		    struct ms_seedbox_held *out, int *known)
{
	const struct repo *best = NULL;
	int is_rev = !ms_revision_check(want);

	*known = 0;
	for (const struct repo *r = sb->repos; r; r = r->next) {
		if (!held(r, repo))
			continue;
		*known = 1;
		if (is_rev ? strcmp(r->rev, want) : !names_ref(r, want))
			continue;
		if (!best || r->completed > best->completed)
			best = r;
	}
	if (!best)
		return MS_ENOTFOUND;
	out->id = best->id;
	out->repo = best->repo;
	out->rev = best->rev;
	out->repo_dir = best->repo_dir;
	return 0;
}

int ms_seedbox_view(struct ms_seedbox *sb, const char *repo, const char *want,
		    struct ms_seedbox_view *out, int *known)
{
	struct ms_seedbox_held h;
	struct ms_getjob_info in;
	const struct repo *r;

	memset(out, 0, sizeof(*out));
	if (!ms_seedbox_held(sb, repo, want, &h, known)) {
		for (r = sb->repos; r && strcmp(r->id, h.id); r = r->next)
			;
		out->key = r;
		out->id = h.id;
		out->repo = h.repo;
		out->rev = h.rev;
		out->repo_dir = h.repo_dir;
		out->complete = 1;
		return 0;
	}
	for (r = sb->repos; r; r = r->next)
		if (r->st != R_SEEDING && !strcmp(r->repo, repo) &&
		    (!strcmp(r->want, want) || !strcmp(r->rev, want) ||
		     (r->ref && !strcmp(r->ref, want)) ||
		     (r->bridge && ms_upstream_commit(r->bridge) &&
		      !strcmp(ms_upstream_commit(r->bridge), want))))
			break;
	if (!r)
		return MS_ENOTFOUND;
	out->key = r;
	out->id = r->id;
	out->repo = r->repo;
	out->rev = r->rev[0] ? r->rev : NULL;
	out->repo_dir = r->repo_dir;
	if (r->st == R_FAILED) {
		out->failed = 1;
		out->code = r->code;
		out->error = r->error;
		out->failed_s = r->failed_at > 0 ? ms__now_s(sb) - r->failed_at : 1e9;
		return 0;
	}
	out->bridging = r->st == R_BRIDGING;
	if (r->bridge && ms_upstream_commit(r->bridge)) {
		out->bridge = r->bridge;
		out->bytes_key = &r->bridge;
		out->rev = ms_upstream_commit(r->bridge);
		out->repo_dir = ms_upstream_repo_dir(r->bridge);
	}
	if (!r->job)
		return 0;   /* queued, or bridging */
	ms_getjob_info(r->job, &in);
	out->job = r->job;
	out->rev = in.rev;
	out->repo_dir = in.repo_dir;
	out->manifest = in.manifest;
	out->manifest_len = in.manifest_len;
	return 0;
}

int ms_seedbox_held_refs(struct ms_seedbox *sb, const char *repo,
			 void (*fn)(void *ud, const char *ref, const char *rev), void *ud)
{
	int n = 0;

	for (const struct repo *r = sb->repos; r; r = r->next) {
		const char *names[2] = { ms_revision_check(r->want) ? r->want : NULL,
					 r->ref && *r->ref ? r->ref : NULL };
		struct ms_seedbox_held h;
		int known;

		if (!held(r, repo))
			continue;
		for (int k = 0; k < 2; k++) {
			int seen = 0;
			if (!names[k] || (k == 1 && names[0] && !strcmp(names[0], names[1])))
				continue;
			/* once per name: skip it if an earlier repo named it */
			for (const struct repo *o = sb->repos; o != r; o = o->next)
				seen |= held(o, repo) && names_ref(o, names[k]);
			if (seen || ms_seedbox_held(sb, repo, names[k], &h, &known))
				continue;
			fn(ud, names[k], h.rev);
			n++;
		}
	}
	return n;
}

void ms_seedbox_manifest_path(const struct ms_seedbox *sb, const char *id, char *buf,
			      size_t len)
{
	ms__file_path(sb, id, "manifest.json", buf, len);
}
