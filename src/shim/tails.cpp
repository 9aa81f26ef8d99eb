// tails.cpp: the piece of a small file without its padding on the wire.
//
// A hybrid torrent pads every file to a piece boundary, and libtorrent
// asks for a block whole: a 3 KB file cost a 16 KiB block, and a repo of
// thousands of small files sent twice its size. Between two peers that
// both offer "ms_tail" in their extension handshake (BEP 10), a block
// whose piece holds real bytes only at its start (and padding after) is
// asked for by those bytes:
//
//   request  ms_tail 0, piece (4 bytes), length (4 bytes)
//   answer   ms_tail 1, piece (4 bytes), the bytes
//            then a reject (BEP 6) of the block libtorrent asked for
//
// The receiver gives the piece, zeros after the bytes, to libtorrent
// (add_piece(), on the network thread, before the reject is read): it is
// written and hashed like any piece, and a piece that fails its hash
// ends tails with that peer (its blocks are then asked for whole, so
// libtorrent's own judgement of bad peers applies). The sender answers
// only what it has and only a peer it does not choke; a peer without
// the extension (any other client) is asked as before.

#include "shim.h"

#include <libtorrent/bdecode.hpp>
#include <libtorrent/disk_buffer_holder.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_connection_interface.hpp>
#include <libtorrent/peer_request.hpp>
#include <libtorrent/torrent_info.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

using namespace lts_internal;

namespace {

constexpr int block = 16 * 1024;
constexpr int our_id = 49;                 // our number for ms_tail messages
constexpr int max_piece = 256 * 1024;      // a larger piece is not worth it
// tails asked of one peer at a time: libtorrent sizes its queue of
// requests to a peer by the payload rate it measures, which never counts
// tails, and asks for them one or two at a time; so the next tails the
// peer has are asked for too (a repo of 10,000 small files took 4 times
// as long as with whole blocks without this)
constexpr std::size_t window = 64;
enum : char { tail_request = 0, tail_data = 1 };

void put32(char *p, std::uint32_t v)
{
	p[0] = static_cast<char>(v >> 24);
	p[1] = static_cast<char>(v >> 16);
	p[2] = static_cast<char>(v >> 8);
	p[3] = static_cast<char>(v);
}

std::uint32_t get32(char const *p)
{
	auto b = [p](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])); };
	return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

struct tail_peer;

