//! Why a file is not a usable scan report. Messages name the file and a position or JSON path,
//! and never quote the file's content (reports can carry paths, URLs and environment values).

use std::path::{Path, PathBuf};

use serde_json::error::Category;

use super::ReportFormat;

const EXPECTED: &str = "expected the JSON report of Trivy (`trivy image -f json`), Grype (`grype -o json`), \
     pip-audit (`pip-audit -f json`) or Safety (`safety check --output json`, `safety scan --output json`)";

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{}: cannot read the scan report: {reason}", path.display())]
    Read { path: PathBuf, reason: String },

    #[error("{}: empty file, not a scan report ({EXPECTED})", path.display())]
    Empty { path: PathBuf },

    #[error("{}: UTF-16 text; scanners write UTF-8 JSON (was the output redirected through a shell that re-encodes it?)", path.display())]
    Utf16 { path: PathBuf },

    #[error("{}:{line}:{column}: the file ends inside a JSON value: truncated scan report", path.display())]
    Truncated { path: PathBuf, line: usize, column: usize },

    #[error("{}:{line}:{column}: not valid JSON: {what}", path.display())]
    Syntax { path: PathBuf, line: usize, column: usize, what: String },

    #[error("{}: {found} is not a scan report of a known shape; {EXPECTED}", path.display())]
    UnknownShape { path: PathBuf, found: String },

    #[error("{}: not a readable {format} report: {at}: {problem}", path.display())]
    Shape { path: PathBuf, format: ReportFormat, at: String, problem: String },
}

impl ScanError {
    pub(crate) fn read(path: &Path, e: &std::io::Error) -> ScanError {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
            _ => e.to_string(),
        };
        ScanError::Read { path: path.to_path_buf(), reason }
    }

    /// serde_json's syntax messages are fixed phrases ("expected value", "trailing comma"); only
    /// its " at line L column C" suffix is dropped, the position is kept separately.
    pub(crate) fn json(path: &Path, e: &serde_json::Error) -> ScanError {
        let (line, column) = (e.line(), e.column());
        match e.classify() {
            Category::Eof => ScanError::Truncated { path: path.to_path_buf(), line, column },
            Category::Io => ScanError::Read { path: path.to_path_buf(), reason: e.to_string() },
            Category::Syntax => {
                let full = e.to_string();
                let suffix = format!(" at line {line} column {column}");
                let what = full.strip_suffix(&suffix).unwrap_or("malformed").to_string();
                ScanError::Syntax { path: path.to_path_buf(), line, column, what }
            }
            // Data messages can quote the offending value: say only that it is malformed.
            Category::Data => {
                ScanError::Syntax { path: path.to_path_buf(), line, column, what: "malformed value".into() }
            }
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ScanError::Read { path, .. }
            | ScanError::Empty { path }
            | ScanError::Utf16 { path }
            | ScanError::Truncated { path, .. }
            | ScanError::Syntax { path, .. }
            | ScanError::UnknownShape { path, .. }
            | ScanError::Shape { path, .. } => path,
        }
    }
}
