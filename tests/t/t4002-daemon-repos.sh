#!/bin/sh
test_description='daemon: add, seed to a fetcher, restart without hashing, SIGKILL, limits, pause, rm'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

r1=$(fake_rev release-1)
repo_dir=cache/models--acme--tiny


test_expect_success 'setup: a lab publishes r1 and seeds it' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo v1 && mkdir index &&
	modelswarm publish v1 --repo acme/tiny --rev $r1 --key acme.key --index index >pub.out &&
	test_bg seed1 modelswarm seed index/acme/tiny/$r1.torrent v1 $MS_NET \
		--listen 127.0.0.1:0 &&
	wait_for "^seeding " seed1.out 60 &&
	sed -n "s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p" seed1.out | head -n1 >seed1.port &&
	test -s seed1.port
'

test_expect_success 'add: the daemon downloads the release, then seeds it' '
	start_daemon d1 &&
	modelswarm daemon add acme/tiny --index index --cache-dir cache \
		--peer 127.0.0.1:$(cat seed1.port) --json >add.json &&
	id=$(/usr/bin/python3 -c "import json; print(json.load(open(\"add.json\"))[\"id\"])") &&
	echo $id >id &&
	wait_state $id seeding 60 &&
	same_tree v1 $repo_dir/snapshots/$r1 &&
	test "$(cat $repo_dir/refs/main)" = $r1 &&
	test "$(field $id revision)" = $r1 &&
	test "$(field $id size)" = $(find v1 -type f -exec cat {} + | wc -c) &&
	modelswarm daemon ls >ls.out &&
	test_grep "^$id seeding  100.0%.* acme/tiny@$r1$" ls.out &&
	test_grep "acme/tiny@main: added ($id)" d1.err &&
	test_grep "acme/tiny@$r1: downloaded [0-9]* bytes in .* s, seeding" d1.err
'

test_expect_success 'adding the same release again changes nothing' '
	modelswarm daemon add acme/tiny --index index --cache-dir cache >again.json &&
	test_grep "\"existing\": true" again.json &&
	test $(modelswarm daemon ls --json | grep -c "\"id\"") -eq 1
'

test_expect_success 'a fetcher downloads the repo from the daemon alone' '
	kill $(cat seed1.pid) &&
	port=$(daemon_port) &&
	timeout 60 modelswarm fetch index/acme/tiny/$r1.torrent -o fetched $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$port >fetch.out 2>&1 &&
	same_tree v1 fetched &&
	i=0 && while test "$(field $(cat id) uploaded)" -lt 12000000 && test $i -lt 100; do
		sleep 0.1; i=$((i + 1)); done &&
	test "$(field $(cat id) uploaded)" -ge 12000000
'

test_expect_success 'stop and restart: seeding again at once, nothing hashed' '
	stop_daemon &&
	test_grep "stopping (asked over RPC)" d1.err &&
	test -s "$MODELSWARM_HOME/state/daemon/repos/$(cat id).resume" &&
	test -s "$MODELSWARM_HOME/state/daemon/repos/$(cat id).torrent" &&
	start_daemon d2 &&
	test_grep "seeding 1 repos again" d2.err &&
	wait_state $(cat id) seeding 5 &&
	test "$(field $(cat id) checks)" = 0 &&
	test "$(field $(cat id) uploaded)" -ge 12000000 &&
	rm -rf fetched &&
	timeout 60 modelswarm fetch index/acme/tiny/$r1.torrent -o fetched $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$(daemon_port) >fetch2.out 2>&1 &&
	same_tree v1 fetched
'

test_expect_success 'SIGKILL, then a restart: still seeding, still no hashing' '
	kill -9 $dpid &&
	i=0 && while kill -0 $dpid 2>/dev/null && test $i -lt 50; do sleep 0.1; i=$((i+1)); done &&
	start_daemon d3 &&
	wait_state $(cat id) seeding 5 &&
	test "$(field $(cat id) checks)" = 0
'

test_expect_success 'without its resume data a repo is checked (and the count shows it)' '
	stop_daemon &&
	rm "$MODELSWARM_HOME/state/daemon/repos/$(cat id).resume" &&
	start_daemon d3b &&
	wait_state $(cat id) seeding 30 &&
	test "$(field $(cat id) checks)" -ge 1
'

test_expect_success 'a per-repo upload limit holds within 20% over a measured window' '
	modelswarm daemon limits $(cat id) --upload-limit 1M >lim.out &&
	test_grep "\"changed\": 1" lim.out &&
	test "$(field $(cat id) upload_limit)" = 1048576 &&
	port=$(daemon_port) &&
	rm -rf fetched &&
	test_bg f3 modelswarm fetch index/acme/tiny/$r1.torrent -o fetched $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$port &&
	sleep 2 &&
	a=$(field $(cat id) uploaded) && t0=$(date +%s.%N) &&
	sleep 5 &&
	b=$(field $(cat id) uploaded) && t1=$(date +%s.%N) &&
	test_kill $(cat f3.pid) &&
	rate=$(echo "($b - $a) / ($t1 - $t0)" | bc) &&
	echo "measured $rate bytes/s" &&
	test $rate -ge 838860 && test $rate -le 1258291 &&
	modelswarm daemon limits $(cat id) --upload-limit 0 >/dev/null
'

test_expect_success 'pause and resume' '
	modelswarm daemon pause acme/tiny >p.out &&
	test_grep "\"changed\": 1" p.out &&
	test "$(field $(cat id) state)" = paused &&
	stop_daemon && start_daemon d4 &&
	test "$(field $(cat id) state)" = paused &&
	modelswarm daemon resume acme/tiny@$r1 >/dev/null &&
	wait_state $(cat id) seeding 10
'

test_expect_success 'bad requests get clear errors; the daemon keeps serving' '
	test_expect_code 2 modelswarm daemon rm acme/other 2>err &&
	test_grep "daemon: no repo matches .acme/other." err &&
	test_expect_code 2 modelswarm daemon add "bad name" 2>err &&
	test_grep "daemon: " err &&
	test_expect_code 129 modelswarm daemon add 2>err &&
	test_grep "add needs ORG/NAME" err &&
	test_expect_code 129 modelswarm daemon frobnicate 2>err &&
	test_grep "unknown subcommand .frobnicate." err &&
	test "$(modelswarm daemon ping)" = pong
'

test_expect_success 'rm --data: forgotten, its snapshot and blobs gone' '
	modelswarm daemon rm $(cat id) --data >rm.out &&
	test_grep "\"removed\": 1" rm.out &&
	test "$(modelswarm daemon ls --json)" = "[]" &&
	! test -e $repo_dir/snapshots/$r1 &&
	! test -e $repo_dir/refs/main &&
	test -z "$(ls $repo_dir/blobs)" &&
	! test -e "$MODELSWARM_HOME/state/daemon/repos/$(cat id).json" &&
	stop_daemon
'

test_done
