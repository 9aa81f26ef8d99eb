#!/bin/sh
test_description='get: a repo of a thousand small files costs a few flushes, bounded memory, honest progress'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

rev=$(fake_rev many-files)
n=1000

test -x /usr/bin/time || sh "$MS_ROOT/tools/deps.sh" test >&2
# peak RSS allowed to get (KB); AddressSanitizer's shadow memory and
# quarantine take more (before the fix: 1.4 GB)
rss_cap=$((192 * 1024))
! ldd "$MS_ROOT/modelswarm" 2>/dev/null | grep -q libasan || rss_cap=$((512 * 1024))

# n files of 1-8 KB in 40 directories (each its own piece, a git blob)
# and a 3 MB shard
make_repo () {
	perl -e '
		my ($dir, $n) = @ARGV;
		srand(20);
		for my $i (0 .. $n - 1) {
			my $d = sprintf("%s/d%02d", $dir, $i % 40);
			mkdir $d;
			open(my $f, ">", sprintf("%s/f%05d.json", $d, $i)) or die "$!\n";
			print $f join("", map { chr(int(rand(256))) } 1 .. 1000 + int(rand(7000)));
			close($f) or die "$!\n";
		}' "$1" "$2" &&
	gen_file "$1/model.safetensors" 3000000
}

# the "field" of every --json event "event" in FILE, one a line
events () {
	sed -n "s/.*\"event\":\"$2\".*\"$3\":\([0-9]*\).*/\1/p" "$1"
}

# seeded at 2 MB/s: the small files cross at their own size (4.5 MB in
# all, tails.cpp) and the shard at 3 MB, so the download takes about 4 s
# and --json reports progress on the way
test_expect_success 'setup: a lab publishes and seeds a repo of 1000 small files' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir repo index &&
	make_repo repo $n &&
	test $(find repo -type f | wc -l) = $((n + 1)) &&
	modelswarm publish repo --repo acme/many --rev $rev --key acme.key --index index \
		>/dev/null &&
	ms_seed seed index/acme/many/$rev.torrent repo --upload-limit 2M
'

# One flush (a save of resume data, the size of the whole torrent) per
# small file made this grow with the square of the number of files: 1000
# files of 1-8 KB took 2.1 GB and 20 s. Then files completed meanwhile
# shared a flush, and each was read back for its git blob id; now both of
# its hashes are worked out as it is written: no flush, nothing read back.
test_expect_success 'get lands every file with no flush, nothing read back, bounded memory' '
	/usr/bin/time -f "%M" -o rss timeout 120 modelswarm get acme/many@$rev --index index \
		--cache-dir cache --json $MS_NET --listen 127.0.0.1:0 \
		--peer 127.0.0.1:$(cat seed.port) >get.out 2>get.err &&
	same_tree repo cache/models--acme--many/snapshots/$rev &&
	test $(grep -c "\"event\":\"file\"" get.out) = $((n + 1)) &&
	flushes=$(events get.out done flushes) &&
	read_back=$(events get.out done read_back) &&
	say "flushes: $flushes, read back: $read_back bytes, peak RSS: $(cat rss) KB" &&
	test "$flushes" = 0 && test "$read_back" = 0 &&
	test "$(cat rss)" -le $rss_cap
'

test_expect_success 'progress never says more done than there is to do' '
	sed -n "s/.*\"event\":\"progress\",\"done\":\([0-9]*\),\"total\":\([0-9]*\).*/\1 \2/p" \
		get.out >progress &&
	test $(wc -l <progress) -ge 2 &&
	total=$(find repo -type f -exec cat {} + | wc -c) &&
	awk -v t=$total "\$2 != t || \$1 > \$2 { print \"bad: \" \$0; bad = 1 } END { exit bad }" \
		progress
'

test_done
