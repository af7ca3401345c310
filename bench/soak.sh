#!/usr/bin/env bash
# bench/soak.sh - `furrow run` for SOAK_SECONDS against a report receiver
# that flaps: does the daemon's memory stay flat, and does every report
# arrive?
#
#   - a signed repository of APPS (50) service apps, each `exec sleep
#     100000` from a shared two-line script, no health check (running
#     counts as healthy), as in bench/apply.sh;
#   - `furrow run` with source.interval = 10 s (jitter 0), apply.parallel =
#     PARALLEL (16: the first pass starts the 50 services in 4 rounds of
#     2 s), report.interval = 1 s (a heartbeat every second),
#     metrics.textfile, and report.url = http://127.0.0.1:PORT/ (plain
#     http, allowed for a loopback collector);
#   - the receiver (/usr/bin/python3, http.server, one POST at a time)
#     flaps every FLAP (60) s: up (stores each document, answers 200),
#     then down, alternately with its process stopped (connection
#     refused) and answering 500 to everything;
#   - every SAMPLE (10) s one CSV row: the daemon's VmRSS, VmHWM,
#     RssAnon, RssFile, VmSize, threads, open fds, CPU (own, and of its
#     reaped children), furrow_outbox_items/_bytes/_dropped_total from the
#     textfile (rewritten after every pass, so up to 10 s old), the
#     documents the receiver holds (distinct seq) and the POSTs it stored,
#     the age of the newest document it holds, the services running (pid
#     and start time from apps/APP/run/SLOT.pid), the size of data.mdb and
#     the load average;
#   - at SOAK_SECONDS, the footprint: PSS (smaps_rollup) of the daemon, of
#     the furrow processes under it (each service's log relay) and of the
#     services;
#   - after SOAK_SECONDS: the receiver stays up until the sender has
#     caught up (the newest document received is at most 3 s old; at most
#     330 s, beyond the 300 s backoff cap), then SIGTERM to the daemon (its
#     exit status and time to exit are recorded); one `furrow apply
#     --no-sync` then delivers what the daemon left queued, plus its own
#     report (it sends for up to report.timeout after its pass);
#   - checks: the receiver got every seq from 1 to the newest except as
#     many as the newest document counts as dropped (outbox.dropped is
#     cumulative), no dead letters, documents arrived in seq order
#     (duplicates, allowed by at-least-once delivery, are counted);
#   - memory after the warm-up (WARMUP, 300 s, excluded): VmRSS min, max,
#     median and the slope of a least-squares line (KiB per hour), and the
#     same for RssAnon (the heap: RssFile also counts pages of the binary
#     and of the LMDB map the daemon has touched, which the kernel may
#     reclaim).  Goal: flat after the warm-up (|slope| under 64 KiB per
#     hour) and under 8 MiB.
#   - for the cost of one report's write into the outbox there is no CLI:
#     when $BUILD/dev/tests/test_outbox exists (`make BUILD=... dev`) it
#     runs before the soak and its diag lines (1000 adds of a 2 KiB
#     report, each committed and synced; ASan/UBSan build) are quoted.
#
# If the daemon dies, the time and its exit status are recorded, the
# sampling stops, the figures so far are written and the script exits 1.
#
# Appends a markdown section to $OUT (default $BUILD/bench/soak.txt) and
# prints it; the samples go to $CSV (default $BUILD/bench/soak.csv), the
# daemon's log to $BUILD/bench/soak-daemon.log.  Environment: BUILD (build),
# FURROW ($BUILD/furrow), SOAK_SECONDS (3600), APPS (50), PARALLEL (16),
# FLAP (60), SAMPLE (10), WARMUP (300), OUT, CSV, DLOG.  Called by `make bench`
# only when SOAK_SECONDS is set.  Needs: git, ssh-keygen, python3,
# /usr/bin/python3.  Every process it started (the daemon, the receiver,
# the sampler, the services furrow started) is stopped at exit, also on
# failure or interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${BUILD:-build}
FURROW=$(realpath "${FURROW:-$BUILD/furrow}")
SOAK_SECONDS=${SOAK_SECONDS:-3600}
APPS=${APPS:-50}
PARALLEL=${PARALLEL:-16}
FLAP=${FLAP:-60}
SAMPLE=${SAMPLE:-10}
WARMUP=${WARMUP:-300}
OUT=${OUT:-$SRC/$BUILD/bench/soak.txt}
CSV=${CSV:-$SRC/$BUILD/bench/soak.csv}
DLOG=${DLOG:-$SRC/$BUILD/bench/soak-daemon.log}
mkdir -p "$(dirname "$OUT")" "$(dirname "$CSV")" "$(dirname "$DLOG")"
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "bench/soak.sh: needs $PY" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/furrow-bench-soak.XXXXXX")
# furrow's read and evaluation children run as uid 65534 when furrow is root.
chmod 711 "$work"
export HOME=$work/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME"
K=$work/keys
log() { echo "bench/soak.sh: $(date -u +%H:%M:%S) $*" >&2; }

