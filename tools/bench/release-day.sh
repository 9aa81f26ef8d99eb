#!/bin/sh
# tools/bench/release-day.sh: release day on a lab of network namespaces
# (tools/swarmlab). A lab publishes a generated repo and seeds it with its
# upload capped (`publish --seed`, with its defaults: the publisher is the
# release's origin); N leechers with home-like links all start `modelswarm get`
# within a second of each other. Then the HTTP baseline: the same N hosts
# download the same files with curl from the nginx mirror, whose upload has
# the publisher's cap. Measures the origin's egress (the bytes its
# interface sent, headers included) over the repo's size and the time
# until the last leecher is done, prints a table, plots completion over
# time per host (PNG, gnuplot), and ends with one machine-readable line:
#
#   hosts=N size_mib=S origin_egress_ratio=X last_done_s=Y cap_time_s=Z
#   http_origin_egress_ratio=H http_last_done_s=W [mirror_egress_ratio=M]
#
# (one line). Not a test; needs root (namespaces).
#
#   tools/bench/release-day.sh [--hosts N] [--size MIB] [--up-cap RATE]
#       [--down-cap RATE] [--leech-up-cap RATE] [--mirror] [--no-seed]
#       [--no-http] [--origin | --no-origin] [--config LINE]...
#       [--pub-config LINE]... [--plot FILE.png] [--keep]
#
# RATE is bytes/s with K, M, G (decimal): 20M is 20 MB/s.
#   --up-cap         the publisher's (and the mirror's) upload (default 20M)
#   --down-cap       each leecher's download (default 50M, 400 Mbit/s)
#   --leech-up-cap   each leecher's upload (default 20M)
#   --mirror         the manifest names the nginx mirror as a web seed
#                    (webseeds = fallback, the default policy); its egress
#                    counts as the origin's and is also given alone
#   --no-seed        leechers exit when done (`get` without --seed), so they
#                    stop uploading to the others
#   --no-http        skip the HTTP baseline (its figures are then "nan")
#   --origin         publish --seed --origin (what it does anyway)
#   --no-origin      publish --seed --no-origin: the publisher is not seeding
#                    as the origin (as before it was the default)
#   --config LINE    a config line for every modelswarm (e.g.
#                    "libtorrent.unchoke_slots_limit = 16"); repeatable
#   --pub-config LINE  the same for the publisher only
#   --keep           keep the lab's work directory (logs, samples)
# MODELSWARM names the binary (default: the repo's ./modelswarm; it is
# copied once, so a rebuild during the run changes nothing).
set -u

hosts=4
size_mib=512
up_cap=20M
down_cap=50M
leech_up=20M
mirror=
seed=--seed
http=1
pub_origin=
keep=
plot=
cfg_all=
cfg_pub=

usage () {
	sed -n 's/^#   \(tools\/bench.*\)$/usage: \1/p; s/^#       \(\[.*\)$/           \1/p' "$0"
}

while test $# -gt 0; do
	case "$1" in
	--hosts) hosts=${2:?}; shift 2 ;;
	--size) size_mib=${2:?}; shift 2 ;;
	--up-cap) up_cap=${2:?}; shift 2 ;;
	--down-cap) down_cap=${2:?}; shift 2 ;;
	--leech-up-cap) leech_up=${2:?}; shift 2 ;;
	--mirror) mirror=1; shift ;;
	--no-seed) seed=; shift ;;
	--no-http) http=; shift ;;
	--origin) pub_origin=--origin; shift ;;
	--no-origin) pub_origin=--no-origin; shift ;;
	--config) cfg_all="$cfg_all${2:?}
"; shift 2 ;;
	--pub-config) cfg_pub="$cfg_pub${2:?}
"; shift 2 ;;
	--plot) plot=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 129 ;;
	esac
