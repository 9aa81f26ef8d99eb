#!/bin/sh
# Install the Debian packages modelswarm needs that are not installed yet.
#   tools/deps.sh build   libraries, compilers, pkg-config
#   tools/deps.sh test    programs the tests drive (trackers, peers, nginx)
set -e

build_pkgs="pkg-config gcc g++ make libtorrent-rasterbar-dev libuv1-dev
libcurl4-openssl-dev libjansson-dev libsodium-dev libssl-dev"
test_pkgs="perl curl opentracker aria2 transmission-cli qbittorrent-nox
nginx-light minisign mktorrent util-linux procps man-db git clang
libclang-rt-14-dev"

want=
for set in "$@"; do
	case "$set" in
	build) want="$want $build_pkgs" ;;
	test) want="$want $test_pkgs" ;;
	*) echo "usage: tools/deps.sh build|test..." >&2; exit 129 ;;
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
[ -z "$missing" ] && exit 0

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
