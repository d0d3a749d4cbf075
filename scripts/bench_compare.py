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
PROTOS = ("TCP", "UDP", "SCTP")
ALL = frozenset((p, 1, 65535) for p in PROTOS)


def merged(ranges):
    """(protocol, low, high) ranges merged, so that equal sets of ports compare equal."""
    out = set()
    for proto in PROTOS:
        spans = sorted((lo, hi) for p, lo, hi in ranges if p == proto)
        cur = None
        for lo, hi in spans:
            if cur and lo <= cur[1] + 1:
                cur = (cur[0], max(cur[1], hi))
            else:
                if cur:
                    out.add((proto, *cur))
                cur = (lo, hi)
        if cur:
            out.add((proto, *cur))
    return frozenset(out)


def port_range(text):
    lo, _, hi = text.partition("-")
    return int(lo), int(hi or lo)


def conns(text):
    """A connection description as a set of (protocol, low port, high port).

    kgents-gate: "All Connections", "No Connections", "TCP 80,443,UDP 53-54".
    network-config-analyzer: "All connections", "{protocols:TCP, UDP, SCTP}" (every port),
    "{protocols:UDP,dst_ports:53}", several groups separated by ";".
    """
    t = text.strip()
    if t.lower() == "all connections":
        return ALL
    if t.lower() in ("no connections", ""):
        return frozenset()
    out = set()
    if t.startswith("{"):
        for group in re.findall(r"\{([^}]*)\}", t):
            m = re.match(r"protocols:([A-Z, ]+?)(?:,dst_ports:([0-9,\-]+))?$", group.strip())
            if not m:
                return frozenset([("raw", t, 0)])
            protos = [p.strip() for p in m.group(1).split(",") if p.strip()]
            ports = [port_range(x) for x in m.group(2).split(",")] if m.group(2) else [(1, 65535)]
            out.update((p, lo, hi) for p in protos for lo, hi in ports)
        return merged(out)
    proto = None
    for tok in t.replace(" ", ",").split(","):
        if tok in PROTOS:
            proto = tok
        elif tok and proto and re.fullmatch(r"[0-9]+(-[0-9]+)?", tok):
            out.add((proto, *port_range(tok)))
        elif tok:
            return frozenset([("raw", t, 0)])
    return merged(out)


def endpoint(name):
    """IP ranges are "a-b[External]" in kgents-gate's output and "a-b" in nca's."""
    return name[: -len("[External]")] if name.endswith("[External]") else name


def read_connlist(path):
    pairs = {}
    for line in open(path):
        m = CONN.match(line.strip())
        if m:
            pairs[(endpoint(m.group(1)), endpoint(m.group(2)))] = conns(m.group(3))
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
