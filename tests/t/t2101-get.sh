#!/bin/sh
test_description='get: a signed release through opentracker into a Hugging Face cache that @huggingface/hub reads'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"

r1=$(fake_rev release-1)
r2=$(fake_rev release-2)

# three shards and small files
make_repo () {
	mkdir -p "$1/tokenizer" &&
	gen_file "$1/model-00001-of-00003.safetensors" 20000000 &&
	gen_file "$1/model-00002-of-00003.safetensors" 16000000 &&
	gen_file "$1/model-00003-of-00003.safetensors" 12000000 &&
	printf '{"architectures": ["Tiny"], "hidden_size": 64}\n' >"$1/config.json" &&
	gen_file "$1/tokenizer/tokenizer.json" 5000 &&
	: >"$1/tokenizer/special_tokens.txt"
}

scan () {
	node "$MS_ROOT/tests/node/hf-scan.mjs" "$1"
}

# the lines hf-scan prints for REPO@REV from DIR, with refs REFS;
# @huggingface/hub 2.17's scanCacheDir lists the top level of a snapshot
# only (huggingface_hub in Python descends), so that is what it must see
expect_scan () {
	repo=$1 rev=$2 dir=$3 refs=$4
	n=$(find "$dir" -maxdepth 1 -type f | wc -l)
	size=$(find "$dir" -maxdepth 1 -type f -exec cat {} + | wc -c)
	echo "revision $repo $rev refs=$refs files=$n size=$size"
	( cd "$dir" && find . -maxdepth 1 -type f | sed "s|^\./||" | sort ) | while read -r p; do
		s=$(wc -c <"$dir/$p")
		if test "$s" -ge 10485760; then
			e=$(sha256sum <"$dir/$p" | cut -c1-64)
		else
			e=$(git hash-object "$dir/$p")
		fi
		echo "file $repo $rev $p $s $e"
	done
}

test_expect_success 'setup: a lab publishes r1 and seeds it, announcing to opentracker' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	make_repo v1 && mkdir index &&
	cp -r v1 v2 &&
	gen_file v2/model-00003-of-00003.safetensors 12000000 &&
	modelswarm create v1 -o probe.torrent --name $r1 >probe.out &&
	modelswarm create v2 -o probe2.torrent --name $r2 >probe2.out &&
	start_opentracker $(sed -n "s/^infohash v[12]: //p" probe.out probe2.out) &&
	modelswarm publish v1 --repo acme/tiny --rev $r1 --key acme.key --index index \
		--tracker "$tracker_url" >pub.out &&
	test_grep "^$(grep "^infohash v1" probe.out)$" pub.out &&
	test_bg seed1 modelswarm seed index/acme/tiny/$r1.torrent v1 $MS_NET \
		--listen 127.0.0.1:0 &&
	wait_for "^seeding " seed1.out 60
'

