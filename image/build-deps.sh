#!/usr/bin/env bash
# build-deps.sh FLAVOUR PREFIX — build furrow's third-party C libraries as
# static archives from the Debian bookworm sources pinned in image/deps.lock.
#
#   FLAVOUR musl  : CC=musl-gcc, for the fully static release binary
#   FLAVOUR glibc : CC=gcc, same libraries/options, for the ASan/UBSan dev build
#
# Result: PREFIX/{lib,include,lib/pkgconfig}, PREFIX/versions.txt and
# PREFIX/.complete. Everything is installed into a staging dir next to PREFIX
# and renamed into place at the very end, so PREFIX exists only when whole.
# Sources: ${FURROW_SRC:-${FURROW_CACHE:-$HOME/.cache/furrow}/sources}, fetched and
# sha256-verified by image/fetch-sources.sh. Scratch tree: PREFIX/../build-FLAVOUR
# (removed on success unless FURROW_KEEP_BUILD=1); logs: PREFIX/../logs-FLAVOUR.
# An existing complete PREFIX is left alone unless FURROW_DEPS_FORCE=1.
#
# Why the odd flags (recipe and traps: shared/notes/static-build.md):
# * -ffunction-sections -fdata-sections: lets the final link --gc-sections.
# * -ffile-prefix-map=<dir>=. : no build/stage paths in objects (reproducible);
#   SOURCE_DATE_EPOCH comes from deps.lock (overriding the Makefile's git-time
#   one: the prefix must not depend on the commit); archives are made in ar's
#   deterministic mode (D) so two builds give identical .a files.
# * env is scrubbed (LIBRARY_PATH etc.) and PKG_CONFIG_LIBDIR points only at
#   our prefix: musl-gcc's linker still searches /usr/lib/x86_64-linux-gnu, and
#   host -dev packages (zlib, openssl, brotli, idn2) must never leak in.
# * mbedTLS: CMAKE_BUILD_TYPE=None because its CMakeLists hard-sets
#   CMAKE_C_FLAGS_RELEASE=-O2; TLS 1.0/1.1 compiled out (CBC record splitting
#   must go too or check_config.h errors); threading on, as Debian does.
# * libgit2: CMAKE_C_FLAGS_RELEASE=-DNDEBUG, else CMake appends -O3. Debian's
#   +ds tarball has no deps/, hence system http-parser, REGEX_BACKEND=regcomp
#   (musl has no regcomp_l, no pcre), NTLM off (deps/ntlmclient gone).
#   No CERT_LOCATION: with one, every git_libgit2_init() parses the whole
#   CA bundle (~3.5 ms per process, and furrow starts a git child several
#   times a pass); gitsync_fetch() sets the CA file on every https fetch.
# * curl: dpkg-source applies 90_gnutls/99_nss (they rename the library to
#   libcurl-gnutls/-nss); revert them, then autoreconf -fi because the Debian
#   patches touch configure.ac/Makefile.am. Only lib/ is built (libtool makes
#   the CLI a dynamic PIE under musl-gcc anyway). NTLM is off, as in libgit2.
# * Lua: Debian's Makefile is libtool-based, so objects are compiled directly;
#   its module-path patch includes lua5.4-deb-multiarch.h, which only
#   debian/rules generates — we write (and install) it. LUA_USE_POSIX, not
#   LUA_USE_LINUX (dlopen is useless in a static binary).
# * libsodium: Debian's orig tarball has no configure script -> autoreconf -fi;
#   --enable-minimal keeps Ed25519 verify + sodium_version_string (nm-checked).
# * zstd (libzstd): compiled directly (upstream's lib/Makefile hashes flags
#   into object dirs and appends its own CFLAGS); only lib/libzstd.a, no
#   programs. Left out: legacy formats (ZSTD_LEGACY_SUPPORT=0), dictBuilder/,
#   deprecated/, and multithreading (no ZSTD_MULTITHREAD; zstdmt_compress.c,
#   pool.c, threading.c not compiled - nothing else references them);
#   ZSTD_TRACE=0 (no weak trace hooks). Error strings stay (furrow reports
#   them). Measured on a 2.1 MB tar of furrow's tree, musl -O2, 5 runs
#   (stripped static size of a compress+decompress program, median MB/s):
#     all inlined                      +529 KB  L1 506/1945  L3 326/1831
#     NO_INLINE in lazy/opt/ldm only   +344 KB  L1 505/1940  L3 321/1845
#     ... + HUF X1 + SEQUENCES_SHORT   +299 KB  L1 498/1840  L3 324/1824
#     NO_INLINE in all compress/       +295 KB  L1 479/1933  L3 319/1817
#     ... + HUF X1 + SEQUENCES_SHORT   +250 KB  L1 475/1835  L3 315/1820
#     NO_INLINE everywhere             +242 KB  L1 454/1094  L3 317/ 846
#     DYNAMIC_BMI2=0 (+X1+SHORT)       +463 KB  decompression -15..25%
#   (compress/decompress MB/s). ZSTD_NO_INLINE goes on compress/*.c only:
#   furrow compresses at levels 1-3 (fast/dfast), and the lazy/opt/ldm
#   matchers' inlined templates it never runs are most of the size (-185 KB
#   at no cost); fast/dfast lose ~5% (L1) / ~2% (L3) for -49 KB more.
#   HUF_FORCE_DECOMPRESS_X1 + ZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT: -45 KB
#   for ~5% decompression speed (still ~1.8 GB/s). Decompression keeps full
#   inlining (NO_INLINE there halves its speed), BMI2 dispatch and the amd64
#   Huffman asm. -fno-tree-vectorize on zstd_decompress_block.c, as upstream
#   does for GCC; XXH_NAMESPACE=ZSTD_ as upstream (no xxhash symbol clash).
# * Each step runs as `set +e; ( set -e; step ); rc=$?` — never inside
#   if/||/&&, which would silently disable errexit in the step (gotcha 11).
set -euo pipefail

