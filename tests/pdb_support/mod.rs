//! Builders for the small clusters the PDB tests describe, and a YAML fixture loader.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use kgents_gate::pdb::{PdbAnalysis, PdbResult};
use serde_json::{Value, json};

pub fn fixture(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pdb").join(name);
    load_yaml(&path)
}

pub fn load_yaml(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Read as the manifest loader reads it (YAML as Kubernetes reads it).
    kgents_gate::cluster::manifests::parse_objects(&text, &path.display().to_string())
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn workload(api_version: &str, kind: &str, ns: &str, name: &str, replicas: i32, l: &BTreeMap<String, String>) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind,
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{kind}-{name}"), "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": l}, "template": {"metadata": {"labels": l}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    })
}

pub fn stateful_set(ns: &str, name: &str, replicas: i32, l: &BTreeMap<String, String>) -> Value {
    let mut v = workload("apps/v1", "StatefulSet", ns, name, replicas, l);
    v["spec"]["serviceName"] = json!(name);
    v
}

pub fn deployment(ns: &str, name: &str, replicas: i32, l: &BTreeMap<String, String>) -> Value {
    workload("apps/v1", "Deployment", ns, name, replicas, l)
}

/// A ReplicaSet, controlled by the Deployment `owner` when given.
pub fn replica_set(ns: &str, name: &str, replicas: i32, l: &BTreeMap<String, String>, owner: Option<&str>) -> Value {
    let mut v = workload("apps/v1", "ReplicaSet", ns, name, replicas, l);
    if let Some(d) = owner {
        v["metadata"]["ownerReferences"] = json!([owner_ref("apps/v1", "Deployment", d)]);
    }
    v
}

pub fn replication_controller(ns: &str, name: &str, replicas: i32, l: &BTreeMap<String, String>) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-ReplicationController-{name}")},
        "spec": {"replicas": replicas, "selector": l, "template": {"metadata": {"labels": l}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    })
}

pub fn owner_ref(api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": format!("uid-{kind}-{name}"), "controller": true})
}

/// A pod, controlled by `owner` = (apiVersion, kind, name) when given.
pub fn pod(
    ns: &str,
    name: &str,
    l: &BTreeMap<String, String>,
    owner: Option<(&str, &str, &str)>,
    ready: bool,
) -> Value {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": l},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    });
    if let Some((av, kind, owner)) = owner {
        v["metadata"]["ownerReferences"] = json!([owner_ref(av, kind, owner)]);
    }
    v
}

pub fn pdb(api_version: &str, ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": api_version, "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": ns, "generation": 1}, "spec": spec})
}

pub fn with_status(
    mut pdb: Value,
    expected: i32,
    current: i32,
    desired: i32,
    allowed: i32,
    observed_generation: i64,
) -> Value {
    pdb["status"] = json!({
        "expectedPods": expected, "currentHealthy": current, "desiredHealthy": desired,
        "disruptionsAllowed": allowed, "observedGeneration": observed_generation
    });
    pdb
}

pub fn result<'a>(a: &'a PdbAnalysis, ns: &str, name: &str) -> &'a PdbResult {
    a.pdbs
        .iter()
        .find(|r| r.namespace == ns && r.name == name)
        .unwrap_or_else(|| panic!("no result for {ns}/{name}: {a:#?}"))
}

pub fn codes(r: &PdbResult) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

pub fn workload_codes(a: &PdbAnalysis) -> Vec<&str> {
    a.workload_findings.iter().map(|f| f.code.as_str()).collect()
}

pub fn fact<'a>(f: &'a kgents_gate::outcome::Finding, name: &str) -> &'a str {
    f.evidence
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.value.as_str())
        .unwrap_or_else(|| panic!("no fact {name} in {f:#?}"))
}
