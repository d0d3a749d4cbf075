//! Reproduction (temporary).
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::node::BUSYBOX_IMAGE;
use support::node::pods;
use support::{ControlPlane, RealNode};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const MINUTE: Duration = Duration::from_secs(60);

async fn labeled(cp: &ControlPlane, prefix: &str) -> String {
    let name = support::unique_name(prefix);
    cp.create_namespace_labeled(&name, &[("kubernetes.io/metadata.name", &name)]).await
}

#[tokio::test]
async fn repro() {
    let node = RealNode::shared();
    let cp = node.plane();
    let client = cp.client();
    let dst = labeled(cp, "dst").await;
    let ok = labeled(cp, "ok").await;
    let no = labeled(cp, "no").await;
    let yaml = format!(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: default-deny}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: web-access}}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
  policyTypes: [Ingress]
  ingress:
  - from: [{{namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ok}}}}}}}]
    ports: [{{port: 8080, protocol: TCP}}]
"#
    );
    cp.apply_yaml_in(&dst, &yaml).await;
    let mut pod = pods::pod_json("web", BUSYBOX_IMAGE, &["httpd", "-f", "-p", "8080", "-h", "/var/www"]);
    pod["metadata"]["labels"] = json!({"app": "web"});
    pod["spec"]["containers"][0]["readinessProbe"] = json!({"tcpSocket": {"port": 8080}, "periodSeconds": 1});
    pods::create_pod(&client, &dst, &pod).await;
    pods::wait_ready(&client, &dst, "web", MINUTE).await;
    let item = |id: &str| {
        format!(
            "[[item]]\nid = \"{id}\"\ncategory = \"network\"\ntitle = \"t\"\ncheck = \"netpol.isolation\"\nowner = \"p\"\n[item.with]\n\
         namespace = \"{dst}\"\nselector = {{ app = \"web\" }}\nport = 8080\nallow_from = [\"{ok}\"]\ndeny_from = [\"{no}\"]\nimage = \"{BUSYBOX_IMAGE}\"\n"
        )
    };
    let checklist = format!(
        "[launch]\nname = \"n\"\napprovers = [\"l\"]\n[[category]]\nid = \"network\"\ntitle = \"N\"\n{}{}",
        item("network.a"),
        item("network.b")
    );
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("checklist.toml"), checklist).unwrap();
    let before = cp.request_counts().await;
    let t0 = Instant::now();
    let out = Command::new(BIN)
        .args(["audit", "--out-dir", "out", "--format", "json", "--item-timeout", "60s", "--kubeconfig"])
        .arg(cp.admin_kubeconfig())
        .current_dir(ws.path())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", ws.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let took = t0.elapsed();
    let after = cp.request_counts().await;
    let report = std::fs::read_to_string(ws.path().join("out/kgents-gate-report.json")).unwrap();
    std::fs::write("/tmp/repro/report.json", &report).unwrap();
    eprintln!("took {took:?} exit {:?}\nstderr {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    for (k, v) in after.by_verb_and_resource() {
        let b = before.by_verb_and_resource().get(&k).copied().unwrap_or(0);
        if v > b {
            eprintln!("{k:?}: {}", v - b);
        }
    }
}
