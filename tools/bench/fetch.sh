#!/bin/sh
# fetch.sh: download throughput on 127.0.0.1 of `modelswarm fetch` against
# aria2c, qbittorrent-nox and curl+nginx (the single-source ceiling), all
# pulling the same generated model repo. Not a test: it prints a table.
#
# One `modelswarm seed` serves a v1 torrent (aria2 1.36 reads only v1) of
# 3 shards + a few small json files; nginx serves the same directory. Each
# round runs every client once, in an order rotated every round; round 0 is
# a warm-up and is not counted. Each download goes to a fresh directory, is
# compared byte for byte with the source (outside the timed window), then
# deleted, and `sync` runs before the next download starts.
#
# What is timed (wall clock):
#   fetch        process start to exit (includes the final resume-data save)
#   aria2c       process start to exit (--seed-time=0; announces to a local
#                opentracker, since aria2c has no way to be given a peer)
#   qbittorrent  the daemon runs all along; from the torrents/add request to
#                the Web API showing progress 1 in an uploading state (polled
#                every 50 ms); the seeder is given with torrents/addPeers.
#                TCP only (BTProtocol=TCP), as modelswarm's outgoing uTP is off
#   curl         one curl process getting every file from nginx, in parallel
#                across files by default (one connection per file), or one
#                after another with --curl-mode sequential
#
# Everything listens on 127.0.0.1 only; DHT, LSD, PeX, UPnP/NAT-PMP are off
# for every program; every process is stopped by its pid; every wait is
# bounded. opentracker, nginx and qbittorrent-nox are started as the tests
# start them (tests/t/lib-services.sh).

usage="usage: tools/bench/fetch.sh [--runs N] [--size-gib G] [--clients LIST]
                          [--curl-mode parallel|sequential] [--timeout SECS]
                          [--seed-set NAME=VALUE]... [--fetch-set NAME=VALUE]...
                          [--modelswarm BIN] [--tmpdir DIR] [--keep] [-h]

    --runs N            measured rounds after the warm-up round (default 3)
    --size-gib G        total size of the 3 shards in GiB (default 3; 1 for a
                        quick run; decimals allowed)
    --clients LIST      comma-separated subset of fetch,aria2c,qbittorrent,curl
                        (default: all four)
    --curl-mode MODE    parallel (default: all files at once) or sequential
    --timeout SECS      give up on one download after SECS (default 600)
    --seed-set N=V      add 'libtorrent.N = V' to the seeder's config (repeatable)
    --fetch-set N=V     add 'libtorrent.N = V' to the fetcher's config (repeatable)
    --modelswarm BIN    the modelswarm to measure (default: the one built in
                        this tree); copied first, so a rebuild mid-run is harmless
    --tmpdir DIR        make the work directory under DIR (default \$TMPDIR or /tmp)
    --keep              keep the work directory (logs, repo) at the end
    -h, --help          show this help"

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
MS_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
. "$BENCH_DIR/lib.sh"

runs=3
size_gib=3
clients=fetch,aria2c,qbittorrent,curl
curl_mode=parallel
timeout_s=600
seed_set=
fetch_set=
tmp_parent=${TMPDIR:-/tmp}
keep=
ms_bin=

while test $# -gt 0; do
	case "$1" in
	--runs) need_arg "$@"; runs=$2; shift ;;
	--runs=*) runs=${1#*=} ;;
	--size-gib) need_arg "$@"; size_gib=$2; shift ;;
	--size-gib=*) size_gib=${1#*=} ;;
	--clients) need_arg "$@"; clients=$2; shift ;;
	--clients=*) clients=${1#*=} ;;
	--curl-mode) need_arg "$@"; curl_mode=$2; shift ;;
	--curl-mode=*) curl_mode=${1#*=} ;;
	--timeout) need_arg "$@"; timeout_s=$2; shift ;;
	--timeout=*) timeout_s=${1#*=} ;;
	--seed-set) need_arg "$@"; seed_set="$seed_set$2
"; shift ;;
	--fetch-set) need_arg "$@"; fetch_set="$fetch_set$2
