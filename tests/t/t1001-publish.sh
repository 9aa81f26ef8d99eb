#!/bin/sh
test_description='publish: one hashing pass into a signed index; verify a directory'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

rev=$(fake_rev first)

test_expect_success 'setup: key, trust, repo' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo repo &&
	mkdir index index2
'

test_expect_success 'publish writes the torrent, the signed manifest and refs' '
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index index --webseed http://127.0.0.1:1/acme/tiny/resolve/ \
		--tracker http://127.0.0.1:2/announce >out &&
	d=index/acme/tiny &&
	for f in $rev.torrent $rev.manifest.json $rev.manifest.json.minisig refs.json refs.json.minisig; do
		test -s $d/$f || return 1
	done &&
	test_grep "^published acme/tiny@$rev version 1: 6 files" out &&
	test_grep "^ref main -> $rev$" out &&
	test_grep "\"path\": \"tokenizer/empty.txt\"" $d/$rev.manifest.json &&
	test_grep "http://127.0.0.1:1/acme/tiny/resolve/" $d/$rev.manifest.json
'

test_expect_success 'the torrent is named after the revision and matches the manifest' '
	modelswarm seed index/acme/tiny/$rev.torrent repo $MS_NET --listen 127.0.0.1:0 >seed.out 2>&1 &
	pid=$! &&
	wait_for "^seeding .$rev. from" seed.out &&
	v1=$(sed -n "s/^infohash v1: //p" seed.out) &&
	test_kill $pid &&
	test_grep "\"infohash_v1\": \"$v1\"" index/acme/tiny/$rev.manifest.json
'

test_expect_success 'etag: sha256 for LFS files (size or .gitattributes), git sha1 else' '
	m=index/acme/tiny/$rev.manifest.json &&
	big=$(sha256sum <repo/model.safetensors | cut -c1-64) &&
	bin=$(sha256sum <repo/small.bin | cut -c1-64) &&
	cfg=$(git hash-object repo/config.json) &&
	test_grep "\"etag\": \"$big\"" $m &&
	test_grep "\"etag\": \"$bin\"" $m &&
	test_grep "\"etag\": \"$cfg\"" $m &&
	test_grep "\"sha256\": \"$(sha256sum <repo/config.json | cut -c1-64)\"" $m
'

test_expect_success 'the same inputs give the same info-hash' '
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index index2 --webseed http://127.0.0.1:1/acme/tiny/resolve/ \
		--tracker http://127.0.0.1:2/announce >out2 &&
	grep "^infohash" out >a && grep "^infohash" out2 >b &&
	test_cmp a b && test -s a &&
	cmp index/acme/tiny/$rev.torrent index2/acme/tiny/$rev.torrent
'

test_expect_success 'publishing again raises the version of the manifest and refs' '
	rev2=$(fake_rev second) &&
	modelswarm publish repo --repo acme/tiny --rev $rev2 --key acme.key \
		--index index --ref main --ref stable >out &&
	test_grep "version 2:" out &&
	test_grep "\"version\": 2" index/acme/tiny/refs.json &&
	test_grep "\"stable\"" index/acme/tiny/refs.json &&
	modelswarm verify --index index acme/tiny@stable >v &&
	test_grep "^ref stable of acme/tiny -> $rev2 (refs.json version 2)" v &&
	modelswarm verify --index "file://$TRASH_DIRECTORY/index" acme/tiny@$rev >v &&
	test_grep "^verified acme/tiny@$rev version 1" v
'

test_expect_success 'verify --manifest accepts the directory' '
	modelswarm verify --manifest index/acme/tiny/$rev.manifest.json repo >out &&
	test_grep "matches: every file, size and sha256" out
'

test_expect_success 'verify --manifest: a changed byte, an extra file, a missing file' '
	cp -r repo r2 &&
	printf "X" | dd of=r2/model.safetensors bs=1 seek=5000000 conv=notrunc 2>/dev/null &&
	test_expect_code 1 modelswarm verify --manifest index/acme/tiny/$rev.manifest.json r2 2>err &&
	test_grep "model.safetensors. does not match its sha256" err &&
	cp repo/model.safetensors r2/ && echo extra >r2/extra.txt &&
	test_expect_code 1 modelswarm verify --manifest index/acme/tiny/$rev.manifest.json r2 2>err &&
	test_grep "extra.txt. is not in the manifest" err &&
	rm r2/extra.txt r2/config.json &&
	test_expect_code 1 modelswarm verify --manifest index/acme/tiny/$rev.manifest.json r2 2>err &&
	test_grep "config.json. is missing" err
'

test_expect_success 'publish refuses .git/, symlinks out of DIR, bad paths, case collisions' '
	r=$(fake_rev bad) &&
	cp -r repo g && mkdir g/.git &&
	test_expect_code 2 modelswarm publish g --repo acme/tiny --rev $r --key acme.key --index index 2>err &&
	test_grep "contains .git/" err &&
	cp -r repo s && ln -s /etc/passwd s/passwd &&
	test_expect_code 2 modelswarm publish s --repo acme/tiny --rev $r --key acme.key --index index 2>err &&
	test_grep "refusing symlink .*passwd.: it points outside" err &&
	cp -r repo bs && echo x >"bs/back\\slash" &&
	test_expect_code 2 modelswarm publish bs --repo acme/tiny --rev $r --key acme.key --index index 2>err &&
	test_grep "backslash in path" err &&
	cp -r repo c && echo x >c/Config.json &&
	test_expect_code 2 modelswarm publish c --repo acme/tiny --rev $r --key acme.key --index index 2>err &&
	test_grep "differ only by case" err &&
	cp -r repo k && echo x >k/c:d &&
	test_expect_code 2 modelswarm publish k --repo acme/tiny --rev $r --key acme.key --index index 2>err &&
	test_grep "in path" err &&
	! test -e index/acme/tiny/$r.manifest.json &&
	! test -e index/acme/tiny/$r.torrent
'

test_expect_success 'a symlink inside DIR is published as the file it points to' '
	cp -r repo l && ln -s config.json l/config-link.json &&
	r=$(fake_rev link) &&
	modelswarm publish l --repo acme/tiny --rev $r --key acme.key --index index >out &&
	test_grep "\"path\": \"config-link.json\"" index/acme/tiny/$r.manifest.json
'

test_expect_success 'publish checks its arguments' '
	test_expect_code 129 modelswarm publish repo --repo acme/tiny --rev abc --key acme.key --index index 2>err &&
	test_grep "40-hex" err &&
	test_expect_code 129 modelswarm publish repo --repo acme --rev $rev --key acme.key --index index 2>err &&
	test_expect_code 129 modelswarm publish repo --rev $rev 2>err &&
	test_grep "required" err &&
	test_expect_code 129 modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key --index index --ref ../x 2>err &&
	test_expect_code 2 modelswarm publish repo --repo acme/tiny --rev $rev --key nokey --index index 2>err &&
	test_grep "cannot open .nokey." err
'

test_expect_success 'publish --seed seeds, and fetch gets the release' '
	r=$(fake_rev seeded) &&
	test_bg pub modelswarm publish repo --repo acme/tiny --rev $r --key acme.key \
		--index index --seed $MS_NET --listen 127.0.0.1:0 &&
	wait_for "^seeding " pub.out &&
	port=$(sed -n "s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p" pub.out) &&
	timeout 60 modelswarm fetch index/acme/tiny/$r.torrent -o got $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$port >f.out 2>f.err &&
	same_tree repo got &&
	modelswarm verify --manifest index/acme/tiny/$r.manifest.json got
'

test_done
