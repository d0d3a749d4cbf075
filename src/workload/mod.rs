//! Workloads as the readiness and autoscaling checks see them: Deployments, StatefulSets,
//! DaemonSets, ReplicaSets, ReplicationControllers and bare Pods read from the cluster view, with
//! an index by namespace, name and pod-template label built once per probe run.

pub mod image;
pub mod index;
pub mod judge;
pub mod resources;
#[cfg(test)]
pub(crate) mod tests_judge;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSetSpec, DeploymentSpec, ReplicaSetSpec, StatefulSetSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, ReplicationControllerSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

pub use index::WorkloadIndex;

/// The kinds of workload read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    ReplicationController,
    Pod,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::ReplicationController => "ReplicationController",
            WorkloadKind::Pod => "Pod",
        }
    }

    /// The cluster-view kind holding these objects.
    pub fn view_kind(self) -> crate::cluster::Kind {
        use crate::cluster::Kind;
        match self {
            WorkloadKind::Deployment => Kind::Deployment,
            WorkloadKind::StatefulSet => Kind::StatefulSet,
            WorkloadKind::DaemonSet => Kind::DaemonSet,
            WorkloadKind::ReplicaSet => Kind::ReplicaSet,
            WorkloadKind::ReplicationController => Kind::ReplicationController,
            WorkloadKind::Pod => Kind::Pod,
        }
    }

    /// The kind a `scaleTargetRef` names (`apiVersion` group and `kind`), for the built-in kinds
    /// with a scale subresource; None for anything else (a custom resource).
    pub fn scale_target(api_version: Option<&str>, kind: &str) -> Option<WorkloadKind> {
        let group = api_version.and_then(|v| v.rsplit_once('/')).map(|(g, _)| g);
        let apps = |g: Option<&str>| g.is_none_or(|g| matches!(g, "apps" | "extensions"));
        match kind {
            "Deployment" if apps(group) => Some(WorkloadKind::Deployment),
            "ReplicaSet" if apps(group) => Some(WorkloadKind::ReplicaSet),
            "StatefulSet" if group.is_none_or(|g| g == "apps") => Some(WorkloadKind::StatefulSet),
            "ReplicationController" if api_version.is_none_or(|v| !v.contains('/')) => {
                Some(WorkloadKind::ReplicationController)
            }
            _ => None,
        }
    }

    /// Whether `spec.replicas` means anything for this kind.
    pub fn has_replicas(self) -> bool {
        !matches!(self, WorkloadKind::DaemonSet | WorkloadKind::Pod)
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One workload with its pod template, read from a view object.
#[derive(Debug, Clone)]
pub struct Workload<'a> {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub meta: ObjectMeta,
    /// The labels its pods get (the template's; a Pod's own).
    pub pod_labels: BTreeMap<String, String>,
    /// `spec.replicas` as the object holds it (None: not written, so 1).
    pub replicas: Option<i32>,
    pub pod_spec: PodSpec,
    /// The object as it is in the view (for the PDB computation and the applied-replicas test).
    pub object: &'a Value,
}

impl Workload<'_> {
    /// `Kind namespace/name`, the target of every finding on it.
    pub fn target(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    /// The replicas its controller keeps (1 when `spec.replicas` is not written).
    pub fn scale(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }

    /// A Pod with a controller (a ReplicaSet's, a Job's): judged through its owner, not alone.
    pub fn is_owned_pod(&self) -> bool {
        self.kind == WorkloadKind::Pod
            && self.meta.owner_references.iter().flatten().any(|r| r.controller == Some(true))
    }

    /// Whether the object came from the API server (it has a UID or resource version) rather
    /// than from a hand-written manifest.
    pub fn from_api(&self) -> bool {
        self.meta.uid.is_some() || self.meta.resource_version.is_some()
    }
}

/// A container of a pod spec, with where it sits.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRef<'p> {
    pub container: &'p Container,
    /// An init container (run to completion before the others, unless it is a sidecar).
    pub init: bool,
}

impl ContainerRef<'_> {
    /// Long-running: a regular container, or an init container with `restartPolicy: Always`
    /// (a sidecar, which may have probes).
    pub fn long_running(&self) -> bool {
        !self.init || self.container.restart_policy.as_deref() == Some("Always")
    }

    /// `container NAME` or `init container NAME`, for messages.
    pub fn describe(&self) -> String {
        if self.init {
            format!("init container {}", self.container.name)
        } else {
            format!("container {}", self.container.name)
        }
    }
}

