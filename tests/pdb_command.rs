//! `kgents-gate pdb` offline: the stable JSON shape on the example world and on fixtures, the
//! text form, and the exit codes (0 no error finding, 1 error finding, 2 bad input, 3 cannot
//! read). The live, observed form is in tests/pdb_audit_live.rs.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn pdb(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .arg("pdb")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", home.path())
        .output()
        .unwrap()
}

fn out(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn json_of(o: &Output) -> Value {
    let (stdout, stderr) = out(o);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"))
}

/// Every entry has exactly the documented keys, in the documented order, with the right types.
fn assert_shape(stdout: &str, list: &Value) {
    for entry in list.as_array().expect("a JSON list") {
        // The set of keys here; their printed order is checked on the text below.
        let mut keys: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["findings", "name", "namespace", "status", "status_source"], "{entry:#}");
        let mut status: Vec<&str> = entry["status"].as_object().unwrap().keys().map(String::as_str).collect();
        status.sort();
        assert_eq!(status, ["currentHealthy", "desiredHealthy", "disruptionsAllowed", "expectedPods"]);
        assert!(entry["status"].as_object().unwrap().values().all(Value::is_i64), "{entry:#}");
        assert!(matches!(entry["status_source"].as_str(), Some("computed" | "observed")), "{entry:#}");
        for f in entry["findings"].as_array().unwrap() {
            let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort();
            assert_eq!(keys, ["code", "message", "severity"], "{f:#}");
            assert!(matches!(f["severity"].as_str(), Some("error" | "warning" | "info")), "{f:#}");
        }
    }
    // The printed order is the documented one.
    let first = stdout.find('{').map(|i| &stdout[i..]).unwrap_or_default();
    let pos = |k: &str| first.find(&format!("\"{k}\"")).unwrap_or(usize::MAX);
    let order = ["namespace", "name", "status_source", "status", "findings"].map(pos);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "key order {order:?} in {stdout}");
    let order = ["expectedPods", "currentHealthy", "desiredHealthy", "disruptionsAllowed"].map(pos);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "status key order {order:?} in {stdout}");
}

#[test]
fn example_world_computes_the_kgents_pdbs_and_exits_0() {
    let o = pdb(&["--manifests", "examples/kgents/manifests", "--format", "json"]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let list = json_of(&o);
    assert_shape(&stdout, &list);
    let nats = list.as_array().unwrap().iter().find(|p| p["name"] == "nats-pdb").expect("nats-pdb");
    assert_eq!(
        nats,
        &json!({"namespace": "kgents-agents", "name": "nats-pdb", "status_source": "computed",
            "status": {"expectedPods": 3, "currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1},
            "findings": []})
    );
    assert!(list.as_array().unwrap().iter().all(|p| p["status_source"] == "computed"));
}

#[test]
fn a_pod_not_ready_is_an_error_finding_and_exits_1() {
    let o = pdb(&[
        "--manifests",
        "tests/fixtures/pdb/kgents-nats.yaml",
        "--manifests",
        "tests/fixtures/pdb/kgents-pods-one-unready.yaml",
        "--format",
        "json",
    ]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    let list = json_of(&o);
    assert_shape(&stdout, &list);
    assert_eq!(
        list[0]["status"],
        json!({"expectedPods": 3, "currentHealthy": 2, "desiredHealthy": 2, "disruptionsAllowed": 0})
    );
    assert_eq!(list[0]["findings"][0]["code"], "pdb-no-disruption-allowed");
    assert_eq!(list[0]["findings"][0]["severity"], "error");

    let o = pdb(&[
        "--manifests",
        "tests/fixtures/pdb/kgents-nats.yaml",
        "--manifests",
        "tests/fixtures/pdb/kgents-pods-ready.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", out(&o));
    assert_eq!(json_of(&o)[0]["findings"], json!([]));
}

#[test]
fn a_kustomize_polluted_selector_matches_nothing() {
    let o = pdb(&["--manifests", "tests/fixtures/pdb/kgents-nats-kustomize.yaml", "--format", "json"]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    let list = json_of(&o);
    assert_shape(&stdout, &list);
    let codes: Vec<&str> = list[0]["findings"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
    assert_eq!(codes, ["pdb-selector-matches-nothing"]);
    assert_eq!(list[0]["status"]["expectedPods"], 0);
}

#[test]
fn workload_findings_explain_exit_1_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api.yaml");
    std::fs::write(
        &file,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: kgents}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: api, image: api}]}\n",
    )
    .unwrap();
    let o = pdb(&["--manifests", file.to_str().unwrap(), "--format", "json"]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(json_of(&o), json!([]));
    assert!(stderr.contains("workload-without-pdb") && stderr.contains("Deployment kgents/api"), "{stderr}");

    let o = pdb(&["--manifests", file.to_str().unwrap(), "--min-replicas", "4", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", out(&o));
}

#[test]
fn text_format_lists_each_pdb_with_its_numbers() {
    let o = pdb(&[
        "--manifests",
        "tests/fixtures/pdb/kgents-nats.yaml",
        "--manifests",
        "tests/fixtures/pdb/kgents-pods-one-unready.yaml",
    ]);
    let (stdout, _) = out(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout.contains(
        "kgents-agents/nats-pdb (computed): expectedPods 3 currentHealthy 2 desiredHealthy 2 disruptionsAllowed 0"
    ));
    assert!(stdout.contains("error pdb-no-disruption-allowed"), "{stdout}");
}

#[test]
fn bad_input_exits_2() {
    let o = pdb(&["--manifests", "tests/fixtures/pdb/does-not-exist.yaml", "--format", "json"]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("does-not-exist.yaml"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "kind: [unclosed\n").unwrap();
    let o = pdb(&["--manifests", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{:?}", out(&o));

    let o = pdb(&["--manifests", "examples/kgents/manifests", "--min-replicas", "0"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", out(&o));

    // A cluster beside manifests would go unread: refused rather than ignored.
    let o = pdb(&["--manifests", "examples/kgents/manifests", "--kubeconfig", "/nonexistent/kubeconfig"]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("--manifests"), "{stderr}");
}

fn kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig.yaml");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\"}}}}]\nusers: [{{name: u, user: {{token: not-a-real-token}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u}}}}]\ncurrent-context: c\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn an_unreachable_cluster_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let kc = kubeconfig(dir.path(), &format!("https://127.0.0.1:{port}"));
    let o = pdb(&["--kubeconfig", kc.to_str().unwrap(), "--format", "json", "--connect-timeout", "2s"]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("cannot read the PDBs") && stderr.contains(&port.to_string()), "{stderr}");
    assert!(!stderr.contains("not-a-real-token"), "{stderr}");
}
