/* daemon.c: modelswarm daemon: the long-lived process and its RPC methods
 * (the socket server is src/rpc.c) */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <syslog.h>

#include "cmd.h"
#include "ms_hfapi.h"
#include "ms_manifest.h"
#include "ms_metrics.h"
#include "ms_rpc.h"
#include "ms_seedbox.h"

static const char daemon_usage[] =
	"usage: modelswarm daemon [--foreground] [--config FILE] [--socket PATH]\n"
	"                         [--listen ADDR:PORT] [--metrics ADDR:PORT]\n"
	"                         [--hf-listen [ADDR:]PORT] [--hf-allow GLOB]...\n"
	"                         [--hf-upstream URL] [--syslog]\n"
	"                         [--no-dht] [--no-lsd] [--no-port-mapping]\n"
	"   or: modelswarm daemon add ORG/NAME[@REV] [--cache-dir DIR] [--index URL]...\n"
	"                         [--include GLOB]... [--exclude GLOB]... [--peer HOST:PORT]...\n"
	"                         [--pin] [--paused] [--upload-limit RATE] [--download-limit RATE]\n"
	"   or: modelswarm daemon (rm [--data] | pause | resume) TARGET\n"
	"   or: modelswarm daemon ls [TARGET] [--json]\n"
	"   or: modelswarm daemon limits [TARGET] [--upload-limit RATE] [--download-limit RATE]\n"
	"                         [--seed-ratio X] [--seed-time S] [--disk-budget SIZE]\n"
	"                         [--max-active N]\n"
	"   or: modelswarm daemon subscribe ORG/NAME[@REF] [--keep N] [--index URL]...\n"
	"                         [--cache-dir DIR]\n"
	"   or: modelswarm daemon (unsubscribe ORG/NAME[@REF] | subscriptions | ping |\n"
	"                         status | stop)\n"
	"\n"
	"  The daemon seeds every repo it keeps from one session; the other forms\n"
	"  talk to it over its control socket. TARGET: an id, ORG/NAME (every\n"
	"  revision) or ORG/NAME@REV (a revision, a 7+ hex prefix, or the ref added).\n"
	"\n"
	"    --foreground          stay in the foreground (as under systemd);\n"
	"                          otherwise detach once the socket is ready\n"
	"    --config FILE         read FILE instead of the default config file\n"
	"    --socket PATH         the control socket (default:\n"
	"                          $MODELSWARM_HOME/modelswarm.sock, else\n"
	"                          $XDG_RUNTIME_DIR/modelswarm.sock)\n"
	"    --listen ADDR:PORT    listen for peers there (port 0: any free port)\n"
	"    --metrics ADDR:PORT   serve Prometheus metrics at http://ADDR:PORT/metrics\n"
	"    --hf-listen [ADDR:]PORT\n"
	"                          serve the repos it holds as a Hugging Face hub\n"
	"                          there (HF_ENDPOINT=http://ADDR:PORT; ADDR:\n"
	"                          127.0.0.1 unless given); a request for a release\n"
	"                          it does not hold starts its download\n"
	"    --hf-allow GLOB       only repos matching ORG/NAME GLOB may be started\n"
	"                          by a request (repeatable; adds to the config's)\n"
	"    --hf-upstream URL     bridge a repo no index has from the Hugging Face\n"
	"                          hub at URL: download it once, check every file\n"
	"                          against the hub's metadata, sign it with the\n"
	"                          daemon's bridge key and seed it (orgs with a\n"
	"                          pinned key are never bridged)\n"
	"    --syslog              log to syslog instead of standard error\n"
	"    --no-dht              no DHT\n"
	"    --no-lsd              no local service discovery\n"
	"    --no-port-mapping     no UPnP / NAT-PMP\n"
	"    add                   download ORG/NAME@REV (default: main) into the\n"
	"                          cache, then seed it\n"
	"    --cache-dir DIR       the Hugging Face cache (default: as for get)\n"
	"    --index URL           an index (repeatable; default: as for get)\n"
	"    --include, --exclude  only some files, as for get\n"
	"    --peer HOST:PORT      dial this peer for the download (repeatable)\n"
	"    --pin                 never evict it for the disk budget\n"
	"    --paused              add it paused\n"
	"    --upload-limit RATE   bytes/s such as 2M (0: none); per repo, or with\n"
	"    --download-limit RATE limits and no TARGET, for the whole daemon\n"
	"    --seed-ratio X, --seed-time S, --disk-budget SIZE, --max-active N\n"
	"                          the daemon's budgets (see the config file), until\n"
	"                          it restarts or reloads its config\n"
	"    rm                    stop seeding and forget it; --data also removes\n"
	"                          its snapshot and the blobs only it uses\n"
	"    pause, resume         stop or start a repo (resume also lifts a seed\n"
	"                          ratio or time limit)\n"
	"    ls                    the repos: state, progress, rates, peers, ratio\n"
	"    --json                ls as JSON\n"
	"    subscribe             follow a ref: each new signed revision is added;\n"
	"    --keep N              then only the newest N are kept (0: all)\n"
	"    unsubscribe           stop following it (what it added stays)\n"
	"    subscriptions         the subscriptions (JSON)\n"
	"    ping                  check that a daemon answers\n"
	"    status                the daemon's status (JSON)\n"
	"    stop                  ask the daemon to shut down cleanly\n"
	"    -h, --help            show this help\n";

