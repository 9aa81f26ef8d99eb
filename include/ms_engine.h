/*
 * The torrent engine: one libtorrent session (through lt_shim) driven by a
 * libuv loop.
 *
 * libtorrent's alert-notify callback only calls uv_async_send(); alerts are
 * drained and dispatched on the loop thread. A timer drives status updates.
 * SIGINT/SIGTERM are delivered to the owner through on_signal; the owner
 * usually answers with ms_engine_shutdown(), which saves resume data for
 * every torrent, then closes every handle so that the loop ends and
 * uv_loop_close() succeeds.
 *
 * Only this module and torrent.c (.torrent files without a session, see
 * ms_torrent.h) call the shim; the lts_* structs from lt_shim.h are
 * reused as plain data types.
 */
#ifndef MS_ENGINE_H
#define MS_ENGINE_H

#include <uv.h>

#include "lt_shim.h"
#include "modelswarm.h"
#include "ms_config.h"
#include "ms_torrent.h"

struct ms_engine;

struct ms_engine_events {
	/* every alert of no torrent, or of a torrent nobody watches
	 * (ms_engine_watch()), on the loop thread; the alert is valid during
	 * the call */
	void (*on_alert)(struct ms_engine *e, const struct lts_alert *a, void *ud);
	/* every tick_ms */
	void (*on_tick)(struct ms_engine *e, void *ud);
	/* SIGINT or SIGTERM arrived */
	void (*on_signal)(struct ms_engine *e, int signum, void *ud);
	/* the engine finished closing; e is freed right after this returns */
	void (*on_closed)(void *ud);
	/* something went wrong that the engine carried on from (may be NULL) */
	void (*on_warning)(struct ms_engine *e, const char *msg, void *ud);
	void *ud;
};

struct ms_engine_opts {
	const char *listen;   /* "ADDR:PORT[,...]" or NULL for the default */
	int dht;              /* booleans */
	int lsd;
	int port_mapping;
	int upload_limit;     /* session-wide bytes/s, 0 = unlimited */
	int download_limit;
	unsigned tick_ms;     /* 0: 1000 */
	int origin;           /* the first seed of a release: a peer may queue
				 few requests with us, so that we send each
				 piece about once while others lack it */
	/* more libtorrent settings by name (the config file's), applied last */
	const struct ms_setting *settings;
	size_t n_settings;
};

/*
 * A torrent's alerts go straight to its owner: fn(ud, a) for each alert
 * of torrent id, on the loop thread, instead of on_alert. A torrent may
 * have a few watchers (a download and its mirrors), each registered by
 * itself; nobody relays. The watch holds until ms_engine_unwatch(), or
 * until the engine closes: then fn(ud, NULL) is called once, and the
 * engine must not be used by that watcher any more. A removed torrent's
 * removal alert is delivered; the watch goes on (ids are not reused).
 */
typedef void (*ms_engine_alert_fn)(void *ud, const struct lts_alert *a);
int ms_engine_watch(struct ms_engine *e, int id, ms_engine_alert_fn fn, void *ud);
void ms_engine_unwatch(struct ms_engine *e, int id, ms_engine_alert_fn fn, void *ud);

/* The DHT's alerts (LTS_ALERT_DHT_ITEM, LTS_ALERT_DHT_PUT) go to its
 * watchers, like a torrent's (fn(ud, NULL) once when the engine closes),
 * else to on_alert. */
int ms_engine_dht_watch(struct ms_engine *e, ms_engine_alert_fn fn, void *ud);
void ms_engine_dht_unwatch(struct ms_engine *e, ms_engine_alert_fn fn, void *ud);
/* BEP 44 mutable items (see lts_dht_put(), lts_dht_get()) */
int ms_engine_dht_put(struct ms_engine *e, const struct lts_dht_item *it,
		      struct ms_error *err);
int ms_engine_dht_get(struct ms_engine *e, const unsigned char key[32], const char *salt,
		      size_t salt_len, struct ms_error *err);

/* Create the engine on loop. *out is owned by the engine: it is freed after
 * ms_engine_close()/ms_engine_shutdown() has closed every handle. */
int ms_engine_new(struct ms_engine **out, uv_loop_t *loop,
		  const struct ms_engine_opts *opts,
		  const struct ms_engine_events *ev, struct ms_error *err);

/* Ask every torrent for resume data (with a disk flush), deliver those
 * alerts, then close (bounded by timeout_ms). Safe to call twice. */
void ms_engine_shutdown(struct ms_engine *e, unsigned timeout_ms);
/* the last SIGINT or SIGTERM the engine was sent, 0 if none */
int ms_engine_signal(const struct ms_engine *e);

/* Close now: destroy the session, close every handle. */
void ms_engine_close(struct ms_engine *e);

int ms_engine_closing(const struct ms_engine *e);

/* --- torrents (thin wrappers over the shim, errors as MS_E* codes) --- */
int ms_engine_add(struct ms_engine *e, const struct lts_add_params *p, int *id,
		  struct ms_error *err);
