//! What a probe returns and what an item's verdict is: outcomes, findings, evidence.

use serde::{Deserialize, Serialize};

/// The verdict on one checklist item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Checked, and everything required holds.
    Pass,
    /// A blocking item failed.
    Fail,
    /// A non-blocking item failed.
    Warn,
    /// Failed, but a valid waiver covers it.
    Waived,
    /// Could not be checked: forbidden, unreachable, timed out, CRD missing, offline, interrupted.
    Unverified,
    /// A manual item without a valid sign-off.
    Pending,
    /// Not applicable or deselected.
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Waived => "waived",
            Outcome::Unverified => "unverified",
            Outcome::Pending => "pending",
            Outcome::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a single finding is, independent of the item's severity in the checklist.
/// `Error` findings fail the item; `Warning` findings make it `warn`; `Info` is evidence only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One observed fact, e.g. `currentHealthy = 3`. Never a secret value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fact {
    pub name: String,
    pub value: String,
}

impl Fact {
    pub fn new(name: impl Into<String>, value: impl std::fmt::Display) -> Self {
        Fact { name: name.into(), value: value.to_string() }
    }
}

/// A problem (or notable fact) a probe established, with a stable kebab-case code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// Stable kebab-case code, e.g. `pdb-no-disruption-allowed`.
    pub code: String,
    pub level: Level,
    /// One line saying what is wrong.
    pub message: String,
    /// The object or endpoint the finding is about, e.g. `kgents-agents/nats-pdb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Fact>,
}

impl Finding {
    pub fn new(code: impl Into<String>, level: Level, message: impl Into<String>) -> Self {
        let code = code.into();
        crate::codes::debug_check(&code);
        Finding { code, level, message: message.into(), target: None, evidence: Vec::new() }
    }
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, Level::Error, message)
    }
    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, Level::Warning, message)
    }
    pub fn info(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, Level::Info, message)
    }
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
    pub fn fact(mut self, name: impl Into<String>, value: impl std::fmt::Display) -> Self {
        self.evidence.push(Fact::new(name, value));
        self
    }
}

/// Why a probe could not check. Rendered as the item's message; `code` is the finding code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Unverified {
    /// e.g. `forbidden`, `unreachable`, `timeout`, `offline`, `interrupted`, `crd-missing`.
    pub code: String,
    pub reason: String,
    /// The missing permission, as `verb resource in namespace`, when the cause is RBAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_permission: Option<String>,
}

/// How a measured value compares with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MeasurementStatus {
    /// Within the threshold.
    Met,
    /// Within the threshold, past its warning threshold.
    Warning,
    /// Outside the threshold.
    Violated,
}

impl MeasurementStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MeasurementStatus::Met => "met",
            MeasurementStatus::Warning => "warning",
            MeasurementStatus::Violated => "violated",
        }
    }
}

/// A value a check measured (an SLO objective's), recorded in the report so that a later run
/// can compare with it (`--baseline`) and `diff` can show the change. Only finite values are
/// recorded: a measurement that gave no number is a gap, not a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Measurement {
    /// What was measured (the objective's name), unique within the item.
    pub name: String,
    /// The deciding value: the worst of the samples.
    pub value: f64,
    /// e.g. `<= 0.5`, `>= 100`, `in [0.9, 1]`, with the warning threshold when there is one.
    pub threshold: String,
    pub status: MeasurementStatus,
    /// What produced the value (the PromQL query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// RFC 3339 time the deciding value was evaluated at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Every sample's value, in the order taken, when there were several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
    /// The value recorded for the same measurement in the baseline report, when compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
}

// Values are finite by construction (NaN is never recorded, and JSON cannot hold one), so
// equality is total.
impl Eq for Measurement {}

/// What one probe run established: facts observed whatever the verdict, and the state of the
/// check. Probes report findings and gaps; only the decision (`src/decide/`, docs/decision.md) turns
/// them into an outcome, so the rule "an error finding fails the item even with gaps; gaps alone
/// leave it unverified; gaps are always shown" lives in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// Facts observed whatever the verdict (status numbers, versions, latencies).
    pub evidence: Vec<Fact>,
    pub state: ProbeState,
    /// Values recorded for comparison with later runs.
    pub measurements: Vec<Measurement>,
}

/// What a probe could establish. The three cases exclude each other by construction: a skipped
/// check has no findings, a check that could not look has no findings, and a check that looked
/// keeps both what it found and what it could not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeState {
    /// The probe looked. `findings` are what it found; `gaps` the parts it could not see.
    Checked { findings: Vec<Finding>, gaps: Vec<Unverified> },
    /// The probe could not look at all (offline, timeout, interrupted, forbidden, ...).
    Unverified(Unverified),
    /// The check does not apply (e.g. the CRD it reads is not installed); the reason.
    Skipped(String),
}

impl Default for ProbeReport {
    fn default() -> Self {
        ProbeReport {
            evidence: Vec::new(),
            state: ProbeState::Checked { findings: Vec::new(), gaps: Vec::new() },
            measurements: Vec::new(),
        }
    }
}

