#!/usr/bin/env bash
# smoke.sh - run each built libFuzzer target for a bounded time over a
# scratch copy of its seed corpus; TAP, one line per target.
#
#   BUILD=build FUZZ_SECONDS=20 tests/fuzz/smoke.sh
#
# Targets are $BUILD/fuzz/fuzz_*; seeds tests/fuzz/corpus/<target>/.  New
# inputs and crash artifacts go to a temp dir, never into the repository;
# the temp dir is kept (and named) when a target fails.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-15}

targets=()
for t in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$t" ] && [ -f "$t" ] && targets+=("$t")
done

if [ ${#targets[@]} -eq 0 ]; then
	echo "1..0 # SKIP no fuzz targets in $BUILD/fuzz (make fuzz)"
	exit 0
fi

echo "1..${#targets[@]}"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/furrow-fuzz.XXXXXX") || exit 1
n=0 failed=0
for t in "${targets[@]}"; do
	n=$((n + 1))
	name=$(basename "$t")
	work=$scratch/$name
	mkdir -p "$work/corpus" "$work/artifacts"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp -R "tests/fuzz/corpus/$name/." "$work/corpus/"
	fi
	start=$SECONDS
	"$t" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=1024 \
		-timeout=10 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" \
		>"$work/log" 2>&1 </dev/null
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	if [ $rc -eq 0 ]; then
		echo "ok $n - $name: ${runs:-?} runs in $((SECONDS - start))s, no crash"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name: exit $rc after $((SECONDS - start))s"
		echo "#   log and artifacts kept in $work"
		grep -E 'ERROR|SUMMARY|Test unit written|^==[0-9]+==' "$work/log" |
			head -n 20 | sed 's/^/#   /'
	fi
done
if [ $failed -eq 0 ]; then
	rm -rf "$scratch"
fi
[ $failed -eq 0 ]
