#!/bin/sh
test_description='the Hugging Face endpoint: transformers.js loads a tokenizer and runs an ONNX model from it'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIRECTORY/lib-release.sh"
. "$TEST_DIRECTORY/lib-daemon.sh"

r1=$(fake_rev hf-transformers-1)
NODE_MODULES=$MS_ROOT/tests/node/node_modules

test_expect_success 'setup: a tiny model (tokenizer, ONNX) published, held by the daemon' '
	test -d "$NODE_MODULES/@huggingface/transformers" &&
	test -d "$NODE_MODULES/protobufjs" &&
	node "$MS_ROOT/tests/node/tiny-model.mjs" v1 &&
	( cd v1 && find . -type f | sed "s|^\./||" | LC_ALL=C sort ) >files &&
	printf "%s\n" config.json onnx/model.onnx tokenizer.json tokenizer_config.json >expect &&
	test_cmp expect files &&
	hf_serve_release v1 acme/tiny $r1
'

EP=http://127.0.0.1:$(cat hf.port 2>/dev/null)

# js STEP...: the transformers.js client against the endpoint, cache in jscache
js () {
	NODE_PATH="$NODE_MODULES" timeout 120 \
		node "$MS_ROOT/tests/node/hf-transformers.mjs" "$EP/" acme/tiny jscache "$@"
}

test_expect_success 'AutoTokenizer.from_pretrained: the exact token ids' '
	js tokenizer >tok.out &&
	# [CLS] the swarm carries model ##s , [UNK] . [SEP]
	echo "ids 2 5 6 7 8 9 15 1 12 3" >expect &&
	test_cmp expect tok.out &&
	cmp jscache/acme/tiny/tokenizer.json v1/tokenizer.json &&
	cmp jscache/acme/tiny/tokenizer_config.json v1/tokenizer_config.json
'

test_expect_success 'feature-extraction pipeline (fp32, mean pooling): what the model computes' '
	js pipeline >pipe.out &&
	# rows of the embedding table [i, i*i/8, i%3-1, i odd ? 0.5 : -0.25],
	# averaged over [CLS] the swarm carries model ##s . [SEP] = 2 5 6 7 8 9 12 3
	# and over [CLS] peer bytes [SEP] = 2 10 13 3 (its padding left out)
	cat >expect <<-\EOF &&
	dims 2 4
	mean 6.5 6.4375 -0.125 0.125
	mean 7 8.8125 0 0.125
	EOF
	test_cmp expect pipe.out &&
	cmp jscache/acme/tiny/onnx/model.onnx v1/onnx/model.onnx &&
	cmp jscache/acme/tiny/config.json v1/config.json
'

test_expect_success 'a model the daemon does not hold: a clear error, nothing cached' '
	test_must_fail env NODE_PATH="$NODE_MODULES" timeout 120 \
		node "$MS_ROOT/tests/node/hf-transformers.mjs" "$EP/" acme/other jscache2 pipeline \
		2>err &&
	test_grep "\"$EP/acme/other/resolve/main/config.json\"" err &&
	! test -e jscache2/acme/other
'

test_expect_success 'the daemon stops cleanly' '
	stop_daemon
'

test_done