/// Every container of a pod spec: init containers first, as they run.
pub fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerRef<'_>> {
    let init = spec.init_containers.iter().flatten().map(|c| ContainerRef { container: c, init: true });
    init.chain(spec.containers.iter().map(|c| ContainerRef { container: c, init: false }))
}

fn de<'v, T: Deserialize<'v>>(v: Option<&'v Value>, what: &str) -> Result<T, String> {
    match v {
        Some(v) => T::deserialize(v).map_err(|e| format!("{what}: {e}")),
        None => Err(format!("no {what}")),
    }
}

/// A pod spec without containers is one the API server rejects: nothing to judge, and no pass.
fn no_containers(spec: &PodSpec, path: &str) -> Result<(), String> {
    if spec.containers.is_empty() {
        return Err(format!("{path}.containers is empty (the API server requires at least one container)"));
    }
    Ok(())
}

/// Reads a view object of `kind` as a workload. The `spec` and `metadata` are read as the
/// current API types whatever `apiVersion` the object was written with (an old served version
/// has the same fields).
pub fn read_workload(kind: WorkloadKind, object: &Value) -> Result<Workload<'_>, String> {
    let meta: ObjectMeta = de(object.get("metadata"), "metadata")?;
    let spec = object.get("spec");
    let (replicas, template) = match kind {
        WorkloadKind::Deployment => {
            let s: DeploymentSpec = de(spec, "spec")?;
            (s.replicas, Some(s.template))
        }
        WorkloadKind::StatefulSet => {
            let s: StatefulSetSpec = de(spec, "spec")?;
            (s.replicas, Some(s.template))
        }
        WorkloadKind::DaemonSet => {
            let s: DaemonSetSpec = de(spec, "spec")?;
            (None, Some(s.template))
        }
        WorkloadKind::ReplicaSet => {
            let s: ReplicaSetSpec = de(spec, "spec")?;
            (s.replicas, s.template)
        }
        WorkloadKind::ReplicationController => {
            let s: ReplicationControllerSpec = de(spec, "spec")?;
            (s.replicas, s.template)
        }
        WorkloadKind::Pod => {
            let pod_spec: PodSpec = de(spec, "spec")?;
            no_containers(&pod_spec, "spec")?;
            return Ok(Workload {
                kind,
                namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
                name: meta.name.clone().unwrap_or_default(),
                pod_labels: meta.labels.clone().unwrap_or_default(),
                replicas: None,
                pod_spec,
                meta,
                object,
            });
        }
    };
    let template = template.ok_or("no spec.template")?;
    let pod_spec = template.spec.ok_or("no spec.template.spec")?;
    no_containers(&pod_spec, "spec.template.spec")?;
    let pod_labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
    Ok(Workload {
        kind,
        namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
        name: meta.name.clone().unwrap_or_default(),
        pod_labels,
        replicas,
        pod_spec,
        meta,
        object,
    })
}

