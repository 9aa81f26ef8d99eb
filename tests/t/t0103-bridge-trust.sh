#!/bin/sh
test_description='bridge keys: trusted inside their scope only, never over a pinned key, never on first use'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

r1=$(fake_rev bridged-1)
up=https://hub.example/acme/tiny
SQ="'"

# the key id of a .pub file
keyid () {
	sed -n '1s/.* \([0-9A-F]\{16\}\)$/\1/p' "$1"
}

# a bridged release of REPO at r1 (upstream URL is up's host plus REPO),
# signed with KEY, into INDEX
bridge_publish () {
	modelswarm publish repo --repo "$1" --rev $r1 --key "$2" --index "$3" \
		--bridge-source "https://hub.example/$1"
}

test_expect_success 'setup: a bridge, a lab and a repo' '
	modelswarm keygen hub --no-password >/dev/null &&
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm keygen stranger --no-password >/dev/null &&
	hub_id=$(keyid hub.pub) && acme_id=$(keyid acme.pub) &&
	test -n "$hub_id" && test -n "$acme_id" &&
	mkdir -p repo/tokenizer &&
	printf "{\"architectures\": [\"Tiny\"]}\n" >repo/config.json &&
	gen_file repo/model.bin 400000 &&
	gen_file repo/tokenizer/tokenizer.json 3000 &&
	: >repo/tokenizer/empty.txt
'

test_expect_success 'publish --bridge-source: the manifest says its source, the torrent is the lab'"'"'s' '
	bridge_publish acme/tiny hub.key bindex >out &&
	test_grep "^published acme/tiny@$r1 version 1: 4 files, .*, signed by key $hub_id$" out &&
	test_grep "^bridged from $up at commit $r1$" out &&
	m=bindex/acme/tiny/$r1.manifest.json &&
	tail -n 5 $m >actual &&
	printf "%s\n" "  \"source\": {" "    \"upstream\": \"$up\"," \
		"    \"commit\": \"$r1\"" "  }" "}" >expect &&
	test_cmp expect actual &&
	minisign -V -p hub.pub -m $m >out &&
	test_grep "Trusted comment: modelswarm manifest repo=acme/tiny revision=$r1 version=1" out &&
	modelswarm publish repo --repo acme/tiny --rev $r1 --key acme.key --index lindex >out &&
	! grep -q bridged out && ! grep -q source lindex/acme/tiny/$r1.manifest.json &&
	cmp bindex/acme/tiny/$r1.torrent lindex/acme/tiny/$r1.torrent
'

test_expect_success 'publish --bridge-source refuses a URL that is not http(s)' '
	test_expect_code 129 modelswarm publish repo --repo acme/tiny --rev $r1 --key hub.key \
		--index x --bridge-source ftp://hub.example/acme/tiny 2>err &&
	test_grep "error: --bridge-source: upstream URL .ftp://hub.example/acme/tiny. is not an http(s) URL" err &&
	test_expect_code 129 modelswarm publish repo --repo acme/tiny --rev $r1 --key hub.key \
		--index x --bridge-source "https://hub.example/a b" 2>err &&
	test_grep "has a space, a control or a non-ASCII byte" err &&
	! test -e x
'

test_expect_success 'no trust on first use: a bridged release with no key trusted' '
	test_expect_code 1 modelswarm verify --index bindex acme/tiny 2>err &&
	test_grep "^error: no key is trusted for acme/tiny: pin the org.s key (.modelswarm trust add acme KEY.) or trust a bridge for it (.modelswarm trust add --bridge NAME KEY --scope acme/\*.)$" err &&
	test "$(state_sum acme/tiny)" = none &&
	! test -e "$MODELSWARM_HOME/state/bridged"
'

