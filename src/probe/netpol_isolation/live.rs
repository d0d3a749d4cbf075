//! Live part of `netpol-isolation`: a short-lived probe pod in each source namespace tries the
//! destination, and beside it, in the same pod, the run's control target (the positive control);
//! the audit's canary tells whether policies are enforced at all. Everything created is
//! deleted, also on timeout and cancel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::judge::{LiveSource, Observed, judge};
use super::params::{IsolationParams, Source};
use super::pods::{self, Created, PodSeen, TARGET_PORT};
use super::scratch::create_pod;
use super::script::Seen;
use super::session::{self, Canary, Session, Targets, probe_labels};
use crate::cluster::live::Live;
use crate::netpol::{NetpolWorld, PodInfo, PortSpec, Protocol};
use crate::outcome::{ProbeReport, Unverified};
use crate::probe::ProbeContext;

/// Records the live part as not verified; the static findings stand beside it.
pub fn live_unverified(report: &mut ProbeReport, code: &str, reason: String, permission: Option<String>) {
    let mut gap = Unverified::new(code, format!("live part: {reason}"));
    gap.missing_permission = permission;
    report.gap(gap);
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

/// How long the probe pods wait for the shared control target before they run without one.
fn control_wait(deadline: Instant) -> Instant {
    let left = deadline.saturating_duration_since(Instant::now());
    Instant::now() + (left / 2).min(Duration::from_secs(30))
}

/// One item's probe run: where it works and until when.
struct ProbeRun<'a> {
    session: &'a Session,
    client: &'a kube::Client,
    p: &'a IsolationParams,
    ctx: &'a ProbeContext,
    deadline: Instant,
    /// This item's probe pods.
    mine: &'a Created,
}

