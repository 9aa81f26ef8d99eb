#!/bin/sh
# make demo: on 127.0.0.1, generate a model-like repo; a lab signs and
# publishes it into an index and seeds it; a user gets it into a Hugging
# Face cache with the live progress display.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
ms="$root/modelswarm"
work=$(mktemp -d "${TMPDIR:-/tmp}/modelswarm-demo.XXXXXX")
seed_pid=

cleanup () {
	if test -n "$seed_pid"; then
		kill "$seed_pid" 2>/dev/null || true
		wait "$seed_pid" 2>/dev/null || true
	fi
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
mkdir -p "$repo/tokenizer"
for i in 1 2 3; do
	head -c $((96 * 1024 * 1024)) /dev/urandom >"$repo/model-0000$i-of-00003.safetensors"
done
printf '{"architectures": ["DemoModel"], "hidden_size": 512}\n' >"$repo/config.json"
head -c 600000 /dev/urandom >"$repo/tokenizer/tokenizer.model"
: >"$repo/tokenizer/added_tokens.txt"

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
i=0
while ! grep -q '^seeding ' "$work/seed.out" 2>/dev/null; do
	i=$((i + 1))
	if test $i -gt 300 || ! kill -0 "$seed_pid" 2>/dev/null; then
		cat "$work/seed.out" "$work/seed.err" >&2
		echo "error: the seeder did not start" >&2
		exit 2
	fi
	sleep 0.1
done
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
echo
echo "load it with:"
echo "  HF_HUB_CACHE=$HF_HUB_CACHE HF_HUB_OFFLINE=1 python3 -c \\"
echo "    'from transformers import AutoConfig; print(AutoConfig.from_pretrained(\"demo-org/tiny-model\", revision=\"$rev\", local_files_only=True))'"
