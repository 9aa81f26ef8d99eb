/*
 * engine.c: one libtorrent session on one libuv loop.
 *
 * Threads: libtorrent calls notify_cb() from its own thread; that function
 * only calls uv_async_send(). Everything else runs on the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_shim.h"
#include "ms_engine.h"

struct ms_engine {
	uv_loop_t *loop;
	lts_session *ses;
	uv_async_t async;
	uv_timer_t tick;
	uv_timer_t deadline;
	uv_signal_t sigint;
	uv_signal_t sigterm;
	struct ms_engine_events ev;

	int *ids;
	size_t n_ids, cap_ids;

	/* who takes each torrent's alerts, sorted by id */
	struct watch *watches;
	size_t n_watches, cap_watches;

	int own_picking;       /* the config sets whole_pieces_threshold */
	int picks_blocks;      /* ms_engine_crowded() was called */

	int signum;            /* the last SIGINT/SIGTERM, 0: none */
	int pending_resume;
	int shutting_down;
	int dispatching;
	int close_requested;
	int closing;
	int open_handles;
};

struct watch {
	int id;
	ms_engine_alert_fn fn;
	void *ud;
};

static void notify_cb(void *ud)
{
	struct ms_engine *e = ud;

	uv_async_send(&e->async);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct ms_engine *e = h->data;

	if (--e->open_handles > 0)
		return;
	if (e->ev.on_closed)
		e->ev.on_closed(e->ev.ud);
	free(e->ids);
	free(e);
}

static void close_handle(struct ms_engine *e, uv_handle_t *h)
{
	if (!uv_is_closing(h)) {
		h->data = e;
		uv_close(h, on_handle_closed);
	}
}

/* the engine closes: every watch ends, its owner told once */
static void end_watches(struct ms_engine *e)
{
	while (e->n_watches) {
		struct watch w = e->watches[--e->n_watches];
		w.fn(w.ud, NULL);
	}
	free(e->watches);
	e->watches = NULL;
	e->cap_watches = 0;
}

static void do_close(struct ms_engine *e)
{
	if (e->closing)
		return;
	e->closing = 1;
	end_watches(e);
	/* removes the notify function first, then stops libtorrent */
	lts_session_free(e->ses);
	e->ses = NULL;
	close_handle(e, (uv_handle_t *)&e->tick);
	close_handle(e, (uv_handle_t *)&e->deadline);
	close_handle(e, (uv_handle_t *)&e->sigint);
	close_handle(e, (uv_handle_t *)&e->sigterm);
	close_handle(e, (uv_handle_t *)&e->async);
}

void ms_engine_close(struct ms_engine *e)
{
	if (e->dispatching)
		e->close_requested = 1;
	else
		do_close(e);
}

int ms_engine_closing(const struct ms_engine *e)
{
	return e->closing || e->close_requested;
}

/* one more torrent to save resume data for at shutdown (best effort: on
 * no memory it is only not saved) */
static int remember_id(struct ms_engine *e, int id)
{
	if (e->n_ids == e->cap_ids) {
		size_t cap = e->cap_ids ? 2 * e->cap_ids : 8;
		int *ids = realloc(e->ids, cap * sizeof(*ids));
		if (!ids)
			return MS_ENOMEM;
		e->ids = ids;
		e->cap_ids = cap;
	}
	e->ids[e->n_ids++] = id;
	return 0;
}

static void forget_id(struct ms_engine *e, int id)
{
	for (size_t i = 0; i < e->n_ids; i++) {
		if (e->ids[i] == id) {
			e->ids[i] = e->ids[--e->n_ids];
			return;
		}
	}
}

