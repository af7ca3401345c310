#!/usr/bin/env bash
# bench/plan.sh - `furrow plan` over a desired-state repository of 1,000 apps.
#
#   - the repository: furrow.lua declaring APPS apps (default 1,000), a mix
#     of kinds: container apps pinned by digest with ports, volumes, env,
#     limits and an http/tcp health check; service apps with files, exec,
#     env, limits, data and a tcp/exec health check; a few systemd and files
#     apps; in every other block of ten apps each depends on the next
#     (chains of ten, declared against apply order), and every 20th app is
#     selected away from the host by `on`.  It
#     declares policy "std:require-digest", "std:maintenance-window" and
#     "std:canary-waves".  One commit signed with an ssh ed25519 key, pushed
#     to a local bare repository, fetched once with `furrow sync`;
#   - `furrow plan --json` with FURROW_NOW fixed inside the maintenance
#     window and after the host's canary wave (so every change is allowed),
#     against an empty applied state: 950 creates, each through the three
#     policies;
#   - `furrow check --tree` on the working tree of the same commit.
#
# Wall, user and sys CPU come from wait4(2) of each command (bench/rusage.py),
# so they include every child furrow forks (config, read, furrow.lua,
# policies).  Peak RSS is that of the largest single process of the tree,
# read as VmHWM at each process's exit under ptrace (rusage.py --trace) in
# separate runs; /usr/bin/time %M from one extra run as a cross-check.
# Medians of RUNS runs after one discarded warm-up.
#
# Appends a markdown table to $OUT (default $BUILD/bench/plan.md) and prints
# it.  Environment: BUILD (build), FURROW ($BUILD/furrow), RUNS (10),
# APPS (1000), OUT.  Needs: git, ssh-keygen, python3, /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${BUILD:-build}
FURROW=$(realpath "${FURROW:-$BUILD/furrow}")
RUNS=${RUNS:-10}
APPS=${APPS:-1000}
OUT=${OUT:-$SRC/$BUILD/bench/plan.md}
mkdir -p "$(dirname "$OUT")"
RUSAGE=$SRC/bench/rusage.py

work=$(mktemp -d "${TMPDIR:-/tmp}/furrow-bench-plan.XXXXXX")
# furrow's read and evaluation children run as uid 65534 when furrow is root.
chmod 711 "$work"
trap 'rm -rf "$work"' EXIT
export HOME=$work/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME"
K=$work/keys
W=$work/src
log() { echo "bench/plan.sh: $*" >&2; }
# Sat 2026-11-28 02:00:00 UTC: inside "Sat 01:00-05:00", long after the
# commit's canary wave.
NOW=1795831200

# ---- the repository -------------------------------------------------------
log "creating a repository of $APPS apps"
mkdir -p "$K"
for k in operator security; do
	ssh-keygen -q -t ed25519 -N "" -C $k -f "$K/$k"
done
echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
	>"$K/allowed_signers"
echo "security@example.net namespaces=\"furrow-policy\" $(cut -d" " -f1,2 "$K/security.pub")" \
	>"$K/policy_signers"
