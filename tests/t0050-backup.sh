#!/usr/bin/env bash
# furrow backup, end to end through the command line: a round trip of a
# tree with every kind of entry (odd names, hard links, symlinks, fifo,
# modes, owners, nanosecond mtimes, sparse files of several GiB, a large
# random file) compared by manifest; the unchanged-file cache; kill -9 at
# every commit of a snapshot and a prune and during a restore; a full
# disk; a wrong or exposed key; a corrupted chunk on disk; retention and
# garbage collection; drills; the daemon's schedule; usage errors.
#
# Agents (one state dir each, apps chosen by the host label "role"):
#   a  db (the odd tree, 300 MiB random + a 6 GiB sparse file), plain
#      (no backup)
#   c  small (prune, drill, then a corrupted chunk)
#   f  full, its state dir on a 64 MiB tmpfs (disk full)
#   d  sched, `furrow run` with a 1 s interval and backup.every = "2s"
# Kill points come from strace: `-e inject=fdatasync:signal=KILL:when=N`
# kills furrow as it enters its Nth fdatasync, i.e. inside the Nth LMDB
# commit of the backup store (or of the state store), deterministically.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-apply.sh"

BIG_MIB=${BIG_MIB:-300}
SA=$TEST_DIR/a/state
SC=$TEST_DIR/c/state
SF=$TEST_DIR/f/state
SD=$TEST_DIR/d/state
DA=$SA/apps/db/data
export BIG_MIB SA SC SF SD DA

# Services are `sleep`s, each leading its process group: stop them by
# the pid files of every agent.
stop_services() {
	local f pid rest
	for f in "$TEST_DIR"/*/state/apps/*/run/*.pid; do
		[ -f "$f" ] || continue
		read -r pid rest <"$f" || continue
		case $pid in '' | *[!0-9]*) continue ;; esac
		kill -TERM -- "-$pid" 2>/dev/null
	done
	return 0
}
test_on_exit 'umount -l "$TEST_DIR/f/state"; umount -l "$TEST_DIR/tiny"'
test_on_exit stop_services
test_on_exit kill_tracked

# mkagent NAME ROLE [INTERVAL] [KEY] [STATE_DIR]
mkagent() {
	mkdir -p "$TEST_DIR/$1" &&
	cat >"$TEST_DIR/$1/agent.lua" <<-EOA
	return {
	  host = { id = "edge-$1", labels = { role = "$2" } },
	  source = { url = "$TEST_DIR/srv/state.git", interval = ${3:-3600}, jitter = 0 },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "${5:-state}",
	  apply = { stop_timeout = 3 },
	  backup = { key_file = "${4:-$TEST_DIR/backup.key}" },
	}
	EOA
}

# publish [KEEP_SMALL]: furrow.lua with every app, committed and pushed.
publish() {
	cat >"$W/furrow.lua" <<-EOL &&
	serial = 1
	local function svc(role, t)
	  t.kind = "service"; t.files = "svc"; t.exec = { "run.sh" }
	  t.on = { role = role }
	  return t
	end
	app "db" (svc("main", { data = { "d", "other" },
	  backup = { paths = { "d" }, every = "1h", keep = 100 } }))
	app "plain" (svc("main", { data = { "d" } }))
	app "small" (svc("small", { data = { "d" },
	  backup = { paths = { "d" }, every = "1h", keep = ${1:-10} } }))
	app "full" (svc("full", { data = { "d" },
	  backup = { paths = { "d" }, every = "1h", keep = 5 } }))
	app "sched" (svc("sched", { data = { "d" },
	  backup = { paths = { "d" }, every = "2s", keep = 3 } }))
	EOL
	commit_tree
}

# xb CODE ARGS...: `furrow -c $TEST_DIR/$AG/agent.lua ARGS` (AG: a by
# default) must exit CODE; its stdout in out, stderr in err.
xb() {
	local want=$1 rc=0
	shift
	timeout -k 5 "${RUN_TIMEOUT:-120}" "$FURROW" -c "$TEST_DIR/${AG:-a}/agent.lua" \
		"$@" >out 2>err || rc=$?
	[ "$rc" = "$want" ] && return 0
	echo "want exit $want, got $rc: furrow $*" >&2
	sed 's/^/out: /' out >&2
	sed 's/^/err: /' err >&2
	return 1
}

# snap FILE: "id files bytes read new" of the snapshot `backup now`
# printed into FILE.
snap() {
	sed -n 's/^[a-z]*: snapshot \([0-9]*\): \([0-9]*\) files, \([0-9]*\) bytes (\([0-9]*\) read), \([0-9]*\) new bytes stored in .*/\1 \2 \3 \4 \5/p' "$1"
}

