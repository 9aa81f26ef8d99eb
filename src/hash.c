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

struct pool {
	struct ms_hash_job *job;
	atomic_size_t next;       /* next file index to take */
	atomic_llong done;        /* bytes hashed */
	atomic_int failed;
	pthread_mutex_t mu;
	struct ms_error err;      /* first error, under mu */
	size_t *order;            /* files by size, largest first */
	uint8_t *v1_done;         /* pieces computed by a worker */
};

void ms_hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static void fail(struct pool *p, int code, const char *fmt, const char *a,
		 const char *b)
{
	pthread_mutex_lock(&p->mu);
	if (!atomic_load(&p->failed)) {
		ms_error_set(&p->err, code, fmt, a, b);
		atomic_store(&p->failed, 1);
	}
	pthread_mutex_unlock(&p->mu);
}

static void sha256(const void *d, size_t n, uint8_t out[32])
{
	EVP_Digest(d, n, out, NULL, EVP_sha256(), NULL);
}

static void merkle_pair(const uint8_t *l, const uint8_t *r, uint8_t out[32])
{
	uint8_t b[64];

	memcpy(b, l, 32);
	memcpy(b + 32, r, 32);
	sha256(b, 64, out);
}

/* root of n leaves (n a power of two), in place */
static void merkle_root(uint8_t *leaves, size_t n, uint8_t out[32])
{
	while (n > 1) {
		for (size_t i = 0; i < n / 2; i++)
			merkle_pair(leaves + 64 * i, leaves + 64 * i + 32, leaves + 32 * i);
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
static int piece_layer(struct ms_hash_job *job, struct ms_hash_file *f,
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
		merkle_root(tmp, width, f->piece_layer + 32 * k);
	}
	f->n_piece_layer = (int)npieces;
	free(tmp);
	return 0;
}

static void hash_file(struct pool *p, size_t idx, uint8_t *buf)
{
	struct ms_hash_job *job = p->job;
	struct ms_hash_file *f = &job->files[idx];
	int64_t P = job->piece_length;
	int64_t off = f->offset, size = f->size;
	/* file-relative bounds of the whole pieces inside this file */
	int64_t a = (off + P - 1) / P * P, b = (off + size) / P * P;
	int64_t full_lo, full_hi;
	size_t nblocks = (size_t)((size + MS_V2_BLOCK - 1) / MS_V2_BLOCK);
	uint8_t *blocks = NULL;
	EVP_MD_CTX *flat = EVP_MD_CTX_new(), *git = NULL, *v1 = NULL;
	int64_t pos = 0, piece_fill = 0;
	size_t block_fill = 0;
	EVP_MD_CTX *leaf = NULL;
	char full[4096];
	int fd = -1;

	if (off + size <= a) {
		full_lo = full_hi = size; /* all of it is the head */
	} else {
		full_lo = a - off;
		full_hi = b - off;
	}
	f->head_len = (size_t)full_lo;
	f->tail_len = (size_t)(size - (full_hi > full_lo ? full_hi : full_lo));
	if (f->head_len == (size_t)size)
		f->tail_len = 0;
	if (!flat)
		goto nomem;
	if (job->v1) {
		f->head = f->head_len ? malloc(f->head_len) : NULL;
		f->tail = f->tail_len ? malloc(f->tail_len) : NULL;
		if ((f->head_len && !f->head) || (f->tail_len && !f->tail))
			goto nomem;
		if (!(v1 = EVP_MD_CTX_new()))
			goto nomem;
	}
	if (job->v2 && nblocks) {
		blocks = malloc(nblocks * 32);
		leaf = EVP_MD_CTX_new();
		if (!blocks || !leaf)
			goto nomem;
		EVP_DigestInit_ex(leaf, EVP_sha256(), NULL);
	}
	EVP_DigestInit_ex(flat, EVP_sha256(), NULL);
	if (f->want_git) {
		char hdr[64];
		int n = snprintf(hdr, sizeof(hdr), "blob %lld", (long long)size);
		if (!(git = EVP_MD_CTX_new()))
			goto nomem;
		EVP_DigestInit_ex(git, EVP_sha1(), NULL);
		EVP_DigestUpdate(git, hdr, (size_t)n + 1); /* with the NUL */
	}

	snprintf(full, sizeof(full), "%s/%s", job->dir, f->path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(p, ms_error_from_errno(errno), "cannot open '%s': %s", full,
		     strerror(errno));
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (pos < size && !atomic_load(&p->failed)) {
		size_t want = (size_t)(size - pos < CHUNK ? size - pos : CHUNK);
		ssize_t r = read(fd, buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail(p, r < 0 ? MS_EIO : MS_EINVAL,
			     r < 0 ? "cannot read '%s': %s" : "'%s' %s", full,
			     r < 0 ? strerror(errno) : "shrank while being hashed");
			goto out;
		}
		const uint8_t *d = buf;
		size_t n = (size_t)r;

		EVP_DigestUpdate(flat, d, n);
		if (git)
			EVP_DigestUpdate(git, d, n);
		if (leaf) {
			size_t i = 0;
			while (i < n) {
				size_t take = MS_V2_BLOCK - (block_fill % MS_V2_BLOCK);
				if (take > n - i)
					take = n - i;
				EVP_DigestUpdate(leaf, d + i, take);
				block_fill += take;
				i += take;
				if (block_fill % MS_V2_BLOCK == 0) {
					size_t bi = block_fill / MS_V2_BLOCK - 1;
					EVP_DigestFinal_ex(leaf, blocks + 32 * bi, NULL);
					EVP_DigestInit_ex(leaf, EVP_sha256(), NULL);
				}
			}
		}
		if (v1) {
			int64_t s = pos, e = pos + (int64_t)n;
			/* head bytes */
			if (s < full_lo) {
				int64_t h = e < full_lo ? e : full_lo;
				memcpy(f->head + s, d, (size_t)(h - s));
			}
			/* whole pieces */
			int64_t fs = s > full_lo ? s : full_lo;
			int64_t fe = e < full_hi ? e : full_hi;
			while (fs < fe) {
				int64_t take = P - piece_fill;
				if (take > fe - fs)
					take = fe - fs;
				if (piece_fill == 0)
					EVP_DigestInit_ex(v1, EVP_sha1(), NULL);
				EVP_DigestUpdate(v1, d + (fs - s), (size_t)take);
				piece_fill += take;
				fs += take;
				if (piece_fill == P) {
					int64_t piece = (off + fs - P) / P;
					EVP_DigestFinal_ex(v1, job->v1_hashes + 20 * piece, NULL);
					p->v1_done[piece] = 1;
					piece_fill = 0;
				}
			}
			/* tail bytes */
			int64_t tl = full_hi > full_lo ? full_hi : full_lo;
			if (f->tail_len && e > tl) {
				int64_t ts = s > tl ? s : tl;
				memcpy(f->tail + (ts - tl), d + (ts - s), (size_t)(e - ts));
			}
		}
		pos += (int64_t)n;
		atomic_fetch_add(&p->done, (long long)n);
	}
	if (atomic_load(&p->failed))
		goto out;
	{
		/* the file must not have grown either */
		uint8_t extra;
		ssize_t r = read(fd, &extra, 1);
		if (r != 0) {
			fail(p, MS_EINVAL, "'%s' %s", full, "grew while being hashed");
			goto out;
		}
	}
	EVP_DigestFinal_ex(flat, f->sha256, NULL);
	if (git)
		EVP_DigestFinal_ex(git, f->git_sha1, NULL);
	if (leaf) {
		if (block_fill % MS_V2_BLOCK) {
			size_t bi = block_fill / MS_V2_BLOCK;
			EVP_DigestFinal_ex(leaf, blocks + 32 * bi, NULL);
		}
		if (piece_layer(job, f, blocks, nblocks))
			goto nomem;
	}
	goto out;
nomem:
	fail(p, MS_ENOMEM, "%s%s", "out of memory", "");
out:
	if (fd >= 0)
		close(fd);
	free(blocks);
	EVP_MD_CTX_free(flat);
	EVP_MD_CTX_free(git);
	EVP_MD_CTX_free(v1);
	EVP_MD_CTX_free(leaf);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	uint8_t *buf = malloc(CHUNK);

	if (!buf) {
		fail(p, MS_ENOMEM, "%s%s", "out of memory", "");
		return NULL;
	}
	for (;;) {
		size_t k = atomic_fetch_add(&p->next, 1);
		if (k >= p->job->n_files || atomic_load(&p->failed))
			break;
		size_t idx = p->order[k];
		if (!p->job->files[idx].pad)
			hash_file(p, idx, buf);
	}
	free(buf);
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
static int stitch(struct pool *p)
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
		EVP_Digest(buf, (size_t)(pe - ps), job->v1_hashes + 20 * piece, NULL,
			   EVP_sha1(), NULL);
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
	pthread_t *tids;
	int nt = job->threads > 0 ? job->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int64_t total = 0;
	int r = 0;

	if (nt < 1)
		nt = 1;
	if (nt > 64)
		nt = 64;
	memset(&p, 0, sizeof(p));
	p.job = job;
	pthread_mutex_init(&p.mu, NULL);
	for (size_t i = 0; i < job->n_files; i++)
		if (!job->files[i].pad)
			total += job->files[i].size;
	job->v1_hashes = NULL;
	if (job->v1 && job->num_pieces > 0) {
		job->v1_hashes = calloc((size_t)job->num_pieces, 20);
		p.v1_done = calloc((size_t)job->num_pieces, 1);
		if (!job->v1_hashes || !p.v1_done) {
			r = ms_error_set(err, MS_ENOMEM, "out of memory");
			goto out;
		}
	}
	p.order = malloc(job->n_files * sizeof(*p.order));
	tids = calloc((size_t)nt, sizeof(*tids));
	if (!p.order || !tids) {
		free(tids);
		r = ms_error_set(err, MS_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < job->n_files; i++)
		p.order[i] = i;
	sort_job = job;
	qsort(p.order, job->n_files, sizeof(*p.order), by_size_desc);
	if ((size_t)nt > job->n_files)
		nt = (int)(job->n_files ? job->n_files : 1);
	for (int i = 0; i < nt; i++) {
		if (pthread_create(&tids[i], NULL, worker, &p)) {
			nt = i;
			fail(&p, MS_ENOMEM, "%s%s", "cannot start a hashing thread", "");
			break;
		}
	}
	/* report progress while the workers run */
	for (;;) {
		int running = 0;
		for (int i = 0; i < nt; i++)
			if (pthread_tryjoin_np(tids[i], NULL) == EBUSY)
				running++;
			else
				tids[i] = tids[--nt], i--;
		if (job->progress)
			job->progress(job->ud, atomic_load(&p.done), total);
		if (!running)
			break;
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	free(tids);
	if (atomic_load(&p.failed)) {
		r = p.err.code;
		if (err)
			*err = p.err;
		goto out;
	}
	if (job->v1 && (r = stitch(&p)))
		ms_error_set(err, r, "out of memory");
out:
	for (size_t i = 0; i < job->n_files; i++) {
		free(job->files[i].head);
		free(job->files[i].tail);
		job->files[i].head = job->files[i].tail = NULL;
	}
	free(p.order);
	free(p.v1_done);
	pthread_mutex_destroy(&p.mu);
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
