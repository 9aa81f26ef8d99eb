/* manifest.c: strict parse and emission of manifests and refs.json */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include <jansson.h>

#include "ms_manifest.h"

/* ---- small checks ---------------------------------------------------- */

static int is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int ms_revision_check(const char *rev)
{
	return is_hex(rev, 40) ? 0 : MS_EINVAL;
}

int ms_revision_normalize(char *rev)
{
	if (strlen(rev) != 40)
		return MS_EINVAL;
	for (size_t i = 0; i < 40; i++)
		if (!isxdigit((unsigned char)rev[i]))
			return MS_EINVAL;
	for (size_t i = 0; i < 40; i++)
		rev[i] = (char)tolower((unsigned char)rev[i]);
	return 0;
}

static int name_part_ok(const char *s, size_t n)
{
	if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return 0;
	}
	if (n >= 2 && memmem(s, n, "..", 2))
		return 0;
	return 1;
}

int ms_repo_check(const char *repo, char *org, size_t orglen,
		  struct ms_error *err)
{
	const char *slash = strchr(repo, '/');

	if (!slash || strchr(slash + 1, '/') ||
	    !name_part_ok(repo, (size_t)(slash - repo)) ||
	    !name_part_ok(slash + 1, strlen(slash + 1)))
		return ms_error_set(err, MS_EINVAL,
				    "'%s' is not a repository name (ORG/NAME, letters, "
				    "digits, '.', '_' and '-')", repo);
	if (org) {
		size_t n = (size_t)(slash - repo);
		if (n >= orglen)
			return ms_error_set(err, MS_EINVAL, "organisation name too long");
		memcpy(org, repo, n);
		org[n] = '\0';
	}
	return 0;
}

int ms_ref_check(const char *ref, struct ms_error *err)
{
	size_t n = strlen(ref);

	if (n == 0 || n > 128 || ref[0] == '/' || ref[n - 1] == '/' ||
	    ref[0] == '.' || strstr(ref, "..") || strstr(ref, "//"))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)ref[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-' && c != '/')
			goto bad;
	}
	return 0;
bad:
	return ms_error_set(err, MS_EINVAL, "'%s' is not a valid ref name", ref);
}

/* decode one UTF-8 sequence; returns its length or 0 if invalid */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, *cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, *cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, *cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/* combining marks: a decomposed (non-NFC) name could equal another's
 * precomposed form on some filesystems */
