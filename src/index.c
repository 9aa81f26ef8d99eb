/* index.c: a repository's directory in an index, written so that a crash
 * at any instant leaves a state the next publish repairs (ms_index.h) */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ms_index.h"
#include "ms_manifest.h"
#include "ms_util.h"

static int sync_dir(struct ms_index_dir *d, struct ms_error *err)
{
	if (fsync(d->fd) < 0)
		return ms_error_set(err, ms_error_from_errno(errno), "cannot sync '%s': %s",
				    d->path, strerror(errno));
	return 0;
}

static int join(const struct ms_index_dir *d, const char *name, const char *suffix,
		char *out, size_t len, struct ms_error *err)
{
	if ((size_t)snprintf(out, len, "%s/%s%s", d->path, name, suffix) >= len)
		return ms_error_set(err, MS_EINVAL, "path too long: '%s/%s'", d->path, name);
	return 0;
}

/* NAME.tmp.XXXXXX, as ms_write_file_atomic names its temporary files */
static int is_tmp(const char *name)
{
	size_t n = strlen(name);

	if (n < 12 || memcmp(name + n - 11, ".tmp.", 5))
		return 0;
	for (size_t i = n - 6; i < n; i++)
		if (!isalnum((unsigned char)name[i]))
			return 0;
	return 1;
}

/* name ends in MS_INDEX_STAGED: does it sign the file it is staged for? */
static int staged_verifies(const struct ms_index_dir *d, const char *name,
			   const struct ms_pubkey *pk)
{
	size_t n = strlen(name) - strlen(MS_INDEX_STAGED);
	char file[sizeof(d->path) + 512], sig[sizeof(file)];
	unsigned char *fb = NULL, *sb = NULL;
	size_t fl, sl;
	int ok;

	snprintf(file, sizeof(file), "%s/%.*s", d->path, (int)n, name);
	snprintf(sig, sizeof(sig), "%s/%s", d->path, name);
	ok = !ms_read_file(file, MS_MANIFEST_MAX, &fb, &fl, NULL) &&
	     !ms_read_file(sig, MS_SIGFILE_MAX, &sb, &sl, NULL) &&
	     !ms_verify(pk, fb, fl, (char *)sb, sl, NULL, 0, NULL);
	free(fb);
	free(sb);
	return ok;
}

