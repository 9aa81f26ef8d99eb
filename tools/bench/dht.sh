#!/bin/sh
# dht.sh: time from `get` start to its first payload byte, the release
# resolved through the DHT (publish --dht, no index) vs through an HTTP
# index (nginx), in the swarmlab (network namespaces on one bridge; needs
# root). Not a test: it prints one line per run and the medians.
#
# The lab: a DHT router (a daemon on "boot"), the publisher ("pub":
# publish --dht --seed of a 4 MB generated repo, into an index that nginx
# on "web" serves), and a fresh newcomer per run (new home, state and
# cache, address; the org's key pinned; DHT on, bootstrapped from boot:
# a DHT node that came back with a new id on the same address is not what
# a newcomer is). Each run
# starts `get acme/tiny --no-daemon` (with no index: the DHT; or with
# --index http://web/) and polls the newcomer's cache every 10 ms for the
# first byte in a blob (a .incomplete one included): the time printed is
# from the moment get was started to that poll, so +-10 ms plus the poll.
# Both ways find peers the same way (the DHT; there is no tracker).
# Every process is stopped by its pid and every wait is bounded.

usage="usage: tools/bench/dht.sh [--runs N] [--modelswarm BIN] [-h]

    --runs N          runs of each way (default 5)
    --modelswarm BIN  the binary (default: the tree's ./modelswarm)"

runs=5
root=$(cd "$(dirname "$0")/../.." && pwd)
MODELSWARM=$root/modelswarm
while test $# -gt 0; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--modelswarm) MODELSWARM=$2; shift 2 ;;
	-h|--help) echo "$usage"; exit 0 ;;
	*) echo "$usage" >&2; exit 129 ;;
	esac
done
case "$runs" in ''|*[!0-9]*) echo "--runs needs a number" >&2; exit 129 ;; esac
test "$(id -u)" = 0 || { echo "dht.sh: needs root (network namespaces)" >&2; exit 2; }
command -v nginx >/dev/null || { echo "dht.sh: needs nginx (make test-deps)" >&2; exit 2; }
export MODELSWARM
SWARMLAB_LIB=1
. "$root/tools/swarmlab"

W=$(mktemp -d "${TMPDIR:-/tmp}/ms-dht-bench.XXXXXX") || exit 2
sl_init
trap 'sl_teardown; rm -rf "$W"' EXIT INT TERM

dht_home () {
	SL_MS_CONFIG="dht = true
libtorrent.dht_bootstrap_nodes = $(sl_ip boot):6881
libtorrent.dht_restrict_routing_ips = false
libtorrent.dht_restrict_search_ips = false" sl_ms_home "$1"
}

now_ms () {
	date +%s%3N
}

# first_byte HOST PID: poll HOST's cache until a blob has a byte; prints
# the ms since $t0, or fails when get exits first or after 90 s
first_byte () {
	while test $(( $(now_ms) - t0 )) -lt 90000; do
		if find "$SL_DIR/hosts/$1/cache" -path '*/blobs/*' -type f -size +0c \
			2>/dev/null | grep -q .; then
			echo $(( $(now_ms) - t0 ))
			return 0
		fi
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}

sl_host boot 2 && sl_host pub 10 && sl_host web 3 || exit 2
test "$runs" -le 100 || { echo "--runs: at most 100" >&2; exit 129; }
dht_home boot && dht_home pub || exit 2
mkdir -p "$W/repo" "$W/www" &&
head -c 4000000 /dev/urandom >"$W/repo/model.safetensors" &&
printf '{"bench": true}\n' >"$W/repo/config.json" &&
(cd "$W" && "$MODELSWARM" keygen acme --no-password >/dev/null) || exit 2
sl_ms_bg boot boot daemon --foreground
sl_wait_for "control socket" "$SL_DIR/log/boot.err" 30 "$sl_pid" || exit 2
sl_ms_bg pub pub publish "$W/repo" --repo acme/tiny --rev "$(printf bench | sha1sum | cut -c1-40)" \
	--key "$W/acme.key" --index "$W/www" --dht --seed
sl_wait_for "^seeding " "$SL_DIR/log/pub.out" 90 "$sl_pid" || { cat "$SL_DIR/log/pub.err"; exit 2; }
sl_nginx web "$W/www" || exit 2

dht_times= http_times=
i=0
while test $i -lt "$runs"; do
	i=$((i + 1))
	for way in dht http; do
		h=$way$i
		if test $way = dht; then n=$((100 + i)); else n=$((20 + i)); fi
		sl_host "$h" $n || exit 2
		dht_home "$h" && sl_ms "$h" trust add acme "$W/acme.pub" >/dev/null || exit 2
		if test $way = dht; then set --; else set -- --index "http://$(sl_ip web)/"; fi
		t0=$(now_ms)
		sl_ms_bg "$h" "get-$way-$i" get acme/tiny --no-daemon "$@"
		get_pid=$sl_pid
		if ms=$(first_byte "$h" "$get_pid"); then
			echo "run $i $way: first payload byte after $ms ms"
			eval "${way}_times=\"\$${way}_times $ms\""
		else
			echo "run $i $way: no payload byte in 90 s; its last words:"
			tail -n 3 "$SL_DIR/log/get-$way-$i.err" >&2
		fi
		sl_stop "$get_pid"
	done
done

median () {
	printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo "median over $runs runs: DHT $(median "$dht_times") ms, HTTP index $(median "$http_times") ms"
