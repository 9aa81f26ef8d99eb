// create.cpp: making a .torrent: lts_create() reads and hashes the files
// itself; an lts_creator lays them out and is handed the hashes, which the
// caller computes.

#include "shim.h"

#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/hex.hpp>
#include <libtorrent/settings_pack.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
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
	// what generate() writes (see bencode_torrent())
	std::string name;
	std::vector<std::string> trackers, webseeds;
	std::vector<lt::sha1_hash> v1h;                  // per piece
	std::vector<std::vector<lt::sha256_hash>> v2h;   // per file, its layer
	// after generate(), when this file wrote the torrent
	bool written = false;
	std::vector<lt::sha256_hash> roots;              // per file
	lt::sha1_hash ih1;
	lt::sha256_hash ih2;
};

namespace {

// The torrent libtorrent's create_torrent::generate() makes, byte for
// byte (tests/unit/test-hash compares them), for what publish makes: no
// dates, comments, nodes or file attributes but padding. libtorrent
// builds a tree of entries first: 90 ms of a 570 ms publish of 10,000
// files. False: not such a torrent (the caller asks libtorrent).
void b_str(std::string &o, lt::string_view s)
{
	o += std::to_string(s.size());
	o += ':';
	o.append(s.data(), s.size());
}

void b_int(std::string &o, std::int64_t v)
{
	o += 'i';
	o += std::to_string(v);
	o += 'e';
}

// the parts of a path after the torrent's name
std::vector<lt::string_view> parts(std::string const &path)
{
	std::vector<lt::string_view> v;
	lt::string_view p(path);
	std::size_t at = p.find('/');
	if (at == lt::string_view::npos)
		return v;
	p = p.substr(at + 1);
	while (!p.empty()) {
		at = p.find('/');
		v.push_back(p.substr(0, at));
		if (at == lt::string_view::npos)
			break;
		p = p.substr(at + 1);
	}
	return v;
}

struct tree_file {
	std::vector<lt::string_view> at;
	lt::file_index_t i;
};

// the "file tree" of files [lo, hi) (sorted by their parts), at depth d
bool b_tree(std::string &o, lts_creator const &c, std::vector<tree_file> const &f,
	    std::vector<lt::sha256_hash> const &roots, std::size_t lo, std::size_t hi,
	    std::size_t d)
{
	o += 'd';
	for (std::size_t k = lo; k < hi;) {
		std::size_t e = k + 1;
		while (e < hi && f[e].at[d] == f[k].at[d])
			e++;
		b_str(o, f[k].at[d]);
		if (f[k].at.size() == d + 1) {
			if (e != k + 1)
				return false; // a file and a directory of one name
			std::int64_t size = c.fs.file_size(f[k].i);
			o += "d0:d";
			b_str(o, "length");
			b_int(o, size);
			if (size > 0) {
				b_str(o, "pieces root");
				auto const &r = roots[static_cast<std::size_t>(static_cast<int>(f[k].i))];
				b_str(o, lt::string_view(r.data(), r.size()));
			}
			o += "ee";
		} else {
			for (std::size_t j = k; j < e; j++)
				if (f[j].at.size() <= d + 1)
					return false;
			if (!b_tree(o, c, f, roots, k, e, d + 1))
				return false;
		}
		k = e;
	}
	o += 'e';
	return true;
}

bool bencode_torrent(lts_creator &c, std::string &o)
{
	lt::file_storage const &fs = c.fs;
	int const P = fs.piece_length();
	std::size_t const nf = static_cast<std::size_t>(fs.num_files());

	// every hash set, as libtorrent's validate_v1/v2_hashes() want
	for (auto const &h : c.v1h)
		if (c.v1 && h.is_all_zeros())
			return false;
	for (lt::file_index_t i : fs.file_range()) {
		auto const &l = c.v2h[static_cast<std::size_t>(static_cast<int>(i))];
		if (fs.file_flags(i) & ~lt::file_storage::flag_pad_file)
			return false; // an attribute: libtorrent's
		if (!c.v2 || fs.pad_file_at(i))
			continue;
		if (static_cast<int>(l.size()) != fs.file_num_pieces(i))
			return false;
		for (auto const &h : l)
			if (h.is_all_zeros())
				return false;
	}
	if (fs.num_files() == 0 || fs.total_size() == 0 || !(c.v1 || c.v2))
		return false;

	std::vector<lt::sha256_hash> roots(nf);
	std::map<std::string, std::size_t> layers; // root -> file
	if (c.v2) {
		// a missing piece of a layer: the root of a piece of zero leaves
		std::size_t bpp = static_cast<std::size_t>(P / 0x4000);
		std::vector<lt::sha256_hash> zeros(bpp);
		lt::sha256_hash pad = piece_root(zeros, bpp);
		for (lt::file_index_t i : fs.file_range()) {
			auto k = static_cast<std::size_t>(static_cast<int>(i));
			if (fs.pad_file_at(i) || fs.file_size(i) == 0)
				continue;
			std::size_t w = 1;
			while (w < c.v2h[k].size())
				w *= 2;
			roots[k] = piece_root(c.v2h[k], w, pad);
			if (c.v2h[k].size() >= 2)
				layers[roots[k].to_string()] = k;
		}
	}

	o.reserve(static_cast<std::size_t>(c.v1h.size()) * 20 + nf * 140 + 4096);
	o += 'd';
	if (!c.trackers.empty()) {
		b_str(o, "announce");
		b_str(o, c.trackers[0]);
	}
	if (c.trackers.size() > 1) {
		// one tier each, in order
		b_str(o, "announce-list");
		o += 'l';
		for (auto const &t : c.trackers) {
			o += 'l';
			b_str(o, t);
			o += 'e';
		}
		o += 'e';
	}
	b_str(o, "info");
	std::size_t info_at = o.size();
	o += 'd';
	if (c.v2) {
		// the views point into these paths, which outlive them
		std::vector<std::string> keep;
		std::vector<lt::file_index_t> idx;
		keep.reserve(nf);
		for (lt::file_index_t i : fs.file_range())
			if (!fs.pad_file_at(i)) {
				keep.push_back(fs.file_path(i));
				idx.push_back(i);
			}
		std::vector<tree_file> f;
		f.reserve(keep.size());
		for (std::size_t k = 0; k < keep.size(); k++) {
			f.push_back(tree_file{parts(keep[k]), idx[k]});
			if (f.back().at.empty())
				return false;
		}
		std::sort(f.begin(), f.end(),
			  [](tree_file const &a, tree_file const &b) { return a.at < b.at; });
		b_str(o, "file tree");
		if (!b_tree(o, c, f, roots, 0, f.size(), 0))
			return false;
	}
	if (c.v1) {
		b_str(o, "files");
		o += 'l';
		for (lt::file_index_t i : fs.file_range()) {
			std::string path = fs.file_path(i);
			o += 'd';
			if (fs.pad_file_at(i)) {
				b_str(o, "attr");
				b_str(o, "p");
			}
			b_str(o, "length");
			b_int(o, fs.file_size(i));
			b_str(o, "path");
			o += 'l';
			for (auto const &s : parts(path))
				b_str(o, s);
			o += "ee";
		}
		o += 'e';
	}
	if (c.v2) {
		b_str(o, "meta version");
		b_int(o, 2);
	}
	b_str(o, "name");
	b_str(o, c.name);
	b_str(o, "piece length");
	b_int(o, P);
	if (c.v1) {
		b_str(o, "pieces");
		o += std::to_string(c.v1h.size() * 20);
		o += ':';
		for (auto const &h : c.v1h)
			o.append(h.data(), h.size());
	}
	o += 'e';
	{
		// the info-hashes: of the info dictionary's bytes
		lt::span<char const> info(o.data() + info_at,
					  static_cast<std::ptrdiff_t>(o.size() - info_at));
		c.ih1 = lt::hasher(info).final();
		c.ih2 = lt::hasher256(info).final();
	}
	if (c.v2) {
		b_str(o, "piece layers");
		o += 'd';
		for (auto const &kv : layers) {
			b_str(o, kv.first);
			auto const &l = c.v2h[kv.second];
			o += std::to_string(l.size() * 32);
			o += ':';
			for (auto const &h : l)
				o.append(h.data(), h.size());
		}
		o += 'e';
	}
	if (c.webseeds.size() == 1) {
		b_str(o, "url-list");
		b_str(o, c.webseeds[0]);
	} else if (c.webseeds.size() > 1) {
		b_str(o, "url-list");
		o += 'l';
		for (auto const &w : c.webseeds)
			b_str(o, w);
		o += 'e';
	}
	o += 'e';
	c.roots = std::move(roots);
	c.written = true;
	return true;
}

} // namespace

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
	c->name = opts->name;
	for (size_t i = 0; i < opts->n_trackers; i++) {
		std::string t = opts->trackers[i];
		// as libtorrent's add_tracker(): none empty, none twice
		if (!t.empty() && std::find(c->trackers.begin(), c->trackers.end(), t) ==
				       c->trackers.end())
			c->trackers.push_back(t);
	}
	for (size_t i = 0; i < opts->n_webseeds; i++)
		c->webseeds.push_back(opts->webseeds[i]);
	c->v1h.resize(static_cast<size_t>(c->ct->num_pieces()));
	c->v2h.resize(static_cast<size_t>(c->fs.num_files()));
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
	c->v1h[static_cast<size_t>(piece)] = lt::sha1_hash(reinterpret_cast<const char *>(h));
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
	lt::file_index_t fi(file);
	int np = c->fs.file_num_pieces(fi);
	if (piece >= np) {
		set_err(err, LTS_EINVAL, "no v2 piece %d of file %d", piece, file);
		return LTS_EINVAL;
	}
	auto &layer = c->v2h[static_cast<size_t>(file)];
	if (layer.empty())
		layer.resize(static_cast<size_t>(np));
	layer[static_cast<size_t>(piece)] = lt::sha256_hash(reinterpret_cast<const char *>(h));
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
	std::string buf;
	c->written = false;
	if (!bencode_torrent(*c, buf)) {
		// what the writer here does not cover: libtorrent's own, which
		// also says what is wrong
		for (size_t i = 0; c->v1 && i < c->v1h.size(); i++)
			c->ct->set_hash(lt::piece_index_t(static_cast<int>(i)), c->v1h[i]);
		for (size_t f = 0; c->v2 && f < c->v2h.size(); f++)
			for (size_t k = 0; k < c->v2h[f].size(); k++)
				c->ct->set_hash2(lt::file_index_t(static_cast<int>(f)),
						 lt::piece_index_t::diff_type(static_cast<int>(k)),
						 c->v2h[f][k]);
		buf.clear();
		lt::bencode(std::back_inserter(buf), c->ct->generate());
	}
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

int lts_creator_written(const lts_creator *c, char hash_v1[41], char hash_v2[65])
{
	if (!c->written)
		return LTS_ENOENT;
	snprintf(hash_v1, 41, "%s", c->v1 ? lt::aux::to_hex(c->ih1).c_str() : "");
	snprintf(hash_v2, 65, "%s", c->v2 ? lt::aux::to_hex(c->ih2).c_str() : "");
	return 0;
}

int lts_creator_num_trackers(const lts_creator *c)
{
	return static_cast<int>(c->trackers.size());
}

int lts_creator_file_root(const lts_creator *c, int file, unsigned char out[32])
{
	if (!c->written || !c->v2 || file < 0 || file >= static_cast<int>(c->roots.size()) ||
	    c->roots[static_cast<std::size_t>(file)].is_all_zeros())
		return LTS_ENOENT;
	memcpy(out, c->roots[static_cast<std::size_t>(file)].data(), 32);
	return 0;
}

} // extern "C"
