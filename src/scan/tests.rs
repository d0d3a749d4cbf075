//! Detection, error messages and robustness: every prefix of a real report is an error, every
//! field of every fixture replaced by every other JSON type is an error or a report, never a panic.

use std::path::Path;

use serde_json::Value;

use super::*;

const CORPUS: &str = "tests/corpora/scan";
const FIXTURES: &[&str] = &[
    "trivy/alpine-310-registry.json",
    "trivy/alpine-distroless.json",
    "trivy/debian-buster.json",
    "trivy/pip.json",
    "grype/TestJsonImgsPresenter.golden.json",
    "grype/TestJsonDirsPresenter.golden.json",
    "grype/TestEmptyJsonPresenter.golden.json",
    "pip-audit/test_json.json",
    "pip-audit/test_json_skipped_dep.json",
    "pip-audit/readme-legacy-list.json",
    "safety/test_db-report.json",
    "safety/scan-test-trimmed.json",
    "recorded/pip-audit-2.10.1.json",
    "recorded/safety-2.1.1.json",
    "edge/grype-fix-states.json",
    "edge/trivy-omitted-arrays.json",
    "edge/trivy-stale.json",
];

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(CORPUS).join(rel)).unwrap()
}

fn parse(text: &str) -> Result<ScanReport, ScanError> {
    parse_report(text.as_bytes(), Path::new("r.json"))
}

#[test]
fn every_fixture_is_recognised_from_its_content() {
    let expect = |rel: &str| match rel.split('/').next() {
        Some("trivy") => ReportFormat::Trivy,
        Some("grype") => ReportFormat::Grype,
        Some("pip-audit") => ReportFormat::PipAudit,
        _ if rel.contains("pip-audit") => ReportFormat::PipAudit,
        _ if rel.contains("scan-test") => ReportFormat::SafetyScan,
        _ if rel.contains("safety") => ReportFormat::SafetyCheck,
        _ if rel.contains("grype") => ReportFormat::Grype,
        _ => ReportFormat::Trivy,
    };
    for rel in FIXTURES {
        // The name plays no part: every fixture parses the same under a neutral name.
        let r = parse_report(&fixture(rel), Path::new("report")).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(r.format, expect(rel), "{rel}");
        assert_eq!(r.sha256.len(), 64);
    }
}

#[test]
fn every_prefix_of_a_report_is_an_error() {
    for rel in ["trivy/debian-buster.json", "grype/TestJsonImgsPresenter.golden.json", "safety/test_db-report.json"] {
        let bytes = fixture(rel);
        let end = bytes.iter().rposition(|&b| b == b'}').unwrap();
        for cut in 0..end {
            match parse_report(&bytes[..cut], Path::new("cut.json")) {
                Err(ScanError::Truncated { .. } | ScanError::Empty { .. } | ScanError::Syntax { .. }) => {}
                other => panic!("{rel} cut at {cut}: {other:?}"),
            }
        }
    }
    // The small single-line reports, at every byte too.
    for rel in ["pip-audit/test_json.json", "recorded/pip-audit-2.10.1.json"] {
        let bytes = fixture(rel);
        let end = bytes.iter().rposition(|&b| b == b'}').unwrap();
        for cut in 0..end {
            assert!(parse_report(&bytes[..cut], Path::new("cut.json")).is_err(), "{rel} cut at {cut}");
        }
    }
}

/// Every node of the document, as a path of keys and indices.
fn paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(Step::Key(k.clone()));
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Step::Index(i));
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn node_mut<'v>(v: &'v mut Value, path: &[Step]) -> &'v mut Value {
    path.iter().fold(v, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

#[test]
fn any_field_of_any_type_never_panics() {
    let replacements = [
        Value::Null,
        Value::Bool(true),
        serde_json::json!(-1.5e300),
        serde_json::json!(""),
        serde_json::json!([{}]),
        serde_json::json!({}),
    ];
    let mut tried = 0usize;
    for rel in FIXTURES {
        let doc: Value = serde_json::from_slice(&fixture(rel)).unwrap();
        let mut all = Vec::new();
        paths(&doc, &mut Vec::new(), &mut all);
        for path in &all {
            for replacement in &replacements {
                let mut mutated = doc.clone();
                *node_mut(&mut mutated, path) = replacement.clone();
                let bytes = serde_json::to_vec(&mutated).unwrap();
                // Either outcome is fine; a panic fails the test.
                let _ = parse_report(&bytes, Path::new("mutated.json"));
                tried += 1;
            }
        }
    }
    assert!(tried > 5_000, "{tried}");
}

#[test]
fn odd_bytes_never_panic() {
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        b"   \n\t".to_vec(),
        b"\xEF\xBB\xBF".to_vec(),
        b"\xFF\xFE{\x00}\x00".to_vec(),
        b"\xEF\xBB\xBF{\"matches\": [], \"source\": {\"type\": \"unknown\"}}".to_vec(),
        vec![0xff; 64],
        b"[".repeat(100_000),
        b"{\"SchemaVersion\":".repeat(10_000),
        b"null".to_vec(),
        b"\"a string\"".to_vec(),
        b"12e99999".to_vec(),
        b"{\"SchemaVersion\": 2} trailing".to_vec(),
        b"{\"dependencies\": [{\"name\": \"x\", \"vulns\": 7}]}".to_vec(),
        b"[[\"django\", \"<1.8\", \"1.7\", \"advisory\", \"1\"]]".to_vec(),
        b"[{\"Target\": \"x\", \"Vulnerabilities\": []}]".to_vec(),
    ];
    for input in inputs {
        let _ = parse_report(&input, Path::new("odd.json"));
    }
    // A BOM is tolerated.
    let r = parse_report(b"\xEF\xBB\xBF{\"matches\": [], \"source\": {\"type\": \"unknown\"}}", Path::new("bom.json"));
    assert!(r.is_ok_and(|r| r.nothing_scanned));
}

