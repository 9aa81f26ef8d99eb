/* mirror.c: modelswarm mirror ORG/NAME[@REV] DIR -- a verified release
 * from the Hugging Face cache as a static tree that any web server serves
 * as both an index and a web seed:
 *   DIR/ORG/NAME/{REV.torrent, REV.manifest.json(.minisig), refs.json(.minisig)}
 *   DIR/ORG/NAME/resolve/REV/<path>   hard links to the cache's blobs */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "ms_dht.h"
#include "ms_engine.h"
#include "ms_hash.h"
#include "ms_release.h"
#include "ms_store.h"

static const char mirror_usage[] =
	"usage: modelswarm mirror ORG/NAME[@REV] DIR [--index URL]... [--cache-dir DIR]\n"
	"                         [--copy]\n"
	"\n"
	"    REV                   a 40-hex revision or a ref (default: main)\n"
	"    DIR                   gets DIR/ORG/NAME/{REV.torrent,REV.manifest.json,\n"
	"                          REV.manifest.json.minisig,refs.json,refs.json.minisig}\n"
	"                          as the index served them, and the files as hard links\n"
	"                          to the cache's blobs at DIR/ORG/NAME/resolve/REV/PATH;\n"
	"                          a release resolved in the DHT comes without refs.json\n"
	"                          (the DHT carries none), so DIR serves it by REV\n"
	"    --index URL           an index (file://, http(s)://, a directory); repeatable,\n"
	"                          tried in order (default: $MODELSWARM_INDEX, then the\n"
	"                          config file's index, else the DHT if the config turns\n"
	"                          it on); dht: is the DHT, also asked for a ref when\n"
	"                          every index fails, in a session started only for that\n"
	"    --cache-dir DIR       the Hugging Face cache that holds the files (default\n"
	"                          as for 'modelswarm get')\n"
	"    --copy                copy a file where a hard link cannot be made (DIR on\n"
	"                          another filesystem) instead of failing\n"
	"    -h, --help            show this help\n";

enum { OPT_M_INDEX = OPT_CMD_BASE, OPT_M_CACHE, OPT_M_COPY };

