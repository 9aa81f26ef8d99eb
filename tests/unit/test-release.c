/* test-release.c: the one torrent <-> manifest binding, fed every bad
 * torrent the threat list names; each must be refused with its own error */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ms_torrent.h"
#include "ms_hash.h"
#include "ms_release.h"
#include "tap.h"
#include "tmpdir.h"


static void write_file(const char *name, size_t size, int seed)
{
	FILE *f = fopen(path(name), "wb");

	for (size_t i = 0; f && i < size; i++)
		fputc((int)((i * 31 + (size_t)seed) & 0xff), f);
	if (f)
		fclose(f);
}

/* ---- a hybrid torrent of three files, as publish makes it ------------- */

static struct ms_build_file bf[3] = {
	{ .path = "a.bin", .size = 100000 },
	{ .path = "b.json", .size = 300 },
	{ .path = "c.bin", .size = 70000 },
};
static unsigned char *hybrid;
static size_t hybrid_len;

static int make_hybrid(void)
{
	struct ms_build_opts o;
	struct ms_error err;

	write_file("a.bin", 100000, 1);
	write_file("b.json", 300, 2);
	write_file("c.bin", 70000, 3);
	memset(&o, 0, sizeof(o));
	o.name = "11f6ad8ec52a2984abaafd7c3b516503785c2072";
	o.piece_size = 16384;
	o.threads = 1;
	if (ms_torrent_build(tmp, bf, 3, &o, &hybrid, &hybrid_len, &err)) {
		diag("%s", err.msg);
		return -1;
	}
	return 0;
}

/* ---- v1 torrents written by hand: attributes, twice the same path ------ */

struct v1file {
	const char *path;
	long long len;
	const char *attr;      /* NULL, "x" or "l" */
};

static size_t v1_torrent(char *out, size_t cap, const struct v1file *f, int n, int plen)
{
	long long total = 0;
	int pieces;
	size_t o = 0;

	o += (size_t)snprintf(out + o, cap - o, "d4:infod5:filesl");
	for (int i = 0; i < n; i++) {
		o += (size_t)snprintf(out + o, cap - o, "d");
		if (f[i].attr)
			o += (size_t)snprintf(out + o, cap - o, "4:attr%zu:%s", strlen(f[i].attr),
					      f[i].attr);
		o += (size_t)snprintf(out + o, cap - o, "6:lengthi%llde4:pathl%zu:%se",
				      f[i].len, strlen(f[i].path), f[i].path);
		if (f[i].attr && !strcmp(f[i].attr, "l"))
			o += (size_t)snprintf(out + o, cap - o, "12:symlink pathl5:a.bine");
		o += (size_t)snprintf(out + o, cap - o, "e");
		total += f[i].len;
	}
	pieces = (int)((total + plen - 1) / plen);
	o += (size_t)snprintf(out + o, cap - o, "e4:name4:test12:piece lengthi%de6:pieces%d:",
			      plen, pieces * 20);
	memset(out + o, 0x5a, (size_t)pieces * 20);
	o += (size_t)pieces * 20;
	o += (size_t)snprintf(out + o, cap - o, "ee");
	return o;
}

/* ---- the manifest, as if verified: every file the torrent has ---------- */

static void manifest_of(struct ms_release *r, lts_torrent *t)
{
	struct ms_manifest *m = &r->v.m;
	struct ms_torrent_meta tm;
	int n;
	const char *name;

	if (ms_torrent_meta(t, &tm, NULL))
		abort();
	n = tm.num_files;
	name = tm.name;
	memset(m, 0, sizeof(*m));
	m->repo = strdup("acme/tiny");
	m->repo_type = strdup("model");
	snprintf(m->infohash_v1, sizeof(m->infohash_v1), "%s", tm.hash_v1);
	snprintf(m->infohash_v2, sizeof(m->infohash_v2), "%s", tm.hash_v2);
	m->piece_length = tm.piece_length;
	m->files = calloc((size_t)n, sizeof(*m->files));
	for (int i = 0; i < n; i++) {
		struct lts_file_info fi;
		const char *p;
		ms_torrent_file(t, i, &fi);
		if (fi.pad)
			continue;
		p = fi.path;
		if (!strncmp(p, name, strlen(name)) && p[strlen(name)] == '/')
			p += strlen(name) + 1;
		m->files[m->n_files].path = strdup(p);
		m->files[m->n_files].size = fi.size;
		if (fi.has_root)
			ms_hex(fi.root, 32, m->files[m->n_files].pieces_root);
		m->n_files++;
	}
	ms_torrent_meta_release(&tm);
	r->verified = 1;
}

