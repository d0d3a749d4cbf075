//! The JUnit renderer, read back by a real JUnit reader (Python junitparser, the library many
//! CI integrations use) and by the XML parser of Python's standard library.

mod common;

use std::path::PathBuf;
use std::process::Command;

use kgents_gate::outcome::Outcome;
use kgents_gate::report::{Report, render_junit};
use serde_json::Value;

const READER: &str = r#"
import json, sys
import xml.etree.ElementTree as ET
ET.parse(sys.argv[1])  # raises on XML that is not well formed
from junitparser import JUnitXml
xml = JUnitXml.fromfile(sys.argv[1])
out = []
for suite in xml:
    cases = []
    for case in suite:
        res = case.result[0] if case.result else None
        cases.append({
            "name": case.name, "classname": case.classname, "time": case.time,
            "result": [type(r).__name__ for r in case.result],
            "type": res.type if res is not None else None,
            "message": res.message if res is not None else None,
            "text": res.text if res is not None else None,
            "system_out": case.system_out,
        })
    out.append({
        "name": suite.name, "tests": suite.tests, "failures": suite.failures,
        "errors": suite.errors, "skipped": suite.skipped, "time": suite.time,
        "timestamp": suite.timestamp,
        "properties": {p.name: p.value for p in suite.properties()},
        "cases": cases,
    })
print(json.dumps(out))
"#;

fn python_path() -> PathBuf {
    let cache = match std::env::var_os("KGENTS_GATE_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/kgents-gate"),
    };
    cache.join("py")
}

/// Writes the XML to a file and reads it with junitparser; panics with the install hint when
/// python3 or junitparser is missing.
fn read_with_junitparser(xml: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.xml");
    std::fs::write(&file, xml).unwrap();
    let py = python_path();
    let output =
        Command::new("python3").arg("-c").arg(READER).arg(&file).env("PYTHONPATH", &py).output().unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install the test tools: bash scripts/setup-test-env.sh")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named 'junitparser'"),
        "junitparser is not installed under {}; install the test tools: bash scripts/setup-test-env.sh",
        py.display()
    );
    assert!(output.status.success(), "junitparser could not read the report:\n{stderr}\n--- XML ---\n{xml}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    json.as_array().unwrap().clone()
}

/// What every suite must say, from the report alone: (failures, errors, skipped, tests).
fn expected_counts(report: &Report, category: &str) -> (u64, u64, u64, u64) {
    let items = report.items.iter().filter(|i| i.category == category);
    let (mut f, mut e, mut s, mut t) = (0, 0, 0, 0);
    for i in items {
        t += 1;
        match i.outcome {
            Outcome::Fail | Outcome::Pending => f += 1,
            Outcome::Warn if i.blocks => f += 1,
            Outcome::Unverified => e += 1,
            Outcome::Waived | Outcome::Skipped => s += 1,
            Outcome::Pass | Outcome::Warn => {}
        }
    }
    (f, e, s, t)
}

fn check_against_report(report: &Report, suites: &[Value]) {
    assert_eq!(suites.len(), report.categories.len(), "one suite per category");
    for (suite, cat) in suites.iter().zip(&report.categories) {
        assert_eq!(suite["name"], cat.title.as_str());
        let (f, e, s, t) = expected_counts(report, &cat.id);
        let got = (
            suite["failures"].as_u64().unwrap(),
            suite["errors"].as_u64().unwrap(),
            suite["skipped"].as_u64().unwrap(),
            suite["tests"].as_u64().unwrap(),
        );
        assert_eq!(got, (f, e, s, t), "suite {} (failures, errors, skipped, tests)", cat.id);
        // The attributes agree with the elements the reader found.
        let cases = suite["cases"].as_array().unwrap();
        let kind = |k: &str| cases.iter().filter(|c| c["result"][0] == k).count() as u64;
        assert_eq!((kind("Failure"), kind("Error"), kind("Skipped"), cases.len() as u64), (f, e, s, t));
        let props = &suite["properties"];
        assert_eq!(props["decision"], report.decision.label());
        assert_eq!(props["checklist-sha256"], report.provenance.checklist_sha256.as_str());
        assert_eq!(props["tool-version"], "kgents-gate 0.1.0");
        assert_eq!(suite["timestamp"], "2026-02-14T09:30:00.000+00:00");
    }
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(render_junit(&common::sample()).unwrap());
}

