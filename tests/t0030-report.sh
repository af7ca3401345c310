#!/usr/bin/env bash
# report.url end to end, against a real HTTPS collector: a small python
# http.server behind ssl (its own CA, a certificate for 127.0.0.1 and
# localhost) that records every POST (document, Idempotency-Key and
# Authorization headers, the status it answered) as a JSON line, and
# answers by a mode file it re-reads on every request:
#   200          accept
#   500          fail (retried)
#   429          Retry-After: 1 (retried, not before a second)
#   400          reject (the document goes to the dead letters)
#   400once      reject this one, then switch the mode to 200
#   slow         take 5 s, then 200 (longer than report.timeout)
# Checked: the documents of an apply, in order with their keys and token;
# an outage that neither delays an update nor loses a document; 429 with
# Retry-After; a 400 that dead-letters one document only; kill -9 while a
# POST is in flight; a wrong CA (nothing sent, nothing lost).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-apply.sh"

D=$TEST_DIR/host
ST=$D/state
R=$TEST_DIR/recv            # the collector: certificates, log, mode
TOKEN=tok-$$-Zx9

wait_for() { # SECONDS COMMAND...: poll every 0.1 s
	local secs=$1 end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || { echo "timed out after $secs s: $*" >&2; return 1; }
		sleep 0.1
	done
}

# --- the daemon (as in t0022) ---------------------------------------------
start_daemon() {
	rm -f "$D/daemon.pid" "$D/daemon.rc"
	(
		"$FURROW" -c "$D/agent.lua" run >>"$D/daemon.log" 2>&1 </dev/null &
		echo $! >"$D/daemon.pid.tmp" && mv "$D/daemon.pid.tmp" "$D/daemon.pid"
		wait $!
		echo $? >"$D/daemon.rc"
	) >/dev/null 2>&1 &
	wait_for 5 test -s "$D/daemon.pid" && track_pid "$(cat "$D/daemon.pid")"
}
daemon_pid() { cat "$D/daemon.pid"; }
daemon_gone() { test -s "$D/daemon.rc"; }
fstatus() { furrow -c "$D/agent.lua" status --json; }
head_commit() { git -C "$W" rev-parse HEAD; }
healthy_at() { # commit
	fstatus >st.json 2>/dev/null &&
	$PY -c "import json, sys
d = json.load(open('st.json'))
w = [a for a in d.get('apps') or [] if a['app'] == 'web']
sys.exit(not (w and w[0]['health'] == 'healthy' and w[0]['commit'] == '$1'))"
}
stop_daemon() {
	[ -s "$D/daemon.pid" ] && ! daemon_gone || return 0
	kill -TERM "$(daemon_pid)" 2>/dev/null
	wait_for 8 daemon_gone
}

