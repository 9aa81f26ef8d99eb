#!/bin/sh
test_description='following a bridge: daemons whose index is bridging a repo take its bytes
from that daemon (or from each other) as they come, check every file against the hub
themselves, and the hub sends the repo once; a relay that sends wrong bytes is caught,
one that is gone is left;
a lab release of a commit bridged before its key was pinned must agree with the bridged one'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-services.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"
. "$TEST_DIRECTORY/lib-bridge.sh"

FOLLOWERS="3 4 5 6 7 8"

# follower K INDEX...: a daemon of its own (home K, hub cache K) on
# 127.0.0.K, with the hub as upstream and INDEX as its index, trusting
# the seedbox's bridge key
follower () {
	fk=$1
	shift
	bridge_home home$fk "index = $*" &&
	MODELSWARM_HOME=$PWD/home$fk modelswarm trust add --bridge seedbox \
		"$MODELSWARM_HOME/state/bridge/bridge.pub" --scope "acme/*" >/dev/null &&
	free_port >hf$fk.port &&
	HF_HUB_CACHE=$PWD/cache$fk MODELSWARM_HOME=$PWD/home$fk \
		start_daemon d$fk --hf-listen "127.0.0.$fk:$(cat hf$fk.port)"
}

R=repos/acme/flock/1

test_expect_success 'setup: a slow hub with a repo, a seedbox bridging from it, six followers' '
	test -d "$MS_ROOT/tests/node/node_modules/@huggingface/hub" &&
	test_ca_cert 127.0.0.2 &&
	gen_file $R/model.safetensors 6000000 &&
	printf "{\"model_type\": \"bert\"}\n" >$R/config.json &&
	printf "{\"tokens\": []}\n" >$R/tokenizer.json &&
	gen_file repos/acme/crooked/1/model.safetensors 3000000 &&
	printf "{}\n" >repos/acme/crooked/1/config.json &&
	gen_file repos/acme/later/1/model.safetensors 6000000 &&
	gen_file repos/acme/long/1/model.safetensors 6000000 &&
	gen_file repos/acme/gone/1/model.safetensors 1000000 &&
	printf "{}\n" >repos/acme/gone/1/config.json &&
	gen_file repos/dual/model/1/model.safetensors 300000 &&
	printf "{\"v\": 1}\n" >repos/dual/model/1/config.json &&
	gen_file repos/dual/same/1/model.safetensors 200000 &&
	printf "{\"v\": 2}\n" >repos/dual/same/1/config.json &&
	start_fake_hub hub repos --rate 1500000 &&
	H=$hub_url &&
	free_port >hf1.port &&
	cat >>"$MODELSWARM_HOME/config" <<-EOF &&
	hf-upstream = $H
	bridge-name = seedbox
	EOF
	start_daemon d1 --hf-listen "127.0.0.1:$(cat hf1.port)" &&
	d1pid=$dpid &&
	for k in $FOLLOWERS; do
		follower $k "http://127.0.0.1:$(cat hf1.port)/modelswarm/index/" || return 1
		echo $dpid >d$k.dpid
	done
'

test_expect_success 'six clients at once, each through its own daemon: the hub sends the repo once' '
	e0=$(egress) &&
	for k in $FOLLOWERS; do
		snapshot 127.0.0.$k:$(cat hf$k.port) acme/flock hfc$k >snap$k.out 2>snap$k.err &
		echo $! >snap$k.pid
	done &&
	for k in $FOLLOWERS; do
		wait $(cat snap$k.pid) || { cat snap$k.err; return 1; }
	done &&
	for k in $FOLLOWERS; do
		same_tree $R "$(sed -n "s/^SNAPSHOT //p" snap$k.out)" || return 1
	done &&
	payload=$(size $R) &&
	test $(( $(egress) - e0 )) -ge $payload &&
	test $(( $(egress) - e0 )) -le $((payload + payload / 10)) &&
	grep "acme/flock@main: no index has it: bridging it from" d1.err &&
	for k in $FOLLOWERS; do
		! grep "bridging it from" d$k.err &&
		grep "acme/flock@main: another daemon is bridging it: following it" d$k.err &&
		grep "acme/flock@[0-9a-f]*: followed; adding it" d$k.err || return 1
	done
'

