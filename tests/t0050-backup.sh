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
#   l  long (a tree whose deepest path is a few bytes short of PATH_MAX)
# Kill points come from strace: `-e inject=fdatasync:signal=KILL:when=N`
# kills furrow as it enters its Nth fdatasync, i.e. inside the Nth LMDB
# commit of the backup store (or of the state store), deterministically.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-apply.sh"

# Root (tmpfs mounts, owners), strace (kill points) and lmdb-utils
# (mdb_stat, mdb_dump: chunk counts, a chunk's bytes on disk).
if [ "$(id -u)" != 0 ] || ! command -v strace >/dev/null ||
   ! command -v mdb_dump >/dev/null || ! command -v mdb_stat >/dev/null; then
	echo "1..0 # SKIP needs root, strace and lmdb-utils"
	exit 0
fi

BIG_MIB=${BIG_MIB:-300}
SA=$TEST_DIR/a/state
SC=$TEST_DIR/c/state
SF=$TEST_DIR/f/state
SD=$TEST_DIR/d/state
SL=$TEST_DIR/l/state
DA=$SA/apps/db/data
export BIG_MIB SA SC SF SD SL DA

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

# mkagent NAME ROLE [INTERVAL] [KEY|none] [STATE_DIR]: an agent config
# in $TEST_DIR/NAME, its state in NAME/state unless STATE_DIR.
mkagent() {
	local key="backup = { key_file = \"${4:-$TEST_DIR/backup.key}\" },"
	[ "${4:-}" != none ] || key=
	mkdir -p "$TEST_DIR/$1" &&
	cat >"$TEST_DIR/$1/agent.lua" <<-EOA
	return {
	  host = { id = "edge-$1", labels = { role = "$2" } },
	  source = { url = "$TEST_DIR/srv/state.git", interval = ${3:-3600}, jitter = 0 },
	  trust = { commit_signers = "$K/allowed_signers" },
	  state_dir = "${5:-state}",
	  apply = { stop_timeout = 3 },
	  $key
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
	app "long" (svc("long", { data = { "d" },
	  backup = { paths = { "d" }, every = "1h", keep = 5 } }))
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

# listed ID / not_listed ID: ID is (not) among the snapshots of AG.
listed() { case " $(ids) " in *" $1 "*) return 0 ;; esac; echo "no snapshot $1: $(ids)" >&2; return 1; }
not_listed() { case " $(ids) " in *" $1 "*) echo "snapshot $1 listed" >&2; return 1 ;; esac; }

# chunks STATE: how many chunks the backup store holds.
chunks() { mdb_stat -s chunks "$1/backup" | awk '/Entries:/ { print $2 }'; }

# chunk_list STATE: "id length" of every stored (sealed) chunk.
# flip_chunk STATE ID: flip one bit in the middle of that chunk's sealed
# bytes where they lie in STATE/backup/data.mdb.
chunk_list() { $PY "$TEST_DIR/chunks.py" "$1" list; }
flip_chunk() { $PY "$TEST_DIR/chunks.py" "$1" flip "$2"; }
# new_data_chunks OLD NEW: ids in chunk list NEW, not in OLD, larger than
# a manifest's (file data: 16 KiB and more).
new_data_chunks() {
	awk 'FILENAME == ARGV[1] { old[$1] = 1; next } !($1 in old) && $2 > 16384 { print $1 }' "$1" "$2"
}

# count_new_chunks OLD NEW: how many chunks list NEW has that OLD lacks
# (FILENAME, not NR == FNR: OLD may be empty).
count_new_chunks() {
	awk 'FILENAME == ARGV[1] { old[$1] = 1; next } !($1 in old) { n++ } END { print n + 0 }' "$1" "$2"
}

# wait_for SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || { echo "timed out: $*" >&2; return 1; }
		sleep 0.1
	done
}

# jget FILE PATH: the JSON value at PATH (dot-separated; in a list a
# number is an index (-1 the last), a name picks the element whose "app" it is).
jget() {
	$PY - "$@" <<-\EOP
	import json, sys
	d = json.load(open(sys.argv[1]))
	for k in sys.argv[2].split("."):
	    if isinstance(d, list):
	        d = d[int(k)] if k.lstrip("-").isdigit() else [e for e in d if e.get("app") == k][0]
	    else:
	        d = d[k]
	print(d if isinstance(d, str) else json.dumps(d))
	EOP
}

