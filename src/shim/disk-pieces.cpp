// disk-pieces.cpp: piece_disk_io, the session's disk: a download's pieces
// gathered in memory, hashed there and written whole, over ordered_disk_io
// (disk-order.cpp), which does the rest; and pieces fed to the file
// digests (digests.cpp) as they are written.

#include "shim.h"

#include <libtorrent/disk_buffer_holder.hpp>
#include <libtorrent/disk_interface.hpp>
#include <libtorrent/disk_observer.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/io_context.hpp>
#include <libtorrent/settings_pack.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "ms_util.h"
}

using namespace lts_internal;

namespace {

// Downloaded pieces gathered in memory, hashed there and written whole,
// when disk_io_write_mode is disable_os_cache (the engine's default).
//
// libtorrent 2.0 writes every 16 KiB block through the page cache as it
// arrives, from several disk threads into the same file, then reads the
// piece back to hash it. On a 2-core VM most of a download's CPU went to
// that: copying into the page cache, zeroing new pages, and threads
// spinning on the file's lock (perf on tools/bench/fetch.sh). Here a block
// is copied into its piece's buffer; when libtorrent asks for the piece's
// hash, a worker hashes the buffer (SHA-1, and the v2 block hashes) and
// writes the piece in one call, with O_DIRECT for its aligned part. The
// block writes and the hash are reported only once the piece is on disk,
// so resume data never names a block that is not there. Past `soft` bytes
// held, half of them in whole pieces, a write tells libtorrent to stop
// reading from that peer for a while (on a 2-core VM a peer on loopback
// sends faster than pieces are hashed and written). With a digest_table, the
// pieces of files asked for are fed to their SHA-256 (file_stream).
//
// The inner disk does the rest: reads (libtorrent reads verified pieces,
// and those are on disk), pieces that touch a file not to be downloaded
// (libtorrent keeps those in its part file), pieces begun while `cap`
// bytes are held, and every storage-wide call.
// Such a call (stop, check, move, rename, delete, priorities) goes to the
// inner disk once every piece of the storage it concerns has been written
// out; a piece written out part-way goes on through the inner
// disk. Every call is made, and every handler run, on libtorrent's network
// thread; workers see only their job's own data.
struct piece_disk_io final : lt::disk_interface {
	using write_handler = std::function<void(lt::storage_error const &)>;
	using hash_handler = std::function<void(lt::piece_index_t,
		lt::sha1_hash const &, lt::storage_error const &)>;
	using done_fn = std::function<void()>;

	static constexpr int block = lt::default_block_size;
	static constexpr std::int64_t align = 4096;
	// bytes held in piece buffers at most, and the largest piece held;
	// past `soft`, half of that in whole pieces, peers are asked to wait
	// (back-pressure) until it is down to `low` or the whole pieces to a
	// quarter of `soft` (a whole piece is hashed and written without
	// more data: a peer never waits on pieces that wait for it)
	static constexpr std::int64_t cap = std::int64_t(256) << 20;
	std::int64_t soft = std::int64_t(160) << 20;
	std::int64_t low = std::int64_t(128) << 20;
	static constexpr int max_piece = 64 << 20;

	struct piece_buf {
		char *mem = nullptr;        // allocated; data starts `shift` into it
		char *data = nullptr;
		int size = 0;               // the piece's, padding included
		int len = 0;                // held: through its last block of
					    // file bytes (the rest is padding,
					    // zeros never stored)
		int missing = 0;            // blocks not in yet
		std::vector<char> in;       // per block: in the buffer (or padding)
		std::vector<write_handler> acks; // reported once on disk
		std::vector<done_fn> after; // calls waiting for the job
		bool busy = false;          // a worker has it
		bool whole = false;         // every block in (counted in `whole`)
		~piece_buf() { std::free(mem); }
	};
	// bytes of a piece in one file, worked out for a worker
	struct seg {
		std::string path;       // save path and rel
		std::string base, rel;  // rel is the file's path under base
		std::int64_t off;       // in the file
		std::int64_t file_size;
		int at, len;            // in the piece
		lt::file_index_t file;
		bool read_soon;         // a reader waits for it: kept in memory
		bool cached;            // its reader is far behind: no O_DIRECT
	};
	struct storage {
		lt::storage_index_t idx{0};
		lt::file_storage files;     // with the renames made since
		std::string path;
		lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio;
		std::map<int, std::shared_ptr<piece_buf>> bufs;
		std::set<int> inner;        // on the inner disk until hashed or cleared
		int jobs = 0;               // worker jobs out
		int ops = 0;                // storage-wide calls out
		std::vector<done_fn> on_idle;   // when jobs is 0
		std::vector<done_fn> on_no_ops; // when ops is 0
		std::shared_ptr<file_digests> dg; // files streamed, if any
		bool removed = false;       // libtorrent let go of it
	};
	// shared with the workers and with completions not yet run
	struct core {
		piece_disk_io *self = nullptr;  // null once destroyed
		std::mutex mu;
		std::condition_variable cv;
		std::deque<done_fn> queue;
		bool stop = false;
	};
	struct result {
		lt::sha1_hash sha1;
		lt::storage_error err;
		std::vector<file_stream *> feed; // streams given a part
	};

