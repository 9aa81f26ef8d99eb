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
#include "ms_config.h"
#include "ms_engine.h"
#include "ms_manifest.h"
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
	const char *src;            /* the torrent file or magnet named */
	const struct ms_strlist *trackers;
	struct rate_opts rate;
	unsigned char *resume;      /* read by prepare(), until added */
	size_t resume_len;
	/* a magnet's metadata comes into a directory of its own, in upload
	 * mode; once checked, that torrent goes and the download starts
	 * under DIR (downloading set) */
	char scratch[PATH_MAX];
	int downloading;
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

/* the path of a file under DIR: the torrent name stripped */
static const char *rel_path(const struct fetch *f, const struct lts_file_info *fi)
{
	const char *name = f->info.name;
	size_t nl = strlen(name);

	if (!(f->info.num_files == 1 && !strcmp(fi->path, name)) &&
	    !strncmp(fi->path, name, nl) && fi->path[nl] == '/')
		return fi->path + nl + 1;
	return fi->path;
}

/* The torrent is untrusted: its paths follow the manifest's rules (no
 * .git, no "..", ...), as get's do, and it has no symlink, all checked
 * before anything is written. */
static int check_files(struct fetch *f)
{
	int n = f->info.num_files, r = 0;
	const char **paths = calloc(n > 0 ? (size_t)n : 1, sizeof(*paths));
	struct ms_error err;
	size_t np = 0;

	if (!paths)
		return cmd_error(EXIT_ERROR, "out of memory");
	/* libtorrent may make directories under DIR/NAME too */
	if (ms_path_check(f->info.name, &err))
		r = cmd_error(EXIT_VERIFY, "torrent name: %s", err.msg);
	for (int i = 0; i < n && !r; i++) {
		struct lts_file_info fi;
		const char *rel;

		if (ms_torrent_file(f->meta, i, &fi) || fi.pad)
			continue;
		rel = rel_path(f, &fi);
		if (fi.symlink)
			r = cmd_error(EXIT_VERIFY, "torrent file '%s' has the symlink attribute: "
				      "fetch does not make symlinks", rel);
		else if (ms_path_check(rel, &err))
			r = cmd_error(EXIT_VERIFY, "%s", err.msg);
		paths[np++] = rel;
	}
	if (!r && ms_paths_collide(paths, np, &err))
		r = cmd_error(EXIT_VERIFY, "%s", err.msg);
	free(paths);
	return r;
}

/* what walking to rel under DIR met: a message naming the part at fault */
static int walk_error(struct fetch *f, const char *rel, size_t bad, int e)
{
	char shown[PATH_MAX];

	snprintf(shown, sizeof(shown), "%s/%.*s", f->out, (int)bad, rel);
	if (e == ELOOP)
		return cmd_error(EXIT_ERROR, "'%s' is a symbolic link: fetch never writes "
				 "through one", shown);
	if (e == ENOTDIR)
		return cmd_error(EXIT_ERROR, "'%s' is not a directory", shown);
	return cmd_error(EXIT_ERROR, "cannot open '%s': %s", shown, strerror(e));
}

enum { LOOK_BEFORE, LOOK_AFTER };

/*
 * What DIR holds at the torrent's paths, looked at without following a
 * symlink. Before (nothing written yet): a symlink, or anything but a
 * directory on the way or a regular file at a file, is refused by name;
 * then files longer than the torrent's are cut to its size (libtorrent's
 * check of the files finds what else differs). After: every file is
 * there, a regular file of the torrent's size, or EXIT_VERIFY.
 */
