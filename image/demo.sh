#!/usr/bin/env bash
# demo.sh - `make demo`: furrow's main job on an embedded default, in a temp
# dir, as whoever runs it.  It creates signing keys, the host's trust files,
# a signed desired-state repository and an agent config, then follows the
# repository: a first sync, a new commit, an unsigned commit and a
# force-pushed rollback (both refused), the plan, and the auditor's view.
# Then it applies a small HTTP service (python3's http.server on a free
# port of 127.0.0.1) through the A/B slots: v1, an update to v2, and a
# broken v3 that fails its health check and is rolled back automatically.
# The service is stopped at the end, also when the demo fails.
set -euo pipefail
cd "$(dirname "$0")/.."
FURROW=$PWD/${BUILD:-build}/furrow
PY=/usr/bin/python3
demo=$(mktemp -d "${TMPDIR:-/tmp}/furrow-demo.XXXXXX")

# stop_services: stop every service furrow started under $demo: each is
# the leader of its own process group, and apps/APP/run/SLOT.pid holds
# "<pid> <start time>" (field 22 of /proc/PID/stat), so a pid that was
# reused by another process is left alone.
stop_services() {
	local f pid start stat left="" still i
	for f in "$demo"/state/apps/*/run/*.pid; do
		[ -f "$f" ] && read -r pid start _ <"$f" || continue
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		read -ra stat <<<"${stat##*) }"
		[ "${stat[19]}" = "$start" ] || continue
		kill -TERM -- "-$pid" 2>/dev/null || continue
		left="$left $pid"
	done
	for ((i = 0; i < 20; i++)); do
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
trap 'set +eu; stop_services; rm -rf "$demo"' EXIT
trap 'exit 130' INT TERM
# As root, furrow's fetch child runs as uid 65534: let it reach the demo.
chmod 711 "$demo"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s|$demo|\$DEMO|g; s|$FURROW|furrow|g"; "$@"; }
expect() { # CODE command...: run it; the demo fails unless it exits with CODE
	local want=$1 rc=0
	shift
	run "$@" || rc=$?
	echo "(exit code $rc)"
	[ "$rc" = "$want" ] || { echo "demo: expected exit code $want" >&2; return 1; }
}
commit() { # key message
	git -C "$demo/work" -c user.name=Operator -c user.email=operator@example.net \
		-c gpg.format=ssh -c user.signingkey="$demo/keys/$1" \
		commit -q -S --allow-empty -m "$2"
	git -C "$demo/work" push -q -f origin HEAD:refs/heads/main
}

say "furrow version"
run "$FURROW" version

say "signing keys and the host's trust files"
mkdir -p "$demo/keys"
for k in operator security; do
	ssh-keygen -q -t ed25519 -N '' -C "$k@example.net" -f "$demo/keys/$k"
done
printf 'operator@example.net namespaces="git" %s\n' \
	"$(cut -d' ' -f1,2 "$demo/keys/operator.pub")" >"$demo/allowed_signers"
printf 'security@example.net namespaces="furrow-policy" %s\n' \
	"$(cut -d' ' -f1,2 "$demo/keys/security.pub")" >"$demo/policy_signers"
cat "$demo/allowed_signers" "$demo/policy_signers"

say "a desired-state repository with a signed policy, and a signed commit"
git init -q --bare -b main "$demo/fleet.git"
git init -q -b main "$demo/work"
git -C "$demo/work" remote add origin "$demo/fleet.git"
mkdir -p "$demo/work/policies"
cat >"$demo/work/policies/site.lua" <<'EOF'
-- A site policy; its signature policies/site.lua.sig comes from the security team.
return function(ctx, changes) return changes end
EOF
ssh-keygen -q -Y sign -f "$demo/keys/security" -n furrow-policy "$demo/work/policies/site.lua"
cat >"$demo/work/furrow.lua" <<'EOF'
serial = 1
policy "policies/site.lua"
policy "std:require-digest"
app "hello" { kind = "service", files = "services/hello", exec = { "bin/hello" } }
app "web" { kind = "container", image = "registry.local/web:latest", ports = { "127.0.0.1:8080:80" } }
EOF
git -C "$demo/work" add -A
commit operator "first desired state"
chmod -R go+rX "$demo/fleet.git"

say "the agent config (docs/examples/agent.lua, pointed at that repository)"
sed -e "s|https://git.example.net/fleet/desired.git|$demo/fleet.git|" \
	-e 's|commit_signers = "allowed_signers",.*|&\n    policy_signers = "policy_signers",|' \
	docs/examples/agent.lua >"$demo/agent.lua"
run "$FURROW" -c "$demo/agent.lua" check --quiet && echo "config is valid"

say "furrow sync: fetch, verify the commit and the policy signature, accept"
run "$FURROW" -c "$demo/agent.lua" sync
run "$FURROW" -c "$demo/agent.lua" status

say "furrow plan: what an apply would do here, decided by the policies"
run "$FURROW" -c "$demo/agent.lua" plan || echo "(exit code $?)"

say "a new signed commit with a higher serial"
sed -i 's/serial = 1/serial = 2/' "$demo/work/furrow.lua"
git -C "$demo/work" add -A
commit operator "serial 2"
run "$FURROW" -c "$demo/agent.lua" sync

say "an unsigned commit is refused (exit code 3); serial 2 stays in service"
git -C "$demo/work" -c user.name=Mallory -c user.email=m@example.net \
	-c commit.gpgsign=false commit -q --allow-empty -m "unsigned change"
git -C "$demo/work" push -q -f origin HEAD:refs/heads/main
run "$FURROW" -c "$demo/agent.lua" sync || echo "(exit code $?)"

say "a force-pushed older (but signed) commit is refused too"
git -C "$demo/work" push -q -f origin "$(git -C "$demo/work" rev-list --max-parents=0 HEAD):refs/heads/main"
run "$FURROW" -c "$demo/agent.lua" sync || echo "(exit code $?)"
run "$FURROW" -c "$demo/agent.lua" status

say "the auditor's view of the fetched commit"
run "$FURROW" -c "$demo/agent.lua" verify || echo "(exit code $?)"

say "furrow check on a broken config: errors name file, line and key"
sed -e 's/jitter = 0.2/jitter = 2/' -e 's/interval = 60/intervall = 60/' \
	"$demo/agent.lua" >"$demo/broken.lua"
run "$FURROW" -c "$demo/broken.lua" check || echo "(exit code $?)"

# ---- apply: a service through the A/B slots ----------------------------------
if [ ! -x "$PY" ] || ! "$PY" -c 'import http.server' 2>/dev/null ||
	! command -v curl >/dev/null; then
	say "skipped: applying a service (needs $PY with http.server, and curl)"
	echo "Install the Debian packages python3 and curl (image/ensure-tools.sh build"
	echo "does, as root) and run the demo again to see furrow apply, an update"
	echo "through the A/B slots and an automatic rollback."
	exit 0
fi
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port/version.txt

# hello_commit N [broken]: commit hello serving "vN", health-checked on
# /version.txt for that body; broken leaves version.txt out of the commit.
hello_commit() {
	local d=$demo/work/services/hello
	mkdir -p "$d"
	sed -i "s/^serial = .*/serial = $((2 + $1))/" "$demo/work/furrow.lua"
	sed -i "s/body = \"v[0-9]*\"/body = \"v$1\"/" "$demo/work/furrow.lua"
	printf '<h1>hello from v%s</h1>\n' "$1" >"$d/index.html"
	if [ "${2:-}" = broken ]; then
		rm -f "$d/version.txt"
		git -C "$demo/work" add -A
		commit operator "hello v$1 (version.txt forgotten)"
	else
		echo "v$1" >"$d/version.txt"
		git -C "$demo/work" add -A
		commit operator "hello v$1"
	fi
	git -C "$demo/work" log -1 --format='committed %h "%s"'
}
current() { echo "active slot: $(readlink "$demo/state/apps/hello/current")"; }

