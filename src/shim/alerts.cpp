// alerts.cpp: libtorrent's alerts as lts_alert (lts_alerts_pop), and
// what they change in the session's table of torrents: a dormant torrent
// woken by a peer gets an id, a removed one loses its id, metadata received
// maps the files.

#include "shim.h"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/write_resume_data.hpp>

#include <array>
#include <cstring>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

using namespace lts_internal;

namespace {

std::string endpoint_str(lt::tcp::endpoint const &ep)
{
	lt::error_code ec;
	return ep.address().to_string();
}

} // namespace

extern "C" {

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
		// a BEP 44 item's key, signature, seq and salt
		auto dht_item = [&c, &str](std::array<char, 32> const &k,
					   std::array<char, 64> const &sg, std::int64_t seq,
					   std::string const &salt) {
			std::memcpy(c.dht.key, k.data(), 32);
			std::memcpy(c.dht.sig, sg.data(), 64);
			c.dht.seq = seq;
			c.dht.salt = str(salt);
			c.dht.salt_len = salt.size();
		};
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
			// added by a v1 magnet, a hybrid torrent has both hashes
			// by now: found by its handle (compared by owner, valid
			// or not)
			if (it == s->by_hash.end()) {
				auto h = s->by_handle.find(x->handle);
				auto t = h == s->by_handle.end() ? s->torrents.end()
								 : s->torrents.find(h->second);
				if (t != s->torrents.end())
					it = s->by_hash.find(t->second.ih);
			}
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
		} else if (auto *x = lt::alert_cast<lt::dht_mutable_item_alert>(a)) {
			c.type = LTS_ALERT_DHT_ITEM;
			dht_item(x->key, x->signature, x->seq, x->salt);
			c.dht.authoritative = x->authoritative;
			if (x->item.type() != lt::entry::undefined_t) {
				s->buffers.emplace_back();
				lt::bencode(std::back_inserter(s->buffers.back()), x->item);
				auto const &b = s->buffers.back();
				c.dht.value = reinterpret_cast<const unsigned char *>(b.data());
				c.dht.value_len = b.size();
			}
		} else if (auto *x = lt::alert_cast<lt::dht_put_alert>(a)) {
			c.type = LTS_ALERT_DHT_PUT;
			dht_item(x->public_key, x->signature, x->seq, x->salt);
			c.dht.stored = x->num_success;
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
