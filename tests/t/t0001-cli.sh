#!/bin/sh
test_description='command line: help, usage errors, bad input writes nothing'
. "$(dirname "$0")/test-lib.sh"

test_expect_success 'top-level -h lists the commands' '
	modelswarm -h >out &&
	test_grep "^usage: modelswarm" out &&
	for c in create seed fetch; do test_grep "^   $c " out || return 1; done
'

test_expect_success 'no command is a usage error' '
	test_expect_code 129 modelswarm 2>err &&
	test_grep "^usage:" err
'

test_expect_success 'unknown command is a usage error' '
	test_expect_code 129 modelswarm frobnicate 2>err &&
	test_grep "not a modelswarm command" err
'

test_expect_success 'every command answers -h on stdout with exit 0' '
	for c in create seed fetch mirror; do
		modelswarm $c -h >out 2>err &&
		test_grep "^usage: modelswarm $c " out &&
		! test -s err || return 1
	done
'

test_expect_success 'unknown options give one line and exit 129' '
	for c in create seed fetch mirror; do
		test_expect_code 129 modelswarm $c --bogus x 2>err &&
		test_grep "unknown option" err &&
		test $(wc -l <err) -eq 1 || return 1
	done
'

test_expect_success 'bad arguments exit 129' '
	mkdir d && echo hi >d/a &&
	test_expect_code 129 modelswarm create d 2>err &&
	test_grep "no output file" err &&
	test_expect_code 129 modelswarm create d -o x.torrent --v1-only --v2-only 2>err &&
	test_grep "exclude each other" err &&
	test_expect_code 129 modelswarm create d -o x.torrent --piece-size 1000 2>err &&
	test_grep "power of two" err &&
	test_expect_code 129 modelswarm fetch x.torrent 2>err &&
	test_grep "no output directory" err &&
	test_expect_code 129 modelswarm fetch x.torrent -o dl --peer nonsense 2>err &&
	test_grep "HOST:PORT" err &&
	test_expect_code 129 modelswarm seed x.torrent 2>err &&
	test_grep "need a torrent file and a directory" err &&
	test_expect_code 129 modelswarm seed x.torrent d --listen foo 2>err &&
	test_grep "ADDR:PORT" err &&
	! test -e x.torrent && ! test -e dl
'

test_expect_success 'a --tracker, --webseed or rate is checked alike by every command' '
	for c in "create d -o x.torrent" "seed x.torrent d" "fetch x.torrent -o dl" \
		 "publish d --repo a/b --rev x --key k --index i"; do
		test_expect_code 129 modelswarm $c --tracker ws://t/ 2>err &&
		test_grep "^error: --tracker needs an http://, https:// or udp:// URL, not .ws://t/." err ||
		return 1
	done &&
	for c in "create d -o x.torrent" "publish d --repo a/b --rev x --key k --index i"; do
		test_expect_code 129 modelswarm $c --webseed udp://w/ 2>err &&
		test_grep "^error: --webseed needs an http:// or https:// URL, not .udp://w/." err ||
		return 1
	done &&
	for c in "seed x.torrent d" "fetch x.torrent -o dl" "publish d" "daemon limits"; do
		test_expect_code 129 modelswarm $c --upload-limit 2X 2>err &&
		test_grep "^error: --upload-limit needs a rate in bytes/s such as 2M, not .2X." err ||
		return 1
	done &&
	test_expect_code 129 modelswarm seed x.torrent d --download-limit 2M 2>err &&
	test_grep "unknown option" err &&
	! test -e x.torrent && ! test -e dl
'

test_expect_success 'a junk torrent is refused and nothing is written' '
	printf "this is not bencode" >junk.torrent &&
	test_expect_code 2 modelswarm fetch junk.torrent -o dl $MS_NET 2>err &&
	test_grep "junk.torrent.* is not a valid torrent" err &&
	! test -e dl &&
	! test -e "$MODELSWARM_HOME/state" &&
	head -c 100 /dev/urandom >junk2.torrent &&
	test_expect_code 2 modelswarm seed junk2.torrent d $MS_NET 2>err &&
	test_grep "is not a valid torrent" err &&
	: >empty.torrent &&
	test_expect_code 2 modelswarm fetch empty.torrent -o dl $MS_NET 2>err &&
	test_grep "not a valid torrent" err &&
	! test -e dl
'

test_expect_success 'a missing torrent or directory is a clear error' '
	test_expect_code 2 modelswarm fetch nosuch.torrent -o dl $MS_NET 2>err &&
	test_grep "cannot open .nosuch.torrent." err &&
	! test -e dl &&
	test_expect_code 2 modelswarm create nosuchdir -o x.torrent 2>err &&
	test_grep "cannot open .nosuchdir." err &&
	! test -e x.torrent &&
	modelswarm create d -o ok.torrent >/dev/null &&
	test_expect_code 2 modelswarm seed ok.torrent nosuchdir $MS_NET 2>err &&
	test_grep "nosuchdir.* is not a directory" err
'

test_expect_success 'create refuses symlinks and empty directories' '
	mkdir e && test_expect_code 2 modelswarm create e -o e.torrent 2>err &&
	test_grep "has no files" err &&
	mkdir s && echo x >s/a && ln -s /etc/passwd s/link &&
	test_expect_code 2 modelswarm create s -o s.torrent 2>err &&
	test_grep "refusing symlink" err &&
	! test -e e.torrent && ! test -e s.torrent
'

test_expect_success 'seed of data that does not match exits 1' '
	mkdir m && gen_file m/a 300000 && gen_file m/b 1000 &&
	modelswarm create m -o m.torrent >/dev/null &&
	gen_file m/a 300000 &&
	test_expect_code 1 modelswarm seed m.torrent m $MS_NET --listen 127.0.0.1:0 >out 2>err &&
	test_grep "does not match the torrent" err
'

test_expect_success 'a broken config file is reported with its line' '
	cp "$MODELSWARM_HOME/config" config.good &&
	echo "frobnicate = 1" >>"$MODELSWARM_HOME/config" &&
	test_expect_code 2 modelswarm fetch ok.torrent -o out2 2>err &&
	test_grep "config:5: unknown key .frobnicate." err &&
	cp config.good "$MODELSWARM_HOME/config" &&
	! test -e out2
'

test_done
