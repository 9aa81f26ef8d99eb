#!/bin/sh
test_description='seed ORG/NAME@REV from a Hugging Face cache, blobs in place (even one filled by another tool)'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

rev=$(fake_rev store)

# hf_layout DIR CACHE REPO REV: the cache layout hf download makes, by
# hand: LFS files (the repo's .gitattributes says *.bin; the hub's 10 MiB
# rule) are named by sha256, the others by git blob sha1
hf_layout () {
	d="$2/models--$(echo "$3" | sed "s|/|--|")" &&
	mkdir -p "$d/blobs" "$d/snapshots/$4" "$d/refs" &&
	( cd "$1" && find . -type f | sed "s|^\./||" ) | while read -r p; do
		if test $(wc -c <"$1/$p") -ge 10485760 || test "${p%.bin}" != "$p"; then
			e=$(sha256sum <"$1/$p" | cut -c1-64)
		else
			e=$(git hash-object "$1/$p")
		fi
		cp "$1/$p" "$d/blobs/$e" &&
		mkdir -p "$(dirname "$d/snapshots/$4/$p")" &&
		up=$(echo "$p" | sed "s|[^/]*/|../|g; s|[^/]*$||") &&
		ln -s "../../${up}blobs/$e" "$d/snapshots/$4/$p" || return 1
	done &&
	printf %s "$4" >"$d/refs/main"
}

test_expect_success 'setup: a published release and a cache made without modelswarm' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo repo && mkdir index &&
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key --index index >/dev/null &&
	hf_layout repo hf acme/tiny $rev &&
	same_tree repo hf/models--acme--tiny/snapshots/$rev &&
	ls -i hf/models--acme--tiny/blobs | sort >inodes.before
'

test_expect_success 'seed from the cache; another client fetches the release' '
	test_bg s1 modelswarm seed acme/tiny@main --index index --cache-dir hf $MS_NET \
		--listen 127.0.0.1:0 &&
	wait_for "^seeding acme/tiny@$rev from .* (6 of 6 files)" s1.out 60 &&
	port=$(sed -n "s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p" s1.out) &&
	timeout 60 modelswarm fetch index/acme/tiny/$rev.torrent -o got $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$port >f.out 2>f.err &&
	same_tree repo got &&
	test_kill $(cat s1.pid) &&
	ls -i hf/models--acme--tiny/blobs | sort >inodes.after &&
	test_cmp inodes.before inodes.after
'

test_expect_success 'a second start uses resume data; --recheck hashes again' '
	ls "$MODELSWARM_HOME"/state/resume/*.seed >/dev/null &&
	test_bg s2 modelswarm seed acme/tiny@$rev --index index --cache-dir hf $MS_NET \
		--listen 127.0.0.1:0 --recheck &&
	wait_for "^seeding acme/tiny@$rev" s2.out 60 &&
	test_kill $(cat s2.pid)
'

test_expect_success 'a partial snapshot seeds the files it has' '
	rm hf/models--acme--tiny/blobs/$(git hash-object repo/config.json) &&
	test_bg s3 modelswarm seed acme/tiny@$rev --index index --cache-dir hf $MS_NET \
		--listen 127.0.0.1:0 --recheck &&
	wait_for "^seeding acme/tiny@$rev from .* (5 of 6 files)" s3.out 60 &&
	test_kill $(cat s3.pid)
'

test_expect_success 'a damaged blob is refused' '
	big=$(sha256sum <repo/model.safetensors | cut -c1-64) &&
	# byte 100 changed (a byte written over it may be the same one)
	dd if=hf/models--acme--tiny/blobs/$big bs=1 skip=100 count=1 2>/dev/null |
		tr "\000-\377" "\001-\377\000" >byte &&
	dd if=byte of=hf/models--acme--tiny/blobs/$big bs=1 seek=100 conv=notrunc 2>/dev/null &&
	! cmp -s repo/model.safetensors hf/models--acme--tiny/blobs/$big &&
	test_expect_code 1 timeout 60 modelswarm seed acme/tiny@$rev --index index --cache-dir hf \
		$MS_NET --listen 127.0.0.1:0 --recheck >out 2>err &&
	test_grep "does not match the torrent" err
'

test_expect_success 'nothing in the cache, or no such release' '
	test_expect_code 1 timeout 60 modelswarm seed acme/tiny@$rev --index index --cache-dir empty \
		$MS_NET 2>err &&
	test_grep "none of the files" err &&
	test_expect_code 129 modelswarm seed acme/tiny@$rev --cache-dir hf 2>err &&
	test_grep "no index" err
'

test_expect_success 'Ctrl-C while the release is looked up in the DHT: 130, no error' '
	cp "$MODELSWARM_HOME/config" config.saved &&
	test_atexit "cp \"$TRASH_DIRECTORY/config.saved\" \"$MODELSWARM_HOME/config\"" &&
	printf "dht = true\nlisten = 127.0.0.1:0\nlibtorrent.dht_bootstrap_nodes = 127.0.0.1:9\n" \
		>>"$MODELSWARM_HOME/config" &&
	test_bg dhtint modelswarm seed acme/tiny@main --index dht: --cache-dir hf \
		--no-lsd --no-port-mapping --listen 127.0.0.1:0 &&
	pid=$bg_pid &&
	wait_for "^listening on " dhtint.out 30 &&
	sleep 1 && kill -INT $pid &&
	{ wait $pid; echo $? >rc; } &&
	test "$(cat rc)" = 130 &&
	test_grep "^stopped by signal 2\$" dhtint.err &&
	! grep -i "error" dhtint.err &&
	test_bg mirint modelswarm mirror acme/tiny@main mirdir --index dht: &&
	pid=$bg_pid &&
	sleep 3 && kill -INT $pid &&
	{ wait $pid; echo $? >rc; } &&
	test "$(cat rc)" = 130 &&
	test_grep "^mirror: interrupted\$" mirint.err &&
	! grep -i "error" mirint.err
'

test_done
