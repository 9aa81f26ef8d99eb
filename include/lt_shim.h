/*
 * lt_shim: a small C API over libtorrent-rasterbar.
 *
 * This is the only interface to libtorrent in modelswarm; src/shim/ holds
 * the only C++ and the only files that include libtorrent headers.
 *
 * Rules:
 *  - every handle is opaque; torrents are named by shim-issued ids (> 0),
 *    never by pointers into libtorrent;
 *  - every function catches every exception and returns an LTS_E* code
 *    (negative) with a message in the caller's struct lts_error;
 *  - there is no global state: everything hangs off an lts_session;
 *  - alerts are copied into plain C structs owned by the session and valid
 *    until the next lts_alerts_pop() or lts_session_free(); none is dropped
 *    (the queue limit is raised, and if libtorrent still drops some, an
 *    LTS_ALERT_DROPPED alert says so);
 *  - each function says who frees what.
 */
#ifndef LT_SHIM_H
#define LT_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum lts_errno {
	LTS_OK = 0,
	LTS_EINVAL = -1,     /* bad argument or malformed input */
	LTS_ENOENT = -2,     /* unknown torrent id, missing file */
	LTS_ENOMEM = -3,
	LTS_EEXIST = -4,     /* torrent already in the session */
	LTS_ELIBTORRENT = -5, /* libtorrent reported an error */
	LTS_EIO = -6,
	LTS_ENOMETA = -7,    /* torrent has no metadata yet */
	LTS_EEXCEPTION = -8  /* unexpected C++ exception */
};

/* Filled by every function that can fail. Caller-owned. */
struct lts_error {
	int code;
	char msg[512];
};

typedef struct lts_session lts_session;
typedef struct lts_torrent lts_torrent;

/* ---- session ---------------------------------------------------------- */

/* A libtorrent setting by its libtorrent name, e.g. {"enable_dht","false"}.
 * Booleans accept true/false/1/0, integers decimal. */
struct lts_setting {
	const char *name;
	const char *value;
};

/*
 * Create a session with the given settings applied on top of libtorrent's
 * defaults. Returns NULL and fills err on failure (unknown setting name,
 * bad value). The caller frees the session with lts_session_free().
 * Unless SSL_CERT_FILE is set, it sets and clears that variable while the
 * session starts (see the .cpp): call it before any thread of the process
 * reads the environment.
 */
lts_session *lts_session_new(const struct lts_setting *settings, size_t n,
			     struct lts_error *err);

/* Apply settings to a running session. Nothing is owned by the shim. */
int lts_session_apply(lts_session *s, const struct lts_setting *settings,
		      size_t n, struct lts_error *err);

/*
 * Install the function libtorrent calls, from one of its own threads, when
 * the alert queue goes from empty to non-empty. It must only wake the
 * owner's thread (e.g. uv_async_send) and must not call into the shim.
 * Passing fn == NULL removes it.
 */
int lts_session_set_notify(lts_session *s, void (*fn)(void *), void *ud,
			   struct lts_error *err);

/*
 * Destroy the session: removes the notify function first, then tears the
 * session down (blocks until libtorrent's threads have stopped). Frees s and
 * every alert and lts_torrent it still owns. s may be NULL.
 */
void lts_session_free(lts_session *s);

/* ---- torrents in a session ------------------------------------------- */

#define LTS_ADD_PAUSED      (1u << 0) /* add paused */
#define LTS_ADD_SEED_MODE   (1u << 1) /* trust the files, check lazily */
#define LTS_ADD_NO_ROOT     (1u << 2) /* map files to save_path/<path without
					 the torrent name> */
#define LTS_ADD_UPLOAD_ONLY (1u << 3) /* never download */
#define LTS_ADD_SUPER_SEED  (1u << 4) /* BEP 16 initial seeding (a seed only:
					 each peer is offered one rare piece
					 at a time) */
