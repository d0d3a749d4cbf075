//! The gate in the cluster (deploy/): the checked-in RBAC equals what `kgents-gate rbac` prints,
//! the kustomize base renders with kubectl's kustomize, the image script builds a reproducible
//! OCI archive of the Containerfile's layout; and on the real node the image runs as the Job with
//! the in-cluster service account (the in-cluster configuration path), its report equals a run
//! from outside with the same identity and checklist, and without the RBAC it is INCOMPLETE
//! naming the missing permissions.

mod support;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::node::kubectl_path;
use support::{RealNode, run_blocking};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const IMAGE: &str = "localhost/kgents-gate:test";
/// The checks the Job runs: every one reads objects only (no endpoint, no probe pod).
const ONLY: &str =
    "secrets.secret-refs,resources.nats-pdb,resources.nats-limits,resources.api-limits,network.nats-isolated";

fn root() -> &'static Path {
    Path::new(ROOT)
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `kubectl kustomize deploy/base` with Debian's kubectl 1.20.2 (kustomize v2.0.3, the oldest a
/// user may have).
fn kustomize() -> String {
    let kubectl = support::require_binary(&kubectl_path(), "kubectl 1.20.2");
    String::from_utf8(run(Command::new(kubectl).arg("kustomize").arg(root().join("deploy/base"))).stdout).unwrap()
}

#[test]
fn the_checked_in_rbac_is_what_the_rbac_command_prints() {
    let out = run(Command::new(BIN).current_dir(root().join("deploy/base")).args([
        "rbac",
        "--checklist",
        "checklist.toml",
        "--bind",
        "serviceaccount:kgents-gate/kgents-gate",
    ]));
    let printed = String::from_utf8(out.stdout).unwrap();
    let file = std::fs::read_to_string(root().join("deploy/base/rbac.yaml")).unwrap();
    assert!(
        printed == file,
        "deploy/base/rbac.yaml is stale: regenerate it with\n  (cd deploy/base && kgents-gate rbac --checklist \
         checklist.toml --bind serviceaccount:kgents-gate/kgents-gate > rbac.yaml)"
    );
    let shipped = std::fs::read_to_string(root().join("checklist.toml")).unwrap();
    let deployed = std::fs::read_to_string(root().join("deploy/base/checklist.toml")).unwrap();
    assert!(shipped == deployed, "deploy/base/checklist.toml differs from the default checklist.toml");
}

#[test]
fn the_base_renders_and_runs_non_root_on_a_read_only_root() {
    let rendered = kustomize();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&rendered).unwrap();
    let kinds: Vec<String> = docs
        .iter()
        .map(|d| format!("{}/{}", d["kind"].as_str().unwrap(), d["metadata"]["name"].as_str().unwrap()))
        .collect();
    for want in
        ["Namespace/kgents-gate", "ServiceAccount/kgents-gate", "ClusterRole/kgents-gate", "Job/kgents-gate-audit"]
    {
        assert!(kinds.iter().any(|k| k == want), "{want} in {kinds:?}");
    }
    assert!(kinds.iter().any(|k| k.starts_with("ConfigMap/kgents-gate-checklist")), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "CronJob/kgents-gate-nightly"), "{kinds:?}");
    // Roles stay in the namespaces they grant reads in (no kustomize namespace override).
    let role_namespaces: Vec<&str> =
        docs.iter().filter(|d| d["kind"] == "Role").map(|d| d["metadata"]["namespace"].as_str().unwrap()).collect();
    assert!(
        role_namespaces.contains(&"kgents-agents") && role_namespaces.contains(&"kgents-api"),
        "{role_namespaces:?}"
    );
    for d in docs.iter().filter(|d| d["kind"] == "Job" || d["kind"] == "CronJob") {
        let pod = if d["kind"] == "Job" {
            &d["spec"]["template"]["spec"]
        } else {
            &d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        };
        assert_eq!(pod["serviceAccountName"], "kgents-gate");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["securityContext"]["runAsUser"], 65532);
        let c = &pod["containers"][0];
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["image"], "ghcr.io/kgents/kgents-gate:0.1.0");
        let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert!(args.contains(&"--log-json") && args.contains(&"--out-dir=/reports"), "{args:?}");
        // The ConfigMap reference follows the generator's hashed name.
        let cm = pod["volumes"][0]["configMap"]["name"].as_str().unwrap();
        assert!(kinds.contains(&format!("ConfigMap/{cm}")), "{cm} in {kinds:?}");
    }
    // The Containerfile: two stages, a numeric non-root user, the binary as entrypoint.
    let containerfile = std::fs::read_to_string(root().join("Containerfile")).unwrap();
    assert_eq!(containerfile.lines().filter(|l| l.starts_with("FROM ")).count(), 2, "multi-stage");
    assert!(containerfile.lines().any(|l| l == "USER 65532:65532"));
    assert!(containerfile.contains("ENTRYPOINT [\"/usr/local/bin/kgents-gate\"]"));
}

