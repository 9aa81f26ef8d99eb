/* config.c: the configuration file and the state directory (where
 * modelswarm keeps its files, resume data among them) */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms_config.h"
#include "ms_manifest.h"
#include "ms_trust.h"
#include "ms_util.h"

static int home_path(char *buf, size_t len, const char *ms_sub,
		     const char *xdg_var, const char *xdg_default,
		     const char *leaf, struct ms_error *err)
{
	const char *v = getenv("MODELSWARM_HOME");
	int n;

	if (v && *v) {
		n = snprintf(buf, len, "%s/%s", v, ms_sub);
	} else if ((v = getenv(xdg_var)) && *v == '/') {
		n = snprintf(buf, len, "%s/modelswarm%s%s", v, *leaf ? "/" : "", leaf);
	} else {
		const char *home = getenv("HOME");
		if (!home || !*home)
			return ms_error_set(err, MS_ENOENT,
					    "HOME is not set; set MODELSWARM_HOME");
		n = snprintf(buf, len, "%s/%s/modelswarm%s%s", home, xdg_default,
			     *leaf ? "/" : "", leaf);
	}
	if (n < 0 || (size_t)n >= len)
		return ms_error_set(err, MS_EINVAL, "configuration path too long");
	return 0;
}

int ms_state_dir(char *buf, size_t len, struct ms_error *err)
{
	return home_path(buf, len, "state", "XDG_STATE_HOME", ".local/state", "",
			 err);
}

int ms_config_dir(char *buf, size_t len, struct ms_error *err)
{
	const char *v = getenv("MODELSWARM_HOME");
	int n;

	if (v && *v)
		n = snprintf(buf, len, "%s", v);
	else
		return home_path(buf, len, "", "XDG_CONFIG_HOME", ".config", "", err);
	if (n < 0 || (size_t)n >= len)
		return ms_error_set(err, MS_EINVAL, "configuration path too long");
	return 0;
}

int ms_resume_path(const char *what, const char *where, const char *ext, char *buf,
		   size_t len, struct ms_error *err)
{
	char state[PATH_MAX], dir[PATH_MAX + 16];
	uint64_t a, b;
	int r;

	if ((r = ms_state_dir(state, sizeof(state), err)))
		return r;
	snprintf(dir, sizeof(dir), "%.4000s/resume", state);
	if ((r = ms_mkdir_p(dir, err)))
		return r;
	a = ms_fnv64(what, strlen(what), 0);
	b = ms_fnv64(where, strlen(where), 0);
	if ((size_t)snprintf(buf, len, "%s/%016" PRIx64 "-%016" PRIx64 ".%s", dir, a, b,
			     ext) >= len)
		return ms_error_set(err, MS_EINVAL, "state directory path too long");
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
		*out = 1;
		return 0;
	}
	if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
		*out = 0;
		return 0;
	}
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* append a copy of s to the array *v of *n strings */
static int push_str(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (!nv)
		return -1;
	*v = nv;
	if (!(nv[*n] = strdup(s)))
		return -1;
	(*n)++;
	return 0;
}

