#!/bin/sh
test_description='get from HTTP mirrors only: a hub-style mirror that redirects to a
"CDN" with a signed query string, a plain static mirror, a single-file repo,
and mirrors that misbehave while a second, good one is there'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-services.sh"

rev=$(fake_rev mirrors)
one=$(fake_rev single-file)
bare=$(fake_rev no-mirror)   # the same files, no mirror in the manifest
FIXTURE="/usr/bin/python3 $TEST_DIRECTORY/mirror-fixture.py"

# nginx: /acme/*/resolve/ answers 302 to the same path under /cdn/ on
# 127.0.0.2 (another host) with a signed query; /cdn/ serves a path only
# with that signature; /plain/ is a static mirror of REV/PATH trees
nginx_hub () {
	cat <<-EOF
	listen 127.0.0.2:$nginx_port;
	location ~ ^/(acme/[^/]+/resolve/.*)\$ {
		return 302 http://127.0.0.2:$nginx_port/cdn/\$1?exp=4102444800&sig=s3cr3t;
	}
	location /cdn/ {
		if (\$arg_sig != "s3cr3t") { return 403; }
		alias $ls_root/;
	}
	EOF
}

# sums DIR: "sha256  ./path" of every file under DIR (links followed)
sums () {
	( cd "$1" && find -L . -type f | LC_ALL=C sort | xargs sha256sum )
}

# start_fixture NAME ARGS...: the misbehaving mirror on 127.0.0.1 serving
# www/; sets fx_url (http://127.0.0.1:PORT), fx_log, fx_pid
start_fixture () {
	fx=$1
	shift
	fx_log="$TRASH_DIRECTORY/$fx.log" &&
	rm -f "$fx.port" "$fx_log" &&
	test_bg "$fx" $FIXTURE --root www --log "$fx_log" --port-file "$fx.port" "$@" &&
	fx_pid=$bg_pid &&
	wait_for . "$fx.port" 30 &&
	fx_url="http://127.0.0.1:$(head -n 1 "$fx.port")"
}

# config LINE...: the test config plus LINEs
config () {
	cp base.config "$MODELSWARM_HOME/config" &&
	printf "%s\n" "$@" >>"$MODELSWARM_HOME/config"
}

# get_from NAME REV ARGS...: webseed-only get of acme/tiny@REV into
# cache-NAME, JSON events in NAME.out; the snapshot must hold the repo's
# exact bytes
get_from () {
	n=$1 r=$2
	shift 2
	timeout 120 modelswarm get acme/tiny@$r --index index --cache-dir "cache-$n" \
		--json $MS_NET --listen 127.0.0.1:0 "$@" >"$n.out" 2>"$n.err" &&
	sums "cache-$n/models--acme--tiny/snapshots/$r" >"$n.sums" &&
	test_cmp repo.sums "$n.sums" &&
	! ls cache-$n/models--acme--tiny/blobs/*.incomplete 2>/dev/null
}

# gaps PATH LOG: after each answer with a Retry-After for PATH, the seconds
# until the next request for it (one a line)
gaps () {
	/usr/bin/python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[2])]
rows = [r for r in rows if r[\"path\"].endswith(sys.argv[1])]
for a, b in zip(rows, rows[1:]):
    if a[\"status\"] in (429, 503):
        print(\"%.2f\" % (b[\"t\"] - a[\"t\"]))
" "$1" "$2"
}

# done_field NAME KEY: a number from the "done" event of NAME.out
done_field () {
	grep '"event": *"done"' "$1.out" | sed -n "s/.*\"$2\": *\([0-9]*\).*/\1/p"
}

