#!/bin/sh
# tools/bench/endpoint.sh: the daemon's Hugging Face endpoint
# (`modelswarm daemon --hf-listen`) against what serves the same bytes best,
# alternating in the same run. Four measurements, each a table of medians
# and the ratio against its target. Not a test (not part of make check).
#
#   file   a complete file (shard 1 of the repo: 1 GiB by default) that the
#          daemon holds, fetched by curl from the endpoint and from nginx
#          serving the same blob of the daemon's cache (one process,
#          sendfile), to /dev/null and to disk: endpoint >= 0.9x nginx
#   pull   the whole repo (3 GiB by default: three shards, a config.json
#          and a 2 MB tokenizer.json), not yet local: a fresh daemon (new
#          state, empty cache) whose endpoint curl asks for every file at
#          once (-Z, as get.sh's curl), timed from curl's start to its exit,
#          against `modelswarm get --no-daemon` of the same repo into an
#          empty cache: pull >= 0.85x get. Both find the one seeder through
#          the torrent's tracker (opentracker). curl of the same files from
#          nginx runs beside, for the CPU floor of tools/bench/budget.sh:
#          its curl + nginx CPU, plus one SHA-1 and two SHA-256 passes over
#          the bytes (what `get` must hash), spread over every CPU. The CPU
#          time of each process is counted (the daemon's and the seeder's
#          from /proc, curl's and get's from /usr/bin/time), and with it the
#          best pull/get this machine allows when it is short of CPU: a pull
#          does all that get does and all that its curl does, so it takes
#          at least (get's CPU + the check's curl CPU) / CPUs
#   snap   snapshotDownload of @huggingface/hub (tests/node, unmodified)
#          into an empty cache, from the endpoint of the daemon holding the
#          repo, against the same client from nginx answering the same
#          requests with the same bytes and the hub's headers: the
#          revision, tree and paths-info answers are the daemon's, captured
#          with curl and served as static files, and each file's location
#          adds the daemon's X-Repo-Commit, ETag, X-Linked-Etag and
#          X-Linked-Size and serves its blob (the JS client's ceiling):
#          snap >= 0.9x nginx. nginx answers the POST of paths-info by
#          passing it on to itself as a GET with a header that names the
#          answer for that body (one more loopback request a file)
#   ttfb   time to first byte of shard 1 (from curl's start to the first
#          byte of the file; curl's time_starttransfer, the head's, beside)
#          from a fresh daemon that does not hold the release: resolve
#          through the index, signature, torrent, tracker, first verified
#          piece: <= 1 s
#
# Each round runs every client of a measurement once, in an order rotated
# every round; round 0 is a warm-up and is not counted. Every download goes
# to a fresh directory and is compared with the source byte for byte after
# the timed window (ttfb: its sha256), then deleted. The source and the
# daemon's cache stay warm in the page cache. A daemon's peak RSS (VmHWM)
# is read before it is stopped. The last line is machine-readable.
#
# Everything listens on 127.0.0.1; DHT, LSD, UPnP/NAT-PMP are off; every
# process is started in the background and stopped by its pid; every wait
# is bounded.

usage="usage: tools/bench/endpoint.sh [--size-gib G] [--runs N] [--dir DIR]
                             [--seed-limit RATE] [--timeout SECS] [--keep] [-h]

    --size-gib G     the repo's size in GiB, in three shards (default 3;
                     decimals allowed, e.g. 0.25 for a quick check)
    --runs N         measured rounds after the warm-up round (default 3)
    --dir DIR        make the work directory under DIR (default \$TMPDIR or
                     /tmp)
    --seed-limit RATE
                     cap the seeder's upload, bytes/s (suffixes K, M, G): a
                     link between the seeder and the rest, e.g. 125M for
                     1 Gbit/s (default none: as fast as loopback and CPUs)
    --timeout SECS   give up on one download after SECS (default 900)
    --keep           keep the work directory (logs, repo, caches) at the end
    -h, --help       show this help"

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
MS_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
set -u

size_gib=3
runs=3
work_parent=${TMPDIR:-/tmp}
timeout_s=900
seed_limit=
keep=

while test $# -gt 0; do
	case "$1" in
	--size-gib) need_arg "$@"; size_gib=$2; shift ;;
	--size-gib=*) size_gib=${1#*=} ;;
	--runs) need_arg "$@"; runs=$2; shift ;;
	--runs=*) runs=${1#*=} ;;
	--dir) need_arg "$@"; work_parent=$2; shift ;;
	--dir=*) work_parent=${1#*=} ;;
	--seed-limit) need_arg "$@"; seed_limit=$2; shift ;;
	--seed-limit=*) seed_limit=${1#*=} ;;
	--timeout) need_arg "$@"; timeout_s=$2; shift ;;
	--timeout=*) timeout_s=${1#*=} ;;
	--keep) keep=1 ;;
	-h|--help) echo "$usage"; exit 0 ;;
	*) echo "error: unknown option '$1'" >&2; echo "$usage" >&2; exit 129 ;;
	esac
	shift
