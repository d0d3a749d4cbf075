//! Runs the static NetworkPolicy evaluator against every case of tests/corpora/netpol/ (expected
//! outcomes from other projects), naming the case, pair and port on any disagreement.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use kgents_gate::netpol::{
    ConnectionSet, Endpoint, IpBlockScope, NetpolWorld, Peer, PodInfo, PortSet, PortSpec, Protocol,
    allowed_connections, evaluate,
};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora/netpol")
}

/// Upstream expectations this evaluator deliberately does not share; each is asserted to still
/// differ exactly as documented (tests/corpora/netpol/DIVERGENCES.md), so the list cannot go stale.
const NETASSERT_NOT_POLICY: &[(&str, &str)] = &[(
    "busybox-deploy-to-fake-host",
    "0.0.0.0 is not a reachable host; no NetworkPolicy selects busybox, so policy-wise the connection is allowed",
)];

/// The objects of a corpus file, read exactly as the manifest loader reads them (YAML as
/// Kubernetes reads it). Stray non-object documents (e.g. JSON reports) are skipped; any other
/// problem fails the test.
fn yaml_docs(text: &str, what: &str) -> Vec<Value> {
    let mut set = kgents_gate::cluster::manifests::ManifestSet::default();
    kgents_gate::cluster::manifests::parse_into(text, Path::new("corpus.yaml"), &mut set);
    for e in &set.errors {
        assert!(
            e.message.contains("not a Kubernetes object") || e.message.contains("no apiVersion or kind"),
            "{what}: {e}"
        );
    }
    set.objects.into_iter().map(|o| o.object).collect()
}

fn manifest_dir(dir: &Path) -> Vec<Value> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml" || x == "json") {
                files.push(p);
            }
        }
    }
    files.sort();
    files.iter().flat_map(|f| yaml_docs(&std::fs::read_to_string(f).unwrap(), &f.display().to_string())).collect()
}

// ---------------------------------------------------------------- np-guard connlist cases

/// The name np-guard gives a pod's workload: `ns/owner[Kind]`, or `ns/pod[Pod]` without owner.
fn group_key(p: &PodInfo) -> String {
    match &p.owner {
        Some(o) => format!("{}/{}[{}]", p.namespace, o.name, o.kind),
        None => format!("{}/{}[Pod]", p.namespace, p.name),
    }
}

fn parse_conns(s: &str) -> ConnectionSet {
    let s = s.trim();
    if s == "All Connections" {
        return ConnectionSet::all();
    }
    let mut out = ConnectionSet::none();
    let mut proto = None;
    for tok in s.split(',') {
        let tok = tok.trim();
        let ports = match tok.split_once(' ') {
            Some((p, rest)) => {
                proto = Some(p.parse::<Protocol>().unwrap());
                rest
            }
            None => tok,
        };
        let (lo, hi) = ports.split_once('-').unwrap_or((ports, ports));
        out.add(proto.expect("protocol first"), &PortSet::from_range(lo.parse().unwrap(), hi.parse().unwrap()));
    }
    out
}

fn ext_range(s: &str) -> Option<(u32, u32)> {
    let r = s.strip_suffix("[External]")?;
    let (a, b) = r.split_once('-')?;
    Some((u32::from(a.parse::<Ipv4Addr>().ok()?), u32::from(b.parse::<Ipv4Addr>().ok()?)))
}

/// Listed IPv4 ranges (first, last) with their connections.
type Ranges = Vec<(u32, u32, ConnectionSet)>;

#[derive(Default)]
struct Expected {
    pods: BTreeMap<(String, String), ConnectionSet>,
    /// (group, inbound?) -> ranges with their connections.
    external: BTreeMap<(String, bool), Ranges>,
    /// np-guard's `{ingress-controller}` pseudo-peer (exposure through Routes/Ingresses).
    ingress_controller: Vec<(String, ConnectionSet)>,
}

