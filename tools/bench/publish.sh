#!/bin/sh
# tools/bench/publish.sh: time `modelswarm publish` (sha256 + git sha1 +
# v1 SHA-1 pieces + v2 merkle, one read per file) against mktorrent (v1
# SHA-1 only, all cores) and `openssl dgst -sha256` over the same files,
# with the page cache warm and cold, alternating, and print medians and
# ratios. Not a test: a table for humans.
#
#   tools/bench/publish.sh [--size-gib G] [--runs N] [--dir DIR] [--keep]
set -e

size_gib=3
runs=3
dir=
keep=

usage () {
	echo "usage: tools/bench/publish.sh [--size-gib G] [--runs N] [--dir DIR] [--keep]"
}

while test $# -gt 0; do
	case "$1" in
	--size-gib) size_gib=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 129 ;;
	esac
done

root=$(cd "$(dirname "$0")/../.." && pwd)
ms="$root/modelswarm"
test -x "$ms" || { echo "error: build modelswarm first (make)" >&2; exit 2; }
for p in mktorrent openssl minisign; do
	command -v $p >/dev/null || sh "$root/tools/deps.sh" test
done

if test -z "$dir"; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ms-bench-publish.XXXXXX")
fi
cleanup () {
	test -n "$keep" || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export MODELSWARM_HOME="$dir/home"
mkdir -p "$MODELSWARM_HOME" "$dir/repo"
printf 'dht = false\nlsd = false\nport-mapping = false\n' >"$MODELSWARM_HOME/config"

echo "# generating a ${size_gib} GiB repo in $dir/repo" >&2
i=1
while test $i -le "$size_gib"; do
	f="$dir/repo/model-0000$i-of-0000$size_gib.safetensors"
	test -s "$f" || head -c 1073741824 /dev/urandom >"$f"
	i=$((i + 1))
done
printf '{"architectures": ["Bench"]}\n' >"$dir/repo/config.json"
head -c 2000000 /dev/urandom >"$dir/repo/tokenizer.json"
"$ms" keygen bench -o "$dir" --no-password >/dev/null 2>&1 || true
files=$(find "$dir/repo" -type f | sort)

drop_cache () {
	for f in $files; do
		dd if="$f" iflag=nocache count=0 2>/dev/null
	done
}
warm_cache () {
	cat $files >/dev/null
}

now () {
	date +%s.%N
}

run_one () { # tool -> prints seconds
	rm -rf "$dir/index" "$dir/m.torrent"
	mkdir -p "$dir/index"
	t0=$(now)
	case $1 in
	publish)
		"$ms" publish "$dir/repo" --repo bench/model \
			--rev 0123456789abcdef0123456789abcdef01234567 \
			--key "$dir/bench.key" --index "$dir/index" >/dev/null ;;
	mktorrent)
		mktorrent -t "$(nproc)" -o "$dir/m.torrent" "$dir/repo" >/dev/null ;;
	openssl)
		openssl dgst -sha256 $files >/dev/null ;;
	esac
	t1=$(now)
	echo "$t0 $t1" | awk '{ printf "%.3f\n", $2 - $1 }'
}

median () {
	sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

tools="publish mktorrent openssl"
for cache in warm cold; do
	for t in $tools; do : >"$dir/times.$cache.$t"; done
	r=0
	while test $r -le "$runs"; do   # round 0 is the warm-up
		for t in $tools; do
			if test $cache = cold; then drop_cache; else warm_cache; fi
			s=$(run_one $t)
			test $r -gt 0 && echo "$s" >>"$dir/times.$cache.$t"
			echo "# $cache round $r $t ${s}s" >&2
		done
		r=$((r + 1))
	done
done

bytes=$(cat $files | wc -c)
printf '\n%-8s %-10s %10s %10s %12s\n' cache tool median_s MB/s vs_mktorrent
for cache in warm cold; do
	mk=$(median <"$dir/times.$cache.mktorrent")
	for t in $tools; do
		m=$(median <"$dir/times.$cache.$t")
		echo "$cache $t $m $mk $bytes" | awk '{ printf "%-8s %-10s %10.2f %10.0f %11.2fx\n", $1, $2, $3, $5 / $3 / 1e6, $3 / $4 }'
	done
done
echo "# publish does 3 hashes per byte (sha256, v2 merkle sha256, v1 sha1; git sha1 for small files); mktorrent 1; target: publish <= 2.5x mktorrent"
