//! `kgents-gate netpol eval` on the example world (examples/kgents/manifests): the verdict JSON,
//! the deciding policies, the text form and the exit codes for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kgents/manifests")
}

/// The example world plus a pod in `default` (the world has none there).
fn with_default_pod() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default-pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: curl, namespace: default, labels: {app: curl}}\nspec:\n  containers:\n  - {name: curl, image: curlimages/curl}\n",
    )
    .unwrap();
    dir
}

fn eval(extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["netpol", "eval", "--manifests"])
        .arg(manifests())
        .args(extra)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn agent_reaches_nats_through_nats_access() {
    let out =
        eval(&["--from", "kgents-agents/agent", "--to", "kgents-agents/nats", "--port", "4222", "--format", "json"]);
    let v = json(&out);
    assert_eq!(
        v,
        serde_json::json!({
            "allowed": true,
            "egress": {"allowed": true, "isolated": false, "policies": []},
            "ingress": {"allowed": true, "isolated": true, "policies": ["kgents-agents/nats-access"]}
        })
    );
}

#[test]
fn default_namespace_pod_is_denied_by_every_policy_isolating_nats() {
    let extra = with_default_pod();
    let out = Command::new(BIN)
        .args(["netpol", "eval", "--manifests"])
        .arg(manifests())
        .arg("--manifests")
        .arg(extra.path())
        .args(["--from", "default/curl", "--to", "kgents-agents/nats", "--port", "4222", "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["allowed"], false);
    assert_eq!(v["egress"], serde_json::json!({"allowed": true, "isolated": false, "policies": []}));
    assert_eq!(v["ingress"]["allowed"], false);
    assert_eq!(
        v["ingress"]["policies"],
        serde_json::json!([
            "kgents-agents/default-deny-ingress",
            "kgents-agents/nats-access",
            "kgents-agents/nats-routes",
            "kgents-agents/nats-metrics"
        ])
    );
}

#[test]
fn named_ports_resolve_on_the_destination_and_other_ports_are_denied() {
    let v = json(&eval(&[
        "--from",
        "kgents-agents/agent",
        "--to",
        "kgents-agents/nats",
        "--port",
        "nats",
        "--format",
        "json",
    ]));
    assert_eq!(v["allowed"], true);
    // The monitoring port is not in nats-access: only the isolating policies are named.
    let v = json(&eval(&[
        "--from",
        "kgents-agents/agent",
        "--to",
        "kgents-agents/nats",
        "--port",
        "8222",
        "--format",
        "json",
    ]));
    assert_eq!(v["allowed"], false);
    assert_eq!(v["ingress"]["isolated"], true);
    let v = json(&eval(&[
        "--from",
        "kgents-triad/billing",
        "--to",
        "kgents-triad/triad-redis",
        "--port",
        "6379",
        "--format",
        "json",
    ]));
    assert_eq!(v["allowed"], true);
    assert_eq!(v["ingress"]["policies"], serde_json::json!(["kgents-triad/redis-access"]));
}

#[test]
fn text_output_names_the_deciding_policies() {
    let out = eval(&["--from", "external:203.0.113.7", "--to", "kgents-agents/nats", "--port", "4222"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("DENIED external:203.0.113.7 -> kgents-agents/nats TCP/4222"), "{text}");
    assert!(text.contains("kgents-agents/default-deny-ingress"), "{text}");
    let out =
        eval(&["--from", "kgents-agents/agent", "--to", "kgents-agents/nats", "--port", "4222", "--format", "text"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("ALLOWED"), "{text}");
    assert!(text.contains("allowed by kgents-agents/nats-access"), "{text}");
}

#[test]
fn bad_input_exits_2_with_the_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&["--from", "kgents-agents/ghost", "--to", "kgents-agents/nats", "--port", "4222"], "kgents-agents/ghost"),
        (&["--from", "no-slash", "--to", "kgents-agents/nats", "--port", "4222"], "--from"),
        (&["--from", "external:not-an-ip", "--to", "kgents-agents/nats", "--port", "4222"], "not an IP"),
        (&["--from", "kgents-agents/agent", "--to", "kgents-agents/nats", "--port", "0"], "--port"),
        (&["--from", "kgents-agents/agent", "--to", "kgents-agents/nats", "--port", "70000"], "--port"),
        (&["--from", "kgents-agents/agent", "--to", "kgents-agents/nats", "--port", "no-such-port"], "no-such-port"),
        (
            &["--from", "kgents-agents/agent", "--to", "kgents-agents/nats", "--port", "4222", "--protocol", "ICMP"],
            "ICMP",
        ),
    ];
    for (args, needle) in cases {
        let out = eval(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // The unknown pod error lists the pods that do exist.
    let out = eval(&["--from", "kgents-agents/ghost", "--to", "kgents-agents/nats", "--port", "4222"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("kgents-agents/agent"));
}

/// The e2e NetworkPolicy world (namespaces `x`, `y`, `z`) as PyYAML writes it: plain `y` and
/// `n`, a float label value. Read as Kubernetes reads YAML, every object is where it says.
#[test]
fn pyyaml_output_of_the_e2e_scenarios_loads_with_namespaces_x_y_z() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests/pyyaml/e2e-xyz.yaml");
    let run = |from: &str| {
        let out = Command::new(BIN)
            .args(["netpol", "eval", "--manifests"])
            .arg(&file)
            .args(["--from", from, "--to", "x/a", "--port", "serve-80-tcp", "--format", "json"])
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        json(&out)
    };
    let from_y = run("y/b");
    assert_eq!(from_y["allowed"], true, "{from_y}");
    assert_eq!(from_y["ingress"]["policies"], serde_json::json!(["x/allow-from-y"]));
    assert_eq!(run("z/c")["allowed"], false);
    assert_eq!(run("x/b")["allowed"], false);
    // The objects themselves: nothing moved to `default`, the Namespace `y` has its name, and a
    // label written as a float is the string Kubernetes makes of it.
    let text = std::fs::read_to_string(&file).unwrap();
    let objects = kgents_gate::cluster::manifests::parse_objects(&text, "e2e-xyz.yaml").unwrap();
    let namespaces: Vec<&str> = objects
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(namespaces, ["x", "y", "z"]);
    assert!(objects.iter().any(|o| o["kind"] == "Namespace" && o["metadata"]["name"] == "y"));
    let a = objects.iter().find(|o| o["kind"] == "Pod" && o["metadata"]["name"] == "a").unwrap();
    assert_eq!(a["metadata"]["labels"]["version"], "1.1");
    assert_eq!(a["metadata"]["labels"]["enabled"], "on");
}
