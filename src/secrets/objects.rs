//! Reading the Kubernetes objects the secret checks look at: identities, pod specs inside workloads,
//! containers, and an index of the scanned objects. Works on untyped `serde_json::Value` objects.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cluster::field::{field, field_at};

/// The object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ObjectRef {
    pub kind: String,
    /// None for cluster-scoped kinds (ClusterRole, ClusterRoleBinding, Namespace).
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Kinds without a namespace.
const CLUSTER_SCOPED: &[&str] = &["ClusterRole", "ClusterRoleBinding", "Namespace", "Node", "PersistentVolume"];

/// Kinds whose pod template is checked, with the path to the pod spec.
pub const WORKLOAD_KINDS: &[&str] = &[
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "DeploymentConfig",
];

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)?.as_str()
}

pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    field_at(v, path)
}

/// The elements of an array field, or nothing when absent or not an array.
pub fn items(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

pub fn kind(v: &Value) -> &str {
    field(v, "kind").and_then(Value::as_str).unwrap_or("")
}

/// The identity of an object; a namespaced object without a namespace (a manifest applied to the
/// default namespace) counts as `default`. None when the object has no kind or name.
pub fn object_ref(v: &Value) -> Option<ObjectRef> {
    let kind = kind(v);
    let name = str_at(v, &["metadata", "name"])?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    let namespace = if CLUSTER_SCOPED.contains(&kind) {
        None
    } else {
        Some(str_at(v, &["metadata", "namespace"]).filter(|s| !s.is_empty()).unwrap_or("default").to_string())
    };
    Some(ObjectRef { kind: kind.to_string(), namespace, name: name.to_string() })
}

/// The pod spec of a Pod or of a workload's pod template, with the JSON path prefix used in keys.
pub fn pod_spec(v: &Value) -> Option<&Value> {
    match kind(v) {
        "Pod" => field(v, "spec"),
        "CronJob" => at(v, &["spec", "jobTemplate", "spec", "template", "spec"]),
        k if WORKLOAD_KINDS.contains(&k) => at(v, &["spec", "template", "spec"]),
        _ => None,
    }
}

/// One container of a pod spec: `containers`, `initContainers` or `ephemeralContainers`.
pub struct Container<'a> {
    /// The field the container is listed in, e.g. `initContainers`.
    pub list: &'static str,
    pub name: &'a str,
    pub spec: &'a Value,
}

impl Container<'_> {
    /// A stable location for keys, e.g. `initContainers[migrate]`.
    pub fn location(&self) -> String {
        format!("{}[{}]", self.list, self.name)
    }
}

pub fn containers(pod_spec: &Value) -> Vec<Container<'_>> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(field(pod_spec, list)) {
            let name = field(c, "name").and_then(Value::as_str).unwrap_or("");
            out.push(Container { list, name, spec: c });
        }
    }
    out
}