# scheduled_upto N: agent d has a scheduled snapshot with id N or more.
scheduled_upto() {
	"$FURROW" -c "$TEST_DIR/d/agent.lua" backup list sched --json |
		$PY -c "import json, sys; sys.exit(not [s for s in json.load(sys.stdin) if s['tag'] == 'scheduled' and s['id'] >= $1])"
}
daemon_gone() { ! kill -0 "$(cat "$TEST_DIR/d/daemon.pid")" 2>/dev/null; }

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

# kill_after PID rchar|wchar BYTES: SIGKILL PID once it has read (or
# written) BYTES; fails if it exits before.
kill_after() {
	local r
	while r=$(sed -n "s/^$2: //p" "/proc/$1/io" 2>/dev/null) && [ -n "$r" ]; do
		if [ "$r" -ge "$3" ]; then
			kill -KILL "$1"
			return 0
		fi
		sleep 0.005
	done
	echo "pid $1 exited before $2 reached $3" >&2
	return 1
}

# syncs CMD...: how many fdatasync calls furrow CMD (agent AG) makes;
# it must succeed.
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
cat >"$TEST_DIR/mkdeep.py" <<'EOP'
# mkdeep.py DIR LEN: under DIR (an absolute path), directories with
# 200-byte names nested until the deepest one's entries, a 300 KiB random
# file f, a symlink s to it and a hard link h, have absolute paths of
# exactly LEN bytes.
import os, sys
root = os.fsencode(sys.argv[1])
left = int(sys.argv[2]) - len(root) - len(b'/f')
d, i = root, 0
while left > 256:
    d = os.path.join(d, b'%03d' % i + b'n' * 197)
    left -= 201
    i += 1
d = os.path.join(d, b'e' * (left - 1))
os.makedirs(d)
with open(os.path.join(d, b'f'), 'wb') as f:
    f.write(os.urandom(300 << 10))
os.symlink(b'f', os.path.join(d, b's'))
os.link(os.path.join(d, b'f'), os.path.join(d, b'h'))
assert len(os.path.join(d, b'f')) == int(sys.argv[2])
EOP
cat >"$TEST_DIR/chunks.py" <<'EOP'
# chunks.py STATE list | STATE flip ID (see chunk_list, flip_chunk).
import os, subprocess, sys
state = sys.argv[1]
dump = subprocess.run(["mdb_dump", "-s", "chunks", state + "/backup"],
                      check=True, capture_output=True, text=True).stdout
lines = dump.split("\n")
i = lines.index("HEADER=END") + 1
pairs = []
while i + 1 < len(lines) and lines[i].startswith(" "):
    pairs.append((lines[i].strip(), bytes.fromhex(lines[i + 1].strip())))
    i += 2
if sys.argv[2] == "list":
    for k, v in pairs:
        print(k, len(v))
    sys.exit(0)
v = dict(pairs)[sys.argv[3]]
with open(state + "/backup/data.mdb", "r+b") as f:
    data = f.read()
    at = data.find(v)
    if at < 0 or data.find(v, at + 1) >= 0:
        sys.exit("chunk %s: not found once in data.mdb" % sys.argv[3])
    pos = at + len(v) // 2
    f.seek(pos)
    f.write(bytes([data[pos] ^ 0x10]))
    f.flush()
    os.fsync(f.fileno())
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

test_expect_success '3b. kill -9 at points of progress of a snapshot, then one that completes' '
	c0=$(chunks "$SA")
	# Killed once it has read 1, 40 and 90 of the 100 MiB that changed.
	for mib in 1 40 90; do
		echo "--- killed after reading $mib MiB"
		head -c 100M /dev/urandom >"$DA/d/churn"
		"$FURROW" -c "$TEST_DIR/a/agent.lua" backup now db >out 2>err &
		pid=$!
		kill_after $pid rchar $((mib << 20))
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
	test "$4" = 104857600
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
	test "$(chunks "$SA")" -gt "$c0"
	# The snapshot goes in one commit, its chunks in sweeps of 1,000.
	m=$(syncs backup forget db $id)
	test "$m" -ge 3
	test "$(chunks "$SA")" = "$c0"
	for k in $(seq 1 $m); do
		echo "--- forget killed at commit $k of $m"
		cp "$TEST_DIR/churn.bin" "$DA/d/churn"
		xb 0 backup now db
		id=$(snap out | cut -d" " -f1)
		killed_at $k backup forget db $id
		xb 0 backup verify
		test_grep " 0 problems$" out
		if [ $k = 1 ]; then
			listed $id
			test "$(chunks "$SA")" -gt "$c0"
			xb 0 backup forget db $id
		else
			not_listed $id
			test "$(chunks "$SA")" -gt "$c0"
			xb 1 backup forget db $id
			test_grep "no snapshot $id" err
			xb 0 backup prune db
		fi
		test "$(chunks "$SA")" = "$c0"
	done
	xb 0 backup verify --read-data
	test_grep " 0 problems$" out
