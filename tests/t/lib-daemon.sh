# lib-daemon.sh: helpers for tests of the daemon (source after test-lib.sh)

# field TARGET KEY: a field of the first repo TARGET matches in
# `daemon ls --json` ("none" when nothing matches)
field () {
	modelswarm daemon ls "$1" --json |
		/usr/bin/python3 -c 'import json,sys; a=json.load(sys.stdin); print(a[0][sys.argv[1]] if a else "none")' "$2"
}

# wait_field TARGET KEY VALUE [SECONDS]: poll until `field TARGET KEY`
# prints VALUE (bounded, default 60 s)
wait_field () {
	i=0
	while test "$(field "$1" "$2" 2>/dev/null)" != "$3"; do
		i=$((i + 1))
		if test $i -gt $(( ${4:-60} * 10 )); then
			echo "wait_field: $2 of $1 is $(field "$1" "$2") after ${4:-60} s, not $3" >&2
			modelswarm daemon ls --json >&2
			return 1
		fi
		sleep 0.1
	done
}

# wait_state TARGET STATE [SECONDS]
wait_state () {
	wait_field "$1" state "$2" "${3:-60}"
}

# start_daemon NAME [OPTION...]: in the foreground, as test_bg NAME; sets
# dpid
start_daemon () {
	name=$1
	shift
	test_bg "$name" modelswarm daemon --foreground $MS_NET --listen 127.0.0.1:0 "$@" &&
	dpid=$bg_pid &&
	wait_for "control socket" "$name.err" 30
}

# stop_in HOME PID: stop the daemon of MODELSWARM_HOME=HOME, wait until
# PID is gone (bounded)
stop_in () {
	MODELSWARM_HOME=$1 modelswarm daemon stop >/dev/null &&
	si=0 &&
	while kill -0 "$2" 2>/dev/null && test $si -lt 300; do
		sleep 0.1
		si=$((si + 1))
	done &&
	! kill -0 "$2" 2>/dev/null
}

# stop_daemon: ask it to stop, wait until it is gone (bounded)
stop_daemon () {
	stop_in "$MODELSWARM_HOME" "$dpid"
}

# daemon_port: the port the daemon listens on for peers
daemon_port () {
	modelswarm daemon status | sed -n 's/.*"listen_port": \([0-9]*\).*/\1/p'
}

# hf_serve_release DIR ORG/NAME REV: key ORG (trusted) publishes DIR as
# ORG/NAME@REV into index/, a seeder serves it, and a daemon (d1, sets
# dpid) with its Hugging Face endpoint on a free port (in hf.port) adds it
# into cache/; the seeder is stopped once the daemon seeds
hf_serve_release () {
	hs_org=${2%%/*}
	modelswarm keygen "$hs_org" --no-password >/dev/null &&
	modelswarm trust add "$hs_org" "$hs_org.pub" >/dev/null &&
	mkdir -p index &&
	modelswarm publish "$1" --repo "$2" --rev "$3" --key "$hs_org.key" --index index \
		>pub.out &&
	ms_seed seed1 "index/$2/$3.torrent" "$1" &&
	free_port >hf.port &&
	start_daemon d1 --hf-listen "127.0.0.1:$(cat hf.port)" &&
	modelswarm daemon add "$2" --index index --cache-dir cache \
		--peer "127.0.0.1:$seed_port" --json >add.json &&
	hs_id=$(/usr/bin/python3 -c 'import json; print(json.load(open("add.json"))["id"])') &&
	wait_state "$hs_id" seeding 60 &&
	test_kill "$seed_pid"
}
