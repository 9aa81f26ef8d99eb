/* test-store.c: the Hugging Face cache layout (blobs, snapshot links,
 * refs), its refusals of planted symlinks, and where the cache is */
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

#include "ms_store.h"
#include "ms_util.h"
#include "tap.h"
#include "tmpdir.h"

#define REV_A "11f6ad8ec52a2984abaafd7c3b516503785c2072"
#define REV_B "22f6ad8ec52a2984abaafd7c3b516503785c2072"
/* "hello\n": its sha256 (an LFS etag) and its git blob sha1 (a git etag) */
#define HELLO_SHA256 "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define HELLO_GIT "ce013625030ba8dba906f756967f9e9ca394464a"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EMPTY_GIT "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
/* an etag nothing links to */
#define ORPHAN "0000000000000000000000000000000000000000000000000000000000000001"

/* a symlink's text, or "" */
static const char *link_text(const char *p)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink(p, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static int is_dir(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_link(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

/* a and b (followed) are the same file */
static int same_file(const char *a, const char *b)
{
	struct stat x, y;
	return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_ino == y.st_ino &&
	       x.st_dev == y.st_dev;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the names in dir, sorted, space-separated (freed by the next call) */
static const char *ls(const char *dir)
{
	static char out[4096];
	char *names[64];
	size_t n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	out[0] = '\0';
	if (!d)
		return "(none)";
	while ((de = readdir(d)) && n < 64)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "",
			 names[i]);
		free(names[i]);
	}
	return out;
}

static int waited;
static void on_wait(void *ud)
{
	waited++;
	ms_store_release(ud);
}

int main(void)
{
	struct ms_store s, s2;
	struct ms_error err;
	char buf[PATH_MAX + 256], want[PATH_MAX + 256], cache[PATH_MAX];
	char sha[65], git[41];

	/* resolved, as the store prints and links resolved paths */
	if (tmpdir_make("store"))
		return 2;
	setenv("HOME", path("home"), 1);
	setenv("XDG_CACHE_HOME", path("xdg-cache"), 1);
	unsetenv("HF_HUB_CACHE");
	unsetenv("HF_HOME");

	/* ---- where the cache is ---- */
	setenv("HF_HUB_CACHE", path("hub-cache"), 1);
	setenv("HF_HOME", path("hf-home"), 1);
	ok(ms_store_cache_dir("/x/y", buf, sizeof(buf), &err) == 0 && !strcmp(buf, "/x/y"),
	   "--cache-dir wins over the environment");
	ok(ms_store_cache_dir("", buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("hub-cache")), "an empty override is no override");
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("hub-cache")), "$HF_HUB_CACHE before $HF_HOME");
	setenv("HF_HUB_CACHE", "", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("hf-home/hub")), "an empty HF_HUB_CACHE: $HF_HOME/hub");
	unsetenv("HF_HUB_CACHE");
	unsetenv("HF_HOME");
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("xdg-cache/huggingface/hub")),
	   "neither: $XDG_CACHE_HOME/huggingface/hub, as huggingface_hub: %s", buf);
	setenv("XDG_CACHE_HOME", "", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("home/.cache/huggingface/hub")),
	   "an empty XDG_CACHE_HOME: $HOME/.cache/huggingface/hub: %s", buf);
	unsetenv("XDG_CACHE_HOME");
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("home/.cache/huggingface/hub")),
	   "none: $HOME/.cache/huggingface/hub: %s", buf);
	setenv("XDG_CACHE_HOME", path("xdg-cache"), 1);
	setenv("HF_HOME", path("hf-home"), 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("hf-home/hub")), "$HF_HOME before $XDG_CACHE_HOME: %s", buf);
	setenv("HUGGINGFACE_HUB_CACHE", path("legacy"), 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("legacy")), "the legacy $HUGGINGFACE_HUB_CACHE before $HF_HOME: %s",
	   buf);
	setenv("HF_HUB_CACHE", path("hub-cache"), 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("hub-cache")), "$HF_HUB_CACHE before $HUGGINGFACE_HUB_CACHE: %s",
	   buf);

	/* ~ and $VAR, as os.path.expandvars(os.path.expanduser(...)) */
	setenv("HF_HUB_CACHE", "~/x", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 && !strcmp(buf, path("home/x")),
	   "HF_HUB_CACHE='~/x' is $HOME/x: %s", buf);
	setenv("HF_HUB_CACHE", "~", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 && !strcmp(buf, path("home")),
	   "HF_HUB_CACHE='~' is $HOME: %s", buf);
	setenv("HF_HUB_CACHE", "~root/x", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 && !strcmp(buf, "/root/x"),
	   "HF_HUB_CACHE='~root/x' is root's home: %s", buf);
	setenv("HF_HUB_CACHE", "~no-such-user-ms/x", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, "~no-such-user-ms/x"), "an unknown ~user stays as written: %s", buf);
	setenv("HF_HUB_CACHE", "a/~/b", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 && !strcmp(buf, "a/~/b"),
	   "only a leading ~ is expanded: %s", buf);
	setenv("MS_T_DIR", path("vars"), 1);
	setenv("HF_HUB_CACHE", "$MS_T_DIR/a/${MS_T_DIR}b", 1);
	snprintf(want, sizeof(want), "%s/a/%sb", path("vars"), path("vars"));
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 && !strcmp(buf, want),
	   "$VAR and ${VAR} in HF_HUB_CACHE: %s", buf);
	setenv("HF_HUB_CACHE", "$MS_T_UNSET/a/${MS_T_UNSET}/$/${}/${MS_T_DIR", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, "$MS_T_UNSET/a/${MS_T_UNSET}/$/${}/${MS_T_DIR"),
	   "unset variables, a lone $, ${} and an open ${ stay as written: %s", buf);
	setenv("MS_T_NEST", "$MS_T_DIR", 1);
	setenv("HF_HUB_CACHE", "$MS_T_NEST/c", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 && !strcmp(buf, "$MS_T_DIR/c"),
	   "a value is not expanded again: %s", buf);
	unsetenv("HF_HUB_CACHE");
	setenv("HUGGINGFACE_HUB_CACHE", "~/legacy-$MS_T_UNSET", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("home/legacy-$MS_T_UNSET")),
	   "HUGGINGFACE_HUB_CACHE is expanded too: %s", buf);
	unsetenv("HUGGINGFACE_HUB_CACHE");
	setenv("HF_HOME", "~/$MS_T_UNSET/hf", 1);
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	   !strcmp(buf, path("home/$MS_T_UNSET/hf/hub")), "HF_HOME is expanded: %s", buf);
	unsetenv("HF_HOME");
	setenv("XDG_CACHE_HOME", "~/xdg-${MS_T_DIR}", 1);
	snprintf(want, sizeof(want), "%s/xdg-%s/huggingface/hub", path("home"), path("vars"));
	ok(ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 && !strcmp(buf, want),
	   "the path from XDG_CACHE_HOME is expanded: %s", buf);
	setenv("XDG_CACHE_HOME", path("xdg-cache"), 1);
	setenv("HF_HUB_CACHE", "/a/${MS_T_DIR}", 1);
	ok(ms_store_cache_dir(NULL, buf, 8, &err) == MS_EINVAL &&
	   !strcmp(err.msg, "cache path too long"), "an expansion too long: %s", err.msg);
	unsetenv("HF_HUB_CACHE");

	unsetenv("HOME");
	unsetenv("XDG_CACHE_HOME");
	{
		struct passwd *pw = getpwuid(getuid());
		snprintf(want, sizeof(want), "%s/.cache/huggingface/hub", pw ? pw->pw_dir : "?");
		ok(pw && ms_store_cache_dir(NULL, buf, sizeof(buf), &err) == 0 &&
		   !strcmp(buf, want), "no HOME: the passwd entry's home, as Python: %s", buf);
	}
	setenv("HOME", path("home"), 1);
	setenv("XDG_CACHE_HOME", path("xdg-cache"), 1);
	ok(ms_store_cache_dir("/x/y", buf, 4, &err) == MS_EINVAL &&
	   !strcmp(err.msg, "cache path too long") &&
	   ms_store_cache_dir("/x/y", buf, 5, &err) == 0,
	   "a buffer one byte short: %s", err.msg);
	ok(!exists(path("home")) && !exists(path("hub-cache")) && !exists(path("xdg-cache")),
	   "resolving creates nothing");

	/* ---- opening a repo ---- */
	snprintf(cache, sizeof(cache), "%s", path("a/b/cache"));
	ok(ms_store_open(&s, cache, "acme/tiny", &err) == 0, "open creates a missing cache");
	ok(!strcmp(s.cache, cache) && !strcmp(s.repo, "acme/tiny") && s.lock_fd == -1 &&
	   !strcmp(s.repo_dir, at(cache, "models--acme--tiny")),
	   "repo dir: CACHE/models--acme--tiny");
	ok(!strcmp(ls(s.repo_dir), "blobs refs snapshots") &&
	   !strcmp(ls(cache), ".locks models--acme--tiny") &&
	   !strcmp(ls(at(cache, ".locks")), "models--acme--tiny") &&
	   is_dir(at(s.repo_dir, "blobs")),
	   "blobs/ refs/ snapshots/ and .locks/models--acme--tiny/");
	ok(ms_store_open(&s2, cache, "acme/tiny", &err) == 0 &&
	   !strcmp(s2.repo_dir, s.repo_dir),
	   "opening again is fine");
	ok(ms_store_open(&s2, cache, "acme/data", &err) == 0 &&
	   !strcmp(s2.repo_dir, at(cache, "models--acme--data")),
	   "there is no repo type: a dataset would be models--acme--data too");
	ok(ms_store_open(&s2, cache, "acme", &err) == MS_EINVAL &&
	   !strcmp(err.msg, "bad repo 'acme'"), "no slash: %s", err.msg);
	ok(symlink(cache, path("cache-link")) == 0 &&
	   ms_store_open(&s2, path("cache-link"), "acme/tiny", &err) == 0 &&
	   !strcmp(s2.cache, cache) && !strcmp(s2.repo_dir, s.repo_dir),
	   "a cache reached through a symlink is resolved");
	ok(chdir(path("a/b")) == 0 && ms_store_open(&s2, "cache", "acme/tiny", &err) == 0 &&
	   !strcmp(s2.cache, cache) && chdir("/") == 0, "a relative cache is made absolute");
	/* a planted symlink where a directory belongs */
	snprintf(want, sizeof(want), "'%s/models--acme--tiny' is not a directory (a symlink?); "
		 "refusing to use it", path("c2"));
	ok(mkdir(path("outside"), 0755) == 0 && mkdir(path("c2"), 0755) == 0 &&
	   symlink(path("outside"), path("c2/models--acme--tiny")) == 0 &&
	   ms_store_open(&s2, path("c2"), "acme/tiny", &err) == MS_EPATH &&
	   !strcmp(err.msg, want) && !strcmp(ls(path("outside")), ""),
	   "a symlinked repo dir is refused, not followed: %s", err.msg);
	ok(unlink(path("c2/models--acme--tiny")) == 0 &&
	   mkdir(path("c2/models--acme--tiny"), 0755) == 0 &&
	   symlink(path("outside"), path("c2/models--acme--tiny/blobs")) == 0 &&
	   ms_store_open(&s2, path("c2"), "acme/tiny", &err) == MS_EPATH &&
	   strstr(err.msg, "models--acme--tiny/blobs' is not a directory") &&
	   !strcmp(ls(path("outside")), ""), "so is a symlinked blobs/: %s", err.msg);
	ok(unlink(path("c2/models--acme--tiny/blobs")) == 0 &&
	   symlink(path("outside"), path("c2/.locks")) == 0 &&
	   ms_store_open(&s2, path("c2"), "acme/tiny", &err) == MS_EPATH &&
	   strstr(err.msg, "c2/.locks' is not a directory"), "and .locks/: %s", err.msg);

	/* ---- blob paths ---- */
	ok(ms_store_blob_path(&s, HELLO_SHA256, 0, 0, buf, sizeof(buf)) == 0 &&
	   !strcmp(buf, at(s.repo_dir, "blobs/" HELLO_SHA256)), "sha256 etag: %s", buf);
	ok(ms_store_blob_path(&s, HELLO_GIT, 0, 0, buf, sizeof(buf)) == 0 &&
	   !strcmp(buf, at(s.repo_dir, "blobs/" HELLO_GIT)), "git sha1 etag");
	ok(ms_store_blob_path(&s, HELLO_GIT, 1, 0, buf, sizeof(buf)) == 0 &&
	   !strcmp(buf, at(s.repo_dir, "blobs/" HELLO_GIT ".incomplete")), "incomplete");
	ok(ms_store_blob_path(&s, HELLO_SHA256, 0, 1, buf, sizeof(buf)) == 0 &&
	   !strcmp(buf, "blobs/" HELLO_SHA256) &&
	   ms_store_blob_path(&s, HELLO_GIT, 1, 1, buf, sizeof(buf)) == 0 &&
	   !strcmp(buf, "blobs/" HELLO_GIT ".incomplete"), "relative to the repo dir");
	ok(ms_store_blob_path(&s, HELLO_GIT, 1, 1, buf, 58) == 0 &&
	   ms_store_blob_path(&s, HELLO_GIT, 1, 1, buf, 57) == MS_EINVAL,
	   "a buffer one byte short is MS_EINVAL");

	/* ---- hashes ---- */
	put(path("hello"), "hello\n");
	put(path("empty"), "");
	ok(ms_file_hashes(path("hello"), 6, sha, git, &err) == 0 &&
	   !strcmp(sha, HELLO_SHA256) &&
	   !strcmp(git, HELLO_GIT), "sha256 and git blob sha1 of \"hello\\n\"");
	ok(ms_file_hashes(path("empty"), 0, sha, git, &err) == 0 &&
	   !strcmp(sha, EMPTY_SHA256) &&
	   !strcmp(git, EMPTY_GIT), "and of an empty file");
	memset(git, 'x', sizeof(git));
	ok(ms_file_hashes(path("hello"), 6, sha, NULL, &err) == 0 &&
	   !strcmp(sha, HELLO_SHA256) &&
	   git[0] == 'x', "sha256 alone");
	{
		/* more than one read buffer (1 MiB) */
		const size_t n = 3 * (1u << 20) + 5;
		FILE *f = fopen(path("big"), "wb");
		for (size_t k = 0; k < n; k++)
			fputc((int)((k * 131 + (k >> 9)) & 0xff), f);
		fclose(f);
		ok(ms_file_hashes(path("big"), (int64_t)n, sha, git, &err) == 0 &&
		   !strcmp(sha, "561b7f7206c3ebf5d28279c7a4082edac8cce3b4"
			   "95c6885e8762894711d46bc6") &&
		   !strcmp(git, "314637e05c96f1e7bfaeea36c252c9f279a87f16"),
		   "a 3 MiB file, read in pieces");
		unlink(path("big"));
	}
	snprintf(want, sizeof(want), "'%s' has 6 bytes, not 7", path("hello"));
	ok(ms_file_hashes(path("hello"), 7, sha, git, &err) == MS_EHASH &&
	   !strcmp(err.msg, want),
	   "size mismatch: %s", err.msg);
	snprintf(want, sizeof(want), "cannot open '%s': No such file or directory",
		 path("nope"));
	ok(ms_file_hashes(path("nope"), 0, sha, NULL, &err) == MS_ENOENT &&
	   !strcmp(err.msg, want),
	   "missing file: %s", err.msg);
	ok(symlink(path("hello"), path("hello-link")) == 0 &&
	   ms_file_hashes(path("hello-link"), 6, sha, NULL, &err) == MS_EIO &&
	   strstr(err.msg, "hello-link'"), "a symlink is not followed: %s", err.msg);

	/* ---- blobs and .incomplete ---- */
	ok(ms_store_blob_present(&s, HELLO_SHA256, 6) == 0, "no blob yet");
	ms_store_blob_path(&s, HELLO_SHA256, 1, 0, buf, sizeof(buf));
	put(buf, "hel");
	ok(ms_store_blob_present(&s, HELLO_SHA256, 3) == 0,
	   "an .incomplete file is not the blob");
	ok(ms_store_prepare_incomplete(&s, HELLO_SHA256, &err) == 0 &&
	   !strcmp(slurp(buf), "hel"),
	   "prepare keeps a partial .incomplete file (resume)");
	ms_store_blob_path(&s, HELLO_SHA256, 0, 0, want, sizeof(want));
	ok(rename(buf, want) == 0 && put(want, "hello\n") == 0 &&
	   ms_store_blob_present(&s, HELLO_SHA256, 6) == 1, "blob present at its size");
	ok(ms_store_blob_present(&s, HELLO_SHA256, 5) == 0 &&
	   ms_store_blob_present(&s, HELLO_SHA256, 7) == 0, "any other size: not present");
	ok(ms_store_prepare_incomplete(&s, HELLO_SHA256, &err) == 0 &&
	   !strcmp(slurp(want), "hello\n"), "prepare leaves a real blob alone");
	/* planted symlinks at both names */
	put(path("outside/victim"), "keep\n");
	ms_store_blob_path(&s, HELLO_GIT, 1, 0, buf, sizeof(buf));
	ms_store_blob_path(&s, HELLO_GIT, 0, 0, want, sizeof(want));
	ok(symlink(path("outside/victim"), buf) == 0 &&
	   symlink(path("outside/victim"), want) == 0,
	   "symlinks planted at blobs/ETAG.incomplete and blobs/ETAG");
	ok(ms_store_blob_present(&s, HELLO_GIT, 5) == 0, "a symlinked blob is not present");
	ok(ms_store_prepare_incomplete(&s, HELLO_GIT, &err) == 0 && !exists(buf) &&
	   !exists(want) &&
	   !strcmp(slurp(path("outside/victim")), "keep\n"),
	   "prepare removes both, their target untouched");
	ok(mkdir(buf, 0755) == 0 &&
	   ms_store_prepare_incomplete(&s, HELLO_GIT, &err) == MS_EIO &&
	   strstr(err.msg, "cannot remove '") && strstr(err.msg, HELLO_GIT ".incomplete'") &&
	   rmdir(buf) == 0, "a directory there is an error naming it: %s", err.msg);
	ok(put(want, "hello\n") == 0 && ms_store_blob_present(&s, HELLO_GIT, 6) == 1,
	   "the git-etag blob");

	/* ---- snapshot links ---- */
	ok(ms_store_snapshot_dir(&s, REV_A, buf, sizeof(buf)) == 0 &&
	   !strcmp(buf, at(s.repo_dir, "snapshots/" REV_A)), "snapshot dir");
	ok(ms_store_snapshot_dir(&s, REV_A, buf, strlen(s.repo_dir) + 52) == 0 &&
	   ms_store_snapshot_dir(&s, REV_A, buf, strlen(s.repo_dir) + 51) == MS_EINVAL,
	   "snapshot dir: a buffer one byte short");
