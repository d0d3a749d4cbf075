//! Turns a `networking.k8s.io/v1` NetworkPolicy into a `Policy`: API defaulting of
//! `policyTypes` and protocols, and the validation the API server would apply.

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::model::{Peer, Policy, PolicyId, PortMatch, PortRule, Protocol, Rule};
use super::peers::IpBlock;
use crate::selector::Selector;

/// Compiles one policy; the error names the policy and the offending field.
pub fn compile_policy(np: &NetworkPolicy) -> Result<Policy, String> {
    let name = np.metadata.name.clone().unwrap_or_default();
    let namespace = np.metadata.namespace.clone().unwrap_or_else(|| "default".to_string());
    let id = PolicyId { namespace, name };
    compile_inner(np, id.clone()).map_err(|e| format!("NetworkPolicy {id}: {e}"))
}

fn compile_inner(np: &NetworkPolicy, id: PolicyId) -> Result<Policy, String> {
    if id.name.is_empty() {
        return Err("metadata.name is missing".into());
    }
    let spec = np.spec.clone().unwrap_or_default();
    let pod_selector = match &spec.pod_selector {
        Some(s) => Selector::from_k8s(s).map_err(|e| format!("spec.podSelector: {e}"))?,
        None => Selector::everything(),
    };
    let ingress_rules = spec.ingress.unwrap_or_default();
    let egress_rules = spec.egress.unwrap_or_default();

    // API defaulting: no policyTypes means Ingress, plus Egress when there are egress rules.
    let types = spec.policy_types.unwrap_or_default();
    let (isolates_ingress, isolates_egress) = if types.is_empty() {
        (true, !egress_rules.is_empty())
    } else {
        for t in &types {
            if t != "Ingress" && t != "Egress" {
                return Err(format!("spec.policyTypes: unknown type {t:?} (expected Ingress or Egress)"));
            }
        }
        (types.iter().any(|t| t == "Ingress"), types.iter().any(|t| t == "Egress"))
    };

    let mut ingress = Vec::new();
    for (i, r) in ingress_rules.iter().enumerate() {
        let at = format!("spec.ingress[{i}]");
        ingress.push(compile_rule(r.from.as_deref(), r.ports.as_deref(), &at, "from")?);
    }
    let mut egress = Vec::new();
    for (i, r) in egress_rules.iter().enumerate() {
        let at = format!("spec.egress[{i}]");
        egress.push(compile_rule(r.to.as_deref(), r.ports.as_deref(), &at, "to")?);
    }
    Ok(Policy { id, pod_selector, isolates_ingress, isolates_egress, ingress, egress })
}

fn compile_rule(
    peers: Option<&[NetworkPolicyPeer]>,
    ports: Option<&[NetworkPolicyPort]>,
    at: &str,
    peer_field: &str,
) -> Result<Rule, String> {
    let mut rule = Rule::default();
    for (j, p) in peers.unwrap_or_default().iter().enumerate() {
        rule.peers.push(compile_peer(p).map_err(|e| format!("{at}.{peer_field}[{j}]: {e}"))?);
    }
    for (j, p) in ports.unwrap_or_default().iter().enumerate() {
        rule.ports.push(compile_port(p).map_err(|e| format!("{at}.ports[{j}]: {e}"))?);
    }
    Ok(rule)
}

fn compile_peer(p: &NetworkPolicyPeer) -> Result<Peer, String> {
    match (&p.ip_block, &p.namespace_selector, &p.pod_selector) {
        (Some(b), None, None) => IpBlock::parse(&b.cidr, b.except.as_deref().unwrap_or_default()).map(Peer::IpBlock),
        (Some(_), _, _) => Err("ipBlock cannot be combined with podSelector or namespaceSelector".into()),
        (None, None, None) => Err("a peer needs podSelector, namespaceSelector or ipBlock".into()),
        (None, ns, pod) => {
            let namespace_selector =
                ns.as_ref().map(Selector::from_k8s).transpose().map_err(|e| format!("namespaceSelector: {e}"))?;
            let pod_selector =
                pod.as_ref().map(Selector::from_k8s).transpose().map_err(|e| format!("podSelector: {e}"))?;
            Ok(Peer::Pods { namespace_selector, pod_selector })
        }
    }
}

fn valid_port(n: i32, field: &str) -> Result<u16, String> {
    u16::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| format!("{field} {n} is out of range 1-65535"))
}

