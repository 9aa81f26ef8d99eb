// disk-order.cpp: ordered_disk_io, the disk under piece_disk_io:
// libtorrent's own, with the clear of a piece that failed its hash check
// put after the writes to that piece.

#include "shim.h"

#include <libtorrent/disk_interface.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

// libtorrent 2.0's mmap disk I/O with several disk threads, put in order.
// After a piece fails its hash check, libtorrent asks the disk to clear
// it: a fence behind every write already issued. A write to that piece
// finishing on one thread lowers the fence, and another thread can run
// the clear and report it before the write's own completion is reported.
// The late completion then marks its block done again on the piece the
// clear has just reset; a piece whose blocks all end up done that way is
// never hashed nor asked for again (a download stuck at 100%). Here a
// clear goes to the disk only once every write to its piece issued
// before it has been reported. Every call is made, and every completion
// handler run, on libtorrent's network thread.
struct ordered_disk_io final : lt::disk_interface {
	struct piece_track {
		int writes = 0;  // issued, completion not yet reported
		std::vector<std::function<void(lt::piece_index_t)>> clears;
	};
	// one per storage; completions hold it, so a storage index used
	// again after a remove never sees the old torrent's writes
	struct storage_track {
		lt::storage_index_t idx;
		bool removed = false;
		std::map<int, piece_track> pieces;
	};
	// shared with pending completions: inner is null once torn down
	struct core {
		lt::disk_interface *inner = nullptr;
		bool aborted = false;
	};

	std::unique_ptr<lt::disk_interface> inner;
	std::shared_ptr<core> c;
	std::map<std::uint32_t, std::shared_ptr<storage_track>> storages;
	// the inner disk's own holders: removes the storage there when dropped
	std::map<std::uint32_t, lt::storage_holder> holders;

	explicit ordered_disk_io(std::unique_ptr<lt::disk_interface> in)
		: inner(std::move(in)), c(std::make_shared<core>())
	{
		c->inner = inner.get();
	}

	~ordered_disk_io() override
	{
		c->inner = nullptr;
		storages.clear();
		holders.clear();
	}

	lt::storage_holder new_torrent(lt::storage_params const &p,
				       std::shared_ptr<void> const &t) override
	{
		lt::storage_holder h = inner->new_torrent(p, t);
		auto st = std::make_shared<storage_track>();
		st->idx = h;
		std::uint32_t key = static_cast<std::uint32_t>(st->idx);
		storages[key] = st;
		holders[key] = std::move(h);
		return lt::storage_holder(st->idx, *this);
	}

	void remove_torrent(lt::storage_index_t idx) override
	{
		auto it = storages.find(static_cast<std::uint32_t>(idx));
		if (it != storages.end()) {
			it->second->removed = true;
			storages.erase(it);
		}
		holders.erase(static_cast<std::uint32_t>(idx));
	}

	void async_read(lt::storage_index_t s, lt::peer_request const &r,
			std::function<void(lt::disk_buffer_holder,
					   lt::storage_error const &)> h,
			lt::disk_job_flags_t f) override
	{
		inner->async_read(s, r, std::move(h), f);
	}

	bool async_write(lt::storage_index_t s, lt::peer_request const &r,
			 char const *buf, std::shared_ptr<lt::disk_observer> o,
			 std::function<void(lt::storage_error const &)> h,
			 lt::disk_job_flags_t f) override
	{
		auto it = storages.find(static_cast<std::uint32_t>(s));
		if (it == storages.end())
			return inner->async_write(s, r, buf, std::move(o),
						  std::move(h), f);
		std::shared_ptr<storage_track> st = it->second;
		int piece = static_cast<int>(r.piece);
		st->pieces[piece].writes++;
		return inner->async_write(s, r, buf, std::move(o),
			[cc = c, st, piece, h = std::move(h)](
				lt::storage_error const &e) {
				h(e);
				write_done(*cc, *st, piece);
			}, f);
	}

