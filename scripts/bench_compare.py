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


# What each detect-secrets finding type is called among kgents-gate's findings: a ConfigMap
# detect-secrets flags with a type must be flagged by kgents-gate with one of these.
DS_TYPES = {
    "Secret Keyword": ("generic-api-key", "assigns a value"),
    "Stripe Access Key": ("stripe-access-token",),
    "AWS Access Key": ("aws-access-token",),
    "Private Key": ("private-key",),
}


def secrets(ours_path, theirs_path, bodies):
    """Findings compared per ConfigMap and per kind of credential: detect-secrets writes one
    finding per line and type, kgents-gate one per ConfigMap key naming the patterns matched."""
    ours = json.load(open(ours_path))
    theirs = json.load(open(theirs_path))
    ours_cms = {}
    for f in ours:
        if f["code"] == "configmap-credential":
            ours_cms.setdefault(f["object"]["name"], []).append(f["message"])
    theirs_cms = {}
    for f, found in theirs.get("results", {}).items():
        theirs_cms[os.path.basename(f)[: -len(".properties")]] = {x["type"] for x in found}
    planted = set()
    for f in os.listdir(bodies):
        text = open(os.path.join(bodies, f)).read()
        if "aws_secret_access_key" in text or "sk_live_" in text:
            planted.add(f[: -len(".properties")])
    n_theirs = sum(len(v) for v in theirs.get("results", {}).values())
    print("  credential scan: %d ConfigMaps hold a planted credential; kgents-gate flags %d, detect-secrets %d"
          " (%d findings)" % (len(planted), len(ours_cms), len(theirs_cms), n_theirs))
    lost = []
    for cm, types in sorted(theirs_cms.items()):
        messages = " ".join(ours_cms.get(cm, []))
        for t in sorted(types):
            names = DS_TYPES.get(t, ())
            if not messages or (names and not any(n in messages for n in names)):
                lost.append("%s (%s)" % (cm, t))
    print("  detect-secrets findings kgents-gate does not have: %d %s" % (len(lost), lost[:5]))
    print("  ConfigMaps flagged by kgents-gate only: %d %s"
          % (len(set(ours_cms) - set(theirs_cms)), sorted(set(ours_cms) - set(theirs_cms))[:5]))
    if not theirs_cms:
        sys.exit("bench: detect-secrets flagged nothing: it did not scan the files (run it from their directory)")
    missed = planted - set(ours_cms)
    if missed:
        sys.exit("bench: kgents-gate missed planted credentials in %s" % sorted(missed)[:5])
    if lost:
        sys.exit("bench: kgents-gate lost findings detect-secrets has")


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
    """IP ranges are "a-b[External]" in kgents-gate's output and "a-b" (or one address) in nca's."""
    return name[: -len("[External]")] if name.endswith("[External]") else name


IPV4 = r"(\d+)\.(\d+)\.(\d+)\.(\d+)"


def ip_int(groups):
    a, b, c, d = (int(x) for x in groups)
    return (a << 24) | (b << 16) | (c << 8) | d


def ip_span(name):
    """(first, last) address of "a.b.c.d", "a.b.c.d-e.f.g.h" or "a.b.c.d/n"; None for a workload."""
    m = re.fullmatch(IPV4 + r"(?:-" + IPV4 + r")?", name)
    if m:
        lo = ip_int(m.groups()[:4])
        return lo, ip_int(m.groups()[4:]) if m.group(5) else lo
    m = re.fullmatch(IPV4 + r"/(\d+)", name)
    if m:
        lo, bits = ip_int(m.groups()[:4]), int(m.group(5))
        return lo, lo | ((1 << (32 - bits)) - 1)
    return None


def read_connlist(path):
    """Workload pairs -> connections, and (direction, workload) -> [(first, last, connections)]
    for traffic from or to addresses outside the cluster. A pair on several lines (nca writes
    one line per protocol group) gets the union."""
    pairs, external = {}, {}
    for line in open(path):
        m = CONN.match(line.strip())
        if not m:
            continue
        src, dst, c = endpoint(m.group(1)), endpoint(m.group(2)), conns(m.group(3))
        s_span, d_span = ip_span(src), ip_span(dst)
        if s_span and not d_span:
            external.setdefault(("in", dst), []).append((*s_span, c))
        elif d_span and not s_span:
            external.setdefault(("out", src), []).append((*d_span, c))
        else:
            pairs[(src, dst)] = merged(pairs.get((src, dst), frozenset()) | c)
    return pairs, external


def external_units(a, b):
    """Compares two tools' answers for outside addresses piece by piece: the address space is cut
    at every range boundary either tool names, and each piece is compared, so the same answer
    written as different ranges agrees. Returns (pieces agreeing, differing pieces)."""
    same, differ = 0, []
    for key in set(a) | set(b):
        xs, ys = a.get(key, []), b.get(key, [])
        cuts = sorted({0, 1 << 32} | {lo for lo, _, _ in xs + ys} | {hi + 1 for _, hi, _ in xs + ys})
        for lo, end in zip(cuts, cuts[1:]):
            ca = merged(frozenset().union(*[c for l, h, c in xs if l <= lo <= h]))
            cb = merged(frozenset().union(*[c for l, h, c in ys if l <= lo <= h]))
            if ca == cb:
                same += 1
            else:
                differ.append((key, lo, end - 1, ca, cb))
    return same, differ


def show(c):
    return ",".join("%s %d-%d" % x for x in sorted(c)) or "none"


def matrix(ours_dir, theirs_dir):
    """Answers compared pair by pair (workload to workload), and piece by piece of the address
    space for traffic from and to outside the cluster."""
    same = differ = 0
    notes = []
    for name in sorted(os.listdir(ours_dir)):
        a, ax = read_connlist(os.path.join(ours_dir, name))
        path = os.path.join(theirs_dir, name)
        b, bx = read_connlist(path) if os.path.exists(path) else ({}, {})
        keys = set(a) | set(b)
        d = sorted(k for k in keys if a.get(k) != b.get(k))
        xsame, xd = external_units(ax, bx)
        same += len(keys) - len(d) + xsame
        differ += len(d) + len(xd)
        if d or xd:
            notes.append("%s: %d of %d workload pairs and %d of %d outside-address pieces differ"
                         % (name, len(d), len(keys), len(xd), xsame + len(xd)))
            for k in d[:3]:
                notes.append("    %s => %s: kgents-gate %s; nca %s" % (k[0], k[1], show(a.get(k, ())), show(b.get(k, ()))))
            for key, lo, hi, ca, cb in xd[:2]:
                notes.append("    %s %s %d-%d: kgents-gate %s; nca %s" % (key[0], key[1], lo, hi, show(ca), show(cb)))
    print("  connectivity: %d answers agree, %d differ" % (same, differ))
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
