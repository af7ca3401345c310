#!/usr/bin/env bash
# deps-key.sh FLAVOUR — print the cache key of a dependency prefix:
# first 16 hex chars of sha256(deps.lock + build-deps.sh + flavour + CC version).
# Used as ${FURROW_CACHE:-$HOME/.cache/furrow}/deps/<flavour>-<key>; any change
# to the pins, the recipe or the compiler gives a new prefix. For musl the
# musl-dev package version is added too (it is linked into every binary).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 musl|glibc" >&2; exit 1; }
case $1 in
  musl)  CC=musl-gcc ;;
  glibc) CC=gcc ;;
  *) echo "deps-key: unknown flavour '$1' (musl|glibc)" >&2; exit 1 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
ccv=$(env -u LC_ALL LANG=C "$CC" --version 2>/dev/null | head -n1) || true
[ -n "$ccv" ] || { echo "deps-key: $CC not found" >&2; exit 1; }
extra=
[ "$1" = musl ] && extra=$(dpkg-query -W -f='musl-dev ${Version}' musl-dev 2>/dev/null || true)
{ cat "$HERE/deps.lock" "$HERE/build-deps.sh"; printf '%s\n%s\n%s\n' "$1" "$ccv" "$extra"; } |
  sha256sum | cut -c1-16
