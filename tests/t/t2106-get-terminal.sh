#!/bin/sh
test_description='get on a terminal: every line fits the width, no stale lines, redrawn on resize'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

command -v tmux >/dev/null || {
	echo "Bail out! tmux is missing: run tools/deps.sh test"
	exit 1
}

rev=$(fake_rev terminal)

# a tmux server of our own (its socket in the trash directory), stopped by
# its pid at exit; a pane keeps its text when its command ended
TMUX_TMPDIR=$TRASH_DIRECTORY
export TMUX_TMPDIR
unset TMUX
printf 'set -g remain-on-exit on\nset -g history-limit 5000\n' >tmux.conf
tm () {
	tmux -L ms -f "$TRASH_DIRECTORY/tmux.conf" "$@"
}

# run_get NAME WIDTH: modelswarm get in a new pane WIDTH columns wide;
# its pid in NAME.pid, its exit status in NAME.rc when it ends (the shell
# of the pane waits for it: tmux does not always tell a dead pane's status)
run_get () {
	cat >"$1.sh" <<-EOF &&
	modelswarm get acme/big --index index --cache-dir "$TRASH_DIRECTORY/$1.cache" \
		--no-daemon $MS_NET --listen 127.0.0.1:0 --peer 127.0.0.1:$(cat seed.port) &
	echo \$! >"$TRASH_DIRECTORY/$1.pid"
	wait \$!
	echo \$? >"$TRASH_DIRECTORY/$1.rc"
	EOF
	if tm has-session -t ms 2>/dev/null; then
		tm kill-session -t ms
	fi &&
	tm new-session -d -s ms -x "$2" -y 24 "sh $TRASH_DIRECTORY/$1.sh" &&
	server=$(tm display -p -t ms "#{pid}") &&
	test_atexit "test_kill $server" &&
	wait_for . "$1.pid" 10 &&
	test_atexit "test_kill $(cat "$1.pid")"
}

# screen FILE [ARGS]: the pane's rows (ARGS: -S - for the history too),
# wrapped rows joined, trailing blanks cut
screen () {
	out=$1
	shift
	tm capture-pane -p -J -t ms "$@" | sed "s/ *\$//" >"$out"
}

# fits WIDTH FILE: no line of the display in FILE as wide as WIDTH (the
# messages above it wrap as they like), one status line and one rates
# line at most
fits () {
	awk -v w="$1" '/^(downloading|waiting for peers|checking) |^  .*\/s/ &&
		length($0) >= w { print "too wide for " w ": " $0; bad = 1 }
		END { exit bad }' "$2" &&
	test "$(grep -c "^downloading \|^waiting for peers\|^checking " "$2")" -le 1 &&
	test "$(grep -c "ETA" "$2")" -le 1 || {
		echo "screen at $1 columns:" && cat "$2"
		return 1
	}
}

# shown FILE: the live display is in FILE
shown () {
	grep -q "^downloading .*%" "$1" && grep -q "/s .*ETA" "$1"
}

# until_shown NAME: wait (bounded) until the display shows
until_shown () {
	i=0
	while test $i -lt 100; do
		screen "$1.now" && shown "$1.now" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "no display in the pane:" && cat "$1.now"
	return 1
}

# until_gone NAME: wait (bounded) until get ended, with exit status 0
until_gone () {
	i=0
	while ! test -s "$1.rc" && test $i -lt 600; do
		sleep 0.1
		i=$((i + 1))
	done
	test "$(cat "$1.rc" 2>/dev/null)" = 0 || {
		screen "$1.now" && echo "get did not end, or failed:" && cat "$1.now"
		return 1
	}
}

# watch NAME WIDTH...: at each width (the pane resized to it), look at the
# screen three times; every look fits, and one at least shows the display
watch () {
	name=$1
	shift
	for w in "$@"; do
		tm resize-window -t ms -x "$w" -y 24 &&
		seen=0 &&
		for i in 1 2 3; do
			sleep 0.3 &&
			screen "$name.$w.$i" &&
			fits "$w" "$name.$w.$i" || return 1
			shown "$name.$w.$i" && seen=$((seen + 1))
		done
		say "$name: the display was on $seen of 3 screens at $w columns"
		test $seen -ge 1 || return 1
	done
}

test_expect_success 'setup: a 16 MB release seeded at 2 MB/s' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir -p repo index &&
	gen_file repo/model.safetensors 16000000 &&
	printf "{}\n" >repo/config.json &&
	modelswarm publish repo --repo acme/big --rev $rev --key acme.key --index index >/dev/null &&
	ms_seed seed index/acme/big/$rev.torrent repo --upload-limit 2M
'

test_expect_success 'at 60 columns, then 80 and 120: every line fits, no stale line' '
	run_get wide 60 &&
	until_shown wide &&
	watch wide 60 80 120 &&
	until_gone wide &&
	screen wide.end -S - &&
	test_grep "^downloaded [0-9]* bytes" wide.end &&
	test_grep "snapshots/$rev\$" wide.end &&
	! grep -n "ETA\|^downloading " wide.end
'

# narrowing, tmux wraps the rows above the cursor and pushes the top ones
# into its history (whatever the program does): the screen is checked,
# the history only for the summary
test_expect_success 'at 120 columns, then 80, 60 and 40: redrawn to fit each' '
	run_get narrow 120 &&
	until_shown narrow &&
	watch narrow 120 80 60 40 &&
	until_gone narrow &&
	screen narrow.end &&
	! grep -n "ETA\|^downloading " narrow.end &&
	screen narrow.all -S - &&
	test_grep "^downloaded [0-9]* bytes" narrow.all
'

test_expect_success 'what each width shows: all fields at 120, the short forms at 60' '
	grep -h "ETA" wide.120.* >rates.120 &&
	test_grep "peers 1 (1 seeds)  webseeds 0  from peers .*  from webseeds " rates.120 &&
	grep -h "^downloading " wide.120.* >status.120 &&
	test_grep "^downloading acme/big  \[[#-]*\] .*%  .* / 15.3 MiB\$" status.120 &&
	grep -h "ETA" wide.60.* >rates.60 &&
	test_grep "ETA .*  peers 1  p2p " rates.60 &&
	! grep "webseeds" rates.60 &&
	grep -h "ETA" narrow.40.* >rates.40 &&
	test_grep "^  [0-9.]* [KMG]*i*B/s  ETA " rates.40
'

test_done
