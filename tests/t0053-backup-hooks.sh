#!/usr/bin/env bash
# Backups as the spec asks (README "Backups"): backup.pre runs before the
# snapshot in the active slot's directory (its output lands in the
# snapshot), backup.stop stops the service for the copy and starts it
# again, a failing pre hook fails the snapshot (status shows the error),
# RPO/RTO targets show in status and in the metrics textfile,
# retention keeps the newest `keep` plus one a day for `keep_daily` days,
# and a start-first update's pre-update snapshot runs the running
# version's backup.pre first.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-apply.sh"

D=$TEST_DIR/h
S=$D/state
export D S

# hooks_commit PRE: app "db", a sleeping service with data d, whose
# backup runs PRE (a shell snippet) before each snapshot and stops it.
hooks_commit() {
	mkdir -p "$W/svc" &&
	printf '#!/bin/sh\nexec sleep 100000\n' >"$W/svc/run.sh" &&
	chmod 755 "$W/svc/run.sh" &&
	cat >"$W/svc/dump.sh" <<-EOS &&
	#!/bin/sh
	$1
	EOS
	chmod 755 "$W/svc/dump.sh" &&
	cat >"$W/furrow.lua" <<-EOL &&
	serial = ${2:-1}
	app "db" { kind = "service", files = "svc", exec = { "run.sh" },
	  data = { "d" },
	  backup = { paths = { "d" }, pre = { "/bin/sh", "dump.sh" }, stop = true,
	             keep = 2, keep_daily = 2, rpo = "1h", rto = "10m" } }
	EOL
	commit_tree "hooks $2"
}

pid_of_db() { read -r p rest <"$S/apps/db/run/$(basename "$(readlink "$S/apps/db/current")").pid" && echo "$p"; }

test_expect_success 'setup: an applied app with pre, stop, keep and targets' '
	apply_lib_init &&
	hooks_commit "echo dumped-\$(date +%s%N) >../data/d/dump.txt" 1 &&
	write_agent "$D" &&
	furrow backup key "$D/backup.key" &&
	sed -i "s|^  apply = |  backup = { key_file = \"$D/backup.key\" },\n  metrics = { textfile = \"$D/furrow.prom\" },\n  apply = |" "$D/agent.lua" &&
	(cd "$D" && furrow -c agent.lua apply) &&
	test -d "$S/apps/db/data/d"
'

test_expect_success 'pre runs first: its output is in the snapshot; stop restarts the service' '
	before=$(pid_of_db) &&
	kill -0 "$before" &&
	(cd "$D" && furrow -c agent.lua backup now db) >out &&
	cat out &&
	test_grep "^db: snapshot 1: " out &&
	after=$(pid_of_db) &&
	test "$before" != "$after" &&
	kill -0 "$after" &&
	(cd "$D" && furrow -c agent.lua backup restore db latest --to "$D/r1") &&
	test_cmp "$S/apps/db/data/d/dump.txt" "$D/r1/d/dump.txt" &&
	grep -q "^dumped-" "$D/r1/d/dump.txt"
'

test_expect_success 'status and metrics carry RPO and RTO with their targets' '
	(cd "$D" && furrow -c agent.lua backup drill db) &&
	(cd "$D" && furrow -c agent.lua status --json) >st.json &&
	"$PY" -c "