say "a service for the host: hello, python3's http.server on 127.0.0.1:$port"
echo "(back on the accepted serial 2, unsigned commit dropped; the web container"
echo " leaves the desired state: this furrow does not run containers yet)"
git -C "$demo/work" reset -q --hard HEAD~1
mkdir -p "$demo/work/services/hello"
cat >"$demo/work/services/hello/run.sh" <<EOF
#!/bin/sh
# hello: serve this slot's directory (the app's files) on 127.0.0.1:$port
exec $PY -m http.server --bind 127.0.0.1 $port
EOF
chmod 755 "$demo/work/services/hello/run.sh"
cat >"$demo/work/furrow.lua" <<EOF
serial = 3
policy "policies/site.lua"
policy "std:require-digest"
app "hello" {
  kind = "service", files = "services/hello", exec = { "run.sh" },
  strategy = "stop-first",   -- one fixed port: stop the old slot, then start the new
  data = { "db" },           -- kept across slots; snapshotted before each update
  backup = { paths = { "db" }, every = "6h", keep = 7, snapshot_before_update = true },
  health = { http = "$url", body = "v1",
             interval = 0.2, timeout = 1, retries = 5, settle = 0.5 },
}
EOF
hello_commit 1
sed -n '/^app/,$p' "$demo/work/furrow.lua"
cat "$demo/work/services/hello/run.sh"

say "a backup key for this host (keep a copy elsewhere), named in the agent config"
run "$FURROW" backup key "$demo/backup.key"
sed -i 's|^  log = |  backup = { key_file = "backup.key" },\n  log = |' "$demo/agent.lua"
grep backup "$demo/agent.lua"

say "furrow apply: fetch, verify, plan, stage slot a, start, health check, switch"
run "$FURROW" -c "$demo/agent.lua" apply
run curl -s "$url"
current

say "v2: the update goes to the other slot, and is checked before the switch"
hello_commit 2
run "$FURROW" -c "$demo/agent.lua" apply
run curl -s "$url"
current

say "hello's data, and a snapshot of it: encrypted, deduplicated, in state/backup"
echo "visits=1" >"$demo/state/apps/hello/data/db/counter"
run "$FURROW" -c "$demo/agent.lua" backup now hello
run "$FURROW" -c "$demo/agent.lua" backup drill hello

say "a broken v3 (version.txt forgotten) that rewrites the data as it starts:"
echo "its health check fails, furrow rolls back the slot and the data"
cat >"$demo/work/services/hello/run.sh" <<EOF
#!/bin/sh
echo "visits=999 (migrated by v3)" >../data/db/counter
exec $PY -m http.server --bind 127.0.0.1 $port
EOF
hello_commit 3 broken
expect 5 "$FURROW" -c "$demo/agent.lua" apply
run curl -s "$url"
current
run cat "$demo/state/apps/hello/data/db/counter"
run "$FURROW" -c "$demo/agent.lua" backup list

say "furrow status and furrow history"
run "$FURROW" -c "$demo/agent.lua" status
run "$FURROW" -c "$demo/agent.lua" history

say "done: stopping hello"