	// after the write's own handler: a clear waiting only for it goes now
	static void write_done(core &cc, storage_track &st, int piece)
	{
		auto it = st.pieces.find(piece);
		if (it == st.pieces.end())
			return;
		if (--it->second.writes > 0)
			return;
		auto clears = std::move(it->second.clears);
		st.pieces.erase(it);
		if (!cc.inner || cc.aborted || st.removed || clears.empty())
			return;
		for (auto &h : clears)
			cc.inner->async_clear_piece(st.idx, lt::piece_index_t(piece),
						    std::move(h));
		cc.inner->submit_jobs();
	}

	void async_clear_piece(lt::storage_index_t s, lt::piece_index_t p,
			       std::function<void(lt::piece_index_t)> h) override
	{
		auto it = storages.find(static_cast<std::uint32_t>(s));
		if (it != storages.end()) {
			auto pt = it->second->pieces.find(static_cast<int>(p));
			if (pt != it->second->pieces.end() && pt->second.writes > 0) {
				pt->second.clears.push_back(std::move(h));
				return;
			}
		}
		inner->async_clear_piece(s, p, std::move(h));
	}

	void async_hash(lt::storage_index_t s, lt::piece_index_t p,
			lt::span<lt::sha256_hash> v2, lt::disk_job_flags_t f,
			std::function<void(lt::piece_index_t, lt::sha1_hash const &,
					   lt::storage_error const &)> h) override
	{
		inner->async_hash(s, p, v2, f, std::move(h));
	}

	void async_hash2(lt::storage_index_t s, lt::piece_index_t p, int off,
			 lt::disk_job_flags_t f,
			 std::function<void(lt::piece_index_t, lt::sha256_hash const &,
					    lt::storage_error const &)> h) override
	{
		inner->async_hash2(s, p, off, f, std::move(h));
	}

	void async_move_storage(lt::storage_index_t s, std::string p,
				lt::move_flags_t f,
				std::function<void(lt::status_t, std::string const &,
						   lt::storage_error const &)> h) override
	{
		inner->async_move_storage(s, std::move(p), f, std::move(h));
	}

	void async_release_files(lt::storage_index_t s,
				 std::function<void()> h) override
	{
		inner->async_release_files(s, std::move(h));
	}

	void async_check_files(lt::storage_index_t s,
			       lt::add_torrent_params const *rd,
			       lt::aux::vector<std::string, lt::file_index_t> links,
			       std::function<void(lt::status_t,
						  lt::storage_error const &)> h) override
	{
		inner->async_check_files(s, rd, std::move(links), std::move(h));
	}

	void async_stop_torrent(lt::storage_index_t s,
				std::function<void()> h) override
	{
		inner->async_stop_torrent(s, std::move(h));
	}

	void async_rename_file(lt::storage_index_t s, lt::file_index_t i,
			       std::string name,
			       std::function<void(std::string const &, lt::file_index_t,
						  lt::storage_error const &)> h) override
	{
		inner->async_rename_file(s, i, std::move(name), std::move(h));
	}

	void async_delete_files(lt::storage_index_t s, lt::remove_flags_t o,
				std::function<void(lt::storage_error const &)> h) override
	{
		inner->async_delete_files(s, o, std::move(h));
	}

	void async_set_file_priority(lt::storage_index_t s,
		lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio,
		std::function<void(lt::storage_error const &,
			lt::aux::vector<lt::download_priority_t, lt::file_index_t>)> h) override
	{
		inner->async_set_file_priority(s, std::move(prio), std::move(h));
	}

	void update_stats_counters(lt::counters &cnt) const override
	{
		inner->update_stats_counters(cnt);
	}

	std::vector<lt::open_file_state> get_status(lt::storage_index_t s) const override
	{
		return inner->get_status(s);
	}

	void abort(bool wait) override
	{
		c->aborted = true;
		inner->abort(wait);
	}

	void submit_jobs() override
	{
		inner->submit_jobs();
	}

	void settings_updated() override
	{
		inner->settings_updated();
	}
};

} // namespace

namespace lts_internal {

std::unique_ptr<lt::disk_interface>
new_ordered_disk_io(std::unique_ptr<lt::disk_interface> inner)
{
	return std::unique_ptr<lt::disk_interface>(new ordered_disk_io(std::move(inner)));
}

} // namespace lts_internal
