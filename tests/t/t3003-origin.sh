#!/bin/sh
test_description='publish --seed and seed of our own release are the origin by default'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

rev=$(fake_rev origin)

# seeding NAME CMD...: start CMD (a seeder) as NAME, wait until it seeds
seeding () {
	name=$1
	shift
	test_bg "$name" "$@" $MS_NET --listen 127.0.0.1:0 &&
	wait_for "^seeding " "$name.out" 60 &&
	sed -n "s/^listening on [^ ]*:\([0-9][0-9]*\)\$/\1/p" "$name.out" | head -n 1 >"$name.port"
}

# stop NAME: stop the seeder started as NAME (our child: wait reaps it)
stop () {
	kill "$(cat "$1.pid")" && { wait "$(cat "$1.pid")"; true; }
}

# origin NAME: the seeder's origin line, then stop it
origin () {
	wait_for "^origin mode: " "$1.out" 10 &&
	grep "^origin mode: " "$1.out" &&
	stop "$1"
}

test_expect_success 'setup: our key, and a small repo' '
	modelswarm keygen acme --no-password >keygen.out &&
	id=$(sed -n "s/^key id: //p" keygen.out) &&
	test -n "$id" &&
	test -f "$MODELSWARM_HOME/own/$id.pub" &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo repo
'

test_expect_success 'publish --seed: the origin by default' '
	seeding pub modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index index --seed &&
	wait_for "^origin mode: " pub.out 10 &&
	test "$(grep "^origin mode: " pub.out)" = \
		"origin mode: on (we publish it; --no-origin turns it off)"
'

test_expect_success 'publish --seed --no-origin: not' '
	seeding pub2 modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index index2 --seed --no-origin &&
	test "$(origin pub2)" = "origin mode: off"
'

test_expect_success 'origin = false in the config: not either' '
	cp "$MODELSWARM_HOME/config" config.saved &&
	echo "origin = false" >>"$MODELSWARM_HOME/config" &&
	seeding pub3 modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index index3 --seed &&
	cp config.saved "$MODELSWARM_HOME/config" &&
	test "$(origin pub3)" = "origin mode: off"
'

test_expect_success 'publish --no-origin without --seed is a usage error' '
	test_expect_code 129 modelswarm publish repo --repo acme/tiny --rev $rev \
		--key acme.key --index index4 --no-origin 2>err &&
	test_grep "are for --seed" err &&
	! test -e index4
'

test_expect_success 'seed ORG/NAME@REV signed by our key: the origin, unless --no-origin' '
	modelswarm get acme/tiny --index index --cache-dir cache --no-daemon $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$(cat pub.port) >get.out 2>get.err &&
	stop pub &&
	seeding s1 modelswarm seed acme/tiny@$rev --index index --cache-dir cache &&
	test "$(origin s1)" = \
		"origin mode: on (signed by our key $id; --no-origin turns it off)" &&
	seeding s2 modelswarm seed acme/tiny@$rev --index index --cache-dir cache --no-origin &&
	test "$(origin s2)" = "origin mode: off"
'

test_expect_success 'a release of a key we do not hold: not the origin, unless --origin' '
	other="$TRASH_DIRECTORY/other" &&
	mkdir -p "$other" &&
	cp "$MODELSWARM_HOME/config" "$other/config" &&
	MODELSWARM_HOME=$other modelswarm trust add acme acme.pub >/dev/null &&
	MODELSWARM_HOME=$other seeding s3 modelswarm seed acme/tiny@$rev --index index \
		--cache-dir cache &&
	test "$(origin s3)" = "origin mode: off" &&
	MODELSWARM_HOME=$other seeding s4 modelswarm seed acme/tiny@$rev --index index \
		--cache-dir cache --origin &&
	test "$(origin s4)" = "origin mode: on"
'

test_expect_success 'seed FILE.torrent DIR: not the origin by default' '
	seeding s5 modelswarm seed index/acme/tiny/$rev.torrent repo &&
	test "$(origin s5)" = "origin mode: off"
'

test_done
