/* mirrors.c: HTTP mirrors (web seeds) of one torrent, for fetch, get and
 * the daemon */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_mirrors.h"

static void on_event(void *ud, const char *mirror, const char *msg)
{
	struct ms_mirrors *mr = ud;

	if (mr->on_event)
		mr->on_event(mr->ud, mirror, msg);
}

static void on_exhausted(void *ud, int file)
{
	struct ms_mirrors *mr = ud;

	if (mr->on_exhausted)
		mr->on_exhausted(mr->ud, file);
}

static void on_file(void *ud, int file, int error)
{
	struct ms_mirrors *mr = ud;

	if (mr->on_file)
		mr->on_file(mr->ud, file, error);
}

int ms_mirrors_start(struct ms_mirrors *mr, const struct ms_config *c,
		  const struct ms_mirror_opts *mo, uv_loop_t *loop,
		  struct ms_engine *e, int id, const char *const *extra,
		  size_t n_extra, int peer_sources, struct ms_error *err)
{
	struct ms_webseed_opts o;
	struct ms_mirror_auth *auth;
	size_t n;
	int r;

	if (mr->ws || mr->stopped)
		return 0;
	n = mo->urls.n + n_extra + c->n_webseeds;
	if (!n)
		return 0;
	ms_webseed_opts_init(&o);
	if (mo->mode)
		o.mode = ms_webseed_mode_parse(mo->mode);
	else if (c->webseed_mode)
		o.mode = ms_webseed_mode_parse(c->webseed_mode);
	/* nothing else could deliver: do not wait for peers */
	if (!peer_sources && o.mode == MS_WEBSEEDS_FALLBACK)
		o.mode = MS_WEBSEEDS_ALWAYS;
	if (c->fallback_rate >= 0)
		o.fallback_rate = c->fallback_rate;
	if (c->fallback_delay_s >= 0)
		o.fallback_delay_ms = (unsigned)c->fallback_delay_s * 1000;
	if (c->webseed_timeout_s > 0)
		o.stall_s = (long)c->webseed_timeout_s;
	if (c->webseed_conns > 0)
		o.conns = c->webseed_conns > 64 ? 64 : (int)c->webseed_conns;
	if (c->webseed_request > 0)
		o.request_bytes = c->webseed_request;
	auth = calloc(c->n_auth + 1, sizeof(*auth));
	if (!auth)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->n_auth; i++) {
		auth[i].host = c->auth_host[i];
		auth[i].value = c->auth_value[i];
	}
	o.auth = auth;
	o.n_auth = c->n_auth;
	o.on_event = on_event;
	o.on_file = on_file;
	o.on_exhausted = on_exhausted;
	o.ud = mr;
	mr->mode = o.mode;
	r = ms_webseed_new(&mr->ws, loop, e, id, &o, err);
	free(auth);
	if (r)
		return r;
	for (size_t i = 0; !r && i < n; i++) {
		const char *u = i < mo->urls.n ? mo->urls.v[i]
				: i < mo->urls.n + n_extra ? extra[i - mo->urls.n]
				: c->webseeds[i - mo->urls.n - n_extra];
		r = ms_webseed_add(mr->ws, u, err);
	}
	if (r) {
		ms_webseed_close(mr->ws);
		mr->ws = NULL;
	}
	return r;
}

static void release_tally(struct ms_mirrors *mr)
{
	for (int i = 0; mr->st && i < mr->n; i++) {
		free((char *)mr->st[i].url);
		free((char *)mr->st[i].last_error);
	}
	free(mr->st);
	mr->st = NULL;
	mr->n = 0;
}

/* the figures as they are now, kept for after the module closes */
static void tally(struct ms_mirrors *mr)
{
	int n = ms_webseed_count(mr->ws);

	release_tally(mr);
	mr->st = calloc((size_t)n + 1, sizeof(*mr->st));
	if (!mr->st)
		return;
	for (int i = 0; i < n; i++) {
		ms_webseed_stat(mr->ws, i, &mr->st[i]);
		mr->st[i].url = strdup(mr->st[i].url);
		mr->st[i].last_error = strdup(mr->st[i].last_error);
		if (!mr->st[i].url || !mr->st[i].last_error)
			break;
		mr->n = i + 1;
	}
	mr->bytes = ms_webseed_bytes(mr->ws);
}

int64_t ms_mirrors_bytes(const struct ms_mirrors *mr)
{
	return mr->ws ? ms_webseed_bytes(mr->ws) : mr->bytes;
}

int ms_mirrors_active(const struct ms_mirrors *mr)
{
	int n = 0;

	for (int i = 0; i < ms_webseed_count(mr->ws); i++) {
		struct ms_mirror_stat st;
		ms_webseed_stat(mr->ws, i, &st);
		n += st.active > 0;
	}
	return n;
}

int ms_mirrors_sources(const struct ms_mirrors *mr, struct ms_progress_source *out,
		    int max)
{
	int n = ms_webseed_count(mr->ws);

	for (int i = 0; i < n && i < max; i++) {
		struct ms_mirror_stat st;
		ms_webseed_stat(mr->ws, i, &st);
		out[i].name = st.url;
		out[i].bytes = st.bytes;
	}
	return n < max ? n : max;
}

void ms_mirrors_stop(struct ms_mirrors *mr)
{
	mr->stopped = 1;
	if (!mr->ws)
		return;
	tally(mr);
	ms_webseed_close(mr->ws);
	mr->ws = NULL;
}

const struct ms_mirror_stat *ms_mirrors_stats(const struct ms_mirrors *mr, int *n)
{
	*n = mr->n;
	return mr->st;
}

json_t *ms_mirrors_json(const struct ms_mirrors *mr)
{
	json_t *a = json_array();
	int n = mr->ws ? ms_webseed_count(mr->ws) : mr->n;

	for (int i = 0; a && i < n; i++) {
		struct ms_mirror_stat live;
		const struct ms_mirror_stat *s = &live;
		if (mr->ws)
			ms_webseed_stat(mr->ws, i, &live);
		else
			s = &mr->st[i];
		json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:i, s:s}",
			"url", s->url, "bytes", (json_int_t)s->bytes,
			"bad_bytes", (json_int_t)s->bad_bytes,
			"files_skipped", s->files_skipped,
			"last_error", s->last_error));
	}
	return a;
}

void ms_mirrors_release(struct ms_mirrors *mr)
{
	if (mr->ws)
		ms_mirrors_stop(mr);
	release_tally(mr);
}
