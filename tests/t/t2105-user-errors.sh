#!/bin/sh
test_description='what users really type: an index that serves an HTML page, an upper-case revision, publish into a missing index'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"

rev=$(fake_rev user-errors)
REV=$(echo $rev | tr a-f A-F)
page='<!DOCTYPE html>
<html><head><title>Not here</title></head><body>try the home page</body></html>'

test_expect_success 'setup: a release in an index' '
	publish_tiny $rev
'

test_expect_success 'publish creates a missing --index directory, parents too' '
	! test -e new &&
	# another repo: verify keeps what it saw of acme/tiny, and this
	# publish, a second later, makes version 1 with other bytes
	modelswarm publish repo --repo acme/fresh --rev $rev --key acme.key \
		--index new/www/index >pub.out 2>pub.err &&
	test -f new/www/index/acme/fresh/refs.json.minisig &&
	modelswarm verify --index new/www/index acme/fresh >verify.out &&
	test_grep "^verified acme/fresh@$rev " verify.out
'

test_expect_success 'publish refuses an index it cannot create, saying why' '
	echo x >file &&
	test_must_fail modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index file >out 2>err &&
	test_grep "'"'"'file'"'"' exists and is not a directory" err &&
	test_must_fail modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index file/index >out 2>err &&
	test_grep "'"'"'file'"'"' exists and is not a directory" err &&
	long=$(printf "%0300d" 0) &&
	test_must_fail modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index d/$long >out 2>err &&
	test_grep "cannot create directory '"'"'d/$long'"'"': File name too long" err &&
	test "$(cat file)" = x
'

test_expect_success 'an upper-case revision is the revision: get, verify, publish --rev' '
	ms_seed seed index/acme/tiny/$rev.torrent repo &&
	timeout 120 modelswarm get acme/tiny@$REV --index index --cache-dir cache --no-daemon \
		--peer 127.0.0.1:$seed_port $MS_NET --listen 127.0.0.1:0 >get.out 2>get.err &&
	echo "$PWD/cache/models--acme--tiny/snapshots/$rev" >expect &&
	test_cmp expect get.out &&
	same_tree repo cache/models--acme--tiny/snapshots/$rev &&
	modelswarm verify --index index acme/tiny@$REV >verify.out &&
	test_grep "^verified acme/tiny@$rev " verify.out &&
	modelswarm publish repo --repo acme/tiny --rev $REV --key acme.key --index index2 \
		>/dev/null &&
	test -f index2/acme/tiny/$rev.manifest.json
'

test_expect_success 'setup: nginx serves the index, with an HTML page for a signature' '
	mkdir -p www &&
	cp -r index www/html-refs &&
	printf "%s\n" "$page" >www/html-refs/acme/tiny/refs.json.minisig &&
	cp -r index www/html-manifest &&
	printf "%s\n" "$page" >www/html-manifest/acme/tiny/$rev.manifest.json.minisig &&
	cp -r index www/junk &&
	echo "not a signature" >www/junk/acme/tiny/refs.json.minisig &&
	start_nginx www
'

test_expect_success 'get and verify name the URL that served an HTML page for refs.json.minisig' '
	url=$nginx_url/html-refs/acme/tiny/refs.json.minisig &&
	test_must_fail timeout 60 modelswarm get acme/tiny --index $nginx_url/html-refs \
		--cache-dir c1 --no-daemon $MS_NET >out 2>err &&
	cat err &&
	test_grep "'"'"'$url'"'"' is not a minisign signature (got an HTML page)" err &&
	test_must_fail modelswarm verify --index $nginx_url/html-refs acme/tiny >out 2>err &&
	test_grep "'"'"'$url'"'"' is not a minisign signature (got an HTML page)" err &&
	! test -e c1/models--acme--tiny/snapshots
'

test_expect_success 'the same for a manifest signature' '
	url=$nginx_url/html-manifest/acme/tiny/$rev.manifest.json.minisig &&
	test_must_fail timeout 60 modelswarm get acme/tiny@$rev \
		--index $nginx_url/html-manifest --cache-dir c2 --no-daemon $MS_NET >out 2>err &&
	test_grep "'"'"'$url'"'"' is not a minisign signature (got an HTML page)" err &&
	test_must_fail modelswarm verify --index $nginx_url/html-manifest acme/tiny@$rev \
		>out 2>err &&
	test_grep "'"'"'$url'"'"' is not a minisign signature (got an HTML page)" err
'

test_expect_success 'something else that is no signature: the URL and what is wrong with it' '
	url=$nginx_url/junk/acme/tiny/refs.json.minisig &&
	test_must_fail timeout 60 modelswarm get acme/tiny --index $nginx_url/junk \
		--cache-dir c3 --no-daemon $MS_NET >out 2>err &&
	test_grep "'"'"'$url'"'"' is not a minisign signature (signature file has 1 lines, not 4)" err
'

test_done
