/*
 * Terminal progress: on a terminal, a live multi-line display (total bar,
 * rate, ETA, peers, bytes from peers vs webseeds, per-file bars); otherwise
 * a plain line every few seconds.
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

struct ms_progress {
	FILE *out;
	int tty;
	int lines;            /* lines drawn last time (tty) */
	double interval;      /* seconds between plain lines */
	double last;          /* time of the last plain line */
	/* recent (time, done) samples for the measured rate */
	double sample_t[16];
	int64_t sample_done[16];
	int n_samples;
};

void ms_progress_init(struct ms_progress *p, FILE *out);
void ms_progress_update(struct ms_progress *p, const struct ms_progress_snap *s);
/* Erase the live display (tty) so that final messages start clean. */
void ms_progress_clear(struct ms_progress *p);

#endif
