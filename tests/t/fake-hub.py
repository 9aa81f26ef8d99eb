#!/usr/bin/python3
"""fake-hub.py: a stand-in for the Hugging Face hub, for tests and benchmarks.

It answers what the hub's clients ask, as their source shows they ask it:
huggingface_hub (file_download.py: get_hf_file_metadata, http_get,
_get_metadata_or_catch_error; utils/_http.py: hf_raise_for_status,
_httpx_follow_relative_redirects_with_backoff; utils/_xet.py:
parse_xet_file_data_from_response; utils/_pagination.py: paginate; hf_api.py:
model_info, dataset_info, list_repo_tree, get_paths_info, list_repo_refs) and
@huggingface/hub 2.x (fileDownloadInfo, downloadFile, WebBlob, snapshotDownload,
downloadFileToCacheDir, listFiles, pathsInfo, modelInfo, createApiError).
Standard library only; run it with /usr/bin/python3:

  fake-hub.py --repos DIR --log FILE --port-file FILE [--cert PEM --key PEM]
      [--bind 127.0.0.1] [--cdn-bind 127.0.0.2] [--egress-file FILE]
      [--token TOKEN] [--gated [datasets/]ORG/NAME]... [--renamed [datasets/]OLD=NEW]...
      [--page-size N] [--url-ttl SECONDS] [--rate BYTES] [--no-xet]
      [--mode MODE[:ARG]]... [--down-for SECONDS]

Two listeners, each on a port the kernel picks: the hub (--bind) and a "CDN"
on another host (--cdn-bind) that serves LFS blobs. Both speak HTTPS with
--cert/--key (one certificate for both addresses), plain HTTP without. Once
listening, the hub's port and the CDN's port are written to --port-file, one
a line (tmp + rename). SIGTERM or SIGINT stops it with exit status 0. Nothing
goes to stdout; errors go to stderr (a bad --repos tree: exit 2, naming it).

Repositories (read and hashed once, at start: the port file appears when
every file has its sha256, git id and MD5, which takes a while for GBs):
  DIR/ORG/NAME/             a model repo, ORG/NAME
  DIR/datasets/ORG/NAME/    a dataset repo
Each holds one directory per commit, named by a number (1, 2, ...): the
files of that commit. Commits form one line of history in numeric order.
An optional refs.json beside them names the refs:
  {"branches": {"main": "2", "dev": "1"}, "tags": {"v1.0": "1"}}
(values are commit directory names); without it, main is the last commit.
Commit, tree and blob ids are real git ids of that history: every file is a
regular 100644 blob; an LFS file's git blob is its LFS pointer
("version https://git-lfs.github.com/spec/v1\noid sha256:H\nsize N\n");
the commit is "tree T, parent P, author and committer
'fake-hub <fake-hub@127.0.0.1> 1700000000+3600*K +0000', message
'commit LABEL'" (K: the commit's place, from 1). A file is LFS when its name
ends in .safetensors or .bin, or it has 10 MiB or more (the hub's
.gitattributes and its 10 MB rule). The X-Xet-Hash of an LFS file is
sha256("xet\\0" + its sha256 digest): 64 hex digits that are neither its
sha256 nor its git id, so a client that took it for either is caught.

The hub (REPO is ORG/NAME, or datasets/ORG/NAME for /api/datasets/...):
  GET /api/models/ID[/revision/REV]   model_info: _id, id, modelId, author,
      sha, lastModified, createdAt, private, gated (false or "manual"),
      disabled, downloads, likes, tags, siblings [{rfilename}], usedStorage;
      with ?blobs=1 each sibling also has size, blobId and lfs {sha256, size,
      pointerSize}; with ?expand=K (repeated) only _id, id and those keys
  GET /api/models/ID/tree/REV[/PATH]?recursive=&expand=&cursor=
      list_repo_tree/listFiles: [{type: file, oid, size, path, lfs {oid,
      size, pointerSize}, xetHash}, {type: directory, oid, size: 0, path}],
      directories first at each level; with expand, lastCommit {id, title,
      date} (and securityFileStatus for files). Pages of --page-size entries
      (default 1000; at most 50 with expand, as the hub), the next page named
      by 'Link: <https://HOST/...&cursor=C>; rel="next"' -- an absolute URL,
      as the hub sends it: @huggingface/hub's parseLinkHeader only takes
      https?:// URLs and huggingface_hub's paginate GETs the URL as it is
  POST /api/models/ID/paths-info/REV  get_paths_info (form: paths=...&
      expand=...) and pathsInfo (JSON: {"paths": [...], "expand": true}):
      the entries of the paths that exist, as the tree gives them
  GET /api/models/ID/refs             {branches, converts: [], tags} of
      {name, ref, targetCommit}; pullRequests: [] with ?include_prs=1
  HEAD/GET /REPO/resolve/REV/PATH     REV is a commit id, a branch or tag, or
      refs/heads/X, refs/tags/X (percent-encoded or not)
    LFS file: 302, Location https://CDN/repos/AA/BB/KEY/SHA256?response-
      content-disposition=...&Expires=E&Signature=S&Key-Pair-Id=fake-hub
      (S: HMAC-SHA256 of path, E and disposition under a per-run key; E is
      --url-ttl (3600) s ahead), X-Repo-Commit, X-Linked-Etag: "SHA256",
      X-Linked-Size, ETag (the same as X-Linked-Etag), X-Xet-Hash and
      'Link: <https://HOST/api/models/ID/xet-read-token/COMMIT>;
      rel="xet-auth", <https://CDN/reconstruction/XETHASH>;
      rel="xet-reconstruction-info"' (with --no-xet neither), body "Found.
      Redirecting to LOCATION" (GET). A Range header changes nothing here:
      the range is served by the CDN. The xet-read-token route answers 404:
      the fake hub serves no Xet, so a client must ignore those headers
      (huggingface_hub without hf_xet does; @huggingface/hub does unless the
      answer's Content-Type is application/vnd.xet-fileinfo+json, which the
      fake hub never sends).
    Other files: 200 (206 for a byte range, 416 past the end), ETag:
      "GIT-BLOB-SHA1", X-Repo-Commit, Content-Length, Accept-Ranges, the
      bytes.
    A renamed repo (--renamed ORG/OLD=ORG/NEW, a dataset's with datasets/
      before ORG/OLD): every request naming it answers 307 with the relative
      "Location: /ORG/NEW/..." (the query kept), as the hub does for a
      renamed repo; _httpx_follow_relative_redirects_with_backoff follows it.
  The CDN: HEAD/GET of a signed URL serves the blob (200, 206, 416) with
    ETag "MD5" (an S3 object's, not the sha256: trust X-Linked-Etag and the
    tree), Content-Disposition from the signed query; a missing or bad
    signature or an expired URL: 403 with an AccessDenied XML body. It never
    looks at Authorization.
  Errors, as hf_raise_for_status and createApiError read them: a JSON body
  {"error": MSG}, X-Error-Code and X-Error-Message:
    unknown repo: 401 RepoNotFound without a valid token, 404 with one (the
      hub does not tell an anonymous client whether a repo exists)
    gated repo (--gated ORG/NAME, datasets/ORG/NAME), resolve without "Authorization: Bearer TOKEN":
      401 GatedRepo; with another token: 401 "Invalid credentials in
      Authorization header" (its metadata, tree and refs stay public)
    unknown revision: 404 RevisionNotFound; unknown path: 404 EntryNotFound
      (resolve: with X-Repo-Commit, which huggingface_hub caches in
      .no_exist); anything else: 404 without a code.

Knobs for misbehaviour (--mode, may be repeated):
  corrupt:PATH       the bytes of the files whose repo path is PATH or ends
                     with /PATH (every 4096th byte, from the first, XORed
                     with 0xff) differ from the metadata, which stays right
  down-after:BYTES   once both listeners together have sent BYTES body bytes,
                     the answer under way is cut there, the listeners close
                     (new connections are refused), every open connection is
                     closed; after --down-for seconds (5) they listen again on
                     the same ports. Once.
  move-main-after:N  after the Nth resolve request, the main branch of every
                     repo moves to its next commit (if it has one). Once.
--rate BYTES caps the body bytes a second over all connections of both
listeners together (the upstream's bandwidth, for benchmarks).

--log gets one JSON object a line: for each answer t, listener ("hub" or
"cdn"), method, path, query, range, auth (the Authorization header or null),
host, status, bytes (body bytes sent), mode (corrupt, down, badsig, expired,
or null), commit (the commit a request resolved to, or null); events have
"event": "down", "up", "main-moved" (repo, from, to), "tls-error" (error),
and at exit "egress". --egress-file holds {"hub": N, "cdn": N, "total": N},
the body bytes each listener sent, rewritten every 0.25 s and at exit.
"""
import argparse, base64, datetime, hashlib, hmac, http.server, json, os
import re, secrets, signal, socket, ssl, sys, threading, time, urllib.parse

