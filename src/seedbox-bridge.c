/* seedbox-bridge.c: the daemon's repos that no index has, bridged from an
 * upstream hub (hf-upstream) into releases of its own */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ms_config.h"
#include "ms_trust.h"
#include "seedbox-int.h"

/* a bridge that failed "for now" (the upstream down) is tried again
 * after this long */
#define RETRY_LATER_S 10.0

/* the key: the configured one, else <state>/bridge/bridge.key, made on
 * first use with its .pub beside it */
static int load_key(struct ms_seedbox *sb, char *path, size_t len, struct ms_error *err)
{
	const char *conf = sb->config->bridge_key;
	char state[PATH_MAX - 64], pub[PATH_MAX + 8];
	struct ms_pubkey pk;
	int r;

	if (conf) {
		snprintf(path, len, "%s", conf);
		if ((r = ms_seckey_is_encrypted(path, err)) < 0)
			return r;
		if (r)
			return ms_error_set(err, MS_EINVAL, "bridge-key '%s' has a password: the "
					    "daemon signs unattended (modelswarm keygen -W)", path);
		return ms_seckey_load(path, NULL, &sb->bridge_sk, err);
	}
	if ((r = ms_state_dir(state, sizeof(state), err)))
		return r;
	snprintf(path, len, "%s/bridge/bridge.key", state);
	if (access(path, F_OK) == 0)
		return ms_seckey_load(path, NULL, &sb->bridge_sk, err);
	snprintf(pub, sizeof(pub), "%s/bridge", state);
	if ((r = ms_mkdir_p(pub, err)) || (r = ms_key_generate(&pk, &sb->bridge_sk, err)) ||
	    (r = ms_seckey_write(path, sb->bridge_sk, NULL, err)))
		return r;
	snprintf(pub, sizeof(pub), "%s/bridge/bridge.pub", state);
	return ms_pubkey_write(pub, &pk, err);
}

int ms__bridge_open(struct ms_seedbox *sb, struct ms_error *err)
{
	struct ms_strlist all = { 0 };
	struct ms_pubkey pk;
	char path[PATH_MAX], id[17], b64[57];
	const char *name = sb->config->bridge_name ? sb->config->bridge_name : "local";
	int r;

	if (!sb->config->hf_upstream)
		return 0;
	if ((r = load_key(sb, path, sizeof(path), err))) {
		char why[sizeof(err->msg)];
		snprintf(why, sizeof(why), "%s", err->msg);
		return ms_error_set(err, r, "hf-upstream: no bridge key: %s", why);
	}
	ms_seckey_public(sb->bridge_sk, &pk);
	ms_strlist_push(&all, "*/*");
	r = ms_trust_bridge_local(name, &pk, &all, err);
	ms_strlist_release(&all);
	if (r)
		return r;
	snprintf(sb->bridge_index, sizeof(sb->bridge_index), "%s/bridge/index", sb->dir);
	if ((r = ms_mkdir_p(sb->bridge_index, err)))
		return r;
	ms_keynum_hex(pk.keynum, id);
	ms_pubkey_base64(&pk, b64);
	ms__log(sb, "bridging from %s as bridge '%s', key %s (%s, public key %s): trust it "
		"elsewhere with 'modelswarm trust add --bridge NAME %s --scope GLOB'",
		sb->config->hf_upstream, name, id, path, b64, b64);
	return 0;
}

void ms__bridge_close(struct ms_seedbox *sb)
{
	ms_seckey_free(sb->bridge_sk);
	sb->bridge_sk = NULL;
}

static void on_log(void *ud, const char *line)
{
	struct repo *r = ud;

	ms__log(r->sb, "%s", line);
}

static void on_done(void *ud, int code, const char *msg, const char *commit)
{
	struct repo *r = ud;

	r->bridge = NULL; /* it frees itself */
	r->bridge_ended = 1;
	r->bridge_code = code;
	if (code)
		ms__repo_error(r, "%s", msg);
	else if (commit && !r->rev[0])
		snprintf(r->rev, sizeof(r->rev), "%s", commit);
}