# --- the collector ----------------------------------------------------------
make_ca() { # DIR
	mkdir -p "$1" &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=furrow test CA ${1##*/}" \
		-keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null
}
make_certs() {
	make_ca "$R" && make_ca "$R/other" &&
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
		-keyout "$R/server.key" -out "$R/server.csr" 2>/dev/null &&
	printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" >"$R/ext" &&
	openssl x509 -req -in "$R/server.csr" -CA "$R/ca.pem" -CAkey "$R/ca.key" \
		-CAcreateserial -days 2 -extfile "$R/ext" -out "$R/server.pem" 2>/dev/null
}

write_receiver() {
	cat >"$R/recv.py" <<-\EOP
	import json, ssl, sys, threading, time
	from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
	port, cert, key, log, modef = sys.argv[1:6]
	lock = threading.Lock()
	def mode():
	    try:
	        return open(modef).read().strip()
	    except OSError:
	        return "200"
	class H(BaseHTTPRequestHandler):
	    protocol_version = "HTTP/1.1"
	    def log_message(self, *a):
	        pass
	    def do_POST(self):
	        n = int(self.headers.get("Content-Length") or 0)
	        body = self.rfile.read(n)
	        with lock:
	            m = mode()
	            if m == "400once":
	                with open(modef, "w") as f:
	                    f.write("200\n")
	        try:
	            doc = json.loads(body)
	        except Exception:
	            doc = {"unparsed": body.decode("utf-8", "replace")}
	        status = {"200": 200, "500": 500, "429": 429, "400": 400,
	                  "400once": 400, "slow": "slow"}.get(m, 200)
	        rec = {"t": time.time(), "status": status, "path": self.path,
	               "key": self.headers.get("Idempotency-Key"),
	               "auth": self.headers.get("Authorization"),
	               "ctype": self.headers.get("Content-Type"), "doc": doc}
	        with lock, open(log, "a") as f:
	            f.write(json.dumps(rec) + "\n")
	        if status == "slow":
	            time.sleep(5)
	            status = 200
	        b = b'{"ok":true}' if status == 200 else b'{"error":"test"}'
	        self.send_response(status)
	        if status == 429:
	            self.send_header("Retry-After", "1")
	        self.send_header("Content-Type", "application/json")
	        self.send_header("Content-Length", str(len(b)))
	        self.end_headers()
	        try:
	            self.wfile.write(b)
	        except OSError:
	            pass
	class S(ThreadingHTTPServer):
	    daemon_threads = True
	    def handle_error(self, request, client_address):
	        pass
	srv = S(("127.0.0.1", int(port)), H)
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	ctx.load_cert_chain(cert, key)
	srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
	open(log + ".ready", "w").close()
	srv.serve_forever()
	EOP
}
rport() { cat "$R/port"; }
start_receiver() {
	rm -f "$R/log.ready"
	{ $PY "$R/recv.py" "$(rport)" "$R/server.pem" "$R/server.key" \
		"$R/log" "$R/mode" >"$R/recv.err" 2>&1 & } &&
	echo $! >"$R/recv.pid" &&
	wait_for 5 test -e "$R/log.ready"
}
stop_receiver() {
	local pid
	pid=$(cat "$R/recv.pid" 2>/dev/null) || return 0
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f $PY)" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	return 0
}
test_on_exit 'stop_daemon'
test_on_exit 'stop_receiver'
set_mode() { echo "$1" >"$R/mode"; }

write_agent_report() { # FILE CA
	cat >"$1" <<-EOA
	return {
	  host = { id = "edge-1" },
	  source = { url = "$TEST_DIR/srv/state.git", interval = 3600, jitter = 0 },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  apply = { stop_timeout = 3 },
	  report = { url = "https://localhost:$(rport)/r", ca_file = "$2",
	             token_file = "$R/token", interval = 1, timeout = 2 },
	  metrics = { textfile = "$D/furrow.prom" },
	}
	EOA
}

# The analysis of the collector's log, in python: `an NAME [ARGS]`.
cat >"$TEST_DIR/an.py" <<\EOP
import json, re, sys
log, token, what = sys.argv[1], sys.argv[2], sys.argv[3]
args = sys.argv[4:]
try:
    recs = [json.loads(l) for l in open(log)]
except FileNotFoundError:
    recs = []
ok = [r for r in recs if r["status"] == 200]
def fail(msg):
    print(msg)
    for r in recs[-60:]:
        d = r["doc"]
        print(" ", round(r["t"], 2), r["status"], d.get("seq"), d.get("kind"),
              d.get("event", ""), r["key"])
    sys.exit(1)
def seqs(rs):
    return [r["doc"]["seq"] for r in rs]
def common(rs):
    inst = None
    for r in rs:
        d = r["doc"]
        if r["auth"] != "Bearer " + token:
            fail("Authorization is %r" % r["auth"])
        m = re.fullmatch(r"(.+)-(\d+)", d.get("idempotency_key") or "")
        if not m or int(m.group(2)) != d["seq"]:
            fail("idempotency_key %r for seq %r" % (d.get("idempotency_key"), d.get("seq")))
        if r["key"] != d["idempotency_key"]:
            fail("header %r != idempotency_key %r" % (r["key"], d["idempotency_key"]))
        if inst is None:
            inst = m.group(1)
        elif inst != m.group(1):
            fail("instance id changed: %r %r" % (inst, m.group(1)))
        if d.get("schema") != 1 or d.get("kind") not in ("report", "heartbeat", "event"):
            fail("schema/kind: %r" % d)
        if not isinstance(d.get("time"), (int, float)):
            fail("time: %r" % d.get("time"))
