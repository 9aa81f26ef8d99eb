#!/bin/sh
test_description='mirror ORG/NAME@REV DIR: a verified release from the cache as one static
tree that nginx serves as both the index and the web seed'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"

rev=$(fake_rev mirror)
rev2=$(fake_rev mirror-2)
blobs=cache/models--acme--tiny/blobs
snap=cache/models--acme--tiny/snapshots/$rev
INDEX_FILES="$rev.torrent $rev.manifest.json $rev.manifest.json.minisig refs.json refs.json.minisig"

# sums DIR: "sha256  ./path" of every file under DIR (links followed), sorted
sums () {
	( cd "$1" && find -L . -type f | LC_ALL=C sort | xargs sha256sum )
}

# check_links DIR: every file of repo is at DIR/acme/tiny/resolve/$rev/PATH as
# a hard link to its blob in the cache (the same inode), and nothing else is
check_links () {
	( cd repo && find . -type f | sed "s|^\./||" ) | while read -r p; do
		f="$1/acme/tiny/resolve/$rev/$p" &&
		test -f "$f" && ! test -L "$f" &&
		test "$(stat -c %i "$f")" = "$(stat -L -c %i "$snap/$p")" || {
			echo "check_links: '$f' is not a hard link to its blob" >&2
			return 1
		}
	done &&
	same_tree repo "$1/acme/tiny/resolve/$rev"
}

# check_index DIR: the index files under DIR/acme/tiny are the publisher's, byte
# for byte, and nothing else is there but resolve/
check_index () {
	for f in $INDEX_FILES; do
		cmp index/acme/tiny/$f "$1/acme/tiny/$f" || return 1
	done &&
	ls "$1/acme/tiny" >actual.ls &&
	{ echo "$INDEX_FILES" | tr " " "\n"; echo resolve; } | LC_ALL=C sort >expect.ls &&
	LC_ALL=C sort actual.ls | test_cmp expect.ls -
}

test_expect_success 'setup: nginx on an empty tree; a release with it as web seed, seeded' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir www && start_nginx www &&
	small_repo repo && mkdir index &&
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key --index index \
		--webseed "$nginx_url/acme/tiny/resolve/" >pub.out &&
	grep -q "\"$nginx_url/acme/tiny/resolve/\"" index/acme/tiny/$rev.manifest.json &&
	ms_seed seed index/acme/tiny/$rev.torrent repo
'

test_expect_success 'get the release into a cache from the seeder' '
	timeout 120 modelswarm get acme/tiny@$rev --index index --cache-dir cache $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >get.out 2>get.err &&
	same_tree repo $snap &&
	test_kill $seed_pid
'

test_expect_success 'mirror writes hard links to the blobs and the signed files' '
	ls -i $blobs | sort >inodes.before &&
	modelswarm mirror acme/tiny www --index index --cache-dir cache >m.out 2>m.err &&
	test_grep "^mirrored acme/tiny@$rev into .www.: 6 files, .* (6 hard links, 0 copies)$" m.out &&
	check_links www &&
	check_index www &&
	ls -i $blobs | sort >inodes.after &&
	test_cmp inodes.before inodes.after &&
	test "$(stat -c %h $blobs/$(sha256sum <repo/model.safetensors | cut -c1-64))" = 2 &&
	! find www -name "*.ms-tmp-*" -o -name "*.tmp.*" | grep .
'

test_expect_success 'a second run is harmless and changes nothing' '
	find www -type f -printf "%P %i %s %T@\n" | sort >tree.before &&
	modelswarm mirror acme/tiny@$rev www --index index --cache-dir cache >m2.out 2>m2.err &&
	test_grep "^mirrored acme/tiny@$rev into .www.: 6 files" m2.out &&
	find www -type f -printf "%P %i %s %T@\n" | sort >tree.after &&
	test_cmp tree.before tree.after &&
	check_links www && check_index www
'

test_expect_success 'get from nginx alone: index and web seed, no peers, no tracker' '
	: >"$nginx_log" &&
	timeout 120 modelswarm get acme/tiny --index "$nginx_url/" --cache-dir fresh $MS_NET \
		--listen 127.0.0.1:0 >w.out 2>w.err &&
	echo "$TRASH_DIRECTORY/fresh/models--acme--tiny/snapshots/$rev" >expect &&
	test_cmp expect w.out &&
	sums repo >expect.sums &&
	sums fresh/models--acme--tiny/snapshots/$rev >actual.sums &&
	test_cmp expect.sums actual.sums &&
	test_grep " 0 from peers, " w.err &&
	for f in refs.json refs.json.minisig $rev.manifest.json $rev.manifest.json.minisig \
		$rev.torrent
	do
		test_grep "^GET /acme/tiny/$f 200 " "$nginx_log" || return 1
	done &&
	for f in model.safetensors small.bin config.json tokenizer/tokenizer.json; do
		test_grep "^GET /acme/tiny/resolve/$rev/$f 206 [0-9]* \"bytes=[0-9]*-[0-9]*\"$" \
			"$nginx_log" || return 1
	done &&
	! grep "^GET /acme/tiny/resolve/" "$nginx_log" | grep -v " 206 " &&
	service_alive nginx
