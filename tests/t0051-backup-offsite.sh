#!/usr/bin/env bash
# The offsite copy of backups, end to end, against a real nginx WebDAV
# server over HTTPS with a bearer token (tests/servers.sh):
#   1. `backup now` copies key, chunks/xx/<64 hex> and snapshots/0000000001;
#      every object was read back; no plaintext (content, file names, the
#      key) is in any object;
#   2. a fresh host with only the key and the offsite settings restores the
#      tree byte for byte (modes, owners, mtimes, symlinks, hard links, fifo,
#      holes); `list --offsite`; a given id; another key: exit 3, nothing
#      written;
#   4. append-only: a second snapshot adds snapshots/0000000002; forget
#      and prune delete nothing offsite; a later snapshot overwrites no
#      object;
#   6. a wrong token: a clear refusal, the token never printed, the queue
#      kept; with the right token `backup upload` sends it;
#   5. a byte flipped in a chunk on the server's disk: `verify --offsite
#      --read-data` exits 3 naming the chunk and the file; a restore of
#      that snapshot exits 3 and leaves nothing; a damaged record is
#      named and hides no other snapshot;
#   3. nginx in a network namespace behind a 2 mbit link cut in the middle
#      of an upload: the copy fails within the idle limit, the snapshot is
#      kept locally, `backup upload` fails while the link is down; healed,
#      it sends only what was missing and a fresh host restores it all.
# Needs root and nginx (skips otherwise); case 3 also ip, tc, iptables.
. "$(dirname "$0")/lib.sh"
. "$SRC_DIR/tests/lib-apply.sh"
. "$SRC_DIR/tests/servers.sh"
SERVERS_DIR=$TEST_DIR/servers

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}
[ "$(id -u)" = 0 ] || skip_all "needs root (nginx as root, network namespaces)"
command -v nginx >/dev/null || skip_all "no nginx"
command -v openssl >/dev/null || skip_all "no openssl"
test_on_exit stop_servers

