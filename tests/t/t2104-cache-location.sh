#!/bin/sh
test_description='get finds the Hugging Face cache as huggingface_hub does: XDG_CACHE_HOME, HF_HOME, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, ~ and $VAR'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"

rev=$(fake_rev cache-location)

# got DIR: the release landed in the hub cache DIR, and get said so
got () {
	echo "$1/models--acme--tiny/snapshots/$rev" >expect &&
	test_cmp expect get.out &&
	test "$(cat "$1/models--acme--tiny/refs/main")" = $rev &&
	same_tree repo "$1/models--acme--tiny/snapshots/$rev"
}

# get_here: get the release from the seeder, the environment says where
get_here () {
	timeout 120 modelswarm get acme/tiny --index index --no-daemon \
		--peer 127.0.0.1:$seed_port $MS_NET --listen 127.0.0.1:0 >get.out 2>get.err
}

test_expect_success 'setup: a release published and seeded' '
	publish_tiny $rev &&
	ms_seed seed index/acme/tiny/$rev.torrent repo
'

test_expect_success 'only XDG_CACHE_HOME: $XDG_CACHE_HOME/huggingface/hub' '
	XDG_CACHE_HOME="$PWD/xdg" get_here &&
	got "$PWD/xdg/huggingface/hub" &&
	! test -e .cache
'

test_expect_success 'HF_HOME before XDG_CACHE_HOME, with $VAR expanded' '
	HF_HOME="\$HOME/hf-home" XDG_CACHE_HOME="$PWD/xdg-no" get_here &&
	got "$HOME/hf-home/hub" &&
	! test -e xdg-no && ! test -e "\$HOME"
'

test_expect_success 'HF_HUB_CACHE=~/x is $HOME/x, no directory named ~' '
	HF_HUB_CACHE="~/x" HF_HOME="$PWD/home-no" get_here &&
	got "$HOME/x" &&
	! test -e "~" && ! test -e home-no
'

test_expect_success 'the legacy HUGGINGFACE_HUB_CACHE, after HF_HUB_CACHE' '
	HUGGINGFACE_HUB_CACHE="\${HOME}/legacy" HF_HOME="$PWD/home-no" get_here &&
	got "$HOME/legacy" &&
	HF_HUB_CACHE="$PWD/new" HUGGINGFACE_HUB_CACHE="$PWD/legacy-no" get_here &&
	got "$PWD/new" &&
	! test -e legacy-no && ! test -e home-no
'

test_expect_success 'no variable: ~/.cache/huggingface/hub' '
	get_here &&
	got "$HOME/.cache/huggingface/hub"
'

test_done
