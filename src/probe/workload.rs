//! `workload` probe (check `workloads.readiness`): the readiness findings of `crate::workload`
//! over the cluster view. A kind that could not be read is a gap; the findings that do not depend
//! on it are still made.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::cluster::{ClusterView, Kind, Need};
use crate::hpa::read_hpa;
use crate::outcome::{ProbeReport, Unverified};
use crate::probe::{ParamReader, ProbeContext};
use crate::selector::Selector;
use crate::workload::judge::{HpaFloor, Inputs, Scope, judge};
use crate::workload::resources::ContainerDefaults;
use crate::workload::{Workload, WorkloadIndex, WorkloadKind, read_workload};

/// Parameters of a `workload` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadParams {
    pub namespaces: Vec<String>,
    pub selector: Option<BTreeMap<String, String>>,
    pub exclude: Vec<String>,
    pub min_replicas: u32,
    pub require_digest: bool,
    pub requests: Vec<String>,
    pub limits: Vec<String>,
}

/// `namespaces`, `selector` and `exclude`, as the workload and hpa checks both read them.
pub(crate) fn read_selection(r: &mut ParamReader) -> (Vec<String>, Option<BTreeMap<String, String>>, Vec<String>) {
    let namespaces = r.opt_str_list("namespaces").unwrap_or_default();
    let selector = r.opt_labels("selector");
    let exclude = r.opt_str_list("exclude").unwrap_or_default();
    for e in &exclude {
        let parts: Vec<&str> = e.split('/').collect();
        if parts.len() > 2 || parts.iter().any(|p| p.trim().is_empty()) {
            r.error("exclude", format!("parameter `exclude`: `{e}` must be `name` or `namespace/name`"));
        }
    }
    (namespaces, selector, exclude)
}

/// A replica floor of at least 1 (default 2).
pub(crate) fn read_min_replicas(r: &mut ParamReader) -> Option<u32> {
    match r.opt_u64("min_replicas") {
        None => Some(2),
        Some(0) => {
            r.error("min_replicas", "parameter `min_replicas` must be at least 1");
            None
        }
        Some(n) if n > i32::MAX as u64 => {
            r.error("min_replicas", format!("parameter `min_replicas` is too large: {n}"));
            None
        }
        Some(n) => Some(n as u32),
    }
}

fn resource_list(r: &mut ParamReader, key: &str) -> Vec<String> {
    let list = r.opt_str_list(key).unwrap_or_else(|| vec!["cpu".into(), "memory".into()]);
    if list.iter().any(|s| s.trim().is_empty()) {
        r.error(key, format!("parameter `{key}`: resource names must not be empty"));
    }
    list
}

impl WorkloadParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let (namespaces, selector, exclude) = read_selection(r);
        let min_replicas = read_min_replicas(r);
        let require_digest = r.opt_bool("require_digest").unwrap_or(false);
        let requests = resource_list(r, "requests");
        let limits = resource_list(r, "limits");
        Some(WorkloadParams {
            namespaces,
            selector,
            exclude,
            min_replicas: min_replicas?,
            require_digest,
            requests,
            limits,
        })
    }

    pub fn scope(&self) -> Scope {
        Scope {
            namespaces: self.namespaces.clone(),
            selector: self.selector.as_ref().map(Selector::from_labels),
            exclude: self.exclude.clone(),
            min_replicas: i32::try_from(self.min_replicas).unwrap_or(i32::MAX),
            require_digest: self.require_digest,
            requests: self.requests.clone(),
            limits: self.limits.clone(),
        }
    }
}

/// The kinds judged, and the kinds their findings depend on.
pub const WORKLOAD_KINDS: &[WorkloadKind] =
    &[WorkloadKind::Deployment, WorkloadKind::StatefulSet, WorkloadKind::DaemonSet, WorkloadKind::Pod];

pub fn needs(p: &WorkloadParams) -> Vec<Need> {
    let mut kinds: Vec<Kind> = WORKLOAD_KINDS.iter().map(|k| k.view_kind()).collect();
    kinds.extend([Kind::LimitRange, Kind::HorizontalPodAutoscaler]);
    kinds.into_iter().map(|k| Need::namespaced(k, &p.namespaces)).collect()
}

/// The gap for a kind that could not be read (a core kind not served is an API error).
pub(crate) fn kind_gap(view: &ClusterView, kind: Kind) -> Option<Unverified> {
    let gap = view.objects(kind).err()?;
    Some(gap.to_unverified(kind).unwrap_or_else(|reason| Unverified::new("api-error", reason)))
}

/// An object with a controller owner reference (`Workload::is_owned_pod` on the raw object).
fn controlled(o: &Value) -> bool {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r.get("controller").and_then(Value::as_bool) == Some(true)))
}

