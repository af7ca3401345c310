#!/usr/bin/env bash
# Data rollback (README "Backups", "Data rollback"): with
# backup.snapshot_before_update an update snapshots the app's data
# ("pre-update") before the new version starts; when the update is rolled
# back (failed start or health check, or furrow killed before the switch
# and recovered at the next start) the data the failed attempt left is
# kept ("failed-update") and the pre-update data is put back in place,
# byte for byte, before the old version starts again; `furrow rollback`
# after a confirmed update does the same ("before-rollback"), and a
# rollback by hand that fails puts the data back ("failed-rollback").
# Also: a pruned pre-update snapshot refuses the rollback, a drift repair
# takes no snapshot, an app without the option is never touched, and a
# pre-update snapshot that fails fails the update before it runs.
#
# The service: v1 creates d/db.dat if it is missing and serves its slot
# on a port per slot; v2 first MIGRATES the data (migrate.sh: rewrites
# db.dat, appends to big.bin, adds new-file and sub2/, removes old-file
# and sub/, drops the hard link, retargets the symlink, changes a mode)
# and then is healthy, exits, or serves but fails its check.  The data
# before an update is set up by the test: text, a random multi-chunk
# file, a sparse file, an empty file, modes, a subdirectory, a symlink
# and a hard link.  Trees are compared by a manifest of every entry:
# type and mode, owner, size, sha256 of the bytes, link target, hard-link
# group and (where the restore promises it) mtime.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-apply.sh"

cat >"$TEST_DIR/manifest.py" <<'EOP'
# manifest.py DIR [--times]: one line per entry of DIR (itself as "."),
# sorted.
import hashlib, os, stat, sys
root = sys.argv[1]
times = "--times" in sys.argv
inodes = {}
out = []
def entry(p):
    r = os.path.relpath(p, root)
    st = os.lstat(p)
    line = [r, "%o" % st.st_mode, "%d:%d" % (st.st_uid, st.st_gid)]
    if stat.S_ISREG(st.st_mode):
        h = hashlib.sha256(open(p, "rb").read()).hexdigest()
        line += ["size=%d" % st.st_size, h]
        if st.st_nlink > 1:
            line.append("link-group=%s" % inodes.setdefault(st.st_ino, r))
    elif stat.S_ISLNK(st.st_mode):
        line.append("-> " + os.readlink(p))
    if times and not stat.S_ISLNK(st.st_mode):
        line.append("mtime=%d" % st.st_mtime_ns)
    out.append(" ".join(line))
entry(root)
for dp, dns, fns in sorted(os.walk(root)):
    for n in sorted(dns + fns):
        entry(os.path.join(dp, n))
print("\n".join(out))
EOP
# manifest DIR [--times] >FILE
manifest() { "$PY" "$TEST_DIR/manifest.py" "$@"; }

cat >"$TEST_DIR/snaps.py" <<'EOP'
import json, sys
for s in json.load(open(sys.argv[1])):
    if s["app"] == "web" and (len(sys.argv) < 3 or s["tag"] == sys.argv[2]):
        print(s["id"], s["tag"])
EOP
# snap_list [TAG]: "id tag" of web's snapshots (with TAG), oldest first.
snap_list() { furrow -c "$D/agent.lua" backup list --json >"$D/list.json" &&
	"$PY" "$TEST_DIR/snaps.py" "$D/list.json" "$@"; }
# snap_id TAG: the newest snapshot with TAG (fails if there is none).
snap_id() {
	local id
	id=$(snap_list "$1" | tail -n 1 | cut -d" " -f1)
	[ -n "$id" ] || { echo "no $1 snapshot:"; cat "$D/list.json"; return 1; }
	echo "$id"
}
# snap_count TAG: how many snapshots with TAG.
snap_count() { snap_list "$1" | grep -c . || true; }
# restore_to TAG DIR: the newest TAG snapshot restored into DIR.
restore_to() {
	local id
	id=$(snap_id "$1") &&
	furrow -c "$D/agent.lua" backup restore web "$id" --to "$2" >/dev/null
}

