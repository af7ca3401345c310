#!/usr/bin/env bash
# bench/sync.sh - furrow sync against a 10,000-file repository, side by side
# with git on the same repository, servers and machine, in one run.
#
#   - the repository: DIRS x FILES small text files of varied content (all
#     blobs distinct) plus furrow.lua (serial = 1), one commit signed with an
#     ssh ed25519 key (`git commit -S`, gpg.format=ssh), pushed to a bare
#     repository that nginx + git-http-backend serve over HTTPS with a test
#     CA (tests/servers.sh); for reference also git daemon (git://, no TLS)
#     and file://.  A transport where a run fails is reported as a failed
#     row with furrow's or git's message, and the others still run;
#   - first sync: `furrow sync` into an empty state_dir (clone, signature
#     check, furrow.lua evaluated, state recorded) vs `git clone --bare`
#     into a fresh directory (GIT_SSL_CAINFO), CLONE_RUNS runs each;
#   - no-change sync: `furrow sync` again (nothing new) vs `git fetch origin
#     refs/heads/main` + `git verify-commit FETCH_HEAD` (gpg.ssh.allowedSigners
#     File) in a bare clone, RUNS runs each;
#   - furrow and git runs alternate, after one discarded warm-up run of each.
#
# Wall, user and sys CPU come from wait4(2) of each command (bench/rusage.py),
# so they include every child: furrow forks its config, fetch, read and
# furrow.lua children; git runs git-remote-https, index-pack, ssh-keygen.
# Peak RSS is the largest single process of the tree (what the kernel, and
# `/usr/bin/time -f %M`, report), taken as VmHWM of each process at its exit
# under ptrace in separate runs; the parent's own peak is shown too, and
# /usr/bin/time %M from one extra run as a cross-check.  Medians throughout.
#
# Appends a markdown table to $OUT (default $BUILD/bench/sync.md) and
# prints it.  Environment: BUILD (build), FURROW ($BUILD/furrow), RUNS (10),
# CLONE_RUNS (5), DIRS (100), FILES (100), SCHEMES ("https git file"), OUT.
# Needs: git, ssh-keygen, nginx, fcgiwrap, openssl, python3, /usr/bin/time;
# run as root or as a user that can run nginx (see tests/servers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${BUILD:-build}
FURROW=$(realpath "${FURROW:-$BUILD/furrow}")
RUNS=${RUNS:-10}
CLONE_RUNS=${CLONE_RUNS:-5}
SCHEMES=${SCHEMES:-https git file}
DIRS=${DIRS:-100}
FILES=${FILES:-100}
OUT=${OUT:-$SRC/$BUILD/bench/sync.md}
mkdir -p "$(dirname "$OUT")"
RUSAGE=$SRC/bench/rusage.py

work=$(mktemp -d "${TMPDIR:-/tmp}/furrow-bench-sync.XXXXXX")
# furrow's fetch and read children run as uid 65534 when furrow is root.
chmod 711 "$work"
. "$SRC/tests/servers.sh"
SERVERS_DIR=$work/servers
trap 'stop_servers; rm -rf "$work"' EXIT
export HOME=$work/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME"
K=$work/keys
log() { echo "bench/sync.sh: $*" >&2; }

# ---- the repository -------------------------------------------------------
log "creating a $((DIRS * FILES))-file repository"
mkdir -p "$K"
ssh-keygen -q -t ed25519 -N "" -C operator -f "$K/operator"
echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
	>"$K/allowed_signers"
git init -q -b main "$work/src"
python3 - "$work/src" "$DIRS" "$FILES" <<'PY'
import os, random, sys
root, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20240611)
words = ("host app image digest port volume label site role gateway edge "
         "replica health check restart policy memory cpu limit env value "
         "secret mount network route timeout retry").split()
for d in range(dirs):
    dd = os.path.join(root, f"apps/d{d:03}")
    os.makedirs(dd)
    for f in range(files):
        lines = [f"# apps/d{d:03}/f{f:03}.conf"]
        for _ in range(rng.randint(3, 40)):
            lines.append(f"{rng.choice(words)}_{rng.randint(0, 99999)} = "
                         + " ".join(rng.choice(words) for _ in range(rng.randint(1, 8))))
        with open(os.path.join(dd, f"f{f:03}.conf"), "w") as fh:
            fh.write("\n".join(lines) + "\n")
PY
echo "serial = 1" >"$work/src/furrow.lua"
git -C "$work/src" add -A
git -C "$work/src" -c user.name=Operator -c user.email=op@example.net \
	-c gpg.format=ssh -c user.signingkey="$K/operator" \
	commit -q -S -m "10,000 files"
