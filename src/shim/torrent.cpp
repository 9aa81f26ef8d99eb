// torrent.cpp: a torrent in the session (lts_torrent_*): adding it, from
// a .torrent, a magnet link or resume data, and removing it; its status,
// files, pieces, trackers, peers and flags. Each torrent is named by an id
// (torrent_entry, in shim.h); alerts.cpp keeps the ids as torrents come
// and go.

#include "shim.h"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/announce_entry.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/read_resume_data.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>
#include <libtorrent/write_resume_data.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace lts_internal;

namespace lts_internal {

static torrent_entry *find(lts_session *s, int id, struct lts_error *err)
{
	auto it = s->torrents.find(id);
	if (it == s->torrents.end()) {
		set_err(err, LTS_ENOENT, "no torrent with id %d", id);
		return nullptr;
	}
	return &it->second;
}

int state_of(lt::torrent_status::state_t st)
{
	switch (st) {
	case lt::torrent_status::checking_files: return LTS_STATE_CHECKING_FILES;
	case lt::torrent_status::downloading_metadata: return LTS_STATE_DOWNLOADING_METADATA;
	case lt::torrent_status::downloading: return LTS_STATE_DOWNLOADING;
	case lt::torrent_status::finished: return LTS_STATE_FINISHED;
	case lt::torrent_status::seeding: return LTS_STATE_SEEDING;
	case lt::torrent_status::checking_resume_data: return LTS_STATE_CHECKING_RESUME_DATA;
	default: return LTS_STATE_UNKNOWN;
	}
}

// Files of a torrent mapped to save_path/<path without the torrent name>.
void strip_root(lt::torrent_handle const &h, lt::file_storage const &fs)
{
	if (fs.num_files() == 1 && fs.file_path(lt::file_index_t(0)) == fs.name())
		return; // single-file torrent: keep its name
	std::string prefix = fs.name() + "/";
	for (lt::file_index_t i : fs.file_range()) {
		if (fs.pad_file_at(i))
			continue;
		std::string p = fs.file_path(i);
		if (p.compare(0, prefix.size(), prefix) == 0)
			h.rename_file(i, p.substr(prefix.size()));
	}
}

// the same, in a torrent not yet added
static void strip_root_ti(lt::torrent_info &ti)
{
	lt::file_storage const &fs = ti.files();
	if (fs.num_files() == 1 && fs.file_path(lt::file_index_t(0)) == fs.name())
		return;
	std::string prefix = fs.name() + "/";
	for (lt::file_index_t i : fs.file_range()) {
		if (fs.pad_file_at(i))
			continue;
		std::string p = fs.file_path(i);
		if (p.compare(0, prefix.size(), prefix) == 0)
			ti.rename_file(i, p.substr(prefix.size()));
	}
}

// the flags every torrent is added with, whatever its resume data says
void add_flags(lt::add_torrent_params &atp, unsigned flags)
{
	atp.flags &= ~lt::torrent_flags::auto_managed;
	atp.flags &= ~lt::torrent_flags::paused;
	atp.flags &= ~lt::torrent_flags::duplicate_is_error;
	// resume data of a download stopped by a full disk says upload-only
	atp.flags &= ~lt::torrent_flags::upload_mode;
	atp.flags &= ~lt::torrent_flags::stop_when_ready;
	if (flags & LTS_ADD_PAUSED)
		atp.flags |= lt::torrent_flags::paused;
	if (flags & LTS_ADD_SEED_MODE)
		atp.flags |= lt::torrent_flags::seed_mode;
	if (flags & LTS_ADD_UPLOAD_ONLY)
		atp.flags |= lt::torrent_flags::upload_mode;
	if (flags & LTS_ADD_SUPER_SEED)
		atp.flags |= lt::torrent_flags::super_seeding;
	else
		atp.flags &= ~lt::torrent_flags::super_seeding;
}

} // namespace lts_internal