#[test]
fn errors_name_the_position_and_never_the_content() {
    let secret = "hunter2-SECRET-token";
    let cases = [
        format!("{{\"SchemaVersion\": 2, \"Results\": [{{\"Target\": \"{secret}\" \"Class\": 1}}]}}"),
        format!("{{\"SchemaVersion\": 2, \"ArtifactName\": \"{secret}\\q\"}}"),
        format!("{{\"SchemaVersion\": 2, \"ArtifactName\": \"{secret}"),
        format!(
            "{{\"SchemaVersion\": 2, \"Results\": [{{\"Target\": \"{secret}\", \"Vulnerabilities\": [{{\"VulnerabilityID\": \"CVE-1\", \"PkgName\": {{\"{secret}\": \"{secret}\"}}}}]}}]}}"
        ),
        format!("{{\"SchemaVersion\": 2, \"CreatedAt\": \"{secret}\"}}"),
        format!("{{\"{secret}\": \"{secret}\"}}"),
        format!("{{\"matches\": \"{secret}\", \"source\": {{}}}}"),
        format!("{{\"report_meta\": {{\"timestamp\": \"{secret}\"}}, \"vulnerabilities\": []}}"),
        format!("[\"{secret}\"]"),
    ];
    for case in &cases {
        let e = parse(case).unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.starts_with("r.json"), "{msg}");
    }
    let e = parse("{\"SchemaVersion\": 2,\n  \"Results\": [}").unwrap_err();
    assert!(matches!(e, ScanError::Syntax { line: 2, column: 15, .. }), "{e:?}");
    assert_eq!(e.to_string(), "r.json:2:15: not valid JSON: expected value");

    let e = parse(&cases[3]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "r.json: not a readable Trivy report: Results[0].Vulnerabilities[0].PkgName: expected a string, found an object"
    );
}

#[test]
fn unknown_and_outdated_shapes_say_what_was_expected() {
    let msg = |t: &str| parse(t).unwrap_err().to_string();
    assert!(msg("{}").contains("an empty JSON object is not a scan report"));
    assert!(msg("[]").contains("an empty JSON list"));
    assert!(msg("42").contains("a number at the top level"));
    assert!(msg("[[\"django\", \"<1.8\", \"1.7\", \"x\", \"1\"]]").contains("Safety 1.x"));
    assert!(msg("[{\"Target\": \"x\", \"Vulnerabilities\": []}]").contains("Trivy before 0.20"));
    assert!(msg("{\"SchemaVersion\": 1, \"Results\": []}").contains("SchemaVersion: only SchemaVersion 2 is read"));
    assert!(msg("{\"ArtifactName\": \"a\", \"Results\": []}").contains("SchemaVersion: missing"));
    assert!(msg("{\"matches\": {}, \"source\": {}}").contains("Grype report: matches: expected a list"));
    assert!(msg("{\"dependencies\": [{\"version\": \"1\"}]}").contains("dependencies[0].name: missing"));
    assert!(msg("[{\"name\": \"a\", \"vulns\": [{\"fix_versions\": []}]}]").contains("[0].vulns[0].id: missing"));
    assert!(
        msg("{\"meta\": {}, \"scan_results\": {\"projects\": [{\"files\": [{}]}]}}")
            .contains("scan_results.projects[0].files[0].location: missing")
    );
    for s in ["{}", "[]", "42"] {
        assert!(msg(s).contains("expected the JSON report of Trivy (`trivy image -f json`)"), "{s}");
    }
}