# web_commit N STRATEGY MODE [SNAP]: app "web" at version vN.
#   keep          create d/db.dat if missing, serve, healthy
#   migrate       migrate the data, then serve, healthy
#   migrate-exit  migrate the data, then exit 1
#   migrate-sick  migrate the data, then serve; the check never passes
# SNAP: backup.snapshot_before_update (default true).  Both strategies
# serve each slot on its own port (port_of_slot), checked by an exec
# check that asks the port of the slot directory it runs in.
web_commit() {
	local n=$1 strategy=$2 mode=$3 snap=${4:-true} want=v$1
	rm -rf "$W/svc" && mkdir -p "$W/svc" &&
	echo "v$n" >"$W/svc/version.txt" || return 1
	{
		printf '#!/bin/sh\n# web v%s (%s)\n' "$n" "$mode"
		printf 'd=$FURROW_DATA/d\n'
		printf '[ -e "$d/db.dat" ] || printf "db created by v1\\n" >"$d/db.dat"\n'
		# A switch outside the snapshotted paths to make v1 fail.
		[ "$mode" = keep ] && printf '[ ! -e "$FURROW_DATA/no-v1" ] || exit 1\n'
		case $mode in migrate*) printf '/bin/sh ./migrate.sh || exit 1\n' ;; esac
		[ "$mode" = migrate-exit ] && printf 'exit 1\n'
		printf 'case $FURROW_SLOT in a) p=%s ;; *) p=%s ;; esac\n' \
			"$(port_of_slot a)" "$(port_of_slot b)"
		printf 'exec %s -m http.server --bind 127.0.0.1 $p\n' "$PY"
	} >"$W/svc/run.sh" &&
	cat >"$W/svc/migrate.sh" <<-\EOS &&
	#!/bin/sh
	# The data migration of v2, deterministic so the test can redo it.
	set -e
	d=$FURROW_DATA/d
	[ ! -e "$d/.migrated" ] || exit 0
	printf 'db migrated to schema 2\n' >"$d/db.dat.new"
	mv "$d/db.dat.new" "$d/db.dat"
	printf 'appended by v2\n' >>"$d/big.bin"
	head -c 100000 /dev/zero | tr '\0' m >"$d/new-file"
	rm -f "$d/old-file" "$d/hard"
	rm -rf "$d/sub"
	mkdir -p "$d/sub2"
	printf 'made by v2\n' >"$d/sub2/x"
	ln -sfn new-file "$d/link"
	chmod 0644 "$d/private"
	: >"$d/.migrated"
	EOS
	[ "$mode" = migrate-sick ] && want=never
	cat >"$W/svc/check.sh" <<-EOS &&
	#!/bin/sh
	case \${PWD##*/} in a) p=$(port_of_slot a) ;; *) p=$(port_of_slot b) ;; esac
	/usr/bin/curl -sf --max-time 1 http://127.0.0.1:\$p/version.txt | grep -qx $want
	EOS
	chmod 755 "$W/svc/run.sh" "$W/svc/migrate.sh" "$W/svc/check.sh" &&
	cat >"$W/furrow.lua" <<-EOL &&
	serial = 1
	app "web" { kind = "service", files = "svc", exec = { "run.sh" },
	  strategy = "$strategy", data = { "d" },
	  health = { exec = { "/bin/sh", "check.sh" }, interval = 0.2, timeout = 1,
	             retries = 10, settle = 0.3 },
	  backup = { paths = { "d" }, snapshot_before_update = $snap${KEEP:+, keep = $KEEP} } }
	EOL
	commit_tree "v$n $strategy $mode"
}

