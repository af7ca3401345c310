#!/usr/bin/env bash
# furrow run, the daemon: a pass at start, passes on `sync --now` and
# SIGHUP, rollback through the control socket, a watch that restarts a
# crashed service with backoff, SIGTERM that leaves services running (and
# rolls back an update cut short), re-adoption, sd_notify readiness.
# source.interval is an hour: every pass here is one the test asked for.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-apply.sh"

D=$TEST_DIR/host
ST=$D/state

# wait_for SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || { echo "timed out: $*" >&2; return 1; }
		sleep 0.1
	done
}

# start_daemon [VAR=value...]: furrow run in the background; its pid in
# $D/daemon.pid, its exit status (once it exits) in $D/daemon.rc, its
# log in $D/daemon.log (appended).
start_daemon() {
	rm -f "$D/daemon.pid" "$D/daemon.rc"
	(
		env "$@" "$FURROW" -c "$D/agent.lua" run >>"$D/daemon.log" 2>&1 </dev/null &
		echo $! >"$D/daemon.pid.tmp" && mv "$D/daemon.pid.tmp" "$D/daemon.pid"
		wait $!
		echo $? >"$D/daemon.rc"
	) >/dev/null 2>&1 &
	wait_for 5 test -s "$D/daemon.pid" && track_pid "$(cat "$D/daemon.pid")"
}
daemon_pid() { cat "$D/daemon.pid"; }
daemon_gone() { test -s "$D/daemon.rc"; }
# passes: how many passes the daemon log shows so far.
passes() { grep -c "event=agent.pass " "$D/daemon.log" || :; }
passes_above() { test "$(passes)" -gt "$1"; }
serves() { test "$(served)" = "$1"; }
fstatus() { furrow -c "$D/agent.lua" status --json; }
# web_field KEY: that field of web in status --json.
web_field() {
	fstatus | $PY -c "import json, sys
d = json.load(sys.stdin)
print(next(a for a in d['apps'] if a['app'] == 'web').get('$1'))"
}
healthy_at() { # commit
	fstatus >st.json &&
	$PY -c "import json, sys
d = json.load(open('st.json'))
w = [a for a in d.get('apps') or [] if a['app'] == 'web']
sys.exit(not (w and w[0]['health'] == 'healthy' and w[0]['commit'] == '$1'))"
}
service_pid() { pid_of "$ST" "$(readlink "$ST/apps/web/current")"; }
head_commit() { git -C "$W" rev-parse HEAD; }

test_expect_success 'setup: keys, trust, a signed repository, an agent' '
	apply_lib_init && write_agent "$D"
'

test_expect_success 'run: first pass applies v1; control.sock is 0600' '
	svc_commit 1 &&
	start_daemon &&
	wait_for 20 healthy_at "$(head_commit)" &&
	check_converged "$ST" v1 &&
	test -S "$ST/control.sock" &&
	test "$(stat -c %a "$ST/control.sock")" = 600 &&
	test_grep -q "event=agent.started" "$D/daemon.log" &&
	! daemon_gone
'

test_expect_success 'a second furrow run on the same state dir: exit 1, says why' '
	test_expect_code 1 furrow -c "$D/agent.lua" run >out 2>err &&
	cat err &&
	test_grep "in use by another furrow (pid $(daemon_pid))" err &&
	test_expect_code 1 furrow -c "$D/agent.lua" apply 2>err &&
	test_grep "a furrow daemon may be running" err &&
	! daemon_gone
'

test_expect_success 'sync --now runs a pass at once: v2 applied' '
	svc_commit 2 && n=$(passes) &&
	furrow -c "$D/agent.lua" sync --now >out &&
	wait_for 15 healthy_at "$(head_commit)" &&
	check_converged "$ST" v2 &&
	test "$(passes)" -gt "$n"
'

test_expect_success 'SIGHUP runs a pass at once: v3 applied' '
	svc_commit 3 && n=$(passes) &&
	kill -HUP "$(daemon_pid)" &&
	wait_for 15 healthy_at "$(head_commit)" &&
	check_converged "$ST" v3 &&
	test "$(passes)" -gt "$n" &&
	! daemon_gone
'

test_expect_success 'rollback while the daemon runs: through the socket, v2 answers' '
	furrow -c "$D/agent.lua" rollback web >out 2>err &&
	cat out err &&
	check_converged "$ST" v2 &&
	test_grep -q "event=apply.rolled_back_by_hand" "$D/daemon.log" &&
	furrow -c "$D/agent.lua" history web --json >h.json &&
	$PY -c "import json
