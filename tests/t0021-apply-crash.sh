#!/usr/bin/env bash
# furrow apply survives a crash at every step of an update: the journal's
# recovery at the next start rolls an operation back (before the switch)
# or forward (after it), leaving exactly one complete slot current, its
# service running once, and the update retried.  Crashes are injected
# with FURROW_CRASH_AT (core/fault.h) and with kill -9 at random times.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-apply.sh"

POINTS="stage stage-done start start-done health health-done switch
	switch-done confirm confirm-done stop-old stop-old-done prune prune-done"

# rolls_forward POINT STRATEGY: does recovery complete the update?  The
# switch is the commit point; stop-first stops the old slot before the
# new one starts (before the switch), start-first after the confirm.
rolls_forward() {
	case $1 in
	stage* | start* | health* | switch) return 1 ;;
	stop-old*) [ "$2" = start-first ] ;;
	*) return 0 ;;
	esac
}

fa() { furrow -c "$D/agent.lua" apply "$@"; }

# json_check FILE PYTHON-EXPR...: assert each expression over d (the
# JSON document in FILE), showing the document when one fails.
json_check() {
	local f=$1
	shift
	$PY - "$f" "$@" <<-\EOP
	import json, sys
	d = json.load(open(sys.argv[1]))
	web = None
	if isinstance(d, dict):
	    web = next((a for a in d.get("apps") or [] if a["app"] == "web"), None)
	for e in sys.argv[2:]:
	    if not eval(e):
	        sys.exit("failed: %s\n%s" % (e, json.dumps(d, indent=1)))
	EOP
}

# The recovery in the history: newest first, so find the entry with the
# recovery's reason and check what it says.
history_has_recovery() { # forward|back from to
	furrow -c "$D/agent.lua" history web --json >hist.json &&
	if [ "$1" = forward ]; then
		json_check hist.json \
			"any(h['event'] == 'update' and h['reason'] == 'completed at the next start' and h['from'] == '$2' and h['to'] == '$3' for h in d)"
	else
		json_check hist.json \
			"any(h['event'] == 'update-reverted' and h['reason'] == 'interrupted; rolled back at the next start' and h['from'] == '$2' and h['to'] == '$3' for h in d)"
	fi
}

# A third pass finds nothing in the journal and nothing to do.
clean_pass() {
	fa --json >third.json 2>third.err &&
	json_check third.json "d['recovered'] == 0" "d['exit'] == 0" \
		"web['outcome'] == 'unchanged'"
}

test_expect_success 'setup: keys, trust, a signed repository' '
	apply_lib_init
'

# crash_update STRATEGY POINT [lock]: v1 applied, crash while updating
# to v2 at POINT, then apply again.  With "lock", the second pass holds an
# update lock, so it only recovers (the retry is deferred) and the state
# recovery left can be checked; a third pass then retries.
crash_update() {
	local strategy=$1 pt=$2 lock=${3:-} dir
	D=$TEST_DIR/$strategy-$pt
	ST=$D/state
	write_agent "$D" && cd "$D" &&
	svc_commit 1 "$strategy" &&
	{ fa >first.out 2>&1 || { cat first.out; return 1; }; } &&
	check_converged "$ST" v1 "$strategy" &&
	svc_commit 2 "$strategy" || return 1
	test_expect_code 86 env FURROW_CRASH_AT=$pt "$FURROW" -c agent.lua apply \
		>crash.out 2>crash.err || { cat crash.err; return 1; }
	test_grep -q "fault point $pt:1" crash.err || return 1
	if rolls_forward "$pt" "$strategy"; then
		dir=forward
		# Past the commit point v2 already serves, before any recovery.
		test "$(served "$(slot_port b "$strategy")")" = v2 || {
			echo "after a crash at $pt v2 should serve"; return 1; }
	else
		dir=back
	fi
	if [ -n "$lock" ]; then
		echo "$(( $(date +%s) + 600 )) test" >"$ST/apps/web/data/.furrow-lock"
		if [ $dir = forward ]; then
			fa --json >second.json 2>second.err &&
			json_check second.json "d['recovered'] == 1" \
				"web['outcome'] == 'unchanged'" &&
			check_converged "$ST" v2 "$strategy" || return 1
		else
			test_expect_code 4 fa --json >second.json 2>second.err &&
			json_check second.json "d['recovered'] == 1" \
				"web['outcome'] == 'deferred'" &&
			check_converged "$ST" v1 "$strategy" || return 1
		fi
		rm "$ST/apps/web/data/.furrow-lock"
		fa --json >retry.json 2>retry.err &&
		json_check retry.json "d['recovered'] == 0" || return 1
	else
		fa --json >second.json 2>second.err || {
			cat second.json second.err; return 1; }
		if [ $dir = forward ]; then
			json_check second.json "d['recovered'] == 1" \
				"web['outcome'] == 'unchanged'"
		else
			json_check second.json "d['recovered'] == 1" \
				"web['outcome'] == 'applied'" "web['slot'] == 'b'"
		fi || return 1
	fi
	check_converged "$ST" v2 "$strategy" &&
	history_has_recovery $dir a b &&
	clean_pass &&
	check_converged "$ST" v2 "$strategy"
}

