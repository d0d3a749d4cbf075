//! The scan-report check against a real Kubernetes 1.20 control plane: the images the Pods run
//! are the digests their status names (`imageID`, written by the simulated kubelet), matched to
//! the reports by digest; another digest of a scanned repository fails, an image without a
//! report and a token that cannot list Pods are unverified, and the `rbac` YAML is enough.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;
use support::kubelet::set_pod_state_with_image_ids;
use support::{ControlPlane, PodState};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpora/scan");

/// `registry.example.com/kgents/api` as trivy-omitted-arrays.json scanned it.
const API_DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
/// `registry.example.com/kgents/worker` as grype-fix-states.json scanned it.
const WORKER_SCANNED: &str = "sha256:8888888888888888888888888888888888888888888888888888888888888888";
/// What the worker Pod actually pulled: a rebuilt image under the same tag.
const WORKER_RUNNING: &str = "sha256:9999999999999999999999999999999999999999999999999999999999999999";
const REDIS_RUNNING: &str = "sha256:abababababababababababababababababababababababababababababababab";
const NATS_RUNNING: &str = "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
const NATS_DEPLOYMENT: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bus}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: bus}}\n  template:\n    metadata: {labels: {app: bus}}\n    spec: {containers: [{name: nats, image: \"nats:2.10.29-alpine\"}]}\n";

fn pod(name: &str, image: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {name}}}}}\nspec:\n  containers:\n  - {{name: app, image: \"{image}\"}}\n"
    )
}

/// A namespace with Pods whose status names the pulled images, the way each runtime writes it.
async fn deployed_namespace() -> (String, String) {
    let plane = ControlPlane::shared();
    let ns = plane.unique_namespace("scan").await;
    let yaml = [
        pod("api", "registry.example.com/kgents/api:1.4.2"),
        pod("worker", "registry.example.com/kgents/worker:2.0.1"),
        pod("cache", "redis:7.0.15"),
        pod("starting", "registry.example.com/kgents/api:1.4.2"),
        pod("finished", "registry.example.com/kgents/migrate:0.9"),
        NATS_DEPLOYMENT.to_string(),
    ]
    .concat();
    plane.apply_yaml_in(&ns, &yaml).await;
    let client = plane.client();
    // The Deployment's Pod, made by the real controllers, runs what containerd pulled.
    let bus = support::kubelet::ready_pods(&client, &ns, "app=bus", 1, Duration::from_secs(30)).await;
    let bus_name = bus[0].metadata.name.clone().unwrap();
    let nats_id = format!("docker.io/library/nats@{NATS_RUNNING}");
    set_pod_state_with_image_ids(&client, &ns, &bus_name, PodState::Ready, &[("nats", &nats_id)]).await;
    let api_id = format!("docker-pullable://registry.example.com/kgents/api@{API_DIGEST}");
    set_pod_state_with_image_ids(&client, &ns, "api", PodState::Ready, &[("app", &api_id)]).await;
    let worker_id = format!("registry.example.com/kgents/worker@{WORKER_RUNNING}");
    set_pod_state_with_image_ids(&client, &ns, "worker", PodState::Ready, &[("app", &worker_id)]).await;
    let redis_id = format!("docker-pullable://redis@{REDIS_RUNNING}");
    set_pod_state_with_image_ids(&client, &ns, "cache", PodState::Ready, &[("app", &redis_id)]).await;
    // Still pulling: no imageID in its status yet.
    set_pod_state_with_image_ids(&client, &ns, "starting", PodState::Waiting("ContainerCreating".into()), &[]).await;
    // A finished run no longer runs its image.
    let old = "docker-pullable://registry.example.com/kgents/migrate@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    set_pod_state_with_image_ids(&client, &ns, "finished", PodState::Exited(0), &[("app", old)]).await;
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let listed = pods.list(&ListParams::default()).await.unwrap();
    let ids: Vec<String> = listed
        .items
        .iter()
        .flat_map(|p| p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()))
        .map(|c| c.image_id.clone())
        .collect();
    assert!(ids.contains(&api_id), "the API server keeps the imageID the kubelet wrote: {ids:?}");
    (ns, bus_name)
}

/// A checklist with the image-scan item for `ns` and the given corpus reports in `scans/`.
fn workspace(ns: &str, reports: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scans")).unwrap();
    for r in reports {
        let name = Path::new(r).file_name().unwrap();
        std::fs::copy(Path::new(CORPUS).join(r), dir.path().join("scans").join(name)).unwrap();
    }
    let text = format!(
        "[launch]\nname = \"scan\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"security\"\ntitle = \"Security\"\n\n\
         [[item]]\nid = \"images\"\ncategory = \"security\"\ntitle = \"deployed images scanned\"\ncheck = \"security.image-scan\"\nowner = \"security\"\n\
         [item.with]\nreports = [\"scans/*.json\"]\nnamespaces = [\"{ns}\"]\nfail_on = \"critical\"\n"
    );
    std::fs::write(dir.path().join("checklist.toml"), text).unwrap();
    dir
}

fn audit_as(user: &str, dir: &Path) -> (i32, Value) {
    let kc = ControlPlane::shared().kubeconfig_for(user);
    let out = Command::new(BIN)
        .args(["audit", "--out-dir", "out", "--format", "json", "--today", "2026-11-30", "--kubeconfig"])
        .arg(&kc)
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text =
        std::fs::read_to_string(dir.join("out/kgents-gate-report.json")).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (out.status.code().unwrap_or(-1), serde_json::from_str(&text).unwrap())
}