'

test_expect_success '3d. kill -9 during a restore: nothing at --to; the next restore completes' '
	# Killed once it has written 1, 150 and 350 MiB (of about 402).
	for mib in 1 150 350; do
		echo "--- restore killed after writing $mib MiB"
		"$FURROW" -c "$TEST_DIR/a/agent.lua" backup restore db latest --to "$TEST_DIR/r3" >out 2>err &
		pid=$!
		kill_after $pid wchar $((mib << 20))
		rc=0
		wait $pid || rc=$?
		test $rc = 137
		absent "$TEST_DIR/r3"
		# Its hidden copy stays until the next restore to r3 removes it
		# (that of a process that is gone).
		test -d "$TEST_DIR/.furrow-restore-r3-$pid"
	done
	xb 0 backup restore db latest --to "$TEST_DIR/r3"
	no_restore_tmp "$TEST_DIR"
	manifest "$TEST_DIR/r3/d" >m.r3
	test_cmp m.src m.r3
'

test_expect_success 'disk full: the snapshot fails and says why; earlier ones list, restore, verify' '
	mkdir -p "$SF"
	mount -t tmpfs -o size=64m tmpfs "$SF"
	mkagent f full
	AG=f xb 0 apply
	DF=$SF/apps/full/data/d
	head -c 2M /dev/urandom >"$DF/first"
	AG=f xb 0 backup now full
	manifest "$DF" >m.f1
	head -c 40M /dev/urandom >"$DF/big"
	AG=f xb 1 backup now full
	cat err
	test_grep -E "^furrow: full: backup of full: cannot store (chunks|the snapshot): no space left on device \([0-9]+ KiB free on the file system of $SF/backup\)" err
	test "$(AG=f ids)" = 1
	AG=f xb 0 status --json
	jget out apps.full.backup.error | grep "no space left on device"
	AG=f xb 0 backup verify --read-data
	test_grep " 0 problems$" out
	AG=f xb 0 backup restore full 1 --to "$TEST_DIR/rf"
	manifest "$TEST_DIR/rf/d" >m.rf
	test_cmp m.f1 m.rf
	# Space again: the next snapshot works, garbage of the failed one goes.
	rm "$DF/big"
	AG=f xb 0 backup now full
	AG=f xb 0 backup verify --read-data
	test_grep "^2 snapshots, .* 0 problems$" out
'

test_expect_success 'disk full during a restore: exit 1, nothing left at --to' '
	mkdir -p "$TEST_DIR/tiny"
	mount -t tmpfs -o size=8m tmpfs "$TEST_DIR/tiny"
	xb 1 backup restore db latest --to "$TEST_DIR/tiny/out"
	test_grep "^furrow: d/big-random: cannot write $TEST_DIR/tiny/.furrow-restore-out-[0-9]*/d/big-random: No space left on device$" err
	absent "$TEST_DIR/tiny/out"
	no_restore_tmp "$TEST_DIR/tiny"
	test "$(df --output=used -k "$TEST_DIR/tiny" | tail -1)" -lt 100
'

test_expect_success 'another key: list, restore, verify, now refuse (exit 3) and write nothing' '
	furrow backup key "$TEST_DIR/other.key" >/dev/null
	mkagent wk main 3600 "$TEST_DIR/other.key" "$SA"
	before=$(ids)
	md5sum "$SA/backup/data.mdb" >sum.before
	AG=wk xb 3 backup list
	test_grep "^furrow: backup store $SA/backup was written with another backup key than $TEST_DIR/other.key; refusing to use it$" err
	test ! -s out
	AG=wk xb 3 backup restore db latest --to "$TEST_DIR/rw"
	test_grep "another backup key" err
	absent "$TEST_DIR/rw"
	no_restore_tmp "$TEST_DIR"
	AG=wk xb 3 backup verify --read-data
	AG=wk xb 3 backup now db
	AG=wk xb 3 backup drill db
	AG=wk xb 3 backup forget db 1
	md5sum -c sum.before
	test "$(ids)" = "$before"