for pt in $POINTS; do
	test_expect_success "stop-first update, crash at $pt: recovered, v2 retried" '
		trap "kill_services \"$TEST_DIR/stop-first-$pt\"" EXIT
		crash_update stop-first $pt
	'
done

for pt in $POINTS; do
	test_expect_success "start-first update, crash at $pt: recovery alone, then v2" '
		trap "kill_services \"$TEST_DIR/start-first-$pt\"" EXIT
		crash_update start-first $pt lock
	'
done

# crash_install POINT: nothing applied yet, crash while creating v1.
crash_install() {
	local pt=$1 dir
	D=$TEST_DIR/install-$pt
	ST=$D/state
	write_agent "$D" && cd "$D" && svc_commit 1 || return 1
	test_expect_code 86 env FURROW_CRASH_AT=$pt "$FURROW" -c agent.lua apply \
		>crash.out 2>crash.err || { cat crash.err; return 1; }
	test_grep -q "fault point $pt:1" crash.err || return 1
	fa --json >second.json 2>second.err || { cat second.json second.err; return 1; }
	if rolls_forward "$pt" stop-first; then
		dir=forward
		json_check second.json "d['recovered'] == 1" \
			"web['outcome'] == 'unchanged'"
	else
		dir=back
		json_check second.json "d['recovered'] == 1" \
			"web['outcome'] == 'applied'" "web['slot'] == 'a'"
	fi &&
	check_converged "$ST" v1 &&
	history_has_recovery $dir "" a &&
	clean_pass &&
	check_converged "$ST" v1
}

for pt in $POINTS; do
	test_expect_success "first install, crash at $pt: nothing or v1, then v1" '
		trap "kill_services \"$TEST_DIR/install-$pt\"" EXIT
		crash_install $pt
	'
done

# Recovery alone after a crashed first install: either nothing is active
# (rolled back: no `current`, no process) or v1 is, complete.
test_expect_success 'first install: what recovery alone leaves (nothing, or v1)' '
	D=$TEST_DIR/install-alone && ST=$D/state &&
	trap "kill_services \"$D\"" EXIT &&
	write_agent "$D" && cd "$D" && svc_commit 1 &&
	for pt in health switch-done; do
		rm -rf "$ST" &&
		test_expect_code 86 env FURROW_CRASH_AT=$pt "$FURROW" -c agent.lua apply \
			>crash.out 2>crash.err &&
		# rollback recovers the journal first, then finds nothing to
		# roll back to: recovery alone, without the retry.
		test_must_fail furrow -c agent.lua rollback web >rb.out 2>rb.err &&
		cat rb.err &&
		if [ $pt = health ]; then
			test ! -e "$ST/apps/web/current" &&
			test -z "$(svc_procs "$ST/apps/web")"
		else
			check_converged "$ST" v1
		fi &&
		kill_services "$D" || exit 1
	done
'