# new_agent NAME: an agent in $TEST_DIR/NAME with the backup key; sets D
# (its directory), ST (its state) and DD (web's data directory "d").
new_agent() {
	D=$TEST_DIR/$1
	ST=$D/state
	DD=$ST/apps/web/data/d
	mkdir -p "$D" &&
	cat >"$D/agent.lua" <<-EOA
	return {
	  host = { id = "edge-1" },
	  source = { url = "$TEST_DIR/srv/state.git", interval = 3600, jitter = 0 },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  apply = { stop_timeout = 3 },
	  backup = { key_file = "$D/backup.key" },
	}
	EOA
	furrow backup key "$D/backup.key" >/dev/null &&
	cd "$D"
}

# xapply CODE [ARGS]: furrow apply must exit CODE (output in $D/out, err).
xapply() {
	local want=$1 rc=0
	shift
	timeout -k 5 60 "$FURROW" -c "$D/agent.lua" apply "$@" >"$D/out" 2>"$D/err" ||
		rc=$?
	[ "$rc" = "$want" ] || {
		cat "$D/out" "$D/err"
		echo "apply: want exit $want, got $rc" >&2
		return 1
	}
}

# v1_with_data STRATEGY [SNAP]: v1 applied, then the data a real app
# would have by now, saved as the manifest $D/pre (with times); and
# $D/migrated/d: a copy of it put through v2's migration by the test.
v1_with_data() {
	web_commit 1 "$1" keep "${2:-true}" &&
	xapply 0 &&
	converged "$ST" v1 &&
	test "$(cat "$DD/db.dat")" = "db created by v1" &&
	printf 'obsolete\n' >"$DD/old-file" &&
	head -c 700000 /dev/urandom >"$DD/big.bin" &&
	: >"$DD/empty" &&
	printf 'secret\n' >"$DD/private" && chmod 0600 "$DD/private" &&
	truncate -s 3M "$DD/sparse" &&
	printf middle | dd of="$DD/sparse" bs=1 seek=1500000 conv=notrunc 2>/dev/null &&
	mkdir -p "$DD/sub/deeper" &&
	printf 'nested\n' >"$DD/sub/deeper/n.txt" && chmod 0750 "$DD/sub" &&
	ln -s db.dat "$DD/link" &&
	ln "$DD/old-file" "$DD/hard" &&
	touch -d "2001-02-03 04:05:06" "$DD/old-file" "$DD/sub/deeper" "$DD" &&
	manifest "$DD" --times >"$D/pre" &&
	rm -rf "$D/migrated" && mkdir "$D/migrated" && cp -a "$DD" "$D/migrated/d" &&
	FURROW_DATA=$D/migrated /bin/sh "$W/svc/migrate.sh"
}

# converged STATE vN: one slot current, serving vN on its port, one
# process (both strategies here use a port per slot).
converged() { check_converged "$1" "$2" start-first; }

# same_data: the data directory is the pre-update data, byte for byte,
# modes, owners and mtimes included.
same_data() {
	manifest "$DD" --times >"$D/now" && test_cmp "$D/pre" "$D/now"
}
# migrated_data DIR: DIR (a "d") holds what v2's migration made.
migrated_data() {
	manifest "$D/migrated/d" >"$D/want-migrated" &&
	manifest "$1" >"$D/got-migrated" &&
	test_cmp "$D/want-migrated" "$D/got-migrated"
}

test_expect_success 'setup: keys, trust, a signed repository' '
	apply_lib_init
'

