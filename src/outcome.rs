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
        Finding { code: code.into(), level, message: message.into(), target: None, evidence: Vec::new() }
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

/// What one probe run established.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeReport {
    /// Problems found. Empty with `unverified == None` and `skipped == None` means pass.
    pub findings: Vec<Finding>,
    /// Facts observed whatever the verdict (status numbers, versions, latencies).
    pub evidence: Vec<Fact>,
    /// Set when the probe could not check (all or part). Never combined with a pass.
    pub unverified: Option<Unverified>,
    /// Set when the check does not apply (e.g. CRD absent); the reason.
    pub skipped: Option<String>,
}

impl ProbeReport {
    pub fn unverified(code: impl Into<String>, reason: impl Into<String>) -> Self {
        ProbeReport {
            unverified: Some(Unverified { code: code.into(), reason: reason.into(), missing_permission: None }),
            ..Default::default()
        }
    }
    pub fn forbidden(reason: impl Into<String>, missing_permission: impl Into<String>) -> Self {
        ProbeReport {
            unverified: Some(Unverified {
                code: "forbidden".into(),
                reason: reason.into(),
                missing_permission: Some(missing_permission.into()),
            }),
            ..Default::default()
        }
    }
    pub fn skipped(reason: impl Into<String>) -> Self {
        ProbeReport { skipped: Some(reason.into()), ..Default::default() }
    }
    pub fn fact(&mut self, name: impl Into<String>, value: impl std::fmt::Display) {
        self.evidence.push(Fact::new(name, value));
    }
    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
    /// The most serious level among the findings, if any.
    pub fn worst_level(&self) -> Option<Level> {
        self.findings.iter().map(|f| f.level).max()
    }
}
