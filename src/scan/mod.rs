//! Reads the JSON reports vulnerability scanners already write (Trivy, Grype, pip-audit, Safety)
//! into one model, and the pure rules a launch gate applies to them: severity threshold, unfixed
//! findings, the report's age, and whether a report is about the image that is actually deployed.
//!
//! The format is recognised from the content, never from the file name. A file that cannot be
//! read as a report is an error (with `file:line:column` for JSON syntax, a JSON path for a field
//! of the wrong type), never "zero findings"; no error quotes the file's content.

mod error;
mod gate;
mod grype;
mod json;
mod pip_audit;
pub mod reference;
mod safety;
mod severity;
mod trivy;

use std::path::Path;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use error::ScanError;
pub use gate::{AgeSource, ReportAge, Threshold};
pub use reference::{ImageMatch, ImageRef, MatchedBy, RefError, match_image};
pub use severity::Severity;

use json::ShapeError;

/// Which tool's JSON a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    /// `trivy image|fs|repo -f json` (SchemaVersion 2).
    Trivy,
    /// `grype -o json`.
    Grype,
    /// `pip-audit -f json` (the `{"dependencies": [...]}` shape and the older bare list).
    PipAudit,
    /// `safety check --output json` (Safety 2.x, and 3.x's deprecated `check`).
    SafetyCheck,
    /// `safety scan --output json` (Safety 3.x, report schema 3.0).
    SafetyScan,
}

impl ReportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Trivy => "Trivy",
            ReportFormat::Grype => "Grype",
            ReportFormat::PipAudit => "pip-audit",
            ReportFormat::SafetyCheck => "Safety check",
            ReportFormat::SafetyScan => "Safety scan",
        }
    }
}

impl std::fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tool that wrote the report, as far as the report says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scanner {
    pub name: String,
    pub version: Option<String>,
}

/// What a report scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// A container image (Trivy `container_image`, Grype `image`).
    Image,
    /// The OS packages of an image or root filesystem (Trivy `os-pkgs`).
    OsPackages,
    /// A language package file or environment: a lock file, requirements file, site-packages.
    LanguagePackages,
    /// A directory or repository (Trivy `fs`/`repo`, Grype `dir:`).
    Directory,
    /// Anything else a scanner lists (Trivy's config and secret results, Grype's SBOM input).
    Other,
}

/// How a report identifies the image it scanned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageIdentity {
    /// Names the report gives the image: what was asked for and its tags (`repo/name:tag`).
    pub references: Vec<String>,
    /// `repo/name@sha256:...` as the registry knows the image.
    pub repo_digests: Vec<String>,
    /// The image ID (digest of the image config), `sha256:...`.
    pub image_id: Option<String>,
    /// The digest of the image manifest, `sha256:...` (Grype).
    pub manifest_digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    pub image: Option<ImageIdentity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vulnerability {
    pub id: String,
    pub aliases: Vec<String>,
    pub package: String,
    pub installed: Option<String>,
    /// The version(s) with a fix, `None` when the report knows of none.
    pub fixed: Option<String>,
    pub severity: Severity,
    /// The scanner's fix status word (`fixed`, `affected`, `will_not_fix`, `not-fixed`, ...).
    pub status: Option<String>,
    /// The name of the target it was found in.
    pub target: String,
}

/// A dependency the scanner says it did not audit (pip-audit's `skip_reason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotAudited {
    pub package: String,
    pub version: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReport {
    pub format: ReportFormat,
    pub scanner: Scanner,
    /// When the scan ran, as the report says (Safety writes local time without a zone: read as UTC).
    pub timestamp: Option<Timestamp>,
    /// When the file was last modified (set by [`read_report`]), the fallback for the report's age.
    pub file_modified: Option<Timestamp>,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
    pub targets: Vec<Target>,
    pub vulnerabilities: Vec<Vulnerability>,
    pub not_audited: Vec<NotAudited>,
    /// Findings the scanner itself was told to ignore (Grype `ignoredMatches`, Safety ignores).
    pub ignored_by_scanner: usize,
    /// The report shows nothing was scanned: no package target, or every dependency skipped.
    /// Zero findings then prove nothing.
    pub nothing_scanned: bool,
}

impl ScanReport {
    fn new(format: ReportFormat, scanner: &str, version: Option<&str>) -> ScanReport {
        ScanReport {
            format,
            scanner: Scanner { name: scanner.to_string(), version: version.map(str::to_string) },
            timestamp: None,
            file_modified: None,
            sha256: String::new(),
            targets: Vec::new(),
            vulnerabilities: Vec::new(),
            not_audited: Vec::new(),
            ignored_by_scanner: 0,
            nothing_scanned: false,
        }
    }

