#!/usr/bin/env bash
# furrow apply with kind = "container": the container driver against a
# real Podman API service (`podman system service` on a socket in the
# test dir, its own storage, runc, cgroupfs) and a real registry
# (docker-registry on loopback), with images built here from
# busybox-static: create, update (old container kept, stopped), a broken
# update rolled back by restarting the old container (registry down: no
# pull), drift (removed, stopped, replaced by a foreign container), the
# engine down, removal that leaves foreign containers alone.
#
# Containers use network "host" or "none" only: podman's default bridge
# (CNI, iptables) is never created.
. "$(dirname "$0")/lib.sh"
# The fetch and read children run as uid 65534 when furrow is root.
chmod 711 "$TEST_DIR"

# The packages this needs, installed when missing (as root).
need=()
for p in podman skopeo docker-registry runc busybox-static; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${need[@]}" >/dev/null 2>&1 || true
fi
for c in podman skopeo docker-registry runc; do
	command -v $c >/dev/null || { echo "1..0 # SKIP $c is not installed"; exit 0; }
done
# The images' only program: busybox, statically linked.
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
	echo "1..0 # SKIP /bin/busybox is not busybox-static"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root (podman with runc, cgroupfs)"
	exit 0
fi

K=$TEST_DIR/keys
W=$TEST_DIR/work
S=$TEST_DIR/a/state
PM=$TEST_DIR/podman
SOCK=$PM/podman.sock
P_REG=$(free_port)
P_WEB=$(free_port)
REG=127.0.0.1:$P_REG
# A second registry that wants a login (htpasswd), for registry_auth_file.
P_REG2=$(free_port)
REG2=127.0.0.1:$P_REG2
export K W S PM SOCK P_REG P_WEB REG

# Podman: this machine's working settings (runc, cgroupfs, ulimits under
# the hard limits), and everything it keeps under $PM: storage (vfs),
# run state, tmp dir, network config, events.
mkdir -p "$PM"
cat >"$PM/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$PM/tmp"
[network]
network_config_dir = "$PM/net"
EOF
cat >"$PM/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$PM/root"
runroot = "$PM/run"
EOF
cat >"$PM/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$REG"
insecure = true
[[registry]]
location = "$REG2"
insecure = true
EOF
export CONTAINERS_CONF=$PM/containers.conf
export CONTAINERS_STORAGE_CONF=$PM/storage.conf
export CONTAINERS_REGISTRIES_CONF=$PM/registries.conf

