//! The full connectivity of the namespaces in scope, computed by the evaluator: which workload
//! reaches which on which protocols and ports, through which policies, and what reaches them
//! from outside the cluster (IPv4 ranges split at every ipBlock boundary). What a reviewer reads
//! before a launch, and the form connectivity analysers print (`src => dst : connections`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use super::evaluate::{connections_with_policies, isolating_policies};
use super::model::{NetpolWorld, Peer, PodInfo, Rule};
use super::ports::{ConnectionSet, rule_connections};

/// One line of the matrix. Names, connections and policy lists are shared between the lines
/// that have them in common (a workload appears on many lines, one answer on many pairs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixEntry {
    /// `namespace/name[Kind]` of a workload (its pods' owner, or the pod itself), or an IPv4
    /// range `a.b.c.d-e.f.g.h[External]`.
    #[serde(serialize_with = "text")]
    pub from: Arc<str>,
    #[serde(serialize_with = "text")]
    pub to: Arc<str>,
    #[serde(serialize_with = "display")]
    pub connections: Arc<ConnectionSet>,
    /// The policies that allow the traffic (egress of the source, ingress of the destination);
    /// empty when neither end is isolated.
    #[serde(serialize_with = "list")]
    pub policies: Arc<[String]>,
}

fn text<S: serde::Serializer>(t: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t)
}

fn display<S: serde::Serializer>(c: &Arc<ConnectionSet>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&c.to_string())
}

fn list<S: serde::Serializer>(l: &Arc<[String]>, s: S) -> Result<S::Ok, S::Error> {
    l.as_ref().serialize(s)
}

/// One answer: what is allowed, and by which policies (sorted, each once).
type Answer = (Arc<ConnectionSet>, Arc<[String]>);

fn answer(connections: ConnectionSet, mut policies: Vec<String>) -> Answer {
    policies.sort();
    policies.dedup();
    (Arc::new(connections), policies.into())
}

/// The connectivity of a world, restricted to workloads of `namespaces` (all when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub workloads: Vec<String>,
    pub entries: Vec<MatrixEntry>,
}

/// `namespace/owner[Kind]`, or `namespace/pod[Pod]` for a pod without owner.
pub fn workload_key(p: &PodInfo) -> String {
    match &p.owner {
        Some(o) => format!("{}/{}[{}]", p.namespace, o.name, o.kind),
        None => format!("{}/{}[Pod]", p.namespace, p.name),
    }
}

/// `a.b.c.d-e.f.g.h[External]`: an address range outside the cluster.
fn ip_range(lo: u32, hi: u32) -> Arc<str> {
    Arc::from(format!("{}-{}[External]", Ipv4Addr::from(lo), Ipv4Addr::from(hi)))
}

/// Computes the matrix. Pods of one workload share their template, so one pod stands for its
/// workload; workloads whose pods look the same to every policy (namespace, labels, named ports,
/// addresses) are computed once.
pub fn matrix(world: &NetpolWorld, namespaces: &[String]) -> Matrix {
    let in_scope = |ns: &str| namespaces.is_empty() || namespaces.iter().any(|n| n == ns);
    let mut groups: BTreeMap<String, &PodInfo> = BTreeMap::new();
    for p in world.pods().iter().filter(|p| in_scope(&p.namespace)) {
        groups.entry(workload_key(p)).or_insert(p);
    }
    let mut entries = Vec::new();
    let keys: Vec<Arc<str>> = groups.keys().map(|k| Arc::from(k.as_str())).collect();
    // Each workload's class, numbered: pairs of classes are then looked up by two integers.
    let mut class_ids: HashMap<String, usize> = HashMap::new();
    let ids: Vec<usize> = groups
        .values()
        .map(|p| {
            let n = class_ids.len();
            *class_ids.entry(class(p)).or_insert(n)
        })
        .collect();
    let mut cache: HashMap<(usize, usize), Answer> = HashMap::new();
    let pods: Vec<&PodInfo> = groups.values().copied().collect();
    for (s, (sp, &si)) in pods.iter().zip(&ids).enumerate() {
        for (d, (dp, &di)) in pods.iter().zip(&ids).enumerate() {
            if s == d {
                continue;
            }
            let (connections, policies) = cache.entry((si, di)).or_insert_with(|| {
                let mut policies = Vec::new();
                let c = connections_with_policies(world, &sp.endpoint(), &dp.endpoint(), Some(&mut policies))
                    .unwrap_or_else(|_| ConnectionSet::none());
                answer(c, policies)
            });
            if !connections.is_empty() {
                entries.push(MatrixEntry {
                    from: keys[s].clone(),
                    to: keys[d].clone(),
                    connections: connections.clone(),
                    policies: policies.clone(),
                });
            }
        }
    }
    entries.extend(external(world, &keys, &pods, &ids));
    Matrix { workloads: groups.into_keys().collect(), entries }
}

