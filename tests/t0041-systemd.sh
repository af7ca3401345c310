#!/usr/bin/env bash
# The systemd driver against a real systemd: PID 1 of a Podman container
# made from a minimal Debian bookworm root (mmdebstrap), with the static
# furrow copied in and applying a signed repository bind-mounted from the
# host.  An app "web" is a unit running python's http.server from its
# slot (WorkingDirectory= from furrow's drop-in): install, update,
# health failure and rollback, kill -9 of furrow mid-update, removal;
# units that are not furrow-web-* are never touched.
#
# The root is cached outside the work tree, in
# ${XDG_CACHE_HOME:-~/.cache}/furrow/systemd-rootfs-<key>.tar (key: a hash
# of the suite, package list and mirror), and imported once as the image
# localhost/furrow-test-systemd:<key> in Podman's default storage.  No
# mmdebstrap, no Podman or not root: every test is skipped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-apply.sh"

PKGS=systemd,systemd-sysv,python3,curl,git,openssh-client
CTR=furrow-t0041-$$
ST=/var/lib/furrow            # furrow's state directory, in the container
UNITS=/run/systemd/system
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/furrow

# The Debian mirror apt uses here (only Debian's archive is reachable).
debian_mirror() {
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }')
	[ -n "$m" ] || m=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' \
		/etc/apt/sources.list 2>/dev/null)
	echo "${m:-http://deb.debian.org/debian}"
}

# Build (once) and import (once) the root; print the image name.
systemd_image() {
	local mirror key tar img
	mirror=$(debian_mirror)
	key=$(printf 'bookworm minbase %s %s' "$PKGS" "$mirror" | sha256sum | cut -c1-16)
	tar=$CACHE/systemd-rootfs-$key.tar
	img=localhost/furrow-test-systemd:$key
	if ! podman image exists "$img"; then
		if [ ! -s "$tar" ]; then
			mkdir -p "$CACHE" &&
			mmdebstrap --quiet --variant=minbase --format=tar \
				--include="$PKGS" bookworm "$tar.tmp.$$" "$mirror" \
				>&2 || { rm -f "$tar.tmp.$$"; return 1; }
			mv "$tar.tmp.$$" "$tar" || return 1
		fi
		podman import -q "$tar" "$img" >/dev/null || return 1
	fi
	echo "$img"
}

cx() { podman exec "$CTR" "$@"; }
fa() { cx /usr/local/bin/furrow -c "$TEST_DIR/agent.lua" apply "$@"; }
port_in() { case $1 in a) echo 18081 ;; *) echo 18082 ;; esac; }
served_in() { cx curl -s --max-time 2 "http://127.0.0.1:$(port_in "$1")/version.txt" || true; }
state_of() { cx systemctl is-active "furrow-web-$1.service" || true; }

# sd_commit N [broken]: web serves vN; a broken version never passes its
# check.  Both slots run at once (start-first), so the port follows
# $FURROW_SLOT, and the check asks the port of the slot it runs in.
sd_commit() {
	local n=$1 want=v$1
	[ "${2:-}" = broken ] && want=never
	mkdir -p "$W/web" &&
	echo "v$n" >"$W/web/version.txt" &&
	cat >"$W/web/web.service" <<-\EOU &&
	[Unit]
	Description=furrow test app web
	[Service]
	ExecStart=/bin/sh -c 'case "$$FURROW_SLOT" in a) p=18081 ;; *) p=18082 ;; esac; exec /usr/bin/python3 -m http.server --bind 127.0.0.1 $$p'
	EOU
	cat >"$W/web/check.sh" <<-EOS &&
	#!/bin/sh
	case \${PWD##*/} in a) p=18081 ;; *) p=18082 ;; esac
	/usr/bin/curl -sf --max-time 1 http://127.0.0.1:\$p/version.txt | grep -qx $want
	EOS
	cat >"$W/furrow.lua" <<-EOL &&
	serial = 1
	app "web" { kind = "systemd", files = "web", unit = "web/web.service",
	  data = { "db" },
	  health = { exec = { "/bin/sh", "check.sh" }, interval = 0.2, timeout = 1,
	             retries = 5, settle = 0.3 } }
	EOL
	commit_tree "v$n"
}

# converged vN: one slot current, its unit active and answering vN from
# the slot (cwd from the drop-in), the other slot's unit not active.
converged() {
	local cur other got
	cur=$(cx readlink "$ST/apps/web/current") || { echo "no current"; return 1; }
	case $cur in a) other=b ;; b) other=a ;; *) echo "current -> $cur"; return 1 ;; esac
	[ "$(state_of "$cur")" = active ] || {
		echo "furrow-web-$cur: $(state_of "$cur")"; return 1; }
	[ "$(state_of "$other")" != active ] || {
		echo "furrow-web-$other is active too"; return 1; }
	got=$(served_in "$cur")
	[ "$got" = "$1" ] || { echo "slot $cur serves '$got', want '$1'"; return 1; }
	[ "$(cx systemctl show -P WorkingDirectory "furrow-web-$cur.service")" = \
	  "$ST/apps/web/$cur" ] || { echo "WorkingDirectory is wrong"; return 1; }
	echo "$cur" >"$TEST_DIR/cur"
}

