#!/bin/sh
test_description='make install honours PREFIX and DESTDIR'
. "$(dirname "$0")/test-lib.sh"

test_expect_success 'install into a DESTDIR' '
	make -s -C "$MS_ROOT" -o all install PREFIX=/opt/ms DESTDIR="$TRASH_DIRECTORY/dest" >out 2>&1 &&
	test -x dest/opt/ms/bin/modelswarm &&
	for p in modelswarm modelswarm-create modelswarm-seed modelswarm-fetch modelswarm-publish modelswarm-verify; do
		test -f dest/opt/ms/share/man/man1/$p.1 || return 1
	done &&
	test -f dest/opt/ms/share/man/man5/modelswarm-manifest.5 &&
	test -f dest/opt/ms/share/man/man8/modelswarm-daemon.8 &&
	dest/opt/ms/bin/modelswarm --version >v &&
	test_grep "^modelswarm [0-9]" v
'

test_done
