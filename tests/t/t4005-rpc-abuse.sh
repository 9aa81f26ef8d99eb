#!/bin/sh
test_description='daemon: clients that never speak or never read neither lock the CLI out nor eat memory'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

sock="$MODELSWARM_HOME/modelswarm.sock"

# mem FIELD: the daemon's VmRSS (resident now) or VmHWM (at its peak), kB
mem () {
	sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB$/\1/p" /proc/$dpid/status
}

test_expect_success 'start' '
	start_daemon d &&
	test "$(modelswarm daemon ping)" = pong
'

test_expect_success '100 silent connections: the CLI still gets in at once, and they are closed within seconds' '
	/usr/bin/python3 - "$sock" >silent.out <<-\EOF &&
	import select, socket, subprocess, sys, time
	held = []
	for i in range(100):
	    s = socket.socket(socket.AF_UNIX)
	    s.connect(sys.argv[1])
	    held.append(s)
	time.sleep(0.5)
	t0 = time.time()
	p = subprocess.run(["modelswarm", "daemon", "status"], capture_output=True,
	                   timeout=30)
	print("status exit %d after %.1f s" % (p.returncode, time.time() - t0))
	sys.stdout.write(p.stderr.decode())
	# each silent one is closed by the daemon (end of file) in time
	t0 = time.time()
	open_ = list(held)
	while open_ and time.time() - t0 < 15:
	    r, _, _ = select.select(open_, [], [], 1)
	    for s in r:
	        if s.recv(100) == b"":
	            open_.remove(s)
	print("%d of 100 still open after %.0f s" % (len(open_), time.time() - t0))
	EOF
	cat silent.out &&
	test_grep "^status exit 0 after [0-2]\.[0-9] s$" silent.out &&
	test_grep "^0 of 100 still open after \([0-9]\|1[0-5]\) s$" silent.out &&
	test "$(modelswarm daemon ping)" = pong
'

test_expect_success 'a client that sends and never reads: held back, memory bounded, others served' '
	before=$(mem VmRSS) &&
	/usr/bin/python3 - "$sock" >flood.out <<-\EOF &&
	import socket, subprocess, sys, time
	s = socket.socket(socket.AF_UNIX)
	s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	s.connect(sys.argv[1])
	s.settimeout(3)
	# 200 status requests a line: each line a 9 kB request, a larger answer
	line = (b"[" + b",".join([b"{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":1}"] * 200)
	        + b"]\n")
	sent, t0 = 0, time.time()
	try:
	    while sent < (512 << 20) and time.time() - t0 < 20:
	        s.sendall(line)
	        sent += len(line)
	    print("never held back")
	except socket.timeout:
	    print("held back")
	print("sent %d MB" % (sent >> 20))
	t1 = time.time()
	p = subprocess.run(["modelswarm", "daemon", "ping"], capture_output=True, timeout=30)
	print("ping %s after %.1f s" % (p.stdout.decode().strip(), time.time() - t1))
	EOF
	cat flood.out &&
	after=$(mem VmHWM) &&
	say "daemon RSS $before kB before, at most $after kB with the flood" &&
	test_grep "^held back$" flood.out &&
	test_grep "^ping pong after [0-2]\.[0-9] s$" flood.out &&
	test $((after - before)) -lt 65536 &&
	test "$(modelswarm daemon ping)" = pong
'

test_expect_success 'a batch is answered whole; one of more than 1024 requests is refused' '
	/usr/bin/python3 - "$sock" >batch.out <<-\EOF &&
	import json, socket, sys
	def call(n):
	    s = socket.socket(socket.AF_UNIX)
	    s.settimeout(20)
	    s.connect(sys.argv[1])
	    reqs = [{"jsonrpc": "2.0", "method": "ping", "id": i} for i in range(n)]
	    reqs.append({"jsonrpc": "2.0", "method": "ping"})  # a notification
	    s.sendall(json.dumps(reqs).encode() + b"\n")
	    return json.loads(s.makefile("rb").readline())
	a = call(1023)
	print("answers", len(a), "ids ok", [x["id"] for x in a] == list(range(1023)),
	      "all pong", all(x["result"] == "pong" for x in a))
	b = call(1024)
	print(json.dumps(b)[:300])
	EOF
	cat batch.out &&
	test_grep "^answers 1023 ids ok True all pong True$" batch.out &&
	test_grep "\"code\": -32600.*more than 1024 requests" batch.out
'

test_expect_success 'stop' '
	stop_daemon
'

test_done