fn compile_port(p: &NetworkPolicyPort) -> Result<PortRule, String> {
    let protocol = Protocol::parse_or_tcp(p.protocol.as_deref())?;
    let port = match (&p.port, p.end_port) {
        (None, None) => PortMatch::Any,
        (None, Some(_)) => return Err("endPort needs port".into()),
        (Some(IntOrString::Int(n)), end) => {
            let lo = valid_port(*n, "port")?;
            let hi = match end {
                Some(e) => valid_port(e, "endPort")?,
                None => lo,
            };
            if hi < lo {
                return Err(format!("endPort {hi} is below port {lo}"));
            }
            PortMatch::Range(lo, hi)
        }
        (Some(IntOrString::String(_)), Some(_)) => {
            return Err("endPort cannot be used with a named port".into());
        }
        (Some(IntOrString::String(name)), None) => {
            if name.is_empty() {
                return Err("port name is empty".into());
            }
            PortMatch::Named(name.clone())
        }
    };
    Ok(PortRule { protocol, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(spec: serde_json::Value) -> Result<Policy, String> {
        let np: NetworkPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "a"}, "spec": spec
        }))
        .unwrap();
        compile_policy(&np)
    }

    #[test]
    fn policy_types_default_to_ingress_plus_egress_when_egress_rules_exist() {
        let p = policy(serde_json::json!({"podSelector": {}})).unwrap();
        assert!(p.isolates_ingress && !p.isolates_egress);
        let p = policy(serde_json::json!({"podSelector": {}, "egress": [{}]})).unwrap();
        assert!(p.isolates_ingress && p.isolates_egress);
        // `egress: []` is no egress rule at all: the default leaves egress alone.
        let p = policy(serde_json::json!({"podSelector": {}, "egress": []})).unwrap();
        assert!(p.isolates_ingress && !p.isolates_egress);
        let p = policy(serde_json::json!({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]})).unwrap();
        assert!(!p.isolates_ingress && p.isolates_egress);
        assert!(policy(serde_json::json!({"podSelector": {}, "policyTypes": ["Sideways"]})).is_err());
    }

    #[test]
    fn missing_and_empty_lists_keep_their_meaning() {
        let p = policy(serde_json::json!({"podSelector": {}, "ingress": [{}], "egress": [{"to": [], "ports": []}]}))
            .unwrap();
        assert_eq!(p.ingress, vec![Rule::default()]);
        assert_eq!(p.egress, vec![Rule::default()]);
        let p = policy(serde_json::json!({"podSelector": {}, "ingress": []})).unwrap();
        assert!(p.ingress.is_empty());
    }

    #[test]
    fn ports_default_to_tcp_and_validate_ranges() {
        let p = policy(serde_json::json!({"podSelector": {}, "ingress": [{"ports": [
            {"port": 80}, {"port": "http", "protocol": "UDP"}, {"protocol": "SCTP"},
            {"port": 8000, "endPort": 8080}
        ]}]}))
        .unwrap();
        let ports = &p.ingress[0].ports;
        assert_eq!(ports[0], PortRule { protocol: Protocol::Tcp, port: PortMatch::Range(80, 80) });
        assert_eq!(ports[1], PortRule { protocol: Protocol::Udp, port: PortMatch::Named("http".into()) });
        assert_eq!(ports[2], PortRule { protocol: Protocol::Sctp, port: PortMatch::Any });
        assert_eq!(ports[3], PortRule { protocol: Protocol::Tcp, port: PortMatch::Range(8000, 8080) });
        for bad in [
            serde_json::json!({"port": 0}),
            serde_json::json!({"port": 70000}),
            serde_json::json!({"port": 90, "endPort": 80}),
            serde_json::json!({"port": "http", "endPort": 80}),
            serde_json::json!({"endPort": 80}),
            serde_json::json!({"port": 80, "protocol": "ICMP"}),
        ] {
            let e = policy(serde_json::json!({"podSelector": {}, "ingress": [{"ports": [bad.clone()]}]}));
            assert!(e.is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn peers_are_validated_like_the_api_server() {
        let e = policy(serde_json::json!({"podSelector": {}, "ingress": [{"from": [{}]}]})).unwrap_err();
        assert!(e.contains("NetworkPolicy a/p: spec.ingress[0].from[0]"), "{e}");
        let e = policy(serde_json::json!({"podSelector": {}, "egress": [{"to": [
            {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}
        ]}]}));
        assert!(e.is_err());
        let p = policy(serde_json::json!({"podSelector": {}, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"team": "x"}}, "podSelector": {"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["a", "b"]}
            ]}}
        ]}]}))
        .unwrap();
        assert!(matches!(&p.ingress[0].peers[0], Peer::Pods { namespace_selector: Some(_), pod_selector: Some(_) }));
    }
}