git init -q -b main "$W"
python3 - "$W" "$APPS" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in ("services/common/bin", "units", "etc/motd.d"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
open(os.path.join(root, "services/common/bin/svc"), "w").write("#!/bin/sh\nexec sleep inf\n")
open(os.path.join(root, "units/agent.service"), "w").write("[Service]\nExecStart=/bin/true\n")
open(os.path.join(root, "etc/motd.d/10-furrow"), "w").write("managed by furrow\n")
L = ["serial = 1",
     'policy "std:require-digest"',
     'policy "std:maintenance-window" { windows = { "Sat 01:00-05:00", "Wed 22:00-02:00" }, utc_offset = "+00:00" }',
     'policy "std:canary-waves" { waves = 4, delay = 600 }']
def q(s): return '"' + s + '"'
def strs(xs): return "{ " + ", ".join(q(x) for x in xs) + " }"
for i in range(n):
    name = f"app-{i:04d}"
    dig = hashlib.sha256(name.encode()).hexdigest()
    f = []
    r = i % 10
    if r < 5:  # container
        port = 10000 + i
        f += ['kind = "container"',
              f'image = "registry.local/fleet/{name}:1.{i % 7}@sha256:{dig}"',
              f'ports = {strs([f"127.0.0.1:{port}:80", f"{port + 20000}:8443/tcp"])}',
              f'volumes = {strs([f"data:/var/lib/{name}", "cache:/cache:ro"])}',
              f'env = {{ LOG_LEVEL = "info", APP_NAME = {q(name)}, REPLICA = "{i}", UPSTREAM = "http://127.0.0.1:{port}/" }}',
              f'limits = {{ memory = "{64 * (1 + i % 8)}M", cpu = {0.25 * (1 + i % 4)}, pids = 256 }}']
        if i % 2:
            f.append(f'health = {{ http = "http://127.0.0.1:{port}/healthz", interval = 2, retries = 3, settle = 5 }}')
        else:
            f.append(f'health = {{ tcp = "127.0.0.1:{port}", interval = 5 }}')
        if i % 3 == 0:
            f.append(f'backup = {{ paths = {{ "data" }}, every = "6h", keep = 14 }}')
    elif r < 9:  # service
        f += ['kind = "service"', 'files = "services/common"',
              f'exec = {strs(["bin/svc", "--name", name, "--port", str(20000 + i)])}',
              f'env = {{ LOG_LEVEL = "debug", APP_NAME = {q(name)} }}',
              f'limits = {{ memory = "128M", nofile = 4096 }}',
              f'data = {{ "db" }}']
        if i % 2:
            f.append(f'health = {{ tcp = "127.0.0.1:{20000 + i}" }}')
        else:
            f.append(f'health = {{ exec = {strs(["bin/svc", "--check"])}, timeout = 1 }}')
        f.append('strategy = "stop-first"')
    elif i % 20 == 9:
        f += ['kind = "systemd"', 'unit = "units/agent.service"']
    else:
        f += ['kind = "files"', 'files = "etc/motd.d"', f'target = "/etc/motd.d/{name}"']
    if i % 20 > 10:  # a chain of ten in every other block of ten, last first
        f.append(f'depends_on = {{ "app-{i + 1 if i % 20 < 19 else i - 9:04d}" }}')
    if i % 20 == 7:
        f.append('on = { role = "elsewhere" }')           # selected away
    elif i % 5 == 0:
        f.append('on = { role = "gateway", site = "pune" }')
    L.append(f'app "{name}" {{\n  ' + ",\n  ".join(f) + ",\n}")
open(os.path.join(root, "furrow.lua"), "w").write("\n".join(L) + "\n")
PY
git -C "$W" add -A
git -C "$W" -c user.name=Operator -c user.email=op@example.net \
	-c gpg.format=ssh -c user.signingkey="$K/operator" \
	commit -q -S -m "$APPS apps"
mkdir -p "$work/srv"
git init -q --bare -b main "$work/srv/state.git"
git -C "$W" push -q "$work/srv/state.git" HEAD:refs/heads/main
chmod -R go+rX "$work/srv"
lua_bytes=$(wc -c <"$W/furrow.lua")

mkdir -p "$work/agent"
cat >"$work/agent/agent.lua" <<EOF
return {
  host = { id = "edge-1", labels = { role = "gateway", site = "pune" } },
  source = { url = "$work/srv/state.git" },
  trust = { commit_signers = "$K/allowed_signers",
            policy_signers = "$K/policy_signers" },
  state_dir = "state",
}
EOF
log "furrow sync"
"$FURROW" -c "$work/agent/agent.lua" sync >"$work/sync.out" 2>&1 || {
	cat "$work/sync.out" >&2; exit 1; }

PLAN=("$FURROW" -c "$work/agent/agent.lua" plan --json)
CHECK=("$FURROW" check --tree "$W" --quiet)
export FURROW_NOW=$NOW
# The plan itself, for the table (and a sanity check of what is measured).
rc=0
"${PLAN[@]}" >"$work/plan.json" 2>"$work/plan.err" || rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 4 ]; then
	log "furrow plan failed (exit $rc)"; cat "$work/plan.err" >&2; exit 1
