#!/usr/bin/env bash
# bench/container.sh - furrow's container driver against a real Podman API
# service, set up as tests/t0040-container.sh does (`podman system service`
# on a socket in a temporary directory, its own vfs storage, runc,
# cgroupfs; a docker-registry on loopback; two busybox-static httpd images
# v1 and v2 pushed to it), measured:
#
#   1. update of one container app (network host, stop-first on a fixed
#      port; the container's PID 1 is `sh -c "trap 'exit 0' TERM; httpd
#      ... & wait"`, since busybox httpd as PID 1 ignores SIGTERM and every
#      stop would wait out the stop timeout; http health check with a body match, interval 0.1 s, settle
#      0.5 s) whose new image is already pulled (both images pre-pulled
#      with podman).  Each run commits the other version (v1/v2
#      alternating, so every run is an update) and times `furrow apply`:
#      its wall time from start to exit, and the daemon-side span from the
#      `apply.update_started` log line to `apply.updated` (new slot
#      healthy and switched); the settle is subtracted from both.  Beside
#      it, the same update by hand through the same API service (`podman
#      --remote`): remove the stale container of the other slot, create
#      the new one, stop the old (stop-first: same port), start the new,
#      poll its http port every 10 ms until it serves the new version.
#      Runs alternate furrow / by hand, one discarded warm-up each, median
#      of RUNS (5).
#   2. one `furrow apply` pass that creates APPS (20) container apps (busybox
#      httpd, network host, distinct ports, tcp health check, interval
#      0.1 s, settle 0): wall and CPU (wait4, children included; untraced),
#      and, in a second identical pass on another 20 apps (another agent,
#      other names and ports), the peak RSS (VmHWM, rusage.py --trace) of
#      furrow and its children.  The API service's own CPU over each pass
#      is read from /proc.
#
# Writes $OUT (default $BUILD/bench/container.txt) and prints it.
# Environment: BUILD (build), FURROW ($BUILD/furrow), RUNS (5), APPS (20).
# Needs root, podman, skopeo, docker-registry, runc, busybox-static (the
# packages are installed with apt-get when missing), git, ssh-keygen,
# python3, curl.  Everything (containers, service, registry, storage) is
# removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${BUILD:-build}
FURROW=$(realpath "${FURROW:-$BUILD/furrow}")
RUNS=${RUNS:-5}
APPS=${APPS:-20}
OUT=${OUT:-$SRC/$BUILD/bench/container.txt}
mkdir -p "$(dirname "$OUT")"
RUSAGE=$SRC/bench/rusage.py
log() { echo "bench/container.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	log "needs root (podman with runc, cgroupfs): skipped"
	exit 0
fi
need=()
for p in podman skopeo docker-registry runc busybox-static; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${need[@]}" >/dev/null 2>&1 || true
fi
for c in podman skopeo docker-registry runc curl; do
	command -v $c >/dev/null || { log "$c is not installed: skipped"; exit 0; }
done
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
	log "/bin/busybox is not busybox-static: skipped"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/furrow-bench-container.XXXXXX")
# furrow's read and evaluation children run as uid 65534 when furrow is root.
chmod 711 "$work"
export HOME=$work/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME"
K=$work/keys
PM=$work/podman
SOCK=$PM/podman.sock
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
P_REG=$(free_port)
REG=127.0.0.1:$P_REG

# Podman as in tests/t0040-container.sh: runc, cgroupfs, storage (vfs),
# run state, tmp dir, network config and events all under $PM.
mkdir -p "$PM"
cat >"$PM/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$PM/tmp"
[network]
network_config_dir = "$PM/net"
EOF
cat >"$PM/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$PM/root"
runroot = "$PM/run"
EOF
cat >"$PM/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$REG"
insecure = true
EOF
export CONTAINERS_CONF=$PM/containers.conf
export CONTAINERS_STORAGE_CONF=$PM/storage.conf
export CONTAINERS_REGISTRIES_CONF=$PM/registries.conf
pr() { podman --remote --url "unix://$SOCK" "$@"; }

svc_pid= reg_pid=
cleanup() {
	if [ -n "$svc_pid" ]; then
		timeout 60 podman rm -af -t 0 >/dev/null 2>&1
		kill "$svc_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$svc_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$svc_pid" 2>/dev/null
		wait "$svc_pid" 2>/dev/null
	fi
	if [ -n "$reg_pid" ]; then
		kill "$reg_pid" 2>/dev/null
		wait "$reg_pid" 2>/dev/null
	fi
	grep -o " $work[^ ]*" /proc/mounts | sort -r |
		while read -r m; do umount -l "$m"; done
	rm -rf "$work"
}
trap 'set +eu; cleanup' EXIT
trap 'exit 130' INT TERM

log "podman API service, registry, images v1 and v2"
podman system service --time=0 "unix://$SOCK" >>"$PM/service.log" 2>&1 </dev/null &
svc_pid=$!
for _ in $(seq 100); do
	[ "$(curl -s --max-time 1 --unix-socket "$SOCK" http://d/_ping)" = OK ] && break
	sleep 0.1
done
[ "$(curl -s --max-time 1 --unix-socket "$SOCK" http://d/_ping)" = OK ] ||
	{ log "podman system service did not answer"; cat "$PM/service.log" >&2; exit 1; }
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $work/registry/data}
http:
  addr: $REG
