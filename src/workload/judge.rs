//! The readiness findings on each workload in scope: requests and limits (LimitRange defaults
//! count), a LimitRange per namespace, readiness and liveness probes, image pinning and the
//! replica floor (an HPA's minReplicas for a workload it scales). Pure logic over the index.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::Probe;

use super::image::{ImagePin, pin_of};
use super::resources::{ContainerDefaults, Origin, effective_limit, effective_request};
use super::{ContainerRef, Workload, WorkloadIndex, WorkloadKind, containers};
use crate::outcome::{Finding, ProbeReport};
use crate::selector::Selector;

/// Namespaces left out when no `namespaces` are given: Kubernetes' own.
pub const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// Which workloads are judged, and against what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Namespaces in scope; empty means every namespace but Kubernetes' own.
    pub namespaces: Vec<String>,
    /// Only workloads whose own labels or pod labels match.
    pub selector: Option<Selector>,
    /// `name` or `namespace/name` of workloads left out.
    pub exclude: Vec<String>,
    pub min_replicas: i32,
    pub require_digest: bool,
    /// Resources every container must request, and limit.
    pub requests: Vec<String>,
    pub limits: Vec<String>,
}

impl Default for Scope {
    fn default() -> Self {
        let both = vec!["cpu".to_string(), "memory".to_string()];
        Scope {
            namespaces: Vec::new(),
            selector: None,
            exclude: Vec::new(),
            min_replicas: 2,
            require_digest: false,
            requests: both.clone(),
            limits: both,
        }
    }
}

impl Scope {
    pub fn has_namespace(&self, ns: &str) -> bool {
        if self.namespaces.is_empty() {
            !SYSTEM_NAMESPACES.contains(&ns)
        } else {
            self.namespaces.iter().any(|n| n == ns)
        }
    }

    /// In scope: namespace, selector (own or pod labels), not excluded.
    pub fn selects(&self, namespace: &str, name: &str, labels: [Option<&BTreeMap<String, String>>; 2]) -> bool {
        let excluded = self.exclude.iter().any(|e| match e.split_once('/') {
            Some((ns, n)) => ns == namespace && n == name,
            None => e == name,
        });
        self.has_namespace(namespace)
            && !excluded
            && self.selector.as_ref().is_none_or(|s| labels.iter().any(|l| s.matches_opt(*l)))
    }
}

/// An HPA's floor for the workload it scales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpaFloor {
    /// `namespace/name` of the HPA.
    pub hpa: String,
    pub min_replicas: i32,
}

/// What the judgement reads besides the workloads. `None`: that kind could not be read (the
/// caller reports the gap), so the findings that depend on it are not made.
pub struct Inputs<'i, 'a> {
    pub index: &'i WorkloadIndex<'a>,
    /// Container defaults per namespace (a namespace absent here has no LimitRange).
    pub limit_ranges: Option<&'i BTreeMap<String, ContainerDefaults>>,
    /// HPA floors by (kind, namespace, name) of their target.
    pub hpa_floors: Option<&'i HashMap<(WorkloadKind, String, String), HpaFloor>>,
}

/// The kinds judged: workloads that own their pods, and Pods nothing controls.
fn judged(w: &Workload<'_>) -> bool {
    match w.kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::DaemonSet => true,
        WorkloadKind::Pod => !w.is_owned_pod(),
        WorkloadKind::ReplicaSet | WorkloadKind::ReplicationController => false,
    }
}

fn finding(f: Finding, w: &Workload<'_>, c: Option<&ContainerRef<'_>>) -> Finding {
    let f = f.target(w.target()).fact("workload", w.target());
    match c {
        Some(c) => f.fact("container", &c.container.name),
        None => f,
    }
}

/// A probe that names a handler; an empty one is rejected by the API server, so it counts as none.
fn has_handler(p: Option<&Probe>) -> Option<bool> {
    p.map(|p| p.exec.is_some() || p.http_get.is_some() || p.tcp_socket.is_some() || p.grpc.is_some())
}

fn probe_findings(w: &Workload<'_>, c: &ContainerRef<'_>, report: &mut ProbeReport) {
    let probes = [
        ("readiness", "readiness-probe-missing", c.container.readiness_probe.as_ref(), true),
        ("liveness", "liveness-probe-missing", c.container.liveness_probe.as_ref(), false),
    ];
    for (what, code, probe, error) in probes {
        let problem = match has_handler(probe) {
            Some(true) => continue,
            Some(false) => format!("has a {what}Probe with no handler (exec, httpGet, tcpSocket or grpc)"),
            None => format!("has no {what} probe"),
        };
        let msg = format!("{}: {} {problem}", w.target(), c.describe());
        let f = if error { Finding::error(code, msg) } else { Finding::warning(code, msg) };
        report.push(finding(f, w, Some(c)));
    }
}

fn image_findings(w: &Workload<'_>, c: &ContainerRef<'_>, require_digest: bool, report: &mut ProbeReport) {
    let image = c.container.image.as_deref();
    let shown = image.unwrap_or("-");
    let head = format!("{}: {}", w.target(), c.describe());
    let f = match pin_of(image) {
        ImagePin::Digest => None,
        ImagePin::Latest => {
            Some(Finding::error("image-tag-latest", format!("{head} runs {shown}: `latest` moves with every push")))
        }
        ImagePin::Untagged => Some(Finding::error(
            "image-untagged",
            format!("{head} runs {shown} without a tag: the runtime pulls `latest`"),
        )),
        ImagePin::Invalid(why) => {
            Some(Finding::error("image-reference-invalid", format!("{head}: image {shown:?} is not valid ({why})")))
        }
        ImagePin::Tag(_) if require_digest => Some(Finding::error(
            "image-not-pinned",
            format!("{head} runs {shown} by tag, not by digest (require_digest = true)"),
        )),
        ImagePin::Tag(_) => None,
    };
    if let Some(f) = f {
        report.push(finding(f.fact("image", shown), w, Some(c)));
    }
}

