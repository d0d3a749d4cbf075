//! The gate's pure rules over a report: which findings block (`fail_on`, `ignore_unfixed`) and
//! how old the report is (its own timestamp, else the file's modification time).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{ScanReport, Severity, Vulnerability};

/// Which findings block a launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Threshold {
    /// The lowest severity that blocks (default `high`: high and critical block).
    pub fail_on: Severity,
    /// Findings with no fixed version do not block.
    pub ignore_unfixed: bool,
    /// Findings the report rates `unknown` (every pip-audit finding, CVSS-less Safety advisories)
    /// block as if at the threshold: an unrated vulnerability is not shown to be below it.
    pub unknown_fails: bool,
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold { fail_on: Severity::High, ignore_unfixed: false, unknown_fails: true }
    }
}

impl Threshold {
    /// Whether a finding of this severity is at or above the threshold.
    pub fn severity_blocks(&self, severity: Severity) -> bool {
        match severity {
            Severity::Unknown => self.unknown_fails || self.fail_on == Severity::Unknown,
            s => s >= self.fail_on,
        }
    }

    pub fn blocks(&self, v: &Vulnerability) -> bool {
        if self.ignore_unfixed && v.fixed.is_none() {
            return false;
        }
        self.severity_blocks(v.severity)
    }

    /// The report's blocking findings, most severe first (then by id, for a stable order).
    pub fn blocking<'r>(&self, report: &'r ScanReport) -> Vec<&'r Vulnerability> {
        let mut out: Vec<&Vulnerability> = report.vulnerabilities.iter().filter(|v| self.blocks(v)).collect();
        out.sort_by(|a, b| {
            b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)).then_with(|| a.package.cmp(&b.package))
        });
        out
    }
}

/// Where a report's age comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgeSource {
    /// The scanner's own timestamp in the report.
    ReportTimestamp,
    /// The file's modification time (pip-audit and Grype snapshots carry no timestamp).
    FileModified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReportAge {
    pub scanned_at: Timestamp,
    pub source: AgeSource,
    /// `now - scanned_at`; negative when the timestamp is in the future (clock skew).
    pub age: SignedDuration,
}

impl ReportAge {
    /// Older than `max_age`. A timestamp in the future is not older than anything.
    pub fn older_than(&self, max_age: Duration) -> bool {
        let max = SignedDuration::try_from(max_age).unwrap_or(SignedDuration::MAX);
        self.age > max
    }

    /// Whole days, for messages ("scanned 412 days ago").
    pub fn days(&self) -> i64 {
        self.age.as_secs() / 86_400
    }
}

impl ScanReport {
    /// How old the report is at `now`, from its own timestamp or else the file's mtime; `None`
    /// when neither is known (a report parsed from bytes without a timestamp).
    pub fn age(&self, now: Timestamp) -> Option<ReportAge> {
        let (scanned_at, source) = match (self.timestamp, self.file_modified) {
            (Some(t), _) => (t, AgeSource::ReportTimestamp),
            (None, Some(t)) => (t, AgeSource::FileModified),
            (None, None) => return None,
        };
        Some(ReportAge { scanned_at, source, age: now.duration_since(scanned_at) })
    }
}
