# lib.sh: helpers for the benchmarks under tools/bench/ (sourced, POSIX sh).
#
# Every process a benchmark starts in the background goes through bench_bg,
# which records its pid; bench_cleanup stops them all by pid, newest first.
# Every wait is bounded. nginx, opentracker, transmission-daemon and
# qbittorrent-nox are started by the tests' own functions, from
# tests/t/lib-services.sh (see the end of this file).

bench_pids=

bench_say () {
	echo "$*" >&2
}

bench_die () {
	echo "error: $*" >&2
	exit 2
}

# need_arg OPTION [VALUE...]: exit 129 (with $usage) unless OPTION has a
# value; for a benchmark's option loop: need_arg "$@"
need_arg () {
	test $# -ge 2 || { echo "error: $1 needs a value" >&2; echo "$usage" >&2; exit 129; }
}

# bench_whole OPTION VALUE [WHAT]: exit 129 unless VALUE is a whole number
# >= 1 (WHAT: how to say so, default "a whole number >= 1")
bench_whole () {
	case "$2" in
	''|*[!0-9]*|0) echo "error: $1 needs ${3:-a whole number >= 1}, not '$2'" >&2; exit 129 ;;
	esac
}

# bench_now: nanoseconds since the epoch
bench_now () {
	date +%s%N
}

# bench_secs T0 T1: seconds between two bench_now readings, 3 decimals
bench_secs () {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'
}

# free_port: a TCP port that is free on 127.0.0.1 right now
free_port () {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
			LocalPort => 0, Proto => "tcp", Listen => 1) or die "$!\n";
		print $s->sockport, "\n";'
}

# bench_bg NAME CMD...: start CMD with output in NAME.out and NAME.err;
# sets bg_pid and remembers it for bench_cleanup
bench_bg () {
	name=$1
	shift
	"$@" >"$name.out" 2>"$name.err" </dev/null &
	bg_pid=$!
	bench_pids="$bg_pid $bench_pids"
}

