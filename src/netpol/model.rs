//! The evaluator's view of a cluster: namespaces, pods (real or stood in for by workload
//! templates) and NetworkPolicies compiled into rules that can be matched without re-parsing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::peers::IpBlock;
use crate::selector::Selector;

/// The label every namespace carries (set by the API server since Kubernetes 1.21).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A transport protocol NetworkPolicy can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
// Declared in alphabetical order: sets print their protocols in this (derived) order.
pub enum Protocol {
    Sctp,
    Tcp,
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Sctp, Protocol::Tcp, Protocol::Udp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// The API default when a policy port or container port leaves `protocol` out.
    pub fn parse_or_tcp(s: Option<&str>) -> Result<Protocol, String> {
        s.map_or(Ok(Protocol::Tcp), str::parse)
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            _ => Err(format!("unknown protocol {s:?} (expected TCP, UDP or SCTP)")),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The destination port of a connection: a number, or a container port name of the destination pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    Number(u16),
    Name(String),
}

impl FromStr for PortSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty port".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return match s.parse::<u16>() {
                Ok(n) if n > 0 => Ok(PortSpec::Number(n)),
                _ => Err(format!("port {s} is out of range 1-65535")),
            };
        }
        Ok(PortSpec::Name(s.to_string()))
    }
}

impl From<u16> for PortSpec {
    fn from(n: u16) -> Self {
        PortSpec::Number(n)
    }
}

/// One end of a connection: a pod (`namespace/name`) or an address outside the cluster (`external:IP`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Pod { namespace: String, name: String },
    External(IpAddr),
}

impl Endpoint {
    pub fn pod(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Endpoint::Pod { namespace: namespace.into(), name: name.into() }
    }
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(ip) = s.strip_prefix("external:") {
            return ip
                .parse::<IpAddr>()
                .map(Endpoint::External)
                .map_err(|_| format!("{ip:?} is not an IP address (expected external:IP)"));
        }
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Endpoint::pod(ns, name))
            }
            _ => Err(format!("{s:?} is neither NAMESPACE/POD nor external:IP")),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Pod { namespace, name } => write!(f, "{namespace}/{name}"),
            Endpoint::External(ip) => write!(f, "external:{ip}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// The workload that owns a pod, or that a template pod stands in for (`kind` as in the API, e.g. `ReplicaSet`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// A container port, as named ports resolve against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPortInfo {
    pub name: Option<String>,
    pub number: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    /// The pod's name; for a template pod, the workload's name.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `status.podIPs` / `status.podIP`; empty for template pods and unscheduled pods.
    pub ips: Vec<IpAddr>,
    pub ports: Vec<ContainerPortInfo>,
    pub owner: Option<Owner>,
    /// True when this pod stands in for a workload's pod template (pre-deploy manifests).
    pub from_template: bool,
}

impl PodInfo {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::pod(&self.namespace, &self.name)
    }

    /// The number of the container port `name` on `protocol`, as Kubernetes resolves named ports.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports.iter().find(|p| p.name.as_deref() == Some(name) && p.protocol == protocol).map(|p| p.number)
    }
}

/// A policy's identity, displayed `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyId {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Traffic direction, from the point of view of the selected pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

/// One entry of a rule's `from`/`to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// `podSelector` and/or `namespaceSelector` (both present: AND). A missing namespaceSelector
    /// means the policy's own namespace; a missing podSelector means every pod.
    Pods {
        namespace_selector: Option<Selector>,
        pod_selector: Option<Selector>,
    },
    IpBlock(IpBlock),
}

/// What one entry of a rule's `ports` matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortMatch {
    /// No `port`: every port of the protocol.
    Any,
    /// `port` (and `endPort`), inclusive.
    Range(u16, u16),
    /// A named port, resolved on the destination pod's container ports.
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub protocol: Protocol,
    pub port: PortMatch,
}

/// One ingress or egress rule. Empty `peers` means every peer; empty `ports` means every port
/// (the API treats a missing list and an empty list alike here).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    pub peers: Vec<Peer>,
    pub ports: Vec<PortRule>,
}

/// A NetworkPolicy after API defaulting and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub id: PolicyId,
    pub pod_selector: Selector,
    /// `policyTypes` contains Ingress (after defaulting).
    pub isolates_ingress: bool,
    /// `policyTypes` contains Egress (after defaulting).
    pub isolates_egress: bool,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

