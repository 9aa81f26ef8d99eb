// shim.h: what the files of the shim (src/shim/*.cpp) share. C++ only,
// never included from C: the C API is include/lt_shim.h.
//
// The shim is the only C++ in modelswarm and the only code that includes
// libtorrent. Every extern "C" function body is wrapped in
// SHIM_TRY/SHIM_CATCH so no exception crosses into C. What the files share
// is in namespace lts_internal; the rest of each file is its own.

#ifndef LT_SHIM_INTERNAL_H
#define LT_SHIM_INTERNAL_H

#include "lt_shim.h"

#include <libtorrent/error_code.hpp>
#include <libtorrent/torrent_info.hpp>

#include <exception>
#include <memory>
#include <new>
#include <vector>

namespace lt = libtorrent;

namespace lts_internal {

// common.cpp: the caller's struct lts_error (err may be null)
void set_err(struct lts_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void clear_err(struct lts_error *err);

// metainfo.cpp: a torrent to inspect, of its metadata and its .torrent
// file's bytes (empty: no file yet)
lts_torrent *wrap_info(std::shared_ptr<const lt::torrent_info> ti,
		       std::vector<char> bytes);

} // namespace lts_internal

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