# stop_services STATE: stop every service furrow started under STATE
# (apps/APP/run/SLOT.pid: "<pid> <start time>" of a process group leader;
# a reused pid, whose start time differs, is left alone).
stop_services() {
	local st=$1 f pid start stat left="" still i
	for f in "$st"/apps/*/run/*.pid; do
		[ -f "$f" ] && read -r pid start _ <"$f" || continue
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		read -ra stat <<<"${stat##*) }"
		[ "${stat[19]}" = "$start" ] || continue
		kill -TERM -- "-$pid" 2>/dev/null && left="$left $pid"
	done
	for ((i = 0; i < 50; i++)); do
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
# stop_pid PID [seconds]: TERM, then KILL after the grace; only a child of
# this shell (wait reaps it).
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
}
daemon= sampler= receiver=
cleanup() {
	stop_pid "$sampler" 5
	# The sampler stops its receiver; one it left (killed hard) is here.
	if [ -f "$work/receiver.pid" ]; then
		local rp
		rp=$(cat "$work/receiver.pid")
		[ -n "$rp" ] && grep -q receiver.py "/proc/$rp/cmdline" 2>/dev/null &&
			kill -TERM "$rp" 2>/dev/null
	fi
	stop_pid "$receiver" 5
	stop_pid "$daemon" 30
	stop_services "$work/state"
	[ ! -f "$work/daemon.log" ] || cp "$work/daemon.log" "$DLOG"
	rm -rf "$work"
}
trap 'set +eu; cleanup' EXIT
trap 'exit 130' INT TERM

# ---- the cost of one outbox write (unit test, no CLI) -----------------------
UNIT=$SRC/$BUILD/dev/tests/test_outbox
outbox_diag=""
if [ -x "$UNIT" ]; then
	log "outbox write cost: $UNIT"
	(cd "$work" && "$UNIT") >"$work/unit.out" 2>&1 ||
		{ log "test_outbox failed:"; grep -v '^ok' "$work/unit.out" | tail -n 20 >&2; exit 1; }
	outbox_diag=$(grep '^# outbox_add' "$work/unit.out" | sed 's/^# //')
else
	log "no $UNIT (make BUILD=$BUILD dev): outbox write cost not measured"
fi

# ---- the repository, the agent ---------------------------------------------
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
W=$work/src
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
git init -q --bare -b main "$work/srv.git"
git -C "$W" push -q "$work/srv.git" HEAD:refs/heads/main
chmod -R go+rX "$work/srv.git"

port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/metrics"
cat >"$work/agent.lua" <<EOF
return {
  host = { id = "soak" },
  source = { url = "$work/srv.git", interval = 10, jitter = 0 },
  trust = { commit_signers = "$K/allowed_signers" },
  state_dir = "state",
  report = { url = "http://127.0.0.1:$port/v1/furrow", interval = 1 },
  metrics = { textfile = "$work/metrics/furrow.prom" },
  apply = { parallel = $PARALLEL },
}
EOF
"$FURROW" -c "$work/agent.lua" check --quiet

# ---- the receiver -----------------------------------------------------------
# receiver.py PORT MODE LOG: MODE "up" appends one JSON line per POST to LOG
# (written with one write(2) before the answer, so a kill never leaves a
# document that was acknowledged but not stored) and answers 200; "500"
# answers 500 and stores nothing.
cat >"$work/receiver.py" <<'PY'
import http.server, json, os, sys, time
port, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if mode != "up":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            d = json.loads(body)
        except ValueError:
            d = {}
        o = d.get("outbox") or {}
        rec = {"recv": time.time(), "seq": d.get("seq"), "kind": d.get("kind"),
               "time": d.get("time"), "key": d.get("idempotency_key"),
               "header_key": self.headers.get("Idempotency-Key"), "bytes": len(body),
               "dropped": o.get("dropped"), "dead": o.get("dead_letters"),
               "depth": o.get("depth")}
        os.write(fd, (json.dumps(rec) + "\n").encode())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer.allow_reuse_address = True
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY

# ---- the soak ---------------------------------------------------------------
log "furrow run: $APPS services, heartbeat every 1 s, receiver flapping every ${FLAP} s, for ${SOAK_SECONDS} s"
"$FURROW" -c "$work/agent.lua" run >"$work/daemon.log" 2>&1 &
daemon=$!
: >"$work/received.jsonl"
# The sampler: flaps the receiver, writes the CSV, watches the daemon.
"$PY" - "$daemon" "$work" "$port" "$SOAK_SECONDS" "$FLAP" "$SAMPLE" "$CSV" <<'PY' &
import csv, json, os, signal, socket, subprocess, sys, time
daemon, work, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
soak, flap, sample, out = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
recv_log = os.path.join(work, "received.jsonl")
textfile = os.path.join(work, "metrics", "furrow.prom")
state = os.path.join(work, "state")
tck = os.sysconf("SC_CLK_TCK")
rx = None
def stop_rx():
    global rx
    if rx:
        rx.terminate()
        try:
            rx.wait(5)
        except subprocess.TimeoutExpired:
            rx.kill()
            rx.wait()
        rx = None
    open(os.path.join(work, "receiver.pid"), "w").close()
def start_rx(mode):
    global rx
    stop_rx()
    rx = subprocess.Popen(["/usr/bin/python3", os.path.join(work, "receiver.py"), str(port),
                           mode, recv_log], stdin=subprocess.DEVNULL,
                          stderr=open(os.path.join(work, "receiver.err"), "a"))
    with open(os.path.join(work, "receiver.pid"), "w") as f:
        f.write(str(rx.pid))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if rx.poll() is not None:
                break
            time.sleep(0.05)
    sys.exit(f"bench/soak.sh: the receiver ({mode}) does not listen on {port}")
def alive():
    try:
        with open(f"/proc/{daemon}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
def status():
    s = {}
    with open(f"/proc/{daemon}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            s[k] = v.split()[0] if v.split() else ""
    with open(f"/proc/{daemon}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    s["cpu"] = (int(st[11]) + int(st[12])) / tck
    s["ccpu"] = (int(st[13]) + int(st[14])) / tck
    s["fds"] = len(os.listdir(f"/proc/{daemon}/fd"))
    return s
def metrics():
    m = {"furrow_outbox_items": "", "furrow_outbox_bytes": "", "dropped": 0}
    try:
        for line in open(textfile):
            if line.startswith("#"):
                continue
            name, _, v = line.rpartition(" ")
            if name in m:
                m[name] = int(float(v))
            elif name.startswith("furrow_outbox_dropped_total"):
                m["dropped"] += int(float(v))
    except OSError:
        pass
    return m
seqs, posts, newest, rpos = set(), 0, 0.0, 0
def received():
    global posts, newest, rpos
    with open(recv_log, "rb") as f:
        f.seek(rpos)
        data = f.read()
    end = data.rfind(b"\n") + 1
    rpos += end
    for line in data[:end].splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        posts += 1
        if d.get("seq") is not None:
            seqs.add(d["seq"])
        newest = max(newest, d.get("time") or 0)
def services():
    n = 0
    apps = os.path.join(state, "apps")
    for app in os.listdir(apps) if os.path.isdir(apps) else ():
        run = os.path.join(apps, app, "run")
        for p in os.listdir(run) if os.path.isdir(run) else ():
            if not p.endswith(".pid"):
                continue
            try:
                pid, start = open(os.path.join(run, p)).read().split()[:2]
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[19] == start:
                        n += 1
            except (OSError, ValueError, IndexError):
                pass
    return n
def rollup(pid):
    r = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        f = line.split()
        if len(f) == 3 and f[2] == "kB":
            r[f[0].rstrip(":")] = int(f[1])
    return r
def footprint():
    # PSS of the daemon, of the furrow processes under it (a log relay
    # per service) and of the services themselves.
    exe = os.readlink(f"/proc/{daemon}/exe")
    fp = {"daemon_pss_kib": rollup(daemon)["Pss"], "relays": 0, "relays_pss_kib": 0,
          "services_pss_kib": 0}
    todo = [daemon]
    while todo:
        p = todo.pop()
        for c in open(f"/proc/{p}/task/{p}/children").read().split():
            try:
                pss = rollup(c)["Pss"]
                if os.readlink(f"/proc/{c}/exe") == exe:
                    fp["relays"] += 1
                    fp["relays_pss_kib"] += pss
                else:
                    fp["services_pss_kib"] += pss
            except (OSError, KeyError):
                continue
            todo.append(int(c))
    return fp
def phase_of(t):
    k = int(t // flap)
    return "up" if k % 2 == 0 else ("stopped" if k % 4 == 1 else "500")
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
cols = ["t_s", "phase", "vmrss_kib", "vmhwm_kib", "rss_anon_kib", "rss_file_kib", "vmsize_kib",
        "threads", "fds", "cpu_s", "children_cpu_s", "outbox_items", "outbox_bytes",
        "outbox_dropped", "received_docs", "received_posts", "newest_age_s", "services",
        "data_mdb_kib", "load1"]
result = {"died": None, "flaps": 0}
t0 = time.monotonic()
csvfile = open(out, "w", newline="")
w = csv.writer(csvfile)
w.writerow(cols)
phase, next_sample, drain_from, caught_up = None, 0.0, None, None
try:
    while not stop:
        t = time.monotonic() - t0
        if not alive():
            result["died"] = round(t, 1)
            break
        want = phase_of(t) if t < soak else "drain"
        if want != phase:
            if want == "stopped":
                stop_rx()
            else:
                start_rx("up" if want in ("up", "drain") else "500")
            if phase is not None and want != "drain":
                result["flaps"] += 1
            phase = want
            if want == "drain":
                drain_from = t
                try:
                    result["footprint"] = footprint()
                except (OSError, KeyError):
                    pass
        if t >= next_sample:
            try:
                s = status()
            except (OSError, IndexError, ValueError):
                time.sleep(0.25)   # gone between the checks: the next round says so
                continue
            m = metrics()
            received()
            try:
                mdb = os.stat(os.path.join(state, "db", "data.mdb")).st_size // 1024
            except OSError:
                mdb = ""
            w.writerow([round(t, 1), phase, s["VmRSS"], s["VmHWM"], s.get("RssAnon", ""),
                        s.get("RssFile", ""), s["VmSize"], s["Threads"], s["fds"],
                        round(s["cpu"], 2), round(s["ccpu"], 2), m["furrow_outbox_items"],
                        m["furrow_outbox_bytes"], m["dropped"], len(seqs), posts,
                        round(time.time() - newest, 1) if newest else "", services(), mdb,
                        open("/proc/loadavg").read().split()[0]])
            csvfile.flush()
            next_sample += sample
            while next_sample <= t:
                next_sample += sample
        if phase == "drain":
            received()
            if newest and time.time() - newest <= 3:
                caught_up = round(t - drain_from, 1)
                break
            if t - drain_from > 330:
                break
        time.sleep(0.25)
finally:
    stop_rx()
    result["drain_s"] = caught_up
    result["stopped_by_signal"] = stop
    with open(os.path.join(work, "sampler.json"), "w") as f:
        json.dump(result, f)
PY
sampler=$!
sampler_rc=0
wait "$sampler" || sampler_rc=$?
sampler=
[ -s "$work/sampler.json" ] || { log "the sampler failed (status $sampler_rc)"; exit 1; }

# ---- stop, flush, check ---------------------------------------------------
daemon_rc= stop_ms=
if kill -0 "$daemon" 2>/dev/null && ! grep -q '"died": [0-9]' "$work/sampler.json"; then
	log "SIGTERM to the daemon"
	t0=$(date +%s%N)
	kill -TERM "$daemon"
	for ((i = 0; i < 600; i++)); do
		[ "$(awk '{print $3}' "/proc/$daemon/stat" 2>/dev/null || echo Z)" = Z ] && break
		sleep 0.1
	done
	stop_ms=$((($(date +%s%N) - t0) / 1000000))
fi
daemon_rc=0
if ! kill -0 "$daemon" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$daemon/stat" 2>/dev/null)" = Z ]; then
	wait "$daemon" || daemon_rc=$?
else
	log "the daemon did not exit within 60 s of SIGTERM: killed"
	kill -KILL "$daemon" 2>/dev/null
	wait "$daemon" || daemon_rc=$?
	daemon_rc="$daemon_rc (killed after 60 s)"
fi
daemon=

log "flush: furrow apply --no-sync with the receiver up"
"$PY" "$work/receiver.py" "$port" up "$work/received.jsonl" 2>>"$work/receiver.err" &
receiver=$!
for ((i = 0; i < 100; i++)); do
	"$PY" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" \
		2>/dev/null && break
	sleep 0.05
done
flush_rc=0
"$FURROW" -c "$work/agent.lua" apply --no-sync --json >"$work/flush.json" 2>"$work/flush.err" ||
	flush_rc=$?
stop_pid "$receiver" 5
receiver=
live=$("$PY" - "$work/state" <<'PY'
import os, sys
n = 0
for app in os.listdir(os.path.join(sys.argv[1], "apps")):
    run = os.path.join(sys.argv[1], "apps", app, "run")
    for p in os.listdir(run) if os.path.isdir(run) else ():
        try:
            pid, start = open(os.path.join(run, p)).read().split()[:2]
            if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19] == start:
                n += 1
        except (OSError, ValueError, IndexError):
            pass
print(n)
PY
)

# ---- the figures --------------------------------------------------------------
verdict=0
B_DATE=$(date -u +%Y-%m-%dT%H:%MZ) B_CORES=$(nproc) B_KERNEL=$(uname -r) \
B_FURROW="$("$FURROW" version | head -n1), binary $(basename "$(dirname "$FURROW")")/furrow" \
B_APPS=$APPS B_PARALLEL=$PARALLEL B_FLAP=$FLAP B_SAMPLE=$SAMPLE B_WARMUP=$WARMUP \
B_SOAK=$SOAK_SECONDS B_DAEMON_RC=$daemon_rc B_STOP_MS=${stop_ms:-} B_FLUSH_RC=$flush_rc \
B_LIVE=$live B_OUTBOX_DIAG="$outbox_diag" B_CSV=$CSV \
B_STARTED="$(grep -c 'event=agent.started' "$work/daemon.log" || :)" \
B_LOGLINES="$(wc -l <"$work/daemon.log")" \
python3 - "$CSV" "$work/received.jsonl" "$work/sampler.json" "$work/flush.json" \
	>"$work/section.md" <<'PY' || verdict=$?
import csv, json, os, statistics as st, sys
E = os.environ
rows = list(csv.DictReader(open(sys.argv[1])))
recs = []
for line in open(sys.argv[2]):
    try:
        recs.append(json.loads(line))
    except ValueError:
        pass
smp = json.load(open(sys.argv[3]))
try:
    flush = json.load(open(sys.argv[4]))
except (OSError, ValueError):
    flush = None
soak, warm = float(E["B_SOAK"]), float(E["B_WARMUP"])
failed = []
num = lambda r, k: float(r[k]) if r[k] not in ("", None) else None
mib = lambda k: f"{k / 1024:.2f}"
def fit(pts):  # least squares: slope per second
    n = len(pts)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0
steady = [r for r in rows if r["phase"] != "drain" and warm <= float(r["t_s"]) <= soak]
def stats(key):
    pts = [(float(r["t_s"]), num(r, key)) for r in steady if num(r, key) is not None]
    ys = [y for _, y in pts]
    if not ys:
        return None
    return dict(min=min(ys), max=max(ys), med=st.median(ys), slope=fit(pts) * 3600,
                first=ys[0], last=ys[-1], n=len(ys))
rss, anon, fil = stats("vmrss_kib"), stats("rss_anon_kib"), stats("rss_file_kib")
last = rows[-1] if rows else None
soak_rows = [r for r in rows if r["phase"] != "drain"]
end = soak_rows[-1] if soak_rows else last
t_end = float(end["t_s"]) if end else 0

# delivery
uniq = {}
order_ok, prev = True, 0
for r in recs:
    s = r.get("seq")
    if s is None:
        continue
    if s not in uniq:
        if s < prev:
            order_ok = False
        prev = max(prev, s)
        uniq[s] = r
keys_ok = all(r.get("key") and r.get("key") == r.get("header_key") for r in recs)
M = max(uniq) if uniq else 0
newest = uniq.get(M, {})
dropped = sum((newest.get("dropped") or {}).values())
dead = newest.get("dead") or 0
missing = M - len(uniq)
dups = len(recs) - len(uniq)
kinds = {}
for r in uniq.values():
    kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
sizes = sorted(r["bytes"] for r in uniq.values() if r.get("kind") == "heartbeat")
flush_seq_is_report = newest.get("kind") == "report"
if missing != dropped:
    failed.append(f"{missing} seqs missing, {dropped} reported dropped")
if dead:
    failed.append(f"{dead} dead letters")
if not order_ok:
    failed.append("documents out of seq order")
if not keys_ok:
    failed.append("an Idempotency-Key header differs from the document's key")
if smp.get("died") is not None:
    failed.append(f"the daemon died at t = {smp['died']} s (exit status {E['B_DAEMON_RC']})")
elif E["B_DAEMON_RC"] != "0":
    failed.append(f"the daemon exited with status {E['B_DAEMON_RC']} after SIGTERM")
if E["B_FLUSH_RC"] != "0":
    failed.append(f"the flush apply exited {E['B_FLUSH_RC']}")
if int(E["B_LIVE"]) != int(E["B_APPS"]):
    failed.append(f"{E['B_LIVE']} of {E['B_APPS']} services running at the end")
if E["B_STARTED"] != "1":
    failed.append(f"agent.started logged {E['B_STARTED']} times")

ok = lambda b: "met" if b else "**not met**"
csvname = os.path.relpath(E["B_CSV"])
if csvname.startswith(".."):
    csvname = E["B_CSV"]
flat = rss is not None and abs(rss["slope"]) < 64
small = rss is not None and rss["max"] < 8192
print(f"### furrow run, {t_end / 60:.0f} min, {E['B_APPS']} services, heartbeat every second, "
      f"receiver flapping every {E['B_FLAP']} s ({E['B_DATE']})")
print()
print(f"{E['B_CORES']} cores, Linux {E['B_KERNEL']}, {E['B_FURROW']}; "
      f"apply.parallel = {E['B_PARALLEL']}, source.interval = 10 s, report.interval = 1 s; "
      f"samples every {E['B_SAMPLE']} s in `{csvname}`.")
print()
if rss:
    print(f"| after the warm-up ({warm / 60:.0f} min excluded; {rss['n']} samples, "
          f"{warm / 60:.0f}–{t_end / 60:.0f} min) | min | median | max | slope (least squares) "
          f"| first → last |")
    print("|---|---|---|---|---|---|")
    for name, x in (("VmRSS", rss), ("RssAnon (heap, stacks)", anon),
                    ("RssFile (binary, LMDB map)", fil)):
        if x:
            print(f"| {name} | {mib(x['min'])} MiB | {mib(x['med'])} MiB | {mib(x['max'])} MiB "
                  f"| {x['slope']:+.0f} KiB/h | {mib(x['first'])} → {mib(x['last'])} MiB |")
    print()
    print(f"Goal: flat after the warm-up (|slope| under 64 KiB/h): {rss['slope']:+.0f} KiB/h "
          f"({ok(flat)}); under 8 MiB: max {mib(rss['max'])} MiB ({ok(small)}).")
    print()
first = rows[0] if rows else None
if end:
    cpu = num(end, "cpu_s") + num(end, "children_cpu_s")
    obx = [num(r, "outbox_items") for r in soak_rows if num(r, "outbox_items") is not None]
    obb = [num(r, "outbox_bytes") for r in soak_rows if num(r, "outbox_bytes") is not None]
    mdb = [num(r, "data_mdb_kib") for r in soak_rows if num(r, "data_mdb_kib") is not None]
    print(f"- Daemon at {t_end / 60:.0f} min: VmHWM {mib(num(end, 'vmhwm_kib'))} MiB, "
          f"VmSize {mib(num(end, 'vmsize_kib'))} MiB, threads {end['threads']} "
          f"(first sample {first['threads']}), open fds {end['fds']} (first sample "
          f"{first['fds']}, min–max after warm-up "
          f"{min(int(r['fds']) for r in steady) if steady else '–'}–"
          f"{max(int(r['fds']) for r in steady) if steady else '–'}); CPU {cpu:.1f} s "
          f"({num(end, 'cpu_s'):.1f} s its own, {num(end, 'children_cpu_s'):.1f} s its "
          f"children), {100 * cpu / t_end:.2f}% of one core on average; data.mdb "
          f"{mib(mdb[-1]) if mdb else '–'} MiB (max {mib(max(mdb)) if mdb else '–'}); "
          f"{E['B_LOGLINES']} log lines.")
    if obx:
        print(f"- Outbox (textfile, after each pass): depth median {st.median(obx):.0f}, "
              f"max {max(obx):.0f} documents ({mib(max(obb) / 1024) if obb else '–'} MiB); "
              f"drops counted {num(end, 'outbox_dropped'):.0f}.")
    ages = [num(r, "newest_age_s") for r in soak_rows if num(r, "newest_age_s") is not None]
    if ages:
        print(f"- Delivery lag (age of the newest document the receiver held, at each sample): "
              f"median {st.median(ages):.0f} s, max {max(ages):.0f} s.")
fp = smp.get("footprint")
if fp:
    print(f"- Footprint at the end of the soak (PSS, smaps_rollup): the daemon "
          f"{mib(fp['daemon_pss_kib'])} MiB; {fp['relays']} furrow processes under it (the "
          f"services' log relays) {mib(fp['relays_pss_kib'])} MiB together "
          f"({fp['relays_pss_kib'] / max(fp['relays'], 1):.0f} KiB each); the services "
          f"themselves {mib(fp['services_pss_kib'])} MiB.")
print(f"- Receiver: {smp['flaps']} flaps; {len(recs)} documents stored ({dups} duplicates), "
      f"{len(uniq)} distinct seqs of 1–{M} "
      f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); missing {missing}, "
      f"reported dropped {dropped}, dead letters {dead}; in seq order: "
      f"{'yes' if order_ok else '**no**'}; Idempotency-Key header = document key: "
      f"{'yes' if keys_ok else '**no**'}. "
      + (f"A heartbeat is {sizes[len(sizes) // 2]} bytes (median). " if sizes else ""))
drain = smp.get("drain_s")
print(f"- End: the sender caught up {('in ' + str(drain) + ' s') if drain is not None else '**not within 330 s**'} "
      f"after the receiver stayed up; SIGTERM → exit status {E['B_DAEMON_RC']} in "
      f"{E['B_STOP_MS'] or '–'} ms; then `furrow apply --no-sync` (exit {E['B_FLUSH_RC']}) "
      f"delivered the rest and its own report (seq {M}, kind {newest.get('kind')}); "
      f"{E['B_LIVE']} of {E['B_APPS']} services still running.")
if smp.get("died") is not None:
    print(f"- **The daemon died at t = {smp['died']} s** (exit status {E['B_DAEMON_RC']}).")
if E["B_OUTBOX_DIAG"]:
    print("- Outbox write cost (tests/unit/test_outbox, ASan/UBSan build): "
          + "; ".join(E["B_OUTBOX_DIAG"].splitlines()) + ".")
print()
print("Checks: " + ("all passed." if not failed else "**failed**: " + "; ".join(failed) + "."))
print()
sys.exit(1 if failed else 0)
PY
tee -a "$OUT" <"$work/section.md"
log "appended to $OUT; samples in $CSV; daemon log in $DLOG"
exit "$verdict"
