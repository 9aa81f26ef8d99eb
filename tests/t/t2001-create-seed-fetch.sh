#!/bin/sh
test_description='create, seed and fetch a repo in hybrid, v1-only and v2-only mode'
. "$(dirname "$0")/test-lib.sh"

test_expect_success 'generate a repo' '
	gen_repo repo 64 &&
	test $(find repo -type f | wc -l) -ge 6 &&
	test -f repo/tokenizer/extra/empty.txt && ! test -s repo/tokenizer/extra/empty.txt
'

for mode in hybrid v1 v2; do
	case $mode in
	hybrid) flag= ;;
	v1) flag=--v1-only ;;
	v2) flag=--v2-only ;;
	esac

	test_expect_success "$mode: create is reproducible" '
		modelswarm create repo -o $mode.torrent $flag --name testorg-model >out &&
		modelswarm create repo -o $mode-again.torrent $flag --name testorg-model >/dev/null &&
		cmp $mode.torrent $mode-again.torrent &&
		! grep -q "creation date" $mode.torrent &&
		case $mode in
		hybrid) test_grep "^infohash v1: [0-9a-f]\{40\}$" out &&
			test_grep "^infohash v2: [0-9a-f]\{64\}$" out ;;
		v1) test_grep "^infohash v1: " out && ! grep -q "^infohash v2" out ;;
		v2) test_grep "^infohash v2: " out && ! grep -q "^infohash v1" out ;;
		esac
	'

	test_expect_success "$mode: seed, then fetch over 127.0.0.1 gives the same bytes" '
		ms_seed seed-$mode $mode.torrent repo &&
		timeout 120 modelswarm fetch $mode.torrent -o out-$mode $MS_NET \
			--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >fetch.out 2>fetch.err &&
		same_tree repo out-$mode &&
		test_grep "^fetched .testorg-model. into .out-$mode.: 6 files" fetch.out &&
		test_grep "^downloaded [0-9]* bytes .* 0 hash failures$" fetch.out &&
		test_kill $seed_pid &&
		test_grep "stopped by signal 15" seed-$mode.err
	'
done

test_expect_success 'with libtorrent.disk_io_write_mode = 0 (its own disk I/O) too' '
	mkdir home0 &&
	cp "$MODELSWARM_HOME/config" home0/config &&
	echo "libtorrent.disk_io_write_mode = 0" >>home0/config &&
	ms_seed seed-mode0 v1.torrent repo &&
	MODELSWARM_HOME=$PWD/home0 timeout 120 modelswarm fetch v1.torrent \
		-o out-mode0 $MS_NET --listen 127.0.0.1:0 \
		--peer 127.0.0.1:$seed_port >fetch.out 2>fetch.err &&
	same_tree repo out-mode0 &&
	test_grep "^downloaded [0-9]* bytes .* 0 hash failures$" fetch.out &&
	test_kill $seed_pid
'

test_expect_success 'a fetch into a complete directory downloads nothing' '
	ms_seed seed-again hybrid.torrent repo &&
	timeout 60 modelswarm fetch hybrid.torrent -o out-hybrid $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >fetch.out 2>fetch.err &&
	test_grep "^downloaded 0 bytes" fetch.out &&
	same_tree repo out-hybrid &&
	test_kill $seed_pid
'

test_expect_success 'fetch by magnet link gets the metadata from the seeder' '
	ms_seed seed-magnet hybrid.torrent repo &&
	magnet=$(modelswarm create repo -o m.torrent --name testorg-model >/dev/null &&
		 sed -n "s/^infohash v1: //p" seed-magnet.out) &&
	timeout 120 modelswarm fetch "magnet:?xt=urn:btih:$magnet" -o out-magnet $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >fetch.out 2>fetch.err &&
	test_grep "got metadata for .testorg-model." fetch.err &&
	same_tree repo out-magnet &&
	test_kill $seed_pid
'

test_done