done

case "$size_gib" in
''|.|*[!0-9.]*|*.*.*) echo "error: --size-gib needs a number, not '$size_gib'" >&2; exit 129 ;;
esac
shard=$(awk -v g="$size_gib" 'BEGIN { printf "%.0f", g * 1073741824 / 3 }')
test "$shard" -ge 1048576 || { echo "error: --size-gib is at least 0.003 (1 MiB shards)" >&2; exit 129; }
bench_whole --runs "$runs"
bench_whole --timeout "$timeout_s" "a whole number of seconds"

test -x "$MS_ROOT/modelswarm" || bench_die "build modelswarm first (make -C '$MS_ROOT')"
HUB_MJS=$MS_ROOT/tests/node/node_modules/@huggingface/hub/dist/index.mjs
for p in nginx opentracker curl perl openssl node; do
	command -v $p >/dev/null 2>&1 || sh "$MS_ROOT/tools/deps.sh" test >&2 ||
		bench_die "cannot install $p (tools/deps.sh test)"
done
test -f "$HUB_MJS" || sh "$MS_ROOT/tools/deps.sh" test >&2 ||
	bench_die "cannot install @huggingface/hub (tools/deps.sh test)"
test -x /usr/bin/time || bench_die "needs /usr/bin/time (tools/deps.sh test)"
test -x /usr/bin/python3 || bench_die "needs /usr/bin/python3"

LC_ALL=C
export LC_ALL
unset XDG_CONFIG_HOME XDG_STATE_HOME XDG_CACHE_HOME XDG_DATA_HOME XDG_RUNTIME_DIR
unset HF_HOME HF_HUB_CACHE HUGGINGFACE_HUB_CACHE MODELSWARM_INDEX MODELSWARM_HOME

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load0=$(cut -d" " -f1-3 /proc/loadavg)
bench_workdir "$work_parent" ms-bench-endpoint "$MS_ROOT/modelswarm"
MS_NET="--no-dht --no-lsd --no-port-mapping"
failures=0
fail () {
	bench_say "$*"
	failures=$((failures + 1))
}

# ---- the repo, published with a tracker; the seeder -----------------------------

ORG=bench-org
NAME=bench-model
SRC=$W/src
mkdir -p "$SRC"
for i in 1 2 3; do
	gen_bytes "$shard" >"$SRC/model-0000$i-of-00003.safetensors" || bench_die "cannot write the repo"
done
printf '{"architectures": ["Bench"], "hidden_size": 4096}\n' >"$SRC/config.json"
gen_bytes 2000000 >"$SRC/tokenizer.json"
SHARD=model-00001-of-00003.safetensors
FILES=$(cd "$SRC" && ls)
total_bytes=$(tree_size "$SRC")
shard_sha=$(sha256sum <"$SRC/$SHARD" | cut -c1-64)

ms_home () {
	mkdir -p "$1"
	printf '# nothing may leave 127.0.0.1\ndht = false\nlsd = false\nport-mapping = false\n' >"$1/config"
}
ms_home "$W/lab"
bench_say "publishing $total_bytes bytes"
(cd "$W" && MODELSWARM_HOME=$W/lab "$MS" keygen $ORG --no-password >/dev/null) ||
	bench_die "keygen failed"
OPENTRACKER_PORT=$(free_port)
TRACKER=http://127.0.0.1:$OPENTRACKER_PORT/announce
mkdir -p "$W/index"
REV=$(printf 'endpoint bench release' | sha1sum | cut -c1-40)
MODELSWARM_HOME=$W/lab "$MS" publish "$SRC" --repo $ORG/$NAME --rev "$REV" --key "$W/$ORG.key" \
	--index "$W/index" --tracker "$TRACKER" >logs/publish.out 2>logs/publish.err ||
	bench_die "publish failed: $(cat logs/publish.err)"
TORRENT=$W/index/$ORG/$NAME/$REV.torrent
V1=$(sed -n 's/^infohash v1: //p' logs/publish.out)
V2=$(sed -n 's/^infohash v2: //p' logs/publish.out)
test -f "$TORRENT" && test -n "$V1" || bench_die "publish wrote no torrent or printed no info-hash"
start_opentracker "$V1" "$V2" || bench_die "opentracker did not start"

bench_bg logs/seed env MODELSWARM_HOME="$W/lab" "$MS" seed "$TORRENT" "$SRC" \
	--listen 127.0.0.1:0 ${seed_limit:+--upload-limit "$seed_limit"} $MS_NET