impl Policy {
    pub fn isolates(&self, direction: Direction) -> bool {
        match direction {
            Direction::Ingress => self.isolates_ingress,
            Direction::Egress => self.isolates_egress,
        }
    }

    pub fn rules(&self, direction: Direction) -> &[Rule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    pub fn selects(&self, pod: &PodInfo) -> bool {
        pod.namespace == self.id.namespace && self.pod_selector.matches(&pod.labels)
    }
}

/// Whether `ipBlock` peers also match in-cluster pod IPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpBlockScope {
    /// As Kubernetes specifies and the conformance tests check: an ipBlock matches any address,
    /// pod IPs included.
    #[default]
    AllAddresses,
    /// Only addresses outside the cluster match: what some network plugins (and static analysers)
    /// do; kept to compare against them, never the default.
    ExternalOnly,
}

/// Everything the evaluator needs, indexed once: pods by name and by namespace, policies by
/// namespace (a policy selects pods of its own namespace only), so that a verdict looks at the
/// few policies that can apply rather than at all of them.
#[derive(Debug, Clone, Default)]
pub struct NetpolWorld {
    pub(crate) namespaces: BTreeMap<String, NamespaceInfo>,
    pub(crate) pods: Vec<PodInfo>,
    pub(crate) policies: Vec<Policy>,
    pub(crate) ipblock_scope: IpBlockScope,
    pub(crate) index: WorldIndex,
}

/// Positions in `pods` and `policies`, by namespace and name.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorldIndex {
    pod_by_name: HashMap<(String, String), usize>,
    pods_by_namespace: HashMap<String, Vec<usize>>,
    policies_by_namespace: HashMap<String, Vec<usize>>,
}

impl WorldIndex {
    pub(crate) fn build(pods: &[PodInfo], policies: &[Policy]) -> Self {
        let mut index = WorldIndex::default();
        for (i, p) in pods.iter().enumerate() {
            index.add_pod(i, p);
        }
        for (i, p) in policies.iter().enumerate() {
            index.policies_by_namespace.entry(p.id.namespace.clone()).or_default().push(i);
        }
        index
    }

    fn add_pod(&mut self, i: usize, p: &PodInfo) {
        // The first pod of a name wins, as a linear search would find it.
        self.pod_by_name.entry((p.namespace.clone(), p.name.clone())).or_insert(i);
        self.pods_by_namespace.entry(p.namespace.clone()).or_default().push(i);
    }
}

impl NetpolWorld {
    pub fn namespaces(&self) -> impl Iterator<Item = &NamespaceInfo> {
        self.namespaces.values()
    }

    pub fn namespace(&self, name: &str) -> Option<&NamespaceInfo> {
        self.namespaces.get(name)
    }

    pub fn pods(&self) -> &[PodInfo] {
        &self.pods
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodInfo> {
        self.index.pod_by_name.get(&(namespace.to_string(), name.to_string())).map(|&i| &self.pods[i])
    }

    /// The pods of one namespace.
    pub fn pods_in(&self, namespace: &str) -> impl Iterator<Item = &PodInfo> {
        self.index.pods_by_namespace.get(namespace).into_iter().flatten().map(|&i| &self.pods[i])
    }

    /// The policies of one namespace: the only ones that can select its pods.
    pub fn policies_in(&self, namespace: &str) -> impl Iterator<Item = &Policy> {
        self.index.policies_by_namespace.get(namespace).into_iter().flatten().map(|&i| &self.policies[i])
    }

    pub fn ipblock_scope(&self) -> IpBlockScope {
        self.ipblock_scope
    }

    /// The same world with another ipBlock scope (for comparing with plugins that differ).
    pub fn with_ipblock_scope(mut self, scope: IpBlockScope) -> Self {
        self.ipblock_scope = scope;
        self
    }

    /// Adds a pod the objects do not hold (e.g. one standing for a namespace without pods),
    /// declaring its namespace (with its name label) as the builder does.
    pub fn add_pod(&mut self, pod: PodInfo) {
        let ns = pod.namespace.clone();
        self.namespaces.entry(ns.clone()).or_insert_with(|| NamespaceInfo {
            name: ns.clone(),
            labels: BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), ns)]),
        });
        self.index.add_pod(self.pods.len(), &pod);
        self.pods.push(pod);
    }

    /// Labels of a namespace. The builder declares every namespace a pod or policy lives in,
    /// so the empty fallback is never reached for pods of this world.
    pub(crate) fn namespace_labels(&self, name: &str) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.namespaces.get(name).map_or(&EMPTY, |ns| &ns.labels)
    }
}
