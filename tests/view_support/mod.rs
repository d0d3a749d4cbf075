//! Helpers for the cluster view tests: a temp workspace with an inline checklist whose one item
//! runs `pdb.health` on a namespace, and the `kgents-gate` binary run in it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");
const CATALOG_PDB: &str = include_str!("../../checks/pdb.toml");

/// A temp dir holding `checklist.toml` (one `pdb.health` item on `namespace`) and `checks/`.
pub fn pdb_workspace(namespace: &str) -> tempfile::TempDir {
    pdb_workspace_in(&[namespace])
}

/// Like [`pdb_workspace`], the item reading every namespace of `namespaces`.
pub fn pdb_workspace_in(namespaces: &[&str]) -> tempfile::TempDir {
    let list = namespaces.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("checks")).unwrap();
    std::fs::write(dir.path().join("checks/pdb.toml"), CATALOG_PDB).unwrap();
    let text = format!(
        "[launch]\nname = \"view test\"\napprovers = [\"lead\"]\n\n[[category]]\nid = \"resilience\"\ntitle = \"Resilience\"\n\n[[item]]\nid = \"resilience.pdb\"\ncategory = \"resilience\"\ntitle = \"PDBs are healthy\"\ncheck = \"pdb.health\"\nseverity = \"blocking\"\nowner = \"platform\"\n[item.with]\nnamespaces = [{list}]\n"
    );
    std::fs::write(dir.path().join("checklist.toml"), text).unwrap();
    dir
}

/// Runs the binary in `dir` with a clean environment (no KUBECONFIG, HOME = dir) plus `env`.
/// `KGENTS_GATE_BIN` runs another build of it instead of the test build (the release build, for
/// the live figures of BENCHMARKS.md).
pub fn gate_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(std::env::var_os("KGENTS_GATE_BIN").unwrap_or_else(|| BIN.into()));
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1").env_remove("KUBECONFIG").env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `kgents-gate audit --format json --out-dir out ARGS` in `dir`.
pub fn audit_json(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Option<serde_json::Value>) {
    let mut all = vec!["audit", "--format", "json", "--out-dir", "out"];
    all.extend_from_slice(args);
    let _ = std::fs::remove_file(dir.join("out/kgents-gate-report.json"));
    let out = gate_env(dir, &all, env);
    let report = std::fs::read_to_string(dir.join("out/kgents-gate-report.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).expect("the JSON report parses"));
    (out, report)
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
