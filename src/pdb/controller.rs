//! The status the Kubernetes disruption controller would write for a PDB
//! (pkg/controller/disruption: getExpectedPodCount, getExpectedScale, countHealthyPods,
//! updatePdbStatus, failSafe), computed offline from the objects in a `PdbWorld`.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use super::intstr;
use super::world::{PdbApiVersion, PdbObject, PdbWorld, UnmanagedPods, controller_ref};
use crate::selector::{Selector, SelectorError};

/// A pod is taken out of currentHealthy this long after its eviction, if not yet deleting.
const DELETION_TIMEOUT_SECONDS: i64 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    ReplicaSet,
    ReplicationController,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::ReplicationController => "ReplicationController",
        }
    }
}

/// A controller whose scale counts toward expectedPods.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ControllerId {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ControllerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// The four numbers of a PDB's status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PdbStatus {
    pub expected_pods: i32,
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub disruptions_allowed: i32,
}

impl fmt::Display for PdbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expectedPods={} currentHealthy={} desiredHealthy={} disruptionsAllowed={}",
            self.expected_pods, self.current_healthy, self.desired_healthy, self.disruptions_allowed
        )
    }
}

/// Why the status could not be computed normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// The controller itself fails this sync and only writes `disruptionsAllowed: 0`.
    FailSafe(String),
    /// The answer depends on something offline objects cannot tell (a custom controller's
    /// scale subresource).
    Unresolvable(String),
}

/// What the controller would compute, with the inputs that led there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computation {
    pub status: PdbStatus,
    /// Names of the pods the selector matches, in the PDB's namespace.
    pub matched_pods: Vec<String>,
    /// Matched pods without a controller (left out of expectedPods).
    pub unmanaged_pods: Vec<String>,
    /// Controllers of the matched pods with their scale (only looked up when needed).
    pub controllers: Vec<(ControllerId, i32)>,
    pub sync_error: Option<SyncError>,
}

/// How one pod's controller reference resolves, in the controller's finder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Controller(ControllerId, i32),
    /// No controller reference at all.
    Unmanaged,
    /// A reference the controller would fail on (owner missing, UID mismatch, bad apiVersion).
    NotFound(String),
    /// A custom kind: the controller would ask its scale subresource.
    Custom(String),
}

impl Resolution {
    pub fn controller(&self) -> Option<&ControllerId> {
        match self {
            Resolution::Controller(id, _) => Some(id),
            _ => None,
        }
    }
}

/// The selector a PDB really uses. `None` matches no pod: a missing selector, or an empty one
/// in policy/v1beta1 (in policy/v1 an empty selector matches every pod of the namespace).
pub fn effective_selector(p: &PdbObject) -> Result<Option<Selector>, SelectorError> {
    let Some(sel) = p.pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return Ok(None);
    };
    let sel = Selector::from_k8s(sel)?;
    Ok(if sel.is_empty() && p.api_version == PdbApiVersion::V1beta1 { None } else { Some(sel) })
}

fn group_of(api_version: &str) -> Result<&str, String> {
    // schema.ParseGroupVersion: "v1" is the core group, "g/v" has group g, more slashes fail.
    match api_version.split('/').collect::<Vec<_>>()[..] {
        [_] => Ok(""),
        [g, _] => Ok(g),
        _ => Err(format!("unexpected GroupVersion string {api_version:?}")),
    }
}

fn uid_matches(md: &ObjectMeta, r: &OwnerReference) -> bool {
    // Manifests carry no UIDs: compare only when both sides have one.
    match md.uid.as_deref() {
        Some(uid) if !uid.is_empty() && !r.uid.is_empty() => uid == r.uid,
        _ => true,
    }
}

/// The first of `items` with this namespace and name whose UID fits the reference. `candidates`
/// are the positions of the objects with that namespace and name (the world's owner index).
fn find<'a, T>(
    items: &'a [T],
    candidates: Option<&Vec<usize>>,
    meta: impl Fn(&T) -> &ObjectMeta,
    r: &OwnerReference,
) -> Option<&'a T> {
    candidates.into_iter().flatten().map(|&i| &items[i]).find(|o| uid_matches(meta(o), r))
}

fn id(kind: WorkloadKind, ns: &str, name: &str) -> ControllerId {
    ControllerId { kind, namespace: ns.to_owned(), name: name.to_owned() }
}