'

test_expect_success 'a key file others can read is refused, with the fix; an existing key is never overwritten' '
	cp "$TEST_DIR/backup.key" "$TEST_DIR/exposed.key"
	chmod 644 "$TEST_DIR/exposed.key"
	mkagent ek main 3600 "$TEST_DIR/exposed.key" "$SA"
	AG=ek xb 1 backup list
	cat err
	test_grep "chmod 600 $TEST_DIR/exposed.key" err
	AG=ek xb 1 backup restore db latest --to "$TEST_DIR/re"
	absent "$TEST_DIR/re"
	cp "$TEST_DIR/backup.key" key.before
	test_expect_code 1 furrow backup key "$TEST_DIR/backup.key" 2>err
	cat err
	test_cmp key.before "$TEST_DIR/backup.key"
'

test_expect_success 'retention: keep = 2 after 5 snapshots leaves 2, frees their chunks; forget' '
	DS=$SC/apps/small/data/d
	# Agent c has stored nothing yet (its backup store may not exist).
	if [ -d "$SC/backup" ]; then chunk_list "$SC" >cl.0; else : >cl.0; fi
	for i in 1 2 3 4 5; do
		rm -f "$DS"/gen-*
		head -c 1M /dev/urandom >"$DS/gen-$i"
		echo $i >"$DS/n"
		AG=c xb 0 backup now small
		manifest "$DS" >m.s$i
		chunk_list "$SC" >cl.$i
	done
	test "$(AG=c ids)" = "1 2 3 4 5"
	c5=$(chunks "$SC")
	publish 2
	AG=c xb 0 apply
	AG=c xb 0 backup prune
	cat out
	test_grep "^small: 3 snapshots removed, [0-9]* chunks ([0-9]* bytes) collected$" out
	test "$(AG=c ids)" = "4 5"
	# Snapshots 1-3 stored only chunks of their own (random data, a
	# counter, a manifest): prune frees exactly those. A MiB cut at most
	# 256 KiB makes at least 4 chunks per snapshot.
	test $(count_new_chunks cl.0 cl.3) -ge 12
	test $((c5 - $(chunks "$SC"))) = $(count_new_chunks cl.0 cl.3)
	test "$(sed -n "s/^small: 3 snapshots removed, \([0-9]*\) chunks.*/\1/p" out)" = $((c5 - $(chunks "$SC")))
	AG=c xb 0 backup prune small
	test_grep "^small: 0 snapshots removed, 0 chunks (0 bytes) collected$" out
	for i in 4 5; do
		AG=c xb 0 backup restore small $i --to "$TEST_DIR/rs$i"
		manifest "$TEST_DIR/rs$i/d" >m.rs$i
		test_cmp m.s$i m.rs$i
	done
	AG=c xb 1 backup restore small 3 --to "$TEST_DIR/rs3"
	test_grep "app small has no snapshot 3" err
	absent "$TEST_DIR/rs3"
	c2=$(chunks "$SC")
	AG=c xb 0 backup forget small 4
	test_grep "^small: snapshot 4 deleted$" out
	test "$(AG=c ids)" = 5
	test $((c2 - $(chunks "$SC"))) = $(count_new_chunks cl.3 cl.4)
	AG=c xb 1 backup forget small 4
	test_grep "no snapshot 4" err
	AG=c xb 1 backup forget db 5
	test_grep "snapshot 5 is of app small, not db" err
	AG=c xb 0 backup verify --read-data
	test_grep "^1 snapshots, .* 0 problems$" out
'

test_expect_success 'drill: passes, status shows RTO and RPO, scratch removed' '
	AG=c xb 0 backup drill small
	cat out
	test_grep "^small: drill of snapshot 5 passed: 3 files, 1048578 bytes restored and checked in [0-9.]* s (RTO)$" out
	absent "$SC/backup-drill/small"
	no_restore_tmp "$SC/backup-drill"
	AG=c xb 0 status --json
	jget out apps.small.backup >b.json
	cat b.json
	test "$(jget b.json last_drill_ok)" = true
	test "$(jget b.json last_drill_snapshot)" = 5
	test "$(jget b.json last_snapshot)" = 5
	jget b.json rto_seconds | grep -Eqx "[0-9]+(\.[0-9]+)?"
	jget b.json rpo_seconds | grep -Eqx "[0-9]+"
