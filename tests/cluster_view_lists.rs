//! An audit makes exactly one LIST per needed kind per namespace in scope, counted on the real
//! API server's request metrics. A test binary of its own: no other test lists these kinds here.

mod support;
mod view_support;

use support::{ControlPlane, RequestCounts};
use view_support::{audit_json, path_str, pdb_workspace_in, text};

/// What `pdb.health` reads.
const PDB_RESOURCES: &[&str] =
    &["poddisruptionbudgets", "pods", "deployments", "replicasets", "statefulsets", "replicationcontrollers"];

fn namespaced_lists(c: &RequestCounts, resource: &str) -> u64 {
    c.matching(&[("verb", "LIST"), ("resource", resource), ("scope", "namespace")])
}

fn counts() -> RequestCounts {
    support::run_blocking(async { ControlPlane::shared().request_counts().await })
}

/// The tests count the server's LISTs: they take turns, so one never counts the other's.
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn one_list_per_kind_per_namespace() {
    let _turn = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let plane = ControlPlane::shared();
    let (a, b) = support::run_blocking(async {
        let plane = ControlPlane::shared();
        let a = plane.unique_namespace("lists-a").await;
        let b = plane.unique_namespace("lists-b").await;
        for ns in [&a, &b] {
            plane
                .apply_yaml_in(
                    ns,
                    "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: p}\nspec: {minAvailable: 1, selector: {matchLabels: {app: x}}}\n",
                )
                .await;
        }
        (a, b)
    });
    let kc = plane.admin_kubeconfig();

    for (namespaces, per_kind) in [(vec![a.clone()], 1), (vec![a, b], 2)] {
        let ws = pdb_workspace_in(&namespaces.iter().map(String::as_str).collect::<Vec<_>>());
        let before = counts();
        let (out, report) = audit_json(ws.path(), &["--kubeconfig", path_str(&kc)], &[]);
        let after = counts();
        let report = report.unwrap_or_else(|| panic!("{}", text(&out)));
        assert_eq!(report["items"][0]["code"], "pdb-selector-matches-nothing", "{}", text(&out));
        let mut total = 0;
        for r in PDB_RESOURCES {
            let delta = namespaced_lists(&after, r) - namespaced_lists(&before, r);
            assert_eq!(delta, per_kind, "LISTs of {r} for namespaces {namespaces:?}");
            total += delta;
        }
        let all = after.matching(&[("verb", "LIST"), ("scope", "namespace")])
            - before.matching(&[("verb", "LIST"), ("scope", "namespace")]);
        assert_eq!(all, total, "no other namespaced LIST");
        assert_eq!(total, 6 * per_kind);
    }
}

/// The kgents example audited live (probe pods off): one LIST per kind and namespace the
/// checklist needs, nothing else listed; the wall time against the slowest check is printed for
/// BENCHMARKS.md (measured there, not asserted here).
#[test]
fn the_kgents_example_lists_each_needed_kind_once_per_namespace() {
    let _turn = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    use kgents_gate::cluster::Scope;
    let plane = ControlPlane::shared();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    support::run_blocking(async {
        let plane = ControlPlane::shared();
        for f in std::fs::read_dir(root.join("examples/kgents/manifests")).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "yaml") {
                // 1.20 serves PodDisruptionBudgets as policy/v1beta1 only, HPAs as autoscaling/v2beta2
                // (the same schema as v2).
                let text = std::fs::read_to_string(&p)
                    .unwrap()
                    .replace("apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n")
                    .replace("apiVersion: autoscaling/v2\n", "apiVersion: autoscaling/v2beta2\n");
                plane.apply_yaml(&text).await;
            }
        }
    });
    let checklist_path = root.join("examples/kgents/checklist.toml");
    let loaded = kgents_gate::checklist::load(&kgents_gate::checklist::LoadOptions {
        source: kgents_gate::checklist::ChecklistSource::File(checklist_path.clone()),
        catalog_dir: None,
        today: jiff::civil::date(2026, 12, 1),
        overrides: vec![],
    })
    .unwrap_or_else(|d| panic!("{d:?}"));
    let selected: Vec<String> = loaded.checklist.items.iter().map(|i| i.id.clone()).collect();
    let needs = loaded.checklist.needs(&selected);
    let ws = tempfile::tempdir().unwrap();
    let kc = plane.admin_kubeconfig();
    let before = counts();
    let started = std::time::Instant::now();
    let (out, report) = audit_json(
        ws.path(),
        &[
            "--checklist",
            path_str(&checklist_path),
            "--kubeconfig",
            path_str(&kc),
            "--no-live",
            "--item-timeout",
            "10s",
        ],
        &[("KGENTS_GATE_TODAY", "2026-12-01")],
    );
    let wall = started.elapsed();
    let after = counts();
    let report = report.unwrap_or_else(|| panic!("{}", text(&out)));
    let mut expected_total = 0;
    for need in &needs {
        let plural = need.kind.info().plural;
        let (scope, n) = match &need.scope {
            Scope::Namespaces(nss) => ("namespace", nss.len() as u64),
            Scope::Cluster => ("cluster", 1),
        };
        let got = after.matching(&[("verb", "LIST"), ("resource", plural), ("scope", scope)])
            - before.matching(&[("verb", "LIST"), ("resource", plural), ("scope", scope)]);
        assert_eq!(got, n, "LISTs of {plural} ({scope})");
        expected_total += n;
    }
    let all = after.matching(&[("verb", "LIST")]) - before.matching(&[("verb", "LIST")]);
    assert_eq!(all, expected_total, "no LIST beyond one per needed kind and namespace");
    let slowest =
        report["items"].as_array().unwrap().iter().filter_map(|i| i["duration_ms"].as_u64()).max().unwrap_or(0);
    eprintln!(
        "kgents example live audit: {} LISTs for {} kinds; wall {} ms, slowest check {} ms",
        all,
        needs.len(),
        wall.as_millis(),
        slowest
    );
}