EOF
docker-registry serve "$work/registry/config.yml" >>"$work/registry/log" 2>&1 </dev/null &
reg_pid=$!
for _ in $(seq 50); do
	curl -sf --max-time 1 "http://$REG/v2/" >/dev/null && break
	sleep 0.1
done

# mkimg VERSION DIR: an OCI layout in DIR/oci of a busybox root whose
# /www/version.txt says VERSION (tests/t0040-container.sh); its manifest
# digest in DIR/digest.
mkimg() {
	local v=$1 d=$2 r=$2/rootfs a diff lsha lsz csha csz msha msz
	mkdir -p "$r/bin" "$r/www" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" \
		"$d/oci/blobs/sha256"
	cp /bin/busybox "$r/bin/"
	for a in sh httpd cat echo sleep ls; do ln -s busybox "$r/bin/$a"; done
	echo "root:x:0:0:root:/:/bin/sh" >"$r/etc/passwd"
	echo "root:x:0:" >"$r/etc/group"
	echo "$v" >"$r/www/version.txt"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C "$r" -cf "$d/layer.tar" .
	diff=$(sha256sum <"$d/layer.tar" | cut -d" " -f1)
	gzip -n -1 -c "$d/layer.tar" >"$d/layer.tgz"
	lsha=$(sha256sum <"$d/layer.tgz" | cut -d" " -f1)
	lsz=$(stat -c %s "$d/layer.tgz")
	mv "$d/layer.tgz" "$d/oci/blobs/sha256/$lsha"
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/httpd","-f","-p","8080","-h","/www"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$diff" >"$d/config.json"
	csha=$(sha256sum <"$d/config.json" | cut -d" " -f1)
	csz=$(stat -c %s "$d/config.json")
	mv "$d/config.json" "$d/oci/blobs/sha256/$csha"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
		"$csha" "$csz" "$lsha" "$lsz" >"$d/manifest.json"
	msha=$(sha256sum <"$d/manifest.json" | cut -d" " -f1)
	msz=$(stat -c %s "$d/manifest.json")
	mv "$d/manifest.json" "$d/oci/blobs/sha256/$msha"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
		"$msha" "$msz" "$v" >"$d/oci/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci/oci-layout"
	echo "sha256:$msha" >"$d/digest"
}
for v in v1 v2; do
	mkimg $v "$work/img-$v"
	skopeo copy -q --dest-tls-verify=false "oci:$work/img-$v/oci:$v" \
		"docker://$REG/edge/web:$v"
done
img() { echo "$REG/edge/web:$1@$(cat "$work/img-$1/digest")"; }
img_ref() { echo "$REG/edge/web@$(cat "$work/img-$1/digest")"; }
# The new image is already pulled: both, before anything is timed.
for v in v1 v2; do pr pull -q "$(img_ref $v)" >/dev/null; done

mkdir -p "$K"
ssh-keygen -q -t ed25519 -N "" -C operator -f "$K/operator"
echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
	>"$K/allowed_signers"