static struct ms_manifest_file *mf(struct ms_release *r, const char *path)
{
	for (size_t i = 0; i < r->v.m.n_files; i++)
		if (!strcmp(r->v.m.files[i].path, path))
			return &r->v.m.files[i];
	return NULL;
}

static void drop_file(struct ms_release *r, const char *path)
{
	struct ms_manifest_file *f = mf(r, path);
	size_t k = (size_t)(f - r->v.m.files);

	free(f->path);
	memmove(f, f + 1, (r->v.m.n_files - k - 1) * sizeof(*f));
	r->v.m.n_files--;
}

static void add_file(struct ms_release *r, const char *path, int64_t size)
{
	struct ms_manifest *m = &r->v.m;

	m->files = realloc(m->files, (m->n_files + 1) * sizeof(*m->files));
	memset(&m->files[m->n_files], 0, sizeof(*m->files));
	m->files[m->n_files].path = strdup(path);
	m->files[m->n_files].size = size;
	m->n_files++; /* "z..." sorts last, as the manifest's order wants */
}

/* ---- the table --------------------------------------------------------- */

enum kind { HYBRID, V1_EXEC, V1_LINK, V1_TWICE, V1_PLAIN };

struct threat {
	const char *what;
	enum kind torrent;
	void (*spoil)(struct ms_release *r);
	const char *error;      /* NULL: it binds */
};

static void none(struct ms_release *r) { (void)r; }
static void wrong_v1(struct ms_release *r) { r->v.m.infohash_v1[0] ^= 1; }
static void wrong_v2(struct ms_release *r) { r->v.m.infohash_v2[5] = r->v.m.infohash_v2[5] == '0' ? '1' : '0'; }
static void wrong_plen(struct ms_release *r) { r->v.m.piece_length *= 2; }
static void extra_in_torrent(struct ms_release *r) { drop_file(r, "b.json"); }
static void missing_in_torrent(struct ms_release *r) { add_file(r, "zz.bin", 10); }
static void wrong_size(struct ms_release *r) { mf(r, "c.bin")->size += 1; }
static void wrong_root(struct ms_release *r) { mf(r, "a.bin")->pieces_root[0] ^= 1; }
static void root_for_v1(struct ms_release *r) { memset(mf(r, "a.bin")->pieces_root, 'a', 64); }

static const struct threat threats[] = {
	{ "the torrent publish makes binds", HYBRID, none, NULL },
	{ "a plain v1 torrent binds", V1_PLAIN, none, NULL },
	{ "wrong v1 info-hash", HYBRID, wrong_v1, "torrent's v1 info-hash" },
	{ "wrong v2 info-hash", HYBRID, wrong_v2, "torrent's v2 info-hash" },
	{ "wrong piece length", HYBRID, wrong_plen, "piece length 16384 is not the manifest's 32768" },
	{ "a file the manifest does not list", HYBRID, extra_in_torrent,
	  "torrent has a file 'b.json' that the manifest does not list" },
	{ "a manifest file the torrent lacks", HYBRID, missing_in_torrent,
	  "torrent is missing 'zz.bin'" },
	{ "a wrong size", HYBRID, wrong_size, "torrent says 'c.bin' has 70000 bytes, the manifest 70001" },
	{ "a wrong pieces root", HYBRID, wrong_root, "pieces root of 'a.bin' is not the manifest's" },
	{ "a pieces root the v1 torrent cannot have", V1_PLAIN, root_for_v1,
	  "pieces root of 'a.bin' is not the manifest's" },
	{ "the executable attribute", V1_EXEC, none, "has the executable attribute" },
	{ "the symlink attribute", V1_LINK, none, "has the symlink attribute" },
	{ "one path twice", V1_TWICE, none, "twice" },
};

