#!/usr/bin/env bash
# harness.sh - run every test program and total the TAP results.
#
# Unit tests (build/dev/tests/test_*, sanitizer build), CLI tests
# (tests/t[0-9]*.sh, on the static binary), then a short run of each fuzz
# target over its corpus.  Prints a summary line per program and, last,
# "N passed, N failed".  Exit status 0 only if nothing failed.
#   TESTS='t0001*' tests/harness.sh   runs a subset of the CLI tests.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"
passed=0 failed=0 skipped=0 bad_programs=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_tap() { # name, command...
	local name=$1 log=$LOGDIR/${1//\//-}.log rc p f s
	shift
	local start=$SECONDS
	"$@" >"$log" 2>&1 </dev/null
	rc=$?
	p=$(grep -c '^ok ' "$log")
	s=$(grep -c '^ok .*# SKIP' "$log")
	f=$(grep -c '^not ok ' "$log")
	p=$((p - s))
	# A whole program skipped ("1..0 # SKIP why") counts as one skip.
	if grep -q '^1\.\.0 # SKIP' "$log"; then
		s=$((s + 1)); skipped=$((skipped + 1))
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	if [ $rc -ne 0 ] && [ $f -eq 0 ]; then
		# A crash or an early exit is a failure even without "not ok".
		failed=$((failed + 1)); f=1
	fi
	printf '%-36s %4d passed %3d failed %3d skipped %4ds\n' "$name" $p $f $s $((SECONDS - start))
	if [ $f -ne 0 ]; then
		bad_programs+=("$name")
		grep -v '^ok ' "$log" | tail -n 60 | sed 's/^/    /'
	fi
}

for t in "$BUILD"/dev/tests/test_*; do
	[ -x "$t" ] || continue
	run_tap "unit/$(basename "$t")" "$t"
done

for t in tests/${TESTS:-t[0-9]*}.sh; do
	[ -f "$t" ] || continue
	run_tap "$(basename "$t" .sh)" bash "$t"
done

run_tap fuzz-smoke tests/fuzz/smoke.sh

echo
if [ ${#bad_programs[@]} -gt 0 ]; then
	echo "failing: ${bad_programs[*]} (logs in $LOGDIR)"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