done
case "$hosts$size_mib" in
*[!0-9]*) usage >&2; exit 129 ;;
esac
test "$hosts" -ge 1 && test "$hosts" -le 200 && test "$size_mib" -ge 1 || {
	usage >&2; exit 129; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tools/bench/lib.sh"
SWARMLAB_ROOT=$ROOT SWARMLAB_LIB=1 . "$ROOT/tools/swarmlab"
: "${MODELSWARM:=$ROOT/modelswarm}"
test -x "$MODELSWARM" || bench_die "no modelswarm at '$MODELSWARM' (make, or set MODELSWARM)"
test -n "$plot" || plot=$PWD/release-day-h$hosts-s$size_mib.png
case "$plot" in /*) ;; *) plot=$PWD/$plot ;; esac
for r in "$up_cap" "$down_cap" "$leech_up"; do
	sl_rate "$r" >/dev/null || bench_die "bad rate '$r'"
done
up_bps=$(sl_rate "$up_cap")

for p in opentracker nginx curl perl; do
	command -v $p >/dev/null 2>&1 || sh "$ROOT/tools/deps.sh" test ||
		bench_die "cannot install $p"
done
bench_need_gnuplot

sl_init ${keep:+--keep}
W=$SL_DIR
cp "$MODELSWARM" "$W/modelswarm" || bench_die "cannot copy '$MODELSWARM'"
MODELSWARM=$W/modelswarm

ORG=lab
NAME=release-day
REV=$(printf 'release day %s' "$size_mib" | sha1sum | cut -c1-40)

# ---- the repo --------------------------------------------------------------

REPO=$W/repo
mkdir -p "$REPO"
printf '{"architectures": ["ReleaseDay"], "hidden_size": 4096}\n' >"$REPO/config.json"
printf '{"max_new_tokens": 256}\n' >"$REPO/generation_config.json"
gen_text 1000000 >"$REPO/tokenizer.json"
small=$(find "$REPO" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
if test "$size_mib" -ge 256; then shards=4; else shards=2; fi
shard=$(( (size_mib * 1048576 - small) / shards ))
test "$shard" -gt 0 || bench_die "--size $size_mib is too small"
k=1
while test $k -le $shards; do
	gen_bytes "$shard" >"$REPO/model-0000$k-of-0000$shards.safetensors"
	k=$((k + 1))
done
size=$(find "$REPO" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
nfiles=$(find "$REPO" -type f | wc -l)
files=$(cd "$REPO" && find . -type f | sed 's|^\./||' | sort)
cap_time=$(awk -v s="$size" -v r="$up_bps" 'BEGIN { printf "%.1f", s / r }')

# ---- the lab ---------------------------------------------------------------

sl_host tracker 2
sl_host mirror 3 "$up_cap"
sl_host pub 10 "$up_cap"
k=1
while test $k -le "$hosts"; do
	sl_host "h$k" $((10 + k)) "$leech_up" "$down_cap"
	k=$((k + 1))
done
SL_MS_CONFIG="$cfg_all$cfg_pub" sl_ms_home pub
k=1
while test $k -le "$hosts"; do
	SL_MS_CONFIG=$cfg_all sl_ms_home "h$k"
	k=$((k + 1))
done

WWW=$W/www
mkdir -p "$WWW"
MIRROR_URL="http://$(sl_ip mirror)"
TRACKER_URL="http://$(sl_ip tracker):6969/announce"
webseed=
test -z "$mirror" || webseed="--webseed $MIRROR_URL/$ORG/$NAME/resolve/"

bench_say "publishing $size bytes in $nfiles files"
sl_ms pub keygen $ORG -o "$W" --no-password >/dev/null || bench_die "keygen failed"
t0=$(bench_now)
# shellcheck disable=SC2086
sl_ms pub publish "$REPO" --repo $ORG/$NAME --rev "$REV" --key "$W/$ORG.key" \
	--index "$WWW" --tracker "$TRACKER_URL" $webseed >"$W/log/publish.out" \
	2>"$W/log/publish.err" || bench_die "publish failed: $(cat "$W/log/publish.err")"
publish_s=$(bench_secs "$t0" "$(bench_now)")
mkdir -p "$WWW/$ORG/$NAME/resolve"
cp -al "$REPO" "$WWW/$ORG/$NAME/resolve/$REV" || bench_die "cannot lay out the mirror"
hashes=$(sed -n 's/^infohash v[12]: //p' "$W/log/publish.out")
test -n "$hashes" || bench_die "publish printed no info-hash"
sl_tracker tracker $hashes || bench_die "opentracker did not start: $(cat "$W/log/tracker.err")"
sl_nginx mirror "$WWW" || bench_die "nginx did not start: $(cat "$W/log/nginx.err")"
k=1
while test $k -le "$hosts"; do
	sl_ms "h$k" trust add $ORG "$W/$ORG.pub" >/dev/null || bench_die "trust add failed"
	k=$((k + 1))
done

# release day as a lab runs it: publish --seed, with its defaults (the
# publish above told the tracker the info-hashes, which this one repeats:
# same files, same torrent; the manifest gets the next version)
t0=$(bench_now)
# shellcheck disable=SC2086
sl_ms_bg pub seed publish "$REPO" --repo $ORG/$NAME --rev "$REV" --key "$W/$ORG.key" \
	--index "$WWW" --tracker "$TRACKER_URL" $webseed --seed $pub_origin
pub_pid=$sl_pid
sl_wait_for '^seeding ' "$W/log/seed.out" 600 "$pub_pid" ||
	bench_die "the publisher does not seed: $(cat "$W/log/seed.err")"
check_s=$(bench_secs "$t0" "$(bench_now)")
test "$(sed -n 's/^infohash v[12]: //p' "$W/log/seed.out" | sort -u)" = \
	"$(printf '%s\n' $hashes | sort -u)" ||
	bench_die "publish --seed made another torrent"
sl_wait_for '^origin mode: ' "$W/log/seed.out" 10 "$pub_pid" ||
	bench_die "the publisher does not say its origin mode"
pub_mode=$(sed -n 's/^origin mode: //p' "$W/log/seed.out")
bench_say "publish took $publish_s s, publish --seed until seeding $check_s s; origin mode $pub_mode"

# ---- sampling ----------------------------------------------------------------

# mtime NANOSECONDS of FILE...: the newest modification time
mtime_ns () {
	stat -c '%.9Y' "$@" 2>/dev/null | sort -g | tail -n 1 |
		awk '{ printf "%.0f\n", $1 * 1e9 }'
}

# sample_swarm T0: one line "t host bytes" per leecher still running into
# samples; marks leechers done (done.hK holds their time) or failed
sample_swarm () {
	now=$(bench_now)
	t=$(bench_secs "$1" "$now")
	k=1
	while test $k -le "$hosts"; do
		h=h$k
		k=$((k + 1))
		test -e "$W/done.$h" && continue
		out=$W/log/get-$h.out
		b=$(grep '"event":"progress"' "$out" 2>/dev/null | tail -n 1 |
			sed -n 's/.*"done":\([0-9]*\).*/\1/p')
		if grep -q '"event":"done"' "$out" 2>/dev/null; then
			# the done event is the last line get writes: the file's
			# mtime is when it finished
			echo "$(bench_secs "$1" "$(mtime_ns "$out")")" >"$W/done.$h"
			b=$size
			echo "$(cat "$W/done.$h") $h $b" >>"$W/samples.swarm"
		elif ! sl_alive "$(cat "$W/pid/get-$h.pid")"; then
			echo "failed" >"$W/done.$h"
			bench_say "$h: get exited before done: $(tail -n 3 "$W/log/get-$h.err")"
		fi
		echo "$t $h ${b:-0}" >>"$W/samples.swarm"
	done
}