	lt::io_context &ios;
	lt::settings_interface const &sett;
	std::unique_ptr<lt::disk_interface> inner;
	std::shared_ptr<digest_table> digests;
	std::shared_ptr<tail_table> tails; // told each storage (may be null)
	std::shared_ptr<core> c;
	std::vector<std::thread> workers;
	std::int64_t held = 0;
	std::int64_t whole = 0;     // of which in whole pieces
	std::vector<std::weak_ptr<lt::disk_observer>> waiting; // past soft
	std::map<std::uint32_t, std::shared_ptr<storage>> storages;
	std::map<std::uint32_t, lt::storage_holder> holders;

	piece_disk_io(lt::io_context &io, lt::settings_interface const &s,
		      std::unique_ptr<lt::disk_interface> in,
		      std::shared_ptr<digest_table> dt = nullptr)
		: ios(io), sett(s), inner(std::move(in)), digests(std::move(dt)),
		  c(std::make_shared<core>())
	{
		c->self = this;
		int n = std::max(1, sett.get_int(lt::settings_pack::aio_threads));
		for (int i = 0; i < n; i++)
			workers.emplace_back(work, c);
	}

	~piece_disk_io() override
	{
		stop_workers();
		c->self = nullptr;
		storages.clear();
		holders.clear();
	}

	static void work(std::shared_ptr<core> c)
	{
		for (;;) {
			done_fn job;
			{
				std::unique_lock<std::mutex> l(c->mu);
				c->cv.wait(l, [&] { return c->stop || !c->queue.empty(); });
				if (c->queue.empty())
					return;
				job = std::move(c->queue.front());
				c->queue.pop_front();
			}
			job();
		}
	}

	void stop_workers()
	{
		{
			std::lock_guard<std::mutex> l(c->mu);
			c->stop = true;
		}
		c->cv.notify_all();
		for (auto &t : workers)
			if (t.joinable())
				t.join();
	}

	// `job` on a worker, then `done` on the network thread (and `then`
	// on the worker, once `done` is posted)
	void submit(std::shared_ptr<storage> const &st, done_fn job, done_fn done,
		    done_fn then = nullptr)
	{
		st->jobs++;
		lt::io_context &io = ios;
		done_fn run = [&io, job = std::move(job), done = std::move(done),
			       then = std::move(then)]() mutable {
			job();
			boost::asio::post(io, std::move(done));
			if (then)
				then();
		};
		{
			std::lock_guard<std::mutex> l(c->mu);
			if (!c->stop) {
				c->queue.push_back(std::move(run));
				run = nullptr;
			}
		}
		if (run)  // after abort: no worker is left to take it
			run();
		else
			c->cv.notify_one();
	}

	// one less out: at none, what waited for that runs
	static void count_down(int &out, std::vector<done_fn> &waiting)
	{
		if (--out > 0)
			return;
		auto fns = std::move(waiting);
		for (auto &f : fns)
			f();
	}

	void job_done(storage &st)
	{
		count_down(st.jobs, st.on_idle);
	}

	void when_idle(storage &st, done_fn f)
	{
		if (st.jobs == 0)
			f();
		else
			st.on_idle.push_back(std::move(f));
	}

	void op_done(storage &st)
	{
		count_down(st.ops, st.on_no_ops);
	}

	std::shared_ptr<storage> find(lt::storage_index_t s)
	{
		auto it = storages.find(static_cast<std::uint32_t>(s));
		return it == storages.end() ? nullptr : it->second;
	}

	static lt::download_priority_t prio_of(storage const &st, lt::file_index_t f)
	{
		return f < st.prio.end_index() ? st.prio[f] : lt::default_priority;
	}

