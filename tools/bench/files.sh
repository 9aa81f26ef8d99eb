#!/bin/sh
# tools/bench/files.sh: how `modelswarm get` scales with the number of
# files. For N small files (1-8 KB, in 40 directories) plus one 50 MB
# file, in the same run: `get` into an empty Hugging Face cache,
# `modelswarm fetch` of the same torrent from the same seeder, and curl of
# the same files from nginx. Prints, per client and N, the median wall
# time, the median peak RSS (/usr/bin/time), the bytes each client says
# it received over the payload (BitTorrent: piece payload, no protocol
# headers; curl: the bodies) and, run as root (the bench then runs in a
# network namespace of its own), every byte its loopback carried during
# the download over the payload; then get/fetch ratios against the
# targets (wall <= 1.5x fetch, peak RSS <= 256 MiB at 10000 files, wire /
# payload <= 1.05). Then `publish` against mktorrent of the largest tree, in turn,
# medians of R runs each (target: publish < 2x mktorrent). Not a test.
#
#   tools/bench/files.sh [--n "500 2000 10000"] [--runs R] [--tmpdir DIR] [--keep]
#   BENCH_CONFIG="key = value" adds lines to every config file (A/B runs)
set -u

# as root, the whole run in a network namespace of its own: its loopback
# then carries nothing but the bench's traffic, and counts it (a client's
# own count of what it received leaves out the protocol); before the
# arguments are read, so that they go along
if test -z "${MS_FILES_NETNS:-}" && test "$(id -u)" = 0 && command -v unshare >/dev/null 2>&1; then
	MS_FILES_NETNS=1 exec unshare -n sh -c 'ip link set lo up && exec sh "$0" "$@"' \
		"$0" "$@"
fi

ns="500 2000 10000"
runs=3
tmp_parent=${TMPDIR:-/tmp}
keep=

usage () {
	echo "usage: tools/bench/files.sh [--n \"N...\"] [--runs R] [--tmpdir DIR] [--keep]"
}

while test $# -gt 0; do
	case "$1" in
	--n) ns=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--tmpdir) tmp_parent=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 129 ;;
	esac
done
case "$(echo $ns)$runs" in
*[!0-9\ ]*|'') usage >&2; exit 129 ;;
esac

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tools/bench/lib.sh"
test -x "$ROOT/modelswarm" || bench_die "build modelswarm first (make)"
for p in nginx curl perl mktorrent /usr/bin/time; do
	command -v $p >/dev/null 2>&1 || sh "$ROOT/tools/deps.sh" test ||
		bench_die "cannot install $p (tools/deps.sh test)"
done

bench_workdir "$tmp_parent" ms-bench-files "$ROOT/modelswarm"

MS_NET="--no-dht --no-lsd --no-port-mapping"
bench_ms_home "$W/lab"
bench_ms_home "$W/user"
ORG=bench-org
export MODELSWARM_HOME=$W/lab
"$MS" keygen $ORG -o "$W" --no-password >/dev/null || bench_die "keygen failed"
MODELSWARM_HOME=$W/user "$MS" trust add $ORG "$W/$ORG.pub" >/dev/null || bench_die "trust add failed"
mkdir -p "$W/index" "$W/srv"

# gen_tree DIR N: N files of 1000-8000 bytes in 40 directories, and a
# 50 MB model.safetensors
gen_tree () {
	mkdir -p "$1" &&
	perl -e '
		my ($dir, $n) = @ARGV;
		srand(7);
		for my $i (0 .. $n - 1) {
			my $d = sprintf("%s/d%02d", $dir, $i % 40);
			mkdir $d;
			open(my $f, ">", sprintf("%s/f%06d.json", $d, $i)) or die "$!\n";
			my $len = 1000 + int(rand(7001));
			my $s = pack("N*", map { int(rand(4294967296)) } 1 .. int($len / 4) + 1);
			print $f substr($s, 0, $len);
			close($f) or die "$!\n";
		}' "$1" "$2" &&
	gen_bytes 50000000 >"$1/model.safetensors"
}

NGINX_WORKERS=auto
NGINX_HTTP_EXTRA=${NGINX_HTTP_EXTRA:-}
start_nginx "$W/srv" || bench_die "nginx did not start"