# ids [APP]: the ids `backup list` shows (AG's store), one line.
ids() {
	"$FURROW" -c "$TEST_DIR/${AG:-a}/agent.lua" backup list ${1:+"$1"} --json |
		$PY -c 'import json, sys; print(*[s["id"] for s in json.load(sys.stdin)])'
}

# chunks STATE: how many chunks the backup store holds.
chunks() { mdb_stat -s chunks "$1/backup" | awk '/Entries:/ { print $2 }'; }

# manifest DIR: see manifest.py.
manifest() { $PY "$TEST_DIR/manifest.py" "$1"; }

# absent PATH: nothing there (not even a dangling symlink).
absent() {
	[ ! -e "$1" ] && [ ! -L "$1" ] && return 0
	echo "absent: $1 exists: $(ls -ld "$1")" >&2
	return 1
}

# no_restore_tmp DIR: no hidden restore directory left in DIR.
no_restore_tmp() {
	local left
	left=$(find "$1" -maxdepth 1 -name '.furrow-restore-*')
	[ -z "$left" ] || { echo "left behind: $left" >&2; return 1; }
}

# killed_at N CMD...: run furrow CMD (agent AG) under strace, killed as
# it enters its Nth fdatasync.  Succeeds only if it was killed there.
killed_at() {
	local n=$1 rc=0
	shift
	strace -f -qq -o /dev/null -e trace=fdatasync \
		-e inject=fdatasync:signal=KILL:when="$n" \
		"$FURROW" -c "$TEST_DIR/${AG:-a}/agent.lua" "$@" >out 2>err || rc=$?
	[ "$rc" = 137 ] && return 0
	echo "killed_at $n: furrow $* exited $rc, not by SIGKILL" >&2
	cat out err >&2
	return 1
}

# syncs CMD...: how many fdatasync/fsync calls furrow CMD makes.
syncs() {
	strace -f -qq -o "$TEST_DIR/strace.out" \
		-e trace=fdatasync "$FURROW" -c "$TEST_DIR/${AG:-a}/agent.lua" \
		"$@" >out 2>err &&
	grep -c -E "^[0-9]+ +f(data)?sync\(" "$TEST_DIR/strace.out"
}

cat >"$TEST_DIR/mktree.py" <<'EOP'
# mktree.py DIR BIG_MIB: a data tree with every kind of entry backups
# must bring back (see the test's header).
import os, socket, sys
root = os.fsencode(sys.argv[1])
big = int(sys.argv[2])
def p(*parts): return os.path.join(root, *parts)
def w(path, data):
    with open(path, 'wb') as f:
        f.write(data)
os.makedirs(root, exist_ok=True)
w(p(b'name with spaces'), b'spaces\n')
w(p(b'new\nline'), b'newline\n')
w(p(b'bad-\xff\xfe-utf8'), b'not utf-8\n')
w(p(b'-leading-dash'), b'dash\n')
w(p(b'L' * 255), b'long name\n')
d = p(b'deep')
for i in range(120):
    d = os.path.join(d, b'n%d' % i)