enum {
	OPT_D_FOREGROUND = OPT_CMD_BASE, OPT_D_SOCKET, OPT_D_CONFIG, OPT_D_METRICS, OPT_D_HF,
	OPT_D_SYSLOG, OPT_D_CACHE, OPT_D_INDEX, OPT_D_INCLUDE, OPT_D_EXCLUDE, OPT_D_PIN,
	OPT_D_PAUSED, OPT_D_DATA, OPT_D_KEEP, OPT_D_JSON, OPT_D_RATIO, OPT_D_STIME,
	OPT_D_BUDGET, OPT_D_ACTIVE, OPT_D_HF_ALLOW, OPT_D_HF_UPSTREAM
};

static const struct option daemon_opts[] = {
	NET_LONGOPTS,
	RATE_LONGOPTS,
	PEER_LONGOPTS,
	{ "foreground", no_argument, NULL, OPT_D_FOREGROUND },
	{ "socket", required_argument, NULL, OPT_D_SOCKET },
	{ "config", required_argument, NULL, OPT_D_CONFIG },
	{ "metrics", required_argument, NULL, OPT_D_METRICS },
	{ "hf-listen", required_argument, NULL, OPT_D_HF },
	{ "hf-allow", required_argument, NULL, OPT_D_HF_ALLOW },
	{ "hf-upstream", required_argument, NULL, OPT_D_HF_UPSTREAM },
	{ "syslog", no_argument, NULL, OPT_D_SYSLOG },
	{ "cache-dir", required_argument, NULL, OPT_D_CACHE },
	{ "index", required_argument, NULL, OPT_D_INDEX },
	{ "include", required_argument, NULL, OPT_D_INCLUDE },
	{ "exclude", required_argument, NULL, OPT_D_EXCLUDE },
	{ "pin", no_argument, NULL, OPT_D_PIN },
	{ "paused", no_argument, NULL, OPT_D_PAUSED },
	{ "data", no_argument, NULL, OPT_D_DATA },
	{ "keep", required_argument, NULL, OPT_D_KEEP },
	{ "json", no_argument, NULL, OPT_D_JSON },
	{ "seed-ratio", required_argument, NULL, OPT_D_RATIO },
	{ "seed-time", required_argument, NULL, OPT_D_STIME },
	{ "disk-budget", required_argument, NULL, OPT_D_BUDGET },
	{ "max-active", required_argument, NULL, OPT_D_ACTIVE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

struct daemon {
	struct ms_ctx *ctx;
	uv_loop_t *loop;
	struct ms_engine *eng;
	struct ms_rpc *rpc;
	struct ms_seedbox *sb;
	struct ms_metrics *metrics;
	struct ms_hfapi *hf;
	uv_signal_t sighup;
	const char *socket;
	time_t started;
	int listen_port;
	int stopping;
	int stop_asked;        /* "stop" over RPC: done on the next tick,
				  once its answer has gone out */
	int ready_fd;          /* the parent waits on it when detaching */
};

static int use_syslog;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(LOG_INFO, fmt, ap);
	} else {
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		fflush(stderr);
	}
	va_end(ap);
}

