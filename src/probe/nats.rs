//! `nats` probe: connects with the NATS protocol (auth and TLS when configured) and checks the
//! server version, JetStream, cluster size, a publish/subscribe round trip and its time, the
//! monitoring endpoint's health and the exporter's metrics.

pub mod client;
pub mod cluster;
pub mod monitor;
pub mod params;

use std::time::Duration;

use tokio::time::Instant;

use crate::outcome::{Finding, ProbeReport, Unverified};
use crate::probe::ProbeContext;
use client::ConnectFailure;
pub use params::{NatsAuth, NatsParams, parse_version, version_at_least};

/// What the protocol side established.
struct Connected {
    info: async_nats::ServerInfo,
    rtt: Result<Duration, String>,
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// The round-trip subject: one token per character class NATS allows, so any run id is safe.
pub fn probe_subject(run_id: &str) -> String {
    let token: String =
        run_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("_kgents_gate.probe.{}", if token.is_empty() { "run" } else { &token })
}

async fn protocol_side(
    p: &NatsParams,
    opts: async_nats::ConnectOptions,
    subject: &str,
    budget: Duration,
    deadline: Instant,
) -> Result<Connected, ConnectFailure> {
    let client = client::connect(opts, p.url.url().as_str(), budget).await?;
    let info = client.server_info();
    let rtt = client::round_trip(&client, subject, deadline).await;
    // Closing is best effort and must not eat the budget.
    let _ = tokio::time::timeout(Duration::from_millis(500), client.drain()).await;
    Ok(Connected { info, rtt })
}

pub async fn run(p: &NatsParams, ctx: &ProbeContext) -> ProbeReport {
    let url = p.url.as_str();
    if ctx.offline {
        return ProbeReport::unverified("offline", format!("offline: {url} was not contacted"));
    }
    // Finish a little before the engine's item timeout, so a silent server is reported as
    // `nats-timeout` (a fault of the server) rather than cut off as unverified.
    let budget = ctx.answer_budget(p.timeout, ctx.short_reserve());
    let deadline = Instant::now() + budget;

    let opts = match client::options(p, |f| ctx.resolve(f)).await {
        Ok(o) => o,
        Err(why) => return ProbeReport::unverified("credential-missing", why),
    };
    let http = match monitor::http_client(budget) {
        Ok(c) => c,
        Err(why) => return ProbeReport::unverified("http-setup", why),
    };
    let subject = probe_subject(&ctx.run_id);
    let exporter = async {
        match &p.exporter_url {
            Some(u) => Some(monitor::get(&http, u.url().as_str()).await),
            None => None,
        }
    };
    let (nats, mon, exporter) = tokio::join!(
        protocol_side(p, opts, &subject, budget, deadline),
        monitor::read(&http, p.monitor_url.url(), p.jetstream),
        exporter
    );

    let mut report = ProbeReport::default();
    report.fact("url", url);
    report.fact("monitor_url", p.monitor_url.as_str());
    let mut unchecked: Vec<String> = Vec::new();
    let connected = match nats {
        Ok(c) => Some(c),
        Err(failure) => {
            report.push(connect_finding(failure, url, budget));
            None
        }
    };
    if let Some(c) = &connected {
        judge_server(p, c, url, &mut report, &mut unchecked);
    }
    judge_monitor(p, &mon, connected.as_ref(), &mut report, &mut unchecked);
    if let (Some(u), Some(answer)) = (&p.exporter_url, exporter) {
        judge_exporter(u.as_str(), answer, &mut report);
    }
    for part in unchecked {
        report.gap(Unverified::new("partial", format!("could not check: {part}")));
    }
    report
}

fn connect_finding(failure: ConnectFailure, url: &str, budget: Duration) -> Finding {
    match failure {
        ConnectFailure::Unreachable(why) => Finding::error("nats-unreachable", format!("{url} is unreachable: {why}")),
        ConnectFailure::Timeout => Finding::error(
            "nats-timeout",
            format!("{url} did not complete the NATS handshake within {}", fmt_duration(budget)),
        )
        .fact("timeout", fmt_duration(budget)),
        ConnectFailure::AuthFailed(why) => {
            Finding::error("nats-auth-failed", format!("{url} refused the client's credentials: {why}"))
        }
    }
    .target(url)
}

/// Version, JetStream flag and the round trip, from the protocol connection.
fn judge_server(p: &NatsParams, c: &Connected, url: &str, report: &mut ProbeReport, unchecked: &mut Vec<String>) {
    let info = &c.info;
    report.fact("version", &info.version);
    report.fact("server_name", &info.server_name);
    if let Some(cluster) = info.cluster.as_deref().filter(|c| !c.is_empty()) {
        report.fact("cluster_name", cluster);
    }
    report.fact("jetstream", if info.jetstream { "enabled" } else { "disabled" });
    if let Some(min) = &p.min_version {
        match parse_version(&info.version) {
            Ok(v) if version_at_least(&v, min) => {}
            Ok(_) => report.push(
                Finding::error(
                    "nats-version-too-old",
                    format!("{} runs NATS {}, older than the required {min}", info.server_name, info.version),
                )
                .target(url)
                .fact("version", &info.version)
                .fact("min_version", min),
            ),
            Err(e) => unchecked.push(format!("the server version: {e}")),
        }
    }
    match &c.rtt {
        Ok(rtt) => {
            report.fact("rtt_ms", format!("{:.3}", rtt.as_secs_f64() * 1000.0));
            if let Some(max) = p.max_rtt
                && *rtt > max
            {
                report.push(
                    Finding::error(
                        "nats-rtt-slow",
                        format!(
                            "the publish/subscribe round trip took {} ms, above the {} bound",
                            rtt.as_millis(),
                            fmt_duration(max)
                        ),
                    )
                    .target(url)
                    .fact("rtt_ms", rtt.as_millis())
                    .fact("max_rtt_ms", max.as_millis()),
                );
            }
        }
        Err(why) => report.push(
            Finding::error("nats-roundtrip-failed", format!("publish/subscribe round trip failed: {why}")).target(url),
        ),
    }
}

/// Health, JetStream state and cluster membership from the monitoring endpoint (and the INFO).
fn judge_monitor(
    p: &NatsParams,
    mon: &monitor::MonitorView,
    connected: Option<&Connected>,
    report: &mut ProbeReport,
    unchecked: &mut Vec<String>,
) {
    let target = p.monitor_url.as_str();
    let mut problems: Vec<String> = Vec::new();
    if let Some(Err(e)) = &mon.healthy {
        problems.push(e.clone());
    }
    problems.extend(mon.errors.iter().cloned());
    if let Some(Err(e)) = &mon.route_peers {
        problems.push(e.clone());
    }
    if let Some(name) = &mon.server_name {
        report.fact("monitor_server_name", name);
    }
    if connected.is_none() {
        if let Some(v) = &mon.version {
            report.fact("version", v);
        }
        if let Some(c) = &mon.cluster_name {
            report.fact("cluster_name", c);
        }
    }

    if p.jetstream {
        let info_disabled = connected.is_some_and(|c| !c.info.jetstream);
        let jsz_disabled = mon.js_disabled == Some(true);
        if info_disabled || jsz_disabled {
            report.push(
                Finding::error("nats-jetstream-disabled", "JetStream is not enabled on the server")
                    .target(p.url.as_str())
                    .fact(
                        "server_info_jetstream",
                        connected.map_or("unknown", |c| if c.info.jetstream { "enabled" } else { "disabled" }),
                    )
                    .fact("jsz_disabled", mon.js_disabled.map_or("unknown".into(), |d| d.to_string())),
            );
        } else if let Some(Err(e)) = &mon.js_healthy {
            problems.push(format!("JetStream health: {e}"));
        } else if connected.is_none() && mon.js_disabled.is_none() {
            unchecked.push("whether JetStream is enabled (no connection and no /jsz)".into());
        }
    }
    if !problems.is_empty() {
        report.push(
            Finding::error(
                "nats-monitor-unhealthy",
                format!("the monitoring endpoint is not healthy: {}", problems.join("; ")),
            )
            .target(target),
        );
    }

    let mut connect_urls = connected.map(|c| c.info.connect_urls.clone()).unwrap_or_default();
    if connect_urls.is_empty() {
        connect_urls = mon.connect_urls.clone();
    }
    let membership = cluster::Membership {
        server_name: mon.server_name.clone(),
        route_peers: mon.route_peers.as_ref().and_then(|r| r.as_ref().ok()).cloned(),
        connect_urls,
        meta: if p.jetstream { mon.meta.clone() } else { None },
    };
    let verdict = cluster::judge(p.cluster_size, &membership);
    if !verdict.peers_seen.is_empty() {
        report.fact("peers_seen", verdict.peers_seen.join(", "));
    }
    if let Some(meta) = &membership.meta {
        if let Some(size) = meta.cluster_size {
            report.fact("meta_cluster_size", size);
        }
        if let Some(leader) = &meta.leader {
            report.fact("meta_leader", leader);
        }
    }
    if verdict.unobserved {
        unchecked.push("the cluster size (no routes, client URLs or meta group could be read)".into());
    } else if !verdict.mismatches.is_empty() {
        report.push(
            Finding::error(
                "nats-cluster-size-mismatch",
                format!("expected {} servers: {}", p.cluster_size, verdict.mismatches.join("; ")),
            )
            .target(target)
            .fact("expected", p.cluster_size)
            .fact("peers_seen", verdict.peers_seen.join(", "))
            .fact(
                "offline_peers",
                if verdict.offline_peers.is_empty() { "none".into() } else { verdict.offline_peers.join(", ") },
            ),
        );
    }
}

fn judge_exporter(url: &str, answer: Result<(u16, String), String>, report: &mut ProbeReport) {
    let problem = match answer {
        Err(why) => Some(format!("not reachable: {why}")),
        Ok((status, _)) if status != 200 => Some(format!("answered HTTP {status}")),
        Ok((_, body)) => {
            let n = monitor::nats_metric_lines(&body);
            report.fact("exporter_nats_metrics", n);
            (n == 0).then(|| "serves no NATS metrics (no line starting with `gnatsd_` or `nats_`)".to_string())
        }
    };
    if let Some(problem) = problem {
        report
            .push(Finding::error("nats-exporter-missing", format!("the NATS exporter at {url} {problem}")).target(url));
    }
}

#[cfg(test)]
mod tests;