h = json.load(open(\"h.json\"))[0]
assert h[\"event\"] == \"rollback\" and h[\"to\"] == \"b\", h" &&
	# The version left is held: the next pass keeps v2.
	n=$(passes) && kill -HUP "$(daemon_pid)" &&
	wait_for 15 passes_above "$n" &&
	check_converged "$ST" v2
'

test_expect_success 'rollback through the socket that fails: exit 1 with the reason' '
	test_expect_code 1 furrow -c "$D/agent.lua" rollback nosuch >out 2>err &&
	cat err &&
	test_grep "nosuch" err &&
	! daemon_gone && check_converged "$ST" v2
'

test_expect_success 'a killed service is restarted by the watch; history says restart' '
	before=$(web_field restarts) && old=$(service_pid) &&
	kill -KILL -- "-$old" &&
	wait_for 6 eval "[ -n \"\$(service_pid)\" ] && [ \"\$(service_pid)\" != $old ] && serves v2" &&
	check_converged "$ST" v2 &&
	test "$(web_field restarts)" = $((before + 1)) &&
	furrow -c "$D/agent.lua" history web --json >h.json &&
	$PY -c "import json
h = json.load(open(\"h.json\"))[0]
assert h[\"event\"] == \"restart\" and h[\"to\"] == \"b\", h
assert \"attempt 1\" in h[\"reason\"], h"
'

# Backoff with full jitter: restart n waits a random time up to
# min(60, 2^(n-1)) s, seen once a second.  The attempt numbers must grow
# and no wait may pass its ceiling (plus the watch period and slack).
test_expect_success 'killed again and again: restarts back off (attempts grow)' '
	before=$(web_field restarts) && delays= &&
	for n in 2 3 4 5; do
		old=$(service_pid) && t0=$(date +%s.%N) &&
		kill -KILL -- "-$old" &&
		wait_for 30 eval "[ -n \"\$(service_pid)\" ] && [ \"\$(service_pid)\" != $old ] && serves v2" &&
		d=$($PY -c "import time; print(round(time.time() - $t0, 2))") &&
		delays="$delays $d" &&
		ceiling=$((1 << (n - 1))) &&
		$PY -c "import sys; sys.exit(not $d <= $ceiling + 2.5)" || {
			echo "restart $n took $d s, ceiling $ceiling s"; exit 1; }
	done &&
	echo "# restart delays (ceilings 2 4 8 16):$delays" >&3 &&
	test "$(web_field restarts)" = $((before + 4)) &&
	furrow -c "$D/agent.lua" history web -n 5 --json >h.json &&
	$PY -c "import json, re
h = [e for e in json.load(open(\"h.json\")) if e[\"event\"] == \"restart\"]
att = [int(re.search(r\"attempt (\\d+)\", e[\"reason\"]).group(1)) for e in h]
assert att[:4] == [5, 4, 3, 2], att" &&
	check_converged "$ST" v2
' 3>&1

test_expect_success 'SIGTERM: exit 0 within seconds; the service keeps running' '
	pid=$(service_pid) &&
	kill -TERM "$(daemon_pid)" &&
	wait_for 5 daemon_gone &&
	test "$(cat "$D/daemon.rc")" = 0 &&
	test ! -e "$ST/control.sock" &&
	check_converged "$ST" v2 &&
	test "$(service_pid)" = "$pid" &&
	echo "$pid" >"$D/adopted.pid"
'

test_expect_success 'sync --now without a daemon: exit 1, no daemon is running' '
	test_expect_code 1 furrow -c "$D/agent.lua" sync --now >out 2>err &&
	cat err &&
	test_grep "no furrow daemon is running" err
'

test_expect_success 'a new furrow run re-adopts the running service (same pid)' '
	n=$(passes) && restarts=$(web_field restarts) &&
	lines=$(wc -l <"$D/daemon.log") &&
	start_daemon &&
	wait_for 15 passes_above "$n" &&
	check_converged "$ST" v2 &&
	test "$(service_pid)" = "$(cat "$D/adopted.pid")" &&
	sleep 2 &&
	check_converged "$ST" v2 &&
	test "$(service_pid)" = "$(cat "$D/adopted.pid")" &&
	test "$(web_field restarts)" = "$restarts" &&
	! tail -n +$((lines + 1)) "$D/daemon.log" | grep -E "drift_repaired|apply.restarted"
'

test_expect_success 'a daemon killed with -9 leaves a stale socket: still "no daemon"' '
	pid=$(service_pid) &&
	kill -KILL "$(daemon_pid)" &&
	wait_for 5 daemon_gone &&
	test -S "$ST/control.sock" &&
	test_expect_code 1 furrow -c "$D/agent.lua" sync --now 2>err &&
	test_grep "no furrow daemon is running" err &&
	test "$(service_pid)" = "$pid" && serves v2
'

# v4 never gets healthy (its check asks for a file that is not there) and
# would keep trying for minutes; SIGTERM must cut it short and put v2 back.
test_expect_success 'SIGTERM during a long health check: prompt exit, update rolled back' '
	start_daemon && wait_for 15 test -S "$ST/control.sock" &&
	wait_for 15 grep -q "event=agent.pass " "$D/daemon.log" &&
	SVC_CHECK_PATH=missing.txt SVC_RETRIES=1000 svc_commit 4 &&
	start=$(wc -l <"$D/daemon.log") &&
	furrow -c "$D/agent.lua" sync --now &&
	wait_for 15 eval "tail -n +$start \"\$D/daemon.log\" | grep -q event=apply.update_started" &&
	sleep 2 &&
	serves v4 &&
	t0=$SECONDS && kill -TERM "$(daemon_pid)" &&
	wait_for 8 daemon_gone &&
	echo "# exited $((SECONDS - t0)) s after SIGTERM" >&3 &&
	test "$(cat "$D/daemon.rc")" = 0 &&
	check_converged "$ST" v2 &&
	tail -n +$start "$D/daemon.log" | test_grep -q "furrow is stopping" &&
	furrow -c "$D/agent.lua" history web --json >h.json &&
	$PY -c "import json
h = json.load(open(\"h.json\"))[0]
assert h[\"event\"] == \"update-reverted\" and h[\"to\"] == \"a\", h" &&
	# The journal is empty: a pass recovers nothing (an update lock
	# keeps it from trying v4 again).
	echo "$(( $(date +%s) + 600 )) test" >"$ST/apps/web/data/.furrow-lock" &&
	test_expect_code 4 furrow -c "$D/agent.lua" apply --json >a.json 2>a.err &&
	$PY -c "import json
d = json.load(open(\"a.json\"))
assert d[\"recovered\"] == 0, d
assert d[\"apps\"][0][\"outcome\"] == \"deferred\", d" &&
	rm "$ST/apps/web/data/.furrow-lock" &&
	check_converged "$ST" v2
' 3>&1

# The receiver binds a datagram socket and records every message; on
# READY=1 it also records what the service answers at that moment, which
# must already be the version the first pass applied.
test_expect_success 'NOTIFY_SOCKET: READY=1 after the first pass, STOPPING=1 at exit' '
	cat >notify.py <<-\EOP &&
	import os, socket, sys, urllib.request
	path, out, url = sys.argv[1], sys.argv[2], sys.argv[3]
	s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	s.bind(path)
	open(path + ".bound", "w").close()
	s.settimeout(60)
	with open(out, "a", buffering=1) as f:
	    while True:
	        try:
	            msg = s.recv(4096).decode()
	        except socket.timeout:
	            break
	        line = msg
	        if "READY=1" in msg:
	            try:
	                line += " served=" + urllib.request.urlopen(url, timeout=2).read().decode().strip()
	            except Exception as e:
	                line += " served=none"
	        f.write(line + "\n")
	        if "STOPPING=1" in msg:
	            break
	EOP
	svc_commit 5 &&
	{ $PY notify.py "$TEST_DIR/notify.sock" "$TEST_DIR/notify.out" \
		"http://127.0.0.1:$(port)/version.txt" & } &&
	track_pid $! && rpid=$! &&
	wait_for 5 test -e "$TEST_DIR/notify.sock.bound" &&
	start_daemon NOTIFY_SOCKET="$TEST_DIR/notify.sock" &&
	wait_for 20 grep -q READY=1 "$TEST_DIR/notify.out" &&
	cat "$TEST_DIR/notify.out" &&
	test_grep -q "^READY=1 served=v5$" "$TEST_DIR/notify.out" &&
	check_converged "$ST" v5 &&
	kill -TERM "$(daemon_pid)" &&
	wait_for 5 daemon_gone &&
	wait_for 5 grep -q STOPPING=1 "$TEST_DIR/notify.out" &&
	test "$(grep -c . "$TEST_DIR/notify.out")" = 2 &&
	wait $rpid
'

test_expect_success 'after all this: one process, v5, nothing in the journal' '
	furrow -c "$D/agent.lua" apply --json >a.json &&
	$PY -c "import json
d = json.load(open(\"a.json\"))
assert d[\"recovered\"] == 0 and d[\"apps\"][0][\"outcome\"] == \"unchanged\", d" &&
	check_converged "$ST" v5
'

test_done