# engine_start / engine_stop: the API service, its pid in $PM/pid.
engine_start() {
	podman system service --time=0 "unix://$SOCK" >>"$PM/service.log" 2>&1 </dev/null &
	echo $! >"$PM/pid"
	local i
	for i in $(seq 100); do
		[ "$(curl -s --max-time 1 --unix-socket "$SOCK" http://d/_ping)" = OK ] &&
			return 0
		sleep 0.1
	done
	echo "podman system service did not answer:" >&2
	cat "$PM/service.log" >&2
	return 1
}
engine_stop() {
	local pid i
	pid=$(cat "$PM/pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$PM/pid" "$SOCK"
	return 0
}
registry_start() {
	docker-registry serve "$TEST_DIR/registry/config.yml" \
		>>"$TEST_DIR/registry/log" 2>&1 </dev/null &
	echo $! >"$TEST_DIR/registry/pid"
	local i
	for i in $(seq 50); do
		curl -sf --max-time 1 "http://$REG/v2/" >/dev/null && return 0
		sleep 0.1
	done
	echo "the registry did not answer" >&2
	return 1
}
registry_stop() {
	local pid
	pid=$(cat "$TEST_DIR/registry/pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	rm -f "$TEST_DIR/registry/pid"
}
# Everything this test's podman made goes, whatever state it is in: the
# containers (with their conmon), then the service; mounts left under
# the test dir are lazily unmounted.
cleanup_podman() {
	timeout 60 podman rm -af -t 0 >/dev/null 2>&1
	engine_stop
	grep -o " $TEST_DIR[^ ]*" /proc/mounts | sort -r |
		while read -r m; do umount -l "$m"; done
	return 0
}
test_on_exit cleanup_podman
test_on_exit registry_stop

# mkimg VERSION DIR: an OCI layout in DIR/oci, tag VERSION, of a busybox
# root whose /www/version.txt says VERSION; its manifest digest in
# DIR/digest.
mkimg() {
	local v=$1 d=$2 r=$2/rootfs a diff lsha lsz csha csz msha msz
	mkdir -p "$r/bin" "$r/www" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" \
		"$d/oci/blobs/sha256"
	cp /bin/busybox "$r/bin/"
	for a in sh httpd cat echo sleep ls; do ln -s busybox "$r/bin/$a"; done
	echo "root:x:0:0:root:/:/bin/sh" >"$r/etc/passwd"
	echo "root:x:0:" >"$r/etc/group"
	echo "$v" >"$r/www/version.txt"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C "$r" -cf "$d/layer.tar" .
	diff=$(sha256sum <"$d/layer.tar" | cut -d" " -f1)
	gzip -n -1 -c "$d/layer.tar" >"$d/layer.tgz"
	lsha=$(sha256sum <"$d/layer.tgz" | cut -d" " -f1)
	lsz=$(stat -c %s "$d/layer.tgz")
	mv "$d/layer.tgz" "$d/oci/blobs/sha256/$lsha"
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/httpd","-f","-p","8080","-h","/www"],"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$diff" >"$d/config.json"
	csha=$(sha256sum <"$d/config.json" | cut -d" " -f1)
	csz=$(stat -c %s "$d/config.json")
	mv "$d/config.json" "$d/oci/blobs/sha256/$csha"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
		"$csha" "$csz" "$lsha" "$lsz" >"$d/manifest.json"
	msha=$(sha256sum <"$d/manifest.json" | cut -d" " -f1)
	msz=$(stat -c %s "$d/manifest.json")
	mv "$d/manifest.json" "$d/oci/blobs/sha256/$msha"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
		"$msha" "$msz" "$v" >"$d/oci/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci/oci-layout"
	echo "sha256:$msha" >"$d/digest"
}
# The pinned reference of image vN, as furrow.lua writes it (with its
# tag) and as the engine stores it (without).
img() { echo "$REG/edge/web:$1@$(cat "$TEST_DIR/img-$1/digest")"; }
img_ref() { echo "$REG/edge/web@$(cat "$TEST_DIR/img-$1/digest")"; }

commit_tree() {
	git -C "$W" add -A &&
	git -C "$W" -c user.name=Operator -c user.email=op@example.net \
		-c gpg.format=ssh -c user.signingkey="$K/operator" \
		commit -q -S --allow-empty -m "change" &&
	git -C "$W" push -q -f origin HEAD:refs/heads/main &&
	chmod -R go+rX "$TEST_DIR/srv"
}
# web IMAGE_VERSION [WWW_DIR] [BODY]: the app, serving WWW_DIR (default
# /www) of image vN on P_WEB; healthy when version.txt contains BODY
# (default the image version).
web() {
	cat <<-EOF
	app "web" { kind = "container", image = "$(img "$1")", network = "host",
	  exec = { "httpd", "-f", "-p", "$P_WEB", "-h", "${2:-/www}" },
	  volumes = { "shared:/www/shared:ro" }, env = { GREETING = "hello" },
	  limits = { memory = "64M", pids = 64, cpu = 0.5 }, read_only = true,
	  strategy = "stop-first",
	  health = { http = "http://127.0.0.1:$P_WEB/version.txt", body = "${3:-$1}",
	             interval = 0.2, timeout = 1, retries = 15, settle = 0.3 } }
	EOF
}
publish() { { echo "serial = 1"; "$@"; } >"$W/furrow.lua" && commit_tree; }
none() { :; }
fa() { furrow -c "$TEST_DIR/a/agent.lua" "$@"; }
# xapply CODE: furrow apply must exit CODE; output in out (both streams).
xapply() {
	local want=$1 rc=0
	timeout -k 5 120 "$FURROW" -c "$TEST_DIR/a/agent.lua" apply >out 2>&1 || rc=$?
	cat out
	[ "$rc" = "$want" ] || { echo "apply: want exit $want, got $rc" >&2; return 1; }
}
served() { curl -s --max-time 2 "http://127.0.0.1:$P_WEB/${1:-version.txt}" || true; }
# answers TEXT [PATH]: the app answers exactly TEXT.
answers() {
	local got
	got=$(served "${2:-}")
	[ "$got" = "$1" ] || { echo "port $P_WEB answers '$got', want '$1'" >&2; return 1; }
}
# ins NAME FORMAT: podman inspect of container NAME.
ins() { podman inspect --type container --format "$2" "$1"; }
running() { [ "$(ins "$1" '{{.State.Running}}')" = true ]; }
exists() { podman container exists "$1"; }
label() { ins "$1" "{{index .Config.Labels \"$2\"}}"; }
nope() { if "$@"; then echo "nope: succeeded: $*" >&2; return 1; fi; }

test_expect_success 'setup: podman service, registry, images v1 and v2 pushed, signed repo, agent' '
	engine_start
	mkdir -p registry
	cat >registry/config.yml <<-EOF
	version: 0.1
	log: {level: warn}
	storage:
	  filesystem: {rootdirectory: $TEST_DIR/registry/data}
	  delete: {enabled: true}
	http:
	  addr: $REG
	EOF
	registry_start
	for v in v1 v2; do
		mkimg $v "$TEST_DIR/img-$v"
		skopeo copy -q --dest-tls-verify=false "oci:$TEST_DIR/img-$v/oci:$v" \
			"docker://$REG/edge/web:$v"
	done
	# The registry serves the manifests byte for byte: same digests.
	curl -sfI -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		"http://$REG/v2/edge/web/manifests/v1" >h1
	grep -qi "docker-content-digest: $(cat img-v1/digest)" h1
	nope podman image exists "$(img_ref v1)"
	mkdir -p "$K"
	ssh-keygen -q -t ed25519 -N "" -C operator -f "$K/operator"
	echo "operator@example.net namespaces=\"git\" $(cut -d" " -f1,2 "$K/operator.pub")" \
		>"$K/allowed_signers"
	mkdir -p srv
	git init -q --bare -b main srv/state.git
	git init -q -b main work
	git -C work remote add origin "$TEST_DIR/srv/state.git"
	mkdir -p a
	cat >a/agent.lua <<-EOA
	return {
	  host = { id = "edge-1" },
	  source = { url = "$TEST_DIR/srv/state.git" },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  containers = { socket = "$SOCK" },
	  apply = { stop_timeout = 1 },
	}
	EOA
	fa check --quiet
'

test_expect_success 'create: image pulled by digest, web-a running with furrow labels and the spec' '
	publish web v1
	xapply 0
	test_grep "web (container)  create: applied, slot a" out
	answers v1
	running web-a
	nope exists web-b
	test "$(label web-a furrow.app)" = web
	test "$(label web-a furrow.slot)" = a
	test "$(label web-a furrow.commit)" = "$(git -C work rev-parse HEAD)"
	label web-a furrow.spec | grep -qE "^[0-9a-f]{64}$"
	label web-a furrow.config | grep -qE "^[0-9a-f]{64}$"
	podman image exists "$(img_ref v1)"
	test "$(ins web-a "{{.Config.Image}}")" = "$(img_ref v1)"
	test "$(ins web-a "{{.HostConfig.NetworkMode}}")" = host
	test "$(ins web-a "{{.HostConfig.ReadonlyRootfs}}")" = true
	test "$(ins web-a "{{.HostConfig.Privileged}}")" = false
	test "$(ins web-a "{{.HostConfig.Memory}}")" = 67108864
	test "$(ins web-a "{{.HostConfig.PidsLimit}}")" = 64
	test "$(ins web-a "{{.HostConfig.NanoCpus}}")" = 500000000
	ins web-a "{{range .Config.Env}}{{println .}}{{end}}" | grep -qx GREETING=hello
	# The volume is the app data directory, mounted read-only.
	test -d "$S/apps/web/data/shared"
	echo from-host >"$S/apps/web/data/shared/note.txt"
	answers from-host shared/note.txt
	ins web-a "{{range .Mounts}}{{.Source}} {{.Destination}} {{.RW}}{{end}}" >m
	test "$(cat m)" = "$S/apps/web/data/shared /www/shared false"
	fa status --json >st.json
	grep -q "\"health\": *\"healthy\"" st.json
'

test_expect_success 'a pass with nothing to do touches nothing' '
	id=$(ins web-a "{{.Id}}")
	xapply 0
	test "$(ins web-a "{{.Id}}")" = "$id"
	running web-a
'

# chk EXEC...: a second app whose only check is an exec check.
chk() {
	printf 'app "chk" { kind = "container", image = "%s", network = "none", exec = { "sleep", "600" }, health = { exec = { %s }, interval = 0.2, retries = 3, settle = 0 } }\n' \
		"$(img v1)" "$1"
}
test_expect_success 'an exec health check runs inside the container, not on the host' '
	test ! -e /www/version.txt
	publish web v1 && printf "%s\n" "$(chk "\"cat\", \"/www/version.txt\"")" >>"$W/furrow.lua" && commit_tree
	xapply 0
	test_grep "chk (container)  create: applied" out
	running chk-a
	printf "%s\n" "$(chk "\"cat\", \"/nowhere\"")" >"$TEST_DIR/chk.lua"
	publish web v1 && cat "$TEST_DIR/chk.lua" >>"$W/furrow.lua" && commit_tree
	xapply 5
	test_grep "chk (container)  update: rolled-back  health check failed after .* cat: exit 1" out
	running chk-a
	publish web v1
	xapply 0
	nope exists chk-a
	nope exists chk-b
