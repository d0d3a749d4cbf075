//! The `observability.alert-rules` check in real audits (the binary, inline checklists, JSON
//! report): rule ConfigMaps and PrometheusRules on a real control plane against a real Prometheus.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{ControlPlane, Prometheus, PrometheusOptions};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

/// One alerting rule: name, severity, expression.
struct Alert<'a>(&'a str, &'a str, &'a str);

/// A rule file with one group, every alert complete (for, summary, runbook).
fn rule_file(group: &str, alerts: &[Alert]) -> String {
    let mut s = format!("groups:\n- name: {group}\n  rules:\n");
    for Alert(name, severity, expr) in alerts {
        s.push_str(&format!(
            "  - alert: {name}\n    expr: {expr}\n    for: 1m\n    labels:\n      severity: {severity}\n    \
             annotations:\n      summary: {name} is on\n      runbook_url: https://runbooks.example/{name}\n"
        ));
    }
    s
}

fn indent(text: &str, by: usize) -> String {
    text.lines().map(|l| format!("{}{l}\n", " ".repeat(by))).collect()
}

fn configmap(name: &str, key: &str, rules: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  {key}: |\n{}", indent(rules, 4))
}

async fn prometheus_with(file: &str, rules: &str) -> Prometheus {
    let prom = Prometheus::start(PrometheusOptions {
        rule_files: vec![(file.to_string(), rules.to_string())],
        ..Default::default()
    })
    .await;
    prom.evaluated_rules(Duration::from_secs(20)).await;
    prom
}

/// Runs `audit` with an inline checklist of one blocking alert-rules item (built-in catalog);
/// returns the exit code, the item of the JSON report and the whole report.
fn audit(dir: &Path, kubeconfig: Option<&Path>, with: &str, extra: &[&str]) -> (i32, Value, Value) {
    let checklist = format!(
        "[launch]\nname = \"rules live\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"obs\"\ntitle = \"Observability\"\n\n\
         [[item]]\nid = \"alerts\"\ncategory = \"obs\"\ntitle = \"alert rules\"\ncheck = \"observability.alert-rules\"\n\
         severity = \"blocking\"\nowner = \"sre\"\ntimeout = \"10s\"\n[item.with]\n{with}\n"
    );
    std::fs::write(dir.join("checklist.toml"), checklist).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["audit", "--checklist", "checklist.toml", "--format", "json", "--out-dir", "out"])
        .args(extra)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", dir);
    if let Some(k) = kubeconfig {
        cmd.arg("--kubeconfig").arg(k);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(dir.join("out/kgents-gate-report.json"))
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr: {stderr}"));
    let report: Value = serde_json::from_str(&text).unwrap();
    let item = report["items"].as_array().unwrap().iter().find(|i| i["id"] == "alerts").unwrap().clone();
    (out.status.code().unwrap(), item, report)
}

fn codes(item: &Value) -> Vec<String> {
    item["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_string()).collect()
}

fn evidence<'a>(item: &'a Value, name: &str) -> Option<&'a str> {
    item["evidence"].as_array()?.iter().find(|f| f["name"] == name)?["value"].as_str()
}

const QUIET: &str = "up{job=\"kgents-nats\"} == 0";

#[tokio::test]
async fn loaded_and_healthy_rules_pass() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("rules-ok").await;
    let rules =
        rule_file("kgents", &[Alert("KgentsNatsDown", "critical", QUIET), Alert("KgentsNatsSlow", "warning", QUIET)]);
    plane.apply_yaml_in(&ns, &configmap("alerting-rules", "kgents-alerts.yml", &rules)).await;
    let prom = prometheus_with("kgents-alerts.yml", &rules).await;
    let dir = tempfile::tempdir().unwrap();
    // This Prometheus scrapes nothing, so no series the rules read exists: whether alerts can
    // fire is tests/rules_fire.rs' matter, here only loading is.
    let with = format!(
        "prometheus_url = \"{}\"\nconfigmaps = [{{ namespace = \"{ns}\", name = \"alerting-rules\" }}]\n\
         expected = [{{ name = \"KgentsNatsDown\", severity = \"critical\" }}]\ncan_fire = \"none\"",
        prom.url()
    );
    let (code, item, report) = audit(dir.path(), Some(&plane.admin_kubeconfig()), &with, &[]);
    assert_eq!(item["outcome"], "pass", "{item:#}");
    assert_eq!(code, 0, "{report:#}");
    assert!(codes(&item).is_empty(), "{item:#}");
    assert_eq!(evidence(&item, "alerts_in_sources"), Some("2"));
    assert_eq!(evidence(&item, "rules_loaded"), Some("2"));
    assert_eq!(evidence(&item, "alerts_active"), Some("0"));
}

