//! Static NetworkPolicy evaluator with the full `networking.k8s.io/v1` semantics: is traffic from
//! A to B on a port allowed, which policies decide it, and which policies select nothing.

mod compile;
mod evaluate;
mod lint;
mod load;
mod matrix;
mod model;
mod peers;
mod ports;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_load;

pub use compile::compile_policy;
pub use evaluate::{DirectionVerdict, EvalError, Verdict, allowed_connections, connections_with_policies, evaluate};
pub use lint::{IpBlockPodOverlap, UnmatchedPolicy, ipblocks_matching_pods, policies_selecting_nothing};
pub use load::{WORKLOAD_KINDS, WorldBuilder};
pub use matrix::{Matrix, MatrixEntry, matrix, workload_key};
pub use model::{
    ContainerPortInfo, Direction, Endpoint, IpBlockScope, NAMESPACE_NAME_LABEL, NamespaceInfo, NetpolWorld, Owner,
    Peer, PodInfo, Policy, PolicyId, PortMatch, PortRule, PortSpec, Protocol, Rule,
};
pub use peers::{Cidr, IpBlock};
pub use ports::{ConnectionSet, MAX_PORT, MIN_PORT, PortSet};
