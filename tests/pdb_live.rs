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

/// Every pod and workload of `ns`, and the PDB stripped of its status.
async fn snapshot_namespace(client: &kube::Client, ns: &str, pdb: &DynamicObject) -> Vec<Value> {
    let lp = ListParams::default();
    let mut objects = Vec::new();
    for p in Api::<Pod>::namespaced(client.clone(), ns).list(&lp).await.unwrap() {
        objects.push(typed(&p, "v1", "Pod"));
    }
    for d in Api::<Deployment>::namespaced(client.clone(), ns).list(&lp).await.unwrap() {
        objects.push(typed(&d, "apps/v1", "Deployment"));
    }
    for s in Api::<StatefulSet>::namespaced(client.clone(), ns).list(&lp).await.unwrap() {
        objects.push(typed(&s, "apps/v1", "StatefulSet"));
    }
    for rs in Api::<ReplicaSet>::namespaced(client.clone(), ns).list(&lp).await.unwrap() {
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
    let what = format!("{case:?}");
    compare(&client, ns, &pdb_name, fail_safe_expected, &what, Some(&case)).await
}

/// Waits until the controller has processed `pdb_name` and left it unchanged for two seconds,
/// then computes the status from the objects without the PDB's status and compares. With a
/// case, only its objects are read; without, the whole namespace.
async fn compare(
    client: &kube::Client,
    ns: &str,
    pdb_name: &str,
    fail_safe_expected: bool,
    what: &str,
    case: Option<&Case>,
) -> PdbStatus {
    let pdbs: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &pdb_resource());
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last_change = (String::new(), Instant::now());
    loop {
        let pdb = pdbs.get(pdb_name).await.unwrap();
        let rv = pdb.metadata.resource_version.clone().unwrap_or_default();
        if rv != last_change.0 {
            last_change = (rv.clone(), Instant::now());
        }
        let processed = if fail_safe_expected {
            failed_sync_event(client, ns, pdb_name).await
        } else {
            pdb.data["status"]["observedGeneration"].as_i64() == pdb.metadata.generation
        };
        if processed && last_change.1.elapsed() >= Duration::from_secs(2) {
            let observed = status_of(&pdb);
            let objects = match case {
                Some(case) => snapshot(client, ns, case, &pdb).await,
                None => snapshot_namespace(client, ns, &pdb).await,
            };
            let mut world = PdbWorld::from_snapshot(objects);
            world.unmanaged_pods = UnmanagedPods::for_version(1, 20);
            world.now = Some(jiff::Timestamp::now());
            let c = compute_status(&world, &world.pdbs[0]);
            let still = pdbs.get(pdb_name).await.unwrap().metadata.resource_version.unwrap_or_default();
            if still == rv {
                assert_eq!(
                    c.status, observed,
                    "{what}: computed {} but the controller wrote {} (computation {c:#?})",
                    c.status, observed
                );
                let fail_safe = matches!(c.sync_error, Some(SyncError::FailSafe(_)));
                assert_eq!(fail_safe, fail_safe_expected, "{what}: {c:#?}");
                return observed;
            }
        }
        assert!(Instant::now() < deadline, "{what}: no stable status from the controller: {}", pdb.data["status"]);
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

fn pdb_doc(name: &str, spec: Value) -> String {
    let doc = json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": name}, "spec": spec});
    serde_json::to_string(&doc).unwrap()
}

fn labels_sel(app: &str) -> Value {
    json!({"matchLabels": {"app": app}})
}

/// Pods matching `selector` (deleting ones included) once there are exactly `count`.
async fn pods_now(client: &kube::Client, ns: &str, selector: &str, count: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    support::eventually(&format!("{count} pods {selector} in {ns}"), Duration::from_secs(60), || {
        let pods = pods.clone();
        async move {
            let mut list = pods.list(&ListParams::default().labels(selector)).await.map_err(|e| e.to_string())?.items;
            list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            if list.len() == count { Ok(list) } else { Err(format!("{} pods", list.len())) }
        }
    })
    .await
}

/// Creates the PDBs in `ns`, then compares each with the controller; returns (name, status).
async fn compare_all(plane: &ControlPlane, ns: &str, pdbs: &[(&str, Value, bool)]) -> Vec<(String, PdbStatus)> {
    let client = plane.client();
    for (name, spec, _) in pdbs {
        plane.apply_yaml_in(ns, &pdb_doc(name, spec.clone())).await;
    }
    let runs = pdbs.iter().map(|(name, spec, fail_safe)| {
        let client = client.clone();
        async move {
            let what = format!("{ns}/{name} {spec}");
            (name.to_string(), compare(&client, ns, name, *fail_safe, &what, None).await)
        }
    });
    futures::future::join_all(runs).await
}

fn get<'a>(results: &'a [(String, PdbStatus)], name: &str) -> &'a PdbStatus {
    &results.iter().find(|(n, _)| n == name).unwrap().1
}

