/* hfapi-stream.c: a file of a release still downloading, sent as its
 * pieces are verified (the endpoint's resolve/ for such a file) */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hfapi-int.h"

/* pieces asked for ahead of the reader: about this many bytes */
#define AHEAD_BYTES (32 << 20)
#define AHEAD_MAX 64
/* a sleeping reader looks again this often, woken or not */
#define LOOK_MS 1000

struct hf_stream {
	struct ms_httpd *h;
	struct ms_engine *eng;
	int tid;                  /* 0 once the torrent left the session */
	int file;                 /* in the torrent */
	int watching;
	int reading;              /* counted among the file's readers */
	int64_t base, size;       /* the file: its span of the torrent */
	int64_t from;             /* the first byte sent (a range) */
	int plen, npieces;
	int whole;                /* only its blob is to be trusted */
	char part[PATH_MAX];      /* blobs/<etag>.incomplete */
	char blob[PATH_MAX];      /* blobs/<etag>: verified whole */
	int fd;
	int final;                /* fd is the blob */
	int64_t ok_to;            /* bytes [0, ok_to) of the file are verified */
	int want;                 /* the piece waited for, -1: none */
	int asked_to;             /* pieces before it have a deadline */
	unsigned char *states;    /* one per piece: LTS_PIECE_* */
	int synced;               /* states read from libtorrent once */
	double idle_since;        /* monotonic s: no byte sent since */
	unsigned stall_s;         /* give up after this long without a byte */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* no longer among the file's readers (its pieces are then no longer
 * kept in memory for it) */
static void stop_reading(struct hf_stream *s)
{
	if (s->reading && s->tid)
		ms_engine_file_readers(s->eng, s->tid, s->file, -1, NULL);
	s->reading = 0;
}

/* the torrent's alerts: a piece came, or the files moved on */
static void on_alert(void *ud, const struct lts_alert *a)
{
	struct hf_stream *s = ud;

	if (!a || a->type == LTS_ALERT_TORRENT_REMOVED) {
		/* the engine closed, or the torrent is gone (the job added
		 * it again, or the repo was removed): from the blob only */
		s->watching = 0;
		s->reading = 0;
		s->tid = 0;
		ms_httpd_wake(s->h, s);
		return;
	}
	/* a piece that passed its check: had from now on (look() reads the
	 * states it keeps this way, without asking libtorrent's thread) */
	if (a->type == LTS_ALERT_PIECE_FINISHED && a->piece >= 0 && a->piece < s->npieces)
		s->states[a->piece] = LTS_PIECE_HAVE;
	if ((a->type == LTS_ALERT_PIECE_FINISHED && a->piece == s->want) ||
	    a->type == LTS_ALERT_FILE_RENAMED || a->type == LTS_ALERT_TORRENT_FINISHED)
		ms_httpd_wake(s->h, s);
}

static void stream_done(void *ud)
{
	struct hf_stream *s = ud;

	stop_reading(s);
	if (s->watching)
		ms_engine_unwatch(s->eng, s->tid, on_alert, s);
	if (s->fd >= 0)
		close(s->fd);
	free(s->states);
	free(s);
}

