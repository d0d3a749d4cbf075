//! Judges NATS cluster membership from what the client and the monitoring endpoint saw:
//! distinct route peers, advertised client URLs and the JetStream meta group.

use std::collections::BTreeSet;

use super::monitor::MetaCluster;

/// Everything observed about membership; each part is None when it could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// The monitored server's own name.
    pub server_name: Option<String>,
    /// Distinct servers it routes to.
    pub route_peers: Option<BTreeSet<String>>,
    /// Client URLs the cluster advertises (the server's INFO or `/varz`), own one included.
    pub connect_urls: Vec<String>,
    /// The JetStream meta group, when JetStream is checked.
    pub meta: Option<MetaCluster>,
}

/// The verdict on membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterVerdict {
    /// Servers seen through routes (the monitored one included), sorted.
    pub peers_seen: Vec<String>,
    /// Meta-group peers the leader reports offline or not current.
    pub offline_peers: Vec<String>,
    /// Each disagreement with the expected size, one line each; empty means the size holds.
    pub mismatches: Vec<String>,
    /// Nothing could be observed at all.
    pub unobserved: bool,
}

pub fn judge(expected: u64, m: &Membership) -> ClusterVerdict {
    let mut mismatches = Vec::new();
    let mut observed = false;
    let mut peers_seen = Vec::new();
    if let Some(routes) = &m.route_peers {
        observed = true;
        let mut all: BTreeSet<String> = routes.clone();
        all.insert(m.server_name.clone().unwrap_or_else(|| "(monitored server)".into()));
        peers_seen = all.into_iter().collect();
        if peers_seen.len() as u64 != expected {
            mismatches.push(format!("routes reach {} of {expected} servers", peers_seen.len()));
        }
    }
    let urls: BTreeSet<&String> = m.connect_urls.iter().collect();
    // A standalone server advertises nothing, and a cluster may hide its URLs (no_advertise).
    if !urls.is_empty() {
        observed = true;
        if urls.len() as u64 != expected {
            mismatches.push(format!("{} of {expected} servers advertise client URLs", urls.len()));
        }
    }
    let mut offline_peers = Vec::new();
    if let Some(meta) = &m.meta {
        if let Some(size) = meta.cluster_size {
            observed = true;
            if size != expected && !(expected == 1 && size == 0) {
                mismatches.push(format!("the JetStream meta group has {size} of {expected} servers"));
            }
        }
        // Only the leader hears from every peer: a follower (2.11+ lists replicas everywhere)
        // reports the other followers as not current although they are fine.
        let from_leader = meta.leader.is_some() && meta.leader == m.server_name;
        offline_peers =
            meta.replicas.iter().filter(|r| r.offline || (from_leader && !r.current)).map(|r| r.name.clone()).collect();
        if !offline_peers.is_empty() {
            mismatches.push(format!("JetStream meta peers offline or behind: {}", offline_peers.join(", ")));
        }
    }
    ClusterVerdict { peers_seen, offline_peers, mismatches, unobserved: !observed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::nats::monitor::MetaPeer;

    fn peers(names: &[&str]) -> Option<BTreeSet<String>> {
        Some(names.iter().map(|s| s.to_string()).collect())
    }

    fn urls(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:4222")).collect()
    }

    #[test]
    fn a_full_cluster_holds() {
        let m = Membership {
            server_name: Some("n1".into()),
            route_peers: peers(&["n2", "n3"]),
            connect_urls: urls(3),
            meta: Some(MetaCluster { leader: Some("n1".into()), cluster_size: Some(3), replicas: vec![] }),
        };
        let v = judge(3, &m);
        assert_eq!(v.mismatches, Vec::<String>::new());
        assert_eq!(v.peers_seen, ["n1", "n2", "n3"]);
        assert!(!v.unobserved);
    }

    #[test]
    fn a_missing_node_and_an_offline_meta_peer_are_mismatches() {
        let m = Membership {
            server_name: Some("n1".into()),
            route_peers: peers(&["n2"]),
            connect_urls: urls(2),
            meta: Some(MetaCluster {
                leader: Some("n1".into()),
                cluster_size: Some(3),
                replicas: vec![
                    MetaPeer { name: "n2".into(), current: true, offline: false },
                    MetaPeer { name: "n3".into(), current: false, offline: true },
                ],
            }),
        };
        let v = judge(3, &m);
        assert_eq!(v.offline_peers, ["n3"]);
        assert_eq!(v.mismatches.len(), 3, "{:?}", v.mismatches);
        assert_eq!(v.peers_seen, ["n1", "n2"]);
    }

    #[test]
    fn only_the_leader_judges_whether_peers_are_current() {
        let meta = |leader: &str| MetaCluster {
            leader: Some(leader.into()),
            cluster_size: Some(3),
            replicas: vec![
                MetaPeer { name: "n1".into(), current: true, offline: false },
                MetaPeer { name: "n3".into(), current: false, offline: false },
            ],
        };
        let mut m =
            Membership { server_name: Some("n2".into()), route_peers: peers(&["n1", "n3"]), ..Default::default() };
        m.meta = Some(meta("n1"));
        assert!(judge(3, &m).mismatches.is_empty(), "a follower's view of another follower");
        m.meta = Some(meta("n2"));
        assert_eq!(judge(3, &m).offline_peers, ["n3"], "the leader sees n3 behind");
    }

    #[test]
    fn a_standalone_server_is_a_cluster_of_one() {
        let m = Membership { server_name: Some("solo".into()), route_peers: peers(&[]), ..Default::default() };
        assert!(judge(1, &m).mismatches.is_empty());
        assert_eq!(judge(3, &m).mismatches, ["routes reach 1 of 3 servers"]);
    }

    #[test]
    fn nothing_seen_is_unobserved_not_a_pass() {
        let v = judge(3, &Membership::default());
        assert!(v.unobserved);
        assert!(v.mismatches.is_empty());
    }
}
