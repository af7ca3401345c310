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

# Median wall time, CPU (user+sys, children included) and peak RSS of
# RUNS runs.  Peak RSS comes from GNU time (wait4: the largest process of
# the tree) because a python parent's own memory would count as the
# child's until its exec; wall and CPU from python's clock and wait4.
measure() { # label, command...
	local label=$1 i
	shift
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -f '%M' -o "$work/t" "$@" >/dev/null 2>&1 || true
		tail -n1 "$work/t"
	done >"$work/rss"
	RSS_FILE=$work/rss python3 - "$label" "$RUNS" "$@" <<'PY' | tee -a "$results"
import os, statistics, sys, time
label, runs, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
wall, cpu, rss = [], [], []
for _ in range(runs):
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_RDWR)
        os.dup2(fd, 1); os.dup2(fd, 2)
        os.execvp(cmd[0], cmd)
    _, status, ru = os.wait4(pid, 0)
    wall.append(time.perf_counter() - t0)
    cpu.append(ru.ru_utime + ru.ru_stime)
med = statistics.median
rss = [int(l) for l in open(os.environ["RSS_FILE"]) if l.strip()]
print(f"| {label} | {med(wall)*1000:.2f} ms | {med(cpu)*1000:.2f} ms | {med(rss)/1024:.2f} MiB |")
PY
}

note "# furrow bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(uname -r)"
note
note "binary: $(stat -c %s "$FURROW") bytes ($(python3 -c "print(round($(stat -c %s "$FURROW")/1048576, 2))") MiB), stripped, static"
note
note "| command | median wall | median CPU | median peak RSS |"
note "|---|---|---|---|"
printf 'return { host = { id = "bench" }, source = { url = "/srv/x" }, trust = { commit_signers = "s" } }\n' >"$work/agent.lua"
: >"$work/s"
# Measure only what works: a failing command would be fast for nothing.
"$FURROW" -c "$work/agent.lua" check --quiet
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
