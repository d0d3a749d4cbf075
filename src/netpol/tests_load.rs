//! Unit tests of loading: namespaces and their name label, lists, workload templates standing in
//! for pods, and the objects that are ignored.

use super::tests::world;
use super::*;

#[test]
fn every_namespace_gets_its_name_label_and_undeclared_ones_exist() {
    let w = world(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: blue}}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: b}
---
apiVersion: v1
kind: Pod
metadata: {name: q}
"#,
    );
    let a = w.namespace("a").unwrap();
    assert_eq!(a.labels.get("team").map(String::as_str), Some("blue"));
    assert_eq!(a.labels.get(NAMESPACE_NAME_LABEL).map(String::as_str), Some("a"));
    let b = w.namespace("b").unwrap();
    assert_eq!(b.labels.len(), 1);
    assert_eq!(b.labels.get(NAMESPACE_NAME_LABEL).map(String::as_str), Some("b"));
    assert!(w.pod("default", "q").is_some(), "no namespace means default");
}

#[test]
fn lists_are_expanded_and_items_without_kind_take_the_list_kind() {
    let w = world(
        r#"
apiVersion: v1
kind: PodList
items:
- metadata: {name: p1, namespace: a, labels: {app: x}}
  spec: {containers: [{ports: []}]}
  status: {podIPs: [{ip: 10.0.0.1}, {ip: "fd00::1"}], podIP: 10.0.0.1}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: p2, namespace: a}
"#,
    );
    let p1 = w.pod("a", "p1").unwrap();
    assert_eq!(p1.ips.len(), 2, "{:?}", p1.ips);
    assert!(w.pod("a", "p2").is_some());
}

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: a}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 80}]}]
      initContainers: [{name: proxy, image: envoy, restartPolicy: Always, ports: [{name: admin, containerPort: 9901}]}]
"#;

#[test]
fn workload_templates_stand_in_for_missing_pods() {
    let w = world(DEPLOY);
    let p = w.pod("a", "web").unwrap();
    assert!(p.from_template);
    assert_eq!(p.owner, Some(Owner { kind: "Deployment".into(), name: "web".into() }));
    assert_eq!(p.named_port("http", Protocol::Tcp), Some(80));
    assert_eq!(p.named_port("admin", Protocol::Tcp), Some(9901), "sidecar init containers count");
    // Once a real pod of the workload exists, the template steps aside.
    let w = world(&format!(
        "{DEPLOY}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web-5d9c-abcde, namespace: a, labels: {{app: web}}}}"
    ));
    assert!(w.pod("a", "web").is_none());
    assert_eq!(w.pods().len(), 1);
}

#[test]
fn replica_sets_and_jobs_defer_to_their_controller() {
    let w = world(&format!(
        r#"{DEPLOY}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d9c
  namespace: a
  ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}}]
spec:
  selector: {{matchLabels: {{app: web}}}}
  template: {{metadata: {{labels: {{app: web}}}}, spec: {{containers: [{{name: web, image: nginx}}]}}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: backup, namespace: a}}
spec:
  schedule: "0 * * * *"
  jobTemplate: {{spec: {{template: {{metadata: {{labels: {{job: backup}}}}, spec: {{containers: [{{name: b, image: x}}], restartPolicy: Never}}}}}}}}
"#
    ));
    let names: Vec<&str> = w.pods().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["web", "backup"]);
    assert_eq!(w.pod("a", "backup").unwrap().labels.get("job").map(String::as_str), Some("backup"));
}

#[test]
fn irrelevant_kinds_and_other_network_policy_apis_are_ignored() {
    let w = world(
        r#"
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: calico, namespace: a}
spec: {selector: all()}
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: a}
---
replicaCount: 3
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: real, namespace: a}
spec: {podSelector: {}}
"#,
    );
    assert_eq!(w.policies().len(), 1);
    assert_eq!(w.policies()[0].id.to_string(), "a/real");
}

#[test]
fn invalid_objects_are_errors_that_name_the_object() {
    let bad_policy = serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "a"},
        "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "nonsense"}}]}]}
    });
    let e = NetpolWorld::from_objects([bad_policy]).unwrap_err();
    assert!(e.contains("NetworkPolicy a/p") && e.contains("nonsense"), "{e}");
    let bad_pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
        "status": {"podIP": "10.0.0.300"}
    });
    let e = NetpolWorld::from_objects([bad_pod]).unwrap_err();
    assert!(e.contains("Pod a/p"), "{e}");
    let good = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}});
    assert!(NetpolWorld::from_objects([good]).is_ok());
}

#[test]
fn typed_objects_build_the_same_world() {
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": "a"}})).unwrap();
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "namespace": "a", "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 80}]}]},
        "status": {"podIP": "10.0.0.1"}
    }))
    .unwrap();
    let np: NetworkPolicy = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "deny", "namespace": "a"}, "spec": {"podSelector": {}}
    }))
    .unwrap();
    let w = NetpolWorld::from_typed(&[ns], &[pod], &[np]).unwrap();
    let p = w.pod("a", "p").unwrap();
    assert_eq!(p.ips, vec!["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
    let v = evaluate(&w, &"external:1.2.3.4".parse().unwrap(), &p.endpoint(), &PortSpec::Number(80), Protocol::Tcp);
    assert!(!v.unwrap().allowed);
}
