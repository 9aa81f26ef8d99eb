#!/bin/sh
# tools/bench/cluster.sh: a cluster pulls a repo that only the hub has, on a
# lab of network namespaces (tools/swarmlab). The fake hub
# (tests/t/fake-hub.py, HTTPS with a test CA, its "CDN" on a second address
# of the same host) has its upload capped and serves one generated repo (one
# big LFS file and a few small files). N hosts each run a daemon with
# hf-listen and the same hf-upstream; host 1's daemon (the seedbox) is also
# the index every other daemon names, and the others trust its bridge key.
# On every host an unmodified @huggingface/hub snapshotDownload, hubUrl =
# its own daemon's endpoint, starts within a second of the others. Then the
# HTTP baseline: every host's client pointed at the hub itself. Measures the
# hub's egress (the bytes its interface sent, headers and TLS included)
# over the repo's size, the time until the last host is done over
# (size / hub cap), checks every host's files (sha256) and blob names,
# says where the time went (the seedbox's bridge, then the swarm, from the
# daemons' logs; which host each follower of the bridge took its bytes
# from; the CPU seconds of the clients and the daemons), plots completion
# over time per host (PNG, gnuplot), and ends with one machine-readable
# line:
#
#   hosts=N size_mib=S hub_egress_ratio=X last_done_ratio=Y
#   http_hub_egress_ratio=H http_last_done_ratio=Z last_done_s=A
#   http_last_done_s=B cap_time_s=C bridge_s=D webseed_ratio=W
#   cpu_clients_s=E cpu_daemons_s=F
#
# (one line). Not a test; needs root (namespaces).
#
#   tools/bench/cluster.sh [--hosts N] [--size MIB] [--hub-cap RATE]
#       [--host-up-cap RATE] [--host-down-cap RATE] [--no-http]
#       [--config LINE]... [--plot FILE.png] [--keep]
#
# RATE is bytes/s with K, M, G (decimal): 20M is 20 MB/s; 0 is no cap.
#   --hub-cap        the hub's upload, hub and CDN together (default 20M)
#   --host-up-cap    each host's upload (default 125M, a 1 Gbit/s LAN)
#   --host-down-cap  each host's download (default 125M)
#   --no-http        skip the HTTP baseline (its figures are then "nan")
#   --config LINE    a config line for every daemon; repeatable
#   --keep           keep the lab's work directory (logs, samples)
# MODELSWARM names the binary (default: the repo's ./modelswarm; it is
# copied once, so a rebuild during the run changes nothing).
set -u

hosts=4
size_mib=512
hub_cap=20M
host_up=125M
host_down=125M
http=1
keep=
plot=
cfg_all=

usage () {
	sed -n 's/^#   \(tools\/bench.*\)$/usage: \1/p; s/^#       \(\[.*\)$/           \1/p' "$0"
}

while test $# -gt 0; do
	case "$1" in
	--hosts) hosts=${2:?}; shift 2 ;;
	--size) size_mib=${2:?}; shift 2 ;;
	--hub-cap) hub_cap=${2:?}; shift 2 ;;
	--host-up-cap) host_up=${2:?}; shift 2 ;;
	--host-down-cap) host_down=${2:?}; shift 2 ;;
	--no-http) http=; shift ;;
	--config) cfg_all="$cfg_all${2:?}
"; shift 2 ;;
	--plot) plot=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "error: unknown option '$1'" >&2; usage >&2; exit 129 ;;
	esac
