//! Which report files an item names (paths and globs, relative to the checklist) and reading
//! them: every file is either a parsed report or a gap naming it; a pattern that matches no file
//! is a gap too, never zero findings.

use std::path::{Path, PathBuf};

use crate::outcome::Unverified;
use crate::scan::{ScanError, ScanReport, parse_report};

/// A report that was read, under the name it is shown by (relative to the checklist's folder).
#[derive(Debug, Clone)]
pub struct ReadReport {
    pub name: String,
    pub report: ScanReport,
}

/// The reports read and the files (or patterns) that gave none.
#[derive(Debug, Default)]
pub struct Reports {
    pub read: Vec<ReadReport>,
    pub gaps: Vec<Unverified>,
}

/// Whether a `reports` entry is a glob rather than a plain path.
pub fn is_pattern(entry: &str) -> bool {
    entry.contains(['*', '?', '['])
}

/// `path` as shown: relative to `base` when it lies under it.
fn shown(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).display().to_string()
}

/// Expands and reads every entry of `reports`. Blocking: call it off the async threads.
pub fn read_all(entries: &[String], base: &Path) -> Reports {
    let mut out = Reports::default();
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let full = if Path::new(entry).is_absolute() { PathBuf::from(entry) } else { base.join(entry) };
        if !is_pattern(entry) {
            files.push(full);
            continue;
        }
        let pattern = full.to_string_lossy().into_owned();
        let paths = match glob::glob(&pattern) {
            Ok(paths) => paths,
            // Patterns are checked when the checklist is validated; the base folder can still
            // make one invalid (a `[` in its name).
            Err(e) => {
                out.gaps
                    .push(Unverified::new("scan-report-unreadable", format!("`{entry}` is not a valid pattern: {e}")));
                continue;
            }
        };
        let mut matched: Vec<PathBuf> = Vec::new();
        for p in paths {
            match p {
                Ok(p) if p.is_dir() => {}
                Ok(p) => matched.push(p),
                Err(e) => out.gaps.push(Unverified::new(
                    "scan-report-unreadable",
                    format!("{}: cannot read while expanding `{entry}`: {}", shown(e.path(), base), e.error().kind()),
                )),
            }
        }
        if matched.is_empty() {
            out.gaps.push(Unverified::new(
                "scan-report-missing",
                format!("`{entry}` matches no file: no scan report to judge"),
            ));
        }
        matched.sort();
        files.extend(matched);
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    for file in files {
        let name = shown(&file, base);
        match read_one(&file, Path::new(&name)) {
            Ok(report) => out.read.push(ReadReport { name, report }),
            Err(e) => out.gaps.push(Unverified::new("scan-report-unreadable", e.to_string())),
        }
    }
    out
}

/// Reads one file; errors name it by `name` (with the line and column of a JSON error).
fn read_one(path: &Path, name: &Path) -> Result<ScanReport, ScanError> {
    let bytes = std::fs::read(path).map_err(|e| ScanError::read(name, &e))?;
    let mut report = parse_report(&bytes, name)?;
    report.file_modified =
        std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| jiff::Timestamp::try_from(t).ok());
    Ok(report)
}
