/*
 * The configuration file and the state directory (config.c).
 */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "modelswarm.h"
#include "ms_util.h"

/* One NAME = VALUE setting (of libtorrent's, by its name), both strings
 * owned by whoever holds the array. */
struct ms_setting {
	char *name;
	char *value;
};

/* Configuration: $MODELSWARM_HOME/config, else
 * $XDG_CONFIG_HOME/modelswarm/config, else ~/.config/modelswarm/config. */
struct ms_config {
	int dht, lsd, port_mapping;   /* default on */
	char *listen;                 /* NULL: libtorrent's default */
	char *index;                  /* index URLs, space-separated, or NULL */
	char *path;                   /* the file read, or NULL */
	/* libtorrent.NAME = VALUE lines, applied by the engine */
	struct ms_setting *settings;
	size_t n_settings;
	/* HTTP mirrors: webseed = URL lines (extra mirrors for every
	 * download), webseeds = fallback|always|never (NULL: unset),
	 * webseed-fallback-rate, webseed-fallback-delay (seconds),
	 * webseed-timeout (seconds), webseed-connections (per mirror),
	 * webseed-request-size (bytes a request; 0 for these three: unset),
	 * and mirror-auth.HOST = VALUE (an Authorization header sent to HOST
	 * only) */
	char **webseeds;
	size_t n_webseeds;
	char *webseed_mode;
	int64_t fallback_rate;        /* -1: unset */
	int64_t fallback_delay_s;     /* -1: unset */
	int64_t webseed_timeout_s;
	/* stall-timeout: seconds a download may go without a byte from
	 * anyone before it gives up (-1: unset) */
	int64_t stall_timeout_s;
	int64_t webseed_conns;
	int64_t webseed_request;
	char **auth_host, **auth_value;
	size_t n_auth;
	/* the daemon: rpc-timeout (seconds a client has to send a whole
	 * request; 0: unset) */
	int64_t rpc_timeout_s;
	/* the daemon: hf-timeout (seconds a client of the Hugging Face
	 * endpoint may stay idle or take to send a request head; 0: unset) */
	int64_t hf_timeout_s;
	/* the daemon: upload-limit, download-limit (bytes/s, session-wide;
	 * 0: none), seed-ratio-limit (0: none), seed-time-limit (seconds; 0:
	 * none), disk-budget (bytes; 0: none), max-active-downloads (0: 3),
	 * seed-store (seed every complete snapshot of the cache),
	 * subscribe-interval (seconds; 0: 600), metrics (ADDR:PORT),
	 * hf-listen ([ADDR:]PORT, the Hugging Face endpoint), log (stderr or
	 * syslog) */
	int64_t upload_limit, download_limit;
	double seed_ratio_limit;
	int64_t seed_time_limit_s;
	int64_t disk_budget;
	int64_t max_active_downloads;
	/* idle-unload: seconds without a peer after which a seeding repo
	 * leaves the session (dormant: a peer's handshake loads it again;
	 * -1: unset, 60; 0: never); idle-announce: seconds between the
	 * announces of a dormant repo (0: unset, 1800); idle-loaded: idle
	 * repos (seeding, no peer) left loaded before idle-unload is up, at
	 * most (-1: unset, 16) */
	int64_t idle_unload_s;
	int64_t idle_announce_s;
	int64_t idle_loaded;
	int seed_store;
	/* origin: seed and publish --seed let each peer queue few requests,
	 * so that a release's first seed sends each piece about once (-1:
	 * unset: publish --seed and seed of a release signed by our own
	 * key do, others not); super-seeding: also BEP 16 super seeding */
	int origin, super_seeding;
	int64_t subscribe_interval_s;
	/* the daemon: dht-reput-interval (seconds between the puts of a DHT
	 * item it holds the release of; 0: unset, 3600), dht-puts-per-minute
	 * (at most; 0: unset, 20) */
	int64_t dht_reput_interval_s;
	int64_t dht_puts_per_minute;
	char *metrics;
	char *hf_listen;
	/* hf-allow (repeatable): ORG/NAME globs a request to the endpoint may
	 * start the download of (none: any repo of an org with a pinned key) */
	struct ms_strlist hf_allow;
	/* hf-upstream (URL of a Hugging Face hub): a repo with no release in
	 * the indexes, of an org with no pinned key, is bridged from there;
	 * bridge-key (a minisign secret key without a password; NULL:
	 * <state>/bridge/bridge.key, made on first use), bridge-name (how the
	 * daemon names its own bridge; NULL: "local"), bridge-tracker
	 * (repeatable: trackers for the torrents it makes) */
	char *hf_upstream;
	char *bridge_key;
	char *bridge_name;
	struct ms_strlist bridge_trackers;
	char *log;
};

int ms_config_load(struct ms_config *c, struct ms_error *err);
void ms_config_release(struct ms_config *c);

/* $MODELSWARM_HOME/state, else $XDG_STATE_HOME/modelswarm, else
 * ~/.local/state/modelswarm, into buf. */
int ms_state_dir(char *buf, size_t len, struct ms_error *err);

/* $MODELSWARM_HOME, else $XDG_CONFIG_HOME/modelswarm, else
 * ~/.config/modelswarm, into buf. */
int ms_config_dir(char *buf, size_t len, struct ms_error *err);

/* The resume data file for WHAT (a hash, a revision) stored at WHERE:
 * <state>/resume/<fnv(what)>-<fnv(where)>.EXT (the directory is made). */
int ms_resume_path(const char *what, const char *where, const char *ext, char *buf,
		   size_t len, struct ms_error *err);

/* The mirrors a command line adds to the config's (--webseed URL, and
 * --webseeds MODE, or NULL). */
struct ms_mirror_opts {
	struct ms_strlist urls;  /* (ms_util.h) */   /* --webseed */
	const char *mode;         /* --webseeds, or NULL */
};
void ms_mirror_opts_release(struct ms_mirror_opts *m);

#endif
