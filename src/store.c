/* store.c: the Hugging Face hub cache layout */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ms_hash.h"
#include "ms_store.h"
#include "ms_util.h"

/* bytes read at a time to hash or copy a file */
#define IOBUF (1 << 20)
#define SMALL_FILE (64 << 10)

/* a variable that is set and not empty, else NULL */
static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* Python's os.path.expanduser: a leading "~" is $HOME (else the passwd
 * entry), "~name" is name's home directory; one that cannot be found is
 * left as it is.  -1 if out does not hold the result. */
static int expand_user(const char *in, char *out, size_t len)
{
	const char *rest, *home = NULL;
	struct passwd *pw;
	char name[256];
	size_t hl;
	int n;

	if (in[0] != '~')
		goto as_is;
	rest = strchr(in, '/');
	if (!rest)
		rest = in + strlen(in);
	if (rest == in + 1) {
		home = env("HOME");
		if (!home && (pw = getpwuid(getuid())))
			home = pw->pw_dir;
	} else if ((size_t)(rest - in - 1) < sizeof(name)) {
		memcpy(name, in + 1, rest - in - 1);
		name[rest - in - 1] = '\0';
		if ((pw = getpwnam(name)))
			home = pw->pw_dir;
	}
	if (!home)
		goto as_is;
	hl = strlen(home);
	while (hl > 0 && home[hl - 1] == '/')
		hl--;
	n = snprintf(out, len, "%.*s%s", (int)hl, home, hl || *rest ? rest : "/");
	return n < 0 || (size_t)n >= len ? -1 : 0;
as_is:
	n = snprintf(out, len, "%s", in);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Python's os.path.expandvars on POSIX: "$NAME" (NAME of [A-Za-z0-9_]) and
 * "${NAME}" become the variable's value; an unset variable is left as
 * written; values are not expanded again.  -1 if out is too small. */
static int expand_vars(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = in; *p;) {
		const char *name = NULL, *end = NULL, *v;
		char var[256];
		size_t nl;

		if (p[0] == '$' && p[1] == '{' && (end = strchr(p + 2, '}')))
			name = p + 2;
		else if (p[0] == '$') {
			for (end = p + 1; isalnum((unsigned char)*end) || *end == '_'; end++)
				;
			name = end > p + 1 ? p + 1 : NULL;
		}
		nl = name ? (size_t)(end - name) : 0;
		if (name && nl < sizeof(var)) {
			memcpy(var, name, nl);
			var[nl] = '\0';
			if (nl && (v = getenv(var))) {
				size_t vl = strlen(v);
				if (o + vl >= len)
					return -1;
				memcpy(out + o, v, vl);
				o += vl;
				p = *end == '}' && p[1] == '{' ? end + 1 : end;
				continue;
			}
		}
		/* not a variable, or an unset one: copy it as it is */
		{
			const char *to = name ? (*end == '}' && p[1] == '{' ? end + 1 : end) : p + 1;
			if (o + (size_t)(to - p) >= len)
				return -1;
			memcpy(out + o, p, to - p);
			o += to - p;
			p = to;
		}
	}
	if (o >= len)
		return -1;
	out[o] = '\0';
	return 0;
}

/* expandvars(expanduser(in)), as huggingface_hub does it */
static int expand(const char *in, char *out, size_t len)
{
	char tmp[2 * PATH_MAX];

	if (expand_user(in, tmp, sizeof(tmp)))
		return -1;
	return expand_vars(tmp, out, len);
}

int ms_store_cache_dir(const char *override, char *buf, size_t len,
		       struct ms_error *err)
{
	char home[2 * PATH_MAX], hub[2 * PATH_MAX];
	const char *v;
	int n;