'

test_expect_success 'update to v2: web-b runs v2, web-a is stopped but kept, with its image' '
	ida=$(ins web-a "{{.Id}}")
	publish web v2
	xapply 0
	test_grep "web (container)  update: applied, slot b" out
	answers v2
	running web-b
	test "$(label web-b furrow.slot)" = b
	exists web-a
	nope running web-a
	test "$(ins web-a "{{.Id}}")" = "$ida"
	podman image exists "$(img_ref v1)"
	podman image exists "$(img_ref v2)"
'

# one_running: exactly one of web-a and web-b runs, and it is the slot
# `current` names.
one_running() {
	local cur n=0
	cur=$(readlink "$TEST_DIR/a/state/apps/web/current")
	for s in a b; do
		if running web-$s; then
			n=$((n + 1))
			[ "$s" = "$cur" ] || { echo "web-$s runs, current is $cur" >&2; return 1; }
		fi
	done
	[ $n = 1 ] || { echo "$n slots run" >&2; return 1; }
}
test_expect_success 'crash at every step of a container update: after the next pass one slot runs, the right version' '
	want=v2
	for p in stage stage-done start start-done health health-done switch switch-done confirm confirm-done stop-old stop-old-done prune prune-done; do
		if [ $want = v2 ]; then want=v1; else want=v2; fi
		publish web $want
		rc=0
		FURROW_CRASH_AT=$p timeout -k 5 120 "$FURROW" -c a/agent.lua apply >crash.out 2>&1 || rc=$?
		[ $rc = 86 ] || { cat crash.out; echo "crash at $p: exit $rc" >&2; false; }
		xapply 0
		one_running || { echo "after a crash at $p" >&2; false; }
		answers $want || { echo "after a crash at $p" >&2; false; }
	done
	xapply 0
	test_grep "\"recovered\":0\|Pass: 0 applied" out
	if [ $want != v2 ]; then publish web v2 && xapply 0; fi
	answers v2