done
whole_in () {
	case "$2" in
	''|*[!0-9]*) ;;
	*) test "$2" -ge "$3" && test "$2" -le "$4" && return 0 ;;
	esac
	echo "error: $1 needs a whole number from $3 to $4, not '$2'" >&2
	usage >&2
	exit 129
}
whole_in --hosts "$hosts" 1 200
whole_in --size "$size_mib" 2 65536

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tools/bench/lib.sh"
SWARMLAB_ROOT=$ROOT SWARMLAB_LIB=1 . "$ROOT/tools/swarmlab"
: "${MODELSWARM:=$ROOT/modelswarm}"
test -x "$MODELSWARM" || bench_die "no modelswarm at '$MODELSWARM' (make, or set MODELSWARM)"
test -n "$plot" || plot=$PWD/cluster-h$hosts-s$size_mib.png
case "$plot" in /*) ;; *) plot=$PWD/$plot ;; esac
for r in "$hub_cap" "$host_up" "$host_down"; do
	sl_rate "$r" >/dev/null || bench_die "bad rate '$r'"
done
hub_bps=$(sl_rate "$hub_cap")
test "$hub_bps" -gt 0 || bench_die "--hub-cap needs a cap, not '$hub_cap'"
NODE_MODULES=$ROOT/tests/node/node_modules

for p in opentracker curl perl openssl git node; do
	command -v $p >/dev/null 2>&1 || sh "$ROOT/tools/deps.sh" test ||
		bench_die "cannot install $p"
done
test -d "$NODE_MODULES/@huggingface/hub" || sh "$ROOT/tools/deps.sh" test ||
	bench_die "no @huggingface/hub under $NODE_MODULES"
bench_need_gnuplot

sl_init ${keep:+--keep}
W=$SL_DIR
cp "$MODELSWARM" "$W/modelswarm" || bench_die "cannot copy '$MODELSWARM'"
MODELSWARM=$W/modelswarm

ORG=acme
NAME=cluster
# one hub host: its address, and a second one for its "CDN"
HUB_K=3
CDN_IP=$SL_NET.4

# ---- the repo ----------------------------------------------------------------

REPO=$W/repos/$ORG/$NAME/1
mkdir -p "$REPO"
printf '{"architectures": ["Cluster"], "hidden_size": 4096}\n' >"$REPO/config.json"
printf '{"max_new_tokens": 256}\n' >"$REPO/generation_config.json"
printf '# %s\n\nA generated repo for tools/bench/cluster.sh.\n' "$NAME" >"$REPO/README.md"
gen_text 1000000 >"$REPO/tokenizer.json"
small=$(find "$REPO" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
big=$(( size_mib * 1048576 - small ))
gen_bytes "$big" >"$REPO/model.safetensors"
size=$(find "$REPO" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
nfiles=$(find "$REPO" -type f | wc -l)
files=$(cd "$REPO" && find . -type f | sed 's|^\./||' | sort)
cap_time=$(awk -v s="$size" -v r="$hub_bps" 'BEGIN { printf "%.1f", s / r }')
# what each file's blob is named in a Hugging Face cache: the sha256 of an
# LFS file (the hub's rule: .safetensors, .bin, or 10 MiB and more), the
# git blob id of the others
: >"$W/expected"
for f in $files; do
	sz=$(stat -c %s "$REPO/$f")
	sha=$(sha256sum <"$REPO/$f" | cut -c1-64)
	case "$f" in
	*.safetensors|*.bin) blob=$sha ;;
	*) if test "$sz" -ge 10485760; then blob=$sha; else
		blob=$(git hash-object "$REPO/$f"); fi ;;
	esac
	echo "$f $sha $blob" >>"$W/expected"
done

# ---- the lab -----------------------------------------------------------------

sl_host tracker 2
sl_host hub $HUB_K "$hub_cap"
ip -n "$(sl_ns hub)" addr add "$CDN_IP/24" dev eth0 || bench_die "cannot add the CDN's address"
HUB_IP=$(sl_ip hub)
k=1
while test $k -le "$hosts"; do
	sl_host "h$k" $((10 + k)) "$host_up" "$host_down"
	k=$((k + 1))
done

bench_say "the hub reads and hashes $size bytes in $nfiles files"
# the services of lib-services.sh keep their files in the work directory
cd "$W" || exit 2
TRASH_DIRECTORY=$W
test_ca_cert "$HUB_IP" "$CDN_IP" || bench_die "cannot make the test CA"
CA=$W/ca.pem
FAKE_HUB=$ROOT/tests/t/fake-hub.py
SERVICE_WRAPPER="ip netns exec $(sl_ns hub)" \
	start_fake_hub hub "$W/repos" --bind "$HUB_IP" --cdn-bind "$CDN_IP" ||
	bench_die "the fake hub did not start: $(cat "$W/hub.err" 2>/dev/null)"
SL_PIDS="$hub_pid $SL_PIDS"
HUB_URL=https://$HUB_IP:$hub_port
sl_exec hub curl -sS --cacert "$CA" -o "$W/revision.json" \
	"$HUB_URL/api/models/$ORG/$NAME/revision/main" ||
	bench_die "the hub does not answer at $HUB_URL"
COMMIT=$(sed -n 's/.*"sha": *"\([0-9a-f]\{40\}\)".*/\1/p' "$W/revision.json")
test -n "$COMMIT" || bench_die "no commit in the hub's revision answer"