/* the first watch of id, or where it would go */
static size_t watch_pos(const struct ms_engine *e, int id)
{
	size_t lo = 0, hi = e->n_watches;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->watches[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int watching(const struct ms_engine *e, int id, ms_engine_alert_fn fn, void *ud)
{
	for (size_t i = watch_pos(e, id); i < e->n_watches && e->watches[i].id == id; i++)
		if (e->watches[i].fn == fn && e->watches[i].ud == ud)
			return 1;
	return 0;
}

/* the DHT's watchers are filed under id 0 */
static int watch_add(struct ms_engine *e, int id, ms_engine_alert_fn fn, void *ud);

int ms_engine_watch(struct ms_engine *e, int id, ms_engine_alert_fn fn, void *ud)
{
	if (id <= 0)
		return MS_EINVAL;
	return watch_add(e, id, fn, ud);
}

int ms_engine_dht_watch(struct ms_engine *e, ms_engine_alert_fn fn, void *ud)
{
	return watch_add(e, 0, fn, ud);
}

void ms_engine_dht_unwatch(struct ms_engine *e, ms_engine_alert_fn fn, void *ud)
{
	ms_engine_unwatch(e, 0, fn, ud);
}

static int watch_add(struct ms_engine *e, int id, ms_engine_alert_fn fn, void *ud)
{
	size_t at;

	if (ms_engine_closing(e))
		return MS_EINVAL;
	if (watching(e, id, fn, ud))
		return 0;
	if (e->n_watches == e->cap_watches) {
		size_t cap = e->cap_watches ? 2 * e->cap_watches : 16;
		struct watch *w = realloc(e->watches, cap * sizeof(*w));
		if (!w)
			return MS_ENOMEM;
		e->watches = w;
		e->cap_watches = cap;
	}
	at = watch_pos(e, id + 1); /* after the id's other watches */
	memmove(&e->watches[at + 1], &e->watches[at], (e->n_watches - at) * sizeof(*e->watches));
	e->watches[at] = (struct watch){ id, fn, ud };
	e->n_watches++;
	return 0;
}

void ms_engine_unwatch(struct ms_engine *e, int id, ms_engine_alert_fn fn, void *ud)
{
	for (size_t i = watch_pos(e, id); i < e->n_watches && e->watches[i].id == id; i++)
		if (e->watches[i].fn == fn && e->watches[i].ud == ud) {
			memmove(&e->watches[i], &e->watches[i + 1],
				(e->n_watches - i - 1) * sizeof(*e->watches));
			e->n_watches--;
			return;
		}
}

/* a torrent's alert to its watchers (each still watching when its turn
 * comes: one may end another's watch), else to on_alert */
#define WATCHERS_MAX 8
static void deliver(struct ms_engine *e, const struct lts_alert *a)
{
	struct watch w[WATCHERS_MAX];
	size_t n = 0;
	int dht = a->type == LTS_ALERT_DHT_ITEM || a->type == LTS_ALERT_DHT_PUT;
	int id = dht ? 0 : a->torrent;

	for (size_t i = id || dht ? watch_pos(e, id) : e->n_watches;
	     i < e->n_watches && e->watches[i].id == id && n < WATCHERS_MAX; i++)
		w[n++] = e->watches[i];
	if (!n) {
		if (e->ev.on_alert)
			e->ev.on_alert(e, a, e->ev.ud);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (watching(e, w[i].id, w[i].fn, w[i].ud))
			w[i].fn(w[i].ud, a);
}

static void drain(struct ms_engine *e)
{
	const struct lts_alert *al;
	size_t n;
	struct lts_error le;

	if (e->closing || !e->ses)
		return;
	if (lts_alerts_pop(e->ses, &al, &n, &le)) {
		char msg[600];
		snprintf(msg, sizeof(msg), "cannot read engine alerts: %s", le.msg);
		if (e->ev.on_warning)
			e->ev.on_warning(e, msg, e->ev.ud);
		return;
	}
	e->dispatching = 1;
	for (size_t i = 0; i < n && !e->close_requested; i++) {
		const struct lts_alert *a = &al[i];

		if (a->type == LTS_ALERT_TORRENT_WOKEN && a->torrent)
			remember_id(e, a->torrent);
		deliver(e, a);
		if (a->type == LTS_ALERT_TORRENT_REMOVED)
			forget_id(e, a->torrent);
		if (e->shutting_down &&
		    (a->type == LTS_ALERT_SAVE_RESUME ||
		     a->type == LTS_ALERT_SAVE_RESUME_FAILED) &&
		    --e->pending_resume <= 0)
			e->close_requested = 1;
	}
	e->dispatching = 0;
	if (e->close_requested)
		do_close(e);
}

static void async_cb(uv_async_t *h)
{
	drain(h->data);
}

static void tick_cb(uv_timer_t *h)
{
	struct ms_engine *e = h->data;

	/* alerts first, so the tick sees the latest state */
	drain(e);
	if (e->closing || e->close_requested)
		return;
	if (e->ev.on_tick && !e->shutting_down)
		e->ev.on_tick(e, e->ev.ud);
	if (e->close_requested)
		do_close(e);
}

static void deadline_cb(uv_timer_t *h)
{
	struct ms_engine *e = h->data;

	if (e->ev.on_warning)
		e->ev.on_warning(e, "gave up waiting for resume data", e->ev.ud);
	ms_engine_close(e);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct ms_engine *e = h->data;

	e->signum = signum;
	if (e->ev.on_signal)
		e->ev.on_signal(e, signum, e->ev.ud);
	else
		ms_engine_shutdown(e, 10000);
}

int ms_engine_signal(const struct ms_engine *e)
{
	return e ? e->signum : 0;
}

void ms_engine_shutdown(struct ms_engine *e, unsigned timeout_ms)
{
	struct lts_error le;

	if (e->closing || e->shutting_down)
		return;
	e->shutting_down = 1;
	e->pending_resume = 0;
	for (size_t i = 0; i < e->n_ids; i++)
		if (!lts_torrent_save_resume(e->ses, e->ids[i], LTS_SAVE_FLUSH, &le))
			e->pending_resume++;
	if (!e->pending_resume) {
		ms_engine_close(e);
		return;
	}
	uv_timer_start(&e->deadline, deadline_cb, timeout_ms, 0);
}

/* the config decides how pieces are picked: ms_engine_crowded() keeps out */
static void note_own_picking(struct ms_engine *e, const struct lts_setting *s,
			     size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s[i].name, "whole_pieces_threshold"))
			e->own_picking = 1;
}

int ms_engine_new(struct ms_engine **out, uv_loop_t *loop,
		  const struct ms_engine_opts *opts,
		  const struct ms_engine_events *ev, struct ms_error *err)
{
	struct lts_setting base[20];
	struct lts_setting *all;
	size_t n = 0;
	char up[32], down[32], cores[16], aio[16];
	unsigned par;
	struct lts_error le;
	struct ms_engine *e;

	e = calloc(1, sizeof(*e));
	if (!e)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	e->loop = loop;
	if (ev)
		e->ev = *ev;

	snprintf(up, sizeof(up), "%d", opts->upload_limit);
	snprintf(down, sizeof(down), "%d", opts->download_limit);
	if (opts->listen)
		base[n++] = (struct lts_setting){ "listen_interfaces", opts->listen };
	base[n++] = (struct lts_setting){ "enable_dht", opts->dht ? "true" : "false" };
	base[n++] = (struct lts_setting){ "enable_lsd", opts->lsd ? "true" : "false" };
	base[n++] = (struct lts_setting){ "enable_upnp", opts->port_mapping ? "true" : "false" };
	base[n++] = (struct lts_setting){ "enable_natpmp", opts->port_mapping ? "true" : "false" };
	base[n++] = (struct lts_setting){ "upload_rate_limit", up };
	base[n++] = (struct lts_setting){ "download_rate_limit", down };
	base[n++] = (struct lts_setting){ "user_agent", "modelswarm/" MS_VERSION };
	base[n++] = (struct lts_setting){ "peer_fingerprint", "-MS0100-" };
	/* dial peers over TCP: uTP is much slower on fast links and loopback;
	 * peers that dial us over uTP are still accepted */
	base[n++] = (struct lts_setting){ "enable_outgoing_utp", "false" };
	/* peers are told apart by address and port: otherwise dialling our
	 * own address (a tracker hands it back) bans that IP for everyone
	 * behind it (NAT, several clients on one host) */
	base[n++] = (struct lts_setting){ "allow_multiple_connections_per_ip", "true" };
	/* a peer we let go ourselves (a check of the files on disk drops
	 * every connection) is dialled again after 10 s, not libtorrent's
	 * 60 s; one that fails waits 10 s times its failures */
	base[n++] = (struct lts_setting){ "min_reconnect_time", "10" };
	/* piece hashes on every core (libtorrent's default is one thread):
	 * a hybrid torrent is hashed twice, SHA-1 and SHA-256 */
	snprintf(cores, sizeof(cores), "%u", uv_available_parallelism());
	base[n++] = (struct lts_setting){ "hashing_threads", cores };
	/* disk threads: libtorrent 2.0 hashes each downloaded piece (SHA-1
	 * and SHA-256 for a hybrid torrent) on the thread that writes it,
	 * so a download runs at the speed of these, not of hashing_threads.
	 * Two per core, at least 4: a 2 GiB fetch on 2 cores took 5.6-6.0 s
	 * with one, 3.9-5.1 s with four. Several are safe only because the
	 * shim orders a failed piece's clear after its writes
	 * (src/shim/disk-order.cpp, ordered_disk_io) */
	par = uv_available_parallelism();
	snprintf(aio, sizeof(aio), "%u", par < 2 ? 4 : par > 8 ? 16 : 2 * par);
	base[n++] = (struct lts_setting){ "aio_threads", aio };
	/* a downloaded piece is gathered in memory, hashed there and
	 * written whole, bypassing the page cache where it can
	 * (src/shim/disk-pieces.cpp, piece_disk_io); 0 (enable_os_cache)
	 * leaves every block to libtorrent's own disk I/O */
	base[n++] = (struct lts_setting){ "disk_io_write_mode", "2" };
	/* an origin seeding a release to many peers at once: with
	 * libtorrent's 500 queued blocks a peer books seconds of our upload
	 * without regard to what the others booked, and pieces go out twice
	 * (measured on tools/bench/release-day.sh) */
	if (opts->origin)
		base[n++] = (struct lts_setting){ "max_allowed_in_request_queue", "8" };
	/* with DHT off, do not even resolve the bootstrap routers */
	if (!opts->dht)
		base[n++] = (struct lts_setting){ "dht_bootstrap_nodes", "" };

	all = calloc(n + opts->n_settings, sizeof(*all));
	if (!all) {
		free(e);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	memcpy(all, base, n * sizeof(*all));
	for (size_t i = 0; i < opts->n_settings; i++)
		all[n + i] = (struct lts_setting){ opts->settings[i].name,
						   opts->settings[i].value };
	note_own_picking(e, all + n, opts->n_settings);
	e->ses = lts_session_new(all, n + opts->n_settings, &le);
	free(all);
	if (!e->ses) {
		free(e);
		return ms_error_set(err, ms__lts_code(le.code),
				    "cannot start the torrent session: %s", le.msg);
	}

	uv_async_init(loop, &e->async, async_cb);
	uv_timer_init(loop, &e->tick);
	uv_timer_init(loop, &e->deadline);
	uv_signal_init(loop, &e->sigint);
	uv_signal_init(loop, &e->sigterm);
	e->async.data = e->tick.data = e->deadline.data = e;
	e->sigint.data = e->sigterm.data = e;
	e->open_handles = 5;
	uv_unref((uv_handle_t *)&e->deadline);
	uv_signal_start(&e->sigint, signal_cb, SIGINT);
	uv_signal_start(&e->sigterm, signal_cb, SIGTERM);
	uv_timer_start(&e->tick, tick_cb, opts->tick_ms ? opts->tick_ms : 1000,
		       opts->tick_ms ? opts->tick_ms : 1000);

	if (lts_session_set_notify(e->ses, notify_cb, e, &le)) {
		do_close(e);
		return ms_error_set(err, MS_EENGINE, "%s", le.msg);
	}
	/* alerts queued before the notify function was installed */
	uv_async_send(&e->async);
	*out = e;
	return 0;
}

int ms_engine_add(struct ms_engine *e, const struct lts_add_params *p, int *id,
		  struct ms_error *err)
{
	struct lts_error le;

	if (e->closing)
		return ms_error_set(err, MS_EINVAL, "engine is closing");
	if (lts_torrent_add(e->ses, p, id, &le))
		return ms__lts_fail(err, &le);
	if (remember_id(e, *id)) {
		lts_torrent_remove(e->ses, *id, 0, NULL);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	return 0;
}

#define WRAP(expr)                            \
	do {                                  \
		struct lts_error le;          \
		if (e->closing)               \
			return ms_error_set(err, MS_EINVAL, "engine is closing"); \
		if ((expr) < 0)               \
			return ms__lts_fail(err, &le); \
		return 0;                     \
	} while (0)

int ms_engine_remove(struct ms_engine *e, int id, unsigned flags,
		     struct ms_error *err)
{
	WRAP(lts_torrent_remove(e->ses, id, flags, &le));
}

int ms_engine_dormant_add(struct ms_engine *e, const char *torrent_path,
			  const char *resume_path, int64_t cookie, int *n_trackers,
			  struct ms_error *err)
{
	WRAP(lts_dormant_add(e->ses, torrent_path, resume_path, cookie, n_trackers, &le));
}

int ms_engine_dormant_remove(struct ms_engine *e, int64_t cookie, struct ms_error *err)
{
	WRAP(lts_dormant_remove(e->ses, cookie, &le));
}

int ms_engine_status(struct ms_engine *e, int id, struct lts_status *st,
		     struct ms_error *err)
{
	WRAP(lts_torrent_status(e->ses, id, st, &le));
}

int ms_engine_status_many(struct ms_engine *e, const int *ids, struct lts_status *st,
			  int *found, int n, struct ms_error *err)
{
	struct lts_error le;
	int k;

	if (e->closing)
		return ms_error_set(err, MS_EINVAL, "engine is closing");
	if ((k = lts_torrents_status(e->ses, ids, st, found, n, &le)) < 0)
		return ms__lts_fail(err, &le);
	return k;
}

int ms_engine_file_progress(struct ms_engine *e, int id, int64_t *out, int n,
			    struct ms_error *err)
{
	struct lts_error le;
	int r;

	if (e->closing)
		return ms_error_set(err, MS_EINVAL, "engine is closing");
	r = lts_torrent_file_progress(e->ses, id, out, n, &le);
	if (r < 0)
		return ms__lts_fail(err, &le);
	return r;
}

int ms_engine_set_file_priorities(struct ms_engine *e, int id, const int *prio,
				  int n, struct ms_error *err)
{
	WRAP(lts_torrent_set_file_priorities(e->ses, id, prio, n, &le));
}

int ms_engine_connect_peer(struct ms_engine *e, int id, const char *host,
			   int port, struct ms_error *err)
{
	WRAP(lts_torrent_connect_peer(e->ses, id, host, port, &le));
}

int ms_engine_add_piece(struct ms_engine *e, int id, int piece, const void *data,
			size_t len, int overwrite, struct ms_error *err)
{
	WRAP(lts_torrent_add_piece(e->ses, id, piece, data, len, overwrite, &le));
}

int ms_engine_piece_states(struct ms_engine *e, int id, unsigned char *out,
			   int n, struct ms_error *err)
{
	struct lts_error le;
	int r = lts_torrent_piece_states(e->ses, id, out, n, &le);

	if (r < 0)
		return ms__lts_fail(err, &le);
	return r;
}

int ms_engine_add_tracker(struct ms_engine *e, int id, const char *url,
			  struct ms_error *err)
{
	WRAP(lts_torrent_add_tracker(e->ses, id, url, 0, &le));
}

int ms_engine_dht_put(struct ms_engine *e, const struct lts_dht_item *it,
		      struct ms_error *err)
{
	WRAP(lts_dht_put(e->ses, it, &le));
}

int ms_engine_dht_get(struct ms_engine *e, const unsigned char key[32], const char *salt,
		      size_t salt_len, struct ms_error *err)
{
	WRAP(lts_dht_get(e->ses, key, salt, salt_len, &le));
}

int ms_engine_save_resume(struct ms_engine *e, int id, unsigned flags,
			  struct ms_error *err)
{
	WRAP(lts_torrent_save_resume(e->ses, id, flags, &le));
}

int ms_engine_set_limits(struct ms_engine *e, int id, int upload, int download,
			 struct ms_error *err)
{
	WRAP(lts_torrent_set_limits(e->ses, id, upload, download, &le));
}

int ms_engine_set_upload_mode(struct ms_engine *e, int id, int on,
			      struct ms_error *err)
{
	WRAP(lts_torrent_set_upload_mode(e->ses, id, on, &le));
}

int ms_engine_set_sequential(struct ms_engine *e, int id, int on,
			     struct ms_error *err)
{
	WRAP(lts_torrent_set_sequential(e->ses, id, on, &le));
}

int ms_engine_file_readers(struct ms_engine *e, int id, int file, int delta,
			   struct ms_error *err)
{
	WRAP(lts_torrent_file_readers(e->ses, id, file, delta, &le));
}

size_t ms_engine_read_recent(struct ms_engine *e, int id, int file, int piece, int at,
			     void *buf, size_t n)
{
	long r = lts_torrent_read_recent(e->ses, id, file, piece, at, buf, n, NULL);

	return r > 0 ? (size_t)r : 0;
}

int ms_engine_piece_deadline(struct ms_engine *e, int id, int piece, int ms,
			     struct ms_error *err)
{
	WRAP(lts_torrent_set_piece_deadline(e->ses, id, piece, ms, &le));
}

int ms_engine_file_sha256(struct ms_engine *e, int id, int file,
			  unsigned char out[32], unsigned char git[20])
{
	int r;

	if (e->closing)
		return LTS_DIGEST_NONE;
	r = lts_torrent_file_sha256(e->ses, id, file, out, git, NULL);
	return r < 0 ? LTS_DIGEST_NONE : r;
}

int ms_engine_rename_file(struct ms_engine *e, int id, int file, const char *path,
			  struct ms_error *err)
{
	WRAP(lts_torrent_rename_file(e->ses, id, file, path, &le));
}

int ms_engine_recheck(struct ms_engine *e, int id, struct ms_error *err)
{
	WRAP(lts_torrent_recheck(e->ses, id, &le));
}

int ms_engine_dht_reannounce(struct ms_engine *e, int id, int num_peers, double now,
			     double *last, int *interval_s)
{
	struct lts_error le;

	if (num_peers > 0 || *interval_s < 5) {
		*interval_s = 5;
		if (num_peers > 0 || *last <= 0)
			*last = now; /* libtorrent asked when it was added */
		return 0;
	}
	if (now - *last < *interval_s || e->closing)
		return 0;
	*last = now;
	*interval_s = *interval_s * 2 > 60 ? 60 : *interval_s * 2;
	return lts_torrent_dht_announce(e->ses, id, &le) == 0;
}

lts_torrent *ms_engine_torrent(struct ms_engine *e, int id, struct ms_error *err)
{
	struct lts_error le;
	lts_torrent *t;

	if (e->closing) {
		ms_error_set(err, MS_EINVAL, "engine is closing");
		return NULL;
	}
	t = lts_torrent_info_get(e->ses, id, &le);
	if (!t)
		ms__lts_fail(err, &le);
	return t;
}

int ms_engine_pause(struct ms_engine *e, int id, int pause, struct ms_error *err)
{
	WRAP(pause ? lts_torrent_pause(e->ses, id, &le) : lts_torrent_resume(e->ses, id, &le));
}

/*
 * A download with many peers picks blocks, not runs of whole pieces.
 * libtorrent books up to 8 MiB of adjacent pieces from a peer that could
 * send them within 20 s. From a lone seeder that is good: files complete
 * in long runs. On release day it is not: every leecher books such runs
 * from the origin, the runs overlap, and the origin sends those pieces
 * twice or more (tools/bench/release-day.sh, 16 hosts: the origin sent
 * 1.36-1.54 copies of the repo with runs, 1.10-1.11 with blocks). The
 * switch is one way: a session that met a crowd keeps picking blocks.
 */
void ms_engine_crowded(struct ms_engine *e)
{
	struct lts_setting s = { "whole_pieces_threshold", "0" };
	struct lts_error le;

	if (e->picks_blocks || e->own_picking || e->closing)
		return;
	if (!lts_session_apply(e->ses, &s, 1, &le))
		e->picks_blocks = 1;
}

int ms_engine_apply(struct ms_engine *e, const struct lts_setting *settings, size_t n,
		    struct ms_error *err)
{
	note_own_picking(e, settings, n);
	WRAP(lts_session_apply(e->ses, settings, n, &le));
}