#define SNAP(p) at(s.repo_dir, "snapshots/" REV_A "/" p)
	ok(ms_store_link(&s, REV_A, "config.json", HELLO_SHA256, &err) == 0 &&
	   !strcmp(link_text(SNAP("config.json")), "../../blobs/" HELLO_SHA256) &&
	   !strcmp(slurp(SNAP("config.json")), "hello\n"),
	   "top-level file: ../../blobs/ETAG");
	ok(ms_store_link(&s, REV_A, "sub/dir/w.bin", HELLO_GIT, &err) == 0 &&
	   !strcmp(link_text(SNAP("sub/dir/w.bin")), "../../../../blobs/" HELLO_GIT) &&
	   is_dir(SNAP("sub")) && is_dir(SNAP("sub/dir")) &&
	   same_file(SNAP("sub/dir/w.bin"), at(s.repo_dir, "blobs/" HELLO_GIT)),
	   "nested: directories made, one ../ for each");
	{
		char deep[256] = "", target[256] = "";
		for (int i = 1; i <= 20; i++)
			sprintf(deep + strlen(deep), "d%02d/", i);
		strcat(deep, "file.bin");
		for (int i = 0; i < 22; i++)
			strcat(target, "../");
		strcat(target, "blobs/" HELLO_SHA256);
		ok(ms_store_link(&s, REV_A, deep, HELLO_SHA256, &err) == 0 &&
		   !strcmp(link_text(at(at(s.repo_dir, "snapshots/" REV_A), deep)), target) &&
		   same_file(at(at(s.repo_dir, "snapshots/" REV_A), deep),
			     at(s.repo_dir, "blobs/" HELLO_SHA256)),
		   "20 directories deep: 22 times ../ then blobs/ETAG");
	}
	ok(!strcmp(ls(SNAP("")), "config.json d01 sub") &&
	   !strcmp(ls(SNAP("sub/dir")), "w.bin"),
	   "no temporary names left behind");
	/* replacing */
	ok(ms_store_link(&s, REV_A, "config.json", HELLO_GIT, &err) == 0 &&
	   !strcmp(link_text(SNAP("config.json")), "../../blobs/" HELLO_GIT) &&
	   !strcmp(ls(SNAP("")), "config.json d01 sub"), "an existing link is replaced");
	ok(unlink(SNAP("config.json")) == 0 &&
	   symlink(path("outside/victim"), SNAP("config.json")) == 0 &&
	   ms_store_link(&s, REV_A, "config.json", HELLO_SHA256, &err) == 0 &&
	   !strcmp(link_text(SNAP("config.json")), "../../blobs/" HELLO_SHA256) &&
	   !strcmp(slurp(path("outside/victim")), "keep\n"),
	   "a planted symlink is replaced, its target untouched");
	ok(unlink(SNAP("config.json")) == 0 &&
	   link(path("outside/victim"), SNAP("config.json")) == 0 &&
	   ms_store_link(&s, REV_A, "config.json", HELLO_SHA256, &err) == 0 &&
	   is_link(SNAP("config.json")) && !strcmp(slurp(path("outside/victim")), "keep\n"),
	   "a regular file there is replaced by rename, its bytes untouched");
	ok(mkdir(SNAP("adir"), 0755) == 0 &&
	   ms_store_link(&s, REV_A, "adir", HELLO_SHA256, &err) == MS_EIO &&
	   strstr(err.msg, "cannot create '") && strstr(err.msg, REV_A "/adir': ") &&
	   is_dir(SNAP("adir")) && !strcmp(ls(SNAP("")), "adir config.json d01 sub"),
	   "a directory there is an error, no temporary left: %s", err.msg);
	ok(symlink(path("outside"), SNAP("evil")) == 0 &&
	   ms_store_link(&s, REV_A, "evil/x.bin", HELLO_SHA256, &err) == MS_EPATH &&
	   strstr(err.msg, REV_A "/evil' is not a directory (a symlink?)") &&
	   !strcmp(ls(path("outside")), "victim"),
	   "a symlinked directory on the way is refused: %s", err.msg);
	ok(mkdir(SNAP("s2"), 0755) == 0 && symlink(path("outside"), SNAP("s2/s3")) == 0 &&
	   ms_store_link(&s, REV_A, "s2/s3/s4/x.bin", HELLO_SHA256, &err) == MS_EPATH &&
	   !exists(path("outside/s4")), "also deeper down, nothing made beyond it");
	ok(mkdir(at(s.repo_dir, "snapshots/" REV_B), 0755) == 0 &&
	   rmdir(at(s.repo_dir, "snapshots/" REV_B)) == 0 &&
	   symlink(path("outside"), at(s.repo_dir, "snapshots/" REV_B)) == 0 &&
	   ms_store_link(&s, REV_B, "x.bin", HELLO_SHA256, &err) == MS_EPATH &&
	   strstr(err.msg, "snapshots/" REV_B "' is not a directory") &&
	   unlink(at(s.repo_dir, "snapshots/" REV_B)) == 0,
	   "a symlinked snapshot dir is refused");
	rm_rf(SNAP("adir"));
	unlink(SNAP("evil"));
	rm_rf(SNAP("s2"));

	/* the callers check paths (ms_path_check); the store refuses them too */
	ok(ms_store_link(&s, REV_A, "e//f.bin", HELLO_SHA256, &err) != 0 &&
	   !is_link(SNAP("e/f.bin")),
	   "an empty component is refused: %s", err.msg);
	ok(ms_store_link(&s, REV_A, "/abs/f.bin", HELLO_SHA256, &err) != 0 &&
	   !is_link(SNAP("abs/f.bin")),
	   "an absolute path is refused: %s", err.msg);
	ok(ms_store_link(&s, REV_A, "../up.bin", HELLO_SHA256, &err) != 0 &&
	   !is_link(at(s.repo_dir, "snapshots/up.bin")),
	   "'..' is refused, nothing beside the snapshot: %s", err.msg);
	rm_rf(SNAP("e"));
	rm_rf(SNAP("abs"));
	unlink(at(s.repo_dir, "snapshots/up.bin"));

	/* ---- refs ---- */