impl Unverified {
    pub fn new(code: impl Into<String>, reason: impl Into<String>) -> Self {
        let code = code.into();
        crate::codes::debug_check(&code);
        Unverified { code, reason: reason.into(), missing_permission: None }
    }
    pub fn forbidden(reason: impl Into<String>, missing_permission: impl Into<String>) -> Self {
        Unverified {
            code: "forbidden".into(),
            reason: reason.into(),
            missing_permission: Some(missing_permission.into()),
        }
    }
    /// The reason with the missing permission, as one line.
    pub fn describe(&self) -> String {
        match &self.missing_permission {
            Some(p) => format!("{} (missing permission: {p})", self.reason),
            None => self.reason.clone(),
        }
    }
}

impl ProbeReport {
    /// Nothing could be checked.
    pub fn unverified(code: impl Into<String>, reason: impl Into<String>) -> Self {
        ProbeReport { state: ProbeState::Unverified(Unverified::new(code, reason)), ..Default::default() }
    }
    /// Nothing could be checked because RBAC refused a read.
    pub fn forbidden(reason: impl Into<String>, missing_permission: impl Into<String>) -> Self {
        ProbeReport {
            state: ProbeState::Unverified(Unverified::forbidden(reason, missing_permission)),
            ..Default::default()
        }
    }
    pub fn skipped(reason: impl Into<String>) -> Self {
        ProbeReport { state: ProbeState::Skipped(reason.into()), ..Default::default() }
    }
    pub fn fact(&mut self, name: impl Into<String>, value: impl std::fmt::Display) {
        self.evidence.push(Fact::new(name, value));
    }

    /// The findings and gaps of a check that looked, turning the other states into one: a report
    /// that could not look keeps its reason as a gap; a skip reason found beside a finding stays as
    /// evidence (the finding is what matters).
    fn checked(&mut self) -> (&mut Vec<Finding>, &mut Vec<Unverified>) {
        let state = std::mem::replace(&mut self.state, ProbeState::Skipped(String::new()));
        self.state = match state {
            s @ ProbeState::Checked { .. } => s,
            ProbeState::Unverified(u) => ProbeState::Checked { findings: Vec::new(), gaps: vec![u] },
            ProbeState::Skipped(reason) => {
                self.evidence.push(Fact::new("not applicable", reason));
                ProbeState::Checked { findings: Vec::new(), gaps: Vec::new() }
            }
        };
        match &mut self.state {
            ProbeState::Checked { findings, gaps } => (findings, gaps),
            _ => unreachable!("state was just made Checked"),
        }
    }

    pub fn push(&mut self, finding: Finding) {
        self.checked().0.push(finding);
    }
    /// A finding that must be read before the others (it changes how they read).
    pub fn push_first(&mut self, finding: Finding) {
        self.checked().0.insert(0, finding);
    }
    pub fn extend_findings(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.checked().0.extend(findings);
    }
    /// A part of the check that could not be seen. The decision shows it whatever the outcome.
    pub fn gap(&mut self, gap: Unverified) {
        self.checked().1.push(gap);
    }
    /// Takes in another probe report's state and evidence (a sub-check of the same item).
    pub fn absorb(&mut self, other: ProbeReport) {
        self.evidence.extend(other.evidence);
        self.measurements.extend(other.measurements);
        match other.state {
            ProbeState::Checked { findings, gaps } => {
                let (f, g) = self.checked();
                f.extend(findings);
                g.extend(gaps);
            }
            ProbeState::Unverified(u) => self.gap(u),
            ProbeState::Skipped(reason) => self.fact("not applicable", reason),
        }
    }

    /// The findings (none when the probe could not look or the check was skipped).
    pub fn findings(&self) -> &[Finding] {
        match &self.state {
            ProbeState::Checked { findings, .. } => findings,
            _ => &[],
        }
    }
    /// Every part that could not be seen: the whole check when it could not look.
    pub fn gaps(&self) -> &[Unverified] {
        match &self.state {
            ProbeState::Checked { gaps, .. } => gaps,
            ProbeState::Unverified(u) => std::slice::from_ref(u),
            ProbeState::Skipped(_) => &[],
        }
    }
    /// The first part that could not be seen, if any.
    pub fn first_gap(&self) -> Option<&Unverified> {
        self.gaps().first()
    }
    /// Why nothing (or not everything) could be checked, in one line, for single commands.
    pub fn why_unchecked(&self) -> String {
        match &self.state {
            ProbeState::Skipped(r) => r.clone(),
            _ => self.gaps().iter().map(Unverified::describe).collect::<Vec<_>>().join("; "),
        }
    }
    pub fn skip_reason(&self) -> Option<&str> {
        match &self.state {
            ProbeState::Skipped(r) => Some(r),
            _ => None,
        }
    }
    /// The most serious level among the findings, if any.
    pub fn worst_level(&self) -> Option<Level> {
        self.findings().iter().map(|f| f.level).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_beside_a_gap_keeps_both() {
        let mut r = ProbeReport::unverified("offline", "not contacted");
        r.push(Finding::error("http-unreachable", "bad"));
        assert_eq!(r.findings().len(), 1);
        assert_eq!(r.gaps()[0].code, "offline");
        let mut s = ProbeReport::skipped("no CRD");
        s.gap(Unverified::new("timeout", "slow"));
        assert!(s.skip_reason().is_none());
        assert_eq!(s.evidence[0].value, "no CRD");
        let mut a = ProbeReport::default();
        a.absorb(ProbeReport::forbidden("no", "list pods in namespace a"));
        assert_eq!(a.gaps()[0].missing_permission.as_deref(), Some("list pods in namespace a"));
        assert_eq!(a.gaps()[0].describe(), "no (missing permission: list pods in namespace a)");
    }
}