	// A buffer for a piece, or null when it goes to the inner disk.
	std::shared_ptr<piece_buf> make_buf(storage &st, int piece)
	{
		// (while a storage-wide call is out, its hash waits: segments()
		// then sees the names and priorities that call leaves)
		if (sett.get_int(lt::settings_pack::disk_io_write_mode) !=
		    lt::settings_pack::disable_os_cache)
			return nullptr;
		lt::piece_index_t p(piece);
		int size = st.files.piece_size(p);
		if (size <= 0 || size > max_piece || held + size > cap)
			return nullptr;
		int nblocks = (size + block - 1) / block;
		std::vector<char> data_block(static_cast<std::size_t>(nblocks), 0);
		int at = 0, longest = 0, end = 0;
		std::int64_t shift = 0;
		for (auto const &s : st.files.map_block(p, 0, size)) {
			int len = static_cast<int>(s.size);
			if (!st.files.pad_file_at(s.file_index)) {
				if (prio_of(st, s.file_index) == lt::dont_download)
					return nullptr;
				for (int i = at / block; len > 0 && i <= (at + len - 1) / block; i++)
					data_block[static_cast<std::size_t>(i)] = 1;
				if (len > 0)
					end = at + len;
				// the longest run lies in memory as it lies in its file,
				// so that O_DIRECT can take it (a v1 piece starts
				// anywhere in a file; its shorter runs go buffered)
				if (len > longest) {
					longest = len;
					shift = ((s.offset - at) % align + align) % align;
				}
			}
			at += len;
		}
		// a small file's piece is mostly padding: only its file's
		// blocks are held (16 KiB, not the whole piece, per file)
		int len = std::min(size, (end + block - 1) / block * block);
		if (len <= 0)
			return nullptr;
		auto b = std::make_shared<piece_buf>();
		std::size_t alloc = static_cast<std::size_t>((shift + len + align - 1) / align * align);
		b->mem = static_cast<char *>(std::aligned_alloc(align, alloc));
		if (!b->mem)
			return nullptr;
		b->data = b->mem + shift;
		b->size = size;
		b->len = len;
		b->in.assign(static_cast<std::size_t>(nblocks), 0);
		b->missing = nblocks;
		// padding is never written: libtorrent counts it done
		for (int i = 0; i < nblocks; i++) {
			if (data_block[static_cast<std::size_t>(i)])
				continue;
			b->in[static_cast<std::size_t>(i)] = 1;
			b->missing--;
			if (i * block < len)
				std::memset(b->data + i * block, 0,
					    static_cast<std::size_t>(std::min(block, len - i * block)));
		}
		held += len;
		return b;
	}

	std::vector<seg> segments(storage const &st, int piece, int at, int len) const
	{
		std::vector<seg> out;
		for (auto const &s : st.files.map_block(lt::piece_index_t(piece), at, len)) {
			int n = static_cast<int>(s.size);
			bool soon = st.dg && st.dg->read_soon(s.file_index);
			if (!st.files.pad_file_at(s.file_index))
				out.push_back(seg{st.files.file_path(s.file_index, st.path),
						  st.path, st.files.file_path(s.file_index),
						  s.offset, st.files.file_size(s.file_index),
						  at, n, s.file_index, soon, soon &&
						  st.dg->behind(s.file_index, piece,
								st.files.piece_length())});
			at += n;
		}
		return out;
	}