fi
plan_rc=$rc
plan_bytes=$(wc -c <"$work/plan.json")
summary=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d["summary"], sort_keys=True)); ' "$work/plan.json")
"${CHECK[@]}" >"$work/check.out" 2>&1 || { cat "$work/check.out" >&2; exit 1; }

# ---- measuring --------------------------------------------------------------
results=$work/results.jsonl
: >"$results"
# record CASE MODE OKRC -- command: one run through rusage.py.
record() {
	local case=$1 mode=$2 okrc=$3 json
	shift 4
	if [ "$mode" = traced ]; then
		json=$(python3 "$RUSAGE" --trace --out "$work/cmd.out" -- "$@")
	else
		json=$(python3 "$RUSAGE" --out "$work/cmd.out" -- "$@")
	fi
	if ! grep -Eq "\"rc\": ($okrc)[,}]" <<<"$json"; then
		log "$case failed: $*"; cat "$work/cmd.out" >&2; exit 1
	fi
	: >"$work/cmd.out"
	[ "$mode" = warmup ] && return 0
	printf '{"case":"%s","mode":"%s","r":%s}\n' "$case" "$mode" "$json" >>"$results"
}
gnutime() { # CASE -- command
	local case=$1
	shift 2
	/usr/bin/time -f '%M' -o "$work/gt" "$@" >/dev/null 2>&1 || true
	printf '{"case":"%s","mode":"gnutime","r":{"maxrss_kib":%s}}\n' \
		"$case" "$(tail -n1 "$work/gt")" >>"$results"
}
for c in plan check; do
	if [ $c = plan ]; then cmd=("${PLAN[@]}") okrc="0|4"; else cmd=("${CHECK[@]}") okrc=0; fi
	log "$c: $RUNS runs untraced, $RUNS traced"
	record "$c" warmup "$okrc" -- "${cmd[@]}"
	for ((i = 0; i < RUNS; i++)); do
		record "$c" untraced "$okrc" -- "${cmd[@]}"
		record "$c" traced "$okrc" -- "${cmd[@]}"
	done
	gnutime "$c" -- "${cmd[@]}"
done

