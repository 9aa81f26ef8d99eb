/* seedbox-dht.c: the daemon keeps the DHT items of the releases it holds
 * alive. BEP 44 nodes drop an item about two hours after it was last put;
 * each item kept in <state>/dht/items/ whose bundle is here (the release
 * came through this host) is put again, as it was signed (no secret key
 * needed), every dht-reput-interval seconds (default an hour, jittered by
 * 10% either way), at most dht-puts-per-minute puts a minute; and its
 * bundle is seeded. See ms_dht.h. */
#include <stdlib.h>
#include <string.h>

#include "ms_dht.h"
#include "seedbox-int.h"

#define REPUT_DEFAULT_S 3600
#define PUTS_PER_MINUTE_DEFAULT 20
/* the records are read again this often (at most) */
#define SCAN_MAX_S 60.0

struct reput {
	char repo[MS_REPO_MAX];
	char salt[MS_DHT_SALT_MAX + 1];
	unsigned char value[MS_DHT_VALUE_MAX];
	struct lts_dht_item it;      /* pointing at salt and value */
	double next;                 /* when to put it */
	int seen;                    /* in the last scan */
};

struct ms__seedbox_dht {
	struct reput *v;
	size_t n, cap;
	double next_scan;
	double window;               /* the minute puts are counted in */
	int64_t puts;                /* in it */
	int watching;
	int off;                     /* no DHT in this session */
};

static double interval(const struct ms_seedbox *sb)
{
	int64_t v = sb->config->dht_reput_interval_s;

	return (double)(v > 0 ? v : REPUT_DEFAULT_S);
}

/* 0.9 to 1.1 times x */
static double jitter(double x)
{
	return x * (0.9 + 0.2 * ((double)rand() / RAND_MAX));
}

static struct reput *find(struct ms__seedbox_dht *d, const struct lts_dht_item *it)
{
	for (size_t i = 0; i < d->n; i++)
		if (!memcmp(d->v[i].it.key, it->key, 32) && d->v[i].it.salt_len == it->salt_len &&
		    !memcmp(d->v[i].salt, it->salt, it->salt_len))
			return &d->v[i];
	return NULL;
}

static void on_put(void *ud, const struct lts_alert *a)
{
	struct ms_seedbox *sb = ud;
	struct reput *p;

	if (!a) {
		if (sb->dht)
			sb->dht->watching = 0;
		return;
	}
	if (a->type != LTS_ALERT_DHT_PUT || !sb->dht || !(p = find(sb->dht, &a->dht)))
		return;
	ms__log(sb, "dht: %s (%s) version %lld put again, kept by %d node%s", p->repo, p->salt,
		(long long)a->dht.seq, a->dht.stored, a->dht.stored == 1 ? "" : "s");
}

static void warn(void *ud, const char *msg)
{
	ms__log(ud, "dht: %s", msg);
}

/* a record: kept if its release's bundle is here (and seeded) */
static void take(void *ud, const char *repo, const struct lts_dht_item *it)
{
	struct ms_seedbox *sb = ud;
	struct ms__seedbox_dht *d = sb->dht;
	struct ms_dht_value v;
	struct lts_add_params ap;
	struct reput *p;
	unsigned char *tbuf;
	size_t tlen;
	char dir[PATH_MAX];
	int id;

	if (ms_dht_value_decode(it->value, it->value_len, &v, NULL) ||
	    ms_dht_bundle_load(repo, v.rev, &tbuf, &tlen, dir, NULL))
		return; /* not a release this host holds */
	if ((p = find(d, it)) && p->it.seq == it->seq) {
		p->seen = 1;
		free(tbuf);
		return;
	}
	if (!p) {
		if (d->n == d->cap) {
			size_t cap = d->cap ? 2 * d->cap : 8;
			struct reput *nv = realloc(d->v, cap * sizeof(*nv));
			if (!nv) {
				free(tbuf);
				return;
			}
			d->v = nv;
			d->cap = cap;
		}
		p = &d->v[d->n++];
		/* the first put soon, spread over a few seconds */
		p->next = ms__now_s(sb) + 5.0 * rand() / RAND_MAX;
	}
	snprintf(p->repo, sizeof(p->repo), "%s", repo);
	memcpy(p->salt, it->salt, it->salt_len);
	p->salt[it->salt_len] = '\0';
	memcpy(p->value, it->value, it->value_len);
	p->it = *it;
	p->it.salt = p->salt;
	p->it.value = p->value;
	p->seen = 1;
	/* its bundle, seeded as long as the daemon runs */
	memset(&ap, 0, sizeof(ap));
	ap.torrent = tbuf;
	ap.torrent_len = tlen;
	ap.save_path = dir;
	ap.flags = LTS_ADD_NO_ROOT | LTS_ADD_SEED_MODE;
	(void)ms_engine_add(sb->eng, &ap, &id, NULL); /* or it is in already */
	free(tbuf);
}

