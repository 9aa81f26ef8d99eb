#!/bin/sh
test_description='get resumes after SIGKILL from the verified pieces in the cache'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

rev=$(fake_rev resume)

# wait_done_bytes FILE BYTES: wait (bounded) until a --json progress event
# in FILE reports at least BYTES done
wait_done_bytes () {
	i=0
	while test $i -lt 600; do
		d=$(sed -n 's/.*"event":"progress","done":\([0-9]*\).*/\1/p' "$1" | tail -n 1)
		test -n "$d" && test "$d" -ge "$2" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "progress did not reach $2 bytes in $1" >&2
	return 1
}

test_expect_success 'setup: a 48 MB release seeded at 6 MB/s' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir -p repo index &&
	gen_file repo/model-00001-of-00002.safetensors 30000000 &&
	gen_file repo/model-00002-of-00002.safetensors 18000000 &&
	printf "{}\n" >repo/config.json &&
	modelswarm publish repo --repo acme/big --rev $rev --key acme.key --index index >/dev/null &&
	ms_seed seed index/acme/big/$rev.torrent repo --upload-limit 6M
'

# the files the first run began are read back for their sha256 (some of
# their pieces were written then, not in this run); the others are hashed
# as they are written, but for the 3-byte config.json (a git blob, always
# read back)
test_expect_success 'SIGKILL at about half way: nothing final, then the rest only' '
	test_bg g1 modelswarm get acme/big --index index --cache-dir cache --json \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) &&
	pid=$bg_pid &&
	wait_done_bytes g1.out 28000000 &&
	kill -9 $pid && { wait $pid; true; } &&
	! ls cache/models--acme--big/snapshots/* >/dev/null 2>&1 &&
	! test -e cache/models--acme--big/refs/main &&
	ls cache/models--acme--big/blobs/*.incomplete >/dev/null &&
	partial=0 &&
	for f in cache/models--acme--big/blobs/*.incomplete; do
		test "$(stat -c %b "$f")" -eq 0 ||
		partial=$((partial + $(stat -c %s "$f")))
	done &&
	say "files begun by the first run: $partial bytes" &&
	test "$partial" -gt 0 &&
	timeout 120 modelswarm get acme/big --index index --cache-dir cache --json \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) >g2.out 2>g2.err &&
	same_tree repo cache/models--acme--big/snapshots/$rev &&
	got=$(sed -n "s/.*\"event\":\"done\".*\"downloaded\":\([0-9]*\).*/\1/p" g2.out) &&
	say "the second run downloaded $got of 48000003 bytes" &&
	found=$(sed -n "s/.*\"event\":\"resuming\",\"verified\":\([0-9]*\),\"total\":48000003}\$/\1/p" g2.out) &&
	say "and said it found $found bytes verified" &&
	test "$found" -gt 0 && test $((found + got)) -ge 48000003 &&
	test "$got" -gt 0 && test "$got" -lt 32000000 &&
	back=$(sed -n "s/.*\"event\":\"done\".*\"read_back\":\([0-9]*\).*/\1/p" g2.out) &&
	say "and read $back bytes back to check their sha256" &&
	test "$back" -ge "$partial" && test "$back" -le $((partial + 3)) &&
	! ls cache/models--acme--big/blobs/*.incomplete 2>/dev/null &&
	test "$(cat cache/models--acme--big/refs/main)" = $rev
'

# get_interrupted NAME CACHE: a get into CACHE (output in NAME.out and
# NAME.err) sent SIGINT once 6 MB are done; it must exit 130
get_interrupted () {
	test_bg $1 modelswarm get acme/big --index index --cache-dir $2 --json \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) &&
	gi_pid=$bg_pid &&
	wait_done_bytes $1.out 6000000 &&
	kill -INT $gi_pid &&
	{ wait $gi_pid; echo $? >rc; } &&
	test "$(cat rc)" = 130
}

test_expect_success 'SIGINT: exit 130, progress saved, the loop closed cleanly' '
	get_interrupted g3 cache3 &&
	test_grep "interrupted: progress saved" g3.err &&
	! grep -q "event loop not closed" g3.err &&
	ls "$MODELSWARM_HOME"/state/resume/*.get >/dev/null
'

test_expect_success 'the run after an interruption says what it found' '
	! grep resuming g3.err &&
	timeout 120 modelswarm get acme/big --index index --cache-dir cache3 \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) >g4.out 2>g4.err &&
	test_grep "^resuming: [0-9.]* MiB of 45.8 MiB already verified\$" g4.err &&
	same_tree repo cache3/models--acme--big/snapshots/$rev
'

# flip_first_data FILE...: flip the first written byte (not a hole) of the
# first FILE that has one; prints that file
flip_first_data () {
	/usr/bin/python3 -c "
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDWR)
    try:
        at = os.lseek(fd, 0, os.SEEK_DATA)
    except OSError:
        os.close(fd)
        continue
    b = os.pread(fd, 1, at)
    os.pwrite(fd, bytes([b[0] ^ 0xff]), at)
    os.close(fd)
    print(p)
    sys.exit(0)
sys.exit(1)
" "$@"
}

test_expect_success 'a piece counted as had but wrong on disk: checked again, fetched again' '
	get_interrupted g5 cache5 &&
	bad=$(flip_first_data cache5/models--acme--big/blobs/*.incomplete) &&
	say "flipped a byte of $bad" &&
	timeout 120 modelswarm get acme/big --index index --cache-dir cache5 \
		$MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) >g6.out 2>g6.err &&
	test_grep "^resuming: " g6.err &&
	test_grep "^warning: .* verified piece by piece but its sha256 [0-9a-f]* is not the manifest.s [0-9a-f]*: checking every piece on disk again\$" g6.err &&
	same_tree repo cache5/models--acme--big/snapshots/$rev &&
	! ls cache5/models--acme--big/blobs/*.incomplete 2>/dev/null
'

test_done
