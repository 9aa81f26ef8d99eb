#!/bin/sh
test_description='the Hugging Face endpoint: the hub API and resolve/ as huggingface_hub, @huggingface/hub and llama.cpp ask them'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

r1=$(fake_rev hf-release-1)
repo_dir=cache/models--acme--tiny

# hdr FILE NAME: the value of header NAME in a curl -D dump (last answer)
hdr () {
	tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | tail -n 1
}

# status FILE: the status code in a curl -D dump
status () {
	tr -d '\r' <"$1" | sed -n 's/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' | tail -n 1
}

# the etag a hub gives FILE of the published tree: sha256 for LFS files
# (*.bin by .gitattributes, or 10 MiB and more), else the git blob sha1
etag_of () {
	case "$1" in
	*.bin) lfs=1 ;;
	*) lfs=$(test "$(wc -c <"v1/$1")" -ge 10485760 && echo 1 || echo 0) ;;
	esac
	if test $lfs = 1; then sha256sum <"v1/$1" | cut -c1-64; else git hash-object "v1/$1"; fi
}

test_expect_success 'setup: a release the daemon holds, and a git tree of it' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo v1 && mkdir -p v1/a/b && printf "deep\n" >v1/a/b/c.txt &&
	printf "{\"x\": 1}\n" >v1/a/top.json &&
	mkdir index &&
	modelswarm publish v1 --repo acme/tiny --rev $r1 --key acme.key --index index >pub.out &&
	test_bg seed1 modelswarm seed index/acme/tiny/$r1.torrent v1 $MS_NET \
		--listen 127.0.0.1:0 &&
	wait_for "^seeding " seed1.out 60 &&
	sed -n "s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p" seed1.out | head -n1 >seed1.port &&
	free_port >hf.port &&
	start_daemon d1 --hf-listen 127.0.0.1:$(cat hf.port) &&
	test_grep "Hugging Face endpoint at http://127.0.0.1:$(cat hf.port) " d1.err &&
	modelswarm daemon add acme/tiny --index index --cache-dir cache \
		--peer 127.0.0.1:$(cat seed1.port) --json >add.json &&
	id=$(/usr/bin/python3 -c "import json; print(json.load(open(\"add.json\"))[\"id\"])") &&
	echo $id >id &&
	wait_state $id seeding 60 &&
	test_kill $(cat seed1.pid) &&
	test -f "$MODELSWARM_HOME/state/daemon/repos/$id.manifest.json" &&
	( cd v1 && find . -type f | sed "s|^\./||" | LC_ALL=C sort ) >files &&
	test $(wc -l <files) -eq 8 &&
	# the same tree in git, LFS files as their pointer files
	cp -r v1 gitrepo &&
	while read -r p; do
		e=$(etag_of "$p") &&
		if test ${#e} = 64; then
			printf "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %s\n" \
				$e $(wc -c <"v1/$p") >"gitrepo/$p" || return 1
		fi
	done <files &&
	( cd gitrepo && git init -q && git add -A && git write-tree >../tree ) &&
	git -C gitrepo rev-parse $(cat tree):model.safetensors >oid.model &&
	test "$(cat oid.model)" != "$(git hash-object v1/model.safetensors)"
'

EP=http://127.0.0.1:$(cat hf.port 2>/dev/null)

test_expect_success 'HEAD as huggingface_hub sends it: every header it needs, no redirect' '
	while read -r p; do
		curl -sS -o /dev/null -I -H "Accept-Encoding: identity" \
			-H "user-agent: huggingface_hub/1.29.0" -D h "$EP/acme/tiny/resolve/main/$p" &&
		e=$(etag_of "$p") && n=$(wc -c <"v1/$p") &&
		test "$(status h)" = 200 &&
		test "$(hdr h X-Repo-Commit)" = $r1 &&
		test "$(hdr h ETag)" = "\"$e\"" &&
		test "$(hdr h X-Linked-Etag)" = "\"$e\"" &&
		test "$(hdr h X-Linked-Size)" = $n &&
		test "$(hdr h Content-Length)" = $n &&
		test "$(hdr h Accept-Ranges)" = bytes &&
		test "$(hdr h Access-Control-Allow-Origin)" = "*" &&
		! grep -i "^content-encoding\|^location\|^x-xet\|^link" h || return 1
	done <files
'

test_expect_success 'GET: the bytes of every file, by ref and by commit' '
	while read -r p; do
		curl -sSf -o got "$EP/acme/tiny/resolve/main/$p" && cmp got "v1/$p" &&
		curl -sSf -o got "$EP/acme/tiny/resolve/$r1/$p" && cmp got "v1/$p" || return 1
	done <files &&
	curl -sSf -o got "$EP/acme/tiny/resolve/HEAD/a/b/c.txt" && cmp got v1/a/b/c.txt
'

test_expect_success 'Range: resume (a-), a-b, bytes=0-0 and a suffix are 206 with Content-Range' '
	f=v1/model.safetensors && n=$(wc -c <$f) && url=$EP/acme/tiny/resolve/main/model.safetensors &&
	head -c 5000000 $f >part &&
	curl -sS -D h -H "Range: bytes=5000000-" -o rest $url &&
	test "$(status h)" = 206 &&
	test "$(hdr h Content-Range)" = "bytes 5000000-$((n - 1))/$n" &&
	test "$(hdr h Content-Length)" = $((n - 5000000)) &&
	cat part rest >whole && cmp whole $f &&
	curl -sS -D h -H "Range: bytes=0-0" -o one $url &&
	test "$(status h)" = 206 && test "$(hdr h Content-Range)" = "bytes 0-0/$n" &&
	test "$(wc -c <one)" = 1 && cmp one $f -n 1 &&
	curl -sS -D h -H "Range: bytes=100-199" -o mid $url &&
	test "$(status h)" = 206 && test "$(hdr h Content-Range)" = "bytes 100-199/$n" &&
	tail -c +101 $f | head -c 100 | cmp - mid &&
	curl -sS -D h -H "Range: bytes=-300" -o tail $url &&
	test "$(status h)" = 206 && test "$(hdr h Content-Range)" = "bytes $((n - 300))-$((n - 1))/$n" &&
	tail -c 300 $f | cmp - tail &&
	curl -sS -I -D h -H "Range: bytes=0-0" -o /dev/null $url &&
	test "$(status h)" = 206 && test "$(hdr h Content-Length)" = 1
'

test_expect_success 'Range: unsatisfiable is 416, several spans are the whole file (200)' '
	f=v1/config.json && n=$(wc -c <$f) && url=$EP/acme/tiny/resolve/main/config.json &&
	curl -sS -D h -H "Range: bytes=$n-" -o /dev/null $url &&
	test "$(status h)" = 416 && test "$(hdr h Content-Range)" = "bytes */$n" &&
	curl -sS -D h -H "Range: bytes=-0" -o /dev/null $url && test "$(status h)" = 416 &&
	curl -sS -D h -H "Range: bytes=0-1,5-6" -o got $url &&
	test "$(status h)" = 200 && cmp got $f &&
	curl -sS -D h -H "Range: bytes=0-0" -o got $EP/acme/tiny/resolve/main/tokenizer/empty.txt &&
	test "$(status h)" = 200 && test "$(hdr h Content-Length)" = 0 && test_must_be_empty got &&
	test "$(hdr h Content-Range)" = "bytes */0"
'

test_expect_success 'errors as the hub gives them: X-Error-Code, EntryNotFound with X-Repo-Commit' '
	curl -sS -I -D h -o /dev/null $EP/acme/tiny/resolve/main/no/such.json &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = EntryNotFound &&
	test "$(hdr h X-Repo-Commit)" = $r1 && test -n "$(hdr h X-Error-Message)" &&
	curl -sS -I -D h -o /dev/null $EP/acme/tiny/resolve/$(fake_rev other)/config.json &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RevisionNotFound &&
	curl -sS -D h -o /dev/null $EP/api/models/acme/tiny/revision/v2 &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RevisionNotFound &&
	curl -sS -D h -o /dev/null $EP/acme/other/resolve/main/config.json &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	curl -sS -D h -o /dev/null $EP/api/datasets/acme/tiny &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	curl -sS -D h -o /dev/null $EP/datasets/acme/tiny/resolve/main/config.json &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	curl -sS -D h -o /dev/null -X DELETE $EP/acme/tiny/resolve/main/config.json &&
	test "$(status h)" = 405
'

test_expect_success 'revision API: id, sha, the complete siblings (by ref, commit, HEAD, none)' '
	for rev in /revision/main /revision/$r1 /revision/HEAD ""; do
		curl -sSf "$EP/api/models/acme/tiny$rev?expand=siblings" >info.json &&
		/usr/bin/python3 - "$r1" files info.json <<-\EOF || return 1
		import json, sys
		rev, files, info = sys.argv[1], open(sys.argv[2]).read().split(), json.load(open(sys.argv[3]))
		assert info["id"] == "acme/tiny" and info["sha"] == rev, info
		assert info["private"] is False and info["gated"] is False, info
		assert isinstance(info["_id"], str) and info["lastModified"].endswith("Z"), info
		assert sorted(s["rfilename"] for s in info["siblings"]) == files, info["siblings"]
		EOF
	done
'

# check_entries JSON: every entry is what git and the published files say
cat >check.py <<\EOF
import json, subprocess, sys
tree, want = sys.argv[1], sys.argv[3:]
got = json.load(open(sys.argv[2]))
def git(spec):
    return subprocess.check_output(["git", "-C", "gitrepo", "rev-parse", tree + ":" + spec]).decode().strip()
seen = []
for e in got:
    assert set(e) <= {"type", "oid", "size", "path", "lfs"}, e
    assert "xetHash" not in e
    seen.append(("d:" if e["type"] == "directory" else "") + e["path"])
    assert e["oid"] == git(e["path"]), (e, git(e["path"]))
    if e["type"] == "directory":
        assert e["size"] == 0, e
        continue
    data = open("v1/" + e["path"], "rb").read()
    assert e["size"] == len(data), e
    ptr = open("gitrepo/" + e["path"], "rb").read()
    if ptr != data:
        import hashlib
        assert e["lfs"] == {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                            "pointerSize": len(ptr)}, e
    else:
        assert "lfs" not in e, e
assert sorted(seen) == sorted(want), (sorted(seen), sorted(want))
EOF

test_expect_success 'tree: recursive=true&expand=false as snapshot_download asks, one page' '
	curl -sSf -D h "$EP/api/models/acme/tiny/tree/$r1?recursive=true&expand=false" >tree.json &&
	! grep -i "^link:" h &&
	/usr/bin/python3 check.py $(cat tree) tree.json $(cat files) d:a d:a/b d:tokenizer
'

test_expect_success 'tree: one level, a subdirectory, a missing one' '
	curl -sSf "$EP/api/models/acme/tiny/tree/main" >top.json &&
	/usr/bin/python3 check.py $(cat tree) top.json .gitattributes config.json \
		model.safetensors small.bin d:a d:tokenizer &&
	curl -sSf "$EP/api/models/acme/tiny/tree/main/a?recursive=1" >a.json &&
	/usr/bin/python3 check.py $(cat tree) a.json a/top.json a/b/c.txt d:a/b &&
	curl -sS -D h -o /dev/null "$EP/api/models/acme/tiny/tree/main/nope" &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = EntryNotFound
'

test_expect_success 'paths-info: form-encoded (huggingface_hub) and JSON (@huggingface/hub)' '
	curl -sSf -d "paths=config.json&paths=tokenizer&paths=small.bin&paths=missing&expand=true" \
		"$EP/api/models/acme/tiny/paths-info/$r1" >pi.json &&
	/usr/bin/python3 check.py $(cat tree) pi.json config.json small.bin d:tokenizer &&
	curl -sSf -H "Content-Type: application/json" \
		-d "{\"paths\": [\"a/b/c.txt\", \"model.safetensors\"], \"expand\": true}" \
		"$EP/api/models/acme/tiny/paths-info/main" >pj.json &&
	/usr/bin/python3 check.py $(cat tree) pj.json a/b/c.txt model.safetensors &&
	curl -sS -D h -o /dev/null -d "x=1" "$EP/api/models/acme/tiny/paths-info/main" &&
	test "$(status h)" = 200 &&
	curl -sS -D h -o /dev/null -H "Content-Type: application/json" -d "{" \
		"$EP/api/models/acme/tiny/paths-info/main" &&
	test "$(status h)" = 400
'

test_expect_success 'llama.cpp: refs, then the tree of the commit' '
	curl -sSf "$EP/api/models/acme/tiny/refs" >refs.json &&
	/usr/bin/python3 -c "
import json, sys
r = json.load(open(\"refs.json\"))
assert r == {\"branches\": [{\"name\": \"main\", \"ref\": \"refs/heads/main\",
	\"targetCommit\": \"$r1\"}], \"tags\": [], \"converts\": []}, r" &&
	curl -sSf "$EP/api/models/acme/tiny/tree/$r1?recursive=true" >lt.json &&
	/usr/bin/python3 check.py $(cat tree) lt.json $(cat files) d:a d:a/b d:tokenizer
'

test_expect_success 'CORS: a preflight is answered, answers expose the headers clients read' '
	curl -sS -X OPTIONS -D h -o /dev/null -H "Origin: http://example.test" \
		-H "Access-Control-Request-Method: GET" -H "Access-Control-Request-Headers: range" \
		$EP/acme/tiny/resolve/main/config.json &&
	test "$(status h)" = 204 && test "$(hdr h Access-Control-Allow-Origin)" = "*" &&
	hdr h Access-Control-Allow-Headers | grep -q "Range" &&
	curl -sS -D h -o /dev/null $EP/acme/tiny/resolve/main/config.json &&
	for x in X-Repo-Commit X-Error-Code X-Error-Message ETag Link Accept-Ranges \
		Content-Range Content-Length X-Linked-Size X-Linked-ETag; do
		hdr h Access-Control-Expose-Headers | tr -d " " | tr , "\n" | grep -qx $x || return 1
	done
'

test_expect_success '@huggingface/hub: snapshotDownload, fileDownloadInfo, downloadFile' '
	test -d "$MS_ROOT/tests/node/node_modules/@huggingface/hub" &&
	NODE_PATH="$MS_ROOT/tests/node/node_modules" timeout 120 \
		node "$MS_ROOT/tests/node/hf-endpoint.mjs" $EP acme/tiny main jscache jsout >js.out &&
	test_grep "^snapshot jscache/models--acme--tiny/snapshots/$r1$" js.out &&
	test_grep "^missing null$" js.out &&
	while read -r p; do
		e=$(etag_of "$p") && n=$(wc -c <"v1/$p") &&
		test_grep "^info $p $n \"$e\"$" js.out &&
		test_grep "^file $p $n$" js.out &&
		cmp "jsout/$p" "v1/$p" &&
		cmp "jscache/models--acme--tiny/snapshots/$r1/$p" "v1/$p" &&
		test "$(basename $(readlink "jscache/models--acme--tiny/snapshots/$r1/$p"))" = $e ||
		return 1
	done <files &&
	test "$(cat jscache/models--acme--tiny/refs/main)" = $r1
'

test_expect_success 'traversal in every part of the URL: 400 or 404, nothing outside the snapshot' '
	echo secret >"$TRASH_DIRECTORY/secret.txt" &&
	for u in "acme/tiny/resolve/main/../../../../secret.txt" \
		"acme/tiny/resolve/main/%2e%2e/%2e%2e/secret.txt" \
		"acme/tiny/resolve/main/a%2F..%2F..%2Fsecret.txt" \
		"acme/tiny/resolve/main/a/b/..%2fc.txt" \
		"acme/tiny/resolve/main/config.json%00.txt" \
		"acme/tiny/resolve/main/./config.json" \
		"acme/tiny/resolve/..%2F..%2Fmain/config.json" \
		"acme/tiny/resolve/%2e%2e/config.json" \
		"acme%2F..%2Facme/tiny/resolve/main/config.json" \
		"%2e%2e/tiny/resolve/main/config.json" \
		"acme/..%2Ftiny/resolve/main/config.json" \
		"api/models/acme/tiny/tree/main/..%2F.." \
		"api/models/acme/tiny/tree/main/%2e%2e/%2e%2e" \
		"api/models/acme/tiny/revision/..%2F..%2Fx"; do
		curl -sS --path-as-is -D h -o body "$EP/$u" &&
		s=$(status h) &&
		case "$s" in 400|404) ;; *) echo "$u: $s"; return 1 ;; esac &&
		! grep -q secret body || return 1
	done
'

test_expect_success 'oversize headers: 431, and the daemon serves on' '
	big=$(head -c 70000 /dev/zero | tr "\0" a) &&
	curl -sS -D h -o /dev/null -H "X-Big: $big" $EP/acme/tiny/resolve/main/config.json &&
	test "$(status h)" = 431 &&
	curl -sSf -o got $EP/acme/tiny/resolve/main/config.json && cmp got v1/config.json
'

test_expect_success '200 connections at once: bounded per client, others served meanwhile' '
	/usr/bin/python3 - $(cat hf.port) >conns.out <<-\EOF &&
	import socket, subprocess, sys, time
	port = int(sys.argv[1])
	socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
	time.sleep(1)
	closed = 0
	for s in socks:
	    s.setblocking(False)
	    try:
	        if s.recv(1) == b"":
	            closed += 1
	    except BlockingIOError:
	        pass
	    except ConnectionResetError:
	        closed += 1
	# another client address is served while they are open
	other = subprocess.run(["curl", "-sSf", "--interface", "127.0.0.2", "-o", "/dev/null",
	    "-w", "%{http_code}", "http://127.0.0.1:%d/acme/tiny/resolve/main/config.json" % port],
	    capture_output=True, text=True, timeout=20).stdout
	print("closed", closed, "other", other)
	for s in socks:
	    s.close()
	EOF
	cat conns.out &&
	test_grep "^closed 72 other 200$" conns.out &&
	curl -sSf -o got $EP/acme/tiny/resolve/main/config.json && cmp got v1/config.json
'

test_expect_success 'an untrusted org: 404, nothing downloaded, the daemon serves on' '
	curl -sS -D h -o /dev/null $EP/evil/model/resolve/main/config.json &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	curl -sS -D h -o /dev/null $EP/api/models/evil/model/revision/main &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	modelswarm daemon ls --json >ls.json &&
	! grep evil ls.json &&
	! test -e cache/models--evil--model &&
	curl -sSf -o got $EP/acme/tiny/resolve/main/tokenizer/tokenizer.json &&
	cmp got v1/tokenizer/tokenizer.json
'

test_expect_success 'status names the port; the daemon stops cleanly' '
	modelswarm daemon status >st.json &&
	test_grep "\"hf_port\": $(cat hf.port)" st.json &&
	stop_daemon &&
	test_must_fail curl -sS -o /dev/null $EP/api/models/acme/tiny 2>/dev/null
'

test_done