'

test_expect_success 'broken v3, registry down: health fails, the old container is restarted, exit 5' '
	idb=$(ins web-b "{{.Id}}")
	registry_stop
	# v3 serves image v2 and its health check wants "v3": never healthy.
	publish web v2 /www v3
	xapply 5
	test_grep "web (container)  update: rolled-back  health check failed" out
	answers v2
	running web-b
	# The same container, started again: no pull, no new container.
	test "$(ins web-b "{{.Id}}")" = "$idb"
	test "$(readlink "$S/apps/web/current")" = b
	# Slot a holds the failed version, stopped.
	exists web-a
	nope running web-a
	test "$(label web-a furrow.commit)" = "$(git -C work rev-parse HEAD)"
	# Held: the next pass does not try it again.
	xapply 5
	test_grep "update: held" out
	test "$(ins web-b "{{.Id}}")" = "$idb"
	# A commit back to v2 is what runs: unchanged, exit 0.
	publish web v2
	xapply 0
	test "$(ins web-b "{{.Id}}")" = "$idb"
'

test_expect_success 'an image that cannot be pulled: pulls retried before anything is touched, the old container keeps running, not held' '
	idb=$(ins web-b "{{.Id}}")
	started=$(ins web-b "{{.State.StartedAt}}")
	mkdir -p img-v9
	echo "sha256:$(printf "%064d" 9)" >img-v9/digest
	publish web v9 /www v2
	xapply 1
	test_grep "web (container)  update: failed  3 pulls failed, the last one: pull of $REG/edge/web@sha256:0*9 failed" out
	test "$(ins web-b "{{.Id}}")" = "$idb"
	test "$(ins web-b "{{.State.StartedAt}}")" = "$started"
	running web-b
	answers v2
	fa status --json >st.json
	! grep -q "\"held\"" st.json
	publish web v2
	xapply 0