# run_CLIENT OUT LOG: one download of the current repo into OUT; the
# client's peak RSS in LOG.rss (KB) and bytes received in LOG.wire
run_get () {
	MODELSWARM_HOME=$W/user exec /usr/bin/time -f %M -o "$2.rss" timeout -k 5 900 \
		"$MS" get "$ORG/$NAME@$REV" --index "file://$W/index" --cache-dir "$1" \
		--peer "127.0.0.1:$SPORT" --listen 127.0.0.1:0 --json $MS_NET >"$2.out" 2>"$2.err"
}
wire_get () {
	sed -n 's/.*"event":"done".*"downloaded":\([0-9]*\).*/\1/p' "$1.out"
}
run_fetch () {
	MODELSWARM_HOME=$W/user exec /usr/bin/time -f %M -o "$2.rss" timeout -k 5 900 \
		"$MS" fetch "$TORRENT" -o "$1" --peer "127.0.0.1:$SPORT" --listen 127.0.0.1:0 \
		$MS_NET >"$2.out" 2>"$2.err"
}
wire_fetch () {
	sed -n 's/^downloaded \([0-9]*\) bytes.*/\1/p' "$1.out"
}
run_curl () {
	# one URL and output a file: a command line would be too long
	(cd "$SRC" && find . -type f | sed 's|^\./||') |
		awk -v o="$1" -v u="$nginx_url/$ORG--$NAME" \
			'{ printf "url = \"%s/%s\"\noutput = \"%s/%s\"\n", u, $0, o, $0 }' >"$2.cfg"
	exec /usr/bin/time -f %M -o "$2.rss" timeout -k 5 900 curl -sS --fail --create-dirs \
		-Z --parallel-max 64 -w '%{size_download}\n' -K "$2.cfg" >"$2.out" 2>"$2.err"
}
wire_curl () {
	awk '{ s += $1 } END { print s + 0 }' "$1.out"
}
# bytes the loopback carried so far (both ways: each packet once); "-"
# outside a namespace of our own
lo_bytes () {
	if test -n "${MS_FILES_NETNS:-}"; then
		awk -F'[: ]+' '/ lo:/ { print $3 }' /proc/net/dev
	else
		echo -
	fi
}
result_dir () {
	case $1 in
	get) echo "$2/models--$ORG--$NAME/snapshots/$REV" ;;
	*) echo "$2" ;;
	esac
}

