// session.cpp: the session (lts_session_*): libtorrent's settings by
// name, and a libtorrent session set up with the shim's disks
// (disk-pieces.cpp over disk-order.cpp) and the plugin of dormant
// torrents (dormant.cpp).

#include "shim.h"

#include <libtorrent/extensions.hpp>
#include <libtorrent/mmap_disk_io.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>

#include <openssl/x509.h>

#include <dirent.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

using namespace lts_internal;

namespace {

int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) {
		*out = false;
		return 0;
	}
	return -1;
}

int fill_pack(lt::settings_pack &pack, const struct lts_setting *settings,
	      size_t n, struct lts_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = settings[i].name, *value = settings[i].value;
		if (!name || !value) {
			set_err(err, LTS_EINVAL, "setting %zu has no name or value", i);
			return LTS_EINVAL;
		}
		int idx = lt::setting_by_name(name);
		if (idx < 0) {
			set_err(err, LTS_EINVAL, "unknown setting '%s'", name);
			return LTS_EINVAL;
		}
		switch (idx & lt::settings_pack::type_mask) {
		case lt::settings_pack::string_type_base:
			pack.set_str(idx, value);
			break;
		case lt::settings_pack::int_type_base: {
			char *end;
			errno = 0;
			long long v = strtoll(value, &end, 0);
			if (errno || end == value || *end || v < INT32_MIN ||
			    v > INT32_MAX) {
				set_err(err, LTS_EINVAL,
					"setting '%s': '%s' is not an integer", name,
					value);
				return LTS_EINVAL;
			}
			pack.set_int(idx, static_cast<int>(v));
			break;
		}
		case lt::settings_pack::bool_type_base: {
			bool b;
			if (parse_bool(value, &b)) {
				set_err(err, LTS_EINVAL,
					"setting '%s': '%s' is not a boolean", name,
					value);
				return LTS_EINVAL;
			}
			pack.set_bool(idx, b);
			break;
		}
		default:
			set_err(err, LTS_EINVAL, "setting '%s' has an unknown type", name);
			return LTS_EINVAL;
		}
	}
	return 0;
}

} // namespace

