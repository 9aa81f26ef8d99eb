/* fetch.c: modelswarm fetch (FILE.torrent | MAGNET) -o DIR */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "ms_engine.h"
#include "ms_mirrors.h"
#include "ms_progress.h"

static const char fetch_usage[] =
	"usage: modelswarm fetch (FILE.torrent | MAGNET) -o DIR [--peer HOST:PORT]...\n"
	"                        [--tracker URL]... [--webseed URL]... [--webseeds MODE]\n"
	"                        [--listen ADDR:PORT]\n"
	"                        [--upload-limit RATE] [--download-limit RATE]\n"
	"                        [--no-dht] [--no-lsd] [--no-port-mapping]\n"
	"\n"
	"    -o, --output DIR      put the files under DIR (created if missing)\n"
	"    --peer HOST:PORT      dial this peer (repeatable)\n"
	"    --tracker URL         announce to this tracker too (repeatable)\n"
	"    --webseed URL         an HTTP mirror (web seed) besides the torrent's\n"
	"                          (repeatable)\n"
	"    --webseeds MODE       fallback (default: mirrors only while peers\n"
	"                          deliver too little), always or never\n"
	"    --listen ADDR:PORT    listen there (port 0: any free port)\n"
	"    --upload-limit RATE   cap upload, bytes/s (suffixes K, M, G)\n"
	"    --download-limit RATE cap download, bytes/s\n"
	"    --no-dht              no DHT\n"
	"    --no-lsd              no local service discovery\n"
	"    --no-port-mapping     no UPnP / NAT-PMP\n"
	"    -h, --help            show this help\n";

static const struct option fetch_opts[] = {
	NET_LONGOPTS,
	RATE_LONGOPTS,
	TRACKER_LONGOPTS,
	PEER_LONGOPTS,
	MIRROR_LONGOPTS,
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* resume data is saved this often while downloading */
#define RESUME_EVERY_MS 1000
#define TICK_MS 500

struct fetch {
	struct ms_ctx *ctx;
	struct ms_engine *eng;
	uv_loop_t *loop;
	const char *out;
	struct ms_mirror_opts mo;
	struct ms_mirrors mr;
	int peer_sources;
	char resume_path[PATH_MAX];
	lts_torrent *meta;          /* NULL until known */
	struct ms_torrent_meta info; /* its snapshot */
	int id;
	struct ms_strlist peers;
	struct ms_progress prog;
	struct timespec t0;
	unsigned ticks;

	int magnet;
	int complete;
	int exit_code;
	int signum;
	int hash_failures;
	int banned;
	char last_warning[512];

	/* final figures, taken when complete */
	struct lts_status final;
	double seconds;
};

static double elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void warn_once(struct fetch *f, const char *fmt, const char *a,
		      const char *b)
{
	char buf[512];

	snprintf(buf, sizeof(buf), fmt, a, b);
	if (!strcmp(buf, f->last_warning))
		return;
	snprintf(f->last_warning, sizeof(f->last_warning), "%s", buf);
	ms_progress_clear(&f->prog);
	fprintf(stderr, "warning: %s\n", buf);
}

/* path of file i under the output directory (the torrent name stripped) */
static int out_path(struct fetch *f, const struct lts_file_info *fi, char *buf,
		    size_t len)
{
	const char *name = f->info.name;
	size_t nl = strlen(name);
	const char *rel = fi->path;

	if (!(f->info.num_files == 1 && !strcmp(fi->path, name)) &&
	    !strncmp(rel, name, nl) && rel[nl] == '/')
		rel += nl + 1;
	if ((size_t)snprintf(buf, len, "%s/%s", f->out, rel) >= len)
		return -1;
	return 0;
}

/* libtorrent does not write empty files: create them */
static int make_empty_files(struct fetch *f)
{
	int n = f->info.num_files;

	for (int i = 0; i < n; i++) {
		struct lts_file_info fi;
		char path[PATH_MAX], dir[PATH_MAX];
		struct ms_error err;
		char *slash;
		int fd;

		if (ms_torrent_file(f->meta, i, &fi) || fi.pad || fi.size)
			continue;
		if (out_path(f, &fi, path, sizeof(path)))
			return cmd_error(EXIT_ERROR, "path too long: '%s'", fi.path);
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash) {
			*slash = '\0';
			if (ms_mkdir_p(dir, &err))
				return cmd_error(EXIT_ERROR, "%s", err.msg);
		}
		fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return cmd_error(EXIT_ERROR, "cannot create '%s': %s", path,
					 strerror(errno));
		close(fd);
	}
	return 0;
}