static int is_combining(unsigned cp)
{
	return (cp >= 0x300 && cp <= 0x36f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
	       (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x20d0 && cp <= 0x20ff) ||
	       (cp >= 0xfe20 && cp <= 0xfe2f) || cp == 0x3099 || cp == 0x309a;
}

/* a copy safe to print: control bytes and backslashes escaped, cut
 * at 200 bytes */
static const char *printable(const char *in, char *buf, size_t len)
{
	size_t o = 0;

	for (const unsigned char *s = (const unsigned char *)in; *s && o + 8 < len; s++) {
		if (*s < 0x20 || *s == 0x7f || *s == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *s);
		else
			buf[o++] = (char)*s;
		if (o > 200) {
			snprintf(buf + o, len - o, "...");
			return buf;
		}
	}
	buf[o] = '\0';
	return buf;
}

int ms_path_check(const char *raw, struct ms_error *err)
{
	const unsigned char *s = (const unsigned char *)raw;
	size_t n = strlen(raw), comp = 0, depth = 1;
	char safe[256];
	const char *path = printable(raw, safe, sizeof(safe));

	if (n == 0)
		return ms_error_set(err, MS_EPATH, "empty path");
	if (n > MS_PATH_MAX)
		return ms_error_set(err, MS_EPATH, "path is longer than %d bytes: '%.60s...'",
				    MS_PATH_MAX, path);
	if (raw[0] == '/')
		return ms_error_set(err, MS_EPATH, "absolute path '%s'", path);
	for (size_t i = 0; i <= n;) {
		if (i == n || s[i] == '/') {
			const char *c = raw + i - comp;
			if (comp == 0)
				return ms_error_set(err, MS_EPATH, "empty component in '%s'", path);
			if ((comp == 1 && c[0] == '.') || (comp == 2 && c[0] == '.' && c[1] == '.'))
				return ms_error_set(err, MS_EPATH, "'.' or '..' component in '%s'",
						    path);
			/* any level, in any case, as git itself refuses: a
			 * .git there would be a repository git runs hooks of */
			if (comp == 4 && !strncasecmp(c, ".git", 4))
				return ms_error_set(err, MS_EPATH,
						    "refusing '%s': .git/ is not part of a release",
						    path);
			if (comp > MS_COMPONENT_MAX)
				return ms_error_set(err, MS_EPATH,
						    "a component of '%.60s...' is longer than %d bytes",
						    path, MS_COMPONENT_MAX);
			if (i < n && ++depth > MS_PATH_DEPTH_MAX)
				return ms_error_set(err, MS_EPATH, "path '%s' has more than %d levels",
						    path, MS_PATH_DEPTH_MAX);
			comp = 0;
			i++;
			continue;
		}
		unsigned cp;
		size_t l = utf8_next(s + i, n - i, &cp);
		if (!l)
			return ms_error_set(err, MS_EPATH, "path is not valid UTF-8: '%s'", path);
		if (cp < 0x20 || cp == 0x7f)
			return ms_error_set(err, MS_EPATH, "control character in path '%s'", path);
		if (cp == '\\')
			return ms_error_set(err, MS_EPATH, "backslash in path '%s'", path);
		if (cp == ':')
			return ms_error_set(err, MS_EPATH, "':' in path '%s' (drive letters and "
					    "streams are not portable)", path);
		if (is_combining(cp))
			return ms_error_set(err, MS_EPATH,
					    "path '%s' uses combining marks (use NFC)", path);
		comp += l;
		i += l;
	}
	return 0;
}

struct folded {
	char *key;
	const char *path;
};

static int cmp_folded(const void *a, const void *b)
{
	return strcmp(((const struct folded *)a)->key, ((const struct folded *)b)->key);
}

int ms_paths_collide(const char *const *paths, size_t n, struct ms_error *err)
{
	locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	struct folded *f = calloc(n ? n : 1, sizeof(*f));
	int r = 0;

	if (!f) {
		if (loc)
			freelocale(loc);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n && !r; i++) {
		const unsigned char *s = (const unsigned char *)paths[i];
		size_t len = strlen(paths[i]), o = 0;
		char *k = malloc(len * 4 + 1);
		if (!k) {
			r = ms_error_set(err, MS_ENOMEM, "out of memory");
			break;
		}
		for (size_t j = 0; j < len;) {
			unsigned cp;
			size_t l = utf8_next(s + j, len - j, &cp);
			if (!l) {
				cp = s[j];
				l = 1;
			}
			if (loc)
				cp = (unsigned)towlower_l((wint_t)towupper_l((wint_t)cp, loc), loc);
			else if (cp < 0x80)
				cp = (unsigned)tolower((int)cp);
			/* re-encode */
			if (cp < 0x80) {
				k[o++] = (char)cp;
			} else if (cp < 0x800) {
				k[o++] = (char)(0xc0 | cp >> 6);
				k[o++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				k[o++] = (char)(0xe0 | cp >> 12);
				k[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				k[o++] = (char)(0x80 | (cp & 0x3f));
			} else {
				k[o++] = (char)(0xf0 | cp >> 18);
				k[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
				k[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				k[o++] = (char)(0x80 | (cp & 0x3f));
			}
			j += l;
		}
		k[o] = '\0';
		f[i].key = k;
		f[i].path = paths[i];
	}
	if (!r && n > 1) {
		qsort(f, n, sizeof(*f), cmp_folded);
		for (size_t i = 1; i < n; i++) {
			if (!strcmp(f[i - 1].key, f[i].key)) {
				r = ms_error_set(err, MS_EPATH,
						 "'%s' and '%s' differ only by case",
						 f[i - 1].path, f[i].path);
				break;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(f[i].key);
	free(f);
	if (loc)
		freelocale(loc);
	return r;
}

int ms_time_parse(const char *s, time_t *t)
{
	struct tm tm;
	char *end;

	if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return MS_EINVAL;
	memset(&tm, 0, sizeof(tm));
	for (int i = 0; i < 19; i++)
		if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 &&
		    (s[i] < '0' || s[i] > '9'))
			return MS_EINVAL;
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end || tm.tm_year < 70)
		return MS_EINVAL;
	*t = timegm(&tm);
	/* strptime accepts 2026-02-31; the round trip must be exact */
	{
		char back[21];
		ms_time_format(*t, back);
		if (strcmp(back, s))
			return MS_EINVAL;
	}
	return 0;
}

void ms_time_format(time_t t, char buf[21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- strict JSON helpers ---------------------------------------------- */

static int only_keys(json_t *o, const char *what, const char *const *keys,
		     struct ms_error *err)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		int known = 0;
		(void)v;
		for (size_t i = 0; keys[i]; i++)
			if (!strcmp(k, keys[i]))
				known = 1;
		if (!known)
			return ms_error_set(err, MS_EINVAL, "%s: unknown key '%s'", what, k);
	}
	return 0;
}

static const char *get_str(json_t *o, const char *key, const char *what,
			   struct ms_error *err)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		ms_error_set(err, MS_EINVAL, "%s: missing '%s'", what, key);
		return NULL;
	}
	if (!json_is_string(v)) {
		ms_error_set(err, MS_EINVAL, "%s: '%s' must be a string", what, key);
		return NULL;
	}
	return json_string_value(v);
}

static int get_int(json_t *o, const char *key, const char *what, int64_t min,
		   int64_t *out, struct ms_error *err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return ms_error_set(err, MS_EINVAL, "%s: missing '%s'", what, key);
	if (!json_is_integer(v))
		return ms_error_set(err, MS_EINVAL, "%s: '%s' must be an integer", what, key);
	*out = json_integer_value(v);
	if (*out < min || *out >= MS_INT_MAX)
		return ms_error_set(err, MS_EINVAL, "%s: '%s' is out of range", what, key);
	return 0;
}

static int get_time(json_t *o, const char *key, const char *what, time_t *t,
		    struct ms_error *err)
{
	const char *s = get_str(o, key, what, err);

	if (!s)
		return MS_EINVAL;
	if (ms_time_parse(s, t))
		return ms_error_set(err, MS_EINVAL,
				    "%s: '%s' is not a UTC time like 2026-01-31T12:00:00Z",
				    what, key);
	return 0;
}

static json_t *load(const void *buf, size_t len, size_t cap, const char *what,
		    struct ms_error *err)
{
	json_error_t je;
	json_t *root;

	if (len > cap) {
		ms_error_set(err, MS_ETOOBIG, "%s is too large (%zu bytes, at most %zu)",
			     what, len, cap);
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		ms_error_set(err, MS_EINVAL, "%s: invalid JSON at line %d: %s", what,
			     je.line, je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		ms_error_set(err, MS_EINVAL, "%s: not a JSON object", what);
		return NULL;
	}
	return root;
}

static int check_type(json_t *root, const char *type, const char *what,
		      int *spec, struct ms_error *err)
{
	const char *t = get_str(root, "_type", what, err);
	int64_t sv;

	if (!t)
		return MS_EINVAL;
	if (strcmp(t, type))
		return ms_error_set(err, MS_EINVAL, "%s: unknown _type '%s'", what, t);
	if (get_int(root, "spec_version", what, 0, &sv, err))
		return MS_EINVAL;
	if (sv != MS_SPEC_VERSION)
		return ms_error_set(err, MS_EINVAL,
				    "%s: spec_version %lld is not supported (this is %d)",
				    what, (long long)sv, MS_SPEC_VERSION);
	*spec = (int)sv;
	return 0;
}

static int str_list(json_t *o, const char *key, char ***out, size_t *n,
		    struct ms_error *err)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!a)
		return ms_error_set(err, MS_EINVAL, "manifest: missing '%s'", key);
	if (!json_is_array(a) || json_array_size(a) > 1000)
		return ms_error_set(err, MS_EINVAL, "manifest: '%s' must be a list of URLs",
				    key);
	*out = calloc(json_array_size(a) + 1, sizeof(char *));
	if (!*out)
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		if (!s || strlen(s) > 2048 ||
		    (strncmp(s, "http://", 7) && strncmp(s, "https://", 8) &&
		     strncmp(s, "udp://", 6)))
			return ms_error_set(err, MS_EINVAL,
					    "manifest: '%s' entry %zu is not an http(s) or udp URL",
					    key, i);
		(*out)[(*n)++] = strdup(s);
	}
	return 0;
}

/* ---- manifest ----------------------------------------------------------- */

int ms_upstream_check(const char *url, struct ms_error *err)
{
	size_t n = strlen(url);
	char safe[256];

	if (n > 2048)
		return ms_error_set(err, MS_EINVAL, "upstream URL is longer than 2048 bytes");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return ms_error_set(err, MS_EINVAL,
					    "upstream URL '%s' has a space, a control or a "
					    "non-ASCII byte", printable(url, safe, sizeof(safe)));
	if ((strncmp(url, "http://", 7) || n == 7) && (strncmp(url, "https://", 8) || n == 8))
		return ms_error_set(err, MS_EINVAL, "upstream URL '%s' is not an http(s) URL",
				    printable(url, safe, sizeof(safe)));
	return 0;
}

static const char *const source_keys[] = { "upstream", "commit", NULL };

/* the optional "source" of a bridged release */
static int parse_source(json_t *root, struct ms_manifest *m, struct ms_error *err)
{
	json_t *src = json_object_get(root, "source");
	const char *s;
	char what[sizeof(err->msg)];

	if (!src)
		return 0;
	if (!json_is_object(src))
		return ms_error_set(err, MS_EINVAL, "manifest: 'source' must be an object");
	if (only_keys(src, "manifest source", source_keys, err) ||
	    !(s = get_str(src, "upstream", "manifest source", err)))
		return MS_EINVAL;
	/* (a NUL never gets here: the JSON parser refuses \u0000) */
	if (ms_upstream_check(s, err)) {
		snprintf(what, sizeof(what), "%s", err ? err->msg : "");
		return ms_error_set(err, MS_EINVAL, "manifest source: %s", what);
	}
	if (!(m->source_upstream = strdup(s)))
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	if (!(s = get_str(src, "commit", "manifest source", err)))
		return MS_EINVAL;
	if (ms_revision_check(s))
		return ms_error_set(err, MS_EINVAL,
				    "manifest source: commit must be 40 lower-case hex digits");
	if (strcmp(s, m->revision))
		return ms_error_set(err, MS_EINVAL,
				    "manifest source: commit %s is not the revision %s", s,
				    m->revision);
	memcpy(m->source_commit, s, 41);
	return 0;
}

static const char *const top_keys[] = {
	"_type", "spec_version", "repo", "repo_type", "revision", "version",
	"issued", "expires", "torrent", "files", "webseeds", "trackers", "source", NULL
};
static const char *const torrent_keys[] = {
	"infohash_v1", "infohash_v2", "piece_length", NULL
};
static const char *const file_keys[] = {
	"path", "size", "sha256", "etag", "pieces_root", NULL
};

int ms_manifest_parse(const void *buf, size_t len, struct ms_manifest *m,
		      struct ms_error *err)
{
	json_t *root, *t, *files, *v;
	const char *s;
	size_t i;
	int r = MS_EINVAL;

	memset(m, 0, sizeof(*m));
	root = load(buf, len, MS_MANIFEST_MAX, "manifest", err);
	if (!root)
		return err ? err->code : MS_EINVAL;
	if (check_type(root, MS_MANIFEST_TYPE, "manifest", &m->spec_version, err) ||
	    only_keys(root, "manifest", top_keys, err))
		goto out;
	if (!(s = get_str(root, "repo", "manifest", err)))
		goto out;
	if (ms_repo_check(s, NULL, 0, err))
		goto out;
	m->repo = strdup(s);
	if (!(s = get_str(root, "repo_type", "manifest", err)))
		goto out;
	if (strcmp(s, "model") && strcmp(s, "dataset") && strcmp(s, "space")) {
		ms_error_set(err, MS_EINVAL, "manifest: unknown repo_type '%s'", s);
		goto out;
	}
	m->repo_type = strdup(s);
	if (!(s = get_str(root, "revision", "manifest", err)))
		goto out;
	if (ms_revision_check(s)) {
		ms_error_set(err, MS_EINVAL, "manifest: revision must be 40 lower-case hex digits");
		goto out;
	}
	memcpy(m->revision, s, 41);
	if (get_int(root, "version", "manifest", 1, &m->version, err) ||
	    get_time(root, "issued", "manifest", &m->issued, err) ||
	    get_time(root, "expires", "manifest", &m->expires, err))
		goto out;
	t = json_object_get(root, "torrent");
	if (!json_is_object(t)) {
		ms_error_set(err, MS_EINVAL, "manifest: 'torrent' must be an object");
		goto out;
	}
	if (only_keys(t, "manifest torrent", torrent_keys, err) ||
	    !(s = get_str(t, "infohash_v1", "manifest torrent", err)))
		goto out;
	if (*s && !is_hex(s, 40)) {
		ms_error_set(err, MS_EINVAL, "manifest: infohash_v1 must be 40 hex digits or \"\"");
		goto out;
	}
	memcpy(m->infohash_v1, s, strlen(s) + 1);
	if (!(s = get_str(t, "infohash_v2", "manifest torrent", err)))
		goto out;
	if (*s && !is_hex(s, 64)) {
		ms_error_set(err, MS_EINVAL, "manifest: infohash_v2 must be 64 hex digits or \"\"");
		goto out;
	}
	memcpy(m->infohash_v2, s, strlen(s) + 1);
	if (!*m->infohash_v1 && !*m->infohash_v2) {
		ms_error_set(err, MS_EINVAL, "manifest: the torrent has no info-hash");
		goto out;
	}
	if (get_int(t, "piece_length", "manifest torrent", 16384, &m->piece_length, err))
		goto out;
	if (m->piece_length & (m->piece_length - 1)) {
		ms_error_set(err, MS_EINVAL, "manifest: piece_length must be a power of two");
		goto out;
	}
	files = json_object_get(root, "files");
	if (!json_is_array(files) || json_array_size(files) == 0) {
		ms_error_set(err, MS_EINVAL, "manifest: 'files' must be a non-empty list");
		goto out;
	}
	if (json_array_size(files) > MS_MANIFEST_MAX_FILES) {
		ms_error_set(err, MS_ETOOBIG, "manifest: more than %d files",
			     MS_MANIFEST_MAX_FILES);
		goto out;
	}
	m->files = calloc(json_array_size(files), sizeof(*m->files));
	if (!m->files) {
		r = ms_error_set(err, MS_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(files, i, v) {
		struct ms_manifest_file *f = &m->files[i];
		char what[64];
		snprintf(what, sizeof(what), "manifest file %zu", i);
		if (!json_is_object(v)) {
			ms_error_set(err, MS_EINVAL, "%s: not an object", what);
			goto out;
		}
		m->n_files = i + 1;
		if (only_keys(v, what, file_keys, err) ||
		    !(s = get_str(v, "path", what, err)))
			goto out;
		if (memchr(s, '\0', json_string_length(json_object_get(v, "path"))) ||
		    ms_path_check(s, err)) {
			if (err && err->code != MS_EPATH)
				ms_error_set(err, MS_EPATH, "%s: NUL in path", what);
			goto out;
		}
		f->path = strdup(s);
		if (i && strcmp(m->files[i - 1].path, f->path) >= 0) {
			ms_error_set(err, MS_EINVAL,
				     "manifest: files are not sorted or repeat ('%s' after '%s')",
				     f->path, m->files[i - 1].path);
			goto out;
		}
		if (get_int(v, "size", what, 0, &f->size, err) ||
		    !(s = get_str(v, "sha256", what, err)))
			goto out;
		if (!is_hex(s, 64)) {
			ms_error_set(err, MS_EINVAL, "%s: sha256 must be 64 hex digits", what);
			goto out;
		}
		memcpy(f->sha256, s, 65);
		if (!(s = get_str(v, "etag", what, err)))
			goto out;
		if (!is_hex(s, 64) && !is_hex(s, 40)) {
			ms_error_set(err, MS_EINVAL, "%s: etag must be a sha256 or a sha1", what);
			goto out;
		}
		if (strlen(s) == 64 && strcmp(s, f->sha256)) {
			ms_error_set(err, MS_EINVAL, "%s: a sha256 etag must equal sha256", what);
			goto out;
		}
		memcpy(f->etag, s, strlen(s) + 1);
		if (!(s = get_str(v, "pieces_root", what, err)))
			goto out;
		if (*m->infohash_v2 && f->size > 0 ? !is_hex(s, 64) : *s != '\0') {
			ms_error_set(err, MS_EINVAL,
				     "%s: pieces_root must be 64 hex digits for a non-empty "
				     "file of a v2 torrent, else \"\"", what);
			goto out;
		}
		memcpy(f->pieces_root, s, strlen(s) + 1);
	}
	{
		const char **paths = malloc(m->n_files * sizeof(*paths));
		if (!paths) {
			r = ms_error_set(err, MS_ENOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < m->n_files; i++)
			paths[i] = m->files[i].path;
		r = ms_paths_collide(paths, m->n_files, err);
		free(paths);
		if (r)
			goto out;
		r = MS_EINVAL;
	}
	if (str_list(root, "webseeds", &m->webseeds, &m->n_webseeds, err) ||
	    str_list(root, "trackers", &m->trackers, &m->n_trackers, err) ||
	    parse_source(root, m, err))
		goto out;
	r = 0;
out:
	json_decref(root);
	if (r) {
		if (err && err->code)
			r = err->code;
		ms_manifest_release(m);
	}
	return r;
}

static json_t *str_array(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static int dump(json_t *root, char **out, size_t *len, struct ms_error *err)
{
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t n;

	json_decref(root);
	if (!s)
		return ms_error_set(err, MS_ENOMEM, "cannot encode JSON");
	n = strlen(s);
	*out = malloc(n + 2);
	if (!*out) {
		free(s);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	memcpy(*out, s, n);
	(*out)[n] = '\n';
	(*out)[n + 1] = '\0';
	*len = n + 1;
	free(s);
	return 0;
}

int ms_manifest_emit(const struct ms_manifest *m, char **out, size_t *len,
		     struct ms_error *err)
{
	json_t *root = json_object(), *t = json_object(), *files = json_array();
	char is[21], ex[21];

	ms_time_format(m->issued, is);
	ms_time_format(m->expires, ex);
	json_object_set_new(root, "_type", json_string(MS_MANIFEST_TYPE));
	json_object_set_new(root, "spec_version", json_integer(MS_SPEC_VERSION));
	json_object_set_new(root, "repo", json_string(m->repo));
	json_object_set_new(root, "repo_type", json_string(m->repo_type ? m->repo_type : "model"));
	json_object_set_new(root, "revision", json_string(m->revision));
	json_object_set_new(root, "version", json_integer(m->version));
	json_object_set_new(root, "issued", json_string(is));
	json_object_set_new(root, "expires", json_string(ex));
	json_object_set_new(t, "infohash_v1", json_string(m->infohash_v1));
	json_object_set_new(t, "infohash_v2", json_string(m->infohash_v2));
	json_object_set_new(t, "piece_length", json_integer(m->piece_length));
	json_object_set_new(root, "torrent", t);
	for (size_t i = 0; i < m->n_files; i++) {
		const struct ms_manifest_file *f = &m->files[i];
		json_t *o = json_object();
		json_object_set_new(o, "path", json_string(f->path));
		json_object_set_new(o, "size", json_integer(f->size));
		json_object_set_new(o, "sha256", json_string(f->sha256));
		json_object_set_new(o, "etag", json_string(f->etag));
		json_object_set_new(o, "pieces_root", json_string(f->pieces_root));
		json_array_append_new(files, o);
	}
	json_object_set_new(root, "files", files);
	json_object_set_new(root, "webseeds", str_array(m->webseeds, m->n_webseeds));
	json_object_set_new(root, "trackers", str_array(m->trackers, m->n_trackers));
	if (m->source_upstream)
		json_object_set_new(root, "source",
				    json_pack("{s:s,s:s}", "upstream", m->source_upstream,
					      "commit", m->source_commit));
	return dump(root, out, len, err);
}

void ms_manifest_release(struct ms_manifest *m)
{
	for (size_t i = 0; i < m->n_files; i++)
		free(m->files[i].path);
	free(m->files);
	for (size_t i = 0; i < m->n_webseeds; i++)
		free(m->webseeds[i]);
	free(m->webseeds);
	for (size_t i = 0; i < m->n_trackers; i++)
		free(m->trackers[i]);
	free(m->trackers);
	free(m->repo);
	free(m->repo_type);
	free(m->source_upstream);
	memset(m, 0, sizeof(*m));
}

void ms_manifest_comment(const struct ms_manifest *m, char *buf, size_t len)
{
	snprintf(buf, len, "modelswarm manifest repo=%s revision=%s version=%lld",
		 m->repo, m->revision, (long long)m->version);
}

/* ---- refs.json ---------------------------------------------------------- */

static const char *const refs_keys[] = {
	"_type", "spec_version", "repo", "version", "issued", "expires", "refs", NULL
};
static const char *const ref_keys[] = { "revision", "version", NULL };

int ms_refs_parse(const void *buf, size_t len, struct ms_refs *r,
		  struct ms_error *err)
{
	json_t *root, *refs, *v;
	const char *s, *k;
	int rc = MS_EINVAL;

	memset(r, 0, sizeof(*r));
	root = load(buf, len, MS_REFS_MAX, "refs.json", err);
	if (!root)
		return err ? err->code : MS_EINVAL;
	if (check_type(root, MS_REFS_TYPE, "refs.json", &r->spec_version, err) ||
	    only_keys(root, "refs.json", refs_keys, err) ||
	    !(s = get_str(root, "repo", "refs.json", err)))
		goto out;
	if (ms_repo_check(s, NULL, 0, err))
		goto out;
	r->repo = strdup(s);
	if (get_int(root, "version", "refs.json", 1, &r->version, err) ||
	    get_time(root, "issued", "refs.json", &r->issued, err) ||
	    get_time(root, "expires", "refs.json", &r->expires, err))
		goto out;
	refs = json_object_get(root, "refs");
	if (!json_is_object(refs) || json_object_size(refs) > 10000) {
		ms_error_set(err, MS_EINVAL, "refs.json: 'refs' must be an object");
		goto out;
	}
	r->refs = calloc(json_object_size(refs) + 1, sizeof(*r->refs));
	if (!r->refs) {
		rc = ms_error_set(err, MS_ENOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(refs, k, v) {
		struct ms_ref *e = &r->refs[r->n_refs];
		char what[200];
		snprintf(what, sizeof(what), "refs.json ref '%.100s'", k);
		if (ms_ref_check(k, err))
			goto out;
		if (!json_is_object(v)) {
			ms_error_set(err, MS_EINVAL, "%s: not an object", what);
			goto out;
		}
		e->name = strdup(k);
		r->n_refs++;
		if (only_keys(v, what, ref_keys, err) ||
		    !(s = get_str(v, "revision", what, err)))
			goto out;
		if (ms_revision_check(s)) {
			ms_error_set(err, MS_EINVAL, "%s: revision must be 40 hex digits", what);
			goto out;
		}
		memcpy(e->revision, s, 41);
		if (get_int(v, "version", what, 1, &e->version, err))
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc) {
		if (err && err->code)
			rc = err->code;
		ms_refs_release(r);
	}
	return rc;
}

static int cmp_ref(const void *a, const void *b)
{
	return strcmp(((const struct ms_ref *)a)->name, ((const struct ms_ref *)b)->name);
}

int ms_refs_emit(const struct ms_refs *r, char **out, size_t *len,
		 struct ms_error *err)
{
	json_t *root = json_object(), *refs = json_object();
	struct ms_ref *sorted = malloc((r->n_refs + 1) * sizeof(*sorted));
	char is[21], ex[21];

	if (!sorted) {
		json_decref(root);
		json_decref(refs);
		return ms_error_set(err, MS_ENOMEM, "out of memory");
	}
	memcpy(sorted, r->refs, r->n_refs * sizeof(*sorted));
	qsort(sorted, r->n_refs, sizeof(*sorted), cmp_ref);
	ms_time_format(r->issued, is);
	ms_time_format(r->expires, ex);
	json_object_set_new(root, "_type", json_string(MS_REFS_TYPE));
	json_object_set_new(root, "spec_version", json_integer(MS_SPEC_VERSION));
	json_object_set_new(root, "repo", json_string(r->repo));
	json_object_set_new(root, "version", json_integer(r->version));
	json_object_set_new(root, "issued", json_string(is));
	json_object_set_new(root, "expires", json_string(ex));
	for (size_t i = 0; i < r->n_refs; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "revision", json_string(sorted[i].revision));
		json_object_set_new(o, "version", json_integer(sorted[i].version));
		json_object_set_new(refs, sorted[i].name, o);
	}
	free(sorted);
	json_object_set_new(root, "refs", refs);
	return dump(root, out, len, err);
}

void ms_refs_release(struct ms_refs *r)
{
	for (size_t i = 0; i < r->n_refs; i++)
		free(r->refs[i].name);
	free(r->refs);
	free(r->repo);
	memset(r, 0, sizeof(*r));
}

void ms_refs_comment(const struct ms_refs *r, char *buf, size_t len)
{
	snprintf(buf, len, "modelswarm refs repo=%s version=%lld", r->repo,
		 (long long)r->version);
}

const struct ms_ref *ms_refs_find(const struct ms_refs *r, const char *name)
{
	for (size_t i = 0; i < r->n_refs; i++)
		if (!strcmp(r->refs[i].name, name))
			return &r->refs[i];
	return NULL;
}

int ms_refs_set(struct ms_refs *r, const char *name, const char *revision,
		int64_t version, struct ms_error *err)
{
	struct ms_ref *e = (struct ms_ref *)ms_refs_find(r, name);

	if (!e) {
		struct ms_ref *v = realloc(r->refs, (r->n_refs + 1) * sizeof(*v));
		if (!v)
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		r->refs = v;
		e = &v[r->n_refs++];
		e->name = strdup(name);
	}
	memcpy(e->revision, revision, 41);
	e->version = version;
	return 0;
}
