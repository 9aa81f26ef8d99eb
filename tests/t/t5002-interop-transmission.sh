#!/bin/sh
test_description='interop with Transmission: modelswarm fetches a v1 torrent
from a transmission-daemon seeder on 127.0.0.1'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-services.sh"

# Transmission 3.00 knows only v1 torrents, and ignores 127.x peers it hears
# of from a tracker: our fetch dials it with --peer.

test_expect_success 'setup: repo, v1 torrent, a copy for Transmission' '
	gen_repo repo 16 &&
	size=$(tree_size repo) &&
	modelswarm create repo -o v1.torrent --v1-only --name testorg-model >v1.info &&
	test_grep "^infohash v1: [0-9a-f]\{40\}$" v1.info &&
	! grep -q "^infohash v2" v1.info &&
	mkdir tr-data &&
	cp -R repo tr-data/testorg-model
'

test_expect_success 'Transmission verifies its copy and seeds it' '
	start_transmission_seed tr v1.torrent tr-data &&
	test_grep "Percent Done: 100%" tr.info &&
	test_grep "Hash: $(sed -n "s/^infohash v1: //p" v1.info)" tr.info
'

test_expect_success 'modelswarm fetch --peer <transmission> gets the same bytes' '
	timeout 120 modelswarm fetch v1.torrent -o out $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$transmission_port \
		>fetch.out 2>fetch.err &&
	same_tree repo out &&
	test_grep "^fetched .testorg-model. into .out.: 6 files" fetch.out &&
	test_grep "^downloaded $size bytes .*: $size from peers, 0 from webseeds, 0 hash failures$" fetch.out &&
	! grep -q "banned peer\|failed the hash check" fetch.err
'

test_expect_success 'Transmission counts what it uploaded to us' '
	timeout 10 transmission-remote 127.0.0.1:$transmission_rpc -t all -i >tr-after.info 2>&1 &&
	test_grep "Uploaded: [1-9]" tr-after.info
'

test_done