static void finish_with(struct ms_engine *e, struct fetch *f, int code)
{
	ms_progress_clear(&f->prog);
	if (!f->exit_code)
		f->exit_code = code;
	ms_mirrors_stop(&f->mr);
	ms_engine_shutdown(e, 10000);
}

static void check_complete(struct ms_engine *e, struct fetch *f)
{
	struct lts_status st;
	struct ms_error err;

	if (f->complete || f->exit_code || ms_engine_closing(e))
		return;
	/* every file is wanted, so every piece verified means every file is
	 * whole (libtorrent's per-file byte counts are not asked: they can
	 * lag for good after a piece that failed was handed in again) */
	if (ms_engine_status(e, f->id, &st, &err) || !st.has_metadata ||
	    !f->meta || !(st.is_finished || st.is_seeding) ||
	    st.total_wanted_done != st.total_wanted)
		return;
	if (make_empty_files(f)) {
		finish_with(e, f, EXIT_ERROR);
		return;
	}
	/* a magnet's files are mapped below DIR only once the metadata is
	 * known; libtorrent may have made directories under DIR/NAME first */
	if (f->magnet && f->info.num_files > 1) {
		char stale[PATH_MAX];
		if ((size_t)snprintf(stale, sizeof(stale), "%s/%s", f->out,
				     f->info.name) < sizeof(stale))
			ms_prune_empty_dirs(stale, 0);
	}
	f->complete = 1;
	f->final = st;
	ms_mirrors_stop(&f->mr);
	f->seconds = elapsed(&f->t0);
	ms_progress_clear(&f->prog);
	/* saves (then deletes) resume data with a disk flush, then closes */
	ms_engine_shutdown(e, 10000);
}

static void dial_peers(struct ms_engine *e, struct fetch *f);

static void mirror_event(void *ud, const char *mirror, const char *msg)
{
	struct fetch *f = ud;

	warn_once(f, *mirror ? "mirror '%s': %s" : "%s%s", mirror, msg);
}

/* once the torrent is ready: the torrent's url-list and --webseed URLs */
static void start_mirrors(struct ms_engine *e, struct fetch *f)
{
	const char *urls[64];
	size_t n = 0;
	struct ms_error err;

	if (!f->meta || f->mr.ws || f->mr.stopped)
		return;
	for (int i = 0; i < f->info.n_webseeds && n < 64; i++)
		urls[n++] = f->info.webseeds[i];
	f->mr.on_event = mirror_event;
	f->mr.ud = f;
	if (ms_mirrors_start(&f->mr, &f->ctx->config, &f->mo, f->loop, e, f->id, urls, n,
			  f->peer_sources, &err))
		warn_once(f, "%s%s", "cannot use the mirrors: ", err.msg);
}

/* the torrent's metadata is known: t is f's, with its snapshot; on
 * error t is freed */
static int know_meta(struct fetch *f, lts_torrent *t, struct ms_error *err)
{
	if (ms_torrent_meta(t, &f->info, err)) {
		ms_torrent_free(t);
		return -1;
	}
	f->meta = t;
	return 0;
}

/* the torrent's alerts, straight from the engine (NULL: it closed), and
 * the session's (listen failures) */
