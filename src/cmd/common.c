/* common.c: helpers shared by the subcommands */
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "ms_dht.h"
#include "ms_engine.h"
#include "ms_mirrors.h"
#include "ms_release.h"

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'modelswarm %s -h')\n", cmd);
	return EXIT_USAGE;
}

int cmd_error(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

void cmd_warning(const char *fmt, ...)
{
	va_list ap;

	fputs("warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cmd_exit_code(int code)
{
	switch (code) {
	case MS_OK:
		return EXIT_OK;
	case MS_EVERIFY:
	case MS_ENOTFOUND:
		return EXIT_VERIFY;
	default:
		return EXIT_ERROR;
	}
}

int cmd_bad_option(const char *cmd, char **argv, const struct option *longopts)
{
	const char *arg = argv[optind - 1];

	(void)longopts;
	if (optopt && !(arg && arg[0] == '-' && arg[1] == '-'))
		return cmd_usage_error(cmd, "unknown option '-%c' or missing value",
				       optopt);
	return cmd_usage_error(cmd, "unknown option or missing value: '%s'",
			       arg ? arg : "?");
}

static int net_opt(const char *cmd, struct net_opts *n, int c, const char *arg)
{
	switch (c) {
	case OPT_NO_DHT:
		n->no_dht = 1;
		return 1;
	case OPT_NO_LSD:
		n->no_lsd = 1;
		return 1;
	case OPT_NO_PORT_MAPPING:
		n->no_port_mapping = 1;
		return 1;
	case OPT_LISTEN: {
		char host[256];
		int port;
		if (ms_parse_hostport(arg, host, sizeof(host), &port))
			return cmd_usage_error(cmd, "--listen needs ADDR:PORT, not '%s'",
					       arg);
		n->listen = arg;
		return 1;
	}
	default:
		return 0;
	}
}

static int rate_opt(const char *cmd, struct rate_opts *r, int c, const char *arg)
{
	const char *opt;
	int64_t v;

	switch (c) {
	case OPT_UPLOAD_LIMIT:
		opt = "--upload-limit";
		break;
	case OPT_DOWNLOAD_LIMIT:
		opt = "--download-limit";
		break;
	default:
		return 0;
	}
	if (ms_parse_size(arg, &v) || v > 2147483647)
		return cmd_usage_error(cmd, "%s needs a rate in bytes/s such as 2M, not '%s'",
				       opt, arg);
	*(c == OPT_UPLOAD_LIMIT ? &r->upload : &r->download) = (int)v;
	return 1;
}

static int tracker_opt(const char *cmd, struct ms_strlist *trackers, int c, const char *arg)
{
	if (c != OPT_TRACKER)
		return 0;
	if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8) &&
	    strncmp(arg, "udp://", 6))
		return cmd_usage_error(cmd, "--tracker needs an http://, https:// or "
					    "udp:// URL, not '%s'", arg);
	ms_strlist_push(trackers, arg);
	return 1;
}

static int peer_opt(const char *cmd, struct ms_strlist *peers, int c, const char *arg)
{
	char host[256];
	int port;

	if (c != OPT_PEER)
		return 0;
	if (ms_parse_hostport(arg, host, sizeof(host), &port) || !port)
		return cmd_usage_error(cmd, "--peer needs HOST:PORT, not '%s'", arg);
	ms_strlist_push(peers, arg);
	return 1;
}

static int mirror_opt(const char *cmd, struct ms_mirror_opts *m, int c, const char *arg)
{
	switch (c) {
	case OPT_WEBSEED:
		if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8))
			return cmd_usage_error(cmd, "--webseed needs an http:// or "
						    "https:// URL, not '%s'", arg);
		ms_strlist_push(&m->urls, arg);
		return 1;
	case OPT_WEBSEEDS:
		if (ms_webseed_mode_parse(arg) < 0)
			return cmd_usage_error(cmd, "--webseeds needs fallback, always "
						    "or never, not '%s'", arg);
		m->mode = arg;
		return 1;
	}
	return 0;
}

/* the last of --origin and --no-origin counts; --super-seeding is
 * origin mode and more */
static int origin_opt(struct ms_config *cfg, int c)
{
	switch (c) {
	case OPT_ORIGIN:
		cfg->origin = 1;
		return 1;
	case OPT_NO_ORIGIN:
		cfg->origin = 0;
		return 1;
	case OPT_SUPER_SEEDING:
		cfg->super_seeding = 1;
		return 1;
	}
	return 0;
}

int groups_opt(const char *cmd, const struct opt_groups *g, int c, char **argv)
{
	int k = 0;

	if (g->net)
		k = net_opt(cmd, g->net, c, optarg);
	if (!k && g->rate)
		k = rate_opt(cmd, g->rate, c, optarg);
	if (!k && g->trackers)
		k = tracker_opt(cmd, g->trackers, c, optarg);
	if (!k && g->peers)
		k = peer_opt(cmd, g->peers, c, optarg);
	if (!k && g->mirrors)
		k = mirror_opt(cmd, g->mirrors, c, optarg);
	if (!k && g->origin)
		k = origin_opt(g->origin, c);
	if (!k)
		return cmd_bad_option(cmd, argv, NULL);
	return k == 1 ? 0 : k;
}

