/*
 * Inside the web seed module: what webseed.c (byte ranges, the scheduler,
 * its life), webseed-direct.c (whole files straight to disk) and
 * webseed-mirror.c (a mirror's state and its failures) share. Not a public
 * header: the rest of the tree uses include/ms_webseed.h.
 */
#ifndef MS_WEBSEED_INT_H
#define MS_WEBSEED_INT_H

#include <stdint.h>

#include <openssl/evp.h>

#include "ms_engine.h"
#include "ms_http.h"
#include "ms_util.h"
#include "ms_webseed.h"

#define TICK_MS 250
#define MAX_BACKOFF_S 60
#define MAX_RETRY_AFTER_S 300
/* pieces handed in and not yet verified, at most (bytes) */
#define PENDING_CAP (256LL << 20)
/* a piece handed in that libtorrent still does not list after this long
 * was dropped */
#define DROPPED_MS 5000

enum { MF_OK = 0, MF_MISSING, MF_DEMOTED };           /* a mirror's file */
/* our view of a piece: free to fetch, in a transfer, handed in and not yet
 * verified, have, or part of a file fetched whole */
enum { P_FREE = 0, P_CLAIMED, P_ADDED, P_HAVE, P_DIRECT };
/* a file fetched whole: not that way, may be, taken and waiting for a
 * mirror, in a transfer, done */
enum { D_OFF = 0, D_READY, D_WAIT, D_RUN, D_DONE };
/* a whole file's bytes go to a worker this many at a time, two buffers
 * per transfer */
#define DBUF (2 << 20)
/* O_DIRECT writes: offsets and lengths in these */
#define DALIGN 4096

struct mirror {
	char *url;               /* ends in '/', or is the file itself (a
				    single-file torrent's URL without '/') */
	int direct;
	char *auth;              /* Authorization value for its host, or NULL */
	char host[256];
	char scheme[8];          /* "http" or "https": the token goes over it only */
	int64_t bytes, bad_bytes;
	int running;
	uint64_t retry_at;       /* loop ms */
	int fails;               /* in a row */
	unsigned char *fstate;   /* per file: F_* */
	char **furl;             /* per file: the redirect target that last
				    answered, or NULL */
	int64_t *dsent;          /* per file: bytes sent of its whole-file
				    transfer under way */
	int skipped;
	char last_error[512];
};

struct dfile {
	char *path;              /* NULL: pieces only */
	unsigned char sha[32];
	int state;               /* D_* */
	int prio;                /* its engine priority, given back when it
				    leaves the mirrors */
	int fd;
	int dfd;                 /* the same file opened O_DIRECT, or -1 */
	EVP_MD_CTX *md;
	int64_t hashed;          /* bytes written and hashed */
	int64_t prime;           /* bytes an earlier run left, to hash first */
	int reused;              /* hashed holds bytes an earlier run left */
};

/* one whole-file transfer: body bytes are copied into one buffer while a
 * worker writes and hashes the other */
struct djob {
	struct ms_webseed *w;
	int mi, file;
	struct ms_http_xfer *x;
	int paused, ended, via_cache;
	int status;              /* of the transfer, once ended */
	long retry_after;
	char msg[512];
	char *answered;          /* the URL a redirect led to */
	unsigned char *buf[2];
	size_t fill[2];
	int ready[2];            /* full (or the last), for the worker */
	int cur, next;           /* being filled; to write next */
	int working;
	int64_t woff;
	int werr;
	uv_work_t work;
	struct djob *next_job;
};

struct tfile {
	char *path;              /* URL-escaped "NAME/dir/file" */
	int64_t offset, size;
	int pad;
};

struct job {
	struct ms_webseed *w;
	int mi;                  /* mirror */
	int p0, p1;              /* pieces [p0, p1) */
	int64_t off, len;        /* their bytes in the torrent */
	unsigned char *buf;
	int64_t done;            /* bytes of buf filled */
	int64_t got;             /* of the transfer in flight, counted */
	int next_piece;          /* first piece not handed in */
	int file;                /* file of the transfer in flight */
	int via_cache;           /* the transfer went to a cached redirect */
	int retried;             /* re-resolved once already */
	struct ms_http_xfer *x;
	struct job *next;
};

struct ms_webseed {
	uv_loop_t *loop;
	struct ms_engine *e;
	int id;
	struct ms_webseed_opts o;
	struct ms_mirror_auth *auth;
	struct ms_http *http;
	uv_timer_t timer;
	int closing;
	int watching;          /* the engine sends us the torrent's alerts */
	/* what whole files ask of the scheduler above them: look for more
	 * work; free w if it is closed and nothing runs any more */
	void (*reschedule)(struct ms_webseed *w);
	void (*release)(struct ms_webseed *w);

	int nfiles;
	struct tfile *files;
	int npieces, plen;
	int64_t total;
	unsigned char *pstate;   /* P_* */
	unsigned char *estate;   /* the engine's lts_piece_state */
	signed char *supplier;   /* mirror that a P_ADDED piece came from */
	unsigned char *failed;   /* the piece failed a hash check once */
	uint64_t *added_at;      /* loop ms a P_ADDED piece was handed in */
	int64_t pending;         /* bytes in P_ADDED */

	struct mirror *m;
	int nm;
	struct job *jobs;
	int rr;                  /* next mirror to look at */

	struct dfile *d;         /* per file, once ms_webseed_direct() */
	struct djob *djobs;
	int timer_closed;

	/* fallback policy */
	int engaged;
	uint64_t since;          /* when the rate crossed the threshold */
	int64_t last_peer_bytes;
	uint64_t last_ms;
	double peer_rate;
};

/* webseed-mirror.c */
void ms__ws_event(struct ms_webseed *w, struct mirror *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t ms__ws_now_ms(struct ms_webseed *w);
int64_t ms__ws_piece_off(const struct ms_webseed *w, int p);
int64_t ms__ws_piece_size(const struct ms_webseed *w, int p);
/* wait before asking m again: secs, else a doubling delay */
void ms__ws_backoff(struct ms_webseed *w, struct mirror *m, long secs);
/* does a mirror still have file f */
int ms__ws_mirror_left(const struct ms_webseed *w, int f);
/* say so (and tell the owner) when no mirror is left for file f */
void ms__ws_none_left(struct ms_webseed *w, int f);
/* a transfer of file f from m failed: a 404, or a redirect into the
 * local network, skips m for that file, a 429/503 waits for its
 * Retry-After, anything else backs off */
void ms__ws_mirror_failed(struct ms_webseed *w, struct mirror *m, int f, int status,
			  long retry_after, const char *msg);
/* file f's URL on m (malloc'd) */
char *ms__ws_file_url(const struct mirror *m, const struct tfile *t, int f);

/* webseed-direct.c: whole files */
void ms__ws_close_fds(struct dfile *d);
void ms__ws_d_free(struct djob *j);
int ms__ws_direct_start(struct ms_webseed *w, int mi, int f);
int ms__ws_pick_direct(struct ms_webseed *w, int mi, int engaged);

#endif