# repo DIR: a signed repository DIR/src pushed to DIR/srv.git, and
# DIR/agent.lua; publish DIR: commit and push DIR/src/furrow.lua.
publish() {
	git -C "$1/src" add -A
	git -C "$1/src" -c user.name=Operator -c user.email=op@example.net \
		-c gpg.format=ssh -c user.signingkey="$K/operator" \
		commit -q -S --allow-empty -m change
	git -C "$1/src" push -q -f origin HEAD:refs/heads/main
	chmod -R go+rX "$1/srv.git"
}
repo() {
	mkdir -p "$1"
	git init -q -b main "$1/src"
	git init -q --bare -b main "$1/srv.git"
	git -C "$1/src" remote add origin "$1/srv.git"
	cat >"$1/agent.lua" <<-EOF
	return {
	  host = { id = "bench" },
	  source = { url = "$1/srv.git" },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  containers = { socket = "$SOCK" },
	  apply = { stop_timeout = 1 },
	}
	EOF
}

# ---- 1. update to an already pulled image -----------------------------------
U=$work/update
repo "$U"
P_WEB=$(free_port)
P_HAND=$(free_port)
web() { # VERSION
	cat >"$U/src/furrow.lua" <<-EOF
	serial = 1
	app "web" { kind = "container", image = "$(img "$1")", network = "host",
	  exec = { "sh", "-c", "trap 'exit 0' TERM; httpd -f -p $P_WEB -h /www & wait" },
	  strategy = "stop-first",
	  health = { http = "http://127.0.0.1:$P_WEB/version.txt", body = "$1",
	             interval = 0.1, timeout = 1, retries = 30, settle = 0.5 } }
	EOF
}
web v1
publish "$U"
"$FURROW" -c "$U/agent.lua" apply >"$U/first.out" 2>&1 ||
	{ cat "$U/first.out" >&2; exit 1; }
pr run -d -q --name hand-a --network host "$(img_ref v1)" \
	sh -c "trap 'exit 0' TERM; httpd -f -p $P_HAND -h /www & wait" >/dev/null
log "update: $RUNS runs (+1 warm-up) each, furrow and by hand alternating"
rows=$work/update.jsonl
SETTLE=0.5 python3 - "$FURROW" "$U" "$P_WEB" "$P_HAND" "$RUNS" \
	"$(img_ref v1)" "$(img_ref v2)" "$(img v1)" "$(img v2)" "$SOCK" >"$rows" <<'PY'
import calendar, json, os, re, subprocess, sys, time, urllib.request
furrow, U, pweb, phand, runs = sys.argv[1:6]
runs = int(runs)
ref = {"v1": sys.argv[6], "v2": sys.argv[7]}
pin = {"v1": sys.argv[8], "v2": sys.argv[9]}
sock = sys.argv[10]
settle = float(os.environ["SETTLE"])
src = os.path.join(U, "src")
def sh(*a):
    return subprocess.run(list(a), check=True, capture_output=True, text=True).stdout.strip()
def pr(*a, check=True):
    return subprocess.run(["podman", "--remote", "--url", f"unix://{sock}", *a], check=check,
                          capture_output=True, text=True)
def served(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/version.txt", timeout=1) as r:
            return r.read().decode().strip()
    except Exception:
        return None
def ts(s):
    t = time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) + float("0" + s[19:].rstrip("Z"))
def publish(v):
    fl = open(os.path.join(src, "furrow.lua")).read()
    fl = re.sub(r'image = "[^"]*"', f'image = "{pin[v]}"', fl)
    fl = re.sub(r'body = "v\d"', f'body = "{v}"', fl)
    open(os.path.join(src, "furrow.lua"), "w").write(fl)
    sh("git", "-C", src, "add", "-A")
    sh("git", "-C", src, "-c", "user.name=Operator", "-c", "user.email=op@example.net",
       "-c", "gpg.format=ssh", "-c", f"user.signingkey={os.environ['HOME']}/../keys/operator",
       "commit", "-q", "-S", "-m", v)
    sh("git", "-C", src, "push", "-q", "origin", "HEAD:refs/heads/main")
    sh("chmod", "-R", "go+rX", os.path.join(U, "srv.git"))
