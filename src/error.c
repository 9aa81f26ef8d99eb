/* error.c: MS_E* codes and the error struct */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "modelswarm.h"

const char *ms_strerror(int code)
{
	switch (code) {
	case MS_OK:
		return "success";
#define XX(name, msg) \
	case MS_##name: \
		return msg;
		MS_ERRNO_MAP(XX)
#undef XX
	default:
		return "unknown error";
	}
}

const char *ms_errname(int code)
{
	switch (code) {
	case MS_OK:
		return "OK";
#define XX(name, msg) \
	case MS_##name: \
		return #name;
		MS_ERRNO_MAP(XX)
#undef XX
	default:
		return NULL;
	}
}

int ms_errno_from_name(const char *name)
{
	if (!strcmp(name, "OK"))
		return MS_OK;
#define XX(n, msg) \
	if (!strcmp(name, #n)) \
		return MS_##n;
	MS_ERRNO_MAP(XX)
#undef XX
	return MS_EIO;
}

int ms_error_set(struct ms_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int ms_error_from_errno(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return MS_ENOENT;
	case EEXIST:
		return MS_EEXIST;
	case ENOMEM:
		return MS_ENOMEM;
	case ENOSPC:
	case EDQUOT:
		return MS_ENOSPC;
	case EINVAL:
		return MS_EINVAL;
	case EINTR:
		return MS_EINTR;
	default:
		return MS_EIO;
	}
}