# The units furrow must never touch are still there and running.
foreign_intact() {
	cx test -f /etc/systemd/system/hello.service &&
	cx test -f "$UNITS/furrow-other-a.service" &&
	[ "$(cx systemctl is-active hello.service)" = active ] &&
	[ "$(cx systemctl is-active furrow-other-a.service)" = active ]
}

IMG=
if [ "$(id -u)" != 0 ] || ! command -v podman >/dev/null ||
   ! command -v runc >/dev/null; then
	SKIP="needs root, podman and runc"
elif ! command -v mmdebstrap >/dev/null && [ -z "$(ls "$CACHE"/systemd-rootfs-*.tar 2>/dev/null)" ]; then
	SKIP="needs mmdebstrap (or a cached root)"
else
	# The configuration this machine needs (no CAP_SYS_RESOURCE, hybrid
	# cgroups): runc, cgroupfs, ulimits within the hard limits.
	cat >"$TEST_DIR/containers.conf" <<-\EOC
	[containers]
	default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
	[engine]
	runtime = "runc"
	cgroup_manager = "cgroupfs"
	EOC
	export CONTAINERS_CONF=$TEST_DIR/containers.conf
	if IMG=$(systemd_image 2>"$TEST_DIR/image.err"); then
		SKIP=
	else
		SKIP="cannot build the systemd root: $(tail -n 1 "$TEST_DIR/image.err")"
	fi
fi

if [ -n "$SKIP" ]; then
	test_skip "systemd driver tests" "$SKIP"
	test_done
fi

test_on_exit "podman rm -f -t 0 $CTR"

test_expect_success 'setup: systemd as PID 1, furrow inside, a signed repository' '
	apply_lib_init &&
	podman run -d --name "$CTR" --systemd=always --network=none \
		-v "$TEST_DIR:$TEST_DIR" "$IMG" /lib/systemd/systemd >/dev/null &&
	for i in $(seq 100); do
		s=$(cx systemctl is-system-running 2>/dev/null || true)
		case $s in running | degraded) break ;; esac
		sleep 0.1
	done &&
	case $s in running | degraded) ;; *) echo "systemd: $s"; false ;; esac &&
	podman cp "$FURROW" "$CTR:/usr/local/bin/furrow" &&
	cat >"$TEST_DIR/agent.lua" <<-EOA &&
	return {
	  host = { id = "edge-1" },
	  source = { url = "$TEST_DIR/srv/state.git", interval = 3600, jitter = 0 },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "$ST",
	  apply = { stop_timeout = 3 },
	}
	EOA
	cx sh -c "printf \"[Service]\\nExecStart=/bin/sleep infinity\\n\" >/etc/systemd/system/hello.service" &&
	cx sh -c "printf \"[Service]\\nExecStart=/bin/sleep infinity\\n\" >$UNITS/furrow-other-a.service" &&
	cx systemctl daemon-reload &&
	cx systemctl start hello.service furrow-other-a.service &&
	foreign_intact
'

test_expect_success 'install: the unit runs from slot a and answers v1' '
	sd_commit 1 &&
	fa --json >install.json &&
	converged v1 && test "$(cat cur)" = a &&
	cx test -f "$UNITS/furrow-web-a.service" &&
	cx grep -q "^Environment=.*FURROW_DATA=$ST/apps/web/data" \
		"$UNITS/furrow-web-a.service.d/furrow.conf" &&
	cx test -d "$ST/apps/web/data/db" &&
	foreign_intact
'