static lts_torrent *torrent_of(enum kind k, struct ms_error *err)
{
	static char buf[4096];
	struct v1file plain[] = { { "a.bin", 40000, NULL }, { "b.json", 10, NULL } };
	struct v1file exec[] = { { "a.bin", 40000, "x" }, { "b.json", 10, NULL } };
	struct v1file link[] = { { "a.bin", 40000, NULL }, { "b.json", 0, "l" } };
	struct v1file twice[] = { { "a.bin", 40000, NULL }, { "a.bin", 40000, NULL } };
	size_t n;

	switch (k) {
	case HYBRID:
		return ms_torrent_load(hybrid, hybrid_len, err);
	case V1_PLAIN:
		n = v1_torrent(buf, sizeof(buf), plain, 2, 16384);
		break;
	case V1_EXEC:
		n = v1_torrent(buf, sizeof(buf), exec, 2, 16384);
		break;
	case V1_LINK:
		n = v1_torrent(buf, sizeof(buf), link, 2, 16384);
		break;
	default:
		n = v1_torrent(buf, sizeof(buf), twice, 2, 16384);
		break;
	}
	return ms_torrent_load(buf, n, err);
}

static void run(const struct threat *t)
{
	struct ms_release r;
	struct ms_error err = { 0, "" };
	lts_torrent *meta = torrent_of(t->torrent, &err), *probe;
	int e;

	if (!meta) {
		/* libtorrent itself refuses it: fine, if that is all there is */
		ok(t->error != NULL, "%s: refused when loaded (%s)", t->what, err.msg);
		return;
	}
	probe = torrent_of(t->torrent, &err);
	ms_release_init(&r);
	manifest_of(&r, probe);
	ms_torrent_free(probe);
	t->spoil(&r);
	e = ms_release_bind(&r, meta, &err);
	if (!t->error) {
		int good = !e && r.meta == meta;
		for (size_t i = 0; good && i < r.v.m.n_files; i++)
			good = ms_release_file(&r, r.tindex[i]) == &r.v.m.files[i];
		ok(good, "%s (%s)", t->what, e ? err.msg : "bound");
	} else {
		ok(e == MS_ETORRENT && strstr(err.msg, t->error) && !r.meta,
		   "%s: refused (%s)", t->what, e ? err.msg : "it bound");
		ms_torrent_free(meta);
	}
	ms_release_release(&r);
}

