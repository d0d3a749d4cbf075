//! The offline status against the disruption controller's rules: a hand-worked table, a full
//! matrix (int/percent minAvailable and maxUnavailable, 1..7 replicas, 0..all Ready, each owner
//! kind and naked pods) against a transcription of getExpectedPodCount, and the edge cases
//! (rollout with two ReplicaSets, deleting and evicted pods, missing or custom owners).

mod pdb_support;

use kgents_gate::pdb::{PdbStatus, PdbWorld, SyncError, UnmanagedPods, compute_status};
use pdb_support::*;
use serde_json::{Value, json};

const NS: &str = "apps";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Owner {
    StatefulSet,
    Deployment,
    ReplicaSet,
    ReplicationController,
    Naked,
}

#[derive(Debug, Clone, Copy)]
enum Spec {
    MinInt(i32),
    MinPct(i32),
    MaxInt(i32),
    MaxPct(i32),
}

impl Spec {
    fn json(self) -> Value {
        let sel = json!({"matchLabels": {"app": "w"}});
        match self {
            Spec::MinInt(n) => json!({"minAvailable": n, "selector": sel}),
            Spec::MinPct(p) => json!({"minAvailable": format!("{p}%"), "selector": sel}),
            Spec::MaxInt(n) => json!({"maxUnavailable": n, "selector": sel}),
            Spec::MaxPct(p) => json!({"maxUnavailable": format!("{p}%"), "selector": sel}),
        }
    }
}

/// A workload of `replicas` with all its pods created, the first `ready` of them Ready.
fn world(owner: Owner, replicas: i32, ready: i32, spec: Spec) -> PdbWorld {
    let l = labels(&[("app", "w")]);
    let mut objects = vec![pdb("policy/v1", NS, "w-pdb", spec.json())];
    let pod_owner: Option<(&str, &str, &str)> = match owner {
        Owner::StatefulSet => {
            objects.push(stateful_set(NS, "w", replicas, &l));
            Some(("apps/v1", "StatefulSet", "w"))
        }
        Owner::Deployment => {
            objects.push(deployment(NS, "w", replicas, &l));
            objects.push(replica_set(NS, "w-5d8f", replicas, &l, Some("w")));
            Some(("apps/v1", "ReplicaSet", "w-5d8f"))
        }
        Owner::ReplicaSet => {
            objects.push(replica_set(NS, "w", replicas, &l, None));
            Some(("apps/v1", "ReplicaSet", "w"))
        }
        Owner::ReplicationController => {
            objects.push(replication_controller(NS, "w", replicas, &l));
            Some(("v1", "ReplicationController", "w"))
        }
        Owner::Naked => None,
    };
    for i in 0..replicas {
        objects.push(pod(NS, &format!("w-{i}"), &l, pod_owner, i < ready));
    }
    PdbWorld::from_snapshot(objects)
}

fn st(e: i32, c: i32, d: i32, a: i32) -> PdbStatus {
    PdbStatus { expected_pods: e, current_healthy: c, desired_healthy: d, disruptions_allowed: a }
}

fn computed(w: &PdbWorld) -> PdbStatus {
    let c = compute_status(w, &w.pdbs[0]);
    assert_eq!(c.sync_error, None, "{w:#?}");
    c.status
}

/// Worked by hand from disruption.go (percentages rounded up).
#[test]
fn hand_worked_cases() {
    use Owner::*;
    use Spec::*;
    let table = [
        (StatefulSet, 3, 3, MinInt(2), st(3, 3, 2, 1)),
        (StatefulSet, 3, 2, MinInt(2), st(3, 2, 2, 0)),
        (StatefulSet, 3, 3, MinPct(50), st(3, 3, 2, 1)), // ceil(1.5) = 2
        (StatefulSet, 3, 3, MaxInt(1), st(3, 3, 2, 1)),
        (StatefulSet, 3, 3, MaxPct(50), st(3, 3, 1, 2)), // 3 - ceil(1.5)
        (StatefulSet, 2, 2, MinInt(3), st(2, 2, 3, 0)),
        (StatefulSet, 7, 5, MaxPct(100), st(7, 5, 0, 5)),
        (Deployment, 5, 5, MinPct(90), st(5, 5, 5, 0)), // ceil(4.5) = 5
        (Deployment, 5, 4, MaxPct(25), st(5, 4, 3, 1)), // 5 - ceil(1.25)
        (ReplicaSet, 7, 7, MinPct(34), st(7, 7, 3, 4)), // ceil(2.38) = 3
        (ReplicaSet, 7, 0, MinInt(0), st(7, 0, 0, 0)),
        (ReplicationController, 4, 4, MaxPct(0), st(4, 4, 4, 0)),
        (ReplicationController, 1, 1, MaxInt(1), st(1, 1, 0, 1)),
        (Naked, 3, 3, MinInt(2), st(3, 3, 2, 1)),
        // Controller scale needed but no controller: expectedPods 0, so nothing is allowed.
        (Naked, 3, 3, MaxInt(1), st(0, 3, 0, 0)),
        (Naked, 3, 3, MinPct(50), st(0, 3, 0, 0)),
    ];
    for (owner, replicas, ready, spec, want) in table {
        let w = world(owner, replicas, ready, spec);
        assert_eq!(computed(&w), want, "{owner:?} replicas={replicas} ready={ready} {spec:?}");
    }
}

