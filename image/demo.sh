#!/usr/bin/env bash
# demo.sh - `make demo`: furrow's main job on an embedded default, in a temp
# dir, as whoever runs it.  It creates signing keys, the host's trust files,
# a signed desired-state repository and an agent config, then follows the
# repository: a first sync, a new commit, an unsigned commit and a
# force-pushed rollback (both refused), the plan, and the auditor's view.
# (The demo grows with furrow: apply and rollback of services come next.)
set -euo pipefail
cd "$(dirname "$0")/.."
FURROW=$PWD/${BUILD:-build}/furrow
demo=$(mktemp -d "${TMPDIR:-/tmp}/furrow-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT
# As root, furrow's fetch child runs as uid 65534: let it reach the demo.
chmod 711 "$demo"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s|$demo|\$DEMO|g; s|$FURROW|furrow|g"; "$@"; }
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
