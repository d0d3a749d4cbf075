//! Live part of `netpol-isolation`: a short-lived probe pod in each source namespace tries the
//! destination; a canary (deny-all in a scratch namespace) tells whether policies are enforced
//! at all. Everything created is deleted, also on timeout and cancel.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::time::Instant;

use super::params::{IsolationParams, Source};
use super::pods::{self, CANARY_PREFIX, Created, Probe, our_labels};
use super::verdicts::{deciding_policies, synthetic_pod};
use crate::cluster::live::Live;
use crate::netpol::{NetpolWorld, PodInfo, PortSpec, Protocol, evaluate};
use crate::outcome::{Finding, ProbeReport, Unverified};
use crate::probe::ProbeContext;

/// The port the canary target listens on.
const CANARY_PORT: u16 = 8080;

/// Records the live part as not verified; the static findings stand beside it.
pub fn live_unverified(report: &mut ProbeReport, code: &str, reason: String, permission: Option<String>) {
    let mut gap = Unverified::new(code, format!("live part: {reason}"));
    gap.missing_permission = permission;
    report.gap(gap);
}

/// A source the live part probes: its namespace and the labels its probe pod carries.
struct LiveSource<'a> {
    source: &'a Source,
    should_reach: bool,
    namespace: String,
    labels: BTreeMap<String, String>,
}

enum Canary {
    Enforced,
    NotEnforced(String),
    Unknown(String),
}

/// Where the probes connect: a host, a port, and the destination pods the static verdict compares with.
fn target<'a>(p: &IsolationParams, destinations: &'a [PodInfo]) -> Result<(String, u16, Vec<&'a PodInfo>), String> {
    let with_ip = destinations.iter().find(|d| !d.ips.is_empty());
    let port = match &p.port {
        PortSpec::Number(n) => *n,
        PortSpec::Name(name) => destinations
            .iter()
            .find_map(|d| d.named_port(name, p.protocol))
            .ok_or_else(|| format!("port name {name:?} does not resolve on the destination pods"))?,
    };
    match (&p.service, with_ip) {
        (Some(svc), _) => Ok((svc.clone(), port, destinations.iter().collect())),
        (None, Some(d)) => Ok((d.ips[0].to_string(), port, vec![d])),
        (None, None) => Err("no destination pod has an IP (not running yet?): nothing to connect to".into()),
    }
}

/// Polls the pods until each has an outcome or `deadline` passes.
async fn wait_for(client: &kube::Client, pods: &[(String, String)], deadline: Instant) -> Vec<Probe> {
    let mut out: Vec<Option<Probe>> = vec![None; pods.len()];
    let mut last: Vec<String> = vec!["no status yet (not scheduled)".into(); pods.len()];
    loop {
        for (i, (ns, name)) in pods.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(client.clone(), ns);
            match api.get(name).await {
                Ok(pod) => match pods::outcome_of(&pod) {
                    Some(o) => out[i] = Some(o),
                    None => last[i] = pods::pending_reason(&pod),
                },
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    out[i] = Some(Probe::NotRun("the probe pod disappeared".into()));
                }
                Err(e) => last[i] = format!("cannot read the pod: {}", pods::api_error(&e)),
            }
        }
        if out.iter().all(Option::is_some) {
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    out.into_iter()
        .zip(last)
        .map(|(o, why)| o.unwrap_or_else(|| Probe::NotRun(format!("did not finish in time: {why}"))))
        .collect()
}

/// Creates a pod, retrying while a fresh namespace has no default ServiceAccount yet.
async fn create_pod(client: &kube::Client, pod: &Pod, created: &Created, deadline: Instant) -> Result<(), String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    loop {
        match api.create(&PostParams::default(), pod).await {
            Ok(_) => {
                created.pod(&ns, &name);
                return Ok(());
            }
            Err(kube::Error::Api(s)) if s.message.contains("service account") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) if pods::is_forbidden(&e) => return Err(format!("not allowed to create pods in {ns}")),
            Err(e) => return Err(format!("cannot create the probe pod {ns}/{name}: {}", pods::api_error(&e))),
        }
    }
}

