//! Builds a `NetpolWorld` from Kubernetes objects (typed, or JSON values as read from manifests
//! and `kubectl get -o yaml`), standing in workload pod templates for pods not deployed yet.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, Pod, ReplicationController};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;
use serde_json::Value;

use super::compile::compile_policy;
use super::model::{
    ContainerPortInfo, IpBlockScope, NAMESPACE_NAME_LABEL, NamespaceInfo, NetpolWorld, Owner, PodInfo, Protocol,
};
use crate::selector::Selector;

/// The workload kinds whose pod template stands in for pods that do not exist (yet).
pub const WORKLOAD_KINDS: [&str; 7] =
    ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"];

// Pods and templates are read leniently: only labels, container ports and IPs matter here, and
// trimmed pod lists (e.g. containers without a name) must not stop the evaluation.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LooseMeta {
    name: Option<String>,
    namespace: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    owner_references: Option<Vec<LooseOwnerRef>>,
}

#[derive(Deserialize)]
struct LooseOwnerRef {
    kind: String,
    name: String,
    controller: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LoosePodSpec {
    containers: Option<Vec<LooseContainer>>,
    init_containers: Option<Vec<LooseContainer>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LooseContainer {
    ports: Option<Vec<LoosePort>>,
    restart_policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoosePort {
    name: Option<String>,
    container_port: i64,
    protocol: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LoosePodStatus {
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pod_ips: Option<Vec<LoosePodIp>>,
}

#[derive(Deserialize)]
struct LoosePodIp {
    ip: String,
}

#[derive(Deserialize, Default)]
struct LooseTemplate {
    metadata: Option<LooseMeta>,
    spec: Option<LoosePodSpec>,
}

/// A workload waiting to learn whether real pods exist for it.
struct PendingTemplate {
    pod: PodInfo,
    selector: Option<Selector>,
    controller: Option<Owner>,
}

/// Collects objects, then `build`s the world. Errors name the object.
#[derive(Default)]
pub struct WorldBuilder {
    namespaces: BTreeMap<String, NamespaceInfo>,
    pods: Vec<PodInfo>,
    policies: Vec<super::model::Policy>,
    templates: Vec<PendingTemplate>,
    ipblock_scope: IpBlockScope,
}

fn ns_or_default(ns: Option<&String>) -> String {
    ns.filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| "default".to_string())
}

fn container_ports(spec: &LoosePodSpec, what: &str) -> Result<Vec<ContainerPortInfo>, String> {
    let sidecars = spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let mut out = Vec::new();
    for c in spec.containers.iter().flatten().chain(sidecars) {
        for p in c.ports.iter().flatten() {
            let number = u16::try_from(p.container_port)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("{what}: containerPort {} is out of range 1-65535", p.container_port))?;
            let protocol = Protocol::parse_or_tcp(p.protocol.as_deref()).map_err(|e| format!("{what}: {e}"))?;
            out.push(ContainerPortInfo { name: p.name.clone(), number, protocol });
        }
    }
    Ok(out)
}

fn controller_of(meta: &LooseMeta) -> Option<Owner> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true) && r.kind != "Node")
        .map(|r| Owner { kind: r.kind.clone(), name: r.name.clone() })
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, String> {
    T::deserialize(v).map_err(|e| format!("{what}: {e}"))
}

fn describe(kind: &str, v: &Value) -> String {
    let meta = &v["metadata"];
    let name = meta["name"].as_str().unwrap_or("<unnamed>");
    if kind == "Namespace" {
        return format!("Namespace {name}");
    }
    format!("{kind} {}/{name}", meta["namespace"].as_str().unwrap_or("default"))
}

impl WorldBuilder {
    pub fn new() -> Self {
        WorldBuilder::default()
    }

    pub fn ipblock_scope(mut self, scope: IpBlockScope) -> Self {
        self.ipblock_scope = scope;
        self
    }

    pub fn namespace(&mut self, ns: &Namespace) -> Result<(), String> {
        let name = ns.metadata.name.clone().filter(|n| !n.is_empty()).ok_or("Namespace without metadata.name")?;
        let labels = ns.metadata.labels.clone().unwrap_or_default();
        self.namespaces.insert(name.clone(), NamespaceInfo { name, labels });
        Ok(())
    }

    pub fn policy(&mut self, np: &NetworkPolicy) -> Result<(), String> {
        self.policies.push(compile_policy(np)?);
        Ok(())
    }