#define LTS_ADD_V2_CHECKS   (1u << 5) /* a hybrid torrent (with metadata and
					 piece layers): a downloaded piece
					 of a file longer than a piece is
					 checked by its v2 hashes alone, its
					 SHA-1 not computed (libtorrent is
					 handed the torrent's SHA-1 when the
					 v2 hashes match, none when not, so
					 the two checks agree). Only with
					 disk_io_write_mode 2. */

struct lts_add_params {
	/* torrent or magnet, or resume data carrying metadata; with both,
	 * the torrent is added, with the trackers and peers the magnet names
	 * (its info-hashes must be the torrent's) */
	const void *torrent;       /* bencoded .torrent bytes */
	size_t torrent_len;
	const char *magnet;        /* magnet URI */
	const void *resume;        /* bencoded resume data (optional) */
	size_t resume_len;
	const char *save_path;     /* directory files are stored under */
	unsigned flags;            /* LTS_ADD_* */
	const char *const *trackers;   /* extra tracker URLs */
	size_t n_trackers;
	/* optional: n_files entries, one per file of the torrent; file i is
	 * stored at save_path/file_paths[i] (relative). Only with metadata. */
	const char *const *file_paths;
	size_t n_file_paths;
	/* optional: n_have_files entries, one per file of the torrent (only
	 * with metadata); have_files[i] != 0 says the caller has checked file
	 * i's bytes itself (e.g. its SHA-256 against a signed manifest). Every
	 * piece made only of such files (and pad files) counts as had without
	 * being hashed, added to those the resume data has; the rest are
	 * downloaded. libtorrent does not check the files on disk then (it
	 * only looks that they exist), so the caller passes this only when
	 * no other file holds data worth finding by a check. */
	const unsigned char *have_files;
	size_t n_have_files;
	/* optional: n_file_priorities entries, one per file of the torrent
	 * (only with metadata): the priorities it starts with (0-7), instead
	 * of those in the resume data or the default */
	const int *file_priorities;
	size_t n_file_priorities;
	/* optional: n_digest_files entries, one per file of the torrent (only
	 * with metadata); digest_files[i] != 0 asks for the SHA-256 of file
	 * i, worked out from its pieces as they are written (see
	 * lts_torrent_file_sha256()), LTS_DIGEST_WANT_GIT for its git blob
	 * SHA-1 too. Only with disk_io_write_mode 2. */
	const unsigned char *digest_files;
	size_t n_digest_files;
};

/*
 * Add a torrent. On success stores the new torrent id in *id (ids are never
 * reused within a session). Nothing passed in is retained: the shim copies
 * what it needs.
 */
int lts_torrent_add(lts_session *s, const struct lts_add_params *p, int *id,
		    struct lts_error *err);

/* lts_torrent_remove() flags */
#define LTS_REMOVE_FILES (1u << 0) /* delete its files too */
#define LTS_REMOVE_QUIET (1u << 1) /* drop its trackers first, so that none
				      is told "stopped" (it is still served
				      by a dormant entry) */

/* Remove a torrent (flags: LTS_REMOVE_*). Async: an
 * LTS_ALERT_TORRENT_REMOVED alert follows. */
int lts_torrent_remove(lts_session *s, int id, unsigned flags,
		       struct lts_error *err);

/*
 * Dormant torrents: seeds kept out of the session (no memory in
 * libtorrent) that a peer can still reach. When a peer's handshake names
 * one, libtorrent's thread reads its torrent file and resume data (which
 * must hold its file mapping, trackers and pieces), adds it and hands the
 * peer to it; the next lts_alerts_pop() reports LTS_ALERT_TORRENT_WOKEN
 * with the new id and the caller's cookie. It is added ready to serve:
 * its files are not looked at until a peer asks for a piece (a missing
 * one is then a file error). Only plaintext handshakes can wake one (an
 * encrypted handshake hides the info-hash from all but loaded torrents;
 * libtorrent's peers open in plaintext). While any torrent is dormant the
 * session holds a paused placeholder torrent (libtorrent turns every
 * incoming connection away when it has none). The shim copies both paths; the
 * torrent file and the resume data are read once here (for the
 * info-hashes, and to fail now rather than when a peer comes); the number
 * of tracker URLs its torrent and resume data name (0: no tracker to
 * announce to) goes to *n_trackers (if not NULL).
 * LTS_EEXIST: it is in the session, or its hash or cookie is dormant
 * already.
 */
