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

#[test]
fn one_list_per_kind_per_namespace() {
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
