/*
 * modelswarm: shared definitions for the library modules and the tool.
 *
 * Library code returns 0 or a negative MS_E* code and fills an optional
 * struct ms_error with a message that names the thing that failed.
 */
#ifndef MODELSWARM_H
#define MODELSWARM_H

#include <stddef.h>
#include <stdint.h>

#define MS_VERSION "0.1.0"

/* XX(name, message) */
#define MS_ERRNO_MAP(XX)                                         \
	XX(EINVAL, "invalid argument")                           \
	XX(ENOMEM, "out of memory")                              \
	XX(EIO, "input/output error")                            \
	XX(ENOENT, "no such file or directory")                  \
	XX(EEXIST, "file exists")                                \
	XX(ENOSPC, "no space left on device")                    \
	XX(ETORRENT, "invalid torrent")                          \
	XX(EENGINE, "torrent engine error")                      \
	XX(EHASH, "hash check failed")                           \
	XX(EINTR, "interrupted")                                 \
	XX(ETOOBIG, "too large")                                 \
	XX(EPATH, "unsafe path")                                 \
	XX(EBADSIG, "signature verification failed")             \
	XX(EAGAIN, "try again later")                            \
	XX(EUNCHANGED, "not modified")                           \
	XX(EVERIFY, "verification failed")                       \
	XX(ENOTFOUND, "not found")                               \
	XX(ESTALLED, "no source left")                           \
	XX(EMISMATCH, "signature does not match the data")

enum ms_errno {
	MS_OK = 0,
#define XX(name, msg) MS_##name,
	MS__ERRNO_FIRST = -1000,
	MS_ERRNO_MAP(XX)
#undef XX
	MS__ERRNO_LAST
};

/* Returns a static string describing an MS_E* code (or "unknown error"). */
const char *ms_strerror(int code);
/* The name of an MS_E* code without its prefix ("EVERIFY"; "OK" for 0),
 * for records and the RPC; NULL for an unknown code. */
const char *ms_errname(int code);
/* The code of such a name; MS_EIO for a name it does not know. */
int ms_errno_from_name(const char *name);

struct ms_error {
	int code;
	char msg[512];
};

/* Fills err (if not NULL) and returns code, so callers can
 * `return ms_error_set(err, MS_EIO, "cannot open '%s': %s", p, strerror(e));` */
int ms_error_set(struct ms_error *err, int code, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Map an errno value to the nearest MS_E* code. */
int ms_error_from_errno(int e);

#define MS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
