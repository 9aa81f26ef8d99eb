#!/bin/sh
test_description='daemon: idle repos leave the session and still serve (a peer loads
them again), announce themselves, come back idle after a restart, and obey
pause and rm while idle'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

r1=$(fake_rev idle-1)
r2=$(fake_rev idle-2)
r3=$(fake_rev idle-3)
t1=acme/tiny@$r1
t2=acme/tiny@$r2
t3=acme/tiny@$r3

# idle after 2 s without a peer; an idle repo announces every 3 s
cat >>"$MODELSWARM_HOME/config" <<EOF
idle-unload = 2
idle-announce = 3
EOF

# wait_loaded TARGET True|False [SECONDS] (as `field` prints booleans)
wait_loaded () {
	wait_field "$1" loaded "$2" "${3:-30}"
}

# fetch_from OUT: fetch r1 from the daemon alone
fetch_from () {
	rm -rf "$1" &&
	timeout 60 modelswarm fetch index/acme/tiny/$r1.torrent -o "$1" $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$(daemon_port) >"$1.out" 2>&1
}

# fetch_from_short OUT: the same, given 8 s
fetch_from_short () {
	rm -rf "$1" &&
	timeout 8 modelswarm fetch index/acme/tiny/$r1.torrent -o "$1" $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$(daemon_port) >"$1.out" 2>&1
}

test_expect_success 'setup: r1 and r2 published; the daemon adds both from the publisher' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo v1 && small_repo v2 && echo two >v2/two.txt &&
	mkdir index &&
	modelswarm publish v1 --repo acme/tiny --rev $r1 --key acme.key --index index >pub1.out &&
	modelswarm publish v2 --repo acme/tiny --rev $r2 --key acme.key --index index >pub2.out &&
	test_bg seed1 modelswarm seed index/acme/tiny/$r1.torrent v1 $MS_NET \
		--listen 127.0.0.1:0 &&
	test_bg seed2 modelswarm seed index/acme/tiny/$r2.torrent v2 $MS_NET \
		--listen 127.0.0.1:0 &&
	wait_for "^seeding " seed1.out 60 && wait_for "^seeding " seed2.out 60 &&
	p1=$(sed -n "s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p" seed1.out | head -n1) &&
	p2=$(sed -n "s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p" seed2.out | head -n1) &&
	mport=$(free_port) && echo $mport >mport &&
	start_daemon d1 --metrics 127.0.0.1:$mport &&
	modelswarm daemon add acme/tiny@$r1 --index index --cache-dir cache \
		--peer 127.0.0.1:$p1 >/dev/null &&
	modelswarm daemon add acme/tiny@$r2 --index index --cache-dir cache \
		--peer 127.0.0.1:$p2 >/dev/null &&
	wait_state $t1 seeding 60 && wait_state $t2 seeding 60 &&
	test_kill $(cat seed1.pid) && test_kill $(cat seed2.pid)
'

test_expect_success 'with no peer for idle-unload seconds, a repo leaves the session' '
	wait_loaded $t1 False 30 &&
	wait_loaded $t2 False 30 &&
	test "$(field $t1 state)" = seeding &&
	test "$(field $t1 done)" = "$(field $t1 size)" &&
	modelswarm daemon status >status.json &&
	test_grep "\"seeding\": 2," status.json &&
	test_grep "\"loaded\": 0," status.json &&
	modelswarm daemon ls >ls.out &&
	test_grep " seeding  100.0% .* acme/tiny@$r1$" ls.out &&
	curl -sS -f -o metrics.txt http://127.0.0.1:$(cat mport)/metrics &&
	test_grep "^modelswarm_repos_loaded 0$" metrics.txt &&
	test_grep "^modelswarm_repos{state=\"seeding\"} 2$" metrics.txt
'

test_expect_success 'a peer asking for an idle repo loads it, and gets every byte' '
	fetch_from f1 &&
	same_tree v1 f1 &&
	test "$(field $t1 checks)" = 0 &&
	test "$(field $t1 uploaded)" -gt 0 &&
	# r2 was not asked for
	test "$(field $t2 loaded)" = False &&
	# and once the peer is gone, r1 goes idle again
	wait_loaded $t1 False 30
'

