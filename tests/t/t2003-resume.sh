#!/bin/sh
test_description='fetch resumes from its verified pieces after SIGKILL and SIGINT'
. "$(dirname "$0")/test-lib.sh"

# wait_progress FILE PCT: wait (bounded) until a plain progress line in FILE
# reports at least PCT percent
wait_progress () {
	i=0
	while test $i -lt 600; do
		p=$(sed -n 's/^downloading: \([0-9]*\)\.[0-9]*%.*/\1/p' "$1" | tail -n 1)
		test -n "$p" && test "$p" -ge "$2" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "progress did not reach $2% in $1" >&2
	cat "$1" >&2
	return 1
}

test_expect_success 'setup: a 64 MiB repo seeded at 6 MB/s' '
	gen_repo repo 64 &&
	modelswarm create repo -o r.torrent >/dev/null &&
	total=$(find repo -type f -exec cat {} + | wc -c) &&
	echo $total >total &&
	ms_seed seed r.torrent repo --upload-limit 6M
'

test_expect_success 'SIGKILL at about half way, then resume' '
	seed_port=$(cat seed.port) &&
	test_bg fetch1 modelswarm fetch r.torrent -o out $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port &&
	fetch_pid=$bg_pid &&
	wait_progress fetch1.err 45 &&
	sleep 1 &&
	kill -9 $fetch_pid &&
	{ wait $fetch_pid; true; } &&
	ls "$MODELSWARM_HOME"/state/resume/*.resume >resume-files &&
	test $(wc -l <resume-files) -eq 1 &&
	timeout 120 modelswarm fetch r.torrent -o out $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >fetch2.out 2>fetch2.err &&
	same_tree repo out &&
	got=$(sed -n "s/^downloaded \([0-9]*\) bytes.*/\1/p" fetch2.out) &&
	total=$(cat total) &&
	say "second run downloaded $got of $total bytes" &&
	test -n "$got" &&
	test $got -gt 0 &&
	test $((got * 100)) -lt $((total * 65)) &&
	! ls "$MODELSWARM_HOME"/state/resume/*.resume 2>/dev/null
'

test_expect_success 'SIGINT saves progress, exits 130, closes cleanly; then resume' '
	seed_port=$(cat seed.port) &&
	test_bg fetch3 timeout 120 modelswarm fetch r.torrent -o out3 $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port &&
	fetch_pid=$bg_pid &&
	wait_progress fetch3.err 30 &&
	kill -INT $fetch_pid &&
	{ wait $fetch_pid; echo $? >rc; } &&
	test "$(cat rc)" = 130 &&
	test_grep "interrupted: progress saved" fetch3.err &&
	! grep -q "event loop not closed" fetch3.err &&
	test -n "$(ls "$MODELSWARM_HOME"/state/resume/*.resume)" &&
	timeout 120 modelswarm fetch r.torrent -o out3 $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >fetch4.out 2>fetch4.err &&
	same_tree repo out3 &&
	got=$(sed -n "s/^downloaded \([0-9]*\) bytes.*/\1/p" fetch4.out) &&
	total=$(cat total) &&
	say "after SIGINT the second run downloaded $got of $total bytes" &&
	test $((got * 100)) -lt $((total * 80))
'

test_expect_success 'SIGTERM stops the seeder cleanly with exit 0' '
	kill -TERM $(cat seed.pid) &&
	{ wait $(cat seed.pid); echo $? >rc; } &&
	test "$(cat rc)" = 0 &&
	test_grep "stopped by signal 15" seed.err &&
	! grep -q "event loop not closed" seed.err
'

test_done
