//! Judging the live part: what each probe pod saw against the static verdict, counted only when
//! it proves itself (a "blocked" needs the positive control in the same pod to have connected;
//! a tool error is never a verdict), and the canary's word on enforcement.

use std::collections::BTreeMap;

use super::params::{IsolationParams, Source};
use super::pods::{ROLE_LABEL, TARGET_PORT};
use super::scratch::CONTROL_TARGET;
use super::script::Seen;
use super::session::{Canary, Targets};
use super::verdicts::{deciding_policies, labels_str, synthetic_pod};
use crate::netpol::{NetpolWorld, PodInfo, PortSpec, Protocol, evaluate};
use crate::outcome::{Finding, ProbeReport};

/// A source the live part probes: its namespace and the labels its probe pod carries.
pub struct LiveSource<'a> {
    pub source: &'a Source,
    pub should_reach: bool,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

/// What one source's probe pod saw.
#[derive(Debug, Clone)]
pub struct Observed {
    pub target: Seen,
    /// What the control container saw, or why there was no control.
    pub control: Result<Seen, String>,
    pub pod: Option<String>,
}

impl Observed {
    pub fn not_run(why: String) -> Self {
        Observed { target: Seen::NotRun(why), control: Err("no probe pod".into()), pod: None }
    }
}

/// The static verdict for a probe pod of `s` against the compared destinations: Some(allowed)
/// when they all agree, with the deciding policies.
fn static_for_probe(
    world: &NetpolWorld,
    p: &IsolationParams,
    s: &LiveSource<'_>,
    compared: &[&PodInfo],
) -> (Option<bool>, Vec<String>) {
    let mut w = world.clone();
    let pod = synthetic_pod(&s.namespace, "kgents-gate-probe", s.labels.clone());
    let ep = pod.endpoint();
    w.add_pod(pod);
    let mut verdicts = Vec::new();
    let mut policies = Vec::new();
    for d in compared {
        if let Ok(v) = evaluate(&w, &ep, &d.endpoint(), &p.port, p.protocol) {
            policies.extend(deciding_policies(&v));
            verdicts.push(v.allowed);
        }
    }
    policies.sort();
    policies.dedup();
    let agreed = match verdicts.first() {
        Some(first) if verdicts.iter().all(|v| v == first) => Some(*first),
        _ => None,
    };
    (agreed, policies)
}

/// The source's policies that deny it the control target, when the static evaluator says so
/// (e.g. an egress allow-list): then no positive control can pass from there.
fn control_denied_by(world: &NetpolWorld, s: &LiveSource<'_>, scratch: &str) -> Option<Vec<String>> {
    if scratch.is_empty() {
        return None;
    }
    let mut w = world.clone();
    let probe = synthetic_pod(&s.namespace, "kgents-gate-probe", s.labels.clone());
    let labels = BTreeMap::from([(ROLE_LABEL.to_string(), CONTROL_TARGET.to_string())]);
    let control = synthetic_pod(scratch, CONTROL_TARGET, labels);
    let (from, to) = (probe.endpoint(), control.endpoint());
    w.add_pod(probe);
    w.add_pod(control);
    let v = evaluate(&w, &from, &to, &PortSpec::Number(TARGET_PORT), Protocol::Tcp).ok()?;
    (!v.allowed).then(|| deciding_policies(&v))
}

/// Adds the live verdicts, the disagreements with the static ones and the canary to `report`.
#[allow(clippy::too_many_arguments)]
pub fn judge(
    p: &IsolationParams,
    world: &NetpolWorld,
    sources: &[LiveSource<'_>],
    compared: &[&PodInfo],
    targets: &Targets,
    canary: Option<Canary>,
    observed: Vec<Observed>,
    report: &mut ProbeReport,
) {
    let not_enforced = matches!(canary, Some(Canary::NotEnforced(_)));
    let (mut tool_errors, mut no_control, mut not_run) = (Vec::new(), Vec::new(), Vec::new());
    for (s, o) in sources.iter().zip(observed) {
        let fact = format!("live {}", s.source);
        let reached = match &o.target {
            Seen::Reachable => true,
            t @ (Seen::Refused(_) | Seen::TimedOut) => match &o.control {
                Ok(Seen::Reachable) => false,
                control => {
                    let mut why = match control {
                        Ok(c) => format!("the positive control in the same pod was {}", c.describe()),
                        Err(w) => format!("there was no positive control ({w})"),
                    };
                    if let Some(policies) = control_denied_by(world, s, &targets.namespace) {
                        let by = if policies.is_empty() { "no policy".to_string() } else { policies.join(", ") };
                        why.push_str(&format!(" (the source's policies deny the control target: {by})"));
                    }
                    report.fact(&fact, format!("unverified: {} but {why}", t.describe()));
                    no_control.push(format!("{}: {} but {why}", s.source, t.describe()));
                    continue;
                }
            },
            Seen::ToolError(e) => {
                report.fact(&fact, format!("unverified: the probe tool failed: {e}"));
                tool_errors.push(format!("{}: {e}", s.source));
                continue;
            }
            Seen::NotRun(why) => {
                report.fact(&fact, format!("unverified: {why}"));
                not_run.push(format!("{}: {why}", s.source));
                continue;
            }
        };
        let shown = if reached {
            "reachable".to_string()
        } else if not_enforced {
            format!(
                "blocked ({}), but not by a NetworkPolicy: the canary shows policies are not enforced",
                o.target.describe()
            )
        } else {
            format!("blocked ({}; the positive control in the same pod connected)", o.target.describe())
        };
        report.fact(&fact, shown);
        let (expected, policies) = static_for_probe(world, p, s, compared);
        if let Some(allowed) = expected
            && allowed != reached
        {
            let say = |b: bool| if b { "allowed" } else { "denied" };
            let required = if reached == s.should_reach { "as required" } else { "against the requirement" };
            let deciders = if policies.is_empty() { "no policy isolates it".to_string() } else { policies.join(", ") };
            report.push(
                Finding::error(
                    "isolation-static-live-disagree",
                    format!(
                        "from {}: the policies say {} (deciding: {deciders}) but the probe pod was {} ({required})",
                        s.source,
                        say(allowed),
                        if reached {
                            "able to connect".to_string()
                        } else {
                            format!("blocked: {}", o.target.describe())
                        }
                    ),
                )
                .target(format!("{}/{}", p.namespace, labels_str(&p.selector)))
                .fact("static", say(allowed))
                .fact("live", if reached { "reachable" } else { "blocked" })
                .fact("seen", o.target.describe()),
            );
        }
    }
    match canary {
        Some(Canary::NotEnforced(ns)) => report.push_first(
            Finding::error(
                "netpol-not-enforced",
                format!(
                    "NetworkPolicies are not enforced by this cluster's network plugin: a probe pod reached a pod \
                     behind a deny-all policy in {ns}"
                ),
            )
            .target(ns),
        ),
        Some(Canary::Enforced) => report.fact(
            "canary",
            "deny-all enforced (a probe pod was blocked from the canary and reached the control target)",
        ),
        Some(Canary::Unknown(why)) => report.fact("canary", format!("unverified: {why}")),
        None => report.fact("canary", "not used (canary = false)"),
    }
    let gaps = [
        ("live-tool-error", "the probe tool failed for", tool_errors),
        ("live-no-control", "a blocked result without a positive control for", no_control),
        ("live-unverified", "live probe not concluded for", not_run),
    ];
    for (code, what, list) in gaps {
        if !list.is_empty() {
            super::live::live_unverified(report, code, format!("{what} {}", list.join("; ")), None);
        }
    }
}
