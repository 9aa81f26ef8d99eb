/* get.c: modelswarm get ORG/NAME[@REV] -- one download job (getjob.c) on
 * an engine of its own, with a display or JSON events */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "ms_engine.h"
#include "ms_getjob.h"
#include "ms_progress.h"
#include "ms_release.h"
#include "ms_rpc.h"
#include "ms_store.h"

static const char get_usage[] =
	"usage: modelswarm get ORG/NAME[@REV] [--index URL]... [--cache-dir DIR]\n"
	"                      [--local-dir DIR] [--include GLOB]... [--exclude GLOB]...\n"
	"                      [--peer HOST:PORT]... [--webseed URL]... [--webseeds MODE]\n"
	"                      [--json] [--seed] [--no-daemon] [--stall-timeout SECONDS]\n"
	"                      [--listen ADDR:PORT] [--no-dht] [--no-lsd] [--no-port-mapping]\n"
	"\n"
	"    REV                   a 40-hex revision or a ref (default: main)\n"
	"    --index URL           an index (file://, http(s)://, a directory); repeatable,\n"
	"                          tried in order (default: $MODELSWARM_INDEX, then the\n"
	"                          config file's index)\n"
	"    --cache-dir DIR       the Hugging Face cache (default, as huggingface_hub:\n"
	"                          $HF_HUB_CACHE, $HUGGINGFACE_HUB_CACHE, $HF_HOME/hub,\n"
	"                          $XDG_CACHE_HOME/huggingface/hub,\n"
	"                          ~/.cache/huggingface/hub)\n"
	"    --local-dir DIR       also put real files at DIR (hard links or copies)\n"
	"    --include GLOB        only files matching GLOB (repeatable)\n"
	"    --exclude GLOB        not files matching GLOB (repeatable)\n"
	"    --peer HOST:PORT      dial this peer (repeatable)\n"
	"    --webseed URL         an HTTP mirror besides the manifest's (repeatable)\n"
	"    --webseeds MODE       fallback (default: mirrors only while peers\n"
	"                          deliver too little), always or never\n"
	"    --json                JSON events on stdout instead of the display\n"
	"    --seed                keep seeding from the cache when done\n"
	"    --no-daemon           download here even if a daemon runs (otherwise a\n"
	"                          running daemon downloads, then keeps seeding)\n"
	"    --stall-timeout SECONDS\n"
	"                          give up when no byte came from anyone for this long\n"
	"                          (default: the config's stall-timeout, else 300;\n"
	"                          0: wait for peers for ever)\n"
	"    --listen ADDR:PORT    listen there (port 0: any free port)\n"
	"    --no-dht, --no-lsd, --no-port-mapping\n"
	"                          turn off DHT, local discovery, UPnP/NAT-PMP\n"
	"    -h, --help            show this help\n";

enum {
	OPT_INDEX = OPT_CMD_BASE, OPT_CACHE, OPT_LOCAL, OPT_INCLUDE, OPT_EXCLUDE,
	OPT_JSON, OPT_SEED, OPT_NO_DAEMON, OPT_STALL
};