def run_furrow(v):
    publish(v)  # not timed: the commit and push
    t0 = time.time()
    p = subprocess.run([furrow, "-c", os.path.join(U, "agent.lua"), "apply"],
                       capture_output=True, text=True)
    t1 = time.time()
    out = p.stdout + p.stderr
    if p.returncode or "update: applied" not in out or served(pweb) != v:
        sys.exit(f"bench/container.sh: furrow apply to {v} failed:\n{out}")
    lt = {}
    for line in out.splitlines():
        m = re.search(r"time=(\S+) .*event=(\S+)", line)
        if m and m.group(2) not in lt:
            lt[m.group(2)] = ts(m.group(1))
    span = None
    if "apply.update_started" in lt and "apply.updated" in lt:
        span = (lt["apply.updated"] - lt["apply.update_started"] - settle) * 1000
    return {"who": "furrow", "v": v, "wall_ms": (t1 - t0 - settle) * 1000, "span_ms": span,
            "start_ms": (lt["apply.update_started"] - t0) * 1000 if "apply.update_started" in lt else None}
hand_slot = "a"
def run_hand(v):
    global hand_slot
    old, new = f"hand-{hand_slot}", "hand-" + ("b" if hand_slot == "a" else "a")
    t0 = time.time()
    pr("rm", "-f", "-t", "0", new, check=False)  # the stale container of the other slot
    pr("create", "-q", "--name", new, "--network", "host", ref[v],
       "sh", "-c", f"trap 'exit 0' TERM; httpd -f -p {phand} -h /www & wait")
    t_create = time.time()
    pr("stop", "-t", "1", old)
    t_stop = time.time()
    pr("start", new)
    t_start = time.time()
    polls = 0
    while served(phand) != v:
        polls += 1
        if time.time() > t0 + 30:
            sys.exit("bench/container.sh: by hand: the new container never answered")
        time.sleep(0.01)
    t1 = time.time()
    hand_slot = new[-1]
    return {"who": "hand", "v": v, "wall_ms": (t1 - t0) * 1000, "span_ms": (t1 - t0) * 1000,
            "rm_create_ms": (t_create - t0) * 1000, "stop_ms": (t_stop - t_create) * 1000,
            "start_ms": (t_start - t_stop) * 1000, "answer_ms": (t1 - t_start) * 1000,
            "polls": polls}
v = "v1"
for i in range(runs + 1):
    v = "v2" if v == "v1" else "v1"
    for r in (run_furrow(v), run_hand(v)):
        r["warmup"] = i == 0
        print(json.dumps(r), flush=True)
PY

# ---- 2. one pass creating APPS container apps -------------------------------
# many DIR NAME BASEPORT: APPS container apps NAME-01.. on ports BASEPORT+i.
many() {
	repo "$1"
	{
		echo "serial = 1"
		for ((i = 1; i <= APPS; i++)); do
			printf 'app "%s-%02d" { kind = "container", image = "%s", network = "host",\n' "$2" "$i" "$(img v1)"
			printf '  exec = { "httpd", "-f", "-p", "%d", "-h", "/www" },\n' $(($3 + i))
			printf '  health = { tcp = "127.0.0.1:%d", interval = 0.1, timeout = 1, retries = 50, settle = 0 } }\n' $(($3 + i))
		done
	} >"$1/src/furrow.lua"
	publish "$1"
}
svc_cpu() { # the API service's user+sys CPU, ms
	python3 -c 'import os,sys; f=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split(); print((int(f[11])+int(f[12]))*1000/os.sysconf("SC_CLK_TCK"))' "$svc_pid"
}
base=$(python3 -c 'import random; print(random.randrange(20000, 30000, 100))')
many "$work/many1" c "$base"
many "$work/many2" d $((base + 50))
log "a pass creating $APPS container apps (untraced)"
c0=$(svc_cpu)
python3 "$RUSAGE" --out "$work/many1/apply.out" -- "$FURROW" -c "$work/many1/agent.lua" apply \
	>"$work/many1.json"
c1=$(svc_cpu)
log "the same pass on $APPS other apps (traced)"
python3 "$RUSAGE" --trace --out "$work/many2/apply.out" -- "$FURROW" -c "$work/many2/agent.lua" apply \
	>"$work/many2.json"
c2=$(svc_cpu)
for d in many1 many2; do
	n=$(grep -c "create: applied" "$work/$d/apply.out" || true)
	[ "$n" = "$APPS" ] || { log "$d: $n of $APPS created"; cat "$work/$d/apply.out" >&2; exit 1; }
done
running=$(pr ps -q --filter label=furrow.app | wc -l)

