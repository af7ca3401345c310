#!/usr/bin/env bash
# demo.sh - `make demo`: run furrow on an embedded default, in a temp dir,
# as whatever user runs it.  It creates a signing key, a trust file and an
# agent config next to each other, then shows what furrow makes of them.
# (The demo grows with furrow: later it converges a demo desired-state repo.)
set -euo pipefail
cd "$(dirname "$0")/.."
FURROW=${BUILD:-build}/furrow
demo=$(mktemp -d "${TMPDIR:-/tmp}/furrow-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "furrow version"
"$FURROW" version

say "a signing key and the host's trust file"
ssh-keygen -q -t ed25519 -N '' -C operator@example.net -f "$demo/operator"
printf 'operator@example.net namespaces="git" %s\n' "$(cut -d' ' -f1,2 "$demo/operator.pub")" \
	>"$demo/allowed_signers"
cat "$demo/allowed_signers"

say "a desired-state repository"
git init -q -b main "$demo/desired"
printf 'serial = 1\n' >"$demo/desired/furrow.lua"
git -C "$demo/desired" add furrow.lua
git -C "$demo/desired" -c user.name=operator -c user.email=operator@example.net \
	-c gpg.format=ssh -c user.signingkey="$demo/operator" commit -q -S -m "first desired state"
git -C "$demo/desired" log --format='%h %s (%G? signed by %GS)' \
	-c gpg.ssh.allowedSignersFile="$demo/allowed_signers" 2>/dev/null ||
	git -C "$demo/desired" log --oneline

say "the agent config (docs/examples/agent.lua, pointed at that repository)"
sed -e "s|https://git.example.net/fleet/desired.git|$demo/desired|" \
	docs/examples/agent.lua >"$demo/agent.lua"
cat "$demo/agent.lua"

say "furrow check: the config, validated and normalised"
"$FURROW" -c "$demo/agent.lua" check

say "furrow check on a broken config: errors name file, line and key"
sed -e 's/jitter = 0.2/jitter = 2/' -e 's/interval = 60/intervall = 60/' \
	"$demo/agent.lua" >"$demo/broken.lua"
"$FURROW" -c "$demo/broken.lua" check || echo "(exit code $?)"