/// The addresses an IPv4 ipBlock matches, as half-open intervals: its CIDR minus its excepts,
/// adjacent excepts merged (so `10.0.0.0/9` and `10.128.0.0/9` cut like `10.0.0.0/8`).
fn block_intervals(b: &super::peers::IpBlock) -> Vec<(u64, u64)> {
    let (lo, hi) = b.cidr.range();
    let mut holes: Vec<(u64, u64)> = b
        .except
        .iter()
        .filter(|c| !c.is_v6())
        .map(|c| {
            let (a, z) = c.range();
            (a as u64, z as u64 + 1)
        })
        .collect();
    holes.sort_unstable();
    let mut out = Vec::new();
    let mut at = lo as u64;
    for (a, z) in holes {
        if a > at {
            out.push((at, a));
        }
        at = at.max(z);
    }
    if at <= hi as u64 {
        out.push((at, hi as u64 + 1));
    }
    out
}

/// What the evaluator can see of a pod: equivalent endpoints give equal answers.
fn class(p: &PodInfo) -> String {
    format!("{}|{:?}|{:?}|{:?}", p.namespace, p.labels, p.ports, p.ips)
}

/// From and to outside the cluster, piece by piece (`Outside`). Pieces are listed as cut
/// (np-guard's presentation), so the ranges the policies name stay visible. Pods of one class
/// (they look the same to every policy) share their answers.
fn external(world: &NetpolWorld, keys: &[Arc<str>], pods: &[&PodInfo], class_ids: &[usize]) -> Vec<MatrixEntry> {
    use super::model::Direction;
    let mut sides = [Outside::new(world, Direction::Ingress), Outside::new(world, Direction::Egress)];
    let mut cache: HashMap<(usize, usize), Vec<(usize, Answer)>> = HashMap::new();
    let mut out = Vec::new();
    for ((key, pod), &class_id) in keys.iter().zip(pods).zip(class_ids) {
        for (side_id, side) in sides.iter_mut().enumerate() {
            let inbound = side.direction == Direction::Ingress;
            let pieces = cache.entry((class_id, side_id)).or_insert_with(|| side.answers(world, pod));
            for (i, (connections, policies)) in pieces.iter() {
                let range = side.names[*i].clone();
                let (from, to) = if inbound { (range, key.clone()) } else { (key.clone(), range) };
                out.push(MatrixEntry { from, to, connections: connections.clone(), policies: policies.clone() });
            }
        }
    }
    out
}

/// The outside of the cluster as one direction's rules see it (ingress rules for traffic coming
/// in, egress rules for traffic going out): IPv4 space cut at every ipBlock boundary of those
/// rules, so that every rule matches whole pieces and the answer is constant inside each piece.
struct Outside {
    direction: super::model::Direction,
    /// Piece `i` is `cuts[i]..cuts[i + 1]`.
    cuts: Vec<u64>,
    /// Each piece as printed: `a.b.c.d-e.f.g.h[External]`.
    names: Vec<Arc<str>>,
    /// Which pieces a rule's peers match, per rule (by address: the rules stay where the world
    /// keeps them while the matrix is computed), filled as rules come up.
    covers: HashMap<*const Rule, Vec<bool>>,
}

impl Outside {
    fn new(world: &NetpolWorld, direction: super::model::Direction) -> Self {
        let mut cuts: BTreeSet<u64> = [0u64, 1 << 32].into();
        for p in world.policies() {
            for r in p.rules(direction) {
                for peer in &r.peers {
                    if let Peer::IpBlock(b) = peer
                        && !b.cidr.is_v6()
                    {
                        for (lo, end) in block_intervals(b) {
                            cuts.extend([lo, end]);
                        }
                    }
                }
            }
        }
        let cuts: Vec<u64> = cuts.into_iter().collect();
        let names = cuts.windows(2).map(|w| ip_range(w[0] as u32, (w[1] - 1) as u32)).collect();
        Outside { direction, cuts, names, covers: Default::default() }
    }

