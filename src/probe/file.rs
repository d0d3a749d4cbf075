//! `file` probe: a document exists (e.g. the runbook) and, optionally, contains given headings.

use crate::outcome::{Finding, ProbeReport};
use crate::probe::{ParamReader, ProbeContext};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileParams {
    pub path: String,
    /// Headings that must appear (Markdown `#` headings, matched case-insensitively, any level).
    pub headings: Vec<String>,
    /// The file must not be empty.
    pub non_empty: bool,
}

impl FileParams {
    pub fn read(r: &mut ParamReader) -> Option<Self> {
        let path = r.req_str("path");
        let headings = r.opt_str_list("headings").unwrap_or_default();
        let non_empty = r.opt_bool("non_empty").unwrap_or(true);
        Some(FileParams { path: path?, headings, non_empty })
    }
}

fn markdown_headings(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().trim_end_matches('#').trim().to_lowercase())
        .collect()
}

pub async fn run(p: &FileParams, ctx: &ProbeContext) -> ProbeReport {
    let path = ctx.resolve(&p.path);
    let mut report = ProbeReport::default();
    report.fact("path", path.display());
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.push(Finding::error("file-missing", format!("{} does not exist", p.path)).target(&p.path));
            return report;
        }
        Err(e) => {
            return ProbeReport::unverified("unreadable", format!("cannot read {}: {e}", p.path));
        }
    };
    report.fact("size_bytes", bytes.len());
    if p.non_empty && bytes.iter().all(u8::is_ascii_whitespace) {
        report.push(Finding::error("file-empty", format!("{} is empty", p.path)).target(&p.path));
        return report;
    }
    if !p.headings.is_empty() {
        let text = String::from_utf8_lossy(&bytes);
        let found = markdown_headings(&text);
        let missing: Vec<&String> =
            p.headings.iter().filter(|h| !found.iter().any(|f| f == &h.trim().to_lowercase())).collect();
        report.fact("headings_required", p.headings.len());
        report.fact("headings_found", p.headings.len() - missing.len());
        for h in missing {
            report.push(
                Finding::error("file-heading-missing", format!("{} has no heading \"{h}\"", p.path))
                    .target(&p.path)
                    .fact("heading", h),
            );
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_are_normalised() {
        let h = markdown_headings("# Runbook\n\n## Rollback ##\ntext\n  ### On-call  \n#no-space");
        assert_eq!(h, ["runbook", "rollback", "on-call", "no-space"]);
    }
}
