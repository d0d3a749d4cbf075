//! The full connectivity of the namespaces in scope, computed by the evaluator: which workload
//! reaches which on which protocols and ports, through which policies, and what reaches them
//! from outside the cluster (IPv4 ranges split at every ipBlock boundary). What a reviewer reads
//! before a launch, and the form connectivity analysers print (`src => dst : connections`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use super::evaluate::connections_with_policies;
use super::model::{Endpoint, NetpolWorld, Peer, PodInfo};
use super::ports::ConnectionSet;

/// One line of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixEntry {
    /// `namespace/name[Kind]` of a workload (its pods' owner, or the pod itself), or an IPv4
    /// range `a.b.c.d-e.f.g.h[External]`.
    pub from: String,
    pub to: String,
    #[serde(serialize_with = "display")]
    pub connections: ConnectionSet,
    /// The policies that allow the traffic (egress of the source, ingress of the destination);
    /// empty when neither end is isolated.
    pub policies: Vec<String>,
}

fn display<S: serde::Serializer>(c: &ConnectionSet, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&c.to_string())
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
fn ip_range(lo: u32, hi: u32) -> String {
    format!("{}-{}[External]", Ipv4Addr::from(lo), Ipv4Addr::from(hi))
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
    // Each workload's class, numbered: pairs of classes are then looked up by two integers.
    let mut class_ids: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let ids: Vec<usize> = groups
        .values()
        .map(|p| {
            let n = class_ids.len();
            *class_ids.entry(class(p)).or_insert(n)
        })
        .collect();
    let mut cache: std::collections::HashMap<(usize, usize), (ConnectionSet, Vec<String>)> =
        std::collections::HashMap::new();
    for ((sk, sp), &si) in groups.iter().zip(&ids) {
        for ((dk, dp), &di) in groups.iter().zip(&ids) {
            if sk == dk {
                continue;
            }
            let (connections, policies) = cache
                .entry((si, di))
                .or_insert_with(|| {
                    let mut policies = Vec::new();
                    let c = connections_with_policies(world, &sp.endpoint(), &dp.endpoint(), Some(&mut policies))
                        .unwrap_or_else(|_| ConnectionSet::none());
                    policies.sort();
                    policies.dedup();
                    (c, policies)
                })
                .clone();
            if !connections.is_empty() {
                entries.push(MatrixEntry { from: sk.clone(), to: dk.clone(), connections, policies });
            }
        }
    }
    entries.extend(external(world, &groups, &ids));
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

/// IPv4 space cut at every ipBlock boundary of the world's rules of one direction.
fn cuts(world: &NetpolWorld, direction: super::model::Direction) -> Vec<u64> {
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
    cuts.into_iter().collect()
}

/// From and to outside the cluster: IPv4 space cut at the ipBlock boundaries of that direction's
/// rules (ingress rules for traffic coming in, egress rules for traffic going out); the answer is
/// constant inside each piece. Pieces are listed as cut (np-guard's presentation), so the ranges
/// the policies name stay visible.
fn external(world: &NetpolWorld, groups: &BTreeMap<String, &PodInfo>, class_ids: &[usize]) -> Vec<MatrixEntry> {
    use super::model::Direction;
    let (ingress_cuts, egress_cuts) = (cuts(world, Direction::Ingress), cuts(world, Direction::Egress));
    // The answers for one pod, per direction: (range, connections, policies) of each piece
    // that allows something. Pods of one class (they look the same to every policy) share them.
    type Pieces = Vec<(String, ConnectionSet, Vec<String>)>;
    let mut cache: std::collections::HashMap<(usize, bool), Pieces> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for ((key, pod), &class_id) in groups.iter().zip(class_ids) {
        for inbound in [true, false] {
            let pieces = cache.entry((class_id, inbound)).or_insert_with(|| {
                let cuts = if inbound { &ingress_cuts } else { &egress_cuts };
                let mut pieces = Vec::new();
                for w in cuts.windows(2) {
                    let (lo, hi) = (w[0] as u32, (w[1] - 1) as u32);
                    let ext = Endpoint::External(IpAddr::V4(Ipv4Addr::from(lo)));
                    let (from, to) = if inbound { (ext, pod.endpoint()) } else { (pod.endpoint(), ext) };
                    let mut policies = Vec::new();
                    let connections = connections_with_policies(world, &from, &to, Some(&mut policies))
                        .unwrap_or_else(|_| ConnectionSet::none());
                    if connections.is_empty() {
                        continue;
                    }
                    policies.sort();
                    policies.dedup();
                    pieces.push((ip_range(lo, hi), connections, policies));
                }
                pieces
            });
            for (range, connections, policies) in pieces.iter() {
                let (from, to) = if inbound { (range.clone(), key.clone()) } else { (key.clone(), range.clone()) };
                out.push(MatrixEntry { from, to, connections: connections.clone(), policies: policies.clone() });
            }
        }
    }
    out
}

impl Matrix {
    /// `src => dst : connections`, one line each (the notation of np-guard and
    /// network-config-analyzer).
    pub fn to_text(&self) -> String {
        let mut lines: Vec<String> =
            self.entries.iter().map(|e| format!("{} => {} : {}", e.from, e.to, e.connections)).collect();
        lines.sort();
        lines.join("\n") + if lines.is_empty() { "" } else { "\n" }
    }

    pub fn to_csv(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut out = String::from("from,to,connections,policies\n");
        for e in &self.entries {
            out.push_str(&format!(
                "{},{},{},{}\n",
                q(&e.from),
                q(&e.to),
                q(&e.connections.to_string()),
                q(&e.policies.join(" "))
            ));
        }
        out
    }

    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|");
        let mut out = String::from("| from | to | connections | allowed by |\n|---|---|---|---|\n");
        for e in &self.entries {
            let by = if e.policies.is_empty() { "(not isolated)".to_string() } else { e.policies.join(", ") };
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                esc(&e.from),
                esc(&e.to),
                esc(&e.connections.to_string()),
                esc(&by)
            ));
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
        for e in &self.entries {
            out.push_str(&format!("  {} -> {} [label={}];\n", q(&e.from), q(&e.to), q(&e.connections.to_string())));
        }
        out.push_str("}\n");
        out
    }
}
