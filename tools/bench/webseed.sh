#!/bin/sh
# tools/bench/webseed.sh: `modelswarm get` from an HTTP mirror (BEP 19 web
# seed) only, against curl and aria2c -x16 downloading the same files to
# disk from the same nginx, alternating in the same run. Prints median MB/s
# and the speed ratios get/curl (target >= 1.0) and get/aria2c (target
# >= 1.5). Not a test (not part of make check).
#
# One nginx on 127.0.0.1 (one process, sendfile, keep-alive, no access log;
# tests/t/lib-services.sh's start_nginx) serves, from one root, both the
# signed index written by `modelswarm publish`
# (http://127.0.0.1:PORT/bench/model/...) and a hub-style mirror tree
# http://127.0.0.1:PORT/bench/model/resolve/REV/PATH (hard links of the
# repo's files), which the manifest names as its web seed. There is no
# tracker and no seeder, DHT and LSD are off: the only source `get` has is
# the mirror, which it then uses at once.
#
# Each round runs the three clients once, in an order rotated every round;
# round 0 is a warm-up and is not counted. Each download goes into a fresh
# empty directory on the same filesystem as the source, after a `sync`; the
# source stays warm in the page cache (nothing is dropped). Timed: process
# start to exit (wall clock). Outside the timed window every file's size is
# checked, and in the warm-up round its sha256 too; then the download is
# deleted.
#
#   get     modelswarm get ORG/NAME@REV --index http://127.0.0.1:PORT/
#           --cache-dir FRESH (index, signature, web seed, final sha256)
#   curl    one curl process, every file one after another over one
#           keep-alive connection, -o per file
#   aria2c  aria2c -x16 -s16 -k1M --file-allocation=none, an input file
#           with out= and dir= per file (default -j 5 files at once)
#
# Everything listens on 127.0.0.1 only; every process is stopped by its pid;
# every wait is bounded. Installs nothing.

usage="usage: tools/bench/webseed.sh [--size-gib G | --size-mib M] [--runs N]
                            [--work DIR] [--timeout SECS] [--keep] [-h]

    --size-gib G     total size of the repo in GiB (default 3; decimals
                     allowed, e.g. 0.25)
    --size-mib M     the same in MiB (for quick runs)
    --runs N         measured rounds after the warm-up round (default 3)
    --work DIR       make the work directory under DIR (default \$TMPDIR or
                     /tmp); sources and downloads all live there
    --dir DIR        the same as --work
    --timeout SECS   give up on one download after SECS (default 900)
    --keep           keep the work directory (logs, repo) at the end
    -h, --help       show this help"

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
MS_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$BENCH_DIR/lib.sh"
set -u

size_gib=3
size_mib=
runs=3
work_parent=${TMPDIR:-/tmp}
timeout_s=900
keep=

while test $# -gt 0; do
	case "$1" in
	--size-gib) need_arg "$@"; size_gib=$2; size_mib=; shift ;;
	--size-gib=*) size_gib=${1#*=}; size_mib= ;;
	--size-mib) need_arg "$@"; size_mib=$2; shift ;;
	--size-mib=*) size_mib=${1#*=} ;;
	--runs) need_arg "$@"; runs=$2; shift ;;
	--runs=*) runs=${1#*=} ;;
	--work|--dir) need_arg "$@"; work_parent=$2; shift ;;
	--work=*|--dir=*) work_parent=${1#*=} ;;
	--timeout) need_arg "$@"; timeout_s=$2; shift ;;
	--timeout=*) timeout_s=${1#*=} ;;
	--keep) keep=1 ;;
	-h|--help) echo "$usage"; exit 0 ;;
	*) echo "error: unknown option '$1'" >&2; echo "$usage" >&2; exit 129 ;;
	esac
	shift
done

bench_whole --runs "$runs"
bench_whole --timeout "$timeout_s" "a whole number of seconds"
if test -n "$size_mib"; then
	awk -v m="$size_mib" 'BEGIN { exit !(m ~ /^[0-9]+(\.[0-9]+)?$/ && m >= 1 && m <= 262144) }' ||
		{ echo "error: --size-mib needs a number of MiB in [1, 262144], not '$size_mib'" >&2; exit 129; }
	size_gib=$(awk -v m="$size_mib" 'BEGIN { printf "%g", m / 1024 }')
fi
awk -v g="$size_gib" 'BEGIN { exit !(g ~ /^[0-9]*\.?[0-9]+$/ && g * 1024 >= 1 && g <= 256) }' ||
	{ echo "error: --size-gib needs a number of GiB in [1/1024, 256], not '$size_gib'" >&2; exit 129; }