#[test]
fn empty_reports_are_flagged_not_clean() {
    assert!(parse("{\"SchemaVersion\": 2, \"ArtifactName\": \"x\", \"Results\": null}").unwrap().nothing_scanned);
    assert!(
        parse("{\"SchemaVersion\": 2, \"Results\": [{\"Target\": \"Dockerfile\", \"Class\": \"config\"}]}")
            .unwrap()
            .nothing_scanned
    );
    assert!(
        !parse("{\"SchemaVersion\": 2, \"Results\": [{\"Target\": \"t\", \"Class\": \"os-pkgs\"}]}")
            .unwrap()
            .nothing_scanned
    );
    assert!(
        parse("{\"matches\": [], \"source\": {\"type\": \"unknown\", \"target\": \"unknown\"}}")
            .unwrap()
            .nothing_scanned
    );
    assert!(
        !parse("{\"matches\": [], \"source\": {\"type\": \"directory\", \"target\": \"/src\"}}")
            .unwrap()
            .nothing_scanned
    );
    assert!(parse("{\"dependencies\": [{\"name\": \"a\", \"skip_reason\": \"r\"}]}").unwrap().nothing_scanned);
    assert!(parse("{\"report_meta\": {}, \"scanned_packages\": {}, \"vulnerabilities\": []}").unwrap().nothing_scanned);
    assert!(parse("{\"report_meta\": {\"packages_found\": 0}, \"vulnerabilities\": []}").unwrap().nothing_scanned);
    assert!(parse("{\"meta\": {}, \"scan_results\": {\"files\": [], \"projects\": []}}").unwrap().nothing_scanned);
}

#[test]
fn null_lists_are_zero_findings() {
    for doc in [
        "{\"matches\": null, \"source\": {\"type\": \"directory\", \"target\": \"/src\"}}",
        "{\"dependencies\": [{\"name\": \"a\", \"version\": \"1\", \"vulns\": null}]}",
        "{\"report_meta\": {\"scanned\": null}, \"vulnerabilities\": null}",
        "{\"SchemaVersion\": 2, \"Results\": [{\"Target\": \"t\", \"Class\": \"os-pkgs\", \"Vulnerabilities\": null}]}",
    ] {
        let r = parse(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        assert!(r.vulnerabilities.is_empty(), "{doc}");
    }
}

#[test]
fn safety_cvss_blocks_and_trivy_version() {
    let doc = r#"{"report_meta": {"safety_version": "2.3.5", "scanned": ["req.txt"]}, "scanned_packages": {"a": {}},
        "vulnerabilities": [
          {"vulnerability_id": "1", "package_name": "a", "CVE": {"name": "CVE-1"},
           "severity": {"source": "CVE-1", "cvssv2": {"base_score": 7.5}, "cvssv3": {"base_score": 9.8, "base_severity": "CRITICAL"}}},
          {"vulnerability_id": "2", "package_name": "a", "severity": {"cvssv2": {"base_score": 5.0}, "cvssv3": null}},
          {"vulnerability_id": "3", "package_name": "a", "severity": {"cvssv3": {"base_score": 7.1}}},
          {"vulnerability_id": "4", "package_name": "a", "fixed_versions": ["1.2", "2.0"]}
        ], "ignored_vulnerabilities": [{}, {}]}"#;
    let r = parse(doc).unwrap();
    let sev: Vec<Severity> = r.vulnerabilities.iter().map(|v| v.severity).collect();
    assert_eq!(sev, [Severity::Critical, Severity::Medium, Severity::High, Severity::Unknown]);
    assert_eq!(r.vulnerabilities[0].aliases, ["CVE-1"]);
    assert_eq!(r.vulnerabilities[3].fixed.as_deref(), Some("1.2, 2.0"));
    assert_eq!(r.vulnerabilities[0].target, "req.txt");
    assert_eq!(r.ignored_by_scanner, 2);

    let r = parse(r#"{"SchemaVersion": 2, "Trivy": {"Version": "0.58.1"}, "Results": []}"#).unwrap();
    assert_eq!(r.scanner.version.as_deref(), Some("0.58.1"));

    let ignored = r#"{"meta": {}, "scan_results": {"files": [{"location": "req.txt", "results": {"dependencies": [
        {"name": "a", "specifications": [{"raw": "a>=1", "vulnerabilities": {"known_vulnerabilities": [
          {"id": "9", "ignored": {"code": "manual", "reason": "r", "expires": null}, "vulnerable_spec": "<2"},
          {"id": "10", "vulnerable_spec": "<2"}]}}]}]}}]}}"#;
    let r = parse(ignored).unwrap();
    assert_eq!((r.vulnerabilities.len(), r.ignored_by_scanner), (1, 1));
    assert_eq!((r.vulnerabilities[0].installed.as_deref(), r.vulnerabilities[0].fixed.as_deref()), (None, None));
}

#[test]
fn timestamps_of_each_shape() {
    let t = |s: &str| parse_time(Some(s)).unwrap().map(|t| t.to_string());
    assert_eq!(t("2021-08-25T12:20:30.000000005Z").as_deref(), Some("2021-08-25T12:20:30.000000005Z"));
    assert_eq!(t("2026-11-30T08:15:42-05:00").as_deref(), Some("2026-11-30T13:15:42Z"));
    assert_eq!(t("2022-04-30 08:16:30").as_deref(), Some("2022-04-30T08:16:30Z"));
    assert_eq!(t("2023-03-28T15:30:24").as_deref(), Some("2023-03-28T15:30:24Z"));
    assert_eq!(t("  ").as_deref(), None);
    assert!(parse_time(Some("yesterday")).is_err());
    assert_eq!(parse_time(None), Ok(None));
}
