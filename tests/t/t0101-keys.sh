#!/bin/sh
test_description='keygen and trust: keys compatible with minisign both ways'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

test_expect_success 'keygen --no-password writes a 0600 secret key and a public key' '
	modelswarm keygen acme --no-password >out &&
	test_grep "^secret key: ./acme.key (not encrypted)" out &&
	test "$(stat -c %a acme.key)" = 600 &&
	head -n 1 acme.pub | grep -q "^untrusted comment: minisign public key [0-9A-F]\{16\}$" &&
	test $(wc -l <acme.pub) -eq 2
'

test_expect_success 'keygen never overwrites a key' '
	cp acme.key acme.key.orig &&
	test_expect_code 2 modelswarm keygen acme --no-password 2>err &&
	test_grep "already exists" err &&
	cmp acme.key acme.key.orig
'

test_expect_success 'keygen checks its arguments' '
	test_expect_code 129 modelswarm keygen 2>err &&
	test_grep "no organisation" err &&
	test_expect_code 129 modelswarm keygen "ac/me" 2>err &&
	test_expect_code 129 modelswarm keygen acme --bogus 2>err &&
	test_expect_code 2 modelswarm keygen other -o nosuchdir --no-password 2>err &&
	test_grep "not a directory" err
'

test_expect_success 'a password-protected key (password on stdin) works with minisign' '
	mkdir enc &&
	echo "s3cret pass" | modelswarm keygen lab -o enc >out &&
	test_grep "(encrypted)" out &&
	echo hello >msg &&
	echo "s3cret pass" | minisign -S -s enc/lab.key -m msg -t "tc" >/dev/null 2>&1 &&
	minisign -V -p enc/lab.pub -m msg >out &&
	test_grep "Trusted comment: tc" out &&
	rm msg.minisig &&
	! { echo "wrong" | minisign -S -s enc/lab.key -m msg >/dev/null 2>&1; }
'

test_expect_success 'keygen refuses an empty password' '
	echo "" | test_expect_code 2 modelswarm keygen nopw -o enc 2>err &&
	test_grep "empty password" err &&
	! test -e enc/nopw.key
'

test_expect_success 'trust add (key string or file), list, remove' '
	modelswarm trust add acme acme.pub >out &&
	test_grep "^trusting key [0-9A-F]\{16\} for .acme.$" out &&
	modelswarm trust add lab "$(sed -n 2p enc/lab.pub)" &&
	modelswarm trust list >list &&
	test $(wc -l <list) -eq 2 &&
	test_grep "^acme [0-9A-F]\{16\} $(sed -n 2p acme.pub)$" list &&
	test_grep "^lab " list &&
	modelswarm trust remove lab &&
	modelswarm trust list >list &&
	test $(wc -l <list) -eq 1 &&
	test_expect_code 1 modelswarm trust remove lab 2>err &&
	test_grep "no trusted key for .lab." err
'

test_expect_success 'trust add refuses a second key for an org and junk keys' '
	modelswarm trust add acme acme.pub &&
	test_expect_code 2 modelswarm trust add acme "$(sed -n 2p enc/lab.pub)" 2>err &&
	test_grep "already has a different trusted key" err &&
	test_expect_code 2 modelswarm trust add x "RWQnotakey" 2>err &&
	test_grep "is not a public key" err &&
	test_expect_code 129 modelswarm trust add "../x" acme.pub 2>err &&
	test_expect_code 129 modelswarm trust frob 2>err
'

test_expect_success 'a key made by minisign -G publishes; minisign verifies our signatures' '
	minisign -G -W -p mk.pub -s mk.key >/dev/null 2>&1 &&
	modelswarm trust add mk mk.pub &&
	mkdir -p index repo && small_repo repo &&
	rev=$(fake_rev one) &&
	modelswarm publish repo --repo mk/tiny --rev $rev --key mk.key --index index >out &&
	test_grep "^published mk/tiny@$rev version 1" out &&
	minisign -V -p mk.pub -m index/mk/tiny/$rev.manifest.json >out &&
	test_grep "Trusted comment: modelswarm manifest repo=mk/tiny revision=$rev version=1" out &&
	minisign -V -H -p mk.pub -m index/mk/tiny/refs.json >out &&
	test_grep "Trusted comment: modelswarm refs repo=mk/tiny version=1" out &&
	modelswarm verify --index index mk/tiny@$rev >out &&
	test_grep "^verified mk/tiny@$rev version 1: 6 files" out
'

test_expect_success 'publish with an encrypted key reads the password from stdin' '
	modelswarm trust add lab enc/lab.pub &&
	rev=$(fake_rev two) &&
	echo "s3cret pass" | modelswarm publish repo --repo lab/tiny --rev $rev \
		--key enc/lab.key --index index >out &&
	test_grep "^published lab/tiny@$rev" out &&
	echo "nope" | test_expect_code 2 modelswarm publish repo --repo lab/tiny \
		--rev $rev --key enc/lab.key --index index 2>err &&
	test_grep "wrong password" err
'

test_done
