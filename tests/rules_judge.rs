//! The Prometheus API types read the documented `/api/v1/rules` example; the judgements on
//! loaded rules and active alerts; the check's parameters and its choice of cluster objects.

use std::time::Duration;

use kgents_gate::outcome::Level;
use kgents_gate::probe::ParamReader;
use kgents_gate::prometheus::AuthSpec;
use kgents_gate::prometheus::api::{AlertState, AlertsData, LoadedRule, RuleHealth, RulesData};
use kgents_gate::rules::lint::ExpectedAlert;
use kgents_gate::rules::params::AlertRulesParams;
use kgents_gate::rules::{CheckOptions, codes, judge, sources};

fn example() -> RulesData {
    let text = std::fs::read_to_string("tests/corpora/rules/prometheus-api/api-v1-rules-example.json").unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "success");
    serde_json::from_value(v["data"].clone()).unwrap()
}

#[test]
fn the_documented_rules_example_is_read() {
    let rules = example();
    assert_eq!(rules.groups.len(), 1);
    let g = &rules.groups[0];
    assert_eq!((g.name.as_str(), g.file.as_str(), g.interval), ("example", "/rules.yaml", 60.0));
    let LoadedRule::Alerting(a) = &g.rules[0] else { panic!("alerting rule first") };
    assert_eq!(a.name, "HighRequestLatency");
    assert_eq!(a.duration, 600.0);
    assert_eq!(a.health, RuleHealth::Ok);
    assert_eq!(a.labels["severity"], "page");
    assert_eq!(a.alerts.len(), 1);
    assert_eq!(a.alerts[0].state, AlertState::Firing);
    assert_eq!(a.alerts[0].active_at.unwrap().to_string(), "2018-07-04T18:27:12.60602144Z");
    assert!(matches!(&g.rules[1], LoadedRule::Recording(r) if r.name == "job:http_inprogress_requests:sum"));
    // The example carries no lastEvaluation: never evaluated, as far as the answer says.
    let f = judge::judge_rules(&rules, &[], &[], jiff::Timestamp::now(), Duration::from_secs(300));
    assert_eq!(f.iter().filter(|f| f.code == codes::RULE_STALE).count(), 2);
}

fn rules_json(health: &str, last_error: &str, last_eval: &str, severity: &str) -> RulesData {
    serde_json::from_value(
        serde_json::json!({"groups": [{"name": "g", "file": "/etc/rules/a.yml", "interval": 30, "rules": [
        {"type": "alerting", "name": "ApiDown", "query": "up == 0", "duration": 60, "labels": {"severity": severity},
         "annotations": {}, "alerts": [], "health": health, "lastError": last_error, "lastEvaluation": last_eval,
         "evaluationTime": 0.001, "state": "inactive"}]}]}),
    )
    .unwrap()
}

#[test]
fn health_staleness_and_loading_are_judged() {
    let now: jiff::Timestamp = "2025-01-01T12:00:00Z".parse().unwrap();
    let age = Duration::from_secs(120);
    let x = |sev: &str| vec![ExpectedAlert { name: "ApiDown".into(), severity: sev.into() }];
    let codes_of = |r: &RulesData, expected: &[ExpectedAlert]| -> Vec<String> {
        judge::judge_rules(r, expected, &[], now, age).into_iter().map(|f| f.code).collect()
    };
    let healthy = rules_json("ok", "", "2025-01-01T11:59:30Z", "critical");
    assert_eq!(codes_of(&healthy, &x("critical")), Vec::<String>::new());
    assert_eq!(
        codes_of(&rules_json("err", "bad", "2025-01-01T11:59:30Z", "critical"), &x("critical")),
        [codes::RULE_UNHEALTHY]
    );
    assert_eq!(
        codes_of(&rules_json("ok", "", "2025-01-01T11:50:00Z", "critical"), &x("critical")),
        [codes::RULE_STALE]
    );
    assert_eq!(
        codes_of(&rules_json("unknown", "", "0001-01-01T00:00:00Z", "critical"), &x("critical")),
        [codes::RULE_STALE]
    );
    assert_eq!(codes_of(&healthy, &x("warning")), [codes::LOADED_WRONG_SEVERITY]);
    let other = vec![ExpectedAlert { name: "Other".into(), severity: "critical".into() }];
    assert_eq!(codes_of(&healthy, &other), [codes::EXPECTED_NOT_LOADED]);

    // A source alert that is loaded is fine; one that is not is `alert-not-loaded`.
    let src = |name: &str| {
        sources::entries_from_text(
            &format!("groups:\n- name: g\n  rules:\n  - alert: {name}\n    expr: up == 0\n"),
            "a.yml",
            &CheckOptions::default(),
            true,
        )
    };
    let f = judge::judge_rules(&healthy, &[], &src("ApiDown"), now, age);
    assert!(f.is_empty(), "{f:?}");
    let f = judge::judge_rules(&healthy, &[], &src("ApiSlow"), now, age);
    let got: Vec<&str> = f.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(got, [codes::NOT_LOADED]);
    assert_eq!(f[0].target.as_deref(), Some("a.yml, group g, alert ApiSlow"));
}

