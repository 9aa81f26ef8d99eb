#!/bin/sh
test_description='the Hugging Face endpoint backed by the swarm: a request starts the download of a release the daemon does not hold, and a file still downloading streams as its pieces are verified, also with a corrupt peer in the swarm'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

# The release is published v1-only with a tracker, so that aria2c can be
# the corrupt peer: on 127.0.0.2, serving a copy with 4 MiB damaged
# without checking it. The honest seeder is capped at 3 MB/s, so that the
# download takes seconds and the corrupt peer surely sends bad pieces.

r1=$(fake_rev stream-1)
r3=$(fake_rev js-1)
r4=$(fake_rev tjs-1)
NODE_MODULES=$MS_ROOT/tests/node/node_modules
shard=model-00001-of-00002.safetensors

hdr () {
	tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | tail -n 1
}

status () {
	tr -d '\r' <"$1" | sed -n 's/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' | tail -n 1
}

test_expect_success 'setup: a release only peers have, an honest slow seeder, a corrupt one' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	gen_repo v1 16 &&
	modelswarm create v1 -o probe.torrent --v1-only --name $r1 >probe.out &&
	small_repo js && modelswarm create js -o probe3.torrent --name $r3 >probe3.out &&
	node "$MS_ROOT/tests/node/tiny-model.mjs" tjs &&
	modelswarm create tjs -o probe4.torrent --name $r4 >probe4.out &&
	start_opentracker $(sed -n "s/^infohash v[12]: //p" probe.out probe3.out probe4.out) &&
	mkdir index &&
	modelswarm publish v1 --repo acme/big --rev $r1 --key acme.key --index index \
		--v1-only --tracker "$tracker_url" >pub.out &&
	modelswarm publish js --repo acme/js --rev $r3 --key acme.key --index index \
		--tracker "$tracker_url" >pub3.out &&
	ms_seed seed3 index/acme/js/$r3.torrent js &&
	modelswarm publish tjs --repo acme/tjs --rev $r4 --key acme.key --index index \
		--tracker "$tracker_url" >pub4.out &&
	ms_seed seed4 index/acme/tjs/$r4.torrent tjs &&
	mkdir bad && cp -R v1 bad/$r1 &&
	head -c $((4 * 1024 * 1024)) /dev/urandom >junk &&
	dd if=junk of=bad/$r1/$shard bs=1M seek=2 conv=notrunc 2>/dev/null &&
	! cmp -s v1/$shard bad/$r1/$shard &&
	ARIA2_ADDR=127.0.0.2 start_aria2_seed corrupt index/acme/big/$r1.torrent bad \
		--bt-seed-unverified=true &&
	ms_seed seed index/acme/big/$r1.torrent v1 --upload-limit 3M &&
	free_port >hf.port &&
	# both keys: metrics once freed hf-listen
	cat >>"$MODELSWARM_HOME/config" <<-EOF &&
	index = $PWD/index
	hf-listen = $(cat hf.port)
	metrics = 127.0.0.1:0
	hf-allow = acme/big
	hf-allow = acme/b?g2
	hf-allow = acme/js
	hf-allow = acme/tjs
	EOF
	start_daemon d1 &&
	test_grep "Hugging Face endpoint at http://127.0.0.1:$(cat hf.port) " d1.err &&
	test "$(modelswarm daemon ls --json)" = "[]"
'

EP=http://127.0.0.1:$(cat hf.port 2>/dev/null)

test_expect_success 'a request starts the download; the revision API answers from the verified manifest' '
	curl -sS -m 60 -D h -o info.json $EP/api/models/acme/big/revision/main &&
	test "$(status h)" = 200 &&
	test "$(field acme/big state)" = downloading &&
	/usr/bin/python3 -c "import json,sys; o=json.load(open(\"info.json\")); print(o[\"sha\"]); print(\"\\n\".join(sorted(s[\"rfilename\"] for s in o[\"siblings\"])))" >got &&
	{ echo $r1 && ( cd v1 && find . -type f | sed "s|^\./||" | LC_ALL=C sort ); } >want &&
	test_cmp want got &&
	test_grep "acme/big@main: added" d1.err
'

test_expect_success 'HEAD of a file still downloading: every header, at once' '
	curl -sS -m 10 -I -D h -o /dev/null $EP/acme/big/resolve/main/$shard &&
	test "$(status h)" = 200 &&
	test "$(hdr h X-Repo-Commit)" = $r1 &&
	test "$(hdr h X-Linked-Size)" = $(wc -c <v1/$shard) &&
	test "$(hdr h Content-Length)" = $(wc -c <v1/$shard) &&
	test "$(hdr h ETag)" = "\"$(sha256sum <v1/$shard | cut -c1-64)\""
'