"; shift ;;
	--modelswarm) need_arg "$@"; ms_bin=$2; shift ;;
	--modelswarm=*) ms_bin=${1#*=} ;;
	--tmpdir) need_arg "$@"; tmp_parent=$2; shift ;;
	--tmpdir=*) tmp_parent=${1#*=} ;;
	--keep) keep=1 ;;
	-h|--help) echo "$usage"; exit 0 ;;
	*) echo "error: unknown option '$1'" >&2; echo "$usage" >&2; exit 129 ;;
	esac
	shift
done

bench_whole --runs "$runs"
bench_whole --timeout "$timeout_s" "a whole number of seconds"
if ! awk -v g="$size_gib" 'BEGIN { exit !(g ~ /^[0-9]+(\.[0-9]+)?$/ && g > 0 && g <= 64) }'; then
	echo "error: --size-gib needs a number of GiB in (0, 64], not '$size_gib'" >&2
	exit 129
fi
case "$curl_mode" in
parallel|sequential) ;;
*) echo "error: --curl-mode is parallel or sequential, not '$curl_mode'" >&2; exit 129 ;;
esac
client_list=$(echo "$clients" | tr ',' ' ')
for c in $client_list; do
	case "$c" in
	fetch|aria2c|qbittorrent|curl) ;;
	*) echo "error: unknown client '$c' (fetch, aria2c, qbittorrent, curl)" >&2; exit 129 ;;
	esac
done
test -n "$client_list" || { echo "error: --clients is empty" >&2; exit 129; }
has_client () {
	case " $client_list " in *" $1 "*) return 0 ;; esac
	return 1
}
for kv in $seed_set $fetch_set; do
	case "$kv" in
	[a-z]*=*) ;;
	*) echo "error: --seed-set/--fetch-set need NAME=VALUE, not '$kv'" >&2; exit 129 ;;
	esac
done

ms_bin=${ms_bin:-$MS_ROOT/modelswarm}
test -x "$ms_bin" || bench_die "$ms_bin is not built; run make -C '$MS_ROOT'"
need="perl curl awk diff timeout sync base64 od mktemp"
has_client aria2c && need="$need aria2c opentracker"
has_client qbittorrent && need="$need qbittorrent-nox"
has_client curl && need="$need nginx"
for p in $need; do
	command -v "$p" >/dev/null 2>&1 ||
		bench_die "'$p' is not installed (tools/deps.sh test installs it)"
done

LC_ALL=C
export LC_ALL
unset XDG_CONFIG_HOME XDG_STATE_HOME XDG_CACHE_HOME XDG_DATA_HOME

bench_workdir "$tmp_parent" modelswarm-bench "$ms_bin"

# ---- the repo -------------------------------------------------------------

NAME=bench-org--bench-model
SRC=$W/srv/$NAME
mkdir -p "$SRC"

shard=$(awk -v g="$size_gib" 'BEGIN { printf "%.0f", g * 1073741824 / 3 }')
bench_say "generating the repo: 3 x $shard bytes + small files"
for i in 1 2 3; do
	# not piece-aligned, like real shards
	gen_bytes $((shard - 4096 * i + 77 * i)) >"$SRC/model-0000$i-of-00003.safetensors" ||
		bench_die "cannot write the repo"
done
printf '{\n  "architectures": ["BenchForCausalLM"],\n  "hidden_size": 4096,\n  "num_hidden_layers": 32,\n  "torch_dtype": "bfloat16"\n}\n' >"$SRC/config.json"
printf '{\n  "bos_token_id": 1,\n  "eos_token_id": 2\n}\n' >"$SRC/generation_config.json"
gen_text 2100000 >"$SRC/tokenizer.json"
gen_text 51234 >"$SRC/tokenizer_config.json"
gen_text 23456 >"$SRC/model.safetensors.index.json"
printf '# bench-model\n\nA generated repo for tools/bench/fetch.sh.\n' >"$SRC/README.md"
(cd "$SRC" && find . -type f | sed 's|^\./||' | sort) >files
total_bytes=$(cd "$SRC" && wc -c $(cat "$W/files") | awk 'END { print $1 }')
nfiles=$(wc -l <files)

# ---- modelswarm homes ------------------------------------------------------

