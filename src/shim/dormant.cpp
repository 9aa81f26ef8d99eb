// dormant.cpp: dormant torrents (lts_dormant_*): torrents kept out of the
// session, each a .torrent and its resume data on disk, loaded when a
// peer's handshake names one (dormant_plugin, on libtorrent's network
// thread); alerts.cpp reports it woken.

#include "shim.h"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/read_resume_data.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_info.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

using namespace lts_internal;

namespace {

// a whole (small) file; false and *why on failure
bool slurp(std::string const &path, std::size_t max, std::vector<char> &out,
	   std::string *why)
{
	FILE *f = fopen(path.c_str(), "rb");
	if (!f) {
		*why = "cannot open '" + path + "': " + strerror(errno);
		return false;
	}
	out.clear();
	char buf[65536];
	std::size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (out.size() + n > max) {
			fclose(f);
			*why = "'" + path + "' is too large";
			return false;
		}
		out.insert(out.end(), buf, buf + n);
	}
	bool bad = ferror(f) != 0;
	fclose(f);
	if (bad)
		*why = "cannot read '" + path + "'";
	return !bad;
}

// out of the table (under t.mu)
void dormant_erase(dormant_table &t, dormant_entry const &e)
{
	each_key(e.ih, [&](lt::sha1_hash const &k) { t.by_hash.erase(k); });
	t.by_cookie.erase(e.cookie);
}

// the add parameters of a dormant torrent, from its two files (e.ih
// unset: whatever torrent the file holds)
bool dormant_params(dormant_entry const &e, lt::add_torrent_params &p,
		    std::string *why)
{
	std::vector<char> buf;
	lt::error_code ec;

	if (!slurp(e.resume_path, 256u << 20, buf, why))
		return false;
	p = lt::read_resume_data(buf, ec);
	if (ec) {
		*why = "bad resume data in '" + e.resume_path + "': " + ec.message();
		return false;
	}
	if (!slurp(e.torrent_path, 256u << 20, buf, why))
		return false;
	auto ti = std::make_shared<lt::torrent_info>(buf, ec, lt::from_span);
	if (ec) {
		*why = "invalid torrent '" + e.torrent_path + "': " + ec.message();
		return false;
	}
	lt::info_hash_t const ih = ti->info_hashes();
	if ((e.ih.has_v1() || e.ih.has_v2()) && ih != e.ih) {
		*why = "'" + e.torrent_path + "' is another torrent now";
		return false;
	}
	if ((p.info_hashes.has_v1() || p.info_hashes.has_v2()) && p.info_hashes != ih) {
		*why = "'" + e.resume_path + "' is resume data of another torrent";
		return false;
	}
	ti->set_web_seeds({});
	p.ti = std::move(ti);
	p.info_hashes = ih;
	p.url_seeds.clear();
	p.http_seeds.clear();
	add_flags(p, 0);
	// ready at once: a torrent still checking its resume data turns the
	// peer that woke it away ("torrent not ready"), and the peer would
	// not come back for a minute. (Files removed meanwhile show up as a
	// file error on the first read instead.)
	p.flags |= lt::torrent_flags::no_verify_files;
	return true;
}

// Loads a dormant torrent when a peer's handshake names it. Runs on
// libtorrent's network thread.
struct dormant_plugin final : lt::plugin {
	std::shared_ptr<dormant_table> t;

	explicit dormant_plugin(std::shared_ptr<dormant_table> table)
		: t(std::move(table))
	{
	}

	bool on_unknown_torrent(lt::info_hash_t const &ih,
				lt::peer_connection_handle const &,
				lt::add_torrent_params &p) override
	{
		std::shared_ptr<dormant_entry> e;
		{
			std::lock_guard<std::mutex> lock(t->mu);
			if (t->closed)
				return false;
			each_key(ih, [&](lt::sha1_hash const &k) {
				auto it = t->by_hash.find(k);
				if (!e && it != t->by_hash.end())
					e = it->second;
			});
			if (!e)
				return false;
			dormant_erase(*t, *e);
		}
		woken_entry w;
		w.ih = e->ih;
		w.cookie = e->cookie;
		bool ok;
		try {
			ok = dormant_params(*e, p, &w.error);
		} catch (std::exception const &x) {
			ok = false;
			w.error = x.what();
		}
		w.failed = !ok;
		std::function<void()> notify;
		{
			std::lock_guard<std::mutex> lock(t->mu);
			t->woken.push_back(std::move(w));
			notify = t->notify;
		}
		// a failure has no alert of its own to wake the caller
		if (!ok && notify)
			notify();
		return ok;
	}
};

} // namespace

