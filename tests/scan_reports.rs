//! Scan reports as the tools write them (tests/corpora/scan/README.md says where each comes
//! from): every format is recognised from its content, read into the one model, and judged by
//! the gate's rules (threshold, unfixed, age, deployed image).

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use kgents_gate::scan::{
    AgeSource, ImageMatch, MatchedBy, ReportFormat, ScanError, ScanReport, Severity, TargetKind, Threshold,
    match_image, read_report,
};

const CORPUS: &str = "tests/corpora/scan";

fn read(rel: &str) -> ScanReport {
    let path = Path::new(CORPUS).join(rel);
    read_report(&path).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_err(rel: &str) -> ScanError {
    match read_report(&Path::new(CORPUS).join(rel)) {
        Ok(r) => panic!("{rel} was read: {r:#?}"),
        Err(e) => e,
    }
}

fn ids(r: &ScanReport) -> Vec<&str> {
    r.vulnerabilities.iter().map(|v| v.id.as_str()).collect()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn trivy_image_from_a_registry() {
    let r = read("trivy/alpine-310-registry.json");
    assert_eq!(r.format, ReportFormat::Trivy);
    assert_eq!((r.scanner.name.as_str(), r.scanner.version.as_deref()), ("Trivy", None));
    assert_eq!(r.timestamp, Some(ts("2021-08-25T12:20:30.000000005Z")));
    assert_eq!(ids(&r), ["CVE-2019-1549", "CVE-2019-1551", "CVE-2019-1549", "CVE-2019-1551"]);
    assert!(r.vulnerabilities.iter().all(|v| v.severity == Severity::Medium && v.fixed.is_some()));
    let v = &r.vulnerabilities[1];
    assert_eq!(
        (v.package.as_str(), v.installed.as_deref(), v.fixed.as_deref()),
        ("libcrypto1.1", Some("1.1.1c-r0"), Some("1.1.1d-r2"))
    );
    assert_eq!(v.status.as_deref(), Some("fixed"));
    assert_eq!(v.target, "localhost:53869/alpine:3.10 (alpine 3.10.2)");
    assert_eq!(r.targets.len(), 2);
    assert_eq!(r.targets[1].kind, TargetKind::OsPackages);
    let (target, image) = r.images().next().unwrap();
    assert_eq!((target.name.as_str(), target.kind), ("localhost:53869/alpine:3.10", TargetKind::Image));
    assert_eq!(image.references, ["localhost:53869/alpine:3.10"]);
    assert_eq!(
        image.repo_digests,
        ["localhost:53869/alpine@sha256:b1c5a500182b21d0bfa5a584a8526b56d8be316f89e87d951be04abed2446e60"]
    );
    assert_eq!(
        image.image_id.as_deref(),
        Some("sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4")
    );
    assert!(!r.nothing_scanned);
    assert!(Threshold::default().blocking(&r).is_empty(), "medium is below the default threshold");
}

#[test]
fn trivy_os_and_language_targets_unknown_and_unfixed() {
    let r = read("trivy/alpine-distroless.json");
    let kinds: Vec<TargetKind> = r.targets.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [TargetKind::Image, TargetKind::OsPackages, TargetKind::LanguagePackages]);
    let go = &r.vulnerabilities[1];
    assert_eq!(
        (go.id.as_str(), go.package.as_str(), go.severity),
        ("CVE-2021-38561", "golang.org/x/text", Severity::Unknown)
    );
    assert_eq!(go.target, "usr/bin/git-lfs");

    let r = read("trivy/debian-buster.json");
    let bash = &r.vulnerabilities[0];
    assert_eq!((bash.package.as_str(), bash.severity, bash.fixed.as_deref()), ("bash", Severity::Low, None));
    assert_eq!(bash.status.as_deref(), Some("affected"));
    let idn = &r.vulnerabilities[1];
    assert_eq!((idn.severity, idn.fixed.as_deref()), (Severity::Critical, Some("2.0.5-1+deb10u1")));
    assert_eq!(idn.aliases, ["DSA-4613-1"]);
    assert_eq!(Threshold::default().blocking(&r).len(), 1);
    let low = Threshold { fail_on: Severity::Low, ..Threshold::default() };
    assert_eq!(low.blocking(&r).len(), 2);
    assert_eq!(Threshold { ignore_unfixed: true, ..low }.blocking(&r).len(), 1, "bash has no fix");
}

#[test]
fn trivy_repository_scan_of_a_requirements_file() {
    let r = read("trivy/pip.json");
    assert_eq!((r.targets[0].kind, r.targets[0].name.as_str()), (TargetKind::Directory, "testdata/fixtures/repo/pip"));
    assert_eq!((r.targets[1].kind, r.targets[1].name.as_str()), (TargetKind::LanguagePackages, "requirements.txt"));
    assert!(r.images().next().is_none());
    let sev: Vec<Severity> = r.vulnerabilities.iter().map(|v| v.severity).collect();
    assert_eq!(sev, [Severity::High, Severity::Medium]);
    assert_eq!(r.vulnerabilities[0].fixed.as_deref(), Some("0.15.3"));
}

#[test]
fn grype_presenter_snapshots() {
    let r = read("grype/TestJsonImgsPresenter.golden.json");
    assert_eq!(r.format, ReportFormat::Grype);
    assert_eq!(
        (r.scanner.name.as_str(), r.scanner.version.as_deref()),
        ("grype", None),
        "[not provided] is no version"
    );
    assert_eq!(r.timestamp, None, "an empty timestamp is none");
    assert_eq!(ids(&r), ["CVE-1999-0001", "CVE-1999-0002"]);
    let (low, crit) = (&r.vulnerabilities[0], &r.vulnerabilities[1]);
    assert_eq!((low.severity, low.fixed.as_deref()), (Severity::Low, Some("1.2.1, 2.1.3, 3.4.0")));
    assert_eq!((low.package.as_str(), low.installed.as_deref()), ("package-1", Some("1.1.1")));
    assert_eq!((crit.severity, crit.fixed.as_deref(), crit.status.as_deref()), (Severity::Critical, None, None));
    let (target, image) = r.images().next().unwrap();
    assert_eq!(target.name, "user-input");
    assert_eq!(
        image.manifest_digest.as_deref(),
        Some("sha256:ca738abb87a8d58f112d3400ebb079b61ceae7dc290beb34bda735be4b1941d5")
    );
    assert_eq!(Threshold::default().blocking(&r).iter().map(|v| v.id.as_str()).collect::<Vec<_>>(), ["CVE-1999-0002"]);

    let r = read("grype/TestJsonDirsPresenter.golden.json");
    assert_eq!((r.targets[0].kind, r.targets[0].name.as_str()), (TargetKind::Directory, "/some/path"));
    assert!(r.vulnerabilities.iter().all(|v| v.target == "/some/path"));

    let r = read("grype/TestEmptyJsonPresenter.golden.json");
    assert!(r.vulnerabilities.is_empty() && r.targets.is_empty());
    assert!(r.nothing_scanned, "source `unknown`: nothing was scanned, zero matches prove nothing");
}

#[test]
fn grype_fix_states_severity_words_and_ignores() {
    let r = read("edge/grype-fix-states.json");
    assert_eq!(r.scanner.version.as_deref(), Some("0.79.3"));
    assert_eq!(r.timestamp, Some(ts("2026-11-30T13:15:42.123456789Z")));
    assert_eq!(r.ignored_by_scanner, 1);
    let got: Vec<(&str, Severity, Option<&str>, Option<&str>)> = r
        .vulnerabilities
        .iter()
        .map(|v| (v.id.as_str(), v.severity, v.fixed.as_deref(), v.status.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("CVE-2005-2541", Severity::Negligible, None, Some("not-fixed")),
            ("CVE-2023-4039", Severity::Medium, None, Some("wont-fix")),
            ("GHSA-9wx4-h78v-vm56", Severity::High, Some("2.32.0"), Some("fixed")),
            ("CVE-2024-0001", Severity::Unknown, None, Some("unknown")),
        ]
    );
    assert!(r.vulnerabilities[0].aliases.is_empty(), "its own id is no alias");
    assert_eq!(r.vulnerabilities[2].aliases, ["CVE-2024-35195"]);

    let blocking = |t: Threshold| t.blocking(&r).iter().map(|v| v.id.as_str()).collect::<Vec<_>>();
    assert_eq!(blocking(Threshold::default()), ["GHSA-9wx4-h78v-vm56", "CVE-2024-0001"]);
    assert_eq!(blocking(Threshold { ignore_unfixed: true, ..Threshold::default() }), ["GHSA-9wx4-h78v-vm56"]);
    assert_eq!(blocking(Threshold { unknown_fails: false, ..Threshold::default() }), ["GHSA-9wx4-h78v-vm56"]);
    let medium = Threshold { fail_on: Severity::Medium, ..Threshold::default() };
    assert_eq!(blocking(medium), ["GHSA-9wx4-h78v-vm56", "CVE-2023-4039", "CVE-2024-0001"]);
    let all = Threshold { fail_on: Severity::Negligible, ..Threshold::default() };
    assert_eq!(blocking(all).len(), 4);
}

#[test]
fn pip_audit_examples_and_the_legacy_list() {
    let r = read("pip-audit/test_json.json");
    assert_eq!(r.format, ReportFormat::PipAudit);
    assert_eq!((r.scanner.version.as_deref(), r.timestamp), (None, None));
    assert_eq!(ids(&r), ["VULN-0", "VULN-1", "VULN-2"]);
    assert!(r.vulnerabilities.iter().all(|v| v.severity == Severity::Unknown), "pip-audit rates nothing");
    let v0 = &r.vulnerabilities[0];
    assert_eq!(
        (v0.package.as_str(), v0.installed.as_deref(), v0.fixed.as_deref()),
        ("foo", Some("1.0"), Some("1.1, 1.4"))
    );
    assert_eq!(v0.aliases, ["CVE-0000-00000"]);
    assert_eq!(r.vulnerabilities[2].fixed, None);
    assert_eq!(Threshold::default().blocking(&r).len(), 3, "unrated findings block by default");
    assert_eq!(Threshold { unknown_fails: false, ..Threshold::default() }.blocking(&r).len(), 0);

    let r = read("pip-audit/test_json_skipped_dep.json");
    assert_eq!(ids(&r), ["VULN-0"]);
    assert_eq!(r.not_audited.len(), 1);
    assert_eq!((r.not_audited[0].package.as_str(), r.not_audited[0].reason.as_str()), ("bar", "skip-reason"));
    assert!(!r.nothing_scanned);

    let r = read("pip-audit/readme-legacy-list.json");
    assert_eq!(r.format, ReportFormat::PipAudit);
    assert_eq!(ids(&r), ["PYSEC-2019-179", "PYSEC-2018-66"]);
    assert_eq!(r.vulnerabilities[1].fixed.as_deref(), Some("0.12.3"));
}

#[test]
fn pip_audit_recorded_here_audited_nothing() {
    // The vulnerability service pip-audit uses (PyPI's per-version JSON API) does not answer
    // from this machine: pip-audit skips every dependency and still says "No known vulnerabilities".
    let r = read("recorded/pip-audit-2.10.1.json");
    assert!(r.vulnerabilities.is_empty());
    let skipped: Vec<&str> = r.not_audited.iter().map(|n| n.package.as_str()).collect();
    assert_eq!(skipped, ["requests", "urllib3", "jinja2"]);
    assert!(r.not_audited[0].reason.contains("could not be audited"));
    assert!(r.nothing_scanned, "all dependencies skipped is not a clean scan");
    assert_eq!(r.sha256, "f876ad9d21773fe8beb99bd1328207f744e75a9121b1079c213f4e4b70283e23");

    let r = read("edge/pip-audit-empty.json");
    assert!(r.nothing_scanned && r.vulnerabilities.is_empty());
}

#[test]
fn safety_check_reports() {
    let r = read("recorded/safety-2.1.1.json");
    assert_eq!(r.format, ReportFormat::SafetyCheck);
    assert_eq!((r.scanner.name.as_str(), r.scanner.version.as_deref()), ("Safety", Some("2.1.1")));
    assert!(r.timestamp.is_some());
    let got: Vec<(&str, &str, &str)> = r
        .vulnerabilities
        .iter()
        .map(|v| (v.package.as_str(), v.id.as_str(), v.aliases.first().map_or("", String::as_str)))
        .collect();
    assert_eq!(
        got,
        [
            ("requests", "36546", "CVE-2018-18074"),
            ("urllib3", "37071", "CVE-2019-11324"),
            ("urllib3", "38834", "CVE-2020-26137"),
            ("urllib3", "37055", "CVE-2019-11236"),
            ("jinja2", "39525", "CVE-2020-28493"),
        ]
    );
    // The open database carries no CVSS and no fixed versions.
    assert!(r.vulnerabilities.iter().all(|v| v.severity == Severity::Unknown && v.fixed.is_none()));
    assert!(r.vulnerabilities.iter().all(|v| v.target == "requirements.txt"));
    assert_eq!(r.vulnerabilities[1].installed.as_deref(), Some("1.24.1"));
    assert!(!r.nothing_scanned);

    let r = read("safety/test_db-report.json");
    assert_eq!(r.scanner.version.as_deref(), Some("2.0b1"));
    assert_eq!(r.timestamp, Some(ts("2022-04-30T08:16:30Z")), "a zone-less time is read as UTC");
    let v = &r.vulnerabilities[0];
    assert_eq!(
        (v.id.as_str(), v.package.as_str(), v.installed.as_deref()),
        ("25853", "insecure-package", Some("0.1.0"))
    );
    assert_eq!((v.fixed.as_deref(), v.severity), (None, Severity::Unknown), "fixed_versions [\"\"] is no fix");
    assert_eq!(v.target, "/usr/local/lib/python3.9/site-packages");
}

#[test]
fn safety_scan_report() {
    let r = read("safety/scan-test-trimmed.json");
    assert_eq!(r.format, ReportFormat::SafetyScan);
    assert_eq!(r.scanner.version.as_deref(), Some("3.2.14"));
    assert_eq!(r.timestamp, Some(ts("2025-01-08T19:37:44.204202Z")));
    let got: Vec<(&str, Severity, &str)> =
        r.vulnerabilities.iter().map(|v| (v.id.as_str(), v.severity, v.aliases[0].as_str())).collect();
    assert_eq!(
        got,
        [
            ("51340", Severity::High, "CVE-2022-41323"),
            ("38752", Severity::High, "CVE-2020-24584"),
            ("25714", Severity::Medium, "CVE-2015-8213"),
            ("44426", Severity::Medium, "CVE-2021-45452"),
        ]
    );
    assert!(
        r.vulnerabilities
            .iter()
            .all(|v| v.installed.as_deref() == Some("1.8.0") && v.fixed.as_deref() == Some("4.2.17"))
    );
    assert_eq!(r.targets[0].name, "test_requirements.txt");
    assert_eq!(Threshold::default().blocking(&r).len(), 2);
}

#[test]
fn omitted_and_null_vulnerability_lists_are_zero_findings_of_a_real_scan() {
    let r = read("edge/trivy-omitted-arrays.json");
    assert!(r.vulnerabilities.is_empty());
    assert_eq!(r.targets.len(), 4);
    assert!(!r.nothing_scanned);
    let (_, image) = r.images().next().unwrap();
    assert!(image.references == ["registry.example.com/kgents/api:1.4.2"], "RepoTags null");

    let r = read("edge/trivy-empty.json");
    assert!(r.nothing_scanned, "no Results: nothing was scanned");
}

#[test]
fn report_age_from_its_timestamp_or_the_file() {
    let now = ts("2026-12-01T00:00:00Z");
    let r = read("edge/trivy-stale.json");
    let age = r.age(now).unwrap();
    assert_eq!((age.source, age.scanned_at), (AgeSource::ReportTimestamp, ts("2019-06-01T12:00:00Z")));
    assert!(age.older_than(Duration::from_secs(30 * 86_400)));
    assert!(age.days() > 2700);
    assert!(!age.older_than(Duration::MAX));

    // pip-audit writes no timestamp: the file's modification time stands in.
    let r = read("pip-audit/test_json.json");
    let modified = r.file_modified.expect("mtime of a fixture");
    let age = r.age(modified.checked_add(jiff::SignedDuration::from_hours(2)).unwrap()).unwrap();
    assert_eq!(age.source, AgeSource::FileModified);
    assert!(age.older_than(Duration::from_secs(3600)) && !age.older_than(Duration::from_secs(3 * 3600)));

    let future = read("edge/grype-fix-states.json").age(ts("2026-11-01T00:00:00Z")).unwrap();
    assert!(future.age.is_negative() && !future.older_than(Duration::ZERO), "clock skew is not staleness");
}

#[test]
fn stale_report_severity_words_are_read_case_insensitively() {
    let r = read("edge/trivy-stale.json");
    let got: Vec<(Severity, Option<&str>)> =
        r.vulnerabilities.iter().map(|v| (v.severity, v.fixed.as_deref())).collect();
    assert_eq!(got, [(Severity::High, Some("1.52.0-1+deb12u1")), (Severity::Medium, None), (Severity::Unknown, None)]);
}

#[test]
fn deployed_images_against_report_identities() {
    let r = read("trivy/alpine-310-registry.json");
    let (_, image) = r.images().next().unwrap();
    let m = |d: &str| match_image(d, image).unwrap();
    let digest = "sha256:b1c5a500182b21d0bfa5a584a8526b56d8be316f89e87d951be04abed2446e60";
    let by_digest = ImageMatch::Match { by: MatchedBy::Digest };
    assert_eq!(m(&format!("localhost:53869/alpine@{digest}")), by_digest);
    assert_eq!(m(&format!("docker-pullable://localhost:53869/alpine@{digest}")), by_digest);
    assert_eq!(m(&format!("localhost:53869/alpine:3.10@{digest}")), by_digest);
    assert_eq!(
        m("docker://sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4"),
        by_digest,
        "image ID"
    );
    assert_eq!(m("localhost:53869/alpine:3.10"), ImageMatch::Match { by: MatchedBy::Tag });
    let other = "localhost:53869/alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    match m(other) {
        ImageMatch::DigestMismatch { report_digests } => assert!(report_digests.contains(&digest.to_string())),
        got => panic!("{got:?}"),
    }
    assert_eq!(m("localhost:53869/alpine:3.11"), ImageMatch::NoMatch);
    assert_eq!(m("alpine:3.10"), ImageMatch::NoMatch, "Docker Hub's alpine is another repository");

    let r = read("edge/trivy-stale.json");
    let (_, hub) = r.images().next().unwrap();
    let m = |d: &str| match_image(d, hub).unwrap();
    let five = "sha256:5555555555555555555555555555555555555555555555555555555555555555";
    assert_eq!(m("docker.io/library/nginx:1.25.3"), ImageMatch::Match { by: MatchedBy::Tag });
    assert_eq!(m("library/nginx:1.25.3"), ImageMatch::Match { by: MatchedBy::Tag });
    assert_eq!(m(&format!("index.docker.io/library/nginx@{five}")), by_digest);
    assert!(matches!(
        m("nginx@sha256:9999999999999999999999999999999999999999999999999999999999999999"),
        ImageMatch::DigestMismatch { .. }
    ));
    assert_eq!(m("docker.io/nginx:1.25.2"), ImageMatch::NoMatch);
    assert_eq!(m("nginx"), ImageMatch::NoMatch, "latest is not 1.25.3");

    let r = read("grype/TestJsonImgsPresenter.golden.json");
    let (_, image) = r.images().next().unwrap();
    let manifest = "sha256:ca738abb87a8d58f112d3400ebb079b61ceae7dc290beb34bda735be4b1941d5";
    assert_eq!(match_image(&format!("registry.example.com/any/name@{manifest}"), image).unwrap(), by_digest);
    assert_eq!(match_image("registry.example.com/any/name:1.0", image).unwrap(), ImageMatch::NoMatch);

    let r = read("edge/grype-fix-states.json");
    let (_, image) = r.images().next().unwrap();
    let m = |d: &str| match_image(d, image).unwrap();
    assert_eq!(m("registry.example.com/kgents/worker:2.0.1"), ImageMatch::Match { by: MatchedBy::Tag });
    assert_eq!(
        m("registry.example.com/kgents/worker@sha256:8888888888888888888888888888888888888888888888888888888888888888"),
        by_digest
    );
    assert_eq!(
        m("registry.example.com/kgents/worker@sha256:7777777777777777777777777777777777777777777777777777777777777777"),
        by_digest
    );
    assert!(matches!(
        m("registry.example.com/kgents/worker@sha256:abababababababababababababababababababababababababababababababab"),
        ImageMatch::DigestMismatch { .. }
    ));
    assert!(match_image("Not A Reference!", image).is_err());
}

#[test]
fn truncated_unknown_and_empty_files_are_errors() {
    let e = read_err("edge/trivy-truncated.json");
    assert!(matches!(e, ScanError::Truncated { line: 73, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with("tests/corpora/scan/edge/trivy-truncated.json:73:"), "{msg}");
    assert!(msg.contains("truncated") && !msg.contains("Debian Security Tracker"), "{msg}");

    let e = read_err("edge/cyclonedx-unknown-shape.json");
    assert!(matches!(e, ScanError::UnknownShape { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("a JSON object is not a scan report") && msg.contains("Trivy") && msg.contains("pip-audit"),
        "{msg}"
    );
    assert!(!msg.contains("CycloneDX"), "{msg}");

    let e = read_err("no-such-report.json");
    assert_eq!(e.to_string(), "tests/corpora/scan/no-such-report.json: cannot read the scan report: no such file");
    let e = read_err("edge");
    assert!(matches!(e, ScanError::Read { .. }), "{e:?}");
}

#[test]
fn sha256_is_of_the_file_bytes() {
    let r = read("trivy/debian-buster.json");
    assert_eq!(r.sha256, "e17513b910604ef686362106b2412e3c4b32bc2de4d5567ea2538a763540efa3");
}