seed_pid=$bg_pid
bench_wait_for '^seeding ' logs/seed.out 600 "$seed_pid" || bench_die "seeder: $(cat logs/seed.err)"
wait_tracker_seeders "$V1" 1 60 || bench_die "the seeder is not in the tracker"

# every daemon and every get starts from a copy of this home: the config,
# the index, the pinned key
ms_home "$W/tmpl"
printf 'index = file://%s\nhf-allow = %s/%s\n' "$W/index" $ORG $NAME >>"$W/tmpl/config"
MODELSWARM_HOME=$W/tmpl "$MS" trust add $ORG "$W/$ORG.pub" >/dev/null || bench_die "trust add failed"

# ---- daemons ---------------------------------------------------------------------

d_pid=
# daemon_start NAME HOME CACHE: a daemon with state in HOME (made from the
# template if new) and the Hugging Face cache CACHE; sets d_pid, d_home, EP
daemon_start () {
	test -d "$2" || cp -R "$W/tmpl" "$2" || return 1
	d_home=$2
	d_port=$(free_port) || return 1
	EP=http://127.0.0.1:$d_port
	bench_bg "logs/$1" env MODELSWARM_HOME="$2" HF_HUB_CACHE="$3" "$MS" daemon --foreground \
		--listen 127.0.0.1:0 --hf-listen "127.0.0.1:$d_port" $MS_NET
	d_pid=$bg_pid
	bench_wait_for "Hugging Face endpoint at" "logs/$1.err" 60 "$d_pid" ||
		{ bench_say "daemon $1: $(tail -n 3 "logs/$1.err")"; return 1; }
}

# daemon_hwm: the running daemon's peak RSS in KiB
daemon_hwm () {
	awk '/^VmHWM:/ { print $2 }' "/proc/$d_pid/status" 2>/dev/null
}

# daemon_stop: `daemon stop`, then by its pid (bounded)
daemon_stop () {
	MODELSWARM_HOME=$d_home timeout 30 "$MS" daemon stop >/dev/null 2>&1
	i=0
	while kill -0 "$d_pid" 2>/dev/null && test $i -lt 300; do
		sleep 0.1
		i=$((i + 1))
	done
	bench_stop "$d_pid"
	d_pid=
}

# daemon_state: the state of the repo in the running daemon, or none
daemon_state () {
	MODELSWARM_HOME=$d_home timeout 30 "$MS" daemon ls --json 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["state"] if a else "none")'
}

# ---- the warm daemon: it holds the repo; what nginx serves is its cache ----------

WARM_HUB=$W/warm-hub
bench_say "the warm daemon downloads the repo"
daemon_start warm1 "$W/warm" "$WARM_HUB" || bench_die "the daemon did not start"
MODELSWARM_HOME=$W/warm "$MS" daemon add "$ORG/$NAME@main" --cache-dir "$WARM_HUB" \
	--index "file://$W/index" >logs/warm-add.out 2>&1 || bench_die "daemon add: $(cat logs/warm-add.out)"
i=0
while test "$(daemon_state)" != seeding; do
	i=$((i + 1))
	test $i -le $((timeout_s * 2)) || bench_die "the warm daemon did not get the repo in $timeout_s s"
	sleep 0.5
done
SNAP=$WARM_HUB/models--$ORG--$NAME/snapshots/$REV
diff -r -q "$SRC" "$SNAP" >/dev/null || bench_die "the warm daemon's snapshot differs from the source"

# the daemon's answers to what snapshotDownload asks (see the top), as
# static files for nginx; each file's headers and blob
HUB=$W/hub
mkdir -p "$HUB/pi"
API=$EP/api/models/$ORG/$NAME
curl -sSf -o "$HUB/revision.json" "$API/revision/main" &&
curl -sSf -o "$HUB/tree.json" "$API/tree/$REV?recursive=true&expand=false" ||
	bench_die "the endpoint did not answer the API"
hdr () {
	tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | tail -n 1
}
n=0
: >"$HUB/files"
for f in $FILES; do
	n=$((n + 1))
	body="{\"paths\":[\"$f\"],\"expand\":true}"
	curl -sSf -o "$HUB/pi/$n.json" -X POST -H "Content-Type: application/json" -d "$body" \
		"$API/paths-info/$REV" &&
	curl -sSf -I -o /dev/null -D "$HUB/h$n" "$EP/$ORG/$NAME/resolve/$REV/$f" ||
		bench_die "the endpoint did not answer for $f"
	echo "$n $f $(readlink -f "$SNAP/$f") $(hdr "$HUB/h$n" X-Repo-Commit) $(hdr "$HUB/h$n" ETag)" \
		"$(hdr "$HUB/h$n" X-Linked-Etag) $(hdr "$HUB/h$n" X-Linked-Size)" >>"$HUB/files"
done
warm_hwm=$(daemon_hwm)
daemon_stop

