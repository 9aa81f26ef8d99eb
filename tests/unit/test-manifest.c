/* test-manifest.c: strict manifest/refs parsing and the path rules (and the
 * store's own limit on a path's depth) */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ms_manifest.h"
#include "ms_store.h"
#include "tap.h"

static const char good[] =
	"{\"_type\": \"modelswarm.release\", \"spec_version\": 1,"
	" \"repo\": \"acme/tiny\", \"repo_type\": \"model\","
	" \"revision\": \"11f6ad8ec52a2984abaafd7c3b516503785c2072\", \"version\": 3,"
	" \"issued\": \"2026-01-01T00:00:00Z\", \"expires\": \"2027-01-01T00:00:00Z\","
	" \"torrent\": {\"infohash_v1\": \"ec02dc8070efb2007ebde988dc62119d5b15053d\","
	"  \"infohash_v2\": \"43658af0372ea04aa02f97762eae307db2da21addd03d960ff27f553ac76b700\","
	"  \"piece_length\": 65536},"
	" \"files\": [{\"path\": \"PATH\", \"size\": SIZE,"
	"  \"sha256\": \"fe470b8845196fb39265db76cce8ada41fd244e148526dc5f2dd936c8f625d96\","
	"  \"etag\": \"fe470b8845196fb39265db76cce8ada41fd244e148526dc5f2dd936c8f625d96\","
	"  \"pieces_root\": \"91c72f00f9f3c88709794bd718955448f542e220b27410b9cb3423ce27e29160\"}EXTRA],"
	" \"webseeds\": [], \"trackers\": [\"http://127.0.0.1:1/announce\"]TOP}";