static int say(void (*note)(void *ud, const char *msg), void *ud, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int say(void (*note)(void *ud, const char *msg), void *ud, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;

	if (note) {
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		note(ud, buf);
	}
	return 1;
}

/* what an interrupted publish left: the names first, then the repairs */
static int recover(struct ms_index_dir *d, const struct ms_pubkey *pk,
		   void (*note)(void *ud, const char *msg), void *ud, struct ms_error *err)
{
	struct ms_strlist names = { 0 };
	struct dirent *e;
	size_t tmps = 0, sl = strlen(MS_INDEX_STAGED);
	int fd = dup(d->fd), changed = 0, r = 0;
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;

	if (!dir) {
		r = ms_error_set(err, ms_error_from_errno(errno), "cannot read '%s': %s",
				 d->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	while ((e = readdir(dir))) {
		size_t n = strlen(e->d_name);
		if (is_tmp(e->d_name) || (n > sl && !strcmp(e->d_name + n - sl, MS_INDEX_STAGED)))
			if (ms_strlist_push_copy(&names, e->d_name)) {
				r = ms_error_set(err, MS_ENOMEM, "out of memory");
				break;
			}
	}
	closedir(dir);
	for (size_t i = 0; !r && i < names.n; i++) {
		const char *name = names.v[i];
		size_t n = strlen(name);
		char to[sizeof(d->path) + 512];

		if (is_tmp(name)) {
			if (unlinkat(d->fd, name, 0) < 0 && errno != ENOENT)
				r = ms_error_set(err, ms_error_from_errno(errno),
						 "cannot remove '%s/%s': %s", d->path, name,
						 strerror(errno));
			tmps++;
			changed = 1;
			continue;
		}
		/* FILE.minisig.new: FILE.minisig if it signs FILE */
		snprintf(to, sizeof(to), "%.*s.minisig", (int)(n - sl), name);
		if (staged_verifies(d, name, pk)) {
			if (renameat(d->fd, name, d->fd, to) < 0)
				r = ms_error_set(err, ms_error_from_errno(errno),
						 "cannot rename '%s/%s': %s", d->path, name,
						 strerror(errno));
			else
				changed = say(note, ud, "completed '%s/%s', left half-written by an "
					      "interrupted publish", d->path, to);
		} else if (unlinkat(d->fd, name, 0) < 0 && errno != ENOENT) {
			r = ms_error_set(err, ms_error_from_errno(errno),
					 "cannot remove '%s/%s': %s", d->path, name, strerror(errno));
		} else {
			changed = say(note, ud, "removed '%s/%s', staged by an interrupted "
				      "publish that did not get further", d->path, name);
		}
	}
	if (!r && tmps)
		say(note, ud, "removed %zu temporary file%s left in '%s' by an interrupted "
		    "publish", tmps, tmps == 1 ? "" : "s", d->path);
	ms_strlist_release(&names);
	if (!r && changed)
		r = sync_dir(d, err);
	return r;
}

int ms_index_open(struct ms_index_dir *d, const char *path, const struct ms_pubkey *pk,
		  void (*note)(void *ud, const char *msg), void *ud, struct ms_error *err)
{
	int r;

	d->fd = -1;
	if (strlen(path) >= sizeof(d->path))
		return ms_error_set(err, MS_EINVAL, "index path too long: '%s'", path);
	snprintf(d->path, sizeof(d->path), "%s", path);
	if ((r = ms_mkdir_p(path, err)))
		return r;
	d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0)
		return ms_error_set(err, ms_error_from_errno(errno), "cannot open '%s': %s",
				    path, strerror(errno));
	if (flock(d->fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		ms_index_close(d);
		if (e == EWOULDBLOCK)
			return ms_error_set(err, MS_EAGAIN, "another publish is writing '%s'",
					    path);
		return ms_error_set(err, ms_error_from_errno(e), "cannot lock '%s': %s", path,
				    strerror(e));
	}
	if ((r = recover(d, pk, note, ud, err)))
		ms_index_close(d);
	return r;
}

void ms_index_close(struct ms_index_dir *d)
{
	if (d->fd >= 0)
		close(d->fd); /* and the lock with it */
	d->fd = -1;
}

int ms_index_write(struct ms_index_dir *d, const char *name, const void *buf, size_t len,
		   struct ms_error *err)
{
	char path[sizeof(d->path) + 512];
	int r;

	if ((r = join(d, name, "", path, sizeof(path), err)) ||
	    (r = ms_write_file_atomic(path, buf, len, 0644, err)))
		return r;
	return sync_dir(d, err);
}

int ms_index_write_signed(struct ms_index_dir *d, const char *name, const char *text,
			  size_t len, const struct ms_seckey *sk, const char *comment,
			  struct ms_error *err)
{
	char staged[sizeof(d->path) + 512], sigpath[sizeof(staged)];
	char *sig = NULL;
	int r;

	if ((r = join(d, name, MS_INDEX_STAGED, staged, sizeof(staged), err)) ||
	    (r = join(d, name, ".minisig", sigpath, sizeof(sigpath), err)) ||
	    (r = ms_sign(sk, text, len, comment, &sig, err)))
		return r;
	/* the new signature where the next publish (and a reader of a torn
	 * pair) finds it, then the file, then the signature in its place */
	r = ms_write_file_atomic(staged, sig, strlen(sig), 0644, err);
	free(sig);
	if (r || (r = sync_dir(d, err)) || (r = ms_index_write(d, name, text, len, err)))
		return r;
	if (rename(staged, sigpath) < 0)
		return ms_error_set(err, ms_error_from_errno(errno), "cannot rename '%s': %s",
				    staged, strerror(errno));
	return sync_dir(d, err);
}