die() { echo "build-deps: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $0 musl|glibc PREFIX"
FLAVOUR=$1
case $FLAVOUR in
  musl)  CC=musl-gcc; MULTIARCH=x86_64-linux-musl ;;
  glibc) CC=gcc;      MULTIARCH=x86_64-linux-gnu ;;
  *) die "unknown flavour '$FLAVOUR' (musl|glibc)" ;;
esac

HERE=$(cd "$(dirname "$0")" && pwd)
LOCK=$HERE/deps.lock
mkdir -p "$(dirname "$2")"
TOP=$(cd "$(dirname "$2")" && pwd)
PREFIX=$TOP/$(basename "$2")
B=$TOP/build-$FLAVOUR                          # scratch build tree
LOGS=$TOP/logs-$FLAVOUR
S=$TOP/.stage-$FLAVOUR-$(basename "$PREFIX")   # staging prefix, renamed at the end
SRC=${FURROW_SRC:-${FURROW_CACHE:-$HOME/.cache/furrow}/sources}   # same dir the Makefile fetches into

if [ -f "$PREFIX/.complete" ] && [ "${FURROW_DEPS_FORCE:-0}" != 1 ]; then
  exit 0
fi

# One build per flavour dir at a time (make -j, two terminals...).
exec 9>"$TOP/.lock-$FLAVOUR"
flock 9
if [ -f "$PREFIX/.complete" ] && [ "${FURROW_DEPS_FORCE:-0}" != 1 ]; then exit 0; fi

# ---- environment -----------------------------------------------------------
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin   # no pyenv/ccache shims
unset LIBRARY_PATH CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH CFLAGS CPPFLAGS CXXFLAGS LDFLAGS LIBS \
      PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR MAKEFLAGS MFLAGS GCC_EXEC_PREFIX
export CC AR=ar RANLIB=ranlib LC_ALL=C TZ=UTC
export AR_FLAGS=crD ARFLAGS=crD                 # libtool/automake archives: deterministic
export PKG_CONFIG_LIBDIR=$S/lib/pkgconfig PKG_CONFIG_PATH=
SOURCE_DATE_EPOCH=$(sed -n 's/^#[[:space:]]*SOURCE_DATE_EPOCH[[:space:]]\{1,\}\([0-9]\{1,\}\).*/\1/p' "$LOCK" | head -1)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
umask 022
JOBS=2
OPT="-O2 -ffunction-sections -fdata-sections"
CFL="$OPT -ffile-prefix-map=$B=. -ffile-prefix-map=$S=/furrow-deps"
PY=/usr/bin/python3                            # Debian's python, for mbedTLS config.py
CMAKE_DET=(-DCMAKE_C_ARCHIVE_CREATE="<CMAKE_AR> qcD <TARGET> <LINK_FLAGS> <OBJECTS>"
           -DCMAKE_C_ARCHIVE_APPEND="<CMAKE_AR> qD <TARGET> <LINK_FLAGS> <OBJECTS>"
           -DCMAKE_C_ARCHIVE_FINISH="<CMAKE_RANLIB> -D <TARGET>")

