#!/usr/bin/env bash
# furrow sync over a bad network: a git daemon inside its own network
# namespace, reached from furrow in another one over a veth pair.
#   - 30% random packet loss both ways (iptables `statistic`): still converges;
#   - server down: sync --wait retries with backoff, then recovers;
#   - full partition: fails within source.timeout, the accepted commit stays
#     in service, status reports the error; healed, the next sync works.
# Needs root, `ip netns`, iptables with the statistic match and git daemon;
# skips otherwise.  (This kernel has no netem: loss comes from iptables.)
. "$(dirname "$0")/lib.sh"
. "$SRC_DIR/tests/servers.sh"
SERVERS_DIR=$TEST_DIR/servers
# The fetch child runs as uid 65534 when furrow is root: let it through.
chmod 711 "$TEST_DIR"

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}
[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces, iptables)"
command -v ip >/dev/null || skip_all "no ip(8)"
command -v iptables >/dev/null || skip_all "no iptables"
git daemon --help >/dev/null 2>&1 || [ -x "$(git --exec-path)/git-daemon" ] ||
	skip_all "no git daemon"

NS_SRV=fw-srv-$$
NS_CLI=fw-cli-$$
VETH_SRV=fws$$
VETH_CLI=fwc$$
NET=10.213.$(($$ % 250 + 1))
SRV_IP=$NET.1
CLI_IP=$NET.2
PORT=9418
URL=git://$SRV_IP:$PORT/state.git

# Registered first, so they run last: after the servers are stopped.
test_on_exit "ip netns del $NS_SRV"
test_on_exit "ip netns del $NS_CLI"
test_on_exit "ip link del $VETH_SRV"
ip netns add "$NS_SRV" 2>/dev/null || skip_all "ip netns add does not work here"
ip netns add "$NS_CLI" 2>/dev/null || skip_all "ip netns add does not work here"
ip netns exec "$NS_SRV" iptables -A INPUT -m statistic --mode random \
	--probability 0.5 -j ACCEPT 2>/dev/null &&
	ip netns exec "$NS_SRV" iptables -F INPUT ||
	skip_all "iptables with the statistic match does not work in a netns"
test_on_exit stop_servers
test_on_exit 'kill $(cat "$TEST_DIR/bg.pid" 2>/dev/null) 2>/dev/null'

in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_cli() { ip netns exec "$NS_CLI" "$@"; }
srv_iptables() { in_srv iptables -w 5 "$@"; }

K=$TEST_DIR/keys
signed_commit() { # message
	git -C "$TEST_DIR/work" -c user.name=Operator -c user.email=op@example.net \
		-c gpg.format=ssh -c user.signingkey="$K/operator" \
		commit -q -S --allow-empty -m "$1"
}
push() { git -C "$TEST_DIR/work" push -q -f origin HEAD:refs/heads/main; }
head_commit() { git -C "$TEST_DIR/work" rev-parse HEAD; }
write_agent() { # timeout
	cat >"$TEST_DIR/agent.lua" <<-EOF
	return {
	  host = { id = "edge-1" },
	  source = { url = "$URL", timeout = $1 },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	}
	EOF
}
# furrow inside the client namespace, bounded: a hang fails the test.
cli_furrow() { # seconds args...
	timeout -k 5 "$1" ip netns exec "$NS_CLI" "$FURROW" -c "$TEST_DIR/agent.lua" "${@:2}"
}
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v n="$(now)" 'BEGIN { printf "%.1f", n - s }'; }
# The retry_in values of sync.fetch_failed lines in a log, one a line.
retry_ins() { sed -n 's/.*event=sync\.fetch_failed.* retry_in=\([0-9.]*\).*/\1/p' "$1"; }

test_expect_success 'setup: two namespaces joined by a veth pair, git daemon in one' '
	# One segment per packet (no GSO/TSO super-packets), so that the
	# loss applies to each packet on the wire as it would on a real link.
	ip link add "$VETH_SRV" gso_max_segs 1 type veth \
		peer name "$VETH_CLI" gso_max_segs 1 &&
	ip link set "$VETH_SRV" netns "$NS_SRV" &&
	ip link set "$VETH_CLI" netns "$NS_CLI" &&
	ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$VETH_SRV" &&
	ip -n "$NS_CLI" addr add "$CLI_IP/24" dev "$VETH_CLI" &&
	for ns in "$NS_SRV" "$NS_CLI"; do
		ip -n "$ns" link set lo up || exit 1
	done &&
	ip -n "$NS_SRV" link set "$VETH_SRV" up &&
	ip -n "$NS_CLI" link set "$VETH_CLI" up &&
	mkdir -p "$K" &&
	ssh-keygen -q -t ed25519 -N "" -C operator -f "$K/operator" &&
	echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
		>"$K/allowed_signers" &&
	mkdir -p srv && git init -q --bare -b main srv/state.git &&
	git init -q -b main work &&
	git -C work remote add origin "$TEST_DIR/srv/state.git" &&
	echo "serial = 1" >work/furrow.lua &&
	git -C work add furrow.lua &&
	signed_commit "serial 1" && push &&
	start_git_daemon_netns "$NS_SRV" "$SRV_IP" "$PORT" "$TEST_DIR/srv" &&
	write_agent 10 &&
	# The client namespace has no way out but the veth.
	ip -n "$NS_CLI" -4 route show >routes &&
	test "$(wc -l <routes)" = 1 &&
	test_grep "^$NET.0/24 dev $VETH_CLI " routes
