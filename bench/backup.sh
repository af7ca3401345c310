#!/usr/bin/env bash
# bench/backup.sh - furrow's backups against restic on the same tree.
#
# The tree: bench/gen-tree.sh, BACKUP_MIB (1024) MiB of "mixed" content, a
# third each of log-like text, incompressible bytes and half-compressible
# JSON lines and pages, in about 3,900 files of 1 KiB - 64 MiB (for 1 GiB)
# in nested directories, with symlinks and two hard links.  It is generated
# once, in the data directory `d` of a furrow service app (see below), and
# both tools back up that same directory on the same disk, in turns:
#
#   init     restic init (repository version 2, compression auto) /
#            furrow backup key KEY
#   first    the first snapshot of the tree
#   second   a snapshot of the unchanged tree
#   third    a snapshot after `gen-tree.sh --change` changed about 1% of the
#            bytes (rewrites of small files, inserts in big ones, appends)
#   restore  restic restore latest --target DIR /
#            furrow backup restore APP latest --to DIR
#
# Each step runs under /usr/bin/time -v: wall (our clock around the command),
# user+sys CPU and peak RSS (ru_maxrss: the largest single process; children
# included).  MB/s is the tree's bytes (regular files, a hard-linked file
# once; MB = 10^6 bytes) over the wall time.  Stored bytes: `du -sb` of
# restic's repository / of STATE_DIR/backup after the step.  Before every
# step: `sync` and `echo 3 > /proc/sys/vm/drop_caches` (as root), so both
# tools read the tree (and, restoring, the repository) from disk.  Both
# restores are checked against the tree: a manifest of every entry (type,
# mode, owner, size, SHA-256 of the content or the symlink target) and of
# the hard-link groups must be equal; mtimes are compared for information.
#
# furrow's side: a signed desired-state repository with one app
#   app "store" { kind = "service", files = "svc", exec = { "run.sh" },
#                 data = { "d" }, backup = { paths = { "d" } } }
# (run.sh: exec sleep 100000), an agent config with
# backup = { key_file = KEY }, one `furrow -c CFG apply`; the tree is then
# generated into STATE_DIR/apps/store/data/d.  Backups are
# `furrow -c CFG backup now store`.  A furrow without the backup command
# is an error, not a skip (BACKUP_TOOLS=restic runs restic's half alone).
#
# Writes a markdown section to $OUT (default $BUILD/bench/backup.md) and
# prints it.  Environment: BUILD (build), FURROW ($BUILD/furrow), BACKUP_MIB
# (1024), SEED (1), BACKUP_TOOLS ("restic furrow"), OUT, BACKUP_TMP for the work
# directory (default /var/tmp; it needs about 3.5x BACKUP_MIB free).  Needs:
# python3, openssl, /usr/bin/time, git, ssh-keygen; restic (Debian package,
# installed with apt-get when missing and root).  About 30 s for restic's
# half at 1 GiB on a quiet machine (generating the tree: 8 s).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${BUILD:-build}
BACKUP_MIB=${BACKUP_MIB:-1024}
SEED=${SEED:-1}
TOOLS=${BACKUP_TOOLS:-restic furrow}
OUT=${OUT:-$SRC/$BUILD/bench/backup.md}
APP=store
log() { echo "bench/backup.sh: $*" >&2; }
die() { log "$*"; exit 1; }
has() { [[ " $TOOLS " == *" $1 "* ]]; }
[[ $BACKUP_MIB =~ ^[1-9][0-9]*$ ]] || die "BACKUP_MIB: a number of MiB"
for t in $TOOLS; do
	[ "$t" = restic ] || [ "$t" = furrow ] || die "BACKUP_TOOLS: restic and/or furrow, not '$t'"
done
[ -x /usr/bin/time ] || die "needs /usr/bin/time (apt-get install time)"
mkdir -p "$(dirname "$OUT")"