# ---- the table --------------------------------------------------------------
B_DATE=$(date -u +%Y-%m-%dT%H:%MZ) B_CORES=$(nproc) B_KERNEL=$(uname -r) \
B_FURROW="$("$FURROW" version | head -n1), binary $(basename "$(dirname "$FURROW")")/furrow" \
B_APPS=$APPS B_LUA=$lua_bytes B_PLAN=$plan_bytes B_SUMMARY=$summary B_RC=$plan_rc \
B_NOW=$NOW B_CHECK="$(head -c 300 "$work/check.out" | tr '\n' ' ')" \
python3 - "$results" "$RUNS" <<'PY' | tee -a "$OUT"
import json, os, statistics as st, sys
E = os.environ
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = sys.argv[2]
def sel(case, mode): return [r["r"] for r in rows if r["case"] == case and r["mode"] == mode]
mib = lambda k: f"{k / 1024:.1f}"
def fig(case):
    u, t, g = sel(case, "untraced"), sel(case, "traced"), sel(case, "gnutime")
    peaks = sorted(t, key=lambda r: r["peak_kib"])
    return dict(wall=st.median(r["wall_ms"] for r in u),
                wall_min=min(r["wall_ms"] for r in u), wall_max=max(r["wall_ms"] for r in u),
                cpu=st.median(r["user_ms"] + r["sys_ms"] for r in u),
                user=st.median(r["user_ms"] for r in u), sys=st.median(r["sys_ms"] for r in u),
                peak=st.median(r["peak_kib"] for r in t), top=st.median(r["top_kib"] for r in t),
                gnu=g[0]["maxrss_kib"] if g else 0, procs=peaks[len(peaks) // 2]["procs"])
F = {c: fig(c) for c in ("plan", "check")}
what = {"plan": "furrow plan --json >/dev/null", "check": "furrow check --tree DIR --quiet"}
print(f"## furrow plan, {int(E['B_APPS']):,} apps ({E['B_DATE']})")
print()
print(f"{E['B_CORES']} cores, Linux {E['B_KERNEL']}, {E['B_FURROW']}. "
      f"furrow.lua {int(E['B_LUA']):,} bytes, {E['B_APPS']} apps (5/10 container pinned by digest "
      "with ports, volumes, env, limits, health; 4/10 service with files, exec, env, limits, data, "
      "health; 1/10 systemd or files; depends_on chains; 1/20 selected away by `on`), "
      "policies std:require-digest, std:maintenance-window, std:canary-waves; one signed commit, "
      f"synced from a local bare repository; empty applied state; FURROW_NOW={E['B_NOW']} "
      f"(inside the window, after the host's wave). Plan: exit {E['B_RC']}, "
      f"{int(E['B_PLAN']):,} bytes of JSON, summary {E['B_SUMMARY']}.")
print()
print("| command | wall (min–max) | CPU user+sys (user / sys) | peak RSS, largest process | parent's peak | /usr/bin/time %M | processes (own CPU ms / own peak RSS MiB) |")
print("|---|---|---|---|---|---|---|")
for c in ("plan", "check"):
    x = F[c]
    allp = [p for cmd in x["procs"] for p in cmd["procs"]]
    ps = [p for p in allp if not p.get("thread_of")]
    for p in ps:
        p["cpu_ms"] += sum(t["cpu_ms"] for t in allp if t.get("thread_of") == p["pid"])
    big = max(ps, key=lambda p: p["hwm_kib"] or 0)
    # fork order (core/config.c, core/sync.c: verify_fetched, read_freeze,
    # core/plan.c: one child per policy); by pid offset if it differs
    names = {"plan": ("parent", "config", "read commit", "furrow.lua", "read FREEZE",
                      "std:require-digest", "std:maintenance-window", "std:canary-waves"),
             "check": ("parent", "furrow.lua")}[c]
    pos = {p["pid"]: k for k, p in enumerate(ps)}
    def nm(p):
        if len(ps) == len(names): return names[pos[p["pid"]]]
        return "parent" if p["top"] else f"child {p['pid'] - ps[0]['pid']:+d}"
    desc = ", ".join(f"{nm(p)} {p['cpu_ms']:.1f}/{mib(p['hwm_kib'] or 0)}" for p in ps)
    print(f"| `{what[c]}` | {x['wall']:.1f} ms ({x['wall_min']:.1f}–{x['wall_max']:.1f}) "
          f"| {x['user'] + x['sys']:.1f} ms ({x['user']:.1f} / {x['sys']:.1f}) "
          f"| {mib(x['peak'])} MiB ({nm(big)}) | {mib(x['top'])} MiB | {mib(x['gnu'])} MiB "
          f"| {len(ps)}: {desc} |")
print()
p = F["plan"]
ok = lambda b: "met" if b else "**not met**"
print(f"Goal, plan of {int(E['B_APPS']):,} apps: well under a second: {p['wall']:.0f} ms "
      f"({ok(p['wall'] < 500)}, taking 'well under' as < 500 ms); peak RSS < 32 MiB: "
      f"{mib(p['peak'])} MiB ({ok(p['peak'] < 32768)}).")
print()
print(f"Measured: medians of {runs} untraced runs (wall, CPU: wait4(2), every child included) "
      f"and {runs} traced runs (peak RSS: VmHWM of each process at its exit under ptrace, "
      "the largest taken; the breakdown is the traced run with the median peak, "
      "processes in fork order), after one discarded warm-up; "
      "/usr/bin/time %M is one extra untraced run (it includes the spawner's ~1 MiB "
      "pre-exec floor).")
print()
PY
log "appended to $OUT"
