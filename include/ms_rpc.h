/*
 * JSON-RPC 2.0 over a unix socket, on a libuv loop: the transport only.
 *
 * One request (or batch) a line, one response a line. The socket is made
 * mode 0600 and a client whose uid is not ours is dropped at once. Every
 * request has a hard size cap and must arrive whole within a time limit;
 * a client that breaks either gets a JSON-RPC error and is disconnected,
 * and everyone else is served as before. No client can hold the others
 * off: one that sends nothing is closed after a few seconds; one that
 * does not read its answers is not read from while they exceed a cap,
 * and is closed when it takes none for a while; a batch (at most
 * MS_RPC_MAX_BATCH requests) is answered a few requests a loop turn; and
 * at the client limit a new client is let in and the oldest idle one
 * (else the oldest) is closed. What the methods do is the caller's: it
 * passes a table (see src/cmd/daemon.c).
 */
#ifndef MS_RPC_H
#define MS_RPC_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "modelswarm.h"

/* JSON-RPC error codes */
#define MS_RPC_PARSE_ERROR -32700
#define MS_RPC_INVALID_REQUEST -32600
#define MS_RPC_METHOD_NOT_FOUND -32601
#define MS_RPC_INVALID_PARAMS -32602
#define MS_RPC_INTERNAL_ERROR -32603

/* requests in a batch, at most */
#define MS_RPC_MAX_BATCH 1024

/*
 * A method: returns its result (a new reference), or NULL after setting
 * *code (a JSON-RPC error code) and msg. params is an object, an array or
 * NULL; borrowed.
 */
typedef json_t *(*ms_rpc_fn)(void *ud, json_t *params, int *code, char *msg,
			     size_t msglen);

struct ms_rpc_method {
	const char *name;
	ms_rpc_fn fn;
};

struct ms_rpc_opts {
	const char *path;                  /* the socket */
	const struct ms_rpc_method *methods;
	size_t n_methods;
	void *ud;                          /* for the methods */
	size_t max_request;                /* bytes; 0: 1 MiB */
	unsigned request_timeout_ms;       /* a started request, and a client
					      that takes none of its answers;
					      0: 10 s */
	unsigned first_byte_timeout_ms;    /* a new client's first byte; 0: 5 s */
	unsigned idle_timeout_ms;          /* a client between requests; 0: 5 min */
	size_t max_unsent;                 /* bytes of answers a client has not
					      taken, over which it is not read
					      from; 0: 1 MiB */
	int max_clients;                   /* 0: 64; then the oldest idle goes */
};

struct ms_rpc;

/* Listen on o->path (a stale socket file is replaced; a live one is
 * MS_EEXIST). Strings in o are copied; methods must outlive the server. */
int ms_rpc_start(struct ms_rpc **out, uv_loop_t *loop,
		 const struct ms_rpc_opts *o, struct ms_error *err);

/* Close every connection and the socket (the file is removed); the struct
 * is freed once libuv has closed the handles. */
void ms_rpc_close(struct ms_rpc *r);

/* Default socket path: $MODELSWARM_HOME/modelswarm.sock, else
 * $XDG_RUNTIME_DIR/modelswarm.sock, else the state directory's. */
int ms_rpc_default_path(char *buf, size_t len, struct ms_error *err);

/* A client: send one request, wait for its response (blocking; for
 * commands, not for the loop). *result is a new reference to the whole
 * response object. */
int ms_rpc_call(const char *path, const char *method, json_t *params,
		unsigned timeout_ms, json_t **response, struct ms_error *err);

#endif
