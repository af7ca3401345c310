#!/usr/bin/env bash
# furrow plan: desired apps against the applied state, decided by the
# standard policies, from a signed local repository.  The clock is
# injected with FURROW_NOW, so plans are compared byte for byte.
. "$(dirname "$0")/lib.sh"
# The fetch and read children run as uid 65534 when furrow is root.
chmod 711 "$TEST_DIR"

K=$TEST_DIR/keys
W=$TEST_DIR/work
DIGEST=sha256:$(printf 'a%.0s' $(seq 64))
# Fri 2026-11-27 12:00:00 UTC, and Sat 2026-11-28 02:00:00 UTC.
FRI=1795780800
SAT=1795831200

# commit_tree [key] : commit what is in $W (signed) and push it.
commit_tree() {
	git -C "$W" add -A &&
	git -C "$W" -c user.name=Operator -c user.email=op@example.net \
		-c gpg.format=ssh -c user.signingkey="$K/${1:-operator}" \
		commit -q -S --allow-empty -m "change" &&
	git -C "$W" push -q -f origin HEAD:refs/heads/main &&
	chmod -R go+rX "$TEST_DIR/srv"
}
# desired LINES... : furrow.lua with serial 1 and the given lines.
desired() { { echo "serial = 1"; printf '%s\n' "$@"; } >"$W/furrow.lua"; }
write_agent() { # name [labels]
	mkdir -p "$TEST_DIR/$1"
	cat >"$TEST_DIR/$1/agent.lua" <<-EOA
	return {
	  host = { id = "edge-1", labels = { role = "gateway", ${2:-} } },
	  source = { url = "$TEST_DIR/srv/state.git" },
	  trust = { commit_signers = "$K/allowed_signers",
	            policy_signers = "$K/policy_signers" },
	  state_dir = "state",
	}
	EOA
}
fplan() { furrow -c "$TEST_DIR/a/agent.lua" plan "$@"; }
fsync() { furrow -c "$TEST_DIR/${1:-a}/agent.lua" sync >/dev/null; }
# spec_sha APP_LUA_TABLE_JSON: the spec hash as plan.h defines it (the
# valuecodec frame of the spec table), computed independently here.
cat >"$TEST_DIR/spechash.py" <<'EOP'
import hashlib, json, struct, sys
def enc(v):
    if isinstance(v, bool): return b"t" if v else b"f"
    if isinstance(v, int): return b"i" + struct.pack("<q", v)
    if isinstance(v, str):
        b = v.encode(); return b"s" + struct.pack("<I", len(b)) + b
    if isinstance(v, list): v = {i + 1: x for i, x in enumerate(v)}
    keys = sorted(v, key=lambda k: (0, k, b"") if isinstance(k, int) else (1, 0, k.encode()))
    out = b"T" + struct.pack("<I", len(keys))
    for k in keys: out += enc(k) + enc(v[k])
    return out
print(hashlib.sha256(b"FRW1V" + enc(json.loads(sys.argv[1]))).hexdigest())
EOP
spec_sha() { python3 "$TEST_DIR/spechash.py" "$1"; }

test_expect_success 'setup: keys, trust, a signed repository, an agent' '
	mkdir -p "$K" &&
	for k in operator security; do
		ssh-keygen -q -t ed25519 -N "" -C $k -f "$K/$k" || exit 1
	done &&
	echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
		>"$K/allowed_signers" &&
	echo "security@example.net namespaces=\"furrow-policy\" $(cut -d" " -f1,2 "$K/security.pub")" \
		>"$K/policy_signers" &&
	mkdir -p srv && git init -q --bare -b main srv/state.git &&
	git init -q -b main work &&
	git -C work remote add origin "$TEST_DIR/srv/state.git" &&
	desired "policy \"std:require-digest\"" \
		"app \"web\" { kind = \"container\", image = \"registry.local/web:1.4\" }" \
		"app \"api\" { kind = \"container\", image = \"registry.local/api@$DIGEST\", depends_on = { \"web\" } }" \
		"app \"elsewhere\" { kind = \"container\", image = \"x@$DIGEST\", on = { role = \"x\" } }" &&
	commit_tree &&
	write_agent a
'

test_expect_success 'plan before any sync says so, exit 1' '
	test_expect_code 1 fplan 2>err &&
	test_grep "nothing accepted yet: run furrow sync" err
'