'

test_expect_success 'drift: a container removed or stopped by hand is restored (no registry needed)' '
	podman rm -f -t 0 web-b >/dev/null
	xapply 0
	test_grep "repaired" out
	test_grep "container web-b does not exist" out
	running web-b
	answers v2
	test "$(label web-b furrow.app)" = web
	id=$(ins web-b "{{.Id}}")
	podman stop -t 0 web-b >/dev/null
	xapply 0
	test_grep "container web-b is not running" out
	running web-b
	test "$(ins web-b "{{.Id}}")" = "$id"
	answers v2
'

test_expect_success 'a foreign container in the slot is drift furrow reports and does not touch' '
	podman rm -f -t 0 web-b >/dev/null
	podman run -d -q --name web-b --network none "$(img_ref v2)" sleep 600 >/dev/null
	id=$(ins web-b "{{.Id}}")
	xapply 1
	test_grep "container web-b is not furrow.s (no furrow.app label" out
	test_grep "furrow does not touch it" out
	test "$(ins web-b "{{.Id}}")" = "$id"
	running web-b
	test -z "$(label web-b furrow.app)"
	podman rm -f -t 0 web-b >/dev/null
	xapply 0
	test_grep "repaired" out
	answers v2
	test "$(label web-b furrow.app)" = web
'

test_expect_success 'engine down: apply fails clearly, the app keeps running, nothing recorded' '
	engine_stop
	xapply 1
	test_grep "container engine at $SOCK is not answering" out
	answers v2
	# An update while the engine is down is not applied.
	fa status --json >before.json
	publish web v1
	xapply 1
	test_grep "container engine at $SOCK is not answering" out
	answers v2
	fa status --json >after.json
	python3 - before.json after.json <<-\EOP
	import json, sys
	a, b = (json.load(open(f)) for f in sys.argv[1:])
	pick = lambda d: [(x["app"], x.get("slot"), x.get("commit"), x.get("spec_sha256"))
	                  for x in d["apps"]]
	assert pick(a) == pick(b), (pick(a), pick(b))
	EOP
	# Back up: the pass finishes what was cut short, then updates.
	engine_start
	xapply 0
	answers v1
	test "$(readlink "$S/apps/web/current")" = a
	running web-a
	nope running web-b
