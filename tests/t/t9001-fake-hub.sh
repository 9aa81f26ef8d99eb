#!/bin/sh
test_description='the fake Hugging Face hub (tests/t/fake-hub.py): the API, resolve and its
CDN as the hub gives them, read by curl and by @huggingface/hub; paging, a gated
repo, a renamed repo, and the misbehaviours (corrupt bytes, down mid-download,
main moving) with the egress counter and the rate cap'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-services.sh"

TOKEN=hf_faketesttoken
NODE="env NODE_EXTRA_CA_CERTS=$TRASH_DIRECTORY/ca.pem NODE_PATH=$MS_ROOT/tests/node/node_modules timeout 60 node"
CURL="timeout 20 curl -sS --cacert $TRASH_DIRECTORY/ca.pem"

# hdr FILE NAME: the value of header NAME in a curl -D dump (last answer)
hdr () {
	tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | tail -n 1
}

# status FILE: the status code in a curl -D dump (last answer)
status () {
	tr -d '\r' <"$1" | sed -n 's/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' | tail -n 1
}

# js EXPR FILE: EXPR (Python, over the JSON in FILE as d) printed, strings
# as they are, anything else as JSON
js () {
	/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[2]))
v = eval(sys.argv[1])
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))' "$1" "$2"
}

# is_lfs FILE: the fake hub stores FILE in LFS (by name, or 10 MiB and more)
is_lfs () {
	case "$1" in
	*.safetensors|*.bin) return 0 ;;
	esac
	test "$(wc -c <"$1")" -ge 10485760
}

# git_history REPO GITDIR: the commits of the fake hub's REPO (REPO/1,
# REPO/2, ...) made by git itself in GITDIR, with LFS files as their
# pointers, the author, dates and messages fake-hub.py documents; prints
# the commit ids in order
git_history () {
	git init -q "$2" &&
	k=0 &&
	for d in $(ls "$1" | grep -x "[0-9]*" | sort -n); do
		k=$((k + 1)) &&
		(cd "$2" && git rm -rq --ignore-unmatch . >/dev/null) &&
		cp -R "$1/$d/." "$2/" &&
		(cd "$1/$d" && find . -type f) | while read -r f; do
			if is_lfs "$1/$d/$f"; then
				printf "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %s\n" \
					"$(sha256sum <"$1/$d/$f" | cut -c1-64)" \
					"$(wc -c <"$1/$d/$f")" >"$2/$f" || return 1
			fi
		done &&
		(
			cd "$2" && git add -A && tree=$(git write-tree) &&
			set -- && { ! git rev-parse -q --verify HEAD >/dev/null || set -- -p HEAD; } &&
			t="@$((1700000000 + 3600 * k)) +0000" &&
			c=$(GIT_AUTHOR_NAME=fake-hub GIT_AUTHOR_EMAIL=fake-hub@127.0.0.1 \
				GIT_COMMITTER_NAME=fake-hub GIT_COMMITTER_EMAIL=fake-hub@127.0.0.1 \
				GIT_AUTHOR_DATE="$t" GIT_COMMITTER_DATE="$t" \
				git commit-tree "$tree" "$@" -m "commit $d") &&
			git update-ref HEAD "$c" && echo "$c"
		) || return 1
	done
}

T=repos/acme/tiny

