//! The findings on each HPA in scope: its spec, its target (exists, has the requests a
//! utilisation metric divides by, does not write `spec.replicas`), the target's PDB at the HPA's
//! floor (computed as the disruption controller does), the live status, and the capacity.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::capacity::{Baseline, judge as capacity_judge};
use super::{Hpa, Metric};
use crate::outcome::{Finding, ProbeReport, Unverified};
use crate::pdb::{PdbWorld, SyncError, compute_status, controller::effective_selector, intstr};
use crate::redact::redact_text;
use crate::workload::judge::Scope as WorkloadScope;
use crate::workload::resources::{ContainerDefaults, effective_request};
use crate::workload::{Workload, WorkloadIndex, WorkloadKind, replicas_in_applied_config};

/// Which HPAs are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Namespaces, selector (the HPA's labels or its target's) and exclusions, as for workloads.
    pub select: WorkloadScope,
    /// `hpa-min-replicas-low` below this.
    pub min_replicas: i32,
}

/// What the judgement reads. `None`: that kind could not be read (the caller reports the gap) and
/// the findings that depend on it are not made.
pub struct Inputs<'i, 'a> {
    pub hpas: &'i [Hpa],
    /// Deployments, StatefulSets, ReplicaSets and ReplicationControllers (possible targets).
    pub index: &'i WorkloadIndex<'a>,
    /// Target kinds that could not be read: a target of such a kind is not judged missing.
    pub unreadable_kinds: &'i BTreeSet<WorkloadKind>,
    pub limit_ranges: Option<&'i BTreeMap<String, ContainerDefaults>>,
    /// PodDisruptionBudgets by namespace.
    pub pdbs: Option<&'i BTreeMap<String, Vec<&'a Value>>>,
    /// The load-test baseline (None: capacity not asked, or a gap reported by the caller).
    pub baseline: Option<&'i Baseline>,
}

fn hpa_finding(f: Finding, h: &Hpa) -> Finding {
    f.target(format!("HorizontalPodAutoscaler {}", h.id())).fact("hpa", h.id())
}

fn spec_findings(h: &Hpa, scope: &Scope, report: &mut ProbeReport) {
    let min = h.min();
    let written = if h.min_replicas.is_some() { "" } else { " (not set: defaults to 1)" };
    if min < scope.min_replicas {
        let msg =
            format!("HPA {} may scale down to {min} replica(s){written}, fewer than {}", h.id(), scope.min_replicas);
        report.push(hpa_finding(Finding::error("hpa-min-replicas-low", msg).fact("minReplicas", min), h));
    }
    if h.max_replicas <= min {
        let msg = format!(
            "HPA {}: maxReplicas {} is not above minReplicas {min}: it can never scale out",
            h.id(),
            h.max_replicas
        );
        report.push(hpa_finding(Finding::error("hpa-max-not-above-min", msg), h));
    }
    if h.metrics.is_empty() {
        let msg = format!(
            "HPA {} names no metric: the API server gives it {}% average CPU utilisation",
            h.id(),
            super::DEFAULT_CPU_UTILIZATION
        );
        report.push(hpa_finding(Finding::warning("hpa-no-metrics", msg), h));
    }
}

/// Utilisation metrics divide by the pods' requests: every container (or the named one) needs one.
fn request_findings(h: &Hpa, w: &Workload<'_>, defaults: &ContainerDefaults, report: &mut ProbeReport) {
    let mut seen = BTreeSet::new();
    for m in h.effective_metrics() {
        let Metric::Resource { resource, container, utilization: Some(pct) } = m else { continue };
        let lacking: Vec<&str> = w
            .pod_spec
            .containers
            .iter()
            .filter(|c| container.as_ref().is_none_or(|n| *n == c.name))
            .filter(|c| effective_request(c, &resource, defaults).is_none())
            .map(|c| c.name.as_str())
            .collect();
        if lacking.is_empty() || !seen.insert(resource.clone()) {
            continue;
        }
        let msg = format!(
            "HPA {} scales on {pct}% {resource} utilisation, but container(s) {} of {} have no {resource} \
             request: the HPA cannot compute it (\"missing request for {resource}\")",
            h.id(),
            lacking.join(", "),
            w.target()
        );
        report.push(hpa_finding(
            Finding::error("hpa-target-without-requests", msg)
                .fact("resource", &resource)
                .fact("containers", lacking.join(", ")),
            h,
        ));
    }
}

