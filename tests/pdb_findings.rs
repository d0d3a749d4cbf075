//! One case that triggers and one that does not, for every finding code of the PDB checks.

mod pdb_support;

use kgents_gate::pdb::{PdbAnalysis, PdbWorld, Scope, analyze, to_probe_report};
use pdb_support::*;
use serde_json::{Value, json};

const NS: &str = "kgents-agents";

fn nats_labels() -> std::collections::BTreeMap<String, String> {
    labels(&[("app.kubernetes.io/name", "nats")])
}

/// StatefulSet nats (3 replicas, `ready` of its pods Ready) plus the given PDBs and objects.
fn cluster(ready: usize, extra: Vec<Value>) -> PdbWorld {
    let l = nats_labels();
    let mut objects = vec![stateful_set(NS, "nats", 3, &l)];
    for i in 0..3 {
        objects.push(pod(NS, &format!("nats-{i}"), &l, Some(("apps/v1", "StatefulSet", "nats")), i < ready));
    }
    objects.extend(extra);
    PdbWorld::from_snapshot(objects)
}

fn nats_pdb(spec_extra: Value) -> Value {
    let mut spec = json!({"selector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}});
    for (k, v) in spec_extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    pdb("policy/v1", NS, "nats-pdb", spec)
}

fn run(world: &PdbWorld) -> PdbAnalysis {
    analyze(world, &Scope::namespaces([NS]))
}

fn pdb_codes(world: &PdbWorld) -> Vec<String> {
    let a = run(world);
    let r = result(&a, NS, "nats-pdb");
    codes(r).into_iter().map(str::to_owned).collect()
}

fn has(world: &PdbWorld, code: &str) -> bool {
    pdb_codes(world).iter().any(|c| c == code)
}

#[test]
fn pdb_selector_matches_nothing() {
    let w = cluster(
        3,
        vec![pdb(
            "policy/v1",
            NS,
            "nats-pdb",
            json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "natz"}}}),
        )],
    );
    assert!(has(&w, "pdb-selector-matches-nothing"));
    // v1beta1 empty selector matches nothing and says why.
    let w = cluster(3, vec![pdb("policy/v1beta1", NS, "nats-pdb", json!({"minAvailable": 2, "selector": {}}))]);
    let a = run(&w);
    let f = &result(&a, NS, "nats-pdb").findings[0];
    assert_eq!(f.code, "pdb-selector-matches-nothing");
    assert!(fact(f, "note").contains("policy/v1beta1"));
    assert!(!has(&cluster(3, vec![nats_pdb(json!({"minAvailable": 2}))]), "pdb-selector-matches-nothing"));
}

#[test]
fn pdb_no_disruption_allowed() {
    assert!(has(&cluster(2, vec![nats_pdb(json!({"minAvailable": 2}))]), "pdb-no-disruption-allowed"));
    assert!(!has(&cluster(3, vec![nats_pdb(json!({"minAvailable": 2}))]), "pdb-no-disruption-allowed"));
}

#[test]
fn pdb_unhealthy() {
    let w = cluster(1, vec![nats_pdb(json!({"minAvailable": 2}))]);
    assert!(has(&w, "pdb-unhealthy"));
    let a = run(&w);
    let f = result(&a, NS, "nats-pdb").findings.iter().find(|f| f.code == "pdb-unhealthy").unwrap();
    assert_eq!((fact(f, "currentHealthy"), fact(f, "desiredHealthy")), ("1", "2"));
    assert!(!has(&cluster(2, vec![nats_pdb(json!({"minAvailable": 2}))]), "pdb-unhealthy"));
}

#[test]
fn pdb_stale_status() {
    let mut stale = with_status(nats_pdb(json!({"minAvailable": 2})), 3, 3, 2, 1, 1);
    stale["metadata"]["generation"] = json!(2);
    let w = cluster(3, vec![stale]);
    assert_eq!(pdb_codes(&w), ["pdb-stale-status"]);
    let fresh = with_status(nats_pdb(json!({"minAvailable": 2})), 3, 3, 2, 1, 1);
    assert!(pdb_codes(&cluster(3, vec![fresh])).is_empty());
}

#[test]
fn pdb_overlapping() {
    let second = pdb(
        "policy/v1",
        NS,
        "nats-extra",
        json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}),
    );
    let w = cluster(3, vec![nats_pdb(json!({"minAvailable": 2})), second]);
    let a = run(&w);
    let f = result(&a, NS, "nats-pdb").findings.iter().find(|f| f.code == "pdb-overlapping").expect("overlap");
    assert_eq!(fact(f, "other_pdb"), "kgents-agents/nats-extra");
    assert_eq!(fact(f, "shared_pods"), "3");
    assert!(codes(result(&a, NS, "nats-extra")).contains(&"pdb-overlapping"));
    // Same selector in another namespace: no overlap.
    let elsewhere = pdb(
        "policy/v1",
        "other",
        "nats-extra",
        json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}),
    );
    assert!(!has(&cluster(3, vec![nats_pdb(json!({"minAvailable": 2})), elsewhere]), "pdb-overlapping"));
}