mkdir -p "$work/srv"
git init -q --bare -b main "$work/srv/state.git"
git -C "$work/src" push -q "$work/srv/state.git" HEAD:refs/heads/main
chmod -R go+rX "$work/srv"
nfiles=$(git -C "$work/srv/state.git" ls-tree -r --name-only main | wc -l)
nobj=$(git -C "$work/srv/state.git" rev-list --objects --all | wc -l)
packkib=$(git -C "$work/srv/state.git" count-objects -v | awk '/^size(-pack)?:/ {n += $2} END {print n}')
worktree_kib=$(du -sk --exclude=.git "$work/src" | cut -f1)

port=$(start_https_git "$work/srv" "$work/ca.pem")
HTTPS_URL=https://localhost:$port/state.git
GIT_URL=git://127.0.0.1:$(start_git_daemon "$work/srv")/state.git
FILE_URL=file://$work/srv/state.git
export GIT_SSL_CAINFO=$work/ca.pem

write_agent() { # dir url
	mkdir -p "$1"
	cat >"$1/agent.lua" <<-EOF
	return {
	  host = { id = "bench" },
	  source = { url = "$2", ca_file = "$work/ca.pem" },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	}
	EOF
}

# ---- measuring --------------------------------------------------------------
results=$work/results.jsonl
: >"$results"
# record CASE TOOL MODE EXPECT -- command [--- command...]: run once through
# rusage.py, check the exit status and that the output matches EXPECT.
record() {
	local case=$1 tool=$2 mode=$3 expect=$4 out=$work/cmd.out json
	shift 5
	: >"$out"
	if [ "$mode" = traced ]; then
		json=$(python3 "$RUSAGE" --trace --out "$out" -- "$@")
	else
		json=$(python3 "$RUSAGE" --out "$out" -- "$@")
	fi
	if ! grep -q '"rc": 0' <<<"$json" ||
		{ [ -n "$expect" ] && ! grep -q -- "$expect" "$out"; }; then
		log "$case/$tool failed: $*"
		cat "$out" >&2
		echo "$tool ($case): ${*##*/}" >"$work/failed.cmd"
		return 1
	fi
	[ "$mode" = warmup ] && return 0
	printf '{"case":"%s","tool":"%s","mode":"%s","r":%s}\n' \
		"$case" "$tool" "$mode" "$json" >>"$results"
}
# gnutime CASE TOOL -- command [--- command...]: /usr/bin/time %M of each
# command, the largest kept (the cross-check).
gnutime() {
	local case=$1 tool=$2 max=0 m cmd=()
	shift 3
	for a in "$@" ---; do
		if [ "$a" = --- ]; then
			/usr/bin/time -f '%M' -o "$work/gt" "${cmd[@]}" >/dev/null 2>&1
			m=$(tail -n1 "$work/gt")
			((m > max)) && max=$m
			cmd=()
		else
			cmd+=("$a")
		fi
	done
	printf '{"case":"%s","tool":"%s","mode":"gnutime","r":{"maxrss_kib":%s}}\n' \
		"$case" "$tool" "$max" >>"$results"
}

# bench_scheme SCHEME URL: both cases for one transport; 1 when a run fails
# (recorded as a failed row, the table says so).
bench_scheme() {
	local scheme=$1 url=$2 A=$work/agents/$1 i mode
	local gclone=$work/git-$1-clone.git gsteady=$work/git-$1.git
	write_agent "$A/clone" "$url"
	write_agent "$A/steady" "$url"
	local furrow_clone=("$FURROW" -c "$A/clone/agent.lua" sync)
	local furrow_steady=("$FURROW" -c "$A/steady/agent.lua" sync)
	local git_clone=(git clone -q --bare "$url" "$gclone")
	local git_steady=(git -C "$gsteady" fetch -q origin refs/heads/main ---
		git -C "$gsteady" -c gpg.ssh.allowedSignersFile="$K/allowed_signers"
		verify-commit -v FETCH_HEAD)

	log "$scheme: first sync / clone, $CLONE_RUNS runs each"
	for ((i = 0; i <= CLONE_RUNS; i++)); do
		for mode in untraced traced; do
			((i == 0)) && mode=warmup
			rm -rf "$A/clone/state" "$gclone"
			record "$scheme first" furrow $mode "(accepted)" -- "${furrow_clone[@]}" || return 1
			record "$scheme first" git $mode "" -- "${git_clone[@]}" || return 1
			((i == 0)) && break
		done
	done
	rm -rf "$A/clone/state" "$gclone"
	gnutime "$scheme first" furrow -- "${furrow_clone[@]}"
	gnutime "$scheme first" git -- "${git_clone[@]}"
	rm -rf "$A/clone/state" "$gclone"

	log "$scheme: no-change sync / fetch + verify-commit, $RUNS runs each"
	"${furrow_steady[@]}" >/dev/null 2>&1 || return 1
	git clone -q --bare "$url" "$gsteady" || return 1
	for ((i = 0; i <= RUNS; i++)); do
		for mode in untraced traced; do
			((i == 0)) && mode=warmup
			record "$scheme no-change" furrow $mode "(unchanged)" -- "${furrow_steady[@]}" || return 1
			record "$scheme no-change" git $mode "Good \"git\" signature" -- "${git_steady[@]}" || return 1
			((i == 0)) && break
		done
	done
	gnutime "$scheme no-change" furrow -- "${furrow_steady[@]}"
	gnutime "$scheme no-change" git -- "${git_steady[@]}"
}