/// The target's PDBs at the HPA's floor, computed with the disruption controller's rules on the
/// workloads each PDB covers (the target scaled to minReplicas, every pod Ready).
fn pdb_findings(h: &Hpa, target: &Workload<'_>, index: &WorkloadIndex<'_>, pdbs: &[&Value], report: &mut ProbeReport) {
    for pdb_value in pdbs {
        let mut world = PdbWorld::from_manifests([(*pdb_value).clone()]);
        let Some(pdb) = world.pdbs.first().cloned() else {
            continue; // unreadable: the pdb check reports it
        };
        let Ok(Some(selector)) = effective_selector(&pdb) else { continue };
        if !selector.matches(&target.pod_labels) {
            continue;
        }
        for w in index.selected_by(&target.namespace, &selector) {
            let mut v = w.object.clone();
            let api_version = if w.kind == WorkloadKind::ReplicationController { "v1" } else { "apps/v1" };
            v["apiVersion"] = Value::String(api_version.into());
            if let Some(o) = v.as_object_mut() {
                o.remove("status");
            }
            if w.kind == target.kind && w.name == target.name {
                v["spec"]["replicas"] = Value::from(h.min());
            }
            world.add_value(v);
        }
        let c = compute_status(&world, &pdb);
        let pdb_id = format!("{}/{}", pdb.namespace(), pdb.name());
        let spec = pdb.pdb.spec.as_ref();
        let rule = match (spec.and_then(|s| s.min_available.as_ref()), spec.and_then(|s| s.max_unavailable.as_ref())) {
            (_, Some(mu)) => format!("maxUnavailable {}", intstr::display(mu)),
            (Some(ma), None) => format!("minAvailable {}", intstr::display(ma)),
            (None, None) => "minAvailable 1 (default)".to_string(),
        };
        match c.sync_error {
            Some(SyncError::FailSafe(e) | SyncError::Unresolvable(e)) => report.gap(Unverified::new(
                "pdb-status-unresolvable",
                format!("PDB {pdb_id} at the floor of HPA {}: {}", h.id(), redact_text(&e)),
            )),
            None if c.status.disruptions_allowed == 0 => {
                let msg = format!(
                    "at minReplicas {} of HPA {}, PDB {pdb_id} ({rule}) allows no disruption: a node drain \
                     blocks while the HPA sits at its floor",
                    h.min(),
                    h.id()
                );
                let f = Finding::error("hpa-pdb-conflict", msg)
                    .fact("pdb", &pdb_id)
                    .fact("pdb rule", &rule)
                    .fact("status at minReplicas", c.status);
                report.push(hpa_finding(f, h));
            }
            None => report.fact(format!("pdb {pdb_id} at minReplicas {} of {}", h.min(), h.id()), c.status),
        }
    }
}

fn status_findings(h: &Hpa, report: &mut ProbeReport) {
    let conditions = h.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    if conditions.is_empty() {
        if h.from_api {
            report.gap(Unverified::new(
                "hpa-status-unknown",
                format!("HPA {}: the HPA controller has not reported AbleToScale and ScalingActive yet", h.id()),
            ));
        } else {
            report.fact(format!("status {}", h.id()), "not judged: a manifest without status (not deployed yet)");
        }
    }
    for c in conditions.iter().filter(|c| matches!(c.type_.as_str(), "AbleToScale" | "ScalingActive")) {
        if c.status != "False" {
            continue;
        }
        let reason = c.reason.as_deref().unwrap_or("-");
        let message = redact_text(c.message.as_deref().unwrap_or("-")).into_owned();
        let msg = format!("HPA {}: {} is False ({reason}): {message}", h.id(), c.type_);
        let f = Finding::error("hpa-unable-to-scale", msg)
            .fact("condition", &c.type_)
            .fact("reason", reason)
            .fact("message", &message);
        report.push(hpa_finding(f, h));
    }
    if let Some(current) = h.status.as_ref().and_then(|s| s.current_replicas) {
        report.fact(format!("currentReplicas {}", h.id()), current);
        if current >= h.max_replicas {
            let msg = format!("HPA {} runs {current} replicas, its maxReplicas: no headroom for more load", h.id());
            report.push(hpa_finding(Finding::warning("hpa-at-max", msg).fact("currentReplicas", current), h));
        }
    }
}

