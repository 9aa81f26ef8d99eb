/*
 * The daemon's repos (seedbox.c): each is downloaded by a getjob on the
 * daemon's engine, then seeded from the cache. Every repo is kept under
 * <state>/daemon/repos/<id>.{json,torrent,resume}, written atomically, so
 * that a restart puts every seeding repo back into the session with its
 * resume data (no index, no hashing) and queues unfinished downloads
 * again. Budgets: max-active-downloads, per-repo and session rate limits,
 * seed ratio and time limits (the repo is stopped), and a disk budget that
 * evicts the least recently active unpinned seeding repos. Subscriptions
 * poll an index's signed refs.json (conditional requests, jitter, backoff)
 * and add each new revision, dropping the oldest beyond `keep`.
 *
 * The JSON functions are the bodies of the daemon's RPC methods: they
 * return a new reference, or NULL with *code (JSON-RPC) and msg set.
 * Everything runs on the loop thread.
 */
#ifndef MS_SEEDBOX_H
#define MS_SEEDBOX_H

#include <jansson.h>
#include <uv.h>

#include "ms_engine.h"

struct ms_ctx;
struct seedbox;

struct seedbox_hooks {
	void (*log)(void *ud, const char *line);   /* one line an event */
	void *ud;
};

/* Load what was kept and start seeding it; peer_discovery: DHT or LSD is
 * on (downloads without any peer source use mirrors at once). */
int seedbox_open(struct seedbox **out, struct ms_ctx *ctx, uv_loop_t *loop,
		 struct ms_engine *e, int peer_discovery, const struct seedbox_hooks *h,
		 struct ms_error *err);
void seedbox_alert(struct seedbox *sb, const struct lts_alert *a);
void seedbox_tick(struct seedbox *sb);
/* Before the engine's shutdown: save every record (resume data comes with
 * the engine's shutdown, through seedbox_alert). */
void seedbox_shutdown(struct seedbox *sb);
/* After the loop ended. */
void seedbox_free(struct seedbox *sb);

json_t *seedbox_add(struct seedbox *sb, json_t *params, int *code, char *msg, size_t msglen);
json_t *seedbox_remove(struct seedbox *sb, json_t *params, int *code, char *msg,
		       size_t msglen);
json_t *seedbox_list(struct seedbox *sb, json_t *params, int *code, char *msg, size_t msglen);
json_t *seedbox_pause(struct seedbox *sb, json_t *params, int pause, int *code, char *msg,
		      size_t msglen);
json_t *seedbox_limits(struct seedbox *sb, json_t *params, int *code, char *msg,
		       size_t msglen);
json_t *seedbox_subscribe(struct seedbox *sb, json_t *params, int *code, char *msg,
			  size_t msglen);
json_t *seedbox_unsubscribe(struct seedbox *sb, json_t *params, int *code, char *msg,
			    size_t msglen);
json_t *seedbox_subscriptions(struct seedbox *sb);
json_t *seedbox_status(struct seedbox *sb);
/* The Prometheus text for the metrics endpoint (malloc'd into *buf). */
int seedbox_metrics(struct seedbox *sb, char **buf, size_t *len);

int seedbox_subs_load(struct seedbox *sb);
int seedbox_subs_save(struct seedbox *sb);

#endif
