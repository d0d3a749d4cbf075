//! The verdict material of a scan-report check, pure: findings for each report (vulnerabilities
//! against the threshold, unknown severity, nothing scanned, not audited, stale) and for each
//! deployed image (no report, another digest), with the evidence the decision shows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;

use super::ScanReportParams;
use super::files::{ReadReport, Reports};
use super::images::DeployedImage;
use crate::outcome::{Finding, Level, ProbeReport, Unverified};
use crate::scan::{
    AgeSource, ImageMatch, MatchedBy, ScanReport, Severity, TargetKind, Threshold, Vulnerability, match_image,
};

/// `critical 1 · high 0 · ...`, every severity, most severe first.
fn counts_line(vulns: &[&Vulnerability]) -> String {
    Severity::ALL
        .iter()
        .rev()
        .map(|s| format!("{s} {}", vulns.iter().filter(|v| v.severity == *s).count()))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `high 1 · low 2`: the severities that occur; `no vulnerabilities` when none does.
fn short_counts(vulns: &[&Vulnerability]) -> String {
    let parts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|s| {
            let n = vulns.iter().filter(|v| v.severity == *s).count();
            (n > 0).then(|| format!("{s} {n}"))
        })
        .collect();
    if parts.is_empty() { "no vulnerabilities".to_string() } else { parts.join(" · ") }
}

/// `7d`, `36h`, `90m`: a `max_age` as written.
fn age_text(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(86_400) { format!("{}d", s / 86_400) } else { crate::engine::human(d) }
}

fn days(n: i64) -> String {
    if n == 1 { "1 day".to_string() } else { format!("{n} days") }
}

/// The finding's target: the scanner's target, prefixed with the image it is in when the name
/// alone does not say (a binary's path in the image), so a waiver's `object` can tell images apart.
fn vulnerability_target(v: &Vulnerability, rep: &ScanReport) -> String {
    let mut images = rep.images();
    match (images.next(), images.next()) {
        (Some((image, _)), None) if !v.target.starts_with(&image.name) => format!("{}: {}", image.name, v.target),
        _ => v.target.clone(),
    }
}

fn target_kind(k: TargetKind) -> &'static str {
    match k {
        TargetKind::Image => "image",
        TargetKind::OsPackages => "os packages",
        TargetKind::LanguagePackages => "language packages",
        TargetKind::Directory => "directory",
        TargetKind::Other => "other",
    }
}

/// Judges the reports (and, with `images`, the deployed images against them) at `now`.
pub fn judge(
    reports: Reports,
    images: Option<Result<Vec<DeployedImage>, Unverified>>,
    p: &ScanReportParams,
    now: Timestamp,
) -> ProbeReport {
    let mut out = ProbeReport::default();
    out.fact("reports", reports.read.len());
    out.fact("fail_on", p.fail_on);
    out.fact("ignore_unfixed", p.ignore_unfixed);
    out.fact("max_age", age_text(p.max_age));
    let all: Vec<&Vulnerability> = reports.read.iter().flat_map(|r| &r.report.vulnerabilities).collect();
    out.fact("severity", counts_line(&all));
    let threshold = Threshold { fail_on: p.fail_on, ignore_unfixed: p.ignore_unfixed, unknown_fails: true };
    // What undermines a report comes first, then the images, then the vulnerabilities of every
    // report, most serious first.
    let mut vulnerabilities: Vec<(Severity, Finding)> = Vec::new();
    for r in &reports.read {
        report_evidence(&mut out, r, now);
        report_findings(&mut out, r, p, now);
    }
    for g in reports.gaps {
        out.gap(g);
    }
    // Reports of images nothing in scope runs: their vulnerabilities are not the launch's.
    let undeployed = match images {
        None => {
            out.fact("images", "not matched (match_images = false)");
            Default::default()
        }
        // What is deployed could not be seen: which image reports matter is unknown, so their
        // vulnerabilities are noted, not judged, and the gap leaves the item unverified.
        Some(Err(gap)) => {
            out.gap(gap);
            reports
                .read
                .iter()
                .enumerate()
                .filter(|(_, r)| r.report.images().next().is_some())
                .map(|(i, _)| i)
                .collect()
        }
        Some(Ok(images)) => judge_images(&mut out, &reports.read, &images),
    };
    for (ri, r) in reports.read.iter().enumerate() {
        if undeployed.contains(&ri) {
            if !r.report.vulnerabilities.is_empty() {
                out.fact(
                    format!("{} not judged", r.name),
                    format!(
                        "{} vulnerabilities ({}) of an image no container in scope is seen to run",
                        r.report.vulnerabilities.len(),
                        short_counts(&r.report.vulnerabilities.iter().collect::<Vec<_>>())
                    ),
                );
            }
            continue;
        }
        vulnerabilities
            .extend(r.report.vulnerabilities.iter().map(|v| (v.severity, vulnerability_finding(v, r, &threshold))));
    }
    vulnerabilities.sort_by(|(sa, a), (sb, b)| {
        b.level.cmp(&a.level).then(sb.cmp(sa)).then_with(|| a.evidence[0].value.cmp(&b.evidence[0].value))
    });
    out.extend_findings(vulnerabilities.into_iter().map(|(_, f)| f));
    out
}