# the bridged torrent is the one publish makes of the same files and commit:
# its info-hashes, for opentracker's whitelist
"$MODELSWARM" keygen probe -o "$W" --no-password >/dev/null &&
"$MODELSWARM" publish "$REPO" --repo $ORG/$NAME --rev "$COMMIT" --key "$W/probe.key" \
	--index "$W/probe-index" >"$W/log/probe.out" 2>"$W/log/probe.err" ||
	bench_die "publish (for the info-hash) failed: $(cat "$W/log/probe.err")"
hashes=$(sed -n 's/^infohash v[12]: //p' "$W/log/probe.out")
test -n "$hashes" || bench_die "publish printed no info-hash"
# shellcheck disable=SC2086
sl_tracker tracker $hashes || bench_die "opentracker did not start: $(cat "$W/log/tracker.err")"

SEEDBOX_INDEX="http://$(sl_ip h1):8080/modelswarm/index/"
SL_MS_CONFIG="${cfg_all}hf-listen = 0.0.0.0:8080
hf-upstream = $HUB_URL
bridge-tracker = $SL_TRACKER_URL
bridge-name = seedbox" sl_ms_home h1
k=2
while test $k -le "$hosts"; do
	SL_MS_CONFIG="${cfg_all}hf-listen = 0.0.0.0:8080
hf-upstream = $HUB_URL
index = $SEEDBOX_INDEX" sl_ms_home "h$k"
	k=$((k + 1))
done

# start_daemon K: host hK's daemon, in the foreground (log daemon-hK)
start_daemon () {
	# shellcheck disable=SC2046
	sl_bg "h$1" "daemon-h$1" env -i $(sl_ms_env "h$1") SSL_CERT_FILE="$CA" \
		"$MODELSWARM" daemon --foreground
	echo "$sl_pid" >"$W/pid/daemon-h$1"
	sl_wait_for "control socket" "$W/log/daemon-h$1.err" 30 "$sl_pid" ||
		bench_die "h$1's daemon did not start: $(tail -n 3 "$W/log/daemon-h$1.err")"
}

start_daemon 1
sl_wait_for "bridging from" "$W/log/daemon-h1.err" 10 || bench_die "the seedbox does not bridge"
BRIDGE_PUB=$W/hosts/h1/ms/state/bridge/bridge.pub
test -s "$BRIDGE_PUB" || bench_die "no bridge key at $BRIDGE_PUB"
k=2
while test $k -le "$hosts"; do
	sl_ms "h$k" trust add --bridge seedbox "$BRIDGE_PUB" --scope '*/*' >/dev/null ||
		bench_die "trust add failed on h$k"
	start_daemon $k
	k=$((k + 1))