test_expect_success 'trust add --bridge: a scope is required, names and scopes are checked' '
	test_expect_code 129 modelswarm trust add --bridge hub hub.pub 2>err &&
	test_grep "a bridge needs --scope GLOB (such as .acme/\*.): it is trusted only inside its scope" err &&
	test_expect_code 129 modelswarm trust add --bridge hub hub.pub --scope "*" 2>err &&
	test_grep "error: .\*. is not a scope: a glob over ORG/NAME such as .acme/\*. or .\*/\*." err &&
	test_expect_code 129 modelswarm trust add --bridge hub hub.pub --scope "acme/*,," 2>err &&
	test_grep "has an empty scope" err &&
	test_expect_code 129 modelswarm trust add --bridge ../hub hub.pub --scope "acme/*" 2>err &&
	test_grep "is not a bridge name" err &&
	test_expect_code 2 modelswarm trust add --bridge hub RWQnotakey --scope "acme/*" 2>err &&
	test_grep "is not a public key" err &&
	test_expect_code 129 modelswarm trust add acme acme.pub --scope "acme/*" 2>err &&
	test_grep "error: --scope goes with --bridge" err &&
	test_expect_code 129 modelswarm trust list --bridge hub 2>err &&
	modelswarm trust list >list &&
	test_must_be_empty list &&
	! test -e "$MODELSWARM_HOME/trusted"
'

test_expect_success 'trust add --bridge with scopes (repeated and comma lists); list shows them' '
	modelswarm trust add --bridge hub hub.pub --scope "acme/*,lab/*" --scope x/y >out &&
	echo "trusting key $hub_id as bridge ${SQ}hub${SQ} for ${SQ}acme/*${SQ}, ${SQ}lab/*${SQ}, ${SQ}x/y${SQ} (not for orgs with a pinned key)" >expect &&
	test_cmp expect out &&
	modelswarm trust list >list &&
	echo "bridge:hub $hub_id $(sed -n 2p hub.pub) acme/*,lab/*,x/y" >expect &&
	test_cmp expect list &&
	test_expect_code 2 modelswarm trust add --bridge hub acme.pub --scope "*/*" 2>err &&
	test_grep "bridge .hub. already has a different key; .modelswarm trust remove --bridge hub. first" err &&
	modelswarm trust list >list2 &&
	test_cmp list list2
'

test_expect_success 'a bridged release inside the scope verifies, and says what vouches for it' '
	modelswarm verify --index bindex acme/tiny >out &&
	test_grep "^verified acme/tiny@$r1 version 1: 4 files" out &&
	test_grep "^signed by key $hub_id of bridge .hub., trusted comment: modelswarm manifest repo=acme/tiny revision=$r1 version=1$" out &&
	test_grep "^bridged from $up at commit $r1: the upstream.s metadata vouches for these bytes, not a lab.s key$" out &&
	test -f "$MODELSWARM_HOME/state/bridged/hub/acme/tiny.json" &&
	test "$(state_sum acme/tiny)" = none &&
	modelswarm verify --manifest bindex/acme/tiny/$r1.manifest.json repo >out &&
	test_grep "of bridge .hub." out &&
	test_grep "matches: every file, size and sha256" out
'

test_expect_success 'outside its scope a bridge key is refused, naming the bridge and its scope' '
	bridge_publish beta/tiny hub.key bindex >/dev/null &&
	test_expect_code 1 modelswarm verify --index bindex beta/tiny@$r1 2>err &&
	test_grep "^error: manifest of beta/tiny@$r1: signed by bridge .hub. (key $hub_id), which is trusted for .acme/\*,lab/\*,x/y. only$" err &&
	test_expect_code 1 modelswarm verify --index bindex beta/tiny 2>err &&
	test_grep "^error: refs.json of beta/tiny: signed by bridge .hub." err &&
	test "$(state_sum beta/tiny)" = none
'

test_expect_success 'a key that no bridge in scope has is refused' '
	bridge_publish acme/other stranger.key bindex >/dev/null &&
	test_expect_code 1 modelswarm verify --index bindex acme/other@$r1 2>err &&
	test_grep "^error: manifest of acme/other@$r1: signature is by key $(keyid stranger.pub), not by a bridge trusted for acme/other$" err
'

