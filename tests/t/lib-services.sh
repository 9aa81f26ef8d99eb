# lib-services.sh: real, independent services on 127.0.0.1 for the shell
# tests: opentracker, nginx, aria2c, transmission-daemon, qbittorrent-nox,
# and the fake Hugging Face hub (fake-hub.py).
# Source it after test-lib.sh:
#
#	. "$(dirname "$0")/test-lib.sh"
#	. "$TEST_DIRECTORY/lib-services.sh"
#
# (test-lib.sh changes into the trash directory, so a relative $0 no longer
# leads to this file; $TEST_DIRECTORY does.)
#
# The benchmarks under tools/bench/ start their services here too, through
# tools/bench/lib.sh. What this file takes from test-lib.sh is only
# TRASH_DIRECTORY (where the services keep their files), test_bg (start a
# command in the background with its output in NAME.out/NAME.err and its pid
# in NAME.pid, and stop it by that pid at exit), free_port, wait_for and
# test_grep; tools/bench/lib.sh gives the benchmarks those five without
# test-lib's TAP and trash directory.
#
# Every service is started with test_bg (so test-lib stops it by its pid at
# exit), binds 127.0.0.1 (or ::1) only, on ports from free_port, has every
# form of peer discovery the program knows turned off (DHT, LSD, PEX,
# UPnP/NAT-PMP), keeps its files under the trash directory, and is waited
# for with a bounded loop. Test bodies run in the script's shell, so the
# helpers here name their own variables with an "ls_" prefix, and what they
# report is in variables named after the service (tracker_url, nginx_url,
# aria2_port, transmission_port, qbt_port, ...).
#
# Optional knobs, read when a start_ function runs (as ${NAME:-}, so a
# caller under set -u need not set them); unset, they change nothing:
# OPENTRACKER_PORT, NGINX_SERVER_EXTRA, NGINX_WORKERS, ARIA2_ADDR,
# TRANSMISSION_SETTINGS_EXTRA, QBT_CONF_EXTRA (each described at its
# function), and SERVICE_WRAPPER: a command (a program or a shell function,
# and its words) that every start_ function runs its service through, e.g.
# one that execs it with a clean environment; it must exec the service, so
# that the pid recorded is the service's own.

# curl, aria2c and transmission-remote would send even 127.0.0.1 requests
# through a proxy named in the environment
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
	ftp_proxy FTP_PROXY no_proxy NO_PROXY

# wait_port PORT [SECONDS] [HOST]: poll until HOST:PORT (default
# 127.0.0.1) accepts a TCP connection (bounded, default 30 s).
wait_port () {
	perl -MIO::Socket::INET -e '
		my ($port, $secs, $host) = @ARGV;
		my $end = time + $secs;
		while (time < $end) {
			my $s = IO::Socket::INET->new(PeerAddr => $host,
				PeerPort => $port, Proto => "tcp", Timeout => 1);
			if ($s) { close $s; exit 0; }
			select(undef, undef, undef, 0.1);
		}
		print STDERR "wait_port: nothing listens on $host:$port after $secs s\n";
		exit 1;' "$1" "${2:-30}" "${3:-127.0.0.1}"
}

# wait_http URL [SECONDS]: poll until URL gives any HTTP answer (bounded,
# default 30 s).
wait_http () {
	ls_end=$(($(date +%s) + ${2:-30}))
	while ! curl -s -o /dev/null --max-time 2 "$1"; do
		if test "$(date +%s)" -ge $ls_end; then
			echo "wait_http: no answer from $1 within ${2:-30} s" >&2
			return 1
		fi
		sleep 0.1
	done
}

# service_alive NAME: the process test_bg started as NAME still runs (if
# not, show what it printed).
service_alive () {
	if ! kill -0 "$(cat "$1.pid")" 2>/dev/null; then
		echo "service_alive: $1 is not running; it printed:" >&2
		cat "$1.out" "$1.err" >&2
		return 1
	fi
}