int main(void)
{
	struct ms_release r;
	struct ms_error err;
	char spec[400];

	if (tmpdir_make("release") || make_hybrid()) {
		ok(0, "set up a repo and its torrent");
		return tap_done();
	}
	for (size_t i = 0; i < MS_ARRAY_SIZE(threats); i++)
		run(&threats[i]);

	/* no manifest verified: nothing to bind to */
	ms_release_init(&r);
	ok(ms_release_bind(&r, NULL, &err) == MS_EINVAL, "no verified manifest: refused");
	ms_release_release(&r);

	/* ORG/NAME@REV, once */
	ms_release_init(&r);
	ok(!ms_release_spec(&r, "acme/tiny", "main", &err) && !strcmp(r.repo, "acme/tiny") &&
	   !strcmp(r.want, "main"), "ORG/NAME takes the default ref");
	ok(ms_release_spec(&r, "acme/tiny", NULL, &err) == MS_EINVAL &&
	   strstr(err.msg, "need ORG/NAME@REV"), "no default: @REV required (%s)", err.msg);
	ok(ms_release_spec(&r, "acme/tiny@", "main", &err) == MS_EINVAL, "an empty @REV");
	ok(ms_release_spec(&r, "../x@main", "main", &err) == MS_EINVAL, "a bad repo (%s)",
	   err.msg);
	memset(spec, 'a', 300);
	snprintf(spec + 300, 40, "/b@main");
	ok(ms_release_spec(&r, spec, "main", &err) == MS_EINVAL && strstr(err.msg, "too long"),
	   "a repo too long is refused, not cut");
	ok(!ms_release_spec(&r, "acme/tiny@944CAB0000000000000000000000000000ABCDEF", "main",
			    &err) &&
	   !strcmp(r.want, "944cab0000000000000000000000000000abcdef"),
	   "an upper-case revision is a revision, in lower case (%s)", r.want);
	ok(!ms_release_spec(&r, "acme/tiny@Main", "main", &err) && !strcmp(r.want, "Main"),
	   "a ref keeps its case");
	ok(!ms_release_spec(&r, "acme/tiny@944CAB00000000000000000000000000000ABCDEF", "main",
			    &err) &&
	   !strcmp(r.want, "944CAB00000000000000000000000000000ABCDEF"),
	   "41 hex digits are a ref name, kept as written");
	ms_release_release(&r);

	/* a signature file that is none: the URL and what came back */
	const char *html = "\n <!DOCTYPE html>\n<html></html>\n";
	ok(ms_release_sig_check("http://h/acme/x/refs.json.minisig", (const unsigned char *)html,
				strlen(html), &err) == MS_EVERIFY &&
	   !strcmp(err.msg, "'http://h/acme/x/refs.json.minisig' is not a minisign signature "
			    "(got an HTML page)"), "an HTML page: %s", err.msg);
	ok(ms_release_sig_check("u", (const unsigned char *)"", 0, &err) == MS_EVERIFY &&
	   !strcmp(err.msg, "'u' is not a minisign signature (got an empty file)"),
	   "an empty file: %s", err.msg);
	ok(ms_release_sig_check("u", (const unsigned char *)"x\n", 2, &err) == MS_EVERIFY &&
	   !strcmp(err.msg, "'u' is not a minisign signature (signature file has 1 lines, not 4)"),
	   "anything else, with the reason: %s", err.msg);

	/* the index list, once: given, else $MODELSWARM_INDEX, else the config */
	{
		struct ms_strlist given = { 0 };
		struct ms_config c;
		char idx[] = "https://a.invalid/ https://b.invalid/";
		memset(&c, 0, sizeof(c));
		c.index = idx;
		setenv("MODELSWARM_INDEX", "env1 env2", 1);
		ms_strlist_push(&given, "given");
		ms_release_init(&r);
		ok(!ms_release_indexes(&r, &given, &c, &err) && r.indexes.n == 1 &&
		   !strcmp(r.indexes.v[0], "given"), "--index wins");
		ms_release_release(&r);
		ms_release_init(&r);
		ok(!ms_release_indexes(&r, NULL, &c, &err) && r.indexes.n == 2 &&
		   !strcmp(r.indexes.v[1], "env2"), "then $MODELSWARM_INDEX, every index of it");
		ms_release_release(&r);
		unsetenv("MODELSWARM_INDEX");
		ms_release_init(&r);
		ok(!ms_release_indexes(&r, NULL, &c, &err) && r.indexes.n == 2 &&
		   !strcmp(r.indexes.v[0], "https://a.invalid/"), "then the config's");
		ms_release_release(&r);
		ms_release_init(&r);
		ok(ms_release_indexes(&r, NULL, NULL, &err) == MS_EINVAL &&
		   strstr(err.msg, "no index"), "none: a clear error");
		ms_release_release(&r);
		ms_strlist_release(&given);
	}

	free(hybrid);
	rm_rf(tmp);
	return tap_done();
}
