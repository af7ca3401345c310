#!/usr/bin/env bash
# bench/apply.sh - `furrow apply`: the cost of a pass that finds nothing to
# do, side by side with CFEngine's cf-agent, and the time from `git push`
# to a new version running and healthy under the daemon.
#
#   1. no-op pass: a signed repository of APPS (100) service apps, each
#      `exec sleep 100000` from a shared two-line script in its files
#      directory, no health check (running counts as healthy).  One
#      `furrow apply` installs them all (apply.parallel = 64 for that pass
#      only, since without a health check each new service must run 2 s);
#      then `furrow apply --no-sync` with the default apply.parallel (4)
#      is measured: recovery, plan of the accepted commit (re-verified),
#      and a drift check of every app (its slot's files against the
#      manifest, its process by pid and start time).  Every measured run
#      must report "100 unchanged" and leave the history alone.  For
#      reference the same pass runs with apply.parallel = 1 too (the drift
#      checks in one thread).
#      Beside it, `cf-agent -K -f policy.cf` (Debian package cfengine3,
#      installed with apt-get when missing and root) keeping APPS files in
#      place: one files: promise per file with its content and mode 0755,
#      run when every file is already correct (checked: no file's mtime,
#      ctime or mode changes).  furrow and cf-agent runs alternate, after
#      one discarded warm-up each.
#   2. push to healthy: one service app (python3 -m http.server on a free
#      port, strategy stop-first, http health check with a body match,
#      interval 0.1 s, settle 0.5 s) under `furrow run` with
#      source.interval = 1 day.  Each run commits a new version (signed;
#      not timed), then times: `git push` to the bare repository, `furrow
#      sync --now`, and polling `furrow status --json` every 10 ms until the
#      app's commit is the pushed one, healthy, in the other slot; the
#      settle time is subtracted.  The daemon's log lines give the
#      breakdown (accepted, update started, new slot active).
#
# Wall, user and sys CPU come from wait4(2) of each command (bench/rusage.py),
# children included (furrow's config, read and furrow.lua children; cf-agent's
# cf-promises and ifconfig).  Peak RSS is that of the largest single process,
# VmHWM at each process's exit under ptrace (rusage.py --trace), in separate
# runs; /usr/bin/time %M from one extra run as a cross-check.  Medians of RUNS
# runs.
#
# Appends a markdown section to $OUT (default $BUILD/bench/apply.txt) and
# prints it.  Environment: BUILD (build), FURROW ($BUILD/furrow), RUNS (5),
# APPS (100), OUT.  Needs: git, ssh-keygen, python3 (and /usr/bin/python3 for
# the service of part 2), /usr/bin/time; cfengine3 for the comparison.
# Leaves services running nowhere: every service furrow started is stopped
# by its process group at exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${BUILD:-build}
FURROW=$(realpath "${FURROW:-$BUILD/furrow}")
RUNS=${RUNS:-5}
APPS=${APPS:-100}
OUT=${OUT:-$SRC/$BUILD/bench/apply.txt}
mkdir -p "$(dirname "$OUT")"
RUSAGE=$SRC/bench/rusage.py
PY=/usr/bin/python3

work=$(mktemp -d "${TMPDIR:-/tmp}/furrow-bench-apply.XXXXXX")
# furrow's read and evaluation children run as uid 65534 when furrow is root.
chmod 711 "$work"
export HOME=$work/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME"
K=$work/keys
log() { echo "bench/apply.sh: $*" >&2; }

