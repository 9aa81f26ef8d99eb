/*
 * Bulk hashing: every file is read once and, in that one pass, gets its
 * flat SHA-256, optionally its git blob SHA-1, its BitTorrent v2 block
 * hashes (merkle piece layer) and its share of the v1 piece SHA-1s. Files
 * are hashed on all cores; OpenSSL's libcrypto does the hashing (SHA-NI).
 * Knows nothing of libtorrent: the caller supplies the torrent's layout.
 */
#ifndef MS_HASH_H
#define MS_HASH_H

#include <stdint.h>
#include <stddef.h>

#include "modelswarm.h"

#define MS_V2_BLOCK 16384

struct ms_hash_file {
	/* in */
	const char *path;      /* relative to the directory */
	int64_t size;
	int64_t offset;        /* in the torrent's byte stream */
	int pad;               /* pad file: zeros, never read */
	int want_git;          /* compute the git blob sha1 */
	/* out */
	uint8_t sha256[32];
	uint8_t git_sha1[20];
	uint8_t *piece_layer;  /* v2: 32 bytes per piece (malloc'd) */
	int n_piece_layer;
	/* private: v1 bytes of pieces this file shares with others */
	uint8_t *head, *tail;
	size_t head_len, tail_len;
};

struct ms_hash_job {
	const char *dir;
	struct ms_hash_file *files;  /* in torrent order, pad files included */
	size_t n_files;
	int piece_length;
	int num_pieces;
	int v1, v2;                  /* which torrent hashes to compute */
	int threads;                 /* 0: all cores */
	uint8_t *v1_hashes;          /* out: num_pieces * 20 (malloc'd) */
	/* progress, called on the calling thread about every 100 ms */
	void (*progress)(void *ud, int64_t done, int64_t total);
	void *ud;
};

/* Hash everything. On success the out fields are filled; release them with
 * ms_hash_job_release(). A file that changed size or cannot be read is an
 * error naming it. */
int ms_hash_run(struct ms_hash_job *job, struct ms_error *err);
void ms_hash_job_release(struct ms_hash_job *job);

/* hex of n bytes into out (2n+1) */
void ms_hex(const uint8_t *in, size_t n, char *out);

#endif
