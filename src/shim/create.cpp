// create.cpp: making a .torrent: lts_create() reads and hashes the files
// itself; an lts_creator lays them out and is handed the hashes, which the
// caller computes.

#include "shim.h"

#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/settings_pack.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace lts_internal;

extern "C" {

int lts_create(const char *dir, const struct lts_create_file *files,
	       size_t n_files, const struct lts_create_opts *opts,
	       unsigned char **out, size_t *len, struct lts_error *err)
{
	clear_err(err);
	*out = nullptr;
	*len = 0;
	SHIM_TRY
	if ((opts->flags & LTS_CREATE_V1_ONLY) &&
	    (opts->flags & LTS_CREATE_V2_ONLY)) {
		set_err(err, LTS_EINVAL, "v1-only and v2-only exclude each other");
		return LTS_EINVAL;
	}
	int ps = opts->piece_size;
	if (ps != 0 && (ps < 16 * 1024 || (ps & (ps - 1)))) {
		set_err(err, LTS_EINVAL,
			"piece size %d is not a power of two of at least 16 KiB", ps);
		return LTS_EINVAL;
	}
	if (n_files == 0) {
		set_err(err, LTS_EINVAL, "'%s' has no files", dir);
		return LTS_EINVAL;
	}
	char *real = realpath(dir, nullptr);
	if (!real) {
		set_err(err, LTS_EIO, "cannot resolve '%s': %s", dir, strerror(errno));
		return LTS_EIO;
	}
	std::string rp(real);
	free(real);
	std::string parent, base;
	size_t slash = rp.find_last_of('/');
	if (rp == "/" || slash == std::string::npos) {
		set_err(err, LTS_EINVAL, "cannot make a torrent of '/'");
		return LTS_EINVAL;
	}
	parent = slash == 0 ? "/" : rp.substr(0, slash);
	base = rp.substr(slash + 1);

	lt::file_storage fs;
	for (size_t i = 0; i < n_files; i++) {
		if (files[i].size < 0) {
			set_err(err, LTS_EINVAL, "negative size for '%s'", files[i].path);
			return LTS_EINVAL;
		}
		fs.add_file(base + "/" + files[i].path, files[i].size);
	}
	lt::create_flags_t cf{};
	if (opts->flags & LTS_CREATE_V1_ONLY)
		cf |= lt::create_torrent::v1_only;
	if (opts->flags & LTS_CREATE_V2_ONLY)
		cf |= lt::create_torrent::v2_only;
	lt::create_torrent ct(fs, ps, cf);
	ct.set_creation_date(0);
	for (size_t i = 0; i < opts->n_trackers; i++)
		ct.add_tracker(opts->trackers[i], static_cast<int>(i));
	for (size_t i = 0; i < opts->n_webseeds; i++)
		ct.add_url_seed(opts->webseeds[i]);

	lt::settings_pack sp;
	int threads = opts->threads > 0
			      ? opts->threads
			      : static_cast<int>(std::thread::hardware_concurrency());
	if (threads < 1)
		threads = 1;
	sp.set_int(lt::settings_pack::hashing_threads, threads);
	int total = ct.num_pieces(), done = 0;
	lt::error_code ec;
	lt::set_piece_hashes(
		ct, parent, sp,
		[&](lt::piece_index_t) {
			done++;
			if (opts->progress)
				opts->progress(opts->ud, done, total);
		},
		ec);
	if (ec) {
		set_err(err, LTS_EIO, "cannot hash '%s': %s", dir,
			ec.message().c_str());
		return LTS_EIO;
	}
	if (opts->name && *opts->name)
		fs.set_name(opts->name);
	std::vector<char> buf;
	lt::bencode(std::back_inserter(buf), ct.generate());
	unsigned char *m = static_cast<unsigned char *>(malloc(buf.size()));
	if (!m) {
		set_err(err, LTS_ENOMEM, "out of memory");
		return LTS_ENOMEM;
	}
	memcpy(m, buf.data(), buf.size());
	*out = m;
	*len = buf.size();
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

struct lts_creator {
	lt::file_storage fs;
	std::unique_ptr<lt::create_torrent> ct;
	std::vector<std::string> paths;
	bool v1 = true, v2 = true;
};

lts_creator *lts_creator_new(const struct lts_create_file *files, size_t n,
			     const struct lts_create_opts *opts,
			     struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	if ((opts->flags & LTS_CREATE_V1_ONLY) &&
	    (opts->flags & LTS_CREATE_V2_ONLY)) {
		set_err(err, LTS_EINVAL, "v1-only and v2-only exclude each other");
		return nullptr;
	}
	int ps = opts->piece_size;
	if (ps != 0 && (ps < 16 * 1024 || (ps & (ps - 1)))) {
		set_err(err, LTS_EINVAL,
			"piece size %d is not a power of two of at least 16 KiB", ps);
		return nullptr;
	}
	if (!opts->name || !*opts->name || strchr(opts->name, '/')) {
		set_err(err, LTS_EINVAL, "a torrent needs a name without '/'");
		return nullptr;
	}
	if (n == 0) {
		set_err(err, LTS_EINVAL, "no files");
		return nullptr;
	}
	std::int64_t total = 0;
	auto c = std::make_unique<lts_creator>();
	for (size_t i = 0; i < n; i++) {
		if (files[i].size < 0) {
			set_err(err, LTS_EINVAL, "negative size for '%s'", files[i].path);
			return nullptr;
		}
		total += files[i].size;
		c->fs.add_file(std::string(opts->name) + "/" + files[i].path,
			       files[i].size);
	}
	if (total == 0) {
		set_err(err, LTS_EINVAL, "all files are empty");
		return nullptr;
	}
	lt::create_flags_t cf{};
	if (opts->flags & LTS_CREATE_V1_ONLY) {
		cf |= lt::create_torrent::v1_only;
		c->v2 = false;
	}
	if (opts->flags & LTS_CREATE_V2_ONLY) {
		cf |= lt::create_torrent::v2_only;
		c->v1 = false;
	}
	c->ct = std::make_unique<lt::create_torrent>(c->fs, ps, cf);
	c->ct->set_creation_date(0);
	for (size_t i = 0; i < opts->n_trackers; i++)
		c->ct->add_tracker(opts->trackers[i], static_cast<int>(i));
	for (size_t i = 0; i < opts->n_webseeds; i++)
		c->ct->add_url_seed(opts->webseeds[i]);
	std::string prefix = std::string(opts->name) + "/";
	for (lt::file_index_t i : c->fs.file_range()) {
		std::string p = c->fs.file_path(i);
		if (p.compare(0, prefix.size(), prefix) == 0)
			p = p.substr(prefix.size());
		c->paths.push_back(p);
	}
	return c.release();
	SHIM_CATCH(nullptr)
}

void lts_creator_free(lts_creator *c)
{
	delete c;
}

int lts_creator_auto_piece_size(int64_t total, unsigned flags)
{
	try {
	if (total <= 0)
		return 0;
	lt::file_storage fs;
	fs.add_file("t/t", total);
	lt::create_flags_t cf{};
	if (flags & LTS_CREATE_V1_ONLY)
		cf |= lt::create_torrent::v1_only;
	if (flags & LTS_CREATE_V2_ONLY)
		cf |= lt::create_torrent::v2_only;
	lt::create_torrent ct(fs, 0, cf);
	return ct.piece_length();
	} catch (...) {
		return 0;
	}
}

int lts_creator_piece_length(const lts_creator *c)
{
	return c->ct->piece_length();
}

int lts_creator_num_pieces(const lts_creator *c)
{
	return c->ct->num_pieces();
}

int lts_creator_num_files(const lts_creator *c)
{
	return c->fs.num_files();
}

int lts_creator_is_v1(const lts_creator *c)
{
	return c->v1;
}

int lts_creator_is_v2(const lts_creator *c)
{
	return c->v2;
}

int lts_creator_file(const lts_creator *c, int i, struct lts_file_info *out)
{
	if (i < 0 || i >= c->fs.num_files())
		return LTS_ENOENT;
	lt::file_index_t fi(i);
	memset(out, 0, sizeof(*out));
	out->path = c->paths[static_cast<size_t>(i)].c_str();
	out->size = c->fs.file_size(fi);
	out->offset = c->fs.file_offset(fi);
	out->pad = c->fs.pad_file_at(fi);
	return 0;
}

int lts_creator_set_v1(lts_creator *c, int piece, const unsigned char h[20],
		       struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	if (!c->v1 || piece < 0 || piece >= c->ct->num_pieces()) {
		set_err(err, LTS_EINVAL, "no v1 piece %d", piece);
		return LTS_EINVAL;
	}
	c->ct->set_hash(lt::piece_index_t(piece),
			lt::sha1_hash(reinterpret_cast<const char *>(h)));
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_creator_set_v2(lts_creator *c, int file, int piece,
		       const unsigned char h[32], struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	if (!c->v2 || file < 0 || file >= c->fs.num_files() ||
	    c->fs.pad_file_at(lt::file_index_t(file)) || piece < 0) {
		set_err(err, LTS_EINVAL, "no v2 piece %d of file %d", piece, file);
		return LTS_EINVAL;
	}
	c->ct->set_hash2(lt::file_index_t(file),
			 lt::piece_index_t::diff_type(piece),
			 lt::sha256_hash(reinterpret_cast<const char *>(h)));
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_creator_generate(lts_creator *c, unsigned char **out, size_t *len,
			 struct lts_error *err)
{
	clear_err(err);
	*out = nullptr;
	*len = 0;
	SHIM_TRY
	std::vector<char> buf;
	lt::bencode(std::back_inserter(buf), c->ct->generate());
	unsigned char *m = static_cast<unsigned char *>(malloc(buf.size()));
	if (!m) {
		set_err(err, LTS_ENOMEM, "out of memory");
		return LTS_ENOMEM;
	}
	memcpy(m, buf.data(), buf.size());
	*out = m;
	*len = buf.size();
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

} // extern "C"
