/*
 * HTTP mirrors (web seeds) of one torrent on the engine (mirrors.c): the
 * URLs given for the download, then the torrent's or manifest's, then the
 * config's; the mode (fallback, always, never) and the limits of the
 * config. A thin owner of an ms_webseed that keeps its figures after it
 * stopped.
 */
#ifndef MS_MIRRORS_H
#define MS_MIRRORS_H

#include <jansson.h>
#include <uv.h>

#include "ms_config.h"
#include "ms_engine.h"
#include "ms_progress.h"
#include "ms_config.h"
#include "ms_util.h"
#include "ms_webseed.h"


struct ms_mirrors {
	struct ms_webseed *ws;
	int mode;              /* enum ms_webseed_mode in force */
	int stopped;
	/* what a mirror reports (a failure, a demotion), on the loop */
	void (*on_event)(void *ud, const char *mirror, const char *msg);
	/* a file fetched whole (ms_webseed_direct()), on the loop */
	void (*on_file)(void *ud, int file, int error);
	/* no mirror is left for a file, on the loop */
	void (*on_exhausted)(void *ud, int file);
	void *ud;
	/* figures kept by ms_mirrors_stop() */
	struct ms_mirror_stat *st;
	int n;
	int64_t bytes;
};
/* Start the mirrors of torrent id: mo's URLs, then extra (the torrent's
 * or manifest's), then c's. peer_sources: whether any peer could show up
 * (trackers, --peer, DHT, LSD); without one, fallback mode uses the
 * mirrors at once. Does nothing without mirrors or when already started. */
int ms_mirrors_start(struct ms_mirrors *mr, const struct ms_config *c,
		     const struct ms_mirror_opts *mo, uv_loop_t *loop,
		     struct ms_engine *e, int id, const char *const *extra,
		     size_t n_extra, int peer_sources, struct ms_error *err);
int64_t ms_mirrors_bytes(const struct ms_mirrors *mr);
int ms_mirrors_active(const struct ms_mirrors *mr);
/* bytes per mirror for the progress display (names owned by mr) */
int ms_mirrors_sources(const struct ms_mirrors *mr, struct ms_progress_source *out,
		       int max);
/* Stop every transfer, keeping the figures. */
void ms_mirrors_stop(struct ms_mirrors *mr);
/* The figures kept by ms_mirrors_stop(): *n of them (owned by mr). */
const struct ms_mirror_stat *ms_mirrors_stats(const struct ms_mirrors *mr, int *n);
/* per mirror: url, bytes, bad_bytes, files_skipped, last_error (live while
 * running, else the figures kept by ms_mirrors_stop()) */
json_t *ms_mirrors_json(const struct ms_mirrors *mr);
void ms_mirrors_release(struct ms_mirrors *mr);

#endif