/* flags: LTS_REMOVE_FILES, LTS_REMOVE_QUIET */
int ms_engine_remove(struct ms_engine *e, int id, unsigned flags,
		     struct ms_error *err);
/* dormant seeds (see lts_dormant_add()); a woken one joins the torrents
 * the engine saves resume data for at shutdown */
int ms_engine_dormant_add(struct ms_engine *e, const char *torrent_path,
			  const char *resume_path, int64_t cookie, int *n_trackers,
			  struct ms_error *err);
int ms_engine_dormant_remove(struct ms_engine *e, int64_t cookie, struct ms_error *err);
int ms_engine_status(struct ms_engine *e, int id, struct lts_status *st,
		     struct ms_error *err);
/* many at once (see lts_torrents_status()): returns how many were found */
int ms_engine_status_many(struct ms_engine *e, const int *ids, struct lts_status *st,
			  int *found, int n, struct ms_error *err);
int ms_engine_file_progress(struct ms_engine *e, int id, int64_t *out, int n,
			    struct ms_error *err);
int ms_engine_set_file_priorities(struct ms_engine *e, int id, const int *prio,
				  int n, struct ms_error *err);
int ms_engine_connect_peer(struct ms_engine *e, int id, const char *host,
			   int port, struct ms_error *err);
/* Hand in a whole piece fetched elsewhere (see lts_torrent_add_piece()). */
int ms_engine_add_piece(struct ms_engine *e, int id, int piece, const void *data,
			size_t len, int overwrite, struct ms_error *err);
/* enum lts_piece_state per piece; returns the number of pieces. */
int ms_engine_piece_states(struct ms_engine *e, int id, unsigned char *out,
			   int n, struct ms_error *err);
int ms_engine_add_tracker(struct ms_engine *e, int id, const char *url,
			  struct ms_error *err);
/* flags: LTS_SAVE_FLUSH, LTS_SAVE_NO_INFO (lt_shim.h) */
int ms_engine_save_resume(struct ms_engine *e, int id, unsigned flags,
			  struct ms_error *err);
int ms_engine_set_limits(struct ms_engine *e, int id, int upload, int download,
			 struct ms_error *err);
int ms_engine_recheck(struct ms_engine *e, int id, struct ms_error *err);
/* A download with no peer asks the DHT again (see lts_torrent_dht_announce()):
 * at most once per *interval_s seconds since *last (seconds of the
 * caller's clock, now), the interval doubling from 5 up to 60 s while
 * peers stay away and back to 5 once one came. 1 when it asked. */
int ms_engine_dht_reannounce(struct ms_engine *e, int id, int num_peers, double now,
			     double *last, int *interval_s);
int ms_engine_pause(struct ms_engine *e, int id, int pause, struct ms_error *err);
/* A download has MS_CROWD_PEERS peers or more: from now on every download
 * picks blocks, not runs of whole pieces (unless the config set
 * libtorrent.whole_pieces_threshold). */
#define MS_CROWD_PEERS 3
void ms_engine_crowded(struct ms_engine *e);
/* Session settings by name, on the running session. */
int ms_engine_apply(struct ms_engine *e, const struct lts_setting *settings, size_t n,
		    struct ms_error *err);
int ms_engine_set_upload_mode(struct ms_engine *e, int id, int on,
			      struct ms_error *err);
/* A reader of the file comes (1) or goes (-1): its verified pieces are
 * kept in memory while it has one (see lts_torrent_file_readers). */
int ms_engine_file_readers(struct ms_engine *e, int id, int file, int delta,
			   struct ms_error *err);
/* Up to n bytes of a verified piece kept in memory for the readers of
 * the file, from byte at of it: how many (0: not held). Only for pieces
 * the torrent has (see lts_torrent_read_recent). */
size_t ms_engine_read_recent(struct ms_engine *e, int id, int file, int piece, int at,
			     void *buf, size_t n);
/* Pieces picked in order (on) or rarest first (off, the default). */
int ms_engine_set_sequential(struct ms_engine *e, int id, int on,
			     struct ms_error *err);
/* Piece wanted within ms milliseconds (see lts_torrent_set_piece_deadline). */
int ms_engine_piece_deadline(struct ms_engine *e, int id, int piece, int ms,
			     struct ms_error *err);
/* The SHA-256 of a file asked for with lts_add_params.digest_files, as its
 * pieces were written: LTS_DIGEST_READY (in out, and its git blob SHA-1 in
 * git if not NULL), LTS_DIGEST_PENDING (ask again shortly) or
 * LTS_DIGEST_NONE (read the file); see lt_shim.h. */
int ms_engine_file_sha256(struct ms_engine *e, int id, int file,
			  unsigned char out[32], unsigned char git[20]);
int ms_engine_rename_file(struct ms_engine *e, int id, int file, const char *path,
			  struct ms_error *err);
/* Metadata of a torrent in the session (NULL + err until it has some);
 * free with ms_torrent_free(), look at it with ms_torrent_meta(). */
lts_torrent *ms_engine_torrent(struct ms_engine *e, int id,
			       struct ms_error *err);

#endif