#[test]
fn junitparser_counts_match_the_report() {
    let report = common::sample();
    let suites = read_with_junitparser(&render_junit(&report).unwrap());
    check_against_report(&report, &suites);
}

#[test]
fn each_outcome_maps_to_its_junit_element() {
    let report = common::sample();
    let suites = read_with_junitparser(&render_junit(&report).unwrap());
    let cases: Vec<&Value> = suites.iter().flat_map(|s| s["cases"].as_array().unwrap()).collect();
    let case = |id: &str| *cases.iter().find(|c| c["name"].as_str().unwrap().starts_with(&format!("{id}: "))).unwrap();

    let fail = case("network.nats-isolated");
    assert_eq!(fail["name"], "network.nats-isolated: NATS reachable only from kgents-agents");
    assert_eq!(fail["classname"], "network");
    assert_eq!(fail["result"][0], "Failure");
    assert_eq!(fail["type"], "isolation-allowed-from-denied-source");
    let body = fail["text"].as_str().unwrap();
    assert!(body.contains("deciding policies = kgents-agents/allow-monitoring"), "{body}");
    assert!(body.contains("remediation: Restrict the namespaceSelector"), "{body}");
    assert_eq!(fail["time"], 0.34);

    let pending = case("docs.runbook-reviewed");
    assert_eq!((pending["result"][0].as_str(), pending["type"].as_str()), (Some("Failure"), Some("signoff-pending")));

    let unverified = case("observability.alert-rules");
    assert_eq!((unverified["result"][0].as_str(), unverified["type"].as_str()), (Some("Error"), Some("forbidden")));
    assert!(
        unverified["message"]
            .as_str()
            .unwrap()
            .contains("missing permission: list prometheusrules.monitoring.coreos.com")
    );

    let waived = case("observability.log-aggregation");
    assert_eq!(waived["result"][0], "Skipped");
    let msg = waived["message"].as_str().unwrap();
    assert!(
        msg.contains("owner ops-lead") && msg.contains("expires 2026-03-31") && msg.contains("Loki deferred"),
        "{msg}"
    );

    let skipped = case("availability.nats-pdb");
    assert_eq!(skipped["result"][0], "Skipped");
    assert!(skipped["message"].as_str().unwrap().contains("deselected by --only"));

    let warn = case("secrets.rotation-age");
    assert_eq!(warn["result"].as_array().unwrap().len(), 0, "a non-blocking warning passes");
    assert!(
        warn["system_out"].as_str().unwrap().contains("warning (does not block the launch): secret-rotation-overdue")
    );

    let pass = case("docs.runbook");
    assert_eq!(pass["result"].as_array().unwrap().len(), 0);
}

#[test]
fn blocking_warning_under_strict_is_a_failure() {
    let mut report = common::sample();
    report.strict = true;
    let warn = report.items.iter_mut().find(|i| i.outcome == Outcome::Warn).unwrap();
    warn.blocks = true;
    common::recompute(&mut report);
    let suites = read_with_junitparser(&render_junit(&report).unwrap());
    check_against_report(&report, &suites);
    let secrets = suites.iter().find(|s| s["name"] == "Secrets management").unwrap();
    assert_eq!(secrets["failures"], 1);
}

#[test]
fn hostile_text_still_gives_well_formed_xml() {
    let mut report = common::sample();
    report.items[0].message = "<evil attr=\"x\"> & ]]> \x1b[31m\x00 \u{FFFE} done".into();
    report.items[1].evidence[0].value = "</failure><testcase name=\"fake\"/>".into();
    report.launch.name = "quotes \" and 'apostrophes'".into();
    let suites = read_with_junitparser(&render_junit(&report).unwrap());
    check_against_report(&report, &suites);
    let all: usize = suites.iter().map(|s| s["cases"].as_array().unwrap().len()).sum();
    assert_eq!(all, report.items.len(), "no injected test case");
}
