/*
 * Inside the Hugging Face endpoint (hfapi.c, hfapi-stream.c). Not a public
 * header: the rest of the tree uses include/ms_hfapi.h.
 */
#ifndef MS_HFAPI_INT_H
#define MS_HFAPI_INT_H

#include <stdint.h>

#include "ms_engine.h"
#include "ms_getjob.h"
#include "ms_httpd.h"

/* The body of r: bytes [from, from + len) of file gf (blob etag of
 * repo_dir) of a release still downloading, each sent only once the
 * engine verified its piece (or once the whole blob is there, for a file
 * the mirrors fetch whole); when a piece keeps the reader waiting a
 * second, the pieces it needs next are asked for first. The connection is
 * cut after stall_s seconds without a byte. */
int ms__hf_stream(struct ms_httpd_resp *r, struct ms_httpd *h, struct ms_engine *e,
		  const struct ms_getjob_file *gf, const char *repo_dir, const char *etag,
		  int64_t from, int64_t len, unsigned stall_s);

#endif