'

test_expect_success 'baseline: sync in the client namespace accepts commit 1' '
	cli_furrow 60 sync >out 2>err &&
	test_grep "^commit  *$(head_commit) (accepted)" out &&
	test_grep "^serial  *1$" out
'

test_expect_success '30% packet loss both ways: sync --wait converges on a bigger commit' '
	# 1000 small files: clean, the fetch is ~50 packets each way.
	# (Plain lines, not an && chain: set -e stops at the first failure, and
	# the loss rules are removed whatever the sync did.)
	mkdir -p work/files
	python3 -c "
for i in range(1000):
    with open(\"work/files/f%04d.conf\" % i, \"w\") as f:
        f.write(\"name = item%03d\\nweight = %d\\n\" % (i, i * 7919 % 1000))
"
	echo "serial = 2" >work/furrow.lua
	git -C work add -A
	signed_commit "serial 2, 1000 files"
	push
	want=$(head_commit)
	# A counting rule (no target) in front of each DROP rule.
	for chain in INPUT OUTPUT; do
		srv_iptables -A $chain
		srv_iptables -A $chain -m statistic --mode random --probability 0.3 -j DROP
	done
	start=$(now)
	rc=0
	cli_furrow 140 sync --wait 120 >out 2>err || rc=$?
	echo "$(elapsed $start) $(grep -c sync.fetch_failed err)" >loss.time
	in_srv iptables-save -c | sed -n "s/^\[\([0-9]*\):[0-9]*\] -A \(INPUT\|OUTPUT\)\(.*\)/\1\3/p" |
		awk "/statistic/ { drop += \$1; next } { all += \$1 } END { print drop + 0, all + 0 }" >loss.packets
	srv_iptables -F INPUT
	srv_iptables -F OUTPUT
	cat err
	test $rc = 0
	test_grep "^commit  *$want (accepted)" out
	test_grep "^serial  *2$" out
	read -r dropped total <loss.packets
	test "$dropped" -gt 0
'
if [ -f "$TEST_DIR/loss.time" ]; then
	read -r secs failures <"$TEST_DIR/loss.time"
	read -r dropped total <"$TEST_DIR/loss.packets"
	echo "# 30% loss: converged in $secs s after $failures failed attempt(s); $dropped of $total packets through the server dropped"
fi

test_expect_success 'server down: sync --wait backs off, then recovers when it is back' '
	stop_git_daemon_netns "$NS_SRV" &&
	echo "serial = 3" >work/furrow.lua &&
	git -C work add -A && signed_commit "serial 3, while down" && push &&
	want=$(head_commit) &&
	start=$(now) &&
	{ cli_furrow 90 sync --wait 60 >out 2>err & } &&
	echo $! >"$TEST_DIR/bg.pid" &&
	sleep 5 &&
	start_git_daemon_netns "$NS_SRV" "$SRV_IP" "$PORT" "$TEST_DIR/srv" &&
	up=$(elapsed $start) &&
	{ wait "$(cat "$TEST_DIR/bg.pid")" || { echo "sync failed: $?"; cat err; exit 1; }; } &&
	rm -f "$TEST_DIR/bg.pid" &&
	echo "$up $(elapsed $start)" >down.time &&
	cat err &&
	test_grep "^commit  *$want (accepted)" out &&
	retry_ins err >waits &&
	echo "$(tr "\n" " " <waits)" >down.waits &&
	# Every failure was the closed port, refused at once ...
	test "$(grep -c "event=sync.fetch_failed.*Connection refused" err)" = "$(wc -l <waits)" &&
	test "$(wc -l <waits)" -ge 2 &&
	# ... so the waits alone spanned the 5 s the server was down.  Full
	# jitter: the n-th wait is at most the n-th ceiling, base * 2^(n-1)
	# (base 1 s, cap 60 s): the ceilings grew, or 5 s would not be covered
	# by so few waits.
	awk "{ c = 2 ^ (NR - 1); if (c > 60) c = 60
	       if (\$1 > c + 0.05) { print \"wait \" NR \" = \" \$1 \" above ceiling \" c; bad = 1 }
	       s += \$1 }
	     END { if (s < 4.5) { print \"waits sum to \" s \" s only\"; bad = 1 }; exit bad }" waits
'
if [ -f "$TEST_DIR/down.time" ]; then
	read -r up recovered <"$TEST_DIR/down.time"
	echo "# server down: back after $up s, sync recovered after $recovered s; retry_in: $(cat "$TEST_DIR/down.waits" 2>/dev/null)"
fi

test_expect_success 'full partition: sync fails within source.timeout, exit 1, timeout error' '
	write_agent 3 &&
	echo "serial = 4" >work/furrow.lua &&
	git -C work add -A && signed_commit "serial 4, behind a partition" && push &&
	srv_iptables -A INPUT -j DROP &&
	start=$(now) &&
	test_expect_code 1 cli_furrow 30 sync >out 2>err &&
	t=$(elapsed $start) && echo "$t" >part.time &&
	cat err &&
	test_grep -i "timeout\|timed out" err &&
	test_grep "$SRV_IP:$PORT" err &&
	awk "BEGIN { exit !($t < 15) }" &&
	! grep "^commit" out
'
[ -f "$TEST_DIR/part.time" ] &&
	echo "# full partition: sync gave up after $(cat "$TEST_DIR/part.time") s (source.timeout = 3)"

test_expect_success 'full partition: status keeps the accepted commit and shows the error' '
	accepted=$(git -C work rev-parse HEAD~1) &&
	cli_furrow 30 status >out &&
	cat out &&
	test_grep "^accepted  *$accepted" out &&
	test_grep "^serial  *3$" out &&
	test_grep "^fetch error  *.*timeout" out &&
	cli_furrow 30 status --json >out.json &&
	python3 -c "
import json; d = json.load(open(\"out.json\"))
assert d[\"accepted_commit\"] == \"$accepted\", d
assert d[\"fetched_commit\"] == \"$accepted\", d
assert \"timeout\" in d[\"fetch_error\"], d
"
'

test_expect_success 'full partition: sync --wait gives up near its deadline' '
	start=$(now) &&
	test_expect_code 1 cli_furrow 40 sync --wait 6 >out 2>err &&
	t=$(elapsed $start) && echo "$t" >partwait.time &&
	cat err &&
	test "$(grep -c sync.fetch_failed err)" -ge 1 &&
	# 6 s of waiting plus at most one more attempt (3 s) and start-up.
	awk "BEGIN { exit !($t >= 6 && $t < 14) }"
'
[ -f "$TEST_DIR/partwait.time" ] &&
	echo "# full partition: sync --wait 6 gave up after $(cat "$TEST_DIR/partwait.time") s"

test_expect_success 'killing furrow mid-fetch ends its fetch child; no stale lock' '
	write_agent 60 &&
	# ip netns exec may fork: learn furrow'"'"'s own pid from a shell it replaces.
	{ ip netns exec "$NS_CLI" sh -c "echo \$\$ >furrow.pid; exec \"\$0\" \"\$@\"" \
		"$FURROW" -c "$TEST_DIR/agent.lua" sync >kill.out 2>kill.err & } &&
	sleep 2 &&
	pid=$(cat furrow.pid) &&
	pgrep -P "$pid" >children &&
	test -s children &&
	kill -TERM "$pid" &&
	{ wait || true; } &&
	sleep 1 &&
	# Dead but unreaped (a zombie under a PID 1 that does not reap) is dead.
	for c in $(cat children); do
		state=$(awk "{print \$3}" "/proc/$c/stat" 2>/dev/null || echo gone)
		case $state in gone|Z|X) ;; *) echo "child $c outlived furrow ($state)"; exit 1 ;; esac
	done &&
	write_agent 3 &&
	test_expect_code 1 cli_furrow 30 sync >out 2>err &&
	! grep "in use by another furrow" err
'

test_expect_success 'partition healed: the next sync accepts the new commit' '
	srv_iptables -D INPUT -j DROP &&
	cli_furrow 60 sync >out 2>err &&
	test_grep "^commit  *$(head_commit) (accepted)" out &&
	test_grep "^serial  *4$" out &&
	cli_furrow 30 status >out &&
	test_grep "^accepted  *$(head_commit)" out &&
	! grep "^fetch error" out
'

test_done
