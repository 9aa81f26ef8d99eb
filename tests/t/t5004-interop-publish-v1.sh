#!/bin/sh
test_description='interop of a release published --v1-only: aria2c 1.36 and
transmission-daemon 3.00 download it from modelswarm seed'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"

# as in t5001: every client shares 127.0.0.1
echo 'libtorrent.allow_multiple_connections_per_ip = true' >>"$MODELSWARM_HOME/config"

rev=$(fake_rev interop-v1)
t=index/acme/tiny/$rev.torrent

test_expect_success 'setup: publish --v1-only, announcing to opentracker' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	gen_repo repo 16 &&
	mkdir probe index &&
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index probe --v1-only >probe.out &&
	ih=$(sed -n "s/^infohash v1: //p" probe.out) &&
	test -n "$ih" &&
	! grep -q "^infohash v2" probe.out &&
	start_opentracker $ih &&
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index index --v1-only --tracker "$tracker_url" >pub.out &&
	test_grep "^infohash v1: $ih$" pub.out &&
	test_grep "\"infohash_v2\": \"\"" index/acme/tiny/$rev.manifest.json &&
	modelswarm verify --index index acme/tiny >verify.out &&
	test_grep "^infohash v1: $ih$" verify.out
'

test_expect_success 'aria2c downloads it from modelswarm seed through the tracker' '
	ms_seed seed $t repo &&
	wait_tracker_seeders $ih 1 30 &&
	run_aria2_leech $t aria2-out >aria2.out 2>&1 &&
	test_grep "Download complete: aria2-out/$rev" aria2-leech.log &&
	test_grep "handshake peerId=-MS0100-" aria2-leech.log &&
	same_tree repo aria2-out/$rev &&
	test_kill $seed_pid
'

# Transmission ignores 127.x peers it hears of from the tracker, so it
# announces first and the seeder, announcing next, dials it. Transmission
# 3.00 does not create empty files: those are left out of the comparison.
test_expect_success 'transmission-daemon downloads it from modelswarm seed' '
	mkdir tr-out &&
	start_transmission tr tr-out &&
	timeout 30 transmission-remote 127.0.0.1:$transmission_rpc -a $t \
		--download-dir "$TRASH_DIRECTORY/tr-out" >tr.add 2>&1 &&
	test_grep success tr.add &&
	timeout 10 transmission-remote 127.0.0.1:$transmission_rpc -t all -i >tr.info0 &&
	test_grep "Hash: $ih" tr.info0 &&
	i=0 &&
	until grep -q "10:incompletei[1-9]" .scrape 2>/dev/null; do
		tracker_seeders $ih >/dev/null &&
		i=$((i + 1)) && test $i -lt 60 && sleep 0.5 || return 1
	done &&
	ms_seed seed2 $t repo &&
	wait_transmission_seeding tr 120 &&
	test_grep "Downloaded: [1-9]" tr.info &&
	cp -R repo expect-tr &&
	find expect-tr -type f -empty -delete &&
	same_tree expect-tr tr-out/$rev &&
	test_kill $seed_pid
'

test_done