/// At most this many containers get a fact naming the defaults they take (the rest are counted).
const MAX_DEFAULT_FACTS: usize = 20;

/// Requests and limits; returns the values a LimitRange or the API server supplies, as evidence.
fn resource_findings(
    w: &Workload<'_>,
    c: &ContainerRef<'_>,
    scope: &Scope,
    defaults: &ContainerDefaults,
    report: &mut ProbeReport,
) -> Option<(String, String)> {
    let mut supplied = Vec::new();
    let checks = [
        ("request", "container-requests-missing", &scope.requests),
        ("limit", "container-limits-missing", &scope.limits),
    ];
    for (what, code, resources) in checks {
        for r in resources.iter() {
            let found = if what == "request" {
                effective_request(c.container, r, defaults)
            } else {
                effective_limit(c.container, r, defaults)
            };
            match found {
                Some(e) if e.origin == Origin::Container => {}
                Some(e) => supplied.push(format!("{r} {what} {e}")),
                None => {
                    let lr = if defaults.is_empty() {
                        "no LimitRange in the namespace".to_string()
                    } else {
                        format!("no default in LimitRange {}", defaults.limit_ranges.join(", "))
                    };
                    let msg = format!("{}: {} has no {r} {what} ({lr})", w.target(), c.describe());
                    report.push(finding(Finding::error(code, msg).fact("resource", r), w, Some(c)));
                }
            }
        }
    }
    (!supplied.is_empty()).then(|| (format!("defaults {} [{}]", w.target(), c.container.name), supplied.join("; ")))
}

fn replica_findings(
    w: &Workload<'_>,
    scope: &Scope,
    floors: &HashMap<(WorkloadKind, String, String), HpaFloor>,
    report: &mut ProbeReport,
) {
    if !w.kind.has_replicas() {
        return;
    }
    let key = (w.kind, w.namespace.clone(), w.name.clone());
    let (replicas, source) = match floors.get(&key) {
        Some(h) => (h.min_replicas, format!("minReplicas of HorizontalPodAutoscaler {}", h.hpa)),
        None => match w.replicas {
            Some(r) => (r, "spec.replicas".to_string()),
            None => (1, "spec.replicas not set (1)".to_string()),
        },
    };
    if replicas < scope.min_replicas {
        let msg = format!(
            "{} runs {replicas} replica(s) ({source}), fewer than {}: one pod lost is the service lost",
            w.target(),
            scope.min_replicas
        );
        let f = Finding::error("replicas-below-minimum", msg)
            .fact("replicas", replicas)
            .fact("source", &source)
            .fact("min_replicas", scope.min_replicas);
        report.push(finding(f, w, None));
    }
}

/// Judges every workload in scope into `report`; returns how many were judged.
pub fn judge(inputs: &Inputs<'_, '_>, scope: &Scope, report: &mut ProbeReport) -> usize {
    static NO_DEFAULTS: std::sync::LazyLock<ContainerDefaults> = std::sync::LazyLock::new(ContainerDefaults::default);
    let mut judged_count = 0;
    let mut container_count = 0;
    let mut namespaces: BTreeSet<String> = scope.namespaces.iter().cloned().collect();
    let mut default_facts = 0;
    for w in inputs.index.all().iter().filter(|w| judged(w)) {
        if !scope.selects(&w.namespace, &w.name, [w.meta.labels.as_ref(), Some(&w.pod_labels)]) {
            continue;
        }
        judged_count += 1;
        namespaces.insert(w.namespace.clone());
        let defaults = inputs.limit_ranges.and_then(|m| m.get(&w.namespace)).unwrap_or(&NO_DEFAULTS);
        for c in containers(&w.pod_spec) {
            container_count += 1;
            if inputs.limit_ranges.is_some()
                && let Some((name, value)) = resource_findings(w, &c, scope, defaults, report)
            {
                default_facts += 1;
                if default_facts <= MAX_DEFAULT_FACTS {
                    report.fact(name, value);
                }
            }
            if c.long_running() {
                probe_findings(w, &c, report);
            }
            image_findings(w, &c, scope.require_digest, report);
        }
        if let Some(floors) = inputs.hpa_floors {
            replica_findings(w, scope, floors, report);
        }
    }
    if let Some(lrs) = inputs.limit_ranges {
        for ns in &namespaces {
            match lrs.get(ns) {
                Some(d) => report.fact(format!("limitranges {ns}"), d.limit_ranges.join(", ")),
                None => report.push(
                    Finding::warning(
                        "limitrange-missing",
                        format!("namespace {ns} has no LimitRange: a container without requests or limits gets none"),
                    )
                    .target(format!("namespace {ns}")),
                ),
            }
        }
    }
    if default_facts > MAX_DEFAULT_FACTS {
        report.fact(
            "defaults (more)",
            format!(
                "{} more containers take a request or limit from a LimitRange or their limit",
                default_facts - MAX_DEFAULT_FACTS
            ),
        );
    }
    report.fact("workloads judged", judged_count);
    report.fact("containers judged", container_count);
    judged_count
}