test_expect_success 'restart: idle repos come back idle at once, and still serve' '
	up=$(field $t1 uploaded) &&
	stop_daemon &&
	start_daemon d2 &&
	test_grep "seeding 2 repos again" d2.err &&
	wait_state $t1 seeding 5 &&
	test "$(field $t1 loaded)" = False &&
	test "$(field $t1 uploaded)" = "$up" &&
	fetch_from f2 &&
	same_tree v1 f2 &&
	test "$(field $t1 checks)" = 0 &&
	test "$(field $t1 uploaded)" -gt "$up"
'

test_expect_success 'with nothing to announce to, an idle repo stays out of the session' '
	wait_loaded $t2 False 30 &&
	# (DHT and LSD are off, and r2 has no tracker)
	sleep 5 &&
	test "$(field $t2 loaded)" = False
'

test_expect_success 'setup: r3, whose torrent names a tracker, seeded by the daemon' '
	small_repo v3 && echo three >v3/three.txt &&
	OPENTRACKER_PORT=$(free_port) &&
	modelswarm publish v3 --repo acme/tiny --rev $r3 --key acme.key --index index \
		--tracker http://127.0.0.1:$OPENTRACKER_PORT/announce >pub3.out &&
	h3=$(sed -n "s/^infohash v1: //p" pub3.out) &&
	hashes3=$(sed -n "s/^infohash v[12]: //p" pub3.out) &&
	start_opentracker $hashes3 &&
	test_bg seed3 modelswarm seed index/acme/tiny/$r3.torrent v3 $MS_NET \
		--listen 127.0.0.1:0 &&
	wait_for "^seeding " seed3.out 60 &&
	modelswarm daemon add $t3 --index index --cache-dir cache >/dev/null &&
	wait_state $t3 seeding 60 &&
	wait_tracker_seeders $h3 2 &&
	test_kill $(cat seed3.pid)
'

test_expect_success 'an idle repo leaves without telling its tracker: still listed as a seeder' '
	wait_loaded $t3 False 30 &&
	sleep 1 &&
	test "$(tracker_seeders $h3)" = 1
'

test_expect_success 'an idle repo announces every idle-announce seconds; a peer finds it by the tracker' '
	# a tracker that has forgotten every peer
	test_kill $tracker_pid &&
	start_opentracker $hashes3 &&
	test "$(tracker_seeders $h3)" = 0 &&
	wait_tracker_seeders $h3 1 30 &&
	wait_loaded $t3 False 30 &&
	rm -rf f5 &&
	timeout 60 modelswarm fetch index/acme/tiny/$r3.torrent -o f5 $MS_NET \
		--listen 127.0.0.1:0 >f5.out 2>&1 &&
	same_tree v3 f5
'

test_expect_success 'a paused idle repo serves no one; resumed, it does' '
	wait_loaded $t1 False 30 &&
	modelswarm daemon pause $t1 >/dev/null &&
	test "$(field $t1 state)" = paused &&
	! fetch_from_short f3 &&
	test "$(field $t1 loaded)" = False &&
	modelswarm daemon resume $t1 >/dev/null &&
	test "$(field $t1 state)" = seeding &&
	fetch_from f4 &&
	same_tree v1 f4
'

test_expect_success 'rm of an idle repo: gone, and no peer can load it' '
	wait_loaded $t2 False 30 &&
	modelswarm daemon rm $t2 >/dev/null &&
	test "$(field $t2 state)" = none &&
	modelswarm daemon status >status2.json &&
	test_grep "\"repos\": 2," status2.json
'

test_expect_success 'beyond idle-loaded idle repos, the one idle longest leaves before idle-unload' '
	wait_loaded $t1 False 30 && wait_loaded $t3 False 30 &&
	printf "idle-unload = 600\nidle-loaded = 1\n" >>"$MODELSWARM_HOME/config" &&
	kill -HUP $dpid && wait_for "reloaded the configuration" d2.err 10 &&
	fetch_from f6 && same_tree v1 f6 &&
	rm -rf f7 &&
	timeout 60 modelswarm fetch index/acme/tiny/$r3.torrent -o f7 $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$(daemon_port) >f7.out 2>&1 &&
	same_tree v3 f7 &&
	# both loaded by their peers; with idle-unload at 600 s only the cap
	# can unload one: r1, idle longest and with nothing to announce to
	wait_loaded $t1 False 30 &&
	test "$(field $t3 loaded)" = True &&
	sleep 6 &&
	test "$(field $t3 loaded)" = True &&
	modelswarm daemon status >status3.json &&
	test_grep "\"loaded\": 1," status3.json
'

test_done
