// digests.cpp: SHA-256 of whole files, worked out from the pieces
// piece_disk_io writes, so that a caller holding a file's signed SHA-256
// need not read the file back (lts_add_params.digest_files,
// lts_torrent_file_sha256()).
//
// A file's bytes are fed in order. A piece that comes early waits for its
// turn in memory (its buffer is kept, up to stream_cap bytes across the
// session) or, past that, on disk, read back when its turn comes. Only a
// piece whose SHA-1 is the torrent's is offered (a v2-only torrent has no
// SHA-1 to check against: a bad piece fed there makes the digest wrong,
// and the caller, seeing it differ from the signed one, reads the file).
// A piece that reaches the disk another way (through the inner disk, or
// in an earlier run) leaves a gap: that file has no digest.

#include "shim.h"

#include <libtorrent/file_storage.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/torrent_info.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <new>

namespace lts_internal {

bool file_digests::by_v2(lt::file_storage const &fs, int piece,
			 lt::sha256_hash *want2, lt::sha1_hash *want1) const
{
	if (layers.empty() || piece < 0 || piece >= static_cast<int>(v1.size()))
		return false;
	lt::file_index_t fi = fs.file_index_at_piece(lt::piece_index_t(piece));
	std::size_t f = static_cast<std::size_t>(static_cast<int>(fi));
	if (f >= layers.size() || layers[f].empty())
		return false;
	std::int64_t first = fs.file_offset(fi) / fs.piece_length();
	std::size_t k = static_cast<std::size_t>(piece - first);
	if (piece < first || k >= layers[f].size())
		return false;
	*want2 = layers[f][k];
	*want1 = v1[static_cast<std::size_t>(piece)];
	return true;
}

// The root of a merkle tree of n leaves (a power of 2), pad past the
// hashes given: a piece's subtree from its block hashes, zeros past the
// end of its file (BEP 52); a file's root from its piece layer, each
// missing piece the root of a piece of zero leaves.
lt::sha256_hash piece_root(lt::span<lt::sha256_hash const> blocks, std::size_t n,
			   lt::sha256_hash const &pad)
{
	std::vector<lt::sha256_hash> level(blocks.begin(), blocks.end());
	level.resize(std::max<std::size_t>(n, 1), pad);
	while (level.size() > 1) {
		for (std::size_t i = 0; i < level.size() / 2; i++) {
			lt::hasher256 h;
			h.update(level[2 * i]);
			h.update(level[2 * i + 1]);
			level[i] = h.final();
		}
		level.resize(level.size() / 2);
	}
	return level[0];
}

void digest_table::put(lt::info_hash_t const &ih,
		       std::shared_ptr<file_digests> const &d)
{
	std::lock_guard<std::mutex> l(mu);
	each_key(ih, [&](lt::sha1_hash const &k) {
		if (d)
			unclaimed[k] = d;
		else
			unclaimed.erase(k);
	});
}

std::shared_ptr<file_digests> digest_table::take(lt::sha1_hash const &k)
{
	std::lock_guard<std::mutex> l(mu);
	auto it = unclaimed.find(k);
	if (it == unclaimed.end())
		return nullptr;
	auto d = it->second;
	for (auto i = unclaimed.begin(); i != unclaimed.end();)
		i = i->second == d ? unclaimed.erase(i) : std::next(i);
	return d;
}

void let_go(digest_table &t, file_stream::part &p)
{
	if (p.data)
		t.held -= p.len;
	p.data.reset();
}

// under f.mu
static void break_stream(digest_table &t, file_stream &f)
{
	f.broken = true;
	for (auto &kv : f.ready)
		let_go(t, kv.second);
	f.ready.clear();
}

// buf: the feeder's, made 1 MiB on first use
static bool read_feed(file_stream &f, std::string const &path, std::int64_t off, int len,
		      std::vector<char> &buf)
{
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	buf.resize(std::size_t(1) << 20);
	bool ok = true;
	while (ok && len > 0) {
		ssize_t n = pread(fd, buf.data(), std::min<std::size_t>(buf.size(),
			static_cast<std::size_t>(len)), off);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0 && f.update(buf.data(), static_cast<std::size_t>(n));
		if (ok) {
			off += n;
			len -= static_cast<int>(n);
		}
	}
	close(fd);
	return ok;
}

file_digests::~file_digests()
{
	for (auto &f : files)
		if (f)
			for (auto &kv : f->ready)
				let_go(*table, kv.second);
}

// (recent_mu held)
void file_digests::forget_recent(std::map<int, recent_piece>::iterator it)
{
	int p = it->first;
	recent_bytes -= it->second.len;
	recent.erase(it);
	recent_order.erase(std::find(recent_order.begin(), recent_order.end(), p));
}

void file_digests::keep_recent(int p, std::shared_ptr<const char> data, int len)
{
	if (len <= 0 || n_reading.load(std::memory_order_relaxed) <= 0)
		return;
	std::lock_guard<std::mutex> l(recent_mu);
	auto it = recent.find(p);
	if (it != recent.end())
		forget_recent(it);
	while (!recent_order.empty() && recent_bytes + len > recent_cap)
		forget_recent(recent.find(recent_order.front()));
	recent[p] = recent_piece{std::move(data), len};
	recent_order.push_back(p);
	recent_bytes += len;
}

void file_digests::drop_recent(int p)
{
	std::lock_guard<std::mutex> l(recent_mu);
	auto it = recent.find(p);
	if (it != recent.end())
		forget_recent(it);
}

void file_digests::drop_recent()
{
	std::lock_guard<std::mutex> l(recent_mu);
	recent.clear();
	recent_order.clear();
	recent_bytes = 0;
}

std::size_t file_digests::read_recent(int file, int p, int at, char *out, std::size_t n)
{
	if (file >= 0 && static_cast<std::size_t>(file) < n_readers && reader_at)
		reader_at[static_cast<std::size_t>(file)].store(p, std::memory_order_relaxed);
	std::lock_guard<std::mutex> l(recent_mu);
	auto it = recent.find(p);
	if (it == recent.end() || at < 0 || at >= it->second.len)
		return 0;
	n = std::min(n, static_cast<std::size_t>(it->second.len - at));
	std::memcpy(out, it->second.data.get() + at, n);
	// read to its end: its reader has no more use for it
	if (at + static_cast<int>(n) == it->second.len)
		forget_recent(it);
	return n;
}

// Feeds what is next in line; one worker at a time, the others leave
// their parts to it.
void feed(digest_table &t, file_stream &f)
{
	std::unique_lock<std::mutex> l(f.mu);
	if (f.busy)
		return;
	f.busy = true;
	std::vector<char> buf;
	while (!f.broken && !f.final) {
		auto it = f.ready.begin();
		if (it == f.ready.end() || it->first > f.done)
			break;
		std::int64_t off = it->first;
		file_stream::part p = std::move(it->second);
		f.ready.erase(it);
		if (off < f.done) {  // a piece had twice
			let_go(t, p);
			continue;
		}
		l.unlock();
		bool ok = p.data ? f.update(p.data.get(), static_cast<std::size_t>(p.len))
				 : read_feed(f, p.path, off, p.len, buf);
		let_go(t, p);
		l.lock();
		if (!ok) {
			break_stream(t, f);
			break;
		}
		f.done += p.len;
		if (f.done == f.size) {
			f.final = EVP_DigestFinal_ex(f.md, f.digest, nullptr) == 1 &&
				  (!f.git || EVP_DigestFinal_ex(f.git, f.git_digest, nullptr) == 1);
			if (!f.final)
				break_stream(t, f);
		}
	}
	f.busy = false;
}

// What lts_torrent_file_sha256() says of a file whose bytes are all in.
int digest_answer(digest_table &t, file_stream &f, unsigned char out[32],
		  unsigned char *git)
{
	std::lock_guard<std::mutex> l(f.mu);
	if (git && !f.git)
		return LTS_DIGEST_NONE;
	if (f.final) {
		std::memcpy(out, f.digest, sizeof(f.digest));
		if (git)
			std::memcpy(git, f.git_digest, sizeof(f.git_digest));
		return LTS_DIGEST_READY;
	}
	// a part next in line is being fed, or about to be
	if (!f.broken && (f.busy || (!f.ready.empty() && f.ready.begin()->first <= f.done)))
		return LTS_DIGEST_PENDING;
	// a gap that will not fill: what waits is let go
	break_stream(t, f);
	return LTS_DIGEST_NONE;
}

void want_git(file_stream &f)
{
	// git's blob id: SHA-1 of "blob <size>\0" and the bytes
	std::string head = "blob " + std::to_string(f.size);
	f.git = EVP_MD_CTX_new();
	if (!f.git || EVP_DigestInit_ex(f.git, EVP_sha1(), nullptr) != 1 ||
	    EVP_DigestUpdate(f.git, head.c_str(), head.size() + 1) != 1)
		throw std::bad_alloc();
}

// Streams for the files flagged in want (not pad files, not empty ones),
// and with v2_checks the piece layers of a hybrid torrent.
std::shared_ptr<file_digests> new_digests(lt::torrent_info const &ti,
					  const unsigned char *want, bool v2_checks,
					  std::shared_ptr<digest_table> const &t)
{
	auto d = std::make_shared<file_digests>();
	d->table = t;
	lt::file_storage const &fs = ti.files();
	if (ti.info_hashes().has_v1())
		for (lt::piece_index_t i : fs.piece_range())
			d->v1.push_back(ti.hash_for_piece(i));
	std::size_t nf = static_cast<std::size_t>(fs.num_files());
	if (v2_checks && ti.info_hashes().has_v1() && ti.info_hashes().has_v2()) {
		d->layers.resize(nf);
		std::int64_t plen = fs.piece_length();
		for (lt::file_index_t i : fs.file_range()) {
			std::size_t k = static_cast<std::size_t>(static_cast<int>(i));
			std::int64_t size = fs.file_size(i);
			lt::span<char const> pl = ti.piece_layer(i);
			std::size_t n = static_cast<std::size_t>((size + plen - 1) / plen);
			// a hybrid torrent's files begin on a piece
			if (fs.pad_file_at(i) || size <= plen || fs.file_offset(i) % plen ||
			    static_cast<std::size_t>(pl.size()) != n * 32)
				continue;
			for (std::size_t j = 0; j < n; j++)
				d->layers[k].emplace_back(pl.data() + j * 32);
		}
	}
	d->files.resize(nf);
	d->readers.reset(new std::atomic<int>[nf + 1]());
	d->reader_at.reset(new std::atomic<int>[nf + 1]);
	for (std::size_t i = 0; i <= nf; i++)
		d->reader_at[i] = -1;
	d->n_readers = nf;
	for (lt::file_index_t i : fs.file_range()) {
		std::size_t k = static_cast<std::size_t>(static_cast<int>(i));
		if (!want || !want[k] || fs.pad_file_at(i) || fs.file_size(i) <= 0)
			continue;
		auto f = std::make_unique<file_stream>();
		f->size = fs.file_size(i);
		f->md = EVP_MD_CTX_new();
		if (!f->md || EVP_DigestInit_ex(f->md, EVP_sha256(), nullptr) != 1)
			throw std::bad_alloc();
		if (want[k] == LTS_DIGEST_WANT_GIT)
			want_git(*f);
		d->files[k] = std::move(f);
	}
	return d;
}

} // namespace lts_internal