for scheme in $SCHEMES; do
	case $scheme in
	https) url=$HTTPS_URL ;;
	git) url=$GIT_URL ;;
	file) url=$FILE_URL ;;
	*) log "unknown scheme $scheme"; exit 2 ;;
	esac
	if ! bench_scheme "$scheme" "$url"; then
		python3 -c 'import json, sys; print(json.dumps({"scheme": sys.argv[1],
			"mode": "failed", "error": sys.argv[2], "cmd": sys.argv[3]}))' \
			"$scheme" "$(grep -v '^time=' "$work/cmd.out" | tail -n1)" \
			"$(cat "$work/failed.cmd")" >>"$results"
	fi
done

# ---- the table --------------------------------------------------------------
B_DATE=$(date -u +%Y-%m-%dT%H:%MZ) B_CORES=$(nproc) B_KERNEL=$(uname -r) \
B_FURROW="$("$FURROW" version | head -n1), binary $(basename "$(dirname "$FURROW")")/furrow" \
B_GIT=$(git --version) B_N=$((DIRS * FILES)) B_FILES=$nfiles B_DIRS=$DIRS B_TREE=$worktree_kib \
B_OBJ=$nobj B_PACK=$packkib \
python3 - "$results" "$RUNS" "$CLONE_RUNS" <<'PY' | tee -a "$OUT"
import json, os, statistics as st, sys
E = os.environ
rows = [json.loads(l) for l in open(sys.argv[1])]
runs, clone_runs = sys.argv[2], sys.argv[3]
def sel(case, tool, mode):
    return [r["r"] for r in rows if r.get("case") == case and r.get("tool") == tool and r["mode"] == mode]