fn report_evidence(out: &mut ProbeReport, r: &ReadReport, now: Timestamp) {
    let rep = &r.report;
    let scanner = match &rep.scanner.version {
        Some(v) => format!("{} {v} ({} JSON)", rep.scanner.name, rep.format),
        None => format!("{} (no version in the report; {} JSON)", rep.scanner.name, rep.format),
    };
    out.fact(format!("{} scanner", r.name), scanner);
    out.fact(format!("{} sha256", r.name), &rep.sha256);
    if let Some(age) = rep.age(now) {
        let source = match age.source {
            AgeSource::ReportTimestamp => "report timestamp",
            AgeSource::FileModified => "file modified; the report has no timestamp",
        };
        out.fact(
            format!("{} scanned", r.name),
            format!("{} ({source}), {} before the audit", age.scanned_at, days(age.days())),
        );
    }
    let vulns: Vec<&Vulnerability> = rep.vulnerabilities.iter().collect();
    out.fact(format!("{} severity", r.name), counts_line(&vulns));
    for t in &rep.targets {
        if let Some(image) = &t.image {
            let mut ids: Vec<String> = image.repo_digests.clone();
            ids.extend(image.manifest_digest.iter().map(|d| format!("manifest {d}")));
            ids.extend(image.image_id.iter().map(|d| format!("image ID {d}")));
            let value = if ids.is_empty() { "no digest in the report".to_string() } else { ids.join(", ") };
            out.fact(format!("{} image {}", r.name, t.name), value);
            continue;
        }
        let here: Vec<&Vulnerability> = rep.vulnerabilities.iter().filter(|v| v.target == t.name).collect();
        out.fact(format!("{} target {}", r.name, t.name), format!("{}: {}", target_kind(t.kind), short_counts(&here)));
    }
    if rep.ignored_by_scanner > 0 {
        out.fact(format!("{} ignored by the scanner", r.name), rep.ignored_by_scanner);
    }
}

fn vulnerability_finding(v: &Vulnerability, r: &ReadReport, threshold: &Threshold) -> Finding {
    let fix = match &v.fixed {
        Some(f) => format!("fixed in {f}"),
        None => "no fixed version".to_string(),
    };
    let installed = v.installed.as_deref().map(|i| format!(" {i}")).unwrap_or_default();
    let (code, level, message) = if v.severity == Severity::Unknown {
        let m = format!(
            "{} in {}{installed} ({fix}): the report gives no severity, so it counts as failing",
            v.id, v.package
        );
        ("scan-severity-unknown", Level::Error, m)
    } else if threshold.ignore_unfixed && v.fixed.is_none() {
        let m = format!(
            "{} ({}) in {}{installed}: no fixed version, ignored (ignore_unfixed)",
            v.id, v.severity, v.package
        );
        ("scan-vulnerability", Level::Info, m)
    } else {
        let level = if threshold.severity_blocks(v.severity) { Level::Error } else { Level::Warning };
        let m = format!("{} ({}) in {}{installed}, {fix}", v.id, v.severity, v.package);
        ("scan-vulnerability", level, m)
    };
    let mut f = Finding::new(code, level, message).target(vulnerability_target(v, &r.report)).fact("id", &v.id);
    if !v.aliases.is_empty() {
        f = f.fact("aliases", v.aliases.join(", "));
    }
    f = f
        .fact("severity", v.severity)
        .fact("package", &v.package)
        .fact("installed", v.installed.as_deref().unwrap_or("-"))
        .fact("fixed", v.fixed.as_deref().unwrap_or("-"));
    if let Some(s) = &v.status {
        f = f.fact("status", s);
    }
    f.fact("report", &r.name)
}

