#!/bin/sh
test_description='fetch: a hostile torrent or a planted DIR cannot write outside DIR, into .git/, or leave wrong bytes'
. "$(dirname "$0")/test-lib.sh"

# v1_torrent OUT NAME SPEC...: a BitTorrent v1 torrent named NAME; a SPEC
# is PATH=FILE (the bytes of FILE at PATH) or PATH@TARGET (a BEP 47
# symlink to TARGET, a path from the torrent's top, name first). Prints
# its info-hash.
v1_torrent () {
	/usr/bin/python3 "$TEST_DIRECTORY/v1-torrent.py" "$@"
}

# state DIR: every entry under DIR (type, size, mode, link target) and
# the sha256 of every regular file, sorted
state () {
	(cd "$1" && find . -printf '%p %y %s %m %l\n' | sort &&
		find . -type f -exec sha256sum {} + | sort)
}

# seeder NAME TORRENT: seed TORRENT from seedfiles/ (NAME.port)
seeder () {
	ms_seed "$1" "$2" seedfiles
}

# fetch_in CASE SEEDER TORRENT DIR [ARGS...]: fetch TORRENT into CASE/DIR
# from SEEDER; output in CASE.out and CASE.err, exit code in CASE.rc,
# state of CASE before and after in CASE.before and CASE.after
fetch_in () {
	c=$1 s=$2 t=$3 d=$4 &&
	shift 4 &&
	state "$c" >"$c.before" &&
	{ timeout 60 modelswarm fetch "$t" -o "$c/$d" $MS_NET --listen 127.0.0.1:0 \
		--peer 127.0.0.1:$(cat "$s.port") "$@" >"$c.out" 2>"$c.err"; echo $? >"$c.rc"; } &&
	state "$c" >"$c.after"
}

# refused CASE CODE MESSAGE: fetch exited CODE saying MESSAGE, and nothing
# under CASE (DIR included) was created or changed
refused () {
	echo "$2" >expect.rc &&
	test_cmp expect.rc "$1.rc" &&
	test_grep "$3" "$1.err" &&
	test_cmp "$1.before" "$1.after"
}

# unchanged_outside CASE DIR: nothing under CASE outside CASE/DIR was
# created or changed
unchanged_outside () {
	grep -v "^\./$2[/ ]" "$1.before" | grep -v " \./$2/" >"$1.before-out" &&
	grep -v "^\./$2[/ ]" "$1.after" | grep -v " \./$2/" >"$1.after-out" &&
	test_cmp "$1.before-out" "$1.after-out"
}

test_expect_success 'setup: the files, the torrents, their seeders' '
	mkdir data seedfiles seedfiles/.git seedfiles/sub seedfiles/x &&
	printf "[core]\n\tfsmonitor = touch pwned\n" >data/config &&
	echo fine >data/ok.txt &&
	head -c 40000 /dev/urandom >data/a.bin &&
	cp data/config seedfiles/.git/config && cp data/ok.txt seedfiles/ &&
	cp data/a.bin seedfiles/sub/ && cp -r seedfiles/.git seedfiles/x/ &&
	v1_torrent git.torrent pkg .git/config=data/config ok.txt=data/ok.txt >git.ih &&
	v1_torrent nested.torrent pkg ok.txt=data/ok.txt x/.git/config=data/config >nested.ih &&
	v1_torrent plain.torrent pkg ok.txt=data/ok.txt sub/a.bin=data/a.bin >plain.ih &&
	v1_torrent links.torrent pkg ok.txt=data/ok.txt link-ok@pkg/ok.txt \
		link-etc@../../../../../../etc >links.ih &&
	v1_torrent link-ok.torrent pkg ok.txt=data/ok.txt link-ok@pkg/ok.txt >link-ok.ih &&
	seeder s-git git.torrent &&
	seeder s-nested nested.torrent &&
	seeder s-plain plain.torrent &&
	seeder s-links links.torrent &&
	seeder s-link-ok link-ok.torrent
'

test_expect_success 'a torrent file .git/config, fetched into a git checkout: refused, nothing written' '
	mkdir c1 && git init -q c1/work && echo tracked >c1/work/README &&
	cp c1/work/.git/config c1/config.orig &&
	fetch_in c1 s-git git.torrent work &&
	refused c1 1 "refusing .\.git/config.: \.git/ is not part of a release" &&
	cmp c1/config.orig c1/work/.git/config &&
	! test -e c1/work/ok.txt
