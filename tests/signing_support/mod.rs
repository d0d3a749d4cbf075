//! Helpers for the signing tests: a workspace whose offline audit is APPROVED (or BLOCKED, or
//! INCOMPLETE) and judges two pinned images, keys made by the real `ssh-keygen`, and the real
//! `ssh-keygen -Y verify` and the independent Python DSSE verifier (scripts/dsse-verify.py).

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const CATALOG_DOCS: &str = include_str!("../../checks/docs.toml");
const CATALOG_SECRETS: &str = include_str!("../../checks/secrets.toml");
const CATALOG_HTTP: &str = include_str!("../../checks/http.toml");
const HINT: &str = "install the test tools: bash scripts/setup-test-env.sh";

pub const IMAGE_ID_DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const PINNED_DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

const MANIFESTS: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      automountServiceAccountToken: false
      containers:
      - {name: web, image: "ghcr.io/kgents/web@PINNED"}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: apps, labels: {app: web}}
spec:
  automountServiceAccountToken: false
  containers:
  - {name: web, image: "nats:2.10"}
status:
  containerStatuses:
  - {name: web, image: "nats:2.10", imageID: "docker.io/library/nats@IMAGEID"}
"#;

/// What the audit of a workspace decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    /// A blocking document is missing.
    Blocked,
    /// A blocking endpoint cannot be checked offline.
    Incomplete,
}

/// A temp dir with `checklist.toml`, `checks/`, `runbook.md` and `m/app.yaml`.
pub fn workspace(outcome: Outcome) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("checks")).unwrap();
    std::fs::create_dir_all(p.join("m")).unwrap();
    std::fs::write(p.join("checks/docs.toml"), CATALOG_DOCS).unwrap();
    std::fs::write(p.join("checks/secrets.toml"), CATALOG_SECRETS).unwrap();
    std::fs::write(p.join("checks/http.toml"), CATALOG_HTTP).unwrap();
    std::fs::write(p.join("runbook.md"), "# Runbook\n## Rollback\ntext\n").unwrap();
    let manifests = MANIFESTS.replace("PINNED", PINNED_DIGEST).replace("IMAGEID", IMAGE_ID_DIGEST);
    std::fs::write(p.join("m/app.yaml"), manifests).unwrap();
    let runbook = if outcome == Outcome::Blocked { "missing.md" } else { "runbook.md" };
    let mut text = format!(
        "[launch]\nname = \"signing test\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"docs\"\ntitle = \"Documentation\"\n\n\
         [[item]]\nid = \"docs.runbook\"\ncategory = \"docs\"\ntitle = \"Runbook\"\ncheck = \"docs.file\"\nowner = \"ops\"\n\
         [item.with]\npath = \"{runbook}\"\nheadings = [\"Rollback\"]\n\n\
         [[item]]\nid = \"secrets.hygiene\"\ncategory = \"docs\"\ntitle = \"Secrets\"\ncheck = \"secrets.hygiene\"\n\
         severity = \"warning\"\nowner = \"ops\"\n\n\
         [[item]]\nid = \"docs.review\"\ncategory = \"docs\"\ntitle = \"Reviewed\"\nkind = \"manual\"\n\
         signoff = {{ by = \"lead\", on = 2026-01-05, evidence = \"review notes\", expires = 2036-01-05 }}\n"
    );
    if outcome == Outcome::Incomplete {
        text.push_str(
            "\n[[item]]\nid = \"docs.portal\"\ncategory = \"docs\"\ntitle = \"Portal\"\ncheck = \"http.endpoint\"\n\
             owner = \"ops\"\n[item.with]\nurl = \"https://portal.example.com/\"\n",
        );
    }
    std::fs::write(p.join("checklist.toml"), text).unwrap();
    dir
}

/// Runs the binary in `dir` with a clean environment plus `env`.
pub fn gate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1").env_remove("KUBECONFIG").env_remove("RUST_LOG");
    cmd.env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `audit --offline --manifests m --out-dir out --format json,markdown` plus `extra`
