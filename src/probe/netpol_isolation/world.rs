//! Builds the NetworkPolicy evaluator's world from the cluster view: the namespaces, the pods,
//! the policies and the workloads (whose templates stand in for pods not deployed yet).

use serde_json::Value;

use crate::cluster::{ClusterView, Kind, Need};
use crate::netpol::NetpolWorld;
use crate::outcome::ProbeReport;

/// The namespaced kinds the evaluator reads (Namespaces are read cluster-wide on top).
pub const NAMESPACED_KINDS: &[Kind] = &[
    Kind::Pod,
    Kind::NetworkPolicy,
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::DaemonSet,
    Kind::ReplicaSet,
    Kind::Job,
    Kind::CronJob,
    Kind::ReplicationController,
];

/// Namespaces cluster-wide (namespaceSelectors match any namespace's labels), the rest only in
/// `namespaces` (the egress of a source and the ingress of a destination depend on nothing else).
pub fn needs_for(namespaces: &[String]) -> Vec<Need> {
    let mut needs = vec![Need::cluster(Kind::Namespace)];
    needs.extend(NAMESPACED_KINDS.iter().map(|k| Need::namespaced(*k, namespaces)));
    needs
}

/// Why the world could not be built.
#[derive(Debug)]
pub enum WorldError {
    /// A kind could not be read: the report the check returns (unverified or skipped).
    Gap(Box<ProbeReport>),
    /// An object the evaluator cannot interpret (e.g. an invalid policy), named.
    Invalid(String),
}

/// The world of `namespaces` (every namespace's labels, the other kinds in those namespaces only).
pub fn world_from_view(view: &ClusterView, namespaces: &[String]) -> Result<NetpolWorld, WorldError> {
    let mut kinds = vec![Kind::Namespace];
    kinds.extend_from_slice(NAMESPACED_KINDS);
    if let Some(gap) = view.gap_report(&kinds) {
        return Err(WorldError::Gap(Box::new(gap)));
    }
    let mut objects: Vec<&Value> = view.objects(Kind::Namespace).map(|v| v.iter().collect()).unwrap_or_default();
    for k in NAMESPACED_KINDS {
        objects.extend(view.in_namespaces(*k, namespaces).unwrap_or_default());
    }
    NetpolWorld::from_objects(objects).map_err(WorldError::Invalid)
}
