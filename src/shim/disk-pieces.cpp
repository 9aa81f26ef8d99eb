// lt_shim.cpp: the C API over libtorrent-rasterbar (see include/lt_shim.h).
//
// The only C++ file in modelswarm. Every extern "C" function body is wrapped
// in SHIM_TRY/SHIM_CATCH so no exception crosses into C.

#include "shim.h"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/hex.hpp>
#include <libtorrent/load_torrent.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/mmap_disk_io.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/read_resume_data.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>
#include <libtorrent/version.hpp>
#include <libtorrent/write_resume_data.hpp>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <boost/asio/post.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace lts_internal;

struct torrent_entry {
	lt::torrent_handle h;
	lt::info_hash_t ih;
	bool no_root = false;
	int hash_failures = 0;
	std::int64_t real_size = -1;  // bytes without pad files, once known
	std::shared_ptr<const lt::torrent_info> ti; // once metadata is known
	std::shared_ptr<file_digests> digests; // files streamed, if asked for
};

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

struct lts_session {
	std::unique_ptr<lt::session> ses;
	std::mutex notify_mu;
	void (*notify_fn)(void *) = nullptr;
	void *notify_ud = nullptr;
	std::shared_ptr<dormant_table> dormant;
	std::shared_ptr<digest_table> digests;
	// libtorrent turns every incoming connection away while it has no
	// torrent at all; once a torrent is dormant, this paused torrent of a
	// random info-hash (no metadata, no file, never announced) is there
	// so that a peer's handshake reaches the dormant table
	lt::torrent_handle anchor;

	int next_id = 1;
	std::map<int, torrent_entry> torrents;
	std::map<lt::torrent_handle, int> by_handle;
	std::map<lt::info_hash_t, int> by_hash;

	// storage for the last batch of popped alerts
	std::vector<lts_alert> alerts;
	std::deque<std::string> strings;
	std::deque<std::vector<char>> buffers;
};

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

torrent_entry *find(lts_session *s, int id, struct lts_error *err)
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