#[test]
fn pdb_never_allows_disruption() {
    for spec in [
        json!({"maxUnavailable": 0}),
        json!({"maxUnavailable": "0%"}),
        json!({"minAvailable": 3}),
        json!({"minAvailable": "100%"}),
        json!({"minAvailable": "90%"}),
    ] {
        assert!(has(&cluster(3, vec![nats_pdb(spec.clone())]), "pdb-never-allows-disruption"), "{spec}");
    }
    for spec in [
        json!({"maxUnavailable": 1}),
        json!({"minAvailable": 2}),
        json!({"minAvailable": "50%"}),
        json!({"maxUnavailable": "10%"}),
    ] {
        assert!(!has(&cluster(3, vec![nats_pdb(spec.clone())]), "pdb-never-allows-disruption"), "{spec}");
    }
}

#[test]
fn pdb_expected_pods_mismatch() {
    // The controller saw 2 pods while the StatefulSet wants 3 (observed status).
    let w = cluster(3, vec![with_status(nats_pdb(json!({"minAvailable": 1})), 2, 2, 1, 1, 1)]);
    let a = run(&w);
    let f =
        result(&a, NS, "nats-pdb").findings.iter().find(|f| f.code == "pdb-expected-pods-mismatch").expect("mismatch");
    assert_eq!(fact(f, "expectedPods"), "2");
    assert_eq!(fact(f, "workloads"), "StatefulSet kgents-agents/nats (3 replicas)");
    assert!(!has(
        &cluster(3, vec![with_status(nats_pdb(json!({"minAvailable": 1})), 3, 3, 1, 2, 1)]),
        "pdb-expected-pods-mismatch"
    ));
}

#[test]
fn workload_without_pdb() {
    let a = run(&cluster(
        3,
        vec![
            deployment(NS, "api", 2, &labels(&[("app", "api")])),
            deployment(NS, "box", 1, &labels(&[("app", "box")])),
        ],
    ));
    assert_eq!(workload_codes(&a), ["workload-without-pdb", "workload-without-pdb"]);
    let targets: Vec<_> = a.workload_findings.iter().filter_map(|f| f.target.as_deref()).collect();
    assert_eq!(targets, ["Deployment kgents-agents/api", "StatefulSet kgents-agents/nats"]);
    assert!(run(&cluster(3, vec![nats_pdb(json!({"minAvailable": 2}))])).workload_findings.is_empty());
    // min_replicas_for_pdb raises the bar.
    let scope = Scope { min_replicas_for_pdb: 4, ..Scope::namespaces([NS]) };
    assert!(analyze(&cluster(3, vec![]), &scope).workload_findings.is_empty());
}

#[test]
fn rollout_in_progress_makes_the_check_unverified_not_failed() {
    let mut sts = stateful_set(NS, "nats", 3, &nats_labels());
    sts["metadata"]["generation"] = json!(2);
    sts["status"] = json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 2, "updatedReplicas": 2, "currentRevision": "nats-a", "updateRevision": "nats-b"});
    let l = nats_labels();
    let mut objects = vec![sts, nats_pdb(json!({"minAvailable": 2}))];
    for i in 0..3 {
        objects.push(pod(NS, &format!("nats-{i}"), &l, Some(("apps/v1", "StatefulSet", "nats")), i != 2));
    }
    let a = run(&PdbWorld::from_snapshot(objects.clone()));
    assert_eq!(workload_codes(&a), ["rollout-in-progress"]);
    assert!(codes(result(&a, NS, "nats-pdb")).contains(&"pdb-no-disruption-allowed"));
    let report = to_probe_report(&a);
    assert_eq!(report.first_gap().map(|u| u.code.as_str()), Some("rollout-in-progress"));
    assert!(report.findings().is_empty(), "{:#?}", report.findings());
    assert!(report.evidence.iter().any(|f| f.name == "kgents-agents/nats-pdb provisional pdb-no-disruption-allowed"));

    // Settled: same revisions, everything updated and Ready.
    objects[0]["status"] = json!({"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "currentRevision": "nats-b", "updateRevision": "nats-b"});
    objects[4]["status"]["conditions"][0]["status"] = json!("True");
    let a = run(&PdbWorld::from_snapshot(objects));
    assert!(a.workload_findings.is_empty(), "{:#?}", a.workload_findings);
    assert_eq!(to_probe_report(&a).first_gap(), None);
}

#[test]
fn deployment_rollout_states() {
    let l = labels(&[("app", "api")]);
    let mut d = deployment(NS, "api", 3, &l);
    let status = |updated: i32, total: i32, available: i32| json!({"observedGeneration": 1, "replicas": total, "updatedReplicas": updated, "readyReplicas": available, "availableReplicas": available});
    for (s, rolling) in
        [(status(3, 3, 3), false), (status(2, 3, 3), true), (status(3, 4, 3), true), (status(3, 3, 2), true)]
    {
        d["status"] = s.clone();
        let a = run(&cluster(
            3,
            vec![
                d.clone(),
                nats_pdb(json!({"minAvailable": 2})),
                pdb("policy/v1", NS, "api", json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "api"}}})),
            ],
        ));
        assert_eq!(workload_codes(&a).contains(&"rollout-in-progress"), rolling, "{s}");
    }
    // A rollout past its progress deadline is stuck, not in progress.
    d["status"] = status(3, 3, 2);
    d["status"]["conditions"] =
        json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
    assert!(!workload_codes(&run(&cluster(3, vec![d]))).contains(&"rollout-in-progress"));
}