test_expect_success 'a bridge signs only bridged releases: no source, refused' '
	modelswarm publish repo --repo acme/plain --rev $r1 --key hub.key --index bindex >/dev/null &&
	test_expect_code 1 modelswarm verify --index bindex acme/plain@$r1 2>err &&
	test_grep "^error: manifest of acme/plain@$r1: signed by bridge .hub., but the manifest has no source: a bridge signs only the releases it bridged$" err
'

test_expect_success 'setup: the bridged release is seeded' '
	ms_seed seed bindex/acme/tiny/$r1.torrent repo
'

test_expect_success 'get of a bridged release by a client trusting the bridge lands it' '
	timeout 120 modelswarm get acme/tiny --index bindex --cache-dir cache $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >get.out 2>get.err &&
	echo "$TRASH_DIRECTORY/cache/models--acme--tiny/snapshots/$r1" >expect &&
	test_cmp expect get.out &&
	same_tree repo cache/models--acme--tiny/snapshots/$r1 &&
	test "$(cat cache/models--acme--tiny/refs/main)" = $r1 &&
	test_grep "verified acme/tiny@$r1 version 1 (key $hub_id of bridge .hub.): 4 files" get.err &&
	test_grep "bridged from $up: the upstream.s metadata vouches for it, not a lab.s key" get.err
'

test_expect_success 'get --json says which bridge signed and the source' '
	timeout 120 modelswarm get acme/tiny@$r1 --index bindex --cache-dir cache2 --json $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port >json.out 2>json.err &&
	test_grep "\"event\": *\"verified\".*\"bridge\": *\"hub\"" json.out &&
	test_grep "\"event\": *\"verified\".*\"source\": *\"$up\"" json.out &&
	same_tree repo cache2/models--acme--tiny/snapshots/$r1
'

test_expect_success 'a lab'"'"'s pinned key always wins: the bridge is refused for its org' '
	modelswarm trust add acme acme.pub >/dev/null &&
	test_expect_code 1 modelswarm verify --index bindex acme/tiny@$r1 2>err &&
	test_grep "^error: manifest of acme/tiny@$r1: signed by bridge .hub. (key $hub_id), but .acme. has a pinned key: a lab.s pinned key always wins$" err &&
	test_expect_code 1 modelswarm get acme/tiny --index bindex --cache-dir cache3 $MS_NET \
		--listen 127.0.0.1:0 --peer 127.0.0.1:$seed_port 2>err &&
	test_grep "refs.json of acme/tiny: signed by bridge .hub. (key $hub_id), but .acme. has a pinned key" err &&
	! test -e cache3/models--acme--tiny/snapshots &&
	modelswarm verify --index lindex acme/tiny >out &&
	test_grep "^signed by key $acme_id, trusted comment" out &&
	! grep -q bridged out
'

test_expect_success 'the org'"'"'s key does not sign a manifest with a source' '
	modelswarm publish repo --repo acme/tiny2 --rev $r1 --key acme.key --index lindex \
		--bridge-source https://hub.example/acme/tiny2 >/dev/null &&
	test_expect_code 1 modelswarm verify --index lindex acme/tiny2@$r1 2>err &&
	test_grep "^error: manifest of acme/tiny2@$r1: the manifest says it was bridged from .https://hub.example/acme/tiny2., but it is signed by the org.s key, not by a bridge$" err
'

test_expect_success 'trust remove --bridge (or rm), and nothing is trusted again' '
	modelswarm trust rm --bridge hub >out &&
	test_grep "^removed the trusted bridge .hub.$" out &&
	test_expect_code 1 modelswarm trust remove --bridge hub 2>err &&
	test_grep "^error: no trusted bridge .hub.$" err &&
	modelswarm trust remove acme >/dev/null &&
	modelswarm trust list >list &&
	test_must_be_empty list &&
	test_expect_code 1 modelswarm verify --index bindex acme/tiny@$r1 2>err &&
	test_grep "no key is trusted for acme/tiny" err
'

test_expect_success 'a bridge for every repo (*/*) covers another org' '
	modelswarm trust add --bridge hub hub.pub --scope "*/*" >/dev/null &&
	modelswarm verify --index bindex beta/tiny@$r1 >out &&
	test_grep "^signed by key $hub_id of bridge .hub." out
'

test_done
