// selftest.cpp: the self-tests of the shim's disks and file digests
// (lts_selftest_*() in include/lt_shim.h), which reach into its internals.
// Built into tests/unit/test-shim only: never into libms.a, nor into
// modelswarm.

#include "shim.h"

#include <libtorrent/disk_buffer_holder.hpp>
#include <libtorrent/disk_interface.hpp>
#include <libtorrent/disk_observer.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/io_context.hpp>
#include <libtorrent/settings_pack.hpp>

#include <boost/asio/error.hpp>

#include <openssl/evp.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace lts_internal;

// Built into the unit tests only (tests/unit/test-shim): checks the order
// ordered_disk_io puts a clear in, with a disk whose writes complete only
// when the test says so and whose clears complete as soon as they reach
// it: the order several libtorrent disk threads can produce.
namespace {

struct script_disk final : lt::disk_interface {
	std::vector<std::string> &log;
	std::vector<std::function<void(lt::storage_error const &)>> writes;
	std::vector<std::function<void()>> stops;  // done when the test says
	int removed = 0;
	int next = 0;
	// log reads, writes and hashes, and answer reads, hashes and
	// priority changes at once
	bool verbose = false;

	explicit script_disk(std::vector<std::string> &l) : log(l) {}

	lt::storage_holder new_torrent(lt::storage_params const &,
				       std::shared_ptr<void> const &) override
	{
		return lt::storage_holder(lt::storage_index_t(next++), *this);
	}
	void remove_torrent(lt::storage_index_t) override { removed++; }
	void async_read(lt::storage_index_t, lt::peer_request const &r,
			std::function<void(lt::disk_buffer_holder,
					   lt::storage_error const &)> h,
			lt::disk_job_flags_t) override
	{
		if (!verbose)
			return;
		log.push_back("inner read " + std::to_string(static_cast<int>(r.piece)));
		h(lt::disk_buffer_holder(), lt::storage_error());
	}
	bool async_write(lt::storage_index_t, lt::peer_request const &r,
			 char const *, std::shared_ptr<lt::disk_observer>,
			 std::function<void(lt::storage_error const &)> h,
			 lt::disk_job_flags_t) override
	{
		if (verbose)
			log.push_back("inner write " + std::to_string(static_cast<int>(r.piece)) +
				      "/" + std::to_string(r.start / 16384));
		writes.push_back(std::move(h));
		return false;
	}
	void async_hash(lt::storage_index_t, lt::piece_index_t p,
			lt::span<lt::sha256_hash>, lt::disk_job_flags_t,
			std::function<void(lt::piece_index_t, lt::sha1_hash const &,
					   lt::storage_error const &)> h) override
	{
		if (!verbose)
			return;
		log.push_back("inner hash " + std::to_string(static_cast<int>(p)));
		h(p, lt::sha1_hash(), lt::storage_error());
	}
	void async_hash2(lt::storage_index_t, lt::piece_index_t, int,
			 lt::disk_job_flags_t,
			 std::function<void(lt::piece_index_t, lt::sha256_hash const &,
					    lt::storage_error const &)>) override {}
	void async_move_storage(lt::storage_index_t, std::string, lt::move_flags_t,
				std::function<void(lt::status_t, std::string const &,
						   lt::storage_error const &)>) override {}
	void async_release_files(lt::storage_index_t, std::function<void()>) override {}
	void async_check_files(lt::storage_index_t, lt::add_torrent_params const *,
			       lt::aux::vector<std::string, lt::file_index_t>,
			       std::function<void(lt::status_t,
						  lt::storage_error const &)>) override {}
	void async_stop_torrent(lt::storage_index_t, std::function<void()> h) override
	{
		if (verbose)
			log.push_back("inner stop");
		stops.push_back(std::move(h));
	}
	void async_rename_file(lt::storage_index_t, lt::file_index_t, std::string,
			       std::function<void(std::string const &, lt::file_index_t,
						  lt::storage_error const &)>) override {}
	void async_delete_files(lt::storage_index_t, lt::remove_flags_t,
				std::function<void(lt::storage_error const &)>) override {}
	void async_set_file_priority(lt::storage_index_t,
		lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio,
		std::function<void(lt::storage_error const &,
			lt::aux::vector<lt::download_priority_t, lt::file_index_t>)> h) override
	{
		if (verbose)
			h(lt::storage_error(), std::move(prio));
	}
	void async_clear_piece(lt::storage_index_t, lt::piece_index_t p,
			       std::function<void(lt::piece_index_t)> h) override
	{
		log.push_back("disk clear " + std::to_string(static_cast<int>(p)));
		h(p);
	}
	void update_stats_counters(lt::counters &) const override {}
	std::vector<lt::open_file_state> get_status(lt::storage_index_t) const override
	{
		return {};
	}
	void abort(bool) override {}
	void submit_jobs() override { log.push_back("submit"); }
	void settings_updated() override {}
};

} // namespace