int lts_dormant_add(lts_session *s, const char *torrent_path,
		    const char *resume_path, int64_t cookie, int *n_trackers,
		    struct lts_error *err);

/* Forget a dormant torrent. LTS_ENOENT if it is not dormant (never added,
 * or being woken: its LTS_ALERT_TORRENT_WOKEN alert is on its way). */
int lts_dormant_remove(lts_session *s, int64_t cookie, struct lts_error *err);

/* How many torrents are dormant. */
size_t lts_dormant_count(lts_session *s);

int lts_torrent_pause(lts_session *s, int id, struct lts_error *err);
int lts_torrent_resume(lts_session *s, int id, struct lts_error *err);
/* Re-hash every piece on disk. */
int lts_torrent_recheck(lts_session *s, int id, struct lts_error *err);
/* Look the torrent's peers up in the DHT and announce it there now.
 * libtorrent does that when a torrent is added, then every
 * dht_announce_interval (15 minutes) shared among all torrents; a seed
 * whose own announce landed after that first lookup is not found until
 * then. (Nothing when the DHT is off.) */
int lts_torrent_dht_announce(lts_session *s, int id, struct lts_error *err);

enum lts_state {
	LTS_STATE_UNKNOWN = 0,
	LTS_STATE_CHECKING_FILES,
	LTS_STATE_DOWNLOADING_METADATA,
	LTS_STATE_DOWNLOADING,
	LTS_STATE_FINISHED,
	LTS_STATE_SEEDING,
	LTS_STATE_CHECKING_RESUME_DATA
};

struct lts_status {
	int state;            /* enum lts_state */
	int paused;
	int has_metadata;
	int is_seeding;
	int is_finished;      /* all wanted pieces downloaded and verified */
	double progress;      /* 0..1 of wanted bytes */
	int64_t total_size;   /* sum of file sizes (pad files excluded) */
	int64_t total_wanted;
	int64_t total_wanted_done;
	int64_t payload_download;   /* since added in this session */
	int64_t payload_upload;
	int64_t all_time_download;  /* persisted through resume data */
	int64_t all_time_upload;
	int64_t failed_bytes;       /* bytes that failed the hash check */
	int64_t redundant_bytes;
	int64_t peer_download;      /* payload from peers (all of it: pieces
				       handed in by lts_torrent_add_piece()
				       are not counted) */
	int download_rate;          /* payload bytes/s */
	int upload_rate;
	int num_peers;              /* connected bittorrent peers */
	int num_seeds;
	int num_pieces;
	int pieces_done;
	int hash_failures;          /* pieces that failed the hash check */
	char error[256];            /* "" or the torrent's error */
};

/* Fill *st for torrent id. Caller owns st. */
int lts_torrent_status(lts_session *s, int id, struct lts_status *st,
		       struct lts_error *err);

/* The status of many torrents in one call into the session's thread:
 * st[i] for ids[i], found[i] set to 1 when ids[i] is in the session (else
 * 0, st[i] untouched). Returns how many were found, or a negative code.
 * Caller owns ids, st and found (n of each). */
int lts_torrents_status(lts_session *s, const int *ids, struct lts_status *st,
			int *found, int n, struct lts_error *err);

/* Bytes downloaded of each file; fills out[0..n-1] for the first n files
 * (pad files included, at their index). Returns the number of files, or a
 * negative code. Caller owns out. */
int lts_torrent_file_progress(lts_session *s, int id, int64_t *out, int n,
			      struct lts_error *err);

