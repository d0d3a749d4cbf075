//! `security.pod-security` against checkov (PyPI, installed by the setup script) on the corpora,
//! the 3,949 Pod Security fixtures, the kgents example and its broken variants: every overlapping
//! verdict (privileged, host namespaces, host ports, capabilities, allowPrivilegeEscalation, root
//! containers, seccomp) is compared with kgents-gate judging restricted at `latest`, and the
//! figures, every difference with its cause, what lies outside the overlap and checkov's
//! readOnlyRootFilesystem check (not part of the standard) must be exactly those listed in
//! tests/corpora/checkov/pod-security.md.

mod checkov_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use checkov_support::{
    ManifestSet, Verdicts, checkov_verdicts, corpus_of, lay_out, root, show, start_checkov, table, verdict,
};
use kgents_gate::cluster::manifests::read_paths;
use kgents_gate::cluster::{ClusterView, KindData};
use kgents_gate::probe::pod_security::{PodSource, needs, read_carrier, report_for};
use kgents_gate::probe::{ProbeKind, ProbeSpec};
use serde_json::Value;

/// The checkov checks that overlap the standard.
const CHECKS: &[&str] = &[
    "CKV_K8S_16",
    "CKV_K8S_17",
    "CKV_K8S_18",
    "CKV_K8S_19",
    "CKV_K8S_20",
    "CKV_K8S_23",
    "CKV_K8S_25",
    "CKV_K8S_26",
    "CKV_K8S_28",
    "CKV_K8S_31",
    "CKV_K8S_37",
    "CKV_K8S_39",
];

/// checkov's readOnlyRootFilesystem check: not part of the Pod Security Standards.
const READ_ONLY_ROOT: &str = "CKV_K8S_22";

/// The checkov checks a `pod-security-violation` fails, by the standard's check id, the field and
/// the value it names.
fn checks_of(check: &str, field: &str, value: &str) -> Vec<&'static str> {
    match check {
        "privileged" => vec!["CKV_K8S_16"],
        "hostNamespaces" if field.ends_with(".hostPID") => vec!["CKV_K8S_17"],
        "hostNamespaces" if field.ends_with(".hostIPC") => vec!["CKV_K8S_18"],
        "hostNamespaces" if field.ends_with(".hostNetwork") => vec!["CKV_K8S_19"],
        "allowPrivilegeEscalation" => vec!["CKV_K8S_20"],
        "runAsNonRoot" | "runAsUser" => vec!["CKV_K8S_23"],
        "hostPorts" => vec!["CKV_K8S_26"],
        "capabilities_baseline" | "capabilities_restricted" if field.contains(".capabilities.add[") => {
            if value == "\"SYS_ADMIN\"" { vec!["CKV_K8S_25", "CKV_K8S_39"] } else { vec!["CKV_K8S_25"] }
        }
        "capabilities_restricted" if field.ends_with(".capabilities.drop") => vec!["CKV_K8S_28", "CKV_K8S_37"],
        "seccompProfile_baseline" | "seccompProfile_restricted" => vec!["CKV_K8S_31"],
        _ => vec![],
    }
}

fn rel(tree: &Path, p: &Path) -> String {
    p.strip_prefix(tree).unwrap_or(p).display().to_string()
}

