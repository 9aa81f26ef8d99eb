#!/bin/sh
test_description='daemon: subscriptions, get handing its download over, disk budget, seed ratio, metrics, seed-store'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

r1=$(fake_rev release-1)
r2=$(fake_rev release-2)
r3=$(fake_rev other-1)


# mirror DIR REV: what a mirror serves for REV
mirror () {
	mkdir -p www/mirror && cp -r "$1" www/mirror/$2
}

test_expect_success 'setup: r1 published to an index and a mirror behind nginx' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo v1 && mkdir -p www/index &&
	modelswarm publish v1 --repo acme/tiny --rev $r1 --key acme.key --index www/index >/dev/null &&
	mirror v1 $r1 &&
	start_nginx www &&
	cat >>"$MODELSWARM_HOME/config" <<-EOF &&
	webseed = $nginx_url/mirror/
	subscribe-interval = 1
	EOF
	start_daemon d1 --metrics 127.0.0.1:0
'

test_expect_success 'subscribe: the current revision is fetched and seeded' '
	modelswarm daemon subscribe acme/tiny@main --keep 1 --index $nginx_url/index/ \
		--cache-dir cache >sub.json &&
	test_grep "\"ref\": \"main\"" sub.json &&
	wait_state acme/tiny@$r1 seeding 60 &&
	same_tree v1 cache/models--acme--tiny/snapshots/$r1 &&
	test_grep "subscription acme/tiny@main: new revision $r1" d1.err &&
	test "$(field acme/tiny@$r1 subscription)" = acme/tiny@main
'

test_expect_success 'polls are conditional: an unchanged refs.json is a 304' '
	i=0 && while ! grep -q "GET /index/acme/tiny/refs.json 304" "$nginx_log" &&
		test $i -lt 100; do sleep 0.1; i=$((i + 1)); done &&
	test_grep "GET /index/acme/tiny/refs.json 304" "$nginx_log" &&
	test $(grep -c "GET /index/acme/tiny/refs.json.minisig 200" "$nginx_log") -eq 1
'

test_expect_success 'r2 published while the daemon runs: fetched, seeded, r1 dropped (keep 1)' '
	cp -r v1 v2 && gen_file v2/small.bin 80000 &&
	mirror v2 $r2 &&
	modelswarm publish v2 --repo acme/tiny --rev $r2 --key acme.key --index www/index >/dev/null &&
	wait_state acme/tiny@$r2 seeding 60 &&
	same_tree v2 cache/models--acme--tiny/snapshots/$r2 &&
	i=0 && while test "$(field acme/tiny@$r1 state)" != none && test $i -lt 100; do
		sleep 0.1; i=$((i + 1)); done &&
	test "$(field acme/tiny@$r1 state)" = none &&
	! test -e cache/models--acme--tiny/snapshots/$r1 &&
	test "$(cat cache/models--acme--tiny/refs/main)" = $r2 &&
	test_grep "acme/tiny@$r1: dropped, older than the newest 1 of acme/tiny@main" d1.err &&
	modelswarm daemon subscriptions >subs.json &&
	test_grep "\"revision\": \"$r2\"" subs.json
'

test_expect_success 'a forged refs.json is refused and changes nothing' '
	cp www/index/acme/tiny/refs.json refs.good &&
	sed "s/$r2/$r1/" refs.good >www/index/acme/tiny/refs.json &&
	wait_for "subscription acme/tiny@main: .*signature" d1.err 20 &&
	cp refs.good www/index/acme/tiny/refs.json &&
	test "$(field acme/tiny@$r2 state)" = seeding &&
	test "$(field acme/tiny@$r1 state)" = none
'

test_expect_success 'get hands its download to the running daemon' '
	small_repo v3 &&
	modelswarm publish v3 --repo acme/other --rev $r3 --key acme.key --index www/index >/dev/null &&
	mirror v3 $r3 &&
	timeout 120 modelswarm get acme/other@$r3 --index www/index --cache-dir cache \
		>get.out 2>get.err &&
	test_grep "the daemon downloads acme/other@$r3 (id [0-9a-f]*) and keeps seeding it" get.err &&
	echo "$TRASH_DIRECTORY/cache/models--acme--other/snapshots/$r3" >expect &&
	test_cmp expect get.out &&
	same_tree v3 cache/models--acme--other/snapshots/$r3 &&
	test "$(field acme/other seeding)" != none &&
	test "$(field acme/other state)" = seeding
'

test_expect_success 'get --no-daemon downloads by itself' '
	timeout 120 modelswarm get acme/other@$r3 --index www/index --cache-dir cache2 \
		--no-daemon >get2.out 2>get2.err &&
	! test_grep "the daemon downloads" get2.err &&
	same_tree v3 cache2/models--acme--other/snapshots/$r3 &&
	test $(modelswarm daemon ls --json | grep -c "\"id\"") -eq 2