sample_http () {
	now=$(bench_now)
	t=$(bench_secs "$1" "$now")
	k=1
	while test $k -le "$hosts"; do
		h=h$k
		k=$((k + 1))
		test -e "$W/done.$h" && continue
		d=$W/hosts/$h/http
		b=$(find "$d" -type f -printf '%s\n' 2>/dev/null | awk '{ n += $1 } END { print n + 0 }')
		p=$(cat "$W/pid/http-$h.pid")
		if ! sl_alive "$p"; then
			wait "$p"
			rc=$?
			# counted again: curl may have ended since
			b=$(find "$d" -type f -printf '%s\n' 2>/dev/null | awk '{ n += $1 } END { print n + 0 }')
			if test $rc -eq 0 && test "$b" -eq "$size"; then
				echo "$(bench_secs "$1" "$(mtime_ns $(find "$d" -type f))")" >"$W/done.$h"
				echo "$(cat "$W/done.$h") $h $b" >>"$W/samples.http"
			else
				echo "failed" >"$W/done.$h"
				bench_say "$h: curl failed (exit $rc): $(tail -n 3 "$W/log/http-$h.err")"
			fi
		fi
		echo "$t $h $b" >>"$W/samples.http"
	done
}

# run_until KIND T0 DEADLINE_S: sample every 0.5 s until every leecher is
# done or failed, or DEADLINE_S passed
run_until () {
	bench_until_done "$W" "$hosts" "$3" sample_$1 "$2" || {
		bench_say "$1: not done after $3 s"; return 1; }
}