fn parse_connlist(text: &str) -> Expected {
    let mut ex = Expected::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (pair, conns) = line.split_once(" : ").unwrap_or_else(|| panic!("bad line {line:?}"));
        let (src, dst) = pair.split_once(" => ").unwrap_or_else(|| panic!("bad line {line:?}"));
        let conns = parse_conns(conns);
        if src == "{ingress-controller}" {
            ex.ingress_controller.push((dst.to_string(), conns));
            continue;
        }
        match (ext_range(src), ext_range(dst)) {
            (Some((a, b)), None) => ex.external.entry((dst.to_string(), true)).or_default().push((a, b, conns)),
            (None, Some((a, b))) => ex.external.entry((src.to_string(), false)).or_default().push((a, b, conns)),
            (None, None) => {
                ex.pods.insert((src.to_string(), dst.to_string()), conns);
            }
            _ => panic!("external to external in {line:?}"),
        }
    }
    ex
}

/// Ports worth probing with `evaluate` so that it is checked against the whole-set answer.
fn sample_ports(c: &ConnectionSet) -> Vec<(Protocol, u16)> {
    let mut out = Vec::new();
    for proto in Protocol::ALL {
        let mut ports: BTreeSet<u16> = [1, 65535].into();
        for &(lo, hi) in c.ports(proto).map(PortSet::ranges).unwrap_or_default() {
            ports.extend([lo, hi, lo.saturating_sub(1).max(1), hi.saturating_add(1)]);
        }
        out.extend(ports.into_iter().map(|p| (proto, p)));
    }
    out
}

fn check_evaluate_agrees(w: &NetpolWorld, from: &Endpoint, to: &Endpoint, set: &ConnectionSet, ctx: &str) {
    for (proto, port) in sample_ports(set) {
        let v = evaluate(w, from, to, &PortSpec::Number(port), proto).unwrap();
        assert_eq!(v.allowed, set.contains(proto, port), "{ctx}: evaluate {proto} {port} disagrees with {set}");
    }
}

struct NpGuardCount {
    pod_pairs: usize,
    external_pairs: usize,
    ipblock_divergent: usize,
}