    pub fn pod(&mut self, pod: &Pod) -> Result<(), String> {
        let v = serde_json::to_value(pod).map_err(|e| format!("Pod: {e}"))?;
        self.pod_value(&v)
    }

    pub fn deployment(&mut self, d: &Deployment) -> Result<(), String> {
        self.typed_workload("Deployment", d)
    }
    pub fn stateful_set(&mut self, s: &StatefulSet) -> Result<(), String> {
        self.typed_workload("StatefulSet", s)
    }
    pub fn daemon_set(&mut self, d: &DaemonSet) -> Result<(), String> {
        self.typed_workload("DaemonSet", d)
    }
    pub fn replica_set(&mut self, r: &ReplicaSet) -> Result<(), String> {
        self.typed_workload("ReplicaSet", r)
    }
    pub fn job(&mut self, j: &Job) -> Result<(), String> {
        self.typed_workload("Job", j)
    }
    pub fn cron_job(&mut self, c: &CronJob) -> Result<(), String> {
        self.typed_workload("CronJob", c)
    }
    pub fn replication_controller(&mut self, r: &ReplicationController) -> Result<(), String> {
        self.typed_workload("ReplicationController", r)
    }

    fn typed_workload<T: serde::Serialize>(&mut self, kind: &str, obj: &T) -> Result<(), String> {
        let v = serde_json::to_value(obj).map_err(|e| format!("{kind}: {e}"))?;
        self.workload_value(kind, &v)
    }

