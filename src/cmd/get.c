/* get.c: modelswarm get ORG/NAME[@REV] -- one download job (getjob.c) on
 * an engine of its own, with a display or JSON events */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "ms_progress.h"

static const char get_usage[] =
	"usage: modelswarm get ORG/NAME[@REV] [--index URL]... [--cache-dir DIR]\n"
	"                      [--local-dir DIR] [--include GLOB]... [--exclude GLOB]...\n"
	"                      [--peer HOST:PORT]... [--webseed URL]... [--webseeds MODE]\n"
	"                      [--json] [--seed]\n"
	"                      [--listen ADDR:PORT] [--no-dht] [--no-lsd] [--no-port-mapping]\n"
	"\n"
	"    REV                   a 40-hex revision or a ref (default: main)\n"
	"    --index URL           an index (file://, http(s)://, a directory); repeatable,\n"
	"                          tried in order (default: $MODELSWARM_INDEX, then the\n"
	"                          config file's index)\n"
	"    --cache-dir DIR       the Hugging Face cache (default: $HF_HUB_CACHE,\n"
	"                          $HF_HOME/hub, ~/.cache/huggingface/hub)\n"
	"    --local-dir DIR       also put real files at DIR (hard links or copies)\n"
	"    --include GLOB        only files matching GLOB (repeatable)\n"
	"    --exclude GLOB        not files matching GLOB (repeatable)\n"
	"    --peer HOST:PORT      dial this peer (repeatable)\n"
	"    --webseed URL         an HTTP mirror besides the manifest's (repeatable)\n"
	"    --webseeds MODE       fallback (default: mirrors only while peers\n"
	"                          deliver too little), always or never\n"
	"    --json                JSON events on stdout instead of the display\n"
	"    --seed                keep seeding from the cache when done\n"
	"    --listen ADDR:PORT    listen there (port 0: any free port)\n"
	"    --no-dht, --no-lsd, --no-port-mapping\n"
	"                          turn off DHT, local discovery, UPnP/NAT-PMP\n"
	"    -h, --help            show this help\n";

enum {
	OPT_INDEX = OPT_CMD_BASE, OPT_CACHE, OPT_LOCAL, OPT_INCLUDE, OPT_EXCLUDE,
	OPT_JSON, OPT_SEED
};

static const struct option get_opts[] = {
	NET_LONGOPTS,
	MIRROR_LONGOPTS,
	{ "index", required_argument, NULL, OPT_INDEX },
	{ "cache-dir", required_argument, NULL, OPT_CACHE },
	{ "local-dir", required_argument, NULL, OPT_LOCAL },
	{ "include", required_argument, NULL, OPT_INCLUDE },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "peer", required_argument, NULL, OPT_PEER },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "seed", no_argument, NULL, OPT_SEED },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

#define TICK_MS 500

struct get {
	struct ms_engine *eng;
	struct getjob *job;
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

static void on_done(void *ud, int code)
{
	struct get *g = ud;
	struct getjob_info in;

	g->code = code;
	ms_progress_clear(&g->prog);
	if (code == EXIT_OK) {
		g->finished = 1;
		if (!g->json)
			getjob_print_summary(g->job, stderr, stdout);
		if (g->seed) {
			getjob_info(g->job, &in);
			on_line(g, 0, "seeding from the cache until interrupted");
			return;
		}
	}
	ms_engine_shutdown(g->eng, 10000);
}

static void on_alert(struct ms_engine *e, const struct lts_alert *a, void *ud)
{
	struct get *g = ud;

	(void)e;
	if (g->job)
		getjob_alert(g->job, a);
}

static void on_tick(struct ms_engine *e, void *ud)
{
	struct get *g = ud;

	(void)e;
	if (g->job && !g->finished)
		getjob_tick(g->job);
}

static void on_signal(struct ms_engine *e, int signum, void *ud)
{
	struct get *g = ud;

	if (!g->signum)
		g->signum = signum;
	if (g->finished || !g->job) /* --seed ends with a signal: success */
		ms_engine_shutdown(e, 10000);
	else
		getjob_cancel(g->job, 128 + signum);
}

int cmd_get(int argc, char **argv, struct ms_ctx *ctx)
{
	struct ms_engine_opts eo;
	struct ms_engine_events ev = { on_alert, on_tick, on_signal, NULL, engine_warning, NULL };
	struct strlist indexes = { 0 }, includes = { 0 }, excludes = { 0 }, peers = { 0 };
	struct mirror_opts mo = { 0 };
	struct net_opts net = { 0 };
	struct getjob_opts jo;
	struct getjob_hooks hooks = { on_line, on_event, on_done, NULL };
	struct ms_error err;
	struct get g;
	const char *cache = NULL, *local = NULL;
	uv_loop_t loop;
	int c, r = EXIT_OK;

	memset(&g, 0, sizeof(g));
	g.code = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", get_opts, NULL)) != -1) {
		int k = net_opt("get", &net, c, optarg);
		if (!k)
			k = mirror_opt("get", &mo, c, optarg);
		if (k == EXIT_USAGE) {
			r = k;
			goto out;
		}
		if (k)
			continue;
		switch (c) {
		case OPT_INDEX: strlist_push(&indexes, optarg); break;
		case OPT_CACHE: cache = optarg; break;
		case OPT_LOCAL: local = optarg; break;
		case OPT_INCLUDE: strlist_push(&includes, optarg); break;
		case OPT_EXCLUDE: strlist_push(&excludes, optarg); break;
		case OPT_PEER:
			if ((r = peer_opt("get", &peers, optarg)))
				goto out;
			break;
		case OPT_JSON: g.json = 1; break;
		case OPT_SEED: g.seed = 1; break;
		case 'h':
			fputs(get_usage, stdout);
			goto out;
		default:
			r = cmd_bad_option("get", argv, get_opts);
			goto out;
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
	jo.json = g.json;
	jo.display = g.json ? NULL : &g.prog;
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
	if (getjob_start(&g.job, ctx, &loop, g.eng, &jo, &hooks, &err)) {
		r = err.code == MS_EINVAL ? cmd_usage_error("get", "%s", err.msg)
					  : cmd_error(EXIT_ERROR, "%s", err.msg);
		ms_engine_close(g.eng);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		goto out;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	getjob_free(g.job);
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
	strlist_release(&indexes);
	strlist_release(&includes);
	strlist_release(&excludes);
	strlist_release(&peers);
	mirror_opts_release(&mo);
	return r;
}
