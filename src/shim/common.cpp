// common.cpp: what every part of the shim uses: the caller's struct
// lts_error filled in (SHIM_TRY/SHIM_CATCH, in shim.h, do it at the
// boundary, where no exception crosses), and libtorrent's version.

#include "shim.h"

#include <libtorrent/version.hpp>

#include <cstdarg>
#include <cstdio>

namespace lts_internal {

void set_err(struct lts_error *err, int code, const char *fmt, ...)
{
	if (!err)
		return;
	err->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

void clear_err(struct lts_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

} // namespace lts_internal

extern "C" {

const char *lts_version(void)
{
	return lt::version();
}

} // extern "C"
