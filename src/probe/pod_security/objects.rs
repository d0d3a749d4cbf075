//! The objects that carry a pod spec (Pods and the pod templates of workloads), read from the
//! cluster view as Kubernetes JSON, and the folding of what a controller's objects repeat: a Pod
//! owned by a ReplicaSet owned by a Deployment is judged too, but reports only what differs from
//! its owner's template (an injected sidecar, a template changed since).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::cluster::Kind;
use crate::podsec::Violation;

/// A kind whose objects carry a pod spec, in the order owners come before what they own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PodSource {
    CronJob,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicationController,
    Job,
    ReplicaSet,
    Pod,
}

impl PodSource {
    /// Owners first: a CronJob before its Jobs, a Deployment before its ReplicaSets, Pods last.
    pub const ALL: &'static [PodSource] = &[
        PodSource::CronJob,
        PodSource::Deployment,
        PodSource::StatefulSet,
        PodSource::DaemonSet,
        PodSource::ReplicationController,
        PodSource::Job,
        PodSource::ReplicaSet,
        PodSource::Pod,
    ];

    pub fn kind(self) -> Kind {
        match self {
            PodSource::CronJob => Kind::CronJob,
            PodSource::Deployment => Kind::Deployment,
            PodSource::StatefulSet => Kind::StatefulSet,
            PodSource::DaemonSet => Kind::DaemonSet,
            PodSource::ReplicationController => Kind::ReplicationController,
            PodSource::Job => Kind::Job,
            PodSource::ReplicaSet => Kind::ReplicaSet,
            PodSource::Pod => Kind::Pod,
        }
    }

    /// Where the pod template sits (JSON pointer), or None for a Pod (its own metadata and spec).
    fn template(self) -> Option<&'static str> {
        match self {
            PodSource::CronJob => Some("/spec/jobTemplate/spec/template"),
            PodSource::Pod => None,
            _ => Some("/spec/template"),
        }
    }

    /// The field path of the pod's `metadata` and `spec` inside the object.
    pub fn field_prefix(self) -> &'static str {
        match self {
            PodSource::CronJob => "spec.jobTemplate.spec.template.",
            PodSource::Pod => "",
            _ => "spec.template.",
        }
    }

    /// The kind an owner reference names (`apiVersion` group and `kind`), if it carries a pod spec.
    fn of_owner(api_version: &str, kind: &str) -> Option<PodSource> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let apps = matches!(group, "apps" | "extensions");
        match kind {
            "Deployment" if apps => Some(PodSource::Deployment),
            "ReplicaSet" if apps => Some(PodSource::ReplicaSet),
            "StatefulSet" if group == "apps" => Some(PodSource::StatefulSet),
            "DaemonSet" if apps => Some(PodSource::DaemonSet),
            "Job" if group == "batch" => Some(PodSource::Job),
            "CronJob" if group == "batch" => Some(PodSource::CronJob),
            "ReplicationController" if group.is_empty() => Some(PodSource::ReplicationController),
            _ => None,
        }
    }

    pub fn plural_name(self, n: usize) -> String {
        let name = self.kind().name();
        if n == 1 { format!("1 {name}") } else { format!("{n} {name}s") }
    }
}

/// One object with a pod spec, as read from the view.
#[derive(Debug, Clone)]
pub struct PodCarrier<'v> {
    pub source: PodSource,
    pub namespace: String,
    pub name: String,
    /// The object's own labels.
    pub labels: Option<Labels>,
    /// The pod's labels (the template's; a Pod's own).
    pub pod_labels: Option<Labels>,
    /// The pod's `metadata` and `spec` (Null when absent).
    pub pod_metadata: &'v Value,
    pub pod_spec: &'v Value,
    /// The controller that owns it, when that controller's kind carries a pod spec.
    pub owner: Option<(PodSource, String)>,
    /// An owned ReplicaSet or ReplicationController at 0 replicas: an old revision, running nothing.
    pub idle_revision: bool,
    /// Read from the API server (it has a UID or resource version), not from a manifest file.
    pub from_api: bool,
}

pub type Labels = std::collections::BTreeMap<String, String>;

fn labels_of(metadata: Option<&Value>) -> Option<Labels> {
    let labels = metadata?.get("labels")?.as_object()?;
    Some(labels.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
}

impl PodCarrier<'_> {
    /// `Kind namespace/name`, the target of every finding on it.
    pub fn target(&self) -> String {
        format!("{} {}/{}", self.source.kind().name(), self.namespace, self.name)
    }
}