# ---- the table --------------------------------------------------------------
B_DATE=$(date -u +%Y-%m-%dT%H:%MZ) B_CORES=$(nproc) B_KERNEL=$(uname -r) \
B_FURROW="$("$FURROW" version | head -n1), binary $(basename "$(dirname "$FURROW")")/furrow" \
B_PODMAN="$(podman version --format '{{.Server.Version}}' 2>/dev/null || podman --version)" \
B_APPS=$APPS B_SVC1=$(python3 -c "print($c1 - $c0)") B_SVC2=$(python3 -c "print($c2 - $c1)") \
B_RUNNING=$running \
python3 - "$rows" "$work/many1.json" "$work/many2.json" <<'PY' | tee "$OUT"
import json, os, statistics as st, sys
E = os.environ
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
m1, m2 = (json.load(open(f)) for f in sys.argv[2:4])
f = [r for r in rows if r["who"] == "furrow" and not r["warmup"]]
h = [r for r in rows if r["who"] == "hand" and not r["warmup"]]
med = lambda xs, k: st.median(r[k] for r in xs if r.get(k) is not None)
rng = lambda xs, k: f"{min(r[k] for r in xs):.0f}–{max(r[k] for r in xs):.0f}"
print(f"## Containers: update to a pulled image; a pass creating {E['B_APPS']} containers ({E['B_DATE']})")
print()
print(f"{E['B_CORES']} cores, Linux {E['B_KERNEL']}, {E['B_FURROW']}, Podman {E['B_PODMAN']} "
      "API service (runc, cgroupfs, vfs storage).")
print()
print(f"Update of one container app to an image already pulled (network host, stop-first, "
      f"http health check, interval 0.1 s, settle 0.5 s subtracted), median of {len(f)} runs "
      f"after one warm-up, v1/v2 alternating, ms:")
print()
print("| | plan → new slot healthy and switched (log, minus settle) | command start → exit (minus settle) | min–max (log / command) |")
print("|---|---|---|---|")
print(f"| `furrow apply` | **{med(f, 'span_ms'):.0f}** | {med(f, 'wall_ms'):.0f} "
      f"| {rng(f, 'span_ms')} / {rng(f, 'wall_ms')} |")
print(f"| by hand, `podman --remote` rm + create, stop old, start new, poll http every 10 ms | "
      f"– | **{med(h, 'wall_ms'):.0f}** | – / {rng(h, 'wall_ms')} |")
print(f"| furrow ÷ by hand | {med(f, 'span_ms') / med(h, 'wall_ms'):.2f}× | "
      f"{med(f, 'wall_ms') / med(h, 'wall_ms'):.2f}× | |")
print()
print(f"By hand, medians: rm of the stale container + create {med(h, 'rm_create_ms'):.0f} ms, "
      f"stop old {med(h, 'stop_ms'):.0f} ms, start new {med(h, 'start_ms'):.0f} ms, "
      f"first answer of the new version {med(h, 'answer_ms'):.0f} ms after start returned. "
      f"furrow: `apply.update_started` logged {med(f, 'start_ms'):.0f} ms after the command started "
      "(config, fetch, verification, plan).")
print()
mib = lambda k: f"{k / 1024:.1f}"
procs = [p for c in m2.get("procs", []) for p in c["procs"]]
top = next((p for p in procs if p.get("top")), None)
print(f"One `furrow apply` creating {E['B_APPS']} container apps (busybox httpd, network host, "
      "distinct ports, tcp health check, interval 0.1 s, settle 0; images already pulled; "
      "apply.parallel default):")
print()
print("| wall | furrow CPU user+sys (user / sys), children included | Podman service CPU during the pass | peak RSS, largest furrow process | furrow parent's peak |")
print("|---|---|---|---|---|")
print(f"| {m1['wall_ms']:.0f} ms | {m1['user_ms'] + m1['sys_ms']:.0f} ms ({m1['user_ms']:.0f} / {m1['sys_ms']:.0f}) "
      f"| {float(E['B_SVC1']):.0f} ms | {mib(m2['peak_kib'])} MiB | {mib(m2['top_kib'])} MiB |")
print()
print(f"(The traced pass, on {E['B_APPS']} other apps: wall {m2['wall_ms']:.0f} ms under ptrace, "
      f"Podman service CPU {float(E['B_SVC2']):.0f} ms; {len([p for p in procs if not p.get('thread_of')])} furrow "
      f"processes, {len([p for p in procs if p.get('thread_of')])} threads; "
      f"{E['B_RUNNING']} furrow containers running at the end.)")
print()
PY
log "wrote $OUT"