/// (`--out-dir` or `--format` in `extra` replace the defaults).
pub fn audit(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["audit", "--offline", "--manifests", "m"];
    if !extra.contains(&"--out-dir") {
        args.extend(["--out-dir", "out"]);
    }
    if !extra.contains(&"--format") {
        args.extend(["--format", "json,markdown"]);
    }
    args.extend_from_slice(extra);
    gate(dir, &args, env)
}

pub fn text(o: &Output) -> String {
    format!("--- stdout\n{}\n--- stderr\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn report_path(dir: &Path) -> PathBuf {
    dir.join("out/kgents-gate-report.json")
}

/// A key made by the real `ssh-keygen -t TYPE [-b BITS]`, with `passphrase` (empty: none).
/// Returns the private key's path; the public key is beside it (`.pub`).
pub fn keygen(dir: &Path, name: &str, kind: &str, bits: Option<&str>, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", passphrase, "-C", name, "-f"]).arg(&path);
    if let Some(b) = bits {
        cmd.args(["-b", b]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run ssh-keygen ({e}); {HINT}"));
    assert!(out.status.success(), "ssh-keygen -t {kind}: {}", text(&out));
    path
}

pub fn public_key(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_string()
}

/// An allowed-signers file with one line per (principal, key).
pub fn allowed_signers(dir: &Path, entries: &[(&str, &Path)]) -> PathBuf {
    let path = dir.join("allowed_signers");
    let text: String = entries.iter().map(|(who, key)| format!("{who} {}\n", public_key(key))).collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// `ssh-keygen -Y verify -n kgents-gate -f ALLOWED -I NAME -s SIG < DATA`.
pub fn ssh_keygen_verify(allowed: &Path, identity: &str, sig: &Path, data: &[u8]) -> Output {
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", "kgents-gate", "-f"])
        .arg(allowed)
        .args(["-I", identity, "-s"])
        .arg(sig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ssh-keygen ({e}); {HINT}"));
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.wait_with_output().unwrap()
}

fn cache() -> PathBuf {
    match std::env::var_os("KGENTS_GATE_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/kgents-gate"),
    }
}

/// The in-toto project's Statement v1 check (in-toto-attestation's protobuf bindings): the JSON
/// parses strictly into the Statement message (no unknown fields) and `validate()` accepts it.
const IN_TOTO_CHECK: &str = r#"
import json, sys
from google.protobuf import json_format
from in_toto_attestation.v1 import statement, statement_pb2
pb = json_format.Parse(sys.stdin.read(), statement_pb2.Statement())
statement.Statement.copy_from_pb(pb).validate()
print(pb.predicate_type)
"#;

/// Checks `statement` (JSON) with the in-toto project's bindings; Err carries their complaint.
pub fn in_toto_validate(statement: &serde_json::Value) -> Result<String, String> {
    let py = cache().join("py-in-toto");
    let mut child = Command::new("python3")
        .arg("-S")
        .arg("-c")
        .arg(IN_TOTO_CHECK)
        .env("PYTHONPATH", &py)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {HINT}"));
    child.stdin.take().unwrap().write_all(statement.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("No module named"), "in-toto-attestation is not installed under {}; {HINT}", py.display());
    if out.status.success() { Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()) } else { Err(stderr) }
}

/// scripts/dsse-verify.py ENVELOPE PUB with the `cryptography` the setup script installed (and
/// no other site packages: `python3 -S`). Returns the statement it printed, or its error output.
pub fn python_dsse_verify(envelope: &Path, public_key: &Path) -> Result<serde_json::Value, String> {
    let py = cache().join("py-cryptography");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dsse-verify.py");
    let out = Command::new("python3")
        .arg("-S")
        .arg(&script)
        .arg(envelope)
        .arg(public_key)
        .env("PYTHONPATH", &py)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {HINT}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("No module named 'cryptography'"),
        "cryptography is not installed under {}; {HINT}",
        py.display()
    );
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("the verifier prints the statement as JSON"))
    } else {
        Err(stderr)
    }
}