test_expect_success 'the seedbox fed four followers; the others took the bytes from a follower' '
	grep -h "following it (commit" d3.err d4.err d5.err d6.err d7.err d8.err >follows &&
	test $(wc -l <follows) = 6 &&
	test $(grep -c "relay http://127.0.0.1:$(cat hf1.port)/modelswarm/relay/acme/flock/)" follows) = 4 &&
	test $(grep -c "relay http://127.0.0.[3-8]:[0-9]*/modelswarm/relay/acme/flock/)" follows) = 2 &&
	# level by level: both by the first follower that came
	test $(sed -n "s/.*relay \(http:\/\/127.0.0.[3-8]:[0-9]*\/\).*/\1/p" follows |
		sort -u | wc -l) = 1
'

test_expect_success 'each follower then holds the signed release, from its own cache' '
	for k in $FOLLOWERS; do
		MODELSWARM_HOME=$PWD/home$k modelswarm daemon ls acme/flock --json >ls$k.json &&
		grep "\"state\": *\"seeding\"" ls$k.json &&
		grep "acme/flock@[0-9a-f]*: 3 of 3 files already in the cache" d$k.err || return 1
	done
'

test_expect_success 'the relay: a file on its way, as it comes, with ranges; then nothing' '
	L=repos/acme/later/1 &&
	sha=$(sha256sum <$L/model.safetensors | cut -c1-64) &&
	relay="http://127.0.0.1:$(cat hf1.port)/modelswarm/relay/acme/later" &&
	# the metadata is answered once the bridge has read the tree
	$CURL -o later.json "http://127.0.0.1:$(cat hf1.port)/api/models/acme/later" &&
	test "$(js "d[\"id\"]" later.json)" = acme/later &&
	{ $CURL -D part.h -H "Range: bytes=1000000-" -o part.bin "$relay/$sha" & } &&
	part=$! &&
	$CURL -D whole.h -o whole.bin -w "%{time_starttransfer} %{time_total}\n" \
		"$relay/$sha" >whole.t &&
	wait $part &&
	# streamed: its first byte long before its last
	awk "{ exit !(\$1 < \$2 / 2) }" whole.t &&
	grep "^HTTP/1.1 206" part.h &&
	grep -i "^Content-Range: bytes 1000000-5999999/6000000" part.h &&
	tail -c +1000001 $L/model.safetensors | cmp - part.bin &&
	grep "^HTTP/1.1 200" whole.h &&
	cmp $L/model.safetensors whole.bin &&
	wait_for "bridged acme/later@" d1.err 30 &&
	# the bridge is over: the relay serves nothing of it any more
	test "$($CURL -o /dev/null -w "%{http_code}" "$relay/$sha")" = 404 &&
	test "$($CURL -o /dev/null -w "%{http_code}" "$relay/..%2f..%2fetc")" = 404 &&
	test "$($CURL -o /dev/null -w "%{http_code}" "$relay/%2e%2e")" = 404 &&
	test "$($CURL -o /dev/null -w "%{http_code}" \
		"http://127.0.0.1:$(cat hf1.port)/modelswarm/follow/acme/later/main")" = 404 &&
	test "$($CURL -o /dev/null -w "%{http_code}" \
		"http://127.0.0.1:$(cat hf1.port)/modelswarm/follow/acme/later/main?relay=x")" = 400 &&
	test "$($CURL -o /dev/null -w "%{http_code}" -X POST "$relay/$sha")" = 405
'