static void on_alert(void *ud, const struct lts_alert *a)
{
	struct fetch *f = ud;
	struct ms_engine *e = f->eng;
	struct ms_error err;

	if (!a)
		return;
	switch (a->type) {
	case LTS_ALERT_METADATA_RECEIVED:
		if (!f->meta) {
			lts_torrent *t = ms_engine_torrent(e, f->id, &err);
			if (!t || know_meta(f, t, &err))
				break; /* not readable yet: the next tick tries again */
			ms_progress_clear(&f->prog);
			fprintf(stderr, "got metadata for '%s': %d files\n",
				f->info.name, f->info.num_files);
		}
		break;
	case LTS_ALERT_TORRENT_CHECKED:
		/* the dial right after adding may come before the torrent
		 * is ready: dial again now */
		dial_peers(e, f);
		start_mirrors(e, f);
		check_complete(e, f);
		break;
	case LTS_ALERT_TORRENT_FINISHED:
		check_complete(e, f);
		break;
	case LTS_ALERT_HASH_FAILED:
		f->hash_failures++;
		if (f->hash_failures <= 10) {
			ms_progress_clear(&f->prog);
			fprintf(stderr, "warning: piece %d failed the hash check\n",
				a->piece);
		}
		break;
	case LTS_ALERT_PEER_BANNED:
		f->banned++;
		ms_progress_clear(&f->prog);
		fprintf(stderr, "warning: banned peer %s:%d: it sent data that "
			"failed the hash check\n", a->address, a->port);
		break;
	case LTS_ALERT_TRACKER_ERROR:
		warn_once(f, "tracker '%s': %s", a->url, a->message);
		break;
	case LTS_ALERT_LISTEN_FAILED:
		warn_once(f, "cannot listen on %s: %s", a->address, a->message);
		break;
	case LTS_ALERT_FILE_ERROR:
	case LTS_ALERT_TORRENT_ERROR:
		cmd_error(EXIT_ERROR, "%s", a->message);
		finish_with(e, f, EXIT_ERROR);
		break;
	case LTS_ALERT_SAVE_RESUME:
		if (f->complete) {
			/* the last figures: alerts of the final blocks are in */
			struct lts_status st;
			if (!ms_engine_status(e, f->id, &st, NULL))
				f->final = st;
			if (unlink(f->resume_path) < 0 && errno != ENOENT)
				cmd_warning("cannot remove '%s': %s", f->resume_path,
					    strerror(errno));
		} else if (ms_write_file_atomic(f->resume_path, a->data,
						a->data_len, 0600, &err)) {
			cmd_warning("cannot save resume data: %s", err.msg);
		}
		break;
	default:
		break;
	}
}

static void on_session_alert(struct ms_engine *e, const struct lts_alert *a, void *ud)
{
	(void)e;
	on_alert(ud, a);
}

static void dial_peers(struct ms_engine *e, struct fetch *f)
{
	for (size_t i = 0; i < f->peers.n; i++) {
		char host[256];
		int port;
		struct ms_error err;

		if (ms_parse_hostport(f->peers.v[i], host, sizeof(host), &port))
			continue;
		if (ms_engine_connect_peer(e, f->id, host, port, &err))
			warn_once(f, "cannot dial '%s': %s", f->peers.v[i], err.msg);
	}
}

static void on_tick(struct ms_engine *e, void *ud)
{
	struct fetch *f = ud;
	struct lts_status st;
	struct ms_progress_snap snap;
	lts_torrent *t;
	struct ms_progress_source srcs[8];
	struct ms_progress_file pf[64];
	int64_t prog[64];
	int npf = 0;

	f->ticks++;
	if (ms_engine_status(e, f->id, &st, NULL))
		return;
	/* a magnet's metadata may not have been readable at its alert */
	if (!f->meta && st.has_metadata && (t = ms_engine_torrent(e, f->id, NULL)) &&
	    !know_meta(f, t, NULL))
		fprintf(stderr, "got metadata for '%s': %d files\n",
			f->info.name, f->info.num_files);
	if (st.state == LTS_STATE_DOWNLOADING)
		start_mirrors(e, f);
	if (st.state == LTS_STATE_DOWNLOADING && st.num_peers >= MS_CROWD_PEERS)
		ms_engine_crowded(e);
	check_complete(e, f);
	if (f->complete || ms_engine_closing(e))
		return;
	if (f->ticks % (RESUME_EVERY_MS / TICK_MS) == 0 && st.has_metadata)
		ms_engine_save_resume(e, f->id, 0, NULL);
	/* peers given on the command line may not have been up yet */
	if (f->ticks % 10 == 1 && st.num_peers < (int)f->peers.n)
		dial_peers(e, f);

	memset(&snap, 0, sizeof(snap));
	switch (st.state) {
	case LTS_STATE_CHECKING_FILES:
	case LTS_STATE_CHECKING_RESUME_DATA:
		snap.phase = "checking";
		break;
	case LTS_STATE_DOWNLOADING_METADATA:
		snap.phase = "metadata";
		break;
	default:
		snap.phase = "downloading";
	}
	snap.title = f->meta ? f->info.name : "(magnet)";
	snap.total = st.total_wanted;
	snap.done = st.total_wanted_done;
	snap.rate = -1; /* measured by the display: libtorrent's lags */
	snap.peers = st.num_peers;
	snap.seeds = st.num_seeds;
	snap.webseeds = ms_mirrors_active(&f->mr);
	snap.from_peers = st.peer_download;
	snap.from_webseeds = ms_mirrors_bytes(&f->mr);
	snap.mirrors = srcs;
	snap.n_mirrors = ms_mirrors_sources(&f->mr, srcs, 8);
	snap.hash_failures = f->hash_failures;
	if (f->meta && f->prog.tty) {
		int n = f->info.num_files;
		if (n <= 64 && ms_engine_file_progress(e, f->id, prog, n, NULL) >= 0) {
			for (int i = 0; i < n; i++) {
				struct lts_file_info fi;
				if (ms_torrent_file(f->meta, i, &fi) || fi.pad)
					continue;
				const char *slash = strchr(fi.path, '/');
				pf[npf].name = slash ? slash + 1 : fi.path;
				pf[npf].size = fi.size;
				pf[npf].done = prog[i];
				npf++;
			}
		}
	}
	snap.files = pf;
	snap.n_files = npf;
	ms_progress_update(&f->prog, &snap);
}

