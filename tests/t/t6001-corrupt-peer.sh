#!/bin/sh
test_description='a corrupt peer: fetch rejects its bad pieces, bans it, and
still ends with the good bytes from an honest (slow) seeder'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-services.sh"

# The corrupt peer is aria2c on 127.0.0.2 serving a damaged copy without
# checking it (--bt-seed-unverified); the honest one is modelswarm seed on
# 127.0.0.1, capped at 4 MB/s so that the corrupt peer surely delivers bad
# pieces first. aria2 knows only v1 torrents.

shard=model-00001-of-00002.safetensors

test_expect_success 'setup: repo, v1 torrent, a copy with 4 MiB damaged' '
	gen_repo repo 16 &&
	size=$(tree_size repo) &&
	modelswarm create repo -o v1.torrent --v1-only --name testorg-model >v1.info &&
	test_grep "^infohash v1: " v1.info &&
	mkdir bad &&
	cp -R repo bad/testorg-model &&
	head -c $((4 * 1024 * 1024)) /dev/urandom >junk &&
	dd if=junk of=bad/testorg-model/$shard bs=1M seek=6 conv=notrunc 2>/dev/null &&
	test $(wc -c <bad/testorg-model/$shard) -eq $(wc -c <repo/$shard) &&
	! cmp -s repo/$shard bad/testorg-model/$shard &&
	cmp -s repo/config.json bad/testorg-model/config.json
'

test_expect_success 'the damaged copy fails a check against the torrent' '
	test_must_fail timeout 60 modelswarm seed v1.torrent bad/testorg-model \
		$MS_NET --listen 127.0.0.1:0 >badseed.out 2>badseed.err &&
	test_grep "does not match the torrent: [0-9]* of [0-9]* pieces verified" badseed.err &&
	! grep -q "^seeding " badseed.out
'

test_expect_success 'start the corrupt peer (aria2c, unverified) and the honest seeder' '
	ARIA2_ADDR=127.0.0.2 start_aria2_seed corrupt v1.torrent bad \
		--bt-seed-unverified=true &&
	corrupt_port=$aria2_port &&
	corrupt_pid=$aria2_pid &&
	! grep -q "Verification finished" corrupt.log &&
	ms_seed seed v1.torrent repo --upload-limit 4M
'

test_expect_success 'fetch from both: good bytes, hash failures, the corrupt peer banned' '
	timeout 120 modelswarm fetch v1.torrent -o out $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.2:$corrupt_port \
		--peer 127.0.0.1:$seed_port >fetch.out 2>fetch.err &&
	same_tree repo out &&
	test_grep "^fetched .testorg-model. into .out.: 6 files" fetch.out &&
	test_grep "^warning: piece [0-9]* failed the hash check$" fetch.err &&
	test_grep "^warning: banned peer 127.0.0.2:[0-9]*: it sent data that failed the hash check$" fetch.err &&
	! grep -q "banned peer 127.0.0.1:" fetch.err &&
	fails=$(sed -n "s/^downloaded [0-9]* bytes .*, \([0-9]*\) hash failures$/\1/p" fetch.out) &&
	say "hash failures: $fails" &&
	test -n "$fails" &&
	test "$fails" -gt 0 &&
	got=$(sed -n "s/^downloaded \([0-9]*\) bytes .*/\1/p" fetch.out) &&
	test "$got" -gt "$size"
'

test_expect_success 'the corrupt peer did serve us (aria2c saw our handshake)' '
	test_grep "From: 127.0.0.1:[0-9]* handshake peerId=-MS0100-" corrupt.log
'

test_done