def contiguous(ss, dead=()):
    want = set(range(min(ss), max(ss) + 1)) - set(dead)
    missing = sorted(want - set(ss))
    if missing:
        fail("missing seqs %r (have %r)" % (missing, sorted(set(ss))))
if what == "count":            # accepted documents
    print(len(ok))
elif what == "count_all":      # every POST
    print(len(recs))
elif what == "count_status":   # POSTs answered STATUS
    print(sum(str(r["status"]) == args[0] for r in recs))
elif what == "queued_during":  # queued_during T COMMIT: a heartbeat made
    t, commit = float(args[0]), args[1]   # before T, after COMMIT's update,
    ev = [r["doc"]["seq"] for r in ok     # accepted
          if r["doc"].get("event") == "update-succeeded" and r["doc"].get("commit") == commit]
    sys.exit(not (ev and any(r["doc"]["kind"] == "heartbeat" and r["doc"]["seq"] > ev[0]
                             and r["doc"]["time"] < t for r in ok)))
elif what == "maxseq":         # the highest seq accepted
    print(max(seqs(ok), default=0))
elif what == "has":            # has KIND [EVENT [COMMIT]] [after SEQ]: accepted
    after = int(args[args.index("after") + 1]) if "after" in args else 0
    a = args[:args.index("after")] if "after" in args else args
    for r in ok:
        d = r["doc"]
        if d["seq"] > after and d["kind"] == a[0] and \
           (len(a) < 2 or d.get("event") == a[1]) and \
           (len(a) < 3 or d.get("commit") == a[2]):
            sys.exit(0)
    sys.exit(1)
elif what == "status_seen":    # status_seen STATUS [after T]: some POST answered so
    t = float(args[2]) if len(args) > 2 else 0
    sys.exit(not any(str(r["status"]) == args[0] and r["t"] > t for r in recs))