test_expect_success 'setup: a test CA for 127.0.0.1 and 127.0.0.2, repos, the hub' '
	test -d "$MS_ROOT/tests/node/node_modules/@huggingface/hub" &&
	test_ca_cert 127.0.0.2 &&
	mkdir -p $T/1/sub/dir $T/2 &&
	printf "{\"v\": 1}\n" >$T/1/config.json &&
	gen_file $T/1/model.safetensors 1500000 &&
	gen_file $T/1/weights.bin 3000 &&
	printf "notes\n" >$T/1/sub/dir/notes.txt &&
	printf "readme\n" >$T/1/README.md &&
	cp -R $T/1/. $T/2/ &&
	printf "{\"v\": 2}\n" >$T/2/config.json &&
	gen_file $T/2/model.safetensors 1500001 &&
	echo "{\"branches\": {\"main\": \"2\", \"dev\": \"1\"}, \"tags\": {\"v1.0\": \"1\"}}" \
		>$T/refs.json &&
	mkdir -p repos/acme/gated/1 repos/acme/sizes/1 repos/acme/moving/1 \
		repos/acme/moving/2 repos/datasets/acme/data/1/data &&
	printf "{\"gated\": true}\n" >repos/acme/gated/1/config.json &&
	gen_file repos/acme/gated/1/model.safetensors 70000 &&
	gen_file repos/acme/sizes/1/almost.dat 10485759 &&
	gen_file repos/acme/sizes/1/big.dat 10485760 &&
	printf "m1\n" >repos/acme/moving/1/config.json &&
	printf "m2\n" >repos/acme/moving/2/config.json &&
	echo "{\"branches\": {\"main\": \"1\"}}" >repos/acme/moving/refs.json &&
	gen_file repos/datasets/acme/data/1/data/train.bin 50000 &&
	printf "# data\n" >repos/datasets/acme/data/1/README.md &&
	git_history $T git-tiny >tiny.commits &&
	c1=$(sed -n 1p tiny.commits) && c2=$(sed -n 2p tiny.commits) &&
	git_history repos/acme/moving git-moving >moving.commits &&
	m1=$(sed -n 1p moving.commits) && m2=$(sed -n 2p moving.commits) &&
	test -n "$c2" && test -n "$m2" &&
	start_fake_hub hub1 repos --token $TOKEN --gated acme/gated --gated datasets/acme/data \
		--renamed acme/old-tiny=acme/tiny \
		--renamed datasets/acme/old-data=acme/data --page-size 3 &&
	H=$hub_url && hub1_pid=$hub_pid && hub1_log=$hub_log && hub1_egress=$hub_egress &&
	hub1_cdn="https://127.0.0.2:$hub_cdn_port"
'