// A self-test's body gives what went wrong ("" when nothing did); this
// puts that, or what it threw, into msg.
static int selftest(std::function<std::string()> body, char const *okmsg,
		    char *msg, size_t n)
{
	std::string fail;
	try {
		fail = body();
	} catch (std::exception const &x) {
		fail = std::string("exception: ") + x.what();
	} catch (...) {
		fail = "unknown exception";
	}
	snprintf(msg, n, "%s", fail.empty() ? okmsg : fail.c_str());
	return fail.empty() ? 0 : -1;
}

static std::string join(std::vector<std::string> const &v)
{
	std::string out;
	for (auto const &l : v)
		out += (out.empty() ? "" : ", ") + l;
	return out;
}

static std::string disk_order()
{
	std::vector<std::string> log;
	auto sd = std::make_unique<script_disk>(log);
	script_disk *disk = sd.get();
	std::unique_ptr<lt::disk_interface> iop = new_ordered_disk_io(std::move(sd));
	lt::disk_interface &io = *iop;
	lt::file_storage fs;
	lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio;
	lt::storage_params sp(fs, nullptr, "", lt::storage_mode_sparse, prio,
			      lt::sha1_hash());
	auto write = [&](lt::storage_index_t s, int piece, int block) {
		lt::peer_request r;
		r.piece = lt::piece_index_t(piece);
		r.start = block * 16384;
		r.length = 16384;
		std::string what = "write " + std::to_string(piece) + "/" +
				   std::to_string(block);
		io.async_write(s, r, nullptr, nullptr,
			       [&log, what](lt::storage_error const &) {
				       log.push_back(what);
			       }, {});
	};
	auto clear = [&](lt::storage_index_t s, int piece) {
		io.async_clear_piece(s, lt::piece_index_t(piece),
				     [&log](lt::piece_index_t p) {
					     log.push_back("cleared " +
						std::to_string(static_cast<int>(p)));
				     });
	};
	auto complete = [&](std::size_t i) {
		auto h = std::move(disk->writes.at(i));
		h(lt::storage_error());
	};
	{
		lt::storage_holder st = io.new_torrent(sp, nullptr);
		write(st, 5, 0);
		write(st, 5, 1);
		write(st, 6, 0);
		clear(st, 5);     // waits for both writes to piece 5
		complete(0);
		complete(2);      // another piece: no effect on the clear
		complete(1);
		clear(st, 6);     // nothing outstanding: straight to the disk
		write(st, 7, 0);
		clear(st, 7);
	}                         // removed with a clear waiting: dropped
	complete(3);
	std::string got = join(log);
	std::string want = "write 5/0, write 6/0, write 5/1, disk clear 5, "
			   "cleared 5, submit, disk clear 6, cleared 6, write 7/0";
	if (disk->removed != 1)
		got += " (storage removed " + std::to_string(disk->removed) +
		       " times)";
	return got == want ? "" : got;
}

extern "C" int lts_selftest_disk_order(char *msg, size_t n)
{
	return selftest(disk_order, "in order", msg, n);
}

