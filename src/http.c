/* http.c: bounded fetches of index files */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ms_http.h"
#include "ms_util.h"

struct sink {
	unsigned char *buf;
	size_t len, cap, limit;
	int toobig;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t add = sz * n;

	if (s->len + add > s->limit) {
		s->toobig = 1;
		return 0;
	}
	if (s->len + add + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		unsigned char *b;
		while (cap < s->len + add + 1)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b)
			return 0;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

int ms_url_get(const char *base, const char *rel, size_t cap,
	       unsigned char **buf, size_t *len, struct ms_error *err)
{
	char url[8192];
	size_t bl = strlen(base);
	const char *sep = bl && base[bl - 1] == '/' ? "" : "/";
	struct sink s = { NULL, 0, 0, cap, 0 };
	char ebuf[CURL_ERROR_SIZE] = "";
	long code = 0;
	CURL *c;
	CURLcode rc;

	*buf = NULL;
	*len = 0;
	if (strstr(base, "://") == NULL) {
		/* a plain directory */
		if ((size_t)snprintf(url, sizeof(url), "%s%s%s", base, sep, rel) >= sizeof(url))
			return ms_error_set(err, MS_EINVAL, "URL too long");
		return ms_read_file(url, cap, buf, len, err);
	}
	if (strncmp(base, "file://", 7) && strncmp(base, "http://", 7) &&
	    strncmp(base, "https://", 8))
		return ms_error_set(err, MS_EINVAL,
				    "index '%s': only file://, http:// and https:// work", base);
	if (!strncmp(base, "file://", 7)) {
		if ((size_t)snprintf(url, sizeof(url), "%s%s%s", base + 7, sep, rel) >=
		    sizeof(url))
			return ms_error_set(err, MS_EINVAL, "URL too long");
		return ms_read_file(url, cap, buf, len, err);
	}
	if ((size_t)snprintf(url, sizeof(url), "%s%s%s", base, sep, rel) >= sizeof(url))
		return ms_error_set(err, MS_EINVAL, "URL too long");
	c = curl_easy_init();
	if (!c)
		return ms_error_set(err, MS_ENOMEM, "cannot start libcurl");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "modelswarm/" MS_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (s.toobig || rc == CURLE_FILESIZE_EXCEEDED) {
		free(s.buf);
		return ms_error_set(err, MS_ETOOBIG, "'%s' is larger than %zu bytes", url, cap);
	}
	if (rc != CURLE_OK) {
		free(s.buf);
		return ms_error_set(err, MS_EIO, "cannot fetch '%s': %s", url,
				    *ebuf ? ebuf : curl_easy_strerror(rc));
	}
	if (code == 404 || code == 410) {
		free(s.buf);
		return ms_error_set(err, MS_ENOENT, "'%s' not found (HTTP %ld)", url, code);
	}
	if (code < 200 || code >= 300) {
		free(s.buf);
		return ms_error_set(err, MS_EIO, "cannot fetch '%s': HTTP %ld", url, code);
	}
	if (!s.buf) {
		s.buf = malloc(1);
		if (!s.buf)
			return ms_error_set(err, MS_ENOMEM, "out of memory");
		s.buf[0] = '\0';
	}
	*buf = s.buf;
	*len = s.len;
	return 0;
}
