#!/bin/sh
# Install the Debian packages modelswarm needs that are not installed yet.
#   tools/deps.sh build   libraries, compilers, pkg-config
#   tools/deps.sh test    programs the tests drive (trackers, peers, nginx)
#                         and the npm packages in tests/node
#   tools/deps.sh node    the npm packages in tests/node only (make demo)
set -e

build_pkgs="pkg-config gcc g++ make libtorrent-rasterbar-dev libuv1-dev
libcurl4-openssl-dev libjansson-dev libsodium-dev libssl-dev libmicrohttpd-dev"
test_pkgs="perl curl opentracker aria2 transmission-cli transmission-daemon qbittorrent-nox
nginx-light openssl minisign mktorrent util-linux procps man-db git clang time strace
libclang-rt-14-dev iproute2 tmux"

want=
npm_too=
for set in "$@"; do
	case "$set" in
	build) want="$want $build_pkgs" ;;
	test) want="$want $test_pkgs"; npm_too=1 ;;
	node) npm_too=1 ;;
	*) echo "usage: tools/deps.sh build|test|node..." >&2; exit 129 ;;
	esac
done

missing=
for p in $want; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
install_npm () {
	# the npm packages the tests drive (tests/node/package.json), into
	# tests/node/node_modules; without install scripts: onnxruntime-node's
	# would download GPU libraries, and its CPU binding ships in the package
	root=$(cd "$(dirname "$0")/.." && pwd)
	test -n "$npm_too" || return 0
	have=1
	for m in $(sed -n '/"dependencies"/,/}/s/^[[:space:]]*"\([^"]*\)": *".*/\1/p' \
		"$root/tests/node/package.json"); do
		test -d "$root/tests/node/node_modules/$m" || have=
	done
	test -n "$have" && return 0
	if ! command -v npm >/dev/null 2>&1; then
		echo "error: npm is needed for the tests (Node.js 18 or later)" >&2
		exit 2
	fi
	echo "installing npm packages into tests/node" >&2
	npm install --prefix "$root/tests/node" --ignore-scripts --no-audit --no-fund \
		--loglevel=error >&2
}

if [ -z "$missing" ]; then
	install_npm
	exit 0
fi

echo "installing missing packages:$missing" >&2
if [ "$(id -u)" = 0 ]; then
	sudo=
elif command -v sudo >/dev/null 2>&1; then
	sudo=sudo
else
	echo "error: need root (or sudo) to install:$missing" >&2
	exit 2
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing >&2
install_npm
