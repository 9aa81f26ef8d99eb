#!/bin/sh
# writes a daemon state dir with the daemon of cb1e108 (the last before the
# core left src/cmd/): one seeding repo, one failed one, one subscription
set -e
OLD=/work/main/modelswarm
ROOT=/tmp/fixgen/root
export HOME=$ROOT MODELSWARM_HOME=$ROOT/.modelswarm LC_ALL=C
unset XDG_CONFIG_HOME XDG_STATE_HOME XDG_CACHE_HOME XDG_RUNTIME_DIR HF_HOME HF_HUB_CACHE MODELSWARM_INDEX
mkdir -p $MODELSWARM_HOME
printf 'dht = false\nlsd = false\nport-mapping = false\nlibtorrent.allow_multiple_connections_per_ip = true\n' >$MODELSWARM_HOME/config
cd $ROOT
NET="--no-dht --no-lsd --no-port-mapping"
$OLD keygen acme --no-password >/dev/null
$OLD trust add acme acme.pub >/dev/null
mkdir -p v1/tok index
head -c 50000 /dev/zero | tr '\0' 'a' >v1/weights.bin
printf '{"model_type": "bert"}\n' >v1/config.json
printf 'hello\n' >v1/tok/vocab.txt
REV=$(printf fixture | sha1sum | cut -c1-40)
$OLD publish v1 --repo acme/tiny --rev $REV --key acme.key --index index >/dev/null
$OLD seed index/acme/tiny/$REV.torrent v1 $NET --listen 127.0.0.1:0 >seed.out 2>&1 &
SPID=$!
for i in $(seq 100); do grep -q '^seeding' seed.out && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' seed.out | head -n1)
$OLD daemon --foreground $NET --listen 127.0.0.1:0 >d.out 2>d.err &
DPID=$!
for i in $(seq 100); do grep -q 'control socket' d.err && break; sleep 0.1; done
$OLD daemon add acme/tiny --index $ROOT/index --cache-dir $ROOT/cache --peer 127.0.0.1:$PORT >/dev/null
$OLD daemon add acme/tiny@nosuchref --index $ROOT/index --cache-dir $ROOT/cache >/dev/null
for i in $(seq 200); do $OLD daemon ls | grep -q seeding && $OLD daemon ls | grep -q failed && break; sleep 0.1; done
$OLD daemon subscribe acme/tiny@main --index $ROOT/index --cache-dir $ROOT/cache >/dev/null
sleep 2
$OLD daemon ls
$OLD daemon stop >/dev/null
wait $DPID || true
kill $SPID; wait $SPID || true
echo REV=$REV
