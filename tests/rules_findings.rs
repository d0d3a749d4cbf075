//! Every rule finding code, each with a case that triggers it and a near miss that does not.

use kgents_gate::outcome::Level;
use kgents_gate::rules::lint::{ExpectedAlert, judge_expected, lint_entries};
use kgents_gate::rules::sources::entries_from_text;
use kgents_gate::rules::{CheckOptions, PromVersion, RuleEntry, codes};

fn check_with(text: &str, opts: &CheckOptions) -> Vec<RuleEntry> {
    let mut entries = entries_from_text(text, "rules.yaml", opts, true);
    lint_entries(&mut entries, opts);
    entries
}

fn check(text: &str) -> Vec<RuleEntry> {
    check_with(text, &CheckOptions::default())
}

fn codes_of(entries: &[RuleEntry]) -> Vec<String> {
    entries.iter().flat_map(|e| e.findings.iter().map(|f| f.code.clone())).collect()
}

/// One alert in one group, with its body lines given (indented under the rule).
fn alert(body: &str) -> String {
    let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
    format!("groups:\n- name: g\n  rules:\n  - alert: A\n{body}")
}

const GOOD: &str =
    "expr: up == 0\nfor: 5m\nlabels: {severity: critical}\nannotations: {summary: s, runbook_url: 'https://r'}";

#[test]
fn a_complete_alert_has_no_finding() {
    assert_eq!(codes_of(&check(&alert(GOOD))), Vec::<String>::new());
}

#[test]
fn each_code_triggers_and_its_near_miss_does_not() {
    let g = |extra: &str| alert(&format!("{GOOD}\n{extra}"));
    let cases: Vec<(&str, String, String)> = vec![
        (codes::FILE_UNPARSABLE, "groups: [\n".into(), "groups: []\n".into()),
        (
            codes::FILE_UNPARSABLE,
            alert(&GOOD.replace("labels: {severity: critical}", "labels: [severity]")),
            alert(GOOD),
        ),
        (codes::UNKNOWN_FIELD, g("annotation: {x: y}"), g("")),
        (codes::UNKNOWN_FIELD, "groups: []\ntests: []\n".into(), "groups: []\n".into()),
        (codes::GROUP_NAME_MISSING, "groups:\n- rules: []\n".into(), "groups:\n- name: x\n  rules: []\n".into()),
        (codes::GROUP_DUPLICATE, "groups:\n- name: x\n- name: x\n".into(), "groups:\n- name: x\n- name: y\n".into()),
        (
            codes::GROUP_FIELD_INVALID,
            "groups:\n- name: x\n  interval: 30\n".into(),
            "groups:\n- name: x\n  interval: 30s\n".into(),
        ),
        (
            codes::GROUP_FIELD_INVALID,
            "groups:\n- name: x\n  limit: ten\n".into(),
            "groups:\n- name: x\n  limit: 10\n".into(),
        ),
        (codes::KIND_CONFLICT, g("record: r"), g("")),
        (
            codes::KIND_MISSING,
            "groups:\n- name: x\n  rules:\n  - expr: up\n".into(),
            "groups:\n- name: x\n  rules:\n  - record: r\n    expr: up\n".into(),
        ),
        (codes::EXPR_MISSING, alert("labels: {severity: critical}"), alert(GOOD)),
        (
            codes::EXPR_INVALID,
            alert(&GOOD.replace("up == 0", "rate(up)")),
            alert(&GOOD.replace("up == 0", "rate(up[5m])")),
        ),
        (
            codes::RECORDING_FIELD,
            "groups:\n- name: x\n  rules:\n  - record: r\n    expr: up\n    for: 1m\n".into(),
            "groups:\n- name: x\n  rules:\n  - record: r\n    expr: up\n    for: 0s\n".into(),
        ),
        (
            codes::RECORDING_FIELD,
            "groups:\n- name: x\n  rules:\n  - record: r\n    expr: up\n    annotations: {a: b}\n".into(),
            "groups:\n- name: x\n  rules:\n  - record: r\n    expr: up\n    labels: {a: b}\n".into(),
        ),
        (
            codes::RECORD_NAME_INVALID,
            "groups:\n- name: x\n  rules:\n  - record: 'job-rate'\n    expr: up\n".into(),
            "groups:\n- name: x\n  rules:\n  - record: 'job:rate'\n    expr: up\n".into(),
        ),
        (
            codes::LABEL_NAME_INVALID,
            g("").replace("severity: critical", "severity: critical, team-name: x"),
            g("").replace("severity: critical", "severity: critical, team_name: x"),
        ),
        (
            codes::ANNOTATION_NAME_INVALID,
            g("").replace("summary: s", "summary: s, run-book: x"),
            g("").replace("summary: s", "summary: s, run_book: x"),
        ),
        (
            codes::DURATION_INVALID,
            alert(&GOOD.replace("for: 5m", "for: 5")),
            alert(&GOOD.replace("for: 5m", "for: 300s")),
        ),
        (codes::DURATION_INVALID, g("keep_firing_for: 1x"), g("keep_firing_for: 1m")),
        (
            codes::TEMPLATE_INVALID,
            alert(&GOOD.replace("summary: s", "summary: '{{ $label.x }}'")),
            alert(&GOOD.replace("summary: s", "summary: '{{ $labels.x }}'")),
        ),
        (
            codes::DUPLICATE,
            format!("{}  - alert: A\n{}", alert(GOOD), GOOD.lines().map(|l| format!("    {l}\n")).collect::<String>()),
            format!("{}  - alert: B\n{}", alert(GOOD), GOOD.lines().map(|l| format!("    {l}\n")).collect::<String>()),
        ),
        (
            codes::SEVERITY_MISSING,
            alert(&GOOD.replace("labels: {severity: critical}", "labels: {team: x}")),
            alert(GOOD),
        ),
        (codes::SEVERITY_MISSING, alert(&GOOD.replace("severity: critical", "severity: ''")), alert(GOOD)),
        (codes::SEVERITY_NONE, alert(&GOOD.replace("severity: critical", "severity: none")), alert(GOOD)),
        (
            codes::SEVERITY_UNKNOWN,
            alert(&GOOD.replace("severity: critical", "severity: page")),
            alert(&GOOD.replace("severity: critical", "severity: info")),
        ),
        (codes::SUMMARY_MISSING, alert(&GOOD.replace("summary: s,", "description: s,")), alert(GOOD)),
        (codes::RUNBOOK_MISSING, alert(&GOOD.replace("runbook_url: 'https://r'", "runbook: x")), alert(GOOD)),
        (codes::FOR_ZERO, alert(&GOOD.replace("for: 5m", "for: 0m")), alert(&GOOD.replace("for: 5m", "for: 1m"))),
        (codes::FOR_ZERO, alert(&GOOD.replace("for: 5m\n", "")), alert(GOOD)),
        (codes::NO_RULES, "kind: Deployment\napiVersion: apps/v1\n".into(), alert(GOOD)),
    ];
    for (code, bad, good) in &cases {
        let found = codes_of(&check(bad));
        assert!(found.iter().any(|c| c == code), "{code} not raised by:\n{bad}\nfound: {found:?}");
        let found = codes_of(&check(good));
        assert!(!found.iter().any(|c| c == code), "{code} raised by the near miss:\n{good}\nfound: {found:?}");
    }
    // Every code of the rule checks is covered above, or below (cross-rule and expected-alert ones).
    let covered: Vec<&str> = cases.iter().map(|c| c.0).collect();
    for code in codes::PROMTOOL_ERRORS {
        assert!(covered.contains(code), "{code} has no case");
    }
}

