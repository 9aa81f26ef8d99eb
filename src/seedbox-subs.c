/* seedbox-subs.c: the daemon's subscriptions -- a ref followed through
 * the signed refs.json of its indexes (conditional requests, jitter,
 * backoff); each new revision is added like any repo, and the oldest
 * beyond keep are dropped */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ms_dht.h"
#include "ms_manifest.h"
#include "ms_release.h"
#include "ms_store.h"
#include "seedbox-int.h"

/* ---- subscriptions -------------------------------------------------------- */

static void sub_free(struct sub *s)
{
	ms_strlist_release(&s->indexes);
	free(s->cache);
	free(s);
}

json_t *ms__sub_json(const struct sub *s)
{
	json_t *o = json_pack("{s:s,s:s,s:o,s:s,s:i,s:s,s:s,s:i}", "repo", s->repo, "ref",
			      s->ref, "indexes", ms__strlist_json(&s->indexes), "cache", s->cache,
			      "keep", s->keep, "revision", s->rev, "etag", s->etag, "failures",
			      s->failures);
	if (o && s->error[0])
		json_object_set_new(o, "error", json_string(s->error));
	return o;
}

int ms_seedbox_subs_save(struct ms_seedbox *sb)
{
	char path[PATH_MAX + 32], *txt;
	json_t *a = json_array();
	int rc;

	for (struct sub *s = sb->subs; a && s; s = s->next)
		json_array_append_new(a, ms__sub_json(s));
	txt = a ? json_dumps(a, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(a);
	if (!txt)
		return MS_ENOMEM;
	snprintf(path, sizeof(path), "%s/subscriptions.json", sb->dir);
	rc = ms_write_file_atomic(path, txt, strlen(txt), 0600, NULL);
	free(txt);
	return rc;
}

static double interval_s(const struct ms_seedbox *sb)
{
	int64_t v = sb->config->subscribe_interval_s;

	return v > 0 ? (double)v : 600.0;
}

/* the next look: the interval with +-10% jitter, or after failures a
 * doubling delay (5 s, 10 s, ...) capped at the interval */
static void schedule(struct ms_seedbox *sb, struct sub *s)
{
	double iv = interval_s(sb), d = iv;

	if (s->failures) {
		d = 5.0 * (double)(1u << (s->failures < 16 ? s->failures - 1 : 15));
		if (d > iv)
			d = iv;
	}
	d *= 0.9 + 0.2 * (double)randombytes_uniform(1000) / 1000.0;
	s->next_poll = ms__now_s(sb) + d;
}

static struct sub *sub_new(struct ms_seedbox *sb, const char *repo, const char *ref,
			   const char *cache)
{
	struct sub *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->sb = sb;
	snprintf(s->repo, sizeof(s->repo), "%s", repo);
	snprintf(s->ref, sizeof(s->ref), "%s", ref);
	if (!(s->cache = strdup(cache))) {
		free(s);
		return NULL;
	}
	return s;
}

static void subs_tick(struct ms_seedbox *sb);
static void subs_after_seed(struct ms_seedbox *sb, struct repo *r);
static void subs_close(struct ms_seedbox *sb);

static void subs_shutdown(struct ms_seedbox *sb)
{
	ms_seedbox_subs_save(sb);
}

int ms_seedbox_subs_load(struct ms_seedbox *sb)
{
	char path[PATH_MAX + 32];
	unsigned char *buf = NULL;
	size_t len, i;
	json_t *a, *o;

	sb->subs_ops.tick = subs_tick;
	sb->subs_ops.seeded = subs_after_seed;
	sb->subs_ops.shutdown = subs_shutdown;
	sb->subs_ops.close = subs_close;
	snprintf(path, sizeof(path), "%s/subscriptions.json", sb->dir);
	if (access(path, F_OK) || ms_read_file(path, RECORD_MAX, &buf, &len, NULL))
		return 0;
	a = json_loadb((const char *)buf, len, 0, NULL);
	free(buf);
	json_array_foreach(a, i, o) {
		const char *repo = json_string_value(json_object_get(o, "repo"));
		const char *ref = json_string_value(json_object_get(o, "ref"));
		const char *cache = json_string_value(json_object_get(o, "cache"));
		const char *rev = json_string_value(json_object_get(o, "revision"));
		const char *etag = json_string_value(json_object_get(o, "etag"));
		struct sub *s;
		if (!repo || !ref || !cache || ms_repo_check(repo, NULL, 0, NULL) ||
		    ms_ref_check(ref, NULL) || !(s = sub_new(sb, repo, ref, cache)))
			continue;
		ms__strlist_from(&s->indexes, json_object_get(o, "indexes"));
		s->keep = (int)json_integer_value(json_object_get(o, "keep"));
		snprintf(s->rev, sizeof(s->rev), "%s", rev && !ms_revision_check(rev) ? rev : "");
		snprintf(s->etag, sizeof(s->etag), "%s", etag ? etag : "");
		s->next = sb->subs;
		sb->subs = s;
	}
	json_decref(a);
	return 0;
}

static void poll_fail(struct poll *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void poll_fail(struct poll *p, const char *fmt, ...)
{
	struct sub *s = p->s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	s->failures++;
	ms__log(s->sb, "subscription %s@%s: %s (trying again later)", s->repo, s->ref, s->error);
}

static void poll_end(struct poll *p)
{
	struct sub *s = p->s;
	struct ms_seedbox *sb = s->sb;

	s->poll = NULL;
	ms__dht_poll_free(p->dht);
	free(p->refs);
	ms_strlist_release(&p->indexes);
	free(p);
	if (s->dead) {
		struct sub **pp;
		for (pp = &sb->dead_subs; *pp; pp = &(*pp)->next)
			if (*pp == s) {
				*pp = s->next;
				break;
			}
		sub_free(s);
		return;
	}
	schedule(sb, s);
}

/* a new revision of what s follows: kept like any add */
static void sub_add(struct ms_seedbox *sb, struct sub *s, const char *rev)
{
	struct ms_seedbox_req q;
	struct ms_error err;
	struct repo *r;
	char spec[400], rel[400];
	int existing;

	snprintf(spec, sizeof(spec), "%s@%s", s->repo, rev);
	snprintf(rel, sizeof(rel), "%s@%s", s->repo, s->ref);
	ms__log(sb, "subscription %s: new revision %s", rel, rev);
	memset(&q, 0, sizeof(q));
	q.spec = spec;
	q.cache_dir = s->cache;
	q.indexes = &s->indexes;
	q.subscription = rel;
	q.ref = s->ref;
	if (ms__add(sb, &q, &r, &existing, &err))
		ms__log(sb, "subscription %s: cannot add %s: %s", rel, spec, err.msg);
}

static void poll_index(struct poll *p);

/* this index could not be asked: the next one, else a failure */
static void poll_next(struct poll *p, const char *why)
{
	if (++p->i < p->indexes.n) {
		ms__log(p->s->sb, "subscription %s@%s: index '%s': %s", p->s->repo, p->s->ref,
			p->indexes.v[p->i - 1], why);
		free(p->refs);
		p->refs = NULL;
		poll_index(p);
		return;
	}
	poll_fail(p, "%s", why);
	poll_end(p);
}

static void on_refs_sig(void *ud, int status, unsigned char *body, size_t len,
			const char *m)
{
	struct poll *p = ud;
	struct sub *s = p->s;
	struct ms_seedbox *sb = s->sb;
	struct ms_error err;
	char rev[41];

	if (s->dead) {
		/* unsubscribed meanwhile */
	} else if (status) {
		free(body);
		poll_next(p, m);
		return;
	} else if (ms_release_refs_check(s->repo, s->ref, p->refs, p->refs_len, body, len, m,
					 rev, &err)) {
		/* a bad signature, a rollback, an expired file, no such ref:
		 * refused */
		poll_fail(p, "%s", err.msg);
	} else {
		s->failures = 0;
		s->error[0] = '\0';
		snprintf(s->etag, sizeof(s->etag), "%s", p->etag);
		if (strcmp(s->rev, rev) && !ms__find_rev(sb, NULL, s->repo, rev, s->cache))
			sub_add(sb, s, rev);
		memcpy(s->rev, rev, 41);
		ms_seedbox_subs_save(sb);
	}
	free(body);
	poll_end(p);
}

static void on_refs_body(void *ud, int status, unsigned char *body, size_t len,
			 const char *m)
{
	struct poll *p = ud;
	struct sub *s = p->s;
	struct ms_error err;
	char rel[600];

	if (s->dead) {
		free(body);
		poll_end(p);
		return;
	}
	if (status == MS_EUNCHANGED) {
		s->failures = 0;
		s->error[0] = '\0';
		poll_end(p);
		return;
	}
	if (status) {
		poll_next(p, m);
		return;
	}
	p->refs = body;
	p->refs_len = len;
	snprintf(rel, sizeof(rel), "%s/refs.json.minisig", s->repo);
	if (ms_http_get(s->sb->http, p->indexes.v[p->i], rel, MS_SIGFILE_MAX, on_refs_sig, p,
			&err))
		poll_next(p, err.msg);
}

static void on_dht(void *ud, int code, const char *rev, const char *msg)
{
	struct poll *p = ud;
	struct sub *s = p->s;

	if (code) {
		poll_next(p, msg);
		return;
	}
	s->failures = 0;
	s->error[0] = '\0';
	if (!s->dead && strcmp(s->rev, rev) && !ms__find_rev(s->sb, NULL, s->repo, rev, s->cache))
		sub_add(s->sb, s, rev);
	memcpy(s->rev, rev, 41);
	ms_seedbox_subs_save(s->sb);
	poll_end(p);
}

static void poll_index(struct poll *p)
{
	struct sub *s = p->s;
	struct ms_error err;
	char rel[600];

	if (!strcmp(p->indexes.v[p->i], MS_DHT_INDEX)) {
		if (!(p->dht = ms__dht_poll_start(s->sb, s->repo, s->ref, on_dht, p, &err)))
			poll_next(p, err.msg);
		return;
	}
	snprintf(rel, sizeof(rel), "%s/refs.json", s->repo);
	if (ms_http_get_if(s->sb->http, p->indexes.v[p->i], rel, MS_REFS_MAX, s->etag, p->etag,
			   on_refs_body, p, &err))
		poll_next(p, err.msg);
}

/* refs.json from the subscription's indexes, else the default ones, in
 * order until one answers */
static void sub_poll(struct ms_seedbox *sb, struct sub *s)
{
	struct poll *p = calloc(1, sizeof(*p));
	struct ms_release rel;
	struct ms_error err;
	int e;

	if (!p)
		return;
	p->s = s;
	s->poll = p;
	ms_release_init(&rel);
	e = ms_release_indexes(&rel, &s->indexes, sb->config, &err);
	if (e == MS_EINVAL && sb->peer_discovery && sb->config->dht) /* no index: the DHT */
		e = ms_strlist_push_copy(&rel.indexes, MS_DHT_INDEX) ? MS_ENOMEM : 0;
	p->indexes = rel.indexes; /* the list is ours now */
	memset(&rel.indexes, 0, sizeof(rel.indexes));
	ms_release_release(&rel);
	if (e) {
		poll_fail(p, "%s", err.msg);
		poll_end(p);
		return;
	}
	poll_index(p);
}

static void subs_tick(struct ms_seedbox *sb)
{
	double now = ms__now_s(sb);

	for (struct sub *s = sb->subs; s; s = s->next)
		if (!s->poll && now >= s->next_poll)
			sub_poll(sb, s);
}

/* a subscription's new revision is seeding: drop the oldest beyond keep */
static void subs_after_seed(struct ms_seedbox *sb, struct repo *r)
{
	struct sub *s;
	char rel[400];
	int kept = 0;

	if (!r->sub)
		return;
	for (s = sb->subs; s; s = s->next) {
		snprintf(rel, sizeof(rel), "%s@%s", s->repo, s->ref);
		if (!strcmp(rel, r->sub))
			break;
	}
	if (!s || s->keep <= 0)
		return;
	/* newest first by completion: keep the first `keep` */
	for (;;) {
		struct repo *oldest = NULL;
		kept = 0;
		for (struct repo *o = sb->repos; o; o = o->next)
			if (o->sub && !strcmp(o->sub, r->sub) && o->st == R_SEEDING && !o->pinned) {
				kept++;
				if (o != r && (!oldest || o->completed < oldest->completed))
					oldest = o;
			}
		if (kept <= s->keep || !oldest)
			break;
		ms__log(sb, "%s@%s: dropped, older than the newest %d of %s", oldest->repo,
		      oldest->rev, s->keep, r->sub);
		ms__remove_repo(sb, oldest, 1);
	}
}

int ms__subscribe(struct ms_seedbox *sb, const char *spec, const char *cache_dir,
		  const struct ms_strlist *indexes, int keep, struct sub **out,
		  struct ms_error *err)
{
	struct ms_release rel;
	char cache[PATH_MAX];
	struct ms_error e2;
	struct sub *s;
	int e;

	*out = NULL;
	if (!spec)
		return ms_error_set(err, MS_EINVAL, "subscribe needs \"spec\": \"ORG/NAME[@REF]\"");
	ms_release_init(&rel);
	e = ms_release_spec(&rel, spec, "main", err);
	if (!e && !ms_revision_check(rel.want))
		e = ms_error_set(err, MS_EINVAL, "subscribe follows a ref such as main, not a "
				 "revision");
	if (!e && (keep < -1 || keep > 1000))
		e = ms_error_set(err, MS_EINVAL, "keep is a number of revisions (0: all)");
	if (!e && (ms_store_cache_dir(cache_dir, cache, sizeof(cache), &e2) ||
		   (cache_dir && ms__abs_path(cache_dir, cache, sizeof(cache)))))
		e = ms_error_set(err, MS_EINVAL, "bad cache_dir: %s", cache_dir ? cache_dir : e2.msg);
	if (e) {
		ms_release_release(&rel);
		return e;
	}
	for (s = sb->subs; s; s = s->next)
		if (!strcmp(s->repo, rel.repo) && !strcmp(s->ref, rel.want) &&
		    !strcmp(s->cache, cache))
			break;
	if (!s) {
		if (!(s = sub_new(sb, rel.repo, rel.want, cache))) {
			ms_release_release(&rel);
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		}
		for (size_t i = 0; indexes && i < indexes->n; i++)
			if (ms_strlist_push_copy(&s->indexes, indexes->v[i])) {
				sub_free(s);
				ms_release_release(&rel);
				return ms_error_set(err, MS_ENOMEM, "out of memory");
			}
		s->next = sb->subs;
		sb->subs = s;
		ms__log(sb, "subscribed to %s@%s", rel.repo, rel.want);
	}
	ms_release_release(&rel);
	if (keep >= 0)
		s->keep = keep;
	s->next_poll = 0; /* look now */
	*out = s;
	if (ms_seedbox_subs_save(sb))
		return ms_error_set(err, MS_EIO, "cannot save the subscriptions");
	return 0;
}

int ms__unsubscribe(struct ms_seedbox *sb, const char *spec)
{
	struct sub **pp;
	int n = 0;

	for (pp = &sb->subs; *pp;) {
		struct sub *s = *pp;
		char rel[400];
		snprintf(rel, sizeof(rel), "%s@%s", s->repo, s->ref);
		if (!strcmp(rel, spec) || !strcmp(s->repo, spec)) {
			*pp = s->next;
			if (s->poll) {
				s->dead = 1;
				s->next = sb->dead_subs;
				sb->dead_subs = s;
			} else {
				sub_free(s);
			}
			n++;
		} else {
			pp = &s->next;
		}
	}
	if (n) {
		ms_seedbox_subs_save(sb);
		ms__log(sb, "unsubscribed from %s", spec);
	}
	return n;
}

/* the daemon closes: every subscription goes (a poll in flight was
 * cancelled with the HTTP client) */
static void subs_close(struct ms_seedbox *sb)
{
	for (int k = 0; k < 2; k++) {
		struct sub **list = k ? &sb->dead_subs : &sb->subs;
		while (*list) {
			struct sub *s = *list;
			*list = s->next;
			if (s->poll) {
				free(s->poll->refs);
				ms_strlist_release(&s->poll->indexes);
				free(s->poll);
			}
			sub_free(s);
		}
	}
}