const POD_SPEC: &str = "spec: {containers: [{name: c, image: busybox}]}";

/// OrderedReady StatefulSet stuck at its second pod: 2 pods exist for a scale of 4.
async fn ordered(plane: &ControlPlane) -> Vec<(String, PdbStatus)> {
    let client = plane.client();
    let ns = plane.unique_namespace("pdb-ordered").await;
    plane.apply_yaml_in(&ns, &format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: ord}}\nspec:\n  serviceName: ord\n  replicas: 4\n  selector: {{matchLabels: {{app: ord}}}}\n  template: {{metadata: {{labels: {{app: ord}}}}, {POD_SPEC}}}\n")).await;
    pods_now(&client, &ns, "app=ord", 1).await;
    set_pod_state(&client, &ns, "ord-0", PodState::Ready).await;
    pods_now(&client, &ns, "app=ord", 2).await;
    set_pod_state(&client, &ns, "ord-1", PodState::NotReady).await;
    let r = compare_all(
        plane,
        &ns,
        &[
            ("min-int", json!({"minAvailable": 1, "selector": labels_sel("ord")}), false),
            ("min-pct", json!({"minAvailable": "50%", "selector": labels_sel("ord")}), false),
            ("max-int", json!({"maxUnavailable": 1, "selector": labels_sel("ord")}), false),
            ("max-pct", json!({"maxUnavailable": "25%", "selector": labels_sel("ord")}), false),
        ],
    )
    .await;
    // minAvailable as an integer counts the pods; the other forms read the scale.
    assert_eq!((get(&r, "min-int").expected_pods, get(&r, "min-pct").expected_pods), (2, 4));
    assert_eq!(pods_now(&client, &ns, "app=ord", 2).await.len(), 2);
    r
}

/// A Deployment mid-rollout: three old pods and a Pending surge pod of the new ReplicaSet.
async fn rolling(plane: &ControlPlane) -> Vec<(String, PdbStatus)> {
    let client = plane.client();
    let ns = plane.unique_namespace("pdb-rolling").await;
    let deployment = |rel: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: roll}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: roll}}}}\n  template: {{metadata: {{labels: {{app: roll}}, annotations: {{rel: \"{rel}\"}}}}, {POD_SPEC}}}\n"
        )
    };
    plane.apply_yaml_in(&ns, &deployment("1")).await;
    support::kubelet::ready_pods(&client, &ns, "app=roll", 3, Duration::from_secs(60)).await;
    plane.apply_yaml_in(&ns, &deployment("2")).await;
    pods_now(&client, &ns, "app=roll", 4).await;
    let r = compare_all(
        plane,
        &ns,
        &[
            ("min-int", json!({"minAvailable": 2, "selector": labels_sel("roll")}), false),
            ("min-pct", json!({"minAvailable": "50%", "selector": labels_sel("roll")}), false),
            ("max-int", json!({"maxUnavailable": 1, "selector": labels_sel("roll")}), false),
            ("max-pct", json!({"maxUnavailable": "34%", "selector": labels_sel("roll")}), false),
        ],
    )
    .await;
    // Two ReplicaSets, one Deployment: its scale counts once.
    assert_eq!((get(&r, "min-int").expected_pods, get(&r, "min-pct").expected_pods), (4, 3));
    r
}

/// One PDB over a Deployment and a StatefulSet; set-based, empty selectors.
async fn mixed(plane: &ControlPlane) -> Vec<(String, PdbStatus)> {
    let client = plane.client();
    let ns = plane.unique_namespace("pdb-mixed").await;
    plane.apply_yaml_in(&ns, &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: mixd}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: mixd}}}}\n  template: {{metadata: {{labels: {{app: mixd, tier: mixed}}}}, {POD_SPEC}}}\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: mixs}}\nspec:\n  serviceName: mixs\n  podManagementPolicy: Parallel\n  replicas: 3\n  selector: {{matchLabels: {{app: mixs}}}}\n  template: {{metadata: {{labels: {{app: mixs, tier: mixed}}}}, {POD_SPEC}}}\n")).await;
    support::kubelet::ready_pods(&client, &ns, "tier=mixed", 5, Duration::from_secs(60)).await;
    set_pod_state(&client, &ns, "mixs-2", PodState::NotReady).await;
    let tier = json!({"matchLabels": {"tier": "mixed"}});
    let set_in = json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["mixd", "mixs"]}]});
    let not_in = json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["mixd"]}, {"key": "tier", "operator": "Exists"}]});
    let r = compare_all(
        plane,
        &ns,
        &[
            ("tier-min-pct", json!({"minAvailable": "60%", "selector": tier}), false),
            ("tier-max-int", json!({"maxUnavailable": 2, "selector": tier}), false),
            ("tier-min-int", json!({"minAvailable": 4, "selector": tier}), false),
            ("in-max-pct", json!({"maxUnavailable": "40%", "selector": set_in}), false),
            ("notin-min-int", json!({"minAvailable": 1, "selector": not_in}), false),
            ("empty-selector", json!({"minAvailable": 1, "selector": {}}), false),
        ],
    )
    .await;
    assert_eq!(get(&r, "tier-min-pct").expected_pods, 5);
    assert_eq!(get(&r, "empty-selector").expected_pods, 0, "an empty v1beta1 selector matches no pod");
    r
}

