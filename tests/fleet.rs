//! Fleet audits through the binary: two real control planes and a closed port as three contexts
//! of one kubeconfig (`audit --context` x3 and `--all-contexts`), then `merge` of the cluster
//! reports, signed and tampered. Each cluster plants a uniquely named object; neither may show up
//! in the other's report (each context gets its own client, discovery and view).

#[path = "signing_support/mod.rs"]
mod signing_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::ControlPlane;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
/// A plain env value the secrets check must flag, and no output may contain.
const CANARY: &str = "fleet-canary-Zq8xW2pLk9";

fn gate(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("--- stdout\n{}\n--- stderr\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn read_json(path: &Path) -> Value {
    let s = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&s).unwrap()
}

/// A context entry for a kubeconfig: cluster, user and context named `name`.
fn context_yaml(name: &str, server: &str, ca_pem: &str, token: &str) -> (String, String, String) {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    (
        format!("- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n"),
        format!("- name: {name}-admin\n  user:\n    token: {token}\n"),
        format!("- name: {name}\n  context:\n    cluster: {name}\n    user: {name}-admin\n"),
    )
}

fn write_kubeconfig(path: &Path, entries: &[(String, String, String)]) {
    let mut clusters = String::new();
    let mut users = String::new();
    let mut contexts = String::new();
    for (c, u, x) in entries {
        clusters.push_str(c);
        users.push_str(u);
        contexts.push_str(x);
    }
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n{users}contexts:\n{contexts}current-context: alpha\n"
    );
    std::fs::write(path, text).unwrap();
}

/// The namespace `fleet` with a two-replica Deployment named `name` and no PDB; with `leak`, a
/// password in a plain env value (a blocking secrets failure), else a secretKeyRef that resolves.
fn world(name: &str, leak: bool) -> String {
    let env = if leak {
        format!("[{{name: DB_PASSWORD, value: \"{CANARY}\"}}]")
    } else {
        "[{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]".to_string()
    };
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: fleet}}
---
apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: fleet}}
stringData: {{password: not-in-any-report}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: fleet}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      automountServiceAccountToken: false
      containers:
      - name: app
        image: "ghcr.io/kgents/app:1.0"
        env: {env}
"#
    )
}

/// Two items on namespace `fleet`: secrets (blocking) and PDB coverage (warning: a workload
/// without a PDB is named in the report but does not block).
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = "[launch]\nname = \"fleet test\"\napprovers = [\"lead\"]\n\n\
        [[category]]\nid = \"secrets\"\ntitle = \"Secrets\"\n\n[[category]]\nid = \"resources\"\ntitle = \"Resources\"\n\n\
        [[item]]\nid = \"secrets.hygiene\"\ncategory = \"secrets\"\ntitle = \"Secret hygiene\"\ncheck = \"secrets.hygiene\"\n\
        owner = \"platform\"\n[item.with]\nnamespaces = [\"fleet\"]\n\n\
        [[item]]\nid = \"resources.pdb\"\ncategory = \"resources\"\ntitle = \"PDBs\"\ncheck = \"pdb.health\"\n\
        severity = \"warning\"\nowner = \"platform\"\n[item.with]\nnamespaces = [\"fleet\"]\n";
    std::fs::write(dir.path().join("checklist.toml"), text).unwrap();
    dir
}

struct Fleet {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    alpha_object: String,
    beta_object: String,
    _beta_plane: ControlPlane,
}

