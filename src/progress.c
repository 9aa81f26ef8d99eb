/* progress.c: live progress on a terminal, plain lines elsewhere.
 *
 * On a terminal every line is fitted to the width (one column spare, so
 * that no line wraps): brief forms first, then fields left out, as each
 * line's steps say. To draw again the cursor goes up over the last frame;
 * after a terminal narrowed, the rows that frame takes now are counted as
 * a reflowing terminal (tmux, VTE, kitty) wraps its lines. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "modelswarm.h"
#include "ms_progress.h"
#include "ms_util.h"

#define LINE_BYTES 1024
#define BAR_MIN 10
#define BAR_MAX 50
#define TITLE_MAX 40     /* columns of the torrent's name, at most */
#define TITLE_BRIEF 16   /* and when room is short */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ms_progress_init(struct ms_progress *p, FILE *out)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->tty = isatty(fileno(out));
	p->interval = 2.0;
	p->last = 0;
}

/* columns and rows of the terminal (rows 0: unknown) */
static void term_size(const struct ms_progress *p, int *cols, int *rows)
{
	struct winsize ws;

	*cols = 80;
	*rows = 0;
	if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0) {
		if (ws.ws_col > 0)
			*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

/* columns UTF-8 text takes: one a character */
static int text_cols(const char *s)
{
	int n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* the byte where character k of s starts (or its end) */
static const char *skip_chars(const char *s, int k)
{
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80 && k-- == 0)
			break;
	return s;
}

/* cut s to at most cols columns */
static void cut_cols(char *s, int cols)
{
	*(char *)skip_chars(s, cols < 0 ? 0 : cols) = '\0';
}

/* src in dst, shown in at most cols columns: a longer one keeps its end,
 * with "..." in front */
static void fit_tail(char *dst, size_t len, const char *src, int cols)
{
	int have = text_cols(src);

	if (have <= cols)
		snprintf(dst, len, "%s", src);
	else if (cols < 4)
		snprintf(dst, len, "%s", skip_chars(src, have - (cols > 0 ? cols : 0)));
	else
		snprintf(dst, len, "...%s", skip_chars(src, have - cols + 3));
}

/* a name kept for the display: its end (at a character's start) if it
 * is longer than dst, control bytes as '?' */
static void keep_name(char *dst, size_t len, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (!src)
		src = "";
	if (n >= len) {
		src += n - (len - 1);
		while (((unsigned char)*src & 0xC0) == 0x80)
			src++;
	}
	snprintf(dst, len, "%s", src);
	for (char *c = dst; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

static void bar(char *buf, int width, double frac)
{
	int fill;

	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * width + 0.5);
	for (int i = 0; i < width; i++)
		buf[i] = i < fill ? '#' : '-';
	buf[width] = '\0';
}

static void fmt_eta(char *buf, size_t len, const struct ms_progress_snap *s)
{
	double left;
	long t;

	if (s->done >= s->total) {
		snprintf(buf, len, "0:00");
		return;
	}
	if (s->rate < 1) {
		snprintf(buf, len, "--:--");
		return;
	}
	left = (double)(s->total - s->done) / s->rate;
	t = left > 359999 ? 359999 : (long)left;
	if (t >= 3600)
		snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* ---- fitting a line -------------------------------------------------- */

enum { FULL, BRIEF, OUT };

/* a field of a line */
struct seg {
	const char *sep;     /* before it, unless it comes first */
	char full[160];
	char brief[160];     /* "": none */
	int bar;             /* a bar, as wide as there is room for */
	double frac;
	int mode;
};

/* what to do next when a line is too wide: seg goes to mode (with_next:
 * and the next step is taken too) */
struct step {
	int seg, mode, with_next;
};

static const char *seg_text(const struct seg *s)
{
	return s->mode == BRIEF && *s->brief ? s->brief : s->full;
}

/* columns the line takes without its bar's dashes */
static int line_cols(const struct seg *seg, int n, int *bars)
{
	int cols = 0, first = 1;

	*bars = 0;
	for (int i = 0; i < n; i++) {
		if (seg[i].mode == OUT)
			continue;
		if (!first)
			cols += text_cols(seg[i].sep);
		first = 0;
		if (seg[i].bar) {
			cols += 2;
			(*bars)++;
		} else {
			cols += text_cols(seg_text(&seg[i]));
		}
	}
	return cols;
}

/* the segments laid out in out, in at most cols columns: brief forms and
 * fewer fields as the steps say, until the line fits */
static void fit_line(char *out, struct seg *seg, int n, const struct step *steps, int n_steps,
		     int cols)
{
	int k = 0, room, bars, first = 1;
	size_t o = 0;

	for (;;) {
		room = cols - line_cols(seg, n, &bars);
		if ((bars ? room >= BAR_MIN : room >= 0) || k == n_steps)
			break;
		do {
			if (seg[steps[k].seg].mode != OUT)
				seg[steps[k].seg].mode = steps[k].mode;
		} while (steps[k++].with_next && k < n_steps);
	}
	room = room > BAR_MAX ? BAR_MAX : room < 1 ? 1 : room;
	out[0] = '\0';
	for (int i = 0; i < n && o < LINE_BYTES; i++) {
		char b[BAR_MAX + 1];
		if (seg[i].mode == OUT)
			continue;
		if (seg[i].bar)
			bar(b, room, seg[i].frac);
		o += (size_t)snprintf(out + o, LINE_BYTES - o, seg[i].bar ? "%s[%s]" : "%s%s",
				      first ? "" : seg[i].sep, seg[i].bar ? b : seg_text(&seg[i]));
		first = 0;
	}
	cut_cols(out, cols);
}

/* "downloading acme/tiny  [####------]  45.0%  45.0 MiB / 100.0 MiB" */
static void line_status(char *out, const struct ms_progress_view *v, int cols)
{
	enum { PHASE, TITLE, BAR, PCT, SIZES, N };
	static const struct step steps[] = {
		{ TITLE, BRIEF, 0 }, { TITLE, OUT, 0 }, { SIZES, BRIEF, 0 }, { BAR, OUT, 0 },
	};
	struct seg seg[N];

	memset(seg, 0, sizeof(seg));
	snprintf(seg[PHASE].full, sizeof(seg[PHASE].full), "%s", v->phase);
	seg[TITLE].sep = " ";
	fit_tail(seg[TITLE].full, sizeof(seg[TITLE].full), v->title, TITLE_MAX);
	if (text_cols(v->title) > TITLE_BRIEF)
		fit_tail(seg[TITLE].brief, sizeof(seg[TITLE].brief), v->title, TITLE_BRIEF);
	seg[BAR].sep = "  ";
	seg[BAR].bar = 1;
	seg[BAR].frac = v->frac;
	seg[PCT].sep = " ";
	snprintf(seg[PCT].full, sizeof(seg[PCT].full), "%5.1f%%", 100.0 * v->frac);
	seg[SIZES].sep = "  ";
	snprintf(seg[SIZES].full, sizeof(seg[SIZES].full), "%s / %s", v->done, v->total);
	snprintf(seg[SIZES].brief, sizeof(seg[SIZES].brief), "%s", v->done);
	fit_line(out, seg, N, steps, (int)(sizeof(steps) / sizeof(*steps)), cols);
}

/* "  1.2 MiB/s  ETA 0:45  peers 3 (1 seeds)  webseeds 0  from peers ..." */
static void line_rates(char *out, const struct ms_progress_view *v, int cols)
{
	enum { RATE, ETA, PEERS, WEBSEEDS, FROM_PEERS, FROM_WEB, HASH, N };
	static const struct step steps[] = {
		{ PEERS, BRIEF, 0 },      { WEBSEEDS, OUT, 0 },  { FROM_PEERS, BRIEF, 1 },
		{ FROM_WEB, BRIEF, 0 },   { HASH, BRIEF, 0 },    { FROM_WEB, OUT, 0 },
		{ FROM_PEERS, OUT, 0 },   { PEERS, OUT, 0 },     { HASH, OUT, 0 },
		{ ETA, OUT, 0 },
	};
	struct seg seg[N];

	memset(seg, 0, sizeof(seg));
	snprintf(seg[RATE].full, sizeof(seg[RATE].full), "  %s/s", v->rate);
	for (int i = ETA; i < N; i++)
		seg[i].sep = "  ";
	snprintf(seg[ETA].full, sizeof(seg[ETA].full), "ETA %s", v->eta);
	snprintf(seg[PEERS].full, sizeof(seg[PEERS].full), "peers %d (%d seeds)", v->peers,
		 v->seeds);
	snprintf(seg[PEERS].brief, sizeof(seg[PEERS].brief), "peers %d", v->peers);
	snprintf(seg[WEBSEEDS].full, sizeof(seg[WEBSEEDS].full), "webseeds %d", v->webseeds);
	snprintf(seg[FROM_PEERS].full, sizeof(seg[FROM_PEERS].full), "from peers %s",
		 v->from_peers);
	snprintf(seg[FROM_PEERS].brief, sizeof(seg[FROM_PEERS].brief), "p2p %s", v->from_peers);
	snprintf(seg[FROM_WEB].full, sizeof(seg[FROM_WEB].full), "from webseeds %s",
		 v->from_webseeds);
	snprintf(seg[FROM_WEB].brief, sizeof(seg[FROM_WEB].brief), "http %s", v->from_webseeds);
	snprintf(seg[HASH].full, sizeof(seg[HASH].full), "hash failures %d", v->hash_failures);
	snprintf(seg[HASH].brief, sizeof(seg[HASH].brief), "bad %d", v->hash_failures);
	if (!v->hash_failures)
		seg[HASH].mode = OUT;
	fit_line(out, seg, N, steps, (int)(sizeof(steps) / sizeof(*steps)), cols);
}

/* "    mirror NAME  12.0 MiB" */
static void line_mirror(char *out, const struct ms_progress_view *v, int i, int cols)
{
	char name[160];
	int room = cols - 13 - text_cols(v->mirror_bytes[i]);

	fit_tail(name, sizeof(name), v->mirror[i], room < 4 ? 4 : room);
	snprintf(out, LINE_BYTES, "    mirror %s  %s", name, v->mirror_bytes[i]);
	cut_cols(out, cols);
}

/* "    NAME    [####----]  45.0%", names padded to name_cols */
static void line_file(char *out, const struct ms_progress_view *v, int i, int cols,
		      int name_cols, int bar_cols)
{
	char name[160], b[BAR_MAX + 1];
	int pad;

	fit_tail(name, sizeof(name), v->file[i], name_cols);
	pad = name_cols - text_cols(name);
	if (bar_cols) {
		bar(b, bar_cols, v->file_frac[i]);
		snprintf(out, LINE_BYTES, "    %s%*s [%s] %5.1f%%", name, pad > 0 ? pad : 0, "", b,
			 100.0 * v->file_frac[i]);
	} else {
		snprintf(out, LINE_BYTES, "    %s%*s %5.1f%%", name, pad > 0 ? pad : 0, "",
			 100.0 * v->file_frac[i]);
	}
	cut_cols(out, cols);
}

/* the rows the last frame takes at width now: a reflowing terminal
 * wrapped the lines that were wider */
static int frame_rows(const struct ms_progress *p, int width)
{
	int rows = 0;

	for (int i = 0; i < p->lines; i++)
		rows += width < p->width && p->cols[i] > width ? (p->cols[i] + width - 1) / width
							      : 1;
	return rows;
}

static void draw(struct ms_progress *p)
{
	const struct ms_progress_view *v = &p->view;
	char text[MS_PROGRESS_LINES][LINE_BYTES];
	int width, rows, cols, room, n = 0, up, shown, more, left, name_cols = 0, bar_cols;

	term_size(p, &width, &rows);
	cols = width - 1 < 10 ? 10 : width - 1;
	/* lines there is room for under the cursor's way up */
	room = rows > 3 ? rows - 1 : MS_PROGRESS_LINES;
	line_status(text[n++], v, cols);
	line_rates(text[n++], v, cols);
	for (int i = 0; i < v->n_mirrors && n < room; i++)
		line_mirror(text[n++], v, i, cols);
	shown = v->n_files;
	more = v->more_files;
	left = room - n;
	if (shown + (more > 0) > left) {
		shown = left > 1 ? left - 1 : 0;
		more += v->n_files - shown;
	}
	/* names, then a bar a fifth of the width, then the percentage */
	bar_cols = cols / 5 > 25 ? 25 : cols / 5;
	if (cols - 4 - 1 - (bar_cols + 2) - 1 - 6 < 12)
		bar_cols = 0;
	for (int i = 0; i < shown; i++)
		if (text_cols(v->file[i]) > name_cols)
			name_cols = text_cols(v->file[i]);
	left = cols - 4 - 1 - 6 - (bar_cols ? bar_cols + 3 : 0);
	if (name_cols > left)
		name_cols = left;
	for (int i = 0; i < shown; i++)
		line_file(text[n++], v, i, cols, name_cols, bar_cols);
	if (more && n < room) {
		snprintf(text[n], LINE_BYTES, "    (%d more files)", more);
		cut_cols(text[n++], cols);
	}
	up = frame_rows(p, width);
	if (up)
		fprintf(p->out, "\r\033[%dA", up);
	for (int i = 0; i < n; i++) {
		fprintf(p->out, "\r\033[K%s\n", text[i]);
		p->cols[i] = text_cols(text[i]);
	}
	/* erase leftovers of a longer previous frame */
	fprintf(p->out, "\033[J");
	p->lines = n;
	p->width = width;
	fflush(p->out);
}

void ms_progress_clear(struct ms_progress *p)
{
	int width, rows;

	if (!p->tty || !p->lines)
		return;
	term_size(p, &width, &rows);
	fprintf(p->out, "\r\033[%dA\033[J", frame_rows(p, width));
	p->lines = 0;
	fflush(p->out);
}

void ms_progress_redraw(struct ms_progress *p)
{
	if (p->tty && p->lines)
		draw(p);
}

/* the rate over the last few seconds of updates */
static double measure_rate(struct ms_progress *p, int64_t done)
{
	double t = now_s();
	int n = p->n_samples;

	if (n && done < p->sample_done[n - 1])
		n = 0; /* went backwards (recheck): start over */
	if (n == 16) {
		memmove(p->sample_t, p->sample_t + 1, 15 * sizeof(double));
		memmove(p->sample_done, p->sample_done + 1, 15 * sizeof(int64_t));
		n--;
	}
	p->sample_t[n] = t;
	p->sample_done[n] = done;
	p->n_samples = ++n;
	for (int i = 0; i < n - 1; i++) {
		if (t - p->sample_t[i] <= 4.0) {
			double dt = t - p->sample_t[i];
			return dt > 0.2 ? (double)(done - p->sample_done[i]) / dt : 0;
		}
	}
	return 0;
}

/* what the display shows of s, kept for a redraw */
static void take_view(struct ms_progress_view *v, const struct ms_progress_snap *s)
{
	memset(v, 0, sizeof(*v));
	keep_name(v->phase, sizeof(v->phase), s->phase);
	keep_name(v->title, sizeof(v->title), s->title);
	v->frac = s->total > 0 ? (double)s->done / (double)s->total : 1.0;
	ms_fmt_bytes(v->done, sizeof(v->done), (double)s->done);
	ms_fmt_bytes(v->total, sizeof(v->total), (double)s->total);
	ms_fmt_bytes(v->rate, sizeof(v->rate), s->rate);
	ms_fmt_bytes(v->from_peers, sizeof(v->from_peers), (double)s->from_peers);
	ms_fmt_bytes(v->from_webseeds, sizeof(v->from_webseeds), (double)s->from_webseeds);
	fmt_eta(v->eta, sizeof(v->eta), s);
	v->peers = s->peers;
	v->seeds = s->seeds;
	v->webseeds = s->webseeds;
	v->hash_failures = s->hash_failures;
	for (int i = 0; i < s->n_mirrors && v->n_mirrors < MS_PROGRESS_MIRRORS; i++) {
		keep_name(v->mirror[v->n_mirrors], sizeof(v->mirror[0]), s->mirrors[i].name);
		ms_fmt_bytes(v->mirror_bytes[v->n_mirrors], sizeof(v->mirror_bytes[0]),
			     (double)s->mirrors[i].bytes);
		v->n_mirrors++;
	}
	for (int i = 0; i < s->n_files; i++) {
		const struct ms_progress_file *f = &s->files[i];
		if (f->done >= f->size)
			continue;
		if (v->n_files == MS_PROGRESS_FILES) {
			v->more_files++;
			continue;
		}
		keep_name(v->file[v->n_files], sizeof(v->file[0]), f->name);
		v->file_frac[v->n_files] = f->size ? (double)f->done / (double)f->size : 1.0;
		v->n_files++;
	}
}

static void plain_line(struct ms_progress *p, const struct ms_progress_snap *s)
{
	double frac = s->total > 0 ? (double)s->done / (double)s->total : 1.0;
	double t = now_s();
	char rate[32], eta[32];

	if (p->last && t - p->last < p->interval)
		return;
	p->last = t;
	ms_fmt_bytes(rate, sizeof(rate), s->rate);
	fmt_eta(eta, sizeof(eta), s);
	fprintf(p->out,
		"%s: %.1f%% %lld/%lld bytes, %s/s, eta %s, peers %d, "
		"webseeds %d, from peers %lld, from webseeds %lld",
		s->phase, 100.0 * frac, (long long)s->done, (long long)s->total, rate, eta,
		s->peers, s->webseeds, (long long)s->from_peers, (long long)s->from_webseeds);
	for (int i = 0; i < s->n_mirrors; i++)
		fprintf(p->out, "%s%s %lld", i ? ", " : " (", s->mirrors[i].name,
			(long long)s->mirrors[i].bytes);
	fputs(s->n_mirrors ? ")\n" : "\n", p->out);
	fflush(p->out);
}

void ms_progress_update(struct ms_progress *p, const struct ms_progress_snap *in)
{
	struct ms_progress_snap snap = *in;

	if (snap.rate < 0)
		snap.rate = measure_rate(p, snap.done);
	if (!p->tty) {
		plain_line(p, &snap);
		return;
	}
	take_view(&p->view, &snap);
	draw(p);
}

/* ---- resizes ---------------------------------------------------------- */

static void on_winch(uv_signal_t *h, int signum)
{
	(void)signum;
	ms_progress_redraw(h->data);
}

static void winch_closed(uv_handle_t *h)
{
	free(h);
}

int ms_progress_watch(struct ms_progress *p, uv_loop_t *loop)
{
	uv_signal_t *h;

	if (!p->tty || p->winch)
		return 0;
	if (!(h = malloc(sizeof(*h))))
		return MS_ENOMEM;
	if (uv_signal_init(loop, h)) {
		free(h);
		return MS_EIO;
	}
	h->data = p;
	if (uv_signal_start(h, on_winch, SIGWINCH)) {
		uv_close((uv_handle_t *)h, winch_closed);
		return MS_EIO;
	}
	uv_unref((uv_handle_t *)h);
	p->winch = h;
	return 0;
}

void ms_progress_unwatch(struct ms_progress *p)
{
	if (!p->winch)
		return;
	uv_close((uv_handle_t *)p->winch, winch_closed);
	p->winch = NULL;
}
