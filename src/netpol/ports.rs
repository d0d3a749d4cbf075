//! Which ports a rule's `ports` list admits: numbers, `endPort` ranges, named ports resolved on
//! the destination pod, protocols; and sets of ports per protocol for whole-pair answers.

use std::collections::BTreeMap;
use std::fmt;

use super::model::{PodInfo, PortMatch, PortRule, Protocol, Rule};

pub const MIN_PORT: u16 = 1;
pub const MAX_PORT: u16 = 65535;

/// A set of ports as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    pub fn all() -> Self {
        PortSet { ranges: vec![(MIN_PORT, MAX_PORT)] }
    }

    pub fn from_range(lo: u16, hi: u16) -> Self {
        let mut s = PortSet::default();
        s.insert(lo, hi);
        s
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn is_all(&self) -> bool {
        self.ranges == [(MIN_PORT, MAX_PORT)]
    }

    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }

    pub fn insert(&mut self, lo: u16, hi: u16) {
        let lo = lo.max(MIN_PORT);
        if lo > hi {
            return;
        }
        self.ranges.push((lo, hi));
        self.ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(self.ranges.len());
        for &(l, h) in &self.ranges {
            match merged.last_mut() {
                Some(last) if u32::from(l) <= u32::from(last.1) + 1 => last.1 = last.1.max(h),
                _ => merged.push((l, h)),
            }
        }
        self.ranges = merged;
    }

    pub fn union(&mut self, other: &PortSet) {
        for &(lo, hi) in &other.ranges {
            self.insert(lo, hi);
        }
    }

    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let mut out = PortSet::default();
        for &(a, b) in &self.ranges {
            for &(c, d) in &other.ranges {
                out.insert(a.max(c), b.min(d));
            }
        }
        out
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            self.ranges.iter().map(|&(lo, hi)| if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") }).collect();
        f.write_str(&parts.join(","))
    }
}

/// Allowed ports per protocol. Protocols with no port are absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct ConnectionSet {
    by_protocol: BTreeMap<Protocol, PortSet>,
}

impl ConnectionSet {
    pub fn all() -> Self {
        ConnectionSet { by_protocol: Protocol::ALL.iter().map(|p| (*p, PortSet::all())).collect() }
    }

    pub fn none() -> Self {
        ConnectionSet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.by_protocol.values().all(PortSet::is_empty)
    }

    pub fn is_all(&self) -> bool {
        Protocol::ALL.iter().all(|p| self.by_protocol.get(p).is_some_and(PortSet::is_all))
    }

    pub fn ports(&self, protocol: Protocol) -> Option<&PortSet> {
        self.by_protocol.get(&protocol).filter(|s| !s.is_empty())
    }

    pub fn contains(&self, protocol: Protocol, port: u16) -> bool {
        self.by_protocol.get(&protocol).is_some_and(|s| s.contains(port))
    }

    pub fn add(&mut self, protocol: Protocol, ports: &PortSet) {
        if !ports.is_empty() {
            self.by_protocol.entry(protocol).or_default().union(ports);
        }
    }

    pub fn union(&mut self, other: &ConnectionSet) {
        for (p, s) in &other.by_protocol {
            self.add(*p, s);
        }
    }

    pub fn intersect(&self, other: &ConnectionSet) -> ConnectionSet {
        let mut out = ConnectionSet::none();
        for (p, s) in &self.by_protocol {
            if let Some(o) = other.by_protocol.get(p) {
                out.add(*p, &s.intersect(o));
            }
        }
        out
    }
}