test -x "$MS_ROOT/modelswarm" || bench_die "modelswarm is not built; run make -C '$MS_ROOT'"
# nothing is installed here: the benchmark is not part of make check
for p in curl:curl aria2c:aria2 nginx:nginx-light; do
	command -v "${p%%:*}" >/dev/null 2>&1 ||
		bench_die "'${p%%:*}' is not installed: run 'make deps' (or 'apt-get install ${p#*:}')"
done
for p in perl awk sha256sum stat timeout sync mktemp cp; do
	command -v "$p" >/dev/null 2>&1 || bench_die "'$p' is not installed"
done

LC_ALL=C
export LC_ALL
unset XDG_CONFIG_HOME XDG_STATE_HOME XDG_CACHE_HOME XDG_DATA_HOME
unset MODELSWARM_INDEX HF_HUB_CACHE HF_HOME

bench_workdir "$work_parent" ms-bench-webseed "$MS_ROOT/modelswarm"

# ---- the repo --------------------------------------------------------------

ORG=bench
NAME=model
REPO=$ORG/$NAME
REV=$(printf 'webseed bench release' | sha1sum | cut -c1-40)
SRC=$W/repo
mkdir -p "$SRC"

# about 1 GiB a shard, at least 3 shards
nshards=$(awk -v g="$size_gib" 'BEGIN { n = int(g); if (n < g) n++; if (n < 3) n = 3; print n }')
shard=$(awk -v g="$size_gib" -v n="$nshards" 'BEGIN { printf "%.0f", g * 1073741824 / n }')
nn=$(printf '%05d' "$nshards")
bench_say "generating the repo: $nshards x $shard bytes + small files"
i=1
while test $i -le "$nshards"; do
	# not piece-aligned, like real shards
	gen_bytes $((shard - 4096 * i + 77 * i)) >"$SRC/model-$(printf '%05d' $i)-of-$nn.safetensors" ||
		bench_die "cannot write the repo"
	i=$((i + 1))
done
printf '{\n  "architectures": ["BenchForCausalLM"],\n  "hidden_size": 4096,\n  "num_hidden_layers": 32,\n  "torch_dtype": "bfloat16"\n}\n' >"$SRC/config.json"
printf '{\n  "bos_token_id": 1,\n  "eos_token_id": 2\n}\n' >"$SRC/generation_config.json"
gen_text 2100000 >"$SRC/tokenizer.json"
gen_text 51234 >"$SRC/tokenizer_config.json"
gen_text 23456 >"$SRC/model.safetensors.index.json"
printf '# bench-model\n\nA generated repo for tools/bench/webseed.sh.\n' >"$SRC/README.md"
(cd "$SRC" && find . -type f | sed 's|^\./||' | sort) >files
# file names are ours: no blanks, no quotes
(cd "$SRC" && while IFS= read -r f; do echo "$(stat -c %s "$f") $f"; done <"$W/files") >sizes
(cd "$SRC" && while IFS= read -r f; do sha256sum "$f"; done <"$W/files") >sums
total_bytes=$(awk '{ t += $1 } END { print t }' sizes)
nfiles=$(wc -l <files)

# ---- nginx -------------------------------------------------------------------
#
# started first: its port is in the manifest (the web seed's URL)

WWW=$W/www
mkdir -p "$WWW"
start_nginx "$WWW" ||
	bench_die "nginx did not start: $(cat nginx.err nginx/error.log 2>/dev/null)"
BASE=$nginx_url
MIRROR=$BASE/$REPO/resolve/

# ---- publish, index and mirror tree -----------------------------------------

# ms_home DIR: a MODELSWARM_HOME where nothing may leave 127.0.0.1
ms_home () {
	mkdir -p "$1"
	printf '# written by tools/bench/webseed.sh: nothing may leave 127.0.0.1\ndht = false\nlsd = false\nport-mapping = false\n' >"$1/config"
}
ms_home "$W/lab"
ms_home "$W/user"

bench_say "publishing $nfiles files, $total_bytes bytes"
MODELSWARM_HOME=$W/lab "$MS" keygen $ORG -o "$W" --no-password \
	>logs/keygen.out 2>logs/keygen.err || bench_die "keygen failed: $(cat logs/keygen.err)"
