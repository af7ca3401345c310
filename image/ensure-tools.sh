#!/usr/bin/env bash
# ensure-tools.sh build|test - make sure the Debian 12 packages that the
# build (or the tests) need are installed.  As root, installs what is
# missing with apt-get; otherwise prints the command to run and fails.
# Quiet when everything is already there, so `make` stays fast.
set -euo pipefail

build_pkgs=(musl-tools musl-dev gcc make cmake pkg-config dpkg-dev patch
	autoconf automake libtool python3 file xz-utils bzip2 git ca-certificates
	curl openssh-client)
test_pkgs=(clang libclang-rt-14-dev openssh-client git python3 file time openssl
	nginx-light fcgiwrap iproute2 iptables
	binutils procps
	# promtool, and servers that t0031 starts itself on free ports
	prometheus prometheus-node-exporter
	# t0041: a Debian root with systemd as PID 1 of a Podman container
	mmdebstrap podman runc
	# t0040: Podman's API service, a registry, images built from busybox
	skopeo docker-registry busybox-static apache2-utils
	# t0050: kill points at LMDB commits, reading the backup store raw
	strace lmdb-utils)

case ${1:-build} in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "furrow: missing Debian packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
