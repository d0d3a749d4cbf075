//! `security.pod-security` as a user meets it without a cluster: `explain` documents its codes,
//! reads and waivers, `rbac` grants what it lists, bad parameters are checklist errors with their
//! line, the kgents example passes restricted from its manifests, and its broken variant
//! (examples/kgents/broken/pod-security) fails it and nothing else.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn gate(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env("KGENTS_GATE_TODAY", "2026-12-01")
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn explain_documents_the_codes_the_reads_and_the_waiver_id() {
    let o = gate(root(), &["explain", "security.pod-security"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(
        text.contains("lists: cronjobs, deployments, statefulsets, daemonsets, replicationcontrollers, jobs, replicasets, pods, namespaces"),
        "{text}"
    );
    assert!(text.contains("(id: the finding's check fact)"), "{text}");
    assert!(text.contains("readOnlyRootFilesystem is not part of the standard"), "{text}");
    for c in [
        "pod-security-violation",
        "namespace-pss-not-enforced",
        "namespace-pss-warn-only",
        "namespace-pss-label-invalid",
        "pod-security-admission-absent",
        "namespace-unseen (could not check)",
    ] {
        assert!(text.contains(&format!("\n  {c}")), "{c} not explained:\n{text}");
    }
}

#[test]
fn rbac_lists_every_kind_with_a_pod_spec_and_the_namespaces() {
    let o = gate(root(), &["rbac", "--checklist", "examples/kgents/checklist.toml", "--only", "security.pod-security"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let yaml = stdout(&o);
    assert!(
        yaml.contains("kind: ClusterRole")
            && (yaml.contains("resources: [\"namespaces\"]\n  verbs: [\"list\"]")
                || yaml.contains("resources: [\"namespaces\"]\n  verbs: [\"get\", \"list\"]")),
        "{yaml}"
    );
    for ns in ["kgents-agents", "kgents-triad", "kgents-observability", "kgents-api"] {
        assert!(yaml.contains(&format!("namespace: {ns}")), "{ns}: {yaml}");
    }
    assert!(yaml.contains("resources: [\"daemonsets\", \"deployments\", \"replicasets\", \"statefulsets\"]"), "{yaml}");
    assert!(yaml.contains("resources: [\"cronjobs\", \"jobs\"]"), "{yaml}");
    assert!(yaml.contains("resources: [\"pods\", \"replicationcontrollers\"]"), "{yaml}");
    assert!(!yaml.contains("secrets") && !yaml.contains("\"*\""), "{yaml}");
}

#[test]
fn bad_parameters_are_checklist_errors_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let checklist = "[launch]\nname = \"t\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"s\"\ntitle = \"S\"\n\n\
        [[item]]\nid = \"s.pss\"\ncategory = \"s\"\ntitle = \"pss\"\ncheck = \"security.pod-security\"\n[item.with]\n\
        level = \"privileged\"\nversion = \"1.30\"\n";
    std::fs::write(dir.path().join("checklist.toml"), checklist).unwrap();
    let o = gate(dir.path(), &["validate"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("checklist.toml:15"), "{err}");
    assert!(err.contains("imposes no checks"), "{err}");
    assert!(err.contains("checklist.toml:16") && err.contains("or \"namespace\""), "{err}");
}

/// The example audited offline with `manifests` laid over one another; the report's items by id.
fn example(out: &Path, manifests: &[&str]) -> BTreeMap<String, Value> {
    let mut cmd = Command::new(BIN);
    cmd.args(["audit", "--offline", "--format", "json", "--checklist", "examples/kgents/checklist.toml"]);
    for m in manifests {
        cmd.args(["--manifests", m]);
    }
    let o =
        cmd.arg("--out-dir").arg(out).current_dir(root()).env("NO_COLOR", "1").env("KGENTS_GATE_TODAY", "2026-12-01");
    let o = o.output().unwrap();
    let text = std::fs::read_to_string(out.join("kgents-gate-report.json"))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let r: Value = serde_json::from_str(&text).unwrap();
    r["items"].as_array().unwrap().iter().map(|i| (i["id"].as_str().unwrap().to_string(), i.clone())).collect()
}

fn fact<'v>(v: &'v Value, name: &str) -> Option<&'v str> {
    v["evidence"].as_array()?.iter().find(|e| e["name"] == name).and_then(|e| e["value"].as_str())
}

#[test]
fn the_kgents_example_meets_restricted_and_its_broken_variant_fails_only_this_item() {
    let out = tempfile::tempdir().unwrap();
    let good = example(&out.path().join("good"), &["examples/kgents/manifests"]);
    let item = &good["security.pod-security"];
    assert_eq!(item["outcome"], "pass", "{item:#}");
    assert_eq!(fact(item, "pod specs judged"), Some("4 Deployments, 1 StatefulSet"));
    assert_eq!(fact(item, "violations"), Some("0"));
    for ns in ["kgents-agents", "kgents-triad", "kgents-observability", "kgents-api"] {
        let pins = fact(item, &format!("namespace {ns}")).unwrap_or_default();
        assert!(pins.starts_with("enforce restricted at v1.33 (pinned); warn restricted"), "{ns}: {pins}");
    }
    assert!(!good.contains_key("security.review"), "the manual review item is replaced by the check");

    let broken =
        example(&out.path().join("broken"), &["examples/kgents/manifests", "examples/kgents/broken/pod-security"]);
    let item = &broken["security.pod-security"];
    assert_eq!(item["outcome"], "fail", "{item:#}");
    let findings = item["findings"].as_array().unwrap();
    let violations: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f["code"] == "pod-security-violation")
        .map(|f| (f["target"].as_str().unwrap(), fact(f, "check").unwrap()))
        .collect();
    let billing = "Deployment kgents-triad/billing";
    assert_eq!(
        violations,
        [
            (billing, "allowPrivilegeEscalation"),
            (billing, "runAsNonRoot"),
            (billing, "runAsUser"),
            (billing, "seccompProfile_restricted"),
            (billing, "capabilities_restricted"),
            (billing, "capabilities_restricted"),
        ]
    );
    let root_user = findings.iter().find(|f| fact(f, "check") == Some("runAsUser")).unwrap();
    assert_eq!(fact(root_user, "field"), Some("spec.template.spec.containers[0].securityContext.runAsUser"));
    assert_eq!(fact(root_user, "value"), Some("0"));
    assert_eq!(fact(root_user, "container"), Some("billing"));
    let add = findings.iter().find(|f| fact(f, "value") == Some("\"NET_ADMIN\"")).unwrap();
    assert!(fact(add, "fix").unwrap().contains("only NET_BIND_SERVICE may be added"), "{add:#}");
    let ns: Vec<&Value> = findings.iter().filter(|f| f["code"] == "namespace-pss-warn-only").collect();
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0]["target"], "Namespace kgents-triad");
    // The variant breaks this item alone (examples/kgents/README.md).
    for (id, i) in &good {
        if id != "security.pod-security" {
            assert_eq!(broken[id]["outcome"], i["outcome"], "{id}");
        }
    }
}