static void free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int ms_config_load(struct ms_config *c, struct ms_error *err)
{
	char path[PATH_MAX], line[1024];
	FILE *f;
	int lineno = 0, r = 0;

	memset(c, 0, sizeof(*c));
	c->dht = c->lsd = c->port_mapping = 1;
	c->fallback_rate = c->fallback_delay_s = -1;
	c->idle_unload_s = -1;
	c->stall_timeout_s = -1;
	c->idle_loaded = -1;
	c->origin = -1;
	if (getenv("MODELSWARM_CONFIG") && *getenv("MODELSWARM_CONFIG"))
		r = snprintf(path, sizeof(path), "%s", getenv("MODELSWARM_CONFIG")) >=
				    (int)sizeof(path)
			    ? ms_error_set(err, MS_EINVAL, "configuration path too long")
			    : 0;
	else
		r = home_path(path, sizeof(path), "config", "XDG_CONFIG_HOME", ".config",
			      "config", err);
	if (r)
		return r;
	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && !getenv("MODELSWARM_CONFIG"))
			return 0;
		return ms_error_set(err, MS_EIO, "cannot open '%s': %s", path,
				    strerror(errno));
	}
	c->path = strdup(path);
	while (fgets(line, sizeof(line), f)) {
		char *eq, *key, *val;
		int *flag = NULL;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			r = ms_error_set(err, MS_EINVAL, "%s:%d: line too long", path, lineno);
			break;
		}
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			r = ms_error_set(err, MS_EINVAL, "%s:%d: expected 'key = value'",
					 path, lineno);
			break;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		if (!strcmp(key, "dht"))
			flag = &c->dht;
		else if (!strcmp(key, "lsd"))
			flag = &c->lsd;
		else if (!strcmp(key, "port-mapping"))
			flag = &c->port_mapping;
		else if (!strcmp(key, "seed-store"))
			flag = &c->seed_store;
		else if (!strcmp(key, "origin"))
			flag = &c->origin;
		else if (!strcmp(key, "super-seeding"))
			flag = &c->super_seeding;
		if (flag) {
			if (parse_bool(val, flag)) {
				r = ms_error_set(err, MS_EINVAL,
						 "%s:%d: '%s' needs true or false",
						 path, lineno, key);
				break;
			}
		} else if (!strcmp(key, "listen")) {
			free(c->listen);
			c->listen = strdup(val);
		} else if (!strcmp(key, "index")) {
			free(c->index);
			c->index = strdup(val);
		} else if (!strcmp(key, "webseed")) {
			if (strncmp(val, "http://", 7) && strncmp(val, "https://", 8)) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: webseed needs an "
						 "http:// or https:// URL", path, lineno);
				break;
			}
			if (push_str(&c->webseeds, &c->n_webseeds, val)) {
				r = ms_error_set(err, MS_ENOMEM, "out of memory");
				break;
			}
		} else if (!strcmp(key, "webseeds")) {
			if (strcmp(val, "fallback") && strcmp(val, "always") &&
			    strcmp(val, "never")) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: webseeds needs "
						 "fallback, always or never", path, lineno);
				break;
			}
			free(c->webseed_mode);
			c->webseed_mode = strdup(val);
		} else if (!strcmp(key, "webseed-fallback-rate") ||
			   !strcmp(key, "webseed-request-size") ||
			   !strcmp(key, "webseed-fallback-delay") ||
			   !strcmp(key, "webseed-connections") ||
			   !strcmp(key, "webseed-timeout") ||
			   !strcmp(key, "stall-timeout") ||
			   !strcmp(key, "rpc-timeout") ||
			   !strcmp(key, "hf-timeout")) {
			int64_t v;
			int rate = !strcmp(key, "webseed-fallback-rate") ||
				   !strcmp(key, "webseed-request-size");
			char *end;
			if (rate ? ms_parse_size(val, &v)
				 : ((v = strtoll(val, &end, 10)) < 0 || end == val || *end ||
				    v > 86400)) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: '%s' needs %s",
						 path, lineno, key,
						 rate ? "a size such as 2M" : "a whole number");
				break;
			}
			*(!strcmp(key, "webseed-fallback-rate") ? &c->fallback_rate
			  : !strcmp(key, "webseed-request-size") ? &c->webseed_request
			  : !strcmp(key, "webseed-connections") ? &c->webseed_conns
			  : !strcmp(key, "webseed-timeout") ? &c->webseed_timeout_s
			  : !strcmp(key, "rpc-timeout") ? &c->rpc_timeout_s
			  : !strcmp(key, "hf-timeout") ? &c->hf_timeout_s
			  : !strcmp(key, "stall-timeout") ? &c->stall_timeout_s
							 : &c->fallback_delay_s) = v;
		} else if (!strcmp(key, "upload-limit") || !strcmp(key, "download-limit") ||
			   !strcmp(key, "disk-budget")) {
			int64_t v;
			if (ms_parse_size(val, &v) ||
			    (strcmp(key, "disk-budget") && v > INT32_MAX)) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: '%s' needs %s", path,
						 lineno, key, "a size such as 2M");
				break;
			}
			*(!strcmp(key, "upload-limit") ? &c->upload_limit
			  : !strcmp(key, "download-limit") ? &c->download_limit
							   : &c->disk_budget) = v;
		} else if (!strcmp(key, "seed-time-limit") ||
			   !strcmp(key, "max-active-downloads") ||
			   !strcmp(key, "subscribe-interval") ||
			   !strcmp(key, "idle-unload") || !strcmp(key, "idle-announce") ||
			   !strcmp(key, "idle-loaded") || !strcmp(key, "dht-reput-interval") ||
			   !strcmp(key, "dht-puts-per-minute")) {
			char *end;
			long long v = strtoll(val, &end, 10);
			if (v < 0 || end == val || *end || v > 100LL * 365 * 86400) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: '%s' needs a whole "
						 "number", path, lineno, key);
				break;
			}
			*(!strcmp(key, "seed-time-limit") ? &c->seed_time_limit_s
			  : !strcmp(key, "max-active-downloads") ? &c->max_active_downloads
			  : !strcmp(key, "idle-unload") ? &c->idle_unload_s
			  : !strcmp(key, "idle-announce") ? &c->idle_announce_s
			  : !strcmp(key, "idle-loaded") ? &c->idle_loaded
			  : !strcmp(key, "dht-reput-interval") ? &c->dht_reput_interval_s
			  : !strcmp(key, "dht-puts-per-minute") ? &c->dht_puts_per_minute
							 : &c->subscribe_interval_s) = v;
		} else if (!strcmp(key, "seed-ratio-limit")) {
			char *end;
			double v = strtod(val, &end);
			if (!(v >= 0 && v < 1e6) || end == val || *end) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: '%s' needs a number such "
						 "as 2.5", path, lineno, key);
				break;
			}
			c->seed_ratio_limit = v;
		} else if (!strcmp(key, "metrics")) {
			char host[256];
			int port;
			if (ms_parse_hostport(val, host, sizeof(host), &port)) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: metrics needs ADDR:PORT",
						 path, lineno);
				break;
			}
			free(c->metrics);
			c->metrics = strdup(val);
		} else if (!strcmp(key, "hf-listen")) {
			char host[256];
			int port;
			if (val[strspn(val, "0123456789")] &&
			    ms_parse_hostport(val, host, sizeof(host), &port)) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: hf-listen needs [ADDR:]PORT",
						 path, lineno);
				break;
			}
			free(c->hf_listen);
			c->hf_listen = strdup(val);
		} else if (!strcmp(key, "hf-allow")) {
			if (!strchr(val, '/') || strlen(val) > 256) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: hf-allow needs an ORG/NAME "
						 "pattern such as 'acme/*'", path, lineno);
				break;
			}
			c->hf_allow.owned = 1;
			if (ms_strlist_push_copy(&c->hf_allow, val)) {
				r = ms_error_set(err, MS_ENOMEM, "out of memory");
				break;
			}
		} else if (!strcmp(key, "hf-upstream")) {
			struct ms_error e2;
			if (ms_upstream_check(val, &e2)) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: hf-upstream: %s", path,
						 lineno, e2.msg);
				break;
			}
			free(c->hf_upstream);
			c->hf_upstream = strdup(val);
		} else if (!strcmp(key, "bridge-key") || !strcmp(key, "bridge-name")) {
			char **to = key[7] == 'k' ? &c->bridge_key : &c->bridge_name;
			struct ms_error e2;
			if (key[7] == 'n' && ms_bridge_name_check(val, &e2)) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: bridge-name: %s", path,
						 lineno, e2.msg);
				break;
			}
			free(*to);
			*to = strdup(val);
		} else if (!strcmp(key, "bridge-tracker")) {
			c->bridge_trackers.owned = 1;
			if (ms_strlist_push_copy(&c->bridge_trackers, val)) {
				r = ms_error_set(err, MS_ENOMEM, "out of memory");
				break;
			}
		} else if (!strcmp(key, "log")) {
			if (strcmp(val, "stderr") && strcmp(val, "syslog")) {
				r = ms_error_set(err, MS_EINVAL, "%s:%d: log needs stderr or syslog",
						 path, lineno);
				break;
			}
			free(c->log);
			c->log = strdup(val);
		} else if (!strncmp(key, "mirror-auth.", 12) && key[12]) {
			size_t nh = c->n_auth, nv = c->n_auth;
			if (push_str(&c->auth_host, &nh, key + 12) ||
			    push_str(&c->auth_value, &nv, val)) {
				if (nh > c->n_auth)
					free(c->auth_host[c->n_auth]);
				r = ms_error_set(err, MS_ENOMEM, "out of memory");
				break;
			}
			c->n_auth++;
		} else if (!strncmp(key, "libtorrent.", 11) && key[11]) {
			struct ms_setting *s = realloc(c->settings,
				(c->n_settings + 1) * sizeof(*s));
			if (!s) {
				r = ms_error_set(err, MS_ENOMEM, "out of memory");
				break;
			}
			c->settings = s;
			s[c->n_settings].name = strdup(key + 11);
			s[c->n_settings].value = strdup(val);
			c->n_settings++;
		} else {
			r = ms_error_set(err, MS_EINVAL, "%s:%d: unknown key '%s'",
					 path, lineno, key);
			break;
		}
	}
	fclose(f);
	if (r)
		ms_config_release(c);
	return r;
}

void ms_config_release(struct ms_config *c)
{
	for (size_t i = 0; i < c->n_settings; i++) {
		free(c->settings[i].name);
		free(c->settings[i].value);
	}
	free(c->settings);
	free_strs(c->webseeds, c->n_webseeds);
	free_strs(c->auth_host, c->n_auth);
	free_strs(c->auth_value, c->n_auth);
	free(c->webseed_mode);
	free(c->metrics);
	free(c->hf_listen);
	ms_strlist_release(&c->hf_allow);
	free(c->hf_upstream);
	free(c->bridge_key);
	free(c->bridge_name);
	ms_strlist_release(&c->bridge_trackers);
	free(c->log);
	free(c->listen);
	free(c->index);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

void ms_mirror_opts_release(struct ms_mirror_opts *m)
{
	ms_strlist_release(&m->urls);
}