extern "C" {

// n entries given for what must be one per file of ti (false, err set,
// when not)
static bool one_per_file(size_t n, lt::torrent_info const &ti, const char *what,
			 struct lts_error *err)
{
	if (n == static_cast<size_t>(ti.num_files()))
		return true;
	set_err(err, LTS_EINVAL, "%zu %s for a torrent of %d files", n, what,
		ti.num_files());
	return false;
}

// The pieces made only of files the caller vouches for (and pad files)
// join atp's have_pieces. false (err set) when the count is wrong.
static bool mark_have_files(lt::add_torrent_params &atp,
			    lt::torrent_info const &ti,
			    const unsigned char *have, size_t n,
			    struct lts_error *err)
{
	lt::file_storage const &fs = ti.files();

	if (!one_per_file(n, ti, "file flags", err))
		return false;
	if (atp.have_pieces.size() < fs.num_pieces())
		atp.have_pieces.resize(fs.num_pieces(), false);
	for (lt::piece_index_t i : fs.piece_range()) {
		bool all = true;
		for (auto const &sl : fs.map_block(i, 0, fs.piece_size(i))) {
			if (!fs.pad_file_at(sl.file_index) &&
			    !have[static_cast<int>(sl.file_index)]) {
				all = false;
				break;
			}
		}
		if (all)
			atp.have_pieces.set_bit(i);
	}
	return true;
}

// The trackers and peers of a magnet, for the torrent atp has, which
// must be the magnet's
static bool magnet_sources(lt::add_torrent_params &atp, char const *magnet,
			   struct lts_error *err)
{
	lt::error_code ec;
	lt::add_torrent_params m = lt::parse_magnet_uri(magnet, ec);
	if (ec) {
		set_err(err, LTS_EINVAL, "invalid magnet link: %s", ec.message().c_str());
		return false;
	}
	lt::info_hash_t const &ih = atp.ti->info_hashes();
	if ((m.info_hashes.has_v1() && m.info_hashes.v1 != ih.v1) ||
	    (m.info_hashes.has_v2() && m.info_hashes.v2 != ih.v2)) {
		set_err(err, LTS_EINVAL, "the magnet link is for another torrent");
		return false;
	}
	for (auto &t : m.trackers)
		atp.trackers.push_back(t);
	for (auto &pe : m.peers)
		atp.peers.push_back(pe);
	return true;
}

int lts_torrent_add(lts_session *s, const struct lts_add_params *p, int *id,
		    struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	lt::add_torrent_params atp;
	lt::error_code ec;
	if (p->resume && p->resume_len) {
		atp = lt::read_resume_data(
			{static_cast<const char *>(p->resume),
			 static_cast<std::ptrdiff_t>(p->resume_len)},
			ec);
		if (ec) {
			set_err(err, LTS_EINVAL, "bad resume data: %s",
				ec.message().c_str());
			return LTS_EINVAL;
		}
	}
	if (p->torrent && p->torrent_len) {
		auto ti = std::make_shared<lt::torrent_info>(
			lt::span<char const>(static_cast<const char *>(p->torrent),
					     static_cast<std::ptrdiff_t>(p->torrent_len)),
			ec, lt::from_span);
		if (ec) {
			set_err(err, LTS_EINVAL, "invalid torrent: %s",
				ec.message().c_str());
			return LTS_EINVAL;
		}
		if (p->file_paths) {
			if (!one_per_file(p->n_file_paths, *ti, "file paths", err))
				return LTS_EINVAL;
			for (lt::file_index_t i : ti->files().file_range()) {
				int k = static_cast<int>(i);
				if (!ti->files().pad_file_at(i) && p->file_paths[k])
					ti->rename_file(i, p->file_paths[k]);
			}
			// the caller's mapping wins over the one in resume data
			// (files may have been moved since it was saved)
			atp.renamed_files.clear();
		} else if (p->flags & LTS_ADD_NO_ROOT) {
			strip_root_ti(*ti);
		}
		if (atp.ti && atp.ti->info_hashes() != ti->info_hashes()) {
			set_err(err, LTS_EINVAL,
				"resume data is for another torrent");
			return LTS_EINVAL;
		}
		// web seeds are fetched by the caller, which hands the pieces in
		// with lts_torrent_add_piece(), never by libtorrent
		ti->set_web_seeds({});
		if (p->have_files &&
		    !mark_have_files(atp, *ti, p->have_files, p->n_have_files, err))
			return LTS_EINVAL;
		if (p->file_priorities) {
			if (!one_per_file(p->n_file_priorities, *ti, "file priorities", err))
				return LTS_EINVAL;
			// the resume data's piece priorities would win
			atp.piece_priorities.clear();
			atp.file_priorities.clear();
			for (size_t i = 0; i < p->n_file_priorities; i++) {
				int v = p->file_priorities[i];
				atp.file_priorities.push_back(lt::download_priority_t(
					static_cast<std::uint8_t>(v < 0 ? 0 : v > 7 ? 7 : v)));
			}
		}
		atp.ti = std::move(ti);
		if (p->magnet && !magnet_sources(atp, p->magnet, err))
			return LTS_EINVAL;
	} else if (p->magnet) {
		lt::add_torrent_params m = lt::parse_magnet_uri(p->magnet, ec);
		if (ec) {
			set_err(err, LTS_EINVAL, "invalid magnet link: %s",
				ec.message().c_str());
			return LTS_EINVAL;
		}
		if (!atp.ti && !atp.info_hashes.has_v1() &&
		    !atp.info_hashes.has_v2()) {
			atp.info_hashes = m.info_hashes;
			atp.name = m.name;
		} else if (atp.info_hashes != m.info_hashes &&
			   !(atp.ti && atp.ti->info_hashes() == m.info_hashes)) {
			set_err(err, LTS_EINVAL,
				"resume data is for another torrent");
			return LTS_EINVAL;
		}
		for (auto &t : m.trackers)
			atp.trackers.push_back(t);
		for (auto &pe : m.peers)
			atp.peers.push_back(pe);
	} else if (!atp.ti && !atp.info_hashes.has_v1() &&
		   !atp.info_hashes.has_v2()) {
		set_err(err, LTS_EINVAL, "no torrent, magnet or resume data given");
		return LTS_EINVAL;
	}
	if (!p->save_path) {
		set_err(err, LTS_EINVAL, "no save path");
		return LTS_EINVAL;
	}
	atp.save_path = p->save_path;
	atp.url_seeds.clear();
	atp.http_seeds.clear();
	for (size_t i = 0; i < p->n_trackers; i++)
		atp.trackers.push_back(p->trackers[i]);
	add_flags(atp, p->flags);

	lt::info_hash_t ih = atp.ti ? atp.ti->info_hashes() : atp.info_hashes;
	if (s->by_hash.count(ih)) {
		set_err(err, LTS_EEXIST, "torrent is already in the session");
		return LTS_EEXIST;
	}
	{
		// a dormant torrent is woken through the table, not added
		std::lock_guard<std::mutex> lock(s->dormant->mu);
		bool dormant = false;
		each_key(ih, [&](lt::sha1_hash const &k) {
			dormant = dormant || s->dormant->by_hash.count(k);
		});
		if (dormant) {
			set_err(err, LTS_EEXIST, "torrent is dormant");
			return LTS_EEXIST;
		}
	}
	std::shared_ptr<file_digests> dg;
	if (p->digest_files && !atp.ti) {
		set_err(err, LTS_EINVAL, "file digests need the torrent's metadata");
		return LTS_EINVAL;
	}
	if (p->digest_files &&
	    !one_per_file(p->n_digest_files, *atp.ti, "digest flags", err))
		return LTS_EINVAL;
	if (atp.ti && (p->digest_files || (p->flags & LTS_ADD_V2_CHECKS))) {
		dg = new_digests(*atp.ti, p->digest_files,
				 (p->flags & LTS_ADD_V2_CHECKS) != 0, s->digests);
		// the storage takes it when libtorrent makes it
		s->digests->put(ih, dg);
	}
	lt::torrent_handle h = s->ses->add_torrent(std::move(atp), ec);
	if (ec) {
		if (dg)
			s->digests->put(ih, nullptr);
		set_err(err, LTS_ELIBTORRENT, "cannot add torrent: %s",
			ec.message().c_str());
		return LTS_ELIBTORRENT;
	}
	int nid = s->next_id++;
	torrent_entry &e = s->torrents[nid];
	e.h = h;
	e.ih = ih;
	e.digests = std::move(dg);
	e.no_root = (p->flags & LTS_ADD_NO_ROOT) && !p->file_paths;
	e.ti = h.torrent_file();

	s->by_handle[h] = nid;
	s->by_hash[ih] = nid;
	*id = nid;
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_remove(lts_session *s, int id, unsigned flags,
		       struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	if (e->digests)  // not taken if its storage was never made
		s->digests->put(e->ih, nullptr);
	// a torrent with no tracker left sends no "stopped" announce
	if (flags & LTS_REMOVE_QUIET)
		e->h.replace_trackers({});
	s->ses->remove_torrent(e->h, (flags & LTS_REMOVE_FILES)
					     ? lt::session::delete_files
					     : lt::remove_flags_t{});
	// keep the id mapping until the removed alert has been translated
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

#define SIMPLE_OP(fname, call)                                               \
	int fname(lts_session *s, int id, struct lts_error *err)             \
	{                                                                    \
		clear_err(err);                                              \
		SHIM_TRY                                                     \
		torrent_entry *e = find(s, id, err);                         \
		if (!e)                                                      \
			return LTS_ENOENT;                                   \
		e->h.call;                                                   \
		return 0;                                                    \
		SHIM_CATCH(LTS_EEXCEPTION)                                   \
	}

SIMPLE_OP(lts_torrent_pause, pause(lt::torrent_handle::graceful_pause))
SIMPLE_OP(lts_torrent_resume, resume())
SIMPLE_OP(lts_torrent_recheck, force_recheck())
SIMPLE_OP(lts_torrent_dht_announce, force_dht_announce())

// bytes of real files (pad files left out), once per torrent: the file
// list does not change
static std::int64_t size_without_pads(torrent_entry &e, lt::torrent_info const &ti)
{
	if (e.real_size >= 0)
		return e.real_size;
	std::int64_t pad = 0;
	lt::file_storage const &fs = ti.files();
	for (lt::file_index_t i : fs.file_range())
		if (fs.pad_file_at(i))
			pad += fs.file_size(i);
	e.real_size = ti.total_size() - pad;
	return e.real_size;
}

// the flags leave out the piece bitfield and the other costly parts
static constexpr lt::status_flags_t status_flags =
	lt::torrent_handle::query_accurate_download_counters |
	lt::torrent_handle::query_torrent_file;

static void fill_status(tail_table &tt, torrent_entry &e, lt::torrent_status const &ts,
			struct lts_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = state_of(ts.state);
	st->paused = !!(ts.flags & lt::torrent_flags::paused);
	st->has_metadata = ts.has_metadata;
	st->is_seeding = ts.is_seeding;
	st->is_finished = ts.is_finished;
	st->progress = ts.progress;
	st->total_wanted = ts.total_wanted;
	// libtorrent's accurate count adds the blocks of the pieces under
	// way whole, 16 KiB each: a block that ends a small file counts its
	// padding too, and a repo of thousands of small files showed more
	// done than wanted; the pieces it has are counted exactly
	st->total_wanted_done = std::min(ts.total_wanted_done, ts.total_wanted);
	st->payload_download = ts.total_payload_download;
	st->payload_upload = ts.total_payload_upload;
	st->all_time_download = ts.all_time_download;
	st->all_time_upload = ts.all_time_upload;
	st->failed_bytes = ts.total_failed_bytes;
	st->redundant_bytes = ts.total_redundant_bytes;
	st->download_rate = ts.download_payload_rate;
	st->upload_rate = ts.upload_payload_rate;
	st->pieces_done = ts.num_pieces;
	st->hash_failures = e.hash_failures;
	if (ts.has_metadata) {
		auto ti = ts.torrent_file.lock();
		if (ti) {
			st->num_pieces = ti->num_pieces();
			st->total_size = size_without_pads(e, *ti);
		}
	}
	if (ts.errc)
		snprintf(st->error, sizeof(st->error), "%s",
			 ts.errc.message().c_str());

	// every payload byte comes from a peer: web seeds are not libtorrent's
	// (see lts_torrent_add_piece())
	st->num_peers = ts.num_peers;
	st->num_seeds = ts.num_seeds;
	st->peer_download = ts.total_payload_download;
	// and the small files' pieces peers sent without padding (tails.cpp),
	// which reach libtorrent as added pieces
	if (!e.tails)
		e.tails = tail_counts_of(tt, e.ih);
	if (e.tails) {
		std::int64_t in = e.tails->in, out = e.tails->out;
		st->payload_download += in;
		st->peer_download += in;
		st->payload_upload += out;
	}
}

int lts_torrent_status(lts_session *s, int id, struct lts_status *st,
		       struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	fill_status(*s->tails, *e, e->h.status(status_flags), st);
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrents_status(lts_session *s, const int *ids, struct lts_status *st,
			int *found, int n, struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	int k = 0;
	for (int i = 0; i < n; i++)
		found[i] = 0;
	if (n <= 0)
		return 0;
	// one call into the session's thread for all, not one per torrent
	std::vector<lt::torrent_status> v = s->ses->get_torrent_status(
		[](lt::torrent_status const &) { return true; }, status_flags);
	std::map<int, int> slot;
	for (int i = 0; i < n; i++)
		slot[ids[i]] = i;
	for (auto const &ts : v) {
		auto h = s->by_handle.find(ts.handle);
		if (h == s->by_handle.end())
			continue;
		auto sl = slot.find(h->second);
		auto t = s->torrents.find(h->second);
		if (sl == slot.end() || t == s->torrents.end())
			continue;
		fill_status(*s->tails, t->second, ts, &st[sl->second]);
		found[sl->second] = 1;
		k++;
	}
	return k;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_file_progress(lts_session *s, int id, int64_t *out, int n,
			      struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	std::vector<std::int64_t> fp = e->h.file_progress();
	int total = static_cast<int>(fp.size());
	for (int i = 0; i < n && i < total; i++)
		out[i] = fp[i];
	return total;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_set_file_priorities(lts_session *s, int id, const int *prio,
				    int n, struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	std::vector<lt::download_priority_t> v;
	for (int i = 0; i < n; i++) {
		if (prio[i] < 0 || prio[i] > 7) {
			set_err(err, LTS_EINVAL, "file priority %d out of range",
				prio[i]);
			return LTS_EINVAL;
		}
		v.push_back(lt::download_priority_t(
			static_cast<std::uint8_t>(prio[i])));
	}
	e->h.prioritize_files(v);
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_add_piece(lts_session *s, int id, int piece, const void *data,
			  size_t len, int overwrite, struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	if (!e->ti)
		e->ti = e->h.torrent_file();
	if (!e->ti) {
		set_err(err, LTS_ENOMETA, "torrent has no metadata yet");
		return LTS_ENOMETA;
	}
	if (piece < 0 || piece >= e->ti->num_pieces() ||
	    len != static_cast<size_t>(e->ti->piece_size(lt::piece_index_t(piece)))) {
		set_err(err, LTS_EINVAL, "piece %d of %zu bytes does not fit the torrent",
			piece, len);
		return LTS_EINVAL;
	}
	lt::piece_index_t k(piece);
	if (overwrite && e->h.have_piece(k))
		return 0;  // never write over a verified piece
	// a copy, handed over without waiting for libtorrent's thread
	const char *p = static_cast<const char *>(data);
	e->h.add_piece(k, std::vector<char>(p, p + len),
		       overwrite ? lt::torrent_handle::overwrite_existing
				 : lt::add_piece_flags_t{});
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_piece_states(lts_session *s, int id, unsigned char *out, int n,
			     struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	// the queue first: a piece that passes its check in between is then
	// seen in one of the two, never in neither
	std::vector<lt::partial_piece_info> q;
	e->h.get_download_queue(q);
	lt::torrent_status ts = e->h.status(lt::torrent_handle::query_pieces);
	int total = static_cast<int>(ts.pieces.size());
	if (total == 0)
		return 0;
	std::vector<lt::download_priority_t> prio = e->h.get_piece_priorities();
	for (int i = 0; i < n && i < total; i++) {
		lt::piece_index_t k(i);
		if (ts.pieces.get_bit(k))
			out[i] = LTS_PIECE_HAVE;
		else if (i < static_cast<int>(prio.size()) &&
			 prio[static_cast<size_t>(i)] == lt::dont_download)
			out[i] = LTS_PIECE_SKIP;
		else
			out[i] = LTS_PIECE_MISSING;
	}
	for (auto const &pp : q) {
		int k = static_cast<int>(pp.piece_index);
		// a piece reset after a failed hash check may stay listed with
		// no block in flight or done
		if (pp.finished + pp.writing + pp.requested == 0)
			continue;
		if (k >= 0 && k < n && k < total && out[k] == LTS_PIECE_MISSING)
			out[k] = LTS_PIECE_PARTIAL;
	}
	return total;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_add_tracker(lts_session *s, int id, const char *url, int tier,
			    struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	lt::announce_entry ae(url);
	ae.tier = static_cast<std::uint8_t>(tier);
	e->h.add_tracker(ae);
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_connect_peer(lts_session *s, int id, const char *host,
			     int port, struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	lt::error_code ec;
	lt::address a = lt::make_address(host, ec);
	if (ec) {
		set_err(err, LTS_EINVAL, "'%s' is not an IP address", host);
		return LTS_EINVAL;
	}
	if (port <= 0 || port > 65535) {
		set_err(err, LTS_EINVAL, "port %d out of range", port);
		return LTS_EINVAL;
	}
	e->h.connect_peer(lt::tcp::endpoint(a, static_cast<std::uint16_t>(port)));
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_save_resume(lts_session *s, int id, unsigned flags,
			    struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	lt::resume_data_flags_t f{};
	if (!(flags & LTS_SAVE_NO_INFO))
		f |= lt::torrent_handle::save_info_dict;
	if (flags & LTS_SAVE_FLUSH)
		f |= lt::torrent_handle::flush_disk_cache;
	e->h.save_resume_data(f);
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_rename_file(lts_session *s, int id, int file, const char *path,
			    struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	if (file < 0 || !path || !*path) {
		set_err(err, LTS_EINVAL, "bad file index or path");
		return LTS_EINVAL;
	}
	e->h.rename_file(lt::file_index_t(file), path);
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

// one of the torrent's flags on or off
static int set_flag(lts_session *s, int id, lt::torrent_flags_t flag, int on,
		    struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	if (on)
		e->h.set_flags(flag);
	else
		e->h.unset_flags(flag);
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_set_upload_mode(lts_session *s, int id, int on,
				struct lts_error *err)
{
	return set_flag(s, id, lt::torrent_flags::upload_mode, on, err);
}

int lts_torrent_file_sha256(lts_session *s, int id, int file,
			    unsigned char out[32], unsigned char git[20],
			    struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	if (!e->digests || file < 0 ||
	    static_cast<std::size_t>(file) >= e->digests->files.size() ||
	    !e->digests->files[static_cast<std::size_t>(file)])
		return LTS_DIGEST_NONE;
	return digest_answer(*s->digests,
			     *e->digests->files[static_cast<std::size_t>(file)], out, git);
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_file_readers(lts_session *s, int id, int file, int delta,
			     struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	if (!e->digests || file < 0 ||
	    static_cast<std::size_t>(file) >= e->digests->n_readers) {
		set_err(err, LTS_EINVAL, "no file %d to read as it comes", file);
		return LTS_EINVAL;
	}
	file_digests &d = *e->digests;
	std::atomic<int> &n = d.readers[static_cast<std::size_t>(file)];
	int was = n.fetch_add(delta);
	if (was + delta < 0) {
		n.store(0);
		delta = -was;
	}
	if (d.n_reading.fetch_add(delta) + delta <= 0) {
		d.n_reading.store(0);
		d.drop_recent();  // nobody left to read them
	}
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

long lts_torrent_read_recent(lts_session *s, int id, int file, int piece, int at,
			     void *buf, size_t n, struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	if (!e->digests)
		return 0;
	return static_cast<long>(e->digests->read_recent(file, piece, at,
							 static_cast<char *>(buf), n));
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_set_sequential(lts_session *s, int id, int on,
			       struct lts_error *err)
{
	return set_flag(s, id, lt::torrent_flags::sequential_download, on, err);
}

int lts_torrent_set_piece_deadline(lts_session *s, int id, int piece, int ms,
				   struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	auto ti = e->h.torrent_file();
	if (!ti)
		return LTS_ENOMETA;
	if (piece < 0 || piece >= ti->num_pieces())
		return LTS_EINVAL;
	e->h.set_piece_deadline(lt::piece_index_t(piece), ms < 0 ? 0 : ms);
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_set_limits(lts_session *s, int id, int upload, int download,
			   struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	e->h.set_upload_limit(upload > 0 ? upload : -1);
	e->h.set_download_limit(download > 0 ? download : -1);
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

lts_torrent *lts_torrent_info_get(lts_session *s, int id,
				  struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return nullptr;
	auto ti = e->h.torrent_file_with_hashes();
	if (!ti || !ti->is_valid()) {
		set_err(err, LTS_ENOMETA, "torrent has no metadata yet");
		return nullptr;
	}
	lt::add_torrent_params atp;
	atp.ti = std::const_pointer_cast<lt::torrent_info>(ti);
	std::vector<char> bytes;
	try {
		bytes = lt::write_torrent_file_buf(atp, {});
	} catch (lt::system_error const &) {
		// v2 hashes not all known yet: metadata without a file
	}
	return wrap_info(ti, std::move(bytes));
	SHIM_CATCH(nullptr)
}

} // extern "C"