# jcheck FILE PYTHON-EXPR...: each expression holds over d (the JSON in
# FILE; web: its app "web"), else the document is shown.
jcheck() {
	local f=$1
	shift
	"$PY" - "$f" "$@" <<-\EOP
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
# wait_for FILE: FILE appears within 10 s.
wait_for() {
	local i
	for i in $(seq 100); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	echo "$1 did not appear" >&2
	return 1
}
# nothing_left: no restore in progress left behind.
nothing_left() {
	absent "$ST/apps/web/data.restore" &&
	test -z "$(ls -A "$ST/apps/web/data" | grep -v "^d$" | grep -v "^.furrow-lock$")"
}
absent() {
	[ ! -e "$1" ] && [ ! -L "$1" ] && return 0
	echo "absent: $1 exists: $(ls -ld "$1")" >&2
	return 1
}
# hist EVENT: how many history entries of web have EVENT.
hist() {
	furrow -c "$D/agent.lua" history web --json >"$D/hist.json" &&
	"$PY" -c 'import json,sys; print(sum(h["event"] == sys.argv[2] for h in json.load(open(sys.argv[1]))))' \
		"$D/hist.json" "$1"
}

# 1, 2: an update that migrates the data and then fails is rolled back
# with its data.  stop-first: v2 exits after the migration; start-first:
# v2 serves but never passes its check (v1 runs all along).
for strategy in stop-first start-first; do
	case $strategy in stop-first) mode=migrate-exit ;; *) mode=migrate-sick ;; esac
	test_expect_success "$strategy: a failed update ($mode) takes the data back, byte for byte" '
		trap "kill_services \"$TEST_DIR/fail-$strategy\"" EXIT
		new_agent fail-$strategy
		v1_with_data $strategy
		web_commit 2 $strategy $mode
		xapply 5 --json
		jcheck out "web[\"outcome\"] == \"rolled-back\"" "web[\"slot\"] == \"a\""
		same_data
		nothing_left
		converged "$ST" v1
		test "$(readlink "$ST/apps/web/current")" = a
		test "$(hist update-reverted)" = 1
		# Both snapshots: the data before, the failed attempt'"'"'s data.
		test "$(snap_count pre-update)" = 1
		test "$(snap_count failed-update)" = 1
		snap_list >tags
		test_cmp - tags <<-EOF
		$(snap_id pre-update) pre-update
		$(snap_id failed-update) failed-update
		EOF
		restore_to pre-update "$D/r-pre"
		manifest "$D/r-pre/d" --times >r-pre.m
		test_cmp "$D/pre" r-pre.m
		restore_to failed-update "$D/r-failed"
		migrated_data "$D/r-failed/d"
		test -e "$D/r-failed/d/.migrated"
		# Held: the next pass neither runs v2 nor touches the data.
		xapply 5 --json
		jcheck out "web[\"outcome\"] == \"held\""
		same_data
		test "$(snap_list | wc -l)" = 2
		converged "$ST" v1
		kill_services "$D"
	'
done

# 3: a confirmed update keeps the migrated data; `furrow rollback` takes
# the data back to the pre-update snapshot with the old version.
for strategy in stop-first start-first; do
	test_expect_success "$strategy: a confirmed update keeps its data; furrow rollback restores the pre-update data" '
		trap "kill_services \"$TEST_DIR/ok-$strategy\"" EXIT
		new_agent ok-$strategy
		v1_with_data $strategy
		web_commit 2 $strategy migrate
		xapply 0 --json
		jcheck out "web[\"outcome\"] == \"applied\"" "web[\"slot\"] == \"b\""
		converged "$ST" v2
		migrated_data "$DD"
		test "$(snap_count pre-update)" = 1
		test "$(snap_count failed-update)" = 0
		manifest "$DD" --times >migrated.m
		# v1 does not start: the rollback fails, v2 runs on its data.
		: >"$ST/apps/web/data/no-v1"
		test_expect_code 1 furrow -c agent.lua rollback web >rb.out 2>rb.err
		test_grep -q "rollback to slot a failed" rb.err
		converged "$ST" v2
		manifest "$DD" --times >now.m
		test_cmp migrated.m now.m
		test "$(snap_count before-rollback)" = 1
		test "$(snap_count failed-rollback)" = 1
		restore_to failed-rollback "$D/r-failrb"
		manifest "$D/r-failrb/d" --times >r-failrb.m
		test_cmp "$D/pre" r-failrb.m
		rm "$ST/apps/web/data/no-v1"
		furrow -c "$D/agent.lua" rollback web >rb.out 2>rb.err || {
			cat rb.out rb.err; false; }
		same_data
		nothing_left
		converged "$ST" v1
		test "$(readlink "$ST/apps/web/current")" = a
		test "$(hist rollback)" = 1
		test "$(snap_count before-rollback)" = 2
		test "$(snap_count failed-rollback)" = 1
		restore_to before-rollback "$D/r-before"
		manifest "$D/r-before/d" --times >r-before.m
		test_cmp migrated.m r-before.m
		# The version left is held: a pass leaves v1 and its data.
		xapply 5 --json
		jcheck out "web[\"outcome\"] == \"held\""
		converged "$ST" v1
		same_data
		kill_services "$D"
	'
