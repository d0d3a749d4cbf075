//! Checks that need real pods on the real node (tests/support/node.rs) besides the network
//! probe: PodDisruptionBudget health whose pods' readiness comes from real readiness probes (a
//! fresh Deployment waited for with `--settle`; a pod whose probe fails after the rollout fails the
//! check at once, and passes again once the probe does), and the kgents world's NATS
//! StatefulSet and triad-redis from examples/kgents/manifests running on the node with the local
//! images, checked by `nats.cluster` and `redis.idempotency-store` through their ClusterIPs
//! (there is no cluster DNS: the endpoints are given with `--set`).

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use support::node::pods::{self, ready_condition};
use support::node::{BUSYBOX_IMAGE, NATS_IMAGE, REDIS_IMAGE};
use support::{ControlPlane, RealNode, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const MINUTE: Duration = Duration::from_secs(60);
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kgents");

fn gate(cp: &ControlPlane, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Value, Duration) {
    let mut cmd = Command::new(BIN);
    cmd.args(["audit", "--out-dir"])
        .arg(dir.join("out"))
        .args(["--format", "json", "--kubeconfig"])
        .arg(cp.admin_kubeconfig())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().expect("run the gate");
    let took = started.elapsed();
    let text = std::fs::read_to_string(dir.join("out/kgents-gate-report.json")).unwrap_or_default();
    let report =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr)));
    (out, report, took)
}

fn item_of<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == id))
        .unwrap_or_else(|| panic!("no item {id}: {r:#}"))
}

fn codes(item: &Value) -> Vec<String> {
    item["findings"].as_array().into_iter().flatten().filter_map(|f| f["code"].as_str().map(String::from)).collect()
}

/// Waits until the disruption controller has written `allowed` into the PDB's status.
async fn wait_disruptions_allowed(node: &RealNode, ns: &str, allowed: &str) {
    eventually(&format!("web-pdb disruptionsAllowed {allowed}"), MINUTE, || async {
        let out = node
            .kubectl()
            .args(["get", "pdb", "web-pdb", "-n", ns, "-o", "jsonpath={.status.disruptionsAllowed}"])
            .output()
            .map_err(|e| e.to_string())?;
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if got == allowed { Ok(()) } else { Err(got) }
    })
    .await
}

#[tokio::test]
async fn pdb_health_follows_real_readiness_probes_within_the_settle_window() {
    let node = RealNode::shared();
    let cp = node.plane();
    let client = cp.client();
    let ns = cp.unique_namespace("pdb-real").await;
    // Ready while /tmp/ready exists: a test breaks and fixes a pod's readiness from inside it.
    let yaml = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {BUSYBOX_IMAGE}
        imagePullPolicy: Never
        command: ["sh", "-c", "touch /tmp/ready && exec httpd -f -p 8080 -h /tmp"]
        readinessProbe:
          exec: {{command: ["cat", "/tmp/ready"]}}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {{name: web-pdb}}
spec:
  minAvailable: 2
  selector: {{matchLabels: {{app: web}}}}
"#
    );
    cp.apply_yaml_in(&ns, &yaml).await;
    let ws = tempfile::tempdir().unwrap();
    let checklist = format!(
        "[launch]\nname = \"pdb on a real node\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"r\"\ntitle = \"R\"\n\n\
         [[item]]\nid = \"resources.pdb\"\ncategory = \"r\"\ntitle = \"web survives a drain\"\ncheck = \"pdb.health\"\n\
         owner = \"platform\"\n[item.with]\nnamespaces = [\"{ns}\"]\n"
    );
    std::fs::write(ws.path().join("checklist.toml"), checklist).unwrap();

    // Started at once: the pods become Ready during the settle window, and then it passes.
    let (out, r, took) = gate(cp, ws.path(), &["--settle", "60s", "--item-timeout", "90s"], &[]);
    let it = item_of(&r, "resources.pdb");
    eprintln!("fresh Deployment, --settle 60s: {:?} in {took:?}", it["outcome"]);
    assert_eq!(out.status.code(), Some(0), "{it:#}");
    assert_eq!(it["outcome"], "pass", "{it:#}");

    // One pod's readiness probe fails for real: the PDB allows no disruption.
    let list =
        Api::<Pod>::namespaced(client.clone(), &ns).list(&ListParams::default().labels("app=web")).await.unwrap();
    let victim = list.items[0].metadata.name.clone().expect("a pod name");
    let broke = node.exec(&ns, &victim, "rm /tmp/ready").await;
    assert_eq!(broke.code, 0, "{broke:?}");
    let broken_at = Instant::now();
    eventually("the pod's readiness probe to fail", MINUTE, || async {
        let pod = Api::<Pod>::namespaced(client.clone(), &ns).get(&victim).await.map_err(|e| e.to_string())?;
        if ready_condition(&pod) == Some(false) { Ok(()) } else { Err(pods::describe(&pod)) }
    })
    .await;
    wait_disruptions_allowed(&node, &ns, "0").await;
    eprintln!("readiness probe failed and the PDB allows 0, {:?} after the file went", broken_at.elapsed());
    let (out, r, took) = gate(cp, ws.path(), &["--settle", "10s", "--item-timeout", "30s"], &[]);
    let it = item_of(&r, "resources.pdb");
    eprintln!("one pod unready, --settle 10s: {:?} {:?} in {took:?}", it["outcome"], codes(it));
    assert_eq!(out.status.code(), Some(1), "{it:#}");
    assert!(codes(it).iter().any(|c| c == "pdb-no-disruption-allowed"), "{it:#}");

    // Fixed: the real probe passes again, and the PDB allows one disruption. (A finished
    // rollout's unready pod is no rollout to wait for: --settle does not hide it either way.)
    let fixed = node.exec(&ns, &victim, "touch /tmp/ready").await;
    assert_eq!(fixed.code, 0, "{fixed:?}");
    let fixed_at = Instant::now();
    eventually("the pod's readiness probe to pass again", MINUTE, || async {
        let pod = Api::<Pod>::namespaced(client.clone(), &ns).get(&victim).await.map_err(|e| e.to_string())?;
        if ready_condition(&pod) == Some(true) { Ok(()) } else { Err(pods::describe(&pod)) }
    })
    .await;
    wait_disruptions_allowed(&node, &ns, "1").await;
    eprintln!("readiness probe passed and the PDB allows 1, {:?} after the file came back", fixed_at.elapsed());
    let (out, r, took) = gate(cp, ws.path(), &["--settle", "60s", "--item-timeout", "90s"], &[]);
    let it = item_of(&r, "resources.pdb");
    eprintln!("readiness fixed, --settle 60s: {:?} in {took:?}", it["outcome"]);
    assert_eq!(out.status.code(), Some(0), "{it:#}");
    assert_eq!(it["outcome"], "pass", "{it:#}");
}