/// How we know a workload's applied configuration writes `spec.replicas` (an HPA then fights
/// every apply), or None when it does not or cannot be told.
pub fn replicas_in_applied_config(w: &Workload<'_>) -> Option<String> {
    if !w.from_api() {
        // A manifest as written: the field is there only if the file sets it.
        return w.replicas.map(|r| format!("the manifest sets spec.replicas: {r}"));
    }
    // From the API server, spec.replicas is always set (defaulted). What was applied is kept in
    // the client-side apply annotation, or in the managed fields of a server-side apply.
    let annotations = w.meta.annotations.as_ref();
    if let Some(text) = annotations.and_then(|a| a.get("kubectl.kubernetes.io/last-applied-configuration"))
        && let Ok(applied) = serde_json::from_str::<Value>(text)
        && let Some(r) = applied.pointer("/spec/replicas")
    {
        return Some(format!("kubectl apply's last-applied-configuration sets spec.replicas: {r}"));
    }
    for mf in w.meta.managed_fields.iter().flatten() {
        let owns = mf.fields_v1.as_ref().is_some_and(|f| f.0.pointer("/f:spec/f:replicas").is_some());
        if owns && mf.operation.as_deref() == Some("Apply") {
            let manager = mf.manager.as_deref().unwrap_or("?");
            return Some(format!("server-side apply by field manager {manager:?} owns spec.replicas"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_templates_and_bare_pods() {
        let d = json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}},
                    "spec": {"initContainers": [{"name": "migrate", "image": "m:1"}],
                             "containers": [{"name": "api", "image": "a:1"}]}}}});
        let w = read_workload(WorkloadKind::Deployment, &d).unwrap();
        assert_eq!((w.target(), w.scale(), w.replicas), ("Deployment ns/api".to_string(), 1, None));
        assert_eq!(w.pod_labels.get("app").map(String::as_str), Some("api"));
        let names: Vec<String> = containers(&w.pod_spec).map(|c| c.describe()).collect();
        assert_eq!(names, ["init container migrate", "container api"]);
        let p = json!({"kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]},
            "spec": {"containers": [{"name": "c"}]}});
        let w = read_workload(WorkloadKind::Pod, &p).unwrap();
        assert!(w.is_owned_pod());
        assert_eq!(w.namespace, "default");
        assert!(read_workload(WorkloadKind::StatefulSet, &json!({"metadata": {"name": "x"}})).is_err());
        let empty = json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "sa"}});
        assert!(read_workload(WorkloadKind::Pod, &empty).unwrap_err().contains("spec.containers is empty"));
        let bad = json!({"metadata": {"name": "x"}, "spec": {"replicas": "two", "selector": {}, "template": {}}});
        assert!(read_workload(WorkloadKind::Deployment, &bad).unwrap_err().contains("spec"));
    }

    #[test]
    fn sidecar_init_containers_run_long() {
        let spec: PodSpec = serde_json::from_value(json!({"initContainers": [
            {"name": "once"}, {"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]}))
        .unwrap();
        let long: Vec<bool> = containers(&spec).map(|c| c.long_running()).collect();
        assert_eq!(long, [false, true, true]);
    }

    #[test]
    fn scale_targets() {
        assert_eq!(WorkloadKind::scale_target(Some("apps/v1"), "Deployment"), Some(WorkloadKind::Deployment));
        assert_eq!(WorkloadKind::scale_target(None, "StatefulSet"), Some(WorkloadKind::StatefulSet));
        assert_eq!(
            WorkloadKind::scale_target(Some("v1"), "ReplicationController"),
            Some(WorkloadKind::ReplicationController)
        );
        assert_eq!(WorkloadKind::scale_target(Some("argoproj.io/v1alpha1"), "Rollout"), None);
        assert_eq!(WorkloadKind::scale_target(Some("example.com/v1"), "Deployment"), None);
    }

    #[test]
    fn applied_replicas_from_manifest_annotation_or_managed_fields() {
        let base = |meta: Value, spec_replicas: Option<i32>| {
            let mut spec = json!({"selector": {}, "template": {"spec": {"containers": [{"name": "c"}]}}});
            if let Some(r) = spec_replicas {
                spec["replicas"] = json!(r);
            }
            json!({"metadata": meta, "spec": spec})
        };
        let manifest = base(json!({"name": "a"}), Some(3));
        let w = read_workload(WorkloadKind::Deployment, &manifest).unwrap();
        assert_eq!(replicas_in_applied_config(&w).as_deref(), Some("the manifest sets spec.replicas: 3"));
        let manifest = base(json!({"name": "a"}), None);
        assert_eq!(replicas_in_applied_config(&read_workload(WorkloadKind::Deployment, &manifest).unwrap()), None);
        // Live: replicas always there; only the applied configuration tells.
        let live = base(json!({"name": "a", "uid": "1"}), Some(3));
        assert_eq!(replicas_in_applied_config(&read_workload(WorkloadKind::Deployment, &live).unwrap()), None);
        let annotated = base(
            json!({"name": "a", "uid": "1", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{\"replicas\":2}}"}}),
            Some(3),
        );
        let w = read_workload(WorkloadKind::Deployment, &annotated).unwrap();
        assert!(replicas_in_applied_config(&w).unwrap().contains("last-applied"));
        let ssa = base(
            json!({"name": "a", "resourceVersion": "9", "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "deployer", "operation": "Apply", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}]}),
            Some(3),
        );
        let w = read_workload(WorkloadKind::Deployment, &ssa).unwrap();
        assert!(replicas_in_applied_config(&w).unwrap().contains("\"deployer\""));
    }
}