static void log_line(void *ud, const char *line)
{
	(void)ud;
	say("%s", line);
}

static void shutdown_daemon(struct daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	say("stopping (%s)", why);
	if (d->rpc)
		ms_rpc_close(d->rpc);
	d->rpc = NULL;
	if (d->metrics)
		ms_metrics_close(d->metrics);
	d->metrics = NULL;
	ms_hfapi_close(d->hf);
	d->hf = NULL;
	if (d->sb)
		ms_seedbox_shutdown(d->sb);
	uv_signal_stop(&d->sighup);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	ms_engine_shutdown(d->eng, 10000);
}

/* ---- RPC methods ------------------------------------------------------ */

static json_t *m_ping(void *ud, json_t *params, int *code, char *msg, size_t len)
{
	(void)ud;
	(void)params;
	(void)code;
	(void)msg;
	(void)len;
	return json_string("pong");
}

static json_t *m_status(void *ud, json_t *params, int *code, char *msg, size_t len)
{
	struct daemon *d = ud;
	json_t *o;

	(void)params;
	(void)code;
	(void)msg;
	(void)len;
	o = ms_seedbox_status(d->sb);
	json_object_update_new(o, json_pack("{s:s, s:i, s:I, s:i, s:s}", "version", MS_VERSION,
					    "pid", (int)getpid(), "uptime_s",
					    (json_int_t)(time(NULL) - d->started), "listen_port",
					    d->listen_port, "socket", d->socket));
	if (d->metrics)
		json_object_set_new(o, "metrics_port", json_integer(ms_metrics_port(d->metrics)));
	if (d->hf)
		json_object_set_new(o, "hf_port", json_integer(ms_hfapi_port(d->hf)));
	return o;
}

static json_t *m_stop(void *ud, json_t *params, int *code, char *msg, size_t len)
{
	struct daemon *d = ud;

	(void)params;
	(void)code;
	(void)msg;
	(void)len;
	d->stop_asked = 1;
	return json_string("stopping");
}

/* the repo methods take an object of named parameters */
#define REPO_METHOD(name, call)                                                   \
	static json_t *name(void *ud, json_t *params, int *code, char *msg, size_t len) \
	{                                                                         \
		struct daemon *d = ud;                                            \
		json_t *p = params ? params : json_object();                      \
		json_t *r;                                                        \
		if (!json_is_object(p)) {                                         \
			*code = MS_RPC_INVALID_PARAMS;                            \
			snprintf(msg, len, "params must be an object");           \
			return NULL;                                              \
		}                                                                 \
		r = call;                                                         \
		if (!params)                                                      \
			json_decref(p);                                           \
		return r;                                                         \
	}

REPO_METHOD(m_add, ms_seedbox_add(d->sb, p, code, msg, len))
REPO_METHOD(m_rm, ms_seedbox_remove(d->sb, p, code, msg, len))
REPO_METHOD(m_ls, ms_seedbox_list(d->sb, p, code, msg, len))
REPO_METHOD(m_pause, ms_seedbox_pause(d->sb, p, 1, code, msg, len))
REPO_METHOD(m_resume, ms_seedbox_pause(d->sb, p, 0, code, msg, len))
REPO_METHOD(m_limits, ms_seedbox_limits(d->sb, p, code, msg, len))
REPO_METHOD(m_subscribe, ms_seedbox_subscribe(d->sb, p, code, msg, len))
REPO_METHOD(m_unsubscribe, ms_seedbox_unsubscribe(d->sb, p, code, msg, len))
REPO_METHOD(m_subscriptions, ms_seedbox_subscriptions(d->sb))