/* good with PATH, SIZE, EXTRA and TOP replaced */
static char *variant(const char *path, const char *size, const char *extra,
		     const char *top)
{
	static char buf[8192];
	const char *s = good;
	char *o = buf;

	while (*s) {
		if (!strncmp(s, "PATH", 4)) {
			o += sprintf(o, "%s", path);
			s += 4;
		} else if (!strncmp(s, "SIZE", 4)) {
			o += sprintf(o, "%s", size);
			s += 4;
		} else if (!strncmp(s, "EXTRA", 5)) {
			o += sprintf(o, "%s", extra);
			s += 5;
		} else if (!strncmp(s, "TOP", 3)) {
			o += sprintf(o, "%s", top);
			s += 3;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return buf;
}

static int parse(const char *text, struct ms_error *err)
{
	struct ms_manifest m;
	int r = ms_manifest_parse(text, strlen(text), &m, err);
	if (!r)
		ms_manifest_release(&m);
	return r;
}

#define EXTRA_FILE(p) ", {\"path\": \"" p "\", \"size\": 1, \"sha256\": " \
	"\"fe470b8845196fb39265db76cce8ada41fd244e148526dc5f2dd936c8f625d96\", " \
	"\"etag\": \"0187f3b09d66cef7911083ad49f890f5a6589589\", \"pieces_root\": " \
	"\"91c72f00f9f3c88709794bd718955448f542e220b27410b9cb3423ce27e29160\"}"

/* the store refuses a link it cannot build (a symlink target has at most
 * PATH_MAX - 1 bytes) before it creates anything, whatever a manifest
 * allowed */
static void store_deep_link(void)
{
	static char path[3100];
	char dir[] = "/tmp/test-manifest.XXXXXX", snaps[PATH_MAX + 64], cmd[PATH_MAX + 64];
	const char *etag = "0187f3b09d66cef7911083ad49f890f5a6589589";
	struct ms_store st;
	struct ms_error err;
	size_t o;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	ok(ms_store_open(&st, dir, "acme/deep", &err) == 0, "store opened");
	for (o = 0; o < 2998; o += 2)
		memcpy(path + o, "d/", 2);
	strcpy(path + o, "f");
	memset(&err, 0, sizeof(err));
	ok(ms_store_link(&st, "11f6ad8ec52a2984abaafd7c3b516503785c2072", path, etag, &err) ==
	   MS_EPATH && strstr(err.msg, "cannot link 'd/d/d/") &&
	   strstr(err.msg, "1499 levels deep"), "deep link refused: %s", err.msg);
	snprintf(snaps, sizeof(snaps), "%s/snapshots/11f6ad8ec52a2984abaafd7c3b516503785c2072",
		 st.repo_dir);
	ok(access(snaps, F_OK) < 0, "nothing created for it");
	ok(ms_store_link(&st, "11f6ad8ec52a2984abaafd7c3b516503785c2072", "a/b/f", etag,
			 &err) == 0, "a shallow link is made: %s", err.msg);
	strcat(snaps, "/a/b/f");
	{
		char t[256];
		ssize_t k = readlink(snaps, t, sizeof(t) - 1);
		t[k > 0 ? k : 0] = '\0';
		ok(!strcmp(t, "../../../../blobs/0187f3b09d66cef7911083ad49f890f5a6589589"),
		   "its target: %s", t);
	}
	ms_store_release(&st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		diag("cannot remove %s", dir);
}

#define REV "11f6ad8ec52a2984abaafd7c3b516503785c2072"
#define SRC(up, commit) ", \"source\": {\"upstream\": \"" up "\", \"commit\": \"" commit "\"}"

/* a bridged release's "source": optional, strict, emitted back the same */
static void source_field(void)
{
	static const struct { const char *top, *want; } bad[] = {
		{ ", \"source\": \"https://hub.example/acme/tiny\"",
		  "manifest: 'source' must be an object" },
		{ ", \"source\": {\"upstream\": \"https://hub.example/a\"}",
		  "manifest source: missing 'commit'" },
		{ ", \"source\": {\"commit\": \"" REV "\"}", "manifest source: missing 'upstream'" },
		{ ", \"source\": {\"upstream\": \"https://h/a\", \"commit\": \"" REV "\", \"x\": 1}",
		  "manifest source: unknown key 'x'" },
		{ SRC("ftp://hub.example/acme/tiny", REV),
		  "manifest source: upstream URL 'ftp://hub.example/acme/tiny' is not an http(s) URL" },
		{ SRC("https://", REV), "manifest source: upstream URL 'https://' is not an http(s) URL" },
		{ SRC("https://hub.example/a b", REV),
		  "manifest source: upstream URL 'https://hub.example/a b' has a space, a control "
		  "or a non-ASCII byte" },
		{ SRC("https://hub.example/\\u001b[31m", REV),
		  "manifest source: upstream URL 'https://hub.example/\\x1b[31m' has a space" },
		{ SRC("https://hub.example/\\u0000x", REV), "manifest: invalid JSON at line 1: \\u0000 is not allowed" },
		{ SRC("https://hub.example/acme/tiny", "11F6AD8EC52A2984ABAAFD7C3B516503785C2072"),
		  "manifest source: commit must be 40 lower-case hex digits" },
		{ SRC("https://hub.example/acme/tiny", "22f6ad8ec52a2984abaafd7c3b516503785c2072"),
		  "manifest source: commit 22f6ad8ec52a2984abaafd7c3b516503785c2072 is not the "
		  "revision " REV },
		{ SRC("https://hub.example/acme/tiny", REV) SRC("https://other/x", REV),
		  "manifest: invalid JSON at line 1: duplicate object key" },
	};
	struct ms_manifest m, m2;
	struct ms_error err;
	char *out, *out2;
	size_t len, len2;
	const char *text;

	text = variant("a", "1", "", "");
	ok(ms_manifest_parse(text, strlen(text), &m, &err) == 0 && !m.source_upstream &&
	   !*m.source_commit, "a manifest without a source is a lab's release");
	ok(ms_manifest_emit(&m, &out, &len, &err) == 0 && !strstr(out, "source"),
	   "and is emitted without one");
	ms_manifest_release(&m);
	free(out);

	text = variant("a", "1", "", SRC("https://hub.example/acme/tiny", REV));
	memset(&err, 0, sizeof(err));
	ok(ms_manifest_parse(text, strlen(text), &m, &err) == 0 &&
	   !strcmp(m.source_upstream, "https://hub.example/acme/tiny") &&
	   !strcmp(m.source_commit, REV), "a source is read%s%s", err.msg[0] ? ": " : "",
	   err.msg);
	ok(ms_manifest_emit(&m, &out, &len, &err) == 0 &&
	   strstr(out, "\n  \"source\": {\n    \"upstream\": \"https://hub.example/acme/tiny\",\n"
		  "    \"commit\": \"" REV "\"\n  }\n}\n") &&
	   ms_manifest_parse(out, len, &m2, &err) == 0 &&
	   ms_manifest_emit(&m2, &out2, &len2, &err) == 0 && len == len2 && !memcmp(out, out2, len),
	   "emitted last, and emit(parse(emit(m))) is stable");
	ms_manifest_release(&m2);
	ms_manifest_release(&m);
	free(out);
	free(out2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = variant("a", "1", "", bad[i].top);
		memset(&err, 0, sizeof(err));
		ok(parse(text, &err) == MS_EINVAL && !strncmp(err.msg, bad[i].want, strlen(bad[i].want)),
		   "bad source %zu refused: %s", i, err.msg);
	}
	ok(ms_upstream_check("http://127.0.0.1:8080/acme/tiny", &err) == 0 &&
	   ms_upstream_check("https://hub.example/acme/tiny", &err) == 0, "upstream URLs pass");
	{
		char longurl[2100];
		memset(longurl, 'a', sizeof(longurl));
		memcpy(longurl, "https://", 8);
		longurl[2049] = '\0';
		ok(ms_upstream_check(longurl, &err) == MS_EINVAL &&
		   !strcmp(err.msg, "upstream URL is longer than 2048 bytes"), "%s", err.msg);
		longurl[2048] = '\0';
		ok(ms_upstream_check(longurl, &err) == 0, "2048 bytes is the longest URL");
	}
}

int main(void)
{
	struct ms_manifest m;
	struct ms_error err;
	char *text, *out;
	size_t len;

	text = variant("model.safetensors", "12000000", "", "");
	ok(ms_manifest_parse(text, strlen(text), &m, &err) == 0, "good manifest parses%s%s",
	   err.msg[0] ? ": " : "", err.msg);
	ok(!strcmp(m.repo, "acme/tiny") && m.version == 3 && m.n_files == 1 &&
	   m.files[0].size == 12000000 && m.n_trackers == 1, "fields read");
	ok(ms_manifest_emit(&m, &out, &len, &err) == 0, "emitted");
	{
		struct ms_manifest m2;
		char *out2;
		size_t len2;
		ok(ms_manifest_parse(out, len, &m2, &err) == 0 &&
		   ms_manifest_emit(&m2, &out2, &len2, &err) == 0 && len == len2 &&
		   !memcmp(out, out2, len), "emit(parse(emit(m))) is stable");
		ms_manifest_release(&m2);
		free(out2);
	}
	free(out);
	ms_manifest_release(&m);

	static const struct { const char *path, *size, *extra, *top, *want; } bad[] = {
		{ "a", "1", "", ", \"version\": 4", "duplicate" },
		{ "a", "1.0", "", "", "must be an integer" },
		{ "a", "1e3", "", "", "must be an integer" },
		{ "a", "9007199254740992", "", "", "out of range" },
		{ "a", "-1", "", "", "out of range" },
		{ "a", "\"1\"", "", "", "must be an integer" },
		{ "../etc/passwd", "1", "", "", "'..' component" },
		{ "a/../b", "1", "", "", "'..' component" },
		{ "/etc/passwd", "1", "", "", "absolute path" },
		{ "a\\\\b", "1", "", "", "backslash" },
		{ "C:evil", "1", "", "", "':' in path" },
		{ "a\\u0000b", "1", "", "", "NUL" },
		{ "a\\u0001b", "1", "", "", "control character" },
		{ "a//b", "1", "", "", "empty component" },
		{ "a/", "1", "", "", "empty component" },
		{ ".git/config", "1", "", "", ".git/" },
		{ "sub/.git/config", "1", "", "", ".git/" },
		{ "sub/.GIT/hooks/x", "1", "", "", ".git/" },
		{ "x/.git", "1", "", "", ".git/" },
		{ "e\\u0301.txt", "1", "", "", "combining" },
		{ "A.txt", "1", EXTRA_FILE("a.txt"), "", "differ only by case" },
		{ "\\u00c9t\\u00e9.txt", "1", EXTRA_FILE("\\u00e9t\\u00e9.txt"), "", "differ only by case" },
		{ "b", "1", EXTRA_FILE("a"), "", "not sorted" },
		{ "a", "1", EXTRA_FILE("a"), "", "not sorted or repeat" },
		{ "a", "1", "", ", \"extra\": 1", "unknown key 'extra'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		text = variant(bad[i].path, bad[i].size, bad[i].extra, bad[i].top);
		memset(&err, 0, sizeof(err));
		int r = parse(text, &err);
		ok(r != 0 && strstr(err.msg, bad[i].want), "refused (%s): %s", bad[i].want,
		   err.msg);
	}
	{
		char comp[300], p[400];
		memset(comp, 'x', 256);
		comp[256] = '\0';
		snprintf(p, sizeof(p), "d/%s", comp);
		text = variant(p, "1", "", "");
		ok(parse(text, &err) != 0 && strstr(err.msg, "longer than 255"),
		   "over-long component: %s", err.msg);
	}
	{
		/* depth: 64 components pass, 65 and 1,500 are refused by name */
		static char p[3100];
		size_t o = 0;
		for (int i = 0; i < 63; i++)
			o += (size_t)sprintf(p + o, "d%d/", i);
		sprintf(p + o, "f");
		text = variant(p, "1", "", "");
		ok(parse(text, &err) == 0, "64 components: %s", parse(text, &err) ? err.msg : "ok");
		sprintf(p + o, "d63/f");
		text = variant(p, "1", "", "");
		ok(parse(text, &err) == MS_EPATH && strstr(err.msg, "path 'd0/d1/d2/") &&
		   strstr(err.msg, "has more than 64 levels"), "65 components: %s", err.msg);
		for (o = 0; o < 2998; o += 2)
			memcpy(p + o, "d/", 2);
		sprintf(p + o, "f");
		ok(ms_path_check(p, &err) == MS_EPATH && strstr(err.msg, "has more than 64 levels"),
		   "1,500 components: %.80s...", err.msg);
	}
	store_deep_link();
	{
		/* unknown _type, spec version */
		char *t = strdup(variant("a", "1", "", ""));
		char *p = strstr(t, "modelswarm.release");
		memcpy(p, "modelswarm.relea5e", 18);
		ok(parse(t, &err) != 0 && strstr(err.msg, "unknown _type"), "%s", err.msg);
		free(t);
		t = strdup(variant("a", "1", "", ""));
		p = strstr(t, "\"spec_version\": 1");
		p[16] = '2';
		ok(parse(t, &err) != 0 && strstr(err.msg, "spec_version 2 is not supported"),
		   "%s", err.msg);
		free(t);
	}
	{
		size_t big = MS_MANIFEST_MAX + 1;
		char *t = malloc(big);
		memset(t, ' ', big);
		ok(ms_manifest_parse(t, big, &m, &err) == MS_ETOOBIG, "oversize refused: %s",
		   err.msg);
		free(t);
	}
	ok(parse("[1,2]", &err) != 0 && strstr(err.msg, "not a JSON object"), "array refused");
	ok(parse("{\"_type\": \"modelswarm.release\"} x", &err) != 0, "trailing garbage refused");

	/* refs */
	{
		const char *refs = "{\"_type\": \"modelswarm.refs\", \"spec_version\": 1, "
			"\"repo\": \"acme/tiny\", \"version\": 2, \"issued\": "
			"\"2026-01-01T00:00:00Z\", \"expires\": \"2026-01-08T00:00:00Z\", "
			"\"refs\": {\"main\": {\"revision\": "
			"\"11f6ad8ec52a2984abaafd7c3b516503785c2072\", \"version\": 2}}}";
		struct ms_refs r;
		ok(ms_refs_parse(refs, strlen(refs), &r, &err) == 0 && r.n_refs == 1 &&
		   ms_refs_find(&r, "main") && ms_refs_find(&r, "main")->version == 2,
		   "refs parse");
		ms_refs_release(&r);
	}

	/* names */
	ok(ms_repo_check("acme/tiny-1.0_x", NULL, 0, &err) == 0, "repo name ok");
	ok(ms_repo_check("acme", NULL, 0, &err) != 0 && ms_repo_check("a/b/c", NULL, 0, &err) != 0 &&
	   ms_repo_check("../x", NULL, 0, &err) != 0 && ms_repo_check("a/..", NULL, 0, &err) != 0,
	   "bad repo names refused");
	ok(ms_ref_check("main", &err) == 0 && ms_ref_check("v1.0", &err) == 0 &&
	   ms_ref_check("../x", &err) != 0 && ms_ref_check("", &err) != 0, "ref names");
	{
		time_t t;
		char buf[21];
		ok(ms_time_parse("2026-11-22T06:42:03Z", &t) == 0 &&
		   (ms_time_format(t, buf), !strcmp(buf, "2026-11-22T06:42:03Z")),
		   "time round trip");
		ok(ms_time_parse("2026-11-22 06:42:03", &t) != 0, "bad time refused");
	}
	source_field();
	return tap_done();
}