import json; a = [x for x in json.load(open(\"st.json\"))[\"apps\"] if x[\"app\"] == \"db\"][0][\"backup\"]
assert a[\"rpo_target_seconds\"] == 3600 and a[\"rto_target_seconds\"] == 600, a
assert 0 <= a[\"rpo_seconds\"] < 60 and a[\"last_drill_ok\"] is True, a
assert a[\"rto_seconds\"] >= 0 and a[\"last_snapshot\"] == 1, a
" &&
	(cd "$D" && furrow -c agent.lua apply) &&
	grep "^furrow_backup_rpo_target_seconds{app=\"db\"} 3600$" "$D/furrow.prom" &&
	grep "^furrow_backup_rto_target_seconds{app=\"db\"} 600$" "$D/furrow.prom" &&
	grep "^furrow_backup_drill_ok{app=\"db\"} 1$" "$D/furrow.prom" &&
	grep -E "^furrow_backup_rto_seconds\{app=\"db\"\} [0-9.e-]+$" "$D/furrow.prom"
'

test_expect_success 'a failing pre hook fails the snapshot, names the hook, and leaves the app running' '
	hooks_commit "echo no database >&2; exit 7" 2 &&
	(cd "$D" && furrow -c agent.lua apply) &&
	test_must_fail env -C "$D" "$FURROW" -c agent.lua backup now db 2>err &&
	cat err &&
	test_grep "backup.pre failed" err &&
	test_grep "exit 7" err &&
	kill -0 "$(pid_of_db)" &&
	(cd "$D" && furrow -c agent.lua backup list) >list &&
	test "$(grep -c " db " list)" = 1 &&
	(cd "$D" && furrow -c agent.lua status --json) >st.json &&
	"$PY" -c "
import json; a = [x for x in json.load(open(\"st.json\"))[\"apps\"] if x[\"app\"] == \"db\"][0][\"backup\"]
assert \"backup.pre failed\" in a[\"error\"], a
"
'

test_expect_success 'retention: keep = 2 leaves the two newest (keep_daily keeps today once more)' '
	hooks_commit "true" 3 &&
	(cd "$D" && furrow -c agent.lua apply) &&
	for i in 1 2 3 4; do
		echo "$i" >"$S/apps/db/data/d/n" &&
		(cd "$D" && furrow -c agent.lua backup now db) || return 1
	done &&
	(cd "$D" && furrow -c agent.lua backup list --json) >l.json &&
	"$PY" -c "
import json; ids = [s[\"id\"] for s in json.load(open(\"l.json\"))]
assert ids == ids[-2:] and len(ids) == 2, ids
"
'

# update_commit PRE SERIAL: app "db" updated start-first, with a snapshot
# before each update, whose backup.pre runs PRE.
update_commit() {
	cat >"$W/svc/dump.sh" <<-EOS &&
	#!/bin/sh
	$1
	EOS
	chmod 755 "$W/svc/dump.sh" &&
	cat >"$W/furrow.lua" <<-EOL &&
	serial = $2
	app "db" { kind = "service", files = "svc", exec = { "run.sh" },
	  data = { "d" }, strategy = "start-first",
	  backup = { paths = { "d" }, pre = { "/bin/sh", "dump.sh" },
	             snapshot_before_update = true, keep = 10 } }
	EOL
	commit_tree "update $2"
}

test_expect_success 'start-first: the running version dumps (backup.pre) before the pre-update snapshot' '
	update_commit "echo dumped-by-4 >../data/d/dump.txt" 4 &&
	(cd "$D" && furrow -c agent.lua apply) &&
	echo stale >"$S/apps/db/data/d/dump.txt" &&
	update_commit "echo dumped-by-5 >../data/d/dump.txt" 5 &&
	(cd "$D" && furrow -c agent.lua apply) &&
	(cd "$D" && furrow -c agent.lua backup list --json) >l.json &&
	id=$("$PY" -c "
import json; print([s[\"id\"] for s in json.load(open(\"l.json\")) if s[\"tag\"] == \"pre-update\"][-1])
") &&
	(cd "$D" && furrow -c agent.lua backup restore db "$id" --to "$D/r-pre") &&
	echo dumped-by-4 >want &&
	test_cmp want "$D/r-pre/d/dump.txt" &&
	test_cmp want "$S/apps/db/data/d/dump.txt"
'

test_expect_success 'start-first: a failing backup.pre of the running version fails the update before it starts' '
	update_commit "echo cannot dump >&2; exit 9" 6 &&
	(cd "$D" && furrow -c agent.lua apply) &&
	before=$(pid_of_db) &&
	update_commit "true" 7 &&
	test_must_fail env -C "$D" "$FURROW" -c agent.lua apply >out 2>err &&
	cat out err &&
	test_grep "backup.pre failed" err &&
	test "$(pid_of_db)" = "$before" &&
	kill -0 "$before"
'

test_expect_success 'cleanup' '
	kill_tracked; for f in "$S"/apps/*/run/*.pid; do
		[ -f "$f" ] && read -r p r <"$f" && kill -TERM -- "-$p" 2>/dev/null
	done; true
'

test_done
