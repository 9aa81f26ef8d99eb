/* seedbox-bridge.c: the daemon's repos that no index has, bridged from an
 * upstream hub (hf-upstream) into releases of its own */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ms_config.h"
#include "ms_manifest.h"
#include "ms_sign.h"
#include "ms_trust.h"
#include "seedbox-int.h"

/* a bridge that failed "for now" (the upstream down) is tried again
 * after this long */
#define RETRY_LATER_S 10.0
/* a follow that failed (its relay went away, or sent wrong bytes): the
 * index is asked again after this long */
#define FOLLOW_AGAIN_S 1.0
/* followers one daemon's relay feeds (4 x the hub's rate must fit in a
 * host's upload); the rest go to the followers themselves */
#define FANOUT 4
#define MAX_RELAYS 1024
#define FOLLOW_CAP (64u << 10)

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

/* relays waiting on more bytes go on */
static void on_progress(void *ud)
{
	struct repo *r = ud;

	if (r->sb->notify)
		r->sb->notify(r->sb->notify_ud, &r->bridge);
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
	on_progress(ud);
}

/* the upstream's token, if one is configured for its host */
static void upstream_auth(const struct ms_config *c, struct ms_http_auth *auth)
{
	char host[300];

	memset(auth, 0, sizeof(*auth));
	ms_url_host(c->hf_upstream, host, sizeof(host));
	for (size_t i = 0; i < c->n_auth; i++)
		if (*host && !strcasecmp(c->auth_host[i], host)) {
			auth->host = c->auth_host[i];
			auth->scheme = strncmp(c->hf_upstream, "https:", 6) ? "http" : "https";
			auth->value = c->auth_value[i];
		}
}

/* r may be bridged (or follow a bridge) here: an upstream, and an org
 * with no lab key pinned (a lab's key always wins) */
static int may_bridge(struct ms_seedbox *sb, const struct repo *r)
{
	struct ms_error err;
	struct ms_pubkey pk;
	char org[128];

	return sb->bridge_sk && !r->bridge && !r->follow_http &&
	       !ms_repo_check(r->repo, org, sizeof(org), &err) && ms_trust_get(org, &pk, &err);
}

int ms__bridge_start(struct ms_seedbox *sb, struct repo *r)
{
	const struct ms_config *c = sb->config;
	struct ms_upstream_opts o = { 0 };
	struct ms_upstream_hooks h = { on_log, on_done, r, on_file_done, on_progress };
	struct ms_http_auth auth;
	struct ms_error err;
	char work[PATH_MAX + 64], l[400];

	if (!may_bridge(sb, r))
		return 0;
	upstream_auth(c, &auth);
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
	r->following = 0;
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
			free(r->relays);
			r->relays = NULL;
			r->n_relays = r->own_kids = 0;
			if (!r->bridge_code) {
				/* a release now (ours, or soon the bridging
				 * daemon's): the download takes it from an index,
				 * its files from the cache */
				r->st = R_QUEUED;
				ms__log(sb, "%s: %s; adding it", ms__label(r, l, sizeof(l)),
					r->following ? "followed" : "bridged");
			} else {
				r->st = R_FAILED;
				r->code = r->bridge_code;
				r->failed_at = now;
				r->retry_at = now + (r->following ? FOLLOW_AGAIN_S : RETRY_LATER_S);
				ms__log(sb, "%s: %s failed: %s", ms__label(r, l, sizeof(l)),
					r->following ? "following" : "bridging",
					r->error ? r->error : ms_strerror(r->code));
			}
			ms__save_record(sb, r);
			ms__notify(sb, r);
			on_progress(r);   /* requests waiting on its bytes look again */
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
	if (r->follow_http) {
		ms_http_close(r->follow_http);
		r->follow_http = NULL;
	}
	free(r->relays);
	r->relays = NULL;
	r->n_relays = r->own_kids = 0;
}

/* ---- following another daemon's bridge -------------------------------- */