/// kgents-gate's verdicts on one set (restricted, latest, every namespace of the set), or why it
/// could not read it. Objects judged through a controller in the same set go to `outside`.
fn ours(
    tree: &Path,
    set: &ManifestSet,
    out: &mut Verdicts,
    outside: &mut BTreeMap<String, BTreeSet<String>>,
) -> Result<(), String> {
    let manifests = read_paths(&set.files);
    if let Some(e) = manifests.errors.first() {
        return Err(e.to_string());
    }
    let compared: BTreeSet<String> = set.compared.iter().map(|p| rel(tree, p)).collect();
    // The file each object comes from (a later file of the set replaces an earlier one's object).
    let mut file_of: BTreeMap<String, String> = BTreeMap::new();
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    for o in &manifests.objects {
        let ns = o.object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
        let name = o.object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        file_of.insert(format!("{}.{ns}.{name}", o.kind.name()), rel(tree, &o.file));
        namespaces.insert(ns);
    }
    let list = namespaces.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let params = format!(
        "namespaces = [{list}]\nrequire_namespace_enforcement = false\nlevel = \"restricted\"\nversion = \"latest\""
    );
    let table: toml::Table = toml::from_str(&params).unwrap();
    let Ok(ProbeSpec::PodSecurity(params)) = ProbeSpec::parse(ProbeKind::PodSecurity, &table) else { unreachable!() };
    let mut view = ClusterView::new(true);
    for n in needs(&params) {
        view.set(n.kind, KindData::Objects(Vec::new()));
    }
    view.overlay(manifests, "default");
    let report = report_for(&view, &params);
    let mut failed: BTreeSet<(String, &str)> = BTreeSet::new();
    for f in report.findings().iter().filter(|f| f.code == "pod-security-violation") {
        let fact = |n: &str| f.evidence.iter().find(|e| e.name == n).map_or("", |e| e.value.as_str());
        let (kind, rest) = f.target.as_deref().unwrap_or("").split_once(' ').unwrap();
        for c in checks_of(fact("check"), fact("field"), fact("value")) {
            failed.insert((format!("{kind}.{}", rest.replacen('/', ".", 1)), c));
        }
    }
    let carriers: Vec<_> = PodSource::ALL
        .iter()
        .flat_map(|s| view.objects(s.kind()).unwrap_or_default().iter().filter_map(|o| read_carrier(*s, o).ok()))
        .collect();
    let present: BTreeSet<(PodSource, &str, &str)> =
        carriers.iter().map(|c| (c.source, c.namespace.as_str(), c.name.as_str())).collect();
    for c in &carriers {
        let id = format!("{}.{}.{}", c.source.kind().name(), c.namespace, c.name);
        let Some(file) = file_of.get(&id).filter(|f| compared.contains(*f)) else { continue };
        let owned = c.owner.as_ref().is_some_and(|(k, n)| present.contains(&(*k, c.namespace.as_str(), n.as_str())));
        if owned || c.idle_revision {
            let why = if c.idle_revision { "old revision (0 replicas)" } else { "judged through its controller" };
            outside.entry(format!("{} ({why})", c.source.kind().name())).or_default().insert(format!("{file}/{id}"));
            continue;
        }
        for check in CHECKS {
            out.insert((file.clone(), id.clone(), check.to_string()), !failed.contains(&(id.clone(), *check)));
        }
    }
    Ok(())
}

/// A fixture file without its version directory: the same Pod is repeated in every version
/// directory, so its differences are counted together.
fn grouped(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    match parts.iter().position(|p| *p == "fixtures") {
        Some(i) if parts.len() == i + 5 => {
            let (level, outcome, name) = (parts[i + 1], parts[i + 3], parts[i + 4]);
            format!("{}/{level}/v1.*/{outcome}/{name}", parts[..=i].join("/"))
        }
        _ => file.to_string(),
    }
}

/// Whether the file (relative to the repository) holds a typed list such as `PodList`.
fn typed_list(file: &str) -> bool {
    let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
    text.lines().any(|l| {
        let l = l.trim().trim_start_matches('"');
        let Some(value) = l.strip_prefix("kind\":").or_else(|| l.strip_prefix("kind:")) else { return false };
        let value = value.trim().trim_end_matches(',').trim_matches('"');
        value.ends_with("List") && value != "List"
    })
}