done
k=1
while test $k -le "$hosts"; do
	sl_wait_http "h$k" "http://127.0.0.1:8080/" 30 ||
		bench_die "h$k's endpoint does not answer"
	# stamp_logs stamps only what comes after this
	echo "h$k $(wc -l <"$W/log/daemon-h$k.err")" >>"$W/lines"
	k=$((k + 1))
done

# ---- the clients ---------------------------------------------------------------

# start_client K HUB_URL LOG: @huggingface/hub's snapshotDownload on hK,
# as it is; it prints START and DONE with the time in ms
start_client () {
	d=$W/hosts/h$1/client
	rm -rf "$d"
	mkdir -p "$d"
	# (its CPU seconds, user and system, on the last line of its .err)
	sl_bg "h$1" "$3" /usr/bin/time -f "CPU %U %S" env -i PATH="$PATH" \
		HOME="$W/hosts/h$1/home" NODE_PATH="$NODE_MODULES" NODE_EXTRA_CA_CERTS="$CA" node -e '
const t = Date.now();
console.log("START " + t);
const hub = require("@huggingface/hub");
hub.snapshotDownload({ repo: process.argv[2], hubUrl: process.argv[1], cacheDir: process.argv[3] })
  .then((p) => console.log("DONE " + Date.now() + " " + p),
        (e) => { console.error(String(e)); process.exit(1); });
' "$2" "$ORG/$NAME" "$d"
	eval "client_pid_$1=\$sl_pid"
}

# stamp_logs T0: every new line of the daemons' logs, with its time (the
# sampling's), into log/daemon-hK.t; one awk for all (the machine is busy)
stamp_logs () {
	t=$(bench_secs "$1" "$(bench_now)")
	awk -v t="$t" -v w="$W" '
		FILENAME == w "/lines" { n[$1] = $2; next }
		FNR == 1 { h = FILENAME; sub(/.*\/daemon-/, "", h); sub(/\.err$/, "", h) }
		FNR > n[h] + 0 { print t, $0 >> (w "/log/daemon-" h ".t"); n[h] = FNR }
		END { for (h in n) print h, n[h] > (w "/lines.new") }' \
		"$W/lines" "$W"/log/daemon-h*.err && mv "$W/lines.new" "$W/lines"
}

