#!/usr/bin/env bash
# sbom.sh PREFIX OUT.json — CycloneDX 1.5 JSON SBOM of furrow's third-party
# libraries, from image/deps.lock (Debian source package, version, sha256 of
# each source file) and PREFIX/versions.txt (what was really built).
# Deterministic: no wall-clock time (timestamp = SOURCE_DATE_EPOCH from the
# environment or deps.lock), serialNumber is a UUIDv5 of the content, keys and
# components are sorted. Only bash + Debian's python3 (stdlib json/uuid).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PREFIX OUT.json" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=$1 OUT=$2
[ -f "$PREFIX/versions.txt" ] || { echo "sbom: $PREFIX/versions.txt missing (not a complete deps prefix?)" >&2; exit 1; }
PY=/usr/bin/python3; [ -x $PY ] || PY=python3

tmp=$OUT.tmp.$$
trap 'rm -f "$tmp"' EXIT
LOCK=$HERE/deps.lock PREFIX=$PREFIX SDE=${SOURCE_DATE_EPOCH:-} "$PY" - >"$tmp" <<'PYEOF'
import json, os, re, sys, uuid, datetime

LICENSES = {  # SPDX ids / expressions of the upstream code we link
    "zlib": "Zlib",
    "mbedtls": "Apache-2.0",
    "libgit2": "GPL-2.0-only WITH GCC-exception-2.0",
    "http-parser": "MIT",
    "curl": "curl",
    "lua5.4": "MIT",
    "lmdb": "OLDAP-2.8",
    "cjson": "MIT",
    "libsodium": "ISC",
    "libzstd": "BSD-3-Clause OR GPL-2.0-only",
}

lock_text = open(os.environ["LOCK"], encoding="utf-8").read()
pkgs, order = {}, []
for raw in lock_text.splitlines():
    line = raw.split("#", 1)[0].split()
    if not line:
        continue
    if len(line) != 4:
        sys.exit("sbom: bad deps.lock line: %r" % raw)
    name, ver, sha, fname = line
    if name not in pkgs:
        pkgs[name] = {"version": ver, "files": []}
        order.append(name)
    elif pkgs[name]["version"] != ver:
        sys.exit("sbom: %s pinned at two versions" % name)
    pkgs[name]["files"].append((fname, sha))

built = {}
with open(os.path.join(os.environ["PREFIX"], "versions.txt"), encoding="utf-8") as f:
    for l in f:
        p = l.split()
        if len(p) >= 2:
            built[p[0]] = p[1]
for n in order:
    if built.get(n) != pkgs[n]["version"]:
        sys.exit("sbom: %s: deps.lock pins %s but the prefix has %s" % (n, pkgs[n]["version"], built.get(n)))
    if n not in LICENSES:
        sys.exit("sbom: no licence known for %s" % n)

flavour = ""
try:
    for l in open(os.path.join(os.environ["PREFIX"], ".complete"), encoding="utf-8"):
        if l.startswith("flavour "):
            flavour = l.split()[1]
except OSError:
    pass

sde = os.environ.get("SDE") or ""
if not sde:
    m = re.search(r"^#\s*SOURCE_DATE_EPOCH\s+(\d+)", lock_text, re.M)
    sde = m.group(1) if m else "0"
ts = datetime.datetime.fromtimestamp(int(sde), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

def purl(name, ver):
    # purl: '+' must be percent-encoded in the version; ':' (epoch) may stay.
    return "pkg:deb/debian/%s@%s?arch=source" % (name, ver.replace("%", "%25").replace("+", "%2B"))

comps = []
for n in sorted(order):
    v = pkgs[n]["version"]
    lic = LICENSES[n]
    comps.append({
        "type": "library",
        "bom-ref": purl(n, v),
        "name": n,
        "version": v,
        "purl": purl(n, v),
        "licenses": [{"expression": lic}] if " " in lic else [{"license": {"id": lic}}],
        "externalReferences": [
            {"type": "source-distribution", "url": fname,
             "comment": "Debian source package file (apt-get source %s=%s)" % (n, v),
             "hashes": [{"alg": "SHA-256", "content": sha}]}
            for fname, sha in sorted(pkgs[n]["files"])
        ],
        "properties": [{"name": "furrow:linkage", "value": "static"}],
    })

name = "furrow-deps" + ("-" + flavour if flavour else "")
bom = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "version": 1,
    "metadata": {
        "timestamp": ts,
        "component": {"type": "application", "bom-ref": name, "name": name},
    },
    "components": comps,
    "dependencies": [{"ref": name, "dependsOn": [c["bom-ref"] for c in comps]}],
}
body = json.dumps(bom, sort_keys=True, indent=2, ensure_ascii=False)
bom["serialNumber"] = "urn:uuid:%s" % uuid.uuid5(uuid.NAMESPACE_URL, "furrow-sbom:" + body)
print(json.dumps(bom, sort_keys=True, indent=2, ensure_ascii=False))
PYEOF
"$PY" -m json.tool "$tmp" >/dev/null
mv -f "$tmp" "$OUT"
trap - EXIT