#[test]
fn overlapping_verdicts_agree_and_every_difference_is_documented() {
    // Not a dot-named directory: checkov skips those.
    let tree = tempfile::Builder::new().prefix("checkov-pss-").tempdir().unwrap();
    let sets = lay_out(tree.path(), true);
    let all_checks: Vec<&str> = CHECKS.iter().copied().chain([READ_ONLY_ROOT]).collect();
    let run = start_checkov(tree.path(), &all_checks);
    let mut mine = Verdicts::new();
    let mut unreadable: BTreeMap<String, String> = BTreeMap::new();
    let mut outside: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for set in &sets {
        if let Err(e) = ours(tree.path(), set, &mut mine, &mut outside) {
            for f in &set.compared {
                unreadable.insert(rel(tree.path(), f), e.clone());
            }
        }
    }
    let theirs = checkov_verdicts(run);
    assert!(theirs.len() > 10_000, "checkov judged only {} verdicts", theirs.len());
    let judged_kinds =
        ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"];
    let outside_ids: BTreeSet<String> = outside.values().flatten().cloned().collect();

    // readOnlyRootFilesystem: checkov's verdicts, counted; kgents-gate does not judge it.
    let mut read_only: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for ((file, _, check), pass) in &theirs {
        if check == READ_ONLY_ROOT {
            let e = read_only.entry(corpus_of(file)).or_default();
            if *pass { e.0 += 1 } else { e.1 += 1 }
        }
    }

    let keys: BTreeSet<&(String, String, String)> =
        mine.keys().chain(theirs.keys().filter(|(_, _, c)| c != READ_ONLY_ROOT)).collect();
    let judged_by_checkov: BTreeSet<(&str, &str)> = theirs.keys().map(|(f, r, _)| (f.as_str(), r.as_str())).collect();
    let mut figures: BTreeMap<&str, (BTreeSet<String>, usize, usize)> = BTreeMap::new();
    let mut differences: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for key in keys {
        let (file, resource, check) = key;
        let (a, b) = (mine.get(key).copied(), theirs.get(key).copied());
        let kind = resource.split('.').next().unwrap_or("");
        if a.is_none() && (!judged_kinds.contains(&kind) || outside_ids.contains(&format!("{file}/{resource}"))) {
            if !judged_kinds.contains(&kind) {
                outside.entry(kind.to_string()).or_default().insert(format!("{file}/{resource}"));
            }
            continue;
        }
        if b.is_none() && !judged_by_checkov.contains(&(file.as_str(), resource.as_str())) {
            // checkov reads `kind: List` but no typed list (`PodList`, what the API returns).
            assert!(typed_list(file), "checkov judged nothing of {resource} in {file}, which is no typed list");
            outside.entry(format!("{kind} (in a typed list)")).or_default().insert(format!("{file}/{resource}"));
            continue;
        }
        let entry = figures.entry(corpus_of(file)).or_default();
        entry.0.insert(format!("{file}/{resource}"));
        if a == b {
            entry.1 += 1;
        } else {
            entry.2 += 1;
            let row = vec![grouped(file), resource.clone(), check.clone(), verdict(a).into(), verdict(b).into()];
            *differences.entry(row).or_default() += 1;
        }
    }
    let mut figure_rows: Vec<Vec<String>> = figures
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
    let total = |i: usize| figure_rows.iter().map(|r| r[i].parse::<usize>().unwrap()).sum::<usize>().to_string();
    let totals = vec!["total".to_string(), total(1), total(2), total(3), total(4)];
    figure_rows.push(totals);
    let difference_rows: Vec<Vec<String>> =
        differences.iter().map(|(row, n)| [row.clone(), vec![n.to_string()]].concat()).collect();
    let outside_rows: Vec<Vec<String>> =
        outside.iter().map(|(k, res)| vec![k.clone(), res.len().to_string()]).collect();
    let read_only_rows: Vec<Vec<String>> =
        read_only.iter().map(|(c, (p, f))| vec![c.to_string(), p.to_string(), f.to_string()]).collect();

    let readme = std::fs::read_to_string(root().join("tests/corpora/checkov/pod-security.md")).unwrap_or_default();
    let documented = table(&readme, "Differences");
    for d in &documented {
        assert!(d.len() == 7 && !d[6].is_empty(), "a documented difference needs its cause: {d:?}");
    }
    let documented_keys: Vec<Vec<String>> = documented.iter().map(|d| d[..6].to_vec()).collect();
    assert_eq!(
        documented_keys,
        difference_rows,
        "the differences are not those documented in tests/corpora/checkov/pod-security.md; computed:\n{}\nunreadable by kgents-gate: {unreadable:#?}",
        show(&difference_rows)
    );
    assert_eq!(table(&readme, "Agreement"), figure_rows, "figures; computed:\n{}", show(&figure_rows));
    let outside_documented: Vec<Vec<String>> =
        table(&readme, "Outside the overlap").iter().map(|r| r[..2].to_vec()).collect();
    assert_eq!(outside_documented, outside_rows, "outside the overlap; computed:\n{}", show(&outside_rows));
    assert_eq!(
        table(&readme, "Not in the standard: readOnlyRootFilesystem"),
        read_only_rows,
        "CKV_K8S_22; computed:\n{}",
        show(&read_only_rows)
    );
    // Every file checkov judged a pod spec of is one kgents-gate reads.
    let unread: Vec<&String> = unreadable.keys().filter(|f| theirs.keys().any(|(tf, _, _)| tf == *f)).collect();
    assert!(unread.is_empty(), "kgents-gate could not read: {unread:?} ({unreadable:?})");
}
