#!/bin/sh
test_description='fetch a hybrid torrent from a web seed (nginx on 127.0.0.1)
with no peers at all: by the torrent'"'"'s url-list and by fetch --webseed'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-services.sh"

# A torrent named NAME with web seed http://HOST/base/ is fetched from
# http://HOST/base/NAME/<path>; nginx serves the repo as it is: files only,
# no pad files (a hybrid torrent has them; they must never be requested).

# check_webseed_fetch OUT: OUT has the repo's bytes; fetch.out counts each
# byte once; nginx served byte ranges of the files and nothing else: no
# .pad/ path, nothing outside base/testorg-model/, no error, no byte twice
check_webseed_fetch () {
	same_tree repo "$1" &&
	test_grep "^fetched .testorg-model. into .$1.: 6 files" fetch.out &&
	test_grep "^downloaded $size bytes .*, 0 hash failures$" fetch.out &&
	! grep -q "banned peer\|failed the hash check\|warning: web seed" fetch.err &&
	test -s "$nginx_log" &&
	! grep "\.pad/" "$nginx_log" &&
	! grep -v "^GET /base/testorg-model/" "$nginx_log" &&
	! grep -v " 206 [0-9]* \"bytes=[0-9]*-[0-9]*\"$" "$nginx_log" &&
	for f in model-00001-of-00002.safetensors model-00002-of-00002.safetensors \
		config.json tokenizer/tokenizer.model tokenizer/extra/merges.bin
	do
		test_grep "^GET /base/testorg-model/$f 206 " "$nginx_log" || return 1
	done &&
	! grep "empty.txt" "$nginx_log" &&
	served=$(awk "{ n += \$4 } END { print n }" "$nginx_log") &&
	say "nginx served $served bytes for $size bytes of files" &&
	test "$served" -eq "$size"
}

# check_webseed_summary FILE: the summary line in FILE says every byte came
# from web seeds: "downloaded N bytes ...: 0 from peers, N from webseeds, ..."
check_webseed_summary () {
	test_grep "^downloaded $size bytes in .*: 0 from peers, $size from webseeds, 0 hash failures$" "$1"
}

test_expect_success 'setup: repo served by nginx under base/testorg-model/' '
	gen_repo repo 16 &&
	size=$(tree_size repo) &&
	mkdir -p www/base &&
	cp -R repo www/base/testorg-model &&
	start_nginx www &&
	timeout 10 curl -sS -f -r 0-99 -o head100 "$nginx_url/base/testorg-model/model-00001-of-00002.safetensors" &&
	test $(wc -c <head100) -eq 100 &&
	head -c 100 repo/model-00001-of-00002.safetensors | cmp - head100 &&
	test_grep "^GET /base/testorg-model/model-00001-of-00002.safetensors 206 100 \"bytes=0-99\"$" "$nginx_log" &&
	: >"$nginx_log"
'

test_expect_success 'create --webseed: a hybrid torrent with pad files and a url-list' '
	modelswarm create repo -o ws.torrent --name testorg-model \
		--webseed "$nginx_url/base/" >ws.info &&
	test_grep "^infohash v1: " ws.info &&
	test_grep "^infohash v2: " ws.info &&
	grep -a -q "8:url-list" ws.torrent &&
	grep -a -q "$nginx_url/base/" ws.torrent &&
	grep -a -q "\.pad" ws.torrent
'

test_expect_success 'fetch by the url-list alone, no peers: all bytes from the web seed' '
	: >"$nginx_log" &&
	timeout 120 modelswarm fetch ws.torrent -o out-ws $MS_NET \
		--listen 127.0.0.1:0 >fetch.out 2>fetch.err &&
	cp fetch.out fetch-ws.out &&
	check_webseed_fetch out-ws
'

test_expect_success '... and its summary counts all of it as from web seeds' '
	check_webseed_summary fetch-ws.out
'

test_expect_success 'fetch --webseed for a torrent without one: all bytes from it' '
	modelswarm create repo -o plain.torrent --name testorg-model >plain.info &&
	! grep -a -q "url-list" plain.torrent &&
	: >"$nginx_log" &&
	timeout 120 modelswarm fetch plain.torrent -o out-plain $MS_NET \
		--listen 127.0.0.1:0 --webseed "$nginx_url/base/" >fetch.out 2>fetch.err &&
	cp fetch.out fetch-plain.out &&
	check_webseed_fetch out-plain
'

test_expect_success '... and its summary counts all of it as from web seeds' '
	check_webseed_summary fetch-plain.out
'

test_expect_success 'a web seed that sends wrong bytes: demoted for that file, the other completes' '
	rm -f fx.port &&
	test_bg fx /usr/bin/python3 "$TEST_DIRECTORY/mirror-fixture.py" --root www \
		--log "$TRASH_DIRECTORY/fx.log" --port-file fx.port \
		--mode corrupt:model-00001-of-00002.safetensors &&
	wait_for . fx.port 30 &&
	timeout 120 modelswarm fetch plain.torrent -o out-bad $MS_NET --listen 127.0.0.1:0 \
		--webseed "http://127.0.0.1:$(cat fx.port)/base/" \
		--webseed "$nginx_url/base/" >fetch.out 2>fetch.err &&
	same_tree repo out-bad &&
	test_grep "failed the hash check: not using it for that file" fetch.err &&
	test_grep "^mirror http://127.0.0.1:$(cat fx.port)/base/: [0-9]* bytes, [1-9][0-9]* failed the hash check, skipped for 1 files$" fetch.out &&
	test_kill $bg_pid
'

test_expect_success 'a web seed that answers 404: fetch warns and keeps waiting' '
	: >"$nginx_log" &&
	test_expect_code 124 timeout 15 modelswarm fetch plain.torrent -o out-404 $MS_NET \
		--listen 127.0.0.1:0 --webseed "$nginx_url/nowhere/" >fetch.out 2>fetch.err &&
	test_grep "GET /nowhere/testorg-model/.* 404 " "$nginx_log" &&
	test_grep "warning: mirror .$nginx_url/nowhere/.: HTTP 404 for .testorg-model/config.json.: not using it for that file" fetch.err &&
	test_grep "warning: no mirror left for .testorg-model/config.json.: only peers can finish it" fetch.err
'

test_done
