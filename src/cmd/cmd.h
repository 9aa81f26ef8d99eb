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
#include <limits.h>
#include <stdio.h>

#include <uv.h>

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

/* Translate a getopt_long '?' / ':' return into a usage error; longopts
 * is unused. */
int cmd_bad_option(const char *cmd, char **argv, const struct option *longopts);

/* Option groups. The options that several commands take come in groups,
 * each a longopts macro to put in a command's table, a struct the values
 * go into, and one helper in common.c that checks any option of the group
 * (1 if handled, 0 if not of the group, 129 after printing a usage error),
 * so that its validation and its message exist once:
 *
 *   NET      NET_LONGOPTS, struct net_opts: --no-dht, --no-lsd,
 *            --no-port-mapping, --listen ADDR:PORT (numeric)
 *   RATE     RATE_LONGOPTS (or UPLOAD_LIMIT_LONGOPT alone), struct
 *            rate_opts: --upload-limit RATE, --download-limit RATE, bytes/s
 *            below 2G with a suffix K, M or G
 *   TRACKER  TRACKER_LONGOPTS, a struct ms_strlist: --tracker URL
 *            (http://, https:// or udp://; repeatable)
 *   PEER     PEER_LONGOPTS, a struct ms_strlist: --peer HOST:PORT
 *            (numeric, with a port; repeatable)
 *   MIRROR   MIRROR_LONGOPTS (or WEBSEED_LONGOPT alone), struct
 *            ms_mirror_opts: --webseed URL (http:// or https://;
 *            repeatable), --webseeds fallback|always|never
 *   ORIGIN   ORIGIN_LONGOPTS, the struct ms_config's origin and
 *            super_seeding: --origin, --no-origin, --super-seeding (seed
 *            and publish --seed)
 *
 * A command points a struct opt_groups at the structs of the groups it
 * takes, and its getopt loop hands groups_opt() what its own cases do not take.
 */
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
	OPT_ORIGIN,
	OPT_NO_ORIGIN,
	OPT_SUPER_SEEDING,
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

/* a seeder only uploads: UPLOAD_LIMIT_LONGOPT alone */
#define UPLOAD_LIMIT_LONGOPT                                            \
	{ "upload-limit", required_argument, NULL, OPT_UPLOAD_LIMIT }
#define RATE_LONGOPTS                                                   \
	UPLOAD_LIMIT_LONGOPT,                                           \
	{ "download-limit", required_argument, NULL, OPT_DOWNLOAD_LIMIT }

/* bytes/s, such as 2M; left as the caller set them when not given */
struct rate_opts {
	int upload, download;
};

#define TRACKER_LONGOPTS                                                \
	{ "tracker", required_argument, NULL, OPT_TRACKER }

#define PEER_LONGOPTS                                                   \
	{ "peer", required_argument, NULL, OPT_PEER }

/* create and publish put web seeds into the torrent: WEBSEED_LONGOPT
 * alone; fetch and get use them as mirrors, in a mode */
#define WEBSEED_LONGOPT                                                 \
	{ "webseed", required_argument, NULL, OPT_WEBSEED }
#define MIRROR_LONGOPTS                                                 \
	WEBSEED_LONGOPT,                                                \
	{ "webseeds", required_argument, NULL, OPT_WEBSEEDS }

#define ORIGIN_LONGOPTS                                                 \
	{ "origin", no_argument, NULL, OPT_ORIGIN },                    \
	{ "no-origin", no_argument, NULL, OPT_NO_ORIGIN },              \
	{ "super-seeding", no_argument, NULL, OPT_SUPER_SEEDING }

/* The groups a command takes: NULL for those it does not. */
struct opt_groups {
	struct net_opts *net;
	struct rate_opts *rate;
	struct ms_strlist *trackers;
	struct ms_strlist *peers;
	struct ms_mirror_opts *mirrors;
	struct ms_config *origin;
};
/* For an option c (its value in optarg) that the command's own cases do
 * not take: 0 when it is an option of the groups in g, checked and kept;
 * otherwise 129 after printing a usage error (the group's, or that of
 * cmd_bad_option()). */
