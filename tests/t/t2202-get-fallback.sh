#!/bin/sh
test_description='get --webseeds fallback: a mirror carries only what the peers do not;
with an honest seeder it stays (nearly) idle, when the seeder goes it takes over'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"

rev=$(fake_rev fallback)
snap=models--acme--tiny/snapshots/$rev

# done_field NAME KEY: a number from the "done" event of NAME.out
done_field () {
	grep '"event": *"done"' "$1.out" | sed -n "s/.*\"$2\": *\([0-9]*\).*/\1/p"
}

# nginx_bytes: body bytes nginx served (its log: METHOD URI STATUS BYTES)
nginx_bytes () {
	awk '{ n += $4 } END { print n + 0 }' "$nginx_log"
}

test_expect_success 'setup: a release with a hub-style mirror, and its seeder' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir -p www index &&
	start_nginx www &&
	gen_repo repo 24 &&
	size=$(tree_size repo) &&
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key --index index \
		--webseed "$nginx_url/acme/tiny/resolve/" >pub.out &&
	mkdir -p www/acme/tiny/resolve && cp -r repo www/acme/tiny/resolve/$rev &&
	cat >>"$MODELSWARM_HOME/config" <<-EOF
	webseed-fallback-rate = 1M
	webseed-fallback-delay = 3
	EOF
'

test_expect_success 'an honest seeder at 6 MB/s: the mirror serves at most 5%' '
	ms_seed seed index/acme/tiny/$rev.torrent repo --upload-limit 6M &&
	: >"$nginx_log" &&
	timeout 120 modelswarm get acme/tiny@$rev --index index --cache-dir c1 --json \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >c1.out 2>c1.err &&
	same_tree repo c1/$snap &&
	web=$(done_field c1 from_webseeds) && peers=$(done_field c1 from_peers) &&
	served=$(nginx_bytes) &&
	say "from peers $peers, from the mirror $web (nginx served $served) of $size" &&
	test "$peers" -gt 0 &&
	test $((web * 20)) -le "$size" &&
	test $((served * 20)) -le "$size" &&
	test_kill $seed_pid
'

test_expect_success 'the seeder stops half way: the mirror takes over and the download completes' '
	ms_seed seed2 index/acme/tiny/$rev.torrent repo --upload-limit 3M &&
	: >"$nginx_log" &&
	test_bg get2 timeout 120 modelswarm get acme/tiny@$rev --index index --cache-dir c2 \
		--json $MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port &&
	get_pid=$bg_pid &&
	wait_for "\"progress\",\"done\":[1-9][0-9]\{6,\}" get2.out 60 &&
	! test -s "$nginx_log" &&
	test_kill $seed_pid &&
	wait $get_pid &&
	same_tree repo c2/$snap &&
	test_grep "peers deliver .* bytes/s: using mirrors" get2.out &&
	web=$(done_field get2 from_webseeds) && peers=$(done_field get2 from_peers) &&
	say "from peers $peers, from the mirror $web of $size" &&
	test "$peers" -gt 1000000 &&
	test "$web" -gt 1000000 &&
	test $((web + peers)) -ge "$size" &&
	test "$(nginx_bytes)" -eq "$web"
'

test_done