test_expect_success 'setup: a release whose manifest names a hub-style mirror' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir -p www index &&
	cp "$MODELSWARM_HOME/config" base.config &&
	NGINX_SERVER_EXTRA=nginx_hub && start_nginx www && NGINX_SERVER_EXTRA= &&
	gen_repo repo 6 &&
	echo "model-00001-*.safetensors filter=lfs diff=lfs merge=lfs -text" \
		>repo/.gitattributes &&
	size=$(tree_size repo) &&
	sums repo >repo.sums &&
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key --index index \
		--webseed "$nginx_url/acme/tiny/resolve/" >pub.out &&
	mkdir -p www/acme/tiny/resolve www/plain &&
	cp -r repo www/acme/tiny/resolve/$rev &&
	cp -r repo www/plain/$rev &&
	modelswarm publish repo --repo acme/tiny --rev $bare --key acme.key --index index \
		--ref bare >pub-bare.out &&
	cp -r repo www/plain/$bare
'

test_expect_success 'no peers at all: get downloads every byte from the mirror, through the 302' '
	: >"$nginx_log" &&
	config "webseed-request-size = 1M" &&
	get_from hub $rev &&
	test "$(done_field hub from_webseeds)" = "$size" &&
	test "$(done_field hub from_peers)" = 0 &&
	test_grep "GET /acme/tiny/resolve/$rev/model-00001-of-00002.safetensors 302 " "$nginx_log" &&
	test_grep "GET /cdn/acme/tiny/resolve/$rev/model-00001-of-00002.safetensors 206 " "$nginx_log" &&
	! grep -v " 30[27] \| 206 " "$nginx_log" &&
	! grep "\.pad" "$nginx_log" &&
	served=$(awk "\$3 == 206 { n += \$4 } END { print n }" "$nginx_log") &&
	test "$served" -eq "$size"
'

test_expect_success '... the LFS file came whole in one transfer, the others piece by piece' '
	test "$(done_field hub whole_files)" = 1 &&
	test "$(done_field hub checks)" = 0 &&
	f=model-00001-of-00002.safetensors &&
	grep "GET /cdn/acme/tiny/resolve/$rev/$f 206 " "$nginx_log" >whole.log &&
	test $(wc -l <whole.log) -eq 1 &&
	test "$(cut -d" " -f4 whole.log)" = "$(wc -c <repo/$f)" &&
	test "$(grep -c "/model-00002-of-00002.safetensors 206 " "$nginx_log")" -gt 1
'

test_expect_success 'a redirect is followed once per file, then its target is used directly' '
	redirects=$(grep -c " 302 " "$nginx_log") &&
	ranges=$(grep -c " 206 " "$nginx_log") &&
	say "$redirects redirects for $ranges range requests" &&
	config &&
	test "$ranges" -gt "$redirects"
'

test_expect_success 'files fetched whole are seeded afterwards, with no check' '
	port=$(free_port) &&
	test_bg seeder modelswarm get acme/tiny@$rev --index index --cache-dir cache-seeder \
		--seed --json $MS_NET --listen 127.0.0.1:$port &&
	seeder_pid=$bg_pid &&
	wait_for "seeding from the cache" seeder.err 60 &&
	test "$(done_field seeder whole_files)" = 1 &&
	test "$(done_field seeder checks)" = 0 &&
	: >"$nginx_log" &&
	timeout 60 modelswarm fetch index/acme/tiny/$rev.torrent -o from-seeder $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$port --webseeds never \
		>fetch.out 2>fetch.err &&
	sums from-seeder >from-seeder.sums &&
	test_cmp repo.sums from-seeder.sums &&
	test_grep " 0 from webseeds" fetch.out &&
	! test -s "$nginx_log" &&
	test_kill $seeder_pid
'

test_expect_success 'a single-file repo downloads from a mirror too' '
	mkdir -p solo && gen_file solo/model.gguf 3000000 &&
	modelswarm publish solo --repo acme/solo --rev $one --key acme.key --index index \
		--webseed "$nginx_url/plain/" >pub1.out &&
	mkdir -p www/plain/$one && cp solo/model.gguf www/plain/$one/ &&
	: >"$nginx_log" &&
	timeout 60 modelswarm get acme/solo@$one --index index --cache-dir cache-solo \
		$MS_NET >solo.out 2>solo.err &&
	cmp solo/model.gguf cache-solo/models--acme--solo/snapshots/$one/model.gguf &&
	test_grep "GET /plain/$one/model.gguf 206 " "$nginx_log"
