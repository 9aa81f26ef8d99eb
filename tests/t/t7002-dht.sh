#!/bin/sh
test_description='swarmlab: releases in the DHT (BEP 44), no tracker and no index: the
lab publishes with --dht; a newcomer holding only the pinned key resolves
@main and downloads; an item signed by another key is ignored; an older
item replayed is refused; with the lab offline, seed ORG/NAME@REF and
mirror resolve in the DHT too'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

if test "$(id -u)" != 0 || ! ip netns list >/dev/null 2>&1; then
	echo "Bail out! needs root and iproute2 (ip netns)"
	exit 1
fi

: "${MODELSWARM:=$MS_ROOT/modelswarm}"
export MODELSWARM
SWARMLAB_LIB=1
. "$MS_ROOT/tools/swarmlab"

rev=$(fake_rev dht-one)
rev2=$(fake_rev dht-two)

# dht_home HOST: the DHT on, bootstrapped from the lab's one DHT router
# (boot); every host of the lab is in one /24, which libtorrent would
# otherwise let count as one node
dht_home () {
	SL_MS_CONFIG="dht = true
libtorrent.dht_bootstrap_nodes = $(sl_ip boot):6881
libtorrent.dht_restrict_routing_ips = false
libtorrent.dht_restrict_search_ips = false${2:+
$2}" sl_ms_home "$1"
}

# ms_t HOST ARGS...: modelswarm on HOST, killed after 120 s
ms_t () {
	mt_h=$1
	shift
	# shellcheck disable=SC2046
	sl_exec "$mt_h" timeout 120 env -i $(sl_ms_env "$mt_h") "$MODELSWARM" "$@"
}

# get_dht HOST TAG [ARGS...]: get acme/tiny on HOST with no index (the
# DHT), bounded; output in get-HOST-TAG.{out,err}
get_dht () {
	gd_h=$1 gd_t=$2
	shift 2
	ms_t "$gd_h" get acme/tiny --no-daemon "$@" >"get-$gd_h-$gd_t.out" \
		2>"get-$gd_h-$gd_t.err"
}

# same_files HOST REV DIR: HOST's snapshot of REV has DIR's files, by sha256
same_files () {
	(cd "$3" && find . -type f | sort | xargs sha256sum) >sha.expect &&
	(cd "$SL_DIR/hosts/$1/cache/models--acme--tiny/snapshots/$2" &&
		find . -type l -o -type f | sort | xargs sha256sum) >sha.actual &&
	test_cmp sha.expect sha.actual
}

test_expect_success 'setup: a DHT router, the lab publishing with --dht and seeding, no tracker, no index' '
	sl_init --no-trap &&
	test_atexit sl_teardown &&
	sl_host boot 2 && sl_host pub 10 && sl_host h1 11 && sl_host h2 12 &&
	sl_host evil 13 && sl_host box 14 && sl_host h3 15 &&
	for h in boot pub h1 h2 evil; do dht_home $h || return 1; done &&
	mkdir -p repo && gen_file repo/model.safetensors 3000000 &&
	printf "{\"v\": 1}\n" >repo/config.json &&
	"$MODELSWARM" keygen acme --no-password >/dev/null &&
	"$MODELSWARM" keygen evil --no-password >/dev/null &&
	sl_ms_bg boot boot daemon --foreground &&
	boot_pid=$sl_pid &&
	sl_wait_for "control socket" "$SL_DIR/log/boot.err" 30 $boot_pid &&
	sl_ms_bg pub pub publish "$TRASH_DIRECTORY/repo" --repo acme/tiny --rev $rev \
		--key "$TRASH_DIRECTORY/acme.key" --index "$TRASH_DIRECTORY/lab" --dht --seed &&
	pub_pid=$sl_pid &&
	sl_wait_for "^seeding " "$SL_DIR/log/pub.out" 90 $pub_pid &&
	test_grep "^dht: acme/tiny@main version 1 put, kept by [1-9][0-9]* node" \
		"$SL_DIR/log/pub.out" &&
	! grep -q announce lab/acme/tiny/$rev.torrent
'

test_expect_success 'a newcomer with only the pinned key resolves @main in the DHT and downloads' '
	sl_ms h1 trust add acme "$TRASH_DIRECTORY/acme.pub" >/dev/null &&
	! test -e "$SL_DIR/hosts/h1/ms/config.index" &&
	! grep -q "^index" "$SL_DIR/hosts/h1/ms/config" &&
	{ get_dht h1 a || { cat get-h1-a.err >&2; false; }; } &&
	same_files h1 $rev repo &&
	test_grep "$rev" get-h1-a.out