os.makedirs(d)
w(os.path.join(d, b'bottom'), b'bottom\n')
w(p(b'empty'), b'')
os.mkdir(p(b'links'))
w(p(b'links', b'a'), b'linked\n' * 1000)
os.link(p(b'links', b'a'), p(b'links', b'b'))
os.link(p(b'links', b'a'), p(b'hl-other-dir'))
w(p(b'links', b'e1'), b'')
os.link(p(b'links', b'e1'), p(b'links', b'e2'))
os.symlink(b'links/a', p(b'sym-rel'))
os.symlink(b'/etc/hostname', p(b'sym-abs'))
os.symlink(b'does/not/exist', p(b'sym-dangling'))
os.symlink(b'links', p(b'sym-dir'))
os.mkfifo(p(b'fifo'), 0o640)
s = socket.socket(socket.AF_UNIX)
s.bind(p(b'socket'))
s.close()
w(p(b'setuid'), b'#!/bin/sh\n')
os.chown(p(b'setuid'), 1000, 1000)
os.chmod(p(b'setuid'), 0o4755)
w(p(b'setgid'), b'#!/bin/sh\n')
os.chmod(p(b'setgid'), 0o2711)
w(p(b'mode0000'), b'secret\n')
os.chmod(p(b'mode0000'), 0)
os.mkdir(p(b'sticky'))
os.chmod(p(b'sticky'), 0o1777)
os.mkdir(p(b'ro-dir'))
w(p(b'ro-dir', b'inside'), b'inside\n')
os.chown(p(b'ro-dir'), 2000, 2001)
os.chmod(p(b'ro-dir'), 0o500)
os.chown(p(b'name with spaces'), 1234, 5678)
os.lchown(p(b'sym-rel'), 4321, 8765)
os.chown(p(b'fifo'), 65534, 65534)
with open(p(b'sparse-small'), 'wb') as f:
    f.write(os.urandom(5000))
    f.seek(1 << 20)
    f.write(b'middle')
    f.truncate(3 << 20)
with open(p(b'sparse-big'), 'wb') as f:
    f.truncate(6 << 30)
    f.seek(1 << 30)
    f.write(os.urandom(1 << 20))
    f.seek((3 << 30) + 123)
    f.write(b'x' * 100)
    f.seek((6 << 30) - 1)
    f.write(b'E')
w(p(b'zeros'), bytes(1 << 20))
w(p(b'change-me'), os.urandom(1 << 20))
with open(p(b'big-random'), 'wb') as f:
    for i in range(big):
        f.write(os.urandom(1 << 20))
# Distinct mtimes with nanoseconds, children before their directory.
t = 1600000000 * 10**9 + 123456789
def stamp(path):
    global t
    t += 1000003
    os.utime(path, ns=(t, t), follow_symlinks=False)
for dirpath, dirs, files in os.walk(root, topdown=False):
    for n in sorted(files + dirs):
        stamp(os.path.join(dirpath, n))
stamp(root)
EOP
cat >"$TEST_DIR/manifest.py" <<'EOP'
# manifest.py DIR: one line per entry under DIR (DIR itself as "."), in
# byte order: path (repr), type, mode, owner, size, mtime in ns, link
# target, hard link group (the first name of the inode) and a content
# hash (sha256 over offset and bytes of every 4 KiB block that is not all
# zeros, reading only data regions, so holes cost nothing and a file
# compares equal whether its zeros are holes or not).  Sockets are left
# out (backups skip them).  Last line: file bytes, each inode once.
import os, stat, sys, hashlib
root = os.fsencode(sys.argv[1])
def walk(rel):
    full = os.path.join(root, rel) if rel else root
    st = os.lstat(full)
    yield rel, full, st
    if stat.S_ISDIR(st.st_mode):
        for n in sorted(os.listdir(full)):
            yield from walk(os.path.join(rel, n) if rel else n)
def content(path, size):
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    off = 0
    try:
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            e = os.lseek(fd, d, os.SEEK_HOLE)
            b = d - d % 4096
            while b < e:
                buf = os.pread(fd, min(1 << 20, e - b), b)
                if not buf:
                    break
                for i in range(0, len(buf), 4096):
                    blk = buf[i:i + 4096]
                    if blk.count(0) != len(blk):
                        h.update(b'%d:' % (b + i))
                        h.update(blk)
                b += len(buf)
            off = e
    finally:
        os.close(fd)
    return h.hexdigest()[:16]
