/* progress.c: live progress on a terminal, plain lines elsewhere */
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ms_progress.h"
#include "ms_util.h"

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

static int term_width(struct ms_progress *p)
{
	struct winsize ws;

	if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 80;
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

void ms_progress_clear(struct ms_progress *p)
{
	if (!p->tty || !p->lines)
		return;
	fprintf(p->out, "\r\033[%dA\033[J", p->lines);
	p->lines = 0;
	fflush(p->out);
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

void ms_progress_update(struct ms_progress *p, const struct ms_progress_snap *in)
{
	struct ms_progress_snap snap = *in;
	const struct ms_progress_snap *s = &snap;

	if (snap.rate < 0)
		snap.rate = measure_rate(p, snap.done);

	char done[32], total[32], rate[32], fp[32], fw[32], eta[32];

	double frac = s->total > 0 ? (double)s->done / (double)s->total : 1.0;

	ms_fmt_bytes(done, sizeof(done), (double)s->done);
	ms_fmt_bytes(total, sizeof(total), (double)s->total);
	ms_fmt_bytes(rate, sizeof(rate), s->rate);
	ms_fmt_bytes(fp, sizeof(fp), (double)s->from_peers);
	ms_fmt_bytes(fw, sizeof(fw), (double)s->from_webseeds);
	fmt_eta(eta, sizeof(eta), s);

	if (!p->tty) {
		double t = now_s();
		if (p->last && t - p->last < p->interval)
			return;
		p->last = t;
		fprintf(p->out,
			"%s: %.1f%% %lld/%lld bytes, %s/s, eta %s, peers %d, "
			"webseeds %d, from peers %lld, from webseeds %lld",
			s->phase, 100.0 * frac, (long long)s->done,
			(long long)s->total, rate, eta, s->peers, s->webseeds,
			(long long)s->from_peers, (long long)s->from_webseeds);
		for (int i = 0; i < s->n_mirrors; i++)
			fprintf(p->out, "%s%s %lld", i ? ", " : " (", s->mirrors[i].name,
				(long long)s->mirrors[i].bytes);
		fputs(s->n_mirrors ? ")\n" : "\n", p->out);
		fflush(p->out);
		return;
	}

	int width = term_width(p), lines = 0, shown = 0, pending = 0;
	char b[256];
	int bw = width - 60;

	if (bw < 10)
		bw = 10;
	if (bw > 50)
		bw = 50;
	if (p->lines)
		fprintf(p->out, "\r\033[%dA", p->lines);
	bar(b, bw, frac);
	fprintf(p->out, "\033[K%s %.40s  [%s] %5.1f%%  %s / %s\n", s->phase,
		s->title, b, 100.0 * frac, done, total);
	lines++;
	fprintf(p->out,
		"\033[K  %s/s  ETA %s  peers %d (%d seeds)  webseeds %d  "
		"from peers %s  from webseeds %s",
		rate, eta, s->peers, s->seeds, s->webseeds, fp, fw);
	if (s->hash_failures)
		fprintf(p->out, "  hash failures %d", s->hash_failures);
	fputc('\n', p->out);
	lines++;
	for (int i = 0; i < s->n_mirrors && i < 4; i++) {
		char mb[32];
		ms_fmt_bytes(mb, sizeof(mb), (double)s->mirrors[i].bytes);
		fprintf(p->out, "\033[K    mirror %.*s  %s\n", width > 40 ? width - 30 : 10,
			s->mirrors[i].name, mb);
		lines++;
	}
	for (int i = 0; i < s->n_files; i++) {
		const struct ms_progress_file *f = &s->files[i];
		if (f->done >= f->size)
			continue;
		if (shown >= 6) {
			pending++;
			continue;
		}
		int nw = width - bw - 22;
		double ff = f->size ? (double)f->done / (double)f->size : 1.0;
		const char *name = f->name;
		int len = (int)strlen(name);
		if (nw < 10)
			nw = 10;
		if (len > nw)
			name += len - nw;
		bar(b, bw / 2, ff);
		fprintf(p->out, "\033[K    %-*s [%s] %5.1f%%\n", nw, name, b,
			100.0 * ff);
		lines++;
		shown++;
	}
	if (pending) {
		fprintf(p->out, "\033[K    (%d more files)\n", pending);
		lines++;
	}
	/* erase leftovers of a longer previous frame */
	fprintf(p->out, "\033[J");
	p->lines = lines;
	fflush(p->out);
}
