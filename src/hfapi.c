/* hfapi.c: the Hugging Face compatible endpoint (what a request means; the
 * transport is httpd.c) */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "hfapi-int.h"
#include "ms_hash.h"
#include "ms_hfapi.h"
#include "ms_httpd.h"
#include "ms_manifest.h"
#include "ms_trust.h"
#include "ms_util.h"

#define CACHED 8            /* listings kept parsed */
#define MISS_S 30           /* a release no index had is asked for again
			       only after this long */
#define WAIT_MS 60000       /* a request waits for its release this long */
#define INDEX_WAIT_MS 15000 /* a daemon asking our index for a release we
			       are bridging, this long */
#define RELAY_LOOK_MS 5000  /* a relay with no new bytes looks again */
#define MAX_SEGS 300
#define LFS_POINTER "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %" PRId64 "\n"

static const char expose[] =
	"X-Repo-Commit, X-Error-Code, X-Error-Message, ETag, Link, Accept-Ranges, "
	"Content-Range, Content-Length, X-Linked-Size, X-Linked-ETag";

/* one file of a held release */
struct hf_file {
	char *path;
	int64_t size;
	char etag[65];          /* sha256 (LFS) or git blob sha1 */
};

/* the files of one held release, sorted by path */
struct listing {
	char key[80];           /* id:rev */
	int dataset;
	time_t issued;
	struct hf_file *f;
	size_t n, cap;
};

struct ms_hfapi {
	struct ms_httpd *h;
	struct ms_seedbox *sb;
	struct ms_engine *eng;
	struct ms_strlist allow;  /* repos a request may start; none: any */
	unsigned stall_s;
	struct listing *cache[CACHED];
	unsigned next;          /* the slot to reuse */
};

/* one request being answered */
struct call {
	struct ms_hfapi *a;
	const struct ms_httpd_req *q;
	struct ms_httpd_resp *r;
	int dataset;            /* the URL's kind */
	char repo[256];
	char rev[200];
	struct ms_seedbox_view held;   /* the release: complete or on its way */
	struct listing *l;
};

/* ---- listings ---- */

static void listing_free(struct listing *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->f[i].path);
	free(l->f);
	free(l);
}

static int listing_add(struct listing *l, const char *path, int64_t size, const char *etag)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct hf_file *nf = realloc(l->f, cap * sizeof(*nf));
		if (!nf)
			return MS_ENOMEM;
		l->f = nf;
		l->cap = cap;
	}
	if (!(l->f[l->n].path = strdup(path)))
		return MS_ENOMEM;
	l->f[l->n].size = size;
	snprintf(l->f[l->n].etag, sizeof(l->f[l->n].etag), "%s", etag);
	l->n++;
	return 0;
}

static int by_path(const void *x, const void *y)
{
	return strcmp(((const struct hf_file *)x)->path, ((const struct hf_file *)y)->path);
}

static int is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == n;
}

/* the kept, verified manifest */
static int from_manifest(struct listing *l, const struct ms_seedbox_view *h,
			 const unsigned char *buf, size_t len)
{
	struct ms_manifest m;
	struct ms_error err;
	int rc;

	if ((rc = ms_manifest_parse(buf, len, &m, &err)))
		return rc;
	if (strcmp(m.repo, h->repo) || strcmp(m.revision, h->rev)) {
		ms_manifest_release(&m);
		return MS_EVERIFY;
	}
	l->dataset = !strcmp(m.repo_type, "dataset");
	l->issued = m.issued;
	for (size_t i = 0; i < m.n_files && !rc; i++)
		rc = listing_add(l, m.files[i].path, m.files[i].size, m.files[i].etag);
	ms_manifest_release(&m);
	return rc;
}

/* records older than the kept manifest: the snapshot the daemon linked
 * after verifying it, each link naming its blob by etag */
static struct listing *walking;
static size_t walk_root;

static int walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	char target[PATH_MAX];
	struct stat st;
	const char *etag;
	ssize_t n;

	(void)sb;
	(void)ftw;
	if (type != FTW_SL)
		return 0;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	etag = strrchr(target, '/');
	etag = etag ? etag + 1 : target;
	if (!strstr(target, "blobs/") || (!is_hex(etag, 40) && !is_hex(etag, 64)) ||
	    stat(path, &st) || !S_ISREG(st.st_mode))
		return 0;
	return listing_add(walking, path + walk_root, st.st_size, etag) ? 1 : 0;
}

static int from_snapshot(struct listing *l, const struct ms_seedbox_view *h)
{
	char dir[PATH_MAX];
	const char *base = strrchr(h->repo_dir, '/');
	struct stat st;
	int rc;

	if (snprintf(dir, sizeof(dir), "%s/snapshots/%s", h->repo_dir, h->rev) >=
	    (int)sizeof(dir) || lstat(dir, &st) || !S_ISDIR(st.st_mode))
		return MS_ENOENT;
	l->dataset = base && !strncmp(base + 1, "datasets--", 10);
	l->issued = st.st_mtime;
	walking = l;   /* the loop thread only */
	walk_root = strlen(dir) + 1;
	rc = nftw(dir, walk_one, 16, FTW_PHYS);
	walking = NULL;
	return rc ? MS_EIO : 0;
}

/* a release being bridged: the files of the upstream's tree, each with
 * the etag its bytes are checked against */
static int from_bridge(struct listing *l, const struct ms_upstream_job *b)
{
	int rc = 0;

	l->issued = time(NULL);
	for (size_t i = 0; i < ms_upstream_n_files(b) && !rc; i++) {
		const char *path, *etag;
		int64_t size;
		int done;
		ms_upstream_file(b, i, &path, &size, &etag, &done);
		rc = listing_add(l, path, size, etag);
	}
	return rc;
}

static struct listing *listing_get(struct ms_hfapi *a, const struct ms_seedbox_view *h)
{
	char key[80], path[PATH_MAX + 64];
	struct listing *l;
	unsigned char *buf = NULL;
	size_t len;
	struct ms_error err;
	int rc;

