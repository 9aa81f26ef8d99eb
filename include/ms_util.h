/*
 * Small helpers shared by the modules and the tool: files, paths, sizes,
 * the configuration file and the state directory.
 */
#ifndef MS_UTIL_H
#define MS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "lt_shim.h"
#include "modelswarm.h"

/* Read all of path into a malloc'd buffer (NUL-terminated, *len excludes
 * the NUL). Files larger than cap are refused with MS_ETOOBIG; anything
 * but a regular file (a FIFO, a device, a directory) with MS_EINVAL, at
 * once. */
int ms_read_file(const char *path, size_t cap, unsigned char **buf,
		 size_t *len, struct ms_error *err);

/* A buffer for one file's reads (hashing, copying) of len bytes, straight
 * from the kernel; NULL when out of memory. Free it with ms_iobuf_free and
 * the same len: its pages go back to the system at once (a malloc'd one
 * that size may stay in a worker thread's arena, resident, for good). */
void *ms_iobuf_new(size_t len);
void ms_iobuf_free(void *buf, size_t len);

/* Write buf to path atomically: a temporary file in the same directory,
 * fsync, rename. Never leaves a partial file at path. */
int ms_write_file_atomic(const char *path, const void *buf, size_t len,
			 int mode, struct ms_error *err);

/* Write all of buf to fd, give it mode, fsync and close it (closed in
 * any case); 0, or -1 with errno set. */
int ms_write_close(int fd, const void *buf, size_t len, int mode);

/* mkdir -p with mode 0755 for each missing component. */
int ms_mkdir_p(const char *path, struct ms_error *err);

/* Parse "1234", "10k", "2M", "1G" (powers of 1024) into bytes.
 * Returns 0 or MS_EINVAL. */
int ms_parse_size(const char *s, int64_t *out);

/* Parse "HOST:PORT" or "[V6]:PORT". host is filled (NUL-terminated). */
int ms_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Human-readable byte count ("1.5 GiB") into buf. */
const char *ms_fmt_bytes(char *buf, size_t len, double bytes);

/* A regular file found by ms_tree_scan(). */
struct ms_tree_file {
	char *path;      /* relative, '/'-separated */
	int64_t size;
};

struct ms_tree {
	struct ms_tree_file *files;
	size_t n;
	int64_t total;
};

/* Every regular file under dir, sorted bytewise by relative path.
 * Refuses symlinks and special files with a message naming them. */
int ms_tree_scan(const char *dir, struct ms_tree *t, struct ms_error *err);
void ms_tree_release(struct ms_tree *t);
/* symlinks to regular files inside dir are followed (their target's size
 * is listed); symlinks leading outside are refused */
#define MS_TREE_FOLLOW_INSIDE (1u << 0)
int ms_tree_scan_flags(const char *dir, unsigned flags, struct ms_tree *t,
		       struct ms_error *err);

/* Configuration: $MODELSWARM_HOME/config, else
 * $XDG_CONFIG_HOME/modelswarm/config, else ~/.config/modelswarm/config. */
struct ms_config {
	int dht, lsd, port_mapping;   /* default on */
	char *listen;                 /* NULL: libtorrent's default */
	char *index;                  /* index URLs, space-separated, or NULL */
	char *path;                   /* the file read, or NULL */
	/* libtorrent.NAME = VALUE lines */
	struct lts_setting *settings;
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
	int64_t webseed_conns;
	int64_t webseed_request;
	char **auth_host, **auth_value;
	size_t n_auth;
	/* the daemon: rpc-timeout (seconds a client has to send a whole
	 * request; 0: unset) */
	int64_t rpc_timeout_s;
	/* the daemon: upload-limit, download-limit (bytes/s, session-wide;
	 * 0: none), seed-ratio-limit (0: none), seed-time-limit (seconds; 0:
	 * none), disk-budget (bytes; 0: none), max-active-downloads (0: 3),
	 * seed-store (seed every complete snapshot of the cache),
	 * subscribe-interval (seconds; 0: 600), metrics (ADDR:PORT), log
	 * (stderr or syslog) */
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
	 * so that a release's first seed sends each piece about once;
	 * super-seeding: also BEP 16 super seeding */
	int origin, super_seeding;
	int64_t subscribe_interval_s;
	char *metrics;
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

/* 64-bit FNV-1a, for naming state files. */
uint64_t ms_fnv64(const void *data, size_t len, uint64_t seed);

#endif
