#!/bin/sh
test_description='verify rejects every tampered, misbound, rolled back or malformed release'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

r1=$(fake_rev r1)
r2=$(fake_rev r2)

# expect_reject REPO@REV INDEX MESSAGE: verify exits 1 with MESSAGE and
# leaves the rollback state of the repo unchanged
expect_reject () {
	repo=${1%@*}
	before=$(state_sum "$repo") &&
	test_expect_code 1 modelswarm verify --index "$2" "$1" >out 2>err &&
	test_grep "$3" err &&
	! grep -q "^verified" out &&
	test "$(state_sum "$repo")" = "$before"
}

# edit_manifest DIR REV PERL: edit DIR/acme/tiny/REV.manifest.json with
# PERL (-0pe) and sign it again with the org key (same trusted comment)
edit_manifest () {
	f=$1/acme/tiny/$2.manifest.json &&
	perl -0pi -e "$3" "$f" &&
	resign "$f" acme.key
}

test_expect_success 'setup: key, trust, a published and verified release' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm keygen evil --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo repo && mkdir index &&
	modelswarm publish repo --repo acme/tiny --rev $r1 --key acme.key --index index >/dev/null &&
	cp -r index v1 &&
	modelswarm verify --index index acme/tiny >out &&
	test_grep "^verified acme/tiny@$r1 version 1" out &&
	test "$(state_sum acme/tiny)" != none
'

fresh () {
	rm -rf bad && cp -r v1 bad
}

test_expect_success 'flipped manifest byte' '
	fresh &&
	printf X | dd of=bad/acme/tiny/$r1.manifest.json bs=1 seek=300 conv=notrunc 2>/dev/null &&
	! cmp -s bad/acme/tiny/$r1.manifest.json v1/acme/tiny/$r1.manifest.json &&
	expect_reject acme/tiny@$r1 bad "signature does not match the data"
'

test_expect_success 'edited trusted comment' '
	fresh &&
	sed -i "s/version=1$/version=7/" bad/acme/tiny/$r1.manifest.json.minisig &&
	expect_reject acme/tiny@$r1 bad "trusted comment signature does not match"
'

test_expect_success 'legacy (not prehashed) signature' '
	fresh &&
	f=bad/acme/tiny/$r1.manifest.json &&
	tc=$(sed -n "s/^trusted comment: //p" $f.minisig) &&
	rm $f.minisig && minisign -S -l -s acme.key -m $f -t "$tc" >/dev/null &&
	expect_reject acme/tiny@$r1 bad "legacy (not prehashed) signature refused"
'

