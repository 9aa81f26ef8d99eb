#!/bin/sh
test_description='get: a signed manifest with a path 1,500 levels deep is refused by name, nothing crashes'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

rev=$(fake_rev deep)
# 1,499 directories and a file: 3,000 bytes, inside the format's 4,096,
# and far beyond what a symlink target from the snapshot can climb
deep=$(printf 'd/%.0s' $(seq 1499))f

# a BitTorrent v1 torrent of the file (a v2 file tree this deep is beyond
# any bencode depth limit): tests/t/v1-torrent.py

test_expect_success 'setup: a release whose one file is 1,500 levels deep, signed, seeded' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir -p repo index &&
	echo shallow >repo/f &&
	modelswarm publish repo --repo acme/deep --rev $rev --key acme.key --index index >/dev/null &&
	mkdir -p "data/$(dirname "$deep")" &&
	cp repo/f "data/$deep" &&
	ih=$(/usr/bin/python3 "$TEST_DIRECTORY/v1-torrent.py" index/acme/deep/$rev.torrent \
		$rev "$deep=data/$deep") &&
	sha=$(sha256sum <"data/$deep" | cut -c1-64) &&
	etag=$(git hash-object "data/$deep") &&
	m=index/acme/deep/$rev.manifest.json &&
	DEEP=$deep IH=$ih SHA=$sha ETAG=$etag perl -0pi -e "
		s/\"infohash_v1\": \"[0-9a-f]*\"/\"infohash_v1\": \"\$ENV{IH}\"/;
		s/\"infohash_v2\": \"[0-9a-f]*\"/\"infohash_v2\": \"\"/;
		s/\"path\": \"f\"/\"path\": \"\$ENV{DEEP}\"/;
		s/\"sha256\": \"[0-9a-f]*\"/\"sha256\": \"\$ENV{SHA}\"/;
		s/\"etag\": \"[0-9a-f]*\"/\"etag\": \"\$ENV{ETAG}\"/;
		s/\"pieces_root\": \"[0-9a-f]*\"/\"pieces_root\": \"\"/" $m &&
	grep -q "$deep" $m &&
	resign $m acme.key &&
	ms_seed seed index/acme/deep/$rev.torrent data
'

test_expect_success 'get refuses the path by name and exits cleanly' '
	test_expect_code 1 timeout 60 modelswarm get acme/deep --index index --cache-dir c \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) >out 2>err &&
	test_grep "d/d/d/d.* has more than 64 levels" err &&
	! grep -i "sanitizer\|runtime error" err &&
	! ls c/models--acme--deep/snapshots/* >/dev/null 2>&1 &&
	! test -e c/models--acme--deep/refs/main
'

test_expect_success 'verify refuses it too' '
	test_expect_code 1 modelswarm verify --index index acme/deep@$rev >out 2>err &&
	test_grep "has more than 64 levels" err
'

test_expect_success 'the daemon: the job fails by name, and a restart with it saved stays up' '
	start_daemon d1 &&
	modelswarm daemon add acme/deep --index "$TRASH_DIRECTORY/index" --cache-dir dc \
		--peer 127.0.0.1:$(cat seed.port) --json >add.json &&
	id=$(/usr/bin/python3 -c "import json; print(json.load(open(\"add.json\"))[\"id\"])") &&
	wait_state $id failed 60 &&
	field $id error >error.out &&
	test_grep "has more than 64 levels" error.out &&
	stop_daemon &&
	rec="$MODELSWARM_HOME/state/daemon/repos/$id.json" &&
	sed -i "s/\"state\":\"failed\"/\"state\":\"queued\"/" "$rec" &&
	test_grep "\"state\":\"queued\"" "$rec" &&
	start_daemon d2 &&
	wait_state $id failed 60 &&
	test "$(modelswarm daemon ping)" = pong &&
	kill -0 $dpid &&
	! grep -i "sanitizer\|runtime error" d1.err d2.err &&
	stop_daemon
'

test_done
