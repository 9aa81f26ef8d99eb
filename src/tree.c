/* tree.c: list the regular files of a directory, sorted bytewise, less
 * the ignore list and the excludes */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ms_util.h"

/* see ms_util.h; each dir ends in '/' */
const struct ms_tree_ignore ms_tree_ignore_list[MS_TREE_N_IGNORE] = {
	{ ".cache/huggingface/", "written by hf download" },
};

struct scan {
	struct ms_tree *t;
	size_t cap;
	int depth;
	unsigned flags;
	const struct ms_strlist *excludes;
	int ignoring;    /* index in ms_tree_ignore_list walked, or -1 */
	char root_real[PATH_MAX];
};

/* the entry of the ignore list that directory rel is, or -1 */
static int ignored_dir(const char *rel)
{
	for (int i = 0; i < MS_TREE_N_IGNORE; i++) {
		const char *d = ms_tree_ignore_list[i].dir;
		size_t n = strlen(d) - 1;
		if (strlen(rel) == n && !strncmp(rel, d, n))
			return i;
	}
	return -1;
}

static int push(struct scan *s, const char *rel, int64_t size, struct ms_error *err)
{
	struct ms_tree *t = s->t;

	if (t->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct ms_tree_file *f = realloc(t->files, cap * sizeof(*f));
		if (!f)
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		t->files = f;
		s->cap = cap;
	}
	t->files[t->n].path = strdup(rel);
	if (!t->files[t->n].path)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	t->files[t->n].size = size;
	t->n++;
	t->total += size;
	return 0;
}

static int walk(struct scan *s, const char *root, const char *rel,
		struct ms_error *err)
{
	char full[PATH_MAX], child[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (++s->depth > 64)
		return ms_error_set(err, MS_EPATH, "'%s/%s' is nested too deeply",
				    root, rel);
	if ((size_t)snprintf(full, sizeof(full), "%s%s%s", root, *rel ? "/" : "", rel) >=
	    sizeof(full))
		return ms_error_set(err, MS_EPATH, "path too long under '%s'", root);
	d = opendir(full);
	if (!d)
		return ms_error_set(err, ms_error_from_errno(errno),
				    "cannot open directory '%s': %s", full,
				    strerror(errno));
	while (!r && (errno = 0, de = readdir(d))) {
		struct stat st;
		char path[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s%s%s", rel,
				     *rel ? "/" : "", de->d_name) >= sizeof(child) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", root, child) >=
			    sizeof(path)) {
			r = ms_error_set(err, MS_EPATH, "path too long under '%s'", root);
			break;
		}
		if (lstat(path, &st) < 0) {
			r = ms_error_set(err, ms_error_from_errno(errno),
					 "cannot stat '%s': %s", path, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			int ig = s->ignoring < 0 && (s->flags & MS_TREE_IGNORE) ?
					 ignored_dir(child) : -1;
			if (ig >= 0)
				s->ignoring = ig;
			r = walk(s, root, child, err);
			if (ig >= 0)
				s->ignoring = -1;
		} else if (s->ignoring >= 0) {
			s->t->n_ignored[s->ignoring]++;
		} else if (ms_strlist_glob_match(s->excludes, child)) {
			s->t->n_excluded++;
		} else if (S_ISREG(st.st_mode)) {
			r = push(s, child, (int64_t)st.st_size, err);
		} else if (S_ISLNK(st.st_mode) && (s->flags & MS_TREE_FOLLOW_INSIDE)) {
			char real[PATH_MAX];
			size_t rl = strlen(s->root_real);
			struct stat ts;
			if (!realpath(path, real) || strncmp(real, s->root_real, rl) ||
			    real[rl] != '/')
				r = ms_error_set(err, MS_EPATH,
						 "refusing symlink '%s': it points outside '%s'",
						 path, root);
			else if (stat(real, &ts) < 0 || !S_ISREG(ts.st_mode))
				r = ms_error_set(err, MS_EPATH,
						 "refusing symlink '%s': not a regular file", path);
			else
				r = push(s, child, (int64_t)ts.st_size, err);
		} else if (S_ISLNK(st.st_mode)) {
			r = ms_error_set(err, MS_EPATH,
					 "refusing symlink '%s': copy the file it points to",
					 path);
		} else {
			r = ms_error_set(err, MS_EPATH,
					 "refusing '%s': not a regular file or directory",
					 path);
		}
	}
	if (!r && errno)
		r = ms_error_set(err, MS_EIO, "cannot read directory '%s': %s",
				 full, strerror(errno));
	closedir(d);
	s->depth--;
	return r;
}

static int cmp_files(const void *a, const void *b)
{
	const struct ms_tree_file *x = a, *y = b;

	return strcmp(x->path, y->path);
}

int ms_tree_scan(const char *dir, struct ms_tree *t, struct ms_error *err)
{
	return ms_tree_scan_flags(dir, 0, NULL, t, err);
}

int ms_tree_scan_flags(const char *dir, unsigned flags,
		       const struct ms_strlist *excludes, struct ms_tree *t,
		       struct ms_error *err)
{
	struct scan s;
	struct stat st;
	int r;

	memset(&s, 0, sizeof(s));
	s.t = t;
	s.flags = flags;
	s.excludes = excludes;
	s.ignoring = -1;
	if (!realpath(dir, s.root_real))
		return ms_error_set(err, ms_error_from_errno(errno),
				    "cannot open '%s': %s", dir, strerror(errno));

	memset(t, 0, sizeof(*t));
	if (stat(dir, &st) < 0)
		return ms_error_set(err, ms_error_from_errno(errno),
				    "cannot open '%s': %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ms_error_set(err, MS_EINVAL, "'%s' is not a directory", dir);
	r = walk(&s, dir, "", err);
	if (r) {
		ms_tree_release(t);
		return r;
	}
	if (t->n)
		qsort(t->files, t->n, sizeof(*t->files), cmp_files);
	return 0;
}

void ms_tree_release(struct ms_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->files[i].path);
	free(t->files);
	memset(t, 0, sizeof(*t));
}