MS_NET="--no-dht --no-lsd --no-port-mapping"
# ms_home DIR SETTINGS: a MODELSWARM_HOME with discovery off, plus
# libtorrent.NAME = VALUE for each NAME=VALUE line of SETTINGS
ms_home () {
	mkdir -p "$1"
	{
		echo "# written by tools/bench/fetch.sh: nothing may leave 127.0.0.1"
		echo "dht = false"
		echo "lsd = false"
		echo "port-mapping = false"
		echo "$2" | while IFS= read -r kv; do
			test -n "$kv" && echo "libtorrent.${kv%%=*} = ${kv#*=}"
		done
	} >"$1/config"
}
ms_home "$W/ms-create" ""
ms_home "$W/ms-seed" "$seed_set"
ms_home "$W/ms-fetch" "$fetch_set"

TORRENT=$W/bench.torrent
MODELSWARM_HOME=$W/ms-create "$MS" create "$SRC" -o "$TORRENT" --v1-only --name "$NAME" \
	>logs/create.out 2>logs/create.err || bench_die "modelswarm create failed: $(cat logs/create.err)"
HASH=$(sed -n 's/^infohash v1: \([0-9a-f]\{40\}\)$/\1/p' logs/create.out)
test -n "$HASH" || bench_die "no v1 infohash in the output of modelswarm create"
piece=$(sed -n "s/.*piece size \([0-9]*\).*/\1/p" logs/create.out)

# ---- servers ---------------------------------------------------------------

TRACKER=
if has_client aria2c; then
	start_opentracker "$HASH" ||
		bench_die "opentracker did not start: $(cat opentracker.err 2>/dev/null)"
	TRACKER=$tracker_url
fi

bench_say "starting the seeder (it hashes the repo first)"
MODELSWARM_HOME=$W/ms-seed bench_bg logs/seed "$MS" seed "$TORRENT" "$SRC" \
	--listen 127.0.0.1:0 $MS_NET
seed_pid=$bg_pid
bench_wait_for '^seeding ' logs/seed.out 600 "$seed_pid" ||
	bench_die "the seeder did not start: $(cat logs/seed.err)"
SPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' logs/seed.out | head -n 1)
test -n "$SPORT" || bench_die "the seeder did not say where it listens"

# The seeder does not announce itself: opentracker hands an announcer its
# own address back, and libtorrent then bans 127.0.0.1 for the torrent (its
# self-connection ban is per IP unless allow_multiple_connections_per_ip),
# which would shut out every client. So the seeder is put in the tracker's
# list by a plain HTTP announce on its behalf, renewed before each aria2c run.
tracker_register () {
	bench_tracker_register "$HASH" "$SPORT" -BENCH0-000000000000
}
if test -n "$TRACKER"; then
	tracker_register || bench_die "cannot register the seeder with opentracker"
fi

if has_client curl; then
	# as many workers as CPUs: the single-source ceiling
	NGINX_WORKERS=auto
	start_nginx "$W/srv" ||
		bench_die "nginx did not start: $(cat nginx.err nginx/error.log 2>/dev/null)"
	NGINX=$nginx_url/$NAME
fi

if has_client qbittorrent; then
	start_qbittorrent qbt ||
		bench_die "qbittorrent-nox did not start: $(cat qbt.err 2>/dev/null)"
	QBT=$qbt_url
fi

# ---- the clients -----------------------------------------------------------
#
# run_CLIENT DIR LOG: download into DIR (fresh); returns non-zero on failure.
# root_of CLIENT DIR: where the repo's files land under DIR.

root_of () {
	case "$1" in
	fetch|curl) echo "$2" ;;
	*) echo "$2/$NAME" ;;
	esac
}

run_fetch () {
	MODELSWARM_HOME=$W/ms-fetch exec timeout -k 5 "$timeout_s" "$MS" fetch "$TORRENT" \
		-o "$1" --peer "127.0.0.1:$SPORT" --listen 127.0.0.1:0 $MS_NET \
		>"$2.out" 2>"$2.err"
}

