//! Safety's two JSON shapes: `safety check --output json` (2.x, and 3.x's deprecated `check`:
//! `report_meta`, `vulnerabilities[]`) and `safety scan --output json` (3.x, report schema 3.0:
//! `meta`, `scan_results.projects[].files[].results.dependencies[]`).

use serde_json::Value;

use super::json::{Obj, Shaped};
use super::{ReportFormat, ScanReport, Severity, Target, TargetKind, Vulnerability, parse_time};

/// The target name when the report does not say what it scanned.
const UNNAMED: &str = "Python packages";

pub(crate) fn parse_check(v: &Value) -> Shaped<ScanReport> {
    let root = Obj::root(v)?;
    let (version, timestamp, scanned, packages_found) = root
        .with_obj("report_meta", |m| {
            let timestamp =
                parse_time(m.opt_str("timestamp")?).map_err(|()| m.problem("timestamp", "not a date and time"))?;
            let found = m.opt_f64("packages_found")?;
            Ok((m.non_empty_str("safety_version")?.map(str::to_string), timestamp, m.str_list("scanned")?, found))
        })?
        .ok_or_else(|| root.problem("report_meta", "missing"))?;
    let mut report = ScanReport::new(ReportFormat::SafetyCheck, "Safety", version.as_deref());
    report.timestamp = timestamp;
    for name in &scanned {
        report.targets.push(Target { name: name.clone(), kind: TargetKind::LanguagePackages, image: None });
    }
    let default_target = scanned.first().map_or(UNNAMED, String::as_str).to_string();
    if scanned.is_empty() {
        report.targets.push(Target { name: default_target.clone(), kind: TargetKind::LanguagePackages, image: None });
    }

    // Where each affected package was found (a requirements file or a site-packages directory).
    let found_in = |package: &str| -> Shaped<Option<String>> {
        let found = root.with_obj("affected_packages", |a| {
            Ok(a.with_obj(package, |p| Ok(p.non_empty_str("found")?.map(str::to_string)))?.flatten())
        })?;
        Ok(found.flatten())
    };
    let mut vulns = Vec::new();
    root.each_obj("vulnerabilities", |v| {
        let package = v.req_str("package_name")?;
        let fixes = v.str_list("fixed_versions")?;
        let aliases = match v.value("CVE") {
            Some(Value::String(cve)) if !cve.trim().is_empty() => vec![cve.trim().to_string()],
            Some(Value::Object(_)) => {
                v.with_obj("CVE", |c| Ok(c.non_empty_str("name")?.map(str::to_string)))?.flatten().into_iter().collect()
            }
            _ => Vec::new(),
        };
        let severity = v.with_obj("severity", cvss_severity)?.unwrap_or(Severity::Unknown);
        vulns.push(Vulnerability {
            id: v.req_str("vulnerability_id")?.to_string(),
            aliases,
            package: package.to_string(),
            installed: v.non_empty_str("analyzed_version")?.map(str::to_string),
            fixed: (!fixes.is_empty()).then(|| fixes.join(", ")),
            severity,
            status: None,
            target: found_in(package)?.unwrap_or_else(|| default_target.clone()),
        });
        Ok(())
    })?;
    report.vulnerabilities = vulns;
    report.ignored_by_scanner = root.len_of("ignored_vulnerabilities")?.unwrap_or(0);
    let packages = match root.len_of("scanned_packages")? {
        Some(n) => Some(n),
        None => packages_found.map(|n| n.max(0.0) as usize),
    };
    report.nothing_scanned = packages == Some(0) && report.vulnerabilities.is_empty();
    Ok(report)
}

pub(crate) fn parse_scan(v: &Value) -> Shaped<ScanReport> {
    let root = Obj::root(v)?;
    let (version, timestamp) = root
        .with_obj("meta", |m| {
            let timestamp =
                parse_time(m.opt_str("timestamp")?).map_err(|()| m.problem("timestamp", "not a date and time"))?;
            let version = m.with_obj("telemetry", |t| Ok(t.non_empty_str("safety_version")?.map(str::to_string)))?;
            Ok((version.flatten(), timestamp))
        })?
        .unwrap_or((None, None));
    let mut report = ScanReport::new(ReportFormat::SafetyScan, "Safety", version.as_deref());
    report.timestamp = timestamp;
    let mut dependencies = 0usize;
    root.with_obj("scan_results", |results| {
        results.each_obj("files", |f| scan_file(f, &mut report, &mut dependencies))?;
        results.each_obj("projects", |p| p.each_obj("files", |f| scan_file(f, &mut report, &mut dependencies)))
    })?
    .ok_or_else(|| root.problem("scan_results", "missing"))?;
    report.nothing_scanned = dependencies == 0;
    Ok(report)
}

