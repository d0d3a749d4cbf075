//! Running checkov (PyPI, installed by the setup script) on the corpora and the kgents example,
//! as the checkov cross-checks of the workload and Pod Security checks both do: the tree laid out,
//! checkov's verdicts read, and the README tables the tests compare with.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support;

/// (file, checkov resource id `Kind.namespace.name`, check) -> passed.
pub type Verdicts = BTreeMap<(String, String, String), bool>;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One manifest set kgents-gate reads as a whole, and the files whose objects are compared (the
/// others only complete the world, e.g. the example under a broken variant's overlay).
pub struct ManifestSet {
    pub files: Vec<PathBuf>,
    pub compared: Vec<PathBuf>,
}

/// Copies the corpora and the kgents example into `tree` (same relative paths), with the Pod
/// Security fixtures unpacked. Returns the sets kgents-gate reads: the example directory as one set
/// (its LimitRanges and Namespaces apply to its workloads), every other file alone, and with
/// `broken_variants` each `examples/kgents/broken/<name>/` laid over the example.
pub fn lay_out(tree: &Path, broken_variants: bool) -> Vec<ManifestSet> {
    let mut sets = Vec::new();
    let copy = |rel: &Path| {
        let dst = tree.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(root().join(rel), &dst).unwrap();
        dst
    };
    let example: Vec<PathBuf> = files_under(Path::new("examples/kgents/manifests")).iter().map(|f| copy(f)).collect();
    sets.push(ManifestSet { files: example.clone(), compared: example.clone() });
    if broken_variants {
        let mut variants: Vec<PathBuf> = std::fs::read_dir(root().join("examples/kgents/broken"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        variants.sort();
        for v in variants {
            let rel = v.strip_prefix(root()).unwrap();
            let overlay: Vec<PathBuf> = files_under(rel).iter().map(|f| copy(f)).collect();
            sets.push(ManifestSet { files: [example.clone(), overlay.clone()].concat(), compared: overlay });
        }
    }
    for dir in ["tests/corpora/manifests", "tests/corpora/netpol", "tests/corpora/secrets", "tests/corpora/checkov"] {
        for f in files_under(Path::new(dir)) {
            let f = copy(&f);
            sets.push(ManifestSet { files: vec![f.clone()], compared: vec![f] });
        }
    }
    let fixtures = tree.join("tests/corpora/pod-security/fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    let tarball = std::fs::File::open(root().join("tests/corpora/pod-security/fixtures.tar.gz")).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(tarball)).unpack(&fixtures).unwrap();
    for f in files_under_abs(&fixtures) {
        sets.push(ManifestSet { files: vec![f.clone()], compared: vec![f] });
    }
    sets
}

pub fn files_under_abs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn files_under(rel: &Path) -> Vec<PathBuf> {
    files_under_abs(&root().join(rel)).into_iter().map(|p| p.strip_prefix(root()).unwrap().to_path_buf()).collect()
}

/// Starts checkov with `checks` on the whole tree; its verdicts come from [`checkov_verdicts`].
pub fn start_checkov(tree: &Path, checks: &[&str]) -> std::thread::JoinHandle<std::io::Result<std::process::Output>> {
    let lib = support::cache_dir().join("checkov");
    assert!(
        lib.join("checkov/main.py").is_file(),
        "checkov is not installed in {}: run `{}`",
        lib.display(),
        support::INSTALL_HINT
    );
    let child = Command::new("python3")
        .args(["-m", "checkov.main", "--framework", "kubernetes", "--skip-download", "--compact"])
        .args(["-o", "json", "--check", &checks.join(","), "-d"])
        .arg(tree)
        .env("PYTHONPATH", &lib)
        // Offline: no guideline download from the vendor's API.
        .env("BC_SKIP_MAPPING", "TRUE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 -m checkov.main: {e} (run `{}`)", support::INSTALL_HINT));
    // Its output (megabytes of JSON) is read while kgents-gate judges the same files.
    std::thread::spawn(move || child.wait_with_output())
}

/// checkov's verdicts (PASSED or FAILED; it does not report UNKNOWN).
pub fn checkov_verdicts(run: std::thread::JoinHandle<std::io::Result<std::process::Output>>) -> Verdicts {
    let out = run.join().unwrap().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("checkov printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let reports = match json {
        Value::Array(a) => a,
        one => vec![one],
    };
    let mut v = Verdicts::new();
    for r in &reports {
        for (key, pass) in [("passed_checks", true), ("failed_checks", false)] {
            for c in r["results"][key].as_array().into_iter().flatten() {
                let file = c["file_path"].as_str().unwrap().trim_start_matches('/').to_string();
                let resource = c["resource"].as_str().unwrap().to_string();
                v.insert((file, resource, c["check_id"].as_str().unwrap().to_string()), pass);
            }
        }
    }
    v
}

pub fn corpus_of(file: &str) -> &str {
    [
        "examples/kgents/broken",
        "examples/kgents",
        "tests/corpora/manifests",
        "tests/corpora/netpol",
        "tests/corpora/secrets",
        "tests/corpora/pod-security",
        "tests/corpora/checkov",
    ]
    .into_iter()
    .find(|c| file.starts_with(c))
    .unwrap_or("other")
}

pub fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "pass",
        Some(false) => "fail",
        None => "not judged",
    }
}

/// The rows of the Markdown table under `heading` in `readme`, without the header rows.
pub fn table(readme: &str, heading: &str) -> Vec<Vec<String>> {
    let section =
        readme.split(&format!("## {heading}\n")).nth(1).unwrap_or_else(|| panic!("no `## {heading}` in the README"));
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().trim_matches('`').to_string()).collect())
        .collect()
}

/// Rows as Markdown, for the message of a failed comparison.
pub fn show(rows: &[Vec<String>]) -> String {
    rows.iter().map(|r| format!("| {} |", r.join(" | "))).collect::<Vec<_>>().join("\n")
}