static std::string read_range(std::string const &path, long off, std::size_t len,
			      long *size)
{
	std::string out(len, '\0');
	FILE *f = std::fopen(path.c_str(), "rb");
	*size = -1;
	if (!f)
		return "";
	if (std::fseek(f, 0, SEEK_END) == 0)
		*size = std::ftell(f);
	if (std::fseek(f, off, SEEK_SET) != 0 || std::fread(&out[0], 1, len, f) != len)
		out.clear();
	std::fclose(f);
	return out;
}

namespace {

// piece_disk_io (2 workers) over a disk that logs what reaches it (and
// answers at once), and the first check that failed
struct disk_rig {
	std::vector<std::string> log;
	lt::settings_pack sp;
	lt::io_context ios;
	std::unique_ptr<lt::disk_interface> io;
	script_disk *inner = nullptr;
	std::string fail;

	explicit disk_rig(std::shared_ptr<digest_table> dt)
	{
		auto sd = std::make_unique<script_disk>(log);
		inner = sd.get();
		sd->verbose = true;
		sp.set_int(lt::settings_pack::disk_io_write_mode,
			   lt::settings_pack::disable_os_cache);
		sp.set_int(lt::settings_pack::aio_threads, 2);
		io = new_piece_disk_io(ios, sp, std::move(sd), std::move(dt));
	}
	void check(bool ok, std::string const &what)
	{
		if (!ok && fail.empty())
			fail = what + " (log: " + join(log) + ")";
	}
	// bounded: 5 s at most (the loop stops at once with nothing posted)
	bool run_until(std::function<bool()> done)
	{
		for (int i = 0; i < 500 && !done(); i++) {
			ios.restart();
			if (ios.poll() == 0)
				std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
		return done();
	}
};

} // namespace

// piece_disk_io over a disk that logs what reaches it, writing into dir.
static std::string piece_writes(std::string const &dir)
{
	disk_rig rig(nullptr);
	auto &log = rig.log;
	auto &ios = rig.ios;
	lt::disk_interface &io = *rig.io;
	auto check = [&](bool ok, std::string const &what) { rig.check(ok, what); };
	auto run_until = [&](std::function<bool()> done) { return rig.run_until(done); };
	// pieces of 2 blocks; piece 1 lies across both files
	lt::file_storage fs;
	fs.set_piece_length(32768);
	fs.add_file("t/a.bin", 40000);
	fs.add_file("t/b.bin", 30000);
	fs.set_num_pieces(3);
	fs.set_name("t");
	lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio;
	std::string path = dir, bad = path + "/t/a.bin";
	std::string data(70000, '\0');
	for (std::size_t i = 0; i < data.size(); i++)
		data[i] = static_cast<char>(i * 7 + i / 4093);
	auto req = [&](int piece, int blk) {
		lt::peer_request r;
		r.piece = lt::piece_index_t(piece);
		r.start = blk * 16384;
		r.length = std::min(16384, fs.piece_size(r.piece) - r.start);
		return r;
	};
	auto write = [&](lt::storage_index_t st, int piece, int blk) {
		lt::peer_request r = req(piece, blk);
		std::string what = "ack " + std::to_string(piece) + "/" + std::to_string(blk);
		io.async_write(st, r, data.data() + piece * 32768 + r.start, nullptr,
			[&log, what](lt::storage_error const &e) {
				log.push_back(what + (e ? " error" : ""));
			}, {});
	};
	lt::sha1_hash got1;
	bool hashed = false;
	auto hash = [&](lt::storage_index_t st, int piece) {
		hashed = false;
		io.async_hash(st, lt::piece_index_t(piece), {}, lt::disk_interface::v1_hash,
			[&](lt::piece_index_t p, lt::sha1_hash const &h,
			    lt::storage_error const &e) {
				log.push_back("hashed " + std::to_string(static_cast<int>(p)) +
					      (e ? " error" : ""));
				got1 = h;
				hashed = true;
			});
		return run_until([&] { return hashed; });
	};
	long size = 0;
	{
		lt::storage_params params(fs, nullptr, path, lt::storage_mode_sparse,
					  prio, lt::sha1_hash());
		lt::storage_holder st = io.new_torrent(params, nullptr);

		// a whole piece: one write, its blocks reported once it is on
		// disk, then its hash
		write(st, 1, 0);
		write(st, 1, 1);
		ios.restart();
		ios.poll();
		check(log.empty(), "blocks reported before their piece was on disk");
		check(hash(st, 1), "piece 1 not hashed");
		check(join(log) == "ack 1/0, ack 1/1, hashed 1", "piece 1 order");
		check(got1 == lt::hasher(data.data() + 32768, 32768).final(),
		      "piece 1 SHA-1");
		check(read_range(path + "/t/a.bin", 32768, 7232, &size) ==
		      data.substr(32768, 7232) && size == 40000, "piece 1 in a.bin");
		check(read_range(path + "/t/b.bin", 0, 25536, &size) ==
		      data.substr(40000, 25536) && size == 30000, "piece 1 in b.bin");
		log.clear();

		// a piece read part-way: its block written out first, and the
		// piece is the inner disk's from then on
		bool read = false;
		write(st, 0, 0);
		io.async_read(st, req(0, 0), [&](lt::disk_buffer_holder,
			lt::storage_error const &) { read = true; }, {});
		check(run_until([&] { return read; }), "piece 0 not read");
		write(st, 0, 1);
		check(hash(st, 0), "piece 0 not hashed");
		check(join(log) == "ack 0/0, inner read 0, inner write 0/1, inner hash 0, hashed 0",
		      "piece 0 order");
		check(read_range(path + "/t/a.bin", 0, 16384, &size) == data.substr(0, 16384),
		      "piece 0 block 0 in a.bin");
		log.clear();

		// a piece touching a file not to be downloaded: the inner disk's
		lt::aux::vector<lt::download_priority_t, lt::file_index_t> skip;
		skip.push_back(lt::default_priority);
		skip.push_back(lt::dont_download);
		bool set = false;
		io.async_set_file_priority(st, skip, [&](lt::storage_error const &,
			lt::aux::vector<lt::download_priority_t, lt::file_index_t>) {
			set = true;
		});
		check(run_until([&] { return set; }), "priorities not set");
		write(st, 2, 0);
		check(join(log) == "inner write 2/0", "piece 2 of a skipped file");
		log.clear();
	}
	{
		// a file that cannot be created: the blocks and the hash say so
		lt::storage_params params(fs, nullptr, bad, lt::storage_mode_sparse,
					  prio, lt::sha1_hash());
		lt::storage_holder st = io.new_torrent(params, nullptr);
		write(st, 1, 0);
		write(st, 1, 1);
		check(hash(st, 1), "piece 1 (bad path) not hashed");
		check(join(log) == "ack 1/0 error, ack 1/1 error, hashed 1 error",
		      "a file that cannot be created");
		log.clear();
	}
	{
		// a hash held back while the storage stops, and the stop's
		// handler removes the storage (libtorrent's does): the hash is
		// answered aborted, never sent to the inner disk, which has no
		// such storage by then (libtorrent's mmap disk dereferences a
		// null storage on it)
		lt::storage_params params(fs, nullptr, path, lt::storage_mode_sparse,
					  prio, lt::sha1_hash());
		auto holder = std::make_unique<lt::storage_holder>(
			io.new_torrent(params, nullptr));
		lt::storage_index_t st = *holder;
		io.async_stop_torrent(st, [&] {
			holder.reset();
			log.push_back("stopped");
		});
		write(st, 1, 0);
		write(st, 1, 1);
		io.async_hash(st, lt::piece_index_t(1), {}, lt::disk_interface::v1_hash,
			[&](lt::piece_index_t p, lt::sha1_hash const &,
			    lt::storage_error const &e) {
				log.push_back("hashed " + std::to_string(static_cast<int>(p)) +
					      (e.ec == boost::asio::error::operation_aborted
					       ? " aborted" : e ? " error" : ""));
			});
		check(join(log) == "inner stop", "a hash not held back by a stop");
		if (rig.inner->stops.size() == 1)
			rig.inner->stops[0]();
		check(join(log) == "inner stop, stopped, hashed 1 aborted",
		      "a hash held back by a stop that removes the storage");
	}
	io.abort(true);
	return rig.fail;
}

extern "C" int lts_selftest_piece_writes(const char *dir, char *msg, size_t n)
{
	std::string d(dir);
	return selftest([d] { return piece_writes(d); }, "as expected", msg, n);
}

// Pages of the file at path in the page cache, and pages in all (-1: no
// such file).
static int resident_pages(std::string const &path, int *all)
{
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	off_t size = fd < 0 ? 0 : lseek(fd, 0, SEEK_END);
	long page = sysconf(_SC_PAGESIZE);
	*all = static_cast<int>((size + page - 1) / page);
	void *m = size > 0 ? mmap(nullptr, static_cast<std::size_t>(size), PROT_READ,
				   MAP_SHARED, fd, 0) : MAP_FAILED;
	if (fd >= 0)
		close(fd);
	if (m == MAP_FAILED)
		return -1;
	std::vector<unsigned char> v(static_cast<std::size_t>(*all));
	int n = -1;
	if (mincore(m, static_cast<std::size_t>(size), v.data()) == 0)
		n = static_cast<int>(std::count_if(v.begin(), v.end(),
						   [](unsigned char c) { return c & 1; }));
	munmap(m, static_cast<std::size_t>(size));
	return n;
}

// Whether the file system of dir takes O_DIRECT writes (tmpfs does not).
static bool takes_o_direct(std::string const &dir)
{
	std::string p = dir + "/.direct";
	int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(p.c_str());
	}
	return fd >= 0;
}

