//! Unit tests of the evaluator: one small cluster in YAML per semantic rule, with a case where
//! the rule decides and one where it does not.

use super::*;

pub(super) fn world(yaml: &str) -> NetpolWorld {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).unwrap();
    NetpolWorld::from_objects(docs.iter().filter(|d| !d.is_null())).unwrap()
}

fn ep(s: &str) -> Endpoint {
    s.parse().unwrap()
}

fn check(w: &NetpolWorld, from: &str, to: &str, port: &str, proto: Protocol) -> Verdict {
    evaluate(w, &ep(from), &ep(to), &port.parse().unwrap(), proto).unwrap()
}

fn allowed(w: &NetpolWorld, from: &str, to: &str, port: u16) -> bool {
    check(w, from, to, &port.to_string(), Protocol::Tcp).allowed
}

const PODS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: blue}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {team: green}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: a, labels: {app: web, tier: front}}
spec:
  containers:
  - name: web
    ports:
    - {name: http, containerPort: 8080}
    - {name: dns, containerPort: 53, protocol: UDP}
status: {podIP: 10.0.0.10}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: a, labels: {app: client}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.0.11}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: b, labels: {app: client}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: b, labels: {app: other}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.1.12}
"#;

fn with(policies: &str) -> NetpolWorld {
    world(&format!("{PODS}\n---\n{policies}"))
}

#[test]
fn no_policy_allows_everything_and_isolates_nothing() {
    let w = world(PODS);
    let v = check(&w, "b/other", "a/web", "8080", Protocol::Tcp);
    assert!(v.allowed && !v.egress.isolated && !v.ingress.isolated);
    assert!(v.egress.policies.is_empty() && v.ingress.policies.is_empty());
}

#[test]
fn verdict_json_is_the_stable_contract() {
    let w = with(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: a}\nspec: {podSelector: {}}",
    );
    let v = check(&w, "b/other", "a/web", "8080", Protocol::Tcp);
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({
            "allowed": false,
            "egress": {"allowed": true, "isolated": false, "policies": []},
            "ingress": {"allowed": false, "isolated": true, "policies": ["a/deny"]}
        })
    );
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"allowed":false,"egress":{"allowed":true,"isolated":false,"policies":[]},"ingress":{"allowed":false,"isolated":true,"policies":["a/deny"]}}"#
    );
}

#[test]
fn isolation_needs_a_selecting_policy_of_that_type() {
    // `egress: []` without policyTypes isolates ingress only (API defaulting).
    let w = with(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec: {podSelector: {matchLabels: {app: web}}, egress: []}",
    );
    let v = check(&w, "a/web", "b/other", "80", Protocol::Tcp);
    assert!(v.allowed && !v.egress.isolated);
    assert!(!allowed(&w, "b/other", "a/web", 8080));
    assert!(allowed(&w, "b/other", "a/client", 8080), "a pod the policy does not select stays open");
    // With policyTypes [Egress] the same policy isolates egress and leaves ingress open.
    let w = with(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], egress: [], ingress: []}",
    );
    let v = check(&w, "a/web", "b/other", "80", Protocol::Tcp);
    assert!(!v.allowed && v.egress.isolated && v.egress.policies == ["a/p"]);
    assert!(allowed(&w, "b/other", "a/web", 8080));
}

#[test]
fn policies_are_additive_and_the_allowing_ones_decide() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: a}
spec: {podSelector: {}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]
"#,
    );
    let v = check(&w, "a/client", "a/web", "8080", Protocol::Tcp);
    assert!(v.allowed && v.ingress.policies == ["a/allow-client"]);
    let v = check(&w, "b/other", "a/web", "8080", Protocol::Tcp);
    assert!(!v.allowed && v.ingress.policies == ["a/deny-all", "a/allow-client"]);
}

#[test]
fn both_source_egress_and_destination_ingress_must_allow() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: b}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {team: green}}}]}]
"#,
    );
    let v = check(&w, "b/client", "a/web", "8080", Protocol::Tcp);
    assert!(!v.allowed && !v.egress.allowed && v.ingress.allowed);
    assert!(allowed(&w, "b/client", "b/other", 1));
}

#[test]
fn pod_selector_namespace_selector_and_both() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
  - from:
    - namespaceSelector: {matchLabels: {team: green}}
      podSelector: {matchLabels: {app: other}}
"#,
    );
    assert!(allowed(&w, "a/client", "a/web", 8080), "podSelector alone: policy namespace");
    assert!(!allowed(&w, "b/client", "a/web", 8080), "podSelector alone never leaves the namespace");
    assert!(allowed(&w, "b/other", "a/web", 8080), "namespaceSelector AND podSelector");
    let w2 = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: b}}}]}]
"#,
    );
    assert!(allowed(&w2, "b/client", "a/web", 8080), "namespaceSelector alone: every pod there");
    assert!(!allowed(&w2, "a/client", "a/web", 8080));
}

#[test]
fn match_expressions_select_pods() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: b}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [other]}]}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [green]}]}
      podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}
"#,
    );
    assert!(allowed(&w, "a/client", "b/other", 1));
    assert!(!allowed(&w, "a/web", "b/other", 1), "web has a tier label");
    assert!(!allowed(&w, "b/client", "b/other", 1), "namespace b has team=green");
    assert!(allowed(&w, "a/web", "b/client", 1), "b/client is not selected");
}