/* Priorities 0 (skip) .. 7 for the first n files. Nothing retained. */
int lts_torrent_set_file_priorities(lts_session *s, int id, const int *prio,
				    int n, struct lts_error *err);

/*
 * Hand in the whole of piece `piece` (len must be its size), fetched by the
 * caller, e.g. from an HTTP mirror. The data is copied before this
 * returns and queued to libtorrent's thread (a piece shows in
 * lts_torrent_piece_states() a moment later), which writes it and checks
 * its hashes: an LTS_ALERT_PIECE_FINISHED or
 * LTS_ALERT_HASH_FAILED alert follows. Blocks a peer already delivered are
 * not written again, unless overwrite is set: a piece that failed its
 * hash check keeps the blocks that were handed in, so handing it in again
 * needs overwrite (a piece already verified is never written over). Web
 * seeds in torrents are never used by libtorrent itself (lts_torrent_add()
 * drops them): they are the caller's to fetch.
 */
int lts_torrent_add_piece(lts_session *s, int id, int piece, const void *data,
			  size_t len, int overwrite, struct lts_error *err);

enum lts_piece_state {
	LTS_PIECE_MISSING = 0,  /* wanted, nothing of it requested yet */
	LTS_PIECE_PARTIAL,      /* wanted, some blocks requested or received */
	LTS_PIECE_HAVE,         /* downloaded and verified */
	LTS_PIECE_SKIP          /* not wanted (priority 0) */
};

/* One enum lts_piece_state per piece into out[0..n-1] (caller-owned).
 * Returns the number of pieces (0 without metadata) or a negative code. */
int lts_torrent_piece_states(lts_session *s, int id, unsigned char *out, int n,
			     struct lts_error *err);
int lts_torrent_add_tracker(lts_session *s, int id, const char *url,
			    int tier, struct lts_error *err);
/* Dial a peer; host is a numeric IPv4/IPv6 address. */
int lts_torrent_connect_peer(lts_session *s, int id, const char *host,
			     int port, struct lts_error *err);
/* Ask for resume data; an LTS_ALERT_SAVE_RESUME(_FAILED) alert follows.
 * flags: LTS_SAVE_FLUSH flushes the disk cache first; LTS_SAVE_NO_INFO
 * leaves the info dict out (for a caller that adds the torrent itself:
 * the rest of it is a fraction of the size with many files). */
#define LTS_SAVE_FLUSH   (1u << 0)
#define LTS_SAVE_NO_INFO (1u << 1)
int lts_torrent_save_resume(lts_session *s, int id, unsigned flags,
			    struct lts_error *err);

/* Move file `file` to save_path/path (libtorrent renames it on disk and
 * keeps using it). An LTS_ALERT_FILE_RENAMED(_FAILED) alert follows. */
int lts_torrent_rename_file(lts_session *s, int id, int file, const char *path,
			    struct lts_error *err);

/*
 * The SHA-256 of a file asked for with lts_add_params.digest_files, worked
 * out from the pieces as they were written, in the file's order (a piece
 * that comes early waits in memory, or past a cap, on disk). Ask once the
 * file's bytes are all in (lts_torrent_file_progress()). Returns
 *   LTS_DIGEST_READY:   out[0..31] is the SHA-256 of the bytes written;
 *   LTS_DIGEST_PENDING: a worker is still feeding it: ask again shortly;
 *   LTS_DIGEST_NONE:    none (not asked for, or some of its bytes reached
 *                       the disk another way, e.g. in an earlier run):
 *                       read the file;
 * or a negative code. Only a piece whose SHA-1 is the torrent's is fed (a
 * v2-only torrent has none to check): a digest that differs from the one
 * expected means "read the file", not "the file is bad".
 */
#define LTS_DIGEST_NONE    0
#define LTS_DIGEST_READY   1
#define LTS_DIGEST_PENDING 2
/* digest_files[i]: the SHA-256 and git's blob id (SHA-1 of "blob <size>"
 * and a NUL, then the bytes) */