MODELSWARM_HOME=$W/lab "$MS" publish "$SRC" --repo "$REPO" --rev "$REV" --key "$W/$ORG.key" \
	--index "$WWW" --webseed "$MIRROR" >logs/publish.out 2>logs/publish.err ||
	bench_die "publish failed: $(cat logs/publish.err)"
MODELSWARM_HOME=$W/user "$MS" trust add $ORG "$W/$ORG.pub" \
	>logs/trust.out 2>logs/trust.err || bench_die "trust add failed: $(cat logs/trust.err)"
# the hub-style mirror: WWW/ORG/NAME/resolve/REV/PATH, hard links
mkdir -p "$WWW/$REPO/resolve/$REV"
cp -al "$SRC/." "$WWW/$REPO/resolve/$REV/" || bench_die "cannot hard-link the mirror tree"
chmod -R a+rX "$WWW"
first=$(head -n 1 files)
curl -sS --fail --max-time 10 -o /dev/null "$MIRROR$REV/$first" ||
	bench_die "nginx does not serve the mirror tree"
curl -sS --fail --max-time 10 -o /dev/null "$BASE/$REPO/$REV.manifest.json" ||
	bench_die "nginx does not serve the index"

# ---- the clients -------------------------------------------------------------
#
# run_CLIENT DIR LOG: download into DIR (fresh); returns non-zero on failure.
# root_of CLIENT DIR: where the repo's files land under DIR.

root_of () {
	case "$1" in
	get) echo "$2/models--$ORG--$NAME/snapshots/$REV" ;;
	*) echo "$2" ;;
	esac
}

run_get () {
	MODELSWARM_HOME=$W/user exec timeout -k 5 "$timeout_s" "$MS" get "$REPO@$REV" \
		--index "$BASE/" --cache-dir "$1" --listen 127.0.0.1:0 \
		--no-dht --no-lsd --no-port-mapping >"$2.out" 2>"$2.err"
}

run_curl () {
	args=
	while IFS= read -r f; do
		args="$args -o $1/$f $MIRROR$REV/$f"
	done <"$W/files"
	# shellcheck disable=SC2086
	exec timeout -k 5 "$timeout_s" curl -sS --fail --create-dirs $args \
		>"$2.out" 2>"$2.err"
}

run_aria2c () {
	while IFS= read -r f; do
		echo "$MIRROR$REV/$f"
		echo "  dir=$1"
		echo "  out=$f"
	done <"$W/files" >"$2.input"
	exec timeout -k 5 "$timeout_s" aria2c --no-conf=true -x16 -s16 -k1M \
		--file-allocation=none --quiet=true --log="$2.log" --log-level=warn \
		--disable-ipv6=true --allow-overwrite=true --auto-file-renaming=false \
		--input-file="$2.input" >"$2.out" 2>"$2.err"
}

# verify CLIENT DIR FULL LOG: every file there with its size; its sha256
# too when FULL is 1. Prints what is wrong, returns non-zero.
verify () {
	vroot=$(root_of "$1" "$2")
	bad=$(while read -r sz f; do
		got=$(stat -L -c %s "$vroot/$f" 2>/dev/null) || { echo "missing: $f"; continue; }
		test "$got" = "$sz" || echo "size of $f: $got, not $sz"
	done <"$W/sizes")
	if test -z "$bad" && test "$3" = 1; then
		bad=$(cd "$vroot" && sha256sum -c --quiet "$W/sums" 2>&1)
	fi
	test -z "$bad" && return 0
	echo "$bad" >"$4.verify"
	return 1
}

# ---- the rounds ----------------------------------------------------------------

mb () {
	awk -v b="$total_bytes" -v s="$1" 'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else print "nan" }'
}