static const struct ms_rpc_method methods[] = {
	{ "ping", m_ping },
	{ "status", m_status },
	{ "stop", m_stop },
	{ "add", m_add },
	{ "rm", m_rm },
	{ "ls", m_ls },
	{ "pause", m_pause },
	{ "resume", m_resume },
	{ "limits", m_limits },
	{ "subscribe", m_subscribe },
	{ "unsubscribe", m_unsubscribe },
	{ "subscriptions", m_subscriptions },
};

static int render_metrics(void *ud, char **buf, size_t *len)
{
	struct daemon *d = ud;

	return ms_seedbox_metrics(d->sb, buf, len);
}

/* ---- engine callbacks ------------------------------------------------ */

/* the engine is gone: no download may touch it any more */
static void on_closed(void *ud)
{
	struct daemon *d = ud;

	if (d->sb)
		ms_seedbox_engine_closed(d->sb);
}

static void on_alert(struct ms_engine *e, const struct lts_alert *a, void *ud)
{
	struct daemon *d = ud;

	(void)e;
	if (a->type == LTS_ALERT_LISTEN_SUCCEEDED) {
		if (!d->listen_port)
			d->listen_port = a->port;
		say("listening on %s:%d", a->address, a->port);
	} else if (a->type == LTS_ALERT_LISTEN_FAILED) {
		say("cannot listen on %s:%d: %s", a->address, a->port, a->message);
	}
	if (d->sb)
		ms_seedbox_alert(d->sb, a);
}

