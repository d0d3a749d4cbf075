//! The kgents NATS PodDisruptionBudget (examples/kgents/README.md) in its healthy and broken states, the rendered
//! NATS Helm charts of the corpus, the JSON contract and the probe report.

mod pdb_support;

use std::path::Path;

use kgents_gate::outcome::Level;
use kgents_gate::pdb::{PdbStatus, PdbWorld, Scope, StatusSource, analyze, to_json, to_probe_report};
use pdb_support::*;

fn kgents(pod_file: Option<&str>) -> PdbWorld {
    let mut objects = fixture("kgents-nats.yaml");
    if let Some(f) = pod_file {
        objects.extend(fixture(f));
    }
    PdbWorld::from_manifests(objects)
}

fn status(e: i32, c: i32, d: i32, a: i32) -> PdbStatus {
    PdbStatus { expected_pods: e, current_healthy: c, desired_healthy: d, disruptions_allowed: a }
}

#[test]
fn three_ready_pods_give_3_2_1_and_pass() {
    let a = analyze(&kgents(Some("kgents-pods-ready.yaml")), &Scope::namespaces(["kgents-agents"]));
    let r = result(&a, "kgents-agents", "nats-pdb");
    assert_eq!(r.status_source, StatusSource::Computed);
    assert_eq!(r.status, status(3, 3, 2, 1));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert!(a.workload_findings.is_empty(), "{:#?}", a.workload_findings);
    let report = to_probe_report(&a);
    assert!(report.findings().is_empty() && report.first_gap().is_none() && report.skip_reason().is_none());
    assert!(report.evidence.iter().any(|f| f.name == "kgents-agents/nats-pdb"
        && f.value == "computed: expectedPods=3 currentHealthy=3 desiredHealthy=2 disruptionsAllowed=1"));
}

#[test]
fn one_pod_not_ready_allows_no_disruption() {
    let a = analyze(&kgents(Some("kgents-pods-one-unready.yaml")), &Scope::namespaces(["kgents-agents"]));
    let r = result(&a, "kgents-agents", "nats-pdb");
    assert_eq!(r.status, status(3, 2, 2, 0));
    assert_eq!(codes(r), ["pdb-no-disruption-allowed"]);
    let f = &r.findings[0];
    assert_eq!(f.level, Level::Error);
    assert_eq!(f.target.as_deref(), Some("kgents-agents/nats-pdb"));
    assert_eq!(fact(f, "currentHealthy"), "2");
    assert_eq!(fact(f, "desiredHealthy"), "2");
    assert_eq!(fact(f, "workloads"), "StatefulSet kgents-agents/nats (3 replicas)");
    let report = to_probe_report(&a);
    assert_eq!(report.worst_level(), Some(Level::Error));
}

#[test]
fn kustomize_common_labels_in_the_selector_match_nothing() {
    let mut objects = fixture("kgents-nats-kustomize.yaml");
    objects.extend(fixture("kgents-pods-ready.yaml"));
    let a = analyze(&PdbWorld::from_manifests(objects), &Scope::namespaces(["kgents-agents"]));
    let r = result(&a, "kgents-agents", "nats-pdb");
    assert_eq!(r.status, status(0, 0, 2, 0));
    assert_eq!(codes(r), ["pdb-selector-matches-nothing"]);
    let f = &r.findings[0];
    assert_eq!(fact(f, "closest_workload"), "StatefulSet kgents-agents/nats");
    assert_eq!(fact(f, "labels_missing_from_its_pods"), "app.kubernetes.io/part-of=kgents, environment=production");
    // The StatefulSet is then not covered by any PDB either.
    assert_eq!(workload_codes(&a), ["workload-without-pdb"]);
}

#[test]
fn without_pods_the_status_is_computed_from_the_replicas_with_the_assumption_stated() {
    let a = analyze(&kgents(None), &Scope::namespaces(["kgents-agents"]));
    let r = result(&a, "kgents-agents", "nats-pdb");
    assert_eq!(r.status_source, StatusSource::Computed);
    assert_eq!(r.status, status(3, 3, 2, 1));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    let assumed: Vec<_> = r.evidence.iter().filter(|f| f.name == "assumed").collect();
    assert_eq!(assumed.len(), 1);
    assert_eq!(
        assumed[0].value,
        "no pods of StatefulSet kgents-agents/nats in the input; assumed its 3 replicas exist and are Ready"
    );
    let report = to_probe_report(&a);
    assert!(report.evidence.iter().any(|f| f.name == "kgents-agents/nats-pdb assumed"));
    // A live snapshot does not assume pods: the StatefulSet has none, so nothing is healthy.
    let mut live = kgents(None);
    live.synthesize_missing_pods = false;
    let a = analyze(&live, &Scope::namespaces(["kgents-agents"]));
    assert_eq!(result(&a, "kgents-agents", "nats-pdb").status, status(0, 0, 2, 0));
}

