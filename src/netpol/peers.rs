//! Which endpoints a rule's `from`/`to` entries match: pod and namespace selectors (alone or
//! ANDed in one entry) and `ipBlock` CIDRs with `except`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::model::{Endpoint, IpBlockScope, NetpolWorld, Peer, PodInfo, Rule};

/// An IPv4 or IPv6 prefix. Host bits are masked off, as the API server's own parsing does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    v6: bool,
    base: u128,
    prefix: u8,
}

impl Cidr {
    fn bits(self) -> u8 {
        if self.v6 { 128 } else { 32 }
    }

    fn mask(self) -> u128 {
        let host_bits = u32::from(self.bits() - self.prefix);
        let all = if self.v6 { u128::MAX } else { u128::from(u32::MAX) };
        if host_bits >= 128 { 0 } else { all & !((1u128 << host_bits) - 1) }
    }

    pub fn contains(self, ip: IpAddr) -> bool {
        let (v6, value) = ip_value(ip);
        v6 == self.v6 && value & self.mask() == self.base
    }

    /// True when every address of `other` is in `self`.
    pub fn covers(self, other: Cidr) -> bool {
        self.v6 == other.v6 && other.prefix >= self.prefix && other.base & self.mask() == self.base
    }

    /// First and last address, as integers (IPv4 in the low 32 bits).
    pub fn range(self) -> (u128, u128) {
        let last = self.base | (!self.mask() & if self.v6 { u128::MAX } else { u128::from(u32::MAX) });
        (self.base, last)
    }

    pub fn is_v6(self) -> bool {
        self.v6
    }
}

pub(crate) fn ip_value(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s.split_once('/').ok_or_else(|| format!("{s:?} is not a CIDR (missing /prefix)"))?;
        let ip: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not a CIDR (bad address)"))?;
        let (v6, value) = ip_value(ip);
        let prefix: u8 = prefix.trim().parse().map_err(|_| format!("{s:?} is not a CIDR (bad prefix)"))?;
        let max = if v6 { 128 } else { 32 };
        if prefix > max {
            return Err(format!("{s:?} is not a CIDR (prefix longer than {max})"));
        }
        let mut c = Cidr { v6, base: 0, prefix };
        c.base = value & c.mask();
        Ok(c)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip: IpAddr = if self.v6 {
            IpAddr::V6(self.base.into())
        } else {
            // The base of an IPv4 prefix always fits in 32 bits.
            IpAddr::V4(u32::try_from(self.base).unwrap_or(0).into())
        };
        write!(f, "{ip}/{}", self.prefix)
    }
}

/// `ipBlock`: the CIDR minus the `except` CIDRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpBlock {
    pub cidr: Cidr,
    pub except: Vec<Cidr>,
}

impl IpBlock {
    /// Parses and validates as the API server does: every `except` must lie inside `cidr`.
    pub fn parse(cidr: &str, except: &[String]) -> Result<Self, String> {
        let cidr: Cidr = cidr.parse()?;
        let mut out = Vec::new();
        for e in except {
            let e: Cidr = e.parse()?;
            if !cidr.covers(e) || e.prefix == cidr.prefix {
                return Err(format!("except {e} must be strictly within cidr {cidr}"));
            }
            out.push(e);
        }
        Ok(IpBlock { cidr, except: out })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }
}

impl fmt::Display for IpBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cidr)?;
        if !self.except.is_empty() {
            let ex: Vec<String> = self.except.iter().map(Cidr::to_string).collect();
            write!(f, " except {}", ex.join(", "))?;
        }
        Ok(())
    }
}

/// The other end of a connection, as a rule sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PeerRef<'a> {
    Pod(&'a PodInfo),
    External(IpAddr),
}

impl<'a> PeerRef<'a> {
    pub(crate) fn resolve(world: &'a NetpolWorld, ep: &Endpoint) -> Option<Self> {
        match ep {
            Endpoint::Pod { namespace, name } => world.pod(namespace, name).map(PeerRef::Pod),
            Endpoint::External(ip) => Some(PeerRef::External(*ip)),
        }
    }

    pub(crate) fn pod(self) -> Option<&'a PodInfo> {
        match self {
            PeerRef::Pod(p) => Some(p),
            PeerRef::External(_) => None,
        }
    }
}

/// Does one `from`/`to` entry of a policy in `policy_ns` match `other`?
pub(crate) fn peer_matches(world: &NetpolWorld, policy_ns: &str, peer: &Peer, other: PeerRef<'_>) -> bool {
    match (peer, other) {
        (Peer::Pods { namespace_selector, pod_selector }, PeerRef::Pod(pod)) => {
            let ns_ok = match namespace_selector {
                None => pod.namespace == policy_ns,
                Some(sel) => sel.matches(world.namespace_labels(&pod.namespace)),
            };
            ns_ok && pod_selector.as_ref().is_none_or(|sel| sel.matches(&pod.labels))
        }
        // Selectors only ever select pods.
        (Peer::Pods { .. }, PeerRef::External(_)) => false,
        (Peer::IpBlock(block), PeerRef::External(ip)) => block.contains(ip),
        (Peer::IpBlock(block), PeerRef::Pod(pod)) => {
            world.ipblock_scope == IpBlockScope::AllAddresses && pod.ips.iter().any(|ip| block.contains(*ip))
        }
    }
}

