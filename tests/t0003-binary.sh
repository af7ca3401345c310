#!/usr/bin/env bash
# The artifact: one static, stripped, small, reproducible binary.
. "$(dirname "$0")/lib.sh"

test_expect_success 'the binary is statically linked and stripped' '
	file "$FURROW" >out &&
	test_grep "statically linked" out &&
	test_grep "stripped" out &&
	! grep -q "not stripped" out &&
	{ ldd "$FURROW" 2>&1 || true; } >ldd.out &&
	test_grep -E "not a dynamic executable|statically linked" ldd.out &&
	! readelf -l "$FURROW" | grep -q INTERP
'

test_expect_success 'the binary is under 3 MiB' '
	size=$(stat -c %s "$FURROW") &&
	echo "size $size" &&
	test "$size" -lt 3145728
'

test_expect_success 'the final link used nothing outside the private prefix, musl and gcc' '
	test -s "$BUILD/link-trace.txt" &&
	! grep -E "x86_64-linux-gnu/lib[a-z0-9_]+\.(a|so)" "$BUILD/link-trace.txt" &&
	test_grep -c "libgit2.a" "$BUILD/link-trace.txt"
'

test_expect_success 'the link check refuses a glibc archive' '
	prefix=$(dirname "$(grep -m1 -o "/[^ ()]*/libgit2.a" "$BUILD/link-trace.txt")")/.. &&
	cp "$BUILD/link-trace.txt" trace &&
	echo "/usr/lib/x86_64-linux-gnu/libz.a" >>trace &&
	test_must_fail "$SRC_DIR/image/check-link.sh" trace "$prefix" 2>err &&
	test_grep "x86_64-linux-gnu/libz.a" err
'

test_expect_success 'two clean builds in different directories are byte-identical' '
	rev=$(git -C "$SRC_DIR" rev-parse --short=12 HEAD 2>/dev/null || echo test) &&
	for d in one two-with-a-longer-path; do
		mkdir -p "$d/src" &&
		(cd "$SRC_DIR" && git ls-files -co --exclude-standard -z |
			tar --null -T - -cf -) | tar -C "$d/src" -xf - &&
		make -s -C "$d/src" BUILD=build GIT_REV=$rev SOURCE_DATE_EPOCH=1700000000 \
			build/furrow >"$d.log" 2>&1 || { cat "$d.log"; exit 1; }
	done &&
	sha256sum one/src/build/furrow two-with-a-longer-path/src/build/furrow >sums &&
	cat sums &&
	test "$(cut -d" " -f1 sums | sort -u | wc -l)" = 1
'

test_expect_success 'a source file whose hash differs from the lock stops the build' '
	mkdir img dl &&
	cp "$SRC_DIR/image/fetch-sources.sh" img/ &&
	grep "^http-parser " "$SRC_DIR/image/deps.lock" |
		sed "/\.dsc\$/s/ [0-9a-f]\{64\} / $(printf "%064d" 0) /" >img/deps.lock &&
	test_expect_code 1 img/fetch-sources.sh dl 2>err &&
	test_grep "HASH MISMATCH http-parser_2.9.4-5.dsc" err &&
	test_grep "expected 0000000000000000" err
'

test_expect_success 'make sbom lists every linked dependency with hashes and licences' '
	make -s -C "$SRC_DIR" BUILD="$BUILD" sbom >/dev/null &&
	python3 - "$BUILD/sbom.cdx.json" <<-\PY
	import json, sys
	d = json.load(open(sys.argv[1]))
	assert d["bomFormat"] == "CycloneDX", d
	names = {c["name"] for c in d["components"]}
	want = {"zlib", "mbedtls", "libgit2", "http-parser", "curl", "lua5.4", "lmdb", "cjson", "libsodium", "libzstd"}
	assert names == want, names
	for c in d["components"]:
	    assert c["version"] and c["licenses"], c
	    refs = c["externalReferences"]
	    assert all(len(h["content"]) == 64 for r in refs for h in r.get("hashes", [])), c
	PY
'

test_done