test_expect_success 'a second pass changes nothing' '
	pid=$(cx systemctl show -P MainPID furrow-web-a.service) &&
	fa --json >again.json &&
	grep -q "\"outcome\": *\"unchanged\"" again.json &&
	test "$(cx systemctl show -P MainPID furrow-web-a.service)" = "$pid"
'

test_expect_success 'update: slot b active with v2, slot a stopped but kept' '
	sd_commit 2 &&
	fa >update.out 2>&1 &&
	converged v2 && test "$(cat cur)" = b &&
	test "$(state_of a)" = inactive &&
	cx test -f "$UNITS/furrow-web-a.service" &&
	foreign_intact
'

test_expect_success 'broken update: health fails, rolled back to the old unit' '
	sd_commit 3 broken &&
	test_must_fail fa --json >broken.json 2>broken.err &&
	grep -q "rolled.back" broken.json &&
	converged v2 && test "$(cat cur)" = b &&
	test "$(state_of a)" != active &&
	foreign_intact
'

# kill -9 of furrow during an update (after 0.1-0.6 s, somewhere from
# the sync to the settle), then a pass: one unit active, the current
# slot, serving the new version.
for n in 4 5 6; do
	test_expect_success "kill -9 during update to v$n, then apply: consistent" '
		sd_commit '$n' &&
		pid=$(cx sh -c "/usr/local/bin/furrow -c $TEST_DIR/agent.lua apply \
			>/tmp/killed.log 2>&1 & echo \$!") &&
		sleep 0.$(( ('$n' - 3) * 2 - 1 + RANDOM % 2 )) &&
		cx sh -c "kill -9 $pid 2>/dev/null; \
			while kill -0 $pid 2>/dev/null; do sleep 0.05; done" &&
		{ cx grep -q "^Pass:" /tmp/killed.log || echo v'$n' >>killed-mid; } &&
		fa >after.out 2>&1 || { cat after.out; false; }
		converged v'$n' &&
		foreign_intact
	'
done

test_expect_success 'at least one kill landed before the pass ended' '
	test -s killed-mid
'

# A crash at a fault point (core/fault.h) before and after the switch:
# the next pass recovers (back or forward) and retries.
n=7
for pt in start-done health-done switch switch-done stop-old; do
	test_expect_success "crash at $pt: recovered, one unit active" '
		sd_commit '$n' &&
		test_expect_code 86 cx env FURROW_CRASH_AT='$pt' \
			/usr/local/bin/furrow -c "$TEST_DIR/agent.lua" apply \
			>crash.out 2>&1 &&
		fa >recover.out 2>&1 || { cat crash.out recover.out; false; }
		converged v'$n' && foreign_intact
	'
	n=$((n + 1))
done

test_expect_success 'drift: the active unit stopped and deleted by hand is restored' '
	cur=$(cat cur) &&
	cx systemctl stop "furrow-web-$cur.service" &&
	cx rm -r "$UNITS/furrow-web-$cur.service" "$UNITS/furrow-web-$cur.service.d" &&
	cx systemctl daemon-reload &&
	fa >drift.out 2>&1 || { cat drift.out; false; }
	converged v$((n - 1)) && foreign_intact
'

test_expect_success 'a unit outside files is refused with a clear error' '
	mkdir -p "$W/units" &&
	cp "$W/web/web.service" "$W/units/bad.service" &&
	cat >>"$W/furrow.lua" <<-\EOL &&
	app "bad" { kind = "systemd", files = "web", unit = "units/bad.service" }
	EOL
	commit_tree bad &&
	test_must_fail fa >bad.out 2>&1 &&
	test_grep -q "app bad: unit: .units/bad.service. is not inside files (.web.)" bad.out &&
	! cx sh -c "ls -d $UNITS/furrow-bad-*" 2>/dev/null &&
	converged v$((n - 1)) && foreign_intact
'

test_expect_success 'removal: both units and drop-ins gone, foreign units untouched' '
	printf "serial = 1\n" >"$W/furrow.lua" &&
	commit_tree remove &&
	fa >remove.out 2>&1 &&
	! cx sh -c "ls -d $UNITS/furrow-web-*" 2>/dev/null &&
	test -z "$(cx systemctl list-units --all --plain --no-legend "furrow-web-*")" &&
	! cx test -e "$ST/apps/web/a" &&
	foreign_intact
'

test_done