/// One scanned file (`requirements.txt`, `pyproject.toml`, an environment) of a scan report.
fn scan_file(file: Obj<'_>, report: &mut ScanReport, dependencies: &mut usize) -> Shaped<()> {
    let location = file.req_str("location")?.to_string();
    report.targets.push(Target { name: location.clone(), kind: TargetKind::LanguagePackages, image: None });
    file.with_obj("results", |results| {
        results.each_obj("dependencies", |dep| {
            *dependencies += 1;
            let package = dep.req_str("name")?;
            dep.each_obj("specifications", |spec| {
                let installed = pinned_version(spec.req_str("raw")?);
                spec.with_obj("vulnerabilities", |vulns| {
                    let fixed = vulns
                        .with_obj("remediation", |r| Ok(r.non_empty_str("recommended")?.map(str::to_string)))?
                        .flatten();
                    vulns.each_obj("known_vulnerabilities", |kv| {
                        if kv.value("ignored").is_some() {
                            report.ignored_by_scanner += 1;
                            return Ok(());
                        }
                        let (aliases, severity) = kv
                            .with_obj("cve", |c| {
                                let name = c.non_empty_str("name")?.map(str::to_string);
                                Ok((name.into_iter().collect(), cvss_severity(c)?))
                            })?
                            .unwrap_or((Vec::new(), Severity::Unknown));
                        report.vulnerabilities.push(Vulnerability {
                            id: kv.req_str("id")?.to_string(),
                            aliases,
                            package: package.to_string(),
                            installed: installed.clone(),
                            fixed: fixed.clone(),
                            severity,
                            status: None,
                            target: location.clone(),
                        });
                        Ok(())
                    })
                })?;
                Ok(())
            })
        })
    })?;
    Ok(())
}

/// `django==1.8.0` (with an optional `; marker`) is pinned to 1.8.0; a range pins nothing.
fn pinned_version(raw: &str) -> Option<String> {
    let spec = raw.split(';').next().unwrap_or(raw);
    let (_, version) = spec.split_once("==")?;
    let version = version.trim().trim_start_matches('=').trim();
    (!version.is_empty() && !version.contains([',', '<', '>', '*'])).then(|| version.to_string())
}

/// Safety's CVSS block (`{cvssv3: {base_severity, base_score}, cvssv2: {base_score}}`).
fn cvss_severity(c: Obj<'_>) -> Shaped<Severity> {
    let v3 = c.with_obj("cvssv3", |v3| {
        Ok(match v3.non_empty_str("base_severity")?.and_then(Severity::parse) {
            Some(s) => Some(s),
            None => v3.opt_f64("base_score")?.map(Severity::from_cvss3_score),
        })
    })?;
    if let Some(Some(s)) = v3 {
        return Ok(s);
    }
    let v2 = c.with_obj("cvssv2", |v2| Ok(v2.opt_f64("base_score")?.map(Severity::from_cvss2_score)))?;
    Ok(v2.flatten().unwrap_or(Severity::Unknown))
}

#[cfg(test)]
mod tests {
    use super::pinned_version;

    #[test]
    fn pinned_versions_from_requirement_lines() {
        assert_eq!(pinned_version("django==1.8.0").as_deref(), Some("1.8.0"));
        assert_eq!(pinned_version("Django == 2.2 ; python_version > '3'").as_deref(), Some("2.2"));
        assert_eq!(pinned_version("requests===2.19.0").as_deref(), Some("2.19.0"));
        assert_eq!(pinned_version("django>=1.8"), None);
        assert_eq!(pinned_version("django==1.*"), None);
        assert_eq!(pinned_version("django=="), None);
        assert_eq!(pinned_version(""), None);
    }
}