/// Does a rule's peer list match `other`? An empty list matches everything.
pub(crate) fn rule_matches_peer(world: &NetpolWorld, policy_ns: &str, rule: &Rule, other: PeerRef<'_>) -> bool {
    rule.peers.is_empty() || rule.peers.iter().any(|p| peer_matches(world, policy_ns, p, other))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netpol::model::NamespaceInfo;
    use crate::selector::Selector;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn pod(ns: &str, name: &str, l: &[(&str, &str)], ip: Option<&str>) -> PodInfo {
        PodInfo {
            namespace: ns.into(),
            name: name.into(),
            labels: labels(l),
            ips: ip.map(|i| i.parse().unwrap()).into_iter().collect(),
            ports: vec![],
            owner: None,
            from_template: false,
        }
    }

    fn world() -> NetpolWorld {
        let mut w = NetpolWorld::default();
        for (n, team) in [("a", "x"), ("b", "y")] {
            w.namespaces.insert(
                n.into(),
                NamespaceInfo { name: n.into(), labels: labels(&[("team", team), ("kubernetes.io/metadata.name", n)]) },
            );
        }
        w
    }

    fn sel(l: &[(&str, &str)]) -> Option<Selector> {
        Some(Selector::from_labels(&labels(l)))
    }

    #[test]
    fn cidr_parsing_masks_host_bits_and_rejects_garbage() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains("10.255.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(!c.contains("::a00:1".parse().unwrap()), "families never mix");
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        assert_eq!(all.range(), (0, u128::from(u32::MAX)));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/8", "::/129", "10.0.0.0/-1"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ipblock_except_carves_out_addresses() {
        let b = IpBlock::parse("172.17.0.0/16", &["172.17.1.0/24".into()]).unwrap();
        assert!(b.contains("172.17.0.9".parse().unwrap()));
        assert!(!b.contains("172.17.1.9".parse().unwrap()));
        assert!(!b.contains("172.18.0.1".parse().unwrap()));
        assert!(IpBlock::parse("10.0.0.0/8", &["11.0.0.0/24".into()]).is_err(), "except outside cidr");
        assert!(IpBlock::parse("10.0.0.0/8", &["10.0.0.0/8".into()]).is_err(), "except equal to cidr");
    }

    #[test]
    fn pod_selector_alone_stays_in_the_policy_namespace() {
        let w = world();
        let peer = Peer::Pods { namespace_selector: None, pod_selector: sel(&[("app", "web")]) };
        assert!(peer_matches(&w, "a", &peer, PeerRef::Pod(&pod("a", "p", &[("app", "web")], None))));
        assert!(!peer_matches(&w, "a", &peer, PeerRef::Pod(&pod("b", "p", &[("app", "web")], None))));
        assert!(!peer_matches(&w, "a", &peer, PeerRef::Pod(&pod("a", "p", &[("app", "db")], None))));
    }

    #[test]
    fn namespace_selector_alone_takes_every_pod_of_matching_namespaces() {
        let w = world();
        let peer = Peer::Pods { namespace_selector: sel(&[("team", "y")]), pod_selector: None };
        assert!(peer_matches(&w, "a", &peer, PeerRef::Pod(&pod("b", "p", &[], None))));
        assert!(!peer_matches(&w, "a", &peer, PeerRef::Pod(&pod("a", "p", &[], None))));
        let everything = Peer::Pods { namespace_selector: Some(Selector::everything()), pod_selector: None };
        assert!(peer_matches(&w, "a", &everything, PeerRef::Pod(&pod("b", "p", &[], None))));
        assert!(!peer_matches(&w, "a", &everything, PeerRef::External("1.1.1.1".parse().unwrap())));
    }

    #[test]
    fn both_selectors_in_one_entry_are_anded() {
        let w = world();
        let peer = Peer::Pods { namespace_selector: sel(&[("team", "y")]), pod_selector: sel(&[("app", "web")]) };
        assert!(peer_matches(&w, "a", &peer, PeerRef::Pod(&pod("b", "p", &[("app", "web")], None))));
        assert!(!peer_matches(&w, "a", &peer, PeerRef::Pod(&pod("b", "p", &[("app", "db")], None))));
        assert!(!peer_matches(&w, "a", &peer, PeerRef::Pod(&pod("a", "p", &[("app", "web")], None))));
    }

    #[test]
    fn ipblock_matches_pod_ips_unless_scoped_to_external() {
        let mut w = world();
        let peer = Peer::IpBlock(IpBlock::parse("10.0.0.0/8", &[]).unwrap());
        let inside = pod("a", "p", &[], Some("10.1.1.1"));
        let no_ip = pod("a", "q", &[], None);
        assert!(peer_matches(&w, "a", &peer, PeerRef::Pod(&inside)));
        assert!(!peer_matches(&w, "a", &peer, PeerRef::Pod(&no_ip)));
        assert!(peer_matches(&w, "a", &peer, PeerRef::External("10.2.2.2".parse().unwrap())));
        w.ipblock_scope = IpBlockScope::ExternalOnly;
        assert!(!peer_matches(&w, "a", &peer, PeerRef::Pod(&inside)));
        assert!(peer_matches(&w, "a", &peer, PeerRef::External("10.2.2.2".parse().unwrap())));
    }

    #[test]
    fn empty_peer_list_matches_everything() {
        let w = world();
        let rule = Rule::default();
        assert!(rule_matches_peer(&w, "a", &rule, PeerRef::External("8.8.8.8".parse().unwrap())));
        assert!(rule_matches_peer(&w, "a", &rule, PeerRef::Pod(&pod("b", "p", &[], None))));
        let narrow = Rule {
            peers: vec![Peer::Pods { namespace_selector: None, pod_selector: sel(&[("app", "x")]) }],
            ports: vec![],
        };
        assert!(!rule_matches_peer(&w, "a", &narrow, PeerRef::External("8.8.8.8".parse().unwrap())));
    }
}