# tree_size DIR: the number of bytes in the files under DIR.
tree_size () {
	find "$1" -type f -exec cat {} + | wc -c | tr -d ' '
}

# --- opentracker ---------------------------------------------------------

# start_opentracker HASH...: opentracker on 127.0.0.1, TCP and UDP on one
# free port. Debian builds it with a whitelist: only the given info-hashes
# are served (40 hex digits; a 64-digit v2 hash is listed by its first 40
# digits, which is how clients announce v2 and hybrid torrents). As root it
# chroots into its directory and drops to nobody (-u), as it must.
# Sets tracker_port, tracker_url (the announce URL), tracker_pid. With
# OPENTRACKER_PORT set, on that port (a restart keeps its URL).
start_opentracker () {
	ls_dir="$TRASH_DIRECTORY/opentracker"
	mkdir -p "$ls_dir" &&
	: >"$ls_dir/whitelist" &&
	# it reads the whitelist as nobody, whatever the umask
	chmod 755 "$ls_dir" &&
	chmod 644 "$ls_dir/whitelist" || return 1
	for ls_h in "$@"; do
		case "$ls_h" in
		*[!0-9a-f]*) echo "start_opentracker: not a hex hash: '$ls_h'" >&2
			return 1 ;;
		esac
		case ${#ls_h} in
		40|64) ;;
		*) echo "start_opentracker: not an info-hash: '$ls_h'" >&2
			return 1 ;;
		esac
		echo "$ls_h" | cut -c1-40 >>"$ls_dir/whitelist" || return 1
	done
	ls_user=
	test "$(id -u)" != 0 || ls_user="-u nobody"
	tracker_port=${OPENTRACKER_PORT:-$(free_port)} &&
	test_bg opentracker ${SERVICE_WRAPPER:-} opentracker -i 127.0.0.1 -p "$tracker_port" \
		-P "$tracker_port" -d "$ls_dir" -w whitelist $ls_user &&
	tracker_pid=$bg_pid &&
	tracker_url="http://127.0.0.1:$tracker_port/announce" &&
	wait_http "http://127.0.0.1:$tracker_port/stats" 30 &&
	service_alive opentracker
}

# tracker_seeders HASH: print how many seeders opentracker counts for the
# info-hash HASH (40 hex digits), from its /scrape answer.
tracker_seeders () {
	ls_q=$(perl -e 'print map { sprintf "%%%02X", hex } $ARGV[0] =~ /../g' "$1") &&
	timeout 10 curl -sS -f -o "$TRASH_DIRECTORY/.scrape" \
		"http://127.0.0.1:$tracker_port/scrape?info_hash=$ls_q" &&
	perl -0777 -ne 'if (/8:completei(\d+)e/) { print "$1\n" }
		elsif (/^d5:filesdee/) { print "0\n" } else { exit 1 }' \
		"$TRASH_DIRECTORY/.scrape"
}

# wait_tracker_seeders HASH N [SECONDS]: poll until opentracker counts at
# least N seeders for HASH (bounded, default 30 s).
wait_tracker_seeders () {
	ls_i=0
	while :; do
		ls_n=$(tracker_seeders "$1" 2>/dev/null)
		test -n "$ls_n" && test "$ls_n" -ge "$2" && return 0
		ls_i=$((ls_i + 1))
		if test $ls_i -gt $(( ${3:-30} * 2 )); then
			echo "wait_tracker_seeders: $1 has ${ls_n:-no} seeders, wanted $2" >&2
			return 1
		fi
		sleep 0.5
	done
}

# test_ca_cert [IP...]: a test CA (ca.pem, ca.key) and a certificate for
# 127.0.0.1 (and each IP given) it signed (server.pem, server.key), valid
# two days
test_ca_cert () {
	ls_san="IP:127.0.0.1"
	for ls_ip in "$@"; do
		ls_san="$ls_san,IP:$ls_ip"
	done
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout ca.key -out ca.pem -days 2 -subj "/CN=modelswarm test CA" 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null &&
	echo "subjectAltName = $ls_san" >san.cnf &&
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 2 -extfile san.cnf -out server.pem 2>/dev/null
}