clients="get curl aria2c"
# set by eval below; read by ratio through eval
# shellcheck disable=SC2034
med_get='' med_curl='' med_aria2c='' om=''
mbps_get=nan mbps_curl=nan mbps_aria2c=nan
load0=$(cut -d" " -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
failures=0
: >results
bench_say "nginx on 127.0.0.1:$nginx_port; $nfiles files, $total_bytes bytes; 1 warm-up + $runs measured rounds"
r=0
while test $r -le "$runs"; do
	order=$(echo "$clients" | awk -v r="$r" '{
		for (i = 0; i < NF; i++) printf "%s ", $(((i + r) % NF) + 1) }')
	for c in $order; do
		d=$W/out/$c
		log=logs/$c-r$r
		rm -rf "$d"
		mkdir -p "$d"
		sync
		bench_timed "run_$c" "$d" "$log"
		full=0
		test $r -eq 0 && full=1
		status=ok
		if test $rc -ne 0; then
			status="FAILED: exit $rc"
		elif ! verify "$c" "$d" $full "$log"; then
			status="FAILED: the files do not match the source"
		fi
		rm -rf "$d"
		if test $r -eq 0; then
			label="warm-up"
		else
			label="round $r/$runs"
		fi
		if test "$status" = ok; then
			what="sizes"
			test $full = 1 && what="sizes and sha256"
			bench_say "$label: $c $secs s, $(mb "$secs") MB/s, $what verified"
			test $r -gt 0 && echo "$c $secs" >>results
		else
			failures=$((failures + 1))
			bench_say "$label: $c $status"
			cat "$log.err" "$log.log" "$log.verify" 2>/dev/null | tail -n 15 | sed -e 's/^/    /' >&2
		fi
	done
	r=$((r + 1))
done
sync

# ---- the table -------------------------------------------------------------------

echo "modelswarm web seed benchmark, started $started, $(bench_machine)"
echo "repo: $nfiles files, $total_bytes bytes ($nshards shards of ~$(awk -v s="$shard" 'BEGIN { printf "%.2f", s / 1073741824 }') GiB + small json/tokenizer files)"
echo "server: nginx $(nginx -v 2>&1 | sed 's|.*/||'), 1 process, sendfile, keep-alive, on 127.0.0.1;"
echo "        source files warm in the page cache (no cache drop)"
echo "get:    $("$MS" --version 2>/dev/null | head -n 1), web seed only (no tracker, no peer, no DHT/LSD),"
echo "        index and signature over HTTP, final sha256 included"
echo "curl:   $(curl --version | head -n 1 | cut -d' ' -f1-2), the files one after another, one connection"
echo "aria2c: $(aria2c --version | head -n 1 | sed 's/^aria2 version //;s/^/aria2 /'), -x16 -s16 -k1M --file-allocation=none"
echo "downloads written to disk through the page cache, fresh directory each time,"
echo "sync before each; verified and deleted after each (untimed)"
echo "rounds: 1 warm-up + $runs measured; client order rotated every round; MB = 10^6 bytes"
echo "load average at start: $load0, at end: $(cut -d" " -f1-3 /proc/loadavg) (other work on this machine skews the figures)"
echo
printf '%-8s %5s %10s %12s %10s %10s\n' client runs "median s" "median MB/s" "min MB/s" "max MB/s"
for c in $clients; do
	n=$(awk -v c="$c" '$1 == c' results | wc -l)
	if test "$n" -eq 0; then
		printf '%-8s %5s %10s %12s %10s %10s\n' "$c" 0 - - - -
		continue
	fi
	med=$(bench_median_of "$c")
	slowest=$(awk -v c="$c" '$1 == c { print $2 }' results | sort -g | tail -n 1)
	fastest=$(awk -v c="$c" '$1 == c { print $2 }' results | sort -g | head -n 1)
	printf '%-8s %5s %10.3f %12s %10s %10s\n' "$c" "$n" "$med" "$(mb "$med")" "$(mb "$slowest")" "$(mb "$fastest")"
	eval "med_$c=\$med"
	eval "mbps_$c=\$(mb \"\$med\")"
done

# ratio OTHER: get's speed over OTHER's (the inverse ratio of the median
# times; > 1: get is faster)
ratio () {
	eval "om=\${med_$1:-}"
	if test -z "$med_get" || test -z "$om"; then
		echo nan
	else
		awk -v a="$med_get" -v b="$om" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "nan" }'
	fi
}
echo
printf '%-12s %7s %8s\n' ratio value target
for pair in curl:1.0 aria2c:1.5; do
	o=${pair%%:*}
	t=${pair#*:}
	v=$(ratio "$o")
	ok=$(awk -v v="$v" -v t="$t" 'BEGIN { if (v == "nan") print "-"; else print (v + 0 >= t) ? "ok" : "BELOW TARGET" }')
	printf '%-12s %7s %8s  %s\n' "get/$o" "$v" ">= $t" "$ok"
done
if test "$failures" -gt 0; then
	echo
	echo "$failures download(s) failed or did not verify (see above)"
fi
echo
echo "size_gib=$size_gib runs=$runs get_mbps=$mbps_get curl_mbps=$mbps_curl aria2_mbps=$mbps_aria2c get_vs_curl=$(ratio curl) get_vs_aria2=$(ratio aria2c)"
test "$failures" -eq 0