struct tail_torrent final : lt::torrent_plugin,
			    std::enable_shared_from_this<tail_torrent> {
	std::shared_ptr<tail_table> table;
	lt::torrent_handle h;
	std::shared_ptr<tail_counts> counts;
	bool known = false;
	// per piece: the bytes at its start that are all of its real bytes,
	// when fewer than its first block; 0 otherwise
	std::vector<int> tail;
	std::vector<int> size;                  // per piece, its size
	// a piece added from a peer's tail, until it passes or fails
	std::map<int, std::weak_ptr<tail_peer>> source;
	// per piece: 1 asked of a peer, 2 added and not yet hashed
	std::vector<char> pending;
	std::set<lt::address> refused;          // sent a tail that failed

	tail_torrent(std::shared_ptr<tail_table> t, lt::torrent_handle const &th)
		: table(std::move(t)), h(th)
	{
	}

	// out of the table with the torrent (a status still holds its counts)
	~tail_torrent() override
	{
		std::lock_guard<std::mutex> lock(table->mu);
		for (auto i = table->counts.begin(); i != table->counts.end();)
			i = i->second == counts ? table->counts.erase(i) : std::next(i);
	}

	// the table of tails, once the torrent's metadata is there (called
	// on the network thread: the handle's call runs at once)
	bool know()
	{
		if (known)
			return true;
		std::shared_ptr<const lt::torrent_info> ti = h.torrent_file();
		if (!ti || !ti->is_valid())
			return false;
		lt::file_storage const &fs = ti->files();
		int const n = ti->num_pieces(), P = ti->piece_length();
		known = true;
		if (P > max_piece)
			return true; // no table: tail_of() says 0
		tail.assign(static_cast<std::size_t>(n), 0);
		pending.assign(static_cast<std::size_t>(n), 0);
		size.resize(static_cast<std::size_t>(n));
		for (int p = 0; p < n; p++)
			size[static_cast<std::size_t>(p)] = ti->piece_size(lt::piece_index_t(p));
		std::vector<int> end(static_cast<std::size_t>(n), 0);
		std::vector<char> bad(static_cast<std::size_t>(n), 0);
		for (lt::file_index_t f : fs.file_range()) {
			if (fs.pad_file_at(f) || fs.file_size(f) <= 0)
				continue;
			std::int64_t off = fs.file_offset(f), last = off + fs.file_size(f);
			for (std::int64_t p = off / P; p * P < last && p < n; p++) {
				std::int64_t s = std::max(off, p * P) - p * P;
				std::int64_t e = std::min(last, (p + 1) * P) - p * P;
				auto k = static_cast<std::size_t>(p);
				if (s >= block || e > block)
					bad[k] = 1;
				else
					end[k] = std::max(end[k], static_cast<int>(e));
			}
		}
		for (std::size_t k = 0; k < tail.size(); k++)
			if (!bad[k] && end[k] > 0 && end[k] < std::min(block, size[k]))
				tail[k] = end[k];
		return true;
	}

	int tail_of(lt::piece_index_t p)
	{
		int i = static_cast<int>(p);
		return know() && i >= 0 && i < static_cast<int>(tail.size())
			       ? tail[static_cast<std::size_t>(i)]
			       : 0;
	}

	std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const &pc) override;

	void on_piece_pass(lt::piece_index_t p) override
	{
		source.erase(static_cast<int>(p));
		settle(p);
	}

	void settle(lt::piece_index_t p)
	{
		int i = static_cast<int>(p);
		if (i >= 0 && i < static_cast<int>(pending.size()) &&
		    pending[static_cast<std::size_t>(i)] == 2)
			pending[static_cast<std::size_t>(i)] = 0;
	}

	void on_piece_failed(lt::piece_index_t p) override;
};

struct tail_peer final : lt::peer_plugin, std::enable_shared_from_this<tail_peer> {
	std::weak_ptr<tail_torrent> tt;
	lt::peer_connection_handle pc;
	int their_id = 0;                       // theirs for ms_tail, 0: none
	std::set<int> asked;                    // tails asked of them
	int next = 0;                           // where to look for more

	tail_peer(std::weak_ptr<tail_torrent> t, lt::peer_connection_handle const &c)
		: tt(std::move(t)), pc(c)
	{
	}

	lt::string_view type() const override
	{
		return "ms_tail";
	}

	void add_handshake(lt::entry &e) override
	{
		e["m"]["ms_tail"] = our_id;
	}

	bool on_extension_handshake(lt::bdecode_node const &d) override
	{
		lt::bdecode_node m = d.dict_find_dict("m");
		their_id = m ? static_cast<int>(m.dict_find_int_value("ms_tail", 0)) : 0;
		if (their_id < 0 || their_id > 255)
			their_id = 0;
		return true;
	}

	void send(char kind, int piece, char const *data, int n)
	{
		std::vector<char> m(static_cast<std::size_t>(11 + n));
		put32(m.data(), static_cast<std::uint32_t>(7 + n));
		m[4] = 20; // extended
		m[5] = static_cast<char>(their_id);
		m[6] = kind;
		put32(m.data() + 7, static_cast<std::uint32_t>(piece));
		if (n)
			memcpy(m.data() + 11, data, static_cast<std::size_t>(n));
		pc.send_buffer(m.data(), static_cast<int>(m.size()));
	}

	// BEP 6: the block libtorrent asked for (the one a tail stands for)
	void reject(int piece, int length)
	{
		char m[17];
		put32(m, 13);
		m[4] = 16;
		put32(m + 5, static_cast<std::uint32_t>(piece));
		put32(m + 9, 0);
		put32(m + 13, static_cast<std::uint32_t>(length));
		pc.send_buffer(m, sizeof(m));
	}

	bool usable(tail_torrent &t)
	{
		return their_id && t.table->on && !t.refused.count(pc.remote().address());
	}

