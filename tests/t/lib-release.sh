# lib-release.sh: helpers for tests of signed releases (source after
# test-lib.sh)

# fake_rev WORD: a 40-hex revision derived from WORD
fake_rev () {
	printf '%s' "$1" | sha1sum | cut -c1-40
}

# resign FILE KEY: sign FILE again with the stock minisign and KEY (an
# unencrypted key), keeping the trusted comment of FILE.minisig
resign () {
	tc=$(sed -n 's/^trusted comment: //p' "$1.minisig") &&
	rm -f "$1.minisig" &&
	minisign -S -s "$2" -m "$1" -t "$tc" >/dev/null
}

# small_repo DIR: a repo with a 12 MB shard (LFS by size), a .gitattributes,
# json files, a nested file and an empty file
small_repo () {
	mkdir -p "$1/tokenizer" &&
	gen_file "$1/model.safetensors" 12000000 &&
	gen_file "$1/small.bin" 70000 &&
	printf '{"architectures": ["Tiny"]}\n' >"$1/config.json" &&
	printf '*.bin filter=lfs diff=lfs merge=lfs -text\n' >"$1/.gitattributes" &&
	gen_file "$1/tokenizer/tokenizer.json" 3000 &&
	: >"$1/tokenizer/empty.txt"
}

# state_sum REPO: checksum of the rollback state of ORG/NAME ("none" if
# there is none), to show that a failed verification changed nothing
state_sum () {
	f="$MODELSWARM_HOME/state/releases/$1.json"
	if test -f "$f"; then sha256sum <"$f" | cut -c1-64; else echo none; fi
}

# publish_tiny REV: key acme (trusted), a two-file repo in repo/, published
# as acme/tiny@REV into index/
publish_tiny () {
	modelswarm keygen acme --no-password >/dev/null &&
	modelswarm trust add acme acme.pub >/dev/null &&
	mkdir -p repo index &&
	echo "{}" >repo/config.json &&
	gen_file repo/model.bin 300000 &&
	modelswarm publish repo --repo acme/tiny --rev "$1" --key acme.key --index index >/dev/null
}
