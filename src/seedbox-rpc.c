/* seedbox-rpc.c: the bodies of the daemon's RPC methods and its metrics
 * -- JSON in, JSON out; the meaning is in seedbox.c and seedbox-subs.c,
 * the transport in rpc.c */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_manifest.h"
#include "ms_metrics.h"
#include "seedbox-int.h"

/* ---- operations (the RPC methods' bodies) ---------------------------------- */

#define FAIL(c, ...) \
	do { \
		*code = (c); \
		snprintf(msg, msglen, __VA_ARGS__); \
		return NULL; \
	} while (0)

static int strlist_param(struct ms_strlist *l, json_t *params, const char *key)
{
	json_t *a = json_object_get(params, key), *v;
	size_t i;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return -1;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || ms_strlist_push_copy(l, json_string_value(v)))
			return -1;
	}
	return 0;
}

/* r as ls shows it; its status in *stp, or NULL if it has none */
static json_t *repo_json_st(struct ms_seedbox *sb, struct repo *r, const struct lts_status *stp)
{
	struct lts_status st;
	json_t *o;
	int have = r->tid && stp;
	const char *state = ms__state_names[r->st];

	memset(&st, 0, sizeof(st));
	if (have)
		st = *stp;

	if (r->restoring)
		state = "loading";
	else if (r->st == R_SEEDING && (r->paused || r->limited))
		state = r->limited ? "stopped" : "paused";
	else if (r->st == R_QUEUED && r->paused)
		state = "paused";
	if (have && r->st == R_SEEDING && (st.state == LTS_STATE_CHECKING_FILES ||
					   st.state == LTS_STATE_CHECKING_RESUME_DATA))
		state = "checking";
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,"
		      "s:i,s:i,s:I,s:i}",
		      "id", r->id, "repo", r->repo, "want", r->want, "revision", r->rev,
		      "state", state, "cache", r->cache, "pinned", r->pinned, "size",
		      (json_int_t)r->size, "done",
		      (json_int_t)(have ? st.total_wanted_done
					: r->st == R_SEEDING ? r->size : 0),
		      "uploaded", (json_int_t)(have && r->up_base + st.payload_upload > r->uploaded
						       ? r->up_base + st.payload_upload
						       : r->uploaded),
		      "downloaded", (json_int_t)r->downloaded, "from_mirrors",
		      (json_int_t)r->from_mirrors, "seed_seconds", (json_int_t)r->seed_s,
		      "upload_rate", have ? st.upload_rate : 0, "download_rate",
		      have ? st.download_rate : 0, "peers", have ? st.num_peers : 0,
		      "upload_limit", r->up_limit, "download_limit", r->down_limit,
		      "last_active", (json_int_t)r->last_active, "checks", r->checks);
	if (!o)
		return NULL;
	json_object_set_new(o, "ratio", json_real(r->size > 0 ? (double)r->uploaded /
							 (double)r->size : 0.0));
	json_object_set_new(o, "total", json_integer(have && st.total_wanted ? st.total_wanted
									  : r->size));
	if (r->st == R_FAILED)
		json_object_set_new(o, "error_code", json_string(ms_errname(r->code) ? ms_errname(r->code)
										 : "EIO"));
	if (r->bridge) {
		/* bridging: what the upstream sent and checked so far */
		int64_t done, total;
		ms_upstream_progress(r->bridge, &done, &total);
		json_object_set_new(o, "done", json_integer(done));
		json_object_set_new(o, "total", json_integer(total));
	}
	if (r->job) {
		struct ms_getjob_info in;
		ms_getjob_info(r->job, &in);
		json_object_set_new(o, "mirror_bytes", json_integer(in.from_mirrors));
		if (in.repo_dir && in.rev) {
			char snap[PATH_MAX + 64];
			snprintf(snap, sizeof(snap), "%s/snapshots/%s", in.repo_dir, in.rev);
			json_object_set_new(o, "snapshot", json_string(snap));
		}
	}
	if (r->st == R_SEEDING) {
		char snap[PATH_MAX + 64];
		const char *dir = ms__repo_dir(r, NULL);
		if (dir) {
			snprintf(snap, sizeof(snap), "%s/snapshots/%s", dir, r->rev);
			json_object_set_new(o, "snapshot", json_string(r->local_dir ? r->local_dir
										  : snap));
		}
	}
	if (r->st == R_SEEDING)
		json_object_set_new(o, "loaded", json_boolean(r->tid != 0));
	if (r->error)
		json_object_set_new(o, "error", json_string(r->error));
	if (r->sub)
		json_object_set_new(o, "subscription", json_string(r->sub));
	return o;
}

