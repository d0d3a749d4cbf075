//! pip-audit's JSON (`pip-audit -f json`): `{"dependencies": [...], "fixes": [...]}` since 2.0,
//! a bare list of dependencies before. It carries no severity, no timestamp and no file name.

use serde_json::Value;

use super::json::{Obj, ShapeError, Shaped, each_item_obj, kind};
use super::{NotAudited, ReportFormat, ScanReport, Severity, Target, TargetKind, Vulnerability};

/// pip-audit does not say which requirements file or environment it audited.
pub(crate) const TARGET: &str = "Python dependencies";

pub(crate) fn parse(v: &Value) -> Shaped<ScanReport> {
    let mut report = ScanReport::new(ReportFormat::PipAudit, "pip-audit", None);
    report.targets.push(Target { name: TARGET.to_string(), kind: TargetKind::LanguagePackages, image: None });
    let mut audited = 0usize;
    let mut each = |dep: Obj<'_>| -> Shaped<()> {
        let name = dep.req_str("name")?;
        let version = dep.non_empty_str("version")?;
        if let Some(reason) = dep.opt_str("skip_reason")? {
            report.not_audited.push(NotAudited {
                package: name.to_string(),
                version: version.map(str::to_string),
                reason: reason.to_string(),
            });
            return Ok(());
        }
        audited += 1;
        dep.each_obj("vulns", |vuln| {
            let fixes = vuln.str_list("fix_versions")?;
            report.vulnerabilities.push(Vulnerability {
                id: vuln.req_str("id")?.to_string(),
                aliases: vuln.str_list("aliases")?,
                package: name.to_string(),
                installed: version.map(str::to_string),
                fixed: (!fixes.is_empty()).then(|| fixes.join(", ")),
                severity: Severity::Unknown,
                status: None,
                target: TARGET.to_string(),
            });
            Ok(())
        })
    };
    match v {
        Value::Object(_) => Obj::root(v)?.each_obj("dependencies", &mut each)?,
        Value::Array(items) => each_item_obj(items, "", &mut each)?,
        other => {
            return Err(ShapeError {
                path: "(top level)".into(),
                problem: format!("expected an object, found {}", kind(other)),
            });
        }
    }
    report.nothing_scanned = audited == 0;
    Ok(report)
}
