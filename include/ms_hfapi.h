/*
 * The Hugging Face compatible endpoint of the daemon (hfapi.c, on
 * ms_httpd): the hub's own API and resolve/ URLs, so that unmodified
 * clients (huggingface_hub with HF_ENDPOINT, @huggingface/hub with hubUrl,
 * transformers.js with env.remoteHost, llama.cpp with MODEL_ENDPOINT)
 * download what the daemon holds.
 *
 * Served, for models (and the same under /api/datasets/ and /datasets/
 * for a release whose manifest says repo_type dataset):
 *   GET  /api/models/ORG/NAME[/revision/REV]     info: sha, siblings, ...
 *   GET  /api/models/ORG/NAME/tree/REV[/PATH]    ?recursive=true|false
 *   POST /api/models/ORG/NAME/paths-info/REV     JSON or form body
 *   GET  /api/models/ORG/NAME/refs
 *   HEAD|GET /ORG/NAME/resolve/REV/PATH          200 or 206, never a redirect
 *   OPTIONS anything                             CORS preflight
 * REV is a ref, a 40-hex revision, or HEAD (main). Only orgs with a
 * pinned key are served; anything else is 404 with the hub's X-Error-Code
 * (RepoNotFound, RevisionNotFound, EntryNotFound).
 *
 * A release held complete (seeding) is described by the verified manifest
 * the daemon kept with the download (repos/<id>.manifest.json; a repo
 * restored from records older than that by its snapshot directory, a
 * blob's name being its etag), and its bytes come from blobs/<etag> with
 * sendfile. A request for one the daemon does not hold starts its download
 * (ms_seedbox_add_repo(), if an allow glob matches) and sleeps until the
 * seedbox says it moved on; once its manifest is verified it is answered
 * from that, and a file still downloading is streamed as its pieces are
 * verified (hfapi-stream.c). A Range of one span is 206, several spans are
 * answered 200 with the whole file.
 */
#ifndef MS_HFAPI_H
#define MS_HFAPI_H

#include <uv.h>

#include "modelswarm.h"
#include "ms_seedbox.h"

#define MS_HFAPI_MAX_CONNS 512
#define MS_HFAPI_MAX_PER_IP 128
#define MS_HFAPI_CONN_MEMORY (64u << 10)  /* a request head fits in half */
#define MS_HFAPI_TIMEOUT_S 60
#define MS_HFAPI_BODY_MAX (1u << 20)      /* a paths-info body */

struct ms_hfapi;

#define MS_HFAPI_STALL_S 300                /* a stream without a byte */

struct ms_hfapi_opts {
	const char *addr;                /* IPV4:PORT or [IPV6]:PORT */
	struct ms_seedbox *sb;           /* what is served; must outlive the
					    endpoint */
	struct ms_engine *eng;           /* sb's engine */
	const struct ms_strlist *allow;  /* ORG/NAME globs a request may start
					    the download of; NULL or none:
					    any of an org with a pinned key */
	unsigned stall_s;                /* 0: MS_HFAPI_STALL_S */
};

/* Listen and serve. */
int ms_hfapi_start(struct ms_hfapi **out, uv_loop_t *loop, const struct ms_hfapi_opts *o,
		   struct ms_error *err);
int ms_hfapi_port(const struct ms_hfapi *a);
/* Seconds a connection accepted from now on may stay idle or take to send
 * a request head (0: MS_HFAPI_TIMEOUT_S). */
void ms_hfapi_set_timeout(struct ms_hfapi *a, unsigned timeout_s);
/* Close (libuv closes the handles: keep running the loop); NULL is fine. */
void ms_hfapi_close(struct ms_hfapi *a);

#endif
