#!/bin/sh
# make demo: on 127.0.0.1, generate a model-like repo (big shards and a
# tiny model transformers.js can run); a lab signs and publishes it into
# an index and seeds it; a user gets it into a Hugging Face cache with the
# live progress display; then a daemon takes it from the swarm and serves
# it as a Hugging Face endpoint, and transformers.js runs the model from
# there.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
ms="$root/modelswarm"
work=$(mktemp -d "${TMPDIR:-/tmp}/modelswarm-demo.XXXXXX")
seed_pid=
daemon_pid=

# wait_line PATTERN FILE PID WHAT: until FILE has a line matching PATTERN
# (30 s at most, and only while PID runs)
wait_line () {
	i=0
	while ! grep -q "$1" "$2" 2>/dev/null; do
		i=$((i + 1))
		if test $i -gt 300 || ! kill -0 "$3" 2>/dev/null; then
			cat "$work"/*.out "$work"/*.err >&2
			echo "error: $4 did not start" >&2
			exit 2
		fi
		sleep 0.1
	done
}

cleanup () {
	# both stop cleanly on SIGTERM
	for pid in $daemon_pid $seed_pid; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# nothing leaves 127.0.0.1: no DHT, no LSD, no UPnP/NAT-PMP
export MODELSWARM_HOME="$work/home"
mkdir -p "$MODELSWARM_HOME"
printf 'dht = false\nlsd = false\nport-mapping = false\n' >"$MODELSWARM_HOME/config"
net="--no-dht --no-lsd --no-port-mapping"

echo "== generating a model repo in $work/demo-org--tiny-model"
repo="$work/demo-org--tiny-model"
mkdir -p "$repo"
for i in 1 2 3; do
	head -c $((96 * 1024 * 1024)) /dev/urandom >"$repo/model-0000$i-of-00003.safetensors"
done
# config.json, tokenizer.json, tokenizer_config.json and onnx/model.onnx:
# a BERT-like model whose embeddings are a table of known numbers
node "$root/tests/node/tiny-model.mjs" "$repo"

rev=$(printf 'demo revision 1' | sha1sum | cut -c1-40)

echo "== modelswarm keygen: the lab's signing key"
"$ms" keygen demo-org -o "$work" --no-password

echo "== modelswarm publish: hash once, sign the manifest into an index"
mkdir -p "$work/index"
"$ms" publish "$repo" --repo demo-org/tiny-model --rev "$rev" \
	--key "$work/demo-org.key" --index "$work/index"

echo "== the lab seeds it (in the background)"
"$ms" seed "$work/index/demo-org/tiny-model/$rev.torrent" "$repo" $net \
	--listen 127.0.0.1:0 >"$work/seed.out" 2>"$work/seed.err" &
seed_pid=$!
wait_line '^seeding ' "$work/seed.out" "$seed_pid" "the seeder"
cat "$work/seed.out"
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/seed.out" | head -n 1)

echo "== a user pins the lab's key, then gets demo-org/tiny-model (main)"
"$ms" trust add demo-org "$work/demo-org.pub"
# the cache outlives the demo, so that the line printed at the end works
export HF_HUB_CACHE="$root/build/demo-hf-cache"
rm -rf "$HF_HUB_CACHE"
snapshot=$("$ms" get demo-org/tiny-model --index "file://$work/index" $net \
	--listen 127.0.0.1:0 --peer "127.0.0.1:$port")
echo "$snapshot"

echo "== checking the bytes"
diff -r "$repo" "$snapshot"
echo "the snapshot holds exactly the published files"

echo "== a seedbox: modelswarm daemon with a Hugging Face endpoint takes the release from the swarm"
"$ms" daemon --foreground $net --listen 127.0.0.1:0 --hf-listen 127.0.0.1:0 \
	>"$work/daemon.out" 2>"$work/daemon.err" &
daemon_pid=$!
wait_line 'Hugging Face endpoint at' "$work/daemon.err" "$daemon_pid" "the daemon"
cat "$work/daemon.err"
hf_port=$(sed -n 's/^Hugging Face endpoint at .*(port \([0-9]*\))$/\1/p' "$work/daemon.err")
# field KEY... of `daemon ls ID --json`
field () {
	"$ms" daemon ls "$id" --json | node -e '
		let s = ""
		process.stdin.on("data", (d) => (s += d)).on("end", () => {
			const r = JSON.parse(s)[0] || {}
			console.log(process.argv.slice(1).map((k) => r[k]).join(" "))
		})' "$@"
}
id=$("$ms" daemon add demo-org/tiny-model --index "file://$work/index" \
	--cache-dir "$work/seedbox-cache" --peer "127.0.0.1:$port" --json |
	sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
i=0
while test "$(field state)" != seeding; do
	i=$((i + 1))
	if test $i -gt 1200 || ! kill -0 "$daemon_pid" 2>/dev/null; then
		"$ms" daemon ls --json >&2 || cat "$work/daemon.err" >&2
		echo "error: the daemon did not get the release" >&2
		exit 2
	fi
	sleep 0.1
done
set -- $(field downloaded from_mirrors)
echo "the daemon downloaded $1 bytes: $(($1 - $2)) from peers, $2 from mirrors; it seeds them"

echo "== transformers.js with env.remoteHost = \"http://127.0.0.1:$hf_port/\" (nothing local)"
NODE_PATH="$root/tests/node/node_modules" node "$root/tests/node/hf-transformers.mjs" \
	"http://127.0.0.1:$hf_port/" demo-org/tiny-model "$work/js-cache" tokenizer pipeline
echo "(computed by onnx/model.onnx from bytes the endpoint served out of the daemon's"
echo "verified blobs; the embedding table's rows are [i, i*i/8, i%3-1, +0.5|-0.25])"
echo
echo "load it with:"
echo "  HF_HUB_CACHE=$HF_HUB_CACHE HF_HUB_OFFLINE=1 python3 -c \\"
echo "    'from transformers import AutoConfig; print(AutoConfig.from_pretrained(\"demo-org/tiny-model\", revision=\"$rev\", local_files_only=True))'"
