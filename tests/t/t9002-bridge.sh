#!/bin/sh
test_description='bridging: a daemon with hf-upstream takes a repo no index has from the
(fake) hub once, checks every file against the hub metadata, signs the release with
its bridge key, seeds it and serves it as an index; a second daemon trusting that key
gets it from peers and bridges nothing itself; corrupt bytes, a gated repo, main moving,
the hub going down, and an org with a pinned key'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-services.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"
. "$TEST_DIRECTORY/lib-bridge.sh"

TOKEN=hf_bridgetesttoken
T=repos/acme/tiny

test_expect_success 'setup: a test CA, repos on a fake hub, a tracker for the bridged torrent' '
	test -d "$MS_ROOT/tests/node/node_modules/@huggingface/hub" &&
	test_ca_cert 127.0.0.2 &&
	mkdir -p $T/1 $T/2 &&
	printf "{\"v\": 1}\n" >$T/1/config.json &&
	gen_file $T/1/model.safetensors 3000000 &&
	printf "tokens\n" >$T/1/tokenizer.json &&
	mkdir -p $T/1/sub && printf "notes\n" >$T/1/sub/notes.txt &&
	cp -R $T/1/. $T/2/ &&
	printf "{\"v\": 2}\n" >$T/2/config.json &&
	gen_file $T/2/model.safetensors 3000001 &&
	mkdir -p repos/acme/other/1 repos/acme/bad/1 repos/acme/gated/1 repos/lab/model/1 &&
	gen_file repos/acme/other/1/model.safetensors 2000000 &&
	printf "{}\n" >repos/acme/other/1/config.json &&
	gen_file repos/acme/bad/1/broken.safetensors 200000 &&
	printf "{}\n" >repos/acme/bad/1/config.json &&
	gen_file repos/acme/gated/1/model.safetensors 70000 &&
	printf "{\"gated\": true}\n" >repos/acme/gated/1/config.json &&
	printf "lab\n" >repos/lab/model/1/config.json &&
	start_fake_hub hub1 repos --token $TOKEN --gated acme/gated --mode corrupt:broken.safetensors &&
	H=$hub_url &&
	$CURL --cacert ca.pem -o info.json "$H/api/models/acme/tiny/revision/main" &&
	c2=$(js "d[\"sha\"]" info.json) &&
	$CURL --cacert ca.pem -o info.json "$H/api/models/acme/other/revision/main" &&
	o1=$(js "d[\"sha\"]" info.json) &&
	test -n "$c2" && test -n "$o1" &&
	# the bridged torrent is the one publish makes of the same tree
	modelswarm keygen probe --no-password >/dev/null &&
	modelswarm publish $T/2 --repo acme/tiny --rev $c2 --key probe.key --index probe \
		>probe.out &&
	modelswarm publish repos/acme/other/1 --repo acme/other --rev $o1 --key probe.key \
		--index probe >probe2.out &&
	ih=$(sed -n "s/^infohash v2: //p" probe.out) &&
	start_opentracker $(sed -n "s/^infohash v[12]: //p" probe.out probe2.out) &&
	free_port >hf1.port &&
	cat >>"$MODELSWARM_HOME/config" <<-EOF
	hf-upstream = $H
	bridge-tracker = $tracker_url
	bridge-name = seedbox
	EOF
	start_daemon d1 --hf-listen "127.0.0.1:$(cat hf1.port)" &&
	d1pid=$dpid &&
	grep "bridging from $H as bridge .seedbox." d1.err &&
	test -s "$MODELSWARM_HOME/state/bridge/bridge.pub"
'

test_expect_success 'an unmodified @huggingface/hub gets a repo only the hub has; the hub sends it once' '
	e0=$(egress) &&
	snapshot $(cat hf1.port) acme/tiny hfc >snap.out &&
	same_tree $T/2 "$(sed -n "s/^SNAPSHOT //p" snap.out)" &&
	e1=$(egress) &&
	payload=$(size $T/2) &&
	test $((e1 - e0)) -ge $payload &&
	test $((e1 - e0)) -le $((payload + payload / 10)) &&
	wait_state acme/tiny seeding 30 &&
	grep "bridged acme/tiny@$c2 (main) as version 1" d1.err
'

