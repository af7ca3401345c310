#!/usr/bin/env bash
# fetch-sources.sh DLDIR — download the Debian source packages pinned in
# image/deps.lock into DLDIR and verify every file's sha256 against the lock.
#
# * Sources come only from Debian's archive via `apt-get source`; nothing is
#   vendored. If apt has no deb-src entry we add one in a separate file
#   (furrow-deb-src.sources) mirroring debian.sources (incl. security), so the
#   distro's own file is never edited.
# * Files already present with the right hash are not downloaded again;
#   `--download-only` so nothing is unpacked here (build-deps.sh does that).
# * Quiet on success: one line per package.
set -euo pipefail

die() { echo "fetch-sources: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 DLDIR"

HERE=$(cd "$(dirname "$0")" && pwd)
LOCK=$HERE/deps.lock
[ -r "$LOCK" ] || die "missing $LOCK"
mkdir -p "$1"
DL=$(cd "$1" && pwd)

sha() { sha256sum "$1" | cut -d' ' -f1; }

# Lock lines without comments/blank lines: PKG VERSION SHA256 FILE
lock_lines() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$LOCK"; }

# ---- ensure a deb-src entry (only when something must be downloaded) -------
ensure_deb_src() {
  local d=/etc/apt/sources.list.d
  if grep -qsE '^Types:.*deb-src' "$d"/*.sources /etc/apt/sources.list.d/furrow-deb-src.sources 2>/dev/null ||
     grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list "$d"/*.list 2>/dev/null; then
    return 0
  fi
  [ -r "$d/debian.sources" ] || die "no deb-src entry and no $d/debian.sources to copy from"
  # Copy each deb822 stanza with Types: deb -> deb-src (keeps URIs/Suites/
  # Components/Signed-By, incl. the bookworm-security stanza).
  sed -e 's/^Types:.*/Types: deb-src/' -e '/^#/d' "$d/debian.sources" \
    > "$d/furrow-deb-src.sources.tmp"
  mv "$d/furrow-deb-src.sources.tmp" "$d/furrow-deb-src.sources"
  apt-get update -qq >/dev/null || die "apt-get update failed"
}

# ---- download + verify -----------------------------------------------------
need_download() { # PKG -> 0 if any of its files is missing or has a wrong hash
  local p v h f
  while read -r p v h f; do
    [ "$p" = "$1" ] || continue
    [ -f "$DL/$f" ] && [ "$(sha "$DL/$f")" = "$h" ] || return 0
  done < <(lock_lines)
  return 1
}

pkgs=$(lock_lines | awk '!seen[$1]++ { print $1 "=" $2 }')
[ -n "$pkgs" ] || die "no packages in $LOCK"

srcs_ready=0
for pv in $pkgs; do
  p=${pv%%=*}
  if need_download "$p"; then
    if [ $srcs_ready = 0 ]; then ensure_deb_src; srcs_ready=1; fi
    # Remove stale/wrong files of this package so apt re-fetches them.
    while read -r lp _ lh lf; do
      [ "$lp" = "$p" ] || continue
      if [ -f "$DL/$lf" ] && [ "$(sha "$DL/$lf")" != "$lh" ]; then rm -f "$DL/$lf"; fi
    done < <(lock_lines)
    log=$(mktemp)
    if ! (cd "$DL" && apt-get source --download-only -qq "$pv") >"$log" 2>&1; then
      # apt-get update may be needed on a machine whose lists are stale.
      if ! { apt-get update -qq >/dev/null 2>&1 &&
             (cd "$DL" && apt-get source --download-only -qq "$pv"); } >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"; die "apt-get source $pv failed"
      fi
    fi
    rm -f "$log"
  fi
done

# Verify every pinned file (also the ones that were already there).
bad=0
while read -r p v h f; do
  if [ ! -f "$DL/$f" ]; then
    echo "fetch-sources: MISSING $f ($p $v): expected sha256 $h, actual: (no file)" >&2; bad=1; continue
  fi
  a=$(sha "$DL/$f")
  if [ "$a" != "$h" ]; then
    echo "fetch-sources: HASH MISMATCH $f ($p $v): expected $h, actual $a" >&2; bad=1
  fi
done < <(lock_lines)
[ $bad = 0 ] || die "source verification failed (lock: $LOCK, dir: $DL)"

for pv in $pkgs; do echo "ok ${pv/=/ }"; done