	snprintf(key, sizeof(key), "%s:%s", h->id, h->rev ? h->rev : "");
	for (unsigned i = 0; i < CACHED; i++)
		if (a->cache[i] && !strcmp(a->cache[i]->key, key))
			return a->cache[i];
	if (!(l = calloc(1, sizeof(*l))))
		return NULL;
	snprintf(l->key, sizeof(l->key), "%s", key);
	if (h->complete) {
		ms_seedbox_manifest_path(a->sb, h->id, path, sizeof(path));
		rc = ms_read_file(path, MS_MANIFEST_MAX, &buf, &len, &err);
		if (!rc)
			rc = from_manifest(l, h, buf, len);
		else if (rc == MS_ENOENT)
			rc = from_snapshot(l, h);
		free(buf);
	} else if (h->bridge) {
		/* being bridged: the upstream's tree, as it will be signed */
		rc = from_bridge(l, h->bridge);
	} else {
		/* on its way: the manifest its job verified */
		rc = from_manifest(l, h, h->manifest, h->manifest_len);
	}
	if (rc) {
		listing_free(l);
		return NULL;
	}
	qsort(l->f, l->n, sizeof(*l->f), by_path);
	listing_free(a->cache[a->next]);
	a->cache[a->next] = l;
	a->next = (a->next + 1) % CACHED;
	return l;
}

static const struct hf_file *find_file(const struct listing *l, const char *path)
{
	struct hf_file key = { .path = (char *)path };

	return bsearch(&key, l->f, l->n, sizeof(*l->f), by_path);
}

/* the files under dir ("" for the root): [*lo, *hi) of the sorted list
 * (paths with one prefix are next to each other); 0 when there are none */
static int dir_range(const struct listing *l, const char *dir, size_t *lo, size_t *hi)
{
	size_t dl = strlen(dir), a = 0, b = l->n;

	if (!dl) {
		*lo = 0;
		*hi = l->n;
		return l->n > 0;
	}
	while (a < b) {   /* the first path >= "dir/" */
		size_t m = a + (b - a) / 2;
		int c = strncmp(l->f[m].path, dir, dl);
		if (c < 0 || (c == 0 && (unsigned char)l->f[m].path[dl] < '/'))
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	while (a < l->n && !strncmp(l->f[a].path, dir, dl) && l->f[a].path[dl] == '/')
		a++;
	*hi = a;
	return *hi > *lo;
}

/* ---- git object ids ---- */

static int is_lfs(const struct hf_file *f)
{
	return strlen(f->etag) == 64;
}

static void git_sha1(const char *type, const void *buf, size_t len, uint8_t out[20])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	char head[64];
	int n = snprintf(head, sizeof(head), "%s %zu", type, len);

	EVP_DigestInit_ex(c, EVP_sha1(), NULL);
	EVP_DigestUpdate(c, head, (size_t)n + 1);
	EVP_DigestUpdate(c, buf, len);
	EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
}

/* a file's git blob id: its etag, or for an LFS file its pointer's */
static void file_oid(const struct hf_file *f, char hex[41], int *pointer_size)
{
	char ptr[256];
	uint8_t raw[20];
	int n;

	if (!is_lfs(f)) {
		memcpy(hex, f->etag, 41);
		return;
	}
	n = snprintf(ptr, sizeof(ptr), LFS_POINTER, f->etag, f->size);
	git_sha1("blob", ptr, (size_t)n, raw);
	ms_hex(raw, 20, hex);
	if (pointer_size)
		*pointer_size = n;
}

struct tentry {
	const char *name;
	size_t len;
	int dir;
	uint8_t id[20];
};

/* git's order: a directory sorts as if its name ended in '/' */
static int git_order(const void *x, const void *y)
{
	const struct tentry *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->name, b->name, n);
	unsigned ca, cb;

	if (c)
		return c;
	ca = n < a->len ? (unsigned char)a->name[n] : a->dir ? '/' : 0;
	cb = n < b->len ? (unsigned char)b->name[n] : b->dir ? '/' : 0;
	return (int)ca - (int)cb;
}

static int hex_raw(const char *hex, uint8_t *out)
{
	for (int i = 0; i < 20; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
			return -1;
	return 0;
}

/* the git tree id of files [lo, hi), all under a directory whose path is
 * skip bytes long (with its '/') */
static int tree_oid(const struct listing *l, size_t lo, size_t hi, size_t skip, uint8_t out[20])
{
	struct tentry *e = calloc(hi - lo + 1, sizeof(*e));
	char *buf = NULL;
	size_t n = 0, len = 0, i = lo;
	int rc = 0;

	if (!e)
		return MS_ENOMEM;
	while (i < hi && !rc) {
		const char *rest = l->f[i].path + skip, *slash = strchr(rest, '/');
		struct tentry *t = &e[n++];

		t->name = rest;
		if (!slash) {
			char hex[41];
			file_oid(&l->f[i], hex, NULL);
			t->len = strlen(rest);
			rc = hex_raw(hex, t->id);
			i++;
			continue;
		}
		t->dir = 1;
		t->len = (size_t)(slash - rest);
		size_t j = i;
		while (j < hi && !strncmp(l->f[j].path + skip, rest, t->len + 1))
			j++;
		rc = tree_oid(l, i, j, skip + t->len + 1, t->id);
		i = j;
	}
	qsort(e, n, sizeof(*e), git_order);
	for (size_t k = 0; k < n; k++)
		len += 7 + e[k].len + 21;   /* "100644 " name NUL id */
	if (!rc && !(buf = malloc(len + 1)))
		rc = MS_ENOMEM;
	if (!rc) {
		size_t o = 0;
		for (size_t k = 0; k < n; k++) {
			const char *mode = e[k].dir ? "40000 " : "100644 ";
			memcpy(buf + o, mode, strlen(mode));
			o += strlen(mode);
			memcpy(buf + o, e[k].name, e[k].len);
			o += e[k].len;
			buf[o++] = '\0';
			memcpy(buf + o, e[k].id, 20);
			o += 20;
		}
		git_sha1("tree", buf, o, out);
		free(buf);
	}
	free(e);
	return rc;
}

/* ---- answers ---- */

static void cors(struct ms_httpd_resp *r)
{
	ms_httpd_resp_header(r, "Access-Control-Allow-Origin", "*");
	ms_httpd_resp_header(r, "Access-Control-Expose-Headers", "%s", expose);
}

/* 4xx the way the hub says it: X-Error-Code and a JSON body */
static void fail(struct call *c, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct call *c, int status, const char *code, const char *fmt, ...)
{
	char msg[512], *body;
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a header value: no control bytes */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	c->r->status = status;
	cors(c->r);
	if (code)
		ms_httpd_resp_header(c->r, "X-Error-Code", "%s", code);
	ms_httpd_resp_header(c->r, "X-Error-Message", "%s", msg);
	ms_httpd_resp_header(c->r, "Content-Type", "application/json; charset=utf-8");
	o = json_pack("{s:s}", "error", msg);
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (body)
		ms_httpd_resp_take(c->r, body, strlen(body));
}

/* Not yet: wait until key is woken (at most ms), then look again; once a
 * wait has timed out, 503 with Retry-After and the message instead. */
static void wait_or_busy(struct call *c, const void *key, unsigned ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void wait_or_busy(struct call *c, const void *key, unsigned ms, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!c->q->timed_out) {
		ms_httpd_resp_wait(c->r, key, ms);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail(c, 503, NULL, "%s", msg);
	ms_httpd_resp_header(c->r, "Retry-After", "5");
}

static void send_json(struct call *c, json_t *o)
{
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!body) {
		c->r->err = MS_ENOMEM;
		return;
	}
	c->r->status = 200;
	cors(c->r);
	ms_httpd_resp_header(c->r, "Content-Type", "application/json; charset=utf-8");
	ms_httpd_resp_take(c->r, body, strlen(body));
}

/* ---- the URL ---- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* percent-decode n bytes of s into out; a NUL, a bad escape, or (unless
 * slash) an encoded '/' is refused; plus: '+' is a space (forms) */
static int decode(const char *s, size_t n, char *out, size_t outlen, int slash, int plus)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];
		if (ch == '%') {
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				return -1;
			ch = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		} else if (ch == '+' && plus) {
			ch = ' ';
		}
		if (ch == 0 || (ch == '/' && !slash) || o + 1 >= outlen)
			return -1;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return 0;
}