clients="get fetch curl"
: >results
mkdir -p "$W/spent"
for n in $ns; do
	NAME=files-$n
	REV=$(printf 'bench files %s' "$n" | sha1sum | cut -c1-40)
	SRC=$W/srv/$ORG--$NAME
	bench_say "N = $n: writing the tree"
	gen_tree "$SRC" "$n" || bench_die "cannot write the tree"
	payload=$(find "$SRC" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
	bench_timed /usr/bin/time -f %M -o logs/publish-$n.rss "$MS" publish "$SRC" \
		--repo $ORG/$NAME --rev "$REV" --key "$W/$ORG.key" --index "$W/index" \
		>logs/publish-$n.out 2>logs/publish-$n.err
	test "$rc" = 0 || bench_die "publish failed: $(cat logs/publish-$n.err)"
	echo "publish $n $secs $(cat logs/publish-$n.rss)" >>publish
	TORRENT=$W/index/$ORG/$NAME/$REV.torrent
	bench_bg logs/seed-$n "$MS" seed "$TORRENT" "$SRC" --listen 127.0.0.1:0 $MS_NET
	seed_pid=$bg_pid
	bench_wait_for '^seeding ' logs/seed-$n.out 600 "$seed_pid" ||
		bench_die "seeder: $(cat logs/seed-$n.err)"
	SPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' logs/seed-$n.out | head -n 1)
	r=0
	while test "$r" -le "$runs"; do
		order=$(echo $clients | awk -v r="$r" '{ for (i = 0; i < NF; i++) printf "%s ", $(((i + r) % NF) + 1) }')
		for c in $order; do
			d=$W/out/$c
			log=logs/$c-$n-r$r
			rm -rf "$d"
			sync
			lo0=$(lo_bytes)
			bench_timed run_$c "$d" "$log"
			lo1=$(lo_bytes)
			if test "$rc" -ne 0; then
				bench_say "N = $n, round $r: $c FAILED (exit $rc): $(tail -n 3 "$log.err")"
			elif ! diff -r -q "$SRC" "$(result_dir $c "$d")" >/dev/null 2>&1; then
				bench_say "N = $n, round $r: $c FAILED: files differ from the source"
			else
				rss=$(tail -n 1 "$log.rss")
				wire=$(wire_$c "$log")
				lo=$(awk -v a="$lo0" -v b="$lo1" 'BEGIN { if (a == "-") print "-"; else print b - a }')
				bench_say "N = $n, round $r: $c $secs s, $((rss / 1024)) MiB, $wire bytes, loopback $lo"
				# round 0 warms the page cache and the seeder
				test "$r" -gt 0 && echo "$c $n $secs $rss $wire $payload $lo" >>results
			fi
			# not deleted until the end: ext4 without a journal (as
			# here) will not reuse an inode freed in the last 60 s,
			# and finding a free one then reads every recently freed
			# inode's block; a download right after deleting 20,000
			# files spent most of its time there (perf), which is
			# not what a user's download meets
			mv "$d" "$W/spent/$c-$n-r$r"
		done
		r=$((r + 1))
	done
	bench_stop "$seed_pid"
done

# median FIELD CLIENT N
median () {
	awk -v c="$2" -v n="$3" -v f="$1" '$1 == c && $2 == n { print $f }' results | bench_median
}

echo "modelswarm files benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(bench_machine)"
echo "N files of 1-8 KB in 40 directories + one 50 MB file; one seeder of the published"
echo "(hybrid) torrent for get and fetch, nginx for curl (64 in parallel); 1 warm-up +"
echo "$runs rounds, medians; said: bytes the client says it received (piece payload or"
echo "HTTP bodies) over the files' bytes; loopback: every byte the loopback carried"
echo "during the download, both ways, protocol and headers included (root only)"
printf '%-6s %6s %8s %10s %12s %12s\n' client N "wall s" "RSS MiB" "said/payload" "lo/payload"
for n in $ns; do
	for c in $clients; do
		wall=$(median 3 $c $n)
		rss=$(median 4 $c $n)
		ratio=$(awk -v c="$c" -v n="$n" '$1 == c && $2 == n { print $5 / $6 }' results | bench_median)
		lor=$(awk -v c="$c" -v n="$n" '$1 == c && $2 == n && $7 != "-" { print $7 / $6 }' results |
			bench_median)
		printf '%-6s %6s %8s %10s %12s %12s\n' "$c" "$n" "$wall" \
			"$(awk -v r="$rss" 'BEGIN { if (r == "nan") print "-"; else printf "%.0f", r / 1024 }')" \
			"$(awk -v r="$ratio" 'BEGIN { if (r == "nan") print "-"; else printf "%.3f", r }')" \
			"$(awk -v r="$lor" 'BEGIN { if (r == "nan" || r == "") print "-"; else printf "%.3f", r }')"
	done
done
echo
last=$(echo $ns | awk '{ print $NF }')
for n in $ns; do
	gw=$(median 3 get $n)
	fw=$(median 3 fetch $n)
	gr=$(median 4 get $n)
	v=$(awk -v a="$gw" -v b="$fw" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')
	printf 'N = %-6s get/fetch wall %5s  target <= 1.5  %s\n' "$n" "$v" \
		"$(awk -v v="$v" 'BEGIN { print (v != "nan" && v <= 1.5) ? "ok" : "MISSED" }')"
	# the wire: the loopback's count when there is one, else the client's
	gl=$(awk -v n="$n" '$1 == "get" && $2 == n && $7 != "-" { print $7 / $6 }' results | bench_median)
	what=loopback
	if test "$gl" = nan || test -z "$gl"; then
		gl=$(awk -v n="$n" '$1 == "get" && $2 == n { print $5 / $6 }' results | bench_median)
		what=said
	fi
	printf 'N = %-6s get wire/payload (%s) %5s  target <= 1.05  %s\n' "$n" "$what" \
		"$(awk -v r="$gl" 'BEGIN { printf "%.3f", r }')" \
		"$(awk -v r="$gl" 'BEGIN { print (r != "nan" && r <= 1.05) ? "ok" : "MISSED" }')"
	if test "$n" = 10000; then
		printf 'N = %-6s get peak RSS %5s MiB  target <= 256  %s\n' "$n" \
			"$(awk -v r="$gr" 'BEGIN { printf "%.0f", r / 1024 }')" \
			"$(awk -v r="$gr" 'BEGIN { print (r <= 256 * 1024) ? "ok" : "MISSED" }')"
	fi
done

echo
echo "publish, first run per N (the tree just written): $(awk '{ printf "%s%s files %s s %.0f MiB", s, $2, $3, $4 / 1024; s = ", " }' publish)"

# ---- publish against mktorrent, the largest tree ---------------------------
# in turn, each into a fresh output, both on a tree the page cache holds;
# a sync first, so that neither waits on the write-back of the downloads
# above (publish syncs its index, mktorrent writes without)
SRC=$W/srv/$ORG--files-$last
REV=$(printf 'bench files %s' "$last" | sha1sum | cut -c1-40)
: >mk
: >pub
r=1
while test "$r" -le "$runs"; do
	rm -f "$W/mk.torrent"
	sync
	bench_timed mktorrent -l 17 -o "$W/mk.torrent" "$SRC" >logs/mktorrent.out 2>&1
	test "$rc" = 0 && echo "$secs" >>mk
	rm -rf "$W/index-pub"
	sync
	bench_timed "$MS" publish "$SRC" --repo $ORG/files-$last --rev "$REV" \
		--key "$W/$ORG.key" --index "$W/index-pub" >logs/publish-again.out 2>&1
	test "$rc" = 0 && echo "$secs" >>pub
	r=$((r + 1))
done
pub=$(bench_median <pub)
mk=$(bench_median <mk)
echo
echo "publish of $last files, median of $runs: $pub s (v1+v2 hashes, sha256, git sha1,"
echo "signing, the index written and synced); runs: $(echo $(cat pub))"
echo "mktorrent (v1 only, 128 KiB pieces), median of $runs: $mk s; runs: $(echo $(cat mk))"
v=$(awk -v a="$pub" -v b="$mk" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')
printf 'publish/mktorrent %5s  target < 2  %s\n' "$v" \
	"$(awk -v v="$v" 'BEGIN { print (v != "nan" && v < 2) ? "ok" : "MISSED" }')"
echo
echo "CPU floor for these sizes: tools/bench/budget.sh (hashing and copying per byte;"
echo "it does not count the per-file costs measured here)"
