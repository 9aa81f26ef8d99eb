#!/bin/sh
test_description='interop with qBittorrent (qbittorrent-nox driven over its
Web API): modelswarm fetches a hybrid torrent from it, and seeds a v1
torrent to it'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-services.sh"

test_expect_success 'setup: repo, hybrid and v1 torrents, qbittorrent-nox' '
	gen_repo repo 16 &&
	size=$(tree_size repo) &&
	modelswarm create repo -o hybrid.torrent --name testorg-model >hybrid.info &&
	test_grep "^infohash v2: " hybrid.info &&
	modelswarm create repo -o v1.torrent --v1-only --name testorg-model >v1.info &&
	! grep -q "^infohash v2: " v1.info &&
	mkdir qbt-data &&
	cp -R repo qbt-data/testorg-model &&
	start_qbittorrent qbt &&
	test_grep "^v4\." qbt.version
'

test_expect_success 'qBittorrent checks its copy of the hybrid torrent and seeds it' '
	hid=$(qbt_id hybrid.info) &&
	qbt_add hybrid.torrent qbt-data &&
	qbt_wait_seeding $hid 60 &&
	test_grep "\"infohash_v2\":\"$(sed -n "s/^infohash v2: //p" hybrid.info)\"" qbt-$hid.json
'

test_expect_success 'modelswarm fetch --peer <qbittorrent> gets the same bytes' '
	timeout 120 modelswarm fetch hybrid.torrent -o out $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$qbt_port \
		>fetch.out 2>fetch.err &&
	same_tree repo out &&
	test_grep "^fetched .testorg-model. into .out.: 6 files" fetch.out &&
	got=$(sed -n "s/^downloaded \([0-9]*\) bytes .*: \([0-9]*\) from peers, 0 from webseeds, 0 hash failures$/\1 \2/p" fetch.out) &&
	say "downloaded, from peers: $got (the files: $size bytes)" &&
	test -n "$got" &&
	# pad bytes that share a 16 KiB block with file data are downloaded
	# too: N >= size, and all of it from the peer
	test "${got% *}" = "${got#* }" &&
	test "${got% *}" -ge "$size" &&
	! grep -q "banned peer\|failed the hash check" fetch.err
'

test_expect_success 'modelswarm seed -> qBittorrent leecher (v1), dialled over the Web API' '
	vid=$(qbt_id v1.info) &&
	mkdir qbt-leech &&
	ms_seed seed v1.torrent repo &&
	qbt_add v1.torrent qbt-leech &&
	qbt_add_peer $vid 127.0.0.1:$seed_port &&
	qbt_wait_seeding $vid 90 &&
	same_tree repo qbt-leech/testorg-model &&
	test_grep "\"downloaded_session\":$size[,}]" qbt-$vid.json &&
	test_kill $seed_pid &&
	test_grep "stopped by signal 15" seed.err
'

test_done
