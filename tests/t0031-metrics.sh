#!/usr/bin/env bash
# metrics.textfile end to end: furrow writes its Prometheus textfile after
# every pass (`furrow apply` and `furrow run`); a real node_exporter
# (textfile collector) exposes it and a real Prometheus scrapes that every
# second, both on loopback ports of this test.  After a first install, an
# update, a broken update (rolled back) and a daemon's passes, the values
# are read back through Prometheus's HTTP API: the active slot switches,
# rollbacks count, passes grow, the app is healthy, and node_exporter
# never found the file malformed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-apply.sh"

D=$TEST_DIR/host
ST=$D/state
TF=$TEST_DIR/textfile       # node_exporter's textfile directory
PROM=$TEST_DIR/prometheus
NODE_EXPORTER=/usr/bin/prometheus-node-exporter
PROMETHEUS=/usr/bin/prometheus
PROMTOOL=/usr/bin/promtool

# The Debian packages, installed here when missing and we are root.
have_tools() { [ -x "$NODE_EXPORTER" ] && [ -x "$PROMETHEUS" ] && [ -x "$PROMTOOL" ]; }
if ! have_tools && [ "$(id -u)" = 0 ]; then
	echo "# installing prometheus prometheus-node-exporter"
	DEBIAN_FRONTEND=noninteractive timeout 600 \
		apt-get install -y -qq --no-install-recommends \
		prometheus prometheus-node-exporter >"$TEST_DIR/apt.log" 2>&1 ||
		{ DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -qq &&
		  DEBIAN_FRONTEND=noninteractive timeout 600 \
			apt-get install -y -qq --no-install-recommends \
			prometheus prometheus-node-exporter; } >>"$TEST_DIR/apt.log" 2>&1
fi
if ! have_tools; then
	test_skip 'metrics through node_exporter and Prometheus' \
		"prometheus and prometheus-node-exporter are missing and could not be installed (Debian packages; apt-get as root)"
	test_done
fi

# wait_for SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds.
wait_for() {
	local secs=$1 end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || { echo "timed out after $secs s: $*" >&2; return 1; }
		sleep 0.2
	done
}