# nginx: the hub's answers above, the blobs, and the source for the pull's
# reference curl (one process, sendfile, no access log)
endpoint_nginx_http () {
	echo "map_hash_bucket_size 512;"
	echo "map \$request_body \$bench_paths_info {"
	echo "	default \"\";"
	while read -r n f rest; do
		echo "	'{\"paths\":[\"$f\"],\"expand\":true}' $n.json;"
	done <"$HUB/files"
	echo "}"
}
endpoint_nginx_server () {
	bench_nginx_server
	p=/api/models/$ORG/$NAME
	cat <<-EOF
	location = $p/revision/main { default_type application/json; alias $HUB/revision.json; }
	location = $p/tree/$REV { default_type application/json; alias $HUB/tree.json; }
	location = $p/paths-info/$REV {
		client_body_in_single_buffer on;
		proxy_method GET;
		proxy_pass_request_body off;
		proxy_set_header Content-Length "";
		proxy_set_header X-Bench-Paths-Info \$bench_paths_info;
		proxy_pass http://127.0.0.1:$nginx_port/.paths-info;
	}
	location = /.paths-info {
		default_type application/json;
		root $HUB/pi;
		try_files /\$http_x_bench_paths_info =404;
	}
	location /src/ { alias $SRC/; }
	EOF
	while read -r n f blob commit etag letag lsize; do
		cat <<-EOF
		location = /$ORG/$NAME/resolve/$REV/$f {
			alias $blob;
			etag off;
			add_header X-Repo-Commit $commit;
			add_header ETag '$etag';
			add_header X-Linked-Etag '$letag';
			add_header X-Linked-Size $lsize;
			add_header Access-Control-Allow-Origin *;
		}
		EOF
	done <"$HUB/files"
}
NGINX_HTTP_EXTRA=endpoint_nginx_http
NGINX_SERVER_EXTRA=endpoint_nginx_server
start_nginx "$W/src" || bench_die "nginx did not start: $(tail -n 3 "$W/nginx.err" 2>/dev/null)"
NGINX=$nginx_url
body="{\"paths\":[\"$SHARD\"],\"expand\":true}"
curl -sSf -X POST -H "Content-Type: application/json" -d "$body" "$NGINX/api/models/$ORG/$NAME/paths-info/$REV" |
	cmp -s - "$HUB/pi/$(awk -v f="$SHARD" '$2 == f { print $1 }' "$HUB/files").json" || bench_die "nginx does not answer paths-info as the endpoint did"

# ---- the clients -----------------------------------------------------------------

# run_CLIENT DIR LOG: one download into DIR (made fresh), output in LOG.*;
# started by bench_timed, so exec the timed program

