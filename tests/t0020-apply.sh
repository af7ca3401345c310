#!/usr/bin/env bash
# furrow apply: the apply engine against signed local repositories, with
# real services (a Python HTTP server per app, run from its slot) and real
# health checks: create, update, automatic and manual rollback, held
# specs, drift repair, files apps, removal, update locks, dependencies, a
# full disk while staging, the state dir lock, and the JSON output.
. "$(dirname "$0")/lib.sh"
# The fetch and read children run as uid 65534 when furrow is root.
chmod 711 "$TEST_DIR"

K=$TEST_DIR/keys
W=$TEST_DIR/work
S=$TEST_DIR/a/state
PY=/usr/bin/python3
P_WEB=$(free_port)
P_TMP=$(free_port)
P_API=$(free_port)
P_SMALL=$(free_port)
export K W S PY P_WEB P_TMP P_API P_SMALL

# Stop every service any agent of this test started: each leads its own
# process group, named by the first field of its pid file.
stop_services() {
	local f pid rest
	for f in "$TEST_DIR"/*/state/apps/*/run/*.pid; do
		[ -f "$f" ] || continue
		read -r pid rest <"$f" || continue
		case $pid in '' | *[!0-9]*) continue ;; esac
		kill -TERM -- "-$pid" 2>/dev/null
	done
}
test_on_exit 'umount -l "$TEST_DIR/small/state"'
test_on_exit stop_services

# commit_tree [WORKDIR]: commit what is in WORKDIR (signed), push it.
commit_tree() {
	local w=${1:-$W}
	git -C "$w" add -A &&
	git -C "$w" -c user.name=Operator -c user.email=op@example.net \
		-c gpg.format=ssh -c user.signingkey="$K/operator" \
		commit -q -S --allow-empty -m "change" &&
	git -C "$w" push -q -f origin HEAD:refs/heads/main &&
	chmod -R go+rX "$TEST_DIR/srv"
}
# The desired apps live one per file in $TEST_DIR/apps.d (test bodies run
# in subshells, so state between tests is kept on disk).
# setapp NAME LINE / delapp NAME / publish: furrow.lua from them, committed.
setapp() { mkdir -p "$TEST_DIR/apps.d" && printf '%s\n' "$2" >"$TEST_DIR/apps.d/$1"; }
delapp() { rm -f "$TEST_DIR/apps.d/$1"; }
publish() {
	{ echo "serial = 1"; cat "$TEST_DIR"/apps.d/* 2>/dev/null; } >"$W/furrow.lua" &&
	commit_tree
}
# svc NAME PORT BODY [EXTRA FIELDS]: a service app line; its files are
# the repository directory NAME, its program NAME/run.sh.
svc() {
	printf 'app "%s" { kind = "service", files = "%s", exec = { "run.sh" }, env = { PORT = "%s" }, strategy = "stop-first", health = { http = "http://127.0.0.1:%s/version.txt", body = "%s", interval = 0.2, timeout = 1, retries = 10, settle = 0.5 }%s }' \
		"$1" "$1" "$2" "$2" "$3" "${4:+, $4}"
}
# mksvc DIR VERSION [WORKDIR]: the files of a service: run.sh serving its
# slot directory on $PORT (or exiting at once while the app's data
# directory holds a file "crash"), and version.txt.
mksvc() {
	local d=${3:-$W}/$1
	mkdir -p "$d" &&
	printf '#!/bin/sh\n[ -e "$FURROW_DATA/crash" ] && exit 1\nexec %s -m http.server --bind 127.0.0.1 "$PORT"\n' \
		"$PY" >"$d/run.sh" &&
	chmod 755 "$d/run.sh" &&
	printf '%s\n' "$2" >"$d/version.txt"
}
write_agent() { # DIR [SOURCE REPO]
	mkdir -p "$TEST_DIR/$1"
	cat >"$TEST_DIR/$1/agent.lua" <<-EOA
	return {
	  host = { id = "edge-1", labels = { role = "gateway" } },
	  source = { url = "$TEST_DIR/srv/${2:-state}.git" },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  apply = { stop_timeout = 3 },
	}
	EOA
}
fa() { furrow -c "$TEST_DIR/a/agent.lua" "$@"; }
# wait_answers PORT TEXT: the service on PORT answers TEXT within 5 s.
wait_answers() {
	local i
	for i in $(seq 50); do
		[ "$(get "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	answers "$1" "$2"
}
# get PORT: what the service on PORT answers (fails if nothing does).
get() { curl -fsS --max-time 3 "http://127.0.0.1:$1/version.txt"; }
# answers PORT TEXT: the service on PORT answers exactly TEXT.
answers() {
	local got
	got=$(get "$1") || { echo "nothing answers on port $1" >&2; return 1; }
	[ "$got" = "$2" ] || { echo "port $1 answers '$got', want '$2'" >&2; return 1; }
}
# pidof_slot STATE APP SLOT: the pid recorded for the slot's service.
pidof_slot() { read -r p _ <"$1/apps/$2/run/$3.pid" && echo "$p"; }
# gone PID: no such process (or only a zombie).
gone() {
	[ ! -e "/proc/$1" ] && return 0
	sed -e 's/^[0-9]* (.*) //' "/proc/$1/stat" | grep -q '^Z'
}
cat >"$TEST_DIR/j.py" <<'EOP'
# j.py FILE PATH: print the JSON value at PATH (dot-separated; in a list,
# a number is an index and a name picks the element whose "app" is it).
# j.py FILE count KEY=VALUE...: count list elements matching all pairs.
import json, sys
d = json.load(open(sys.argv[1]))
if sys.argv[2] == "count":
    want = dict(a.split("=", 1) for a in sys.argv[3:])
    print(sum(all(str(e.get(k)) == v for k, v in want.items()) for e in d))
    sys.exit(0)
for k in sys.argv[2].split(".") if sys.argv[2] else []:
    if isinstance(d, list):
        d = d[int(k)] if k.isdigit() else [e for e in d if e.get("app") == k][0]
    else:
        d = d[k]
print(d if isinstance(d, str) else json.dumps(d))
EOP
j() { "$PY" "$TEST_DIR/j.py" "$@"; }
# jis FILE PATH WANT: the value at PATH is WANT.
jis() {
	local got
	got=$(j "$1" "$2") || { echo "jis: $2 not in $1" >&2; cat "$1" >&2; return 1; }
	[ "$got" = "$3" ] || { echo "jis: $1: $2 is '$got', want '$3'" >&2; cat "$1" >&2; return 1; }
}
# nope CMD...: CMD must fail (a bare `! CMD` does not trip `set -e`).
nope() { if "$@"; then echo "nope: succeeded: $*" >&2; return 1; fi; }
# xapply CODE [ARGS]: furrow apply ARGS must exit CODE; output in out, err.
# A pass that hangs is killed after APPLY_TIMEOUT seconds (exit 124).
# AGENT names the agent directory (default a).
xapply() {
	local want=$1 rc=0
	shift
	timeout -k 5 "${APPLY_TIMEOUT:-30}" "$FURROW" -c "$TEST_DIR/${AGENT:-a}/agent.lua" \
		apply "$@" >out 2>err || rc=$?
	cat out err
	[ "$rc" != 124 ] || echo "apply: hung, killed after ${APPLY_TIMEOUT:-30} s" >&2
	[ "$rc" = "$want" ] || { echo "apply: want exit $want, got $rc" >&2; return 1; }
}
# absent PATH: PATH does not exist (says what is there if it does).
absent() {
	[ ! -e "$1" ] && [ ! -L "$1" ] && return 0
	echo "absent: $1 exists: $(ls -ld "$1")" >&2
	return 1
}
# hcount APP EVENT: how many history entries of APP have EVENT.
hcount() { fa history "$1" -n 1000 --json >"$TEST_DIR/h.json" && j "$TEST_DIR/h.json" count app="$1" event="$2"; }

test_expect_success 'setup: keys, trust, a signed repository, an agent' '
	mkdir -p "$K"
	ssh-keygen -q -t ed25519 -N "" -C operator -f "$K/operator"
	echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
		>"$K/allowed_signers"
	mkdir -p srv
	git init -q --bare -b main srv/state.git
	git init -q -b main work
	git -C work remote add origin "$TEST_DIR/srv/state.git"
	write_agent a
	fa check --quiet
'

test_expect_success '1. create: a service answers, status and history say so' '
	mksvc web v1
	setapp web "$(svc web $P_WEB v)"
	publish
	fa sync >/dev/null
	fa plan >plan.out
	test_grep "+ web (service)  create" plan.out
	xapply 0
	answers $P_WEB v1
	test "$(readlink "$S/apps/web/current")" = a
	fa status --json >st.json
	jis st.json apps.0.app web
	jis st.json apps.0.slot a
	jis st.json apps.0.health healthy
	jis st.json apps.0.kind service
	test "$(hcount web update)" = 1
'

test_expect_success '2. update by a change of the files only: slot b, old slot kept and stopped' '
	old=$(pidof_slot "$S" web a)
	mksvc web v2
	git -C work diff --quiet -- furrow.lua
	commit_tree
	git -C work show --name-only --format= HEAD >changed
	test_cmp - changed <<-\EOF
	web/version.txt
	EOF
	fa sync >/dev/null
	fa plan >plan.out
	cat plan.out
	test_grep "~ web (service)  update" plan.out
	xapply 0
	answers $P_WEB v2
	test "$(readlink "$S/apps/web/current")" = b
	test "$(cat "$S/apps/web/a/version.txt")" = v1
	test -x "$S/apps/web/a/run.sh"
	test ! -e "$S/apps/web/run/a.pid"
	gone "$old"
	fa status --json >st.json
	jis st.json apps.web.slot b
	test "$(hcount web update)" = 2
'

test_expect_success '3. a broken update is rolled back, held, not retried; a new commit applies' '
	setapp web "$(svc web $P_WEB not-there)"
	publish
	xapply 5 --json
	jis out apps.web.outcome rolled-back
	jis out apps.web.slot b
	j out apps.web.message | grep "health check failed"
	answers $P_WEB v2
	test "$(readlink "$S/apps/web/current")" = b
	test -e "$S/apps/web/run/b.pid"
	test ! -e "$S/apps/web/run/a.pid"
	fa status --json >st.json
	jis st.json apps.web.held.commit "$(git -C work rev-parse HEAD)"
	j st.json apps.web.held.reason | grep "health check failed"
	jis st.json apps.web.slot b
	test "$(hcount web update-reverted)" = 1
	fa history --json >h1.json
	xapply 5 --json
	jis out apps.web.outcome held
	jis out exit 5
	j out apps.web.message | grep "not retried on this commit"
	fa history --json >h2.json
	test_cmp h1.json h2.json
	answers $P_WEB v2
	mksvc web v3
	setapp web "$(svc web $P_WEB v3)"
	publish
	xapply 0 --json
	jis out apps.web.outcome applied
	jis out apps.web.slot a
	answers $P_WEB v3
	fa status --json >st.json
	nope j st.json apps.web.held
'

test_expect_success '4. a service that exits at once is rolled back (exit 5)' '
	printf "#!/bin/sh\nexit 1\n" >work/web/run.sh
	setapp web "$(svc web $P_WEB v4)"
	publish
	xapply 5 --json
	jis out apps.web.outcome rolled-back
	j out apps.web.message | grep -i "exit"
	answers $P_WEB v3
	test "$(readlink "$S/apps/web/current")" = a
'

test_expect_success '5. rollback by hand after v3 -> v4: v3 again, v4 held' '
	mksvc web v4
	publish
	xapply 0
	answers $P_WEB v4
	test "$(readlink "$S/apps/web/current")" = b
	fa rollback web >rb.out 2>rb.err || { cat rb.out rb.err; false; }
	cat rb.out rb.err
	answers $P_WEB v3
	test "$(readlink "$S/apps/web/current")" = a
	test ! -e "$S/apps/web/run/b.pid"
	test "$(hcount web rollback)" = 1
	fa history --json >h1.json
	xapply 5 --json
	jis out apps.web.outcome held
	answers $P_WEB v3
	test "$(readlink "$S/apps/web/current")" = a
	fa history --json >h2.json
	test_cmp h1.json h2.json
	fa status --json >st.json
	jis st.json apps.web.held.reason "rolled back by hand"
'

test_expect_success '6a. drift: a killed service is started again' '
	mksvc web v5
	setapp web "$(svc web $P_WEB v5)"
	publish
	xapply 0
	answers $P_WEB v5
	cur=$(readlink "$S/apps/web/current")
	fa status --json >st.json
	r0=$(j st.json apps.web.restarts)
	d0=$(j st.json apps.web.drift_repairs)
	pid=$(pidof_slot "$S" web $cur)
	kill -KILL -- -$pid
	sleep 0.3
	nope get $P_WEB
	xapply 0 --json
	jis out apps.web.outcome repaired
	: a repair is health-checked before it is reported
	answers $P_WEB v5
	test "$(readlink "$S/apps/web/current")" = $cur
	fa status --json >st.json
	test "$(j st.json apps.web.restarts)" = $((r0 + 1))
	test "$(j st.json apps.web.drift_repairs)" = $((d0 + 1))
	test "$(hcount web drift-repair)" = 1
	xapply 0 --json
	jis out apps.web.outcome unchanged
'

test_expect_success '6b. drift: a restarted service that dies at once is not "repaired"' '
	cur=$(readlink "$S/apps/web/current")
	pid=$(pidof_slot "$S" web $cur)
	touch "$S/apps/web/data/crash"
	kill -KILL -- -$pid
	sleep 0.3
	rc=0
	xapply 0 --json || rc=$?
	mv out first.json
	rm "$S/apps/web/data/crash"
	: the next pass starts it again, whatever the first one said
	xapply 0 --json
	jis out apps.web.outcome repaired
	wait_answers $P_WEB v5
	: the first pass must not have called a service that died at once repaired
	test $rc = 0 && { echo "apply exit 0 for a service that is down" >&2; false; }
	nope jis first.json apps.web.outcome repaired
	j first.json apps.web.message | grep -Ei "unhealthy|exit"
'

test_expect_success '6c. drift: a file changed in the active slot is redeployed through the other' '
	cur=$(readlink "$S/apps/web/current")
	echo tampered >"$S/apps/web/$cur/version.txt"
	answers $P_WEB tampered
	xapply 0 --json
	jis out apps.web.outcome repaired
	j out apps.web.message | grep "version.txt"
	nxt=$(readlink "$S/apps/web/current")
	test "$nxt" != "$cur"
	answers $P_WEB v5
	test "$(cat "$S/apps/web/$nxt/version.txt")" = v5
	test ! -e "$S/apps/web/run/$cur.pid"
'

test_expect_success '6d. drift: the active slot deleted is redeployed' '
	cur=$(readlink "$S/apps/web/current")
	rm -rf "$S/apps/web/$cur"
	xapply 0 --json
	jis out apps.web.outcome repaired
	nxt=$(readlink "$S/apps/web/current")
	test "$nxt" != "$cur"
	answers $P_WEB v5
	test "$(ls "$S/apps/web/run")" = "$nxt.pid"
'

test_expect_success '7a. files app: the target links to current; an update switches it atomically' '
	mkdir -p work/conf
	echo one >work/conf/app.ini
	setapp conf "app \"conf\" { kind = \"files\", files = \"conf\", target = \"$TEST_DIR/etc/conf\" }"
	publish
	xapply 0 --json
	jis out apps.conf.outcome applied
	test -L etc/conf
	test "$(readlink etc/conf)" = "$S/apps/conf/current"
	test "$(cat etc/conf/app.ini)" = one
	fa status --json >st.json
	jis st.json apps.conf.kind files
	jis st.json apps.conf.health healthy
	echo two >work/conf/app.ini
	commit_tree
	: a reader sees one complete version or the other, never none
	(
		while [ ! -e stop ]; do
			c=$(cat etc/conf/app.ini 2>&1) || c="error: $c"
			case $c in one | two) ;; *) echo "saw: $c" >>bad ;; esac
		done
	) &
	reader=$!
	xapply 0 --json
	touch stop
	wait $reader
	test ! -e bad
	jis out apps.conf.outcome applied
	test "$(cat etc/conf/app.ini)" = two
	test "$(readlink etc/conf)" = "$S/apps/conf/current"
	test "$(readlink "$S/apps/conf/current")" = b
	test "$(cat "$S/apps/conf/a/app.ini")" = one
'

test_expect_success '7b. files app: a real directory at the target is refused and left alone' '
	mkdir -p etc/conf2 work/conf2
	echo mine >etc/conf2/local.ini
	echo theirs >work/conf2/app.ini
	setapp conf2 "app \"conf2\" { kind = \"files\", files = \"conf2\", target = \"$TEST_DIR/etc/conf2\" }"
	publish
	xapply 1 --json
	jis out apps.conf2.outcome failed
	j out apps.conf2.message | grep "is not furrow.s link"
	jis out apps.web.outcome unchanged
	jis out apps.conf.outcome unchanged
	test -d etc/conf2
	nope test -L etc/conf2
	test "$(ls etc/conf2)" = local.ini
	test "$(cat etc/conf2/local.ini)" = mine
	: the failure was handled in that pass: nothing left in flight
	: and nothing active for the app that failed to appear
	absent "$S/apps/conf2/current"
	xapply 1 --json
	jis out recovered 0
	jis out apps.web.outcome unchanged
	jis out apps.conf2.outcome failed
	test "$(ls etc/conf2)" = local.ini
	fa history conf2 --json >h.json
	nope grep -q interrupted h.json
'

test_expect_success '7c. files app that was refused, dropped again: the directory is still untouched' '
	delapp conf2
	publish
	xapply 0 --json
	nope j out apps.conf2
	test -d etc/conf2
	test "$(ls etc/conf2)" = local.ini
	test "$(cat etc/conf2/local.ini)" = mine
'

test_expect_success '8a. removal: process stopped, slots gone, data kept' '
	mksvc tmp t1
	setapp tmp "$(svc tmp $P_TMP t1 "data = { \"db\" }")"
	publish
	xapply 0
	answers $P_TMP t1
	echo precious >"$S/apps/tmp/data/db/keep.txt"
	pid=$(pidof_slot "$S" tmp a)
	delapp tmp
	publish
	fa sync >/dev/null
	fa plan >plan.out
	test_grep "^  - tmp  remove" plan.out
	xapply 0 --json
	jis out apps.tmp.outcome removed
	gone $pid
	nope get $P_TMP
	test ! -e "$S/apps/tmp/a"
	test ! -e "$S/apps/tmp/b"
	test ! -e "$S/apps/tmp/current"
	test ! -e "$S/apps/tmp/run"
	test "$(cat "$S/apps/tmp/data/db/keep.txt")" = precious
	fa status --json >st.json
	nope j st.json apps.tmp
	test "$(hcount tmp remove)" = 1
'

test_expect_success '8b. removal with purge = true deletes the data too' '
	setapp tmp "$(svc tmp $P_TMP t1 "data = { \"db\" }, purge = true")"
	publish
	xapply 0
	answers $P_TMP t1
	: data kept from the earlier life of the app is there again
	test "$(cat "$S/apps/tmp/data/db/keep.txt")" = precious
	pid=$(pidof_slot "$S" tmp a)
	delapp tmp
	publish
	xapply 0 --json
	jis out apps.tmp.outcome removed
	gone $pid
	test ! -e "$S/apps/tmp/data"
	test ! -e "$S/apps/tmp"
'

test_expect_success '9. update lock: a live lock defers the update (exit 4); an expired one does not' '
	mksvc web v6
	setapp web "$(svc web $P_WEB v6)"
	publish
	echo "$(($(date +%s) + 3600)) migrating the database, ask Ana" >"$S/apps/web/data/.furrow-lock"
	xapply 4 --json
	jis out apps.web.outcome deferred
	j out apps.web.message | grep "migrating the database, ask Ana"
	answers $P_WEB v5
	fa status --json >st.json
	jis st.json apps.web.update_lock.reason "migrating the database, ask Ana"
	echo "$(($(date +%s) - 5)) done" >"$S/apps/web/data/.furrow-lock"
	xapply 0 --json
	jis out apps.web.outcome applied
	answers $P_WEB v6
	rm "$S/apps/web/data/.furrow-lock"
'

test_expect_success '10. depends_on: the dependency fails, the dependent is skipped' '
	mksvc api a1
	setapp api "$(svc api $P_API a "depends_on = { \"web\" }")"
	publish
	xapply 0
	answers $P_API a1
	mksvc api a2
	setapp web "$(svc web $P_WEB not-there-either)"
	publish
	rc=0
	xapply 5 --json || rc=$?
	mv out broken.json
	api=$(get $P_API) || :
	web=$(get $P_WEB) || :
	fa status --json >st.json
	: fixed, both go through, the dependency first: done before the
	: assertions, so that a failure here does not spoil later tests
	setapp web "$(svc web $P_WEB v6)"
	publish
	xapply 0 --json
	jis out apps.web.outcome unchanged
	jis out apps.api.outcome applied
	answers $P_API a2
	: the pass with the broken dependency
	test $rc = 0
	jis broken.json apps.web.outcome rolled-back
	jis broken.json apps.api.outcome skipped
	j broken.json apps.api.message | grep "depends on web"
	test "$api" = a1
	test "$web" = v6
	jis st.json apps.api.slot a
'

# Staging into a full disk: the state dir on a small tmpfs.
mkdir -p "$TEST_DIR/small/state"
if mount -t tmpfs -o size=2m,mode=0700 furrow-t0020 "$TEST_DIR/small/state" 2>/dev/null; then
test_expect_success '11. disk full while staging: exit 1, old version runs, next commit applies' '
	export AGENT=small
	fs() { furrow -c "$TEST_DIR/small/agent.lua" "$@"; }
	git init -q --bare -b main srv/small.git
	git init -q -b main small-work
	git -C small-work remote add origin "$TEST_DIR/srv/small.git"
	write_agent small small
	mksvc sm s1 small-work
	svc sm $P_SMALL s >small-work/furrow.lua
	sed -i "1i serial = 1" small-work/furrow.lua
	commit_tree small-work
	xapply 0
	answers $P_SMALL s1
	head -c 3145728 /dev/zero >small-work/sm/big.bin
	mksvc sm s2 small-work
	commit_tree small-work
	xapply 1 --json
	jis out apps.sm.outcome failed
	j out apps.sm.message | grep "disk full"
	answers $P_SMALL s1
	test "$(readlink small/state/apps/sm/current)" = a
	fs history sm --json >h.json
	test "$(j h.json count event=update-reverted)" = 1
	fs status --json >st.json
	jis st.json apps.sm.slot a
	jis st.json apps.sm.health healthy
	nope j st.json apps.sm.held
	: nothing left in flight: the next pass recovers nothing, fails the same way
	xapply 1 --json
	jis out recovered 0
	j out apps.sm.message | grep "disk full"
	answers $P_SMALL s1
	head -c 102400 /dev/zero >small-work/sm/big.bin
	commit_tree small-work
	xapply 0 --json
	jis out recovered 0
	jis out apps.sm.outcome applied
	answers $P_SMALL s2
	test "$(readlink small/state/apps/sm/current)" = b
	test "$(stat -c %s small/state/apps/sm/b/big.bin)" = 102400
'
else
test_skip '11. disk full while staging' 'cannot mount a tmpfs here'
fi

test_expect_success '12. apply while another process holds the state dir lock: exit 1, clear error' '
	"$PY" -c "import fcntl, sys, time
f = open(sys.argv[1], \"a\"); fcntl.flock(f, fcntl.LOCK_EX)
print(\"locked\", flush=True); time.sleep(30)" "$S/furrow.lock" >lk &
	holder=$!
	for i in $(seq 50); do grep -q locked lk && break; sleep 0.1; done
	rc=0
	xapply 1 || rc=$?
	fa status --json >st.json || rc=1
	kill $holder
	wait $holder || :
	test $rc = 0
	test_grep "is in use by another furrow" err
	jis st.json apps.web.slot "$(readlink "$S/apps/web/current")"
	: free again
	xapply 0
'

test_expect_success '13. --json: commit, serial, plan_sha256 (as plan has it), apps, exit' '
	now=$(date +%s)
	FURROW_NOW=$now xapply 0 --json
	FURROW_NOW=$now fa plan --json >plan.json
	"$PY" - out plan.json "$(git -C work rev-parse HEAD)" <<-\EOP
	import json, re, sys
	d = json.load(open(sys.argv[1])); p = json.load(open(sys.argv[2]))
	assert d["commit"] == sys.argv[3], d
	assert d["serial"] == 1, d
	assert re.fullmatch("[0-9a-f]{64}", d["plan_sha256"]), d
	assert d["plan_sha256"] == p["plan_sha256"], (d, p)
	assert d["exit"] == 0, d
	assert d["fetch_error"] is None and d["verify_error"] is None, d
	assert isinstance(d["recovered"], int) and isinstance(d["seconds"], float), d
	assert sorted(a["app"] for a in d["apps"]) == ["api", "conf", "web"], d
	for a in d["apps"]:
	    assert set(a) == {"app", "kind", "action", "outcome", "slot", "message"}, a
	    assert a["outcome"] == "unchanged" and a["action"] == "unchanged", a
	    assert a["slot"] in ("a", "b") and a["message"] is None, a
	assert [a["app"] for a in d["apps"]] == [i["app"] for i in p["items"]] or \
	    not p["items"], (d, p)
	EOP
	: the exit key is the exit code
	setapp api "$(svc api $P_API broken-again "depends_on = { \"web\" }")"
	publish
	xapply 5 --json
	jis out exit 5
	jis out apps.api.outcome rolled-back
	jis out apps.web.outcome unchanged
	wait_answers $P_API a2
'

test_expect_success '14. user and limits: a service runs as nobody with its nofile limit, owns its data' '
	[ "$(id -u)" = 0 ] || { echo "# not root: skipped"; exit 0; }
	P_USR=$(free_port)
	mksvc usr u1 &&
	setapp usr "$(svc usr $P_USR u1 "user = \"nobody\", data = { \"db\" }, limits = { nofile = 256 }")" &&
	publish &&
	xapply 5 &&
	wait_answers $P_USR u1 &&
	pid=$(pidof_slot "$S" usr a) &&
	test "$(stat -c %U /proc/$pid)" = nobody &&
	grep -E "^Max open files +256 +256" /proc/$pid/limits &&
	test "$(stat -c %U "$S/apps/usr/data/db")" = nobody &&
	delapp usr && publish && xapply 5
'

test_done