/* the raw path split at '/' */
struct segs {
	const char *s[MAX_SEGS];
	size_t len[MAX_SEGS];
	int n;
};

static int split(const char *path, struct segs *g)
{
	const char *p = path;

	g->n = 0;
	if (*p != '/')
		return -1;
	while (*p == '/') {
		const char *e = strchr(p + 1, '/');
		if (!e)
			e = p + strlen(p);
		if (g->n == MAX_SEGS)
			return -1;
		g->s[g->n] = p + 1;
		g->len[g->n++] = (size_t)(e - p - 1);
		p = e;
	}
	return 0;
}

static int seg_is(const struct segs *g, int i, const char *word)
{
	return i < g->n && g->len[i] == strlen(word) && !memcmp(g->s[i], word, g->len[i]);
}

/* segments [from, n) decoded and joined into a repo file path that passes
 * the manifest's path rules; "" when there are none */
static int join_path(const struct segs *g, int from, char *out, size_t outlen)
{
	size_t o = 0;
	struct ms_error err;

	out[0] = '\0';
	if (from >= g->n || (from == g->n - 1 && g->len[from] == 0))
		return 0;   /* none, or a trailing '/' */
	for (int i = from; i < g->n; i++) {
		if (o && o + 1 < outlen)
			out[o++] = '/';
		if (decode(g->s[i], g->len[i], out + o, outlen - o, 0, 0))
			return -1;
		o += strlen(out + o);
	}
	return ms_path_check(out, &err) ? -1 : 0;
}

/* a release that is not here: start its download, if this repo may be
 * started by a request; 1 when started */
static int start_release(struct call *c)
{
	struct ms_seedbox_req q = { 0 };
	struct ms_error err;
	const char *id;
	char spec[460];
	int existing, ok = !c->a->allow.n;

	for (size_t i = 0; i < c->a->allow.n && !ok; i++)
		ok = !fnmatch(c->a->allow.v[i], c->repo, 0);
	snprintf(spec, sizeof(spec), "%s@%s", c->repo, c->rev);
	if (!ok)
		return 0;
	q.spec = spec;
	q.forget_missing = 1;
	if (ms_seedbox_add_repo(c->a->sb, &q, &id, &existing, &err))
		return 0;
	return 1;
}

/* ORG/NAME from two segments and REV from a third (HEAD: main), the
 * release found (held, or on its way: a request may start it, and waits
 * until its manifest is verified); 0, or the answer given */
static int find_release(struct call *c, const struct segs *g, int at, int rev_at)
{
	char org[128], name[128], kind[16];
	struct ms_error err;
	int known = 0, rc;

	snprintf(kind, sizeof(kind), "%s", c->dataset ? "Dataset" : "Repository");
	if (at + 1 >= g->n || decode(g->s[at], g->len[at], org, sizeof(org), 0, 0) ||
	    decode(g->s[at + 1], g->len[at + 1], name, sizeof(name), 0, 0) ||
	    snprintf(c->repo, sizeof(c->repo), "%s/%s", org, name) >= (int)sizeof(c->repo) ||
	    ms_repo_check(c->repo, NULL, 0, &err)) {
		fail(c, 400, NULL, "Invalid repo name");
		return -1;
	}
	if (rev_at < 0)
		snprintf(c->rev, sizeof(c->rev), "main");
	else if (rev_at >= g->n ||
		 decode(g->s[rev_at], g->len[rev_at], c->rev, sizeof(c->rev), 1, 0) ||
		 (strcmp(c->rev, "HEAD") && ms_revision_check(c->rev) &&
		  ms_ref_check(c->rev, &err))) {
		fail(c, 400, NULL, "Invalid revision");
		return -1;
	}
	if (!strcmp(c->rev, "HEAD"))
		snprintf(c->rev, sizeof(c->rev), "main");
	/* only repos a key is trusted for (the org's pinned key, or a bridge's
	 * scope): the daemon gets and holds nothing else */
	if (ms_trust_check_repo(c->repo, &err)) {
		fail(c, 404, "RepoNotFound", "%s Not Found", kind);
		return -1;
	}
	rc = ms_seedbox_view(c->a->sb, c->repo, c->rev, &c->held, &known);
	if ((rc == MS_ENOTFOUND || (c->held.failed && c->held.failed_s >= MISS_S)) &&
	    start_release(c))
		rc = ms_seedbox_view(c->a->sb, c->repo, c->rev, &c->held, &known);
	/* (EINVAL: no index to ask) */
	if (rc == MS_ENOTFOUND || (c->held.failed && (c->held.code == MS_ENOTFOUND ||
						      c->held.code == MS_EINVAL))) {
		if (known)
			fail(c, 404, "RevisionNotFound", "Invalid rev id: %s", c->rev);
		else
			fail(c, 404, "RepoNotFound", "%s Not Found", kind);
		return -1;
	}
	if (c->held.failed && c->held.code != MS_EAGAIN) {
		fail(c, 502, NULL, "cannot download %s@%s: %s", c->repo, c->rev,
		     c->held.error ? c->held.error : ms_strerror(c->held.code));
		return -1;
	}
	if (!c->held.complete && !c->held.manifest && !c->held.bridge) {
		/* queued, or resolving: answer once its manifest is verified */
		wait_or_busy(c, c->held.key, WAIT_MS, "%s@%s is not resolved yet", c->repo, c->rev);
		return -1;
	}
	if (!(c->l = listing_get(c->a, &c->held))) {
		fail(c, 500, NULL, "cannot read the release of %s@%s", c->repo, c->held.rev);
		return -1;
	}
	if (c->l->dataset != c->dataset) {
		fail(c, 404, "RepoNotFound", "%s Not Found", kind);
		return -1;
	}
	return 0;
}

