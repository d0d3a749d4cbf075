//! `prometheus-slo` probe: asks the running Prometheus each objective's query (instant at the
//! sample time, or over the lookback window), `samples` times `interval` apart, then judges
//! the answers (src/slo/judge.rs). Prometheus unreachable is `unverified`, never a pass.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::outcome::ProbeReport;
use crate::probe::ProbeContext;
use crate::prometheus::api::QueryData;
use crate::prometheus::{PromApiError, PrometheusClient};
use crate::slo::judge::{BaselineInput, Sample, judge};
use crate::slo::params::Objective;
use crate::slo::{Baseline, SloParams};

pub async fn run(p: &SloParams, ctx: &ProbeContext) -> ProbeReport {
    let prom = p.prometheus.resolved(ctx);
    let waits = p.interval * u32::try_from(p.samples.saturating_sub(1)).unwrap_or(u32::MAX);
    let budget = ctx.answer_budget(None, ctx.short_reserve());
    if waits >= budget {
        return ProbeReport::unverified(
            "timeout",
            format!(
                "{} samples {} apart take {}, more than the item's time of {}: raise the item's `timeout`",
                p.samples,
                crate::engine::human(p.interval),
                crate::engine::human(waits),
                crate::engine::human(ctx.timeout)
            ),
        );
    }
    // Each round of samples asks every query at once, so each request gets its round's share.
    let per_request = ((budget - waits) / u32::try_from(p.samples).unwrap_or(1)).max(Duration::from_millis(200));
    let client = match prom.client(per_request) {
        Ok(c) => c,
        Err(e) => return ProbeReport::unverified(e.unverified_code(), format!("Prometheus was not asked: {e}")),
    };
    let own_baseline;
    let baseline = match (&ctx.baseline, &p.baseline) {
        _ if !p.compares_with_baseline() => BaselineInput::None,
        (Some(b), _) => BaselineInput::Report(b.as_ref()),
        (None, Some(path)) => {
            own_baseline = Baseline::read(&ctx.resolve(path));
            match &own_baseline {
                Ok(b) => BaselineInput::Report(b),
                Err(why) => BaselineInput::Unreadable(why),
            }
        }
        (None, None) => BaselineInput::None,
    };

    let mut taken: Vec<Vec<Sample>> = vec![Vec::new(); p.objectives.len()];
    for round in 0..p.samples {
        if round > 0 {
            tokio::select! {
                _ = tokio::time::sleep(p.interval) => {}
                _ = ctx.cancel.cancelled() => {
                    return ProbeReport::unverified("interrupted", "the audit was interrupted between SLO samples");
                }
            }
        }
        let at = Timestamp::now();
        let answers = tokio::select! {
            a = futures::future::join_all(p.objectives.iter().map(|o| ask(&client, p, o, at))) => a,
            _ = ctx.cancel.cancelled() => {
                return ProbeReport::unverified("interrupted", "the audit was interrupted before Prometheus answered");
            }
        };
        for (i, result) in answers.into_iter().enumerate() {
            if let Err(e) = &result
                && !is_query_error(e)
            {
                // Prometheus itself could not be asked: nothing about any objective is known.
                return ProbeReport::unverified(e.unverified_code(), format!("the SLOs were not evaluated: {e}"));
            }
            taken[i].push(Sample { at, result });
        }
    }
    let any_empty = taken.iter().flatten().any(|s| matches!(&s.result, Ok(d) if is_empty(d)));
    let known_metrics = if any_empty { client.metric_names().await.ok() } else { None };
    let mut report = judge(p, &ctx.item_id, &taken, baseline, known_metrics.as_deref());
    if let Some(b) = ctx.baseline.as_ref().map(Arc::as_ref).filter(|_| p.baseline.is_some()) {
        report
            .fact("baseline (item's file ignored)", format!("--baseline {} replaces the item's `baseline`", b.origin));
    }
    report
}

/// One objective's query at `at`: instant, or over its lookback window ending at `at`.
async fn ask(
    client: &PrometheusClient,
    p: &SloParams,
    o: &Objective,
    at: Timestamp,
) -> Result<QueryData, PromApiError> {
    match o.lookback.or(p.lookback) {
        None => client.query(&o.query, at).await,
        Some(window) => {
            let step = p.step.unwrap_or((window / 60).max(Duration::from_secs(1)));
            let span = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
            let start = at.checked_sub(span).unwrap_or(Timestamp::MIN);
            client.query_range(&o.query, start, at, step).await
        }
    }
}

/// An error about the query (the objective is unverified) rather than about reaching
/// Prometheus (the whole check is).
fn is_query_error(e: &PromApiError) -> bool {
    match e {
        PromApiError::Api { .. } | PromApiError::Decode { .. } => true,
        PromApiError::Http { status, .. } => !matches!(status, 401 | 403),
        _ => false,
    }
}

fn is_empty(d: &QueryData) -> bool {
    match d {
        QueryData::Vector(v) => v.is_empty(),
        QueryData::Matrix(m) => m.iter().all(|s| s.values.is_empty()),
        QueryData::Scalar(_) | QueryData::String(_) => false,
    }
}
