//! Grype's JSON report (`grype -o json`): `matches`, `source`, `descriptor`.

use serde_json::Value;

use super::json::{Obj, Shaped};
use super::{ImageIdentity, ReportFormat, ScanReport, Severity, Target, TargetKind, Vulnerability, parse_time};

pub(crate) fn parse(v: &Value) -> Shaped<ScanReport> {
    let root = Obj::root(v)?;
    let (name, version, timestamp) = root
        .with_obj("descriptor", |d| {
            // Grype's test snapshots write "[not provided]" for a build without a version.
            let version = d.non_empty_str("version")?.filter(|v| !v.starts_with('[')).map(str::to_string);
            let timestamp = parse_time(d.opt_str("timestamp")?)
                .map_err(|()| d.problem("timestamp", "not an RFC 3339 timestamp"))?;
            Ok((d.non_empty_str("name")?.unwrap_or("grype").to_string(), version, timestamp))
        })?
        .unwrap_or_else(|| ("grype".to_string(), None, None));
    let mut report = ScanReport::new(ReportFormat::Grype, &name, version.as_deref());
    report.timestamp = timestamp;

    let target = root.with_obj("source", source_target)?.flatten();
    let target_name = target.as_ref().map_or_else(|| "(unknown source)".to_string(), |t| t.name.clone());
    let scanned = target.is_some();
    report.targets.extend(target);

    root.each_obj("matches", |m| {
        let (package, installed) = match m.with_obj("artifact", |a| {
            Ok((a.req_str("name")?.to_string(), a.non_empty_str("version")?.map(str::to_string)))
        })? {
            Some(artifact) => artifact,
            None => return Err(m.problem("artifact", "missing")),
        };
        let mut aliases = Vec::new();
        m.each_obj("relatedVulnerabilities", |r| {
            if let Some(id) = r.non_empty_str("id")? {
                aliases.push(id.to_string());
            }
            Ok(())
        })?;
        let vuln = m.with_obj("vulnerability", |v| {
            let id = v.req_str("id")?.to_string();
            let (fixed, status) = v
                .with_obj("fix", |f| {
                    let state = f.non_empty_str("state")?;
                    let versions = f.str_list("versions")?;
                    // Versions count as a fix only when Grype says fixed (or, in old reports, says nothing).
                    let fixed =
                        (matches!(state, None | Some("fixed")) && !versions.is_empty()).then(|| versions.join(", "));
                    Ok((fixed, state.map(str::to_string)))
                })?
                .unwrap_or((None, None));
            let mut seen = std::collections::HashSet::new();
            aliases.retain(|a| *a != id && seen.insert(a.clone()));
            Ok(Vulnerability {
                id,
                aliases: std::mem::take(&mut aliases),
                package: package.clone(),
                installed: installed.clone(),
                fixed,
                severity: Severity::from_report(v.opt_str("severity")?),
                status,
                target: target_name.clone(),
            })
        })?;
        match vuln {
            Some(v) => report.vulnerabilities.push(v),
            None => return Err(m.problem("vulnerability", "missing")),
        }
        Ok(())
    })?;
    report.ignored_by_scanner = root.len_of("ignoredMatches")?.unwrap_or(0);
    report.nothing_scanned = !scanned && report.vulnerabilities.is_empty();
    Ok(report)
}

/// The scanned source as a target; `None` for Grype's `unknown` source (nothing was scanned).
fn source_target(s: Obj<'_>) -> Shaped<Option<Target>> {
    let kind = s.non_empty_str("type")?;
    match kind {
        None | Some("unknown") => Ok(None),
        Some("image") => {
            let identity = s.with_obj("target", |t| {
                let mut references = Vec::new();
                if let Some(input) = t.non_empty_str("userInput")? {
                    references.push(input.to_string());
                }
                for tag in t.str_list("tags")? {
                    if !references.contains(&tag) {
                        references.push(tag);
                    }
                }
                Ok(ImageIdentity {
                    references,
                    repo_digests: t.str_list("repoDigests")?,
                    image_id: t.non_empty_str("imageID")?.map(str::to_string),
                    manifest_digest: t.non_empty_str("manifestDigest")?.map(str::to_string),
                })
            })?;
            let Some(identity) = identity else { return Err(s.problem("target", "missing for an image source")) };
            let name = identity
                .references
                .first()
                .or(identity.repo_digests.first())
                .or(identity.image_id.as_ref())
                .cloned()
                .unwrap_or_else(|| "(unnamed image)".to_string());
            Ok(Some(Target { name, kind: TargetKind::Image, image: Some(identity) }))
        }
        Some(other) => {
            // `directory` and `file` carry the path as a string; other sources carry an object.
            let name = match s.value("target") {
                Some(Value::String(path)) if !path.trim().is_empty() => path.trim().to_string(),
                _ => format!("({other} source)"),
            };
            let kind = if matches!(other, "directory" | "file") { TargetKind::Directory } else { TargetKind::Other };
            Ok(Some(Target { name, kind, image: None }))
        }
    }
}
