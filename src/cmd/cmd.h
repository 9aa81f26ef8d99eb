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
#include "ms_config.h"
#include "ms_util.h"

/* a command includes the headers of what it uses (ms_torrent.h for
 * .torrent files, ms_engine.h for a session, ...): those that run no
 * session (create, verify, publish) include no ms_engine.h */
struct ms_engine;
struct ms_engine_opts;
struct ms_mirror_opts;
struct ms_mirrors;
struct ms_release;
struct lts_alert;
typedef struct lts_torrent lts_torrent; /* the shim's, see ms_torrent.h */

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

/* The exit status for what the core returned: 0 for 0; 1 (EXIT_VERIFY)
 * when something did not match what is signed or is not there
 * (MS_EVERIFY, MS_ENOTFOUND); 2 (EXIT_ERROR) for every other MS_E* code. */
int cmd_exit_code(int code);

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

/* HTTP mirrors for fetch and get: --webseed URL, --webseeds MODE */
#define MIRROR_LONGOPTS                                                 \
	{ "webseed", required_argument, NULL, OPT_WEBSEED },            \
	{ "webseeds", required_argument, NULL, OPT_WEBSEEDS }

/* Handle one of the MIRROR_LONGOPTS as net_opt() does. */
int mirror_opt(const char *cmd, struct ms_mirror_opts *m, int c, const char *arg);
/* "mirror URL: N bytes[, ...]" lines */
void print_mirrors(const struct ms_mirrors *mr, FILE *f);

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

/* A release for a command (ms_release_fetch()): ORG/NAME@REV (default_ref
 * when there is no '@', else '@REV' is required; a usage error), the
 * indexes (given, else the default ones), warnings printed. Prints the
 * error; returns 0 or an exit code. Release r with ms_release_release()
 * either way. */
int cmd_release_fetch(struct ms_release *r, const char *cmd, const char *spec,
		      const char *default_ref, const struct ms_strlist *given,
		      const struct ms_ctx *ctx, int want_refs);

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
