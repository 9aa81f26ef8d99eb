/*
 * The tool: one file per subcommand, dispatched from the table in main.c.
 * Only src/main.c and the files in src/cmd/ print to the terminal or decide the exit
 * code. Exit codes: 0 ok, 1 verification failed / not found, 2 error,
 * 129 usage error; 128+N when stopped by signal N.
 */
#ifndef MS_CMD_H
#define MS_CMD_H

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "modelswarm.h"
#include "ms_engine.h"
#include "ms_trust.h"
#include "ms_util.h"
#include "ms_progress.h"
#include "ms_webseed.h"

#define EXIT_OK 0
#define EXIT_VERIFY 1
#define EXIT_ERROR 2
#define EXIT_USAGE 129

struct ms_ctx {
	struct ms_config config;   /* loaded when the command has NEEDS_CONFIG */
};

int cmd_create(int argc, char **argv, struct ms_ctx *ctx);
int cmd_seed(int argc, char **argv, struct ms_ctx *ctx);
int cmd_fetch(int argc, char **argv, struct ms_ctx *ctx);
int cmd_get(int argc, char **argv, struct ms_ctx *ctx);
int cmd_keygen(int argc, char **argv, struct ms_ctx *ctx);
int cmd_publish(int argc, char **argv, struct ms_ctx *ctx);
int cmd_trust(int argc, char **argv, struct ms_ctx *ctx);
int cmd_verify(int argc, char **argv, struct ms_ctx *ctx);
int cmd_daemon(int argc, char **argv, struct ms_ctx *ctx);
int cmd_mirror(int argc, char **argv, struct ms_ctx *ctx);