test_expect_success 'model info, revisions and refs: the commit ids are the ones git makes' '
	$CURL -o info.json $H/api/models/acme/tiny &&
	test "$(js "d[\"sha\"]" info.json)" = $c2 &&
	test "$(js "d[\"id\"]" info.json)" = acme/tiny &&
	test "$(js "d[\"gated\"]" info.json)" = false &&
	(cd $T/2 && find . -type f | sed "s|^\./||" | sort) >files &&
	js "\"\\n\".join(s[\"rfilename\"] for s in d[\"siblings\"])" info.json | sort >siblings &&
	test_cmp files siblings &&
	for rev in main refs%2Fheads%2Fmain $c2; do
		$CURL -o r.json "$H/api/models/acme/tiny/revision/$rev?expand=sha" &&
		test "$(js "sorted(d)" r.json)" = "[\"_id\", \"id\", \"sha\"]" &&
		test "$(js "d[\"sha\"]" r.json)" = $c2 || return 1
	done &&
	for rev in dev v1.0 refs%2Ftags%2Fv1.0 $c1; do
		$CURL -o r.json "$H/api/models/acme/tiny/revision/$rev" &&
		test "$(js "d[\"sha\"]" r.json)" = $c1 || return 1
	done &&
	$CURL -o r.json "$H/api/models/acme/tiny/revision/main?blobs=1" &&
	test "$(js "[s for s in d[\"siblings\"] if s[\"rfilename\"] == \"weights.bin\"][0][\"lfs\"][\"sha256\"]" r.json)" = \
		"$(sha256sum <$T/2/weights.bin | cut -c1-64)" &&
	$CURL -o refs.json $H/api/models/acme/tiny/refs &&
	test "$(js "[(b[\"name\"], b[\"ref\"], b[\"targetCommit\"]) for b in d[\"branches\"]]" refs.json)" = \
		"[[\"dev\", \"refs/heads/dev\", \"$c1\"], [\"main\", \"refs/heads/main\", \"$c2\"]]" &&
	test "$(js "d[\"tags\"]" refs.json)" = \
		"[{\"name\": \"v1.0\", \"ref\": \"refs/tags/v1.0\", \"targetCommit\": \"$c1\"}]" &&
	test "$(js "d[\"converts\"]" refs.json)" = "[]" &&
	$CURL -o refs.json "$H/api/models/acme/tiny/refs?include_prs=1" &&
	test "$(js "d[\"pullRequests\"]" refs.json)" = "[]"
'

# the tree entries git-tiny (a git history of acme/tiny) says main holds,
# one a line: TYPE PATH OID SIZE LFS-OID POINTER-SIZE
expected_tree () {
	(cd git-tiny && git ls-tree -r -t HEAD) | while read -r mode type oid path; do
		if test $type = tree; then
			echo "directory $path $oid 0 - -"
		elif is_lfs "$T/2/$path"; then
			echo "file $path $oid $(wc -c <"$T/2/$path") $(sha256sum <"$T/2/$path" | cut -c1-64) $(cd git-tiny && git cat-file -s $oid)"
		else
			echo "file $path $oid $(wc -c <"$T/2/$path") - -"
		fi
	done | sort
}

# tree_lines FILE...: the same from the fake hub's tree pages
tree_lines () {
	for f in "$@"; do
		js "\"\\n\".join(\" \".join(str(x) for x in (e[\"type\"], e[\"path\"], e[\"oid\"], e[\"size\"], e.get(\"lfs\", {}).get(\"oid\", \"-\"), e.get(\"lfs\", {}).get(\"pointerSize\", \"-\"))) for e in d)" "$f" || return 1
	done | sort
}

test_expect_success 'tree: pages of 3 linked by an absolute Link, git ids, LFS ids and sizes' '
	url="$H/api/models/acme/tiny/tree/main?recursive=true&expand=false" &&
	n=0 && : >links &&
	while test -n "$url" && test $n -lt 10; do
		n=$((n + 1)) &&
		$CURL -D h$n -o page$n.json "$url" &&
		test "$(status h$n)" = 200 &&
		test "$(js "len(d)" page$n.json)" -le 3 &&
		url=$(hdr h$n Link | sed -n "s/^<\(.*\)>; rel=\"next\"$/\1/p") &&
		echo "$url" >>links || return 1
	done &&
	test $n = 3 && test -z "$url" &&
	grep "^$H/api/models/acme/tiny/tree/main?.*cursor=" links >abs &&
	test "$(wc -l <abs)" = 2 &&
	expected_tree >expect &&
	tree_lines page1.json page2.json page3.json >actual &&
	test_cmp expect actual &&
	test "$(js "d[0][\"type\"], d[1][\"type\"]" page1.json)" = "[\"directory\", \"directory\"]" &&
	$CURL -o sub.json "$H/api/models/acme/tiny/tree/main/sub" &&
	test "$(js "[(e[\"type\"], e[\"path\"]) for e in d]" sub.json)" = "[[\"directory\", \"sub/dir\"]]" &&
	cat page1.json page2.json page3.json | tr -d "\n" | sed "s/\]\[/, /g" >all.json &&
	x=$(js "[e[\"xetHash\"] for e in d if e[\"path\"] == \"model.safetensors\"][0]" all.json) &&
	test "$(js "[e[\"path\"] for e in d if \"xetHash\" in e]" all.json)" = \
		"[\"model.safetensors\", \"weights.bin\"]" &&
	echo "$x" | grep -qx "[0-9a-f]\{64\}" &&
	test "$x" != "$(sha256sum <$T/2/model.safetensors | cut -c1-64)"
'

test_expect_success 'paths-info: as JSON and as a form, the entries that exist, with their last commit' '
	$CURL -o pj.json -H "Content-Type: application/json" \
		--data "{\"paths\": [\"config.json\", \"sub\", \"README.md\", \"nope\"], \"expand\": true}" \
		$H/api/models/acme/tiny/paths-info/main &&
	$CURL -o pf.json --data "paths=config.json&paths=sub&paths=README.md&paths=nope&expand=True" \
		$H/api/models/acme/tiny/paths-info/main &&
	js "d" pj.json >pj && js "d" pf.json >pf && test_cmp pj pf &&
	test "$(js "[(e[\"path\"], e[\"lastCommit\"][\"id\"]) for e in d]" pj.json)" = \
		"[[\"config.json\", \"$c2\"], [\"sub\", \"$c1\"], [\"README.md\", \"$c1\"]]" &&
	test "$(js "d[0][\"oid\"]" pj.json)" = "$(git hash-object $T/2/config.json)" &&
	test "$(js "d[1][\"oid\"]" pj.json)" = "$(cd git-tiny && git rev-parse HEAD:sub)" &&
	$CURL -o p1.json --data "paths=config.json" $H/api/models/acme/tiny/paths-info/v1.0 &&
	test "$(js "d[0][\"oid\"]" p1.json)" = "$(git hash-object $T/1/config.json)" &&
	test "$(js "\"lastCommit\" in d[0]" p1.json)" = false
'

test_expect_success 'resolve a small file: 200 with the git blob id as ETag, X-Repo-Commit, ranges' '
	$CURL -I -o h $H/acme/tiny/resolve/main/config.json &&
	test "$(status h)" = 200 &&
	test "$(hdr h ETag)" = "\"$(git hash-object $T/2/config.json)\"" &&
	test "$(hdr h X-Repo-Commit)" = $c2 &&
	test "$(hdr h Content-Length)" = "$(wc -c <$T/2/config.json)" &&
	test -z "$(hdr h Location)" && test -z "$(hdr h X-Linked-Etag)" &&
	$CURL -D h -o got $H/acme/tiny/resolve/main/config.json &&
	cmp got $T/2/config.json &&
	$CURL -D h -o got -H "Range: bytes=2-4" $H/acme/tiny/resolve/main/config.json &&
	test "$(status h)" = 206 &&
	test "$(hdr h Content-Range)" = "bytes 2-4/$(wc -c <$T/2/config.json)" &&
	dd if=$T/2/config.json bs=1 skip=2 count=3 2>/dev/null >want && cmp got want &&
	$CURL -D h -o got -H "Range: bytes=1000-" $H/acme/tiny/resolve/main/config.json &&
	test "$(status h)" = 416 &&
	$CURL -D h -o got $H/acme/tiny/resolve/v1.0/config.json &&
	cmp got $T/1/config.json && test "$(hdr h X-Repo-Commit)" = $c1 &&
	$CURL -D h -o got $H/acme/tiny/resolve/$c1/sub/dir/notes.txt &&
	cmp got $T/1/sub/dir/notes.txt &&
	$CURL -I -o h $H/acme/sizes/resolve/main/almost.dat &&
	test "$(status h)" = 200 && test "$(hdr h Content-Length)" = 10485759
'

test_expect_success 'resolve an LFS file: 302 to the CDN host with a signed URL, X-Linked-*, Xet headers' '
	for f in model.safetensors weights.bin; do
		$CURL -I -o h $H/acme/tiny/resolve/main/$f &&
		test "$(status h)" = 302 &&
		sha=$(sha256sum <$T/2/$f | cut -c1-64) &&
		test "$(hdr h X-Linked-Etag)" = "\"$sha\"" &&
		test "$(hdr h ETag)" = "\"$sha\"" &&
		test "$(hdr h X-Linked-Size)" = "$(wc -c <$T/2/$f)" &&
		test "$(hdr h X-Repo-Commit)" = $c2 &&
		hdr h X-Xet-Hash | grep -qx "[0-9a-f]\{64\}" &&
		test "$(hdr h X-Xet-Hash)" != $sha &&
		hdr h Link | grep -q "^<$H/api/models/acme/tiny/xet-read-token/$c2>; rel=\"xet-auth\"" &&
		loc=$(hdr h Location) &&
		case "$loc" in
		"$hub1_cdn/repos/"*"/$sha?"*Expires=*Signature=*) ;;
		*) echo "bad Location: $loc"; false ;;
		esac &&
		$CURL -D h2 -o got "$loc" &&
		test "$(status h2)" = 200 && cmp got $T/2/$f &&
		test "$(hdr h2 ETag)" = "\"$(md5sum <$T/2/$f | cut -c1-32)\"" || return 1
	done &&
	$CURL -I -o h $H/acme/sizes/resolve/main/big.dat &&
	test "$(status h)" = 302 && test "$(hdr h X-Linked-Size)" = 10485760 &&
	$CURL -I -o h -H "Range: bytes=10-20" $H/acme/tiny/resolve/main/model.safetensors &&
	test "$(status h)" = 302 &&
	$CURL -D h2 -o got -H "Range: bytes=10-20" "$(hdr h Location)" &&
	test "$(status h2)" = 206 &&
	dd if=$T/2/model.safetensors bs=1 skip=10 count=11 2>/dev/null >want && cmp got want &&
	$CURL -D h3 -o got $H/acme/tiny/resolve/main/model.safetensors &&
	test "$(cat got)" = "Found. Redirecting to $(hdr h3 Location)"
'

test_expect_success 'the CDN: 403 for a changed, missing or expired signature; never asks for a token' '
	$CURL -I -o h $H/acme/tiny/resolve/main/weights.bin &&
	loc=$(hdr h Location) &&
	bad=$(echo "$loc" | sed "s/Signature=\(.\)/Signature=0\1/") &&
	$CURL -D h2 -o body "$bad" && test "$(status h2)" = 403 &&
	test_grep "<Code>AccessDenied</Code>" body &&
	later=$(echo "$loc" | sed "s/Expires=\([0-9]*\)/Expires=1\1/") &&
	$CURL -D h2 -o body "$later" && test "$(status h2)" = 403 &&
	$CURL -D h2 -o body "${loc%%\?*}" && test "$(status h2)" = 403 &&
	old=$(echo "$loc" | sed "s/Expires=[0-9]*/Expires=1000/") &&
	$CURL -D h2 -o body "$old" && test "$(status h2)" = 403 &&
	grep "\"listener\": \"cdn\"" "$hub1_log" >cdn.log &&
	grep -c "\"status\": 403" cdn.log >n403 && test "$(cat n403)" = 4
'

test_expect_success 'errors as the hub gives them: X-Error-Code and a JSON error' '
	$CURL -D h -o e.json $H/acme/nope/resolve/main/config.json &&
	test "$(status h)" = 401 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	js "d[\"error\"]" e.json &&
	$CURL -D h -o e.json -H "Authorization: Bearer $TOKEN" $H/api/models/acme/nope &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	$CURL -D h -o e.json $H/acme/tiny/resolve/nobranch/config.json &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RevisionNotFound &&
	$CURL -D h -o e.json $H/api/models/acme/tiny/revision/nobranch &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = RevisionNotFound &&
	$CURL -D h -o e.json $H/acme/tiny/resolve/main/no/such.json &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = EntryNotFound &&
	test "$(hdr h X-Repo-Commit)" = $c2 &&
	$CURL -D h -o e.json $H/api/models/acme/tiny/tree/main/nodir &&
	test "$(status h)" = 404 && test "$(hdr h X-Error-Code)" = EntryNotFound &&
	$CURL -D h -o e.json $H/api/models/acme/tiny/nothing &&
	test "$(status h)" = 404 && test -z "$(hdr h X-Error-Code)"
'

test_expect_success 'a renamed repo: 307 with a relative Location to the new name' '
	$CURL -I -o h $H/acme/old-tiny/resolve/main/config.json &&
	test "$(status h)" = 307 &&
	test "$(hdr h Location)" = /acme/tiny/resolve/main/config.json &&
	$CURL -D h -o /dev/null "$H/api/models/acme/old-tiny/tree/main?recursive=1" &&
	test "$(status h)" = 307 &&
	test "$(hdr h Location)" = "/api/models/acme/tiny/tree/main?recursive=1" &&
	$CURL -D h -o /dev/null $H/datasets/acme/old-tiny/resolve/main/README.md &&
	test "$(status h)" = 401 && test "$(hdr h X-Error-Code)" = RepoNotFound &&
	$CURL -D h -o got -L -H "Authorization: Bearer $TOKEN" $H/datasets/acme/old-data/resolve/main/README.md &&
	cmp got repos/datasets/acme/data/1/README.md &&
	$CURL -D h -o /dev/null $H/acme/old-data/resolve/main/README.md &&
	test "$(status h)" = 401 &&
	$CURL -L -o got $H/acme/old-tiny/resolve/main/config.json && cmp got $T/2/config.json
'

test_expect_success 'a gated repo: 401 GatedRepo without the token, 401 with another, the bytes with it' '
	$CURL -o g.json $H/api/models/acme/gated &&
	test "$(js "d[\"gated\"]" g.json)" = manual &&
	$CURL -D h -o e.json $H/acme/gated/resolve/main/config.json &&
	test "$(status h)" = 401 && test "$(hdr h X-Error-Code)" = GatedRepo &&
	$CURL -D h -o e.json -H "Authorization: Bearer hf_other" $H/acme/gated/resolve/main/config.json &&
	test "$(status h)" = 401 &&
	test "$(hdr h X-Error-Message)" = "Invalid credentials in Authorization header" &&
	$CURL -D h -o got -H "Authorization: Bearer $TOKEN" $H/acme/gated/resolve/main/config.json &&
	test "$(status h)" = 200 && cmp got repos/acme/gated/1/config.json &&
	$CURL -D h -o e.json $H/datasets/acme/data/resolve/main/README.md &&
	test "$(status h)" = 401 && test "$(hdr h X-Error-Code)" = GatedRepo &&
	test_grep "Access to dataset acme/data is restricted" e.json &&
	test_must_fail $NODE "$MS_ROOT/tests/node/hub-snapshot.mjs" $H model acme/gated main gc1 \
		>gjs1.out 2>gjs1.err &&
	test_grep "^error: Access to model acme/gated is restricted" gjs1.err &&
	HF_TOKEN=$TOKEN $NODE "$MS_ROOT/tests/node/hub-snapshot.mjs" $H model acme/gated main gc2 \
		>gjs2.out &&
	snap=$(sed -n "s/^snapshot //p" gjs2.out) && test -n "$snap" &&
	cmp "$snap/model.safetensors" repos/acme/gated/1/model.safetensors &&
	cmp "$snap/config.json" repos/acme/gated/1/config.json &&
	grep "/acme/gated/resolve/" "$hub1_log" | grep "\"status\": 302" >g302 &&
	grep -q "\"auth\": \"Bearer $TOKEN\"" g302
'

test_expect_success '@huggingface/hub: snapshotDownload through the pages and the CDN, downloadFile' '
	wc -l <"$hub1_log" >mark &&
	$NODE "$MS_ROOT/tests/node/hf-endpoint.mjs" $H acme/tiny main jscache jsout >js.out &&
	test_grep "^snapshot jscache/models--acme--tiny/snapshots/$c2$" js.out &&
	test "$(cat jscache/models--acme--tiny/refs/main)" = $c2 &&
	test_grep "^missing null$" js.out &&
	while read -r p; do
		snap=jscache/models--acme--tiny/snapshots/$c2/$p &&
		cmp "$snap" $T/2/$p && cmp jsout/$p $T/2/$p &&
		if is_lfs $T/2/$p; then
			e=$(sha256sum <$T/2/$p | cut -c1-64) &&
			test_grep "^info $p $(wc -c <$T/2/$p) \"$(md5sum <$T/2/$p | cut -c1-32)\"$" js.out
		else
			e=$(git hash-object $T/2/$p) &&
			test_grep "^info $p $(wc -c <$T/2/$p) \"$e\"$" js.out
		fi &&
		test "$(basename "$(readlink "$snap")")" = $e || return 1
	done <files &&
	tail -n +$(($(cat mark) + 1)) "$hub1_log" >js.log &&
	grep "/tree/$c2" js.log | grep -c "cursor=" >ncursor &&
	test "$(cat ncursor)" = 2 &&
	grep -q "\"listener\": \"cdn\".*\"status\": 206" js.log
'

test_expect_success '@huggingface/hub: a gated dataset repo, with the token' '
	HF_TOKEN=$TOKEN $NODE "$MS_ROOT/tests/node/hub-snapshot.mjs" $H dataset acme/data main dcache >djs.out &&
	snap=$(sed -n "s/^snapshot //p" djs.out) &&
	$CURL -o d.json $H/api/datasets/acme/data &&
	test "$(js "sorted(d)" d.json | grep -c modelId)" = 0 &&
	test "$snap" = "dcache/datasets--acme--data/snapshots/$(js "d[\"sha\"]" d.json)" &&
	cmp "$snap/data/train.bin" repos/datasets/acme/data/1/data/train.bin &&
	cmp "$snap/README.md" repos/datasets/acme/data/1/README.md &&
	test "$(basename "$(readlink "$snap/data/train.bin")")" = \
		"$(sha256sum <repos/datasets/acme/data/1/data/train.bin | cut -c1-64)"
'

# sum_log LOG LISTENER: the body bytes LOG counts for LISTENER
sum_log () {
	/usr/bin/python3 -c 'import json, sys
print(sum(e.get("bytes") or 0 for e in map(json.loads, open(sys.argv[1]))
          if e.get("listener") == sys.argv[2] and "event" not in e))' "$1" "$2"
}

test_expect_success 'SIGTERM: exit 0; the egress counter is what the log counts, per listener' '
	kill -TERM $hub1_pid && wait $hub1_pid && rc=$? &&
	test $rc = 0 &&
	hub=$(sum_log "$hub1_log" hub) && cdn=$(sum_log "$hub1_log" cdn) &&
	test "$(js "d[\"hub\"], d[\"cdn\"], d[\"total\"]" "$hub1_egress")" = \
		"[$hub, $cdn, $((hub + cdn))]" &&
	tail -n 1 "$hub1_log" >last &&
	test "$(js "d[\"event\"], d[\"hub\"], d[\"cdn\"]" last)" = "[\"egress\", $hub, $cdn]" &&
	test $cdn -gt 0 && test $hub -gt 0
'

test_expect_success 'corrupt: the bytes differ from the metadata, which stays right' '
	start_fake_hub hub2 repos --mode corrupt:model.safetensors --mode corrupt:sub/dir/notes.txt &&
	$CURL -I -o h $hub_url/acme/tiny/resolve/main/model.safetensors &&
	sha=$(sha256sum <$T/2/model.safetensors | cut -c1-64) &&
	test "$(hdr h X-Linked-Etag)" = "\"$sha\"" &&
	$CURL -o got "$(hdr h Location)" &&
	test "$(wc -c <got)" = "$(wc -c <$T/2/model.safetensors)" &&
	test "$(sha256sum <got | cut -c1-64)" != $sha &&
	test_must_fail cmp got $T/2/model.safetensors >cmp.out 2>&1 &&
	test_grep "differ: \(byte\|char\) 1," cmp.out &&
	$CURL -D h -o got $hub_url/acme/tiny/resolve/main/sub/dir/notes.txt &&
	test "$(hdr h ETag)" = "\"$(git hash-object $T/2/sub/dir/notes.txt)\"" &&
	test "$(git hash-object got)" != "$(git hash-object $T/2/sub/dir/notes.txt)" &&
	$CURL -L -o got $hub_url/acme/tiny/resolve/main/weights.bin && cmp got $T/2/weights.bin &&
	$CURL -o got $hub_url/acme/tiny/resolve/main/config.json && cmp got $T/2/config.json &&
	grep -c "\"mode\": \"corrupt\"" "$hub_log" >n && test "$(cat n)" = 2 &&
	test_kill $hub_pid
'

test_expect_success 'down-after: the answer is cut at the byte, connections refused, back after --down-for' '
	start_fake_hub hub3 repos --mode down-after:500000 --down-for 1 &&
	test_expect_code 18 $CURL -L -o part $hub_url/acme/tiny/resolve/main/model.safetensors &&
	redirect=$(sed -n 1p "$hub_log" | sed "s/.*\"bytes\": \([0-9]*\).*/\1/") &&
	test "$(wc -c <part)" = $((500000 - redirect)) &&
	test_expect_code 7 $CURL -o /dev/null $hub_url/api/models/acme/tiny &&
	test_expect_code 7 $CURL -o /dev/null "https://127.0.0.2:$hub_cdn_port/" &&
	test_grep "\"event\": \"down\"" "$hub_log" &&
	wait_for "\"event\": \"up\"" "$hub_log" 10 &&
	$CURL -L -C - -o part $hub_url/acme/tiny/resolve/main/model.safetensors &&
	cmp part $T/2/model.safetensors &&
	sleep 0.5 &&
	test "$(js "d[\"total\"]" "$hub_egress")" -ge 1500000 &&
	test_kill $hub_pid
'

test_expect_success 'move-main-after: main moves to the next commit, the pinned one stays' '
	start_fake_hub hub4 repos --mode move-main-after:2 &&
	for i in 1 2; do
		$CURL -D h -o got $hub_url/acme/moving/resolve/main/config.json &&
		test "$(hdr h X-Repo-Commit)" = $m1 && cmp got repos/acme/moving/1/config.json ||
		return 1
	done &&
	$CURL -D h -o got $hub_url/acme/moving/resolve/main/config.json &&
	test "$(hdr h X-Repo-Commit)" = $m2 && cmp got repos/acme/moving/2/config.json &&
	$CURL -D h -o got $hub_url/acme/moving/resolve/$m1/config.json &&
	cmp got repos/acme/moving/1/config.json &&
	$CURL -o r.json $hub_url/api/models/acme/moving/revision/main &&
	test "$(js "d[\"sha\"]" r.json)" = $m2 &&
	grep "\"event\": \"main-moved\"" "$hub_log" >moved &&
	test "$(js "d[\"repo\"], d[\"from\"], d[\"to\"]" moved)" = "[\"acme/moving\", \"$m1\", \"$m2\"]" &&
	$CURL -o r.json $hub_url/api/models/acme/tiny/revision/main &&
	test "$(js "d[\"sha\"]" r.json)" = $c2 &&
	test_kill $hub_pid
'

test_expect_success '--rate caps the bytes over all connections; the egress file follows' '
	start_fake_hub hub5 repos --rate 4000000 &&
	$CURL -I -o h $hub_url/acme/tiny/resolve/main/model.safetensors &&
	loc=$(hdr h Location) &&
	t0=$(date +%s%N) &&
	{ $CURL -o got1 "$loc" & p1=$!; } &&
	{ $CURL -o got2 "$loc" & p2=$!; } &&
	i=0 && mid=0 &&
	while test $mid = 0 && test $i -lt 100; do
		sleep 0.05 && i=$((i + 1)) && mid=$(js "d[\"cdn\"]" "$hub_egress") || return 1
	done &&
	wait $p1 && wait $p2 &&
	t1=$(date +%s%N) &&
	cmp got1 $T/2/model.safetensors && cmp got2 $T/2/model.safetensors &&
	ms=$(( (t1 - t0) / 1000000 )) &&
	echo "two downloads of 1500001 bytes at 4000000 bytes/s: $ms ms, $mid bytes in the egress file first" &&
	test $ms -ge 650 &&
	test $mid -gt 0 && test $mid -lt 3000002 &&
	sleep 0.5 &&
	test "$(js "d[\"cdn\"]" "$hub_egress")" = 3000002 &&
	test_kill $hub_pid
'

test_expect_success 'bad input: a clear error naming the thing, exit 2' '
	mkdir -p bad1/acme/x/one &&
	test_expect_code 2 /usr/bin/python3 "$TEST_DIRECTORY/fake-hub.py" --repos bad1 \
		--log l --port-file p 2>err && test_grep "bad1/acme/x.*named by numbers.*one" err &&
	test_expect_code 2 /usr/bin/python3 "$TEST_DIRECTORY/fake-hub.py" --repos nowhere \
		--log l --port-file p 2>err && test_grep "nowhere. is not a directory" err &&
	test_expect_code 2 /usr/bin/python3 "$TEST_DIRECTORY/fake-hub.py" --repos repos \
		--log l --port-file p --gated acme/none 2>err && test_grep "gated .acme/none." err &&
	test_expect_code 2 /usr/bin/python3 "$TEST_DIRECTORY/fake-hub.py" --repos repos \
		--log l --port-file p --mode slow 2>err && test_grep "mode .slow." err &&
	echo "{\"branches\": {\"main\": \"7\"}}" >repos/acme/sizes/refs.json &&
	test_expect_code 2 /usr/bin/python3 "$TEST_DIRECTORY/fake-hub.py" --repos repos \
		--log l --port-file p 2>err && test_grep "main names no commit directory .7." err &&
	! test -e p
'

test_done