static json_t *repo_json(struct ms_seedbox *sb, struct repo *r)
{
	struct lts_status st;

	return repo_json_st(sb, r, r->tid && !ms_engine_status(sb->eng, r->tid, &st, NULL)
					   ? &st : NULL);
}

/* does target (an id, ORG/NAME, ORG/NAME@REV or @REF, or a revision
 * prefix of 7+ hex) name r? */
static int matches(const struct repo *r, const char *target)
{
	const char *at = strchr(target, '@');
	size_t rl = at ? (size_t)(at - target) : strlen(target);

	if (!strcmp(target, r->id))
		return 1;
	if (strlen(r->repo) != rl || strncmp(r->repo, target, rl))
		return 0;
	if (!at)
		return 1;
	at++;
	return !strcmp(at, r->want) ||
	       (strlen(at) >= 7 && strlen(at) <= 40 && !strncmp(r->rev, at, strlen(at)));
}

static const char *target_param(json_t *params)
{
	return json_string_value(json_object_get(params, "target"));
}

json_t *ms_seedbox_add(struct ms_seedbox *sb, json_t *params, int *code, char *msg, size_t msglen)
{
	struct ms_seedbox_req q;
	struct ms_strlist indexes = { 0 }, includes = { 0 }, excludes = { 0 }, peers = { 0 };
	struct ms_error err;
	struct repo *r = NULL;
	json_t *v;
	int existing = 0, e;

	memset(&q, 0, sizeof(q));
	q.spec = json_string_value(json_object_get(params, "spec"));
	q.cache_dir = json_string_value(json_object_get(params, "cache_dir"));
	q.local_dir = json_string_value(json_object_get(params, "local_dir"));
	q.subscription = json_string_value(json_object_get(params, "subscription"));
	q.ref = json_string_value(json_object_get(params, "ref"));
	q.pinned = json_is_true(json_object_get(params, "pinned"));
	q.paused = json_is_true(json_object_get(params, "paused"));
	q.up_limit = (int)json_integer_value(json_object_get(params, "upload_limit"));
	q.down_limit = (int)json_integer_value(json_object_get(params, "download_limit"));
	q.indexes = &indexes;
	q.includes = &includes;
	q.excludes = &excludes;
	q.peers = &peers;
	if (strlist_param(&indexes, params, "indexes") ||
	    strlist_param(&includes, params, "include") ||
	    strlist_param(&excludes, params, "exclude") ||
	    strlist_param(&peers, params, "peers")) {
		e = ms_error_set(&err, MS_EINVAL, "indexes, include, exclude and peers are arrays "
				 "of strings");
	} else {
		e = ms__add(sb, &q, &r, &existing, &err);
	}
	ms_strlist_release(&indexes);
	ms_strlist_release(&includes);
	ms_strlist_release(&excludes);
	ms_strlist_release(&peers);
	if (e)
		FAIL(e == MS_EINVAL ? -32602 : -32603, "%s", err.msg);
	v = repo_json(sb, r);
	if (existing)
		json_object_set_new(v, "existing", json_true());
	return v;
}