# sample KIND T0: marks hosts done (done.hK holds their time, from the
# client's DONE line) or failed; one line "t host bytes" per host still
# running into samples.KIND (the bytes in its client's cache), and in the
# swarm "t host bytes" per host into samples.daemon (the bytes its daemon
# has written into its own cache: allocated blocks, the files are sparse)
sample () {
	t=$(bench_secs "$2" "$(bench_now)")
	t0_ms=$(( $2 / 1000000 ))
	for f in $(grep -l '^DONE ' "$W"/log/"$1"-h*.out 2>/dev/null); do
		h=${f##*/"$1"-}
		h=${h%.out}
		test -e "$W/done.$h" && continue
		sed -n 's/^DONE \([0-9]*\) .*/\1/p' "$f" |
			awk -v z="$t0_ms" '{ printf "%.3f\n", ($1 - z) / 1000 }' >"$W/done.$h"
		echo "$(cat "$W/done.$h") $h $size" >>"$W/samples.$1"
	done
	running=
	k=1
	while test $k -le "$hosts"; do
		h=h$k
		eval "p=\$client_pid_$k"
		k=$((k + 1))
		test -e "$W/done.$h" && continue
		if ! sl_alive "$p" && ! grep -q '^DONE ' "$W/log/$1-$h.out"; then
			echo failed >"$W/done.$h"
			bench_say "$h: the client exited before done: $(tail -n 3 "$W/log/$1-$h.err")"
			continue
		fi
		running="$running $h"
	done
	find "$W/hosts" -mindepth 3 -type f -printf '%P %s %b\n' 2>/dev/null |
	awk -v t="$t" -v kind="$1" -v run="$running" -v w="$W" '
		BEGIN { n = split(run, r, " "); for (i = 1; i <= n; i++) c[r[i]] = 0 }
		{ split($1, p, "/") }
		p[2] == "client" && (p[1] in c) { c[p[1]] += $2 }
		p[2] == "cache" { d[p[1]] += $3 * 512 }
		END {
			for (h in c) print t, h, c[h] >> (w "/samples." kind)
			if (kind == "swarm") for (h in d) print t, h, d[h] >> (w "/samples.daemon")
		}'
}

# tick KIND T0: a sample, the daemons' new log lines, the load
tick () {
	sample "$1" "$2"
	test "$1" = http || stamp_logs "$2"
	awk '{ print $1 }' /proc/loadavg >>"$W/load.$1"
}

# run_until KIND T0 DEADLINE_S: a tick every 0.5 s until every host is done
# or failed, or DEADLINE_S passed
run_until () {
	bench_until_done "$W" "$hosts" "$3" tick "$1" "$2" || {
		bench_say "$1: not done after $3 s"; return 1; }
}

# finish KIND: stop the clients, mark unfinished hosts failed, check every
# host's snapshot: each file's sha256, its blob's name; per-host.KIND gets
# "host done_s files_ok"
finish () {
	: >"$W/per-host.$1"
	ok_hosts=0
	k=1
	while test $k -le "$hosts"; do
		h=h$k
		k=$((k + 1))
		eval "sl_stop \$client_pid_$((k - 1))"
		test -e "$W/done.$h" || echo failed >"$W/done.$h"
		snap=$W/hosts/$h/client/models--$ORG--$NAME/snapshots/$COMMIT
		ok=yes
		while read -r f sha blob; do
			got=$(test -f "$snap/$f" && sha256sum <"$snap/$f" | cut -c1-64)
			name=$(readlink "$snap/$f" 2>/dev/null)
			if test "$got" != "$sha"; then
				ok=no
				bench_say "$h ($1): $f has sha256 '${got:-none}', not $sha"
			elif test "${name##*/}" != "$blob"; then
				ok=no
				bench_say "$h ($1): $f's blob is '${name:-none}', not $blob"
			fi
		done <"$W/expected"
		test $ok = no || ok_hosts=$((ok_hosts + 1))
		echo "$h $(cat "$W/done.$h") $ok" >>"$W/per-host.$1"
		rm -rf "$W/hosts/$h/client"
	done
	eval "ok_$1=\$ok_hosts"
}

ratio () {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan") print "nan";
		else printf "%.3f\n", a / b }'
}

# hub_body: the body bytes the fake hub sent so far (its egress file)
hub_body () {
	sed -n 's/.*"total": *\([0-9]*\).*/\1/p' "$W/hub.egress" 2>/dev/null
}

# cpu_busy: "busy total" jiffies of every CPU so far (/proc/stat)
cpu_busy () {
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i;
		print t - $5 - $6, t; exit }' /proc/stat
}

busy_pct () {
	echo "$1 $2" | awk '{ printf "%.0f", 100 * ($3 - $1) / ($4 - $2) }'
}

deadline=$(awk -v c="$cap_time" -v n="$hosts" 'BEGIN { printf "%d", 3 * n * c + 180 }')

# run_phase KIND URL: every host's client at once, hubUrl URL; sets
# KIND_tx, KIND_body, KIND_cpu, KIND_load, KIND_last, ok_KIND
run_phase () {
	tx0=$(sl_tx_bytes hub)
	body0=$(hub_body)
	cpu0=$(cpu_busy)
	: >"$W/samples.$1"
	rm -f "$W"/done.h*
	t0=$(bench_now)
	k=1
	while test $k -le "$hosts"; do
		start_client $k "$2" "$1-h$k"
		k=$((k + 1))
	done
	run_until "$1" "$t0" "$deadline"
	eval "$1_tx=\$(( \$(sl_tx_bytes hub) - tx0 ))"
	eval "$1_body=\$(( \$(hub_body) - body0 ))"
	eval "$1_cpu=\$(busy_pct \"\$cpu0\" \"\$(cpu_busy)\")"
	eval "$1_load=\$(sort -g \"\$W/load.$1\" | tail -n 1)"
	eval "$1_last=\$(bench_last_done "$W")"
	finish "$1"
}