/// Reads an object of `source`'s kind; the error says why it cannot be judged.
pub fn read_carrier(source: PodSource, object: &Value) -> Result<PodCarrier<'_>, String> {
    let metadata = object.get("metadata").filter(|m| m.is_object()).ok_or("no metadata")?;
    let name = metadata.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).ok_or("no metadata.name")?;
    let namespace = metadata.get("namespace").and_then(Value::as_str).unwrap_or("default");
    let (pod_metadata, pod_spec, at) = match source.template() {
        None => (metadata, object.get("spec").unwrap_or(&Value::Null), "spec".to_string()),
        Some(pointer) => {
            let template = object.pointer(pointer).filter(|t| t.is_object());
            let path = source.field_prefix().trim_end_matches('.');
            let template = template.ok_or_else(|| format!("no {path}"))?;
            let spec = template.get("spec").filter(|s| !s.is_null()).ok_or_else(|| format!("no {path}.spec"))?;
            (template.get("metadata").unwrap_or(&Value::Null), spec, format!("{path}.spec"))
        }
    };
    // A pod spec without containers is rejected by the API server: nothing to judge, and no pass.
    let has_containers = pod_spec.get("containers").and_then(Value::as_array).is_some_and(|c| !c.is_empty());
    if !has_containers {
        return Err(format!("{at}.containers is empty (the API server requires at least one container)"));
    }
    let owner = metadata.get("ownerReferences").and_then(Value::as_array).and_then(|refs| {
        let r = refs.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
        let api_version = r.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = r.get("kind").and_then(Value::as_str)?;
        let name = r.get("name").and_then(Value::as_str)?;
        Some((PodSource::of_owner(api_version, kind)?, name.to_string()))
    });
    let replicas = object.pointer("/spec/replicas").and_then(Value::as_i64);
    let idle_revision = owner.is_some()
        && matches!(source, PodSource::ReplicaSet | PodSource::ReplicationController)
        && replicas == Some(0);
    Ok(PodCarrier {
        source,
        namespace: namespace.to_string(),
        name: name.to_string(),
        labels: labels_of(Some(metadata)),
        pod_labels: labels_of(Some(pod_metadata)),
        pod_metadata,
        pod_spec,
        owner,
        idle_revision,
        from_api: metadata.get("uid").is_some() || metadata.get("resourceVersion").is_some(),
    })
}

/// What identifies a violation across a controller and the objects it makes: the check, the
/// container by name (an injected container shifts the indexes) and the field inside it, and the
/// value.
fn fold_key(v: &Violation) -> String {
    let field = match &v.container {
        // `spec.containers[2].securityContext.x` -> `.securityContext.x`
        Some(_) => v.path.split_once(']').map_or(v.path.as_str(), |(_, rest)| rest),
        None => v.path.as_str(),
    };
    format!(
        "{}\u{1f}{}\u{1f}{field}\u{1f}{}",
        v.check,
        v.container.as_deref().unwrap_or(""),
        v.value.as_deref().unwrap_or("")
    )
}

/// How an object's violations relate to its controller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// No controller in the view: every violation is its own.
    None,
    /// Its controller is in the view: only what the controller lacks is its own.
    Owned,
    /// A live object whose controller comes from a manifest laid over the cluster, or whose
    /// controller is itself superseded: the deploy rolls it out anew from the manifest's
    /// template, so what it carries now is not reported.
    Superseded,
}

/// The violations of each judged object, by kind, namespace and name, for its children's folding.
#[derive(Default)]
pub struct Folding {
    /// Per object: its violations, and whether the deploy replaces it (a live object that a
    /// manifest's controller, directly or through a superseded one, owns).
    by_object: HashMap<(PodSource, String, String), Folded>,
}

struct Folded {
    keys: HashSet<String>,
    from_api: bool,
    superseded: bool,
}

impl Folding {
    /// Records `violations` of `c` and returns those its own (see [`Ownership`]).
    pub fn fold(&mut self, c: &PodCarrier<'_>, violations: Vec<Violation>) -> (Vec<Violation>, Ownership) {
        let keys: HashSet<String> = violations.iter().map(fold_key).collect();
        let owner =
            c.owner.as_ref().and_then(|(kind, name)| self.by_object.get(&(*kind, c.namespace.clone(), name.clone())));
        let (fresh, ownership) = match owner {
            None => (violations, Ownership::None),
            Some(o) if o.superseded || (c.from_api && !o.from_api) => (Vec::new(), Ownership::Superseded),
            Some(o) => (violations.into_iter().filter(|v| !o.keys.contains(&fold_key(v))).collect(), Ownership::Owned),
        };
        let superseded = ownership == Ownership::Superseded;
        self.by_object
            .insert((c.source, c.namespace.clone(), c.name.clone()), Folded { keys, from_api: c.from_api, superseded });
        (fresh, ownership)
    }
}
