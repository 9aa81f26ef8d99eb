#!/bin/sh
test_description='the rules of the house: who may include and print what'
. "$(dirname "$0")/test-lib.sh"

src="$MS_ROOT/src"
inc="$MS_ROOT/include"

# the files of a list, one a line, relative to the tree
rel () {
	sed "s|^$MS_ROOT/||"
}

# what a C file says with its string literals and comments left out
code_of () {
	sed -e 's|//.*$||' -e 's/"\([^"\\]\|\\.\)*"//g' "$1" |
		awk 'BEGIN { c = 0 }
		     { line = $0; out = "";
		       while (length(line)) {
			 if (c) { i = index(line, "*/"); if (!i) { line = ""; break }
				  line = substr(line, i + 2); c = 0 }
			 else { i = index(line, "/*"); if (!i) { out = out line; line = ""; break }
				out = out substr(line, 1, i - 1); line = substr(line, i + 2); c = 1 } }
		       print out }'
}

test_expect_success 'only src/shim/ includes libtorrent' '
	grep -rl "#include <libtorrent/" "$src" "$inc" | rel | sort >actual &&
	grep -v "^src/shim/" actual >bad || true &&
	test_must_be_empty bad &&
	test -s actual
'

test_expect_success 'only engine.c and torrent.c include lt_shim.h and call the shim' '
	grep -l "#include \"lt_shim.h\"" "$src"/*.c "$src"/cmd/*.c "$inc"/*.h | rel |
		grep -vxE "src/(engine|torrent)\.c|include/ms_(engine|torrent)\.h" >bad || true &&
	test_must_be_empty bad &&
	for f in "$src"/*.c "$src"/cmd/*.c; do
		case "$f" in */engine.c|*/torrent.c) continue ;; esac
		code_of "$f" | grep -nE "\blts_[a-z_0-9]+[[:space:]]*\(" | sed "s|^|$f:|"
	done | rel >bad &&
	test_must_be_empty bad
'

test_expect_success 'the pure modules and their headers see neither libuv nor the shim' '
	for f in manifest sign index trust hash store util error tree config; do
		gcc -std=c11 -D_GNU_SOURCE -I"$inc" -I"$src" $(pkg-config --cflags jansson libsodium) \
			-M "$src/$f.c" || return 1
	done >deps &&
	tr " \\\\" "\n\n" <deps | grep -E "/(uv|lt_shim)\.h$" | sort -u >bad || true &&
	test_must_be_empty bad
'

test_expect_success 'the core does not include the tool' '
	grep -l "#include \"\(cmd/\)\?cmd.h\"" "$src"/*.c "$inc"/*.h | rel |
		grep -v "^src/main.c$" >bad || true &&
	test_must_be_empty bad
'

test_expect_success 'only src/cmd/, main.c and progress.c write to stdout or stderr' '
	for f in "$src"/*.c; do
		case "$f" in */main.c|*/progress.c) continue ;; esac
		code_of "$f" | grep -nE "\\b(stdout|stderr)\\b|\\b(printf|vprintf|puts|putchar|perror|fputs|fprintf|vfprintf|fputc|fwrite)[[:space:]]*\\(" |
			sed "s|^|$f:|"
	done | rel >bad &&
	test_must_be_empty bad
'

test_expect_success 'the core speaks in MS_E* codes, not exit statuses' '
	grep -nE "\\bEXIT_(OK|VERIFY|ERROR|USAGE)\\b|\\bexit[[:space:]]*\\(" "$src"/*.c | rel |
		grep -v "^src/main.c:" >bad || true &&
	test_must_be_empty bad
'

test_expect_success 'no source file is over 1,500 lines' '
	wc -l "$src"/*.c "$src"/*.h "$src"/cmd/*.c "$src"/cmd/*.h "$src"/shim/*.cpp \
		"$src"/shim/*.h 2>/dev/null | grep -v " total$" |
		awk "\$1 > 1500 { print }" >bad &&
	test_must_be_empty bad
'

test_expect_success 'the rules can fail: a core file that prints is caught' '
	mkdir -p fake/src &&
	printf "#include <stdio.h>\nvoid f(void) { fprintf(stderr, \"x\"); }\n" >fake/src/x.c &&
	code_of fake/src/x.c | grep -qE "\\b(stderr)\\b" &&
	printf "void g(void) { /* fprintf(stderr) */ }\n" >fake/src/y.c &&
	! code_of fake/src/y.c | grep -qE "\\bstderr\\b"
'

test_done