# The service (sleep) of every host this test applied, with its
# supervisor: each runs in a process group of its own, led by the
# service, whose working directory is its slot.  (lib-apply.sh's
# kill_services stops python services only.)
stop_db_services() {
	local p c g gs='' i alive
	for p in /proc/[0-9]*; do
		c=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $c in
		"$TEST_DIR"/*/state/apps/db/[ab])
			g=$(ps -o pgid= -p "${p#/proc/}" 2>/dev/null | tr -d " ") &&
				[ -n "$g" ] && gs="$gs $g" ;;
		esac
	done
	[ -n "$gs" ] || return 0
	for g in $gs; do kill -TERM -- "-$g" 2>/dev/null; done
	for i in $(seq 30); do
		alive=0
		for g in $gs; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
		[ $alive = 1 ] || return 0
		sleep 0.1
	done
	for g in $gs; do kill -KILL -- "-$g" 2>/dev/null; done
	return 0
}
test_on_exit stop_db_services

TOKEN=tok-Offsite.51-$$
WRONG=wrong-Token.51-$$
MARK=PLAINTEXT-MARKER-51-$$
DAV_ROOT=$TEST_DIR/dav     # what the loopback server serves; host edge-1
DAV=$DAV_ROOT/edge-1       # has its objects under https://.../edge-1/
R=$TEST_DIR/restores       # every restore goes here: nothing else may appear

# agent_conf DIR URL CA KEY: DIR/agent.lua, state in DIR/state, backups
# under KEY copied to URL with the token in $TEST_DIR/token.
agent_conf() {
	mkdir -p "$1" &&
	cat >"$1/agent.lua" <<-EOA
	return {
	  host = { id = "edge-1" },
	  source = { url = "$TEST_DIR/srv/state.git", interval = 3600, jitter = 0 },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "state",
	  apply = { stop_timeout = 3 },
	  backup = { key_file = "$4",
	             offsite = { url = "$2", token_file = "$TEST_DIR/token",
	                         ca_file = "$3" } },
	}
	EOA
}
H1=$TEST_DIR/h1 D1=$TEST_DIR/h1/state/apps/db/data/d
f1() { furrow -c "$H1/agent.lua" "$@"; }
f2() { furrow -c "$TEST_DIR/h2/agent.lua" "$@"; }

# manifest DIR: every entry under DIR, one a line: path, type, mode, owner,
# size, mtime (not of directories: writing into one changes it), link
# count, link target, and the sha256 of a file's bytes.
manifest() {
	(cd "$1" && find . -mindepth 1 -printf '%P\t%y\t%m\t%U:%G\t%s\t%n\t%l\t' \
		-a \( -type d -printf '-\t' -o -printf '%T@\t' \) \
		-a \( -type f -exec sh -c 'sha256sum <"$1" | cut -c1-64' sh {} \; \
		      -o -printf '\n' \) | LC_ALL=C sort)
}

# objects DIR: "path sha256" of every object stored under DIR, sorted.
objects() {
	(cd "$1" && find . -type f -printf '%P\n' | LC_ALL=C sort |
		while read -r p; do echo "$p $(sha256sum <"$p" | cut -c1-64)"; done)
}
# flip_byte FILE: invert the lowest bit of the byte in the middle of FILE.
flip_byte() {
	python3 -c 'import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)' "$1"
}

# Lines only in the first / only in the second sorted file.
only_in_1() { LC_ALL=C comm -23 "$1" "$2"; }
only_in_2() { LC_ALL=C comm -13 "$1" "$2"; }

# The access log of the loopback server.
ALOG=$SERVERS_DIR/webdav/access.log

# readbacks LOG: "name bytes" for each PUT answered 201 and followed at
# once by a GET of the same object answered 200 (bytes: its body); fails
# for a PUT that was not.  Lines: addr "METHOD /path HTTP/1.1" status bytes "type".
readbacks() {
	awk '$2 == "\"PUT" { if (put != "") { print "PUT " put " not read back"; bad = 1 }
	                     put = $3; st = $5; next }
	     put != "" { if ($2 != "\"GET" || $3 != put || $5 != 200 || st != 201) {
	                     print "PUT " put " (" st ") not read back: " $0; bad = 1
	                 } else { sub("^/edge-1/", "", put); print put, $6 }
	                 put = "" }
	     END { if (put != "") { print "PUT " put " not read back"; bad = 1 }
	           exit bad }' "$1"
}

test_expect_success 'setup: signed repo with app db (data d, backed up), WebDAV server, key' '
	apply_lib_init &&
	mkdir -p "$W/svc" "$R" "$DAV_ROOT" &&
	printf "#!/bin/sh\nexec sleep 100000\n" >"$W/svc/run.sh" &&
	chmod 755 "$W/svc/run.sh" &&
	cat >"$W/furrow.lua" <<-EOL &&
	serial = 1
	app "db" { kind = "service", files = "svc", exec = { "run.sh" },
	  data = { "d" }, backup = { paths = { "d" } } }
	EOL
	commit_tree "db with backups" &&
	furrow backup key "$TEST_DIR/backup.key" >out &&
	furrow backup key "$TEST_DIR/other.key" >out &&
	printf "%s\n" "$TOKEN" >"$TEST_DIR/token" &&
	start_webdav_https "$DAV_ROOT" "$TOKEN" &&
	agent_conf "$H1" "${WEBDAV_URL}edge-1" "$WEBDAV_CA" "$TEST_DIR/backup.key" &&
	f1 apply >out 2>err &&
	test_grep "db (service)  create: applied" out &&
	test -d "$D1"
'
. "$SERVERS_DIR/webdav/env" 2>/dev/null

test_expect_success 'data: files, modes, owners, symlinks, a hard link, a fifo, holes, old mtimes' '
	cd "$D1" &&
	mkdir -p conf/deep/er "dir-$MARK" &&
	chmod 750 conf && chmod 700 conf/deep &&
	printf "%s small\n" "$MARK" >small.txt &&
	# The marker inside random data: zstd stores it as is, only the
	# encryption can hide it.
	{ head -c 150000 /dev/urandom; printf "%s" "$MARK"; head -c 150000 /dev/urandom; } >big.bin &&
	for i in 1 2 3 4 5 6 7 8; do echo "row $i $MARK" >>conf/deep/er/table; done &&
	echo "key = value" >"conf/name-$MARK.conf" && chmod 640 "conf/name-$MARK.conf" &&
	printf "#!/bin/sh\necho hi\n" >conf/tool && chmod 755 conf/tool &&
	chown 65534:65534 conf/tool &&
	: >empty && chmod 600 empty &&
	ln -s conf/tool link-rel &&
	ln -s /nonexistent/target dangling && chown -h 65534:65534 dangling &&
	ln small.txt hard-link &&
	mkfifo pipe && chmod 620 pipe &&
	truncate -s 3M sparse && printf "tail" >>sparse &&
	printf "head" | dd of=sparse conv=notrunc status=none &&
	touch -h -d "2001-02-03 04:05:06" link-rel &&
	touch -d "2002-03-04 05:06:07.123456789" small.txt "conf/name-$MARK.conf" &&
	manifest "$D1" >"$TEST_DIR/m1" &&
	test "$(wc -l <"$TEST_DIR/m1")" -ge 14
'

test_expect_success '1: backup now copies key, chunks and snapshots/0000000001, each read back' '
	f1 backup now >out 2>err &&
	test_grep "^db: snapshot 1: " out &&
	! grep -E "level=(warn|error)" err &&
	test "$(cat "$DAV/key" | cut -d" " -f1)" = furrow-backup-key-check &&
	test -f "$DAV/snapshots/0000000001" &&
	! test -e "$DAV/snapshots/0000000002" &&
	(cd "$DAV" && find . -type f -printf "%P\n") >all &&
	grep "^chunks/" all >chunks &&
	test "$(wc -l <chunks)" -ge 4 &&
	# Nothing but key, snapshots/<10 digits>, chunks/<2 hex>/<the same 2 hex + 62 hex>.
	! grep -vE "^(key|snapshots/[0-9]{10}|chunks/([0-9a-f]{2})/\2[0-9a-f]{62})$" all &&
	# Every PUT answered 201, then read back whole with a GET of the same
	# object: as many bytes as it has on the server disk.
	readbacks "$ALOG" >readback &&
	test "$(wc -l <readback)" = "$(wc -l <all)" &&
	while read -r p n; do
		test "$(stat -c %s "$DAV/$p")" = "$n" || { echo "$p: read back $n bytes"; exit 1; }
	done <readback &&
	! grep -E "DELETE|MKCOL|MOVE|COPY" "$ALOG"
'

test_expect_success '1: the objects are encrypted: no marker, no name, no key in any' '
	! grep -rlaF "$MARK" "$DAV" &&
	! grep -rlaF "PLAINTEXT" "$DAV" &&
	! grep -rlaF "small.txt" "$DAV" &&
	! grep -rlaF "big.bin" "$DAV" &&
	keyhex=$(cut -d" " -f2 "$TEST_DIR/backup.key") &&
	test ${#keyhex} = 64 &&
	! grep -rlaiF "$keyhex" "$DAV" &&
	# The random halves of big.bin are not there in the clear either.
	head -c 4096 "$D1/big.bin" | od -An -tx1 | tr -d " \n" | cut -c1-64 >prefix &&
	for f in $(cd "$DAV" && find chunks -type f); do
		od -An -tx1 "$DAV/$f" | tr -d " \n" | grep -qF "$(cat prefix)" &&
			{ echo "$f holds big.bin in the clear"; exit 1; }
	done
	true
'

test_expect_success '2: a fresh host (key and offsite settings only) lists the offsite copy' '
	agent_conf "$TEST_DIR/h2" "${WEBDAV_URL}edge-1/" "$WEBDAV_CA" "$TEST_DIR/backup.key" &&
	f2 backup list --offsite >out 2>err &&
	test "$(wc -l <out)" = 1 &&
	test_grep -E "^1 +[0-9T:-]+Z +db +manual " out &&
	f2 backup list db --offsite --json >json &&
	test_grep "\"id\":1,\"app\":\"db\"" json &&
	f2 backup list nosuchapp --offsite >out &&
	test ! -s out
'

test_expect_success '2: ... and restores latest byte for byte, from the offsite copy alone' '
	f2 backup restore db latest --to "$R/r1" --from-offsite >out 2>err &&
	test_grep "^db: snapshot 1 restored into $R/r1" out &&
	manifest "$R/r1/d" >m &&
	test_cmp "$TEST_DIR/m1" m &&
	test "$R/r1/d/small.txt" -ef "$R/r1/d/hard-link" &&
	test -p "$R/r1/d/pipe" &&
	test "$(readlink "$R/r1/d/dangling")" = /nonexistent/target &&
	# Holes come back as holes.
	test "$(stat -c %b "$R/r1/d/sparse")" -lt 64 &&
	cmp "$D1/sparse" "$R/r1/d/sparse" &&
	# No local backup store was made on the way.
	test ! -e "$TEST_DIR/h2/state/backup" &&
	test "$(ls -A "$R")" = r1
'

test_expect_success '2: a snapshot id works; an unknown one is an error' '
	f2 backup restore db 1 --to "$R/r2" --from-offsite >out 2>err &&
	manifest "$R/r2/d" >m && test_cmp "$TEST_DIR/m1" m &&
	test_expect_code 1 f2 backup restore db 7 --to "$R/r3" --from-offsite >out 2>err &&
	test_grep "no snapshot 7 of app db" err &&
	test ! -e "$R/r3"
'

test_expect_success '2: another key: exit 3, nothing written, nothing sent' '
	agent_conf "$TEST_DIR/h3" "${WEBDAV_URL}edge-1/" "$WEBDAV_CA" "$TEST_DIR/other.key" &&
	objects "$DAV" >before &&
	puts=$(grep -c "\"PUT " "$ALOG") &&
	test_expect_code 3 furrow -c "$TEST_DIR/h3/agent.lua" backup restore db latest \
		--to "$R/r4" --from-offsite >out 2>err &&
	test_grep "another backup key" err &&
	test_expect_code 3 furrow -c "$TEST_DIR/h3/agent.lua" backup list --offsite >out 2>err &&
	test_grep "another backup key" err &&
	test_expect_code 3 furrow -c "$TEST_DIR/h3/agent.lua" backup verify --offsite >out 2>err &&
	test ! -e "$R/r4" &&
	test "$(ls -A "$R")" = "$(printf "r1\nr2")" &&
	objects "$DAV" >after && test_cmp before after &&
	test "$(grep -c "\"PUT " "$ALOG")" = "$puts"
'

test_expect_success '4: a second snapshot adds snapshots/0000000002, changes nothing stored' '
	objects "$DAV" >before &&
	echo "second $MARK" >"$D1/second.txt" &&
	# big.bin leaves for a while: after snapshot 1 is forgotten, its
	# chunks are collected locally.
	mv "$D1/big.bin" "$TEST_DIR/big.bin.away" &&
	f1 backup now >out 2>err &&
	test_grep "^db: snapshot 2: " out &&
	test -f "$DAV/snapshots/0000000002" &&
	objects "$DAV" >after &&
	only_in_1 before after >gone && test_cmp /dev/null gone &&
	test "$(only_in_2 before after | grep -c "^snapshots/")" = 1 &&
	f2 backup list --offsite >out &&
	test "$(wc -l <out)" = 2 &&
	test_grep -E "^2 +.* db +manual " out &&
	! grep -E "DELETE|MKCOL|MOVE|COPY" "$ALOG"
'

test_expect_success '4: forget and prune delete nothing offsite; a later snapshot overwrites nothing' '
	objects "$DAV" >before &&
	f1 backup forget db 1 >out 2>err &&
	f1 backup prune >out 2>err &&
	f1 backup verify >out 2>err &&
	test_grep "^1 snapshots, " out &&
	f1 backup list >out &&
	! grep -E "^1 " out &&
	objects "$DAV" >after && test_cmp before after &&
	# The tree of snapshot 1 again: its chunks, collected locally, are
	# stored and queued anew; offsite they are there already.
	rm "$D1/second.txt" &&
	mv "$TEST_DIR/big.bin.away" "$D1/big.bin" &&
	n=$(wc -l <"$ALOG") &&
	f1 backup now >out 2>err &&
	test_grep "^db: snapshot 3: " out &&
	test_grep -E " ([3-9][0-9]{5}|[0-9]{7,}) new bytes stored" out &&
	! grep -E "level=(warn|error)" err &&
	objects "$DAV" >after &&
	only_in_1 before after >changed && test_cmp /dev/null changed &&
	# Those chunks were looked at (found whole) and not sent again.
	tail -n +$((n + 1)) "$ALOG" >log &&
	test "$(grep -cE "\"GET /edge-1/chunks/.* 200 " log)" -ge 4 &&
	grep "\"PUT /" log | cut -d" " -f3 | sed "s|^/edge-1/||" >put &&
	test -s put &&
	cut -d" " -f1 before >had &&
	! grep -xFf had put &&
	test -f "$DAV/snapshots/0000000003" &&
	f2 backup list --offsite >out &&
	test "$(cut -d" " -f1 out | tr "\n" " ")" = "1 2 3 " &&
	f2 backup restore db 1 --to "$R/r5" --from-offsite >out 2>err &&
	manifest "$R/r5/d" >m && test_cmp "$TEST_DIR/m1" m
'

test_expect_success '6: a wrong token: the snapshot is kept, the refusal named, the token never shown' '
	printf "%s\n" "$WRONG" >"$TEST_DIR/token" &&
	echo "third $MARK" >"$D1/third.txt" &&
	manifest "$D1" >"$TEST_DIR/m4" &&
	f1 backup now >out 2>err &&
	test_grep "^db: snapshot 4: " out &&
	test_grep "event=backup.offsite_failed" err &&
	test_grep "refused the token (HTTP 401" err &&
	test_expect_code 1 f1 backup upload >out 2>err &&
	test_grep "offsite copy" err &&
	test_grep "refused the token (HTTP 401" err &&
	test_expect_code 1 f2 backup list --offsite >out2 2>err2 &&
	test_grep "refused the token" err2 &&
	cat out err out2 err2 >all &&
	! grep -F "$WRONG" all && ! grep -F "$TOKEN" all &&
	! grep -rlF -e "$WRONG" -e "$TOKEN" "$SERVERS_DIR/webdav"/*.log &&
	test ! -e "$DAV/snapshots/0000000004"
'

test_expect_success '6: the queue survived: with the right token, backup upload sends it' '
	printf "%s\n" "$TOKEN" >"$TEST_DIR/token" &&
	f1 backup upload >out 2>err &&
	test_grep -E "^offsite: [1-9][0-9]* objects .*, 0 pending$" out &&
	test -f "$DAV/snapshots/0000000004" &&
	f1 backup upload >out 2>err &&
	test_grep -E "^offsite: 0 objects .*, 0 pending$" out &&
	f2 backup restore db latest --to "$R/r6" --from-offsite >out 2>err &&
	test_grep "^db: snapshot 4 restored" out &&
	manifest "$R/r6/d" >m && test_cmp "$TEST_DIR/m4" m &&
	f2 backup verify --offsite --read-data >out 2>err &&
	test_grep "^offsite: 4 snapshots, .* 0 problems$" out
'

test_expect_success '5: a flipped byte in a chunk on the server: verify --offsite --read-data names chunk and file' '
	# The largest object is a chunk of big.bin (random, incompressible,
	# the only big file).
	c=$(cd "$DAV" && find chunks -type f -printf "%s %p\n" | sort -n | tail -n 1 | cut -d" " -f2) &&
	echo "$c" >"$TEST_DIR/flipped" &&
	cp "$DAV/$c" "$TEST_DIR/flipped.orig" &&
	flip_byte "$DAV/$c" &&
	! cmp -s "$DAV/$c" "$TEST_DIR/flipped.orig" &&
	test_expect_code 3 f2 backup verify --offsite --read-data >out 2>err &&
	test_grep "^problem: .*big.bin.*${c##*/}" out &&
	test "$(grep -c "^problem:" out)" = 1 &&
	test_grep -E "^offsite: 4 snapshots, .* 1 problems$" out &&
	# Without --read-data the chunk is only known to be named.
	f2 backup verify --offsite >out 2>err