'

test_expect_success '--webseeds never: no mirror is asked, and get waits for peers' '
	: >"$nginx_log" &&
	test_expect_code 124 timeout 5 modelswarm get acme/tiny@$rev --index index \
		--cache-dir cache-never --webseeds never $MS_NET >never.out 2>never.err &&
	! test -s "$nginx_log"
'

test_expect_success 'bad --webseed and --webseeds values are usage errors' '
	test_expect_code 129 modelswarm get acme/tiny --index index --webseeds sometimes 2>err &&
	test_grep "webseeds needs fallback, always or never" err &&
	test_expect_code 129 modelswarm get acme/tiny --index index --webseed ftp://x/ 2>err &&
	test_grep "needs an http:// or https:// URL" err
'

test_expect_success 'bad mirror settings in the config file name the line' '
	while IFS="|" read -r line message; do
		config "$line" &&
		test_expect_code 2 modelswarm get acme/tiny --index index 2>err &&
		test_grep "config:[0-9]*: $message" err || return 1
	done <<-EOF &&
	webseed = ftp://x/|webseed needs an http:// or https:// URL
	webseeds = sometimes|webseeds needs fallback, always or never
	webseed-timeout = soon|.webseed-timeout. needs a whole number
	webseed-fallback-rate = fast|.webseed-fallback-rate. needs a size such as 2M
	EOF
	config
'

# each misbehaving mirror comes first, the good static mirror second: the
# download completes with the right bytes and the bad one is seen failing
# (a silent transfer fails after 2 s)
for mode in retry retry429 404:model-00001-of-00002.safetensors full200 overlong corrupt:model-00001-of-00002.safetensors stall
do
	test_expect_success "a mirror in mode $mode: the other one completes the download" '
		bad=$(echo "$mode" | cut -d: -f1) &&
		start_fixture "fx-$bad" --mode "$mode" &&
		config "webseed-timeout = 2" "webseed-request-size = 1M" &&
		get_from "$bad" $rev --webseeds always --webseed "$fx_url/plain/" \
			--webseed "$nginx_url/plain/" &&
		grep -q "\"mode\": \"$bad\"" "$fx_log" &&
		test_kill $fx_pid
	'
done

test_expect_success '... 503/429: reported, and the other mirror carries on' '
	test_grep "\"url\": *\"http://127.0.0.1:[0-9]*/plain/\", *\"message\": *\"HTTP 503: backing off 1 s\"" retry.out &&
	test_grep "HTTP 429: backing off 1 s" retry429.out
'

for mode in retry retry429
do
	test_expect_success "the only mirror answers $mode with Retry-After 2: it is waited for, then used" '
		start_fixture "fx-only-$mode" --mode $mode --retry-after 2 --fail-count 2 &&
		get_from "only-$mode" $bare --webseed "$fx_url/plain/" &&
		test "$(done_field only-$mode from_webseeds)" = "$size" &&
		gaps config.json "$fx_log" >gaps &&
		test $(wc -l <gaps) -eq 2 &&
		! awk "\$1 < 1.9" gaps | grep . &&
		test_kill $fx_pid
	'
done

test_expect_success '... 404: skipped for that file, used for the others' '
	test_grep "HTTP 404 for .$rev/model-00001-of-00002.safetensors.: not using it for that file" 404.out &&
	n404=$(grep -c "\"status\": 404" "$TRASH_DIRECTORY/fx-404.log") &&
	say "$n404 requests answered 404 (4 transfers at once)" &&
	test "$n404" -le 4 &&
	grep "\"status\": 206" "$TRASH_DIRECTORY/fx-404.log" >served &&
	test -s served &&
	! grep model-00001 served
'

