//! The objects PodDisruptionBudget health is judged on (PDBs, pods, workloads, namespaces),
//! read from JSON/YAML values or given as typed objects, plus the pods assumed for manifests.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, PodCondition, PodStatus, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;

use super::controller::{ControllerId, WorkloadKind};

/// The API version a PodDisruptionBudget was served or written in. Kubernetes 1.20 serves only
/// `policy/v1beta1`; the JSON fields are the same, but an empty selector means "no pods" there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PdbApiVersion {
    V1,
    V1beta1,
}

impl PdbApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            PdbApiVersion::V1 => "policy/v1",
            PdbApiVersion::V1beta1 => "policy/v1beta1",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "policy/v1" => Some(PdbApiVersion::V1),
            "policy/v1beta1" => Some(PdbApiVersion::V1beta1),
            _ => None,
        }
    }
}

/// A PDB together with the API version it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct PdbObject {
    pub api_version: PdbApiVersion,
    pub pdb: PodDisruptionBudget,
}

impl PdbObject {
    pub fn namespace(&self) -> &str {
        self.pdb.metadata.namespace.as_deref().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.pdb.metadata.name.as_deref().unwrap_or_default()
    }
}

/// How the disruption controller treats pods without a controller when it needs the
/// controllers' scale (maxUnavailable, or minAvailable as a percentage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmanagedPods {
    /// Kubernetes 1.23 and later: such pods are left out of expectedPods (still counted healthy).
    Ignore,
    /// Kubernetes 1.22 and earlier: the sync fails and the controller only writes
    /// `disruptionsAllowed: 0`, leaving the rest of the status as it was.
    FailSafe,
}

impl UnmanagedPods {
    /// The behaviour of the kube-controller-manager of the given version.
    pub fn for_version(major: u32, minor: u32) -> Self {
        if (major, minor) >= (1, 23) { UnmanagedPods::Ignore } else { UnmanagedPods::FailSafe }
    }
}

/// An object that could not be read; reported instead of silently dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectProblem {
    /// `Kind namespace/name`, as far as it could be read.
    pub object: String,
    pub message: String,
}

/// A workload for which no pods were given, so its replicas were assumed to exist and be Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedPods {
    pub workload: ControllerId,
    pub replicas: i32,
    pub pod_names: Vec<String>,
}

/// Everything the PDB checks look at. Build it once from a snapshot or manifests.
#[derive(Debug, Clone)]
pub struct PdbWorld {
    pub pdbs: Vec<PdbObject>,
    pub pods: Vec<Pod>,
    pub deployments: Vec<Deployment>,
    pub replica_sets: Vec<ReplicaSet>,
    pub stateful_sets: Vec<StatefulSet>,
    pub replication_controllers: Vec<ReplicationController>,
    pub namespaces: Vec<Namespace>,
    pub problems: Vec<ObjectProblem>,
    /// Namespace given to namespaced objects that name none (as `kubectl apply` would).
    pub default_namespace: String,
    /// Manifests hold workloads but no pods: assume each workload's replicas are there and Ready.
    /// Off for a live snapshot, where a missing pod is a fact.
    pub synthesize_missing_pods: bool,
    pub unmanaged_pods: UnmanagedPods,
    /// When the snapshot was taken; judges `status.disruptedPods` entries (2 minute timeout).
    /// Unknown: entries are taken as still pending, as the controller would right after an eviction.
    pub now: Option<jiff::Timestamp>,
    /// Workloads by namespace and name, built on first use: a pod's controller is looked up,
    /// never searched for. Build the world completely before judging it.
    pub(crate) owners: std::sync::OnceLock<OwnerIndex>,
}

/// Positions of the workloads of a world by (namespace, name).
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnerIndex {
    pub replication_controllers: std::collections::HashMap<(String, String), Vec<usize>>,
    pub replica_sets: std::collections::HashMap<(String, String), Vec<usize>>,
    pub deployments: std::collections::HashMap<(String, String), Vec<usize>>,
    pub stateful_sets: std::collections::HashMap<(String, String), Vec<usize>>,
}

/// The PDB checks read a pod's metadata and status only: its spec is skipped as it is read (big
/// clusters hold tens of thousands of pods; the view's objects were decoded whole already).
#[derive(serde::Deserialize)]
struct PodWithoutSpec {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    status: Option<PodStatus>,
}

impl PodWithoutSpec {
    fn into_pod(self) -> Pod {
        Pod { metadata: self.metadata.unwrap_or_default(), spec: None, status: self.status }
    }
}