/// Images the node has for the example's; containers whose image it has not are left out.
fn local_image(image: &str) -> Option<&'static str> {
    match image.split(':').next() {
        Some("nats") => Some(NATS_IMAGE),
        Some("redis") => Some(REDIS_IMAGE),
        _ => None,
    }
}

/// The example's objects as the node can run them, nothing else changed: local images with
/// `imagePullPolicy: Never` (containers without a local image, the exporter sidecar and the
/// kgents services, are left out, and workloads left without containers dropped), emptyDir for
/// volume claims (no storage provisioner here), PDBs in policy/v1beta1 (all 1.20 serves), and
/// the NATS routes by the ClusterIPs of per-pod Services (no cluster DNS).
fn for_the_node(docs: Vec<Value>, routes: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for mut doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        if kind == "PodDisruptionBudget" {
            doc["apiVersion"] = json!("policy/v1beta1");
        }
        if kind == "ConfigMap" && doc["metadata"]["name"] == "nats-config" {
            let conf = doc["data"]["nats.conf"].as_str().unwrap_or_default().to_string();
            let mut lines: Vec<String> = Vec::new();
            let mut in_routes = false;
            for line in conf.lines() {
                if line.trim_start().starts_with("nats://") && in_routes {
                    continue;
                }
                in_routes = line.contains("routes: [");
                lines.push(line.to_string());
                if in_routes {
                    lines.extend(routes.iter().map(|r| format!("        {r}")));
                }
            }
            doc["data"]["nats.conf"] = json!(lines.join("\n"));
        }
        if matches!(kind.as_str(), "Deployment" | "StatefulSet") {
            let spec = &mut doc["spec"]["template"]["spec"];
            let containers = spec["containers"].as_array().cloned().unwrap_or_default();
            let kept: Vec<Value> = containers
                .into_iter()
                .filter_map(|mut c| {
                    let image = local_image(c["image"].as_str().unwrap_or_default())?;
                    if image == REDIS_IMAGE {
                        // The official image's `WORKDIR /data` and `VOLUME /data`, where Redis
                        // writes its append-only file as the non-root redis user.
                        c["workingDir"] = json!("/data");
                        let mut mounts = c["volumeMounts"].as_array().cloned().unwrap_or_default();
                        mounts.push(json!({"name": "redis-data", "mountPath": "/data"}));
                        c["volumeMounts"] = json!(mounts);
                    }
                    c["image"] = json!(image);
                    c["imagePullPolicy"] = json!("Never");
                    Some(c)
                })
                .collect();
            if kept.is_empty() {
                continue;
            }
            if kept.iter().any(|c| c["image"] == REDIS_IMAGE) {
                let mut volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
                volumes.push(json!({"name": "redis-data", "emptyDir": {}}));
                spec["volumes"] = json!(volumes);
            }
            spec["containers"] = json!(kept);
            if let Some(claims) = doc["spec"].as_object_mut().and_then(|s| s.remove("volumeClaimTemplates")) {
                let spec = &mut doc["spec"]["template"]["spec"];
                let mut volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
                for c in claims.as_array().into_iter().flatten() {
                    volumes.push(json!({"name": c["metadata"]["name"], "emptyDir": {}}));
                }
                spec["volumes"] = json!(volumes);
            }
        }
        out.push(doc);
    }
    out
}