'

test_expect_success 'a registry that wants a login: refused without containers.registry_auth_file, pulled with it' '
	command -v htpasswd >/dev/null || { echo "# no htpasswd (apache2-utils): skipped"; exit 0; }
	mkdir -p reg2
	htpasswd -Bbn edge s3cret >reg2/htpasswd
	cat >reg2/config.yml <<-EOF
	version: 0.1
	log: {level: warn}
	storage:
	  filesystem: {rootdirectory: $TEST_DIR/reg2/data}
	auth:
	  htpasswd: {realm: furrow-test, path: $TEST_DIR/reg2/htpasswd}
	http:
	  addr: $REG2
	EOF
	docker-registry serve reg2/config.yml >>reg2/log 2>&1 </dev/null &
	echo $! >reg2/pid
	test_on_exit "kill \$(cat $TEST_DIR/reg2/pid) 2>/dev/null"
	for i in $(seq 50); do
		[ "$(curl -s -o /dev/null -w "%{http_code}" "http://$REG2/v2/")" = 401 ] && break
		sleep 0.1
	done
	: an image of its own, so that nothing of it is in the engine yet
	mkimg p1 "$TEST_DIR/img-p1"
	skopeo copy -q --dest-tls-verify=false --dest-creds edge:s3cret \
		"oci:$TEST_DIR/img-p1/oci:p1" "docker://$REG2/edge/private:p1"
	nope podman image exists "$REG2/edge/private@$(cat img-p1/digest)"
	priv="app \"priv\" { kind = \"container\", image = \"$REG2/edge/private@$(cat img-p1/digest)\", network = \"none\", exec = { \"sleep\", \"600\" } }"
	publish web v2 && echo "$priv" >>"$W/furrow.lua" && commit_tree
	xapply 1
	test_grep "priv (container)  create: failed  3 pulls failed" out
	nope exists priv-a
	printf "{\"username\":\"edge\",\"password\":\"s3cret\",\"serveraddress\":\"%s\"}\n" "$REG2" >auth.json
	chmod 600 auth.json
	sed -i "s|containers = { socket = \"$SOCK\" },|containers = { socket = \"$SOCK\", registry_auth_file = \"$TEST_DIR/auth.json\" },|" a/agent.lua
	grep -q registry_auth_file a/agent.lua
	xapply 0
	test_grep "priv (container)  create: applied" out
	running priv-a
	! grep -q s3cret out
	publish web v2
	xapply 0
	nope exists priv-a
'

test_expect_success 'removal: both containers go; foreign ones stay, even one named like a slot' '
	podman create -q --name web-x --network none "$(img_ref v1)" sleep 1 >/dev/null
	podman create -q --name bystander --label furrow.app=other --network none \
		"$(img_ref v1)" sleep 1 >/dev/null
	exists web-a
	exists web-b
	publish none
	xapply 0
	test_grep "web  remove: removed" out
	nope exists web-a
	nope exists web-b
	test -z "$(podman ps -aq --filter label=furrow.app=web)"
	exists web-x
	exists bystander
	# Data is kept (no purge); images stay for the operator to prune.
	test -f "$S/apps/web/data/shared/note.txt"
	podman image exists "$(img_ref v1)"
'

test_expect_success 'no network was made: no CNI config, every container on host or none' '
	test -z "$(ls "$PM/net" | grep -v "^cni.lock$")"
	for c in $(podman ps -aq); do
		case $(ins "$c" "{{.HostConfig.NetworkMode}}") in
		host | none) ;;
		*) echo "container $c uses a network" >&2; false ;;
		esac
	done
'

test_done