# pull: every file from a fresh daemon's endpoint at once; check: the same
# from nginx (its CPU time, and nginx's, in LOG.cpu)
curl_all () {
	args=
	for f in $FILES; do
		args="$args -o $1/$f $2/$f"
	done
	# (timeout first: stopped by its pid, it stops time and curl too)
	# shellcheck disable=SC2086
	exec timeout -k 5 "$timeout_s" /usr/bin/time -f "%U %S" -o "$3.time" \
		curl -sS --fail --create-dirs -Z --parallel-max 64 $args >"$3.out" 2>"$3.err"
}
run_pull () {
	curl_all "$1" "$EP/$ORG/$NAME/resolve/main" "$2"
}
run_check () {
	t=$(bench_ticks "$nginx_pid")
	# in the background, so that this shell, stopped by its pid, stops
	# timeout (and with it time and curl) before it goes
	timeout -k 5 "$timeout_s" /usr/bin/time -f "%U %S" -o "$2.time" sh -c '
		args=
		for f in $1; do args="$args -o $2/$f $3/$f"; done
		exec curl -sS --fail --create-dirs -Z --parallel-max 64 $args' \
		sh "$FILES" "$1" "$NGINX/src" >"$2.out" 2>"$2.err" &
	tp=$!
	trap 'kill "$tp" 2>/dev/null; exit 143' TERM
	wait "$tp"
	rc=$?
	t=$(($(bench_ticks "$nginx_pid") - t))
	awk -v t="$t" -v k="$(getconf CLK_TCK)" '{ printf "%.3f\n", $1 + $2 + t / k }' "$2.time" >"$2.cpu"
	exit $rc
}
run_get () {
	exec env MODELSWARM_HOME="$W/get-home" timeout -k 5 "$timeout_s" \
		/usr/bin/time -f "%U %S" -o "$2.time" "$MS" get "$ORG/$NAME@main" \
		--no-daemon --cache-dir "$1" --listen 127.0.0.1:0 $MS_NET >"$2.out" 2>"$2.err"
}
# ttfb: shard 1 from a fresh daemon. curl's time_starttransfer is when
# the answer's head came, which may be before the file's first byte: the
# first byte of the body is timed by the reader (ttfb.pl: seconds from its
# start to the first body byte and to the end, bytes, sha256 in LOG.out);
# the head's time is the last line of LOG.err
cat >"$W/ttfb.pl" <<'EOF'
# ttfb.pl CMD...: run CMD, read its stdout; print the seconds to its first
# byte and to its end, the bytes and their sha256; exit with CMD's status
use strict;
use warnings;
use Time::HiRes qw(time);
use Digest::SHA;
my $t0 = time;
open(my $fh, "-|", @ARGV) or die "cannot run $ARGV[0]: $!\n";
binmode $fh;
my $d = Digest::SHA->new(256);
my ($first, $n, $buf) = (undef, 0, "");
while (my $r = sysread($fh, $buf, 1 << 20)) {
	$first //= time;
	$d->add($buf);
	$n += $r;
}
close $fh;
my $rc = $? >> 8;
printf "%.3f %.3f %d %s\n", defined $first ? $first - $t0 : -1, time - $t0, $n, $d->hexdigest;
exit $rc;
EOF
run_ttfb () {
	exec perl "$W/ttfb.pl" timeout -k 5 "$timeout_s" curl -sS --fail -o - \
		-w '%{stderr}%{time_starttransfer}\n' \
		"$EP/$ORG/$NAME/resolve/main/$SHARD" >"$2.out" 2>"$2.err"
}
# file: shard 1, complete in the warm daemon, to /dev/null or to disk
curl_one () {
	exec timeout -k 5 "$timeout_s" curl -sS --fail -o "$1" -w '%{size_download}\n' \
		"$2/$ORG/$NAME/resolve/$REV/$SHARD" >"$3.out" 2>"$3.err"
}
run_ep_null () { curl_one /dev/null "$EP" "$2"; }
run_nginx_null () { curl_one /dev/null "$NGINX" "$2"; }
run_ep_disk () { mkdir -p "$1" && curl_one "$1/$SHARD" "$EP" "$2"; }
run_nginx_disk () { mkdir -p "$1" && curl_one "$1/$SHARD" "$NGINX" "$2"; }
# snap: snapshotDownload into an empty cache
cat >"$W/snap.mjs" <<'EOF'
// snap.mjs HUB_MJS HUB_URL REPO REVISION CACHE_DIR: snapshotDownload of
// @huggingface/hub (imported from HUB_MJS, a file: URL); prints the
// snapshot's path
const [mjs, hubUrl, name, revision, cacheDir] = process.argv.slice(2);
const { snapshotDownload } = await import(mjs);
try {
	const snap = await snapshotDownload({ repo: { type: "model", name }, revision, hubUrl, cacheDir });
	console.log(`snapshot ${snap}`);
} catch (e) {
	console.error(`error: ${e.message}`);
	process.exit(1);
}
EOF
snap () {
	exec timeout -k 5 "$timeout_s" node "$W/snap.mjs" "file://$HUB_MJS" "$2" "$ORG/$NAME" main "$1" \
		>"$3.out" 2>"$3.err"
}
run_snap_ep () { snap "$1" "$EP" "$2"; }
run_snap_nginx () { snap "$1" "$NGINX" "$2"; }

# check_CLIENT DIR LOG: after the timed window, are the bytes right?
check_pull () { diff -r -q "$SRC" "$1" >/dev/null 2>&1; }
check_check () { diff -r -q "$SRC" "$1" >/dev/null 2>&1; }
check_get () { diff -r -q "$SRC" "$1/models--$ORG--$NAME/snapshots/$REV" >/dev/null 2>&1; }
check_ttfb () { test "$(cut -d" " -f4 "$2.out")" = "$shard_sha"; }
check_null () { test "$(cat "$2.out")" = "$(wc -c <"$SRC/$SHARD")"; }
check_ep_null () { check_null "$@"; }
check_nginx_null () { check_null "$@"; }
check_ep_disk () { cmp -s "$SRC/$SHARD" "$1/$SHARD"; }
check_nginx_disk () { check_ep_disk "$@"; }
check_snap () {
	test "$(sed -n 's/^snapshot //p' "$2.out")" = "$1/models--$ORG--$NAME/snapshots/$REV" &&
	diff -r -q "$SRC" "$1/models--$ORG--$NAME/snapshots/$REV" >/dev/null 2>&1
}
check_snap_ep () { check_snap "$@"; }
check_snap_nginx () { check_snap "$@"; }

# secs_of_ticks TICKS
secs_of_ticks () {
	awk -v t="$1" -v k="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / k }'
}
# secs_of_time LOG: user + system seconds of LOG.time (/usr/bin/time)
secs_of_time () {
	tail -n 1 "$1.time" 2>/dev/null | awk 'NF == 2 { printf "%.2f", $1 + $2 }'
}