# Servers this test starts: pid files under $TEST_DIR, killed at exit
# (only if the pid still runs that program).
stop_server() { # name exe
	local pid
	pid=$(cat "$TEST_DIR/$1.pid" 2>/dev/null) || return 0
	[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$2" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	return 0
}
test_on_exit 'stop_server node_exporter "$(readlink -f "$NODE_EXPORTER")"'
test_on_exit 'stop_server prometheus "$(readlink -f "$PROMETHEUS")"'

nport() { cat "$TEST_DIR/nport"; }
pport() { cat "$TEST_DIR/pport"; }

# prom QUERY: the value of the query's single result, "" if none (or
# Prometheus does not answer); "many" if more than one series matched.
prom() {
	curl -s --max-time 3 "http://127.0.0.1:$(pport)/api/v1/query" \
		--data-urlencode "query=$1" 2>/dev/null |
	$PY -c 'import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
r = d.get("data", {}).get("result", []) if d.get("status") == "success" else []
if len(r) > 1:
    print("many")
elif r:
    v = r[0]["value"][1]
    print(int(float(v)) if float(v).is_integer() else v)'
}
prom_is() { test "$(prom "$1")" = "$2"; }
prom_above() { local v; v=$(prom "$1"); [ -n "$v" ] && [ "$v" != many ] && [ "$v" -gt "$2" ]; }
# wait_prom QUERY WANT: until Prometheus has scraped that value (30 s).
wait_prom() {
	wait_for 30 prom_is "$1" "$2" || {
		echo "query $1: got '$(prom "$1")', want '$2'"
		echo "--- textfile:"; cat "$TF/furrow.prom" 2>&1 | grep -v '^#'
		return 1
	}
}
slot_now() { readlink "$ST/apps/web/current"; }
head_commit() { git -C "$W" rev-parse HEAD; }
fapply() { furrow -c "$D/agent.lua" apply "$@"; }
# The daemon of the last test is gone (a zombie has no exe link).
daemon_gone() { [ "$(readlink "/proc/$(cat "$D/daemon.pid")/exe" 2>/dev/null)" != "$FURROW" ]; }

test_expect_success 'setup: repository, agent with metrics.textfile' '
	apply_lib_init && write_agent "$D" &&
	mkdir -p "$TF" &&
	sed -i "s|^  apply = |  metrics = { textfile = \"$TF/furrow.prom\" },\n&|" "$D/agent.lua" &&
	test_grep -q "metrics = { textfile" "$D/agent.lua" &&
	furrow -c "$D/agent.lua" check --json >cfg.json &&
	$PY -c "import json, sys
c = json.load(open(\"cfg.json\"))
sys.exit(c[\"metrics\"][\"textfile\"] != \"$TF/furrow.prom\")"
'

test_expect_success 'setup: node_exporter and Prometheus on loopback' '
	free_port >"$TEST_DIR/nport" && free_port >"$TEST_DIR/pport" &&
	( "$NODE_EXPORTER" --collector.disable-defaults --collector.textfile \
		--collector.textfile.directory="$TF" \
		--web.listen-address="127.0.0.1:$(nport)" \
		>"$TEST_DIR/node_exporter.log" 2>&1 </dev/null &
	  echo $! >"$TEST_DIR/node_exporter.pid" ) &&
	mkdir -p "$PROM/data" &&
	cat >"$PROM/prometheus.yml" <<-EOF &&
	global:
	  scrape_interval: 1s
	  evaluation_interval: 1s
	scrape_configs:
	  - job_name: node
	    static_configs:
	      - targets: ["127.0.0.1:$(nport)"]
	EOF
	"$PROMTOOL" check config "$PROM/prometheus.yml" &&
	( "$PROMETHEUS" --config.file="$PROM/prometheus.yml" \
		--storage.tsdb.path="$PROM/data" \
		--web.listen-address="127.0.0.1:$(pport)" \
		>"$TEST_DIR/prometheus.log" 2>&1 </dev/null &
	  echo $! >"$TEST_DIR/prometheus.pid" ) &&
	wait_for 30 curl -sf --max-time 2 "http://127.0.0.1:$(pport)/-/ready" -o /dev/null || {
		tail -n 20 "$TEST_DIR/prometheus.log" "$TEST_DIR/node_exporter.log"; exit 1; }
	# The scrape works before furrow wrote anything.
	wait_prom "up{job=\"node\"}" 1
'

test_expect_success 'apply v1: the textfile appears (0644, valid), Prometheus sees it' '
	svc_commit 1 &&
	fapply >out 2>err &&
	check_converged "$ST" v1 &&
	test -f "$TF/furrow.prom" &&
	test "$(stat -c %a "$TF/furrow.prom")" = 644 &&
	test "$(ls -A "$TF")" = furrow.prom &&
	"$PROMTOOL" check metrics <"$TF/furrow.prom" &&
	s=$(slot_now) && echo "$s" >"$TEST_DIR/slot1" &&
	wait_prom "furrow_app_active_slot{app=\"web\",slot=\"$s\"}" 1 &&
	prom_is "count(furrow_app_active_slot{app=\"web\"} == 1)" 1 &&
	prom_is "furrow_app_healthy{app=\"web\"}" 1 &&
	prom_is "furrow_rollbacks_total{app=\"web\"}" 0 &&
	prom_is "furrow_applied_serial" 1 &&
	prom_is "furrow_last_pass_exit_code" 0 &&
	prom_above furrow_passes_total 0 &&
	prom_above furrow_last_success_timestamp_seconds $(( $(date +%s) - 120 )) &&
	prom_is "count(furrow_build_info)" 1 &&
	prom_is "node_textfile_scrape_error" 0 &&
	prom furrow_passes_total >"$TEST_DIR/passes1"
'

test_expect_success 'apply v2: the active slot switches, passes grow' '
	svc_commit 2 &&
	fapply >out 2>err &&
	check_converged "$ST" v2 &&
	old=$(cat "$TEST_DIR/slot1") &&
	s=$(slot_now) && test "$s" != "$old" && echo "$s" >"$TEST_DIR/slot2" &&
	wait_prom "furrow_app_active_slot{app=\"web\",slot=\"$s\"}" 1 &&
	prom_is "furrow_app_active_slot{app=\"web\",slot=\"$old\"}" 0 &&
	prom_above furrow_passes_total "$(cat "$TEST_DIR/passes1")" &&
	prom_is "furrow_app_healthy{app=\"web\"}" 1 &&
	prom_is "furrow_rollbacks_total{app=\"web\"}" 0 &&
	prom_is "node_textfile_scrape_error" 0 &&
	prom furrow_passes_total >"$TEST_DIR/passes2"
'

test_expect_success 'a broken v3 is rolled back: rollbacks_total 1, slot kept, healthy' '
	SVC_CHECK_PATH=not-there SVC_RETRIES=2 svc_commit 3 &&
	test_expect_code 5 fapply >out 2>err &&
	check_converged "$ST" v2 &&
	s=$(cat "$TEST_DIR/slot2") && test "$(slot_now)" = "$s" &&
	wait_prom "furrow_rollbacks_total{app=\"web\"}" 1 &&
	prom_is "furrow_app_active_slot{app=\"web\",slot=\"$s\"}" 1 &&
	prom_is "count(furrow_app_active_slot{app=\"web\"} == 1)" 1 &&
	prom_is "furrow_app_healthy{app=\"web\"}" 1 &&
	prom_is "furrow_app_held{app=\"web\"}" 1 &&
	prom_is "furrow_last_pass_exit_code" 5 &&
	prom_above furrow_passes_total "$(cat "$TEST_DIR/passes2")" &&
	prom_is "node_textfile_scrape_error" 0 &&
	prom furrow_passes_total >"$TEST_DIR/passes3"
'

test_expect_success 'furrow run writes it too: passes grow, v4 switches the slot' '
	s=$(cat "$TEST_DIR/slot2") &&
	( "$FURROW" -c "$D/agent.lua" run >"$D/daemon.log" 2>&1 </dev/null &
	  echo $! >"$D/daemon.pid" ) &&
	track_pid "$(cat "$D/daemon.pid")" &&
	# The first pass: v3 is held, not tried again; nothing rolls back.
	wait_for 30 prom_above furrow_passes_total "$(cat "$TEST_DIR/passes3")" &&
	prom_is "furrow_rollbacks_total{app=\"web\"}" 1 &&
	prom_is "furrow_app_held{app=\"web\"}" 1 &&
	svc_commit 4 &&
	furrow -c "$D/agent.lua" sync --now >out &&
	case $s in a) new=b ;; *) new=a ;; esac &&
	wait_prom "furrow_app_active_slot{app=\"web\",slot=\"$new\"}" 1 &&
	check_converged "$ST" v4 &&
	prom_is "furrow_app_active_slot{app=\"web\",slot=\"$s\"}" 0 &&
	prom_is "furrow_app_healthy{app=\"web\"}" 1 &&
	prom_is "furrow_app_held{app=\"web\"}" 0 &&
	prom_is "furrow_rollbacks_total{app=\"web\"}" 1 &&
	prom_is "furrow_last_pass_exit_code" 0 &&
	prom_above furrow_passes_total "$(( $(cat "$TEST_DIR/passes3") + 1 ))" &&
	prom_is "node_textfile_scrape_error" 0 &&
	"$PROMTOOL" check metrics <"$TF/furrow.prom" &&
	test "$(ls -A "$TF")" = furrow.prom &&
	kill -TERM "$(cat "$D/daemon.pid")" &&
	wait_for 10 daemon_gone
'

test_done