#[test]
fn firing_alerts_are_judged_by_severity() {
    let alerts: AlertsData = serde_json::from_value(serde_json::json!({"alerts": [
        {"labels": {"alertname": "Crit", "severity": "critical", "pod": "p1"}, "annotations": {}, "state": "firing", "activeAt": "2025-01-01T11:00:00Z", "value": "1e+00"},
        {"labels": {"alertname": "CritPending", "severity": "critical"}, "annotations": {}, "state": "pending", "activeAt": "2025-01-01T11:00:00Z", "value": "1"},
        {"labels": {"alertname": "Warn", "severity": "warning"}, "annotations": {}, "state": "firing", "activeAt": "2025-01-01T11:00:00Z", "value": "1"},
        {"labels": {"alertname": "Watchdog", "severity": "none"}, "annotations": {}, "state": "firing", "activeAt": "2025-01-01T11:00:00Z", "value": "1"}
    ]}))
    .unwrap();
    let f = judge::judge_alerts(&alerts);
    let got: Vec<(&str, Level, &str)> =
        f.iter().map(|f| (f.code.as_str(), f.level, f.target.as_deref().unwrap())).collect();
    assert_eq!(got, [(codes::FIRING_CRITICAL, Level::Error, "Crit"), (codes::FIRING_WARNING, Level::Warning, "Warn")]);
    assert!(f[0].evidence.iter().any(|e| e.name == "labels" && e.value.contains("pod=\"p1\"")));
    assert!(f[0].evidence.iter().any(|e| e.name == "activeAt" && e.value == "2025-01-01T11:00:00Z"));
}

fn read(text: &str) -> Result<AlertRulesParams, Vec<String>> {
    let table: toml::Table = text.parse().unwrap();
    let mut r = ParamReader::new(&table);
    let p = AlertRulesParams::read(&mut r);
    match r.finish() {
        Ok(()) => Ok(p.unwrap()),
        Err(errs) => Err(errs.into_iter().map(|e| e.message).collect()),
    }
}

#[test]
fn parameters_are_read_and_checked() {
    let p = read(
        r#"
        expected = [{ name = "NatsDown", severity = "critical" }]
        configmaps = [{ namespace = "obs", selector = { role = "alert-rules" } }]
        prometheusrules = [{ namespace = "monitoring" }]
        prometheus_url = "https://prometheus.obs:9090"
        token_env = "PROM_TOKEN"
        max_eval_age = "10m"
        severities = ["critical", "warning"]
        prometheus_version = "3"
        "#,
    )
    .unwrap();
    assert_eq!(p.expected, [ExpectedAlert { name: "NatsDown".into(), severity: "critical".into() }]);
    assert_eq!(p.max_eval_age, Duration::from_secs(600));
    let prom = p.prometheus.as_ref().unwrap();
    assert_eq!(prom.auth, AuthSpec { token_env: Some("PROM_TOKEN".into()), ..Default::default() });
    assert_eq!(p.options.known_severities, ["critical", "warning"]);

    let objects = vec![
        serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "obs", "labels": {"role": "alert-rules"}}}),
        serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "b", "namespace": "obs"}}),
        serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "other", "labels": {"role": "alert-rules"}}}),
        serde_json::json!({"kind": "PrometheusRule", "metadata": {"name": "d", "namespace": "monitoring"}}),
        serde_json::json!({"kind": "PrometheusRule", "metadata": {"name": "e", "namespace": "obs"}}),
    ];
    let names: Vec<&str> = p.select(&objects).iter().map(|o| o["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "d"]);

    for (text, want) in [
        ("configmaps = [{ namespace = \"x\" }]", "exactly one of `name` or `selector`"),
        ("configmaps = [{ namespace = \"x\", name = \"y\", nmae = \"z\" }]", "unknown key `nmae`"),
        ("expected = [{ name = \"A\" }]\nprometheus_url = \"http://p\"", "needs `severity`"),
        ("expected = [\"A\"]\nprometheus_url = \"http://p\"", "must be a table"),
        ("expected = []", "at least one rule source"),
        ("token_env = \"T\"\nconfigmaps = [{ namespace = \"x\", name = \"y\" }]", "without `prometheus_url`"),
        ("prometheus_url = \"http://p\"\nprometheus_version = \"4\"", "must be \"2\" or \"3\""),
        ("prometheus_url = \"http://p\"\nmax_eval_age = \"soon\"", "max_eval_age"),
        ("prometheus_url = \"http://p\"\nurl = \"x\"", "unknown parameter `url`"),
    ] {
        let errs = read(text).expect_err(text);
        assert!(errs.iter().any(|e| e.contains(want)), "{text}: {errs:?}");
    }
}

#[test]
fn credentials_come_from_named_variables_and_never_show() {
    let env = |name: &str| match name {
        "TOKEN" => Some(" s3cret-token \n".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let spec = AuthSpec { token_env: Some("TOKEN".into()), ..Default::default() };
    let (auth, ca) = spec.resolve_with(env).unwrap();
    assert!(ca.is_none());
    assert!(!format!("{auth:?}").contains("s3cret"), "Debug is redacted");
    for (spec, want) in [
        (AuthSpec { token_env: Some("MISSING".into()), ..Default::default() }, "MISSING is not set"),
        (AuthSpec { token_env: Some("EMPTY".into()), ..Default::default() }, "EMPTY is not set or empty"),
        (
            AuthSpec { token_env: Some("TOKEN".into()), username_env: Some("U".into()), ..Default::default() },
            "not both",
        ),
        (AuthSpec { username_env: Some("TOKEN".into()), ..Default::default() }, "needs both"),
        (
            AuthSpec { token_file: Some("/nonexistent/token".into()), ..Default::default() },
            "cannot read /nonexistent/token",
        ),
    ] {
        let err = spec.resolve_with(env).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
        assert!(!err.contains("s3cret"));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "file-token\n").unwrap();
    let spec = AuthSpec { token_file: Some(file.display().to_string()), ..Default::default() };
    assert!(
        matches!(spec.resolve_with(env).unwrap().0, kgents_gate::prometheus::Auth::Bearer(t) if t.expose() == "file-token")
    );
}