else:
    common(recs)
    if what == "apply":        # the documents of the first apply
        commit, slot = args
        if len(ok) != len(recs):
            fail("some POSTs were not answered 200")
        s = seqs(ok)
        if s != sorted(s) or len(set(s)) != len(s):
            fail("seqs not strictly increasing: %r" % s)
        contiguous(s)
        ev = [r["doc"] for r in ok if r["doc"]["kind"] == "event"]
        names = [e["event"] for e in ev]
        if names[:2] != ["update-started", "update-succeeded"]:
            fail("events %r" % names)
        for e in ev[:2]:
            if e["app"] != "web" or e["commit"] != commit or e["host"]["id"] != "edge-1":
                fail("event %r" % e)
        rep = [r["doc"] for r in ok if r["doc"]["kind"] == "report"]
        if not rep:
            fail("no report")
        rp = rep[0]
        if rp["seq"] < ev[1]["seq"]:
            fail("report before the events")
        if rp["host"]["id"] != "edge-1":
            fail("host %r" % rp["host"])
        if rp["accepted"]["commit"] != commit:
            fail("accepted %r" % rp["accepted"])
        if rp["apps"][0]["slot"] != slot or rp["apps"][0]["app"] != "web":
            fail("apps %r" % rp["apps"])
        if rp["last_pass"]["exit"] != 0 or rp["last_pass"]["commit"] != commit:
            fail("last_pass %r" % rp["last_pass"])
        ob = rp["outbox"]
        if not isinstance(ob["depth"], int) or ob["depth"] < 0 or ob["dead_letters"] != 0 \
           or set(ob["dropped"]) != {"heartbeat", "report", "event"}:
            fail("outbox %r" % ob)
        if any(r["path"] != "/r" for r in recs):
            fail("path")
        if not all((r["ctype"] or "").startswith("application/json") for r in recs):
            fail("content type %r" % [r["ctype"] for r in recs])
    elif what == "inorder":    # inorder FROMSEQ: accepted from FROMSEQ on, no gap,
        lo = int(args[0])      # in order, once each, heartbeats among them
        s = [x for x in seqs(ok) if x >= lo]
        if not s or s[0] != lo:
            fail("first accepted seq from %d: %r" % (lo, s[:5]))
        if s != sorted(set(s)):
            fail("not strictly increasing: %r" % s)
        contiguous(s)
        kinds = {r["doc"]["kind"] for r in ok if r["doc"]["seq"] >= lo}
        if "heartbeat" not in kinds or "event" not in kinds:
            fail("kinds after %d: %r" % (lo, kinds))
    elif what == "retry_after":  # no POST less than 0.9 s after a 429
        seen = 0
        for i, r in enumerate(recs[:-1]):
            if r["status"] == 429:
                seen += 1
                gap = recs[i + 1]["t"] - r["t"]
                if gap < 0.9:
                    fail("retried %.2f s after a 429 with Retry-After: 1" % gap)
        if seen < 2:
            fail("only %d 429s followed by a retry" % seen)
        print("# %d 429s, every retry >= 0.9 s later" % seen)
    elif what == "dead":       # dead: the one 400 is never accepted, later ones are
        bad = [r["doc"]["seq"] for r in recs if r["status"] == 400]
        if len(bad) != 1:
            fail("400s: %r" % bad)
        if bad[0] in seqs(ok):
            fail("the dead-lettered seq %d was accepted" % bad[0])
        later = [r["doc"] for r in ok if r["doc"]["seq"] > bad[0]]
        if not later:
            fail("nothing after the dead letter")
        rs = [d for d in later if d["kind"] in ("report", "heartbeat")]
        if not rs or rs[-1]["outbox"]["dead_letters"] != 1:
            fail("outbox after: %r" % [d.get("outbox") for d in rs])
        print(bad[0])
    elif what == "nothing_lost":  # every seq up to the last accepted one was
        dead = [r["doc"]["seq"] for r in recs if r["status"] == 400]
        s = seqs(ok)            # accepted at least once (but the dead letter)
        contiguous(s + [min(s)], dead)
        if min(s) != 1:
            fail("first seq %d" % min(s))
        keys = {}
        for r in recs:
            keys.setdefault(r["doc"]["seq"], set()).add(r["key"])
        if any(len(k) != 1 for k in keys.values()):
            fail("a seq sent with two keys")
        slow = [r["doc"]["seq"] for r in recs if r["status"] == "slow"]
        if not slow:
            fail("no POST was in flight")
        for x in slow:
            if x not in s:
                fail("seq %d, in flight at the kill, never accepted" % x)
        print("# in flight at the kill: %r; %d POSTs, %d seqs" % (slow, len(recs), len(set(s))))
    else:
        fail("unknown check " + what)
EOP
an() { $PY "$TEST_DIR/an.py" "$R/log" "$TOKEN" "$@"; }

test_expect_success 'setup: signed repository, a CA, an HTTPS collector, an agent' '
	apply_lib_init && mkdir -p "$D" "$R" &&
	make_certs && write_receiver &&
	printf "%s\n" "$TOKEN" >"$R/token" && chmod 600 "$R/token" &&
	free_port >"$R/port" && set_mode 200 &&
	start_receiver &&
	write_agent_report "$D/agent.lua" "$R/ca.pem" &&
	write_agent_report "$D/agent-badca.lua" "$R/other/ca.pem" &&
	furrow -c "$D/agent.lua" check
'

test_expect_success 'apply: events then a report, in order, keyed, with the token' '
	svc_commit 1 &&
	furrow -c "$D/agent.lua" apply >out 2>err &&
	wait_for 5 an has report &&
	an apply "$(head_commit)" "$(readlink "$ST/apps/web/current")" &&
	! grep -r "$TOKEN" out err