void net_engine_opts(const struct ms_ctx *ctx, const struct net_opts *n,
		     struct ms_engine_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->dht = ctx->config.dht && !n->no_dht;
	o->lsd = ctx->config.lsd && !n->no_lsd;
	o->port_mapping = ctx->config.port_mapping && !n->no_port_mapping;
	o->listen = n->listen ? n->listen : ctx->config.listen;
	o->origin = ctx->config.origin > 0 || ctx->config.super_seeding;
	o->upload_limit = (int)ctx->config.upload_limit;
	o->download_limit = (int)ctx->config.download_limit;
	o->settings = ctx->config.settings;
	o->n_settings = ctx->config.n_settings;
}

int stderr_is_tty(void)
{
	return isatty(2);
}

int load_torrent_file(const char *path, lts_torrent **t)
{
	struct ms_error err;
	unsigned char *buf;
	size_t len;

	*t = NULL;
	if (ms_read_file(path, 64u << 20, &buf, &len, &err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	*t = ms_torrent_load(buf, len, &err);
	free(buf);
	if (!*t)
		return cmd_error(EXIT_ERROR, "'%s' is not a valid torrent: %s", path,
				 err.msg);
	return 0;
}

void print_listen(FILE *out, const struct lts_alert *a)
{
	if (strchr(a->address, ':'))
		fprintf(out, "listening on [%s]:%d\n", a->address, a->port);
	else
		fprintf(out, "listening on %s:%d\n", a->address, a->port);
	fflush(out);
}

int read_password(const char *prompt, int confirm, char *buf, size_t len)
{
	struct termios old, quiet;
	FILE *in = stdin;
	int tty = isatty(0);
	size_t n;

	if (tty) {
		char again[1024];
		if (tcgetattr(0, &old) < 0)
			return -1;
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		fprintf(stderr, "%s: ", prompt);
		fflush(stderr);
		tcsetattr(0, TCSAFLUSH, &quiet);
		if (!fgets(buf, (int)len, in)) {
			tcsetattr(0, TCSAFLUSH, &old);
			fputc('\n', stderr);
			return -1;
		}
		fputc('\n', stderr);
		if (confirm) {
			fprintf(stderr, "again: ");
			fflush(stderr);
			if (!fgets(again, sizeof(again), in)) {
				tcsetattr(0, TCSAFLUSH, &old);
				return -1;
			}
			fputc('\n', stderr);
			if (strcmp(again, buf)) {
				sodium_memzero(again, sizeof(again));
				tcsetattr(0, TCSAFLUSH, &old);
				fprintf(stderr, "error: the passwords differ\n");
				return -1;
			}
			sodium_memzero(again, sizeof(again));
		}
		tcsetattr(0, TCSAFLUSH, &old);
	} else if (!fgets(buf, (int)len, in)) {
		return -1;
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return 0;
}

void hash_progress(void *ud, int64_t done, int64_t total)
{
	struct hash_progress *hp = ud;
	int pct = total ? (int)(100 * done / total) : 100;
	char d[32], t[32];

	if (!hp->tty || pct == hp->last)
		return;
	hp->last = pct;
	fprintf(stderr, "\r\033[Khashing: %3d%% (%s of %s)", pct,
		ms_fmt_bytes(d, sizeof(d), (double)done),
		ms_fmt_bytes(t, sizeof(t), (double)total));
	fflush(stderr);
}

void engine_warning(struct ms_engine *e, const char *msg, void *ud)
{
	(void)e;
	(void)ud;
	cmd_warning("%s", msg);
}

void print_mirrors(const struct ms_mirrors *mr, FILE *f)
{
	int n;
	const struct ms_mirror_stat *st = ms_mirrors_stats(mr, &n);

	for (int i = 0; i < n; i++) {
		const struct ms_mirror_stat *s = &st[i];
		fprintf(f, "mirror %s: %" PRId64 " bytes", s->url, s->bytes);
		if (s->bad_bytes)
			fprintf(f, ", %" PRId64 " failed the hash check", s->bad_bytes);
		if (s->files_skipped)
			fprintf(f, ", skipped for %d files", s->files_skipped);
		fputc('\n', f);
	}
}

static void release_warning(void *ud, const char *msg)
{
	(void)ud;
	cmd_warning("%s", msg);
}

int cmd_release_fetch_dht(struct ms_release *r, const char *cmd, const char *spec,
			  const char *default_ref, const struct ms_strlist *given,
			  const struct ms_ctx *ctx, int flags, uv_loop_t *loop,
			  struct ms_engine *e, const struct ms_engine_opts *eo)
{
	struct ms_error err;
	int c;

	ms_release_init(r);
	if (ms_release_spec(r, spec, default_ref, &err) ||
	    ms_dht_indexes(r, given, &ctx->config, e || (eo && eo->dht), &err))
		return err.code == MS_EINVAL ? cmd_usage_error(cmd, "%s", err.msg)
					     : cmd_error(EXIT_ERROR, "%s", err.msg);
	r->engine = e;
	if ((c = ms_dht_fetch(r, loop, eo, flags, release_warning, NULL, &err)) == MS_EINTR &&
	    r->signum) {
		/* Ctrl-C while the release was looked up: as a signal ends
		 * any command, not an error (the owner of a session given
		 * says it itself) */
		if (!e)
			fprintf(stderr, "%s: interrupted\n", cmd);
		return 128 + r->signum;
	}
	if (c)
		return cmd_error(cmd_exit_code(c), "%s", err.msg);
	return 0;
}

int cmd_release_fetch(struct ms_release *r, const char *cmd, const char *spec,
		      const char *default_ref, const struct ms_strlist *given,
		      const struct ms_ctx *ctx, int flags)
{
	return cmd_release_fetch_dht(r, cmd, spec, default_ref, given, ctx, flags, NULL, NULL,
				     NULL);
}
