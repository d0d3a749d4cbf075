#!/usr/bin/env python3
"""Helpers of scripts/bench.sh: the verdict digest of a report, the comparison of kgents-gate's
answers with the peers' (detect-secrets, network-config-analyzer), and the results table.

    bench_compare.py verdicts REPORT.json
    bench_compare.py secrets OURS.json DETECT_SECRETS.json BODIES_DIR
    bench_compare.py matrix OURS_DIR NCA_DIR
    bench_compare.py table RESULTS
"""
import hashlib
import json
import os
import re
import sys


def verdicts(path):
    """sha256 of the report without what varies between runs of the same inputs (times, paths)."""
    r = json.load(open(path))
    r.pop("provenance", None)
    for i in r["items"]:
        i.pop("duration_ms", None)
    print(hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest())


def secrets(ours_path, theirs_path, bodies):
    ours = json.load(open(ours_path))
    theirs = json.load(open(theirs_path))
    ours_cms = {f["object"]["name"] for f in ours if f["code"] == "configmap-credential"}
    theirs_cms = {os.path.basename(f)[: -len(".properties")] for f in theirs.get("results", {})}
    planted = set()
    for f in os.listdir(bodies):
        text = open(os.path.join(bodies, f)).read()
        if "aws_secret_access_key" in text or "sk_live_" in text:
            planted.add(f[: -len(".properties")])
    print("  credential scan: %d ConfigMaps hold a planted credential; kgents-gate flags %d, detect-secrets %d"
          % (len(planted), len(ours_cms), len(theirs_cms)))
    lost = theirs_cms - ours_cms
    print("  flagged by detect-secrets only: %d %s" % (len(lost), sorted(lost)[:5]))
    print("  flagged by kgents-gate only: %d %s" % (len(ours_cms - theirs_cms), sorted(ours_cms - theirs_cms)[:5]))
    missed = planted - ours_cms
    if missed:
        sys.exit("bench: kgents-gate missed planted credentials in %s" % sorted(missed)[:5])


CONN = re.compile(r"^(.*?) => (.*?) : (.*)$")


def conns(text):
    """A connection description as a set of (protocol, port-range) or {'all'}."""
    t = text.strip()
    if t.lower() == "all connections":
        return frozenset(["all"])
    if t.lower() in ("no connections", ""):
        return frozenset()
    out = set()
    # np-guard/kgents form: "TCP 80,UDP 53-54"; nca form: "{protocols:TCP,dst_ports:80}" variants.
    for part in re.findall(r"(TCP|UDP|SCTP)[ :]*([0-9,\-]+)", t):
        proto, ports = part
        for p in ports.split(","):
            if p:
                out.add((proto, p))
    if not out:
        out.add(("raw", t))
    return frozenset(out)


def read_connlist(path):
    pairs = {}
    for line in open(path):
        m = CONN.match(line.strip())
        if m:
            pairs[(m.group(1), m.group(2))] = conns(m.group(3))
    return pairs


def matrix(ours_dir, theirs_dir):
    same = differ = 0
    notes = []
    for name in sorted(os.listdir(ours_dir)):
        a = read_connlist(os.path.join(ours_dir, name))
        b = read_connlist(os.path.join(theirs_dir, name)) if os.path.exists(os.path.join(theirs_dir, name)) else {}
        keys = set(a) | set(b)
        d = [k for k in keys if a.get(k) != b.get(k)]
        same += len(keys) - len(d)
        differ += len(d)
        if d:
            notes.append("%s: %d of %d lines differ" % (name, len(d), len(keys)))
    print("  connectivity: %d lines agree, %d differ" % (same, differ))
    for n in notes:
        print("    " + n)


def table(path):
    rows = {}
    for line in open(path):
        name, wall, mb = line.split()
        rows[name] = (float(wall), int(mb))
    print("%-28s %10s %10s" % ("task", "wall s", "peak MB"))
    for name, (w, m) in rows.items():
        print("%-28s %10.2f %10d" % (name, w, m))
    def ratio(a, b, what):
        if a in rows and b in rows and rows[a][0] > 0:
            print("%s: %.1fx faster than %s" % (a, rows[b][0] / rows[a][0], b))
    ratio("netpol-matrix-38", "nca-connectivity-38", "")
    ratio("secrets-scan-M", "detect-secrets-M", "")
    for size in "SML":
        ratio("workloads-" + size, "checkov-" + size, "")
    if "audit-M" in rows and "audit-L" in rows:
        print("audit-L / audit-M: %.1fx the time" % (rows["audit-L"][0] / rows["audit-M"][0]))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"verdicts": verdicts, "secrets": secrets, "matrix": matrix, "table": table}[cmd](*args)