fn ceil_pct(p: i32, total: i32) -> i32 {
    (p * total + 99) / 100
}

/// getExpectedPodCount + countHealthyPods + updatePdbStatus, transcribed for this matrix.
fn oracle(owner: Owner, replicas: i32, ready: i32, spec: Spec) -> PdbStatus {
    let scale = if owner == Owner::Naked { 0 } else { replicas };
    let (expected, desired) = match spec {
        Spec::MinInt(n) => (replicas, n),
        Spec::MinPct(p) => (scale, ceil_pct(p, scale)),
        Spec::MaxInt(m) => (scale, (scale - m).max(0)),
        Spec::MaxPct(p) => (scale, (scale - ceil_pct(p, scale)).max(0)),
    };
    let allowed = if expected > 0 && ready > desired { ready - desired } else { 0 };
    st(expected, ready, desired, allowed)
}

#[test]
fn full_matrix_matches_the_controller_rules() {
    let percents = [0, 1, 25, 33, 34, 50, 51, 66, 67, 75, 99, 100];
    let mut checked = 0;
    for owner in [Owner::StatefulSet, Owner::Deployment, Owner::ReplicaSet, Owner::ReplicationController, Owner::Naked]
    {
        for replicas in 1..=7 {
            let mut specs: Vec<Spec> = Vec::new();
            specs.extend([0, 1, 2, replicas - 1, replicas, replicas + 1].map(Spec::MinInt));
            specs.extend([0, 1, 2, replicas].map(Spec::MaxInt));
            specs.extend(percents.map(Spec::MinPct));
            specs.extend(percents.map(Spec::MaxPct));
            for ready in 0..=replicas {
                for &spec in &specs {
                    let w = world(owner, replicas, ready, spec);
                    assert_eq!(
                        computed(&w),
                        oracle(owner, replicas, ready, spec),
                        "{owner:?} replicas={replicas} ready={ready} {spec:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 5 * (1..=7).map(|r| (r + 1) * (6 + 4 + 24)).sum::<i32>());
}

#[test]
fn before_1_23_pods_without_controller_fail_the_sync() {
    for spec in [Spec::MaxInt(1), Spec::MaxPct(50), Spec::MinPct(50)] {
        let mut w = world(Owner::Naked, 3, 3, spec);
        w.unmanaged_pods = UnmanagedPods::for_version(1, 20);
        let c = compute_status(&w, &w.pdbs[0]);
        // failSafe writes disruptionsAllowed 0 and leaves the (empty) rest as it was.
        assert_eq!(c.status, st(0, 0, 0, 0), "{spec:?}");
        assert_eq!(c.sync_error, Some(SyncError::FailSafe("found no controller ref for pod \"w-0\"".into())));
    }
    // Integer minAvailable never needs the controllers.
    let mut w = world(Owner::Naked, 3, 3, Spec::MinInt(2));
    w.unmanaged_pods = UnmanagedPods::for_version(1, 20);
    assert_eq!(computed(&w), st(3, 3, 2, 1));
    assert_eq!(UnmanagedPods::for_version(1, 23), UnmanagedPods::Ignore);
}

#[test]
fn a_deployment_mid_rollout_counts_once_with_pods_of_both_replica_sets() {
    let l = labels(&[("app", "w")]);
    let mut objects = vec![
        deployment(NS, "w", 3, &l),
        replica_set(NS, "w-old", 1, &l, Some("w")),
        replica_set(NS, "w-new", 3, &l, Some("w")),
    ];
    for (i, rs) in ["w-old", "w-old", "w-new", "w-new"].iter().enumerate() {
        objects.push(pod(NS, &format!("w-{i}"), &l, Some(("apps/v1", "ReplicaSet", rs)), true));
    }
    let sel = json!({"matchLabels": {"app": "w"}});
    let mut pct = objects.clone();
    pct.push(pdb("policy/v1", NS, "p", json!({"minAvailable": "50%", "selector": sel})));
    assert_eq!(computed(&PdbWorld::from_snapshot(pct)), st(3, 4, 2, 2));
    objects.push(pdb("policy/v1", NS, "p", json!({"minAvailable": 2, "selector": sel})));
    assert_eq!(computed(&PdbWorld::from_snapshot(objects)), st(4, 4, 2, 2));
}

#[test]
fn deleting_and_recently_evicted_pods_are_not_healthy() {
    let mut w = world(Owner::StatefulSet, 3, 3, Spec::MinInt(2));
    w.pods[2].metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2025-01-01T00:00:00Z".parse().unwrap()));
    assert_eq!(computed(&w), st(3, 2, 2, 0));

    let mut objects = vec![with_status(pdb("policy/v1", NS, "w-pdb", Spec::MinInt(1).json()), 3, 3, 1, 2, 1)];
    objects[0]["status"]["disruptedPods"] = json!({"w-0": "2025-01-01T00:00:00Z"});
    let l = labels(&[("app", "w")]);
    objects.push(stateful_set(NS, "w", 3, &l));
    for i in 0..3 {
        objects.push(pod(NS, &format!("w-{i}"), &l, Some(("apps/v1", "StatefulSet", "w")), true));
    }
    let mut w = PdbWorld::from_snapshot(objects);
    w.now = Some("2025-01-01T00:01:00Z".parse().unwrap()); // within the 2 minute timeout
    assert_eq!(computed(&w), st(3, 2, 1, 1));
    w.now = Some("2025-01-01T00:02:01Z".parse().unwrap()); // timed out: counted again
    assert_eq!(computed(&w), st(3, 3, 1, 2));
    w.now = None; // unknown time: still pending
    assert_eq!(computed(&w), st(3, 2, 1, 1));
}

#[test]
fn owners_missing_mismatched_or_custom() {
    let l = labels(&[("app", "w")]);
    let sel = json!({"maxUnavailable": 1, "selector": {"matchLabels": {"app": "w"}}});
    // A ReplicaSet whose Deployment is gone: the scale finder reads the ReplicaSet's scale.
    let w = PdbWorld::from_snapshot(vec![
        pdb("policy/v1", NS, "p", sel.clone()),
        replica_set(NS, "rs", 4, &l, Some("gone")),
        pod(NS, "a", &l, Some(("apps/v1", "ReplicaSet", "rs")), true),
    ]);
    assert_eq!(computed(&w), st(4, 1, 3, 0));
    // The owner does not exist: the sync fails, disruptionsAllowed 0.
    let w = PdbWorld::from_snapshot(vec![
        pdb("policy/v1", NS, "p", sel.clone()),
        pod(NS, "a", &l, Some(("apps/v1", "StatefulSet", "nope")), true),
    ]);
    let c = compute_status(&w, &w.pdbs[0]);
    assert!(
        matches!(c.sync_error, Some(SyncError::FailSafe(ref m)) if m == "found no controllers for pod \"a\""),
        "{c:?}"
    );
    assert_eq!(c.status.disruptions_allowed, 0);
    // Same name, different UID: not the pod's controller.
    let mut stale = pod(NS, "a", &l, Some(("apps/v1", "StatefulSet", "w")), true);
    stale["metadata"]["ownerReferences"][0]["uid"] = json!("uid-of-a-deleted-statefulset");
    let w = PdbWorld::from_snapshot(vec![pdb("policy/v1", NS, "p", sel.clone()), stateful_set(NS, "w", 3, &l), stale]);
    assert!(matches!(compute_status(&w, &w.pdbs[0]).sync_error, Some(SyncError::FailSafe(_))));
    // A custom controller: only its scale subresource could tell.
    let w = PdbWorld::from_snapshot(vec![
        pdb("policy/v1", NS, "p", sel),
        pod(NS, "a", &l, Some(("argoproj.io/v1alpha1", "Rollout", "r")), true),
    ]);
    assert!(matches!(compute_status(&w, &w.pdbs[0]).sync_error, Some(SyncError::Unresolvable(_))));
}

#[test]
fn unmanaged_pods_count_as_healthy_but_not_expected() {
    let l = labels(&[("app", "w")]);
    let mut w = world(Owner::StatefulSet, 3, 3, Spec::MaxInt(1));
    let extra = pod(NS, "debug", &l, None, true);
    w.pods.push(serde_json::from_value(extra).unwrap());
    let c = compute_status(&w, &w.pdbs[0]);
    assert_eq!(c.status, st(3, 4, 2, 2));
    assert_eq!(c.unmanaged_pods, ["debug"]);
}

#[test]
fn selectors_defaults_and_namespaces() {
    let l = labels(&[("app", "w")]);
    let base = || {
        vec![
            stateful_set(NS, "w", 2, &l),
            pod(NS, "w-0", &l, Some(("apps/v1", "StatefulSet", "w")), true),
            pod(NS, "w-1", &l, Some(("apps/v1", "StatefulSet", "w")), true),
            pod("elsewhere", "x", &l, None, true),
        ]
    };
    let with = |p: Value| {
        let mut o = base();
        o.push(p);
        PdbWorld::from_snapshot(o)
    };
    // Neither field set: the API defaults minAvailable to 1.
    assert_eq!(
        computed(&with(pdb("policy/v1", NS, "p", json!({"selector": {"matchLabels": {"app": "w"}}})))),
        st(2, 2, 1, 1)
    );
    // Empty selector: every pod of the namespace in policy/v1, none in policy/v1beta1.
    assert_eq!(computed(&with(pdb("policy/v1", NS, "p", json!({"minAvailable": 1, "selector": {}})))), st(2, 2, 1, 1));
    assert_eq!(
        computed(&with(pdb("policy/v1beta1", NS, "p", json!({"minAvailable": 1, "selector": {}})))),
        st(0, 0, 1, 0)
    );
    // No selector at all matches nothing in both.
    assert_eq!(computed(&with(pdb("policy/v1", NS, "p", json!({"minAvailable": 1})))), st(0, 0, 1, 0));
}