entries = list(walk(b''))
group = {}
for rel, full, st in entries:
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        group.setdefault((st.st_dev, st.st_ino), rel or b'.')
out = sys.stdout
total, seen = 0, set()
for rel, full, st in entries:
    m = st.st_mode
    if stat.S_ISSOCK(m):
        continue
    kind = stat.S_IFMT(m)
    t = {stat.S_IFDIR: 'd', stat.S_IFREG: 'f', stat.S_IFLNK: 'l',
         stat.S_IFIFO: 'p'}.get(kind, '?')
    f = [repr(rel or b'.'), t]
    f.append('-' if t == 'l' else '%o' % stat.S_IMODE(m))
    f.append('%d:%d' % (st.st_uid, st.st_gid))
    f.append(str(st.st_size) if t == 'f' else '-')
    f.append(str(st.st_mtime_ns))
    f.append(repr(os.readlink(full)) if t == 'l' else '-')
    if t == 'f':
        f.append('link:' + repr(group[(st.st_dev, st.st_ino)])
                 if st.st_nlink > 1 else '-')
        f.append(content(full, st.st_size))
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    out.write(' '.join(f) + '\n')
out.write('bytes %d\n' % total)
EOP

test_expect_success 'setup: keys, a signed repository, agents, apps applied' '
	apply_lib_init
	mkdir -p "$W/svc"
	printf "#!/bin/sh\nexec sleep 100000\n" >"$W/svc/run.sh"
	chmod 755 "$W/svc/run.sh"
	publish
	furrow backup key "$TEST_DIR/backup.key" >out
	test_grep "keep a copy off this host" out
	test "$(stat -c %a "$TEST_DIR/backup.key")" = 600
	grep -Eqx "furrow-backup-key-v1 [0-9a-f]{64}" "$TEST_DIR/backup.key"
	mkagent a main
	mkagent c small
	AG=a xb 0 apply
	AG=c xb 0 apply
	test -d "$DA/d"
'

test_expect_success '1. round trip: odd names, links, fifo, modes, owners, ns mtimes, sparse and big files' '
	$PY "$TEST_DIR/mktree.py" "$DA/d" "$BIG_MIB"
	manifest "$DA/d" >m.src
	xb 0 backup now db
	cat out
	set -- $(snap out)
	test "$1" = 1
	# Every entry but the socket (hard link names too); bytes once per inode.
	test "$2" = "$(($(wc -l <m.src) - 1))"
	test "$3" = "$(sed -n "s/^bytes //p" m.src)"
	test_grep "event=backup.skipped" err
	xb 0 backup restore db latest --to "$TEST_DIR/r1"
	cat out
	test_grep "^db: snapshot 1 restored into $TEST_DIR/r1: $2 files, $3 bytes in" out
	manifest "$TEST_DIR/r1/d" >m.r1
	test_cmp m.src m.r1
	absent "$TEST_DIR/r1/d/socket"
	test "$(stat -c %i "$TEST_DIR/r1/d/links/a")" = "$(stat -c %i "$TEST_DIR/r1/d/hl-other-dir")"
	test "$(stat -c %h "$TEST_DIR/r1/d/links/a")" = 3
	test "$(du -k "$TEST_DIR/r1/d/sparse-big" | cut -f1)" -lt 8192
	test "$(du -k "$TEST_DIR/r1/d/sparse-small" | cut -f1)" -lt 256
	no_restore_tmp "$TEST_DIR"
'

test_expect_success '2. unchanged tree: nothing read or stored; one changed file: only its bytes read' '
	xb 0 backup now db
	cat out
	set -- $(snap out)
	test "$1 $4 $5" = "2 0 0"
	head -c 1M /dev/urandom >"$DA/d/change-me"
	xb 0 backup now db
	cat out
	set -- $(snap out)
	test "$1 $4" = "3 1048576"
	test "$5" -ge 1048576
	test "$5" -lt $((1048576 + 512 * 1024))
'