fn run_np_guard_case(dir: &Path) -> Result<NpGuardCount, String> {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let docs = manifest_dir(&dir.join("input"));
    let w = NetpolWorld::from_objects(&docs).map_err(|e| format!("{name}: {e}"))?;
    let text = match std::fs::read_to_string(dir.join("expected/connlist_output.txt")) {
        Ok(t) => t,
        Err(_) => {
            let gz = std::fs::File::open(dir.join("expected/connlist_output.txt.gz")).unwrap();
            let mut t = String::new();
            flate2::read::GzDecoder::new(gz).read_to_string(&mut t).unwrap();
            t
        }
    };
    let ex = parse_connlist(&text);
    let mut groups: BTreeMap<String, Vec<&PodInfo>> = BTreeMap::new();
    for p in w.pods() {
        groups.entry(group_key(p)).or_default().push(p);
    }
    for (s, d) in ex.pods.keys() {
        if !groups.contains_key(s) || !groups.contains_key(d) {
            return Err(format!("{name}: expected pair {s} => {d} names a workload the evaluator did not load"));
        }
    }
    let external_only = w.clone().with_ipblock_scope(IpBlockScope::ExternalOnly);
    let mut count = NpGuardCount { pod_pairs: 0, external_pairs: 0, ipblock_divergent: 0 };
    let mut errors = Vec::new();

    // Every ordered pair of distinct workloads (np-guard never lists a workload to itself).
    for (sk, spods) in &groups {
        for (dk, dpods) in &groups {
            if sk == dk {
                continue;
            }
            count.pod_pairs += 1;
            let want = ex.pods.get(&(sk.clone(), dk.clone())).cloned().unwrap_or_default();
            for sp in spods {
                for dp in dpods {
                    let (from, to) = (sp.endpoint(), dp.endpoint());
                    let got = allowed_connections(&w, &from, &to).unwrap();
                    let ctx = format!("{name}: {from} ({sk}) => {to} ({dk})");
                    check_evaluate_agrees(&w, &from, &to, &got, &ctx);
                    if got == want {
                        continue;
                    }
                    // Kubernetes lets ipBlocks match pod IPs; np-guard does not. Accept the
                    // difference only when it is exactly that.
                    let scoped = allowed_connections(&external_only, &from, &to).unwrap();
                    if scoped == want {
                        count.ipblock_divergent += 1;
                    } else {
                        errors.push(format!("{ctx}: expected {want}, got {got}"));
                    }
                }
            }
        }
    }

    // External addresses: split IPv4 space at every ipBlock and expected-range boundary; the answer
    // is constant inside each piece, so its first address stands for it.
    let mut cuts: BTreeSet<u64> = [0u64, 1 << 32].into();
    for p in w.policies() {
        for r in p.ingress.iter().chain(&p.egress) {
            for peer in &r.peers {
                if let Peer::IpBlock(b) = peer {
                    for c in std::iter::once(b.cidr).chain(b.except.iter().copied()).filter(|c| !c.is_v6()) {
                        let (lo, hi) = c.range();
                        cuts.extend([lo as u64, hi as u64 + 1]);
                    }
                }
            }
        }
    }
    for ranges in ex.external.values() {
        for (a, b, _) in ranges {
            cuts.extend([u64::from(*a), u64::from(*b) + 1]);
        }
    }
    let starts: Vec<u32> = cuts.iter().filter(|c| **c < 1 << 32).map(|c| *c as u32).collect();
    for (gk, pods) in &groups {
        let pod = pods[0].endpoint();
        for inbound in [true, false] {
            let listed = ex.external.get(&(gk.clone(), inbound));
            for &ip in &starts {
                count.external_pairs += 1;
                let want = listed
                    .and_then(|rs| rs.iter().find(|(a, b, _)| *a <= ip && ip <= *b))
                    .map(|(_, _, c)| c.clone())
                    .unwrap_or_default();
                let ext = Endpoint::External(IpAddr::V4(Ipv4Addr::from(ip)));
                let (from, to) = if inbound { (&ext, &pod) } else { (&pod, &ext) };
                let got = allowed_connections(&w, from, to).unwrap();
                if got != want {
                    errors.push(format!("{name}: {from} => {to} ({gk}): expected {want}, got {got}"));
                }
            }
            let ext = Endpoint::External(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
            let (from, to) = if inbound { (&ext, &pod) } else { (&pod, &ext) };
            let got = allowed_connections(&w, from, to).unwrap();
            check_evaluate_agrees(&w, from, to, &got, &format!("{name}: {from} => {to}"));
        }
    }
    // Only some manifest sets list connections from an ingress controller.
    if !ex.ingress_controller.is_empty() {
        check_ingress_controller(&name, docs, &ex.ingress_controller, &groups, &mut errors);
    }
    if errors.is_empty() {
        Ok(count)
    } else {
        let n = errors.len();
        errors.truncate(20);
        Err(format!("{n} disagreements, first ones:\n  {}", errors.join("\n  ")))
    }
}

/// np-guard also reports what its abstract ingress controller may reach through Routes and
/// Ingresses, on the exposed port only. Not a NetworkPolicy pair between loaded objects, so it
/// is checked as what it implies: a pod in a fresh, unlabelled namespace may reach the workload
/// on at least the listed connections.
fn check_ingress_controller(
    name: &str,
    mut docs: Vec<Value>,
    lines: &[(String, ConnectionSet)],
    groups: &BTreeMap<String, Vec<&PodInfo>>,
    errors: &mut Vec<String>,
) {
    docs.push(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "probe-ingress"}}));
    docs.push(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "controller", "namespace": "probe-ingress"}}));
    let w = NetpolWorld::from_objects(&docs).unwrap();
    let from = Endpoint::pod("probe-ingress", "controller");
    for (dst, want) in lines {
        let Some(pod) = groups.get(dst).map(|p| p[0].endpoint()) else {
            errors.push(format!("{name}: ingress-controller line names unknown workload {dst}"));
            continue;
        };
        let got = allowed_connections(&w, &from, &pod).unwrap();
        if &got.intersect(want) != want {
            errors.push(format!("{name}: {{ingress-controller}} => {dst}: expected at least {want}, got {got}"));
        }
    }
}