# mark_unfinished: a leecher not done by the deadline has failed
mark_unfinished () {
	k=1
	while test $k -le "$hosts"; do
		test -e "$W/done.h$k" || echo failed >"$W/done.h$k"
		k=$((k + 1))
	done
}

ratio () {
	awk -v a="$1" -v s="$size" 'BEGIN { printf "%.3f\n", a / s }'
}

deadline=$(awk -v c="$cap_time" -v n="$hosts" 'BEGIN { printf "%d", 3 * n * c + 120 }')

# ---- the swarm ---------------------------------------------------------------

bench_say "swarm: $hosts leechers get $ORG/$NAME@$REV"
pub_tx0=$(sl_tx_bytes pub)
mir_tx0=$(sl_tx_bytes mirror)
: >"$W/samples.swarm"
rm -f "$W"/done.h*
t0=$(bench_now)
k=1
while test $k -le "$hosts"; do
	# shellcheck disable=SC2086
	sl_ms_bg "h$k" "get-h$k" get "$ORG/$NAME@$REV" --index "$MIRROR_URL/" --json $seed
	k=$((k + 1))
done
spread=$(bench_secs "$t0" "$(bench_now)")
bench_say "all $hosts started within $spread s"
run_until swarm "$t0" "$deadline"
mark_unfinished
swarm_last=$(bench_last_done "$W")
pub_tx=$(( $(sl_tx_bytes pub) - pub_tx0 ))
mir_tx=$(( $(sl_tx_bytes mirror) - mir_tx0 ))
origin=$pub_tx
test -z "$mirror" || origin=$((pub_tx + mir_tx))

# what each leecher says, and whether its files are the publisher's
: >"$W/per-host"
verified=0
k=1
while test $k -le "$hosts"; do
	h=h$k
	k=$((k + 1))
	out=$W/log/get-$h.out
	fp=$(grep '"event":"done"' "$out" | sed -n 's/.*"from_peers":\([0-9]*\).*/\1/p')
	fw=$(grep '"event":"done"' "$out" | sed -n 's/.*"from_webseeds":\([0-9]*\).*/\1/p')
	snap=$W/hosts/$h/cache/models--$ORG--$NAME/snapshots/$REV
	ok=yes
	for f in $files; do
		cmp -s "$REPO/$f" "$snap/$f" || { ok=no; break; }
	done
	test $ok = no || verified=$((verified + 1))
	echo "$h $(cat "$W/done.$h") ${fp:-nan} ${fw:-nan} $ok" >>"$W/per-host"
done
k=1
while test $k -le "$hosts"; do
	sl_stop "$(cat "$W/pid/get-h$k.pid")"
	rm -rf "$W/hosts/h$k/cache"
	k=$((k + 1))
done
sl_stop "$pub_pid"

# ---- the HTTP baseline -------------------------------------------------------

http_last=nan
http_tx=nan
if test -n "$http"; then
	bench_say "http: $hosts hosts download the same files from nginx with curl"
	mir_tx0=$(sl_tx_bytes mirror)
	: >"$W/samples.http"
	rm -f "$W"/done.h*
	t0=$(bench_now)
	k=1
	while test $k -le "$hosts"; do
		d=$W/hosts/h$k/http
		set --
		for f in $files; do
			set -- "$@" -o "$d/$f" "$MIRROR_URL/$ORG/$NAME/resolve/$REV/$f"
		done
		sl_bg "h$k" "http-h$k" curl -sS --fail --create-dirs -Z --parallel-max 8 "$@"
		k=$((k + 1))
	done
	run_until http "$t0" "$deadline"
	mark_unfinished
	http_last=$(bench_last_done "$W")
	http_tx=$(( $(sl_tx_bytes mirror) - mir_tx0 ))
	k=1
	while test $k -le "$hosts"; do
		echo "h$k $(cat "$W/done.h$k")" >>"$W/per-host.http"
		rm -rf "$W/hosts/h$k/http"
		k=$((k + 1))
	done
fi

# ---- report ------------------------------------------------------------------

origin_ratio=$(ratio "$origin")
if test -n "$http"; then http_ratio=$(ratio "$http_tx"); else http_ratio=nan; fi
mirror_ratio=$(ratio "$mir_tx")