/* Print "error: <msg> (see 'modelswarm CMD -h')" and return 129. */
int cmd_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print "error: <msg>" and return code. */
int cmd_error(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cmd_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Translate a getopt_long '?' / ':' return into a usage error. */
int cmd_bad_option(const char *cmd, char **argv, const struct option *longopts);

/* Options shared by every networking command. */
enum {
	OPT_NO_DHT = 1000,
	OPT_NO_LSD,
	OPT_NO_PORT_MAPPING,
	OPT_LISTEN,
	OPT_TRACKER,
	OPT_WEBSEED,
	OPT_PEER,
	OPT_UPLOAD_LIMIT,
	OPT_DOWNLOAD_LIMIT,
	OPT_WEBSEEDS,
	OPT_CMD_BASE /* commands number their own options from here */
};

#define NET_LONGOPTS                                                    \
	{ "no-dht", no_argument, NULL, OPT_NO_DHT },                    \
	{ "no-lsd", no_argument, NULL, OPT_NO_LSD },                    \
	{ "no-port-mapping", no_argument, NULL, OPT_NO_PORT_MAPPING },  \
	{ "listen", required_argument, NULL, OPT_LISTEN }

struct net_opts {
	int no_dht, no_lsd, no_port_mapping;
	const char *listen;
};

/* HTTP mirrors for fetch and get (mirrors.c) */
#define MIRROR_LONGOPTS                                                 \
	{ "webseed", required_argument, NULL, OPT_WEBSEED },            \
	{ "webseeds", required_argument, NULL, OPT_WEBSEEDS }

struct mirror_opts {
	struct ms_strlist urls;   /* --webseed */
	const char *mode;      /* --webseeds, or NULL */
};
/* Handle one of the MIRROR_LONGOPTS as net_opt() does. */
int mirror_opt(const char *cmd, struct mirror_opts *m, int c, const char *arg);
void mirror_opts_release(struct mirror_opts *m);

struct mirrors {
	struct ms_webseed *ws;
	int mode;              /* enum ms_webseed_mode in force */
	int stopped;
	/* what a mirror reports (a failure, a demotion), on the loop */
	void (*on_event)(void *ud, const char *mirror, const char *msg);
	/* a file fetched whole (ms_webseed_direct()), on the loop */
	void (*on_file)(void *ud, int file, int error);
	void *ud;
	/* figures kept by mirrors_stop() */
	struct ms_mirror_stat *st;
	int n;
	int64_t bytes;
};
/* Start the mirrors of torrent id: --webseed URLs, then extra (the
 * torrent's or manifest's), then the config's. peer_sources: whether any
 * peer could show up (trackers, --peer, DHT, LSD); without one, fallback
 * mode uses the mirrors at once. Does nothing without mirrors or when
 * already started. */
int mirrors_start(struct mirrors *mr, const struct ms_ctx *ctx,
		  const struct mirror_opts *mo, uv_loop_t *loop,
		  struct ms_engine *e, int id, const char *const *extra,
		  size_t n_extra, int peer_sources, struct ms_error *err);
void mirrors_alert(struct mirrors *mr, const struct lts_alert *a);
int64_t mirrors_bytes(const struct mirrors *mr);
int mirrors_active(const struct mirrors *mr);
/* bytes per mirror for the progress display (names owned by mr) */
int mirrors_sources(const struct mirrors *mr, struct ms_progress_source *out,
		    int max);
/* Stop every transfer, keeping the figures for mirrors_print/json. */
void mirrors_stop(struct mirrors *mr);
/* "mirror URL: N bytes[, ...]" lines */
void mirrors_print(const struct mirrors *mr, FILE *f);
/* per mirror: url, bytes, bad_bytes, files_skipped, last_error (live while
 * running, else the figures kept by mirrors_stop()) */
json_t *mirrors_json(const struct mirrors *mr);
void mirrors_release(struct mirrors *mr);

/*
 * One download of a signed release into the cache (getjob.c), on an
 * engine its owner drives: `get` runs one, the daemon many. The owner
 * passes every alert to getjob_alert() and calls getjob_tick() on every
 * engine tick; the job reports through hooks, on the loop thread.
 */
struct getjob;
struct getjob_opts {
	const char *spec;                  /* ORG/NAME[@REV] */
	const struct ms_strlist *indexes;     /* tried in order; none: the
					      default ones (all copied) */
	const struct ms_strlist *includes, *excludes, *peers;
	const struct mirror_opts *mirrors; /* copied */
	const char *cache_dir;             /* NULL: the default */
	const char *local_dir;             /* NULL: none */
	const char *ref;                   /* with a revision: also point
					      this ref at it (the caller
					      checked that the signed refs
					      say so), or NULL */
	int peer_discovery;                /* DHT or LSD is on */
	int json;                          /* progress events every second */
	struct ms_progress *display;       /* updated every tick, or NULL */
};
struct getjob_hooks {
	void (*on_line)(void *ud, int error, const char *msg);
	void (*on_event)(void *ud, json_t *ev);     /* the reference is the
						       hook's */
	/* once: EXIT_OK when the snapshot is written (the torrent stays in
	 * the session, seeding), else an exit code (the torrent, if added,
	 * stays too: the owner removes it or shuts the engine down) */
	void (*on_done)(void *ud, int code);
	void *ud;
};
/* Check the request and start resolving it; MS_EINVAL with a message for
 * a bad spec or when no index is known. */
int getjob_start(struct getjob **out, struct ms_ctx *ctx, uv_loop_t *loop,
		 struct ms_engine *e, const struct getjob_opts *o,
		 const struct getjob_hooks *h, struct ms_error *err);
void getjob_alert(struct getjob *j, const struct lts_alert *a);
void getjob_tick(struct getjob *j);
/* Stop now with this exit code (on_done is called if it was not yet). */
void getjob_cancel(struct getjob *j, int code);
/* Stop without telling the owner and free (later, if hashing is still
 * running off the loop). The torrent is not removed. */
void getjob_free(struct getjob *j);
struct getjob_info {
	const char *repo, *want, *ref;    /* owned by the job */
	const char *rev;                  /* NULL until resolved */
	const char *cache, *repo_dir;     /* NULL until the store is open */
	int id;                           /* the torrent, 0 until added */
	int finished;
	int exit_code;
	const lts_torrent *meta;          /* NULL until known */
	int64_t from_peers, from_mirrors;
	int hash_failures;
	int checks;                       /* times libtorrent hashed the files */
	double seconds;
	int64_t size;                     /* of the wanted files */
	const char *const *trackers;      /* the manifest's */
	size_t n_trackers;
};
void getjob_info(const struct getjob *j, struct getjob_info *out);
json_t *getjob_mirrors_json(const struct getjob *j);
/* After success: "downloaded N bytes ..." and mirror lines on err, the
 * snapshot (or --local-dir) path on out. */
void getjob_print_summary(const struct getjob *j, FILE *err, FILE *out);
/* The path and priority libtorrent has for each of the n torrent files
 * (paths owned by the job), to add the torrent again for seeding. */
int getjob_mapping(const struct getjob *j, const char **paths, int *prio, int n);

/* --peer ARG: a numeric HOST:PORT onto peers; 0, or 129 after a usage
 * error */
int peer_opt(const char *cmd, struct ms_strlist *peers, const char *arg);
/* Handle one of the NET_LONGOPTS; returns 1 if handled, 0 if not ours,
 * or 129 after printing a usage error. */
int net_opt(const char *cmd, struct net_opts *n, int c, const char *arg);
/* Engine options from the config file overridden by the command line. */
void net_engine_opts(const struct ms_ctx *ctx, const struct net_opts *n,
		     struct ms_engine_opts *o);

/* Check dir against the torrent, then seed it until a signal; prints
 * "listening on", "seeding". Returns an exit code. */
int seed_run(struct ms_ctx *ctx, const struct net_opts *net, lts_torrent *meta,
	     const char *dir, const struct ms_strlist *trackers, int upload);

/* Seeding from the Hugging Face cache: files mapped onto blobs. */
struct seed_store {
	const char *label;               /* "ORG/NAME@REV from the cache" */
	const char *const *file_paths;   /* per torrent file, relative to dir */
	size_t n_file_paths;
	const int *priorities;           /* 0 for files that are not there */
	int partial;
	int64_t want_bytes;
	const unsigned char *resume;     /* fast path, or NULL */
	size_t resume_len;
	const char *resume_path;         /* where to keep it */
};
int seed_run_ex(struct ms_ctx *ctx, const struct net_opts *net, lts_torrent *meta,
		const char *dir, const struct ms_strlist *trackers, int upload,
		const struct seed_store *ss);
/* modelswarm seed ORG/NAME@REV: in seed-store.c */
int cmd_seed_store(int argc, char **argv, struct ms_ctx *ctx, struct net_opts *net,
		   const struct ms_strlist *trackers, int upload, const char *index, const char *cache, int recheck);

/* A release resolved through an index and verified (release.c): the
 * signed files exactly as the index served them. */
struct index_bytes {
	unsigned char *buf;
	size_t len;
};
struct signed_release {
	char repo[256];              /* ORG/NAME */
	char want[128];              /* as asked: a revision or a ref */
	char rev[41];
	const char *index;           /* the index that served it */
	struct index_bytes refs, refs_sig;   /* empty when not fetched */
	struct index_bytes manifest, manifest_sig, torrent;
	struct ms_verified v;
	int verified;
	lts_torrent *meta;
	struct ms_strlist indexes;      /* tried in order */
	char *index_buf;
};
/* Parse spec (ORG/NAME@REV; the ref default_ref when there is no @, or
 * required if NULL), then try the indexes (the given ones, else
 * $MODELSWARM_INDEX's, else the config's) in order until one serves the
 * release: refs.json (for a ref; with want_refs also for a commit, kept
 * when the index has one that verifies), the manifest verified against the
 * pinned key, the torrent it names. Prints the error; returns 0 or an exit
 * code. Release r with signed_release_release() either way. */
int signed_release_fetch(struct signed_release *r, const char *cmd, const char *spec,
			 const char *default_ref, const struct ms_strlist *indexes,
			 const struct ms_ctx *ctx, int want_refs);
void signed_release_release(struct signed_release *r);
/* The manifest's entry for the torrent's file i (fi filled, *path the
 * file's path without the torrent's name), or NULL for a pad file or a
 * file the manifest does not have with that size. */
const struct ms_manifest_file *signed_release_file(const struct signed_release *r, int i,
						    struct lts_file_info *fi, const char **path);

/* Parse a rate like "2M" (bytes/s) for --upload-limit. */
int parse_rate(const char *cmd, const char *opt, const char *arg, int *out);

/* Read and parse a .torrent file (size-capped); prints the error. */
int load_torrent_file(const char *path, lts_torrent **t);
/* Print "listening on ADDR:PORT" for a listen alert. */
void print_listen(FILE *out, const struct lts_alert *a);

/* A password: from the terminal without echo (twice if confirm), else one
 * line of standard input. buf should be sodium_malloc'd. 0 or -1. */
int read_password(const char *prompt, int confirm, char *buf, size_t len);

/* Hashing progress on a terminal ("hashing: 45% (1.2 GiB of 3.0 GiB)");
 * ud is a struct hash_progress. */
struct hash_progress {
	int tty;
	int last;
};
void hash_progress(void *ud, int64_t done, int64_t total);

/* The engine's on_warning for commands: "warning: MSG" on stderr. */
void engine_warning(struct ms_engine *e, const char *msg, void *ud);

/* Is fd 2 a terminal? */
int stderr_is_tty(void);

#endif