'

test_expect_success '5: a restore of that snapshot from offsite exits 3 and leaves nothing' '
	ls -A "$R" >before &&
	test_expect_code 3 f2 backup restore db latest --to "$R/r7" --from-offsite >out 2>err &&
	c=$(cat "$TEST_DIR/flipped") &&
	test_grep "${c##*/}" err &&
	test ! -e "$R/r7" &&
	ls -A "$R" >after && test_cmp before after &&
	# The local store is whole: a local restore still works.
	f1 backup restore db latest --to "$R/r8" >out 2>err &&
	manifest "$R/r8/d" >m && test_cmp "$TEST_DIR/m4" m &&
	# Mended, the offsite copy verifies again.
	cp "$TEST_DIR/flipped.orig" "$DAV/$(cat "$TEST_DIR/flipped")" &&
	f2 backup verify --offsite --read-data >out 2>err &&
	test_grep " 0 problems$" out
'

test_expect_success '5: a damaged snapshot record: verify names it, the others stay reachable' '
	cp "$DAV/snapshots/0000000004" rec4.orig &&
	flip_byte "$DAV/snapshots/0000000004" &&
	test_expect_code 3 f2 backup verify --offsite >out 2>err &&
	test_grep "^problem: offsite snapshots/0000000004: record cannot be read" out &&
	# list names it and shows the others ...
	f2 backup list --offsite >out 2>err &&
	test "$(cut -d" " -f1 out | tr "\n" " ")" = "1 2 3 " &&
	test_grep "event=backup.offsite_record_unreadable.*snapshot=4" err &&
	# ... an older one restores by its id ...
	f2 backup restore db 1 --to "$R/r9" --from-offsite >out 2>err &&
	manifest "$R/r9/d" >m && test_cmp "$TEST_DIR/m1" m &&
	# ... but "latest" is not quietly an older one, nor is 4 found.
	test_expect_code 3 f2 backup restore db latest --to "$R/r10" --from-offsite >out 2>err &&
	test_grep "cannot tell the latest snapshot" err &&
	test_expect_code 3 f2 backup restore db 4 --to "$R/r10" --from-offsite >out 2>err &&
	test_grep "no readable snapshot 4 of app db" err &&
	test ! -e "$R/r10" &&
	cp rec4.orig "$DAV/snapshots/0000000004" &&
	f2 backup verify --offsite >out 2>err