test_expect_success '... wrong bytes: the mirror is demoted for that file, nothing bad lands' '
	test_grep "\"message\":\".$rev/model-00001-of-00002.safetensors. failed the hash check: not using it for that file\"" corrupt.out &&
	test_grep "\"whole_files\":1" corrupt.out &&
	test_grep "\"bad_bytes\": *[1-9]" corrupt.out &&
	test_grep "\"files_skipped\": *1" corrupt.out
'

# a file fetched piece by piece (a git blob, longer than a piece): each
# piece is checked by its v2 hashes alone (LTS_ADD_V2_CHECKS), and a bad
# one fails both its v1 and v2 checks, as libtorrent requires of a hybrid
# torrent (else it stops the torrent: "inconsistent hashes")
test_expect_success 'a mirror corrupting a file fetched piece by piece: its pieces fail, the other mirror completes' '
	start_fixture fx-corrupt-pieces --mode corrupt:model-00002-of-00002.safetensors &&
	config "webseed-timeout = 2" "webseed-request-size = 1M" &&
	get_from corrupt-pieces $rev --webseeds always --webseed "$fx_url/plain/" \
		--webseed "$nginx_url/plain/" &&
	test_grep "\"message\":\"piece [0-9]* of .$rev/model-00002-of-00002.safetensors. failed the hash check: not using it for that file\"" corrupt-pieces.out &&
	fails=$(done_field corrupt-pieces hash_failures) &&
	say "hash failures: $fails" &&
	test "$fails" -gt 0 &&
	! grep -qi "inconsistent" corrupt-pieces.out corrupt-pieces.err &&
	test_kill $fx_pid
'

test_expect_success '... a 200 for a range, a body too long: refused' '
	test_grep "ignored the byte range (HTTP 200 instead of 206)" full200.out &&
	test_grep "sent more bytes than asked for" overlong.out
'

test_expect_success '... a stalled transfer times out (webseed-timeout)' '
	test_grep "stalled (timed out)" stall.out
'

test_expect_success 'an expired signed redirect is resolved again from the mirror' '
	start_fixture fx-exp --mode redirect --url-ttl 1 --rate 1500000 &&
	config "webseed-connections = 1" "webseed-request-size = 1M" &&
	get_from exp $bare --webseed "$fx_url/plain/" &&
	test_grep "\"mode\": \"expired\"" "$fx_log" &&
	redirects=$(grep -c "\"status\": 302" "$fx_log") &&
	files=$(grep "\"listener\": \"main\"" "$fx_log" | sed -n "s/.*\"path\": \"\([^\"]*\)\".*/\1/p" | sort -u | wc -l) &&
	say "$redirects redirects for $files files" &&
	test "$redirects" -gt "$files" &&
	test_kill $fx_pid
'

test_expect_success 'Authorization goes to the configured host only, never across a redirect' '
	start_fixture fx-auth --mode redirect --require-auth "Bearer t0ken" &&
	config "mirror-auth.127.0.0.1:${fx_url##*:} = Bearer t0ken" &&
	get_from auth $bare --webseed "$fx_url/plain/" &&
	grep "\"listener\": \"main\"" "$fx_log" >main.log &&
	grep "\"listener\": \"cdn\"" "$fx_log" >cdn.log &&
	test -s main.log && test -s cdn.log &&
	! grep -v "\"auth\": \"Bearer t0ken\"" main.log &&
	! grep -v "\"auth\": null" cdn.log &&
	test_kill $fx_pid
'