/* ---- the API ---- */

static json_t *file_json(const struct hf_file *f)
{
	char oid[41];
	int psize = 0;
	json_t *o;

	file_oid(f, oid, &psize);
	o = json_pack("{s:s,s:s,s:I,s:s}", "type", "file", "oid", oid, "size",
		      (json_int_t)f->size, "path", f->path);
	if (o && is_lfs(f))
		json_object_set_new(o, "lfs", json_pack("{s:s,s:I,s:i}", "oid", f->etag, "size",
							(json_int_t)f->size, "pointerSize", psize));
	return o;
}

static json_t *dir_json(const struct listing *l, const char *dir, size_t lo, size_t hi)
{
	uint8_t raw[20];
	char oid[41];

	if (tree_oid(l, lo, hi, strlen(dir) + 1, raw))
		return NULL;
	ms_hex(raw, 20, oid);
	return json_pack("{s:s,s:s,s:i,s:s}", "type", "directory", "oid", oid, "size", 0,
			 "path", dir);
}

static void api_info(struct call *c)
{
	char when[32], id[25];
	struct tm tm;
	time_t t = c->l->issued;
	json_t *sib = json_array(), *o;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	snprintf(id, sizeof(id), "%.24s", c->held.rev);
	for (size_t i = 0; i < c->l->n; i++)
		json_array_append_new(sib, json_pack("{s:s}", "rfilename", c->l->f[i].path));
	o = json_pack("{s:s,s:s,s:s,s:b,s:b,s:b,s:s,s:o,s:[],s:i,s:i}", "_id", id, "id",
		      c->repo, "sha", c->held.rev, "private", 0,
		      "gated", 0, "disabled", 0, "lastModified", when, "siblings", sib, "tags",
		      "downloads", 0, "likes", 0);
	if (o)
		json_object_set_new(o, "author", json_stringn(c->repo, strcspn(c->repo, "/")));
	if (o && !c->dataset)
		json_object_set_new(o, "modelId", json_string(c->repo));
	send_json(c, o);
}

/* the entries of dir: its files and directories, or everything below;
 * a directory comes once, before its files */
static void api_tree(struct call *c, const char *dir, int recursive)
{
	size_t lo, hi, skip = *dir ? strlen(dir) + 1 : 0;
	json_t *a;

	if (!dir_range(c->l, dir, &lo, &hi)) {
		fail(c, 404, "EntryNotFound", "%s does not exist on \"%s\"", *dir ? dir : "/",
		     c->held.rev);
		ms_httpd_resp_header(c->r, "X-Repo-Commit", "%s", c->held.rev);
		return;
	}
	a = json_array();
	for (size_t i = lo; i < hi; i++) {
		const char *p = c->l->f[i].path, *prev = i > lo ? c->l->f[i - 1].path : NULL;

		for (const char *s = strchr(p + skip, '/'); s;
		     s = recursive ? strchr(s + 1, '/') : NULL) {
			size_t dl = (size_t)(s - p), dlo, dhi;
			char d[MS_PATH_MAX + 1];

			if (prev && !strncmp(prev, p, dl + 1))
				continue;   /* listed with an earlier file */
			memcpy(d, p, dl);
			d[dl] = '\0';
			dir_range(c->l, d, &dlo, &dhi);
			json_array_append_new(a, dir_json(c->l, d, dlo, dhi));
		}
		if (recursive || !strchr(p + skip, '/'))
			json_array_append_new(a, file_json(&c->l->f[i]));
	}
	send_json(c, a);
}

/* the paths asked for, as JSON ({"paths":[...]}) or a form (paths=a&paths=b) */
static int asked_paths(struct call *c, struct ms_strlist *out)
{
	const char *ct = ms_httpd_header(c->q, "Content-Type");
	const char *p = c->q->body;

	if (ct && !strncasecmp(ct, "application/json", 16)) {
		json_t *o = json_loadb(c->q->body, c->q->body_len, 0, NULL), *ps, *v;
		size_t i;
		int rc = 0;

		ps = json_object_get(o, "paths");
		if (json_is_string(ps))
			rc = ms_strlist_push_copy(out, json_string_value(ps));
		else if (json_is_array(ps))
			json_array_foreach(ps, i, v)
				if (!rc && json_is_string(v))
					rc = ms_strlist_push_copy(out, json_string_value(v));
		json_decref(o);
		return !ps || rc ? -1 : 0;
	}
	while (*p) {
		const char *amp = strchr(p, '&'), *eq;
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		char v[MS_PATH_MAX + 1];

		eq = memchr(p, '=', n);
		if (eq && eq - p == 5 && !strncmp(p, "paths", 5)) {
			if (decode(eq + 1, n - 6, v, sizeof(v), 1, 1) || ms_strlist_push_copy(out, v))
				return -1;
		}
		p += n + (amp ? 1 : 0);
	}
	return 0;
}

static void api_paths_info(struct call *c)
{
	struct ms_strlist paths = { 0 };
	struct ms_error err;
	json_t *a;

	if (asked_paths(c, &paths)) {
		ms_strlist_release(&paths);
		fail(c, 400, NULL, "paths-info needs a 'paths' list");
		return;
	}
	a = json_array();
	for (size_t i = 0; i < paths.n; i++) {
		const char *p = paths.v[i];
		const struct hf_file *f;
		size_t lo, hi;

		if (ms_path_check(p, &err))
			continue;
		if ((f = find_file(c->l, p)))
			json_array_append_new(a, file_json(f));
		else if (dir_range(c->l, p, &lo, &hi))
			json_array_append_new(a, dir_json(c->l, p, lo, hi));
	}
	ms_strlist_release(&paths);
	send_json(c, a);
}