LFS_SUFFIXES = (".safetensors", ".bin")
LFS_MIN_SIZE = 10 * 1024 * 1024
EPOCH0, COMMIT_STEP = 1700000000, 3600
AUTHOR = "fake-hub <fake-hub@127.0.0.1>"
CHUNK = 65536
MAX_POST = 1 << 20
EXPAND_PAGE = 50
MODES = ("corrupt", "down-after", "move-main-after")


class RepoError(Exception):
    """A --repos tree the fake hub cannot serve."""


def git_id(kind, body):
    return hashlib.sha1(f"{kind} {len(body)}\0".encode() + body).hexdigest()


def iso(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Blob:
    """One file's bytes and the ids the hub gives them."""

    def __init__(self, file, cache):
        st = os.stat(file)
        key = (os.path.realpath(file), st.st_size, st.st_mtime_ns)
        if key not in cache:
            s256, md5 = hashlib.sha256(), hashlib.md5()
            s1 = hashlib.sha1(f"blob {st.st_size}\0".encode())
            with open(file, "rb") as f:
                while chunk := f.read(1 << 20):
                    s256.update(chunk)
                    md5.update(chunk)
                    s1.update(chunk)
            cache[key] = (s256.hexdigest(), md5.hexdigest(), s1.hexdigest())
        self.file, self.size = file, st.st_size
        self.sha256, self.md5, sha1 = cache[key]
        name = os.path.basename(file)
        self.lfs = name.endswith(LFS_SUFFIXES) or self.size >= LFS_MIN_SIZE
        if self.lfs:
            pointer = (f"version https://git-lfs.github.com/spec/v1\n"
                       f"oid sha256:{self.sha256}\nsize {self.size}\n").encode()
            self.pointer_size = len(pointer)
            self.oid = git_id("blob", pointer)
            self.xet = hashlib.sha256(
                b"xet\0" + bytes.fromhex(self.sha256)).hexdigest()
        else:
            self.oid = sha1


class Commit:
    """The files of one commit directory, with git ids."""

    def __init__(self, label, place, parent, root, cache):
        self.label, self.parent = label, parent
        self.time = EPOCH0 + COMMIT_STEP * place
        self.title = f"commit {label}"
        self.files = {}         # path -> Blob
        for top, dirs, names in os.walk(root, followlinks=True):
            dirs.sort()
            for n in sorted(names):
                full = os.path.join(top, n)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                if os.path.isfile(full):
                    self.files[rel] = Blob(full, cache)
        if not self.files:
            raise RepoError(f"commit directory '{root}' holds no file")
        self.trees = {}         # directory path ("" for the root) -> tree id
        self.tree = self.make_tree("")
        body = f"tree {self.tree}\n"
        if parent:
            body += f"parent {parent.sha}\n"
        body += (f"author {AUTHOR} {self.time} +0000\n"
                 f"committer {AUTHOR} {self.time} +0000\n\n{self.title}\n")
        self.sha = git_id("commit", body.encode())
        self.last = {}          # path -> the Commit that last changed it
        for p, oid in list(self.files.items()) + list(self.trees.items()):
            oid = getattr(oid, "oid", oid)
            prev = parent and (parent.files.get(p) or parent.trees.get(p))
            same = prev is not None and getattr(prev, "oid", prev) == oid
            self.last[p] = parent.last[p] if same else self

    def children(self, d):
        """(directories, files) directly under directory d, sorted."""
        pre = d + "/" if d else ""
        dirs, files = set(), []
        for p in self.files:
            if p.startswith(pre):
                rest = p[len(pre):]
                if "/" in rest:
                    dirs.add(pre + rest.split("/", 1)[0])
                else:
                    files.append(p)
        return sorted(dirs), sorted(files)

    def make_tree(self, d):
        dirs, files = self.children(d)
        entries = [(p.rsplit("/", 1)[-1] + "/", b"40000", self.make_tree(p))
                   for p in dirs]
        entries += [(p.rsplit("/", 1)[-1], b"100644", self.files[p].oid)
                    for p in files]
        entries.sort(key=lambda e: e[0].encode())     # git's order
        body = b"".join(mode + b" " + name.rstrip("/").encode() + b"\0" +
                        bytes.fromhex(oid) for name, mode, oid in entries)
        self.trees[d] = git_id("tree", body)
        return self.trees[d]

    def walk(self, d, recursive):
        """The paths under directory d, directories first at each level."""
        dirs, files = self.children(d)
        for p in dirs:
            yield p
            if recursive:
                yield from self.walk(p, True)
        yield from files


class Repo:
    def __init__(self, kind, rid, root, cache):
        self.kind, self.id = kind, rid
        labels = [n for n in os.listdir(root)
                  if os.path.isdir(os.path.join(root, n))]
        bad = [n for n in labels if not n.isdigit()]
        if bad or not labels:
            raise RepoError(f"repo '{root}': commit directories must be "
                            f"named by numbers, found {sorted(bad) or 'none'}")
        self.commits, parent = [], None
        for place, label in enumerate(sorted(labels, key=int), 1):
            parent = Commit(label, place, parent, os.path.join(root, label),
                            cache)
            self.commits.append(parent)
        by_label = {c.label: c for c in self.commits}
        refs = {"branches": {"main": self.commits[-1].label}, "tags": {}}
        rfile = os.path.join(root, "refs.json")
        if os.path.exists(rfile):
            try:
                with open(rfile, encoding="utf-8") as f:
                    refs = json.load(f)
                refs = {k: dict(refs.get(k, {})) for k in ("branches", "tags")}
            except (ValueError, TypeError, AttributeError) as e:
                raise RepoError(f"'{rfile}': not a refs file: {e}")
        self.branches, self.tags = {}, {}
        for kind_, table in (("branches", self.branches), ("tags", self.tags)):
            for name, label in refs[kind_].items():
                if str(label) not in by_label:
                    raise RepoError(f"'{rfile}': {name} names no commit "
                                    f"directory '{label}'")
                table[name] = by_label[str(label)]
        self.gated = False
        key = hashlib.sha256(f"{kind}s/{rid}".encode()).hexdigest()
        self.cdn_key = f"{key[:2]}/{key[2:4]}/{key}"
        self.oid = hashlib.sha1(f"{kind}s/{rid}".encode()).hexdigest()[:24]

    def revision(self, rev):
        """The Commit REV names, or None."""
        for pre, table in (("refs/heads/", self.branches),
                           ("refs/tags/", self.tags)):
            if rev.startswith(pre) and rev[len(pre):] in table:
                return table[rev[len(pre):]]
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tags:
            return self.tags[rev]
        return next((c for c in self.commits if c.sha == rev), None)


def load_repos(top):
    repos, cache = {}, {}
    if not os.path.isdir(top):
        raise RepoError(f"--repos '{top}' is not a directory")
    for org in sorted(os.listdir(top)):
        if not os.path.isdir(os.path.join(top, org)):
            continue
        kind = "dataset" if org == "datasets" else "model"
        base = os.path.join(top, org) if kind == "dataset" else top
        orgs = sorted(os.listdir(base)) if kind == "dataset" else [org]
        for o in orgs:
            if not os.path.isdir(os.path.join(base, o)):
                continue
            for name in sorted(os.listdir(os.path.join(base, o))):
                root = os.path.join(base, o, name)
                if os.path.isdir(root):
                    repos[(kind, f"{o}/{name}")] = Repo(kind, f"{o}/{name}",
                                                        root, cache)
    if not repos:
        raise RepoError(f"--repos '{top}' holds no repo (ORG/NAME/1/...)")
    return repos


class Down(Exception):
    """The upstream went down in the middle of an answer."""


class Hub:
    """State shared by the listeners."""

    def __init__(self, args, repos):
        self.args, self.repos = args, repos
        for g in args.gated or []:
            key = ("dataset", g[len("datasets/"):]) \
                if g.startswith("datasets/") else ("model", g)
            if key not in repos:
                raise RepoError(f"--gated '{g}': no such repo")
            repos[key].gated = True
        self.renamed = {}
        for r in args.renamed or []:
            old, sep, new = r.partition("=")
            kind = "dataset" if old.startswith("datasets/") else "model"
            if kind == "dataset":
                old = old[len("datasets/"):]
            if not sep or old.count("/") != 1 or new.count("/") != 1:
                raise RepoError(f"--renamed '{r}': not [datasets/]ORG/OLD="
                                "ORG/NEW")
            self.renamed[(kind, old)] = new
        self.modes = {}
        for m in args.mode or []:
            name, _, arg = m.partition(":")
            if name not in MODES or not arg or \
                    (name != "corrupt" and not arg.isdigit()):
                raise RepoError(f"--mode '{m}': not one of corrupt:PATH, "
                                "down-after:BYTES, move-main-after:N")
            self.modes.setdefault(name, []).append(arg)
        self.corrupt_paths = self.modes.get("corrupt", [])
        self.corrupt = {b.sha256 for r in repos.values() for c in r.commits
                        for p, b in c.files.items() if self.is_corrupt(p)}
        self.blobs = {}         # sha256 -> Blob, for the CDN
        for r in repos.values():
            for c in r.commits:
                for b in c.files.values():
                    if b.lfs:
                        self.blobs.setdefault(b.sha256, b)
        self.key = secrets.token_bytes(32)
        self.lock = threading.Lock()
        self.log_file = open(args.log, "a", encoding="utf-8")
        self.egress = {"hub": 0, "cdn": 0}
        self.down_after = int(self.modes["down-after"][0]) \
            if "down-after" in self.modes else None
        self.down_event = threading.Event()
        self.move_after = int(self.modes["move-main-after"][0]) \
            if "move-main-after" in self.modes else None
        self.resolves = 0
        self.rate_next = 0.0
        self.listeners = None   # set by main: the Listeners

    def is_corrupt(self, path):
        return any(path == p or path.endswith("/" + p)
                   for p in self.corrupt_paths)

    def sign(self, path, exp, disp):
        msg = f"{path}\n{exp}\n{disp}".encode("utf-8", "surrogateescape")
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()

    def log(self, entry):
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def allow(self, listener, n):
        """How many of n body bytes may go out now (pacing them to --rate);
        fewer than n when the upstream goes down with them."""
        rate = self.args.rate
        with self.lock:
            if self.down_after is not None:
                total = self.egress["hub"] + self.egress["cdn"]
                if total + n >= self.down_after:
                    n = max(0, self.down_after - total)
                    self.down_after = None
                    threading.Thread(target=self.listeners.go_down,
                                     daemon=True).start()
                    self.egress[listener] += n
                    return n, True
            self.egress[listener] += n
            if rate:
                now = time.monotonic()
                start = max(now, self.rate_next)
                self.rate_next = start + n / rate
        if rate and start > now:
            time.sleep(start - now)
        return n, False

    def count_resolve(self):
        """Counts a resolve request; moves main after the Nth."""
        with self.lock:
            self.resolves += 1
            if self.move_after is None or self.resolves <= self.move_after:
                return
            self.move_after = None
            moved = []
            for r in self.repos.values():
                cur = r.branches.get("main")
                if cur is not None and cur is not r.commits[-1]:
                    nxt = r.commits[r.commits.index(cur) + 1]
                    r.branches["main"] = nxt
                    moved.append((r.id, cur.sha, nxt.sha))
        for rid, a, b in moved:
            self.log({"t": time.time(), "event": "main-moved", "repo": rid,
                      "from": a, "to": b})

    def write_egress(self):
        if not self.args.egress_file:
            return
        with self.lock:
            e = dict(self.egress)
        e["total"] = e["hub"] + e["cdn"]
        tmp = f"{self.args.egress_file}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(e, f, sort_keys=True)
            f.write("\n")
        os.replace(tmp, self.args.egress_file)


class HubError(Exception):
    """An answer of the hub's error kind."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


def truthy(v):
    return str(v).lower() in ("1", "true", "yes")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hub/1"
    timeout = 60

    def version_string(self):
        return self.server_version

    def log_message(self, *a):  # the JSON log is the only request log
        pass

    def setup(self):
        hub = self.server.hub
        with hub.lock:
            hub.listeners.conns.add(self.request)
        ctx = self.server.ssl_ctx
        if ctx:
            try:
                self.request.settimeout(10)
                raw = self.request
                self.request = ctx.wrap_socket(raw, server_side=True)
                with hub.lock:
                    hub.listeners.conns.discard(raw)
                    hub.listeners.conns.add(self.request)
            except OSError as e:
                with hub.lock:
                    hub.listeners.conns.discard(raw)
                hub.log({"t": time.time(), "event": "tls-error",
                         "listener": self.server.listener, "error": str(e)})
                raise
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.hub.lock:
                self.server.hub.listeners.conns.discard(self.request)
            try:
                self.request.close()
            except OSError:
                pass

    # --- plumbing ---------------------------------------------------------

    def handle_one(self):
        hub = self.server.hub
        self.sent, self.status, self.mode, self.commit = 0, None, None, None
        raw, _, self.query = self.path.partition("?")
        self.raw_path = raw
        self.params = urllib.parse.parse_qs(self.query, keep_blank_values=True)
        try:
            self.body = b""
            if self.command == "POST":
                n = int(self.headers.get("Content-Length") or 0)
                if n > MAX_POST:
                    self.close_connection = True
                    raise HubError(413, None, "Payload too large")
                self.body = self.rfile.read(n)
            if self.server.listener == "cdn":
                self.cdn()
            else:
                self.route(raw)
        except HubError as e:
            self.error(e)
        except Down:
            self.mode = "down"
            self.close_connection = True
            hub.down_event.wait(10)     # the listeners are closed by then
        except OSError:     # the client went away, or a write timed out
            self.close_connection = True
        finally:
            hub.log({"t": time.time(), "listener": self.server.listener,
                     "method": self.command, "path": raw, "query": self.query,
                     "range": self.headers.get("Range"),
                     "auth": self.headers.get("Authorization"),
                     "host": self.headers.get("Host"), "status": self.status,
                     "bytes": self.sent, "mode": self.mode,
                     "commit": self.commit})

    do_GET = do_HEAD = do_POST = handle_one

    def start(self, code, headers):
        self.send_response(code)
        self.status = code
        self.send_header("X-Request-Id", "Root=1-" + secrets.token_hex(12))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def send_body(self, data):
        """Writes body bytes (not for HEAD), counted, paced, maybe cut."""
        if self.command == "HEAD":
            return
        hub, listener = self.server.hub, self.server.listener
        step = 16384 if hub.args.rate else CHUNK
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            n, down = hub.allow(listener, len(piece))
            self.wfile.write(piece[:n])
            self.sent += n
            if down:
                raise Down()

    def reply(self, code, body=b"", ctype="text/plain; charset=utf-8",
              headers=None):
        h = dict(headers or {})
        h["Content-Type"] = ctype
        h["Content-Length"] = str(len(body))
        self.start(code, h)
        self.send_body(body)

    def reply_json(self, obj, headers=None):
        body = json.dumps(obj).encode()
        self.reply(200, body, "application/json; charset=utf-8", headers)

    def error(self, e):
        h = dict(e.headers)
        if e.code:
            h["X-Error-Code"] = e.code
        h["X-Error-Message"] = str(e)
        self.reply(e.status, json.dumps({"error": str(e)}).encode(),
                   "application/json; charset=utf-8", h)

    def base_url(self):
        scheme = "https" if self.server.ssl_ctx else "http"
        host = self.headers.get("Host") or \
            f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        return f"{scheme}://{host}"

    def cdn_url(self):
        lst = self.server.hub.listeners
        scheme = "https" if self.server.ssl_ctx else "http"
        return f"{scheme}://{lst.cdn_host}:{lst.ports['cdn']}"

    def token_ok(self):
        tok = self.server.hub.args.token
        return tok is not None and \
            self.headers.get("Authorization") == f"Bearer {tok}"

    # --- the hub ----------------------------------------------------------

    def route(self, raw):
        parts = [urllib.parse.unquote(p) for p in raw.split("/")[1:]]
        if any(p in ("", ".", "..") for p in parts[:-1]) or \
                parts[-1:] in ([".."], ["."]):
            raise HubError(400, None, "Invalid path")
        if parts[:1] == ["api"] and parts[1:2] in (["models"], ["datasets"]) \
                and len(parts) >= 4:
            kind = parts[1][:-1]
            rid, rest = "/".join(parts[2:4]), parts[4:]
            if self.redirect_renamed(raw, kind, rid, 4):
                return
            return self.api(self.repo(kind, rid), rest)
        kind, off = ("dataset", 1) if parts[:1] == ["datasets"] else \
            ("model", 0)
        if len(parts) >= off + 5 and parts[off + 2] == "resolve":
            rid = "/".join(parts[off:off + 2])
            if self.redirect_renamed(raw, kind, rid, off + 2):
                return
            return self.resolve(self.repo(kind, rid), parts[off + 3:])
        raise HubError(404, None, "Not Found")

    def redirect_renamed(self, raw, kind, rid, n):
        new = self.server.hub.renamed.get((kind, rid))
        if new is None:
            return False
        segs = raw.split("/")
        loc = "/".join(segs[:n - 1] + [new] + segs[n + 1:])
        if self.query:
            loc += "?" + self.query
        self.reply(307, f"Temporary Redirect. Redirecting to {loc}".encode(),
                   headers={"Location": loc})
        return True

    def repo(self, kind, rid):
        r = self.server.hub.repos.get((kind, rid))
        if r is None:
            if self.token_ok():
                raise HubError(404, "RepoNotFound", "Repository not found")
            raise HubError(401, "RepoNotFound", "Invalid username or password.")
        return r

    def split_rev(self, repo, parts):
        """(Commit, the parts after the revision); the revision may span
        several parts (refs/tags/v1 sent unencoded)."""
        for i in range(1, len(parts) + 1):
            c = repo.revision("/".join(parts[:i]))
            if c is not None:
                self.commit = c.sha
                return c, parts[i:]
        raise HubError(404, "RevisionNotFound",
                       f"Invalid rev id: {parts[0] if parts else ''}")

    def api(self, repo, rest):
        what = rest[0] if rest else ""
        if what == "" and self.command != "POST":
            return self.info(repo, repo.revision("main") or repo.commits[-1])
        if what == "revision" and len(rest) >= 2 and self.command != "POST":
            c, more = self.split_rev(repo, rest[1:])
            if not more:
                return self.info(repo, c)
        elif what == "tree" and len(rest) >= 2 and self.command != "POST":
            c, more = self.split_rev(repo, rest[1:])
            return self.tree(repo, c, "/".join(more))
        elif what == "paths-info" and len(rest) >= 2 and self.command == "POST":
            c, more = self.split_rev(repo, rest[1:])
            if not more:
                return self.paths_info(repo, c)
        elif what == "refs" and len(rest) == 1 and self.command != "POST":
            return self.refs(repo)
        raise HubError(404, None, "Not Found")

    def info(self, repo, c):
        blobs = truthy(self.params.get("blobs", ["0"])[0])
        sibs = []
        for p in sorted(c.files):
            b, s = c.files[p], {"rfilename": p}
            if blobs:
                s.update(size=b.size, blobId=b.oid)
                if b.lfs:
                    s["lfs"] = {"sha256": b.sha256, "size": b.size,
                                "pointerSize": b.pointer_size}
            sibs.append(s)
        d = {"_id": repo.oid, "id": repo.id, "author": repo.id.split("/")[0],
             "sha": c.sha, "lastModified": iso(c.time),
             "createdAt": iso(repo.commits[0].time), "private": False,
             "gated": "manual" if repo.gated else False, "disabled": False,
             "downloads": 0, "likes": 0, "tags": [], "siblings": sibs,
             "usedStorage": sum({b.oid: b.size
                                 for b in c.files.values()}.values())}
        if repo.kind == "model":
            d["modelId"] = repo.id
        expand = self.params.get("expand") or self.params.get("expand[]")
        if expand:
            d = {k: v for k, v in d.items()
                 if k in ("_id", "id") or k in expand}
        self.reply_json(d)

    def entry(self, c, p, expand):
        if p in c.files:
            b = c.files[p]
            e = {"type": "file", "oid": b.oid, "size": b.size, "path": p}
            if b.lfs:
                e["lfs"] = {"oid": b.sha256, "size": b.size,
                            "pointerSize": b.pointer_size}
                if not self.server.hub.args.no_xet:
                    e["xetHash"] = b.xet
        else:
            e = {"type": "directory", "oid": c.trees[p], "size": 0, "path": p}
        if expand:
            lc = c.last[p]
            e["lastCommit"] = {"id": lc.sha, "title": lc.title,
                               "date": iso(lc.time)}
            if e["type"] == "file":
                e["securityFileStatus"] = {"status": "safe"}
        return e

    def tree(self, repo, c, path):
        if path and path not in c.trees:
            raise HubError(404, "EntryNotFound",
                           f"{path} does not exist on \"{c.sha}\"")
        recursive = truthy(self.params.get("recursive", ["0"])[0])
        expand = truthy(self.params.get("expand", ["0"])[0])
        size = self.server.hub.args.page_size
        if expand:
            size = min(size, EXPAND_PAGE)
        paths = list(c.walk(path, recursive))
        try:
            cur = self.params.get("cursor", [""])[0]
            off = int(base64.urlsafe_b64decode(cur.encode()).decode()) \
                if cur else 0
        except ValueError:
            raise HubError(400, None, "Invalid cursor")
        page = [self.entry(c, p, expand) for p in paths[off:off + size]]
        h = {}
        if off + size < len(paths):
            q = dict(self.params)
            q["cursor"] = [base64.urlsafe_b64encode(
                str(off + size).encode()).decode()]
            nxt = (f"{self.base_url()}{self.raw_path}?"
                   f"{urllib.parse.urlencode(q, doseq=True)}")
            h["Link"] = f'<{nxt}>; rel="next"'
        self.reply_json(page, h)

    def paths_info(self, repo, c):
        body = self.body.decode("utf-8", "replace")
        if (self.headers.get("Content-Type") or "").startswith(
                "application/json"):
            try:
                q = json.loads(body)
                paths, expand = q.get("paths", []), q.get("expand", False)
            except (ValueError, AttributeError):
                raise HubError(400, None, "Invalid JSON body")
        else:
            q = urllib.parse.parse_qs(body)
            paths, expand = q.get("paths", []), q.get("expand", ["0"])[0]
        if not isinstance(paths, list):
            paths = [paths]
        out = [self.entry(c, p, truthy(expand)) for p in paths
               if isinstance(p, str) and (p in c.files or p in c.trees)]
        self.reply_json(out)

    def refs(self, repo):
        def refs_of(table, pre):
            return [{"name": n, "ref": pre + n, "targetCommit": c.sha}
                    for n, c in sorted(table.items())]
        d = {"branches": refs_of(repo.branches, "refs/heads/"),
             "converts": [], "tags": refs_of(repo.tags, "refs/tags/")}
        if truthy(self.params.get("include_prs", ["0"])[0]):
            d["pullRequests"] = []
        self.reply_json(d)

    def resolve(self, repo, rest):
        hub = self.server.hub
        if self.command == "POST":
            raise HubError(404, None, "Not Found")
        hub.count_resolve()
        if repo.gated and not self.token_ok():
            if self.headers.get("Authorization"):
                raise HubError(401, None,
                               "Invalid credentials in Authorization header")
            raise HubError(401, "GatedRepo",
                           f"Access to {repo.kind} {repo.id} is restricted. "
                           "You must have access to it and be authenticated "
                           "to access it. Please log in.")
        c, more = self.split_rev(repo, rest)
        path = "/".join(more)
        b = c.files.get(path)
        if b is None:
            raise HubError(404, "EntryNotFound", "Entry not found",
                           {"X-Repo-Commit": c.sha})
        name = path.rsplit("/", 1)[-1]
        disp = (f"inline; filename*=UTF-8''{urllib.parse.quote(name)}; "
                f"filename=\"{name}\";")
        h = {"X-Repo-Commit": c.sha, "Accept-Ranges": "bytes",
             "Content-Disposition": disp, "Vary": "Origin, Accept",
             "Access-Control-Expose-Headers": "X-Repo-Commit, X-Request-Id, "
             "X-Error-Code, X-Error-Message, X-Total-Count, ETag, Link, "
             "Accept-Ranges, Content-Range, X-Linked-Size, X-Linked-ETag, "
             "X-Xet-Hash"}
        if not b.lfs:
            h["ETag"] = f'"{b.oid}"'
            return self.serve(b, h, hub.is_corrupt(path))
        exp = int(time.time()) + hub.args.url_ttl
        cpath = f"/repos/{repo.cdn_key}/{b.sha256}"
        sig = hub.sign(cpath, exp, disp)
        q = urllib.parse.urlencode({"response-content-disposition": disp,
                                    "Expires": exp, "Signature": sig,
                                    "Key-Pair-Id": "fake-hub"})
        loc = f"{self.cdn_url()}{cpath}?{q}"
        h.update({"Location": loc, "X-Linked-Size": str(b.size),
                  "X-Linked-Etag": f'"{b.sha256}"', "ETag": f'"{b.sha256}"'})
        if not hub.args.no_xet:
            base = repo.kind + "s/" + repo.id
            h["X-Xet-Hash"] = b.xet
            h["Link"] = (f"<{self.base_url()}/api/{base}/xet-read-token/"
                         f"{c.sha}>; rel=\"xet-auth\", <{self.cdn_url()}/"
                         f"reconstruction/{b.xet}>; "
                         "rel=\"xet-reconstruction-info\"")
        self.reply(302, f"Found. Redirecting to {loc}".encode(), headers=h)

    # --- the CDN ----------------------------------------------------------

    def cdn(self):
        hub = self.server.hub
        q = {k: v[0] for k, v in self.params.items()}
        m = re.fullmatch(r"/repos/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}/"
                         r"([0-9a-f]{64})", self.raw_path)
        exp, sig = q.get("Expires", ""), q.get("Signature", "")
        disp = q.get("response-content-disposition", "")
        if not (m and exp.isdigit() and hmac.compare_digest(
                sig, hub.sign(self.raw_path, int(exp), disp))):
            self.mode = "badsig"
            return self.denied("Access denied")
        if int(exp) < time.time():
            self.mode = "expired"
            return self.denied("Request has expired")
        b = hub.blobs.get(m.group(1))
        if b is None:
            return self.reply(404, b"Not Found\n")
        self.serve(b, {"ETag": f'"{b.md5}"', "Accept-Ranges": "bytes",
                       "Content-Disposition": disp,
                       "Last-Modified": self.date_time_string(EPOCH0)},
                   b.sha256 in hub.corrupt)

    def denied(self, why):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
                f"AccessDenied</Code><Message>{why}</Message></Error>")
        self.reply(403, body.encode(), "text/xml")

    # --- bytes ------------------------------------------------------------

    def parse_range(self, size):
        """(start, end) inclusive, None for no (usable) range, or "416"."""
        m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*",
                         self.headers.get("Range") or "")
        if not m or m.group(1) == m.group(2) == "":
            return None
        if m.group(1) == "":
            n = int(m.group(2))
            return (max(0, size - n), size - 1) if n and size else "416"
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if m.group(2) and end < start:
            return None         # invalid: ignored, as RFC 9110 says
        return (start, min(end, size - 1)) if start < size else "416"

    def serve(self, b, headers, corrupt):
        rng = self.parse_range(b.size)
        if rng == "416":
            return self.reply(416, b"Range Not Satisfiable\n",
                              headers={"Content-Range": f"bytes */{b.size}"})
        start, end = rng or (0, b.size - 1)
        h = dict(headers)
        if rng:
            h["Content-Range"] = f"bytes {start}-{end}/{b.size}"
        h["Content-Type"] = "application/octet-stream"
        h["Content-Length"] = str(end - start + 1)
        self.start(206 if rng else 200, h)
        if corrupt:
            self.mode = "corrupt"
        with open(b.file, "rb") as f:
            f.seek(start)
            pos, todo = start, end - start + 1
            while todo > 0:
                chunk = f.read(min(CHUNK, todo))
                if not chunk:   # the file shrank under us: pad, as promised
                    chunk = bytes(min(CHUNK, todo))
                if corrupt:
                    c = bytearray(chunk)
                    for i in range(-pos % 4096, len(c), 4096):
                        c[i] ^= 0xff
                    chunk = bytes(c)
                self.send_body(chunk)
                pos += len(chunk)
                todo -= len(chunk)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub, listener, host, port, ssl_ctx):
        self.hub, self.listener, self.ssl_ctx = hub, listener, ssl_ctx
        self.address_family = socket.AF_INET6 if ":" in host else \
            socket.AF_INET
        super().__init__((host, port), Handler)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Listeners:
    """The hub's and the CDN's listeners, which the down mode closes and
    opens again on the same ports."""

    def __init__(self, hub, args, ssl_ctx):
        self.hub, self.args, self.ssl_ctx = hub, args, ssl_ctx
        self.hosts = {"hub": args.bind, "cdn": args.cdn_bind}
        self.cdn_host = f"[{args.cdn_bind}]" if ":" in args.cdn_bind \
            else args.cdn_bind
        self.ports = {"hub": 0, "cdn": 0}
        self.conns = set()
        self.servers = {}
        self.stopping = threading.Event()
        hub.listeners = self
        self.open()

    def open(self):
        for name in ("hub", "cdn"):
            s = Server(self.hub, name, self.hosts[name], self.ports[name],
                       self.ssl_ctx)
            self.ports[name] = s.server_address[1]
            self.servers[name] = s
            threading.Thread(target=s.serve_forever, args=(0.05,),
                             daemon=True).start()

    def close(self):
        for s in self.servers.values():
            s.shutdown()
            s.server_close()
        self.servers = {}

    def go_down(self):
        hub = self.hub
        hub.log({"t": time.time(), "event": "down"})
        self.close()
        with hub.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        hub.down_event.set()
        if self.stopping.wait(self.args.down_for):
            return
        self.open()
        hub.log({"t": time.time(), "event": "up"})


def main():
    p = argparse.ArgumentParser(description="a stand-in for the Hugging "
                                "Face hub (see the top of this file)")
    p.add_argument("--repos", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--cdn-bind", default="127.0.0.2")
    p.add_argument("--egress-file")
    p.add_argument("--token")
    p.add_argument("--gated", action="append")
    p.add_argument("--renamed", action="append")
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--url-ttl", type=int, default=3600)
    p.add_argument("--rate", type=int, default=0,
                   help="body bytes a second over all connections (0: no cap)")
    p.add_argument("--no-xet", action="store_true")
    p.add_argument("--mode", action="append")
    p.add_argument("--down-for", type=float, default=5.0)
    args = p.parse_args()
    if (args.cert is None) != (args.key is None):
        p.error("--cert and --key go together")
    if args.page_size < 1:
        p.error("--page-size must be at least 1")
    try:
        hub = Hub(args, load_repos(args.repos))
    except (RepoError, OSError) as e:
        print(f"fake-hub: {e}", file=sys.stderr)
        return 2
    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
    lst = Listeners(hub, args, ctx)

    signal.signal(signal.SIGTERM, lambda *_: lst.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: lst.stopping.set())
    tmp = f"{args.port_file}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{lst.ports['hub']}\n{lst.ports['cdn']}\n")
    hub.write_egress()
    os.replace(tmp, args.port_file)
    while not lst.stopping.wait(0.25):
        hub.write_egress()
    lst.close()
    hub.write_egress()
    with hub.lock:
        e = dict(hub.egress)
    hub.log({"t": time.time(), "event": "egress", **e})
    return 0


if __name__ == "__main__":
    sys.exit(main())