# The kill -9 loop: a furrow killed at a random instant of an update, then
# a complete pass; the invariants hold every time.
test_expect_success 'kill -9 at random instants, 30 times: always converges' '
	D=$TEST_DIR/kill9 && ST=$D/state &&
	trap "kill_services \"$D\"" EXIT &&
	write_agent "$D" && cd "$D" &&
	svc_commit 1 && fa >first.out 2>&1 && check_converged "$ST" v1 &&
	recovered=0 &&
	for k in $(seq 2 31); do
		svc_commit $k &&
		delay=$($PY -c "import random; print(round(random.uniform(0, 1.5), 3))") &&
		{ "$FURROW" -c agent.lua apply >bg.out 2>bg.err & } &&
		pid=$! && track_pid $pid &&
		sleep $delay &&
		{ kill -KILL $pid 2>/dev/null || :; } &&
		{ wait $pid || :; } &&
		fa --json >pass.json 2>pass.err || {
			echo "iteration $k (killed after $delay s):"
			cat pass.json pass.err; exit 1; }
		# Killing furrow never kills the service: the pass either
		# finishes the interrupted update or retries it, but finds
		# no dead service to repair.
		json_check pass.json "d[\"exit\"] == 0" \
			"web[\"outcome\"] in (\"applied\", \"unchanged\")" || {
			echo "iteration $k (killed after $delay s)"; exit 1; }
		check_converged "$ST" v$k || {
			echo "iteration $k (killed after $delay s) does not converge"
			cat bg.err pass.err; exit 1; }
		recovered=$((recovered + $($PY -c "import json; print(json.load(open(\"pass.json\"))[\"recovered\"])"))) &&
		clean_pass || { echo "iteration $k"; cat third.json third.err; exit 1; }
	done &&
	echo "# $recovered of 30 kills interrupted an update" >&3
' 3>&1

# An update cut short and rolled back at the next start leaves its staged
# files in the other slot.  That slot holds a version that never completed,
# not the one the app ran before: `furrow rollback` must not switch to it
# (and hold the version that was running).  v1 -> a, v2 -> b, v3 staged
# into a over v1 and interrupted: there is nothing earlier to go back to.
test_expect_success 'rollback after an interrupted update does not switch to it' '
	D=$TEST_DIR/rb-interrupted && ST=$D/state &&
	trap "kill_services \"$D\"" EXIT &&
	write_agent "$D" && cd "$D" &&
	svc_commit 1 && fa >out 2>&1 && svc_commit 2 && fa >out 2>&1 &&
	check_converged "$ST" v2 &&
	svc_commit 3 &&
	test_expect_code 86 env FURROW_CRASH_AT=health "$FURROW" -c agent.lua apply \
		>crash.out 2>crash.err &&
	echo "$(( $(date +%s) + 600 )) test" >"$ST/apps/web/data/.furrow-lock" &&
	test_expect_code 4 fa --json >second.json 2>second.err &&
	json_check second.json "d[\"recovered\"] == 1" &&
	check_converged "$ST" v2 &&
	rc=0 &&
	{ test_expect_code 1 furrow -c agent.lua rollback web >rb.out 2>rb.err || rc=1; } &&
	cat rb.out rb.err && furrow -c agent.lua history web &&
	check_converged "$ST" v2 &&
	test $rc = 0 &&
	furrow -c agent.lua history web --json >h.json &&
	json_check h.json "d[0][\"event\"] != \"rollback\""
'

# A furrow killed while it starts the new slot (between the fork and the
# service writing its pid file, as near as a shell can aim): no second
# copy of the service after recovery.
test_expect_success 'kill -9 during start: no duplicate process after recovery' '
	outcomes= &&
	for i in 0 1 2 3 4 5; do
		D=$TEST_DIR/start-kill-$i && ST=$D/state &&
		write_agent "$D" && cd "$D" &&
		svc_commit 1 && fa >first.out 2>&1 && check_converged "$ST" v1 &&
		svc_commit 2 &&
		{ FURROW_CRASH_AT=start-done "$FURROW" -c agent.lua apply >bg.out 2>bg.err & } &&
		pid=$! && track_pid $pid &&
		# log/b is made by the service driver right before the fork.
		while [ ! -d "$ST/apps/web/log/b" ] && kill -0 $pid 2>/dev/null; do :; done &&
		for ((j = 0; j < i * 300; j++)); do :; done &&
		{ kill -KILL $pid 2>/dev/null || :; } &&
		rc=0 && { wait $pid || rc=$?; } &&
		# 137: killed; 86: it reached start-done first.
		pidfile=$(test -f "$ST/apps/web/run/b.pid" && echo b.pid || echo -) &&
		outcomes="$outcomes $rc/$pidfile" &&
		sleep 0.3 &&
		n=$(svc_procs "$ST/apps/web" | grep -c . || :) &&
		{ [ "$n" -le 1 ] || { echo "$n processes after the kill"; exit 1; }; } &&
		fa --json >pass.json 2>pass.err &&
		check_converged "$ST" v2 &&
		clean_pass &&
		kill_services "$D" || { cat bg.err pass.err; kill_services "$D"; exit 1; }
	done &&
	echo "# exit/pid file after the kill:$outcomes" >&3
' 3>&1

test_done