static void add_ref(void *ud, const char *ref, const char *rev)
{
	char full[200];

	snprintf(full, sizeof(full), "refs/heads/%s", ref);
	json_array_append_new(ud, json_pack("{s:s,s:s,s:s}", "name", ref, "ref", full,
					    "targetCommit", rev));
}

static void api_refs(struct call *c)
{
	json_t *b = json_array();

	ms_seedbox_held_refs(c->a->sb, c->repo, add_ref, b);
	send_json(c, json_pack("{s:o,s:[],s:[]}", "branches", b, "tags", "converts"));
}

/* ---- resolve ---- */

/* one span of "bytes=a-b", "bytes=a-", "bytes=-n" within size: 1 (and the
 * span), 0 to answer the whole file, -1 unsatisfiable. An empty file is
 * answered whole (200, with "Content-Range: bytes *\/0") whatever the
 * range: clients probe with bytes=0-0 and take a 416 for an error. */
static int parse_range(const char *h, int64_t size, int64_t *a, int64_t *b)
{
	char *end;

	if (!h || strncmp(h, "bytes=", 6) || strchr(h, ',') || size == 0)
		return 0;   /* another unit, or several spans: the whole file */
	h += 6;
	if (*h == '-') {
		long long n = strtoll(h + 1, &end, 10);
		if (end == h + 1 || *end || n < 0)
			return 0;
		if (n == 0)
			return -1;
		*a = n >= size ? 0 : size - n;
		*b = size - 1;
		return 1;
	}
	if (*h < '0' || *h > '9')
		return 0;
	*a = strtoll(h, &end, 10);
	if (*end != '-')
		return 0;
	h = end + 1;
	if (!*h) {
		*b = size - 1;
	} else {
		if (*h < '0' || *h > '9')
			return 0;
		*b = strtoll(h, &end, 10);
		if (*end)
			return 0;
		if (*b < *a)
			return 0;   /* not a valid range: ignored, as RFC 9110 says */
		if (*b >= size)
			*b = size - 1;
	}
	return *a >= size ? -1 : 1;
}

/* the file's blob, if it is there (verified: it gets its name only then) */
static int open_blob(const struct call *c, const struct hf_file *f)
{
	char blob[PATH_MAX + 80];
	struct stat st;
	int fd;

	if (!c->held.repo_dir)
		return -1;
	snprintf(blob, sizeof(blob), "%s/blobs/%s", c->held.repo_dir, f->etag);
	fd = open(blob, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size != f->size)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* the body of a HEAD answer, which is never read */
static ssize_t no_body(void *ud, uint64_t pos, char *buf, size_t max, int timed_out)
{
	return -1;
}

static void no_done(void *ud)
{
}

static void resolve(struct call *c, const struct segs *g, int at)
{
	char path[MS_PATH_MAX + 1];
	const struct hf_file *f;
	struct ms_getjob_file gf;
	int64_t a = 0, b = 0;
	int fd, rng, jr = 0, bridging;

	if (join_path(g, at + 4, path, sizeof(path)) || !*path) {
		fail(c, 400, NULL, "Invalid file path");
		return;
	}
	if (find_release(c, g, at, at + 3))
		return;
	if (!(f = find_file(c->l, path))) {
		fail(c, 404, "EntryNotFound", "%s does not exist on \"%s\"", path, c->held.rev);
		ms_httpd_resp_header(c->r, "X-Repo-Commit", "%s", c->held.rev);
		return;
	}
	fd = open_blob(c, f);
	if (fd < 0 && c->held.complete) {
		fail(c, 500, NULL, "the blob of %s is missing or damaged", path);
		return;
	}
	/* a file of a bridge (or a follow) on its way: checked, and so
	 * sent, only once it is whole */
	bridging = fd < 0 && c->held.bridge && !c->held.job;
	if (bridging && strcmp(c->q->method, "HEAD")) {
		/* the request waits while the bridge's bytes move (woken as
		 * they come), up to stall-timeout without one */
		wait_or_busy(c, c->held.bytes_key, c->a->stall_s * 1000u,
			     "%s@%s: no byte of the bridge for %u s", c->repo, c->held.rev,
			     c->a->stall_s);
		return;
	}
	if (fd < 0 && !bridging && (!c->held.job || !c->held.repo_dir ||
		       (jr = ms_getjob_file(c->held.job, path, &gf)) == MS_EAGAIN)) {
		/* its files are not mapped yet */
		wait_or_busy(c, c->held.key, WAIT_MS, "%s@%s is not ready yet", c->repo,
			     c->held.rev);
		return;
	}
	if (fd < 0 && jr) {
		fail(c, 404, "EntryNotFound", "%s is not downloaded on \"%s\"", path, c->held.rev);
		ms_httpd_resp_header(c->r, "X-Repo-Commit", "%s", c->held.rev);
		return;
	}
	rng = parse_range(ms_httpd_header(c->q, "Range"), f->size, &a, &b);
	cors(c->r);
	ms_httpd_resp_header(c->r, "X-Repo-Commit", "%s", c->held.rev);
	ms_httpd_resp_header(c->r, "ETag", "\"%s\"", f->etag);
	ms_httpd_resp_header(c->r, "X-Linked-Etag", "\"%s\"", f->etag);
	ms_httpd_resp_header(c->r, "X-Linked-Size", "%" PRId64, f->size);
	ms_httpd_resp_header(c->r, "Accept-Ranges", "bytes");
	ms_httpd_resp_header(c->r, "Content-Type", "application/octet-stream");
	if (rng < 0) {
		if (fd >= 0)
			close(fd);
		c->r->status = 416;
		ms_httpd_resp_header(c->r, "Content-Range", "bytes */%" PRId64, f->size);
		return;
	}
	if (rng > 0) {
		c->r->status = 206;
		ms_httpd_resp_header(c->r, "Content-Range", "bytes %" PRId64 "-%" PRId64 "/%" PRId64,
				     a, b, f->size);
	} else {
		c->r->status = 200;
		a = 0;
		b = f->size - 1;
		/* an empty file asked for a range: its size the way a range
		 * tells it (@huggingface/hub's fileDownloadInfo reads it only
		 * there) */
		if (f->size == 0 && ms_httpd_header(c->q, "Range"))
			ms_httpd_resp_header(c->r, "Content-Range", "bytes */0");
	}
	if (fd >= 0)
		ms_httpd_resp_file(c->r, fd, (uint64_t)a, (uint64_t)(b - a + 1));
	else if (bridging)
		/* HEAD of a file a bridge has on its way: its metadata (the
		 * upstream's, which its bytes will be checked against) at once */
		ms_httpd_resp_stream(c->r, (uint64_t)(b - a + 1), no_body, no_done, NULL, NULL, 0);
	else if (b >= a)
		/* still downloading: sent as its pieces are verified */
		ms__hf_stream(c->r, c->a->h, c->a->eng, &gf, c->held.repo_dir, f->etag, a,
			      b - a + 1, c->a->stall_s);
}

/* ---- the index of the releases this daemon bridged ---- */

/* a file name of an index's repo directory: refs.json, REV.torrent,
 * REV.manifest.json and their signatures; *rev the REV ("" for refs) */
static int index_name(const char *name, char rev[41])
{
	static const char *const tails[] = { ".manifest.json", ".manifest.json.minisig",
					     ".torrent" };

	rev[0] = '\0';
	if (!strcmp(name, "refs.json") || !strcmp(name, "refs.json.minisig"))
		return 0;
	if (strlen(name) < 41)
		return -1;
	memcpy(rev, name, 40);
	rev[40] = '\0';
	if (ms_revision_check(rev))
		return -1;
	for (size_t i = 0; i < sizeof(tails) / sizeof(*tails); i++)
		if (!strcmp(name + 40, tails[i]))
			return 0;
	return -1;
}

/* GET /modelswarm/index/ORG/NAME/FILE: our bridged releases, for other
 * daemons. A repo we do not have yet but may bridge is started, and the
 * answer is 503 with Retry-After while it is on its way, so that they
 * wait for this bridge instead of bridging it themselves. */
static void index_file(struct call *c, const struct segs *g)
{
	const char *dir = ms_seedbox_bridge_index(c->a->sb);
	char org[128], name[128], file[128], rev[41], path[PATH_MAX + 512];
	struct ms_error err;
	struct stat st;
	int fd, known;

	if (!dir || decode(g->s[2], g->len[2], org, sizeof(org), 0, 0) ||
	    decode(g->s[3], g->len[3], name, sizeof(name), 0, 0) ||
	    decode(g->s[4], g->len[4], file, sizeof(file), 0, 0) ||
	    snprintf(c->repo, sizeof(c->repo), "%s/%s", org, name) >= (int)sizeof(c->repo) ||
	    ms_repo_check(c->repo, NULL, 0, &err) || index_name(file, rev)) {
		fail(c, 404, NULL, "Not Found");
		return;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", dir, c->repo, file);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			close(fd);
			fail(c, 404, NULL, "Not Found");
			return;
		}
		c->r->status = 200;
		ms_httpd_resp_header(c->r, "Content-Type", "application/octet-stream");
		ms_httpd_resp_header(c->r, "Cache-Control", "no-cache");
		ms_httpd_resp_file(c->r, fd, 0, (uint64_t)st.st_size);
		return;
	}
	/* not here (yet) */
	snprintf(c->rev, sizeof(c->rev), "%s", *rev ? rev : "main");
	if (ms_seedbox_view(c->a->sb, c->repo, c->rev, &c->held, &known) == MS_ENOTFOUND &&
	    !ms_trust_check_repo(c->repo, &err) && start_release(c))
		ms_seedbox_view(c->a->sb, c->repo, c->rev, &c->held, &known);
	if (c->held.key && !c->held.complete &&
	    (!c->held.failed || c->held.code == MS_EAGAIN)) {
		/* held a while (woken when it moves on: the asker learns at
		 * once), then 503 within the asker's low-speed limit; at once
		 * when its tree is read: a daemon with an upstream follows
		 * the bridge then (GET /modelswarm/follow/...), the bytes
		 * relayed to it as they come */
		if (!c->q->timed_out && !(c->held.bridge && c->held.bridging)) {
			ms_httpd_resp_wait(c->r, c->held.key, INDEX_WAIT_MS);
			return;
		}
		fail(c, 503, NULL, "%s@%s is being bridged here: try again later", c->repo,
		     c->rev);
		ms_httpd_resp_header(c->r, "Retry-After", "2");
		return;
	}
	fail(c, 404, NULL, "Not Found");
}