/// Resolves a pod's controller as the finders do: ReplicationController, Deployment through its
/// ReplicaSet, ReplicaSet without a Deployment, StatefulSet, then the scale subresource (which
/// for the built-in kinds reads the same `spec.replicas`).
pub fn resolve_pod(world: &PdbWorld, pod: &Pod) -> Resolution {
    let Some(r) = controller_ref(&pod.metadata) else {
        return Resolution::Unmanaged;
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let group = match group_of(&r.api_version) {
        Ok(g) => g,
        Err(e) => return Resolution::NotFound(e),
    };
    let apps = matches!(group, "apps" | "extensions");
    let not_found = || {
        Resolution::NotFound(format!(
            "found no controllers for pod {:?}",
            pod.metadata.name.as_deref().unwrap_or_default()
        ))
    };
    match (r.kind.as_str(), group) {
        ("ReplicationController", "") => match find(
            &world.replication_controllers,
            world.owner_index().replication_controllers.get(&(ns.to_owned(), r.name.clone())),
            |o| &o.metadata,
            r,
        ) {
            Some(rc) => Resolution::Controller(
                id(WorkloadKind::ReplicationController, ns, &r.name),
                rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            ),
            None => not_found(),
        },
        ("ReplicaSet", _) if apps => {
            let Some(rs) = find(
                &world.replica_sets,
                world.owner_index().replica_sets.get(&(ns.to_owned(), r.name.clone())),
                |o| &o.metadata,
                r,
            ) else {
                return not_found();
            };
            let rs_replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            match controller_ref(&rs.metadata) {
                Some(dr) if dr.kind == "Deployment" => {
                    let deployment = group_of(&dr.api_version)
                        .is_ok_and(|g| matches!(g, "apps" | "extensions"))
                        .then(|| {
                            let at = world.owner_index().deployments.get(&(ns.to_owned(), dr.name.clone()));
                            find(&world.deployments, at, |o| &o.metadata, dr)
                        })
                        .flatten();
                    match deployment {
                        Some(d) => Resolution::Controller(
                            id(WorkloadKind::Deployment, ns, &dr.name),
                            d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                        ),
                        // Both ReplicaSet finders skip it; the scale finder reads the ReplicaSet's own scale.
                        None => Resolution::Controller(id(WorkloadKind::ReplicaSet, ns, &r.name), rs_replicas),
                    }
                }
                _ => Resolution::Controller(id(WorkloadKind::ReplicaSet, ns, &r.name), rs_replicas),
            }
        }
        ("StatefulSet", "apps") => match find(
            &world.stateful_sets,
            world.owner_index().stateful_sets.get(&(ns.to_owned(), r.name.clone())),
            |o| &o.metadata,
            r,
        ) {
            Some(s) => Resolution::Controller(
                id(WorkloadKind::StatefulSet, ns, &r.name),
                s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            ),
            None => not_found(),
        },
        ("Deployment", "apps") => match find(
            &world.deployments,
            world.owner_index().deployments.get(&(ns.to_owned(), r.name.clone())),
            |o| &o.metadata,
            r,
        ) {
            Some(d) => Resolution::Controller(
                id(WorkloadKind::Deployment, ns, &r.name),
                d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            ),
            None => not_found(),
        },
        _ => Resolution::Custom(format!("{} {} (scale subresource)", r.api_version, r.kind)),
    }
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Matched pods of a PDB among `pods` (its namespace, its effective selector).
pub fn matched_pods<'a>(p: &PdbObject, selector: Option<&Selector>, pods: &'a [Pod]) -> Vec<&'a Pod> {
    let Some(sel) = selector else {
        return Vec::new();
    };
    pods.iter()
        .filter(|pod| pod.metadata.namespace.as_deref() == Some(p.namespace()))
        .filter(|pod| sel.matches_opt(pod.metadata.labels.as_ref()))
        .collect()
}

fn pod_name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// The status the disruption controller would write for `pdb`, from the world's pods (with the
/// assumed pods of manifests). The PDB's own status is ignored, except for `disruptedPods` and
/// the fields a failed sync leaves untouched.
pub fn compute_status(world: &PdbWorld, pdb: &PdbObject) -> Computation {
    let (pods, _) = world.effective_pods();
    let pods: Vec<Pod> = pods.into_iter().map(std::borrow::Cow::into_owned).collect();
    compute_with(world, pdb, &pods)
}

pub(crate) fn compute_with(world: &PdbWorld, pdb: &PdbObject, pods: &[Pod]) -> Computation {
    let c = Computation {
        status: PdbStatus::default(),
        matched_pods: Vec::new(),
        unmanaged_pods: Vec::new(),
        controllers: Vec::new(),
        sync_error: None,
    };
    let selector = match effective_selector(pdb) {
        Ok(s) => s,
        Err(e) => {
            return fail_safe(c, pdb, SyncError::FailSafe(format!("failed to get pods: {e}")));
        }
    };
    let matched = matched_pods(pdb, selector.as_ref(), pods);
    compute_matched(world, pdb, c, &matched)
}

