/* test-engine.c: the engine on a libuv loop: alerts, ticks, signals, close */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ms_engine.h"
#include "tap.h"

struct state {
	int ticks, alerts, added, checked, resume, signals, closed;
	int listen_port;
	int id;
	int raise_at_tick;   /* raise SIGTERM at this tick (0: never) */
	int close_at_tick;   /* call ms_engine_close at this tick */
	int handle_signal;   /* 1: on_signal shuts down; 0: no callback */
};

static void on_alert(struct ms_engine *e, const struct lts_alert *a, void *ud)
{
	struct state *s = ud;

	(void)e;
	s->alerts++;
	if (a->type == LTS_ALERT_TORRENT_ADDED)
		s->added++;
	if (a->type == LTS_ALERT_TORRENT_CHECKED && a->torrent == s->id)
		s->checked++;
	if (a->type == LTS_ALERT_SAVE_RESUME && a->torrent == s->id && a->data_len)
		s->resume++;
	if (a->type == LTS_ALERT_LISTEN_SUCCEEDED)
		s->listen_port = a->port;
}

static void on_tick(struct ms_engine *e, void *ud)
{
	struct state *s = ud;

	s->ticks++;
	if (s->raise_at_tick && s->ticks == s->raise_at_tick)
		uv_kill(getpid(), SIGTERM);
	if (s->close_at_tick && s->ticks == s->close_at_tick)
		ms_engine_close(e);
}

static void on_signal(struct ms_engine *e, int signum, void *ud)
{
	struct state *s = ud;

	s->signals++;
	if (signum == SIGTERM)
		ms_engine_shutdown(e, 5000);
}

static void on_closed(void *ud)
{
	struct state *s = ud;

	s->closed++;
}

static const struct lts_create_file files[] = { { "f.bin", 100000 } };
static char tmp[128];

