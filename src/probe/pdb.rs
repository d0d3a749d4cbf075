//! `pdb` probe: PodDisruptionBudget health on the cluster view (pure analysis in `crate::pdb`),
//! with `--settle`: a workload mid-rollout is re-read until it settles or the time runs out.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{ClusterView, Kind, Need};
use crate::outcome::ProbeReport;
use crate::pdb::{PdbAnalysis, PdbParams, PdbWorld, UnmanagedPods, analyze, to_probe_report};
use crate::probe::ProbeContext;

/// The kinds PDB health reads.
pub const KINDS: &[Kind] = &[
    Kind::PodDisruptionBudget,
    Kind::Pod,
    Kind::Deployment,
    Kind::ReplicaSet,
    Kind::StatefulSet,
    Kind::ReplicationController,
];

pub fn needs(p: &PdbParams) -> Vec<Need> {
    KINDS.iter().map(|k| Need::namespaced(*k, &p.namespaces)).collect()
}

/// `major.minor` of a `v1.20.2`-style server version.
fn server_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.trim_start_matches('v');
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor.parse().ok()?))
}

/// Builds the PDB world from the view: manifests alone assume the workloads' pods are Ready;
/// a live view takes pods as they are.
pub fn world_from_view(view: &ClusterView, namespaces: &[String]) -> Result<PdbWorld, Box<ProbeReport>> {
    if let Some(gap) = view.gap_report(KINDS) {
        return Err(Box::new(gap));
    }
    let values: Vec<&Value> =
        KINDS.iter().flat_map(|k| view.in_namespaces(*k, namespaces).unwrap_or_default()).collect();
    let mut world = PdbWorld::from_view_objects(values, view.offline);
    if let Some((major, minor)) = view.cluster.as_ref().and_then(|c| server_minor(&c.version)) {
        world.unmanaged_pods = UnmanagedPods::for_version(major, minor);
    }
    world.now = Some(jiff::Timestamp::now());
    Ok(world)
}

fn analysis_of(view: &ClusterView, p: &PdbParams) -> Result<PdbAnalysis, Box<ProbeReport>> {
    let world = world_from_view(view, &p.namespaces)?;
    Ok(analyze(&world, &p.scope()))
}

pub async fn run(p: &PdbParams, ctx: &ProbeContext) -> ProbeReport {
    let Some(view) = ctx.view.clone() else {
        return ProbeReport::unverified("no-cluster", "no cluster view was loaded for this audit");
    };
    let mut analysis = match analysis_of(&view, p) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    // --settle: while a rollout is in progress, re-read the live objects and judge again.
    if let (Some(settle), Some(live)) = (ctx.settle, ctx.live.as_ref())
        && !analysis.rolling_out.is_empty()
    {
        let started = Instant::now();
        let budget = settle.min(ctx.timeout.saturating_sub(Duration::from_secs(1)));
        // Every wait and re-read stays within the budget, so the answer is "still rolling out"
        // rather than the item's own timeout cutting the probe off.
        while !analysis.rolling_out.is_empty() {
            let remaining = budget.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(remaining.min(Duration::from_secs(2))) => {}
                _ = ctx.cancel.cancelled() => break,
            }
            let remaining = budget.saturating_sub(started.elapsed());
            let Ok(fresh) = tokio::time::timeout(remaining, crate::cluster::live::load(live, &needs(p), 500)).await
            else {
                break;
            };
            match analysis_of(&fresh, p) {
                Ok(a) => analysis = a,
                Err(r) => return *r,
            }
        }
    }
    let mut report = to_probe_report(&analysis);
    if view.offline {
        report.fact("source", "manifests (status computed as the disruption controller would)");
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions() {
        assert_eq!(server_minor("v1.20.2"), Some((1, 20)));
        assert_eq!(server_minor("v1.31.4-gke.100"), Some((1, 31)));
        assert_eq!(server_minor("v1.30+k3s1"), Some((1, 30)));
        assert_eq!(server_minor("garbage"), None);
    }
}