/// Judges every HPA in scope into `report`; returns how many were judged.
pub fn judge(inputs: &Inputs<'_, '_>, scope: &Scope, report: &mut ProbeReport) -> usize {
    let mut judged = 0;
    for h in inputs.hpas {
        let kind = WorkloadKind::scale_target(h.target.api_version.as_deref(), &h.target.kind);
        let target = kind.and_then(|k| inputs.index.get(k, &h.namespace, &h.target.name));
        let target_labels = target.map(|t| [t.meta.labels.as_ref(), Some(&t.pod_labels)]);
        let selected = scope.select.selects(&h.namespace, &h.name, [Some(&h.labels), Some(&h.labels)])
            || target_labels.is_some_and(|l| scope.select.selects(&h.namespace, &h.name, l));
        if !selected {
            continue;
        }
        judged += 1;
        let target_desc = format!("{} {}", h.target.kind, h.target.name);
        report.fact(
            format!("hpa {}", h.id()),
            format!("{target_desc}, minReplicas {}, maxReplicas {}", h.min(), h.max_replicas),
        );
        spec_findings(h, scope, report);
        match (kind, target) {
            (None, _) => report.gap(Unverified::new(
                "hpa-target-unresolved",
                format!(
                    "HPA {}: target {} {target_desc} is not a kind the gate reads",
                    h.id(),
                    h.target.api_version.as_deref().unwrap_or("")
                ),
            )),
            (Some(k), None) if inputs.unreadable_kinds.contains(&k) => {}
            (Some(_), None) => {
                let msg =
                    format!("HPA {}: scaleTargetRef {target_desc} names nothing in namespace {}", h.id(), h.namespace);
                report.push(hpa_finding(Finding::error("hpa-target-missing", msg), h));
            }
            (Some(_), Some(w)) => {
                if let Some(lrs) = inputs.limit_ranges {
                    static NONE: std::sync::LazyLock<ContainerDefaults> =
                        std::sync::LazyLock::new(ContainerDefaults::default);
                    request_findings(h, w, lrs.get(&w.namespace).unwrap_or(&NONE), report);
                }
                if let Some(how) = replicas_in_applied_config(w) {
                    let msg = format!(
                        "{} is scaled by HPA {} but its applied configuration sets spec.replicas ({how}): each apply \
                         resets the scale",
                        w.target(),
                        h.id()
                    );
                    report.push(hpa_finding(Finding::error("hpa-replicas-set", msg).fact("evidence", how), h));
                }
                if let Some(pdbs) = inputs.pdbs {
                    pdb_findings(
                        h,
                        w,
                        inputs.index,
                        pdbs.get(&h.namespace).map(Vec::as_slice).unwrap_or_default(),
                        report,
                    );
                }
            }
        }
        status_findings(h, report);
        if let Some(b) = inputs.baseline {
            let v = capacity_judge(b, h.max_replicas);
            report.fact(format!("capacity {}", h.id()), &v.arithmetic);
            if v.short() {
                let msg = format!(
                    "HPA {} tops out at {:.0} req/s, below the {:.0} req/s the peak needs with headroom",
                    h.id(),
                    v.capacity,
                    v.needed
                );
                report
                    .push(hpa_finding(Finding::error("hpa-capacity-short", msg).fact("arithmetic", &v.arithmetic), h));
            }
        }
    }
    report.fact("hpas judged", judged);
    judged
}
