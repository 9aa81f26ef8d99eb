# lib-bridge.sh: helpers for the tests of bridging (source after
# lib-daemon.sh): JSON, the fake hub's egress, snapshots through an
# endpoint, trees compared

NODE="env NODE_PATH=$MS_ROOT/tests/node/node_modules timeout 90 node"
CURL="timeout 30 curl -sS"
# every modelswarm here trusts the test CA (the fake hub's certificate)
SSL_CERT_FILE=$TRASH_DIRECTORY/ca.pem
export SSL_CERT_FILE

# js EXPR FILE: EXPR over the JSON in FILE (as d)
js () {
	/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$1" "$2"
}

# egress: the body bytes the fake hub (both listeners) sent so far. The
# hub writes its counts every 0.25 s: the next write after this call
# counts every byte sent before it (read at once, the count missed the
# last 0.5 MB a test had just fetched). Waits 2 s at most (a hub that
# stopped wrote its counts at exit).
egress () {
	eg_m=$(stat -c %.9Y "$hub_egress") &&
	eg_i=0 &&
	while test "$(stat -c %.9Y "$hub_egress")" = "$eg_m" && test $eg_i -lt 40; do
		sleep 0.05
		eg_i=$((eg_i + 1))
	done &&
	js "d[\"total\"]" "$hub_egress"
}

# size DIR: bytes of the files under DIR
size () {
	find "$1" -type f -exec cat {} + | wc -c
}

# snapshot [ADDR:]PORT REPO OUT: @huggingface/hub's snapshotDownload
# through the endpoint there (127.0.0.1 if no ADDR) into the cache OUT;
# prints the snapshot's path
snapshot () {
	$NODE -e '
const hub = require("@huggingface/hub");
hub.snapshotDownload({ repo: process.argv[2], hubUrl: process.argv[1], cacheDir: process.argv[3] })
  .then((p) => console.log("SNAPSHOT " + p), (e) => { console.error(String(e)); process.exit(1); });
' "http://$(case "$1" in *:*) echo "$1" ;; *) echo "127.0.0.1:$1" ;; esac)" "$2" "$3"
}

# same_tree A B: the same files with the same bytes
same_tree () {
	(cd "$1" && find . -type f -o -type l | sort) >tree.a &&
	(cd "$2" && find . -type f -o -type l | sort) >tree.b &&
	test_cmp tree.a tree.b &&
	while read -r f; do
		cmp "$1/$f" "$2/$f" || return 1
	done <tree.a
}

# bridge_home DIR [LINE...]: DIR/config of a daemon of its own with the
# hub ($H) as its upstream, no DHT, LSD or port mapping, and the LINEs
bridge_home () {
	bh_dir=$1
	shift
	mkdir -p "$bh_dir" &&
	{
		printf "dht = false\nlsd = false\nport-mapping = false\nhf-upstream = %s\n" "$H"
		for bh_l in "$@"; do
			printf "%s\n" "$bh_l"
		done
	} >"$bh_dir/config"
}
