/*
 * Small helpers shared by the modules and the tool: files, paths, sizes,
 * trees of files, lists of strings. The configuration file and the state
 * directory are in ms_config.h.
 */
#ifndef MS_UTIL_H
#define MS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "modelswarm.h"

/* Read all of path into a malloc'd buffer (NUL-terminated, *len excludes
 * the NUL). Files larger than cap are refused with MS_ETOOBIG; anything
 * but a regular file (a FIFO, a device, a directory) with MS_EINVAL, at
 * once. */
int ms_read_file(const char *path, size_t cap, unsigned char **buf,
		 size_t *len, struct ms_error *err);

/* A buffer for one file's reads (hashing, copying) of len bytes, straight
 * from the kernel; NULL when out of memory. Free it with ms_iobuf_free and
 * the same len: its pages go back to the system at once (a malloc'd one
 * that size may stay in a worker thread's arena, resident, for good). */
void *ms_iobuf_new(size_t len);
void ms_iobuf_free(void *buf, size_t len);

/* Write buf to path atomically: a temporary file in the same directory,
 * fsync, rename. Never leaves a partial file at path. */
int ms_write_file_atomic(const char *path, const void *buf, size_t len,
			 int mode, struct ms_error *err);

/* Write all of buf to fd, give it mode, fsync and close it (closed in
 * any case); 0, or -1 with errno set. */
int ms_write_close(int fd, const void *buf, size_t len, int mode);

/* mkdir -p with mode 0755 for each missing component. */
int ms_mkdir_p(const char *path, struct ms_error *err);

/* Parse "1234", "10k", "2M", "1G" (powers of 1024) into bytes.
 * Returns 0 or MS_EINVAL. */
int ms_parse_size(const char *s, int64_t *out);

/* Parse "HOST:PORT" or "[V6]:PORT". host is filled (NUL-terminated). */
int ms_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Human-readable byte count ("1.5 GiB") into buf. */
const char *ms_fmt_bytes(char *buf, size_t len, double bytes);

/* A regular file found by ms_tree_scan(). */
struct ms_tree_file {
	char *path;      /* relative, '/'-separated */
	int64_t size;
};

/*
 * The ignore list: directories at the top of a release directory that are
 * never part of a release, whatever the flags of the scan that finds them
 * (MS_TREE_IGNORE). One list, used by publish and by verify --manifest, so
 * what publish leaves out verify does not call an extra file.
 *   .cache/huggingface/   written by hf download --local-dir (a .gitignore,
 *                         download/ with .metadata and lock files)
 * .git/ is not on it: publish refuses a directory that has one (a work tree
 * need not be the revision published; export it with git archive).
 */
struct ms_tree_ignore {
	const char *dir;     /* relative to the top, ends in '/' */
	const char *why;     /* "written by ..." */
};
#define MS_TREE_N_IGNORE 1
extern const struct ms_tree_ignore ms_tree_ignore_list[MS_TREE_N_IGNORE];

struct ms_tree {
	struct ms_tree_file *files;
	size_t n;
	int64_t total;
	/* left out: entries under ms_tree_ignore_list[i] (MS_TREE_IGNORE),
	 * files matching the excludes */
	size_t n_ignored[MS_TREE_N_IGNORE];
	size_t n_excluded;
};

/* Every regular file under dir, sorted bytewise by relative path.
 * Refuses symlinks and special files with a message naming them. */
int ms_tree_scan(const char *dir, struct ms_tree *t, struct ms_error *err);
void ms_tree_release(struct ms_tree *t);
/* symlinks to regular files inside dir are followed (their target's size
 * is listed); symlinks leading outside are refused */
#define MS_TREE_FOLLOW_INSIDE (1u << 0)
/* leave out the directories of ms_tree_ignore_list (nothing under them is
 * refused, only counted) */
#define MS_TREE_IGNORE (1u << 1)
/* excludes (may be NULL): files whose relative path matches one, as
 * ms_strlist_glob_match() says, are left out and counted before any check
 * of them */
struct ms_strlist;
int ms_tree_scan_flags(const char *dir, unsigned flags,
		       const struct ms_strlist *excludes, struct ms_tree *t,
		       struct ms_error *err);

/* 64-bit FNV-1a, for naming state files. */
uint64_t ms_fnv64(const void *data, size_t len, uint64_t seed);

/* A growable list of strings: borrowed (they must outlive the list), or
 * copies freed with it; one list holds one kind. */
struct ms_strlist {
	const char **v;
	size_t n, cap;
	int owned;        /* the strings are copies, freed with the list */
};
int ms_strlist_push(struct ms_strlist *l, const char *s);
int ms_strlist_push_copy(struct ms_strlist *l, const char *s);
void ms_strlist_release(struct ms_strlist *l);
/* 1 if a glob of l matches path (fnmatch, '*' also crosses '/'), or
 * matches its base name when the glob has no '/'; l may be NULL. The
 * rule of --include/--exclude in get and publish. */
int ms_strlist_glob_match(const struct ms_strlist *l, const char *path);

/*
 * strdup for what the daemon keeps for months, allocated with calloc.
 * glibc's malloc (not calloc) first serves a small request from the
 * thread's cache of freed chunks, and that cache holds chunks of any
 * arena: the loop thread frees many of libtorrent's (alerts, resume data),
 * and a long-lived string placed in one would pin a page of libtorrent's
 * arena for good (a thousand repos pinned a megabyte that way).
 */
char *ms_keep_strdup(const char *s);

/* Remove the empty directories under path (and path), bottom-up; never
 * touches a file. depth: 0. */
void ms_prune_empty_dirs(const char *path, int depth);

/*
 * Paths under a directory, never through a symlink. rel is relative,
 * '/'-separated, with no empty, "." or ".." component (EINVAL).
 *
 * ms_walk_beneath: the directories of rel under the directory fd at,
 * opened one by one with O_NOFOLLOW (made if missing, mode 0755, when
 * mkdirs is set); *dfd is the last one (the caller closes it), *leaf the
 * last component of rel. -1 with errno on error: ELOOP for a symlink on
 * the way, ENOTDIR for something else that is not a directory, ENOENT
 * for a missing one; then *bad (may be NULL) is the length of the prefix
 * of rel at fault.
 * ms_open_beneath: then openat(leaf, flags | O_NOFOLLOW | O_CLOEXEC, mode):
 * the fd, or -1 with errno (ELOOP: the leaf is a symlink; *bad is then
 * the whole length).
 * ms_stat_beneath: then fstatat(leaf, AT_SYMLINK_NOFOLLOW): 0 or -1.
 */
struct stat;
int ms_walk_beneath(int at, const char *rel, int mkdirs, int *dfd,
		    const char **leaf, size_t *bad);
int ms_open_beneath(int at, const char *rel, int flags, int mode, int mkdirs,
		    size_t *bad);
int ms_stat_beneath(int at, const char *rel, struct stat *st, size_t *bad);
/* Remove dirfd/name: a file or symlink is unlinked (never followed), a
 * directory emptied the same way, then removed; 0 or -1. */
int ms_remove_tree_at(int dirfd, const char *name);

/* p percent-encoded for a URL path, '/' kept (malloc'd; NULL: no memory) */
char *ms_url_escape_path(const char *p);

#endif