test_expect_success 'a get killed while fetching a file whole goes on from its bytes' '
	start_fixture fx-slow --mode good --rate 2000000 &&
	test_bg killed modelswarm get acme/tiny@$bare --index index --cache-dir cache-kill \
		--json $MS_NET --listen 127.0.0.1:0 --webseed "$fx_url/plain/" &&
	killed_pid=$bg_pid &&
	f=model-00001-of-00002.safetensors &&
	part=cache-kill/models--acme--tiny/blobs/$(sha256sum <repo/$f | cut -c1-64).incomplete &&
	i=0 && while test "$(stat -c %s $part 2>/dev/null || echo 0)" -lt 3000000 &&
		test $i -lt 300; do sleep 0.1; i=$((i + 1)); done &&
	kill -9 $killed_pid && wait $killed_pid; test_kill $fx_pid &&
	had=$(stat -c %s $part) &&
	say "killed with $had bytes of $f written" &&
	test "$had" -ge 3000000 && test "$had" -lt "$(wc -c <repo/$f)" &&
	timeout 60 modelswarm get acme/tiny@$bare --index index --cache-dir cache-kill \
		--json $MS_NET --listen 127.0.0.1:0 --webseed "$nginx_url/plain/" \
		>again.out 2>again.err &&
	sums cache-kill/models--acme--tiny/snapshots/$bare >again.sums &&
	test_cmp repo.sums again.sums &&
	test "$(done_field again whole_files)" = 1 &&
	got=$(done_field again from_webseeds) &&
	say "the second run fetched $got of $size bytes" &&
	test "$got" -le $((size - had))
'

test_expect_success 'a piece counted as had but wrong on disk: checked again, fetched again from the mirror' '
	start_fixture fx-flip --mode good --rate 1000000 &&
	test_bg flip1 modelswarm get acme/tiny@$bare --index index --cache-dir cache-flip \
		$MS_NET --listen 127.0.0.1:0 --webseed "$fx_url/plain/" --webseeds always &&
	flip_pid=$bg_pid &&
	g=cache-flip/models--acme--tiny/blobs/$(git hash-object repo/config.json).incomplete &&
	wait_for "config.json\"" "$fx_log" 30 &&
	sleep 1 && kill -INT $flip_pid && { wait $flip_pid; echo $? >rc; } && test_kill $fx_pid &&
	test "$(cat rc)" = 130 &&
	printf X | dd of=$g bs=1 seek=0 conv=notrunc 2>/dev/null &&
	timeout 60 modelswarm get acme/tiny@$bare --index index --cache-dir cache-flip \
		$MS_NET --listen 127.0.0.1:0 --webseed "$nginx_url/plain/" >flip2.out 2>flip2.err &&
	test_grep "^warning: .config.json. verified piece by piece but its sha256 [0-9a-f]* is not the manifest.s [0-9a-f]*: checking every piece on disk again\$" flip2.err &&
	sums cache-flip/models--acme--tiny/snapshots/$bare >flip.sums &&
	test_cmp repo.sums flip.sums
'

test_expect_success 'no space left while fetching a file whole: a clear error, no final file, resumable' '
	mkdir small &&
	mount -t tmpfs -o size=4m tmpfs small &&
	test_atexit "umount \"$TRASH_DIRECTORY/small\" 2>/dev/null" &&
	f=model-00001-of-00002.safetensors &&
	blob=small/models--acme--tiny/blobs/$(sha256sum <repo/$f | cut -c1-64) &&
	# (that file alone: the disk fills while it is fetched whole, not while
	# libtorrent writes the pieces of another)
	test_expect_code 2 timeout 60 modelswarm get acme/tiny@$bare --index index \
		--cache-dir small $MS_NET --listen 127.0.0.1:0 --webseed "$nginx_url/plain/" \
		--webseeds always --include $f >nospace.out 2>nospace.err &&
	test_grep "^error: no space left on device writing .*/blobs/[0-9a-f]*\.incomplete. (progress is kept" nospace.err &&
	test $(grep -c "^error" nospace.err) -eq 1 &&
	! test -e $blob &&
	! ls small/models--acme--tiny/snapshots/* >/dev/null 2>&1 &&
	mount -o remount,size=64m small &&
	timeout 60 modelswarm get acme/tiny@$bare --index index --cache-dir small --json \
		$MS_NET --listen 127.0.0.1:0 --webseed "$nginx_url/plain/" >space.out 2>space.err &&
	sums small/models--acme--tiny/snapshots/$bare >space.sums &&
	test_cmp repo.sums space.sums &&
	test "$(done_field space whole_files)" = 1
'

test_expect_success 'cleanup: the test config again' '
	cp base.config "$MODELSWARM_HOME/config"
'

test_done