'

# ---- 3: a link cut in the middle of an upload ------------------------------

netns_ok=1
for t in ip tc iptables; do
	command -v $t >/dev/null || { netns_ok=0; why="no $t"; }
done
NS_SRV=fo-srv-$$
NS_CLI=fo-cli-$$
VETH_SRV=fos$$
VETH_CLI=foc$$
NET=10.215.$(($$ % 250 + 1))
SRV_IP=$NET.1
CLI_IP=$NET.2
DAV3=$TEST_DIR/dav3
H3=$TEST_DIR/h-cut D3=$TEST_DIR/h-cut/state/apps/db/data/d
ALOG3=$SERVERS_DIR/webdav.$NS_SRV/access.log
if [ $netns_ok = 1 ]; then
	# Run last registered first: nginx in the namespace is stopped, then
	# the namespaces are deleted (the veth pair goes with them).
	test_on_exit "ip netns del $NS_SRV"
	test_on_exit "ip netns del $NS_CLI"
	test_on_exit "stop_webdav_https_netns $NS_SRV"
	if ! ip netns add "$NS_SRV" 2>/dev/null || ! ip netns add "$NS_CLI" 2>/dev/null; then
		netns_ok=0 why="ip netns add does not work here"
	fi
fi
in_srv() { ip netns exec "$NS_SRV" "$@"; }
# furrow in the client namespace, bounded: a hang fails the test.
f3() { # seconds args...
	timeout -k 5 "$1" ip netns exec "$NS_CLI" "$FURROW" -c "$H3/agent.lua" "${@:2}"
}
f4() {
	timeout -k 5 "$1" ip netns exec "$NS_CLI" "$FURROW" -c "$TEST_DIR/h-fresh/agent.lua" "${@:2}"
}
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v n="$(now)" 'BEGIN { printf "%.1f", n - s }'; }
# Chunk PUTs the server answered 201/204.
chunk_puts() { grep -cE "\"PUT /chunks/.* (201|204) " "$ALOG3" || true; }
chunk_files() { find "$DAV3/chunks" -type f 2>/dev/null | wc -l; }