	if (override && *override) {
		n = snprintf(buf, len, "%s", override);
		if (n < 0 || (size_t)n >= len)
			return ms_error_set(err, MS_EINVAL, "cache path too long");
		return 0;
	}
	/* huggingface_hub's constants.py: HF_HOME defaults to
	 * $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface, and is
	 * expanded; the hub cache is $HF_HUB_CACHE, else the legacy
	 * $HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, and is expanded (so
	 * HF_HOME is expanded twice, there too) */
	if ((v = env("HF_HOME")))
		n = snprintf(home, sizeof(home), "%s", v);
	else if ((v = env("XDG_CACHE_HOME")))
		n = snprintf(home, sizeof(home), "%s/huggingface", v);
	else
		n = snprintf(home, sizeof(home), "~/.cache/huggingface");
	if (n < 0 || (size_t)n >= sizeof(home) || expand(home, hub, sizeof(hub)))
		return ms_error_set(err, MS_EINVAL, "cache path too long");
	if ((v = env("HF_HUB_CACHE")) || (v = env("HUGGINGFACE_HUB_CACHE")))
		n = snprintf(home, sizeof(home), "%s", v);
	else if (!env("HF_HOME") && !env("XDG_CACHE_HOME") && hub[0] == '~')
		/* no home directory: never a directory named '~' */
		return ms_error_set(err, MS_ENOENT, "no cache directory: set HF_HUB_CACHE or HOME");
	else
		n = snprintf(home, sizeof(home), "%s/hub", hub);
	if (n < 0 || (size_t)n >= sizeof(home) || expand(home, buf, len))
		return ms_error_set(err, MS_EINVAL, "cache path too long");
	return 0;
}

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* why name (shown as "base/name", base may be "") cannot be opened as a
 * directory */
static int dir_error(int e, const char *base, const char *name, struct ms_error *err)
{
	if (e == ELOOP || e == ENOTDIR)
		return ms_error_set(err, MS_EPATH,
				    "'%s%s%s' is not a directory (a symlink?); refusing to use it",
				    base, *base ? "/" : "", name);
	return ms_error_set(err, ms_error_from_errno(e), "cannot open directory '%s%s%s': %s",
			    base, *base ? "/" : "", name, strerror(e));
}

/* mkdir, then insist on a real directory */
static int real_dir(const char *path, struct ms_error *err)
{
	int fd;

	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return ms_error_set(err, ms_error_from_errno(errno),
				    "cannot create directory '%s': %s", path, strerror(errno));
	if ((fd = open(path, DIR_FLAGS)) < 0)
		return dir_error(errno, "", path, err);
	close(fd);
	return 0;
}

/*
 * The directories of rel (all but its last component) under the directory
 * at, made if missing and opened one by one without following a symlink:
 * a directory swapped for a symlink after it was checked cannot send what
 * comes next elsewhere, as a path looked up again would. *fd is the last
 * one (the caller closes it), *leaf the last component. base names at in
 * messages.
 */