'

test_expect_success 'a corrupted chunk on disk: verify --read-data names it (exit 3), restore refuses it' '
	DS=$SC/apps/small/data/d
	rm "$DS/gen-5"
	head -c 1M /dev/urandom >"$DS/gen-6"
	AG=c xb 0 backup now small
	chunk_list "$SC" >cl.6
	manifest "$DS" >m.s6
	bad=$(new_data_chunks cl.4 cl.5 | head -n 1)
	test -n "$bad"
	flip_chunk "$SC" "$bad"
	# The structure is whole; only reading the data finds it.
	AG=c xb 0 backup verify
	AG=c xb 3 backup verify --read-data
	cat out
	test_grep "^problem: snapshot 5: d/gen-5: chunk $bad is corrupt: " out
	test "$(grep -c "^problem:" out)" = 1
	test_grep "^2 snapshots, [0-9]* chunks referenced or stored, [0-9]* read and checked: 1 problems$" out
	AG=c xb 3 backup restore small 5 --to "$TEST_DIR/rc5"
	cat err
	test_grep "chunk $bad" err
	absent "$TEST_DIR/rc5"
	no_restore_tmp "$TEST_DIR"
	# A snapshot without it restores; the drill (of the newest) passes.
	AG=c xb 0 backup restore small 6 --to "$TEST_DIR/rc6"
	manifest "$TEST_DIR/rc6/d" >m.rc6
	test_cmp m.s6 m.rc6
	AG=c xb 0 backup drill small
'

test_expect_success 'a drill of a tampered snapshot fails (exit 3) and status says so' '
	bad=$(new_data_chunks cl.5 cl.6 | head -n 1)
	flip_chunk "$SC" "$bad"
	AG=c xb 3 backup drill small
	cat out err
	test_grep "drill of snapshot 6 failed: .*chunk $bad" err
	absent "$SC/backup-drill/small"
	no_restore_tmp "$SC/backup-drill"
	AG=c xb 0 status --json
	test "$(jget out apps.small.backup.last_drill_ok)" = false
	test "$(jget out apps.small.backup.last_drill_snapshot)" = 6
	AG=c xb 3 backup verify --read-data
	test "$(grep -c "^problem:" out)" = 2
'

test_expect_success 'paths near PATH_MAX: a drill and a restore to a longer target work' '
	mkagent l long
	AG=l xb 0 apply
	DL=$SL/apps/long/data/d
	# 4093 bytes: the hidden copy of a drill (and its scratch directory,
	# 3 bytes longer) and the longer --to put them past PATH_MAX.
	$PY "$TEST_DIR/mkdeep.py" "$DL" 4093
	test "$(find "$DL" -name f | wc -c)" = 4094
	manifest "$DL" >m.long
	AG=l xb 0 backup now long
	test "$(snap out | cut -d" " -f1)" = 1
	AG=l xb 0 backup drill long
	cat out
	test_grep -E "^long: drill of snapshot 1 passed: [0-9]+ files, 307200 bytes restored and checked in " out
	absent "$SL/backup-drill/long"
	no_restore_tmp "$SL/backup-drill"
	to=$TEST_DIR/a-somewhat-longer-target-directory-name
	AG=l xb 0 backup restore long latest --to "$to"
	test_grep "^long: snapshot 1 restored into $to: " out
	no_restore_tmp "$TEST_DIR"
	# Relative to the target: its deepest paths are past PATH_MAX.
	(cd "$to" && manifest d) >m.long-r
	test_cmp m.long m.long-r
	rm -rf "$to"
'

