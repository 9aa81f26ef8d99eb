// metainfo.cpp: a torrent's metadata to read and inspect (lts_torrent_info_*),
// from a .torrent file's bytes, or from a torrent in the session
// (lts_torrent_info_get(), in torrent.cpp).

#include "shim.h"

#include <libtorrent/file_storage.hpp>
#include <libtorrent/hex.hpp>
#include <libtorrent/magnet_uri.hpp>
#include <libtorrent/torrent_info.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace lts_internal;

struct lts_torrent {
	std::shared_ptr<const lt::torrent_info> ti;
	std::vector<char> bytes;
	std::string name, v1, v2, magnet;
	std::vector<std::string> paths;
	std::vector<std::string> webseeds;
};

namespace {

std::string hex_of(lt::sha1_hash const &h)
{
	return lt::aux::to_hex(h);
}

std::string hex_of(lt::sha256_hash const &h)
{
	return lt::aux::to_hex(h);
}

} // namespace

namespace lts_internal {

lts_torrent *wrap_info(std::shared_ptr<const lt::torrent_info> ti,
		       std::vector<char> bytes)
{
	auto *t = new lts_torrent;
	t->ti = std::move(ti);
	t->bytes = std::move(bytes);
	lt::file_storage const &fs = t->ti->orig_files();
	t->name = fs.name();
	lt::info_hash_t ih = t->ti->info_hashes();
	t->v1 = ih.has_v1() ? hex_of(ih.v1) : "";
	t->v2 = ih.has_v2() ? hex_of(ih.v2) : "";
	t->magnet = lt::make_magnet_uri(*t->ti);
	for (lt::file_index_t i : fs.file_range())
		t->paths.push_back(fs.file_path(i));
	for (auto const &w : t->ti->web_seeds())
		if (w.type == lt::web_seed_entry::url_seed)
			t->webseeds.push_back(w.url);
	return t;
}

} // namespace lts_internal

extern "C" {

lts_torrent *lts_torrent_info_load(const void *buf, size_t len,
				   struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	if (!buf || !len) {
		set_err(err, LTS_EINVAL, "empty torrent file");
		return nullptr;
	}
	lt::error_code ec;
	auto ti = std::make_shared<lt::torrent_info>(
		lt::span<char const>(static_cast<const char *>(buf),
				     static_cast<std::ptrdiff_t>(len)),
		ec, lt::from_span);
	if (ec) {
		set_err(err, LTS_EINVAL, "%s", ec.message().c_str());
		return nullptr;
	}
	const char *b = static_cast<const char *>(buf);
	return wrap_info(ti, std::vector<char>(b, b + len));
	SHIM_CATCH(nullptr)
}

void lts_torrent_info_free(lts_torrent *t)
{
	delete t;
}

const char *lts_torrent_info_name(const lts_torrent *t)
{
	return t->name.c_str();
}

int lts_torrent_info_num_files(const lts_torrent *t)
{
	return t->ti->orig_files().num_files();
}

int lts_torrent_info_file(const lts_torrent *t, int i, struct lts_file_info *out)
{
	lt::file_storage const &fs = t->ti->orig_files();
	if (i < 0 || i >= fs.num_files())
		return LTS_ENOENT;
	lt::file_index_t fi(i);
	memset(out, 0, sizeof(*out));
	out->path = t->paths[static_cast<size_t>(i)].c_str();
	out->size = fs.file_size(fi);
	out->offset = fs.file_offset(fi);
	out->pad = fs.pad_file_at(fi);
	lt::file_flags_t fl = fs.file_flags(fi);
	out->symlink = !!(fl & lt::file_storage::flag_symlink);
	out->executable = !!(fl & lt::file_storage::flag_executable);
	out->hidden = !!(fl & lt::file_storage::flag_hidden);
	if (t->ti->info_hashes().has_v2() && fs.file_size(fi) > 0 &&
	    !out->pad) {
		lt::sha256_hash r = fs.root(fi);
		if (!r.is_all_zeros()) {
			out->has_root = 1;
			memcpy(out->root, r.data(), 32);
		}
	}
	return 0;
}

int64_t lts_torrent_info_total_size(const lts_torrent *t)
{
	lt::file_storage const &fs = t->ti->orig_files();
	std::int64_t sum = 0;
	for (lt::file_index_t i : fs.file_range())
		if (!fs.pad_file_at(i))
			sum += fs.file_size(i);
	return sum;
}

int lts_torrent_info_piece_length(const lts_torrent *t)
{
	return t->ti->piece_length();
}

int lts_torrent_info_num_pieces(const lts_torrent *t)
{
	return t->ti->num_pieces();
}

const char *lts_torrent_info_hash_v1(const lts_torrent *t)
{
	return t->v1.c_str();
}

const char *lts_torrent_info_hash_v2(const lts_torrent *t)
{
	return t->v2.c_str();
}

const char *lts_torrent_info_magnet(const lts_torrent *t)
{
	return t->magnet.c_str();
}

int lts_torrent_info_num_trackers(const lts_torrent *t)
{
	return static_cast<int>(t->ti->trackers().size());
}

int lts_torrent_info_num_webseeds(const lts_torrent *t)
{
	return static_cast<int>(t->webseeds.size());
}

const char *lts_torrent_info_webseed(const lts_torrent *t, int i)
{
	if (i < 0 || i >= static_cast<int>(t->webseeds.size()))
		return nullptr;
	return t->webseeds[static_cast<size_t>(i)].c_str();
}

const unsigned char *lts_torrent_info_bytes(const lts_torrent *t, size_t *len)
{
	*len = t->bytes.size();
	return reinterpret_cast<const unsigned char *>(t->bytes.data());
}

} // extern "C"