extern "C" {

// Whether OpenSSL's certificate directories (SSL_CERT_DIR, else its
// default; ':'-separated) hold a hashed name ("5ad8a5d6.0"), by which it
// can find a CA when a connection needs one.
static bool hashed_cert_dir()
{
	const char *env = getenv(X509_get_default_cert_dir_env());
	std::string dirs = env ? env : X509_get_default_cert_dir();
	std::size_t at = 0;

	while (at <= dirs.size()) {
		std::size_t end = dirs.find(':', at);
		if (end == std::string::npos)
			end = dirs.size();
		DIR *d = opendir(dirs.substr(at, end - at).c_str());
		bool found = false;
		for (struct dirent *e; d && !found && (e = readdir(d));) {
			const char *p = e->d_name;
			int hex = 0;
			while (hex < 8 && std::isxdigit(static_cast<unsigned char>(p[hex])))
				hex++;
			found = hex == 8 && p[8] == '.' &&
				std::isdigit(static_cast<unsigned char>(p[9]));
		}
		if (d)
			closedir(d);
		if (found)
			return true;
		at = end + 1;
	}
	return false;
}

lts_session *lts_session_new(const struct lts_setting *settings, size_t n,
			     struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	lt::settings_pack pack;
	pack.set_int(lt::settings_pack::alert_mask,
		     static_cast<int>(lt::alert_category::error |
				      lt::alert_category::peer |
				      lt::alert_category::storage |
				      lt::alert_category::tracker |
				      lt::alert_category::connect |
				      lt::alert_category::status |
				      lt::alert_category::file_progress |
				      lt::alert_category::piece_progress |
				      lt::alert_category::dht));
	// we pop every alert on each wakeup; a large queue means none is lost
	pack.set_int(lt::settings_pack::alert_queue_size, 1 << 20);
	// otherwise libtorrent turns away every incoming connection while no
	// torrent runs, and one for a dormant torrent never reaches the table
	// (no torrent is auto-managed here, so nothing else changes)
	pack.set_bool(lt::settings_pack::incoming_starts_queued_torrents, true);
	if (fill_pack(pack, settings, n, err))
		return nullptr;
	auto s = std::make_unique<lts_session>();
	s->dormant = std::make_shared<dormant_table>();
	lts_session *raw = s.get();
	s->dormant->notify = [raw] {
		std::lock_guard<std::mutex> lock(raw->notify_mu);
		if (raw->notify_fn)
			raw->notify_fn(raw->notify_ud);
	};
	lt::session_params params(std::move(pack));
	params.extensions.push_back(new_dormant_plugin(s->dormant));
	s->digests = std::make_shared<digest_table>();
	s->tails = std::make_shared<tail_table>();
	{
		// for comparisons and for finding faults: every block whole
		const char *v = getenv("MODELSWARM_PEER_TAILS");
		s->tails->on = !(v && !strcmp(v, "0"));
	}
	params.extensions.push_back(new_tail_plugin(s->tails));
	auto dt = s->digests;
	auto tt = s->tails;
	params.disk_io_constructor = [dt, tt](lt::io_context &ios,
					    lt::settings_interface const &sett,
					    lt::counters &cnt) {
		std::unique_ptr<lt::disk_interface> in = new_ordered_disk_io(
			lt::mmap_disk_io_constructor(ios, sett, cnt));
		auto d = new_piece_disk_io(ios, sett, std::move(in), dt);
		set_piece_disk_tails(*d, tt);
		return d;
	};
	// The session's start loads the whole system CA bundle into its HTTPS
	// context: about 1 MB of memory held for good, for trackers that are
	// seldom HTTPS. When the certificate directory is hashed, OpenSSL looks
	// a CA up there when a connection needs it; naming an empty bundle
	// while the session starts (on this thread) leaves just that.
	const char *file_env = X509_get_default_cert_file_env();
	bool lazy_ca = !getenv(file_env) && hashed_cert_dir();
	if (lazy_ca)
		setenv(file_env, "/dev/null", 1);
	try {
		s->ses = std::make_unique<lt::session>(std::move(params));
	} catch (...) {
		if (lazy_ca)
			unsetenv(file_env);
		throw;
	}
	if (lazy_ca)
		unsetenv(file_env);
	return s.release();
	SHIM_CATCH(nullptr)
}

int lts_session_apply(lts_session *s, const struct lts_setting *settings,
		      size_t n, struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	lt::settings_pack pack;
	if (fill_pack(pack, settings, n, err))
		return LTS_EINVAL;
	s->ses->apply_settings(std::move(pack));
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_session_set_notify(lts_session *s, void (*fn)(void *), void *ud,
			   struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	{
		std::lock_guard<std::mutex> lock(s->notify_mu);
		s->notify_fn = fn;
		s->notify_ud = ud;
	}
	// The lambda reads the pointer under the mutex, so clearing it here
	// guarantees fn is not called after this function returns.
	s->ses->set_alert_notify([s] {
		std::lock_guard<std::mutex> lock(s->notify_mu);
		if (s->notify_fn)
			s->notify_fn(s->notify_ud);
	});
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

void lts_session_free(lts_session *s)
{
	if (!s)
		return;
	try {
		{
			std::lock_guard<std::mutex> lock(s->notify_mu);
			s->notify_fn = nullptr;
			s->notify_ud = nullptr;
		}
		{
			std::lock_guard<std::mutex> lock(s->dormant->mu);
			s->dormant->closed = true;
			s->dormant->notify = nullptr;
		}
		s->ses->set_alert_notify([] {});
		s->ses.reset();
	} catch (...) {
		// nothing sensible to report while tearing down
	}
	delete s;
}

} // extern "C"
