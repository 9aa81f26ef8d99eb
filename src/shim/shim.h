// shim.h: what the files of the shim share. C++ only, never included
// from C: the C API is include/lt_shim.h, which says nothing of how the
// shim is cut up.
//
// The shim is the only C++ in modelswarm and the only code that includes
// libtorrent. Every extern "C" function body is wrapped in
// SHIM_TRY/SHIM_CATCH so no exception crosses into C. What the files share
// is in namespace lts_internal, declared here; the rest of each file is
// its own (static, or in an anonymous namespace).
//
//   common.cpp       errors for the caller; libtorrent's version
//   session.cpp      the session: settings, its disks and plugin set up
//   torrent.cpp      a torrent in the session, named by an id
//   alerts.cpp       libtorrent's alerts as lts_alert
//   dormant.cpp      torrents loaded only when a peer asks for them
//   metainfo.cpp     a torrent's metadata, read and inspected
//   create.cpp       making a .torrent
//   disk-pieces.cpp  the session's disk: pieces gathered in memory, each
//                    hashed and written whole
//   disk-order.cpp   the disk under it: a failed piece's clear after its
//                    writes
//   digests.cpp      files' SHA-256 from the pieces written
//   dht.cpp          BEP 44 mutable items: put and get
//   selftest.cpp     self-tests of the disks and digests, built into
//                    tests/unit/test-shim only

#ifndef LT_SHIM_INTERNAL_H
#define LT_SHIM_INTERNAL_H

#include "lt_shim.h"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/disk_interface.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/fwd.hpp>
#include <libtorrent/info_hash.hpp>
#include <libtorrent/io_context.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/sha1_hash.hpp>
#include <libtorrent/span.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <openssl/evp.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace lt = libtorrent;