// File digests worked out as pieces are written (piece_disk_io with a
// digest_table), and the back-pressure on peers, with files under dir.
static std::string file_digests_run(std::string const &dir)
{
	auto table = std::make_shared<digest_table>();
	disk_rig rig(table);
	lt::disk_interface &io = *rig.io;
	auto check = [&](bool ok, std::string const &what) { rig.check(ok, what); };
	auto run_until = [&](std::function<bool()> done) { return rig.run_until(done); };
	// pieces of 2 blocks over two files: 3 whole ones and a short last
	lt::file_storage fs;
	fs.set_piece_length(32768);
	fs.add_file("d/a.bin", 40000);
	fs.add_file("d/b.bin", 60000);
	fs.set_num_pieces(4);
	fs.set_name("d");
	std::string data(100000, '\0');
	for (std::size_t i = 0; i < data.size(); i++)
		data[i] = static_cast<char>(i * 13 + i / 511);
	auto sha256 = [](char const *p, std::size_t n) {
		unsigned char h[32];
		unsigned int len = 0;
		EVP_Digest(p, n, h, &len, EVP_sha256(), nullptr);
		return std::string(reinterpret_cast<char *>(h), 32);
	};
	struct waiter final : lt::disk_observer {
		int woken = 0;
		void on_disk() override { woken++; }
	};
	auto obs = std::make_shared<waiter>();
	int pressed = 0;
	// every block of a piece (bytes from src), then its hash; true once
	// the hash came back
	auto piece = [&](lt::storage_index_t st, int p, std::string const &src) {
		int size = fs.piece_size(lt::piece_index_t(p));
		for (int at = 0; at < size; at += 16384) {
			lt::peer_request r;
			r.piece = lt::piece_index_t(p);
			r.start = at;
			r.length = std::min(16384, size - at);
			if (io.async_write(st, r, src.data() + p * 32768 + at, obs,
					   [](lt::storage_error const &) {}, {}))
				pressed++;
		}
		bool hashed = false;
		io.async_hash(st, lt::piece_index_t(p), {}, lt::disk_interface::v1_hash,
			[&](lt::piece_index_t, lt::sha1_hash const &, lt::storage_error const &) {
				hashed = true;
			});
		return run_until([&] { return hashed; });
	};
	auto answer = [&](file_digests &d, int file, std::string *out) {
		unsigned char h[32];
		int r = LTS_DIGEST_PENDING;
		run_until([&] {
			r = digest_answer(*table, *d.files[static_cast<std::size_t>(file)], h,
					  nullptr);
			return r != LTS_DIGEST_PENDING;
		});
		*out = std::string(reinterpret_cast<char *>(h), 32);
		return r;
	};
	auto digests = [&](lt::sha1_hash const &ih) {
		auto d = std::make_shared<file_digests>();
		d->table = table;
		for (int p = 0; p < 4; p++) {
			int size = fs.piece_size(lt::piece_index_t(p));
			d->v1.push_back(lt::hasher(data.data() + p * 32768, size).final());
		}
		for (int i = 0; i < 2; i++) {
			auto f = std::make_unique<file_stream>();
			f->size = fs.file_size(lt::file_index_t(i));
			f->md = EVP_MD_CTX_new();
			EVP_DigestInit_ex(f->md, EVP_sha256(), nullptr);
			if (i == 1)
				want_git(*f);   // b.bin: a git blob too
			d->files.push_back(std::move(f));
		}
		lt::info_hash_t key(ih);
		table->put(key, d);
		return d;
	};
	auto storage = [&](std::string const &sub, lt::sha1_hash const &ih) {
		lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio;
		std::string path = dir + "/" + sub;  // params keeps a reference
		lt::storage_params params(fs, nullptr, path, lt::storage_mode_sparse,
					  prio, ih);
		return io.new_torrent(params, nullptr);
	};
	std::string got;
	{
		// pieces out of order: each file's bytes still go by in order
		lt::sha1_hash ih("digests-in-order-111");
		auto d = digests(ih);
		lt::storage_holder st = storage("one", ih);
		check(table->unclaimed.empty(), "the storage did not take its digests");
		for (int p : {2, 0, 3, 1})
			check(piece(st, p, data), "piece not hashed");
		check(answer(*d, 0, &got) == LTS_DIGEST_READY &&
		      got == sha256(data.data(), 40000), "a.bin: digest as written");
		check(answer(*d, 1, &got) == LTS_DIGEST_READY &&
		      got == sha256(data.data() + 40000, 60000), "b.bin: digest as written");
		unsigned char h[32], git[20];
		std::string blob = std::string("blob 60000", 11) + data.substr(40000, 60000);
		check(digest_answer(*table, *d->files[1], h, git) == LTS_DIGEST_READY &&
		      lt::sha1_hash(reinterpret_cast<char *>(git)) ==
		      lt::hasher(blob.data(), static_cast<int>(blob.size())).final(),
		      "b.bin: git blob id as written");
		check(digest_answer(*table, *d->files[0], h, git) == LTS_DIGEST_NONE,
		      "a.bin: a git blob id not asked for");
		check(table->held == 0, "stream memory not let go");
	}
	{
		// past the cap, a piece that came early waits on disk, read
		// back when its turn comes
		table->stream_cap = 16384;
		lt::sha1_hash ih("digests-over-cap-2222");
		auto d = digests(ih);
		lt::storage_holder st = storage("two", ih);
		for (int p : {3, 2, 1, 0})
			check(piece(st, p, data), "piece not hashed");
		check(answer(*d, 1, &got) == LTS_DIGEST_READY &&
		      got == sha256(data.data() + 40000, 60000), "b.bin: digest over the cap");
		check(answer(*d, 0, &got) == LTS_DIGEST_READY &&
		      got == sha256(data.data(), 40000), "a.bin: digest over the cap");
		check(table->held == 0, "stream memory not let go over the cap");
		table->stream_cap = std::int64_t(128) << 20;
	}
	{
		// a piece that is not the torrent's is never fed: that file has
		// no digest (the caller reads it), the other one has
		lt::sha1_hash ih("digests-bad-piece-333");
		auto d = digests(ih);
		lt::storage_holder st = storage("three", ih);
		std::string bad = data;
		bad[32768 * 3 + 5] ^= 1;
		for (int p : {0, 1, 2})
			check(piece(st, p, data), "piece not hashed");
		check(piece(st, 3, bad), "bad piece not hashed");
		check(answer(*d, 0, &got) == LTS_DIGEST_READY &&
		      got == sha256(data.data(), 40000), "a.bin next to a bad piece");
		check(answer(*d, 1, &got) == LTS_DIGEST_NONE, "b.bin fed a bad piece");
	}
	{
		// a file someone reads as it comes (lts_torrent_file_readers):
		// the verified pieces that touch it are kept in memory for the
		// reader (a piece of another file only, or one whose SHA-1 is
		// not the torrent's, is not), while the file goes to disk with
		// O_DIRECT like any other (where the file system takes it: all
		// but the unaligned ends of each piece's run)
		lt::sha1_hash ih("digests-readers-4444");
		auto d = digests(ih);
		d->readers.reset(new std::atomic<int>[2]());
		d->n_readers = 2;
		d->readers[1] = 1;
		d->n_reading = 1;
		lt::storage_holder st = storage("four", ih);
		std::string bad = data;
		bad[32768 * 3 + 5] ^= 1;
		for (int p = 0; p < 4; p++)
			check(piece(st, p, p == 3 ? bad : data), "piece not hashed");
		char buf[32768];
		check(d->read_recent(1, 2, 0, buf, sizeof(buf)) == 32768 &&
		      !std::memcmp(buf, data.data() + 65536, 32768), "piece 2 of b.bin not in memory");
		check(d->read_recent(1, 1, 100, buf, 1000) == 1000 &&
		      !std::memcmp(buf, data.data() + 32768 + 100, 1000),
		      "piece 1 (a.bin's end, b.bin's start) not in memory");
		check(d->read_recent(1, 2, 0, buf, 1) == 0, "piece 2, read to its end, still kept");
		check(d->read_recent(1, 1, 32700, buf, 1000) == 68, "a read past a piece's end");
		check(d->read_recent(1, 0, 0, buf, 1) == 0, "piece 0 (a.bin only) kept");
		check(d->read_recent(1, 3, 0, buf, 1) == 0, "a piece that failed its check kept");
		int all = 0, in = resident_pages(dir + "/four/d/b.bin", &all);
		check(in >= 0 && (in < all / 2 || !takes_o_direct(dir)),
		      "b.bin, read as it comes, " + std::to_string(in) + " of its " +
		      std::to_string(all) + " pages in the page cache");
		d->drop_recent();
		check(d->read_recent(1, 1, 0, buf, 1) == 0 && d->recent_bytes == 0,
		      "pieces kept after the readers left");
		// a reader far behind a piece: that piece goes to the page cache
		d->reader_at.reset(new std::atomic<int>[2]);
		d->reader_at[0] = -1;  // no reader yet
		d->reader_at[1] = 10;
		check(d->behind(lt::file_index_t(1), 13, 64 << 20) &&
		      !d->behind(lt::file_index_t(1), 11, 64 << 20) &&
		      !d->behind(lt::file_index_t(0), 13, 64 << 20), "which reader is behind");
	}
	{
		// LTS_ADD_V2_CHECKS: a file of two whole pieces, piece-aligned as
		// in a hybrid torrent. A piece whose blocks make its piece-layer
		// hash is handed the torrent's SHA-1 without computing it; a bad
		// one gets none (not its own SHA-1), so both checks fail alike
		lt::file_storage fs2;
		fs2.set_piece_length(32768);
		fs2.add_file("h/a.bin", 65536);
		fs2.set_num_pieces(2);
		fs2.set_name("h");
		auto d = std::make_shared<file_digests>();
		d->table = table;
		d->files.resize(1);
		d->layers.resize(1);
		for (int p = 0; p < 2; p++) {
			lt::sha256_hash blocks[2];
			for (int k = 0; k < 2; k++)
				blocks[k] = lt::hasher256(data.data() + p * 32768 + k * 16384,
							  16384).final();
			d->v1.push_back(lt::hasher(data.data() + p * 32768, 32768).final());
			d->layers[0].push_back(piece_root(blocks, 2));
		}
		lt::sha1_hash ih("digests-by-v2-hashes5");
		table->put(lt::info_hash_t(ih), d);
		lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio;
		std::string path = dir + "/six";
		lt::storage_params params(fs2, nullptr, path, lt::storage_mode_sparse, prio, ih);
		lt::storage_holder st = io.new_torrent(params, nullptr);
		std::string bad = data;
		bad[32768 + 7] ^= 1;
		for (int p = 0; p < 2; p++) {
			std::string const &src = p ? bad : data;
			for (int k = 0; k < 2; k++) {
				lt::peer_request r;
				r.piece = lt::piece_index_t(p);
				r.start = k * 16384;
				r.length = 16384;
				io.async_write(st, r, src.data() + p * 32768 + r.start, nullptr,
					       [](lt::storage_error const &) {}, {});
			}
			lt::sha256_hash v2[2];
			lt::sha1_hash sha1;
			bool hashed = false;
			io.async_hash(st, lt::piece_index_t(p), v2, lt::disk_interface::v1_hash,
				[&](lt::piece_index_t, lt::sha1_hash const &h,
				    lt::storage_error const &) {
					sha1 = h;
					hashed = true;
				});
			check(run_until([&] { return hashed; }), "piece not hashed (v2 checks)");
			if (p == 0)
				check(sha1 == d->v1[0] && piece_root(v2, 2) == d->layers[0][0],
				      "a good piece: the torrent's SHA-1, by its v2 hashes");
			else
				check(sha1.is_all_zeros(), "a bad piece: no SHA-1 (both checks fail)");
		}
	}
	{
		// a piece waiting for its turn when the torrent goes: let go
		lt::sha1_hash ih("digests-left-waiting");
		auto d = digests(ih);
		lt::storage_holder st = storage("five", ih);
		check(piece(st, 2, data), "piece 2 not hashed");
		check(table->held == 32768, "piece 2 not waiting in memory");
	}
	check(table->held == 0, "memory of a piece left waiting not let go");
	{
		// back-pressure: past `soft` bytes held, a write asks its peer
		// to wait, and the peer is told to go on at `low`
		set_piece_disk_pressure(io, 32768, 0);
		pressed = 0;
		obs->woken = 0;
		lt::sha1_hash ih("no-digests-at-all-44");
		lt::storage_holder st = storage("four", ih);
		lt::peer_request r;
		r.length = 16384;
		int hashed = 0;
		auto hash = [&](int p) {
			io.async_hash(st, lt::piece_index_t(p), {}, lt::disk_interface::v1_hash,
				[&](lt::piece_index_t, lt::sha1_hash const &,
				    lt::storage_error const &) { hashed++; });
		};
		auto write = [&](int p, int b) {
			r.piece = lt::piece_index_t(p);
			r.start = b * 16384;
			if (io.async_write(st, r, data.data() + p * 32768 + r.start, obs,
					   [](lt::storage_error const &) {}, {}))
				pressed++;
		};
		// pieces held, none whole: no peer waits on them
		write(0, 0);
		write(1, 0);
		check(pressed == 0, "back-pressure with no whole piece");
		// piece 0 whole (not even hashed yet): the next block past soft
		// is told to wait
		write(0, 1);
		check(pressed == 1 && obs->woken == 0, "no back-pressure past soft");
		hash(0);
		write(1, 1);
		check(pressed == 2 && obs->woken == 0, "no back-pressure past soft (2)");
		hash(1);
		check(run_until([&] { return hashed == 2; }), "pieces not hashed (pressure)");
		check(run_until([&] { return obs->woken > 0; }), "the peer was never told to go on");
	}
	io.abort(true);
	return rig.fail;
}

extern "C" int lts_selftest_file_digests(const char *dir, char *msg, size_t n)
{
	std::string d(dir);
	return selftest([d] { return file_digests_run(d); }, "as expected", msg, n);
}
