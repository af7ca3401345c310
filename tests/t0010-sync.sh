#!/usr/bin/env bash
# furrow sync / verify / status against real Git servers (git daemon,
# nginx + git-http-backend over HTTPS), with signatures made by stock
# ssh-keygen and `git commit -S`.
. "$(dirname "$0")/lib.sh"
. "$SRC_DIR/tests/servers.sh"
SERVERS_DIR=$TEST_DIR/servers
test_on_exit stop_servers
# The fetch child runs as uid 65534 when furrow is root: let it through.
chmod 711 "$TEST_DIR"

K=$TEST_DIR/keys
signed_commit() { # key message
	git -C "$TEST_DIR/work" -c user.name=Operator -c user.email=op@example.net \
		-c gpg.format=ssh -c user.signingkey="$K/$1" \
		commit -q -S --allow-empty -m "$2"
}
unsigned_commit() {
	git -C "$TEST_DIR/work" -c user.name=Operator -c user.email=op@example.net \
		-c commit.gpgsign=false commit -q --allow-empty -m "$1"
}
push() { git -C "$TEST_DIR/work" push -q -f origin HEAD:refs/heads/main; }
sign_policy() { # key file
	rm -f "$2.sig"
	ssh-keygen -q -Y sign -f "$K/$1" -n furrow-policy "$2"
}
write_agent() { # name url [extra lua]
	mkdir -p "$TEST_DIR/$1"
	cat >"$TEST_DIR/$1/agent.lua" <<-EOF
	return {
	  host = { id = "edge-1" },
	  source = { url = "$2", ca_file = "$TEST_DIR/ca.pem", timeout = 5, ${3:-} },
	  trust = { commit_signers = "$K/allowed_signers",
	            policy_signers = "$K/policy_signers" },
	  state_dir = "state",
	}
	EOF
}
fsync() { furrow -c "$TEST_DIR/$1/agent.lua" sync "${@:2}"; }

test_expect_success 'setup: keys, trust files, a signed repository, servers' '
	mkdir -p "$K" &&
	for k in operator security stranger; do
		ssh-keygen -q -t ed25519 -N "" -C $k -f "$K/$k" || exit 1
	done &&
	ssh-keygen -q -t ecdsa -b 256 -N "" -C ecdsa -f "$K/ecdsa" &&
	ssh-keygen -q -t rsa -b 3072 -N "" -C rsa -f "$K/rsa" &&
	{
		echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")"
		echo "ecdsa@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/ecdsa.pub")"
		echo "rsa@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/rsa.pub")"
	} >"$K/allowed_signers" &&
	echo "security@example.net namespaces=\"furrow-policy\" $(cut -d" " -f1,2 "$K/security.pub")" \
		>"$K/policy_signers" &&
	mkdir -p srv && git init -q --bare -b main srv/state.git &&
	git init -q -b main work &&
	git -C work remote add origin "$TEST_DIR/srv/state.git" &&
	echo "serial = 1" >work/furrow.lua &&
	git -C work add furrow.lua &&
	signed_commit operator "serial 1" &&
	push &&
	start_git_daemon "$TEST_DIR/srv" >git.port &&
	start_https_git "$TEST_DIR/srv" "$TEST_DIR/ca.pem" s3cr3t-token >https.port &&
	write_agent a "https://localhost:$(cat https.port)/state.git"
'
HTTPS=https://localhost:$(cat "$TEST_DIR/https.port" 2>/dev/null)

test_expect_success 'sync over https accepts a signed commit and names its signer' '
	fsync a >out &&
	cat out &&
	test_grep "^commit .* (accepted)" out &&
	test_grep "^signer  *operator@example.net (ssh-ed25519 SHA256:" out &&
	test_grep "^serial  *1$" out &&
	fp=$(ssh-keygen -l -f "$K/operator.pub" | cut -d" " -f2) &&
	test_grep "$fp" out
'