json_t *ms_seedbox_list(struct ms_seedbox *sb, json_t *params, int *code, char *msg, size_t msglen)
{
	const char *t = target_param(params);
	json_t *a;
	struct lts_status *st;
	int *have;
	size_t n, k = 0;

	if (ms__repos_status(sb, &st, &have, &n))
		FAIL(-32603, "out of memory");
	a = json_array();
	for (struct repo *r = sb->repos; a && r; r = r->next, k++)
		if (!t || matches(r, t))
			json_array_append_new(a, repo_json_st(sb, r, have[k] ? &st[k] : NULL));
	free(st);
	free(have);
	return a;
}

json_t *ms_seedbox_remove(struct ms_seedbox *sb, json_t *params, int *code, char *msg,
		       size_t msglen)
{
	const char *t = target_param(params);
	int data = json_is_true(json_object_get(params, "data")), n = 0;
	struct repo *r, *next;
	char l[400];

	if (!t)
		FAIL(-32602, "rm needs \"target\": an id or ORG/NAME[@REV]");
	for (r = sb->repos; r; r = next) {
		next = r->next;
		if (!matches(r, t))
			continue;
		ms__log(sb, "%s: removed%s", ms__label(r, l, sizeof(l)), data ? " with its files" : "");
		ms__remove_repo(sb, r, data);
		n++;
	}
	if (!n)
		FAIL(-32001, "no repo matches '%s'", t);
	ms__start_queued(sb);
	return json_pack("{s:i}", "removed", n);
}

json_t *ms_seedbox_pause(struct ms_seedbox *sb, json_t *params, int pause, int *code, char *msg,
		      size_t msglen)
{
	const char *t = target_param(params);
	int n = 0;

	if (!t)
		FAIL(-32602, "needs \"target\": an id or ORG/NAME[@REV]");
	for (struct repo *r = sb->repos; r; r = r->next) {
		if (!matches(r, t))
			continue;
		n++;
		r->paused = pause;
		if (!pause)
			r->limited = 0; /* the operator wants it back */
		if (r->tid)
			ms_engine_pause(sb->eng, r->tid, pause, NULL);
		else if (r->unloaded && pause)
			ms__undormant(sb, r); /* (a peer waking it finds it paused) */
		else if (r->unloaded)
			ms__make_dormant(sb, r);
		ms__save_record(sb, r);
	}
	if (!n)
		FAIL(-32001, "no repo matches '%s'", t);
	if (!pause)
		ms__start_queued(sb);
	return json_pack("{s:i}", "changed", n);
}

static int rate_param(json_t *params, const char *key, int *out)
{
	json_t *v = json_object_get(params, key);
	int64_t x;

	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= INT32_MAX) {
		*out = (int)json_integer_value(v);
		return 1;
	}
	if (json_is_string(v) && !ms_parse_size(json_string_value(v), &x) && x <= INT32_MAX) {
		*out = (int)x;
		return 1;
	}
	return -1;
}

