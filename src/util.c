/* util.c: files, paths, sizes, host:port */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ms_util.h"

int ms_read_file(const char *path, size_t cap, unsigned char **buf,
		 size_t *len, struct ms_error *err)
{
	struct stat st;
	unsigned char *b;
	size_t got = 0;
	int fd;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return ms_error_set(err, ms_error_from_errno(errno),
				    "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ms_error_set(err, MS_EIO, "cannot stat '%s': %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ms_error_set(err, MS_EINVAL, "'%s' is not a regular file", path);
	}
	if ((uint64_t)st.st_size > cap) {
		close(fd);
		return ms_error_set(err, MS_ETOOBIG,
				    "'%s' is too large (%lld bytes, at most %zu)",
				    path, (long long)st.st_size, cap);
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(b);
			close(fd);
			return ms_error_set(err, MS_EIO, "cannot read '%s': %s",
					    path, strerror(e));
		}
		got += (size_t)r;
	}
	close(fd);
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

void *ms_iobuf_new(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void ms_iobuf_free(void *buf, size_t len)
{
	if (buf)
		munmap(buf, len);
}

int ms_write_close(int fd, const void *buf, size_t len, int mode)
{
	const unsigned char *p = buf;
	int e;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, (mode_t)mode) < 0 || fsync(fd) < 0)
		goto fail;
	return close(fd);
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int ms_write_file_atomic(const char *path, const void *buf, size_t len,
			 int mode, struct ms_error *err)
{
	char tmp[PATH_MAX];
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return ms_error_set(err, MS_EINVAL, "path too long: '%s'", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return ms_error_set(err, ms_error_from_errno(errno),
				    "cannot create '%s': %s", tmp, strerror(errno));
	if (ms_write_close(fd, buf, len, mode) < 0 || rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		return ms_error_set(err, ms_error_from_errno(e), "cannot write '%s': %s",
				    path, strerror(e));
	}
	return 0;
}

int ms_mkdir_p(const char *path, struct ms_error *err)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return ms_error_set(err, MS_EINVAL, "bad directory name '%s'", path);
	memcpy(buf, path, n + 1);
	for (char *s = buf + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			struct stat st;
			*s = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return ms_error_set(err, ms_error_from_errno(errno),
						    "cannot create directory '%s': %s",
						    buf, strerror(errno));
			if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
				return ms_error_set(err, MS_EEXIST,
						    "'%s' exists and is not a directory", buf);
			*s = c;
			if (!c)
				break;
		}
	}
	return 0;
}

int ms_parse_size(const char *s, int64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return MS_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return MS_EINVAL;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return MS_EINVAL;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return MS_EINVAL;
	if (v > (unsigned long long)INT64_MAX >> shift)
		return MS_EINVAL;
	*out = (int64_t)(v << shift);
	return 0;
}

int ms_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long p;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return MS_EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return MS_EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return MS_EINVAL;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
		return MS_EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

const char *ms_fmt_bytes(char *buf, size_t len, double b)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", b);
	else
		snprintf(buf, len, "%.1f %s", b, unit[u]);
	return buf;
}

uint64_t ms_fnv64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ? seed : 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int ms_strlist_push(struct ms_strlist *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		/* (calloc, not malloc: see ms_keep_strdup) */
		const char **v = l->v ? realloc(l->v, cap * sizeof(*v)) : calloc(cap, sizeof(*v));
		if (!v)
			return MS_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return 0;
}

char *ms_keep_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = calloc(1, n);

	return d ? memcpy(d, s, n) : NULL;
}

int ms_strlist_push_copy(struct ms_strlist *l, const char *s)
{
	char *c = ms_keep_strdup(s);

	if (!c || ms_strlist_push(l, c)) {
		free(c);
		return MS_ENOMEM;
	}
	l->owned = 1;
	return 0;
}

void ms_strlist_release(struct ms_strlist *l)
{
	for (size_t i = 0; l->owned && i < l->n; i++)
		free((char *)l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int ms_strlist_glob_match(const struct ms_strlist *l, const char *path)
{
	const char *base = strrchr(path, '/');

	for (size_t i = 0; l && i < l->n; i++)
		if (!fnmatch(l->v[i], path, 0) ||
		    (!strchr(l->v[i], '/') && !fnmatch(l->v[i], base ? base + 1 : path, 0)))
			return 1;
	return 0;
}

/* remove empty directories under path, bottom-up; never touches files */
void ms_prune_empty_dirs(const char *path, int depth)
{
	DIR *d;
	struct dirent *de;

	if (depth > 64 || !(d = opendir(path)))
		return;
	while ((de = readdir(d))) {
		char child[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s/%s", path,
				     de->d_name) >= sizeof(child))
			continue;
		if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
			ms_prune_empty_dirs(child, depth + 1);
	}
	closedir(d);
	rmdir(path);
}

/* ---- paths under a directory, never through a symlink ----------------- */

int ms_walk_beneath(int at, const char *rel, int mkdirs, int *dfd,
		    const char **leaf, size_t *bad)
{
	const char *c = rel, *slash;
	size_t n;
	int cur = fcntl(at, F_DUPFD_CLOEXEC, 0), e;

	if (cur < 0)
		return -1;
	for (;; c = slash + 1) {
		char name[NAME_MAX + 1];
		int sub;

		slash = strchr(c, '/');
		n = slash ? (size_t)(slash - c) : strlen(c);
		if (n == 0 || n > NAME_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.')) {
			e = n > NAME_MAX ? ENAMETOOLONG : EINVAL;
			goto fail;
		}
		if (!slash)
			break;
		memcpy(name, c, n);
		name[n] = '\0';
		sub = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 && errno == ENOENT && mkdirs) {
			if (mkdirat(cur, name, 0755) < 0 && errno != EEXIST) {
				e = errno;
				goto fail;
			}
			sub = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (sub < 0) {
			struct stat st;
			e = errno;
			/* O_DIRECTORY wins over O_NOFOLLOW: a symlink says ENOTDIR */
			if (e == ENOTDIR && fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				e = ELOOP;
			goto fail;
		}
		close(cur);
		cur = sub;
	}
	*dfd = cur;
	*leaf = c;
	return 0;
fail:
	close(cur);
	if (bad)
		*bad = (size_t)(c - rel) + n;
	errno = e;
	return -1;
}

int ms_open_beneath(int at, const char *rel, int flags, int mode, int mkdirs,
		    size_t *bad)
{
	const char *leaf;
	int dfd, fd, e;

	if (bad)
		*bad = strlen(rel);
	if (ms_walk_beneath(at, rel, mkdirs, &dfd, &leaf, bad) < 0)
		return -1;
	fd = openat(dfd, leaf, flags | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	e = errno;
	close(dfd);
	errno = e;
	return fd;
}

int ms_stat_beneath(int at, const char *rel, struct stat *st, size_t *bad)
{
	const char *leaf;
	int dfd, r, e;

	if (bad)
		*bad = strlen(rel);
	if (ms_walk_beneath(at, rel, 0, &dfd, &leaf, bad) < 0)
		return -1;
	r = fstatat(dfd, leaf, st, AT_SYMLINK_NOFOLLOW);
	e = errno;
	close(dfd);
	errno = e;
	return r;
}

static int remove_tree(int dirfd, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth > 64)
		return -1;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    remove_tree(fd, de->d_name, depth + 1))
			r = -1;
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -1;
	return r;
}

int ms_remove_tree_at(int dirfd, const char *name)
{
	return remove_tree(dirfd, name, 0);
}

char *ms_url_escape_path(const char *p)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(p) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~/", c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}