fn report_findings(out: &mut ProbeReport, r: &ReadReport, p: &ScanReportParams, now: Timestamp) {
    let rep: &ScanReport = &r.report;
    if rep.nothing_scanned {
        let why = if !rep.not_audited.is_empty() {
            format!("{} skipped every dependency it lists ({} not audited)", rep.scanner.name, rep.not_audited.len())
        } else {
            "the report lists no scanned target".to_string()
        };
        out.push(
            Finding::error(
                "scan-report-empty",
                format!("{}: nothing was scanned: {why}; zero findings prove nothing", r.name),
            )
            .target(&r.name)
            .fact("report", &r.name),
        );
    } else {
        for n in &rep.not_audited {
            let version = n.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
            out.push(
                Finding::warning(
                    "scan-not-audited",
                    format!("{}: {}{version} was not audited: {}", r.name, n.package, n.reason),
                )
                .target(&r.name)
                .fact("id", &n.package)
                .fact("report", &r.name),
            );
        }
    }
    match rep.age(now) {
        None => out.push(
            Finding::error(
                "scan-report-stale",
                format!("{}: neither the report nor the file says when it was scanned", r.name),
            )
            .target(&r.name),
        ),
        Some(age) if age.older_than(p.max_age) => out.push(
            Finding::error(
                "scan-report-stale",
                format!(
                    "{}: scanned {} before the audit, older than max_age {}",
                    r.name,
                    days(age.days()),
                    age_text(p.max_age)
                ),
            )
            .target(&r.name)
            .fact("scanned_at", age.scanned_at)
            .fact("max_age", age_text(p.max_age))
            .fact("report", &r.name),
        ),
        Some(_) => {}
    }
}

/// Ties every deployed image to a report that scanned it. Returns the reports of images (by
/// index) none of which a container in scope runs.
fn judge_images(
    out: &mut ProbeReport,
    reports: &[ReadReport],
    images: &[DeployedImage],
) -> std::collections::BTreeSet<usize> {
    out.fact("images", images.len());
    if images.is_empty() {
        out.gap(Unverified::new(
            "nothing-in-scope",
            "no Pod or workload in the namespaces in scope: no deployed image to tie the reports to",
        ));
    }
    // Which image targets of which report some deployed image matched.
    let mut used: BTreeMap<(usize, usize), bool> = BTreeMap::new();
    for image in images {
        let users = describe_users(&image.users);
        let mut matched: Vec<(String, MatchedBy)> = Vec::new();
        let mut mismatched: Vec<(String, Vec<String>)> = Vec::new();
        let mut bad_ref = None;
        for (ri, r) in reports.iter().enumerate() {
            for (ti, (_, identity)) in r.report.images().enumerate() {
                match match_image(&image.reference, identity) {
                    Ok(ImageMatch::Match { by }) => {
                        used.insert((ri, ti), true);
                        matched.push((r.name.clone(), by));
                    }
                    Ok(ImageMatch::DigestMismatch { report_digests }) => {
                        mismatched.push((r.name.clone(), report_digests))
                    }
                    Ok(ImageMatch::NoMatch) => {}
                    Err(e) => bad_ref = Some(e),
                }
            }
        }
        let shown = match &image.spec_image {
            Some(spec) => format!("{spec} ({})", image.reference),
            None => image.reference.clone(),
        };
        if let Some(e) = bad_ref.or_else(|| crate::scan::ImageRef::parse(&image.reference).err()) {
            out.gap(Unverified::new(
                "scan-report-missing",
                format!("{shown} (used by {users}): {e}; no report can be tied to it"),
            ));
            continue;
        }
        if !matched.is_empty() {
            let list: Vec<String> = matched
                .iter()
                .map(|(name, by)| match by {
                    MatchedBy::Digest => format!("{name} (same digest)"),
                    MatchedBy::Tag => format!("{name} (same tag; no digest to compare)"),
                })
                .collect();
            let mut value = list.join(", ");
            if image.no_image_id {
                value.push_str("; the Pod's status names no imageID yet, matched by its spec's reference");
            }
            out.fact(format!("image {shown}"), value);
        } else if !mismatched.is_empty() {
            let mut message = format!("{shown} (used by {users}) is not the image the reports scanned:");
            let mut f = Finding::error("scan-digest-mismatch", String::new()).target(&image.reference);
            for (name, digests) in &mismatched {
                let _ = write!(message, " {name} scanned {}", digests.join(", "));
                f = f.fact("report", name).fact("report_digests", digests.join(", "));
            }
            message.push_str("; scan the deployed digest");
            f.message = message;
            out.push(f.fact("deployed", &image.reference).fact("used_by", &users));
        } else {
            out.gap(Unverified::new("scan-report-missing", format!("no report scanned {shown} (used by {users})")));
        }
    }
    let mut undeployed = std::collections::BTreeSet::new();
    for (ri, r) in reports.iter().enumerate() {
        let mut any_used = false;
        let mut count = 0;
        for (ti, (target, _)) in r.report.images().enumerate() {
            count += 1;
            if used.contains_key(&(ri, ti)) {
                any_used = true;
            } else {
                out.fact(
                    format!("{} not deployed", r.name),
                    format!("{}: no container in the namespaces in scope runs it", target.name),
                );
            }
        }
        if count > 0 && !any_used {
            undeployed.insert(ri);
        }
    }
    undeployed
}

/// `Pod a/b container c` or `Pod a/b container c and 3 more`.
fn describe_users(users: &[String]) -> String {
    match users {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    }
}