json_t *ms_seedbox_limits(struct ms_seedbox *sb, json_t *params, int *code, char *msg,
		       size_t msglen)
{
	const char *t = target_param(params);
	int up = -1, down = -1, a, b, n = 0;

	a = rate_param(params, "upload", &up);
	b = rate_param(params, "download", &down);
	if (a < 0 || b < 0)
		FAIL(-32602, "upload and download are bytes/s (a number, or a size such as "
		     "\"2M\"; 0: none)");
	if (!t) {
		/* the daemon's: in force until a restart or a reload of the
		 * configuration file */
		struct ms_config *c = sb->config;
		json_t *ratio = json_object_get(params, "seed_ratio");
		json_t *stime = json_object_get(params, "seed_time");
		json_t *active = json_object_get(params, "max_active");
		int64_t budget = -1;
		json_t *bv = json_object_get(params, "disk_budget");
		char us[32], ds[32];
		struct lts_setting set[2];
		size_t k = 0;
		struct ms_error err;
		if ((ratio && (!json_is_number(ratio) || json_number_value(ratio) < 0)) ||
		    (stime && (!json_is_integer(stime) || json_integer_value(stime) < 0)) ||
		    (active && (!json_is_integer(active) || json_integer_value(active) < 0 ||
				json_integer_value(active) > 10000)))
			FAIL(-32602, "seed_ratio is a number, seed_time seconds, max_active a "
			     "count (0: none / the default)");
		if (bv && ((json_is_integer(bv) && (budget = json_integer_value(bv)) < 0) ||
			   (json_is_string(bv) && ms_parse_size(json_string_value(bv), &budget)) ||
			   (!json_is_integer(bv) && !json_is_string(bv))))
			FAIL(-32602, "disk_budget is bytes (a number, or a size such as \"500G\")");
		if (up >= 0) {
			c->upload_limit = up;
			snprintf(us, sizeof(us), "%d", up);
			set[k++] = (struct lts_setting){ "upload_rate_limit", us };
		}
		if (down >= 0) {
			c->download_limit = down;
			snprintf(ds, sizeof(ds), "%d", down);
			set[k++] = (struct lts_setting){ "download_rate_limit", ds };
		}
		if (k && ms_engine_apply(sb->eng, set, k, &err))
			FAIL(-32603, "%s", err.msg);
		if (ratio)
			c->seed_ratio_limit = json_number_value(ratio);
		if (stime)
			c->seed_time_limit_s = json_integer_value(stime);
		if (active)
			c->max_active_downloads = json_integer_value(active);
		if (bv)
			c->disk_budget = budget;
		if (active)
			ms__start_queued(sb);
		return json_pack("{s:I,s:I,s:f,s:I,s:I,s:i}", "upload", (json_int_t)c->upload_limit,
				 "download", (json_int_t)c->download_limit, "seed_ratio",
				 c->seed_ratio_limit, "seed_time", (json_int_t)c->seed_time_limit_s,
				 "disk_budget", (json_int_t)c->disk_budget, "max_active",
				 ms__max_active(sb));
	}
	for (struct repo *r = sb->repos; r; r = r->next) {
		if (!matches(r, t))
			continue;
		n++;
		if (up >= 0)
			r->up_limit = up;
		if (down >= 0)
			r->down_limit = down;
		if (r->tid)
			ms_engine_set_limits(sb->eng, r->tid, r->up_limit, r->down_limit, NULL);
		ms__save_record(sb, r);
	}
	if (!n)
		FAIL(-32001, "no repo matches '%s'", t);
	return json_pack("{s:i}", "changed", n);
}

