# lib-apply.sh - a signed desired-state repository with one supervised
# service, for the apply and daemon tests (sourced after lib.sh).
#
#   apply_lib_init                  keys, trust, bare repo, work tree, port
#   svc_commit N [stop-first|start-first]
#                                   commit app "web" serving "vN"
#   write_agent DIR [interval]      DIR/agent.lua, state in DIR/state
#   served [PORT]                   what the service answers on /version.txt
#   svc_procs STATE                 pids of python processes running from
#                                   STATE/apps/web (their cwd is a slot)
#   check_converged STATE vN        the invariants after a pass: one slot
#                                   current, it answers vN, one process,
#                                   pid file agrees, no other slot running
#   kill_services DIR               stop every service under DIR
#
# The service: `files = "svc"`, a shell script that execs
# `/usr/bin/python3 -m http.server` on 127.0.0.1 serving its slot
# directory, which holds version.txt.  stop-first binds one fixed port
# (`port`) and is checked over http; start-first runs both slots at once,
# so the port follows the slot (`port_of_slot a|b`, chosen by
# $FURROW_SLOT) and the check is an exec script that asks the port of the
# slot directory it runs in.
#
# Every python process started from $TEST_DIR is killed (by process
# group) at exit; so is every pid listed in $TEST_DIR/.pids.

K=$TEST_DIR/keys
W=$TEST_DIR/work
PY=/usr/bin/python3

apply_lib_init() {
	chmod 711 "$TEST_DIR" &&
	mkdir -p "$K" &&
	ssh-keygen -q -t ed25519 -N "" -C operator -f "$K/operator" &&
	echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
		>"$K/allowed_signers" &&
	mkdir -p "$TEST_DIR/srv" &&
	git init -q --bare -b main "$TEST_DIR/srv/state.git" &&
	git init -q -b main "$W" &&
	git -C "$W" remote add origin "$TEST_DIR/srv/state.git" &&
	free_port >"$TEST_DIR/port" &&
	free_port >"$TEST_DIR/port_a" &&
	free_port >"$TEST_DIR/port_b"
}

# Ports, readable in test bodies (subshells) once apply_lib_init ran.
port() { cat "$TEST_DIR/port"; }
port_of_slot() { cat "$TEST_DIR/port_$1"; }

commit_tree() {
	git -C "$W" add -A &&
	git -C "$W" -c user.name=Operator -c user.email=op@example.net \
		-c gpg.format=ssh -c user.signingkey="$K/operator" \
		commit -q -S --allow-empty -m "${1:-change}" &&
	git -C "$W" push -q -f origin HEAD:refs/heads/main &&
	chmod -R go+rX "$TEST_DIR/srv"
}

# svc_commit N [strategy]: web serves "vN".  For a version that never
# gets healthy, SVC_CHECK_PATH names another file for the http check
# (its body is not checked then) and SVC_RETRIES raises the retries.
svc_commit() {
	local n=$1 strategy=${2:-stop-first} health
	mkdir -p "$W/svc" &&
	echo "v$n" >"$W/svc/version.txt" || return 1
	if [ "$strategy" = stop-first ]; then
		cat >"$W/svc/run.sh" <<-EOS
		#!/bin/sh
		exec $PY -m http.server --bind 127.0.0.1 $(port)
		EOS
		if [ -n "${SVC_CHECK_PATH:-}" ]; then
			health="http = \"http://127.0.0.1:$(port)/$SVC_CHECK_PATH\""
		else
			health="http = \"http://127.0.0.1:$(port)/version.txt\", body = \"v$n\""
		fi
	else
		cat >"$W/svc/run.sh" <<-EOS
		#!/bin/sh
		case \$FURROW_SLOT in a) p=$(port_of_slot a) ;; *) p=$(port_of_slot b) ;; esac
		exec $PY -m http.server --bind 127.0.0.1 \$p
		EOS
		cat >"$W/svc/check.sh" <<-EOS
		#!/bin/sh
		case \${PWD##*/} in a) p=$(port_of_slot a) ;; *) p=$(port_of_slot b) ;; esac
		/usr/bin/curl -sf --max-time 1 http://127.0.0.1:\$p/version.txt | grep -qx v$n
		EOS
		chmod 755 "$W/svc/check.sh"
		health="exec = { \"/bin/sh\", \"check.sh\" }"
	fi
	chmod 755 "$W/svc/run.sh" &&
	cat >"$W/furrow.lua" <<-EOL &&
	serial = 1
	app "web" { kind = "service", files = "svc", exec = { "run.sh" },
	  strategy = "$strategy",
	  health = { $health, interval = 0.2, timeout = 1,
	             retries = ${SVC_RETRIES:-10}, settle = 0.3 } }
	EOL
	commit_tree "v$n"
}

