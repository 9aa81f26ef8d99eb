/* publish-dht.c: publish --dht -- the release's bundle made, and for each
 * ref a BEP 44 item signed with the org's key put into the DHT (the
 * design: ms_dht.h, modelswarm-manifest(5)) */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cmd.h"
#include "ms_dht.h"
#include "ms_engine.h"
#include "ms_hash.h"
#include "ms_torrent.h"

/* how long the items may take to find a node that keeps them (the DHT
 * may still be bootstrapping) */
#define PUT_DEADLINE_MS 60000
#define PUT_RETRY_MS 2000

struct put_item {
	struct lts_dht_item it;
	char salt[MS_DHT_SALT_MAX + 1];
	const char *ref;
	int stored;
};

struct put {
	struct ms_engine *eng;
	struct put_item *items;
	size_t n, left;
	const char *repo;
	uv_timer_t retry, deadline;
	int code;
	int closing;
};

static void put_close(struct put *p, int code)
{
	if (p->closing)
		return;
	p->closing = 1;
	p->code = code;
	uv_close((uv_handle_t *)&p->retry, NULL);
	uv_close((uv_handle_t *)&p->deadline, NULL);
	ms_engine_close(p->eng);
}

static void put_all(struct put *p)
{
	struct ms_error err;

	for (size_t i = 0; i < p->n; i++)
		if (!p->items[i].stored && ms_engine_dht_put(p->eng, &p->items[i].it, &err)) {
			cmd_error(EXIT_ERROR, "%s", err.msg);
			put_close(p, EXIT_ERROR);
			return;
		}
}

static void retry_cb(uv_timer_t *t)
{
	put_all(t->data);
}

static void deadline_cb(uv_timer_t *t)
{
	struct put *p = t->data;

	for (size_t i = 0; i < p->n; i++)
		if (!p->items[i].stored)
			cmd_error(EXIT_ERROR, "no DHT node took the item of %s@%s within %d s (is a "
				  "DHT node reachable? see libtorrent.dht_bootstrap_nodes); the "
				  "index is written: run publish again to retry", p->repo,
				  p->items[i].ref, PUT_DEADLINE_MS / 1000);
	put_close(p, EXIT_ERROR);
}

static void on_put(void *ud, const struct lts_alert *a)
{
	struct put *p = ud;

	if (!a || a->type != LTS_ALERT_DHT_PUT || p->closing)
		return;
	for (size_t i = 0; i < p->n; i++) {
		struct put_item *pi = &p->items[i];
		if (pi->stored || a->dht.salt_len != pi->it.salt_len ||
		    memcmp(a->dht.salt, pi->it.salt, pi->it.salt_len) ||
		    memcmp(a->dht.key, pi->it.key, 32))
			continue;
		if (a->dht.stored <= 0)
			continue; /* no node yet: the retry timer puts it again */
		pi->stored = a->dht.stored;
		printf("dht: %s@%s version %" PRId64 " put, kept by %d node%s\n", p->repo,
		       pi->ref, pi->it.seq, pi->stored, pi->stored == 1 ? "" : "s");
		if (--p->left == 0)
			put_close(p, EXIT_OK);
	}
}

static void on_alert(struct ms_engine *e, const struct lts_alert *a, void *ud)
{
	(void)e;
	(void)a;
	(void)ud;
}

static void on_signal(struct ms_engine *e, int signum, void *ud)
{
	put_close(ud, EXIT_ERROR);
}