test_expect_success '3a. kill -9 at every kind of commit of a snapshot: store intact, leftovers collected' '
	head -c 100M /dev/urandom >"$TEST_DIR/churn.bin"
	c0=$(chunks "$SA")
	# A complete run first, to count its commits (an fdatasync each).
	cp "$TEST_DIR/churn.bin" "$DA/d/churn"
	n=$(syncs backup now db)
	cat out
	test "$(ids)" = "1 2 3 4"
	test "$n" -ge 13
	xb 0 backup forget db 4
	test "$(chunks "$SA")" = "$c0"
	# 1: the first batch of chunks; n-1: the record; n: the status.
	for k in 1 2 $((n / 2)) $((n - 1)) $n; do
		echo "--- killed at commit $k of $n"
		cp "$TEST_DIR/churn.bin" "$DA/d/churn"
		killed_at $k backup now db
		xb 0 backup verify
		test_grep " 0 problems$" out
		if [ $k = $n ]; then
			test "$(ids)" = "1 2 3 5"
			xb 0 backup forget db 5
		else
			test "$(ids)" = "1 2 3"
			test "$(chunks "$SA")" -gt "$c0" || test $k = 1
			xb 0 backup prune db
			cat out
			test_grep "^db: 0 snapshots removed, " out
		fi
		test "$(chunks "$SA")" = "$c0"
	done
'

test_expect_success '3b. kill -9 at moments in time during a snapshot, then one that completes' '
	c0=$(chunks "$SA")
	for t in 0.2 0.7; do
		echo "--- killed after $t s"
		head -c 100M /dev/urandom >"$DA/d/churn"
		"$FURROW" -c "$TEST_DIR/a/agent.lua" backup now db >out 2>err &
		pid=$!
		sleep $t
		kill -KILL $pid
		rc=0
		wait $pid || rc=$?
		test $rc = 137
		xb 0 backup verify
		test_grep " 0 problems$" out
		case $(ids) in
		"1 2 3") ;;
		"1 2 3 "[0-9]*) xb 0 backup forget db "$(ids | cut -d" " -f4)" ;;
		*) ids; false ;;
		esac
		xb 0 backup prune db
		test "$(chunks "$SA")" = "$c0"
	done
	manifest "$DA/d" >m.src
	xb 0 backup now db
	cat out
	set -- $(snap out)
	test "$4" = 105906176
	xb 0 backup verify --read-data
	cat out
	test_grep " 0 problems$" out
	xb 0 backup restore db latest --to "$TEST_DIR/r2"
	manifest "$TEST_DIR/r2/d" >m.r2
	test_cmp m.src m.r2
'

test_expect_success '3c. kill -9 at every commit of a forget (garbage collection)' '
	c0=$(chunks "$SA")
	cp "$TEST_DIR/churn.bin" "$DA/d/churn"
	xb 0 backup now db
	id=$(snap out | cut -d" " -f1)
	m=$(syncs backup forget db $id)
	test "$m" -ge 3
	c1=$(chunks "$SA")
	test "$c1" -lt "$c0"
	for k in $(seq 1 $m); do
		echo "--- forget killed at commit $k of $m"
		cp "$TEST_DIR/churn.bin" "$DA/d/churn"
		xb 0 backup now db
		id=$(snap out | cut -d" " -f1)
		killed_at $k backup forget db $id
		xb 0 backup verify
		test_grep " 0 problems$" out
		if [ $k = 1 ]; then
			ids | grep -q " $id$"
			test "$(chunks "$SA")" = "$c0"
			xb 0 backup forget db $id
		else
			! ids | grep -q " $id$"
			test "$(chunks "$SA")" -gt "$c1"
			xb 1 backup forget db $id
			test_grep "no snapshot $id" err
			xb 0 backup prune db
		fi
		test "$(chunks "$SA")" = "$c1"
	done
	xb 0 backup verify --read-data
	test_grep " 0 problems$" out
'

test_expect_success '3d. kill -9 during a restore: nothing at --to; the next restore completes' '
	for t in 0.3 1.2; do
		echo "--- restore killed after $t s"
		"$FURROW" -c "$TEST_DIR/a/agent.lua" backup restore db latest --to "$TEST_DIR/r3" >out 2>err &
		pid=$!
		sleep $t
		kill -KILL $pid
		rc=0
		wait $pid || rc=$?
		test $rc = 137
		absent "$TEST_DIR/r3"
		# Its hidden copy stays until the next restore to r3 removes it.
		test -d "$TEST_DIR/.furrow-restore-r3-$pid"
	done
	xb 0 backup restore db latest --to "$TEST_DIR/r3"
	no_restore_tmp "$TEST_DIR"
	manifest "$TEST_DIR/r3/d" >m.r3
	test_cmp m.src m.r3
'
test_done