# stop_services STATE...: stop every service furrow started under each
# STATE: apps/APP/run/SLOT.pid holds "<pid> <start time>" of a process
# group leader; a pid reused by another process (start time differs) is
# left alone.
stop_services() {
	local st f pid start stat left="" still i
	for st; do
		for f in "$st"/apps/*/run/*.pid; do
			[ -f "$f" ] && read -r pid start _ <"$f" || continue
			stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
			read -ra stat <<<"${stat##*) }"
			[ "${stat[19]}" = "$start" ] || continue
			kill -TERM -- "-$pid" 2>/dev/null && left="$left $pid"
		done
	done
	for ((i = 0; i < 30; i++)); do
		still=""
		for pid in $left; do
			kill -0 -- "-$pid" 2>/dev/null && still="$still $pid"
		done
		left=$still
		[ -n "$left" ] || return 0
		sleep 0.1
	done
	for pid in $left; do kill -KILL -- "-$pid" 2>/dev/null || :; done
}
daemon=
cleanup() {
	if [ -n "$daemon" ]; then
		kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	fi
	stop_services "$work/noop/state" "$work/push/state"
	rm -rf "$work"
}
trap 'set +eu; cleanup' EXIT
trap 'exit 130' INT TERM

sign_commit() { # dir message
	git -C "$1" add -A
	git -C "$1" -c user.name=Operator -c user.email=op@example.net \
		-c gpg.format=ssh -c user.signingkey="$K/operator" \
		commit -q -S --allow-empty -m "$2"
}

mkdir -p "$K"
ssh-keygen -q -t ed25519 -N "" -C operator -f "$K/operator"
echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
	>"$K/allowed_signers"

# ---- 1. the no-op pass ------------------------------------------------------
log "a repository of $APPS service apps"
W=$work/noop/src
git init -q -b main "$W"
mkdir -p "$W/svc"
printf '#!/bin/sh\nexec sleep 100000\n' >"$W/svc/run.sh"
chmod 755 "$W/svc/run.sh"
{
	echo "serial = 1"
	for ((i = 1; i <= APPS; i++)); do
		printf 'app "svc-%03d" { kind = "service", files = "svc", exec = { "run.sh" } }\n' "$i"
	done
} >"$W/furrow.lua"
sign_commit "$W" "$APPS services"
git init -q --bare -b main "$work/noop/srv.git"
git -C "$W" push -q "$work/noop/srv.git" HEAD:refs/heads/main
chmod -R go+rX "$work/noop/srv.git"

noop_agent() { # parallel ("" for the default) [file]
	local apply=""
	[ -z "$1" ] || apply="apply = { parallel = $1 },"
	cat >"$work/noop/${2:-agent.lua}" <<-EOF
	return {
	  host = { id = "bench" },
	  source = { url = "$work/noop/srv.git" },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  $apply
	}
	EOF
}
noop_agent 64
log "first furrow apply: $APPS services (about 2 s per round of 64)"
"$FURROW" -c "$work/noop/agent.lua" apply >"$work/first.out" 2>&1 ||
	{ tail -n 20 "$work/first.out" >&2; exit 1; }
noop_agent ""
APPLY=("$FURROW" -c "$work/noop/agent.lua" apply --no-sync)
# For reference: the same pass with the drift checks in one thread.
noop_agent 1 agent-p1.lua
APPLY_P1=("$FURROW" -c "$work/noop/agent-p1.lua" apply --no-sync)
NOOP_EXPECT="0 applied, 0 removed, 0 repaired, $APPS unchanged"
"${APPLY[@]}" >"$work/second.out" 2>&1 || { cat "$work/second.out" >&2; exit 1; }
grep -q "$NOOP_EXPECT" "$work/second.out" ||
	{ log "the pass after the first is not a no-op:"; cat "$work/second.out" >&2; exit 1; }
history_before=$("$FURROW" -c "$work/noop/agent.lua" history -n 1000 | wc -l)

# cf-agent: the same number of files kept in place.
CF_AGENT=$(command -v cf-agent || true)
if [ -z "$CF_AGENT" ] && [ "$(id -u)" = 0 ]; then
	log "installing cfengine3 (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		cfengine3 >"$work/apt.log" 2>&1 ||
		{ DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$work/apt.log" 2>&1 &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends cfengine3 >>"$work/apt.log" 2>&1; } ||
		{ tail -n 5 "$work/apt.log" >&2; }
	CF_AGENT=$(command -v cf-agent || true)
fi
[ -n "$CF_AGENT" ] || log "cf-agent not installed (apt-get install cfengine3 as root): no comparison"
CF=$work/cf
if [ -n "$CF_AGENT" ]; then
	mkdir -p "$CF/files"
	python3 - "$CF" "$APPS" <<-'PY'
	import os, sys
	root, n = sys.argv[1], int(sys.argv[2])
	L = ["body common control", "{", '  bundlesequence => { "keep" };', "}", "",
	     "body perms mode(m)", "{", '  mode => "$(m)";', '  rxdirs => "false";', "}", "",
	     "bundle agent keep", "{", "  files:"]
	for i in range(1, n + 1):
	    L += [f'    "{root}/files/svc-{i:03}.sh"',
	          '      create => "true",',
	          '      perms => mode("755"),',
	          '      content => "#!/bin/sh$(const.n)exec sleep 100000$(const.n)";']
	L.append("}")
	with open(os.path.join(root, "policy.cf"), "w") as f:
	    f.write("\n".join(L) + "\n")
	PY
	chmod 600 "$CF/policy.cf"
	CFAGENT=("$CF_AGENT" -K -f "$CF/policy.cf")
	# As a user, cf-agent works in ~/.cfagent of the passwd home directory.
	if ! "${CFAGENT[@]}" >"$work/cf.out" 2>&1; then
		log "cf-agent cannot run here: no comparison"
		tail -n 3 "$work/cf.out" >&2
		CF_AGENT=
	elif [ "$(find "$CF/files" -type f | wc -l)" != "$APPS" ]; then
		log "cf-agent did not create the files"; exit 1
	else
		[ ! -s "$work/cf.out" ] || { log "cf-agent warns:"; head -n 5 "$work/cf.out" >&2; }
		cf_version=$("$CF_AGENT" --version | head -n1)
	fi
fi
cf_files() { stat -c '%n %Y %Z %a %s' "$CF"/files/* | sha256sum; }

results=$work/results.jsonl
: >"$results"
# record CASE MODE -- command: one run through rusage.py; the exit status
# must be 0, and a furrow pass must be a no-op.
record() {
	local case=$1 mode=$2 json
	shift 3
	if [ "$mode" = traced ]; then
		json=$(python3 "$RUSAGE" --trace --out "$work/cmd.out" -- "$@")
	else
		json=$(python3 "$RUSAGE" --out "$work/cmd.out" -- "$@")
	fi
	if ! grep -q '"rc": 0[,}]' <<<"$json" ||
		{ [ "${case%-p1}" = furrow ] && ! grep -q "$NOOP_EXPECT" "$work/cmd.out"; }; then
		log "$case failed or was not a no-op: $*"; cat "$work/cmd.out" >&2; exit 1
	fi
	: >"$work/cmd.out"
	[ "$mode" = warmup ] && return 0
	printf '{"case":"%s","mode":"%s","r":%s}\n' "$case" "$mode" "$json" >>"$results"
}
gnutime() { # CASE -- command
	local case=$1
	shift 2
	/usr/bin/time -f '%M' -o "$work/gt" "$@" >/dev/null 2>&1
	printf '{"case":"%s","mode":"gnutime","r":{"maxrss_kib":%s}}\n' \
		"$case" "$(tail -n1 "$work/gt")" >>"$results"
}
cases=(furrow furrow-p1)
[ -n "$CF_AGENT" ] && cases+=(cf-agent) && cf_before=$(cf_files)
log "no-op pass: $RUNS runs untraced and $RUNS traced of ${cases[*]}"
for ((i = 0; i <= RUNS; i++)); do
	for mode in untraced traced; do
		((i == 0)) && mode=warmup
		for c in "${cases[@]}"; do
			case $c in
			furrow) cmd=("${APPLY[@]}") ;;
			furrow-p1) cmd=("${APPLY_P1[@]}") ;;
			*) cmd=("${CFAGENT[@]}") ;;
			esac
			record "$c" "$mode" -- "${cmd[@]}"
		done
		((i == 0)) && break
	done
done
for c in "${cases[@]}"; do
	case $c in
	furrow) cmd=("${APPLY[@]}") ;;
	furrow-p1) cmd=("${APPLY_P1[@]}") ;;
	*) cmd=("${CFAGENT[@]}") ;;
	esac
	gnutime "$c" -- "${cmd[@]}"
done
history_after=$("$FURROW" -c "$work/noop/agent.lua" history -n 1000 | wc -l)
[ "$history_before" = "$history_after" ] ||
	{ log "the no-op passes wrote history ($history_before -> $history_after lines)"; exit 1; }
if [ -n "$CF_AGENT" ] && [ "$cf_before" != "$(cf_files)" ]; then
	log "cf-agent changed files it should only have checked"; exit 1
fi
stop_services "$work/noop/state"

# ---- 2. push to healthy -----------------------------------------------------
push_rows=$work/push.jsonl
: >"$push_rows"
if [ -x "$PY" ] && "$PY" -c 'import http.server' 2>/dev/null; then
	log "push to healthy: $RUNS runs under furrow run"
	P=$work/push
	port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	git init -q -b main "$P/src"
	mkdir -p "$P/src/web"
	cat >"$P/src/web/run.sh" <<-EOF
	#!/bin/sh
	exec $PY -m http.server --bind 127.0.0.1 $port
	EOF
	chmod 755 "$P/src/web/run.sh"
	echo v0 >"$P/src/web/version.txt"
	cat >"$P/src/furrow.lua" <<-EOF
	serial = 1
	app "web" { kind = "service", files = "web", exec = { "run.sh" },
	  strategy = "stop-first",
	  health = { http = "http://127.0.0.1:$port/version.txt", body = "VERSION",
	             interval = 0.1, timeout = 1, retries = 30, settle = 0.5 } }
	EOF
	sed -i 's/VERSION/v0/' "$P/src/furrow.lua"
	sign_commit "$P/src" v0
	git init -q --bare -b main "$P/srv.git"
	git -C "$P/src" remote add origin "$P/srv.git"
	git -C "$P/src" push -q origin HEAD:refs/heads/main
	chmod -R go+rX "$P/srv.git"
	cat >"$P/agent.lua" <<-EOF
	return {
	  host = { id = "bench" },
	  source = { url = "$P/srv.git", interval = 86400, jitter = 0 },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  apply = { stop_timeout = 3 },
	}
	EOF
	"$FURROW" -c "$P/agent.lua" run >"$P/daemon.log" 2>&1 &
	daemon=$!
	SETTLE=0.5 KEY=$K/operator python3 - "$FURROW" "$P" "$port" "$RUNS" "$daemon" >"$push_rows" <<-'PY'
	import calendar, json, os, re, subprocess, sys, time, urllib.request
	furrow, P, port, runs, daemon = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
	agent = os.path.join(P, "agent.lua")
	src = os.path.join(P, "src")
	def git(*a):
	    return subprocess.run(["git", "-C", src, *a], check=True, capture_output=True,
	                          text=True).stdout.strip()
	def web():
	    out = subprocess.run([furrow, "-c", agent, "status", "--json"], capture_output=True,
	                         text=True)
	    if out.returncode:
	        return None
	    return next((a for a in json.loads(out.stdout)["apps"] if a["app"] == "web"), None)
	def wait_for(commit, slot_not, deadline):
	    polls = 0
	    while time.time() < deadline:
	        a = web()
	        polls += 1
	        if a and a["commit"] == commit and a["health"] == "healthy" \
	                and a.get("slot") and a.get("slot") != slot_not:
	            return time.time(), a, polls
	        time.sleep(0.01)
	    sys.exit(f"bench/apply.sh: web did not reach {commit} in time")
	def served():
	    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version.txt", timeout=2) as r:
	        return r.read().decode().strip()
	def log_times(commit):
	    t = {}
	    for line in open(os.path.join(P, "daemon.log")):
	        if f"commit={commit}" not in line:
	            continue
	        m = re.match(r"time=(\S+) .*event=(\S+)", line)
	        if m and m.group(2) not in t:
	            ts = time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")
	            t[m.group(2)] = calendar.timegm(ts) + float("0" + m.group(1)[19:-1])
	    return t
	head = git("rev-parse", "HEAD")
	_, a, _ = wait_for(head, None, time.time() + 30)
	slot = a["slot"]
	settle = float(os.environ["SETTLE"])
	for i in range(1, runs + 2):
	    v = f"v{i}"
	    with open(os.path.join(src, "web/version.txt"), "w") as f:
	        f.write(v + "\n")
	    fl = open(os.path.join(src, "furrow.lua")).read()
	    fl = re.sub(r'body = "v\d+"', f'body = "{v}"', fl)
	    fl = re.sub(r"serial = \d+", f"serial = {i + 1}", fl)
	    open(os.path.join(src, "furrow.lua"), "w").write(fl)
	    git("add", "-A")
	    git("-c", "user.name=Operator", "-c", "user.email=op@example.net",
	        "-c", "gpg.format=ssh", "-c", f"user.signingkey={os.environ['KEY']}",
	        "commit", "-q", "-S", "-m", v)
	    commit = git("rev-parse", "HEAD")
	    t0 = time.time()
	    git("push", "-q", "origin", "HEAD:refs/heads/main")
	    t_push = time.time()
	    subprocess.run([furrow, "-c", agent, "sync", "--now"], check=True,
	                   capture_output=True)
	    t_now = time.time()
	    t1, a, polls = wait_for(commit, slot, t0 + 60)
	    if served() != v:
	        sys.exit(f"bench/apply.sh: web serves {served()!r}, want {v!r}")
	    lt = log_times(commit)
	    rel = lambda k: round((lt[k] - t0) * 1000, 1) if k in lt else None
	    print(json.dumps({"run": i, "warmup": i == 1, "total_ms": (t1 - t0) * 1000,
	                      "minus_settle_ms": (t1 - t0 - settle) * 1000,
	                      "push_ms": (t_push - t0) * 1000, "sync_now_ms": (t_now - t_push) * 1000,
	                      "accepted_ms": rel("sync.accepted"),
	                      "started_ms": rel("apply.update_started"),
	                      "active_ms": rel("apply.updated"),
	                      "polls": polls, "from": slot, "to": a["slot"]}))
	    slot = a["slot"]
	st = {}
	for line in open(f"/proc/{daemon}/status"):
	    k, _, v = line.partition(":")
	    st[k] = v.split()[0] if v.split() else ""
	print(json.dumps({"daemon": True, "vmhwm_kib": int(st["VmHWM"]), "vmrss_kib": int(st["VmRSS"]),
	                  "threads": int(st["Threads"])}))
	PY
	kill -TERM "$daemon" && wait "$daemon" || true
	daemon=
else
	log "no $PY with http.server: push-to-healthy skipped"
fi

# ---- the table --------------------------------------------------------------
B_DATE=$(date -u +%Y-%m-%dT%H:%MZ) B_CORES=$(nproc) B_KERNEL=$(uname -r) \
B_FURROW="$("$FURROW" version | head -n1), binary $(basename "$(dirname "$FURROW")")/furrow" \
B_CF="${cf_version:-}" B_APPS=$APPS \
python3 - "$results" "$push_rows" "$RUNS" <<'PY' | tee -a "$OUT"
import json, os, statistics as st, sys
E = os.environ
rows = [json.loads(l) for l in open(sys.argv[1])]
push = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
runs = sys.argv[3]
apps = int(E["B_APPS"])
def sel(case, mode): return [r["r"] for r in rows if r["case"] == case and r["mode"] == mode]
mib = lambda k: f"{k / 1024:.1f}"
def fig(case):
    u, t, g = sel(case, "untraced"), sel(case, "traced"), sel(case, "gnutime")
    if not u:
        return None
    peaks = sorted(t, key=lambda r: r["peak_kib"])
    return dict(wall=st.median(r["wall_ms"] for r in u),
                wall_min=min(r["wall_ms"] for r in u), wall_max=max(r["wall_ms"] for r in u),
                cpu=st.median(r["user_ms"] + r["sys_ms"] for r in u),
                cpu_min=min(r["user_ms"] + r["sys_ms"] for r in u),
                cpu_max=max(r["user_ms"] + r["sys_ms"] for r in u),
                user=st.median(r["user_ms"] for r in u), sys=st.median(r["sys_ms"] for r in u),
                peak=st.median(r["peak_kib"] for r in t), top=st.median(r["top_kib"] for r in t),
                gnu=g[0]["maxrss_kib"] if g else 0, procs=peaks[len(peaks) // 2]["procs"])
F = {c: fig(c) for c in ("furrow", "cf-agent", "furrow-p1")}
f, c = F["furrow"], F["cf-agent"]
print(f"## furrow apply, no-op pass over {apps} services; push to healthy ({E['B_DATE']})")
print()
print(f"{E['B_CORES']} cores, Linux {E['B_KERNEL']}, {E['B_FURROW']}"
      + (f", {E['B_CF']}" if E["B_CF"] else ", cf-agent not installed") + ".")
print()
print("| command | wall (min–max) | CPU user+sys (min–max; user / sys) | peak RSS, largest process | parent's peak | /usr/bin/time %M |")
print("|---|---|---|---|---|---|")
what = {"furrow": f"furrow apply --no-sync, {apps} service apps unchanged",
        "cf-agent": f"cf-agent -K -f policy.cf, {apps} files promises kept",
        "furrow-p1": "for reference: furrow apply --no-sync with apply.parallel = 1"}
def row(name):
    x = F[name]
    if x:
        print(f"| `{what[name]}` | {x['wall']:.1f} ms ({x['wall_min']:.1f}–{x['wall_max']:.1f}) "
              f"| {x['cpu']:.1f} ms ({x['cpu_min']:.1f}–{x['cpu_max']:.1f}; {x['user']:.1f} / {x['sys']:.1f}) "
              f"| {mib(x['peak'])} MiB | {mib(x['top'])} MiB | {mib(x['gnu'])} MiB |")
row("furrow")
row("cf-agent")
if c:
    print(f"| furrow ÷ cf-agent | {f['wall'] / c['wall']:.2f}× | {f['cpu'] / c['cpu']:.2f}× "
          f"| {f['peak'] / c['peak']:.2f}× | | |")
row("furrow-p1")
print()
ok = lambda b: "met" if b else "**not met**"
print(f"Goal, no-op pass over {apps} apps: under 10 ms CPU: {f['cpu']:.1f} ms ({ok(f['cpu'] < 10)}); "
      f"under 8 MiB: {mib(f['peak'])} MiB ({ok(f['peak'] < 8192)}).")
print()
# the traced run with the median peak, per process
def breakdown(x, names):
    allp = [p for cmd in x["procs"] for p in cmd["procs"]]
    ps = [p for p in allp if not p.get("thread_of")]
    threads = [p for p in allp if p.get("thread_of")]
    pos = {p["pid"]: k for k, p in enumerate(ps)}
    def nm(p):
        if names and len(ps) == len(names):
            return names[pos[p["pid"]]]
        return p["name"] + ("" if p["top"] else " (child)")
    out = [f"{nm(p)} {p['cpu_ms']:.1f}/{mib(p['hwm_kib'] or 0)}" for p in ps]
    if threads:
        out.insert(1, f"{len(threads)} worker threads {sum(t['cpu_ms'] for t in threads):.1f}/–")
    return ", ".join(out)
print("Processes of the traced run with the median peak (own CPU ms / own peak RSS MiB, fork order):")
print()
print(f"- furrow: " + breakdown(f, ("parent", "config", "read commit", "furrow.lua",
                                    "read FREEZE", "read app file ids")))
if c:
    print(f"- cf-agent: " + breakdown(c, None))
print()
runs_p = [r for r in push if "run" in r and not r["warmup"]]
d = next((r for r in push if r.get("daemon")), None)
if runs_p:
    m = lambda k: st.median(r[k] for r in runs_p if r[k] is not None)
    print("Push to healthy, one service (python3 -m http.server, stop-first, http health check "
          "with body match, interval 0.1 s, settle 0.5 s) under `furrow run`, "
          f"median of {len(runs_p)} runs after one warm-up (ms from the start of `git push`):")
    print()
    print("| git push returns | `furrow sync --now` returns | commit accepted (log) | update started (log) "
          "| new slot active (log) | seen by `furrow status` | **minus settle 0.5 s** | min–max |")
    print("|---|---|---|---|---|---|---|---|")
    tot = [r["minus_settle_ms"] for r in runs_p]
    print(f"| {m('push_ms'):.0f} | {m('push_ms') + m('sync_now_ms'):.0f} | {m('accepted_ms'):.0f} "
          f"| {m('started_ms'):.0f} | {m('active_ms'):.0f} | {m('total_ms'):.0f} "
          f"| **{st.median(tot):.0f}** | {min(tot):.0f}–{max(tot):.0f} |")
    print()
    print(f"Slots alternated ({', '.join(r['from'] + '→' + r['to'] for r in runs_p)}); "
          f"`furrow status --json` polled every 10 ms (median {m('polls'):.0f} polls per run)."
          + (f" The daemon afterwards: {mib(d['vmrss_kib'])} MiB resident, "
             f"peak {mib(d['vmhwm_kib'])} MiB, threads: {d['threads']}." if d else ""))
    print()
print(f"Measured: no-op pass, medians of {runs} untraced runs (wall, CPU: wait4(2), every "
      f"child included) and {runs} traced runs (peak RSS: VmHWM of each process at its exit "
      "under ptrace, the largest taken), furrow and cf-agent alternating after one discarded "
      "warm-up each; /usr/bin/time %M is one extra untraced run (it includes the spawner's "
      "~1 MiB pre-exec floor). Log times are the daemon's millisecond timestamps.")
print()
PY
log "appended to $OUT"