    /// The pieces `rule` matches: all for an empty peer list, none for pod and namespace
    /// selectors (they select pods only), the pieces inside each IPv4 ipBlock (its CIDR minus
    /// its excepts, whose ends are cuts), as `IpBlock::contains` decides for every address of
    /// the piece.
    fn cover(&mut self, rule: &Rule) {
        let cuts = &self.cuts;
        self.covers.entry(rule as *const Rule).or_insert_with(|| {
            let mut cover = vec![rule.peers.is_empty(); cuts.len() - 1];
            for peer in &rule.peers {
                if let Peer::IpBlock(b) = peer
                    && !b.cidr.is_v6()
                {
                    for (lo, end) in block_intervals(b) {
                        let (Ok(a), Ok(z)) = (cuts.binary_search(&lo), cuts.binary_search(&end)) else { continue };
                        cover[a..z].fill(true);
                    }
                }
            }
            cover
        });
    }

    /// What `pod` allows from (ingress) or to (egress) each piece, and by which policies: the
    /// evaluator's rule (`evaluate::direction_connections`) applied once per piece with the
    /// pod's policies and their rules' ports resolved once. Pieces that allow nothing are left
    /// out; pieces matched by the same rules share one answer.
    fn answers(&mut self, world: &NetpolWorld, pod: &PodInfo) -> Vec<(usize, Answer)> {
        use super::model::Direction;
        let pieces = self.cuts.len() - 1;
        // Named ports resolve on the destination: the pod for ingress, nothing outside.
        let dst = (self.direction == Direction::Ingress).then_some(pod);
        let mut isolated = false;
        let mut rules = Vec::new();
        for policy in isolating_policies(world, pod, self.direction) {
            isolated = true;
            for r in policy.rules(self.direction) {
                let c = rule_connections(r, dst);
                if !c.is_empty() {
                    rules.push((policy.id.to_string(), c, r));
                }
            }
        }
        if !isolated {
            let all = answer(ConnectionSet::all(), Vec::new());
            return (0..pieces).map(|i| (i, all.clone())).collect();
        }
        for (_, _, r) in &rules {
            self.cover(r);
        }
        // The rules that match each piece.
        let mut matching: Vec<Vec<usize>> = vec![Vec::new(); pieces];
        for (k, (_, _, r)) in rules.iter().enumerate() {
            for (on, m) in self.covers[&(*r as *const Rule)].iter().zip(&mut matching) {
                if *on {
                    m.push(k);
                }
            }
        }
        let mut memo: HashMap<Vec<usize>, Option<Answer>> = HashMap::new();
        let mut out = Vec::new();
        for (i, active) in matching.into_iter().enumerate() {
            let found = memo.entry(active).or_insert_with_key(|active| {
                let mut c = ConnectionSet::none();
                let mut policies = Vec::new();
                for &k in active {
                    c.union(&rules[k].1);
                    policies.push(rules[k].0.clone());
                }
                (!c.is_empty()).then(|| answer(c, policies))
            });
            if let Some(a) = found {
                out.push((i, a.clone()));
            }
        }
        out
    }
}

impl Matrix {
    /// Each entry's connections as text, rendered once per shared answer.
    fn connection_texts(&self) -> Vec<Arc<str>> {
        let mut rendered: HashMap<*const ConnectionSet, Arc<str>> = HashMap::new();
        self.entries
            .iter()
            .map(|e| {
                rendered.entry(Arc::as_ptr(&e.connections)).or_insert_with(|| e.connections.to_string().into()).clone()
            })
            .collect()
    }

    /// `src => dst : connections`, one line each, sorted (the notation of np-guard and
    /// network-config-analyzer).
    pub fn to_text(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .zip(self.connection_texts())
            .map(|(e, c)| {
                let mut line = String::with_capacity(e.from.len() + e.to.len() + c.len() + 8);
                for part in [&*e.from, " => ", &*e.to, " : ", &*c, "\n"] {
                    line.push_str(part);
                }
                line
            })
            .collect();
        // Equal lines are identical: an unstable sort gives the same text.
        lines.sort_unstable();
        lines.concat()
    }