fn setup() -> Fleet {
    let alpha = ControlPlane::shared();
    let beta = ControlPlane::start();
    let suffix = support::random_hex(6);
    let alpha_object = format!("alpha-only-{suffix}");
    let beta_object = format!("beta-only-{suffix}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        alpha.apply_yaml(&world(&alpha_object, true)).await;
        beta.apply_yaml(&world(&beta_object, false)).await;
    });
    let dir = workspace();
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let kubeconfig = dir.path().join("kubeconfig");
    write_kubeconfig(
        &kubeconfig,
        &[
            context_yaml("alpha", alpha.api_url(), alpha.ca_pem(), alpha.token("admin")),
            context_yaml("beta", beta.api_url(), beta.ca_pem(), beta.token("admin")),
            context_yaml("gone", &format!("https://127.0.0.1:{closed}"), alpha.ca_pem(), "not-a-token"),
            // A second name for the first cluster.
            context_yaml("alpha-again", alpha.api_url(), alpha.ca_pem(), alpha.token("admin")),
        ],
    );
    Fleet { dir, kubeconfig, alpha_object, beta_object, _beta_plane: beta }
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn fleet_audit_decides_per_cluster_and_keeps_clusters_apart() {
    let f = setup();
    let d = f.dir.path();
    let kc = f.kubeconfig.to_str().unwrap();
    let common = ["--kubeconfig", kc, "--connect-timeout", "2s", "--timeout", "90s"];

    let mut args = vec!["audit", "--context", "alpha", "--context", "beta", "--context", "gone", "--out-dir", "out"];
    args.extend(common);
    let out = gate(d, &args);
    assert_eq!(out.status.code(), Some(1), "the worst cluster is BLOCKED: {}", text(&out));

    // The fleet summary: per-cluster decisions in the order given, the worst overall.
    let fleet = read_json(&d.join("out/kgents-gate-fleet.json"));
    assert_eq!(fleet["decision"], "BLOCKED", "{fleet:#}");
    assert_eq!(fleet["exit_code"], 1);
    let clusters = fleet["clusters"].as_array().unwrap();
    let by_name: Vec<(&str, &str)> =
        clusters.iter().map(|c| (c["name"].as_str().unwrap(), c["decision"].as_str().unwrap())).collect();
    assert_eq!(by_name, [("alpha", "BLOCKED"), ("beta", "APPROVED"), ("gone", "INCOMPLETE")], "{fleet:#}");
    assert_eq!(clusters[0]["blocking"][0]["code"], "env-plain-credential");
    assert!(clusters[2]["cluster"].is_null(), "the closed port reached no cluster");
    assert_ne!(
        clusters[0]["cluster"]["identity"], clusters[1]["cluster"]["identity"],
        "two control planes, two kube-system UIDs"
    );
    assert_eq!(clusters[0]["cluster"]["context"], "alpha");
    assert_eq!(clusters[1]["cluster"]["context"], "beta");

    // Per-cluster reports in subdirectories; each cluster's planted object only in its own.
    let alpha = std::fs::read_to_string(d.join("out/alpha/kgents-gate-report.json")).unwrap();
    let beta = std::fs::read_to_string(d.join("out/beta/kgents-gate-report.json")).unwrap();
    let gone = read_json(&d.join("out/gone/kgents-gate-report.json"));
    assert!(alpha.contains(&f.alpha_object) && !alpha.contains(&f.beta_object), "alpha's report: {alpha}");
    assert!(beta.contains(&f.beta_object) && !beta.contains(&f.alpha_object), "beta's report: {beta}");
    let beta_json: Value = serde_json::from_str(&beta).unwrap();
    assert_eq!(beta_json["items"][1]["outcome"], "warn", "beta's workload has no PDB (a warning): {beta}");
    assert_eq!(gone["decision"], "INCOMPLETE");
    let gone_reason = gone["items"][0]["unverified"]["reason"].as_str().unwrap_or_default();
    assert!(gone_reason.contains("127.0.0.1"), "the unreachable server is named: {gone:#}");
    for dir in ["alpha", "beta", "gone"] {
        for file in ["kgents-gate-report.md", "kgents-gate-report.xml"] {
            assert!(d.join("out").join(dir).join(file).is_file(), "{dir}/{file}");
        }
    }

    // The terminal summary names every cluster; JUnit has one suite per cluster and category.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in ["fleet of 3 clusters", "alpha", "beta", "gone", "BLOCKED", "INCOMPLETE", "exit 1"] {
        assert!(stdout.contains(needle), "{needle:?} in the terminal summary:\n{stdout}");
    }
    let junit = std::fs::read_to_string(d.join("out/kgents-gate-fleet.xml")).unwrap();
    for suite in ["alpha / Secrets", "alpha / Resources", "beta / Secrets", "beta / Resources", "gone / Secrets"] {
        assert!(junit.contains(&format!("name=\"{suite}\"")), "suite {suite:?} in:\n{junit}");
    }
    assert!(junit.contains("classname=\"alpha.secrets\""), "{junit}");
    let md = std::fs::read_to_string(d.join("out/kgents-gate-fleet.md")).unwrap();
    assert!(md.contains("| alpha | **BLOCKED** |") && md.contains("| gone | **INCOMPLETE** |"), "{md}");

    // The password is in no file and no output.
    for path in all_files(&d.join("out")) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(CANARY), "{} holds the secret value", path.display());
    }
    assert!(!text(&out).contains(CANARY));

    // --all-contexts reads every context, in kubeconfig order, and notices the alias.
    let mut args = vec!["audit", "--all-contexts", "--out-dir", "all", "--format", "json"];
    args.extend(common);
    let all = gate(d, &args);
    assert_eq!(all.status.code(), Some(1), "{}", text(&all));
    let all_fleet = read_json(&d.join("all/kgents-gate-fleet.json"));
    let names: Vec<&str> =
        all_fleet["clusters"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alpha", "beta", "gone", "alpha-again"]);
    let notes = all_fleet["notes"].to_string();
    assert!(notes.contains("alpha and alpha-again are the same cluster"), "{notes}");

    // merge of the cluster reports builds the same fleet report.
    let merged = gate(
        d,
        &[
            "merge",
            "out/alpha/kgents-gate-report.json",
            "out/beta/kgents-gate-report.json",
            "gone=out/gone/kgents-gate-report.json",
            "--out-dir",
            "merged",
        ],
    );
    assert_eq!(merged.status.code(), Some(1), "{}", text(&merged));
    assert_eq!(read_json(&d.join("merged/kgents-gate-fleet.json")), fleet, "merge equals the audit's fleet report");
    assert_eq!(
        std::fs::read(d.join("merged/beta/kgents-gate-report.json")).unwrap(),
        beta.as_bytes(),
        "the cluster report is copied as it was"
    );

    // Signed: every cluster report signed; merge checks them, and refuses a changed one.
    let key = signing_support::keygen(d, "ci_key", "ed25519", None, "");
    let allowed = signing_support::allowed_signers(d, &[("ci@kgents", &key)]);
    let mut args = vec![
        "audit",
        "--context",
        "alpha",
        "--context",
        "beta",
        "--out-dir",
        "signed",
        "--format",
        "json",
        "--sign",
        key.to_str().unwrap(),
    ];
    args.extend(common);
    let signed = gate(d, &args);
    assert_eq!(signed.status.code(), Some(1), "{}", text(&signed));
    assert!(d.join("signed/beta/kgents-gate-report.json.sig").is_file());
    let allowed_s = allowed.to_str().unwrap();
    let good = gate(
        d,
        &[
            "merge",
            "signed/alpha/kgents-gate-report.json",
            "signed/beta/kgents-gate-report.json",
            "--out-dir",
            "signed-merged",
            "--allowed-signers",
            allowed_s,
            "--require-signed",
            "--format",
            "json",
        ],
    );
    assert_eq!(good.status.code(), Some(1), "{}", text(&good));
    let good_fleet = read_json(&d.join("signed-merged/kgents-gate-fleet.json"));
    assert_eq!(good_fleet["clusters"][1]["signature"]["status"], "verified", "{good_fleet:#}");
    assert_eq!(good_fleet["clusters"][1]["signature"]["signer"], "ci@kgents");
    assert!(d.join("signed-merged/beta/kgents-gate-report.json.sig").is_file(), "the signature travels along");

    // BLOCKED edited to APPROVED after signing: refused, with or without allowed signers.
    let alpha_signed = d.join("signed/alpha/kgents-gate-report.json");
    let edited = std::fs::read_to_string(&alpha_signed).unwrap().replacen("\"BLOCKED\"", "\"APPROVED\"", 1);
    std::fs::write(&alpha_signed, edited).unwrap();
    for extra in [vec!["--allowed-signers", allowed_s], vec![]] {
        let mut args = vec!["merge", "signed/alpha/kgents-gate-report.json", "signed/beta/kgents-gate-report.json"];
        args.extend(["--out-dir", "tampered"]);
        args.extend(extra);
        let refused = gate(d, &args);
        assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
        assert!(text(&refused).contains("changed after it was signed"), "{}", text(&refused));
    }
    // Unsigned reports with --require-signed are refused.
    let unsigned =
        gate(d, &["merge", "out/beta/kgents-gate-report.json", "--allowed-signers", allowed_s, "--require-signed"]);
    assert_eq!(unsigned.status.code(), Some(2), "{}", text(&unsigned));
    assert!(text(&unsigned).contains("not signed"), "{}", text(&unsigned));
}

