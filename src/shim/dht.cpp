// dht.cpp: BEP 44 mutable items in the DHT (lts_dht_put, lts_dht_get).
// The caller signs: a put hands libtorrent the value, sequence number and
// signature as they are, so an item received from the DHT can be put
// again by anyone (no secret key here). libtorrent checks the signature
// of every item it receives, and of ours before it sends it.

#include "shim.h"

#include <libtorrent/bdecode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/session.hpp>

#include <array>
#include <cstring>
#include <string>

using namespace lts_internal;

extern "C" {

int lts_dht_put(lts_session *s, const struct lts_dht_item *it, struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	if (!it || !it->value || !it->value_len || it->value_len > 1000 ||
	    it->salt_len > 64 || (it->salt_len && !it->salt)) {
		set_err(err, LTS_EINVAL, "a DHT item needs a bencoded value of 1 to 1000 "
			"bytes and a salt of at most 64");
		return LTS_EINVAL;
	}
	lt::error_code ec;
	lt::bdecode_node n = lt::bdecode(
		lt::span<char const>(reinterpret_cast<const char *>(it->value),
				     static_cast<std::ptrdiff_t>(it->value_len)),
		ec);
	if (ec) {
		set_err(err, LTS_EINVAL, "the DHT item's value is not bencoded: %s",
			ec.message().c_str());
		return LTS_EINVAL;
	}
	lt::entry value(n);
	std::array<char, 32> key;
	std::array<char, 64> sig;
	std::memcpy(key.data(), it->key, 32);
	std::memcpy(sig.data(), it->sig, 64);
	std::int64_t const seq = it->seq;
	// called on libtorrent's thread with what the DHT holds now: ours
	// replaces it whatever it is (nodes refuse a lower seq themselves)
	s->ses->dht_put_item(
		key,
		[value, sig, seq](lt::entry &v, std::array<char, 64> &sg, std::int64_t &sq,
				  std::string const &) {
			v = value;
			sg = sig;
			sq = seq;
		},
		std::string(it->salt ? it->salt : "", it->salt_len));
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

int lts_dht_get(lts_session *s, const unsigned char key[32], const char *salt,
		size_t salt_len, struct lts_error *err)
{
	clear_err(err);
	SHIM_TRY
	if (salt_len > 64 || (salt_len && !salt)) {
		set_err(err, LTS_EINVAL, "a DHT salt is at most 64 bytes");
		return LTS_EINVAL;
	}
	std::array<char, 32> k;
	std::memcpy(k.data(), key, 32);
	s->ses->dht_get_item(k, std::string(salt ? salt : "", salt_len));
	return 0;
	SHIM_CATCH(LTS_EEXCEPTION)
}

} // extern "C"
