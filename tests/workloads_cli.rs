//! The two checks as a user meets them without a cluster: `explain` documents their codes and
//! reads, `rbac` grants what they list, and the kgents example's NATS, API and HPA items are
//! judged from the manifests (the HPA sized from the 478 req/s k6 baseline).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn gate(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn explain_documents_every_code_and_what_is_read() {
    let dir = tempfile::tempdir().unwrap();
    for (check, codes, kinds) in [
        (
            "workloads.readiness",
            &[
                "container-requests-missing",
                "limitrange-missing",
                "readiness-probe-missing",
                "image-not-pinned",
                "replicas-below-minimum",
            ][..],
            "lists: deployments, statefulsets, daemonsets, pods, limitranges, horizontalpodautoscalers",
        ),
        (
            "hpa.capacity",
            &[
                "hpa-target-missing",
                "hpa-pdb-conflict",
                "hpa-unable-to-scale",
                "hpa-capacity-short",
                "hpa-capacity-unverified (could not check)",
            ][..],
            "lists: deployments, statefulsets, replicasets, replicationcontrollers, horizontalpodautoscalers, poddisruptionbudgets, limitranges",
        ),
    ] {
        let o = gate(dir.path(), &["explain", check]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let text = stdout(&o);
        assert!(text.contains(kinds), "{text}");
        for c in codes {
            assert!(text.contains(&format!("\n  {c}")), "{check}: {c} not explained:\n{text}");
        }
    }
}

#[test]
fn rbac_grants_the_hpa_and_limitrange_reads() {
    let o = gate(
        root(),
        &[
            "rbac",
            "--checklist",
            "examples/kgents/checklist.toml",
            "--only",
            "resources.api-limits",
            "--only",
            "load.hpa-capacity",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let yaml = stdout(&o);
    assert!(yaml.contains("namespace: kgents-api"), "{yaml}");
    assert!(
        yaml.contains(
            "- apiGroups: [\"autoscaling\"]\n  resources: [\"horizontalpodautoscalers\"]\n  verbs: [\"list\"]"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("\"limitranges\""), "{yaml}");
    assert!(yaml.contains("\"poddisruptionbudgets\""), "{yaml}");
    assert!(!yaml.contains("secrets"), "{yaml}");
}

/// The example audited offline into `out`; returns the report's items by id.
fn example(out: &Path, checklist: &Path) -> std::collections::BTreeMap<String, Value> {
    let o = Command::new(BIN)
        .args(["audit", "--offline", "--format", "json", "--manifests"])
        .arg(root().join("examples/kgents/manifests"))
        .arg("--checklist")
        .arg(checklist)
        .arg("--out-dir")
        .arg(out)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = std::fs::read_to_string(out.join("kgents-gate-report.json"))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let r: Value = serde_json::from_str(&text).unwrap();
    r["items"].as_array().unwrap().iter().map(|i| (i["id"].as_str().unwrap().to_string(), i.clone())).collect()
}

fn fact<'v>(item: &'v Value, name: &str) -> Option<&'v str> {
    item["evidence"].as_array()?.iter().find(|e| e["name"] == name).and_then(|e| e["value"].as_str())
}

#[test]
fn the_kgents_example_nats_api_and_hpa_pass_from_manifests() {
    let out = tempfile::tempdir().unwrap();
    let items = example(out.path(), &root().join("examples/kgents/checklist.toml"));
    for id in ["resources.nats-limits", "resources.api-limits", "load.hpa-capacity"] {
        assert_eq!(items[id]["outcome"], "pass", "{id}: {:#}", items[id]);
    }
    assert_eq!(fact(&items["resources.nats-limits"], "workloads judged"), Some("1"));
    assert_eq!(fact(&items["resources.api-limits"], "limitranges kgents-api"), Some("default-limits"));
    let hpa = &items["load.hpa-capacity"];
    assert_eq!(
        fact(hpa, "capacity kgents-api/api"),
        Some(
            "maxReplicas 10 x (478 req/s / 2 baseline replicas = 239 req/s per replica) = 2390 req/s >= target 1200 \
             req/s x headroom 1.5 = 1800 req/s"
        )
    );
    assert_eq!(
        fact(hpa, "pdb kgents-api/api-pdb at minReplicas 3 of kgents-api/api"),
        Some("expectedPods=3 currentHealthy=3 desiredHealthy=2 disruptionsAllowed=1")
    );
    assert_eq!(fact(hpa, "status kgents-api/api"), Some("not judged: a manifest without status (not deployed yet)"));
}

#[test]
fn a_higher_peak_makes_the_example_hpa_short() {
    // The same checklist expecting 1,600 req/s: 2,400 needed with headroom, 2,390 available.
    let text = std::fs::read_to_string(root().join("examples/kgents/checklist.toml")).unwrap();
    assert!(text.contains("target_rps = 1200\n"));
    let dir = tempfile::tempdir().unwrap();
    let checklist = dir.path().join("checklist.toml");
    std::fs::write(&checklist, text.replace("target_rps = 1200\n", "target_rps = 1600\n")).unwrap();
    std::fs::copy(root().join("examples/kgents/load-test-results.json"), dir.path().join("load-test-results.json"))
        .unwrap();
    let items = example(&dir.path().join("out"), &checklist);
    let hpa = &items["load.hpa-capacity"];
    assert_eq!(hpa["outcome"], "fail", "{hpa:#}");
    assert_eq!(hpa["code"], "hpa-capacity-short");
    let f = &hpa["findings"][0];
    assert!(f["message"].as_str().unwrap().contains("tops out at 2390 req/s, below the 2400 req/s"), "{f:#}");
}