namespace lts_internal {

// common.cpp: the caller's struct lts_error (err may be null)
void set_err(struct lts_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void clear_err(struct lts_error *err);

// the torrent's keys in the dormant table and in the digest table: what a
// handshake (or a storage) may name it by
template <typename F> void each_key(lt::info_hash_t const &ih, F f)
{
	if (ih.has_v1())
		f(ih.get(lt::protocol_version::V1));
	if (ih.has_v2())
		f(ih.get(lt::protocol_version::V2));
}

// digests.cpp: files' SHA-256 worked out from the pieces piece_disk_io
// writes (how, at the top of digests.cpp)

// one file's bytes on their way to its SHA-256, in order
struct file_stream {
	struct part {
		std::shared_ptr<const char> data; // null: read it from path
		int len = 0;
		std::string path;
	};
	std::mutex mu;
	std::int64_t size = 0;
	std::int64_t done = 0;      // bytes fed
	bool busy = false;          // a worker is feeding it
	bool broken = false;        // no digest: a read failed, or a gap
	bool final = false;
	unsigned char digest[32] = {};
	unsigned char git_digest[20] = {};
	std::map<std::int64_t, part> ready; // by offset in the file
	EVP_MD_CTX *md = nullptr;
	EVP_MD_CTX *git = nullptr;  // LTS_DIGEST_WANT_GIT: the git blob SHA-1
	~file_stream() { EVP_MD_CTX_free(md); EVP_MD_CTX_free(git); }
	// both digests over the next n bytes
	bool update(char const *p, std::size_t n)
	{
		return EVP_DigestUpdate(md, p, n) == 1 &&
		       (!git || EVP_DigestUpdate(git, p, n) == 1);
	}
};

struct digest_table;

// the streams of a torrent's files, and what its pieces are checked against
struct file_digests {
	std::shared_ptr<digest_table> table;
	std::vector<lt::sha1_hash> v1;      // the torrent's, if it has v1
	std::vector<std::unique_ptr<file_stream>> files; // null: none wanted
	// LTS_ADD_V2_CHECKS: each file's piece layer (empty: none, or a file
	// of one piece at most; its pieces begin on a piece boundary)
	std::vector<std::vector<lt::sha256_hash>> layers;
	// per file: the readers waiting for its bytes (lts_torrent_file_readers);
	// while it has one, its pieces are kept in memory once written
	std::unique_ptr<std::atomic<int>[]> readers;
	// per file: the piece its reader last asked for (-1: not yet)
	std::unique_ptr<std::atomic<int>[]> reader_at;
	std::size_t n_readers = 0;
	std::atomic<int> n_reading{0};      // readers of every file
	// The pieces of files with a reader, as written, newest last (at most
	// recent_cap bytes; a piece read to its end is let go): the reader
	// copies them from here instead of reading the disk. A piece is kept
	// only once its hash is the torrent's (lts_torrent_read_recent()).
	// A piece its reader will not come to before it would be let go is
	// written through the page cache instead (behind()).
	struct recent_piece {
		std::shared_ptr<const char> data;   // the piece's first byte
		int len = 0;                        // bytes held (file bytes)
	};
	// (64 MiB was too little: a reader writing its bytes to disk fell
	// out of it in a 3 GiB pull and read the rest from disk)
	static constexpr std::int64_t recent_cap = std::int64_t(256) << 20;
	std::mutex recent_mu;
	std::map<int, recent_piece> recent;
	std::deque<int> recent_order;
	std::int64_t recent_bytes = 0;
	~file_digests();

	bool read_soon(lt::file_index_t f) const
	{
		std::size_t k = static_cast<std::size_t>(static_cast<int>(f));
		return k < n_readers && readers[k].load(std::memory_order_relaxed) > 0;
	}
	// whether file f's reader is so far behind piece p (of plen bytes)
	// that p would be let go before the reader reads it
	bool behind(lt::file_index_t f, int p, int plen) const
	{
		std::size_t k = static_cast<std::size_t>(static_cast<int>(f));
		if (k >= n_readers || !reader_at)
			return false;
		int at = reader_at[k].load(std::memory_order_relaxed);
		return at >= 0 && std::int64_t(p - at) * plen > recent_cap / 2;
	}
	// keep piece p (its bytes from data, len of them) for the readers
	void keep_recent(int p, std::shared_ptr<const char> data, int len);
	// forget piece p (it failed its check, or is cleared), or every piece
	void drop_recent(int p);
	void drop_recent();
	void forget_recent(std::map<int, recent_piece>::iterator it);
	// up to n bytes of piece p from byte at on, copied to out: how many
	// (0: the piece is not held, or not that far); file's reader is there
	std::size_t read_recent(int file, int p, int at, char *out, std::size_t n);

	// the piece-layer hash a piece's blocks must make, and the SHA-1 that
	// stands for them; false when its v1 hash is to be computed
	bool by_v2(lt::file_storage const &fs, int piece, lt::sha256_hash *want2,
		   lt::sha1_hash *want1) const;
};

// the root of a merkle tree of n leaves (a power of 2), pad past those
// given: a piece's from its block hashes, a file's from its piece layer
lt::sha256_hash piece_root(lt::span<lt::sha256_hash const> blocks, std::size_t n,
			   lt::sha256_hash const &pad = lt::sha256_hash());

// Shared by the session and its disk: digests waiting for their storage.
struct digest_table {
	std::int64_t stream_cap = std::int64_t(128) << 20;
	std::mutex mu;
	// by v1 info-hash and by truncated v2 info-hash (a storage is made
	// with either)
	std::map<lt::sha1_hash, std::shared_ptr<file_digests>> unclaimed;
	std::atomic<std::int64_t> held{0};  // bytes kept for streams

	void put(lt::info_hash_t const &ih, std::shared_ptr<file_digests> const &d);
	std::shared_ptr<file_digests> take(lt::sha1_hash const &k);
};

// f's git blob SHA-1 worked out too (f.size set, nothing fed yet)
void want_git(file_stream &f);
// a part's memory (if it holds any) handed back to the table
void let_go(digest_table &t, file_stream::part &p);
// the parts next in line fed to the file's SHA-256
void feed(digest_table &t, file_stream &f);
// LTS_DIGEST_* of a file (out: its SHA-256, when ready; git, if not
// null: its git blob SHA-1, LTS_DIGEST_NONE if that was not asked for)
int digest_answer(digest_table &t, file_stream &f, unsigned char out[32],
		  unsigned char *git);
// streams for the files flagged in want, and (v2_checks) piece layers
std::shared_ptr<file_digests> new_digests(lt::torrent_info const &ti,
					  const unsigned char *want, bool v2_checks,
					  std::shared_ptr<digest_table> const &t);

// disk-order.cpp: libtorrent's disk (inner), with the clear of a piece
// that failed its hash check put after the writes to that piece
std::unique_ptr<lt::disk_interface>
new_ordered_disk_io(std::unique_ptr<lt::disk_interface> inner);

// disk-pieces.cpp: pieces downloaded gathered in memory, hashed there and
// written whole, the rest left to inner; with digests (may be null), the
// pieces of the files asked for fed to their SHA-256
std::unique_ptr<lt::disk_interface>
new_piece_disk_io(lt::io_context &ios, lt::settings_interface const &sett,
		  std::unique_ptr<lt::disk_interface> inner,
		  std::shared_ptr<digest_table> digests);
// the bytes held past which a disk new_piece_disk_io() made asks peers to
// wait, and down to which they go on (the self-test lowers them)
void set_piece_disk_pressure(lt::disk_interface &disk, std::int64_t soft,
			     std::int64_t low);

// tails.cpp: the piece of a small file asked for and sent without its
// padding, between two peers that both offer it (see tails.cpp)
struct tail_counts {
	std::atomic<std::int64_t> in{0}, out{0}; // tail bytes received, sent
};
struct tail_table {
	std::mutex mu;
	bool on = true;
	// what a torrent of that info-hash (either key) got and gave as tails
	std::map<lt::sha1_hash, std::shared_ptr<tail_counts>> counts;
	// network thread only: the session's disk and each torrent's storage
	lt::disk_interface *disk = nullptr;
	std::map<lt::sha1_hash, lt::storage_index_t> storages;
};
std::shared_ptr<lt::plugin> new_tail_plugin(std::shared_ptr<tail_table> t);
// the counts of that torrent (null: none yet)
std::shared_ptr<tail_counts> tail_counts_of(tail_table &t, lt::info_hash_t const &ih);
// disk-pieces.cpp: tell t the disk and each storage it makes
void set_piece_disk_tails(lt::disk_interface &disk, std::shared_ptr<tail_table> t);

// dormant.cpp: torrents loaded only when a peer asks for them

// A dormant torrent: where to load it from when a peer asks for it.
struct dormant_entry {
	std::string torrent_path, resume_path;
	std::int64_t cookie = 0;
	lt::info_hash_t ih;
};

// A dormant torrent taken out of the table by libtorrent's thread; the
// caller's thread reports it (failed: never added, with the reason).
struct woken_entry {
	lt::info_hash_t ih;
	std::int64_t cookie = 0;
	bool failed = false;
	std::string error;
};

// Shared by the session (caller's thread) and the plugin (libtorrent's
// network thread): everything in it is under mu.
struct dormant_table {
	std::mutex mu;
	bool closed = false;
	// by v1 info-hash and by truncated v2 info-hash (a peer's handshake
	// names a torrent by either)
	std::map<lt::sha1_hash, std::shared_ptr<dormant_entry>> by_hash;
	std::map<std::int64_t, std::shared_ptr<dormant_entry>> by_cookie;
	std::vector<woken_entry> woken;
	std::function<void()> notify; // wakes the caller's loop
};

// the plugin that loads a dormant torrent when a peer's handshake names it
std::shared_ptr<lt::plugin> new_dormant_plugin(std::shared_ptr<dormant_table> table);
// the woken entry of that torrent, out of the table
bool take_woken(dormant_table &t, lt::info_hash_t const &ih, woken_entry *out);

// torrent.cpp: a torrent in the session

// what the shim keeps of a torrent in the session, under its id
struct torrent_entry {
	lt::torrent_handle h;
	lt::info_hash_t ih;
	bool no_root = false;
	int hash_failures = 0;
	std::int64_t real_size = -1;  // bytes without pad files, once known
	std::shared_ptr<const lt::torrent_info> ti; // once metadata is known
	std::shared_ptr<file_digests> digests; // files streamed, if asked for
	std::shared_ptr<tail_counts> tails; // once known
};

// LTS_STATE_* of libtorrent's state
int state_of(lt::torrent_status::state_t st);
// the files of a torrent mapped to save_path/<path without the torrent name>
void strip_root(lt::torrent_handle const &h, lt::file_storage const &fs);
// the flags every torrent is added with, whatever its resume data says
void add_flags(lt::add_torrent_params &atp, unsigned flags);

// metainfo.cpp: a torrent to inspect, of its metadata and its .torrent
// file's bytes (empty: no file yet)
lts_torrent *wrap_info(std::shared_ptr<const lt::torrent_info> ti,
		       std::vector<char> bytes);

} // namespace lts_internal

// session.cpp: the session; what the other files keep in it
struct lts_session {
	std::unique_ptr<lt::session> ses;
	std::mutex notify_mu;
	void (*notify_fn)(void *) = nullptr;
	void *notify_ud = nullptr;
	std::shared_ptr<lts_internal::dormant_table> dormant;
	std::shared_ptr<lts_internal::digest_table> digests;
	std::shared_ptr<lts_internal::tail_table> tails;
	// libtorrent turns every incoming connection away while it has no
	// torrent at all; once a torrent is dormant, this paused torrent of a
	// random info-hash (no metadata, no file, never announced) is there
	// so that a peer's handshake reaches the dormant table
	lt::torrent_handle anchor;