impl fmt::Display for ConnectionSet {
    /// `All Connections`, `No Connections`, or e.g. `TCP 80,8080-8090,UDP 53` (protocols in
    /// alphabetical order), the notation of common connectivity analysers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("All Connections");
        }
        if self.is_empty() {
            return f.write_str("No Connections");
        }
        let parts: Vec<String> =
            self.by_protocol.iter().filter(|(_, s)| !s.is_empty()).map(|(p, s)| format!("{p} {s}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// Does one entry of a rule's `ports` admit `protocol`/`port` towards `dst` (the destination pod,
/// `None` for an external address, where a named port can never resolve)?
pub(crate) fn port_rule_admits(rule: &PortRule, dst: Option<&PodInfo>, protocol: Protocol, port: u16) -> bool {
    if rule.protocol != protocol {
        return false;
    }
    match &rule.port {
        PortMatch::Any => true,
        PortMatch::Range(lo, hi) => *lo <= port && port <= *hi,
        PortMatch::Named(name) => dst.and_then(|p| p.named_port(name, protocol)) == Some(port),
    }
}

/// Does a rule's port list admit the connection? An empty list admits every port.
pub(crate) fn rule_admits_port(rule: &Rule, dst: Option<&PodInfo>, protocol: Protocol, port: u16) -> bool {
    rule.ports.is_empty() || rule.ports.iter().any(|p| port_rule_admits(p, dst, protocol, port))
}

/// Everything a rule's port list admits towards `dst`.
pub(crate) fn rule_connections(rule: &Rule, dst: Option<&PodInfo>) -> ConnectionSet {
    if rule.ports.is_empty() {
        return ConnectionSet::all();
    }
    let mut out = ConnectionSet::none();
    for p in &rule.ports {
        match &p.port {
            PortMatch::Any => out.add(p.protocol, &PortSet::all()),
            PortMatch::Range(lo, hi) => out.add(p.protocol, &PortSet::from_range(*lo, *hi)),
            PortMatch::Named(name) => {
                if let Some(n) = dst.and_then(|d| d.named_port(name, p.protocol)) {
                    out.add(p.protocol, &PortSet::from_range(n, n));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netpol::model::ContainerPortInfo;

    fn dst() -> PodInfo {
        PodInfo {
            namespace: "a".into(),
            name: "dns".into(),
            labels: BTreeMap::new(),
            ips: vec![],
            ports: vec![
                ContainerPortInfo { name: Some("dns".into()), number: 53, protocol: Protocol::Udp },
                ContainerPortInfo { name: Some("dns-tcp".into()), number: 53, protocol: Protocol::Tcp },
                ContainerPortInfo { name: Some("metrics".into()), number: 9153, protocol: Protocol::Tcp },
            ],
            owner: None,
            from_template: false,
        }
    }

    fn rule(ports: Vec<PortRule>) -> Rule {
        Rule { peers: vec![], ports }
    }

    #[test]
    fn port_sets_merge_and_intersect() {
        let mut s = PortSet::from_range(80, 80);
        s.insert(81, 90);
        s.insert(100, 100);
        assert_eq!(s.to_string(), "80-90,100");
        assert!(s.contains(85) && !s.contains(95));
        assert_eq!(s.intersect(&PortSet::from_range(90, 200)).to_string(), "90,100");
        assert!(PortSet::all().is_all());
        assert!(PortSet::from_range(5, 1).is_empty());
    }

    #[test]
    fn connection_sets_print_like_analysers() {
        assert_eq!(ConnectionSet::all().to_string(), "All Connections");
        assert_eq!(ConnectionSet::none().to_string(), "No Connections");
        let mut c = ConnectionSet::none();
        c.add(Protocol::Udp, &PortSet::from_range(53, 53));
        c.add(Protocol::Tcp, &PortSet::from_range(8080, 8081));
        assert_eq!(c.to_string(), "TCP 8080-8081,UDP 53");
        assert!(c.intersect(&ConnectionSet::all()) == c);
        assert!(c.intersect(&ConnectionSet::none()).is_empty());
    }

    #[test]
    fn missing_port_list_admits_everything_but_a_listed_port_restricts() {
        assert!(rule_admits_port(&rule(vec![]), None, Protocol::Sctp, 1));
        let r = rule(vec![PortRule { protocol: Protocol::Tcp, port: PortMatch::Range(80, 80) }]);
        assert!(rule_admits_port(&r, None, Protocol::Tcp, 80));
        assert!(!rule_admits_port(&r, None, Protocol::Tcp, 81));
        assert!(!rule_admits_port(&r, None, Protocol::Udp, 80), "protocol must match");
    }

    #[test]
    fn protocol_without_port_admits_every_port_of_that_protocol() {
        let r = rule(vec![PortRule { protocol: Protocol::Udp, port: PortMatch::Any }]);
        assert!(rule_admits_port(&r, None, Protocol::Udp, 12345));
        assert!(!rule_admits_port(&r, None, Protocol::Tcp, 12345));
    }

    #[test]
    fn end_port_is_an_inclusive_range() {
        let r = rule(vec![PortRule { protocol: Protocol::Tcp, port: PortMatch::Range(32000, 32768) }]);
        assert!(rule_admits_port(&r, None, Protocol::Tcp, 32000));
        assert!(rule_admits_port(&r, None, Protocol::Tcp, 32768));
        assert!(!rule_admits_port(&r, None, Protocol::Tcp, 32769));
        assert_eq!(rule_connections(&r, None).to_string(), "TCP 32000-32768");
    }

    #[test]
    fn named_ports_resolve_on_the_destination_with_their_protocol() {
        let d = dst();
        let udp = rule(vec![PortRule { protocol: Protocol::Udp, port: PortMatch::Named("dns".into()) }]);
        assert!(rule_admits_port(&udp, Some(&d), Protocol::Udp, 53));
        assert!(!rule_admits_port(&udp, Some(&d), Protocol::Tcp, 53));
        assert!(!rule_admits_port(&udp, None, Protocol::Udp, 53), "external destinations have no named ports");
        // "dns" is a UDP port on the pod: a TCP rule naming it resolves to nothing.
        let tcp = rule(vec![PortRule { protocol: Protocol::Tcp, port: PortMatch::Named("dns".into()) }]);
        assert!(!rule_admits_port(&tcp, Some(&d), Protocol::Tcp, 53));
        assert!(rule_connections(&tcp, Some(&d)).is_empty());
        let m = rule(vec![PortRule { protocol: Protocol::Tcp, port: PortMatch::Named("metrics".into()) }]);
        assert_eq!(rule_connections(&m, Some(&d)).to_string(), "TCP 9153");
    }
}