#[test]
fn np_guard_netpol_analyzer_connlists() {
    let root = corpus().join("np-guard-netpol-analyzer");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert_eq!(dirs.len(), 38, "all 38 upstream manifest sets are present");
    let (mut pod_pairs, mut external_pairs, mut divergent) = (0, 0, 0);
    let mut failures = Vec::new();
    for d in &dirs {
        match run_np_guard_case(d) {
            Ok(c) => {
                pod_pairs += c.pod_pairs;
                external_pairs += c.external_pairs;
                divergent += c.ipblock_divergent;
            }
            Err(e) => failures.push(format!("{}: {e}", d.file_name().unwrap().to_string_lossy())),
        }
    }
    println!(
        "np-guard: {} cases, {pod_pairs} workload pairs, {external_pairs} external range pairs, \
         {divergent} pod pairs differing only by ipBlock-matches-pod-IP",
        dirs.len()
    );
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), dirs.len(), failures.join("\n"));
}

// ---------------------------------------------------------------- step-by-step cases (README-schema.md)

/// Builds the Kubernetes objects one step of a schema case describes.
fn step_objects(step: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for ns in step["namespaces"].as_array().into_iter().flatten() {
        out.push(serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns["name"], "labels": ns["labels"]}}));
    }
    for p in step["pods"].as_array().into_iter().flatten() {
        let mut pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p["name"], "namespace": p["namespace"], "labels": p["labels"]},
            "spec": {"containers": p["containers"]}});
        if let Some(ip) = p["ip"].as_str() {
            pod["status"] = serde_json::json!({"podIP": ip});
        }
        out.push(pod);
    }
    out.extend(step["networkPolicies"].as_array().into_iter().flatten().cloned());
    out
}