#define LTS_DIGEST_WANT_GIT 2
/* git, if not NULL, gets the git blob SHA-1 with LTS_DIGEST_READY (and
 * LTS_DIGEST_NONE comes back when it was not asked for) */
int lts_torrent_file_sha256(lts_session *s, int id, int file,
			    unsigned char out[32], unsigned char git[20],
			    struct lts_error *err);

/*
 * A reader of file `file` comes (delta 1) or goes (delta -1): while the
 * file has one, the pieces of it that come in are kept in memory once
 * written and their SHA-1 is the torrent's (256 MiB a torrent at most, the
 * oldest let go first; all of them when the last reader goes), for
 * lts_torrent_read_recent(). Only for a torrent added with digest_files
 * or LTS_ADD_V2_CHECKS (else, and for a file out of range, LTS_EINVAL;
 * nothing changes).
 */
int lts_torrent_file_readers(lts_session *s, int id, int file, int delta,
			     struct lts_error *err);

/*
 * Up to n bytes of piece `piece` from byte `at` of it on, copied to buf
 * from the pieces kept in memory for readers: how many (0 when that piece
 * is not held; fewer than n at the end of what it holds), or < 0 (no such
 * torrent). A piece read to its end is let go. The reader of file `file`
 * is taken to be at that piece: pieces of the file that come more than
 * 128 MiB ahead of it are written through the page cache instead of kept
 * (the reader finds them there).
 * A piece is held only once its SHA-1 matched, but the caller must still
 * read only pieces libtorrent says it has (a piece that failed and came
 * again is replaced before libtorrent has it).
 */
long lts_torrent_read_recent(lts_session *s, int id, int file, int piece, int at,
			     void *buf, size_t n, struct lts_error *err);

/* Sequential download: pieces are picked in order while it is on (rarest
 * first while it is off, the default). */
int lts_torrent_set_sequential(lts_session *s, int id, int on,
			       struct lts_error *err);

/* Ask for piece first: libtorrent requests it, from the fastest peers
 * and again from others when it is late, so that it is had within ms
 * milliseconds (a reader streaming the torrent waits for it). Once the
 * piece is had the deadline is gone. LTS_EINVAL for a piece out of range. */
int lts_torrent_set_piece_deadline(lts_session *s, int id, int piece, int ms,
				   struct lts_error *err);

/* Upload mode: no piece is requested while it is on. */
int lts_torrent_set_upload_mode(lts_session *s, int id, int on,
				struct lts_error *err);

/* Set per-torrent rate limits in bytes/s (0 = unlimited). */
int lts_torrent_set_limits(lts_session *s, int id, int upload, int download,
			   struct lts_error *err);

/*
 * A copy of the metadata of a torrent in the session, or NULL with
 * LTS_ENOMETA if it has none yet. The caller frees it with
 * lts_torrent_info_free().
 */
lts_torrent *lts_torrent_info_get(lts_session *s, int id,
				  struct lts_error *err);

/* ---- alerts ------------------------------------------------------------ */