if [ $netns_ok = 1 ]; then
test_expect_success '3: setup: nginx in a namespace behind a 2 mbit veth, 24 MiB of random data' '
	ip link add "$VETH_SRV" type veth peer name "$VETH_CLI" &&
	ip link set "$VETH_SRV" netns "$NS_SRV" &&
	ip link set "$VETH_CLI" netns "$NS_CLI" &&
	ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$VETH_SRV" &&
	ip -n "$NS_CLI" addr add "$CLI_IP/24" dev "$VETH_CLI" &&
	ip -n "$NS_SRV" link set lo up && ip -n "$NS_CLI" link set lo up &&
	ip -n "$NS_SRV" link set "$VETH_SRV" up &&
	ip -n "$NS_CLI" link set "$VETH_CLI" up &&
	mkdir -p "$DAV3" &&
	start_webdav_https_netns "$NS_SRV" "$SRV_IP" 8443 "$DAV3" "$TOKEN" &&
	. "$SERVERS_DIR/webdav.$NS_SRV/env" &&
	test "$WEBDAV_URL" = "https://$SRV_IP:8443/" &&
	agent_conf "$H3" "$WEBDAV_URL" "$WEBDAV_CA" "$TEST_DIR/backup.key" &&
	agent_conf "$TEST_DIR/h-fresh" "$WEBDAV_URL" "$WEBDAV_CA" "$TEST_DIR/backup.key" &&
	furrow -c "$H3/agent.lua" apply >out 2>err &&
	for i in 1 2 3 4 5 6; do
		head -c $((4 << 20)) /dev/urandom >"$D3/blob$i" || exit 1
	done &&
	mkdir "$D3/sub" && echo "small $MARK" >"$D3/sub/small" &&
	ln -s ../blob1 "$D3/sub/link" &&
	manifest "$D3" >"$TEST_DIR/m3" &&
	# Shape what the client sends (the PUT bodies); reads stay fast.
	ip netns exec "$NS_CLI" tc qdisc add dev "$VETH_CLI" root tbf rate 2mbit \
		burst 32kbit latency 400ms