json_t *ms_seedbox_status(struct ms_seedbox *sb)
{
	int64_t up = 0, down = 0, disk = 0;
	int counts[5] = { 0 }, rate_up = 0, rate_down = 0, peers = 0, subs = 0, loaded = 0;
	struct lts_status *st = NULL;
	int *have = NULL;
	size_t n, k = 0;

	ms__repos_status(sb, &st, &have, &n);
	for (struct repo *r = sb->repos; r; r = r->next, k++) {
		counts[r->st]++;
		loaded += r->tid != 0;
		disk += r->size;
		up += r->uploaded;
		down += r->downloaded;
		if (r->tid && have && have[k]) {
			rate_up += st[k].upload_rate;
			rate_down += st[k].download_rate;
			peers += st[k].num_peers;
		}
	}
	free(st);
	free(have);
	for (struct sub *s = sb->subs; s; s = s->next)
		subs++;
	return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:i,s:i,s:i,s:I,s:I,s:i,s:i,"
			 "s:I}",
			 "repos", counts[0] + counts[1] + counts[2] + counts[3] + counts[4], "seeding",
			 counts[R_SEEDING], "loaded", loaded, "downloading", counts[R_DOWNLOADING],
			 "bridging", counts[R_BRIDGING], "queued",
			 counts[R_QUEUED], "failed", counts[R_FAILED], "uploaded",
			 (json_int_t)up, "downloaded", (json_int_t)down, "disk_used",
			 (json_int_t)disk, "upload_rate", rate_up, "download_rate", rate_down,
			 "peers", peers, "disk_budget",
			 (json_int_t)sb->config->disk_budget, "evicted",
			 (json_int_t)sb->evicted, "upload_limit", (int)sb->config->upload_limit,
			 "download_limit", (int)sb->config->download_limit, "hash_failures",
			 (json_int_t)sb->hash_failures);
	(void)subs;
}
json_t *ms_seedbox_subscribe(struct ms_seedbox *sb, json_t *params, int *code, char *msg,
			     size_t msglen)
{
	struct ms_strlist indexes = { 0 };
	json_t *k = json_object_get(params, "keep");
	struct ms_error err;
	struct sub *s;
	int e;

	if (k && !json_is_integer(k))
		FAIL(-32602, "keep is a number of revisions (0: all)");
	if (strlist_param(&indexes, params, "indexes")) {
		ms_strlist_release(&indexes);
		FAIL(-32602, "indexes is an array of strings");
	}
	e = ms__subscribe(sb, json_string_value(json_object_get(params, "spec")),
			  json_string_value(json_object_get(params, "cache_dir")), &indexes,
			  k ? (json_integer_value(k) < 0 || json_integer_value(k) > 1000
				       ? -2 : (int)json_integer_value(k)) : -1,
			  &s, &err);
	ms_strlist_release(&indexes);
	if (e)
		FAIL(e == MS_EINVAL ? -32602 : -32603, "%s", err.msg);
	return ms__sub_json(s);
}

json_t *ms_seedbox_unsubscribe(struct ms_seedbox *sb, json_t *params, int *code, char *msg,
			       size_t msglen)
{
	const char *spec = json_string_value(json_object_get(params, "spec"));
	int n;

	if (!spec)
		FAIL(-32602, "unsubscribe needs \"spec\": \"ORG/NAME[@REF]\"");
	if (!(n = ms__unsubscribe(sb, spec)))
		FAIL(-32001, "no subscription matches '%s'", spec);
	return json_pack("{s:i}", "removed", n);
}

json_t *ms_seedbox_subscriptions(struct ms_seedbox *sb)
{
	json_t *a = json_array();

	for (struct sub *s = sb->subs; a && s; s = s->next)
		json_array_append_new(a, ms__sub_json(s));
	return a;
}

/* ---- metrics -------------------------------------------------------------- */

