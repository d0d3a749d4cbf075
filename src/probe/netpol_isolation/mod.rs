//! `netpol-isolation` probe: is a destination reachable from the sources that should reach it,
//! and from no source that should not? Static verdicts from the NetworkPolicy evaluator.

pub mod params;
pub mod verdicts;
pub mod world;

pub use params::{IsolationParams, Source};

use crate::cluster::Need;
use crate::outcome::ProbeReport;
use crate::probe::ProbeContext;
use world::{WorldError, world_from_view};

pub fn needs(p: &IsolationParams) -> Vec<Need> {
    world::needs_for(&p.namespaces())
}

pub async fn run(p: &IsolationParams, ctx: &ProbeContext) -> ProbeReport {
    let Some(view) = ctx.view.clone() else {
        return ProbeReport::unverified("no-cluster", "no cluster view was loaded for this audit");
    };
    let world = match world_from_view(&view, &p.namespaces()) {
        Ok(w) => w,
        Err(WorldError::Gap(r)) => return r,
        Err(WorldError::Invalid(e)) => return ProbeReport::unverified("invalid-object", e),
    };
    match verdicts::analyze(p, world) {
        Ok(outcome) => {
            let mut report = outcome.report;
            if view.offline {
                report.fact("source", "manifests (static evaluation only)");
            }
            report
        }
        Err(r) => r,
    }
}