# cpu_lines CLIENT LOG SEEDER_TICKS DAEMON_TICKS: "cpu-CLIENT-PROCESS
# SECONDS" for the processes of a pull, a get and a check
cpu_lines () {
	case $1 in
	pull) echo "cpu-pull-daemon $(secs_of_ticks "$4")"
	      echo "cpu-pull-curl $(secs_of_time "$2")"
	      echo "cpu-pull-seeder $(secs_of_ticks "$3")" ;;
	get) echo "cpu-get-get $(secs_of_time "$2")"
	     echo "cpu-get-seeder $(secs_of_ticks "$3")" ;;
	check) echo "cpu-check-curl $(secs_of_time "$2")" ;;
	esac
}

# rounds CLIENT...: round 0 (warm-up) to $runs, the clients in an order
# rotated every round; "CLIENT SECONDS" in ./results for rounds >= 1. A
# client whose name is in $cold gets a fresh daemon, started before and
# stopped after the timed window; its VmHWM goes to ./hwm. The CPU time
# of the seeder and of that daemon in the timed window, and of the client,
# go to ./results as cpu_lines says.
rounds () {
	r=0
	while test "$r" -le "$runs"; do
		order=$(echo "$@" | awk -v r="$r" '{ for (i = 0; i < NF; i++) printf "%s ", $(((i + r) % NF) + 1) }')
		for c in $order; do
			d=$W/out/$c
			log=logs/$c-r$r
			rm -rf "$d" "$W/cold" "$W/cold-hub" "$W/get-home"
			case " $cold " in
			*" $c "*) daemon_start "$c-d$r" "$W/cold" "$W/cold-hub" ||
				{ fail "round $r: $c: the daemon did not start"; continue; } ;;
			esac
			test "$c" = get && cp -R "$W/tmpl" "$W/get-home"
			sync
			st=$(bench_ticks "$seed_pid")
			dt=0
			test -n "$d_pid" && dt=$(bench_ticks "$d_pid")
			bench_timed "run_$(echo "$c" | tr - _)" "$d" "$log"
			st=$(($(bench_ticks "$seed_pid") - st))
			test -n "$d_pid" && dt=$(($(bench_ticks "$d_pid") - dt))
			case " $cold " in
			*" $c "*) echo "$c $(daemon_hwm)" >>hwm
				daemon_stop ;;
			esac
			if test "$rc" -ne 0; then
				fail "round $r: $c FAILED (exit $rc): $(tail -n 3 "$log.err" 2>/dev/null)"
			elif ! "check_$(echo "$c" | tr - _)" "$d" "$log"; then
				fail "round $r: $c FAILED: the bytes differ from the source"
			else
				v=$secs
				test "$c" = ttfb && v=$(cut -d" " -f1 "$log.out")
				bench_say "round $r: $c $v s"
				if test "$r" -gt 0; then
					echo "$c $v" >>results
					test "$c" = ttfb && echo "head $(tail -n 1 "$log.err")" >>results
					test "$c" = check && echo "cpu $(cat "$log.cpu")" >>results
					cpu_lines "$c" "$log" "$st" "$dt" >>results
				fi
			fi
			rm -rf "$d"
		done
		r=$((r + 1))
	done
}

: >results
: >hwm
bench_say "pull: a fresh daemon each time; get; curl from nginx; ttfb"
cold="pull ttfb"
rounds pull get check ttfb

bench_say "file and snap: the warm daemon again (a restart: nothing hashed)"
daemon_start warm2 "$W/warm" "$WARM_HUB" || bench_die "the warm daemon did not start again"
wait_http "$EP/api/models/$ORG/$NAME/revision/main" 60 || bench_die "the warm daemon does not answer"
cold=
rounds ep-null nginx-null ep-disk nginx-disk
rounds snap-ep snap-nginx
warm_hwm2=$(daemon_hwm)
daemon_stop
sync

# ---- the tables ------------------------------------------------------------------