int ms_seedbox_metrics(struct ms_seedbox *sb, char **buf, size_t *len)
{
	static const struct {
		const char *name, *type, *help;
	} per[] = {
		{ "modelswarm_repo_size_bytes", "gauge", "Bytes of the repo's files." },
		{ "modelswarm_repo_uploaded_bytes_total", "counter", "Bytes uploaded to peers, all time." },
		{ "modelswarm_repo_downloaded_bytes_total", "counter", "Bytes downloaded (peers and mirrors)." },
		{ "modelswarm_repo_mirror_bytes_total", "counter", "Bytes downloaded from HTTP mirrors." },
		{ "modelswarm_repo_upload_rate_bytes", "gauge", "Upload rate, bytes/s." },
		{ "modelswarm_repo_download_rate_bytes", "gauge", "Download rate, bytes/s." },
		{ "modelswarm_repo_peers", "gauge", "Connected peers." },
		{ "modelswarm_repo_seeding", "gauge", "1 while the repo is seeding." },
	};
	struct ms_metrics_buf b;
	int64_t disk = 0, up = 0, down = 0, mirror = 0;
	int counts[5] = { 0 }, peers = 0, loaded = 0;
	size_t n = 0, k;
	struct repo *r;
	struct lts_status *st;
	int *have;

	if (ms__repos_status(sb, &st, &have, &n))
		return MS_ENOMEM;
	for (r = sb->repos, k = 0; r; r = r->next, k++) {
		have[k] = have[k] && r->tid;
		if (have[k] && r->up_base + st[k].payload_upload > r->uploaded)
			r->uploaded = r->up_base + st[k].payload_upload;
		counts[r->st]++;
		disk += r->size;
		up += r->uploaded;
		down += r->downloaded;
		mirror += r->from_mirrors;
		peers += have[k] ? st[k].num_peers : 0;
		loaded += r->tid != 0;
	}
	ms_mb_init(&b);
	for (size_t m = 0; m < sizeof(per) / sizeof(per[0]); m++) {
		ms_mb_help(&b, per[m].name, per[m].type, per[m].help);
		for (r = sb->repos, k = 0; r; r = r->next, k++) {
			int64_t v = 0;
			switch (m) {
			case 0: v = r->size; break;
			case 1: v = r->uploaded; break;
			case 2: v = r->downloaded; break;
			case 3: v = r->from_mirrors; break;
			case 4: v = have[k] ? st[k].upload_rate : 0; break;
			case 5: v = have[k] ? st[k].download_rate : 0; break;
			case 6: v = have[k] ? st[k].num_peers : 0; break;
			default:
				v = r->st == R_SEEDING && !r->paused && !r->limited;
				break;
			}
			ms_mb_int(&b, per[m].name, v, "repo", r->repo, "revision",
				  r->rev[0] ? r->rev : r->want, "id", r->id, (char *)NULL);
		}
	}
	ms_mb_help(&b, "modelswarm_repos", "gauge", "Repos kept, by state.");
	for (int s = 0; s < 5; s++)
		ms_mb_int(&b, "modelswarm_repos", counts[s], "state", ms__state_names[s], (char *)NULL);
	ms_mb_help(&b, "modelswarm_uploaded_bytes_total", "counter", "Bytes uploaded, all repos.");
	ms_mb_int(&b, "modelswarm_uploaded_bytes_total", up, (char *)NULL);
	ms_mb_help(&b, "modelswarm_downloaded_bytes_total", "counter", "Bytes downloaded, all repos.");
	ms_mb_int(&b, "modelswarm_downloaded_bytes_total", down, (char *)NULL);
	ms_mb_help(&b, "modelswarm_mirror_bytes_total", "counter", "Bytes from HTTP mirrors.");
	ms_mb_int(&b, "modelswarm_mirror_bytes_total", mirror, (char *)NULL);
	ms_mb_help(&b, "modelswarm_repos_loaded", "gauge",
		   "Repos in the torrent session (the others are idle).");
	ms_mb_int(&b, "modelswarm_repos_loaded", loaded, (char *)NULL);
	ms_mb_help(&b, "modelswarm_peers", "gauge", "Connected peers, all repos.");
	ms_mb_int(&b, "modelswarm_peers", peers, (char *)NULL);
	ms_mb_help(&b, "modelswarm_hash_failures_total", "counter",
		   "Pieces that failed their hash check since the daemon started.");
	ms_mb_int(&b, "modelswarm_hash_failures_total", sb->hash_failures, (char *)NULL);
	ms_mb_help(&b, "modelswarm_disk_used_bytes", "gauge", "Bytes of the repos kept.");
	ms_mb_int(&b, "modelswarm_disk_used_bytes", disk, (char *)NULL);
	ms_mb_help(&b, "modelswarm_disk_budget_bytes", "gauge", "The disk budget (0: none).");
	ms_mb_int(&b, "modelswarm_disk_budget_bytes", sb->config->disk_budget, (char *)NULL);
	ms_mb_help(&b, "modelswarm_evicted_total", "counter",
		   "Repos evicted for the disk budget since the daemon started.");
	ms_mb_int(&b, "modelswarm_evicted_total", sb->evicted, (char *)NULL);
	free(st);
	free(have);
	return ms_mb_finish(&b, buf, len);
}