fn example_docs(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!("{EXAMPLE}/manifests/{file}")).expect("example manifest");
    serde_saphyr::from_multiple(&text).expect("the example's YAML")
}

#[tokio::test]
async fn the_kgents_nats_cluster_and_triad_redis_pass_their_checks_through_cluster_ips() {
    let node = RealNode::shared();
    let cp = node.plane();
    let client = cp.client();
    for doc in example_docs("namespaces.yaml") {
        cp.apply_yaml(&doc.to_string()).await;
    }
    // One ClusterIP per NATS pod stands in for its DNS name under the headless Service.
    let mut routes = Vec::new();
    for i in 0..3 {
        let svc = format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: nats-route-{i}, namespace: kgents-agents}}\n\
             spec:\n  publishNotReadyAddresses: true\n  selector: {{statefulset.kubernetes.io/pod-name: nats-{i}}}\n\
             \x20 ports: [{{name: cluster, port: 6222}}]\n"
        );
        cp.apply_yaml(&svc).await;
        routes.push(format!(
            "nats://{}:6222",
            pods::cluster_ip(&client, "kgents-agents", &format!("nats-route-{i}")).await
        ));
    }
    let started = Instant::now();
    for file in ["nats.yaml", "triad.yaml"] {
        for doc in for_the_node(example_docs(file), &routes) {
            cp.apply_yaml(&doc.to_string()).await;
        }
    }
    for i in 0..3 {
        pods::wait_ready(&client, "kgents-agents", &format!("nats-{i}"), Duration::from_secs(120)).await;
    }
    let redis = eventually("a triad-redis pod", MINUTE, || async {
        let list = Api::<Pod>::namespaced(client.clone(), "kgents-triad")
            .list(&ListParams::default().labels("app=triad-redis"))
            .await
            .map_err(|e| e.to_string())?;
        list.items.into_iter().find_map(|p| p.metadata.name).ok_or_else(|| "none yet".to_string())
    })
    .await;
    pods::wait_ready(&client, "kgents-triad", &redis, MINUTE).await;
    eprintln!("3 NATS pods and triad-redis Ready {:?} after apply", started.elapsed());
    let nats_ip = pods::cluster_ip(&client, "kgents-agents", "nats").await;
    let redis_ip = pods::cluster_ip(&client, "kgents-triad", "triad-redis").await;
    node.wait_service_programmed(nats_ip, 4222, MINUTE).await;
    node.wait_service_programmed(redis_ip, 6379, MINUTE).await;

    let ws = tempfile::tempdir().unwrap();
    let checklist = format!("{EXAMPLE}/checklist.toml");
    let set = [
        format!("--set=resources.nats-cluster.url=nats://{nats_ip}:4222"),
        format!("--set=resources.nats-cluster.monitor_url=http://{nats_ip}:8222"),
        format!("--set=resources.redis-idempotency.url=redis://{redis_ip}:6379/0"),
    ];
    let mut args = vec!["--checklist", &checklist, "--only", "resources.nats-cluster,resources.redis-idempotency"];
    args.extend(set.iter().map(String::as_str));
    let secrets =
        [("KGENTS_NATS_TOKEN", "example-not-a-real-token"), ("KGENTS_REDIS_PASSWORD", "example-not-a-real-password")];
    // The routes form and JetStream elects its meta leader shortly after the pods are Ready.
    let mut last = Value::Null;
    let deadline = Instant::now() + MINUTE;
    let (out, r) = loop {
        let (out, r, took) = gate(cp, ws.path(), &args, &secrets);
        let nats = item_of(&r, "resources.nats-cluster").clone();
        eprintln!("audit in {took:?}: nats {:?} {:?}", nats["outcome"], codes(&nats));
        if nats["outcome"] == "pass" || Instant::now() > deadline {
            break (out, r);
        }
        last = nats;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let nats = item_of(&r, "resources.nats-cluster");
    assert_eq!(nats["outcome"], "pass", "{nats:#}\nbefore: {last:#}");
    let redis = item_of(&r, "resources.redis-idempotency");
    assert_eq!(redis["outcome"], "pass", "{redis:#}");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let notes = r["notes"].to_string();
    assert!(notes.contains("resources.nats-cluster.url") && !notes.contains(&nats_ip.to_string()), "{notes}");
    assert!(!r.to_string().contains("example-not-a-real"), "no credential in the report");
}
