#!/usr/bin/env python3
"""Seeded generator of synthetic cluster snapshots for the benchmark (BENCHMARKS.md).

    python3 scripts/synth.py SIZE OUT_DIR [--seed N]

SIZE is S (500 Pods in 5 namespaces), M (5,000 Pods in 50 namespaces) or L (50,000 Pods in 500
namespaces). Per 100 Pods: 20 Deployments with their ReplicaSets, 10 NetworkPolicies, 6 PDBs,
40 Secrets, 20 ConfigMaps (about 1.7 kB each), 4 Prometheus rule groups. OUT_DIR gets
`manifests/` (one file per namespace, as `kubectl get -o yaml` lists would be split), a
`checklist.toml` using every check kind that runs offline, `docs/runbook.md`,
`load-test-results.json`, and `configmaps/` (the ConfigMap bodies as plain files, for
detect-secrets). The same seed and size always give the same bytes.

Variety: matchLabels and matchExpressions, named ports, ipBlocks with except, egress rules,
default-deny policies, integer and percentage PDBs, StatefulSets, bare Pods, env values and
volumes in templates, credential-like values in some env values and ConfigMaps, Secrets that are
unused, referenced, or keep a last-applied copy.
"""

import json
import random
import sys
from pathlib import Path

SIZES = {"S": (500, 5), "M": (5000, 50), "L": (50000, 500)}
TEAMS = ["agents", "billing", "api", "data", "web", "ml", "ops", "search"]
TIERS = ["frontend", "backend", "worker", "cache"]


def q(s):
    """A YAML double-quoted scalar."""
    return json.dumps(s)


