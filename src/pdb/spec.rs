//! Findings about a PDB's own spec: values the API server would reject, a spec that can never
//! allow an eviction, and a selector that matches no pod (with the workload it likely meant).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::controller::{Computation, ControllerId};
use super::intstr;
use super::world::{PdbApiVersion, PdbObject, Workload};
use crate::outcome::Finding;
use crate::selector::Selector;

/// What the API server would reject: both fields set, bad values, a bad selector.
pub(crate) fn spec_findings(p: &PdbObject, target: &str, out: &mut Vec<Finding>) {
    let Some(spec) = &p.pdb.spec else { return };
    let mut problems = Vec::new();
    if spec.min_available.is_some() && spec.max_unavailable.is_some() {
        problems.push("minAvailable and maxUnavailable cannot be both set".to_string());
    }
    for (field, v) in [("minAvailable", &spec.min_available), ("maxUnavailable", &spec.max_unavailable)] {
        if let Some(v) = v {
            problems.extend(intstr::validate(field, v));
        }
    }
    if let Some(Err(e)) = spec.selector.as_ref().map(Selector::from_k8s) {
        problems.push(e.to_string());
    }
    for problem in problems {
        out.push(Finding::error("pdb-invalid-spec", format!("{target}: {problem}")).target(target));
    }
}

/// The PDB's spec can never allow an eviction at the workloads' full scale.
pub(crate) fn never_allows(
    p: &PdbObject,
    covered: &BTreeMap<ControllerId, i32>,
    c: &Computation,
    replicas: i64,
) -> Option<Finding> {
    let spec = p.pdb.spec.as_ref()?;
    let (field, value) = match (&spec.max_unavailable, &spec.min_available) {
        (Some(mu), _) => ("maxUnavailable", mu),
        (None, Some(ma)) => ("minAvailable", ma),
        (None, None) => return None,
    };
    let shown = format!("{field}: {}", intstr::display(value));
    let zero_max = field == "maxUnavailable" && intstr::scaled_value(value, 100).is_ok_and(|v| v <= 0);
    let full_min = field == "minAvailable"
        && matches!(value, IntOrString::String(_))
        && intstr::scaled_value(value, 100).is_ok_and(|v| v >= 100);
    let needs_scale = field == "maxUnavailable" || matches!(value, IntOrString::String(_));
    let reason = if zero_max || full_min {
        format!("{shown} never allows an eviction")
    } else if covered.is_empty() && needs_scale && !c.matched_pods.is_empty() && c.sync_error.is_none() {
        format!("{shown} needs the pods' controllers, and none of the matched pods has one: expectedPods stays 0")
    } else if replicas > 0 {
        let desired = match field {
            "maxUnavailable" => replicas - intstr::scaled_value(value, replicas).ok()?,
            _ => intstr::scaled_value(value, replicas).ok()?,
        };
        if desired < replicas {
            return None;
        }
        format!("{shown} requires {desired} of {replicas} replicas healthy: no eviction is ever allowed")
    } else {
        return None;
    };
    Some(
        Finding::error("pdb-never-allows-disruption", format!("{}/{}: {reason}", p.namespace(), p.name()))
            .fact("spec", shown),
    )
}

/// A selector that matches no pod, with the workload it most likely meant and the labels
/// its pod template lacks (e.g. labels added to matchLabels by kustomize `commonLabels`).
pub(crate) fn selector_matches_nothing(p: &PdbObject, selector_text: &str, workloads: &[Workload<'_>]) -> Finding {
    let raw = p.pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
    let empty_beta = p.api_version == PdbApiVersion::V1beta1
        && raw.is_some_and(|s| Selector::from_k8s(s).is_ok_and(|s| s.is_empty()));
    let mut f = Finding::error(
        "pdb-selector-matches-nothing",
        format!("the selector of {}/{} ({selector_text}) matches no pod", p.namespace(), p.name()),
    )
    .fact("selector", selector_text)
    .fact("apiVersion", p.api_version.as_str());
    if empty_beta {
        f = f.fact("note", "an empty selector matches no pod in policy/v1beta1 (every pod in policy/v1)");
    }
    let wanted = raw.and_then(|s| s.match_labels.as_ref());
    let best = wanted.and_then(|wanted| {
        workloads
            .iter()
            .filter(|w| w.id.namespace == p.namespace())
            .filter_map(|w| {
                let labels = w.template_labels?;
                let missing: Vec<String> = wanted
                    .iter()
                    .filter(|(k, v)| labels.get(*k) != Some(*v))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                (missing.len() < wanted.len()).then_some((missing, w))
            })
            .min_by_key(|(missing, _)| missing.len())
    });
    if let Some((missing, w)) = best {
        f = f.fact("closest_workload", &w.id).fact("labels_missing_from_its_pods", missing.join(", "));
    }
    f
}