# ---- the swarm -------------------------------------------------------------------

bench_say "swarm: $hosts hosts snapshotDownload $ORG/$NAME through their own endpoints"
run_phase swarm "http://127.0.0.1:8080"
spread=$(cat "$W"/log/swarm-h*.out | sed -n 's/^START //p' | sort -n |
	awk 'NR == 1 { a = $1 } { b = $1 } END { printf "%.2f", (b - a) / 1000 }')

# where the time went, from the daemons' logs (times of the 0.5 s sampling)
first_t () {
	awk -v p="$1" 'index($0, p) { print $1; exit }' "$W/log/daemon-h$2.t" 2>/dev/null
}
t_ask=$(first_t "no index has it: bridging it from" 1)
t_meta=$(first_t " at upstream " 1)
t_got=$(first_t "verified against the upstream's metadata; hashing" 1)
t_bridged=$(first_t "bridged $ORG/$NAME@" 1)
: "${t_ask:=nan}" "${t_meta:=nan}" "${t_got:=nan}" "${t_bridged:=nan}"
first_done=$(grep -v failed "$W"/done.h* 2>/dev/null | cut -d: -f2 | sort -g | head -n 1)
: "${first_done:=nan}"
bridge_s=$t_bridged
swarm_s=$(awk -v a="$swarm_last" -v b="$t_bridged" 'BEGIN {
	if (a == "nan" || b == "nan") print "nan"; else printf "%.1f", a - b }')
# what each daemon says it downloaded, took from web seeds (the hub's
# resolve URLs, which a bridged manifest names) and uploaded, before it stops
k=1
while test $k -le "$hosts"; do
	sl_ms "h$k" daemon ls --json >"$W/ls-h$k.json" 2>"$W/log/ls-h$k.err"
	/usr/bin/python3 -c 'import json, sys
rs = [r for r in json.load(open(sys.argv[1])) if r["repo"] == sys.argv[2]]
print(*(sum(r[k] for r in rs) for k in ("downloaded", "from_mirrors", "uploaded")))' \
		"$W/ls-h$k.json" "$ORG/$NAME" >"$W/bytes.h$k" 2>>"$W/log/ls-h$k.err" ||
		echo "nan nan nan" >"$W/bytes.h$k"
	# its CPU seconds (utime + stime) so far
	awk '{ printf "%.2f\n", ($14 + $15) / 100 }' "/proc/$(cat "$W/pid/daemon-h$k")/stat" \
		>"$W/cpu.h$k" 2>/dev/null || echo nan >"$W/cpu.h$k"
	sl_stop "$(cat "$W/pid/daemon-h$k")"
	k=$((k + 1))
done
# where each follower took the bytes from: a relay (by host), and when it
# had every file checked
k=1
while test $k -le "$hosts"; do
	echo "$(sl_ip "h$k") h$k"
	k=$((k + 1))
done >"$W/ips"
k=2
while test $k -le "$hosts"; do
	src=$(sed -n 's/.*following it (commit [0-9a-f]*, relay http:\/\/\([^:/]*\).*/\1/p' \
		"$W/log/daemon-h$k.err" | head -n 1)
	src=$(awk -v ip="$src" '$1 == ip { print $2 }' "$W/ips")
	fin=$(first_t "files from relay" "$k")
	echo "${src:--} ${fin:-nan}" >"$W/relay.h$k"
	k=$((k + 1))