'

test_expect_success 'an item of the same repo and ref signed by another key is ignored' '
	# evil puts acme/tiny@main under its own key, two versions on
	mkdir -p evil-repo && gen_file evil-repo/model.safetensors 1000 &&
	for v in 1 2; do
		sl_ms evil publish "$TRASH_DIRECTORY/evil-repo" --repo acme/tiny \
			--rev $(fake_rev evil-$v) --key "$TRASH_DIRECTORY/evil.key" \
			--index "$TRASH_DIRECTORY/evil-index" --dht >evil-$v.out 2>evil-$v.err ||
		{ cat evil-$v.err >&2; return 1; }
	done &&
	test_grep "^dht: acme/tiny@main version 2 put" evil-2.out &&
	sl_ms h2 trust add acme "$TRASH_DIRECTORY/acme.pub" >/dev/null &&
	{ get_dht h2 a || { cat get-h2-a.err >&2; false; }; } &&
	same_files h2 $rev repo &&
	! test -e "$SL_DIR/hosts/h2/cache/models--acme--tiny/snapshots/$(fake_rev evil-2)"
'

# puts HOST: how many times HOST's daemon put an item again
puts () {
	grep -c "dht: acme/tiny (modelswarm:acme/tiny@main) version 1 put again, kept by [1-9]" \
		"$SL_DIR/log/$1.err"
}

# puts_above HOST N
puts_above () {
	test "$(puts "$1")" -gt "$2"
}

test_expect_success 'a seedbox takes the release from the DHT, seeds it and puts its item again' '
	dht_home box "dht-reput-interval = 3
subscribe-interval = 2" &&
	sl_ms box trust add acme "$TRASH_DIRECTORY/acme.pub" >/dev/null &&
	sl_ms_bg box box daemon --foreground &&
	box_pid=$sl_pid &&
	sl_wait_for "control socket" "$SL_DIR/log/box.err" 30 $box_pid &&
	ms_t box get acme/tiny >get-box.out 2>get-box.err &&
	test -n "$(ls "$SL_DIR/hosts/box/ms/state/dht/items/")" &&
	sl_wait_for "put again, kept by [1-9]" "$SL_DIR/log/box.err" 30 $box_pid
'

test_expect_success 'an older item replayed is refused: the DHT shares the rollback state of refs.json' '
	# version 2 goes into the index only; the DHT still has version 1
	mkdir -p repo2 && gen_file repo2/model.safetensors 2000000 &&
	"$MODELSWARM" publish repo2 --repo acme/tiny --rev $rev2 --key acme.key \
		--index lab >pub2.out &&
	test_grep "version 2" pub2.out &&
	# h1 sees version 2 (resolving is enough: no one seeds it)
	test_expect_code 1 ms_t h1 seed acme/tiny@main --index "$TRASH_DIRECTORY/lab" 2>seed.err &&
	test_grep "none of the files" seed.err &&
	state=$SL_DIR/hosts/h1/ms/state/releases/acme/tiny.json &&
	cp "$state" state.before &&
	test_expect_code 1 get_dht h1 b --index dht: &&
	test_grep "rollback: the DHT item of acme/tiny@main has version 1, older than version 2 of refs.json seen before" \
		get-h1-b.err &&
	test_cmp state.before "$state" &&
	! test -e "$SL_DIR/hosts/h1/cache/models--acme--tiny/refs/main.new"
'

test_expect_success 'the lab goes offline, the DHT forgets: the seedbox puts the item again, a newcomer gets it' '
	sl_stop $pub_pid &&
	# the router restarts with an empty store (what a node does with an
	# item two hours after it was last put): only a put again brings
	# the item back
	sl_stop $boot_pid &&
	sl_ms_bg boot boot2 daemon --foreground &&
	boot_pid=$sl_pid &&
	sl_wait_for "control socket" "$SL_DIR/log/boot2.err" 30 $boot_pid &&
	n=$(puts box) &&
	sl_poll 30 puts_above box $((n + 1)) &&
	dht_home h3 &&
	sl_ms h3 trust add acme "$TRASH_DIRECTORY/acme.pub" >/dev/null &&
	{ get_dht h3 a || { cat get-h3-a.err >&2; false; }; } &&
	same_files h3 $rev repo
'