'

test_expect_success 'a torrent file x/.git/config: refused too' '
	mkdir c2 &&
	fetch_in c2 s-nested nested.torrent out &&
	refused c2 1 "refusing .x/\.git/config.: \.git/ is not part of a release" &&
	! test -e c2/out
'

test_expect_success 'a symlink in DIR to a directory outside: refused, nothing written through it' '
	mkdir -p c3/out c3/outside &&
	echo mine >c3/outside/a.bin &&
	ln -s ../outside c3/out/sub &&
	fetch_in c3 s-plain plain.torrent out &&
	refused c3 2 "c3/out/sub. is a symbolic link: fetch never writes through one" &&
	! test -e c3/out/ok.txt
'

test_expect_success 'a symlink in DIR at a file of the torrent: refused, its target untouched' '
	mkdir -p c4/out c4/outside &&
	echo secret >c4/outside/secret &&
	ln -s ../outside/secret c4/out/ok.txt &&
	fetch_in c4 s-plain plain.torrent out &&
	refused c4 2 "c4/out/ok.txt. is a symbolic link: fetch never writes through one" &&
	! test -e c4/out/sub
'

test_expect_success 'a longer file already in DIR is cut to the torrent'"'"'s bytes' '
	mkdir -p c5/out/sub &&
	{ cat data/ok.txt && echo "and more that is not in the torrent"; } >c5/out/ok.txt &&
	head -c 90000 /dev/urandom >c5/out/sub/a.bin &&
	fetch_in c5 s-plain plain.torrent out &&
	echo 0 >expect.rc && test_cmp expect.rc c5.rc &&
	test_grep "^fetched .pkg. into .c5/out.: 2 files" c5.out &&
	cmp data/ok.txt c5/out/ok.txt &&
	cmp data/a.bin c5/out/sub/a.bin &&
	unchanged_outside c5 out
'

test_expect_success 'a directory where the torrent has a file: refused by name' '
	mkdir -p c6/out/ok.txt &&
	fetch_in c6 s-plain plain.torrent out &&
	refused c6 2 "c6/out/ok.txt. is not a regular file"
'

test_expect_success 'symlink attributes (BEP 47): refused before the download, nothing created' '
	mkdir c7 &&
	fetch_in c7 s-links links.torrent out &&
	refused c7 1 "torrent file .link-ok. has the symlink attribute: fetch does not make symlinks" &&
	! test -e c7/out
'

test_expect_success 'a harmless in-torrent symlink is refused the same way, by name' '
	mkdir c8 &&
	fetch_in c8 s-link-ok link-ok.torrent out &&
	refused c8 1 "torrent file .link-ok. has the symlink attribute" &&
	! test -e c8/out
'

test_expect_success 'a torrent named .git: refused by its name' '
	v1_torrent gitname.torrent .git hooks/x=data/config ok.txt=data/ok.txt >/dev/null &&
	mkdir c12 && git init -q c12/work &&
	fetch_in c12 s-plain gitname.torrent work &&
	refused c12 1 "torrent name: refusing .\.git.: \.git/ is not part of a release"
'

test_expect_success 'by magnet: the metadata is checked before anything is written' '
	mkdir c9 && git init -q c9/work &&
	fetch_in c9 s-git "magnet:?xt=urn:btih:$(cat git.ih)" work &&
	refused c9 1 "refusing .\.git/config.: \.git/ is not part of a release"
'

test_expect_success 'by magnet: a torrent with symlinks too' '
	mkdir c10 &&
	fetch_in c10 s-links "magnet:?xt=urn:btih:$(cat links.ih)" out &&
	refused c10 1 "has the symlink attribute" &&
	! test -e c10/out
'

test_expect_success 'by magnet: a good torrent still lands whole in DIR, nothing outside' '
	mkdir -p c11/out &&
	{ cat data/ok.txt && echo longer; } >c11/out/ok.txt &&
	fetch_in c11 s-plain "magnet:?xt=urn:btih:$(cat plain.ih)" out &&
	echo 0 >expect.rc && test_cmp expect.rc c11.rc &&
	cmp data/ok.txt c11/out/ok.txt &&
	cmp data/a.bin c11/out/sub/a.bin &&
	! test -e c11/out/pkg &&
	unchanged_outside c11 out
'

test_done
