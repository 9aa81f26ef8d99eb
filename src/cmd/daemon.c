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

#include "cmd.h"
#include "ms_rpc.h"

static const char daemon_usage[] =
	"usage: modelswarm daemon [--foreground] [--socket PATH] [--listen ADDR:PORT]\n"
	"                         [--no-dht] [--no-lsd] [--no-port-mapping]\n"
	"   or: modelswarm daemon (ping | status | stop) [--socket PATH]\n"
	"\n"
	"    --foreground          stay in the foreground (as under systemd);\n"
	"                          otherwise detach once the socket is ready\n"
	"    --socket PATH         the control socket (default:\n"
	"                          $MODELSWARM_HOME/modelswarm.sock, else\n"
	"                          $XDG_RUNTIME_DIR/modelswarm.sock)\n"
	"    --listen ADDR:PORT    listen for peers there (port 0: any free port)\n"
	"    --no-dht              no DHT\n"
	"    --no-lsd              no local service discovery\n"
	"    --no-port-mapping     no UPnP / NAT-PMP\n"
	"    ping                  check that a daemon answers\n"
	"    status                print the daemon's status (JSON)\n"
	"    stop                  ask the daemon to shut down cleanly\n"
	"    -h, --help            show this help\n";

enum { OPT_D_FOREGROUND = OPT_CMD_BASE, OPT_D_SOCKET };

static const struct option daemon_opts[] = {
	NET_LONGOPTS,
	{ "foreground", no_argument, NULL, OPT_D_FOREGROUND },
	{ "socket", required_argument, NULL, OPT_D_SOCKET },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

struct daemon {
	struct ms_ctx *ctx;
	uv_loop_t *loop;
	struct ms_engine *eng;
	struct ms_rpc *rpc;
	uv_signal_t sighup;
	const char *socket;
	time_t started;
	int listen_port;
	int stopping;
	int stop_asked;        /* "stop" over RPC: done on the next tick,
				  once its answer has gone out */
	int ready_fd;          /* the parent waits on it when detaching */
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
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

	(void)params;
	(void)code;
	(void)msg;
	(void)len;
	return json_pack("{s:s, s:i, s:I, s:i, s:s, s:i}", "version", MS_VERSION,
			 "pid", (int)getpid(), "uptime_s",
			 (json_int_t)(time(NULL) - d->started), "listen_port",
			 d->listen_port, "socket", d->socket, "repos", 0);
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

static const struct ms_rpc_method methods[] = {
	{ "ping", m_ping },
	{ "status", m_status },
	{ "stop", m_stop },
};

/* ---- engine callbacks ------------------------------------------------ */

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

	(void)signum;
	if (ms_config_load(&c, &err)) {
		say("cannot reload the configuration: %s", err.msg);
		return;
	}
	ms_config_release(&d->ctx->config);
	d->ctx->config = c;
	say("reloaded the configuration%s%s", c.path ? " from " : "", c.path ? c.path : "");
}

static void on_tick(struct ms_engine *e, void *ud)
{
	struct daemon *d = ud;

	(void)e;
	if (d->stop_asked)
		shutdown_daemon(d, "asked over RPC");
}

/* ---- client side ------------------------------------------------------ */

static int client(const char *sock, const char *what)
{
	struct ms_error err;
	json_t *resp = NULL, *result;
	int r;

	if (ms_rpc_call(sock, what, NULL, 10000, &resp, &err))
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
	} else {
		char *s = json_dumps(result, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s ? s : "");
		free(s);
	}
	json_decref(resp);
	return EXIT_OK;
}

/* ---- the daemon ------------------------------------------------------- */

static int run(struct ms_ctx *ctx, const struct net_opts *net, const char *sock,
	       int ready_fd)
{
	struct ms_engine_events ev = { on_alert, on_tick, on_signal, NULL, engine_warning, NULL };
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
	if (ms_rpc_start(&d.rpc, &loop, &ro, &err)) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		ms_engine_close(d.eng);
	} else {
		uv_signal_init(&loop, &d.sighup);
		d.sighup.data = &d;
		uv_signal_start(&d.sighup, on_sighup, SIGHUP);
		say("modelswarm daemon %s, pid %d, control socket %s", MS_VERSION,
		    (int)getpid(), sock);
		if (ready_fd >= 0) {
			if (write(ready_fd, "1", 1) != 1)
				say("cannot tell the parent that the daemon is ready");
			close(ready_fd);
			d.ready_fd = -1;
		}
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop))
		return cmd_error(EXIT_ERROR, "internal error: event loop not closed");
	if (!r)
		say("stopped");
	return r;
}

/* fork; the parent returns once the child's socket answers (or it died) */
static int detach(struct ms_ctx *ctx, const struct net_opts *net, const char *sock)
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
	exit(run(ctx, net, sock, p[1]));
}

int cmd_daemon(int argc, char **argv, struct ms_ctx *ctx)
{
	struct net_opts net = { 0 };
	struct ms_error err;
	char path[4096];
	const char *sock = NULL, *what = NULL;
	int c, foreground = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", daemon_opts, NULL)) != -1) {
		int k = net_opt("daemon", &net, c, optarg);
		if (k == EXIT_USAGE)
			return k;
		if (k)
			continue;
		switch (c) {
		case OPT_D_FOREGROUND:
			foreground = 1;
			break;
		case OPT_D_SOCKET:
			sock = optarg;
			break;
		case 'h':
			fputs(daemon_usage, stdout);
			return EXIT_OK;
		default:
			return cmd_bad_option("daemon", argv, daemon_opts);
		}
	}
	if (argc - optind > 1)
		return cmd_usage_error("daemon", "too many arguments");
	if (argc - optind == 1) {
		what = argv[optind];
		if (strcmp(what, "ping") && strcmp(what, "status") && strcmp(what, "stop"))
			return cmd_usage_error("daemon", "unknown subcommand '%s'", what);
	}
	if (!sock) {
		if (ms_rpc_default_path(path, sizeof(path), &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		sock = path;
	}
	if (what)
		return client(sock, what);
	if (foreground)
		return run(ctx, &net, sock, -1);
	return detach(ctx, &net, sock);
}