class World:
    def __init__(self, size, seed):
        self.pods, self.nss = SIZES[size]
        self.r = random.Random(seed)
        self.uid = 0

    def next_uid(self):
        self.uid += 1
        return "00000000-0000-4000-8000-%012x" % self.uid

    def rand_hex(self, n):
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def rand_b62(self, n):
        return "".join(self.r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def container(w, name, env_secret, cm_name, plain_cred):
    env = [
        '        - {name: LOG_LEVEL, value: "info"}',
        '        - {name: REGION, value: "eu-west-1"}',
        "        - name: DB_PASSWORD\n          valueFrom: {secretKeyRef: {name: %s, key: password}}" % env_secret,
    ]
    if plain_cred:
        env.append("        - {name: API_TOKEN, value: %s}" % q("tok_" + w.rand_b62(32)))
    res = ""
    if w.r.random() < 0.7:
        res = "        resources:\n          requests: {cpu: 100m, memory: 128Mi}\n          limits: {cpu: 500m, memory: 512Mi}\n"
    return (
        "      - name: %s\n        image: registry.example.com/%s:1.%d.%d\n" % (name, name, w.r.randint(0, 9), w.r.randint(0, 20))
        + "        ports:\n        - {name: http, containerPort: 8080, protocol: TCP}\n        - {name: metrics, containerPort: 9090}\n"
        + "        env:\n" + "\n".join(env) + "\n"
        + res
        + "        readinessProbe: {httpGet: {path: /ready, port: http}}\n"
        + "        volumeMounts:\n        - {name: config, mountPath: /etc/app}\n"
    )


def pod_spec(w, app, secret, cm, plain_cred):
    return (
        "      containers:\n" + container(w, app, secret, cm, plain_cred)
        + "      volumes:\n      - name: config\n        configMap: {name: %s}\n" % cm
    )


def namespace_docs(w, ni, pods_here):
    ns = "ns-%03d" % ni
    team = TEAMS[ni % len(TEAMS)]
    docs = []
    docs.append("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {team: %s, env: %s, kubernetes.io/metadata.name: %s}\n"
                % (ns, team, "prod" if ni % 3 else "staging", ns))
    if ni % 2 == 0:
        docs.append("apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: defaults\n  namespace: %s\nspec:\n  limits:\n  - type: Container\n"
                    "    default: {cpu: 500m, memory: 512Mi}\n    defaultRequest: {cpu: 100m, memory: 128Mi}\n" % ns)
    n_secrets = pods_here * 40 // 100
    n_cms = pods_here * 20 // 100
    secrets = ["%s-secret-%d" % (ns, i) for i in range(n_secrets)]
    cms = ["%s-config-%d" % (ns, i) for i in range(n_cms)]
    for i, s in enumerate(secrets):
        ann = ""
        if i % 10 == 3:
            ann = "  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: %s\n" % q(json.dumps(
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": s, "namespace": ns},
                 "stringData": {"password": w.rand_b62(20)}}))
        docs.append("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n%stype: Opaque\ndata:\n  password: %s\n  username: %s\n"
                    % (s, ns, ann, q(w.rand_b62(24)), q("YXBw")))
    for i, c in enumerate(cms):
        lines = ["log.level=info", "cache.ttl=%ds" % w.r.randint(10, 600)]
        while sum(len(l) + 1 for l in lines) < 1500:
            lines.append("feature.%s=%s" % (w.rand_hex(6), w.r.choice(["true", "false", "on", "off", str(w.r.randint(0, 99))])))
        if i % 7 == 2:
            lines.append("aws_secret_access_key = %s" % w.rand_b62(40))
        if i % 11 == 5:
            lines.append("stripe.key=sk_live_%s" % w.rand_b62(24))
        body = "\\n".join(lines)
        docs.append("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  app.properties: \"%s\"\n  MODE: \"production\"\n"
                    % (c, ns, body))
    n_deploy = pods_here * 20 // 100
    apps = []
    pods_left = pods_here
    for d in range(n_deploy):
        app = "%s-app-%d" % (ns, d)
        apps.append(app)
        replicas = max(1, min(pods_left, w.r.choice([2, 3, 3, 5, 7])) if d < n_deploy - 1 else pods_left)
        pods_left -= replicas
        tier = TIERS[d % len(TIERS)]
        secret = secrets[d % len(secrets)] if d % 9 else "%s-missing-secret" % ns
        cm = cms[d % len(cms)]
        plain = d % 13 == 0
        dep_uid, rs_uid = w.next_uid(), w.next_uid()
        h = w.rand_hex(10)
        labels = "{app: %s, tier: %s, team: %s}" % (app, tier, TEAMS[ni % len(TEAMS)])
        spec = pod_spec(w, app, secret, cm, plain)
        docs.append(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  namespace: %s\n  uid: %s\n  generation: 1\n"
            "spec:\n  replicas: %d\n  selector:\n    matchLabels: {app: %s}\n  template:\n    metadata:\n      labels: %s\n    spec:\n%s"
            "status: {observedGeneration: 1, replicas: %d, updatedReplicas: %d, readyReplicas: %d, availableReplicas: %d}\n"
            % (app, ns, dep_uid, replicas, app, labels, spec, replicas, replicas, replicas, replicas))
        docs.append(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: %s-%s\n  namespace: %s\n  uid: %s\n"
            "  labels: {app: %s, pod-template-hash: %s}\n"
            "  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: %s, uid: %s, controller: true}]\n"
            "spec:\n  replicas: %d\n  selector:\n    matchLabels: {app: %s, pod-template-hash: %s}\n  template:\n    metadata:\n      labels: %s\n    spec:\n%s"
            "status: {replicas: %d, readyReplicas: %d, availableReplicas: %d}\n"
            % (app, h, ns, rs_uid, app, h, app, dep_uid, replicas, app, h, labels, spec, replicas, replicas, replicas))
        if d % 10 == 4:
            docs.append(
                "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n"
                "  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}\n  minReplicas: %d\n  maxReplicas: %d\n"
                "  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}\n"
                % (app, ns, app, max(1, replicas - 1), replicas * 3))
        for p in range(replicas):
            docs.append(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s-%s-%s\n  namespace: %s\n  uid: %s\n"
                "  labels: {app: %s, tier: %s, team: %s, pod-template-hash: %s}\n"
                "  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: %s-%s, uid: %s, controller: true}]\n"
                "spec:\n%s"
                "status:\n  phase: Running\n  podIP: 10.%d.%d.%d\n  conditions: [{type: Ready, status: \"True\"}]\n"
                % (app, h, w.rand_hex(5), ns, w.next_uid(), app, tier, TEAMS[ni % len(TEAMS)], h, app, h, rs_uid,
                   spec.replace("\n      ", "\n  ").replace("      containers:", "  containers:", 1),
                   ni // 250, ni % 250, p + 2 + (d * 8) % 240))
        if pods_left <= 0:
            break
    # PodDisruptionBudgets: integers and percentages, a few selecting nothing (the kustomize trap).
    for i in range(pods_here * 6 // 100):
        app = apps[i % len(apps)]
        sel = "{app: %s}" % app if i % 17 else "{app: %s, app.kubernetes.io/part-of: kgents}" % app
        budget = w.r.choice(["minAvailable: 1", "maxUnavailable: 1", "minAvailable: 50%", "maxUnavailable: 25%"])
        docs.append("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: %s-pdb-%d\n  namespace: %s\nspec:\n  %s\n  selector:\n    matchLabels: %s\n"
                    % (app, i, ns, budget, sel))
    # NetworkPolicies: a default deny, then allows with every selector form.
    docs.append("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: default-deny\n  namespace: %s\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n" % ns)
    for i in range(pods_here * 10 // 100 - 1):
        app = apps[i % len(apps)]
        kind = i % 4
        if kind == 0:
            frm = "    - podSelector:\n        matchExpressions:\n        - {key: tier, operator: In, values: [frontend, backend]}\n"
        elif kind == 1:
            frm = "    - namespaceSelector:\n        matchLabels: {team: %s}\n      podSelector:\n        matchLabels: {tier: frontend}\n" % TEAMS[(ni + 1) % len(TEAMS)]
        elif kind == 2:
            frm = "    - ipBlock:\n        cidr: 10.0.0.0/8\n        except: [10.%d.0.0/16]\n" % (ni % 250)
        else:
            frm = "    - namespaceSelector:\n        matchExpressions:\n        - {key: env, operator: NotIn, values: [staging]}\n"
        egress = ""
        if i % 3 == 0:
            egress = "  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %s}}\n    ports:\n    - {port: 5432, protocol: TCP}\n  - ports:\n    - {port: 53, protocol: UDP}\n" % ns
        types = "[Ingress, Egress]" if egress else "[Ingress]"
        docs.append(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-%s-%d\n  namespace: %s\nspec:\n  podSelector:\n    matchLabels: {app: %s}\n"
            "  policyTypes: %s\n  ingress:\n  - from:\n%s    ports:\n    - {port: http, protocol: TCP}\n    - {port: 9090}\n%s"
            % (app, i, ns, app, types, frm, egress))
    # Alert rules in ConfigMaps, as kube-prometheus mounts them.
    groups = pods_here * 4 // 100
    if groups:
        rules = []
        for g in range(groups):
            rules.append("      - name: %s-group-%d\n        rules:\n" % (ns, g))
            for a in range(3):
                sev = ["critical", "warning", "info"][a]
                rules.append(
                    "        - alert: %sAlert%d%d\n          expr: sum(rate(http_requests_total{namespace=\"%s\",code=~\"5..\"}[5m])) / sum(rate(http_requests_total{namespace=\"%s\"}[5m])) > 0.0%d\n"
                    "          for: 5m\n          labels: {severity: %s}\n          annotations:\n            summary: High error rate in %s\n            runbook_url: https://runbooks.example.com/%s\n"
                    % (ns.replace("-", ""), g, a, ns, ns, a + 1, sev, ns, ns))
        docs.append("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prometheus-rules\n  namespace: %s\n  labels: {role: alert-rules}\ndata:\n  alerts.yaml: |\n    groups:\n%s"
                    % (ns, "".join(rules)))
    return ns, docs, cms


def checklist(w, nss):
    items = []
    def item(id_, cat, check, with_):
        items.append('[[item]]\nid = "%s"\ncategory = "%s"\ntitle = "%s"\ncheck = "%s"\nseverity = "blocking"\nowner = "platform"\n[item.with]\n%s\n'
                     % (id_, cat, id_, check, with_))
    item("availability.pdb", "availability", "pdb.health", "")
    item("secrets.hygiene", "secrets", "secrets.hygiene", "")
    item("observability.rules", "observability", "observability.alert-rules",
         'configmaps = [{ namespace = "%s", selector = { role = "alert-rules" } }]\n' % nss[0]
         + "".join('configmaps = []\n' for _ in []))
    for i in range(10):
        ns = nss[(i * 7) % len(nss)]
        other = nss[(i * 7 + 1) % len(nss)]
        item("network.isolation-%d" % i, "network", "netpol.isolation",
             'namespace = "%s"\nselector = { app = "%s-app-%d" }\nport = "http"\nallow_from = ["%s"]\ndeny_from = ["%s"]\n'
             % (ns, ns, i % 3, ns, other))
    item("resources.workloads", "resources", "workloads.readiness", "")
    item("resources.hpa", "resources", "hpa.capacity", "")
    item("security.dependencies", "security", "security.dependency-scan", 'reports = ["scans/*.json"]\n')
    item("docs.runbook", "docs", "docs.file", 'path = "docs/runbook.md"\nheadings = ["Rollback", "On-call"]\n')
    item("load.baseline", "load", "load.k6-baseline", 'path = "load-test-results.json"\n')
    cats = "".join('[[category]]\nid = "%s"\ntitle = "%s"\n\n' % (c, c.title())
                   for c in ["availability", "secrets", "observability", "network", "resources", "security", "docs", "load"])
    return '[launch]\nname = "synthetic %d pods"\napprovers = ["lead"]\n\n%s%s' % (w.pods, cats, "\n".join(items))


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] not in SIZES:
        sys.exit("usage: synth.py S|M|L OUT_DIR [--seed N]")
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 42
    out = Path(args[1])
    w = World(args[0], seed)
    (out / "manifests").mkdir(parents=True, exist_ok=True)
    (out / "configmaps").mkdir(exist_ok=True)
    (out / "docs").mkdir(exist_ok=True)
    per_ns = w.pods // w.nss
    nss = []
    for ni in range(w.nss):
        ns, docs, _ = namespace_docs(w, ni, per_ns)
        nss.append(ns)
        (out / "manifests" / ("%s.yaml" % ns)).write_text("---\n".join(docs))
    # The ConfigMaps alone (for `secrets scan`) and their bodies as files (for scanners that
    # read files), the same bytes.
    cm_docs = []
    for f in sorted((out / "manifests").glob("*.yaml")):
        text = f.read_text()
        for i, doc in enumerate(text.split("---\n")):
            if "\nkind: ConfigMap\n" in doc and "app.properties" in doc:
                cm_docs.append(doc)
                body = doc.split('app.properties: "', 1)[1].split('"\n', 1)[0].replace("\\n", "\n")
                name = doc.split("\n  name: ", 1)[1].split("\n", 1)[0]
                (out / "configmaps" / ("%s.properties" % name)).write_text(body + "\n")
    (out / "configmaps.yaml").write_text("---\n".join(cm_docs))
    (out / "checklist.toml").write_text(checklist(w, nss))
    (out / "scans").mkdir(exist_ok=True)
    (out / "scans" / "requirements-audit.json").write_text(json.dumps({"dependencies": [
        {"name": "requests", "version": "2.31.0", "vulns": []},
        {"name": "urllib3", "version": "1.26.5", "vulns": [
            {"id": "PYSEC-2023-192", "fix_versions": ["1.26.17"], "aliases": ["CVE-2023-43804"]}]}],
        "fixes": []}, indent=1))
    (out / "docs" / "runbook.md").write_text("# Runbook\n\n## Rollback\n\nkubectl rollout undo.\n\n## On-call\n\nPage the platform team.\n")
    (out / "load-test-results.json").write_text(json.dumps({"metrics": {
        "http_reqs": {"count": 143400, "rate": 478.0},
        "http_req_failed": {"passes": 0, "fails": 143400, "value": 0},
        "http_req_duration": {"avg": 3.1, "med": 2.4, "p(90)": 5.2, "p(95)": 6.95, "max": 41.0}}}, indent=1))


if __name__ == "__main__":
    main()