int groups_opt(const char *cmd, const struct opt_groups *g, int c, char **argv);

/* "mirror URL: N bytes[, ...]" lines */
void print_mirrors(const struct ms_mirrors *mr, FILE *f);
/* Engine options from the config file overridden by the command line. */
void net_engine_opts(const struct ms_ctx *ctx, const struct net_opts *n,
		     struct ms_engine_opts *o);

/* seeding.c, for seed and publish --seed: check dir against the torrent,
 * then seed it until a signal; prints "listening on", "seeding". Returns
 * an exit code. */
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
	const char *origin_why;          /* origin mode unless told otherwise,
					    and why ("we publish it"), or NULL */
	/* a release's DHT bundle seeded alongside (ms_dht.h), or NULL */
	const unsigned char *bundle;
	size_t bundle_len;
	const char *bundle_dir;
};
int seed_run_ex(struct ms_ctx *ctx, const struct net_opts *net, lts_torrent *meta,
		const char *dir, const struct ms_strlist *trackers, int upload,
		const struct seed_store *ss);
/* The same in two steps, for seed ORG/NAME@REF, which resolves the
 * release in the session first (its DHT): seed_open() starts the session
 * (prints the error, returns an exit code); seed_loop() is its loop,
 * seed_engine() its engine when its DHT is on (else NULL, and NULL once
 * it closed). seed_finish() seeds meta from dir as seed_run_ex() does and
 * frees sg; with meta NULL it only closes the session (0). */
struct seeding;
int seed_open(struct seeding **out, struct ms_ctx *ctx, const struct net_opts *net, int upload,
	      const char *origin_why);
uv_loop_t *seed_loop(struct seeding *sg);
struct ms_engine *seed_engine(struct seeding *sg);
int seed_finish(struct seeding *sg, lts_torrent *meta, const char *dir,
		const struct ms_strlist *trackers, const struct seed_store *ss);

/* publish-dht.c: publish --dht -- the bundle of the release publish
 * wrote into repodir made (into pb: its torrent, malloc'd, and its
 * directory), and an item per ref put into the DHT, waiting until a node
 * keeps each. Prints errors; returns 0 or an exit code. */
struct ms_seckey;
struct ms_pubkey;
struct publish_bundle {
	unsigned char *torrent;
	size_t len;
	char dir[PATH_MAX];
};
int publish_dht(struct ms_ctx *ctx, const struct net_opts *net, const struct ms_seckey *sk,
		const struct ms_pubkey *pk, const char *repo, const char *rev, int64_t version,
		const struct ms_strlist *refs, const char *repodir, struct publish_bundle *pb);

/* A release for a command (ms_release_fetch(), MS_RELEASE_* flags):
 * ORG/NAME@REV (default_ref
 * when there is no '@', else '@REV' is required; a usage error), the
 * indexes (given, else the default ones), warnings printed. Prints the
 * error; returns 0 or an exit code. Release r with ms_release_release()
 * either way. */
int cmd_release_fetch(struct ms_release *r, const char *cmd, const char *spec,
		      const char *default_ref, const struct ms_strlist *given,
		      const struct ms_ctx *ctx, int flags);
/* The same with the DHT as get has it (ms_dht_fetch()): with no index,
 * "dht:", or when every index fails; the lookup in session e on loop, or
 * (e NULL) in a session started with eo only for it (eo NULL or its DHT
 * off: no DHT). */
int cmd_release_fetch_dht(struct ms_release *r, const char *cmd, const char *spec,
			  const char *default_ref, const struct ms_strlist *given,
			  const struct ms_ctx *ctx, int flags, uv_loop_t *loop,
			  struct ms_engine *e, const struct ms_engine_opts *eo);

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