test_expect_success 'golden plan: one denied (tag), one create, exit 4' '
	fsync &&
	FURROW_NOW=$FRI test_expect_code 4 fplan --json >plan.json &&
	commit=$(git -C work rev-parse HEAD) &&
	ctime=$(git -C work log -1 --format=%ct) &&
	psha=$(sha256sum "$SRC_DIR/policies/require-digest.lua" | cut -d" " -f1) &&
	web=$(spec_sha "{\"kind\":\"container\",\"image\":\"registry.local/web:1.4\"}") &&
	api=$(spec_sha "{\"kind\":\"container\",\"image\":\"registry.local/api@$DIGEST\",\"depends_on\":[\"web\"]}") &&
	cat >golden.body <<-EOG &&
	{"commit":{"id":"$commit","signer":"operator@example.net","time":$ctime},"host":"edge-1","items":[{"action":"create","adjust":null,"app":"web","current_sha256":null,"kind":"container","policy":"std:require-digest","policy_sha256":"$psha","reason":"image \\"registry.local/web:1.4\\" is not pinned by digest (NAME@sha256:<64 hex>)","spec_sha256":"$web","until":null,"verdict":"deny"},{"action":"create","adjust":null,"app":"api","current_sha256":null,"kind":"container","policy":null,"policy_sha256":null,"reason":null,"spec_sha256":"$api","until":null,"verdict":"allow"}],"now":$FRI,"serial":1,"summary":{"create":2,"deferred":0,"denied":1,"remove":0,"unchanged":0,"update":0},"version":1}
	EOG
	hash=$(head -c -1 golden.body | sha256sum | cut -d" " -f1) &&
	{ head -c -2 golden.body; printf ",\"plan_sha256\":\"%s\"}\n" "$hash"; } >golden.json &&
	test_cmp golden.json plan.json
'

test_expect_success 'human output: symbols, verdicts, summary line, no colour in a pipe' '
	FURROW_NOW=$FRI test_expect_code 4 fplan >out &&
	cat out &&
	test_grep "^  ! web (container)  create  denied by std:require-digest: " out &&
	test_grep "^  + api (container)  create$" out &&
	test_grep "^Plan: 2 to create, 0 to update, 0 to remove; 0 deferred, 1 denied. plan sha256:[0-9a-f]\{64\}$" out &&
	! grep -q "$(printf "\033")" out &&
	! grep -q elsewhere out plan.json
'

test_expect_success 'the plan hash is stable and changes with the commit' '
	FURROW_NOW=$FRI test_expect_code 4 fplan --json >again.json &&
	test_cmp plan.json again.json &&
	FURROW_NOW=$((FRI + 1)) test_expect_code 4 fplan --json >later.json &&
	! cmp -s plan.json later.json &&
	desired "policy \"std:require-digest\"" \
		"app \"api\" { kind = \"container\", image = \"registry.local/api@$DIGEST\" }" &&
	commit_tree && fsync &&
	FURROW_NOW=$FRI fplan --json >new.json &&
	python3 -c "
