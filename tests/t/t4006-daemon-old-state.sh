#!/bin/sh
test_description='daemon: a state directory written by the daemon of the first release still loads'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

# tests/data/daemon-state-0 was written by the daemon before its core
# left src/cmd/ (make.sh there says how), under /tmp/fixgen/root: one
# seeding repo with its resume data, one that failed (an exit status in its
# record), one subscription
fixture="$MS_ROOT/tests/data/daemon-state-0"
old_root=/tmp/fixgen/root
seeding=d5fe5f886eed40cc
failed=a06e39737452650d
rev=51cff3c1f0bc59f6187e7040cc12a4e9b1eca7aa

# every path of the old root, in JSON and in the bencoded resume data
# (a byte string's length changes with it), under the new one
relocate () {
	/usr/bin/python3 - "$old_root" "$TRASH_DIRECTORY/root" "$@" <<-'EOF'
	import sys
	old, new = sys.argv[1].encode(), sys.argv[2].encode()
	for path in sys.argv[3:]:
	    data = open(path, 'rb').read()
	    if path.endswith('.resume'):
	        # walk the bencoding: strings are <len>:<bytes>
	        def walk(b, i):
	            c = b[i:i+1]
	            if c in (b'd', b'l'):
	                parts, i = [c], i + 1
	                while b[i:i+1] != b'e':
	                    p, i = walk(b, i)
	                    parts.append(p)
	                return b''.join(parts) + b'e', i + 1
	            if c == b'i':
	                j = b.index(b'e', i)
	                return b[i:j+1], j + 1
	            j = b.index(b':', i)
	            n = int(b[i:j])
	            s = b[j+1:j+1+n]
	            if s.startswith(old):
	                s = new + s[len(old):]
	            return str(len(s)).encode() + b':' + s, j + 1 + n
	        data = walk(data, 0)[0]
	    else:
	        data = data.replace(old, new)
	    open(path, 'wb').write(data)
	EOF
}

test_expect_success 'setup: the old state, moved here' '
	mkdir root &&
	cp -R "$fixture/cache" "$fixture/index" root/ &&
	cp -R "$fixture/home/.modelswarm/state" "$fixture/home/.modelswarm/trusted" \
		"$MODELSWARM_HOME/" &&
	relocate "$MODELSWARM_HOME"/state/daemon/repos/*.json \
		"$MODELSWARM_HOME"/state/daemon/repos/*.resume \
		"$MODELSWARM_HOME/state/daemon/subscriptions.json" &&
	! grep -r "$old_root" "$MODELSWARM_HOME/state" &&
	test_grep "\"exit_code\":1" "$MODELSWARM_HOME/state/daemon/repos/$failed.json"
'

test_expect_success 'the new daemon loads it: seeding at once without hashing, the failure kept' '
	start_daemon d1 &&
	test_grep "seeding 1 repos again" d1.err &&
	wait_state $seeding seeding 10 &&
	test "$(field $seeding checks)" = 0 &&
	test "$(field $seeding revision)" = $rev &&
	test "$(field $failed state)" = failed &&
	test "$(field $failed error)" = "acme/tiny has no ref '\''nosuchref'\''" &&
	test "$(field $failed error_code)" = EVERIFY &&
	modelswarm daemon subscriptions >subs.out &&
	test_grep "\"revision\": \"$rev\"" subs.out
'

test_expect_success 'it serves the old bytes to a fetcher' '
	timeout 60 modelswarm fetch root/index/acme/tiny/$rev.torrent -o fetched $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$(daemon_port) >fetch.out 2>&1 &&
	same_tree root/cache/models--acme--tiny/snapshots/$rev fetched
'

test_expect_success 'get through the daemon: the failed repo tried again, still exit 1' '
	test_expect_code 1 modelswarm get acme/tiny@nosuchref --index root/index \
		--cache-dir root/cache 2>get.err &&
	test_grep "refs.json\|no ref" get.err
'

# (tried again: a ref the signed refs.json lacks is "not found")
test_expect_success 'records written again carry the code by name' '
	stop_daemon &&
	test_grep "\"error_code\":\"ENOTFOUND\"" "$MODELSWARM_HOME/state/daemon/repos/$failed.json" &&
	! grep -q "\"exit_code\"" "$MODELSWARM_HOME/state/daemon/repos/$failed.json"
'

test_done
