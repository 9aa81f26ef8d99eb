#!/bin/sh
test_description='fuzz the manifest, refs, .minisig and public key parsers for a bounded time'
. "$(dirname "$0")/test-lib.sh"

test_expect_success 'build the libFuzzer target' '
	make -s -C "$MS_ROOT" fuzz >build.log 2>&1 &&
	test -x "$MS_ROOT/build/fuzz-parsers"
'

test_expect_success 'the seed corpus parses (the fuzzer sees real inputs)' '
	mkdir corpus &&
	cp "$MS_ROOT"/tests/data/fuzz-manifest/* corpus/ &&
	test $(ls corpus | wc -l) -ge 4
'

test_expect_success 'fuzz for 20 seconds without a crash, leak or UB' '
	"$MS_ROOT/build/fuzz-parsers" -max_total_time=20 -rss_limit_mb=1024 \
		-max_len=65536 -timeout=10 -print_final_stats=1 corpus >fuzz.log 2>&1 &&
	test_grep "stat::number_of_executed_units" fuzz.log &&
	runs=$(sed -n "s/^stat::number_of_executed_units: *//p" fuzz.log) &&
	say "$runs runs" &&
	test "$runs" -gt 1000
'

test_done
