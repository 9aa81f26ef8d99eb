#!/usr/bin/python3
"""mirror-fixture.py: a deliberately misbehaving web-seed mirror (BEP 19).

Clients send "GET /<prefix>/<rev>/<path>" with "Range: bytes=A-B"; the file
at that URL path under --root is served (HTTP/1.1, keep-alive, HEAD, single
byte ranges as 206 + Content-Range, no Range as 200; no listings, ".." is
400, a missing file or a directory is 404). Standard library only; run it
with /usr/bin/python3:

  mirror-fixture.py --root DIR --log FILE --port-file FILE [--bind 127.0.0.1]
      [--mode MODE[:ARG]]... [--cdn-bind 127.0.0.2] [--require-auth VALUE]
      [--retry-after SECONDS] [--fail-count N] [--url-ttl SECONDS]

The server listens on a port the kernel picks and, once listening, writes it
to --port-file (tmp + rename); with a redirect mode a second line holds the
CDN listener's port. SIGTERM or SIGINT stops it with exit status 0. Nothing
goes to stdout; errors go to stderr.

--log gets one JSON object per request and line: t (epoch), listener ("main"
or "cdn"), method, path (as requested, without the query), query, range,
auth (the Authorization header or null), host, status, bytes (body bytes
actually sent) and mode (the misbehaviour applied to this answer, or null;
"badsig" or "expired" for a 403 from the CDN listener). A stalled answer is
logged as soon as its half body is out.

Modes combine; "--mode M:ARG" applies only to request paths that end with
"/ARG" (e.g. "404:model-00001-of-00002.safetensors"), "--mode M" to all files:
  good         normal behaviour (the default when no mode is given)
  redirect     the main listener answers GET/HEAD of an existing file with
               302 and "Location: http://CDN-BIND:CDNPORT/cdn/<same path>
               ?exp=<now + url-ttl>&sig=<HMAC-SHA256(path, exp), hex>" under a
               random per-run key (exp is at least url-ttl, less than url-ttl
               + 1 s ahead); the CDN listener (bound to --cdn-bind, a host
               other than the main one) serves the file only for a valid sig
               with exp in the future, else 403 (an expired signed URL)
  redirect307  the same with 307 Temporary Redirect
  retry        the first --fail-count (2) requests for each file get 503 with
               "Retry-After: <--retry-after>" (1)
  retry429     the same with 429 Too Many Requests
  404          404 Not Found
  corrupt      the right length, but every 4096th body byte (the 1st, the
               4097th, ...) is XORed with 0xff
  full200      Range is ignored: 200 with the whole file
  overlong     206 with a correct Content-Range but 65536 more body bytes than
               asked for (Content-Length counts them; a 200 likewise)
  stall        the status line, headers and half the body, then nothing until
               the client closes the connection (at most 120 s)
  stale        the first GET of a file that has a sibling FILE.stale is
               answered with that sibling's bytes, later ones with FILE's
               (a mirror caught while a publish replaces a signed pair)
--rate BYTES caps how fast any body is sent (both listeners).
Order on the main listener: --require-auth (401 unless the Authorization
header is exactly VALUE), missing file, 404, retry/retry429, redirect, then
the body modes (corrupt, full200, overlong, stall), which also apply on the
CDN listener. The CDN listener never asks for authorization.
"""
import argparse, hashlib, hmac, http.server, json, math, os, re, select
import secrets, signal, socket, sys, threading, time, urllib.parse

MODES = {"good", "redirect", "redirect307", "retry", "retry429", "404",
         "corrupt", "full200", "overlong", "stall", "stale"}
OVERLONG = 65536
STALL_SECONDS = 120
CHUNK = 65536