# bench_stop PID: SIGTERM, then SIGKILL after 10 s; reaps the pid, which
# bench_cleanup then no longer stops
bench_stop () {
	bench_pids=$(echo " $bench_pids " | sed "s/ $1 / /;s/^ *//;s/ *$//")
	kill "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null && test $i -lt 100; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

bench_cleanup () {
	for p in $bench_pids; do
		bench_stop "$p"
	done
	bench_pids=
}

# bench_wait_for PATTERN FILE SECONDS [PID]: poll until FILE has a line
# matching PATTERN; fails after SECONDS, or at once if PID has exited
bench_wait_for () {
	i=0
	while ! grep -q -e "$1" "$2" 2>/dev/null; do
		i=$((i + 1))
		if test $i -gt $(($3 * 10)); then
			bench_say "'$1' did not appear in $2 within $3 s"
			return 1
		fi
		if test -n "${4:-}" && ! kill -0 "$4" 2>/dev/null; then
			bench_say "process $4 exited before '$1' appeared in $2"
			return 1
		fi
		sleep 0.1
	done
}

# bench_median: the median of the numbers on stdin, one a line
bench_median () {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "nan"; exit }
			if (NR % 2) print v[(NR + 1) / 2]
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# gen_bytes N: N pseudo-random bytes on stdout (AES-CTR keystream when
# openssl is there: much faster than /dev/urandom)
gen_bytes () {
	if command -v openssl >/dev/null 2>&1; then
		openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
			</dev/zero 2>/dev/null | head -c "$1"
	else
		head -c "$1" /dev/urandom
	fi
}
# gen_text N: N bytes of printable text
gen_text () {
	head -c $(($1 * 3 / 4 + 3)) /dev/urandom | base64 -w 76 | head -c "$1"
}

# bench_get_repo DIR G: the repo get.sh and budget.sh move, in DIR: G
# shards of 1 GiB (one already there is kept: get.sh --dir), a config.json
# and a 2 MB tokenizer.json
bench_get_repo () {
	mkdir -p "$1" || return 1
	i=1
	while test $i -le "$2"; do
		f=$1/model-0000$i-of-0000$2.safetensors
		test -s "$f" || gen_bytes 1073741824 >"$f" || return 1
		i=$((i + 1))
	done
	printf '{"architectures": ["Bench"], "hidden_size": 4096}\n' >"$1/config.json"
	gen_bytes 2000000 >"$1/tokenizer.json"
}

# bench_ms_home DIR: a MODELSWARM_HOME whose config keeps every modelswarm
# on 127.0.0.1; BENCH_CONFIG adds more lines to it (A/B runs)
bench_ms_home () {
	mkdir -p "$1"
	printf '# nothing may leave 127.0.0.1\ndht = false\nlsd = false\nport-mapping = false\n' >"$1/config"
	test -z "${BENCH_CONFIG:-}" || printf '%s\n' "$BENCH_CONFIG" >>"$1/config"
}

# bench_workdir PARENT PREFIX MODELSWARM: make W, a new work directory under
# PARENT, and go there (with logs/ and out/); copy MODELSWARM to $W/modelswarm
# as MS (the tree may be rebuilt while the benchmark runs). At exit the
# timed run (bench_timed) and every bench_bg process are stopped by pid and
# W is removed unless $keep is set. W is also where the services of
# lib-services.sh keep their files (TRASH_DIRECTORY).
bench_workdir () {
	mkdir -p "$1" 2>/dev/null
	W=$(mktemp -d "$1/$2.XXXXXX") || bench_die "cannot make a work directory under '$1'"
	W=$(cd "$W" && pwd)
	cur_pid=
	trap bench_on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cd "$W" || exit 2
	mkdir -p logs out
	TRASH_DIRECTORY=$W
	MS=$W/modelswarm
	cp "$3" "$MS" || bench_die "cannot copy '$3'"
}

bench_on_exit () {
	test -n "$cur_pid" && bench_stop "$cur_pid"
	bench_cleanup
	if test -n "${keep:-}"; then
		bench_say "work directory kept: $W"
	else
		rm -rf "$W"
	fi
}

# bench_timed CMD...: run CMD in the background (so that a signal stops the
# script, and CMD by pid, at once); sets rc (its exit code) and secs
bench_timed () {
	t0=$(bench_now)
	"$@" &
	cur_pid=$!
	wait "$cur_pid"
	rc=$?
	t1=$(bench_now)
	cur_pid=
	secs=$(bench_secs "$t0" "$t1")
}

# bench_median_of CLIENT: the median of CLIENT's "CLIENT SECONDS" lines in
# ./results
bench_median_of () {
	awk -v c="$1" '$1 == c { print $2 }' results | bench_median
}

# bench_ticks PID: the CPU ticks (user + system) so far of PID and its
# children (nginx's master and workers, say); getconf CLK_TCK a second
bench_ticks () {
	# pid (comm) state ppid ... utime(14) stime(15); comm without spaces
	cat /proc/[0-9]*/stat 2>/dev/null |
		awk -v m="$1" '$1 == m || $4 == m { t += $14 + $15 } END { print t + 0 }'
}

# bench_hash_speed ALG: bytes a second one core hashes with ALG (sha1,
# sha256: openssl speed, 16 KiB blocks, the libcrypto libtorrent uses)
bench_hash_speed () {
	openssl speed -bytes 16384 -seconds 2 -evp "$1" 2>/dev/null |
		awk -v a="$1" '$1 == a { v = $2; sub(/k$/, "", v); printf "%.0f", v * 1000 }'
}

# bench_machine: "KERNEL, N CPUs, M GiB" for a table's heading
bench_machine () {
	echo "$(uname -sr), $(nproc 2>/dev/null || echo "?") CPUs," \
		"$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)"
}

# ---- the swarmlab benchmarks (release-day.sh, cluster.sh) -------------------

# bench_need_gnuplot: gnuplot-nox for the plot, installed if missing (the
# benchmark runs without it: no plot)
bench_need_gnuplot () {
	command -v gnuplot >/dev/null 2>&1 && return 0
	bench_say "installing gnuplot-nox (for the plot)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		gnuplot-nox >/dev/null 2>&1 || bench_say "no gnuplot: no plot"
}

# bench_last_done DIR: the latest time in DIR/done.h* (a host's seconds, or
# "failed"), one decimal; nan if a host failed
bench_last_done () {
	cat "$1"/done.h* | awk '$1 == "failed" { bad = 1 } { if ($1 > m) m = $1 }
		END { if (bad || NR == 0) print "nan"; else printf "%.1f\n", m }'
}

# bench_until_done W HOSTS DEADLINE_S CMD...: run CMD every 0.5 s until
# HOSTS files W/done.h* are there (each host done or failed); 1 once
# DEADLINE_S have passed
bench_until_done () {
	bu_w=$1 bu_n=$2 bu_s=$3
	shift 3
	bu_i=0
	while :; do
		"$@"
		test "$(ls "$bu_w"/done.h* 2>/dev/null | wc -l)" -ge "$bu_n" && return 0
		bu_i=$((bu_i + 1))
		test $bu_i -le $((bu_s * 2)) || return 1
		sleep 0.5
	done
}

# bench_plot_data SAMPLES OUT HOSTS: from SAMPLES' lines "seconds host
# bytes", one file OUT.hK a host: "seconds MiB", in time order
bench_plot_data () {
	bp_k=1
	while test $bp_k -le "$3"; do
		awk -v h="h$bp_k" '$2 == h { print $1, $3 / 1048576 }' "$1" 2>/dev/null |
			sort -g >"$2.h$bp_k"
		bp_k=$((bp_k + 1))
	done
}

# bench_plot_hosts DATA HOSTS [DASHED]: gnuplot's "plot" line of the files
# DATA.h1 ... DATA.hHOSTS, a line a host; with DASHED, also DASHED.hK as a
# thin dashed line in its host's colour
bench_plot_hosts () {
	printf 'plot %s\n' "$(bp_k=1; while test $bp_k -le "$2"; do
		printf "'%s' with lines lw 2 lc %d title 'h%d', " "$1.h$bp_k" $bp_k $bp_k
		test -z "${3:-}" ||
			printf "'%s' with lines lw 1 dt 2 lc %d notitle, " "$3.h$bp_k" $bp_k
		bp_k=$((bp_k + 1)); done | sed 's/, $//')"
}

