//! Trivy's JSON report, SchemaVersion 2 (`trivy image|fs|repo|rootfs -f json`).

use serde_json::Value;

use super::json::{Obj, Shaped};
use super::{ImageIdentity, ReportFormat, ScanReport, Severity, Target, TargetKind, Vulnerability, parse_time};

pub(crate) fn parse(v: &Value) -> Shaped<ScanReport> {
    let root = Obj::root(v)?;
    match root.value("SchemaVersion") {
        None => return Err(root.problem("SchemaVersion", "missing (a Trivy report before SchemaVersion 2?)")),
        Some(Value::Number(n)) if n.as_u64() == Some(2) => {}
        Some(Value::Number(_)) => return Err(root.problem("SchemaVersion", "only SchemaVersion 2 is read")),
        Some(_) => return Err(root.problem("SchemaVersion", "expected a number")),
    }
    let version = root.with_obj("Trivy", |t| Ok(t.non_empty_str("Version")?.map(str::to_string)))?.flatten();
    let mut report = ScanReport::new(ReportFormat::Trivy, "Trivy", version.as_deref());
    report.timestamp =
        parse_time(root.opt_str("CreatedAt")?).map_err(|()| root.problem("CreatedAt", "not an RFC 3339 timestamp"))?;

    let artifact = root.non_empty_str("ArtifactName")?.unwrap_or("(unnamed artifact)");
    let artifact_type = root.non_empty_str("ArtifactType")?;
    let identity = root
        .with_obj("Metadata", |m| {
            let mut id = ImageIdentity {
                references: m.str_list("RepoTags")?,
                repo_digests: m.str_list("RepoDigests")?,
                image_id: m.non_empty_str("ImageID")?.map(str::to_string),
                manifest_digest: None,
            };
            if !id.references.iter().any(|r| r == artifact) {
                id.references.insert(0, artifact.to_string());
            }
            Ok(id)
        })?
        .unwrap_or_else(|| ImageIdentity { references: vec![artifact.to_string()], ..ImageIdentity::default() });
    let artifact_target = match artifact_type {
        Some("container_image") => {
            Target { name: artifact.to_string(), kind: TargetKind::Image, image: Some(identity) }
        }
        Some("filesystem" | "repository" | "rootfs") => {
            Target { name: artifact.to_string(), kind: TargetKind::Directory, image: None }
        }
        _ => Target { name: artifact.to_string(), kind: TargetKind::Other, image: None },
    };
    report.targets.push(artifact_target);

    let mut package_targets = 0usize;
    root.each_obj("Results", |result| {
        let name = result.req_str("Target")?;
        let class = result.non_empty_str("Class")?;
        let kind = match class {
            Some("os-pkgs") => TargetKind::OsPackages,
            Some("lang-pkgs") => TargetKind::LanguagePackages,
            _ => TargetKind::Other,
        };
        // Config, secret and license results are not a vulnerability scan of packages; a result
        // without a Class (older Trivy) is counted as one.
        if class.is_none() || matches!(kind, TargetKind::OsPackages | TargetKind::LanguagePackages) {
            package_targets += 1;
        }
        report.targets.push(Target { name: name.to_string(), kind, image: None });
        result.each_obj("Vulnerabilities", |v| {
            report.vulnerabilities.push(Vulnerability {
                id: v.req_str("VulnerabilityID")?.to_string(),
                aliases: v.str_list("VendorIDs")?,
                package: v.req_str("PkgName")?.to_string(),
                installed: v.non_empty_str("InstalledVersion")?.map(str::to_string),
                fixed: v.non_empty_str("FixedVersion")?.map(str::to_string),
                severity: Severity::from_report(v.opt_str("Severity")?),
                status: v.non_empty_str("Status")?.map(str::to_string),
                target: name.to_string(),
            });
            Ok(())
        })
    })?;
    report.nothing_scanned = package_targets == 0 && report.vulnerabilities.is_empty();
    Ok(report)
}