/// Service account a pod spec runs as (`default` when unset).
pub fn service_account(pod_spec: &Value) -> &str {
    field(pod_spec, "serviceAccountName")
        .or_else(|| field(pod_spec, "serviceAccount"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
}

/// The scanned objects, indexed, with the namespace scope applied.
pub struct Inventory<'a> {
    pub objects: Vec<(ObjectRef, &'a Value)>,
    by_ref: BTreeMap<ObjectRef, &'a Value>,
}

impl<'a> Inventory<'a> {
    /// Flattens `List` objects and drops objects without identity. Every object is kept (a
    /// reference from an out-of-scope namespace still counts as a use); `in_scope` decides which
    /// objects get findings.
    pub fn new<T: std::borrow::Borrow<Value>>(objects: &'a [T]) -> Self {
        let mut flat = Vec::new();
        for o in objects {
            flatten(o.borrow(), &mut flat, 0);
        }
        let mut out = Vec::new();
        let mut by_ref = BTreeMap::new();
        for v in flat {
            if let Some(r) = object_ref(v) {
                by_ref.entry(r.clone()).or_insert(v);
                out.push((r, v));
            }
        }
        Inventory { objects: out, by_ref }
    }

    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<&'a Value> {
        let r = ObjectRef { kind: kind.into(), namespace: namespace.map(str::to_string), name: name.into() };
        self.by_ref.get(&r).copied()
    }

    pub fn of_kind<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s (ObjectRef, &'a Value)> + 's {
        self.objects.iter().filter(move |(r, _)| r.kind == kind)
    }

    /// Whether a Pod or ReplicaSet is managed by a controller that is itself in the inventory: its
    /// pod template was checked there, so the object is not reported twice.
    pub fn has_listed_controller(&self, r: &ObjectRef, v: &Value) -> bool {
        items(at(v, &["metadata", "ownerReferences"])).any(|o| {
            field(o, "controller").and_then(Value::as_bool) == Some(true)
                && match (field(o, "kind").and_then(Value::as_str), field(o, "name").and_then(Value::as_str)) {
                    (Some(k), Some(n)) => self.get(k, r.namespace.as_deref(), n).is_some(),
                    _ => false,
                }
        })
    }
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
    // `kind: List` (and `SecretList`, `PodList`, ... from `kubectl get -o json`) holds items.
    if depth < 4 && kind(v).ends_with("List") && field(v, "items").is_some_and(Value::is_array) {
        for i in items(field(v, "items")) {
            flatten(i, out, depth + 1);
        }
    } else if v.is_object() {
        out.push(v);
    }
}

/// Which namespaces get findings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespaceScope {
    /// Only these namespaces (empty: all).
    pub include: BTreeSet<String>,
    pub exclude: BTreeSet<String>,
}

impl NamespaceScope {
    /// Cluster-scoped objects (None) are always in scope.
    pub fn contains(&self, ns: Option<&str>) -> bool {
        match ns {
            None => true,
            Some(ns) => !self.exclude.contains(ns) && (self.include.is_empty() || self.include.contains(ns)),
        }
    }
}

/// Names of the keys a Secret holds (`data` and `stringData`), or None when the object carries no
/// key information (metadata only), so key checks are not possible.
pub fn secret_keys(secret: &Value) -> Option<BTreeSet<&str>> {
    let data = field(secret, "data").and_then(Value::as_object);
    let string_data = field(secret, "stringData").and_then(Value::as_object);
    // The API omits an empty `data`, but a full object always has `type` (metadata-only lists
    // do not): a typed Secret without data has no keys, rather than unknown keys.
    if data.is_none() && string_data.is_none() && field(secret, "type").is_none_or(Value::is_null) {
        return None;
    }
    Some(data.into_iter().chain(string_data).flat_map(|m| m.keys().map(String::as_str)).collect())
}

pub fn secret_type(secret: &Value) -> &str {
    field(secret, "type").and_then(Value::as_str).unwrap_or("Opaque")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_are_flattened_and_namespaces_defaulted() {
        let objs = vec![json!({"kind": "List", "items": [
            {"kind": "Secret", "metadata": {"name": "a"}},
            {"kind": "ClusterRole", "metadata": {"name": "r"}},
            {"kind": "Secret", "metadata": {}},
        ]})];
        let inv = Inventory::new(&objs);
        let refs: Vec<String> = inv.objects.iter().map(|(r, _)| r.to_string()).collect();
        assert_eq!(refs, ["Secret default/a", "ClusterRole r"]);
    }

    #[test]
    fn secret_keys_of_full_and_metadata_only_objects() {
        assert_eq!(secret_keys(&json!({"kind": "Secret", "type": "Opaque"})), Some(BTreeSet::new()));
        assert_eq!(secret_keys(&json!({"kind": "Secret", "metadata": {"name": "m"}})), None);
        let both = json!({"kind": "Secret", "data": {"a": ""}, "stringData": {"b": "x"}});
        assert_eq!(secret_keys(&both), Some(BTreeSet::from(["a", "b"])));
    }

    #[test]
    fn pod_specs_of_workloads() {
        let cj = json!({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"x": 1}}}}}});
        assert_eq!(pod_spec(&cj), Some(&json!({"x": 1})));
        assert!(pod_spec(&json!({"kind": "Service", "spec": {}})).is_none());
    }
}
