//! `kgents-gate netpol matrix` on the np-guard corpora: the connectivity it prints for each of
//! the 38 manifest sets equals the connection list np-guard states for it (`expected/
//! connlist_output.txt`), line for line, except np-guard's ingress-controller pseudo-peer; and
//! every output format is well formed.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kgents-gate");

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora/netpol/np-guard-netpol-analyzer")
}

fn matrix(dir: &Path, format: &str) -> String {
    let out = Command::new(BIN)
        .args(["netpol", "matrix", "--manifests"])
        .arg(dir)
        .args(["--format", format])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn expected(case: &Path) -> String {
    let plain = case.join("expected/connlist_output.txt");
    if let Ok(t) = std::fs::read_to_string(&plain) {
        return t;
    }
    let mut t = String::new();
    let gz = std::fs::File::open(case.join("expected/connlist_output.txt.gz")).unwrap();
    flate2::read::GzDecoder::new(gz).read_to_string(&mut t).unwrap();
    t
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("{ingress-controller}"))
        .map(String::from)
        .collect()
}

#[test]
fn the_matrix_equals_np_guard_on_all_38_sets() {
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(corpus()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("input").is_dir()).collect();
    cases.sort();
    assert_eq!(cases.len(), 38);
    let mut failures = Vec::new();
    let mut total = 0;
    for case in &cases {
        let ours = lines(&matrix(&case.join("input"), "text"));
        let theirs = lines(&expected(case));
        total += theirs.len();
        if ours != theirs {
            let missing: Vec<_> = theirs.difference(&ours).take(3).collect();
            let extra: Vec<_> = ours.difference(&theirs).take(3).collect();
            failures.push(format!("{}: missing {missing:?}, extra {extra:?}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{} of 38 sets differ:\n{}", failures.len(), failures.join("\n"));
    assert!(total > 1000, "the corpus states {total} connections");
}

#[test]
fn every_format_is_well_formed() {
    let dir = corpus().join("onlineboutique_workloads/input");
    let json: serde_json::Value = serde_json::from_str(&matrix(&dir, "json")).unwrap();
    let entries = json["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        assert!(e["from"].is_string() && e["to"].is_string() && e["connections"].is_string(), "{e}");
        assert!(e["policies"].is_array());
    }
    let csv = matrix(&dir, "csv");
    assert!(csv.starts_with("from,to,connections,policies\n"));
    assert_eq!(csv.lines().count(), entries.len() + 1);
    let md = matrix(&dir, "md");
    assert_eq!(md.lines().count(), entries.len() + 2);
    let dot = matrix(&dir, "dot");
    assert!(dot.starts_with("digraph connectivity {") && dot.trim_end().ends_with('}'));
    assert_eq!(dot.matches(" -> ").count(), entries.len());
    // The policies that allow traffic are named.
    assert!(entries.iter().any(|e| !e["policies"].as_array().unwrap().is_empty()));
}
