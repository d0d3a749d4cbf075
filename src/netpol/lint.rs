//! Policies that look fine but do not do what they say: a podSelector that matches no pod (the
//! kustomize `commonLabels` trap) and ipBlocks that only work if they match in-cluster pod IPs.

use serde::Serialize;

use super::model::{Direction, NetpolWorld, Peer, PolicyId};

/// A policy whose non-empty podSelector selects no pod of its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmatchedPolicy {
    pub policy: PolicyId,
    /// The selector in kubectl form, e.g. `app=nats,env=prod`.
    pub selector: String,
}

/// Policies whose podSelector matches no pod. An empty podSelector (the whole namespace, e.g. a
/// default deny) is never reported: it is meant to cover pods that do not exist yet.
pub fn policies_selecting_nothing(world: &NetpolWorld) -> Vec<UnmatchedPolicy> {
    world
        .policies
        .iter()
        .filter(|p| !p.pod_selector.is_empty() && !world.pods_in(&p.id.namespace).any(|pod| p.selects(pod)))
        .map(|p| UnmatchedPolicy { policy: p.id.clone(), selector: p.pod_selector.to_string() })
        .collect()
}

/// An ipBlock peer that covers the IPs of pods in the cluster. Kubernetes says it matches them,
/// but several network plugins only apply ipBlocks to traffic leaving or entering the cluster,
/// so a policy relying on it behaves differently from one plugin to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpBlockPodOverlap {
    pub policy: PolicyId,
    pub direction: Direction,
    /// Index of the rule in the policy's ingress or egress list.
    pub rule: usize,
    /// The ipBlock, e.g. `10.0.0.0/8 except 10.1.0.0/16`.
    pub ip_block: String,
    /// `namespace/name` of the pods whose IPs the block matches.
    pub pods: Vec<String>,
}

/// Every ipBlock peer that matches the IP of some pod of the world (pods with known IPs only).
pub fn ipblocks_matching_pods(world: &NetpolWorld) -> Vec<IpBlockPodOverlap> {
    let mut out = Vec::new();
    // Pod IPs sorted by value, so that each block looks at the pods inside its CIDR only.
    let mut ips: Vec<(bool, u128, usize)> = world
        .pods
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            p.ips.iter().map(move |ip| {
                let (v6, value) = super::peers::ip_value(*ip);
                (v6, value, i)
            })
        })
        .collect();
    ips.sort_unstable();
    for policy in &world.policies {
        for direction in [Direction::Ingress, Direction::Egress] {
            for (i, rule) in policy.rules(direction).iter().enumerate() {
                for peer in &rule.peers {
                    let Peer::IpBlock(block) = peer else { continue };
                    let (lo, hi) = block.cidr.range();
                    let v6 = block.cidr.is_v6();
                    let first = ips.partition_point(|(a, b, _)| (*a, *b) < (v6, lo));
                    // In the pods' order, as before the index.
                    let matching: std::collections::BTreeSet<usize> = ips[first..]
                        .iter()
                        .take_while(|(a, b, _)| (*a, *b) <= (v6, hi))
                        .filter(|(_, _, i)| world.pods[*i].ips.iter().any(|ip| block.contains(*ip)))
                        .map(|(_, _, i)| *i)
                        .collect();
                    let pods: Vec<String> = matching
                        .into_iter()
                        .map(|i| format!("{}/{}", world.pods[i].namespace, world.pods[i].name))
                        .collect();
                    if !pods.is_empty() {
                        out.push(IpBlockPodOverlap {
                            policy: policy.id.clone(),
                            direction,
                            rule: i,
                            ip_block: block.to_string(),
                            pods,
                        });
                    }
                }
            }
        }
    }
    out
}