test_expect_success 'unpinned key whose key id collides with the pinned one' '
	fresh &&
	minisign -G -W -p other.pub -s other.key >/dev/null 2>&1 &&
	id=$(sed -n 2p acme.pub | base64 -d | od -An -tx1 -j2 -N8 | tr -d " \n") &&
	perl -MMIME::Base64 -i -pe "
		if (\$. == 2) { my \$b = decode_base64(\$_);
			substr(\$b, 54, 8) = pack(\"H*\", \"$id\");
			\$_ = encode_base64(\$b, \"\") . \"\n\" }" other.key &&
	resign bad/acme/tiny/$r1.manifest.json other.key &&
	sed -n 2p bad/acme/tiny/$r1.manifest.json.minisig | base64 -d | od -An -tx1 -j2 -N8 | tr -d " \n" >got &&
	echo "$id" | tr -d "\n" >want && test_cmp want got &&
	expect_reject acme/tiny@$r1 bad "signature does not match the data"
'

test_expect_success 'manifest of acme/tiny served for acme/other' '
	fresh &&
	mkdir -p bad/acme/other &&
	cp bad/acme/tiny/$r1.manifest.json* bad/acme/other/ &&
	expect_reject acme/other@$r1 bad "manifest is for .acme/tiny., not for .acme/other."
'

test_expect_success 'manifest of r1 served for r2' '
	fresh &&
	cp bad/acme/tiny/$r1.manifest.json bad/acme/tiny/$r2.manifest.json &&
	cp bad/acme/tiny/$r1.manifest.json.minisig bad/acme/tiny/$r2.manifest.json.minisig &&
	expect_reject acme/tiny@$r2 bad "manifest is for revision $r1, not $r2"
'

test_expect_success 'another org key signing acme'"'"'s repo' '
	mkdir evilidx &&
	modelswarm trust add evil evil.pub >/dev/null &&
	modelswarm publish repo --repo acme/tiny --rev $r1 --key evil.key --index evilidx >/dev/null &&
	expect_reject acme/tiny@$r1 evilidx "signature is by key [0-9A-F]*, not by the trusted key" &&
	expect_reject acme/tiny evilidx "refs.json of acme/tiny: signature is by key"
'

test_expect_success 'no trusted key: no trust on first use' '
	mkdir -p nokey && modelswarm keygen zed --no-password >/dev/null &&
	modelswarm publish repo --repo zed/tiny --rev $r1 --key zed.key --index nokey >/dev/null &&
	test_expect_code 1 modelswarm verify --index nokey zed/tiny 2>err &&
	test_grep "no key is trusted for zed/tiny: pin the org.s key" err &&
	test "$(state_sum zed/tiny)" = none
'

test_expect_success 'rollback of the manifest and of refs.json' '
	modelswarm publish repo --repo acme/tiny --rev $r1 --key acme.key --index index >out &&
	test_grep "version 2" out &&
	modelswarm verify --index index acme/tiny >out &&
	test_grep "^verified acme/tiny@$r1 version 2" out &&
	expect_reject acme/tiny@$r1 v1 "rollback: manifest of acme/tiny@$r1 has version 1, older than version 2" &&
	expect_reject acme/tiny v1 "rollback: refs.json of acme/tiny has version 1, older than version 2"
'

test_expect_success 'the same version with different bytes' '
	mkdir sa sb &&
	SOURCE_DATE_EPOCH=$(($(date +%s) - 100)) modelswarm publish repo --repo acme/same \
		--rev $r1 --key acme.key --index sa >/dev/null &&
	SOURCE_DATE_EPOCH=$(($(date +%s) - 50)) modelswarm publish repo --repo acme/same \
		--rev $r1 --key acme.key --index sb >/dev/null &&
	modelswarm verify --index sa acme/same@$r1 >/dev/null &&
	expect_reject acme/same@$r1 sb "version 1 was seen before with different bytes"
'

test_expect_success 'expired manifest and expired refs' '
	mkdir ex &&
	SOURCE_DATE_EPOCH=$(($(date +%s) - 3 * 86400)) modelswarm publish repo --repo acme/old \
		--rev $r1 --key acme.key --index ex --expires 1 >/dev/null &&
	expect_reject acme/old@$r1 ex "manifest of acme/old@$r1 expired at" &&
	expect_reject acme/old ex "refs.json of acme/old expired at"
'

test_expect_success 'duplicate JSON key' '
	fresh &&
	edit_manifest bad $r1 "s/\"version\": 1,/\"version\": 1, \"version\": 1,/" &&
	expect_reject acme/tiny@$r1 bad "duplicate object key"
'

test_expect_success 'float and too large sizes' '
	fresh &&
	edit_manifest bad $r1 "s/\"size\": (\\d+),/\"size\": \${1}.0,/" &&
	expect_reject acme/tiny@$r1 bad "must be an integer" &&
	fresh &&
	edit_manifest bad $r1 "s/\"size\": (\\d+),/\"size\": 9007199254740993,/" &&
	expect_reject acme/tiny@$r1 bad "out of range"
'

# the first file of the manifest is .gitattributes; replacements sort first
for case in \
	'..\/x|component in' \
	'\/etc\/passwd|absolute path' \
	'a\\\\\\\\b|backslash in path' \
	'C:x|in path' \
	'a\\u0000b|JSON_ALLOW_NUL' \
	'a\\u0007|control character' \
	'Config.json|differ only by case' \
	'a\\u0301|combining marks' \
	'.git\/config|.git\/ is not part'
do
	path=${case%|*}
	msg=${case#*|}
	test_expect_success "bad path: $msg" '
		fresh &&
		edit_manifest bad $r1 "s/\"path\": \"\\.gitattributes\"/\"path\": \"$path\"/" &&
		! grep -q "\"path\": \".gitattributes\"" bad/acme/tiny/$r1.manifest.json &&
		expect_reject acme/tiny@$r1 bad "$msg"
	'
done

test_expect_success 'bad path: over-long component' '
	fresh &&
	long=$(printf "%0300d" 0) &&
	edit_manifest bad $r1 "s/\"path\": \"\\.gitattributes\"/\"path\": \"a\\/$long\"/" &&
	expect_reject acme/tiny@$r1 bad "longer than 255 bytes"
'

test_expect_success 'unknown _type and spec version' '
	fresh &&
	edit_manifest bad $r1 "s/modelswarm.release/modelswarm.other/" &&
	expect_reject acme/tiny@$r1 bad "unknown _type .modelswarm.other." &&
	fresh &&
	edit_manifest bad $r1 "s/\"spec_version\": 1/\"spec_version\": 2/" &&
	expect_reject acme/tiny@$r1 bad "spec_version 2 is not supported"
'

test_expect_success 'oversize manifest and signature are refused with bounded memory' '
	fresh &&
	truncate -s 2G bad/acme/tiny/$r1.manifest.json &&
	/usr/bin/time -f "maxrss_kb=%M" -o rss modelswarm verify --index bad acme/tiny@$r1 >out 2>err ||
		echo $? >rc &&
	test "$(cat rc)" = 1 &&
	test_grep "is too large" err &&
	rss=$(sed -n "s/^maxrss_kb=//p" rss) &&
	say "peak memory $rss KiB for a 2 GiB manifest" &&
	test "$rss" -lt 200000 &&
	fresh &&
	head -c 5000 /dev/zero | tr "\0" "A" >>bad/acme/tiny/$r1.manifest.json.minisig &&
	expect_reject acme/tiny@$r1 bad "too large"
'

test_done