	int next_id = 1;
	std::map<int, lts_internal::torrent_entry> torrents;
	std::map<lt::torrent_handle, int> by_handle;
	std::map<lt::info_hash_t, int> by_hash;

	// storage for the last batch of popped alerts
	std::vector<lts_alert> alerts;
	std::deque<std::string> strings;
	std::deque<std::vector<char>> buffers;
};

// The body of every extern "C" function that may throw, between
// SHIM_TRY and SHIM_CATCH(value returned on an exception), with a struct
// lts_error *err in scope.
#define SHIM_TRY try {
#define SHIM_CATCH(ret)                                                       \
	}                                                                     \
	catch (std::bad_alloc const &)                                        \
	{                                                                     \
		lts_internal::set_err(err, LTS_ENOMEM, "out of memory");      \
		return ret;                                                   \
	}                                                                     \
	catch (lt::system_error const &e)                                     \
	{                                                                     \
		lts_internal::set_err(err, LTS_ELIBTORRENT, "%s",             \
				      e.code().message().c_str());            \
		return ret;                                                   \
	}                                                                     \
	catch (std::exception const &e)                                       \
	{                                                                     \
		lts_internal::set_err(err, LTS_EEXCEPTION, "%s", e.what());   \
		return ret;                                                   \
	}                                                                     \
	catch (...)                                                           \
	{                                                                     \
		lts_internal::set_err(err, LTS_EEXCEPTION, "unknown exception"); \
		return ret;                                                   \
	}

#endif
