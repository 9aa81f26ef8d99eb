#!/bin/sh
# tools/bench/budget.sh: what the speed targets against curl ask of this
# machine's CPUs. Not a test, and it runs no modelswarm: it measures the
# floor that any client's CPU time has, then says which "X times curl"
# targets fit on this machine at all.
#
# The floor, for G GiB of repo files moved over loopback to disk:
#   - the bytes must leave a sender and be written to disk by a receiver:
#     at least the CPU time of nginx (sendfile, no copy in user space) and
#     curl (one read, one write) doing exactly that, measured here, median
#     of --runs runs, same command line as tools/bench/get.sh's curl;
#   - a BitTorrent client must also hash every byte: SHA-1 for the v1
#     pieces and SHA-256 for the v2 block tree of a hybrid torrent, and
#     `get` once more SHA-256 over each whole file (the manifest's sha256,
#     the Hugging Face etag); measured with `openssl speed` on one core
#     (the same libcrypto libtorrent uses, with SHA-NI where the CPU has it).
# With every CPU busy all the time (the best case), a client cannot take
# less than floor / CPUs seconds; the best ratio to curl is then curl's
# time over that. A target above the best ratio cannot be met on this
# machine, whatever the client does.
#
#   tools/bench/budget.sh [--size-gib G] [--runs N] [--tmpdir DIR] [--keep]
set -u

size_gib=3
runs=3
tmp_parent=${TMPDIR:-/tmp}
keep=

usage () {
	echo "usage: tools/bench/budget.sh [--size-gib G] [--runs N] [--tmpdir DIR] [--keep]"
}

while test $# -gt 0; do
	case "$1" in
	--size-gib) size_gib=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--tmpdir) tmp_parent=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 129 ;;
	esac
done
case "$size_gib$runs" in
*[!0-9]*|'') usage >&2; exit 129 ;;
esac
test "$size_gib" -ge 1 && test "$runs" -ge 1 || { usage >&2; exit 129; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tools/bench/lib.sh"
for p in nginx curl openssl perl; do
	command -v $p >/dev/null 2>&1 || sh "$ROOT/tools/deps.sh" test || bench_die "cannot install $p"
done
test -x /usr/bin/time || bench_die "needs /usr/bin/time (Debian package time)"

mkdir -p "$tmp_parent" 2>/dev/null
W=$(mktemp -d "$tmp_parent/ms-bench-budget.XXXXXX") || bench_die "no work directory"
cd "$W" || exit 2
W=$(pwd)
# where the services (tests/t/lib-services.sh) keep their files
TRASH_DIRECTORY=$W
mkdir -p logs out
on_exit () {
	bench_cleanup
	test -n "$keep" || rm -rf "$W"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the files: get.sh's ---------------------------------------------------
SRC=$W/srv/repo
bench_get_repo "$SRC" "$size_gib" || bench_die "cannot write the repo"
total_bytes=$(find "$SRC" -type f -exec cat {} + | wc -c)

# ---- nginx, as in get.sh ---------------------------------------------------
NGINX_WORKERS=auto
start_nginx "$W/srv" || bench_die "nginx did not start"

# CPU ticks (user + system) of nginx's master and workers so far
tck=$(getconf CLK_TCK)
nginx_ticks () {
	bench_ticks "$nginx_pid"
}

run_curl () {
	args=
	for f in $(cd "$SRC" && ls); do
		args="$args -o $1/$f $nginx_url/repo/$f"
	done
	# shellcheck disable=SC2086
	exec /usr/bin/time -f "%e %U %S" -o "$2.time" timeout -k 5 900 \
		curl -sS --fail --create-dirs -Z --parallel-max 64 $args >"$2.out" 2>"$2.err"
}

: >results
r=0
while test "$r" -le "$runs"; do
	rm -rf out/curl
	sync
	n0=$(nginx_ticks)
	run_curl out/curl "logs/curl-r$r" &
	wait $!
	rc=$?
	n1=$(nginx_ticks)
	test $rc -eq 0 || bench_die "curl failed: $(tail -n 3 "logs/curl-r$r.err")"
	cmp -s "$SRC/config.json" out/curl/config.json || bench_die "curl's files differ"
	read -r wall cu cs <"logs/curl-r$r.time"
	cpu=$(awk -v u="$cu" -v s="$cs" -v n="$((n1 - n0))" -v t="$tck" 'BEGIN { printf "%.3f", u + s + n / t }')
	bench_say "round $r: curl $wall s, curl + nginx CPU $cpu s"
	test "$r" -gt 0 && echo "$wall $cpu" >>results
	r=$((r + 1))
done
rm -rf out/curl
wall=$(awk '{ print $1 }' results | bench_median)
cpu=$(awk '{ print $2 }' results | bench_median)

# ---- hashing, one core ------------------------------------------------------
sha1=$(bench_hash_speed sha1)
sha256=$(bench_hash_speed sha256)
test -n "$sha1" && test -n "$sha256" || bench_die "openssl speed gave nothing"
ncpu=$(nproc)

echo "CPU budget, $(date -u '+%Y-%m-%d %H:%M UTC'), $(bench_machine)"
echo "repo: $total_bytes bytes; curl from nginx to disk (median of $runs): $wall s,"
echo "curl + nginx CPU $cpu s; one core hashes SHA-1 at $(awk -v v="$sha1" 'BEGIN { printf "%.0f", v / 1e6 }') MB/s,"
echo "SHA-256 at $(awk -v v="$sha256" 'BEGIN { printf "%.0f", v / 1e6 }') MB/s (16 KiB blocks)"
echo
printf '%-34s %8s %9s %9s %8s  %s\n' "client (torrent)" "CPU s" "min s" "best/curl" target verdict
# line NAME SHA1-PASSES SHA256-PASSES TARGET
line () {
	awk -v n="$1" -v p1="$2" -v p2="$3" -v t="$4" -v b="$total_bytes" -v c="$cpu" \
		-v w="$wall" -v s1="$sha1" -v s2="$sha256" -v k="$ncpu" 'BEGIN {
		need = c + p1 * b / s1 + p2 * b / s2
		min = need / k
		best = w / min
		printf "%-34s %8.2f %9.2f %9.2f %8s  %s\n", n, need, min, best, \
			(t == "-" ? "-" : ">= " t), \
			(t == "-" ? "" : (best >= t ? "possible" : "cannot be met here"))
	}'
}
line "fetch (hybrid)" 1 1 0.9
line "get from peers (hybrid)" 1 2 0.9
line "get from a mirror (hybrid)" 1 2 1.0
line "fetch (v2-only)" 0 1 -
line "get (v2-only)" 0 2 -
echo
echo "CPU s: the floor (curl + nginx's CPU, plus the hashing); min s: that"
echo "floor spread over $ncpu CPUs with none ever idle; best/curl: curl's time over"
echo "min s, the highest ratio any client could reach here."
