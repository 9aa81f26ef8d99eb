/*
 * Terminal progress: on a terminal, a live multi-line display (total bar,
 * rate, ETA, peers, bytes from peers vs webseeds, per-file bars), every
 * line fitted to the terminal's width (shortened, then fields dropped)
 * and drawn again at the new width when the terminal is resized;
 * otherwise a plain line every few seconds.
 */
#ifndef MS_PROGRESS_H
#define MS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

struct ms_progress_file {
	const char *name;
	int64_t size;
	int64_t done;
};

/* bytes from one HTTP mirror */
struct ms_progress_source {
	const char *name;
	int64_t bytes;
};

struct ms_progress_snap {
	const char *phase;        /* "downloading", "checking", ... */
	const char *title;        /* torrent name */
	int64_t total;
	int64_t done;
	double rate;              /* bytes/s; < 0: measure from done */
	int peers, seeds, webseeds;
	int64_t from_peers, from_webseeds;
	int hash_failures;
	const struct ms_progress_file *files;
	int n_files;
	const struct ms_progress_source *mirrors;
	int n_mirrors;
};

#define MS_PROGRESS_FILES 6      /* file bars shown at most */
#define MS_PROGRESS_MIRRORS 4    /* mirror lines shown at most */
#define MS_PROGRESS_LINES (2 + MS_PROGRESS_MIRRORS + MS_PROGRESS_FILES + 1)

/* what the live display shows, width aside: kept to draw it again when
 * the terminal is resized */
struct ms_progress_view {
	char phase[32], title[128];
	char done[32], total[32], rate[32], eta[32], from_peers[32], from_webseeds[32];
	double frac;
	int peers, seeds, webseeds, hash_failures;
	int n_mirrors;
	char mirror[MS_PROGRESS_MIRRORS][128], mirror_bytes[MS_PROGRESS_MIRRORS][32];
	int n_files, more_files;
	char file[MS_PROGRESS_FILES][128];  /* the end of the name */
	double file_frac[MS_PROGRESS_FILES];
};

struct uv_loop_s;
struct uv_signal_s;

struct ms_progress {
	FILE *out;
	int tty;
	int lines;            /* lines drawn last time (tty) */
	int cols[MS_PROGRESS_LINES]; /* and how wide each was */
	int width;            /* the terminal's width then */
	struct ms_progress_view view;
	double interval;      /* seconds between plain lines */
	double last;          /* time of the last plain line */
	/* recent (time, done) samples for the measured rate */
	double sample_t[16];
	int64_t sample_done[16];
	int n_samples;
	struct uv_signal_s *winch;   /* ms_progress_watch() */
};

void ms_progress_init(struct ms_progress *p, FILE *out);
void ms_progress_update(struct ms_progress *p, const struct ms_progress_snap *s);
/* Erase the live display (tty) so that final messages start clean. */
void ms_progress_clear(struct ms_progress *p);
/* Draw the live display again at the terminal's width now (nothing if it
 * is not shown). */
void ms_progress_redraw(struct ms_progress *p);
/* On a terminal: redraw on SIGWINCH, on loop (the handle does not keep the
 * loop alive). ms_progress_unwatch() closes the handle; the loop must run
 * once more before uv_loop_close(). */
int ms_progress_watch(struct ms_progress *p, struct uv_loop_s *loop);
void ms_progress_unwatch(struct ms_progress *p);

#endif