/// The status from the pods the PDB's selector matched (the caller matched them, e.g. through an
/// index by namespace); a selector that cannot be read fails the sync as the controller's does.
pub(crate) fn compute_for(world: &PdbWorld, pdb: &PdbObject, matched: &[&Pod]) -> Computation {
    let c = Computation {
        status: PdbStatus::default(),
        matched_pods: Vec::new(),
        unmanaged_pods: Vec::new(),
        controllers: Vec::new(),
        sync_error: None,
    };
    if let Err(e) = effective_selector(pdb) {
        return fail_safe(c, pdb, SyncError::FailSafe(format!("failed to get pods: {e}")));
    }
    compute_matched(world, pdb, c, matched)
}

fn compute_matched(world: &PdbWorld, pdb: &PdbObject, mut c: Computation, matched: &[&Pod]) -> Computation {
    c.matched_pods = matched.iter().map(|p| pod_name(p)).collect();
    match expected_and_desired(world, pdb, matched, &mut c) {
        Ok((expected, desired)) => {
            let current = count_healthy(world, pdb, matched);
            let allowed = current - desired;
            c.status = PdbStatus {
                expected_pods: clamp(expected),
                current_healthy: clamp(current),
                desired_healthy: clamp(desired),
                disruptions_allowed: if expected <= 0 || allowed <= 0 { 0 } else { clamp(allowed) },
            };
            c
        }
        Err(e) => fail_safe(c, pdb, e),
    }
}

fn clamp(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// failSafe: only `disruptionsAllowed` is set to 0; the rest of the status stays as it was.
fn fail_safe(mut c: Computation, pdb: &PdbObject, e: SyncError) -> Computation {
    if let Some(s) = &pdb.pdb.status {
        c.status = PdbStatus {
            expected_pods: s.expected_pods,
            current_healthy: s.current_healthy,
            desired_healthy: s.desired_healthy,
            disruptions_allowed: 0,
        };
    }
    c.sync_error = Some(e);
    c
}

/// getExpectedPodCount. API defaulting gives `minAvailable: 1` when neither field is set.
fn expected_and_desired(
    world: &PdbWorld,
    pdb: &PdbObject,
    pods: &[&Pod],
    c: &mut Computation,
) -> Result<(i64, i64), SyncError> {
    let spec = pdb.pdb.spec.as_ref();
    let max_unavailable = spec.and_then(|s| s.max_unavailable.as_ref());
    let default_min = IntOrString::Int(1);
    let min_available = spec.and_then(|s| s.min_available.as_ref()).unwrap_or(&default_min);
    if let Some(mu) = max_unavailable {
        let expected = expected_scale(world, pods, c)?;
        let mu = intstr::scaled_value(mu, expected).map_err(SyncError::FailSafe)?;
        return Ok((expected, (expected - mu).max(0)));
    }
    match min_available {
        IntOrString::Int(n) => Ok((pods.len() as i64, i64::from(*n))),
        IntOrString::String(_) => {
            let expected = expected_scale(world, pods, c)?;
            let desired = intstr::scaled_value(min_available, expected).map_err(SyncError::FailSafe)?;
            Ok((expected, desired))
        }
    }
}

/// getExpectedScale: the sum of the scales of the distinct controllers of the pods.
fn expected_scale(world: &PdbWorld, pods: &[&Pod], c: &mut Computation) -> Result<i64, SyncError> {
    let mut scales: BTreeMap<ControllerId, i32> = BTreeMap::new();
    for pod in pods {
        match resolve_pod(world, pod) {
            Resolution::Controller(id, scale) => {
                scales.entry(id).or_insert(scale);
            }
            Resolution::Unmanaged => match world.unmanaged_pods {
                UnmanagedPods::Ignore => c.unmanaged_pods.push(pod_name(pod)),
                UnmanagedPods::FailSafe => {
                    return Err(SyncError::FailSafe(format!("found no controller ref for pod {:?}", pod_name(pod))));
                }
            },
            Resolution::NotFound(e) => return Err(SyncError::FailSafe(e)),
            Resolution::Custom(what) => {
                return Err(SyncError::Unresolvable(format!(
                    "pod {:?} is controlled by {what}; its replicas are not in the input",
                    pod_name(pod)
                )));
            }
        }
    }
    c.controllers = scales.iter().map(|(k, v)| (k.clone(), *v)).collect();
    Ok(scales.values().map(|v| i64::from(*v)).sum())
}

/// countHealthyPods: Ready, not being deleted, and not evicted within the last two minutes.
fn count_healthy(world: &PdbWorld, pdb: &PdbObject, pods: &[&Pod]) -> i64 {
    let disrupted = pdb.pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref());
    let recently_evicted = |name: &str| {
        disrupted.and_then(|d| d.get(name)).is_some_and(|t| match world.now {
            Some(now) => t.0.as_second() + DELETION_TIMEOUT_SECONDS > now.as_second(),
            None => true,
        })
    };
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| !recently_evicted(p.metadata.name.as_deref().unwrap_or_default()))
        .filter(|p| is_ready(p))
        .count() as i64
}
