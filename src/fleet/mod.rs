//! Fleet reports: one audit per cluster, and one decision over them all (docs/fleet.md).
//!
//! A fleet report is built from per-cluster reports only, whether they were just audited
//! (`audit --context A --context B`, `--all-contexts`) or written elsewhere and gathered with
//! `kgents-gate merge`. The overall decision is the worst cluster's, and so is the exit code.

pub mod render;
pub mod run;

use serde::{Deserialize, Serialize};

use crate::report::{BlockingItem, ClusterInfo, Decision, Report, Summary, Tool};

/// Bumped on any incompatible change of the fleet JSON (`kgents-gate schema --fleet`).
pub const FLEET_SCHEMA_VERSION: u32 = 1;

/// The file names of the fleet summary in the output directory, beside one directory per cluster.
pub const FLEET_MARKDOWN: &str = "kgents-gate-fleet.md";
pub const FLEET_JSON: &str = "kgents-gate-fleet.json";
pub const FLEET_JUNIT: &str = "kgents-gate-fleet.xml";

/// How bad a decision is, for "the worst cluster" (docs/fleet.md): BLOCKED is worse than
/// INCOMPLETE (something is known to be wrong), INCOMPLETE than APPROVED WITH WAIVERS.
pub fn severity(d: Decision) -> u8 {
    match d {
        Decision::Approved => 0,
        Decision::ApprovedWithWaivers => 1,
        Decision::Incomplete => 2,
        Decision::Blocked => 3,
    }
}

/// The worst of `decisions`; APPROVED for none.
pub fn worst(decisions: impl IntoIterator<Item = Decision>) -> Decision {
    decisions.into_iter().max_by_key(|d| severity(*d)).unwrap_or(Decision::Approved)
}

/// What is known of a cluster report's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureState {
    /// No signature beside the report.
    Unsigned,
    /// Signed by the audit that wrote it, with this key.
    SignedHere { fingerprint: String },
    /// The signature matches the bytes and a key of the allowed-signers file accepts it.
    Verified { signer: String, fingerprint: String },
    /// The signature matches the bytes, but no allowed-signers file was given to say whose key it is.
    Unchecked { fingerprint: String },
}

/// One cluster in the fleet report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FleetCluster {
    /// The context name (audit), or the name given to `merge` (NAME=PATH, the report's context,
    /// or the file's directory).
    pub name: String,
    pub decision: Decision,
    pub decision_reason: String,
    pub exit_code: i32,
    pub summary: Summary,
    /// The items that keep this cluster from APPROVED.
    pub blocking: Vec<BlockingItem>,
    /// The API server, version, context and identity (`kube-system` UID) the audit saw; None
    /// when it reached no cluster.
    pub cluster: Option<ClusterInfo>,
    /// The manifest files the audit read (alone, or overlaid on the cluster).
    pub manifests: Vec<String>,
    /// The cluster's JSON report, relative to the fleet report's directory.
    pub report: String,
    pub signature: SignatureState,
    pub checklist: String,
    pub checklist_sha256: String,
    pub started_at: String,
    pub duration_ms: u64,
    pub interrupted: bool,
}

/// The fleet summary, as written to `kgents-gate-fleet.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FleetReport {
    pub schema_version: u32,
    pub tool: Tool,
    /// The launch names of the cluster reports, deduplicated in order.
    pub launch: Vec<String>,
    /// The worst cluster decision.
    pub decision: Decision,
    pub decision_reason: String,
    /// The worst cluster's exit code (src/exit.rs).
    pub exit_code: i32,
    pub clusters: Vec<FleetCluster>,
    /// Remarks: clusters that are the same cluster, reports of different checklists.
    pub notes: Vec<String>,
}

/// A cluster's report with the facts the fleet report adds.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub report: Report,
    /// Where its JSON report is, relative to the fleet directory.
    pub path: String,
    pub signature: SignatureState,
}

/// Builds the fleet report of `members`, in the order given.
pub fn build(members: &[Member]) -> FleetReport {
    let decision = worst(members.iter().map(|m| m.report.decision));
    let mut launch: Vec<String> = Vec::new();
    for m in members {
        if !launch.contains(&m.report.launch.name) {
            launch.push(m.report.launch.name.clone());
        }
    }
    let clusters: Vec<FleetCluster> = members
        .iter()
        .map(|m| FleetCluster {
            name: m.name.clone(),
            decision: m.report.decision,
            decision_reason: m.report.decision_reason.clone(),
            exit_code: m.report.exit_code,
            summary: m.report.summary.clone(),
            blocking: m.report.blocking.clone(),
            cluster: m.report.provenance.cluster.clone(),
            manifests: m.report.provenance.manifests.clone(),
            report: m.path.clone(),
            signature: m.signature.clone(),
            checklist: m.report.provenance.checklist.clone(),
            checklist_sha256: m.report.provenance.checklist_sha256.clone(),
            started_at: m.report.provenance.started_at.clone(),
            duration_ms: m.report.provenance.duration_ms,
            interrupted: m.report.provenance.interrupted,
        })
        .collect();
    FleetReport {
        schema_version: FLEET_SCHEMA_VERSION,
        tool: Tool { name: "kgents-gate".into(), version: env!("CARGO_PKG_VERSION").into() },
        launch,
        decision,
        decision_reason: reason(members, decision),
        exit_code: if members.is_empty() { crate::exit::INCOMPLETE } else { decision.exit_code() },
        notes: notes(members),
        clusters,
    }
}

