//! The parameters and the pure verdict material of the scan-report probe, on the corpus reports.

use std::path::Path;

use super::*;
use crate::outcome::Level;
use crate::probe::params::{error_keys, read_for_test};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpora/scan");

fn params(src: &str) -> ScanReportParams {
    read_for_test(src, ScanReportParams::read).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn defaults_and_bad_parameters() {
    let p = params("reports = [\"scans/*.json\"]");
    assert_eq!(
        (p.fail_on, p.ignore_unfixed, p.max_age, p.match_images),
        (Severity::High, false, DEFAULT_MAX_AGE, true)
    );
    assert_eq!(p.exclude_namespaces, ["kube-system", "kube-public", "kube-node-lease"]);
    let errs = read_for_test("fail_on = \"hihg\"\nmax_age = \"0s\"\nignore_unfixd = true", ScanReportParams::read)
        .unwrap_err();
    assert_eq!(error_keys(&errs), ["reports", "fail_on", "max_age", "ignore_unfixd"]);
    assert!(errs[1].message.contains("hihg"), "{errs:?}");
    let errs = read_for_test("reports = []", ScanReportParams::read).unwrap_err();
    assert!(errs[0].message.contains("names no report"), "{errs:?}");
    let errs = read_for_test("reports = [\"scans/[a.json\"]", ScanReportParams::read).unwrap_err();
    assert!(errs[0].message.contains("not a valid pattern"), "{errs:?}");
    assert!(needs(&params("reports = [\"a.json\"]\nmatch_images = false")).is_empty());
    assert_eq!(needs(&p).len(), 1 + WORKLOAD_KINDS.len());
}

#[test]
fn ages_are_judged_at_the_end_of_an_overridden_day() {
    let day = jiff::civil::date(2021, 8, 25);
    assert_eq!(judged_at(day), "2021-08-26T00:00:00Z".parse::<Timestamp>().unwrap());
    let today = jiff::ZonedDateTime::now().date();
    assert!(judged_at(today).duration_since(Timestamp::now()).abs() < jiff::SignedDuration::from_secs(5));
}

#[test]
fn a_pattern_matching_nothing_and_a_missing_file_are_gaps_never_zero_findings() {
    let r = read_all(&["trivy/*.json".into(), "nope/*.json".into(), "edge/absent.json".into()], Path::new(CORPUS));
    assert_eq!(r.read.len(), 4);
    assert_eq!(r.read[0].name, "trivy/alpine-310-registry.json");
    let gaps: Vec<(&str, &str)> = r.gaps.iter().map(|g| (g.code.as_str(), g.reason.as_str())).collect();
    assert_eq!(
        gaps,
        [
            ("scan-report-missing", "`nope/*.json` matches no file: no scan report to judge"),
            ("scan-report-unreadable", "edge/absent.json: cannot read the scan report: no such file"),
        ]
    );
    let truncated = read_all(&["edge/trivy-truncated.json".into()], Path::new(CORPUS));
    assert!(truncated.gaps[0].reason.starts_with("edge/trivy-truncated.json:"), "{:?}", truncated.gaps);
}

#[test]
fn levels_follow_the_threshold_and_unknown_always_fails() {
    let p = params("reports = [\"x\"]\nmax_age = \"100000d\"\nmatch_images = false");
    let reports =
        read_all(&["trivy/debian-buster.json".into(), "trivy/alpine-distroless.json".into()], Path::new(CORPUS));
    let out = judge(reports, None, &p, Timestamp::now());
    let got: Vec<(&str, Level, &str)> =
        out.findings().iter().map(|f| (f.code.as_str(), f.level, f.evidence[0].value.as_str())).collect();
    assert!(got.contains(&("scan-vulnerability", Level::Error, "CVE-2019-18224")), "{got:?}");
    assert!(got.contains(&("scan-vulnerability", Level::Warning, "CVE-2019-18276")), "{got:?}");
    assert!(got.contains(&("scan-severity-unknown", Level::Error, "CVE-2021-38561")), "{got:?}");
    assert!(out.gaps().is_empty());
}