	// The file of s opened under its save path without following a
	// symlink on the way or at the file (ELOOP), its directories made if
	// missing: a symlink planted in the save path cannot send the bytes
	// elsewhere. (A path given absolute is opened as it is, but for its
	// last component.)
	static int open_seg(seg const &s, int flags)
	{
		if (s.rel.empty() || s.rel[0] == '/')
			return open(s.path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0666);
		int at = open(s.base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (at < 0 && errno == ENOENT) {
			// the save path itself, as the caller named it
			std::string b = s.base + "/";
			for (std::size_t i = b.find('/', 1); i != std::string::npos;
			     i = b.find('/', i + 1))
				mkdir(b.substr(0, i).c_str(), 0777);
			at = open(s.base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		}
		if (at < 0)
			return -1;
		int fd = ms_open_beneath(at, s.rel.c_str(), flags, 0666, 1, nullptr);
		int e = errno;
		close(at);
		errno = e;
		return fd;
	}

	static int write_all(int fd, char const *p, std::int64_t n, std::int64_t off)
	{
		while (n > 0) {
			ssize_t w = pwrite(fd, p, static_cast<std::size_t>(n), off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return w < 0 ? errno : EIO;
			p += w;
			n -= w;
			off += w;
		}
		return 0;
	}

	// One run of bytes into its file: the aligned middle with O_DIRECT
	// where the file system takes it, the rest through the page cache.
	// A file someone reads as it comes (the daemon's endpoint) too: its
	// reader finds the verified pieces in memory (file_digests::recent).
	// Written through the page cache for that reader, a 3 GiB pull spent
	// a quarter of the daemon's CPU copying into the page cache
	// (tools/bench/endpoint.sh, perf). Only a piece whose reader is too
	// far behind to find it in memory goes through the page cache, where
	// the reader finds it later.
	static int write_seg(char const *data, seg const &s, lt::storage_error *err)
	{
		int fd = open_seg(s, O_WRONLY | O_CREAT);
		if (fd < 0) {
			err->ec.assign(errno, lt::generic_category());
			err->file(s.file);
			err->operation = lt::operation_t::file_open;
			return -1;
		}
		int e = 0;
		struct stat sb;
		// full size at once, sparse, as the inner disk makes a file it writes
		if (fstat(fd, &sb) == 0 && sb.st_size < s.file_size &&
		    ftruncate(fd, s.file_size) < 0)
			e = errno;
		char const *p = data + s.at;
		std::int64_t off = s.off, n = s.len;
		std::int64_t head = (align - off % align) % align;
		// the aligned middle with O_DIRECT when it lies aligned in memory
		// too (make_buf lines up a piece's longest run with its file)
		int dfd = -1;
		if (!e && !s.cached && n - head >= align &&
		    reinterpret_cast<std::uintptr_t>(p + head) % align == 0)
			dfd = open_seg(s, O_WRONLY | O_DIRECT);
		if (dfd >= 0) {
			std::int64_t mid = (n - head) / align * align;
			e = head ? write_all(fd, p, head, off) : 0;
			if (!e) {
				e = write_all(dfd, p + head, mid, off + head);
				if (e == EINVAL)  // the file system refuses it after all
					e = write_all(fd, p + head, mid, off + head);
			}
			close(dfd);
			p += head + mid;
			off += head + mid;
			n -= head + mid;
		}
		if (!e && n > 0)
			e = write_all(fd, p, n, off);
		if (close(fd) < 0 && !e)
			e = errno;
		if (e) {
			err->ec.assign(e, lt::generic_category());
			err->file(s.file);
			err->operation = lt::operation_t::file_write;
			return -1;
		}
		return 0;
	}

	static void write_segs(char const *data, std::vector<seg> const &segs,
			       lt::storage_error *err)
	{
		for (auto const &s : segs)
			if (write_seg(data, s, err) < 0)
				return;
	}

	// A buffer no longer held: at `low`, or with few whole pieces left,
	// the peers asked to wait go on.
	void unhold(piece_buf const &b)
	{
		held -= b.len;
		if (b.whole)
			whole -= b.len;
		if ((held > low && whole > soft / 4) || waiting.empty())
			return;
		auto w = std::move(waiting);
		waiting.clear();
		boost::asio::post(ios, [w] {
			for (auto const &o : w)
				if (auto p = o.lock())
					p->on_disk();
		});
	}

	// The buffer is done with: its writes reported, then the waiting calls.
	void drop_buf(storage &st, int piece, std::shared_ptr<piece_buf> const &b,
		      lt::storage_error const &e)
	{
		auto it = st.bufs.find(piece);
		if (it != st.bufs.end() && it->second == b)
			st.bufs.erase(it);
		unhold(*b);
		auto acks = std::move(b->acks);
		for (auto &a : acks)
			a(e);
		auto after = std::move(b->after);
		for (auto &f : after)
			f();
	}

	// Writes out the blocks a piece has; from then on the piece is the
	// inner disk's. `then` gets the write's result.
	void flush(std::shared_ptr<storage> const &st, int piece,
		   std::function<void(lt::storage_error const &)> then)
	{
		auto b = st->bufs.at(piece);
		b->busy = true;
		std::vector<seg> segs;
		int n = static_cast<int>(b->in.size());
		for (int i = 0; i < n;) {
			if (!b->in[static_cast<std::size_t>(i)]) {
				i++;
				continue;
			}
			int j = i;
			while (j < n && b->in[static_cast<std::size_t>(j)])
				j++;
			int at = i * block, len = std::min(j * block, b->size) - at;
			for (auto &s : segments(*st, piece, at, len))
				segs.push_back(std::move(s));
			i = j;
		}
		auto res = std::make_shared<result>();
		auto cc = c;
		submit(st, [b, segs = std::move(segs), res] {
			write_segs(b->data, segs, &res->err);
		}, [cc, st, piece, b, res, then = std::move(then)] {
			if (!cc->self)
				return;
			st->inner.insert(piece);
			cc->self->drop_buf(*st, piece, b, res->err);
			if (then)
				then(res->err);
			cc->self->job_done(*st);
		});
	}

	// A storage-wide call: the pieces `touch` picks are written out
	// first, and until the call is done pieces held here wait to be
	// hashed (and written). `call` is given the function to call when
	// its handler has run.
	void drain(std::shared_ptr<storage> const &st, std::function<bool(int)> touch,
		   std::function<void(done_fn)> call)
	{
		st->ops++;
		std::vector<int> out;
		for (auto const &kv : st->bufs)
			if (!kv.second->busy && touch(kv.first))
				out.push_back(kv.first);
		for (int p : out)
			flush(st, p, nullptr);
		auto cc = c;
		when_idle(*st, [cc, st, call = std::move(call)] {
			call([cc, st] {
				if (cc->self)
					cc->self->op_done(*st);
			});
		});
	}

	static bool all(int) { return true; }

	// what a call held back for a storage removed meanwhile gets, as
	// libtorrent's own disk answers the jobs of a storage it stopped
	static lt::storage_error aborted()
	{
		lt::storage_error e;
		e.ec = boost::asio::error::operation_aborted;
		return e;
	}

	lt::storage_holder new_torrent(lt::storage_params const &p,
				       std::shared_ptr<void> const &t) override
	{
		lt::storage_holder h = inner->new_torrent(p, t);
		auto st = std::make_shared<storage>();
		st->idx = h;
		st->files = p.mapped_files ? *p.mapped_files : p.files;
		st->path = p.path;
		st->prio = p.priorities;
		if (digests)
			st->dg = digests->take(p.info_hash);
		if (tails)
			tails->storages[p.info_hash] = st->idx;
		std::uint32_t key = static_cast<std::uint32_t>(st->idx);
		storages[key] = st;
		holders[key] = std::move(h);
		return lt::storage_holder(st->idx, *this);
	}

	void remove_torrent(lt::storage_index_t idx) override
	{
		// a buffer a worker has is let go when its job is done; a call
		// still held back is answered aborted, as the inner disk has
		// no such storage any more (a stop's handler removes it before
		// the hashes that waited for the stop run)
		auto st = find(idx);
		if (st) {
			st->removed = true;
			for (auto const &kv : st->bufs)
				if (!kv.second->busy)
					unhold(*kv.second);
		}
		storages.erase(static_cast<std::uint32_t>(idx));
		holders.erase(static_cast<std::uint32_t>(idx));
		if (tails)
			for (auto i = tails->storages.begin(); i != tails->storages.end();)
				i = i->second == idx ? tails->storages.erase(i) : std::next(i);
	}

	void async_read(lt::storage_index_t s, lt::peer_request const &r,
			std::function<void(lt::disk_buffer_holder,
					   lt::storage_error const &)> h,
			lt::disk_job_flags_t f) override
	{
		auto st = find(s);
		std::shared_ptr<piece_buf> b;
		if (st && st->bufs.count(static_cast<int>(r.piece)))
			b = st->bufs.at(static_cast<int>(r.piece));
		if (!b) {
			inner->async_read(s, r, std::move(h), f);
			return;
		}
		// not done by libtorrent, which reads only pieces it has
		auto go = [this, st, s, r, h = std::move(h), f]() mutable {
			if (st->removed)
				h(lt::disk_buffer_holder(), aborted());
			else
				inner->async_read(s, r, std::move(h), f);
		};
		if (b->busy)
			b->after.push_back(std::move(go));
		else
			flush(st, static_cast<int>(r.piece),
			      [go](lt::storage_error const &) mutable { go(); });
	}

	bool async_write(lt::storage_index_t s, lt::peer_request const &r,
			 char const *buf, std::shared_ptr<lt::disk_observer> o,
			 std::function<void(lt::storage_error const &)> h,
			 lt::disk_job_flags_t f) override
	{
		auto st = find(s);
		if (!st)
			return inner->async_write(s, r, buf, std::move(o), std::move(h), f);
		int piece = static_cast<int>(r.piece);
		auto it = st->bufs.find(piece);
		if (it == st->bufs.end() && !st->inner.count(piece)) {
			auto b = make_buf(*st, piece);
			if (b)
				it = st->bufs.emplace(piece, std::move(b)).first;
		}
		// libtorrent writes no block to a piece it is hashing (busy)
		if (it == st->bufs.end() || it->second->busy || r.start < 0 ||
		    r.length <= 0 || r.start % block ||
		    r.start + r.length > it->second->len) {
			if (it == st->bufs.end())
				st->inner.insert(piece);
			return inner->async_write(s, r, buf, std::move(o), std::move(h), f);
		}
		piece_buf &b = *it->second;
		std::memcpy(b.data + r.start, buf, static_cast<std::size_t>(r.length));
		std::size_t i = static_cast<std::size_t>(r.start / block);
		if (!b.in[i]) {
			b.in[i] = 1;
			if (--b.missing == 0) {
				b.whole = true;
				whole += b.len;
			}
		}
		b.acks.push_back(std::move(h));
		if (held <= soft || whole < soft / 2 || !o)
			return false;
		waiting.push_back(o);
		return true;
	}

	// libtorrent's handler owns the memory v2 points to: it is shared,
	// never copied
	using hash_ptr = std::shared_ptr<hash_handler>;

	void inner_hash(std::shared_ptr<storage> const &st, lt::storage_index_t s,
			lt::piece_index_t p, lt::span<lt::sha256_hash> v2,
			lt::disk_job_flags_t f, hash_ptr h)
	{
		if (st->removed) {
			(*h)(p, lt::sha1_hash(), aborted());
			return;
		}
		inner->async_hash(s, p, v2, f,
			[st, h](lt::piece_index_t p, lt::sha1_hash const &sha1,
				lt::storage_error const &e) {
				st->inner.erase(static_cast<int>(p));
				(*h)(p, sha1, e);
			});
	}

	void async_hash(lt::storage_index_t s, lt::piece_index_t p,
			lt::span<lt::sha256_hash> v2, lt::disk_job_flags_t f,
			hash_handler h) override
	{
		if (!find(s)) {
			inner->async_hash(s, p, v2, f, std::move(h));
			return;
		}
		hash(s, p, v2, f, std::make_shared<hash_handler>(std::move(h)));
	}

	void hash(lt::storage_index_t s, lt::piece_index_t p,
		  lt::span<lt::sha256_hash> v2, lt::disk_job_flags_t f, hash_ptr h)
	{
		auto st = find(s);
		if (!st) {
			// removed while the call was held back (async_hash()
			// sends the calls of storages not ours to the inner disk)
			(*h)(p, lt::sha1_hash(), aborted());
			return;
		}
		int piece = static_cast<int>(p);
		auto it = st->bufs.find(piece);
		if (it == st->bufs.end()) {
			inner_hash(st, s, p, v2, f, std::move(h));
			return;
		}
		auto b = it->second;
		auto again = [this, st, s, p, v2, f, h]() {
			if (st->removed)  // (its index may be another's by now)
				(*h)(p, lt::sha1_hash(), aborted());
			else
				hash(s, p, v2, f, h);
		};
		if (b->busy) {
			b->after.push_back(std::move(again));
			return;
		}
		if (st->ops > 0) {
			st->on_no_ops.push_back(std::move(again));
			return;
		}
		if (b->missing > 0) {
			// blocks from an earlier run are on disk: all of it there
			flush(st, piece, [this, st, s, p, v2, f, h](lt::storage_error const &e) {
				if (e)
					(*h)(p, lt::sha1_hash(), e);
				else
					inner_hash(st, s, p, v2, f, h);
			});
			return;
		}
		b->busy = true;
		bool v1 = bool(f & lt::disk_interface::v1_hash);
		int size2 = v2.empty() ? 0 : st->files.piece_size2(p);
		auto segs = segments(*st, piece, 0, b->size);
		auto res = std::make_shared<result>();
		auto cc = c;
		auto dg = st->dg;
		lt::sha256_hash want2;
		lt::sha1_hash want1;
		bool by_v2 = v1 && !v2.empty() && dg && dg->by_v2(st->files, piece, &want2, &want1);
		std::size_t leaves = static_cast<std::size_t>(st->files.piece_length() / block);
		submit(st, [b, segs = std::move(segs), res, v1, v2, size2, dg, piece,
			    by_v2, want2, want1, leaves] {
			if (v1 && !by_v2)
				res->sha1 = sha1_padded(b->data, b->len, b->size);
			for (std::ptrdiff_t i = 0; i < v2.size(); i++) {
				int at = static_cast<int>(i) * block;
				int len = std::min(block, size2 - at);
				v2[i] = len > 0 ? lt::hasher256(b->data + at, len).final()
						: lt::sha256_hash();
			}
			// the v2 check stands for the v1 one: both pass or both fail
			if (by_v2 && piece_root(v2, leaves) == want2)
				res->sha1 = want1;
			write_segs(b->data, segs, &res->err);
			// before the hash is reported: a caller told the piece is
			// in finds it in its streams, and a reader in memory
			if (dg && !res->err) {
				offer(*dg, piece, v1 ? &res->sha1 : nullptr, b, segs, res->feed);
				if (v1 && is_torrents(*dg, piece, res->sha1) &&
				    std::any_of(segs.begin(), segs.end(),
						[](seg const &x) { return x.read_soon && !x.cached; }))
					dg->keep_recent(piece, std::shared_ptr<const char>(b, b->data),
							b->len);
			}
		}, [cc, st, piece, b, res, h] {
			if (!cc->self)
				return;
			cc->self->drop_buf(*st, piece, b, res->err);
			(*h)(lt::piece_index_t(piece), res->sha1, res->err);
			cc->self->job_done(*st);
		}, [dg, res] {
			for (file_stream *f : res->feed)
				feed(*dg->table, *f);
		});
	}

	// SHA-1 of len bytes at data followed by zeros up to size
	static lt::sha1_hash sha1_padded(char const *data, int len, int size)
	{
		static char const zeros[block] = {};
		lt::hasher h(data, len);
		for (int at = len; at < size; at += block)
			h.update(zeros, std::min(block, size - at));
		return h.final();
	}

	// A piece on disk: its parts queued on the streams of the files it
	// touches, if its SHA-1 is the torrent's. The streams given a part
	// go to `out`, to be fed.
	static bool is_torrents(file_digests const &d, int piece, lt::sha1_hash const &sha1)
	{
		return piece >= 0 && piece < static_cast<int>(d.v1.size()) &&
		       sha1 == d.v1[static_cast<std::size_t>(piece)];
	}

	static void offer(file_digests &d, int piece, lt::sha1_hash const *sha1,
			  std::shared_ptr<piece_buf> const &b, std::vector<seg> const &segs,
			  std::vector<file_stream *> &out)
	{
		if (!d.v1.empty() && (!sha1 || !is_torrents(d, piece, *sha1)))
			return;
		digest_table &t = *d.table;
		for (auto const &s : segs) {
			std::size_t fi = static_cast<std::size_t>(static_cast<int>(s.file));
			if (fi >= d.files.size() || !d.files[fi])
				continue;
			file_stream &f = *d.files[fi];
			std::lock_guard<std::mutex> l(f.mu);
			if (f.broken || f.final || s.off < f.done)
				continue;
			file_stream::part p;
			p.len = s.len;
			p.path = s.path;
			if (t.held + s.len <= t.stream_cap) {
				t.held += s.len;
				p.data = std::shared_ptr<const char>(b, b->data + s.at);
			}
			auto it = f.ready.find(s.off);
			if (it != f.ready.end())
				let_go(t, it->second);
			f.ready[s.off] = std::move(p);
			out.push_back(&f);
		}
	}

	void async_hash2(lt::storage_index_t s, lt::piece_index_t p, int off,
			 lt::disk_job_flags_t f,
			 std::function<void(lt::piece_index_t, lt::sha256_hash const &,
					    lt::storage_error const &)> h) override
	{
		auto st = find(s);
		std::shared_ptr<piece_buf> b;
		if (st && st->bufs.count(static_cast<int>(p)))
			b = st->bufs.at(static_cast<int>(p));
		if (!b) {
			inner->async_hash2(s, p, off, f, std::move(h));
			return;
		}
		auto go = [this, st, s, p, off, f, h]() {
			if (st->removed)
				h(p, lt::sha256_hash(), aborted());
			else
				inner->async_hash2(s, p, off, f, h);
		};
		if (b->busy)
			b->after.push_back(std::move(go));
		else
			flush(st, static_cast<int>(p), [go](lt::storage_error const &) { go(); });
	}

	void async_clear_piece(lt::storage_index_t s, lt::piece_index_t p,
			       std::function<void(lt::piece_index_t)> h) override
	{
		auto st = find(s);
		if (st) {
			int piece = static_cast<int>(p);
			st->inner.erase(piece);
			if (st->dg)
				st->dg->drop_recent(piece);
			auto it = st->bufs.find(piece);
			if (it != st->bufs.end()) {
				auto b = it->second;
				if (b->busy) {
					b->after.push_back([this, st, s, p, h] {
						if (st->removed)
							h(p);
						else
							async_clear_piece(s, p, h);
					});
					return;
				}
				// its writes are reported first, as ordered_disk_io does
				auto acks = std::move(b->acks);
				for (auto &a : acks)
					boost::asio::post(ios, [a] { a(lt::storage_error()); });
				st->bufs.erase(it);
				unhold(*b);
			}
		}
		inner->async_clear_piece(s, p, std::move(h));
	}

	void async_move_storage(lt::storage_index_t s, std::string path,
				lt::move_flags_t f,
				std::function<void(lt::status_t, std::string const &,
						   lt::storage_error const &)> h) override
	{
		auto st = find(s);
		if (!st) {
			inner->async_move_storage(s, std::move(path), f, std::move(h));
			return;
		}
		drain(st, all, [this, st, s, path, f, h](done_fn fin) {
			inner->async_move_storage(s, path, f,
				[st, h, fin](lt::status_t ret, std::string const &p,
					     lt::storage_error const &e) {
					if (!e)
						st->path = p;
					h(ret, p, e);
					fin();
				});
		});
	}

	// Only closes the inner disk's files: a block reported written is on
	// disk already, and one that is not yet was never reported. (A save
	// of resume data with flush_disk_cache comes here; pieces held here
	// stay where they are.)
	void async_release_files(lt::storage_index_t s, done_fn h) override
	{
		inner->async_release_files(s, std::move(h));
	}

	void async_check_files(lt::storage_index_t s,
			       lt::add_torrent_params const *rd,
			       lt::aux::vector<std::string, lt::file_index_t> links,
			       std::function<void(lt::status_t,
						  lt::storage_error const &)> h) override
	{
		auto st = find(s);
		if (!st) {
			inner->async_check_files(s, rd, std::move(links), std::move(h));
			return;
		}
		auto l = std::make_shared<lt::aux::vector<std::string, lt::file_index_t>>(
			std::move(links));
		drain(st, all, [this, s, rd, l, h](done_fn fin) {
			inner->async_check_files(s, rd, std::move(*l),
				[h, fin](lt::status_t ret, lt::storage_error const &e) {
					h(ret, e);
					fin();
				});
		});
	}

	void async_stop_torrent(lt::storage_index_t s, done_fn h) override
	{
		auto st = find(s);
		if (!st) {
			inner->async_stop_torrent(s, std::move(h));
			return;
		}
		drain(st, all, [this, s, h](done_fn fin) {
			inner->async_stop_torrent(s, [h, fin] {
				if (h)
					h();
				fin();
			});
		});
	}

	void async_rename_file(lt::storage_index_t s, lt::file_index_t i,
			       std::string name,
			       std::function<void(std::string const &, lt::file_index_t,
						  lt::storage_error const &)> h) override
	{
		auto st = find(s);
		if (!st) {
			inner->async_rename_file(s, i, std::move(name), std::move(h));
			return;
		}
		// only pieces of that file need be out of the way
		int first = 0, last = -1;
		if (i >= lt::file_index_t(0) && i < st->files.end_file() &&
		    st->files.file_size(i) > 0) {
			first = static_cast<int>(st->files.map_file(i, 0, 1).piece);
			last = static_cast<int>(st->files.map_file(i,
				st->files.file_size(i) - 1, 1).piece);
		}
		drain(st, [first, last](int p) { return p >= first && p <= last; },
		      [this, st, s, i, name, h](done_fn fin) {
			inner->async_rename_file(s, i, name,
				[st, h, fin](std::string const &n, lt::file_index_t f,
					     lt::storage_error const &e) {
					if (!e)
						st->files.rename_file(f, n);
					h(n, f, e);
					fin();
				});
		});
	}

	void async_delete_files(lt::storage_index_t s, lt::remove_flags_t o,
				std::function<void(lt::storage_error const &)> h) override
	{
		auto st = find(s);
		if (!st) {
			inner->async_delete_files(s, o, std::move(h));
			return;
		}
		drain(st, all, [this, s, o, h](done_fn fin) {
			inner->async_delete_files(s, o, [h, fin](lt::storage_error const &e) {
				h(e);
				fin();
			});
		});
	}

	void async_set_file_priority(lt::storage_index_t s,
		lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio,
		std::function<void(lt::storage_error const &,
			lt::aux::vector<lt::download_priority_t, lt::file_index_t>)> h) override
	{
		auto st = find(s);
		if (!st) {
			inner->async_set_file_priority(s, std::move(prio), std::move(h));
			return;
		}
		// pieces touching a file whose priority changes go out first
		std::set<int> touched;
		for (lt::file_index_t i : st->files.file_range()) {
			lt::download_priority_t was = prio_of(*st, i);
			lt::download_priority_t now = i < prio.end_index() ? prio[i] : lt::default_priority;
			if ((was == lt::dont_download) == (now == lt::dont_download) ||
			    st->files.file_size(i) == 0)
				continue;
			int a = static_cast<int>(st->files.map_file(i, 0, 1).piece);
			int z = static_cast<int>(st->files.map_file(i,
				st->files.file_size(i) - 1, 1).piece);
			for (auto const &kv : st->bufs)
				if (kv.first >= a && kv.first <= z)
					touched.insert(kv.first);
		}
		st->prio = prio;
		auto pr = std::make_shared<lt::aux::vector<lt::download_priority_t,
			lt::file_index_t>>(std::move(prio));
		drain(st, [touched](int p) { return touched.count(p) > 0; },
		      [this, st, s, pr, h](done_fn fin) {
			inner->async_set_file_priority(s, std::move(*pr),
				[st, h, fin](lt::storage_error const &e,
				    lt::aux::vector<lt::download_priority_t, lt::file_index_t> p) {
					st->prio = p;
					h(e, std::move(p));
					fin();
				});
		});
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
		if (wait)
			stop_workers();
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
new_piece_disk_io(lt::io_context &ios, lt::settings_interface const &sett,
		  std::unique_ptr<lt::disk_interface> inner,
		  std::shared_ptr<digest_table> digests)
{
	return std::unique_ptr<lt::disk_interface>(
		new piece_disk_io(ios, sett, std::move(inner), std::move(digests)));
}

void set_piece_disk_tails(lt::disk_interface &disk, std::shared_ptr<tail_table> t)
{
	auto &io = static_cast<piece_disk_io &>(disk);
	t->disk = &disk;
	io.tails = std::move(t);
}

void set_piece_disk_pressure(lt::disk_interface &disk, std::int64_t soft,
			     std::int64_t low)
{
	auto &io = static_cast<piece_disk_io &>(disk);
	io.soft = soft;
	io.low = low;
}

} // namespace lts_internal
