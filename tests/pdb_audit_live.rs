//! The `pdb.health` check and the `pdb` command against a real Kubernetes 1.20 control plane,
//! through the binary: the kgents NATS PDB healthy, blocked and with a kustomize-polluted
//! selector, the observed status as JSON, and a Deployment mid-rollout with and without --settle.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;
use support::kubelet::{PodState, PodStatePlayer, is_ready, ready_pods, set_pod_state};
use support::{ControlPlane, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn nats_yaml(pdb_labels: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: nats, labels: {{app.kubernetes.io/name: nats}}}}
spec:
  serviceName: nats
  replicas: 3
  selector: {{matchLabels: {{app.kubernetes.io/name: nats}}}}
  template:
    metadata: {{labels: {{app.kubernetes.io/name: nats}}}}
    spec: {{containers: [{{name: nats, image: "nats:2.10.29"}}]}}
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {{name: nats-pdb}}
spec:
  minAvailable: 2
  selector: {{matchLabels: {{{pdb_labels}}}}}
"#
    )
}

fn pdb_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, "poddisruptionbudgets"))
}

/// Waits until the disruption controller has written `want` (expected, current, desired,
/// allowed) for the current generation of `ns/name`.
async fn controller_status(client: &kube::Client, ns: &str, name: &str, want: [i64; 4]) {
    let pdbs = pdb_api(client, ns);
    eventually(&format!("status {want:?} on {ns}/{name}"), Duration::from_secs(60), || async {
        let pdb = pdbs.get(name).await.map_err(|e| e.to_string())?;
        let s = &pdb.data["status"];
        let got = ["expectedPods", "currentHealthy", "desiredHealthy", "disruptionsAllowed"]
            .map(|k| s[k].as_i64().unwrap_or(-1));
        let fresh = s["observedGeneration"].as_i64() == pdb.metadata.generation;
        (fresh && got == want).then_some(()).ok_or(format!("{s}"))
    })
    .await;
}

/// A temp dir with a checklist of one blocking `pdb.health` item on `ns` (built-in catalog).
fn checklist(ns: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[launch]\nname = \"pdb live\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"resources\"\ntitle = \"Resources\"\n\n[[item]]\nid = \"resources.pdb\"\ncategory = \"resources\"\ntitle = \"PDBs healthy\"\ncheck = \"pdb.health\"\nowner = \"platform\"\n[item.with]\nnamespaces = [\"{ns}\"]\n"
    );
    std::fs::write(dir.path().join("checklist.toml"), text).unwrap();
    dir
}

fn gate(dir: &Path, args: &[String]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", dir)
        .output()
        .unwrap()
}

/// Runs `audit --format json` in `dir` (off the async runtime); returns the exit code and the
/// one item of the JSON report.
async fn audit(dir: &Path, kubeconfig: &Path, extra: &[&str]) -> (Option<i32>, Value, Duration) {
    let mut args: Vec<String> = ["audit", "--checklist", "checklist.toml", "--format", "json", "--out-dir", "out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--kubeconfig".to_string(), kubeconfig.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let d = dir.to_path_buf();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || gate(&d, &args)).await.unwrap();
    let took = started.elapsed();
    let text = std::fs::read_to_string(dir.join("out/kgents-gate-report.json")).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let report: Value = serde_json::from_str(&text).unwrap();
    let item = report["items"][0].clone();
    (out.status.code(), item, took)
}