    fn pod_value(&mut self, v: &Value) -> Result<(), String> {
        let what = describe("Pod", v);
        let meta: LooseMeta = parse(&v["metadata"], &what)?;
        let spec: LoosePodSpec = if v["spec"].is_null() { LoosePodSpec::default() } else { parse(&v["spec"], &what)? };
        let status: LoosePodStatus =
            if v["status"].is_null() { LoosePodStatus::default() } else { parse(&v["status"], &what)? };
        let mut ips: Vec<IpAddr> = Vec::new();
        for ip in status.pod_ips.iter().flatten().map(|p| p.ip.as_str()).chain(status.pod_ip.as_deref()) {
            let ip: IpAddr = ip.parse().map_err(|_| format!("{what}: status pod IP {ip:?} is not an IP address"))?;
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        self.pods.push(PodInfo {
            namespace: ns_or_default(meta.namespace.as_ref()),
            name: meta.name.clone().filter(|n| !n.is_empty()).ok_or_else(|| format!("{what}: no metadata.name"))?,
            labels: meta.labels.clone().unwrap_or_default(),
            ips,
            ports: container_ports(&spec, &what)?,
            owner: controller_of(&meta),
            from_template: false,
        });
        Ok(())
    }

    fn workload_value(&mut self, kind: &str, v: &Value) -> Result<(), String> {
        let what = describe(kind, v);
        let meta: LooseMeta = parse(&v["metadata"], &what)?;
        let name = meta.name.clone().filter(|n| !n.is_empty()).ok_or_else(|| format!("{what}: no metadata.name"))?;
        let spec = &v["spec"];
        let template_v = if kind == "CronJob" { &spec["jobTemplate"]["spec"]["template"] } else { &spec["template"] };
        let template: LooseTemplate =
            if template_v.is_null() { LooseTemplate::default() } else { parse(template_v, &what)? };
        let labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
        let selector = match (kind, &spec["selector"]) {
            (_, Value::Null) => None,
            // A ReplicationController's selector is a plain label map.
            ("ReplicationController", sel) => {
                let map: BTreeMap<String, String> = parse(sel, &what)?;
                Some(Selector::from_labels(&map))
            }
            (_, sel) => {
                let ls: LabelSelector = parse(sel, &what)?;
                Some(Selector::from_k8s(&ls).map_err(|e| format!("{what}: spec.selector: {e}"))?)
            }
        };
        // Without a selector, the template's labels are what its pods will carry.
        let selector = selector.or_else(|| (!labels.is_empty()).then(|| Selector::from_labels(&labels)));
        let pod = PodInfo {
            namespace: ns_or_default(meta.namespace.as_ref()),
            name: name.clone(),
            labels,
            ips: vec![],
            ports: container_ports(&template.spec.unwrap_or_default(), &what)?,
            owner: Some(Owner { kind: kind.to_string(), name }),
            from_template: true,
        };
        self.templates.push(PendingTemplate { pod, selector, controller: controller_of(&meta) });
        Ok(())
    }

    /// Adds one object by `apiVersion`/`kind`; `List`s are expanded; irrelevant kinds are ignored.
    pub fn object(&mut self, v: &Value) -> Result<(), String> {
        let kind = v["kind"].as_str().unwrap_or_default();
        let api = v["apiVersion"].as_str().unwrap_or_default();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        if let Some(item_kind) = kind.strip_suffix("List") {
            for item in v["items"].as_array().into_iter().flatten() {
                // Items of typed lists (PodList from the API) may lack apiVersion and kind.
                if item.get("kind").is_none() && !item_kind.is_empty() {
                    let mut item = item.clone();
                    item["kind"] = Value::from(item_kind);
                    let item_api = if item_kind == "Pod" || item_kind == "Namespace" { "v1" } else { api };
                    item["apiVersion"] = Value::from(item_api);
                    self.object(&item)?;
                } else {
                    self.object(item)?;
                }
            }
            return Ok(());
        }
        match (group, kind) {
            ("", "Namespace") => self.namespace(&parse(v, &describe(kind, v))?),
            ("", "Pod") => self.pod_value(v),
            // Same-named kinds of other groups (Calico, Cilium, ...) follow other rules.
            ("networking.k8s.io" | "extensions", "NetworkPolicy") => self.policy(&parse(v, &describe(kind, v))?),
            ("apps" | "extensions" | "batch" | "", k) if WORKLOAD_KINDS.contains(&k) => self.workload_value(k, v),
            _ => Ok(()),
        }
    }

    pub fn build(mut self) -> NetpolWorld {
        // A template stands in only when no real pod exists for its workload, and a ReplicaSet or
        // Job is left to the Deployment or CronJob that controls it.
        let parents: std::collections::HashSet<Owner> =
            self.templates.iter().filter_map(|t| t.pod.owner.clone()).collect();
        let templates = std::mem::take(&mut self.templates);
        // Only the pods of a template's namespace can be its pods.
        let mut by_namespace: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
        for (i, p) in self.pods.iter().enumerate() {
            by_namespace.entry(p.namespace.as_str()).or_default().push(i);
        }
        let mut stand_ins = Vec::new();
        for t in templates {
            if t.controller.as_ref().is_some_and(|c| parents.contains(c)) {
                continue;
            }
            let has_pods = by_namespace.get(t.pod.namespace.as_str()).into_iter().flatten().any(|&i| {
                let p = &self.pods[i];
                p.owner == t.pod.owner || t.selector.as_ref().is_some_and(|s| !s.is_empty() && s.matches(&p.labels))
            });
            if !has_pods {
                stand_ins.push(t.pod);
            }
        }
        drop(by_namespace);
        self.pods.extend(stand_ins);
        let used: Vec<String> = self
            .pods
            .iter()
            .map(|p| p.namespace.clone())
            .chain(self.policies.iter().map(|p| p.id.namespace.clone()))
            .collect();
        for ns in used {
            self.namespaces.entry(ns.clone()).or_insert_with(|| NamespaceInfo { name: ns, labels: BTreeMap::new() });
        }
        for ns in self.namespaces.values_mut() {
            ns.labels.insert(NAMESPACE_NAME_LABEL.to_string(), ns.name.clone());
        }
        let index = super::model::WorldIndex::build(&self.pods, &self.policies);
        NetpolWorld {
            namespaces: self.namespaces,
            pods: self.pods,
            policies: self.policies,
            ipblock_scope: self.ipblock_scope,
            index,
        }
    }
}

impl NetpolWorld {
    /// Builds the world from Kubernetes objects (any order; `List`s allowed; other kinds ignored).
    pub fn from_objects<V: Borrow<Value>>(objects: impl IntoIterator<Item = V>) -> Result<NetpolWorld, String> {
        let mut b = WorldBuilder::new();
        for v in objects {
            b.object(v.borrow())?;
        }
        Ok(b.build())
    }

    /// Builds the world from typed objects.
    pub fn from_typed(
        namespaces: &[Namespace],
        pods: &[Pod],
        policies: &[NetworkPolicy],
    ) -> Result<NetpolWorld, String> {
        let mut b = WorldBuilder::new();
        for ns in namespaces {
            b.namespace(ns)?;
        }
        for p in pods {
            b.pod(p)?;
        }
        for np in policies {
            b.policy(np)?;
        }
        Ok(b.build())
    }
}