static const struct option get_opts[] = {
	NET_LONGOPTS,
	PEER_LONGOPTS,
	MIRROR_LONGOPTS,
	{ "index", required_argument, NULL, OPT_INDEX },
	{ "cache-dir", required_argument, NULL, OPT_CACHE },
	{ "local-dir", required_argument, NULL, OPT_LOCAL },
	{ "include", required_argument, NULL, OPT_INCLUDE },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "seed", no_argument, NULL, OPT_SEED },
	{ "no-daemon", no_argument, NULL, OPT_NO_DAEMON },
	{ "stall-timeout", required_argument, NULL, OPT_STALL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

#define TICK_MS 500
#define GET_STALL_TIMEOUT_S 300

struct get {
	struct ms_engine *eng;
	struct ms_getjob *job;
	struct ms_progress prog;
	int json, seed;
	int code;              /* -1 while running */
	int finished;
	int signum;
};

static void on_line(void *ud, int error, const char *msg)
{
	struct get *g = ud;

	ms_progress_clear(&g->prog);
	fprintf(stderr, "%s%s\n", error ? "error: " : "", msg);
}

static void on_event(void *ud, json_t *o)
{
	struct get *g = ud;
	char *s;

	if (g->json && (s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		printf("%s\n", s);
		fflush(stdout);
		free(s);
	}
	json_decref(o);
}

/* "downloaded N bytes ..." and the mirrors on stderr, and like hf
 * download the path on stdout */
static void print_summary(const struct ms_getjob_info *in)
{
	char rate[32];
	double secs = in->seconds > 0.001 ? in->seconds : 0.001;
	int64_t all = in->from_peers + in->from_mirrors;

	fprintf(stderr,
		"downloaded %" PRId64 " bytes in %.1f s (%s/s): %" PRId64
		" from peers, %" PRId64 " from webseeds\n",
		all, in->seconds, ms_fmt_bytes(rate, sizeof(rate), (double)all / secs),
		in->from_peers, in->from_mirrors);
	print_mirrors(in->mirrors, stderr);
	printf("%s\n", in->path);
}

static void on_done(void *ud, int code)
{
	struct get *g = ud;
	struct ms_getjob_info in;

	g->code = code == MS_EINTR && g->signum ? 128 + g->signum : cmd_exit_code(code);
	ms_progress_clear(&g->prog);
	if (!code) {
		g->finished = 1;
		ms_getjob_info(g->job, &in);
		if (!g->json)
			print_summary(&in);
		if (g->seed) {
			on_line(g, 0, "seeding from the cache until interrupted");
			return;
		}
	}
	ms_engine_shutdown(g->eng, 10000);
}

static void on_tick(struct ms_engine *e, void *ud)
{
	struct get *g = ud;
	struct ms_progress_snap snap;
	struct ms_progress_source srcs[8];

	(void)e;
	if (g->job && !g->finished &&
	    ms_getjob_tick(g->job, g->json ? NULL : &snap, srcs, 8))
		ms_progress_update(&g->prog, &snap);
}

/* the engine is gone: the job must not touch it any more */
static void on_closed(void *ud)
{
	struct get *g = ud;

	ms_getjob_detach(g->job);
}

static void on_signal(struct ms_engine *e, int signum, void *ud)
{
	struct get *g = ud;

	if (!g->signum)
		g->signum = signum;
	if (g->finished || !g->job) /* --seed ends with a signal: success */
		ms_engine_shutdown(e, 10000);
	else
		ms_getjob_cancel(g->job, MS_EINTR);
}

/* ---- handing the download to a running daemon -------------------------- */

static json_t *strlist_array(const struct ms_strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

/* an absolute path: the daemon's working directory is not ours */
static void absolute(const char *in, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (*in != '/' && getcwd(cwd, sizeof(cwd)))
		snprintf(out, len, "%s/%s", cwd, in);
	else
		snprintf(out, len, "%s", in);
}

/* how a repo the daemon has failed: its MS_E* code by name (an older
 * daemon gave an exit status) */
static int daemon_exit_code(json_t *o)
{
	const char *name = json_string_value(json_object_get(o, "error_code"));
	int old = (int)json_integer_value(json_object_get(o, "exit_code"));

	if (name)
		return cmd_exit_code(ms_errno_from_name(name));
	return old > 0 ? old : EXIT_ERROR;
}

/* the daemon's answer to method, or NULL after printing why */
static json_t *ask(const char *sock, const char *method, json_t *params, int *code)
{
	struct ms_error err;
	json_t *resp = NULL, *res;

	if (ms_rpc_call(sock, method, params, 10000, &resp, &err)) {
		*code = cmd_error(EXIT_ERROR, "daemon: %s", err.msg);
		return NULL;
	}
	res = json_incref(json_object_get(resp, "result"));
	if (!res) {
		const char *m = json_string_value(
			json_object_get(json_object_get(resp, "error"), "message"));
		*code = cmd_error(EXIT_ERROR, "daemon: %s", m ? m : "error");
	}
	json_decref(resp);
	return res;
}

static int delegate(const char *sock, const char *spec, const struct ms_getjob_opts *jo,
		    const struct ms_config *config, int json)
{
	struct timespec since;
	int64_t got, last_got = -1;
	struct ms_release rel;
	struct ms_progress prog;
	struct ms_error err;
	char cache[PATH_MAX], abs[PATH_MAX * 2], id[64];
	json_t *params, *res, *idx;
	int code = EXIT_ERROR;

	if (ms_store_cache_dir(jo->cache_dir, cache, sizeof(cache), &err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	absolute(cache, abs, sizeof(abs));
	params = json_pack("{s:s,s:s,s:o,s:o,s:o}", "spec", spec, "cache_dir", abs, "include",
			   strlist_array(jo->includes), "exclude", strlist_array(jo->excludes),
			   "peers", strlist_array(jo->peers));
	/* our indexes (--index, else $MODELSWARM_INDEX's, else the
	 * config's), directories made absolute */
	idx = json_array();
	ms_release_init(&rel);
	if (!ms_release_indexes(&rel, jo->indexes, config, &err))
		for (size_t i = 0; i < rel.indexes.n; i++)
			json_array_append_new(idx, json_string(rel.indexes.v[i]));
	ms_release_release(&rel);
	for (size_t i = 0; i < json_array_size(idx); i++) {
		const char *v = json_string_value(json_array_get(idx, i));
		if (!strstr(v, "://")) {
			absolute(v, abs, sizeof(abs));
			json_array_set_new(idx, i, json_string(abs));
		}
	}
	json_object_set_new(params, "indexes", idx);
	if (jo->local_dir) {
		absolute(jo->local_dir, abs, sizeof(abs));
		json_object_set_new(params, "local_dir", json_string(abs));
	}
	res = ask(sock, "add", params, &code);
	json_decref(params);
	if (!res)
		return code;
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(res, "id")));
	json_decref(res);
	if (!json)
		fprintf(stderr, "the daemon downloads %s (id %s) and keeps seeding it\n", spec, id);
	ms_progress_init(&prog, stderr);
	clock_gettime(CLOCK_MONOTONIC, &since);
	/* until it seeds or fails; the daemon goes on if we are stopped */
	for (;;) {
		json_t *o;
		const char *state;
		struct timespec ts = { 0, 300 * 1000000L };
		params = json_pack("{s:s}", "target", id);
		res = ask(sock, "ls", params, &code);
		json_decref(params);
		if (!res)
			return code;
		o = json_array_get(res, 0);
		state = json_string_value(json_object_get(o, "state"));
		if (!o || !state) {
			json_decref(res);
			ms_progress_clear(&prog);
			return cmd_error(EXIT_ERROR, "the daemon no longer has %s", spec);
		}
		if (!strcmp(state, "failed")) {
			const char *e = json_string_value(json_object_get(o, "error"));
			code = daemon_exit_code(o);
			ms_progress_clear(&prog);
			fprintf(stderr, "error: %s\n", e ? e : "the download failed");
			if (json) {
				json_t *ev = json_pack("{s:s,s:s}", "event", "error", "message",
						       e ? e : "the download failed");
				on_event(&(struct get){ .json = 1 }, ev);
			}
			json_decref(res);
			return code;
		}
		if (strcmp(state, "queued") && strcmp(state, "downloading") &&
		    strcmp(state, "checking")) {
			const char *snap = json_string_value(json_object_get(o, "snapshot"));
			ms_progress_clear(&prog);
			if (json) {
				json_t *ev = json_pack("{s:s,s:s,s:s,s:s?,s:O?,s:O?}", "event", "done",
						       "repo", json_string_value(json_object_get(o, "repo")),
						       "revision",
						       json_string_value(json_object_get(o, "revision")),
						       "snapshot", snap, "downloaded",
						       json_object_get(o, "downloaded"), "checks",
						       json_object_get(o, "checks"));
				char *t = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
				printf("%s\n", t ? t : "");
				free(t);
				json_decref(ev);
			} else {
				fprintf(stderr, "done; the daemon seeds it (modelswarm daemon ls %s)\n", id);
				printf("%s\n", snap ? snap : "");
			}
			json_decref(res);
			return EXIT_OK;
		}
		/* the daemon waits for sources; this command does not */
		got = json_integer_value(json_object_get(o, "done")) +
		      json_integer_value(json_object_get(o, "mirror_bytes"));
		if (got != last_got || strcmp(state, "downloading")) {
			last_got = got;
			clock_gettime(CLOCK_MONOTONIC, &since);
		} else if (jo->stall_timeout_s > 0) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - since.tv_sec >= jo->stall_timeout_s) {
				json_decref(res);
				ms_progress_clear(&prog);
				return cmd_error(EXIT_ERROR, "no byte of %s came for %d s "
						 "(--stall-timeout): not waiting any more; the "
						 "daemon keeps trying (modelswarm daemon ls %s)",
						 spec, jo->stall_timeout_s, id);
			}
		}
		if (!json) {
			struct ms_progress_snap sn;
			memset(&sn, 0, sizeof(sn));
			sn.phase = state;
			sn.title = spec;
			sn.total = json_integer_value(json_object_get(o, "total"));
			sn.done = json_integer_value(json_object_get(o, "done"));
			sn.rate = (double)json_integer_value(json_object_get(o, "download_rate"));
			sn.peers = (int)json_integer_value(json_object_get(o, "peers"));
			sn.from_webseeds = json_integer_value(json_object_get(o, "mirror_bytes"));
			ms_progress_update(&prog, &sn);
		}
		json_decref(res);
		nanosleep(&ts, NULL);
	}
}

/* a daemon answers on the default socket */
static int daemon_running(char *sock, size_t len)
{
	struct ms_error err;
	json_t *resp = NULL;
	int ok;

	if (ms_rpc_default_path(sock, len, &err) || access(sock, F_OK))
		return 0;
	ok = !ms_rpc_call(sock, "ping", NULL, 2000, &resp, &err) &&
	     json_object_get(resp, "result");
	json_decref(resp);
	return ok;
}

int cmd_get(int argc, char **argv, struct ms_ctx *ctx)
{
	struct ms_engine_opts eo;
	struct ms_engine_events ev = { NULL, on_tick, on_signal, on_closed, engine_warning, NULL };
	struct ms_strlist indexes = { 0 }, includes = { 0 }, excludes = { 0 }, peers = { 0 };
	struct ms_mirror_opts mo = { 0 };
	struct net_opts net = { 0 };
	struct opt_groups og = { .net = &net, .peers = &peers, .mirrors = &mo };
	struct ms_getjob_opts jo;
	struct ms_getjob_hooks hooks = { on_line, on_event, on_done, NULL, NULL };
	struct ms_error err;
	struct get g;
	const char *cache = NULL, *local = NULL;
	char sock[PATH_MAX];
	uv_loop_t loop;
	int c, r = EXIT_OK, no_daemon = 0, stall = -1;

	memset(&g, 0, sizeof(g));
	g.code = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", get_opts, NULL)) != -1) {
		switch (c) {
		case OPT_INDEX: ms_strlist_push(&indexes, optarg); break;
		case OPT_CACHE: cache = optarg; break;
		case OPT_LOCAL: local = optarg; break;
		case OPT_INCLUDE: ms_strlist_push(&includes, optarg); break;
		case OPT_EXCLUDE: ms_strlist_push(&excludes, optarg); break;
		case OPT_JSON: g.json = 1; break;
		case OPT_SEED: g.seed = 1; break;
		case OPT_NO_DAEMON: no_daemon = 1; break;
		case OPT_STALL: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 0 || v > 86400 * 30) {
				r = cmd_usage_error("get", "--stall-timeout needs a number of "
						    "seconds, not '%s'", optarg);
				goto out;
			}
			stall = (int)v;
			break;
		}
		case 'h':
			fputs(get_usage, stdout);
			goto out;
		default:
			if ((r = groups_opt("get", &og, c, argv)))
				goto out;
			break;
		}
	}
	if (argc - optind != 1) {
		r = cmd_usage_error("get", argc - optind ? "too many arguments"
							  : "no ORG/NAME given");
		goto out;
	}

	memset(&jo, 0, sizeof(jo));
	jo.spec = argv[optind];
	jo.indexes = &indexes;
	jo.includes = &includes;
	jo.excludes = &excludes;
	jo.peers = &peers;
	jo.mirrors = &mo;
	jo.cache_dir = cache;
	jo.local_dir = local;
	jo.peer_discovery = (ctx->config.dht && !net.no_dht) || (ctx->config.lsd && !net.no_lsd);
	jo.dht = ctx->config.dht && !net.no_dht;
	jo.json = g.json;
	/* the command does not wait for ever; the daemon does (seedbox.c) */
	jo.stall_timeout_s = stall >= 0 ? stall
			     : ctx->config.stall_timeout_s >= 0 ? (int)ctx->config.stall_timeout_s
								: GET_STALL_TIMEOUT_S;
	/* a running daemon takes it (and keeps seeding it), unless told
	 * otherwise or given options for a session of our own */
	if (!no_daemon && !net.listen && !net.no_dht && !net.no_lsd && !net.no_port_mapping &&
	    !mo.urls.n && !mo.mode && daemon_running(sock, sizeof(sock))) {
		r = delegate(sock, jo.spec, &jo, &ctx->config, g.json);
		goto out;
	}
	hooks.ud = &g;
	net_engine_opts(ctx, &net, &eo);
	eo.tick_ms = TICK_MS;
	ev.ud = &g;
	ms_progress_init(&g.prog, stderr);
	uv_loop_init(&loop);
	if (ms_engine_new(&g.eng, &loop, &eo, &ev, &err)) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		goto out;
	}
	if (ms_getjob_start(&g.job, &ctx->config, &loop, g.eng, &jo, &hooks, &err)) {
		r = err.code == MS_EINVAL ? cmd_usage_error("get", "%s", err.msg)
					  : cmd_error(EXIT_ERROR, "%s", err.msg);
		ms_engine_close(g.eng);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		goto out;
	}
	(void)ms_progress_watch(&g.prog, &loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	ms_progress_unwatch(&g.prog);
	uv_run(&loop, UV_RUN_DEFAULT);
	ms_getjob_free(g.job);
	if (uv_loop_close(&loop)) {
		r = cmd_error(EXIT_ERROR, "internal error: event loop not closed");
		goto out;
	}
	r = g.code < 0 ? EXIT_ERROR : g.code;
	if (g.signum && !g.finished)
		fprintf(stderr, "interrupted: progress saved; run the same command to resume\n");
	else if (g.signum)
		r = EXIT_OK;
out:
	ms_strlist_release(&indexes);
	ms_strlist_release(&includes);
	ms_strlist_release(&excludes);
	ms_strlist_release(&peers);
	ms_mirror_opts_release(&mo);
	return r;
}
