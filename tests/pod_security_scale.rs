//! The Pod Security check stays linear in the size of the cluster: each pod spec is judged once,
//! owners and namespaces are looked up, never found by scanning. Four times the objects must cost
//! about four times the time, far from sixteen.

use std::time::{Duration, Instant};

use kgents_gate::cluster::{ClusterView, Kind, KindData};
use kgents_gate::probe::pod_security::{PodSecurityParams, report_for};
use kgents_gate::probe::{ProbeKind, ProbeSpec};
use serde_json::{Value, json};

/// `namespaces` namespaces enforcing restricted, each with 20 restricted Deployments, their
/// ReplicaSets and 3 pods each (one pod of each with an injected sidecar that breaks restricted),
/// and a CronJob: what a large live cluster gives the check.
fn cluster(namespaces: usize) -> ClusterView {
    let mut by_kind: std::collections::BTreeMap<Kind, Vec<Value>> = std::collections::BTreeMap::new();
    let mut push = |k: Kind, v: Value| by_kind.entry(k).or_default().push(v);
    let container = |name: &str| {
        json!({"name": name, "image": "ghcr.io/x/app:1.0",
            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}})
    };
    let pod_spec = |containers: Vec<Value>| json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}, "containers": containers});
    for n in 0..namespaces {
        let ns = format!("ns-{n}");
        push(
            Kind::Namespace,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "v1.30"}}}),
        );
        let meta = |name: &str| json!({"name": name, "namespace": ns, "uid": format!("{ns}-{name}")});
        let owned = |name: &str, kind: &str, owner: &str| {
            let mut m = meta(name);
            m["ownerReferences"] =
                json!([{"apiVersion": "apps/v1", "kind": kind, "name": owner, "uid": "u", "controller": true}]);
            m
        };
        for d in 0..20 {
            let name = format!("app-{d}");
            let template = json!({"metadata": {"labels": {"app": name}}, "spec": pod_spec(vec![container("main")])});
            let spec = json!({"replicas": 3, "selector": {"matchLabels": {"app": name}}, "template": template});
            push(
                Kind::Deployment,
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(&name), "spec": spec}),
            );
            let rs = format!("{name}-5d8f");
            push(
                Kind::ReplicaSet,
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": owned(&rs, "Deployment", &name), "spec": spec}),
            );
            for p in 0..3 {
                let mut containers = vec![container("main")];
                if p == 0 {
                    containers.push(json!({"name": "proxy", "image": "proxy:1"}));
                }
                push(
                    Kind::Pod,
                    json!({"apiVersion": "v1", "kind": "Pod", "metadata": owned(&format!("{rs}-{p}"), "ReplicaSet", &rs), "spec": pod_spec(containers)}),
                );
            }
        }
        push(
            Kind::CronJob,
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("report"), "spec": {"schedule": "@daily",
                "jobTemplate": {"spec": {"template": {"spec": pod_spec(vec![container("report")])}}}}}),
        );
    }
    let mut view = ClusterView::new(false);
    for k in [
        Kind::Namespace,
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
        Kind::ReplicationController,
        Kind::Job,
        Kind::CronJob,
    ] {
        view.set(k, KindData::Objects(by_kind.remove(&k).unwrap_or_default()));
    }
    view
}

fn params() -> PodSecurityParams {
    let Ok(ProbeSpec::PodSecurity(p)) = ProbeSpec::parse(ProbeKind::PodSecurity, &toml::Table::new()) else {
        unreachable!()
    };
    p
}

/// The fastest of three runs on `view` (the least disturbed by a loaded machine).
fn time(view: &ClusterView, namespaces: usize) -> Duration {
    let p = params();
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let report = report_for(view, &p);
        best = best.min(t.elapsed());
        // Exactly the injected sidecars break restricted (allowPrivilegeEscalation and capabilities each); the templates are
        // reported nowhere, neither on the ReplicaSets nor on the pods.
        assert_eq!(report.findings().len(), namespaces * 20 * 2, "{:#?}", &report.findings()[..1]);
        assert!(report.findings().iter().all(|f| f.target.as_deref().unwrap_or("").ends_with("-0")));
        assert!(report.gaps().is_empty(), "{:?}", report.gaps());
    }
    best
}

#[test]
fn four_times_the_cluster_costs_about_four_times_the_time() {
    let (small, large) = (cluster(15), cluster(60));
    let (a, b) = (time(&small, 15), time(&large, 60));
    let ratio = b.as_secs_f64() / a.as_secs_f64();
    eprintln!("pod security: 1,515 pod specs in {a:?}, 6,060 in {b:?} (ratio {ratio:.1})");
    // Linear is 4; a scan of every object per object would be 16.
    assert!(ratio < 9.0, "1,515 pod specs: {a:?}, 6,060: {b:?}, ratio {ratio:.1}");
}