done

# 4: furrow killed after v2 started and migrated the data, before the
# switch; the next start rolls the update back with its data.  An update
# lock keeps that pass from retrying v2 (so what recovery left can be
# seen); without the lock the next pass applies v2 again.
for strategy in stop-first start-first; do
	test_expect_success "$strategy: killed at the health step, recovery takes the data back" '
		trap "kill_services \"$TEST_DIR/crash-$strategy\"" EXIT
		new_agent crash-$strategy
		v1_with_data $strategy
		web_commit 2 $strategy migrate
		test_expect_code 86 env FURROW_CRASH_AT=health "$FURROW" -c agent.lua apply \
			>crash.out 2>crash.err
		test_grep -q "fault point health:1" crash.err
		wait_for "$DD/.migrated"
		echo "$(( $(date +%s) + 600 )) test" >"$ST/apps/web/data/.furrow-lock"
		xapply 4 --json
		jcheck out "d[\"recovered\"] == 1" "web[\"outcome\"] == \"deferred\""
		same_data
		nothing_left
		converged "$ST" v1
		test "$(snap_count pre-update)" = 1
		test "$(snap_count failed-update)" = 1
		restore_to failed-update "$D/r-failed"
		migrated_data "$D/r-failed/d"
		rm "$ST/apps/web/data/.furrow-lock"
		xapply 0 --json
		jcheck out "d[\"recovered\"] == 0" "web[\"outcome\"] == \"applied\""
		converged "$ST" v2
		migrated_data "$DD"
		test "$(snap_count pre-update)" = 2
		kill_services "$D"
	'
done

# 4b: killed just after the switch: recovery completes the update (the
# data stays migrated), and a rollback by hand still finds the data that
# goes with v1.
test_expect_success 'stop-first: killed after the switch, rolled forward; furrow rollback restores the pre-update data' '
	trap "kill_services \"$TEST_DIR/fwd\"" EXIT
	new_agent fwd
	v1_with_data stop-first
	web_commit 2 stop-first migrate
	test_expect_code 86 env FURROW_CRASH_AT=switch-done "$FURROW" -c agent.lua apply \
		>crash.out 2>crash.err
	xapply 0 --json
	jcheck out "d[\"recovered\"] == 1" "web[\"outcome\"] == \"unchanged\""
	converged "$ST" v2
	migrated_data "$DD"
	furrow -c "$D/agent.lua" rollback web >rb.out 2>rb.err || {
		cat rb.out rb.err; false; }
	converged "$ST" v1
	same_data
	test "$(snap_count before-rollback)" = 1
	kill_services "$D"
'

# 3b: retention dropped the pre-update snapshot (keep = 1, then a manual
# snapshot): a rollback by hand is refused and touches nothing.
test_expect_success 'the pre-update snapshot pruned: furrow rollback refused, data and v2 left alone' '
	trap "kill_services \"$TEST_DIR/pruned\"" EXIT
	new_agent pruned
	v1_with_data stop-first
	KEEP=1 web_commit 2 stop-first migrate
	xapply 0
	converged "$ST" v2
	furrow -c agent.lua backup now web >now.out
	test "$(snap_count pre-update)" = 0
	manifest "$DD" --times >migrated.m
	test_expect_code 1 furrow -c agent.lua rollback web >rb.out 2>rb.err
	test_grep -q "no snapshot" rb.err
	converged "$ST" v2
	manifest "$DD" --times >now.m
	test_cmp migrated.m now.m
	snap_list >tags
	test "$(cut -d" " -f2 tags)" = manual
	kill_services "$D"