test_expect_success 'status shows the accepted commit, signer and freshness' '
	furrow -c a/agent.lua status >out &&
	test_grep "^accepted  *$(git -C work rev-parse HEAD)" out &&
	test_grep "operator@example.net" out &&
	test_grep "^last fetch  *[0-9]*s ago" out &&
	furrow -c a/agent.lua status --json >out.json &&
	python3 -c "
import json; d = json.load(open(\"out.json\"))
assert d[\"serial\"] == 1 and d[\"commit_age_seconds\"] >= 0, d
assert d[\"last_fetch_age_seconds\"] >= 0 and d[\"stale\"] is False, d
"
'

test_expect_success 'a second sync with nothing new says unchanged (text and JSON)' '
	fsync a >out && test_grep "(unchanged)" out &&
	fsync a --json >out.json &&
	python3 -c "
import json; d = json.load(open(\"out.json\"))
assert d[\"result\"] == \"unchanged\" and d[\"changed\"] is False, d
assert d[\"commit\"] == d[\"previous\"] and d[\"serial\"] == 1, d
assert d[\"signer\"][\"principal\"] == \"operator@example.net\", d
assert d[\"signer\"][\"fingerprint\"].startswith(\"SHA256:\"), d
"
'

test_expect_success 'git:// (git daemon) and file:// sources work too' '
	write_agent g "git://127.0.0.1:$(cat git.port)/state.git" &&
	fsync g >out && test_grep "(accepted)" out &&
	chmod -R go+rX srv &&
	write_agent f "file://$TEST_DIR/srv/state.git" &&
	fsync f >out && test_grep "(accepted)" out &&
	write_agent l "$TEST_DIR/srv/state.git" &&
	fsync l >out && test_grep "(accepted)" out
'

test_expect_success 'ECDSA and RSA signed commits are accepted' '
	signed_commit ecdsa "by ecdsa" && push &&
	fsync a >out && test_grep "ecdsa@example.net (ecdsa-sha2-nistp256" out &&
	signed_commit rsa "by rsa" && push &&
	fsync a >out && test_grep "rsa@example.net (rsa-sha2-512\|rsa@example.net (ssh-rsa" out
'

test_expect_success 'the wrong CA fails clearly, exit 1, nothing accepted' '
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other \
		-keyout other.key -out other.pem 2>/dev/null &&
	write_agent wrongca "$HTTPS/state.git" &&
	sed -i "s|$TEST_DIR/ca.pem|$TEST_DIR/other.pem|" wrongca/agent.lua &&
	test_expect_code 1 fsync wrongca 2>err &&
	test_grep -i "certificate" err
'

test_expect_success 'the wrong host name fails clearly' '
	write_agent wronghost "https://127.0.0.1:$(cat https.port)/state.git" &&
	test_expect_code 1 fsync wronghost 2>err &&
	test_grep -i "certificate\|host" err
'

test_expect_success 'an unsigned commit is refused (exit 3); the accepted one stays' '
	before=$(git -C work rev-parse HEAD) &&
	unsigned_commit "unsigned" && push &&
	test_expect_code 3 fsync a 2>err &&
	test_grep "verification failed" err &&
	test_grep -i "not signed" err &&
	furrow -c a/agent.lua status >out &&
	test_grep "^accepted  *$before" out &&
	test_grep "^verify error" out
'

test_expect_success 'a commit by a signer not in allowed_signers is refused' '
	git -C work reset -q --hard HEAD~1 &&
	signed_commit stranger "stranger" && push &&
	test_expect_code 3 fsync a 2>err &&
	test_grep -i "not.*allowed\|unknown\|no.*signer\|not trusted" err
'

test_expect_success 'an expired signer and a key not allowed for namespace git are refused' '
	git -C work reset -q --hard HEAD~1 &&
	cp "$K/allowed_signers" "$K/allowed_signers.good" &&
	sed -i "s/^operator@example.net namespaces=\"git\"/operator@example.net namespaces=\"git\",valid-before=\"20200101\"/" "$K/allowed_signers" &&
	signed_commit operator "expired key" && push &&
	test_expect_code 3 fsync a 2>err &&
	test_grep -i "valid\|expired" err &&
	sed -i "s/namespaces=\"git\",valid-before=\"20200101\"/namespaces=\"furrow-policy\"/" "$K/allowed_signers" &&
	test_expect_code 3 fsync a 2>err &&
	test_grep -i "namespace" err &&
	cp "$K/allowed_signers.good" "$K/allowed_signers" &&
	fsync a >out && test_grep "(accepted)" out
'

test_expect_success 'a tampered commit body is refused' '
	tampered=$(git -C work cat-file commit HEAD | sed "s/expired key/evil change/" |
		git -C work hash-object -t commit -w --stdin) &&
	git -C work push -q -f origin "$tampered:refs/heads/main" &&
	test_expect_code 3 fsync a 2>err &&
	test_grep -i "signature" err &&
	push
'

test_expect_success 'a signed policy file is verified and named with its signer' '
	mkdir -p work/policies &&
	echo "return function(ctx, changes) return changes end" >work/policies/site.lua &&
	sign_policy security work/policies/site.lua &&
	printf "serial = 2\npolicy \"policies/site.lua\"\npolicy \"std:require-digest\"\n" >work/furrow.lua &&
	git -C work add -A && signed_commit operator "policy" && push &&
	fsync a >out &&
	cat out &&
	test_grep "^policy  *policies/site.lua signed by security@example.net" out &&
	test_grep "^policy  *std:require-digest (built in)" out
'

test_expect_success 'furrow verify shows the auditor view, also as JSON' '
	furrow -c a/agent.lua verify >out &&
	test_grep "(verified)" out &&
	test_grep "policies/site.lua signed by security@example.net" out &&
	furrow -c a/agent.lua verify --json "$(git -C work rev-parse HEAD)" >out.json &&
	python3 -c "
import json; d = json.load(open(\"out.json\"))
assert d[\"signer\"][\"principal\"] == \"operator@example.net\", d
p = {x[\"path\"]: x for x in d[\"policies\"]}
assert p[\"policies/site.lua\"][\"principal\"] == \"security@example.net\", d
assert p[\"std:require-digest\"][\"builtin\"] is True, d
"
'

test_expect_success 'a policy file changed without a new policy signature is refused' '
	echo "-- sneaky" >>work/policies/site.lua &&
	git -C work add -A && signed_commit operator "tamper policy" && push &&
	test_expect_code 3 fsync a 2>err &&
	test_grep "policies/site.lua" err
'

test_expect_success 'a policy signed by a commit-only key is refused' '
	sign_policy operator work/policies/site.lua &&
	git -C work add -A && signed_commit operator "policy signed by operator" && push &&
	test_expect_code 3 fsync a 2>err &&
	test_grep "policies/site.lua" err &&
	sign_policy security work/policies/site.lua &&
	git -C work add -A && signed_commit operator "policy fixed" && push &&
	fsync a >out && test_grep "(accepted)" out
'

test_expect_success 'a force-pushed older signed commit is refused; --allow-downgrade takes it' '
	good=$(git -C work rev-parse HEAD) &&
	old=$(git -C work rev-list --max-parents=0 HEAD) &&
	git -C work push -q -f origin "$old:refs/heads/main" &&
	test_expect_code 3 fsync a 2>err &&
	test_grep "does not descend from the accepted commit" err &&
	fsync a --allow-downgrade >out &&
	test_grep "(downgrade accepted)" out &&
	furrow -c a/agent.lua status >out &&
	test_grep "^accepted  *$old" out &&
	git -C work push -q -f origin "$good:refs/heads/main" &&
	fsync a >out && test_grep "(accepted)" out
'

test_expect_success 'a lower serial is refused even after the store was wiped' '
	git -C work checkout -q -b low "$(git -C work rev-list --max-parents=0 HEAD)" &&
	echo "serial = 1" >work/furrow.lua &&
	git -C work add -A && signed_commit operator "low serial" &&
	git -C work push -q -f origin HEAD:refs/heads/main &&
	rm -rf a/state/db &&
	test_expect_code 3 fsync a 2>err &&
	test_grep "serial 1, lower than 2" err &&
	git -C work checkout -q main && push
'

test_expect_success 'token auth: the right token works, a wrong one fails, none leaks' '
	echo s3cr3t-token >token &&
	write_agent t "$HTTPS/private/state.git" "token_file = \"$TEST_DIR/token\"," &&
	fsync t >out 2>err && test_grep "(accepted)" out &&
	test_grep "user=furrow" servers/nginx/access.log &&
	echo wrong-token >token &&
	rm -rf t/state &&
	test_expect_code 1 fsync t >out 2>err &&
	! grep -r "wrong-token\|s3cr3t" out err t/state/serial 2>/dev/null
'

test_expect_success 'a git bundle sideload goes through the same verification' '
	git -C work bundle create -q "$TEST_DIR/good.bundle" main &&
	write_agent b "$HTTPS/state.git" &&
	fsync b --bundle "$TEST_DIR/good.bundle" >out &&
	test_grep "(accepted)" out &&
	unsigned_commit "unsigned in a bundle" &&
	git -C work bundle create -q "$TEST_DIR/bad.bundle" main &&
	test_expect_code 3 fsync b --bundle "$TEST_DIR/bad.bundle" 2>err &&
	test_grep -i "not signed" err &&
	git -C work reset -q --hard HEAD~1
'

test_expect_success 'a corrupt local repository is moved aside and fetched again' '
	signed_commit operator "after corruption" && push &&
	find a/state/git/repo.git/objects -type f -name "*.pack" -exec sh -c "echo garbage >{}" \; &&
	fsync a >out 2>err &&
	test_grep "(accepted)" out &&
	ls -d a/state/git/repo.git.corrupt-*
'

test_expect_success 'server down: sync --wait retries with backoff and recovers' '
	signed_commit operator "while down" &&
	mv srv/state.git srv/state.git.away &&
	{ ( sleep 3; mv srv/state.git.away srv/state.git; push ) & } &&
	fsync a --wait 40 >out 2>err &&
	wait &&
	test_grep "sync.fetch_failed" err &&
	test_grep "retry_in=" err &&
	test_grep "(accepted)" out
'

test_expect_success 'hostile trees: a symlinked furrow.lua is refused, naming it' '
	git -C work checkout -q -b hostile &&
	git -C work rm -q furrow.lua &&
	ln -s /etc/passwd work/furrow.lua &&
	git -C work add furrow.lua && signed_commit operator "symlink" &&
	git -C work push -q -f origin HEAD:refs/heads/main &&
	test_expect_code 1 fsync a 2>err &&
	test_grep "furrow.lua.*symlink\|symlink.*furrow.lua" err
'

test_expect_success 'hostile trees: a 1 GiB furrow.lua is refused without inflating it' '
	git -C work rm -q furrow.lua &&
	head -c 1073741824 /dev/zero >work/furrow.lua &&
	git -C work add furrow.lua && signed_commit operator "1 GiB" &&
	rm -f work/furrow.lua &&
	git -C work push -q -f origin HEAD:refs/heads/main &&
	test_expect_code 1 /usr/bin/time -f "%M" -o rss \
		"$FURROW" -c a/agent.lua sync 2>err &&
	test_grep "furrow.lua.*limit\|limit.*furrow.lua" err &&
	echo "peak RSS $(cat rss) KiB" &&
	test "$(tail -n1 rss)" -lt 262144 &&
	git -C work checkout -q main && push
'

test_expect_success 'sync --help documents the options' '
	furrow sync --help >out &&
	test_grep -- "--bundle" out && test_grep -- "--allow-downgrade" out &&
	test_grep -- "--wait" out
'

test_done