std::string endpoint_str(lt::tcp::endpoint const &ep)
{
	lt::error_code ec;
	return ep.address().to_string();
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

void strip_root_ti(lt::torrent_info &ti)
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
		int size = 0;
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
		std::string path;
		std::int64_t off;       // in the file
		std::int64_t file_size;
		int at, len;            // in the piece
		lt::file_index_t file;
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
		int at = 0, longest = 0;
		std::int64_t shift = 0;
		for (auto const &s : st.files.map_block(p, 0, size)) {
			int len = static_cast<int>(s.size);
			if (!st.files.pad_file_at(s.file_index)) {
				if (prio_of(st, s.file_index) == lt::dont_download)
					return nullptr;
				for (int i = at / block; len > 0 && i <= (at + len - 1) / block; i++)
					data_block[static_cast<std::size_t>(i)] = 1;
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
		auto b = std::make_shared<piece_buf>();
		std::size_t alloc = static_cast<std::size_t>((shift + size + align - 1) / align * align);
		b->mem = static_cast<char *>(std::aligned_alloc(align, alloc));
		if (!b->mem)
			return nullptr;
		b->data = b->mem + shift;
		b->size = size;
		b->in.assign(static_cast<std::size_t>(nblocks), 0);
		b->missing = nblocks;
		// padding is never written: libtorrent counts it done
		for (int i = 0; i < nblocks; i++) {
			if (data_block[static_cast<std::size_t>(i)])
				continue;
			b->in[static_cast<std::size_t>(i)] = 1;
			b->missing--;
			std::memset(b->data + i * block, 0,
				    static_cast<std::size_t>(std::min(block, size - i * block)));
		}
		held += size;
		return b;
	}

	std::vector<seg> segments(storage const &st, int piece, int at, int len) const
	{
		std::vector<seg> out;
		for (auto const &s : st.files.map_block(lt::piece_index_t(piece), at, len)) {
			int n = static_cast<int>(s.size);
			if (!st.files.pad_file_at(s.file_index))
				out.push_back(seg{st.files.file_path(s.file_index, st.path),
						  s.offset, st.files.file_size(s.file_index),
						  at, n, s.file_index});
			at += n;
		}
		return out;
	}

	static void make_parents(std::string const &path)
	{
		for (std::size_t i = path.find('/', 1); i != std::string::npos;
		     i = path.find('/', i + 1))
			mkdir(path.substr(0, i).c_str(), 0777);
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
	static int write_seg(char const *data, seg const &s, lt::storage_error *err)
	{
		int fd = open(s.path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd < 0 && errno == ENOENT) {
			make_parents(s.path);
			fd = open(s.path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		}
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
		if (!e && n - head >= align &&
		    reinterpret_cast<std::uintptr_t>(p + head) % align == 0)
			dfd = open(s.path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
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
		held -= b.size;
		if (b.whole)
			whole -= b.size;
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
		std::uint32_t key = static_cast<std::uint32_t>(st->idx);
		storages[key] = st;
		holders[key] = std::move(h);
		return lt::storage_holder(st->idx, *this);
	}

	void remove_torrent(lt::storage_index_t idx) override
	{
		// a buffer a worker has is let go when its job is done
		auto st = find(idx);
		if (st)
			for (auto const &kv : st->bufs)
				if (!kv.second->busy)
					unhold(*kv.second);
		storages.erase(static_cast<std::uint32_t>(idx));
		holders.erase(static_cast<std::uint32_t>(idx));
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
		auto go = [this, s, r, h = std::move(h), f]() mutable {
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
		    r.start + r.length > it->second->size) {
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
				whole += b.size;
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
			inner->async_hash(s, p, v2, f, [h](lt::piece_index_t p,
				lt::sha1_hash const &sha1, lt::storage_error const &e) {
				(*h)(p, sha1, e);
			});
			return;
		}
		int piece = static_cast<int>(p);
		auto it = st->bufs.find(piece);
		if (it == st->bufs.end()) {
			inner_hash(st, s, p, v2, f, std::move(h));
			return;
		}
		auto b = it->second;
		auto again = [this, s, p, v2, f, h]() { hash(s, p, v2, f, h); };
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
				res->sha1 = lt::hasher(b->data, b->size).final();
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
			// in finds it in its streams
			if (dg && !res->err)
				offer(*dg, piece, v1 ? &res->sha1 : nullptr, b, segs, res->feed);
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

	// A piece on disk: its parts queued on the streams of the files it
	// touches, if its SHA-1 is the torrent's. The streams given a part
	// go to `out`, to be fed.
	static void offer(file_digests &d, int piece, lt::sha1_hash const *sha1,
			  std::shared_ptr<piece_buf> const &b, std::vector<seg> const &segs,
			  std::vector<file_stream *> &out)
	{
		if (!d.v1.empty() &&
		    (!sha1 || piece < 0 || piece >= static_cast<int>(d.v1.size()) ||
		     *sha1 != d.v1[static_cast<std::size_t>(piece)]))
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
		auto go = [this, s, p, off, f, h]() {
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
			auto it = st->bufs.find(piece);
			if (it != st->bufs.end()) {
				auto b = it->second;
				if (b->busy) {
					b->after.push_back([this, s, p, h] {
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

void set_piece_disk_pressure(lt::disk_interface &disk, std::int64_t soft,
			     std::int64_t low)
{
	auto &io = static_cast<piece_disk_io &>(disk);
	io.soft = soft;
	io.low = low;
}

} // namespace lts_internal

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
				      lt::alert_category::piece_progress));
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
	params.extensions.push_back(std::make_shared<dormant_plugin>(s->dormant));
	s->digests = std::make_shared<digest_table>();
	auto dt = s->digests;
	params.disk_io_constructor = [dt](lt::io_context &ios,
					lt::settings_interface const &sett,
					lt::counters &cnt) {
		std::unique_ptr<lt::disk_interface> in = new_ordered_disk_io(
			lt::mmap_disk_io_constructor(ios, sett, cnt));
		return std::unique_ptr<lt::disk_interface>(
			new piece_disk_io(ios, sett, std::move(in), dt));
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

static void fill_status(torrent_entry &e, lt::torrent_status const &ts,
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
	st->total_wanted_done = ts.total_wanted_done;
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
}

int lts_torrent_status(lts_session *s, int id, struct lts_status *st,
		       struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	fill_status(*e, e->h.status(status_flags), st);
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
		fill_status(t->second, ts, &st[sl->second]);
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

int lts_torrent_save_resume(lts_session *s, int id, int flush,
			    struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	torrent_entry *e = find(s, id, err);
	if (!e)
		return LTS_ENOENT;
	lt::resume_data_flags_t f = lt::torrent_handle::save_info_dict;
	if (flush)
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
			    unsigned char out[32], struct lts_error *err)
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
			     *e->digests->files[static_cast<std::size_t>(file)], out);
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_torrent_set_sequential(lts_session *s, int id, int on,
			       struct lts_error *err)
{
	return set_flag(s, id, lt::torrent_flags::sequential_download, on, err);
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

int lts_alerts_pop(lts_session *s, const struct lts_alert **out, size_t *n,
		   struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	s->alerts.clear();
	s->strings.clear();
	s->buffers.clear();
	// a burst (a thousand torrents added at once) must not keep its
	// memory for the life of the session
	if (s->alerts.capacity() > 1024) {
		std::vector<lts_alert>().swap(s->alerts);
		s->strings.shrink_to_fit();
		s->buffers.shrink_to_fit();
	}
	std::vector<lt::alert *> v;
	s->ses->pop_alerts(&v);
	auto str = [s](std::string x) -> const char * {
		s->strings.push_back(std::move(x));
		return s->strings.back().c_str();
	};
	// dormant torrents that failed to load: no libtorrent alert says so
	std::vector<woken_entry> failed;
	{
		std::lock_guard<std::mutex> lock(s->dormant->mu);
		auto &wk = s->dormant->woken;
		for (auto it = wk.begin(); it != wk.end();) {
			if (it->failed) {
				failed.push_back(std::move(*it));
				it = wk.erase(it);
			} else {
				++it;
			}
		}
	}
	for (auto &w : failed) {
		lts_alert c;
		memset(&c, 0, sizeof(c));
		c.type = LTS_ALERT_TORRENT_WOKEN;
		c.piece = -1;
		c.what = "dormant_load_failed";
		c.message = str(w.error);
		c.error = LTS_EIO;
		c.value = w.cookie;
		c.address = "";
		c.url = "";
		s->alerts.push_back(c);
	}
	for (lt::alert *a : v) {
		lts_alert c;
		memset(&c, 0, sizeof(c));
		c.type = LTS_ALERT_OTHER;
		c.piece = -1;
		c.what = a->what();
		c.message = str(a->message());
		c.address = "";
		c.url = "";
		lt::error_code ec;
		auto const *ta = dynamic_cast<lt::torrent_alert const *>(a);
		if (ta) {
			auto it = s->by_handle.find(ta->handle);
			if (it != s->by_handle.end())
				c.torrent = it->second;
		}
		if (auto const *pa = dynamic_cast<lt::peer_alert const *>(a)) {
			c.address = str(endpoint_str(pa->endpoint));
			c.port = pa->endpoint.port();
		}
		if (lt::alert_cast<lt::alerts_dropped_alert>(a)) {
			c.type = LTS_ALERT_DROPPED;
		} else if (auto *x = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
			if (x->socket_type == lt::socket_type_t::tcp) {
				c.type = LTS_ALERT_LISTEN_SUCCEEDED;
				c.address = str(x->address.to_string());
				c.port = x->port;
			}
		} else if (auto *x = lt::alert_cast<lt::listen_failed_alert>(a)) {
			c.type = LTS_ALERT_LISTEN_FAILED;
			c.address = str(x->address.to_string());
			c.port = x->port;
			c.error = x->error.value();
		} else if (auto *x = lt::alert_cast<lt::add_torrent_alert>(a)) {
			c.type = LTS_ALERT_TORRENT_ADDED;
			c.error = x->error.value();
			// not added by lts_torrent_add(): a dormant one woken
			// by a peer
			if (!c.torrent) {
				woken_entry w;
				if (take_woken(*s->dormant, x->params.info_hashes, &w)) {
					c.type = LTS_ALERT_TORRENT_WOKEN;
					c.value = w.cookie;
					if (!x->error && x->handle.is_valid()) {
						int nid = s->next_id++;
						torrent_entry &e = s->torrents[nid];
						e.h = x->handle;
						e.ih = w.ih;
						e.ti = x->handle.torrent_file();
						s->by_handle[x->handle] = nid;
						s->by_hash[w.ih] = nid;
						c.torrent = nid;
					}
				}
			}
		} else if (auto *x = lt::alert_cast<lt::torrent_removed_alert>(a)) {
			c.type = LTS_ALERT_TORRENT_REMOVED;
			auto it = s->by_hash.find(x->info_hashes);
			if (it != s->by_hash.end()) {
				c.torrent = it->second;
				auto t = s->torrents.find(it->second);
				if (t != s->torrents.end()) {
					s->by_handle.erase(t->second.h);
					s->torrents.erase(t);
				}
				s->by_hash.erase(it);
			}
		} else if (lt::alert_cast<lt::metadata_received_alert>(a)) {
			c.type = LTS_ALERT_METADATA_RECEIVED;
			auto t = s->torrents.find(c.torrent);
			if (t != s->torrents.end()) {
				t->second.ti = t->second.h.torrent_file();
				if (t->second.no_root && t->second.ti)
					strip_root(t->second.h, t->second.ti->files());
			}
		} else if (lt::alert_cast<lt::torrent_checked_alert>(a)) {
			c.type = LTS_ALERT_TORRENT_CHECKED;
		} else if (lt::alert_cast<lt::torrent_finished_alert>(a)) {
			c.type = LTS_ALERT_TORRENT_FINISHED;
		} else if (auto *x = lt::alert_cast<lt::state_changed_alert>(a)) {
			c.type = LTS_ALERT_STATE_CHANGED;
			c.value = state_of(x->state);
		} else if (auto *x = lt::alert_cast<lt::hash_failed_alert>(a)) {
			c.type = LTS_ALERT_HASH_FAILED;
			c.piece = static_cast<int>(x->piece_index);
			auto t = s->torrents.find(c.torrent);
			if (t != s->torrents.end())
				t->second.hash_failures++;
		} else if (auto *x = lt::alert_cast<lt::piece_finished_alert>(a)) {
			c.type = LTS_ALERT_PIECE_FINISHED;
			c.piece = static_cast<int>(x->piece_index);
		} else if (lt::alert_cast<lt::peer_ban_alert>(a)) {
			c.type = LTS_ALERT_PEER_BANNED;
		} else if (auto *x = lt::alert_cast<lt::peer_error_alert>(a)) {
			c.type = LTS_ALERT_PEER_ERROR;
			c.error = x->error.value();
		} else if (lt::alert_cast<lt::peer_connect_alert>(a)) {
			c.type = LTS_ALERT_PEER_CONNECTED;
		} else if (auto *x = lt::alert_cast<lt::peer_disconnected_alert>(a)) {
			c.type = LTS_ALERT_PEER_DISCONNECTED;
			c.error = x->error.value();
		} else if (auto *x = lt::alert_cast<lt::tracker_error_alert>(a)) {
			c.type = LTS_ALERT_TRACKER_ERROR;
			c.url = str(x->tracker_url());
			c.error = x->error.value();
		} else if (auto *x = lt::alert_cast<lt::tracker_reply_alert>(a)) {
			c.type = LTS_ALERT_TRACKER_REPLY;
			c.url = str(x->tracker_url());
			c.value = x->num_peers;
		} else if (auto *x = lt::alert_cast<lt::file_error_alert>(a)) {
			c.type = LTS_ALERT_FILE_ERROR;
			c.url = str(x->filename());
			c.error = x->error.value();
			if (x->error.category() == lt::system_category() ||
			    x->error.category() == lt::generic_category())
				c.errno_value = x->error.value();
		} else if (auto *x = lt::alert_cast<lt::torrent_error_alert>(a)) {
			c.type = LTS_ALERT_TORRENT_ERROR;
			c.url = str(x->filename());
			c.error = x->error.value();
			if (x->error.category() == lt::system_category() ||
			    x->error.category() == lt::generic_category())
				c.errno_value = x->error.value();
		} else if (auto *x = lt::alert_cast<lt::save_resume_data_alert>(a)) {
			c.type = LTS_ALERT_SAVE_RESUME;
			s->buffers.push_back(lt::write_resume_data_buf(x->params));
			auto const &b = s->buffers.back();
			c.data = reinterpret_cast<const unsigned char *>(b.data());
			c.data_len = b.size();
		} else if (auto *x = lt::alert_cast<lt::save_resume_data_failed_alert>(a)) {
			c.type = LTS_ALERT_SAVE_RESUME_FAILED;
			c.error = x->error.value();
		} else if (auto *x = lt::alert_cast<lt::file_completed_alert>(a)) {
			c.type = LTS_ALERT_FILE_COMPLETED;
			c.value = static_cast<int>(x->index);
		} else if (auto *x = lt::alert_cast<lt::file_renamed_alert>(a)) {
			c.type = LTS_ALERT_FILE_RENAMED;
			c.value = static_cast<int>(x->index);
			c.url = str(x->new_name());
		} else if (auto *x = lt::alert_cast<lt::file_rename_failed_alert>(a)) {
			c.type = LTS_ALERT_FILE_RENAME_FAILED;
			c.value = static_cast<int>(x->index);
			c.error = x->error.value();
		} else if (lt::alert_cast<lt::torrent_paused_alert>(a)) {
			c.type = LTS_ALERT_TORRENT_PAUSED;
		} else if (lt::alert_cast<lt::torrent_resumed_alert>(a)) {
			c.type = LTS_ALERT_TORRENT_RESUMED;
		}
		s->alerts.push_back(c);
	}
	*out = s->alerts.empty() ? nullptr : s->alerts.data();
	*n = s->alerts.size();
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

} // extern "C"

