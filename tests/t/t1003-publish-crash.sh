#!/bin/sh
test_description='publish killed at every write, fchmod, fsync and rename: the
previous release still verifies, the next publish repairs and completes;
a reader that catches a pair being replaced reads it again'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

r1=$(fake_rev crash-1)
r2=$(fake_rev crash-2)
# the syscalls publish writes the index with (strace -f -c of a publish:
# openat, write, fchmod, fsync, close, rename; close and openat add no
# state of their own)
SYSCALLS="write fchmod fsync rename"
MAX_N=60
dir=index/acme/tiny
state=.modelswarm/state

command -v strace >/dev/null || {
	echo "Bail out! strace is missing: run tools/deps.sh test"
	exit 1
}

publish2 () {
	modelswarm publish repo --repo acme/tiny --rev $r2 --key acme.key --index index "$@"
}

# the index and the rollback state as they were after release 1
restore () {
	rm -rf index "$state" &&
	cp -a index.1 index &&
	cp -a state.1 "$state"
}

test_expect_success 'setup: release 1 published and verified; release 2 ready' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir repo &&
	echo "{}" >repo/config.json &&
	gen_file repo/model.bin 200000 &&
	modelswarm publish repo --repo acme/tiny --rev $r1 --key acme.key --index index >/dev/null &&
	modelswarm verify --index index acme/tiny >out &&
	test_grep "^ref main of acme/tiny -> $r1 (refs.json version 1)" out &&
	cp -a index index.1 &&
	cp -a "$state" state.1 &&
	echo "release 2" >repo/notes.txt
'

# kill_at SYSCALL N: publish release 2 under strace, SIGKILLed on entering
# its Nth SYSCALL; "killed", or "done" if it had fewer (LeakSanitizer
# cannot run under ptrace: off for that run of a SANITIZE build)
kill_at () {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -o /dev/null -e trace="$1" -e inject="$1:signal=KILL:when=$2" \
		modelswarm publish repo --repo acme/tiny --rev $r2 --key acme.key \
		--index index >kill.out 2>kill.err
	rc=$?
	case $rc in
	0) echo done ;;
	137) echo killed ;;
	*) echo "publish under strace exited with $rc" >&2; cat kill.err >&2; echo error ;;
	esac
}

# after_kill TAG: the checks after a kill (or a completed run)
after_kill () {
	# release 1 verifies by its revision; main is release 1 or 2
	modelswarm verify --index index acme/tiny@$r1 >v1.out 2>v1.err ||
		{ echo "$1: verify of release 1 failed:" >&2; cat v1.err >&2; return 1; }
	test_grep "^verified acme/tiny@$r1 version 1:" v1.out &&
	modelswarm verify --index index acme/tiny >vm.out 2>vm.err ||
		{ echo "$1: verify of main failed:" >&2; cat vm.err >&2; return 1; }
	grep -E "^ref main of acme/tiny -> ($r1|$r2) " vm.out >/dev/null ||
		{ echo "$1: main is neither release:" >&2; cat vm.out >&2; return 1; }
	if ls $dir | grep -q "\.tmp\."; then echo "$1" >>left-tmp; fi
	if ls $dir | grep -q "\.minisig\.new$"; then echo "$1" >>left-staged; fi
	# the same publish again completes, and cleans up
	publish2 >re.out 2>re.err ||
		{ echo "$1: publish after the kill failed:" >&2; cat re.err >&2; return 1; }
	sed "s/^/$1: /" re.err >>repairs &&
	modelswarm verify --index index acme/tiny >v2.out 2>v2.err ||
		{ echo "$1: verify of release 2 failed:" >&2; cat v2.err >&2; return 1; }
	test_grep "^ref main of acme/tiny -> $r2 " v2.out &&
	ls $dir >ls.out &&
	! grep -E "\.tmp\.|\.minisig\.new$" ls.out
}

