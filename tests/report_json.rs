//! The JSON report: snapshot, round trip, schema-version check, and the committed JSON Schema
//! (docs/report-schema.json) staying in step with the model.

mod common;

use kgents_gate::report::json::report_json_schema_string;
use kgents_gate::report::{ParseReportError, REPORT_SCHEMA_VERSION, parse_json, render_json, report_json_schema};

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(render_json(&common::sample()));
}

#[test]
fn schema_version_comes_first() {
    let json = render_json(&common::sample());
    assert!(json.starts_with(&format!("{{\n  \"schema_version\": {REPORT_SCHEMA_VERSION},\n")), "{}", &json[..60]);
}

#[test]
fn round_trip() {
    let report = common::sample();
    let parsed = parse_json(&render_json(&report)).unwrap();
    assert_eq!(parsed, report);
}

#[test]
fn other_schema_version_is_refused_clearly() {
    let json = render_json(&common::sample()).replacen(
        &format!("\"schema_version\": {REPORT_SCHEMA_VERSION}"),
        "\"schema_version\": 99",
        1,
    );
    let err = parse_json(&json).unwrap_err();
    assert!(matches!(err, ParseReportError::SchemaVersion { .. }), "{err:?}");
    assert!(err.to_string().contains("report schema version 99 is not supported"), "{err}");
    assert!(err.to_string().contains(&format!("reads versions 1 to {REPORT_SCHEMA_VERSION}")), "{err}");
    // A version 1 report (no per-item gaps) still reads, for `diff` against older runs.
    let mut v1: serde_json::Value = serde_json::from_str(&render_json(&common::sample())).unwrap();
    v1["schema_version"] = 1.into();
    for item in v1["items"].as_array_mut().unwrap() {
        item.as_object_mut().unwrap().remove("gaps");
    }
    let v1 = v1.to_string();
    assert!(!v1.contains("\"gaps\""));
    assert!(parse_json(&v1).is_ok());
}

#[test]
fn malformed_input_errors_without_panicking() {
    assert!(matches!(parse_json("not json"), Err(ParseReportError::Json(_))));
    assert!(matches!(parse_json("{}"), Err(ParseReportError::MissingSchemaVersion)));
    assert!(matches!(parse_json("{\"schema_version\": \"1\"}"), Err(ParseReportError::SchemaVersion { .. })));
    let err = parse_json("{\"schema_version\": 1, \"tool\": 3}").unwrap_err();
    assert!(matches!(err, ParseReportError::Invalid { .. }), "{err:?}");
}

#[test]
fn schema_describes_the_report() {
    let schema = report_json_schema();
    assert_eq!(schema["title"], "Report");
    let required = schema["required"].as_array().unwrap();
    for field in ["schema_version", "decision", "items", "blocking", "waivers", "signoffs", "provenance"] {
        assert!(required.iter().any(|r| r == field), "{field} is required");
    }
    let outcomes = &schema["$defs"]["Outcome"];
    let text = outcomes.to_string();
    for o in ["pass", "fail", "warn", "waived", "unverified", "pending", "skipped"] {
        assert!(text.contains(&format!("\"{o}\"")), "outcome {o} in schema");
    }
}

/// docs/report-schema.json is generated; this fails when the model changed and the file did not.
#[test]
fn committed_schema_matches_the_model() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json");
    let generated = report_json_schema_string();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        // Regenerate, then fall through: the comparison below must still hold.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    // Compared as JSON values, so key order (which depends on serde_json features) does not matter.
    let committed: Option<serde_json::Value> =
        std::fs::read_to_string(&path).ok().and_then(|s| serde_json::from_str(&s).ok());
    assert!(
        committed.as_ref() == Some(&report_json_schema()),
        "{} is out of date with the report model; regenerate it with\n    \
         UPDATE_SCHEMA=1 cargo test --test report_json committed_schema_matches_the_model\nand commit it",
        path.display()
    );
}
