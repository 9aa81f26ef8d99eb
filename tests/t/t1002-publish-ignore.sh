#!/bin/sh
test_description='publish: the ignore list (.cache/huggingface/) and --exclude'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

rev=$(fake_rev ignore)
m=index/acme/tiny/$rev.manifest.json

# what hf download --local-dir leaves next to the files
hf_cache () {
	mkdir -p "$1/.cache/huggingface/download/tokenizer" &&
	printf "*\n" >"$1/.cache/huggingface/.gitignore" &&
	printf "abc\n0123\n1.0\n" >"$1/.cache/huggingface/download/config.json.metadata" &&
	printf "abc\n4567\n1.0\n" >"$1/.cache/huggingface/download/tokenizer/tokenizer.json.lock"
}

test_expect_success 'setup: key, trust, a repo made by hf download --local-dir' '
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	small_repo repo &&
	hf_cache repo &&
	mkdir -p repo/.cache/other &&
	echo keep >repo/.cache/other/kept.txt &&
	mkdir index
'

test_expect_success 'publish leaves .cache/huggingface/ out and says so' '
	modelswarm publish repo --repo acme/tiny --rev $rev --key acme.key \
		--index index >out 2>err &&
	test_grep "^left out: .cache/huggingface/ (3 files, written by hf download)$" out &&
	test_grep "^published acme/tiny@$rev version 1: 7 files" out &&
	! grep -q "huggingface" $m &&
	test_grep "\"path\": \".cache/other/kept.txt\"" $m &&
	test_grep "\"path\": \"tokenizer/empty.txt\"" $m
'

test_expect_success 'verify --manifest of that directory applies the same list' '
	modelswarm verify --manifest $m repo >out &&
	test_grep "matches: every file, size and sha256" out
'

test_expect_success 'verify --manifest: a .cache/huggingface/ made later is no extra file' '
	rev4=$(fake_rev later) &&
	small_repo later &&
	modelswarm publish later --repo acme/later --rev $rev4 --key acme.key \
		--index index >out &&
	! grep -q "^left out" out &&
	hf_cache later &&
	modelswarm verify --manifest index/acme/later/$rev4.manifest.json later >out &&
	test_grep "matches: every file, size and sha256" out
'

test_expect_success 'a file outside the list is still an extra file' '
	echo x >repo/.cache/stray &&
	test_expect_code 1 modelswarm verify --manifest $m repo 2>err &&
	test_grep "error: .\.cache/stray. is not in the manifest" err &&
	rm repo/.cache/stray
'

test_expect_success 'the list is for the top of DIR only' '
	rev2=$(fake_rev nested) &&
	mkdir -p repo2/sub &&
	small_repo repo2/sub &&
	hf_cache repo2/sub &&
	modelswarm publish repo2 --repo acme/nested --rev $rev2 --key acme.key \
		--index index >out &&
	! grep -q "^left out" out &&
	test_grep "\"path\": \"sub/.cache/huggingface/.gitignore\"" \
		index/acme/nested/$rev2.manifest.json
'

test_expect_success '--exclude GLOB leaves out more, by base name or by path' '
	rev3=$(fake_rev exclude) &&
	modelswarm publish repo --repo acme/tiny --rev $rev3 --key acme.key \
		--index index --exclude "*.bin" --exclude "tokenizer/*.json" >out &&
	m3=index/acme/tiny/$rev3.manifest.json &&
	test_grep "^left out by --exclude: 2 files$" out &&
	test_grep "^left out: .cache/huggingface/ (3 files" out &&
	test_grep "^published acme/tiny@$rev3 version 2: 5 files" out &&
	! grep -q "small.bin" $m3 &&
	! grep -q "tokenizer.json" $m3 &&
	test_grep "\"path\": \"tokenizer/empty.txt\"" $m3
'

test_expect_success '--exclude of every file leaves nothing to publish' '
	test_expect_code 2 modelswarm publish repo --repo acme/tiny --rev $rev3 \
		--key acme.key --index index --exclude "*" 2>err &&
	test_grep "has no files" err
'

test_expect_success '.git/ is still refused, not ignored' '
	mkdir repo/.git &&
	test_expect_code 2 modelswarm publish repo --repo acme/tiny --rev $rev3 \
		--key acme.key --index index 2>err &&
	test_grep "contains .git/" err &&
	rmdir repo/.git
'

test_done