static void scan(struct ms_seedbox *sb)
{
	struct ms__seedbox_dht *d = sb->dht;
	struct ms_error err;
	size_t k = 0;

	for (size_t i = 0; i < d->n; i++)
		d->v[i].seen = 0;
	if (ms_dht_items_each(take, warn, sb, &err))
		ms__log(sb, "dht: %s", err.msg);
	/* records gone: no more puts */
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].seen) {
			d->v[k] = d->v[i];
			d->v[k].it.salt = d->v[k].salt;
			d->v[k].it.value = d->v[k].value;
			k++;
		}
	d->n = k;
}

void ms__seedbox_dht_tick(struct ms_seedbox *sb)
{
	struct ms__seedbox_dht *d = sb->dht;
	double now = ms__now_s(sb), every = interval(sb);
	int64_t limit = sb->config->dht_puts_per_minute > 0 ? sb->config->dht_puts_per_minute
							     : PUTS_PER_MINUTE_DEFAULT;
	struct ms_error err;

	if (sb->closing || !sb->eng)
		return;
	if (!d) {
		if (!(d = sb->dht = calloc(1, sizeof(*d))))
			return;
		d->off = !(sb->peer_discovery && sb->config->dht);
	}
	if (d->off)
		return;
	if (!d->watching && !ms_engine_dht_watch(sb->eng, on_put, sb))
		d->watching = 1;
	if (now >= d->next_scan) {
		scan(sb);
		d->next_scan = now + (every < SCAN_MAX_S ? every : SCAN_MAX_S);
	}
	if (now - d->window >= 60.0) {
		d->window = now;
		d->puts = 0;
	}
	for (size_t i = 0; i < d->n && d->puts < limit; i++) {
		struct reput *p = &d->v[i];
		if (now < p->next)
			continue;
		p->next = now + jitter(every);
		d->puts++;
		if (ms_engine_dht_put(sb->eng, &p->it, &err))
			ms__log(sb, "dht: cannot put %s (%s): %s", p->repo, p->salt, err.msg);
	}
}

void ms__seedbox_dht_free(struct ms_seedbox *sb)
{
	if (!sb->dht)
		return;
	if (sb->dht->watching && sb->eng && !ms_engine_closing(sb->eng))
		ms_engine_dht_unwatch(sb->eng, on_put, sb);
	free(sb->dht->v);
	free(sb->dht);
	sb->dht = NULL;
}

/* ---- a subscription's ref, looked up in the DHT ------------------------- */

struct ms__dht_poll {
	struct ms_release rel;
	struct ms_dht_lookup *l;
	void (*done)(void *ud, int code, const char *rev, const char *msg);
	void *ud;
};

static void poll_done(void *ud, int code, const struct ms_error *err)
{
	struct ms__dht_poll *p = ud;

	p->done(p->ud, code, p->rel.rev, code ? err->msg : "");
}

struct ms__dht_poll *ms__dht_poll_start(struct ms_seedbox *sb, const char *repo, const char *ref,
					void (*done)(void *ud, int code, const char *rev,
						     const char *msg),
					void *ud, struct ms_error *err)
{
	struct ms__dht_poll *p = calloc(1, sizeof(*p));
	char spec[MS_REPO_MAX + MS_WANT_MAX + 2];

	if (!p) {
		ms_error_set(err, MS_ENOMEM, "out of memory");
		return NULL;
	}
	ms_release_init(&p->rel);
	p->done = done;
	p->ud = ud;
	snprintf(spec, sizeof(spec), "%s@%s", repo, ref);
	if (!(sb->peer_discovery && sb->config->dht)) {
		ms_error_set(err, MS_EINVAL, "'%s': the daemon runs without the DHT", MS_DHT_INDEX);
	} else if (!ms_release_spec(&p->rel, spec, NULL, err) &&
		   !ms_dht_resolve(&p->l, sb->loop, sb->eng, &p->rel, poll_done, p, err)) {
		return p;
	}
	ms_release_release(&p->rel);
	free(p);
	return NULL;
}

void ms__dht_poll_free(struct ms__dht_poll *p)
{
	if (!p)
		return;
	ms_dht_lookup_free(p->l);
	ms_release_release(&p->rel);
	free(p);
}