/* the blob, once it is there: verified whole (it gets its name only then) */
static int try_blob(struct hf_stream *s)
{
	struct stat st;
	int fd = open(s->blob, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size != s->size) {
		close(fd);
		return 0;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	s->final = 1;
	s->ok_to = s->size;
	stop_reading(s);
	return 1;
}

/* the verified pieces from the one at off on: ok_to moves past them.
 * The states come from libtorrent the first time and when asked (sync:
 * three calls into its thread, which made a reader fall behind a busy
 * download when made at every piece), else from the alerts since. */
static void look(struct hf_stream *s, int64_t off, int sync)
{
	int64_t at = s->base + off;
	int p, n = s->npieces;

	if (s->whole || !s->tid)
		return;
	if (sync || !s->synced) {
		if (ms_engine_piece_states(s->eng, s->tid, s->states, s->npieces, NULL) != n)
			return;
		s->synced = 1;
	}
	for (p = (int)(at / s->plen); p < n && s->states[p] == LTS_PIECE_HAVE; p++)
		;
	if ((int64_t)p * s->plen > s->base + s->ok_to) {
		int64_t to = (int64_t)p * s->plen - s->base;
		s->ok_to = to < s->size ? to : s->size;
	}
	s->want = p < n ? p : -1;
}

/* the next pieces first: from the one waited for on, with deadlines that
 * grow with the distance */
static void ask(struct hf_stream *s)
{
	int last = (int)((s->base + s->size - 1) / s->plen);
	int ahead = AHEAD_BYTES / s->plen;

	if (s->want < 0 || !s->tid || s->whole)
		return;
	if (ahead < 2)
		ahead = 2;
	if (ahead > AHEAD_MAX)
		ahead = AHEAD_MAX;
	for (int p = s->want > s->asked_to ? s->want : s->asked_to;
	     p <= last && p < s->want + ahead; p++) {
		if (s->states[p] != LTS_PIECE_HAVE)
			ms_engine_piece_deadline(s->eng, s->tid, p, 100 * (p - s->want), NULL);
		s->asked_to = p + 1;
	}
}

static ssize_t stream_read(void *ud, uint64_t pos, char *buf, size_t max, int timed_out)
{
	struct hf_stream *s = ud;
	int64_t off = s->from + (int64_t)pos;
	ssize_t n;

	if (off >= s->ok_to && !s->final && !try_blob(s))
		look(s, off, timed_out);
	if (off >= s->ok_to) {
		if (now_s() - s->idle_since > s->stall_s)
			return -1;   /* nothing came for too long: cut */
		/* a piece that did not come within a look: ask for the next
		 * ones first. Not before: while the job picks pieces in order
		 * they come anyway, and deadlines then slowed the download
		 * (tools/bench/endpoint.sh: first byte 0.48 s with them from
		 * the start, 0.12 s without) */
		if (timed_out)
			ask(s);
		return 0;
	}
	if (s->fd < 0) {
		s->fd = open(s->part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		/* renamed to its blob meanwhile */
		if (s->fd < 0 && !try_blob(s))
			return -1;
	}
	if ((int64_t)max > s->ok_to - off)
		max = (size_t)(s->ok_to - off);
	/* a piece just verified is still in memory: no disk read */
	if (!s->final && s->tid) {
		int64_t at = s->base + off;
		size_t got = ms_engine_read_recent(s->eng, s->tid, s->file, (int)(at / s->plen),
						   (int)(at % s->plen), buf, max);
		if (got) {
			s->idle_since = now_s();
			return (ssize_t)got;
		}
	}
	do
		n = pread(s->fd, buf, max, off);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;   /* verified bytes that cannot be read: cut */
	s->idle_since = now_s();
	return n;
}

int ms__hf_stream(struct ms_httpd_resp *r, struct ms_httpd *h, struct ms_engine *e,
		  const struct ms_getjob_file *gf, const char *repo_dir, const char *etag,
		  int64_t from, int64_t len, unsigned stall_s)
{
	struct hf_stream *s = calloc(1, sizeof(*s));

	if (!s || !(s->states = calloc((size_t)gf->num_pieces + 1, 1)) || gf->piece_length <= 0) {
		if (s)
			free(s->states);
		free(s);
		return r->err = MS_ENOMEM;
	}
	s->h = h;
	s->eng = e;
	s->tid = gf->id;
	s->file = gf->file;
	s->base = gf->offset;
	s->size = gf->size;
	s->from = from;
	s->plen = gf->piece_length;
	s->npieces = gf->num_pieces;
	s->whole = gf->whole;
	s->fd = -1;
	s->want = -1;
	s->stall_s = stall_s ? stall_s : 1;
	s->idle_since = now_s();
	snprintf(s->part, sizeof(s->part), "%s/blobs/%s.incomplete", repo_dir, etag);
	snprintf(s->blob, sizeof(s->blob), "%s/blobs/%s", repo_dir, etag);
	if (s->tid && !ms_engine_watch(e, s->tid, on_alert, s))
		s->watching = 1;
	else
		s->tid = 0;
	/* its pieces then stay in memory for it once verified */
	if (s->tid && !s->whole && !ms_engine_file_readers(e, s->tid, s->file, 1, NULL))
		s->reading = 1;
	return ms_httpd_resp_stream(r, (uint64_t)len, stream_read, stream_done, s, s, LOOK_MS);
}
