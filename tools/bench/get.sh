#!/bin/sh
# tools/bench/get.sh: `modelswarm get` into an empty Hugging Face cache
# against `modelswarm fetch` of the same torrent from the same seeder,
# aria2c (v1 torrent, through opentracker) and curl from nginx, alternating
# in the same run. Prints median MB/s and the ratios get/fetch (target
# >= 0.95: signature, resolution and the final sha256 cost almost nothing)
# and get/curl (target >= 0.9). Not a test.
#
#   tools/bench/get.sh [--size-gib G] [--runs N] [--dir DIR] [--keep]
#   BENCH_CONFIG="key = value" adds lines to every config file (A/B runs)
set -u

size_gib=3
runs=3
W=
keep=

usage () {
	echo "usage: tools/bench/get.sh [--size-gib G] [--runs N] [--dir DIR] [--keep]"
}

while test $# -gt 0; do
	case "$1" in
	--size-gib) size_gib=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--dir) W=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 129 ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tools/bench/lib.sh"
MS=$ROOT/modelswarm
test -x "$MS" || bench_die "build modelswarm first (make)"
for p in aria2c opentracker nginx curl perl; do
	command -v $p >/dev/null 2>&1 || sh "$ROOT/tools/deps.sh" test || bench_die "cannot install $p"
done

test -n "$W" || W=$(mktemp -d "${TMPDIR:-/tmp}/ms-bench-get.XXXXXX")
mkdir -p "$W/logs"
cd "$W" || exit 2
W=$(pwd)
# where the services (tests/t/lib-services.sh) keep their files
TRASH_DIRECTORY=$W
on_exit () {
	bench_cleanup
	test -n "$keep" || rm -rf "$W"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

MS_NET="--no-dht --no-lsd --no-port-mapping"
bench_ms_home "$W/lab"
bench_ms_home "$W/user"

# ---- the repo, published ---------------------------------------------------

ORG=bench-org
NAME=bench-model
REV=$(printf 'bench release' | sha1sum | cut -c1-40)
SRC=$W/srv/$ORG--$NAME
bench_get_repo "$SRC" "$size_gib" || bench_die "cannot write the repo"
total_bytes=$(find "$SRC" -type f -exec cat {} + | wc -c)

bench_say "publishing $total_bytes bytes"
export MODELSWARM_HOME=$W/lab
rm -f "$W/$ORG.key" "$W/$ORG.pub"
"$MS" keygen $ORG -o "$W" --no-password >/dev/null || bench_die "keygen failed"
mkdir -p "$W/index"
"$MS" publish "$SRC" --repo $ORG/$NAME --rev "$REV" --key "$W/$ORG.key" \
	--index "$W/index" >logs/publish.out 2>logs/publish.err || bench_die "publish failed: $(cat logs/publish.err)"
TORRENT=$W/index/$ORG/$NAME/$REV.torrent
"$MS" create "$SRC" -o "$W/v1.torrent" --v1-only >logs/v1.out 2>&1 || bench_die "create failed"
V1HASH=$(sed -n 's/^infohash v1: //p' logs/v1.out)
MODELSWARM_HOME=$W/user "$MS" trust add $ORG "$W/$ORG.pub" >/dev/null

# ---- seeders, tracker, nginx ----------------------------------------------

bench_bg logs/seed "$MS" seed "$TORRENT" "$SRC" --listen 127.0.0.1:0 $MS_NET
seed_pid=$bg_pid
bench_bg logs/seed1 "$MS" seed "$W/v1.torrent" "$SRC" --listen 127.0.0.1:0 $MS_NET
seed1_pid=$bg_pid
bench_wait_for '^seeding ' logs/seed.out 600 "$seed_pid" || bench_die "seeder: $(cat logs/seed.err)"
bench_wait_for '^seeding ' logs/seed1.out 600 "$seed1_pid" || bench_die "seeder: $(cat logs/seed1.err)"
SPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' logs/seed.out | head -n 1)
SPORT1=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' logs/seed1.out | head -n 1)

start_opentracker "$V1HASH" || bench_die "opentracker did not start"
TRACKER=$tracker_url
# the v1 seeder is entered in the tracker by an announce on its behalf
tracker_register () {
	bench_tracker_register "$V1HASH" "$SPORT1" -BENCH0-000000000001
}

NGINX_WORKERS=auto
start_nginx "$W/srv" || bench_die "nginx did not start"
NGINX=$nginx_url/$ORG--$NAME

# ---- clients ----------------------------------------------------------------

run_get () {
	MODELSWARM_HOME=$W/user exec timeout -k 5 900 "$MS" get "$ORG/$NAME@$REV" \
		--index "file://$W/index" --cache-dir "$1" --peer "127.0.0.1:$SPORT" \
		--listen 127.0.0.1:0 $MS_NET >"$2.out" 2>"$2.err"
}
run_fetch () {
	MODELSWARM_HOME=$W/user exec timeout -k 5 900 "$MS" fetch "$TORRENT" -o "$1" \
		--peer "127.0.0.1:$SPORT" --listen 127.0.0.1:0 $MS_NET >"$2.out" 2>"$2.err"
}
run_aria2c () {
	aport=$(free_port) || return 1
	exec timeout -k 5 900 aria2c --no-conf=true --dir="$1" --seed-time=0 \
		--enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
		--enable-peer-exchange=false --bt-tracker="$TRACKER" --disable-ipv6=true \
		--interface=127.0.0.1 --listen-port="$aport" --bt-save-metadata=false \
		--console-log-level=warn --summary-interval=0 "$W/v1.torrent" >"$2.out" 2>"$2.err"
}
run_curl () {
	args=
	for f in $(cd "$SRC" && ls); do
		args="$args -o $1/$f $NGINX/$f"
	done
	# shellcheck disable=SC2086
	exec timeout -k 5 900 curl -sS --fail --create-dirs -Z --parallel-max 64 $args \
		>"$2.out" 2>"$2.err"
}
result_dir () {
	case $1 in
	get) echo "$2/models--$ORG--$NAME/snapshots/$REV" ;;
	aria2c) echo "$2/$(basename "$SRC")" ;;
	*) echo "$2" ;;
	esac
}