    /// The image targets of the report, with how the report identifies each.
    pub fn images(&self) -> impl Iterator<Item = (&Target, &ImageIdentity)> {
        self.targets.iter().filter_map(|t| t.image.as_ref().map(|i| (t, i)))
    }
}

/// Reads and parses one report file; the file's modification time is kept for [`ReportAge`].
pub fn read_report(path: &Path) -> Result<ScanReport, ScanError> {
    let bytes = std::fs::read(path).map_err(|e| ScanError::read(path, &e))?;
    let mut report = parse_report(&bytes, path)?;
    report.file_modified =
        std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| Timestamp::try_from(t).ok());
    Ok(report)
}

/// Parses a report's bytes; `path` only names the source in errors.
pub fn parse_report(bytes: &[u8], path: &Path) -> Result<ScanReport, ScanError> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(ScanError::Empty { path: path.to_path_buf() });
    }
    if text.starts_with(b"\xFF\xFE") || text.starts_with(b"\xFE\xFF") {
        return Err(ScanError::Utf16 { path: path.to_path_buf() });
    }
    let value: Value = serde_json::from_slice(text).map_err(|e| ScanError::json(path, &e))?;
    let format = detect(&value).map_err(|found| ScanError::UnknownShape { path: path.to_path_buf(), found })?;
    let parsed = match format {
        ReportFormat::Trivy => trivy::parse(&value),
        ReportFormat::Grype => grype::parse(&value),
        ReportFormat::PipAudit => pip_audit::parse(&value),
        ReportFormat::SafetyCheck => safety::parse_check(&value),
        ReportFormat::SafetyScan => safety::parse_scan(&value),
    };
    let mut report = parsed.map_err(|ShapeError { path: at, problem }| ScanError::Shape {
        path: path.to_path_buf(),
        format,
        at,
        problem,
    })?;
    report.sha256 = hex::encode(Sha256::digest(bytes));
    Ok(report)
}

/// Which tool wrote this document; `Err` describes what was found instead (no content).
fn detect(v: &Value) -> Result<ReportFormat, String> {
    match v {
        Value::Object(m) => {
            if m.contains_key("SchemaVersion") || (m.contains_key("ArtifactName") && m.contains_key("Results")) {
                Ok(ReportFormat::Trivy)
            } else if m.contains_key("matches") && (m.contains_key("source") || m.contains_key("descriptor")) {
                Ok(ReportFormat::Grype)
            } else if m.contains_key("report_meta") && m.contains_key("vulnerabilities") {
                Ok(ReportFormat::SafetyCheck)
            } else if m.contains_key("meta") && m.contains_key("scan_results") {
                Ok(ReportFormat::SafetyScan)
            } else if m.get("dependencies").is_some_and(Value::is_array) {
                Ok(ReportFormat::PipAudit)
            } else if m.is_empty() {
                Err("an empty JSON object".into())
            } else {
                Err("a JSON object".into())
            }
        }
        Value::Array(items) => {
            let pip_audit_item =
                |v: &Value| v.get("name").is_some() && (v.get("vulns").is_some() || v.get("skip_reason").is_some());
            match items.first() {
                None => Err("an empty JSON list".into()),
                Some(_) if items.iter().all(pip_audit_item) => Ok(ReportFormat::PipAudit),
                Some(first) if first.get("Target").is_some() => {
                    Err("a list of Trivy results without SchemaVersion (Trivy before 0.20; rerun with a current Trivy)"
                        .into())
                }
                Some(Value::Array(_)) => {
                    Err("a list of lists (Safety 1.x; use Safety 2 or later with --output json)".into())
                }
                Some(_) => Err("a JSON list".into()),
            }
        }
        other => Err(format!("{} at the top level", json::kind(other))),
    }
}

/// A report timestamp: RFC 3339 with an offset, or a civil date-time (Safety) read as UTC.
/// `Err` when the text is not a timestamp; an empty string is `Ok(None)`.
pub(crate) fn parse_time(s: Option<&str>) -> Result<Option<Timestamp>, ()> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(Some(t));
    }
    let civil: jiff::civil::DateTime = s.parse().map_err(|_| ())?;
    jiff::tz::TimeZone::UTC.to_timestamp(civil).map(Some).map_err(|_| ())
}

#[cfg(test)]
mod tests;
