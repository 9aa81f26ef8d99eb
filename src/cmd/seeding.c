/* seeding.c: the seeding loop of modelswarm seed (a torrent and its
 * directory, or ORG/NAME@REV from the cache) and of publish --seed */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ms_engine.h"
#include "ms_progress.h"
#include "ms_torrent.h"

struct seeding {
	uv_loop_t loop;
	struct ms_engine *eng;      /* until it closed */
	int dht;                    /* its DHT is on */
	int upload;
	int super_seeding;
	const char *dir;
	const char *label;          /* what is seeded, for messages */
	int partial;                /* only some files are there */
	int64_t want_bytes;         /* partial: bytes that must verify */
	const char *resume_path;    /* fast path for the next start */
	struct ms_torrent_meta info; /* the torrent's snapshot */
	int id;
	int seeding;
	int listening;
	int exit_code;
	int signum;
	char origin[160];           /* "origin mode: ..." */
	struct ms_progress prog;
};

static void fail_now(struct ms_engine *e, struct seeding *s, int code)
{
	ms_progress_clear(&s->prog);
	s->exit_code = code;
	ms_engine_close(e);
}

static void on_alert(struct ms_engine *e, const struct lts_alert *a, void *ud)
{
	struct seeding *s = ud;
	struct lts_status st;
	struct ms_error err;

	switch (a->type) {
	case LTS_ALERT_LISTEN_SUCCEEDED:
		s->listening++;
		print_listen(stdout, a);
		break;
	case LTS_ALERT_LISTEN_FAILED:
		cmd_warning("cannot listen on %s:%d: %s", a->address, a->port,
			    a->message);
		break;
	case LTS_ALERT_TORRENT_CHECKED:
		if (a->torrent != s->id || s->seeding)
			break;
		if (ms_engine_status(e, s->id, &st, &err)) {
			cmd_error(EXIT_ERROR, "%s", err.msg);
			fail_now(e, s, EXIT_ERROR);
			break;
		}
		ms_progress_clear(&s->prog);
		if (s->partial ? st.total_wanted_done < s->want_bytes : !st.is_seeding) {
			cmd_error(EXIT_VERIFY,
				  "'%s' does not match the torrent: %d of %d pieces verified",
				  s->label ? s->label : s->dir, st.pieces_done, st.num_pieces);
			fail_now(e, s, EXIT_VERIFY);
			break;
		}
		if (!s->listening) {
			cmd_error(EXIT_ERROR, "not listening on any address");
			fail_now(e, s, EXIT_ERROR);
			break;
		}
		s->seeding = 1;
		if (s->resume_path)
			ms_engine_save_resume(e, s->id, 0, NULL);
		if (s->label)
			printf("seeding %s\n", s->label);
		else
			printf("seeding '%s' from '%s'\n", s->info.name, s->dir);
		if (*s->info.hash_v1)
			printf("infohash v1: %s\n", s->info.hash_v1);
		if (*s->info.hash_v2)
			printf("infohash v2: %s\n", s->info.hash_v2);
		printf("%s\n", s->origin);
		break;
	case LTS_ALERT_SAVE_RESUME:
		if (a->torrent == s->id && s->resume_path && s->seeding)
			ms_write_file_atomic(s->resume_path, a->data, a->data_len, 0600, NULL);
		break;
	case LTS_ALERT_TORRENT_ERROR:
	case LTS_ALERT_FILE_ERROR:
		if (a->torrent != s->id)
			break;
		cmd_error(EXIT_ERROR, "%s", a->message);
		fail_now(e, s, EXIT_ERROR);
		break;
	default:
		break;
	}
}

static void on_tick(struct ms_engine *e, void *ud)
{
	struct seeding *s = ud;
	struct lts_status st;
	struct ms_progress_snap snap;

	if (s->seeding || ms_engine_status(e, s->id, &st, NULL))
		return;
	if (st.state != LTS_STATE_CHECKING_FILES &&
	    st.state != LTS_STATE_CHECKING_RESUME_DATA)
		return;
	memset(&snap, 0, sizeof(snap));
	snap.phase = "checking";
	snap.title = s->info.name;
	snap.total = st.num_pieces;
	snap.done = st.pieces_done;
	if (s->prog.tty)
		ms_progress_update(&s->prog, &snap);
}

static void on_signal(struct ms_engine *e, int signum, void *ud)
{
	struct seeding *s = ud;

	s->signum = signum;
	ms_progress_clear(&s->prog);
	ms_engine_shutdown(e, 10000);
}

int seed_run(struct ms_ctx *ctx, const struct net_opts *net, lts_torrent *meta,
	     const char *dir, const struct ms_strlist *trackers, int upload)
{
	struct seed_store st;

	memset(&st, 0, sizeof(st));
	return seed_run_ex(ctx, net, meta, dir, trackers, upload, &st);
}

int seed_run_ex(struct ms_ctx *ctx, const struct net_opts *net, lts_torrent *meta,
		const char *dir, const struct ms_strlist *trackers, int upload,
		const struct seed_store *ss)
{
	struct seeding *sg;
	int r;

	if ((r = seed_open(&sg, ctx, net, upload, ss->origin_why)))
		return r;
	return seed_finish(sg, meta, dir, trackers, ss);
}