#define REF(p) at(s.repo_dir, "refs/" p)
	ok(ms_store_write_ref(&s, "main", REV_A, &err) == 0 &&
	   !strcmp(slurp(REF("main")), REV_A),
	   "refs/main holds the 40 hex digits, no newline");
	{
		struct stat st;
		ok(stat(REF("main"), &st) == 0 && st.st_size == 40 &&
		   (st.st_mode & 0777) == 0644,
		   "40 bytes, mode 0644");
	}
	ok(link(REF("main"), path("old-main")) == 0 &&
	   ms_store_write_ref(&s, "main", REV_B, &err) == 0 &&
	   !strcmp(slurp(REF("main")), REV_B) &&
	   !strcmp(slurp(path("old-main")), REV_A) && !strcmp(ls(REF("")), "main"),
	   "replaced by rename: the old file keeps its bytes, no temporary left");
	ok(ms_store_write_ref(&s, "refs/pr/1", REV_A, &err) == 0 &&
	   !strcmp(slurp(REF("refs/pr/1")), REV_A) && !strcmp(ls(REF("")), "main refs"),
	   "a nested ref (refs/pr/1) makes its directories");
	ok(symlink(path("outside/victim"), REF("planted")) == 0 &&
	   ms_store_write_ref(&s, "planted", REV_B, &err) == 0 && !is_link(REF("planted")) &&
	   !strcmp(slurp(REF("planted")), REV_B) &&
	   !strcmp(slurp(path("outside/victim")), "keep\n"),
	   "a planted symlink at the ref is replaced, not written through");
	ok(symlink(path("outside"), REF("evil")) == 0 &&
	   ms_store_write_ref(&s, "evil/x", REV_B, &err) == MS_EPATH &&
	   strstr(err.msg, "refs/evil' is not a directory") &&
	   !strcmp(ls(path("outside")), "victim"),
	   "a symlinked directory in a ref name is refused: %s", err.msg);
	unlink(REF("evil"));
	unlink(REF("planted"));
	ok(ms_store_write_ref(&s, "../up", REV_A, &err) != 0 &&
	   access(at(s.repo_dir, "up"), F_OK) != 0,
	   "a ref '../up' is refused, nothing written in the repo dir: %s", err.msg);
	unlink(at(s.repo_dir, "up"));

	/* ---- the download lock ---- */
	ok(ms_store_lock(&s, NULL, NULL, &err) == 0 && s.lock_fd >= 0 &&
	   exists(at(cache, ".locks/models--acme--tiny/modelswarm.lock")), "lock taken");
	ms_store_open(&s2, cache, "acme/tiny", &err);
	snprintf(want, sizeof(want), "'%s/.locks/models--acme--tiny/modelswarm.lock' is locked "
		 "by another download", cache);
	ok(ms_store_lock(&s2, NULL, NULL, &err) == MS_EAGAIN && !strcmp(err.msg, want) &&
	   s2.lock_fd >= 0, "held elsewhere, no waiting: %s", err.msg);
	ms_store_release(&s);
	ok(s.lock_fd == -1 && flock(s2.lock_fd, LOCK_EX | LOCK_NB) == 0,
	   "after release, the open lock_fd takes it on a later try");
	ms_store_release(&s2);
	ms_store_lock(&s, NULL, NULL, &err);
	waited = 0;
	ok(ms_store_lock(&s2, on_wait, &s, &err) == 0 && waited == 1,
	   "with waiting(): called once, then the lock is taken when freed");
	ms_store_release(&s2);
	ok(ms_store_lock(&s2, on_wait, &s, &err) == 0 && waited == 1,
	   "a free lock: waiting() is not called");
	ms_store_release(&s2);

	/* ---- export ---- */
	ok(ms_store_export(&s, HELLO_SHA256, path("out"), "x/y.json", &err) == 0 &&
	   !is_link(path("out/x/y.json")) &&
	   same_file(path("out/x/y.json"), at(s.repo_dir, "blobs/" HELLO_SHA256)) &&
	   !strcmp(ls(path("out/x")), "y.json"), "export hard-links the blob to dir/path");
	ok(unlink(path("out/x/y.json")) == 0 &&
	   symlink(path("outside/victim"), path("out/x/y.json")) == 0 &&
	   ms_store_export(&s, HELLO_SHA256, path("out"), "x/y.json", &err) == 0 &&
	   !is_link(path("out/x/y.json")) && !strcmp(slurp(path("outside/victim")), "keep\n"),
	   "export replaces a planted symlink without following it");

	/* ---- removing a revision ---- */
	ms_store_link(&s, REV_B, "config.json", HELLO_SHA256, &err);
	ms_store_write_ref(&s, "main", REV_A, &err);
	ms_store_write_ref(&s, "other", REV_B, &err);
	put(at(s.repo_dir, "blobs/" ORPHAN), "x");
	put(at(s.repo_dir, "blobs/" ORPHAN ".incomplete"), "x");
	put(at(s.repo_dir, "blobs/notes"), "x");
	ok(ms_store_remove_revision(&s, REV_A, &err) == 0, "remove revision A");
	ok(!strcmp(ls(at(s.repo_dir, "snapshots")), REV_B) &&
	   !strcmp(link_text(at(s.repo_dir, "snapshots/" REV_B "/config.json")),
		   "../../blobs/" HELLO_SHA256), "its snapshot goes, B's stays");
	ok(!strcmp(ls(at(s.repo_dir, "blobs")), ORPHAN ".incomplete " HELLO_SHA256 " notes"),
	   "blobs: B's stays, A's own and the unlinked one go; .incomplete and others stay");
	ok(!strcmp(ls(REF("")), "other refs") && !strcmp(slurp(REF("other")), REV_B),
	   "refs/main (A) goes, refs/other (B) stays");
	ok(!strcmp(slurp(REF("refs/pr/1")), REV_A),
	   "TODO a nested ref naming A (refs/pr/1) is left behind");

	ms_store_release(&s);

	/* ---- paths under a directory, never through a symlink ---- */
	{
		struct stat st;
		size_t bad = 0;
		int dfd = -1, fd;

		ok(mkdir(path("beneath"), 0755) == 0 && mkdir(path("elsewhere"), 0755) == 0 &&
		   symlink("../elsewhere", path("beneath/sub")) == 0 &&
		   symlink("../elsewhere/f", path("beneath/leaf")) == 0 &&
		   (dfd = open(path("beneath"), O_RDONLY | O_DIRECTORY)) >= 0,
		   "beneath/ with a symlink to a directory outside and one to a file");
		fd = ms_open_beneath(dfd, "sub/f", O_WRONLY | O_CREAT, 0644, 1, &bad);
		ok(fd < 0 && errno == ELOOP && bad == 3 && !exists(path("elsewhere/f")),
		   "a symlinked directory on the way: ELOOP, the prefix named, nothing outside");
		fd = ms_open_beneath(dfd, "leaf", O_WRONLY | O_CREAT, 0644, 1, &bad);
		ok(fd < 0 && errno == ELOOP && bad == 4 && !exists(path("elsewhere/f")),
		   "a symlink at the file: ELOOP, nothing created through it");
		fd = ms_open_beneath(dfd, "../elsewhere/f", O_WRONLY | O_CREAT, 0644, 1, &bad);
		ok(fd < 0 && errno == EINVAL && bad == 2, "a '..' component: EINVAL");
		fd = ms_open_beneath(dfd, "a/b/c", O_WRONLY | O_CREAT, 0644, 1, &bad);
		ok(fd >= 0 && close(fd) == 0 && exists(path("beneath/a/b/c")),
		   "directories made on the way");
		ok(ms_stat_beneath(dfd, "a/b/c", &st, &bad) == 0 && S_ISREG(st.st_mode),
		   "and looked at");
		ok(ms_stat_beneath(dfd, "leaf", &st, &bad) == 0 && S_ISLNK(st.st_mode),
		   "a symlink looked at, not followed");
		ok(ms_stat_beneath(dfd, "sub/f", &st, &bad) < 0 && errno == ELOOP,
		   "nor one on the way");
		ok(ms_stat_beneath(dfd, "a/b/c/d", &st, &bad) < 0 && errno == ENOTDIR && bad == 5,
		   "a file on the way: ENOTDIR, the prefix named");
		ok(ms_stat_beneath(dfd, "x/y", &st, &bad) < 0 && errno == ENOENT,
		   "nothing there: ENOENT");
		ok(ms_remove_tree_at(dfd, "a") == 0 && ms_remove_tree_at(dfd, "sub") == 0 &&
		   !exists(path("beneath/a")) && exists(path("elsewhere")),
		   "trees removed, a symlink unlinked and not followed");
		close(dfd);
	}
	rm_rf(tmp);
	ok(!exists(tmp), "temporary directory removed");
	return tap_done();
}
