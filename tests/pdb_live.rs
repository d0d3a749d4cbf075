//! The offline PDB status (`kgents_gate::pdb::compute_status`) against the real Kubernetes 1.20
//! disruption controller: a sampled matrix of specs, scales, Ready counts and pod owners, each
//! compared on all four status numbers once the controller has written a stable status.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kgents_gate::pdb::{PdbStatus, PdbWorld, SyncError, UnmanagedPods, compute_status};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use support::ControlPlane;
use support::kubelet::{PodState, set_pod_state};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Owner {
    StatefulSet,
    Deployment,
    ReplicaSet,
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
    fn json(self, case: &str) -> Value {
        let sel = json!({"matchLabels": {"case": case}});
        match self {
            Spec::MinInt(n) => json!({"minAvailable": n, "selector": sel}),
            Spec::MinPct(p) => json!({"minAvailable": format!("{p}%"), "selector": sel}),
            Spec::MaxInt(n) => json!({"maxUnavailable": n, "selector": sel}),
            Spec::MaxPct(p) => json!({"maxUnavailable": format!("{p}%"), "selector": sel}),
        }
    }

    /// Whether the controller needs the pods' controllers (their scale) for this spec.
    fn needs_scale(self) -> bool {
        !matches!(self, Spec::MinInt(_))
    }
}

#[derive(Debug, Clone)]
struct Case {
    name: String,
    owner: Owner,
    spec: Spec,
    replicas: i32,
    ready: i32,
}

const PCTS: &[i32] = &[0, 20, 25, 34, 50, 66, 90, 100];

/// A deterministic sample of the matrix: every owner with every spec form, replicas 1..=7
/// and Ready counts 0..=replicas spread across the cases (all pods Ready and none Ready both
/// occur for each owner). Naked pods with a spec that needs a scale fail safe on 1.20: one case
/// of each such form is enough.
fn cases() -> Vec<Case> {
    let owners = [Owner::StatefulSet, Owner::Deployment, Owner::ReplicaSet, Owner::Naked];
    let mut out = Vec::new();
    for (oi, owner) in owners.into_iter().enumerate() {
        for form in 0..4usize {
            let per_form = if owner == Owner::Naked && form > 0 { 2 } else { 6 };
            for j in 0..per_form {
                let k = oi * 16 + form * 4 + j;
                let replicas = 1 + ((oi * 3 + form * 2 + j * 5) % 7) as i32;
                let ready = match j {
                    0 => replicas,
                    1 => 0,
                    _ => ((k * 7 + 3) % (replicas as usize + 1)) as i32,
                };
                let int_value = ((k * 5 + j) % (replicas as usize + 2)) as i32;
                let pct = PCTS[(out.len() * 3) % PCTS.len()];
                let spec = match form {
                    0 => Spec::MinInt(int_value),
                    1 => Spec::MinPct(pct),
                    2 => Spec::MaxInt(int_value),
                    _ => Spec::MaxPct(pct),
                };
                out.push(Case { name: format!("c{}", out.len()), owner, spec, replicas, ready });
            }
        }
    }
    out
}

fn pdb_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget"),
        "poddisruptionbudgets",
    )
}

fn workload_yaml(case: &Case) -> Option<String> {
    let (kind, extra) = match case.owner {
        Owner::StatefulSet => {
            ("StatefulSet", format!("serviceName: {}\n  podManagementPolicy: Parallel\n  ", case.name))
        }
        Owner::Deployment => ("Deployment", String::new()),
        Owner::ReplicaSet => ("ReplicaSet", String::new()),
        Owner::Naked => return None,
    };
    Some(format!(
        "apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: {n}}}\nspec:\n  {extra}replicas: {r}\n  selector: {{matchLabels: {{case: {n}}}}}\n  template:\n    metadata: {{labels: {{case: {n}}}}}\n    spec: {{containers: [{{name: c, image: busybox}}]}}\n",
        n = case.name,
        r = case.replicas
    ))
}

