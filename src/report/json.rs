//! The JSON report (versioned by `schema_version`, the input of `diff`) and its JSON Schema,
//! generated from the model and committed as docs/report-schema.json.

use crate::report::{REPORT_SCHEMA_VERSION, Report};

/// Why a JSON report could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ParseReportError {
    #[error("not a kgents-gate JSON report: {0}")]
    Json(#[source] serde_json::Error),
    #[error("not a kgents-gate JSON report: no `schema_version` field")]
    MissingSchemaVersion,
    #[error(
        "report schema version {found} is not supported (this kgents-gate reads versions 1 to {expected}); \
         re-run the audit with this version to compare reports"
    )]
    SchemaVersion { found: String, expected: u32 },
    #[error("invalid kgents-gate JSON report (schema version {version}): {source}")]
    Invalid {
        version: u32,
        #[source]
        source: serde_json::Error,
    },
}

/// Pretty JSON with `schema_version` first (it is the first field of `Report`).
pub fn render_json(report: &Report) -> String {
    let mut json = serde_json::to_string_pretty(report)
        // The model holds only strings, numbers, booleans, lists and structs: serialising it
        // cannot fail, so there is no error for a caller to handle.
        .expect("a Report always serialises to JSON");
    json.push('\n');
    json
}

/// Reads a JSON report, checking the schema version before anything else so an old or newer
/// report is refused with a clear message instead of a confusing field error.
pub fn parse_json(s: &str) -> Result<Report, ParseReportError> {
    let value: serde_json::Value = serde_json::from_str(s).map_err(ParseReportError::Json)?;
    let version = value.get("schema_version").ok_or(ParseReportError::MissingSchemaVersion)?;
    // Version 1 lacked only the per-item `gaps` list, which reads as empty.
    if !matches!(version.as_u64(), Some(v) if v == 1 || v == u64::from(REPORT_SCHEMA_VERSION)) {
        return Err(ParseReportError::SchemaVersion { found: version.to_string(), expected: REPORT_SCHEMA_VERSION });
    }
    serde_json::from_value(value).map_err(|source| ParseReportError::Invalid { version: REPORT_SCHEMA_VERSION, source })
}

/// The JSON Schema of the report, as committed in docs/report-schema.json.
pub fn report_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Report);
    schema.to_value()
}

/// The committed form of the schema: pretty JSON and a final newline.
pub fn report_json_schema_string() -> String {
    let mut s = serde_json::to_string_pretty(&report_json_schema()).expect("a JSON value always serialises");
    s.push('\n');
    s
}