# mb SECS BYTES: MB/s
mb () {
	awk -v s="$1" -v b="$2" 'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else print "-" }'
}
med () {
	m=$(bench_median_of "$1")
	test "$m" = nan && m=
	echo "$m"
}
# table BYTES CLIENT...
table () {
	b=$1
	shift
	printf '  %-12s %5s %10s %12s %10s %10s\n' client runs "median s" "median MB/s" "min MB/s" "max MB/s"
	for c in "$@"; do
		n=$(awk -v c="$c" '$1 == c' results | wc -l)
		if test "$n" -eq 0; then
			printf '  %-12s %5s %10s %12s %10s %10s\n' "$c" 0 - - - -
			continue
		fi
		m=$(med "$c")
		slowest=$(awk -v c="$c" '$1 == c { print $2 }' results | sort -g | tail -n 1)
		fastest=$(awk -v c="$c" '$1 == c { print $2 }' results | sort -g | head -n 1)
		printf '  %-12s %5s %10.3f %12s %10s %10s\n' "$c" "$n" "$m" "$(mb "$m" "$b")" \
			"$(mb "$slowest" "$b")" "$(mb "$fastest" "$b")"
	done
}
# ratio A B: B's median time over A's (A's speed over B's), or nan
ratio () {
	a=$(med "$1")
	b=$(med "$2")
	if test -z "$a" || test -z "$b"; then
		echo nan
	else
		awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "nan" }'
	fi
}
# verdict VALUE OP TARGET
verdict () {
	awk -v v="$1" -v o="$2" -v t="$3" 'BEGIN {
		if (v == "nan" || v == "") print "-"
		else if (o == ">=") print (v + 0 >= t) ? "ok" : "BELOW TARGET"
		else print (v + 0 <= t) ? "ok" : "OVER TARGET" }'
}
line () {
	printf '  %-28s %7s %8s  %s\n' "$1" "$2" "$3 $4" "$(verdict "$2" "$3" "$4")"
}

shard_bytes=$(wc -c <"$SRC/$SHARD")
r_null=$(ratio ep-null nginx-null)
r_disk=$(ratio ep-disk nginx-disk)
r_pull=$(ratio pull get)
r_snap=$(ratio snap-ep snap-nginx)
ttfb=$(med ttfb)
ttfb_max=$(awk '$1 == "ttfb" { print $2 }' results | sort -g | tail -n 1)
head=$(med head)
test -z "$head" || head=$(awk -v h="$head" 'BEGIN { printf "%.3f", h }')
pull_hwm=$(awk '$1 == "pull" { print $2 }' hwm | sort -n | tail -n 1)
ttfb_hwm=$(awk '$1 == "ttfb" { print $2 }' hwm | sort -n | tail -n 1)

# budget.sh's floor for the pull: the bytes moved once (curl + nginx CPU
# of the check) plus SHA-1 and twice SHA-256 over them, on every CPU
sha1=$(bench_hash_speed sha1)
sha256=$(bench_hash_speed sha256)
ncpu=$(nproc)
cpu=$(awk '$1 == "cpu" { print $2 }' results | bench_median)
floor=$(awk -v c="$cpu" -v b="$total_bytes" -v s1="$sha1" -v s2="$sha256" -v k="$ncpu" \
	'BEGIN { if (c == "nan" || s1 <= 0 || s2 <= 0) print "-"; else printf "%.3f", (c + b / s1 + 2 * b / s2) / k }')

# the CPU seconds of a pull and of a get (medians by process, summed), and
# the best pull/get when the CPUs are the limit: a pull does what get does
# and what its curl does (the check's curl: the same files to the same
# disk), so it takes at least (get's CPU + that curl's CPU) / CPUs, and
# never less than get itself
cpu_sum () {
	t=0
	for p in "$@"; do
		m=$(med "$p")
		test -n "$m" || { echo -; return; }
		t=$(awk -v a="$t" -v b="$m" 'BEGIN { printf "%.2f", a + b }')
	done
	echo "$t"
}
pull_cpu=$(cpu_sum cpu-pull-daemon cpu-pull-curl cpu-pull-seeder)
get_cpu=$(cpu_sum cpu-get-get cpu-get-seeder)
curl_cpu=$(cpu_sum cpu-check-curl)
bound=$(awk -v g="$(med get)" -v c="$get_cpu" -v u="$curl_cpu" -v k="$ncpu" 'BEGIN {
	if (g == "" || c == "-" || u == "-" || g <= 0) { print "nan"; exit }
	f = (c + u) / k
	printf "%.2f", g / (f > g ? f : g) }')
# busy SECS_CPU CLIENT: the share of every CPU used over CLIENT's median time
busy () {
	awk -v c="$1" -v w="$(med "$2")" -v k="$ncpu" 'BEGIN {
		if (c == "-" || w == "" || w <= 0) print "-"; else printf "%.0f%%", 100 * c / (w * k) }'
}

echo "modelswarm Hugging Face endpoint benchmark, started $started, $(bench_machine)"
echo "repo: $total_bytes bytes: 3 shards of $shard_bytes bytes, config.json, a 2 MB tokenizer.json;"
echo "      published with a tracker (opentracker), one seeder (modelswarm seed)," \
	"upload ${seed_limit:-not capped}"
echo "daemon: $("$MS" --version 2>/dev/null | head -n 1); nginx $(nginx -v 2>&1 | sed 's|.*/||'), one process,"
echo "        sendfile; $(curl --version | head -n 1 | cut -d' ' -f1-2); node $(node --version)," \
	"@huggingface/hub $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$MS_ROOT/tests/node/node_modules/@huggingface/hub/package.json")"
