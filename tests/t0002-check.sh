#!/usr/bin/env bash
# `furrow check`: the agent config, validated and normalised.
. "$(dirname "$0")/lib.sh"

write_config() { # dir
	mkdir -p "$1" &&
	: >"$1/allowed_signers" &&
	cat >"$1/agent.lua" <<-\EOF
	return {
	  host = { id = "edge-7", labels = { site = "pune" } },
	  source = { url = "https://git.example.net/x.git", interval = 30 },
	  trust = { commit_signers = "allowed_signers" },
	  state_dir = "state",
	}
	EOF
}

test_expect_success 'a valid config prints normalised Lua, exit 0' '
	write_config conf &&
	furrow -c conf/agent.lua check >out &&
	test_grep "^return {" out &&
	test_grep "id = \"edge-7\"" out &&
	test_grep "interval = 30," out &&
	test_grep "ref = \"refs/heads/main\"" out &&
	test_grep "jitter = 0.2" out &&
	test_grep "commit_signers = \"$TEST_DIR/conf/allowed_signers\"" out &&
	test_grep "state_dir = \"$TEST_DIR/conf/state\"" out
'

test_expect_success 'the normalised config is itself a valid config, unchanged' '
	write_config conf &&
	furrow -c conf/agent.lua check >conf/normal.lua &&
	furrow -c conf/normal.lua check >again.lua &&
	diff <(tail -n +2 conf/normal.lua) <(tail -n +2 again.lua)
'

test_expect_success 'check --json prints JSON' '
	write_config conf &&
	furrow -c conf/agent.lua check --json >out.json &&
	python3 -c "
import json
d = json.load(open(\"out.json\"))
assert d[\"host\"][\"id\"] == \"edge-7\", d
assert d[\"source\"][\"interval\"] == 30
assert d[\"host\"][\"labels\"] == {\"site\": \"pune\"}
"
'

test_expect_success 'FURROW_CONFIG is used when -c is absent, -c wins over it' '
	write_config a && write_config b &&
	sed -i "s/edge-7/edge-b/" b/agent.lua &&
	FURROW_CONFIG=$TEST_DIR/a/agent.lua furrow check >out &&
	test_grep "edge-7" out &&
	FURROW_CONFIG=$TEST_DIR/a/agent.lua furrow -c b/agent.lua check >out &&
	test_grep "edge-b" out
'

test_expect_success 'a missing config file is a clear error, exit 1' '
	test_expect_code 1 furrow -c nowhere/agent.lua check 2>err &&
	test_grep "no agent config.*nowhere/agent.lua" err
'

test_expect_success 'errors name file, line and key; all of them; exit 1' '
	write_config conf &&
	cat >conf/bad.lua <<-\EOF &&
	return {
	  host = { id = "edge 7" },
	  source = {
	    url = "https://git.example.net/x.git",
	    intervall = 30,
	    jitter = 1.5,
	  },
	  trust = { commit_signers = "allowed_signers" },
	}
	EOF
	test_expect_code 1 furrow -c conf/bad.lua check 2>err &&
	test_grep "bad.lua:2: host.id: \"edge 7\" is not a valid id" err &&
	test_grep "bad.lua:5: source.intervall: unknown key (did you mean source.interval?)" err &&
	test_grep "bad.lua:6: source.jitter: 1.5 is not between 0 and 1" err
'

test_expect_success 'a Lua syntax error names file and line' '
	printf "return {\n  host = { id = \"x\" \n" >bad.lua &&
	test_expect_code 1 furrow -c bad.lua check 2>err &&
	test_grep "bad.lua:[0-9]*:" err
'

test_expect_success 'a config that loops forever is stopped' '
	echo "while true do end" >loop.lua &&
	test_expect_code 1 timeout 20 "$FURROW" -c loop.lua check 2>err &&
	test_grep "limit" err
'

test_expect_success 'a config cannot read files' '
	echo "return { host = { id = io.open(\"/etc/passwd\"):read() } }" >io.lua &&
	test_expect_code 1 furrow -c io.lua check 2>err &&
	test_grep "io" err
'

test_expect_success 'a missing trust file is an error naming it' '
	write_config conf &&
	rm conf/allowed_signers &&
	test_expect_code 1 furrow -c conf/agent.lua check 2>err &&
	test_grep "trust.commit_signers: cannot read $TEST_DIR/conf/allowed_signers" err
'

test_expect_success 'the same config evaluates the same way in every run (pairs order)' '
	write_config conf &&
	cat >conf/pairs.lua <<-\EOF &&
	local t = {}
	for i = 1, 64 do t["key" .. i] = true end
	local first
	for k in pairs(t) do first = first or k end
	return {
	  host = { id = "edge-7", labels = { first = first } },
	  source = { url = "https://git.example.net/x.git" },
	  trust = { commit_signers = "allowed_signers" },
	}
	EOF
	for i in 1 2 3 4 5 6; do
		furrow -c conf/pairs.lua check >run$i &&
		test_cmp run1 run$i || exit 1
	done
'

test_expect_success 'check works as an unprivileged user in a temp dir' '
	if [ "$(id -u)" = 0 ]; then
		d=$(mktemp -d) && chmod 755 "$d" && write_config "$d/c" &&
		chown -R nobody "$d" &&
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$FURROW" -c "$d/c/agent.lua" check >out &&
		rm -rf "$d"
	else
		write_config c && furrow -c c/agent.lua check >out
	fi &&
	test_grep "edge-7" out
'

test_done