test_expect_success 'killed at each of those syscalls: release 1 verifies, publish again completes' '
	: >kills && : >repairs && : >left-tmp && : >left-staged &&
	for sc in $SYSCALLS; do
		n=1 &&
		while test $n -le $MAX_N; do
			restore &&
			how=$(kill_at $sc $n) &&
			case $how in
			done) break ;;
			killed) echo "$sc $n" >>kills ;;
			*) return 1 ;;
			esac &&
			after_kill "$sc $n" || return 1
			n=$((n + 1))
		done &&
		test $n -gt 1 && test $n -le $MAX_N || return 1
	done &&
	cat kills &&
	for sc in $SYSCALLS; do grep -q "^$sc " kills || return 1; done
'

test_expect_success '... which left temporary files and staged signatures behind, repaired' '
	test -s left-tmp &&
	test -s left-staged &&
	test_grep "removed [0-9]* temporary files\? left in .index/acme/tiny. by an interrupted publish" repairs &&
	test_grep "completed .index/acme/tiny/refs.json.minisig., left half-written" repairs &&
	test_grep "completed .index/acme/tiny/$r2.manifest.json.minisig., left half-written" repairs &&
	test_grep "removed .index/acme/tiny/refs.json.minisig.new., staged by an interrupted publish" repairs
'

test_expect_success 'a pair torn by a publish that died: the reader takes the staged signature' '
	restore &&
	test "$(kill_at rename 7)" = killed &&
	ls $dir >ls.out &&
	test_grep "^refs.json.minisig.new$" ls.out &&
	! cmp -s index.1/acme/tiny/refs.json $dir/refs.json &&
	cmp index.1/acme/tiny/refs.json.minisig $dir/refs.json.minisig &&
	modelswarm verify --index index acme/tiny >out 2>err &&
	test_grep "^ref main of acme/tiny -> $r2 (refs.json version 2)" out &&
	test_grep "refs.json of acme/tiny: signature does not match the data: reading it again in 1000 ms" err
'

test_expect_success '... a torn pair with no staged signature fails, saying so' '
	rm $dir/refs.json.minisig.new &&
	test_expect_code 1 modelswarm verify --index index acme/tiny >out 2>err &&
	test_grep "signature does not match the data (read twice, 1000 ms apart, and with its staged signature .acme/tiny/refs.json.minisig.new. if any)" err &&
	! grep -q "^verified" out
'

test_expect_success 'a mirror caught between the two renames: the reader reads the pair again' '
	restore &&
	publish2 >/dev/null &&
	rm -rf www && cp -a index www &&
	cp index.1/acme/tiny/refs.json.minisig www/acme/tiny/refs.json.minisig.stale &&
	rm -f fx.port &&
	test_bg fx /usr/bin/python3 "$TEST_DIRECTORY/mirror-fixture.py" --root www \
		--log "$TRASH_DIRECTORY/fx.log" --port-file fx.port --mode stale:refs.json.minisig &&
	wait_for . fx.port 30 &&
	restore &&
	modelswarm verify --index "http://127.0.0.1:$(cat fx.port)/" acme/tiny >out 2>err &&
	test_grep "^ref main of acme/tiny -> $r2 (refs.json version 2)" out &&
	test_grep "reading it again in 1000 ms (a publish may be replacing it)" err &&
	grep "\"path\": \"/acme/tiny/refs.json.minisig\"" fx.log >sig.log &&
	test "$(wc -l <sig.log)" -eq 2 &&
	test "$(grep -c "\"mode\": \"stale\"" sig.log)" -eq 1
'

test_expect_success 'a publish while another holds the index is refused, and changes nothing' '
	restore &&
	rm -f locked &&
	test_bg lock /usr/bin/python3 -c "import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
open(\"locked\", \"w\").close()
time.sleep(30)" $dir &&
	i=0 &&
	while ! test -f locked && test $i -lt 100; do sleep 0.1; i=$((i + 1)); done &&
	test -f locked &&
	test_expect_code 2 publish2 >out 2>err &&
	test_grep "another publish is writing .index/acme/tiny." err &&
	test_kill $bg_pid &&
	diff -r index.1 index
'

test_done