enum lts_alert_type {
	LTS_ALERT_OTHER = 0,
	LTS_ALERT_DROPPED,          /* libtorrent dropped alerts (queue full) */
	LTS_ALERT_LISTEN_SUCCEEDED, /* address, port */
	LTS_ALERT_LISTEN_FAILED,    /* address, port, message */
	LTS_ALERT_TORRENT_ADDED,
	LTS_ALERT_TORRENT_REMOVED,
	LTS_ALERT_METADATA_RECEIVED,
	LTS_ALERT_TORRENT_CHECKED,
	LTS_ALERT_TORRENT_FINISHED,
	LTS_ALERT_STATE_CHANGED,    /* value = new enum lts_state */
	LTS_ALERT_HASH_FAILED,      /* piece */
	LTS_ALERT_PIECE_FINISHED,   /* piece */
	LTS_ALERT_PEER_BANNED,      /* address, port */
	LTS_ALERT_PEER_ERROR,       /* address, port, message */
	LTS_ALERT_PEER_CONNECTED,
	LTS_ALERT_PEER_DISCONNECTED,
	LTS_ALERT_TRACKER_ERROR,    /* url, message */
	LTS_ALERT_TRACKER_REPLY,    /* url, value = number of peers */
	LTS_ALERT_FILE_ERROR,       /* file path in url, message, error */
	LTS_ALERT_TORRENT_ERROR,    /* message, error */
	LTS_ALERT_SAVE_RESUME,      /* data, data_len */
	LTS_ALERT_SAVE_RESUME_FAILED,
	LTS_ALERT_FILE_COMPLETED,   /* value = file index */
	LTS_ALERT_TORRENT_PAUSED,
	LTS_ALERT_TORRENT_RESUMED,
	LTS_ALERT_FILE_RENAMED,       /* value = file index, url = new path */
	LTS_ALERT_FILE_RENAME_FAILED, /* value = file index, message */
	LTS_ALERT_TORRENT_WOKEN,      /* a dormant torrent was loaded for a
					 peer: torrent = its new id (0 if it
					 failed: error, message), value = its
					 cookie */
	LTS_ALERT_DHT_ITEM,           /* lts_dht_get(): dht (see below) */
	LTS_ALERT_DHT_PUT             /* lts_dht_put() done: dht, with
					 dht.stored nodes that took it */
};

/* A BEP 44 mutable item, as put (lts_dht_put()) or as received
 * (LTS_ALERT_DHT_ITEM, LTS_ALERT_DHT_PUT; pointers owned by the session
 * like the alert's). */
struct lts_dht_item {
	unsigned char key[32];     /* ed25519 public key */
	unsigned char sig[64];     /* ed25519 signature of the BEP 44 message
				      "4:salt<n>:<salt>3:seqi<seq>e1:v<value>"
				      (no salt: from "3:seq") */
	int64_t seq;
	const char *salt;          /* salt_len bytes (at most 64) */
	size_t salt_len;
	const unsigned char *value; /* bencoded; received: value_len 0 when
				       no node had the item */
	size_t value_len;
	int authoritative;         /* received: every node asked answered */
	int stored;                /* put: nodes that took it */
};

struct lts_alert {
	int type;              /* enum lts_alert_type */
	int torrent;           /* torrent id, or 0 */
	const char *what;      /* libtorrent's alert name */
	const char *message;   /* human-readable message */
	int error;             /* errno-like value, or 0 */
	int errno_value;       /* error as a system errno when it is one */
	int piece;             /* piece index or -1 */
	int64_t value;         /* type-specific */
	const char *address;   /* peer/listen address or "" */
	int port;
	const char *url;       /* tracker/webseed url, file path, or "" */
	const unsigned char *data; /* resume data or NULL */
	size_t data_len;
	struct lts_dht_item dht;   /* LTS_ALERT_DHT_* only */
};

/*
 * Take every pending alert. *out points to an array of *n alerts owned by
 * the session, valid until the next call or lts_session_free(). Never
 * drops: all alerts libtorrent queued are returned.
 */
int lts_alerts_pop(lts_session *s, const struct lts_alert **out, size_t *n,
		   struct lts_error *err);

/* ---- BEP 44 mutable items in the DHT ---------------------------------- */

/*
 * Put a signed mutable item (the caller signs; an item received can be put
 * again as it came). The value (1 to 1000 bytes) must be bencoded in
 * canonical form (sorted keys), as it was signed. Nothing is retained by
 * the caller's pointers. An LTS_ALERT_DHT_PUT alert follows when the
 * nodes closest to the target were asked (dht.stored: how many took it;
 * 0 when the DHT has no node yet).
 */