run_aria2c () {
	aport=$(free_port) || return 1
	exec timeout -k 5 "$timeout_s" aria2c --no-conf=true --dir="$1" \
		--seed-time=0 --enable-dht=false --enable-dht6=false \
		--bt-enable-lpd=false --enable-peer-exchange=false \
		--bt-tracker="$TRACKER" --disable-ipv6=true --interface=127.0.0.1 --listen-port="$aport" \
		--bt-save-metadata=false --console-log-level=warn --summary-interval=0 \
		"$TORRENT" >"$2.out" 2>"$2.err"
}

# waits for the torrent to appear, gives it the seeder, then waits until
# it is complete; one keep-alive connection, polls every 50 ms
qbt_poll='
use strict; use HTTP::Tiny; use Time::HiRes qw(sleep time);
my ($url, $hash, $peer, $limit) = @ARGV;
my $h = HTTP::Tiny->new(timeout => 5, keep_alive => 1);
my ($end, $peered) = (time + $limit, 0);
while (time < $end) {
	my $r = $h->get("$url/api/v2/torrents/info?hashes=$hash");
	if ($r->{success} && $r->{content} =~ /"hash":"$hash"/) {
		if (!$peered) {
			my $p = $h->post_form("$url/api/v2/torrents/addPeers",
					      { hashes => $hash, peers => $peer });
			die "addPeers: $p->{status} $p->{content}\n" unless $p->{success};
			$peered = 1;
		}
		my ($prog) = $r->{content} =~ /"progress":([-0-9.eE+]+)/;
		my ($state) = $r->{content} =~ /"state":"(\w+)"/;
		exit 0 if defined $prog && $prog >= 1 && $state &&
			$state =~ /^(uploading|stalledUP|queuedUP|forcedUP|pausedUP)$/;
		die "torrent state $state\n" if $state && $state =~ /^(error|missingFiles)$/;
	}
	sleep 0.05;
}
die "not complete after $limit s\n";
'

run_qbittorrent () {
	mkdir -p "$1"
	curl -sS --fail --max-time 30 -F "torrents=@$TORRENT" -F "savepath=$1" \
		-F paused=false "$QBT/api/v2/torrents/add" >"$2.out" 2>"$2.err" &&
	exec perl -e "$qbt_poll" "$QBT" "$HASH" "127.0.0.1:$SPORT" "$timeout_s" \
		>>"$2.out" 2>>"$2.err"
}

qbt_remove () {
	curl -sS --fail --max-time 30 -d "hashes=$HASH&deleteFiles=true" \
		"$QBT/api/v2/torrents/delete" >/dev/null 2>>"$1.err"
	i=0
	while curl -s --max-time 5 "$QBT/api/v2/torrents/info?hashes=$HASH" | grep -q "$HASH"; do
		i=$((i + 1))
		test $i -le 300 || { bench_say "qbittorrent did not remove the torrent in 30 s"; return 1; }
		sleep 0.1
	done
}


run_curl () {
	par=
	test "$curl_mode" = parallel && par="-Z --parallel-max 64"
	# file names are ours (no blanks): -o DIR/FILE URL/FILE for each file
	args=
	while IFS= read -r f; do
		args="$args -o $1/$f $NGINX/$f"
	done <"$W/files"
	# shellcheck disable=SC2086
	exec timeout -k 5 "$timeout_s" curl -sS --fail --create-dirs $par $args \
		>"$2.out" 2>"$2.err"
}

# ---- the rounds ------------------------------------------------------------

mb () {
	awk -v b="$total_bytes" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'
}

