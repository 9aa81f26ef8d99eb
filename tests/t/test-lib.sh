# test-lib.sh: the shell test library, in the style of git's t/test-lib.sh.
#
# A test script sets test_description, sources this file, calls
# test_expect_success 'title' 'commands joined with &&' as often as it
# likes, and ends with test_done. Output is TAP.
#
# Every test runs in its own trash directory (tests/trash.<name>), with
# HOME and MODELSWARM_HOME inside it, and a config file that turns off
# every form of peer discovery that could leave 127.0.0.1 (DHT, LSD,
# UPnP/NAT-PMP). Processes started with test_bg are stopped by pid at exit.

TEST_DIRECTORY=$(cd "$(dirname "$0")" && pwd)
MS_ROOT=$(cd "$TEST_DIRECTORY/../.." && pwd)
TEST_NAME=$(basename "$0" .sh)
TRASH_DIRECTORY="$MS_ROOT/tests/trash.$TEST_NAME"
PATH="$MS_ROOT:$MS_ROOT/tools:$PATH"
export PATH MS_ROOT TEST_DIRECTORY TRASH_DIRECTORY

if ! test -x "$MS_ROOT/modelswarm"; then
	echo "Bail out! $MS_ROOT/modelswarm is not built; run make"
	exit 1
fi

rm -rf "$TRASH_DIRECTORY"
mkdir -p "$TRASH_DIRECTORY" || exit 1
cd "$TRASH_DIRECTORY" || exit 1

HOME="$TRASH_DIRECTORY"
MODELSWARM_HOME="$TRASH_DIRECTORY/.modelswarm"
unset XDG_CONFIG_HOME XDG_STATE_HOME XDG_CACHE_HOME XDG_RUNTIME_DIR
unset HF_HOME HF_HUB_CACHE HUGGINGFACE_HUB_CACHE MODELSWARM_INDEX
LC_ALL=C
export HOME MODELSWARM_HOME LC_ALL
mkdir -p "$MODELSWARM_HOME"
cat >"$MODELSWARM_HOME/config" <<EOF
# written by test-lib.sh: nothing may leave 127.0.0.1
dht = false
lsd = false
port-mapping = false
EOF

# the flags every networking command gets in tests, on top of the config
MS_NET="--no-dht --no-lsd --no-port-mapping"

test_count=0
test_failed=0
test_atexit_cmds=

test_atexit () {
	test_atexit_cmds="$1
$test_atexit_cmds"
}