	void ask(tail_torrent &t, int piece)
	{
		char len[4];
		put32(len, static_cast<std::uint32_t>(t.tail[static_cast<std::size_t>(piece)]));
		send(tail_request, piece, len, 4);
		asked.insert(piece);
		t.pending[static_cast<std::size_t>(piece)] = 1;
	}

	// no longer asked of this peer: answered (added: 2, until hashed) or not
	void done_with(tail_torrent &t, int piece, char then = 0)
	{
		if (asked.erase(piece) && piece >= 0 && piece < static_cast<int>(t.pending.size()) &&
		    t.pending[static_cast<std::size_t>(piece)] == 1)
			t.pending[static_cast<std::size_t>(piece)] = then;
	}

	// more tails this peer has and we want, up to the window; a bounded
	// look each time (the handle's calls run at once on this thread)
	void top_up(tail_torrent &t)
	{
		int n = static_cast<int>(t.tail.size());
		for (int looked = 0; asked.size() < window && looked < 512 && n > 0; looked++) {
			int k = next;
			next = next + 1 < n ? next + 1 : 0;
			auto i = static_cast<std::size_t>(k);
			if (!t.tail[i] || t.pending[i] || !pc.has_piece(lt::piece_index_t(k)) ||
			    t.h.have_piece(lt::piece_index_t(k)) ||
			    t.h.piece_priority(lt::piece_index_t(k)) == lt::dont_download)
				continue;
			ask(t, k);
		}
	}

	// the handle's calls throw for a torrent on its way out: nothing of
	// that may reach libtorrent's thread
	bool write_request(lt::peer_request const &r) override
	{
		try {
			return write_request_(r);
		} catch (...) {
			return false;
		}
	}

	bool write_request_(lt::peer_request const &r)
	{
		auto t = tt.lock();
		if (!t || r.start != 0 || !usable(*t))
			return false;
		int n = t->tail_of(r.piece);
		if (n <= 0 || n >= r.length)
			return false;
		int piece = static_cast<int>(r.piece);
		// asked for already: its answer and reject end this request too
		if (!asked.count(piece))
			ask(*t, piece);
		next = piece + 1 < static_cast<int>(t->tail.size()) ? piece + 1 : 0;
		top_up(*t);
		return true;
	}

	// the reject that follows an answer, or stands for one
	bool on_reject(lt::peer_request const &r) override
	{
		auto t = tt.lock();
		if (t && t->known)
			done_with(*t, static_cast<int>(r.piece));
		return false;
	}

	void on_disconnect(lt::error_code const &) override
	{
		auto t = tt.lock();
		if (!t || !t->known)
			return;
		for (int p : std::set<int>(asked))
			done_with(*t, p);
	}

	bool on_extended(int length, int msg, lt::span<char const> body) override
	{
		if (msg != our_id)
			return false;
		try {
			return on_tail(length, body);
		} catch (...) {
			return true;
		}
	}

	bool on_tail(int length, lt::span<char const> body)
	{
		if (length < 5 || length > 5 + block) {
			pc.disconnect(lt::errors::invalid_message, lt::operation_t::bittorrent,
				      lt::peer_connection_interface::peer_error);
			return true;
		}
		if (static_cast<int>(body.size()) < length)
			return true; // the rest is on its way
		auto t = tt.lock();
		if (!t)
			return true;
		char kind = body[0];
		int piece = static_cast<int>(get32(body.data() + 1));
		if (kind == tail_request && length == 9)
			answer(*t, piece, static_cast<int>(get32(body.data() + 5)));
		else if (kind == tail_data)
			take(*t, piece, body.data() + 5, length - 5);
		else
			pc.disconnect(lt::errors::invalid_message, lt::operation_t::bittorrent,
				      lt::peer_connection_interface::peer_error);
		return true;
	}