fn naked_pods_yaml(case: &Case) -> String {
    (0..case.replicas)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {n}-{i}, labels: {{case: {n}}}}}\nspec: {{containers: [{{name: c, image: busybox}}]}}\n",
                n = case.name
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn status_of(pdb: &DynamicObject) -> PdbStatus {
    let s = &pdb.data["status"];
    let n = |k: &str| s[k].as_i64().unwrap_or(-1) as i32;
    PdbStatus {
        expected_pods: n("expectedPods"),
        current_healthy: n("currentHealthy"),
        desired_healthy: n("desiredHealthy"),
        disruptions_allowed: n("disruptionsAllowed"),
    }
}

fn typed<T: serde::Serialize>(o: &T, api_version: &str, kind: &str) -> Value {
    let mut v = serde_json::to_value(o).unwrap();
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    v
}

/// Every object of the case as the API serves it, the PDB stripped of its status.
async fn snapshot(client: &kube::Client, ns: &str, case: &Case, pdb: &DynamicObject) -> Vec<Value> {
    let lp = ListParams::default().labels(&format!("case={}", case.name));
    let mut objects = Vec::new();
    for p in Api::<Pod>::namespaced(client.clone(), ns).list(&lp).await.unwrap() {
        objects.push(typed(&p, "v1", "Pod"));
    }
    // Workloads carry no `case` label on themselves: read them by name.
    let by_name = ListParams::default().fields(&format!("metadata.name={}", case.name));
    for d in Api::<Deployment>::namespaced(client.clone(), ns).list(&by_name).await.unwrap() {
        objects.push(typed(&d, "apps/v1", "Deployment"));
    }
    for s in Api::<StatefulSet>::namespaced(client.clone(), ns).list(&by_name).await.unwrap() {
        objects.push(typed(&s, "apps/v1", "StatefulSet"));
    }
    for rs in Api::<ReplicaSet>::namespaced(client.clone(), ns).list(&lp).await.unwrap() {
        objects.push(typed(&rs, "apps/v1", "ReplicaSet"));
    }
    for rs in Api::<ReplicaSet>::namespaced(client.clone(), ns).list(&by_name).await.unwrap() {
        objects.push(typed(&rs, "apps/v1", "ReplicaSet"));
    }
    let mut p = serde_json::to_value(pdb).unwrap();
    p["apiVersion"] = json!("policy/v1beta1");
    p["kind"] = json!("PodDisruptionBudget");
    p.as_object_mut().unwrap().remove("status");
    objects.push(p);
    objects
}

/// The pods of the case once all exist, sorted by name.
async fn case_pods(client: &kube::Client, ns: &str, case: &Case) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("case={}", case.name));
    let want = case.replicas as usize;
    support::eventually(&format!("{want} pods of {}", case.name), Duration::from_secs(90), || {
        let pods = pods.clone();
        let lp = lp.clone();
        async move {
            let mut list = pods.list(&lp).await.map_err(|e| e.to_string())?.items;
            list.retain(|p| p.metadata.deletion_timestamp.is_none());
            list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            if list.len() == want { Ok(list) } else { Err(format!("{} pods", list.len())) }
        }
    })
    .await
}

/// Whether the controller gave up on the PDB with a warning event (1.20: a pod without a
/// controller when the spec needs the scale). It then only writes `disruptionsAllowed: 0`.
async fn failed_sync_event(client: &kube::Client, ns: &str, pdb: &str) -> bool {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().fields(&format!("involvedObject.name={pdb}"));
    events.list(&lp).await.is_ok_and(|l| {
        l.items.iter().any(|e| {
            e.type_.as_deref() == Some("Warning")
                && matches!(e.reason.as_deref(), Some("NoControllerRef" | "CalculateExpectedPodCountFailed"))
        })
    })
}

