#!/usr/bin/env bash
# check-link.sh TRACEFILE PREFIX — guard the static musl release link against
# host leakage. TRACEFILE is the output of the final link run with
# -Wl,--trace. musl-gcc's ld still searches /usr/lib/x86_64-linux-gnu (ld's
# built-in SEARCH_DIR) where glibc-built libz.a/libssl.a/... live, so a missing
# -L or a misordered -l links them silently. Every archive (and shared
# object) must come from PREFIX, musl's directory (/usr/lib/musl,
# /usr/lib/x86_64-linux-musl) or gcc's own directory; loose objects under
# system dirs (crt files) must come from there too. The program's own objects
# (anywhere else, e.g. /tmp/cc*.o or the build tree) are fine.
# Prints nothing and exits 0 on success; exit 1 naming the offenders otherwise.
# Not used for the glibc (sanitizer) flavour.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 TRACEFILE PREFIX" >&2; exit 2; }
TRACE=$1
[ -r "$TRACE" ] || { echo "check-link: cannot read $TRACE" >&2; exit 2; }
[ -d "$2" ] || { echo "check-link: no prefix dir $2" >&2; exit 2; }

gccdir=$(dirname "$(gcc -print-libgcc-file-name)")
allowed=()
for d in "$2" /usr/lib/musl /usr/lib/x86_64-linux-musl "$gccdir"; do
  allowed+=("$(realpath -m "$d")/")
  [ -e "$d" ] && allowed+=("$(realpath "$d")/")
done

ok_path() { local p=$1 a; for a in "${allowed[@]}"; do case $p in "$a"*) return 0 ;; esac; done; return 1; }

bad=()
seen=0
# ld --trace lines: "/x/libfoo.a(member.o)", "(/x/libfoo.a)member.o" (older ld),
# "-lfoo (/x/libfoo.a)", "/x/file.o", "/x/libc.so"; ignore "ld: mode ..." etc.
while IFS= read -r line; do
  line=${line%$'\r'}
  case $line in
    *": "*|"") continue ;;                     # ld messages ("/usr/bin/ld: mode ...", errors)
    -l*" ("*")") f=${line#*(}; f=${f%)} ;;
    "("*")"*) f=${line#(}; f=${f%%)*} ;;
    *"("*")") f=${line%%(*} ;;
    *) f=$line ;;
  esac
  case $f in /*) ;; *) continue ;; esac        # only paths (skip ld chatter)
  seen=1
  p=$(realpath -m "$f")
  case $p in
    *.a|*.so|*.so.*) ok_path "$p" || bad+=("$p") ;;
    *.o|*.obj) case $p in /usr/*|/lib/*|/lib64/*) ok_path "$p" || bad+=("$p") ;; esac ;;
    *) ok_path "$p" || bad+=("$p") ;;
  esac
done < "$TRACE"

[ $seen = 1 ] || { echo "check-link: no input files in $TRACE (was the link run with -Wl,--trace?)" >&2; exit 1; }
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-link: objects linked from outside $2, musl or gcc ($gccdir):" >&2
  printf '%s\n' "${bad[@]}" | sort -u | sed 's/^/  /' >&2
  exit 1
fi