for t in "$CC" cmake make autoreconf libtoolize dpkg-source ar pkg-config flock "$PY"; do
  command -v "$t" >/dev/null || die "missing tool: $t (apt-get install musl-tools cmake make autoconf automake libtool dpkg-dev pkg-config python3)"
done

# Versions from the lock: ver PKG.  awk reads the file itself: a `sed | awk
# '... exit'` pipe dies of SIGPIPE under pipefail once the lock outgrows
# sed's 4 KiB output buffer (awk exits while sed still writes).
ver() { awk -v p="$1" '{ sub(/#.*/, "") } $1==p { print $2; exit }' "$LOCK"; }

# ---- sources -----------------------------------------------------------------
"$HERE/fetch-sources.sh" "$SRC" >/dev/null

rm -rf "$B" "$S" "$LOGS"
mkdir -p "$B" "$S/lib/pkgconfig" "$S/include" "$LOGS"
: > "$LOGS/timings.txt"

# dir PKG -> path of the unpacked tree
dir() { echo "$B/$1"; }

# ---- step runner (errexit-safe) ----------------------------------------------
step() { # step NAME FUNC
  local name=$1 fn=$2 rc t0 t1
  t0=$(date +%s.%N)
  set +e
  ( set -euxo pipefail; "$fn" ) >"$LOGS/$name.log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s.%N)
  awk -v n="$name" -v a="$t0" -v b="$t1" 'BEGIN { printf "%-12s %6.1f s\n", n, b - a }' >>"$LOGS/timings.txt"
  if [ $rc -ne 0 ]; then
    echo "build-deps: step '$name' ($FLAVOUR) FAILED (rc=$rc); last lines of $LOGS/$name.log:" >&2
    tail -n 40 "$LOGS/$name.log" >&2
    exit 1
  fi
}

# pc NAME DESC VERSION LIBS [REQUIRES] — relocatable .pc for libs that ship none
pc() {
  cat >"$S/lib/pkgconfig/$1.pc" <<EOF
prefix=\${pcfiledir}/../..
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: $1
Description: $2 (furrow static build)
Version: $3
Requires.private: ${5:-}
Libs: -L\${libdir} $4
Cflags: -I\${includedir}
EOF
}

