//! `workloads.readiness` against checkov (PyPI, installed by the setup script), which a user would
//! otherwise run on the same manifests: on the corpora and the kgents example, every overlapping
//! verdict (CKV_K8S_8/9 probes, 10-13 requests and limits, 14 latest tag, 43 digest) is compared,
//! and the figures, every difference with its cause, and what lies outside the overlap must be
//! exactly those listed in tests/corpora/checkov/README.md.

mod checkov_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use checkov_support::{Verdicts, checkov_verdicts, corpus_of, lay_out, root, show, start_checkov, table, verdict};

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

#[test]
fn overlapping_verdicts_agree_and_every_difference_is_documented() {
    // Not a dot-named directory: checkov skips those.
    let tree = tempfile::Builder::new().prefix("checkov-corpus-").tempdir().unwrap();
    let sets: Vec<Vec<PathBuf>> = lay_out(tree.path(), false).into_iter().map(|s| s.files).collect();
    let run = start_checkov(tree.path(), CHECKS);
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