/* where other daemons reach our relay, from hf-listen: "PORT" for a
 * wildcard address (the index sees which address we came from), else
 * "ADDR:PORT"; "" when it is the default 127.0.0.1 or another name for
 * this host alone */
static void relay_addr(const struct ms_config *c, char *out, size_t cap)
{
	const char *l = c->hf_listen, *colon;
	long port;
	char *end;

	*out = '\0';
	if (!l || !*l || !(colon = strrchr(l, ':')))
		return;   /* a bare port means 127.0.0.1 */
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || !strncmp(l, "127.0.0.1:", 10) ||
	    !strncmp(l, "[::1]:", 6) || !strncmp(l, "localhost:", 10))
		return;
	if (!strncmp(l, "0.0.0.0:", 8) || !strncmp(l, "[::]:", 5))
		snprintf(out, cap, "%ld", port);
	else if ((size_t)(colon - l) < 64)
		snprintf(out, cap, "%.*s:%ld", (int)(colon - l), l, port);
}

/* the follow URL of an index that is a daemon's (…/modelswarm/index/) */
static int follow_base(const char *index, char *out, size_t cap)
{
	static const char tail[] = "/modelswarm/index";
	size_t n = strlen(index);

	while (n > 0 && index[n - 1] == '/')
		n--;
	if (n < sizeof(tail) || strncmp(index + n - (sizeof(tail) - 1), tail, sizeof(tail) - 1) ||
	    (strncmp(index, "http://", 7) && strncmp(index, "https://", 8)))
		return -1;
	n -= sizeof(tail) - 1;
	return snprintf(out, cap, "%.*s/modelswarm/follow/", (int)n, index) >= (int)cap ? -1 : 0;
}