# --- the fake Hugging Face hub ----------------------------------------------

# start_fake_hub NAME REPOS [ARGS...]: tests/t/fake-hub.py (see its top for
# the layout of REPOS and the ARGS) on 127.0.0.1, its CDN on 127.0.0.2, over
# HTTPS with the certificate test_ca_cert made (call that first, with
# 127.0.0.2); its log in NAME.log, its egress counter in NAME.egress. Waits
# until it listens. Sets hub_port, hub_url (https://127.0.0.1:PORT),
# hub_cdn_port, hub_log, hub_egress, hub_pid. The script is found by
# $FAKE_HUB, else in $TEST_DIRECTORY (a benchmark sets either).
start_fake_hub () {
	ls_name=$1 ls_repos=$2
	shift 2
	rm -f "$TRASH_DIRECTORY/$ls_name.ports" &&
	test_bg "$ls_name" ${SERVICE_WRAPPER:-} /usr/bin/python3 \
		"${FAKE_HUB:-$TEST_DIRECTORY/fake-hub.py}" --repos "$ls_repos" \
		--cert "$TRASH_DIRECTORY/server.pem" --key "$TRASH_DIRECTORY/server.key" \
		--log "$TRASH_DIRECTORY/$ls_name.log" \
		--port-file "$TRASH_DIRECTORY/$ls_name.ports" \
		--egress-file "$TRASH_DIRECTORY/$ls_name.egress" "$@" &&
	hub_pid=$bg_pid &&
	ls_i=0 &&
	while ! test -s "$TRASH_DIRECTORY/$ls_name.ports"; do
		ls_i=$((ls_i + 1))
		if test $ls_i -gt 300 || ! kill -0 "$hub_pid" 2>/dev/null; then
			echo "start_fake_hub: $ls_name did not start:" >&2
			cat "$ls_name.err" >&2
			return 1
		fi
		sleep 0.1
	done &&
	hub_port=$(sed -n 1p "$TRASH_DIRECTORY/$ls_name.ports") &&
	hub_cdn_port=$(sed -n 2p "$TRASH_DIRECTORY/$ls_name.ports") &&
	hub_url="https://127.0.0.1:$hub_port" &&
	hub_log="$TRASH_DIRECTORY/$ls_name.log" &&
	hub_egress="$TRASH_DIRECTORY/$ls_name.egress"
}

# --- nginx ---------------------------------------------------------------