#[test]
fn pdb_invalid_spec() {
    let w = cluster(3, vec![nats_pdb(json!({"minAvailable": 2, "maxUnavailable": 1}))]);
    assert!(has(&w, "pdb-invalid-spec"));
    assert!(has(&cluster(3, vec![nats_pdb(json!({"minAvailable": "150%"}))]), "pdb-invalid-spec"));
    assert!(!has(&cluster(3, vec![nats_pdb(json!({"minAvailable": "50%"}))]), "pdb-invalid-spec"));
}

#[test]
fn pdb_controller_sync_failed() {
    // Computed: the pod's owner is missing, so the controller would fail and fall back to 0.
    let l = nats_labels();
    let w = PdbWorld::from_snapshot(vec![
        nats_pdb(json!({"maxUnavailable": 1})),
        pod(NS, "nats-0", &l, Some(("apps/v1", "StatefulSet", "gone")), true),
    ]);
    assert!(has(&w, "pdb-controller-sync-failed"));
    // Observed: the controller's own SyncFailed condition.
    let mut observed = with_status(nats_pdb(json!({"maxUnavailable": 1})), 3, 3, 2, 0, 1);
    observed["status"]["conditions"] = json!([{"type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed", "message": "found no controllers for pod \"nats-0\"", "lastTransitionTime": "2025-01-01T00:00:00Z"}]);
    assert!(has(&cluster(3, vec![observed]), "pdb-controller-sync-failed"));
    assert!(!has(&cluster(3, vec![nats_pdb(json!({"maxUnavailable": 1}))]), "pdb-controller-sync-failed"));
    // Observed on a controller older than 1.21: no condition, only disruptionsAllowed 0 left by
    // the fail-safe; the cause (a pod without a controller) comes from redoing the computation.
    let mut w = cluster(3, vec![with_status(nats_pdb(json!({"maxUnavailable": 1})), 0, 0, 0, 0, 0)]);
    w.add_value(pod(NS, "debug", &nats_labels(), None, true));
    w.unmanaged_pods = kgents_gate::pdb::UnmanagedPods::for_version(1, 20);
    assert!(has(&w, "pdb-controller-sync-failed"));
    w.unmanaged_pods = kgents_gate::pdb::UnmanagedPods::for_version(1, 23);
    assert!(!has(&w, "pdb-controller-sync-failed"));
}

#[test]
fn pdb_status_unresolvable() {
    let l = nats_labels();
    let w = PdbWorld::from_manifests(vec![
        nats_pdb(json!({"maxUnavailable": 1})),
        pod(NS, "r-0", &l, Some(("argoproj.io/v1alpha1", "Rollout", "r")), true),
    ]);
    assert!(has(&w, "pdb-status-unresolvable"));
    let report = to_probe_report(&run(&w));
    assert_eq!(report.first_gap().map(|u| u.code.as_str()), Some("pdb-status-unresolvable"));
    // Integer minAvailable needs no controller scale.
    let w = PdbWorld::from_manifests(vec![
        nats_pdb(json!({"minAvailable": 1})),
        pod(NS, "r-0", &l, Some(("argoproj.io/v1alpha1", "Rollout", "r")), true),
    ]);
    assert!(!has(&w, "pdb-status-unresolvable"));
}

#[test]
fn pdb_unmanaged_pods() {
    let mut w = cluster(3, vec![nats_pdb(json!({"maxUnavailable": 1}))]);
    w.add_value(pod(NS, "debug", &nats_labels(), None, true));
    assert!(has(&w, "pdb-unmanaged-pods"));
    assert!(!has(&cluster(3, vec![nats_pdb(json!({"maxUnavailable": 1}))]), "pdb-unmanaged-pods"));
}

#[test]
fn object_unreadable() {
    let broken = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "bad", "namespace": NS}, "spec": {"replicas": "three"}});
    let a = run(&cluster(3, vec![nats_pdb(json!({"minAvailable": 2})), broken]));
    assert_eq!(workload_codes(&a), ["object-unreadable"]);
    assert_eq!(a.workload_findings[0].target.as_deref(), Some("StatefulSet kgents-agents/bad"));
    assert!(run(&cluster(3, vec![nats_pdb(json!({"minAvailable": 2}))])).workload_findings.is_empty());
}
