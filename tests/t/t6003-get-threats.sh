#!/bin/sh
test_description='get: a torrent or store that does not match the signed manifest never reaches a final name'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

rev=$(fake_rev threats)

# publish_as REPO: publish the repo under REPO (same files and revision,
# so the same torrent, which the one seeder serves)
publish_as () {
	modelswarm publish repo --repo "$1" --rev $rev --key acme.key --index index >/dev/null
}

# get_fails REPO CACHE MESSAGE: get exits 1 with MESSAGE and writes no
# snapshot or ref
get_fails () {
	test_expect_code 1 timeout 60 modelswarm get "$1" --index index --cache-dir "$2" \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) >out 2>err &&
	test_grep "$3" err &&
	d="$2/models--$(echo "$1" | sed "s|/|--|")" &&
	! ls "$d"/snapshots/* >/dev/null 2>&1 &&
	! test -e "$d/refs/main"
}

# ... and the torrent was refused before anything was stored
refused_early () {
	! test -e "$1"
}

test_expect_success 'setup: key, repo, index, a seeder' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo repo && mkdir index &&
	publish_as acme/good &&
	ms_seed seed index/acme/good/$rev.torrent repo
'

test_expect_success 'no torrent in the index: the metadata comes from peers by the signed info-hashes' '
	publish_as acme/magnet &&
	rm index/acme/magnet/$rev.torrent &&
	timeout 60 modelswarm get acme/magnet --index index --cache-dir c0 $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) >out0 2>err0 &&
	test_grep "getting its metadata from peers" err0 &&
	same_tree repo c0/models--acme--magnet/snapshots/$rev &&
	! ls c0/models--acme--magnet/blobs/*.incomplete 2>/dev/null &&
	! test -e c0/models--acme--magnet/$rev
'

test_expect_success 'a torrent whose info-hash is not the manifest'"'"'s' '
	publish_as acme/swap &&
	mkdir other && echo other >other/x && modelswarm create other -o other.torrent --name $rev >/dev/null &&
	cp other.torrent index/acme/swap/$rev.torrent &&
	get_fails acme/swap c1 "torrent.s v1 info-hash [0-9a-f]* is not the manifest.s" &&
	refused_early c1
'

test_expect_success 'a junk torrent in the index' '
	publish_as acme/junk &&
	echo junk >index/acme/junk/$rev.torrent &&
	get_fails acme/junk c2 "not a valid torrent" &&
	refused_early c2
'

# edit_files REPO PERL: edit the manifest of REPO (signed again by the org)
edit_files () {
	f=index/$1/$rev.manifest.json &&
	perl -0pi -e "$2" "$f" &&
	resign "$f" acme.key
}

test_expect_success 'the manifest lists a file the torrent lacks' '
	publish_as acme/extra &&
	edit_files acme/extra "s/(\"files\": \\[)/\$1\n    {\"path\": \".aaa.bin\", \"size\": 1, \"sha256\": \"$(printf x | sha256sum | cut -c1-64)\", \"etag\": \"$(printf x | git hash-object --stdin)\", \"pieces_root\": \"$(printf x | sha256sum | cut -c1-64)\"},/" &&
	get_fails acme/extra c3 "torrent is missing ..aaa.bin." &&
	refused_early c3
'

test_expect_success 'the torrent has a file the manifest does not list' '
	publish_as acme/missing &&
	edit_files acme/missing "s/\\{\\s*\"path\": \"config.json\"[^}]*\\},//s" &&
	! grep -q "\"config.json\"" index/acme/missing/$rev.manifest.json &&
	get_fails acme/missing c4 "torrent has a file .config.json. that the manifest does not list" &&
	refused_early c4
'

test_expect_success 'a wrong size' '
	publish_as acme/size &&
	edit_files acme/size "s/(\"path\": \"small.bin\",\\s*\"size\": )70000/\${1}70001/" &&
	get_fails acme/size c5 "torrent says .small.bin. has 70000 bytes, the manifest 70001" &&
	refused_early c5
'

test_expect_success 'a wrong pieces root' '
	publish_as acme/root &&
	old=$(tr -d "\n" <index/acme/root/$rev.manifest.json | sed "s/.*\"small.bin\"[^}]*\"pieces_root\": \"\([0-9a-f]*\)\".*/\1/") &&
	edit_files acme/root "s/(\"path\": \"small.bin\".*?\"pieces_root\": \")([0-9a-f])/\$1 . (\$2 eq \"f\" ? \"e\" : \"f\")/se" &&
	! grep -q "$old" index/acme/root/$rev.manifest.json &&
	get_fails acme/root c6 "pieces root of .small.bin. is not the manifest.s" &&
	refused_early c6
'