static void on_closed(void *ud)
{
	struct seeding *s = ud;

	s->eng = NULL;
}

int seed_open(struct seeding **out, struct ms_ctx *ctx, const struct net_opts *net, int upload,
	      const char *origin_why)
{
	struct ms_engine_opts eo;
	struct ms_engine_events ev = { on_alert, on_tick, on_signal, on_closed, engine_warning,
				       NULL };
	struct ms_error err;
	struct seeding *s;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return cmd_error(EXIT_ERROR, "out of memory");
	s->upload = upload;
	s->super_seeding = ctx->config.super_seeding;
	net_engine_opts(ctx, net, &eo);
	eo.upload_limit = upload;
	/* the origin of a release: each peer may queue few requests with us
	 * (engine.c); by default when we publish it */
	eo.origin = ctx->config.super_seeding || ctx->config.origin > 0 ||
		    (ctx->config.origin < 0 && origin_why);
	if (ctx->config.super_seeding)
		snprintf(s->origin, sizeof(s->origin), "origin mode: on, with super seeding");
	else if (eo.origin && ctx->config.origin < 0)
		snprintf(s->origin, sizeof(s->origin),
			 "origin mode: on (%s; --no-origin turns it off)", origin_why);
	else
		snprintf(s->origin, sizeof(s->origin), "origin mode: %s", eo.origin ? "on" : "off");
	eo.tick_ms = 500;
	ev.ud = s;
	ms_progress_init(&s->prog, stderr);
	uv_loop_init(&s->loop);
	if (ms_engine_new(&s->eng, &s->loop, &eo, &ev, &err)) {
		uv_loop_close(&s->loop);
		free(s);
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	}
	s->dht = eo.dht;
	*out = s;
	return 0;
}

uv_loop_t *seed_loop(struct seeding *sg)
{
	return &sg->loop;
}

struct ms_engine *seed_engine(struct seeding *sg)
{
	return sg->dht ? sg->eng : NULL;
}

/* the torrent added to the session, its files as ss maps them */
static int add(struct seeding *s, lts_torrent *meta, const char *dir,
	       const struct ms_strlist *trackers, const struct seed_store *ss)
{
	struct ms_engine *eng = s->eng;
	struct lts_add_params ap;
	struct ms_error err;
	size_t len;
	int r;

	s->dir = dir;
	s->label = ss->label;
	s->partial = ss->partial;
	s->want_bytes = ss->want_bytes;
	s->resume_path = ss->resume_path;
	if (ms_torrent_meta(meta, &s->info, &err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	memset(&ap, 0, sizeof(ap));
	ap.torrent = ms_torrent_bytes(meta, &len);
	ap.torrent_len = len;
	ap.save_path = dir;
	ap.flags = LTS_ADD_NO_ROOT;
	if (s->super_seeding)
		ap.flags |= LTS_ADD_SUPER_SEED;
	if (ss->file_paths) {
		ap.file_paths = ss->file_paths;
		ap.n_file_paths = ss->n_file_paths;
		ap.flags = LTS_ADD_UPLOAD_ONLY | (ap.flags & LTS_ADD_SUPER_SEED);
		ap.resume = ss->resume;
		ap.resume_len = ss->resume_len;
	}
	ap.trackers = trackers->v;
	ap.n_trackers = trackers->n;
	/* per torrent too: session limits do not cover peers on the
	 * local network */
	r = ms_engine_add(eng, &ap, &s->id, &err);
	if (r && ap.resume) {
		/* stale resume data: check the files instead */
		ap.resume = NULL;
		ap.resume_len = 0;
		r = ms_engine_add(eng, &ap, &s->id, &err);
	}
	if (!r && ss->bundle) {
		/* the release's DHT bundle, from its directory */
		struct lts_add_params bp = { .torrent = ss->bundle, .torrent_len = ss->bundle_len,
					     .save_path = ss->bundle_dir,
					     .flags = LTS_ADD_NO_ROOT | LTS_ADD_SEED_MODE };
		int bid;
		if (ms_engine_add(eng, &bp, &bid, &err))
			cmd_warning("cannot seed the DHT bundle: %s", err.msg);
	}
	if (!r && ss->priorities)
		r = ms_engine_set_file_priorities(eng, s->id, ss->priorities,
						  (int)ss->n_file_paths, &err);
	if (r || (s->upload && ms_engine_set_limits(eng, s->id, s->upload, 0, &err)))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	return 0;
}

int seed_finish(struct seeding *s, lts_torrent *meta, const char *dir,
		const struct ms_strlist *trackers, const struct seed_store *ss)
{
	int r = 0;

	if (meta && s->eng && !(r = add(s, meta, dir, trackers, ss)))
		(void)ms_progress_watch(&s->prog, &s->loop);
	if ((r || !meta) && s->eng)
		ms_engine_close(s->eng);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	ms_progress_unwatch(&s->prog);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	ms_torrent_meta_release(&s->info);
	if (uv_loop_close(&s->loop))
		r = cmd_error(EXIT_ERROR, "internal error: event loop not closed");
	if (!r)
		r = s->exit_code;
	if (!r && s->signum)
		fprintf(stderr, "stopped by signal %d\n", s->signum);
	free(s);
	return r;
}