/* ---- following: daemons that take a bridge's bytes as they come ---- */

/* the relay address a follower names: "PORT" (at the address it came
 * from) or "IP:PORT", numeric; a loopback address only from loopback */
static int relay_of(const struct call *c, const char *v, char *out, size_t cap)
{
	char peer[64], ip[64];
	const char *colon = strrchr(v, ':');
	unsigned char bin[16];
	long port;
	char *end;
	int loop_peer, v6;

	if (ms_httpd_peer(c->q, peer, sizeof(peer)))
		return -1;
	loop_peer = !strncmp(peer, "127.", 4) || !strcmp(peer, "[::1]");
	port = strtol(colon ? colon + 1 : v, &end, 10);
	if (*end || port < 1 || port > 65535 || (colon && (size_t)(colon - v) >= sizeof(ip)))
		return -1;
	if (!colon) {
		snprintf(ip, sizeof(ip), "%s", peer);
	} else {
		snprintf(ip, sizeof(ip), "%.*s", (int)(colon - v), v);
		v6 = ip[0] == '[';
		if (v6 && ip[strlen(ip) - 1] != ']')
			return -1;
		if (v6) {
			char in[64];
			snprintf(in, sizeof(in), "%.*s", (int)strlen(ip) - 2, ip + 1);
			if (inet_pton(AF_INET6, in, bin) != 1 || (!loop_peer && !strcmp(in, "::1")))
				return -1;
		} else if (inet_pton(AF_INET, ip, bin) != 1 || (!loop_peer && bin[0] == 127)) {
			return -1;
		}
	}
	return snprintf(out, cap, "http://%s:%ld/modelswarm/relay/%s/", ip, port, c->repo) >=
	       (int)cap ? -1 : 0;
}

/* GET /modelswarm/follow/ORG/NAME/REV[?relay=[IP:]PORT]: a daemon whose
 * index (this daemon) said "being bridged here" asks where to take the
 * bytes: {"commit": C, "relay": URL}. With relay= it serves them in turn
 * there (named to later followers). */
