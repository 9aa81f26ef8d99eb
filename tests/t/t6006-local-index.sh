#!/bin/sh
test_description='a local index whose file is a FIFO, a directory or a device: get and verify fail at once, naming it'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

rev=$(fake_rev local-index)

# fails_fast WHAT CMD...: CMD fails (not killed by the 10 s timeout) and
# says that the index's WHAT is not a regular file
fails_fast () {
	what=$1
	shift
	test_must_fail timeout -k 1 10 "$@" >out 2>err &&
	cat err &&
	test_grep "index/acme/tiny/$what. is not a regular file" err
}

test_expect_success 'setup: a published release in a local index' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir -p repo index &&
	echo "{}" >repo/config.json &&
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key --index index >/dev/null &&
	mv index/acme/tiny/refs.json refs.json
'

for kind in fifo directory device; do
	test_expect_success "refs.json is a $kind: get (a directory, file://) and verify give up at once" '
		rm -rf index/acme/tiny/refs.json &&
		case $kind in
		fifo) mkfifo index/acme/tiny/refs.json ;;
		directory) mkdir index/acme/tiny/refs.json ;;
		device) ln -s /dev/zero index/acme/tiny/refs.json ;;
		esac &&
		fails_fast refs.json modelswarm get acme/tiny --index index --cache-dir c \
			$MS_NET --listen 127.0.0.1:0 &&
		fails_fast refs.json modelswarm get acme/tiny --index "file://$PWD/index" \
			--cache-dir c $MS_NET --listen 127.0.0.1:0 &&
		fails_fast refs.json modelswarm verify --index index acme/tiny
	'
done

test_expect_success 'a FIFO signature next to a good refs.json: the same' '
	rm -rf index/acme/tiny/refs.json && cp refs.json index/acme/tiny/refs.json &&
	mv index/acme/tiny/refs.json.minisig refs.json.minisig &&
	mkfifo index/acme/tiny/refs.json.minisig &&
	fails_fast refs.json.minisig modelswarm get acme/tiny --index index --cache-dir c \
		$MS_NET --listen 127.0.0.1:0 &&
	fails_fast refs.json.minisig modelswarm verify --index index acme/tiny
'

test_expect_success 'regular files again: verify passes' '
	rm index/acme/tiny/refs.json.minisig && cp refs.json.minisig index/acme/tiny/ &&
	modelswarm verify --index index acme/tiny >out &&
	test_grep "^verified acme/tiny@$rev" out
'

test_done