#[test]
fn fleet_flags_are_checked_before_any_cluster_is_read() {
    let dir = workspace();
    let d = dir.path();
    let kc = d.join("kubeconfig");
    write_kubeconfig(
        &kc,
        &[
            context_yaml("alpha", "https://127.0.0.1:1", "ca", "t"),
            context_yaml("beta", "https://127.0.0.1:1", "ca", "t"),
        ],
    );
    let kc = kc.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["audit", "--kubeconfig", kc, "--context", "alpha", "--context", "betta"], "no such context"),
        (&["audit", "--kubeconfig", kc, "--context", "alpha", "--context", "alpha"], "given twice"),
        (&["audit", "--kubeconfig", kc, "--context", "alpha", "--context", "beta", "--offline"], "--offline"),
        (&["pdb", "--kubeconfig", kc, "--context", "alpha", "--context", "beta"], "only `audit`"),
        (&["merge", "a=missing.json"], "cannot read the report missing.json"),
    ];
    for (args, needle) in cases {
        let out = gate(d, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(needle), "{args:?}: {needle:?} in {}", text(&out));
        assert!(!d.join("reports").exists(), "{args:?} wrote reports");
    }
    let conflict = gate(d, &["audit", "--kubeconfig", kc, "--all-contexts", "--context", "alpha"]);
    assert_eq!(conflict.status.code(), Some(2), "{}", text(&conflict));
}
