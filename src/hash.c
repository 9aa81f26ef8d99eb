/* hash.c: one read per file, every hash the manifest and torrent need */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ms_hash.h"

#define CHUNK (4 << 20)

/* per-file progress of the sequential part (read + flat hashes) */
struct fstate {
	int fd;
	int64_t pos;          /* next byte to read */
	int busy, started, done;
	int whole;            /* read in one chunk, hashed without flat/git */
	int flat_is_leaf;     /* its sha256 is its one v2 leaf hash */
	EVP_MD_CTX *flat, *git;
	uint8_t *blocks;      /* v2 leaf hashes */
	size_t nblocks;
	int64_t full_lo, full_hi; /* the file's whole pieces (file-relative) */
	int own_tail;         /* its last piece is its tail and zeros alone */
};

struct chunk {
	size_t file;
	int64_t start;        /* file-relative */
	size_t len;
	uint8_t *buf;
};

#define QMAX 16

struct pool {
	struct ms_hash_job *job;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fstate *fs;
	size_t *order;            /* files by size, largest first */
	size_t next_new;          /* order[next_new..] holds the files not
				     started yet */
	size_t *open, n_open;     /* files started, not done, in start order */
	size_t files_left;
	struct chunk queue[QMAX];
	size_t qhead, qlen;
	uint8_t *bufs[QMAX + 64];
	size_t nbufs;
	int active;               /* chunk jobs being processed */
	atomic_llong done;        /* bytes hashed */
	atomic_int failed;
	struct ms_error err;      /* first error, under mu */
	uint8_t *v1_done;         /* pieces computed from whole data */
	size_t chunk_size;
	int exited;               /* workers that returned */
	EVP_MD *sha1, *sha256;    /* looked up once */
};

/* One thread's context for one-shot digests, reused: OpenSSL 3 looks a
 * digest up again at each EVP_Digest() and allocates a context, which
 * with ten thousand small files cost more than some of the hashing. */
struct hasher {
	EVP_MD_CTX *c;
	const EVP_MD *sha1, *sha256;
};

static int digest(struct hasher *h, const EVP_MD *md, const void *d, size_t n,
		  uint8_t *out)
{
	return EVP_DigestInit_ex2(h->c, md, NULL) == 1 && EVP_DigestUpdate(h->c, d, n) == 1 &&
	       EVP_DigestFinal_ex(h->c, out, NULL) == 1;
}

/* a git blob id's start: "blob SIZE" and a NUL */
static int git_begin(EVP_MD_CTX *c, const EVP_MD *sha1, int64_t size)
{
	char hdr[64];
	int n = snprintf(hdr, sizeof(hdr), "blob %lld", (long long)size);

	return EVP_DigestInit_ex2(c, sha1, NULL) == 1 && EVP_DigestUpdate(c, hdr, (size_t)n + 1) == 1;
}

static int hasher_init(struct hasher *h, const struct pool *p)
{
	h->sha1 = p->sha1;
	h->sha256 = p->sha256;
	return (h->c = EVP_MD_CTX_new()) != NULL;
}