#[test]
fn empty_selectors_and_missing_lists_mean_everything() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}, {}]
"#,
    );
    // The second rule `{}` allows everything from everywhere.
    assert!(allowed(&w, "external:1.2.3.4", "a/web", 9999));
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 8080}]}]
"#,
    );
    assert!(allowed(&w, "b/other", "a/web", 8080), "empty namespaceSelector: all namespaces");
    assert!(!allowed(&w, "b/other", "a/web", 9999));
    assert!(!allowed(&w, "external:1.2.3.4", "a/web", 8080), "namespaceSelector never matches outside");
}

#[test]
fn ipblock_with_except_matches_external_and_pod_addresses() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.1.0/24]}}]}]
"#,
    );
    assert!(allowed(&w, "external:10.0.200.1", "a/web", 8080));
    assert!(!allowed(&w, "external:10.0.1.5", "a/web", 8080), "except");
    assert!(!allowed(&w, "external:192.168.0.1", "a/web", 8080));
    assert!(allowed(&w, "a/client", "a/web", 8080), "pod IP 10.0.0.11 is in the block");
    assert!(!allowed(&w, "b/client", "a/web", 8080), "pod IP 10.0.1.11 is excepted");
    let external_only = w.with_ipblock_scope(IpBlockScope::ExternalOnly);
    assert!(!allowed(&external_only, "a/client", "a/web", 8080));
    assert!(allowed(&external_only, "external:10.0.200.1", "a/web", 8080));
}

#[test]
fn named_ports_resolve_on_the_destination_pod() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: in, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: http}, {port: dns, protocol: UDP}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: b}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{ports: [{port: http}]}]
"#,
    );
    assert!(allowed(&w, "a/client", "a/web", 8080));
    assert!(!allowed(&w, "a/client", "a/web", 80));
    assert!(check(&w, "a/client", "a/web", "dns", Protocol::Udp).allowed);
    assert!(!check(&w, "a/client", "a/web", "53", Protocol::Tcp).allowed, "dns is a UDP port");
    // Egress named port: resolved on the destination (web has http=8080; other has none).
    assert!(allowed(&w, "b/client", "a/web", 8080));
    assert!(!allowed(&w, "b/client", "b/other", 8080));
    assert!(!allowed(&w, "b/client", "external:8.8.8.8", 8080), "no named ports outside");
    let e = evaluate(&w, &ep("a/client"), &ep("a/web"), &PortSpec::Name("nope".into()), Protocol::Tcp);
    assert!(matches!(e, Err(EvalError::UnresolvedPortName { .. })));
}

#[test]
fn end_port_and_protocols() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: 8000, endPort: 8100}, {protocol: SCTP}]}]
"#,
    );
    assert!(allowed(&w, "a/client", "a/web", 8000) && allowed(&w, "a/client", "a/web", 8100));
    assert!(!allowed(&w, "a/client", "a/web", 8101));
    assert!(!check(&w, "a/client", "a/web", "8050", Protocol::Udp).allowed, "TCP is the default");
    assert!(check(&w, "a/client", "a/web", "9", Protocol::Sctp).allowed, "protocol without port");
    let c = allowed_connections(&w, &ep("a/client"), &ep("a/web")).unwrap();
    assert_eq!(c.to_string(), "SCTP 1-65535,TCP 8000-8100");
}

#[test]
fn external_endpoints_meet_only_the_pod_side() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"#,
    );
    let v = check(&w, "external:1.1.1.1", "a/web", "8080", Protocol::Tcp);
    assert!(!v.allowed && v.egress.allowed && !v.egress.isolated && !v.ingress.allowed);
    let v = check(&w, "a/web", "external:1.1.1.1", "443", Protocol::Tcp);
    assert!(!v.allowed && !v.egress.allowed && v.ingress.allowed && !v.ingress.isolated);
    assert!(allowed(&w, "external:1.1.1.1", "b/other", 1));
    assert!(allowed(&w, "b/other", "external:1.1.1.1", 1));
}

#[test]
fn a_pod_talking_to_itself_follows_the_same_rules() {
    let w = with(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec: {podSelector: {matchLabels: {app: web}}}",
    );
    assert!(!allowed(&w, "a/web", "a/web", 8080));
    assert!(allowed(&w, "a/client", "a/client", 8080));
}

#[test]
fn unknown_endpoints_are_errors_not_panics() {
    let w = world(PODS);
    let e = evaluate(&w, &ep("a/ghost"), &ep("a/web"), &PortSpec::Number(80), Protocol::Tcp);
    assert_eq!(e, Err(EvalError::UnknownPod("a/ghost".into())));
    assert!("nope".parse::<Endpoint>().is_err());
    assert!("external:999.1.1.1".parse::<Endpoint>().is_err());
    assert!("0".parse::<PortSpec>().is_err() && "70000".parse::<PortSpec>().is_err());
}

#[test]
fn selector_matching_no_pod_is_reported() {
    // kustomize commonLabels added `env: prod` to the podSelector: the policy selects nothing.
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ingress, namespace: a}
spec: {podSelector: {matchLabels: {app: web, env: prod}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ok, namespace: a}
spec: {podSelector: {matchLabels: {app: web}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: empty}
spec: {podSelector: {}}
"#,
    );
    let found = policies_selecting_nothing(&w);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].policy.to_string(), "a/web-ingress");
    assert_eq!(found[0].selector, "app=web,env=prod");
}

#[test]
fn ipblocks_covering_pod_ips_are_reported() {
    let w = with(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 10.0.1.0/24}}, {ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]}]
"#,
    );
    let found = ipblocks_matching_pods(&w);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].ip_block, "10.0.1.0/24");
    assert_eq!(found[0].pods, ["b/client", "b/other"]);
    assert_eq!(found[0].direction, Direction::Ingress);
}