test_expect_success 'the bridged release: signed by the bridge, its source named, the torrent publish makes' '
	idx="$MODELSWARM_HOME/state/daemon/bridge/index/acme/tiny" &&
	test -f "$idx/refs.json.minisig" &&
	test "$(js "d[\"source\"][\"upstream\"]" "$idx/$c2.manifest.json")" = "$H" &&
	test "$(js "d[\"source\"][\"commit\"]" "$idx/$c2.manifest.json")" = "$c2" &&
	test "$(js "d[\"refs\"][\"main\"][\"revision\"]" "$idx/refs.json")" = "$c2" &&
	test "$(js "d[\"torrent\"][\"infohash_v2\"]" "$idx/$c2.manifest.json")" = "$ih" &&
	# no web seed: a daemon must not fall back to the hub
	test "$(js "d.get(\"webseeds\", [])" "$idx/$c2.manifest.json")" = "[]" &&
	sha=$(sha256sum <$T/2/model.safetensors | cut -c1-64) &&
	test "$(js "[f[\"etag\"] for f in d[\"files\"] if f[\"path\"] == \"model.safetensors\"][0]" \
		"$idx/$c2.manifest.json")" = "$sha" &&
	test "$(js "[f[\"etag\"] for f in d[\"files\"] if f[\"path\"] == \"config.json\"][0]" \
		"$idx/$c2.manifest.json")" = "$(git hash-object $T/2/config.json)" &&
	minisign -Vm "$idx/$c2.manifest.json" -p "$MODELSWARM_HOME/state/bridge/bridge.pub" &&
	# and its endpoint serves that index to other daemons
	$CURL -o served.json "http://127.0.0.1:$(cat hf1.port)/modelswarm/index/acme/tiny/refs.json" &&
	cmp served.json "$idx/refs.json" &&
	test "$($CURL -o /dev/null -w "%{http_code}" \
		"http://127.0.0.1:$(cat hf1.port)/modelswarm/index/acme/tiny/..%2Frefs.json")" = 404
'

test_expect_success 'asked again, the daemon answers from what it holds: not a byte more from the hub' '
	e1=$(egress) &&
	snapshot $(cat hf1.port) acme/tiny hfc2 >snap2.out &&
	same_tree $T/2 "$(sed -n "s/^SNAPSHOT //p" snap2.out)" &&
	test "$(egress)" = "$e1"
'

test_expect_success 'a second daemon trusting the bridge key gets the release from peers, not from the hub' '
	bridge_home home2 "index = http://127.0.0.1:$(cat hf1.port)/modelswarm/index/" &&
	MODELSWARM_HOME=$PWD/home2 modelswarm trust add --bridge seedbox \
		"$MODELSWARM_HOME/state/bridge/bridge.pub" --scope "acme/*" &&
	free_port >hf2.port &&
	MODELSWARM_HOME=$PWD/home2 start_daemon d2 --hf-listen "127.0.0.1:$(cat hf2.port)" &&
	d2pid=$dpid &&
	e1=$(egress) &&
	snapshot $(cat hf2.port) acme/tiny hfc3 >snap3.out &&
	same_tree $T/2 "$(sed -n "s/^SNAPSHOT //p" snap3.out)" &&
	test "$(egress)" = "$e1" &&
	! grep "bridging it from" d2.err
'

test_expect_success 'two daemons asked at once for a repo nobody has: one bridges, the other waits for it' '
	e1=$(egress) &&
	snapshot $(cat hf2.port) acme/other hfc4 >snap4.out &&
	same_tree repos/acme/other/1 "$(sed -n "s/^SNAPSHOT //p" snap4.out)" &&
	grep "acme/other@main: no index has it: bridging it from" d1.err &&
	! grep "bridging it from" d2.err &&
	payload=$(size repos/acme/other/1) &&
	test $(( $(egress) - e1 )) -le $((payload + payload / 10))
'

test_expect_success 'bytes that do not match the hub metadata are refused, named, and never kept' '
	test "$($CURL -o bad.json -w "%{http_code}" \
		"http://127.0.0.1:$(cat hf1.port)/acme/bad/resolve/main/broken.safetensors")" = 502 &&
	grep "broken.safetensors" bad.json &&
	grep "do not match its metadata" bad.json &&
	sha=$(sha256sum <repos/acme/bad/1/broken.safetensors | cut -c1-64) &&
	
	! ls "$HOME/.cache/huggingface/hub/models--acme--bad/blobs/" | grep "$sha" &&
	! test -e "$MODELSWARM_HOME/state/daemon/bridge/index/acme/bad/refs.json"
'

test_expect_success 'a gated repo: refused without a token, with a message that says what to set' '
	test "$($CURL -o gated.json -w "%{http_code}" \
		"http://127.0.0.1:$(cat hf1.port)/acme/gated/resolve/main/model.safetensors")" = 502 &&
	grep "gated or private repo needs a token" gated.json
'

test_expect_success 'the same gated repo through a daemon with the token: it bridges it itself' '
	echo "mirror-auth.127.0.0.1:$hub_port = Bearer $TOKEN" >>home2/config &&
	stop_in $PWD/home2 $d2pid &&
	MODELSWARM_HOME=$PWD/home2 start_daemon d2b --hf-listen "127.0.0.1:$(cat hf2.port)" &&
	d2pid=$dpid &&
	snapshot $(cat hf2.port) acme/gated hfc5 >snap5.out &&
	same_tree repos/acme/gated/1 "$(sed -n "s/^SNAPSHOT //p" snap5.out)" &&
	grep "acme/gated@main: no index has it: bridging it from" d2b.err &&
	# the token went to the hub, and to nothing else
	grep "\"auth\": \"Bearer $TOKEN\"" "$hub_log" >with-token &&
	! grep -v "\"listener\": \"hub\"" with-token
'

test_expect_success 'an org with a pinned key is never bridged' '
	modelswarm keygen lab --no-password >/dev/null &&
	modelswarm trust add lab lab.pub >/dev/null &&
	test "$($CURL -o lab.json -w "%{http_code}" \
		"http://127.0.0.1:$(cat hf1.port)/api/models/lab/model/revision/main")" = 404 &&
	sleep 1 &&
	! grep "lab/model" "$hub_log"
'

test_expect_success 'stop the daemons' '
	stop_in $PWD/home2 $d2pid &&
	stop_in "$MODELSWARM_HOME" $d1pid &&
	test_kill $hub_pid
'

test_expect_success 'main moving during the bridge: the commit it resolved to is finished' '
	mkdir -p repos2/acme/moving/1 repos2/acme/moving/2 repos2/acme/big/1 &&
	gen_file repos2/acme/moving/1/model.safetensors 500000 &&
	printf "m1\n" >repos2/acme/moving/1/config.json &&
	gen_file repos2/acme/moving/2/model.safetensors 500000 &&
	printf "m2\n" >repos2/acme/moving/2/config.json &&
	echo "{\"branches\": {\"main\": \"1\"}}" >repos2/acme/moving/refs.json &&
	gen_file repos2/acme/big/1/model.safetensors 4000000 &&
	printf "{}\n" >repos2/acme/big/1/config.json &&
	start_fake_hub hub2 repos2 --mode move-main-after:1 --mode down-after:1500000 \
		--down-for 3 &&
	H2=$hub_url &&
	$CURL --cacert ca.pem -o m.json "$H2/api/models/acme/moving/revision/main" &&
	m1=$(js "d[\"sha\"]" m.json) &&
	mkdir -p home3 &&
	cat >home3/config <<-EOF &&
	dht = false
	lsd = false
	port-mapping = false
	hf-upstream = $H2
	EOF
	free_port >hf3.port &&
	MODELSWARM_HOME=$PWD/home3 start_daemon d3 --hf-listen "127.0.0.1:$(cat hf3.port)" &&
	d3pid=$dpid &&
	snapshot $(cat hf3.port) acme/moving hfc6 >snap6.out &&
	same_tree repos2/acme/moving/1 "$(sed -n "s/^SNAPSHOT //p" snap6.out)" &&
	grep "\"event\": \"main-moved\"" "$hub_log" &&
	$CURL --cacert ca.pem -o m.json "$H2/api/models/acme/moving/revision/main" &&
	test "$(js "d[\"sha\"]" m.json)" != "$m1" &&
	idx=home3/state/daemon/bridge/index/acme/moving &&
	test "$(js "d[\"refs\"][\"main\"][\"revision\"]" $idx/refs.json)" = "$m1"
'

test_expect_success 'the hub going down mid-download: the bridge goes on from the bytes it has' '
	e0=$(egress) &&
	snapshot $(cat hf3.port) acme/big hfc7 >snap7.out &&
	same_tree repos2/acme/big/1 "$(sed -n "s/^SNAPSHOT //p" snap7.out)" &&
	grep "\"event\": \"down\"" "$hub_log" &&
	grep "model.safetensors.: .*trying again ([1-9][0-9]* of 4000000 bytes kept)" d3.err &&
	payload=$(size repos2/acme/big/1) &&
	test $(( $(egress) - e0 )) -le $((payload + payload / 10))
'

test_expect_success 'a daemon killed mid-bridge resumes from its .incomplete files' '
	stop_in $PWD/home3 $d3pid && test_kill $hub_pid &&
	mkdir -p repos3/acme/slow/1 repos3/acme/early/1 &&
	gen_file repos3/acme/slow/1/model.safetensors 6000000 &&
	printf "{\"early\": true}\n" >repos3/acme/early/1/config.json &&
	gen_file repos3/acme/early/1/model.safetensors 8000000 &&
	start_fake_hub hub3 repos3 --rate 2000000 &&
	sed -i "s|^hf-upstream = .*|hf-upstream = $hub_url|" home3/config &&
	MODELSWARM_HOME=$PWD/home3 start_daemon d3b --hf-listen "127.0.0.1:$(cat hf3.port)" &&
	MODELSWARM_HOME=$PWD/home3 modelswarm daemon add acme/slow >/dev/null &&
	i=0 &&
	while test "$(egress)" -lt 2000000 && test $i -lt 100; do sleep 0.1; i=$((i + 1)); done &&
	kill -9 $dpid &&
	inc=$(ls .cache/huggingface/hub/models--acme--slow/blobs/*.incomplete) &&
	test -s "$inc" &&
	MODELSWARM_HOME=$PWD/home3 start_daemon d3c --hf-listen "127.0.0.1:$(cat hf3.port)" &&
	d3cpid=$dpid &&
	(MODELSWARM_HOME=$PWD/home3 && export MODELSWARM_HOME && wait_state acme/slow seeding 60) &&
	grep "resuming at [1-9][0-9]* of 6000000 bytes" d3c.err &&
	sha=$(sha256sum <repos3/acme/slow/1/model.safetensors | cut -c1-64) &&
	cmp repos3/acme/slow/1/model.safetensors .cache/huggingface/hub/models--acme--slow/blobs/$sha &&
	test "$(egress)" -le 6600000
'

test_expect_success 'while a repo is being bridged, its metadata and every file already checked are served' '
	P3=http://127.0.0.1:$(cat hf3.port) &&
	$CURL --cacert ca.pem -o e.json "$hub_url/api/models/acme/early/revision/main" &&
	e1=$(js "d[\"sha\"]" e.json) &&
	$CURL -o info.json "$P3/api/models/acme/early" &&
	test "$(js "d[\"sha\"]" info.json)" = "$e1" &&
	test "$(js "sorted(s[\"rfilename\"] for s in d[\"siblings\"])" info.json)" = \
		"[\"config.json\", \"model.safetensors\"]" &&
	$CURL -D h.txt -o config.json "$P3/acme/early/resolve/main/config.json" &&
	cmp config.json repos3/acme/early/1/config.json &&
	grep -i "^x-repo-commit: $e1" h.txt &&
	grep -i "^etag: \"$(git hash-object config.json)\"" h.txt &&
	(MODELSWARM_HOME=$PWD/home3 && export MODELSWARM_HOME && test "$(field acme/early state)" = bridging) &&
	# by its commit (as clients ask for files once they know it): the same
	# bridge, not a second download
	$CURL -o model.bin "$P3/acme/early/resolve/$e1/model.safetensors" &&
	cmp model.bin repos3/acme/early/1/model.safetensors &&
	MODELSWARM_HOME=$PWD/home3 modelswarm daemon ls acme/early --json >early.json &&
	test "$(js "len(d)" early.json)" = 1 &&
	stop_in $PWD/home3 $d3cpid
'

test_done