done
echo "- nan" >"$W/relay.h1"
cpu_daemons=$(cat "$W"/cpu.h* | awk '{ n += $1 } END { printf "%.1f", n }')
cpu_clients=$(for f in "$W"/log/swarm-h*.err; do tail -n 1 "$f"; done |
	awk '$1 == "CPU" { n += $2 + $3; c++ } END { if (c) printf "%.1f", n; else print "nan" }')
from_hub=$(cat "$W"/bytes.h* | awk '{ n += $2 } END { printf "%.0f\n", n }')

# ---- the HTTP baseline ---------------------------------------------------------

http_last=nan
http_tx=nan
http_body=nan
http_cpu=nan
http_load=nan
ok_http=$hosts
if test -n "$http"; then
	bench_say "http: $hosts hosts snapshotDownload $ORG/$NAME from the hub itself"
	run_phase http "$HUB_URL"
fi
bench_stop "$hub_pid"

# ---- report --------------------------------------------------------------------

swarm_ratio=$(ratio "$swarm_tx" "$size")
http_ratio=$(ratio "$http_tx" "$size")
swarm_done_ratio=$(ratio "$swarm_last" "$cap_time")
http_done_ratio=$(ratio "$http_last" "$cap_time")
r2 () {
	awk -v x="$1" 'BEGIN { if (x == "nan") print x; else printf "%.2f\n", x }'
}

echo "cluster, $(date -u '+%Y-%m-%d %H:%M UTC'), $(bench_machine)"
echo "repo: $size bytes ($size_mib MiB) in $nfiles files, one LFS file of $big bytes;"
echo "the fake hub (HTTPS, LFS files through its CDN) uploads $hub_cap B/s;"
echo "$hosts hosts, each up $host_up B/s, down $host_down B/s, a daemon (h1 the seedbox"
echo "and everyone's index) and @huggingface/hub snapshotDownload; tracker: opentracker"
test -z "$cfg_all" || printf 'config: %s\n' "$(printf '%s' "$cfg_all" | tr '\n' ';')"
echo "hub egress is what the hub's interface sent (TCP/IP and TLS included)"
echo
printf '%-30s %14s %14s\n' "" swarm http
printf '%-30s %14s %14s\n' "hub egress, bytes" "$swarm_tx" "$http_tx"
printf '%-30s %14s %14s\n' "  of which HTTP bodies" "$swarm_body" "$http_body"
printf '%-30s %14s %14s\n' "  the daemons' web seed bytes" "$from_hub" -
printf '%-30s %14s %14s\n' "hub egress / repo size" "$swarm_ratio" "$http_ratio"
printf '%-30s %14s %14s\n' "last host done, s" "$swarm_last" "$http_last"
printf '%-30s %14s %14s\n' "size / hub cap, s" "$cap_time" "$cap_time"
printf '%-30s %14s %14s\n' "last done / (size / cap)" "$(r2 "$swarm_done_ratio")" \
	"$(r2 "$http_done_ratio")"
printf '%-30s %14s %14s\n' "hosts with every file right" "$ok_swarm/$hosts" \
	"$(test -n "$http" && echo "$ok_http/$hosts" || echo -)"
printf '%-30s %14s %14s\n' "CPU busy (2 = 100%), %" "$swarm_cpu" "$http_cpu"
printf '%-30s %14s %14s\n' "highest load average (1 min)" "$swarm_load" "$http_load"
echo
echo "clients started within $spread s; the seedbox (h1's daemon; times of the sampling, 0.5 s or more):"
echo "  asked for the repo, bridging it   $t_ask s"
echo "  commit and tree read at the hub   $t_meta s"
echo "  every file downloaded, verified   $t_got s"
echo "  torrent made, release signed      $t_bridged s   (bridge phase)"
echo "  first host done                   $first_done s"
echo "  last host done                    $swarm_last s   (swarm phase: $swarm_s s)"
echo "CPU seconds of the swarm run: the $hosts clients $cpu_clients, the $hosts daemons $cpu_daemons"
echo
echo "from: the host whose relay a follower took the bytes from; in, s: when it"
echo "had every file checked; daemon, s: when the host's daemon had the release"
echo "whole (h1: bridged; the others: their log's \"downloaded ... seeding\"); done,"
echo "s: its client; MiB its daemon downloaded from peers, of those from web seeds"
echo "(the hub), and uploaded (relayed bytes are not counted there)"
printf '%-5s %5s %8s %9s %9s %5s %9s %9s %9s %9s %5s\n' host from "in, s" "daemon, s" \
	"done, s" ok "down MiB" "web seed" "up MiB" "http, s" ok