static int follow_url(struct ms_seedbox *sb, const struct repo *r, char *out, size_t cap)
{
	char base[600], addr[80], *list, *save = NULL;
	int found = -1;

	for (const char *p = r->want; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return -1;   /* a ref with '/': the index's own way only */
	for (size_t i = 0; i < r->indexes.n && found; i++)
		found = follow_base(r->indexes.v[i], base, sizeof(base));
	if (found && !r->indexes.n && sb->config->index && (list = strdup(sb->config->index))) {
		for (char *t = strtok_r(list, " \t", &save); t && found;
		     t = strtok_r(NULL, " \t", &save))
			found = follow_base(t, base, sizeof(base));
		free(list);
	}
	if (found)
		return -1;
	relay_addr(sb->config, addr, sizeof(addr));
	if (*addr)
		return snprintf(out, cap, "%s%s/%s?relay=%s", base, r->repo, r->want, addr) >=
		       (int)cap ? -1 : 0;
	return snprintf(out, cap, "%s%s/%s", base, r->repo, r->want) >= (int)cap ? -1 : 0;
}

static int hex40(const char *s)
{
	return s && strlen(s) == 40 && !ms_revision_check(s);
}

/* the index's answer: {"commit": C, "relay": URL} */
static void on_follow(void *ud, int status, unsigned char *body, size_t len, const char *msg)
{
	struct repo *r = ud;
	struct ms_seedbox *sb = r->sb;
	const struct ms_config *c = sb->config;
	struct ms_upstream_opts o = { 0 };
	struct ms_upstream_hooks h = { on_log, on_done, r, on_file_done, on_progress };
	struct ms_http_auth auth;
	struct ms_error err;
	json_t *j = NULL;
	const char *commit = NULL, *relay = NULL;
	char l[400], why[700];

	ms_http_close(r->follow_http);
	r->follow_http = NULL;
	if (!status && (j = json_loadb((const char *)body, len, 0, NULL))) {
		commit = json_string_value(json_object_get(j, "commit"));
		relay = json_string_value(json_object_get(j, "relay"));
	}
	free(body);
	if (status || !hex40(commit) || !relay) {
		snprintf(why, sizeof(why), "%s", status ? msg : "its answer names no commit and relay");
		goto later;
	}
	upstream_auth(c, &auth);
	o.upstream = c->hf_upstream;
	o.auth = auth.value ? &auth : NULL;
	o.repo = r->repo;
	o.want = commit;
	o.cache_dir = r->cache;
	o.relay = relay;
	o.stall_s = c->webseed_timeout_s > 0 ? (long)c->webseed_timeout_s : 0;
	r->bridge_ended = 0;
	r->following = 1;
	if (ms_upstream_start(&r->bridge, sb->loop, &o, &h, &err)) {
		snprintf(why, sizeof(why), "%s", err.msg);
		goto later;
	}
	ms__log(sb, "%s: another daemon is bridging it: following it (commit %s, relay %s)",
		ms__label(r, l, sizeof(l)), commit, relay);
	json_decref(j);
	ms__notify(sb, r);
	return;
later:
	json_decref(j);
	ms__log(sb, "%s: cannot follow its bridge (%s): waiting for the release",
		ms__label(r, l, sizeof(l)), why);
	r->st = R_FAILED;
	r->code = MS_EAGAIN;
	r->failed_at = ms__now_s(sb);
	r->retry_at = r->failed_at + 2.0;
	ms__notify(sb, r);
}

int ms__follow_start(struct ms_seedbox *sb, struct repo *r)
{
	struct ms_error err;
	char l[400];

	if (!may_bridge(sb, r) || follow_url(sb, r, r->follow_url, sizeof(r->follow_url)))
		return 0;
	if (ms_http_new(&r->follow_http, sb->loop, &err))
		return 0;
	if (ms_http_get_api(r->follow_http, r->follow_url, FOLLOW_CAP, NULL, NULL, on_follow, r,
			    &err)) {
		ms_http_close(r->follow_http);
		r->follow_http = NULL;
		return 0;
	}
	r->st = R_BRIDGING;
	ms__log(sb, "%s: an index is preparing it: asking %s", ms__label(r, l, sizeof(l)),
		r->follow_url);
	return 1;
}

/* ---- for the endpoint: followers and relays ---------------------------- */

static struct repo *bridging(struct ms_seedbox *sb, const char *repo, const char *rev)
{
	for (struct repo *r = sb->repos; r; r = r->next)
		if (r->st == R_BRIDGING && r->bridge && !r->following && !strcmp(r->repo, repo) &&
		    (!strcmp(r->want, rev) || (ms_upstream_commit(r->bridge) &&
					       !strcmp(ms_upstream_commit(r->bridge), rev))))
			return r;
	return NULL;
}

int ms_seedbox_follow(struct ms_seedbox *sb, const char *repo, const char *rev,
		      const char *asker, char *relay, size_t cap, char commit[41],
		      const void **key)
{
	struct repo *r = bridging(sb, repo, rev);
	struct relay_node *best = NULL;

	*relay = '\0';
	*commit = '\0';
	*key = NULL;
	if (!r)
		return MS_ENOTFOUND;
	*key = r;
	if (!ms_upstream_commit(r->bridge))
		return MS_EAGAIN;   /* its tree is not read yet */
	snprintf(commit, 41, "%s", ms_upstream_commit(r->bridge));
	/* this daemon feeds FANOUT followers; the others take their bytes
	 * from the first follower (in the order they came) that feeds
	 * fewer: the tree fills level by level, log4(N) deep. A follower
	 * that asks again (its relay failed it) is fed from here. */
	for (int i = 0; asker && i < r->n_relays; i++)
		if (!strcmp(asker, r->relays[i].url)) {
			r->own_kids++;
			return 0;
		}
	if (r->own_kids >= FANOUT)
		for (int i = 0; i < r->n_relays; i++)
			if (r->relays[i].kids < FANOUT && (!asker || strcmp(asker, r->relays[i].url))) {
				best = &r->relays[i];
				break;
			}
	if (best) {
		best->kids++;
		snprintf(relay, cap, "%s", best->url);
	} else {
		r->own_kids++;
	}
	if (asker && strlen(asker) < sizeof(r->relays->url) && r->n_relays < MAX_RELAYS) {
		int i;
		for (i = 0; i < r->n_relays && strcmp(r->relays[i].url, asker); i++)
			;
		if (i == r->n_relays) {
			struct relay_node *v = realloc(r->relays, (size_t)(i + 1) * sizeof(*v));
			if (v) {
				r->relays = v;
				memset(&v[i], 0, sizeof(v[i]));
				snprintf(v[i].url, sizeof(v[i].url), "%s", asker);
				r->n_relays++;
			}
		}
	}
	return 0;
}

int ms_seedbox_relay_file(struct ms_seedbox *sb, const char *repo, const char *etag,
			  struct ms_seedbox_relay *out)
{
	memset(out, 0, sizeof(*out));
	for (struct repo *r = sb->repos; r; r = r->next) {
		const char *path, *e;
		long i;
		if (!r->bridge || strcmp(r->repo, repo) || (i = ms_upstream_find(r->bridge, etag)) < 0)
			continue;
		ms_upstream_file(r->bridge, (size_t)i, &path, &out->size, &e, &out->done);
		out->repo_dir = ms_upstream_repo_dir(r->bridge);
		out->key = &r->bridge;
		return 0;
	}
	return MS_ENOTFOUND;
}

/* ---- a lab's release and ours of one commit ----------------------------- */

int ms__bridge_agree(struct ms_seedbox *sb, const char *repo, const char *rev,
		     const unsigned char *manifest, size_t len, struct ms_error *err)
{
	const char *name = sb->config->bridge_name ? sb->config->bridge_name : "local";
	struct ms_verified lab, ours;
	struct ms_pubkey pk, own;
	struct ms_error e2;
	unsigned char *mb = NULL, *sig = NULL;
	size_t mlen = 0, slen = 0;
	char org[128], path[PATH_MAX + 400], l[400];
	int rc = 0;

	/* only a lab's release (its org's key pinned) meets one of ours:
	 * that org was not pinned when we bridged the commit */
	if (!sb->bridge_sk || ms_repo_check(repo, org, sizeof(org), &e2) ||
	    ms_trust_get(org, &pk, &e2))
		return 0;
	snprintf(path, sizeof(path), "%s/%s/%s.manifest.json", sb->bridge_index, repo, rev);
	if (ms_read_file(path, MS_MANIFEST_MAX, &mb, &mlen, &e2))
		return 0;   /* we never bridged that commit */
	memset(&lab, 0, sizeof(lab));
	memset(&ours, 0, sizeof(ours));
	ms_seckey_public(sb->bridge_sk, &own);
	snprintf(path + strlen(path), sizeof(path) - strlen(path), ".minisig");
	if (ms_read_file(path, MS_SIGFILE_MAX, &sig, &slen, &e2) ||
	    ms_verify(&own, mb, mlen, (const char *)sig, slen, ours.trusted_comment,
		      sizeof(ours.trusted_comment), &e2) ||
	    ms_manifest_parse(mb, mlen, &ours.m, &e2) || !ours.m.source_upstream ||
	    !ours.m.repo || strcmp(ours.m.repo, repo) || strcmp(ours.m.revision, rev)) {
		/* not one of ours after all (another key, another release) */
		snprintf(l, sizeof(l), "%s@%s", repo, rev);
		ms__log(sb, "%s: the bridged release in %s is not ours to compare: %s", l,
			sb->bridge_index, e2.msg);
		goto out;
	}
	ms_keynum_hex(own.keynum, ours.keyid);
	snprintf(ours.bridge, sizeof(ours.bridge), "%s", name);
	if ((rc = ms_manifest_parse(manifest, len, &lab.m, err)))
		goto out;
	ms_keynum_hex(pk.keynum, lab.keyid);
	rc = ms_release_agree(&lab, &ours, err);
out:
	ms_manifest_release(&lab.m);
	ms_manifest_release(&ours.m);
	free(mb);
	free(sig);
	return rc;
}

const char *ms_seedbox_bridge_index(const struct ms_seedbox *sb)
{
	return sb->bridge_sk ? sb->bridge_index : NULL;
}