load0=$(cut -d" " -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
failures=0
: >results
bench_say "seeder on 127.0.0.1:$SPORT; $nfiles files, $total_bytes bytes; 1 warm-up + $runs measured rounds"
r=0
while test $r -le "$runs"; do
	order=$(echo $client_list | awk -v r="$r" '{
		for (i = 0; i < NF; i++) printf "%s ", $(((i + r) % NF) + 1) }')
	for c in $order; do
		d=$W/out/$c
		log=logs/$c-r$r
		rm -rf "$d"
		sync
		if test "$c" = aria2c && ! tracker_register; then
			bench_say "warning: cannot renew the seeder's entry in opentracker"
		fi
		bench_timed "run_$c" "$d" "$log"
		status=ok
		if test $rc -ne 0; then
			status="FAILED: exit $rc"
		elif ! diff -r -q "$SRC" "$(root_of "$c" "$d")" >"$log.diff" 2>&1; then
			status="FAILED: files differ from the source"
		fi
		test "$c" = qbittorrent && qbt_remove "$log"
		rm -rf "$d"
		if test $r -eq 0; then
			label="warm-up"
		else
			label="round $r/$runs"
		fi
		if test "$status" = ok; then
			bench_say "$label: $c $secs s, $(mb "$secs") MB/s, bytes verified"
			test $r -gt 0 && echo "$c $secs" >>results
		else
			failures=$((failures + 1))
			bench_say "$label: $c $status"
			sed -e 's/^/    /' "$log.err" "$log.diff" 2>/dev/null | tail -n 15 >&2
		fi
	done
	r=$((r + 1))
done
sync

# ---- the table -------------------------------------------------------------

echo "modelswarm fetch benchmark, started $started, $(bench_machine)"
echo "repo: $nfiles files, $total_bytes bytes (3 shards of ~$(awk -v s="$shard" 'BEGIN { printf "%.2f", s / 1073741824 }') GiB + small json/tokenizer files)"
echo "torrent: v1 only, piece size $piece, the same .torrent for every BitTorrent client"
echo "seeder: $("$MS" --version) seed on 127.0.0.1; its data stays warm in the page cache"
echo "        (no cache drop). Downloads are written to disk through the page cache;"
echo "        verified with diff -r and deleted after each run, then sync (untimed)."
test -n "$seed_set" && echo "seeder settings: $(echo $seed_set)"
test -n "$fetch_set" && echo "fetch settings:  $(echo $fetch_set)"
echo "rounds: 1 warm-up + $runs measured; client order rotated every round; MB = 10^6 bytes"
echo "load average at start: $load0, at end: $(cut -d" " -f1-3 /proc/loadavg) (other work on this machine skews the figures)"
has_client curl && echo "curl: $curl_mode across files, from nginx (sendfile) on 127.0.0.1: the single-source ceiling"
has_client qbittorrent && echo "qbittorrent: timed from torrents/add to progress 1 (daemon already running), TCP only"
has_client aria2c && echo "aria2c: timed from process start to exit (--seed-time=0), peer via opentracker"
has_client fetch && echo "fetch: timed from process start to exit, peer via --peer"
echo
printf '%-12s %5s %10s %12s %10s %10s\n' client runs "median s" "median MB/s" "min MB/s" "max MB/s"
for c in $client_list; do
	n=$(awk -v c="$c" '$1 == c' results | wc -l)
	if test "$n" -eq 0; then
		printf '%-12s %5s %10s %12s %10s %10s\n' "$c" 0 - - - -
		continue
	fi
	med=$(bench_median_of "$c")
	slowest=$(awk -v c="$c" '$1 == c { print $2 }' results | sort -g | tail -n 1)
	fastest=$(awk -v c="$c" '$1 == c { print $2 }' results | sort -g | head -n 1)
	printf '%-12s %5s %10.3f %12s %10s %10s\n' "$c" "$n" "$med" "$(mb "$med")" "$(mb "$slowest")" "$(mb "$fastest")"
	eval "med_$c=\$med"
done

if has_client fetch && test -n "${med_fetch:-}"; then
	echo
	printf '%-20s %7s %8s\n' ratio "value" target
	for pair in aria2c:1.6 qbittorrent:1.1 curl:0.9; do
		o=${pair%%:*}
		t=${pair#*:}
		has_client "$o" || continue
		eval "om=\${med_$o:-}"
		test -n "$om" || continue
		# MB/s ratio = inverse ratio of the median times
		v=$(awk -v a="$med_fetch" -v b="$om" 'BEGIN { printf "%.2f", b / a }')
		ok=$(awk -v v="$v" -v t="$t" 'BEGIN { print (v >= t) ? "ok" : "BELOW TARGET" }')
		printf '%-20s %7s %8s  %s\n' "fetch/$o" "$v" ">= $t" "$ok"
	done
fi

if test "$failures" -gt 0; then
	echo
	echo "$failures download(s) failed or did not verify (see above)"
	exit 1
fi
exit 0