test_run_atexit () {
	set +e
	eval "$test_atexit_cmds"
	test_atexit_cmds=
	# safety net: every process test_bg started, by its pid
	for f in "$TRASH_DIRECTORY"/*.pid; do
		test -f "$f" && test_kill "$(cat "$f")"
	done
	return 0
}
trap 'test_run_atexit' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

say () {
	echo "# $*"
}

# the body in a function of its own, so that a `return` in it ends the
# body (and is its result) rather than the caller
test_eval_ () {
	eval "$1"
}

test_expect_success () {
	test_count=$((test_count + 1))
	if test $# -ne 2; then
		echo "Bail out! test_expect_success needs a title and a body"
		exit 1
	fi
	log="$TRASH_DIRECTORY/.test-$test_count.log"
	# in this shell (as git does), so variables and test_atexit persist
	{
		test_eval_ "$2"
	} >"$log" 2>&1 </dev/null
	rc=$?
	if test $rc -eq 0; then
		echo "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1"
		sed -e 's/^/#   /' <<EOF
$2
EOF
		echo "#   --- output (exit $rc) ---"
		sed -e 's/^/#   /' "$log"
	fi
}

test_done () {
	echo "1..$test_count"
	test_run_atexit
	if test "$test_failed" -ne 0; then
		echo "# failed $test_failed of $test_count"
		exit 1
	fi
	# keep the trash of failed runs only
	cd "$MS_ROOT" && rm -rf "$TRASH_DIRECTORY"
	exit 0
}

# test_must_fail CMD...: CMD must exit with a failure code (1..128 or
# 129), not succeed and not die from a signal.
test_must_fail () {
	"$@"
	rc=$?
	if test $rc -eq 0; then
		echo "test_must_fail: '$*' succeeded" >&2
		return 1
	elif test $rc -gt 129 && test $rc -le 192; then
		echo "test_must_fail: '$*' died of signal $((rc - 128))" >&2
		return 1
	fi
	return 0
}

# test_expect_code N CMD...
test_expect_code () {
	want=$1
	shift
	"$@"
	rc=$?
	if test $rc -ne "$want"; then
		echo "test_expect_code: '$*' exited $rc, wanted $want" >&2
		return 1
	fi
	return 0
}

test_cmp () {
	diff -u "$1" "$2"
}

# test_must_be_empty FILE (shows what is in it otherwise)
test_must_be_empty () {
	if test -s "$1"; then
		echo "test_must_be_empty: '$1' is not empty:" >&2
		cat "$1" >&2
		return 1
	fi
}

# test_grep PATTERN FILE (with a useful message on failure)
test_grep () {
	if ! grep -q -e "$1" "$2"; then
		echo "test_grep: '$1' not found in $2:" >&2
		cat "$2" >&2
		return 1
	fi
}

# test_kill PID: SIGTERM, then SIGKILL after 10 s; waits for the pid.
test_kill () {
	pid=$1
	kill "$pid" 2>/dev/null || return 0
	i=0
	while kill -0 "$pid" 2>/dev/null && test $i -lt 100; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# test_bg NAME CMD...: start CMD in the background with output in NAME.out
# and NAME.err; sets NAME_PID (well, $bg_pid) and stops it at exit.
test_bg () {
	name=$1
	shift
	"$@" >"$name.out" 2>"$name.err" &
	bg_pid=$!
	echo "$bg_pid" >"$name.pid"
	test_atexit "test_kill $bg_pid"
}

# wait_for PATTERN FILE [SECONDS]: poll until FILE has a line matching
# PATTERN (bounded, default 30 s).
wait_for () {
	i=0
	limit=$(( ${3:-30} * 10 ))
	while ! grep -q -e "$1" "$2" 2>/dev/null; do
		i=$((i + 1))
		if test $i -gt $limit; then
			echo "wait_for: '$1' did not appear in $2 within ${3:-30} s:" >&2
			cat "$2" >&2 2>/dev/null
			return 1
		fi
		sleep 0.1
	done
}

# free_port: print a TCP port that is free on 127.0.0.1 right now.
free_port () {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
			LocalPort => 0, Proto => "tcp", Listen => 1) or die;
		print $s->sockport, "\n";'
}

# ms_seed NAME TORRENT DIR [ARGS...]: start "modelswarm seed" on
# 127.0.0.1 (any free port), wait until it seeds; sets seed_pid and
# seed_port and writes NAME.port.
ms_seed () {
	name=$1
	shift
	test_bg "$name" modelswarm seed "$@" $MS_NET --listen "${MS_SEED_ADDR:-127.0.0.1}:0" &&
	seed_pid=$bg_pid &&
	wait_for '^seeding ' "$name.out" 60 &&
	seed_port=$(sed -n 's/^listening on [^ ]*:\([0-9][0-9]*\)$/\1/p' "$name.out" | head -n 1) &&
	test -n "$seed_port" &&
	echo "$seed_port" >"$name.port"
}

# gen_file PATH BYTES: a file of pseudo-random bytes.
gen_file () {
	mkdir -p "$(dirname "$1")" &&
	head -c "$2" /dev/urandom >"$1"
}

# gen_repo DIR [BIG_MIB]: a model-like repo: one big shard (default
# 64 MiB), a smaller shard, json files, nested directories, an empty file.
gen_repo () {
	big=${2:-64}
	mkdir -p "$1" &&
	gen_file "$1/model-00001-of-00002.safetensors" $((big * 1024 * 1024 + 12345)) &&
	gen_file "$1/model-00002-of-00002.safetensors" $((3 * 1024 * 1024 + 777)) &&
	printf '{"architectures": ["TestModel"], "hidden_size": 64}\n' >"$1/config.json" &&
	gen_file "$1/tokenizer/tokenizer.model" 500000 &&
	gen_file "$1/tokenizer/extra/merges.bin" 4096 &&
	: >"$1/tokenizer/extra/empty.txt"
}

# same_tree A B: the two directories have the same files with the same
# bytes (and nothing else).
same_tree () {
	diff -r "$1" "$2"
}