	// theirs: a tail we have, read through the session's disk
	void answer(tail_torrent &t, int piece, int n)
	{
		int want = t.tail_of(lt::piece_index_t(piece));
		if (want <= 0 || n != want) {
			pc.disconnect(lt::errors::invalid_message, lt::operation_t::bittorrent,
				      lt::peer_connection_interface::peer_error);
			return;
		}
		int whole = std::min(block, t.size[static_cast<std::size_t>(piece)]);
		lt::disk_interface *disk = t.table->disk;
		lt::storage_index_t idx{};
		bool found = false;
		each_key(t.h.info_hashes(), [&](lt::sha1_hash const &k) {
			auto it = t.table->storages.find(k);
			if (!found && it != t.table->storages.end()) {
				idx = it->second;
				found = true;
			}
		});
		if (!disk || !found || pc.is_choked() || !t.h.have_piece(lt::piece_index_t(piece))) {
			reject(piece, whole);
			return;
		}
		lt::peer_request r;
		r.piece = lt::piece_index_t(piece);
		r.start = 0;
		r.length = n;
		std::weak_ptr<tail_peer> self = shared_from_this();
		std::shared_ptr<tail_counts> counts = t.counts;
		disk->async_read(idx, r,
				 [self, piece, n, whole, counts](lt::disk_buffer_holder b,
								 lt::storage_error const &e) {
					 auto me = self.lock();
					 if (!me || me->pc.is_disconnecting())
						 return;
					 if (!e && b.data()) {
						 me->send(tail_data, piece, b.data(), n);
						 counts->out += n;
					 }
					 me->reject(piece, whole);
				 });
		disk->submit_jobs();
	}

	// ours: a tail asked of them, given to libtorrent as the whole piece
	void take(tail_torrent &t, int piece, char const *data, int n)
	{
		int want = t.tail_of(lt::piece_index_t(piece));
		if (!asked.count(piece) || want <= 0 || n != want) {
			pc.disconnect(lt::errors::invalid_message, lt::operation_t::bittorrent,
				      lt::peer_connection_interface::peer_error);
			return;
		}
		done_with(t, piece, 2);
		std::vector<char> whole(static_cast<std::size_t>(t.size[static_cast<std::size_t>(piece)]), 0);
		memcpy(whole.data(), data, static_cast<std::size_t>(n));
		t.counts->in += n;
		t.source[piece] = shared_from_this();
		t.h.add_piece(lt::piece_index_t(piece), whole.data());
		if (usable(t))
			top_up(t);
	}
};

std::shared_ptr<lt::peer_plugin>
tail_torrent::new_connection(lt::peer_connection_handle const &pc)
{
	if (pc.type() != lt::connection_type::bittorrent)
		return nullptr;
	return std::make_shared<tail_peer>(weak_from_this(), pc);
}

void tail_torrent::on_piece_failed(lt::piece_index_t p)
{
	settle(p);
	auto it = source.find(static_cast<int>(p));
	if (it == source.end())
		return;
	auto peer = it->second.lock();
	source.erase(it);
	if (!peer)
		return;
	refused.insert(peer->pc.remote().address());
	peer->pc.disconnect(lt::errors::invalid_message, lt::operation_t::bittorrent,
			    lt::peer_connection_interface::peer_error);
}

struct tail_plugin final : lt::plugin {
	std::shared_ptr<tail_table> t;

	explicit tail_plugin(std::shared_ptr<tail_table> table) : t(std::move(table))
	{
	}

	std::shared_ptr<lt::torrent_plugin> new_torrent(lt::torrent_handle const &h,
							 lt::client_data_t) override
	{
		// counts of its own: a torrent added again while the one before
		// is not yet gone must not lose them when that one goes
		auto tt = std::make_shared<tail_torrent>(t, h);
		tt->counts = std::make_shared<tail_counts>();
		std::lock_guard<std::mutex> lock(t->mu);
		each_key(h.info_hashes(), [&](lt::sha1_hash const &k) { t->counts[k] = tt->counts; });
		return tt;
	}
};

} // namespace

namespace lts_internal {

std::shared_ptr<lt::plugin> new_tail_plugin(std::shared_ptr<tail_table> t)
{
	return std::make_shared<tail_plugin>(std::move(t));
}

std::shared_ptr<tail_counts> tail_counts_of(tail_table &t, lt::info_hash_t const &ih)
{
	std::lock_guard<std::mutex> lock(t.mu);
	std::shared_ptr<tail_counts> c;
	each_key(ih, [&](lt::sha1_hash const &k) {
		auto it = t.counts.find(k);
		if (!c && it != t.counts.end())
			c = it->second;
	});
	return c;
}

} // namespace lts_internal
