#!/bin/sh
test_description='-h output and the man page SYNOPSIS agree'
. "$(dirname "$0")/test-lib.sh"

# the usage block of -h, without "usage: ", whitespace squeezed, one line
usage_of () {
	modelswarm $1 -h | sed -n '1,/^$/p' | sed -e 's/^usage: //' -e 's/^ *or: //' |
	tr -s ' \n' '  ' | sed -e 's/ *$//'
}

# the SYNOPSIS block of a man page, roff escapes removed, one line
synopsis_of () {
	sed -n '/^\.SH SYNOPSIS/,/^\.fi/p' "$1" | sed -e '1,2d' -e '$d' |
	sed -e 's/\\-/-/g' | tr -s ' \n' '  ' | sed -e 's/ *$//'
}

# page COMMAND: its man page (section 1, or 8 for the daemon)
page () {
	for s in 1 8; do
		test -f "$MS_ROOT/man/modelswarm-$1.$s" && echo "$MS_ROOT/man/modelswarm-$1.$s" && return
	done
	echo "$MS_ROOT/man/modelswarm-$1.1"
}

for c in $(modelswarm -h | sed -n "s/^   \([a-z]*\) .*/\1/p"); do
	test_expect_success "$c: -h matches its man page" '
		usage_of $c >expect &&
		synopsis_of "$(page $c)" >actual &&
		test -s expect &&
		test_cmp expect actual
	'
done

test_expect_success 'top-level usage matches man/modelswarm.1' '
	modelswarm -h | head -n 1 | sed -e "s/^usage: //" | tr -s " \n" "  " | sed -e "s/ *$//" >expect &&
	synopsis_of "$MS_ROOT/man/modelswarm.1" >actual &&
	test_cmp expect actual
'

test_expect_success 'every command has a man page listed in modelswarm.1' '
	for c in $(modelswarm -h | sed -n "s/^   \([a-z]*\) .*/\1/p"); do
		f=$(page $c) &&
		test -f "$f" &&
		grep -q "modelswarm\\\\-$c (${f##*.})" "$MS_ROOT/man/modelswarm.1" || return 1
	done
'

test_expect_success 'man pages render without warnings' '
	for f in "$MS_ROOT"/man/*.[158]; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" >/dev/null 2>warn &&
		! test -s warn || { cat warn; return 1; }
	done
'

test_done