test_expect_success 'GET streams: the first bytes come while the repo downloads, every byte right' '
	curl -sS -m 120 -o got.bin -D gh $EP/acme/big/resolve/main/$shard &
	cpid=$! &&
	i=0 && while ! test -s got.bin && test $i -lt 300; do sleep 0.1; i=$((i + 1)); done &&
	test -s got.bin &&
	test "$(field acme/big state)" = downloading &&
	wait $cpid &&
	test "$(status gh)" = 200 &&
	cmp got.bin v1/$shard
'

test_expect_success 'a range of a file still downloading (its last KiB) is 206 and right' '
	curl -sS -m 120 -D h -o tail.bin -H "Range: bytes=-1024" \
		$EP/acme/big/resolve/$r1/tokenizer/tokenizer.model &&
	test "$(status h)" = 206 &&
	tail -c 1024 v1/tokenizer/tokenizer.model >want.bin &&
	cmp tail.bin want.bin
'

test_expect_success 'the corrupt peer sent bad pieces; none reached a client' '
	wait_state acme/big seeding 120 &&
	test_grep "piece [0-9]* failed the hash check\|hash check" d1.err &&
	modelswarm daemon status >st.json &&
	fails=$(sed -n "s/.*\"hash_failures\": \([0-9]*\).*/\1/p" st.json) &&
	say "hash failures: $fails" &&
	test "$fails" -gt 0 &&
	cmp got.bin v1/$shard
'

test_expect_success 'once held, the same file from its blob; every file right' '
	( cd v1 && find . -type f | sed "s|^\./||" ) >files &&
	while read -r p; do
		curl -sSf -m 30 -o one $EP/acme/big/resolve/main/$p && cmp one "v1/$p" || return 1
	done <files
'

test_expect_success 'hf-allow: a repo it does not match is not started (404, no record)' '
	curl -sS -m 10 -D h -o /dev/null $EP/api/models/acme/other/revision/main &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	test "$(field acme/other state)" = none
'

test_expect_success 'a release no index has: 404 from the failed attempt, no second attempt at once' '
	curl -sS -m 60 -D h -o /dev/null $EP/api/models/acme/big2/revision/main &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	curl -sS -m 60 -D h -o /dev/null $EP/acme/big2/resolve/main/config.json &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	test $(grep -c "acme/big2@main: added" d1.err) -eq 1 &&
	curl -sS -m 60 -D h -o /dev/null $EP/api/models/acme/big/revision/nosuchref &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RevisionNotFound
'

test_expect_success '@huggingface/hub, unmodified: snapshotDownload of a release only peers have' '
	test -d "$MS_ROOT/tests/node/node_modules/@huggingface/hub" &&
	test "$(field acme/js state)" = none &&
	NODE_PATH="$MS_ROOT/tests/node/node_modules" timeout 120 \
		node "$MS_ROOT/tests/node/hf-endpoint.mjs" $EP acme/js main jscache jsout >js.out &&
	test_grep "^snapshot jscache/models--acme--js/snapshots/$r3$" js.out &&
	( cd js && find . -type f | sed "s|^\./||" ) >jsfiles &&
	while read -r p; do
		cmp "jscache/models--acme--js/snapshots/$r3/$p" "js/$p" &&
		cmp "jsout/$p" "js/$p" || return 1
	done <jsfiles &&
	test_grep "acme/js@main: added" d1.err &&
	wait_state acme/js seeding 60
'

test_expect_success 'transformers.js, unmodified: a tokenizer and a model only peers have' '
	test "$(field acme/tjs state)" = none &&
	NODE_PATH="$NODE_MODULES" timeout 120 node "$MS_ROOT/tests/node/hf-transformers.mjs" \
		"$EP/" acme/tjs tjscache tokenizer >tok.out &&
	echo "ids 2 5 6 7 8 9 15 1 12 3" >expect &&
	test_cmp expect tok.out &&
	NODE_PATH="$NODE_MODULES" timeout 120 node "$MS_ROOT/tests/node/hf-transformers.mjs" \
		"$EP/" acme/tjs tjscache pipeline >pipe.out &&
	cat >expect <<-\EOF &&
	dims 2 4
	mean 6.5 6.4375 -0.125 0.125
	mean 7 8.8125 0 0.125
	EOF
	test_cmp expect pipe.out &&
	cmp tjscache/acme/tjs/onnx/model.onnx tjs/onnx/model.onnx &&
	test_grep "acme/tjs@main: added" d1.err
'

test_expect_success 'the daemon stops cleanly with a stream asleep' '
	gen_repo v2 8 &&
	modelswarm publish v2 --repo acme/big --rev $(fake_rev stream-2) --key acme.key \
		--index index >/dev/null &&
	curl -sS -m 30 -o /dev/null $EP/acme/big/resolve/$(fake_rev stream-2)/$shard &
	cpid=$! &&
	wait_for "stream-2\|$(fake_rev stream-2)" d1.err 30 &&
	stop_daemon &&
	! wait $cpid &&
	test_grep "shut down\|stopped\|exiting" d1.err
'

test_done
