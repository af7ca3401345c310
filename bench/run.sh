#!/usr/bin/env bash
# bench/run.sh - `make bench`: the figures in BENCHMARKS.md, from one run.
#
#   - size of the stripped static binary;
#   - wall time and peak RSS of `furrow version` and `furrow check`
#     (median of RUNS runs, /usr/bin/time);
#   - warm build: a fresh copy of the tree, dependencies cached;
#   - cold dependency build (musl flavour) into an empty cache, from the
#     already verified sources (skip with BENCH_COLD=0: takes minutes).
# Results go to build/bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FURROW=$PWD/$BUILD/furrow
RUNS=${RUNS:-30}
out=$PWD/$BUILD/bench
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/furrow-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
results=$out/results.md
: >"$results"
note() { echo "$*" | tee -a "$results"; }

# median wall seconds and median max RSS (KiB) of RUNS runs of a command
measure() { # label, command...
	local label=$1 i
	shift
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null 2>&1 || true
		cat "$work/t"
	done >"$work/all"
	python3 - "$label" "$work/all" <<'PY' | tee -a "$results"
import statistics, sys
rows = [l.split() for l in open(sys.argv[2]) if l.strip() and not l.startswith("Command")]
wall = statistics.median(float(r[0]) for r in rows)
rss = statistics.median(int(r[1]) for r in rows)
print(f"| {sys.argv[1]} | {wall*1000:.1f} ms | {rss/1024:.2f} MiB |")
PY
}

note "# furrow bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -r)"
note
note "binary: $(stat -c %s "$FURROW") bytes ($(python3 -c "print(round($(stat -c %s "$FURROW")/1048576, 2))") MiB), stripped, static"
note
note "| command | median wall | median peak RSS |"
note "|---|---|---|"
printf 'return { host = { id = "bench" }, source = { url = "/srv/x" }, trust = { commit_signers = "s" } }\n' >"$work/agent.lua"
: >"$work/s"
measure "furrow version" "$FURROW" version
measure "furrow check" "$FURROW" -c "$work/agent.lua" check
measure "/bin/true (floor)" /bin/true
note

mkdir -p "$work/warm"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$work/warm" -xf -
start=$(date +%s.%N)
make -s -C "$work/warm" build/furrow >/dev/null
note "warm build (deps cached, fresh tree): $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"

if [ "${BENCH_COLD:-1}" = 1 ]; then
	key=$(image/deps-key.sh musl)
	start=$(date +%s.%N)
	image/build-deps.sh musl "$work/cache/deps/musl-$key" >"$work/cold.log" 2>&1
	note "cold dependency build, musl flavour (sources already fetched): $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
fi
echo "results in $results"