fn fact<'a>(facts: &'a Value, name: &str) -> Option<&'a str> {
    facts.as_array()?.iter().find(|f| f["name"] == name).and_then(|f| f["value"].as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn live_images_are_matched_to_reports_by_the_digest_the_pods_pulled() {
    let (ns, bus) = deployed_namespace().await;
    let ws = workspace(&ns, &["edge/trivy-omitted-arrays.json", "edge/grype-fix-states.json"]);
    let dir = ws.path().to_path_buf();
    let (code, r) = tokio::task::spawn_blocking(move || audit_as("admin", &dir)).await.unwrap();
    let i = &r["items"][0];
    assert_eq!(i["outcome"], "fail", "{i:#}");
    assert_eq!(code, 1);
    assert!(r["provenance"]["cluster"]["version"].as_str().is_some_and(|v| v.starts_with("v1.20")));

    // api: the digest the Pod pulled is the one the report scanned.
    // The runtime's scheme (`docker-pullable://`) is not part of the image's name.
    let api = format!("image registry.example.com/kgents/api:1.4.2 (registry.example.com/kgents/api@{API_DIGEST})");
    assert_eq!(
        fact(&i["evidence"], &api),
        Some("scans/trivy-omitted-arrays.json (same digest)"),
        "{:#}",
        i["evidence"]
    );

    // worker: the same tag, rebuilt: the running digest is not the scanned one.
    let mismatch: Vec<&Value> =
        i["findings"].as_array().unwrap().iter().filter(|f| f["code"] == "scan-digest-mismatch").collect();
    assert_eq!(mismatch.len(), 1, "{i:#}");
    assert_eq!(mismatch[0]["level"], "error");
    assert_eq!(mismatch[0]["target"], format!("registry.example.com/kgents/worker@{WORKER_RUNNING}"));
    assert_eq!(fact(&mismatch[0]["evidence"], "used_by"), Some(format!("Pod {ns}/worker container app").as_str()));
    assert!(
        fact(&mismatch[0]["evidence"], "report_digests").is_some_and(|d| d.contains(WORKER_SCANNED)),
        "{mismatch:#?}"
    );

    // cache: nothing scanned redis at all.
    let gaps: Vec<(&str, &str)> = i["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["code"].as_str().unwrap(), g["reason"].as_str().unwrap()))
        .collect();
    // bus: the Deployment's Pod counts by what it pulled; its template is not a second image.
    assert_eq!(
        gaps,
        [
            (
                "scan-report-missing",
                format!("no report scanned nats:2.10.29-alpine (docker.io/library/nats@{NATS_RUNNING}) (used by Pod {ns}/{bus} container nats)").as_str()
            ),
            (
                "scan-report-missing",
                format!("no report scanned redis:7.0.15 (redis@{REDIS_RUNNING}) (used by Pod {ns}/cache container app)").as_str()
            ),
        ]
    );
    // starting: no imageID yet, matched by its spec's tag, and the evidence says so.
    assert!(
        fact(&i["evidence"], "image registry.example.com/kgents/api:1.4.2")
            .is_some_and(|v| v.contains("same tag") && v.contains("names no imageID yet")),
        "{:#}",
        i["evidence"]
    );
    // finished: a completed Pod's image is not deployed.
    assert!(!r.to_string().contains("kgents/migrate@"), "{i:#}");
    assert_eq!(fact(&i["evidence"], "images"), Some("5"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_cannot_list_pods_is_unverified_and_the_rbac_yaml_is_enough() {
    let plane = ControlPlane::shared();
    let (ns, _) = deployed_namespace().await;
    // A clean report: what could not be seen decides.
    let ws = workspace(&ns, &["edge/trivy-omitted-arrays.json"]);
    let dir = ws.path().to_path_buf();
    let (code, r) = tokio::task::spawn_blocking(move || audit_as("bob", &dir)).await.unwrap();
    let i = &r["items"][0];
    let gap = &i["gaps"][0];
    assert_eq!(gap["code"], "forbidden", "{i:#}");
    assert_eq!(gap["missing_permission"], format!("list pods in namespace {ns}"));
    assert!(gap["reason"].as_str().unwrap().ends_with("the reports cannot be tied to the deployed images"), "{gap:#}");
    assert_eq!((code, i["outcome"].as_str()), (3, Some("unverified")), "{i:#}");
    assert_eq!(
        fact(&i["evidence"], "scans/trivy-omitted-arrays.json severity").map(|s| s.starts_with("critical 0")),
        Some(true)
    );

    // The least-privilege YAML for this checklist, bound to bob, applied for real.
    let role = support::unique_name("scan-rbac");
    let out = Command::new(BIN)
        .args(["rbac", "--checklist", "checklist.toml", "--name", &role, "--bind", "user:bob"])
        .current_dir(ws.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("pods") && !yaml.contains("secrets"), "{yaml}");
    plane.apply_yaml(&yaml).await;
    let bob: Api<Pod> = Api::namespaced(plane.client_for("bob"), &ns);
    support::eventually("bob may list pods", Duration::from_secs(20), || {
        let bob = bob.clone();
        async move { bob.list(&ListParams::default()).await.map(|_| ()).map_err(|e| e.to_string()) }
    })
    .await;
    let dir = ws.path().to_path_buf();
    let (code, r) = tokio::task::spawn_blocking(move || audit_as("bob", &dir)).await.unwrap();
    let i = &r["items"][0];
    // Judged on the merits: the Pods are seen; bus, worker and cache have no report.
    let gaps: Vec<&str> = i["gaps"].as_array().unwrap().iter().map(|g| g["code"].as_str().unwrap()).collect();
    assert_eq!(gaps, ["scan-report-missing"; 3], "{i:#}");
    assert_eq!((code, i["outcome"].as_str()), (3, Some("unverified")), "{i:#}");
    assert_eq!(fact(&i["evidence"], "images"), Some("5"));
}