namespace lts_internal {

// the woken entry of that torrent, out of the table
bool take_woken(dormant_table &t, lt::info_hash_t const &ih, woken_entry *out)
{
	std::lock_guard<std::mutex> lock(t.mu);
	for (auto it = t.woken.begin(); it != t.woken.end(); ++it) {
		if (!it->failed && it->ih == ih) {
			*out = std::move(*it);
			t.woken.erase(it);
			return true;
		}
	}
	return false;
}

std::shared_ptr<lt::plugin> new_dormant_plugin(std::shared_ptr<dormant_table> table)
{
	return std::make_shared<dormant_plugin>(std::move(table));
}

} // namespace lts_internal

extern "C" {

int lts_dormant_add(lts_session *s, const char *torrent_path,
		    const char *resume_path, int64_t cookie, int *n_trackers,
		    struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	if (!torrent_path || !resume_path) {
		set_err(err, LTS_EINVAL, "no torrent or resume path");
		return LTS_EINVAL;
	}
	auto e = std::make_shared<dormant_entry>();
	e->torrent_path = torrent_path;
	e->resume_path = resume_path;
	e->cookie = cookie;
	{
		// what a peer would wake it with, once now
		lt::add_torrent_params p;
		std::string why;
		if (!dormant_params(*e, p, &why)) {
			set_err(err, LTS_EINVAL, "%s", why.c_str());
			return LTS_EINVAL;
		}
		e->ih = p.info_hashes;
		if (n_trackers)
			*n_trackers = static_cast<int>(p.trackers.size() +
						       p.ti->trackers().size());
	}
	if (s->by_hash.count(e->ih)) {
		set_err(err, LTS_EEXIST, "torrent is in the session");
		return LTS_EEXIST;
	}
	// (before the table's lock: adding waits for libtorrent's thread,
	// whose plugin takes that lock)
	if (!s->anchor.is_valid()) {
		lt::add_torrent_params a;
		std::random_device rd;
		for (auto &b : a.info_hashes.v1)
			b = static_cast<char>(rd());
		a.name = "modelswarm-anchor";
		a.save_path = ".";
		a.flags = lt::torrent_flags::paused | lt::torrent_flags::upload_mode;
		lt::error_code ec;
		s->anchor = s->ses->add_torrent(std::move(a), ec);
		if (ec) {
			set_err(err, LTS_ELIBTORRENT, "cannot add the anchor torrent: %s",
				ec.message().c_str());
			return LTS_ELIBTORRENT;
		}
	}
	std::lock_guard<std::mutex> lock(s->dormant->mu);
	bool taken = s->dormant->by_cookie.count(cookie) != 0;
	each_key(e->ih, [&](lt::sha1_hash const &k) {
		taken = taken || s->dormant->by_hash.count(k);
	});
	if (taken) {
		set_err(err, LTS_EEXIST, "torrent is dormant already");
		return LTS_EEXIST;
	}
	each_key(e->ih, [&](lt::sha1_hash const &k) { s->dormant->by_hash[k] = e; });
	s->dormant->by_cookie[cookie] = e;
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_dormant_remove(lts_session *s, int64_t cookie, struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	std::lock_guard<std::mutex> lock(s->dormant->mu);
	auto it = s->dormant->by_cookie.find(cookie);
	if (it == s->dormant->by_cookie.end()) {
		set_err(err, LTS_ENOENT, "no dormant torrent with cookie %lld",
			static_cast<long long>(cookie));
		return LTS_ENOENT;
	}
	auto e = it->second;
	dormant_erase(*s->dormant, *e);
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

size_t lts_dormant_count(lts_session *s)
{
	try {
		std::lock_guard<std::mutex> lock(s->dormant->mu);
		return s->dormant->by_cookie.size();
	} catch (...) {
		return 0;
	}
}

} // extern "C"