'

test_expect_success '3: the link cut during the upload: the copy fails within the idle limit, the snapshot stays' '
	{ f3 120 backup now >out 2>err & } &&
	pid=$! &&
	# Some chunks across (each at 2 mbit: a few tenths of a second) ...
	for i in $(seq 1 200); do
		test "$(chunk_puts)" -ge 8 && break
		sleep 0.1
	done &&
	test "$(chunk_puts)" -ge 8 &&
	# ... then nothing gets through.
	in_srv iptables -w 5 -A INPUT -j DROP &&
	cut=$(now) &&
	rc=0 && wait $pid || rc=$? &&
	secs=$(elapsed $cut) &&
	echo "$secs $(chunk_files)" >"$TEST_DIR/cut.info" &&
	cat err &&
	test $rc = 0 &&
	test_grep "^db: snapshot 1: " out &&
	test_grep "event=backup.offsite_failed" err &&
	test_grep -E "offsite copy.*(nothing received for [0-9]+ ms|no answer within)" err &&
	# The idle limit is 15 s (OFFSITE_IDLE_MS).
	awk -v s="$secs" "BEGIN { exit !(s >= 10 && s < 40) }" &&
	test "$(chunk_files)" -lt 200 &&
	test ! -e "$DAV3/snapshots/0000000001" &&
	furrow -c "$H3/agent.lua" backup list >out &&
	test_grep -E "^1 .* db +manual " out