s_unpack() {
  local p v f
  for p in zlib mbedtls http-parser lmdb lua5.4 curl libgit2 cjson libsodium libzstd; do
    v=$(ver "$p"); v=${v#*:}                # filenames carry no epoch
    f=$SRC/${p}_$v.dsc
    [ -f "$f" ] || { echo "missing $f"; exit 1; }
    dpkg-source -x "$f" "$(dir "$p")"
  done
}

s_zlib() {
  cd "$(dir zlib)"
  CFLAGS="$CFL" ./configure --static --prefix="$S"
  make -j$JOBS libz.a
  make install
}

s_mbedtls() {
  cd "$(dir mbedtls)"
  $PY scripts/config.py set MBEDTLS_THREADING_C
  $PY scripts/config.py set MBEDTLS_THREADING_PTHREAD
  $PY scripts/config.py unset MBEDTLS_SSL_PROTO_TLS1
  $PY scripts/config.py unset MBEDTLS_SSL_PROTO_TLS1_1
  $PY scripts/config.py unset MBEDTLS_SSL_CBC_RECORD_SPLITTING
  cmake -S . -B _b -DCMAKE_BUILD_TYPE=None -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFL" \
    -DCMAKE_INSTALL_PREFIX="$S" -DLIB_INSTALL_DIR=lib "${CMAKE_DET[@]}" \
    -DUSE_STATIC_MBEDTLS_LIBRARY=ON -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
    -DENABLE_PROGRAMS=OFF -DENABLE_TESTING=OFF -DMBEDTLS_FATAL_WARNINGS=OFF \
    -DPython3_EXECUTABLE=$PY
  cmake --build _b -j$JOBS
  cmake --install _b
  local v; v=$(ver mbedtls); v=${v%-*}
  pc mbedcrypto "mbed TLS crypto" "$v" "-lmbedcrypto -lpthread"
  pc mbedx509   "mbed TLS X.509"  "$v" "-lmbedx509" mbedcrypto
  pc mbedtls    "mbed TLS"        "$v" "-lmbedtls" "mbedx509, mbedcrypto"
}

s_http_parser() {
  cd "$(dir http-parser)"
  $CC $CFL -I. -DHTTP_PARSER_STRICT=0 -c http_parser.c -o http_parser.o
  rm -f libhttp_parser.a; ar rcsD libhttp_parser.a http_parser.o
  install -m644 http_parser.h "$S/include/"
  install -m644 libhttp_parser.a "$S/lib/"
  local v; v=$(ver http-parser); pc http_parser "HTTP request/response parser" "${v%-*}" -lhttp_parser
}

s_lmdb() {
  cd "$(dir lmdb)/libraries/liblmdb"
  make -j$JOBS CC="$CC" AR=ar OPT="$CFL" liblmdb.a
  install -m644 lmdb.h "$S/include/"
  install -m644 liblmdb.a "$S/lib/"
  local v; v=$(ver lmdb); pc lmdb "Lightning memory-mapped database" "${v%-*}" "-llmdb -lpthread"
}

LUA_OBJS="lapi lcode lctype ldebug ldo ldump lfunc lgc llex lmem lobject lopcodes lparser lstate
  lstring ltable ltm lundump lvm lzio lauxlib lbaselib lcorolib ldblib liolib lmathlib loadlib
  loslib lstrlib ltablib lutf8lib linit"
# luai_makeseed fixed at 0: Lua otherwise seeds its string hash from the
# clock and addresses, so pairs() order (and anything a policy derives from
# it) would differ between runs; furrow promises the same plan for the same
# inputs.  Hash flooding is bounded by the sandbox's memory and instruction
# caps, and the input is signed.
s_lua() {
  cd "$(dir lua5.4)/src"
  printf '#ifndef _LUA_DEB_MULTIARCH_\n#define _LUA_DEB_MULTIARCH_\n#define DEB_HOST_MULTIARCH "%s"\n#endif\n' \
    "$MULTIARCH" > lua5.4-deb-multiarch.h
  export CC CFL
  printf '%s\n' $LUA_OBJS | xargs -P$JOBS -I{} \
    sh -c '$CC -std=gnu99 $CFL -DLUA_COMPAT_5_3 -DLUA_USE_POSIX "-Dluai_makeseed(L)=0u" -c {}.c -o {}.o'
  local objs=""; for f in $LUA_OBJS; do [ -f "$f.o" ] || { echo "missing $f.o"; exit 1; }; objs="$objs $f.o"; done
  rm -f liblua.a; ar rcsD liblua.a $objs
  install -m644 lua.h luaconf.h lualib.h lauxlib.h lua.hpp lua5.4-deb-multiarch.h "$S/include/"
  install -m644 liblua.a "$S/lib/"
  local v; v=$(ver lua5.4); pc lua "Lua 5.4 (static, LUA_USE_POSIX)" "${v%-*}" "-llua -lm"
}

s_curl() {
  cd "$(dir curl)"
  patch -R -p1 < debian/patches/99_nss.patch
  patch -R -p1 < debian/patches/90_gnutls.patch
  autoreconf -fi
  local ldf=""; [ "$FLAVOUR" = musl ] && ldf=-static   # for configure's test links only
  LDFLAGS="$ldf" CFLAGS="$CFL" ./configure --prefix="$S" --disable-shared --enable-static --with-pic=no \
    --disable-dependency-tracking \
    --with-mbedtls="$S" --without-openssl --without-gnutls --without-wolfssl --without-bearssl \
    --without-rustls --without-nss --with-zlib="$S" --without-brotli --without-zstd --without-libpsl \
    --without-libidn2 --without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-quiche \
    --without-libssh2 --without-libssh --without-librtmp --without-gssapi --without-hyper \
    --without-libgsasl --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-path \
    --enable-http --enable-file --enable-proxy --enable-ipv6 --enable-threaded-resolver \
    --enable-unix-sockets \
    --disable-ftp --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet \
    --disable-tftp --disable-pop3 --disable-imap --disable-smtp --disable-gopher --disable-mqtt \
    --disable-smb --disable-manual --disable-ntlm-wb --disable-ntlm
  grep -E '^ *(SSL|Protocols|Features):' config.log || true
  make -j$JOBS -C lib
  make -C lib install
  make -C include install
  make install-pkgconfigDATA install-binSCRIPTS
}

s_libgit2() {
  cd "$(dir libgit2)"
  cmake -S . -B _b -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE=-DNDEBUG \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFL" -DCMAKE_INSTALL_PREFIX="$S" \
    -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_PREFIX_PATH="$S" "${CMAKE_DET[@]}" \
    -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTS=OFF -DBUILD_CLI=OFF -DBUILD_EXAMPLES=OFF -DBUILD_FUZZERS=OFF \
    -DENABLE_REPRODUCIBLE_BUILDS=ON -DUSE_SSH=OFF -DUSE_GSSAPI=OFF -DUSE_NTLMCLIENT=OFF \
    -DUSE_BUNDLED_ZLIB=OFF -DUSE_HTTPS=mbedTLS -DUSE_SHA1=CollisionDetection -DUSE_SHA256=mbedTLS \
    -DUSE_HTTP_PARSER=system -DREGEX_BACKEND=regcomp -DUSE_THREADS=ON \
    -DMBEDTLS_ROOT_DIR="$S" -DMBEDTLS_INCLUDE_DIR="$S/include" -DMBEDTLS_LIBRARY="$S/lib/libmbedtls.a" \
    -DMBEDX509_LIBRARY="$S/lib/libmbedx509.a" -DMBEDCRYPTO_LIBRARY="$S/lib/libmbedcrypto.a" \
    -DHTTP_PARSER_INCLUDE_DIR="$S/include" -DHTTP_PARSER_LIBRARY="$S/lib/libhttp_parser.a" \
    -DZLIB_INCLUDE_DIR="$S/include" -DZLIB_LIBRARY="$S/lib/libz.a"
  cmake --build _b -j$JOBS
  cmake --install _b
}

s_cjson() {
  cd "$(dir cjson)"
  $CC $CFL -std=c89 -c cJSON.c -o cJSON.o
  rm -f libcjson.a; ar rcsD libcjson.a cJSON.o
  install -m644 cJSON.h "$S/include/"
  install -d "$S/include/cjson"; install -m644 cJSON.h "$S/include/cjson/"   # Debian/upstream layout
  install -m644 libcjson.a "$S/lib/"
  local v; v=$(ver cjson); pc libcjson "cJSON" "${v%-*}" "-lcjson -lm"
}

s_libsodium() {
  cd "$(dir libsodium)"
  # --enable-minimal drops only the non-default primitives (scrypt, xchacha
  # secretbox/box, ed25519 core/ristretto, salsa20/12, /8); Ed25519 sign/verify
  # and sodium_version_string stay — checked with nm below.
  autoreconf -fi   # Debian's orig tarball is a git export without configure
  CFLAGS="$CFL" ./configure --prefix="$S" --disable-shared --enable-static --with-pic=no \
    --enable-minimal --disable-dependency-tracking
  make -j$JOBS
  make install
  local syms; syms=$(nm -g --defined-only "$S/lib/libsodium.a" 2>/dev/null)   # no grep -q in a pipe: SIGPIPE+pipefail
  for sym in crypto_sign_ed25519_verify_detached crypto_sign_verify_detached sodium_version_string sodium_init; do
    grep -q " T $sym\$" <<<"$syms" || { echo "libsodium lacks $sym"; exit 1; }
  done
}

# Upstream's libzstd.a file set minus multithreading (see the header).
ZSTD_SRCS="common/debug common/entropy_common common/error_private common/fse_decompress
  common/xxhash common/zstd_common compress/fse_compress compress/hist compress/huf_compress
  compress/zstd_compress compress/zstd_compress_literals compress/zstd_compress_sequences
  compress/zstd_compress_superblock compress/zstd_double_fast compress/zstd_fast
  compress/zstd_lazy compress/zstd_ldm compress/zstd_opt decompress/huf_decompress
  decompress/zstd_ddict decompress/zstd_decompress decompress/zstd_decompress_block"
s_zstd() {
  cd "$(dir libzstd)/lib"
  local def="-DXXH_NAMESPACE=ZSTD_ -DDEBUGLEVEL=0 -DZSTD_LEGACY_SUPPORT=0 -DZSTD_TRACE=0 \
    -DHUF_FORCE_DECOMPRESS_X1 -DZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT"
  local f extra objs=""
  rm -rf _o; mkdir _o
  for f in $ZSTD_SRCS; do
    case $f in
      compress/*) extra=-DZSTD_NO_INLINE ;;
      decompress/zstd_decompress_block) extra=-fno-tree-vectorize ;;
      *) extra= ;;
    esac
    echo "$CC $CFL $def $extra -c $f.c -o _o/${f##*/}.o"
  done > _o/cmds
  echo "$CC $CFL $def -c decompress/huf_decompress_amd64.S -o _o/huf_decompress_amd64.o" >> _o/cmds
  xargs -P$JOBS -I{} sh -c '{}' < _o/cmds
  for f in $ZSTD_SRCS decompress/huf_decompress_amd64; do
    [ -f "_o/${f##*/}.o" ] || { echo "missing _o/${f##*/}.o"; exit 1; }; objs="$objs _o/${f##*/}.o"
  done
  rm -f libzstd.a; ar rcsD libzstd.a $objs
  install -m644 zstd.h zstd_errors.h "$S/include/"
  install -m644 libzstd.a "$S/lib/"
  local syms; syms=$(nm -g --defined-only "$S/lib/libzstd.a" 2>/dev/null)
  for sym in ZSTD_compress2 ZSTD_decompressDCtx ZSTD_getFrameContentSize ZSTD_versionString; do
    grep -q " T $sym\$" <<<"$syms" || { echo "libzstd lacks $sym"; exit 1; }
  done
  if grep -qE " T (ZSTDMT_|ZDICT_|ZSTDv0)" <<<"$syms"; then echo "libzstd has mt/dict/legacy code"; exit 1; fi
  local v; v=$(ver libzstd); pc libzstd "zstd fast lossless compression" "${v%%+*}" -lzstd
}