while read -r h d ok; do
	hd=$(awk -v h="$h" '$1 == h { print $2, $3 }' "$W/per-host.http" 2>/dev/null)
	if test "$h" = h1; then dd=$t_bridged; else
		dd=$(first_t ": downloaded " "${h#h}"); fi
	mib=$(awk '{ for (i = 1; i <= 3; i++) printf "%s ", $i == "nan" ? "nan" : int($i / 1048576) }' \
		"$W/bytes.$h")
	# shellcheck disable=SC2086
	printf '%-5s %5s %8s %9s %9s %5s %9s %9s %9s %9s %5s\n' "$h" $(cat "$W/relay.$h") \
		"${dd:-nan}" "$d" "$ok" $mib ${hd:-nan -}
done <"$W/per-host.swarm"

if command -v gnuplot >/dev/null 2>&1; then
	# one data file per run and host: "seconds MiB"
	for kind in swarm daemon http; do
		bench_plot_data "$W/samples.$kind" "$W/plot.$kind" "$hosts"
	done
	xmax=$(cat "$W/samples.swarm" "$W/samples.http" 2>/dev/null |
		awk '{ if ($1 > m) m = $1 } END { print m * 1.02 + 1 }')
	if test -n "$http"; then panes=2 width=1400; else panes=1 width=800; fi
	{
		echo "set terminal pngcairo size $width,600 noenhanced"
		echo "set output '$plot'"
		echo "set multiplot layout 1,$panes title 'cluster: $hosts hosts, $size_mib MiB only the hub has, hub upload $hub_cap B/s, hosts up $host_up B/s down $host_down B/s'"
		echo "set xlabel 'seconds since the clients started'"
		echo "set ylabel 'MiB in the client cache'"
		echo "set key left top"
		echo "set grid"
		echo "set xrange [0:$xmax]"
		echo "set yrange [0:$((size_mib + size_mib / 20 + 1))]"
		test "$t_bridged" = nan || echo "set arrow from $t_bridged, graph 0 to $t_bridged, graph 1 nohead dt 2"
		echo "set title 'own daemon (dashed: its bytes): hub sent ${swarm_ratio}x, bridged at $t_bridged s, last done $swarm_last s'"
		bench_plot_hosts "$W/plot.swarm" "$hosts" "$W/plot.daemon"
		if test -n "$http"; then
			echo "unset arrow"
			echo "set title 'every client from the hub: hub sent ${http_ratio}x, last done $http_last s'"
			bench_plot_hosts "$W/plot.http" "$hosts"
		fi
		echo "unset multiplot"
	} >"$W/plot.gp"
	bench_gnuplot "$W/plot.gp" "$plot"
fi

echo "hosts=$hosts size_mib=$size_mib hub_egress_ratio=$swarm_ratio last_done_ratio=$(r2 "$swarm_done_ratio") http_hub_egress_ratio=$http_ratio http_last_done_ratio=$(r2 "$http_done_ratio") last_done_s=$swarm_last http_last_done_s=$http_last cap_time_s=$cap_time bridge_s=$bridge_s webseed_ratio=$(ratio "$from_hub" "$size") cpu_clients_s=$cpu_clients cpu_daemons_s=$cpu_daemons"
test "$ok_swarm" -eq "$hosts" && test "$ok_http" -eq "$hosts" || exit 1
