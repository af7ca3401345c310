#!/usr/bin/env bash
# bench/gen-tree.sh - a deterministic "mixed" tree of files for the backup
# benchmark (bench/backup.sh), and a deterministic change of about 1% of it.
#
#   bench/gen-tree.sh DIR [SIZE_MIB [SEED]]    generate (default 1024 MiB, seed 1)
#   bench/gen-tree.sh --change DIR [SEED]      change about 1% of DIR's bytes
#
# Generate: DIR must be missing or empty.  SIZE_MIB of file content, a third
# of each kind:
#   - text (.log, .txt): log lines (timestamp, level, component, one of a few
#     dozen messages, a request id, a duration); zstd/gzip shrink it 5-10x;
#   - random (.bin): an AES-256-CTR key stream, incompressible;
#   - in between (.json, .db): JSON lines with a random id and a base64 blob,
#     and 4 KiB "pages" of 2 KiB random bytes and a repeating 2 KiB pattern;
#     both shrink to about half.
# Sizes per kind: 60% in big files (4-64 MiB), 35% in medium ones (64 KiB -
# 4 MiB), 5% in small ones (1-64 KiB), log-uniform within each class: about
# 3,900 files for 1 GiB, in nested directories (depth up to 5), modes 0644,
# some 0600 and 0755, mtimes fixed; plus symlinks (relative to files and
# directories, one dangling, one absolute) and two extra hard links.
#
# Change (same SEED as the tree or any other): about 1% of the bytes, all
# deterministic given the tree and SEED: small files rewritten (0.3%), bytes
# inserted in the middle of three big files in place (0.3%), text appended
# to .log files (0.3%), three small files deleted and a new directory of ten
# small files added (0.1%).  Changed files get the current mtime.
#
# Randomness: Python's Mersenne Twister (only random(), whose sequence is
# stable across Python versions) for the structure, and `openssl enc
# -aes-256-ctr` over /dev/zero, keyed by SEED, for the bytes.  The same SIZE
# and SEED give the same names, modes, sizes and contents.  A summary goes to
# stderr.  Needs: python3, openssl.
set -euo pipefail
usage() {
	echo "usage: $0 DIR [SIZE_MIB [SEED]] | $0 --change DIR [SEED]" >&2
	exit 2
}
if [ "${1:-}" = --change ]; then
	[ $# -ge 2 ] && [ $# -le 3 ] || usage
	mode=change dir=$2 size=0 seed=${3:-1}
else
	[ $# -ge 1 ] && [ $# -le 3 ] || usage
	mode=gen dir=$1 size=${2:-1024} seed=${3:-1}
	[[ $size =~ ^[1-9][0-9]*$ ]] || usage
fi
[[ $seed =~ ^[A-Za-z0-9._-]+$ ]] || { echo "$0: SEED: letters, digits, . _ -" >&2; exit 2; }
exec python3 - "$mode" "$dir" "$size" "$seed" <<'PY'
import base64, hashlib, os, random, struct, subprocess, sys

mode, root, size_mib, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
KiB, MiB = 1024, 1024 * 1024
tag = "furrow-bench-tree:" + seed + (":change" if mode == "change" else "")
R = random.Random(tag)
key = hashlib.sha256(tag.encode()).hexdigest()
ssl = subprocess.Popen(["openssl", "enc", "-aes-256-ctr", "-nosalt", "-K", key,
                        "-iv", "0" * 32, "-in", "/dev/zero"],
                       stdout=subprocess.PIPE, bufsize=1 << 20)

def rnd(n):
    """n bytes of the key stream."""
    b = ssl.stdout.read(n)
    if len(b) != n:
        sys.exit("gen-tree: openssl stream ended")
    return b

def ri(a, b):
    """an integer in [a, b], from random() only."""
    return a + int(R.random() * (b - a + 1))

def logu(lo, hi):
    """log-uniform in [lo, hi)."""
    return int(lo * (hi / lo) ** R.random())

LEVELS = [b"INFO"] * 11 + [b"DEBUG"] * 3 + [b"WARN", b"ERROR"]
COMPS = [w.encode() for w in (
    "api", "auth", "cache", "db", "gateway", "ingest", "mqtt", "modbus", "scheduler",
    "sensor", "storage", "sync", "telemetry", "updater", "watchdog", "web")]
MSGS = [m.encode() for m in (
    "request completed", "request started", "connection accepted from 10.0.3.17",
    "connection closed by peer", "cache miss for key", "cache hit for key",
    "reading sensor bank 3 channel 7", "flushed 512 records to disk",
    "retrying upstream after timeout", "certificate expires in 29 days",
    "queue depth above soft limit", "compaction finished", "compaction started",
    "health check passed", "health check failed: connection refused",
    "user session renewed", "token refreshed", "config reloaded",
    "temperature threshold exceeded on probe 2", "wrote checkpoint",
    "received 48 measurements", "dropped duplicate frame", "garbage collection pause",
    "rotating log file", "scheduled job backup-db started", "upstream returned 503",
    "slow query: SELECT * FROM readings WHERE ts > ?", "listening on 0.0.0.0:8080")]
DAY = 86400

def text(n, t0=0):
    """n bytes of log lines (the last byte a newline)."""
    out, have, t = [], 0, t0
    while have < n:
        k = max(64, (n - have) // 90 + 1)
        r = rnd(8 * k)
        for a, b, c, d in struct.iter_unpack("<HHHH", r):
            t += a & 0x3ff
            s, ms = divmod(t, 1000)
            line = b"2026-11-%02d %02d:%02d:%02d.%03d %s %s[%d]: %s req=%04x%04x dur=%dms\n" % (
                1 + (s // DAY) % 28, (s // 3600) % 24, (s // 60) % 60, s % 60, ms,
                LEVELS[b & 15], COMPS[(b >> 4) & 15], 1000 + (b >> 8), MSGS[c % len(MSGS)],
                c, d, d & 0x1ff)
            out.append(line)
            have += len(line)
    b = b"".join(out)[:n]
    return b[:-1] + b"\n" if n else b

def jsonl(n, i0=0):
    """n bytes of JSON lines."""
    out, have, i = [], 0, i0
    while have < n:
        k = max(32, (n - have) // 150 + 1)
        r = rnd(40 * k)
        for j in range(k):
            x = r[40 * j: 40 * j + 40]
            v, = struct.unpack_from("<H", x, 8)
            line = (b'{"id":"%s","ts":%d,"sensor":"s-%02d","value":%d.%03d,'
                    b'"unit":"kPa","ok":true,"blob":"%s"}\n') % (
                x[:8].hex().encode(), 1795000000 + i, x[10] % 64, v % 500, v % 1000,
                base64.b64encode(x[16:40]))
            out.append(line)
            have += len(line)
            i += 1
    return b"".join(out)[:n]

def pages(n, p0=0):
    """n bytes of 4 KiB pages: a header, 2 KiB random, a 2 KiB pattern."""
    out, have, p = [], 0, p0
    while have < n:
        k = min(256, (n - have) // 4096 + 1)
        r = rnd(2032 * k)
        for j in range(k):
            hdr = struct.pack("<4sQI", b"PAGE", p, p * 2654435761 & 0xffffffff)
            pat = (b"%08x" % (p & ~0xff)) * 256
            out.append(hdr + r[2032 * j: 2032 * j + 2032] + pat)
            p += 1
        have += 4096 * k
    return b"".join(out)[:n]

def content(ext, n):
    if ext in ("log", "txt"):
        return text(n, ri(0, 10**9))
    if ext == "bin":
        return rnd(n)
    if ext == "json":
        return jsonl(n, ri(0, 10**6))
    return pages(n, ri(0, 10**6))

WORDS = ("alpha bravo cedar delta ember fjord gamma harbor iris juniper kestrel lumen "
         "maple nectar orbit pine quartz raven sable tundra umber vale willow xenon yarrow "
         "zephyr").split()

def write(path, data, perm):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, perm)

def tree_files(top):
    """regular files with one link, sorted by relative path."""
    fs = []
    for d, dns, fns in os.walk(top):
        dns.sort()
        for fn in sorted(fns):
            p = os.path.join(d, fn)
            st = os.lstat(p)
            if os.path.isfile(p) and not os.path.islink(p) and st.st_nlink == 1:
                fs.append((os.path.relpath(p, top), st.st_size))
    return fs

def summary(top):
    n = {"f": 0, "l": 0, "d": 0, "h": 0}
    by, seen = {}, set()
    for d, dns, fns in os.walk(top):
        links = [x for x in dns if os.path.islink(os.path.join(d, x))]
        n["d"] += len(dns) - len(links)
        for fn in fns + links:
            p = os.path.join(d, fn)
            st = os.lstat(p)
            if os.path.islink(p):
                n["l"] += 1
            elif (st.st_dev, st.st_ino) in seen:
                n["h"] += 1
            else:
                seen.add((st.st_dev, st.st_ino))
                n["f"] += 1
                e = fn.rsplit(".", 1)[-1]
                by[e] = by.get(e, 0) + st.st_size
    tot = sum(by.values())
    kinds = ", ".join(f"{e} {b / MiB:.1f}" for e, b in sorted(by.items()))
    return (f"{n['f']} files, {tot} bytes ({tot / MiB:.1f} MiB: {kinds}), {n['d']} directories, "
            f"{n['l']} symlinks, {n['h']} extra hard links")

def generate():
    if os.path.isdir(root) and os.listdir(root):
        sys.exit(f"gen-tree: {root} is not empty")
    os.makedirs(root, exist_ok=True)
    total = size_mib * MiB
    # the files: (kind ext, size), per kind a third of the bytes
    specs = []
    for kind, exts in (("text", ("log", "log", "txt")), ("rand", ("bin",)),
                       ("mid", ("json", "db"))):
        budget = total // 3
        for frac, lo, hi in ((0.60, 4 * MiB, 64 * MiB), (0.35, 64 * KiB, 4 * MiB),
                             (0.05, KiB, 64 * KiB)):
            left = int(budget * frac)
            while left > 0:
                s = min(logu(lo, hi), left)
                if left - s < KiB:
                    s = left
                specs.append((exts[ri(0, len(exts) - 1)], s))
                left -= s
    R.shuffle(specs)
    # the directories: a random tree, about one per 20 files
    dirs = [""]
    for k in range(max(8, len(specs) // 20)):
        parent = dirs[ri(0, len(dirs) - 1)]
        if parent.count("/") >= 4:
            parent = parent.rsplit("/", 2)[0]
        dirs.append(os.path.join(parent, f"{WORDS[ri(0, len(WORDS) - 1)]}-{k}"))
    for d in dirs[1:]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    base = 1790000000
    files = []
    for i, (ext, s) in enumerate(specs):
        rel = os.path.join(dirs[ri(0, len(dirs) - 1)],
                           f"{WORDS[ri(0, len(WORDS) - 1)]}-{i:05}.{ext}")
        x = R.random()
        perm = 0o600 if x < 0.1 else 0o755 if x < 0.15 and ext == "bin" else 0o644
        p = os.path.join(root, rel)
        write(p, content(ext, s), perm)
        os.utime(p, (base + i, base + i))
        files.append((rel, s))
    # symlinks: relative to files and directories, one dangling, one absolute
    nl = max(4, len(files) // 200)
    for k in range(nl):
        src = dirs[ri(0, len(dirs) - 1)]
        if k == 0:
            tgt = "missing-target"
        elif k == 1:
            tgt = "/nonexistent/furrow-bench"
        elif k % 5 == 2:
            tgt = os.path.relpath(os.path.join(root, dirs[ri(1, len(dirs) - 1)]),
                                  os.path.join(root, src))
        else:
            tgt = os.path.relpath(os.path.join(root, files[ri(0, len(files) - 1)][0]),
                                  os.path.join(root, src))
        os.symlink(tgt, os.path.join(root, src, f"link-{k}"))
    # two extra hard links: to a small file and to a medium one
    small = [f for f in files if f[1] < 64 * KiB]
    medium = [f for f in files if 64 * KiB <= f[1] < 4 * MiB]
    for k, pool in enumerate((small, medium)):
        if pool:
            f = pool[ri(0, len(pool) - 1)][0]
            os.link(os.path.join(root, f), os.path.join(
                root, dirs[ri(0, len(dirs) - 1)], f"hardlink-{k}.{f.rsplit('.', 1)[-1]}"))
    for d in reversed(dirs):
        os.utime(os.path.join(root, d), (base, base))

def change():
    files = tree_files(root)
    if not files:
        sys.exit(f"gen-tree: no files in {root}")
    total = sum(s for _, s in files)
    goal = total // 300  # 0.33% for each of three kinds of change
    ext = lambda f: f.rsplit(".", 1)[-1]
    pick = lambda pool: pool[ri(0, len(pool) - 1)]
    done = {"rewritten": 0, "inserted": 0, "appended": 0, "added": 0, "deleted": 0}
    small = [f for f in files if f[1] < 64 * KiB]
    touched = set()
    # rewrite small files with new content of about the same size
    while done["rewritten"] < goal and len(touched) < len(small):
        rel, s = pick(small)
        if rel in touched:
            continue
        touched.add(rel)
        n = max(KiB, int(s * (0.8 + 0.4 * R.random())))
        p = os.path.join(root, rel)
        perm = os.stat(p).st_mode & 0o7777
        write(p, content(ext(rel), n), perm)
        done["rewritten"] += n
    # insert in the middle of three big files of different kinds, in place
    big = sorted((f for f in files if f[1] >= 4 * MiB and f[0] not in touched),
                 key=lambda f: (ext(f[0]) != "bin", ext(f[0]) != "log", ext(f[0]) != "db",
                                f[0]))
    chosen = []
    for e in ("bin", "log", "db", "json", "txt"):
        c = [f for f in big if ext(f[0]) == e]
        if c and len(chosen) < 3:
            chosen.append(pick(c))
    if not chosen:  # a small tree: the largest files
        chosen = sorted(files, key=lambda f: (-f[1], f[0]))[:3]
    for rel, s in chosen:
        n = goal // len(chosen)
        off = int(s * (0.25 + 0.5 * R.random()))
        with open(os.path.join(root, rel), "r+b") as f:
            f.seek(off)
            tail = f.read()
            f.seek(off)
            f.write(content(ext(rel), n))
            f.write(tail)
        touched.add(rel)
        done["inserted"] += n
    # append log lines to .log files
    logs = [f for f in files if ext(f[0]) == "log" and f[0] not in touched]
    while done["appended"] < goal and logs:
        rel, s = logs.pop(ri(0, len(logs) - 1))
        n = min(goal - done["appended"], max(4 * KiB, goal // 20))
        with open(os.path.join(root, rel), "ab") as f:
            f.write(text(n, ri(0, 10**9)))
        done["appended"] += n
    # delete three small files, add a directory of ten small files
    left = [f for f in small if f[0] not in touched]
    for _ in range(min(3, len(left))):
        rel, s = left.pop(ri(0, len(left) - 1))
        os.unlink(os.path.join(root, rel))
        done["deleted"] += s
    nd = os.path.join(root, f"new-{seed}")
    os.makedirs(nd, exist_ok=True)
    for k in range(10):
        e = ("log", "json", "bin", "db")[k % 4]
        n = max(KiB, total // 10000)
        write(os.path.join(nd, f"added-{k}.{e}"), content(e, n), 0o644)
        done["added"] += n
    ch = done["rewritten"] + done["inserted"] + done["appended"] + done["added"]
    print(f"gen-tree: changed {ch} bytes ({100 * ch / total:.2f}% of the {total} bytes of singly linked files): "
          + ", ".join(f"{k} {v}" for k, v in done.items())
          + f"; {len(touched)} files modified", file=sys.stderr)

try:
    generate() if mode == "gen" else change()
finally:
    ssl.kill()
    ssl.wait()
print(f"gen-tree: {root}: {summary(root)}", file=sys.stderr)
PY