static void follow(struct call *c, const struct segs *g)
{
	char org[128], name[128], rev[128], asker[600], relay[600], commit[41];
	const char *ra = ms_httpd_arg(c->q, "relay"), *host;
	const void *key;
	struct ms_error err;
	int rc;

	if (!ms_seedbox_bridge_index(c->a->sb) ||
	    decode(g->s[2], g->len[2], org, sizeof(org), 0, 0) ||
	    decode(g->s[3], g->len[3], name, sizeof(name), 0, 0) ||
	    decode(g->s[4], g->len[4], rev, sizeof(rev), 0, 0) ||
	    snprintf(c->repo, sizeof(c->repo), "%s/%s", org, name) >= (int)sizeof(c->repo) ||
	    ms_repo_check(c->repo, NULL, 0, &err) ||
	    (ms_revision_check(rev) && ms_ref_check(rev, &err))) {
		fail(c, 404, NULL, "Not Found");
		return;
	}
	*asker = '\0';
	if (ra && relay_of(c, ra, asker, sizeof(asker))) {
		fail(c, 400, NULL, "relay= takes [IP:]PORT, numeric");
		return;
	}
	rc = ms_seedbox_follow(c->a->sb, c->repo, rev, *asker ? asker : NULL, relay,
			       sizeof(relay), commit, &key);
	if (rc == MS_EAGAIN) {
		if (!c->q->timed_out) {
			ms_httpd_resp_wait(c->r, key, INDEX_WAIT_MS);
			return;
		}
		fail(c, 503, NULL, "%s@%s is being bridged here: try again later", c->repo, rev);
		ms_httpd_resp_header(c->r, "Retry-After", "2");
		return;
	}
	if (rc) {
		fail(c, 404, NULL, "%s@%s is not being bridged here", c->repo, rev);
		return;
	}
	if (!*relay) {
		/* this daemon, as the asker reached it */
		host = ms_httpd_header(c->q, "Host");
		if (!host || !*host || strlen(host) > 200 ||
		    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			   ".-:[]") != strlen(host)) {
			fail(c, 400, NULL, "no usable Host header");
			return;
		}
		snprintf(relay, sizeof(relay), "http://%s/modelswarm/relay/%s/", host, c->repo);
	}
	send_json(c, json_pack("{s:s,s:s}", "commit", commit, "relay", relay));
}

struct relay_stream {
	struct ms_hfapi *a;
	int fd;
	uint64_t base;          /* the range's start */
	char repo[sizeof(((struct call *)0)->repo)], etag[65];
};

/* the bytes there so far; at the end of them, wait for more while the
 * bridge (or follow) still has the file on its way */
static ssize_t relay_read(void *ud, uint64_t pos, char *buf, size_t max, int timed_out)
{
	struct relay_stream *s = ud;
	struct ms_seedbox_relay rf;
	struct stat st;
	uint64_t at = s->base + pos;
	ssize_t n;

	if (fstat(s->fd, &st))
		return -1;
	if ((uint64_t)st.st_size > at) {
		if ((uint64_t)st.st_size - at < max)
			max = (size_t)((uint64_t)st.st_size - at);
		n = pread(s->fd, buf, max, (off_t)at);
		return n > 0 ? n : -1;
	}
	if (timed_out && ms_seedbox_relay_file(s->a->sb, s->repo, s->etag, &rf))
		return -1;  /* that bridge is over, and the file was not finished */
	return 0;
}

static void relay_done(void *ud)
{
	struct relay_stream *s = ud;

	close(s->fd);
	free(s);
}

/* GET /modelswarm/relay/ORG/NAME/ETAG: a file of a bridge (or follow) on
 * its way here, as its bytes come, for the daemons following it. These
 * bytes are not checked yet: a follower checks every file against the
 * upstream's metadata itself before it gets its name, and only then
 * serves it to its clients. */
static void relay(struct call *c, const struct segs *g)
{
	char org[128], name[128], etag[65], path[PATH_MAX + 160];
	struct ms_seedbox_relay rf;
	struct relay_stream *s;
	struct ms_error err;
	struct stat st;
	int64_t a = 0, b = 0;
	int fd, rng;

	if (decode(g->s[2], g->len[2], org, sizeof(org), 0, 0) ||
	    decode(g->s[3], g->len[3], name, sizeof(name), 0, 0) ||
	    decode(g->s[4], g->len[4], etag, sizeof(etag), 0, 0) ||
	    (strlen(etag) != 40 && strlen(etag) != 64) ||
	    strspn(etag, "0123456789abcdef") != strlen(etag) ||
	    snprintf(c->repo, sizeof(c->repo), "%s/%s", org, name) >= (int)sizeof(c->repo) ||
	    ms_repo_check(c->repo, NULL, 0, &err) ||
	    ms_seedbox_relay_file(c->a->sb, c->repo, etag, &rf) || !rf.repo_dir) {
		fail(c, 404, NULL, "Not Found");
		return;
	}
	snprintf(path, sizeof(path), "%s/blobs/%s", rf.repo_dir, etag);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(path, sizeof(path), "%s/blobs/%s.incomplete", rf.repo_dir, etag);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		/* not started yet */
		if (!c->q->timed_out) {
			ms_httpd_resp_wait(c->r, rf.key, INDEX_WAIT_MS);
			return;
		}
		fail(c, 503, NULL, "not started yet");
		ms_httpd_resp_header(c->r, "Retry-After", "2");
		return;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		fail(c, 404, NULL, "Not Found");
		return;
	}
	rng = parse_range(ms_httpd_header(c->q, "Range"), rf.size, &a, &b);
	if (rng < 0) {
		close(fd);
		c->r->status = 416;
		ms_httpd_resp_header(c->r, "Content-Range", "bytes */%" PRId64, rf.size);
		return;
	}
	if (rng > 0) {
		c->r->status = 206;
		ms_httpd_resp_header(c->r, "Content-Range", "bytes %" PRId64 "-%" PRId64 "/%" PRId64,
				     a, b, rf.size);
	} else {
		c->r->status = 200;
		a = 0;
		b = rf.size - 1;
	}
	ms_httpd_resp_header(c->r, "Content-Type", "application/octet-stream");
	if (b < a) {
		close(fd);
		return;
	}
	if (st.st_size == rf.size) {
		ms_httpd_resp_file(c->r, fd, (uint64_t)a, (uint64_t)(b - a + 1));
		return;
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		close(fd);
		fail(c, 500, NULL, "out of memory");
		return;
	}
	s->a = c->a;
	s->fd = fd;
	s->base = (uint64_t)a;
	snprintf(s->repo, sizeof(s->repo), "%s", c->repo);
	snprintf(s->etag, sizeof(s->etag), "%s", etag);
	ms_httpd_resp_stream(c->r, (uint64_t)(b - a + 1), relay_read, relay_done, s, rf.key,
			     RELAY_LOOK_MS);
}