if has furrow; then
	FURROW=$(realpath "${FURROW:-$BUILD/furrow}")
	[ -x "$FURROW" ] || die "no furrow binary at $FURROW"
	# Fail here, not after minutes: the command set this bench is written to.
	if ! "$FURROW" backup --help >/dev/null 2>&1; then
		"$FURROW" backup --help 2>&1 | head -n 3 >&2 || true
		die "$FURROW has no 'backup' command (needs: backup key KEY, backup now APP, backup restore APP latest --to DIR); BACKUP_TOOLS=restic runs restic's half alone"
	fi
fi

work=$(mktemp -d "${BACKUP_TMP:-/var/tmp}/furrow-bench-backup.XXXXXX")
# furrow's read and evaluation children run as uid 65534 when furrow is root.
chmod 711 "$work"
export HOME=$work/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME" "$work/t" "$work/log"
STATE=$work/furrow/state

# stop_services STATE: stop every service furrow started under STATE (pid
# files "<pid> <start time>" of process group leaders; a reused pid is left
# alone).  As in bench/apply.sh.
stop_services() {
	local f pid start stat left="" still i
	for f in "$1"/apps/*/run/*.pid; do
		[ -f "$f" ] && read -r pid start _ <"$f" || continue
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		read -ra stat <<<"${stat##*) }"
		[ "${stat[19]}" = "$start" ] || continue
		kill -TERM -- "-$pid" 2>/dev/null && left="$left $pid"
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
trap 'set +eu; stop_services "$STATE"; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# ---- restic -----------------------------------------------------------------
if has restic; then
	if ! command -v restic >/dev/null && [ "$(id -u)" = 0 ]; then
		log "installing restic (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			restic >"$work/apt.log" 2>&1 ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$work/apt.log" 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends restic >>"$work/apt.log" 2>&1; } ||
			tail -n 5 "$work/apt.log" >&2
	fi
	command -v restic >/dev/null || die "restic not installed (apt-get install restic as root)"
	export RESTIC_PASSWORD=furrow-bench RESTIC_CACHE_DIR=$work/restic-cache
	RREPO=$work/restic-repo
	restic_version=$(restic version | head -n1)
fi

dropped=yes
drop_caches() {
	sync
	if [ "$dropped" = yes ] && ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		dropped=no
		log "cannot drop the page cache (not root?): steps may read from memory"
	fi
}

# manifest DIR OUT: one line per entry below DIR (not DIR itself), sorted:
# path, type, mode, uid:gid, size, sha256 of the content or the link target;
# then the hard-link groups; mtimes go to OUT.mtime.  Prints the bytes of
# the regular files (each inode once).
manifest() {
	python3 - "$1" "$2" <<-'PY'
	import hashlib, os, stat, sys
	top, out = sys.argv[1], sys.argv[2]
	rows, mt, inodes, total = [], [], {}, 0
	for d, dns, fns in os.walk(top):
	    for n in dns + fns:
	        p = os.path.join(d, n)
	        rel = os.path.relpath(p, top)
	        st = os.lstat(p)
	        m = st.st_mode
	        if stat.S_ISLNK(m):
	            t, h = "l", hashlib.sha256(os.readlink(p).encode()).hexdigest()
	        elif stat.S_ISDIR(m):
	            t, h = "d", "-"
	        elif stat.S_ISREG(m):
	            t, hs = "f", hashlib.sha256()
	            with open(p, "rb") as f:
	                while b := f.read(1 << 20):
	                    hs.update(b)
	            h = hs.hexdigest()
	            if st.st_nlink > 1:
	                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
	            if st.st_nlink == 1 or len(inodes[(st.st_dev, st.st_ino)]) == 1:
	                total += st.st_size
	        else:
	            t, h = "?", "-"
	        size = st.st_size if t == "f" else 0
	        rows.append(f"{rel}\t{t}\t{stat.S_IMODE(m):o}\t{st.st_uid}:{st.st_gid}\t{size}\t{h}")
	        if t == "f":
	            mt.append(f"{rel}\t{st.st_mtime_ns // 1000000000}")
	groups = sorted("hardlinks\t" + " ".join(sorted(g)) for g in inodes.values() if len(g) > 1)
	with open(out, "w") as f:
	    f.write("\n".join(sorted(rows) + groups) + "\n")
	with open(out + ".mtime", "w") as f:
	    f.write("\n".join(sorted(mt)) + "\n")
	print(total)
	PY
}

# verify TOOL DIR: DIR's manifest against the tree's (after the change).
verify() {
	local tool=$1 dir=$2 bad mbad
	manifest "$dir" "$work/t/$tool.restored" >/dev/null
	bad=$(diff "$work/t/tree1" "$work/t/$tool.restored" | grep -c '^[<>]' || true)
	mbad=$(diff "$work/t/tree1.mtime" "$work/t/$tool.restored.mtime" | grep -c '^>' || true)
	if [ "$bad" = 0 ]; then
		echo "$tool: restore equals the tree ($(grep -vc '^hardlinks' "$work/t/tree1") entries, hard links kept; $mbad files with another mtime)" >>"$work/t/verify"
	else
		echo "$tool: restore DIFFERS from the tree: $bad manifest lines differ ($mbad files with another mtime)" >>"$work/t/verify"
		{ diff "$work/t/tree1" "$work/t/$tool.restored" || :; } | grep '^[<>]' |
			head -n 10 | cut -c1-200 >>"$work/t/verify"
		verify_failed=1
	fi
}
verify_failed=0

# step TOOL STEP STORE -- command: drop the caches, run the command under
# /usr/bin/time -v (output to log/TOOL-STEP), record wall, CPU, RSS and
# `du -sb STORE` afterwards.  A failing command ends the bench.
step() {
	local tool=$1 name=$2 store=$3 t0 t1 rc=0
	shift 4
	drop_caches
	log "$tool: $name"
	t0=$(date +%s%N)
	/usr/bin/time -v -o "$work/t/$tool-$name.time" "$@" >"$work/log/$tool-$name" 2>&1 || rc=$?
	t1=$(date +%s%N)
	if [ "$rc" != 0 ]; then
		tail -n 20 "$work/log/$tool-$name" >&2
		die "$tool $name failed (exit $rc): $*"
	fi
	printf '{"tool":"%s","step":"%s","wall_ns":%s,"stored":%s,"tree":%s,"time":"%s"}\n' \
		"$tool" "$name" $((t1 - t0)) "$(du -sb "$store" | cut -f1)" "$tree_bytes" \
		"$work/t/$tool-$name.time" >>"$work/t/steps.jsonl"
}

# ---- furrow: key, signed repository, the app applied --------------------------
if has furrow; then
	K=$work/keys
	mkdir -p "$K" "$work/furrow"
	ssh-keygen -q -t ed25519 -N "" -C operator -f "$K/operator"
	echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
		>"$K/allowed_signers"
	W=$work/furrow/src
	git init -q -b main "$W"
	mkdir -p "$W/svc"
	printf '#!/bin/sh\nexec sleep 100000\n' >"$W/svc/run.sh"
	chmod 755 "$W/svc/run.sh"
	cat >"$W/furrow.lua" <<-EOF
	serial = 1
	app "$APP" { kind = "service", files = "svc", exec = { "run.sh" },
	  data = { "d" }, backup = { paths = { "d" } } }
	EOF
	git -C "$W" add -A
	git -C "$W" -c user.name=Operator -c user.email=op@example.net -c gpg.format=ssh \
		-c user.signingkey="$K/operator" commit -q -S -m "$APP with a backed-up data directory"
	git init -q --bare -b main "$work/furrow/srv.git"
	git -C "$W" push -q "$work/furrow/srv.git" HEAD:refs/heads/main
	chmod -R go+rX "$work/furrow/srv.git"
	CFG=$work/furrow/agent.lua
	cat >"$CFG" <<-EOF
	return {
	  host = { id = "bench" },
	  source = { url = "$work/furrow/srv.git" },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  backup = { key_file = "$work/furrow/backup.key" },
	}
	EOF
fi

# ---- the tree -----------------------------------------------------------------
tree_bytes=0
if has furrow; then
	# The key first: the config names it.  Measured as furrow's "init".
	step furrow init "$work/furrow/backup.key" -- "$FURROW" backup key "$work/furrow/backup.key"
	log "furrow apply: the app $APP (a service without a health check: about 2 s)"
	"$FURROW" -c "$CFG" apply >"$work/log/apply" 2>&1 ||
		{ tail -n 20 "$work/log/apply" >&2; die "furrow apply failed"; }
	TREE=$STATE/apps/$APP/data/d
	[ -d "$TREE" ] || die "furrow apply made no data directory $TREE"
else
	TREE=$work/tree/d
fi
load_start=$(cut -d" " -f1-3 /proc/loadavg)
log "generating $BACKUP_MIB MiB into $TREE"
t0=$(date +%s%N)
bench/gen-tree.sh "$TREE" "$BACKUP_MIB" "$SEED" 2>"$work/t/gen"
gen_s=$(( ($(date +%s%N) - t0) / 1000000 ))
tree_bytes=$(manifest "$TREE" "$work/t/tree0")

has restic && step restic init "$RREPO" -- restic init --repo "$RREPO"
for s in first second; do
	has restic && step restic "$s" "$RREPO" -- restic backup --repo "$RREPO" --host bench "$TREE"
	has furrow && step furrow "$s" "$STATE/backup" -- "$FURROW" -c "$CFG" backup now "$APP"
done
log "changing about 1% of the tree"
bench/gen-tree.sh --change "$TREE" "$SEED" 2>"$work/t/change"
tree_bytes=$(manifest "$TREE" "$work/t/tree1")
has restic && step restic third "$RREPO" -- restic backup --repo "$RREPO" --host bench "$TREE"
has furrow && step furrow third "$STATE/backup" -- "$FURROW" -c "$CFG" backup now "$APP"
if has restic; then
	step restic restore "$RREPO" -- restic restore latest --repo "$RREPO" --target "$work/restore-restic"
	verify restic "$work/restore-restic$TREE"
	rm -rf "$work/restore-restic"
	restic_repo_version=$(restic cat config --repo "$RREPO" | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
fi
if has furrow; then
	mkdir "$work/restore-furrow"
	step furrow restore "$STATE/backup" -- \
		"$FURROW" -c "$CFG" backup restore "$APP" latest --to "$work/restore-furrow"
	# The data directory's paths under DIR (DIR/d), or its content in DIR.
	if [ -d "$work/restore-furrow/d" ]; then
		verify furrow "$work/restore-furrow/d"
	else
		verify furrow "$work/restore-furrow"
	fi
	rm -rf "$work/restore-furrow"
	furrow_version="$("$FURROW" version | head -n1), binary $(basename "$(dirname "$FURROW")")/furrow"
fi

# ---- the table ----------------------------------------------------------------
B_DATE=$(date -u +%Y-%m-%dT%H:%MZ) B_CORES=$(nproc) B_KERNEL=$(uname -r) \
B_MEM=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) \
B_FS=$(df -T "$work" | awk 'NR == 2 {print $2}') B_MIB=$BACKUP_MIB B_SEED=$SEED B_GEN_MS=$gen_s \
B_RESTIC="${restic_version:-}" B_RESTIC_REPO="${restic_repo_version:-}" \
B_FURROW="${furrow_version:-}" B_DROPPED=$dropped \
B_LOAD="$load_start → $(cut -d" " -f1-3 /proc/loadavg)" \
python3 - "$work/t" <<'PY' | tee "$OUT"
import json, os, re, sys
E, T = os.environ, sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(T, "steps.jsonl"))]
def gnutime(path):
    v = {}
    for line in open(path):
        k, _, x = line.strip().rpartition(": ")
        v[k] = x
    return (float(v["User time (seconds)"]) + float(v["System time (seconds)"]),
            int(v["Maximum resident set size (kbytes)"]))
for r in rows:
    r["wall"] = r["wall_ns"] / 1e9
    r["cpu"], r["rss"] = gnutime(r["time"])
gen = open(os.path.join(T, "gen")).read().strip().split(": ", 2)[-1]
chg = open(os.path.join(T, "change")).read().strip().splitlines()[0]
chg = re.sub(r"^gen-tree: changed ", "", chg)
tools = [t for t in ("restic", "furrow") if any(r["tool"] == t for r in rows)]
print(f"### Backups: furrow vs restic, {E['B_MIB']} MiB mixed tree ({E['B_DATE']})")
print()
print(f"{E['B_CORES']} cores, {E['B_MEM']}, Linux {E['B_KERNEL']}, {E['B_FS']} on the same disk for "
      "tree, repositories and restores; "
      + "; ".join(x for x in (E["B_RESTIC"] and f"{E['B_RESTIC']} (repository version "
                              f"{E['B_RESTIC_REPO']}, compression auto)",
                              E["B_FURROW"]) if x) + ".")
print()
print(f"Tree (`bench/gen-tree.sh`, seed {E['B_SEED']}, generated in {int(E['B_GEN_MS']) / 1000:.1f} s): "
      f"{gen}. The 1% change: {chg}.")
print()
print("| step | tool | wall | CPU user+sys | MB/s | peak RSS | stored bytes | stored Δ |")
print("|---|---|---|---|---|---|---|---|")
what = {"init": "init", "first": "first backup", "second": "second backup, unchanged",
        "third": "third backup, after the 1% change", "restore": "restore latest"}
cmd = {("restic", "init"): "restic init", ("furrow", "init"): "furrow backup key"}
prev = {}
by = {(r["tool"], r["step"]): r for r in rows}
for s in what:
    for t in tools:
        r = by.get((t, s))
        if not r:
            continue
        d = r["stored"] - prev.get(t, 0)
        prev[t] = r["stored"]
        mbs = "–" if s == "init" else f"{r['tree'] / 1e6 / r['wall']:.0f}"
        stored = "–" if s == "restore" else f"{r['stored']:,}"
        delta = "–" if s in ("init", "restore") else f"{d:+,}"
        print(f"| {what[s]} | {cmd.get((t, s), t)} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {mbs} "
              f"| {r['rss'] / 1024:.1f} MiB | {stored} | {delta} |")
    f, x = by.get(("furrow", s)), by.get(("restic", s))
    if f and x and s != "init":
        q = lambda a, b: f"{a / b:.2f}×" if b else "–"
        print(f"| {what[s]} | **furrow ÷ restic** | {q(f['wall'], x['wall'])} | {q(f['cpu'], x['cpu'])} "
              f"| {q(x['wall'], f['wall'])} | {q(f['rss'], x['rss'])} "
              f"| {'–' if s == 'restore' else q(f['stored'], x['stored'])} | |")
print()
print("Restores checked against the tree (type, mode, owner, size, SHA-256 of every file "
      "and symlink target, hard-link groups):")
print()
for line in open(os.path.join(T, "verify")):
    print(("- " if not line.startswith(("<", ">")) else "  - ") + line.rstrip())
print()
drop = ("`sync` and `echo 3 > /proc/sys/vm/drop_caches` before every step, so both tools read "
        "from disk" if E["B_DROPPED"] == "yes" else
        "**the page cache could not be dropped** (not root): steps may have read from memory")
print(f"Measured: one run; {drop}. Wall: our clock around the command; CPU (user+sys) and peak "
      "RSS (the largest single process) from `/usr/bin/time -v`, children included. MB/s: the "
      "tree's file bytes (a hard-linked file once; 10^6 bytes per MB) over the wall time, also "
      "for the steps that read little. Stored: `du -sb` of restic's repository (its cache in "
      "the work directory not counted) and of furrow's `STATE_DIR/backup`, after the step; Δ "
      "from the previous row of the same tool. Steps alternate between the tools. Load average "
      f"(1/5/15 min) at the start and the end: {E['B_LOAD']} ({E['B_CORES']} cores): other work "
      "on the machine lengthens the wall times more than the CPU times.")
print()
PY
log "written to $OUT"
[ "$verify_failed" = 0 ] || die "a restore differs from the tree"