/* the signed files publish just wrote */
static int read_release(const char *repodir, const char *rev, struct ms_release_bytes b[3])
{
	static const char *const ext[3] = { ".manifest.json", ".manifest.json.minisig",
					    ".torrent" };
	static const size_t caps[3] = { MS_MANIFEST_MAX, MS_SIGFILE_MAX, MS_TORRENT_MAX };
	char path[PATH_MAX + 128];
	struct ms_error err;

	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s%s", repodir, rev, ext[i]);
		if (ms_read_file(path, caps[i], &b[i].buf, &b[i].len, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
	}
	return 0;
}

int publish_dht(struct ms_ctx *ctx, const struct net_opts *net, const struct ms_seckey *sk,
		const struct ms_pubkey *pk, const char *repo, const char *rev, int64_t version,
		const struct ms_strlist *refs, const char *repodir, struct publish_bundle *pb)
{
	struct ms_release_bytes b[3] = { { 0 } };
	struct ms_engine_opts eo;
	struct ms_engine_events ev = { on_alert, NULL, on_signal, NULL, engine_warning, NULL };
	struct ms_torrent_meta tm = { 0 };
	struct ms_dht_value v;
	struct lts_add_params ap;
	struct ms_error err;
	unsigned char value[MS_DHT_VALUE_MAX];
	size_t vlen;
	struct put p;
	uv_loop_t loop;
	lts_torrent *t = NULL;
	int r, id;

	memset(&p, 0, sizeof(p));
	net_engine_opts(ctx, net, &eo);
	if (!eo.dht)
		return cmd_usage_error("publish", "--dht needs the DHT on (no --no-dht, no "
						  "'dht = false' in the config)");
	if ((r = read_release(repodir, rev, b)))
		goto out;
	/* the bundle, seeded by whoever holds the release */
	if (ms_dht_bundle_write(repo, rev, &b[0], &b[1], &b[2], &pb->torrent, &pb->len, pb->dir,
				&err) ||
	    !(t = ms_torrent_load(pb->torrent, pb->len, &err)) || ms_torrent_meta(t, &tm, &err)) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	memset(&v, 0, sizeof(v));
	memcpy(v.rev, rev, 41);
	v.version = version;
	if (strlen(tm.hash_v1) != 40) {
		r = cmd_error(EXIT_ERROR, "internal error: the bundle has no v1 info-hash");
		goto out;
	}
	for (int i = 0; i < 20; i++) {
		unsigned x;
		sscanf(tm.hash_v1 + 2 * i, "%2x", &x);
		v.bundle[i] = (uint8_t)x;
	}
	EVP_Digest(b[0].buf, b[0].len, v.manifest, NULL, EVP_sha256(), NULL);
	vlen = ms_dht_value_encode(&v, value);

	/* one item per ref */
	if (!(p.items = calloc(refs->n, sizeof(*p.items)))) {
		r = cmd_error(EXIT_ERROR, "out of memory");
		goto out;
	}
	p.n = p.left = refs->n;
	p.repo = repo;
	for (size_t i = 0; i < refs->n; i++) {
		struct put_item *pi = &p.items[i];
		pi->ref = refs->v[i];
		ms_dht_salt(repo, pi->ref, pi->salt, &pi->it.salt_len);
		pi->it.salt = pi->salt;
		pi->it.seq = version;
		pi->it.value = value;
		pi->it.value_len = vlen;
		ms_dht_sign(sk, pk, &pi->it);
		/* kept: a daemon on this host puts it again (seedbox-dht.c) */
		if (ms_dht_item_save(repo, &pi->it, &err))
			cmd_warning("cannot keep the DHT item: %s", err.msg);
	}

	ev.ud = &p;
	uv_loop_init(&loop);
	if (ms_engine_new(&p.eng, &loop, &eo, &ev, &err)) {
		uv_loop_close(&loop);
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	uv_timer_init(&loop, &p.retry);
	uv_timer_init(&loop, &p.deadline);
	p.retry.data = p.deadline.data = &p;
	memset(&ap, 0, sizeof(ap));
	ap.torrent = pb->torrent;
	ap.torrent_len = pb->len;
	ap.save_path = pb->dir;
	ap.flags = LTS_ADD_NO_ROOT | LTS_ADD_SEED_MODE;
	if (ms_engine_dht_watch(p.eng, on_put, &p) || ms_engine_add(p.eng, &ap, &id, &err)) {
		cmd_error(EXIT_ERROR, "%s", err.msg);
		put_close(&p, EXIT_ERROR);
	} else {
		uv_timer_start(&p.deadline, deadline_cb, PUT_DEADLINE_MS, 0);
		/* again and again until a node keeps it: a put asked before
		 * the session's DHT runs is dropped without an answer */
		uv_timer_start(&p.retry, retry_cb, 0, PUT_RETRY_MS);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop))
		p.code = cmd_error(EXIT_ERROR, "internal error: event loop not closed");
	r = p.code;
	if (!r)
		printf("bundle infohash: %s\n", tm.hash_v1);
out:
	ms_torrent_meta_release(&tm);
	ms_torrent_free(t);
	free(p.items);
	for (int i = 0; i < 3; i++)
		free(b[i].buf);
	return r;
}