/// A pod held by a finalizer while being deleted: matched, but not healthy.
async fn deleting(plane: &ControlPlane) -> Vec<(String, PdbStatus)> {
    let client = plane.client();
    let ns = plane.unique_namespace("pdb-deleting").await;
    plane.apply_yaml_in(&ns, &format!("apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: del}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: del}}}}\n  template: {{metadata: {{labels: {{app: del}}, finalizers: [kgents.test/hold]}}, {POD_SPEC}}}\n")).await;
    let pods = support::kubelet::ready_pods(&client, &ns, "app=del", 3, Duration::from_secs(60)).await;
    let victim = pods[0].metadata.name.clone().unwrap();
    Api::<Pod>::namespaced(client.clone(), &ns).delete(&victim, &Default::default()).await.unwrap();
    let now = pods_now(&client, &ns, "app=del", 4).await;
    assert!(now.iter().any(|p| p.metadata.name.as_deref() == Some(&victim) && p.metadata.deletion_timestamp.is_some()));
    let r = compare_all(
        plane,
        &ns,
        &[
            ("min-int", json!({"minAvailable": 2, "selector": labels_sel("del")}), false),
            ("max-pct", json!({"maxUnavailable": "50%", "selector": labels_sel("del")}), false),
        ],
    )
    .await;
    assert_eq!((get(&r, "min-int").expected_pods, get(&r, "min-int").current_healthy), (4, 2));
    r
}

/// A naked pod beside a StatefulSet: fine for an integer minAvailable, a failed sync on 1.20
/// for the forms that need a scale.
async fn naked_mix(plane: &ControlPlane) -> Vec<(String, PdbStatus)> {
    let client = plane.client();
    let ns = plane.unique_namespace("pdb-nakedmix").await;
    plane.apply_yaml_in(&ns, &format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: nm}}\nspec:\n  serviceName: nm\n  podManagementPolicy: Parallel\n  replicas: 2\n  selector: {{matchLabels: {{app: nm}}}}\n  template: {{metadata: {{labels: {{app: nm}}}}, {POD_SPEC}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: nm-naked, labels: {{app: nm}}}}\n{POD_SPEC}\n")).await;
    support::kubelet::ready_pods(&client, &ns, "app=nm", 3, Duration::from_secs(60)).await;
    compare_all(
        plane,
        &ns,
        &[
            ("min-int", json!({"minAvailable": 2, "selector": labels_sel("nm")}), false),
            ("max-int", json!({"maxUnavailable": 1, "selector": labels_sel("nm")}), true),
            ("min-pct", json!({"minAvailable": "100%", "selector": labels_sel("nm")}), true),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_cases_agree_with_the_disruption_controller() {
    let plane = ControlPlane::shared();
    let (a, b, c, d, e) =
        futures::join!(ordered(plane), rolling(plane), mixed(plane), deleting(plane), naked_mix(plane));
    let total = a.len() + b.len() + c.len() + d.len() + e.len();
    assert_eq!(total, 19);
    eprintln!("{total} edge-case PDBs agree with the disruption controller");
}