/// Creates one probe pod per source (with the control beside it when there is a target) and
/// waits on the namespaces' watches until each has concluded.
async fn run_probes(
    run: &ProbeRun<'_>,
    sources: &[LiveSource<'_>],
    (host, port): (&str, u16),
    control: &Result<String, String>,
) -> Vec<Observed> {
    let ProbeRun { session, client, p, ctx, deadline, mine } = *run;
    let cmd = pods::fill_command(&p.command, host, port, p.connect_timeout);
    let control_cmd =
        control.as_ref().ok().map(|ip| pods::fill_command(&p.command, ip, TARGET_PORT, p.connect_timeout));
    let secs = ctx.timeout.as_secs() as i64;
    let mut started: Vec<(usize, String)> = Vec::new();
    let mut results: Vec<Option<Observed>> = vec![None; sources.len()];
    let mut watches = BTreeMap::new();
    for (i, s) in sources.iter().enumerate() {
        let name = session.next_pod_name(&ctx.run_id);
        watches.entry(s.namespace.clone()).or_insert_with(|| session.watch(client, &s.namespace, &ctx.run_id));
        let made = pods::probe_pod(&name, &s.namespace, &s.labels, &p.image, &cmd, control_cmd.as_deref(), secs);
        let made = match made {
            Ok(pod) => create_pod(client, &pod, mine, deadline).await,
            Err(e) => Err(e),
        };
        match made {
            Ok(()) => started.push((i, name)),
            Err(e) => results[i] = Some(Observed::not_run(e)),
        }
    }
    let waits = started.iter().map(|(i, name)| {
        let mut rx = watches[&sources[*i].namespace].clone();
        let image = p.image.clone();
        async move {
            let seen = session::wait_until(&mut rx, deadline, &ctx.cancel, |s| match s.pods.get(name) {
                Some(pod) => pods::pod_seen(pod, &image).ok_or_else(|| pods::pending_reason(pod)),
                None if s.gone.iter().any(|g| g == name) => Err("the probe pod disappeared".into()),
                None => Err(s.error.clone().unwrap_or_else(|| "no status yet (not scheduled)".into())),
            })
            .await;
            (*i, name.clone(), seen)
        }
    });
    for (i, name, seen) in futures::future::join_all(waits).await {
        let seen = seen.unwrap_or_else(|why| PodSeen { target: Seen::NotRun(why), control: None });
        let control = match (&seen.control, control) {
            (Some(c), _) => Ok(c.clone()),
            (None, Err(why)) => Err(why.clone()),
            (None, Ok(_)) => Err("the control did not run".into()),
        };
        results[i] = Some(Observed { target: seen.target, control, pod: Some(name) });
    }
    // This item's pods go now; what cannot be deleted is left to the audit's end.
    for left in pods::delete_pods(client, &mine.take_pods()).await {
        if let Some((ns, name)) = left.strip_prefix("pod ").and_then(|x| x.split_once('/')) {
            session.created.pod(ns, name);
        }
    }
    results.into_iter().map(|r| r.unwrap_or_else(|| Observed::not_run("not started".into()))).collect()
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
    if p.protocol != Protocol::Tcp && p.command == super::script::default_command() {
        let reason = format!("the default probe command (nc) tests TCP only, not {}", p.protocol);
        return live_unverified(report, "live-unverified", reason, None);
    }
    let sources: Vec<LiveSource<'_>> = p
        .allow_from
        .iter()
        .map(|s| (s, true))
        .chain(p.deny_from.iter().map(|s| (s, false)))
        .filter_map(|(source, should_reach)| match source {
            Source::Pods { namespace, selector } => Some(LiveSource {
                source,
                should_reach,
                namespace: namespace.clone(),
                labels: probe_labels(selector, &ctx.run_id),
            }),
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
    let session: &Arc<Session> = &ctx.shared.netpol;
    session.register(p);
    session.bind(&client, &ctx.run_id, deadline);
    if let Some(view) = ctx.view.as_deref() {
        let swept = session.sweep(&client, view, &ctx.run_id).await;
        if swept > 0 {
            report.fact("live swept", format!("{swept} probe object(s) left by earlier runs deleted"));
        }
    }
    let mut namespaces: Vec<&str> = sources.iter().map(|s| s.namespace.as_str()).collect();
    namespaces.sort();
    namespaces.dedup();
    let wanted: Vec<pods::Permission<'_>> = namespaces
        .iter()
        .flat_map(|ns| ["create", "delete", "watch"].map(|verb| (verb, "", "pods", Some(*ns))))
        .collect();
    if let Some(perm) = session.missing(&client, &wanted).await {
        let reason = "live probe not run: cannot manage probe pods".to_string();
        return live_unverified(report, "forbidden", reason, Some(perm));
    }
    let (targets, canary) = session.targets();
    let mine = Created::default();
    let work = async {
        let t0 = Instant::now();
        let targets: Arc<Targets> = tokio::select! {
            t = targets => t,
            _ = tokio::time::sleep_until(control_wait(deadline)) => Arc::new(Targets {
                namespace: String::new(),
                control: Err("the control target was not ready in time".into()),
                canary: None,
            }),
        };
        let run = ProbeRun { session, client: &client, p, ctx, deadline, mine: &mine };
        let t1 = Instant::now();
        let observed = run_probes(&run, &sources, (&host, port), &targets.control).await;
        let timing = format!(
            "targets ready after {} ms, probe pods created to concluded in {} ms",
            (t1 - t0).as_millis(),
            t1.elapsed().as_millis()
        );
        let canary = if p.canary {
            tokio::select! {
                c = canary => Some((*c).clone()),
                _ = tokio::time::sleep_until(deadline) => Some(Canary::Unknown("the canary did not finish in time".into())),
            }
        } else {
            None
        };
        (targets, observed, canary, timing)
    };
    let outcome = tokio::select! {
        r = work => Some(r),
        _ = ctx.cancel.cancelled() => None,
    };
    let Some((targets, observed, canary, timing)) = outcome else {
        let left = pods::delete_pods(&client, &mine.take_pods()).await;
        if !left.is_empty() {
            report.fact("live cleanup failed", left.join(", "));
        }
        return live_unverified(
            report,
            "interrupted",
            "cancelled while the probe pods ran (they were deleted)".into(),
            None,
        );
    };
    if let Some(first) = observed.iter().find_map(|o| o.pod.as_deref()) {
        report.fact("live probe pods", format!("{} in image {} (first: {first})", observed.len(), p.image));
    }
    report.fact("live timing", timing);
    judge(p, world, &sources, &compared, &targets, canary, observed, report);
}