void ms_hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* record the first error; callers hold no lock */
static void fail(struct pool *p, int code, const char *fmt, const char *a,
		 const char *b)
{
	pthread_mutex_lock(&p->mu);
	if (!atomic_load(&p->failed)) {
		ms_error_set(&p->err, code, fmt, a, b);
		atomic_store(&p->failed, 1);
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* root of n leaves (n a power of two), in place */
static void merkle_root(struct hasher *h, uint8_t *leaves, size_t n, uint8_t out[32])
{
	while (n > 1) {
		/* a pair is 64 bytes in a row: hashed where it lies, its
		 * result written over the left leaf of the pair at i */
		for (size_t i = 0; i < n / 2; i++)
			digest(h, h->sha256, leaves + 64 * i, 64, leaves + 32 * i);
		n /= 2;
	}
	memcpy(out, leaves, 32);
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* the v2 piece layer from the block hashes of one file */
static int piece_layer(struct hasher *h, struct ms_hash_job *job, struct ms_hash_file *f,
		       const uint8_t *blocks, size_t nblocks)
{
	size_t bpp = (size_t)job->piece_length / MS_V2_BLOCK;
	size_t npieces, width;
	uint8_t *tmp;

	if (f->size == 0)
		return 0;
	if (f->size < job->piece_length) {
		/* one piece: the file's root, leaves padded to a power of two */
		npieces = 1;
		width = pow2_at_least(nblocks);
	} else {
		npieces = (nblocks + bpp - 1) / bpp;
		width = bpp;
	}
	f->piece_layer = malloc(npieces * 32);
	tmp = calloc(width, 32);
	if (!f->piece_layer || !tmp) {
		free(tmp);
		return MS_ENOMEM;
	}
	for (size_t k = 0; k < npieces; k++) {
		size_t first = k * width, cnt = nblocks - first;
		if (cnt > width)
			cnt = width;
		memset(tmp, 0, width * 32);
		memcpy(tmp, blocks + first * 32, cnt * 32);
		merkle_root(h, tmp, width, f->piece_layer + 32 * k);
	}
	f->n_piece_layer = (int)npieces;
	free(tmp);
	return 0;
}

/* Everything of one chunk that does not depend on other chunks: v2 leaf
 * hashes, v1 hashes of whole pieces, head/tail bytes of shared pieces.
 * Chunks start at multiples of the block size (and, past the head, of the
 * piece length), so this runs on any thread in any order. */
/* The SHA-1 of a piece that holds f's tail (t, f->tail_len bytes) and
 * then only zeros (a pad file) or nothing (the torrent's end): worked out
 * at once, instead of the tail being kept for stitch(). With many small
 * files, keeping them made publish grow its heap by their size and copy
 * every one twice. */
static void tail_piece(struct pool *p, struct hasher *h, const struct ms_hash_file *f,
		       const uint8_t *t)
{
	static const uint8_t zeros[MS_V2_BLOCK];
	struct ms_hash_job *job = p->job;
	const struct ms_hash_file *last = &job->files[job->n_files - 1];
	int64_t P = job->piece_length, ps = f->offset + f->size - (int64_t)f->tail_len;
	int64_t end = last->offset + last->size, pe = ps + P < end ? ps + P : end;
	EVP_MD_CTX *c = h->c;
	int ok = EVP_DigestInit_ex2(c, h->sha1, NULL) == 1 &&
		 EVP_DigestUpdate(c, t, f->tail_len) == 1;

	for (int64_t x = ps + (int64_t)f->tail_len; ok && x < pe; x += MS_V2_BLOCK)
		ok = EVP_DigestUpdate(c, zeros, (size_t)(pe - x < MS_V2_BLOCK ? pe - x
								   : MS_V2_BLOCK)) == 1;
	if (ok && EVP_DigestFinal_ex(c, job->v1_hashes + 20 * (ps / P), NULL) == 1)
		p->v1_done[ps / P] = 1;
	else
		fail(p, MS_ENOMEM, "'%s': %s", f->path, "cannot hash its last piece");
}

static void hash_chunk(struct pool *p, struct hasher *h, const struct chunk *c)
{
	struct ms_hash_job *job = p->job;
	struct ms_hash_file *f = &job->files[c->file];
	struct fstate *st = &p->fs[c->file];
	int64_t P = job->piece_length;
	int64_t s = c->start, e = c->start + (int64_t)c->len;
	const uint8_t *d = c->buf;

	if (job->v2) {
		for (int64_t x = s; x < e; x += MS_V2_BLOCK) {
			size_t n = (size_t)(e - x < MS_V2_BLOCK ? e - x : MS_V2_BLOCK);
			digest(h, h->sha256, d + (x - s), n,
			       st->blocks + 32 * (size_t)(x / MS_V2_BLOCK));
		}
		if (st->flat_is_leaf)
			memcpy(f->sha256, st->blocks, 32);
	}
	if (job->v1) {
		int64_t lo = st->full_lo, hi = st->full_hi;
		int64_t tl = hi > lo ? hi : lo;
		if (s < lo) {
			int64_t h = e < lo ? e : lo;
			memcpy(f->head + s, d, (size_t)(h - s));
		}
		for (int64_t x = s > lo ? s : lo; x + P <= e && x + P <= hi; x += P) {
			int64_t piece = (f->offset + x) / P;
			digest(h, h->sha1, d + (x - s), (size_t)P, job->v1_hashes + 20 * piece);
			p->v1_done[piece] = 1;
		}
		if (f->tail_len && e > tl && st->own_tail) {
			/* chunks are whole pieces from the file's start, so
			 * the tail (less than a piece) is in one chunk */
			if (s <= tl && e == f->size)
				tail_piece(p, h, f, d + (tl - s));
			else
				fail(p, MS_EIO, "'%s': a tail piece split across chunks (%s)",
				     f->path, "a bug");
		} else if (f->tail_len && e > tl) {
			int64_t ts = s > tl ? s : tl;
			memcpy(f->tail + (ts - tl), d + (ts - s), (size_t)(e - ts));
		}
	}
	atomic_fetch_add(&p->done, (long long)c->len);
}

/* set up the file's bounds and buffers; false on failure */
static int file_begin(struct pool *p, size_t idx)
{
	struct ms_hash_job *job = p->job;
	struct ms_hash_file *f = &job->files[idx];
	struct fstate *st = &p->fs[idx];
	int64_t P = job->piece_length, off = f->offset, size = f->size;
	int64_t a = (off + P - 1) / P * P, b = (off + size) / P * P;
	char full[4096];

	if (off + size <= a) {
		st->full_lo = st->full_hi = size; /* all of it is the head */
	} else {
		st->full_lo = a - off;
		st->full_hi = b - off;
	}
	f->head_len = (size_t)st->full_lo;
	f->tail_len = (size_t)(size - (st->full_hi > st->full_lo ? st->full_hi : st->full_lo));
	/* a file that begins on a piece and is followed by a pad file (a
	 * hybrid torrent) or by nothing: its last piece is its own */
	st->own_tail = job->v1 && f->tail_len && off % P == 0 &&
		       (idx + 1 == job->n_files ||
			(job->files[idx + 1].pad &&
			 (idx + 2 == job->n_files ||
			  (job->files[idx + 1].offset + job->files[idx + 1].size) % P == 0)));
	if (job->v1) {
		f->head = f->head_len ? malloc(f->head_len) : NULL;
		f->tail = f->tail_len && !st->own_tail ? malloc(f->tail_len) : NULL;
		if ((f->head_len && !f->head) || (f->tail_len && !st->own_tail && !f->tail))
			goto nomem;
	}
	st->nblocks = (size_t)((size + MS_V2_BLOCK - 1) / MS_V2_BLOCK);
	if (job->v2 && st->nblocks && !(st->blocks = malloc(st->nblocks * 32)))
		goto nomem;
	/* a file shorter than a chunk is read at once (with one byte more,
	 * to see it did not grow) and its flat hashes are one-shot */
	st->whole = (uint64_t)size < p->chunk_size;
	if (!st->whole) {
		if (!(st->flat = EVP_MD_CTX_new()))
			goto nomem;
		EVP_DigestInit_ex2(st->flat, p->sha256, NULL);
	}
	if (f->want_git && !st->whole &&
	    (!(st->git = EVP_MD_CTX_new()) || !git_begin(st->git, p->sha1, size)))
		goto nomem;
	if ((size_t)snprintf(full, sizeof(full), "%s/%s", job->dir, f->path) >= sizeof(full)) {
		fail(p, MS_EPATH, "cannot open '%s/%s': path too long", job->dir, f->path);
		return 0;
	}
	st->fd = open(full, O_RDONLY | O_CLOEXEC);
	if (st->fd < 0) {
		fail(p, ms_error_from_errno(errno), "cannot open '%s': %s", full,
		     strerror(errno));
		return 0;
	}
	posix_fadvise(st->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 1;
nomem:
	fail(p, MS_ENOMEM, "%s%s", "out of memory", "");
	return 0;
}

/* a file shorter than a chunk, all at once: 2 with *c filled (the file
 * finished), 0 for an empty one (finished, nothing to queue), -1 on
 * error */
static int file_whole(struct pool *p, struct hasher *h, size_t idx, uint8_t *buf,
		      struct chunk *c)
{
	struct ms_hash_job *job = p->job;
	struct ms_hash_file *f = &job->files[idx];
	struct fstate *st = &p->fs[idx];
	size_t want = (size_t)f->size + 1, got = 0;
	char full[4096];
	int ok;

	while (got < want) {
		ssize_t r = read(st->fd, buf + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				break;
			snprintf(full, sizeof(full), "%s/%s", job->dir, f->path);
			fail(p, MS_EIO, "cannot read '%s': %s", full, strerror(errno));
			return -1;
		}
		got += (size_t)r;
	}
	close(st->fd);
	st->fd = -1;
	if (got != (size_t)f->size) {
		snprintf(full, sizeof(full), "%s/%s", job->dir, f->path);
		fail(p, MS_EINVAL, "'%s' %s", full,
		     got > (size_t)f->size ? "grew while being hashed"
					   : "shrank while being hashed");
		return -1;
	}
	/* a file of one v2 block: its sha256 is that block's leaf hash,
	 * which hash_chunk() works out anyway */
	st->flat_is_leaf = job->v2 && got > 0 && got <= MS_V2_BLOCK;
	ok = st->flat_is_leaf || digest(h, h->sha256, buf, got, f->sha256);
	if (ok && f->want_git)
		ok = git_begin(h->c, h->sha1, f->size) && EVP_DigestUpdate(h->c, buf, got) == 1 &&
		     EVP_DigestFinal_ex(h->c, f->git_sha1, NULL) == 1;
	if (!ok) {
		fail(p, MS_ENOMEM, "'%s': %s", f->path, "cannot hash it");
		return -1;
	}
	if (!got)
		return 0;
	c->file = idx;
	c->start = 0;
	c->len = got;
	c->buf = buf;
	st->pos = (int64_t)got;
	return 2;
}

/* read the next chunk of file idx into buf, feed the sequential hashes;
 * 1 with *c filled, 2 the same and the file finished, 0 at the end of
 * the file (finished), -1 on error */
static int file_step(struct pool *p, struct hasher *h, size_t idx, uint8_t *buf,
		     struct chunk *c)
{
	struct ms_hash_job *job = p->job;
	struct ms_hash_file *f = &job->files[idx];
	struct fstate *st = &p->fs[idx];
	char full[4096];
	size_t want, got = 0;

	if (st->whole)
		return file_whole(p, h, idx, buf, c);
	snprintf(full, sizeof(full), "%s/%s", job->dir, f->path);
	if (st->pos >= f->size) {
		/* the file must not have grown */
		uint8_t extra;
		ssize_t r = read(st->fd, &extra, 1);
		if (r != 0) {
			fail(p, MS_EINVAL, "'%s' %s", full, "grew while being hashed");
			return -1;
		}
		EVP_DigestFinal_ex(st->flat, f->sha256, NULL);
		if (st->git)
			EVP_DigestFinal_ex(st->git, f->git_sha1, NULL);
		return 0;
	}
	/* the head alone first, then whole chunks aligned to pieces */
	if (st->pos < st->full_lo && job->v1 && !job->v2)
		want = (size_t)(st->full_lo - st->pos);
	else
		want = p->chunk_size;
	if ((int64_t)want > f->size - st->pos)
		want = (size_t)(f->size - st->pos);
	while (got < want) {
		ssize_t r = read(st->fd, buf + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail(p, r < 0 ? MS_EIO : MS_EINVAL,
			     r < 0 ? "cannot read '%s': %s" : "'%s' %s", full,
			     r < 0 ? strerror(errno) : "shrank while being hashed");
			return -1;
		}
		got += (size_t)r;
	}
	EVP_DigestUpdate(st->flat, buf, got);
	if (st->git)
		EVP_DigestUpdate(st->git, buf, got);
	c->file = idx;
	c->start = st->pos;
	c->len = got;
	c->buf = buf;
	st->pos += (int64_t)got;
	return 1;
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct ms_hash_job *job = p->job;
	struct hasher h;

	if (!hasher_init(&h, p))
		fail(p, MS_ENOMEM, "%s%s", "out of memory", "");
	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (atomic_load(&p->failed))
			break;
		if (p->qlen) {
			/* the parallel part of a chunk someone read */
			struct chunk c = p->queue[p->qhead];
			p->qhead = (p->qhead + 1) % QMAX;
			p->qlen--;
			p->active++;
			pthread_cond_broadcast(&p->cv);
			pthread_mutex_unlock(&p->mu);
			hash_chunk(p, &h, &c);
			pthread_mutex_lock(&p->mu);
			p->bufs[p->nbufs++] = c.buf;
			p->active--;
			pthread_cond_broadcast(&p->cv);
			continue;
		}
		/* else read on: a started file first, then a new one (from
		 * lists, not a pass over every file per chunk: a repo may
		 * have tens of thousands of small files) */
		size_t pick = job->n_files;
		if (p->nbufs && p->qlen < QMAX) {
			for (size_t k = 0; k < p->n_open && pick == job->n_files; k++)
				if (!p->fs[p->open[k]].busy)
					pick = p->open[k];
			while (p->next_new < job->n_files &&
			       (job->files[p->order[p->next_new]].pad ||
				p->fs[p->order[p->next_new]].started ||
				p->fs[p->order[p->next_new]].busy))
				p->next_new++;
			if (pick == job->n_files && p->next_new < job->n_files)
				pick = p->order[p->next_new];
		}
		if (pick < job->n_files) {
			struct fstate *st = &p->fs[pick];
			uint8_t *buf = p->bufs[--p->nbufs];
			struct chunk c;
			int r = 1;
			st->busy = 1;
			pthread_mutex_unlock(&p->mu);
			if (!st->started && !file_begin(p, pick))
				r = -1;
			if (r > 0)
				r = file_step(p, &h, pick, buf, &c);
			pthread_mutex_lock(&p->mu);
			if (!st->started && r == 1)
				p->open[p->n_open++] = pick;
			st->started = 1;
			st->busy = 0;
			if (r == 2) {
				/* read at once: never in the open list */
				p->queue[(p->qhead + p->qlen) % QMAX] = c;
				p->qlen++;
				st->done = 1;
				p->files_left--;
			} else if (r > 0) {
				p->queue[(p->qhead + p->qlen) % QMAX] = c;
				p->qlen++;
			} else {
				p->bufs[p->nbufs++] = buf;
				if (r == 0) {
					st->done = 1;
					p->files_left--;
					for (size_t k = 0; k < p->n_open; k++)
						if (p->open[k] == pick) {
							memmove(&p->open[k], &p->open[k + 1],
								(p->n_open - k - 1) * sizeof(*p->open));
							p->n_open--;
							break;
						}
				}
			}
			pthread_cond_broadcast(&p->cv);
			continue;
		}
		if (!p->files_left && !p->qlen && !p->active)
			break;
		pthread_cond_wait(&p->cv, &p->mu);
	}
	p->exited++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	EVP_MD_CTX_free(h.c);
	return NULL;
}

/* bytes [from, to) of the stream that file f covers, from its fragments */
static void fragment(const struct ms_hash_job *job, const struct ms_hash_file *f,
		     int64_t from, int64_t to, uint8_t *dst)
{
	int64_t P = job->piece_length;
	int64_t head_end = f->offset + (int64_t)f->head_len;
	int64_t tail_start = f->offset + f->size - (int64_t)f->tail_len;

	(void)P;
	for (int64_t x = from; x < to;) {
		if (f->pad) {
			memset(dst + (x - from), 0, (size_t)(to - x));
			return;
		}
		if (x < head_end) {
			int64_t e = to < head_end ? to : head_end;
			memcpy(dst + (x - from), f->head + (x - f->offset), (size_t)(e - x));
			x = e;
		} else if (x >= tail_start) {
			memcpy(dst + (x - from), f->tail + (x - tail_start), (size_t)(to - x));
			x = to;
		} else {
			/* inside the whole pieces: cannot happen for a shared piece */
			memset(dst + (x - from), 0, (size_t)(to - x));
			x = to;
		}
	}
}

/* pieces that span files (or a file and pad files) */
static int stitch(struct pool *p, struct hasher *h)
{
	struct ms_hash_job *job = p->job;
	int64_t P = job->piece_length, total = 0;
	uint8_t *buf;
	size_t fi = 0;

	for (size_t i = 0; i < job->n_files; i++)
		total = job->files[i].offset + job->files[i].size > total
				? job->files[i].offset + job->files[i].size
				: total;
	buf = malloc((size_t)P);
	if (!buf)
		return MS_ENOMEM;
	for (int piece = 0; piece < job->num_pieces; piece++) {
		int64_t ps = (int64_t)piece * P, pe = ps + P;
		if (p->v1_done[piece])
			continue;
		if (pe > total)
			pe = total;
		memset(buf, 0, (size_t)P);
		while (fi < job->n_files &&
		       job->files[fi].offset + job->files[fi].size <= ps)
			fi++;
		for (size_t k = fi; k < job->n_files && job->files[k].offset < pe; k++) {
			const struct ms_hash_file *f = &job->files[k];
			int64_t s = f->offset > ps ? f->offset : ps;
			int64_t e = f->offset + f->size < pe ? f->offset + f->size : pe;
			if (s < e)
				fragment(job, f, s, e, buf + (s - ps));
		}
		digest(h, h->sha1, buf, (size_t)(pe - ps), job->v1_hashes + 20 * piece);
	}
	free(buf);
	return 0;
}

static struct ms_hash_job *sort_job;

static int by_size_desc(const void *a, const void *b)
{
	int64_t x = sort_job->files[*(const size_t *)a].size;
	int64_t y = sort_job->files[*(const size_t *)b].size;

	return x < y ? 1 : x > y ? -1 : 0;
}

int ms_hash_run(struct ms_hash_job *job, struct ms_error *err)
{
	struct pool p;
	struct hasher h = { 0 };
	pthread_t tids[64];
	int nt = job->threads > 0 ? job->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int started = 0;
	int64_t total = 0;
	int r = 0;

	if (nt < 1)
		nt = 1;
	if (nt > 64)
		nt = 64;
	memset(&p, 0, sizeof(p));
	p.job = job;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	/* a chunk is a whole number of pieces and of v2 blocks */
	p.chunk_size = (size_t)job->piece_length;
	while (p.chunk_size < CHUNK)
		p.chunk_size *= 2;
	job->v1_hashes = NULL;
	p.sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	p.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!p.sha1 || !p.sha256 || !hasher_init(&h, &p)) {
		r = ms_error_set(err, MS_ENOMEM, "cannot set up SHA-1 and SHA-256");
		goto out;
	}
	p.fs = calloc(job->n_files ? job->n_files : 1, sizeof(*p.fs));
	p.order = malloc((job->n_files ? job->n_files : 1) * sizeof(*p.order));
	p.open = malloc((job->n_files ? job->n_files : 1) * sizeof(*p.open));
	if (!p.fs || !p.order || !p.open) {
		r = ms_error_set(err, MS_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < job->n_files; i++) {
		p.fs[i].fd = -1;
		p.order[i] = i;
		if (!job->files[i].pad) {
			total += job->files[i].size;
			p.files_left++;
		}
	}
	sort_job = job;
	qsort(p.order, job->n_files, sizeof(*p.order), by_size_desc);
	if (job->v1 && job->num_pieces > 0) {
		job->v1_hashes = calloc((size_t)job->num_pieces, 20);
		p.v1_done = calloc((size_t)job->num_pieces, 1);
		if (!job->v1_hashes || !p.v1_done) {
			r = ms_error_set(err, MS_ENOMEM, "out of memory");
			goto out;
		}
	}
	/* buffers: enough for a full queue plus one being read per thread */
	int nbuf = QMAX / 2 + nt;
	if ((size_t)nbuf * p.chunk_size > (256u << 20))
		nbuf = (int)((256u << 20) / p.chunk_size);
	if (nbuf < nt + 1)
		nbuf = nt + 1;
	for (int i = 0; i < nbuf; i++) {
		uint8_t *b = malloc(p.chunk_size);
		if (!b) {
			r = ms_error_set(err, MS_ENOMEM, "out of memory");
			goto out;
		}
		p.bufs[p.nbufs++] = b;
	}
	for (int i = 0; i < nt; i++) {
		if (pthread_create(&tids[i], NULL, worker, &p)) {
			fail(&p, MS_ENOMEM, "%s%s", "cannot start a hashing thread", "");
			break;
		}
		started++;
	}
	/* report progress while the workers run, every 100 ms, and go on
	 * as soon as the last one returns */
	pthread_mutex_lock(&p.mu);
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (p.exited < started && pthread_cond_timedwait(&p.cv, &p.mu, &ts) == 0)
			;
		if (job->progress) {
			pthread_mutex_unlock(&p.mu);
			job->progress(job->ud, atomic_load(&p.done), total);
			pthread_mutex_lock(&p.mu);
		}
		if (p.exited >= started)
			break;
	}
	pthread_mutex_unlock(&p.mu);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (atomic_load(&p.failed)) {
		r = p.err.code;
		if (err)
			*err = p.err;
		goto out;
	}
	for (size_t i = 0; i < job->n_files; i++) {
		if (job->files[i].pad || !job->v2)
			continue;
		if (piece_layer(&h, job, &job->files[i], p.fs[i].blocks, p.fs[i].nblocks)) {
			r = ms_error_set(err, MS_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (job->v1 && (r = stitch(&p, &h)))
		ms_error_set(err, r, "out of memory");
out:
	for (size_t i = 0; p.fs && i < job->n_files; i++) {
		if (p.fs[i].fd >= 0)
			close(p.fs[i].fd);
		EVP_MD_CTX_free(p.fs[i].flat);
		EVP_MD_CTX_free(p.fs[i].git);
		free(p.fs[i].blocks);
		free(job->files[i].head);
		free(job->files[i].tail);
		job->files[i].head = job->files[i].tail = NULL;
	}
	for (size_t i = 0; i < p.nbufs; i++)
		free(p.bufs[i]);
	/* after a failure the workers leave chunks read and not hashed */
	for (size_t i = 0; i < p.qlen; i++)
		free(p.queue[(p.qhead + i) % QMAX].buf);
	free(p.fs);
	free(p.order);
	free(p.open);
	free(p.v1_done);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	EVP_MD_CTX_free(h.c);
	EVP_MD_free(p.sha1);
	EVP_MD_free(p.sha256);
	if (r) {
		free(job->v1_hashes);
		job->v1_hashes = NULL;
	}
	return r;
}

void ms_hash_job_release(struct ms_hash_job *job)
{
	for (size_t i = 0; i < job->n_files; i++) {
		free(job->files[i].piece_layer);
		job->files[i].piece_layer = NULL;
	}
	free(job->v1_hashes);
	job->v1_hashes = NULL;
}
