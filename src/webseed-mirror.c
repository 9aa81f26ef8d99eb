/* webseed-mirror.c: the web seeds' options, a mirror's failures and
 * backoff, what is said about them, and where a file is on a mirror */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webseed-int.h"

void ms_webseed_opts_init(struct ms_webseed_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = MS_WEBSEEDS_FALLBACK;
	o->fallback_rate = 1 << 20;
	o->fallback_delay_ms = 5000;
	o->conns = 4;
	o->request_bytes = 16 << 20;
	o->stall_s = 20;
}

int ms_webseed_mode_parse(const char *s)
{
	if (!strcmp(s, "fallback"))
		return MS_WEBSEEDS_FALLBACK;
	if (!strcmp(s, "always"))
		return MS_WEBSEEDS_ALWAYS;
	if (!strcmp(s, "never"))
		return MS_WEBSEEDS_NEVER;
	return -1;
}

void ms__ws_event(struct ms_webseed *w, struct mirror *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m)
		snprintf(m->last_error, sizeof(m->last_error), "%s", msg);
	if (w->o.on_event)
		w->o.on_event(w->o.ud, m ? m->url : "", msg);
}

uint64_t ms__ws_now_ms(struct ms_webseed *w)
{
	return uv_now(w->loop);
}

int64_t ms__ws_piece_off(const struct ms_webseed *w, int p)
{
	return (int64_t)p * w->plen;
}

int64_t ms__ws_piece_size(const struct ms_webseed *w, int p)
{
	int64_t end = ms__ws_piece_off(w, p) + w->plen;

	return (end > w->total ? w->total : end) - ms__ws_piece_off(w, p);
}

void ms__ws_backoff(struct ms_webseed *w, struct mirror *m, long secs)
{
	if (secs <= 0) {
		secs = 1L << (m->fails < 6 ? m->fails : 6);
		if (secs > MAX_BACKOFF_S)
			secs = MAX_BACKOFF_S;
	}
	if (secs > MAX_RETRY_AFTER_S)
		secs = MAX_RETRY_AFTER_S;
	m->retry_at = ms__ws_now_ms(w) + (uint64_t)secs * 1000;
}

int ms__ws_mirror_left(const struct ms_webseed *w, int f)
{
	for (int i = 0; i < w->nm; i++)
		if (w->m[i].fstate[f] == MF_OK)
			return 1;
	return 0;
}

/* say so when no mirror is left for file f */
void ms__ws_none_left(struct ms_webseed *w, int f)
{
	if (ms__ws_mirror_left(w, f))
		return;
	ms__ws_event(w, NULL, "no mirror left for '%s': only peers can finish it", w->files[f].path);
	if (w->o.on_exhausted)
		w->o.on_exhausted(w->o.ud, f);
}

/* a transfer of file f from mirror m failed (status, not 0): a 404 skips
 * the mirror for that file, a 429/503 waits for its Retry-After, anything
 * else backs off */
void ms__ws_mirror_failed(struct ms_webseed *w, struct mirror *m, int f, int status,
			  long retry_after, const char *msg)
{
	if (status == MS_ENOENT || status == MS_EPATH) {
		m->fstate[f] = MF_MISSING;
		m->skipped++;
		ms__ws_event(w, m, "%s for '%s': not using it for that file", msg,
		      w->files[f].path);
	} else if (status == MS_EAGAIN) {
		ms__ws_backoff(w, m, retry_after > 0 ? retry_after : 0);
		m->fails++;
		ms__ws_event(w, m, "%s: backing off %llu s", msg,
		      (unsigned long long)((m->retry_at - ms__ws_now_ms(w)) / 1000));
	} else {
		m->fails++;
		ms__ws_backoff(w, m, 0);
		ms__ws_event(w, m, "'%s': %s", w->files[f].path, msg);
	}
}

/* where mirror m has file t (index f): the redirect target that last
 * answered, the mirror's own URL (a single file), or base + path; malloc'd */
char *ms__ws_file_url(const struct mirror *m, const struct tfile *t, int f)
{
	char *url;

	if (m->furl[f])
		return strdup(m->furl[f]);
	if (m->direct)
		return strdup(m->url);
	if ((url = malloc(strlen(m->url) + strlen(t->path) + 1)))
		sprintf(url, "%s%s", m->url, t->path);
	return url;
}

