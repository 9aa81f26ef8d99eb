#!/bin/sh
test_description='get gives up when nothing can finish it: no mirror left and no way
for a peer to come, or no byte from anyone for --stall-timeout seconds'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

rev=$(fake_rev stall)
rev2=$(fake_rev stall-tracker)

test_expect_success 'setup: a release nobody seeds, and a mirror that has none of it' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir -p www/empty index &&
	start_nginx www &&
	gen_repo repo 4 &&
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key --index index \
		>pub.out
'

test_expect_success 'only a mirror that 404s and no peer source: a clear error, exit 2, soon' '
	start=$(date +%s) &&
	test_expect_code 2 timeout 60 modelswarm get acme/tiny@$rev --index index \
		--cache-dir c1 $MS_NET --listen 127.0.0.1:0 --webseed "$nginx_url/empty/" \
		--webseeds always >out1 2>err1 &&
	took=$(( $(date +%s) - start )) &&
	say "gave up after $took s" &&
	test $took -lt 30 &&
	test_grep "^error: no mirror left for .*, and no peer can come (no tracker, --peer, DHT or LSD): giving up on acme/tiny@$rev" err1 &&
	test $(grep -c "^error" err1) -eq 1 &&
	! ls c1/models--acme--tiny/snapshots/* >/dev/null 2>&1
'

test_expect_success 'no mirror at all and no peer source: the same, after a short grace' '
	test_expect_code 2 timeout 60 modelswarm get acme/tiny@$rev --index index \
		--cache-dir c2 $MS_NET --listen 127.0.0.1:0 >out 2>err &&
	test_grep "^error: no mirror has its files, and no peer can come" err
'

test_expect_success 'a tracker that never answers: --stall-timeout ends the wait' '
	cp -r repo repo2 && echo 2 >repo2/extra.txt &&
	modelswarm publish repo2 --repo acme/tiny --rev $rev2 --key acme.key --index index \
		--tracker http://127.0.0.1:9/announce >pub2.out &&
	start=$(date +%s) &&
	test_expect_code 2 timeout 60 modelswarm get acme/tiny@$rev2 --index index \
		--cache-dir c3 $MS_NET --listen 127.0.0.1:0 --stall-timeout 3 >out 2>err &&
	took=$(( $(date +%s) - start )) &&
	say "gave up after $took s" &&
	test $took -ge 3 && test $took -lt 30 &&
	test_grep "^error: no byte came from a peer or a mirror for 3 s (--stall-timeout): giving up on acme/tiny@$rev2; progress is kept" err
'

test_expect_success 'the stall timeout comes from the config too' '
	cp "$MODELSWARM_HOME/config" base.config &&
	echo "stall-timeout = 2" >>"$MODELSWARM_HOME/config" &&
	test_expect_code 2 timeout 60 modelswarm get acme/tiny@$rev2 --index index \
		--cache-dir c4 $MS_NET --listen 127.0.0.1:0 >out 2>err &&
	test_grep "for 2 s (--stall-timeout)" err &&
	cp base.config "$MODELSWARM_HOME/config"
'

test_expect_success 'through a running daemon: get stops waiting, the daemon keeps trying' '
	start_daemon d1 &&
	test_expect_code 2 timeout 60 modelswarm get acme/tiny@$rev2 --index index \
		--cache-dir c5 --stall-timeout 3 >out 2>err &&
	test_grep "the daemon downloads acme/tiny@$rev2" err &&
	test_grep "^error: no byte of acme/tiny@$rev2 came for 3 s (--stall-timeout): not waiting any more; the daemon keeps trying" err &&
	modelswarm daemon ls >ls.out &&
	test_grep "downloading.*acme/tiny@$rev2" ls.out &&
	stop_daemon
'

test_expect_success 'a bad --stall-timeout is a usage error' '
	test_expect_code 129 modelswarm get acme/tiny --stall-timeout soon 2>err &&
	test_grep "stall-timeout needs a number of seconds, not .soon." err
'

test_done