s_finish() {
  cd "$S"
  rm -rf share lib/*.la lib/cmake/*.la
  # Stage paths -> relocatable ${pcfiledir} in .pc files, final PREFIX elsewhere.
  local f
  for f in lib/pkgconfig/*.pc; do
    sed -i "s|$S|\${pcfiledir}/../..|g" "$f"
  done
  grep -rlI -F "$S" . | while read -r f; do sed -i "s|$S|$PREFIX|g" "$f"; done
  if grep -rl -F "$S" .; then echo "stage path left in the files above"; exit 1; fi
  sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$LOCK" | awk '!seen[$1]++ { print $1, $2 }' > versions.txt
  # Normalise mtimes too, so a tar of the prefix is reproducible ...
  find . -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  # ... except the marker, which keeps the real time so make sees it as newer
  # than deps.lock/build-deps.sh.
  { echo "flavour $FLAVOUR"; echo "cc $($CC --version | head -1)"; echo "source_date_epoch $SOURCE_DATE_EPOCH"; } > .complete
}

step unpack      s_unpack
step zlib        s_zlib
step mbedtls     s_mbedtls
step http-parser s_http_parser
step lmdb        s_lmdb
step lua         s_lua
step curl        s_curl
step libgit2     s_libgit2
step cjson       s_cjson
step libsodium   s_libsodium
step zstd        s_zstd
step finish      s_finish

# Atomic publish: PREFIX appears only complete.
rm -rf "$PREFIX"
mv -T "$S" "$PREFIX"
[ "${FURROW_KEEP_BUILD:-0}" = 1 ] || rm -rf "$B"
echo "build-deps: $FLAVOUR -> $PREFIX ($(awk '{s+=$2} END {printf "%.0f", s}' "$LOGS/timings.txt") s)"