fn index_of<T>(
    items: &[T],
    meta: impl Fn(&T) -> &ObjectMeta,
) -> std::collections::HashMap<(String, String), Vec<usize>> {
    let mut out: std::collections::HashMap<(String, String), Vec<usize>> = std::collections::HashMap::new();
    for (i, o) in items.iter().enumerate() {
        let m = meta(o);
        if let (Some(ns), Some(name)) = (m.namespace.clone(), m.name.clone()) {
            out.entry((ns, name)).or_default().push(i);
        }
    }
    out
}

impl Default for PdbWorld {
    fn default() -> Self {
        PdbWorld {
            pdbs: Vec::new(),
            pods: Vec::new(),
            deployments: Vec::new(),
            replica_sets: Vec::new(),
            stateful_sets: Vec::new(),
            replication_controllers: Vec::new(),
            namespaces: Vec::new(),
            problems: Vec::new(),
            default_namespace: "default".into(),
            synthesize_missing_pods: false,
            unmanaged_pods: UnmanagedPods::Ignore,
            now: None,
            owners: std::sync::OnceLock::new(),
        }
    }
}

fn meta_name(v: &Value) -> String {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("<no kind>");
    let md = v.get("metadata");
    let ns = md.and_then(|m| m.get("namespace")).and_then(Value::as_str);
    let name = md.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("<no name>");
    match ns {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

impl PdbWorld {
    pub(crate) fn owner_index(&self) -> &OwnerIndex {
        self.owners.get_or_init(|| OwnerIndex {
            replication_controllers: index_of(&self.replication_controllers, |o| &o.metadata),
            replica_sets: index_of(&self.replica_sets, |o| &o.metadata),
            deployments: index_of(&self.deployments, |o| &o.metadata),
            stateful_sets: index_of(&self.stateful_sets, |o| &o.metadata),
        })
    }

    /// Objects of a cluster view (manifests when `offline`, else a live snapshot), read in place.
    pub fn from_view_objects<'a>(values: impl IntoIterator<Item = &'a Value>, offline: bool) -> Self {
        let mut w = PdbWorld { synthesize_missing_pods: offline, ..Default::default() };
        values.into_iter().for_each(|v| w.add_ref(v));
        w
    }

    /// Objects from manifest files (no cluster): missing pods are assumed Ready.
    pub fn from_manifests(values: impl IntoIterator<Item = Value>) -> Self {
        let mut w = PdbWorld { synthesize_missing_pods: true, ..Default::default() };
        values.into_iter().for_each(|v| w.add_value(v));
        w
    }

    /// Objects from a live snapshot (e.g. `kubectl get -o json` output): pods are taken as given.
    pub fn from_snapshot(values: impl IntoIterator<Item = Value>) -> Self {
        let mut w = PdbWorld::default();
        values.into_iter().for_each(|v| w.add_value(v));
        w
    }

    /// Adds one object; `List` kinds (`v1/List`, `PodList`, ...) are flattened. Kinds that play
    /// no part in PDB health are ignored; unreadable relevant objects land in `problems`.
    pub fn add_value(&mut self, mut v: Value) {
        let Some(kind) = v.get("kind").and_then(Value::as_str).map(str::to_owned) else {
            if !v.is_null() {
                self.problems.push(ObjectProblem { object: meta_name(&v), message: "object has no kind".into() });
            }
            return;
        };
        let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
        if kind.ends_with("List") {
            if let Some(Value::Array(items)) = v.get_mut("items").map(Value::take) {
                let item_kind = kind.trim_end_matches("List").to_owned();
                for mut item in items {
                    // Typed lists (`PodList`) omit kind and apiVersion on their items.
                    if let Some(obj) = item.as_object_mut() {
                        if !item_kind.is_empty() {
                            obj.entry("kind").or_insert_with(|| Value::String(item_kind.clone()));
                        }
                        obj.entry("apiVersion").or_insert_with(|| Value::String(api_version.clone()));
                    }
                    self.add_value(item);
                }
            }
            return;
        }
        let namespaced = kind != "Namespace";
        if namespaced && let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            md.entry("namespace").or_insert_with(|| Value::String(self.default_namespace.clone()));
        }
        let object = meta_name(&v);
        let result = match (kind.as_str(), api_version.as_str()) {
            ("PodDisruptionBudget", av) => match PdbApiVersion::parse(av) {
                Some(version) => {
                    // The v1beta1 JSON has the same fields; read it through the v1 type.
                    v["apiVersion"] = Value::String("policy/v1".into());
                    serde_json::from_value(v).map(|pdb| self.add_pdb(version, pdb))
                }
                None => {
                    self.problems.push(ObjectProblem { object, message: format!("unsupported apiVersion {av:?}") });
                    return;
                }
            },
            ("Pod", "v1") => serde_json::from_value(v).map(|o| self.pods.push(o)),
            ("ReplicationController", "v1") => serde_json::from_value(v).map(|o| self.replication_controllers.push(o)),
            ("Namespace", "v1") => serde_json::from_value(v).map(|o| self.namespaces.push(o)),
            ("Deployment", "apps/v1") => serde_json::from_value(v).map(|o| self.deployments.push(o)),
            ("ReplicaSet", "apps/v1") => serde_json::from_value(v).map(|o| self.replica_sets.push(o)),
            ("StatefulSet", "apps/v1") => serde_json::from_value(v).map(|o| self.stateful_sets.push(o)),
            ("Pod" | "ReplicationController" | "Namespace" | "Deployment" | "ReplicaSet" | "StatefulSet", av) => {
                self.problems.push(ObjectProblem { object, message: format!("unsupported apiVersion {av:?}") });
                return;
            }
            _ => return,
        };
        if let Err(e) = result {
            self.problems.push(ObjectProblem { object, message: e.to_string() });
        }
    }

    /// As `add_value`, reading the object in place when nothing needs to change in it (a
    /// namespaced object that names its namespace, of a version read as it is): the cluster
    /// view's objects are read without a copy.
    pub fn add_ref(&mut self, v: &Value) {
        use crate::cluster::field::{field, field_at};
        use serde::Deserialize;
        let kind = field(v, "kind").and_then(Value::as_str).unwrap_or_default();
        let api_version = field(v, "apiVersion").and_then(Value::as_str).unwrap_or_default();
        let has_namespace = field_at(v, &["metadata", "namespace"]).is_some_and(Value::is_string);
        let result = match (kind, api_version) {
            ("Pod", "v1") if has_namespace => PodWithoutSpec::deserialize(v).map(|o| self.pods.push(o.into_pod())),
            ("ReplicationController", "v1") if has_namespace => {
                ReplicationController::deserialize(v).map(|o| self.replication_controllers.push(o))
            }
            ("Namespace", "v1") => Namespace::deserialize(v).map(|o| self.namespaces.push(o)),
            ("Deployment", "apps/v1") if has_namespace => Deployment::deserialize(v).map(|mut o| {
                if let Some(s) = o.spec.as_mut() {
                    s.template.spec = None;
                }
                self.deployments.push(o)
            }),
            ("ReplicaSet", "apps/v1") if has_namespace => ReplicaSet::deserialize(v).map(|mut o| {
                if let Some(t) = o.spec.as_mut().and_then(|s| s.template.as_mut()) {
                    t.spec = None;
                }
                self.replica_sets.push(o)
            }),
            ("StatefulSet", "apps/v1") if has_namespace => StatefulSet::deserialize(v).map(|mut o| {
                if let Some(s) = o.spec.as_mut() {
                    s.template.spec = None;
                }
                self.stateful_sets.push(o)
            }),
            _ => return self.add_value(v.clone()),
        };
        if let Err(e) = result {
            self.problems.push(ObjectProblem { object: meta_name(v), message: e.to_string() });
        }
    }

    pub fn add_pdb(&mut self, api_version: PdbApiVersion, mut pdb: PodDisruptionBudget) {
        pdb.metadata.namespace.get_or_insert_with(|| self.default_namespace.clone());
        self.pdbs.push(PdbObject { api_version, pdb });
    }

    /// Namespaces known to exist: Namespace objects, or (without any) every namespace used.
    pub fn namespace_names(&self) -> Vec<String> {
        let mut names: Vec<String> = if self.namespaces.is_empty() {
            let ns = |m: &ObjectMeta| m.namespace.clone();
            self.pdbs
                .iter()
                .filter_map(|p| ns(&p.pdb.metadata))
                .chain(self.pods.iter().filter_map(|o| ns(&o.metadata)))
                .chain(self.deployments.iter().filter_map(|o| ns(&o.metadata)))
                .chain(self.stateful_sets.iter().filter_map(|o| ns(&o.metadata)))
                .collect()
        } else {
            self.namespaces.iter().filter_map(|n| n.metadata.name.clone()).collect()
        };
        names.sort();
        names.dedup();
        names
    }

    /// The pods with, for manifests, the pods assumed for workloads that have none (the world's
    /// own pods borrowed, the assumed ones made).
    pub(crate) fn effective_pods(&self) -> (Vec<std::borrow::Cow<'_, Pod>>, Vec<AssumedPods>) {
        let mut pods: Vec<std::borrow::Cow<'_, Pod>> = self.pods.iter().map(std::borrow::Cow::Borrowed).collect();
        let mut assumed = Vec::new();
        if !self.synthesize_missing_pods {
            return (pods, assumed);
        }
        // Every controller that has a pod, resolved once per pod.
        let with_pods: std::collections::HashSet<ControllerId> =
            self.pods.iter().filter_map(|p| super::controller::resolve_pod(self, p).controller().cloned()).collect();
        for w in self.top_level_workloads() {
            if w.replicas <= 0 || with_pods.contains(&w.id) {
                continue;
            }
            let names: Vec<String> = (0..w.replicas)
                .map(|i| match w.id.kind {
                    WorkloadKind::StatefulSet => format!("{}-{i}", w.id.name),
                    _ => format!("{}-assumed-{i}", w.id.name),
                })
                .collect();
            for name in &names {
                pods.push(std::borrow::Cow::Owned(assumed_pod(&w, name)));
            }
            assumed.push(AssumedPods { workload: w.id.clone(), replicas: w.replicas, pod_names: names });
        }
        (pods, assumed)
    }

    /// Deployments, StatefulSets, ReplicationControllers and ReplicaSets not controlled by a
    /// Deployment: the controllers whose scale the disruption controller adds up.
    pub(crate) fn top_level_workloads(&self) -> Vec<Workload<'_>> {
        let mut out = Vec::new();
        for d in &self.deployments {
            let labels = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.labels.as_ref());
            let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            out.push(Workload::new(WorkloadKind::Deployment, &d.metadata, replicas, labels));
        }
        for s in &self.stateful_sets {
            let labels = s.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.labels.as_ref());
            let replicas = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            out.push(Workload::new(WorkloadKind::StatefulSet, &s.metadata, replicas, labels));
        }
        for rs in &self.replica_sets {
            let owned_by_deployment = controller_ref(&rs.metadata).is_some_and(|r| r.kind == "Deployment");
            if owned_by_deployment {
                continue;
            }
            let spec = rs.spec.as_ref();
            let labels = spec
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref());
            let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
            out.push(Workload::new(WorkloadKind::ReplicaSet, &rs.metadata, replicas, labels));
        }
        for rc in &self.replication_controllers {
            let spec = rc.spec.as_ref();
            let labels = spec
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref());
            let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
            out.push(Workload::new(WorkloadKind::ReplicationController, &rc.metadata, replicas, labels));
        }
        out
    }
}