static int walk_dirs(int at, const char *base, const char *rel, int *fd,
		     const char **leaf, struct ms_error *err)
{
	const char *c = rel, *slash;
	int cur = fcntl(at, F_DUPFD_CLOEXEC, 0);

	if (cur < 0)
		return ms_error_set(err, MS_EIO, "cannot open directory '%s': %s", base,
				    strerror(errno));
	for (; (slash = strchr(c, '/')); c = slash + 1) {
		size_t n = (size_t)(slash - c);
		char name[NAME_MAX + 1], shown[PATH_MAX];
		int sub;

		snprintf(shown, sizeof(shown), "%s/%.*s", base, (int)(slash - rel), rel);
		if (n == 0 || n > NAME_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.')) {
			close(cur);
			return ms_error_set(err, MS_EPATH, "refusing '%s/%s': a bad component",
					    base, rel);
		}
		memcpy(name, c, n);
		name[n] = '\0';
		if (mkdirat(cur, name, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			close(cur);
			return ms_error_set(err, ms_error_from_errno(e),
					    "cannot create directory '%s': %s", shown, strerror(e));
		}
		sub = openat(cur, name, DIR_FLAGS);
		close(cur);
		if (sub < 0)
			return dir_error(errno, "", shown, err);
		cur = sub;
	}
	*fd = cur;
	*leaf = c;
	return 0;
}

/* base (a real directory; followed if a symlink when follow is set), then
 * walk_dirs() under it */
static int walk_from(const char *base, int follow, const char *rel, int *fd,
		     const char **leaf, struct ms_error *err)
{
	int at = open(base, follow ? O_RDONLY | O_DIRECTORY | O_CLOEXEC : DIR_FLAGS), r;

	if (at < 0)
		return dir_error(errno, "", base, err);
	r = walk_dirs(at, base, rel, fd, leaf, err);
	close(at);
	return r;
}

int ms_store_open(struct ms_store *s, const char *cache, const char *repo,
		  struct ms_error *err)
{
	char p[PATH_MAX + 64];
	const char *slash = strchr(repo, '/');
	int r;

	char real[PATH_MAX];

	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
	if (!slash || strlen(repo) >= sizeof(s->repo))
		return ms_error_set(err, MS_EINVAL, "bad repo '%s'", repo);
	/* absolute paths from here on: they are printed and linked */
	if ((r = ms_mkdir_p(cache, err)))
		return r;
	if (!realpath(cache, real))
		return ms_error_set(err, ms_error_from_errno(errno), "cannot resolve '%s': %s",
				    cache, strerror(errno));
	cache = real;
	snprintf(s->repo, sizeof(s->repo), "%s", repo);
	if ((size_t)snprintf(s->cache, sizeof(s->cache), "%s", cache) >= sizeof(s->cache) ||
	    (size_t)snprintf(s->repo_dir, sizeof(s->repo_dir), "%s/models--%.*s--%s", cache,
			     (int)(slash - repo), repo, slash + 1) >= sizeof(s->repo_dir))
		return ms_error_set(err, MS_EINVAL, "cache path too long");
	if ((r = ms_mkdir_p(cache, err)) || (r = real_dir(s->repo_dir, err)))
		return r;
	if ((size_t)snprintf(p, sizeof(p), "%s/.locks/%s/modelswarm.lock", cache,
			     strrchr(s->repo_dir, '/') + 1) >= sizeof(p))
		return ms_error_set(err, MS_EINVAL, "cache path too long");
	snprintf(p, sizeof(p), "%s/blobs", s->repo_dir);
	if ((r = real_dir(p, err)))
		return r;
	snprintf(p, sizeof(p), "%s/snapshots", s->repo_dir);
	if ((r = real_dir(p, err)))
		return r;
	snprintf(p, sizeof(p), "%s/refs", s->repo_dir);
	if ((r = real_dir(p, err)))
		return r;
	snprintf(p, sizeof(p), "%s/.locks", cache);
	if ((r = real_dir(p, err)))
		return r;
	/* fits: checked with the lock file's name above */
	snprintf(p, sizeof(p), "%s/.locks/%s", cache, strrchr(s->repo_dir, '/') + 1);
	return real_dir(p, err);
}

void ms_store_release(struct ms_store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	s->lock_fd = -1;
	if (s->link_dir[0])
		close(s->link_fd);
	s->link_dir[0] = '\0';
}

int ms_store_lock(struct ms_store *s, void (*waiting)(void *), void *ud,
		  struct ms_error *err)
{
	char p[PATH_MAX + 64];

	if ((size_t)snprintf(p, sizeof(p), "%s/.locks/%s/modelswarm.lock", s->cache,
			     strrchr(s->repo_dir, '/') + 1) >= sizeof(p))
		return ms_error_set(err, MS_EINVAL, "cache path too long");
	s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (s->lock_fd < 0)
		return ms_error_set(err, MS_EIO, "cannot open lock '%s': %s", p, strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return ms_error_set(err, MS_EIO, "cannot lock '%s': %s", p, strerror(errno));
	if (!waiting)
		return ms_error_set(err, MS_EAGAIN, "'%s' is locked by another download", p);
	waiting(ud);
	while (flock(s->lock_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return ms_error_set(err, MS_EIO, "cannot lock '%s': %s", p,
					    strerror(errno));
	return 0;
}

int ms_store_blob_path(const struct ms_store *s, const char *etag, int incomplete,
		       int rel, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%sblobs/%s%s", rel ? "" : s->repo_dir, rel ? "" : "/",
			 etag, incomplete ? ".incomplete" : "");

	return n < 0 || (size_t)n >= len ? MS_EINVAL : 0;
}

int ms_store_blobs_empty(const struct ms_store *s)
{
	char p[PATH_MAX + 16];
	struct dirent *de;
	DIR *d;
	int empty = 1;

	snprintf(p, sizeof(p), "%s/blobs", s->repo_dir);
	if (!(d = opendir(p)))
		return errno == ENOENT;
	while (empty && (de = readdir(d)))
		if (de->d_name[0] != '.')
			empty = 0;
	closedir(d);
	return empty;
}

int ms_store_blob_present(const struct ms_store *s, const char *etag, int64_t size)
{
	char p[PATH_MAX + 128];
	struct stat st;

	if (ms_store_blob_path(s, etag, 0, 0, p, sizeof(p)))
		return 0;
	return lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == size;
}

int ms_store_prepare_incomplete(const struct ms_store *s, const char *etag,
				struct ms_error *err)
{
	char p[PATH_MAX + 128];
	struct stat st;

	if (ms_store_blob_path(s, etag, 1, 0, p, sizeof(p)))
		return ms_error_set(err, MS_EINVAL, "path too long");
	if (lstat(p, &st) == 0 && !S_ISREG(st.st_mode) && unlink(p) < 0)
		return ms_error_set(err, MS_EIO, "cannot remove '%s': %s", p, strerror(errno));
	/* a planted symlink at the final name is replaced by the rename, never
	 * followed; but make sure a later reader does not trust it */
	if (ms_store_blob_path(s, etag, 0, 0, p, sizeof(p)))
		return ms_error_set(err, MS_EINVAL, "path too long");
	if (lstat(p, &st) == 0 && !S_ISREG(st.st_mode) && unlink(p) < 0)
		return ms_error_set(err, MS_EIO, "cannot remove '%s': %s", p, strerror(errno));
	return 0;
}

int ms_file_hashes(const char *path, int64_t size, char sha256_hex[65],
		   char *git_hex, struct ms_error *err)
{
	EVP_MD_CTX *a = EVP_MD_CTX_new(), *g = git_hex ? EVP_MD_CTX_new() : NULL;
	/* a small file gets a buffer its size (one more byte shows a file
	 * that grew) from the heap: a 1 MiB mapping made and unmapped per
	 * file cost more than the hashing in a repo of thousands of small
	 * files (each unmapping stops every CPU to flush its TLB) */
	size_t len = size >= 0 && size < SMALL_FILE ? (size_t)size + 1 : IOBUF;
	uint8_t *buf = len < IOBUF ? malloc(len) : ms_iobuf_new(IOBUF), h[32];
	int64_t got = 0;
	int fd = -1, r = 0;

	if (!a || (git_hex && !g) || !buf) {
		r = ms_error_set(err, MS_ENOMEM, "out of memory");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = ms_error_set(err, ms_error_from_errno(errno), "cannot open '%s': %s",
				 path, strerror(errno));
		goto out;
	}
	EVP_DigestInit_ex(a, EVP_sha256(), NULL);
	if (g) {
		char hdr[64];
		int n = snprintf(hdr, sizeof(hdr), "blob %lld", (long long)size);
		EVP_DigestInit_ex(g, EVP_sha1(), NULL);
		EVP_DigestUpdate(g, hdr, (size_t)n + 1);
	}
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ms_error_set(err, MS_EIO, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(a, buf, (size_t)n);
		if (g)
			EVP_DigestUpdate(g, buf, (size_t)n);
		got += n;
	}
	if (got != size) {
		r = ms_error_set(err, MS_EHASH, "'%s' has %lld bytes, not %lld", path,
				 (long long)got, (long long)size);
		goto out;
	}
	EVP_DigestFinal_ex(a, h, NULL);
	ms_hex(h, 32, sha256_hex);
	if (g) {
		EVP_DigestFinal_ex(g, h, NULL);
		ms_hex(h, 20, git_hex);
	}
out:
	if (fd >= 0)
		close(fd);
	if (len < IOBUF)
		free(buf);
	else
		ms_iobuf_free(buf, IOBUF);
	EVP_MD_CTX_free(a);
	EVP_MD_CTX_free(g);
	return r;
}

int ms_store_snapshot_dir(const struct ms_store *s, const char *rev, char *buf,
			  size_t len)
{
	int n = snprintf(buf, len, "%s/snapshots/%s", s->repo_dir, rev);

	return n < 0 || (size_t)n >= len ? MS_EINVAL : 0;
}

/* "../" per level from snapshots/<rev>/<dirs...>/ up to the repo dir, then
 * blobs/<etag>, into buf; MS_EPATH when that is longer than a symlink's
 * target may be */
static int blob_target(const char *path, const char *etag, char *buf, size_t len,
		       struct ms_error *err)
{
	size_t depth = 2, need, o = 0;

	for (const char *c = path; *c; c++)
		depth += *c == '/';
	need = 3 * depth + strlen("blobs/") + strlen(etag) + 1;
	if (need > len)
		return ms_error_set(err, MS_EPATH,
				    "cannot link '%.200s%s': %zu levels deep, its link would be "
				    "longer than %zu bytes", path, strlen(path) > 200 ? "..." : "",
				    depth - 2, len - 1);
	for (size_t i = 0; i < depth; i++, o += 3)
		memcpy(buf + o, "../", 3);
	snprintf(buf + o, len - o, "blobs/%s", etag);
	return 0;
}

/* the directory of rel (its leaf in *leaf), walked as walk_from() does
 * unless it is the one the last link went to: that fd is used again. The
 * fd stays the store's. */
static int link_dir(struct ms_store *s, const char *rel, int *dfd, const char **leaf,
		    struct ms_error *err)
{
	const char *slash = strrchr(rel, '/');
	size_t n = slash ? (size_t)(slash - rel) : 0;
	int r;

	if (s->link_dir[0] && strlen(s->link_dir) == n && !strncmp(s->link_dir, rel, n)) {
		*dfd = s->link_fd;
		*leaf = slash + 1;
		return 0;
	}
	if (s->link_dir[0])
		close(s->link_fd);
	s->link_dir[0] = '\0';
	if ((r = walk_from(s->repo_dir, 0, rel, dfd, leaf, err)))
		return r;
	if (slash && n < sizeof(s->link_dir)) {
		memcpy(s->link_dir, rel, n);
		s->link_dir[n] = '\0';
		s->link_fd = *dfd;
	} else {
		close(*dfd);
		*dfd = -1;
		return ms_error_set(err, MS_EINVAL, "bad path '%s'", rel);
	}
	return 0;
}

int ms_store_link(struct ms_store *s, const char *rev, const char *path,
		  const char *etag, struct ms_error *err)
{
	char target[PATH_MAX], tmp[NAME_MAX + 1], *rel;
	const char *leaf;
	int dfd, r;

	if ((r = blob_target(path, etag, target, sizeof(target), err)))
		return r;
	if (!*rev || strchr(rev, '/') || asprintf(&rel, "snapshots/%s/%s", rev, path) < 0)
		return ms_error_set(err, MS_EINVAL, "bad revision '%s'", rev);
	r = link_dir(s, rel, &dfd, &leaf, err);
	/* nothing there (the usual case: a new snapshot): nothing to replace */
	if (!r && symlinkat(target, dfd, leaf) < 0) {
		/* a planted symlink at tmp is removed, not followed */
		snprintf(tmp, sizeof(tmp), "%.200s.ms-tmp-%ld", leaf, (long)getpid());
		unlinkat(dfd, tmp, 0);
		if (symlinkat(target, dfd, tmp) < 0)
			r = ms_error_set(err, ms_error_from_errno(errno),
					 "cannot create '%s/%s.ms-tmp-%ld': %s", s->repo_dir, rel,
					 (long)getpid(), strerror(errno));
		/* rename replaces whatever is at link (a planted symlink is
		 * replaced, not followed); a directory there is an error */
		else if (renameat(dfd, tmp, dfd, leaf) < 0) {
			int e = errno;
			unlinkat(dfd, tmp, 0);
			r = ms_error_set(err, ms_error_from_errno(e), "cannot create '%s/%s': %s",
					 s->repo_dir, rel, strerror(e));
		}
	}
	free(rel);
	return r;
}

/* write len bytes as leaf in the directory dfd: a temporary file there,
 * fsync, rename; shown names it in messages */
static int write_at(int dfd, const char *leaf, const char *shown, const void *buf,
		    size_t len, struct ms_error *err)
{
	char tmp[NAME_MAX + 1];
	int fd, e;

	snprintf(tmp, sizeof(tmp), "%.200s.tmp.%ld", leaf, (long)getpid());
	unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || ms_write_close(fd, buf, len, 0644) < 0 ||
	    renameat(dfd, tmp, dfd, leaf) < 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		return ms_error_set(err, ms_error_from_errno(e), "cannot write '%s': %s", shown,
				    strerror(e));
	}
	return 0;
}

int ms_store_write_ref(const struct ms_store *s, const char *ref, const char *rev,
		       struct ms_error *err)
{
	char shown[PATH_MAX + 512], *rel;
	const char *leaf;
	int dfd, r;

	if (!*ref || asprintf(&rel, "refs/%s", ref) < 0)
		return ms_error_set(err, MS_EINVAL, "bad ref '%s'", ref);
	snprintf(shown, sizeof(shown), "%s/%s", s->repo_dir, rel);
	if (!(r = walk_from(s->repo_dir, 0, rel, &dfd, &leaf, err))) {
		r = *leaf ? write_at(dfd, leaf, shown, rev, strlen(rev), err)
			  : ms_error_set(err, MS_EINVAL, "bad ref '%s'", ref);
		close(dfd);
	}
	free(rel);
	return r;
}

int ms_store_export_dirs(const char *dir, const char *path, struct ms_error *err)
{
	const char *leaf;
	int fd, r;

	if ((r = ms_mkdir_p(dir, err)) || (r = walk_from(dir, 1, path, &fd, &leaf, err)))
		return r;
	close(fd);
	return 0;
}

int ms_store_export_stage(const struct ms_store *s, const char *etag, const char *dir,
			  const char *path, int may_copy, char *tmp, size_t tmplen,
			  int *copied, struct ms_error *err)
{
	char blob[PATH_MAX + 128];
	int in = -1, out = -1, r;
	char *buf = NULL;

	if (copied)
		*copied = 0;
	if ((r = ms_store_export_dirs(dir, path, err)))
		return r;
	ms_store_blob_path(s, etag, 0, 0, blob, sizeof(blob));
	if ((size_t)snprintf(tmp, tmplen, "%s/%s.ms-tmp-%ld", dir, path, (long)getpid()) >=
	    tmplen)
		return ms_error_set(err, MS_EINVAL, "path too long");
	/* whatever is there (a planted symlink, say) goes; never followed */
	unlink(tmp);
	if (link(blob, tmp) == 0)
		return 0;
	if (!may_copy)
		return ms_error_set(err, ms_error_from_errno(errno),
				    "cannot hard-link '%s' to '%s/%s': %s", blob, dir,
				    path, strerror(errno));
	/* another filesystem: copy */
	if (copied)
		*copied = 1;
	in = open(blob, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	buf = ms_iobuf_new(IOBUF);
	if (in < 0 || out < 0 || !buf) {
		r = ms_error_set(err, MS_EIO, "cannot copy '%s' to '%s': %s", blob, tmp,
				 strerror(errno));
		goto fail;
	}
	for (;;) {
		ssize_t n = read(in, buf, IOBUF), w = 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ms_error_set(err, MS_EIO, "cannot read '%s': %s", blob, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		while (w < n) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				r = ms_error_set(err, ms_error_from_errno(errno),
						 "cannot write '%s': %s", tmp, strerror(errno));
				goto fail;
			}
			w += k;
		}
	}
	if (fsync(out) < 0 || close(out) < 0) {
		out = -1;
		r = ms_error_set(err, MS_EIO, "cannot write '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	close(in);
	ms_iobuf_free(buf, IOBUF);
	return 0;
fail:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	ms_iobuf_free(buf, IOBUF);
	unlink(tmp);
	return r;
}

int ms_store_export_commit(const char *tmp, const char *dir, const char *path,
			   struct ms_error *err)
{
	char dst[PATH_MAX + 512];

	if ((size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, path) >= sizeof(dst)) {
		unlink(tmp);
		return ms_error_set(err, MS_EINVAL, "path too long");
	}
	/* rename replaces whatever is at dst (a planted symlink is replaced,
	 * not followed); a directory there is an error */
	if (rename(tmp, dst) < 0) {
		int e = errno;
		unlink(tmp);
		return ms_error_set(err, ms_error_from_errno(e), "cannot create '%s': %s",
				    dst, strerror(e));
	}
	/* dst was already a link to the same file: rename did nothing */
	unlink(tmp);
	return 0;
}

int ms_store_export(const struct ms_store *s, const char *etag, const char *dir,
		    const char *path, struct ms_error *err)
{
	char tmp[PATH_MAX + 600];
	int r;

	if ((r = ms_store_export_stage(s, etag, dir, path, 1, tmp, sizeof(tmp), NULL, err)))
		return r;
	return ms_store_export_commit(tmp, dir, path, err);
}

void ms_store_remove_scratch(const struct ms_store *s)
{
	char dir[PATH_MAX + 16];
	struct dirent *de;
	DIR *d;
	int fd;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/blobs/.skip", s->repo_dir) >= sizeof(dir))
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(fd, de->d_name, 0) < 0 && errno == EISDIR)
			unlinkat(fd, de->d_name, AT_REMOVEDIR);
	closedir(d);
	rmdir(dir);
}

/* add the blob names that the links under dirfd point to */
static void collect_links(int dirfd, char ***names, size_t *n, size_t *cap, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd = dup(dirfd);

	if (fd < 0 || depth > 64 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		char target[PATH_MAX];
		const char *base;
		ssize_t k;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		k = readlinkat(dirfd, de->d_name, target, sizeof(target) - 1);
		if (k < 0) {
			sub = openat(dirfd, de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				collect_links(sub, names, n, cap, depth + 1);
				close(sub);
			}
			continue;
		}
		target[k] = '\0';
		base = strrchr(target, '/');
		base = base ? base + 1 : target;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 64;
			char **v = realloc(*names, nc * sizeof(*v));
			if (!v)
				continue;
			*names = v;
			*cap = nc;
		}
		if (((*names)[*n] = strdup(base)))
			(*n)++;
	}
	closedir(d);
}

int ms_store_remove_revision(const struct ms_store *s, const char *rev,
			     struct ms_error *err)
{
	char path[PATH_MAX + 64], ref[64];
	char **keep = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	/* the snapshot, then the refs naming it */
	snprintf(path, sizeof(path), "%s/snapshots", s->repo_dir);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (ms_remove_tree_at(fd, rev))
			r = ms_error_set(err, MS_EIO, "cannot remove '%s/%s': %s", path, rev,
					 strerror(errno));
		collect_links(fd, &keep, &n, &cap, 0);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/refs", s->repo_dir);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd))) {
		while ((de = readdir(d))) {
			int rf = openat(fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			ssize_t k = rf >= 0 ? read(rf, ref, sizeof(ref) - 1) : -1;
			if (rf >= 0)
				close(rf);
			if (k == 40 && !memcmp(ref, rev, 40))
				unlinkat(fd, de->d_name, 0);
		}
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	/* blobs no other snapshot links to (never .incomplete files: a
	 * download may be writing them) */
	snprintf(path, sizeof(path), "%s/blobs", s->repo_dir);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd))) {
		while ((de = readdir(d))) {
			size_t len = strlen(de->d_name), i;
			int used = 0;
			if ((len != 40 && len != 64) || strspn(de->d_name, "0123456789abcdef") != len)
				continue;
			for (i = 0; i < n && !used; i++)
				used = !strcmp(keep[i], de->d_name);
			if (!used && unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT && !r)
				r = ms_error_set(err, MS_EIO, "cannot remove blob '%s': %s",
						 de->d_name, strerror(errno));
		}
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	for (size_t i = 0; i < n; i++)
		free(keep[i]);
	free(keep);
	return r;
}