/// Reads the workloads of `kinds` in namespaces `scope` admits, reporting unreadable kinds and
/// objects as gaps. Returns the kinds that could not be read.
pub(crate) fn read_workloads<'v>(
    view: &'v ClusterView,
    kinds: &[WorkloadKind],
    in_scope: impl Fn(&str) -> bool,
    report: &mut ProbeReport,
) -> (Vec<Workload<'v>>, std::collections::BTreeSet<WorkloadKind>) {
    let mut out = Vec::new();
    let mut unreadable = std::collections::BTreeSet::new();
    for k in kinds {
        match view.objects(k.view_kind()) {
            Ok(objects) => {
                for o in objects {
                    let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
                    // A Pod a controller owns is judged through its owner, never alone: it is
                    // not decoded (tens of thousands of them in a big cluster).
                    if !in_scope(ns) || (*k == WorkloadKind::Pod && controlled(o)) {
                        continue;
                    }
                    match read_workload(*k, o) {
                        Ok(w) => out.push(w),
                        Err(e) => report.gap(Unverified::new(
                            "invalid-object",
                            format!("{k} {}: {e}", crate::cluster::object_ref(o)),
                        )),
                    }
                }
            }
            Err(_) => {
                unreadable.insert(*k);
                if let Some(g) = kind_gap(view, k.view_kind()) {
                    report.gap(g);
                }
            }
        }
    }
    (out, unreadable)
}

/// LimitRange container defaults by namespace, or None (with the gap) when they cannot be read.
pub(crate) fn limit_ranges(
    view: &ClusterView,
    in_scope: impl Fn(&str) -> bool,
    report: &mut ProbeReport,
) -> Option<BTreeMap<String, ContainerDefaults>> {
    let objects = match view.objects(Kind::LimitRange) {
        Ok(o) => o,
        Err(_) => {
            if let Some(g) = kind_gap(view, Kind::LimitRange) {
                report.gap(g);
            }
            return None;
        }
    };
    let mut by_ns: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for o in objects {
        let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
        if in_scope(ns) {
            by_ns.entry(ns.to_string()).or_default().push(o);
        }
    }
    let mut out = BTreeMap::new();
    for (ns, list) in by_ns {
        let (d, errors) = ContainerDefaults::from_objects(list);
        for e in errors {
            report.gap(Unverified::new("invalid-object", format!("{ns}: {e}")));
        }
        out.insert(ns, d);
    }
    Some(out)
}

/// The HPAs of the view in scope (None, with the gap, when they cannot be read; empty when the
/// API does not serve autoscaling at all).
pub(crate) fn hpas(
    view: &ClusterView,
    in_scope: impl Fn(&str) -> bool,
    report: &mut ProbeReport,
) -> Option<Vec<crate::hpa::Hpa>> {
    let objects = match view.objects(Kind::HorizontalPodAutoscaler) {
        Ok(o) => o,
        Err(g) => {
            return match g.to_unverified(Kind::HorizontalPodAutoscaler) {
                Err(_not_served) => Some(Vec::new()),
                Ok(u) => {
                    report.gap(u);
                    None
                }
            };
        }
    };
    let mut out = Vec::new();
    for o in objects {
        let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
        if !in_scope(ns) {
            continue;
        }
        match read_hpa(o) {
            Ok(h) => out.push(h),
            Err(e) => report.gap(Unverified::new(
                "invalid-object",
                format!("HorizontalPodAutoscaler {}: {e}", crate::cluster::object_ref(o)),
            )),
        }
    }
    Some(out)
}

/// The readiness report for the view.
pub fn report_for(view: &ClusterView, p: &WorkloadParams) -> ProbeReport {
    let scope = p.scope();
    let mut report = ProbeReport::default();
    let in_scope = |ns: &str| scope.has_namespace(ns);
    let (workloads, _) = read_workloads(view, WORKLOAD_KINDS, in_scope, &mut report);
    let limit_ranges = limit_ranges(view, in_scope, &mut report);
    let floors: Option<HashMap<(WorkloadKind, String, String), HpaFloor>> =
        hpas(view, in_scope, &mut report).map(|hs| {
            hs.iter()
                .filter_map(|h| {
                    let kind = WorkloadKind::scale_target(h.target.api_version.as_deref(), &h.target.kind)?;
                    let floor = HpaFloor { hpa: h.id(), min_replicas: h.min() };
                    Some(((kind, h.namespace.clone(), h.target.name.clone()), floor))
                })
                .collect()
        });
    let index = WorkloadIndex::new(workloads);
    let inputs = Inputs { index: &index, limit_ranges: limit_ranges.as_ref(), hpa_floors: floors.as_ref() };
    let judged = judge(&inputs, &scope, &mut report);
    let namespaces = if p.namespaces.is_empty() {
        "all but kube-system, kube-public, kube-node-lease".to_string()
    } else {
        p.namespaces.join(", ")
    };
    report.fact("namespaces", namespaces);
    if view.offline {
        report.fact("source", "manifests (LimitRange defaults applied as the API server would at admission)");
    }
    if judged == 0 {
        report.gap(Unverified::new("nothing-in-scope", "no Deployment, StatefulSet, DaemonSet or bare Pod in scope"));
    }
    report
}

pub async fn run(p: &WorkloadParams, ctx: &ProbeContext) -> ProbeReport {
    match ctx.view.clone() {
        Some(view) => report_for(&view, p),
        None => ProbeReport::unverified("no-cluster", "no cluster view was loaded for this audit"),
    }
}