int lts_dht_put(lts_session *s, const struct lts_dht_item *it, struct lts_error *err);

/*
 * Look up the mutable item of key and salt. LTS_ALERT_DHT_ITEM alerts
 * follow: one per newer item a node returns, then one with
 * dht.authoritative set once the lookup is over (its value empty if no
 * node had any). libtorrent drops an item whose signature does not verify.
 */
int lts_dht_get(lts_session *s, const unsigned char key[32], const char *salt,
		size_t salt_len, struct lts_error *err);

/* ---- metadata (parsed .torrent) --------------------------------------- */

/* Parse .torrent bytes. Returns NULL and fills err if malformed. Caller
 * frees with lts_torrent_info_free(). The buffer is not retained. */
lts_torrent *lts_torrent_info_load(const void *buf, size_t len,
				   struct lts_error *err);
void lts_torrent_info_free(lts_torrent *t);

struct lts_file_info {
	const char *path;   /* full path, "name/dir/file"; owned by t */
	int64_t size;
	int64_t offset;     /* in the torrent's byte stream */
	int pad;            /* a pad file (never stored) */
	int symlink;        /* has the symlink attribute */
	int executable;     /* has the executable attribute */
	int hidden;
	int has_root;       /* v2 pieces root present */
	unsigned char root[32];
};

/* Information about a parsed torrent; strings owned by t. */
const char *lts_torrent_info_name(const lts_torrent *t);
int lts_torrent_info_num_files(const lts_torrent *t);
int lts_torrent_info_file(const lts_torrent *t, int i,
			  struct lts_file_info *out);
int64_t lts_torrent_info_total_size(const lts_torrent *t);
int lts_torrent_info_piece_length(const lts_torrent *t);
int lts_torrent_info_num_pieces(const lts_torrent *t);
/* 40/64 hex chars + NUL, or "" when the torrent has no v1/v2 hash. */
const char *lts_torrent_info_hash_v1(const lts_torrent *t);
const char *lts_torrent_info_hash_v2(const lts_torrent *t);
/* Magnet URI; owned by t. */
const char *lts_torrent_info_magnet(const lts_torrent *t);
/* Trackers in the torrent's announce list */
int lts_torrent_info_num_trackers(const lts_torrent *t);
/* The torrent's BEP 19 url-list ("url-list"); NULL past the end. */
int lts_torrent_info_num_webseeds(const lts_torrent *t);
const char *lts_torrent_info_webseed(const lts_torrent *t, int i);
/* Bencoded torrent file; owned by t. */
const unsigned char *lts_torrent_info_bytes(const lts_torrent *t,
					    size_t *len);

/* ---- creating torrents -------------------------------------------------- */

#define LTS_CREATE_V1_ONLY (1u << 0)
#define LTS_CREATE_V2_ONLY (1u << 1)

struct lts_create_file {
	const char *path;   /* relative to the directory, '/'-separated */
	int64_t size;
};

struct lts_create_opts {
	unsigned flags;                /* LTS_CREATE_* */
	int piece_size;                /* 0: libtorrent's choice */
	const char *name;              /* torrent name; NULL: directory name */
	const char *const *webseeds;
	size_t n_webseeds;
	const char *const *trackers;   /* each in its own tier */
	size_t n_trackers;
	int threads;                   /* hashing threads; 0: all cores */
	/* called on the calling thread as pieces are hashed */
	void (*progress)(void *ud, int done, int total);
	void *ud;
};

/*
 * Hash the files of dir (files[] in order; the caller sorts them and
 * checks they are regular files) and build a torrent: hybrid v1+v2 unless
 * a flag says otherwise, no file attributes, no creation date, so the same
 * inputs always give the same info-hash. On success *out is a malloc'd
 * buffer of *len bytes that the caller frees with free().
 */
int lts_create(const char *dir, const struct lts_create_file *files,
	       size_t n_files, const struct lts_create_opts *opts,
	       unsigned char **out, size_t *len, struct lts_error *err);

