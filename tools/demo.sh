#!/bin/sh
# make demo: on 127.0.0.1, generate a model-like repo, make a torrent of it,
# seed it, and fetch it with the live progress display.
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

echo "== modelswarm create"
"$ms" create "$repo" -o "$work/demo.torrent"

echo "== modelswarm seed (in the background)"
"$ms" seed "$work/demo.torrent" "$repo" $net --listen 127.0.0.1:0 >"$work/seed.out" 2>"$work/seed.err" &
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

echo "== modelswarm fetch (download capped at 40 MB/s so the display can be seen)"
"$ms" fetch "$work/demo.torrent" -o "$work/fetched" $net --listen 127.0.0.1:0 \
	--peer "127.0.0.1:$port" --download-limit 40M

echo "== checking the bytes"
diff -r "$repo" "$work/fetched"
echo "fetched tree is identical to the seeded one"
