# lib.sh: helpers for the benchmarks under tools/bench/ (sourced, POSIX sh).
#
# Every process a benchmark starts in the background goes through bench_bg,
# which records its pid; bench_cleanup stops them all by pid, newest first.
# Every wait is bounded.

bench_pids=

bench_say () {
	echo "$*" >&2
}

bench_die () {
	echo "error: $*" >&2
	exit 2
}

# bench_now: nanoseconds since the epoch
bench_now () {
	date +%s%N
}

# bench_secs T0 T1: seconds between two bench_now readings, 3 decimals
bench_secs () {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'
}

# bench_free_port: a TCP port that is free on 127.0.0.1 right now
bench_free_port () {
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

# bench_stop PID: SIGTERM, then SIGKILL after 10 s; reaps the pid
bench_stop () {
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

# bench_wait_http URL SECONDS [PID]: poll until URL answers at all
bench_wait_http () {
	i=0
	while ! curl -s -o /dev/null --max-time 2 "$1"; do
		i=$((i + 1))
		if test $i -gt $(($2 * 10)); then
			bench_say "'$1' did not answer within $2 s"
			return 1
		fi
		if test -n "${3:-}" && ! kill -0 "$3" 2>/dev/null; then
			bench_say "process $3 exited before '$1' answered"
			return 1
		fi
		sleep 0.1
	done
}

# bench_nginx DIR PORT ROOT: nginx serving ROOT on 127.0.0.1:PORT
# (sendfile, no access log), its files under DIR; started with bench_bg
# (logs/nginx.*), so bg_pid is its master. Returns once it answers.
bench_nginx () {
	mkdir -p "$1/tmp" || return 1
	{
		echo "daemon off;"
		test "$(id -u)" = 0 && echo "user root;"
		echo "worker_processes auto;"
		echo "pid $1/nginx.pid;"
		echo "error_log $1/error.log;"
		echo "events { worker_connections 256; }"
		echo "http { access_log off; sendfile on; tcp_nopush on;"
		echo "  client_body_temp_path $1/tmp/b; proxy_temp_path $1/tmp/p;"
		echo "  fastcgi_temp_path $1/tmp/f; uwsgi_temp_path $1/tmp/u; scgi_temp_path $1/tmp/s;"
		echo "  server { listen 127.0.0.1:$2; root $3; } }"
	} >"$1/nginx.conf"
	bench_bg logs/nginx nginx -p "$1" -e "$1/error.log" -c "$1/nginx.conf"
	bench_wait_http "http://127.0.0.1:$2/" 20 "$bg_pid"
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

# bench_workdir PARENT PREFIX MODELSWARM: make W, a new work directory under
# PARENT, and go there (with logs/ and out/); copy MODELSWARM to $W/modelswarm
# as MS (the tree may be rebuilt while the benchmark runs). At exit the
# timed run (bench_timed) and every bench_bg process are stopped by pid and
# W is removed unless $keep is set.
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

# bench_machine: "KERNEL, N CPUs, M GiB" for a table's heading
bench_machine () {
	echo "$(uname -sr), $(nproc 2>/dev/null || echo "?") CPUs," \
		"$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)"
}

# bench_qbt_profile DIR PORT WEBPORT SAVEPATH: a qbittorrent-nox profile in
# DIR (for --profile=DIR): peers on 127.0.0.1:PORT over TCP only, no DHT,
# LSD, PeX, UPnP or encryption, no ratio or seeding-time limit, no queueing,
# new torrents into SAVEPATH; the Web API on 127.0.0.1:WEBPORT without login
bench_qbt_profile () {
	mkdir -p "$1/qBittorrent/config" || return 1
	cat >"$1/qBittorrent/config/qBittorrent.conf" <<EOF
[LegalNotice]
Accepted=true

[BitTorrent]
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\BTProtocol=TCP
Session\\Port=$2
Session\\Interface=lo
Session\\InterfaceName=lo
Session\\InterfaceAddress=127.0.0.1
Session\\Encryption=0
Session\\GlobalMaxRatio=-1
Session\\GlobalMaxSeedingMinutes=-1
Session\\QueueingSystemEnabled=false
Session\\AddTorrentPaused=false
Session\\DefaultSavePath=$4
Session\\TempPathEnabled=false
Session\\AddTrackersEnabled=false

[Network]
PortForwardingEnabled=false

[Preferences]
Connection\\UPnP=false
Connection\\ResolvePeerCountries=false
General\\Locale=C
General\\UseRandomPort=false
WebUI\\Enabled=true
WebUI\\Address=127.0.0.1
WebUI\\Port=$3
WebUI\\UseUPnP=false
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false

[RSS]
AutoDownloader\\EnableProcessing=false
Session\\EnableProcessing=false
EOF
}