# bench_gnuplot GP PNG: gnuplot on the script GP (which writes PNG); says
# where the plot is, or why there is none
bench_gnuplot () {
	if gnuplot "$1" 2>"$1.err"; then
		echo
		echo "plot: $2"
	else
		bench_say "gnuplot failed: $(head -n 3 "$1.err")"
	fi
}

# ---- the services: tests/t/lib-services.sh ---------------------------------
#
# The benchmarks start nginx, opentracker, transmission-daemon and
# qbittorrent-nox with the functions the tests use (start_nginx,
# start_opentracker, start_transmission, start_qbittorrent, ...), so that
# each of them is run one way only. lib-services.sh takes five things from
# tests/t/test-lib.sh, which a benchmark cannot source (it makes and enters
# a trash directory under tests/ and prints TAP); they are given here
# instead:
#   TRASH_DIRECTORY  where the services keep their files: the work
#                    directory W (bench_workdir sets it; get.sh and
#                    budget.sh, which make their own W, set it too)
#   test_bg          bench_bg (so bench_cleanup stops the service by its
#                    pid), plus the NAME.pid file lib-services.sh reads; the
#                    service runs with HOME=W, as in a test it runs with the
#                    trash directory for HOME
#   free_port        above
#   wait_for, test_grep

test_bg () {
	HOME=$TRASH_DIRECTORY bench_bg "$@" &&
	echo "$bg_pid" >"$1.pid"
}

wait_for () {
	bench_wait_for "$1" "$2" "${3:-30}"
}

test_grep () {
	grep -q -e "$1" "$2" && return 0
	bench_say "'$1' is not in $2"
	return 1
}

# every benchmark is tools/bench/NAME.sh and sources this file before it
# changes directory
# shellcheck source=../../tests/t/lib-services.sh
. "$(dirname "$0")/../../tests/t/lib-services.sh"

# What the benchmarks' services have on top of the tests' (through the
# knobs of lib-services.sh; NGINX_WORKERS is left to each benchmark).
# nginx: no access log (a line a request), tcp_nopush with sendfile.
bench_nginx_server () {
	echo "access_log off;"
	echo "tcp_nopush on;"
}
NGINX_SERVER_EXTRA=bench_nginx_server

# transmission-daemon: no download or seed queue, so that every torrent of
# a large batch is active at once
bench_transmission_settings () {
	echo '"download-queue-enabled": false,'
	echo '"seed-queue-enabled": false,'
	echo '"queue-stalled-enabled": false,'
}
TRANSMISSION_SETTINGS_EXTRA=bench_transmission_settings

# qbittorrent-nox: no temporary download path, no trackers added to every
# torrent, no look-up of peers' countries (which would download a GeoIP
# database), no random port, no RSS
bench_qbt_conf () {
	cat <<\EOF

[BitTorrent]
Session\TempPathEnabled=false
Session\AddTrackersEnabled=false

[Preferences]
Connection\ResolvePeerCountries=false
General\UseRandomPort=false

[RSS]
AutoDownloader\EnableProcessing=false
Session\EnableProcessing=false
EOF
}
QBT_CONF_EXTRA=bench_qbt_conf

# bench_tracker_register HASH PORT PEER_ID: enter a seeder that listens on
# 127.0.0.1:PORT in the opentracker started last, for the v1 info-hash
# HASH, by a plain HTTP announce on its behalf (PEER_ID: 20 characters);
# fails unless the tracker then counts a seeder
bench_tracker_register () {
	curl -s --max-time 5 -o /dev/null \
		"$tracker_url?info_hash=$(echo "$1" | sed 's/../%&/g')&peer_id=$3&port=$2&uploaded=0&downloaded=0&left=0&compact=1&event=started" &&
	test "$(tracker_seeders "$1")" -ge 1
}
