#!/bin/sh
test_description='interop with aria2 through opentracker: modelswarm seeds to
an aria2c leecher, and fetches from an aria2c seeder, each finding the other
only through the tracker'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-services.sh"

# Everything here shares 127.0.0.1. A libtorrent session that hears its own
# address from the tracker dials itself and bans that peer entry; with
# allow_multiple_connections_per_ip off (libtorrent's default) peers are
# keyed by IP alone, so the ban shuts out every other client on 127.0.0.1
# (aria2c's handshakes get EOF, fetch never dials aria2c). Until modelswarm
# sets this itself, the tests do.
echo 'libtorrent.allow_multiple_connections_per_ip = true' >>"$MODELSWARM_HOME/config"

test_expect_success 'setup: repo, opentracker, a v1 torrent announcing to it' '
	gen_repo repo 16 &&
	size=$(tree_size repo) &&
	modelswarm create repo -o pre.torrent --v1-only --name testorg-model >pre.info &&
	ih=$(sed -n "s/^infohash v1: //p" pre.info) &&
	test -n "$ih" &&
	start_opentracker $ih &&
	modelswarm create repo -o v1.torrent --v1-only --name testorg-model \
		--tracker "$tracker_url" >v1.info &&
	test_grep "^infohash v1: $ih$" v1.info &&
	! grep -q "^infohash v2" v1.info &&
	test "$(tracker_seeders $ih)" = 0
'

test_expect_success 'modelswarm seed -> aria2c leecher that finds it through the tracker' '
	ms_seed seed v1.torrent repo &&
	wait_tracker_seeders $ih 1 30 &&
	run_aria2_leech v1.torrent aria2-out >aria2.out 2>&1 &&
	same_tree repo aria2-out/testorg-model &&
	test_grep "GET /announce?info_hash=" aria2-leech.log &&
	test_grep "Connecting to 127.0.0.1:$tracker_port" aria2-leech.log &&
	test_grep "From: 127.0.0.1:$seed_port handshake peerId=-MS0100-" aria2-leech.log &&
	test_grep "Download complete: aria2-out/testorg-model" aria2-leech.log &&
	test_kill $seed_pid &&
	test_grep "stopped by signal 15" seed.err
'

test_expect_success 'aria2c seeder -> modelswarm fetch with no --peer, only the tracker' '
	mkdir aria2-data &&
	cp -R repo aria2-data/testorg-model &&
	start_aria2_seed aria2-seed v1.torrent aria2-data &&
	test_grep "Verification finished successfully" aria2-seed.log &&
	wait_tracker_seeders $ih 1 30 &&
	timeout 120 modelswarm fetch v1.torrent -o ms-out $MS_NET \
		--listen 127.0.0.1:0 >fetch.out 2>fetch.err &&
	same_tree repo ms-out &&
	test_grep "^fetched .testorg-model. into .ms-out.: 6 files" fetch.out &&
	test_grep "^downloaded $size bytes .*: $size from peers, 0 from webseeds, 0 hash failures$" fetch.out &&
	test_kill $aria2_pid
'

test_done
