//! The static part of `netpol-isolation`: the evaluator's verdict for every source against every
//! destination pod, plus the policy traps (selectors matching nothing, ipBlocks over pod IPs).

use std::collections::BTreeMap;

use super::params::{IsolationParams, Source};
use crate::netpol::{
    Endpoint, EvalError, NetpolWorld, PodInfo, Verdict, evaluate, ipblocks_matching_pods, policies_selecting_nothing,
};
use crate::outcome::{Finding, ProbeReport, Unverified};
use crate::selector::Selector;

/// Name of the pod standing for a source namespace (or selector) that has no pod.
pub const SYNTHETIC_POD: &str = "(no pod: synthetic)";

/// What the static analysis established, for the live part to build on.
pub struct StaticOutcome {
    pub report: ProbeReport,
    /// The world as loaded (without synthetic pods).
    pub world: NetpolWorld,
    /// The destination pods; empty when the selector matches none.
    pub destinations: Vec<PodInfo>,
}

/// `app=x,b=y` for messages.
pub fn labels_str(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "(any labels)".into();
    }
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// The policies that decide a verdict: the denying direction's isolating policies, or the
/// allowing policies of each isolated direction.
pub fn deciding_policies(v: &Verdict) -> Vec<String> {
    let mut out = Vec::new();
    for d in [&v.egress, &v.ingress] {
        if d.isolated && d.allowed == v.allowed {
            out.extend(d.policies.iter().cloned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// One line on why a verdict is what it is.
pub fn explain(v: &Verdict) -> String {
    let part = |name: &str, d: &crate::netpol::DirectionVerdict| match (d.isolated, d.allowed) {
        (false, _) => format!("{name} not isolated"),
        (true, true) => format!("{name} allowed by {}", d.policies.join(", ")),
        (true, false) => format!("{name} denied (isolated by {})", d.policies.join(", ")),
    };
    format!("{}; {}", part("egress", &v.egress), part("ingress", &v.ingress))
}

/// A pod with `labels` in `namespace` that the objects do not hold.
pub fn synthetic_pod(namespace: &str, name: &str, labels: BTreeMap<String, String>) -> PodInfo {
    PodInfo {
        namespace: namespace.to_string(),
        name: name.to_string(),
        labels,
        ips: vec![],
        ports: vec![],
        owner: None,
        from_template: true,
    }
}

/// The endpoints standing for a source; adds a synthetic pod to `world` when it has no pod.
/// The bool says a synthetic pod was used.
fn source_endpoints(world: &mut NetpolWorld, source: &Source) -> (Vec<Endpoint>, bool) {
    match source {
        Source::External(ip) => (vec![Endpoint::External(*ip)], false),
        Source::Pods { namespace, selector } => {
            let sel = Selector::from_labels(selector);
            let eps: Vec<Endpoint> = world
                .pods()
                .iter()
                .filter(|p| &p.namespace == namespace && sel.matches(&p.labels))
                .map(PodInfo::endpoint)
                .collect();
            if !eps.is_empty() {
                return (eps, false);
            }
            let pod = synthetic_pod(namespace, SYNTHETIC_POD, selector.clone());
            let ep = pod.endpoint();
            world.add_pod(pod);
            (vec![ep], true)
        }
    }
}

pub fn destination_text(p: &IsolationParams) -> String {
    format!("pods {} in {} on {}/{}", labels_str(&p.selector), p.namespace, p.protocol, port_text(p))
}

pub fn port_text(p: &IsolationParams) -> String {
    match &p.port {
        crate::netpol::PortSpec::Number(n) => n.to_string(),
        crate::netpol::PortSpec::Name(s) => s.clone(),
    }
}

/// Runs the static analysis. Err: the check cannot be evaluated (e.g. a port name that does not
/// resolve on a destination pod).
pub fn analyze(p: &IsolationParams, world: NetpolWorld) -> Result<StaticOutcome, Box<ProbeReport>> {
    let mut report = ProbeReport::default();
    let involved = p.namespaces();
    for u in policies_selecting_nothing(&world).into_iter().filter(|u| involved.contains(&u.policy.namespace)) {
        report.push(
            Finding::error(
                "netpol-selects-nothing",
                format!(
                    "NetworkPolicy {} selects no pod: no pod in {} has the labels {} (labels added to the \
                     selector but not to the pods, e.g. by kustomize commonLabels?)",
                    u.policy, u.policy.namespace, u.selector
                ),
            )
            .target(u.policy.to_string())
            .fact("podSelector", &u.selector),
        );
    }
    for o in ipblocks_matching_pods(&world).into_iter().filter(|o| involved.contains(&o.policy.namespace)) {
        report.push(
            Finding::warning(
                "netpol-ipblock-matches-pods",
                format!(
                    "NetworkPolicy {} {} rule {} uses ipBlock {} which covers pod IPs ({}): network plugins \
                     differ on whether ipBlocks apply to pod traffic",
                    o.policy,
                    o.direction,
                    o.rule,
                    o.ip_block,
                    o.pods.join(", ")
                ),
            )
            .target(o.policy.to_string())
            .fact("ipBlock", &o.ip_block),
        );
    }
    let dest_sel = Selector::from_labels(&p.selector);
    let destinations: Vec<PodInfo> =
        world.pods().iter().filter(|q| q.namespace == p.namespace && dest_sel.matches(&q.labels)).cloned().collect();
    report.fact("destination", destination_text(p));
    if destinations.is_empty() {
        report.push(
            Finding::error(
                "netpol-no-destination",
                format!(
                    "no pod (nor workload template) in {} has the labels {}: nothing to evaluate isolation for",
                    p.namespace,
                    labels_str(&p.selector)
                ),
            )
            .target(format!("{}/{}", p.namespace, labels_str(&p.selector))),
        );
        return Ok(StaticOutcome { report, world, destinations });
    }
    report.fact("destination pods", destinations.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", "));

    let mut eval_world = world.clone();
    let sources = p.allow_from.iter().map(|s| (s, true)).chain(p.deny_from.iter().map(|s| (s, false)));
    for (source, should_reach) in sources {
        let (eps, synthetic) = source_endpoints(&mut eval_world, source);
        if synthetic {
            report.fact(
                format!("source {source}"),
                "no pod matches in the namespace: evaluated as a pod with only the source's labels (none for a bare namespace)",
            );
        }
        let mut wrong: Vec<(String, Verdict)> = Vec::new();
        let mut total = 0;
        for ep in &eps {
            for d in &destinations {
                total += 1;
                let v = match evaluate(&eval_world, ep, &d.endpoint(), &p.port, p.protocol) {
                    Ok(v) => v,
                    Err(e @ EvalError::UnresolvedPortName { .. }) => {
                        report.gap(Unverified::new("port-unresolved", e.to_string()));
                        return Err(Box::new(report));
                    }
                    Err(e) => return Err(Box::new(ProbeReport::unverified("evaluation-failed", e.to_string()))),
                };
                if v.allowed != should_reach {
                    wrong.push((format!("{ep} -> {}", d.endpoint()), v));
                }
            }
        }
        let expected = if should_reach { "allowed" } else { "denied" };
        report.fact(
            format!("static {source}"),
            format!("{} of {total} connection(s) {expected} as required", total - wrong.len()),
        );
        if wrong.is_empty() {
            continue;
        }
        let mut policies: Vec<String> = wrong.iter().flat_map(|(_, v)| deciding_policies(v)).collect();
        policies.sort();
        policies.dedup();
        let deciders = if policies.is_empty() { "no policy isolates them".to_string() } else { policies.join(", ") };
        let (code, message) = if should_reach {
            (
                "isolation-denied-from-allowed-source",
                format!(
                    "{} is denied from {source}, which must reach it ({} of {total} connection(s); deciding: {deciders})",
                    destination_text(p),
                    wrong.len()
                ),
            )
        } else {
            (
                "isolation-allowed-from-denied-source",
                format!(
                    "{} is reachable from {source}, which must not reach it ({} of {total} connection(s); deciding: {deciders})",
                    destination_text(p),
                    wrong.len()
                ),
            )
        };
        let mut f = Finding::error(code, message).target(format!("{}/{}", p.namespace, labels_str(&p.selector)));
        f = f.fact("deciding policies", &deciders);
        for (pair, v) in wrong.iter().take(10) {
            f = f.fact(pair, explain(v));
        }
        report.push(f);
    }
    Ok(StaticOutcome { report, world, destinations })
}
