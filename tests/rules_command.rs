//! `kgents-gate rules check` as a user or a CI step runs it: the corpus rule files, the kgents
//! example ConfigMap, PrometheusRule manifests; JSON and text output; exit codes 0, 1 and 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kgents_gate::rules::{self, codes};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn gate(args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(root()).env("NO_COLOR", "1").output().unwrap()
}

/// Runs `rules check --format json` and returns the exit code and the entries.
fn check_json(args: &[&str]) -> (i32, Vec<Value>) {
    let mut all = vec!["rules", "check", "--format", "json"];
    all.extend_from_slice(args);
    let out = gate(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let entries: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), entries)
}

fn codes_of(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .flat_map(|e| e["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_string()))
        .collect()
}

fn errors_in(entries: &[Value]) -> usize {
    entries.iter().flat_map(|e| e["findings"].as_array().unwrap()).filter(|f| f["severity"] == "error").count()
}

const EXAMPLE: &str = "examples/kgents/manifests/observability.yaml";

#[test]
fn the_kgents_example_configmap_has_no_error_findings() {
    let (code, entries) = check_json(&[EXAMPLE]);
    assert_eq!(code, 0, "{entries:#?}");
    assert_eq!(entries.len(), 8);
    for e in &entries {
        assert!(e["alert"].is_string(), "{e}");
        assert_eq!(e["source"]["kind"], "ConfigMap");
        assert_eq!(e["source"]["namespace"], "kgents-observability");
        assert_eq!(e["source"]["name"], "prometheus-alerting-rules");
        assert_eq!(e["source"]["file"], EXAMPLE);
        assert!(e["group"].is_string() && e["source"]["key"].is_string(), "{e}");
        // Complete alerts: not even a missing runbook or summary.
        assert_eq!(e["findings"], serde_json::json!([]), "{e}");
    }
    // The JSON is exactly the library's stable list.
    let lib = rules::check_paths(&[root().join(EXAMPLE)]).unwrap();
    let mut sev: Vec<&str> = lib.iter().filter_map(|e| e.severity()).collect();
    sev.sort();
    assert_eq!(sev, [["critical"; 3].as_slice(), ["warning"; 5].as_slice()].concat());
    let names: Vec<&str> = entries.iter().map(|e| e["alert"].as_str().unwrap()).collect();
    let lib_names: Vec<&str> = lib.iter().filter_map(|e| e.alert.as_deref()).collect();
    assert_eq!(names, lib_names);
    let mut lib_json = serde_json::to_value(&lib).unwrap();
    for e in lib_json.as_array_mut().unwrap() {
        e["source"]["file"] = EXAMPLE.into();
    }
    assert_eq!(Value::Array(entries), lib_json);

    let out = gate(&["rules", "check", EXAMPLE]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "8 alerting and 0 recording rules: 0 errors, 0 warnings, 0 notes\n");
}

#[test]
fn prometheusrule_manifests_of_kube_prometheus_pass() {
    let (code, entries) = check_json(&["tests/corpora/rules/kube-prometheus"]);
    assert_eq!(code, 0);
    assert_eq!(entries.iter().filter(|e| e["alert"].is_string()).count(), 139);
    assert!(entries.iter().all(|e| e["source"]["kind"] == "PrometheusRule"));
    assert_eq!(errors_in(&entries), 0);
    // Its two deliberate `severity: none` alerts are reported, not as errors.
    assert_eq!(codes_of(&entries).iter().filter(|c| *c == codes::SEVERITY_NONE).count(), 2);
}

#[test]
fn plain_rule_files_without_runbooks_warn_but_pass() {
    let (code, entries) = check_json(&["tests/corpora/rules/awesome-prometheus-alerts/nats_nats-exporter.yml"]);
    assert_eq!(code, 0);
    assert_eq!(entries.len(), 13);
    for e in &entries {
        let findings = e["findings"].as_array().unwrap();
        let runbook = findings.iter().find(|f| f["code"] == codes::RUNBOOK_MISSING).expect("no runbook");
        assert_eq!(runbook["severity"], "warning");
    }
    assert!(entries.iter().all(|e| e["source"].get("kind").is_none()), "plain files name no object");
}

#[test]
fn promtool_invalid_files_exit_1_and_valid_ones_raise_no_promtool_error() {
    let dir = root().join("tests/corpora/rules/prometheus-rulefmt/rulefmt-testdata");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 16);
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let path = f.to_str().unwrap();
        // UTF-8 names are valid for Prometheus 3 only.
        let version = if name.starts_with("utf-8") { "3" } else { "2" };
        let (code, entries) = check_json(&["--prometheus-version", version, path]);
        let promtool_errors =
            codes_of(&entries).iter().filter(|c| codes::PROMTOOL_ERRORS.contains(&c.as_str())).count();
        if name.ends_with(".bad.yaml") {
            assert_eq!(code, 1, "{name}: {entries:#?}");
            assert!(promtool_errors > 0, "{name}: {entries:#?}");
        } else {
            assert_eq!(promtool_errors, 0, "{name}: {entries:#?}");
            // Exit 1 only for kgents' own errors (e.g. an alert without severity).
            assert_eq!(code, i32::from(errors_in(&entries) > 0), "{name}: {entries:#?}");
        }
    }
    // The same UTF-8 label name is an error for Prometheus 2.
    let lname = dir.join("utf-8_lname.good.yaml");
    let (code, entries) = check_json(&[lname.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(codes_of(&entries).contains(&codes::LABEL_NAME_INVALID.to_string()), "{entries:#?}");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

const GOOD_RULES: &str = "    groups:\n    - name: g\n      rules:\n      - alert: Up\n        expr: up == 0\n        for: 5m\n        labels: {severity: warning}\n        annotations: {summary: s, runbook_url: https://r}\n";

#[test]
fn a_configmap_alert_without_severity_exits_1_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rules\n  namespace: obs\ndata:\n  good.yml: |\n{GOOD_RULES}  bad.rules: |\n    groups:\n    - name: g\n      rules:\n      - alert: NoSeverity\n        expr: up == 0\n        for: 5m\n        annotations: {{summary: s, runbook_url: https://r}}\n"
    );
    let path = write(dir.path(), "cm.yaml", &bad);
    let (code, entries) = check_json(&[&path]);
    assert_eq!(code, 1, "{entries:#?}");
    assert_eq!(entries.len(), 2);
    let no_sev = entries.iter().find(|e| e["alert"] == "NoSeverity").unwrap();
    assert_eq!(no_sev["source"]["key"], "bad.rules");
    assert_eq!(no_sev["findings"][0]["code"], codes::SEVERITY_MISSING);
    assert_eq!(no_sev["findings"][0]["severity"], "error");
    let up = entries.iter().find(|e| e["alert"] == "Up").unwrap();
    assert_eq!(up["findings"], serde_json::json!([]));

    let out = gate(&["rules", "check", &path]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ConfigMap obs/rules key bad.rules, group g, alert NoSeverity: error alert-severity-missing"),
        "{text}"
    );
    assert!(text.ends_with("2 alerting and 0 recording rules: 1 errors, 0 warnings, 0 notes\n"), "{text}");

    // Only the good key: exit 0; a folder of such files: same.
    let good = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rules\ndata:\n  good.yml: |\n{GOOD_RULES}");
    let sub = dir.path().join("ok");
    std::fs::create_dir(&sub).unwrap();
    write(&sub, "cm.yaml", &good);
    write(&sub, "unrelated.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n");
    let (code, entries) = check_json(&[sub.to_str().unwrap()]);
    assert_eq!((code, entries.len()), (0, 1), "{entries:#?}");
}

#[test]
fn a_parse_error_is_an_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "broken.yml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(up[5m]\n");
    let (code, entries) = check_json(&[&path]);
    assert_eq!(code, 1);
    let f = &entries[0]["findings"][0];
    assert_eq!(f["code"], codes::EXPR_INVALID);
    assert_eq!(f["line"], 5);
    let out = gate(&["rules", "check", "--format", "text", &path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(line 5): error rule-expr-invalid"));
}

#[test]
fn unreadable_input_and_bad_arguments_exit_2() {
    let out = gate(&["rules", "check", "no/such/rules.yml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/rules.yml"));
    assert!(out.stdout.is_empty(), "nothing half-printed");

    // One unreadable path among good ones still fails the whole run.
    assert_eq!(gate(&["rules", "check", EXAMPLE, "no/such/dir"]).status.code(), Some(2));
    assert_eq!(gate(&["rules", "check"]).status.code(), Some(2));
    assert_eq!(gate(&["rules", "check", "--format", "xml", EXAMPLE]).status.code(), Some(2));
    assert_eq!(gate(&["rules", "check", "--prometheus-version", "4", EXAMPLE]).status.code(), Some(2));
    assert_eq!(gate(&["rules"]).status.code(), Some(2));
}

#[test]
fn custom_severities_change_what_is_known() {
    let (code, entries) = check_json(&["--severities", "page,ticket", EXAMPLE]);
    assert_eq!(code, 0, "an unknown severity is not an error");
    assert_eq!(codes_of(&entries).iter().filter(|c| *c == codes::SEVERITY_UNKNOWN).count(), 8, "{entries:#?}");
}