'

# 3c: a drift repair redeploys the version that runs: no pre-update
# snapshot, and no data bound to the drifted slot it leaves, so a rollback
# by hand to that slot (the same version) leaves the data alone.
test_expect_success 'a drift repair takes no pre-update snapshot; a rollback after it keeps the data' '
	trap "kill_services \"$TEST_DIR/repair\"" EXIT
	new_agent repair
	v1_with_data stop-first
	web_commit 2 stop-first migrate
	xapply 0
	converged "$ST" v2
	echo drift >"$ST/apps/web/b/extra.txt"
	xapply 0 --json
	jcheck out "web[\"outcome\"] == \"repaired\"" "web[\"slot\"] == \"a\""
	converged "$ST" v2
	test "$(snap_count pre-update)" = 1
	printf "written after the repair\n" >"$DD/later"
	manifest "$DD" --times >before.m
	furrow -c agent.lua rollback web >rb.out 2>rb.err || {
		cat rb.out rb.err; false; }
	converged "$ST" v2
	manifest "$DD" --times >after.m
	test_cmp before.m after.m
	test "$(snap_count pre-update)" = 1
	kill_services "$D"
'

# 5: without snapshot_before_update there is no pre-update snapshot and
# no rollback touches the data.
test_expect_success 'without snapshot_before_update: no snapshot, the data is left as the update left it' '
	trap "kill_services \"$TEST_DIR/nosnap\"" EXIT
	new_agent nosnap
	v1_with_data stop-first false
	furrow -c agent.lua backup now web >now.out
	web_commit 2 stop-first migrate-exit false
	xapply 5
	converged "$ST" v1
	migrated_data "$DD"
	snap_list >tags
	test "$(cut -d" " -f2 tags)" = manual
	web_commit 3 stop-first migrate false
	xapply 0
	converged "$ST" v3
	manifest "$DD" --times >after-v3.m
	furrow -c agent.lua rollback web >rb.out 2>rb.err || {
		cat rb.out rb.err; false; }
	converged "$ST" v1
	manifest "$DD" --times >after-rb.m
	test_cmp after-v3.m after-rb.m
	snap_list >tags
	test "$(cut -d" " -f2 tags)" = manual
	kill_services "$D"
'

# 6: a pre-update snapshot that fails fails the update before v2 runs:
# v1 runs (again, for stop-first), its data untouched, nothing held.
for strategy in stop-first start-first; do
	test_expect_success "$strategy: a failed pre-update snapshot fails the update before it runs" '
		trap "kill_services \"$TEST_DIR/badkey-$strategy\"" EXIT
		new_agent badkey-$strategy
		v1_with_data $strategy
		# A store written under this key.
		furrow -c agent.lua backup now web >now.out
		web_commit 2 $strategy migrate
		# A key others can read is refused.
		chmod 0644 backup.key
		xapply 1 --json
		jcheck out "web[\"outcome\"] == \"failed\"" "web[\"slot\"] == \"a\""
		test_grep -q "snapshot before the update" out
		converged "$ST" v1
		same_data
		absent "$DD/.migrated"
		absent "$ST/apps/web/log/b"
		chmod 0600 backup.key
		# Another key: the store was written under this one.
		mv backup.key good.key
		furrow backup key backup.key >/dev/null
		xapply 1 --json
		jcheck out "web[\"outcome\"] == \"failed\""
		converged "$ST" v1
		same_data
		absent "$DD/.migrated"
		# Not held: with the key back the update goes through.
		mv good.key backup.key
		test "$(snap_count pre-update)" = 0
		xapply 0
		converged "$ST" v2
		migrated_data "$DD"
		test "$(snap_count pre-update)" = 1
		kill_services "$D"
	'
done

test_done