#[test]
fn observed_v1beta1_status_is_used_as_written() {
    let mut objects = fixture("kgents-observed.yaml");
    objects.extend(fixture("kgents-pods-ready.yaml"));
    let a = analyze(&PdbWorld::from_snapshot(objects), &Scope::namespaces(["kgents-agents"]));
    let r = result(&a, "kgents-agents", "nats-pdb");
    assert_eq!(r.status_source, StatusSource::Observed);
    assert_eq!(r.status, status(3, 3, 2, 1));
    assert!(r.findings.is_empty() && a.workload_findings.is_empty(), "{a:#?}");
    assert!(r.evidence.iter().any(|f| f.name == "apiVersion" && f.value == "policy/v1beta1"));
}

#[test]
fn json_form_is_the_stable_contract() {
    let a = analyze(&kgents(Some("kgents-pods-one-unready.yaml")), &Scope::namespaces(["kgents-agents"]));
    let json = to_json(&a.pdbs);
    assert_eq!(
        json,
        serde_json::json!([{
            "namespace": "kgents-agents",
            "name": "nats-pdb",
            "status_source": "computed",
            "status": {"expectedPods": 3, "currentHealthy": 2, "desiredHealthy": 2, "disruptionsAllowed": 0},
            "findings": [{
                "code": "pdb-no-disruption-allowed",
                "severity": "error",
                "message": "kgents-agents/nats-pdb allows no disruption now: every node drain touching its pods is blocked"
            }]
        }])
    );
}

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpora/manifests");

fn corpus(file: &str) -> PdbWorld {
    let path = Path::new(CORPUS).join(file);
    assert!(path.exists(), "corpus file {} is missing", path.display());
    PdbWorld::from_manifests(load_yaml(&path))
}

#[test]
fn official_nats_chart_3_nodes_max_unavailable_1() {
    let world = corpus("nats-helm-official/rendered-jetstream-3node.yaml");
    // The PodMonitor (a CRD kind) is ignored; nothing in the render is unreadable.
    assert!(world.problems.is_empty(), "{:#?}", world.problems);
    let a = analyze(&world, &Scope::namespaces(["kgents-agents"]));
    assert_eq!(a.pdbs.len(), 1);
    let r = result(&a, "kgents-agents", "nats");
    // maxUnavailable 1 over the StatefulSet's 3 replicas: desired 2, one eviction allowed.
    assert_eq!(r.status, status(3, 3, 2, 1));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    // nats-box has a single replica: no PDB required.
    assert!(a.workload_findings.is_empty(), "{:#?}", a.workload_findings);
    assert_eq!(to_probe_report(&a).first_gap(), None);
}

#[test]
fn official_nats_chart_defaults_single_replica_never_drains_safely() {
    let a = analyze(&corpus("nats-helm-official/rendered-defaults.yaml"), &Scope::namespaces(["kgents-agents"]));
    let r = result(&a, "kgents-agents", "nats");
    // One replica, maxUnavailable 1: desired 0, the only pod may be evicted.
    assert_eq!(r.status, status(1, 1, 0, 1));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn bitnami_nats_chart_3_nodes() {
    for file in ["rendered-jetstream-3node-default-netpol.yaml", "rendered-jetstream-3node-restricted-netpol.yaml"] {
        let world = corpus(&format!("nats-helm-bitnami/{file}"));
        assert!(world.problems.is_empty(), "{file}: {:#?}", world.problems);
        let a = analyze(&world, &Scope::namespaces(["kgents-agents"]));
        let r = result(&a, "kgents-agents", "nats");
        assert_eq!(r.status, status(3, 3, 2, 1), "{file}");
        assert!(r.findings.is_empty() && a.workload_findings.is_empty(), "{file}: {a:#?}");
    }
}

#[test]
fn a_scope_with_nothing_in_it_is_unverified_not_a_pass() {
    let a = analyze(&kgents(Some("kgents-pods-ready.yaml")), &Scope::namespaces(["kgents-triad"]));
    assert!(a.pdbs.is_empty());
    let report = to_probe_report(&a);
    let u = report.first_gap().expect("unverified");
    assert_eq!(u.code, "nothing-in-scope");
    assert!(u.reason.contains("kgents-triad"), "{}", u.reason);
}

#[test]
fn scope_selector_narrows_to_the_nats_objects() {
    let mut objects = fixture("kgents-nats.yaml");
    objects.push(deployment("kgents-agents", "other", 3, &labels(&[("app", "other")])));
    let world = PdbWorld::from_manifests(objects);
    let all = analyze(&world, &Scope::namespaces(["kgents-agents"]));
    assert_eq!(workload_codes(&all), ["workload-without-pdb"]);
    let nats = analyze(
        &world,
        &Scope::namespaces(["kgents-agents"]).with_selector(&labels(&[("app.kubernetes.io/name", "nats")])),
    );
    assert_eq!(nats.pdbs.len(), 1);
    assert!(nats.workload_findings.is_empty(), "{:#?}", nats.workload_findings);
}
