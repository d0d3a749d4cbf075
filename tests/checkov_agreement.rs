//! `workloads.readiness` against checkov (PyPI, installed by the setup script), which a user would
//! otherwise run on the same manifests: on the corpora and the kgents example, every overlapping
//! verdict (CKV_K8S_8/9 probes, 10-13 requests and limits, 14 latest tag, 43 digest) is compared,
//! and the figures, every difference with its cause, and what lies outside the overlap must be
//! exactly those listed in tests/corpora/checkov/README.md.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use kgents_gate::cluster::manifests::read_paths;
use kgents_gate::cluster::{ClusterView, KindData};
use kgents_gate::probe::workload::{needs, report_for};
use kgents_gate::probe::{ProbeKind, ProbeSpec};
use kgents_gate::workload::{WorkloadKind, read_workload};
use serde_json::Value;

const CHECKS: &[&str] =
    &["CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13", "CKV_K8S_14", "CKV_K8S_43"];

/// The checkov checks a finding fails (for requests and limits, by its `resource` fact).
fn checks_of(code: &str, resource: Option<&str>) -> &'static [&'static str] {
    match (code, resource) {
        ("liveness-probe-missing", _) => &["CKV_K8S_8"],
        ("readiness-probe-missing", _) => &["CKV_K8S_9"],
        ("container-requests-missing", Some("cpu")) => &["CKV_K8S_10"],
        ("container-limits-missing", Some("cpu")) => &["CKV_K8S_11"],
        ("container-requests-missing", Some("memory")) => &["CKV_K8S_12"],
        ("container-limits-missing", Some("memory")) => &["CKV_K8S_13"],
        ("image-tag-latest" | "image-untagged" | "image-reference-invalid", _) => &["CKV_K8S_14", "CKV_K8S_43"],
        ("image-not-pinned", _) => &["CKV_K8S_43"],
        _ => &[],
    }
}