'

test_expect_success 'metrics: Prometheus text with per-repo and daemon figures' '
	port=$(modelswarm daemon status | sed -n "s/.*\"metrics_port\": \([0-9]*\).*/\1/p") &&
	curl -sf http://127.0.0.1:$port/metrics >metrics.txt &&
	test_grep "^# TYPE modelswarm_repo_uploaded_bytes_total counter$" metrics.txt &&
	test_grep "^modelswarm_repos{state=\"seeding\"} 2$" metrics.txt &&
	size=$(find v3 -type f -exec cat {} + | wc -c) &&
	test_grep "^modelswarm_repo_size_bytes{repo=\"acme/other\",revision=\"$r3\",id=\"[0-9a-f]*\"} $size$" metrics.txt &&
	grep "^modelswarm_repo_mirror_bytes_total{repo=\"acme/other\"" metrics.txt >mb &&
	test $(sed "s/.* //" mb) -ge $size &&
	test_grep "^modelswarm_disk_used_bytes [1-9]" metrics.txt &&
	test "$(curl -s -o /dev/null -w %{http_code} http://127.0.0.1:$port/nope)" = 404
'

test_expect_success 'session-wide limits over RPC' '
	modelswarm daemon limits --upload-limit 3M --download-limit 0 >lim.json &&
	test_grep "\"upload\": 3145728" lim.json &&
	modelswarm daemon status >st.json &&
	test_grep "\"upload_limit\": 3145728" st.json &&
	modelswarm daemon limits --upload-limit 0 --seed-ratio 2.5 --seed-time 600 \
		--disk-budget 1G --max-active 5 >lim2.json &&
	test_grep "\"seed_ratio\": 2.5" lim2.json &&
	test_grep "\"seed_time\": 600" lim2.json &&
	test_grep "\"disk_budget\": 1073741824" lim2.json &&
	test_grep "\"max_active\": 5" lim2.json &&
	modelswarm daemon limits --seed-ratio 0 --seed-time 0 --disk-budget 0 \
		--max-active 0 >lim3.json &&
	test_grep "\"max_active\": 3" lim3.json &&
	test_expect_code 129 modelswarm daemon limits acme/other --seed-ratio 1 2>err &&
	test_grep "go with .limits. and no TARGET" err &&
	test_expect_code 129 modelswarm daemon limits --disk-budget lots 2>err &&
	test_grep "disk-budget needs a size" err
'

test_expect_success 'seed ratio limit: a repo that uploaded its size is stopped' '
	echo "seed-ratio-limit = 0.5" >>"$MODELSWARM_HOME/config" &&
	kill -HUP $dpid && wait_for "reloaded the configuration" d1.err 10 &&
	port=$(daemon_port) &&
	timeout 60 modelswarm fetch www/index/acme/other/$r3.torrent -o fetched $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$port >fetch.out 2>&1 &&
	same_tree v3 fetched &&
	wait_state acme/other stopped 20 &&
	test_grep "acme/other@$r3: seed limit reached" d1.err &&
	modelswarm daemon resume acme/other >/dev/null &&
	test "$(field acme/other state)" = seeding
'

test_expect_success 'disk budget: the least recently active unpinned repo is evicted' '
	other=$(find v3 -type f -exec cat {} + | wc -c) &&
	sed -i "/seed-ratio-limit/d" "$MODELSWARM_HOME/config" &&
	echo "disk-budget = $((other + 100000))" >>"$MODELSWARM_HOME/config" &&
	kill -HUP $dpid && wait_for "reloaded the configuration" d1.err 10 &&
	wait_for "acme/tiny@$r2: evicted (disk budget" d1.err 20 &&
	test "$(field acme/tiny@$r2 state)" = none &&
	! test -e cache/models--acme--tiny/snapshots/$r2 &&
	test "$(field acme/other state)" = seeding &&
	same_tree v3 cache/models--acme--other/snapshots/$r3 &&
	sed -i "/disk-budget/d" "$MODELSWARM_HOME/config" &&
	stop_daemon
'

test_expect_success 'seed-store: a daemon with no state seeds the complete snapshots it finds, hashing each once' '
	rm -rf "$MODELSWARM_HOME/state/daemon" &&
	printf "seed-store = true\nindex = %s\n" "$TRASH_DIRECTORY/www/index" \
		>>"$MODELSWARM_HOME/config" &&
	HF_HUB_CACHE="$TRASH_DIRECTORY/cache2" start_daemon d2 &&
	wait_for "seed-store: 1 snapshots of .*cache2. added" d2.err 20 &&
	wait_state acme/other@$r3 seeding 60 &&
	test "$(field acme/other cache)" = "$TRASH_DIRECTORY/cache2" &&
	test "$(field acme/other checks)" = 0 &&
	stop_daemon
'

test_done
