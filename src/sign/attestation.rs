//! The launch-decision attestation: an in-toto Statement v1 whose subjects are the image digests
//! judged and the checklist, and whose predicate is the decision with what it rests on. Modelled on
//! the in-toto test-result predicate (`result`, counts) and the SLSA verification summary
//! (`verifier`, `timeVerified`, `policy`). docs/signing.md describes every field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::report::{ClusterInfo, Decision, Report, SignoffStatus, Summary, WaiverStatus};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of a kgents-gate launch decision.
pub const PREDICATE_TYPE: &str = "https://kgents.dev/kgents-gate/launch-decision/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<ResourceDescriptor>,
    pub predicate_type: String,
    pub predicate: LaunchDecision,
}

/// An in-toto ResourceDescriptor with the fields used here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    pub name: String,
    /// Algorithm (`sha256`, `sha512`) to lowercase hex.
    pub digest: BTreeMap<String, String>,
}

/// The predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchDecision {
    pub verifier: Verifier,
    /// When the audit started (RFC 3339).
    pub time_verified: String,
    /// The checklist the decision was judged against.
    pub policy: ResourceDescriptor,
    pub launch: String,
    pub approvers: Vec<String>,
    /// `PASSED` (APPROVED, with or without waivers), `FAILED` (BLOCKED) or `INCOMPLETE`: an
    /// incomplete audit is never `PASSED`.
    pub result: String,
    /// The report's decision: `APPROVED`, `APPROVED_WITH_WAIVERS`, `BLOCKED`, `INCOMPLETE`.
    pub decision: Decision,
    pub decision_reason: String,
    pub exit_code: i32,
    pub strict: bool,
    /// Items per outcome.
    pub counts: Summary,
    /// The items that keep the launch from APPROVED.
    pub blocking_items: Vec<String>,
    /// Waivers in force (applied or unused; an expired waiver waives nothing).
    pub waivers: Vec<WaiverInForce>,
    /// Valid sign-offs.
    pub signoffs: Vec<SignoffInForce>,
    /// The signed JSON report this attestation goes with.
    pub report: ResourceDescriptor,
    pub provenance: AttestedProvenance,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    pub id: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaiverInForce {
    pub item: String,
    pub reason: String,
    pub owner: String,
    pub expires: String,
    pub ticket: Option<String>,
    /// `applied` (it waives a failure) or `unused`.
    pub status: WaiverStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignoffInForce {
    pub item: String,
    pub by: Option<String>,
    pub on: Option<String>,
    pub evidence: Option<String>,
    pub expires: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestedProvenance {
    pub tool_version: String,
    /// None for an offline audit.
    pub cluster: Option<AttestedCluster>,
    pub started_at: String,
    pub duration_ms: u64,
    /// The date waivers and sign-offs were judged against, and whether it was set by hand.
    pub today: String,
    pub today_overridden: bool,
    pub manifests: Vec<String>,
    pub interrupted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestedCluster {
    pub server: String,
    pub version: String,
    pub context: Option<String>,
    /// The `kube-system` namespace UID.
    pub identity: Option<String>,
}

/// `PASSED`, `FAILED` or `INCOMPLETE`.
pub fn result_of(decision: Decision) -> &'static str {
    match decision {
        Decision::Approved | Decision::ApprovedWithWaivers => "PASSED",
        Decision::Blocked => "FAILED",
        Decision::Incomplete => "INCOMPLETE",
    }
}

fn sha256_descriptor(name: &str, hex: &str) -> ResourceDescriptor {
    ResourceDescriptor { name: name.to_string(), digest: BTreeMap::from([("sha256".to_string(), hex.to_string())]) }
}

/// The subjects: every image digest judged, then the checklist.
pub fn subjects_of(report: &Report) -> Vec<ResourceDescriptor> {
    let mut images: Vec<ResourceDescriptor> = report
        .provenance
        .images
        .iter()
        .filter_map(|i| {
            let (alg, hex) = i.digest.split_once(':')?;
            Some(ResourceDescriptor {
                name: i.name.clone(),
                digest: BTreeMap::from([(alg.to_string(), hex.to_string())]),
            })
        })
        .collect();
    // The same content may be seen as an image ID and as a pinned reference: one subject.
    images.sort();
    images.dedup();
    images.push(sha256_descriptor(&report.provenance.checklist, &report.provenance.checklist_sha256));
    images
}

/// The statement for `report`, whose exact JSON bytes (the signed file) are `report_bytes`,
/// written to a file named `report_name`.
pub fn statement(report: &Report, report_bytes: &[u8], report_name: &str) -> Statement {
    let p = &report.provenance;
    let predicate = LaunchDecision {
        verifier: Verifier { id: report.tool.name.clone(), version: report.tool.version.clone() },
        time_verified: p.started_at.clone(),
        policy: sha256_descriptor(&p.checklist, &p.checklist_sha256),
        launch: report.launch.name.clone(),
        approvers: report.launch.approvers.clone(),
        result: result_of(report.decision).to_string(),
        decision: report.decision,
        decision_reason: report.decision_reason.clone(),
        exit_code: report.exit_code,
        strict: report.strict,
        counts: report.summary.clone(),
        blocking_items: report.blocking.iter().map(|b| b.id.clone()).collect(),
        waivers: report
            .waivers
            .iter()
            .filter(|w| w.status != WaiverStatus::Expired)
            .map(|w| WaiverInForce {
                item: w.item.clone(),
                reason: w.reason.clone(),
                owner: w.owner.clone(),
                expires: w.expires.clone(),
                ticket: w.ticket.clone(),
                status: w.status,
            })
            .collect(),
        signoffs: report
            .signoffs
            .iter()
            .filter(|s| s.status == SignoffStatus::Valid)
            .map(|s| SignoffInForce {
                item: s.item.clone(),
                by: s.by.clone(),
                on: s.on.clone(),
                evidence: s.evidence.clone(),
                expires: s.expires.clone(),
            })
            .collect(),
        report: sha256_descriptor(report_name, &hex::encode(Sha256::digest(report_bytes))),
        provenance: AttestedProvenance {
            tool_version: report.tool.version.clone(),
            cluster: p.cluster.as_ref().map(|c: &ClusterInfo| AttestedCluster {
                server: c.server.clone(),
                version: c.version.clone(),
                context: c.context.clone(),
                identity: c.identity.clone(),
            }),
            started_at: p.started_at.clone(),
            duration_ms: p.duration_ms,
            today: p.today.clone(),
            today_overridden: p.today_overridden,
            manifests: p.manifests.clone(),
            interrupted: p.interrupted,
        },
    };
    Statement {
        statement_type: STATEMENT_TYPE.to_string(),
        subject: subjects_of(report),
        predicate_type: PREDICATE_TYPE.to_string(),
        predicate,
    }
}

/// Parses a payload as a launch-decision Statement v1 and checks that it is about `report`
/// (the signed bytes `report_bytes`): same report digest, decision, checklist and images.
pub fn check(payload: &[u8], report: &Report, report_bytes: &[u8]) -> Result<Statement, String> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("the payload is not JSON ({e})"))?;
    if value.get("_type").and_then(|t| t.as_str()) != Some(STATEMENT_TYPE) {
        return Err(format!("the payload is not an in-toto Statement v1 (`_type` is not {STATEMENT_TYPE})"));
    }
    if value.get("predicateType").and_then(|t| t.as_str()) != Some(PREDICATE_TYPE) {
        return Err(format!("the statement's predicateType is not {PREDICATE_TYPE}"));
    }
    let st: Statement = serde_json::from_value(value)
        .map_err(|e| format!("the statement is not a kgents-gate launch decision ({e})"))?;
    let report_sha = hex::encode(Sha256::digest(report_bytes));
    if st.predicate.report.digest.get("sha256") != Some(&report_sha) {
        return Err("the attestation is about another report (its report sha256 differs)".into());
    }
    if st.predicate.decision != report.decision || st.predicate.exit_code != report.exit_code {
        return Err(format!(
            "the attestation says {} but the report says {}",
            st.predicate.decision.label(),
            report.decision.label()
        ));
    }
    if st.predicate.result != result_of(st.predicate.decision) {
        return Err(format!(
            "result {} does not follow from decision {}",
            st.predicate.result,
            st.predicate.decision.label()
        ));
    }
    let mut want = subjects_of(report);
    let mut got = st.subject.clone();
    want.sort();
    got.sort();
    if want != got {
        return Err("the attestation's subjects are not the report's images and checklist".into());
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn report(decision: &str, exit_code: i32) -> Report {
        let image = |source: &str| json!({"name": "ghcr.io/kgents/web", "digest": D, "source": source});
        serde_json::from_value(json!({
            "schema_version": 2, "tool": {"name": "kgents-gate", "version": "0.1.0"},
            "launch": {"name": "l", "approvers": ["lead"]}, "decision": decision, "decision_reason": "r",
            "exit_code": exit_code, "strict": false,
            "summary": {"total": 1, "pass": 0, "fail": 0, "warn": 0, "waived": 0, "unverified": 1, "pending": 0, "skipped": 0},
            "categories": [], "items": [], "blocking": [],
            "waivers": [
                {"item": "a", "reason": "r", "owner": "o", "expires": "2030-01-01", "days_left": 9, "ticket": null, "status": "applied"},
                {"item": "b", "reason": "r", "owner": "o", "expires": "2020-01-01", "days_left": -9, "ticket": null, "status": "expired"}
            ],
            "signoffs": [{"item": "m", "by": null, "on": null, "evidence": null, "expires": null, "status": "missing"}],
            "notes": [],
            "provenance": {"checklist": "checklist.toml", "checklist_sha256": "ab", "started_at": "2026-01-01T00:00:00Z",
                "duration_ms": 5, "today": "2026-01-01", "cluster": null, "manifests": [], "interrupted": false,
                "images": [image("image-id"), image("reference")]}
        }))
        .unwrap()
    }

    #[test]
    fn subjects_are_each_image_once_then_the_checklist() {
        let s = subjects_of(&report("INCOMPLETE", 3));
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].name, "ghcr.io/kgents/web");
        assert_eq!(s[0].digest["sha256"], D.trim_start_matches("sha256:"));
        assert_eq!((s[1].name.as_str(), s[1].digest["sha256"].as_str()), ("checklist.toml", "ab"));
    }

    #[test]
    fn only_waivers_and_signoffs_in_force_and_incomplete_is_not_passed() {
        let st = statement(&report("INCOMPLETE", 3), b"{}", "kgents-gate-report.json");
        assert_eq!(st.predicate.result, "INCOMPLETE");
        assert_eq!(st.predicate.waivers.len(), 1, "the expired waiver waives nothing");
        assert!(st.predicate.signoffs.is_empty(), "a missing sign-off is not in force");
        assert_eq!(result_of(Decision::ApprovedWithWaivers), "PASSED");
        assert_eq!(result_of(Decision::Blocked), "FAILED");
    }

    #[test]
    fn check_ties_the_statement_to_the_report() {
        let r = report("INCOMPLETE", 3);
        let payload = serde_json::to_vec(&statement(&r, b"bytes", "kgents-gate-report.json")).unwrap();
        assert!(check(&payload, &r, b"bytes").is_ok());
        assert!(check(&payload, &r, b"other bytes").unwrap_err().contains("about another report"));
        let approved = report("APPROVED", 0);
        assert!(
            check(&payload, &approved, b"bytes").unwrap_err().contains("says INCOMPLETE but the report says APPROVED")
        );
        let mut other_images = r.clone();
        other_images.provenance.images.clear();
        assert!(check(&payload, &other_images, b"bytes").unwrap_err().contains("subjects"));
        assert!(check(b"[]", &r, b"bytes").unwrap_err().contains("not an in-toto Statement v1"));
        assert!(check(b"not json", &r, b"bytes").unwrap_err().contains("not JSON"));
    }
}
