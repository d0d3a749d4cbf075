//! The immutable report value. Computed once by `decide`; every renderer is a pure function of it.
//! Its JSON form is versioned (`schema_version`) and documented by `kgents-gate schema --report`.

use serde::{Deserialize, Serialize};

use crate::checklist::{FindingMatch, Severity};
use crate::outcome::{Fact, Finding, Measurement, Outcome, Unverified};

/// Bumped on any incompatible change of the JSON report. Fields added with serde defaults (the
/// finding waivers' `waived_findings` and `match`) keep the version: older reports read as before.
pub const REPORT_SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    Approved,
    ApprovedWithWaivers,
    Blocked,
    Incomplete,
}

impl Decision {
    /// As printed: `APPROVED WITH WAIVERS`.
    pub fn label(self) -> &'static str {
        match self {
            Decision::Approved => "APPROVED",
            Decision::ApprovedWithWaivers => "APPROVED WITH WAIVERS",
            Decision::Blocked => "BLOCKED",
            Decision::Incomplete => "INCOMPLETE",
        }
    }
    pub fn exit_code(self) -> i32 {
        match self {
            Decision::Approved | Decision::ApprovedWithWaivers => crate::exit::APPROVED,
            Decision::Blocked => crate::exit::BLOCKED,
            Decision::Incomplete => crate::exit::INCOMPLETE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub launch: LaunchInfo,
    pub decision: Decision,
    /// One line saying why, e.g. `2 blocking items failed`.
    pub decision_reason: String,
    pub exit_code: i32,
    pub strict: bool,
    pub summary: Summary,
    /// Per-category progress ("Secrets management 6/7"), in checklist order.
    pub categories: Vec<CategoryProgress>,
    /// Every item, in checklist order.
    pub items: Vec<ItemReport>,
    /// The items that keep the launch from APPROVED (failed, pending, expired waiver, unverified).
    pub blocking: Vec<BlockingItem>,
    pub waivers: Vec<WaiverReport>,
    pub signoffs: Vec<SignoffReport>,
    /// Checklist-level remarks, e.g. a waiver that matches nothing.
    pub notes: Vec<String>,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LaunchInfo {
    pub name: String,
    pub approvers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub waived: usize,
    pub unverified: usize,
    pub pending: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CategoryProgress {
    pub id: String,
    pub title: String,
    /// Items that passed.
    pub done: usize,
    /// Items not skipped.
    pub total: usize,
    pub summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ItemReport {
    pub id: String,
    pub title: String,
    pub category: String,
    pub severity: Severity,
    pub owner: Option<String>,
    /// The catalog check id; None for manual items.
    pub check: Option<String>,
    /// The probe kind, e.g. `pdb`; `manual` for manual items.
    pub probe: String,
    pub outcome: Outcome,
    /// Stable kebab-case code: `ok` on pass, else the deciding finding's code.
    pub code: String,
    pub message: String,
    /// The findings that count for the verdict (waived findings are in `waived_findings`).
    pub findings: Vec<Finding>,
    /// Findings a finding waiver (`[[waiver]]` with `match`) in force covers: shown, not counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waived_findings: Vec<WaivedFinding>,
    pub evidence: Vec<Fact>,
    pub remediation: Option<String>,
    /// Why the item is unverified (all its gaps in one), when it is.
    pub unverified: Option<Unverified>,
    /// Every part the probe could not see, whatever the outcome (a failing item keeps its gaps).
    #[serde(default)]
    pub gaps: Vec<Unverified>,
    /// Values measured (SLO objectives), for comparison by a later run and by `diff`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    pub waiver: Option<WaiverRef>,
    pub signoff: Option<SignoffReport>,
    /// True when this item keeps the launch from being approved.
    pub blocks: bool,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WaiverRef {
    pub reason: String,
    pub owner: String,
    /// `YYYY-MM-DD`.
    pub expires: String,
    /// Negative once expired.
    pub days_left: i64,
    pub ticket: Option<String>,
    /// The findings the waiver names; absent for a waiver of the whole item.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "match")]
    pub matches: Option<FindingMatch>,
}

/// A finding covered by a finding waiver, with that waiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WaivedFinding {
    pub finding: Finding,
    pub waiver: WaiverRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BlockingItem {
    pub id: String,
    pub title: String,
    pub owner: Option<String>,
    pub outcome: Outcome,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaiverStatus {
    /// In force and covers a failing item (or, for a finding waiver, at least one finding).
    Applied,
    /// In force, but the item did not fail (or no finding matches): nothing to waive.
    Unused,
    /// Past its expiry date; does not waive anything.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WaiverReport {
    pub item: String,
    pub reason: String,
    pub owner: String,
    pub expires: String,
    pub days_left: i64,
    pub ticket: Option<String>,
    pub status: WaiverStatus,
    /// The findings the waiver names; absent for a waiver of the whole item.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "match")]
    pub matches: Option<FindingMatch>,
    /// How many findings it covered in this run (finding waivers).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waived_findings: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignoffStatus {
    Valid,
    Expired,
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignoffReport {
    pub item: String,
    pub by: Option<String>,
    pub on: Option<String>,
    pub evidence: Option<String>,
    pub expires: Option<String>,
    pub status: SignoffStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Provenance {
    /// The checklist path, or `<built-in>`.
    pub checklist: String,
    pub checklist_sha256: String,
    /// RFC 3339 timestamp of the start of the audit.
    pub started_at: String,
    pub duration_ms: u64,
    /// The date waivers and sign-offs were judged against, `YYYY-MM-DD`.
    pub today: String,
    /// True when that date was set by `--today` / `KGENTS_GATE_TODAY` instead of the clock: the
    /// decision then says so in its reason, since a past date can revive expired waivers.
    #[serde(default)]
    pub today_overridden: bool,
    pub cluster: Option<ClusterInfo>,
    pub manifests: Vec<String>,
    /// True when Ctrl-C or the global timeout cut the audit short.
    pub interrupted: bool,
    /// The container images the audit saw pinned by digest, among the objects the selected checks
    /// read (src/cluster/images.rs); the subjects of the signed attestation. Sorted, no duplicates.
    #[serde(default)]
    pub images: Vec<ImageDigest>,
}

/// One container image, by content digest, as the audit saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageDigest {
    /// The repository, normalised as Docker does (`docker.io/library/nats`); the image as the pod
    /// spec names it when the runtime reported a bare image ID.
    pub name: String,
    /// `algorithm:hex`, lowercase, e.g. `sha256:4f3a...`.
    pub digest: String,
    /// Where the digest was read.
    pub source: ImageDigestSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImageDigestSource {
    /// A Pod's `status.containerStatuses[].imageID`: what the node runs (a live cluster, or
    /// `kubectl get -o yaml` output given as manifests).
    ImageId,
    /// An image reference pinned by digest (`repo@sha256:...`) in a pod spec or pod template.
    Reference,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClusterInfo {
    pub server: String,
    pub version: String,
    pub context: Option<String>,
    /// The `kube-system` namespace UID.
    pub identity: Option<String>,
}