static void on_signal(struct ms_engine *e, int signum, void *ud)
{
	struct fetch *f = ud;

	if (!f->signum)
		f->signum = signum;
	ms_mirrors_stop(&f->mr);
	ms_progress_clear(&f->prog);
	ms_engine_shutdown(e, 10000);
}

static int resume_file(struct fetch *f, const char *identity)
{
	struct ms_error err;
	char *real = realpath(f->out, NULL);
	int r;

	if (!real)
		return cmd_error(EXIT_ERROR, "cannot resolve '%s': %s", f->out,
				 strerror(errno));
	r = ms_resume_path(identity, real, "resume", f->resume_path,
			sizeof(f->resume_path), &err);
	free(real);
	if (r)
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	return 0;
}

int cmd_fetch(int argc, char **argv, struct ms_ctx *ctx)
{
	struct ms_strlist trackers = { 0 };
	struct net_opts net = { 0 };
	struct rate_opts rate = { 0 };
	struct fetch f;
	struct opt_groups og = { .net = &net, .rate = &rate, .trackers = &trackers,
				 .peers = &f.peers, .mirrors = &f.mo };
	struct ms_engine_opts eo;
	struct ms_engine_events ev = { on_session_alert, on_tick, on_signal, NULL, engine_warning, NULL };
	struct lts_add_params ap;
	struct ms_engine *eng = NULL;
	struct ms_error err;
	unsigned char *resume = NULL;
	size_t resume_len = 0;
	const char *src, *identity;
	uv_loop_t loop;
	int c, r = EXIT_OK, is_magnet;

	memset(&f, 0, sizeof(f));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", fetch_opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			f.out = optarg;
			break;
		case 'h':
			fputs(fetch_usage, stdout);
			goto out;
		default:
			if ((r = groups_opt("fetch", &og, c, argv)))
				goto out;
			break;
		}
	}
	if (argc - optind != 1) {
		r = cmd_usage_error("fetch", argc - optind < 1
					     ? "need a torrent file or a magnet link"
					     : "too many arguments");
		goto out;
	}
	if (!f.out) {
		r = cmd_usage_error("fetch", "no output directory given (-o DIR)");
		goto out;
	}
	src = argv[optind];
	is_magnet = f.magnet = !strncmp(src, "magnet:", 7);

	/* validate everything before creating anything */
	if (!is_magnet) {
		lts_torrent *t;
		if ((r = load_torrent_file(src, &t)))
			goto out;
		if (know_meta(&f, t, &err)) {
			r = cmd_error(EXIT_ERROR, "%s", err.msg);
			goto out;
		}
		identity = *f.info.hash_v2 ? f.info.hash_v2 : f.info.hash_v1;
	} else {
		identity = src;
	}
	if (ms_mkdir_p(f.out, &err)) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		goto out;
	}
	if ((r = resume_file(&f, identity)))
		goto out;
	if (access(f.resume_path, F_OK) == 0 &&
	    ms_read_file(f.resume_path, 256u << 20, &resume, &resume_len, &err)) {
		cmd_warning("ignoring resume data: %s", err.msg);
		resume = NULL;
		resume_len = 0;
	}

	net_engine_opts(ctx, &net, &eo);
	f.ctx = ctx;
	f.loop = &loop;
	f.peer_sources = trackers.n || f.peers.n || eo.dht || eo.lsd || is_magnet ||
			 (f.meta && f.info.n_trackers);
	eo.upload_limit = rate.upload;
	eo.download_limit = rate.download;
	eo.tick_ms = TICK_MS;
	ev.ud = &f;
	ms_progress_init(&f.prog, stderr);
	clock_gettime(CLOCK_MONOTONIC, &f.t0);
	uv_loop_init(&loop);
	if (ms_engine_new(&eng, &loop, &eo, &ev, &err)) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		uv_loop_close(&loop);
		goto out;
	}
	f.eng = eng;
	memset(&ap, 0, sizeof(ap));
	if (f.meta) {
		size_t len;
		ap.torrent = ms_torrent_bytes(f.meta, &len);
		ap.torrent_len = len;
	} else {
		ap.magnet = src;
	}
	ap.resume = resume;
	ap.resume_len = resume_len;
	ap.save_path = f.out;
	ap.flags = LTS_ADD_NO_ROOT;
	ap.trackers = trackers.v;
	ap.n_trackers = trackers.n;
	r = ms_engine_add(eng, &ap, &f.id, &err);
	if (r && resume) {
		cmd_warning("ignoring resume data: %s", err.msg);
		ap.resume = NULL;
		ap.resume_len = 0;
		r = ms_engine_add(eng, &ap, &f.id, &err);
	}
	/* per torrent too: session limits do not cover peers on the
	 * local network */
	if (!r && ms_engine_watch(eng, f.id, on_alert, &f))
		r = ms_error_set(&err, MS_ENOMEM, "out of memory");
	if (!r && (rate.upload || rate.download))
		r = ms_engine_set_limits(eng, f.id, rate.upload, rate.download, &err);
	if (r) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		ms_engine_close(eng);
	} else {
		dial_peers(eng, &f);
	}
	(void)ms_progress_watch(&f.prog, &loop);
	uv_run(&loop, UV_RUN_DEFAULT);
	ms_progress_unwatch(&f.prog);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop)) {
		r = cmd_error(EXIT_ERROR, "internal error: event loop not closed");
		goto out;
	}
	if (r)
		goto out;
	if (f.complete) {
		char sz[32], rate[32];
		double secs = f.seconds > 0.001 ? f.seconds : 0.001;
		int nfiles = 0;
		for (int i = 0; i < f.info.num_files; i++) {
			struct lts_file_info fi;
			if (!ms_torrent_file(f.meta, i, &fi) && !fi.pad)
				nfiles++;
		}
		printf("fetched '%s' into '%s': %d files, %s\n",
		       f.info.name, f.out, nfiles,
		       ms_fmt_bytes(sz, sizeof(sz), (double)f.info.total_size));
		int64_t web = ms_mirrors_bytes(&f.mr), all = f.final.peer_download + web;
		printf("downloaded %" PRId64 " bytes in %.1f s (%s/s): %" PRId64
		       " from peers, %" PRId64 " from webseeds, %d hash failures\n",
		       all, f.seconds, ms_fmt_bytes(rate, sizeof(rate), (double)all / secs),
		       f.final.peer_download, web, f.hash_failures);
		print_mirrors(&f.mr, stdout);
		r = EXIT_OK;
	} else if (f.exit_code) {
		r = f.exit_code;
	} else if (f.signum) {
		fprintf(stderr, "interrupted: progress saved; run the same command to resume\n");
		r = 128 + f.signum;
	} else {
		r = cmd_error(EXIT_ERROR, "download ended before it was complete");
	}
out:
	free(resume);
	ms_torrent_meta_release(&f.info);
	ms_torrent_free(f.meta);
	ms_strlist_release(&f.peers);
	ms_strlist_release(&trackers);
	ms_mirrors_release(&f.mr);
	ms_mirror_opts_release(&f.mo);
	return r;
}