# crooked-index.py PORTFILE REAL COMMIT REPODIR MODE: a daemon index that
# says "being bridged here" and names a relay that, in MODE "lie", is its
# own and sends wrong bytes, or in MODE "gone" is a closed port; once the
# relay was used (lie) or named (gone), it passes requests on to the real
# index
cat >crooked-index.py <<'EOF'
import hashlib, http.server, json, os, sys, urllib.request, urllib.error
port_file, real, commit, repo, mode = sys.argv[1:6]
files = {}    # etag -> bytes: the LFS file (by sha256) with one byte wrong
for name in os.listdir(repo):
    data = bytearray(open(os.path.join(repo, name), "rb").read())
    if name.endswith(".safetensors"):
        etag = hashlib.sha256(data).hexdigest()
        data[len(data) // 2] ^= 0xff
    else:
        etag = hashlib.sha1(b"blob %d\0" % len(data) + bytes(data)).hexdigest()
    files[etag] = bytes(data)
state = {"sent": 0, "named": 0}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        sys.stderr.write("%s\n" % self.path)
    def send(self, code, body, ctype="application/octet-stream"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        p = self.path
        if p.startswith("/modelswarm/follow/"):
            me = "http://127.0.0.1:%d/bad/" % self.server.server_port
            if mode == "gone":
                me = "http://127.0.0.1:1/gone/"
            state["named"] += 1
            self.send(200, json.dumps({"commit": commit, "relay": me}).encode(),
                      "application/json")
        elif p.startswith("/bad/") and p[5:] in files:
            state["sent"] += 1
            self.send(200, files[p[5:]])
        elif p.startswith("/bad/"):
            self.send(404, b"")
        elif (state["sent"] if mode == "lie" else state["named"] * len(files)) < len(files):
            self.send(503, b"being bridged")
        else:
            try:
                with urllib.request.urlopen(real + p[len("/modelswarm/index"):]) as r:
                    self.send(r.status, r.read())
            except urllib.error.HTTPError as e:
                self.send(e.code, e.read())
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(port_file + ".tmp", "w").write(str(s.server_port))
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
EOF

# crooked K NAME MODE: the seedbox bridges acme/NAME (its release is what
# the follower gets in the end); crooked-index.py in MODE is the only
# index of follower K (pid in dK.dpid), which adds acme/NAME into cacheK/
# with the seedbox as its peer and seeds it
crooked () {
	$CURL -o $2.json "http://127.0.0.1:$(cat hf1.port)/api/models/acme/$2/revision/main" &&
	cc=$(js "d[\"sha\"]" $2.json) &&
	wait_for "bridged acme/$2@$cc" d1.err 30 &&
	test_bg $2 /usr/bin/python3 crooked-index.py $2.port \
		"http://127.0.0.1:$(cat hf1.port)/modelswarm/index" $cc repos/acme/$2/1 $3 &&
	ci=0 &&
	while ! test -s $2.port && test $ci -lt 100; do
		sleep 0.1
		ci=$((ci + 1))
	done &&
	follower $1 "http://127.0.0.1:$(cat $2.port)/modelswarm/index/" &&
	echo $dpid >d$1.dpid &&
	MODELSWARM_HOME=$PWD/home$1 modelswarm daemon add acme/$2 \
		--cache-dir $PWD/cache$1 --peer 127.0.0.1:$(daemon_port) >/dev/null &&
	MODELSWARM_HOME=$PWD/home$1 wait_state acme/$2 seeding 60
}

test_expect_success 'a relay that sends wrong bytes: refused and named, nothing kept; the release from peers' '
	C=repos/acme/crooked/1 &&
	sha=$(sha256sum <$C/model.safetensors | cut -c1-64) &&
	crooked 9 crooked lie &&
	grep "relay http://127.0.0.1:$(cat crooked.port)/bad/.s bytes of .model.safetensors. do not match the upstream.s metadata (sha256 $sha" d9.err &&
	grep "acme/crooked@main: following failed" d9.err &&
	cmp $C/model.safetensors cache9/models--acme--crooked/blobs/$sha &&
	! ls cache9/models--acme--crooked/blobs | grep -v "^$sha$" | grep -v "^[0-9a-f]\{40\}$"
'

test_expect_success 'a relay that is gone: the follower says so, and gets the release from peers' '
	G=repos/acme/gone/1 &&
	sha=$(sha256sum <$G/model.safetensors | cut -c1-64) &&
	crooked 10 gone gone &&
	grep "relay http://127.0.0.1:1/gone/: .* trying again (0 of" d10.err &&
	grep "acme/gone@main: following failed: relay http://127.0.0.1:1/gone/: cannot get" d10.err &&
	cmp $G/model.safetensors cache10/models--acme--gone/blobs/$sha &&
	stop_in $PWD/home10 $(cat d10.dpid)
'

# add_lab REPO REV DIR [OPTION...]: a lab release (key dual, pinned) of
# DIR as REPO@REV into labidx/ (publish's OPTIONs), a seeder for it, and
# d1 adds it into labcache/; prints the repo's id
add_lab () {
	al_repo=$1 al_rev=$2 al_dir=$3 &&
	shift 3 &&
	modelswarm publish "$al_dir" --repo "$al_repo" --rev "$al_rev" --key dual.key \
		--index labidx "$@" >/dev/null &&
	set -- "$al_repo" "$al_rev" "$al_dir" &&
	ms_seed "seed-$(basename "$3")" "labidx/$1/$2.torrent" "$3" >/dev/null &&
	modelswarm daemon add "$1@$2" --index "$PWD/labidx" --cache-dir "$PWD/labcache" \
		--peer "127.0.0.1:$seed_port" --json >add.json &&
	js "d[\"id\"]" add.json
}

test_expect_success 'a lab release of a commit bridged before its key was pinned: the two must agree' '
	P1=http://127.0.0.1:$(cat hf1.port) &&
	$CURL -o dm.json "$P1/api/models/dual/model" &&
	cm=$(js "d[\"sha\"]" dm.json) &&
	$CURL -o ds.json "$P1/api/models/dual/same" &&
	cs=$(js "d[\"sha\"]" ds.json) &&
	wait_for "bridged dual/model@$cm" d1.err 30 &&
	wait_for "bridged dual/same@$cs" d1.err 30 &&
	# now the lab pins its key and publishes the same commits: one with a
	# file that is not what the hub has, one as the hub has it
	modelswarm keygen dual --no-password >/dev/null &&
	modelswarm trust add dual dual.pub >/dev/null &&
	mkdir -p lab &&
	cp -R repos/dual/model/1 lab/model &&
	cp -R repos/dual/same/1 lab/same &&
	printf "{\"changed\": true}\n" >lab/model/config.json &&
	idm=$(add_lab dual/model $cm lab/model) &&
	# (v1 only: the same files made the same hybrid torrent as the bridge,
	# which the daemon already seeds)
	ids=$(add_lab dual/same $cs lab/same --v1-only) &&
	wait_state $ids seeding 60 &&
	! grep "dual/same@[0-9a-f]*: the releases of" d1.err &&
	wait_state $idm failed 60 &&
	kid=$(sed -n "s/^untrusted comment: minisign public key \([0-9A-F]*\)$/\1/p" dual.pub) &&
	msg="the releases of dual/model@$cm by key $kid of dual and by bridge .seedbox. (key [0-9A-F]*) disagree: .config.json. has sha256 [0-9a-f]* in one, [0-9a-f]* in the other" &&
	grep "dual/model@[0-9a-f]*: $msg" d1.err &&
	modelswarm daemon ls $idm --json >dm-ls.json &&
	js "d[0][\"error\"]" dm-ls.json >dm-err &&
	grep "$msg" dm-err
'

test_expect_success 'a file a bridge has on its way: HEAD at once, GET waits while the bytes move' '
	bridge_home home2 "stall-timeout = 2" &&
	free_port >hf2.port &&
	MODELSWARM_HOME=$PWD/home2 start_daemon d2 --hf-listen "127.0.0.1:$(cat hf2.port)" &&
	echo $dpid >d2.dpid &&
	P2=http://127.0.0.1:$(cat hf2.port) &&
	sha=$(sha256sum <repos/acme/long/1/model.safetensors | cut -c1-64) &&
	$CURL -o long.json "$P2/api/models/acme/long" &&
	c=$(js "d[\"sha\"]" long.json) &&
	$CURL -I -o head.h -w "%{time_total}\n" "$P2/acme/long/resolve/main/model.safetensors" \
		>head.t &&
	! grep "bridged acme/long@" d2.err &&
	grep "^HTTP/1.1 200" head.h &&
	grep -i "^x-linked-size: 6000000" head.h &&
	grep -i "^etag: \"$sha\"" head.h &&
	grep -i "^x-repo-commit: $c" head.h &&
	awk "{ exit !(\$1 < 1) }" head.t &&
	# longer than stall-timeout in all, but never that long without a byte
	$CURL -o long.bin -w "%{http_code} %{time_total}\n" \
		"$P2/acme/long/resolve/main/model.safetensors" >get.t &&
	cmp long.bin repos/acme/long/1/model.safetensors &&
	awk "{ exit !(\$1 == 200 && \$2 > 2) }" get.t &&
	stop_in $PWD/home2 $(cat d2.dpid)
'

test_expect_success 'stop the daemons' '
	for k in $FOLLOWERS; do
		stop_in $PWD/home$k $(cat d$k.dpid) || return 1
	done &&
	stop_in $PWD/home9 $(cat d9.dpid) &&
	stop_in "$MODELSWARM_HOME" $d1pid
'

test_done