# with_attr REPO FILE ATTR: REPO's torrent gives FILE the attribute ATTR,
# and the org signs a manifest naming that torrent's info-hashes
with_attr () {
	publish_as "$1" &&
	/usr/bin/python3 "$TEST_DIRECTORY/torrent-attr.py" index/$1/$rev.torrent attr.torrent \
		"$2" "$3" >ih &&
	mv attr.torrent index/$1/$rev.torrent &&
	v1=$(sed -n 1p ih) && v2=$(sed -n 2p ih) &&
	test -n "$v1" && test -n "$v2" &&
	edit_files "$1" "s/(\"infohash_v1\": \")[0-9a-f]{40}/\${1}$v1/; s/(\"infohash_v2\": \")[0-9a-f]{64}/\${1}$v2/" &&
	test_grep "$v2" index/$1/$rev.manifest.json
}

test_expect_success 'a signed torrent whose file has the executable attribute' '
	with_attr acme/exec small.bin x &&
	get_fails acme/exec c8 "torrent file .$rev/small.bin. has the executable attribute" &&
	refused_early c8
'

# (a file marked a symlink without a target: libtorrent itself refuses
# the torrent; a well-formed one would meet the check above)
test_expect_success 'a signed torrent whose file has the symlink attribute' '
	with_attr acme/link config.json l &&
	get_fails acme/link c9 "torrent for acme/link@$rev is not a valid torrent\|torrent file .$rev/config.json. has the symlink attribute" &&
	refused_early c9
'

test_expect_success 'pieces verify but the sha256 does not: nothing final' '
	publish_as acme/sha &&
	bad=$(printf bad | sha256sum | cut -c1-64) &&
	edit_files acme/sha "s/(\"path\": \"config.json\",\\s*\"size\": \\d+,\\s*\"sha256\": \")[0-9a-f]{64}/\${1}$bad/" &&
	test_grep "$bad" index/acme/sha/$rev.manifest.json &&
	get_fails acme/sha c7 "config.json. verified piece by piece but its sha256 [0-9a-f]* is not the manifest.s $bad" &&
	! test -e c7/models--acme--sha/blobs/$(git hash-object repo/config.json)
'

test_expect_success 'planted symlinks at blob and snapshot paths: their targets are untouched' '
	publish_as acme/plant &&
	d=c8/models--acme--plant &&
	mkdir -p $d/blobs $d/snapshots/$rev outside &&
	echo precious >outside/a && echo precious >outside/b && cp outside/a outside/a.orig &&
	big=$(sha256sum <repo/model.safetensors | cut -c1-64) &&
	ln -s "$TRASH_DIRECTORY/outside/a" $d/blobs/$big.incomplete &&
	ln -s "$TRASH_DIRECTORY/outside/b" $d/blobs/$(git hash-object repo/config.json) &&
	ln -s "$TRASH_DIRECTORY/outside/a" $d/snapshots/$rev/config.json &&
	timeout 60 modelswarm get acme/plant --index index --cache-dir c8 $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) >out9 2>err9 &&
	cmp outside/a outside/a.orig && cmp outside/b outside/a.orig &&
	same_tree repo $d/snapshots/$rev &&
	test -f $d/blobs/$big && ! test -L $d/blobs/$big
'

test_expect_success 'a cache directory that is a symlink is refused' '
	publish_as acme/linked &&
	mkdir -p c9 elsewhere && ln -s "$TRASH_DIRECTORY/elsewhere" c9/models--acme--linked &&
	test_expect_code 2 timeout 60 modelswarm get acme/linked --index index --cache-dir c9 \
		$MS_NET --peer 127.0.0.1:$(cat seed.port) 2>err &&
	test_grep "is not a directory (a symlink?)" err &&
	! ls elsewhere | grep -q .
'

test_expect_success 'ENOSPC part-way: a clear error, no final files; resumable once space returns' '
	mkdir full && gen_file repo/model.safetensors 12000000 &&
	rev2=$(fake_rev nospace) &&
	modelswarm publish repo --repo acme/full --rev $rev2 --key acme.key --index index >/dev/null &&
	ms_seed seed2 index/acme/full/$rev2.torrent repo &&
	mount -t tmpfs -o size=6m tmpfs full &&
	test_atexit "umount \"$TRASH_DIRECTORY/full\" 2>/dev/null" &&
	test_expect_code 2 timeout 60 modelswarm get acme/full --index index --cache-dir full \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >out 2>err &&
	test_grep "no space left on device writing .*\.incomplete" err &&
	test $(grep -c "^error" err) -eq 1 &&
	! ls full/models--acme--full/snapshots/* >/dev/null 2>&1 &&
	! test -e full/models--acme--full/blobs/$(sha256sum <repo/model.safetensors | cut -c1-64) &&
	mount -o remount,size=64m full &&
	timeout 60 modelswarm get acme/full --index index --cache-dir full --json \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >out 2>err &&
	same_tree repo full/models--acme--full/snapshots/$rev2 &&
	got=$(sed -n "s/.*\"event\":\"done\".*\"downloaded\":\([0-9]*\).*/\1/p" out) &&
	say "after ENOSPC the second run downloaded $got bytes" &&
	test "$got" -lt 9000000
'

test_done