'

test_expect_success 'a revision the index has but the cache has not: exit 1, nothing written' '
	cp -R repo repo2 && gen_file repo2/small.bin 70000 &&
	modelswarm publish repo2 --repo acme/tiny --rev $rev2 --key acme.key --index index \
		--ref next >/dev/null &&
	test_expect_code 1 modelswarm mirror acme/tiny@next m1 --index index --cache-dir cache \
		>out 2>err &&
	test_grep "^error: .small.bin. of acme/tiny@$rev2 is not in the cache .*(1 of 6 files missing)" err &&
	test_expect_code 1 modelswarm mirror acme/tiny@$rev m1 --index index --cache-dir empty \
		>out 2>err &&
	test_grep "^error: acme/tiny@$rev is not in the cache " err &&
	test_expect_code 1 modelswarm mirror acme/tiny@$(fake_rev nowhere) m1 --index index \
		--cache-dir cache >out 2>err &&
	test_grep "not found\|cannot open" err &&
	! test -e m1
'

test_expect_success 'a tampered blob: exit 1, the file is named, nothing is written' '
	cp -R cache tampered &&
	big=$(sha256sum <repo/model.safetensors | cut -c1-64) &&
	printf X | dd of=tampered/models--acme--tiny/blobs/$big bs=1 seek=100 conv=notrunc 2>/dev/null &&
	test_expect_code 1 modelswarm mirror acme/tiny@$rev m2 --index index --cache-dir tampered \
		>out 2>err &&
	test_grep "^error: .model.safetensors. does not match its sha256 in the manifest" err &&
	test_grep "^error: not mirroring acme/tiny@$rev: 1 of 6 files" err &&
	! test -s out &&
	test -d m2 && test -z "$(find m2 -mindepth 1)"
'

test_expect_success 'a symlink planted at a file: replaced, its target untouched' '
	echo precious >victim && cp victim victim.orig &&
	mkdir -p m3/acme/tiny/resolve/$rev/tokenizer &&
	ln -s "$TRASH_DIRECTORY/victim" m3/acme/tiny/resolve/$rev/config.json &&
	ln -s "$TRASH_DIRECTORY/victim" m3/acme/tiny/resolve/$rev/tokenizer/empty.txt &&
	ln -s "$TRASH_DIRECTORY/victim" m3/acme/tiny/$rev.manifest.json &&
	ln -s "$TRASH_DIRECTORY/victim" m3/acme/tiny/refs.json &&
	modelswarm mirror acme/tiny@$rev m3 --index index --cache-dir cache >out 2>err &&
	test_cmp victim.orig victim &&
	check_links m3 &&
	! test -L m3/acme/tiny/$rev.manifest.json &&
	cmp index/acme/tiny/$rev.manifest.json m3/acme/tiny/$rev.manifest.json
'

test_expect_success 'a symlink planted at a directory: refused, nothing written through it' '
	mkdir -p elsewhere m4/acme && ln -s ../../elsewhere m4/acme/tiny &&
	test_expect_code 2 modelswarm mirror acme/tiny@$rev m4 --index index --cache-dir cache \
		>out 2>err &&
	test_grep "m4/acme/tiny. is not a directory (a symlink?); refusing" err &&
	test -z "$(find elsewhere -mindepth 1)" &&
	test -L m4/acme/tiny
'

# --copy needs a second filesystem: /dev/shm (tmpfs) when there is one
shm=
if test -d /dev/shm && test -w /dev/shm &&
   test "$(stat -c %d /dev/shm)" != "$(stat -c %d "$TRASH_DIRECTORY")"; then
	shm=$(mktemp -d /dev/shm/ms-t3002.XXXXXX) && test_atexit "rm -rf '$shm'"
fi
if test -n "$shm"; then
	test_expect_success 'another filesystem: an error naming both, or copies with --copy' '
		test_expect_code 2 modelswarm mirror acme/tiny@$rev "$shm/m" --index index \
			--cache-dir cache >out 2>err &&
		test_grep "^error: .$shm/m. and .*/cache. are on different filesystems" err &&
		test -z "$(find "$shm/m" -mindepth 1)" &&
		modelswarm mirror acme/tiny@$rev "$shm/m" --index index --cache-dir cache \
			--copy >out 2>err &&
		test_grep "(0 hard links, 6 copies)$" out &&
		same_tree repo "$shm/m/acme/tiny/resolve/$rev" &&
		check_index "$shm/m"
	'
else
	say "no second filesystem writable at /dev/shm: --copy is not tested"
fi

test_expect_success 'usage errors exit 129' '
	test_expect_code 129 modelswarm mirror acme/tiny 2>err &&
	test_grep "no directory given" err &&
	test_expect_code 129 modelswarm mirror 2>err &&
	test_grep "no ORG/NAME given" err &&
	test_expect_code 129 modelswarm mirror acme/tiny d --bogus 2>err &&
	test_grep "unknown option" err &&
	test_expect_code 129 modelswarm mirror nosuchrepo d --index index 2>err &&
	test_expect_code 129 modelswarm mirror acme/tiny d 2>err &&
	test_grep "no index" err &&
	! test -e d
'

test_done