fn finding_codes(item: &Value) -> Vec<String> {
    item["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_string()).collect()
}

fn evidence(item: &Value, name: &str) -> Option<String> {
    item["evidence"].as_array()?.iter().find(|f| f["name"] == name).and_then(|f| f["value"].as_str()).map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kgents_nats_pdb_passes_then_blocks_then_matches_nothing() {
    let plane = ControlPlane::shared();
    let client = plane.client();
    let ns = plane.unique_namespace("kgents-agents").await;
    plane.apply_yaml_in(&ns, &nats_yaml("app.kubernetes.io/name: nats")).await;
    ready_pods(&client, &ns, "app.kubernetes.io/name=nats", 3, Duration::from_secs(60)).await;
    controller_status(&client, &ns, "nats-pdb", [3, 3, 2, 1]).await;
    let kubeconfig = plane.admin_kubeconfig();
    let dir = checklist(&ns);

    let (code, item, _) = audit(dir.path(), &kubeconfig, &[]).await;
    assert_eq!(code, Some(0), "{item:#}");
    assert_eq!(item["outcome"], "pass", "{item:#}");
    assert_eq!(
        evidence(&item, &format!("{ns}/nats-pdb")).as_deref(),
        Some("observed: expectedPods=3 currentHealthy=3 desiredHealthy=2 disruptionsAllowed=1"),
        "{item:#}"
    );

    // A NATS pod failing its readiness probe: no node drain may proceed.
    set_pod_state(&client, &ns, "nats-1", PodState::NotReady).await;
    controller_status(&client, &ns, "nats-pdb", [3, 2, 2, 0]).await;
    let (code, item, _) = audit(dir.path(), &kubeconfig, &[]).await;
    assert_eq!(code, Some(1), "{item:#}");
    assert_eq!(item["outcome"], "fail", "{item:#}");
    assert_eq!(finding_codes(&item), ["pdb-no-disruption-allowed"], "{item:#}");
    assert_eq!(item["code"], "pdb-no-disruption-allowed");

    // Healthy again, then kustomize `commonLabels` lands in the PDB's matchLabels.
    set_pod_state(&client, &ns, "nats-1", PodState::Ready).await;
    controller_status(&client, &ns, "nats-pdb", [3, 3, 2, 1]).await;
    let polluted = "app.kubernetes.io/name: nats, app.kubernetes.io/part-of: kgents, environment: production";
    plane.apply_yaml_in(&ns, &nats_yaml(polluted)).await;
    controller_status(&client, &ns, "nats-pdb", [0, 0, 2, 0]).await;
    let (code, item, _) = audit(dir.path(), &kubeconfig, &[]).await;
    assert_eq!(code, Some(1), "{item:#}");
    let codes = finding_codes(&item);
    assert!(codes.contains(&"pdb-selector-matches-nothing".to_string()), "{item:#}");
    assert!(!codes.contains(&"pdb-no-disruption-allowed".to_string()), "{item:#}");
    let f = item["findings"].as_array().unwrap().iter().find(|f| f["code"] == "pdb-selector-matches-nothing").unwrap();
    let missing = f["evidence"].as_array().unwrap().iter().find(|e| e["name"] == "labels_missing_from_its_pods");
    let missing = missing.and_then(|e| e["value"].as_str()).unwrap_or_default();
    assert!(
        missing.contains("app.kubernetes.io/part-of=kgents") && missing.contains("environment=production"),
        "{f:#}"
    );
}

fn pdb_command(kubeconfig: &Path, ns: &str) -> (Option<i32>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = ["pdb", "--kubeconfig", &kubeconfig.display().to_string(), "-n", ns, "--format", "json"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = gate(dir.path(), &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdb_command_prints_the_observed_status() {
    let plane = ControlPlane::shared();
    let client = plane.client();
    let ns = plane.unique_namespace("pdb-cmd").await;
    plane.apply_yaml_in(&ns, &nats_yaml("app.kubernetes.io/name: nats")).await;
    ready_pods(&client, &ns, "app.kubernetes.io/name=nats", 3, Duration::from_secs(60)).await;
    controller_status(&client, &ns, "nats-pdb", [3, 3, 2, 1]).await;
    let kubeconfig: PathBuf = plane.admin_kubeconfig();
    let (k, n) = (kubeconfig.clone(), ns.clone());
    let (code, json) = tokio::task::spawn_blocking(move || pdb_command(&k, &n)).await.unwrap();
    assert_eq!(code, Some(0), "{json:#}");
    let expected = serde_json::json!([{
        "namespace": ns, "name": "nats-pdb", "status_source": "observed",
        "status": {"expectedPods": 3, "currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1},
        "findings": []
    }]);
    assert_eq!(json, expected);

    set_pod_state(&client, &ns, "nats-2", PodState::NotReady).await;
    controller_status(&client, &ns, "nats-pdb", [3, 2, 2, 0]).await;
    let n = ns.clone();
    let (code, json) = tokio::task::spawn_blocking(move || pdb_command(&kubeconfig, &n)).await.unwrap();
    assert_eq!(code, Some(1), "{json:#}");
    assert_eq!(json[0]["status_source"], "observed");
    assert_eq!(json[0]["status"]["disruptionsAllowed"], 0);
    assert_eq!(json[0]["findings"][0]["code"], "pdb-no-disruption-allowed");
    assert_eq!(json[0]["findings"][0]["severity"], "error");

    // An identity without list rights on the namespace cannot read: exit 3, naming the permission.
    let alice = plane.kubeconfig_for("alice");
    let n = ns.clone();
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<String> = ["pdb", "--kubeconfig", &alice.display().to_string(), "-n", &n, "--format", "json"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        gate(dir.path(), &args)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("missing permission: list") && stderr.contains(&ns), "{stderr}");
}

const API: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}, annotations: {release: "RELEASE"}}
    spec: {containers: [{name: api, image: "kgents/api:RELEASE"}]}
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: api-pdb}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: api}}
"#;

/// Waits until the Deployment's status says the latest spec is observed and `check` holds.
async fn deployment_status(client: &kube::Client, ns: &str, what: &str, check: fn(&Value) -> bool) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    eventually(what, Duration::from_secs(60), || async {
        let d = deployments.get("api").await.map_err(|e| e.to_string())?;
        let s = serde_json::to_value(&d.status).unwrap();
        let observed = s["observedGeneration"].as_i64() == d.metadata.generation;
        (observed && check(&s)).then_some(()).ok_or(format!("{s}"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_in_progress_is_unverified_and_settle_waits_for_it() {
    let plane = ControlPlane::shared();
    let client = plane.client();
    let ns = plane.unique_namespace("rollout").await;
    plane.apply_yaml_in(&ns, &API.replace("RELEASE", "1")).await;
    ready_pods(&client, &ns, "app=api", 2, Duration::from_secs(60)).await;
    deployment_status(&client, &ns, "api settled", |s| s["availableReplicas"] == 2 && s["updatedReplicas"] == 2).await;
    controller_status(&client, &ns, "api-pdb", [2, 2, 1, 1]).await;
    let kubeconfig = plane.admin_kubeconfig();
    let dir = checklist(&ns);
    let (code, item, _) = audit(dir.path(), &kubeconfig, &[]).await;
    assert_eq!((code, &item["outcome"]), (Some(0), &Value::from("pass")), "{item:#}");

    // Release 2: the new ReplicaSet's surge pod never becomes Ready on its own.
    plane.apply_yaml_in(&ns, &API.replace("RELEASE", "2")).await;
    deployment_status(&client, &ns, "api rolling out", |s| s["updatedReplicas"] == 1).await;
    let (code, item, _) = audit(dir.path(), &kubeconfig, &[]).await;
    assert_eq!(code, Some(3), "{item:#}");
    assert_eq!(item["outcome"], "unverified", "{item:#}");
    assert_eq!(item["unverified"]["code"], "rollout-in-progress", "{item:#}");
    assert!(item["unverified"]["reason"].as_str().unwrap().contains("Deployment"), "{item:#}");

    // --settle with nobody making the new pod Ready: the audit waits as long as the item
    // timeout allows and still says why (the rollout), not merely that time ran out.
    let (code, item, took) = audit(dir.path(), &kubeconfig, &["--settle", "1m", "--item-timeout", "4s"]).await;
    assert_eq!((code, &item["outcome"]), (Some(3), &Value::from("unverified")), "{item:#}");
    assert_eq!(item["unverified"]["code"], "rollout-in-progress", "{item:#}");
    assert!(took >= Duration::from_secs(3), "--settle returned after {took:?}");

    // With --settle the audit re-reads; the kubelet brings the new pods up a few seconds in.
    let kubelet_client = client.clone();
    let kubelet_ns = ns.clone();
    let kubelet = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        PodStatePlayer::start(&kubelet_client, &kubelet_ns, "app=api", |p: &Pod| {
            (!is_ready(p)).then_some(PodState::Ready)
        })
    });
    let (code, item, took) = audit(dir.path(), &kubeconfig, &["--settle", "20s"]).await;
    let _player = kubelet.await.unwrap();
    assert_eq!(code, Some(0), "{item:#}");
    assert_eq!(item["outcome"], "pass", "{item:#}");
    assert!(took >= Duration::from_secs(4), "the audit did not wait for the rollout: {took:?}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let d = deployments.get("api").await.unwrap();
    let status = d.status.unwrap();
    assert_eq!((status.updated_replicas, status.available_replicas), (Some(2), Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_on_1_20_is_explained() {
    let plane = ControlPlane::shared();
    let client = plane.client();
    let ns = plane.unique_namespace("pdb-naked").await;
    // Pods started by hand (no controller) under a maxUnavailable PDB: the 1.20 controller
    // cannot find their scale, writes no condition and leaves disruptionsAllowed at 0.
    plane
        .apply_yaml_in(
            &ns,
            r#"
apiVersion: v1
kind: Pod
metadata: {name: worker-a, labels: {app: worker}}
spec: {containers: [{name: w, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: worker-b, labels: {app: worker}}
spec: {containers: [{name: w, image: busybox}]}
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: worker-pdb}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: worker}}
"#,
        )
        .await;
    ready_pods(&client, &ns, "app=worker", 2, Duration::from_secs(60)).await;
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
    eventually("the controller's NoControllerRef event", Duration::from_secs(60), || async {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("NoControllerRef"))
            .then_some(())
            .ok_or("no event".to_string())
    })
    .await;
    let kubeconfig = plane.admin_kubeconfig();
    let n = ns.clone();
    let (code, json) = tokio::task::spawn_blocking(move || pdb_command(&kubeconfig, &n)).await.unwrap();
    assert_eq!(code, Some(1), "{json:#}");
    assert_eq!(json[0]["status_source"], "observed");
    let codes: Vec<&str> = json[0]["findings"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
    assert!(codes.contains(&"pdb-controller-sync-failed"), "{json:#}");
    let f = json[0]["findings"].as_array().unwrap().iter().find(|f| f["code"] == "pdb-controller-sync-failed").unwrap();
    assert!(f["message"].as_str().unwrap().contains("found no controller ref for pod"), "{f:#}");
}