echo "release day, $(date -u '+%Y-%m-%d %H:%M UTC'), $(bench_machine)"
echo "repo: $size bytes ($size_mib MiB) in $nfiles files; publisher and mirror upload $up_cap B/s;"
echo "$hosts leechers, each down $down_cap B/s, up $leech_up B/s; tracker: opentracker;"
echo "leechers $(test -n "$seed" && echo "keep seeding when done (get --seed)" || echo "exit when done");" \
	"mirror as web seed: $(test -n "$mirror" && echo "yes (fallback)" || echo no)"
echo "publisher: publish --seed${pub_origin:+ $pub_origin}; origin mode $pub_mode"
test -z "$cfg_all$cfg_pub" || printf 'config: %s\n' "$(printf '%s%s' "$cfg_all" "$cfg_pub" | tr '\n' ';')"
echo "egress is what the host's interface sent (TCP/IP headers included)"
echo
printf '%-28s %14s %14s\n' "" swarm http
printf '%-28s %14s %14s\n' "origin egress, bytes" "$origin" "$http_tx"
printf '%-28s %14s %14s\n' "origin egress / repo size" "$origin_ratio" "$http_ratio"
printf '%-28s %14s %14s\n' "  publisher" "$(ratio "$pub_tx")" -
printf '%-28s %14s %14s\n' "  mirror (+ index files)" "$mirror_ratio" "$http_ratio"
printf '%-28s %14s %14s\n' "last leecher done, s" "$swarm_last" "$http_last"
printf '%-28s %14s %14s\n' "size / origin cap, s" "$cap_time" "$cap_time"
printf '%-28s %14s %14s\n' "last done / cap time" \
	"$(awk -v a="$swarm_last" -v c="$cap_time" 'BEGIN { printf "%.2f", a / c }')" \
	"$(awk -v a="$http_last" -v c="$cap_time" 'BEGIN { printf "%.2f", a / c }')"
echo
printf '%-6s %10s %14s %14s %9s %10s\n' host "done, s" from_peers from_webseeds "files ok" "http, s"
while read -r h d fp fw ok; do
	hd=$(awk -v h="$h" '$1 == h { print $2 }' "$W/per-host.http" 2>/dev/null)
	printf '%-6s %10s %14s %14s %9s %10s\n' "$h" "$d" "$fp" "$fw" "$ok" "${hd:-nan}"
done <"$W/per-host"

if command -v gnuplot >/dev/null 2>&1; then
	# one data file per run and host: "seconds MiB"
	for kind in swarm http; do
		bench_plot_data "$W/samples.$kind" "$W/plot.$kind" "$hosts"
	done
	xmax=$(cat "$W/samples.swarm" "$W/samples.http" 2>/dev/null |
		awk '{ if ($1 > m) m = $1 } END { print m * 1.02 + 1 }')
	if test -n "$http"; then panes=2 width=1400; else panes=1 width=800; fi
	{
		echo "set terminal pngcairo size $width,600 noenhanced"
		echo "set output '$plot'"
		echo "set multiplot layout 1,$panes title 'release day: $hosts leechers, $size_mib MiB, origin upload $up_cap B/s, leechers down $down_cap B/s up $leech_up B/s'"
		echo "set xlabel 'seconds since the downloads started'"
		echo "set ylabel 'MiB done'"
		echo "set key left top"
		echo "set grid"
		echo "set xrange [0:$xmax]"
		echo "set yrange [0:$((size_mib + size_mib / 20 + 1))]"
		echo "set title 'modelswarm get: origin sent $origin_ratio x the repo, last done $swarm_last s'"
		bench_plot_hosts "$W/plot.swarm" "$hosts"
		if test -n "$http"; then
			echo "set title 'curl from nginx: origin sent $http_ratio x the repo, last done $http_last s'"
			bench_plot_hosts "$W/plot.http" "$hosts"
		fi
		echo "unset multiplot"
	} >"$W/plot.gp"
	bench_gnuplot "$W/plot.gp" "$plot"
fi

line="hosts=$hosts size_mib=$size_mib origin_egress_ratio=$origin_ratio last_done_s=$swarm_last cap_time_s=$cap_time http_origin_egress_ratio=$http_ratio http_last_done_s=$http_last"
test -z "$mirror" || line="$line mirror_egress_ratio=$mirror_ratio"
echo "$line"
test "$verified" -eq "$hosts" || exit 1