/// The kgents incident: the alert is in the ConfigMap, Prometheus never loaded it.
#[tokio::test]
async fn alert_in_the_configmap_but_not_loaded_blocks() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("rules-incident").await;
    let in_configmap = rule_file(
        "kgents",
        &[Alert("KgentsNatsDown", "critical", QUIET), Alert("KgentsJetStreamNoQuorum", "critical", QUIET)],
    );
    let loaded = rule_file("kgents", &[Alert("KgentsNatsDown", "critical", QUIET)]);
    plane.apply_yaml_in(&ns, &configmap("alerting-rules", "kgents-alerts.yml", &in_configmap)).await;
    let prom = prometheus_with("kgents-alerts.yml", &loaded).await;
    let dir = tempfile::tempdir().unwrap();
    let with = format!(
        "prometheus_url = \"{}\"\nconfigmaps = [{{ namespace = \"{ns}\", name = \"alerting-rules\" }}]\n\
         expected = [{{ name = \"KgentsJetStreamNoQuorum\", severity = \"critical\" }}]",
        prom.url()
    );
    let (code, item, report) = audit(dir.path(), Some(&plane.admin_kubeconfig()), &with, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["decision"], "BLOCKED");
    assert_eq!(item["outcome"], "fail");
    assert_eq!(item["code"], "alert-not-loaded", "{item:#}");
    let findings = item["findings"].as_array().unwrap();
    let not_loaded: Vec<&Value> = findings.iter().filter(|f| f["code"] == "alert-not-loaded").collect();
    assert_eq!(not_loaded.len(), 1, "only the missing alert: {item:#}");
    let target = not_loaded[0]["target"].as_str().unwrap();
    assert!(target.contains("KgentsJetStreamNoQuorum"), "{target}");
    assert!(target.contains(&format!("ConfigMap {ns}/alerting-rules key kgents-alerts.yml")), "{target}");
    // Reported once, as not loaded, not again as an expected alert missing.
    assert!(!codes(&item).iter().any(|c| c == "alert-expected-not-loaded"), "{item:#}");
}