# write_agent DIR [interval]: a host whose state is DIR/state.
write_agent() {
	mkdir -p "$1" &&
	cat >"$1/agent.lua" <<-EOA
	return {
	  host = { id = "edge-1" },
	  source = { url = "$TEST_DIR/srv/state.git", interval = ${2:-3600}, jitter = 0 },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  apply = { stop_timeout = 3 },
	}
	EOA
}

# served [PORT]: the body of /version.txt, or "" when nothing answers.
served() {
	curl -s --max-time 2 "http://127.0.0.1:${1:-$(port)}/version.txt" || true
}

# The port web's slot SLOT listens on for STRATEGY.
slot_port() { # slot strategy
	if [ "${2:-stop-first}" = stop-first ]; then port; else port_of_slot "$1"; fi
}

# svc_procs DIR: python processes whose working directory is under DIR,
# as "pid cwd" lines.
svc_procs() {
	local p c
	for p in /proc/[0-9]*; do
		c=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $c in
		"$1"/*) [ "$(readlink "$p/exe" 2>/dev/null)" = "$(readlink -f $PY)" ] &&
			echo "${p#/proc/} $c" ;;
		esac
	done
	return 0
}

# pid_of STATE SLOT: the pid in web's pid file for SLOT, or nothing.
pid_of() {
	[ -f "$1/apps/web/run/$2.pid" ] && cut -d" " -f1 "$1/apps/web/run/$2.pid"
	return 0
}

# check_converged STATE VERSION [strategy]: after a complete pass.
check_converged() {
	local st=$1 want=$2 strategy=${3:-stop-first} cur other procs pid got
	cur=$(readlink "$st/apps/web/current") || {
		echo "no current slot"; return 1; }
	case $cur in a) other=b ;; b) other=a ;; *)
		echo "current -> '$cur'"; return 1 ;; esac
	[ ! -e "$st/apps/web/current.tmp" ] || { echo "current.tmp left"; return 1; }
	got=$(served "$(slot_port "$cur" "$strategy")")
	[ "$got" = "$want" ] || {
		echo "slot $cur serves '$got', want '$want'"; return 1; }
	procs=$(svc_procs "$st/apps/web")
	[ "$(printf '%s\n' "$procs" | grep -c .)" = 1 ] || {
		echo "want one service process, have:"; echo "$procs"; return 1; }
	[ "${procs#* }" = "$st/apps/web/$cur" ] || {
		echo "the process runs from ${procs#* }, current is $cur"; return 1; }
	pid=$(pid_of "$st" "$cur")
	[ "${procs%% *}" = "$pid" ] || {
		echo "pid file of $cur says '$pid', process is ${procs%% *}"; return 1; }
	# The listener is that process (ss names it).
	ss -ltnpH "sport = :$(slot_port "$cur" "$strategy")" | grep -q "pid=$pid," || {
		echo "port not held by $pid:"; ss -ltnp; return 1; }
	# The other slot has no live process (a stale pid file is harmless).
	pid=$(pid_of "$st" "$other")
	if [ -n "$pid" ] && [ -d "/proc/$pid" ] &&
	   [ "$(cut -d" " -f2 "$st/apps/web/run/$other.pid")" = \
	     "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" ]; then
		echo "slot $other still runs as $pid"; return 1
	fi
	return 0
}

# kill_services DIR: TERM the process group of every python process
# working under DIR (each leads its group), then wait for them.
kill_services() {
	local pid i
	for pid in $(svc_procs "$1" | cut -d" " -f1); do
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	done
	for i in $(seq 50); do
		[ -z "$(svc_procs "$1")" ] && return 0
		sleep 0.1
	done
	for pid in $(svc_procs "$1" | cut -d" " -f1); do
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

# Background furrows a test started: their pids go here.
track_pid() { echo "$1" >>"$TEST_DIR/.pids"; }
kill_tracked() {
	local pid
	[ -f "$TEST_DIR/.pids" ] || return 0
	# Only if the pid is still a furrow (not a reused number).
	while read -r pid; do
		[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$FURROW" ] &&
			kill -KILL "$pid" 2>/dev/null
	done <"$TEST_DIR/.pids"
	return 0
}
test_on_exit 'kill_services "$TEST_DIR"'
test_on_exit 'kill_tracked'
