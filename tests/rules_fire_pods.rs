//! The alert rules' metric names compared with what exporters serve on their pods' metrics ports,
//! read live through the API server's pod proxy, on the real node (tests/support/node.rs): a
//! busybox httpd serving a NATS exporter's scrape under a container port named `prom-metrics`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::RealNode;
use support::node::BUSYBOX_IMAGE;
use support::node::pods;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

const RULES: &str = r#"groups:
- name: nats
  rules:
  - alert: NatsSlowConsumers
    expr: increase(nats_varz_slow_consumers[5m]) > 0
    for: 5m
    labels: {severity: warning}
    annotations: {summary: slow consumers, runbook_url: "https://r/slow"}
  - alert: NatsSlowConsumersCopied
    expr: gnatsd_varz_slow_consumers > 0
    for: 5m
    labels: {severity: warning}
    annotations: {summary: slow consumers, runbook_url: "https://r/slow"}
"#;

fn configmap() -> String {
    let body: String = RULES.lines().map(|l| format!("    {l}\n")).collect();
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: alerting-rules}}\ndata:\n  alerts.yml: |\n{body}")
}

fn gate(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn metric_names_are_read_from_the_pods_metrics_port() {
    let node = RealNode::shared();
    let plane = node.plane();
    let client = plane.client();
    let ns = plane.unique_namespace("exporter-pods").await;
    let scrape = "# TYPE nats_varz_slow_consumers counter\\nnats_varz_slow_consumers 0\\n";
    let script = format!("mkdir -p /www && printf '{scrape}' > /www/metrics && exec httpd -f -p 7777 -h /www");
    let mut pod = pods::pod_json("nats-0", BUSYBOX_IMAGE, &["sh", "-c", &script]);
    pod["metadata"]["labels"] = json!({"app.kubernetes.io/name": "nats"});
    pod["spec"]["containers"][0]["ports"] = json!([{"name": "prom-metrics", "containerPort": 7777}]);
    pod["spec"]["containers"][0]["readinessProbe"] = json!({"tcpSocket": {"port": 7777}, "periodSeconds": 1});
    pods::create_pod(&client, &ns, &pod).await;
    plane.apply_yaml_in(&ns, &configmap()).await;
    pods::wait_ready(&client, &ns, "nats-0", Duration::from_secs(60)).await;

    let ws = tempfile::tempdir().unwrap();
    let checklist = format!(
        "[launch]\nname = \"pods\"\napprovers = [\"ops\"]\n[[category]]\nid = \"obs\"\ntitle = \"Observability\"\n\
         [[item]]\nid = \"alerts\"\ncategory = \"obs\"\ntitle = \"alerts\"\ncheck = \"observability.alert-rules\"\n[item.with]\n\
         configmaps = [{{ namespace = \"{ns}\", name = \"alerting-rules\" }}]\ncan_fire = \"all\"\n\
         exporter_pods = [{{ namespace = \"{ns}\", selector = {{ \"app.kubernetes.io/name\" = \"nats\" }}, port = \"prom-metrics\", job = \"nats\" }}]\n"
    );
    std::fs::write(ws.path().join("checklist.toml"), checklist).unwrap();
    let kubeconfig = plane.admin_kubeconfig();
    let kubeconfig = kubeconfig.display().to_string();
    let (code, out) = gate(ws.path(), &["audit", "--kubeconfig", &kubeconfig, "--format", "json", "--out-dir", "out"]);
    assert_eq!(code, Some(1), "{out}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("out/kgents-gate-report.json")).unwrap()).unwrap();
    let item = &report["items"][0];
    assert!(item["gaps"].as_array().unwrap().is_empty(), "{item:#}");
    let findings: Vec<(&str, &str)> = item["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].0, "rule-metric-not-exported");
    assert!(
        findings[0].1.starts_with("alert NatsSlowConsumersCopied reads `gnatsd_varz_slow_consumers`")
            && findings[0].1.ends_with("the closest exported name is `nats_varz_slow_consumers`"),
        "{findings:#?}"
    );
    let evidence = item["evidence"].to_string();
    assert!(
        evidence.contains(&format!("pods app.kubernetes.io/name=nats in {ns} (port prom-metrics/metrics)")),
        "{evidence}"
    );

    // The permission it takes is in the least-privilege roles.
    let (code, rbac) = gate(ws.path(), &["rbac"]);
    assert_eq!(code, Some(0), "{rbac}");
    assert!(rbac.contains("resources: [\"pods/proxy\"]") && rbac.contains("verbs: [\"get\"]"), "{rbac}");
    drop(node);
}