#[test]
fn group_labels_and_utf8_names_need_prometheus_3() {
    let text = "groups:\n- name: x\n  labels: {team: a}\n  query_offset: 1m\n  rules:\n  - record: r\n    expr: up\n    labels: {team-name: a}\n";
    let v2 = codes_of(&check(text));
    assert!(
        v2.contains(&codes::UNKNOWN_FIELD.to_string()) && v2.contains(&codes::LABEL_NAME_INVALID.to_string()),
        "{v2:?}"
    );
    let v3 = CheckOptions { prometheus: PromVersion::V3, ..Default::default() };
    assert_eq!(codes_of(&check_with(text, &v3)), Vec::<String>::new());
}

#[test]
fn severity_conflicts_are_noted_or_warned() {
    let two = |sev2: &str, expr2: &str| {
        format!(
            "{}  - alert: A\n    expr: {expr2}\n    for: 5m\n    labels: {{severity: {sev2}}}\n    annotations: {{summary: s, runbook_url: r}}\n",
            alert(GOOD)
        )
    };
    let levels = |text: &str| -> Vec<Level> {
        check(text)
            .iter()
            .flat_map(|e| &e.findings)
            .filter(|f| f.code == codes::SEVERITY_CONFLICT)
            .map(|f| f.severity)
            .collect()
    };
    // The same expression under two severities: a real conflict, on both rules.
    assert_eq!(levels(&two("warning", "up == 0")), [Level::Warning, Level::Warning]);
    // Tiered thresholds: noted only.
    assert_eq!(levels(&two("warning", "up == 1")), [Level::Info, Level::Info]);
    // Same severity: no conflict.
    assert_eq!(levels(&two("critical", "up == 1")), []);
}

#[test]
fn expected_alerts_against_the_sources() {
    let entries = check(&alert(GOOD));
    let x = |name: &str, severity: &str| ExpectedAlert { name: name.into(), severity: severity.into() };
    let f = judge_expected(&entries, &[x("A", "critical")]);
    assert!(f.is_empty(), "{f:?}");
    let f = judge_expected(&entries, &[x("B", "critical"), x("A", "warning")]);
    let got: Vec<&str> = f.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(got, [codes::EXPECTED_MISSING, codes::EXPECTED_WRONG_SEVERITY]);
    assert!(f.iter().all(|f| f.level == Level::Error));
    assert!(f[1].message.contains("has severity critical, expected warning"), "{}", f[1].message);
}

#[test]
fn findings_carry_lines_and_no_input_panics() {
    let entries = check(&alert(&GOOD.replace("up == 0", "up ==")));
    let f = entries.iter().flat_map(|e| &e.findings).find(|f| f.code == codes::EXPR_INVALID).unwrap();
    assert_eq!(f.line, Some(5));
    assert!(f.message.starts_with("could not parse expression: parse error: "), "{}", f.message);
    for weird in [
        "",
        "~",
        "[]",
        "42",
        "groups: 5",
        "groups: [5, null, {rules: 5}]",
        "groups:\n- name: [a]\n  rules: [[], {alert: {a: b}, expr: [1]}]\n",
        "a: &x [*x]\n",
        "\u{feff}groups: []",
        "{{{{",
        "groups:\n- name: x\n  rules:\n  - alert: A\n    expr: up\n    annotations: {s: '{{'}\n",
    ] {
        let _ = check(weird);
    }
}