async fn run_canary(
    client: &kube::Client,
    p: &IsolationParams,
    ctx: &ProbeContext,
    deadline: Instant,
    created: &Created,
) -> Canary {
    let ns = format!("{CANARY_PREFIX}{}", ctx.run_id);
    let mut labels = our_labels(&ctx.run_id, "canary");
    // 1.20 does not set this label itself; policies selecting namespaces by name rely on it.
    labels.insert(crate::netpol::NAMESPACE_NAME_LABEL.into(), ns.clone());
    let nsobj: Namespace = match serde_json::from_value(json!({"metadata": {"name": ns, "labels": labels}})) {
        Ok(n) => n,
        Err(e) => return Canary::Unknown(format!("canary namespace spec: {e}")),
    };
    if let Err(e) = Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &nsobj).await {
        return Canary::Unknown(format!("cannot create the canary namespace {ns}: {}", pods::api_error(&e)));
    }
    created.namespace(&ns);
    let deny: NetworkPolicy = match serde_json::from_value(json!({
        "metadata": {"name": "deny-all-ingress", "namespace": ns, "labels": our_labels(&ctx.run_id, "canary")},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
    })) {
        Ok(n) => n,
        Err(e) => return Canary::Unknown(format!("canary policy spec: {e}")),
    };
    if let Err(e) = Api::<NetworkPolicy>::namespaced(client.clone(), &ns).create(&PostParams::default(), &deny).await {
        return Canary::Unknown(format!("cannot create the canary deny-all policy: {}", pods::api_error(&e)));
    }
    let secs = ctx.timeout.as_secs() as i64;
    let serve: Vec<String> = ["httpd", "-f", "-p", "8080"].iter().map(|s| s.to_string()).collect();
    let target =
        match pods::pod_spec("canary-target", &ns, &our_labels(&ctx.run_id, "canary-target"), &p.image, &serve, secs) {
            Ok(t) => t,
            Err(e) => return Canary::Unknown(e),
        };
    if let Err(e) = create_pod(client, &target, created, deadline).await {
        return Canary::Unknown(e);
    }
    // The target must be running with an IP before anything can be tried against it.
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let ip = loop {
        let mut why = "no status yet".to_string();
        if let Ok(pod) = api.get("canary-target").await {
            let st = pod.status.as_ref();
            if let (Some("Running"), Some(ip)) =
                (st.and_then(|s| s.phase.as_deref()), st.and_then(|s| s.pod_ip.clone()))
            {
                break ip;
            }
            why = pods::pending_reason(&pod);
        }
        if Instant::now() >= deadline {
            return Canary::Unknown(format!("the canary target pod never ran: {why}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let cmd = pods::fill_command(&p.command, &ip, CANARY_PORT, p.connect_timeout);
    let probe =
        match pods::pod_spec("canary-probe", &ns, &our_labels(&ctx.run_id, "canary-probe"), &p.image, &cmd, secs) {
            Ok(t) => t,
            Err(e) => return Canary::Unknown(e),
        };
    if let Err(e) = create_pod(client, &probe, created, deadline).await {
        return Canary::Unknown(e);
    }
    match wait_for(client, &[(ns.clone(), "canary-probe".into())], deadline).await.pop() {
        Some(Probe::Blocked) => Canary::Enforced,
        Some(Probe::Reachable) => Canary::NotEnforced(ns),
        Some(Probe::NotRun(r)) => Canary::Unknown(format!("the canary probe did not conclude: {r}")),
        None => Canary::Unknown("the canary probe did not conclude".into()),
    }
}

/// Where the probes connect.
struct Target<'a> {
    host: &'a str,
    port: u16,
}

async fn run_probes(
    client: &kube::Client,
    p: &IsolationParams,
    ctx: &ProbeContext,
    sources: &[LiveSource<'_>],
    target: Target<'_>,
    deadline: Instant,
    created: &Created,
) -> Vec<Probe> {
    let cmd = pods::fill_command(&p.command, target.host, target.port, p.connect_timeout);
    let secs = ctx.timeout.as_secs() as i64;
    let mut results: Vec<Option<Probe>> = vec![None; sources.len()];
    let mut started = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let name = format!("kgents-gate-probe-{}-{i}", ctx.run_id);
        let made = pods::pod_spec(&name, &s.namespace, &s.labels, &p.image, &cmd, secs);
        let made = match made {
            Ok(pod) => create_pod(client, &pod, created, deadline).await,
            Err(e) => Err(e),
        };
        match made {
            Ok(()) => started.push((i, (s.namespace.clone(), name))),
            Err(e) => results[i] = Some(Probe::NotRun(e)),
        }
    }
    let names: Vec<(String, String)> = started.iter().map(|(_, n)| n.clone()).collect();
    for ((i, _), o) in started.iter().zip(wait_for(client, &names, deadline).await) {
        results[*i] = Some(o);
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| Probe::NotRun("not started".into()))).collect()
}

/// The static verdict for a probe pod with `labels` in `namespace` against the compared
/// destinations: Some(allowed) when they all agree.
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

/// Runs the live part and adds its findings and evidence to `report`.
pub async fn run(
    p: &IsolationParams,
    ctx: &ProbeContext,
    live: &Live,
    world: &NetpolWorld,
    destinations: &[PodInfo],
    report: &mut ProbeReport,
) {
    let started = Instant::now();
    let margin = (ctx.timeout / 4).min(Duration::from_secs(8));
    let deadline = started + ctx.timeout.saturating_sub(margin);
    let (host, port, compared) = match target(p, destinations) {
        Ok(t) => t,
        Err(e) => return live_unverified(report, "live-unverified", e, None),
    };
    if p.protocol != Protocol::Tcp && p.command == super::params::default_command() {
        let reason = format!("the default probe command (nc -z) tests TCP only, not {}", p.protocol);
        return live_unverified(report, "live-unverified", reason, None);
    }
    let sources: Vec<LiveSource<'_>> = p
        .allow_from
        .iter()
        .map(|s| (s, true))
        .chain(p.deny_from.iter().map(|s| (s, false)))
        .filter_map(|(source, should_reach)| match source {
            Source::Pods { namespace, selector } => {
                let mut labels = selector.clone();
                labels.extend(our_labels(&ctx.run_id, "probe"));
                Some(LiveSource { source, should_reach, namespace: namespace.clone(), labels })
            }
            Source::External(_) => None,
        })
        .collect();
    if sources.len() < p.allow_from.len() + p.deny_from.len() {
        report.fact("live external sources", "not probed: a pod inside the cluster cannot stand for outside traffic");
    }
    if sources.is_empty() {
        return;
    }
    let client = live.client.clone();
    let mut namespaces: Vec<String> = sources.iter().map(|s| s.namespace.clone()).collect();
    namespaces.sort();
    namespaces.dedup();
    let swept = pods::sweep(&client, &namespaces, p.canary).await;
    if swept > 0 {
        report.fact("live swept", format!("{swept} probe object(s) left by earlier runs deleted"));
    }
    let mut wanted: Vec<(&str, &str, &str, Option<&str>)> = Vec::new();
    for ns in &namespaces {
        for verb in ["create", "get", "delete"] {
            wanted.push((verb, "", "pods", Some(ns.as_str())));
        }
    }
    if let Some(perm) = pods::missing_permission(&client, &wanted).await {
        let reason = "live probe not run: cannot manage probe pods".to_string();
        return live_unverified(report, "forbidden", reason, Some(perm));
    }
    let canary_perm = if p.canary {
        let canary_wanted = [
            ("create", "", "namespaces", None),
            ("delete", "", "namespaces", None),
            ("create", "networking.k8s.io", "networkpolicies", None),
            ("create", "", "pods", None),
            ("get", "", "pods", None),
            ("delete", "", "pods", None),
        ];
        pods::missing_permission(&client, &canary_wanted).await
    } else {
        None
    };
    let created = Created::default();
    let work = async {
        let canary = async {
            match (&canary_perm, p.canary) {
                (_, false) => None,
                (Some(perm), true) => Some(Canary::Unknown(format!("canary not run: missing permission {perm}"))),
                (None, true) => Some(run_canary(&client, p, ctx, deadline, &created).await),
            }
        };
        let probes = run_probes(&client, p, ctx, &sources, Target { host: &host, port }, deadline, &created);
        tokio::join!(canary, probes)
    };
    let outcome = tokio::select! {
        r = work => Some(r),
        _ = ctx.cancel.cancelled() => None,
    };
    let mut cleanup_ns = namespaces.clone();
    cleanup_ns.push(format!("{CANARY_PREFIX}{}", ctx.run_id));
    let left = pods::cleanup(&client, &created, &cleanup_ns, &ctx.run_id).await;
    if !left.is_empty() {
        report.fact("live cleanup failed", left.join(", "));
    }
    let Some((canary, probes)) = outcome else {
        return live_unverified(
            report,
            "interrupted",
            "cancelled while the probe pods ran (they were deleted)".into(),
            None,
        );
    };
    judge(p, world, &sources, &compared, canary, probes, report);
}

fn judge(
    p: &IsolationParams,
    world: &NetpolWorld,
    sources: &[LiveSource<'_>],
    compared: &[&PodInfo],
    canary: Option<Canary>,
    probes: Vec<Probe>,
    report: &mut ProbeReport,
) {
    let mut unconcluded = Vec::new();
    for (s, probe) in sources.iter().zip(probes) {
        let reached = match probe {
            Probe::Reachable => true,
            Probe::Blocked => false,
            Probe::NotRun(why) => {
                report.fact(format!("live {}", s.source), format!("unverified: {why}"));
                unconcluded.push(format!("{}: {why}", s.source));
                continue;
            }
        };
        report.fact(format!("live {}", s.source), if reached { "reachable" } else { "blocked" });
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
                        if reached { "able to connect" } else { "blocked" }
                    ),
                )
                .target(format!("{}/{}", p.namespace, super::verdicts::labels_str(&p.selector)))
                .fact("static", say(allowed))
                .fact("live", if reached { "reachable" } else { "blocked" }),
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
        Some(Canary::Enforced) => report.fact("canary", "deny-all enforced (a probe pod was blocked)"),
        Some(Canary::Unknown(why)) => report.fact("canary", format!("unverified: {why}")),
        None => report.fact("canary", "not run (canary = false)"),
    }
    if !unconcluded.is_empty() {
        let reason = format!("live probe not concluded for {}", unconcluded.join("; "));
        live_unverified(report, "live-unverified", reason, None);
    }
}
