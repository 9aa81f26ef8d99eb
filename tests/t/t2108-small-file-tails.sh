#!/bin/sh
test_description='small files cost their own bytes on the wire, not a padded block; a bad tail is caught'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

# the bytes on the wire are counted on the loopback of a network
# namespace of one's own: nothing else runs there
if test "$(id -u)" != 0 || ! command -v unshare >/dev/null 2>&1; then
	echo "Bail out! needs root and unshare (util-linux) for a network namespace"
	exit 1
fi

rev=$(fake_rev tails)

# 300 files of 1-8 KB in 7 directories and a 2 MB shard whose last piece
# is short too
make_repo () {
	perl -e '
		my ($dir) = @ARGV;
		srand(21);
		for my $i (0 .. 299) {
			my $d = sprintf("%s/d%d", $dir, $i % 7);
			mkdir $d;
			open(my $f, ">", sprintf("%s/f%03d.json", $d, $i)) or die "$!\n";
			print $f join("", map { chr(int(rand(256))) } 1 .. 1000 + int(rand(7000)));
			close($f) or die "$!\n";
		}' "$1" &&
	gen_file "$1/model.safetensors" 2001000
}

# in_netns OUT TAILS: a seeder and a fetch in a namespace of their own;
# OUT.wire gets the bytes its loopback carried during the fetch
cat >in-netns.sh <<'EOF'
set -u
out=$1
ip link set lo up || exit 1
lo_bytes () { awk -F'[: ]+' '/ lo:/ { print $3 }' /proc/net/dev; }
modelswarm seed index/acme/small/$REV.torrent repo $MS_NET --listen 127.0.0.1:0 \
	>$out.seed.out 2>$out.seed.err &
spid=$!
i=0
while ! grep -q '^seeding ' $out.seed.out 2>/dev/null; do
	i=$((i + 1))
	test $i -le 300 || { kill $spid; exit 1; }
	sleep 0.1
done
port=$(sed -n 's/^listening on [^ ]*:\([0-9][0-9]*\)$/\1/p' $out.seed.out | head -n 1)
b0=$(lo_bytes)
timeout 120 modelswarm fetch index/acme/small/$REV.torrent -o $out --peer 127.0.0.1:$port \
	--listen 127.0.0.1:0 $MS_NET >$out.out 2>$out.err
rc=$?
b1=$(lo_bytes)
kill $spid
wait $spid
echo $((b1 - b0)) >$out.wire
exit $rc
EOF

in_netns () {
	MODELSWARM_PEER_TAILS=$2 REV=$rev MS_NET="$MS_NET" unshare -n sh in-netns.sh "$1"
}

test_expect_success 'setup: a lab publishes a repo of 300 small files' '
	modelswarm keygen acme --no-password >/dev/null &&
	mkdir repo index &&
	make_repo repo &&
	modelswarm publish repo --repo acme/small --rev $rev --key acme.key --index index \
		>/dev/null &&
	find repo -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }" >payload
'

# Each file of 1-8 KB was a 16 KiB block on the wire (its padding sent
# too): 1.8 times the payload. Between two modelswarm peers, each is
# asked for and sent by its own bytes.
test_expect_success 'a fetch carries the files, not their padding: wire <= 1.05 x payload' '
	in_netns out 1 &&
	same_tree repo out &&
	echo "wire $(cat out.wire) payload $(cat payload)" &&
	test $(cat out.wire) -le $(($(cat payload) * 105 / 100)) &&
	test_grep "0 hash failures" out.out
'

test_expect_success 'without tails (MODELSWARM_PEER_TAILS=0) every block goes whole' '
	in_netns whole 0 &&
	same_tree repo whole &&
	echo "wire $(cat whole.wire) payload $(cat payload)" &&
	test $(cat whole.wire) -gt $(($(cat payload) * 150 / 100))
'

# A seeder whose copy of one small file goes wrong (same size) once it
# has checked it: its tail of that file fails the piece's hash and never
# counts as downloaded, while every other file comes from it right; an
# honest seeder then sends that one piece and nothing else.
test_expect_success 'a wrong tail fails its hash; the file then comes right from another peer' '
	cp -R repo bad &&
	ms_seed badseed index/acme/small/$rev.torrent bad &&
	bad_pid=$seed_pid &&
	perl -e "open(my \$f, \"+<\", \$ARGV[0]) or die; print \$f \"XXXX\"; close(\$f)" \
		bad/d3/f003.json &&
	! cmp -s repo/d3/f003.json bad/d3/f003.json &&
	test_expect_code 130 timeout --preserve-status -s INT 8 modelswarm fetch index/acme/small/$rev.torrent \
		-o mixed --peer 127.0.0.1:$(cat badseed.port) --listen 127.0.0.1:0 $MS_NET \
		>mixed1.out 2>mixed1.err &&
	test_grep "interrupted: progress saved" mixed1.err &&
	test_kill $bad_pid &&
	for f in $(cd repo && find . -type f ! -path ./d3/f003.json); do
		cmp repo/$f mixed/$f || return 1
	done &&
	ms_seed goodseed index/acme/small/$rev.torrent repo &&
	timeout 120 modelswarm fetch index/acme/small/$rev.torrent -o mixed \
		--peer 127.0.0.1:$(cat goodseed.port) --listen 127.0.0.1:0 $MS_NET \
		>mixed.out 2>mixed.err &&
	same_tree repo mixed &&
	test_grep "^downloaded $(wc -c <repo/d3/f003.json) bytes " mixed.out
'

test_done