/// Builds the image of the test binary with scripts/build-image.sh.
fn build_image(out: &Path) {
    run(Command::new("bash")
        .arg(root().join("scripts/build-image.sh"))
        .args(["--binary", BIN, "--tag", IMAGE, "--out"])
        .arg(out));
}

/// The files of an OCI archive: name -> bytes.
fn archive_files(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(name, bytes);
    }
    files
}

fn image_archive() -> &'static PathBuf {
    static ARCHIVE: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, path) = ARCHIVE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kgents-gate.oci.tar");
        build_image(&path);
        (dir, path)
    });
    path
}

#[test]
fn the_image_script_builds_a_reproducible_oci_archive_of_the_containerfile_layout() {
    let first = archive_files(image_archive());
    let index: Value = serde_json::from_slice(&first["index.json"]).unwrap();
    let manifest_ref = &index["manifests"][0];
    assert_eq!(manifest_ref["annotations"]["io.containerd.image.name"], IMAGE);
    let blob = |digest: &str| first[&format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))].clone();
    let manifest: Value = serde_json::from_slice(&blob(manifest_ref["digest"].as_str().unwrap())).unwrap();
    let config: Value = serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Entrypoint"], json!(["/usr/local/bin/kgents-gate"]));
    assert_eq!(config["config"]["WorkingDir"], "/home/nonroot");
    // Every blob is named by its digest.
    for (name, bytes) in first.iter().filter(|(n, _)| n.starts_with("blobs/sha256/") && n.len() > 13) {
        use sha2::Digest as _;
        assert_eq!(hex::encode(sha2::Sha256::digest(bytes)), name.trim_start_matches("blobs/sha256/"));
    }
    // The layer: the binary, its loader and libraries, the nonroot user; no shell.
    let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
    let mut names = Vec::new();
    let mut files = tar::Archive::new(flate2::read::GzDecoder::new(layer.as_slice()));
    for e in files.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    for want in ["usr/local/bin/kgents-gate", "lib64/ld-linux-x86-64.so.2", "etc/passwd", "home/nonroot"] {
        assert!(names.iter().any(|n| n.trim_end_matches('/') == want), "{want} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.ends_with("bin/sh")), "no shell in the image: {names:?}");
    // Built again from the same binary: the same bytes.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again.tar");
    build_image(&again);
    assert!(archive_files(&again) == first, "the archive is reproducible");
}

/// The example world for 1.20 (policy/v1beta1, autoscaling/v2beta2) with every workload at 0
/// replicas: nothing to pull, and nothing changes between the two audits compared.
fn example_world() -> String {
    let mut all = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples/kgents/manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    // Namespaces first.
    files.sort_by_key(|p| (!p.ends_with("namespaces.yaml"), p.clone()));
    for f in files {
        let text = std::fs::read_to_string(&f)
            .unwrap()
            .replace("apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n")
            .replace("apiVersion: autoscaling/v2\n", "apiVersion: autoscaling/v2beta2\n");
        let re_replicas = |s: &str| -> String {
            s.lines()
                .map(|l| match l.trim_start().strip_prefix("replicas: ") {
                    Some(_) => format!("{}replicas: 0", &l[..l.len() - l.trim_start().len()]),
                    None => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        all.push_str(&re_replicas(&text));
        all.push_str("\n---\n");
    }
    all
}

/// The rendered base for the test cluster: the Job with the test image (imported, never pulled),
/// `--only` the object checks with `--no-live`, on the host network with the API server's
/// loopback address as the in-cluster service address (the test control plane listens on
/// 127.0.0.1 only); the CronJob as batch/v1beta1 (1.20). `service_account` replaces the Job's.
/// The test API server runs without the ServiceAccount admission plugin (tests create pods in
/// fresh namespaces), so the account's token secret is mounted here exactly as that plugin mounts
/// it on a real cluster: a secret volume at /var/run/secrets/kubernetes.io/serviceaccount.
fn deploy_docs(api_port: u16, job_name: &str, service_account: &str, token_secret: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&kustomize()).unwrap();
    docs.into_iter()
        .map(|mut d| {
            if d["kind"] == "CronJob" {
                d["apiVersion"] = json!("batch/v1beta1");
            }
            if d["kind"] == "Job" {
                d["metadata"]["name"] = json!(job_name);
                let pod = &mut d["spec"]["template"]["spec"];
                pod["serviceAccountName"] = json!(service_account);
                pod["hostNetwork"] = json!(true);
                pod["dnsPolicy"] = json!("ClusterFirstWithHostNet");
                pod["volumes"].as_array_mut().unwrap().push(json!({
                    "name": "sa-token", "secret": {"secretName": token_secret, "defaultMode": 0o644}
                }));
                let c = &mut pod["containers"][0];
                c["image"] = json!(IMAGE);
                c["imagePullPolicy"] = json!("Never");
                c["volumeMounts"].as_array_mut().unwrap().push(json!({
                    "name": "sa-token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true
                }));
                c["env"] = json!([
                    {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                    {"name": "KUBERNETES_SERVICE_PORT", "value": api_port.to_string()},
                ]);
                let args = c["args"].as_array_mut().unwrap();
                args.push(json!(format!("--only={ONLY}")));
                args.push(json!("--no-live"));
                args.push(json!("--today=2026-12-01"));
            }
            d
        })
        .collect()
}

fn yaml_of(docs: &[Value]) -> String {
    docs.iter().map(|d| format!("{d}\n---\n")).collect()
}

/// The token secret the token controller made for service account `kgents-gate/name`.
async fn token_secret(client: &kube::Client, name: &str) -> String {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sas: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), "kgents-gate");
    support::eventually(&format!("the token secret of {name}"), Duration::from_secs(30), || {
        let sas = sas.clone();
        async move {
            let sa = sas.get(name).await.map_err(|e| e.to_string())?;
            sa.secrets.unwrap_or_default().into_iter().find_map(|r| r.name).ok_or("no token secret yet".to_string())
        }
    })
    .await
}

/// Runs Job `name` to its end; returns the pod's exit code and the JSON report from its log.
async fn job_report(client: &kube::Client, name: &str) -> (i32, Value, String) {
    use k8s_openapi::api::core::v1::Pod;
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.clone(), "kgents-gate");
    let pod = support::eventually(&format!("a pod of job {name}"), Duration::from_secs(60), || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&kube::api::ListParams::default().labels(&format!("job-name={name}"))).await;
            let list = list.map_err(|e| e.to_string())?;
            list.items.first().and_then(|p| p.metadata.name.clone()).ok_or("no pod yet".to_string())
        }
    })
    .await;
    let outcome = support::node::pods::wait_finished(client, "kgents-gate", &pod, Duration::from_secs(120)).await;
    let line = outcome
        .logs
        .lines()
        .find(|l| l.starts_with("{\"schema_version\""))
        .unwrap_or_else(|| panic!("no JSON line in the log of {pod}:\n{}", outcome.logs));
    (outcome.exit_code.unwrap_or(-1), serde_json::from_str(line).unwrap(), outcome.logs.clone())
}