'

test_expect_success 'outage (500): the update is not delayed; then everything arrives in order' '
	before=$(an maxseq) && echo $((before + 1)) >"$TEST_DIR/outage_from" &&
	set_mode 500 && n0=$(an count) &&
	start_daemon &&
	wait_for 10 an status_seen 500 &&
	svc_commit 2 && c2=$(head_commit) &&
	t0=$(date +%s.%N) &&
	furrow -c "$D/agent.lua" sync --now &&
	wait_for 10 healthy_at "$c2" &&
	took=$($PY -c "import time; print(round(time.time() - $t0, 2))") &&
	echo "# v2 applied $took s after sync --now, collector down" >&3 &&
	$PY -c "import sys; sys.exit(not $took < 5)" &&
	# The outage goes on: heartbeats pile up, every POST fails.
	wait_for 10 eval "test \$(an count_status 500) -ge 2" &&
	sleep 2.5 && t_up=$(date +%s) &&
	test "$(an count)" = "$n0" &&
	set_mode 200 &&
	wait_for 25 an has event update-succeeded "$c2" &&
	wait_for 15 an queued_during "$t_up" "$c2" &&
	last=$(an maxseq) &&
	wait_for 10 an has heartbeat after "$last" &&
	an inorder "$(cat "$TEST_DIR/outage_from")" &&
	! grep "$TOKEN" "$D/daemon.log"
' 3>&1

test_expect_success '429 with Retry-After: 1 is honoured' '
	set_mode 429 && t=$(date +%s.%N) &&
	wait_for 10 eval "test \$(an count_status 429) -ge 3" &&
	set_mode 200 &&
	last=$(an maxseq) &&
	wait_for 10 an has heartbeat after "$last" &&
	an retry_after
' 3>&1

test_expect_success '400: that document is dead-lettered, the next ones arrive' '
	set_mode 400once &&
	wait_for 10 an status_seen 400 &&
	last=$(an maxseq) &&
	wait_for 10 an has heartbeat after "$last" &&
	sleep 1.2 && last=$(an maxseq) &&
	wait_for 10 an has heartbeat after "$last" &&
	an dead &&
	furrow -c "$D/agent.lua" sync --now &&
	wait_for 10 grep -q "^furrow_outbox_dead_letters_total 1$" "$D/furrow.prom"
'

test_expect_success 'kill -9 while a POST is in flight: nothing committed is lost' '
	set_mode slow && t=$($PY -c "import time; print(time.time())") &&
	wait_for 10 an status_seen slow "$t" &&
	sleep 0.5 &&
	kill -KILL "$(daemon_pid)" && wait_for 5 daemon_gone &&
	set_mode 200 && sleep 0.3 && last=$(an maxseq) &&
	start_daemon &&
	wait_for 15 an has report after "$last" &&
	last=$(an maxseq) &&
	wait_for 10 an has heartbeat after "$last" &&
	an nothing_lost &&
	stop_daemon && test "$(cat "$D/daemon.rc")" = 0
' 3>&1

test_expect_success 'wrong CA: nothing accepted, apply exits 0, the outbox keeps it all' '
	n=$(an count_all) && last=$(an maxseq) &&
	svc_commit 3 && c3=$(head_commit) &&
	furrow -c "$D/agent-badca.lua" apply >out 2>err &&
	cat err &&
	healthy_at "$c3" &&
	test "$(an count_all)" = "$n" &&
	items=$(sed -n "s/^furrow_outbox_items //p" "$D/furrow.prom") &&
	test "$items" -ge 2 &&
	furrow -c "$D/agent.lua" apply >out 2>err &&
	wait_for 5 an has event update-succeeded "$c3" &&
	wait_for 5 an has report after "$last" &&
	an has event update-started "$c3" &&
	an nothing_lost
' 3>&1

test_done
