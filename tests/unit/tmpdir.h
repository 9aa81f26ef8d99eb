/* tmpdir.h: a fresh temporary directory for a unit test, and the small
 * file helpers its checks use */
#ifndef MS_TMPDIR_H
#define MS_TMPDIR_H

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ms_util.h"

static char tmp[PATH_MAX];

/* $TMPDIR (else /tmp)/ms-test-NAME.XXXXXX, made and resolved into tmp */
static inline int tmpdir_make(const char *name)
{
	const char *t = getenv("TMPDIR");
	char made[PATH_MAX];

	snprintf(made, sizeof(made), "%s/ms-test-%s.XXXXXX", t && *t ? t : "/tmp", name);
	return mkdtemp(made) && realpath(made, tmp) ? 0 : -1;
}

/* base/leaf, in one of 8 buffers used in turn */
static inline char *at(const char *base, const char *leaf)
{
	static char buf[8][PATH_MAX + 256];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", base, leaf);
	return buf[k];
}
#define path(leaf) at(tmp, leaf)

static inline int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

/* rm -rf dir, symlinks not followed */
static inline void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int put(const char *p, const char *text)
{
	FILE *f = fopen(p, "wb");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* the whole file, or "" (valid until the next call) */
static inline const char *slurp(const char *p)
{
	static unsigned char *b;
	size_t len;

	free(b);
	b = NULL;
	if (ms_read_file(p, 1 << 20, &b, &len, NULL))
		return "";
	return (char *)b;
}

/* anything at p, a dangling symlink too */
static inline int exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

#endif