/// (file, checkov resource id `Kind.namespace.name`, check) -> passed.
type Verdicts = BTreeMap<(String, String, String), bool>;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Copies the corpora and the kgents example into `tree` (same relative paths), with the Pod
/// Security fixtures unpacked. Returns the manifest sets kgents-gate reads: the example directory
/// as one set (its LimitRange applies to its workloads), every other file alone.
fn lay_out(tree: &Path) -> Vec<Vec<PathBuf>> {
    let mut sets = Vec::new();
    let copy = |rel: &Path| {
        let dst = tree.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(root().join(rel), &dst).unwrap();
        dst
    };
    let example: Vec<PathBuf> = files_under(Path::new("examples/kgents/manifests")).iter().map(|f| copy(f)).collect();
    sets.push(example);
    for dir in ["tests/corpora/manifests", "tests/corpora/netpol", "tests/corpora/secrets", "tests/corpora/checkov"] {
        for f in files_under(Path::new(dir)) {
            sets.push(vec![copy(&f)]);
        }
    }
    let fixtures = tree.join("tests/corpora/pod-security/fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    let tarball = std::fs::File::open(root().join("tests/corpora/pod-security/fixtures.tar.gz")).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(tarball)).unpack(&fixtures).unwrap();
    for f in files_under_abs(&fixtures) {
        sets.push(vec![f]);
    }
    sets
}

fn files_under_abs(dir: &Path) -> Vec<PathBuf> {
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

fn files_under(rel: &Path) -> Vec<PathBuf> {
    files_under_abs(&root().join(rel)).into_iter().map(|p| p.strip_prefix(root()).unwrap().to_path_buf()).collect()
}

/// kgents-gate's verdicts on one set, or why it could not read it.
fn ours(tree: &Path, files: &[PathBuf], out: &mut Verdicts, owned: &mut BTreeSet<String>) -> Result<(), String> {
    let set = read_paths(files);
    if let Some(e) = set.errors.first() {
        return Err(e.to_string());
    }
    let rel = |p: &Path| p.strip_prefix(tree).unwrap_or(p).display().to_string();
    let mut file_of: BTreeMap<String, String> = BTreeMap::new();
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    for o in &set.objects {
        let ns = o.object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
        let name = o.object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        file_of.insert(format!("{}.{ns}.{name}", o.kind.name()), rel(&o.file));
        namespaces.insert(ns);
    }
    let list = namespaces.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let table: toml::Table = toml::from_str(&format!("namespaces = [{list}]\nrequire_digest = true")).unwrap();
    let Ok(ProbeSpec::Workload(params)) = ProbeSpec::parse(ProbeKind::Workload, &table) else { unreachable!() };
    let mut view = ClusterView::new(true);
    for n in needs(&params) {
        view.set(n.kind, KindData::Objects(Vec::new()));
    }
    view.overlay(set, "default");
    let report = report_for(&view, &params);
    let mut failed: BTreeSet<(String, &str)> = BTreeSet::new();
    for f in report.findings() {
        let target = f.target.as_deref().unwrap_or("");
        let resource = f.evidence.iter().find(|e| e.name == "resource").map(|e| e.value.as_str());
        if let Some((kind, rest)) = target.split_once(' ') {
            for c in checks_of(&f.code, resource) {
                failed.insert((format!("{kind}.{}", rest.replacen('/', ".", 1)), c));
            }
        }
    }
    for kind in [WorkloadKind::Deployment, WorkloadKind::StatefulSet, WorkloadKind::DaemonSet, WorkloadKind::Pod] {
        for o in view.objects(kind.view_kind()).unwrap_or_default() {
            let Ok(w) = read_workload(kind, o) else { continue };
            let id = format!("{kind}.{}.{}", w.namespace, w.name);
            let file = file_of.get(&id).cloned().unwrap_or_default();
            if w.is_owned_pod() {
                owned.insert(format!("{file}/{id}"));
                continue;
            }
            for c in CHECKS {
                out.insert((file.clone(), id.clone(), c.to_string()), !failed.contains(&(id.clone(), *c)));
            }
        }
    }
    Ok(())
}

/// Starts checkov on the whole tree; its verdicts come from [`checkov_verdicts`].
fn start_checkov(tree: &Path) -> std::thread::JoinHandle<std::io::Result<std::process::Output>> {
    let lib = support::cache_dir().join("checkov");
    assert!(
        lib.join("checkov/main.py").is_file(),
        "checkov is not installed in {}: run `{}`",
        lib.display(),
        support::INSTALL_HINT
    );
    let child = Command::new("python3")
        .args(["-m", "checkov.main", "--framework", "kubernetes", "--skip-download", "--compact"])
        .args(["-o", "json", "--check", &CHECKS.join(","), "-d"])
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
fn checkov_verdicts(run: std::thread::JoinHandle<std::io::Result<std::process::Output>>) -> Verdicts {
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

fn corpus_of(file: &str) -> &str {
    [
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

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "pass",
        Some(false) => "fail",
        None => "not judged",
    }
}

/// The rows of the Markdown table under `heading` in the README, without the header rows.
fn table(readme: &str, heading: &str) -> Vec<Vec<String>> {
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

#[test]
fn overlapping_verdicts_agree_and_every_difference_is_documented() {
    // Not a dot-named directory: checkov skips those.
    let tree = tempfile::Builder::new().prefix("checkov-corpus-").tempdir().unwrap();
    let sets = lay_out(tree.path());
    let run = start_checkov(tree.path());
    let mut mine = Verdicts::new();
    let mut unreadable: BTreeMap<String, String> = BTreeMap::new();
    let mut owned = BTreeSet::new();
    for set in &sets {
        if let Err(e) = ours(tree.path(), set, &mut mine, &mut owned) {
            for f in set {
                unreadable.insert(f.strip_prefix(tree.path()).unwrap().display().to_string(), e.clone());
            }
        }
    }
    let theirs = checkov_verdicts(run);
    assert!(theirs.len() > 1000, "checkov judged only {} verdicts", theirs.len());

    let judged_kinds = ["Deployment", "StatefulSet", "DaemonSet", "Pod"];
    let keys: BTreeSet<&(String, String, String)> = mine.keys().chain(theirs.keys()).collect();
    let mut figures: BTreeMap<&str, (BTreeSet<String>, usize, usize)> = BTreeMap::new();
    let mut differences = Vec::new();
    let mut outside: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for key in keys {
        let (file, resource, check) = key;
        let (a, b) = (mine.get(key).copied(), theirs.get(key).copied());
        let kind = resource.split('.').next().unwrap_or("");
        let is_owned = owned.contains(&format!("{file}/{resource}"));
        if a.is_none() && (!judged_kinds.contains(&kind) || is_owned) {
            // checkov alone judges it: a kind kgents-gate does not judge, or a Pod its controller owns.
            let why = if is_owned { "Pod (owned by a controller)".to_string() } else { kind.to_string() };
            outside.entry(why).or_default().insert(format!("{file}/{resource}"));
            continue;
        }
        let entry = figures.entry(corpus_of(file)).or_default();
        entry.0.insert(format!("{file}/{resource}"));
        if a == b {
            entry.1 += 1;
        } else {
            entry.2 += 1;
            differences.push(vec![file.clone(), resource.clone(), check.clone(), verdict(a).into(), verdict(b).into()]);
        }
    }
    let figure_rows: Vec<Vec<String>> = figures
        .iter()
        .map(|(c, (res, agree, differ))| {
            vec![
                c.to_string(),
                res.len().to_string(),
                (agree + differ).to_string(),
                agree.to_string(),
                differ.to_string(),
            ]
        })
        .collect();
    let mut figure_rows = figure_rows;
    let total = |i: usize| figure_rows.iter().map(|r| r[i].parse::<usize>().unwrap()).sum::<usize>().to_string();
    let totals = vec!["total".to_string(), total(1), total(2), total(3), total(4)];
    figure_rows.push(totals);
    let outside_rows: Vec<Vec<String>> =
        outside.iter().map(|(k, res)| vec![k.clone(), res.len().to_string()]).collect();

    let readme = std::fs::read_to_string(root().join("tests/corpora/checkov/README.md")).unwrap_or_default();
    let show =
        |rows: &[Vec<String>]| rows.iter().map(|r| format!("| {} |", r.join(" | "))).collect::<Vec<_>>().join("\n");
    let documented: Vec<Vec<String>> = table(&readme, "Differences");
    for d in &documented {
        assert!(d.len() == 6 && !d[5].is_empty(), "a documented difference needs its cause: {d:?}");
    }
    let documented_keys: Vec<Vec<String>> = documented.iter().map(|d| d[..5].to_vec()).collect();
    assert_eq!(
        documented_keys,
        differences,
        "the differences are not those documented in tests/corpora/checkov/README.md; computed:\n{}\nunreadable by kgents-gate: {unreadable:#?}",
        show(&differences)
    );
    assert_eq!(table(&readme, "Agreement"), figure_rows, "figures; computed:\n{}", show(&figure_rows));
    let outside_documented: Vec<Vec<String>> =
        table(&readme, "Outside the overlap").iter().map(|r| r[..2].to_vec()).collect();
    assert_eq!(outside_documented, outside_rows, "outside the overlap; computed:\n{}", show(&outside_rows));
    // Every file checkov judged a workload of is one kgents-gate reads.
    let unread: Vec<&String> = unreadable.keys().filter(|f| theirs.keys().any(|(tf, _, _)| tf == *f)).collect();
    assert!(unread.is_empty(), "kgents-gate could not read: {unread:?} ({unreadable:?})");
}