    pub fn to_csv(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut out = String::from("from,to,connections,policies\n");
        for (e, c) in self.entries.iter().zip(self.connection_texts()) {
            out.push_str(&format!("{},{},{},{}\n", q(&e.from), q(&e.to), q(&c), q(&e.policies.join(" "))));
        }
        out
    }

    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|");
        let mut out = String::from("| from | to | connections | allowed by |\n|---|---|---|---|\n");
        for (e, c) in self.entries.iter().zip(self.connection_texts()) {
            let by = if e.policies.is_empty() { "(not isolated)".to_string() } else { e.policies.join(", ") };
            out.push_str(&format!("| {} | {} | {} | {} |\n", esc(&e.from), esc(&e.to), esc(&c), esc(&by)));
        }
        out
    }

    /// Graphviz: one node per workload or range, one labelled edge per entry.
    pub fn to_dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = String::from("digraph connectivity {\n  rankdir=LR;\n  node [shape=box];\n");
        for w in &self.workloads {
            out.push_str(&format!("  {};\n", q(w)));
        }
        for (e, c) in self.entries.iter().zip(self.connection_texts()) {
            out.push_str(&format!("  {} -> {} [label={}];\n", q(&e.from), q(&e.to), q(&c)));
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netpol::model::{Direction, Endpoint};
    use std::net::IpAddr;

    const WORLD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
apiVersion: v1
kind: Namespace
metadata: {name: b}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: a, labels: {app: web}}
spec: {containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.1.0.7}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: a, labels: {app: db}}
spec: {containers: [{name: db}]}
---
apiVersion: v1
kind: Pod
metadata: {name: free, namespace: b, labels: {app: free}}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-in, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.2.0.0/16]}}, {ipBlock: {cidr: "::/0"}}]
    ports: [{port: http}]
  - from: [{ipBlock: {cidr: 10.1.5.0/24}}, {podSelector: {}}]
    ports: [{port: 443}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: all, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: 53, protocol: UDP}]
  egress:
  - to: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}]
    ports: [{port: 5432}]
  - ports: [{port: 53, protocol: UDP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out, namespace: a}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Egress]}
"#;

    /// The answers per piece of the outside equal the evaluator's at the first and the last
    /// address of every piece, for isolated and open pods, in both directions.
    #[test]
    fn outside_answers_are_the_evaluators_at_both_ends_of_every_piece() {
        let w = crate::netpol::tests::world(WORLD);
        let mut checked = 0;
        for direction in [Direction::Ingress, Direction::Egress] {
            let mut side = Outside::new(&w, direction);
            assert!(side.cuts.len() > 4, "{:?}", side.cuts);
            for pod in w.pods() {
                let answers: HashMap<usize, Answer> = side.answers(&w, pod).into_iter().collect();
                for (i, piece) in side.cuts.windows(2).enumerate() {
                    for addr in [piece[0], piece[1] - 1] {
                        let outside = Endpoint::External(IpAddr::V4(Ipv4Addr::from(addr as u32)));
                        let (from, to) = match direction {
                            Direction::Ingress => (outside, pod.endpoint()),
                            Direction::Egress => (pod.endpoint(), outside),
                        };
                        let mut policies = Vec::new();
                        let c = connections_with_policies(&w, &from, &to, Some(&mut policies)).unwrap();
                        let want = (!c.is_empty()).then(|| answer(c, policies));
                        assert_eq!(answers.get(&i), want.as_ref(), "{from} -> {to} (piece {})", side.names[i]);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 30, "{checked}");
    }

    #[test]
    fn the_outside_is_cut_where_the_blocks_begin_and_end() {
        let w = crate::netpol::tests::world(WORLD);
        let side = Outside::new(&w, Direction::Egress);
        let names: Vec<&str> = side.names.iter().map(|n| &**n).collect();
        assert_eq!(
            names,
            [
                "0.0.0.0-192.167.255.255[External]",
                "192.168.0.0-192.168.0.255[External]",
                "192.168.1.0-192.168.1.255[External]",
                "192.168.2.0-192.168.255.255[External]",
                "192.169.0.0-255.255.255.255[External]",
            ]
        );
    }
}