test_expect_success 'schedule: furrow run snapshots by itself (every = "2s"); backup now and drill go through it' '
	mkagent d sched 1
	"$FURROW" -c "$TEST_DIR/d/agent.lua" run >>"$TEST_DIR/d/daemon.log" 2>&1 </dev/null &
	echo $! >"$TEST_DIR/d/daemon.pid"
	track_pid $!
	wait_for 30 test -d "$SD/apps/sched/data/d"
	echo scheduled >"$SD/apps/sched/data/d/f"
	# Scheduled snapshots one after the other (retention keeps 3).
	wait_for 40 scheduled_upto 4
	AG=d xb 0 backup list sched --json
	test "$(jget out -1.tag)" = scheduled
	test "$(jget out -1.files)" = 2
	test "$(grep -c "event=backup.done" "$TEST_DIR/d/daemon.log")" -ge 3
	# The daemon holds the state dir: these are served by it.
	AG=d xb 0 backup now sched
	cat out
	test_grep -E "^sched: snapshot [0-9]+: 2 files, 10 bytes, [0-9]+ new bytes stored in [0-9.]+ s$" out
	id=$(sed -n "s/^sched: snapshot \([0-9]*\):.*/\1/p" out)
	AG=d xb 0 backup list sched --json
	$PY -c "import json, sys; l = json.load(open(\"out\")); sys.exit(not [s for s in l if s[\"id\"] == $id and s[\"tag\"] == \"manual\"])"
	AG=d xb 0 backup drill sched
	test_grep -E "^sched: drill of snapshot [0-9]+ passed: 2 files, 10 bytes restored and checked in [0-9.]+ s$" out
	kill -TERM "$(cat "$TEST_DIR/d/daemon.pid")"
	wait_for 20 daemon_gone
	AG=d xb 0 backup verify --read-data
	test_grep " 0 problems$" out
'

test_expect_success 'usage: help, usage errors (exit 2), an app without backup, bad snapshots and targets (exit 1)' '
	furrow backup --help >out
	test_grep "^usage: furrow \[-c FILE\] backup COMMAND \[ARGS\]$" out
	furrow -c "$TEST_DIR/a/agent.lua" backup restore --help >out
	test_grep "^  restore APP SNAPSHOT --to DIR" out
	xb 2 backup
	xb 2 backup bogus
	test_grep "unknown backup command .bogus." err
	xb 2 backup key
	xb 2 backup now -x
	xb 2 backup list db db
	xb 2 backup list --bogus
	xb 2 backup verify --read-data=0
	xb 2 backup verify --read-data=101
	xb 2 backup verify --bogus
	xb 2 backup restore db latest
	xb 2 backup restore db
	xb 2 backup restore db latest --to x extra
	xb 2 backup drill
	xb 2 backup forget db
	xb 2 backup forget db abc
	xb 2 backup upload now
	# Apps: one without backup, one not here; `now` alone does every app
	# that has a backup.
	xb 1 backup now plain
	test_grep "^furrow: plain: app plain declares no backup" err
	xb 1 backup now nosuch
	test_grep "^furrow: nosuch: app nosuch is not applied on this host" err
	xb 1 backup now plain db
	test_grep "^db: snapshot [0-9]*: " out
	xb 0 backup now
	test "$(grep -c ": snapshot " out)" = 1
	test_grep "^db: snapshot [0-9]*: " out
	# Snapshots and targets.
	xb 1 backup restore db 999 --to "$TEST_DIR/u1"
	test_grep "app db has no snapshot 999" err
	xb 1 backup restore db abc --to "$TEST_DIR/u1"
	test_grep "give a snapshot id" err
	xb 1 backup restore plain latest --to "$TEST_DIR/u1"
	test_grep "app plain has no snapshot" err
	absent "$TEST_DIR/u1"
	mkdir -p "$TEST_DIR/u2"
	echo keep >"$TEST_DIR/u2/mine"
	xb 1 backup restore db latest --to "$TEST_DIR/u2"
	test_grep "$TEST_DIR/u2 already exists and is not an empty directory" err
	test "$(ls "$TEST_DIR/u2")" = mine
	xb 1 backup restore db latest --to "$TEST_DIR/u2/mine"
	test "$(cat "$TEST_DIR/u2/mine")" = keep
	# An empty directory is kept when a restore fails, replaced when it
	# works; DIR/ means DIR.
	mkdir "$TEST_DIR/u3"
	AG=c xb 3 backup restore small 5 --to "$TEST_DIR/u3/"
	test -d "$TEST_DIR/u3"
	test -z "$(ls -A "$TEST_DIR/u3")"
	AG=f xb 0 backup restore full 1 --to "$TEST_DIR/u3/"
	test_grep "restored into $TEST_DIR/u3/: " out
	manifest "$TEST_DIR/u3/d" >m.u3
	test_cmp m.f1 m.u3
	no_restore_tmp "$TEST_DIR/u3"
	no_restore_tmp "$TEST_DIR"
	# No key configured.
	mkagent nk main 3600 none "$SA"
	AG=nk xb 1 backup list
	test_grep "backups need a key: set backup.key_file" err
'
test_done