test_expect_success 'get finds the publisher through the tracker and lands the repo' '
	timeout 120 modelswarm get acme/tiny --index index --cache-dir cache $MS_NET \
		--listen 127.0.0.1:0 >get.out 2>get.err &&
	echo "$TRASH_DIRECTORY/cache/models--acme--tiny/snapshots/$r1" >expect &&
	test_cmp expect get.out &&
	test "$(cat cache/models--acme--tiny/refs/main)" = $r1 &&
	test $(wc -c <cache/models--acme--tiny/refs/main) -eq 40 &&
	test -L cache/models--acme--tiny/snapshots/$r1/config.json &&
	test "$(readlink cache/models--acme--tiny/snapshots/$r1/tokenizer/tokenizer.json)" = \
		"../../../blobs/$(git hash-object v1/tokenizer/tokenizer.json)" &&
	same_tree v1 cache/models--acme--tiny/snapshots/$r1 &&
	! ls cache/models--acme--tiny/blobs/*.incomplete 2>/dev/null
'

test_expect_success '@huggingface/hub scanCacheDir reads exactly that' '
	scan cache >scan.out &&
	expect_scan acme/tiny $r1 v1 main | sort >expect &&
	grep -v "^repo " scan.out >actual &&
	test_cmp expect actual &&
	test_grep "^repo acme/tiny model files=4 size=$(find v1 -maxdepth 1 -type f -exec cat {} + | wc -c)$" scan.out &&
	! grep -q "^warning" scan.out
'

# the changed shard is hashed for its sha256 as it is written: nothing is
# read back
test_expect_success 'revision 2 shares two of three shards: only the changed bytes move' '
	modelswarm publish v2 --repo acme/tiny --rev $r2 --key acme.key --index index \
		--tracker "$tracker_url" >/dev/null &&
	test_bg seed2 modelswarm seed index/acme/tiny/$r2.torrent v2 $MS_NET \
		--listen 127.0.0.1:0 &&
	wait_for "^seeding " seed2.out 60 &&
	timeout 120 modelswarm get acme/tiny --index index --cache-dir cache --json \
		$MS_NET --listen 127.0.0.1:0 >get2.out 2>get2.err &&
	test_grep "\"event\": *\"done\"" get2.out &&
	got=$(sed -n "s/.*\"event\":\"done\".*\"downloaded\":\([0-9]*\).*/\1/p" get2.out) &&
	say "revision 2 downloaded $got bytes (the changed shard has 12000000)" &&
	test "$got" -ge 12000000 && test "$got" -lt 13000000 &&
	test_grep "5 of 6 files already in the cache" get2.err &&
	test_grep "\"event\":\"done\".*\"checks\":0[,}]" get2.out &&
	test_grep "\"event\":\"done\".*\"read_back\":0[,}]" get2.out &&
	same_tree v2 cache/models--acme--tiny/snapshots/$r2 &&
	test "$(cat cache/models--acme--tiny/refs/main)" = $r2 &&
	scan cache >scan.out &&
	test_grep "^revision acme/tiny $r1 refs= files=4" scan.out &&
	test_grep "^revision acme/tiny $r2 refs=main files=4" scan.out
'

test_expect_success '--include/--exclude fetch only the files asked for' '
	timeout 120 modelswarm get acme/tiny@$r1 --index index --cache-dir inc $MS_NET \
		--listen 127.0.0.1:0 --include "*.json" --exclude "tokenizer/*" >inc.out 2>inc.err &&
	( cd inc/models--acme--tiny/snapshots/$r1 && find . | sort ) >actual &&
	printf ".\n./config.json\n" >expect &&
	test_cmp expect actual &&
	! test -e inc/models--acme--tiny/refs/main &&
	test $(ls -A inc/models--acme--tiny/blobs | wc -l) -eq 1
'

test_expect_success '--local-dir puts real files there' '
	timeout 120 modelswarm get acme/tiny@$r1 --index index --cache-dir cache \
		--local-dir local $MS_NET --listen 127.0.0.1:0 >loc.out 2>loc.err &&
	test "$(cat loc.out)" = local &&
	same_tree v1 local &&
	! find local -type l | grep -q .
'

test_expect_success 'two gets of the same repo at once do not corrupt each other' '
	test_bg ga timeout 120 modelswarm get acme/tiny@$r1 --index index --cache-dir two \
		$MS_NET --listen 127.0.0.1:0 &&
	a=$bg_pid &&
	test_bg gb timeout 120 modelswarm get acme/tiny@$r1 --index index --cache-dir two \
		$MS_NET --listen 127.0.0.1:0 &&
	b=$bg_pid &&
	wait $a && wait $b &&
	same_tree v1 two/models--acme--tiny/snapshots/$r1 &&
	test "$(cat ga.out)" = "$(cat gb.out)" &&
	! ls two/models--acme--tiny/blobs/*.incomplete 2>/dev/null
'

test_expect_success 'an unknown repo, ref or index is a clear error' '
	test_expect_code 1 modelswarm get acme/none --index index --cache-dir x $MS_NET 2>err &&
	test_grep "refs.json.* not found" err &&
	test_expect_code 1 modelswarm get acme/tiny@nosuchref --index index --cache-dir x $MS_NET 2>err &&
	test_grep "has no ref .nosuchref." err &&
	test_expect_code 129 modelswarm get acme/tiny --cache-dir x 2>err &&
	test_grep "no index" err &&
	! test -e x/models--acme--none/snapshots/$r1
'

test_done