static void on_file_done(void *ud)
{
	struct repo *r = ud;

	ms__notify(r->sb, r); /* the endpoint may serve that file now */
}

int ms__bridge_start(struct ms_seedbox *sb, struct repo *r)
{
	const struct ms_config *c = sb->config;
	struct ms_upstream_opts o = { 0 };
	struct ms_upstream_hooks h = { on_log, on_done, r, on_file_done };
	struct ms_http_auth auth = { 0 };
	struct ms_error err;
	struct ms_pubkey pk;
	char org[128], host[300], work[PATH_MAX + 64], l[400];

	if (!sb->bridge_sk || r->bridge || ms_repo_check(r->repo, org, sizeof(org), &err))
		return 0;
	/* a lab's pinned key always wins: its org is never bridged */
	if (ms_trust_get(org, &pk, &err) == 0)
		return 0;
	ms_url_host(c->hf_upstream, host, sizeof(host));
	for (size_t i = 0; i < c->n_auth; i++)
		if (*host && !strcasecmp(c->auth_host[i], host)) {
			auth.host = c->auth_host[i];
			auth.scheme = strncmp(c->hf_upstream, "https:", 6) ? "http" : "https";
			auth.value = c->auth_value[i];
		}
	snprintf(work, sizeof(work), "%s/bridge/work-%s", sb->dir, r->id);
	o.upstream = c->hf_upstream;
	o.auth = auth.value ? &auth : NULL;
	o.repo = r->repo;
	o.want = r->want;
	o.cache_dir = r->cache;
	o.index = sb->bridge_index;
	o.work_dir = work;
	o.sk = sb->bridge_sk;
	o.trackers = &c->bridge_trackers;
	o.stall_s = c->webseed_timeout_s > 0 ? (long)c->webseed_timeout_s : 0;
	r->bridge_ended = 0;
	if (ms_upstream_start(&r->bridge, sb->loop, &o, &h, &err)) {
		ms__repo_error(r, "%s", err.msg);
		return 0;
	}
	r->st = R_BRIDGING;
	ms__repo_error(r, NULL);
	ms__log(sb, "%s: no index has it: bridging it from %s", ms__label(r, l, sizeof(l)),
		c->hf_upstream);
	ms__notify(sb, r);
	return 1;
}

void ms__bridge_tick(struct ms_seedbox *sb, double now)
{
	char l[400];

	for (struct repo *r = sb->repos; r; r = r->next) {
		if (r->bridge_ended) {
			r->bridge_ended = 0;
			if (!r->bridge_code) {
				/* a release now: the download takes it from our
				 * index, its files from the cache */
				r->st = R_QUEUED;
				ms__log(sb, "%s: bridged; adding it", ms__label(r, l, sizeof(l)));
			} else {
				r->st = R_FAILED;
				r->code = r->bridge_code;
				r->failed_at = now;
				r->retry_at = now + RETRY_LATER_S;
				ms__log(sb, "%s: bridging failed: %s", ms__label(r, l, sizeof(l)),
					r->error ? r->error : ms_strerror(r->code));
			}
			ms__save_record(sb, r);
			ms__notify(sb, r);
			ms__start_queued(sb);
		} else if (r->st == R_FAILED && r->code == MS_EAGAIN && !r->paused &&
			   now >= r->retry_at) {
			/* an index is preparing it, or the upstream was down */
			r->st = R_QUEUED;
			ms__start_queued(sb);
		}
	}
}

void ms__bridge_cancel(struct repo *r)
{
	if (r->bridge) {
		ms_upstream_cancel(r->bridge);
		r->bridge = NULL;
	}
}

const char *ms_seedbox_bridge_index(const struct ms_seedbox *sb)
{
	return sb->bridge_sk ? sb->bridge_index : NULL;
}