echo "rounds: 1 warm-up + $runs measured, client order rotated every round; MB = 10^6 bytes;"
echo "        sources and the daemon's cache warm in the page cache"
echo "load average at start: $load0, at end: $(cut -d" " -f1-3 /proc/loadavg) (other work on this machine skews the figures)"
echo
echo "file: shard 1 ($shard_bytes bytes), complete in the daemon, curl from the endpoint and from"
echo "      nginx serving the same blob"
table "$shard_bytes" ep-null nginx-null ep-disk nginx-disk
echo
echo "pull: the repo, not yet local, from one seeder: curl of every file at once from a fresh"
echo "      daemon's endpoint (timed from curl's start), modelswarm get --no-daemon into an"
echo "      empty cache (from its start); check: curl of the same files from nginx"
table "$total_bytes" pull get check
echo "  CPU floor (budget.sh): curl + nginx CPU of check ${cpu} s + SHA-1 at $(awk -v v="$sha1" 'BEGIN { printf "%.0f", v / 1e6 }') MB/s"
echo "  + 2 x SHA-256 at $(awk -v v="$sha256" 'BEGIN { printf "%.0f", v / 1e6 }') MB/s over $ncpu CPUs: $floor s" \
	"($(mb "$floor" "$total_bytes") MB/s at best for get; the pull moves the bytes twice)"
echo "  CPU s (medians): pull: daemon $(cpu_sum cpu-pull-daemon) + curl $(cpu_sum cpu-pull-curl)" \
	"+ seeder $(cpu_sum cpu-pull-seeder) = $pull_cpu ($(busy "$pull_cpu" pull) of $ncpu CPUs);"
echo "                   get: get $(cpu_sum cpu-get-get) + seeder $(cpu_sum cpu-get-seeder) = $get_cpu" \
	"($(busy "$get_cpu" get)); check: curl $curl_cpu"
echo "  a pull does get's work and its curl's: (get $get_cpu + curl $curl_cpu) / $ncpu CPUs of CPU time"
echo "  at least, so pull/get is at most $bound on this machine"
echo
echo "snap: snapshotDownload (@huggingface/hub) into an empty cache, the repo local in the"
echo "      daemon; against nginx answering the same requests with the same bytes and headers"
table "$total_bytes" snap-ep snap-nginx
echo
echo "ttfb: shard 1 from a fresh daemon that does not hold it, curl started to the first byte"
echo "      of the file: median ${ttfb:--} s, max ${ttfb_max:--} s (the answer's head: median ${head:--} s)"
echo
echo "daemon peak RSS (VmHWM): holding the repo ${warm_hwm2:-${warm_hwm:--}} KiB; fresh, pulling the repo" \
	"${pull_hwm:--} KiB; fresh, ttfb ${ttfb_hwm:--} KiB"
echo
printf '  %-28s %7s %8s\n' ratio value target
line "endpoint/nginx, /dev/null" "$r_null" ">=" 0.9
line "endpoint/nginx, disk" "$r_disk" ">=" 0.9
line "pull/get" "$r_pull" ">=" 0.85
printf '  %-28s %7s %8s  %s\n' "pull/get, most the CPUs allow" "$bound" "" "(not a target: see pull)"
line "snapshotDownload ep/nginx" "$r_snap" ">=" 0.9
line "ttfb s (median)" "${ttfb:-nan}" "<=" 1
if test "$failures" -gt 0; then
	echo
	echo "$failures download(s) failed or did not verify (see above)"
fi
echo
echo "size_gib=$size_gib runs=$runs ep_null_mbps=$(mb "$(med ep-null)" "$shard_bytes")" \
	"nginx_null_mbps=$(mb "$(med nginx-null)" "$shard_bytes") ep_disk_mbps=$(mb "$(med ep-disk)" "$shard_bytes")" \
	"nginx_disk_mbps=$(mb "$(med nginx-disk)" "$shard_bytes") pull_mbps=$(mb "$(med pull)" "$total_bytes")" \
	"get_mbps=$(mb "$(med get)" "$total_bytes") check_mbps=$(mb "$(med check)" "$total_bytes")" \
	"snap_ep_mbps=$(mb "$(med snap-ep)" "$total_bytes") snap_nginx_mbps=$(mb "$(med snap-nginx)" "$total_bytes")" \
	"ttfb_s=${ttfb:-nan} ep_vs_nginx_null=$r_null ep_vs_nginx_disk=$r_disk pull_vs_get=$r_pull" \
	"pull_cpu_s=$pull_cpu get_cpu_s=$get_cpu check_curl_cpu_s=$curl_cpu pull_vs_get_bound=$bound" \
	"snap_vs_nginx=$r_snap floor_s=$floor daemon_hwm_kib=${warm_hwm2:--} pull_hwm_kib=${pull_hwm:--}"
test "$failures" -eq 0