clients="get fetch aria2c curl"
: >results
r=0
while test "$r" -le "$runs"; do
	order=$(echo $clients | awk -v r="$r" '{ for (i = 0; i < NF; i++) printf "%s ", $(((i + r) % NF) + 1) }')
	for c in $order; do
		d=$W/out/$c
		rm -rf "$d"
		sync
		test $c = aria2c && tracker_register
		t0=$(bench_now)
		run_$c "$d" "logs/$c-r$r" &
		wait $!
		rc=$?
		t1=$(bench_now)
		secs=$(bench_secs "$t0" "$t1")
		if test $rc -ne 0; then
			bench_say "round $r: $c FAILED (exit $rc): $(tail -n 3 "logs/$c-r$r.err")"
		elif ! diff -r -q "$SRC" "$(result_dir $c "$d")" >/dev/null 2>&1; then
			bench_say "round $r: $c FAILED: files differ from the source"
		else
			bench_say "round $r: $c $secs s"
			test "$r" -gt 0 && echo "$c $secs" >>results
		fi
		rm -rf "$d"
	done
	r=$((r + 1))
done

echo "modelswarm get benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs"
echo "repo: $total_bytes bytes; one seeder of the published (hybrid) torrent for get and fetch,"
echo "one of a v1 torrent of the same files for aria2c (via opentracker); nginx for curl"
echo "(parallel across files); seeders' data warm in the page cache; 1 warm-up + $runs rounds"
printf '%-8s %5s %10s %12s\n' client runs "median s" "median MB/s"
for c in $clients; do
	med=$(awk -v c="$c" '$1 == c { print $2 }' results | bench_median)
	n=$(awk -v c="$c" '$1 == c' results | wc -l)
	mbs=$(awk -v b="$total_bytes" -v s="$med" 'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else print "-" }')
	printf '%-8s %5s %10s %12s\n' "$c" "$n" "$med" "$mbs"
	eval "med_$c=\$med"
done
echo
for pair in fetch:0.95 curl:0.9 aria2c:1.0; do
	o=${pair%%:*}
	t=${pair#*:}
	eval "om=\${med_$o:-}"
	v=$(awk -v a="$med_get" -v b="$om" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "nan" }')
	ok=$(awk -v v="$v" -v t="$t" 'BEGIN { print (v >= t) ? "ok" : "BELOW TARGET" }')
	printf 'get/%-7s %6s  target >= %s  %s\n' "$o" "$v" "$t" "$ok"
done