/// Runs one case; returns (observed, computed) or panics with the case on a mismatch.
async fn run_case(plane: &ControlPlane, ns: &str, case: Case) -> PdbStatus {
    let client = plane.client();
    match workload_yaml(&case) {
        Some(y) => plane.apply_yaml_in(ns, &y).await,
        None => plane.apply_yaml_in(ns, &naked_pods_yaml(&case)).await,
    };
    let pods = case_pods(&client, ns, &case).await;
    for (i, p) in pods.iter().enumerate() {
        let state = if (i as i32) < case.ready { PodState::Ready } else { PodState::NotReady };
        set_pod_state(&client, ns, p.metadata.name.as_deref().unwrap(), state).await;
    }
    let pdb_name = format!("{}-pdb", case.name);
    let pdb_obj = json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
        "metadata": {"name": pdb_name}, "spec": case.spec.json(&case.name)});
    plane.apply_yaml_in(ns, &serde_json::to_string(&pdb_obj).unwrap()).await;
    let fail_safe_expected = case.owner == Owner::Naked && case.spec.needs_scale();
    let pdbs: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &pdb_resource());
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last_change = (String::new(), Instant::now());
    loop {
        let pdb = pdbs.get(&pdb_name).await.unwrap();
        let rv = pdb.metadata.resource_version.clone().unwrap_or_default();
        if rv != last_change.0 {
            last_change = (rv.clone(), Instant::now());
        }
        let processed = if fail_safe_expected {
            failed_sync_event(&client, ns, &pdb_name).await
        } else {
            pdb.data["status"]["observedGeneration"].as_i64() == pdb.metadata.generation
        };
        // Stable: processed and unchanged for two seconds.
        if processed && last_change.1.elapsed() >= Duration::from_secs(2) {
            let observed = status_of(&pdb);
            let mut world = PdbWorld::from_snapshot(snapshot(&client, ns, &case, &pdb).await);
            world.unmanaged_pods = UnmanagedPods::for_version(1, 20);
            world.now = Some(jiff::Timestamp::now());
            let c = compute_status(&world, &world.pdbs[0]);
            let still = pdbs.get(&pdb_name).await.unwrap().metadata.resource_version.unwrap_or_default();
            if still == rv {
                assert_eq!(
                    c.status, observed,
                    "{case:?}: computed {} but the controller wrote {} (computation {c:#?})",
                    c.status, observed
                );
                assert_eq!(
                    matches!(c.sync_error, Some(SyncError::FailSafe(_))),
                    fail_safe_expected,
                    "{case:?}: {c:#?}"
                );
                return observed;
            }
        }
        assert!(Instant::now() < deadline, "{case:?}: no stable status from the controller: {}", pdb.data["status"]);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn computed_status_agrees_with_the_disruption_controller() {
    let plane = ControlPlane::shared();
    let started = Instant::now();
    let ns = plane.unique_namespace("pdb-matrix").await;
    let cases = cases();
    let total = cases.len();
    let results: Vec<(Case, PdbStatus)> = futures::stream::iter(cases)
        .map(|case| {
            let ns = ns.clone();
            async move {
                let c = case.clone();
                (c, run_case(plane, &ns, case).await)
            }
        })
        .buffer_unordered(12)
        .collect()
        .await;
    assert_eq!(results.len(), total);
    // The sample really covers the matrix: every owner and form, replicas 1..=7, several
    // disruptionsAllowed values, blocked and allowed PDBs.
    for r in 1..=7 {
        assert!(results.iter().any(|(c, _)| c.replicas == r), "replicas {r} not sampled");
    }
    assert!(results.iter().any(|(_, s)| s.disruptions_allowed == 0));
    assert!(results.iter().any(|(_, s)| s.disruptions_allowed >= 2));
    assert!(results.iter().any(|(c, s)| c.ready == c.replicas && s.current_healthy == c.replicas));
    for (c, s) in &results {
        eprintln!("{} {:?} {:?} replicas={} ready={} -> {s}", c.name, c.owner, c.spec, c.replicas, c.ready);
    }
    eprintln!("{total} cases agree with the disruption controller in {:?}", started.elapsed());
}
