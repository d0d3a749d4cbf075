//! `netpol-isolation` probe: is a destination reachable from the sources that should reach it,
//! and from no source that should not? Static verdicts from the NetworkPolicy evaluator, then,
//! with a live cluster, probe pods and an enforcement canary.

pub mod judge;
pub mod live;
pub mod params;
pub mod pods;
pub mod scratch;
pub mod script;
pub mod session;
pub mod verdicts;
pub mod world;

pub use params::{IsolationParams, Source};

use crate::cluster::Need;
use crate::cluster::rbac::Grant;
use crate::outcome::ProbeReport;
use crate::probe::ProbeContext;
use world::{WorldError, world_from_view};

pub fn needs(p: &IsolationParams) -> Vec<Need> {
    world::needs_for(&p.namespaces())
}

fn grant(group: &str, resource: &str, verbs: &[&str], namespace: Option<&str>) -> Grant {
    Grant {
        group: group.into(),
        resource: resource.into(),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        namespace: namespace.map(String::from),
    }
}

/// Probe pods in each source namespace (created, watched, deleted); the run's scratch namespace
/// (control target, canary) is named per run, so its pods and policy need cluster-wide grants.
pub fn grants(p: &IsolationParams) -> Vec<Grant> {
    if !p.live {
        return Vec::new();
    }
    let mut out: Vec<Grant> = Vec::new();
    for s in p.allow_from.iter().chain(&p.deny_from) {
        if let Source::Pods { namespace, .. } = s {
            let g = grant("", "pods", &["create", "delete", "watch"], Some(namespace));
            if !out.contains(&g) {
                out.push(g);
            }
        }
    }
    out.push(grant("", "namespaces", &["create", "delete"], None));
    out.push(grant("", "pods", &["create", "delete", "watch"], None));
    if p.canary {
        out.push(grant("networking.k8s.io", "networkpolicies", &["create"], None));
    }
    out
}

pub async fn run(p: &IsolationParams, ctx: &ProbeContext) -> ProbeReport {
    let Some(view) = ctx.view.clone() else {
        return ProbeReport::unverified("no-cluster", "no cluster view was loaded for this audit");
    };
    let world = match world_from_view(&view, &p.namespaces()) {
        Ok(w) => w,
        Err(WorldError::Gap(r)) => return *r,
        Err(WorldError::Invalid(e)) => return ProbeReport::unverified("invalid-object", e),
    };
    let outcome = match verdicts::analyze(p, world) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let mut report = outcome.report;
    if view.offline {
        report.fact("source", "manifests (static evaluation only)");
    }
    if outcome.destinations.is_empty() {
        return report;
    }
    let why_not = if !p.live {
        Some("live = false")
    } else if ctx.offline {
        Some("offline audit")
    } else if ctx.no_live {
        Some("--no-live")
    } else if ctx.live.is_none() {
        Some("no live cluster connection")
    } else {
        None
    };
    match (why_not, ctx.live.as_ref()) {
        (None, Some(live)) => live::run(p, ctx, live, &outcome.world, &outcome.destinations, &mut report).await,
        (reason, _) => report.fact("live", format!("not run ({})", reason.unwrap_or("no live cluster connection"))),
    }
    report
}