import json
a = json.load(open(\"plan.json\")); b = json.load(open(\"new.json\"))
assert a[\"plan_sha256\"] != b[\"plan_sha256\"], (a, b)
assert [i[\"app\"] for i in b[\"items\"]] == [\"api\"], b
"
'

test_expect_success 'maintenance window: deferred outside (exit 4), allowed inside (exit 0)' '
	desired "policy \"std:maintenance-window\" { windows = { \"Sat 01:00-05:00\" } }" \
		"app \"api\" { kind = \"container\", image = \"registry.local/api@$DIGEST\" }" &&
	commit_tree && fsync &&
	FURROW_NOW=$FRI test_expect_code 4 fplan >out &&
	cat out &&
	test_grep "^  … api (container)  create  deferred until 2026-11-28T01:00:00Z by std:maintenance-window: " out &&
	test_grep "1 deferred, 0 denied" out &&
	FURROW_NOW=$SAT fplan >out &&
	cat out &&
	test_grep "^  + api (container)  create  allowed by std:maintenance-window: " out
'

# edge-1 is in wave 2 of 4 (FNV-1a of "edge-1" mod 4, see policies/README.md).
test_expect_success 'canary waves: deferred until commit time + wave x delay, then allowed' '
	desired "policy \"std:canary-waves\" { waves = 4, delay = 600 }" \
		"app \"api\" { kind = \"container\", image = \"registry.local/api@$DIGEST\" }" &&
	commit_tree && fsync &&
	ctime=$(git -C work log -1 --format=%ct) &&
	FURROW_NOW=$((ctime + 1199)) test_expect_code 4 fplan --json >out.json &&
	python3 -c "
import json, sys
i = json.load(open(\"out.json\"))[\"items\"][0]
assert i[\"verdict\"] == \"defer\" and i[\"until\"] == $ctime + 1200, i
assert i[\"policy\"] == \"std:canary-waves\", i
" &&
	FURROW_NOW=$((ctime + 1200)) fplan --json >out.json &&
	test_grep "\"verdict\":\"allow\"" out.json
'

test_expect_success 'freeze label in the agent config defers everything' '
	desired "policy \"std:freeze\"" "policy \"std:require-digest\"" \
		"app \"api\" { kind = \"container\", image = \"registry.local/api@$DIGEST\" }" \
		"app \"db\" { kind = \"container\", image = \"registry.local/db@$DIGEST\" }" &&
	commit_tree && fsync &&
	FURROW_NOW=$FRI fplan >out && cat out &&
	write_agent fz "freeze = \"true\"" && fsync fz &&
	FURROW_NOW=$FRI test_expect_code 4 furrow -c fz/agent.lua plan >out &&
	cat out &&
	test_grep "^  … api (container)  create  deferred by std:freeze: " out &&
	test_grep "^  … db (container)  create  deferred by std:freeze: " out &&
	test_grep "2 deferred, 0 denied" out
'

test_expect_success 'a FREEZE file signed by a policy signer defers; unsigned is ignored' '
	echo "frozen for the audit" >work/FREEZE &&
	commit_tree && fsync &&
	FURROW_NOW=$FRI fplan >out 2>err && cat out err &&
	test_grep "0 deferred" out &&
	ssh-keygen -q -Y sign -f "$K/operator" -n furrow-policy work/FREEZE &&
	commit_tree && fsync &&
	FURROW_NOW=$FRI fplan >out 2>err && cat out err &&
	test_grep "0 deferred" out &&
	test_grep "plan.freeze_ignored" err &&
	rm work/FREEZE.sig &&
	ssh-keygen -q -Y sign -f "$K/security" -n furrow-policy work/FREEZE &&
	commit_tree && fsync &&
	FURROW_NOW=$FRI test_expect_code 4 fplan >out && cat out &&
	test_grep "2 deferred" out &&
	git -C work rm -q FREEZE FREEZE.sig && commit_tree && fsync &&
	FURROW_NOW=$FRI fplan >out && test_grep "0 deferred" out
'

test_expect_success 'a repository policy runs with its verified source and hash' '
	mkdir -p work/policies &&
	cat >work/policies/no-db.lua <<-\EOP &&
	return function(ctx, changes, options)
	  for _, c in ipairs(changes) do
	    if c.app == "db" then deny(c, "no databases on " .. ctx.host.id) end
	    if c.app == "api" then adjust(c, { strategy = "stop-first" }) end
	    if c.app == "db" then adjust(c, { strategy = "stop-first" }) end
	  end
	end
	EOP
	ssh-keygen -q -Y sign -f "$K/security" -n furrow-policy work/policies/no-db.lua &&
	desired "policy \"policies/no-db.lua\"" \
		"app \"api\" { kind = \"container\", image = \"registry.local/api@$DIGEST\" }" \
		"app \"db\" { kind = \"container\", image = \"registry.local/db@$DIGEST\" }" &&
	commit_tree && fsync &&
	FURROW_NOW=$FRI test_expect_code 4 fplan --json >out.json &&
	psha=$(sha256sum work/policies/no-db.lua | cut -d" " -f1) &&
	python3 -c "
import json
d = json.load(open(\"out.json\"))
db = [i for i in d[\"items\"] if i[\"app\"] == \"db\"][0]
assert db[\"verdict\"] == \"deny\" and db[\"reason\"] == \"no databases on edge-1\", db
assert db[\"policy\"] == \"policies/no-db.lua\" and db[\"policy_sha256\"] == \"$psha\", db
assert db[\"adjust\"] is None, db
api = [i for i in d[\"items\"] if i[\"app\"] == \"api\"][0]
assert api[\"verdict\"] == \"allow\" and api[\"adjust\"] == {\"strategy\": \"stop-first\"}, api
" &&
	FURROW_NOW=$FRI test_expect_code 4 fplan >out &&
	test_grep "+ api (container)  create.*adjusted {\"strategy\":\"stop-first\"}" out
'

test_expect_success 'a commit that no longer verifies: exit 3' '
	cp "$K/policy_signers" "$K/policy_signers.good" &&
	ssh-keygen -q -t ed25519 -N "" -C other -f "$K/other" &&
	echo "other@example.net namespaces=\"furrow-policy\" $(cut -d" " -f1,2 "$K/other.pub")" \
		>"$K/policy_signers" &&
	test_expect_code 3 fplan 2>err &&
	cp "$K/policy_signers.good" "$K/policy_signers" &&
	test_grep "verification failed" err
'

test_expect_success 'apps from an included file of the signed tree are planned' '
	mkdir -p "$W/apps" &&
	printf "%s\n" "app \"inc\" { kind = \"container\", image = \"registry.local/inc@$DIGEST\" }" \
		>"$W/apps/inc.lua" &&
	desired "include \"apps/inc.lua\"" \
		"app \"api\" { kind = \"container\", image = \"registry.local/api@$DIGEST\" }" &&
	commit_tree && fsync &&
	FURROW_NOW=$FRI fplan >out &&
	cat out &&
	test_grep "+ inc (container)" out &&
	test_grep "+ api (container)" out &&
	printf "%s\n" "app \"inc\" { kind = \"container\", imag = \"x\" }" >"$W/apps/inc.lua" &&
	commit_tree && fsync &&
	test_expect_code 1 fplan 2>err &&
	test_grep "apps/inc.lua:1: app inc" err
'

test_expect_success 'bad FURROW_NOW and unknown options are refused' '
	FURROW_NOW=soon test_expect_code 1 fplan 2>err &&
	test_grep FURROW_NOW err &&
	test_expect_code 2 fplan --bogus
'

test_done