# start_nginx DOCROOT: nginx serving the static files under DOCROOT at /
# on 127.0.0.1 (so byte ranges work), one process, config and logs and
# temp files in the trash directory. Its access log has one line a
# request: 'METHOD URI STATUS BODY-BYTES "RANGE-HEADER"'.
# Sets nginx_port, nginx_url (http://127.0.0.1:PORT, no slash at the end),
# nginx_log (the access log), nginx_pid. If NGINX_SERVER_EXTRA names a shell
# function, what it prints goes into the server block (it may use
# $nginx_port and $ls_root); NGINX_HTTP_EXTRA likewise into the http block
# (a log_format, say). With NGINX_WORKERS set (a number, or auto), a master
# process and that many workers serve instead of the one process; nginx_pid
# is then the master's.
start_nginx () {
	ls_root=$(cd "$1" && pwd) || return 1
	ls_dir="$TRASH_DIRECTORY/nginx"
	ls_user=
	test "$(id -u)" != 0 || ls_user="user root;"
	ls_master=off ls_workers=1
	test -z "${NGINX_WORKERS:-}" || ls_master=on ls_workers=$NGINX_WORKERS
	nginx_port=$(free_port) &&
	nginx_log="$ls_dir/access.log" &&
	mkdir -p "$ls_dir/tmp" &&
	cat >"$ls_dir/nginx.conf" <<-EOF &&
	$ls_user
	daemon off;
	master_process $ls_master;
	worker_processes $ls_workers;
	pid $ls_dir/nginx.pid;
	lock_file $ls_dir/nginx.lock;
	error_log $ls_dir/error.log info;
	events {
		worker_connections 256;
	}
	http {
		log_format ranges '\$request_method \$uri \$status \$body_bytes_sent "\$http_range"';
		access_log $nginx_log ranges;
		$(test -z "${NGINX_HTTP_EXTRA:-}" || "$NGINX_HTTP_EXTRA")
		client_body_temp_path $ls_dir/tmp/body;
		proxy_temp_path $ls_dir/tmp/proxy;
		fastcgi_temp_path $ls_dir/tmp/fastcgi;
		uwsgi_temp_path $ls_dir/tmp/uwsgi;
		scgi_temp_path $ls_dir/tmp/scgi;
		default_type application/octet-stream;
		sendfile on;
		keepalive_requests 100000;
		server {
			listen 127.0.0.1:$nginx_port;
			server_name localhost;
			root $ls_root;
			autoindex off;
			$(test -z "${NGINX_SERVER_EXTRA:-}" || "$NGINX_SERVER_EXTRA")
		}
	}
	EOF
	test_bg nginx ${SERVICE_WRAPPER:-} nginx -p "$ls_dir" -c "$ls_dir/nginx.conf" &&
	nginx_pid=$bg_pid &&
	nginx_url="http://127.0.0.1:$nginx_port" &&
	wait_http "$nginx_url/" 30 &&
	service_alive nginx
}

# --- aria2 ---------------------------------------------------------------

# what every aria2c here gets: no DHT, LSD or PEX (aria2 has no UPnP), IPv4
# only, no config file, no interactive output
ARIA2_NET="--no-conf=true --enable-dht=false --enable-dht6=false
--bt-enable-lpd=false --enable-peer-exchange=false --disable-ipv6=true
--file-allocation=none --summary-interval=0 --console-log-level=warn
--allow-overwrite=true --auto-file-renaming=false"

# start_aria2_seed NAME TORRENT DIR [ARGS...]: aria2c seeds TORRENT (v1:
# aria2 1.36 knows nothing of v2) from DIR (which holds the torrent's top
# directory, as with aria2's --dir) on ${ARIA2_ADDR:-127.0.0.1} and a free
# port, forever. It checks the data first (--check-integrity); pass
# --bt-seed-unverified=true in ARGS to serve it unchecked. Output in
# NAME.out/NAME.err, log in NAME.log. Sets aria2_port, aria2_pid.
start_aria2_seed () {
	ls_name=$1 ls_torrent=$2 ls_data=$3
	shift 3
	aria2_port=$(free_port) &&
	test_bg "$ls_name" ${SERVICE_WRAPPER:-} aria2c $ARIA2_NET \
		--interface="${ARIA2_ADDR:-127.0.0.1}" \
		--listen-port="$aria2_port" --dir="$ls_data" \
		--check-integrity=true --seed-ratio=0.0 \
		--log="$TRASH_DIRECTORY/$ls_name.log" --log-level=info \
		"$@" "$ls_torrent" &&
	aria2_pid=$bg_pid &&
	wait_port "$aria2_port" 60 "${ARIA2_ADDR:-127.0.0.1}" &&
	wait_for 'Seeder state' "$ls_name.log" 60 &&
	service_alive "$ls_name"
}

# run_aria2_leech TORRENT DIR [ARGS...]: aria2c downloads TORRENT into DIR
# (peers only from the torrent's trackers), stops when done; at most
# 120 s. Log in aria2-leech.log.
run_aria2_leech () {
	ls_torrent=$1 ls_data=$2
	shift 2
	timeout 120 aria2c $ARIA2_NET --interface=127.0.0.1 \
		--listen-port="$(free_port)" --dir="$ls_data" \
		--seed-time=0 --bt-stop-timeout=60 \
		--log="$TRASH_DIRECTORY/aria2-leech.log" --log-level=info \
		"$@" "$ls_torrent"
}