#[tokio::test]
async fn a_rule_whose_evaluation_fails_is_unhealthy() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("rules-unhealthy").await;
    // Two right-hand series in one match group: "many-to-many matching not allowed" at evaluation.
    let broken = "vector(1) + on() (label_replace(vector(1), \"a\", \"x\", \"\", \"\") or label_replace(vector(1), \"a\", \"y\", \"\", \"\"))";
    let rules =
        rule_file("kgents", &[Alert("KgentsNatsDown", "critical", QUIET), Alert("Collides", "warning", broken)]);
    plane.apply_yaml_in(&ns, &configmap("alerting-rules", "alerts.yml", &rules)).await;
    let prom = prometheus_with("alerts.yml", &rules).await;
    support::eventually("the rule to fail", Duration::from_secs(20), || async {
        let rules = prom.evaluated_rules(Duration::from_secs(5)).await;
        match rules.iter().find(|r| r["name"] == "Collides") {
            Some(r) if r["health"] == "err" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let with = format!(
        "prometheus_url = \"{}\"\nconfigmaps = [{{ namespace = \"{ns}\", name = \"alerting-rules\" }}]",
        prom.url()
    );
    let (code, item, report) = audit(dir.path(), Some(&plane.admin_kubeconfig()), &with, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(item["code"], "rule-unhealthy", "{item:#}");
    let unhealthy: Vec<&Value> =
        item["findings"].as_array().unwrap().iter().filter(|f| f["code"] == "rule-unhealthy").collect();
    assert_eq!(unhealthy.len(), 1, "the healthy rule is not reported: {item:#}");
    assert!(unhealthy[0]["target"].as_str().unwrap().contains("Collides"));
}

#[tokio::test]
async fn a_firing_critical_alert_blocks_with_its_name() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("rules-firing").await;
    let rules = "groups:\n- name: always\n  rules:\n  - alert: KgentsAlwaysFiring\n    expr: vector(1)\n    labels:\n      \
                 severity: critical\n    annotations:\n      summary: always\n      runbook_url: https://r/x\n";
    plane.apply_yaml_in(&ns, &configmap("alerting-rules", "alerts.yml", rules)).await;
    let prom = prometheus_with("alerts.yml", rules).await;
    prom.wait_for_alert("KgentsAlwaysFiring", "firing", Duration::from_secs(20)).await;
    let dir = tempfile::tempdir().unwrap();
    let with = format!(
        "prometheus_url = \"{}\"\nconfigmaps = [{{ namespace = \"{ns}\", name = \"alerting-rules\" }}]",
        prom.url()
    );
    let (code, item, report) = audit(dir.path(), Some(&plane.admin_kubeconfig()), &with, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["decision"], "BLOCKED");
    assert_eq!(item["code"], "alert-firing-critical", "{item:#}");
    let firing = item["findings"].as_array().unwrap().iter().find(|f| f["code"] == "alert-firing-critical").unwrap();
    assert_eq!(firing["target"], "KgentsAlwaysFiring");
    assert!(firing["message"].as_str().unwrap().contains("KgentsAlwaysFiring"));
    assert!(report["blocking"].to_string().contains("KgentsAlwaysFiring"), "{:#}", report["blocking"]);
}

#[tokio::test]
async fn prometheus_down_is_unverified_within_the_timeout() {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("rules-down").await;
    let rules = rule_file("kgents", &[Alert("KgentsNatsDown", "critical", QUIET)]);
    plane.apply_yaml_in(&ns, &configmap("alerting-rules", "alerts.yml", &rules)).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed on drop
    let dir = tempfile::tempdir().unwrap();
    let with = format!(
        "prometheus_url = \"http://127.0.0.1:{port}\"\nconfigmaps = [{{ namespace = \"{ns}\", name = \"alerting-rules\" }}]"
    );
    let started = Instant::now();
    let (code, item, report) = audit(dir.path(), Some(&plane.admin_kubeconfig()), &with, &[]);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(report["decision"], "INCOMPLETE");
    assert_eq!(item["outcome"], "unverified");
    assert_eq!(item["code"], "unreachable", "{item:#}");
    assert!(item["message"].as_str().unwrap().contains(&port.to_string()));
    // The sources were still read.
    assert_eq!(evidence(&item, "alerts_in_sources"), Some("1"));
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names:
    kind: PrometheusRule
    listKind: PrometheusRuleList
    plural: prometheusrules
    singular: prometheusrule
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

fn prometheus_rule(name: &str, rules: &str) -> String {
    let spec: String = rules.lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: {name}\n  labels:\n    role: alert-rules\nspec:\n{spec}"
    )
}

#[tokio::test]
async fn prometheusrule_objects_are_read_once_the_crd_is_installed() {
    let plane = ControlPlane::shared();
    plane.apply_yaml(CRD).await;
    let ns = plane.unique_namespace("rules-crd").await;
    let rules = rule_file(
        "kgents",
        &[Alert("KgentsRedisDown", "critical", QUIET), Alert("KgentsRedisMemoryHigh", "warning", QUIET)],
    );
    plane.apply_yaml_in(&ns, &prometheus_rule("kgents-redis", &rules)).await;
    // Prometheus loaded only the first alert.
    let prom = prometheus_with("redis.yml", &rule_file("kgents", &[Alert("KgentsRedisDown", "critical", QUIET)])).await;
    let dir = tempfile::tempdir().unwrap();
    let with = format!(
        "prometheus_url = \"{}\"\nprometheusrules = [{{ namespace = \"{ns}\", selector = {{ role = \"alert-rules\" }} }}]",
        prom.url()
    );
    let (code, item, report) = audit(dir.path(), Some(&plane.admin_kubeconfig()), &with, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(evidence(&item, "alerts_in_sources"), Some("2"), "{item:#}");
    assert_eq!(codes(&item), ["alert-not-loaded"], "{item:#}");
    let target = item["findings"][0]["target"].as_str().unwrap();
    assert!(target.contains(&format!("PrometheusRule {ns}/kgents-redis")), "{target}");
    assert!(target.contains("KgentsRedisMemoryHigh"), "{target}");

    // A selector matching nothing: no sources, nothing missing.
    let with = format!(
        "prometheus_url = \"{}\"\nprometheusrules = [{{ namespace = \"{ns}\", selector = {{ role = \"other\" }} }}]",
        prom.url()
    );
    let (code, item, _) = audit(dir.path(), Some(&plane.admin_kubeconfig()), &with, &[]);
    assert_eq!(code, 0, "{item:#}");
    assert_eq!(evidence(&item, "rule_sources"), Some("0"));
}

/// A private control plane that never had the CRD (the shared one gets it above).
#[tokio::test]
async fn without_the_crd_the_prometheusrule_part_is_skipped() {
    let plane = ControlPlane::start();
    let ns = plane.unique_namespace("rules-nocrd").await;
    let rules = rule_file("kgents", &[Alert("KgentsNatsDown", "critical", QUIET)]);
    plane.apply_yaml_in(&ns, &configmap("alerting-rules", "alerts.yml", &rules)).await;
    let dir = tempfile::tempdir().unwrap();

    let with = format!("prometheusrules = [{{ namespace = \"{ns}\" }}]");
    let (code, item, report) = audit(dir.path(), Some(&plane.admin_kubeconfig()), &with, &[]);
    assert_eq!(item["outcome"], "skipped", "{item:#}");
    let message = item["message"].as_str().unwrap();
    assert!(message.contains("PrometheusRule") && message.contains("not installed"), "{message}");
    assert_eq!(code, 0, "{report:#}");

    // ConfigMaps beside it are still judged.
    let with = format!(
        "prometheusrules = [{{ namespace = \"{ns}\" }}]\nconfigmaps = [{{ namespace = \"{ns}\", name = \"alerting-rules\" }}]"
    );
    let (code, item, _) = audit(dir.path(), Some(&plane.admin_kubeconfig()), &with, &[]);
    assert_eq!(item["outcome"], "pass", "{item:#}");
    assert_eq!(code, 0);
    assert_eq!(evidence(&item, "alerts_in_sources"), Some("1"));
    assert!(evidence(&item, "prometheusrules").is_some_and(|r| r.contains("not checked")), "{item:#}");
}

#[test]
fn offline_judges_the_manifests_and_leaves_prometheus_unverified() {
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kgents/manifests/observability.yaml");
    let manifests = manifests.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let with = "prometheus_url = \"http://127.0.0.1:9\"\n\
                configmaps = [{ namespace = \"kgents-observability\", name = \"prometheus-alerting-rules\" }]";
    let (code, item, _) = audit(dir.path(), None, with, &["--offline", "--manifests", manifests]);
    assert_eq!(code, 3, "{item:#}");
    assert_eq!(item["outcome"], "unverified");
    assert_eq!(item["code"], "offline");
    assert_eq!(evidence(&item, "alerts_in_sources"), Some("8"), "{item:#}");

    // A broken rule in the manifests fails offline: Prometheus' part cannot change that.
    let broken =
        configmap("bad-rules", "alerts.yml", "groups:\n- name: g\n  rules:\n  - alert: Bad\n    expr: rate(up)\n");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, broken).unwrap();
    let with = "prometheus_url = \"http://127.0.0.1:9\"\nconfigmaps = [{ namespace = \"obs\", name = \"bad-rules\" }]";
    let (code, item, _) = audit(
        dir.path(),
        None,
        with,
        &["--offline", "--manifests", bad.to_str().unwrap(), "--manifest-namespace", "obs"],
    );
    assert_eq!(code, 1, "{item:#}");
    assert_eq!(item["outcome"], "fail");
    assert!(codes(&item).contains(&"rule-expr-invalid".to_string()), "{item:#}");
    // What could not be asked of Prometheus stays in the report beside the failure.
    assert_eq!(item["gaps"][0]["code"], "offline", "{item:#}");
}