static void on_signal(struct ms_engine *e, int signum, void *ud)
{
	(void)e;
	shutdown_daemon(ud, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_sighup(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	struct ms_config c;
	struct ms_error err;
	char up[32], down[32];

	(void)signum;
	if (ms_config_load(&c, &err)) {
		say("cannot reload the configuration: %s", err.msg);
		return;
	}
	ms_config_release(&d->ctx->config);
	d->ctx->config = c;
	/* the session-wide limits follow the file; budgets are read as
	 * they are used */
	snprintf(up, sizeof(up), "%d", (int)c.upload_limit);
	snprintf(down, sizeof(down), "%d", (int)c.download_limit);
	{
		struct lts_setting set[] = { { "upload_rate_limit", up },
					     { "download_rate_limit", down } };
		ms_engine_apply(d->eng, set, 2, NULL);
	}
	if (d->hf)
		ms_hfapi_set_timeout(d->hf, (unsigned)c.hf_timeout_s);
	say("reloaded the configuration%s%s", c.path ? " from " : "", c.path ? c.path : "");
}

static void on_tick(struct ms_engine *e, void *ud)
{
	struct daemon *d = ud;

	(void)e;
	if (d->stop_asked)
		shutdown_daemon(d, "asked over RPC");
	else if (d->sb && !d->stopping)
		ms_seedbox_tick(d->sb);
}

/* ---- client side ------------------------------------------------------ */

static void print_ls(json_t *a)
{
	size_t i;
	json_t *o;

	printf("%-16s %-8s %6s %9s %9s %5s %6s  %s\n", "ID", "STATE", "DONE", "UP/s", "DOWN/s",
	       "PEERS", "RATIO", "REPO");
	json_array_foreach(a, i, o) {
		char up[32], down[32];
		double size = (double)json_integer_value(json_object_get(o, "size"));
		double done = (double)json_integer_value(json_object_get(o, "done"));
		const char *rev = json_string_value(json_object_get(o, "revision"));
		const char *err = json_string_value(json_object_get(o, "error"));
		printf("%-16s %-8s %5.1f%% %9s %9s %5d %6.2f  %s@%s\n",
		       json_string_value(json_object_get(o, "id")),
		       json_string_value(json_object_get(o, "state")),
		       size > 0 ? 100.0 * done / size : 0.0,
		       ms_fmt_bytes(up, sizeof(up),
				    (double)json_integer_value(json_object_get(o, "upload_rate"))),
		       ms_fmt_bytes(down, sizeof(down),
				    (double)json_integer_value(json_object_get(o, "download_rate"))),
		       (int)json_integer_value(json_object_get(o, "peers")),
		       json_real_value(json_object_get(o, "ratio")),
		       json_string_value(json_object_get(o, "repo")),
		       rev && *rev ? rev : json_string_value(json_object_get(o, "want")));
		if (err)
			printf("    error: %s\n", err);
	}
}

static int client(const char *sock, const char *what, json_t *params, int json)
{
	struct ms_error err;
	json_t *resp = NULL, *result;
	int r;

	r = ms_rpc_call(sock, what, params, 10000, &resp, &err);
	json_decref(params);
	if (r)
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	result = json_object_get(resp, "result");
	if (!result) {
		const char *m = json_string_value(
			json_object_get(json_object_get(resp, "error"), "message"));
		r = cmd_error(EXIT_ERROR, "daemon: %s", m ? m : "error");
		json_decref(resp);
		return r;
	}
	if (json_is_string(result)) {
		printf("%s\n", json_string_value(result));
	} else if (!strcmp(what, "ls") && !json) {
		print_ls(result);
	} else {
		char *s = json_dumps(result, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s ? s : "");
		free(s);
	}
	json_decref(resp);
	return EXIT_OK;
}

/* ---- the daemon ------------------------------------------------------- */

static int start_hf(struct daemon *d, const char *addr, struct ms_error *err)
{
	const struct ms_config *c = &d->ctx->config;
	struct ms_hfapi_opts o = {
		.addr = addr, .sb = d->sb, .eng = d->eng, .allow = &c->hf_allow,
		.stall_s = c->stall_timeout_s > 0 ? (unsigned)c->stall_timeout_s : 0,
	};

	return ms_hfapi_start(&d->hf, d->loop, &o, err);
}

static int run(struct ms_ctx *ctx, const struct net_opts *net, const char *sock,
	       const char *metrics, const char *hf, int ready_fd)
{
	char hf_addr[300];
	struct ms_engine_events ev = { on_alert, on_tick, on_signal, on_closed, engine_warning, NULL };
	struct ms_seedbox_hooks sh = { log_line, NULL };
	struct ms_engine_opts eo;
	struct ms_rpc_opts ro;
	struct ms_error err;
	struct daemon d;
	uv_loop_t loop;
	int r = EXIT_OK;

	memset(&d, 0, sizeof(d));
	d.ctx = ctx;
	d.loop = &loop;
	d.socket = sock;
	d.started = time(NULL);
	d.ready_fd = ready_fd;
	net_engine_opts(ctx, net, &eo);
	eo.tick_ms = 200;
	ev.ud = &d;
	uv_loop_init(&loop);
	if (ms_engine_new(&d.eng, &loop, &eo, &ev, &err)) {
		uv_loop_close(&loop);
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	}
	memset(&ro, 0, sizeof(ro));
	ro.path = sock;
	ro.methods = methods;
	ro.n_methods = sizeof(methods) / sizeof(methods[0]);
	ro.ud = &d;
	if (ctx->config.rpc_timeout_s > 0)
		ro.request_timeout_ms = (unsigned)ctx->config.rpc_timeout_s * 1000;
	if (!metrics)
		metrics = ctx->config.metrics;
	if (!hf)
		hf = ctx->config.hf_listen;
	if (hf && !hf[strspn(hf, "0123456789")]) {   /* a port alone: loopback */
		snprintf(hf_addr, sizeof(hf_addr), "127.0.0.1:%s", hf);
		hf = hf_addr;
	}
	if (hf && hf != ctx->config.hf_listen) {
		/* the address in use, for the seedbox too (where followers of
		 * its bridges reach its relay) */
		char *dup = strdup(hf);
		if (dup) {
			free(ctx->config.hf_listen);
			ctx->config.hf_listen = dup;
			hf = dup;
		}
	}
	if (ms_rpc_start(&d.rpc, &loop, &ro, &err) ||
	    ms_seedbox_open(&d.sb, &ctx->config, &loop, d.eng, eo.dht || eo.lsd, &sh, &err) ||
	    ms_seedbox_subs_load(d.sb) ||
	    (metrics && ms_metrics_start(&d.metrics, &loop, metrics, render_metrics, &d, &err)) ||
	    (hf && start_hf(&d, hf, &err))) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		if (d.rpc)
			ms_rpc_close(d.rpc);
		d.rpc = NULL;
		if (d.metrics)
			ms_metrics_close(d.metrics);
		d.metrics = NULL;
		if (d.sb)
			ms_seedbox_shutdown(d.sb);
		ms_engine_close(d.eng);
	} else {
		if (d.hf)
			ms_hfapi_set_timeout(d.hf, (unsigned)ctx->config.hf_timeout_s);
		uv_signal_init(&loop, &d.sighup);
		d.sighup.data = &d;
		uv_signal_start(&d.sighup, on_sighup, SIGHUP);
		say("modelswarm daemon %s, pid %d, control socket %s", MS_VERSION,
		    (int)getpid(), sock);
		if (d.metrics)
			say("metrics at http://%s/metrics (port %d)", metrics,
			    ms_metrics_port(d.metrics));
		if (d.hf)
			say("Hugging Face endpoint at http://%s (port %d)", hf, ms_hfapi_port(d.hf));
		if (ready_fd >= 0) {
			if (write(ready_fd, "1", 1) != 1)
				say("cannot tell the parent that the daemon is ready");
			close(ready_fd);
			d.ready_fd = -1;
		}
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ms_seedbox_free(d.sb);
	if (uv_loop_close(&loop))
		return cmd_error(EXIT_ERROR, "internal error: event loop not closed");
	if (!r)
		say("stopped");
	return r;
}

/* fork; the parent returns once the child's socket answers (or it died) */
static int detach(struct ms_ctx *ctx, const struct net_opts *net, const char *sock,
		  const char *metrics, const char *hf)
{
	int p[2], null;
	pid_t pid;
	char c;

	if (pipe(p))
		return cmd_error(EXIT_ERROR, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return cmd_error(EXIT_ERROR, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1) {
			close(p[0]);
			return cmd_error(EXIT_ERROR, "the daemon did not start (see its messages above)");
		}
		close(p[0]);
		printf("modelswarm daemon running, pid %d, control socket %s\n", (int)pid, sock);
		return EXIT_OK;
	}
	close(p[0]);
	setsid();
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
	exit(run(ctx, net, sock, metrics, hf, p[1]));
}

static const char *const subcommands[] = {
	"ping", "status", "stop", "add", "rm", "ls", "pause", "resume", "limits",
	"subscribe", "unsubscribe", "subscriptions"
};

/* how many arguments each takes: 0, 1, or -1 for "0 or 1" */
static int nargs(const char *what)
{
	if (!strcmp(what, "add") || !strcmp(what, "rm") || !strcmp(what, "pause") ||
	    !strcmp(what, "resume") || !strcmp(what, "subscribe") ||
	    !strcmp(what, "unsubscribe"))
		return 1;
	if (!strcmp(what, "ls") || !strcmp(what, "limits"))
		return -1;
	return 0;
}

int cmd_daemon(int argc, char **argv, struct ms_ctx *ctx)
{
	struct net_opts net = { 0 };
	struct rate_opts rate = { -1, -1 };   /* -1: not given */
	struct ms_error err;
	struct ms_strlist indexes = { 0 }, includes = { 0 }, excludes = { 0 }, peers = { 0 };
	struct ms_strlist hf_allow = { 0 };
	const char *upstream = NULL;
	struct opt_groups og = { .net = &net, .rate = &rate, .peers = &peers };
	char path[4096], cfg[4096];
	const char *sock = NULL, *what = NULL, *arg = NULL, *metrics = NULL, *cache = NULL;
	const char *hf = NULL;
	int c, foreground = 0, pin = 0, paused = 0, data = 0, json = 0, keep = -1;
	int r = EXIT_OK, known = 0;
	json_t *params, *budgets = json_object();

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", daemon_opts, NULL)) != -1) {
		switch (c) {
		case OPT_D_FOREGROUND: foreground = 1; break;
		case OPT_D_SOCKET: sock = optarg; break;
		case OPT_D_METRICS: metrics = optarg; break;
		case OPT_D_HF: hf = optarg; break;
		case OPT_D_HF_ALLOW:
			if (!strchr(optarg, '/')) {
				r = cmd_usage_error("daemon", "--hf-allow needs an ORG/NAME pattern "
						    "such as 'acme/*'");
				goto out;
			}
			ms_strlist_push(&hf_allow, optarg);
			break;
		case OPT_D_HF_UPSTREAM:
			if (ms_upstream_check(optarg, &err)) {
				r = cmd_usage_error("daemon", "--hf-upstream: %s", err.msg);
				goto out;
			}
			upstream = optarg;
			break;
		case OPT_D_SYSLOG: use_syslog = 1; break;
		case OPT_D_CACHE: cache = optarg; break;
		case OPT_D_INDEX: ms_strlist_push(&indexes, optarg); break;
		case OPT_D_INCLUDE: ms_strlist_push(&includes, optarg); break;
		case OPT_D_EXCLUDE: ms_strlist_push(&excludes, optarg); break;
		case OPT_D_PIN: pin = 1; break;
		case OPT_D_PAUSED: paused = 1; break;
		case OPT_D_DATA: data = 1; break;
		case OPT_D_JSON: json = 1; break;
		case OPT_D_RATIO:
		case OPT_D_STIME:
		case OPT_D_BUDGET:
		case OPT_D_ACTIVE: {
			char *end;
			int64_t v;
			double x = strtod(optarg, &end);
			if (c == OPT_D_BUDGET ? ms_parse_size(optarg, &v)
					      : (end == optarg || *end || x < 0 ||
						 (c != OPT_D_RATIO && x != (double)(int64_t)x))) {
				r = cmd_usage_error("daemon", "--%s needs %s, not '%s'",
						    c == OPT_D_RATIO ? "seed-ratio"
						    : c == OPT_D_STIME ? "seed-time"
						    : c == OPT_D_BUDGET ? "disk-budget" : "max-active",
						    c == OPT_D_RATIO ? "a number such as 2.5"
						    : c == OPT_D_BUDGET ? "a size such as 500G"
									 : "a whole number",
						    optarg);
				goto out;
			}
			json_object_set_new(budgets,
					    c == OPT_D_RATIO ? "seed_ratio"
					    : c == OPT_D_STIME ? "seed_time"
					    : c == OPT_D_BUDGET ? "disk_budget" : "max_active",
					    c == OPT_D_RATIO ? json_real(x)
					    : c == OPT_D_BUDGET ? json_integer(v)
								 : json_integer((json_int_t)x));
			break;
		}
		case OPT_D_KEEP: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (v < 0 || v > 1000 || end == optarg || *end) {
				r = cmd_usage_error("daemon", "--keep needs a number of revisions "
							      "(0: all), not '%s'", optarg);
				goto out;
			}
			keep = (int)v;
			break;
		}
		case OPT_D_CONFIG: {
			/* read again, from FILE (SIGHUP reads it too) */
			struct ms_config conf;
			if (!realpath(optarg, cfg)) {
				r = cmd_error(EXIT_ERROR, "cannot read '%s': %s", optarg,
					      strerror(errno));
				goto out;
			}
			setenv("MODELSWARM_CONFIG", cfg, 1);
			if (ms_config_load(&conf, &err)) {
				r = cmd_error(EXIT_ERROR, "%s", err.msg);
				goto out;
			}
			ms_config_release(&ctx->config);
			ctx->config = conf;
			break;
		}
		case 'h':
			fputs(daemon_usage, stdout);
			goto out;
		default:
			if ((r = groups_opt("daemon", &og, c, argv)))
				goto out;
			break;
		}
	}
	if (argc - optind >= 1) {
		what = argv[optind];
		for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
			known |= !strcmp(what, subcommands[i]);
		if (!known) {
			r = cmd_usage_error("daemon", "unknown subcommand '%s'", what);
			goto out;
		}
		if (argc - optind - 1 > (nargs(what) ? 1 : 0)) {
			r = cmd_usage_error("daemon", "too many arguments");
			goto out;
		}
		if (nargs(what) == 1 && argc - optind != 2) {
			r = cmd_usage_error("daemon", "%s needs %s", what,
					    !strcmp(what, "add") || !strcmp(what, "subscribe") ||
							    !strcmp(what, "unsubscribe")
						    ? "ORG/NAME[@REV]"
						    : "a TARGET");
			goto out;
		}
		arg = argc - optind == 2 ? argv[optind + 1] : NULL;
	}
	if (!sock) {
		if (ms_rpc_default_path(path, sizeof(path), &err)) {
			r = cmd_error(EXIT_ERROR, "%s", err.msg);
			goto out;
		}
		sock = path;
	}
	if (!what) {
		if (upstream) {
			free(ctx->config.hf_upstream);
			if (!(ctx->config.hf_upstream = strdup(upstream))) {
				r = cmd_error(EXIT_ERROR, "out of memory");
				goto out;
			}
		}
		ctx->config.hf_allow.owned = 1;
		for (size_t i = 0; i < hf_allow.n; i++)
			if (ms_strlist_push_copy(&ctx->config.hf_allow, hf_allow.v[i])) {
				r = cmd_error(EXIT_ERROR, "out of memory");
				goto out;
			}
		if (ctx->config.log && !strcmp(ctx->config.log, "syslog"))
			use_syslog = 1;
		if (use_syslog)
			openlog("modelswarm", LOG_PID, LOG_DAEMON);
		if (foreground)
			r = run(ctx, &net, sock, metrics, hf, -1);
		else
			r = detach(ctx, &net, sock, metrics, hf);
		goto out;
	}
	if (json_object_size(budgets) && (strcmp(what, "limits") || arg)) {
		r = cmd_usage_error("daemon", "--seed-ratio, --seed-time, --disk-budget and "
					      "--max-active go with 'limits' and no TARGET");
		goto out;
	}
	params = json_object();
	if (arg)
		json_object_set_new(params, !strcmp(what, "add") || !strcmp(what, "subscribe") ||
						    !strcmp(what, "unsubscribe")
					    ? "spec"
					    : "target",
				    json_string(arg));
	if (cache) {
		char abs[8192], cwd[4096];
		if (*cache != '/' && getcwd(cwd, sizeof(cwd)))
			snprintf(abs, sizeof(abs), "%s/%s", cwd, cache);
		else
			snprintf(abs, sizeof(abs), "%s", cache);
		json_object_set_new(params, "cache_dir", json_string(abs));
	}
	if (indexes.n) {
		json_t *a = json_array();
		for (size_t i = 0; i < indexes.n; i++) {
			/* a directory index is a path: the daemon's cwd is not ours */
			char abs[4096];
			const char *v = indexes.v[i];
			json_array_append_new(a, json_string(!strstr(v, "://") && realpath(v, abs)
								     ? abs
								     : v));
		}
		json_object_set_new(params, "indexes", a);
	}
#define LIST(key, l)                                                              \
	if ((l).n) {                                                              \
		json_t *a = json_array();                                         \
		for (size_t i = 0; i < (l).n; i++)                                \
			json_array_append_new(a, json_string((l).v[i]));          \
		json_object_set_new(params, key, a);                              \
	}
	LIST("include", includes)
	LIST("exclude", excludes)
	LIST("peers", peers)
#undef LIST
	if (pin)
		json_object_set_new(params, "pinned", json_true());
	if (paused)
		json_object_set_new(params, "paused", json_true());
	if (data)
		json_object_set_new(params, "data", json_true());
	if (keep >= 0)
		json_object_set_new(params, "keep", json_integer(keep));
	json_object_update(params, budgets);
	if (rate.upload >= 0)
		json_object_set_new(params, !strcmp(what, "add") ? "upload_limit" : "upload",
				    json_integer(rate.upload));
	if (rate.download >= 0)
		json_object_set_new(params, !strcmp(what, "add") ? "download_limit" : "download",
				    json_integer(rate.download));
	r = client(sock, what, params, json);
out:
	json_decref(budgets);
	ms_strlist_release(&indexes);
	ms_strlist_release(&includes);
	ms_strlist_release(&excludes);
	ms_strlist_release(&peers);
	ms_strlist_release(&hf_allow);
	return r;
}