# --- Transmission --------------------------------------------------------

# start_transmission NAME DIR: transmission-daemon (3.00) with no torrent
# yet, new torrents into DIR, peers on 127.0.0.1 (and ::1) and a free port,
# RPC on 127.0.0.1 only, without DHT, LPD, PEX, uTP or port mapping; waits
# until its RPC port answers. Transmission ignores 127.x peers it hears of
# from trackers: dial it with --peer 127.0.0.1:$transmission_port. Config
# and log in NAME/. Sets transmission_port, transmission_rpc,
# transmission_pid; "transmission-remote 127.0.0.1:$transmission_rpc"
# talks to it. If TRANSMISSION_SETTINGS_EXTRA names a shell function, what
# it prints (JSON members, each followed by a comma) goes into its
# settings.json.
start_transmission () {
	ls_name=$1
	ls_data=$(cd "$2" && pwd) || return 1
	ls_dir="$TRASH_DIRECTORY/$ls_name"
	mkdir -p "$ls_dir/config" &&
	transmission_port=$(free_port) &&
	transmission_rpc=$(free_port) &&
	{
		echo "{" &&
		{ test -z "${TRANSMISSION_SETTINGS_EXTRA:-}" ||
			"$TRANSMISSION_SETTINGS_EXTRA"; } &&
		cat <<-EOF
		"bind-address-ipv4": "127.0.0.1",
		"bind-address-ipv6": "::1",
		"dht-enabled": false,
		"lpd-enabled": false,
		"pex-enabled": false,
		"utp-enabled": false,
		"port-forwarding-enabled": false,
		"peer-port": $transmission_port,
		"peer-port-random-on-start": false,
		"rpc-enabled": true,
		"rpc-bind-address": "127.0.0.1",
		"rpc-port": $transmission_rpc,
		"rpc-authentication-required": false,
		"rpc-whitelist-enabled": true,
		"rpc-whitelist": "127.0.0.1",
		"rpc-host-whitelist-enabled": false,
		"blocklist-enabled": false,
		"ratio-limit-enabled": false,
		"idle-seeding-limit-enabled": false,
		"speed-limit-up-enabled": false,
		"speed-limit-down-enabled": false,
		"encryption": 0,
		"download-dir": "$ls_data",
		"incomplete-dir-enabled": false,
		"watch-dir-enabled": false,
		"start-added-torrents": true,
		"message-level": 2
		}
		EOF
	} >"$ls_dir/config/settings.json" &&
	restart_transmission "$ls_name"
}

# restart_transmission NAME: transmission-daemon again, once the one that
# start_transmission NAME started has been stopped: the same config dir
# (its torrents and resume data as it left them), the same ports; waits
# until its RPC port answers. Sets transmission_pid.
restart_transmission () {
	test_bg "$1" ${SERVICE_WRAPPER:-} transmission-daemon -f \
		-g "$TRASH_DIRECTORY/$1/config" \
		-e "$TRASH_DIRECTORY/$1/transmission.log" &&
	transmission_pid=$bg_pid &&
	wait_port "$transmission_rpc" 30
}

# start_transmission_seed NAME TORRENT DIR: start_transmission NAME DIR,
# then it seeds TORRENT (v1 only) from DIR (which holds the torrent's top
# directory); waits until the data is verified and seeding.
start_transmission_seed () {
	ls_torrent=$2
	start_transmission "$1" "$3" &&
	timeout 30 transmission-remote "127.0.0.1:$transmission_rpc" \
		-a "$ls_torrent" --download-dir "$ls_data" >"$ls_name.add" 2>&1 &&
	test_grep 'success' "$ls_name.add" &&
	wait_transmission_seeding "$ls_name" 60 &&
	wait_port "$transmission_port" 30
}