/// A scalable controller as the PDB checks see it.
#[derive(Debug, Clone)]
pub(crate) struct Workload<'a> {
    pub id: ControllerId,
    pub uid: &'a str,
    pub replicas: i32,
    pub template_labels: Option<&'a BTreeMap<String, String>>,
    pub labels: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Workload<'a> {
    fn new(
        kind: WorkloadKind,
        md: &'a ObjectMeta,
        replicas: i32,
        template_labels: Option<&'a BTreeMap<String, String>>,
    ) -> Self {
        Workload {
            id: ControllerId {
                kind,
                namespace: md.namespace.clone().unwrap_or_default(),
                name: md.name.clone().unwrap_or_default(),
            },
            uid: md.uid.as_deref().unwrap_or_default(),
            replicas,
            template_labels,
            labels: md.labels.as_ref(),
        }
    }
}

/// The controller reference of an object: the owner with `controller: true`.
pub(crate) fn controller_ref(md: &ObjectMeta) -> Option<&OwnerReference> {
    md.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// A Ready pod owned by the workload, as its controller would have created it. A Deployment's
/// pods are owned through a ReplicaSet; the assumed pod points at the Deployment's scale directly.
fn assumed_pod(w: &Workload<'_>, name: &str) -> Pod {
    let (api_version, kind) = match w.id.kind {
        WorkloadKind::Deployment => ("apps/v1", "Deployment"),
        WorkloadKind::StatefulSet => ("apps/v1", "StatefulSet"),
        WorkloadKind::ReplicaSet => ("apps/v1", "ReplicaSet"),
        WorkloadKind::ReplicationController => ("v1", "ReplicationController"),
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(w.id.namespace.clone()),
            labels: w.template_labels.cloned(),
            owner_references: Some(vec![OwnerReference {
                api_version: api_version.into(),
                kind: kind.into(),
                name: w.id.name.clone(),
                uid: w.uid.to_owned(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: None,
        status: Some(PodStatus {
            phase: Some("Running".into()),
            conditions: Some(vec![PodCondition { type_: "Ready".into(), status: "True".into(), ..Default::default() }]),
            ..Default::default()
        }),
    }
}