/// `1 of 3 clusters BLOCKED (eu); 1 INCOMPLETE (us)`: the decision's clusters named.
fn reason(members: &[Member], decision: Decision) -> String {
    if members.is_empty() {
        return "no cluster was audited".into();
    }
    let n = members.len();
    let plural = |k: usize| if k == 1 { "cluster" } else { "clusters" };
    let mut parts = Vec::new();
    for d in [Decision::Blocked, Decision::Incomplete, Decision::ApprovedWithWaivers] {
        let names: Vec<&str> = members.iter().filter(|m| m.report.decision == d).map(|m| m.name.as_str()).collect();
        if !names.is_empty() {
            parts.push(format!("{} {} ({})", names.len(), d.label(), names.join(", ")));
        }
    }
    if decision == Decision::Approved {
        return format!("all {n} {} APPROVED", plural(n));
    }
    format!("worst of {n} {}: {}", plural(n), parts.join("; "))
}

fn notes(members: &[Member]) -> Vec<String> {
    let mut notes = Vec::new();
    // Two names for one cluster are legitimate (aliases), but the reader should know the fleet
    // is smaller than it looks.
    for (i, a) in members.iter().enumerate() {
        let Some(id) = a.report.provenance.cluster.as_ref().and_then(|c| c.identity.as_deref()) else {
            continue;
        };
        for b in &members[i + 1..] {
            if b.report.provenance.cluster.as_ref().and_then(|c| c.identity.as_deref()) == Some(id) {
                notes.push(format!("{} and {} are the same cluster (kube-system namespace UID {id})", a.name, b.name));
            }
        }
    }
    let mut shas: Vec<&str> = members.iter().map(|m| m.report.provenance.checklist_sha256.as_str()).collect();
    shas.dedup();
    shas.sort_unstable();
    shas.dedup();
    if shas.len() > 1 {
        notes.push(format!(
            "the clusters were audited with {} different checklists (see each cluster's checklist_sha256)",
            shas.len()
        ));
    }
    for m in members.iter().filter(|m| m.report.provenance.today_overridden) {
        notes.push(format!(
            "{}: waivers and sign-offs were judged as of {} (--today)",
            m.name, m.report.provenance.today
        ));
    }
    notes
}

/// A directory name for a cluster: its name with every character outside `A-Za-z0-9._-`
/// replaced by `_`, never `.`/`..`/empty, unique among `taken` (a `-2`, `-3`... suffix).
pub fn dir_name(name: &str, taken: &[String]) -> String {
    let mut base: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if base.is_empty() || base.chars().all(|c| c == '.') {
        base = format!("cluster{}", base.replace('.', "_"));
    }
    let mut candidate = base.clone();
    let mut n = 2;
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&candidate)) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

/// The JSON Schema of the fleet report (`kgents-gate schema --fleet`).
pub fn fleet_json_schema() -> serde_json::Value {
    schemars::schema_for!(FleetReport).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_orders_blocked_over_incomplete_over_waivers() {
        use Decision::*;
        assert_eq!(worst([Approved, ApprovedWithWaivers]), ApprovedWithWaivers);
        assert_eq!(worst([Approved, Incomplete, ApprovedWithWaivers]), Incomplete);
        assert_eq!(worst([Incomplete, Blocked, Approved]), Blocked);
        assert_eq!(worst([]), Approved);
    }

    #[test]
    fn dir_names_are_safe_and_unique() {
        assert_eq!(dir_name("kind-staging", &[]), "kind-staging");
        assert_eq!(dir_name("arn:aws:eks:eu-west-1:1:cluster/prod", &[]), "arn_aws_eks_eu-west-1_1_cluster_prod");
        assert_eq!(dir_name("..", &[]), "cluster__");
        assert_eq!(dir_name("", &[]), "cluster");
        assert_eq!(dir_name("a/b", &["a_b".into()]), "a_b-2");
        assert_eq!(dir_name("A", &["a".into(), "A-2".into()]), "A-3");
    }
}