# wait_transmission_seeding NAME SECONDS: poll until the torrent in
# transmission NAME is complete and seeding (bounded); its state is left
# in NAME.info.
wait_transmission_seeding () {
	ls_i=0
	while :; do
		timeout 10 transmission-remote "127.0.0.1:$transmission_rpc" \
			-t all -i >"$1.info" 2>&1
		if grep -q 'Percent Done: 100%' "$1.info" &&
		   grep -q 'State: \(Seeding\|Idle\)' "$1.info"; then
			return 0
		fi
		ls_i=$((ls_i + 1))
		if test $ls_i -gt $(( $2 * 2 )) || ! kill -0 "$transmission_pid" 2>/dev/null; then
			echo "wait_transmission_seeding: $1 is not seeding after $2 s:" >&2
			cat "$1.info" "$1.err" >&2
			return 1
		fi
		sleep 0.5
	done
}

# --- qBittorrent ---------------------------------------------------------

# start_qbittorrent NAME: qbittorrent-nox (4.5) with its profile in NAME/,
# peers on 127.0.0.1 (interface lo) over TCP on a free port, its WebUI on
# 127.0.0.1 with no login for localhost; no DHT, LSD, PEX, UPnP/NAT-PMP.
# Sets qbt_port, qbt_url (the WebUI), qbt_pid. If QBT_CONF_EXTRA names a
# shell function, what it prints goes at the end of its qBittorrent.conf
# (whole sections: "[Preferences]" and its keys, ...).
start_qbittorrent () {
	ls_name=$1
	ls_dir="$TRASH_DIRECTORY/$ls_name"
	qbt_port=$(free_port) &&
	ls_webui=$(free_port) &&
	qbt_url="http://127.0.0.1:$ls_webui" &&
	mkdir -p "$ls_dir/qBittorrent/config" "$ls_dir/downloads" &&
	cat >"$ls_dir/qBittorrent/config/qBittorrent.conf" <<-EOF &&
	[LegalNotice]
	Accepted=true

	[BitTorrent]
	Session\DHTEnabled=false
	Session\LSDEnabled=false
	Session\PeXEnabled=false
	Session\Port=$qbt_port
	Session\Interface=lo
	Session\InterfaceName=lo
	Session\InterfaceAddress=127.0.0.1
	Session\BTProtocol=TCP
	Session\Encryption=0
	Session\AnonymousModeEnabled=false
	Session\GlobalMaxRatio=-1
	Session\GlobalMaxSeedingMinutes=-1
	Session\QueueingSystemEnabled=false
	Session\AddTorrentPaused=false
	Session\DefaultSavePath=$ls_dir/downloads

	[Network]
	PortForwardingEnabled=false

	[Preferences]
	Connection\UPnP=false
	General\Locale=C
	WebUI\Enabled=true
	WebUI\Address=127.0.0.1
	WebUI\Port=$ls_webui
	WebUI\LocalHostAuth=false
	WebUI\HostHeaderValidation=false
	WebUI\CSRFProtection=false
	WebUI\UseUPnP=false
	EOF
	{ test -z "${QBT_CONF_EXTRA:-}" ||
		"$QBT_CONF_EXTRA" >>"$ls_dir/qBittorrent/config/qBittorrent.conf"; } &&
	restart_qbittorrent "$ls_name"
}

# restart_qbittorrent NAME: qbittorrent-nox again, once the one that
# start_qbittorrent NAME started has been stopped: the same profile (its
# torrents and resume data as it left them), the same ports; waits until
# its WebUI answers and checks its settings. Sets qbt_pid.
restart_qbittorrent () {
	ls_name=$1
	test_bg "$ls_name" ${SERVICE_WRAPPER:-} qbittorrent-nox \
		--profile="$TRASH_DIRECTORY/$ls_name" --webui-port="${qbt_url##*:}" &&
	qbt_pid=$bg_pid &&
	wait_http "$qbt_url/api/v2/app/version" 60 &&
	timeout 10 curl -sS -f "$qbt_url/api/v2/app/version" >"$ls_name.version" &&
	echo >>"$ls_name.version" &&
	timeout 10 curl -sS -f "$qbt_url/api/v2/app/preferences" >"$ls_name.prefs" &&
	echo >>"$ls_name.prefs" &&
	grep -q '"dht":false' "$ls_name.prefs" &&
	grep -q '"lsd":false' "$ls_name.prefs" &&
	grep -q '"pex":false' "$ls_name.prefs" &&
	grep -q '"upnp":false' "$ls_name.prefs" &&
	grep -q "\"listen_port\":${qbt_port}[,}]" "$ls_name.prefs" &&
	service_alive "$ls_name"
}