test_expect_success 'a new release (seq + 1) is picked up by a subscribed daemon' '
	sl_ms box daemon subscribe acme/tiny@main >sub.out &&
	mkdir -p repo3 && gen_file repo3/model.safetensors 2500000 &&
	rev3=$(fake_rev dht-three) &&
	sl_ms_bg pub pub3 publish "$TRASH_DIRECTORY/repo3" --repo acme/tiny --rev $rev3 \
		--key "$TRASH_DIRECTORY/acme.key" --index "$TRASH_DIRECTORY/lab" --dht --seed &&
	pub_pid=$sl_pid &&
	sl_wait_for "^seeding " "$SL_DIR/log/pub3.out" 90 $pub_pid &&
	test_grep "^dht: acme/tiny@main version 3 put" "$SL_DIR/log/pub3.out" &&
	sl_wait_for "subscription acme/tiny@main: new revision $rev3" "$SL_DIR/log/box.err" 60 \
		$box_pid &&
	sl_poll 60 test -e "$SL_DIR/hosts/box/cache/models--acme--tiny/snapshots/$rev3/model.safetensors" &&
	same_files box $rev3 repo3
'

test_expect_success 'seed ORG/NAME@REF, no index, lab offline: resolved in the DHT in its session; a newcomer downloads from it' '
	sl_stop $pub_pid &&
	sl_host s1 16 && sl_host n1 17 &&
	# s1 has the files of version 3 in its hub cache (as hf download
	# would leave them) and nothing else: no index, no item, no bundle
	dht_home s1 &&
	sl_ms s1 trust add acme "$TRASH_DIRECTORY/acme.pub" >/dev/null &&
	cp -R "$SL_DIR/hosts/box/cache/models--acme--tiny" "$SL_DIR/hosts/s1/cache/" &&
	! test -e "$SL_DIR/hosts/s1/ms/state/dht" &&
	sl_ms_bg s1 s1 seed acme/tiny@main &&
	s1_pid=$sl_pid &&
	sl_wait_for "^seeding acme/tiny@$rev3 from" "$SL_DIR/log/s1.out" 90 $s1_pid &&
	test -n "$(ls "$SL_DIR/hosts/s1/ms/state/dht/items/")" &&
	# s1 is the only seed of version 3 and of its bundle from here on
	sl_stop $box_pid &&
	dht_home n1 &&
	sl_ms n1 trust add acme "$TRASH_DIRECTORY/acme.pub" >/dev/null &&
	{ get_dht n1 a || { cat get-n1-a.err >&2; false; }; } &&
	same_files n1 $rev3 repo3
'

test_expect_success 'mirror ORG/NAME@REF, no index: resolved in the DHT in a session of its own; the mirror verifies' '
	mir=$SL_DIR/hosts/n1/mir &&
	ms_t n1 mirror acme/tiny@main "$mir" >mirror.out 2>mirror.err &&
	test_grep "^mirrored acme/tiny@$rev3 into" mirror.out &&
	test_grep "acme/tiny@main came from the DHT, which carries no signed refs.json" \
		mirror.err &&
	d=$mir/acme/tiny &&
	test -f "$d/$rev3.torrent" && test -f "$d/$rev3.manifest.json.minisig" &&
	! test -e "$d/refs.json" &&
	(cd repo3 && find . -type f | sort | xargs sha256sum) >sha.expect &&
	(cd "$d/resolve/$rev3" && find . -type f | sort | xargs sha256sum) >sha.actual &&
	test_cmp sha.expect sha.actual &&
	sl_ms n1 verify --index "$mir" acme/tiny@$rev3 >verify.out &&
	test_grep "^verified acme/tiny@$rev3 version 3" verify.out &&
	# the session is gone with the command: nothing of it left in n1
	test -z "$(ip netns pids "$(sl_ns n1)")"
'

test_expect_success 'verify --index dht: on a fresh host: the item and the manifest from the DHT' '
	sl_host n2 18 &&
	dht_home n2 &&
	sl_ms n2 trust add acme "$TRASH_DIRECTORY/acme.pub" >/dev/null &&
	ms_t n2 verify --index dht: acme/tiny@main >vdht.out 2>vdht.err &&
	test_grep "^ref main of acme/tiny -> $rev3 (a DHT item signed by the key of acme)\$" vdht.out &&
	test_grep "^verified acme/tiny@$rev3 version 3" vdht.out &&
	test -z "$(ip netns pids "$(sl_ns n2)")"
'

test_done