/// The report without what differs between two runs by design: timings, the provenance (the
/// API server's address as each run reached it).
fn comparable(mut report: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("duration_ms");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    report.as_object_mut().unwrap().remove("provenance");
    strip(&mut report);
    report
}

#[test]
fn the_image_runs_as_the_job_with_the_deploy_rbac_and_reports_as_from_outside() {
    let node = RealNode::shared();
    let plane = node.plane();
    let archive = image_archive();
    node.import_image(archive).unwrap_or_else(|e| panic!("import {}: {e}", archive.display()));
    let api_port: u16 = plane.api_url().rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap();

    run_blocking(async move {
        plane.apply_yaml(&example_world()).await;
        plane.create_namespace("kgents-gate").await;
        // The Job's own identity, also used from outside for the comparison.
        let sa_kubeconfig = plane.service_account_kubeconfig("kgents-gate", "kgents-gate").await;
        let client = plane.client();
        let secret = token_secret(&client, "kgents-gate").await;
        plane.apply_yaml(&yaml_of(&deploy_docs(api_port, "kgents-gate-audit", "kgents-gate", &secret))).await;
        let (code, inside, logs) = job_report(&client, "kgents-gate-audit").await;
        assert_eq!(inside["exit_code"], code, "the pod exits with the report's code:\n{logs}");
        let cluster = &inside["provenance"]["cluster"];
        assert_eq!(cluster["server"], format!("https://127.0.0.1:{api_port}"), "in-cluster config: {cluster}");
        assert!(cluster["context"].is_null(), "no kubeconfig in the pod: {cluster}");
        assert!(logs.contains("kgents SaaS production launch"), "the terminal report is in the log:\n{logs}");
        let unverified: Vec<&Value> =
            inside["items"].as_array().unwrap().iter().filter(|i| i["outcome"] == "unverified").collect();
        assert!(unverified.is_empty(), "the deploy RBAC grants what the checks read: {unverified:#?}");
        let judged: Vec<&str> = inside["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| ["pass", "fail", "warn"].contains(&i["outcome"].as_str().unwrap_or_default()))
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(judged.len(), ONLY.split(',').count(), "every selected check judged: {inside:#}");
        eprintln!("in-cluster audit: {} ({})", inside["decision"], inside["decision_reason"]);

        // From outside, the same identity and checklist: the same report.
        let ws = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .current_dir(ws.path())
            .env("NO_COLOR", "1")
            .env_remove("KUBECONFIG")
            .env("HOME", ws.path())
            .args(["audit", "--kubeconfig"])
            .arg(&sa_kubeconfig)
            .arg("--checklist")
            .arg(root().join("deploy/base/checklist.toml"))
            .args(["--format", "json", "--out-dir", "out", "--no-live", "--today=2026-12-01"])
            .arg(format!("--only={ONLY}"))
            .output()
            .unwrap();
        let outside: Value =
            serde_json::from_str(&std::fs::read_to_string(ws.path().join("out/kgents-gate-report.json")).unwrap())
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(out.status.code(), Some(code));
        let (a, b) = (comparable(inside.clone()), comparable(outside));
        assert!(a == b, "inside and outside differ:\ninside  {a:#}\noutside {b:#}");

        // Without the RBAC: INCOMPLETE, naming what is missing.
        let bare = "kgents-gate-unbound";
        plane
            .apply_yaml(&format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {bare}, namespace: kgents-gate}}\n"
            ))
            .await;
        let secret = token_secret(&client, bare).await;
        let jobs: Vec<Value> = deploy_docs(api_port, "kgents-gate-unbound", bare, &secret)
            .into_iter()
            .filter(|d| d["kind"] == "Job")
            .collect();
        plane.apply_yaml(&yaml_of(&jobs)).await;
        let (code, report, logs) = job_report(&client, "kgents-gate-unbound").await;
        assert_eq!((code, report["decision"].as_str()), (3, Some("INCOMPLETE")), "{logs}");
        let missing: Vec<String> = report["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["unverified"]["missing_permission"].as_str().map(str::to_string))
            .collect();
        assert!(missing.iter().any(|m| m.contains("secrets")), "missing permissions named: {missing:?}\n{logs}");
        assert!(missing.iter().any(|m| m.contains("poddisruptionbudgets")), "{missing:?}");
    });
}
