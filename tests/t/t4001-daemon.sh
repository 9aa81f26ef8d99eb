#!/bin/sh
test_description='daemon: lifecycle, the control socket, and RPC abuse that leaves it serving'
. "$(dirname "$0")/test-lib.sh"

sock="$MODELSWARM_HOME/modelswarm.sock"

# rpc BYTES...: send raw bytes to the socket, print what comes back (one
# line), within 10 s
rpc () {
	/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile("rb").readline().decode().rstrip())
' "$sock" "$1"
}

# wait_gone PID: the process has exited (bounded)
wait_gone () {
	i=0
	while kill -0 "$1" 2>/dev/null && test $i -lt 100; do
		sleep 0.1
		i=$((i + 1))
	done
	! kill -0 "$1" 2>/dev/null
}

test_expect_success 'start in the foreground: the socket answers, mode 0600' '
	echo "rpc-timeout = 2" >>"$MODELSWARM_HOME/config" &&
	test_bg d modelswarm daemon --foreground $MS_NET --listen 127.0.0.1:0 &&
	dpid=$bg_pid &&
	wait_for "control socket" d.err 30 &&
	test "$(modelswarm daemon ping)" = pong &&
	test "$(stat -c %a "$sock")" = 600 &&
	modelswarm daemon status >status.json &&
	test_grep "\"pid\": $dpid," status.json &&
	test_grep "\"listen_port\": [1-9]" status.json
'

test_expect_success 'a second daemon on the same socket is refused' '
	test_expect_code 2 modelswarm daemon --foreground $MS_NET 2>err &&
	test_grep "a daemon already answers on .$sock." err &&
	test "$(modelswarm daemon ping)" = pong
'

test_expect_success 'a socket path that is a file is refused, the file untouched' '
	echo keep >notasock &&
	test_expect_code 2 modelswarm daemon --foreground $MS_NET --socket notasock 2>err &&
	test_grep "notasock. exists and is not a socket" err &&
	test "$(cat notasock)" = keep
'

test_expect_success 'SIGHUP reloads the configuration; a broken one is reported, not fatal' '
	kill -HUP $dpid &&
	wait_for "reloaded the configuration from $MODELSWARM_HOME/config" d.err 10 &&
	cp "$MODELSWARM_HOME/config" good.config &&
	echo "no-such-key = 1" >>"$MODELSWARM_HOME/config" &&
	kill -HUP $dpid &&
	wait_for "cannot reload the configuration: .*unknown key .no-such-key." d.err 10 &&
	cp good.config "$MODELSWARM_HOME/config" &&
	test "$(modelswarm daemon ping)" = pong
'

test_expect_success 'garbage, unknown methods, bad requests: JSON-RPC errors' '
	rpc "garbage" >out &&
	test_grep "\"code\":-32700" out &&
	rpc "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":7}" >out &&
	test_grep "\"code\":-32601,\"message\":\"no method .nope.\"},\"id\":7" out &&
	rpc "{\"jsonrpc\":\"1.0\",\"method\":\"ping\",\"id\":1}" >out &&
	test_grep "\"code\":-32600" out &&
	rpc "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":3,\"id\":1}" >out &&
	test_grep "\"code\":-32602" out &&
	rpc "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1},{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}]" >out &&
	test_grep "^\[{\"jsonrpc\":\"2.0\",\"result\":\"pong\",\"id\":1}\]$" out &&
	test "$(modelswarm daemon ping)" = pong
'

test_expect_success 'a huge request and a slow one: refused, the daemon still serves' '
	/usr/bin/python3 -c "
import socket, sys, time
def conn():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    return s
big = conn()
try:
    big.sendall(b\"x\" * (4 << 20))
except OSError:
    pass
print(big.makefile(\"rb\").readline().decode().rstrip())
slow = conn()
slow.sendall(b\"{\\\"jsonrpc\\\":\")
t0 = time.time()
line = slow.makefile(\"rb\").readline().decode().rstrip()
print(line, \"after %.0f s\" % (time.time() - t0))
" "$sock" >abuse.out &&
	cat abuse.out &&
	test_grep "request too large" abuse.out &&
	test_grep "request not completed in time.* after [23] s" abuse.out &&
	test "$(modelswarm daemon ping)" = pong
'

test_expect_success 'a client of another uid is dropped, even when the socket mode lets it in' '
	chmod 666 "$sock" &&
	chmod o+x "$TRASH_DIRECTORY" "$MODELSWARM_HOME" &&
	setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b\"{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"method\\\":\\\"ping\\\",\\\"id\\\":1}\\n\")
    got = s.recv(100)
except OSError as e:
    got = b\"\"
print(\"answer: %r\" % got)
" "$sock" >uid.out 2>&1 &&
	chmod 600 "$sock" &&
	cat uid.out &&
	test_grep "^answer: b..$" uid.out &&
	test "$(modelswarm daemon ping)" = pong
'

test_expect_success 'stop over RPC: a clean exit, the socket removed' '
	test "$(modelswarm daemon stop)" = stopping &&
	wait_gone $dpid &&
	wait $dpid &&
	test_grep "stopping (asked over RPC)" d.err &&
	test_grep "^stopped$" d.err &&
	! test -e "$sock" &&
	test_expect_code 2 modelswarm daemon ping 2>err &&
	test_grep "no daemon answers on" err
'

test_expect_success 'detached: the parent returns once it answers; SIGTERM stops it cleanly' '
	modelswarm daemon $MS_NET --listen 127.0.0.1:0 >start.out 2>start.err &&
	test_grep "^modelswarm daemon running, pid [0-9]*, control socket $sock$" start.out &&
	pid=$(sed -n "s/.*pid \([0-9]*\),.*/\1/p" start.out) &&
	test_atexit "kill $pid 2>/dev/null" &&
	test "$(modelswarm daemon ping)" = pong &&
	kill -TERM $pid &&
	wait_gone $pid &&
	! test -e "$sock"
'

test_expect_success 'a stale socket file from a killed daemon is replaced' '
	test_bg d2 modelswarm daemon --foreground $MS_NET --listen 127.0.0.1:0 &&
	wait_for "control socket" d2.err 30 &&
	kill -9 $bg_pid && wait_gone $bg_pid &&
	test -S "$sock" &&
	test_bg d3 modelswarm daemon --foreground $MS_NET --listen 127.0.0.1:0 &&
	wait_for "control socket" d3.err 30 &&
	test "$(modelswarm daemon ping)" = pong &&
	modelswarm daemon stop >/dev/null
'

test_expect_success 'usage errors' '
	test_expect_code 129 modelswarm daemon frobnicate 2>err &&
	test_grep "unknown subcommand .frobnicate." err &&
	test_expect_code 129 modelswarm daemon ping extra 2>err
'

test_done