static int run(struct state *st, int with_torrent)
{
	struct ms_engine_events ev = {
		.on_alert = on_alert,
		.on_tick = on_tick,
		.on_signal = st->handle_signal ? on_signal : NULL,
		.on_closed = on_closed,
		.ud = st,
	};
	struct ms_engine_opts o;
	struct ms_engine *e;
	struct ms_error err;
	uv_loop_t loop;
	int r;

	memset(&o, 0, sizeof(o));
	o.listen = "127.0.0.1:0";
	o.tick_ms = 100;
	uv_loop_init(&loop);
	if (ms_engine_new(&e, &loop, &o, &ev, &err)) {
		diag("engine: %s", err.msg);
		return -1;
	}
	if (with_torrent) {
		struct lts_create_opts co;
		unsigned char *buf;
		size_t len;
		struct lts_add_params ap;
		char dir[256];

		memset(&co, 0, sizeof(co));
		snprintf(dir, sizeof(dir), "%s/data", tmp);
		if (ms_torrent_create(dir, files, 1, &co, &buf, &len, &err)) {
			diag("create: %s", err.msg);
			return -1;
		}
		memset(&ap, 0, sizeof(ap));
		ap.torrent = buf;
		ap.torrent_len = len;
		ap.save_path = dir;
		ap.flags = LTS_ADD_NO_ROOT;
		r = ms_engine_add(e, &ap, &st->id, &err);
		free(buf);
		if (r) {
			diag("add: %s", err.msg);
			return -1;
		}
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	return uv_loop_close(&loop);
}

int main(void)
{
	struct state st;
	struct ms_engine_opts o;
	struct ms_engine *e;
	struct ms_error err;
	uv_loop_t loop;
	char path[256];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "/tmp/ms-test-engine.XXXXXX");
	if (!mkdtemp(tmp))
		return 2;
	snprintf(path, sizeof(path), "%s/data", tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/data/f.bin", tmp);
	f = fopen(path, "wb");
	for (int i = 0; i < 100000; i++)
		fputc(i * 7 & 0xff, f);
	fclose(f);

	/* SIGTERM: resume data saved, every handle closed, loop closes */
	memset(&st, 0, sizeof(st));
	st.raise_at_tick = 5;
	st.handle_signal = 1;
	ok(run(&st, 1) == 0, "SIGTERM: uv_loop_close() returns 0");
	ok(st.signals == 1, "on_signal called once");
	ok(st.ticks >= 5, "timer ticked (%d)", st.ticks);
	ok(st.added == 1 && st.checked == 1, "add and check alerts dispatched");
	ok(st.resume == 1, "resume data delivered before closing");
	ok(st.listen_port > 0, "listen alert seen (port %d)", st.listen_port);
	ok(st.closed == 1, "on_closed called once");

	/* no on_signal: the engine shuts itself down */
	memset(&st, 0, sizeof(st));
	st.raise_at_tick = 3;
	ok(run(&st, 1) == 0 && st.closed == 1 && st.resume == 1,
	   "default SIGTERM handling saves and closes");

	/* close from inside a callback, no torrent */
	memset(&st, 0, sizeof(st));
	st.close_at_tick = 2;
	ok(run(&st, 0) == 0 && st.closed == 1 && st.ticks == 2,
	   "ms_engine_close from a tick closes the loop");

	/* a bad setting: an error and nothing left on the loop */
	char dht[] = "enable_dht", perhaps[] = "perhaps";
	struct ms_setting bad[] = { { dht, perhaps } };
	memset(&o, 0, sizeof(o));
	o.settings = bad;
	o.n_settings = 1;
	uv_loop_init(&loop);
	ok(ms_engine_new(&e, &loop, &o, NULL, &err) == MS_EINVAL &&
	   strstr(err.msg, "enable_dht"), "bad setting: %s", err.msg);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(uv_loop_close(&loop) == 0, "loop closes after a failed engine start");

	/* metadata helpers map errors */
	ok(ms_torrent_load("d4:infoe", 8, &err) == NULL && err.code == MS_ETORRENT,
	   "bad torrent is MS_ETORRENT: %s", err.msg);
	/* one snapshot holds what a torrent says about itself */
	for (int v1only = 0; v1only < 2; v1only++) {
		static const char *const ws[] = { "http://a.example/", "http://b.example/x/" };
		static const char *const tr[] = { "http://t.example/announce" };
		struct lts_create_opts co;
		struct ms_torrent_meta tm;
		unsigned char *buf = NULL;
		size_t len;
		lts_torrent *t = NULL;
		char dir[256];

		memset(&co, 0, sizeof(co));
		co.flags = v1only ? LTS_CREATE_V1_ONLY : 0;
		co.piece_size = 32768;
		co.name = "snap";
		co.webseeds = ws;
		co.n_webseeds = 2;
		co.trackers = tr;
		co.n_trackers = 1;
		snprintf(dir, sizeof(dir), "%s/data", tmp);
		memset(&tm, 0, sizeof(tm));
		ok(!ms_torrent_create(dir, files, 1, &co, &buf, &len, &err) &&
		   (t = ms_torrent_load(buf, len, &err)) && !ms_torrent_meta(t, &tm, &err),
		   "%s torrent: snapshot taken", v1only ? "v1-only" : "hybrid");
		ms_torrent_free(t);
		free(buf);
		ok(tm.name && !strcmp(tm.name, "snap") && tm.num_files == 1 &&
		   tm.total_size == 100000 && tm.piece_length == 32768 && tm.num_pieces == 4,
		   "name, files, size, piece length and pieces, after the torrent is freed");
		ok(strlen(tm.hash_v1) == 40 && strlen(tm.hash_v2) == (v1only ? 0 : 64),
		   "info-hashes: v1 %s, v2 '%s'", tm.hash_v1, tm.hash_v2);
		ok(tm.n_trackers == 1 && tm.n_webseeds == 2 &&
		   !strcmp(tm.webseeds[0], ws[0]) && !strcmp(tm.webseeds[1], ws[1]),
		   "trackers and web seeds");
		ms_torrent_meta_release(&tm);
		ok(!tm.name && !tm.webseeds && !tm.n_webseeds, "released and zeroed");
	}

	ok(!strcmp(ms_strerror(MS_ETORRENT), "invalid torrent") &&
	   !strcmp(ms_strerror(12345), "unknown error"), "ms_strerror");

	{
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd))
			diag("could not remove %s", tmp);
	}
	return tap_done();
}