'
if [ -f "$TEST_DIR/cut.info" ]; then
	read -r secs n <"$TEST_DIR/cut.info"
	echo "# link cut after $n chunk objects: backup now gave up $secs s later"
fi

test_expect_success '3: the link still down: backup upload fails, within the idle limit' '
	start=$(now) &&
	test_expect_code 1 f3 60 backup upload >out 2>err &&
	secs=$(elapsed $start) &&
	cat err &&
	test_grep -E "offsite copy.*(nothing received|no answer|timed out|Connection)" err &&
	awk -v s="$secs" "BEGIN { exit !(s < 40) }" &&
	echo "$secs" >"$TEST_DIR/down.info"
'
if [ -f "$TEST_DIR/down.info" ]; then
	echo "# link down: backup upload gave up after $(cat "$TEST_DIR/down.info") s"
fi

test_expect_success '3: healed: backup upload sends only what was missing, 0 pending' '
	in_srv iptables -w 5 -F INPUT &&
	ip netns exec "$NS_CLI" tc qdisc del dev "$VETH_CLI" root &&
	have=$(chunk_files) &&
	puts=$(chunk_puts) &&
	f3 120 backup upload >out 2>err &&
	cat out &&
	test_grep -E "^offsite: [0-9]+ objects .*, 0 pending$" out &&
	sent=$(sed -n "s/^offsite: \([0-9]*\) objects.*/\1/p" out) &&
	total=$(chunk_files) &&
	test -f "$DAV3/snapshots/0000000001" &&
	# The new chunks and the record; at most one chunk again (the one cut
	# in flight, if the server had it whole).
	test "$sent" -ge $((total - have + 1)) &&
	test "$sent" -le $((total - have + 2)) &&
	test "$(chunk_puts)" -le $((puts + total - have + 1)) &&
	# Every chunk name went up whole at most twice in all.
	grep -E "\"PUT /chunks/.* (201|204) " "$ALOG3" | cut -d" " -f3 | sort | uniq -c |
		awk "\$1 > 1 { n++ } END { exit !(n + 0 <= 1) }" &&
	echo "$have $total $sent" >"$TEST_DIR/heal.info"
'
if [ -f "$TEST_DIR/heal.info" ]; then
	read -r have total sent <"$TEST_DIR/heal.info"
	echo "# healed: $have of $total chunk objects were there; backup upload sent $sent objects"
fi

test_expect_success '3: a fresh host restores the 24 MiB byte for byte from the offsite copy' '
	f4 120 backup restore db latest --to "$TEST_DIR/r-cut" --from-offsite >out 2>err &&
	manifest "$TEST_DIR/r-cut/d" >m &&
	test_cmp "$TEST_DIR/m3" m &&
	f4 120 backup verify --offsite --read-data >out 2>err &&
	test_grep " 0 problems$" out
'
else
	test_skip '3: a link cut in the middle of an upload' "$why"
fi

test_done