/* ---- routing ---- */

static void api(struct call *c, const struct segs *g, int get, int post)
{
	char dir[MS_PATH_MAX + 1];
	const char *rec;

	/* /api/{models,datasets}/ORG/NAME/... */
	if (g->n == 4 || (g->n == 6 && seg_is(g, 4, "revision"))) {
		if (get && !find_release(c, g, 2, g->n == 6 ? 5 : -1))
			api_info(c);
	} else if (g->n >= 6 && seg_is(g, 4, "tree")) {
		if (join_path(g, 6, dir, sizeof(dir))) {
			fail(c, 400, NULL, "Invalid path");
			return;
		}
		rec = ms_httpd_arg(c->q, "recursive");
		if (get && !find_release(c, g, 2, 5))
			api_tree(c, dir, rec && (!strcmp(rec, "true") || !strcmp(rec, "1") ||
						 !strcmp(rec, "True")));
	} else if (g->n == 6 && seg_is(g, 4, "paths-info")) {
		if (post && !find_release(c, g, 2, 5))
			api_paths_info(c);
		else if (!post)
			fail(c, 405, NULL, "paths-info takes POST");
		return;
	} else if (g->n == 5 && seg_is(g, 4, "refs")) {
		if (get && !find_release(c, g, 2, -1))
			api_refs(c);
	} else {
		fail(c, 404, NULL, "Not Found");
		return;
	}
	if (!get && c->r->status == 500 && !c->r->n_headers)
		fail(c, 405, NULL, "Method Not Allowed");
}

static void handle(void *ud, const struct ms_httpd_req *q, struct ms_httpd_resp *r)
{
	struct call c = { .a = ud, .q = q, .r = r };
	int get = !strcmp(q->method, "GET") || !strcmp(q->method, "HEAD");
	int post = !strcmp(q->method, "POST");
	struct segs g;
	int at;

	if (!strcmp(q->method, "OPTIONS")) {
		r->status = 204;
		cors(r);
		ms_httpd_resp_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
		ms_httpd_resp_header(r, "Access-Control-Allow-Headers",
				     "Authorization, Range, Content-Type, User-Agent, X-Requested-With");
		ms_httpd_resp_header(r, "Access-Control-Max-Age", "86400");
		return;
	}
	if (split(q->path, &g)) {
		fail(&c, 400, NULL, "Invalid path");
		return;
	}
	if (seg_is(&g, 0, "api") && (seg_is(&g, 1, "models") || seg_is(&g, 1, "datasets"))) {
		c.dataset = seg_is(&g, 1, "datasets");
		if (!get && !post)
			fail(&c, 405, NULL, "Method Not Allowed");
		else
			api(&c, &g, get, post);
		return;
	}
	if (seg_is(&g, 0, "modelswarm") && g.n == 5 &&
	    (seg_is(&g, 1, "follow") || seg_is(&g, 1, "relay"))) {
		if (!get)
			fail(&c, 405, NULL, "Method Not Allowed");
		else if (seg_is(&g, 1, "follow"))
			follow(&c, &g);
		else
			relay(&c, &g);
		return;
	}
	if (seg_is(&g, 0, "modelswarm") && seg_is(&g, 1, "index") && g.n == 5) {
		if (!get)
			fail(&c, 405, NULL, "Method Not Allowed");
		else
			index_file(&c, &g);
		return;
	}
	c.dataset = seg_is(&g, 0, "datasets");
	at = c.dataset ? 1 : 0;
	if (!seg_is(&g, 0, "api") && seg_is(&g, at + 2, "resolve") && g.n >= at + 5) {
		if (!get)
			fail(&c, 405, NULL, "Method Not Allowed");
		else
			resolve(&c, &g, at);
		return;
	}
	fail(&c, 404, NULL, "Not Found");
}

/* a repo moved on: the requests that wait on it look again */
static void on_notify(void *ud, const void *key)
{
	struct ms_hfapi *a = ud;

	ms_httpd_wake(a->h, key);
}

int ms_hfapi_start(struct ms_hfapi **out, uv_loop_t *loop, const struct ms_hfapi_opts *ho,
		   struct ms_error *err)
{
	struct ms_httpd_opts o = {
		.addr = ho->addr, .what = "hf-listen",
		.max_conns = MS_HFAPI_MAX_CONNS, .max_per_ip = MS_HFAPI_MAX_PER_IP,
		.conn_memory = MS_HFAPI_CONN_MEMORY, .timeout_s = MS_HFAPI_TIMEOUT_S,
		.body_max = MS_HFAPI_BODY_MAX, .sigpipe_ignored = 1, .handler = handle,
	};
	struct ms_hfapi *a = calloc(1, sizeof(*a));
	int rc;

	if (!a)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	a->sb = ho->sb;
	a->eng = ho->eng;
	a->stall_s = ho->stall_s ? ho->stall_s : MS_HFAPI_STALL_S;
	a->allow.owned = 1;
	for (size_t i = 0; ho->allow && i < ho->allow->n; i++)
		if (ms_strlist_push_copy(&a->allow, ho->allow->v[i])) {
			ms_strlist_release(&a->allow);
			free(a);
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		}
	o.ud = a;
	if ((rc = ms_httpd_start(&a->h, loop, &o, err))) {
		ms_strlist_release(&a->allow);
		free(a);
		return rc;
	}
	ms_seedbox_set_notify(a->sb, on_notify, a);
	*out = a;
	return 0;
}

int ms_hfapi_port(const struct ms_hfapi *a)
{
	return ms_httpd_port(a->h);
}

void ms_hfapi_set_timeout(struct ms_hfapi *a, unsigned timeout_s)
{
	ms_httpd_set_timeout(a->h, timeout_s ? timeout_s : MS_HFAPI_TIMEOUT_S);
}

void ms_hfapi_close(struct ms_hfapi *a)
{
	if (!a)
		return;
	ms_seedbox_set_notify(a->sb, NULL, NULL);
	ms_httpd_close(a->h);
	ms_strlist_release(&a->allow);
	for (unsigned i = 0; i < CACHED; i++)
		listing_free(a->cache[i]);
	free(a);
}
