//! `hpa` probe (check `hpa.capacity`): every HorizontalPodAutoscaler in scope judged by
//! `crate::hpa` against its target, the target's PDB, its live status and, when the checklist
//! gives the load-test figures, the capacity the peak needs.

use std::collections::BTreeMap;

use serde_json::Value;

use super::workload::{hpas, kind_gap, limit_ranges, read_min_replicas, read_selection, read_workloads};
use crate::cluster::{ClusterView, Kind, Need};
use crate::hpa::capacity::{Baseline, CapacityParams, baseline};
use crate::hpa::judge::{Inputs, Scope, judge};
use crate::outcome::{ProbeReport, Unverified};
use crate::probe::{ParamReader, ProbeContext};
use crate::selector::Selector;
use crate::workload::judge::Scope as Selection;
use crate::workload::{WorkloadIndex, WorkloadKind};

/// Parameters of an `hpa` check.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaParams {
    pub namespaces: Vec<String>,
    pub selector: Option<BTreeMap<String, String>>,
    pub exclude: Vec<String>,
    pub min_replicas: u32,
    /// The capacity part: all of `load_summary`, `baseline_replicas` and `target_rps`, or none.
    pub capacity: Option<CapacityParams>,
}

/// The default headroom over the expected peak.
pub const DEFAULT_HEADROOM: f64 = 1.5;

impl HpaParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let (namespaces, selector, exclude) = read_selection(r);
        let min_replicas = read_min_replicas(r);
        let load_summary = r.opt_str("load_summary");
        let baseline_replicas = r.opt_u64("baseline_replicas");
        let target_rps = r.opt_f64("target_rps");
        let headroom = r.opt_f64("headroom");
        if baseline_replicas == Some(0) || baseline_replicas.is_some_and(|n| n > u64::from(u32::MAX)) {
            r.error("baseline_replicas", "parameter `baseline_replicas` must be at least 1");
        }
        if target_rps.is_some_and(|t| t <= 0.0) {
            r.error("target_rps", "parameter `target_rps` must be above 0");
        }
        if headroom.is_some_and(|h| h < 1.0) {
            r.error("headroom", "parameter `headroom` must be at least 1 (1.5 is 50% above the peak)");
        }
        let given = [load_summary.is_some(), baseline_replicas.is_some(), target_rps.is_some()];
        let capacity = match (load_summary, baseline_replicas, target_rps) {
            (Some(load_summary), Some(b), Some(target_rps)) => Some(CapacityParams {
                load_summary,
                baseline_replicas: u32::try_from(b).unwrap_or(u32::MAX).max(1),
                target_rps,
                headroom: headroom.unwrap_or(DEFAULT_HEADROOM),
            }),
            _ if given.iter().any(|g| *g) => {
                r.error_general(
                    "the capacity part needs all of `load_summary` (a k6 summary export), `baseline_replicas` \
                     (the replicas that served it) and `target_rps` (the expected peak); `headroom` (default 1.5) is optional",
                );
                None
            }
            _ => None,
        };
        Some(HpaParams { namespaces, selector, exclude, min_replicas: min_replicas?, capacity })
    }

    pub fn scope(&self) -> Scope {
        Scope {
            select: Selection {
                namespaces: self.namespaces.clone(),
                selector: self.selector.as_ref().map(Selector::from_labels),
                exclude: self.exclude.clone(),
                ..Selection::default()
            },
            min_replicas: i32::try_from(self.min_replicas).unwrap_or(i32::MAX),
        }
    }
}

/// The possible targets of an HPA.
pub const TARGET_KINDS: &[WorkloadKind] = &[
    WorkloadKind::Deployment,
    WorkloadKind::StatefulSet,
    WorkloadKind::ReplicaSet,
    WorkloadKind::ReplicationController,
];

pub fn needs(p: &HpaParams) -> Vec<Need> {
    let mut kinds: Vec<Kind> = TARGET_KINDS.iter().map(|k| k.view_kind()).collect();
    kinds.extend([Kind::HorizontalPodAutoscaler, Kind::PodDisruptionBudget, Kind::LimitRange]);
    kinds.into_iter().map(|k| Need::namespaced(k, &p.namespaces)).collect()
}

/// The capacity report for the view, with the load-test baseline (or the gap reading it gave).
pub fn report_for(view: &ClusterView, p: &HpaParams, baseline: Option<Result<Baseline, Unverified>>) -> ProbeReport {
    let scope = p.scope();
    let mut report = ProbeReport::default();
    let in_scope = |ns: &str| scope.select.has_namespace(ns);
    let hpas = match view.objects(Kind::HorizontalPodAutoscaler) {
        Err(g) => return g.to_report(Kind::HorizontalPodAutoscaler),
        Ok(_) => hpas(view, in_scope, &mut report).unwrap_or_default(),
    };
    let (workloads, unreadable) = read_workloads(view, TARGET_KINDS, in_scope, &mut report);
    let limit_ranges = limit_ranges(view, in_scope, &mut report);
    let pdbs: Option<BTreeMap<String, Vec<&Value>>> = match view.objects(Kind::PodDisruptionBudget) {
        Ok(list) => {
            let mut by_ns: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
            for o in list {
                let ns = o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
                if in_scope(ns) {
                    by_ns.entry(ns.to_string()).or_default().push(o);
                }
            }
            Some(by_ns)
        }
        Err(_) => {
            if let Some(g) = kind_gap(view, Kind::PodDisruptionBudget) {
                report.gap(g);
            }
            None
        }
    };
    let baseline = match baseline {
        Some(Ok(b)) => {
            report.fact("load summary", format!("{}: {} req/s", b.params.load_summary, b.measured_rps));
            Some(b)
        }
        Some(Err(gap)) => {
            report.gap(gap);
            None
        }
        None => {
            report.fact("capacity", "not judged: no load_summary, baseline_replicas and target_rps given");
            None
        }
    };
    let index = WorkloadIndex::new(workloads);
    let inputs = Inputs {
        hpas: &hpas,
        index: &index,
        unreadable_kinds: &unreadable,
        limit_ranges: limit_ranges.as_ref(),
        pdbs: pdbs.as_ref(),
        baseline: baseline.as_ref(),
    };
    let judged = judge(&inputs, &scope, &mut report);
    if judged == 0 {
        report.gap(Unverified::new("nothing-in-scope", "no HorizontalPodAutoscaler in scope"));
    }
    report
}

pub async fn run(p: &HpaParams, ctx: &ProbeContext) -> ProbeReport {
    let Some(view) = ctx.view.clone() else {
        return ProbeReport::unverified("no-cluster", "no cluster view was loaded for this audit");
    };
    let baseline = match &p.capacity {
        None => None,
        Some(c) => {
            let bytes = tokio::fs::read(ctx.resolve(&c.load_summary)).await.map_err(|e| e.to_string());
            Some(baseline(c, bytes))
        }
    };
    report_for(&view, p, baseline)
}