class Fixture:
    """State shared by both listeners."""

    def __init__(self, args):
        self.args = args
        self.root = os.path.realpath(args.root)
        self.modes = []
        for m in args.mode or ["good"]:
            name, _, arg = m.partition(":")
            if name not in MODES:
                sys.exit(f"mirror-fixture: unknown mode {name!r}")
            self.modes.append((name, arg or None))
        self.key = secrets.token_bytes(32)
        self.log_file = open(args.log, "a", encoding="utf-8")
        self.lock = threading.Lock()
        self.failures = {}      # path -> retry answers given so far
        self.served = set()     # paths a stale answer was given for
        self.cdn_port = None

    def active(self, path):
        """The set of mode names that apply to the decoded path."""
        return {n for n, a in self.modes
                if a is None or path == a or path.endswith("/" + a)}

    def sign(self, path, exp):
        msg = f"{path}\n{exp}".encode("utf-8", "surrogateescape")
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()

    def log(self, entry):
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def first_stale(self, path, file):
        """True once per path that has a FILE.stale sibling."""
        with self.lock:
            if path in self.served or not os.path.isfile(file + ".stale"):
                return False
            self.served.add(path)
            return True

    def count_failure(self, path):
        """True while the path still has retry answers to give."""
        with self.lock:
            n = self.failures.get(path, 0)
            if n >= self.args.fail_count:
                return False
            self.failures[path] = n + 1
            return True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mirror-fixture/1"
    timeout = 60                # an idle keep-alive connection is dropped

    def version_string(self):
        return self.server_version

    def log_message(self, *a):  # the JSON log is the only request log
        pass

    def do_GET(self):
        self.sent, self.status, self.mode, self.logged = 0, None, None, False
        fx, main = self.server.fx, self.server.listener == "main"
        raw, _, self.query = self.path.partition("?")
        self.raw_path = raw
        try:
            if main and fx.args.require_auth is not None and \
                    self.headers.get("Authorization") != fx.args.require_auth:
                return self.reply(401, {"WWW-Authenticate": 'Bearer realm="mirror"'})
            if not main:
                if not raw.startswith("/cdn/"):
                    return self.reply(404)
                raw = raw[4:]
            path = urllib.parse.unquote(raw, errors="surrogateescape")
            parts = path.split("/")
            if ".." in parts or "\0" in path:
                return self.reply(400)
            rel = path.lstrip("/")
            file = os.path.realpath(os.path.join(fx.root, rel))
            if not file.startswith(fx.root + os.sep) or not os.path.isfile(file):
                return self.reply(404)
            modes = fx.active(rel)
            if main:
                if "404" in modes:
                    self.mode = "404"
                    return self.reply(404)
                retry = "retry429" if "retry429" in modes else \
                    "retry" if "retry" in modes else None
                if retry and fx.count_failure(rel):
                    self.mode = retry
                    return self.reply(429 if retry == "retry429" else 503,
                                      {"Retry-After": str(fx.args.retry_after)})
                redirect = "redirect" if "redirect" in modes else \
                    "redirect307" if "redirect307" in modes else None
                if redirect:
                    self.mode = redirect
                    # valid for at least url-ttl and less than url-ttl + 1 s
                    exp = math.ceil(time.time()) + fx.args.url_ttl
                    host = fx.args.cdn_bind
                    if ":" in host:
                        host = f"[{host}]"
                    loc = (f"http://{host}:{fx.cdn_port}/cdn{raw}?exp={exp}"
                           f"&sig={fx.sign(rel, exp)}")
                    return self.reply(302 if redirect == "redirect" else 307,
                                      {"Location": loc})
            else:
                q = urllib.parse.parse_qs(self.query)
                exp, sig = q.get("exp", [""])[0], q.get("sig", [""])[0]
                if not (exp.isdigit() and
                        hmac.compare_digest(sig, fx.sign(rel, int(exp)))):
                    self.mode = "badsig"
                    return self.reply(403)
                if int(exp) <= time.time():
                    self.mode = "expired"
                    return self.reply(403)
            if "stale" in modes and self.command == "GET" and \
                    fx.first_stale(rel, file):
                self.mode = "stale"
                file += ".stale"
            self.serve_file(file, modes)
        except OSError:     # the client went away, or a write timed out
            self.close_connection = True
        finally:
            self.log_request_json()

    do_HEAD = do_GET

    def reply(self, code, headers=None, body=b""):
        """A small answer with a body of its own (keep-alive is kept)."""
        if not body and code >= 400:
            body = f"{code} {self.responses[code][0]}\n".encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.status = code
        if self.command != "HEAD":
            self.wfile.write(body)
            self.sent = len(body)

    def parse_range(self, size):
        """(start, end) inclusive, None for no (usable) range, or "416"."""
        h = self.headers.get("Range")
        m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", h or "")
        if not m or m.group(1) == m.group(2) == "":
            return None         # absent, multi-range or nonsense: 200
        if m.group(1) == "":
            n = int(m.group(2))
            return (max(0, size - n), size - 1) if n and size else "416"
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if m.group(2) and end < start:
            return None
        return (start, min(end, size - 1)) if start < size else "416"

    def serve_file(self, file, modes):
        size = os.path.getsize(file)
        rng = None if "full200" in modes else self.parse_range(size)
        if "full200" in modes and self.headers.get("Range"):
            self.mode = "full200"
        if rng == "416":
            return self.reply(416, {"Content-Range": f"bytes */{size}"})
        start, end = rng or (0, size - 1)
        length = end - start + 1
        extra = OVERLONG if "overlong" in modes else 0
        for m in ("stall", "overlong", "corrupt"):
            if m in modes:
                self.mode = m
                break
        self.send_response(206 if rng else 200)
        self.status = 206 if rng else 200
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length + extra))
        self.end_headers()
        if self.command == "HEAD":
            return
        todo = length // 2 if "stall" in modes else length + extra
        rate = self.server.fx.args.rate
        t0 = time.monotonic()
        with open(file, "rb") as f:
            f.seek(start)
            while todo > 0:
                chunk = f.read(min(CHUNK, todo)) or bytes(min(CHUNK, todo))
                if "corrupt" in modes:
                    b = bytearray(chunk)
                    for i in range(-self.sent % 4096, len(b), 4096):
                        b[i] ^= 0xff
                    chunk = bytes(b)
                self.wfile.write(chunk)
                self.sent += len(chunk)
                todo -= len(chunk)
                if rate:    # pace the body: --rate bytes/s
                    ahead = self.sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
        if "stall" in modes:
            self.log_request_json()     # the log shows the stall at once
            self.close_connection = True
            self.hold()

    def hold(self):
        """Send nothing until the client closes (or STALL_SECONDS pass)."""
        deadline = time.monotonic() + STALL_SECONDS
        sock = self.connection
        while (left := deadline - time.monotonic()) > 0:
            r, _, _ = select.select([sock], [], [], min(left, 1.0))
            if r and not sock.recv(CHUNK):
                break

    def log_request_json(self):
        if self.logged:
            return
        self.logged = True
        self.server.fx.log({
            "t": time.time(), "listener": self.server.listener,
            "method": self.command, "path": self.raw_path,
            "query": self.query, "range": self.headers.get("Range"),
            "auth": self.headers.get("Authorization"),
            "host": self.headers.get("Host"), "status": self.status,
            "bytes": self.sent, "mode": self.mode})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fx, listener, host):
        self.fx, self.listener = fx, listener
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, 0), Handler)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description="a misbehaving web-seed mirror")
    p.add_argument("--root", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--mode", action="append")
    p.add_argument("--cdn-bind", default="127.0.0.2")
    p.add_argument("--require-auth")
    p.add_argument("--retry-after", type=int, default=1)
    p.add_argument("--fail-count", type=int, default=2)
    p.add_argument("--url-ttl", type=int, default=60)
    p.add_argument("--rate", type=int, default=0,
                   help="send bodies at most this many bytes/s (0: no cap)")
    args = p.parse_args()
    fx = Fixture(args)
    servers = [Server(fx, "main", args.bind)]
    if any(n in ("redirect", "redirect307") for n, _ in fx.modes):
        servers.append(Server(fx, "cdn", args.cdn_bind))
        fx.cdn_port = servers[1].server_address[1]

    def stop(*_):   # shutdown() waits for serve_forever: not in this thread
        for s in servers:
            threading.Thread(target=s.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    tmp = f"{args.port_file}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write("".join(f"{s.server_address[1]}\n" for s in servers))
    os.replace(tmp, args.port_file)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()
    for s in servers:
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