static int look_at_dir(struct fetch *f, int when)
{
	int n = f->info.num_files, r = 0, dfd;
	unsigned char *cut = calloc(n > 0 ? (size_t)n : 1, 1);

	if (!cut)
		return cmd_error(EXIT_ERROR, "out of memory");
	dfd = open(f->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		free(cut);
		return cmd_error(EXIT_ERROR, "cannot open '%s': %s", f->out, strerror(errno));
	}
	/* libtorrent may make directories under DIR/NAME (see check_complete()) */
	if (n > 1) {
		struct stat st;
		if (fstatat(dfd, f->info.name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			r = walk_error(f, f->info.name, strlen(f->info.name), ELOOP);
	}
	for (int i = 0; i < n && !r; i++) {
		struct lts_file_info fi;
		struct stat st;
		const char *rel;
		size_t bad;

		if (ms_torrent_file(f->meta, i, &fi) || fi.pad)
			continue;
		rel = rel_path(f, &fi);
		if (ms_stat_beneath(dfd, rel, &st, &bad) < 0) {
			if (errno != ENOENT)
				r = walk_error(f, rel, bad, errno);
			else if (when == LOOK_AFTER)
				r = cmd_error(EXIT_VERIFY, "'%s/%s' is missing", f->out, rel);
		} else if (S_ISLNK(st.st_mode)) {
			r = walk_error(f, rel, strlen(rel), ELOOP);
		} else if (!S_ISREG(st.st_mode)) {
			r = cmd_error(EXIT_ERROR, "'%s/%s' is not a regular file", f->out, rel);
		} else if (when == LOOK_AFTER && st.st_size != fi.size) {
			r = cmd_error(EXIT_VERIFY, "'%s/%s' has %lld bytes, not the torrent's %lld",
				      f->out, rel, (long long)st.st_size, (long long)fi.size);
		} else if (st.st_size > fi.size) {
			cut[i] = 1;
		}
	}
	for (int i = 0; i < n && !r; i++) {
		struct lts_file_info fi;
		const char *rel;
		size_t bad;
		int fd;

		if (!cut[i] || ms_torrent_file(f->meta, i, &fi))
			continue;
		rel = rel_path(f, &fi);
		fd = ms_open_beneath(dfd, rel, O_WRONLY, 0, 0, &bad);
		if (fd < 0 || ftruncate(fd, fi.size) < 0)
			r = fd < 0 ? walk_error(f, rel, bad, errno)
				   : cmd_error(EXIT_ERROR, "cannot truncate '%s/%s': %s", f->out,
					       rel, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	close(dfd);
	free(cut);
	return r;
}

/* libtorrent does not write empty files: create them */
static int make_empty_files(struct fetch *f)
{
	int n = f->info.num_files, r = 0;
	int dfd = open(f->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return cmd_error(EXIT_ERROR, "cannot open '%s': %s", f->out, strerror(errno));
	for (int i = 0; i < n && !r; i++) {
		struct lts_file_info fi;
		const char *rel;
		size_t bad;
		int fd;

		if (ms_torrent_file(f->meta, i, &fi) || fi.pad || fi.size)
			continue;
		rel = rel_path(f, &fi);
		fd = ms_open_beneath(dfd, rel, O_WRONLY | O_CREAT, 0644, 1, &bad);
		if (fd < 0)
			r = walk_error(f, rel, bad, errno);
		else
			close(fd);
	}
	close(dfd);
	return r;
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
	int r;

	if (!f->downloading || f->complete || f->exit_code || ms_engine_closing(e))
		return;
	/* every file is wanted, so every piece verified means every file is
	 * whole (libtorrent's per-file byte counts are not asked: they can
	 * lag for good after a piece that failed was handed in again) */
	if (ms_engine_status(e, f->id, &st, &err) || !st.has_metadata ||
	    !f->meta || !(st.is_finished || st.is_seeding) ||
	    st.total_wanted_done != st.total_wanted)
		return;
	/* exit 0 says every file is the torrent's: its pieces all passed,
	 * and it is a regular file of its size at its path */
	if ((r = make_empty_files(f)) || (r = look_at_dir(f, LOOK_AFTER))) {
		finish_with(e, f, r);
		return;
	}
	/* a torrent without its v2 piece layers (a magnet's) has libtorrent
	 * make directories under DIR/NAME too (look_at_dir() saw that it is
	 * no symlink) */
	if (f->magnet && f->info.num_files > 1) {
		char stale[PATH_MAX];
		struct stat st;
		if ((size_t)snprintf(stale, sizeof(stale), "%s/%s", f->out,
				     f->info.name) < sizeof(stale) &&
		    lstat(stale, &st) == 0 && S_ISDIR(st.st_mode))
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

static void on_alert(void *ud, const struct lts_alert *a);

static int resume_file(struct fetch *f, const char *identity);

/* Before anything is written under DIR: the torrent's files checked, DIR
 * made and looked at, the resume data read. */
static int prepare(struct fetch *f)
{
	struct ms_error err;
	int r;

	if ((r = check_files(f)))
		return r;
	if (ms_mkdir_p(f->out, &err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	if ((r = resume_file(f, *f->info.hash_v2 ? f->info.hash_v2 : f->info.hash_v1)) ||
	    (r = look_at_dir(f, LOOK_BEFORE)))
		return r;
	if (access(f->resume_path, F_OK) == 0 &&
	    ms_read_file(f->resume_path, 256u << 20, &f->resume, &f->resume_len, &err)) {
		cmd_warning("ignoring resume data: %s", err.msg);
		f->resume = NULL;
		f->resume_len = 0;
	}
	return 0;
}

/* The torrent (prepared) downloading under DIR, its files mapped to
 * DIR/<path without the torrent's name>; a magnet's trackers and peers
 * kept. */
static int add_download(struct ms_engine *e, struct fetch *f, struct ms_error *err)
{
	struct lts_add_params ap;
	size_t len;
	int r;

	memset(&ap, 0, sizeof(ap));
	ap.torrent = ms_torrent_bytes(f->meta, &len);
	ap.torrent_len = len;
	ap.magnet = f->magnet ? f->src : NULL;
	ap.resume = f->resume;
	ap.resume_len = f->resume_len;
	ap.save_path = f->out;
	ap.flags = LTS_ADD_NO_ROOT;
	ap.trackers = f->trackers->v;
	ap.n_trackers = f->trackers->n;
	r = ms_engine_add(e, &ap, &f->id, err);
	if (r && f->resume) {
		cmd_warning("ignoring resume data: %s", err->msg);
		ap.resume = NULL;
		ap.resume_len = 0;
		r = ms_engine_add(e, &ap, &f->id, err);
	}
	free(f->resume);
	f->resume = NULL;
	if (r)
		return r;
	f->downloading = 1;
	if (ms_engine_watch(e, f->id, on_alert, f))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	/* per torrent too: session limits do not cover peers on the
	 * local network */
	if ((f->rate.upload || f->rate.download) &&
	    (r = ms_engine_set_limits(e, f->id, f->rate.upload, f->rate.download, err)))
		return r;
	dial_peers(e, f);
	return 0;
}

/* A magnet's metadata, in a directory of its own (in the state
 * directory), in upload mode: nothing is written under DIR before it is
 * checked. */
static int add_magnet(struct ms_engine *e, struct fetch *f, struct ms_error *err)
{
	struct lts_add_params ap;
	int r;

	if ((r = ms_resume_path(f->src, f->out, "metadata.XXXXXX", f->scratch,
				sizeof(f->scratch), err)))
		return r;
	if (!mkdtemp(f->scratch)) {
		r = ms_error_set(err, ms_error_from_errno(errno), "cannot create '%s': %s",
				 f->scratch, strerror(errno));
		*f->scratch = '\0';
		return r;
	}
	memset(&ap, 0, sizeof(ap));
	ap.magnet = f->src;
	ap.save_path = f->scratch;
	ap.flags = LTS_ADD_UPLOAD_ONLY;
	ap.trackers = f->trackers->v;
	ap.n_trackers = f->trackers->n;
	if ((r = ms_engine_add(e, &ap, &f->id, err)))
		return r;
	if (ms_engine_watch(e, f->id, on_alert, f))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	dial_peers(e, f);
	return 0;
}

/* the magnet's directory, and whatever libtorrent made in it, gone */
static void remove_scratch(struct fetch *f)
{
	char *slash = strrchr(f->scratch, '/');
	int dfd;

	if (!*f->scratch || !slash)
		return;
	*slash = '\0';
	dfd = open(f->scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*slash = '/';
	if (dfd < 0 || ms_remove_tree_at(dfd, slash + 1) < 0)
		cmd_warning("cannot remove '%s': %s", f->scratch, strerror(errno));
	if (dfd >= 0)
		close(dfd);
	*f->scratch = '\0';
}

/* A magnet's metadata came (t; NULL when not readable yet): its torrent
 * goes, then start_download() */
static void got_metadata(struct ms_engine *e, struct fetch *f, lts_torrent *t)
{
	struct ms_error err;

	if (!t)
		return;
	if (f->meta) {
		ms_torrent_free(t);
		return;
	}
	if (know_meta(f, t, &err))
		return;
	ms_progress_clear(&f->prog);
	fprintf(stderr, "got metadata for '%s': %d files\n", f->info.name, f->info.num_files);
	if (ms_engine_remove(e, f->id, 0, &err)) {
		cmd_error(EXIT_ERROR, "%s", err.msg);
		finish_with(e, f, EXIT_ERROR);
	}
}

/* the magnet's torrent is out of the session: the download proper */
static void start_download(struct ms_engine *e, struct fetch *f)
{
	struct ms_error err;
	int r;

	remove_scratch(f);
	if ((r = prepare(f))) {
		finish_with(e, f, r);
		return;
	}
	if (add_download(e, f, &err)) {
		cmd_error(EXIT_ERROR, "%s", err.msg);
		finish_with(e, f, EXIT_ERROR);
	}
}

/* the torrent's alerts, straight from the engine (NULL: it closed), and
 * the session's (listen failures) */
static void on_alert(void *ud, const struct lts_alert *a)
{
	struct fetch *f = ud;
	struct ms_engine *e = f->eng;
	struct ms_error err;

	if (!a || (a->torrent && a->torrent != f->id))
		return;
	/* a magnet's torrent, in its own directory: only its metadata counts */
	if (!f->downloading && a->torrent &&
	    (a->type == LTS_ALERT_TORRENT_CHECKED || a->type == LTS_ALERT_TORRENT_FINISHED ||
	     a->type == LTS_ALERT_FILE_ERROR || a->type == LTS_ALERT_SAVE_RESUME))
		return;
	switch (a->type) {
	case LTS_ALERT_METADATA_RECEIVED:
		/* not readable yet: the next tick tries again */
		got_metadata(e, f, ms_engine_torrent(e, f->id, NULL));
		break;
	case LTS_ALERT_TORRENT_REMOVED:
		/* the magnet's torrent, its metadata in hand */
		if (!f->downloading && f->meta)
			start_download(e, f);
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
	struct ms_progress_source srcs[8];
	struct ms_progress_file pf[64];
	int64_t prog[64];
	int npf = 0;

	f->ticks++;
	if (ms_engine_status(e, f->id, &st, NULL))
		return;
	/* a magnet's metadata may not have been readable at its alert */
	if (!f->meta && st.has_metadata)
		got_metadata(e, f, ms_engine_torrent(e, f->id, NULL));
	if (st.state == LTS_STATE_DOWNLOADING && f->downloading)
		start_mirrors(e, f);
	if (st.state == LTS_STATE_DOWNLOADING && st.num_peers >= MS_CROWD_PEERS)
		ms_engine_crowded(e);
	check_complete(e, f);
	if (f->complete || ms_engine_closing(e))
		return;
	if (f->ticks % (RESUME_EVERY_MS / TICK_MS) == 0 && f->downloading)
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
	struct ms_engine *eng = NULL;
	struct ms_error err;
	const char *src;
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

	f.src = src;
	f.trackers = &trackers;
	f.rate = rate;

	/* a torrent file: everything checked before anything is written (a
	 * magnet's once its metadata came) */
	if (!is_magnet) {
		lts_torrent *t;
		if ((r = load_torrent_file(src, &t)))
			goto out;
		if (know_meta(&f, t, &err)) {
			r = cmd_error(EXIT_ERROR, "%s", err.msg);
			goto out;
		}
		if ((r = prepare(&f)))
			goto out;
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
	r = is_magnet ? add_magnet(eng, &f, &err) : add_download(eng, &f, &err);
	if (r) {
		r = cmd_error(EXIT_ERROR, "%s", err.msg);
		ms_engine_close(eng);
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
	remove_scratch(&f);
	free(f.resume);
	ms_torrent_meta_release(&f.info);
	ms_torrent_free(f.meta);
	ms_strlist_release(&f.peers);
	ms_strlist_release(&trackers);
	ms_mirrors_release(&f.mr);
	ms_mirror_opts_release(&f.mo);
	return r;
}