# qbt_id INFOFILE: the id qBittorrent's Web API knows a torrent by, from
# the output of "modelswarm create" in INFOFILE: the v2 info-hash cut to
# 40 digits for v2 and hybrid torrents, else the v1 info-hash.
qbt_id () {
	ls_id=$(sed -n 's/^infohash v2: \([0-9a-f]\{40\}\).*/\1/p' "$1")
	test -n "$ls_id" || ls_id=$(sed -n 's/^infohash v1: //p' "$1")
	test -n "$ls_id" && echo "$ls_id"
}

# qbt_add TORRENT DIR: add TORRENT to the qbittorrent started last; its
# data is checked in, or downloaded into, DIR/NAME.
qbt_add () {
	ls_data=$(cd "$2" && pwd) &&
	timeout 10 curl -sS -f -F "torrents=@$1" -F "savepath=$ls_data" \
		-F "paused=false" -F "skip_checking=false" \
		-F "contentLayout=Original" -F "autoTMM=false" \
		"$qbt_url/api/v2/torrents/add" >"$TRASH_DIRECTORY/.qbt-add" 2>&1 &&
	test_grep '^Ok' "$TRASH_DIRECTORY/.qbt-add"
}

# qbt_info ID FILE: the Web API's JSON about torrent ID, into FILE.
qbt_info () {
	timeout 10 curl -sS -f -o "$2" "$qbt_url/api/v2/torrents/info?hashes=$1" &&
	echo >>"$2" &&
	grep -q '"hash":"'"$1"'"' "$2"
}

# qbt_wait_seeding ID SECONDS: poll until torrent ID is complete (checked
# or downloaded) and seeding (bounded). Leaves its JSON in qbt-ID.json.
qbt_wait_seeding () {
	ls_i=0
	while :; do
		if qbt_info "$1" "qbt-$1.json" 2>/dev/null &&
		   grep -q '"progress":1[,}]' "qbt-$1.json" &&
		   grep -q '"state":"\(uploading\|stalledUP\|forcedUP\)"' "qbt-$1.json"; then
			return 0
		fi
		ls_i=$((ls_i + 1))
		if test $ls_i -gt $(( $2 * 2 )) || ! kill -0 "$qbt_pid" 2>/dev/null; then
			echo "qbt_wait_seeding: $1 is not seeding after $2 s:" >&2
			cat "qbt-$1.json" >&2
			return 1
		fi
		sleep 0.5
	done
}

# qbt_add_peer ID HOST:PORT: have qbittorrent dial a peer for torrent ID.
# Adding a torrent is asynchronous, and addPeers answers {} for a torrent
# it does not know (yet): retry until it says the peer was added (bounded).
qbt_add_peer () {
	ls_end=$(($(date +%s) + 30))
	while :; do
		timeout 10 curl -sS -f --data-urlencode "hashes=$1" \
			--data-urlencode "peers=$2" \
			"$qbt_url/api/v2/torrents/addPeers" >"$TRASH_DIRECTORY/.qbt-peer" 2>&1 &&
		grep -q "\"$1\":{\"added\":[1-9]" "$TRASH_DIRECTORY/.qbt-peer" && return 0
		if test "$(date +%s)" -ge $ls_end; then
			echo "qbt_add_peer: qbittorrent did not add $2 to $1:" >&2
			cat "$TRASH_DIRECTORY/.qbt-peer" >&2
			return 1
		fi
		sleep 0.2
	done
}