def med(xs): return st.median(xs)
def fig(case, tool):
    u, t = sel(case, tool, "untraced"), sel(case, tool, "traced")
    g = sel(case, tool, "gnutime")
    # the traced run whose peak is the median one, for the breakdown
    peaks = sorted(t, key=lambda r: r["peak_kib"])
    return dict(wall=med([r["wall_ms"] for r in u]),
                cpu=med([r["user_ms"] + r["sys_ms"] for r in u]),
                user=med([r["user_ms"] for r in u]), sys=med([r["sys_ms"] for r in u]),
                cpu_min=min(r["user_ms"] + r["sys_ms"] for r in u),
                cpu_max=max(r["user_ms"] + r["sys_ms"] for r in u),
                peak=med([r["peak_kib"] for r in t]), top=med([r["top_kib"] for r in t]),
                gnu=g[0]["maxrss_kib"] if g else None, n=len(u),
                procs=peaks[len(peaks) // 2]["procs"])
failed = {r["scheme"]: r for r in rows if r["mode"] == "failed"}
schemes = []
for r in rows:
    sch = r.get("scheme") or r["case"].split()[0]
    if sch not in schemes:
        schemes.append(sch)
label = {"https": "https", "git": "git://", "file": "file://"}
cases = []
for sch in schemes:
    for kind, what in (("first", "git clone --bare"),
                       ("no-change", "git fetch + git verify-commit")):
        c = f"{sch} {kind}"
        if sel(c, "furrow", "untraced") and sel(c, "git", "untraced"):
            cases.append((c, what))
F = {c: (fig(c, "furrow"), fig(c, "git")) for c, _ in cases}
mib = lambda k: f"{k / 1024:.1f}"
print(f"## furrow sync vs git, {int(E['B_N']):,}-file repository ({E['B_DATE']})")
print()
print(f"{E['B_CORES']} cores, Linux {E['B_KERNEL']}, {E['B_FURROW']}, {E['B_GIT']}.")
print(f"Repository: {E['B_FILES']} files ({E['B_N']} in {E['B_DIRS']} directories, and furrow.lua) "
      f"(worktree {E['B_TREE']} KiB), {E['B_OBJ']} objects, pack {E['B_PACK']} KiB, "
      f"one ssh-ed25519-signed commit; "
      f"served by nginx + git-http-backend over HTTPS (TLS 1.2, test CA, localhost), "
      f"for reference also by git daemon (git://, no TLS) and over file://.")
print()
print("| case | git side | wall furrow | wall git | × | CPU furrow | CPU git | × | peak RSS furrow | peak RSS git | × |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for c, what in cases:
    f, g = F[c]
    print(f"| {c.replace(c.split()[0], label.get(c.split()[0], c.split()[0]), 1)} | {what} | {f['wall']:.1f} ms | {g['wall']:.1f} ms | {f['wall']/g['wall']:.2f} "
          f"| {f['cpu']:.1f} ms | {g['cpu']:.1f} ms | {f['cpu']/g['cpu']:.2f} "
          f"| {mib(f['peak'])} MiB | {mib(g['peak'])} MiB | {f['peak']/g['peak']:.2f} |")
for sch, r in failed.items():
    print(f"| {label.get(sch, sch)} | – | **failed**: {r['cmd']}: {r['error']} |||||||||")
print()
ok = lambda b: "met" if b else "**not met**"
if "https no-change" in F:
  f, g = F["https no-change"]
  print(f"Goal, no-change sync over https: CPU ≤ 0.5× git: {f['cpu']/g['cpu']:.2f}× "
        f"({ok(f['cpu'] <= 0.5 * g['cpu'])}); peak RSS < 8 MiB: {mib(f['peak'])} MiB "
        f"({ok(f['peak'] < 8192)}).")
print()
print("| case | tool | CPU user / sys | CPU min–max | peak RSS of the parent | largest process | /usr/bin/time %M | processes (own CPU ms / own peak RSS MiB) |")
print("|---|---|---|---|---|---|---|---|")
for c, _ in cases:
    for tool, x in zip(("furrow", "git"), F[c]):
        allp = [p for cmd in x["procs"] for p in cmd["procs"]]
        ps = [p for p in allp if not p.get("thread_of")]
        for p in ps:  # a thread's CPU goes to its process
            th = [t for t in allp if t.get("thread_of") == p["pid"]]
            p["cpu_ms"] += sum(t["cpu_ms"] for t in th)
            p["threads"] = len(th)
        big = max(ps, key=lambda p: p["hwm_kib"] or 0)
        if tool == "furrow":  # forks in this order (core/config.c, core/sync.c)
            for p, n in zip(ps, ("parent", "config", "fetch", "read", "furrow.lua")):
                p["name"] = n if p["top"] == (n == "parent") else p["name"]
        def one(p):
            th = f" (+{p['threads']} threads)" if p["threads"] else ""
            child = "" if p["top"] or tool == "furrow" else " (child)"
            return f"{p['name']}{child}{th} {p['cpu_ms']:.1f}/{mib(p['hwm_kib'] or 0)}"
        desc = ", ".join(one(p) for p in ps)
        print(f"| {c} | {tool} | {x['user']:.1f} / {x['sys']:.1f} ms | {x['cpu_min']:.1f}–{x['cpu_max']:.1f} ms "
              f"| {mib(x['top'])} MiB | {big['name']}{'' if big['top'] or tool == 'furrow' else ' (child)'} {mib(big['hwm_kib'] or 0)} MiB "
              f"| {mib(x['gnu'])} MiB | {len(ps)}: {desc} |")
print()
print(f"Measured: medians of {clone_runs} (first sync) and {runs} (no-change) runs per tool, "
      "furrow and git alternating, after one discarded warm-up each; servers, keys and "
      "repository are the same for both. Wall, CPU (user+sys) come from wait4(2) and "
      "include every child process (furrow forks, in this order, children that evaluate "
      "the agent config, fetch, read the commit and furrow.lua, and evaluate furrow.lua; git's git-remote-https, index-pack, ssh-keygen ...); the server side "
      "(nginx, git-http-backend, upload-pack) is not counted for either. Peak RSS is that "
      "of the largest single process of the tree (the kernel's ru_maxrss semantics, as "
      "/usr/bin/time %M), read as VmHWM at each process's exit under ptrace in separate "
      "runs; the /usr/bin/time column is one extra untraced run (its %M also counts the "
      "spawner's pre-exec memory, about 1 MiB). First sync: furrow sync into an empty "
      "state_dir (fetch, signature check, furrow.lua, LMDB record) vs git clone --bare "
      "(no signature check). No-change: furrow sync with nothing new vs git fetch origin "
      "refs/heads/main + git verify-commit FETCH_HEAD (gpg.ssh.allowedSignersFile) in a "
      "bare clone; the two git commands' walls and CPUs are added, their peaks maxed. "
      "Per-process CPU in the last column is from /proc/PID/schedstat at exit (without "
      "address-space teardown), so it sums to slightly less than the CPU column.")
print()
PY
log "appended to $OUT"