static const struct option mirror_longopts[] = {
	{ "index", required_argument, NULL, OPT_M_INDEX },
	{ "cache-dir", required_argument, NULL, OPT_M_CACHE },
	{ "copy", no_argument, NULL, OPT_M_COPY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

struct mirror_job {
	const char *dir;             /* DIR */
	int copy;                    /* --copy */
	struct ms_release rel;
	struct ms_store store;
	char repo_dir[PATH_MAX + 300];   /* DIR/ORG/NAME */
	int dirs_made;               /* DIR/ORG/NAME/resolve/REV is ours to prune */
	char **tmp;                  /* per manifest file: its staged name */
	struct ms_hash_file *hf;     /* per manifest file */
	size_t copies;
};

/* a mirror is complete or it is nothing */
static int check_present(struct mirror_job *m)
{
	const struct ms_manifest *mf = &m->rel.v.m;
	size_t missing = 0, first = 0;

	for (size_t i = mf->n_files; i-- > 0;)
		if (!ms_store_blob_present(&m->store, mf->files[i].etag, mf->files[i].size)) {
			missing++;
			first = i;
		}
	if (missing == mf->n_files)
		return cmd_error(EXIT_VERIFY, "%s@%s is not in the cache '%s'", m->rel.repo,
				 m->rel.rev, m->store.repo_dir);
	if (missing)
		return cmd_error(EXIT_VERIFY, "'%s' of %s@%s is not in the cache '%s' (%zu of "
				 "%zu files missing); a mirror needs every file",
				 mf->files[first].path, m->rel.repo, m->rel.rev,
				 m->store.repo_dir, missing, mf->n_files);
	return 0;
}

/* DIR/ORG/NAME/resolve/REV: real directories, on the cache's filesystem
 * unless --copy */
static int make_dirs(struct mirror_job *m)
{
	char rel[600], full[PATH_MAX + 900], blobs[PATH_MAX + 16];
	struct stat a, b;
	struct ms_error err;

	snprintf(rel, sizeof(rel), "%s/resolve/%s/", m->rel.repo, m->rel.rev);
	if (ms_store_export_dirs(m->dir, rel, &err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	m->dirs_made = 1;
	snprintf(full, sizeof(full), "%s/%s", m->dir, rel);
	snprintf(blobs, sizeof(blobs), "%s/blobs", m->store.repo_dir);
	if (stat(full, &a) < 0)
		return cmd_error(EXIT_ERROR, "cannot stat '%s': %s", full, strerror(errno));
	if (stat(blobs, &b) < 0)
		return cmd_error(EXIT_ERROR, "cannot stat '%s': %s", blobs, strerror(errno));
	if (a.st_dev != b.st_dev && !m->copy)
		return cmd_error(EXIT_ERROR, "'%s' and '%s' are on different filesystems, so "
				 "the files cannot be hard-linked (--copy copies them)",
				 m->dir, m->store.cache);
	return 0;
}

/* each file at a temporary name next to its place, to be hashed there */
static int stage(struct mirror_job *m)
{
	const struct ms_manifest *mf = &m->rel.v.m;
	char path[MS_PATH_MAX + 400], tmp[PATH_MAX + MS_PATH_MAX + 1024];
	struct ms_error err;
	size_t dl = strlen(m->dir);

	for (size_t i = 0; i < mf->n_files; i++) {
		int copied;

		snprintf(path, sizeof(path), "%s/resolve/%s/%s", m->rel.repo, m->rel.rev,
			 mf->files[i].path);
		if (ms_store_export_stage(&m->store, mf->files[i].etag, m->dir, path, m->copy,
					  tmp, sizeof(tmp), &copied, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		if (!(m->tmp[i] = strdup(tmp))) {
			unlink(tmp);
			return cmd_error(EXIT_ERROR, "out of memory");
		}
		m->copies += (size_t)copied;
		m->hf[i].path = m->tmp[i] + dl + 1;   /* relative to DIR */
		m->hf[i].size = mf->files[i].size;
	}
	return 0;
}

/* the staged bytes against the manifest's sha256s */
static int verify(struct mirror_job *m)
{
	const struct ms_manifest *mf = &m->rel.v.m;
	struct hash_progress hp = { stderr_is_tty(), -1 };
	struct ms_hash_job job;
	struct ms_error err;
	int bad = 0, r;

	memset(&job, 0, sizeof(job));
	job.dir = m->dir;
	job.files = m->hf;
	job.n_files = mf->n_files;
	job.piece_length = mf->piece_length > 0 ? (int)mf->piece_length : MS_V2_BLOCK;
	job.progress = hash_progress;
	job.ud = &hp;
	r = ms_hash_run(&job, &err);
	if (hp.tty)
		fputs("\r\033[K", stderr);
	if (r)
		return cmd_error(r == MS_EIO || r == MS_ENOMEM ? EXIT_ERROR : EXIT_VERIFY, "%s",
				 err.msg);
	ms_hash_job_release(&job);
	for (size_t i = 0; i < mf->n_files; i++) {
		char hex[65];
		ms_hex(m->hf[i].sha256, 32, hex);
		if (strcmp(hex, mf->files[i].sha256)) {
			fprintf(stderr, "error: '%s' does not match its sha256 in the manifest "
				"(blob '%s/blobs/%s')\n", mf->files[i].path, m->store.repo_dir,
				mf->files[i].etag);
			bad++;
		}
	}
	if (bad)
		return cmd_error(EXIT_VERIFY, "not mirroring %s@%s: %d of %zu files do not "
				 "match its manifest", m->rel.repo, m->rel.rev, bad, mf->n_files);
	return 0;
}

/* after a failure: no staged file stays, nor a directory we left empty */
static void unstage(struct mirror_job *m)
{
	char p[PATH_MAX + 900];

	for (size_t i = 0; m->tmp && i < m->rel.v.m.n_files; i++)
		if (m->tmp[i])
			unlink(m->tmp[i]);
	if (!m->dirs_made)
		return;
	snprintf(p, sizeof(p), "%s/resolve/%s", m->repo_dir, m->rel.rev);
	ms_prune_empty_dirs(p, 0);
	snprintf(p, sizeof(p), "%s/resolve", m->repo_dir);
	rmdir(p);
	rmdir(m->repo_dir);
	snprintf(p, sizeof(p), "%s/%.*s", m->dir, (int)strcspn(m->rel.repo, "/"), m->rel.repo);
	rmdir(p);
}

static int commit(struct mirror_job *m)
{
	const struct ms_manifest *mf = &m->rel.v.m;
	char path[MS_PATH_MAX + 400];
	struct ms_error err;

	for (size_t i = 0; i < mf->n_files; i++) {
		snprintf(path, sizeof(path), "%s/resolve/%s/%s", m->rel.repo, m->rel.rev,
			 mf->files[i].path);
		if (ms_store_export_commit(m->tmp[i], m->dir, path, &err))
			return cmd_error(EXIT_ERROR, "%s", err.msg);
		free(m->tmp[i]);
		m->tmp[i] = NULL;
	}
	return 0;
}

/* DIR/ORG/NAME/name = the bytes the index served, unless already there */
static int put_file(struct mirror_job *m, const char *name, const struct ms_release_bytes *f)
{
	char path[PATH_MAX + 400];
	unsigned char *old = NULL;
	size_t len;
	struct stat st;
	struct ms_error err;

	snprintf(path, sizeof(path), "%s/%s", m->repo_dir, name);
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == f->len &&
	    !ms_read_file(path, f->len, &old, &len, NULL)) {
		int same = len == f->len && !memcmp(old, f->buf, len);
		free(old);
		if (same)
			return 0;
	}
	if (ms_write_file_atomic(path, f->buf, f->len, 0644, &err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	return 0;
}

/* the index's files last, refs.json after what it points to */
static int put_index(struct mirror_job *m)
{
	char name[128];
	int r;

	snprintf(name, sizeof(name), "%s.torrent", m->rel.rev);
	if ((r = put_file(m, name, &m->rel.torrent)))
		return r;
	snprintf(name, sizeof(name), "%s.manifest.json", m->rel.rev);
	if ((r = put_file(m, name, &m->rel.manifest)))
		return r;
	strcat(name, ".minisig");
	if ((r = put_file(m, name, &m->rel.manifest_sig)) || !m->rel.refs.buf)
		return r;
	if ((r = put_file(m, "refs.json", &m->rel.refs)))
		return r;
	return put_file(m, "refs.json.minisig", &m->rel.refs_sig);
}

static int run(struct mirror_job *m, const char *cache_opt)
{
	char cache[PATH_MAX], sz[32];
	struct ms_error err;
	int64_t total = 0;
	size_t n = m->rel.v.m.n_files;
	int r;

	if (ms_store_cache_dir(cache_opt, cache, sizeof(cache), &err) ||
	    ms_store_open(&m->store, cache, m->rel.repo, &err))
		return cmd_error(EXIT_ERROR, "%s", err.msg);
	if ((r = check_present(m)))
		return r;
	m->tmp = calloc(n, sizeof(*m->tmp));
	m->hf = calloc(n, sizeof(*m->hf));
	if (!m->tmp || !m->hf)
		return cmd_error(EXIT_ERROR, "out of memory");
	if ((r = make_dirs(m)) || (r = stage(m)) || (r = verify(m)) || (r = commit(m)) ||
	    (r = put_index(m)))
		return r;
	if (!m->rel.refs.buf && ms_revision_check(m->rel.want) && m->rel.index &&
	    !strcmp(m->rel.index, MS_DHT_INDEX))
		cmd_warning("%s@%s came from the DHT, which carries no signed refs.json: '%s' "
			    "serves %s@%s, not @%s", m->rel.repo, m->rel.want, m->dir, m->rel.repo,
			    m->rel.rev, m->rel.want);
	for (size_t i = 0; i < n; i++)
		total += m->rel.v.m.files[i].size;
	printf("mirrored %s@%s into '%s': %zu files, %s (%zu hard links, %zu copies)\n",
	       m->rel.repo, m->rel.rev, m->dir, n, ms_fmt_bytes(sz, sizeof(sz), (double)total),
	       n - m->copies, m->copies);
	return EXIT_OK;
}

int cmd_mirror(int argc, char **argv, struct ms_ctx *ctx)
{
	struct ms_strlist indexes = { 0 };
	const char *cache = NULL;
	struct net_opts net = { 0 };
	struct ms_engine_opts eo;
	struct mirror_job m;
	int c, r;

	memset(&m, 0, sizeof(m));
	m.store.lock_fd = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", mirror_longopts, NULL)) != -1) {
		switch (c) {
		case OPT_M_INDEX:
			if (ms_strlist_push(&indexes, optarg)) {
				ms_strlist_release(&indexes);
				return cmd_error(EXIT_ERROR, "out of memory");
			}
			break;
		case OPT_M_CACHE: cache = optarg; break;
		case OPT_M_COPY: m.copy = 1; break;
		case 'h':
			fputs(mirror_usage, stdout);
			ms_strlist_release(&indexes);
			return EXIT_OK;
		default:
			ms_strlist_release(&indexes);
			return cmd_bad_option("mirror", argv, mirror_longopts);
		}
	}
	if (argc - optind != 2) {
		ms_strlist_release(&indexes);
		return cmd_usage_error("mirror", argc - optind > 2 ? "too many arguments"
					 : argc - optind ? "no directory given"
							 : "no ORG/NAME given");
	}
	m.dir = argv[optind + 1];
	/* no session: one is started for the DHT, if it comes to that */
	net_engine_opts(ctx, &net, &eo);
	r = cmd_release_fetch_dht(&m.rel, "mirror", argv[optind], "main", &indexes, ctx,
				  MS_RELEASE_WANT_REFS, NULL, NULL, &eo);
	ms_strlist_release(&indexes);
	if (!r && (size_t)snprintf(m.repo_dir, sizeof(m.repo_dir), "%s/%s", m.dir,
				   m.rel.repo) >= sizeof(m.repo_dir))
		r = cmd_error(EXIT_ERROR, "'%s' is too long", m.dir);
	if (!r && (r = run(&m, cache)))
		unstage(&m);
	for (size_t i = 0; m.tmp && i < m.rel.v.m.n_files; i++)
		free(m.tmp[i]);
	free(m.tmp);
	free(m.hf);
	ms_store_release(&m.store);
	ms_release_release(&m.rel);
	return r;
}