/*
 * Creating a torrent from hashes computed by the caller (one read of each
 * file for every hash the caller needs): lay the files out (pad files,
 * piece size), then set every v1 piece hash and every v2 piece-layer hash,
 * then generate. The layout's file order may differ from files[]: use
 * lts_creator_file() to map.
 */
typedef struct lts_creator lts_creator;

/* NULL + err on failure; free with lts_creator_free(). opts->name is
 * required; progress, threads and dir-related fields are ignored. */
lts_creator *lts_creator_new(const struct lts_create_file *files, size_t n,
			     const struct lts_create_opts *opts,
			     struct lts_error *err);
void lts_creator_free(lts_creator *c);
/* the piece size libtorrent picks when none is given, for files of
 * total bytes under flags (LTS_CREATE_*): it depends on nothing else,
 * so a caller can settle the piece size before laying files out; 0 on
 * failure */
int lts_creator_auto_piece_size(int64_t total, unsigned flags);
int lts_creator_piece_length(const lts_creator *c);
int lts_creator_num_pieces(const lts_creator *c);
/* files in torrent order, pad files included; path is relative to the
 * torrent's root (no name prefix); strings owned by c */
int lts_creator_num_files(const lts_creator *c);
int lts_creator_file(const lts_creator *c, int i, struct lts_file_info *out);
int lts_creator_is_v1(const lts_creator *c);
int lts_creator_is_v2(const lts_creator *c);
/* v1: SHA-1 of piece `piece` of the whole stream (pad files are zeros) */
int lts_creator_set_v1(lts_creator *c, int piece, const unsigned char h[20],
		       struct lts_error *err);
/* v2: for file `file` (torrent order), the root of the merkle subtree of
 * its piece `piece` (files smaller than a piece: the file's root) */
int lts_creator_set_v2(lts_creator *c, int file, int piece,
		       const unsigned char h[32], struct lts_error *err);
/* The torrent; *out malloc'd, the caller frees it with free(). */
int lts_creator_generate(lts_creator *c, unsigned char **out, size_t *len,
			 struct lts_error *err);
/* After lts_creator_generate(), when the shim wrote the torrent itself
 * (what publish makes): the info-hashes in hex ("" for none) and a file's
 * v2 root, without loading the torrent; LTS_ENOENT otherwise (no root: a
 * pad or empty file, or a v1 torrent) */
int lts_creator_written(const lts_creator *c, char hash_v1[41], char hash_v2[65]);
/* the trackers the torrent names (none empty, none twice) */
int lts_creator_num_trackers(const lts_creator *c);
int lts_creator_file_root(const lts_creator *c, int file, unsigned char out[32]);

/* libtorrent's version string, static. */
const char *lts_version(void);

/* Self-test of the shim's disk ordering (a failed piece's clear waits for
 * the writes to that piece issued before it). Only in the unit tests
 * (src/shim/selftest.cpp, linked into tests/unit/test-shim alone). Writes
 * "in order", or the order of events it saw, to msg; returns 0 when it is
 * the expected one, -1 otherwise. */
int lts_selftest_disk_order(char *msg, size_t n);

/* Self-test of the shim's piece writes (a downloaded piece gathered in
 * memory, written whole, its blocks reported written only then), over a
 * disk that logs what reaches it, with files under dir. Only in the unit
 * tests. Writes what went wrong, or "as expected", to msg; returns 0 when
 * all went as expected, -1 otherwise. */
int lts_selftest_piece_writes(const char *dir, char *msg, size_t n);
/* File digests worked out as pieces are written: pieces out of order, in
 * memory and past the cap on disk; a piece that is not the torrent's never
 * fed; a file with a reader written through the page cache, one without
 * bypassing it; and the back-pressure on peers. Same conventions. */
int lts_selftest_file_digests(const char *dir, char *msg, size_t n);

#ifdef __cplusplus
}
#endif

#endif