fn run_schema_file(path: &Path, checked: &mut usize) -> Vec<String> {
    // A case description, not a Kubernetes object: read with the YAML 1.2 core schema.
    let text = std::fs::read_to_string(path).unwrap();
    let doc = kgents_gate::cluster::yaml::documents(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_else(|| panic!("{} is empty", path.display()))
        .to_json();
    let id = doc["id"].as_str().unwrap().to_string();
    let mut errors = Vec::new();
    for step in doc["steps"].as_array().unwrap() {
        let n = &step["step"];
        let w = match NetpolWorld::from_objects(step_objects(step)) {
            Ok(w) => w,
            Err(e) => {
                errors.push(format!("{id} step {n}: {e}"));
                continue;
            }
        };
        for e in step["expectations"].as_array().unwrap() {
            let expect = e["expect"].as_str().unwrap();
            if expect == "ignored" {
                continue;
            }
            let (from, to) = (e["from"].as_str().unwrap(), e["to"].as_str().unwrap());
            let port: PortSpec = match &e["port"] {
                Value::Number(n) => PortSpec::Number(n.as_u64().unwrap() as u16),
                other => other.as_str().unwrap().parse().unwrap(),
            };
            let proto: Protocol = e["protocol"].as_str().unwrap_or("TCP").parse().unwrap();
            let v = evaluate(&w, &from.parse().unwrap(), &to.parse().unwrap(), &port, proto);
            *checked += 1;
            match v {
                Ok(v) if v.allowed == (expect == "allow") => {}
                Ok(v) => errors.push(format!(
                    "{id} step {n}: {from} -> {to} {proto} {port:?}: expected {expect}, got {}",
                    serde_json::to_string(&v).unwrap()
                )),
                Err(err) => errors.push(format!("{id} step {n}: {from} -> {to}: {err}")),
            }
        }
    }
    errors
}

#[test]
fn ahmetb_recipes_and_bitnami_nats_expectations() {
    let (mut files, mut checked, mut errors) = (0, 0, Vec::new());
    for dir in ["ahmetb-recipes", "bitnami-nats-doc"] {
        let mut paths: Vec<PathBuf> =
            std::fs::read_dir(corpus().join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.extension().is_some_and(|x| x == "yaml")) {
            files += 1;
            errors.extend(run_schema_file(p, &mut checked));
        }
    }
    println!("schema cases: {files} files, {checked} expectations");
    assert_eq!(files, 17);
    assert!(checked >= 46, "only {checked} expectations were read");
    assert!(errors.is_empty(), "{} failures:\n{}", errors.len(), errors.join("\n"));
}

// ---------------------------------------------------------------- netassert e2e (static part)

/// The pod standing for a netassert `k8sResource` (a workload by kind and name, or a pod).
fn netassert_pod(w: &NetpolWorld, r: &Value) -> Endpoint {
    let (kind, name, ns) = (r["kind"].as_str().unwrap(), r["name"].as_str().unwrap(), r["namespace"].as_str().unwrap());
    let found = w.pods().iter().find(|p| {
        p.namespace == ns
            && match &p.owner {
                _ if kind == "pod" => p.name == name,
                Some(o) => o.kind.eq_ignore_ascii_case(kind) && o.name == name,
                None => false,
            }
    });
    found.unwrap_or_else(|| panic!("netassert: no pod for {kind} {ns}/{name}")).endpoint()
}

#[test]
fn netassert_e2e_static_expectations() {
    let dir = corpus().join("netassert-e2e");
    let mut docs = manifest_dir(&dir);
    // test-cases.yaml is the expectation list, not a manifest.
    docs.retain(|d| d.get("kind").is_some());
    let w = NetpolWorld::from_objects(&docs).unwrap();
    // Host names cannot be resolved statically; with no ipBlock anywhere the address chosen for
    // them cannot change the answer.
    let ipblocks = w.policies().iter().flat_map(|p| p.ingress.iter().chain(&p.egress)).flat_map(|r| &r.peers);
    assert!(ipblocks.clone().all(|p| !matches!(p, Peer::IpBlock(_))));
    let cases: Vec<Value> =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("test-cases.yaml")).unwrap()).unwrap();
    let (mut checked, mut documented, mut errors) = (0, 0, Vec::new());
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let from = netassert_pod(&w, &c["src"]["k8sResource"]);
        let to = match c["dst"]["host"]["name"].as_str() {
            Some(host) => Endpoint::External(host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)))),
            None => netassert_pod(&w, &c["dst"]["k8sResource"]),
        };
        let port = PortSpec::Number(c["targetPort"].as_u64().unwrap() as u16);
        let proto: Protocol = c["protocol"].as_str().unwrap().parse().unwrap();
        let v = evaluate(&w, &from, &to, &port, proto).unwrap();
        let expect_allowed = c["exitCode"].as_i64() == Some(0);
        checked += 1;
        if let Some((_, why)) = NETASSERT_NOT_POLICY.iter().find(|(n, _)| *n == name) {
            documented += 1;
            assert_ne!(v.allowed, expect_allowed, "{name} now agrees upstream; drop it from the documented list");
            println!("netassert {name}: documented divergence: {why}");
            continue;
        }
        if v.allowed != expect_allowed {
            errors
                .push(format!("{name}: {from} -> {to} {proto} {port:?}: expected allowed={expect_allowed}, got {v:?}"));
        }
    }
    println!("netassert: {checked} cases ({documented} documented divergence)");
    assert_eq!(checked, 9);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
